/**
 * bench/linux: host wall time to boot Debian 12's 686 kernel with the project's
 * initramfs (scripts/linux-guest.mjs) to its /init's first line and to its power-off,
 * with `console=ttyS0` and 128 MiB, in three engines one after the other:
 *
 * - `ours`: `node dist/vpio.js run KERNEL --initrd INITRD --append console=ttyS0
 *   --memory 128M --stats`, spawned, its stdout read as it comes; power-off is the
 *   process's end (`poweroff -f` ends a run with status 0).
 * - `qemu`: `qemu-system-i386` with TCG, `-kernel -initrd -append -m 128 -display none
 *   -serial stdio -monitor none -no-reboot` and a CPU cut to ours (`--qemu-cpu`):
 *   a P6 with FPU, PSE, TSC, MSR, CX8, PGE and CMOV, without MMX, FXSR or the local APIC.
 *   It boots SeaBIOS first (ours starts at the kernel). Power-off is the process's end.
 * - `v86-jit`: the npm package v86 in this process, its JIT on, with Debian's SeaBIOS,
 *   the same bzImage, initrd and command line, its serial port read byte by byte
 *   (`serial0-output-byte`). v86 has no ACPI power-off, so `poweroff -f` ends in the
 *   kernel's halt: its end is the kernel's last line, "reboot: System halted" (where
 *   the others print "reboot: Power down").
 *
 * Every time is from the launch (the spawn, or the construction of v86's emulator) to
 * the end of the line that says so: "init: hello from /init" for /init. Each engine's
 * time to "Loading compiled-in X.509 certificates" splits kernel init in two: before
 * it the kernel's own setup, mostly code run once; from it the check of its built-in
 * certificates, RSA arithmetic in hot loops (3.7 of the boot's 6.4 billion instructions).
 *
 * Then, unless --no-phases, where ours spends the time: the same boot in this process
 * (board/pc), which notes the instructions retired and the virtual time at the end of
 * four lines: the kernel's first ("Linux version": the decompressor is done), the
 * X.509 line, /init's first and the kernel's last ("reboot: Power down"). The run is deterministic, so its
 * counts are those of the spawned run (the totals are checked against its --stats);
 * the host seconds per phase are the spawned run's.
 *
 *   npm run bench:linux -- [--engines ours,qemu,v86-jit] [--qemu-cpu MODEL] [--no-phases] [--json FILE]
 *
 * Host time is read here, in the bench, never on the emulated path.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadV86 } from './v86';
import { spawn, spawnSync } from 'child_process';
import { Pc } from '../board/pc';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'vpio.js');
const ENGINES = ['ours', 'qemu', 'v86-jit'];
const APPEND = 'console=ttyS0';
const MEMORY_MIB = 128;
/**
 * pentium2 (family 6) less all ours does not report, so that QEMU's CPUID leaf 1 has
 * exactly ours' FPU, PSE, TSC, MSR, PAE, CX8, PGE and CMOV (QEMU's
 * query-cpu-model-expansion of it lists just those): no MMX, FXSR, local APIC, PAT,
 * MTRR, SEP, and no hypervisor bit.
 */
const QEMU_CPU = 'pentium2,-mmx,-fxsr,-apic,-de,-mce,-mca,-sep,-mtrr,-pat,-pse36,-hypervisor';
/** Longer than any engine has taken here, by far. */
const TIMEOUT_MS = 15 * 60 * 1000;

const KERNEL_LINE = 'Linux version';
/** Where the kernel starts checking its built-in certificates (its RSA code: most of kernel init's instructions). */
const SELFTEST_LINE = 'Loading compiled-in X.509 certificates';
const INIT_LINE = 'init: hello from /init';
/** The kernel's last line: "reboot: Power down", or "reboot: System halted" where it finds no way to power off (v86). */
const POWER_LINE = 'reboot: ';

