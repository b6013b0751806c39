/**
 * bench/cpu: emulated instructions per host second on a CPU-bound guest, ours beside v86
 * (npm `v86`, booting the same Multiboot ELF with Debian's SeaBIOS) with its JIT off
 * and on, in one run, checking that every engine prints the same checksums. The
 * workload is guests/bin/cpubound.elf (a sieve, CRC32 and an insertion sort in a loop:
 * integer code) or, with `--workload fpubound`, guests/bin/fpubound.elf (x87 code: an
 * n-body step, a matrix product, Simpson's rule, float to integer conversions).
 * `ours` translates to WebAssembly where cpu/wasm-translator.ts covers a block and to
 * JavaScript elsewhere (the default), `ours-js` to JavaScript only.
 * `ours-paged` is ours translated with the guest's paging on (`paging=1`:
 * identity-mapped, so every access goes through the TLB, as a kernel's does), and
 * `ours-interp-paged` the interpreter with it on. `qemu` is
 * qemu-system-i386's TCG where it is installed (its MIPS: our instruction count over its
 * time from the guest's banner to its exit).
 *
 * With `--workload coremark`, EEMBC CoreMark (our port, guests/coremark), and with
 * `--workload lz4`, LZ4's compressors (guests/lz4): public programs built by
 * scripts/public-guest.mjs from a copy of their sources (never committed), compared on
 * the checksums they print.
 *
 *   npm run bench:cpu -- [--workload cpubound|fpubound|coremark|lz4] [--image FILE] [--iterations N] [--engines ours,ours-js,ours-paged,ours-interp,ours-interp-paged,v86-interp,v86-jit,qemu] [--json FILE]
 *   npm run bench:cpu -- --hostile [--json FILE]
 *
 * --hostile runs instead three guests written against the block translator (issue 14),
 * translated and interpreted: one that runs into zeroed memory (00 00, ADD [EAX],AL, to
 * the end of RAM), and two loops that store into the page they run from (data beside
 * the code; an immediate patched beside the loop), and prints host seconds and the
 * block cache's counters.
 *
 * Each of our engines and v86's runs in a process of its own (this script again, with
 * the internal option --run-one ENGINE, which prints its figure as JSON), so that each
 * starts with a fresh V8. In one process the engines shaped each other's figures: the
 * interpreter run after the translated runs ran with the type feedback and optimised
 * code they had left in the functions both share (CoreMark interpreted: 62.8 million
 * instructions a second after them, 81.7 alone), as a user's `vpio run` never does.
 *
 * Host time is read here, in the bench, never on the emulated path.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadV86 } from './v86';
import * as crypto from 'crypto';
import { spawn, spawnSync } from 'child_process';
import { Pc } from '../board/pc';
import { multibootElf } from '../board/testing-elf';

interface Figure {
  engine: string;
  instructions: number;
  seconds: number;
  mips: number;
  output: string;
  /** Ours translated: byte and dword accesses that missed the inline path (Cpu.memFallbacks). */
  fallbacks?: number;
}

const ROOT = path.join(__dirname, '..');
const ENGINES = ['ours', 'ours-js', 'ours-paged', 'ours-interp', 'ours-interp-paged', 'v86-interp', 'v86-jit', 'qemu'];

interface Workload {
  /** The guest's own default count (v86 passes no command line, so it always runs this); 0: fixed when the guest was built. */
  defaultIterations: number;
  /** The guest's last line: the end of v86's run. */
  last: RegExp;
  /** The lines engines must agree on (all of the output where absent). */
  checksums?: RegExp;
  /** Where the image is not one of guests/bin: how to get it. */
  external?: string;
}
const WORKLOADS: Record<string, Workload> = {
  // About a billion instructions.
  cpubound: { defaultIterations: 130, last: /sort: [0-9a-f]{8}\r?\n$/ },
  // About 0.2 billion instructions, 56% of them x87 ones.
  fpubound: { defaultIterations: 1000, last: /fixed: [0-9a-f]{16}\r?\n$/ },
  // EEMBC CoreMark, unmodified, with our port (guests/coremark): 3,000 iterations, about
  // 1.04 billion instructions. Its times depend on the engine's TSC; its CRCs must not.
  coremark: {
    defaultIterations: 0, last: /(Correct operation validated|Errors detected)[^\n]*\r?\n$/, checksums: /^(seedcrc|\[\d+\]crc\w+|Iterations) +: .*$/gm,
    external: 'build it with node scripts/public-guest.mjs coremark (COREMARK_DIR names a copy of its sources) and give --image',
  },
  // LZ4's fast and HC compressors and its decompressor over a 256 KiB text (guests/lz4),
  // 5 rounds: about 1.04 billion instructions. Hash tables, match searches, byte copies.
  lz4: {
    defaultIterations: 0, last: /lz4: \d+ rounds, \d+ failures\r?\n$/,
    external: 'build it with node scripts/public-guest.mjs lz4 (LZ4_DIR names a copy of its sources) and give --image',
  },
};

