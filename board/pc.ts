/**
 * The PC, the bare machine of `native` mode: the CPU, RAM, one clock, the port bus,
 * the platform devices (platform.ts has the port and IRQ map) and optionally a network
 * card on an Ethernet segment with built-in peers.
 *
 * The machine runs the CPU up to the next timer on the clock, fires what is due, and
 * repeats, until the guest exits, the cycle limit, a triple fault, or a halt nothing
 * can end. No host clock anywhere: a run is a function of image, options and seed.
 */
import { Cpu } from '../cpu/cpu';
import { CpuBus, StopReason } from '../cpu/bus';
import { machineMemory } from '../cpu/memory';
import { EAX, EBX, ECX, EDX, ESI, EDI, EBP, ESP } from '../cpu/registers';
import { Clock } from '../devices/clock';
import { Costs, DEFAULT_COSTS } from '../devices/costs';
import { PortBus, PortRange } from '../devices/port-bus';
import { MmioBus } from '../devices/mmio-bus';
import type { LocalApic } from '../devices/lapic';
import { DualPic } from '../devices/pic8259';
import { Pit8254 } from '../devices/pit8254';
import { CmosRtc } from '../devices/cmos';
import { Port92 } from '../devices/port92';
import { Uart16550 } from '../devices/uart16550';
import { PciHost } from '../devices/pci';
import { DebugConsole, DebugExit } from '../devices/debug-ports';
import { loadMultiboot, Handover, BadImage } from './multiboot';
import { isLinuxImage, loadLinux } from './linux';
import { Ne2000 } from '../devices/ne2000';
import { Rtl8139, DmaPort, ramDma } from '../devices/rtl8139';
import { Wire } from '../devices/net/wire';
import { Platform, PortMapper, MachineEnd, plugNic } from './platform';
import { writeAcpiTables } from './acpi';
import { Timeline } from './timeline';
import { buildSegment, Peer, PeerSpec } from './segment';
import { NicKind, NIC_KINDS, DEFAULT_MAC, nicName } from '../devices/nic';

export type { NicKind };
export { NIC_KINDS, DEFAULT_MAC };

export type { PeerSpec } from './segment';

export interface PcOptions {
  memoryBytes: number;
  costs?: Costs;
  /** Unix seconds the RTC starts at (the CLI derives it from --seed). */
  rtcStart?: number;
  /** Every byte the guest prints on COM1 or port 0xE9. */
  console?: (byte: number) => void;
  /** One line per traced event, when tracing (see TraceKinds). */
  trace?: ((line: string) => void) | null;
  traceKinds?: ReadonlySet<string>;
  /** A network card: the NE2000 on PCI (RTL8029) or ISA (0x300, IRQ 9), or the RTL8139. */
  nic?: NicKind;
  mac?: Uint8Array;
  /** Built-in stations on the card's segment. */
  peers?: PeerSpec[];
  /** Every frame on the segment goes here, in classic pcap format. */
  pcapPath?: string;
  /** Record the run: the CPU's running time, the frames on the wire. */
  timeline?: Timeline | null;
  /** A local APIC and an I/O APIC, as QEMU's `pc` has (board/platform.ts); default: none, only the 8259s. */
  apic?: boolean;
}

export type RunResult =
  | { kind: 'exit'; value: number; status: number }
  /** The guest reset the machine or powered it off: status 0, as `qemu -no-reboot`. */
  | { kind: MachineEnd; status: 0 }
  | { kind: 'limit' }
  /** A debugger stopped the run (Pc.pause): run again to go on. */
  | { kind: 'paused' }
  | { kind: 'triple-fault'; message: string }
  | { kind: 'halted'; message: string };

/** 2000-01-01T00:00:00Z: the RTC's start when no seed says otherwise. */
export const DEFAULT_RTC_START = 946684800;

/** The machine's trace kinds: port accesses, interrupts, frames on the wire, the card's own remarks (a write it ignored, a transfer it refused), and POST codes (port 0x80). */
export const TRACE_KINDS = ['io', 'irq', 'net', 'nic', 'post'] as const;

