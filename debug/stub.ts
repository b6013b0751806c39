/**
 * What gdb's remote packets mean for a machine here: registers, memory, breakpoints,
 * watchpoints, threads (one a VM), and the requests to run or step, which the caller
 * (debug/session.ts) carries out. Nothing here runs the machine or touches a socket:
 * `handle` takes a packet's data and says what to answer and what to do, so the
 * protocol is tested without gdb (debug/stub.test.ts) and with it (test/gdb.test.ts).
 *
 * Packets follow gdb's manual ("Packets", "General Query Packets", "Stop Reply
 * Packets"). Anything not known gets the empty reply, which tells gdb the packet is not
 * supported; a malformed one gets `E01`-style errors: gdb shows them and goes on.
 */
import { fromHex, hexNumber, textToHex, toHex, unescapeBinary } from './rsp';

/** The machine as the debugger sees it: a thread per guest CPU. */
export interface DebugTarget {
  /** Thread ids, from 1: the bare machine's CPU, or VM n's as thread n + 1. */
  threads(): number[];
  /** A line for `info threads`. */
  describe(thread: number): string;
  /** The registers in the order of TARGET_XML, little-endian. */
  registers(thread: number): Uint8Array;
  /** Sets register `n` (TARGET_XML's numbering) from its bytes; false when it cannot be set that way. */
  setRegister(thread: number, n: number, value: Uint8Array): boolean;
  /** Bytes at a linear address through the thread's page tables, up to the first that is not mapped. */
  readMemory(thread: number, addr: number, length: number): Uint8Array;
  /** Writes bytes at a linear address; false (nothing written) if any is not mapped to RAM. */
  writeMemory(thread: number, addr: number, bytes: Uint8Array): boolean;
  /** Bytes of guest-physical memory, up to the end of RAM. */
  readPhysical(thread: number, addr: number, length: number): Uint8Array;
  /** Writes guest-physical memory; false (nothing written) if any byte is past RAM. */
  writePhysical(thread: number, addr: number, bytes: Uint8Array): boolean;
  /** Lines for `monitor info` (the cycle count and such). */
  info(): string[];
}

export enum WatchKind { Write = 2, Read = 3, Access = 4 }
export interface Watchpoint { kind: WatchKind; addr: number; length: number }

/** What the caller must do after a packet. */
export type Action =
  | { kind: 'reply'; text: string }
  /** Run (step: one instruction of `thread`) until a stop; then send stopReply(). */
  | { kind: 'resume'; step: boolean; thread: number }
  /** Go backwards (bs: one instruction; bc: to the last breakpoint or watchpoint hit), then send the stop reply. */
  | { kind: 'reverse'; step: boolean }
  /** Reply, then end the session (D) or the run (k). */
  | { kind: 'detach'; text: string }
  | { kind: 'kill' };

/** The registers gdb reads: its i386 core feature (general, segment, x87), in `g` order. */
export const REGISTERS: readonly { name: string; bytes: number; type: string; group?: string }[] = [
  ...['eax', 'ecx', 'edx', 'ebx'].map((name) => ({ name, bytes: 4, type: 'int32' })),
  { name: 'esp', bytes: 4, type: 'data_ptr' }, { name: 'ebp', bytes: 4, type: 'data_ptr' },
  { name: 'esi', bytes: 4, type: 'int32' }, { name: 'edi', bytes: 4, type: 'int32' },
  { name: 'eip', bytes: 4, type: 'code_ptr' }, { name: 'eflags', bytes: 4, type: 'i386_eflags' },
  ...['cs', 'ss', 'ds', 'es', 'fs', 'gs'].map((name) => ({ name, bytes: 4, type: 'int32' })),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ name: `st${i}`, bytes: 10, type: 'i387_ext' })),
  ...['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'].map((name) => ({ name, bytes: 4, type: 'int', group: 'float' })),
];

/** EFLAGS' bits by name (SDM vol. 1, 3.4.3), for gdb's `info registers eflags`. */
const EFLAGS_BITS: readonly [string, number][] = [
  ['CF', 0], ['', 1], ['PF', 2], ['AF', 4], ['ZF', 6], ['SF', 7], ['TF', 8], ['IF', 9], ['DF', 10], ['OF', 11],
  ['NT', 14], ['RF', 16], ['VM', 17], ['AC', 18], ['VIF', 19], ['VIP', 20], ['ID', 21],
];

