/**
 * bench/net: udp-tx with full-size datagrams through each card, on the virtual clock:
 * natively, the share of the wire rate the guest's driver reaches and the emulator's
 * instruction rate while it does (host time, read here in the bench only), with where
 * that host time goes (the CPU core, the machine and its devices, the wire and its peers,
 * the rest: sampled by
 * V8's profiler); then the same guest in each hypervisor mode beside native:
 * throughput, exits and hypervisor cycles per frame.
 *
 *   npm run bench:net -- [--count N] [--native-count N] [--size N]
 *
 * --count is the datagrams of each by-mode run (2000); --native-count those of the
 * native runs that measure the host's instruction rate (20000: long enough that the
 * host's JIT has tiered the translated blocks up, as in the CPU-bound reference). The
 * CPU-bound reference and each card's native run are measured in a process of their
 * own (this file again, with --measure cpubound|ne2000-isa|ne2000|rtl8139).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Pc, NicKind } from '../devices/pc';
import { SinkPeer } from '../devices/net/wire';
import { frameBits } from '../devices/net/ethernet';
import { runScenario, MODES } from './harness';
import { spawnSync } from 'child_process';
import { hostShare, HostShare } from './host-profile';

const ROOT = path.join(__dirname, '..');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) { process.stderr.write(`bench-net: ${name} needs a positive whole number\n`); process.exit(2); }
  return v;
}

const count = arg('--count', 2000);
const nativeCount = arg('--native-count', 20000);
const size = Math.max(4, Math.min(arg('--size', 1472), 1472));
const image = new Uint8Array(fs.readFileSync(path.join(ROOT, 'guests/bin/udp-tx.elf')));

/** Host timings on a shared machine vary run to run: each rate is the best of this many runs. */
const TRIES = 3;

/** The CPU-bound rate, for the "stays above 80%" comparison. */
function cpuBoundMips(): number {
  let best = 0;
  for (let i = 0; i < TRIES; i++) {
    const pc = new Pc({ memoryBytes: 64 << 20 });
    pc.boot(new Uint8Array(fs.readFileSync(path.join(ROOT, 'guests/bin/cpubound.elf'))), 'cpubound.elf iterations=40');
    const t0 = process.hrtime.bigint();
    pc.run(Infinity);
    best = Math.max(best, pc.cpu.instructions / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6);
  }
  return best;
}

function udpTx(nic: NicKind): Pc {
  const pc = new Pc({ memoryBytes: 64 << 20, nic, peers: [{ kind: 'sink' }], console: () => {} });
  pc.boot(image, `udp-tx.elf count=${nativeCount} size=${size}`);
  return pc;
}

interface NativeFigures { bits: number; fps: number; wire: number; lost: number; mips: number; share: HostShare }

/** udp-tx natively on one card: the best of TRIES runs, the last also sampled for where its time went. */
async function nativeRun(nic: NicKind): Promise<NativeFigures> {
  let pc = udpTx(nic);
  let seconds = Infinity;
  let r: ReturnType<Pc['run']> | null = null;
  for (let i = 0; i < TRIES - 1; i++) {
    const t0 = process.hrtime.bigint();
    pc.run(1e12);
    seconds = Math.min(seconds, Number(process.hrtime.bigint() - t0) / 1e9);
    pc = udpTx(nic);
  }
  const share = await hostShare(__filename, () => {
    const t0 = process.hrtime.bigint();
    r = pc.run(1e12);
    seconds = Math.min(seconds, Number(process.hrtime.bigint() - t0) / 1e9);
  });
  const sink = pc.peers[0] as SinkPeer;
  if (r!.kind !== 'exit') throw new Error(`${nic}: run ended with ${r!.kind}`);
  // Frames per second at the sink (first to last arrival) on the virtual clock.
  const fps = (sink.received - 1) / ((sink.lastCycle - sink.firstCycle) / pc.clock.hz);
  return { bits: fps * frameBits(size + 42), fps, wire: pc.wire!.bitsPerSecond, lost: sink.lost, mips: pc.cpu.instructions / seconds / 1e6, share };
}

