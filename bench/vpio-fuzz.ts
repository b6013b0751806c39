/**
 * bench/vpio-fuzz: the VPIO fuzzer (vpio/fuzz.ts) for long: by default 150 rounds of
 * 2000 hostile instructions per card (about a million accesses per card, string I/O
 * counting each element), each round beside a victim's checked UDP stream.
 *
 *   npm run bench:vpio-fuzz -- [ROUNDS] [ACCESSES_PER_ROUND] [SEED] [--shadow]
 *
 * --shadow traps every card port and checks the model against the card after each access.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fuzzMonitor } from '../vpio/fuzz';

const USAGE = 'usage: npm run bench:vpio-fuzz -- [ROUNDS] [ACCESSES_PER_ROUND] [SEED] [--shadow]';
const args = process.argv.slice(2).filter((a) => a !== '--shadow');
const shadow = process.argv.includes('--shadow');
/** A positive whole number, or the usage line and status 2 (a typo must not run 0 rounds and call it a pass). */
function count(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  if (!/^[1-9]\d{0,8}$/.test(text)) {
    console.error(`vpio-fuzz: ${what} must be a whole number from 1, not ${JSON.stringify(text)}\n${USAGE}`);
    process.exit(2);
  }
  return Number(text);
}
if (args.length > 3 || args.some((a) => a.startsWith('-'))) {
  console.error(`vpio-fuzz: unknown arguments ${args.join(' ')}\n${USAGE}`);
  process.exit(2);
}
const rounds = count(args[0], 150, 'ROUNDS');
const per = count(args[1], 2000, 'ACCESSES_PER_ROUND');
const seed = args[2] ?? 'vpio-fuzz-long';
const victim = new Uint8Array(fs.readFileSync(path.join(__dirname, '..', 'guests', 'bin', 'udp-tx.elf')));
for (const kind of ['rtl8139', 'ne2000', 'ne2000-isa'] as const) {
  const t0 = process.hrtime.bigint();
  const r = fuzzMonitor(kind, seed, rounds, per, victim, shadow);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${kind}: ${r.rounds} rounds, ${r.accesses} hostile accesses in ${s.toFixed(1)} s; ${r.refusals} refused, ${r.handoffs} handoffs; ${r.broken.length ? 'BROKEN: ' + r.broken.slice(0, 3).join(' | ') : 'every invariant held'}`);
  if (r.broken.length) process.exitCode = 1;
}
