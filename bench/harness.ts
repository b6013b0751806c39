/**
 * The benchmark harness behind `vpio bench` (the bench issue): scenarios run in every
 * mode that applies, each a deterministic run on the virtual clock, reduced to figures.
 *
 * A scenario is plain data (so that it can be sent to a worker process and written to
 * JSON); `runScenario` runs one and returns its figures. Everything but the host figures
 * (wall time, instructions per host second) is a function of the scenario alone.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { Pc, PeerSpec } from '../board/pc';
import { NicKind, DEFAULT_MAC, nicBitsPerSecond } from '../devices/nic';
import { SinkPeer, SourcePeer } from '../devices/net/wire';
import { frameBits } from '../devices/net/ethernet';
import { Host, HvMode } from '../hypervisor/host';
import { isLinuxImage } from '../board/linux';
import { VpioMonitor } from '../vpio/monitor';
import type { LinuxSpec } from './linux-net';

export type Mode = 'native' | HvMode;
export const MODES: readonly Mode[] = ['native', 'passthrough', 'virtual', 'vpio'];
/** `linux`: a Linux guest's boot with ping and two streams (bench/linux-net.ts), reported as a figure each. */
export type Workload = 'udp-tx' | 'udp-rx' | 'ping' | 'cpubound' | 'hostile' | 'linux';

export interface Scenario {
  /** A stable name, unique in a run: workload/card/mode/size/guests. */
  id: string;
  workload: Workload;
  mode: Mode;
  nic: NicKind | null;
  /** The frame size of the sweep (64 is the minimum frame, 60 bytes here plus the 4 of FCS; the others are without FCS, up to 1514). */
  frame: number;
  /** UDP payload bytes (frame = payload + 42, at least 60). */
  size: number;
  /** Guests running the workload (sharing the card in virtual and vpio). */
  guests: number;
  /** Datagrams (udp-tx/udp-rx), pings, or iterations (cpubound). */
  count: number;
  /** hostile: the attack, run beside one udp-tx victim. */
  attack?: string;
  /** The Linux rows: Debian's kernel and initramfs, and which of Linux's drivers. */
  linux?: LinuxSpec;
}

export interface Figures {
  id: string;
  scenario: Scenario;
  /** Frames a second and Mbit/s (frame bytes with preamble, FCS and gap) on the virtual clock, all guests together. */
  framesPerSecond: number;
  mbps: number;
  /** Share of the wire's rate. */
  wireShare: number;
  /** Per guest, frames a second (fairness when several share). */
  perGuest: number[];
  /** Round-trip time, µs (ping). */
  rttMicros: number | null;
  frames: number;
  /** Cycles per frame: all elapsed, the guests' own (instructions and direct device time; on the bare machine, all), and the hypervisor's. */
  cyclesPerFrame: number;
  guestCyclesPerFrame: number;
  hypervisorCyclesPerFrame: number;
  /** Of the hypervisor's cycles per frame, the card's (Tally.card): what the modes differ in. */
  cardCyclesPerFrame: number;
  /** Exits per frame, by reason (port ranges, irq, hlt, ...). */
  exitsPerFrame: Record<string, number>;
  exitsPerFrameTotal: number;
  /** VPIO: share of card accesses the model saw, handoffs and their cycles, refusals. */
  hookedFraction: number | null;
  /** VPIO: the monitor's and models' own cycles per frame (model updates on hooked accesses, status reads, held frames), beside the exits. */
  vpioModelCyclesPerFrame: number | null;
  handoffs: number;
  handoffCycles: number;
  violations: number;
  violationRules: string[];
  /** Frames lost, and why. */
  lost: Record<string, number>;
  /** Did the workload finish with the right result (the victim's, for hostile). */
  ok: boolean;
  note: string;
  /** The machine's final cycle count. */
  cycles: number;
  instructions: number;
  /** Host figures: wall seconds, emulated instructions per host second (millions). */
  wallSeconds: number;
  mips: number;
}

