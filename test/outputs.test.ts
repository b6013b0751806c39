/**
 * What `vpio run` reads and writes, end to end: inputs checked before any output is
 * touched, an output that names an input refused, output files complete or left as
 * they were, a closed pipe ending the run quietly (141), a write error in one line
 * (6), SIGINT and SIGTERM ending the run with every output closed and valid (130, 143),
 * and the looks at all this changing nothing in the run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { CLI, ROOT, ensureBuilt, runCli } from './support';
import { multibootElf } from '../board/testing-elf';
import { tempDir } from './tmp';

const tmp = tempDir('vpio-out-');
const at = (name: string) => path.join(tmp, name);
beforeAll(ensureBuilt);
const leftovers = () => fs.readdirSync(tmp).filter((f) => /\.vpio-\d+-.*\.tmp$/.test(f));
const noStack = (stderr: string) => expect(stderr).not.toMatch(/ at .*:\d+:\d+/);

/** The records of a classic pcap file, each checked whole (pcap-savefile(5)). */
function pcapFrames(file: string): number {
  const b = fs.readFileSync(file);
  expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
  let n = 0, off = 24;
  while (off < b.length) {
    const incl = b.readUInt32LE(off + 8);
    expect(b.readUInt32LE(off + 12)).toBe(incl);
    off += 16 + incl;
    n++;
  }
  expect(off).toBe(b.length); // no record cut short
  return n;
}

/** Starts the CLI, sends `signal` once stdout has shown `ready`, and resolves with how it ended. */
function interrupt(args: string[], ready: RegExp, signal: NodeJS.Signals, delayMs = 300): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT });
    let stdout = '', stderr = '', sent = 0, scheduled = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!scheduled && ready.test(stdout)) { scheduled = true; setTimeout(() => { sent = Date.now(); child.kill(signal); }, delayMs); }
    });
    child.stderr.on('data', (d) => { stderr += d; });
    // If `ready` never shows, the signal goes anyway after 20 s: the test then fails on what it sees, not by hanging.
    const deadline = setTimeout(() => { if (!scheduled) { scheduled = true; sent = Date.now(); child.kill(signal); } }, 20000);
    const hard = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('close', (status) => { clearTimeout(deadline); clearTimeout(hard); resolve({ status, stdout, stderr, ms: Date.now() - sent }); });
  });
}

describe('inputs are checked first, and never overwritten', () => {
  it('refuses --pcap naming the kernel, by any spelling or link, and leaves the kernel whole', () => {
    const kernel = at('k.elf');
    fs.copyFileSync(path.join(ROOT, 'guests/bin/ping.elf'), kernel);
    const before = fs.readFileSync(kernel);
    fs.symlinkSync(kernel, at('link.elf'));
    for (const out of [kernel, path.join(tmp, '.', 'k.elf'), at('link.elf')]) {
      const r = runCli(['run', kernel, '--nic', 'rtl8139', '--peer', 'echo', '--pcap', out]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toMatch(/^vpio: --pcap .* is the kernel, which this run reads; give another file to write$/);
    }
    for (const opt of ['--timeline', '--trace-out']) {
      const r = runCli(['run', kernel, '--trace', 'io', opt, kernel]);
      expect(r.status).toBe(2);
    }
    expect(Buffer.compare(fs.readFileSync(kernel), before)).toBe(0);
    expect(leftovers()).toEqual([]);
  });

  it('refuses /dev/zero as a kernel at once rather than reading it', () => {
    const r = runCli(['run', '/dev/zero'], 10000);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('vpio: /dev/zero is a character device, not a file; give the path of a Multiboot ELF kernel or a Linux bzImage');
  });

  it('refuses a kernel larger than --memory by its size, before reading it', () => {
    const big = at('big.elf');
    fs.closeSync(fs.openSync(big, 'w'));
    fs.truncateSync(big, 2 * 1024 ** 3 + 1); // sparse
    const r = runCli(['run', big, '--memory', '16M'], 10000);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/big\.elf is 2048 MiB, more than --memory 16M can hold \(16 MiB\); give a larger --memory, or a smaller image$/);
  });

  it('checks a bad image before it empties an existing output', () => {
    fs.writeFileSync(at('old.pcap'), 'old');
    const r = runCli(['run', 'package.json', '--nic', 'rtl8139', '--pcap', at('old.pcap')]);
    expect(r.status).toBe(2);
    expect(fs.readFileSync(at('old.pcap'), 'utf8')).toBe('old');
    expect(leftovers()).toEqual([]);
  });
});

