/**
 * The `vpio` command line (DESIGN.md section 7).
 *
 *   vpio run KERNEL... [options]   boot Multiboot kernels (several: one VM each, --mode passthrough|virtual)
 *   vpio demo                   boot the bundled demo guest
 *
 * Exit status: the guest's isa-debug-exit value V gives (V << 1) | 1, as QEMU does;
 * 2 for bad usage or a bad image; 3 for the cycle limit, a triple fault or a halt
 * that nothing can end, with a one-line reason on stderr.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command, CommanderError, Option } from 'commander';
import seedrandom from 'seedrandom';
import { Pc, RunResult, DEFAULT_RTC_START, TRACE_KINDS as MACHINE_TRACE_KINDS, NIC_KINDS, NicKind, PeerSpec, DEFAULT_MAC } from '../devices/pc';
import { VpioMonitor, ON_VIOLATION, OnViolation } from '../vpio/monitor';
import { runBench, benchOne, BenchOptions } from './bench';
import { Timeline } from '../devices/timeline';
import { DEFAULT_COSTS } from '../devices/costs';
import { cpuTracer } from './cpu-trace';

/** Trace kinds: every instruction, the machine's, the hypervisor's exits, and the VPIO monitor's (model transitions, stalls, handoffs, refusals). */
const TRACE_KINDS = ['cpu', ...MACHINE_TRACE_KINDS, 'exit', 'vpio'] as const;
import { parseMac, macToString } from '../devices/net/ethernet';
import { EchoPeer, SinkPeer, SourcePeer } from '../devices/net/wire';
import { BadImage, loadMultiboot } from '../devices/multiboot';
import { Host, HostConfigError, HV_MODES, HvMode, DEFAULT_QUANTUM, VmSpec } from '../hypervisor/host';
import { Vm } from '../hypervisor/vm';

const EXIT_USAGE = 2;
const EXIT_STOPPED = 3;

/** A problem the user can fix: one line, status 2. */
class UsageError extends Error {}

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

export function parseCycles(text: string, option = '--max-cycles'): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`bad ${option} '${text}'; give a positive whole number of cycles`);
  const n = Number(text);
  if (n <= 0 || !Number.isSafeInteger(n)) throw new UsageError(`bad ${option} '${text}'; give a positive whole number of cycles`);
  return n;
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

/** "echo", "sink", "source,rate=1000,size=512,count=100". */
export function parsePeer(text: string): PeerSpec {
  const [kind, ...params] = text.split(',');
  const kv = new Map<string, string>();
  for (const p of params) {
    const m = /^([a-z]+)=(.+)$/.exec(p);
    if (!m) throw new UsageError(`bad --peer parameter '${p}'; give key=value, e.g. source,rate=1000,size=512`);
    kv.set(m[1], m[2]);
  }
  if (kind === 'echo' || kind === 'sink') {
    if (kv.size) throw new UsageError(`--peer ${kind} takes no parameters`);
    return { kind };
  }
  if (kind === 'source') {
    const num = (key: string, def: number, min: number, max: number) => {
      const v = kv.has(key) ? Number(kv.get(key)) : def;
      if (!Number.isFinite(v) || v < min || v > max) throw new UsageError(`--peer source ${key}=${kv.get(key)} is out of range; give ${min}..${max}`);
      kv.delete(key);
      return v;
    };
    const spec: PeerSpec = { kind: 'source', rate: num('rate', 1000, 1, 1e6), size: num('size', 512, 4, 1472), count: num('count', 0, 0, 1e9), port: num('port', 9, 1, 65535) };
    if (kv.size) throw new UsageError(`unknown --peer source parameter '${[...kv.keys()][0]}'; parameters are rate, size, count, port`);
    return spec;
  }
  throw new UsageError(`unknown peer '${kind}'; peers are echo, sink, source[,rate=N,size=N,count=N]`);
}

