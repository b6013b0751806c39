/**
 * The 82093AA I/O APIC at the register level, from its datasheet (290566, section 3)
 * and the Intel SDM vol. 3A chapter 10: the indirect IOREGSEL/IOWIN access, the ID,
 * version and arbitration registers, the redirection table's bits, edge and level
 * delivery with remote IRR and EOI, and what odd guest accesses do.
 */
import seedrandom from 'seedrandom';
import { IoApic, IoApicSink, IOAPIC_PINS } from './ioapic';

interface Message { vector: number; mode: number; logical: boolean; destination: number; level: boolean }

/** An I/O APIC with a sink that records every message, and a trace that records every line. */
function recordingApic(): { apic: IoApic; sent: Message[]; lines: string[] } {
  const sent: Message[] = [];
  const lines: string[] = [];
  const sink: IoApicSink = {
    deliver(vector, mode, logical, destination, level) { sent.push({ vector, mode, logical, destination, level }); },
  };
  return { apic: new IoApic(sink, (l) => lines.push(l)), sent, lines };
}

/** Reads register `index` through IOREGSEL/IOWIN, as a guest does. */
function readReg(apic: IoApic, index: number): number {
  apic.write(0x00, 4, index);
  return apic.read(0x10, 4);
}

function writeReg(apic: IoApic, index: number, value: number): void {
  apic.write(0x00, 4, index);
  apic.write(0x10, 4, value);
}

/** Programs pin `pin`'s entry: low dword `low`, destination `dest`. */
function program(apic: IoApic, pin: number, low: number, dest = 0): void {
  writeReg(apic, 0x11 + 2 * pin, dest << 24);
  writeReg(apic, 0x10 + 2 * pin, low);
}

const LEVEL = 1 << 15, MASKED = 1 << 16, REMOTE_IRR = 1 << 14, LOGICAL = 1 << 11;

describe('82093AA I/O APIC registers', () => {
  it('resets to version 0x00170011, ID 0 and every entry masked (3.2.1, 3.2.2, 3.2.4)', () => {
    const { apic } = recordingApic();
    expect(apic.read(0x00, 4)).toBe(0);
    expect(readReg(apic, 0x01)).toBe(0x00170011);
    expect(readReg(apic, 0x00)).toBe(0);
    expect(readReg(apic, 0x02)).toBe(0);
    for (let n = 0; n < IOAPIC_PINS; n++) {
      expect(readReg(apic, 0x10 + 2 * n)).toBe(0x00010000);
      expect(readReg(apic, 0x11 + 2 * n)).toBe(0);
    }
  });

  it('reset() brings back the power-on state after programming', () => {
    const { apic } = recordingApic();
    writeReg(apic, 0x00, 0x05000000);
    program(apic, 3, 0x8031, 0xff);
    apic.reset();
    expect(apic.read(0x00, 4)).toBe(0);
    expect(readReg(apic, 0x00)).toBe(0);
    expect(readReg(apic, 0x16)).toBe(0x00010000);
    expect(readReg(apic, 0x17)).toBe(0);
  });

  it('IOREGSEL reads back its index in bits 0-7 and ignores the reserved bits (3.1.1)', () => {
    const { apic } = recordingApic();
    apic.write(0x00, 4, 0x12345621);
    expect(apic.read(0x00, 4)).toBe(0x21);
    apic.write(0x00, 4, 0xff);
    expect(apic.read(0x00, 4)).toBe(0xff);
  });

  it('the ID register keeps only bits 24-27, and the arbitration ID follows it (3.2.1, 3.2.3)', () => {
    const { apic } = recordingApic();
    writeReg(apic, 0x00, 0xffffffff);
    expect(readReg(apic, 0x00)).toBe(0x0f000000);
    expect(readReg(apic, 0x02)).toBe(0x0f000000);
    writeReg(apic, 0x00, 0x03000000);
    expect(readReg(apic, 0x00)).toBe(0x03000000);
    expect(readReg(apic, 0x02)).toBe(0x03000000);
  });

  it('the version and arbitration registers ignore writes (3.2.2, 3.2.3)', () => {
    const { apic } = recordingApic();
    writeReg(apic, 0x01, 0xffffffff);
    writeReg(apic, 0x02, 0xffffffff);
    expect(readReg(apic, 0x01)).toBe(0x00170011);
    expect(readReg(apic, 0x02)).toBe(0);
  });

  it('an entry keeps its writable bits and reads its reserved bits as 0 after all ones (3.2.4)', () => {
    const { apic } = recordingApic();
    writeReg(apic, 0x10, 0xffffffff);
    writeReg(apic, 0x11, 0xffffffff);
    // vector, mode, destination mode, polarity, trigger, mask; not delivery status or remote IRR
    expect(readReg(apic, 0x10)).toBe(0x0001afff);
    expect(readReg(apic, 0x11)).toBe(0xff000000);
    writeReg(apic, 0x3f, 0x00ffffff); // entry 23's high dword: bits 32-55 are reserved
    expect(readReg(apic, 0x3f)).toBe(0);
  });

  it('delivery status and remote IRR cannot be written (3.2.4)', () => {
    const { apic } = recordingApic();
    writeReg(apic, 0x12, (1 << 12) | REMOTE_IRR | LEVEL | 0x40);
    expect(readReg(apic, 0x12)).toBe(LEVEL | 0x40);
    // With remote IRR set by a delivery, writing 0 to it leaves it set (the pin dropped,
    // so nothing could set it again).
    apic.setIrq(1, true);
    apic.setIrq(1, false);
    expect(readReg(apic, 0x12) & REMOTE_IRR).toBe(REMOTE_IRR);
    writeReg(apic, 0x12, LEVEL | 0x40);
    expect(readReg(apic, 0x12)).toBe(REMOTE_IRR | LEVEL | 0x40);
  });

  it('writing the trigger mode to edge clears remote IRR (the model choice, as QEMU)', () => {
    const { apic } = recordingApic();
    program(apic, 4, LEVEL | 0x44);
    apic.setIrq(4, true);
    expect(readReg(apic, 0x18) & REMOTE_IRR).toBe(REMOTE_IRR);
    writeReg(apic, 0x18, 0x44);
    expect(readReg(apic, 0x18)).toBe(0x44);
  });

  it('indexes with no register read 0 and drop writes', () => {
    const { apic } = recordingApic();
    for (const index of [0x03, 0x0f, 0x40, 0x80, 0xff]) {
      writeReg(apic, index, 0xffffffff);
      expect(readReg(apic, index)).toBe(0);
    }
    expect(readReg(apic, 0x01)).toBe(0x00170011);
    expect(readReg(apic, 0x3e)).toBe(0x00010000);
  });
});

