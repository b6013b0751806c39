/**
 * Classic libpcap files (the format tcpdump and Wireshark read: a 24-byte global header,
 * then a 16-byte record header per frame), link type 1 (Ethernet, without FCS),
 * timestamped with the virtual clock, microsecond resolution.
 *
 * Records are gathered in a buffer and written whole, so the file is a valid capture
 * (every record complete) after every flush and after `close()`. `write` is called from
 * inside the CPU's run (a card transmits during an instruction), where an exception
 * would end the guest: a write error (a full disk, EIO) is kept in `error` instead, and
 * later frames are dropped; whoever owns the run looks at it and ends the run.
 */
import * as fs from 'fs';

const BUFFER_BYTES = 1 << 16;

export class PcapWriter {
  private fd: number;
  private readonly buf = Buffer.alloc(BUFFER_BYTES);
  private n = 0;
  /** The first write error (its code and Node's message), after which nothing more is written. */
  error: NodeJS.ErrnoException | null = null;

  /** Opens (creating or emptying) `path`; an error opening it is thrown, as nothing runs yet. */
  constructor(readonly path: string, snaplen = 65535) {
    this.fd = fs.openSync(path, 'w');
    const h = this.buf;
    h.writeUInt32LE(0xa1b2c3d4, 0); // magic: microsecond timestamps
    h.writeUInt16LE(2, 4); h.writeUInt16LE(4, 6); // version 2.4
    h.writeInt32LE(0, 8); h.writeUInt32LE(0, 12); // timezone, accuracy
    h.writeUInt32LE(snaplen, 16);
    h.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
    this.n = 24;
    this.flush(); // a capture of no frames is a valid file at once
  }

  /** Appends a frame seen at `seconds` of virtual time. */
  write(seconds: number, frame: Uint8Array): void {
    if (this.error !== null) return;
    const sec = Math.floor(seconds);
    const usec = Math.min(999999, Math.floor((seconds - sec) * 1e6));
    if (this.n + 16 + frame.length > BUFFER_BYTES) this.flush();
    const b = this.buf;
    let at = this.n;
    b.writeUInt32LE(sec, at); b.writeUInt32LE(usec, at + 4);
    b.writeUInt32LE(frame.length, at + 8); b.writeUInt32LE(frame.length, at + 12);
    at += 16;
    if (frame.length > BUFFER_BYTES - 16) {
      // Larger than the buffer (no Ethernet frame is): its header, then the frame itself.
      this.n = at;
      this.flush();
      this.out(frame, frame.length);
      return;
    }
    b.set(frame, at);
    this.n = at + frame.length;
  }

  /** Writes out what is buffered. */
  flush(): void {
    const n = this.n;
    this.n = 0;
    if (n > 0) this.out(this.buf, n);
  }

  private out(bytes: Uint8Array, length: number): void {
    if (this.error !== null) return;
    try {
      let off = 0;
      while (off < length) off += fs.writeSync(this.fd, bytes, off, length - off);
    } catch (e) {
      this.error = e as NodeJS.ErrnoException;
    }
  }

  /** Flushes and closes the file (once); an error closing it is kept in `error` too. */
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    try {
      fs.closeSync(this.fd);
    } catch (e) {
      if (this.error === null) this.error = e as NodeJS.ErrnoException;
    }
    this.fd = -1;
  }
}
