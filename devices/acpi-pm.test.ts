/**
 * The PIIX4 PM registers and the PIIX reset control register at the register level:
 * the PIIX4 datasheet (29056201, "Power Management I/O Registers", "RC - Reset Control
 * Register") and the ACPI 1.0b spec (4.7.3: PM1 status/enable/control, the PM timer at
 * 3.579545 MHz), on a 2 GHz machine clock.
 */
import { Clock } from './clock';
import { AcpiPm, ResetControl, PM1_STS, PM1_EN, PM1_CNT, PM_TMR, CNT_SCI_EN, CNT_SUS_EN, STS_TMROF } from './acpi-pm';

function pm() {
  const clock = new Clock(2e9);
  const p = new AcpiPm(clock);
  p.reset();
  const events: string[] = [];
  p.onPowerOff = () => events.push('off');
  p.onSci = (l) => events.push(l ? 'sci+' : 'sci-');
  p.onIgnoredWrite = (_o, v) => events.push(`ignored ${v.toString(16)}`);
  return { clock, p, events };
}

describe('PIIX4 PM timer (PM_TMR, PMBA+8)', () => {
  it('counts at 3.579545 MHz on the machine clock, 24 bits wide, upper byte zero', () => {
    const { clock, p } = pm();
    expect(p.read(PM_TMR, 4)).toBe(0);
    clock.advanceTo(2e9); // one second: 3 579 545 ticks
    expect(p.read(PM_TMR, 4)).toBe(3579545);
    clock.advanceTo(2e9 + 558); // 558 cycles at 2 GHz = 279 ns: one tick (279.4 ns) not yet
    expect(p.read(PM_TMR, 4)).toBe(3579545);
    clock.advanceTo(2e9 + 559);
    expect(p.read(PM_TMR, 4)).toBe(3579546);
    clock.advanceTo(5 * 2e9); // 17 897 725 ticks: past 2^24, the count wraps
    expect(p.read(PM_TMR, 4)).toBe(17897725 - (1 << 24));
    // Byte and word reads see the same count; byte 3 is zero.
    const v = p.read(PM_TMR, 4);
    expect(p.read(PM_TMR, 1) | (p.read(PM_TMR + 1, 1) << 8) | (p.read(PM_TMR + 2, 2) << 16)).toBe(v);
    expect(p.read(PM_TMR + 3, 1)).toBe(0);
  });

  it('sets TMROF_STS when bit 23 changes, cleared by writing 1; with TMROF_EN and SCI_EN it raises the SCI', () => {
    const { clock, p, events } = pm();
    const overflowCycle = Math.ceil(((1 << 23) * 2e9) / 3579545);
    clock.advanceTo(overflowCycle - 1);
    expect(p.read(PM1_STS, 2) & STS_TMROF).toBe(0);
    clock.advanceTo(overflowCycle);
    expect(p.read(PM1_STS, 2) & STS_TMROF).toBe(STS_TMROF);
    p.write(PM1_STS, 2, STS_TMROF);
    expect(p.read(PM1_STS, 2) & STS_TMROF).toBe(0);
    // Enabled, the next overflow (bit 23 back to 0) interrupts through the clock's timer.
    p.write(PM1_EN, 2, STS_TMROF);
    p.write(PM1_CNT, 2, CNT_SCI_EN);
    expect(events).toEqual([]);
    clock.advanceTo(2 * overflowCycle + 1);
    expect(events).toEqual(['sci+']);
    expect(p.sci).toBe(true);
    p.write(PM1_STS, 2, STS_TMROF);
    expect(events).toEqual(['sci+', 'sci-']);
  });
});

describe('PIIX4 PM1 control (PMCNTRL, PMBA+4)', () => {
  it('keeps SCI_EN and SUS_TYP; SUS_EN reads 0', () => {
    const { p } = pm();
    p.write(PM1_CNT, 2, CNT_SCI_EN | (5 << 10));
    expect(p.read(PM1_CNT, 2)).toBe(CNT_SCI_EN | (5 << 10));
    p.write(PM1_CNT, 2, 0);
    expect(p.read(PM1_CNT, 2)).toBe(0);
  });

  it("powers off on SUS_EN with SUS_TYP 0 (soft off), written as ACPICA does: the type first, then SLP_EN", () => {
    const { p, events } = pm();
    p.write(PM1_CNT, 2, CNT_SCI_EN);
    // acpi_hw_legacy_sleep: SLP_TYP alone, then SLP_TYP | SLP_EN.
    p.write(PM1_CNT, 2, CNT_SCI_EN | (0 << 10));
    expect(events).toEqual([]);
    p.write(PM1_CNT, 2, CNT_SCI_EN | (0 << 10) | CNT_SUS_EN);
    expect(events).toEqual(['off']);
    expect(p.read(PM1_CNT, 2) & CNT_SUS_EN).toBe(0);
  });

  it('powers off on a byte write of the high half too, and ignores sleep types it does not model', () => {
    const { p, events } = pm();
    p.write(PM1_CNT + 1, 1, (1 << 2) | 0x20); // SUS_TYP 1 (suspend to RAM) with SUS_EN
    expect(events).toEqual(['ignored 2400']);
    p.write(PM1_CNT + 1, 1, 0x20); // SUS_TYP 0 with SUS_EN
    expect(events).toEqual(['ignored 2400', 'off']);
  });

  it('keeps only the defined enable bits', () => {
    const { p } = pm();
    p.write(PM1_EN, 2, 0xffff);
    expect(p.read(PM1_EN, 2)).toBe(0x0521); // RTC_EN, PWRBTN_EN, GBL_EN, TMROF_EN
  });
});

describe('PIIX reset control register (0xCF9)', () => {
  it('resets on RCPU (bit 2) written as 1, hard or soft, and reads back SRST only', () => {
    const r = new ResetControl();
    let resets = 0;
    r.onReset = () => resets++;
    r.write(0x02); // SRST: choose a hard reset
    expect(resets).toBe(0);
    expect(r.read()).toBe(0x02);
    r.write(0x06); // Linux's reboot=pci: 0x02, then 0x06
    expect(resets).toBe(1);
    r.write(0x04); // a soft reset: QEMU's PIIX resets the machine too
    expect(resets).toBe(2);
    expect(r.read()).toBe(0x00);
  });
});