/** The target description gdb asks for (qXfer:features:read:target.xml). */
export const TARGET_XML = '<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target version="1.0">\n' +
  '<architecture>i386</architecture>\n<feature name="org.gnu.gdb.i386.core">\n' +
  `<flags id="i386_eflags" size="4">\n${EFLAGS_BITS.map(([n, b]) => `<field name="${n}" start="${b}" end="${b}"/>`).join('\n')}\n</flags>\n` +
  REGISTERS.map((r, i) => `<reg name="${r.name}" bitsize="${r.bytes * 8}" type="${r.type}" regnum="${i}"${r.group ? ` group="${r.group}"` : ''}/>`).join('\n') +
  '\n</feature>\n</target>\n';

/** The most bytes one `m` packet returns (PacketSize's hex takes twice as many characters). */
const MAX_READ = 0x1800;

export class GdbStub {
  /** Breakpoints (software and hardware alike: both stop before the instruction at a linear address). */
  readonly breakpoints = new Set<number>();
  readonly watchpoints: Watchpoint[] = [];
  /** The thread register and memory packets act on (Hg), and the one a step runs (Hc). */
  private gThread = 1;
  private cThread = -1;
  /** QStartNoAckMode was agreed: no + or - from here on. */
  noAck = false;
  /** The thread the last stop was in, for `?`. */
  lastStop = 'S05';

  /** Whether the session can go backwards (bs, bc): it says so in qSupported. */
  reverse = false;

  /** `monitor save FILE`: saves a snapshot of the machine, and says what became of it (null: not offered). */
  save: ((file: string) => string) | null = null;

  constructor(private readonly target: DebugTarget) {}

  handle(data: string): Action {
    const reply = (text: string): Action => ({ kind: 'reply', text });
    const t = this.target;
    const cmd = data[0] ?? '';
    switch (cmd) {
      case '?': return reply(this.lastStop);
      case 'g': return reply(toHex(t.registers(this.current())));
      case 'G': {
        const bytes = fromHex(data.slice(1));
        if (bytes === null) return reply('E01');
        const now = t.registers(this.current());
        let at = 0;
        for (let n = 0; n < REGISTERS.length && at < bytes.length; n++) {
          const len = REGISTERS[n].bytes;
          const v = bytes.subarray(at, at + len);
          if (v.length === len && !sameBytes(v, now.subarray(at, at + len)) && !t.setRegister(this.current(), n, v)) return reply('E02');
          at += len;
        }
        return reply('OK');
      }
      case 'p': {
        const n = hexNumber(data.slice(1));
        if (n === null || n >= REGISTERS.length) return reply('E01');
        const all = t.registers(this.current());
        const at = REGISTERS.slice(0, n).reduce((s, r) => s + r.bytes, 0);
        return reply(toHex(all.subarray(at, at + REGISTERS[n].bytes)));
      }
      case 'P': {
        const [num, val] = data.slice(1).split('=');
        const n = hexNumber(num ?? '');
        const bytes = fromHex(val ?? '');
        if (n === null || n >= REGISTERS.length || bytes === null || bytes.length !== REGISTERS[n].bytes) return reply('E01');
        return reply(t.setRegister(this.current(), n, bytes) ? 'OK' : 'E02');
      }
      case 'm': {
        const [a, l] = data.slice(1).split(',');
        const addr = hexNumber(a ?? ''), length = hexNumber(l ?? '');
        if (addr === null || length === null) return reply('E01');
        const bytes = t.readMemory(this.current(), addr, Math.min(length, MAX_READ));
        return reply(bytes.length === 0 && length > 0 ? 'E14' : toHex(bytes));
      }
      case 'M': case 'X': {
        const colon = data.indexOf(':');
        const [a, l] = data.slice(1, colon < 0 ? undefined : colon).split(',');
        const addr = hexNumber(a ?? ''), length = hexNumber(l ?? '');
        if (colon < 0 || addr === null || length === null) return reply('E01');
        const bytes = cmd === 'M' ? fromHex(data.slice(colon + 1)) : unescapeBinary(data.slice(colon + 1));
        if (bytes === null || bytes.length !== length) return reply('E01');
        if (length === 0) return reply('OK'); // gdb's probe for X
        return reply(t.writeMemory(this.current(), addr, bytes) ? 'OK' : 'E14');
      }
      case 'Z': case 'z': return reply(this.point(cmd === 'Z', data.slice(1)));
      case 'c': case 's': {
        if (data.length > 1) return reply('E01'); // resuming at another address: not supported (gdb uses P eip first)
        return { kind: 'resume', step: cmd === 's', thread: this.cThread > 0 ? this.cThread : this.current() };
      }
      case 'b':
        if (data === 'bs' || data === 'bc') return this.reverse ? { kind: 'reverse', step: data === 'bs' } : reply('E01');
        return reply('');
      case 'v': return this.vPacket(data);
      case 'H': {
        const id = data.slice(2) === '-1' ? -1 : hexNumber(data.slice(2));
        if (id === null || (id !== -1 && id !== 0 && !t.threads().includes(id))) return reply('E01');
        if (data[1] === 'g') this.gThread = id <= 0 ? t.threads()[0] : id;
        else if (data[1] === 'c') this.cThread = id;
        else return reply('E01');
        return reply('OK');
      }
      case 'T': {
        const id = hexNumber(data.slice(1));
        return reply(id !== null && t.threads().includes(id) ? 'OK' : 'E01');
      }
      case 'q': case 'Q': return reply(this.query(data));
      case 'D': return { kind: 'detach', text: 'OK' };
      case 'k': return { kind: 'kill' };
      default: return reply('');
    }
  }

