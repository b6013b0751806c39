/**
 * The VPIO model of the RTL8139C (datasheet 1.4, and DESIGN.md section 8).
 *
 * What it tracks, per guest: the guest-physical values of the DMA registers (TSAD0-3,
 * RBSTART), the ring size and WRAP from RCR, whether the receiver and transmitter are
 * on, which descriptors' buffers it has checked, and which descriptors it saw handed to
 * the card through a hooked go point.
 *
 * The transmit go point is checked where the address is written, not where the
 * transmit starts: TSADn is always hooked, and a TSADn whose longest transmit
 * ([TSADn, TSADn + 1792), the datasheet's limit on a descriptor, which the card
 * enforces) lies in the guest's memory makes descriptor n *checked*: its TSD goes
 * straight to the card, since whatever size the guest writes there, the card cannot read
 * outside what was checked. A descriptor whose buffer is near the end of memory (or
 * outside it) keeps its TSD hooked, and the go point checks the real size. So a driver
 * that sets its four buffers once (8139too) sends every frame with no exit; one that
 * writes TSADn before every frame (ours) exits there, once a frame. TSD is
 * hooked again for every descriptor while a handoff is due (new transmits stall, so the
 * card drains) and while TCR loops back (a looped-back frame enters the receive path
 * behind the monitor's back, and the model reports it: `env.receiving`).
 *
 * Hook policy: OUT to TSAD0-3, RBSTART, CR, RCR, TCR's loopback byte and the C+ command
 * register, and to TSDn as above; IN from TSAD0-3 and RBSTART only for a guest whose
 * addresses are rewritten (memory not at host-physical 0): it reads back its own
 * guest-physical values, where the card holds host-physical ones. For a guest at 0 the
 * card holds exactly what the guest wrote, so its reads need no hook; that matters
 * through BAR1, where one hooked read makes every read of the page exit. Each hooked
 * range starts three bytes early, so an unaligned access that reaches into it is seen
 * too. Everything else (ISR, IMR, CAPR, CBR, IDR, MAR, the status registers) goes
 * straight to the card. Of TCR only the byte with the loopback bits is hooked (drivers
 * write TCR once, at start-up).
 *
 * Translation: the card's TSADn always holds the host-physical address of the guest's
 * TSADn, written when the guest writes it (and again at a hooked go point). For a guest
 * whose memory starts at host-physical 0 the two are the same.
 *
 * Rules (each refusal names one):
 *   rbstart-outside  the receive window (RBSTART + ring + 16, + 1536 with WRAP) is not
 *                    inside the guest's memory, checked when receive is on and RBSTART,
 *                    RCR or CR changes; the card is given the host-physical address.
 *   tsad-outside     a transmit's buffer (TSADn + size) is not inside the guest's memory,
 *                    checked at a hooked go point (a TSD write with OWN clear) of a
 *                    descriptor that is not checked.
 *   tsad-in-flight   TSADn written while descriptor n belongs to the card (its OWN bit,
 *                    read from the card, is clear).
 *   cplus            the C+ command register (an RTL8139C+ feature, and the source of
 *                    past information leaks in QEMU's model) written.
 *   undefined-register a write to an offset the RTL8139C datasheet defines no writable
 *                    register at (those offsets are hooked too; drivers never write them).
 *
 * Quiescence: no descriptor handed to the card is still out: the card's OWN bits (one
 * status read of TSAD at 0x60) are all set. A pending interrupt or unread frames in the
 * ring are part of the saved context, not a reason to wait: they are the guest's and
 * come back with the card.
 * A descriptor that completes in loopback put its frame into the card's receive FIFO:
 * the model tells the monitor (`env.receiving`), which waits for it to reach the ring
 * as it does for the frames it gives the card itself.
 * While a handoff is pending the model stalls new transmits, so the card drains.
 *
 * What a guest can do with a direct TSD: start a transmit from a checked buffer, of
 * any size the card accepts (at most 1792 bytes, or it aborts the descriptor), at any
 * time the card takes it. None of that reaches outside its memory, and the card's DMA
 * port admits only the owner's partition besides.
 */
