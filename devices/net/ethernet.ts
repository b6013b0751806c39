/**
 * Ethernet framing facts shared by the cards, the wire and the peers (IEEE 802.3).
 * Frames are carried without preamble and FCS; the wire accounts for both in time.
 */
export const MIN_FRAME = 60; // without FCS
export const MAX_FRAME = 1514; // without FCS
export const PREAMBLE_BYTES = 8; // preamble + start frame delimiter
export const FCS_BYTES = 4;
export const IFG_BYTES = 12; // the inter-frame gap, 96 bit times

/**
 * What a card attached to a segment can do: put a frame on it.
 *
 * A frame is lent, not given: the sender may reuse its bytes once `send` returns (the
 * cards transmit from one buffer each), and so may whoever passes it on (the wire to
 * its stations, a switch to its ports). Anything that keeps a frame past the call
 * keeps a copy (`copyFrame`): the hypervisor's transmit queues and the VPIO monitor's
 * held frames do.
 */
export interface EthernetPort {
  /** Hands a complete frame (MIN_FRAME..MAX_FRAME bytes) to the medium, for the length of the call. */
  send(frame: Uint8Array): void;
}

const SLAB_BYTES = 64 << 10;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/**
 * A zeroed array for a frame (or a card's packet) of `len` bytes, for the per-frame
 * paths. A fresh frame-sized Uint8Array costs V8 an allocation of its own outside the
 * heap (about 2.4 us on the development machine, against 0.3 us for this), so frames
 * are carved one after another out of 64 KiB slabs. Nothing is ever
 * reused: a frame stays valid for as long as anyone holds it (and keeps its slab alive).
 * Code that hands a frame's bytes elsewhere must use byteOffset, as pcap does.
 */
export function newFrame(len: number): Uint8Array {
  if (len > SLAB_BYTES >> 3) return new Uint8Array(len);
  if (slabUsed + len > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const f = new Uint8Array(slab, slabUsed, len);
  slabUsed += (len + 7) & ~7;
  return f;
}

/**
 * `array.subarray(start, end)`, remembered from one call to the next. V8 makes a view
 * through the species constructor, about 60 ns on the development machine; a frame path
 * asks for the same few views frame after frame (a card's transmit buffer, a driver's
 * transmit buffers at the same addresses), so each such place keeps one of these, with
 * room for `size` views (replaced in turn). A view is only lent, like a frame (see
 * EthernetPort): the bytes under it change.
 */
export class ViewCache {
  private readonly arrays: (Uint8Array | null)[];
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private readonly views: Uint8Array[];
  private next = 0;

  constructor(readonly size = 1) {
    this.arrays = new Array<Uint8Array | null>(size).fill(null);
    this.starts = new Int32Array(size).fill(-1);
    this.ends = new Int32Array(size).fill(-1);
    this.views = new Array<Uint8Array>(size).fill(new Uint8Array(0));
  }

  of(array: Uint8Array, start: number, end: number): Uint8Array {
    for (let i = 0; i < this.size; i++) {
      if (this.arrays[i] === array && this.starts[i] === start && this.ends[i] === end) return this.views[i];
    }
    const i = this.next;
    this.next = i + 1 === this.size ? 0 : i + 1;
    this.arrays[i] = array;
    this.starts[i] = start;
    this.ends[i] = end;
    return (this.views[i] = array.subarray(start, end));
  }
}

/** A frame of one's own with the bytes of `frame` (one that was lent: see EthernetPort). */
export function copyFrame(frame: Uint8Array): Uint8Array {
  const f = newFrame(frame.length);
  f.set(frame);
  return f;
}

/** Bit times a frame of `len` bytes (without FCS) occupies the medium, with preamble and gap. */
export function frameBits(len: number): number {
  return (PREAMBLE_BYTES + Math.max(len, MIN_FRAME) + FCS_BYTES + IFG_BYTES) * 8;
}

/** The CRC-32 of IEEE 802.3 (reflected, polynomial 0xEDB88320), as used for the FCS and multicast hashing. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c;
  }
  return t;
})();

export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

export function isBroadcast(frame: Uint8Array): boolean {
  return frame[0] === 0xff && frame[1] === 0xff && frame[2] === 0xff && frame[3] === 0xff && frame[4] === 0xff && frame[5] === 0xff;
}

/** Whether a frame's destination is `mac` (six bytes). */
export function isAddressedTo(frame: Uint8Array, mac: ArrayLike<number>): boolean {
  return frame[0] === mac[0] && frame[1] === mac[1] && frame[2] === mac[2] && frame[3] === mac[3] && frame[4] === mac[4] && frame[5] === mac[5];
}

/** Whether a frame's source address is `mac` (six bytes). */
export function isSentBy(frame: Uint8Array, mac: ArrayLike<number>): boolean {
  return frame.length >= 12 && frame[6] === mac[0] && frame[7] === mac[1] && frame[8] === mac[2] && frame[9] === mac[3] && frame[10] === mac[4] && frame[11] === mac[5];
}

export function isMulticast(frame: Uint8Array): boolean {
  return (frame[0] & 1) !== 0;
}

export function macToString(mac: ArrayLike<number>, offset = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(mac[offset + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** Parses "52:54:00:12:34:56"; returns null when it is not six hex bytes. */
export function parseMac(text: string): Uint8Array | null {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) return null;
  return Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
}
