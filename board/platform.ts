/**
 * The platform of a PIIX-class PC (QEMU's `pc`), without CPU, RAM or network card:
 *
 *   0x20-0x21, 0xA0-0xA1, 0x4D0-0x4D1  8259A pair and ELCR     IRQ 2 cascade
 *   0x40-0x43, 0x61                     8254 PIT, port B        IRQ 0
 *   0x60, 0x64                          8042 keyboard controller IRQ 1 (keyboard), 12 (mouse)
 *   0x70-0x71                           MC146818A CMOS/RTC      IRQ 8
 *   0x92                                port A (A20, reset)
 *   0x3F8-0x3FF                         16550A COM1             IRQ 4
 *   0x600-0x63F                         PIIX4 PM (ACPI PM1a, PM timer)  IRQ 9 (SCI)
 *   0xCF8-0xCFF                         PCI configuration #1    (i440FX, PIIX3/4 functions);
 *                                       a byte at 0xCF9: the PIIX reset control register
 *   0xE9                                debug console
 *   0xF4-0xF7                           isa-debug-exit
 *   0x80                                POST code (kept, and traced as `post`; also the I/O delay port)
 *   0xF0                                FPU error latch (FERR# -> IRQ 13)   IRQ 13
 *
 * With `apic` (off by default), a local APIC at 0xFEE00000 and an 82093AA I/O APIC at
 * 0xFEC00000 too, as QEMU's `pc` has them: the 8259's INTR goes to the local APIC's
 * LINT0 (virtual wire, as firmware leaves it), and every ISA IRQ also to the I/O APIC's
 * pin of the same number but IRQ 0, which is on pin 2 (the MADT says so); the CPU takes
 * its interrupts from the local APIC. Without it, nothing says an APIC exists.
 *
 * The bare machine (`Pc`) maps these ports on its port bus; a hypervisor's VM maps the
 * same devices, as its virtual platform, on its own port map. Either way the platform
 * only needs a `PortMapper` and the few lines it drives on the CPU side (`CpuSide`).
 *
 * Every reset line (port 0x92 bit 0, 0xCF9, the 8042's) and the PIIX4's soft-off end the
 * machine's run (`CpuSide.end`), as `qemu-system-i386 -no-reboot` ends on a reset.
 */
import { Clock } from '../devices/clock';
import { Costs } from '../devices/costs';
import { Nic, nicName } from '../devices/nic';
import { Rtl8139 } from '../devices/rtl8139';
import { PortDevice } from '../devices/port-bus';
import { DualPic } from '../devices/pic8259';
import { Pit8254 } from '../devices/pit8254';
import { CmosRtc } from '../devices/cmos';
import { Port92 } from '../devices/port92';
import { Uart16550 } from '../devices/uart16550';
import { PciHost, PciFunction, addI440fxChipset, firmwareSetup } from '../devices/pci';
import { DebugConsole, DebugExit } from '../devices/debug-ports';
import { I8042 } from '../devices/i8042';
import { AcpiPm, ResetControl, PM_BASE, PM_LENGTH, CNT_SCI_EN, PM1_CNT } from '../devices/acpi-pm';
import { LocalApic, LAPIC_BASE } from '../devices/lapic';
import { IoApic, IOAPIC_BASE } from '../devices/ioapic';
import { IOAPIC_ID } from './acpi';
import type { FpuPins } from '../cpu/x87';

/** Where a platform puts its port ranges: a machine's port bus, or a VM's port map. */
export interface PortMapper<H = unknown> {
  /** Maps [base, base+length) to `device`, each access costing `cycles`. Overlaps throw. */
  map(name: string, base: number, length: number, device: PortDevice, cycles: number): H;
  /** Removes a range `map` returned. */
  unmap(handle: H): void;
}

/** What the platform drives on the CPU's side of the board. */
export interface CpuSide {
  /** The PIC's INTR output. */
  setIntr(level: boolean): void;
  setA20(on: boolean): void;
  /**
   * The machine was reset (port 0x92 bit 0, 0xCF9, the 8042's reset line) or powered off
   * (PIIX4 soft-off): the run ends, with status 0, as under `qemu -no-reboot`.
   */
  end(how: MachineEnd): void;
  /** The guest wrote the isa-debug-exit port. */
  exit(): void;
  /** The current machine cycle, for trace lines. */
  cycles(): number;
  /** The x87's FERR# and IGNNE# pins, wired to IRQ 13 and port 0xF0 (absent: not wired). */
  fpu?: FpuPins;
}

