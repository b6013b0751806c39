/**
 * The VPIO model of the NE2000 (DP8390D datasheet; the RTL8029AS on PCI is the same
 * register file).
 *
 * What it tracks, per guest: the register page CR selects, the ring (PSTART, PSTOP,
 * CURR), the transmit page and count (TPSR, TBCR), and the remote-DMA programming
 * (RSAR, RBCR) with the command that starts it.
 *
 * Hook policy, which follows the page: OUT to CR; on page 0 to PSTART, PSTOP, TPSR,
 * TBCR0/1, RSAR0/1 and RBCR0/1; on page 1 also to CURR (which shares offset 7 with
 * ISR, so offset 7 is hooked only while page 1 is selected); IN and OUT at the reset
 * port. The data port, ISR, IMR, BNRY, RCR, TCR, DCR and the status registers go
 * straight to the card: the per-frame work of a driver is direct.
 *
 * Rules:
 *   ring-outside     PSTART/PSTOP/CURR outside the card's RAM pages (0x40-0x80), or
 *                    PSTART >= PSTOP, when the card is started (CR with STA) with a ring
 *                    programmed. (Between starts, what a half-written ring can do is
 *                    confined to the card's own RAM, which holds only the owner's data.)
 *   remote-outside   a remote DMA of RBCR bytes at RSAR that leaves the card's RAM (or,
 *                    for a read, the station PROM at 0x00-0x1F); or one started after a
 *                    "send packet" command, which loads RSAR and RBCR from a packet
 *                    header, before the guest wrote them again.
 *   remote-rewritten RSAR or RBCR written while a remote DMA runs (it would carry on past
 *                    what was checked).
 *   transmit-outside a transmit of TBCR bytes at page TPSR that leaves the RAM, or longer
 *                    than a frame.
 *   undefined-register a write on page 2, whose registers the datasheet reserves for
 *                    diagnostics ("should not be modified during normal operation"):
 *                    while page 2 is selected, offsets 1-15 are hooked.
 * The card's RAM holds only the owner's data: each guest's RAM is saved with its context
 * at a handoff and the next guest's restored (the scrub DESIGN.md section 8 asks for).
 *
 * Quiescence: no transmit in flight (CR.TXP, read from CR, which has no side effects).
 * While a handoff is pending, new transmits and remote DMAs are stalled.
 */
import { CardModel, HOOK_IN, HOOK_OUT, ModelEnv, Verdict } from './model';
import type { Ne2000State } from '../devices/ne2000';

const CR = 0x00, PSTART = 0x01, PSTOP = 0x02, TPSR = 0x04, TBCR0 = 0x05, TBCR1 = 0x06, CURR = 0x07;
const RSAR0 = 0x08, RSAR1 = 0x09, RBCR0 = 0x0a, RBCR1 = 0x0b, RESET = 0x18;
const CR_STA = 0x02, CR_TXP = 0x04, CR_RD_MASK = 0x38, RD_READ = 0x08, RD_WRITE = 0x10, RD_SEND = 0x18;
const PAGE_LO = 0x40, PAGE_HI = 0x80;
const MAX_FRAME = 1514;

export class Ne2000Model implements CardModel {
  readonly size = 0x20;
  readonly policy = new Uint8Array(0x20);
  policyVersion = 0;
  translated = 0;
  private page = 0;
  private pstart = 0;
  private pstop = 0;
  private curr = 0;
  private tpsr = 0;
  private tbcr = 0;
  private rsar = 0;
  private rbcr = 0;
  /**
   * Which of RSAR0/1, RBCR0/1 the guest has written since a "send packet" command, which
   * loads RSAR and RBCR on the card from a packet header the model never sees: until all
   * four are written again, the model does not know them (bit set: written).
   */
  private known = 0xf;
  /** A remote DMA was started and the model has not seen it end. */
  private mayRun = false;

  constructor() {
    this.setPage(0);
  }

  private setPage(page: number): void {
    this.page = page;
    const p = this.policy;
    p.fill(0);
    p[CR] = HOOK_OUT;
    for (const o of [PSTART, PSTOP, TPSR, TBCR0, TBCR1, RSAR0, RSAR1, RBCR0, RBCR1]) p[o] = HOOK_OUT;
    if (page === 1) p[CURR] = HOOK_OUT;
    if (page === 2) for (let o = 1; o < 0x10; o++) p[o] = HOOK_OUT;
    for (let o = RESET; o < 0x20; o++) p[o] = HOOK_IN | HOOK_OUT;
    this.policyVersion++;
  }