import { CardModel, CardSharing, HOOK_IN, HOOK_OUT, ModelEnv, Verdict } from './model';
import { Rtl8139, Rtl8139State, newRtl8139State, MAX_TX_SIZE } from '../devices/rtl8139';
import {
  CR_BUFE, IDR0, MAR0, TSD0, TSAD0, RBSTART, CR, CAPR, CBR, IMR, ISR, TCR, RCR, TCTR, MPC, CR9346, TIMERINT, MSR, CONFIG3, MULINT, BMCR, ANAR, NWAYTR, CSCR,
  PHY1_PARM, WAKEUP0, WAKEUP_END, CONFIG5, CPCR, HLTCLK, TSAD, CR_RST, CR_RE, CR_TE, TSD_OWN, TSD_SIZE, TCR_LBK, RCR_WRAP,
  TSAD_OWN_SHIFT, TSAD_TOK_SHIFT, RTL8139_PORTS, ringBytes,
} from '../devices/rtl8139-regs';
import { PortDevice } from '../devices/port-bus';
import { Costs } from '../devices/costs';

/** The shortest frame the card sends (it pads up to it), and the longest it takes. */
const MIN_FRAME = 60, MAX_FRAME = 1514;
const MAX_FRAME_SLACK = 1536;

/**
 * Offsets with a writable register (datasheet table 5.1): IDR (with the two reserved
 * bytes after it, which a 32-bit write of IDR4-5 reaches), MAR, TSD, TSAD, RBSTART, CR,
 * CAPR, IMR, ISR, TCR, RCR, TCTR, MPC, 9346CR, CONFIG0/1, TimerInt, MSR, CONFIG3/4,
 * MULINT, BMCR, ANAR, NWAYTR, CSCR, the PHY parameters, the wake-up frames, CONFIG5,
 * HltClk (reserved on the C, which ignores it; Linux's 8139too writes 'R' there at probe,
 * so refusing it would flag every Linux guest), and CPCR (refused by its own rule).
 */
const WRITABLE = (() => {
  const w = new Uint8Array(RTL8139_PORTS);
  const set = (from: number, len: number) => w.fill(1, from, from + len);
  set(IDR0, 8); set(MAR0, 8); set(TSD0, 16); set(TSAD0, 16); set(RBSTART, 4); set(CR, 1); set(CAPR, 2);
  set(IMR, 2); set(ISR, 2); set(TCR, 4); set(RCR, 4); set(TCTR, 4); set(MPC, 4); set(CR9346, 3); set(TIMERINT, 4);
  set(MSR, 1); set(CONFIG3, 2); set(MULINT, 2); set(BMCR, 2); set(ANAR, 2); set(NWAYTR, 2); set(CSCR, 2);
  set(PHY1_PARM, 12); set(WAKEUP0, WAKEUP_END - WAKEUP0); set(CONFIG5, 1); set(HLTCLK, 1); set(CPCR, 2);
  return w;
})();

/** The descriptors a TSAD (0x60) status value says the card holds (bit n: OWN clear). */
function held(status: number): number {
  return ~(status >> TSAD_OWN_SHIFT) & 0xf;
}

export class Rtl8139Model implements CardModel {
  readonly size = RTL8139_PORTS;
  readonly policy = new Uint8Array(RTL8139_PORTS);
  policyVersion = 1;
  translated = 0;
  /** The guest's view: guest-physical TSAD0-3 and RBSTART. */
  readonly tsad = new Uint32Array(4);
  rbstart = 0;
  private rcr = 0;
  private cr = 0;
  private tcr = 0;
  /** Descriptors the model saw handed to the card at a hooked go point (bit n), and not yet seen back. */
  private outstanding = 0;
  /** Descriptors whose buffer, at its longest, is in the guest's memory (bit n): their TSD is direct. */
  private checked = 0;
  /** A handoff is due: every TSD is hooked, so that new transmits stall. */
  private due = false;
  /** TSD values as the guest last wrote them (assembled from byte writes). */
  private readonly tsd = new Uint32Array(4).fill(TSD_OWN);
  /** The policy without the per-descriptor part. */
  private readonly base = new Uint8Array(RTL8139_PORTS);
  /** When the guest last turned the transmitter off (or reset the card). */
  private teOffAt = 0;

