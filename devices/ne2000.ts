/**
 * The NE2000: a National DP8390 network interface controller with 16 KiB of buffer
 * RAM, a 32-byte station address PROM, a data port for remote DMA and a reset port.
 * Two variants: ISA (I/O 0x300, IRQ 9) and PCI as the Realtek RTL8029AS (10ec:8029,
 * BAR0 I/O, which adds its ID bytes in page 0 and config registers in page 3).
 *
 * Written from the DP8390D datasheet (National, "DP8390D/NS32490D NIC Network
 * Interface Controller") and the RTL8029AS datasheet. Register names are the
 * datasheet's. Port offsets from the base: 0x00-0x0F registers (page by CR.PS),
 * 0x10-0x17 the data port, 0x18-0x1F the reset port.
 *
 * The card's state is one plain object (`Ne2000State`) so that it can be saved and
 * restored whole (a VPIO handoff does that). Card memory accesses are bounds-checked
 * byte by byte: nothing a driver programs reaches outside the card's 16 KiB.
 * Hostile ring settings (PSTART >= PSTOP, CURR outside the ring) make the card drop
 * the frame and log it, rather than loop or overflow.
 */
import { Clock, Timer } from './clock';
import { EthernetPort, MAX_FRAME, MIN_FRAME, ViewCache, frameBits, crc32, isBroadcast, isMulticast } from './net/ethernet';

import {
  CR, DATA, RESET, NE2000_PORTS, CR_STP, CR_STA, CR_TXP, CR_RD_MASK, CR_PAGE_SHIFT, RD_READ, RD_WRITE, RD_SEND, RD_ABORT,
  ISR_PRX, ISR_PTX, ISR_TXE, ISR_OVW, ISR_RDC, ISR_RST, RCR_AR, RCR_AB, RCR_AM, RCR_PRO, RCR_MON, TCR_LB, DCR_WTS,
  RSR_PRX, RSR_PHY, TSR_PTX, TSR_ABT, RAM_START, RAM_END, PROM_BYTES,
  P0_CLDA0, P0_CLDA1, P0_BNRY, P0_TSR, P0_NCR, P0_FIFO, P0_ISR, P0_CRDA0, P0_CRDA1, P0_8029ID0, P0_8029ID1, P0_RSR, P0_CNTR0, P0_CNTR1, P0_CNTR2,
  P0_PSTART, P0_PSTOP, P0_TPSR, P0_TBCR0, P0_TBCR1, P0_RSAR0, P0_RSAR1, P0_RBCR0, P0_RBCR1, P0_RCR, P0_TCR, P0_DCR, P0_IMR,
  P1_PAR0, P1_CURR, P1_MAR0, P2_PSTART, P2_PSTOP, P2_RNPP, P2_TPSR, P2_LNPP, P2_RCR, P2_TCR, P2_DCR, P2_IMR, P3_9346CR, P3_CONFIG0, P3_CONFIG3,
} from './ne2000-regs';
import { PortDevice } from './port-bus';

export { RAM_START, RAM_END } from './ne2000-regs';

/** Every architectural register of the card, named as the datasheet names them. */
export interface Ne2000State {
  CR: number;
  PSTART: number;
  PSTOP: number;
  BNRY: number;
  TPSR: number;
  TBCR: number;
  ISR: number;
  RSAR: number;
  RBCR: number;
  RCR: number;
  TCR: number;
  DCR: number;
  IMR: number;
  PAR: Uint8Array;
  CURR: number;
  MAR: Uint8Array;
  RSR: number;
  TSR: number;
  CNTR0: number;
  CNTR1: number;
  CNTR2: number;
  /** RTL8029 page 3: 9346CR and CONFIG registers. */
  CR9346: number;
  CONFIG: Uint8Array;
  /** Buffer RAM, indexed by card address - RAM_START. */
  mem: Uint8Array;
  /** A transmit is on the wire (TXP set until it completes). */
  txBusy: boolean;
}

