/**
 * The host: one emulated physical CPU, host-physical memory, the physical network card
 * on its wire, and the VMs the hypervisor runs on them (DESIGN.md section 1).
 *
 * - Memory: each VM's guest-physical memory is a partition of host memory; its CPU sees
 *   only that window, so nothing it does reaches outside, except through a passthrough
 *   card's DMA. The top `HYPERVISOR_RESERVE` bytes are the hypervisor's own (its driver's
 *   buffers in `virtual` mode).
 * - Modes (`native` is the bare `Pc`, not this class):
 *   `passthrough`: one VM owns the physical card, placed at host-physical 0 so that its
 *   guest-physical addresses are host-physical ones; the card's ports are direct in its
 *   port map, its IRQ goes to that VM's virtual PIC, and its DMA is neither translated
 *   nor checked (an access outside the owner's memory is recorded as a fact, not stopped).
 *   `virtual`: each VM with a card gets its own emulated one of the same model, all of
 *   whose ports trap; the card's frames go through the software switch, and the
 *   hypervisor's own driver moves them to and from the physical card.
 * - Scheduling: the VMs take turns on the one CPU in round robin, each for at most a
 *   quantum of cycles; a VM that halts yields at once and is runnable again when an
 *   interrupt is pending for it. Every device, virtual or physical, runs on the one clock.
 * - Accounting: every exit and every piece of hypervisor work is counted and costed
 *   against the VM it was for (see Vm, VmStats); work for no VM in particular (the
 *   physical card's interrupts in `virtual` mode) goes to `hostWork`.
 */
import { StopReason } from '../cpu/bus';
import { machineMemory } from '../cpu/memory';
import { Clock } from '../devices/clock';
import { Costs, DEFAULT_COSTS } from '../devices/costs';
import { PortDevice } from '../devices/port-bus';
import { Nic, NicKind, makeNic, nicName, nicBusCycles } from '../devices/nic';
import { plugNic } from '../board/platform';
import { Rtl8139, DmaPort, ramDma } from '../devices/rtl8139';
import { Ne2000 } from '../devices/ne2000';
import { Wire } from '../devices/net/wire';
import { buildSegment, Peer, PeerSpec } from '../board/segment';
import { Vm, VmEnd, WorkCounter } from './vm';
import { SoftSwitch } from './switch';
import { HostDriver, Ne2000Driver, Rtl8139Driver, RTL8139_DRIVER_BYTES } from './host-drivers';
import { Timeline, CARD_TRACK } from '../board/timeline';
import { isLinuxImage } from '../board/linux';
import { macToString } from '../devices/net/ethernet';

export type HvMode = 'passthrough' | 'virtual' | 'vpio';
export const HV_MODES: readonly HvMode[] = ['passthrough', 'virtual', 'vpio'];

/**
 * A monitor that shares the physical card between VMs (`vpio` mode; the VPIO monitor
 * in vpio/ implements it). The host gives it the card's wire side, interrupt line and
 * DMA, and calls `poll` after every slice.
 */
export interface SharedCard {
  /** A frame from the segment, before the card's address filter. */
  fromWire(frame: Uint8Array): void;
  /** The card's interrupt line changed. */
  irq(level: boolean): void;
  /** The card's bus-master DMA. */
  readonly dma: DmaPort;
  /** Decides whatever is pending (a handoff); cheap when nothing is. */
  poll(): void;
}

/** Builds the shared-card monitor for the VMs that asked for the card (with their MACs). */
export type SharedCardFactory = (host: Host, nic: Nic, vms: { vm: Vm; mac: Uint8Array }[]) => SharedCard;

/** Host memory the hypervisor keeps for itself (its driver's rings and buffers). */
export const HYPERVISOR_RESERVE = 1024 * 1024;
/** The default scheduling quantum: 1 ms at 2 GHz. */
export const DEFAULT_QUANTUM = 2_000_000;
/** The physical card's own address in `virtual` mode (locally administered): the guests have theirs. */
export const HOST_MAC = Uint8Array.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

/** A configuration the host cannot run: one line for the user. */
export class HostConfigError extends Error {}

export interface VmSpec {
  image: Uint8Array;
  /** The kernel's path: the first word of its command line. */
  path: string;
  cmdline: string;
  /** Whether the VM gets a network card (the physical one in passthrough, its own in virtual mode). */
  nic: boolean;
  /** An initrd (Linux kernels only). */
  initrd?: Uint8Array | null;
}