  /**
   * `hostBase`: where the guest's memory starts in host-physical memory. At 0 its DMA
   * addresses are checked and not rewritten, so the card's registers read as the guest
   * wrote them and nothing is hooked for reads.
   */
  constructor(hostBase: number) {
    const hook = (off: number, len: number, bits: number) => {
      for (let o = Math.max(0, off - 3); o < off + len; o++) this.base[o] |= bits;
    };
    const readBack = hostBase !== 0 ? HOOK_IN : 0;
    hook(TSAD0, 16, readBack | HOOK_OUT);
    hook(RBSTART, 4, readBack | HOOK_OUT);
    hook(CR, 1, HOOK_OUT);
    hook(RCR, 4, HOOK_OUT);
    hook(TCR + 2, 1, HOOK_OUT); // the byte with LBK (bits 17-18); not ISR just before it
    hook(CPCR, 2, HOOK_OUT);
    for (let o = 0; o < RTL8139_PORTS; o++) if (!WRITABLE[o]) this.base[o] |= HOOK_OUT;
    this.updatePolicy();
  }

  /** TSDn is hooked for writes (with the three bytes before it) unless descriptor n is checked, no handoff is due and TCR does not loop back. */
  private updatePolicy(): void {
    this.policy.set(this.base);
    const direct = this.due || (this.tcr & TCR_LBK) ? 0 : this.checked;
    for (let i = 0; i < 4; i++) {
      if (direct & (1 << i)) continue;
      for (let o = TSD0 + 4 * i - 3; o < TSD0 + 4 * i + 4; o++) this.policy[o] |= HOOK_OUT;
    }
    this.policyVersion++;
  }

  /** Whether descriptor i's TSD is hooked under the current policy. */
  private tsdHooked(i: number): boolean {
    return (this.policy[TSD0 + 4 * i] & HOOK_OUT) !== 0;
  }

  /** Descriptors the card holds (bit n: OWN clear), from one status read of TSAD (0x60). */
  private cardHolds(env: ModelEnv): number {
    return held(env.card.read(TSAD, 2));
  }

  /** Descriptor i's buffer, at the longest the card reads, is in the guest's memory. */
  private checkBuffer(env: ModelEnv, i: number): void {
    const was = this.checked;
    if (this.inside(env, this.tsad[i], MAX_TX_SIZE)) this.checked |= 1 << i;
    else this.checked &= ~(1 << i);
    if (this.checked !== was) this.updatePolicy();
  }

  /** The monitor: a handoff became due (new transmits must stall) or is no longer. */
  handoffDue(_env: ModelEnv, due: boolean): void {
    if (due === this.due) return;
    this.due = due;
    this.updatePolicy();
  }

  /**
   * Descriptor i, seen at a go point, came back. Only a descriptor that went out (TOK)
   * in loopback put a frame into the card's receive path; one the card refused or
   * aborted moved nothing.
   */
  private complete(env: ModelEnv, i: number, sent: boolean): void {
    this.outstanding &= ~(1 << i);
    if (sent && (this.tcr & TCR_LBK)) env.receiving(Math.min(Math.max(this.tsd[i] & TSD_SIZE, MIN_FRAME), MAX_FRAME));
  }

  private ringBytes(): number {
    return ringBytes(this.rcr) + 16 + (this.rcr & RCR_WRAP ? MAX_FRAME_SLACK : 0);
  }

  private inside(env: ModelEnv, addr: number, len: number): boolean {
    return addr >= 0 && len >= 0 && addr + len <= env.memBytes;
  }

