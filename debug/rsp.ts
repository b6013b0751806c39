/**
 * The GDB remote serial protocol's framing (gdb's manual, "Remote Protocol": Overview,
 * Packets, Interrupts): packets `$data#cc` (cc the sum of data's bytes mod 256 in hex),
 * acknowledged with `+` or refused with `-`; in data, `#`, `$`, `}` and `*` are escaped as
 * `}` then the byte XOR 0x20, and a debugger may run-length encode (`x*n`: n - 29 more
 * copies of x) what it sends; a lone 0x03 outside a packet is an interrupt (Ctrl-C).
 * Nothing here knows the machine: see debug/stub.ts for what the packets mean.
 */

/** What the bytes from the debugger amounted to. */
export type Incoming =
  | { kind: 'packet'; data: string }
  /** A packet whose checksum did not match: answer `-` and it is sent again. */
  | { kind: 'corrupt' }
  | { kind: 'interrupt' }
  | { kind: 'ack' }
  | { kind: 'nak' };

/** The longest packet accepted; longer input is dropped as corrupt (a debugger never sends one: we say PacketSize). */
export const MAX_PACKET = 0x4000;

/**
 * Splits the byte stream from the debugger into packets, acknowledgements and
 * interrupts, whatever the chunks it arrives in. Bytes between packets that mean nothing
 * are skipped, as gdbserver does.
 */
export class PacketReader {
  private state: 'idle' | 'data' | 'sum1' | 'sum2' = 'idle';
  private data: number[] = [];
  private sum = 0;
  private given = 0;
  private tooLong = false;

  feed(bytes: Uint8Array, out: Incoming[]): void {
    for (const b of bytes) {
      switch (this.state) {
        case 'idle':
          if (b === 0x24) { this.state = 'data'; this.data = []; this.sum = 0; this.tooLong = false; }
          else if (b === 0x03) out.push({ kind: 'interrupt' });
          else if (b === 0x2b) out.push({ kind: 'ack' });
          else if (b === 0x2d) out.push({ kind: 'nak' });
          break;
        case 'data':
          if (b === 0x23) { this.state = 'sum1'; break; }
          this.sum = (this.sum + b) & 0xff;
          if (this.data.length < MAX_PACKET) this.data.push(b); else this.tooLong = true;
          break;
        case 'sum1':
          this.given = hexDigit(b) << 4;
          this.state = 'sum2';
          break;
        case 'sum2': {
          this.given |= hexDigit(b);
          this.state = 'idle';
          if (this.given !== this.sum || this.tooLong) { out.push({ kind: 'corrupt' }); break; }
          const expanded = expand(this.data);
          if (expanded === null) { out.push({ kind: 'corrupt' }); break; }
          out.push({ kind: 'packet', data: expanded });
          break;
        }
      }
    }
  }
}

/** A hex digit's value, or 0x100 (which no checksum matches) for anything else. */
function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return 0x100;
}

/**
 * A packet's data with its run-length encoding undone, as a string of byte values
 * (binary data stays escaped: only X packets carry it, see unescapeBinary). Null when a
 * repeat count is malformed.
 */
function expand(data: number[]): string | null {
  let s = '';
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 0x7d && i + 1 < data.length) { // an escape: keep both bytes for unescapeBinary
      s += String.fromCharCode(b, data[++i]);
    } else if (b === 0x2a) {
      if (s.length === 0 || i + 1 >= data.length) return null;
      const n = data[++i] - 29;
      if (n < 0 || n > 97) return null;
      s += s[s.length - 1].repeat(n);
    } else {
      s += String.fromCharCode(b);
    }
  }
  if (s.length > MAX_PACKET) return null;
  return s;
}

/** A reply framed for sending: escaped, with its checksum. */
export function frame(data: string): string {
  let body = '';
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i) & 0xff;
    if (c === 0x23 || c === 0x24 || c === 0x7d || c === 0x2a) {
      body += '}' + String.fromCharCode(c ^ 0x20);
      sum += 0x7d + (c ^ 0x20);
    } else {
      body += String.fromCharCode(c);
      sum += c;
    }
  }
  return `$${body}#${(sum & 0xff).toString(16).padStart(2, '0')}`;
}

/** The bytes of an X packet's binary data (escapes undone). */
export function unescapeBinary(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x7d && i + 1 < s.length) out.push(s.charCodeAt(++i) ^ 0x20);
    else out.push(c & 0xff);
  }
  return Uint8Array.from(out);
}

/** Bytes as the protocol's hex (two lower-case digits a byte). */
export function toHex(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] & 0xff).toString(16).padStart(2, '0');
  return s;
}

/** Hex to bytes, or null if the text is not whole bytes of hex. */
export function fromHex(s: string): Uint8Array | null {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

/** A hex number of at most 8 digits (an address, a length, a register number), or null. */
export function hexNumber(s: string): number | null {
  if (!/^[0-9a-fA-F]{1,8}$/.test(s)) return null;
  return parseInt(s, 16) >>> 0;
}

/** The text as hex (qRcmd's argument and its output are hex-encoded text). */
export function textToHex(text: string): string {
  return toHex(Buffer.from(text, 'utf8'));
}
