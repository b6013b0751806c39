/** The 16550A at the register level (National PC16550D datasheet). */
import { Clock } from './clock';
import { Uart16550 } from './uart16550';

function uart() {
  const clock = new Clock(2e9);
  const u = new Uart16550(clock);
  const out: number[] = [];
  let irq = false;
  u.onTransmit = (b) => out.push(b);
  u.onIrq = (l) => { irq = l; };
  u.reset();
  return { clock, u, out, irq: () => irq, r: (o: number) => u.read(o, 1), w: (o: number, v: number) => u.write(o, 1, v) };
}

describe('16550A UART', () => {
  it('switches registers 0 and 1 to the divisor latch with LCR.DLAB', () => {
    const { u, r, w } = uart();
    w(3, 0x80); w(0, 0x01); w(1, 0x00);
    expect([r(0), r(1)]).toEqual([0x01, 0x00]);
    w(3, 0x03);
    expect(u.baud).toBe(115200);
    expect(r(3)).toBe(0x03);
  });

  it('transmits THR bytes at once with THRE and TEMT set', () => {
    const { out, r, w } = uart();
    w(0, 0x41);
    expect(out).toEqual([0x41]);
    expect(r(5) & 0x60).toBe(0x60);
  });

  it('keeps SCR', () => {
    const { r, w } = uart();
    w(7, 0x5a);
    expect(r(7)).toBe(0x5a);
  });

  it('loops THR back into RBR in loopback mode, with data ready, and does not transmit', () => {
    const { out, r, w } = uart();
    w(4, 0x10);
    w(0, 0x33);
    expect(out).toEqual([]);
    expect(r(5) & 1).toBe(1);
    expect(r(0)).toBe(0x33);
    expect(r(5) & 1).toBe(0);
  });

  it('feeds MCR outputs to MSR inputs in loopback, with delta bits cleared on read', () => {
    const { r, w } = uart();
    w(4, 0x10 | 0x03); // loop, DTR, RTS
    expect(r(6) & 0xf0).toBe(0x30); // CTS, DSR from RTS, DTR; DCD dropped (OUT2 off)
    expect(r(6) & 0x0f).toBe(0); // deltas cleared by the read
    w(4, 0x10 | 0x01); // RTS off
    const msr = r(6);
    expect(msr & 0x10).toBe(0); // CTS follows RTS
    expect(msr & 0x01).toBe(0x01); // DCTS
  });

  it('interrupts on received data only with IER.ERBFI and MCR.OUT2, identified in IIR', () => {
    const { u, r, w, irq } = uart();
    w(1, 0x01);
    u.receive(0x61);
    expect(irq()).toBe(false); // OUT2 gates the IRQ line on a PC
    w(4, 0x08);
    expect(irq()).toBe(true);
    expect(r(2) & 0x0f).toBe(0x04);
    r(0);
    expect(irq()).toBe(false);
    expect(r(2) & 0x0f).toBe(0x01);
  });

  it('raises the THRE interrupt when enabled, cleared by reading IIR', () => {
    const { r, w, irq } = uart();
    w(4, 0x08);
    w(1, 0x02);
    expect(irq()).toBe(true);
    expect(r(2) & 0x0f).toBe(0x02);
    expect(irq()).toBe(false);
  });

  it('buffers 16 bytes with FIFOs on, reports overrun past that, and uses the trigger level', () => {
    const { u, r, w } = uart();
    w(2, 0xc7); // FIFO on, trigger 14
    expect(r(2) & 0xc0).toBe(0xc0);
    for (let i = 0; i < 17; i++) u.receive(i);
    expect(r(5) & 0x02).toBe(0x02); // OE
    expect(r(5) & 0x02).toBe(0); // cleared by reading LSR
    const got: number[] = [];
    while (r(5) & 1) got.push(r(0));
    expect(got).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it('signals a character timeout for bytes below the trigger level', () => {
    const { clock, u, r, w, irq } = uart();
    w(3, 0x80); w(0, 1); w(1, 0); w(3, 0x03); // 115200 baud
    w(2, 0xc1); // FIFO on, trigger 14
    w(4, 0x08); w(1, 0x01);
    u.receive(0x41);
    expect(irq()).toBe(false);
    clock.advanceTo(Math.ceil((40 * 2e9) / 115200));
    expect(irq()).toBe(true);
    expect(r(2) & 0x0f).toBe(0x0c);
  });
});