const ROOT = path.join(__dirname, '..');
const MiB = 1024 * 1024;
/** Each guest's memory under the hypervisor. */
const GUEST_MEMORY = 32 * MiB;

export function imagePath(name: string): string {
  return path.join(ROOT, 'guests', 'bin', `${name}.elf`);
}

/** The images a scenario list uses, with their SHA-256, for the JSON's record of the configuration. */
export function imageHashes(names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) out[n] = crypto.createHash('sha256').update(fs.readFileSync(imagePath(n))).digest('hex');
  return out;
}

const SIZES_FULL = [64, 128, 256, 512, 1024, 1514];

/** Frame size to UDP payload: the 64-byte minimum frame (with FCS) is 60 bytes here, 18 of payload; others are payload + 42. */
export function payloadFor(frame: number): number {
  return frame <= 64 ? 18 : frame - 42;
}

function sc(workload: Workload, mode: Mode, nic: NicKind | null, frame: number, guests: number, count: number, attack?: string): Scenario {
  const size = payloadFor(frame);
  const id = [workload, nic ?? 'none', mode, workload === 'udp-tx' || workload === 'udp-rx' ? `${frame}B` : '', guests > 1 ? `${guests}guests` : '', attack ?? ''].filter(Boolean).join('/');
  return { id, workload, mode, nic, frame, size, guests, count, attack };
}

/** The scenarios of a run: `quick` a subset for a minute, else the full sweep. */
export function scenarios(quick: boolean): Scenario[] {
  const list: Scenario[] = [];
  const cards: NicKind[] = quick ? ['ne2000', 'rtl8139'] : ['ne2000-isa', 'ne2000', 'rtl8139'];
  const sizes = quick ? [64, 1514] : SIZES_FULL;
  for (const nic of cards) {
    for (const frame of sizes) for (const mode of MODES) list.push(sc('udp-tx', mode, nic, frame, 1, quick ? 300 : 1000));
    if (!quick) for (const frame of sizes) for (const mode of MODES) list.push(sc('udp-rx', mode, nic, frame, 1, 300));
    for (const mode of MODES) list.push(sc('ping', mode, nic, 98, 1, 8));
  }
  if (!quick) {
    for (const nic of ['ne2000', 'rtl8139'] as NicKind[]) {
      for (const guests of [2, 4]) for (const mode of ['virtual', 'vpio'] as Mode[]) list.push(sc('udp-tx', mode, nic, 1024, guests, 300));
    }
    for (const [nic, attack] of [['rtl8139', 'rbstart'], ['rtl8139', 'tsad'], ['ne2000', 'remote'], ['ne2000', 'ring'], ['ne2000', 'reset'], ['ne2000', 'midxfer'], ['rtl8139', 'flood']] as [NicKind, string][]) {
      for (const mode of ['passthrough', 'virtual', 'vpio'] as Mode[]) list.push(sc('hostile', mode, nic, 512, 2, 200, attack));
    }
    list.push(sc('cpubound', 'native', null, 0, 1, 20));
  }
  return list;
}

interface Run {
  consoles: string[];
  peers: (SinkPeer | SourcePeer | unknown)[];
  cycles: number;
  instructions: number;
  hz: number;
  wireBps: number;
  host: Host | null;
  /** Frames the (physical) card dropped: ring full or receiver off. */
  cardDropped: number;
}

