/**
 * The NE2000 / RTL8029AS at the register level, from the DP8390D and RTL8029AS
 * datasheets, including the hostile programming behind past QEMU advisories
 * (ring pointers outside the ring or the card, 32-bit access at the end of RAM).
 */
import seedrandom from 'seedrandom';
import { Clock } from './clock';
import { Ne2000 } from './ne2000';
import {
  ISR_PRX, ISR_PTX, ISR_OVW, ISR_RDC, ISR_RST, ISR_TXE, CR, DATA, CR_PAGE1, CR_STA, CR_STP, RD_ABORT, RD_READ, RD_WRITE,
  P0_DCR, P0_RBCR0, P0_RBCR1, P0_RCR, P0_TCR, P0_TPSR, P0_PSTART, P0_BNRY, P0_PSTOP, P0_ISR, P0_IMR, P0_RSAR0, P0_RSAR1, P1_PAR0, P1_CURR, offsetOf,
} from './ne2000-regs';

const MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

function card(pci = false) {
  const clock = new Clock(2e9);
  const nic = new Ne2000(clock, { mac: MAC, pci });
  const sent: Uint8Array[] = [];
  const logs: string[] = [];
  let irq = false;
  nic.port = { send: (f) => sent.push(f.slice()) }; // a lent frame (EthernetPort): keep a copy
  nic.onIrq = (l) => { irq = l; };
  nic.onLog = (m) => logs.push(m);
  // A register by its page-qualified name (ne2000-regs.ts; its page must be selected): the port is its offset.
  const w = (reg: number, v: number) => nic.write(offsetOf(reg), 1, v);
  const r = (reg: number) => nic.read(reg, 1);
  return { clock, nic, sent, logs, w, r, irq: () => irq };
}

/** The usual driver bring-up (as Linux's 8390.c NS8390_init does it): ring at pages 0x46-0x80, TX at 0x40. */
function init(c: ReturnType<typeof card>) {
  const { w } = c;
  w(CR, CR_STP | RD_ABORT); // page 0, stop, abort DMA
  w(P0_DCR, 0x49); // word transfer, normal, FIFO threshold
  w(P0_RBCR0, 0); w(P0_RBCR1, 0);
  w(P0_RCR, 0x04); // accept broadcast
  w(P0_TCR, 0x02); // internal loopback during setup
  w(P0_TPSR, 0x40);
  w(P0_PSTART, 0x46); w(P0_BNRY, 0x46); w(P0_PSTOP, 0x80);
  w(P0_ISR, 0xff); w(P0_IMR, 0x3f); // clear ISR, unmask
  w(CR, CR_PAGE1 | CR_STP | RD_ABORT);
  for (let i = 0; i < 6; i++) w(P1_PAR0 + i, MAC[i]);
  w(P1_CURR, 0x47); // PSTART + 1
  w(CR, CR_STA | RD_ABORT); // page 0, start
  w(P0_TCR, 0x00); // normal
}

function remoteWrite(c: ReturnType<typeof card>, addr: number, data: Uint8Array) {
  const { w, nic } = c;
  w(P0_RBCR0, data.length & 0xff); w(P0_RBCR1, data.length >> 8);
  w(P0_RSAR0, addr & 0xff); w(P0_RSAR1, addr >> 8);
  w(CR, RD_WRITE | CR_STA);
  for (let i = 0; i < data.length; i += 2) nic.write(DATA, 2, data[i] | ((data[i + 1] ?? 0) << 8));
}

function remoteRead(c: ReturnType<typeof card>, addr: number, len: number, size = 2): number[] {
  const { w, nic } = c;
  w(P0_RBCR0, len & 0xff); w(P0_RBCR1, len >> 8);
  w(P0_RSAR0, addr & 0xff); w(P0_RSAR1, addr >> 8);
  w(CR, RD_READ | CR_STA);
  const out: number[] = [];
  for (let i = 0; i < len; i += size) {
    const v = nic.read(DATA, size);
    for (let k = 0; k < size && i + k < len; k++) out.push((v >>> (8 * k)) & 0xff);
  }
  return out;
}

function frameTo(dst: number[], len = 100, fill = 0xab): Uint8Array {
  const f = new Uint8Array(len).fill(fill);
  f.set(dst, 0);
  f.set([0x02, 0, 0, 0, 0, 1], 6);
  f[12] = 0x08; f[13] = 0x00;
  return f;
}

