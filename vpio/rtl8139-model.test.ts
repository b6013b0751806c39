/**
 * The RTL8139 model against a real card: a transmit that completes in loopback put a
 * frame into the card's receive FIFO, and the model tells the monitor so (the monitor
 * then waits for that frame to reach the ring before the card can change hands).
 */
import { Clock } from '../devices/clock';
import { Rtl8139 } from '../devices/rtl8139';
import { HOOK_OUT, ModelEnv, Verdict } from './model';
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
  // What the guest's driver writes, as the monitor handles it: straight to the card where
  // the policy does not hook it ('direct'), else Allow/Translate verdicts on to the card.
  const out = (off: number, size: number, v: number, handoffDue = false): Verdict | 'direct' => {
    if (!(model.policy[off] & HOOK_OUT)) { card.write(off, size, v); return 'direct'; }
    const verdict = model.write(env, off, size, v, handoffDue);
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
      expect(t.out(0x20, 4, 0x20000)).toBe(Verdict.Absorb); // TSAD0: checked, and given to the card
      // In loopback the go point is hooked (the model must know the frame's size); else it is direct.
      expect(t.out(0x10, 4, 40)).toBe(loopback ? Verdict.Translate : 'direct');
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
      expect(t.out(0x20 + 4 * i, 4, 0x20000)).toBe(Verdict.Absorb); // TSADn
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
    expect(t.out(0x20, 4, 0x20000)).toBe(Verdict.Absorb);
    expect(t.out(0x10, 4, 1500)).toBe('direct');
    expect(t.out(0x37, 1, 0x08)).toBe(Verdict.Allow); // TE off, RE on: the frame on the wire goes on
    t.card.write(0x37, 1, 0x08);
    expect(t.model.quiescent(t.env)).toBe(false);
    // A second descriptor handed over with TE off is held by the card, not sent.
    expect(t.out(0x24, 4, 0x20000)).toBe(Verdict.Absorb);
    expect(t.out(0x14, 4, 100)).toBe('direct');
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

describe('RTL8139 model: the transmit go point checked where the address is written', () => {
  /** setUp with refusals recorded instead of thrown. */
  function withRefusals(hostBase = 0) {
    const t = setUp();
    const refused: string[] = [];
    (t.env as { refuse: ModelEnv['refuse'] }).refuse = (rule) => { refused.push(rule); };
    if (hostBase !== 0) {
      (t.env as { hostBase: number }).hostBase = hostBase;
      (t.env as { memBytes: number }).memBytes = t.mem.length - hostBase;
    }
    return { ...t, refused };
  }
  const hooked = (t: ReturnType<typeof setUp>, i: number) => (t.model.policy[0x10 + 4 * i] & HOOK_OUT) !== 0;

  it('lets TSDn go straight to the card only once TSADn holds a buffer whose longest transmit (1792 bytes) is in the guest\'s memory', () => {
    const t = withRefusals();
    for (let i = 0; i < 4; i++) expect(hooked(t, i)).toBe(true); // nothing checked yet: a fresh card's TSAD reads 0
    expect(t.out(0x24, 4, 0x20000)).toBe(Verdict.Absorb);
    expect([0, 1, 2, 3].map((i) => hooked(t, i))).toEqual([true, false, true, true]);
    // A buffer 100 bytes before the end of memory: legal for a short frame, so its TSD stays hooked and the go point checks the size.
    const end = t.mem.length;
    expect(t.out(0x28, 4, end - 100)).toBe(Verdict.Absorb);
    expect(hooked(t, 2)).toBe(true);
    expect(t.out(0x18, 4, 100)).toBe(Verdict.Translate);
    t.clock.advanceTo(t.clock.now + t.card.drainCycles);
    expect(t.out(0x18, 4, 101)).toBe(Verdict.Refuse);
    expect(t.refused).toEqual(['tsad-outside']);
    // Outside memory altogether: refused at the go point, never at the write of the address (a driver may leave garbage there).
    expect(t.out(0x2c, 4, end + 0x1000)).toBe(Verdict.Absorb);
    expect(hooked(t, 3)).toBe(true);
    expect(t.out(0x1c, 4, 60)).toBe(Verdict.Refuse);
    expect(t.refused).toEqual(['tsad-outside', 'tsad-outside']);
    // Written in halves: acted on where each half lands, the card given the whole address.
    expect(t.out(0x24, 2, 0x0000)).toBe(Verdict.Absorb);
    expect(t.out(0x26, 2, 0x0003)).toBe(Verdict.Absorb);
    expect(t.card.read(0x24, 4)).toBe(0x30000);
    expect(hooked(t, 1)).toBe(false);
    // Moving a checked descriptor's buffer to the end makes its TSD hooked again.
    expect(t.out(0x24, 4, end - 60)).toBe(Verdict.Absorb);
    expect(hooked(t, 1)).toBe(true);
  });

  it('refuses a TSADn write while the card holds descriptor n (a direct go point it did not see), and takes it once the card is done', () => {
    const t = withRefusals();
    expect(t.out(0x20, 4, 0x20000)).toBe(Verdict.Absorb);
    expect(t.out(0x10, 4, 1500)).toBe('direct');
    expect(t.model.quiescent(t.env)).toBe(false); // read from the card: it holds descriptor 0
    // The same address again (a driver that writes TSADn before every frame) changes nothing: absorbed, not refused.
    expect(t.out(0x20, 4, 0x20000)).toBe(Verdict.Absorb);
    expect(t.refused).toEqual([]);
    expect(t.out(0x20, 4, 0x30000)).toBe(Verdict.Refuse);
    expect(t.refused).toEqual(['tsad-in-flight']);
    expect(t.card.read(0x20, 4)).toBe(0x20000);
    t.clock.advanceTo(t.clock.now + t.card.drainCycles);
    expect(t.model.quiescent(t.env)).toBe(true);
    expect(t.out(0x20, 4, 0x30000)).toBe(Verdict.Absorb);
    expect(t.card.read(0x20, 4)).toBe(0x30000);
  });

  it('hooks every TSD while a handoff is due, so that a new transmit stalls, and lets them go direct again after', () => {
    const t = withRefusals();
    for (let i = 0; i < 4; i++) t.out(0x20 + 4 * i, 4, 0x20000 + 0x800 * i);
    for (let i = 0; i < 4; i++) expect(hooked(t, i)).toBe(false);
    const v0 = t.model.policyVersion;
    t.model.handoffDue(t.env, true);
    expect(t.model.policyVersion).not.toBe(v0);
    for (let i = 0; i < 4; i++) expect(hooked(t, i)).toBe(true);
    expect(t.out(0x10, 4, 60, true)).toBe(Verdict.Stall);
    expect(t.card.read(0x10, 4) & 0x2000).toBe(0x2000); // nothing reached the card
    t.model.acquired(t.env); // a new turn starts not due
    for (let i = 0; i < 4; i++) expect(hooked(t, i)).toBe(false);
  });

  it('after a reset, hooks every TSD until the driver writes its addresses again', () => {
    const t = withRefusals();
    for (let i = 0; i < 4; i++) t.out(0x20 + 4 * i, 4, 0x20000);
    expect(t.out(0x37, 1, 0x10)).toBe(Verdict.Allow); // CR.RST
    t.card.write(0x37, 1, 0x10);
    for (let i = 0; i < 4; i++) expect(hooked(t, i)).toBe(true);
    t.out(0x20, 4, 0x20000);
    expect(hooked(t, 0)).toBe(false);
  });

  it('gives the card the host-physical address when the TSAD is written, and the guest reads back its own', () => {
    const base = 0x40000;
    const t = withRefusals(base);
    t.mem.fill(0x5a, base + 0x1000, base + 0x1000 + 60);
    expect(t.out(0x20, 4, 0x1000)).toBe(Verdict.Absorb);
    expect(t.card.read(0x20, 4)).toBe(base + 0x1000);
    expect(t.model.read(t.env, 0x20, 4)).toBe(0x1000);
    const sent: number[][] = [];
    t.card.port = { send: (f) => { sent.push([...f.subarray(0, 4)]); } };
    expect(t.out(0x10, 4, 60)).toBe('direct');
    t.clock.advanceTo(t.clock.now + t.card.drainCycles);
    expect(sent).toEqual([[0x5a, 0x5a, 0x5a, 0x5a]]);
    // Checked against the guest's own size: the last 1792 bytes of its memory are not, for a direct go point.
    expect(t.out(0x24, 4, t.env.memBytes - 1000)).toBe(Verdict.Absorb);
    expect(hooked(t, 1)).toBe(true);
  });

  it('takes a descriptor that went out directly as its own when TCR turns loopback on, so its frame is reported as received', () => {
    const t = withRefusals();
    expect(t.out(0x20, 4, 0x20000)).toBe(Verdict.Absorb);
    expect(t.out(0x37, 1, 0x08)).toBe(Verdict.Allow); // TE off: the descriptor is held
    t.card.write(0x37, 1, 0x08);
    expect(t.out(0x10, 4, 80)).toBe('direct');
    expect(t.out(0x40, 4, 0x00060000)).toBe(Verdict.Allow); // loopback on
    t.card.write(0x40, 4, 0x00060000);
    expect(hooked(t, 0)).toBe(true);
    expect(t.out(0x37, 1, 0x0c)).toBe(Verdict.Allow); // TE on: it goes, and comes back
    t.card.write(0x37, 1, 0x0c);
    t.clock.advanceTo(t.clock.now + t.card.drainCycles);
    expect(t.model.quiescent(t.env)).toBe(true);
    expect(t.receiving).toEqual([80]);
  });
});
