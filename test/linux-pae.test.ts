/**
 * Debian 12's 686-pae kernel, Debian's default i386 flavour, which turns PAE paging on
 * in its first instructions (a CPU without PAE never gets it to print a line): on the
 * bare machine it boots to /init and `poweroff -f` ends the run with status 0, and it
 * finds what it finds under qemu-system-i386 (whose Pentium II has PAE and, as here, no
 * NX) where that is installed. The paging itself is checked by the SDM in
 * cpu/pae.test.ts; this is the stock kernel that needs it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ROOT, ensureBuilt, runCli, describeIf, have } from './support';
import { LINUX_CACHED, LINUX_PAE_CACHED, LINUX_SKIP, LINUX_PAE_SKIP, linuxGuest, initLines } from './linux-guest';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vpio-linux-pae-'));

/** The console lines that say what the kernel found, timestamps dropped. */
function findings(out: string): Record<string, string[]> {
  const lines = out.split(/\r?\n/).map((l) => l.replace(/^\[ *[0-9.]+\] /, ''));
  const pick = (re: RegExp): string[] => lines.filter((l) => re.test(l));
  return { banner: pick(/^Linux version /), e820: pick(/^BIOS-e820: /), memory: pick(/^Memory: /), nx: pick(/NX \(Execute Disable\)/) };
}

describeIf(LINUX_CACHED && LINUX_PAE_CACHED, LINUX_CACHED ? LINUX_PAE_SKIP : LINUX_SKIP)('Debian\'s 686-pae kernel (PAE paging) on the bare machine', () => {
  beforeAll(ensureBuilt);
  let ours: { status: number; out: string } | null = null;
  const boot = (): { status: number; out: string } => {
    if (ours === null) {
      const { kernelPae, initrd } = linuxGuest();
      const r = runCli(['run', kernelPae!, '--initrd', initrd, '--append', 'console=ttyS0', '--memory', '128M', '--max-cycles', '30e9'], 600000);
      ours = { status: r.status, out: r.stdout.toString('latin1') };
    }
    return ours;
  };

  it('boots to /init and powers off with status 0', () => {
    const r = boot();
    const f = findings(r.out);
    expect(f.banner[0]).toMatch(/^Linux version 6\.1\.0-\d+-686-pae /);
    expect(f.nx).toEqual(['Notice: NX (Execute Disable) protection missing in CPU!']);
    expect(initLines(r.out)).toEqual(['init: hello from /init', 'init: done']);
    expect(r.out).toMatch(/reboot: Power down/);
    expect(r.status).toBe(0);
  }, 900000);

  describeIf(have('qemu-system-i386', '--version'), 'qemu-system-i386 is not installed (.ci/run installs qemu-system-x86)')('against qemu-system-i386', () => {
    it('finds what it finds under QEMU: banner, E820 map, memory, no NX, and /init prints the same lines', () => {
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
      expect(initLines(boot().out)).toEqual(initLines(theirsOut));
    }, 900000);
  });
});
