/**
 * Whole numbers on the command line (cycle counts, --peer parameters), in the notations
 * the documentation uses: 2000000000, 2e9, 2E9, 2.5e9, 2_000_000_000. The value must be
 * a whole number exactly (2.5e9 is, 2.5 is not), not negative, and at most 2^53 - 1,
 * the largest integer a double holds exactly. Worked out in BigInt, so that no rounding
 * can turn a fraction into a whole number.
 */
import { UsageError } from './io';

const NOTATION = /^(\d+(?:_\d+)*)(?:\.(\d+(?:_\d+)*))?(?:[eE]([+-]?\d{1,4}))?$/;
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Parses `text` for `option` ("--max-cycles"), whose values are `unit` ("cycles"),
 * and checks it against [min, max].
 */
export function parseWhole(text: string, option: string, unit: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const t = text.trim();
  const examples = `such as 2000000000, 2e9 or 2_000_000_000`;
  if (/^-/.test(t)) throw new UsageError(`bad ${option} '${text}': a negative number; give ${min} or more ${unit}`);
  const m = NOTATION.exec(t);
  if (!m) throw new UsageError(`bad ${option} '${text}'; give a whole number of ${unit}, ${examples}`);
  const digits = m[1].replace(/_/g, '');
  const frac = (m[2] ?? '').replace(/_/g, '');
  const scale = Number(m[3] ?? 0) - frac.length;
  const mantissa = BigInt(digits + frac);
  let value: bigint;
  if (scale >= 0) {
    value = mantissa * 10n ** BigInt(scale);
  } else {
    const div = 10n ** BigInt(-scale);
    if (mantissa % div !== 0n) throw new UsageError(`bad ${option} '${text}': not a whole number of ${unit}`);
    value = mantissa / div;
  }
  if (value > MAX) throw new UsageError(`bad ${option} '${text}': more than 2^53 - 1, the largest whole number vpio takes`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`bad ${option} '${text}'; give ${min}..${max === Number.MAX_SAFE_INTEGER ? '2^53 - 1' : max} ${unit}`);
  return n;
}

/** A count of machine cycles (--max-cycles, --quantum, --card-quantum, --trace-from). */
export function parseCycles(text: string, option: string, min = 1): number {
  return parseWhole(text, option, 'cycles', min);
}