  /** The stop reply for a stop in `thread`: 5 (SIGTRAP) after a step, a breakpoint or a watchpoint, 2 (SIGINT) after Ctrl-C. */
  stopReply(signal: number, thread: number, why: string): string {
    this.gThread = thread;
    this.lastStop = `T${signal.toString(16).padStart(2, '0')}thread:${thread.toString(16)};${why}`;
    return this.lastStop;
  }

  /** The thread `g`, `m` and the others act on. */
  current(): number {
    return this.target.threads().includes(this.gThread) ? this.gThread : this.target.threads()[0];
  }

  private point(insert: boolean, args: string): string {
    const [type, a, k] = args.split(',');
    const addr = hexNumber(a ?? ''), kind = hexNumber((k ?? '').split(';')[0]);
    if (addr === null || kind === null) return 'E01';
    if (type === '0' || type === '1') {
      if (insert) this.breakpoints.add(addr); else this.breakpoints.delete(addr);
      return 'OK';
    }
    // Write (2), read (3) and access (4) watchpoints.
    if (type === '2' || type === '3' || type === '4') {
      if (kind < 1 || kind > 4096) return 'E01';
      const w = Number(type) as WatchKind;
      const i = this.watchpoints.findIndex((x) => x.kind === w && x.addr === addr && x.length === kind);
      if (insert && i < 0) this.watchpoints.push({ kind: w, addr, length: kind });
      if (!insert && i >= 0) this.watchpoints.splice(i, 1);
      return 'OK';
    }
    return '';
  }

  private vPacket(data: string): Action {
    if (data === 'vCont?') return { kind: 'reply', text: 'vCont;c;C;s;S' };
    if (data.startsWith('vCont;')) {
      // The first action that names a thread (or all) decides: we run all VMs together
      // and step one thread; signals to deliver (C, S) are ignored, as a hardware probe does.
      for (const part of data.slice(6).split(';')) {
        const [act, id] = part.split(':');
        const thread = id === undefined || id === '-1' ? this.current() : hexNumber(id);
        if (thread === null) return { kind: 'reply', text: 'E01' };
        if (act === 's' || act[0] === 'S') return { kind: 'resume', step: true, thread };
        if (act === 'c' || act[0] === 'C') return { kind: 'resume', step: false, thread };
        return { kind: 'reply', text: 'E01' };
      }
      return { kind: 'reply', text: 'E01' };
    }
    if (data === 'vMustReplyEmpty') return { kind: 'reply', text: '' };
    if (data.startsWith('vKill')) return { kind: 'kill' };
    return { kind: 'reply', text: '' };
  }

