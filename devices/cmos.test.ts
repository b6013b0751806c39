/** The MC146818A RTC and CMOS RAM at the register level (Motorola MC146818A datasheet). */
import { Clock } from './clock';
import { CmosRtc, civil, unixOf } from './cmos';

const HZ = 2e9;
const START = Date.UTC(2026, 10, 24, 12, 34, 56) / 1000; // 2026-11-24 12:34:56 UTC, a Tuesday

function rtc(memory = 64 << 20) {
  const clock = new Clock(HZ);
  const r = new CmosRtc(clock, START, memory);
  let irqs = 0;
  r.onIrq8 = () => { irqs++; };
  const get = (i: number) => { r.write(0x70, i); return r.read(0x71); };
  const set = (i: number, v: number) => { r.write(0x70, i); r.write(0x71, v); };
  return { clock, r, get, set, irqs: () => irqs };
}

describe('MC146818A RTC', () => {
  it('converts dates like the proleptic Gregorian calendar does (checked against Date.UTC)', () => {
    for (const [y, mo, d, h, mi, s] of [[1970, 1, 1, 0, 0, 0], [2000, 2, 29, 23, 59, 59], [2026, 11, 24, 12, 34, 56], [2100, 3, 1, 1, 2, 3]]) {
      const u = unixOf(y, mo, d, h, mi, s);
      expect(u).toBe(Date.UTC(y, mo - 1, d, h, mi, s) / 1000);
      const c = civil(u);
      expect([c.year, c.month, c.day, c.hour, c.minute, c.second]).toEqual([y, mo, d, h, mi, s]);
      expect(c.weekday).toBe(new Date(u * 1000).getUTCDay() + 1);
    }
  });

  it('reads the start time in BCD, 24-hour, and advances with the virtual clock', () => {
    const { clock, get } = rtc();
    expect([get(0), get(2), get(4), get(6), get(7), get(8), get(9), get(0x32)]).toEqual([0x56, 0x34, 0x12, 0x03, 0x24, 0x11, 0x26, 0x20]);
    clock.advanceTo(HZ * 5);
    expect(get(0)).toBe(0x01);
    expect(get(2)).toBe(0x35);
  });

  it('gives binary values with DM set, and 12-hour with the PM bit when 24/12 is clear', () => {
    const { clock, get, set } = rtc();
    set(0x0b, 0x06); // binary, 24-hour
    expect(get(0)).toBe(56);
    set(0x0b, 0x00); // BCD, 12-hour
    clock.advanceTo(HZ * 3600); // 13:34:56
    expect(get(4)).toBe(0x81);
  });

  it('lets the guest set the time while SET is 1, and runs from it after', () => {
    const { clock, get, set } = rtc();
    set(0x0b, 0x82); // SET, BCD, 24-hour
    set(0, 0x00); set(2, 0x00); set(4, 0x08); set(7, 0x01); set(8, 0x01); set(9, 0x30); set(0x32, 0x20);
    clock.advanceTo(HZ * 10);
    expect(get(0)).toBe(0x00); // frozen
    set(0x0b, 0x02);
    clock.advanceTo(HZ * 12);
    expect([get(0), get(4), get(9)]).toEqual([0x02, 0x08, 0x30]);
  });

  it('raises the periodic interrupt at the register A rate and clears register C on read', () => {
    const { clock, get, set, irqs } = rtc();
    set(0x0b, 0x42); // PIE
    clock.advanceTo(HZ / 1024 + 1);
    expect(irqs()).toBe(1);
    expect(get(0x0c)).toBe(0xc0); // IRQF | PF
    expect(get(0x0c)).toBe(0x00);
    clock.advanceTo(HZ);
    // One more edge only: IRQF stays set (and IRQ 8 asserted) until C is read.
    expect(irqs()).toBe(2);
  });

  it('sets UF each second with UIE and AF when the alarm matches', () => {
    const { clock, get, set, irqs } = rtc();
    set(1, 0x58); set(3, 0xc0); set(5, 0xc0); // alarm at second 58 of any minute and hour
    set(0x0b, 0x32); // AIE | UIE
    clock.advanceTo(HZ * 1.5); // 12:34:57
    expect(get(0x0c) & 0x30).toBe(0x10);
    clock.advanceTo(HZ * 2.5); // 12:34:58: the alarm
    expect(get(0x0c) & 0x30).toBe(0x30);
    expect(irqs()).toBe(2);
  });

  it('shows update-in-progress in the last 244 µs of a second', () => {
    const { clock, get } = rtc();
    clock.advanceTo(HZ * 0.5);
    expect(get(0x0a) & 0x80).toBe(0);
    clock.advanceTo(HZ * (1 - 100e-6));
    expect(get(0x0a) & 0x80).toBe(0x80);
  });

  it('keeps the NMI mask bit of port 0x70 and the conventional memory bytes', () => {
    const { r, get } = rtc(64 << 20);
    r.write(0x70, 0x0f);
    expect(r.nmiMasked).toBe(false);
    r.write(0x70, 0x8f);
    expect(r.nmiMasked).toBe(true);
    expect(get(0x15) | (get(0x16) << 8)).toBe(640);
    expect(get(0x17) | (get(0x18) << 8)).toBe(63 * 1024);
    expect(get(0x34) | (get(0x35) << 8)).toBe((48 << 20) / 65536);
  });
});
