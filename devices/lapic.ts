/**
 * The local APIC of one P6-family processor (the CPU here reports family 6, model 1),
 * memory-mapped at 0xFEE00000, written from the Intel SDM vol. 3A chapter 10 (Advanced
 * Programmable Interrupt Controller) and section 10.4.7 for its states:
 *
 *   0x020 ID (bits 24-27)        0x0D0 logical destination    0x200-0x270 IRR
 *   0x030 version 0x00040011     0x0E0 destination format     0x280 error status
 *   0x080 task priority          0x0F0 spurious vector        0x300/0x310 ICR
 *   0x090 arbitration priority   0x100-0x170 ISR              0x320-0x370 LVT: timer,
 *   0x0A0 processor priority     0x180-0x1F0 TMR                (thermal: absent),
 *   0x0B0 EOI                                                   perf, LINT0, LINT1, error
 *   0x380 initial count, 0x390 current count, 0x3E0 divide configuration
 *
 * What it does: fixed interrupts from its LVT, the I/O APIC (`accept`) and its own ICR
 * wait in IRR and are dispatched by priority (a vector's class, its top four bits,
 * above the processor priority, the larger of TPR and the highest in-service class);
 * INTA moves the highest to ISR; EOI ends the highest in service and, for a
 * level-triggered one (TMR), tells the I/O APIC (`ApicPins.eoi`). LINT0 and LINT1 take
 * the 8259's INTR and NMI as the LVT programs them: ExtINT (the virtual-wire mode
 * firmware leaves, `firmwareSetup`), whose INTA the 8259 answers; NMI; or a fixed vector,
 * edge- or level-triggered. The timer counts down the initial count at the bus clock
 * over the divide configuration, one-shot or periodic, on the machine's clock (no host
 * time), and interrupts when it reaches 0. The error status register latches illegal
 * vectors and register addresses, and its LVT entry interrupts for them.
 *
 * Choices where the SDM leaves room or describes other processors, each as the P6 family
 * does or as QEMU does for a kernel to find:
 * - Version 0x11 with four as the highest LVT entry (timer, performance counter, LINT0,
 *   LINT1, error; no thermal entry, which came with the Pentium 4: 0x330 reads 0). The
 *   spurious vector's bits 0-3 read as 1s (SDM 10.9); focus checking (bit 9) is stored.
 * - The timer's bus clock: 1 GHz, as QEMU's, at the default of 2 machine cycles a tick.
 *   No TSC-deadline mode (CPUID says none): bit 18 of the timer entry is not writable.
 * - Registers are 32 bits on 16-byte boundaries, as the SDM requires them accessed. A
 *   narrower read returns those bytes of the register; a narrower or misaligned write
 *   is dropped; an offset that names no register reads 0, drops writes and sets the
 *   error status's illegal-register-address bit (7), as the SDM says of an access to a
 *   reserved register.
 * - Software-disabled (spurious vector bit 8 clear, as at reset): every LVT entry is
 *   masked and stays so whatever is written (SDM 10.4.7.2); IRR and ISR keep what they
 *   hold, and fixed interrupts still arriving wait in IRR, dispatched once enabled.
 *   NMIs pass.
 * - Globally disabled (IA32_APIC_BASE bit 11 clear): the processor's INTR is the 8259's,
 *   as without an APIC (SDM 10.4.3), the registers read 0 and drop writes, and as on
 *   the P6 family only a reset enables it again.
 * - IA32_APIC_BASE keeps a new base address written to it, but the board keeps the
 *   registers at 0xFEE00000: moving the page is not modelled (no kernel here moves it).
 * - An IPI (a write of the ICR's low dword) to this processor (the self shorthand, all
 *   including self, or its own physical or logical destination) delivers a fixed
 *   vector or an NMI at once (delivery status reads idle); INIT, start-up and SMI have
 *   no other processor to reach here and are dropped; "all excluding self" reaches
 *   no one.
 */
