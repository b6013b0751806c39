/**
 * `vpio run --gdb`: Debian's gdb in batch mode against a guest (a breakpoint at a
 * symbol, registers, a step, a write watchpoint with its old and new value, memory
 * read two ways, threads, detach), the same run with and without a debugger, and a
 * debugger that misbehaves: bad packets, a disconnect, a second connection.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { CLI, ROOT, describeIf, ensureBuilt, have, runCli } from './support';
import { frame } from '../debug/rsp';
import { tempDir } from './tmp';

const GUEST = path.join(ROOT, 'guests', 'bin', 'timer.elf');

interface Running { child: ChildProcess; port: number; done: Promise<{ status: number; stdout: string; stderr: string }> }

/** Starts `vpio run ... --gdb 0` and resolves once it says which port it listens on. */
function startVpio(args: string[], guest: string | string[] = GUEST): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'run', ...[guest].flat(), '--gdb', '0', ...args], { cwd: ROOT });
    let stdout = '', stderr = '';
    const done = new Promise<{ status: number; stdout: string; stderr: string }>((res) => {
      child.on('close', (code) => res({ status: code ?? -1, stdout, stderr }));
    });
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => {
      stderr += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) resolve({ child, port: Number(m[1]), done });
    });
    child.on('error', reject);
    setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 20000).unref();
  });
}

/** A raw connection that collects what the stub sends. */
async function connect(port: number): Promise<{ sock: net.Socket; got: () => string; waitFor: (re: RegExp) => Promise<string> }> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((res, rej) => { sock.once('connect', () => res()); sock.once('error', rej); });
  let buf = '';
  sock.on('data', (d) => { buf += d.toString('latin1'); });
  const waitFor = async (re: RegExp): Promise<string> => {
    for (let i = 0; i < 400; i++) {
      const m = re.exec(buf);
      if (m) return m[0];
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`never saw ${re} in ${JSON.stringify(buf)}`);
  };
  return { sock, got: () => buf, waitFor };
}

/** Debian's gdb in batch mode with the symbols of `elf`, connected to `port`, running `commands`: what it printed. */
function gdbBatch(port: number, commands: string[], elf = GUEST): string {
  const script = path.join(tempDir('vpio-gdb-'), 'script.gdb');
  fs.writeFileSync(script, ['set pagination off', 'set confirm off', `target remote 127.0.0.1:${port}`, ...commands].join('\n'));
  const g = spawnSync('gdb', ['-batch', '-nx', '-x', script, elf], { encoding: 'utf8', timeout: 60000 });
  return g.stdout + g.stderr;
}

const NO_GDB = 'gdb is not installed (Debian package gdb; .ci/run installs it)';
/** `describe` where Debian's gdb is installed, else skipped with the reason. */
const describeGdb = describeIf(have('gdb', '--version'), NO_GDB);

/** The run without a debugger, for comparison (built on first use: dist/ exists by then). */
let plainRun: ReturnType<typeof runCli> | null = null;
const plain = {
  get stdout() { plainRun ??= runCli(['run', GUEST, '--stats']); return plainRun.stdout; },
  get stderr() { plainRun ??= runCli(['run', GUEST, '--stats']); return plainRun.stderr; },
  get status() { plainRun ??= runCli(['run', GUEST, '--stats']); return plainRun.status; },
};

