/**
 * The segment and its peers, driven by a test station standing in for a guest; the
 * pcap they write is decoded by tshark (where installed), the independent reference
 * for protocols and checksums.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { Clock } from '../clock';
import { Wire, EchoPeer, SinkPeer, SourcePeer, Station, PEER_IP, GUEST_IP, PEER_MAC } from './wire';
import { ETH_ARP, ETH_IPV4, IP_ICMP, IP_UDP, UdpDatagram, arp, ethernet, icmpEcho, ipv4, parse, udp, inetChecksum } from './packets';
import { PcapWriter } from './pcap';
import { ViewCache, newFrame } from './ethernet';
import { have, describeIf } from '../../test/support';
import { tempDir } from '../../test/tmp';

const GUEST_MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function segment(rate = 10e6) {
  const clock = new Clock(2e9);
  const wire = new Wire(clock, rate);
  const got: Uint8Array[] = [];
  const guest: Station = { name: 'guest', receive: (f) => got.push(f.slice()) }; // lent: keep a copy
  const port = wire.attach(guest);
  return { clock, wire, got, port };
}

describe('the wire and its peers', () => {
  it('echo answers ARP, ICMP echo and UDP to port 7, each after its processing and wire time', () => {
    const { clock, wire, got, port } = segment();
    new EchoPeer(wire);
    port.send(ethernet(BROADCAST, GUEST_MAC, ETH_ARP, arp(1, GUEST_MAC, GUEST_IP, new Uint8Array(6), PEER_IP)));
    clock.advanceTo(1e7);
    expect(got).toHaveLength(1);
    const a = parse(got[0]).arp!;
    expect(a.op).toBe(2);
    expect(Array.from(a.senderMac)).toEqual(Array.from(PEER_MAC));
    const payload = Uint8Array.from([1, 2, 3, 4, 5]);
    port.send(ethernet(PEER_MAC, GUEST_MAC, ETH_IPV4, ipv4(GUEST_IP, PEER_IP, IP_ICMP, icmpEcho(8, 0x42, 7, payload))));
    port.send(ethernet(PEER_MAC, GUEST_MAC, ETH_IPV4, ipv4(GUEST_IP, PEER_IP, IP_UDP, udp(GUEST_IP, PEER_IP, 5555, 7, payload))));
    const before = clock.now;
    clock.advanceTo(before + 1e7);
    const icmp = parse(got[1]);
    expect(icmp.icmp).toMatchObject({ type: 0, id: 0x42, seq: 7, checksumOk: true });
    const u = parse(got[2]);
    expect(u.udp).toMatchObject({ srcPort: 7, dstPort: 5555, checksumOk: true });
    expect(Array.from(u.udp!.data)).toEqual(Array.from(payload));
  });

  it('a peer sends its queued frames back to back from each one\'s own end, however late the clock is looked at', () => {
    // Three UDP echoes asked at once: the replies queue at the echo peer's NIC. A clock
    // moved past the first reply's end before the timers run (a CPU in an exit) must
    // not delay the two behind it.
    const arrivals = (late: number) => {
      const { clock, wire } = segment();
      const times: number[] = [];
      const port = wire.attach({ name: 'guest', receive: () => times.push(clock.now) });
      new EchoPeer(wire);
      for (let i = 0; i < 3; i++) {
        port.send(ethernet(PEER_MAC, GUEST_MAC, ETH_IPV4, ipv4(GUEST_IP, PEER_IP, IP_UDP, udp(GUEST_IP, PEER_IP, 5555, 7, new Uint8Array(400)))));
      }
      let first = Infinity;
      while (times.length === 0) { first = clock.nextDue(); clock.advanceTo(first); }
      if (late) {
        // Again, moving the clock past the second reply's end before its timer runs.
        const second = clock.nextDue();
        clock.now = second + late;
        clock.advanceTo(second + late);
      }
      clock.advanceTo(first + 1e7);
      return { first, times };
    };
    const prompt = arrivals(0), late = arrivals(30000);
    expect(prompt.times).toHaveLength(3);
    expect(late.times).toHaveLength(3);
    expect(late.times[2]).toBe(prompt.times[2]); // the third ends one frame after the second's due end
    expect(prompt.times[2] - prompt.times[1]).toBe(prompt.times[1] - prompt.times[0]);
  });

  it('sink counts a sequenced stream: received, lost and reordered datagrams', () => {
    const { clock, wire, port } = segment();
    const sink = new SinkPeer(wire);
    for (const seq of [0, 1, 2, 5, 4, 6, 6]) {
      const d = new Uint8Array(32);
      d[3] = seq;
      port.send(ethernet(PEER_MAC, GUEST_MAC, ETH_IPV4, ipv4(GUEST_IP, PEER_IP, IP_UDP, udp(GUEST_IP, PEER_IP, 9, 9, d))));
      clock.advanceTo(clock.now + 1000);
    }
    expect([sink.received, sink.lost, sink.outOfOrder, sink.duplicates]).toEqual([6, 1, 1, 1]);
  });

  it('sink counts each sender (source address and port) as its own stream', () => {
    const { clock, wire, port } = segment();
    const sink = new SinkPeer(wire);
    const other = (GUEST_IP + 1) >>> 0;
    // Two guests numbering from 0, and a second socket of the first guest: three streams.
    for (const [src, sport, seq] of [[GUEST_IP, 9, 0], [other, 9, 0], [GUEST_IP, 9, 1], [other, 9, 2], [GUEST_IP, 1000, 0], [other, 9, 2]]) {
      const d = new Uint8Array(32);
      d[3] = seq;
      port.send(ethernet(PEER_MAC, GUEST_MAC, ETH_IPV4, ipv4(src, PEER_IP, IP_UDP, udp(src, PEER_IP, sport, 9, d))));
      clock.advanceTo(clock.now + 1000);
    }
    expect([sink.received, sink.lost, sink.duplicates, sink.arrivals, sink.senders]).toEqual([5, 1, 1, 6, 3]);
    expect(sink.summary()).toMatch(/^sink: 5 datagrams from 3 senders, /);
  });

  it('sink knows a repeat of any 32-bit sequence number, small, large or past 2^24', () => {
    const { clock, wire, port } = segment();
    const sink = new SinkPeer(wire);
    const seqs = [0, 40000, 40000, 0x1000000, 0xffffffff, 0x1000000, 33000, 0, 0xffffff, 0xffffff, 0xffffffff];
    for (const seq of seqs) {
      const d = new Uint8Array(32);
      d[0] = seq >>> 24; d[1] = seq >>> 16; d[2] = seq >>> 8; d[3] = seq;
      port.send(ethernet(PEER_MAC, GUEST_MAC, ETH_IPV4, ipv4(GUEST_IP, PEER_IP, IP_UDP, udp(GUEST_IP, PEER_IP, 9, 9, d))));
      clock.advanceTo(clock.now + 1000);
    }
    expect([sink.received, sink.duplicates, sink.arrivals]).toEqual([6, 5, 11]);
  });

  it('source resolves the guest by ARP, then streams at its rate and size', () => {
    const { clock, wire, got, port } = segment(100e6);
    const src = new SourcePeer(wire, { rate: 1000, size: 100, count: 5 });
    let answered = false;
    const guest = (f: Uint8Array) => {
      const p = parse(f);
      if (p.arp && p.arp.targetIp === GUEST_IP && !answered) {
        answered = true;
        port.send(ethernet(p.arp.senderMac, GUEST_MAC, ETH_ARP, arp(2, GUEST_MAC, GUEST_IP, p.arp.senderMac, p.arp.senderIp)));
      }
    };
    clock.advanceTo(0.002 * 2e9); // 2 ms: the ARP request has gone out
    got.forEach(guest);
    clock.advanceTo(0.02 * 2e9);
    const udps = got.map(parse).filter((p) => p.udp);
    expect(src.sent).toBe(5);
    expect(udps).toHaveLength(5);
    expect(udps.map((p) => p.udp!.data[3])).toEqual([0, 1, 2, 3, 4]);
    expect(udps[0].udp!.data.length).toBe(100);
  });

  it('source waits start= milliseconds of virtual time before its first ARP', () => {
    const { clock, wire, got } = segment(100e6);
    new SourcePeer(wire, { rate: 1000, size: 100, count: 5, start: 50 });
    clock.advanceTo(0.049 * 2e9);
    expect(got).toHaveLength(0);
    clock.advanceTo(0.051 * 2e9);
    expect(got.map(parse).filter((p) => p.arp && p.arp.targetIp === GUEST_IP)).toHaveLength(1);
  });
});

describeIf(have('tshark', '--version'), 'tshark is not installed (.ci/run installs it)')('pcap files, read by tshark', () => {
  it('decodes every frame the peers exchanged, with good IP, ICMP and UDP checksums', () => {
    const file = path.join(tempDir('vpio-pcap-'), 'wire.pcap');
    const { clock, wire, port } = segment();
    wire.pcap = new PcapWriter(file);
    new EchoPeer(wire);
    port.send(ethernet(BROADCAST, GUEST_MAC, ETH_ARP, arp(1, GUEST_MAC, GUEST_IP, new Uint8Array(6), PEER_IP)));
    clock.advanceTo(clock.now + 1e7);
    port.send(ethernet(PEER_MAC, GUEST_MAC, ETH_IPV4, ipv4(GUEST_IP, PEER_IP, IP_ICMP, icmpEcho(8, 1, 1, new Uint8Array(56).fill(0x61)))));
    clock.advanceTo(clock.now + 1e7);
    port.send(ethernet(PEER_MAC, GUEST_MAC, ETH_IPV4, ipv4(GUEST_IP, PEER_IP, IP_UDP, udp(GUEST_IP, PEER_IP, 1234, 7, new Uint8Array(33).fill(0x62)))));
    clock.advanceTo(clock.now + 1e7);
    wire.pcap.close();
    const r = spawnSync('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|',
      '-e', 'frame.protocols', '-e', 'ip.checksum.status', '-e', 'icmp.checksum.status', '-e', 'udp.checksum.status', '-e', 'frame.time_relative'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'));
    expect(rows.map((x) => x[0])).toEqual([
      'eth:ethertype:arp', 'eth:ethertype:arp',
      'eth:ethertype:ip:icmp:data', 'eth:ethertype:ip:icmp:data',
      'eth:ethertype:ip:udp:echo', 'eth:ethertype:ip:udp:echo',
    ]);
    for (const row of rows.slice(2)) {
      expect(row[1]).toBe('1'); // ip checksum: 1 = good (0 bad, 2 unverified)
      expect(row[2] || row[3]).toBe('1'); // icmp or udp checksum good
    }
    // Virtual-clock timestamps: the reply comes after the request.
    expect(Number(rows[1][4])).toBeGreaterThan(Number(rows[0][4]));
  });
});

describe('newFrame', () => {
  it('gives zeroed frames that never share bytes, across slabs and above the slab size', () => {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) {
      const f = newFrame(i === 150 ? 20000 : 60 + ((i * 37) % 1455));
      expect(f.every((b) => b === 0)).toBe(true);
      f.fill(i & 0xff);
      frames.push(f);
    }
    frames.forEach((f, i) => expect(f.every((b) => b === (i & 0xff))).toBe(true));
  });
});

describe('ViewCache', () => {
  it('gives the subarray asked for: the same view while the array and bounds repeat, a new one when any changes', () => {
    const a = Uint8Array.from({ length: 64 }, (_, i) => i), b = Uint8Array.from({ length: 64 }, (_, i) => 100 + i);
    const views = new ViewCache();
    const first = views.of(a, 4, 20);
    expect(Array.from(first)).toEqual(Array.from(a.subarray(4, 20)));
    expect(views.of(a, 4, 20)).toBe(first);
    a[4] = 99; // a view, not a copy
    expect(first[0]).toBe(99);
    for (const [arr, start, end] of [[a, 4, 21], [a, 5, 21], [b, 5, 21], [a, 5, 21], [a, 0, 0]] as const) { // end, start, array, array
      expect(Array.from(views.of(arr, start, end))).toEqual(Array.from(arr.subarray(start, end)));
    }
  });
  it('keeps as many views as it has room for, replacing them in turn', () => {
    const ram = Uint8Array.from({ length: 8192 }, (_, i) => i & 0xff);
    const views = new ViewCache(4);
    const at = [0, 1536, 3072, 4608];
    const kept = at.map((a) => views.of(ram, a, a + 1514));
    at.forEach((a, i) => expect(views.of(ram, a, a + 1514)).toBe(kept[i])); // all four kept
    const fifth = views.of(ram, 6144, 6144 + 1514); // replaces the first
    expect(Array.from(fifth)).toEqual(Array.from(ram.subarray(6144, 6144 + 1514)));
    expect(views.of(ram, 1536, 1536 + 1514)).toBe(kept[1]);
    const again = views.of(ram, 0, 1514);
    expect(again).not.toBe(kept[0]);
    expect(Array.from(again)).toEqual(Array.from(ram.subarray(0, 1514)));
  });
});

describe('inetChecksum', () => {
  it('is RFC 1071\'s sum of big-endian 16-bit words, at every alignment, length and starting sum', () => {
    const buffer = new Uint8Array(4200);
    for (let i = 0; i < buffer.length; i++) buffer[i] = (i * 7919 + (i >> 7)) & 0xff;
    buffer.fill(0xff, 2000, 3600); // long runs of 0xffff: many carries to fold
    const reference = (d: Uint8Array, start: number, end: number, initial: number) => {
      let sum = initial;
      for (let i = start; i < end; i += 2) sum += (d[i] << 8) | (i + 1 < end ? d[i + 1] : 0);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      return ~sum & 0xffff;
    };
    // A second buffer, of a length that is no multiple of 4, taken in turns with the first:
    // the 32-bit view the sum reads through must follow the buffer.
    const other = new Uint8Array(4203);
    for (let i = 0; i < other.length; i++) other[i] = (i * 31 + 7) & 0xff;
    // All-zero words sum to 0, and 0xFFFF words to a nonzero multiple of 0xFFFF: the two
    // sums that are equal modulo 0xFFFF and differ as one's-complement sums.
    const zeros = new Uint8Array(2100);
    for (const [b, base] of [[buffer, 0], [other, 1], [buffer, 1], [buffer, 2], [other, 2203], [buffer, 3], [buffer, 1998], [other, 0], [zeros, 0], [zeros, 3]] as const) {
      const d = b.subarray(base, base + 2000);
      for (const start of [0, 1, 2, 3, 14, 34]) {
        for (const len of [0, 1, 2, 3, 20, 63, 64, 65, 66, 67, 1480, 1481, 1966]) {
          for (const initial of [0, 0x1234, 0x3fffc]) {
            expect(inetChecksum(d, start, start + len, initial)).toBe(reference(d, start, start + len, initial));
          }
        }
      }
    }
  });
});


describe('UdpDatagram', () => {
  it('reads what parse() reads, checksums included, from good, damaged and other frames', () => {
    const good = () => ethernet(BROADCAST, GUEST_MAC, ETH_IPV4, ipv4(0x0a00020f, PEER_IP, IP_UDP, udp(0x0a00020f, PEER_IP, 1234, 9, Uint8Array.from({ length: 37 }, (_, i) => i * 3))));
    const variants: [string, Uint8Array][] = [
      ['good', good()],
      ['short datagram, padded frame', ethernet(BROADCAST, GUEST_MAC, ETH_IPV4, ipv4(1, 2, IP_UDP, udp(1, 2, 5, 9, Uint8Array.of(1, 2))))],
      ['damaged IP header', (() => { const f = good(); f[22] ^= 1; return f; })()],
      ['damaged data', (() => { const f = good(); f[50] ^= 0x80; return f; })()],
      ['no UDP checksum', (() => { const f = good(); f[40] = 0; f[41] = 0; f[50] ^= 0x80; return f; })()],
      ['UDP length past the packet', (() => { const f = good(); f[38] = 0x05; return f; })()],
      ['UDP length under its header', (() => { const f = good(); f[38] = 0; f[39] = 4; return f; })()],
      ['IP total length cutting the datagram', (() => { const f = good(); f[17] -= 10; return f; })()],
      ['IP total length under the UDP header', (() => { const f = good(); f[16] = 0; f[17] = 24; return f; })()],
      ['IP options (IHL 6)', (() => {
        const p = ipv4(1, 2, IP_UDP, udp(1, 2, 5, 9, Uint8Array.of(9, 9, 9, 9, 9)));
        const q = new Uint8Array(p.length + 4);
        q.set(p.subarray(0, 20)); q.set(p.subarray(20), 24);
        q[0] = 0x46; q[3] += 4; q[10] = 0; q[11] = 0;
        const c = inetChecksum(q, 0, 24); q[10] = c >> 8; q[11] = c & 0xff;
        return ethernet(BROADCAST, GUEST_MAC, ETH_IPV4, q);
      })()],
      ['ICMP', ethernet(BROADCAST, GUEST_MAC, ETH_IPV4, ipv4(1, 2, IP_ICMP, icmpEcho(8, 1, 1, Uint8Array.of(1))))],
      ['ARP', ethernet(BROADCAST, GUEST_MAC, ETH_ARP, arp(1, GUEST_MAC, 1, BROADCAST, 2))],
      ['IPv6 version', (() => { const f = good(); f[14] = 0x65; return f; })()],
      ['runt', good().subarray(0, 33)],
    ];
    const u = new UdpDatagram();
    let udps = 0;
    const ok: string[] = [];
    for (const [name, f] of variants) {
      const p = parse(f);
      const isUdp = p.udp !== undefined && p.ip !== undefined;
      expect([name, u.read(f)]).toEqual([name, isUdp]);
      if (!isUdp) continue;
      udps++;
      expect([name, u.src, u.dst, u.srcPort, u.dstPort, Array.from(f.subarray(u.dataStart, u.dataEnd)), u.checksumsOk])
        .toEqual([name, p.ip!.src, p.ip!.dst, p.udp!.srcPort, p.udp!.dstPort, Array.from(p.udp!.data), p.ip!.headerOk && p.udp!.checksumOk]);
      if (u.checksumsOk) ok.push(name);
    }
    expect(udps).toBe(9);
    expect(ok).toEqual(['good', 'short datagram, padded frame', 'no UDP checksum', 'IP options (IHL 6)']);
  });
});