describe('NE2000 (DP8390)', () => {
  it('comes out of the reset port stopped, DMA aborted, ISR.RST set', () => {
    const c = card();
    c.w(0x00, 0x22);
    c.r(0x1f);
    expect(c.r(0x00)).toBe(0x21);
    expect(c.r(0x07) & ISR_RST).toBe(ISR_RST);
  });

  it('reads the station PROM by remote DMA: MAC doubled, then the 0x57 word-mode signature', () => {
    const c = card();
    c.w(0x0e, 0x48); // byte mode, as ne.c probes
    const prom = remoteRead(c, 0, 32, 1);
    expect(prom.slice(0, 12)).toEqual([0x52, 0x52, 0x54, 0x54, 0x00, 0x00, 0x12, 0x12, 0x34, 0x34, 0x56, 0x56]);
    expect(prom.slice(28, 32)).toEqual([0x57, 0x57, 0x57, 0x57]);
  });

  it('moves a whole word per data-port access in word mode, whatever its width: a byte read gets the low byte (how ne2k-pci reads the PROM)', () => {
    const c = card(true);
    // Linux ne2k-pci's probe: word mode, a 32-byte remote read of the PROM, 32 byte reads.
    c.w(CR, CR_STP | RD_ABORT);
    c.w(P0_DCR, 0x49);
    c.w(P0_RBCR0, 32); c.w(P0_RBCR1, 0); c.w(P0_RSAR0, 0); c.w(P0_RSAR1, 0);
    c.w(CR, CR_STA | RD_READ);
    const sa = Array.from({ length: 32 }, () => c.nic.read(DATA, 1));
    expect(sa.slice(0, 6)).toEqual(Array.from(MAC));
    expect(sa.slice(14, 16)).toEqual([0x57, 0x57]); // PROM bytes 14-15: the word-mode signature
    expect(sa.slice(16)).toEqual(new Array(16).fill(0xff)); // RBCR ran out after 16 words
    expect(c.r(P0_ISR) & ISR_RDC).toBe(ISR_RDC);
    // A byte write in word mode writes a word, its high byte zero; a 32-bit access moves four bytes.
    c.w(P0_ISR, 0xff);
    c.w(P0_RBCR0, 6); c.w(P0_RBCR1, 0); c.w(P0_RSAR0, 0x00); c.w(P0_RSAR1, 0x40);
    c.w(CR, CR_STA | RD_WRITE);
    c.nic.write(DATA, 1, 0x1234);
    c.nic.write(DATA, 4, 0x89abcdef);
    expect(c.r(P0_ISR) & ISR_RDC).toBe(ISR_RDC);
    expect(remoteRead(c, 0x4000, 6)).toEqual([0x34, 0x00, 0xef, 0xcd, 0xab, 0x89]);
  });

  it('moves data through remote write and read in word mode, and sets RDC at count zero', () => {
    const c = card();
    init(c);
    const data = Uint8Array.from({ length: 64 }, (_, i) => i * 3);
    remoteWrite(c, 0x4000, data);
    expect(c.r(0x07) & ISR_RDC).toBe(ISR_RDC);
    c.w(0x07, ISR_RDC);
    expect(remoteRead(c, 0x4000, 64)).toEqual(Array.from(data));
  });

  it('completes a zero-count remote DMA at once', () => {
    const c = card();
    init(c);
    c.w(0x07, 0xff);
    c.w(0x0a, 0); c.w(0x0b, 0);
    c.w(0x00, 0x12);
    expect(c.r(0x07) & ISR_RDC).toBe(ISR_RDC);
  });

  it('transmits TBCR bytes from TPSR after the frame\'s 10 Mbit/s wire time, then PTX', () => {
    const c = card();
    init(c);
    const f = frameTo([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 100);
    remoteWrite(c, 0x4000, f);
    c.w(0x07, 0xff);
    c.w(0x05, 100); c.w(0x06, 0);
    c.w(0x00, 0x26); // start + transmit
    expect(c.sent).toHaveLength(0);
    // (8 preamble + 100 + 4 FCS + 12 gap) bytes at 0.8 µs each = 99.2 µs = 198400 cycles
    c.clock.advanceTo(198399);
    expect(c.sent).toHaveLength(0);
    c.clock.advanceTo(198400);
    expect(Array.from(c.sent[0])).toEqual(Array.from(f));
    expect(c.r(0x07) & ISR_PTX).toBe(ISR_PTX);
    expect(c.r(0x00) & 0x04).toBe(0);
    expect(c.irq()).toBe(true);
  });

  it('stores a unicast frame at CURR with the 4-byte header and advances CURR', () => {
    const c = card();
    init(c);
    const f = frameTo(Array.from(MAC), 300);
    expect(c.nic.receive(f)).toBe(true);
    const hdr = remoteRead(c, 0x4700, 4);
    expect(hdr).toEqual([0x01, 0x49, (304) & 0xff, 304 >> 8]); // status, next page, length incl. header
    c.w(0x00, 0x62);
    expect(c.r(0x07)).toBe(0x49);
    c.w(0x00, 0x22);
    expect(c.r(0x07) & ISR_PRX).toBe(ISR_PRX);
    expect(remoteRead(c, 0x4704, 300)).toEqual(Array.from(f));
  });

  it('wraps frame data from PSTOP back to PSTART', () => {
    const c = card();
    init(c);
    c.w(0x00, 0x62); c.w(0x07, 0x7f); c.w(0x00, 0x22); // CURR at the last page
    c.w(0x03, 0x50); // BNRY well away
    const f = frameTo(Array.from(MAC), 600, 0x5a);
    expect(c.nic.receive(f)).toBe(true);
    const hdr = remoteRead(c, 0x7f00, 4);
    expect(hdr[1]).toBe(0x46 + 2); // 604 bytes = 3 pages: 0x7f, 0x46, 0x47
    expect(remoteRead(c, 0x4600, 4)).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
  });

  it('filters: broadcast needs AB, multicast needs AM and its MAR bit, PRO takes all', () => {
    const c = card();
    init(c);
    const other = frameTo([0x02, 9, 9, 9, 9, 9]);
    const bcast = frameTo([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const mcast = frameTo([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
    expect(c.nic.receive(other)).toBe(false);
    expect(c.nic.receive(bcast)).toBe(true);
    expect(c.nic.receive(mcast)).toBe(false);
    c.w(0x0c, 0x0c); // AB | AM, MAR all zero
    expect(c.nic.receive(mcast)).toBe(false);
    c.w(0x00, 0x62);
    for (let i = 8; i < 16; i++) c.w(i, 0xff);
    c.w(0x00, 0x22);
    expect(c.nic.receive(mcast)).toBe(true);
    c.w(0x0c, 0x10); // promiscuous
    expect(c.nic.receive(other)).toBe(true);
  });

  it('signals overwrite warning and drops the frame when the ring is full', () => {
    const c = card();
    init(c);
    c.w(0x03, 0x49); // BNRY two pages ahead of CURR (0x47): room for one page only
    expect(c.nic.receive(frameTo(Array.from(MAC), 300))).toBe(false);
    expect(c.r(0x07) & ISR_OVW).toBe(ISR_OVW);
    expect(c.nic.dropped).toBe(1);
  });

  it('refuses to receive into a ring with PSTART >= PSTOP or CURR outside it, and logs it', () => {
    for (const [pstart, pstop, curr] of [[0x60, 0x60, 0x60], [0x70, 0x50, 0x71], [0x46, 0x80, 0x90], [0x10, 0x20, 0x11], [0x46, 0xff, 0x47]]) {
      const c = card();
      init(c);
      c.w(0x01, pstart); c.w(0x02, pstop);
      c.w(0x00, 0x62); c.w(0x07, curr); c.w(0x00, 0x22);
      expect(c.nic.receive(frameTo(Array.from(MAC)))).toBe(false);
      expect(c.logs.join()).toMatch(/receive refused/);
    }
  });

  it('keeps a 32-bit data-port access at the end of card RAM inside the card (no overrun)', () => {
    const c = card(true);
    init(c);
    // Four bytes from 0x7ffe with the ring ending below (no wrap): two land in RAM, two
    // past its end go nowhere, nothing else is touched.
    c.w(0x02, 0x60);
    const before = c.nic.state.mem.slice();
    c.w(0x0a, 4); c.w(0x0b, 0); c.w(0x08, 0xfe); c.w(0x09, 0x7f);
    c.w(0x00, 0x12);
    c.nic.write(0x10, 4, 0x11223344);
    const after = c.nic.state.mem;
    expect(after[0x3ffe]).toBe(0x44);
    expect(after[0x3fff]).toBe(0x33);
    expect(after.slice(0, 0x3ffe)).toEqual(before.slice(0, 0x3ffe));
  });

  it('refuses a transmit of zero or more than 1514 bytes with TXE, and sends nothing', () => {
    for (const len of [0, 1515, 0xffff]) {
      const c = card();
      init(c);
      c.w(0x07, 0xff);
      c.w(0x05, len & 0xff); c.w(0x06, len >> 8);
      c.w(0x00, 0x26);
      c.clock.advanceTo(1e9);
      expect(c.sent).toHaveLength(0);
      expect(c.r(0x07) & ISR_TXE).toBe(ISR_TXE);
    }
  });

  it('pads a short transmit to the 60-byte minimum', () => {
    const c = card();
    init(c);
    remoteWrite(c, 0x4000, frameTo([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 42));
    c.w(0x05, 42); c.w(0x06, 0);
    c.w(0x00, 0x26);
    c.clock.advanceTo(1e9);
    expect(c.sent[0].length).toBe(60);
    expect(Array.from(c.sent[0].subarray(42))).toEqual(new Array(18).fill(0));
  });

  it('transmits from the last pages of card RAM, with open bus (0xff) past its end', () => {
    const c = card();
    init(c);
    const data = Uint8Array.from({ length: 512 }, (_, i) => (i * 13 + 1) & 0xff);
    remoteWrite(c, 0x7e00, data);
    for (const len of [512, 600]) {
      c.w(0x04, 0x7e); // TPSR
      c.w(0x05, len & 0xff); c.w(0x06, len >> 8);
      c.w(0x00, 0x26);
      c.clock.advanceTo(c.clock.now + 1e9);
    }
    expect(Array.from(c.sent[0])).toEqual(Array.from(data));
    expect(Array.from(c.sent[1])).toEqual([...data, ...new Array(88).fill(0xff)]);
  });

  it('identifies as an RTL8029 in page 0 registers 0x0A/0x0B on PCI only', () => {
    expect([card(true).r(0x0a), card(true).r(0x0b)]).toEqual([0x50, 0x43]);
    expect(card(false).r(0x0a)).toBe(0xff);
  });

  it('saves and restores its whole state, buffer RAM included', () => {
    const c = card();
    init(c);
    c.nic.receive(frameTo(Array.from(MAC), 200));
    const saved = c.nic.save();
    c.r(0x1f); // reset
    remoteWrite(c, 0x4700, new Uint8Array(16));
    c.nic.restore(saved);
    expect(c.nic.state.CURR).toBe(0x48);
    expect(remoteRead(c, 0x4704, 6)).toEqual(Array.from(MAC));
  });
});

describe('NE2000 data port blocks (REP INS/OUTS in one call)', () => {
  // A block must do exactly what the same accesses one by one do: the caller makes the
  // ones the block did not. Random remote DMA set-ups around the awkward places: the
  // PSTOP wrap, the ends of the buffer RAM and of the PROM, odd byte counts, byte mode.
  const rng = seedrandom('ne2000-blocks');
  const int = (n: number) => Math.floor(rng() * n);
  function setUp(seed: number) {
    const c = card(true);
    init(c);
    const { w } = c;
    const r2 = seedrandom(`case-${seed}`);
    const pick = <T,>(xs: T[]) => xs[Math.floor(r2() * xs.length)];
    for (let i = 0; i < 0x4000; i++) c.nic.state.mem[i] = (i * 131 + seed) & 0xff;
    w(0x0e, pick([0x48, 0x49])); // DCR: byte or word transfers
    const pstart = pick([0x46, 0x40, 0x60, 0x80]), pstop = pick([0x80, 0x60, 0x46, 0x7f]);
    w(0x01, pstart); w(0x02, pstop);
    const rsar = pick([0x4000, 0x5ffe, 0x7f00, 0x7ffd, 0x0010, 0x3ff0, pstop << 8, (pstop << 8) - 3, 0xfff0, Math.floor(r2() * 0x10000)]);
    const rbcr = pick([0, 1, 2, 3, 600, 1514, 1515, Math.floor(r2() * 5000)]);
    w(0x08, rsar & 0xff); w(0x09, rsar >> 8); w(0x0a, rbcr & 0xff); w(0x0b, rbcr >> 8);
    const mode = pick([0x0a, 0x12, 0x1a]); // remote read, remote write, send packet
    w(0x00, mode);
    w(0x07, 0xff); // ISR clear
    return { c, mode };
  }
  it('matches element-by-element accesses for reads and writes, sizes 1, 2 and 4, over 3000 random cases', () => {
    const failures: string[] = [];
    for (let n = 0; n < 3000 && failures.length < 5; n++) {
      const size = [1, 2, 4][int(3)];
      const count = 1 + int(1200);
      const src = Uint8Array.from({ length: count * size + 8 }, (_, i) => (i * 7 + n) & 0xff);
      const outcome = (block: boolean) => {
        const { c, mode } = setUp(n);
        const write = mode === 0x12;
        const dst = new Uint8Array(count * size + 8);
        let irqs = 0;
        c.nic.onIrq = () => { irqs++; };
        let done = 0;
        if (block) done = write ? c.nic.writeBlock(0x10, size, src, 4, count) : c.nic.readBlock(0x10, size, dst, 4, count);
        for (let i = done; i < count; i++) {
          const p = 4 + i * size;
          if (write) c.nic.write(0x10, size, src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24));
          else { const v = c.nic.read(0x10, size); for (let b = 0; b < size; b++) dst[p + b] = v >> (8 * b); }
        }
        const st = c.nic.save();
        return JSON.stringify({ ...st, mem: Buffer.from(st.mem).toString('base64'), dst: Buffer.from(dst).toString('base64'), irqs, logs: c.logs.length, done: block ? done > 0 : null });
      };
      const one = outcome(false);
      const blk = outcome(true);
      if (JSON.stringify({ ...JSON.parse(one), done: null }) !== JSON.stringify({ ...JSON.parse(blk), done: null })) failures.push(`case ${n} size ${size} count ${count}`);
    }
    expect(failures).toEqual([]);
  });
});