describe('write errors and closed pipes', () => {
  it('--pcap /dev/full: one line naming the file and ENOSPC, status 6', () => {
    const r = runCli(['run', 'guests/bin/ping.elf', '--nic', 'rtl8139', '--peer', 'echo', '--pcap', '/dev/full']);
    expect(r.status).toBe(6);
    expect(r.stderr.trim()).toBe('vpio: cannot write --pcap /dev/full: no space left on device (ENOSPC)');
  });

  it('--timeline and --trace-out on a full disk, and stdout, each in one line, status 6', () => {
    let r = runCli(['run', 'guests/bin/hello.elf', '--timeline', '/dev/full']);
    expect(r.status).toBe(6);
    expect(r.stderr.trim()).toBe('vpio: cannot write --timeline /dev/full: no space left on device (ENOSPC)');
    r = runCli(['run', 'guests/bin/hello.elf', '--trace', 'io', '--trace-out', '/dev/full']);
    expect(r.status).toBe(6);
    expect(r.stderr.trim()).toBe('vpio: cannot write --trace-out /dev/full: no space left on device (ENOSPC)');
    const s = spawnSync('sh', ['-c', `exec node ${CLI} run guests/bin/hello.elf > /dev/full`], { cwd: ROOT, encoding: 'utf8' });
    expect(s.status).toBe(6);
    expect(s.stderr.trim()).toBe('vpio: cannot write stdout: no space left on device (ENOSPC)');
  });

  for (const [what, mode] of [['on the bare machine', []], ['under the hypervisor', ['--mode', 'vpio']]] as [string, string[]][]) {
    it(`vpio run ... | head: a closed stdout ends the run at once and quietly, status 141 (${what})`, () => {
      const b = spawnSync('bash', ['-c', `node ${CLI} run guests/bin/udp-tx.elf ${mode.join(' ')} --nic rtl8139 --peer sink --cmdline count=1000000 --trace net --trace-out /dev/stdout 2>/tmp/vpio-epipe-$$ | head -2 > /dev/null; s=\${PIPESTATUS[0]}; cat /tmp/vpio-epipe-$$; rm -f /tmp/vpio-epipe-$$; exit $s`],
        { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
      expect(b.status).toBe(141);
      expect(b.stdout).toBe(''); // nothing on stderr: no message, no stack trace
    });
  }

  it('a closed stderr does not turn a stopped run into a guest\'s status', () => {
    // The run stops at the cycle limit (4) and says so on stderr, which has no reader.
    const b = spawnSync('bash', ['-c', `node ${CLI} run guests/bin/udp-tx.elf --nic rtl8139 --peer sink --cmdline count=100000 --max-cycles 3e9 --trace net 2>&1 >/dev/null | head -1 >/dev/null; exit \${PIPESTATUS[0]}`],
      { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    expect(b.status).toBe(141);
  });
});

describe('SIGINT and SIGTERM end the run with every output closed and valid', () => {
  const udp = ['guests/bin/udp-tx.elf', '--nic', 'rtl8139', '--peer', 'sink', '--cmdline', 'count=10000000'];

  for (const [what, mode, signal, status] of [
    ['SIGINT on the bare machine', [], 'SIGINT', 130],
    ['SIGTERM on the bare machine', [], 'SIGTERM', 143],
    ['SIGINT under the hypervisor, two VMs sharing the card', ['guests/bin/udp-tx.elf', '--mode', 'vpio'], 'SIGINT', 130],
  ] as [string, string[], NodeJS.Signals, number][]) {
    it(`${what}: status ${status}, a pcap of whole records and a closed timeline`, async () => {
      const pcap = at(`sig-${status}-${mode.length}.pcap`), timeline = at(`sig-${status}-${mode.length}.json`);
      fs.writeFileSync(timeline, 'the old timeline');
      const r = await interrupt(['run', ...udp, ...mode, '--pcap', pcap, '--timeline', timeline, '--trace', 'net', '--trace-out', at(`sig-${status}.trace`)], /card: rtl8139/, signal);
      expect(r.status).toBe(status);
      expect(r.stderr).toMatch(new RegExp(`^vpio: stopped by ${signal} at cycle \\d+.*; the outputs are complete up to there$`, 'm'));
      noStack(r.stderr);
      const frames = pcapFrames(pcap);
      expect(frames).toBeGreaterThan(2);
      const doc = JSON.parse(fs.readFileSync(timeline, 'utf8')) as { traceEvents: { cat?: string }[] };
      expect(doc.traceEvents.filter((e) => e.cat === 'frame')).toHaveLength(frames);
      expect(fs.readFileSync(at(`sig-${status}.trace`), 'utf8').trim().split('\n').filter((l) => / net /.test(l))).toHaveLength(frames);
      expect(leftovers()).toEqual([]);
    });
  }

  it('a guest spinning with no device event is stopped a second later: the pcap kept, the old timeline left as it was', async () => {
    const spin = at('spin.elf');
    // The firmware leaves PIT channel 0 running (as SeaBIOS does): a control word with no count stops it.
    // mov al, 0x30; out 0x43, al; mov al, 'A'; out 0xe9, al; mov al, 10; out 0xe9, al; jmp $
    fs.writeFileSync(spin, multibootElf([0xb0, 0x30, 0xe6, 0x43, 0xb0, 0x41, 0xe6, 0xe9, 0xb0, 0x0a, 0xe6, 0xe9, 0xeb, 0xfe]));
    const pcap = at('spin.pcap'), timeline = at('spin.json');
    fs.writeFileSync(timeline, 'the old timeline');
    // The signal 1.5 s after the 'A': the machine's start-up events must be past, or the
    // run sees the signal at one of them (once, on a loaded machine: at 55 ms of virtual time).
    const r = await interrupt(['run', spin, '--nic', 'rtl8139', '--pcap', pcap, '--timeline', timeline], /A\n/, 'SIGINT', 1500);
    expect(r.status).toBe(130);
    expect(r.ms).toBeLessThan(20000);
    expect(r.stderr.trim()).toMatch(/^vpio: stopped by SIGINT while the guest ran with no device event to end at; .*spin\.pcap is complete up to the last event; the timeline was not written/);
    expect(pcapFrames(pcap)).toBe(0);
    expect(fs.readFileSync(timeline, 'utf8')).toBe('the old timeline');
    expect(leftovers()).toEqual([]);
  });
});

describe('looking for signals, pipes and write errors changes nothing in the run', () => {
  // --check-cycles 0: no looks at all; 997: a look at every clock advance past each
  // 997 cycles, far more often than the 20,000,000 of a normal run.
  for (const [what, args] of [
    ['udp-tx on the NE2000', ['guests/bin/udp-tx.elf', '--nic', 'ne2000', '--peer', 'sink', '--cmdline', 'count=200']],
    ['the threads guest (timer interrupts, REP string copies)', ['guests/bin/threads.elf']],
    ['two udp-tx guests sharing an RTL8139 under vpio', ['guests/bin/udp-tx.elf', 'guests/bin/udp-tx.elf', '--mode', 'vpio', '--nic', 'rtl8139', '--peer', 'sink', '--cmdline', 'count=100']],
  ] as [string, string[]][]) {
    it(`${what}: the same output, cycles, pcap and timeline`, () => {
      const runs = ['0', '997'].map((every) => {
        const pcap = at(`w${every}.pcap`), timeline = at(`w${every}.json`);
        const withNic = args.includes('--nic') ? ['--pcap', pcap] : [];
        const r = runCli(['run', ...args, ...withNic, '--timeline', timeline, '--stats', '--check-cycles', every]);
        return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr, pcap: withNic.length ? fs.readFileSync(pcap).toString('hex') : '', timeline: fs.readFileSync(timeline, 'utf8') };
      });
      expect(runs[0].status).toBe(1);
      expect(runs[0].stderr).toMatch(/\d+ cycles/);
      expect(runs[1]).toEqual(runs[0]);
    });
  }
});