  /** Programs the card's RBSTART with the host-physical address of the guest's ring, if the window is legal. */
  private checkRing(env: ModelEnv, why: string): boolean {
    if (!this.inside(env, this.rbstart, this.ringBytes())) {
      env.refuse('rbstart-outside', `receive window 0x${this.rbstart.toString(16)}+${this.ringBytes()} (${why}) is outside the guest's ${env.memBytes} bytes`);
      return false;
    }
    env.card.write(RBSTART, 4, (env.hostBase + this.rbstart) >>> 0);
    if (env.tracing) env.note(`rx ring: guest 0x${this.rbstart.toString(16)} = host 0x${(env.hostBase + this.rbstart).toString(16)}, ${this.ringBytes()} bytes (${why})`);
    return true;
  }

  write(env: ModelEnv, off: number, size: number, value: number, handoffPending: boolean): Verdict {
    // An access that only grazes a hooked range (the three bytes before it) with no hooked byte in it.
    const rbBefore = this.rbstart, rcrBefore = this.rcr, crBefore = this.cr, tcrBefore = this.tcr;
    // Refusals that concern the whole access come first, before any register is acted on.
    for (let b = 0; b < size; b++) {
      const o = off + b;
      if (o < RTL8139_PORTS && !WRITABLE[o]) {
        env.refuse('undefined-register', `write of 0x${(value >>> 0).toString(16)} reaches offset 0x${o.toString(16)}, where the RTL8139C has no writable register`);
        return Verdict.Refuse;
      }
      if (o === CPCR || o === CPCR + 1) {
        env.refuse('cplus', `C+ command register written (0x${value.toString(16)}): this is an RTL8139C`);
        return Verdict.Refuse;
      }
    }
    const verdict = this.writeBytes(env, off, size, value, handoffPending);
    if (verdict === Verdict.Refuse || verdict === Verdict.Stall) {
      // Nothing of a refused or stalled access happened: the model's view stays the card's.
      this.rbstart = rbBefore;
      this.rcr = rcrBefore;
      this.cr = crBefore;
      this.tcr = tcrBefore;
    }
    return verdict;
  }

