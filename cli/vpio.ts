/**
 * The `vpio` command line (DESIGN.md section 7).
 *
 *   vpio run KERNEL... [options]   boot Multiboot kernels (several: one VM each, --mode passthrough|virtual|vpio)
 *   vpio bench [options]           compare the modes
 *   vpio demo                      boot the bundled demo guest, then vpio bench --quick
 *
 * Exit status (the same table is in --help and the README):
 *   (V << 1) | 1  the guest wrote V to isa-debug-exit (port 0xF4), as under QEMU: always odd;
 *                 with several VMs, the first VM in order whose V is not 0, else 1
 *   0    success: the guest powered off or reset the machine (as under qemu -no-reboot);
 *        bench: every result right; --help; --list-devices
 *   2    bad usage or a bad image (one line naming the problem and the fix)
 *   4    stopped: the cycle limit, a triple fault, a halt nothing can end, a VM killed
 *   6    an output could not be written (one line naming the file and the error)
 *   8    internal error (a bug: one line; the stack with VPIO_DEBUG=1)
 *   10   bench: a run gave the wrong result
 *   130, 143  stopped by SIGINT or SIGTERM (the outputs closed, complete and valid)
 *   141  stdout or stderr is a pipe whose reader went away (as a shell shows SIGPIPE)
 * Every status but the guest's is even (141 and 143 follow the shell's 128 + signal),
 * so none can be taken for a guest's result.
 *
 * Signals: the emulator's run loop is synchronous, so `vpio run` runs it in a worker
 * thread and keeps this thread's event loop free for SIGINT and SIGTERM, which it passes
 * on in shared memory. The worker looks at that, at broken pipes and at write errors
 * where the run loop advances its clock anyway (after each of the CPU's runs up to the
 * next device event, or each of the hypervisor's slices), so that looking changes
 * nothing in the run: the CPU is never stopped where it would not have stopped (tested).
 * It then ends the run and closes every output. A guest that runs with no device event
 * at all (a loop with the timer off) never reaches such a point: one second after the
 * signal, or at a second one, this thread stops the worker and keeps what is complete:
 * the pcap and the trace up to the last event; the timeline is then not written.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isMainThread, parentPort, workerData, Worker } from 'worker_threads';
import { Command, CommanderError, Option } from 'commander';
import seedrandom from 'seedrandom';
import { Pc, RunResult, checkBiosImage, BIOS_MAX_BYTES, DEFAULT_RTC_START, TRACE_KINDS as MACHINE_TRACE_KINDS, NIC_KINDS, NicKind, PeerSpec, DEFAULT_MAC } from '../board/pc';
import { VpioMonitor, ON_VIOLATION, OnViolation } from '../vpio/monitor';
import { runBench, benchOne, BenchOptions, readReport, BenchStopped } from './bench';
import { Timeline } from '../board/timeline';
import { DEFAULT_COSTS } from '../devices/costs';
import { cpuTracer } from './cpu-trace';
import { parseMac, macToString } from '../devices/net/ethernet';
import { EchoPeer, SinkPeer, SourcePeer, SOURCE_PARAMS } from '../devices/net/wire';
import { PcapWriter } from '../devices/net/pcap';
import { BadImage, loadMultiboot } from '../board/multiboot';
import { isLinuxImage, loadLinux } from '../board/linux';
import { NE2000_ISA_IRQ } from '../devices/nic';
import { Host, HostConfigError, HV_MODES, HvMode, DEFAULT_QUANTUM, VmSpec } from '../hypervisor/host';
import { Vm, VmEnd } from '../hypervisor/vm';
import type { Cpu } from '../cpu/cpu';
import { DebugSession, newChannelBuffer } from '../debug/session';
import { CpuTarget } from '../debug/cpu-target';
import { GdbServer, parseGdbAddress } from '../debug/server';
import { EXIT, UsageError, OutputError, OutputFile, OutputDescription, Sink, readInput, signalStatus, stdout, stderr, warn, pipeBroken, errnoText } from './io';
import type { Clock } from '../devices/clock';
import { parseCycles, parseWhole } from './numbers';
import { SavePoint, Restore, parseSavePoints, readSnapshot, checkSameMachine, restoreInto, saveSnapshot, sha256, checkpointer, saveFromDebugger } from './snapshot';
import type { MemorySnapshot } from '../snapshot/memory';

/** Trace kinds: every instruction, the machine's, the hypervisor's exits, and the VPIO monitor's (model transitions, stalls, handoffs, refusals). */
const TRACE_KINDS = ['cpu', ...MACHINE_TRACE_KINDS, 'exit', 'vpio'] as const;

/** The run flushes its streams and looks at pipes and write errors every this many cycles (10 ms). */
const CHECK_CYCLES = 20_000_000;
/** After a signal, how long the worker has to reach a point where it can end cleanly (host time, milliseconds). */
const GRACE_MS = 1000;

const MODES_HV = 'passthrough, virtual or vpio';
const SAVE_AT_WITH_GDB = '--save-at and --gdb cannot be combined (a debugger going backwards runs the machine again); save from gdb with monitor save FILE';
const TRACE_CPU_WITH_GDB = '--trace cpu and --gdb both watch every instruction; give one of them';

