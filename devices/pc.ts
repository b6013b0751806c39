/**
 * The PC: the CPU, RAM, one clock, the port bus and the platform devices wired as on
 * a PIIX-class machine (QEMU's `pc`):
 *
 *   0x20-0x21, 0xA0-0xA1, 0x4D0-0x4D1  8259A pair and ELCR     IRQ 2 cascade
 *   0x40-0x43, 0x61                     8254 PIT, port B        IRQ 0
 *   0x70-0x71                           MC146818A CMOS/RTC      IRQ 8
 *   0x92                                port A (A20, reset)
 *   0x3F8-0x3FF                         16550A COM1             IRQ 4
 *   0xCF8-0xCFF                         PCI configuration #1    (i440FX, PIIX3/4 functions)
 *   0xE9                                debug console
 *   0xF4-0xF7                           isa-debug-exit
 *   0x80                                POST code (a sink, for I/O delays)
 *
 * The machine runs the CPU up to the next timer on the clock, fires what is due, and
 * repeats, until the guest exits, the cycle limit, a triple fault, or a halt nothing
 * can end. No host clock anywhere: a run is a function of image, options and seed.
 */
import { Cpu } from '../cpu/cpu';
import { CpuBus, StopReason } from '../cpu/bus';
import { EAX, EBX } from '../cpu/registers';
import { Clock } from './clock';
import { Costs, DEFAULT_COSTS } from './costs';
import { PortBus, PortDevice, PortRange } from './port-bus';
import { DualPic } from './pic8259';
import { Pit8254 } from './pit8254';
import { CmosRtc } from './cmos';
import { Port92 } from './port92';
import { Uart16550 } from './uart16550';
import { PciHost, addI440fxChipset, firmwareSetup } from './pci';
import { DebugConsole, DebugExit } from './debug-ports';
import { loadMultiboot, LoadedKernel, MB_BOOTLOADER_MAGIC } from './multiboot';
import { PciFunction } from './pci';
import { Ne2000 } from './ne2000';
import { Rtl8139, DmaPort } from './rtl8139';
import { Wire, EchoPeer, SinkPeer, SourcePeer, SourceOptions } from './net/wire';
import { PcapWriter } from './net/pcap';

export type NicKind = 'ne2000' | 'ne2000-isa' | 'rtl8139';
export const NIC_KINDS: readonly NicKind[] = ['ne2000', 'ne2000-isa', 'rtl8139'];
/** QEMU's default MAC for a guest's first NIC. */
export const DEFAULT_MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

export type PeerSpec = { kind: 'echo' } | { kind: 'sink' } | ({ kind: 'source' } & SourceOptions);

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
}

export type RunResult =
  | { kind: 'exit'; value: number; status: number }
  | { kind: 'limit' }
  | { kind: 'triple-fault'; message: string }
  | { kind: 'halted'; message: string };

/** 2000-01-01T00:00:00Z: the RTC's start when no seed says otherwise. */
export const DEFAULT_RTC_START = 946684800;

export const TRACE_KINDS = ['io', 'irq', 'net'] as const;

function hex(v: number, width = 2): string {
  return '0x' + (v >>> 0).toString(16).padStart(width, '0');
}

export class Pc implements CpuBus {
  readonly ram: Uint8Array;
  readonly cpu: Cpu;
  readonly costs: Costs;
  readonly clock: Clock;
  readonly ports = new PortBus();
  readonly pic = new DualPic();
  readonly pit: Pit8254;
  readonly cmos: CmosRtc;
  readonly port92 = new Port92();
  readonly com1: Uart16550;
  readonly pci = new PciHost();
  readonly debugConsole = new DebugConsole();
  readonly debugExit = new DebugExit();
  readonly ne2000: Ne2000 | null = null;
  readonly rtl8139: Rtl8139 | null = null;
  readonly wire: Wire | null = null;
  readonly peers: (EchoPeer | SinkPeer | SourcePeer)[] = [];
  private exited = false;
  private readonly trace: ((line: string) => void) | null;
  private readonly traceIrq: boolean;
  private readonly loggedIgnored = new Set<string>();

