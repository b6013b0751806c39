/**
 * The hostile guest (guests/programs/hostile.c) beside a victim, in each mode: under
 * passthrough its DMA reaches the other guest's memory (and the run says so); under
 * vpio the monitor refuses it by rule and the victim's traffic is untouched; under
 * virtual its own emulated card confines it. The victim's results come from the peers.
 */
import { ensureBuilt, runCli } from './support';

beforeAll(ensureBuilt);

const run = (mode: string, nic: string, attack: string, victim: string[], peers: string[]) =>
  runCli(['run', 'guests/bin/hostile.elf', victim[0], '--mode', mode, '--nic', nic, '--memory', '16M', '--cmdline', attack, '--cmdline', victim[1],
    ...peers.flatMap((p) => ['--peer', p]), ...(mode === 'passthrough' ? ['--nic-vms', '0'] : []), '--max-cycles', '40000000000'], 180000);

const PING = ['guests/bin/ping.elf', ''];
const UDP_TX = ['guests/bin/udp-tx.elf', 'count=200 size=500'];
const SINK_OK = /sink: 200 datagrams, 100000 bytes, 0 lost, 0 out of order, 0 duplicate, 0 bad checksums/;

describe('RTL8139 DMA pointed at another guest', () => {
  for (const [attack, direction] of [['rbstart', 'write'], ['tsad', 'read']] as const) {
    it(`${attack}: passthrough lets it through and reports it`, () => {
      const r = run('passthrough', 'rtl8139', `attack=${attack}`, PING, ['echo', 'source,rate=200,count=5']);
      expect(r.stderr).toMatch(new RegExp(`passthrough: vm0's card made \\d+ DMA access(es)? outside its memory \\(first: ${direction} of \\d+ bytes at host-physical 0x1000000`));
    });

    it(`${attack}: vpio refuses it, and the victim's pings all come back`, () => {
      const r = run('vpio', 'rtl8139', `attack=${attack}`, PING, ['echo', 'source,rate=200,count=5']);
      expect(r.stdout.toString()).toMatch(/^vm1\| ping: 4 sent, 4 received/m);
      expect(r.stderr).toMatch(new RegExp(`refused: vm0 cycle \\d+ port 0xc0[13]\\w value 0x\\w+ rule ${attack === 'rbstart' ? 'rbstart-outside' : 'tsad-outside'}`));
      expect(r.stderr).toMatch(/0 DMA outside the owner refused by the port/);
      expect(r.stderr).not.toMatch(/passthrough: vm0's card made/);
    });

    it(`${attack}: virtual mode confines it to the guest's own emulated card`, () => {
      const r = run('virtual', 'rtl8139', `attack=${attack}`, PING, ['echo', 'source,rate=200,count=5']);
      expect(r.stdout.toString()).toMatch(/^vm1\| ping: 4 sent, 4 received/m);
      expect(r.stderr).not.toMatch(/outside its memory/);
    });
  }
});

describe('NE2000 programming that reaches past the card', () => {
  for (const [attack, rule] of [['remote', /rule remote-outside: remote read of 4096 bytes at 0x7800/], ['ring', /rule ring-outside: ring PSTART=0x10 PSTOP=0xc0/]] as const) {
    it(`${attack}: vpio refuses it and the victim's stream is whole`, () => {
      const r = run('vpio', 'ne2000', `attack=${attack} delay=20000000 spin=3000000`, UDP_TX, ['sink']);
      expect(r.stderr).toMatch(rule);
      expect(r.stderr).toMatch(SINK_OK);
    });
  }
  it('remote: the data port gives back nothing of anyone\'s under vpio (the refused read never started)', () => {
    const r = run('vpio', 'ne2000', 'attack=remote spin=3000000', UDP_TX, ['sink']);
    expect(r.stdout.toString()).toMatch(/^vm0\| hostile: remote read sum 0x7fff800,/m); // 2048 reads of 0xffff: open bus
  });
});

describe('a guest that resets, abandons or floods the card while the victim streams', () => {
  for (const nic of ['ne2000', 'rtl8139']) {
    for (const attack of ['reset', 'flood', ...(nic === 'ne2000' ? ['midxfer'] : [])]) {
      it(`${nic} ${attack}: under vpio the victim's stream arrives whole`, () => {
        const r = run('vpio', nic, `attack=${attack} delay=20000000 spin=3000000`, UDP_TX, ['sink']);
        expect(r.stdout.toString()).toMatch(/^vm0\| hostile: /m);
        expect(r.stderr).toMatch(SINK_OK);
        expect(r.stderr).toMatch(/0 DMA outside the owner refused by the port/);
        expect(Number(/vpio: (\d+) handoffs/.exec(r.stderr)![1])).toBeGreaterThanOrEqual(2);
      });
    }
  }
});

describe('a guest that attacks its own APICs (--apic)', () => {
  it('survives natively: random values in every register, broadcast NMI and INIT, an illegal error vector, a fast periodic timer', () => {
    const r = runCli(['run', 'guests/bin/hostile.elf', '--cmdline', 'attack=apic spin=3000000', '--apic', '--memory', '16M', '--max-cycles', '40000000000'], 180000);
    expect(r.stdout.toString()).toMatch(/^hostile: apic: 20000 random writes, .* version 0x40011, ESR 0xe0$/m);
    expect(r.status).toBe(1); // isa-debug-exit with 0: it ran to its end
  });

  it('under vpio, beside a victim streaming on the shared card: the victim\'s stream is whole (each VM\'s APICs are its own)', () => {
    const r = runCli(['run', 'guests/bin/hostile.elf', UDP_TX[0], '--mode', 'vpio', '--nic', 'rtl8139', '--memory', '16M', '--cmdline', 'attack=apic spin=3000000',
      '--cmdline', UDP_TX[1], '--peer', 'sink', '--apic', '--max-cycles', '40000000000'], 180000);
    expect(r.stdout.toString()).toMatch(/^vm0\| hostile: apic: 20000 random writes, .* ESR 0xe0$/m);
    expect(r.stderr).toMatch(SINK_OK);
    expect(r.stderr).not.toMatch(/internal error/);
  });
});