describe('82093AA I/O APIC edge-triggered delivery (3.2.4)', () => {
  it('sends one message per rising edge, and none while the pin is held', () => {
    const { apic, sent } = recordingApic();
    program(apic, 1, 0x31);
    apic.setIrq(1, true);
    expect(sent).toEqual([{ vector: 0x31, mode: 0, logical: false, destination: 0, level: false }]);
    apic.setIrq(1, true);
    apic.setIrq(1, true);
    expect(sent.length).toBe(1);
    apic.setIrq(1, false);
    expect(sent.length).toBe(1);
    apic.setIrq(1, true);
    expect(sent.length).toBe(2);
    expect(readReg(apic, 0x12) & REMOTE_IRR).toBe(0); // remote IRR is for level entries only
  });

  it('discards an edge on a masked pin: nothing then, nothing when unmasked later', () => {
    const { apic, sent } = recordingApic();
    program(apic, 2, MASKED | 0x32);
    apic.setIrq(2, true);
    expect(sent.length).toBe(0);
    writeReg(apic, 0x14, 0x32); // unmask with the pin still high
    expect(sent.length).toBe(0);
    apic.setIrq(2, false);
    writeReg(apic, 0x14, 0x32);
    expect(sent.length).toBe(0);
    apic.setIrq(2, true); // a new edge, unmasked
    expect(sent.length).toBe(1);
  });

  it('eoi does not resend an edge entry with the pin still high', () => {
    const { apic, sent } = recordingApic();
    program(apic, 0, 0x30);
    apic.setIrq(0, true);
    apic.eoi(0x30);
    expect(sent.length).toBe(1);
  });
});