  constructor(readonly options: PcOptions) {
    const costs = options.costs ?? DEFAULT_COSTS;
    this.costs = costs;
    this.ram = new Uint8Array(options.memoryBytes);
    this.clock = new Clock(costs.cpuHz);
    this.cpu = new Cpu(this);
    this.cpu.instructionCycles = costs.instructionCycles;
    this.pit = new Pit8254(this.clock, costs.pitHz);
    this.cmos = new CmosRtc(this.clock, options.rtcStart ?? DEFAULT_RTC_START, options.memoryBytes);
    this.com1 = new Uart16550(this.clock);
    this.trace = options.trace ?? null;
    const kinds = options.traceKinds ?? new Set<string>();
    this.traceIrq = this.trace !== null && kinds.has('irq');

    const out = options.console ?? (() => {});
    this.com1.onTransmit = out;
    this.debugConsole.onOutput = out;
    this.debugExit.onExit = () => { this.exited = true; this.cpu.requestStop(); };

    // Interrupt wiring.
    this.pic.onOutput = (level) => { this.cpu.irqLine = level; };
    this.pit.onIrq0 = () => { this.irqTrace('raise', 0); this.pic.pulseIrq(0); };
    this.cmos.onIrq8 = () => { this.irqTrace('raise', 8); this.pic.pulseIrq(8); };
    this.com1.onIrq = (level) => { this.irqTrace(level ? 'raise' : 'lower', 4); this.pic.setIrq(4, level); };
    this.port92.onA20 = (on) => this.cpu.setA20(on);
    this.port92.onReset = () => this.cpu.reset();
    this.pic.onIgnoredWrite = (port, v) => this.ignored('pic', port, v);
    this.pit.onIgnoredWrite = (port, v) => this.ignored('pit', port, v);
    this.com1.onIgnoredWrite = (off, v) => this.ignored('com1', 0x3f8 + off, v);
    this.cmos.onIgnoredWrite = (index, v) => this.ignored('cmos', 0x71, (index << 8) | v);

    // The port map.
    const chip = costs.chipsetAccessCycles, isa = costs.isaAccessCycles;
    const pic = this.pic, pit = this.pit, cmos = this.cmos, p92 = this.port92;
    const byBase = (base: number, read: (port: number) => number, write: (port: number, v: number) => void): PortDevice => ({
      read: (off) => read(base + off),
      write: (off, _size, v) => write(base + off, v & 0xff),
    });
    this.ports.map('pic-master', 0x20, 2, byBase(0x20, (p) => pic.read(p), (p, v) => pic.write(p, v)), chip);
    this.ports.map('pic-slave', 0xa0, 2, byBase(0xa0, (p) => pic.read(p), (p, v) => pic.write(p, v)), chip);
    this.ports.map('elcr', 0x4d0, 2, byBase(0x4d0, (p) => pic.read(p), (p, v) => pic.write(p, v)), chip);
    this.ports.map('pit', 0x40, 4, byBase(0x40, (p) => pit.read(p), (p, v) => pit.write(p, v)), chip);
    this.ports.map('port-b', 0x61, 1, byBase(0x61, (p) => pit.read(p), (p, v) => pit.write(p, v)), chip);
    this.ports.map('cmos', 0x70, 2, byBase(0x70, (p) => cmos.read(p), (p, v) => cmos.write(p, v)), chip);
    this.ports.map('port-a', 0x92, 1, { read: () => p92.read(), write: (_o, _s, v) => p92.write(v) }, chip);
    this.ports.map('com1', 0x3f8, 8, this.com1, isa);
    this.ports.map('pci-config', 0xcf8, 8, { read: (off, size) => this.pci.read(0xcf8 + off, size), write: (off, size, v) => this.pci.write(0xcf8 + off, size, v) }, chip);
    this.ports.map('debug-console', 0xe9, 1, this.debugConsole, isa);
    this.ports.map('debug-exit', 0xf4, 4, this.debugExit, isa);
    this.ports.map('post', 0x80, 1, { read: () => 0xff, write: () => {} }, isa);
    addI440fxChipset(this.pci);
    if (options.nic) this.addNic(options.nic, options.mac ?? DEFAULT_MAC, options.peers ?? [], options.pcapPath);

    this.ports.charge = (c) => this.cpu.addCycles(c);
    // A device that arms a timer during a CPU run (a PIT count written, a transmit
    // started) must see it fire on time: the run stops there.
    this.clock.onSchedule = (at) => this.cpu.stopAt(at);
    this.ports.syncTime = () => { this.clock.now = this.cpu.cycles; };
    if (this.trace && kinds.has('io')) {
      const t = this.trace;
      this.ports.trace = (dir, port, size, value, range: PortRange | null) => {
        t(`${this.cpu.cycles} io ${dir} port=${hex(port, 4)} size=${size} value=${hex(value, size * 2)} dev=${range ? range.name : 'none'}`);
      };
    }
    this.reset();
  }

