/**
 * The 93C46 (64 x 16) serial EEPROM, driven pin by pin as its datasheet's timing
 * diagrams show: start bit, opcode, 6-bit address, a dummy 0 before a read's data, write
 * enable before any write or erase, CS low ending an instruction.
 */
import { Eeprom93c46 } from './eeprom93c46';

/** Clocks `bits` (MSB first) into the part with CS high; returns DO after each rising edge. */
function clockIn(e: Eeprom93c46, bits: string): number[] {
  const out: number[] = [];
  for (const b of bits) {
    const di = b === '1';
    e.drive(true, false, di);
    e.drive(true, true, di);
    out.push(e.dataOut ? 1 : 0);
  }
  e.drive(true, false, false);
  return out;
}

function readWord(e: Eeprom93c46, addr: number): number {
  const after = clockIn(e, '1' + '10' + addr.toString(2).padStart(6, '0'));
  expect(after[after.length - 1]).toBe(0); // the dummy 0 after the last address bit
  const bits = clockIn(e, '0'.repeat(16));
  e.drive(false, false, false);
  return parseInt(bits.join(''), 2);
}

function words(): number[] {
  return Array.from({ length: 64 }, (_, i) => (i * 0x0101 + 0x1234) & 0xffff);
}

describe('93C46 EEPROM', () => {
  it('reads any word, MSB first after a dummy 0, and ignores zeros before the start bit', () => {
    const e = new Eeprom93c46(words());
    for (const a of [0, 1, 7, 9, 63]) expect(readWord(e, a)).toBe(words()[a]);
    clockIn(e, '0000'); // leading zeros: still waiting for the start bit
    const bits = clockIn(e, '110000111');
    expect(bits[8]).toBe(0);
    expect(parseInt(clockIn(e, '0'.repeat(16)).join(''), 2)).toBe(words()[7]);
  });

  it('goes on to the next word when clocked past D0 (sequential read), wrapping at 63', () => {
    const e = new Eeprom93c46(words());
    clockIn(e, '110111111'); // READ 63
    const bits = clockIn(e, '0'.repeat(32));
    expect(parseInt(bits.slice(0, 16).join(''), 2)).toBe(words()[63]);
    expect(parseInt(bits.slice(16).join(''), 2)).toBe(words()[0]);
  });

  it('with an 8-bit address clocked into it (a 93C56 read), answers two bits early: how a driver tells the parts apart', () => {
    const w = words();
    w[0] = 0x8129;
    const e = new Eeprom93c46(w);
    clockIn(e, '110' + '00000000'); // the last two address bits clock out D15 and D14
    const v = parseInt(clockIn(e, '0'.repeat(16)).join(''), 2);
    expect(v).toBe(((w[0] << 2) | (w[1] >> 14)) & 0xffff);
    expect(v).not.toBe(0x8129);
  });

  it('refuses writes and erases until EWEN, and after EWDS', () => {
    const e = new Eeprom93c46(words());
    clockIn(e, '101' + '000101' + '1010101010101010'); // WRITE 5 without EWEN
    e.drive(false, false, false);
    clockIn(e, '111' + '000110'); // ERASE 6 without EWEN
    e.drive(false, false, false);
    expect(e.words[5]).toBe(words()[5]);
    expect(e.words[6]).toBe(words()[6]);
    clockIn(e, '100' + '110000'); // EWEN
    e.drive(false, false, false);
    clockIn(e, '101' + '000101' + '1010101010101010');
    e.drive(false, false, false);
    clockIn(e, '111' + '000110');
    e.drive(false, false, false);
    expect(readWord(e, 5)).toBe(0xaaaa);
    expect(readWord(e, 6)).toBe(0xffff);
    clockIn(e, '100' + '000000'); // EWDS
    e.drive(false, false, false);
    clockIn(e, '101' + '000101' + '0000000000000000');
    e.drive(false, false, false);
    expect(e.words[5]).toBe(0xaaaa);
  });

  it('writes or erases every word with WRAL and ERAL', () => {
    const e = new Eeprom93c46(words());
    clockIn(e, '100' + '110000'); e.drive(false, false, false); // EWEN
    clockIn(e, '100' + '010000' + '0001001000110100'); e.drive(false, false, false); // WRAL 0x1234
    expect(Array.from(e.words).every((x) => x === 0x1234)).toBe(true);
    clockIn(e, '100' + '100000'); e.drive(false, false, false); // ERAL
    expect(Array.from(e.words).every((x) => x === 0xffff)).toBe(true);
  });

  it('drops an instruction when CS goes low part way, and starts clean on the next start bit', () => {
    const e = new Eeprom93c46(words());
    clockIn(e, '11000'); // READ, half an address
    e.drive(false, false, false);
    expect(readWord(e, 2)).toBe(words()[2]);
  });

  it('copies keep their own words and their place in an instruction', () => {
    const e = new Eeprom93c46(words());
    clockIn(e, '110000011'); // READ 3, dummy 0 out
    const c = e.clone();
    c.words[3] = 0;
    expect(parseInt(clockIn(e, '0'.repeat(16)).join(''), 2)).toBe(words()[3]);
    expect(parseInt(clockIn(c, '0'.repeat(16)).join(''), 2)).toBe(words()[3]); // the word was latched before the copy
  });
});
