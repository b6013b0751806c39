#!/usr/bin/env node
/**
 * Builds EEMBC CoreMark as one of our guests (bench/cpu --workload coremark) from a copy
 * of its sources named by COREMARK_DIR (github.com/eembc/coremark; never committed
 * here), with our port (guests/coremark/core_portme.[ch]) and the guest library, by
 * `make -C guests coremark`. CoreMark's own files are compiled unmodified.
 *
 *   COREMARK_DIR=DIR node scripts/coremark.mjs [--iterations N] [--out DIR]
 *
 * Prints the ELF's path (by default in $TMPDIR/vpio-coremark). Exits 3 with one line
 * saying why when COREMARK_DIR is not set or the build fails.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const args = process.argv.slice(2);
const opt = (name, fallback) => { const i = args.indexOf(name); return i >= 0 && args[i + 1] ? args[i + 1] : fallback; };

const dir = process.env.COREMARK_DIR;
const iterations = opt('--iterations', '3000');
const out = path.resolve(opt('--out', path.join(os.tmpdir(), 'vpio-coremark')));
try {
  if (!dir) throw new Error('COREMARK_DIR is not set: name a copy of CoreMark\'s sources (github.com/eembc/coremark)');
  if (!fs.existsSync(path.join(dir, 'core_main.c'))) throw new Error(`${dir} has no core_main.c: not a copy of CoreMark's sources`);
  if (!/^[1-9][0-9]{0,6}$/.test(iterations)) throw new Error(`--iterations ${iterations}: give a whole number from 1`);
  fs.mkdirSync(out, { recursive: true });
  // Rebuilt every time: ITERATIONS and the sources may have changed.
  fs.rmSync(path.join(out, 'coremark.elf'), { force: true });
  execFileSync('make', ['-s', '-C', path.join(HERE, '..', 'guests'), 'coremark', `COREMARK_DIR=${path.resolve(dir)}`, `ITERATIONS=${iterations}`, `OUT=${out}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  console.log(path.join(out, 'coremark.elf'));
} catch (e) {
  console.error(`coremark: ${(e.stderr?.toString() || e.message).trim().split('\n').pop()}`);
  process.exit(3);
}