describe('82093AA I/O APIC level-triggered delivery (3.2.4, SDM 10.8.5)', () => {
  it('sends the message and sets remote IRR (bit 14), and sends no more until the EOI', () => {
    const { apic, sent } = recordingApic();
    program(apic, 9, LEVEL | 0x49, 0x01);
    apic.setIrq(9, true);
    expect(sent).toEqual([{ vector: 0x49, mode: 0, logical: false, destination: 1, level: true }]);
    expect(readReg(apic, 0x22)).toBe(REMOTE_IRR | LEVEL | 0x49);
    apic.setIrq(9, true);
    apic.setIrq(9, false);
    apic.setIrq(9, true);
    expect(sent.length).toBe(1);
  });

  it('an EOI with the pin still asserted clears remote IRR and sends again', () => {
    const { apic, sent } = recordingApic();
    program(apic, 9, LEVEL | 0x49);
    apic.setIrq(9, true);
    apic.eoi(0x49);
    expect(sent.length).toBe(2);
    expect(readReg(apic, 0x22) & REMOTE_IRR).toBe(REMOTE_IRR);
  });

  it('an EOI after the pin dropped clears remote IRR and sends nothing', () => {
    const { apic, sent } = recordingApic();
    program(apic, 9, LEVEL | 0x49);
    apic.setIrq(9, true);
    apic.setIrq(9, false);
    apic.eoi(0x49);
    expect(sent.length).toBe(1);
    expect(readReg(apic, 0x22) & REMOTE_IRR).toBe(0);
    apic.setIrq(9, true);
    expect(sent.length).toBe(2);
  });

  it('an EOI for another vector leaves remote IRR set', () => {
    const { apic, sent } = recordingApic();
    program(apic, 9, LEVEL | 0x49);
    apic.setIrq(9, true);
    apic.eoi(0x48);
    apic.eoi(NaN);
    expect(sent.length).toBe(1);
    expect(readReg(apic, 0x22) & REMOTE_IRR).toBe(REMOTE_IRR);
  });

  it('an EOI clears remote IRR on every level entry with that vector', () => {
    const { apic, sent } = recordingApic();
    program(apic, 16, LEVEL | 0x50);
    program(apic, 17, LEVEL | 0x50);
    apic.setIrq(16, true);
    apic.setIrq(17, true);
    apic.setIrq(16, false);
    apic.setIrq(17, false);
    apic.eoi(0x50);
    expect(readReg(apic, 0x30) & REMOTE_IRR).toBe(0);
    expect(readReg(apic, 0x32) & REMOTE_IRR).toBe(0);
    expect(sent.length).toBe(2);
  });

  it('a masked level pin sends nothing, and unmasking it while asserted sends it', () => {
    const { apic, sent } = recordingApic();
    program(apic, 11, MASKED | LEVEL | 0x4b);
    apic.setIrq(11, true);
    expect(sent.length).toBe(0);
    expect(readReg(apic, 0x26) & REMOTE_IRR).toBe(0);
    writeReg(apic, 0x26, LEVEL | 0x4b);
    expect(sent).toEqual([{ vector: 0x4b, mode: 0, logical: false, destination: 0, level: true }]);
    expect(readReg(apic, 0x26) & REMOTE_IRR).toBe(REMOTE_IRR);
  });

  it('unmasking a level entry whose pin dropped while masked sends nothing', () => {
    const { apic, sent } = recordingApic();
    program(apic, 11, MASKED | LEVEL | 0x4b);
    apic.setIrq(11, true);
    apic.setIrq(11, false);
    writeReg(apic, 0x26, LEVEL | 0x4b);
    expect(sent.length).toBe(0);
  });

  it('a masked entry awaiting EOI is not resent by the EOI until unmasked', () => {
    const { apic, sent } = recordingApic();
    program(apic, 5, LEVEL | 0x45);
    apic.setIrq(5, true);
    writeReg(apic, 0x1a, MASKED | LEVEL | 0x45);
    apic.eoi(0x45);
    expect(sent.length).toBe(1);
    expect(readReg(apic, 0x1a) & REMOTE_IRR).toBe(0);
    writeReg(apic, 0x1a, LEVEL | 0x45);
    expect(sent.length).toBe(2);
  });

  it('reset keeps the pin levels: unmasking an entry whose pin stayed asserted sends it', () => {
    const { apic, sent } = recordingApic();
    apic.setIrq(6, true);
    apic.reset();
    program(apic, 6, LEVEL | 0x46);
    expect(sent.length).toBe(1);
  });
});

