/**
 * bench/f80: host nanoseconds per operation of cpu/f80.ts (the x87's 80-bit arithmetic)
 * over seeded operands (normals near 1, mixed signs), rounding to nearest at 64 bits.
 *
 *   node scripts/build.mjs && node dist/bench-f80.js [--n N]
 *
 * Host time is read here, in the bench, never on the emulated path.
 */
import { F80 } from '../cpu/f80';

const argN = process.argv.indexOf('--n');
const N = argN > 0 ? Number(process.argv[argN + 1]) : 2_000_000;
const f = new F80();
let seed = 1;
const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed; };
const OPERANDS = 64;
const pool = new Uint32Array(OPERANDS * 3);
for (let i = 0; i < OPERANDS; i++) { pool[i * 3] = rnd(); pool[i * 3 + 1] = (rnd() | 0x80000000) >>> 0; pool[i * 3 + 2] = ((rnd() & 1) << 15) | (0x3fff + (rnd() % 64) - 32); }
const load = (i: number) => { const k = (i & (OPERANDS - 1)) * 3; f.v[24] = pool[k]; f.v[25] = pool[k + 1]; f.v[26] = pool[k + 2]; const j = ((i * 7 + 3) & (OPERANDS - 1)) * 3; f.v[27] = pool[j]; f.v[28] = pool[j + 1]; f.v[29] = pool[j + 2]; };

const cases: [string, (i: number) => void][] = [
  ['add', () => f.add(10, 8, 9)],
  ['sub', () => f.sub(10, 8, 9)],
  ['mul', () => f.mul(10, 8, 9)],
  ['div', () => f.div(10, 8, 9)],
  ['sqrt', () => { f.v[26] &= 0x7fff; f.sqrt(10, 8); }],
  ['compare', () => f.compare(8, 9, false)],
  ['toF64', () => f.toF64(8)],
  ['fromF64', (i) => f.fromF64(10, i, 0x3ff00000 | (i & 0xfffff))],
  ['toInt32', () => f.toInt(8, 32, false)],
  ['sin', () => f.sin(10, 8)],
];
for (const [name, fn] of cases) {
  const n = name === 'sin' ? Math.max(1, N / 200) : N;
  for (let i = 0; i < Math.min(n, 20000); i++) { load(i); fn(i); } // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) { load(i); fn(i); }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${name.padEnd(8)} ${ns.toFixed(1).padStart(9)} ns/op  (${n} ops, operand load included)`);
}