interface Figure {
  engine: string;
  /** Host seconds from the launch to the end of each line; null when it never came. */
  toKernel: number | null;
  toSelfTest: number | null;
  toInit: number | null;
  toPowerOff: number | null;
  /** Guest instructions to /init and in all, where the engine reports them. */
  instructionsToInit: number | null;
  instructions: number | null;
  /** How the run ended (status, or why it was stopped). */
  end: string;
}

/** Where our boot was at a line: instructions, cycles, in-process host seconds, and the block translator's counters so far. */
interface Point { label: string; instructions: number; cycles: number; host: number; compiles: number; invalidations: number; flushes: number; memFallbacks: number }

function fail(message: string): never {
  process.stderr.write(`bench-linux: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]) {
  const opts = { engines: ENGINES.slice(), json: '', qemuCpu: QEMU_CPU, phases: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i] ?? fail(`${a} needs a value`);
    if (a === '--engines') {
      opts.engines = next().split(',');
      for (const e of opts.engines) if (!ENGINES.includes(e)) fail(`unknown engine '${e}'; engines are ${ENGINES.join(', ')}`);
    } else if (a === '--json') {
      opts.json = next();
    } else if (a === '--qemu-cpu') {
      opts.qemuCpu = next();
    } else if (a === '--no-phases') {
      opts.phases = false;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench:linux -- [--engines ours,qemu,v86-jit] [--qemu-cpu MODEL] [--no-phases] [--json FILE]\n' +
        `  boots Debian 12's 686 kernel and the project's initramfs (${APPEND}, ${MEMORY_MIB} MiB) to /init and to its power-off in each engine\n` +
        `  --qemu-cpu  QEMU's -cpu (default ${QEMU_CPU})\n` +
        '  --no-phases leave out the breakdown of our run (decompression, kernel init, X.509 self-test, user space)\n');
      process.exit(0);
    } else {
      fail(`unknown option '${a}'; see --help`);
    }
  }
  return opts;
}

/** The kernel and initramfs from scripts/linux-guest.mjs (which downloads them the first time). */
function guest(): { kernel: string; initrd: string } {
  const g = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'linux-guest.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (g.status !== 0) fail(`scripts/linux-guest.mjs: ${(g.stderr || '').trim() || `status ${g.status}`}`);
  const kernel = /^kernel (.*)$/m.exec(g.stdout)?.[1];
  const initrd = /^initrd (.*)$/m.exec(g.stdout)?.[1];
  if (!kernel || !initrd) fail(`scripts/linux-guest.mjs printed no kernel and initrd: ${g.stdout}`);
  return { kernel, initrd };
}

const seconds = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;

/**
 * Notes the host time at the end of the first line holding each marker. Fed the
 * output as it arrives; a line is complete at its newline.
 */
class LineWatch {
  private line = '';
  readonly at = new Map<string, number>();
  constructor(private readonly t0: bigint, private readonly markers: string[], private readonly onLine?: (line: string) => void) {}
  feed(text: string): void {
    for (const c of text) {
      if (c !== '\n') { this.line += c; continue; }
      const now = seconds(this.t0);
      for (const m of this.markers) if (!this.at.has(m) && this.line.includes(m)) this.at.set(m, now);
      this.onLine?.(this.line);
      this.line = '';
    }
  }
}

interface Row {
  phase: string;
  instructions: number | null;
  virtualSeconds: number | null;
  hostSeconds: number | null;
  inProcessHostSeconds: number | null;
  mips: number | null;
  compiles: number | null;
  invalidations: number | null;
  flushes: number | null;
  memFallbacks: number | null;
}

interface Spawned { watch: LineWatch; end: number; status: number | null; signal: string | null; stderr: string }

function runSpawned(cmd: string, args: string[]): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const watch = new LineWatch(t0, [KERNEL_LINE, SELFTEST_LINE, INIT_LINE, POWER_LINE]);
    let stderr = '';
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (s: string) => watch.feed(s));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => child.kill('SIGTERM'), TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ watch, end: seconds(t0), status, signal, stderr });
    });
  });
}

