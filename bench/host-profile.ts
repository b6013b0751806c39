/**
 * Where the host's time goes during a run, by part of the emulator: V8's sampling
 * profiler (node:inspector, in this process) attributes each sample's own function to
 * the source file it came from. The bench bundles keep esbuild's `// path/to/file.ts`
 * markers, so a line of the bundle names its file; translated blocks (functions made
 * with `new Function`, no file) count as the CPU. Bench-only: nothing on the emulated
 * path reads it.
 */
import * as fs from 'fs';
import { Session } from 'node:inspector/promises';

export interface HostShare {
  /** Milliseconds in cpu/ (interpreter, translator, translated blocks). */
  cpu: number;
  /** In devices/ but for devices/net/ (the machine's run loop, the clock and port dispatch, the cards, the PIC and PIT). */
  devices: number;
  /** In devices/net/: the wire and the stations on it (the sink checks every datagram's checksums), pcap. */
  net: number;
  /** Everything else: the garbage collector, Node itself, the bench. */
  other: number;
}

/** The source file of each line of a bundle, from esbuild's markers. */
function bundleFiles(bundle: string): (line: number) => string {
  const starts: { line: number; file: string }[] = [];
  fs.readFileSync(bundle, 'utf8').split('\n').forEach((text, i) => {
    const m = /^\/\/ ((?:cpu|devices|hypervisor|vpio|bench|cli)\/[\w/.-]+\.ts)$/.exec(text);
    if (m) starts.push({ line: i, file: m[1] });
  });
  return (line) => {
    let lo = 0, hi = starts.length - 1, found = '';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid].line <= line) { found = starts[mid].file; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  };
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }

/** Runs `work` under the sampling profiler and splits its host time by part. */
export async function hostShare(bundle: string, work: () => void): Promise<HostShare> {
  const fileOf = bundleFiles(bundle);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  work();
  const { profile } = await session.post('Profiler.stop') as { profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] } };
  session.disconnect();
  const partOf = new Map<number, keyof HostShare | null>();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    let part: keyof HostShare | null = 'other';
    if (f.functionName === '(idle)' || f.functionName === '(root)') part = null;
    else if (f.url === '' && f.functionName.startsWith('block_')) part = 'cpu';
    else if (f.url.endsWith(bundle.split('/').pop()!)) {
      const file = fileOf(f.lineNumber);
      part = file.startsWith('cpu/') ? 'cpu' : file.startsWith('devices/net/') ? 'net' : file.startsWith('devices/') ? 'devices' : 'other';
    }
    partOf.set(n.id, part);
  }
  const share: HostShare = { cpu: 0, devices: 0, net: 0, other: 0 };
  profile.samples.forEach((id, i) => {
    const part = partOf.get(id);
    if (part) share[part] += profile.timeDeltas[i] / 1000;
  });
  return share;
}