  private writeBytes(env: ModelEnv, off: number, size: number, value: number, handoffPending: boolean): Verdict {
    let verdict = Verdict.Allow;
    let tsadNext = 0;
    for (let b = 0; b < size; b++) {
      const o = off + b, v = (value >>> (8 * b)) & 0xff;
      if (o >= TSD0 && o < TSD0 + 16) {
        // Whole TSD writes are the go point; byte writes assemble and act on the top byte, as the card does.
        const i = (o - TSD0) >> 2;
        if (size === 4 && b === 0 && (o & 3) === 0) return this.go(env, i, value >>> 0, handoffPending);
        // A direct TSD's other bytes are on the card (an access reaching it from a hooked neighbour).
        if (!this.tsdHooked(i)) this.tsd[i] = env.card.read(TSD0 + 4 * i, 4) >>> 0;
        const sh = 8 * (o & 3);
        const nv = ((this.tsd[i] & ~(0xff << sh)) | (v << sh)) >>> 0;
        if ((o & 3) === 3) {
          // The card gets the whole value the model assembled (never its own stale low bytes).
          const r = this.go(env, i, nv, handoffPending);
          if (r === Verdict.Refuse || r === Verdict.Stall) return r;
          env.card.write(TSD0 + 4 * i, 4, nv);
          verdict = Verdict.Absorb;
        } else {
          this.tsd[i] = nv;
          verdict = Verdict.Absorb; // held until the top byte makes it a whole write
        }
        continue;
      }
      if (o >= TSAD0 && o < TSAD0 + 16) {
        // Assembled over the access's bytes of one TSAD, then acted on once.
        const i = (o - TSAD0) >> 2, sh = 8 * (o & 3);
        if (b === 0 || (o & 3) === 0) tsadNext = this.tsad[i];
        tsadNext = ((tsadNext & ~(0xff << sh)) | (v << sh)) >>> 0;
        verdict = Verdict.Absorb;
        if ((o & 3) !== 3 && b !== size - 1) continue;
        // The same address again on a checked descriptor (a driver that writes TSADn before
        // every frame, ours): the card holds it already, translated and checked, so nothing
        // is touched, not even the card's status.
        if (tsadNext === this.tsad[i] && (this.checked & (1 << i))) continue;
        if (this.cardHolds(env) & (1 << i)) {
          env.refuse('tsad-in-flight', `TSAD${i} written while descriptor ${i} belongs to the card`);
          return Verdict.Refuse;
        }
        // The card gets the host-physical address whole, and the buffer is checked for the longest transmit.
        this.tsad[i] = tsadNext;
        env.card.write(TSAD0 + 4 * i, 4, (env.hostBase + tsadNext) >>> 0);
        this.checkBuffer(env, i);
        continue;
      }
      if (o >= RBSTART && o < RBSTART + 4) {
        const sh = 8 * (o - RBSTART);
        this.rbstart = ((this.rbstart & ~(0xff << sh)) | (v << sh)) >>> 0;
        verdict = Verdict.Absorb;
        if (o === RBSTART + 3 || b === size - 1) {
          if (this.cr & CR_RE) {
            if (!this.checkRing(env, 'RBSTART written')) return Verdict.Refuse;
          } else {
            // Receive is off: nothing reaches the ring, and turning it on (a hooked CR
            // write) checks the window. The card holds the address now, so that a read
            // of RBSTART (unhooked for a guest at host-physical 0) shows what was written.
            env.card.write(RBSTART, 4, (env.hostBase + this.rbstart) >>> 0);
          }
        }
        continue;
      }
      if (o >= TCR && o < TCR + 4) {
        // Passed on as written (the card keeps its version bits); the model only needs LBK.
        const sh = 8 * (o - TCR);
        const lbk = this.tcr & TCR_LBK;
        this.tcr = ((this.tcr & ~(0xff << sh)) | (v << sh)) >>> 0;
        if ((this.tcr & TCR_LBK) !== lbk) {
          // Looping back from now on: descriptors the card holds that went out directly
          // may come back into the ring, so the model takes them as its own.
          if (!lbk) this.adopt(env);
          this.updatePolicy();
        }
        continue;
      }
      if (o >= RCR && o < RCR + 4) {
        const sh = 8 * (o - RCR);
        this.rcr = ((this.rcr & ~(0xff << sh)) | (v << sh)) >>> 0;
        if ((this.cr & CR_RE) && !this.checkRing(env, 'RCR written')) return Verdict.Refuse;
        continue;
      }
      if (o === CR) {
        if (v & CR_RST) {
          if (handoffPending && this.cardHolds(env)) return Verdict.Stall;
          // A reset clears the card's rings and descriptors: the guest starts over, with
          // no buffer checked (the card's TSADs read 0, which is not where its memory is).
          this.outstanding = 0;
          this.checked = 0;
          this.teOffAt = env.now();
          this.cr = 0;
          this.rcr = 0;
          this.tcr = 0;
          this.rbstart = 0;
          this.tsad.fill(0);
          this.tsd.fill(TSD_OWN);
          this.updatePolicy();
          continue;
        }
        if ((v & CR_RE) && !this.checkRing(env, 'receiver enabled')) return Verdict.Refuse;
        // Turning the transmitter on starts what is queued: not while a handoff is pending.
        if ((v & CR_TE) && !(this.cr & CR_TE) && handoffPending && this.cardHolds(env)) return Verdict.Stall;
        if (!(v & CR_TE) && (this.cr & CR_TE)) this.teOffAt = env.now();
        this.cr = v & (CR_RE | CR_TE);
        continue;
      }
      if (o === CPCR || o === CPCR + 1) {
        env.refuse('cplus', `C+ command register written (0x${value.toString(16)}): this is an RTL8139C`);
        return Verdict.Refuse;
      }
    }
    return verdict;
  }