function fail(message: string): never {
  process.stderr.write(`bench-cpu: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]) {
  const opts = { workload: 'cpubound', iterations: 0, engines: ENGINES.slice(), json: '', hostile: false, image: '', runOne: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i] ?? fail(`${a} needs a value`);
    if (a === '--iterations') {
      const n = Number(next());
      if (!Number.isInteger(n) || n < 1 || n > 100000) fail('--iterations must be a whole number from 1 to 100000');
      opts.iterations = n;
    } else if (a === '--workload') {
      opts.workload = next();
      if (!WORKLOADS[opts.workload]) fail(`unknown workload '${opts.workload}'; workloads are ${Object.keys(WORKLOADS).join(', ')}`);
    } else if (a === '--engines') {
      opts.engines = next().split(',');
      for (const e of opts.engines) if (!ENGINES.includes(e)) fail(`unknown engine '${e}'; engines are ${ENGINES.join(', ')}`);
    } else if (a === '--json') {
      opts.json = next();
    } else if (a === '--image') {
      opts.image = next();
    } else if (a === '--hostile') {
      opts.hostile = true;
    } else if (a === '--run-one') {
      // Internal: one engine, its figure (or why it was skipped) as JSON on stdout (see runIsolated).
      opts.runOne = next();
      if (!ENGINES.includes(opts.runOne) || opts.runOne === 'qemu') fail(`--run-one takes one of ${ENGINES.filter((e) => e !== 'qemu').join(', ')}`);
    } else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench:cpu -- [--workload cpubound|fpubound|coremark|lz4] [--image FILE] [--iterations N] [--engines ours,ours-js,ours-paged,ours-interp,ours-interp-paged,v86-interp,v86-jit,qemu] [--json FILE]\n' +
        '       npm run bench:cpu -- --hostile [--json FILE]   (guests that attack the block translator, both modes)\n' +
        '  --workload    cpubound (the default: a sieve, CRC32, a sort; integer code), fpubound (x87 code:\n' +
        '                an n-body step, a matrix product, Simpson\'s rule, float to integer conversions) or\n' +
        '                coremark (EEMBC CoreMark with our port) or lz4 (LZ4\'s compressors): images from\n' +
        '                node scripts/public-guest.mjs coremark|lz4, given as --image\n' +
        '  --image       the guest image (default: guests/bin/WORKLOAD.elf)\n' +
        '  --iterations  the guest\'s loop count (default: the guest\'s own, 130 for cpubound, 1000 for fpubound;\n' +
        '                v86 passes no command line, so its engines run only with the default)\n');
      process.exit(0);
    } else {
      fail(`unknown option '${a}'; see --help`);
    }
  }
  if (!opts.iterations) opts.iterations = WORKLOADS[opts.workload].defaultIterations;
  else if (WORKLOADS[opts.workload].defaultIterations === 0) fail(`${opts.workload}'s iterations are fixed when it is built`);
  return opts;
}

function runOurs(workload: string, image: Uint8Array, iterations: number, translate: boolean, paging: boolean, wasm = true): Figure {
  let output = '';
  const pc = new Pc({ memoryBytes: 64 << 20, console: (b) => { output += String.fromCharCode(b); } });
  pc.cpu.useTranslator = translate;
  pc.cpu.useWasm = wasm;
  pc.boot(image, `${workload}.elf iterations=${iterations}${paging ? ' paging=1' : ''}`);
  const t0 = process.hrtime.bigint();
  const result = pc.run(Infinity);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (result.kind !== 'exit') fail(`our run ended with ${result.kind}`);
  const instructions = pc.cpu.instructions;
  return { engine: (translate ? (wasm ? 'ours' : 'ours-js') : 'ours-interp') + (paging ? '-paged' : ''), instructions, seconds, mips: instructions / seconds / 1e6, output, fallbacks: translate ? pc.cpu.memFallbacks : undefined };
}

/** v86's 0xF4 test-exit port throws the string "HALT" out of its loop, possibly more than once. */
const haltListeners: (() => void)[] = [];
process.on('uncaughtException', (e: unknown) => {
  if (e !== 'HALT') { process.stderr.write(`bench-cpu: ${(e as Error)?.stack ?? e}\n`); process.exit(3); }
  for (const f of haltListeners.splice(0)) f();
});

async function runV86(workload: string, image: Uint8Array, jit: boolean): Promise<Figure | string> {
  const banner = `boot: ${workload}`;
  const setup = await loadV86();
  if (typeof setup === 'string') return setup;
  const { V86, wasm, bios } = setup;
  // v86 logs its test-exit port to the console: keep the bench's stdout to the table.
  const log = console.log;
  console.log = () => {};
  return new Promise<Figure | string>((resolve) => {
    let output = '';
    let started = 0n;
    let total = 0;
    let last = 0;
    const emulator = new V86({
      wasm_path: wasm,
      bios,
      multiboot: { buffer: image.buffer.slice(image.byteOffset, image.byteOffset + image.length) },
      memory_size: 64 << 20,
      autostart: true,
      disable_jit: !jit,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
    });
    // The 32-bit instruction counter wraps: accumulate its differences.
    const sample = () => {
      const now = emulator.get_instruction_counter() >>> 0;
      total += (now - last) >>> 0;
      last = now;
    };
    const timer = setInterval(sample, 200);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      sample();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      clearInterval(timer);
      clearTimeout(timeout);
      try { emulator.stop?.(); emulator.destroy?.(); } catch { /* already stopped */ }
      const guestOut = output.slice(output.indexOf(banner));
      resolve({ engine: jit ? 'v86-jit' : 'v86-interp', instructions: total, seconds, mips: total / seconds / 1e6, output: guestOut });
    };
    // v86 has its own test-exit port at 0xF4: the guest's debug exit makes it throw
    // "HALT" out of its run loop. That is the end of the run.
    haltListeners.push(finish);
    const timeout = setTimeout(() => { clearInterval(timer); emulator.destroy?.(); resolve('v86 did not finish within 10 minutes'); }, 600_000);
    emulator.add_listener('serial0-output-byte', (byte: number) => {
      const c = String.fromCharCode(byte);
      output += c;
      if (output.endsWith(`${banner}\r\n`) || (output.includes(banner) && started === 0n && c === '\n')) {
        sample();
        total = 0;
        started = process.hrtime.bigint();
      }
      if (WORKLOADS[workload].last.test(output)) finish();
    });
  }).finally(() => { console.log = log; });
}