/** The guests a scenario boots (image, command line, whether it gets the card) and the peers on the wire. */
function setUp(s: Scenario): { peers: PeerSpec[]; cmdlines: { img: string; cmd: string; nic: boolean }[] } {
  const peers: PeerSpec[] = [];
  const cmdlines: { img: string; cmd: string; nic: boolean }[] = [];
  switch (s.workload) {
    case 'udp-tx': peers.push({ kind: 'sink' }); for (let i = 0; i < s.guests; i++) cmdlines.push({ img: 'udp-tx', cmd: `count=${s.count} size=${s.size}`, nic: true }); break;
    case 'udp-rx': {
      // The source sends at the wire's full rate for the frame size.
      const rate = Math.floor(nicBitsPerSecond(s.nic!) / frameBits(Math.max(60, s.size + 42)));
      peers.push({ kind: 'source', rate, size: s.size, count: s.count, port: 9 });
      cmdlines.push({ img: 'udp-rx', cmd: `count=${s.count}`, nic: true });
      break;
    }
    case 'ping': peers.push({ kind: 'echo' }); cmdlines.push({ img: 'ping', cmd: `count=${s.count} size=${s.size}`, nic: true }); break;
    case 'cpubound': cmdlines.push({ img: 'cpubound', cmd: `iterations=${s.count}`, nic: false }); break;
    case 'hostile':
      peers.push({ kind: 'sink' });
      // Its target is just past its own memory: under passthrough, the next guest's.
      cmdlines.push({ img: 'hostile', cmd: `attack=${s.attack} target=${GUEST_MEMORY + MiB} delay=20000000 spin=3000000`, nic: true });
      // Passthrough gives the card to one guest: there the victim is a guest without one, whose memory is what is at stake.
      if (s.mode === 'passthrough') cmdlines.push({ img: 'hello', cmd: '', nic: false });
      else cmdlines.push({ img: 'udp-tx', cmd: `count=${s.count} size=${s.size}`, nic: true });
      break;
  }
  return { peers, cmdlines };
}

/** The guest images a scenario boots (for the report's hashes). */
export function imagesOf(s: Scenario): string[] {
  return setUp(s).cmdlines.map((c) => c.img);
}

/** A guest a run boots: its image, its name (a Multiboot kernel's first word), command line and initrd, and whether it gets the card. */
export interface BenchGuest {
  image: Uint8Array;
  path: string;
  cmdline: string;
  initrd?: Uint8Array | null;
  nic: boolean;
}

/** The machine of a run, booted: in native mode the bare PC with the first guest, else a host with a VM per guest. */
export type Machine = { pc: Pc; host: null } | { pc: null; host: Host };

/** Boots `guests` in `mode`, each with `memoryBytes` of RAM, the card `nic` and `peers` on its wire (VPIO's monitor shares the card under vpio). */
export function bootMachine(mode: Mode, nic: NicKind | null, guests: BenchGuest[], memoryBytes: number, peers: PeerSpec[], console: (vm: number, byte: number) => void, apic = false): Machine {
  if (mode === 'native') {
    const g = guests[0];
    const pc = new Pc({ memoryBytes, nic: nic ?? undefined, peers, console: (b) => console(0, b), apic });
    // As Host.boot names them: a Multiboot kernel's own name is its command line's first word, a Linux kernel's is not.
    pc.boot(g.image, isLinuxImage(g.image) ? g.cmdline : `${g.path} ${g.cmdline}`, g.initrd ?? null);
    return { pc, host: null };
  }
  const host = new Host({
    mode, vms: guests.map((g) => ({ image: g.image, path: g.path, cmdline: g.cmdline, nic: nic !== null && g.nic, initrd: g.initrd ?? null })),
    memoryBytes, hostMemoryBytes: guests.length * memoryBytes + 2 * MiB, nic: nic ?? undefined, mac: DEFAULT_MAC, peers, rtcStart: 946684800,
    console, sharedCard: (h, n, vms) => new VpioMonitor(h, n, vms), apic,
  });
  host.boot();
  return { pc: null, host };
}

/** The instructions every CPU of a machine retired. */
export function instructionsOf(m: Machine): number {
  if (m.pc) return m.pc.cpu.instructions;
  let n = 0;
  for (const vm of m.host.vms) n += vm.cpu.instructions;
  return n;
}

/** What the VPIO monitor refused in a run (none outside vpio): how many, and by which rules. */
export function refusals(host: Host | null): { violations: number; violationRules: string[] } {
  if (!(host?.shared instanceof VpioMonitor)) return { violations: 0, violationRules: [] };
  return { violations: host.shared.violationCount, violationRules: [...new Set(host.shared.violations.map((v) => v.rule))].sort() };
}