function version(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

/** "64M", "512K", "1G", "4194304" -> bytes. */
export function parseSize(text: string, option = '--memory'): number {
  const m = /^(\d+)([KMG]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`bad ${option} '${text}'; give a size such as 64M, 512K or 1G`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  const bytes = Number(m[1]) * unit;
  if (bytes < 2 * 1024 * 1024) throw new UsageError(`${option} ${text} is too small; the machine needs at least 2M`);
  if (bytes > 2 * 1024 ** 3) throw new UsageError(`${option} ${text} is too large; at most 2G`);
  if (bytes % 4096) throw new UsageError(`${option} ${text} is not a whole number of 4 KiB pages`);
  return bytes;
}

/** "all", "none", or VM numbers such as "0,2". */
function parseNicVms(text: string, count: number): boolean[] {
  const t = text.trim();
  if (t === 'all') return new Array(count).fill(true);
  if (t === 'none') return new Array(count).fill(false);
  const want = new Array(count).fill(false);
  for (const part of t.split(',')) {
    if (!/^\d+$/.test(part.trim()) || Number(part) >= count) throw new UsageError(`bad --nic-vms '${text}'; give all, none, or VM numbers 0..${count - 1} such as 0,2`);
    want[Number(part)] = true;
  }
  return want;
}

function parseTrace(text: string): Set<string> {
  const kinds = new Set(text.split(',').map((s) => s.trim()).filter(Boolean));
  for (const k of kinds) {
    if (!(TRACE_KINDS as readonly string[]).includes(k)) throw new UsageError(`unknown trace kind '${k}'; kinds are ${TRACE_KINDS.join(', ')}`);
  }
  return kinds;
}

type SourceKey = keyof typeof SOURCE_PARAMS;
const SOURCE_KEYS = Object.keys(SOURCE_PARAMS) as SourceKey[];

/** The source's parameters for --help and errors: "rate=N (datagrams a second, 1..1000000, default 1000)". */
function sourceParamsHelp(): string {
  return SOURCE_KEYS.map((k) => {
    const p = SOURCE_PARAMS[k];
    return `${k}=N (${p.meaning}; ${p.min}..${p.max}, default ${p.default})`;
  }).join(', ');
}

/** "echo", "sink", "source,rate=1000,size=512,count=100". */
export function parsePeer(text: string): PeerSpec {
  const [kind, ...params] = text.split(',');
  const kv = new Map<string, string>();
  for (const p of params) {
    const m = /^([a-z]+)=(.+)$/.exec(p);
    if (!m) throw new UsageError(`bad --peer parameter '${p}'; give key=value, e.g. source,rate=1000,size=512`);
    if (kv.has(m[1])) throw new UsageError(`--peer ${kind} ${m[1]}= is given twice; give it once`);
    kv.set(m[1], m[2]);
  }
  if (kind === 'echo' || kind === 'sink') {
    if (kv.size) throw new UsageError(`--peer ${kind} takes no parameters`);
    return { kind };
  }
  if (kind === 'source') {
    for (const k of kv.keys()) {
      if (!(SOURCE_KEYS as string[]).includes(k)) throw new UsageError(`unknown --peer source parameter '${k}'; parameters are ${SOURCE_KEYS.join(', ')}`);
    }
    const num = (key: SourceKey) => {
      const p = SOURCE_PARAMS[key];
      return kv.has(key) ? parseWhole(kv.get(key)!, `--peer source ${key}`, p.meaning.split(/[;(]/)[0].trim(), p.min, p.max) : p.default;
    };
    return { kind: 'source', rate: num('rate'), size: num('size'), count: num('count'), port: num('port'), start: num('start') };
  }
  throw new UsageError(`unknown peer '${kind}'; peers are echo, sink, source[,rate=N,size=N,count=N,port=N,start=N]`);
}

/** The RTC start for a seed: 2000-01-01 plus a seeded offset within 30 years. */
function rtcStartFor(seed: string | undefined): number {
  if (seed === undefined) return DEFAULT_RTC_START;
  return DEFAULT_RTC_START + Math.floor(seedrandom(seed)() * 30 * 365 * 86400);
}

interface RunOptions {
  memory: string;
  maxCycles?: string;
  cmdline: string[];
  append?: string[];
  initrd?: string;
  bios?: string;
  mode?: string;
  quantum?: string;
  hostMemory?: string;
  nicVms?: string;
  stats?: boolean;
  onViolation?: string;
  cardQuantum?: string;
  traceFrom?: string;
  traceVm?: string;
  tracePorts?: string;
  traceFormat?: string;
  timeline?: string;
  trace?: string;
  traceOut?: string;
  listDevices?: boolean;
  translate: boolean;
  apic?: boolean;
  seed?: string;
  nic?: string;
  mac?: string;
  peer?: string[];
  pcap?: string;
  checkCycles?: string;
  gdb?: string;
  gdbWait?: boolean;
  saveAt?: string[];
  restore?: string;
}

/**
 * The machine's ports, IRQs and PCI functions, as firmware leaves them for the kernel:
 * PCI BARs assigned and interrupt lines routed (as SeaBIOS does), so that a PCI card's
 * ports and IRQ show.
 */
function listDevices(pc: Pc, out: Sink): void {
  pc.platform.firmwareSetup();
  out.line('port range      device          bus cycles');
  for (const r of [...pc.ports.ranges].sort((a, b) => a.base - b.base)) {
    const hi = r.base + r.length - 1;
    out.line(`0x${r.base.toString(16).padStart(4, '0')}-0x${hi.toString(16).padStart(4, '0')}   ${r.name.padEnd(15)} ${r.cycles}`);
  }
  const memory = pc.mmio.ranges.filter((r) => r.name === 'lapic' || r.name === 'ioapic').sort((a, b) => a.base - b.base);
  if (memory.length) {
    out.line('');
    out.line('memory range             device          bus cycles');
    for (const r of memory) out.line(`0x${r.base.toString(16).padStart(8, '0')}-0x${(r.base + r.length - 1).toString(16).padStart(8, '0')}  ${r.name.padEnd(15)} ${r.cycles}`);
  }
  out.line('');
  out.line(pc.platform.ioapic !== null ? 'irq  device (each also on the I/O APIC pin of its number, IRQ 0 on pin 2)' : 'irq  device');
  // The platform's own lines (board/platform.ts), then every PCI function's routed
  // interrupt line as firmware set it, and an ISA card's line.
  const irqs: [number, string][] = [[0, 'pit channel 0'], [1, 'i8042 keyboard'], [2, 'cascade (slave 8259A)'], [4, 'com1'], [8, 'rtc'], [12, 'i8042 mouse'], [13, 'x87 FPU error (FERR#, port 0xf0)']];
  for (const { dev, func, fn } of pc.pci.functions()) {
    if (fn.config[0x3d] !== 0 && fn.interruptLine !== 0 && fn.interruptLine < 16) irqs.push([fn.interruptLine, `${fn.name} (PCI 00:${dev.toString(16).padStart(2, '0')}.${func} INT${'ABCD'[fn.config[0x3d] - 1]}#)`]);
  }
  if (pc.ne2000 && pc.options.nic === 'ne2000-isa') irqs.push([NE2000_ISA_IRQ, 'ne2000 (ISA)']);
  for (const [irq, dev] of irqs.sort((a, b) => a[0] - b[0])) out.line(`${String(irq).padStart(3)}  ${dev}`);
  out.line('');
  out.line('pci      id         class   function');
  for (const { dev, func, fn } of pc.pci.functions()) {
    const c = fn.config;
    const id = `${(c[0] | (c[1] << 8)).toString(16).padStart(4, '0')}:${(c[2] | (c[3] << 8)).toString(16).padStart(4, '0')}`;
    const cls = ((c[0x0b] << 16) | (c[0x0a] << 8) | c[0x09]).toString(16).padStart(6, '0');
    out.line(`00:${dev.toString(16).padStart(2, '0')}.${func}  ${id}  ${cls}  ${fn.name}`);
  }
}

/** Reads a kernel image: a regular file no larger than the guest memory it must fit in. */
function readImage(kernel: string, memoryBytes: number, memoryText: string, fix = 'give the path of a Multiboot ELF kernel or a Linux bzImage'): Uint8Array {
  const image = readInput(kernel, { bytes: memoryBytes, what: `--memory ${memoryText} can hold`, fix: 'give a larger --memory, or a smaller image' }, fix);
  return new Uint8Array(image.buffer, image.byteOffset, image.length);
}

/** The trace's filters and format, checked. */
interface TraceShape {
  from: number;
  vm: number;
  lo: number;
  hi: number;
  ports: boolean;
  json: boolean;
}

/**
 * `--trace-from` drops lines before a cycle, `--trace-vm` keeps one VM's (and the
 * machine-wide ones), `--trace-ports LO-HI` keeps port accesses and exits in a range
 * (other kinds pass), `--trace-format json` writes {"cycle", "vm", "kind", "event"}
 * objects, one a line. `vms`: how many VMs the run has (0 on the bare machine).
 */
function traceShape(opts: RunOptions, vms: number): TraceShape {
  const from = opts.traceFrom !== undefined ? parseCycles(opts.traceFrom, '--trace-from', 0) : 0;
  let vm = -1;
  if (opts.traceVm !== undefined) {
    if (!/^\d+$/.test(opts.traceVm.trim())) throw new UsageError(`bad --trace-vm '${opts.traceVm}'; give a VM number such as 0`);
    vm = Number(opts.traceVm);
    if (vms === 0) throw new UsageError(`--trace-vm picks one VM's lines under --mode ${MODES_HV}; the bare machine has no VMs, so leave it out`);
    if (vm >= vms) throw new UsageError(`bad --trace-vm ${opts.traceVm}: this run has ${vms === 1 ? 'one VM, vm0' : `${vms} VMs, vm0..vm${vms - 1}`}`);
  }
  let lo = 0, hi = 0xffff, ports = false;
  if (opts.tracePorts !== undefined) {
    const m = /^(0x[0-9a-f]+|\d+)(?:-(0x[0-9a-f]+|\d+))?$/i.exec(opts.tracePorts.trim());
    if (!m) throw new UsageError(`bad --trace-ports '${opts.tracePorts}'; give a port or a range such as 0xc000-0xc0ff`);
    lo = Number(m[1]); hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (lo > hi || hi > 0xffff) throw new UsageError(`bad --trace-ports '${opts.tracePorts}'; ports are 0..0xffff, low first`);
    ports = true;
  }
  const format = opts.traceFormat ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`unknown --trace-format '${format}'; give text or json`);
  return { from, vm, lo, hi, ports, json: format === 'json' };
}

/** Every trace line is "CYCLE [vmN ]KIND ...": through the filters, in the format asked for, to `out`. */
function traceWriter(out: Sink, t: TraceShape): (line: string) => void {
  return (line: string) => {
    const sp = line.indexOf(' ');
    const cycle = Number(line.slice(0, sp));
    if (cycle < t.from) return;
    let rest = line.slice(sp + 1);
    let id: number | null = null;
    const m = /^vm(\d+) /.exec(rest);
    if (m) { id = Number(m[1]); rest = rest.slice(m[0].length); }
    if (t.vm >= 0 && id !== null && id !== t.vm) return;
    if (t.ports && (rest.startsWith('io ') || rest.startsWith('exit io-'))) {
      const p = /port=0x([0-9a-f]+)/.exec(rest);
      const port = p ? parseInt(p[1], 16) : -1;
      if (port < t.lo || port > t.hi) return;
    }
    if (!t.json) { out.line(line); return; }
    const k = rest.indexOf(' ');
    out.line(JSON.stringify({ cycle, vm: id, kind: k < 0 ? rest : rest.slice(0, k), event: k < 0 ? '' : rest.slice(k + 1) }));
  };
}

/** The options every mode shares, checked; no file is touched yet. */
interface Common {
  memoryBytes: number;
  maxCycles: number;
  kinds: Set<string>;
  shape: TraceShape | null;
  nic: NicKind | undefined;
  mac: Uint8Array;
  peers: PeerSpec[];
  /** Virtual cycles between the run's flushes and looks at pipes and write errors (0: no looks at all). */
  check: number;
  /** --save-at, in the order of their cycles. */
  saves: SavePoint[];
  /** --restore, read and checked against its format (not yet against the machine). */
  restore: Restore | null;
}

function common(opts: RunOptions, vms: number): Common {
  const memoryBytes = parseSize(opts.memory);
  const maxCycles = opts.maxCycles !== undefined ? parseCycles(opts.maxCycles, '--max-cycles') : Infinity;
  const kinds = opts.trace !== undefined ? parseTrace(opts.trace) : new Set<string>();
  if (opts.nic !== undefined && !(NIC_KINDS as readonly string[]).includes(opts.nic)) {
    throw new UsageError(`unknown --nic '${opts.nic}'; cards are ${NIC_KINDS.join(', ')}`);
  }
  const mac = opts.mac !== undefined ? parseMac(opts.mac) : DEFAULT_MAC;
  if (!mac) throw new UsageError(`bad --mac '${opts.mac}'; give six hex bytes such as 52:54:00:12:34:56`);
  if (mac[0] & 1) throw new UsageError(`--mac ${opts.mac} is a multicast address; a card needs a unicast one (even first byte)`);
  const peers = (opts.peer ?? []).map(parsePeer);
  if (!opts.nic && (peers.length || opts.pcap !== undefined || opts.mac)) throw new UsageError('--peer, --pcap and --mac need a card; add --nic ne2000, ne2000-isa or rtl8139');
  for (const [name, v] of [['--pcap', opts.pcap], ['--timeline', opts.timeline], ['--trace-out', opts.traceOut]] as const) {
    if (v !== undefined && v.trim() === '') throw new UsageError(`${name} needs a file name`);
  }
  let shape: TraceShape | null = null;
  if (kinds.size > 0) {
    shape = traceShape(opts, vms);
  } else if (opts.traceFrom !== undefined || opts.traceVm !== undefined || opts.tracePorts !== undefined || opts.traceFormat !== undefined || opts.traceOut !== undefined) {
    throw new UsageError('--trace-from, --trace-vm, --trace-ports, --trace-format and --trace-out shape a trace; add --trace KINDS');
  }
  const check = opts.checkCycles !== undefined ? parseCycles(opts.checkCycles, '--check-cycles', 0) : CHECK_CYCLES;
  const saves = parseSavePoints(opts.saveAt ?? [], maxCycles);
  if (opts.restore !== undefined && opts.restore.trim() === '') throw new UsageError('--restore needs a file name');
  const restore = opts.restore !== undefined ? readSnapshot(opts.restore) : null;
  if (restore) {
    const early = saves.find((s) => s.cycle <= restore.info.cycle);
    if (early) throw new UsageError(`--save-at ${early.cycle}:${early.file} is not after the cycle ${restore.file} was saved at (${restore.info.cycle})`);
    if (restore.info.cycle >= maxCycles) throw new UsageError(`--max-cycles ${maxCycles} is not after the cycle ${restore.file} was saved at (${restore.info.cycle})`);
  }
  return { memoryBytes, maxCycles, kinds, shape, nic: opts.nic as NicKind | undefined, mac, peers, check, saves, restore };
}

/** The files a run writes, opened (as temporary files) once every input has been read. */
class Outputs {
  readonly pcap: OutputFile | null;
  readonly timeline: OutputFile | null;
  readonly traceFile: OutputFile | null;
  /** The --save-at files, each with its cycle. */
  readonly saves: { cycle: number; out: OutputFile }[];
  /** Where trace lines go: the --trace-out file, or stderr. */
  readonly traceSink: Sink | null;
  /** The pcap's writer, once the machine has made it. */
  pcapWriter: PcapWriter | null = null;
  /** Outputs that failed: the one-line reason of each. */
  private readonly failures: string[] = [];

  constructor(opts: RunOptions, c: Common, kernels: string[]) {
    const inputs = kernels.map((k) => ({ file: k, what: 'the kernel' }));
    if (opts.restore !== undefined) inputs.push({ file: opts.restore, what: 'the snapshot --restore reads' });
    const opened: OutputFile[] = [];
    const open = (file: string | undefined, option: string) => {
      if (file === undefined) return null;
      const o = OutputFile.open(file, option, inputs, opened);
      opened.push(o);
      return o;
    };
    this.pcap = open(opts.pcap, '--pcap');
    this.timeline = open(opts.timeline, '--timeline');
    this.traceFile = c.shape ? open(opts.traceOut, '--trace-out') : null;
    this.saves = c.saves.map((p) => ({ cycle: p.cycle, out: open(p.file, '--save-at')! }));
    // The main thread finishes them if it has to stop this worker (runInWorker).
    if (!isMainThread) parentPort?.postMessage({ outputs: opened.map((o) => o.describe()) });
    if (!c.shape) this.traceSink = null;
    else if (!this.traceFile) this.traceSink = stderr;
    else {
      let fd: number;
      try { fd = fs.openSync(this.traceFile.writePath, 'w'); } catch (e) { throw new UsageError(`cannot write --trace-out ${opts.traceOut}: ${errnoText(e).text}; give a writable path`); }
      this.traceSink = new Sink(fd, this.traceFile.file);
    }
  }

  /** A write error on an output so far (the run ends at its next look); a closed pipe is not one. */
  failing(): boolean {
    const e = this.pcapWriter?.error ?? null;
    return (e !== null && e.code !== 'EPIPE') || (this.traceFile !== null && this.traceSink!.broken && !this.traceSink!.brokenPipe) ||
      (stdout.broken && !stdout.brokenPipe) || (stderr.broken && !stderr.brokenPipe);
  }

  /** A pipe written to (stdout, stderr, or an output that is a FIFO) lost its reader: end quietly. */
  pipeGone(): boolean {
    return pipeBroken() || (this.traceSink?.brokenPipe ?? false) || this.pcapWriter?.error?.code === 'EPIPE';
  }

  /** After a failure of vpio itself: every output left out, every existing file as it was. */
  abandon(): void {
    if (this.traceFile && this.traceSink) this.traceSink.close();
    for (const o of [this.traceFile, this.pcap, this.timeline, ...this.saves.map((s) => s.out)]) o?.discard();
  }

  /**
   * Closes every output and puts each complete one in place; one that failed is left
   * out (an existing file stays as it was) and named in `failures`.
   */
  finish(timeline: Timeline | null): void {
    if (this.traceSink) {
      if (this.traceFile) this.traceSink.close(); else this.traceSink.flush();
    }
    if (this.traceFile) this.settle(this.traceFile, this.traceSink!.error);
    if (this.pcap) {
      const e = this.pcapWriter?.error;
      this.settle(this.pcap, e ? errnoText(e) : null);
    }
    if (this.timeline && timeline) {
      let err: { code: string; text: string } | null = null;
      try { timeline.write(this.timeline.writePath); } catch (e) { err = errnoText(e); }
      this.settle(this.timeline, err);
    }
  }

  private settle(o: OutputFile, err: { code: string; text: string } | null): void {
    if (err?.code === 'EPIPE') return; // a FIFO whose reader went: the run ends quietly
    if (err) {
      o.discard();
      this.failures.push(`vpio: cannot write ${o.option} ${o.file}: ${err.text}${o.writePath !== o.file ? '; the file was left as it was' : ''}`);
      return;
    }
    try { o.commit(); } catch (e) { this.failures.push(`vpio: ${(e as OutputError).message}`); }
  }

  /** The failed outputs' lines, stdout's and stderr's write errors (but a closed pipe) among them. */
  get failed(): readonly string[] {
    const streams = [stdout, stderr].filter((s) => s.broken && !s.brokenPipe).map((s) => `vpio: cannot write ${s.name}: ${s.error!.text}`);
    return [...this.failures, ...streams];
  }
}

/** Why a run ended early. */
type Interruption = { kind: 'pipe' } | { kind: 'output' } | { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'debugger' };

/** The signal caught in this thread (or passed on by the main thread to a worker). */
let caught: NodeJS.Signals | null = null;
/** Under the hypervisor, in a worker: the signal's number, set by the main thread. */
let sharedSignal: Int32Array | null = null;
/** In the worker of a run with --gdb: the channel from the main thread's GdbServer (debug/server.ts). */
let gdbChannel: SharedArrayBuffer | null = null;

function signalName(n: number): NodeJS.Signals {
  return (Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] ?? 'SIGTERM') as NodeJS.Signals;
}

function pendingSignal(): NodeJS.Signals | null {
  if (caught === null && sharedSignal !== null && Atomics.load(sharedSignal, 0) !== 0) caught = signalName(Atomics.load(sharedSignal, 0));
  return caught;
}

const signalListeners: ((signal: NodeJS.Signals, first: boolean) => void)[] = [];
let handlersInstalled = false;
/**
 * SIGINT and SIGTERM: the first is kept in `caught` and each listener is told of it;
 * with no listener, a second one ends the process at once (temporary files removed,
 * targets untouched).
 */
function catchSignals(onSignal?: (signal: NodeJS.Signals, first: boolean) => void): void {
  if (onSignal) signalListeners.push(onSignal);
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      const first = caught === null;
      if (first) caught = sig;
      else if (signalListeners.length === 0) process.exit(signalStatus(sig));
      for (const l of signalListeners) l(sig, first);
    });
  }
}