describe('82093AA I/O APIC messages', () => {
  it('passes destination mode, destination and delivery mode to the sink as programmed', () => {
    const { apic, sent } = recordingApic();
    program(apic, 0, (1 << 8) | LOGICAL | 0x61, 0x0f); // lowest priority, logical
    program(apic, 1, (7 << 8), 0x00); // ExtINT
    program(apic, 2, (4 << 8) | LOGICAL, 0xff); // NMI, broadcast
    program(apic, 3, (2 << 8) | LEVEL | 0x99, 0x80); // SMI, level (the sink decides)
    program(apic, 4, (5 << 8), 0x03); // INIT
    for (let pin = 0; pin < 5; pin++) apic.setIrq(pin, true);
    expect(sent).toEqual([
      { vector: 0x61, mode: 1, logical: true, destination: 0x0f, level: false },
      { vector: 0x00, mode: 7, logical: false, destination: 0x00, level: false },
      { vector: 0x00, mode: 4, logical: true, destination: 0xff, level: false },
      { vector: 0x99, mode: 2, logical: false, destination: 0x80, level: true },
      { vector: 0x00, mode: 5, logical: false, destination: 0x03, level: false },
    ]);
  });

  it('stores the polarity bit (13) without changing what an asserted input does', () => {
    const { apic, sent } = recordingApic();
    program(apic, 7, (1 << 13) | 0x47);
    expect(readReg(apic, 0x1e)).toBe((1 << 13) | 0x47);
    apic.setIrq(7, true);
    expect(sent.length).toBe(1);
  });

  it('traces one line per message sent', () => {
    const { apic, lines } = recordingApic();
    program(apic, 23, LEVEL | (4 << 8) | 0x0a, 0x02);
    program(apic, 22, 0xef, 0x80);
    apic.setIrq(23, true);
    apic.setIrq(22, true);
    apic.setIrq(22, true);
    expect(lines).toEqual([
      'ioapic pin=23 vector=0x0a mode=4 dest=0x02 level',
      'ioapic pin=22 vector=0xef mode=0 dest=0x80 edge',
    ]);
  });

  it('works with no trace', () => {
    const sent: number[] = [];
    const apic = new IoApic({ deliver: (v) => { sent.push(v); } });
    writeReg(apic, 0x10, 0x20);
    apic.setIrq(0, true);
    expect(sent).toEqual([0x20]);
  });
});

