/**
 * bench/vpio-fuzz: the VPIO fuzzer (vpio/fuzz.ts) for long: by default 500 rounds of
 * 2000 hostile accesses per card, a million per card, each round beside a victim's
 * checked UDP stream.
 *
 *   npm run bench:vpio-fuzz -- [ROUNDS] [ACCESSES_PER_ROUND] [SEED]
 */
import * as fs from 'fs';
import * as path from 'path';
import { fuzzMonitor } from '../vpio/fuzz';

const rounds = Number(process.argv[2] ?? 500);
const per = Number(process.argv[3] ?? 2000);
const seed = process.argv[4] ?? 'vpio-fuzz-long';
const victim = new Uint8Array(fs.readFileSync(path.join(__dirname, '..', 'guests', 'bin', 'udp-tx.elf')));
for (const kind of ['rtl8139', 'ne2000', 'ne2000-isa'] as const) {
  const t0 = process.hrtime.bigint();
  const r = fuzzMonitor(kind, seed, rounds, per, victim);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${kind}: ${r.rounds} rounds, ${r.accesses} hostile accesses in ${s.toFixed(1)} s; ${r.refusals} refused, ${r.handoffs} handoffs; ${r.broken.length ? 'BROKEN: ' + r.broken.slice(0, 3).join(' | ') : 'every invariant held'}`);
  if (r.broken.length) process.exitCode = 1;
}