/** Flushes the streams and the pcap, and says whether the run must end and why. */
function interruption(outputs: Outputs): Interruption | null {
  stdout.flush();
  outputs.traceSink?.flush();
  outputs.pcapWriter?.flush();
  if (outputs.pipeGone()) return { kind: 'pipe' };
  if (outputs.failing()) return { kind: 'output' };
  const signal = pendingSignal();
  return signal ? { kind: 'signal', signal } : null;
}

function reportPeers(peers: readonly (EchoPeer | SinkPeer | SourcePeer)[]): void {
  for (const p of peers) {
    if (p instanceof SinkPeer) warn(`vpio: ${p.summary()}`);
    if (p instanceof SourcePeer) warn(`vpio: source: ${p.sent} datagrams sent${p.opts.port === 7 ? `, ${p.echoed} echoed back` : ''}`);
  }
}

/**
 * The status a run ends with, after its outputs are closed: a broken pipe ends quietly
 * (141); a failed output is named (6); a signal is said (130, 143); else `status`.
 */
function ending(outputs: Outputs, stop: Interruption | null, status: number, where: string): number {
  if (outputs.pipeGone() || stop?.kind === 'pipe') return EXIT.brokenPipe;
  for (const line of outputs.failed) warn(line);
  if (outputs.failed.length) return pipeBroken() ? EXIT.brokenPipe : EXIT.output;
  if (stop?.kind === 'debugger') {
    warn(`vpio: the debugger ended the run ${where}`);
    return pipeBroken() ? EXIT.brokenPipe : EXIT.stopped;
  }
  if (stop?.kind === 'signal') {
    warn(`vpio: stopped by ${stop.signal} ${where}; the outputs are complete up to there`);
    return pipeBroken() ? EXIT.brokenPipe : signalStatus(stop.signal);
  }
  return pipeBroken() ? EXIT.brokenPipe : status;
}