/**
 * qemu-system-i386 (TCG) booting the same image with `-kernel`, its serial line read as it
 * comes: timed from the guest's banner (after SeaBIOS) to the process's end (the guest's
 * debug exit). QEMU counts no instructions cheaply, so its MIPS are ours' count over its
 * time: the same program, the same work.
 */
function runQemu(workload: string, imagePath: string, iterations: number, instructions: number): Promise<Figure | string> {
  const banner = `boot: ${workload}`;
  return new Promise((resolve) => {
    const cmdline = iterations ? `iterations=${iterations}` : '';
    const child = spawn('qemu-system-i386', ['-kernel', imagePath, '-append', cmdline, '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
      '-vga', 'none', '-nic', 'none', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-m', '64'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let output = '';
    let started = 0n;
    child.on('error', (e) => resolve(`qemu-system-i386 could not run (${e.message}; .ci/run installs qemu-system-x86)`));
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('latin1');
      if (started === 0n && output.includes(banner)) started = process.hrtime.bigint();
    });
    child.on('close', () => {
      if (started === 0n) { resolve('qemu-system-i386 never printed the guest\'s banner'); return; }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ engine: 'qemu', instructions, seconds, mips: instructions / seconds / 1e6, output: output.slice(output.indexOf(banner)) });
    });
  });
}

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** The hostile guests: Multiboot images of hand-assembled code (entry 0x10000c). */
function hostileGuests(): { name: string; image: Uint8Array }[] {
  const entry = 0x10000c;
  const data = entry + 0x400; // in the code's page
  const n = 1000000;
  /** mov ecx, n ; xor ebx, ebx ; LOOP ; then EBX in hex on port 0xE9 and exit 0. */
  const loop = (body: (at: number) => number[]) => {
    const code = [0xb9, ...le32(n), 0x31, 0xdb];
    code.push(...body(code.length));
    const p = code.length + 5; // mov ecx, 8 ; P: rol ebx, 4 ; mov eax, ebx ; and eax, 15 ; cmp al, 10 ; sbb al, 0x69 ; das ; out 0xe9, al ; dec ecx ; jnz P
    code.push(0xb9, ...le32(8), 0xc1, 0xc3, 0x04, 0x89, 0xd8, 0x83, 0xe0, 0x0f, 0x3c, 0x0a, 0x1c, 0x69, 0x2f, 0xe6, 0xe9, 0x49, 0x75);
    code.push((p - (code.length + 1)) & 0xff);
    code.push(0xb0, 0x0a, 0xe6, 0xe9, 0xb0, 0x00, 0xe6, 0xf4, 0xf4); // newline ; out 0xf4 (exit 0) ; hlt
    while (code.length < 0x404) code.push(0);
    return multibootElf(code);
  };
  return [
    // mov eax, 0x200003 ; mov ebx, 0x400000 ; jmp ebx: zeroed RAM to its end, then a triple fault.
    { name: 'zeroed-memory', image: multibootElf([0xb8, ...le32(0x200003), 0xbb, ...le32(0x400000), 0xff, 0xe3]) },
    // L: mov [data], ecx ; add ebx, [data] ; dec ecx ; jnz L
    { name: 'data-beside-code', image: loop((at) => [0x89, 0x0d, ...le32(data), 0x03, 0x1d, ...le32(data), 0x49, 0x75, (at - (at + 15)) & 0xff]) },
    // L: mov [P+1], ecx ; P: mov edx, 0 ; add ebx, edx ; dec ecx ; jnz L
    { name: 'patched-code', image: loop((at) => [0x89, 0x0d, ...le32(entry + at + 7), 0xba, ...le32(0), 0x01, 0xd3, 0x49, 0x75, (at - (at + 16)) & 0xff]) },
  ];
}

