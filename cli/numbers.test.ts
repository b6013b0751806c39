/**
 * Cycle counts and --peer numbers as the documentation writes them. The values are
 * checked against the decimal meaning of each notation (2e9 is 2 * 10^9), and the
 * limits against 2^53 - 1, the largest integer a double holds exactly.
 */
import { parseWhole, parseCycles } from './numbers';
import { UsageError } from './io';

describe('parseWhole', () => {
  it('takes plain, exponent and underscore notations as exact whole numbers', () => {
    expect(parseCycles('2000000000', '--max-cycles')).toBe(2_000_000_000);
    expect(parseCycles('2e9', '--max-cycles')).toBe(2_000_000_000);
    expect(parseCycles('2E9', '--max-cycles')).toBe(2_000_000_000);
    expect(parseCycles('2e+9', '--max-cycles')).toBe(2_000_000_000);
    expect(parseCycles('2.5e9', '--max-cycles')).toBe(2_500_000_000);
    expect(parseCycles('2_000_000_000', '--max-cycles')).toBe(2_000_000_000);
    expect(parseCycles('1.000_5e4', '--max-cycles')).toBe(10005);
    expect(parseCycles('120e-1', '--max-cycles')).toBe(12);
    expect(parseCycles(' 42 ', '--max-cycles')).toBe(42);
    expect(parseCycles('9007199254740991', '--max-cycles')).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseCycles('0', '--trace-from', 0)).toBe(0);
  });

  for (const [text, why] of [
    ['2.5', /not a whole number of cycles/],
    ['1e-3', /not a whole number of cycles/],
    // 1 + 10^-20: a double would round it to 1
    ['1.00000000000000000001', /not a whole number of cycles/],
    ['-5', /negative/],
    ['NaN', /give a whole number of cycles/],
    ['Infinity', /give a whole number of cycles/],
    ['0x10', /give a whole number of cycles/],
    ['', /give a whole number of cycles/],
    ['2__0', /give a whole number of cycles/],
    ['_20', /give a whole number of cycles/],
    ['9007199254740992', /more than 2\^53 - 1/], // 2^53
    ['1e400', /more than 2\^53 - 1/],
    ['0', /give 1\.\.2\^53 - 1 cycles/],
  ] as [string, RegExp][]) {
    it(`refuses '${text}' in one line naming the option`, () => {
      let err: unknown = null;
      try { parseCycles(text, '--max-cycles'); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/--max-cycles/);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).not.toMatch(/\n/);
    });
  }

  it('checks a range and names the unit', () => {
    expect(parseWhole('1472', '--peer source size', 'bytes', 4, 1472)).toBe(1472);
    expect(() => parseWhole('1473', '--peer source size', 'bytes', 4, 1472)).toThrow(/give 4\.\.1472 bytes/);
    expect(() => parseWhole('1.5', '--peer source rate', 'datagrams', 1, 1e6)).toThrow(/not a whole number of datagrams/);
  });
});