describeGdb('vpio run --gdb with gdb', () => {
  beforeAll(() => ensureBuilt());

  it('stops at a breakpoint, steps, stops at a write watchpoint with the old and new value, reads memory, lists the thread, and runs on when gdb detaches', async () => {
    const v = await startVpio(['--gdb-wait']);
    const out = gdbBatch(v.port, [
      'info registers eip', 'break main', 'continue', 'info registers eip', 'stepi', 'info registers eip',
      'print *(unsigned *)&ticks', 'watch *(unsigned *)&ticks', 'continue', 'continue', 'delete',
      'x/4xb 0x100000', 'monitor phys 0x100000 4', 'info threads', 'detach',
    ]);
    const end = await v.done;
    // Stopped before the first instruction, at the ELF's entry.
    expect(out).toMatch(/eip\s+0x10000c\s+0x10000c <_start>/);
    expect(out).toMatch(/Breakpoint 1, 0x[0-9a-f]+ in main \(\)/);
    const eips = [...out.matchAll(/^eip\s+(0x[0-9a-f]+)/gm)].map((m) => parseInt(m[1], 16));
    expect(eips.length).toBe(3);
    expect(eips[2]).toBeGreaterThan(eips[1]); // one instruction on, in main
    expect(eips[2] - eips[1]).toBeLessThanOrEqual(15);
    expect(out).toMatch(/\$1 = 0/);
    expect(out).toMatch(/Old value = 0\s+New value = 1\s+0x[0-9a-f]+ in timer_tick \(\)/);
    expect(out).toMatch(/Old value = 1\s+New value = 2/);
    // The same bytes through the page tables (x) and physically (monitor phys).
    const x = /0x100000:\s+((?:0x[0-9a-f]{2}\s*){4})/.exec(out)![1].trim().split(/\s+/).map((b) => b.slice(2));
    expect(out).toContain(`00100000: ${x.join(' ')}`);
    expect(out).toMatch(/\* 1\s+Thread 1 \(CPU 0 \(timer\.elf\)\)/);
    // Detached: the guest ran to its end as without a debugger.
    expect(end.stdout).toBe(plain.stdout.toString());
    expect(end.status).toBe(plain.status);
  }, 120000);
});

describeGdb('vpio run --gdb under the hypervisor', () => {
  beforeAll(() => ensureBuilt());

  it('shows a thread per VM, stops each at its breakpoint, switches threads, steps one back and forward, and changes nothing the guests see', async () => {
    const args = ['--mode', 'virtual', '--gdb-wait'];
    const v = await startVpio(args, [GUEST, GUEST]);
    const out = gdbBatch(v.port, [
      'info threads', 'break main', 'continue', 'continue', 'thread 2', 'info registers eip', 'thread 1', 'info registers eip',
      'delete', 'thread 2', 'reverse-stepi', 'info registers eip', 'stepi', 'info registers eip', 'detach',
    ]);
    const end = await v.done;
    expect(out).toMatch(/1\s+Thread 1 \(VM 0 \(timer\.elf\)\)/);
    expect(out).toMatch(/2\s+Thread 2 \(VM 1 \(timer\.elf\)\)/);
    expect(out).toMatch(/Thread 1 hit Breakpoint 1, (0x[0-9a-f]+) in main/);
    expect(out).toMatch(/Thread 2 hit Breakpoint 1, (0x[0-9a-f]+) in main/);
    const main = /Breakpoint 1, (0x[0-9a-f]+) in main/.exec(out)![1];
    const eips = [...out.matchAll(/^eip\s+(0x[0-9a-f]+)/gm)].map((m) => m[1]);
    expect(parseInt(eips[0], 16)).toBe(parseInt(main, 16)); // thread 2 stands at its breakpoint
    expect(parseInt(eips[1], 16)).not.toBe(parseInt(main, 16)); // thread 1 ran on while thread 2 got there
    // Thread 2 back one instruction (the host replayed) and forward again, to its breakpoint.
    expect(eips.length).toBe(4);
    expect(parseInt(eips[2], 16)).toBeLessThan(parseInt(main, 16));
    expect(parseInt(eips[3], 16)).toBe(parseInt(main, 16));
    const plain2 = runCli(['run', GUEST, GUEST, '--mode', 'virtual']);
    expect(end.stdout).toBe(plain2.stdout.toString());
    expect(end.stderr.split('\n').filter((l) => !l.startsWith('vpio: gdb')).join('\n')).toBe(plain2.stderr);
    expect(end.status).toBe(plain2.status);
  }, 120000);
});

