/**
 * The same Debian kernel and Linux's own drivers under the hypervisor, each card in
 * `passthrough` (ports or BAR1 pages direct) and `virtual` (the VM's own emulated card,
 * the hypervisor's driver and switch), and a Linux guest beside our hostile guest under
 * VPIO. Two Linux guests sharing a card: linux-sharing.test.ts; one guest under vpio,
 * with the figures, in `vpio bench --linux`.
 */
import { ensureBuilt, runCli, describeIf } from './support';
import { LINUX_CACHED, LINUX_SKIP, linuxGuest } from './linux-guest';

describeIf(LINUX_CACHED, LINUX_SKIP)('a stock Linux kernel under the hypervisor', () => {
  beforeAll(ensureBuilt);

  // Each card in each of the two modes: the echo peer's replies and the sink's count.
  for (const [mode, driver, nic, how] of [
    ['passthrough', 'ne2k-pci', 'ne2000', 'through the card it owns, its ports direct'],
    ['passthrough', '8139too', 'rtl8139', 'through its BAR1 page, mapped direct'],
    ['virtual', 'ne2k-pci', 'ne2000', 'on the VM\'s own emulated NE2000, through the switch'],
    ['virtual', '8139too', 'rtl8139', 'on the VM\'s own emulated RTL8139 (BAR1), through the switch'],
  ] as const) {
    it(`${mode}: ${driver} pings and streams to the sink ${how}`, () => {
      const { kernel, initrd } = linuxGuest();
      const r = runCli(['run', kernel, '--initrd', initrd, '--append', `console=ttyS0 quiet vpio_driver=${driver} vpio_work=ping,tx vpio_count=100`,
        '--memory', '128M', '--max-cycles', '30e9', '--nic', nic, '--peer', 'echo', '--peer', 'sink', '--mode', mode], 600000);
      const out = r.stdout.toString('latin1');
      expect(out).toMatch(/4 packets transmitted, 4 packets received, 0% packet loss/);
      expect(out).toMatch(/vpio-net: tx 100 sent, 0 errors/);
      expect(r.stderr).toMatch(/sink: 100 datagrams, 102400 bytes, 0 lost, 0 out of order, 0 duplicate/);
      expect(r.status).toBe(0);
    }, 600000);
  }

  it('vpio: a Linux guest beside our hostile guest keeps its traffic; the hostile DMA (at 144 MiB: the Linux guest\'s memory) is refused', () => {
    const { kernel, initrd } = linuxGuest();
    const r = runCli(['run', 'guests/bin/hostile.elf', kernel, '--initrd', initrd, '--cmdline', 'attack=tsad target=150994944', '--append', 'console=ttyS0 quiet vpio_driver=8139too vpio_work=ping',
      '--memory', '128M', '--max-cycles', '40e9', '--nic', 'rtl8139', '--peer', 'echo', '--mode', 'vpio'], 900000);
    expect(r.stdout.toString('latin1')).toMatch(/^vm1\| 4 packets transmitted, 4 packets received, 0% packet loss/m);
    expect(r.stderr).toMatch(/refused: vm0 cycle \d+ \w+ 0x\w+ value 0x\w+ rule tsad-outside/);
    expect(r.stderr).toMatch(/0 DMA outside the owner refused by the port/);
  }, 900000);
});