/** The largest firmware image `loadBios` takes (QEMU's own limit is the 4 GiB hole; 16 MiB holds any PC firmware). */
export const BIOS_MAX_BYTES = 16 << 20;
/** How much of a firmware image also appears below 1 MiB (QEMU's isa-bios: at most 128 KiB). */
const ISA_BIOS_MAX_BYTES = 128 << 10;

function hex(v: number, width = 2): string {
  return '0x' + (v >>> 0).toString(16).padStart(width, '0');
}

/**
 * What firmware and a Multiboot loader do before a kernel runs, on any machine or VM:
 * the image loaded into `ram`, PCI set up as SeaBIOS does, the interrupt controllers
 * and the timer as SeaBIOS leaves them, and the CPU as QEMU's Multiboot option ROM
 * hands it over (flat 32-bit protected mode on the loader's GDT, the registers of
 * `Handover` in multiboot.ts).
 */
/**
 * Loads a kernel as the loader its format asks for (a Linux bzImage by its setup
 * header, else Multiboot), leaves the devices as the firmware does, and the CPU at the
 * kernel's entry. `cmdline` is the kernel's command line as it gets it (for Multiboot,
 * the caller puts the kernel's name first, as GRUB and QEMU do); `initrd` only for Linux.
 */
export function bootKernel(cpu: Cpu, ram: Uint8Array, platform: Platform, image: Uint8Array, cmdline: string, initrd: Uint8Array | null = null): { handover: Handover; linux: boolean } {
  let handover: Handover;
  const linux = isLinuxImage(image);
  if (linux) {
    handover = loadLinux(image, ram, cmdline, initrd).handover;
  } else {
    if (initrd) throw new BadImage('an initrd is for a Linux bzImage; this kernel is Multiboot (give its modules some other way, or boot a bzImage)');
    handover = loadMultiboot(image, ram, cmdline).handover;
  }
  enterKernel(cpu, ram, platform, handover);
  return { handover, linux };
}

function enterKernel(cpu: Cpu, ram: Uint8Array, platform: Platform, h: Handover): void {
  platform.firmwareSetup();
  writeAcpiTables(ram, platform.lapic !== null);
  firmwareInterruptSetup(platform);
  cpu.invalidateCode(0, ram.length);
  cpu.enterFlat32(h.eip, h.cs, h.ds);
  cpu.setCr0(h.cr0);
  cpu.gdtrBase = h.gdtBase; cpu.gdtrLimit = h.gdtLimit;
  cpu.idtrBase = h.idtBase; cpu.idtrLimit = h.idtLimit;
  const r = cpu.reg32;
  r[EAX] = h.eax; r[EBX] = h.ebx; r[ECX] = h.ecx; r[EDX] = h.edx;
  r[ESI] = h.esi; r[EDI] = h.edi; r[EBP] = h.ebp; r[ESP] = h.esp;
  cpu.flags = h.eflags;
}

/**
 * The 8259As and the 8254 as SeaBIOS 1.16 leaves them for a boot loader under QEMU
 * (read back by guests/programs/boot-state.S): the master at vectors 0x08-0x0F, the
 * slave at 0x70-0x77, both edge-triggered (but for the ELCR) and fully nested, IMRs
 * 0xB8 and 0x8E (IRQs 0, 1, 2, 6, 8, 12, 13, 14 unmasked); PIT channel 0 in mode 2
 * with count 0 (65536: 18.2 Hz), counting from the boot, so IRQ 0 is pending within
 * 55 ms. Interrupts stay off (IF 0) until the kernel sets IF.
 */
function firmwareInterruptSetup(platform: Platform): void {
  const pic = platform.pic, pit = platform.pit;
  for (const [port, v] of [[0x20, 0x11], [0x21, 0x08], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x70], [0xa1, 0x02], [0xa1, 0x01], [0x21, 0xb8], [0xa1, 0x8e]]) {
    pic.write(port, v);
  }
  pit.write(0x43, 0x34);
  pit.write(0x40, 0);
  pit.write(0x40, 0);
}

