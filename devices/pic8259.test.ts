/**
 * The 8259A pair at the register level, from the Intel 8259A datasheet (231468):
 * initialization, priority, cascade, EOI forms, AEOI, OCW3 reads and poll, special
 * mask mode, edge vs level inputs, and the spurious IR7/IR15 acknowledge.
 */
import { DualPic } from './pic8259';

/** The initialization every PC BIOS and kernel does: vectors 0x20 and 0x28, cascade on IR2. */
function standardPic(): { pic: DualPic; intr: () => boolean } {
  const pic = new DualPic();
  let intr = false;
  pic.onOutput = (l) => { intr = l; };
  pic.reset();
  pic.write(0x20, 0x11); pic.write(0x21, 0x20); pic.write(0x21, 0x04); pic.write(0x21, 0x01);
  pic.write(0xa0, 0x11); pic.write(0xa1, 0x28); pic.write(0xa1, 0x02); pic.write(0xa1, 0x01);
  pic.write(0x21, 0x00); pic.write(0xa1, 0x00);
  return { pic, intr: () => intr };
}

describe('8259A pair', () => {
  it('raises INTR for an unmasked request and answers INTA with ICW2 base + IR', () => {
    const { pic, intr } = standardPic();
    expect(intr()).toBe(false);
    pic.setIrq(0, true);
    expect(intr()).toBe(true);
    expect(pic.acknowledge()).toBe(0x20);
    expect(pic.master.isr).toBe(0x01);
    expect(pic.master.irr & 1).toBe(0);
    expect(intr()).toBe(false);
    pic.write(0x20, 0x20); // non-specific EOI
    expect(pic.master.isr).toBe(0);
  });

  it('keeps masked requests in IRR without raising INTR, and reads IMR back', () => {
    const { pic, intr } = standardPic();
    pic.write(0x21, 0xfe);
    expect(pic.read(0x21)).toBe(0xfe);
    pic.setIrq(3, true);
    expect(intr()).toBe(false);
    expect(pic.read(0x20) & 0x08).toBe(0x08); // OCW3 default: reads IRR
    pic.write(0x21, 0x00);
    expect(intr()).toBe(true);
  });

  it('serves the highest priority first and lets only higher priorities nest', () => {
    const { pic, intr } = standardPic();
    pic.setIrq(3, true);
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x21);
    expect(intr()).toBe(false); // IR3 is lower than IR1 in service
    pic.setIrq(0, true);
    expect(intr()).toBe(true); // IR0 is higher
    expect(pic.acknowledge()).toBe(0x20);
    pic.write(0x20, 0x20); // EOI clears IR0 (the highest in service)
    expect(pic.master.isr).toBe(0x02);
    pic.write(0x20, 0x20);
    expect(pic.acknowledge()).toBe(0x23);
  });

  it('routes slave requests through IR2: vector from the slave, ISR bits on both chips', () => {
    const { pic } = standardPic();
    pic.setIrq(12, true);
    expect(pic.acknowledge()).toBe(0x2c);
    expect(pic.master.isr).toBe(0x04);
    expect(pic.slave.isr).toBe(0x10);
    pic.write(0xa0, 0x20);
    pic.write(0x20, 0x20);
    expect(pic.master.isr | pic.slave.isr).toBe(0);
  });

  it('specific EOI clears exactly the named level', () => {
    const { pic } = standardPic();
    pic.setIrq(4, true); pic.acknowledge();
    pic.setIrq(1, true); pic.acknowledge();
    pic.write(0x20, 0x64); // specific EOI, level 4
    expect(pic.master.isr).toBe(0x02);
  });

  it('automatic EOI (ICW4 bit 1) leaves ISR clear', () => {
    const pic = new DualPic();
    pic.reset();
    pic.write(0x20, 0x11); pic.write(0x21, 0x08); pic.write(0x21, 0x04); pic.write(0x21, 0x03);
    pic.write(0x21, 0x00);
    pic.setIrq(5, true);
    expect(pic.acknowledge()).toBe(0x0d);
    expect(pic.master.isr).toBe(0);
  });

  it('OCW3 selects ISR for reads, and poll mode makes the read the acknowledge', () => {
    const { pic } = standardPic();
    pic.setIrq(6, true);
    pic.write(0x20, 0x0b); // read ISR
    expect(pic.read(0x20)).toBe(0);
    pic.write(0x20, 0x0c); // poll
    expect(pic.read(0x20)).toBe(0x86);
    expect(pic.master.isr).toBe(0x40);
    pic.write(0x20, 0x0c);
    expect(pic.read(0x20)).toBe(0x00); // nothing more pending
  });

  it('OCW2 set-priority makes IR(L+1) the highest', () => {
    const { pic } = standardPic();
    pic.write(0x20, 0xc4); // set priority, bottom = IR4 -> IR5 highest
    pic.setIrq(1, true);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x26);
  });

  it('special mask mode lets lower priorities in while a masked level is in service', () => {
    const { pic, intr } = standardPic();
    pic.setIrq(1, true); pic.acknowledge();
    pic.setIrq(5, true);
    expect(intr()).toBe(false);
    pic.write(0x21, 0x02); // mask IR1 (in service)
    pic.write(0x20, 0x68); // OCW3: set special mask mode
    expect(intr()).toBe(true);
    expect(pic.acknowledge()).toBe(0x25);
  });

  it('an edge input held high requests once', () => {
    const { pic } = standardPic();
    pic.setIrq(3, true);
    pic.acknowledge();
    pic.write(0x20, 0x20);
    pic.setIrq(3, true); // still high: no new edge
    expect(pic.master.irr & 0x08).toBe(0);
    pic.setIrq(3, false);
    pic.setIrq(3, true);
    expect(pic.master.irr & 0x08).toBe(0x08);
  });

  it('answers a withdrawn level request with the spurious IR7 vector and no ISR bit', () => {
    const { pic, intr } = standardPic();
    pic.write(0x4d0, 0x20); // ELCR: IRQ 5 level-triggered
    pic.setIrq(5, true);
    expect(intr()).toBe(true);
    pic.setIrq(5, false); // withdrawn before the CPU acknowledges
    expect(pic.acknowledge()).toBe(0x27);
    expect(pic.master.isr).toBe(0);
  });

  it('answers a withdrawn slave request with IR15 (slave base + 7), master IR2 in service', () => {
    const { pic } = standardPic();
    pic.write(0x4d1, 0x08); // ELCR: IRQ 11 level-triggered
    pic.setIrq(11, true);
    pic.slave.setLine(3, false); // the device drops its line, the master already saw IR2
    expect(pic.acknowledge()).toBe(0x2f);
    expect(pic.slave.isr).toBe(0);
    expect(pic.master.isr).toBe(0x04);
  });

  it('ELCR bits for IRQ 0, 1, 2, 8 and 13 cannot be set (PIIX)', () => {
    const { pic } = standardPic();
    pic.write(0x4d0, 0xff);
    pic.write(0x4d1, 0xff);
    expect(pic.read(0x4d0)).toBe(0xf8);
    expect(pic.read(0x4d1)).toBe(0xde);
  });

  it('reports a write it cannot honour (ICW4 without 8086 mode) instead of failing', () => {
    const pic = new DualPic();
    const ignored: number[] = [];
    pic.onIgnoredWrite = (port, v) => ignored.push(port, v);
    pic.reset();
    pic.write(0x20, 0x11); pic.write(0x21, 0x20); pic.write(0x21, 0x04); pic.write(0x21, 0x00);
    expect(ignored).toEqual([0x21, 0x00]);
  });
});