/**
 * Each measurement in a process of its own, as a user's run is: in one process the cards
 * would share the host JIT's call sites (the port bus's device calls, the CPU's bus
 * calls), and whichever ran first would set the others' speed.
 */
function inChild<T>(what: string): T {
  const r = spawnSync(process.execPath, [__filename, '--measure', what, '--native-count', String(nativeCount), '--size', String(size)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench-net: measuring ${what} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

function native(): void {
  const reference = inChild<number>('cpubound');
  console.log(`CPU-bound reference (cpubound, 40 iterations, best of ${TRIES}): ${reference.toFixed(1)} MIPS`);
  console.log(`udp-tx, ${nativeCount} datagrams of ${size} bytes (frames of ${size + 42} bytes), native, best of ${TRIES}, each card in its own process`);
  console.log('card         wire Mbit/s  frames/s   share of wire   sink lost   emulator MIPS   of CPU-bound   host time: CPU / devices / wire+peers / other');
  for (const nic of ['ne2000-isa', 'ne2000', 'rtl8139'] as NicKind[]) {
    const f = inChild<NativeFigures>(nic);
    const { share } = f;
    const all = share.cpu + share.devices + share.net + share.other;
    const pct = (v: number) => `${((100 * v) / all).toFixed(0)}%`;
    console.log(`${nic.padEnd(12)} ${(f.bits / 1e6).toFixed(2).padStart(10)} ${f.fps.toFixed(0).padStart(9)} ${((100 * f.bits) / f.wire).toFixed(1).padStart(12)}%  ${String(f.lost).padStart(9)}  ${f.mips.toFixed(1).padStart(12)}  ${((100 * f.mips) / reference).toFixed(0).padStart(11)}%   ${`${pct(share.cpu)} / ${pct(share.devices)} / ${pct(share.net)} / ${pct(share.other)}`.padStart(24)}`);
  }
}

function byMode(): void {
  console.log('');
  console.log(`udp-tx, ${count} datagrams of ${size} bytes (frames of ${Math.max(60, size + 42)} bytes), by mode (one VM)`);
  console.log('card         mode          Mbit/s  share of wire  exits/frame  hypervisor cycles/frame  elapsed cycles/frame  hooked');
  for (const nic of ['ne2000-isa', 'ne2000', 'rtl8139'] as NicKind[]) {
    for (const mode of MODES) {
      // The same run as `vpio bench`'s udp-tx scenario, with this bench's count and size.
      const f = runScenario({ id: `udp-tx/${nic}/${mode}`, workload: 'udp-tx', mode, nic, frame: size + 42, size, guests: 1, count });
      const hooked = f.hookedFraction === null ? '' : `${(100 * f.hookedFraction).toFixed(1)}%`;
      console.log(`${nic.padEnd(12)} ${mode.padEnd(12)} ${f.mbps.toFixed(2).padStart(7)} ${(100 * f.wireShare).toFixed(1).padStart(13)}%  ${f.exitsPerFrameTotal.toFixed(0).padStart(11)}  ${f.hypervisorCyclesPerFrame.toFixed(0).padStart(23)}  ${f.cyclesPerFrame.toFixed(0).padStart(20)}  ${hooked.padStart(6)}`);
    }
  }
}

const measure = process.argv.indexOf('--measure');
if (measure >= 0) {
  // A child: one measurement, printed as a JSON line.
  const what = process.argv[measure + 1];
  const done = (v: unknown) => console.log(JSON.stringify(v));
  if (what === 'cpubound') done(cpuBoundMips());
  else nativeRun(what as NicKind).then(done, (e) => { console.error(e); process.exit(1); });
} else {
  native();
  byMode();
}