import type { PortDevice } from './port-bus';
import type { Clock, Timer } from './clock';

/** The local APIC's default physical address (IA32_APIC_BASE after reset). */
export const LAPIC_BASE = 0xfee00000;

/** Delivery modes: the three-bit field of LVT entries, the ICR and I/O APIC messages (SDM 10.5.1, 10.6.1). */
export const DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5, DM_STARTUP = 6, DM_EXTINT = 7;

/** What the local APIC drives. */
export interface ApicPins {
  /** The processor's INTR: an interrupt can be taken (a level). */
  setIntr(level: boolean): void;
  /** An NMI for the processor. */
  nmi(): void;
  /** The end of a level-triggered interrupt with this vector: for the I/O APIC. */
  eoi(vector: number): void;
  /** INTA of an interrupt coming through LINT0 in ExtINT mode: the 8259 gives the vector. */
  extIntAck(): number;
}

// LVT entries, in the order of their registers (SDM figure 10-8).
const LVT_TIMER = 0, LVT_THERMAL = 1, LVT_PERF = 2, LVT_LINT0 = 3, LVT_LINT1 = 4, LVT_ERROR = 5;
const MASKED = 0x10000;
/** The bits of each LVT entry software can write (vector, delivery mode, polarity, trigger, mask, timer mode). */
const LVT_WRITABLE = [0x300ff, 0, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff];
const LVT_REMOTE_IRR = 0x4000, LVT_LEVEL = 0x8000, TIMER_PERIODIC = 0x20000;
const SVR_ENABLE = 0x100;
// Error status bits (SDM 10.5.3).
const ESR_SEND_ILLEGAL_VECTOR = 0x20, ESR_RECEIVE_ILLEGAL_VECTOR = 0x40, ESR_ILLEGAL_REGISTER = 0x80;
const BASE_BSP = 0x100, BASE_ENABLE = 0x800;

export class LocalApic implements PortDevice {
  /** IA32_APIC_BASE: the page's address, global enable (bit 11), bootstrap processor (bit 8). */
  private apicBase = 0;
  private id = 0;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0;
  private svr = 0;
  private esr = 0;
  /** Errors latched since the last write of the ESR (which makes them readable). */
  private esrPending = 0;
  private icrLow = 0;
  private icrHigh = 0;
  private readonly lvt = new Int32Array(6);
  /** 256 bits each, eight dwords as the registers are laid out. */
  private readonly irr = new Int32Array(8);
  private readonly isr = new Int32Array(8);
  private readonly tmr = new Int32Array(8);
  private lint0 = false;
  private lint1 = false;
  private intr = false;

  private initialCount = 0;
  private divide = 0;
  /** log2 of the divisor the divide configuration selects. */
  private shift = 1;
  /** The cycle the count was (last) loaded at; the timer counts while `counting`. */
  private countStart = 0;
  private counting = false;
  private readonly timer: Timer;

  /**
   * `cyclesPerTick`: machine cycles per tick of the APIC's bus clock (the timer's input
   * before its divider). `id`: the APIC ID the hardware gives it.
   */
  constructor(
    private readonly clock: Clock,
    private readonly pins: ApicPins,
    private readonly cyclesPerTick = 2,
    private readonly hardwareId = 0,
    private readonly trace: ((line: string) => void) | null = null,
  ) {
    this.timer = clock.timer('lapic-timer', (at) => this.timerFired(at));
    this.reset();
  }

  /** Power-on or RESET (SDM 10.4.7.1): software-disabled, every LVT entry masked, the bootstrap processor's APIC enabled at 0xFEE00000. */
  reset(): void {
    this.apicBase = LAPIC_BASE | BASE_BSP | BASE_ENABLE;
    this.id = this.hardwareId & 0xf;
    this.tpr = this.ldr = 0;
    this.dfr = -1;
    this.svr = 0xff;
    this.esr = this.esrPending = 0;
    this.icrLow = this.icrHigh = 0;
    this.lvt.fill(MASKED);
    this.lvt[LVT_THERMAL] = 0;
    this.irr.fill(0);
    this.isr.fill(0);
    this.tmr.fill(0);
    this.initialCount = 0;
    this.divide = 0;
    this.shift = 1;
    this.counting = false;
    this.timer.cancel();
    this.update();
  }

