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
 *   remote-rewritten RSAR, RBCR, PSTART or PSTOP written while a remote DMA runs (it
 *                    would carry on past what was checked; it wraps at PSTOP to PSTART).
 *   transmit-outside a transmit of TBCR bytes at page TPSR that leaves the RAM, or longer
 *                    than a frame.
 *   undefined-register a write on page 2, whose registers the datasheet reserves for
 *                    diagnostics ("should not be modified during normal operation"):
 *                    while page 2 is selected, offsets 1-15 are hooked.
 * The card's RAM shows a guest only its own data (the scrub DESIGN.md section 8 asks
 * for): the model tells the monitor which pages each command makes the card read or
 * write (`env.claim`), and `Ne2000Sharing` scrubs what another guest left there first.
 *
 * Quiescence: no transmit in flight (CR.TXP, read from CR, which has no side effects).
 * While a handoff is pending, new transmits and remote DMAs are stalled.
 */
import { Costs } from '../devices/costs';
import { CardModel, CardSharing, HOOK_IN, HOOK_OUT, ModelEnv, Verdict } from './model';
import { Ne2000, Ne2000State, newNe2000State } from '../devices/ne2000';
import {
  CR, DATA, RESET, NE2000_PORTS, CR_STA, CR_STP, CR_TXP, CR_RD_MASK, CR_PAGE_SHIFT, RD_READ, RD_WRITE, RD_SEND, TCR_LB, RAM_START, RAM_END, PROM_BYTES,
  P0_PSTART, P0_PSTOP, P0_TPSR, P0_TBCR0, P0_TBCR1, P0_RSAR0, P0_RSAR1, P0_RBCR0, P0_RBCR1, P1_CURR, offsetOf,
} from '../devices/ne2000-regs';

/** The card's buffer RAM in pages. */
const PAGE_LO = RAM_START >> 8, PAGE_HI = RAM_END >> 8;
const MAX_FRAME = 1514;

