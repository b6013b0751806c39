/**
 * `--mode vpio` end to end through the command line: the unmodified network guests
 * alone on each card and sharing one, their results checked against the peers on the
 * wire; the monitor's report and its --trace vpio lines.
 */
import { ensureBuilt, runCli } from './support';

beforeAll(ensureBuilt);

describe('one guest under vpio, with each card', () => {
  for (const nic of ['ne2000', 'ne2000-isa', 'rtl8139']) {
    it(`${nic}: ping, udp-tx and udp-rx give the native results, with few exits`, () => {
      const ping = runCli(['run', 'guests/bin/ping.elf', '--mode', 'vpio', '--nic', nic, '--peer', 'echo', '--max-cycles', '20000000000']);
      expect(ping.stdout.toString()).toMatch(/ping: 4 sent, 4 received/);
      expect(ping.status).toBe(1);
      expect(ping.stderr).toMatch(/vpio: 1 handoffs .* 0 refused, 0 DMA outside the owner refused by the port/);

      const tx = runCli(['run', 'guests/bin/udp-tx.elf', '--mode', 'vpio', '--nic', nic, '--peer', 'sink', '--cmdline', 'count=60 size=1000', '--max-cycles', '40000000000']);
      expect(tx.stdout.toString()).toMatch(/udp-tx: 60 datagrams of 1000 bytes, 0 errors/);
      expect(tx.stderr).toMatch(/sink: 60 datagrams, 60000 bytes, 0 lost, 0 out of order, 0 duplicate, 0 bad checksums/);
      // The driver's data moves straight to the card: most accesses do not exit.
      const hooked = Number(/hooked ([\d.]+)% of card accesses/.exec(tx.stderr)![1]);
      expect(hooked).toBeLessThan(nic === 'rtl8139' ? 50 : 10);

      const rx = runCli(['run', 'guests/bin/udp-rx.elf', '--mode', 'vpio', '--nic', nic, '--peer', 'source,rate=1000,size=700,count=60', '--cmdline', 'count=60', '--max-cycles', '40000000000']);
      expect(rx.stdout.toString()).toMatch(/udp-rx: 60 datagrams, 42000 bytes, 0 lost/);
      expect(rx.status).toBe(1);
    }, 120000);
  }
});

describe('guests sharing one card under vpio', () => {
  for (const [n, nic] of [[2, 'ne2000'], [4, 'rtl8139']] as const) {
    it(`${n} ping guests on one ${nic} all reach the echo peer, with the handoffs counted`, () => {
      const r = runCli(['run', ...new Array(n).fill('guests/bin/ping.elf'), '--mode', 'vpio', '--nic', nic, '--peer', 'echo', '--max-cycles', '40000000000']);
      const out = r.stdout.toString();
      for (let i = 0; i < n; i++) expect(out).toMatch(new RegExp(`^vm${i}\\| ping: 4 sent, 4 received`, 'm'));
      expect(r.status).toBe(1);
      const handoffs = Number(/vpio: (\d+) handoffs/.exec(r.stderr)![1]);
      expect(handoffs).toBeGreaterThanOrEqual(n);
      expect(r.stderr).toMatch(/0 refused, 0 DMA outside the owner/);
    }, 120000);
  }

  for (const [n, nic] of [[2, 'ne2000'], [4, 'rtl8139']] as const) {
    it(`${n} udp-tx guests on one ${nic}: every datagram of every guest arrives, the card shared fairly`, () => {
      const r = runCli(['run', ...new Array(n).fill('guests/bin/udp-tx.elf'), '--mode', 'vpio', '--nic', nic, '--peer', 'sink', '--cmdline', 'count=100 size=1000', '--max-cycles', '60000000000'], 180000);
      const out = r.stdout.toString();
      const rates: number[] = [];
      for (let i = 0; i < n; i++) {
        const m = new RegExp(`^vm${i}\\| udp-tx: 100 datagrams of 1000 bytes, 0 errors, \\d+ us, (\\d+) datagrams/s`, 'm').exec(out);
        expect(m).not.toBeNull();
        rates.push(Number(m![1]));
      }
      // The sink sees each guest's sequence 0..99: 100 distinct, the rest repeats of them, none damaged.
      expect(r.stderr).toMatch(new RegExp(`sink: 100 datagrams, 100000 bytes, 0 lost, 0 out of order, ${(n - 1) * 100} duplicate, 0 bad checksums`));
      expect(Math.max(...rates) / Math.min(...rates)).toBeLessThan(2);
      expect(r.status).toBe(1);
    }, 180000);
  }

  it('--trace vpio shows handoffs, waits and model transitions, one line each', () => {
    const r = runCli(['run', 'guests/bin/ping.elf', 'guests/bin/ping.elf', '--mode', 'vpio', '--nic', 'ne2000', '--peer', 'echo', '--trace', 'vpio', '--max-cycles', '40000000000']);
    const lines = r.stderr.split('\n').filter((l) => / vpio /.test(l));
    expect(lines.some((l) => /^\d+ vpio handoff nobody -> vm0 /.test(l))).toBe(true);
    expect(lines.some((l) => /^\d+ vm1 vpio waits for the card \(vm0 owns it\)$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\d+ vm\d vpio page 0 -> 1$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\d+ vm\d vpio policy changed: \d+ of 32 registers hooked$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\d+ vm\d vpio tx go: \d+ bytes from page 0x4[06]$/.test(l))).toBe(true);
  });
});
