/**
 * A VM: its own CPU state, its guest-physical memory (a window onto a partition of host
 * memory: the CPU sees nothing else), its port map, and its virtual platform (PIC, PIT,
 * CMOS, UART, PCI bus, debug ports), every register of which traps to the hypervisor's
 * emulation of it, as in Palacios. A network card, when the VM has one, is mapped by the
 * host: direct (passthrough) or trapped (a virtual card).
 */
import { Cpu } from '../cpu/cpu';
import { CpuBus } from '../cpu/bus';
import { Clock } from '../devices/clock';
import { Costs } from '../devices/costs';
import { PortDevice } from '../devices/port-bus';
import { Platform, PortMapper, MachineEnd } from '../board/platform';
import { bootKernel } from '../board/pc';
import { DmaPort, ramDma } from '../devices/rtl8139';
import { PortMap } from './port-map';
import { PortRange, RangeCounter, newCounter } from '../devices/port-bus';
import { MmioBus } from '../devices/mmio-bus';
import type { LocalApic } from '../devices/lapic';
import { Timeline } from '../board/timeline';

/** Hypervisor work charged to a VM that is not a port exit: its count and cycles. */
export interface WorkCounter {
  readonly name: string;
  count: number;
  cycles: number;
}

export class VmStats {
  /** Cycles the VM held the physical CPU (guest work, port latency and the exits in its slices). */
  runCycles = 0;
  /** Hypervisor cycles spent inside this VM's slices other than port exits (for guest = run - hypervisor). */
  hvInSlice = 0;
  readonly irq: WorkCounter = { name: 'irq inject', count: 0, cycles: 0 };
  readonly hlt: WorkCounter = { name: 'hlt', count: 0, cycles: 0 };
  readonly quantum: WorkCounter = { name: 'quantum', count: 0, cycles: 0 };
  readonly vmSwitch: WorkCounter = { name: 'vm switch', count: 0, cycles: 0 };
  readonly backendTx: WorkCounter = { name: 'nic backend tx', count: 0, cycles: 0 };
  readonly backendRx: WorkCounter = { name: 'nic backend rx', count: 0, cycles: 0 };
  readonly handoff: WorkCounter = { name: 'vpio handoff', count: 0, cycles: 0 };
  readonly vpioWork: WorkCounter = { name: 'vpio monitor', count: 0, cycles: 0 };
  /** Frames the virtual NIC sent and received through the hypervisor's switch. */
  framesOut = 0;
  framesIn = 0;
  /** Frames the switch handed to the VM's virtual card that the card did not take (ring full, receiver off, filtered). */
  framesNotTaken = 0;
  /** Frames the VM sent with a source address not its own, refused (virtual: by the switch; vpio: by the monitor). */
  framesSpoofed = 0;
  bytesOut = 0;
  bytesIn = 0;

  work(): WorkCounter[] {
    return [this.irq, this.hlt, this.quantum, this.vmSwitch, this.backendTx, this.backendRx, this.handoff, this.vpioWork];
  }
}

/** How a VM ended. */
export type VmEnd =
  | { kind: 'exit'; value: number; status: number }
  /** The guest reset its machine or powered it off: status 0, as `qemu -no-reboot`. */
  | { kind: MachineEnd; status: 0 }
  | { kind: 'killed'; message: string }
  | { kind: 'triple-fault'; message: string }
  | { kind: 'halted'; message: string };

export interface VmOptions {
  id: number;
  /** The VM's window onto host memory: guest-physical 0 is `ram[0]`. */
  ram: Uint8Array;
  /** Where the window starts in host-physical memory. */
  base: number;
  clock: Clock;
  costs: Costs;
  rtcStart: number;
  console: (byte: number) => void;
  trace: ((line: string) => void) | null;
  traceKinds: ReadonlySet<string>;
  /** Charges hypervisor work to this VM (the host advances the right clock). */
  charge: (vm: Vm, counter: WorkCounter, cycles: number) => void;
  /** Where exits go when a timeline is recorded. */
  timeline?: Timeline | null;
  /**
   * A local APIC and an I/O APIC in the VM's platform, emulated by the hypervisor as
   * Palacios emulates them: their pages are trapped, an exit per register access.
   */
  apic?: boolean;
  /** The VM's CPU's area of host memory (cpu/memory.ts); without it the CPU keeps its registers in buffers of its own. */
  area?: Uint8Array;
  wasmMemory?: WebAssembly.Memory | null;
}

