/**
 * A guest with its own NE2000 and RTL8139 drivers on the wire: ping reaches the echo
 * peer through each card; tshark decodes the pcap; and, where QEMU is installed, the
 * frames the same guest sends under QEMU (ne2k_pci, ne2k_isa, rtl8139 on the user
 * network, captured with filter-dump) are byte for byte the frames it sends here.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ROOT, ensureBuilt, runCli, have, describeIf, readPcap } from './support';
import { tempDir } from './tmp';

const tmp = tempDir('vpio-net-');
const GUEST_MAC = '525400123456';

function guestFrames(file: string): string[] {
  // What the guest sent (source MAC = the guest's), without the Ethernet padding.
  return readPcap(file).filter((f) => f.subarray(6, 12).toString('hex') === GUEST_MAC).map((f) => {
    const type = f.readUInt16BE(12);
    const len = type === 0x0800 ? 14 + f.readUInt16BE(16) : type === 0x0806 ? 42 : f.length;
    return f.subarray(0, len).toString('hex');
  });
}

beforeAll(ensureBuilt);

describe('ping over each card', () => {
  for (const nic of ['ne2000', 'ne2000-isa', 'rtl8139']) {
    it(`reaches the echo peer through ${nic}`, () => {
      const pcap = path.join(tmp, `${nic}.pcap`);
      const r = runCli(['run', 'guests/bin/ping.elf', '--nic', nic, '--peer', 'echo', '--pcap', pcap, '--max-cycles', '20000000000']);
      const out = r.stdout.toString();
      expect(out).toMatch(/ping: 4 sent, 4 received/);
      expect(r.status).toBe(1);
      // ARP request, then four echo requests; all from the guest's MAC.
      expect(guestFrames(pcap)).toHaveLength(5);
    });
  }

  it('gives the same output and pcap, to the microsecond, with the block translator off', () => {
    const a = path.join(tmp, 'tr.pcap'), b = path.join(tmp, 'interp.pcap');
    const ra = runCli(['run', 'guests/bin/udp-tx.elf', '--nic', 'ne2000', '--peer', 'sink', '--cmdline', 'count=30', '--pcap', a]);
    const rb = runCli(['run', 'guests/bin/udp-tx.elf', '--nic', 'ne2000', '--peer', 'sink', '--cmdline', 'count=30', '--pcap', b, '--no-translate']);
    expect(rb.stdout.equals(ra.stdout)).toBe(true);
    expect(fs.readFileSync(b).equals(fs.readFileSync(a))).toBe(true);
  });

  it('gives the same output, pcap and cycle counts with the translator off for two guests sharing the RTL8139 through BAR1 under vpio', () => {
    // Memory-mapped registers, trapped pages and a handoff: what translated blocks must
    // hand to the interpreter (Cpu.leaveBlock), against the interpreter alone.
    const a = path.join(tmp, 'bar1-tr.pcap'), b = path.join(tmp, 'bar1-interp.pcap');
    const args = ['run', 'guests/bin/udp-tx.elf', 'guests/bin/udp-tx.elf', '--cmdline', 'count=30,mmio=1', '--cmdline', 'count=30,mmio=1',
      '--mode', 'vpio', '--nic', 'rtl8139', '--peer', 'sink', '--stats'];
    const ra = runCli([...args, '--pcap', a]);
    const rb = runCli([...args, '--pcap', b, '--no-translate']);
    expect(ra.stdout.toString()).toMatch(/vm1\| udp-tx: 30 datagrams/);
    expect(rb.stdout.equals(ra.stdout)).toBe(true);
    expect(rb.stderr).toBe(ra.stderr); // the stats: every VM's cycles and exits
    expect(fs.readFileSync(b).equals(fs.readFileSync(a))).toBe(true);
  });

  it('is deterministic: the same run gives the same output and the same pcap', () => {
    const a = path.join(tmp, 'a.pcap'), b = path.join(tmp, 'b.pcap');
    const ra = runCli(['run', 'guests/bin/ping.elf', '--nic', 'ne2000', '--peer', 'echo', '--pcap', a]);
    const rb = runCli(['run', 'guests/bin/ping.elf', '--nic', 'ne2000', '--peer', 'echo', '--pcap', b]);
    expect(rb.stdout.equals(ra.stdout)).toBe(true);
    expect(fs.readFileSync(b).equals(fs.readFileSync(a))).toBe(true);
  });
});

describeIf(have('tshark', '--version'), 'tshark is not installed (.ci/run installs it)')('the ping pcap under tshark', () => {
  it('decodes ARP and ICMP echo with good checksums, replies after requests', () => {
    const pcap = path.join(tmp, 'tshark.pcap');
    runCli(['run', 'guests/bin/ping.elf', '--nic', 'ne2000', '--peer', 'echo', '--pcap', pcap]);
    const r = spawnSync('tshark', ['-r', pcap, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|',
      '-e', 'frame.protocols', '-e', 'ip.checksum.status', '-e', 'icmp.checksum.status', '-e', 'icmp.type', '-e', 'icmp.resp_to'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'));
    expect(rows).toHaveLength(10);
    expect(rows.slice(0, 2).map((x) => x[0])).toEqual(['eth:ethertype:arp', 'eth:ethertype:arp']);
    for (const row of rows.slice(2)) {
      expect(row[0]).toBe('eth:ethertype:ip:icmp:data');
      expect([row[1], row[2]]).toEqual(['1', '1']); // good IP and ICMP checksums
    }
    expect(rows.filter((x) => x[3] === '8')).toHaveLength(4);
    expect(rows.filter((x) => x[3] === '0' && x[4] !== '')).toHaveLength(4); // every reply answers a request tshark saw
  });
});

describeIf(have('qemu-system-i386', '--version'), 'qemu-system-i386 is not installed (.ci/run installs qemu-system-x86)')('the same guest under QEMU', () => {
  for (const [nic, qemuDevice] of [['ne2000', 'ne2k_pci'], ['ne2000-isa', 'ne2k_isa'], ['rtl8139', 'rtl8139']]) {
    it(`sends the same frames through ${qemuDevice} as through our ${nic}`, () => {
      const ours = path.join(tmp, `ours-${nic}.pcap`), theirs = path.join(tmp, `qemu-${nic}.pcap`);
      runCli(['run', 'guests/bin/ping.elf', '--nic', nic, '--peer', 'echo', '--pcap', ours]);
      const q = spawnSync('qemu-system-i386', ['-kernel', 'guests/bin/ping.elf', '-nographic', '-no-reboot', '-vga', 'none',
        '-netdev', 'user,id=n0', '-device', `${qemuDevice},netdev=n0`, '-object', `filter-dump,id=f0,netdev=n0,file=${theirs}`,
        '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-m', '64'], { cwd: ROOT, timeout: 60000 });
      expect(q.stdout.toString()).toMatch(/ping: 4 sent, 4 received/);
      expect(guestFrames(ours)).toEqual(guestFrames(theirs));
    });
  }
});

describe('UDP streams over each card', () => {
  for (const nic of ['ne2000', 'ne2000-isa', 'rtl8139']) {
    it(`udp-tx delivers every datagram to the sink intact through ${nic}`, () => {
      const r = runCli(['run', 'guests/bin/udp-tx.elf', '--nic', nic, '--peer', 'sink', '--cmdline', 'count=100 size=1000', '--max-cycles', '40000000000']);
      expect(r.stdout.toString()).toMatch(/udp-tx: 100 datagrams of 1000 bytes, 0 errors/);
      expect(r.stderr).toMatch(/sink: 100 datagrams, 100000 bytes, 0 lost, 0 out of order, 0 duplicate, 0 bad checksums/);
      expect(r.status).toBe(1);
    });

    it(`udp-rx receives the source's stream without loss through ${nic}`, () => {
      const r = runCli(['run', 'guests/bin/udp-rx.elf', '--nic', nic, '--peer', 'source,rate=1000,size=700,count=200', '--cmdline', 'count=200', '--max-cycles', '40000000000']);
      expect(r.stdout.toString()).toMatch(/udp-rx: 200 datagrams, 140000 bytes, 0 lost/);
      expect(r.status).toBe(1);
    });
  }

  it('echo-server echoes every UDP datagram sent to port 7', () => {
    const r = runCli(['run', 'guests/bin/echo-server.elf', '--nic', 'rtl8139', '--peer', 'source,rate=100,size=64,count=50,port=7', '--cmdline', 'seconds=1']);
    expect(r.stdout.toString()).toMatch(/echo-server: 50 datagrams echoed/);
    expect(r.stderr).toMatch(/50 datagrams sent, 50 echoed back/);
  });
});

describe('--trace net', () => {
  it('writes one line per frame: cycle, sender, length, addresses and a summary', () => {
    const out = path.join(tmp, 'net-trace.txt');
    runCli(['run', 'guests/bin/ping.elf', '--nic', 'rtl8139', '--peer', 'echo', '--trace', 'net', '--trace-out', out]);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(10);
    expect(lines[0]).toMatch(/^\d+ net rtl8139 len=60 52:54:00:12:34:56 > ff:ff:ff:ff:ff:ff arp who-has 10\.0\.2\.2 from 10\.0\.2\.15$/);
    expect(lines[1]).toMatch(/^\d+ net echo len=60 52:55:0a:00:02:02 > 52:54:00:12:34:56 arp 10\.0\.2\.2 is-at 52:55:0a:00:02:02 to 10\.0\.2\.15$/);
    expect(lines[3]).toMatch(/^\d+ net echo len=98 .* icmp echo-reply 10\.0\.2\.2 > 10\.0\.2\.15 seq=1$/);
  });
});
