/**
 * `vpio bench`: runs the harness's scenarios (bench/harness.ts) in worker processes,
 * one per core, and prints the comparison tables; `--json` writes every figure with the
 * configuration, `--compare` prints what changed against an earlier JSON. Results do
 * not depend on the number of workers: each scenario is a deterministic run of its own.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { createHash } from 'crypto';
import { Figures, Scenario, scenarios, runScenario, imageHashes, imagesOf, MODES } from '../bench/harness';
import { isLinuxImage } from '../board/linux';
import { linuxScenarios, runLinux, linuxTables, isLinux } from '../bench/linux-net';
import { DEFAULT_COSTS } from '../devices/costs';
import { benchHtml } from './bench-html';
import { UsageError, readInput, stdout, stderr, warn } from './io';

export interface BenchOptions {
  quick?: boolean;
  json?: string;
  html?: string;
  compare?: string;
  jobs?: string;
  only?: string;
  /** The Linux rows: Debian's kernel (a bzImage) and the initramfs of scripts/linux-guest.mjs. */
  linux?: string;
  initrd?: string;
  /** The Linux rows' machines with a local APIC and an I/O APIC. */
  apic?: boolean;
}

export interface BenchReport {
  tool: 'vpio bench';
  version: string;
  node: string;
  quick: boolean;
  /** The options that chose the scenarios (the worker count changes nothing but the host figures). */
  options: { quick: boolean; only: string | null; linux?: boolean; apic?: boolean };
  costs: typeof DEFAULT_COSTS;
  images: Record<string, string>;
  results: Figures[];
  /** The CPU-bound guest in our CPU beside v86 (full runs; from bench/cpu, which runs the guest's default 130 iterations). */
  cpu?: { engines: { engine: string; mips: number; seconds: number; sameOutput: boolean }[]; skipped: Record<string, string> };
}

/** One scenario's figures: one, or for a Linux boot one per workload it ran. */
function runAny(s: Scenario): Figures[] {
  return s.linux ? runLinux(s) : [runScenario(s)];
}

/** The hidden `vpio bench-one`: a scenario as JSON on stdin, its figures (an array) as JSON on stdout. */
export function benchOne(): number {
  const input = fs.readFileSync(0, 'utf8');
  const s = JSON.parse(input) as Scenario;
  stdout.write(JSON.stringify(runAny(s)));
  stdout.flush();
  return 0;
}

/** The bench was stopped (a signal): the workers are gone and nothing was written. */
export class BenchStopped extends Error {
  constructor() {
    super('the bench was stopped');
  }
}

function runInWorker(s: Scenario, signal?: AbortSignal): Promise<Figures[]> {
  return new Promise((resolve, reject) => {
    // An abort kills the worker (SIGTERM); its scenario is then not waited for.
    const child = spawn(process.execPath, [process.argv[1], 'bench-one'], { stdio: ['pipe', 'pipe', 'pipe'], signal });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => { reject(signal?.aborted ? new BenchStopped() : e); });
    child.stdin.on('error', () => { /* the child is gone: its close says why */ });
    child.on('close', (code) => {
      if (signal?.aborted) { reject(new BenchStopped()); return; }
      if (code !== 0) { reject(new Error(`scenario ${s.id} failed in its worker: ${err.trim().split('\n').pop()}`)); return; }
      try { resolve(JSON.parse(out) as Figures[]); } catch (e) { reject(e); }
    });
    child.stdin.end(JSON.stringify(s));
  });
}