  /**
   * What firmware leaves (SeaBIOS under QEMU, and the MP specification's virtual-wire
   * mode): software-enabled, LINT0 taking the 8259's INTR as ExtINT, LINT1 the NMI.
   */
  firmwareSetup(): void {
    this.svr |= SVR_ENABLE;
    this.lvt[LVT_LINT0] = DM_EXTINT << 8;
    this.lvt[LVT_LINT1] = DM_NMI << 8;
    this.update();
  }

  // ---- IA32_APIC_BASE (MSR 0x1B) ----

  /** IA32_APIC_BASE as RDMSR reads it. */
  get baseMsr(): number {
    return this.apicBase >>> 0;
  }

  /**
   * WRMSR to IA32_APIC_BASE: the page's address (bits 12-31) and the global enable. Once
   * disabled, it stays so until reset (P6 family, SDM 10.4.3); the bootstrap flag is
   * the hardware's.
   */
  set baseMsr(value: number) {
    const enabled = (this.apicBase & BASE_ENABLE) !== 0;
    const enable = enabled && (value & BASE_ENABLE) !== 0;
    this.apicBase = (value & 0xfffff000) | (this.apicBase & BASE_BSP) | (enable ? BASE_ENABLE : 0);
    if (enabled && !enable) {
      this.counting = false;
      this.timer.cancel();
      this.log('globally disabled');
    }
    this.update();
  }

  /** The APIC is globally enabled (IA32_APIC_BASE bit 11). */
  get enabled(): boolean {
    return (this.apicBase & BASE_ENABLE) !== 0;
  }

  // ---- Inputs ----

  /** The 8259's INTR, wired to LINT0. */
  setLint0(level: boolean): void {
    const was = this.lint0;
    this.lint0 = level;
    this.lintChanged(LVT_LINT0, was, level);
  }

  /** The NMI line, wired to LINT1. */
  setLint1(level: boolean): void {
    const was = this.lint1;
    this.lint1 = level;
    this.lintChanged(LVT_LINT1, was, level);
  }

  /**
   * Whether an I/O APIC or IPI message with this destination is for this processor:
   * physical, its ID or the broadcast 0xF (P6 compares four bits, SDM 10.6.2.1); logical, in the
   * flat model (DFR model 1111) any bit it shares with LDR, in the cluster model (0000)
   * the same cluster (top four bits, or 0xF for all) and a shared bit of the bottom four.
   */
  matches(logical: boolean, destination: number): boolean {
    const d = destination & 0xff;
    if (!logical) return (d & 0xf) === 0xf || (d & 0xf) === this.id;
    const mine = (this.ldr >>> 24) & 0xff;
    if (((this.dfr >>> 28) & 0xf) === 0xf) return (mine & d) !== 0;
    return ((d >>> 4) === 0xf || (d >>> 4) === (mine >>> 4)) && (d & mine & 0xf) !== 0;
  }

  /**
   * An interrupt message for this processor (from the I/O APIC, through the board, or an
   * IPI): fixed and lowest-priority vectors go to IRR (TMR records `level`), NMI to the
   * processor; ExtINT, SMI, INIT and start-up are not taken here.
   */
  accept(vector: number, mode: number, level: boolean): void {
    if (!this.enabled) return;
    if (mode === DM_NMI) { this.pins.nmi(); return; }
    if (mode !== DM_FIXED && mode !== DM_LOWEST) { this.log(`message with delivery mode ${mode} dropped`); return; }
    vector &= 0xff;
    if (vector < 16) { this.error(ESR_RECEIVE_ILLEGAL_VECTOR); return; }
    const i = vector >>> 5, bit = 1 << (vector & 31);
    this.irr[i] |= bit;
    if (level) this.tmr[i] |= bit; else this.tmr[i] &= ~bit;
    this.update();
  }