/** Throws BadImage unless `image` is a firmware image `Pc.loadBios` takes: a whole number of 64 KiB blocks, at most BIOS_MAX_BYTES. */
export function checkBiosImage(image: Uint8Array): void {
  const size = image.length;
  if (size === 0 || size % 0x10000 !== 0) throw new BadImage(`a firmware image is a whole number of 64 KiB blocks, as qemu-system-i386 -bios takes; this one is ${size} bytes`);
  if (size > BIOS_MAX_BYTES) throw new BadImage(`a firmware image is at most ${BIOS_MAX_BYTES >> 20} MiB; this one is ${size} bytes`);
}

export class Pc implements CpuBus {
  readonly ram: Uint8Array;
  /** The CPU's area of the machine's memory, beside RAM (cpu/memory.ts). */
  readonly area: Uint8Array;
  readonly wasmMemory: WebAssembly.Memory | null;
  readonly cpu: Cpu;
  readonly costs: Costs;
  readonly clock: Clock;
  readonly ports = new PortBus();
  /** Memory-mapped I/O past the top of RAM (the RTL8139's BAR1). */
  readonly mmio = new MmioBus();
  readonly platform: Platform;
  readonly pic: DualPic;
  readonly pit: Pit8254;
  readonly cmos: CmosRtc;
  readonly port92: Port92;
  readonly com1: Uart16550;
  readonly pci: PciHost;
  readonly debugConsole: DebugConsole;
  readonly debugExit: DebugExit;
  readonly ne2000: Ne2000 | null = null;
  readonly rtl8139: Rtl8139 | null = null;
  readonly wire: Wire | null = null;
  readonly peers: Peer[] = [];
  private exited = false;
  /** The guest reset the machine or powered it off. */
  private ended: MachineEnd | null = null;
  private readonly trace: ((line: string) => void) | null;

  constructor(readonly options: PcOptions) {
    const costs = options.costs ?? DEFAULT_COSTS;
    this.costs = costs;
    const memory = machineMemory(options.memoryBytes, 1);
    this.ram = memory.ram;
    this.area = memory.areas[0];
    this.wasmMemory = memory.wasm;
    this.clock = new Clock(costs.cpuHz);
    this.cpu = new Cpu(this);
    this.cpu.setCosts(costs);
    this.dmaPort = ramDma(this.ram, (addr, length) => this.cpu.invalidateCode(addr, length));
    this.trace = options.trace ?? null;
    const kinds = options.traceKinds ?? new Set<string>();

    const cpu = this.cpu;
    const busMapper: PortMapper<PortRange> = {
      map: (name, base, length, device, cycles) => this.ports.map(name, base, length, device, cycles),
      unmap: (range) => this.ports.remove(range),
    };
    const mmioMapper: PortMapper<PortRange> = {
      map: (name, base, length, device, cycles) => this.mmio.map(name, base, length, device, cycles),
      unmap: (range) => this.mmio.remove(range),
    };
    this.platform = new Platform({
      clock: this.clock, costs, memoryBytes: options.memoryBytes, rtcStart: options.rtcStart ?? DEFAULT_RTC_START,
      console: options.console, trace: this.trace, traceIrq: kinds.has('irq'), tracePost: kinds.has('post'),
      apic: options.apic === true,
    }, {
      setIntr: (level) => { cpu.irqLine = level; },
      setA20: (on) => cpu.setA20(on),
      end: (how) => { if (!this.exited && this.ended === null) this.ended = how; cpu.requestStop(); },
      exit: () => { if (this.ended === null) this.exited = true; cpu.requestStop(); },
      cycles: () => cpu.cycles,
      fpu: cpu.fpu,
    }, busMapper, mmioMapper);
    const p = this.platform;
    this.pic = p.pic; this.pit = p.pit; this.cmos = p.cmos; this.port92 = p.port92; this.com1 = p.com1;
    this.pci = p.pci; this.debugConsole = p.debugConsole; this.debugExit = p.debugExit;
    if (options.timeline) options.timeline.track(1, 'cpu');
    if (options.nic) this.addNic(options.nic, options.mac ?? DEFAULT_MAC, options.peers ?? [], options.pcapPath, busMapper, mmioMapper);

    this.ports.charge = (c) => this.cpu.addCycles(c);
    this.mmio.charge = this.ports.charge;
    // A device that arms a timer during a CPU run (a PIT count written, a transmit
    // started) must see it fire on time: the run stops there.
    this.clock.onSchedule = (at) => this.cpu.stopAt(at);
    this.ports.syncTime = () => { this.clock.now = this.cpu.cycles; };
    this.mmio.syncTime = this.ports.syncTime;
    if (this.trace && kinds.has('io')) {
      const t = this.trace;
      this.ports.trace = (dir, port, size, value, range: PortRange | null) => {
        t(`${this.cpu.cycles} io ${dir} port=${hex(port, 4)} size=${size} value=${hex(value, size * 2)} dev=${range ? range.name : 'none'}`);
      };
      this.mmio.trace = (dir, addr, size, value, range: PortRange | null) => {
        t(`${this.cpu.cycles} io mmio-${dir} addr=${hex(addr, 8)} size=${size} value=${hex(value, size * 2)} dev=${range ? range.name : 'none'}`);
      };
    }
    this.reset();
  }

