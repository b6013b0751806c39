/**
 * The PIIX4 power-management function's fixed ACPI registers (Intel 82371AB PIIX4
 * datasheet, 29056201, section "Power Management I/O Registers", relative to PMBA; the
 * ACPI 1.0b spec, section 4.7.3, for what the bits mean to an OS), at PMBA = 0x600 as
 * SeaBIOS programs it under QEMU, and the PIIX reset control register at 0xCF9.
 *
 *   PMBA+0  PMSTS   (PM1a_STS)  16 bits, write 1 to clear: TMROF_STS (0), BM_STS (4),
 *                               GBL_STS (5), PWRBTN_STS (8), RTC_STS (10), WAK_STS (15)
 *   PMBA+2  PMEN    (PM1a_EN)   16 bits: TMROF_EN (0), GBL_EN (5), PWRBTN_EN (8), RTC_EN (10)
 *   PMBA+4  PMCNTRL (PM1a_CNT)  16 bits: SCI_EN (0), BRLD_EN_BM (1), GBL_RLS (2, write-only),
 *                               SUS_TYP (12-10), SUS_EN (13, write-only)
 *   PMBA+8  PMTMR   (PM_TMR)    32 bits read-only: a 24-bit count at 3.579545 MHz
 *   PMBA+0x0C..0x3F              general-purpose and processor registers: not modelled,
 *                               read as zeros, writes ignored (no OS path here uses them)
 *
 * Writing SUS_EN with SUS_TYP 0 is the PIIX4's soft-off (ACPI S5: QEMU's DSDT gives \_S5
 * the sleep type 0, and QEMU powers off there); other sleep types are not modelled (no
 * \_S1-\_S4 in our DSDT says they exist) and are ignored. The PM timer counts on the
 * machine clock (no host time), from the machine's cycle 0. TMROF_STS sets whenever bit
 * 23 of the timer changes; with TMROF_EN and SCI_EN it, like the other status/enable
 * pairs, drives the SCI (IRQ 9, level).
 */
import { Clock, Timer } from './clock';
import { PortDevice } from './port-bus';

/** The ACPI PM timer's rate (ACPI spec 4.7.3.3: 3.579545 MHz, the PC's 14.31818 MHz / 4). */
export const PM_TIMER_HZ = 3579545;
/** Where SeaBIOS puts the PIIX4 PM I/O space under QEMU (PMBA), and its size. */
export const PM_BASE = 0x600;
export const PM_LENGTH = 0x40;

export const PM1_STS = 0, PM1_EN = 2, PM1_CNT = 4, PM_TMR = 8;
export const STS_TMROF = 0x0001, STS_BM = 0x0010, STS_GBL = 0x0020, STS_PWRBTN = 0x0100, STS_RTC = 0x0400, STS_WAK = 0x8000;
export const CNT_SCI_EN = 0x0001, CNT_BRLD_EN_BM = 0x0002, CNT_GBL_RLS = 0x0004, CNT_SUS_EN = 0x2000;
export const SUS_TYP_SHIFT = 10;
/** The sleep type that powers the machine off (PIIX4 SUS_TYP 000, QEMU's \_S5). */
export const SUS_TYP_SOFF = 0;

const STS_BITS = STS_TMROF | STS_BM | STS_GBL | STS_PWRBTN | STS_RTC | STS_WAK;
const EN_BITS = STS_TMROF | STS_GBL | STS_PWRBTN | STS_RTC;
const CNT_BITS = CNT_SCI_EN | CNT_BRLD_EN_BM | (7 << SUS_TYP_SHIFT);
/** The timer's bit 23 changes every 2^23 ticks. */
const TMROF_PERIOD = 1 << 23;

export class AcpiPm implements PortDevice {
  sts = 0;
  en = 0;
  cnt = 0;
  /** The PM timer's tick (floor) at which TMROF_STS was last cleared. */
  private tmrofClearedTick = 0;
  private sciLevel = false;
  private readonly tmrof: Timer;
  /** The SCI line (IRQ 9 on the PIIX4, level-triggered, active high into the ELCR'd PIC). */
  onSci: (level: boolean) => void = () => {};
  /** SUS_EN written with the soft-off sleep type: the machine powers off. */
  onPowerOff: () => void = () => {};
  /** SUS_EN with a sleep type not modelled, for --trace. */
  onIgnoredWrite: (offset: number, value: number) => void = () => {};

  constructor(readonly clock: Clock) {
    this.tmrof = clock.timer('pm-tmrof', () => this.updateSci());
  }

  reset(): void {
    this.sts = 0; this.en = 0; this.cnt = 0;
    this.tmrofClearedTick = this.tick();
    this.tmrof.cancel();
    this.updateSci();
  }