  /** A whole TSD value for descriptor i: the go point when OWN is clear. */
  private go(env: ModelEnv, i: number, v: number, handoffPending: boolean): Verdict {
    this.tsd[i] = v;
    if (v & TSD_OWN) return Verdict.Allow;
    if (handoffPending) return Verdict.Stall;
    const size = v & TSD_SIZE;
    if (!this.inside(env, this.tsad[i], size)) {
      env.refuse('tsad-outside', `descriptor ${i}: 0x${this.tsad[i].toString(16)}+${size} is outside the guest's ${env.memBytes} bytes`);
      return Verdict.Refuse;
    }
    // The card's TSAD is the translated one already, unless the guest has not written it
    // since its context began or the card was reset: written again, once per hooked go.
    env.card.write(TSAD0 + 4 * i, 4, (env.hostBase + this.tsad[i]) >>> 0);
    this.outstanding |= 1 << i;
    if (env.tracing) env.note(`tx go: descriptor ${i}, ${size} bytes at guest 0x${this.tsad[i].toString(16)} = host 0x${(env.hostBase + this.tsad[i]).toString(16)}`);
    this.translated = v;
    return Verdict.Translate;
  }

  read(env: ModelEnv, off: number, size: number): number {
    let v = 0;
    for (let b = 0; b < size; b++) {
      const o = off + b;
      let byte: number;
      if (o >= TSAD0 && o < TSAD0 + 16) byte = (this.tsad[(o - TSAD0) >> 2] >>> (8 * (o & 3))) & 0xff;
      else if (o >= RBSTART && o < RBSTART + 4) byte = (this.rbstart >>> (8 * (o - RBSTART))) & 0xff;
      else byte = env.card.read(o, 1);
      v |= byte << (8 * b);
    }
    return v >>> 0;
  }

  /**
   * Forgets descriptors the card has finished with: one read of TSAD (0x60, the
   * transmit status of all descriptors, datasheet 5.4), whose bits 3-0 are the four OWN
   * bits and 15-12 the four TOK bits; the card sets OWN when it is done with a
   * descriptor, sent or aborted. A status read, with no side effect; `status` when the
   * caller has just read it.
   */
  private reclaim(env: ModelEnv, status?: number): void {
    if (this.outstanding === 0) return;
    if (status === undefined) status = env.card.read(TSAD, 2);
    const done = (status >> TSAD_OWN_SHIFT) & 0xf & this.outstanding;
    if (done === 0) return;
    for (let i = 0; i < 4; i++) if (done & (1 << i)) this.complete(env, i, ((status >> (TSAD_TOK_SHIFT + i)) & 1) !== 0);
  }

  /** Takes the descriptors the card holds as seen at a go point (their sizes read from the card). */
  private adopt(env: ModelEnv): void {
    const unseen = this.cardHolds(env) & ~this.outstanding;
    for (let i = 0; i < 4; i++) if (unseen & (1 << i)) this.tsd[i] = env.card.read(TSD0 + 4 * i, 4) >>> 0;
    this.outstanding |= unseen;
  }

  interrupt(env: ModelEnv): void {
    this.reclaim(env);
  }

  /**
   * No descriptor on its way out. A transmit the card started is in flight whatever the
   * guest writes afterwards: turning the transmitter off lets the frame on the wire
   * finish and holds the descriptors behind it. So with TE off, descriptors still
   * handed over are known to be held (saved with the context, not waited for, so that a
   * guest cannot keep the card with a transmit that never starts) only once the card
   * has had the time to finish anything it had started (`drainCycles`) since TE went off.
   */
  quiescent(env: ModelEnv): boolean {
    const status = env.card.read(TSAD, 2); // one read for both questions
    this.reclaim(env, status);
    if (held(status) === 0) return true;
    return (this.cr & CR_TE) === 0 && env.now() >= this.teOffAt + env.drainCycles;
  }

  /** The guest has the card again: descriptors that came back while it was away (or were cancelled when it lost the card) are forgotten. */
  acquired(env: ModelEnv): void {
    this.reclaim(env);
    this.handoffDue(env, false);
  }