export function newNe2000State(): Ne2000State {
  return {
    CR: CR_STP | RD_ABORT, PSTART: 0, PSTOP: 0, BNRY: 0, TPSR: 0, TBCR: 0, ISR: ISR_RST, RSAR: 0, RBCR: 0,
    RCR: 0, TCR: 0, DCR: 0, IMR: 0, PAR: new Uint8Array(6), CURR: 0, MAR: new Uint8Array(8),
    RSR: 0, TSR: 0, CNTR0: 0, CNTR1: 0, CNTR2: 0, CR9346: 0, CONFIG: new Uint8Array(4),
    mem: new Uint8Array(RAM_END - RAM_START), txBusy: false,
  };
}

export interface Ne2000Options {
  mac: Uint8Array;
  /** 10 Mbit/s on an NE2000. */
  bitsPerSecond?: number;
  /** true for the PCI RTL8029AS, false for the ISA NE2000. */
  pci: boolean;
}

/** A little-endian value of `size` bytes in `b` at `p`. */
function loadLE(b: Uint8Array, p: number, size: number): number {
  return size === 1 ? b[p] : size === 2 ? b[p] | (b[p + 1] << 8) : b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
}

function storeLE(b: Uint8Array, p: number, size: number, v: number): void {
  b[p] = v;
  if (size > 1) { b[p + 1] = v >> 8; if (size === 4) { b[p + 2] = v >> 16; b[p + 3] = v >> 24; } }
}

/** The NE2000 as a port device: offsets 0x00-0x1F from its base (`NE2000_PORTS`). */
export class Ne2000 implements PortDevice {
  state: Ne2000State = newNe2000State();
  /** The station address PROM: the MAC in bytes 0-5 and 'W','W' in 14-15, each byte doubled (32 bytes). */
  readonly prom = new Uint8Array(32);
  readonly mac: Uint8Array;
  readonly pci: boolean;
  readonly bitsPerSecond: number;
  port: EthernetPort | null = null;
  /** The interrupt line (level: ISR & IMR). */
  onIrq: (level: boolean) => void = () => {};
  /** A contained refusal or an ignored write, for --trace and the tests. */
  onLog: (what: string) => void = () => {};
  private irqLevel = false;
  private readonly txTimer: Timer;
  /** The frame on the wire (its bytes as they were when the transmit began), and its length (0: none). */
  private readonly txBuffer = new Uint8Array(MAX_FRAME);
  /** Views the frame paths ask for again and again (see ViewCache). */
  private readonly txView = new ViewCache();
  private readonly guestView = new ViewCache();
  private readonly bufferView = new ViewCache(2); // drivers send from two buffers in turn (ours, Linux's 8390 core)
  private txLen = 0;
  /** Frames dropped because the ring was full or misprogrammed, or the card stopped. */
  dropped = 0;

  constructor(readonly clock: Clock, opts: Ne2000Options) {
    this.mac = Uint8Array.from(opts.mac);
    this.pci = opts.pci;
    this.bitsPerSecond = opts.bitsPerSecond ?? 10_000_000;
    const base = new Uint8Array(16);
    base.set(this.mac, 0);
    base[14] = base[15] = 0x57; // 'W': an NE2000 in word mode (what ne.c probes for)
    for (let i = 0; i < 16; i++) this.prom[2 * i] = this.prom[2 * i + 1] = base[i];
    this.txTimer = clock.timer('ne2000-tx', () => this.transmitDone());
    this.reset();
  }

  /**
   * Rewrites the station address PROM (a hypervisor giving each guest sharing the card
   * its own identity; the factory PROM is the constructor's MAC).
   */
  setPromAddress(mac: Uint8Array): void {
    this.mac.set(mac);
    for (let i = 0; i < 6; i++) this.prom[2 * i] = this.prom[2 * i + 1] = mac[i];
  }

  /** Power-on / reset-port reset: stopped, remote DMA aborted, RST set (datasheet, "Initialization"). */
  reset(): void {
    const s = this.state;
    s.CR = CR_STP | RD_ABORT;
    s.ISR = ISR_RST;
    s.IMR = 0;
    s.DCR = 0;
    s.RCR = 0;
    s.TCR = 0;
    s.RBCR = 0;
    s.txBusy = false;
    this.txTimer.cancel();
    this.txLen = 0;
    this.updateIrq();
  }

  /**
   * Saves the whole card state (a deep copy). The frame on the wire is not part of it:
   * whoever switches contexts waits for it (`transmitting`) or cancels it (`abortTransmit`).
   */
  save(): Ne2000State {
    return { ...this.saveRegisters(), mem: this.state.mem.slice() };
  }

