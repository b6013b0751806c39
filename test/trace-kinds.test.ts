/**
 * Every trace line belongs to a kind the user asked for and says whose it is: the
 * card's own remarks are kind nic, the VPIO monitor's guest events carry their VM, and
 * the per-VM figures count frames in vpio mode as in the others.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureBuilt, runCli } from './support';
import { tempDir } from './tmp';

beforeAll(ensureBuilt);
const tmp = tempDir('vpio-kinds-');

// udp-tx on the RTL8139 queues descriptors behind one on the wire: the card remarks on it.
const SHARED = ['run', 'guests/bin/udp-tx.elf', 'guests/bin/udp-tx.elf', '--mode', 'vpio', '--nic', 'rtl8139', '--peer', 'sink', '--cmdline', 'count=40 size=1000', '--max-cycles', '20000000000'];

describe('trace kinds', () => {
  it('--trace cpu gives instruction lines and nothing else', () => {
    const out = path.join(tmp, 'cpu.txt');
    runCli([...SHARED, '--trace', 'cpu', '--trace-out', out], 300000);
    const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(1000);
    const others = lines.filter((l) => !/^\d+ vm\d cpu /.test(l));
    expect(others.slice(0, 5)).toEqual([]);
  });

  it('--trace nic,vpio as JSON: every line is of one of the two kinds, and every guest event names its VM', () => {
    const out = path.join(tmp, 'kinds.json');
    runCli([...SHARED, '--trace', 'nic,vpio', '--trace-format', 'json', '--trace-out', out], 300000);
    const events = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { cycle: number; vm: number | null; kind: string; event: string });
    expect(events.length).toBeGreaterThan(10);
    expect([...new Set(events.map((e) => e.kind))].sort()).toEqual(['nic', 'vpio']);
    // The card's remarks are the VM's that drives it.
    const nic = events.filter((e) => e.kind === 'nic');
    expect(nic.some((e) => /^rtl8139: TSD\d started while TSD\d transmits/.test(e.event))).toBe(true);
    expect(nic.every((e) => e.vm === 0 || e.vm === 1)).toBe(true);
    // The monitor's own (handoffs, DMA refused by the port) are the machine's; everything else is a guest's.
    for (const e of events.filter((x) => x.kind === 'vpio')) {
      if (/^(handoff|dma) /.test(e.event)) expect(e.vm).toBeNull();
      else expect(e.vm === 0 || e.vm === 1).toBe(true);
    }
  });
});

it('the per-VM figures count the frames of each guest under vpio', () => {
  const r = runCli([...SHARED], 300000);
  // 40 datagrams and an ARP request out, the ARP reply in, for each guest.
  expect(r.stderr).toMatch(/^vm0: .*; nic 41 frames out, 1 in$/m);
  expect(r.stderr).toMatch(/^vm1: .*; nic 41 frames out, 1 in$/m);
});