interface HostileFigure {
  guest: string;
  mode: string;
  result: string;
  instructions: number;
  cycles: number;
  seconds: number;
  output: string;
  compiles: number;
  blocks: number;
  source: number;
  invalidations: number;
  flushes: number;
}

function runHostile(json: string): void {
  const figures: HostileFigure[] = [];
  for (const g of hostileGuests()) {
    for (const translate of [false, true]) {
      let output = '';
      const pc = new Pc({ memoryBytes: 64 << 20, console: (b) => { output += String.fromCharCode(b); } });
      pc.cpu.useTranslator = translate;
      pc.boot(g.image, g.name);
      const t0 = process.hrtime.bigint();
      const result = pc.run(1e9);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const c = pc.cpu.blocks;
      figures.push({
        guest: g.name, mode: translate ? 'translated' : 'interpreted', result: result.kind, instructions: pc.cpu.instructions, cycles: pc.cpu.cycles, seconds, output: output.trim(),
        compiles: c.compiles, blocks: c.blocks, source: c.source, invalidations: c.invalidations, flushes: c.flushes,
      });
    }
  }
  console.log('guest             mode         result        instructions  seconds  compiles  blocks    source  invalidations  flushes  output');
  for (const f of figures) {
    const other = figures.find((o) => o.guest === f.guest && o !== f)!;
    const same = f.result === other.result && f.instructions === other.instructions && f.cycles === other.cycles && f.output === other.output;
    console.log(`${f.guest.padEnd(17)} ${f.mode.padEnd(12)} ${f.result.padEnd(12)} ${String(f.instructions).padStart(13)} ${f.seconds.toFixed(2).padStart(8)} ${String(f.compiles).padStart(9)} ${String(f.blocks).padStart(7)} ${String(f.source).padStart(9)} ${String(f.invalidations).padStart(14)} ${String(f.flushes).padStart(8)}  ${f.output || '-'}${same ? '' : '  DIFFERENT'}`);
  }
  if (json) fs.writeFileSync(json, JSON.stringify({ node: process.version, figures }, null, 2) + '\n');
}