  private ringOk(env: ModelEnv, why: string): boolean {
    const ok = this.pstart >= PAGE_LO && this.pstop <= PAGE_HI && this.pstart < this.pstop && this.curr >= this.pstart && this.curr < this.pstop;
    if (!ok) env.refuse('ring-outside', `ring PSTART=0x${this.pstart.toString(16)} PSTOP=0x${this.pstop.toString(16)} CURR=0x${this.curr.toString(16)} (${why}) is not inside the card's RAM pages 0x40-0x80`);
    return ok;
  }

  write(env: ModelEnv, off: number, size: number, value: number, handoffPending: boolean): Verdict {
    const v = value & 0xff;
    if (size !== 1 && off < 0x10) {
      // The register file is eight bits wide; a wider access reaches the next registers too.
      for (let b = 0; b < size; b++) {
        const r = this.write(env, off + b, 1, (value >>> (8 * b)) & 0xff, handoffPending);
        if (r === Verdict.Refuse || r === Verdict.Stall) return r;
        if (r === Verdict.Allow) env.card.write(off + b, 1, (value >>> (8 * b)) & 0xff);
      }
      return Verdict.Absorb;
    }
    if (off >= RESET) {
      if (handoffPending && this.busy(env)) return Verdict.Stall;
      return Verdict.Allow;
    }
    if (off === CR) {
      const page = (v >> 6) & 3;
      const rd = v & CR_RD_MASK;
      const starts = (v & CR_STA) !== 0;
      if ((rd === RD_READ || rd === RD_WRITE || rd === RD_SEND || (v & CR_TXP)) && handoffPending) return Verdict.Stall;
      if ((rd === RD_READ || rd === RD_WRITE) && this.known !== 0xf) {
        env.refuse('remote-outside', `remote ${rd === RD_READ ? 'read' : 'write'} after "send packet" without RSAR and RBCR written again: its range is the card's guess, not one checked`);
        return Verdict.Refuse;
      }
      if (rd === RD_READ || rd === RD_WRITE) {
        const prom = rd === RD_READ && this.rsar + this.rbcr <= 0x20;
        const ram = this.rsar >= PAGE_LO << 8 && this.rsar + this.rbcr <= PAGE_HI << 8;
        if (this.rbcr > 0 && !prom && !ram) {
          env.refuse('remote-outside', `remote ${rd === RD_READ ? 'read' : 'write'} of ${this.rbcr} bytes at 0x${this.rsar.toString(16)} leaves the card's RAM`);
          return Verdict.Refuse;
        }
      }
      if (rd === RD_SEND && !this.ringOk(env, 'send packet')) return Verdict.Refuse;
      if (rd === RD_SEND) this.known = 0;
      if (v & CR_TXP) {
        const at = this.tpsr << 8;
        if (this.tbcr > MAX_FRAME || at < PAGE_LO << 8 || at + this.tbcr > PAGE_HI << 8) {
          env.refuse('transmit-outside', `transmit of ${this.tbcr} bytes at page 0x${this.tpsr.toString(16)}`);
          return Verdict.Refuse;
        }
      }
      // Starting the card with no ring yet (to read the PROM, as drivers do first) is fine:
      // it receives nothing. A ring that is programmed must be inside the RAM.
      if (starts && (this.pstart | this.pstop) !== 0 && !this.ringOk(env, 'card started')) return Verdict.Refuse;
      if ((rd === RD_READ || rd === RD_WRITE || rd === RD_SEND) && this.rbcr !== 0) this.mayRun = true;
      if (rd === RD_SEND) this.mayRun = true;
      if (page !== this.page) {
        if (env.tracing) env.note(`page ${this.page} -> ${page}`);
        this.setPage(page);
      }
      if (env.tracing && (v & CR_TXP)) env.note(`tx go: ${this.tbcr} bytes from page 0x${this.tpsr.toString(16)}`);
      if (env.tracing && (rd === RD_READ || rd === RD_WRITE)) env.note(`remote ${rd === RD_READ ? 'read' : 'write'}: ${this.rbcr} bytes at 0x${this.rsar.toString(16)}`);
      return Verdict.Allow;
    }
    if (this.page === 0) {
      if (off >= RSAR0 && off <= RBCR1 && this.mayRun) {
        // Moving a remote DMA's address or count while it runs would take it past what was
        // checked. Whether it still runs is one read of CR, made once after each start.
        const rd = env.card.read(CR, 1) & CR_RD_MASK;
        this.mayRun = rd === RD_READ || rd === RD_WRITE;
        if (this.mayRun) {
          env.refuse('remote-rewritten', `${['RSAR0', 'RSAR1', 'RBCR0', 'RBCR1'][off - RSAR0]} written (0x${v.toString(16)}) while a remote DMA runs`);
          return Verdict.Refuse;
        }
      }
      switch (off) {
        case PSTART: this.pstart = v; break;
        case PSTOP: this.pstop = v; break;
        case TPSR: this.tpsr = v; break;
        case TBCR0: this.tbcr = (this.tbcr & 0xff00) | v; break;
        case TBCR1: this.tbcr = (this.tbcr & 0xff) | (v << 8); break;
        case RSAR0: this.rsar = (this.rsar & 0xff00) | v; this.known |= 1; break;
        case RSAR1: this.rsar = (this.rsar & 0xff) | (v << 8); this.known |= 2; break;
        case RBCR0: this.rbcr = (this.rbcr & 0xff00) | v; this.known |= 4; break;
        case RBCR1: this.rbcr = (this.rbcr & 0xff) | (v << 8); this.known |= 8; break;
      }
      // A ring is written a register at a time, through states that are not yet a ring:
      // it is checked when the card is started with it (the next CR write with STA).
      return Verdict.Allow;
    }
    if (this.page === 1 && off === CURR) this.curr = v;
    if (this.page === 2) {
      env.refuse('undefined-register', `write of 0x${v.toString(16)} to page 2 register 0x${off.toString(16)} (diagnostic, not to be written)`);
      return Verdict.Refuse;
    }
    return Verdict.Allow;
  }