/** The RTC start for a seed: 2000-01-01 plus a seeded offset within 30 years. */
function rtcStartFor(seed: string | undefined): number {
  if (seed === undefined) return DEFAULT_RTC_START;
  return DEFAULT_RTC_START + Math.floor(seedrandom(seed)() * 30 * 365 * 86400);
}

/** Collects output bytes and writes them synchronously, so they are all out before the process exits. */
class Output {
  private buf = Buffer.alloc(65536);
  private n = 0;
  constructor(private readonly fd: number) {}
  byte(b: number): void {
    this.buf[this.n++] = b;
    if (this.n === this.buf.length) this.flush();
  }
  line(s: string): void {
    const b = Buffer.from(s + '\n');
    if (this.n + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) { fs.writeSync(this.fd, b); return; }
    b.copy(this.buf, this.n);
    this.n += b.length;
  }
  flush(): void {
    let off = 0;
    while (off < this.n) off += fs.writeSync(this.fd, this.buf, off, this.n - off);
    this.n = 0;
  }
}

interface RunOptions {
  memory: string;
  maxCycles?: string;
  cmdline: string[];
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
  seed?: string;
  nic?: string;
  mac?: string;
  peer?: string[];
  pcap?: string;
}

function listDevices(pc: Pc, out: Output): void {
  out.line('port range      device          bus cycles');
  for (const r of [...pc.ports.ranges].sort((a, b) => a.base - b.base)) {
    const hi = r.base + r.length - 1;
    out.line(`0x${r.base.toString(16).padStart(4, '0')}-0x${hi.toString(16).padStart(4, '0')}   ${r.name.padEnd(15)} ${r.cycles}`);
  }
  out.line('');
  out.line('irq  device');
  for (const [irq, dev] of [[0, 'pit channel 0'], [2, 'cascade (slave 8259A)'], [4, 'com1'], [8, 'rtc']] as const) out.line(`${String(irq).padStart(3)}  ${dev}`);
  out.line('');
  out.line('pci      id         class   function');
  for (const { dev, func, fn } of pc.pci.functions()) {
    const c = fn.config;
    const id = `${(c[0] | (c[1] << 8)).toString(16).padStart(4, '0')}:${(c[2] | (c[3] << 8)).toString(16).padStart(4, '0')}`;
    const cls = ((c[0x0b] << 16) | (c[0x0a] << 8) | c[0x09]).toString(16).padStart(6, '0');
    out.line(`00:${dev.toString(16).padStart(2, '0')}.${func}  ${id}  ${cls}  ${fn.name}`);
  }
}

/** Reads a kernel image, with a one-line error for the usual mistakes. */
function readImage(kernel: string): Uint8Array {
  try {
    const image = fs.readFileSync(kernel);
    return new Uint8Array(image.buffer, image.byteOffset, image.length);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `no such file: ${kernel}; give the path of a Multiboot ELF kernel` :
      code === 'EISDIR' ? `${kernel} is a directory; give the path of a Multiboot ELF kernel` : `cannot read ${kernel} (${code})`);
  }
}

/** The options every mode shares, checked. */
interface Common {
  memoryBytes: number;
  maxCycles: number;
  kinds: Set<string>;
  traceOut: Output | null;
  /** Where trace lines go, through the filters and the format asked for. */
  traceLine: ((line: string) => void) | null;
  nic: NicKind | undefined;
  mac: Uint8Array;
  peers: PeerSpec[];
  stdout: Output;
}