export class Vm implements CpuBus {
  readonly id: number;
  readonly ram: Uint8Array;
  readonly area?: Uint8Array;
  readonly wasmMemory: WebAssembly.Memory | null;
  readonly base: number;
  readonly cpu: Cpu;
  readonly ports: PortMap;
  /**
   * Guest-physical memory-mapped I/O past the VM's RAM: a card's memory BAR, direct
   * (passthrough: its pages mapped to the card) or trapped a page at a time (an exit per
   * access, as an EPT violation or a shadow page fault takes). Its traps are counted
   * with the port traps, by hook name (`ports.counters`).
   */
  readonly mmio = new MmioBus();
  readonly platform: Platform;
  readonly stats = new VmStats();
  /** Set when the VM is done (debug-exit, triple fault, a halt nothing can end). */
  end: VmEnd | null = null;
  /** The guest wrote the debug-exit port during the current slice. */
  exited = false;
  /** The guest reset or powered off its machine during the current slice. */
  ended: MachineEnd | null = null;
  /** Waiting for a device the hypervisor has not given it yet (the VPIO monitor's card). */
  blocked = false;
  /** Maps ranges as traps to the hypervisor's emulation (virtual devices). */
  readonly trapMapper: PortMapper<PortRange>;
  /** Maps ranges straight to a device (passthrough). */
  readonly directMapper: PortMapper<PortRange>;
  /** The same two for memory-mapped ranges: a trap takes an exit per access. */
  readonly trapMmio: PortMapper<PortRange>;
  readonly directMmio: PortMapper<PortRange>;
  private readonly trace: ((line: string) => void) | null;

  constructor(readonly opts: VmOptions) {
    this.id = opts.id;
    this.ram = opts.ram;
    this.area = opts.area;
    this.wasmMemory = opts.wasmMemory ?? null;
    this.base = opts.base;
    this.trace = opts.trace;
    this.cpu = new Cpu(this);
    this.cpu.setCosts(opts.costs);
    this.guestDma = ramDma(opts.ram, (addr, length) => this.cpu.invalidateCode(addr, length));
    const cpu = this.cpu;
    const ports = new PortMap(opts.costs.exitRoundTripCycles);
    this.ports = ports;
    ports.charge = (c) => cpu.addCycles(c);
    ports.syncTime = () => { opts.clock.now = cpu.cycles; };
    ports.repeat = cpu;
    const vdev = opts.costs.virtualDeviceCycles;
    this.trapMapper = {
      map: (name, base, length, device: PortDevice) => ports.hook(name, base, length, device, { handlerCycles: vdev }),
      unmap: (h) => ports.unhook(h),
    };
    this.directMapper = {
      map: (name, base, length, device, cycles) => ports.direct(name, base, length, device, cycles),
      unmap: (r) => ports.remove(r),
    };
    const mmio = this.mmio;
    mmio.charge = ports.charge;
    mmio.syncTime = ports.syncTime;
    this.trapMmio = {
      map: (name, base, length, device) => mmio.cover(name, base, length, device, opts.costs.exitRoundTripCycles + vdev, { counter: this.trapCounter(name) }),
      unmap: (r) => mmio.remove(r),
    };
    this.directMmio = {
      map: (name, base, length, device, cycles) => mmio.map(name, base, length, device, cycles),
      unmap: (r) => mmio.remove(r),
    };
    const traceIo = opts.traceKinds.has('io') && this.trace !== null, traceExit = opts.traceKinds.has('exit') && this.trace !== null;
    const timeline = opts.timeline ?? null;
    if (traceIo || traceExit || timeline) {
      const t = this.trace ?? (() => {});
      const tid = this.id + 1;
      const exitCycles = opts.costs.exitRoundTripCycles;
      ports.trace = (dir, port, size, value, range) => {
        const name = range ? range.name : 'none', trapped = range !== null && range.trapped;
        if (timeline && trapped && cpu.ioRepeat === 0) timeline.slice(tid, `exit ${dir} ${name}`, cpu.cycles - exitCycles, cpu.cycles, 'exit', { port: hex(port, 4), size, value: hex(value, size * 2) });
        if (traceIo) t(`${cpu.cycles} vm${this.id} io ${dir} port=${hex(port, 4)} size=${size} value=${hex(value, size * 2)} dev=${name}${trapped ? ' exit' : ''}`);
        // An exit line for each trapped access that took an exit (not the later elements of a REP string).
        if (traceExit && trapped && cpu.ioRepeat === 0) t(`${cpu.cycles} vm${this.id} exit io-${dir} port=${hex(port, 4)} size=${size} value=${hex(value, size * 2)} handler=${name}`);
      };
      mmio.trace = (dir, addr, size, value, range) => {
        const name = range ? range.name : 'none', trapped = range !== null && range.trapped;
        if (timeline && trapped) timeline.slice(tid, `exit mmio-${dir} ${name}`, cpu.cycles - exitCycles, cpu.cycles, 'exit', { addr: hex(addr, 8), size, value: hex(value, size * 2) });
        if (traceIo) t(`${cpu.cycles} vm${this.id} io mmio-${dir} addr=${hex(addr, 8)} size=${size} value=${hex(value, size * 2)} dev=${name}${trapped ? ' exit' : ''}`);
        if (traceExit && trapped) t(`${cpu.cycles} vm${this.id} exit mmio-${dir} addr=${hex(addr, 8)} size=${size} value=${hex(value, size * 2)} handler=${name}`);
      };
    }
    const vmTrace = this.trace ? (line: string) => this.trace!(line.replace(/^(\d+) /, `$1 vm${this.id} `)) : null;
    this.platform = new Platform({
      clock: opts.clock, costs: opts.costs, memoryBytes: opts.ram.length, rtcStart: opts.rtcStart,
      console: opts.console, trace: vmTrace, traceIrq: opts.traceKinds.has('irq'), apic: opts.apic === true,
    }, {
      setIntr: (level) => { cpu.irqLine = level; },
      setA20: (on) => cpu.setA20(on),
      end: (how) => { if (!this.exited && this.ended === null) this.ended = how; cpu.requestStop(); },
      exit: () => { if (this.ended === null) this.exited = true; cpu.requestStop(); },
      cycles: () => cpu.cycles,
      fpu: cpu.fpu,
    }, this.trapMapper, this.trapMmio);
    this.platform.reset();
    this.cpu.reset();
  }

