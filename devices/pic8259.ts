/**
 * Two cascaded 8259A programmable interrupt controllers, as wired in every PC: the
 * master at 0x20/0x21 with the slave's INT on its IR2, the slave at 0xA0/0xA1, plus
 * the PIIX edge/level control registers (ELCR) at 0x4D0/0x4D1.
 *
 * Written from the Intel 8259A datasheet (order number 231468): ICW1-ICW4, OCW1-OCW3,
 * IRR/ISR/IMR, fully nested priority with rotation, specific and non-specific EOI,
 * automatic EOI, poll mode, special mask mode, edge and level triggering, and the
 * spurious IR7 that an acknowledge returns when the request went away.
 * Edge-triggered requests stay in IRR until acknowledged even if the line falls again
 * (as QEMU's i8259 does), so a timer tick is not lost while interrupts are disabled.
 */

/** One 8259A. */
export class Pic8259 {
  irr = 0;
  isr = 0;
  imr = 0;
  /** Input line levels, for edge detection. */
  lines = 0;
  /** IR n has priority level (n - priorityBase) & 7; 0 is the highest (rotation moves it). */
  priorityBase = 0;
  vectorBase = 0;
  /** 0: operational; 1, 2, 3: waiting for ICW2, ICW3, ICW4. */
  initStep = 0;
  needIcw4 = false;
  single = false;
  /** ICW1.LTIM: every input level-triggered. */
  levelAll = false;
  /** ELCR: per-input level triggering (PIIX). */
  elcr = 0;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialMask = false;
  specialFullyNested = false;
  readIsr = false;
  poll = false;
  icw3 = 0;

  constructor(readonly name: string, readonly elcrMask: number) {}

  reset(): void {
    this.irr = this.isr = this.imr = this.lines = 0;
    this.priorityBase = 0;
    this.vectorBase = 0;
    this.initStep = 0;
    this.needIcw4 = this.single = this.levelAll = false;
    this.elcr = 0;
    this.autoEoi = this.rotateOnAutoEoi = this.specialMask = this.specialFullyNested = false;
    this.readIsr = this.poll = false;
    this.icw3 = 0;
  }

  private isLevel(bit: number): boolean {
    return this.levelAll || (this.elcr & bit) !== 0;
  }

  /** Drives input IR`line`. */
  setLine(line: number, level: boolean): void {
    const bit = 1 << line;
    if (this.isLevel(bit)) {
      if (level) { this.irr |= bit; this.lines |= bit; } else { this.irr &= ~bit; this.lines &= ~bit; }
    } else if (level) {
      if (!(this.lines & bit)) this.irr |= bit; // a rising edge
      this.lines |= bit;
    } else {
      this.lines &= ~bit;
    }
  }

  /** Priority level (0 highest) of the highest-priority bit in `mask`, or 8. */
  private priorityOf(mask: number): number {
    if (!mask) return 8;
    for (let p = 0; p < 8; p++) if (mask & (1 << ((p + this.priorityBase) & 7))) return p;
    return 8;
  }

  /** The IR this chip would interrupt for now, or -1 (datasheet: priority resolver). */
  pending(cascadeLine: number): number {
    const req = this.irr & ~this.imr;
    const p = this.priorityOf(req);
    if (p === 8) return -1;
    let inService = this.isr;
    // Special mask mode: masked in-service levels do not block lower priorities.
    if (this.specialMask) inService &= ~this.imr;
    // Special fully nested mode (master): the cascade input can interrupt itself.
    if (this.specialFullyNested && cascadeLine >= 0) inService &= ~(1 << cascadeLine);
    return p < this.priorityOf(inService) ? (p + this.priorityBase) & 7 : -1;
  }