  /** Bus-master DMA into guest RAM: bounds-checked, and translated code there is dropped. */
  private readonly dmaPort: DmaPort = {
    read: (addr, dst) => {
      if (addr < 0 || addr + dst.length > this.ram.length) return false;
      dst.set(this.ram.subarray(addr, addr + dst.length));
      return true;
    },
    write: (addr, src) => {
      if (addr < 0 || addr + src.length > this.ram.length) return false;
      this.ram.set(src, addr);
      this.cpu.invalidateCode(addr, src.length);
      return true;
    },
  };

  private addNic(kind: NicKind, mac: Uint8Array, peers: PeerSpec[], pcapPath?: string): void {
    const self = this as { -readonly [K in keyof Pc]: Pc[K] };
    const wire = new Wire(this.clock, kind === 'rtl8139' ? 100e6 : 10e6);
    self.wire = wire;
    if (pcapPath) wire.pcap = new PcapWriter(pcapPath);
    if (this.trace && (this.options.traceKinds ?? new Set()).has('net')) wire.trace = this.trace;
    const log = (m: string) => this.trace?.(`${this.cpu.cycles} ${m}`);
    if (kind === 'rtl8139') {
      const nic = new Rtl8139(this.clock, { mac });
      self.rtl8139 = nic;
      nic.dma = this.dmaPort;
      nic.onLog = log;
      nic.port = wire.attach({ name: 'rtl8139', receive: (f) => nic.receive(f) });
      const fn = new PciFunction('RTL8139', { vendor: 0x10ec, device: 0x8139, revision: 0x10, classCode: 0x020000, interruptPin: 1, subsystemVendor: 0x10ec, subsystem: 0x8139 },
        [{ size: 256, io: true }, { size: 256, io: false }]);
      this.pci.add(3, 0, fn);
      this.mapPciIo(fn, 'rtl8139', nic, () => { nic.busMaster = fn.busMaster; });
      nic.onIrq = (level) => this.pciIrq(fn, level);
    } else {
      const nic = new Ne2000(this.clock, { mac, pci: kind === 'ne2000' });
      self.ne2000 = nic;
      nic.onLog = log;
      nic.port = wire.attach({ name: 'ne2000', receive: (f) => nic.receive(f) });
      if (kind === 'ne2000-isa') {
        this.ports.map('ne2000', 0x300, 0x20, nic, this.costs.isaAccessCycles);
        nic.onIrq = (level) => { this.irqTrace(level ? 'raise' : 'lower', 9); this.pic.setIrq(9, level); };
      } else {
        const fn = new PciFunction('RTL8029 (NE2000)', { vendor: 0x10ec, device: 0x8029, revision: 0x00, classCode: 0x020000, interruptPin: 1 },
          [{ size: 32, io: true }]);
        this.pci.add(3, 0, fn);
        this.mapPciIo(fn, 'ne2000', nic, () => {});
        nic.onIrq = (level) => this.pciIrq(fn, level);
      }
    }
    for (const p of peers) {
      if (p.kind === 'echo') this.peers.push(new EchoPeer(wire));
      else if (p.kind === 'sink') this.peers.push(new SinkPeer(wire));
      else this.peers.push(new SourcePeer(wire, p));
    }
  }

