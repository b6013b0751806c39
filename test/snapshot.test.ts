/**
 * `vpio run --save-at` and `--restore`, end to end: a run restored from a snapshot goes
 * on exactly as the run that saved it (the same console output from there on, the same
 * figures at the end, the same frames in its pcap), in every mode, at points chosen
 * while a frame is on the wire or the VPIO monitor is handing the card over; and a file that is damaged, of another version or of
 * another machine is refused in one line, with nothing written.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureBuilt, runCli } from './support';
import { tempDir } from './tmp';

const tmp = tempDir('vpio-snap-');
const at = (name: string) => path.join(tmp, name);
beforeAll(ensureBuilt);

const G = 'guests/bin/';
const CPU_HZ = 2e9;

/** Each pcap record's timestamp (in cycles, to the microsecond) and length, and where the records start. */
function records(file: string): { cycle: number; length: number }[] {
  const b = fs.readFileSync(file);
  const out: { cycle: number; length: number }[] = [];
  for (let off = 24; off < b.length;) {
    const incl = b.readUInt32LE(off + 8);
    out.push({ cycle: (b.readUInt32LE(off) + b.readUInt32LE(off + 4) / 1e6) * CPU_HZ, length: incl });
    off += 16 + incl;
  }
  return out;
}

/** The pcap's bytes after its 24-byte header. */
const frames = (file: string) => fs.readFileSync(file).subarray(24);

/**
 * Points where a frame is on the wire in the reference run: a frame reaches the pcap
 * when its last bit has left, so half its time on the wire before that (10 or 100 Mbit/s).
 */
function midFrame(pcap: string, bitsPerSecond: number, picks: number[]): number[] {
  const r = records(pcap);
  expect(r.length).toBeGreaterThan(Math.max(...picks));
  return picks.map((i) => Math.floor(r[i].cycle - ((r[i].length + 24) * 8 * CPU_HZ) / bitsPerSecond / 2));
}

interface Case {
  name: string;
  args: string[];
  bits: number;
}

const CASES: Case[] = [
  { name: 'native, RTL8139', args: [G + 'udp-tx.elf', '--nic', 'rtl8139'], bits: 100e6 },
  { name: 'passthrough, NE2000', args: [G + 'udp-tx.elf', G + 'threads.elf', '--mode', 'passthrough', '--nic', 'ne2000'], bits: 10e6 },
  { name: 'virtual, RTL8139', args: [G + 'udp-tx.elf', G + 'ping.elf', '--mode', 'virtual', '--nic', 'rtl8139'], bits: 100e6 },
  { name: 'vpio, NE2000, two guests sharing', args: [G + 'udp-tx.elf', G + 'ping.elf', '--mode', 'vpio', '--nic', 'ne2000'], bits: 10e6 },
  { name: 'native, RTL8139, with the APICs', args: [G + 'udp-tx.elf', '--nic', 'rtl8139', '--apic'], bits: 100e6 },
  { name: 'vpio, RTL8139, beside the hostile guest', args: [G + 'hostile.elf', G + 'udp-tx.elf', '--mode', 'vpio', '--nic', 'rtl8139', '--cmdline', 'attack=tsad target=150994944', '--cmdline', ''], bits: 100e6 },
];
const COMMON = ['--peer', 'sink', '--peer', 'echo', '--max-cycles', '3e8'];

describe.each(CASES)('a restored run goes on as the saving run: $name', ({ name, args, bits }) => {
  const id = name.replace(/\W+/g, '-');
  test('at three points, each while a frame is on the wire', () => {
    const ref = runCli(['run', ...args, ...COMMON, '--pcap', at(`${id}.pcap`)]);
    expect(ref.stderr).not.toMatch(/snapshot|internal error/);
    const points = midFrame(at(`${id}.pcap`), bits, [1, 7, 20]);
    const saves = points.map((p, i) => `${p}:${at(`${id}-${i}.snap`)}`);
    // Saving changes nothing in the run that saves.
    const saving = runCli(['run', ...args, ...COMMON, '--pcap', at(`${id}-saving.pcap`), ...saves.flatMap((s) => ['--save-at', s])]);
    expect(saving.status).toBe(ref.status);
    expect(saving.stdout.equals(ref.stdout)).toBe(true);
    expect(saving.stderr).toBe(ref.stderr);
    expect(frames(at(`${id}-saving.pcap`)).equals(frames(at(`${id}.pcap`)))).toBe(true);
    for (let i = 0; i < points.length; i++) {
      const restored = runCli(['run', ...args, ...COMMON, '--restore', at(`${id}-${i}.snap`), '--pcap', at(`${id}-r${i}.pcap`)]);
      if (restored.status !== ref.status) throw new Error(restored.stderr);
      expect(restored.status).toBe(ref.status);
      // The console from the point on (a line begun before it is finished whole), the
      // figures at the end (whole-run counts: they were saved), the frames from the point on.
      const out = restored.stdout.toString('latin1');
      expect(ref.stdout.toString('latin1').endsWith(out)).toBe(true);
      expect(restored.stderr).toBe(ref.stderr);
      const tail = frames(at(`${id}-r${i}.pcap`));
      expect(tail.length).toBeGreaterThan(0);
      const whole = frames(at(`${id}.pcap`));
      expect(whole.subarray(whole.length - tail.length).equals(tail)).toBe(true);
      expect(tail.length).toBeLessThan(whole.length);
    }
  });
});