describeGdb('vpio run --gdb going backwards', () => {
  beforeAll(() => ensureBuilt());

  it('reverse-stepi goes back one instruction; reverse-continue goes back to the write a watchpoint saw, with the old value, and to the start; the guest prints each line once', async () => {
    const v = await startVpio(['--gdb-wait']);
    const out = gdbBatch(v.port, [
      'break main', 'continue', 'stepi', 'stepi', 'info registers eip', 'reverse-stepi', 'info registers eip', 'reverse-stepi', 'info registers eip',
      'watch *(unsigned *)&ticks', 'continue', 'continue', 'reverse-continue', 'print *(unsigned *)&ticks',
      'reverse-continue', 'print *(unsigned *)&ticks', 'delete', 'reverse-continue', 'info registers eip', 'detach',
    ]);
    const end = await v.done;
    const eips = [...out.matchAll(/^eip\s+(0x[0-9a-f]+)/gm)].map((m) => parseInt(m[1], 16));
    const main = parseInt(/Breakpoint 1, (0x[0-9a-f]+) in main/.exec(out)![1], 16);
    // Two steps forward from the breakpoint, then back one and one more: to the breakpoint.
    expect(eips.length).toBe(4);
    expect(eips[1]).toBeLessThan(eips[0]);
    expect(eips[2]).toBe(main);
    // Backwards over the second tick's store: its old value, 1; over the first: 0.
    expect(out).toMatch(/Old value = 2\s+New value = 1[\s\S]*\$1 = 1/);
    expect(out).toMatch(/Old value = 1\s+New value = 0[\s\S]*\$2 = 0/);
    // With nothing to stop at, back to the first instruction.
    expect(out).toContain('No more reverse-execution history.');
    expect(eips[3]).toBe(0x10000c);
    // Detached: the guest ran on, and printed what it printed once (the replays printed nothing).
    expect(end.stdout).toBe(plain.stdout.toString());
    expect(end.status).toBe(plain.status);
  }, 120000);
});

describeGdb('vpio run --gdb: monitor save', () => {
  beforeAll(() => ensureBuilt());

  it('saves the machine where gdb stopped it; vpio run --restore goes on from there as the run did', async () => {
    const dir = tempDir('vpio-gdb-save-');
    const file = path.join(dir, 'at-tick.snap');
    const v = await startVpio(['--gdb-wait', '--stats']);
    const out = gdbBatch(v.port, ['watch *(unsigned *)&ticks', 'continue', 'continue', 'continue', 'delete', `monitor save ${file}`, 'monitor save', 'detach']);
    const end = await v.done;
    expect(out).toMatch(/saved the machine at cycle \d+ to .*at-tick\.snap \(\d+ bytes\)/);
    expect(out).toContain('usage: monitor save FILE');
    expect(end.stdout).toBe(plain.stdout.toString());
    const restored = runCli(['run', GUEST, '--stats', '--restore', file]);
    expect(restored.status).toBe(plain.status);
    expect(plain.stdout.toString().endsWith(restored.stdout.toString())).toBe(true);
    expect(restored.stdout.length).toBeGreaterThan(0);
    expect(restored.stderr).toBe(plain.stderr); // the same cycles and instructions at the end
  }, 120000);
});

