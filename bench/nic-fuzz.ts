/** bench/nic-fuzz: the card fuzzer for a million steps per card (see devices/nic-fuzz.ts). */
import { fuzzCard } from '../devices/nic-fuzz';

const steps = Number(process.argv[2] ?? 1_000_000);
const seed = process.argv[3] ?? 'nic-fuzz-long';
for (const kind of ['ne2000', 'rtl8139'] as const) {
  const t0 = process.hrtime.bigint();
  const r = fuzzCard(kind, seed, steps);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${kind}: ${r.steps} steps in ${s.toFixed(1)} s, ${r.framesIn} frames in, ${r.framesOut} out, ${r.violations.length ? 'VIOLATION: ' + r.violations[0] : 'no violation'}`);
  if (r.violations.length) process.exitCode = 1;
}
