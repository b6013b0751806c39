/**
 * Debian 12's 686-pae kernel, Debian's default i386 flavour, which turns PAE paging on
 * in its first instructions (a CPU without PAE never gets it to print a line): on the
 * bare machine it boots, its own 8139too (built for it, in an initramfs of its own)
 * drives the RTL8139 through BAR1 with bus-master DMA to addresses its PAE page tables
 * hand out, pings the echo peer and streams to the sink, and `poweroff -f` ends the run
 * with status 0. Where qemu-system-i386 is installed, the kernel finds what it finds
 * there (whose Pentium II has PAE and, as here, no NX). The paging itself is checked by
 * the SDM in cpu/pae.test.ts; this is the stock kernel that needs it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ROOT, ensureBuilt, runCli, describeIf, have } from './support';
import { LINUX_CACHED, LINUX_PAE_CACHED, LINUX_SKIP, LINUX_PAE_SKIP, linuxGuest, initLines } from './linux-guest';
import { tempDir } from './tmp';

const tmp = tempDir('vpio-linux-pae-');

/** The console lines that say what the kernel found, timestamps dropped. */
function findings(out: string): Record<string, string[]> {
  const lines = out.split(/\r?\n/).map((l) => l.replace(/^\[ *[0-9.]+\] /, ''));
  const pick = (re: RegExp): string[] => lines.filter((l) => re.test(l));
  return { banner: pick(/^Linux version /), e820: pick(/^BIOS-e820: /), memory: pick(/^Memory: /), nx: pick(/NX \(Execute Disable\)/) };
}

describeIf(LINUX_CACHED && LINUX_PAE_CACHED, LINUX_CACHED ? LINUX_PAE_SKIP : LINUX_SKIP)('Debian\'s 686-pae kernel (PAE paging) on the bare machine', () => {
  beforeAll(ensureBuilt);
  let ours: { status: number; out: string; err: string } | null = null;
  const boot = (): { status: number; out: string; err: string } => {
    if (ours === null) {
      const { kernelPae, initrdPae } = linuxGuest();
      const r = runCli(['run', kernelPae!, '--initrd', initrdPae!, '--append', 'console=ttyS0 vpio_driver=8139too vpio_work=ping,tx vpio_count=50',
        '--memory', '128M', '--max-cycles', '30e9', '--nic', 'rtl8139', '--peer', 'echo', '--peer', 'sink'], 600000);
      ours = { status: r.status, out: r.stdout.toString('latin1'), err: r.stderr };
    }
    return ours;
  };

  it('boots, 8139too pings the echo peer and streams to the sink through BAR1, and it powers off with status 0', () => {
    const r = boot();
    const f = findings(r.out);
    expect(f.banner[0]).toMatch(/^Linux version 6\.1\.0-\d+-686-pae /);
    expect(f.nx).toEqual(['Notice: NX (Execute Disable) protection missing in CPU!']);
    expect(initLines(r.out)).toEqual(['init: hello from /init', 'init: eth0 52:54:00:12:34:56 10.0.2.15', '4 packets transmitted, 4 packets received, 0% packet loss',
      'init: ping status 0', 'vpio-net: tx 50 sent, 0 errors', 'init: tx status 0', 'init: done']);
    // The sink's own count: every datagram, whole and in order.
    expect(r.err).toMatch(/vpio: sink: 50 datagrams, 51200 bytes, 0 lost, 0 out of order, 0 duplicate, 0 bad checksums/);
    expect(r.out).toMatch(/reboot: Power down/);
    expect(r.status).toBe(0);
  }, 900000);

  describeIf(have('qemu-system-i386', '--version'), 'qemu-system-i386 is not installed (.ci/run installs qemu-system-x86)')('against qemu-system-i386', () => {
    it('finds what it finds under QEMU: banner, E820 map, memory, no NX, and reaches /init', () => {
      const { kernelPae, initrd } = linuxGuest();
      const serial = path.join(tmp, 'qemu-serial');
      const q = spawnSync('qemu-system-i386', ['-kernel', kernelPae!, '-initrd', initrd, '-append', 'console=ttyS0', '-display', 'none', '-monitor', 'none',
        '-serial', `file:${serial}`, '-no-reboot', '-m', '128', '-vga', 'none', '-cpu', 'pentium2', '-nic', 'none'], { cwd: ROOT, timeout: 300000, maxBuffer: 64 << 20 });
      expect(q.status).toBe(0);
      const theirsOut = fs.readFileSync(serial, 'latin1');
      const mine = findings(boot().out), theirs = findings(theirsOut);
      expect(mine.banner).toEqual(theirs.banner);
      expect(mine.e820).toEqual(theirs.e820);
      expect(mine.nx).toEqual(theirs.nx);
      // The same RAM; the free figure within 64K, as for the 686 kernel (test/linux-native.test.ts says why).
      const mem = (l: string[]): number[] => /^Memory: (\d+)K\/(\d+)K available/.exec(l[0] ?? '')!.slice(1).map(Number);
      const [myFree, myTotal] = mem(mine.memory), [theirFree, theirTotal] = mem(theirs.memory);
      expect(myTotal).toBe(theirTotal);
      expect(Math.abs(myFree - theirFree)).toBeLessThanOrEqual(64);
      // QEMU's run has no card (its rtl8139 is a C+, which 8139too declines): /init's first line only.
      expect(initLines(theirsOut)[0]).toBe(initLines(boot().out)[0]);
    }, 900000);
  });
});