describeGdb('vpio run --gdb read and access watchpoints', () => {
  beforeAll(() => ensureBuilt());

  it('rwatch stops after an instruction that read the variable, awatch after one that read or wrote it, reverse-continue before the last such access', async () => {
    // In the timer guest `ticks` is read by main (its start) and sleep_ticks, and read
    // and written by timer_tick (the PIT's interrupt); nothing else touches it.
    const v = await startVpio(['--gdb-wait']);
    const out = gdbBatch(v.port, [
      'break main', 'continue', 'delete',
      'rwatch *(unsigned *)&ticks', 'continue', 'continue', 'continue', 'delete',
      'awatch *(unsigned *)&ticks', ...Array(6).fill('continue'), 'reverse-continue', 'delete', 'detach',
    ]);
    const end = await v.done;
    const stops = [...out.matchAll(/^Hardware (read|access \(read\/write\)) watchpoint \d+: \*\(unsigned \*\)&ticks\s+(?:Value = \d+|Old value = \d+\s+New value = \d+)\s+0x[0-9a-f]+ in (\w+) \(\)/gm)]
      .map((m) => ({ kind: m[1].startsWith('read') ? 'read' : 'access', fn: m[2] }));
    const reads = stops.filter((x) => x.kind === 'read');
    const accesses = stops.filter((x) => x.kind === 'access');
    expect(reads).toHaveLength(3);
    for (const r of reads) expect(['main', 'sleep_ticks', 'timer_tick']).toContain(r.fn);
    expect(accesses).toHaveLength(7); // six forwards, one back
    for (const a of accesses) expect(['main', 'sleep_ticks', 'timer_tick']).toContain(a.fn);
    expect(accesses.slice(0, 6).some((a) => a.fn === 'timer_tick')).toBe(true); // the writer is seen too
    expect(accesses.slice(0, 6).some((a) => a.fn === 'sleep_ticks')).toBe(true);
    expect(end.stdout).toBe(plain.stdout.toString());
    expect(end.status).toBe(plain.status);
  }, 120000);
});

describeGdb('vpio run --gdb going backwards from checkpoints', () => {
  beforeAll(() => ensureBuilt());

  it('reverse-continue goes back to the previous breakpoint hit', async () => {
    const v = await startVpio(['--gdb-wait']);
    const out = gdbBatch(v.port, [
      'break timer_tick', ...Array(5).fill('continue'), 'print *(unsigned *)&ticks', 'reverse-continue', 'print *(unsigned *)&ticks',
      'reverse-continue', 'print *(unsigned *)&ticks', 'delete', 'detach',
    ]);
    const end = await v.done;
    const values = [...out.matchAll(/^\$\d+ = (\d+)/gm)].map((m) => Number(m[1]));
    // Each hit of timer_tick is before its increment: back one hit, one tick fewer.
    expect(values).toHaveLength(3);
    expect(values[1]).toBe(values[0] - 1);
    expect(values[2]).toBe(values[0] - 2);
    expect(out.match(/Breakpoint 1, 0x[0-9a-f]+ in timer_tick \(\)/g)!.length).toBe(7); // five forwards, two back
    expect(end.stdout).toBe(plain.stdout.toString());
  }, 120000);

  it('past several checkpoints, reverse-continue replays from the latest one before the goal and finds the same writes', async () => {
    // The timer guest's tick counter is written every 20 million cycles; checkpoints are
    // taken every 50 million, so nine ticks pass three of them.
    const v = await startVpio(['--gdb-wait']);
    const out = gdbBatch(v.port, [
      'watch *(unsigned *)&ticks', ...Array(9).fill('continue'), 'monitor info',
      'reverse-continue', 'print *(unsigned *)&ticks', 'monitor info', 'reverse-continue', 'print *(unsigned *)&ticks', 'monitor info',
      'delete', 'detach',
    ]);
    const end = await v.done;
    const infos = [...out.matchAll(/native: cycle (\d+), \d+ replays \(\d+ instructions\), (\d+) checkpoints \(\d+ bytes\), the last replay from cycle (\d+)/g)]
      .map((m) => ({ cycle: Number(m[1]), checkpoints: Number(m[2]), from: Number(m[3]) }));
    expect(infos).toHaveLength(3);
    expect(infos[0].checkpoints).toBeGreaterThanOrEqual(3);
    // Back over the ninth tick's store (old value 8), then the eighth's (7).
    expect(out).toMatch(/Old value = 9\s+New value = 8[\s\S]*\$1 = 8/);
    expect(out).toMatch(/Old value = 8\s+New value = 7[\s\S]*\$2 = 7/);
    for (const i of [1, 2]) {
      expect(infos[i].cycle).toBeLessThan(infos[i - 1].cycle);
      expect(infos[i].from).toBeGreaterThan(0); // from a checkpoint, not the start
      expect(infos[i].from).toBeLessThanOrEqual(infos[i].cycle);
    }
    expect(end.stdout).toBe(plain.stdout.toString());
    expect(end.status).toBe(plain.status);
  }, 120000);
});