export interface HostOptions {
  mode: HvMode;
  vms: VmSpec[];
  /** Guest-physical memory of each VM. */
  memoryBytes: number;
  /** Host-physical memory: the VMs' partitions and the hypervisor's reserve must fit. */
  hostMemoryBytes: number;
  quantum?: number;
  /** The physical card. */
  nic?: NicKind;
  /** VM 0's MAC address; VM n's has n added to the last byte (as QEMU numbers NICs). */
  mac: Uint8Array;
  peers?: PeerSpec[];
  pcapPath?: string;
  costs?: Costs;
  rtcStart: number;
  console: (vm: number, byte: number) => void;
  trace?: ((line: string) => void) | null;
  /** Each VM gets a local APIC and an I/O APIC (Vm's `apic`). */
  apic?: boolean;
  traceKinds?: ReadonlySet<string>;
  translate?: boolean;
  /** `vpio` mode: what shares the card. */
  sharedCard?: SharedCardFactory;
  /** Record a timeline of the run (VMs, exits, hypervisor work, card ownership, frames). */
  timeline?: Timeline | null;
}

export type HostResult =
  | { kind: 'done' }
  | { kind: 'limit' }
  /** A debugger stopped the run (Host.pause): run again to go on. */
  | { kind: 'paused' }
  | { kind: 'halted'; message: string };

/** A passthrough card's DMA outside its owner's memory: allowed (that is passthrough), and recorded. */
export interface DmaEscape {
  cycle: number;
  vm: number;
  direction: 'read' | 'write';
  address: number;
  length: number;
}

/** The MAC of VM `id`: the base with `id` added to its last byte. */
export function vmMac(base: Uint8Array, id: number): Uint8Array {
  const m = Uint8Array.from(base);
  m[5] = (m[5] + id) & 0xff;
  return m;
}

export class Host {
  readonly clock: Clock;
  readonly costs: Costs;
  readonly ram: Uint8Array;
  readonly vms: Vm[] = [];
  readonly quantum: number;
  readonly nic: Nic | null = null;
  readonly wire: Wire | null = null;
  readonly peers: Peer[] = [];
  readonly switch: SoftSwitch | null = null;
  readonly driver: HostDriver | null = null;
  readonly shared: SharedCard | null = null;
  /** Hypervisor work for no VM in particular. */
  readonly hostWork: WorkCounter = { name: 'host nic driver', count: 0, cycles: 0 };
  /** Bus cycles the hypervisor's own driver paid for the physical card (`virtual` mode), one access each. */
  driverBusCycles = 0;
  /** Passthrough DMA outside the owner's memory: the first few, and how many in all. */
  readonly escapes: DmaEscape[] = [];
  escapeCount = 0;
  /** The VM the CPU is running now (null between slices). */
  private running: Vm | null = null;
  private readonly trace: ((line: string) => void) | null;
  private readonly traceExits: boolean;
  readonly timeline: Timeline | null;
  private cardOwner: { vm: number; since: number } | null = null;
  /** The VM driving the physical card now (passthrough's owner, vpio's current owner), or null. */
  private cardVm: number | null = null;