/** How a machine's run ended by the guest's hand other than isa-debug-exit. */
export type MachineEnd = 'reset' | 'power-off';

export interface PlatformOptions {
  clock: Clock;
  costs: Costs;
  /** RAM size, for the CMOS memory-size bytes. */
  memoryBytes: number;
  /** Unix seconds the RTC starts at. */
  rtcStart: number;
  /** Every byte the guest prints on COM1 or port 0xE9. */
  console?: (byte: number) => void;
  /** One line per traced event (interrupt lines when `traceIrq`, ignored writes always). */
  trace?: ((line: string) => void) | null;
  traceIrq?: boolean;
  /** A local APIC and an I/O APIC (see the top of this file); their pages go to the `mem` mapper. */
  apic?: boolean;
  /** Trace every POST code written to port 0x80 (`CYCLE post 0xNN`). */
  tracePost?: boolean;
}

/**
 * Port 0x80, the POST diagnostic port: firmware writes its progress codes there (a POST
 * card shows the last), and code of every era writes it for a short I/O delay. It keeps
 * the last code; reads return the open bus's 0xFF, as QEMU's port 0x80 does.
 */
export class PostCode implements PortDevice {
  /** The last code written, or -1 before any. */
  last = -1;
  onCode: ((code: number) => void) | null = null;
  read(): number { return 0xff; }
  write(_offset: number, _size: number, value: number): void {
    this.last = value & 0xff;
    if (this.onCode !== null) this.onCode(this.last);
  }
  reset(): void { this.last = -1; }
}

function hex(v: number, width = 2): string {
  return '0x' + (v >>> 0).toString(16).padStart(width, '0');
}

/** The I/O APIC pin ISA IRQ `irq` reaches: its own number, but IRQ 0 on pin 2 (the MADT's override, as QEMU's). */
function ioapicPin(irq: number): number {
  return irq === 0 ? 2 : irq;
}

/** The local APIC's bus clock, the timer's input: 1 GHz, as QEMU's. */
const APIC_BUS_HZ = 1e9;

export class Platform {
  readonly pic = new DualPic();
  readonly pit: Pit8254;
  readonly cmos: CmosRtc;
  readonly port92 = new Port92();
  readonly com1: Uart16550;
  readonly pci = new PciHost();
  readonly debugConsole = new DebugConsole();
  readonly debugExit = new DebugExit();
  readonly post = new PostCode();
  readonly i8042 = new I8042();
  readonly acpiPm: AcpiPm;
  readonly resetControl = new ResetControl();
  /** The local APIC and the I/O APIC, with `apic`; null without. */
  readonly lapic: LocalApic | null = null;
  readonly ioapic: IoApic | null = null;
  /** IRQ lines a second source drives (the SCI beside a card on IRQ 9): bit mask per IRQ. */
  private readonly extraIrq = new Uint8Array(16);
  /** The level `isaIrq` last set per IRQ. */
  private readonly mainIrq = new Uint8Array(16);
  private readonly trace: ((line: string) => void) | null;
  private readonly traceIrq: boolean;
  private readonly loggedIgnored = new Set<string>();