/** `vpio run`, in the thread that runs the emulator (see runInWorker). */
function runHere(kernels: string[], opts: RunOptions): number {
  const mode = opts.mode ?? 'native';
  if (mode !== 'native' && !(HV_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`unknown --mode '${mode}'; modes are native, ${MODES_HV}`);
  }
  if (opts.gdbWait && opts.gdb === undefined) throw new UsageError('--gdb-wait waits for the debugger of --gdb; give --gdb PORT too');
  if (mode === 'native') {
    if (kernels.length > 1) throw new UsageError(`native mode runs one guest on the bare machine; for ${kernels.length}, give --mode ${MODES_HV} (one VM each)`);
    for (const o of ['quantum', 'hostMemory', 'nicVms'] as const) {
      if (opts[o] !== undefined) throw new UsageError(`--${o.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} applies to the hypervisor modes; add --mode ${MODES_HV}`);
    }
    for (const o of ['onViolation', 'cardQuantum'] as const) {
      if (opts[o] !== undefined) throw new UsageError(`--${o.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} applies to the VPIO monitor; add --mode vpio`);
    }
    if (opts.cmdline.length > 1) throw new UsageError('one kernel takes one --cmdline');
    if (opts.bios !== undefined && kernels.length > 0) throw new UsageError(`--bios runs firmware from the reset vector, with no kernel; leave out ${kernels[0]}, or --bios`);
    return runNative(kernels[0], opts);
  }
  return runHosted(mode as HvMode, kernels, opts);
}

function runNative(kernel: string | undefined, opts: RunOptions): number {
  const c = common(opts, 0);
  if (opts.listDevices) {
    const pc = new Pc({ memoryBytes: c.memoryBytes, nic: c.nic, mac: c.mac, peers: c.peers, apic: opts.apic === true });
    listDevices(pc, stdout);
    stdout.flush();
    return pipeBroken() ? EXIT.brokenPipe : EXIT.ok;
  }
  const bios = opts.bios !== undefined ? checkedBios(opts) : null;
  if (bios === null && !kernel) throw new UsageError('no kernel given; usage: vpio run KERNEL.elf [options], or vpio run --bios ROM [options]');
  const initrd = bios === null ? readInitrd(opts, c) : null;
  const image = bios === null ? checkedImage(kernel!, c, opts, initrd) : bios;
  const input = bios === null ? kernel! : opts.bios!;
  if (bios === null) consoleHint(kernel!, image, opts.cmdline[0] ?? '');
  const machineOptions = {
    mode: 'native', memory: c.memoryBytes, nic: c.nic ?? null, mac: macToString(c.mac), peers: c.peers, seed: opts.seed ?? null,
    cmdline: opts.cmdline[0] ?? '', kernel: sha256(bios === null ? image : null), initrd: sha256(initrd), bios: sha256(bios),
    ...(opts.apic === true ? { apic: true } : {}),
  };
  if (c.restore) checkSameMachine(c.restore, machineOptions);
  return runThenReport(opts, c, [input], (timeline, traceLine, pcapPath, watch) => {
    let debug: DebugSession | null = null;
    const build = (): Pc => {
      const p: Pc = new Pc({
        timeline, memoryBytes: c.memoryBytes, nic: c.nic, mac: c.mac, peers: c.peers, pcapPath, rtcStart: rtcStartFor(opts.seed),
        // A line is out at once: a guest that prints and then spins with no device event shows it.
        // Under a debugger that went backwards, what the replay prints again is not printed twice.
        console: (b) => {
          if (debug !== null && debug.muted(p.cpu.cycles)) return;
          stdout.byte(b);
          if (b === 0x0a) stdout.flush();
        },
        trace: traceLine, traceKinds: c.kinds, apic: opts.apic === true,
      });
      p.cpu.useTranslator = opts.translate;
      if (c.kinds.has('cpu') && traceLine) p.cpu.tracer = cpuTracer(traceLine, '');
      if (bios !== null) p.loadBios(bios);
      else p.boot(image, kernelCmdline(image, kernel!, opts.cmdline[0] ?? ''), initrd);
      if (c.restore) restoreInto(p, c.restore);
      return p;
    };
    let pc = build();
    let result: RunResult | null = null;
    const pager = checkpointer();
    const machine = (p: Pc) => ({
      run: (m: number) => p.run(m), pause: () => p.pause(), get cycles() { return p.cpu.cycles; }, cpus: [p.cpu],
      save: () => pager.take(p),
    });
    if (gdbChannel !== null) {
      const label = `CPU 0 (${path.basename(input)})`;
      const target = new CpuTarget([{ cpu: pc.cpu, label }], () => [`native: cycle ${pc.cpu.cycles}, ${debug!.summary()}`]);
      // Going backwards replays the run, so only where a replay writes nothing anywhere.
      const replayable = !pcapPath && !timeline && !traceLine;
      debug = new DebugSession(gdbChannel, (text) => parentPort!.postMessage({ gdb: text }), target, opts.gdbWait === true, !replayable ? null : (from) => {
        pc.close();
        pc = build();
        if (from) pager.load(pc, from as MemorySnapshot);
        watch(pc.clock);
        target.rebind([{ cpu: pc.cpu, label }]);
        return machine(pc);
      }, (file) => saveFromDebugger(file, pc, machineOptions, pc.cpu.cycles));
    }
    return {
      clock: pc.clock, pcap: pc.wire?.pcap ?? null, get peers() { return pc.peers; },
      run: (max) => {
        result = debug === null ? pc.run(max) : debug.run(machine(pc), max);
        if (debug?.killed) throw new RunInterrupted({ kind: 'debugger' });
        return result.kind !== 'limit' && result.kind !== 'paused';
      },
      get cycles() { return pc.cpu.cycles; },
      snapshot: () => ({ root: pc, machine: machineOptions }),
      close: () => pc.close(),
      report: () => { if (opts.stats) warn(`vpio: native: ${pc.cpu.cycles} cycles, ${pc.cpu.instructions} instructions, no hypervisor`); },
      where: () => `at cycle ${pc.cpu.cycles}, EIP 0x${(pc.cpu.eip >>> 0).toString(16)}`,
      ends: () => {
        const r = result as RunResult | null;
        const end: VmEnd | null = r === null || r.kind === 'limit' || r.kind === 'paused' ? null : r;
        return [{ label: '', end, cpu: pc.cpu }];
      },
    };
  });
}

/**
 * The --bios image, read and checked (see Pc.loadBios), with the options it cannot go
 * with refused: the firmware starts from the reset vector, so no kernel is loaded for it.
 */