  read(env: ModelEnv, off: number, size: number): number {
    // Reading the reset port resets the card: the guest's ring starts over.
    if (off >= RESET) this.setPage(0);
    return env.card.read(off, size);
  }

  private busy(env: ModelEnv): boolean {
    const cr = env.card.read(CR, 1);
    const rd = cr & CR_RD_MASK;
    return (cr & CR_TXP) !== 0 || rd === RD_READ || rd === RD_WRITE || rd === RD_SEND;
  }

  /**
   * No transmit in flight. A remote DMA half done is not a reason to wait: its whole
   * state (RSAR, RBCR, the command) is in the registers the context saves, so a guest
   * that never finishes one cannot hold the card.
   */
  quiescent(env: ModelEnv): boolean {
    return (env.card.read(CR, 1) & CR_TXP) === 0;
  }

  check(_env: ModelEnv, state: unknown): string | null {
    const s = state as Ne2000State;
    const page = (s.CR >> 6) & 3;
    if (page !== this.page) return `the card is on page ${page}, the model thinks ${this.page}`;
    // A remote DMA under way must be one the model checked: inside the RAM (or, reading, the PROM).
    const rd = s.CR & CR_RD_MASK;
    if ((rd === RD_READ || rd === RD_WRITE) && s.RBCR > 0) {
      const end = s.RSAR + s.RBCR;
      const ok = (s.RSAR >= PAGE_LO << 8 && end <= PAGE_HI << 8) || (rd === RD_READ && end <= 0x20) ||
        (s.PSTOP > s.PSTART && s.RSAR >= PAGE_LO << 8 && s.RSAR < PAGE_HI << 8 && s.RBCR <= (PAGE_HI - PAGE_LO) << 8); // wrapping at PSTOP
      if (!ok) return `the card runs a remote ${rd === RD_READ ? 'read' : 'write'} of ${s.RBCR} bytes at 0x${s.RSAR.toString(16)}`;
    }
    // (A transmit reads its frame when it starts, at the TXP write the model checks;
    // TPSR and TBCR may change while it is on the wire.)
    return null;
  }

  acquired(env: ModelEnv): void {
    // The restored CR says which page the guest had selected.
    const page = (env.card.read(CR, 1) >> 6) & 3;
    if (page !== this.page) this.setPage(page);
  }
}