function runOnce(s: Scenario): Run {
  const consoles: string[] = [];
  const { peers, cmdlines } = setUp(s);
  const limit = 2e11;
  const guests = cmdlines.map((c) => ({ image: new Uint8Array(fs.readFileSync(imagePath(c.img))), path: `${c.img}.elf`, cmdline: c.cmd, nic: c.nic }));
  const m = bootMachine(s.mode, s.nic, guests, s.mode === 'native' ? 64 * MiB : GUEST_MEMORY, peers, (vm, b) => { consoles[vm] = (consoles[vm] ?? '') + String.fromCharCode(b); });
  if (m.pc) {
    const pc = m.pc;
    pc.run(limit);
    return {
      consoles: [consoles[0] ?? ''], peers: pc.peers, cycles: pc.cpu.cycles, instructions: pc.cpu.instructions, hz: pc.clock.hz,
      wireBps: pc.wire?.bitsPerSecond ?? 0, host: null, cardDropped: (pc.ne2000 ?? pc.rtl8139)?.dropped ?? 0,
    };
  }
  const host = m.host;
  host.run(limit);
  host.close();
  return { consoles, peers: host.peers, cycles: host.clock.now, instructions: instructionsOf(m), hz: host.clock.hz, wireBps: host.wire?.bitsPerSecond ?? 0, host, cardDropped: host.nic?.card.dropped ?? 0 };
}

