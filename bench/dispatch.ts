/**
 * bench/dispatch: what one call into a generated block function costs in V8, against
 * how many distinct generated functions a run keeps calling (the translator makes one
 * per block: see cpu/translator.ts and "Linux boot" in docs/PERFORMANCE.md).
 *
 * Each generated function does a block's smallest work (an add, a typed-array store, a
 * count returned); they are called round robin, as a guest's working set of blocks is
 * entered. Beside them, the same number of closures of one function literal: one piece
 * of machine code for all, the floor of an indirect call; and the same generated bodies
 * grouped ten to a function, entered with a `switch` on an entry number (a translation
 * unit of several blocks, as a page's blocks would be). Each round is 2e7 calls; later
 * rounds show what tiering up buys.
 *
 *   npm run bench:dispatch -- [--rounds 5] [--sizes 1,10,100,1000,2000,4000]
 *
 * Host time is read here, in the bench, never on the emulated path.
 */
interface Target { a: number; b: Int32Array }
type Fn = (t: Target, entry: number) => number;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const rounds = Number(arg('--rounds', '5'));
const sizes = arg('--sizes', '1,10,100,1000,2000,4000').split(',').map(Number);
if (!Number.isInteger(rounds) || rounds < 1 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 100000)) {
  console.error('bench:dispatch: --rounds N (1 or more) and --sizes N,N,... (1..100000)');
  process.exit(2);
}

function generated(n: number): Fn[] {
  const fns: Fn[] = [];
  for (let i = 0; i < n; i++) fns.push(new Function('t', `t.a = (t.a + ${i}) | 0; t.b[${i % 8}] = t.a; return ${1 + (i % 5)};`) as Fn);
  return fns;
}

/** The generated bodies, ten to a function: each entry is a case of its function's switch. */
function units(n: number): { fn: Fn; entry: number }[] {
  const out: { fn: Fn; entry: number }[] = [];
  for (let u = 0; u * 10 < n; u++) {
    let src = 'switch (e) {\n';
    for (let i = u * 10; i < Math.min(n, u * 10 + 10); i++) src += `case ${i % 10}: t.a = (t.a + ${i}) | 0; t.b[${i % 8}] = t.a; return ${1 + (i % 5)};\n`;
    const fn = new Function('t', 'e', `${src}}\nreturn 0;`) as Fn;
    for (let i = u * 10; i < Math.min(n, u * 10 + 10); i++) out.push({ fn, entry: i % 10 });
  }
  return out;
}

function closures(n: number): Fn[] {
  const fns: Fn[] = [];
  for (let i = 0; i < n; i++) {
    const k = i;
    fns.push((t) => { t.a = (t.a + k) | 0; t.b[k % 8] = t.a; return 1 + (k % 5); });
  }
  return fns;
}

/** ns per call over each round of 2e7 calls, round robin through `fns` (held in objects, as blocks are). */
function measure(entries: { fn: Fn; entry: number }[]): number[] {
  const blocks = entries.map((x, i) => ({ phys: i, count: 5, fn: x.fn, entry: x.entry }));
  const t: Target = { a: 0, b: new Int32Array(8) };
  const out: number[] = [];
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    let k = 0;
    for (let i = 0; i < 2e7; i++) {
      const b = blocks[k];
      sink += b.fn(t, b.entry);
      if (++k === blocks.length) k = 0;
    }
    out.push(Number(process.hrtime.bigint() - start) / 2e7);
  }
  if (sink === -1) console.log(sink);
  return out;
}

console.log(`ns per call, round robin, ${rounds} rounds of 2e7 calls (first round ... last)`);
for (const n of sizes) {
  const g = measure(generated(n).map((fn) => ({ fn, entry: 0 })));
  const u = measure(units(n));
  const c = measure(closures(n).map((fn) => ({ fn, entry: 0 })));
  const fmt = (v: number[]) => `${v[0].toFixed(1)} ... ${v[v.length - 1].toFixed(1)}`;
  console.log(`${String(n).padStart(6)} functions: generated ${fmt(g).padEnd(16)} ten to a function ${fmt(u).padEnd(16)} closures of one literal ${fmt(c)}`);
}
