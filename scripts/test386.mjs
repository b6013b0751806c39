#!/usr/bin/env node
// Builds test386.asm (github.com/barotto/test386.asm, a CPU test ROM) and runs it on the
// bare machine from its ROM, translated and interpreted (cpu/README.md, "How it is checked").
//
//   TEST386_DIR=/path/to/test386.asm node scripts/test386.mjs [--json] [--max-cycles N] [--keep DIR]
//
// TEST386_DIR names a copy of the repository (never committed here: it is GPL, and not
// ours). Its sources are copied to a temporary directory, configured there with every
// test on (the 128 KiB ROM with the task-switch tests, ROM128), POST codes on port
// 0x80 (which `vpio run --trace post` shows) and text on port 0xE9 (the debug console,
// so stdout), and assembled with nasm. Then `vpio run --bios` (dist/vpio.js: run
// `npm run build` first) runs it once translated and once with --no-translate.
// TEST_UNDEF stays 0: its tests check the i386's undefined flags, and this CPU is a P6.
//
// For each run it prints the last POST code reached (0xFF: every test passed) and how
// the run ended; at 0xFF, whether the arithmetic results test 0xEE prints match the
// reference in the repository (test386-EE-reference.txt). --json prints one object
// instead. Exit status 0 when both runs reach 0xFF with the reference results, 1 when
// not, 2 when the copy, nasm or the build is missing.
import { spawnSync } from 'child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import os from 'os';
import path from 'path';
import { fileURLToPath } from 'url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The configuration's settings we change, by EQU name. */
export const CONFIG = { POST_PORT: '0x80', OUT_PORT: '0xE9', ROM128: '1', TEST_UNDEF: '0', LPT_PORT: '0', COM_PORT: '0' };
/** Enough for the whole ROM at the default costs (it needs 7.2e9 cycles, 80M instructions: each OUT to the console costs an ISA access). */
export const DEFAULT_MAX_CYCLES = '2e10';

function fail(message) {
  console.error(`test386: ${message}`);
  process.exit(2);
}

/** Assembles the ROM from the copy at `dir` into `work`; returns the ROM's path. */
export function buildRom(dir, work) {
  const src = path.join(dir, 'src');
  if (!existsSync(path.join(src, 'test386.asm'))) throw new Error(`${dir} has no src/test386.asm; point TEST386_DIR at a copy of github.com/barotto/test386.asm`);
  cpSync(src, path.join(work, 'src'), { recursive: true });
  const cfgPath = path.join(work, 'src', 'configuration.asm');
  let cfg = readFileSync(cfgPath, 'utf8');
  for (const [name, value] of Object.entries(CONFIG)) {
    const re = new RegExp(`^${name}\\s+equ\\s+.*$`, 'm');
    if (!re.test(cfg)) throw new Error(`configuration.asm has no ${name} EQU; this copy's configuration differs from the one this script knows`);
    cfg = cfg.replace(re, `${name} equ ${value}`);
  }
  writeFileSync(cfgPath, cfg);
  const rom = path.join(work, 'test386.bin');
  const r = spawnSync('nasm', ['-i' + path.join(work, 'src') + '/', '-f', 'bin', path.join(work, 'src', 'test386.asm'), '-w-all',
    '-l', path.join(work, 'test386.lst'), '-o', rom], { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run nasm: ${r.error.message}; install nasm`);
  if (r.status !== 0) throw new Error(`nasm failed:\n${r.stderr}`);
  return rom;
}

/** Runs the ROM; returns the POST codes in order, the last, stdout, and how the run ended. */
export function runRom(rom, { translate = true, maxCycles = DEFAULT_MAX_CYCLES } = {}) {
  const args = [path.join(root, 'dist', 'vpio.js'), 'run', '--bios', rom, '--max-cycles', String(maxCycles), '--trace', 'post'];
  if (!translate) args.push('--no-translate');
  const r = spawnSync(process.execPath, args, { encoding: 'latin1', maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  const codes = [];
  const other = [];
  for (const line of r.stderr.split('\n')) {
    const m = /^\d+ post 0x([0-9a-f]{2})$/.exec(line);
    if (m) codes.push(parseInt(m[1], 16)); else if (line) other.push(line);
  }
  return { codes, last: codes.length ? codes[codes.length - 1] : -1, stdout: r.stdout, ended: other.join('\n'), status: r.status };
}

/**
 * The lines of test 0xEE's results in `stdout` against the reference file: the
 * reference's lines, each of which must appear, in order. Returns the first that does not.
 */
export function compareEE(stdout, reference) {
  const want = reference.split(/\r?\n/).filter((l) => l.trim() !== '');
  const got = stdout.split(/\r?\n/).map((l) => l.trimEnd());
  let at = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i].trimEnd();
    while (at < got.length && got[at] !== w) at++;
    if (at === got.length) return { lines: want.length, mismatch: { line: i + 1, want: w } };
    at++;
  }
  return { lines: want.length, mismatch: null };
}

function hex(v) {
  return v < 0 ? 'none' : '0x' + v.toString(16).padStart(2, '0').toUpperCase();
}

function main() {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const keepAt = argv.indexOf('--keep');
  const maxAt = argv.indexOf('--max-cycles');
  const maxCycles = maxAt >= 0 ? argv[maxAt + 1] : DEFAULT_MAX_CYCLES;
  const dir = process.env.TEST386_DIR;
  if (!dir) fail('set TEST386_DIR to a copy of github.com/barotto/test386.asm');
  if (!existsSync(path.join(root, 'dist', 'vpio.js'))) fail('no dist/vpio.js; run npm run build first');
  const work = keepAt >= 0 ? argv[keepAt + 1] : mkdtempSync(path.join(os.tmpdir(), 'test386-'));
  let rom;
  try {
    rom = buildRom(dir, work);
  } catch (e) {
    fail(e.message);
  }
  const reference = readFileSync(path.join(dir, 'test386-EE-reference.txt'), 'latin1');
  const results = {};
  let ok = true;
  for (const translate of [true, false]) {
    const r = runRom(rom, { translate, maxCycles });
    const ee = r.last === 0xff ? compareEE(r.stdout, reference) : null;
    const mode = translate ? 'translated' : 'interpreted';
    results[mode] = { last: r.last, codes: r.codes, ended: r.ended, ee: ee && { lines: ee.lines, mismatch: ee.mismatch } };
    if (r.last !== 0xff || (ee && ee.mismatch)) ok = false;
    if (!json) {
      console.log(`${mode}: last POST code ${hex(r.last)}${r.ended ? ` (${r.ended.split('\n')[0]})` : ''}`);
      if (ee) console.log(`${mode}: test 0xEE's ${ee.lines} result lines ${ee.mismatch ? `differ from the reference at its line ${ee.mismatch.line}: ${ee.mismatch.want}` : 'match the reference'}`);
    }
  }
  if (json) console.log(JSON.stringify(results));
  if (keepAt < 0) rmSync(work, { recursive: true, force: true });
  else if (!json) console.log(`ROM and listing kept in ${work}`);
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