  // ---- The processor's side ----

  /**
   * INTA: the vector of the interrupt the processor takes. The highest pending fixed
   * vector above the processor priority moves to ISR; else the 8259's through ExtINT;
   * else (the request went away) the spurious vector, with nothing put in service.
   */
  acknowledge(): number {
    if (!this.enabled) return this.pins.extIntAck();
    const v = this.deliverable();
    if (v >= 0) {
      const i = v >>> 5, bit = 1 << (v & 31);
      this.irr[i] &= ~bit;
      this.isr[i] |= bit;
      this.update();
      return v;
    }
    if (this.extIntUp()) {
      const vector = this.pins.extIntAck();
      this.update();
      return vector;
    }
    return this.svr & 0xff;
  }

  // ---- Registers ----

  read(offset: number, size: number): number {
    if (!this.enabled || !(offset >= 0 && offset < 0x1000)) return 0;
    const value = this.register(offset & 0xff0);
    const shift = (offset & 3) * 8;
    if (size === 4 && (offset & 3) === 0) return value >>> 0;
    if ((offset & 15) > 3 || (size !== 1 && size !== 2)) return 0;
    return (value >>> shift) & (size === 1 ? 0xff : 0xffff);
  }

  write(offset: number, size: number, value: number): void {
    if (!this.enabled || !(offset >= 0 && offset < 0x1000)) return;
    if (size !== 4 || (offset & 15) !== 0) { this.log(`${size}-byte write at 0x${offset.toString(16)} dropped (registers take aligned dwords)`); return; }
    value |= 0;
    switch (offset >>> 4) {
      case 0x02: this.id = (value >>> 24) & 0xf; break;
      case 0x08: this.tpr = value & 0xff; this.update(); break;
      case 0x0b: this.endOfInterrupt(); break;
      case 0x0d: this.ldr = value & 0xff000000; break;
      case 0x0e: this.dfr = value | 0x0fffffff; break;
      case 0x0f: this.writeSvr(value); break;
      case 0x28: this.esr = this.esrPending; this.esrPending = 0; break;
      case 0x30: this.icrLow = value & 0x000ccfff; this.sendIpi(); break;
      case 0x31: this.icrHigh = value & 0xff000000; break;
      case 0x32: case 0x33: case 0x34: case 0x35: case 0x36: case 0x37: this.writeLvt((offset >>> 4) - 0x32, value); break;
      case 0x38: this.load(value >>> 0); break;
      case 0x3e: this.writeDivide(value); break;
      // Read-only registers: version, priorities, ISR, TMR, IRR, current count.
      case 0x03: case 0x09: case 0x0a: case 0x0c: case 0x39: break;
      default:
        if (offset >= 0x100 && offset < 0x280) break;
        this.error(ESR_ILLEGAL_REGISTER);
    }
  }

  private register(offset: number): number {
    switch (offset >>> 4) {
      case 0x02: return this.id << 24;
      case 0x03: return 0x00040011;
      case 0x08: return this.tpr;
      case 0x09: return this.arbitrationPriority();
      case 0x0a: return this.processorPriority();
      case 0x0b: case 0x0c: return 0;
      case 0x0d: return this.ldr;
      case 0x0e: return this.dfr;
      case 0x0f: return this.svr | 0xf;
      case 0x28: return this.esr;
      case 0x30: return this.icrLow;
      case 0x31: return this.icrHigh;
      case 0x32: case 0x33: case 0x34: case 0x35: case 0x36: case 0x37: return this.lvt[(offset >>> 4) - 0x32];
      case 0x38: return this.initialCount;
      case 0x39: return this.currentCount();
      case 0x3e: return this.divide;
    }
    if (offset >= 0x100 && offset < 0x180) return this.isr[(offset - 0x100) >>> 4];
    if (offset >= 0x180 && offset < 0x200) return this.tmr[(offset - 0x180) >>> 4];
    if (offset >= 0x200 && offset < 0x280) return this.irr[(offset - 0x200) >>> 4];
    this.error(ESR_ILLEGAL_REGISTER);
    return 0;
  }