  /** PM timer ticks at the current machine cycle, exactly (floor(cycles x 3579545 / cpuHz)). */
  tick(): number {
    const hz = this.clock.hz, cycle = this.clock.now;
    const q = Math.floor(cycle / hz);
    const r = cycle - q * hz;
    return q * PM_TIMER_HZ + Math.floor((r * PM_TIMER_HZ) / hz);
  }

  /** The first machine cycle at which tick() reaches `tick`. */
  private cycleOfTick(tick: number): number {
    const hz = this.clock.hz;
    const q = Math.floor(tick / PM_TIMER_HZ);
    const r = tick - q * PM_TIMER_HZ;
    return q * hz + Math.ceil((r * hz) / PM_TIMER_HZ);
  }

  /** PM1 status as read: TMROF_STS computed from the timer. */
  private status(): number {
    const t = this.tick();
    const overflowed = Math.floor(t / TMROF_PERIOD) > Math.floor(this.tmrofClearedTick / TMROF_PERIOD);
    return this.sts | (overflowed ? STS_TMROF : 0);
  }

  private updateSci(): void {
    const level = (this.cnt & CNT_SCI_EN) !== 0 && (this.status() & this.en & EN_BITS) !== 0;
    if (level !== this.sciLevel) {
      this.sciLevel = level;
      this.onSci(level);
    }
    // The next overflow, when it would raise the SCI and has not yet.
    if (!level && (this.cnt & CNT_SCI_EN) && (this.en & STS_TMROF)) {
      this.tmrof.arm(this.cycleOfTick((Math.floor(this.tick() / TMROF_PERIOD) + 1) * TMROF_PERIOD));
    } else {
      this.tmrof.cancel();
    }
  }

  get sci(): boolean {
    return this.sciLevel;
  }

  private readByte(at: number): number {
    switch (at) {
      case PM1_STS: return this.status() & 0xff;
      case PM1_STS + 1: return this.status() >> 8;
      case PM1_EN: return this.en & 0xff;
      case PM1_EN + 1: return this.en >> 8;
      case PM1_CNT: return this.cnt & 0xff;
      case PM1_CNT + 1: return this.cnt >> 8;
      case PM_TMR: case PM_TMR + 1: case PM_TMR + 2: return (this.tick() >>> ((at - PM_TMR) * 8)) & 0xff;
      default: return 0; // PM_TMR's top byte, the registers not modelled
    }
  }

  read(offset: number, size: number): number {
    if (offset === PM_TMR && size === 4) return this.tick() & 0xffffff; // the common case: one computation
    let v = 0;
    for (let k = size - 1; k >= 0; k--) v = (v << 8) | this.readByte(offset + k);
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    for (let k = 0; k < size; k++) this.writeByte(offset + k, (value >>> (k * 8)) & 0xff);
    this.updateSci();
  }

  private writeByte(at: number, v: number): void {
    switch (at) {
      case PM1_STS: case PM1_STS + 1: {
        const bits = (v << ((at - PM1_STS) * 8)) & STS_BITS;
        if (bits & STS_TMROF) this.tmrofClearedTick = this.tick();
        this.sts &= ~bits;
        return;
      }
      case PM1_EN: case PM1_EN + 1: {
        const shift = (at - PM1_EN) * 8;
        this.en = ((this.en & ~(0xff << shift)) | (v << shift)) & EN_BITS;
        return;
      }
      case PM1_CNT: case PM1_CNT + 1: {
        const shift = (at - PM1_CNT) * 8;
        this.cnt = ((this.cnt & ~(0xff << shift)) | (v << shift)) & CNT_BITS;
        if (shift === 8 && (v << 8) & CNT_SUS_EN) {
          const type = (this.cnt >> SUS_TYP_SHIFT) & 7;
          if (type === SUS_TYP_SOFF) this.onPowerOff();
          else this.onIgnoredWrite(PM1_CNT, this.cnt | CNT_SUS_EN);
        }
        return;
      }
      default: return;
    }
  }
}

/**
 * The PIIX/PIIX3/PIIX4 reset control register, I/O port 0xCF9 (PIIX4 datasheet, "RC -
 * Reset Control Register"), byte access only: bit 1 SRST chooses a hard (1) or soft (0)
 * reset, bit 2 RCPU written as 1 starts it. Either resets the machine, as QEMU's PIIX
 * does (and a reset, under this emulator as under `qemu -no-reboot`, ends the run).
 * Reads return SRST; RCPU reads 0 (the reset is done).
 */
export class ResetControl {
  value = 0;
  onReset: () => void = () => {};

  reset(): void {
    this.value = 0;
  }

  read(): number {
    return this.value;
  }

  write(v: number): void {
    this.value = v & 0x02;
    if (v & 0x04) this.onReset();
  }
}
