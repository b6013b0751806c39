/**
 * An Ethernet segment on the machine clock: cards and built-in peers attach to it; a
 * frame one of them sends (when its last bit has left, in the sender's timing) reaches
 * every other station at that moment, in attach order. Every frame can go to a pcap
 * file and to a trace. Peers:
 *
 * - `echo`: answers ARP for its address and ICMP echo requests, and echoes UDP sent to
 *   its port 7 back to the sender.
 * - `sink`: counts UDP streams to its port 9 (one per sender) whose payload starts with a 32-bit
 *   sequence number: received, lost (gaps), out of order, duplicates, bytes.
 * - `source`: sends a UDP stream (sequence numbers first) to the guest at a set rate
 *   and size, after resolving the guest's address by ARP.
 *
 * Addresses follow QEMU's user-mode network: the guest is 10.0.2.15, the peers 10.0.2.2.
 */
import { Clock, Timer } from '../clock';
import { EthernetPort, MAX_FRAME, MIN_FRAME, frameBits, isBroadcast, macToString } from './ethernet';
import { ETH_ARP, ETH_IPV4, IP_ICMP, IP_UDP, UdpDatagram, arp, ethernet, get32, icmpEcho, ipv4, parse, udp, ipToString } from './packets';
import { PcapWriter } from './pcap';