describe('82093AA I/O APIC odd guest input', () => {
  it('ignores pins out of range', () => {
    const { apic, sent } = recordingApic();
    for (let n = 0; n < IOAPIC_PINS; n++) writeReg(apic, 0x10 + 2 * n, 0x20 + n);
    for (const pin of [-1, 24, 31, 32, 33, NaN, 1.5, Infinity, -Infinity, 0x100000000]) {
      expect(() => apic.setIrq(pin, true)).not.toThrow();
    }
    expect(sent.length).toBe(0);
  });

  it('a byte or word write to IOREGSEL sets the index from its low byte; bytes 1-3 are reserved', () => {
    const { apic } = recordingApic();
    apic.write(0x00, 1, 0x01);
    expect(apic.read(0x00, 4)).toBe(0x01);
    apic.write(0x00, 2, 0x1210);
    expect(apic.read(0x00, 4)).toBe(0x10);
    apic.write(0x01, 1, 0x02);
    apic.write(0x02, 2, 0x02);
    apic.write(0x03, 1, 0x02);
    expect(apic.read(0x00, 4)).toBe(0x10);
    expect(apic.read(0x00, 1)).toBe(0x10);
    expect(apic.read(0x01, 1)).toBe(0);
    expect(apic.read(0x00, 2)).toBe(0x10);
  });

  it('a narrower read of IOWIN returns the bytes of the register from that offset', () => {
    const { apic } = recordingApic();
    apic.write(0x00, 4, 0x01);
    expect(apic.read(0x10, 1)).toBe(0x11);
    expect(apic.read(0x10, 2)).toBe(0x0011);
    expect(apic.read(0x12, 1)).toBe(0x17);
    expect(apic.read(0x12, 2)).toBe(0x0017);
    expect(apic.read(0x12, 4)).toBe(0x0017); // bytes past the register read 0
    expect(apic.read(0x13, 1)).toBe(0);
  });

  it('drops a narrower or misaligned write to IOWIN', () => {
    const { apic } = recordingApic();
    apic.write(0x00, 4, 0x10);
    apic.write(0x10, 1, 0x00);
    apic.write(0x10, 2, 0x0000);
    apic.write(0x11, 1, 0x00);
    apic.write(0x12, 2, 0x0000);
    apic.write(0x11, 4, 0x00000000);
    expect(apic.read(0x10, 4)).toBe(0x00010000);
  });

  it('other offsets in the page read 0 and drop writes', () => {
    const { apic } = recordingApic();
    apic.write(0x00, 4, 0x01);
    for (const offset of [0x04, 0x08, 0x0c, 0x14, 0x20, 0x40, 0xf0, 0xffc, 0xfff]) {
      apic.write(offset, 4, 0xffffffff);
      expect(apic.read(offset, 4)).toBe(0);
    }
    expect(apic.read(0x00, 4)).toBe(0x01);
    expect(apic.read(0x10, 4)).toBe(0x00170011);
  });

  it('offsets outside the page and sizes other than 1, 2 and 4 read 0 and drop writes', () => {
    const { apic } = recordingApic();
    apic.write(0x00, 4, 0x01);
    for (const offset of [-1, -0x10, 0x1000, 0x1010, 0.5, 16.5, NaN, Infinity, -Infinity]) {
      expect(() => apic.write(offset, 4, 0x00)).not.toThrow();
      expect(apic.read(offset, 4)).toBe(0);
    }
    for (const size of [0, 3, 8, -1, NaN, 1.5]) {
      expect(() => apic.write(0x00, size, 0x00)).not.toThrow();
      expect(apic.read(0x10, size)).toBe(0);
    }
    expect(apic.read(0x00, 4)).toBe(0x01);
  });

  it('takes written values modulo 2^32, NaN as 0', () => {
    const { apic } = recordingApic();
    apic.write(0x00, 4, 0x10);
    apic.write(0x10, 4, -1);
    expect(apic.read(0x10, 4)).toBe(0x0001afff);
    apic.write(0x10, 4, 0x100000031);
    expect(apic.read(0x10, 4)).toBe(0x31);
    apic.write(0x10, 4, NaN);
    expect(apic.read(0x10, 4)).toBe(0);
    apic.write(0x00, 4, NaN);
    expect(apic.read(0x00, 4)).toBe(0);
    apic.write(0x00, 4, -1);
    expect(apic.read(0x00, 4)).toBe(0xff);
  });
});

describe('I/O APIC: hostile programming', () => {
  it('survives 200,000 random accesses, pin changes and EOIs: no exception, entries keep their reserved bits 0, and a level entry sends again only after an EOI', () => {
    const rng = seedrandom('ioapic-hostile');
    const { apic, sent } = recordingApic();
    const sizes = [1, 2, 4, 3, 0];
    for (let i = 0; i < 200000; i++) {
      const r = rng();
      const value = Math.floor(rng() * 2 ** 32);
      if (r < 0.3) apic.write(rng() < 0.8 ? (rng() < 0.5 ? 0 : 0x10) : Math.floor(rng() * 0x2000) - 0x100, sizes[Math.floor(rng() * sizes.length)], value);
      else if (r < 0.45) apic.read(Math.floor(rng() * 0x20), sizes[Math.floor(rng() * sizes.length)]);
      else if (r < 0.8) apic.setIrq(Math.floor(rng() * 30) - 3, rng() < 0.5);
      else apic.eoi(Math.floor(rng() * 256));
    }
    expect(sent.length).toBeGreaterThan(0);
    for (let n = 0; n < IOAPIC_PINS; n++) {
      expect(readReg(apic, 0x10 + 2 * n) & 0xfffe1000).toBe(0); // bits 12 and 17-31 of the low dword
      expect(readReg(apic, 0x11 + 2 * n) & 0x00ffffff).toBe(0);
    }
    // After the storm, one level entry behaves by the book.
    writeReg(apic, 0x10 + 2 * 5, 0x8000 | 0x55);
    apic.setIrq(5, false);
    apic.eoi(0x55);
    const before = sent.length;
    apic.setIrq(5, true);
    apic.setIrq(5, true);
    expect(sent.length).toBe(before + 1);
    apic.eoi(0x55);
    expect(sent.length).toBe(before + 2);
  });
});