/** One of our engines or v86's, in this process. A string: why it was skipped. */
async function runEngine(engine: string, workload: string, image: Uint8Array, iterations: number): Promise<Figure | string> {
  if (engine.startsWith('ours')) return runOurs(workload, image, iterations, !engine.startsWith('ours-interp'), engine.endsWith('-paged'), engine !== 'ours-js');
  // v86 does not pass a Multiboot command line: it always runs the guest's default.
  if (iterations !== WORKLOADS[workload].defaultIterations) return `v86 cannot pass iterations=${iterations} (it passes no Multiboot command line); run with the default`;
  return runV86(workload, image, engine === 'v86-jit');
}

/** runEngine in a child process of its own, with a fresh V8 (see the top of this file). */
function runIsolated(engine: string, workload: string, imagePath: string, iterations: number): Figure | string {
  const args = [process.argv[1], '--run-one', engine, '--workload', workload, '--image', imagePath];
  if (iterations !== WORKLOADS[workload].defaultIterations) args.push('--iterations', String(iterations));
  const r = spawnSync(process.execPath, [...process.execArgv, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (r.status !== 0) fail(`the ${engine} run failed (${r.error?.message ?? `exit status ${r.status ?? r.signal}`})`);
  return JSON.parse(r.stdout) as Figure | string;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.hostile) { runHostile(opts.json); return; }
  const workload = WORKLOADS[opts.workload];
  const imagePath = opts.image || path.join(ROOT, 'guests', 'bin', `${opts.workload}.elf`);
  if (!fs.existsSync(imagePath)) fail(`${imagePath} is missing; ${workload.external ?? 'run npm run build:guests'}`);
  const image = new Uint8Array(fs.readFileSync(imagePath));
  if (opts.runOne) {
    const r = await runEngine(opts.runOne, opts.workload, image, opts.iterations);
    process.stdout.write(JSON.stringify(r) + '\n', () => process.exit(0)); // v86 may leave timers behind
    return;
  }
  const figures: Figure[] = [];
  const skipped: Record<string, string> = {};
  for (const engine of opts.engines) {
    process.stderr.write(`bench-cpu: running ${opts.workload} on ${engine} (${opts.iterations ? `${opts.iterations} iterations` : 'iterations fixed when built'})...\n`);
    let r: Figure | string;
    if (engine === 'qemu') {
      const base = figures.find((f) => f.engine === 'ours' || f.engine === 'ours-interp');
      if (!base) { skipped.qemu = 'its MIPS are our instruction count over its time: run it with ours or ours-interp'; continue; }
      r = await runQemu(opts.workload, imagePath, opts.iterations, base.instructions);
    } else {
      r = runIsolated(engine, opts.workload, imagePath, opts.iterations);
    }
    if (typeof r === 'string') skipped[engine] = r; else figures.push(r);
  }
  const ours = figures.find((f) => f.engine === 'ours');
  const norm = (s: string) => { const t = s.replace(/\r/g, '').trim(); return workload.checksums ? (t.match(workload.checksums) ?? []).join('\n') : t; };
  console.log(opts.iterations ? `${opts.workload}, ${opts.iterations} iterations:` : `${opts.workload}:`);
  console.log('engine             instructions     seconds   MIPS    vs ours  output  memory fallbacks');
  for (const f of figures) {
    const same = ours ? (norm(f.output) === norm(ours.output) ? 'same' : 'DIFFERENT') : '';
    console.log(`${f.engine.padEnd(17)} ${f.instructions.toExponential(3).padStart(12)} ${f.seconds.toFixed(2).padStart(10)} ${f.mips.toFixed(1).padStart(7)} ${(ours ? (f.mips / ours.mips).toFixed(2) + 'x' : '').padStart(9)}  ${same.padEnd(6)}  ${f.fallbacks !== undefined ? f.fallbacks.toExponential(2) : ''}`);
  }
  for (const [e, why] of Object.entries(skipped)) console.log(`${e.padEnd(17)} skipped: ${why}`);
  if (opts.json) {
    const pkg = (name: string) => { try { return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version; } catch { return null; } };
    fs.writeFileSync(opts.json, JSON.stringify({
      workload: opts.workload, image: { path: opts.image || `guests/bin/${opts.workload}.elf`, sha256: crypto.createHash('sha256').update(image).digest('hex') },
      iterations: opts.iterations, node: process.version, v86: pkg('v86'), figures, skipped,
    }, null, 2) + '\n');
  }
}

main().catch((e) => fail((e as Error).stack ?? String(e)));