/** Runs one scenario and reduces it to figures. */
export function runScenario(s: Scenario): Figures {
  const t0 = process.hrtime.bigint();
  const r = runOnce(s);
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const frameLen = Math.max(60, s.size + 42);
  let frames = 0, fps = 0, rtt: number | null = null, ok = true, note = '';
  const perGuest: number[] = [];
  const lost: Record<string, number> = {};
  const sink = r.peers.find((p) => p instanceof SinkPeer) as SinkPeer | undefined;
  if (s.workload === 'hostile' && s.mode === 'passthrough') {
    // What passthrough lets the hostile guest do is the result: its DMA outside its memory, counted.
    note = 'the victim has no card under passthrough';
  } else if (s.workload === 'udp-tx' || s.workload === 'hostile') {
    frames = sink?.arrivals ?? 0;
    if (sink && sink.arrivals > 1) fps = (sink.arrivals - 1) / ((sink.lastArrival - sink.firstArrival) / r.hz);
    const victims = s.workload === 'hostile' ? [1] : r.consoles.map((_, i) => i);
    for (const i of victims) {
      const m = /udp-tx: (\d+) datagrams of \d+ bytes, (\d+) errors, \d+ us, (\d+) datagrams\/s/.exec(r.consoles[i] ?? '');
      if (!m || Number(m[1]) !== s.count || m[2] !== '0') { ok = false; note = `vm${i} did not send its ${s.count} datagrams cleanly`; }
      if (m) perGuest.push(Number(m[3]));
    }
    if (sink) {
      const expected = s.workload === 'udp-tx' ? s.count * s.guests : s.count;
      if (sink.badChecksums) { ok = false; lost['bad checksum'] = sink.badChecksums; }
      if (sink.arrivals < expected) lost['never reached the sink'] = expected - sink.arrivals;
      if (s.guests === 1 && sink.arrivals < expected) ok = false;
    }
  } else if (s.workload === 'udp-rx') {
    const m = /udp-rx: (\d+) datagrams, \d+ bytes, (\d+) lost, (\d+) ticks/.exec(r.consoles[0] ?? '');
    frames = m ? Number(m[1]) : 0;
    const src = r.peers.find((p) => p instanceof SourcePeer) as SourcePeer | undefined;
    // Frames lost when the stream outruns a mode are a figure, not a failure; a guest that never reports is.
    if (!m) { ok = false; note = 'udp-rx did not report'; }
    if (frames < s.count) lost['never reached the guest'] = s.count - frames;
    // The source sends as fast as the wire allows; what the guest took of it, over the stream's span.
    if (src && src.sent > 1 && frames > 1) fps = (frames - 1) / ((src.lastCycle - src.firstCycle) / r.hz);
    perGuest.push(fps);
  } else if (s.workload === 'ping') {
    const m = /ping: (\d+) sent, (\d+) received, rtt min\/avg\/max (\d+)\/(\d+)\/(\d+) us/.exec(r.consoles[0] ?? '');
    if (!m || m[1] !== m[2]) { ok = false; note = 'not every ping was answered'; }
    // The first ping includes ARP: the median-free figure is the minimum.
    rtt = m ? Number(m[3]) : null;
    frames = m ? 2 * Number(m[2]) : 0;
  } else {
    ok = /cpubound/.test(r.consoles[0] ?? '');
  }
  if (!r.host && r.cardDropped) lost['card: ring full or receiver off'] = r.cardDropped;
  const host = r.host;
  const t = tally(host, r.cycles, s.nic);
  if (host) {
    let notTaken = 0;
    for (const vm of host.vms) notTaken += vm.stats.framesNotTaken;
    if (notTaken) lost['virtual card: ring full'] = notTaken;
    if (r.cardDropped) lost['physical card: ring full or receiver off'] = r.cardDropped;
    if (host.switch) {
      if (host.switch.unknownUnicast) lost['switch: no such guest'] = host.switch.unknownUnicast;
      if (host.driver?.dropped) lost['switch: transmit queue full'] = host.driver.dropped;
    }
    if (host.shared instanceof VpioMonitor) {
      const m = host.shared;
      for (const g of m.guests) {
        if (g.stats.framesDropped) lost['vpio: held frames over the limit'] = (lost['vpio: held frames over the limit'] ?? 0) + g.stats.framesDropped;
        if (g.stats.framesRefused) lost['vpio: card would not take a held frame'] = (lost['vpio: card would not take a held frame'] ?? 0) + g.stats.framesRefused;
      }
    }
    if (host.escapeCount) note = `${note ? note + '; ' : ''}passthrough DMA outside the guest: ${host.escapeCount}`;
  }
  const w = perFrame(t, frames);
  const mbps = (fps * frameBits(frameLen)) / 1e6;
  return {
    id: s.id, scenario: s, framesPerSecond: fps, mbps, wireShare: r.wireBps ? (fps * frameBits(frameLen)) / r.wireBps : 0, perGuest, rttMicros: rtt,
    frames, ...w, ...refusals(host), lost, ok, note,
    cycles: r.cycles, instructions: r.instructions, wallSeconds, mips: r.instructions / wallSeconds / 1e6,
  };
}

/**
 * What the run has cost so far, in the counters the figures come from: elapsed cycles,
 * the guests' own and the hypervisor's, exits by reason, the VPIO monitor's hooked and
 * direct card accesses and its own work, handoffs. Taken at the end for a whole run, or
 * at two points of one (`minus`) for a window such as one stream of a Linux guest.
 */
export interface Tally {
  cycles: number;
  guest: number;
  hypervisor: number;
  /**
   * Of `hypervisor`, what the card cost: exits to its ports and pages, the VPIO model's and
   * monitor's work and handoffs, the virtual card's backend and the host's driver. The
   * rest (the PICs and PIT, injecting interrupts, HLT, quanta) every mode pays alike.
   */
  card: number;
  exits: Record<string, number>;
  /** VPIO only (else null): card accesses the model saw and those that went direct, and the model's cycles. */
  hooked: number | null;
  direct: number;
  model: number;
  handoffs: number;
  handoffCycles: number;
}