export class Ne2000Model implements CardModel {
  readonly size = NE2000_PORTS;
  readonly policy = new Uint8Array(NE2000_PORTS);
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
    for (const r of [P0_PSTART, P0_PSTOP, P0_TPSR, P0_TBCR0, P0_TBCR1, P0_RSAR0, P0_RSAR1, P0_RBCR0, P0_RBCR1]) p[offsetOf(r)] = HOOK_OUT;
    if (page === 1) p[offsetOf(P1_CURR)] = HOOK_OUT;
    if (page === 2) for (let o = 1; o < DATA; o++) p[o] = HOOK_OUT;
    for (let o = RESET; o < NE2000_PORTS; o++) p[o] = HOOK_IN | HOOK_OUT;
    this.policyVersion++;
  }

  private ringOk(env: ModelEnv, why: string): boolean {
    const ok = this.pstart >= PAGE_LO && this.pstop <= PAGE_HI && this.pstart < this.pstop && this.curr >= this.pstart && this.curr < this.pstop;
    if (!ok) env.refuse('ring-outside', `ring PSTART=0x${this.pstart.toString(16)} PSTOP=0x${this.pstop.toString(16)} CURR=0x${this.curr.toString(16)} (${why}) is not inside the card's RAM pages 0x40-0x80`);
    return ok;
  }

  write(env: ModelEnv, off: number, size: number, value: number, handoffPending: boolean): Verdict {
    const v = value & 0xff;
    if (size !== 1 && off < DATA) {
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
      const page = (v >> CR_PAGE_SHIFT) & 3;
      const rd = v & CR_RD_MASK;
      const starts = (v & CR_STA) !== 0;
      if ((rd === RD_READ || rd === RD_WRITE || rd === RD_SEND || (v & CR_TXP)) && handoffPending) return Verdict.Stall;
      if ((rd === RD_READ || rd === RD_WRITE) && this.known !== 0xf) {
        env.refuse('remote-outside', `remote ${rd === RD_READ ? 'read' : 'write'} after "send packet" without RSAR and RBCR written again: its range is the card's guess, not one checked`);
        return Verdict.Refuse;
      }
      if (rd === RD_READ || rd === RD_WRITE) {
        const prom = rd === RD_READ && this.rsar + this.rbcr <= PROM_BYTES;
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
      // What the command makes the card touch in its RAM, so that nothing another guest
      // left there can be read (the PROM is each guest's own).
      if ((rd === RD_READ || rd === RD_WRITE) && this.rbcr > 0 && this.rsar >= PAGE_LO << 8) this.claimRemote(env, rd === RD_READ ? 'read' : 'write');
      if (rd === RD_SEND && this.pstop > this.pstart) env.claim(this.pstart << 8, this.pstop << 8, 'read');
      if (v & CR_TXP) env.claim(this.tpsr << 8, (this.tpsr << 8) + this.tbcr, 'transmit');
      if (page !== this.page) {
        if (env.tracing) env.note(`page ${this.page} -> ${page}`);
        this.setPage(page);
      }
      if (env.tracing && (v & CR_TXP)) env.note(`tx go: ${this.tbcr} bytes from page 0x${this.tpsr.toString(16)}`);
      if (env.tracing && (rd === RD_READ || rd === RD_WRITE)) env.note(`remote ${rd === RD_READ ? 'read' : 'write'}: ${this.rbcr} bytes at 0x${this.rsar.toString(16)}`);
      return Verdict.Allow;
    }
    const reg = off | (this.page << 4);
    if (this.page === 0) {
      if (((reg >= P0_RSAR0 && reg <= P0_RBCR1) || reg === P0_PSTART || reg === P0_PSTOP) && this.mayRun) {
        // Moving a remote DMA's address or count while it runs would take it past what was
        // checked. Whether it still runs is one read of CR, made once after each start.
        const rd = env.card.read(CR, 1) & CR_RD_MASK;
        this.mayRun = rd === RD_READ || rd === RD_WRITE;
        if (this.mayRun) {
          const name = reg === P0_PSTART ? 'PSTART' : reg === P0_PSTOP ? 'PSTOP' : ['RSAR0', 'RSAR1', 'RBCR0', 'RBCR1'][reg - P0_RSAR0];
          env.refuse('remote-rewritten', `${name} written (0x${v.toString(16)}) while a remote DMA runs (it wraps at PSTOP to PSTART)`);
          return Verdict.Refuse;
        }
      }
      switch (reg) {
        case P0_PSTART: this.pstart = v; break;
        case P0_PSTOP: this.pstop = v; break;
        case P0_TPSR: this.tpsr = v; break;
        case P0_TBCR0: this.tbcr = (this.tbcr & 0xff00) | v; break;
        case P0_TBCR1: this.tbcr = (this.tbcr & 0xff) | (v << 8); break;
        case P0_RSAR0: this.rsar = (this.rsar & 0xff00) | v; this.known |= 1; break;
        case P0_RSAR1: this.rsar = (this.rsar & 0xff) | (v << 8); this.known |= 2; break;
        case P0_RBCR0: this.rbcr = (this.rbcr & 0xff00) | v; this.known |= 4; break;
        case P0_RBCR1: this.rbcr = (this.rbcr & 0xff) | (v << 8); this.known |= 8; break;
      }
      // A ring is written a register at a time, through states that are not yet a ring:
      // it is checked when the card is started with it (the next CR write with STA).
      return Verdict.Allow;
    }
    if (reg === P1_CURR) this.curr = v;
    if (this.page === 2) {
      env.refuse('undefined-register', `write of 0x${v.toString(16)} to page 2 register 0x${off.toString(16)} (diagnostic, not to be written)`);
      return Verdict.Refuse;
    }
    return Verdict.Allow;
  }

  /** A remote DMA's range, wrapping from PSTOP to PSTART as the card's address counter does. */
  private claimRemote(env: ModelEnv, use: 'read' | 'write'): void {
    const end = this.rsar + this.rbcr, stop = this.pstop << 8;
    if (this.pstop > this.pstart && this.rsar < stop && end > stop) {
      env.claim(this.rsar, stop, use);
      env.claim(this.pstart << 8, (this.pstart << 8) + (end - stop), use);
    } else {
      env.claim(this.rsar, end, use);
    }
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
    const page = (s.CR >> CR_PAGE_SHIFT) & 3;
    if (page !== this.page) return `the card is on page ${page}, the model thinks ${this.page}`;
    // A remote DMA under way must be one the model checked: inside the RAM (or, reading, the PROM).
    const rd = s.CR & CR_RD_MASK;
    if ((rd === RD_READ || rd === RD_WRITE) && s.RBCR > 0) {
      const end = s.RSAR + s.RBCR;
      const ok = (s.RSAR >= PAGE_LO << 8 && end <= PAGE_HI << 8) || (rd === RD_READ && end <= PROM_BYTES) ||
        (s.PSTOP > s.PSTART && s.RSAR >= PAGE_LO << 8 && s.RSAR < PAGE_HI << 8 && s.RBCR <= (PAGE_HI - PAGE_LO) << 8); // wrapping at PSTOP
      if (!ok) return `the card runs a remote ${rd === RD_READ ? 'read' : 'write'} of ${s.RBCR} bytes at 0x${s.RSAR.toString(16)}`;
    }
    // (A transmit reads its frame when it starts, at the TXP write the model checks;
    // TPSR and TBCR may change while it is on the wire.)
    return null;
  }

  acquired(env: ModelEnv): void {
    // The restored CR says which page the guest had selected.
    const page = (env.card.read(CR, 1) >> CR_PAGE_SHIFT) & 3;
    if (page !== this.page) this.setPage(page);
  }
}