  /**
   * `mapper` takes the platform's port ranges; `mem` its memory-mapped ones (the APIC
   * pages), needed with `apic`.
   */
  constructor(readonly opts: PlatformOptions, private readonly cpu: CpuSide, mapper: PortMapper, mem?: PortMapper) {
    const { clock, costs } = opts;
    this.pit = new Pit8254(clock, costs.pitHz);
    this.cmos = new CmosRtc(clock, opts.rtcStart, opts.memoryBytes);
    this.com1 = new Uart16550(clock);
    this.acpiPm = new AcpiPm(clock);
    this.trace = opts.trace ?? null;
    this.traceIrq = this.trace !== null && opts.traceIrq === true;

    const out = opts.console ?? (() => {});
    this.com1.onTransmit = out;
    this.debugConsole.onOutput = out;
    this.debugExit.onExit = () => cpu.exit();

    // Interrupt wiring.
    this.pic.onOutput = (level) => cpu.setIntr(level);
    if (opts.apic === true) {
      if (!mem) throw new Error('Platform: an APIC needs a memory-mapped I/O mapper');
      const trace = this.trace;
      const ioapic = new IoApic({
        deliver: (vector, mode, logical, destination, level) => {
          if (lapic.matches(logical, destination)) lapic.accept(vector, mode, level);
        },
      }, this.traceIrq ? (line) => trace!(`${cpu.cycles()} ${line}`) : null);
      const lapic: LocalApic = new LocalApic(clock, {
        setIntr: (level) => cpu.setIntr(level),
        nmi: () => trace?.(`${cpu.cycles()} lapic NMI dropped (this CPU has no NMI input)`),
        eoi: (vector) => ioapic.eoi(vector),
        extIntAck: () => this.pic.acknowledge(),
      }, costs.cpuHz / APIC_BUS_HZ, 0, trace);
      this.pic.onOutput = (level) => lapic.setLint0(level);
      mem.map('lapic', LAPIC_BASE, 0x1000, lapic, costs.apicAccessCycles);
      mem.map('ioapic', IOAPIC_BASE, 0x1000, ioapic, costs.pciAccessCycles);
      this.lapic = lapic;
      this.ioapic = ioapic;
    }
    this.pit.onIrq0 = () => { this.irqTrace('raise', 0); this.pulseIrq(0); };
    this.cmos.onIrq8 = () => { this.irqTrace('raise', 8); this.pulseIrq(8); };
    this.com1.onIrq = (level) => this.isaIrq(4, level);
    this.port92.onA20 = (on) => cpu.setA20(on);
    this.port92.onReset = () => cpu.end('reset');
    this.resetControl.onReset = () => cpu.end('reset');
    this.i8042.onReset = () => cpu.end('reset');
    this.i8042.onA20 = (on) => cpu.setA20(on);
    this.i8042.onIrq = (irq, level) => this.isaIrq(irq, level);
    this.acpiPm.onPowerOff = () => cpu.end('power-off');
    this.acpiPm.onSci = (level) => this.sharedIrq(9, 1, level);
    this.i8042.onIgnoredWrite = (port, v) => this.ignored('i8042', port, v);
    this.acpiPm.onIgnoredWrite = (off, v) => this.ignored('acpi-pm', PM_BASE + off, v);
    this.pic.onIgnoredWrite = (port, v) => this.ignored('pic', port, v);
    this.pit.onIgnoredWrite = (port, v) => this.ignored('pit', port, v);
    this.com1.onIgnoredWrite = (off, v) => this.ignored('com1', 0x3f8 + off, v);
    this.cmos.onIgnoredWrite = (index, v) => this.ignored('cmos', 0x71, (index << 8) | v);

    const chip = costs.chipsetAccessCycles, isa = costs.isaAccessCycles;
    const pic = this.pic, pit = this.pit, cmos = this.cmos, p92 = this.port92;
    const byBase = (base: number, read: (port: number) => number, write: (port: number, v: number) => void): PortDevice => ({
      read: (off) => read(base + off),
      write: (off, _size, v) => write(base + off, v & 0xff),
    });
    mapper.map('pic-master', 0x20, 2, byBase(0x20, (p) => pic.read(p), (p, v) => pic.write(p, v)), chip);
    mapper.map('pic-slave', 0xa0, 2, byBase(0xa0, (p) => pic.read(p), (p, v) => pic.write(p, v)), chip);
    mapper.map('elcr', 0x4d0, 2, byBase(0x4d0, (p) => pic.read(p), (p, v) => pic.write(p, v)), chip);
    mapper.map('pit', 0x40, 4, byBase(0x40, (p) => pit.read(p), (p, v) => pit.write(p, v)), chip);
    mapper.map('port-b', 0x61, 1, byBase(0x61, (p) => pit.read(p), (p, v) => pit.write(p, v)), chip);
    mapper.map('cmos', 0x70, 2, byBase(0x70, (p) => cmos.read(p), (p, v) => cmos.write(p, v)), chip);
    mapper.map('port-a', 0x92, 1, { read: () => p92.read(), write: (_o, _s, v) => p92.write(v) }, chip);
    mapper.map('com1', 0x3f8, 8, this.com1, isa);
    // A byte at 0xCF9 is the PIIX's reset control register; anything else there is the host bridge's.
    const rcr = this.resetControl;
    mapper.map('pci-config', 0xcf8, 8, {
      read: (off, size) => off === 1 && size === 1 ? rcr.read() : this.pci.read(0xcf8 + off, size),
      write: (off, size, v) => { if (off === 1 && size === 1) rcr.write(v & 0xff); else this.pci.write(0xcf8 + off, size, v); },
    }, chip);
    const kbc = this.i8042;
    mapper.map('i8042-data', 0x60, 1, { read: (_o, size) => kbc.read(0, size), write: (_o, size, v) => kbc.write(0, size, v) }, chip);
    mapper.map('i8042-cmd', 0x64, 1, { read: (_o, size) => kbc.read(4, size), write: (_o, size, v) => kbc.write(4, size, v) }, chip);
    mapper.map('acpi-pm', PM_BASE, PM_LENGTH, this.acpiPm, chip);
    mapper.map('debug-console', 0xe9, 1, this.debugConsole, isa);
    mapper.map('debug-exit', 0xf4, 4, this.debugExit, isa);
    if (this.trace !== null && opts.tracePost === true) {
      const t = this.trace;
      this.post.onCode = (code) => t(`${cpu.cycles()} post ${hex(code)}`);
    }
    mapper.map('post', 0x80, 1, this.post, isa);
    const fpu = cpu.fpu;
    if (fpu) {
      // The PC/AT's x87 error path, as the PIIX does it: FERR# asserted latches IRQ 13;
      // a write to port 0xF0 clears the latch and asserts IGNNE# while FERR# stays
      // asserted (the FPU drops IGNNE# when FERR# goes, see x87.ts). Used with CR0.NE clear.
      fpu.onFerr = (on) => { if (on) this.isaIrq(13, true); };
      mapper.map('fpu-error', 0xf0, 1, {
        read: () => 0xff,
        write: () => { this.isaIrq(13, false); if (fpu.ferr) fpu.ignne = true; },
      }, isa);
    }
    addI440fxChipset(this.pci);
  }