  private writeSvr(value: number): void {
    this.svr = value & 0x3ff;
    if ((value & SVR_ENABLE) === 0) for (let i = 0; i < 6; i++) if (i !== LVT_THERMAL) this.lvt[i] |= MASKED;
    this.update();
  }

  private writeLvt(n: number, value: number): void {
    const keep = this.lvt[n] & ~LVT_WRITABLE[n];
    let v = (value & LVT_WRITABLE[n]) | keep;
    if ((this.svr & SVR_ENABLE) === 0) v |= MASKED & LVT_WRITABLE[n];
    if (n === LVT_LINT0 || n === LVT_LINT1) {
      // Edge-triggered (or NMI, ExtINT) entries hold no remote IRR.
      if ((v & LVT_LEVEL) === 0 || ((v >>> 8) & 7) !== DM_FIXED) v &= ~LVT_REMOTE_IRR;
    }
    this.lvt[n] = v;
    if (n === LVT_LINT0 || n === LVT_LINT1) this.lintChanged(n, this.lintLevel(n), this.lintLevel(n));
    this.update();
  }

  // ---- Priorities and dispatch (SDM 10.8.3) ----

  private highest(bits: Int32Array): number {
    for (let i = 7; i >= 0; i--) if (bits[i] !== 0) return i * 32 + 31 - Math.clz32(bits[i]);
    return -1;
  }

  private processorPriority(): number {
    const isrv = Math.max(this.highest(this.isr), 0);
    return (this.tpr >>> 4) >= (isrv >>> 4) ? this.tpr : isrv & 0xf0;
  }

  private arbitrationPriority(): number {
    const top = Math.max(this.highest(this.isr), this.highest(this.irr), 0);
    return (this.tpr >>> 4) >= (top >>> 4) ? this.tpr : top & 0xf0;
  }

  /** The vector INTA would put in service now, or -1. */
  private deliverable(): number {
    if ((this.svr & SVR_ENABLE) === 0) return -1;
    const v = this.highest(this.irr);
    return v >= 0 && (v >>> 4) > (this.processorPriority() >>> 4) ? v : -1;
  }

  private extIntUp(): boolean {
    const e = this.lvt[LVT_LINT0];
    return this.lint0 && (e & MASKED) === 0 && ((e >>> 8) & 7) === DM_EXTINT;
  }

  /** Drives INTR: the 8259's straight when globally disabled, else a deliverable vector or an ExtINT. */
  private update(): void {
    const level = this.enabled ? this.deliverable() >= 0 || this.extIntUp() : this.lint0;
    if (level !== this.intr) {
      this.intr = level;
      this.pins.setIntr(level);
    }
  }

  private endOfInterrupt(): void {
    const v = this.highest(this.isr);
    if (v < 0) return;
    const i = v >>> 5, bit = 1 << (v & 31);
    this.isr[i] &= ~bit;
    if ((this.tmr[i] & bit) !== 0) {
      this.tmr[i] &= ~bit;
      this.pins.eoi(v);
      // A level-triggered LINT entry with this vector may take its line again.
      for (let n = LVT_LINT0; n <= LVT_LINT1; n++) {
        if ((this.lvt[n] & 0xff) === v && (this.lvt[n] & LVT_REMOTE_IRR) !== 0) {
          this.lvt[n] &= ~LVT_REMOTE_IRR;
          this.lintChanged(n, false, this.lintLevel(n));
        }
      }
    }
    this.update();
  }

  /** The level of the line LVT entry `n` (LINT0 or LINT1) takes. */
  private lintLevel(n: number): boolean {
    return n === LVT_LINT0 ? this.lint0 : this.lint1;
  }

