/**
 * The 8254 at the register level, from the Intel 8254 datasheet (231164), on a
 * 2 GHz machine clock: the PIT input is 1.193182 MHz.
 */
import { Clock } from './clock';
import { Pit8254 } from './pit8254';

function pit() {
  const clock = new Clock(2e9);
  const p = new Pit8254(clock, 1_193_182);
  p.reset();
  let irqs = 0;
  p.onIrq0 = () => { irqs++; };
  /** Moves the clock to PIT tick `t`. */
  const toTick = (t: number) => clock.advanceTo(p.cycleOfTick(t));
  return { clock, p, toTick, irqs: () => irqs };
}

describe('8254', () => {
  it('converts between machine cycles and PIT ticks exactly, also after hours', () => {
    const { p } = pit();
    for (const t of [0, 1, 1193, 1193182, 1193182 * 3600 * 5 + 7]) {
      const c = p.cycleOfTick(t);
      expect(p.tickAt(c)).toBe(t);
      if (t > 0) expect(p.tickAt(c - 1)).toBe(t - 1);
    }
  });

  it('mode 2 on channel 0 raises IRQ 0 once per count: 1193 gives 1000 per second', () => {
    const { clock, p, irqs } = pit();
    p.write(0x43, 0x34); // channel 0, LSB then MSB, mode 2, binary
    p.write(0x40, 1193 & 0xff);
    p.write(0x40, 1193 >> 8);
    clock.advanceTo(2e9); // one second
    expect(irqs()).toBe(Math.floor(1_193_182 / 1193));
  });

  it('counts down in mode 2 and reloads; the counter latch freezes the value until read', () => {
    const { p, toTick } = pit();
    p.write(0x43, 0x34); p.write(0x40, 100); p.write(0x40, 0);
    toTick(30);
    expect(p.read(0x40) | (p.read(0x40) << 8)).toBe(70);
    p.write(0x43, 0x00); // latch channel 0
    toTick(60);
    expect(p.read(0x40) | (p.read(0x40) << 8)).toBe(70); // the latched value
    expect(p.read(0x40) | (p.read(0x40) << 8)).toBe(40); // live again
    toTick(130);
    expect(p.read(0x40) | (p.read(0x40) << 8)).toBe(70); // reloaded at 100
  });

  it('read-back returns the status byte: OUT, null count, RW, mode, BCD', () => {
    const { p, toTick } = pit();
    p.write(0x43, 0xb0); // channel 2, LSB then MSB, mode 0
    p.write(0x43, 0xe8); // read-back status of channel 2
    expect(p.read(0x42)).toBe(0x40 | 0x30 | 0x00); // OUT low, null count, RW=3, mode 0
    p.write(0x61, 0x01); // gate 2 high
    p.write(0x42, 10); p.write(0x42, 0);
    toTick(20);
    p.write(0x43, 0xe8);
    expect(p.read(0x42)).toBe(0x80 | 0x30); // OUT high after terminal count, count loaded
  });

  it('mode 0 on channel 2 shows OUT2 in port 0x61 bit 5 at terminal count, gated by bit 0', () => {
    const { p, toTick } = pit();
    p.write(0x61, 0x00); // gate low: the count is held
    p.write(0x43, 0xb0); p.write(0x42, 50); p.write(0x42, 0);
    toTick(100);
    expect(p.read(0x61) & 0x20).toBe(0);
    p.write(0x61, 0x01); // gate high: counting starts
    toTick(149);
    expect(p.read(0x61) & 0x20).toBe(0);
    toTick(150);
    expect(p.read(0x61) & 0x21).toBe(0x21);
  });

  it('mode 3 is a square wave: high for the first half of each period', () => {
    const { p, toTick } = pit();
    p.write(0x61, 0x01);
    p.write(0x43, 0xb6); p.write(0x42, 100); p.write(0x42, 0);
    const t0 = p.tickAt(p.clock.now);
    toTick(t0 + 10);
    expect(p.read(0x61) & 0x20).toBe(0x20);
    toTick(t0 + 60);
    expect(p.read(0x61) & 0x20).toBe(0);
    toTick(t0 + 110);
    expect(p.read(0x61) & 0x20).toBe(0x20);
  });

  it('toggles the refresh bit (port 0x61 bit 4) with time', () => {
    const { p, toTick } = pit();
    const a = p.read(0x61) & 0x10;
    toTick(18);
    expect(p.read(0x61) & 0x10).not.toBe(a);
  });

  it('counts in BCD when asked: 0x0100 is one hundred', () => {
    const { p, toTick } = pit();
    p.write(0x43, 0x35); // channel 0, LSB/MSB, mode 2, BCD
    p.write(0x40, 0x00); p.write(0x40, 0x01);
    toTick(p.tickAt(p.clock.now) + 1);
    expect(p.read(0x40) | (p.read(0x40) << 8)).toBe(0x99);
  });

  it('reads LSB-only and MSB-only modes as one byte each', () => {
    const { p } = pit();
    p.write(0x43, 0x50); // channel 1, LSB only, mode 0
    p.write(0x41, 0x80);
    expect(p.read(0x41)).toBe(0x80);
    p.write(0x43, 0x60); // channel 1, MSB only
    p.write(0x41, 0x12);
    expect(p.read(0x41)).toBe(0x12);
  });
});