function spawnedFigure(engine: string, r: Spawned, instructions: number | null): Figure {
  const end = r.signal ? `stopped by ${r.signal}` : `status ${r.status}`;
  const poweredOff = r.status === 0 && r.watch.at.has(POWER_LINE);
  return {
    engine,
    toKernel: r.watch.at.get(KERNEL_LINE) ?? null,
    toSelfTest: r.watch.at.get(SELFTEST_LINE) ?? null,
    toInit: r.watch.at.get(INIT_LINE) ?? null,
    toPowerOff: poweredOff ? r.end : null,
    instructionsToInit: null,
    instructions,
    end: poweredOff ? end : `${end} without a power-off${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').pop()}` : ''}`,
  };
}

async function runOurs(kernel: string, initrd: string): Promise<Figure> {
  if (!fs.existsSync(CLI)) fail(`${CLI} is missing; npm run build`);
  const r = await runSpawned(process.execPath, [CLI, 'run', kernel, '--initrd', initrd, '--append', APPEND, '--memory', `${MEMORY_MIB}M`, '--stats']);
  const stats = /native: (\d+) cycles, (\d+) instructions/.exec(r.stderr);
  const f = spawnedFigure('ours', r, stats ? Number(stats[2]) : null);
  (f as Figure & { cycles?: number }).cycles = stats ? Number(stats[1]) : undefined;
  return f;
}

async function runQemu(kernel: string, initrd: string, cpu: string): Promise<Figure | string> {
  if (spawnSync('qemu-system-i386', ['--version']).status !== 0) return 'qemu-system-i386 is not installed (apt-get install qemu-system-x86)';
  const r = await runSpawned('qemu-system-i386', ['-accel', 'tcg', '-cpu', cpu, '-kernel', kernel, '-initrd', initrd, '-append', APPEND,
    '-m', String(MEMORY_MIB), '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-no-reboot']);
  return spawnedFigure('qemu', r, null);
}

async function runV86(kernel: string, initrd: string): Promise<Figure | string> {
  const setup = await loadV86();
  if (typeof setup === 'string') return setup;
  const { V86, wasm, bios } = setup;
  const buffer = (file: string) => { const b = fs.readFileSync(file); return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.length) }; };
  const bzimage = buffer(kernel), initrdBuf = buffer(initrd);
  // v86 logs to the console: keep the bench's stdout to the table.
  const log = console.log;
  console.log = () => {};
  return new Promise<Figure | string>((resolve) => {
    let total = 0, last = 0, atInit: number | null = null;
    const t0 = process.hrtime.bigint();
    const emulator = new V86({
      wasm_path: wasm, bios, bzimage, initrd: initrdBuf, cmdline: APPEND,
      memory_size: MEMORY_MIB << 20, autostart: true,
      disable_keyboard: true, disable_mouse: true, disable_speaker: true,
    });
    // The 32-bit instruction counter wraps: accumulate its differences at every byte the
    // guest prints (no host timer is needed: the kernel's longest silence, the
    // decompressor's, is well below 2^32 instructions).
    const sample = () => {
      const now = emulator.get_instruction_counter() >>> 0;
      total += (now - last) >>> 0;
      last = now;
    };
    let done = false;
    const finish = (end: string) => {
      if (done) return;
      done = true;
      sample();
      clearTimeout(timeout);
      try { emulator.stop?.(); emulator.destroy?.(); } catch { /* already stopped */ }
      const at = watch.at;
      resolve({ engine: 'v86-jit', toKernel: at.get(KERNEL_LINE) ?? null, toSelfTest: at.get(SELFTEST_LINE) ?? null, toInit: at.get(INIT_LINE) ?? null, toPowerOff: at.get(POWER_LINE) ?? null,
        instructionsToInit: atInit, instructions: total, end });
    };
    const watch = new LineWatch(t0, [KERNEL_LINE, SELFTEST_LINE, INIT_LINE, POWER_LINE], (line) => {
      if (atInit === null && line.includes(INIT_LINE)) atInit = total;
      if (line.includes(POWER_LINE)) finish(line.slice(line.indexOf(POWER_LINE)).trim());
    });
    const timeout = setTimeout(() => finish(`stopped after ${TIMEOUT_MS / 60000} minutes`), TIMEOUT_MS);
    emulator.add_listener('serial0-output-byte', (byte: number) => { sample(); watch.feed(String.fromCharCode(byte)); });
  }).finally(() => { console.log = log; });
}

/** Our boot in this process, noting instructions and virtual time at the end of the four lines. */
function runPhases(kernel: string, initrd: string): { points: Point[]; hz: number; end: string } {
  const points: Point[] = [];
  let line = '';
  const labels: [string, string][] = [[KERNEL_LINE, 'kernel'], [SELFTEST_LINE, 'self-test'], [INIT_LINE, 'init'], [POWER_LINE, 'power-off']];
  let t0 = 0n;
  const point = (label: string): Point => {
    const c = pc.cpu.blocks;
    return { label, instructions: pc.cpu.instructions, cycles: pc.cpu.cycles, host: seconds(t0), compiles: c.compiles, invalidations: c.invalidations, flushes: c.flushes, memFallbacks: pc.cpu.memFallbacks };
  };
  const pc: Pc = new Pc({
    memoryBytes: MEMORY_MIB << 20,
    console: (b) => {
      if (b !== 0x0a) { line += String.fromCharCode(b); return; }
      for (const [m, label] of labels) {
        if (line.includes(m) && !points.some((p) => p.label === label)) {
          points.push(point(label));
        }
      }
      line = '';
    },
  });
  t0 = process.hrtime.bigint();
  pc.boot(new Uint8Array(fs.readFileSync(kernel)), APPEND, new Uint8Array(fs.readFileSync(initrd)));
  const result = pc.run(Infinity);
  points.push(point('end'));
  pc.close();
  return { points, hz: pc.clock.hz, end: result.kind };
}

const fmt = (v: number | null, digits = 2) => (v === null ? '-' : v.toFixed(digits));

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const { kernel, initrd } = guest();
  const figures: Figure[] = [];
  const skipped: Record<string, string> = {};
  for (const engine of opts.engines) {
    process.stderr.write(`bench-linux: booting in ${engine}...\n`);
    const r = engine === 'ours' ? await runOurs(kernel, initrd) : engine === 'qemu' ? await runQemu(kernel, initrd, opts.qemuCpu) : await runV86(kernel, initrd);
    if (typeof r === 'string') skipped[engine] = r; else figures.push(r);
  }
  let phases: { points: Point[]; hz: number; end: string; rows: Row[] } | null = null;
  const ours = figures.find((f) => f.engine === 'ours');
  if (opts.phases) {
    process.stderr.write('bench-linux: our boot again, in this process, for its phases...\n');
    const p = runPhases(kernel, initrd);
    const at = (label: string) => p.points.find((x) => x.label === label) ?? null;
    const end = at('end')!;
    if (ours) {
      ours.instructionsToInit = at('init')?.instructions ?? null;
      const spawnedCycles = (ours as Figure & { cycles?: number }).cycles;
      if (ours.instructions !== end.instructions || spawnedCycles !== end.cycles) {
        process.stderr.write(`bench-linux: WARNING: the spawned run ended at ${spawnedCycles} cycles, ${ours.instructions} instructions; this one at ${end.cycles}, ${end.instructions}\n`);
      }
    }
    // Host seconds per phase: the spawned run's (its launch, its lines, its end) where there is one.
    const spawned = ours ? [0, ours.toKernel, ours.toSelfTest, ours.toInit, ours.toPowerOff] : null;
    const bounds = [null, at('kernel'), at('self-test'), at('init'), end];
    const rows: Row[] = ['decompression', 'kernel init', 'X.509 self-test', 'user space'].map((phase, i) => {
      const from = bounds[i], to = bounds[i + 1];
      const d = (k: 'instructions' | 'cycles' | 'host' | 'compiles' | 'invalidations' | 'flushes' | 'memFallbacks') => (to === null ? null : to[k] - (from?.[k] ?? 0));
      const host = spawned ? (spawned[i + 1] !== null && spawned[i] !== null ? spawned[i + 1]! - spawned[i]! : null) : null;
      const instructions = d('instructions');
      return {
        phase, instructions, virtualSeconds: to === null ? null : d('cycles')! / p.hz, hostSeconds: host, inProcessHostSeconds: d('host'),
        mips: instructions !== null && host ? instructions / host / 1e6 : null,
        compiles: d('compiles'), invalidations: d('invalidations'), flushes: d('flushes'), memFallbacks: d('memFallbacks'),
      };
    });
    phases = { points: p.points, hz: p.hz, end: p.end, rows };
  }

  console.log(`Debian 12 686 kernel ${path.basename(kernel)}, initramfs ${path.basename(initrd)}, ${APPEND}, ${MEMORY_MIB} MiB; host seconds from the launch`);
  console.log('engine     to kernel  to X.509  to /init  to power-off  instructions to /init  instructions  end');
  const n = (v: number | null) => (v === null ? '-' : v.toExponential(3));
  for (const f of figures) {
    console.log(`${f.engine.padEnd(10)} ${fmt(f.toKernel).padStart(9)} ${fmt(f.toSelfTest).padStart(9)} ${fmt(f.toInit).padStart(9)} ${fmt(f.toPowerOff).padStart(13)} ${n(f.instructionsToInit).padStart(22)} ${n(f.instructions).padStart(13)}  ${f.end}`);
  }
  for (const [e, why] of Object.entries(skipped)) console.log(`${e.padEnd(10)} skipped: ${why}`);
  if (phases) {
    console.log('');
    console.log(`ours, by line (from the boot in this process, which ended by ${phases.end}):`);
    console.log('point        virtual s    instructions  host s  block compiles  invalidations  flushes');
    for (const q of phases.points) {
      console.log(`${q.label.padEnd(12)} ${(q.cycles / phases.hz).toFixed(4).padStart(9)} ${String(q.instructions).padStart(15)} ${q.host.toFixed(2).padStart(7)} ${String(q.compiles).padStart(15)} ${String(q.invalidations).padStart(14)} ${String(q.flushes).padStart(8)}`);
    }
    console.log(`ours, by phase (host seconds and MIPS ${ours ? 'of the spawned run' : 'not measured: no spawned run'}; in-process host seconds beside):`);
    console.log('phase          instructions  virtual s  host s    MIPS  in-process s');
    for (const r of phases.rows) {
      console.log(`${r.phase.padEnd(14)} ${n(r.instructions).padStart(12)} ${fmt(r.virtualSeconds, 4).padStart(10)} ${fmt(r.hostSeconds).padStart(7)} ${fmt(r.mips, 0).padStart(7)} ${fmt(r.inProcessHostSeconds).padStart(13)}`);
    }
  }
  if (opts.json) {
    const pkg = (name: string) => { try { return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version; } catch { return null; } };
    const qemu = spawnSync('qemu-system-i386', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? null;
    fs.writeFileSync(opts.json, JSON.stringify({
      kernel, initrd, append: APPEND, memoryMiB: MEMORY_MIB, qemuCpu: opts.qemuCpu, node: process.version, v86: pkg('v86'), qemu, figures, skipped, phases,
    }, null, 2) + '\n');
  }
}

main().catch((e) => fail((e as Error).stack ?? String(e)));