  private query(data: string): string {
    const t = this.target;
    if (data.startsWith('qSupported')) {
      return `PacketSize=4000;qXfer:features:read+;vContSupported+;QStartNoAckMode+;swbreak+;hwbreak+${this.reverse ? ';ReverseStep+;ReverseContinue+' : ''}`;
    }
    if (data === 'QStartNoAckMode') { this.noAck = true; return 'OK'; }
    if (data.startsWith('qXfer:features:read:')) {
      const [annex, range] = data.slice('qXfer:features:read:'.length).split(':');
      if (annex !== 'target.xml') return 'E00';
      const [o, l] = (range ?? '').split(',');
      const off = hexNumber(o ?? ''), len = hexNumber(l ?? '');
      if (off === null || len === null) return 'E01';
      const part = TARGET_XML.slice(off, off + len);
      return (off + len >= TARGET_XML.length ? 'l' : 'm') + part;
    }
    if (data === 'qAttached') return '1';
    if (data === 'qC') return `QC${this.current().toString(16)}`;
    if (data === 'qfThreadInfo') return 'm' + t.threads().map((n) => n.toString(16)).join(',');
    if (data === 'qsThreadInfo') return 'l';
    if (data.startsWith('qThreadExtraInfo,')) {
      const id = hexNumber(data.slice(17));
      return id !== null && t.threads().includes(id) ? textToHex(t.describe(id)) : 'E01';
    }
    if (data === 'qOffsets') return 'Text=0;Data=0;Bss=0';
    if (data === 'qSymbol::') return 'OK';
    if (data.startsWith('qRcmd,')) {
      const cmd = fromHex(data.slice(6));
      return cmd === null ? 'E01' : this.monitor(Buffer.from(cmd).toString('utf8').trim());
    }
    return '';
  }

  /**
   * `monitor` commands: `info` (the machine's figures), `phys ADDR [LEN]` (guest-physical
   * memory as hex bytes, 16 a line), `physwrite ADDR HEXBYTES`, `help`.
   */
  private monitor(cmd: string): string {
    const words = cmd.split(/\s+/);
    const out = (lines: string[]) => textToHex(lines.map((l) => l + '\n').join(''));
    if (words[0] === 'info') return out(this.target.info());
    if (words[0] === 'phys') {
      const addr = parseNumber(words[1]), len = words[2] === undefined ? 16 : parseNumber(words[2]);
      if (addr === null || len === null || len < 1 || len > 4096) return out(['usage: monitor phys ADDRESS [LENGTH], LENGTH 1..4096 (numbers in C notation: 0x1000, 4096)']);
      const bytes = this.target.readPhysical(this.current(), addr, len);
      const lines: string[] = [];
      for (let i = 0; i < bytes.length; i += 16) {
        lines.push(`${(addr + i).toString(16).padStart(8, '0')}: ${Array.from(bytes.subarray(i, i + 16), (b) => b.toString(16).padStart(2, '0')).join(' ')}`);
      }
      if (bytes.length < len) lines.push(`(end of RAM at 0x${(addr + bytes.length).toString(16)})`);
      return out(lines);
    }
    if (words[0] === 'save') {
      const file = cmd.slice(4).trim();
      if (this.save === null) return out(['monitor save is not offered in this run']);
      if (file === '') return out(['usage: monitor save FILE (a snapshot, for vpio run --restore FILE)']);
      return out([this.save(file)]);
    }
    if (words[0] === 'physwrite') {
      const addr = parseNumber(words[1]);
      const bytes = fromHex((words[2] ?? '').replace(/^0x/i, ''));
      if (addr === null || bytes === null || bytes.length === 0 || words.length > 3) {
        return out(['usage: monitor physwrite ADDRESS HEXBYTES (physwrite 0x1000 90909090)']);
      }
      return out([this.target.writePhysical(this.current(), addr, bytes) ? `${bytes.length} bytes written at 0x${addr.toString(16)}` : 'not written: the bytes run past the end of RAM']);
    }
    return out(['monitor commands: info (cycles, instructions, where each thread is), phys ADDRESS [LENGTH] (read guest-physical memory), physwrite ADDRESS HEXBYTES (write it), save FILE (a snapshot of the machine, for vpio run --restore), help']);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A number in C notation (0x.. hex, else decimal) of at most 32 bits, or null. */
function parseNumber(s: string | undefined): number | null {
  if (s === undefined) return null;
  const v = /^0x[0-9a-f]{1,8}$/i.test(s) ? parseInt(s, 16) : /^[0-9]{1,10}$/.test(s) ? Number(s) : NaN;
  return Number.isFinite(v) && v <= 0xffffffff ? v : null;
}