  /** LINT0 or LINT1 went from `was` to `now`, or its entry changed (was === now). */
  private lintChanged(n: number, was: boolean, now: boolean): void {
    const e = this.lvt[n];
    if (!this.enabled || (e & MASKED) !== 0) { this.update(); return; }
    const mode = (e >>> 8) & 7;
    if (mode === DM_NMI) { if (now && !was) this.pins.nmi(); return; }
    if (mode === DM_FIXED) {
      if ((e & LVT_LEVEL) !== 0) {
        if (now && (e & LVT_REMOTE_IRR) === 0) { this.lvt[n] |= LVT_REMOTE_IRR; this.accept(e & 0xff, DM_FIXED, true); }
      } else if (now && !was) {
        this.accept(e & 0xff, DM_FIXED, false);
      }
      return;
    }
    this.update(); // ExtINT follows the line; other modes are not taken from a pin here
  }

  private error(bit: number): void {
    this.esrPending |= bit;
    const e = this.lvt[LVT_ERROR];
    if ((e & MASKED) !== 0) return;
    // An error LVT with an illegal vector (0-15) latches that too and interrupts no one:
    // its interrupt would be another error, without end.
    if ((e & 0xff) < 16) { this.esrPending |= ESR_RECEIVE_ILLEGAL_VECTOR; return; }
    this.accept(e & 0xff, DM_FIXED, false);
  }

  private sendIpi(): void {
    const vector = this.icrLow & 0xff, mode = (this.icrLow >>> 8) & 7, shorthand = (this.icrLow >>> 18) & 3;
    const toSelf = shorthand === 1 || shorthand === 2 || (shorthand === 0 && this.matches((this.icrLow & 0x800) !== 0, this.icrHigh >>> 24));
    if ((mode === DM_FIXED || mode === DM_LOWEST) && vector < 16) { this.error(ESR_SEND_ILLEGAL_VECTOR); return; }
    if (!toSelf) return;
    if (mode === DM_FIXED || mode === DM_LOWEST || mode === DM_NMI) this.accept(vector, mode, false);
    else this.log(`IPI with delivery mode ${mode} to itself dropped (no other processor)`);
  }

  // ---- The timer (SDM 10.5.4) ----

  /** Machine cycles a count of the timer takes: the bus clock's tick over the divider. */
  private get tick(): number {
    return this.cyclesPerTick << this.shift;
  }

  private get period(): number {
    return this.initialCount * this.tick;
  }

  private load(count: number): void {
    this.initialCount = count;
    this.timer.cancel();
    this.counting = count !== 0;
    this.countStart = this.clock.now;
    if (this.counting) this.timer.arm(this.countStart + this.period);
  }

  private currentCount(): number {
    if (!this.counting) return 0;
    const elapsed = Math.floor((this.clock.now - this.countStart) / this.tick);
    return elapsed >= this.initialCount ? 0 : this.initialCount - elapsed;
  }

  private writeDivide(value: number): void {
    const remaining = this.currentCount();
    this.divide = value & 0xb;
    const code = ((this.divide >>> 1) & 4) | (this.divide & 3);
    this.shift = (code + 1) & 7;
    if (this.counting && remaining > 0) {
      // The count goes on from where it is, at the new rate.
      this.countStart = this.clock.now - (this.initialCount - remaining) * this.tick;
      this.timer.arm(this.clock.now + remaining * this.tick);
    }
  }

  private timerFired(at: number): void {
    if (!this.counting) return;
    const e = this.lvt[LVT_TIMER];
    if ((e & TIMER_PERIODIC) !== 0) {
      this.countStart = at;
      this.timer.arm(at + this.period);
    } else {
      this.counting = false;
    }
    if ((e & MASKED) === 0) this.accept(e & 0xff, DM_FIXED, false);
  }

  private log(what: string): void {
    if (this.trace) this.trace(`${this.clock.now} lapic ${what}`);
  }
}