const FIRST_PAGE = RAM_START >> 8, PAGES = (RAM_END - RAM_START) >> 8;

/** A guest's NE2000 context: its registers and the pages of buffer RAM it still needs. */
export interface Ne2000Context {
  regs: Ne2000State;
  /** Card page number -> its 256 bytes. */
  pages: Map<number, Uint8Array>;
}

/**
 * Sharing an NE2000 or RTL8029 (see `CardSharing`). The card's 16 KiB of buffer RAM is
 * where frames wait, so a context switch must keep each guest's data and show no guest
 * another's. Moving all of it out and in at every handoff costs 16,384 word accesses
 * (16 ms on ISA, 4 ms on PCI); instead the sharing keeps, per page, whose data is in it
 * (`holder`), and moves only what a guest still needs:
 *
 * - At a handoff the outgoing guest's live pages are read out: those it wrote by remote
 *   DMA and has not transmitted since (a frame written and not yet sent, or anything
 *   else it keeps there), and its receive ring's unread part, from BNRY to CURR. A
 *   transmit buffer the card has sent is not kept: drivers write a frame again before
 *   sending it again (and one whose transmit a forced handoff cancelled is kept). The
 *   incoming guest's saved pages go back in, except those nobody has touched since it
 *   left (still its own, unchanged).
 * - Before the card reads a page for a guest (a remote read, a transmit, "send packet")
 *   or writes part of one (a remote write, a received frame), a page that holds another
 *   guest's data is scrubbed (zeroed through the data port). So a guest never sees
 *   another's bytes, and pays only for the pages it uses.
 *
 * Every page moved or scrubbed is charged as `Costs.ne2000PageAccesses` bus accesses.
 */
export class Ne2000Sharing implements CardSharing<Ne2000Context> {
  readonly name = 'ne2000';
  /** Whose data each page of buffer RAM holds (a guest's number), or -1: zeros. */
  private readonly holder = new Int16Array(PAGES).fill(-1);
  /** Pages holding another guest's data than the owner's (the owner's claims need look no further while 0). */
  private foreign = 0;
  /** CURR when the owner got the card, and the ring pages its frames have taken since, while `foreign` was 0. */
  private ringMark = 0;
  private ringAdvance = 0;
  /** Pages written by remote DMA and not transmitted since (1), per page. */
  private readonly unsent = new Uint8Array(PAGES);
  /** The pages of the last transmit (first, end), to keep should it be cancelled. */
  private txFrom = 0;
  private txTo = 0;

  constructor(private readonly card: Ne2000, private readonly bus: (accesses: number) => void, private readonly costs: Costs) {}

  model(_hostBase: number): CardModel {
    return new Ne2000Model();
  }

  get drainCycles(): number {
    return this.card.drainCycles;
  }

  get state(): Ne2000State {
    return this.card.state;
  }

  fresh(): Ne2000Context {
    const regs = newNe2000State();
    return { regs: { ...regs, mem: new Uint8Array(0) }, pages: new Map() };
  }

  /** The ring's pages from the page after BNRY (the last one the driver read) up to CURR, wrapping; and BNRY's own, for a driver that points it at the next. */
  private unread(s: Ne2000State): Set<number> {
    const out = new Set<number>();
    const { PSTART: start, PSTOP: stop } = s;
    if (!(start >= FIRST_PAGE && stop <= FIRST_PAGE + PAGES && start < stop)) return out;
    const inRing = (p: number) => p >= start && p < stop;
    if (!inRing(s.CURR)) return out;
    let p = inRing(s.BNRY) ? s.BNRY : start;
    for (let n = 0; n < stop - start && p !== s.CURR; n++) {
      out.add(p);
      p = p + 1 >= stop ? start : p + 1;
    }
    return out;
  }