  /** Keeps a PCI function's BAR0 I/O range mapped where the guest (or firmware) put it, while I/O is enabled. */
  private mapPciIo(fn: PciFunction, name: string, dev: PortDevice, onCommand: () => void): void {
    let range: PortRange | null = null;
    fn.onMappingChange = () => {
      onCommand();
      if (range) { this.ports.unmap(range); range = null; }
      const base = fn.barAddress(0);
      const size = fn.bars[0]!.size;
      if (fn.ioEnabled && base !== 0 && base + size <= 0x10000) {
        try {
          range = this.ports.map(name, base, size, dev, this.costs.pciAccessCycles);
        } catch {
          this.trace?.(`${this.cpu.cycles} ${name}: BAR0 at 0x${base.toString(16)} overlaps another device; not mapped`);
        }
      }
    };
  }

  /** A PCI device's INTA# goes to the ISA IRQ its interrupt line names (level-triggered). */
  private pciIrq(fn: PciFunction, level: boolean): void {
    const irq = fn.interruptLine;
    if (irq === 0 || irq > 15 || irq === 2) return;
    this.irqTrace(level ? 'raise' : 'lower', irq);
    this.pic.setIrq(irq, level);
  }

  /** Closes what the run opened (the pcap file). */
  close(): void {
    this.wire?.pcap?.close();
    if (this.wire) this.wire.pcap = null;
  }

  reset(): void {
    this.pic.reset();
    this.pit.reset();
    this.cmos.reset();
    this.com1.reset();
    this.port92.reset();
    this.cpu.reset();
    this.exited = false;
  }

  private irqTrace(what: string, irq: number): void {
    if (this.traceIrq) this.trace!(`${this.clock.now} irq ${what} irq=${irq}`);
  }

  /** A write a device model does not implement: logged once per (device, port, value) under --trace. */
  private ignored(dev: string, port: number, value: number): void {
    if (!this.trace) return;
    const key = `${dev}:${port}:${value}`;
    if (this.loggedIgnored.has(key)) return;
    this.loggedIgnored.add(key);
    this.trace(`${this.cpu.cycles} ignored dev=${dev} port=${hex(port, 4)} value=${hex(value)}`);
  }

  // ---- CpuBus ----

  ioRead(port: number, size: number): number {
    return this.ports.read(port, size);
  }

  ioWrite(port: number, size: number, value: number): void {
    this.ports.write(port, size, value);
  }

  acknowledgeInterrupt(): number {
    this.clock.now = this.cpu.cycles;
    const vector = this.pic.acknowledge();
    if (this.traceIrq) this.trace!(`${this.cpu.cycles} irq ack vector=${hex(vector)}`);
    return vector;
  }

  // ---- Booting and running ----

  /**
   * Loads a Multiboot kernel and sets the machine up as firmware and a Multiboot
   * loader hand it over (PCI BARs and IRQ lines assigned as SeaBIOS does).
   */
  boot(image: Uint8Array, cmdline: string): LoadedKernel {
    const k = loadMultiboot(image, this.ram, cmdline);
    firmwareSetup(this.pci);
    // SeaBIOS makes the PCI interrupt lines (10 and 11) level-triggered in the ELCR.
    this.pic.write(0x4d1, 0x0c);
    this.cpu.invalidateCode(0, this.ram.length);
    this.cpu.enterFlat32(k.entry);
    this.cpu.reg32[EAX] = MB_BOOTLOADER_MAGIC | 0;
    this.cpu.reg32[EBX] = k.infoAddress;
    return k;
  }

  /** Runs until the guest exits or `maxCycles` (absolute) is reached. */
  run(maxCycles: number): RunResult {
    const cpu = this.cpu, clock = this.clock;
    for (;;) {
      if (this.exited) {
        const value = this.debugExit.value;
        return { kind: 'exit', value, status: DebugExit.status(value) };
      }
      const now = cpu.cycles;
      if (now >= maxCycles) return { kind: 'limit' };
      const until = Math.min(clock.nextDue(), maxCycles);
      if (until > now) {
        const why = cpu.run(until - now);
        if (why === StopReason.TripleFault) return { kind: 'triple-fault', message: cpu.stopMessage };
        if (why === StopReason.Dead) {
          return { kind: 'halted', message: 'the CPU halted with interrupts disabled' };
        }
        if (why === StopReason.Halt && clock.nextDue() === Infinity && !cpu.irqLine) {
          return { kind: 'halted', message: 'the CPU halted and no device will ever interrupt it' };
        }
      }
      clock.advanceTo(cpu.cycles);
    }
  }
}
