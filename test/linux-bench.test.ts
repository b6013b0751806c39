/**
 * `vpio bench --linux`: one of the Linux rows run end to end (8139too through BAR1, one
 * guest under vpio), its figures taken over each stream's own window and consistent with
 * each other; and the options' bad usage, refused before anything runs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureBuilt, runCli, describeIf } from './support';
import { LINUX_CACHED, LINUX_SKIP, linuxGuest } from './linux-guest';
import { tempDir } from './tmp';

beforeAll(ensureBuilt);
const tmp = tempDir('vpio-linux-bench-');

type Fig = { id: string; ok: boolean; frames: number; mbps: number; wireShare: number; rttMicros: number | null; cyclesPerFrame: number; guestCyclesPerFrame: number;
  hypervisorCyclesPerFrame: number; cardCyclesPerFrame: number; exitsPerFrame: Record<string, number>; exitsPerFrameTotal: number; hookedFraction: number | null; violations: number };

describeIf(LINUX_CACHED, LINUX_SKIP)('vpio bench --linux', () => {
  it('8139too under vpio: a ping and two streams, each stream measured over its own window', () => {
    const { kernel, initrd } = linuxGuest();
    const json = path.join(tmp, 'linux.json');
    const r = runCli(['bench', '--only', '^linux/rtl8139/vpio$', '--linux', kernel, '--initrd', initrd, '--jobs', '1', '--json', json], 900000);
    expect(r.status).toBe(0);
    const out = r.stdout.toString();
    expect(out).toMatch(/^Linux guest \(Debian's kernel, its own ne2k-pci and 8139too\)/m);
    expect(out).toMatch(/^rtl8139 +64 +[\d.]+ \(\d+%\) [\d,]+ /m);
    expect(out).toMatch(/3 runs, every result right/);
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { results: Fig[]; images: Record<string, string>; options: { linux: boolean } };
    expect(report.options.linux).toBe(true);
    expect(report.images[path.basename(kernel)]).toMatch(/^[0-9a-f]{64}$/);
    const byId = new Map(report.results.map((f) => [f.id, f]));
    expect([...byId.keys()]).toEqual(['linux/ping/rtl8139/vpio', 'linux/udp-tx/rtl8139/vpio/64B', 'linux/udp-tx/rtl8139/vpio/1024B']);
    const ping = byId.get('linux/ping/rtl8139/vpio')!;
    expect(ping.ok).toBe(true);
    expect(ping.frames).toBe(16);
    expect(ping.rttMicros).toBeGreaterThan(0);
    for (const [id, count] of [['linux/udp-tx/rtl8139/vpio/64B', 2000], ['linux/udp-tx/rtl8139/vpio/1024B', 1000]] as const) {
      const f = byId.get(id)!;
      expect(f.ok).toBe(true);
      expect(f.frames).toBe(count);
      expect(f.violations).toBe(0);
      // Within the window: a share of the 100 Mbit/s wire, and the cycles add up.
      expect(f.wireShare).toBeGreaterThan(0.05);
      expect(f.wireShare).toBeLessThanOrEqual(1);
      expect(f.guestCyclesPerFrame + f.hypervisorCyclesPerFrame).toBeLessThanOrEqual(f.cyclesPerFrame * 1.0001);
      expect(f.cardCyclesPerFrame).toBeGreaterThan(0);
      expect(f.cardCyclesPerFrame).toBeLessThan(f.hypervisorCyclesPerFrame);
      // 8139too through BAR1: every write to the register page exits (the page holds TSAD, which
      // the model hooks), but within a stream none of them is for a hooked register: 8139too wrote
      // its four buffer addresses at open, where the model checked them, so each frame's go point
      // (TSD) and interrupt acknowledge (ISR) are passed straight on. Every frame costs its interrupt.
      expect(f.hookedFraction).toBe(0);
      expect(f.exitsPerFrame['io rtl8139 (mmio model)']).toBeGreaterThanOrEqual(1);
      expect(f.exitsPerFrameTotal).toBeGreaterThan(f.exitsPerFrame['io rtl8139 (mmio model)']);
    }
  }, 900000);
});

describeIf(LINUX_CACHED, LINUX_SKIP)('vpio bench --linux --apic', () => {
  it('8139too through ports with the APICs: under vpio the hypervisor spends at least 2x fewer cycles a small frame than under virtual, none of them on the card', () => {
    const { kernel, initrd } = linuxGuest();
    const json = path.join(tmp, 'linux-apic.json');
    const r = runCli(['bench', '--only', '^linux/rtl8139-io\\+apic/(virtual|vpio)$', '--linux', kernel, '--initrd', initrd, '--apic', '--json', json], 900000);
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(/^rtl8139-io\+apic +64 /m);
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { results: Fig[]; options: { apic?: boolean } };
    expect(report.options.apic).toBe(true);
    const byId = new Map(report.results.map((f) => [f.id, f]));
    const vpio = byId.get('linux/udp-tx/rtl8139-io+apic/vpio/64B')!, virtual = byId.get('linux/udp-tx/rtl8139-io+apic/virtual/64B')!;
    expect(vpio.ok && virtual.ok).toBe(true);
    expect(vpio.cardCyclesPerFrame).toBe(0);
    expect(virtual.hypervisorCyclesPerFrame).toBeGreaterThanOrEqual(2 * vpio.hypervisorCyclesPerFrame);
    // One interrupt a frame ends with one EOI: no access to the 8259s in the stream.
    expect(Object.keys(vpio.exitsPerFrame).filter((k) => /pic-(master|slave)/.test(k))).toEqual([]);
    expect(vpio.exitsPerFrame['io lapic']).toBeGreaterThan(0);
  }, 900000);
});

describe('vpio bench --linux refuses bad usage in one line, status 2, before anything runs', () => {
  for (const [what, args, message] of [
    ['--linux without --initrd', ['--linux', 'guests/bin/hello.elf'], /--linux and --initrd go together/],
    ['--apic without --linux', ['--apic'], /--apic is for the Linux rows: give it with --linux and --initrd/],
    ['a Multiboot kernel', ['--linux', 'guests/bin/hello.elf', '--initrd', 'package.json'], /--linux guests\/bin\/hello\.elf is not a Linux bzImage/],
    ['a missing initrd', ['--linux', 'guests/bin/hello.elf', '--initrd', '/nonexistent'], /no such file: \/nonexistent; give the kernel and initramfs node scripts\/linux-guest\.mjs prints/],
  ] as [string, string[], RegExp][]) {
    it(what, () => {
      const r = runCli(['bench', ...args], 60000);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(message)]);
    });
  }
});