  constructor(readonly opts: HostOptions) {
    const costs = opts.costs ?? DEFAULT_COSTS;
    this.costs = costs;
    this.quantum = opts.quantum ?? DEFAULT_QUANTUM;
    this.trace = opts.trace ?? null;
    this.traceExits = this.trace !== null && (opts.traceKinds?.has('exit') ?? false);
    this.timeline = opts.timeline ?? null;
    const n = opts.vms.length;
    if (n === 0) throw new HostConfigError('no guest images given');
    if (!(this.quantum >= 1000) || !Number.isSafeInteger(this.quantum)) throw new HostConfigError(`quantum ${opts.quantum} is too short; give at least 1000 cycles`);
    const wanting = opts.vms.map((v, i) => (v.nic ? i : -1)).filter((i) => i >= 0);
    if (wanting.length > 0 && !opts.nic) throw new HostConfigError(`vm${wanting[0]} asks for a network card but the host has none; add --nic`);
    if (opts.mode === 'vpio') {
      if (!opts.nic) throw new HostConfigError('--mode vpio shares the physical network card between guests; add --nic');
      if (!opts.sharedCard) throw new HostConfigError('vpio mode needs the VPIO monitor');
    }
    if (opts.mode === 'passthrough') {
      if (!opts.nic) throw new HostConfigError('--mode passthrough gives a guest the physical network card; add --nic');
      if (wanting.length > 1) {
        throw new HostConfigError(`vm${wanting[1]} asks for the ${opts.nic} that vm${wanting[0]} already owns by passthrough; a card can be passed through to one guest (--mode virtual shares it)`);
      }
    }
    const need = n * opts.memoryBytes + HYPERVISOR_RESERVE;
    if (need > opts.hostMemoryBytes) {
      const mib = (b: number) => `${Math.ceil(b / 1048576)} MiB`;
      throw new HostConfigError(`${n} VM${n > 1 ? 's' : ''} of ${mib(opts.memoryBytes)} and the hypervisor's ${mib(HYPERVISOR_RESERVE)} need ${mib(need)} of host memory; the host has ${mib(opts.hostMemoryBytes)} (--host-memory, or a smaller --memory)`);
    }
    const memory = machineMemory(opts.hostMemoryBytes, n, opts.memoryBytes);
    this.ram = memory.ram;
    this.clock = new Clock(costs.cpuHz);
    this.clock.onSchedule = (at) => { if (this.running) this.running.cpu.stopAt(at); };
    const kinds = opts.traceKinds ?? new Set<string>();

    // Partitions: a passthrough owner first, at host-physical 0; the others after it in order.
    const order = opts.vms.map((_, i) => i);
    if (opts.mode === 'passthrough' && wanting.length === 1) order.sort((a, b) => (a === wanting[0] ? -1 : b === wanting[0] ? 1 : a - b));
    const bases = new Array<number>(n);
    order.forEach((id, slot) => { bases[id] = slot * opts.memoryBytes; });
    for (let id = 0; id < n; id++) {
      const vm = new Vm({
        id, ram: this.ram.subarray(bases[id], bases[id] + opts.memoryBytes), base: bases[id], clock: this.clock, costs,
        area: memory.areas[id], wasmMemory: memory.wasm,
        rtcStart: opts.rtcStart, console: (b) => opts.console(id, b), trace: this.trace, traceKinds: kinds,
        charge: (v, c, cycles) => this.charge(v, c, cycles), timeline: this.timeline, apic: opts.apic === true,
      });
      this.timeline?.track(id + 1, `vm${id}`);
      vm.cpu.useTranslator = opts.translate ?? true;
      this.vms.push(vm);
    }

    if (opts.nic) this.setUpNetwork(opts.nic, wanting, kinds);
  }

  /** The card changed hands (the VPIO monitor calls this): its remarks are that VM's, and a slice per owner goes on the card's track. */
  cardOwnedBy(vm: number | null): void {
    this.cardVm = vm;
    const tl = this.timeline;
    if (!tl) return;
    tl.track(CARD_TRACK, 'card owner');
    const now = this.running ? this.running.cpu.cycles : this.clock.now;
    if (this.cardOwner) tl.slice(CARD_TRACK, `vm${this.cardOwner.vm}`, this.cardOwner.since, now, 'card');
    this.cardOwner = vm === null ? null : { vm, since: now };
  }