class Progress {
  private done = 0;
  private lastShown = -1;
  constructor(private readonly total: number, private readonly tty: boolean) {}
  tick(id: string): void {
    this.done++;
    if (this.tty) {
      const width = 30, filled = Math.round((width * this.done) / this.total);
      stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${this.done}/${this.total} ${id.slice(0, 40).padEnd(40)}`);
      if (this.done === this.total) stderr.write('\n');
      stderr.flush();
    } else {
      const tenth = Math.floor((10 * this.done) / this.total);
      if (tenth !== this.lastShown) { this.lastShown = tenth; warn(`vpio bench: ${this.done}/${this.total}`); }
    }
  }
}

/**
 * Runs the scenarios and prints the tables (and, with `old`, what changed against it).
 * Writes no file: the caller writes `report` and `html()` where it was asked to. An
 * abort of `signal` stops the workers and rejects with BenchStopped.
 */
export async function runBench(opts: BenchOptions, version: string, out: (line: string) => void, control: { old?: BenchReport | null; signal?: AbortSignal } = {}): Promise<{ report: BenchReport; ok: boolean; html: () => Promise<string> }> {
  if ((opts.linux === undefined) !== (opts.initrd === undefined)) throw new UsageError('--linux and --initrd go together: the kernel and the initramfs of scripts/linux-guest.mjs');
  if (opts.apic === true && opts.linux === undefined) throw new UsageError('--apic is for the Linux rows: give it with --linux and --initrd');
  let list = scenarios(opts.quick ?? false);
  // The Linux files' SHA-256 for the report, taken as they are checked.
  const linuxImages: Record<string, string> = {};
  if (opts.linux !== undefined) {
    // Read now, so that a missing file is a usage error before anything runs.
    const fix = 'give the kernel and initramfs node scripts/linux-guest.mjs prints';
    const limit = { bytes: 128 * 1024 * 1024, what: 'the Linux guest\'s memory', fix };
    const initrd = readInput(opts.initrd!, limit, fix);
    const kernel = readInput(opts.linux, limit, fix);
    if (!isLinuxImage(new Uint8Array(kernel))) throw new UsageError(`--linux ${opts.linux} is not a Linux bzImage; ${fix}`);
    for (const [f, data] of [[opts.linux, kernel], [opts.initrd!, initrd]] as const) linuxImages[path.basename(f)] = createHash('sha256').update(data).digest('hex');
    // The Linux boots first: they are the long ones, and the workers share the rest after them.
    list = [...linuxScenarios(opts.linux, opts.initrd!, opts.quick ?? false, opts.apic === true), ...list];
  }
  if (opts.only !== undefined) {
    let re: RegExp;
    try { re = new RegExp(opts.only); } catch (e) { throw new UsageError(`bad --only '${opts.only}': ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`); }
    list = list.filter((s) => re.test(s.id));
    if (list.length === 0) throw new UsageError(`--only '${opts.only}' matches no scenario`);
  }
  const jobs = opts.jobs !== undefined ? Number(opts.jobs) : Math.max(1, os.cpus().length);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`bad --jobs '${opts.jobs}'; give 1..64`);
  const signal = control.signal;
  const results: Figures[][] = new Array(list.length);
  const progress = new Progress(list.length, process.stderr.isTTY === true);
  if (jobs === 1) {
    for (let i = 0; i < list.length; i++) {
      // Between scenarios, the event loop: a signal is seen there.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw new BenchStopped();
      results[i] = runAny(list[i]);
      progress.tick(list[i].id);
    }
  } else {
    let next = 0;
    const worker = async () => {
      while (next < list.length && !signal?.aborted) {
        const i = next++;
        results[i] = await runInWorker(list[i], signal);
        progress.tick(list[i].id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, list.length) }, worker));
  }
  if (signal?.aborted) throw new BenchStopped();
  const images = { ...imageHashes([...new Set(list.flatMap((s) => imagesOf(s)))]), ...linuxImages };
  const report: BenchReport = {
    tool: 'vpio bench', version, node: process.version, quick: opts.quick ?? false, options: { quick: opts.quick ?? false, only: opts.only ?? null, linux: opts.linux !== undefined, ...(opts.apic === true ? { apic: true } : {}) },
    costs: { ...DEFAULT_COSTS }, images, results: results.flat(),
  };
  if (list.some((s) => s.workload === 'cpubound')) report.cpu = await beside86(signal);
  if (signal?.aborted) throw new BenchStopped();
  const lines = tables(report.results);
  if (report.cpu) lines.splice(lines.length - 1, 0, ...cpuTable(report.cpu));
  for (const line of lines) out(line);
  if (control.old) for (const line of compare(control.old, report)) out(line);
  return { report, ok: report.results.every((r) => r.ok), html: () => benchHtml(report, lines) };
}

/** The CPU-bound guest in our CPU and in v86 (where its npm package is installed), through bench/cpu. */
async function beside86(signal?: AbortSignal): Promise<BenchReport['cpu']> {
  const script = path.join(path.dirname(process.argv[1]), 'bench-cpu.js');
  const json = path.join(os.tmpdir(), `vpio-bench-cpu-${process.pid}.json`);
  if (!fs.existsSync(script)) return { engines: [], skipped: { all: `${script} is missing (npm run build)` } };
  await new Promise<void>((resolve) => {
    const child = spawn(process.execPath, [script, '--engines', 'ours,v86-interp,v86-jit', '--json', json], { stdio: 'ignore', signal });
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
  try {
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as { figures: { engine: string; mips: number; seconds: number; output: string }[]; skipped: Record<string, string> };
    fs.rmSync(json, { force: true });
    const norm = (t: string) => t.replace(/\r/g, '').trim();
    const ours = r.figures.find((f) => f.engine === 'ours');
    return { engines: r.figures.map((f) => ({ engine: f.engine, mips: f.mips, seconds: f.seconds, sameOutput: !!ours && norm(f.output) === norm(ours.output) })), skipped: r.skipped };
  } catch (e) {
    return { engines: [], skipped: { all: `bench/cpu gave no report (${(e as Error).message})` } };
  }
}

function cpuTable(cpu: NonNullable<BenchReport['cpu']>): string[] {
  const lines = ['', 'the CPU-bound guest (1.015 billion instructions), emulator speed beside v86: million instructions a host second'];
  for (const e of cpu.engines) lines.push(`  ${e.engine.padEnd(11)} ${fmt(e.mips, 0).padStart(6)}  ${fmt(e.seconds, 1).padStart(6)} s  ${e.sameOutput ? 'same checksums' : 'DIFFERENT checksums'}`);
  for (const [k, why] of Object.entries(cpu.skipped)) lines.push(`  ${k.padEnd(11)} skipped: ${why}`);
  return lines;
}

/** Reads and checks a report written by `vpio bench --json` (a regular file of at most 256 MiB). */
export function readReport(file: string): BenchReport {
  const fix = 'give a report written by vpio bench --json';
  const text = readInput(file, { bytes: 256 * 1024 * 1024, what: 'any report vpio writes', fix }, fix).toString('utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`cannot read ${file} as a vpio bench report (${(e as Error).message.split('\n')[0]}); ${fix}`);
  }
  const r = data as BenchReport;
  if (r?.tool !== 'vpio bench' || !Array.isArray(r.results) || !r.results.every((x) => typeof x?.id === 'string' && typeof x?.scenario === 'object' && x.scenario !== null)) {
    throw new UsageError(`${file} is not a vpio bench --json report; ${fix}`);
  }
  return r;
}

const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');
const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');

/** The comparison tables, one per kind of scenario. */
export function tables(all: Figures[]): string[] {
  const lines: string[] = [];
  const results = all.filter((f) => !isLinux(f));
  const by = (pred: (f: Figures) => boolean) => results.filter(pred);
  for (const workload of ['udp-tx', 'udp-rx'] as const) {
    const rows = by((f) => f.scenario.workload === workload && f.scenario.guests === 1);
    if (!rows.length) continue;
    lines.push('');
    lines.push(`${workload}, one guest: Mbit/s (share of the wire) and hypervisor cycles per frame, by mode`);
    lines.push(`card        frame  ${MODES.map((m) => m.padStart(24)).join('')}   vpio hooked  exits/frame  model cycles/frame (vpio)`);
    const keys = [...new Set(rows.map((f) => `${f.scenario.nic}|${f.scenario.frame}`))];
    for (const key of keys) {
      const [nic, frame] = key.split('|');
      const cells = MODES.map((m) => {
        const f = rows.find((x) => x.scenario.nic === nic && x.scenario.frame === Number(frame) && x.scenario.mode === m);
        if (!f) return ''.padStart(24);
        return `${fmt(f.mbps, 2)} (${fmt(100 * f.wireShare, 0)}%) ${int(f.hypervisorCyclesPerFrame)}${f.ok ? '' : '!'}`.padStart(24);
      }).join('');
      const v = rows.find((x) => x.scenario.nic === nic && x.scenario.frame === Number(frame) && x.scenario.mode === 'vpio');
      lines.push(`${nic!.padEnd(11)} ${frame.padStart(5)}  ${cells}   ${v && v.hookedFraction !== null ? (fmt(100 * v.hookedFraction) + '%').padStart(11) : ''.padStart(11)}  ${(v ? fmt(v.exitsPerFrameTotal) : '').padStart(11)}  ${v && v.vpioModelCyclesPerFrame !== null ? int(v.vpioModelCyclesPerFrame).padStart(18) : ''}`);
    }
  }
  const pings = by((f) => f.scenario.workload === 'ping');
  if (pings.length) {
    lines.push('');
    lines.push('ping: round trip, µs (the fastest of the pings, after ARP)');
    lines.push(`card        ${MODES.map((m) => m.padStart(12)).join('')}`);
    for (const nic of [...new Set(pings.map((f) => f.scenario.nic))]) {
      lines.push(`${nic!.padEnd(11)} ${MODES.map((m) => { const f = pings.find((x) => x.scenario.nic === nic && x.scenario.mode === m); return (f ? `${f.rttMicros ?? '-'}${f.ok ? '' : '!'}` : '').padStart(12); }).join('')}`);
    }
  }
  const shared = by((f) => f.scenario.guests > 1 && f.scenario.workload === 'udp-tx');
  if (shared.length) {
    lines.push('');
    lines.push('udp-tx, guests sharing one card: aggregate Mbit/s, slowest/fastest guest (datagrams/s), handoffs, frames lost and why');
    for (const f of shared) {
      const lost = Object.entries(f.lost).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
      lines.push(`${f.scenario.nic!.padEnd(9)} ${String(f.scenario.guests).padStart(2)} guests ${f.scenario.mode.padEnd(8)} ${fmt(f.mbps, 2).padStart(7)}  ${Math.min(...f.perGuest)}/${Math.max(...f.perGuest)}  handoffs ${f.handoffs}  lost: ${lost}`);
    }
  }
  const hostile = by((f) => f.scenario.workload === 'hostile');
  if (hostile.length) {
    lines.push('');
    lines.push('hostile guest beside a udp-tx victim: what the victim saw, and what was refused');
    for (const f of hostile) {
      const victim = f.scenario.mode === 'passthrough' ? 'victim has no card' : `victim ${f.ok ? 'whole' : 'DAMAGED'}`;
      lines.push(`${f.scenario.nic!.padEnd(9)} ${f.scenario.attack!.padEnd(8)} ${f.scenario.mode.padEnd(12)} ${victim}  refused ${f.violations}${f.violationRules.length ? ` (${f.violationRules.join(', ')})` : ''}${f.note && f.scenario.mode !== 'passthrough' ? '  ' + f.note : ''}${f.note.includes('DMA') ? '  ' + f.note.split('; ').pop() : ''}`);
    }
  }
  const cpu = by((f) => f.scenario.workload === 'cpubound');
  for (const f of cpu) {
    lines.push('');
    lines.push(`cpubound: ${int(f.instructions)} instructions, ${fmt(f.mips, 0)} million a host second`);
  }
  lines.push(...linuxTables(all, results));
  const bad = all.filter((f) => !f.ok);
  lines.push('');
  lines.push(bad.length ? `${bad.length} of ${all.length} runs did not give the right result (marked !): ${bad.map((f) => f.id).join(', ')}` : `${all.length} runs, every result right; wall time ${fmt(all.reduce((a, f) => a + (isLinux(f) && f.scenario.workload !== 'ping' ? 0 : f.wallSeconds), 0))} s of emulation`);
  return lines;
}

/** A report's scope: --quick or the full run, --only, and whether it has the Linux rows. */
function scopeOf(r: BenchReport): { quick: boolean; only: string | null; linux: boolean } {
  return { quick: r.options?.quick ?? r.quick ?? false, only: r.options?.only ?? null, linux: r.options?.linux ?? false };
}

function scopeText(r: BenchReport): string {
  const s = scopeOf(r);
  return `${s.quick ? '--quick' : 'the full run'}${s.only !== null ? ` --only '${s.only}'` : ''}${s.linux ? ' with the Linux rows' : ''}`;
}

/**
 * What changed between two reports, scenario by scenario (virtual-clock figures only).
 * Only scenarios both reports ran alike are compared: the same id with the same
 * parameters (a --quick run sends fewer datagrams than the full one under the same id).
 * When the runs differ in scope (--quick, --only), it says so, and the scenarios only
 * one of them has are left out rather than listed as new or gone.
 */
export function compare(old: BenchReport, now: BenchReport): string[] {
  const lines: string[] = ['', 'against the earlier report:'];
  const sameScope = JSON.stringify(scopeOf(old)) === JSON.stringify(scopeOf(now));
  const olds = new Map(old.results.map((o) => [o.id, o]));
  const alike = now.results.filter((f) => olds.has(f.id) && JSON.stringify(olds.get(f.id)!.scenario) === JSON.stringify(f.scenario));
  const unlike = now.results.filter((f) => olds.has(f.id) && !alike.includes(f));
  if (!sameScope) {
    const onlyOld = old.results.length - alike.length - unlike.length, onlyNow = now.results.length - alike.length - unlike.length;
    lines.push(`  the runs differ in scope (the earlier: ${scopeText(old)}; this one: ${scopeText(now)}): comparing only the ${alike.length} scenario${alike.length === 1 ? '' : 's'} both ran alike` +
      ` (not compared: ${unlike.length} run with other parameters, ${onlyOld} only in the earlier report, ${onlyNow} only in this one)`);
  }
  let changed = 0;
  for (const f of alike) {
    const o = olds.get(f.id)!;
    const diffs: string[] = [];
    const rel = (a: number, b: number) => (a === 0 ? (b === 0 ? 0 : Infinity) : (b - a) / a);
    for (const [name, a, b] of [['Mbit/s', o.mbps, f.mbps], ['cycles/frame', o.cyclesPerFrame, f.cyclesPerFrame], ['hypervisor cycles/frame', o.hypervisorCyclesPerFrame, f.hypervisorCyclesPerFrame], ['exits/frame', o.exitsPerFrameTotal, f.exitsPerFrameTotal], ['rtt µs', o.rttMicros ?? 0, f.rttMicros ?? 0]] as [string, number, number][]) {
      const r = rel(a, b);
      if (Math.abs(r) > 0.001) diffs.push(`${name} ${fmt(a, 2)} -> ${fmt(b, 2)} (${r > 0 ? '+' : ''}${fmt(100 * r)}%)`);
    }
    if (o.ok !== f.ok) diffs.push(f.ok ? 'now right' : 'now WRONG');
    if (diffs.length) { lines.push(`  ${f.id}: ${diffs.join(', ')}`); changed++; }
  }
  if (sameScope) {
    // The same options chose these: a scenario that differs, appears or goes is the program's change.
    for (const f of unlike) {
      const o = olds.get(f.id)!.scenario as unknown as Record<string, unknown>;
      const n = f.scenario as unknown as Record<string, unknown>;
      const keys = [...new Set([...Object.keys(o), ...Object.keys(n)])].filter((k) => JSON.stringify(o[k]) !== JSON.stringify(n[k]));
      lines.push(`  ${f.id}: run with other parameters (${keys.map((k) => `${k} ${JSON.stringify(o[k])} -> ${JSON.stringify(n[k])}`).join(', ')}), not compared`);
      changed++;
    }
    for (const f of now.results) if (!olds.has(f.id)) { lines.push(`  ${f.id}: new`); changed++; }
    const ids = new Set(now.results.map((f) => f.id));
    for (const o of old.results) if (!ids.has(o.id)) { lines.push(`  ${o.id}: gone`); changed++; }
  }
  if (!changed) lines.push(sameScope ? '  nothing changed' : '  nothing changed in those');
  return lines;
}