  /** Bus-master DMA into guest RAM: bounds-checked, and translated code there is dropped. */
  private readonly dmaPort: DmaPort;

  private addNic(kind: NicKind, mac: Uint8Array, peers: PeerSpec[], pcapPath: string | undefined, mapper: PortMapper<PortRange>, mmioMapper: PortMapper<PortRange>): void {
    const self = this as { -readonly [K in keyof Pc]: Pc[K] };
    const { nic, wire, peers: stations } = buildSegment(this.clock, {
      kind, mac, peers, pcapPath, trace: this.trace, traceKinds: this.options.traceKinds, timeline: this.options.timeline,
    });
    self.wire = wire;
    this.peers.push(...stations);
    const card = nic.card;
    card.port = wire.attach({ name: nicName(kind), receive: (f) => card.receive(f) });
    if (card instanceof Rtl8139) { self.rtl8139 = card; card.dma = this.dmaPort; } else self.ne2000 = card;
    plugNic(this.platform, nic, mapper, this.costs, mmioMapper);
  }

  /** Closes what the run opened (the pcap file). */
  close(): void {
    this.wire?.pcap?.close();
    if (this.wire) this.wire.pcap = null;
  }

  reset(): void {
    this.platform.reset();
    this.cpu.reset();
    this.exited = false;
    this.ended = null;
  }

  // ---- CpuBus ----

  ioRead(port: number, size: number): number {
    return this.ports.read(port, size);
  }

  ioWrite(port: number, size: number, value: number): void {
    this.ports.write(port, size, value);
  }

  mmioRead(addr: number, size: number): number {
    return this.mmio.read(addr, size);
  }

  mmioWrite(addr: number, size: number, value: number): void {
    this.mmio.write(addr, size, value);
  }

  ioWriteBlock(port: number, size: number, at: number, count: number, budget: number, extraCycles: number): number {
    return this.ports.writeBlock(port, size, this.ram, at, count, budget, extraCycles);
  }

  ioReadBlock(port: number, size: number, at: number, count: number, budget: number, extraCycles: number): number {
    return this.ports.readBlock(port, size, this.ram, at, count, budget, extraCycles);
  }

  acknowledgeInterrupt(): number {
    this.clock.now = this.cpu.cycles;
    return this.platform.acknowledge();
  }

  /** The local APIC, with `apic` (CpuBus: CPUID and IA32_APIC_BASE see it). */
  get localApic(): LocalApic | null {
    return this.platform.lapic;
  }

  // ---- Booting and running ----

