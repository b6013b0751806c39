import { Port92 } from './port92';

describe('port 0x92', () => {
  it('drives A20 from bit 1, reads back, and pulses reset on bit 0', () => {
    const p = new Port92();
    const a20: boolean[] = [];
    let resets = 0;
    p.onA20 = (e) => a20.push(e);
    p.onReset = () => resets++;
    expect(p.read()).toBe(0x02);
    p.write(0x00);
    p.write(0x00);
    p.write(0x02);
    expect(a20).toEqual([false, true]);
    p.write(0x03);
    expect(resets).toBe(1);
    expect(p.read()).toBe(0x02);
  });
});
