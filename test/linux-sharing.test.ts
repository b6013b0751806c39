/**
 * Two Linux guests (Debian's kernel, Linux's own drivers) sharing one card under VPIO,
 * on each card: each with its own MAC, both streaming to the sink at once (and pinging
 * on the NE2000), nothing lost, nothing refused, no transmit timeout, no handoff
 * holding a guest anywhere near its driver's watchdog, and each guest given only its
 * own unicast although its card is promiscuous.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureBuilt, runCli, describeIf, readPcap } from './support';
import { LINUX_CACHED, LINUX_SKIP, linuxGuest, initLines } from './linux-guest';
import { tempDir } from './tmp';

const tmp = tempDir('vpio-linux-sharing-');
const MACS = ['525400123456', '525400123457'];

/**
 * Each guest, with eth0 promiscuous (vpio_promisc=1), received exactly the frames the
 * peers sent to its MAC or to everyone: none of the other guest's unicast, which a
 * promiscuous card would take if the monitor gave it. (A frame one guest sends is not
 * given to the other: two guests on one card are one station on the wire.)
 */
function expectOwnUnicastOnly(out: string, pcap: string): void {
  const fromPeers = readPcap(pcap).filter((f) => !MACS.includes(f.subarray(6, 12).toString('hex')));
  const to = (mac: string) => fromPeers.filter((f) => f.subarray(0, 6).toString('hex') === mac).length;
  const broadcast = to('ffffffffffff');
  MACS.forEach((mac, i) => {
    const m = new RegExp(`^vm${i}\\| init: eth0 received (\\d+) frames`, 'm').exec(out);
    expect(m).not.toBeNull();
    // The other guest was sent unicast (there was something to leak) ...
    expect(to(MACS[1 - i])).toBeGreaterThan(0);
    // ... and this guest got its own and the broadcasts, nothing else.
    expect(Number(m![1])).toBe(to(mac) + broadcast);
  });
}

describeIf(LINUX_CACHED, LINUX_SKIP)('two Linux guests sharing one card under vpio', () => {
  beforeAll(ensureBuilt);

  it('vpio: two Linux guests share one RTL8139; both streams arrive whole and nothing is refused', () => {
    const { kernel, initrd } = linuxGuest();
    const work = 'console=ttyS0 quiet vpio_driver=8139too vpio_work=tx vpio_count=100 vpio_promisc=1';
    const pcap = path.join(tmp, 'rtl8139.pcap');
    const r = runCli(['run', kernel, kernel, '--initrd', initrd, '--append', `${work} vpio_ip=10.0.2.15`, '--append', `${work} vpio_ip=10.0.2.16`,
      '--memory', '128M', '--max-cycles', '60e9', '--nic', 'rtl8139', '--peer', 'sink', '--mode', 'vpio', '--pcap', pcap], 900000);
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
    // 8139too's default is BAR1, and the summary says which accesses to the register page exited: for vm1,
    // whose addresses the model rewrites, every one (its reads of TSAD and RBSTART must show its own values);
    // for vm0, at host-physical 0, only the writes (TSAD, where the go point is checked, is on the page), its reads going straight on.
    expect(r.stderr).toMatch(/vm1: \d+ hooked, (\d+) direct \(\1 of them exits through the register page's trap\)/);
    const vm0 = /vm0: \d+ hooked, (\d+) direct \((\d+) of them exits through the register page's trap\)/.exec(r.stderr);
    expect(vm0).not.toBeNull();
    expect(Number(vm0![2])).toBeGreaterThan(0);
    expect(Number(vm0![2])).toBeLessThan(Number(vm0![1]));
    expectOwnUnicastOnly(out, pcap);
    expect(r.status).toBe(0);
  }, 900000);

  it('vpio with --apic: two Linux guests, each with its own emulated APICs, share one RTL8139; both streams arrive whole', () => {
    const { kernel, initrd } = linuxGuest();
    const work = 'console=ttyS0 quiet vpio_driver=8139too vpio_work=tx vpio_count=100';
    const r = runCli(['run', kernel, kernel, '--initrd', initrd, '--append', `${work} vpio_ip=10.0.2.15`, '--append', `${work} vpio_ip=10.0.2.16`,
      '--memory', '128M', '--max-cycles', '60e9', '--nic', 'rtl8139', '--peer', 'sink', '--mode', 'vpio', '--apic'], 900000);
    const out = r.stdout.toString('latin1');
    expect(initLines(out).filter((l) => l === 'vpio-net: tx 100 sent, 0 errors')).toHaveLength(2);
    expect(out).not.toMatch(/transmit queue \d+ timed out|Transmit timeout/);
    for (const m of r.stderr.matchAll(/longest wait (\d+) cycles/g)) expect(Number(m[1])).toBeLessThan(6 * 2e9);
    expect(r.stderr).toMatch(/sink: 200 datagrams from 2 senders, 204800 bytes, 0 lost, 0 out of order, 0 duplicate/);
    expect(r.stderr).toMatch(/ 0 refused, 0 DMA outside the owner refused/);
    expect(r.status).toBe(0);
  }, 900000);

  it('vpio: two Linux guests share one NE2000 (ne2k-pci), each pinging and streaming; no transmit timeout, nothing refused', () => {
    const { kernel, initrd } = linuxGuest();
    const work = 'console=ttyS0 quiet vpio_driver=ne2k-pci vpio_work=ping,tx vpio_count=40 vpio_promisc=1';
    const pcap = path.join(tmp, 'ne2000.pcap');
    const r = runCli(['run', kernel, kernel, '--initrd', initrd, '--append', `${work} vpio_ip=10.0.2.15`, '--append', `${work} vpio_ip=10.0.2.16`,
      '--memory', '128M', '--max-cycles', '60e9', '--nic', 'ne2000', '--peer', 'echo', '--peer', 'sink', '--mode', 'vpio', '--pcap', pcap], 900000);
    const out = r.stdout.toString('latin1');
    expect(out).toMatch(/vm0\| init: eth0 52:54:00:12:34:56 10\.0\.2\.15/);
    expect(out).toMatch(/vm1\| init: eth0 52:54:00:12:34:57 10\.0\.2\.16/);
    expect(out.match(/^vm[01]\| 4 packets transmitted, 4 packets received, 0% packet loss/gm)).toHaveLength(2);
    expect(out).not.toMatch(/transmit queue \d+ timed out|timeout waiting for Tx RDC/);
    expect(r.stderr).toMatch(/sink: 80 datagrams from 2 senders, 81920 bytes, 0 lost, 0 out of order, 0 duplicate/);
    expect(r.stderr).toMatch(/ 0 refused, 0 DMA outside the owner refused/);
    // 8390's transmit watchdog is 2 s (TX_TIMEOUT): no guest may wait that long for the card.
    for (const m of r.stderr.matchAll(/longest wait (\d+) cycles/g)) expect(Number(m[1])).toBeLessThan(2 * 2e9);
    expectOwnUnicastOnly(out, pcap);
    expect(r.status).toBe(0);
  }, 900000);
});
