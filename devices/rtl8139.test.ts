/**
 * The RTL8139C at the register level (RTL8139C(L) datasheet), with bus-master DMA into
 * a 64 KiB test memory whose DMA port refuses anything outside it, and the hostile
 * programming the issue lists: sizes over 1792, RBSTART/TSAD past memory, TSAD rewritten
 * in flight, C+ mode, loopback.
 */
import { Clock } from './clock';
import { Rtl8139, MAX_TX_SIZE, RX_FIFO_BYTES } from './rtl8139';
import { ISR_ROK, ISR_TOK, ISR_TER, ISR_RXOVW, ISR_RER, ISR_FOVW } from './rtl8139-regs';
import { crc32 } from './net/ethernet';

const MAC = Uint8Array.from([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);
const MEM = 1 << 16;

function card() {
  const clock = new Clock(2e9);
  const nic = new Rtl8139(clock, { mac: MAC });
  const mem = new Uint8Array(MEM);
  const outside: number[] = [];
  nic.dma = {
    read: (addr, dst) => { if (addr + dst.length > MEM) { outside.push(addr); return false; } dst.set(mem.subarray(addr, addr + dst.length)); return true; },
    write: (addr, src) => { if (addr + src.length > MEM) { outside.push(addr); return false; } mem.set(src, addr); return true; },
  };
  nic.busMaster = true;
  const sent: Uint8Array[] = [];
  const logs: string[] = [];
  let irq = false;
  nic.port = { send: (f) => sent.push(f.slice()) }; // a lent frame (EthernetPort): keep a copy
  nic.onIrq = (l) => { irq = l; };
  nic.onLog = (m) => logs.push(m);
  const r8 = (o: number) => nic.read(o, 1), r16 = (o: number) => nic.read(o, 2), r32 = (o: number) => nic.read(o, 4);
  const w8 = (o: number, v: number) => nic.write(o, 1, v), w16 = (o: number, v: number) => nic.write(o, 2, v), w32 = (o: number, v: number) => nic.write(o, 4, v);
  return { clock, nic, mem, outside, sent, logs, irq: () => irq, r8, r16, r32, w8, w16, w32 };
}

/** What a driver does to bring the card up (as Linux's rtl8139_hw_start): ring at 0x1000, 8 KiB + 16, WRAP. */
function up(c: ReturnType<typeof card>, rcr = 0x8f) {
  c.w8(0x37, 0x10); // reset
  c.w32(0x30, 0x1000);
  c.w8(0x37, 0x0c); // RE | TE
  c.w32(0x44, rcr); // WRAP | AB | AM | APM | AAP-less unless asked, 8 KiB
  c.w16(0x3c, 0xffff);
}

/** A frame from the wire, and the bus time for it to reach the ring: whether the card took it into its FIFO. */
function rx(c: ReturnType<typeof card>, f: Uint8Array): boolean {
  const took = c.nic.receive(f);
  c.clock.advanceTo(c.clock.now + c.nic.rxDmaCycles(f.length));
  return took;
}

function frame(dst: ArrayLike<number>, len = 100, fill = 0x5a): Uint8Array {
  const f = new Uint8Array(len).fill(fill);
  f.set(Array.from(dst), 0);
  f.set([0x02, 0, 0, 0, 0, 7], 6);
  return f;
}

describe('RTL8139C', () => {
  it('holds a descriptor handed over with the transmitter off, and sends it when the transmitter comes on', () => {
    const c = card();
    up(c);
    c.w8(0x37, 0x08); // receiver only
    c.mem.set(frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 80), 0x4000);
    c.w32(0x20, 0x4000);
    c.w32(0x10, 80);
    c.clock.advanceTo(c.clock.now + 1_000_000);
    expect(c.sent).toHaveLength(0);
    expect(c.r32(0x10) & (1 << 13)).toBe(0); // still the card's
    c.w8(0x37, 0x0c); // TE on
    c.clock.advanceTo(c.clock.now + 1_000_000);
    expect(c.sent).toHaveLength(1);
    expect(c.r32(0x10) & ((1 << 13) | (1 << 15))).toBe((1 << 13) | (1 << 15)); // OWN and TOK
  });

  it('comes out of reset with the receive buffer empty, descriptors owned by the host, MAC in IDR', () => {
    const c = card();
    c.nic.reset();
    expect(c.r8(0x37) & 0x01).toBe(1); // BUFE
    expect(c.r32(0x10) & (1 << 13)).toBe(1 << 13); // OWN
    expect([0, 1, 2, 3, 4, 5].map(c.r8)).toEqual(Array.from(MAC));
    expect(c.r32(0x40) & 0x7cc00000).toBe(0x74000000); // the RTL8139C's version bits
  });

  it('transmits SIZE bytes from TSAD when TSD is written with OWN clear, then sets OWN, TOK and ISR.TOK', () => {
    const c = card();
    up(c);
    const f = frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 200);
    c.mem.set(f, 0x4000);
    c.w32(0x20, 0x4000);
    c.w32(0x10, 200);
    expect(c.sent).toHaveLength(0); // not at once: DMA and the wire take time
    c.clock.advanceTo(1e9);
    expect(Array.from(c.sent[0])).toEqual(Array.from(f));
    const tsd = c.r32(0x10);
    expect(tsd & 0xe000).toBe(0xa000); // OWN and TOK
    expect(c.r16(0x3e) & ISR_TOK).toBe(ISR_TOK);
    expect(c.irq()).toBe(true);
    c.w16(0x3e, ISR_TOK); // write one to clear
    expect(c.r16(0x3e)).toBe(0);
    expect(c.irq()).toBe(false);
  });

  it('takes 100 Mbit/s wire time plus DMA time for a transmit', () => {
    const c = card();
    up(c);
    c.mem.set(frame([1, 2, 3, 4, 5, 6], 1000), 0x4000);
    c.w32(0x20, 0x4000);
    c.w32(0x10, 1000);
    const wire = ((8 + 1000 + 4 + 12) * 8 * 2e9) / 100e6; // 163840 cycles
    c.clock.advanceTo(wire);
    expect(c.sent).toHaveLength(0); // the DMA of 1000 bytes comes first
    c.clock.advanceTo(wire + 1000 / ((33e6 * 4) / 2e9) + 1);
    expect(c.sent).toHaveLength(1);
  });

  it('sends queued descriptors back to back from each completion\'s own time, however late the clock is looked at', () => {
    // A CPU in an exit moves the clock past an event before it fires (the hypervisor
    // charges the exit, then runs the timers): the card must not lose that time.
    const period = (n: number) => (((8 + n + 4 + 12) * 8 * 2e9) / 100e6) + Math.ceil(n / ((33e6 * 4) / 2e9));
    const sendTimes = (late: number) => {
      const c = card();
      up(c);
      const times: number[] = [];
      c.nic.port = { send: () => times.push(c.clock.now) };
      for (let i = 0; i < 3; i++) {
        c.mem.set(frame([1, 2, 3, 4, 5, 6], 200), 0x4000 + 0x100 * i);
        c.w32(0x20 + 4 * i, 0x4000 + 0x100 * i);
        c.w32(0x10 + 4 * i, 200);
      }
      const first = c.clock.now + period(200);
      c.clock.now = first + late; // the exit's cycles, charged before the timers run
      c.clock.advanceTo(first + late);
      c.clock.advanceTo(first + 3 * period(200) + 10);
      return { first, times, tsd: [0, 1, 2].map((i) => c.r32(0x10 + 4 * i) & 0x8000) };
    };
    const prompt = sendTimes(0), late = sendTimes(5000);
    expect(prompt.tsd).toEqual([0x8000, 0x8000, 0x8000]);
    expect(late.tsd).toEqual([0x8000, 0x8000, 0x8000]);
    // The second and third frames end where they would have: one period after the one before.
    expect(late.times.slice(1)).toEqual(prompt.times.slice(1));
    expect(prompt.times[2] - prompt.times[1]).toBeCloseTo(period(200), 0);
  });

  it('refuses transmit sizes of zero or over 1792 bytes: TER, nothing on the wire', () => {
    for (const size of [0, MAX_TX_SIZE + 1, 0x1fff]) {
      const c = card();
      up(c);
      c.w32(0x20, 0x4000);
      c.w32(0x10, size);
      c.clock.advanceTo(1e9);
      expect(c.sent).toHaveLength(0);
      expect(c.r16(0x3e) & ISR_TER).toBe(ISR_TER);
    }
  });

  it('refuses a TSAD past memory and moves nothing without the bus-master bit', () => {
    const c = card();
    up(c);
    c.w32(0x20, MEM - 10);
    c.w32(0x10, 100);
    c.clock.advanceTo(1e9);
    expect(c.sent).toHaveLength(0);
    expect(c.r16(0x3e) & ISR_TER).toBe(ISR_TER);
    const d = card();
    up(d);
    d.nic.busMaster = false;
    d.w32(0x20, 0x4000);
    d.w32(0x10, 100);
    d.clock.advanceTo(1e9);
    expect(d.sent).toHaveLength(0);
  });

  it('ignores TSAD and TSD rewrites while that descriptor transmits', () => {
    const c = card();
    up(c);
    c.mem.set(frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 100, 0x11), 0x4000);
    c.mem.set(frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 100, 0x22), 0x5000);
    c.w32(0x20, 0x4000);
    c.w32(0x10, 100);
    c.w32(0x20, 0x5000);
    c.clock.advanceTo(1e9);
    expect(c.sent[0][50]).toBe(0x11);
    expect(c.logs.join()).toMatch(/in flight/);
  });

  it('writes a received frame at CBR with the status/length header and the FCS, dword aligned', () => {
    const c = card();
    up(c);
    const f = frame(MAC, 101);
    expect(rx(c, f)).toBe(true);
    const dv = new DataView(c.mem.buffer);
    expect(dv.getUint16(0x1000, true) & 0x1001).toBe(0x1001); // ROK | PAM
    expect(dv.getUint16(0x1002, true)).toBe(105); // length counts the CRC
    expect(Array.from(c.mem.subarray(0x1004, 0x1004 + 101))).toEqual(Array.from(f));
    expect(dv.getUint32(0x1004 + 101, true)).toBe(crc32(f));
    expect(c.r16(0x3a)).toBe((4 + 105 + 3) & ~3); // CBR
    expect(c.r8(0x37) & 1).toBe(0); // not empty
    c.w16(0x38, ((4 + 105 + 3) & ~3) - 16); // the driver consumed it: CAPR = offset - 16
    expect(c.r8(0x37) & 1).toBe(1);
    expect(c.r16(0x3e) & ISR_ROK).toBe(ISR_ROK);
  });

  it('splits a frame at the ring end when WRAP is 0, and runs past it when WRAP is 1', () => {
    for (const wrap of [0, 0x80]) {
      const c = card();
      up(c, 0x0e | wrap);
      // Consume up to near the end: CBR and CAPR at 8192 - 64.
      c.nic.state.CBR = 8192 - 64;
      c.nic.state.CAPR = 8192 - 64 - 16;
      const f = frame(MAC, 200, 0x77);
      expect(rx(c, f)).toBe(true);
      if (wrap) expect(c.mem[0x1000 + 8192 + 100]).toBe(0x77);
      else expect(c.mem[0x1000 + 10]).toBe(0x77); // the rest came in at the ring's start
      expect(c.nic.state.CBR).toBe((8192 - 64 + ((4 + 204 + 3) & ~3)) % 8192);
    }
  });

  it('signals RXOVW and counts a missed packet when the ring is full', () => {
    const c = card();
    up(c);
    c.nic.state.CBR = 100;
    c.nic.state.CAPR = (100 + 50 - 16) & 0xffff; // only 50 bytes free
    expect(rx(c, frame(MAC, 100))).toBe(true); // into the FIFO; the ring has no room for it
    expect(c.nic.state.CBR).toBe(100);
    expect(c.r16(0x3e) & ISR_RXOVW).toBe(ISR_RXOVW);
    expect(c.r32(0x4c)).toBe(1);
  });

  it('refuses a receive ring past the end of memory (RER), writing nothing outside', () => {
    const c = card();
    up(c);
    c.w32(0x30, MEM - 64);
    c.w8(0x37, 0x0c);
    expect(rx(c, frame(MAC, 200))).toBe(true);
    expect(c.r16(0x3e) & ISR_RER).toBe(ISR_RER);
    expect(c.nic.state.CBR).toBe(0);
    expect(c.outside.length).toBeGreaterThan(0);
  });

  it('filters: its own address with APM, broadcast with AB, anything with AAP', () => {
    const c = card();
    up(c, 0x02); // APM only
    expect(c.nic.receive(frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(false);
    expect(c.nic.receive(frame([2, 2, 2, 2, 2, 2]))).toBe(false);
    expect(c.nic.receive(frame(MAC))).toBe(true);
    c.w32(0x44, 0x0b);
    expect(c.nic.receive(frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(true);
    c.w32(0x44, 0x01);
    expect(c.nic.receive(frame([2, 2, 2, 2, 2, 2]))).toBe(true);
  });

  it('keeps CONFIG registers read-only until 9346CR unlocks them', () => {
    const c = card();
    c.w8(0x52, 0x20);
    expect(c.r8(0x52)).toBe(0);
    c.w8(0x50, 0xc0);
    c.w8(0x52, 0x20);
    expect(c.r8(0x52)).toBe(0x20);
  });

  it('refuses C+ mode (CPCR): this is an RTL8139C', () => {
    const c = card();
    c.w16(0xe0, 0x0003);
    expect(c.logs.join()).toMatch(/C\+ mode/);
  });

  it('loops a transmit back into its own receive ring in TCR loopback, never onto the wire', () => {
    const c = card();
    up(c);
    c.w32(0x40, 0x00060000); // loopback
    const f = frame(MAC, 80);
    c.mem.set(f, 0x4000);
    c.w32(0x20, 0x4000);
    c.w32(0x10, 80);
    c.clock.advanceTo(1e9);
    expect(c.sent).toHaveLength(0);
    expect(c.r16(0x3e) & (ISR_TOK | ISR_ROK)).toBe(ISR_TOK | ISR_ROK);
    expect(c.nic.rxFifoFrames).toBe(0);
    expect(Array.from(c.mem.subarray(0x1004, 0x1004 + 80))).toEqual(Array.from(f));
  });

  it('saves and restores its state', () => {
    const c = card();
    up(c);
    rx(c, frame(MAC, 100));
    const saved = c.nic.save();
    c.w8(0x37, 0x10);
    c.nic.restore(saved);
    expect(c.r16(0x3a)).toBe(saved.CBR);
    expect(c.r32(0x30)).toBe(0x1000);
  });

  it('moves a received frame to the ring only when its bus time has passed, and raises ROK then', () => {
    const c = card();
    up(c);
    const f = frame(MAC, 1000);
    const t = c.nic.rxDmaCycles(f.length);
    // 1008 bytes (frame, header, CRC) at 33 MHz x 4 bytes on a 2 GHz clock: about 15,300 cycles.
    expect(t).toBe(Math.ceil(1008 / (132e6 / 2e9)));
    expect(c.nic.receive(f)).toBe(true);
    c.clock.advanceTo(c.clock.now + t - 1);
    expect(c.r8(0x37) & 1).toBe(1); // BUFE: nothing in the ring yet
    expect(c.r16(0x3e) & ISR_ROK).toBe(0);
    expect(c.irq()).toBe(false);
    c.clock.advanceTo(c.clock.now + 1);
    expect(c.r8(0x37) & 1).toBe(0);
    expect(c.r16(0x3e) & ISR_ROK).toBe(ISR_ROK);
    expect(c.irq()).toBe(true);
    expect(c.r16(0x3a)).toBe((4 + 1004 + 3) & ~3);
  });

  it('queues frames in its 2 KiB receive FIFO, one transfer at a time, and loses one that does not fit (FOVW, MPC)', () => {
    const c = card();
    up(c);
    const a = frame(MAC, 1200, 0x11), b = frame(MAC, 600, 0x22), big = frame(MAC, 1000, 0x33);
    const start = c.clock.now;
    expect(c.nic.receive(a)).toBe(true);
    expect(c.nic.receive(b)).toBe(true);
    expect(1208 + 608 + 1008).toBeGreaterThan(RX_FIFO_BYTES);
    expect(c.nic.receive(big)).toBe(false);
    expect(c.r16(0x3e) & ISR_FOVW).toBe(ISR_FOVW);
    expect(c.r32(0x4c)).toBe(1);
    expect(c.nic.rxFifoFrames).toBe(2);
    // The second waits for the first: both are in the ring after the two transfers, in order.
    c.clock.advanceTo(start + c.nic.rxDmaCycles(a.length));
    expect(c.nic.rxFifoFrames).toBe(1);
    expect(c.mem[0x1004]).toBe(MAC[0]);
    c.clock.advanceTo(start + c.nic.rxDmaCycles(a.length) + c.nic.rxDmaCycles(b.length) - 1);
    expect(c.nic.rxFifoFrames).toBe(1);
    c.clock.advanceTo(c.clock.now + 1);
    expect(c.nic.rxFifoFrames).toBe(0);
    const second = (4 + 1204 + 3) & ~3;
    expect(c.mem[0x1000 + second + 4 + 100]).toBe(0x22);
    expect(c.r16(0x3a)).toBe(second + ((4 + 604 + 3) & ~3));
  });

  it('loses what its FIFO held when the receiver is turned off, reset, or another context is restored', () => {
    for (const how of ['re-off', 'reset', 'restore'] as const) {
      const c = card();
      up(c);
      const saved = c.nic.save();
      expect(c.nic.receive(frame(MAC, 500))).toBe(true);
      if (how === 're-off') c.w8(0x37, 0x04);
      else if (how === 'reset') c.w8(0x37, 0x10);
      else c.nic.restore(saved);
      c.clock.advanceTo(c.clock.now + 1_000_000);
      expect(c.nic.rxFifoFrames).toBe(0);
      expect(c.mem[0x1004]).toBe(0); // nothing reached the ring
      expect(c.nic.dropped).toBe(1);
      if (how === 'restore') expect(c.logs.join()).toMatch(/still in the FIFO discarded/);
    }
  });

  it('stores at once, with no FIFO, when it is a virtual card (rxBusTime false)', () => {
    const c = card();
    const v = new Rtl8139(c.clock, { mac: MAC, rxBusTime: false });
    v.dma = c.nic.dma;
    v.busMaster = true;
    v.write(0x30, 4, 0x1000);
    v.write(0x37, 1, 0x0c);
    v.write(0x44, 4, 0x8f);
    expect(v.rxDmaCycles(1000)).toBe(0);
    expect(v.receive(frame(MAC, 100))).toBe(true);
    expect(v.state.CBR).toBe((4 + 104 + 3) & ~3);
  });

  describe('the registers a stock driver touches at probe and open', () => {
    /**
     * 9346CR as a driver bit-bangs the EEPROM through it (programming mode 10: EECS 0x08,
     * EESK 0x04, EEDI 0x02, EEDO 0x01), with an `addrLen`-bit address as 8139too's
     * read_eeprom sends it (location | 6 << addrLen, bits 4+addrLen down to 0).
     */
    function readEeprom(c: ReturnType<typeof card>, location: number, addrLen: number): number {
      const ENB = 0x80 | 0x08;
      c.w8(0x50, 0x80);
      c.w8(0x50, ENB);
      const cmd = location | (6 << addrLen);
      for (let i = 4 + addrLen; i >= 0; i--) {
        const d = cmd & (1 << i) ? 0x02 : 0;
        c.w8(0x50, ENB | d);
        c.w8(0x50, ENB | d | 0x04);
      }
      c.w8(0x50, ENB);
      let v = 0;
      for (let i = 0; i < 16; i++) {
        c.w8(0x50, ENB | 0x04);
        v = (v << 1) | (c.r8(0x50) & 1);
        c.w8(0x50, ENB);
      }
      c.w8(0x50, 0);
      return v;
    }

    it('reads the 93C46 through 9346CR: the 0x8129 ID only with a 6-bit address, the PCI identity, the MAC in words 7-9', () => {
      const c = card();
      expect(readEeprom(c, 0, 8)).not.toBe(0x8129); // so a driver concludes it is a 93C46
      expect(readEeprom(c, 0, 6)).toBe(0x8129);
      expect(readEeprom(c, 1, 6)).toBe(0x10ec);
      expect(readEeprom(c, 2, 6)).toBe(0x8139);
      const mac = [7, 8, 9].flatMap((w) => { const v = readEeprom(c, w, 6); return [v & 0xff, v >> 8]; });
      expect(mac).toEqual(Array.from(MAC));
      expect(c.r8(0x50) & 0xcf).toBe(0); // back in normal mode, pins low
    });

    it('reads EEDO as 0 outside programming mode, and keeps the EEPROM and 9346CR across CR.RST', () => {
      const c = card();
      c.w8(0x50, 0x80 | 0x08 | 0x01); // EEDO is read-only
      expect(c.r8(0x50)).toBe(0x88 | 1); // CS high, idle: DO floats high
      c.w8(0x50, 0xc0);
      expect(c.r8(0x50)).toBe(0xc0);
      c.w8(0x37, 0x10);
      expect(c.r8(0x50)).toBe(0xc0);
    });

    it('reloads IDR from the EEPROM on auto-load (9346CR EEM=01) and returns to normal mode', () => {
      const c = card();
      c.w32(0x00, 0x11223344);
      c.w32(0x04, 0x5566);
      expect(c.r8(0x00)).toBe(0x44);
      c.w8(0x50, 0x40);
      expect(Array.from({ length: 6 }, (_, i) => c.r8(i))).toEqual(Array.from(MAC));
      expect(c.r8(0x50)).toBe(0);
    });

    it('writes CONFIG0-5 only while 9346CR is unlocked (EEM=11)', () => {
      const c = card();
      c.w8(0x52, 0x01);
      expect(c.r8(0x52)).toBe(0);
      expect(c.logs.join()).toMatch(/locked/);
      c.w8(0x50, 0xc0);
      c.w8(0x52, 0x01);
      c.w8(0x59, 0x20);
      c.w8(0x50, 0x00);
      expect(c.r8(0x52)).toBe(0x01);
      expect(c.r8(0x59)).toBe(0x20);
    });

    it('says RTL8139C in TCR whatever is written there, and clears CLRABT itself', () => {
      const c = card();
      c.w32(0x40, 0xffffffff);
      expect((c.r32(0x40) & 0x7cc00000) >>> 0).toBe(0x74000000);
      expect(c.r32(0x40) & 1).toBe(0);
      c.w32(0x40, 0x00000001); // TxClearAbt, as 8139too writes it after an aborted transmit
      expect(c.r32(0x40) >>> 0).toBe(0x74000000);
    });

    it('reports a link with auto-negotiation done at 100 Mbit/s full duplex: BMSR, ANAR, ANLPAR, ANER, MSR', () => {
      const c = card();
      const bmsr = c.r16(0x64);
      expect(bmsr & 0x0004).toBe(0x0004); // link status
      expect(bmsr & 0x0020).toBe(0x0020); // auto-negotiation complete
      expect(c.r16(0x66)).toBe(0x01e1);
      expect(c.r16(0x66) & c.r16(0x68) & 0x0100).toBe(0x0100); // both sides do 100BASE-TX full duplex
      expect(c.r16(0x6a) & 1).toBe(1);
      expect(c.r8(0x58) & 0x0c).toBe(0); // LINKB=0 (link up), SPEED_10=0
      c.w16(0x66, 0x0061); // advertise 10 Mbit/s only
      expect(c.r16(0x66)).toBe(0x0061);
    });

    it('keeps MULINT, CSCR, NWAYTR, the PHY parameters and the wake-up frames as written', () => {
      const c = card();
      c.w16(0x5c, 0xf123);
      expect(c.r16(0x5c)).toBe(0x0123); // the top four bits are reserved
      c.w16(0x5c, c.r16(0x5c) & 0xf000); // 8139too's "no early-rx interrupts"
      expect(c.r16(0x5c)).toBe(0);
      c.w16(0x74, 0x0740); c.w16(0x70, 0x0055);
      c.w32(0x78, 0x78fa8388); c.w8(0x7c, 0xcb); c.w8(0x80, 0xa5); c.w32(0x84, 0xdeadbeef); c.w8(0xd7, 0x42);
      expect([c.r16(0x74), c.r16(0x70), c.r32(0x78) >>> 0, c.r8(0x7c), c.r8(0x80), c.r32(0x84) >>> 0, c.r8(0xd7)])
        .toEqual([0x0740, 0x0055, 0x78fa8388, 0xcb, 0xa5, 0xdeadbeef, 0x42]);
      expect(c.logs.join()).not.toMatch(/ignored/);
    });

    it('counts TCTR at the PCI clock from its last write, and raises TimeOut (ISR bit 14) once when it reaches TimerInt', () => {
      const c = card();
      c.w16(0x3c, 0x4000);
      c.w32(0x48, 0); // restart
      c.clock.advanceTo(c.clock.now + 2000); // 1 us at 2 GHz: 33 PCI clocks
      expect(c.r32(0x48)).toBe(33);
      c.w32(0x54, 330); // 10 us after the restart
      expect(c.r16(0x3e) & 0x4000).toBe(0);
      c.clock.advanceTo(c.clock.now + 17_000);
      expect(c.r16(0x3e) & 0x4000).toBe(0);
      c.clock.advanceTo(c.clock.now + 1_000);
      expect(c.r16(0x3e) & 0x4000).toBe(0x4000);
      expect(c.irq()).toBe(true);
      c.w16(0x3e, 0x4000);
      c.clock.advanceTo(c.clock.now + 1_000_000);
      expect(c.r16(0x3e) & 0x4000).toBe(0); // once per period
      c.w32(0x54, 0); // TimerInt 0: no interrupt
      c.w32(0x48, 0);
      c.clock.advanceTo(c.clock.now + 1_000_000);
      expect(c.r16(0x3e) & 0x4000).toBe(0);
    });

    it("keeps a saved context's EEPROM (its MAC) and its place in an EEPROM read apart from the context restored over it", () => {
      const c = card();
      const other = new Rtl8139(c.clock, { mac: Uint8Array.from([2, 0, 0, 0, 0, 9]) });
      const mine = c.nic.save();
      c.nic.restore(other.save());
      expect(readEeprom(c, 9, 6)).toBe(0x0900);
      c.nic.restore(mine);
      expect(readEeprom(c, 9, 6)).toBe(MAC[4] | (MAC[5] << 8));
    });
  });
});