function common(opts: RunOptions): Common {
  const memoryBytes = parseSize(opts.memory);
  const maxCycles = opts.maxCycles !== undefined ? parseCycles(opts.maxCycles) : Infinity;
  const kinds = opts.trace !== undefined ? parseTrace(opts.trace) : new Set<string>();
  if (opts.nic !== undefined && !(NIC_KINDS as readonly string[]).includes(opts.nic)) {
    throw new UsageError(`unknown --nic '${opts.nic}'; cards are ${NIC_KINDS.join(', ')}`);
  }
  const mac = opts.mac !== undefined ? parseMac(opts.mac) : DEFAULT_MAC;
  if (!mac) throw new UsageError(`bad --mac '${opts.mac}'; give six hex bytes such as 52:54:00:12:34:56`);
  if (mac[0] & 1) throw new UsageError(`--mac ${opts.mac} is a multicast address; a card needs a unicast one (even first byte)`);
  const peers = (opts.peer ?? []).map(parsePeer);
  if (!opts.nic && (peers.length || opts.pcap || opts.mac)) throw new UsageError('--peer, --pcap and --mac need a card; add --nic ne2000, ne2000-isa or rtl8139');
  if (opts.pcap) {
    try { fs.writeFileSync(opts.pcap, ''); } catch (e) { throw new UsageError(`cannot write the pcap to ${opts.pcap} (${(e as NodeJS.ErrnoException).code}); give a writable path`); }
  }
  let traceOut: Output | null = null;
  if (kinds.size > 0) {
    let fd = 2;
    if (opts.traceOut) {
      try { fd = fs.openSync(opts.traceOut, 'w'); } catch (e) { throw new UsageError(`cannot write the trace to ${opts.traceOut} (${(e as NodeJS.ErrnoException).code}); give a writable path`); }
    }
    traceOut = new Output(fd);
  } else if (opts.traceFrom !== undefined || opts.traceVm !== undefined || opts.tracePorts !== undefined || opts.traceFormat !== undefined) {
    throw new UsageError('--trace-from, --trace-vm, --trace-ports and --trace-format shape a trace; add --trace KINDS');
  }
  return { memoryBytes, maxCycles, kinds, traceOut, traceLine: traceOut ? traceFilter(traceOut, opts) : null, nic: opts.nic as NicKind | undefined, mac, peers, stdout: new Output(1) };
}

/**
 * The trace filters and format: every line is "CYCLE [vmN ]KIND ...". `--trace-from`
 * drops lines before a cycle, `--trace-vm` keeps one VM's, `--trace-ports LO-HI` keeps
 * port accesses and exits in a range (other kinds pass), `--trace-format json` writes
 * {"cycle", "vm", "kind", "event"} objects, one a line.
 */
