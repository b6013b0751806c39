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
}

export type RunResult =
  | { kind: 'exit'; value: number; status: number }
  | { kind: 'limit' }
  | { kind: 'triple-fault'; message: string }
  | { kind: 'halted'; message: string };

/** 2000-01-01T00:00:00Z: the RTC's start when no seed says otherwise. */
export const DEFAULT_RTC_START = 946684800;

export const TRACE_KINDS = ['io', 'irq'] as const;

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

    this.ports.charge = (c) => { this.cpu.cycles += c; };
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