  private setUpNetwork(kind: NicKind, wanting: number[], kinds: ReadonlySet<string>): void {
    const self = this as { -readonly [K in keyof Host]: Host[K] };
    const opts = this.opts;
    const owner = opts.mode === 'passthrough' ? this.vms[wanting[0]] ?? null : null;
    // The physical card's remarks belong to the VM that drives it (its passthrough owner, or under vpio whoever owns it now).
    if (owner) this.cardVm = owner.id;
    const { nic, wire, peers } = buildSegment(this.clock, {
      kind, mac: owner ? vmMac(opts.mac, owner.id) : HOST_MAC, peers: opts.peers, pcapPath: opts.pcapPath,
      trace: this.trace, traceKinds: kinds, cardVm: () => this.cardVm, timeline: this.timeline,
    });
    self.nic = nic;
    self.wire = wire;
    this.peers.push(...peers);
    const card = nic.card;
    const traceNic = this.trace !== null && kinds.has('nic') ? this.trace : null;
    // In passthrough the owner's traffic is the card's: count it there.
    const counted = owner ? owner.stats : null;
    const wirePort = wire.attach({
      name: nicName(kind),
      receive: (f) => {
        if (this.shared) { this.shared.fromWire(f); return; }
        if (card.receive(f) && counted) { counted.framesIn++; counted.bytesIn += f.length; }
      },
    });
    card.port = counted ? { send: (f) => { counted.framesOut++; counted.bytesOut += f.length; wirePort.send(f); } } : wirePort;

    if (opts.mode === 'vpio') {
      // VPIO: the monitor owns the card's wire side, interrupt and DMA, and each VM's view of it.
      const shared = opts.sharedCard!(this, nic, wanting.map((id) => ({ vm: this.vms[id], mac: vmMac(opts.mac, id) })));
      self.shared = shared;
      card.onIrq = (level) => shared.irq(level);
      if (card instanceof Rtl8139) card.dma = shared.dma;
      return;
    }

    if (owner) {
      // Passthrough: the owner's PCI bus (or ISA ports) has the physical card, mapped direct.
      if (card instanceof Rtl8139) card.dma = this.passthroughDma(owner);
      plugNic(owner.platform, nic, owner.directMapper, this.costs, owner.directMmio);
      return;
    }

    // Virtual: the hypervisor drives the physical card; each VM gets its own card behind the switch.
    const sw = new SoftSwitch();
    self.switch = sw;
    const traceNet = this.trace !== null && kinds.has('net') ? this.trace : null;
    const io = this.driverIo(nic);
    const reserveBase = this.ram.length - HYPERVISOR_RESERVE;
    const deliver = (frame: Uint8Array) => sw.fromWire(frame);
    let driver: HostDriver;
    if (card instanceof Rtl8139) {
      card.dma = this.hostDma();
      nic.pci!.onMappingChange = () => { card.busMaster = nic.pci!.busMaster; };
      if (RTL8139_DRIVER_BYTES > HYPERVISOR_RESERVE) throw new Error('hypervisor reserve too small for the driver');
      driver = new Rtl8139Driver(io, nic.pci!, this.ram, reserveBase, deliver);
    } else {
      driver = new Ne2000Driver(io, card as Ne2000, nic.pci, deliver);
    }
    self.driver = driver;
    sw.uplink = driver;
    sw.onSpoofed = (from, frame) => {
      this.vms[from.id].stats.framesSpoofed++;
      traceNet?.(`${this.clock.now} vm${from.id} net refused: a ${frame.length}-byte frame from ${frame.length >= 12 ? macToString(frame, 6) : '(too short)'}, not the sender's ${macToString(from.mac)} (source-spoofed)`);
    };
    card.onIrq = (level) => { if (level) driver.interrupt(); };
    for (const id of wanting) {
      const vm = this.vms[id];
      const vnic = makeNic(kind, this.clock, vmMac(opts.mac, id), true);
      const vcard = vnic.card;
      if (traceNic) vcard.onLog = (m) => traceNic(`${this.clock.now} vm${id} nic ${m}`);
      if (vcard instanceof Rtl8139) vcard.dma = vm.guestDma;
      plugNic(vm.platform, vnic, vm.trapMapper, this.costs, vm.trapMmio);
      const copy = this.costs.copyCyclesPerByte;
      vcard.port = sw.attach({
        id,
        mac: vmMac(opts.mac, id),
        deliver: (frame) => {
          this.charge(vm, vm.stats.backendRx, Math.ceil(frame.length * copy));
          vm.stats.framesIn++;
          vm.stats.bytesIn += frame.length;
          if (!vcard.receive(frame)) vm.stats.framesNotTaken++;
        },
      });
      const send = vcard.port.send;
      vcard.port = {
        send: (frame) => {
          this.charge(vm, vm.stats.backendTx, Math.ceil(frame.length * copy));
          vm.stats.framesOut++;
          vm.stats.bytesOut += frame.length;
          send(frame);
        },
      };
    }
  }

  /** The hypervisor driver's view of the card: every register access pays the bus latency. */
  private driverIo(nic: Nic): { regs: PortDevice; work(bytes: number): void } {
    const bus = nicBusCycles(nic, this.costs);
    const dev = nic.device;
    const copy = this.costs.copyCyclesPerByte;
    const w = this.hostWork;
    return {
      regs: {
        read: (off, size) => { this.syncClock(); const v = dev.read(off, size); this.driverBusCycles += bus; this.charge(null, w, bus); return v; },
        write: (off, size, v) => { this.syncClock(); dev.write(off, size, v); this.driverBusCycles += bus; this.charge(null, w, bus); },
      },
      work: (bytes) => this.charge(null, w, Math.ceil(bytes * copy)),
    };
  }