describe('vpio run --gdb without gdb itself', () => {
  beforeAll(() => ensureBuilt());

  it('changes nothing the guest sees when the debugger only continues: the same output and cycles', async () => {
    const v = await startVpio(['--gdb-wait', '--stats']);
    const c = await connect(v.port);
    c.sock.write(frame('?'));
    await c.waitFor(/\$T05thread:1;#/);
    c.sock.write(frame('c'));
    const end = await v.done;
    c.sock.destroy();
    expect(end.stdout).toBe(plain.stdout.toString());
    const cycles = (s: string) => /native: (\d+) cycles, (\d+) instructions/.exec(s)?.slice(1);
    expect(cycles(end.stderr)).toEqual(cycles(plain.stderr));
    expect(cycles(end.stderr)).toBeDefined();
    expect(c.got()).toMatch(/\$W01#/); // the guest's exit, as a stop reply
  }, 60000);

  it('answers a corrupt packet with -, an unknown one with the empty reply, and memory it cannot reach with an error', async () => {
    const v = await startVpio(['--gdb-wait']);
    const c = await connect(v.port);
    c.sock.write('junk before any packet');
    c.sock.write('$g#00'); // a wrong checksum
    await c.waitFor(/-/);
    c.sock.write(frame('qNoSuchQuery'));
    await c.waitFor(/\$#00/);
    c.sock.write(frame('mfffff000,10')); // far past RAM, nothing mapped
    await c.waitFor(/\$E14#/);
    c.sock.write(frame('M100000,2:zz'));
    await c.waitFor(/\$E01#/);
    c.sock.write(`$${'a'.repeat(0x5000)}#00`); // longer than any packet: dropped
    c.sock.write(frame('qC'));
    await c.waitFor(/\$QC1#/);
    // At the start there is nothing behind; after a register write, a replay would not be this run.
    c.sock.write(frame('bs'));
    await c.waitFor(/\$T05thread:1;replaylog:begin;#/);
    c.sock.write(frame('p5'));
    const ebp = (await c.waitFor(/\$[0-9a-f]{8}#/)).slice(1, 9);
    c.sock.write(frame(`P5=${ebp}`)); // the value it had: the run goes on as before, but it was written
    await c.waitFor(/\$OK#/);
    c.sock.write(frame('bc'));
    await c.waitFor(/\$E02#/);
    // A second debugger while one is connected is turned away; the first goes on.
    const second = net.connect(v.port, '127.0.0.1');
    await new Promise<void>((res) => second.on('close', () => res()));
    // A debugger that goes away while the machine is stopped: it runs on to its end.
    c.sock.destroy();
    const end = await v.done;
    expect(end.stdout).toBe(plain.stdout.toString());
    expect(end.status).toBe(plain.status);
  }, 60000);

  it('stops a running machine at Ctrl-C (0x03) and says so with SIGINT; k ends the run', async () => {
    // The CPU-bound guest: it runs for seconds, so the interrupt comes while it runs.
    const v = await startVpio([], path.join(ROOT, 'guests', 'bin', 'cpubound.elf'));
    const c = await connect(v.port);
    // Connecting stopped it (as QEMU does): let it run, then interrupt it.
    c.sock.write(frame('?'));
    await c.waitFor(/\$T05thread:1;#/);
    c.sock.write(frame('c'));
    c.sock.write('\x03');
    await c.waitFor(/\$T02thread:1;#[0-9a-f]{2}/);
    c.sock.write(frame('k'));
    const end = await v.done;
    c.sock.destroy();
    expect(end.status).toBe(4);
    expect(end.stderr).toMatch(/the debugger ended the run at cycle \d+/);
  }, 60000);

  it('refuses what it cannot do with a usage error (2)', async () => {
    expect(runCli(['run', GUEST, '--gdb-wait']).status).toBe(2);
    const bad = runCli(['run', GUEST, '--gdb', 'here:there']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--gdb 'here:there': give a TCP port/);
    const trace = runCli(['run', GUEST, '--gdb', '0', '--trace', 'cpu']);
    expect(trace.status).toBe(2);
    // Refused before the server listens: the one line is the refusal.
    expect(trace.stderr.trim().split('\n')).toHaveLength(1);
    const save = runCli(['run', GUEST, '--gdb', '0', '--save-at', `1e8:${path.join(os.tmpdir(), 'never.snap')}`]);
    expect(save.status).toBe(2);
    expect(save.stderr.trim()).toMatch(/^vpio: --save-at and --gdb cannot be combined .*monitor save FILE$/);
    // A port already taken.
    const taken = net.createServer();
    await new Promise<void>((res) => taken.listen(0, '127.0.0.1', () => res()));
    const port = (taken.address() as net.AddressInfo).port;
    const busy = await new Promise<{ status: number; stderr: string }>((res) => {
      const child = spawn(process.execPath, [CLI, 'run', GUEST, '--gdb', String(port)], { cwd: ROOT });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('close', (code) => res({ status: code ?? -1, stderr }));
    });
    taken.close();
    expect(busy.status).toBe(2);
    expect(busy.stderr).toMatch(/cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  }, 60000);
});

/** The timer guest built with debug information (make DEBUG=1), or why it cannot be. */
function debugGuest(): { elf: string } | { why: string } {
  if (!have('make', '--version') || !have('gcc', '--version')) return { why: 'make or gcc is missing (.ci/run installs them)' };
  const out = tempDir('vpio-gdb-guest-');
  const elf = path.join(out, 'timer.elf');
  const r = spawnSync('make', ['-s', '-C', path.join(ROOT, 'guests'), 'DEBUG=1', `OUT=${out}`, elf], { encoding: 'utf8', timeout: 120000 });
  return r.status === 0 ? { elf } : { why: `make DEBUG=1 could not build the timer guest here: ${(r.stderr || r.stdout).trim().split('\n').pop()}` };
}
const withLines = have('gdb', '--version') ? debugGuest() : { why: NO_GDB };

describeIf('elf' in withLines, 'why' in withLines ? withLines.why : '')('vpio run --gdb going backwards by source lines', () => {
  beforeAll(() => ensureBuilt());

  it('reverse-next goes back over a line, reverse-step back into the function the line before called', async () => {
    const elf = (withLines as { elf: string }).elf;
    const v = await startVpio(['--gdb-wait'], elf);
    const out = gdbBatch(v.port, ['break main', 'continue', 'next', 'next', 'next', 'frame', 'reverse-next', 'frame', 'reverse-step', 'frame', 'detach'], elf);
    const end = await v.done;
    // `frame` prints "#0  FUNCTION (...) at FILE:LINE".
    const frames = [...out.matchAll(/^#0\s+(?:0x[0-9a-f]+ in )?(\w+) \(.*\) at ([\w./]+):(\d+)/gm)].map((m) => ({ fn: m[1], file: m[2], line: Number(m[3]) }));
    expect(frames).toHaveLength(3);
    expect(frames[0].fn).toBe('main');
    expect(frames[1].fn).toBe('main');
    expect(frames[1].line).toBeLessThan(frames[0].line); // back over a line
    // Back into what the line before it called: a function other than main, or main's line before.
    expect(frames[2].fn !== 'main' || frames[2].line < frames[1].line).toBe(true);
    expect(end.stdout).toBe(runCli(['run', elf]).stdout.toString());
  }, 180000);
});

