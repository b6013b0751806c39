/**
 * Debian 12's 686 kernel, unmodified, on the bare machine: it finds the x87 (no math
 * emulation in it), the ACPI tables and the cards' interrupts by itself, loads Linux's
 * own ne2k-pci and 8139too from the initramfs, talks to the peers, and `poweroff -f`
 * ends the run with status 0 (as qemu-system-i386 -no-reboot). What /init prints is
 * compared with the same kernel and initramfs under qemu-system-i386 where it is installed.
 */
import { spawnSync } from 'child_process';
import { ROOT, ensureBuilt, runCli, describeIf, have } from './support';
import { LINUX_CACHED, LINUX_SKIP, linuxGuest, initLines } from './linux-guest';

const APPEND_NE = 'console=ttyS0 vpio_driver=ne2k-pci vpio_work=ping,tx vpio_count=50';

describeIf(LINUX_CACHED, LINUX_SKIP)('a stock Linux kernel on the bare machine', () => {
  beforeAll(ensureBuilt);
  let ne: { status: number; out: string; err: string } | null = null;
  const bootNe = () => {
    if (ne === null) {
      const { kernel, initrd } = linuxGuest();
      const r = runCli(['run', kernel, '--initrd', initrd, '--append', APPEND_NE, '--memory', '128M', '--max-cycles', '30e9',
        '--nic', 'ne2000', '--peer', 'echo', '--peer', 'sink'], 600000);
      ne = { status: r.status, out: r.stdout.toString('latin1'), err: r.stderr };
    }
    return ne;
  };

  it('finds the x87 FPU and boots to /init', () => {
    const r = bootNe();
    expect(r.out).toMatch(/x86\/fpu: x87 FPU will use FSAVE/);
    expect(r.out).not.toMatch(/Hmm, FPU with FDIV bug|Giving up, no FPU|unchecked MSR access/);
    expect(r.out).toMatch(/ACPI: RSDP 0x00000000000F59D0/);
    expect(r.out).toMatch(/init: hello from \/init/);
  }, 600000);

  it("ne2k-pci finds the RTL8029 with the card's MAC, pings the echo peer and streams to the sink without a loss", () => {
    const r = bootNe();
    expect(r.out).toMatch(/ne2k-pci 0000:00:03\.0 eth0: RealTek RTL-8029\(AS\) found at 0x[0-9a-f]+, IRQ 11, 52:54:00:12:34:56\./);
    expect(r.out).toMatch(/4 packets transmitted, 4 packets received, 0% packet loss/);
    expect(r.out).toMatch(/vpio-net: tx 50 sent, 0 errors/);
    expect(r.err).toMatch(/sink: 50 datagrams, 51200 bytes, 0 lost, 0 out of order, 0 duplicate, 0 bad checksums/);
  }, 600000);

  it('poweroff -f ends the run with status 0', () => {
    const r = bootNe();
    expect(r.out).toMatch(/init: done/);
    expect(r.out).toMatch(/reboot: Power down/);
    expect(r.status).toBe(0);
  }, 600000);

  it('8139too drives the RTL8139 through BAR1 (its default) and through ports (use_io=1)', () => {
    const { kernel, initrd } = linuxGuest();
    for (const io of [0, 1]) {
      const r = runCli(['run', kernel, '--initrd', initrd, '--append', `console=ttyS0 quiet vpio_driver=8139too vpio_io=${io} vpio_work=ping`,
        '--memory', '128M', '--max-cycles', '30e9', '--nic', 'rtl8139', '--peer', 'echo'], 600000);
      const out = r.stdout.toString('latin1');
      expect(out).toMatch(/init: eth0 52:54:00:12:34:56 10\.0\.2\.15/);
      expect(out).toMatch(/4 packets transmitted, 4 packets received, 0% packet loss/);
      expect(r.status).toBe(0);
    }
  }, 900000);

  describeIf(have('qemu-system-i386', '--version'), 'qemu-system-i386 is not installed (.ci/run installs qemu-system-x86)')('against qemu-system-i386', () => {
    it('/init and its workloads print the same lines (ne2k-pci: ping and a UDP stream over user networking)', () => {
      const { kernel, initrd } = linuxGuest();
      const q = spawnSync('qemu-system-i386', ['-kernel', kernel, '-initrd', initrd, '-append', APPEND_NE, '-nographic', '-no-reboot', '-m', '128',
        '-vga', 'none', '-device', 'ne2k_pci,netdev=n,mac=52:54:00:12:34:56', '-netdev', 'user,id=n'], { cwd: ROOT, timeout: 300000, maxBuffer: 64 << 20 });
      const reference = initLines(q.stdout.toString('latin1'));
      expect(reference).toContain('init: done');
      expect(initLines(bootNe().out)).toEqual(reference);
    }, 900000);
  });
});