  private syncClock(): void {
    if (this.running) this.clock.now = this.running.cpu.cycles;
  }

  /** The hypervisor's own DMA (its driver's buffers): anywhere in host memory. */
  private hostDma(): DmaPort {
    return ramDma(this.ram, (addr, length) => this.invalidate(addr, length));
  }

  /** Passthrough DMA: host-physical, untranslated and unchecked but for the end of memory; escapes are recorded. */
  private passthroughDma(owner: Vm): DmaPort {
    const host = this.hostDma();
    const note = (direction: 'read' | 'write', address: number, length: number) => {
      if (address >= owner.base && address + length <= owner.base + owner.ram.length) return;
      this.escapeCount++;
      if (this.escapes.length < 16) this.escapes.push({ cycle: this.clock.now, vm: owner.id, direction, address, length });
      this.trace?.(`${this.clock.now} vm${owner.id} passthrough dma ${direction} 0x${address.toString(16)}+${length} outside the guest's memory`);
    };
    return {
      read: (addr, dst) => { const ok = host.read(addr, dst); if (ok) note('read', addr, dst.length); return ok; },
      write: (addr, src) => { const ok = host.write(addr, src); if (ok) note('write', addr, src.length); return ok; },
    };
  }

  /** Drops translated code wherever a host-physical write landed. */
  private invalidate(addr: number, length: number): void {
    for (const vm of this.vms) {
      const lo = Math.max(addr, vm.base), hi = Math.min(addr + length, vm.base + vm.ram.length);
      if (lo < hi) vm.cpu.invalidateCode(lo - vm.base, hi - lo);
    }
  }

  /**
   * Hypervisor work: counted against `vm` (or the host), and paid in time. Inside a VM's
   * slice (an exit) the running CPU's counter pays; between slices the clock moves on.
   */
  charge(vm: Vm | null, counter: WorkCounter, cycles: number): void {
    counter.count++;
    counter.cycles += cycles;
    if (this.timeline) {
      const at = this.running ? this.running.cpu.cycles : this.clock.now;
      if (vm) this.timeline.slice(vm.id + 1, counter.name, at, at + cycles, 'hypervisor');
      else { this.timeline.track(999, 'host'); this.timeline.slice(999, counter.name, at, at + cycles, 'hypervisor'); }
    }
    if (this.traceExits && vm && (counter === vm.stats.hlt || counter === vm.stats.quantum || counter === vm.stats.irq)) {
      this.trace!(`${this.running ? this.running.cpu.cycles : this.clock.now} vm${vm.id} exit ${counter.name.replace(' ', '-')} cycles=${cycles}`);
    }
    const r = this.running;
    if (r) {
      r.cpu.addCycles(cycles);
      r.stats.hvInSlice += cycles;
      this.clock.now = r.cpu.cycles;
    } else {
      this.clock.now += cycles;
    }
  }

  /** Loads each VM's image. */
  boot(): void {
    // A Multiboot kernel's own name is its command line's first word (as from GRUB and QEMU); a Linux kernel's is not.
    this.opts.vms.forEach((spec, id) => this.vms[id].boot(spec.image, isLinuxImage(spec.image) ? spec.cmdline : `${spec.path} ${spec.cmdline}`, spec.initrd ?? null));
  }

  /** The next runnable VM after `cur` in round robin (`cur` itself last). */
  private pickAfter(cur: Vm | null): Vm | null {
    const n = this.vms.length;
    const start = cur ? cur.id + 1 : 0;
    for (let k = 0; k < n; k++) {
      const vm = this.vms[(start + k) % n];
      if (vm.runnable) return vm;
    }
    return null;
  }

  /** The VM that has the CPU and the end of its slice: kept across run() calls, so that a run stopped and run again is the same run. */
  private cur: Vm | null = null;
  private sliceEnd = 0;
  private paused = false;

  /**
   * Makes the current run() return `paused` after the running VM's current instruction
   * (or, from its CPU tracer's `before`, before its next): how a debugger stops the
   * machine (debug/session.ts). Outside a run, the next run returns at once.
   */
  pause(): void {
    this.paused = true;
    this.running?.cpu.requestStop();
  }

