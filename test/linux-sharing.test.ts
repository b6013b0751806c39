/**
 * Two Linux guests (Debian's kernel, Linux's own drivers) sharing one card under VPIO,
 * on each card: each with its own MAC, both streaming to the sink at once (and pinging
 * on the NE2000), nothing lost, nothing refused, no transmit timeout, and no handoff
 * holding a guest anywhere near its driver's watchdog.
 */
import { ensureBuilt, runCli, describeIf } from './support';
import { LINUX_CACHED, LINUX_SKIP, linuxGuest, initLines } from './linux-guest';

describeIf(LINUX_CACHED, LINUX_SKIP)('two Linux guests sharing one card under vpio', () => {
  beforeAll(ensureBuilt);

  it('vpio: two Linux guests share one RTL8139; both streams arrive whole and nothing is refused', () => {
    const { kernel, initrd } = linuxGuest();
    const work = 'console=ttyS0 quiet vpio_driver=8139too vpio_work=tx vpio_count=100';
    const r = runCli(['run', kernel, kernel, '--initrd', initrd, '--append', `${work} vpio_ip=10.0.2.15`, '--append', `${work} vpio_ip=10.0.2.16`,
      '--memory', '128M', '--max-cycles', '60e9', '--nic', 'rtl8139', '--peer', 'sink', '--mode', 'vpio'], 900000);
    const out = r.stdout.toString('latin1');
    expect(out).toMatch(/vm0\| init: eth0 52:54:00:12:34:56 10\.0\.2\.15/);
    expect(out).toMatch(/vm1\| init: eth0 52:54:00:12:34:57 10\.0\.2\.16/);
    expect(initLines(out).filter((l) => l === 'vpio-net: tx 100 sent, 0 errors')).toHaveLength(2);
    expect(out).not.toMatch(/transmit queue \d+ timed out|Transmit timeout/);
    // 8139too resets the card after 6 s without a completed transmit: no handoff may hold a guest near that.
    for (const m of r.stderr.matchAll(/longest wait (\d+) cycles/g)) expect(Number(m[1])).toBeLessThan(6 * 2e9);
    expect(r.stderr).toMatch(/sink: 200 datagrams from 2 senders, 204800 bytes, 0 lost, 0 out of order, 0 duplicate/);
    expect(r.stderr).toMatch(/ 0 refused, 0 DMA outside the owner refused/);
    expect(r.stderr).toMatch(/vm0: .* refused 0 sent with another's address/);
    // 8139too's default is BAR1: every access to the register page exits, and the summary says so.
    expect(r.stderr).toMatch(/vm0: \d+ hooked, (\d+) direct \(\1 of them exits through the register page's trap\)/);
    expect(r.status).toBe(0);
  }, 900000);

  it('vpio: two Linux guests share one NE2000 (ne2k-pci), each pinging and streaming; no transmit timeout, nothing refused', () => {
    const { kernel, initrd } = linuxGuest();
    const work = 'console=ttyS0 quiet vpio_driver=ne2k-pci vpio_work=ping,tx vpio_count=40';
    const r = runCli(['run', kernel, kernel, '--initrd', initrd, '--append', `${work} vpio_ip=10.0.2.15`, '--append', `${work} vpio_ip=10.0.2.16`,
      '--memory', '128M', '--max-cycles', '60e9', '--nic', 'ne2000', '--peer', 'echo', '--peer', 'sink', '--mode', 'vpio'], 900000);
    const out = r.stdout.toString('latin1');
    expect(out).toMatch(/vm0\| init: eth0 52:54:00:12:34:56 10\.0\.2\.15/);
    expect(out).toMatch(/vm1\| init: eth0 52:54:00:12:34:57 10\.0\.2\.16/);
    expect(out.match(/^vm[01]\| 4 packets transmitted, 4 packets received, 0% packet loss/gm)).toHaveLength(2);
    expect(out).not.toMatch(/transmit queue \d+ timed out|timeout waiting for Tx RDC/);
    expect(r.stderr).toMatch(/sink: 80 datagrams from 2 senders, 81920 bytes, 0 lost, 0 out of order, 0 duplicate/);
    expect(r.stderr).toMatch(/ 0 refused, 0 DMA outside the owner refused/);
    // 8390's transmit watchdog is 2 s (TX_TIMEOUT): no guest may wait that long for the card.
    for (const m of r.stderr.matchAll(/longest wait (\d+) cycles/g)) expect(Number(m[1])).toBeLessThan(2 * 2e9);
    expect(r.status).toBe(0);
  }, 900000);
});