export function tally(host: Host | null, cycles: number, nic: NicKind | null): Tally {
  const t: Tally = { cycles, guest: host ? 0 : cycles, hypervisor: 0, card: 0, exits: {}, hooked: null, direct: 0, model: 0, handoffs: 0, handoffCycles: 0 };
  if (!host) return t;
  const exits = t.exits;
  // The card's port ranges and pages are named after it ('rtl8139', 'rtl8139 (model)', 'ne2000 (mmio)', ...).
  const card = nic === 'rtl8139' ? 'rtl8139' : 'ne2000';
  for (const vm of host.vms) {
    t.hypervisor += vm.hypervisorCycles;
    t.guest += vm.guestCycles;
    for (const c of vm.portCounters()) {
      const n = c.exitsIn + c.exitsOut;
      if (n) exits[`io ${c.name}`] = (exits[`io ${c.name}`] ?? 0) + n;
      if (nic !== null && c.name.startsWith(card)) t.card += c.cyclesIn + c.cyclesOut;
    }
    for (const w of [vm.stats.backendTx, vm.stats.backendRx, vm.stats.handoff, vm.stats.vpioWork]) t.card += w.cycles;
    for (const w of vm.stats.work()) if (w.count && w.name !== 'vm switch' && w.name !== 'nic backend tx' && w.name !== 'nic backend rx' && w.name !== 'vpio monitor' && w.name !== 'vpio handoff') exits[w.name] = (exits[w.name] ?? 0) + w.count;
  }
  t.hypervisor += host.hostWork.cycles;
  t.card += host.hostWork.cycles;
  if (host.shared instanceof VpioMonitor) {
    const m = host.shared;
    t.hooked = 0;
    for (const g of m.guests) {
      t.hooked += g.stats.hooked;
      t.direct += m.directAccesses(g);
    }
    for (const vm of host.vms) {
      const c = vm.ports.counters.get(`${card} (model)`);
      if (c) t.model += (c.accessesIn + c.accessesOut) * host.costs.vpioModelCycles;
      t.model += vm.stats.vpioWork.cycles;
    }
    t.handoffs = m.handoffs;
    t.handoffCycles = m.handoffCycles;
  }
  return t;
}

/** `b` less `a`: what a window of the run cost. */
export function minus(b: Tally, a: Tally): Tally {
  const exits: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.exits)) if (v - (a.exits[k] ?? 0)) exits[k] = v - (a.exits[k] ?? 0);
  return {
    cycles: b.cycles - a.cycles, guest: b.guest - a.guest, hypervisor: b.hypervisor - a.hypervisor, card: b.card - a.card, exits,
    hooked: b.hooked === null ? null : b.hooked - (a.hooked ?? 0), direct: b.direct - a.direct, model: b.model - a.model,
    handoffs: b.handoffs - a.handoffs, handoffCycles: b.handoffCycles - a.handoffCycles,
  };
}

/** A tally's figures per frame. */
export function perFrame(t: Tally, frames: number): Pick<Figures, 'cyclesPerFrame' | 'guestCyclesPerFrame' | 'hypervisorCyclesPerFrame' | 'cardCyclesPerFrame' | 'exitsPerFrame' | 'exitsPerFrameTotal' | 'hookedFraction' | 'vpioModelCyclesPerFrame' | 'handoffs' | 'handoffCycles'> {
  const per = (v: number) => (frames ? v / frames : 0);
  const exitsPerFrame: Record<string, number> = {};
  let exitsTotal = 0;
  for (const [k, v] of Object.entries(t.exits)) { exitsPerFrame[k] = per(v); exitsTotal += v; }
  const seen = (t.hooked ?? 0) + t.direct;
  return {
    cyclesPerFrame: per(t.cycles), guestCyclesPerFrame: per(t.guest), hypervisorCyclesPerFrame: per(t.hypervisor), cardCyclesPerFrame: per(t.card), exitsPerFrame, exitsPerFrameTotal: per(exitsTotal),
    hookedFraction: t.hooked === null ? null : seen ? t.hooked / seen : 0, vpioModelCyclesPerFrame: t.hooked === null ? null : per(t.model),
    handoffs: t.handoffs, handoffCycles: t.handoffCycles,
  };
}
