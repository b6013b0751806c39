/** Helpers for the end-to-end tests: the built CLI, and which external tools exist. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.join(__dirname, '..');
export const CLI = path.join(ROOT, 'dist', 'vpio.js');

/** Builds dist/ if `npm test` has not (e.g. when jest runs alone). */
export function ensureBuilt(): void {
  if (!fs.existsSync(CLI)) {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
  }
}

export function runCli(args: string[], timeoutMs = 120000): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

const found = new Map<string, boolean>();
/** True when `cmd args` runs and exits 0 (cached). */
export function have(cmd: string, ...args: string[]): boolean {
  const key = [cmd, ...args].join(' ');
  if (!found.has(key)) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30000 });
    found.set(key, !r.error && r.status === 0);
  }
  return found.get(key)!;
}

/** describe, or describe.skip with the reason printed, when a tool is missing. */
export function describeIf(ok: boolean, reason: string): jest.Describe {
  if (!ok) {
    // eslint-disable-next-line no-console
    console.warn(`skipped: ${reason}`);
    return describe.skip;
  }
  return describe;
}

/** The frames of a classic pcap file (as `--pcap` writes it), in order. */
export function readPcap(file: string): Buffer[] {
  const b = fs.readFileSync(file);
  const frames: Buffer[] = [];
  for (let at = 24; at + 16 <= b.length;) {
    const len = b.readUInt32LE(at + 8);
    frames.push(b.subarray(at + 16, at + 16 + len));
    at += 16 + len;
  }
  return frames;
}