  /**
   * Runs the VMs until all have ended, the cycle limit (absolute), or nothing can ever
   * run again. Stopped at the limit or a pause and run again, it goes on as if it had
   * not stopped.
   */
  run(maxCycles: number): HostResult {
    const clock = this.clock;
    const costs = this.costs;
    for (;;) {
      if (this.paused) {
        this.paused = false;
        return { kind: 'paused' };
      }
      if (this.vms.every((v) => v.end !== null)) {
        this.drain(maxCycles);
        return { kind: 'done' };
      }
      const now = clock.now;
      if (now >= maxCycles) return { kind: 'limit' };
      let vm: Vm | null;
      if (this.cur && this.cur.runnable && now < this.sliceEnd) {
        vm = this.cur;
      } else {
        vm = this.pickAfter(this.cur);
        if (vm !== null && vm === this.cur) this.sliceEnd = now + this.quantum; // nobody else wants the CPU
      }
      if (vm === null) {
        const due = clock.nextDue();
        if (due === Infinity) {
          const message = 'every VM is halted and no device will ever interrupt one';
          for (const v of this.vms) if (v.end === null) v.end = { kind: 'halted', message: 'halted; no device will ever interrupt it' };
          return { kind: 'halted', message };
        }
        clock.advanceTo(Math.min(due, maxCycles));
        // What the events changed may let a waiting VM have the card. Only after events:
        // at the limit nothing fired, and the run that goes on from there looks at `due`.
        if (due <= maxCycles) this.shared?.poll();
        continue;
      }
      if (vm !== this.cur) {
        if (this.cur && this.cur.runnable) this.charge(this.cur, this.cur.stats.quantum, costs.exitRoundTripCycles); // preempted
        if (this.cur) this.charge(vm, vm.stats.vmSwitch, costs.vmSwitchCycles);
        this.cur = vm;
        this.sliceEnd = clock.now + this.quantum;
        continue; // the switch took time: look at the clock again
      }
      const natural = Math.min(clock.nextDue(), this.sliceEnd);
      const end = Math.min(natural, maxCycles);
      if (end <= now) { clock.advanceTo(now); continue; }
      const cpu = vm.cpu;
      cpu.cycles = now;
      this.running = vm;
      let why: StopReason;
      try {
        why = cpu.run(end - now);
      } finally {
        this.running = null;
      }
      const t = cpu.cycles;
      vm.stats.runCycles += t - now;
      this.timeline?.slice(vm.id + 1, 'guest', now, t, 'run');
      clock.advanceTo(t);
      if (vm.exited && vm.end === null) {
        const value = vm.platform.debugExit.value;
        vm.end = { kind: 'exit', value, status: ((value << 1) | 1) & 0xff };
      } else if (vm.ended !== null && vm.end === null) {
        vm.end = { kind: vm.ended, status: 0 };
      } else if (why === StopReason.TripleFault) {
        vm.end = { kind: 'triple-fault', message: cpu.stopMessage };
      } else if (why === StopReason.Dead) {
        vm.end = { kind: 'halted', message: 'the CPU halted with interrupts disabled' };
      } else if (why === StopReason.Halt) {
        this.charge(vm, vm.stats.hlt, costs.exitRoundTripCycles);
      }
      // Stopped from outside (the cycle limit, a debugger's pause), the CPU has not
      // reached a point of its own: the monitor looks when the run goes on and gets
      // there, as it would have without the stop. A look here would be one more, at a
      // cycle the limit chose, and could hand the card over at another moment.
      // A REP INS/OUTS the stop split goes on as one string (Cpu.resumeRepeat).
      if ((why === StopReason.Budget && t >= maxCycles && maxCycles < natural) || this.paused) { cpu.resumeRepeat(); continue; }
      this.shared?.poll();
    }
  }

  /**
   * When every VM has ended, the frames they handed the hypervisor still go out, as
   * they would on a host that keeps running: the clock runs on while the driver has
   * any queued or in flight (bounded by the cycle limit and a virtual second).
   */
  private drain(maxCycles: number): void {
    const d = this.driver;
    if (!d) return;
    const limit = Math.min(maxCycles, this.clock.now + this.clock.hz);
    while (d.busy && this.clock.nextDue() <= limit) this.clock.advanceTo(this.clock.nextDue());
  }

  /** Closes what the run opened (the pcap file; the last card-ownership slice). */
  close(): void {
    if (this.cardOwner) this.cardOwnedBy(null);
    this.wire?.pcap?.close();
    if (this.wire) this.wire.pcap = null;
  }

  /** How each VM ended (null: still running when the run stopped). */
  ends(): (VmEnd | null)[] {
    return this.vms.map((v) => v.end);
  }
}