  /**
   * Loads a Multiboot kernel and sets the machine up as firmware and a Multiboot
   * loader hand it over (PCI BARs and IRQ lines assigned as SeaBIOS does).
   */
  /** Loads a kernel (a Linux bzImage or Multiboot, see bootKernel) and leaves the CPU at its entry. */
  boot(image: Uint8Array, cmdline: string, initrd: Uint8Array | null = null): void {
    bootKernel(this.cpu, this.ram, this.platform, image, cmdline, initrd);
  }

  /**
   * Puts a raw firmware image where `qemu-system-i386 -bios` puts it: read-only at the
   * top of the 4 GiB space (ending at 0xFFFFFFFF, so its last 16 bytes hold the reset
   * vector), and its last 128 KiB (all of it when smaller) also just below 1 MiB
   * (QEMU's isa-bios alias: 0xE0000-0xFFFFF for a 128 KiB image). The CPU is left in its
   * reset state, at F000:FFF0 with CS's base FFFF0000, so its first instruction is the
   * image's 16th byte from the end. The image's size must be a multiple of 64 KiB, as
   * QEMU requires. Below 1 MiB the copy is RAM: unlike QEMU's, which is read-only until
   * firmware opens the PAM registers, writes there stick.
   */
  loadBios(image: Uint8Array): void {
    checkBiosImage(image);
    const size = image.length;
    const rom = image.slice();
    const top = 0x100000000 - size;
    if (this.bios !== null) this.mmio.remove(this.bios);
    this.bios = this.mmio.map('bios', top, size, {
      read: (off, n) => (n === 1 ? rom[off] : n === 2 ? rom[off] | (rom[off + 1] << 8) : (rom[off] | (rom[off + 1] << 8) | (rom[off + 2] << 16) | (rom[off + 3] << 24)) >>> 0),
      write: () => {},
    }, 0);
    const low = Math.min(size, ISA_BIOS_MAX_BYTES);
    const at = 0x100000 - low;
    this.ram.set(rom.subarray(size - low), at);
    this.cpu.invalidateCode(at, low);
    this.reset();
  }

  private bios: PortRange | null = null;

  /** Runs until the guest exits or `maxCycles` (absolute) is reached. */
  /**
   * Makes the current run() return `paused` after the current instruction (or, from a
   * tracer's `before`, before the next), with the devices brought up to that cycle: how a
   * debugger stops the machine (debug/session.ts). Outside a run, the next run returns at once.
   */
  pause(): void {
    this.paused = true;
    this.cpu.requestStop();
  }

  private paused = false;

  run(maxCycles: number): RunResult {
    const cpu = this.cpu, clock = this.clock;
    for (;;) {
      if (this.paused) {
        this.paused = false;
        return { kind: 'paused' };
      }
      if (this.exited) {
        const value = this.debugExit.value;
        return { kind: 'exit', value, status: DebugExit.status(value) };
      }
      if (this.ended !== null) return { kind: this.ended, status: 0 };
      const now = cpu.cycles;
      if (now >= maxCycles) return { kind: 'limit' };
      const until = Math.min(clock.nextDue(), maxCycles);
      if (until > now) {
        const done = cpu.instructions;
        const why = cpu.run(until - now);
        // On the timeline, the time the CPU ran instructions (not the time it sat halted).
        if (this.options.timeline && cpu.instructions !== done) this.options.timeline.slice(1, 'guest', now, cpu.halted ? now + (cpu.instructions - done) * cpu.instructionCycles : cpu.cycles, 'run');
        if (why === StopReason.TripleFault) return { kind: 'triple-fault', message: cpu.stopMessage };
        if (why === StopReason.Dead) {
          return { kind: 'halted', message: 'the CPU halted with interrupts disabled' };
        }
        if (why === StopReason.Halt && clock.nextDue() === Infinity && !cpu.irqLine) {
          return { kind: 'halted', message: 'the CPU halted and no device will ever interrupt it' };
        }
        // Stopped by the limit or a pause rather than by an event: a REP INS/OUTS it split
        // goes on as one string (Cpu.resumeRepeat).
        if (this.paused || (cpu.cycles >= maxCycles && maxCycles < clock.nextDue())) cpu.resumeRepeat();
      }
      clock.advanceTo(cpu.cycles);
    }
  }
}