  /** The INTA cycle for IR `irq`: ISR set (unless AEOI), an edge request cleared. */
  acknowledge(irq: number): void {
    const bit = 1 << irq;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityBase = (irq + 1) & 7;
    } else {
      this.isr |= bit;
    }
    if (!this.isLevel(bit)) this.irr &= ~bit;
  }

  private nonSpecificEoi(rotate: boolean): void {
    const p = this.priorityOf(this.isr);
    if (p === 8) return;
    const irq = (p + this.priorityBase) & 7;
    this.isr &= ~(1 << irq);
    if (rotate) this.priorityBase = (irq + 1) & 7;
  }

  read(port: number): number {
    if (port & 1) return this.imr;
    if (this.poll) {
      // Poll mode: the read is the acknowledge (datasheet, "The Poll Command").
      this.poll = false;
      const irq = this.pending(-1);
      if (irq < 0) return 0;
      this.acknowledge(irq);
      return 0x80 | irq;
    }
    return this.readIsr ? this.isr : this.irr;
  }

  /** Returns false for a write the model ignores (logged by the caller). */
  write(port: number, value: number): boolean {
    value &= 0xff;
    if (!(port & 1)) {
      if (value & 0x10) {
        // ICW1: starts initialization (datasheet, "Initialization Command Words").
        this.needIcw4 = (value & 1) !== 0;
        this.single = (value & 2) !== 0;
        this.levelAll = (value & 8) !== 0;
        // IMR and ISR clear; an edge input must make a new low-to-high transition
        // before it requests again (datasheet, ICW1), a level input requests while high.
        this.imr = this.isr = 0;
        this.irr = this.levelAll ? this.lines : 0;
        this.priorityBase = 0;
        this.specialMask = this.readIsr = this.poll = false;
        this.autoEoi = this.rotateOnAutoEoi = this.specialFullyNested = false;
        this.initStep = 1;
        return true;
      }
      if (value & 0x08) {
        // OCW3
        if (value & 0x04) this.poll = true;
        if (value & 0x02) this.readIsr = (value & 0x01) !== 0;
        if (value & 0x40) this.specialMask = (value & 0x20) !== 0;
        return true;
      }
      // OCW2: R, SL, EOI in bits 7-5, level in bits 2-0.
      const level = value & 7;
      switch (value >> 5) {
        case 0: this.rotateOnAutoEoi = false; return true;
        case 1: this.nonSpecificEoi(false); return true;
        case 2: return true; // no operation
        case 3: this.isr &= ~(1 << level); return true;
        case 4: this.rotateOnAutoEoi = true; return true;
        case 5: this.nonSpecificEoi(true); return true;
        case 6: this.priorityBase = (level + 1) & 7; return true;
        default: this.isr &= ~(1 << level); this.priorityBase = (level + 1) & 7; return true;
      }
    }
    switch (this.initStep) {
      case 1:
        this.vectorBase = value & 0xf8;
        this.initStep = this.single ? (this.needIcw4 ? 3 : 0) : 2;
        return true;
      case 2:
        this.icw3 = value;
        this.initStep = this.needIcw4 ? 3 : 0;
        return true;
      case 3:
        this.autoEoi = (value & 2) !== 0;
        this.specialFullyNested = (value & 0x10) !== 0;
        this.initStep = 0;
        return (value & 1) !== 0; // bit 0 (8086 mode) must be set on a PC
      default:
        this.imr = value; // OCW1
        return true;
    }
  }
}

/** The PC's master/slave pair, with its output pin and the INTA cycle. */
export class DualPic {
  readonly master = new Pic8259('master', 0xf8);
  readonly slave = new Pic8259('slave', 0xde);
  /** The INTR output; the machine connects it to the CPU. */
  onOutput: (level: boolean) => void = () => {};
  /** Called once per (register, value) the model ignores, for `--trace`. */
  onIgnoredWrite: (port: number, value: number) => void = () => {};
  private output = false;

  reset(): void {
    this.master.reset();
    this.slave.reset();
    this.update();
  }

  /** Drives ISA interrupt line `irq` (0-15). IRQ 2 is the cascade and cannot be driven. */
  setIrq(irq: number, level: boolean): void {
    if (irq === 2) return;
    if (irq < 8) this.master.setLine(irq, level);
    else this.slave.setLine(irq - 8, level);
    this.update();
  }

  /** Raises then lowers an edge-triggered line: one request. */
  pulseIrq(irq: number): void {
    this.setIrq(irq, true);
    this.setIrq(irq, false);
  }

  get intr(): boolean {
    return this.output;
  }

  /** Recomputes the slave's INT (master IR2) and the master's INT (the CPU's INTR). */
  update(): void {
    this.master.setLine(2, this.slave.pending(-1) >= 0);
    const out = this.master.pending(2) >= 0;
    if (out !== this.output) {
      this.output = out;
      this.onOutput(out);
    }
  }

  /**
   * The CPU's interrupt acknowledge: returns the vector. With no request left (it was
   * withdrawn or masked since INTR rose), the 8259A answers with IR7's vector and sets
   * no ISR bit: the spurious IRQ 7, or IRQ 15 when it happens on the slave.
   */
  acknowledge(): number {
    const irq = this.master.pending(2);
    let vector: number;
    if (irq < 0) {
      vector = this.master.vectorBase + 7;
    } else {
      this.master.acknowledge(irq);
      if (irq === 2) {
        const irq2 = this.slave.pending(-1);
        if (irq2 >= 0) {
          this.slave.acknowledge(irq2);
          vector = this.slave.vectorBase + irq2;
        } else {
          vector = this.slave.vectorBase + 7;
        }
      } else {
        vector = this.master.vectorBase + irq;
      }
    }
    this.update();
    return vector;
  }

  read(port: number): number {
    let v: number;
    switch (port) {
      case 0x20: case 0x21: v = this.master.read(port); break;
      case 0xa0: case 0xa1: v = this.slave.read(port); break;
      case 0x4d0: v = this.master.elcr; break;
      case 0x4d1: v = this.slave.elcr; break;
      default: v = 0xff;
    }
    if (this.master.poll || this.slave.poll || port === 0x20 || port === 0xa0) this.update();
    return v;
  }

  write(port: number, value: number): void {
    let ok = true;
    switch (port) {
      case 0x20: case 0x21: ok = this.master.write(port, value); break;
      case 0xa0: case 0xa1: ok = this.slave.write(port, value); break;
      case 0x4d0: this.master.elcr = value & this.master.elcrMask; break;
      case 0x4d1: this.slave.elcr = value & this.slave.elcrMask; break;
      default: ok = false;
    }
    if (!ok) this.onIgnoredWrite(port, value);
    this.update();
  }
}
