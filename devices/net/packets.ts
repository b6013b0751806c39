/**
 * Building and parsing the few protocols the peers speak (RFC 826 ARP, RFC 791 IPv4,
 * RFC 792 ICMP echo, RFC 768 UDP), with their checksums (RFC 1071). Used by the wire's
 * peers and by traces; guests have their own stack.
 */
export const ETH_ARP = 0x0806, ETH_IPV4 = 0x0800;
export const IP_ICMP = 1, IP_UDP = 17;

export function ipToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A 32-bit view of the buffer the last checksum read: frames come from a few long-lived
 * buffers (slabs, a card's transmit buffer), so a view is made once per buffer, not per frame.
 */
let wordsOf: ArrayBufferLike | null = null;
let words32: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * The Internet checksum of data[start, end), with an optional starting sum (for
 * pseudo-headers). The sink checks every datagram with it, so the long middle is
 * summed a 32-bit word at a time: a one's-complement sum of little-endian 16-bit
 * words is the byte-swapped sum of the network-order ones (RFC 1071, 2.B).
 */
export function inetChecksum(data: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  while (i + 1 < end && ((data.byteOffset + i) & 3) !== 0) { sum += (data[i] << 8) | data[i + 1]; i += 2; }
  const words = (end - i) >> 2;
  if (LITTLE_ENDIAN && words >= 16 && words <= 1 << 21) {
    if (data.buffer !== wordsOf) {
      wordsOf = data.buffer;
      words32 = new Uint32Array(data.buffer, 0, data.buffer.byteLength >> 2);
    }
    const w = words32, first = (data.byteOffset + i) >> 2, last = first + words;
    // The little-endian 32-bit words summed as plain numbers, two sums at a time so that
    // the host CPU adds two words at once. As 2^16 = 1 (mod 2^16 - 1), their total is,
    // modulo 0xFFFF, the one's-complement sum of their 16-bit halves; and that sum is
    // 0 only for all-zero words, 0xFFFF for any other multiple of 0xFFFF. Exact while
    // the total stays under 2^53: up to 2^21 words (8 MiB, far past any frame; longer
    // data is summed by the loop below).
    let h0 = 0, h1 = 0, k = first;
    for (; k + 1 < last; k += 2) {
      h0 += w[k];
      h1 += w[k + 1];
    }
    if (k < last) h0 += w[k];
    const total = h0 + h1;
    const halves = total === 0 ? 0 : total % 0xffff || 0xffff;
    sum += ((halves & 0xff) << 8) | (halves >>> 8);
    i += words * 4;
  }
  for (; i + 1 < end; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (i < end) sum += data[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function put16(b: Uint8Array, at: number, v: number): void { b[at] = v >> 8; b[at + 1] = v & 0xff; }
function put32(b: Uint8Array, at: number, v: number): void { put16(b, at, v >>> 16); put16(b, at + 2, v & 0xffff); }
export function get16(b: Uint8Array, at: number): number { return (b[at] << 8) | b[at + 1]; }
export function get32(b: Uint8Array, at: number): number { return ((get16(b, at) << 16) | get16(b, at + 2)) >>> 0; }

export function ethernet(dst: ArrayLike<number>, src: ArrayLike<number>, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(Math.max(14 + payload.length, 60));
  f.set(Array.from(dst), 0);
  f.set(Array.from(src), 6);
  put16(f, 12, type);
  f.set(payload, 14);
  return f;
}

export function arp(op: 1 | 2, senderMac: ArrayLike<number>, senderIp: number, targetMac: ArrayLike<number>, targetIp: number): Uint8Array {
  const p = new Uint8Array(28);
  put16(p, 0, 1); put16(p, 2, ETH_IPV4); p[4] = 6; p[5] = 4; put16(p, 6, op);
  p.set(Array.from(senderMac), 8); put32(p, 14, senderIp);
  p.set(Array.from(targetMac), 18); put32(p, 24, targetIp);
  return p;
}

export function ipv4(src: number, dst: number, protocol: number, payload: Uint8Array, id = 0, ttl = 64): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45; put16(p, 2, p.length); put16(p, 4, id); put16(p, 6, 0x4000); // don't fragment
  p[8] = ttl; p[9] = protocol; put32(p, 12, src); put32(p, 16, dst);
  put16(p, 10, inetChecksum(p, 0, 20));
  p.set(payload, 20);
  return p;
}

export function udp(src: number, dst: number, srcPort: number, dstPort: number, data: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + data.length);
  put16(p, 0, srcPort); put16(p, 2, dstPort); put16(p, 4, p.length);
  p.set(data, 8);
  // Pseudo-header: source, destination, protocol, UDP length.
  const pseudo = ((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IP_UDP + p.length);
  const c = inetChecksum(p, 0, p.length, pseudo);
  put16(p, 6, c === 0 ? 0xffff : c);
  return p;
}

export function icmpEcho(type: 0 | 8, id: number, seq: number, data: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + data.length);
  p[0] = type; put16(p, 4, id); put16(p, 6, seq);
  p.set(data, 8);
  put16(p, 2, inetChecksum(p, 0, p.length));
  return p;
}

/**
 * A UDP datagram in an IPv4 Ethernet frame, read in place: `read` allocates nothing,
 * for the peers' per-frame path (the sink sees every frame of a benchmark). It reads
 * the same fields, and checks the same checksums, as parse().
 */
export class UdpDatagram {
  src = 0;
  dst = 0;
  srcPort = 0;
  dstPort = 0;
  /** Where its data starts and ends in the frame. */
  dataStart = 0;
  dataEnd = 0;
  /** The IPv4 header checksum is right, and so is the UDP checksum if it was sent. */
  checksumsOk = false;

  /** Reads `f`; false if it is not a UDP datagram over IPv4. */
  read(f: Uint8Array): boolean {
    if (f.length < 34 || get16(f, 12) !== ETH_IPV4 || (f[14] >> 4) !== 4 || f[23] !== IP_UDP) return false;
    const ihl = (f[14] & 0xf) * 4;
    const ipEnd = 14 + Math.min(get16(f, 16), f.length - 14);
    const u = 14 + ihl;
    if (ipEnd - u < 8) return false;
    this.src = get32(f, 26);
    this.dst = get32(f, 30);
    this.srcPort = get16(f, u);
    this.dstPort = get16(f, u + 2);
    const end = u + Math.min(get16(f, u + 4), ipEnd - u);
    this.dataStart = u + 8;
    this.dataEnd = Math.max(end, u + 8);
    this.checksumsOk = inetChecksum(f, 14, u) === 0 && udpChecksumOk(f, u, end, this.src, this.dst);
    return true;
  }
}

/** Whether the UDP datagram in f[start, end) from `src` to `dst` has a right checksum or none. */
function udpChecksumOk(f: Uint8Array, start: number, end: number, src: number, dst: number): boolean {
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IP_UDP + (end - start);
  return get16(f, start + 6) === 0 || inetChecksum(f, start, end, pseudo) === 0;
}

/** A frame's layers, as far as the peers care. */
export interface Parsed {
  dst: Uint8Array;
  src: Uint8Array;
  type: number;
  arp?: { op: number; senderMac: Uint8Array; senderIp: number; targetIp: number };
  ip?: { src: number; dst: number; protocol: number; id: number; headerOk: boolean; payload: Uint8Array };
  udp?: { srcPort: number; dstPort: number; data: Uint8Array; checksumOk: boolean };
  icmp?: { type: number; id: number; seq: number; data: Uint8Array; checksumOk: boolean };
}

export function parse(f: Uint8Array): Parsed {
  const r: Parsed = { dst: f.subarray(0, 6), src: f.subarray(6, 12), type: get16(f, 12) };
  if (r.type === ETH_ARP && f.length >= 42) {
    r.arp = { op: get16(f, 20), senderMac: f.subarray(22, 28), senderIp: get32(f, 28), targetIp: get32(f, 38) };
  } else if (r.type === ETH_IPV4 && f.length >= 34 && (f[14] >> 4) === 4) {
    const ihl = (f[14] & 0xf) * 4;
    const total = Math.min(get16(f, 16), f.length - 14);
    const ip = f.subarray(14, 14 + total);
    r.ip = { src: get32(ip, 12), dst: get32(ip, 16), protocol: ip[9], id: get16(ip, 4), headerOk: inetChecksum(ip, 0, ihl) === 0, payload: ip.subarray(ihl) };
    const pl = r.ip.payload;
    if (r.ip.protocol === IP_UDP && pl.length >= 8) {
      const len = Math.min(get16(pl, 4), pl.length);
      r.udp = { srcPort: get16(pl, 0), dstPort: get16(pl, 2), data: pl.subarray(8, len), checksumOk: udpChecksumOk(pl, 0, len, r.ip.src, r.ip.dst) };
    } else if (r.ip.protocol === IP_ICMP && pl.length >= 8) {
      r.icmp = { type: pl[0], id: get16(pl, 4), seq: get16(pl, 6), data: pl.subarray(8), checksumOk: inetChecksum(pl, 0, pl.length) === 0 };
    }
  }
  return r;
}