  /** Bus-master DMA in guest-physical addresses, bounded by the VM's memory (a virtual card's). */
  readonly guestDma: DmaPort;

  /** Loads a kernel (a Linux bzImage or Multiboot, see bootKernel) and leaves the CPU at its entry. */
  boot(image: Uint8Array, cmdline: string, initrd: Uint8Array | null = null): void {
    bootKernel(this.cpu, this.ram, this.platform, image, cmdline, initrd);
  }

  /** Whether the VM has work for the CPU: not ended, and not halted unless an interrupt will wake it. */
  get runnable(): boolean {
    if (this.end !== null || this.blocked) return false;
    const cpu = this.cpu;
    return !cpu.halted || (cpu.irqLine && (cpu.flags & 0x200) !== 0);
  }

  /** The counter for trapped ranges named `name`, port or memory (one line per hook name in the exit report). */
  trapCounter(name: string): RangeCounter {
    let c = this.ports.counters.get(name);
    if (!c) { c = newCounter(name); this.ports.counters.set(name, c); }
    return c;
  }

  // ---- CpuBus ----

  mmioRead(addr: number, size: number): number {
    return this.mmio.read(addr, size);
  }

  mmioWrite(addr: number, size: number, value: number): void {
    this.mmio.write(addr, size, value);
  }

  ioRead(port: number, size: number): number {
    return this.ports.read(port, size);
  }

  ioWrite(port: number, size: number, value: number): void {
    this.ports.write(port, size, value);
  }

  acknowledgeInterrupt(): number {
    this.opts.clock.now = this.cpu.cycles;
    this.opts.charge(this, this.stats.irq, this.opts.costs.irqInjectCycles);
    return this.platform.acknowledge();
  }

  /** The VM's local APIC, with `apic` (CpuBus: CPUID and IA32_APIC_BASE see it). */
  get localApic(): LocalApic | null {
    return this.platform.lapic;
  }

  /** Port exits by hook name. */
  portCounters(): RangeCounter[] {
    return [...this.ports.counters.values()];
  }

  /** Cycles of the port exits (exit and handler), all of them spent inside the VM's slices. */
  private get trapCycles(): number {
    let n = 0;
    for (const c of this.ports.counters.values()) n += c.cyclesIn + c.cyclesOut;
    return n;
  }

  /** All hypervisor cycles charged to this VM: port exits and other work. */
  get hypervisorCycles(): number {
    let n = this.trapCycles;
    for (const w of this.stats.work()) n += w.cycles;
    return n;
  }

  /** Cycles the guest itself ran (its instructions and direct device latency). */
  get guestCycles(): number {
    return this.stats.runCycles - this.stats.hvInSlice - this.trapCycles;
  }
}

function hex(v: number, width = 2): string {
  return '0x' + (v >>> 0).toString(16).padStart(width, '0');
}
