/**
 * Classic libpcap files (the format tcpdump and Wireshark read: a 24-byte global header,
 * then a 16-byte record header per frame), link type 1 (Ethernet, without FCS),
 * timestamped with the virtual clock, microsecond resolution.
 */
import * as fs from 'fs';

export class PcapWriter {
  private readonly fd: number;

  constructor(path: string, snaplen = 65535) {
    this.fd = fs.openSync(path, 'w');
    const h = Buffer.alloc(24);
    h.writeUInt32LE(0xa1b2c3d4, 0); // magic: microsecond timestamps
    h.writeUInt16LE(2, 4); h.writeUInt16LE(4, 6); // version 2.4
    h.writeInt32LE(0, 8); h.writeUInt32LE(0, 12); // timezone, accuracy
    h.writeUInt32LE(snaplen, 16);
    h.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
    fs.writeSync(this.fd, h);
  }

  /** Appends a frame seen at `seconds` of virtual time. */
  write(seconds: number, frame: Uint8Array): void {
    const sec = Math.floor(seconds);
    const usec = Math.min(999999, Math.floor((seconds - sec) * 1e6));
    const r = Buffer.alloc(16 + frame.length);
    r.writeUInt32LE(sec, 0); r.writeUInt32LE(usec, 4);
    r.writeUInt32LE(frame.length, 8); r.writeUInt32LE(frame.length, 12);
    Buffer.from(frame.buffer, frame.byteOffset, frame.length).copy(r, 16);
    fs.writeSync(this.fd, r);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