  check(env: ModelEnv, state: unknown): string | null {
    const s = state as Rtl8139State;
    for (let i = 0; i < 4; i++) {
      const handed = !(s.TSD[i] & TSD_OWN) && (s.TSD[i] & TSD_SIZE) !== 0;
      const known = (this.outstanding | this.checked) & (1 << i);
      if (handed && !known) return `descriptor ${i} is the card's (TSD 0x${s.TSD[i].toString(16)}) but its buffer was never checked`;
      if (handed && s.TSAD[i] !== ((env.hostBase + this.tsad[i]) >>> 0)) {
        return `descriptor ${i} goes out from 0x${s.TSAD[i].toString(16)}, not the checked 0x${(env.hostBase + this.tsad[i]).toString(16)}`;
      }
    }
    if ((s.CR & CR_RE) && s.RBSTART !== ((env.hostBase + this.rbstart) >>> 0)) return `the card receives at 0x${s.RBSTART.toString(16)}, not the checked 0x${(env.hostBase + this.rbstart).toString(16)}`;
    if ((s.CR & CR_RE) && (s.RCR & 0x1880) !== (this.rcr & 0x1880)) return `the card's ring size or WRAP (RCR 0x${s.RCR.toString(16)}) is not the one checked (0x${this.rcr.toString(16)})`;
    return null;
  }
}


/**
 * Sharing an RTL8139C (see `CardSharing`). A context is the card's register file; the
 * receive ring and the transmit buffers are in the guests' own memory, so nothing else
 * moves at a handoff. The card's receive FIFO is not part of a context: the monitor
 * waits for it (`rxCycles`), and shadow mode checks it is empty at every handoff.
 */
export class Rtl8139Sharing implements CardSharing<Rtl8139State> {
  readonly name = 'rtl8139';

  constructor(private readonly card: Rtl8139, private readonly regs: PortDevice, private readonly costs: Costs) {}

  model(hostBase: number): CardModel {
    return new Rtl8139Model(hostBase);
  }

  get drainCycles(): number {
    return this.card.drainCycles;
  }

  get state(): Rtl8139State {
    return this.card.state;
  }

  fresh(mac: Uint8Array): Rtl8139State {
    return newRtl8139State(mac);
  }

  save(): { context: Rtl8139State; accesses: number } {
    return { context: this.card.save(), accesses: this.costs.rtl8139ContextAccesses };
  }

  restore(_guest: number, context: Rtl8139State): number {
    this.card.restore(context);
    return this.costs.rtl8139ContextAccesses;
  }

  busMaster(on: boolean): void {
    this.card.busMaster = on;
  }

  cancel(): string | null {
    const i = this.card.abortTransmit();
    return i < 0 ? null : `transmit on TSD${i} cancelled`;
  }

  interruptPending(c: Rtl8139State): boolean {
    return (c.ISR & c.IMR) !== 0;
  }

  rxCycles(length: number): number {
    return this.card.rxDmaCycles(length);
  }

  /** Room in the ring, from CAPR, CBR and RCR as the guest's driver would read them. */
  rxRoom(length: number): boolean {
    if (!(this.regs.read(CR, 1) & CR_RE)) return true;
    const rcr = this.regs.read(RCR, 4);
    const size = ringBytes(rcr);
    const read = (this.regs.read(CAPR, 2) + 16) & 0xffff;
    const write = this.regs.read(CBR, 2);
    let free = (read - write + size) % size;
    if (free === 0) free = size;
    return ((length + 8 + 3) & ~3) < free;
  }

  /** CR.BUFE clear: the ring holds a packet the driver has not taken (CAPR behind CBR). */
  rxPending(): boolean {
    return (this.regs.read(CR, 1) & CR_BUFE) === 0;
  }

  receive(_guest: number, frame: Uint8Array): boolean {
    return this.card.receive(frame);
  }

  claim(): void {}

  handoffProblem(): string | null {
    const n = this.card.rxFifoFrames;
    return n > 0 ? `${n} frames still in the card's receive FIFO` : null;
  }
}