  /** The registers alone (`mem` empty): a context whose buffer RAM is kept some other way. */
  saveRegisters(): Ne2000State {
    const s = this.state;
    return { ...s, PAR: s.PAR.slice(), MAR: s.MAR.slice(), CONFIG: s.CONFIG.slice(), mem: new Uint8Array(0) };
  }

  restore(saved: Ne2000State): void {
    this.restoreRegisters(saved);
    this.state.mem.set(saved.mem);
  }

  /**
   * Puts saved registers on the card, leaving its buffer RAM as it is. The transmit in
   * flight for the context it replaces is dropped; a context saved while one was on the
   * wire gets it back aborted (TSR.ABT, ISR.TXE), so its driver hears of it.
   */
  restoreRegisters(saved: Ne2000State): void {
    this.txTimer.cancel();
    this.txLen = 0;
    const mem = this.state.mem;
    this.state = { ...saved, PAR: saved.PAR.slice(), MAR: saved.MAR.slice(), CONFIG: saved.CONFIG.slice(), mem };
    if (this.state.txBusy) this.abortFrame();
    this.updateIrq();
  }

  /**
   * The longest the card can take to finish what it has in flight when nothing new is
   * started: the largest frame on the wire (remote DMA runs only while the driver moves
   * data). What a hypervisor waiting for it can bound its wait by.
   */
  get drainCycles(): number {
    return Math.ceil((frameBits(MAX_FRAME) * this.clock.hz) / this.bitsPerSecond);
  }

  /** A frame is on its way out. */
  get transmitting(): boolean {
    return this.state.txBusy;
  }

  /**
   * Cancels the transmit in flight, if any: it completes aborted (TXP clear, TSR.ABT,
   * ISR.TXE) and nothing reaches the wire. For a hypervisor taking the card from a guest.
   * Returns whether there was one.
   */
  abortTransmit(): boolean {
    if (!this.state.txBusy) return false;
    this.txTimer.cancel();
    this.txLen = 0;
    this.abortFrame();
    this.updateIrq();
    return true;
  }

  private abortFrame(): void {
    const s = this.state;
    s.txBusy = false;
    s.CR &= ~CR_TXP;
    s.TSR = TSR_ABT;
    s.ISR |= ISR_TXE;
    this.onLog('ne2000: transmit cancelled (aborted): the card changed hands while it was in flight');
  }