  save(guest: number): { context: Ne2000Context; accesses: number } {
    const regs = this.card.saveRegisters();
    const s = this.card.state;
    const ringLo = s.PSTART, ringHi = s.PSTOP > s.PSTART ? s.PSTOP : s.PSTART;
    this.markReceived(guest, s);
    const unread = this.unread(s);
    const pages = new Map<number, Uint8Array>();
    for (let i = 0; i < PAGES; i++) {
      if (this.holder[i] !== guest) continue;
      const page = FIRST_PAGE + i;
      const inRing = page >= ringLo && page < ringHi;
      if (inRing ? !unread.has(page) : !this.unsent[i]) continue; // read already, or sent: the driver is done with it
      pages.set(page, s.mem.slice(i << 8, (i + 1) << 8));
    }
    return { context: { regs, pages }, accesses: this.costs.ne2000ContextAccesses + pages.size * this.costs.ne2000PageAccesses };
  }

  restore(guest: number, c: Ne2000Context, mac: Uint8Array): number {
    this.card.setPromAddress(mac);
    this.card.restoreRegisters(c.regs);
    const mem = this.card.state.mem;
    let moved = 0;
    for (const [page, bytes] of c.pages) {
      const i = page - FIRST_PAGE;
      if (this.holder[i] === guest) continue; // nobody touched it since: still the guest's own
      mem.set(bytes, i << 8);
      this.holder[i] = guest;
      moved++;
    }
    this.foreign = 0;
    for (let i = 0; i < PAGES; i++) if (this.holder[i] !== guest && this.holder[i] !== -1) this.foreign++;
    this.ringMark = this.card.state.CURR;
    this.ringAdvance = 0;
    // A remote DMA the guest left half done goes on over the pages it started on.
    const r = c.regs, rd = r.CR & CR_RD_MASK;
    if ((rd === RD_READ || rd === RD_WRITE) && r.RBCR > 0) {
      const use = rd === RD_WRITE ? 'write' : 'read';
      const end = r.RSAR + r.RBCR, stop = r.PSTOP << 8;
      if (r.PSTOP > r.PSTART && r.RSAR < stop && end > stop) {
        this.claim(guest, r.RSAR, stop, use);
        this.claim(guest, r.PSTART << 8, (r.PSTART << 8) + (end - stop), use);
      } else {
        this.claim(guest, r.RSAR, end, use);
      }
    }
    return this.costs.ne2000ContextAccesses + moved * this.costs.ne2000PageAccesses;
  }

  /**
   * Frames received while no page held another guest's data were not claimed one by one
   * (`receive` counts their pages instead): the pages from CURR as it was when the guest
   * got the card, as many as they took, are the guest's. If CURR is not where that count
   * puts it (the driver moved the ring, or reset it after an overflow), every page of
   * the ring that is nobody's is taken as the guest's.
   */
  private markReceived(guest: number, s: Ne2000State): void {
    const start = s.PSTART, stop = s.PSTOP;
    if (this.ringAdvance === 0 || !(start >= FIRST_PAGE && stop <= FIRST_PAGE + PAGES && start < stop)) { this.ringAdvance = 0; return; }
    const ring = stop - start;
    const from = this.ringMark >= start && this.ringMark < stop ? this.ringMark : start;
    const n = Math.min(this.ringAdvance, ring);
    const expect = start + ((from - start + this.ringAdvance) % ring);
    const all = this.ringAdvance >= ring || expect !== s.CURR;
    for (let k = 0; k < (all ? ring : n); k++) {
      const i = (all ? start + k : start + ((from - start + k) % ring)) - FIRST_PAGE;
      if (this.holder[i] === -1) this.holder[i] = guest;
    }
    this.ringAdvance = 0;
  }

  busMaster(): void {}

  cancel(): string | null {
    if (!this.card.abortTransmit()) return null;
    for (let page = this.txFrom; page < this.txTo; page++) this.unsent[page - FIRST_PAGE] = 1; // its driver may send it again
    return 'transmit cancelled';
  }