function checkedBios(opts: RunOptions): Uint8Array {
  const file = opts.bios!;
  if (file.trim() === '') throw new UsageError('--bios needs a file name');
  for (const [name, v] of [['--cmdline/--append', opts.cmdline.length ? 'x' : undefined], ['--initrd', opts.initrd]] as const) {
    if (v !== undefined) throw new UsageError(`${name} is for a kernel; --bios runs firmware from the reset vector, which loads what it loads`);
  }
  const image = readInput(file, { bytes: BIOS_MAX_BYTES, what: 'a firmware image can be', fix: 'give a firmware image such as SeaBIOS\'s bios.bin' }, 'give the path of a raw firmware image');
  const rom = new Uint8Array(image.buffer, image.byteOffset, image.length);
  try {
    checkBiosImage(rom);
  } catch (e) {
    if (e instanceof BadImage) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
  return rom;
}

/** A kernel read (unless the caller has read it) and checked as a Multiboot image or a bzImage before anything is written. */
function checkedImage(kernel: string, c: Common, opts: RunOptions, initrd: Uint8Array | null = null,
  image: Uint8Array = readImage(kernel, c.memoryBytes, opts.memory)): Uint8Array {
  try {
    if (isLinuxImage(image)) loadLinux(image, new Uint8Array(c.memoryBytes), opts.cmdline[0] ?? '', initrd);
    else if (initrd) throw new UsageError(`--initrd is for a Linux bzImage; ${kernel} is a Multiboot kernel`);
    else loadMultiboot(image, new Uint8Array(c.memoryBytes), '');
  } catch (e) {
    if (e instanceof BadImage) throw new UsageError(`${kernel}: ${e.message}`);
    throw e;
  }
  return image;
}

/**
 * Linux writes its console to the display unless the command line names a serial one,
 * and this machine has no display: a run without `console=ttyS0` prints nothing until
 * the end. Say so once, on stderr, as a user of qemu-system-i386 (whose window shows the
 * display) would not expect it.
 */
function consoleHint(kernel: string, image: Uint8Array, cmdline: string): void {
  if (isLinuxImage(image) && !/(^|\s)console=(ttyS|uart)/.test(cmdline)) {
    warn(`vpio: note: ${kernel}'s command line names no serial console; Linux writes to a display this machine does not have, so nothing may appear: add --append console=ttyS0`);
  }
}

/** The initrd named by --initrd, read and checked (a regular file that fits in memory), or null. */
function readInitrd(opts: RunOptions, c: Common): Uint8Array | null {
  return opts.initrd === undefined ? null : readImage(opts.initrd, c.memoryBytes, opts.memory, 'give --initrd the path of an initramfs (a cpio archive, compressed or not)');
}

/**
 * The command line a kernel gets: a Linux kernel the --append/--cmdline text as it is;
 * a Multiboot kernel its own name first, as GRUB and QEMU give it.
 */
function kernelCmdline(image: Uint8Array, path: string, text: string): string {
  return isLinuxImage(image) ? text : `${path} ${text}`;
}

/** A machine `runThenReport` drives: the bare PC, or the host and its VMs. */
interface Session {
  readonly clock: Clock;
  readonly pcap: PcapWriter | null;
  readonly peers: readonly (EchoPeer | SinkPeer | SourcePeer)[];
  /**
   * Runs to the cycle limit or the guests' end (throws RunInterrupted when told to stop);
   * true when the guests ended.
   */
  run(maxCycles: number): boolean;
  /** The machine's cycle. */
  readonly cycles: number;
  /** What a snapshot saves: the machine; the options that shape it; what the command line keeps outside it. */
  snapshot(): { root: object; machine: Record<string, unknown>; extra?: Record<string, unknown> };
  /** Flushes what the guests printed, and closes what the run opened. */
  close(): void;
  /** The figures at the end (stderr). */
  report(): void;
  /** Where the run was, for a line about a stop. */
  where(): string;
  /** How each guest ended (null: the cycle limit), its label ('' or 'vmN: ') and CPU. */
  ends(): { label: string; end: VmEnd | null; cpu: Cpu }[];
}

/**
 * `vpio run`'s one path, whatever the machine: the outputs opened (to temporary files),
 * the machine built and run, interrupted by a signal, a closed pipe or a failed output
 * where its clock advances, its outputs closed and kept or dropped, the peers and the
 * figures reported, and each guest's end turned into the status.
 */
function runThenReport(opts: RunOptions, c: Common, kernels: string[],
  build: (timeline: Timeline | null, traceLine: ((line: string) => void) | null, pcapPath: string | undefined,
    watch: (clock: Clock) => void) => Session): number {
  const outputs = new Outputs(opts, c, kernels);
  const timeline = outputs.timeline ? new Timeline(DEFAULT_COSTS.cpuHz) : null;
  const traceLine = outputs.traceSink ? traceWriter(outputs.traceSink, c.shape!) : null;
  // `watch`: a machine built again (a debugger's replay) is looked after as the first.
  const m = build(timeline, traceLine, outputs.pcap?.writePath, (clock) => watchClock(clock, outputs, c.check));
  outputs.pcapWriter = m.pcap;
  watchClock(m.clock, outputs, c.check);
  let stop: Interruption | null = null;
  let finished = false;
  try {
    for (const s of outputs.saves) {
      if (m.run(s.cycle)) {
        warn(`vpio: --save-at ${s.cycle}:${s.out.file}: the guests ended at cycle ${m.cycles}, before it; nothing saved`);
        s.out.discard();
        continue;
      }
      const { root, machine, extra } = m.snapshot();
      saveSnapshot(s.out, root, { machine, cycle: m.cycles, extra });
    }
    m.run(c.maxCycles);
    finished = true;
  } catch (e) {
    if (!(e instanceof RunInterrupted)) throw e;
    stop = e.why;
    finished = true;
  } finally {
    m.close();
    stdout.flush();
    if (finished) outputs.finish(timeline); else outputs.abandon();
  }
  // A signal that came after the run's last look is too late to stop it: the run's own end stands.
  if (stop === null && outputs.pipeGone()) stop = { kind: 'pipe' };
  if (stop?.kind === 'pipe') return EXIT.brokenPipe;
  reportPeers(m.peers);
  m.report();
  if (stop !== null) return ending(outputs, stop, EXIT.stopped, m.where());
  // The status: the first guest, in order, that exited with a value other than 0; else
  // the first's (1 when all exited with 0); a stop (4) when any was stopped.
  let status = -1, stopped = false;
  for (const { label, end, cpu } of m.ends()) {
    const eip = `EIP 0x${(cpu.eip >>> 0).toString(16)}`;
    if (end === null) warn(`vpio: ${label}stopped: the cycle limit (${c.maxCycles}) was reached at ${eip}`);
    else if (end.kind === 'triple-fault') warn(`vpio: ${label}stopped: ${end.message.split('\n')[0]}\n${cpu.dumpState()}`);
    else if (end.kind === 'halted') warn(`vpio: ${label}stopped: ${end.message} at ${eip}`);
    else if (end.kind === 'killed') warn(`vpio: ${label}killed: ${end.message}`);
    else {
      // An exit with V other than 0 decides; a reset or power-off is a success (0).
      if (status === -1 && end.kind === 'exit' && end.value !== 0) status = end.status;
      continue;
    }
    stopped = true;
  }
  if (stopped) status = EXIT.stopped;
  else if (status === -1) status = (m.ends()[0].end as { status: number }).status;
  return ending(outputs, null, status, '');
}

/** Splits each VM's console into lines prefixed "vmN| " (when there are several VMs). */
class Consoles {
  private readonly partial: number[][];
  constructor(private readonly out: Sink, private readonly count: number) {
    this.partial = Array.from({ length: count }, () => []);
  }
  byte(vm: number, b: number): void {
    if (this.count === 1) { this.out.byte(b); if (b === 0x0a) this.out.flush(); return; }
    if (b === 0x0a) { this.line(vm); return; }
    this.partial[vm].push(b);
  }
  private line(vm: number): void {
    this.out.line(`vm${vm}| ${Buffer.from(this.partial[vm]).toString('latin1')}`);
    this.partial[vm] = [];
    this.out.flush();
  }
  /** What each VM has printed of a line not yet ended (for a snapshot). */
  unfinished(): number[][] {
    return this.partial.map((p) => [...p]);
  }
  /** Takes up the lines a snapshot's VMs had begun; anything else is ignored. */
  resume(saved: unknown): void {
    if (!Array.isArray(saved) || saved.length !== this.count) return;
    saved.forEach((p, vm) => { if (Array.isArray(p)) this.partial[vm] = p.filter((b) => Number.isInteger(b) && b >= 0 && b < 256); });
  }
  /** Whatever a VM printed without a final newline. */
  flush(): void {
    for (let vm = 0; vm < this.count; vm++) if (this.partial[vm].length) this.line(vm);
  }
}

/** Thrown out of the hypervisor's run loop to end it early (see watchHost). */
class RunInterrupted extends Error {
  constructor(readonly why: Interruption) {
    super('interrupted');
  }
}

/**
 * Flushes the output files, and the streams and looks at signals, broken pipes and write
 * errors, where the run loop advances its clock anyway (after each of the CPU's runs up to a device event,
 * each of the hypervisor's slices): at once when the main thread has passed on a signal,
 * else every `every` cycles. Nothing in the run changes (the same CPU runs, slices,
 * polls and events); a look that finds a reason ends the run by throwing RunInterrupted
 * out of the run loop. `every` 0: no looks at all.
 */
function watchClock(clock: Clock, outputs: Outputs, every: number): void {
  if (every === 0) return;
  const advance = clock.advanceTo.bind(clock);
  let next = clock.now + every;
  clock.advanceTo = (to: number) => {
    advance(to);
    // Frames and trace lines are out at every event that made them (as the pcap's were
    // before it had a buffer): if the main thread must stop the worker, they are there.
    outputs.pcapWriter?.flush();
    if (outputs.traceFile) outputs.traceSink!.flush();
    if (clock.now < next && (sharedSignal === null || Atomics.load(sharedSignal, 0) === 0)) return;
    next = clock.now + every;
    const why = interruption(outputs);
    if (why) throw new RunInterrupted(why);
  };
}

/** What the worker tells the main thread. */
type WorkerMessage = { outputs: OutputDescription[] } | { status: number } | { gdb: string };

/**
 * `vpio run`: the emulator runs in a worker thread, and this thread passes SIGINT and
 * SIGTERM on to it in shared memory (see the header). If the worker has not ended a
 * second after the signal, or at a second signal, it is stopped here: the pcap and the
 * trace file, flushed at every device event, are kept; the timeline is not written.
 * VPIO_IN_PROCESS=1 runs in this thread instead (signals then end the process).
 */
async function runInWorker(kernels: string[], opts: RunOptions): Promise<number> {
  // With --gdb the worker is needed even so: it waits for the debugger while this thread serves the socket.
  if (process.env.VPIO_IN_PROCESS === '1' && opts.gdb === undefined) return runHere(kernels, opts);
  const shared = new Int32Array(new SharedArrayBuffer(4));
  // What --gdb cannot go with is refused here, before its server listens: every run
  // with --gdb comes this way (a worker even under VPIO_IN_PROCESS).
  if (opts.gdb !== undefined && (opts.saveAt?.length ?? 0) > 0) throw new UsageError(SAVE_AT_WITH_GDB);
  if (opts.gdb !== undefined && opts.trace !== undefined && parseTrace(opts.trace).has('cpu')) throw new UsageError(TRACE_CPU_WITH_GDB);
  const gdb = opts.gdb === undefined ? null : await gdbServer(opts);
  let outputs: OutputDescription[] = [];
  return new Promise((resolve) => {
    let done = false;
    const finish = (status: number) => { if (!done) { done = true; gdb?.server.close(); resolve(status); } };
    const w = new Worker(__filename, {
      workerData: { vpioRun: { kernels, opts }, vpioSignal: shared.buffer, vpioGdb: gdb?.channel ?? null }, stdin: false, stdout: false, stderr: false,
    });
    const force = (sig: NodeJS.Signals) => {
      if (done) return;
      done = true;
      void w.terminate().then(() => {
        const kept = outputs.filter((o) => o.option !== '--timeline').map((o) => o.file);
        for (const o of outputs) {
          const f = OutputFile.adopt(o);
          if (o.option === '--timeline') f.discard(); else { try { f.commit(); } catch { /* named below */ } }
        }
        stdout.flush();
        if (!pipeBroken()) {
          warn(`vpio: stopped by ${sig} while the guest ran with no device event to end at` +
            `${kept.length ? `; ${kept.join(' and ')} ${kept.length > 1 ? 'are' : 'is'} complete up to the last event` : ''}` +
            `${outputs.some((o) => o.option === '--timeline') ? '; the timeline was not written' : ''}`);
        }
        resolve(pipeBroken() ? EXIT.brokenPipe : signalStatus(sig));
      });
    };
    catchSignals((sig, first) => {
      if (!first) { force(caught!); return; }
      Atomics.store(shared, 0, os.constants.signals[sig]);
      setTimeout(() => force(sig), GRACE_MS).unref();
    });
    w.on('message', (m: WorkerMessage) => {
      if ('gdb' in m) gdb?.server.send(m.gdb);
      else if ('outputs' in m) outputs = m.outputs;
      else finish(m.status);
    });
    w.on('error', (e) => { if (!done) internalError(e); finish(EXIT.internal); });
    w.on('exit', () => finish(EXIT.internal));
  });
}

/** The --gdb server, listening (a usage error, status 2, when the address is bad or taken). */
async function gdbServer(opts: RunOptions): Promise<{ server: GdbServer; channel: SharedArrayBuffer }> {
  const at = parseGdbAddress(opts.gdb!);
  if (at === null) throw new UsageError(`--gdb '${opts.gdb}': give a TCP port (1234) or HOST:PORT (localhost:1234)`);
  const channel = newChannelBuffer();
  const server = new GdbServer(channel);
  let port: number;
  try {
    port = await server.listen(at.host, at.port);
  } catch (e) {
    throw new UsageError(`--gdb ${opts.gdb}: cannot listen on ${at.host}:${at.port}: ${errnoText(e).text}`);
  }
  warn(`vpio: gdb: listening on ${at.host}:${port}${opts.gdbWait ? '; the machine waits for it to connect and continue' : ''}`);
  return { server, channel };
}

function runHosted(mode: HvMode, kernels: string[], opts: RunOptions): number {
  if (opts.bios !== undefined) throw new UsageError('--bios runs firmware on the bare machine; leave out --mode');
  if (kernels.length === 0) throw new UsageError('no kernel given; usage: vpio run KERNEL.elf [KERNEL.elf...] --mode ' + mode);
  if (opts.listDevices) throw new UsageError('--list-devices shows the bare machine; leave out --mode');
  const n = kernels.length;
  if (opts.cmdline.length > 1 && opts.cmdline.length !== n) {
    throw new UsageError(`${opts.cmdline.length} --cmdline options for ${n} kernels; give one for each kernel, in order, or one for all`);
  }
  const c = common(opts, n);
  const quantum = opts.quantum !== undefined ? parseCycles(opts.quantum, '--quantum') : DEFAULT_QUANTUM;
  const hostMemoryBytes = parseSize(opts.hostMemory ?? '512M', '--host-memory');
  const nicVms = parseNicVms(opts.nicVms ?? (mode === 'passthrough' ? '0' : 'all'), n);
  if ((opts.onViolation !== undefined || opts.cardQuantum !== undefined) && mode !== 'vpio') throw new UsageError('--on-violation and --card-quantum apply to --mode vpio');
  const onViolation = (opts.onViolation ?? 'block') as OnViolation;
  if (!ON_VIOLATION.includes(onViolation)) throw new UsageError(`unknown --on-violation '${opts.onViolation}'; give block, kill or log`);
  const cardQuantum = opts.cardQuantum !== undefined ? parseCycles(opts.cardQuantum, '--card-quantum') : undefined;
  // With several kernels, --initrd goes to the Linux ones (a Linux guest beside our
  // Multiboot guests, say); it is refused only when no kernel is a bzImage.
  const initrd = readInitrd(opts, c);
  const images = kernels.map((k) => readImage(k, c.memoryBytes, opts.memory));
  const anyLinux = images.some((image) => isLinuxImage(image));
  const specs: VmSpec[] = kernels.map((k, i) => {
    const own = anyLinux && !isLinuxImage(images[i]) ? null : initrd;
    return {
      image: checkedImage(k, c, opts, own, images[i]), path: k, cmdline: opts.cmdline.length > 1 ? opts.cmdline[i] : opts.cmdline[0] ?? '', nic: c.nic !== undefined && nicVms[i],
      initrd: own,
    };
  });
  for (const spec of specs) consoleHint(spec.path, spec.image, spec.cmdline);
  const machineOptions = {
    mode, memory: c.memoryBytes, hostMemory: hostMemoryBytes, quantum, nic: c.nic ?? null, nicVms, mac: macToString(c.mac), peers: c.peers,
    onViolation: mode === 'vpio' ? onViolation : null, cardQuantum: cardQuantum ?? null, seed: opts.seed ?? null,
    cmdlines: specs.map((s) => s.cmdline), kernels: specs.map((s) => sha256(s.image)), initrds: specs.map((s) => sha256(s.initrd ?? null)),
    ...(opts.apic === true ? { apic: true } : {}),
  };
  if (c.restore) checkSameMachine(c.restore, machineOptions);
  return runThenReport(opts, c, kernels, (timeline, traceLine, pcapPath, watch) => {
    const consoles = new Consoles(stdout, n);
    // A line a VM had begun when the snapshot was saved is finished, whole, by the restored run.
    if (c.restore) consoles.resume(c.restore.info.extra?.consoles);
    let debug: DebugSession | null = null;
    const build = (): Host => {
      let h: Host;
      try {
        h = new Host({
          mode, vms: specs, memoryBytes: c.memoryBytes, hostMemoryBytes, quantum, nic: c.nic, mac: c.mac, peers: c.peers,
          pcapPath, rtcStart: rtcStartFor(opts.seed),
          // Under a debugger that went backwards, what the replay prints again is not printed twice.
          console: (vm, b) => { if (debug === null || !debug.muted(h.clock.now)) consoles.byte(vm, b); },
          trace: traceLine, traceKinds: c.kinds, translate: opts.translate, apic: opts.apic === true,
          sharedCard: (hh, nic, vms) => new VpioMonitor(hh, nic, vms, { onViolation, cardQuantum }), timeline,
        });
      } catch (e) {
        if (e instanceof HostConfigError) throw new UsageError(e.message);
        throw e;
      }
      h.boot();
      if (c.restore) restoreInto(h, c.restore);
      if (c.kinds.has('cpu') && traceLine) for (const vm of h.vms) vm.cpu.tracer = cpuTracer(traceLine, `vm${vm.id} `);
      return h;
    };
    let host = build();
    const pager = checkpointer();
    const machine = (h: Host) => ({
      run: (m: number) => h.run(m), pause: () => h.pause(), get cycles() { return h.clock.now; }, cpus: h.vms.map((vm) => vm.cpu),
      save: () => pager.take(h),
    });
    if (gdbChannel !== null) {
      // A thread per VM; going backwards builds the host again and replays it, where nothing else is written.
      const labels = host.vms.map((vm, i) => `VM ${vm.id} (${path.basename(kernels[i])})`);
      const threads = (h: Host) => h.vms.map((vm, i) => ({ cpu: vm.cpu, label: labels[i] }));
      const target = new CpuTarget(threads(host), () => [`${mode}: cycle ${host.clock.now}, ${debug!.summary()}`]);
      const replayable = !pcapPath && !timeline && !traceLine;
      debug = new DebugSession(gdbChannel, (text) => parentPort!.postMessage({ gdb: text }), target, opts.gdbWait === true, !replayable ? null : (from) => {
        host.close();
        host = build();
        if (from) pager.load(host, from as MemorySnapshot);
        watch(host.clock);
        target.rebind(threads(host));
        return machine(host);
      }, (file) => saveFromDebugger(file, host, machineOptions, host.clock.now));
    }
    return {
      clock: host.clock, pcap: host.wire?.pcap ?? null, get peers() { return host.peers; },
      run: (max) => {
        const r = debug === null ? host.run(max) : debug.run(machine(host), max);
        if (debug?.killed) throw new RunInterrupted({ kind: 'debugger' });
        return r.kind === 'done' || r.kind === 'halted';
      },
      get cycles() { return host.clock.now; },
      snapshot: () => ({ root: host, machine: machineOptions, extra: { consoles: consoles.unfinished() } }),
      close: () => { consoles.flush(); host.close(); },
      report: () => {
        warn(statsTable(host, mode).trimEnd());
        if (host.escapeCount > 0) {
          const e = host.escapes[0];
          warn(`vpio: passthrough: vm${e.vm}'s card made ${host.escapeCount} DMA access${host.escapeCount > 1 ? 'es' : ''} outside its memory (first: ${e.direction} of ${e.length} bytes at host-physical 0x${e.address.toString(16)}, cycle ${e.cycle}); passthrough does not check DMA`);
        }
      },
      where: () => `at cycle ${host.clock.now}`,
      ends: () => host.vms.map((vm) => ({ label: `vm${vm.id}: `, end: vm.end, cpu: vm.cpu })),
    };
  });
}

/** The per-VM table: exits by reason, guest and hypervisor cycles, NIC traffic. */
export function statsTable(host: Host, mode: string): string {
  const lines: string[] = [];
  const pct = (a: number, b: number) => (b > 0 ? ((100 * a) / b).toFixed(1) + '%' : '-');
  lines.push(`vpio: ${mode}: ${host.vms.length} VM${host.vms.length > 1 ? 's' : ''}, ${host.clock.now} cycles, quantum ${host.quantum}`);
  for (const vm of host.vms) {
    const s = vm.stats;
    const hv = vm.hypervisorCycles;
    lines.push(`vm${vm.id}: guest ${vm.guestCycles} cycles, hypervisor ${hv} cycles (${pct(hv, vm.guestCycles + hv)}), ${vm.cpu.instructions} instructions; nic ${s.framesOut} frames out, ${s.framesIn} in`);
    lines.push('  exit reason                      count        cycles');
    const rows: [string, number, number][] = [];
    for (const t of vm.portCounters()) {
      if (t.exitsIn || t.accessesIn) rows.push([`io in  ${t.name}${t.accessesIn !== t.exitsIn ? ` (${t.accessesIn} accesses)` : ''}`, t.exitsIn, t.cyclesIn]);
      if (t.exitsOut || t.accessesOut) rows.push([`io out ${t.name}${t.accessesOut !== t.exitsOut ? ` (${t.accessesOut} accesses)` : ''}`, t.exitsOut, t.cyclesOut]);
    }
    for (const w of s.work()) if (w.count) rows.push([w.name, w.count, w.cycles]);
    for (const [name, count, cycles] of rows) lines.push(`  ${name.padEnd(30)} ${String(count).padStart(7)} ${String(cycles).padStart(13)}`);
  }
  if (host.hostWork.count) lines.push(`host: ${host.hostWork.name}: ${host.hostWork.count} operations, ${host.hostWork.cycles} cycles`);
  if (host.shared instanceof VpioMonitor) {
    const m = host.shared;
    lines.push(`vpio: ${m.handoffs} handoffs (${m.handoffCycles} cycles, ${m.forcedHandoffs} forced at the deadline), hooked ${(100 * m.hookedFraction()).toFixed(1)}% of card accesses, ${m.violationCount} refused, ${m.dmaRefused} DMA outside the owner refused by the port`);
    for (const g of m.guests) {
      const s = g.stats;
      const passed = s.passed > 0 ? ` (${s.passed} of them exits through the register page's trap)` : '';
      lines.push(`  vm${g.vm.id}: ${s.hooked} hooked, ${m.directAccesses(g)} direct${passed}, ${s.held} held accesses; ${s.stalls} stalls; ${s.handoffsIn} handoffs in, longest wait ${s.longestWait} cycles; frames held ${s.framesHeld}, dropped ${s.framesDropped}, not taken by the card ${s.framesRefused}, refused ${g.vm.stats.framesSpoofed} sent with another's address`);
    }
    for (const v of m.violations.slice(0, 8)) {
      const where = v.port < 0 ? '' : ` port 0x${v.port.toString(16)} value 0x${v.value.toString(16)}`;
      lines.push(`  refused: vm${v.vm} cycle ${v.cycle}${where} rule ${v.rule}: ${v.detail}`);
    }
  }
  if (host.switch) {
    const sw = host.switch;
    lines.push(`switch: ${sw.unknownUnicast} frames from the wire for no VM dropped, ${host.driver!.dropped} dropped on a full transmit queue, ${sw.spoofed} refused for a source address not the sender's`);
  }
  return lines.join('\n') + '\n';
}

export type { Vm };

function demoKernel(): string {
  const candidates = [path.join(__dirname, '..', 'guests', 'bin', 'hello.elf'), path.join(process.cwd(), 'guests', 'bin', 'hello.elf')];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new UsageError('the bundled demo guest guests/bin/hello.elf is missing; run npm run build:guests');
  return found;
}

/** A bug: one line, the stack only with VPIO_DEBUG=1. */
function internalError(e: unknown): void {
  const err = e as Error;
  const first = `${err?.message ?? String(e)}`.split('\n')[0];
  const where = /\n\s+at (.*)/.exec(err?.stack ?? '')?.[1] ?? '';
  warn(process.env.VPIO_DEBUG ? `vpio: internal error: ${err?.stack ?? e}` :
    `vpio: internal error: ${first}${where ? ` (at ${where})` : ''}; VPIO_DEBUG=1 shows the stack; please report it`);
}

const EXIT_STATUS_HELP = [
  'Exit status:',
  '  (V << 1) | 1  the guest wrote V to isa-debug-exit (port 0xF4), as under QEMU: always odd (with several',
  '                VMs: the first VM, in order, whose V is not 0, else 1)',
  '  0    success: the guest powered off or reset the machine (as under qemu -no-reboot); bench: every',
  '       result right; --help; --list-devices',
  '  2    bad usage or a bad image (one line naming the problem and the fix)',
  '  4    stopped: the cycle limit, a triple fault, a halt nothing can end, a VM killed',
  '  6    an output could not be written (one line naming the file and the error)',
  '  8    internal error (a bug: one line; the stack with VPIO_DEBUG=1)',
  '  10   bench: a run gave the wrong result',
  '  130, 143  stopped by SIGINT, SIGTERM: the outputs closed, complete up to there',
  '  141  stdout or stderr is a pipe whose reader went away (what a shell shows for SIGPIPE); nothing more is said',
].join('\n');

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  let status = 0;
  program
    .name('vpio')
    .description('An x86 PC emulator with a VPIO hypervisor: boot guest kernels (Multiboot, or Linux bzImages) on a deterministic virtual clock.')
    .version(version())
    .exitOverride()
    .configureOutput({ writeOut: (s) => { stdout.write(s); stdout.flush(); }, writeErr: () => {} })
    .showHelpAfterError(false)
    .addHelpText('after', '\n' + EXIT_STATUS_HELP);

  program
    .command('run')
    .summary('boot kernels (Multiboot or Linux) on the bare machine or, one VM each, under the hypervisor')
    .description('Boot kernels: Multiboot (v1) ELF images, or Linux bzImages through the Linux boot protocol (--append, --initrd). ' +
      'Serial (COM1) and port 0xE9 output go to stdout.\n\n' +
      `With --mode ${MODES_HV}, each kernel runs in its own VM under the hypervisor; with several, ` +
      'console lines are prefixed "vmN| ", and a table of exits and cycles per VM goes to stderr at the end.\n\n' +
      'Where the defaults differ from qemu-system-i386\'s: --memory is 64M (QEMU: 128M), and the RTC starts at ' +
      '2000-01-01 or where --seed puts it (QEMU: the host\'s time), so that a run is repeatable.\n\n' +
      'Output files (--pcap, --timeline, --trace-out) are written beside their target and put in place when ' +
      'complete; one that names an input, or a failed run\'s, leaves an existing file as it was.')
    .addHelpText('after', '\nCycle counts take 2000000000, 2e9, 2.5e9 or 2_000_000_000 (whole cycles, at most 2^53 - 1).\n\n' + EXIT_STATUS_HELP)
    .argument('[kernels...]', 'the kernel images (the same files qemu-system-i386 -kernel accepts)')
    .addOption(new Option('--mode <mode>', 'native (the bare machine, one guest), passthrough (the card belongs to one VM, ports direct, DMA unchecked), virtual (each VM gets its own emulated card behind a software switch) or vpio (the VMs share the card, driving it directly but for the registers the VPIO monitor\'s model hooks)').default('native'))
    .addOption(new Option('--on-violation <response>', 'vpio: what a refused access does: block (dropped, the default), kill (the guest is stopped) or log (let through untranslated; DMA stays confined)'))
    .addOption(new Option('--card-quantum <cycles>', 'vpio: how long a guest keeps the card while another wants it (default: 64 minimum frames\' time on the card\'s wire, 860160 for the RTL8139 and 8601600 for the NE2000s; an idle owner gives it up sooner, a receiver with frames waiting keeps it up to 4 quanta, and no owner keeps it past the quantum plus twice the card\'s drain time)'))
    .addOption(new Option('--quantum <cycles>', 'hypervisor modes: the most cycles a VM runs before the next runnable one gets the CPU (default 2000000, 1 ms)'))
    .addOption(new Option('--host-memory <size>', 'hypervisor modes: host RAM, which the VMs\' memory and the hypervisor\'s 1 MiB must fit in (default 512M)'))
    .addOption(new Option('--nic-vms <list>', 'hypervisor modes: which VMs get a card: all, none, or numbers such as 0,2 (default: 0 in passthrough, all in virtual and vpio)'))
    .addOption(new Option('--stats', 'print the cycle and exit figures at the end (hypervisor modes always do)'))
    .addOption(new Option('--memory <size>', 'RAM of the machine, or of each VM: bytes, or with K, M or G (2M..2G; QEMU\'s default is 128M)').default('64M'))
    .addOption(new Option('--max-cycles <n>', 'stop after this many machine cycles (2 GHz clock: 2e9 is one virtual second); default: no limit, as QEMU'))
    .addOption(new Option('--cmdline <string>', 'the kernel command line, in UTF-8 (a Multiboot kernel gets it after its own path, as from GRUB and QEMU); repeatable: the nth goes to the nth kernel, or one goes to all')
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(new Option('--append <string>', 'the same as --cmdline (QEMU\'s name for it)')
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(new Option('--bios <file>', 'native: no kernel; run a raw firmware image from the reset vector (F000:FFF0, real mode), placed as qemu-system-i386 -bios places it: at the top of the 4 GiB space, its last 128 KiB also just below 1 MiB; a whole number of 64 KiB blocks'))
    .addOption(new Option('--initrd <file>', 'an initial RAM disk for a Linux bzImage (as qemu-system-i386 -initrd), placed at the top of RAM; with several kernels, each Linux one gets it'))
    .addOption(new Option('--trace <kinds>', `trace events, comma-separated: ${TRACE_KINDS.join(', ')}`))
    .addOption(new Option('--trace-out <file>', 'write the trace to a file instead of stderr'))
    .addOption(new Option('--timeline <file>', 'write a Chrome/Perfetto trace-event JSON of the run: the CPU (or a track per VM with its exits and the hypervisor\'s work, and the card\'s owner), the wire'))
    .addOption(new Option('--trace-format <format>', 'text (one event a line, the default) or json (one object a line)'))
    .addOption(new Option('--trace-from <cycle>', 'trace only from this machine cycle on'))
    .addOption(new Option('--trace-vm <n>', 'hypervisor modes: trace only VM n\'s events (and the machine-wide ones)'))
    .addOption(new Option('--trace-ports <range>', 'trace only port accesses and exits in a range, such as 0xc000-0xc0ff'))
    .addOption(new Option('--seed <seed>', 'seed for every random choice (the RTC start date); default: the RTC starts at 2000-01-01 (QEMU: the host\'s time)'))
    .addOption(new Option('--list-devices', 'print the machine\'s devices, ports, IRQs and PCI functions (with --nic, the card\'s), and exit'))
    .addOption(new Option('--gdb <[host:]port>', 'wait for gdb\'s remote protocol on a TCP port (as qemu -gdb tcp::PORT; host 127.0.0.1 unless given; a thread per VM in the hypervisor modes); the machine stops when gdb connects, and runs on when it detaches. See docs/DEBUGGING.md'))
    .addOption(new Option('--gdb-wait', 'with --gdb: stop before the first instruction until gdb connects and continues (as qemu -S)'))
    .addOption(new Option('--save-at <cycle:file>', 'save a snapshot of the whole machine (CPUs, memory, devices, cards, wire and peers, VMs, VPIO monitor) to FILE when the clock reaches CYCLE, and run on; repeatable. See docs/DEBUGGING.md')
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(new Option('--restore <file>', 'start from a snapshot instead of booting: give the kernels and options of the run that saved it (output options may differ); the run goes on to --max-cycles, counted from the machine\'s start'))
    .addOption(new Option('--no-translate', 'interpret every instruction (no block translator): slower, same results'))
    .addOption(new Option('--apic', 'give the machine (each VM) a local APIC and an I/O APIC, as QEMU\'s pc has, described by an ACPI MADT; without it there are only the 8259s, and CPUID and the tables say so'))
    .addOption(new Option('--nic <card>', `a network card at PCI 00:03.0 (ne2000 = RTL8029, rtl8139) or ISA 0x300/IRQ 9 (ne2000-isa)`))
    .addOption(new Option('--mac <address>', `the card's MAC address (default ${macToString(DEFAULT_MAC)}, as QEMU's)`))
    .addOption(new Option('--peer <spec>', `a station on the card's segment: echo (ARP, ICMP echo, UDP echo on port 7), sink (counts a UDP stream to port 9), source[,key=N...] (sends a UDP stream to the guest; ${sourceParamsHelp()}); repeatable`)
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(new Option('--pcap <file>', 'write every frame on the segment to a pcap file (virtual-clock timestamps)'))
    .addOption(new Option('--check-cycles <n>', 'cycles between the run\'s flushes and looks at pipes and write errors (tests; 0: no looks)').hideHelp())
    .action(async (kernels: string[], opts: RunOptions) => { status = await runInWorker(kernels, { ...opts, cmdline: [...(opts.cmdline ?? []), ...(opts.append ?? [])] }); });

  program
    .command('bench')
    .summary('compare native, passthrough, virtual and vpio: tables, JSON, HTML charts')
    .description('Run the scenarios in every mode (native, passthrough, virtual, vpio) with each card and print the comparison: ' +
      'udp-tx and udp-rx over frame sizes, ping, guests sharing a card, the hostile guest, the CPU-bound guest.\n\n' +
      'Every figure is on the virtual clock, so a run is repeatable; scenarios run in parallel, one process per core.\n\n' +
      '--compare reads and checks its report before anything runs; --json and --html are written when the bench is ' +
      'done, and a file that is the --compare report is refused. Exit status 0 when every run gave the right result, ' +
      '10 when one did not, 2 for bad usage; SIGINT or SIGTERM stop it with 130 or 143, leaving the files as they were.')
    .addOption(new Option('--quick', 'a subset that runs in seconds (udp-tx with 64- and 1514-byte frames and ping, NE2000 and RTL8139)'))
    .addOption(new Option('--json <file>', 'write every figure and the configuration (images\' SHA-256, costs, versions) to a file'))
    .addOption(new Option('--html <file>', 'write the report as one HTML page with charts (Vega-Lite, inline SVG: readable offline)'))
    .addOption(new Option('--compare <old.json>', 'print what changed against an earlier --json report (only the scenarios both ran alike)'))
    .addOption(new Option('--jobs <n>', 'worker processes (default: one per core; 1 runs in this process)'))
    .addOption(new Option('--only <regexp>', 'only the scenarios whose id matches, e.g. udp-tx/rtl8139'))
    .addOption(new Option('--linux <bzImage>', 'add the Linux rows: this kernel with Linux\'s own ne2k-pci and 8139too in each mode (with --initrd; node scripts/linux-guest.mjs prints both; minutes a boot)'))
    .addOption(new Option('--initrd <file>', 'the initramfs for --linux (scripts/linux-guest.mjs builds it: busybox, the modules, guests/linux/init.sh)'))
    .addOption(new Option('--apic', 'the Linux rows\' machines (each VM) with a local APIC and an I/O APIC, as vpio run --apic: Linux then ends an interrupt with one EOI instead of the 8259s\' sequence; its rows are named +apic'))
    .action(async (opts: BenchOptions) => { status = await bench(opts); });

  program
    .command('bench-one', { hidden: true })
    .action(() => { status = benchOne(); });

  program
    .command('demo')
    .summary('the bundled demo (what npm start runs)')
    .description('Boot the bundled demo guest (guests/bin/hello.elf), then compare the modes (vpio bench --quick).')
    .action(async () => {
      stdout.line('vpio demo: booting guests/bin/hello.elf on the emulated PC');
      stdout.flush();
      const s = await runInWorker([demoKernel()], { memory: '64M', cmdline: ['demo'], translate: true, maxCycles: String(20e9) });
      // The guest's success is exit value 0, status 1 as under QEMU.
      if (s !== 1) { status = s; return; }
      stdout.line('\nvpio demo: the same guests under native, passthrough, virtual and vpio (vpio bench --quick)');
      stdout.flush();
      status = await bench({ quick: true });
    });

  if (argv.length === 0) {
    warn(program.helpInformation().trimEnd());
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return status;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return pipeBroken() ? EXIT.brokenPipe : EXIT.ok;
      const msg = e.message.replace(/^error: /, '');
      warn(`vpio: ${msg}; see vpio --help`);
      return EXIT.usage;
    }
    return failure(e);
  }
}

/** The status and the one line for an exception that ended a command. */
function failure(e: unknown): number {
  if (e instanceof UsageError) warn(`vpio: ${e.message}`);
  else if (e instanceof OutputError) warn(`vpio: ${e.message}`);
  else internalError(e);
  if (pipeBroken()) return EXIT.brokenPipe;
  return e instanceof UsageError ? EXIT.usage : e instanceof OutputError ? EXIT.output : EXIT.internal;
}

/**
 * `vpio bench`: the --compare report is read and checked, and the output files checked,
 * before anything runs; the reports are written to temporary files and put in place at
 * the end. A signal stops the workers and leaves the files as they were.
 */
async function bench(opts: BenchOptions): Promise<number> {
  for (const [name, v] of [['--json', opts.json], ['--html', opts.html], ['--compare', opts.compare]] as const) {
    if (v !== undefined && v.trim() === '') throw new UsageError(`${name} needs a file name`);
  }
  const old = opts.compare !== undefined ? readReport(opts.compare) : null;
  const inputs = opts.compare !== undefined ? [{ file: opts.compare, what: 'the --compare report' }] : [];
  const json = opts.json !== undefined ? OutputFile.open(opts.json, '--json', inputs, []) : null;
  const html = opts.html !== undefined ? OutputFile.open(opts.html, '--html', inputs, json ? [json] : []) : null;
  const abort = new AbortController();
  catchSignals((sig, first) => { if (first) abort.abort(); else process.exit(signalStatus(sig)); });
  let result: Awaited<ReturnType<typeof runBench>>;
  try {
    result = await runBench(opts, version(), (line) => stdout.line(line), { old, signal: abort.signal });
  } catch (e) {
    json?.discard();
    html?.discard();
    if (e instanceof BenchStopped && caught) {
      stdout.flush();
      if (pipeBroken()) return EXIT.brokenPipe;
      warn(`vpio: bench stopped by ${caught}${json || html ? '; no report written, the files were left as they were' : ''}`);
      return signalStatus(caught);
    }
    throw e;
  }
  stdout.flush();
  const failures: string[] = [];
  const put = (o: OutputFile | null, text: () => Promise<string> | string) => async () => {
    if (!o) return;
    try {
      fs.writeFileSync(o.writePath, await text());
      o.commit();
    } catch (e) {
      o.discard();
      failures.push(e instanceof OutputError ? `vpio: ${e.message}` : `vpio: cannot write ${o.option} ${o.file}: ${errnoText(e).text}; the file was left as it was`);
    }
  };
  await put(json, () => JSON.stringify(result.report, null, 1) + '\n')();
  await put(html, () => result.html())();
  if (pipeBroken()) return EXIT.brokenPipe;
  for (const f of failures) warn(f);
  if (failures.length) return EXIT.output;
  return result.ok ? EXIT.ok : EXIT.wrongResult;
}

if (!isMainThread && workerData?.vpioRun) {
  // `vpio run` in its worker thread (see runInWorker).
  sharedSignal = new Int32Array(workerData.vpioSignal as SharedArrayBuffer);
  gdbChannel = (workerData.vpioGdb as SharedArrayBuffer | null) ?? null;
  const { kernels, opts } = workerData.vpioRun as { kernels: string[]; opts: RunOptions };
  let status: number;
  try {
    status = runHere(kernels, opts);
  } catch (e) {
    status = failure(e);
  }
  parentPort!.postMessage({ status });
} else if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