function traceFilter(out: Output, opts: RunOptions): (line: string) => void {
  const from = opts.traceFrom !== undefined ? parseCycles(opts.traceFrom, '--trace-from') : 0;
  let vm = -1;
  if (opts.traceVm !== undefined) {
    if (!/^\d+$/.test(opts.traceVm)) throw new UsageError(`bad --trace-vm '${opts.traceVm}'; give a VM number such as 0`);
    vm = Number(opts.traceVm);
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
  const json = format === 'json';
  return (line: string) => {
    const sp = line.indexOf(' ');
    const cycle = Number(line.slice(0, sp));
    if (cycle < from) return;
    let rest = line.slice(sp + 1);
    let id: number | null = null;
    const m = /^vm(\d+) /.exec(rest);
    if (m) { id = Number(m[1]); rest = rest.slice(m[0].length); }
    if (vm >= 0 && id !== null && id !== vm) return;
    if (ports && (rest.startsWith('io ') || rest.startsWith('exit io-'))) {
      const p = /port=0x([0-9a-f]+)/.exec(rest);
      const port = p ? parseInt(p[1], 16) : -1;
      if (port < lo || port > hi) return;
    }
    if (!json) { out.line(line); return; }
    const k = rest.indexOf(' ');
    out.line(JSON.stringify({ cycle, vm: id, kind: k < 0 ? rest : rest.slice(0, k), event: k < 0 ? '' : rest.slice(k + 1) }));
  };
}

function reportPeers(peers: readonly (EchoPeer | SinkPeer | SourcePeer)[]): void {
  for (const p of peers) {
    if (p instanceof SinkPeer) process.stderr.write(`vpio: ${p.summary()}\n`);
    if (p instanceof SourcePeer) process.stderr.write(`vpio: source: ${p.sent} datagrams sent${p.opts.port === 7 ? `, ${p.echoed} echoed back` : ''}\n`);
  }
}

function run(kernels: string[], opts: RunOptions): number {
  const mode = opts.mode ?? 'native';
  if (mode !== 'native' && !(HV_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`unknown --mode '${mode}'; modes are native, passthrough, virtual, vpio`);
  }
  if (mode === 'native') {
    if (kernels.length > 1) throw new UsageError(`native mode runs one guest on the bare machine; for ${kernels.length} give --mode virtual (or passthrough)`);
    for (const o of ['quantum', 'hostMemory', 'nicVms', 'onViolation', 'cardQuantum'] as const) {
      if (opts[o] !== undefined) throw new UsageError(`--${o.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} applies to the hypervisor modes; add --mode passthrough or virtual`);
    }
    if (opts.cmdline.length > 1) throw new UsageError('one kernel takes one --cmdline');
    return runNative(kernels[0], opts);
  }
  return runHosted(mode as HvMode, kernels, opts);
}

function runNative(kernel: string | undefined, opts: RunOptions): number {
  const c = common(opts);
  const { stdout, traceOut, maxCycles } = c;
  let timeline: Timeline | null = null;
  if (opts.timeline !== undefined) {
    try { fs.writeFileSync(opts.timeline, ''); } catch (e) { throw new UsageError(`cannot write the timeline to ${opts.timeline} (${(e as NodeJS.ErrnoException).code}); give a writable path`); }
    timeline = new Timeline(DEFAULT_COSTS.cpuHz);
  }
  const pc = new Pc({
    timeline,
    memoryBytes: c.memoryBytes,
    nic: c.nic,
    mac: c.mac,
    peers: c.peers,
    pcapPath: opts.pcap,
    rtcStart: rtcStartFor(opts.seed),
    console: (b) => stdout.byte(b),
    trace: c.traceLine,
    traceKinds: c.kinds,
  });
  pc.cpu.useTranslator = opts.translate;
  if (c.kinds.has('cpu') && c.traceLine) pc.cpu.tracer = cpuTracer(c.traceLine, '');
  if (opts.listDevices) {
    listDevices(pc, stdout);
    stdout.flush();
    return 0;
  }
  if (!kernel) throw new UsageError('no kernel given; usage: vpio run KERNEL.elf [options]');
  const image = readImage(kernel);
  try {
    // Like GRUB and QEMU, the kernel's own name is the command line's first word.
    pc.boot(image, `${kernel} ${opts.cmdline[0] ?? ''}`);
  } catch (e) {
    if (e instanceof BadImage) throw new UsageError(`${kernel}: ${e.message}`);
    throw e;
  }
  let result: RunResult;
  try {
    result = pc.run(maxCycles);
  } finally {
    stdout.flush();
    traceOut?.flush();
    pc.close();
    timeline?.write(opts.timeline!);
  }
  reportPeers(pc.peers);
  if (opts.stats) {
    process.stderr.write(`vpio: native: ${pc.cpu.cycles} cycles, ${pc.cpu.instructions} instructions, no hypervisor\n`);
  }
  switch (result.kind) {
    case 'exit': return result.status;
    case 'limit':
      process.stderr.write(`vpio: stopped: the cycle limit (${maxCycles}) was reached at EIP 0x${(pc.cpu.eip >>> 0).toString(16)}\n`);
      return EXIT_STOPPED;
    case 'triple-fault':
      process.stderr.write(`vpio: stopped: ${result.message.split('\n')[0]}\n${pc.cpu.dumpState()}\n`);
      return EXIT_STOPPED;
    case 'halted':
      process.stderr.write(`vpio: stopped: ${result.message} at EIP 0x${(pc.cpu.eip >>> 0).toString(16)}\n`);
      return EXIT_STOPPED;
  }
}

/** Splits each VM's console into lines prefixed "vmN| " (when there are several VMs). */
class Consoles {
  private readonly partial: number[][];
  constructor(private readonly out: Output, private readonly count: number) {
    this.partial = Array.from({ length: count }, () => []);
  }
  byte(vm: number, b: number): void {
    if (this.count === 1) { this.out.byte(b); return; }
    if (b === 0x0a) { this.line(vm); return; }
    this.partial[vm].push(b);
  }
  private line(vm: number): void {
    this.out.line(`vm${vm}| ${Buffer.from(this.partial[vm]).toString('latin1')}`);
    this.partial[vm] = [];
  }
  /** Whatever a VM printed without a final newline. */
  flush(): void {
    for (let vm = 0; vm < this.count; vm++) if (this.partial[vm].length) this.line(vm);
  }
}

function runHosted(mode: HvMode, kernels: string[], opts: RunOptions): number {
  if (kernels.length === 0) throw new UsageError('no kernel given; usage: vpio run KERNEL.elf [KERNEL.elf...] --mode ' + mode);
  if (opts.listDevices) throw new UsageError('--list-devices shows the bare machine; leave out --mode');
  const n = kernels.length;
  if (opts.cmdline.length > 1 && opts.cmdline.length !== n) {
    throw new UsageError(`${opts.cmdline.length} --cmdline options for ${n} kernels; give one for each kernel, in order, or one for all`);
  }
  const c = common(opts);
  const quantum = opts.quantum !== undefined ? parseCycles(opts.quantum, '--quantum') : DEFAULT_QUANTUM;
  const hostMemoryBytes = parseSize(opts.hostMemory ?? '512M', '--host-memory');
  const nicVms = parseNicVms(opts.nicVms ?? (mode === 'passthrough' ? '0' : 'all'), n);
  if ((opts.onViolation !== undefined || opts.cardQuantum !== undefined) && mode !== 'vpio') throw new UsageError('--on-violation and --card-quantum apply to --mode vpio');
  const onViolation = (opts.onViolation ?? 'block') as OnViolation;
  if (!ON_VIOLATION.includes(onViolation)) throw new UsageError(`unknown --on-violation '${opts.onViolation}'; give block, kill or log`);
  const cardQuantum = opts.cardQuantum !== undefined ? parseCycles(opts.cardQuantum, '--card-quantum') : undefined;
  const specs: VmSpec[] = kernels.map((k, i) => {
    const image = readImage(k);
    try {
      loadMultiboot(image, new Uint8Array(c.memoryBytes), '');
    } catch (e) {
      if (e instanceof BadImage) throw new UsageError(`${k}: ${e.message}`);
      throw e;
    }
    return { image, path: k, cmdline: opts.cmdline.length > 1 ? opts.cmdline[i] : opts.cmdline[0] ?? '', nic: c.nic !== undefined && nicVms[i] };
  });
  const consoles = new Consoles(c.stdout, n);
  let timeline: Timeline | null = null;
  if (opts.timeline !== undefined) {
    try { fs.writeFileSync(opts.timeline, ''); } catch (e) { throw new UsageError(`cannot write the timeline to ${opts.timeline} (${(e as NodeJS.ErrnoException).code}); give a writable path`); }
    timeline = new Timeline(DEFAULT_COSTS.cpuHz);
  }
  const traceOut = c.traceOut;
  let host: Host;
  try {
    host = new Host({
      mode, vms: specs, memoryBytes: c.memoryBytes, hostMemoryBytes, quantum, nic: c.nic, mac: c.mac, peers: c.peers,
      pcapPath: opts.pcap, rtcStart: rtcStartFor(opts.seed), console: (vm, b) => consoles.byte(vm, b),
      trace: c.traceLine, traceKinds: c.kinds, translate: opts.translate,
      sharedCard: (h, nic, vms) => new VpioMonitor(h, nic, vms, { onViolation, cardQuantum }), timeline,
    });
  } catch (e) {
    if (e instanceof HostConfigError) throw new UsageError(e.message);
    throw e;
  }
  host.boot();
  if (c.kinds.has('cpu') && c.traceLine) for (const vm of host.vms) vm.cpu.tracer = cpuTracer(c.traceLine, `vm${vm.id} `);
  try {
    host.run(c.maxCycles);
  } finally {
    consoles.flush();
    c.stdout.flush();
    traceOut?.flush();
    host.close();
    timeline?.write(opts.timeline!);
  }
  reportPeers(host.peers);
  process.stderr.write(statsTable(host, mode));
  if (host.escapeCount > 0) {
    const e = host.escapes[0];
    process.stderr.write(`vpio: passthrough: vm${e.vm}'s card made ${host.escapeCount} DMA access${host.escapeCount > 1 ? 'es' : ''} outside its memory (first: ${e.direction} of ${e.length} bytes at host-physical 0x${e.address.toString(16)}, cycle ${e.cycle}); passthrough does not check DMA\n`);
  }
  let status = -1;
  for (const vm of host.vms) {
    const end = vm.end;
    if (end === null) {
      process.stderr.write(`vpio: vm${vm.id}: stopped: the cycle limit (${c.maxCycles}) was reached at EIP 0x${(vm.cpu.eip >>> 0).toString(16)}\n`);
      status = EXIT_STOPPED;
    } else if (end.kind === 'triple-fault') {
      process.stderr.write(`vpio: vm${vm.id}: stopped: ${end.message.split('\n')[0]}\n${vm.cpu.dumpState()}\n`);
      status = EXIT_STOPPED;
    } else if (end.kind === 'halted') {
      process.stderr.write(`vpio: vm${vm.id}: stopped: ${end.message} at EIP 0x${(vm.cpu.eip >>> 0).toString(16)}\n`);
      status = EXIT_STOPPED;
    } else if (end.kind === 'killed') {
      process.stderr.write(`vpio: vm${vm.id}: killed: ${end.message}\n`);
      status = EXIT_STOPPED;
    } else if (status === -1 && end.value !== 0) {
      status = end.status;
    }
  }
  if (status !== -1) return status;
  return host.vms[0].end!.kind === 'exit' ? (host.vms[0].end as { status: number }).status : EXIT_STOPPED;
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
    lines.push(`vpio: ${m.handoffs} handoffs (${m.handoffCycles} cycles), hooked ${(100 * m.hookedFraction()).toFixed(1)}% of card accesses, ${m.violationCount} refused, ${m.dmaRefused} DMA outside the owner refused by the port`);
    for (const g of m.guests) {
      const s = g.stats;
      lines.push(`  vm${g.vm.id}: ${s.hooked} hooked, ${m.directAccesses(g)} direct, ${s.held} held accesses; ${s.stalls} stalls; ${s.handoffsIn} handoffs in; frames held ${s.framesHeld}, dropped ${s.framesDropped}, not taken by the card ${s.framesRefused}`);
    }
    for (const v of m.violations.slice(0, 8)) lines.push(`  refused: vm${v.vm} cycle ${v.cycle} port 0x${v.port.toString(16)} value 0x${v.value.toString(16)} rule ${v.rule}: ${v.detail}`);
  }
  if (host.switch) {
    const sw = host.switch;
    lines.push(`switch: ${sw.unknownUnicast} frames from the wire for no VM dropped, ${host.driver!.dropped} dropped on a full transmit queue`);
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

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  let status = 0;
  program
    .name('vpio')
    .description('An x86 PC emulator with a VPIO hypervisor: boot Multiboot guest kernels on a deterministic virtual clock.')
    .version(version())
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .showHelpAfterError(false);

  program
    .command('run')
    .summary('boot Multiboot kernels on the bare machine or, one VM each, under the hypervisor')
    .description('Boot Multiboot (v1) ELF kernels. Serial (COM1) and port 0xE9 output go to stdout.\n' +
      'With --mode passthrough, virtual or vpio, each kernel runs in its own VM under the hypervisor; with several,\n' +
      'console lines are prefixed "vmN| ", and a table of exits and cycles per VM goes to stderr at the end.\n' +
      'Exit status: the guest\'s isa-debug-exit value V (port 0xF4) gives (V << 1) | 1, as under QEMU (with several\n' +
      'VMs: the first VM, in order, that exited with V != 0, else 1); 2 for bad usage or a bad image; 3 when a VM\n' +
      'was stopped by --max-cycles, a triple fault, or a halt nothing can end.')
    .argument('[kernels...]', 'the kernel images (the same files qemu-system-i386 -kernel accepts)')
    .addOption(new Option('--mode <mode>', 'native (the bare machine, one guest), passthrough (the card belongs to one VM, ports direct, DMA unchecked), virtual (each VM gets its own emulated card behind a software switch) or vpio (the VMs share the card, driving it directly but for the registers the VPIO monitor\'s model hooks)').default('native'))
    .addOption(new Option('--on-violation <response>', 'vpio: what a refused access does: block (dropped, the default), kill (the guest is stopped) or log (let through untranslated; DMA stays confined)'))
    .addOption(new Option('--card-quantum <cycles>', 'vpio: how long a guest keeps the card while another wants it (default 1000000 for the RTL8139; eight handoffs\' worth for the NE2000, whose buffer must be saved and restored)'))
    .addOption(new Option('--quantum <cycles>', 'hypervisor modes: the most cycles a VM runs before the next runnable one gets the CPU (default 2000000, 1 ms)'))
    .addOption(new Option('--host-memory <size>', 'hypervisor modes: host RAM, which the VMs\' memory and the hypervisor\'s 1 MiB must fit in (default 512M)'))
    .addOption(new Option('--nic-vms <list>', 'hypervisor modes: which VMs get a card: all, none, or numbers such as 0,2 (default: 0 in passthrough, all in virtual)'))
    .addOption(new Option('--stats', 'print the cycle and exit figures at the end (hypervisor modes always do)'))
    .addOption(new Option('--memory <size>', 'RAM of the machine, or of each VM: bytes, or with K, M or G (2M..2G)').default('64M'))
    .addOption(new Option('--max-cycles <n>', 'stop after this many machine cycles (2 GHz clock: 2e9 is one virtual second); default: no limit'))
    .addOption(new Option('--cmdline <string>', 'the Multiboot command line passed to the kernel (after its own path); repeatable: the nth goes to the nth kernel, or one goes to all')
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(new Option('--trace <kinds>', `trace events, comma-separated: ${TRACE_KINDS.join(', ')}`))
    .addOption(new Option('--trace-out <file>', 'write the trace to a file instead of stderr'))
    .addOption(new Option('--timeline <file>', 'write a Chrome/Perfetto trace-event JSON of the run: the CPU (or a track per VM with its exits and the hypervisor\'s work, and the card\'s owner), the wire'))
    .addOption(new Option('--trace-format <format>', 'text (one event a line, the default) or json (one object a line)'))
    .addOption(new Option('--trace-from <cycle>', 'trace only from this machine cycle on'))
    .addOption(new Option('--trace-vm <n>', 'trace only VM n\'s events (and the machine-wide ones)'))
    .addOption(new Option('--trace-ports <range>', 'trace only port accesses and exits in a range, such as 0xc000-0xc0ff'))
    .addOption(new Option('--seed <seed>', 'seed for every random choice (the RTC start date); default: 2000-01-01'))
    .addOption(new Option('--list-devices', 'print the machine\'s devices, ports, IRQs and PCI functions, and exit'))
    .addOption(new Option('--no-translate', 'interpret every instruction (no block translator): slower, same results'))
    .addOption(new Option('--nic <card>', `a network card at PCI 00:03.0 (ne2000 = RTL8029, rtl8139) or ISA 0x300/IRQ 9 (ne2000-isa)`))
    .addOption(new Option('--mac <address>', `the card's MAC address (default ${macToString(DEFAULT_MAC)})`))
    .addOption(new Option('--peer <spec>', 'a station on the card\'s segment: echo (ARP, ICMP echo, UDP echo on port 7), sink (counts a UDP stream to port 9), source[,rate=N,size=N,count=N,port=N] (sends one to the guest, port 9 by default); repeatable')
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(new Option('--pcap <file>', 'write every frame on the segment to a pcap file (virtual-clock timestamps)'))
    .action((kernels: string[], opts: RunOptions) => { status = run(kernels, { ...opts, cmdline: opts.cmdline ?? [] }); });

  program
    .command('bench')
    .summary('compare native, passthrough, virtual and vpio: tables, JSON, HTML charts')
    .description('Run the scenarios in every mode (native, passthrough, virtual, vpio) with each card and print the comparison:\n' +
      'udp-tx and udp-rx over frame sizes, ping, guests sharing a card, the hostile guest, the CPU-bound guest.\n' +
      'Every figure is on the virtual clock, so a run is repeatable; scenarios run in parallel, one process per core.\n' +
      'Exit status 0 when every run gave the right result, 1 otherwise, 2 for bad usage.')
    .addOption(new Option('--quick', 'a subset that runs in seconds (udp-tx with 64- and 1514-byte frames and ping, NE2000 and RTL8139)'))
    .addOption(new Option('--json <file>', 'write every figure and the configuration (images\' SHA-256, costs, versions) to a file'))
    .addOption(new Option('--html <file>', 'write the report as one HTML page with charts (Vega-Lite, inline SVG: readable offline)'))
    .addOption(new Option('--compare <old.json>', 'print what changed against an earlier --json report'))
    .addOption(new Option('--jobs <n>', 'worker processes (default: one per core; 1 runs in this process)'))
    .addOption(new Option('--only <regexp>', 'only the scenarios whose id matches, e.g. udp-tx/rtl8139'))
    .action(async (opts: BenchOptions) => {
      if (opts.compare) {
        try { fs.accessSync(opts.compare); } catch { throw new UsageError(`cannot read ${opts.compare}; give a report written by vpio bench --json`); }
      }
      for (const file of [opts.json, opts.html]) {
        if (file === undefined) continue;
        try { fs.writeFileSync(file, ''); } catch (e) { throw new UsageError(`cannot write ${file} (${(e as NodeJS.ErrnoException).code})`); }
      }
      try {
        const { ok } = await runBench(opts, version(), (line) => process.stdout.write(line + '\n'));
        status = ok ? 0 : 1;
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    });

  program
    .command('bench-one', { hidden: true })
    .action(() => { status = benchOne(); });

  program
    .command('demo')
    .summary('the bundled demo (what npm start runs)')
    .description('Boot the bundled demo guest (guests/bin/hello.elf), then compare the modes (vpio bench --quick).')
    .action(async () => {
      process.stdout.write('vpio demo: booting guests/bin/hello.elf on the emulated PC\n');
      const s = run([demoKernel()], { memory: '64M', cmdline: ['demo'], translate: true, maxCycles: String(20e9) });
      process.stdout.write('\nvpio demo: the same guests under native, passthrough, virtual and vpio (vpio bench --quick)\n');
      const { ok } = await runBench({ quick: true }, version(), (line) => process.stdout.write(line + '\n'));
      // The guest's success (exit value 0, status 1 as under QEMU) and right bench results are the demo's success.
      status = s === 1 && ok ? 0 : s === 1 ? 1 : s;
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    if (argv.length === 0) {
      process.stdout.write(program.helpInformation());
      return 0;
    }
    return status;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      const msg = e.message.replace(/^error: /, '');
      process.stderr.write(`vpio: ${msg}; see vpio --help\n`);
      return EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`vpio: ${e.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`vpio: internal error: ${(e as Error).stack ?? e}\n`);
    return EXIT_STOPPED;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
