/**
 * Traces on the command line: the exit kind, the filters (--trace-from, --trace-vm,
 * --trace-ports) and the JSON format, checked against what the guest's driver does.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureBuilt, runCli } from './support';
import { tempDir } from './tmp';

beforeAll(ensureBuilt);
const tmp = tempDir('vpio-trace-');

describe('trace kinds, filters and formats', () => {
  it('--trace exit gives one line per exit, as many as the stats table counts', () => {
    const out = path.join(tmp, 'exit.txt');
    const r = runCli(['run', 'guests/bin/ping.elf', '--mode', 'virtual', '--nic', 'rtl8139', '--peer', 'echo', '--trace', 'exit', '--trace-out', out]);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines.every((l) => /^\d+ vm0 exit (io-(in|out) port=0x[0-9a-f]{4} size=\d value=0x[0-9a-f]+ handler=\S+|hlt cycles=\d+|irq-inject cycles=\d+)$/.test(l))).toBe(true);
    const rtlOut = Number(/io out rtl8139\s+(\d+)/.exec(r.stderr)![1]);
    expect(lines.filter((l) => / exit io-out .* handler=rtl8139$/.test(l))).toHaveLength(rtlOut);
    const hlt = Number(/^ {2}hlt\s+(\d+)/m.exec(r.stderr)![1]);
    expect(lines.filter((l) => / exit hlt /.test(l))).toHaveLength(hlt);
  });

  it('--trace-format json writes one parseable object a line; --trace-vm and --trace-from filter', () => {
    const out = path.join(tmp, 'json.txt');
    runCli(['run', 'guests/bin/ping.elf', 'guests/bin/ping.elf', '--mode', 'vpio', '--nic', 'rtl8139', '--peer', 'echo', '--trace', 'exit,vpio', '--trace-vm', '1', '--trace-from', '100000000', '--trace-format', 'json', '--trace-out', out]);
    const events = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { cycle: number; vm: number | null; kind: string; event: string });
    expect(events.length).toBeGreaterThan(10);
    expect(events.every((e) => e.cycle >= 100000000)).toBe(true);
    expect(events.every((e) => e.vm === 1 || e.vm === null)).toBe(true);
    expect(events.some((e) => e.kind === 'exit' && e.vm === 1)).toBe(true);
    expect(events.some((e) => e.kind === 'vpio' && /^handoff /.test(e.event))).toBe(true);
  });

  it('--trace-ports keeps the accesses in the range', () => {
    const out = path.join(tmp, 'ports.txt');
    runCli(['run', 'guests/bin/ping.elf', '--nic', 'ne2000', '--peer', 'echo', '--trace', 'io', '--trace-ports', '0xc000-0xc00f', '--trace-out', out]);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(50);
    for (const l of lines) {
      const port = parseInt(/port=0x([0-9a-f]+)/.exec(l)![1], 16);
      expect(port >= 0xc000 && port <= 0xc00f).toBe(true);
    }
  });

  it('--trace cpu gives one line per instruction retired, with its bytes, disassembly and changed registers, and changes nothing', () => {
    const file = path.join(tmp, 'cpu.txt');
    const plain = runCli(['run', 'guests/bin/hello.elf', '--stats']);
    const traced = runCli(['run', 'guests/bin/hello.elf', '--stats', '--trace', 'cpu', '--trace-out', file]);
    expect(traced.stdout.equals(plain.stdout)).toBe(true);
    expect(traced.stderr).toBe(plain.stderr);
    const instructions = Number(/(\d+) instructions/.exec(plain.stderr)![1]);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(instructions);
    // The first is the kernel's entry (the ELF's e_entry), with what the manual says it does.
    const elf = fs.readFileSync('guests/bin/hello.elf');
    expect(lines[0]).toMatch(new RegExp(`^0 cpu 0008:${elf.readUInt32LE(24).toString(16).padStart(8, '0')} [0-9a-f]+ +\\S`));
    const mov = lines.find((l) => / mov esp,[0-9A-F]+h +esp=[0-9a-f]{8}$/.test(l));
    expect(mov).toBeDefined();
    expect(lines.every((l) => /^\d+ cpu [0-9a-f]{4}:[0-9a-f]{8} [0-9a-f]{2,30} +\S/.test(l))).toBe(true);
  });

  it('--timeline writes trace-event JSON: a track per VM, the card\'s owner, the wire; one CPU, so guests never overlap', () => {
    const file = path.join(tmp, 'timeline.json');
    const r = runCli(['run', 'guests/bin/ping.elf', 'guests/bin/ping.elf', '--mode', 'vpio', '--nic', 'rtl8139', '--peer', 'echo', '--timeline', file]);
    expect(r.status).toBe(1);
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { traceEvents: { name: string; ph: string; ts?: number; dur?: number; pid: number; tid: number; cat?: string; args?: { name?: string } }[] };
    const ev = doc.traceEvents;
    for (const e of ev) {
      expect(['X', 'i', 'M']).toContain(e.ph);
      expect(Number.isInteger(e.pid) && Number.isInteger(e.tid)).toBe(true);
      if (e.ph !== 'M') expect(e.ts).toBeGreaterThanOrEqual(0);
      if (e.ph === 'X') expect(e.dur).toBeGreaterThan(0);
    }
    const tracks = ev.filter((e) => e.name === 'thread_name').map((e) => e.args!.name).sort();
    expect(tracks).toEqual(['card owner', 'vm0', 'vm1', 'wire']);
    // The guests share one physical CPU: their running slices never overlap.
    const runs = ev.filter((e) => e.ph === 'X' && e.cat === 'run').map((e) => [e.ts!, e.ts! + e.dur!]).sort((a, b) => a[0] - b[0]);
    expect(runs.length).toBeGreaterThan(10);
    for (let i = 1; i < runs.length; i++) expect(runs[i][0]).toBeGreaterThanOrEqual(runs[i - 1][1] - 1e-6);
    // Ownership slices follow each other too, and both guests had the card.
    const owners = ev.filter((e) => e.cat === 'card');
    expect(new Set(owners.map((e) => e.name))).toEqual(new Set(['vm0', 'vm1']));
    expect(ev.filter((e) => e.cat === 'frame').length).toBe(20); // 2 x (ARP + 4 pings), both ways
  });

  it('--timeline on the bare machine: the CPU\'s running time and the wire', () => {
    const file = path.join(tmp, 'native.json');
    const r = runCli(['run', 'guests/bin/ping.elf', '--nic', 'rtl8139', '--peer', 'echo', '--timeline', file]);
    expect(r.status).toBe(1);
    const ev = (JSON.parse(fs.readFileSync(file, 'utf8')) as { traceEvents: { name: string; ph: string; cat?: string; args?: { name?: string } }[] }).traceEvents;
    expect(ev.filter((e) => e.name === 'thread_name').map((e) => e.args!.name).sort()).toEqual(['cpu', 'wire']);
    expect(ev.filter((e) => e.cat === 'run').length).toBeGreaterThan(5);
    expect(ev.filter((e) => e.cat === 'frame')).toHaveLength(10);
  });

  for (const [what, args, message] of [
    ['a filter without a trace', ['--trace-vm', '1'], /shape a trace; add --trace KINDS/],
    ['a bad port range', ['--trace', 'io', '--trace-ports', '0x400-0x300'], /bad --trace-ports '0x400-0x300'/],
    ['a bad format', ['--trace', 'io', '--trace-format', 'xml'], /unknown --trace-format 'xml'/],
    ['a bad VM number', ['--trace', 'io', '--trace-vm', 'one'], /bad --trace-vm 'one'/],
  ] as [string, string[], RegExp][]) {
    it(`refuses ${what} in one line, status 2`, () => {
      const r = runCli(['run', 'guests/bin/hello.elf', ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }
});