  private updateIrq(): void {
    const level = (this.state.ISR & this.state.IMR & 0x7f) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.onIrq(level);
    }
  }

  get irq(): boolean {
    return this.irqLevel;
  }

  // ---- Card memory (PROM at 0x0000-0x001F, RAM at 0x4000-0x7FFF; else open bus) ----

  private memRead(addr: number): number {
    addr &= 0xffff;
    if (addr >= RAM_START && addr < RAM_END) return this.state.mem[addr - RAM_START];
    if (addr < PROM_BYTES) return this.prom[addr];
    return 0xff;
  }

  private memWrite(addr: number, v: number): void {
    addr &= 0xffff;
    if (addr >= RAM_START && addr < RAM_END) this.state.mem[addr - RAM_START] = v;
  }

  // ---- Register access ----

  /** An access at `offset` (0..0x1F from the base) of `size` bytes. */
  read(offset: number, size: number): number {
    if (offset >= DATA && offset < RESET) return this.dataRead(size);
    if (offset >= RESET) {
      this.reset(); // reading the reset port resets the card (NE2000 convention)
      return 0;
    }
    return this.regRead(offset & 0x0f);
  }

  /**
   * A REP OUTS to the data port during a remote write: the elements one after another,
   * as write() would take them, up to the one that ends the transfer (RBCR reaching 0
   * raises RDC); nothing (0) anywhere else. See PortDevice.writeBlock.
   */
  writeBlock(offset: number, size: number, src: Uint8Array, at: number, count: number): number {
    if (offset < DATA || offset >= RESET || this.dmaActive() !== RD_WRITE) return 0;
    const s = this.state;
    let done = this.contiguousElements(size, count);
    if (done > 0) {
      // Whole elements into the buffer RAM with no wrap inside: one copy, the pointers moved once.
      const bytes = done * size;
      s.mem.set(this.guestView.of(src, at, at + bytes), s.RSAR - RAM_START);
      this.dmaAdvance(bytes);
    }
    while (done < count && s.RBCR > 0) {
      const p = at + done * size;
      this.dataWrite(size, loadLE(src, p, size));
      done++;
    }
    return done;
  }

  /**
   * How many of `count` accesses of `size` bytes from RSAR on are plain copies: each
   * moves all its bytes (word mode, or byte accesses), all of them inside the buffer
   * RAM, none crossing the PSTOP wrap, the last leaving RBCR above zero or at zero
   * exactly (the RDC then comes at the end, as it would element by element).
   */
  private contiguousElements(size: number, count: number): number {
    const s = this.state;
    if (this.dataWidth(size) !== size) return 0;
    let end = RAM_END;
    if (s.PSTOP > s.PSTART && s.RSAR < s.PSTOP << 8) end = Math.min(end, s.PSTOP << 8);
    if (s.RSAR < RAM_START || s.RSAR >= end) return 0;
    return Math.min(count, Math.floor(s.RBCR / size), Math.floor((end - s.RSAR) / size));
  }

  /** `bytes` of remote DMA done at once (none crossing the wrap): what that many dmaStep calls do. */
  private dmaAdvance(bytes: number): void {
    const s = this.state;
    s.RSAR = (s.RSAR + bytes) & 0xffff;
    if (s.PSTOP > s.PSTART && s.RSAR === s.PSTOP << 8) s.RSAR = s.PSTART << 8;
    s.RBCR -= bytes;
    if (s.RBCR === 0) {
      s.ISR |= ISR_RDC;
      s.CR = (s.CR & ~CR_RD_MASK) | RD_ABORT;
      this.updateIrq();
    }
  }

  /** The same for a REP INS from the data port during a remote read. */
  readBlock(offset: number, size: number, dst: Uint8Array, at: number, count: number): number {
    if (offset < DATA || offset >= RESET || this.dmaActive() !== RD_READ) return 0;
    const s = this.state;
    let done = this.contiguousElements(size, count);
    if (done > 0) {
      const bytes = done * size;
      dst.set(this.bufferView.of(s.mem, s.RSAR - RAM_START, s.RSAR - RAM_START + bytes), at);
      this.dmaAdvance(bytes);
    }
    while (done < count && s.RBCR > 0) {
      storeLE(dst, at + done * size, size, this.dataRead(size));
      done++;
    }
    return done;
  }

  write(offset: number, size: number, value: number): void {
    if (offset >= DATA && offset < RESET) { this.dataWrite(size, value); return; }
    if (offset >= RESET) return; // drivers write back what they read: no effect
    this.regWrite(offset & 0x0f, value & 0xff);
  }

  /** A register read: the switch runs on the page-qualified name, `offset | (page << 4)` (ne2000-regs.ts). */
  private regRead(offset: number): number {
    const s = this.state;
    if (offset === CR) return s.CR;
    switch (offset | ((s.CR >> CR_PAGE_SHIFT) << 4)) {
      case P0_CLDA0: case P0_CRDA0: return s.RSAR & 0xff; // the local and remote DMA addresses: we report the remote one
      case P0_CLDA1: case P0_CRDA1: return s.RSAR >> 8;
      case P0_BNRY: return s.BNRY;
      case P0_TSR: return s.TSR;
      case P0_NCR: return 0; // no collisions on a switched segment
      case P0_FIFO: return 0;
      case P0_ISR: return s.ISR;
      case P0_8029ID0: return this.pci ? 0x50 : 0xff; // the RTL8029's ID, 'P' 'C'
      case P0_8029ID1: return this.pci ? 0x43 : 0xff;
      case P0_RSR: return s.RSR;
      case P0_CNTR0: { const v = s.CNTR0; s.CNTR0 = 0; return v; }
      case P0_CNTR1: { const v = s.CNTR1; s.CNTR1 = 0; return v; }
      case P0_CNTR2: { const v = s.CNTR2; s.CNTR2 = 0; return v; }
      case P1_CURR: return s.CURR;
      case P2_PSTART: return s.PSTART;
      case P2_PSTOP: return s.PSTOP;
      case P2_RNPP: return 0;
      case P2_TPSR: return s.TPSR;
      case P2_LNPP: return 0;
      case P2_RCR: return s.RCR | 0xc0;
      case P2_TCR: return s.TCR | 0xe0;
      case P2_DCR: return s.DCR | 0x80;
      case P2_IMR: return s.IMR | 0x80;
      case P3_9346CR: return this.pci ? s.CR9346 : 0xff; // page 3 is the RTL8029's; an NE2000 has nothing there
      default: {
        const reg = offset | ((s.CR >> CR_PAGE_SHIFT) << 4);
        if (reg >= P1_PAR0 && reg < P1_PAR0 + 6) return s.PAR[reg - P1_PAR0];
        if (reg >= P1_MAR0 && reg < P1_MAR0 + 8) return s.MAR[reg - P1_MAR0];
        if (this.pci && reg >= P3_CONFIG0 && reg <= P3_CONFIG3) return s.CONFIG[reg - P3_CONFIG0];
        return 0xff;
      }
    }
  }

  /** A register write, switched like `regRead`. */
  private regWrite(offset: number, v: number): void {
    const s = this.state;
    if (offset === CR) { this.commandWrite(v); return; }
    const reg = offset | ((s.CR >> CR_PAGE_SHIFT) << 4);
    switch (reg) {
      case P0_PSTART: s.PSTART = v; return;
      case P0_PSTOP: s.PSTOP = v; return;
      case P0_BNRY: s.BNRY = v; return;
      case P0_TPSR: s.TPSR = v; return;
      case P0_TBCR0: s.TBCR = (s.TBCR & 0xff00) | v; return;
      case P0_TBCR1: s.TBCR = (s.TBCR & 0xff) | (v << 8); return;
      case P0_ISR: s.ISR &= ~(v & 0x7f); this.updateIrq(); return; // write one to clear (RST is read-only)
      case P0_RSAR0: s.RSAR = (s.RSAR & 0xff00) | v; return;
      case P0_RSAR1: s.RSAR = (s.RSAR & 0xff) | (v << 8); return;
      case P0_RBCR0: s.RBCR = (s.RBCR & 0xff00) | v; return;
      case P0_RBCR1: s.RBCR = (s.RBCR & 0xff) | (v << 8); return;
      case P0_RCR: s.RCR = v & 0x3f; return;
      case P0_TCR: s.TCR = v & 0x1f; return;
      case P0_DCR: s.DCR = v & 0x7f; return;
      case P0_IMR: s.IMR = v & 0x7f; this.updateIrq(); return;
      case P1_CURR: s.CURR = v; return;
      case P3_9346CR: if (this.pci) { s.CR9346 = v; return; } break;
      default:
        if (reg >= P1_PAR0 && reg < P1_PAR0 + 6) { s.PAR[reg - P1_PAR0] = v; return; }
        if (reg >= P1_MAR0 && reg < P1_MAR0 + 8) { s.MAR[reg - P1_MAR0] = v; return; }
        if (this.pci && reg >= P3_CONFIG0 && reg <= P3_CONFIG3 && (s.CR9346 & 0xc0) === 0xc0) { s.CONFIG[reg - P3_CONFIG0] = v; return; }
    }
    this.onLog(`ne2000: write 0x${v.toString(16)} to page ${reg >> 4} register 0x${offset.toString(16)} ignored`);
  }

  /** CR (datasheet, "Command Register"): page select, remote DMA command, start/stop, transmit. */
  private commandWrite(v: number): void {
    const s = this.state;
    s.CR = (s.CR & CR_TXP) | (v & ~CR_TXP);
    if (v & CR_STP) {
      s.CR = (s.CR & ~CR_STA) | CR_STP;
      s.ISR |= ISR_RST;
    } else if (v & CR_STA) {
      s.CR &= ~CR_STP;
      s.ISR &= ~ISR_RST;
    }
    const rd = v & CR_RD_MASK;
    if (rd === RD_SEND) {
      // "Send packet": a remote read of the packet at BNRY, length from its header.
      s.RSAR = s.BNRY << 8;
      s.RBCR = this.memRead((s.BNRY << 8) + 2) | (this.memRead((s.BNRY << 8) + 3) << 8);
    } else if ((rd === RD_READ || rd === RD_WRITE) && s.RBCR === 0) {
      // A zero-count remote DMA completes at once (DESIGN.md section 8; Linux relies on it),
      // and CR reads back "complete" as after any remote DMA.
      s.ISR |= ISR_RDC;
      s.CR = (s.CR & ~CR_RD_MASK) | RD_ABORT;
    }
    if ((v & CR_TXP) && !(s.CR & CR_STP)) this.startTransmit();
    this.updateIrq();
  }

  // ---- Remote DMA through the data port ----

  private dmaActive(): number {
    const rd = this.state.CR & CR_RD_MASK;
    if (rd === RD_READ || rd === RD_SEND) return RD_READ;
    if (rd === RD_WRITE) return RD_WRITE;
    return 0;
  }

  /** One byte of remote DMA done: advance RSAR (wrapping at PSTOP like the ring), count down RBCR. */
  private dmaStep(): void {
    const s = this.state;
    s.RSAR = (s.RSAR + 1) & 0xffff;
    if (s.PSTOP > s.PSTART && s.RSAR === s.PSTOP << 8) s.RSAR = s.PSTART << 8;
    if (s.RBCR > 0) {
      s.RBCR--;
      if (s.RBCR === 0) {
        s.ISR |= ISR_RDC;
        s.CR = (s.CR & ~CR_RD_MASK) | RD_ABORT;
        this.updateIrq();
      }
    }
  }

  private dataRead(size: number): number {
    const s = this.state;
    if (this.dmaActive() !== RD_READ || s.RBCR === 0) {
      this.onLog('ne2000: data port read with no remote read in progress');
      return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    }
    // Byte mode moves one byte per access. Word mode (DCR.WTS) moves a word per access
    // whatever its width, so a byte read gets the word's low byte and RSAR moves on by
    // two (Linux's ne2k-pci reads the PROM so), and 32-bit I/O on the RTL8029 moves four.
    const n = this.dataWidth(size);
    let v = 0;
    for (let i = 0; i < n && s.RBCR > 0; i++) {
      v |= this.memRead(s.RSAR) << (8 * i);
      this.dmaStep();
    }
    return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v >>> 0;
  }

  private dataWrite(size: number, value: number): void {
    const s = this.state;
    if (this.dmaActive() !== RD_WRITE || s.RBCR === 0) {
      this.onLog('ne2000: data port write with no remote write in progress');
      return;
    }
    // A byte write in word mode writes a whole word, its high byte zero (as QEMU's
    // model; on the card it is whatever the bus's upper lines hold).
    const n = this.dataWidth(size);
    for (let i = 0; i < n && s.RBCR > 0; i++) {
      this.memWrite(s.RSAR, i < size ? (value >>> (8 * i)) & 0xff : 0);
      this.dmaStep();
    }
  }

  /** Bytes of remote DMA one data-port access of `size` bytes moves: 1 in byte mode; in word mode 2, or 4 for a 32-bit access. */
  private dataWidth(size: number): number {
    if (!(this.state.DCR & DCR_WTS)) return 1;
    return size === 4 ? 4 : 2;
  }

  // ---- Transmit ----

  private startTransmit(): void {
    const s = this.state;
    if (s.txBusy) return;
    const len = s.TBCR;
    if (len === 0 || len > MAX_FRAME) {
      // Hostile or broken byte count: refuse it as an aborted transmit (contained).
      this.onLog(`ne2000: transmit of ${len} bytes refused`);
      s.TSR = TSR_ABT;
      s.ISR |= ISR_TXE;
      this.updateIrq();
      return;
    }
    const frame = this.txBuffer;
    const base = s.TPSR << 8;
    if (base >= RAM_START && base + len <= RAM_END) frame.set(this.bufferView.of(s.mem, base - RAM_START, base - RAM_START + len));
    else for (let i = 0; i < len; i++) frame[i] = this.memRead(base + i); // PROM, open bus or the 64 KiB wrap
    this.txLen = Math.max(len, MIN_FRAME);
    if (len < MIN_FRAME) frame.fill(0, len, MIN_FRAME); // padded to the minimum
    s.CR |= CR_TXP;
    s.txBusy = true;
    this.txTimer.armIn(Math.ceil((frameBits(this.txLen) * this.clock.hz) / this.bitsPerSecond));
  }

  private transmitDone(): void {
    const s = this.state;
    const len = this.txLen;
    this.txLen = 0;
    s.txBusy = false;
    s.CR &= ~CR_TXP;
    s.TSR = TSR_PTX;
    s.ISR |= ISR_PTX;
    if (len !== 0) {
      // Lent to the wire for the call (see EthernetPort): the buffer is the next frame's.
      const frame = this.txView.of(this.txBuffer, 0, len);
      if (s.TCR & TCR_LB) this.receive(frame); // loopback: the frame comes back in, never out
      else this.port?.send(frame);
    }
    this.updateIrq();
  }

  // ---- Receive ----

  /** Address filter (datasheet, "Receive Configuration Register" and "Multicast Address Registers"). */
  private accepts(frame: Uint8Array): boolean {
    const s = this.state;
    if (s.RCR & RCR_MON) return false; // monitor mode: checked and counted, not buffered
    if (frame.length < MIN_FRAME && !(s.RCR & RCR_AR)) return false;
    if (s.RCR & RCR_PRO) return true;
    if (isBroadcast(frame)) return (s.RCR & RCR_AB) !== 0;
    if (isMulticast(frame)) {
      if (!(s.RCR & RCR_AM)) return false;
      const index = crc32(frame, 0, 6) >>> 26; // the top six bits of the CRC of the destination
      return (s.MAR[index >> 3] & (1 << (index & 7))) !== 0;
    }
    for (let i = 0; i < 6; i++) if (frame[i] !== s.PAR[i]) return false;
    return true;
  }

  /** A frame arrives from the wire. Returns true if it was stored in the ring. */
  receive(frame: Uint8Array): boolean {
    const s = this.state;
    if (s.CR & CR_STP) return false;
    if (!this.accepts(frame)) return false;
    const start = s.PSTART, stop = s.PSTOP;
    // Hostile ring programming (each a past advisory): an empty or inverted ring, a
    // ring outside card RAM, CURR outside the ring. Refuse rather than loop or overflow.
    if (start >= stop || start < RAM_START >> 8 || stop > RAM_END >> 8 || s.CURR < start || s.CURR >= stop) {
      this.dropped++;
      this.onLog(`ne2000: receive refused: ring PSTART=0x${start.toString(16)} PSTOP=0x${stop.toString(16)} CURR=0x${s.CURR.toString(16)}`);
      return false;
    }
    const total = frame.length + 4;
    const pages = (total + 255) >> 8;
    const ringPages = stop - start;
    const bnry = s.BNRY >= start && s.BNRY < stop ? s.BNRY : start;
    let free = bnry - s.CURR;
    if (free <= 0) free += ringPages;
    if (pages >= free) {
      // No room: the overwrite warning, frame lost (datasheet, "Buffer Overflow").
      s.ISR |= ISR_OVW;
      s.CNTR2 = (s.CNTR2 + 1) & 0xff;
      this.dropped++;
      this.updateIrq();
      return false;
    }
    let next = s.CURR + pages;
    if (next >= stop) next -= ringPages;
    // The header and the frame go in from CURR on, wrapping from PSTOP to PSTART (the
    // ring is inside card RAM, checked above). A header never straddles the wrap: CURR
    // starts a page.
    const rsr = RSR_PRX | (isMulticast(frame) ? RSR_PHY : 0);
    const mem = s.mem, ringEnd = (stop << 8) - RAM_START;
    let at = (s.CURR << 8) - RAM_START;
    mem[at] = rsr; mem[at + 1] = next; mem[at + 2] = total & 0xff; mem[at + 3] = total >> 8;
    at += 4;
    const first = Math.min(frame.length, ringEnd - at);
    mem.set(first === frame.length ? frame : frame.subarray(0, first), at);
    if (first < frame.length) mem.set(frame.subarray(first), (start << 8) - RAM_START);
    s.CURR = next;
    s.RSR = rsr;
    s.ISR |= ISR_PRX;
    this.updateIrq();
    return true;
  }
}