  reset(): void {
    this.pic.reset();
    this.pit.reset();
    this.cmos.reset();
    this.com1.reset();
    this.port92.reset();
    this.post.reset();
    this.i8042.reset();
    this.acpiPm.reset();
    this.resetControl.reset();
    this.lapic?.reset();
    this.ioapic?.reset();
    this.extraIrq.fill(0);
    this.mainIrq.fill(0);
  }

  /** What firmware does before a Multiboot loader runs: PCI BARs and IRQ lines as SeaBIOS assigns them. */
  firmwareSetup(): void {
    firmwareSetup(this.pci);
    // SeaBIOS makes the PCI interrupt lines (10 and 11) level-triggered in the ELCR.
    this.pic.write(0x4d1, 0x0c);
    // The PIIX4 PM function: PMBA 0x600 (I/O) and PMIOSE, as SeaBIOS's piix4_pm_setup
    // programs them (read-only here: the registers stay at 0x600); ACPI mode on (SCI_EN).
    const pm = this.pci.functions().find(({ fn }) => fn.config[0] === 0x86 && fn.config[1] === 0x80 && fn.config[2] === 0x13 && fn.config[3] === 0x71);
    if (pm) {
      pm.fn.config.set([(PM_BASE | 1) & 0xff, PM_BASE >> 8, 0, 0], 0x40);
      pm.fn.config[0x80] = 0x01;
    }
    this.acpiPm.write(PM1_CNT, 2, CNT_SCI_EN);
    // The 8042 as SeaBIOS leaves it: self-tested, translating, the keyboard on IRQ 1.
    this.i8042.firmwareSetup();
    // The local APIC as SeaBIOS leaves it, enabled in virtual-wire mode; the I/O APIC
    // with the ID the MADT gives it (every entry still masked).
    this.lapic?.firmwareSetup();
    if (this.ioapic !== null) {
      this.ioapic.write(0x00, 4, 0);
      this.ioapic.write(0x10, 4, IOAPIC_ID << 24);
    }
  }

  /** An ISA device's interrupt request line. */
  isaIrq(irq: number, level: boolean): void {
    this.irqTrace(level ? 'raise' : 'lower', irq);
    this.mainIrq[irq] = level ? 1 : 0;
    this.setIrq(irq, level || this.extraIrq[irq] !== 0);
  }

  /** IRQ `irq`'s line to the 8259s and, with an APIC, to its I/O APIC pin. */
  private setIrq(irq: number, level: boolean): void {
    this.pic.setIrq(irq, level);
    this.ioapic?.setIrq(ioapicPin(irq), level);
  }

  /** A pulse on IRQ `irq` (the PIT's and the RTC's outputs, edge-triggered). */
  private pulseIrq(irq: number): void {
    this.pic.pulseIrq(irq);
    const io = this.ioapic;
    if (io !== null) {
      io.setIrq(ioapicPin(irq), true);
      io.setIrq(ioapicPin(irq), false);
    }
  }

  /** A second source on an IRQ line (`bit` its own), wired-OR with the line's `isaIrq` level. */
  private sharedIrq(irq: number, bit: number, level: boolean): void {
    const was = this.extraIrq[irq] !== 0 || this.mainIrq[irq] !== 0;
    this.extraIrq[irq] = level ? this.extraIrq[irq] | bit : this.extraIrq[irq] & ~bit;
    const now = this.extraIrq[irq] !== 0 || this.mainIrq[irq] !== 0;
    if (now === was) return;
    this.irqTrace(now ? 'raise' : 'lower', irq);
    this.setIrq(irq, now);
  }

