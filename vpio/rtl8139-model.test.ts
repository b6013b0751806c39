/**
 * The RTL8139 model against a real card: a transmit that completes in loopback put a
 * frame into the card's receive FIFO, and the model tells the monitor so (the monitor
 * then waits for that frame to reach the ring before the card can change hands).
 */
import { Clock } from '../devices/clock';
import { Rtl8139 } from '../devices/rtl8139';
import { ModelEnv, Verdict } from './model';
import { Rtl8139Model } from './rtl8139-model';

const MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

function setUp() {
  const clock = new Clock(2e9);
  const card = new Rtl8139(clock, { mac: MAC });
  const mem = new Uint8Array(1 << 20);
  card.dma = {
    read: (a, d) => { d.set(mem.subarray(a, a + d.length)); return true; },
    write: (a, s) => { mem.set(s, a); return true; },
  };
  card.busMaster = true;
  card.port = { send: () => {} };
  const receiving: number[] = [];
  const env: ModelEnv = {
    card, memBytes: mem.length, hostBase: 0, tracing: false,
    refuse: (rule) => { throw new Error(`refused: ${rule}`); },
    note: () => {},
    receiving: (len) => receiving.push(len),
    now: () => clock.now,
    drainCycles: card.drainCycles,
    claim: () => {},
  };
  const model = new Rtl8139Model(0);
  // What the guest's driver writes; the monitor passes Allow/Translate verdicts on to the card.
  const out = (off: number, size: number, v: number) => {
    const verdict = model.write(env, off, size, v, false);
    if (verdict === Verdict.Allow) card.write(off, size, v);
    else if (verdict === Verdict.Translate) card.write(off, size, model.translated);
    return verdict;
  };
  out(0x30, 4, 0x10000);
  out(0x44, 4, 0x8f);
  out(0x37, 1, 0x0c);
  return { clock, card, mem, env, model, out, receiving };
}

describe('RTL8139 model: loopback and the receive path', () => {
  for (const loopback of [true, false]) {
    it(`${loopback ? 'reports' : 'does not report'} a completed transmit as a frame being received when TCR ${loopback ? 'loops back' : 'sends to the wire'}`, () => {
      const t = setUp();
      expect(t.model.policy[0x42]).not.toBe(0); // the byte of TCR with LBK is hooked
      expect(t.model.policy[0x3e]).toBe(0); // ISR, just before TCR, is not
      if (loopback) expect(t.out(0x40, 4, 0x00060000)).toBe(Verdict.Allow);
      t.mem.fill(0xff, 0x20000, 0x20006);
      t.card.write(0x20, 4, 0x20000); // TSAD0, direct
      expect(t.out(0x10, 4, 40)).toBe(Verdict.Translate);
      expect(t.model.quiescent(t.env)).toBe(false);
      t.clock.advanceTo(t.clock.now + 1_000_000);
      expect(t.model.quiescent(t.env)).toBe(true);
      // The card pads a short frame to 60 bytes; that is what crosses the bus into the ring.
      expect(t.receiving).toEqual(loopback ? [60] : []);
      if (loopback) expect(t.mem[0x10004]).toBe(0xff);
    });
  }

  it('does not report a descriptor the card refused (oversized, aborted at once) as a frame being received, in loopback or not', () => {
    const t = setUp();
    expect(t.out(0x40, 4, 0x00060000)).toBe(Verdict.Allow);
    for (let i = 0; i < 4; i++) {
      t.card.write(0x20 + 4 * i, 4, 0x20000); // TSADn, direct
      expect(t.out(0x10 + 4 * i, 4, 0x1fff)).toBe(Verdict.Translate); // 8191 bytes: more than the card sends
    }
    // The card aborted every one at once (TABT): nothing crossed the wire or the bus.
    expect(t.model.quiescent(t.env)).toBe(true);
    expect(t.receiving).toEqual([]);
    expect(t.card.read(0x60, 2) & 0xff).toBe(0xff); // TSAD: TABT3-0 and OWN3-0 set
  });

  it('keeps a started transmit in flight when the guest turns the transmitter off, and calls the card quiescent only when it cannot still be sending', () => {
    const t = setUp();
    t.mem.fill(0x11, 0x20000, 0x20000 + 1500);
    t.card.write(0x20, 4, 0x20000);
    expect(t.out(0x10, 4, 1500)).toBe(Verdict.Translate);
    expect(t.out(0x37, 1, 0x08)).toBe(Verdict.Allow); // TE off, RE on: the frame on the wire goes on
    t.card.write(0x37, 1, 0x08);
    expect(t.model.quiescent(t.env)).toBe(false);
    // A second descriptor handed over with TE off is held by the card, not sent.
    t.card.write(0x24, 4, 0x20000);
    expect(t.out(0x14, 4, 100)).toBe(Verdict.Translate);
    t.clock.advanceTo(t.clock.now + t.card.drainCycles);
    expect(t.card.read(0x10, 4) & 0xa000).toBe(0xa000); // descriptor 0: OWN and TOK, sent
    expect(t.card.read(0x14, 4) & 0x2000).toBe(0); // descriptor 1: still the card's, held
    expect(t.model.quiescent(t.env)).toBe(true); // held, not in flight: saved with the context
  });
});

describe('RTL8139 model: registers a driver may write', () => {
  it("lets 8139too's probe write of 'R' to HltClk (0x5B) through, and still refuses a reserved byte (0x5F)", () => {
    const t = setUp();
    // Linux's rtl8139_init_board: RTL_W8(HltClk, 'R') on every chip, the C included.
    expect(t.out(0x5b, 1, 0x52)).not.toBe(Verdict.Refuse);
    expect(() => t.out(0x5f, 1, 0x52)).toThrow(/refused: undefined-register/);
  });
});