export const PEER_MAC = Uint8Array.from([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
export const PEER_IP = 0x0a000202; // 10.0.2.2
export const GUEST_IP = 0x0a00020f; // 10.0.2.15
const BROADCAST = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ECHO_PORT = 7, DISCARD_PORT = 9;

export interface Station {
  readonly name: string;
  /** A frame on the segment (never the station's own), lent for the call: a station that keeps it keeps a copy. */
  receive(frame: Uint8Array): void;
}

export class Wire {
  private readonly stations: Station[] = [];
  pcap: PcapWriter | null = null;
  trace: ((line: string) => void) | null = null;
  /** Called for every frame as it leaves the segment (a timeline's hook). */
  onFrame: ((from: string, frame: Uint8Array) => void) | null = null;
  frames = 0;

  constructor(readonly clock: Clock, readonly bitsPerSecond: number) {}

  /** Attaches a station; returns the port it sends through. */
  attach(station: Station): EthernetPort {
    this.stations.push(station);
    return { send: (frame) => this.carry(station, frame) };
  }

  /** Cycles a frame of `len` bytes occupies the segment, with preamble and gap. */
  frameCycles(len: number): number {
    return Math.ceil((frameBits(len) * this.clock.hz) / this.bitsPerSecond);
  }

  private carry(from: Station, frame: Uint8Array): void {
    if (frame.length < MIN_FRAME || frame.length > MAX_FRAME) {
      // The cards never hand over such a frame; a peer bug would be caught here.
      throw new Error(`wire: ${from.name} sent a ${frame.length}-byte frame`);
    }
    this.frames++;
    const seconds = this.clock.now / this.clock.hz;
    this.pcap?.write(seconds, frame);
    if (this.trace) this.trace(`${this.clock.now} net ${from.name} ${describe(frame)}`);
    if (this.onFrame) this.onFrame(from.name, frame);
    for (const s of this.stations) if (s !== from) s.receive(frame);
  }
}

/** One line about a frame, for --trace net. */
export function describe(frame: Uint8Array): string {
  const p = parse(frame);
  let what = `type=0x${p.type.toString(16)}`;
  // As tshark words them: a request asks who has the target's address; a reply says
  // the sender's address is at the sender's MAC.
  if (p.arp) {
    what = p.arp.op === 1 ? `arp who-has ${ipToString(p.arp.targetIp)} from ${ipToString(p.arp.senderIp)}`
      : `arp ${ipToString(p.arp.senderIp)} is-at ${macToString(p.arp.senderMac)} to ${ipToString(p.arp.targetIp)}`;
  } else if (p.udp && p.ip) what = `udp ${ipToString(p.ip.src)}:${p.udp.srcPort} > ${ipToString(p.ip.dst)}:${p.udp.dstPort} len=${p.udp.data.length}`;
  else if (p.icmp && p.ip) what = `icmp ${p.icmp.type === 8 ? 'echo-request' : p.icmp.type === 0 ? 'echo-reply' : `type ${p.icmp.type}`} ${ipToString(p.ip.src)} > ${ipToString(p.ip.dst)} seq=${p.icmp.seq}`;
  else if (p.ip) what = `ip proto=${p.ip.protocol} ${ipToString(p.ip.src)} > ${ipToString(p.ip.dst)}`;
  return `len=${frame.length} ${macToString(p.src)} > ${macToString(p.dst)} ${what}`;
}

/** Sends a peer's frames one after another at the wire's rate (a peer has its own NIC). */
class PeerTransmitter {
  private readonly queue: Uint8Array[] = [];
  private readonly timer: Timer;
  private busy = false;
  port: EthernetPort | null = null;

  constructor(private readonly wire: Wire, name: string) {
    // Back to back from each frame's own end (see Rtl8139's transmit chain): a clock
    // looked at late does not slow the peer's wire.
    this.timer = wire.clock.timer(`${name}-tx`, (at) => this.done(at));
  }

  send(frame: Uint8Array, delayCycles = 0): void {
    this.queue.push(frame);
    if (!this.busy) this.start(this.wire.clock.now + Math.max(0, delayCycles));
  }

  private start(from: number): void {
    const f = this.queue[0];
    if (!f) return;
    this.busy = true;
    this.timer.arm(from + this.wire.frameCycles(f.length));
  }

  private done(at: number): void {
    const f = this.queue.shift()!;
    this.busy = false;
    this.port!.send(f);
    this.start(at);
  }
}

/** Answers ARP, ICMP echo and UDP echo (port 7). */
export class EchoPeer implements Station {
  readonly name = 'echo';
  private readonly tx: PeerTransmitter;
  replies = 0;

  constructor(wire: Wire, readonly mac = PEER_MAC, readonly ip = PEER_IP, readonly processingCycles = 20000) {
    this.tx = new PeerTransmitter(wire, 'echo');
    this.tx.port = wire.attach(this);
  }

  receive(frame: Uint8Array): void {
    const p = parse(frame);
    if (!isBroadcast(frame) && !p.dst.every((b, i) => b === this.mac[i])) return;
    if (p.arp && p.arp.op === 1 && p.arp.targetIp === this.ip) {
      this.reply(ethernet(p.arp.senderMac, this.mac, ETH_ARP, arp(2, this.mac, this.ip, p.arp.senderMac, p.arp.senderIp)));
    } else if (p.ip && p.ip.dst === this.ip && p.ip.headerOk) {
      if (p.icmp && p.icmp.type === 8 && p.icmp.checksumOk) {
        this.reply(ethernet(p.src, this.mac, ETH_IPV4, ipv4(this.ip, p.ip.src, IP_ICMP, icmpEcho(0, p.icmp.id, p.icmp.seq, p.icmp.data), p.ip.id)));
      } else if (p.udp && p.udp.dstPort === ECHO_PORT && p.udp.checksumOk) {
        this.reply(ethernet(p.src, this.mac, ETH_IPV4, ipv4(this.ip, p.ip.src, IP_UDP, udp(this.ip, p.ip.src, ECHO_PORT, p.udp.srcPort, p.udp.data), p.ip.id)));
      }
    }
  }

  private reply(frame: Uint8Array): void {
    this.replies++;
    this.tx.send(frame, this.processingCycles);
  }
}

/**
 * The sequence numbers a sink has seen: a bitmap, grown by doubling, for those below
 * 2^24 (2 MiB at most), and a Set for any above (a guest may send any number). A Set
 * alone cost 0.3-0.5 us a datagram while it grew.
 */
export class SeenNumbers {
  private bits = new Uint32Array(1024);
  private readonly high = new Set<number>();

  /** Records `n`; returns whether it had been seen before. */
  add(n: number): boolean {
    if (n >= 1 << 24) {
      if (this.high.has(n)) return true;
      this.high.add(n);
      return false;
    }
    const word = n >>> 5;
    if (word >= this.bits.length) {
      let len = this.bits.length;
      while (len <= word) len *= 2;
      const grown = new Uint32Array(len);
      grown.set(this.bits);
      this.bits = grown;
    }
    const bit = 1 << (n & 31);
    if (this.bits[word] & bit) return true;
    this.bits[word] |= bit;
    return false;
  }
}

/** One sender's sequenced stream, as the sink counts it. */
export class Flow {
  expected = 0;
  readonly seen = new SeenNumbers();
}

/**
 * Counts sequenced UDP streams to port 9: each sender (source address and port) is its
 * own flow, with its own sequence numbers, so two guests that each number their
 * datagrams from 0 are two streams, not one stream of duplicates. The counts are summed
 * over the flows.
 */
export class SinkPeer implements Station {
  readonly name = 'sink';
  received = 0;
  bytes = 0;
  lost = 0;
  outOfOrder = 0;
  duplicates = 0;
  badChecksums = 0;
  firstCycle = -1;
  lastCycle = -1;
  /** Good datagrams of any sequence number, and when the first and last came. */
  arrivals = 0;
  firstArrival = -1;
  lastArrival = -1;
  /**
   * Called after each good datagram with its flow's key (source address * 65536 + source
   * port): how a bench marks where a stream begins and ends on the virtual clock.
   */
  onArrival: ((flow: number) => void) | null = null;
  /** The flows seen, by source address * 65536 + source port (a new sender allocates once). */
  private readonly flows = new Map<number, Flow>();
  /** Each frame is read in place: no allocation per datagram. */
  private readonly datagram = new UdpDatagram();
  private readonly tx: PeerTransmitter;

  constructor(private readonly wire: Wire, readonly mac = PEER_MAC, readonly ip = PEER_IP) {
    this.tx = new PeerTransmitter(wire, 'sink');
    this.tx.port = wire.attach(this);
  }

  /** How many senders (source address and port) the sink has heard from. */
  get senders(): number {
    return this.flows.size;
  }

  receive(frame: Uint8Array): void {
    const u = this.datagram;
    if (!u.read(frame)) {
      const p = parse(frame);
      if (p.arp && p.arp.op === 1 && p.arp.targetIp === this.ip) {
        this.tx.send(ethernet(p.arp.senderMac, this.mac, ETH_ARP, arp(2, this.mac, this.ip, p.arp.senderMac, p.arp.senderIp)));
      }
      return;
    }
    if (u.dst !== this.ip || u.dstPort !== DISCARD_PORT) return;
    if (!u.checksumsOk) { this.badChecksums++; return; }
    const length = u.dataEnd - u.dataStart;
    const seq = length >= 4 ? get32(frame, u.dataStart) : 0;
    // Every good datagram, repeats included.
    if (this.arrivals === 0) this.firstArrival = this.wire.clock.now;
    this.arrivals++;
    this.lastArrival = this.wire.clock.now;
    const key = (u.src >>> 0) * 65536 + u.srcPort;
    let flow = this.flows.get(key);
    if (flow === undefined) { flow = new Flow(); this.flows.set(key, flow); }
    if (this.onArrival !== null) this.onArrival(key);
    if (flow.seen.add(seq)) { this.duplicates++; return; }
    if (this.firstCycle < 0) this.firstCycle = this.wire.clock.now;
    this.lastCycle = this.wire.clock.now;
    this.received++;
    this.bytes += length;
    if (seq > flow.expected) this.lost += seq - flow.expected;
    if (seq < flow.expected) { this.outOfOrder++; this.lost = Math.max(0, this.lost - 1); }
    flow.expected = Math.max(flow.expected, seq + 1);
  }

  summary(): string {
    const seconds = this.lastCycle > this.firstCycle ? (this.lastCycle - this.firstCycle) / this.wire.clock.hz : 0;
    const rate = seconds > 0 ? ((this.received - 1) / seconds) : 0;
    const senders = this.flows.size > 1 ? ` from ${this.flows.size} senders` : '';
    return `sink: ${this.received} datagrams${senders}, ${this.bytes} bytes, ${this.lost} lost, ${this.outOfOrder} out of order, ${this.duplicates} duplicate, ${this.badChecksums} bad checksums, ${rate.toFixed(0)} datagrams/s`;
  }
}

export interface SourceOptions {
  /** Datagrams per second (SOURCE_PARAMS.rate). */
  rate: number;
  /** UDP payload bytes (at least 4: the sequence number). */
  size: number;
  /** How many to send; 0 (the default): no limit, until the run ends. */
  count: number;
  /** Milliseconds of virtual time before the first ARP (SOURCE_PARAMS.start; 1 when absent). */
  start?: number;
  /** Destination UDP port (9, the discard port, by default; 7 to exercise an echo server). */
  port?: number;
}

/**
 * The source's parameters as a user gives them (`--peer source,rate=N,...`): each one's
 * default, range and meaning, for the command line to check and document.
 */
export const SOURCE_PARAMS = {
  rate: { default: 1000, min: 1, max: 1_000_000, meaning: 'datagrams a second' },
  size: { default: 512, min: 4, max: MAX_FRAME - 42, meaning: 'UDP payload bytes (the first 4 are the sequence number)' },
  count: { default: 0, min: 0, max: 1_000_000_000, meaning: 'datagrams to send; 0 sends until the run ends' },
  port: { default: 9, min: 1, max: 65535, meaning: 'the guest\'s UDP port (9, discard; 7 for echo-server)' },
  start: { default: 1, min: 0, max: 600_000, meaning: 'milliseconds of virtual time before it first asks for the guest by ARP (a Linux guest needs seconds to boot)' },
} as const;

/** Sends a sequenced UDP stream to the guest (10.0.2.15, port 9) after resolving it by ARP. */
export class SourcePeer implements Station {
  readonly name = 'source';
  sent = 0;
  /** When the first and the last datagram went out (machine cycles; -1 before any). */
  firstCycle = -1;
  lastCycle = -1;
  /** UDP datagrams that came back from the guest (when sending to its echo port). */
  echoed = 0;
  private echoesExpected = 0;
  private guestMac: Uint8Array | null = null;
  private readonly tx: PeerTransmitter;
  private readonly tick: Timer;
  private readonly arpTimer: Timer;

  constructor(private readonly wire: Wire, readonly opts: SourceOptions, readonly mac = PEER_MAC, readonly ip = PEER_IP, readonly guestIp = GUEST_IP) {
    if (opts.size < 4 || opts.size > MAX_FRAME - 42) throw new Error(`source: size must be 4..${MAX_FRAME - 42}`);
    if (!(opts.rate > 0)) throw new Error('source: rate must be positive');
    this.tx = new PeerTransmitter(wire, 'source');
    this.tx.port = wire.attach(this);
    this.tick = wire.clock.timer('source-tick', (at) => this.sendOne(at));
    this.arpTimer = wire.clock.timer('source-arp', () => this.askArp());
    this.arpTimer.arm(Math.floor(((opts.start ?? SOURCE_PARAMS.start.default) / 1000) * wire.clock.hz));
  }

  private askArp(): void {
    if (this.guestMac) return;
    this.tx.send(ethernet(BROADCAST, this.mac, ETH_ARP, arp(1, this.mac, this.ip, new Uint8Array(6), this.guestIp)));
    this.arpTimer.armIn(Math.floor(0.01 * this.wire.clock.hz)); // ask again every 10 ms until answered
  }

  receive(frame: Uint8Array): void {
    const p = parse(frame);
    if (p.arp && p.arp.op === 2 && p.arp.senderIp === this.guestIp && !this.guestMac) {
      this.guestMac = Uint8Array.from(p.arp.senderMac);
      this.arpTimer.cancel();
      this.tick.armIn(0);
    } else if (p.arp && p.arp.op === 1 && p.arp.targetIp === this.ip) {
      this.tx.send(ethernet(p.arp.senderMac, this.mac, ETH_ARP, arp(2, this.mac, this.ip, p.arp.senderMac, p.arp.senderIp)));
    } else if (p.udp && p.ip && p.ip.dst === this.ip && p.udp.srcPort === ECHO_PORT && p.udp.checksumOk) {
      this.echoed++;
    }
  }

  private sendOne(at: number): void {
    if (!this.guestMac || (this.opts.count && this.sent >= this.opts.count)) return;
    const data = new Uint8Array(this.opts.size);
    const seq = this.sent;
    data[0] = seq >>> 24; data[1] = (seq >>> 16) & 0xff; data[2] = (seq >>> 8) & 0xff; data[3] = seq & 0xff;
    for (let i = 4; i < data.length; i++) data[i] = (seq + i) & 0xff;
    this.tx.send(ethernet(this.guestMac, this.mac, ETH_IPV4, ipv4(this.ip, this.guestIp, IP_UDP, udp(this.ip, this.guestIp, 9, this.opts.port ?? 9, data), seq & 0xffff)));
    if (this.opts.port === ECHO_PORT) this.echoesExpected++;
    if (this.firstCycle < 0) this.firstCycle = at;
    this.lastCycle = at;
    this.sent++;
    this.tick.arm(at + Math.round(this.wire.clock.hz / this.opts.rate));
  }
}