  /** A PCI function's INTA# goes to the ISA IRQ its interrupt line names (level-triggered). */
  pciIrq(fn: PciFunction, level: boolean): void {
    const irq = fn.interruptLine;
    if (irq === 0 || irq > 15 || irq === 2) return;
    this.isaIrq(irq, level);
  }

  /**
   * Keeps a PCI function's BARs mapped where the guest or the firmware put them: its
   * I/O BARs by `io` while the command register enables I/O, its memory BARs by `mem`
   * while it enables memory (every BAR reaching `dev`, as the RTL8139's BAR0 and BAR1
   * map the same registers). A BAR over another device's range, an I/O BAR past 64 KiB
   * or a memory BAR under the top of RAM (where RAM answers) is left unmapped, and said
   * so in the trace.
   */
  mapPciBars<H, M>(fn: PciFunction, name: string, dev: PortDevice, cycles: number, mappers: { io: PortMapper<H>; mem?: PortMapper<M> }, onCommand: () => void): void {
    const handles: { unmap(): void }[] = [];
    fn.onMappingChange = () => {
      onCommand();
      for (const h of handles.splice(0)) h.unmap();
      fn.bars.forEach((bar, i) => {
        if (!bar) return;
        const base = fn.barAddress(i);
        if (base === 0) return;
        const mapper: PortMapper<unknown> | undefined = bar.io ? mappers.io : mappers.mem;
        if (!mapper || !(bar.io ? fn.ioEnabled : fn.memoryEnabled)) return;
        const where = `BAR${i} at 0x${base.toString(16)}`;
        if (bar.io ? base + bar.size > 0x10000 : base < this.opts.memoryBytes) {
          this.trace?.(`${this.cpu.cycles()} ${name}: ${where} is ${bar.io ? 'past the I/O space' : 'inside RAM'}; not mapped`);
          return;
        }
        try {
          const h = mapper.map(bar.io ? name : `${name} (mmio)`, base, bar.size, dev, cycles);
          handles.push({ unmap: () => mapper.unmap(h) });
        } catch {
          this.trace?.(`${this.cpu.cycles()} ${name}: ${where} overlaps another device; not mapped`);
        }
      });
    };
  }

  private irqTrace(what: string, irq: number): void {
    if (this.traceIrq) this.trace!(`${this.cpu.cycles()} irq ${what} irq=${irq}`);
  }

  /** Traces an interrupt acknowledge (the machine calls this when the CPU takes one). */
  acknowledge(): number {
    const vector = this.lapic !== null ? this.lapic.acknowledge() : this.pic.acknowledge();
    if (this.traceIrq) this.trace!(`${this.cpu.cycles()} irq ack vector=${hex(vector)}`);
    return vector;
  }

  /** A write a device model does not implement: logged once per (device, port, value) under --trace. */
  private ignored(dev: string, port: number, value: number): void {
    if (!this.trace) return;
    const key = `${dev}:${port}:${value}`;
    if (this.loggedIgnored.has(key)) return;
    this.loggedIgnored.add(key);
    this.trace(`${this.cpu.cycles()} ignored dev=${dev} port=${hex(port, 4)} value=${hex(value)}`);
  }
}

/**
 * Plugs a card into a platform: its PCI function at 00:03.0 (BAR0 mapped by `mapper`
 * wherever it is programmed, a memory BAR by `memMapper`) or its ISA ports at 0x300; its interrupt line to the
 * platform's PIC. `cycles` is each register access's bus latency.
 */
export function plugNic<H, M>(platform: Platform, nic: Nic, mapper: PortMapper<H>, costs: Costs, memMapper?: PortMapper<M>): void {
  const name = nicName(nic.kind);
  if (nic.pci) {
    const fn = nic.pci;
    platform.pci.add(3, 0, fn);
    const card = nic.card;
    platform.mapPciBars(fn, name, nic.device, costs.pciAccessCycles, { io: mapper, mem: memMapper }, () => { if (card instanceof Rtl8139) card.busMaster = fn.busMaster; });
    card.onIrq = (level) => platform.pciIrq(fn, level);
  } else {
    const isa = nic.isa!;
    mapper.map(name, isa.base, isa.ports, nic.device, costs.isaAccessCycles);
    nic.card.onIrq = (level) => platform.isaIrq(isa.irq, level);
  }
}
