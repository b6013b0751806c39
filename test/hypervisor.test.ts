/**
 * The hypervisor modes end to end, through the command line: the same unmodified guest
 * images as native runs (ping, udp-tx, udp-rx) in passthrough and virtual mode with each
 * card, several guests sharing a card in virtual mode, and the one-line refusals.
 * Expected figures come from the peers on the wire (the sink's count, the echo replies),
 * not from our own reports.
 */
import { ensureBuilt, runCli } from './support';

beforeAll(ensureBuilt);

const MODES = ['passthrough', 'virtual'];
const NICS = ['ne2000', 'ne2000-isa', 'rtl8139'];

describe('one guest in each hypervisor mode, with each card', () => {
  for (const mode of MODES) {
    for (const nic of NICS) {
      it(`${mode} ${nic}: ping, udp-tx and udp-rx give the native results`, () => {
        const ping = runCli(['run', 'guests/bin/ping.elf', '--mode', mode, '--nic', nic, '--peer', 'echo', '--max-cycles', '20000000000']);
        expect(ping.stdout.toString()).toMatch(/ping: 4 sent, 4 received/);
        expect(ping.status).toBe(1);
        expect(ping.stderr).toMatch(new RegExp(`vpio: ${mode}: 1 VM`));

        const tx = runCli(['run', 'guests/bin/udp-tx.elf', '--mode', mode, '--nic', nic, '--peer', 'sink', '--cmdline', 'count=60 size=1000', '--max-cycles', '40000000000']);
        expect(tx.stdout.toString()).toMatch(/udp-tx: 60 datagrams of 1000 bytes, 0 errors/);
        expect(tx.stderr).toMatch(/sink: 60 datagrams, 60000 bytes, 0 lost, 0 out of order, 0 duplicate, 0 bad checksums/);

        const rx = runCli(['run', 'guests/bin/udp-rx.elf', '--mode', mode, '--nic', nic, '--peer', 'source,rate=1000,size=700,count=60', '--cmdline', 'count=60', '--max-cycles', '40000000000']);
        expect(rx.stdout.toString()).toMatch(/udp-rx: 60 datagrams, 42000 bytes, 0 lost/);
        expect(rx.status).toBe(1);
      }, 120000);
    }
  }
});

describe('several guests sharing one card in virtual mode', () => {
  for (const [n, nic] of [[2, 'rtl8139'], [4, 'ne2000'], [4, 'rtl8139']] as const) {
    it(`${n} ping guests on one ${nic} all reach the echo peer`, () => {
      const images = new Array(n).fill('guests/bin/ping.elf');
      const r = runCli(['run', ...images, '--mode', 'virtual', '--nic', nic, '--peer', 'echo', '--max-cycles', '20000000000']);
      const out = r.stdout.toString();
      for (let i = 0; i < n; i++) {
        expect(out).toMatch(new RegExp(`^vm${i}\\| ping: 4 sent, 4 received`, 'm'));
        // Each VM's card has its own MAC: VM i's is the base plus i.
        expect(out).toMatch(new RegExp(`^vm${i}\\| card: .*mac 52:54:00:12:34:${(0x56 + i).toString(16)}`, 'm'));
      }
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`vpio: virtual: ${n} VMs`));
    }, 120000);
  }

  it('prefixes each VM\'s console lines and gives each its own command line', () => {
    const r = runCli(['run', 'guests/bin/hello.elf', 'guests/bin/hello.elf', '--mode', 'virtual', '--cmdline', 'first', '--cmdline', 'second']);
    const out = r.stdout.toString();
    expect(out).toMatch(/^vm0\| command line: 'first'$/m);
    expect(out).toMatch(/^vm1\| command line: 'second'$/m);
    expect(out.split('\n').filter(Boolean).every((l) => /^vm[01]\| /.test(l))).toBe(true);
  });
});

describe('the command line refuses what the host cannot do, in one line with status 2', () => {
  const cases: [string, string[], RegExp][] = [
    ['two guests asking for a passthrough card', ['guests/bin/ping.elf', 'guests/bin/ping.elf', '--mode', 'passthrough', '--nic', 'rtl8139', '--nic-vms', '0,1'], /vm1 asks for the rtl8139 that vm0 already owns by passthrough/],
    ['more VMs than host memory', ['guests/bin/hello.elf', 'guests/bin/hello.elf', 'guests/bin/hello.elf', '--mode', 'virtual', '--memory', '64M', '--host-memory', '128M'], /3 VMs of 64 MiB .* need 193 MiB of host memory; the host has 128 MiB/],
    ['passthrough without a card', ['guests/bin/hello.elf', '--mode', 'passthrough'], /passthrough gives a guest the physical network card; add --nic/],
    ['an unknown mode', ['guests/bin/hello.elf', '--mode', 'fast'], /unknown --mode 'fast'/],
    ['vpio without a card to share', ['guests/bin/hello.elf', '--mode', 'vpio'], /--mode vpio shares the physical network card between guests; add --nic/],
    ['an unknown violation response', ['guests/bin/ping.elf', '--mode', 'vpio', '--nic', 'rtl8139', '--on-violation', 'ignore'], /unknown --on-violation 'ignore'; give block, kill or log/],
    ['a violation response outside vpio', ['guests/bin/ping.elf', '--mode', 'virtual', '--nic', 'rtl8139', '--on-violation', 'kill'], /--on-violation and --card-quantum apply to --mode vpio/],
    ['a card quantum that is not a number', ['guests/bin/ping.elf', '--mode', 'vpio', '--nic', 'rtl8139', '--card-quantum', 'soon'], /bad --card-quantum 'soon'/],
    ['two kernels on the bare machine', ['guests/bin/hello.elf', 'guests/bin/hello.elf'], /native mode runs one guest/],
    ['a quantum in native mode', ['guests/bin/hello.elf', '--quantum', '5000'], /--quantum applies to the hypervisor modes/],
    ['a zero quantum', ['guests/bin/hello.elf', '--mode', 'virtual', '--quantum', '0'], /bad --quantum '0'/],
    ['a tiny quantum', ['guests/bin/hello.elf', '--mode', 'virtual', '--quantum', '10'], /quantum 10 is too short/],
    ['command lines that do not match the kernels', ['guests/bin/hello.elf', 'guests/bin/hello.elf', 'guests/bin/hello.elf', '--mode', 'virtual', '--cmdline', 'a', '--cmdline', 'b'], /2 --cmdline options for 3 kernels/],
    ['a VM number that does not exist', ['guests/bin/hello.elf', '--mode', 'virtual', '--nic', 'ne2000', '--nic-vms', '3'], /bad --nic-vms '3'/],
    ['a bad image among several', ['guests/bin/hello.elf', 'package.json', '--mode', 'virtual'], /package.json: /],
  ];
  for (const [what, args, message] of cases) {
    it(what, () => {
      const r = runCli(['run', ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }
});