  interruptPending(c: Ne2000Context): boolean {
    return (c.regs.ISR & c.regs.IMR & 0x7f) !== 0;
  }

  rxCycles(): number {
    return 0;
  }

  /**
   * Where a frame of `length` bytes would go in the ring (its first page and page count),
   * or null when the card would not store it (stopped, no ring, no room). The monitor
   * reads CURR, BNRY, PSTART and PSTOP as the card holds them: a real one would read them
   * through pages 0 and 1 between the guest's accesses, four bus accesses.
   */
  private slot(length: number): { first: number; pages: number } | null {
    this.bus(4);
    const s = this.card.state;
    const start = s.PSTART, stop = s.PSTOP;
    if (s.CR & CR_STP || start >= stop || start < FIRST_PAGE || stop > FIRST_PAGE + PAGES || s.CURR < start || s.CURR >= stop) return null;
    const pages = (length + 4 + 255) >> 8;
    const bnry = s.BNRY >= start && s.BNRY < stop ? s.BNRY : start;
    let free = bnry - s.CURR;
    if (free <= 0) free += stop - start;
    return pages < free ? { first: s.CURR, pages } : null;
  }

  rxRoom(length: number): boolean {
    const s = this.card.state;
    if (s.CR & CR_STP) return true; // stopped: it takes nothing, so there is nothing to wait for
    return this.slot(length) !== null;
  }

  /** The page after BNRY is not CURR: a frame the driver has not read (BNRY and CURR, read as for `slot`). */
  rxPending(): boolean {
    this.bus(4);
    const s = this.card.state;
    if (s.CR & CR_STP || s.PSTART >= s.PSTOP) return false;
    let next = s.BNRY + 1;
    if (next >= s.PSTOP) next = s.PSTART;
    return next !== s.CURR;
  }

  receive(guest: number, frame: Uint8Array): boolean {
    if (this.foreign > 0) {
      // Where the frame will go is worth reading only while another guest's data may be there.
      const at = this.slot(frame.length);
      if (at) this.claimRing(guest, at.first, at.pages);
      const claimed = this.card.receive(frame);
      if (this.foreign === 0) this.ringMark = this.card.state.CURR; // counted from here on
      return claimed;
    }
    const taken = this.card.receive(frame);
    if (taken) this.ringAdvance += (frame.length + 4 + 255) >> 8; // claimed at the handoff (markReceived)
    return taken;
  }

  /** `pages` ring pages from `first` on, wrapping at PSTOP, about to be written for `guest`. */
  private claimRing(guest: number, first: number, pages: number): void {
    const s = this.card.state;
    let p = first;
    for (let n = 0; n < pages; n++) {
      this.claimPage(guest, p, true);
      p = p + 1 >= s.PSTOP ? s.PSTART : p + 1;
    }
  }

  claim(guest: number, from: number, to: number, use: 'read' | 'write' | 'transmit'): void {
    const lo = Math.max(from, RAM_START), hi = Math.min(to, RAM_END);
    for (let page = lo >> 8; page << 8 < hi; page++) {
      this.claimPage(guest, page, use === 'write');
      this.unsent[page - FIRST_PAGE] = use === 'write' ? 1 : use === 'transmit' ? 0 : this.unsent[page - FIRST_PAGE];
    }
    if (use === 'transmit') { this.txFrom = lo >> 8; this.txTo = (hi + 255) >> 8; }
    if (use === 'transmit' && (this.card.state.TCR & TCR_LB)) {
      // In loopback the frame comes back into the ring at CURR (the card's own receive).
      const at = this.slot(to - from);
      if (at) this.claimRing(guest, at.first, at.pages);
    }
  }

  /** Before the card reads page `page` for `guest`, or writes part of it: another guest's data there is scrubbed. */
  private claimPage(guest: number, page: number, write: boolean): void {
    const i = page - FIRST_PAGE;
    if (i < 0 || i >= PAGES) return;
    const h = this.holder[i];
    if (h !== guest && h !== -1) {
      this.card.state.mem.fill(0, i << 8, (i + 1) << 8);
      this.holder[i] = -1;
      // The last foreign page gone: from here on received frames are counted, not claimed.
      if (--this.foreign === 0) { this.ringMark = this.card.state.CURR; this.ringAdvance = 0; }
      this.bus(this.costs.ne2000PageAccesses);
    }
    if (write) this.holder[i] = guest;
  }

  handoffProblem(): string | null {
    return null;
  }
}
