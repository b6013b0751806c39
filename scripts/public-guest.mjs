#!/usr/bin/env node
/**
 * Builds a public program as one of our guests, for bench/cpu (issue 19's workloads),
 * from a copy of its sources that is never committed here:
 *
 *   coremark  EEMBC CoreMark (github.com/eembc/coremark), from COREMARK_DIR, with our
 *             port (guests/coremark/core_portme.[ch]); --iterations: CoreMark's
 *             ITERATIONS (default 3000, about 1.04 billion instructions)
 *   lz4       LZ4's library (github.com/lz4/lz4), from LZ4_DIR, driven by
 *             guests/lz4/lz4-main.c; --iterations: rounds (default 5, about 1.04 billion)
 *
 * Their own files are compiled unmodified, by `make -C guests NAME` with the guests'
 * flags and library.
 *
 *   COREMARK_DIR=DIR node scripts/public-guest.mjs coremark [--iterations N] [--out DIR]
 *   LZ4_DIR=DIR node scripts/public-guest.mjs lz4 [--iterations N] [--out DIR]
 *
 * Prints the ELF's path (by default in $TMPDIR/vpio-public-guests). Exits 3 with one
 * line saying why when the copy is not named or the build fails, 2 for bad usage.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const GUESTS = {
  coremark: { env: 'COREMARK_DIR', marker: 'core_main.c', iterations: '3000', makeVar: 'ITERATIONS', from: 'github.com/eembc/coremark' },
  lz4: { env: 'LZ4_DIR', marker: 'lib/lz4.c', iterations: '5', makeVar: 'LZ4_ITERATIONS', from: 'github.com/lz4/lz4' },
};

const HERE = path.dirname(new URL(import.meta.url).pathname);
const args = process.argv.slice(2);
const opt = (name, fallback) => { const i = args.indexOf(name); return i >= 0 && args[i + 1] ? args[i + 1] : fallback; };
const name = args[0];
const guest = GUESTS[name];
if (!guest) {
  console.error(`public-guest: give one of ${Object.keys(GUESTS).join(', ')}`);
  process.exit(2);
}
const dir = process.env[guest.env];
const iterations = opt('--iterations', guest.iterations);
const out = path.resolve(opt('--out', path.join(os.tmpdir(), 'vpio-public-guests')));
try {
  if (!dir) throw new Error(`${guest.env} is not set: name a copy of ${name}'s sources (${guest.from})`);
  if (!fs.existsSync(path.join(dir, guest.marker))) throw new Error(`${dir} has no ${guest.marker}: not a copy of ${name}'s sources`);
  if (!/^[1-9][0-9]{0,6}$/.test(iterations)) throw new Error(`--iterations ${iterations}: give a whole number from 1`);
  fs.mkdirSync(out, { recursive: true });
  // Rebuilt every time: the count and the sources may have changed.
  fs.rmSync(path.join(out, `${name}.elf`), { force: true });
  execFileSync('make', ['-s', '-C', path.join(HERE, '..', 'guests'), name, `${guest.env}=${path.resolve(dir)}`, `${guest.makeVar}=${iterations}`, `OUT=${out}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  console.log(path.join(out, `${name}.elf`));
} catch (e) {
  console.error(`public-guest: ${(e.stderr?.toString() || e.message).trim().split('\n').filter((l) => !/warning|redefined|^\s|^In file/.test(l)).pop() ?? e.message}`);
  process.exit(3);
}