describe('a restored run goes on as the saving run: vpio, RTL8139, two senders, mid-handoff', () => {
  const args = [G + 'udp-tx.elf', G + 'udp-tx.elf', '--mode', 'vpio', '--nic', 'rtl8139', ...COMMON];
  test('while a guest waits for the card (a handoff pending) and while the card is being handed over', () => {
    const trace = at('handoff.trace');
    const ref = runCli(['run', ...args, '--pcap', at('handoff.pcap'), '--trace', 'vpio', '--trace-out', trace]);
    const lines = fs.readFileSync(trace, 'utf8').split('\n');
    // "N vmX vpio stall ...: handoff pending": the guest waits from N on until the next handoff.
    const pending = lines.map((l) => /^(\d+) vm\d vpio stall .*handoff pending/.exec(l)).filter((m) => m !== null).map((m) => Number(m![1]) + 1000);
    // "N vpio handoff vmA -> vmB (C cycles, ...)": the switch costs C cycles from N.
    const during = lines.map((l) => /^(\d+) vpio handoff vm\d -> vm\d \((\d+) cycles/.exec(l)).filter((m) => m !== null).map((m) => Number(m![1]) + Number(m![2]) / 2);
    expect(pending.length).toBeGreaterThan(2);
    expect(during.length).toBeGreaterThan(2);
    const points = [pending[1], during[2], pending[pending.length - 1]].map(Math.floor);
    for (let i = 0; i < points.length; i++) {
      const file = at(`handoff-${i}.snap`);
      runCli(['run', ...args, '--save-at', `${points[i]}:${file}`]);
      const restored = runCli(['run', ...args, '--restore', file, '--pcap', at(`handoff-r${i}.pcap`)]);
      if (restored.status !== ref.status) throw new Error(restored.stderr);
      expect(ref.stdout.toString('latin1').endsWith(restored.stdout.toString('latin1'))).toBe(true);
      expect(restored.stderr).toBe(ref.stderr);
      const tail = frames(at(`handoff-r${i}.pcap`)), whole = frames(at('handoff.pcap'));
      expect(tail.length).toBeGreaterThan(0);
      expect(whole.subarray(whole.length - tail.length).equals(tail)).toBe(true);
    }
  });
});

describe('snapshot files refused', () => {
  const args = [G + 'udp-tx.elf', '--nic', 'rtl8139', '--peer', 'sink', '--max-cycles', '2e8'];
  const good = at('good.snap');
  beforeAll(() => {
    const r = runCli(['run', ...args, '--save-at', `5e7:${good}`]);
    expect(fs.existsSync(good)).toBe(true);
    expect(r.stderr).not.toMatch(/nothing saved/);
  });

  const refused = (file: string, message: RegExp, extra: string[] = []) => {
    const pcap = at('refused.pcap');
    const r = runCli(['run', ...args, '--restore', file, '--pcap', pcap, ...extra]);
    expect(r.status).toBe(2);
    expect(r.stdout.length).toBe(0); // no guest ran
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(fs.existsSync(pcap)).toBe(false); // nothing written
  };

  test('truncated', () => {
    const b = fs.readFileSync(good);
    fs.writeFileSync(at('cut.snap'), b.subarray(0, b.length >> 1));
    refused(at('cut.snap'), /cut\.snap: damaged or truncated: its checksum does not match/);
    fs.writeFileSync(at('tiny.snap'), b.subarray(0, 20));
    refused(at('tiny.snap'), /truncated/);
  });

  test('a byte changed', () => {
    const b = Buffer.from(fs.readFileSync(good));
    b[b.length - 100] ^= 1;
    fs.writeFileSync(at('flipped.snap'), b);
    refused(at('flipped.snap'), /damaged or truncated/);
  });

  test('another format version', () => {
    const b = Buffer.from(fs.readFileSync(good));
    b.writeUInt32LE(b.readUInt32LE(8) + 1, 8);
    fs.writeFileSync(at('future.snap'), b);
    refused(at('future.snap'), /a snapshot of format version \d+; this vpio reads version \d+ only/);
  });

  test('not a snapshot at all: a kernel', () => {
    refused(G + 'hello.elf', /not a vpio snapshot/);
  });

  test('another machine: the options that differ are named', () => {
    refused(good, /saved from another machine; .*memory: saved with 67108864, given 33554432/, ['--memory', '32M']);
    const r = runCli(['run', G + 'udp-rx.elf', ...args.slice(1), '--restore', good]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/kernel: saved with a file of SHA-256 [0-9a-f]{12}\.\.\., given a file of SHA-256/);
  });

  test('save points the run cannot reach, or that are before the restored one', () => {
    let r = runCli(['run', ...args, '--save-at', `3e8:${at('late.snap')}`]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--save-at 3e8:.* is past --max-cycles/);
    r = runCli(['run', ...args, '--restore', good, '--save-at', `1e7:${at('early.snap')}`]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is not after the cycle .* was saved at/);
    r = runCli(['run', ...args, '--save-at', `nonsense:${at('x.snap')}`]);
    expect(r.status).toBe(2);
    r = runCli(['run', ...args, '--save-at', at('x.snap')]);
    expect(r.stderr).toMatch(/give CYCLE:FILE/);
    // A guest that ends before the point: nothing is saved, and the run's status stands.
    r = runCli(['run', G + 'hello.elf', '--save-at', `1e9:${at('never.snap')}`]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the guests ended at cycle \d+, before it; nothing saved/);
    expect(fs.existsSync(at('never.snap'))).toBe(false);
  });
});
