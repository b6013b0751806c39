/**
 * The Realtek RTL8139C (PCI 10ec:8139, revision 0x10), written from the RTL8139C(L)
 * datasheet (rev 1.4) and its programming guide: IDR0-5, MAR0-7, the four transmit
 * descriptors TSD0-3/TSAD0-3 (OWN, TUN, TOK, SIZE), the receive ring at RBSTART
 * (8/16/32/64 KiB + 16 bytes, RCR.WRAP, the 4-byte header, CAPR/CBR), CR, IMR/ISR
 * (write one to clear), TCR/RCR, 9346CR (the 93C46 EEPROM behind it, with the card's
 * ID word and MAC, and CONFIG0-5 writable only when unlocked), TCTR/TimerInt, MULINT,
 * and the link: MSR, BMCR/BMSR and the auto-negotiation registers (ANAR, ANLPAR, ANER)
 * of a 100 Mbit/s full-duplex link that is always up. Register offsets are BAR0 I/O
 * offsets.
 *
 * Bus-master DMA goes through a `DmaPort` the machine gives the card, so a hypervisor
 * can translate or refuse it; nothing moves unless the PCI command register's
 * bus-master bit is set. C+ mode is not offered (the CPCR register is refused): it is
 * an RTL8139C+ feature, and the source of past QEMU information leaks.
 */
import { Clock, Timer } from './clock';
import { EthernetPort, MAX_FRAME, MIN_FRAME, ViewCache, frameBits, crc32, isBroadcast, isMulticast, newFrame } from './net/ethernet';

/** The card's window onto memory: addresses are bus addresses; false means refused (nothing moved). */
export interface DmaPort {
  read(addr: number, dst: Uint8Array): boolean;
  write(addr: number, src: Uint8Array): boolean;
}

/**
 * A DMA port onto `ram` from address 0, refusing anything past its end; `written` hears
 * of every write (to drop translated code there).
 */
export function ramDma(ram: Uint8Array, written: (addr: number, length: number) => void): DmaPort {
  const source = new ViewCache(4); // a driver's transmit buffers, one per descriptor
  return {
    read: (addr, dst) => {
      if (addr < 0 || addr + dst.length > ram.length) return false;
      dst.set(source.of(ram, addr, addr + dst.length));
      return true;
    },
    write: (addr, src) => {
      if (addr < 0 || addr + src.length > ram.length) return false;
      ram.set(src, addr);
      written(addr, src.length);
      return true;
    },
  };
}

import {
  MAR0, TSD0, TSAD0, RBSTART, CR, CAPR, CBR, IMR, ISR, TCR, RCR, TCTR, MPC, CR9346, CONFIG0, CONFIG1, MSR, CONFIG3, CONFIG4, RERID, TSAD, HLTCLK,
  BMCR, BMSR, CONFIG5, CPCR, CR_BUFE, CR_TE, CR_RE, CR_RST, ISR_ROK, ISR_RER, ISR_TOK, ISR_TER, ISR_RXOVW, ISR_FOVW, ISR_TIMEOUT,
  TIMERINT, MULINT, ANAR, ANLPAR, ANER, DIS, FCSC, NWAYTR, REC, CSCR, PHY1_PARM, WAKEUP0, WAKEUP_END, ANAR_DEFAULT, ANLPAR_PARTNER, ANER_LP_NW_ABLE,
  CR9346_EEM, CR9346_AUTOLOAD, CR9346_PROGRAM, CR9346_UNLOCK, CR9346_EECS, CR9346_EESK, CR9346_EEDI, CR9346_EEDO, TCR_CLRABT,
  TSD_OWN, TSD_TUN, TSD_TOK, TSD_TABT, TSD_SIZE, TSAD_OWN_SHIFT, TSAD_TABT_SHIFT, TSAD_TUN_SHIFT, TSAD_TOK_SHIFT,
  RCR_AAP, RCR_APM, RCR_AM, RCR_AB, RCR_AR, RCR_WRAP, RX_ROK, RX_PAM, RX_BAR, RX_MAR, TCR_HWVERID_8139C, TCR_HWVERID_MASK, TCR_LBK, ringBytes,
} from './rtl8139-regs';
import { PortDevice } from './port-bus';
import { EEPROM_WORDS, Eeprom93c46 } from './eeprom93c46';

/** TCTR counts the PCI clock. */
const PCI_HZ = 33_000_000;

/** The datasheet's limit on a transmit: 1792 bytes. */
export const MAX_TX_SIZE = 1792;
/**
 * The receive FIFO between the wire and the bus (2 KiB, the size of the transmit FIFO
 * the programming guide gives). A packet is counted with its 4-byte header and CRC.
 */
export const RX_FIFO_BYTES = 2048;

export interface Rtl8139State {
  IDR: Uint8Array;
  MAR: Uint8Array;
  TSD: Uint32Array;
  TSAD: Uint32Array;
  RBSTART: number;
  CR: number;
  CAPR: number;
  /** CBR: where the next received packet goes, as an offset in the ring. */
  CBR: number;
  IMR: number;
  ISR: number;
  TCR: number;
  RCR: number;
  MPC: number;
  CR9346: number;
  CONFIG: Uint8Array; // CONFIG0, 1, 3, 4, 5
  BMCR: number;
  /** The 93C46 behind 9346CR: the card's ID, PCI identity and MAC (words 7-9), and its serial state. */
  EEPROM: Eeprom93c46;
  /** TCTR counts from this cycle (any write to TCTR restarts it from 0). */
  TCTRBase: number;
  TimerInt: number;
  /** ISR.TimeOut is already set for the TCTR period running now. */
  timerFired: boolean;
  MULINT: number;
  MSR: number;
  ANAR: number;
  NWAYTR: number;
  CSCR: number;
  /** PHY1_PARM, TW_PARM, PHY2_PARM: 0x78-0x80, kept as written. */
  PARM: Uint8Array;
  /** The wake-up frame masks and CRCs, 0x84-0xD7, kept as written (nothing here wakes). */
  WAKEUP: Uint8Array;
  /** Descriptor transmitting, or -1. */
  txBusy: number;
  /** Next descriptor the driver is expected to use (round robin). */
  txNext: number;
}

/**
 * The EEPROM an RTL8139C board ships with (datasheet section 6, "EEPROM (93C46)
 * Contents"): the 0x8129 ID word, vendor and device, subsystem vendor and device,
 * MIN_GNT/MAX_LAT, and the MAC in words 7-9, low byte first in each word.
 */
export function rtl8139Eeprom(mac: Uint8Array): Eeprom93c46 {
  const w = new Array<number>(EEPROM_WORDS).fill(0);
  w[0] = 0x8129; w[1] = 0x10ec; w[2] = 0x8139; w[3] = 0x10ec; w[4] = 0x8139; w[5] = 0x4020;
  for (let i = 0; i < 3; i++) w[7 + i] = mac[2 * i] | (mac[2 * i + 1] << 8);
  return new Eeprom93c46(w);
}

export function newRtl8139State(mac: Uint8Array): Rtl8139State {
  return {
    IDR: Uint8Array.from(mac), MAR: new Uint8Array(8), TSD: new Uint32Array(4).fill(TSD_OWN), TSAD: new Uint32Array(4),
    RBSTART: 0, CR: CR_BUFE, CAPR: 0xfff0, CBR: 0, IMR: 0, ISR: 0, TCR: TCR_HWVERID_8139C, RCR: 0, MPC: 0, CR9346: 0,
    CONFIG: Uint8Array.from([0, 0, 0, 0, 0]), BMCR: 0x3100, EEPROM: rtl8139Eeprom(mac), TCTRBase: 0, TimerInt: 0, timerFired: false,
    MULINT: 0, MSR: 0, ANAR: ANAR_DEFAULT, NWAYTR: 0, CSCR: 0, PARM: new Uint8Array(12), WAKEUP: new Uint8Array(WAKEUP_END - WAKEUP0),
    txBusy: -1, txNext: 0,
  };
}

/** A copy of a context that shares nothing with it. */
function copyState(s: Rtl8139State): Rtl8139State {
  return {
    ...s, IDR: s.IDR.slice(), MAR: s.MAR.slice(), TSD: s.TSD.slice(), TSAD: s.TSAD.slice(), CONFIG: s.CONFIG.slice(),
    EEPROM: s.EEPROM.clone(), PARM: s.PARM.slice(), WAKEUP: s.WAKEUP.slice(),
  };
}

export interface Rtl8139Options {
  mac: Uint8Array;
  bitsPerSecond?: number;
  /** Bytes a bus-master transfer moves per machine cycle (PCI 33 MHz x 4 bytes at 2 GHz: about 0.066). */
  dmaBytesPerCycle?: number;
  /**
   * False: a received frame is in the ring the moment it arrives, with no FIFO and no bus
   * time (a hypervisor's virtual card, whose receive "DMA" is the hypervisor's copy,
   * costed on its own). Default true.
   */
  rxBusTime?: boolean;
}

/** The RTL8139C as a port device: offsets 0x00-0xFF from its base (`RTL8139_PORTS`). */
export class Rtl8139 implements PortDevice {
  state: Rtl8139State;
  readonly mac: Uint8Array;
  readonly bitsPerSecond: number;
  readonly dmaBytesPerCycle: number;
  readonly rxBusTime: boolean;
  port: EthernetPort | null = null;
  dma: DmaPort = { read: () => false, write: () => false };
  /** The PCI command register's bus-master bit (the machine keeps it current). */
  busMaster = false;
  onIrq: (level: boolean) => void = () => {};
  onLog: (what: string) => void = () => {};
  /** Frames dropped: ring full, receiver off, or DMA refused. */
  dropped = 0;
  private irqLevel = false;
  private readonly txTimer: Timer;
  /** The frame on the wire (read from guest memory when the transmit began), and its length (0: none). */
  private readonly txBuffer = new Uint8Array(MAX_FRAME);
  private readonly txView = new ViewCache();
  private txLen = 0;
  /**
   * The receive FIFO: packets (header, frame, CRC) that passed the address filter and
   * wait for the bus; the head is moving to the ring, done when rxTimer fires.
   */
  private readonly rxFifo: Uint8Array[] = [];
  private rxFifoBytes = 0;
  private readonly rxTimer: Timer;
  /** TCTR reaching TimerInt. */
  private readonly pciTimer: Timer;

  constructor(readonly clock: Clock, opts: Rtl8139Options) {
    this.mac = Uint8Array.from(opts.mac);
    this.bitsPerSecond = opts.bitsPerSecond ?? 100_000_000;
    this.dmaBytesPerCycle = opts.dmaBytesPerCycle ?? (33e6 * 4) / clock.hz;
    this.rxBusTime = opts.rxBusTime ?? true;
    this.state = newRtl8139State(this.mac);
    // The transmit and receive-DMA chains go on from each event's own time: a CPU that is
    // late to look (an exit's cycles charged past the event) does not delay the card.
    this.txTimer = clock.timer('rtl8139-tx', (at) => this.transmitDone(at));
    this.rxTimer = clock.timer('rtl8139-rx-dma', (at) => this.rxDmaDone(at));
    this.pciTimer = clock.timer('rtl8139-timer', () => this.timeout());
  }

  /** A software reset (CR.RST) or power-on: rings and descriptors back to their defaults. */
  reset(): void {
    const s = this.state;
    // CR.RST resets the transmit and receive paths and the interrupt registers; the
    // MAC, the multicast filter, the CONFIG and PHY registers and the EEPROM stay.
    const keep = {
      IDR: s.IDR, MAR: s.MAR, CONFIG: s.CONFIG, CR9346: s.CR9346, EEPROM: s.EEPROM, BMCR: s.BMCR, ANAR: s.ANAR, MSR: s.MSR,
      NWAYTR: s.NWAYTR, CSCR: s.CSCR, PARM: s.PARM, WAKEUP: s.WAKEUP, TCTRBase: s.TCTRBase, TimerInt: s.TimerInt, timerFired: s.timerFired,
    };
    this.state = { ...newRtl8139State(this.mac), ...keep };
    this.txTimer.cancel();
    this.txLen = 0;
    this.flushRxFifo();
    this.updateIrq();
  }

  /**
   * The card's state as a driver can see it, to be put back with `restore` (a VPIO
   * handoff). Neither the frame on the wire nor the receive FIFO is part of it: whoever
   * switches contexts waits for both to drain (`transmitting`, `rxFifoFrames`) or
   * cancels the transmit (`abortTransmit`); `restore` discards what is left.
   */
  save(): Rtl8139State {
    return copyState(this.state);
  }

  /**
   * Puts a saved context on the card. Whatever the card had in flight for the context it
   * replaces is dropped with it (its transmit timer, its FIFO). A context saved while a
   * transmit was on the wire gets that descriptor back aborted (OWN, TABT, ISR.TER): the
   * frame is gone, and the driver is told so rather than left waiting for it.
   */
  restore(saved: Rtl8139State): void {
    if (this.rxFifo.length) this.onLog(`rtl8139: ${this.rxFifo.length} received frames still in the FIFO discarded by a context switch`);
    this.flushRxFifo();
    this.txTimer.cancel();
    this.txLen = 0;
    this.state = copyState(saved);
    if (this.state.txBusy >= 0) this.abortDescriptor(this.state.txBusy);
    this.armTimeout();
    this.updateIrq();
  }

  /** A frame is on its way out (read from memory, crossing the wire). */
  get transmitting(): boolean {
    return this.state.txBusy >= 0;
  }

  /**
   * Cancels the transmit in flight, if any: its descriptor completes aborted (OWN, TABT,
   * ISR.TER) and nothing reaches the wire. For a hypervisor taking the card from a
   * guest. Returns the descriptor cancelled, or -1.
   */
  abortTransmit(): number {
    const i = this.state.txBusy;
    if (i < 0) return -1;
    this.txTimer.cancel();
    this.txLen = 0;
    this.abortDescriptor(i);
    this.updateIrq();
    return i;
  }

  private abortDescriptor(i: number): void {
    const s = this.state;
    s.txBusy = -1;
    s.TSD[i] = (s.TSD[i] | TSD_OWN | TSD_TABT) >>> 0;
    s.ISR |= ISR_TER;
    this.onLog(`rtl8139: transmit on TSD${i} cancelled (aborted): the card changed hands while it was in flight`);
  }

  get irq(): boolean {
    return this.irqLevel;
  }

  private updateIrq(): void {
    const level = (this.state.ISR & this.state.IMR) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.onIrq(level);
    }
  }

  /** Receive ring size in bytes (without the 16-byte pad): 8 KiB << RCR.RBLEN. */
  get ringSize(): number {
    return ringBytes(this.state.RCR);
  }

  // ---- Register access ----

  read(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.readByte(offset + i);
    return size === 4 ? v >>> 0 : v;
  }

  private readByte(off: number): number {
    const s = this.state;
    if (off < 6) return s.IDR[off]; // IDR0-5 at 0x00
    if (off >= MAR0 && off < MAR0 + 8) return s.MAR[off - MAR0];
    if (off >= TSD0 && off < TSD0 + 16) return (s.TSD[(off - TSD0) >> 2] >>> (8 * (off & 3))) & 0xff;
    if (off >= TSAD0 && off < TSAD0 + 16) return (s.TSAD[(off - TSAD0) >> 2] >>> (8 * (off & 3))) & 0xff;
    if (off >= RBSTART && off < RBSTART + 4) return (s.RBSTART >>> (8 * (off - RBSTART))) & 0xff;
    switch (off) {
      case CR: return (s.CR & (CR_TE | CR_RE)) | (this.ringEmpty() ? CR_BUFE : 0);
      case CAPR: return s.CAPR & 0xff;
      case CAPR + 1: return s.CAPR >> 8;
      case CBR: return s.CBR & 0xff;
      case CBR + 1: return (s.CBR >> 8) & 0xff;
      case IMR: return s.IMR & 0xff;
      case IMR + 1: return s.IMR >> 8;
      case ISR: return s.ISR & 0xff;
      case ISR + 1: return s.ISR >> 8;
      case TCTR: case TCTR + 1: case TCTR + 2: case TCTR + 3: return (this.tctr() >>> (8 * (off - TCTR))) & 0xff;
      case TIMERINT: case TIMERINT + 1: case TIMERINT + 2: case TIMERINT + 3: return (s.TimerInt >>> (8 * (off - TIMERINT))) & 0xff;
      case CR9346:
        // In programming mode EEDO is the EEPROM's data-out pin.
        if ((s.CR9346 & CR9346_EEM) === CR9346_PROGRAM) return (s.CR9346 & ~CR9346_EEDO) | (s.EEPROM.dataOut ? CR9346_EEDO : 0);
        return s.CR9346 & ~CR9346_EEDO;
      case CONFIG0: return s.CONFIG[0];
      case CONFIG1: return s.CONFIG[1];
      // Link up (LINKB=0), 100 Mbit/s (SPEED_10=0), no pause frame received; the flow
      // control enables (TXFCE, RXFCE) as written.
      case MSR: return s.MSR & 0xc0;
      case CONFIG3: return s.CONFIG[2];
      case CONFIG4: return s.CONFIG[3];
      case TSAD: case TSAD + 1: {
        // Transmit status of all descriptors (datasheet 5.4): TOK3-0 in bits 15-12, TUN3-0
        // in 11-8, TABT3-0 in 7-4, OWN3-0 in 3-0, each the same bit of TSD0-3.
        let v = 0;
        for (let i = 0; i < 4; i++) {
          const tsd = s.TSD[i];
          if (tsd & TSD_TOK) v |= 1 << (TSAD_TOK_SHIFT + i);
          if (tsd & TSD_TUN) v |= 1 << (TSAD_TUN_SHIFT + i);
          if (tsd & TSD_TABT) v |= 1 << (TSAD_TABT_SHIFT + i);
          if (tsd & TSD_OWN) v |= 1 << (TSAD_OWN_SHIFT + i);
        }
        return off === TSAD ? v & 0xff : v >> 8;
      }
      case BMCR: return s.BMCR & 0xff;
      case BMCR + 1: return s.BMCR >> 8;
      case BMSR: return 0x2d; // link up, auto-negotiation complete, extended capability
      case BMSR + 1: return 0x78; // 10/100, half/full duplex
      case CONFIG5: return s.CONFIG[4];
      case RERID: return 0x10; // the revision
      case MULINT: return s.MULINT & 0xff;
      case MULINT + 1: return s.MULINT >> 8;
      case ANAR: return s.ANAR & 0xff;
      case ANAR + 1: return s.ANAR >> 8;
      case ANLPAR: return ANLPAR_PARTNER & 0xff;
      case ANLPAR + 1: return ANLPAR_PARTNER >> 8;
      case ANER: return ANER_LP_NW_ABLE;
      case NWAYTR: return s.NWAYTR & 0xff;
      case NWAYTR + 1: return s.NWAYTR >> 8;
      case CSCR: return s.CSCR & 0xff;
      case CSCR + 1: return s.CSCR >> 8;
      // DIS, FCSC, REC (0x6C-0x73 but NWAYTR): error counters of a wire with no errors.
      case DIS: case DIS + 1: case FCSC: case FCSC + 1: case REC: case REC + 1: return 0;
      default:
        if (off >= PHY1_PARM && off < PHY1_PARM + 12) return s.PARM[off - PHY1_PARM];
        if (off >= WAKEUP0 && off < WAKEUP_END) return s.WAKEUP[off - WAKEUP0];
        if (off >= TCR && off < TCR + 4) return (s.TCR >>> (8 * (off - TCR))) & 0xff;
        if (off >= RCR && off < RCR + 4) return (s.RCR >>> (8 * (off - RCR))) & 0xff;
        if (off >= MPC && off < MPC + 4) return (s.MPC >>> (8 * (off - MPC))) & 0xff;
        return 0;
    }
  }

  write(offset: number, size: number, value: number): void {
    const s = this.state;
    // Whole-register writes first (TSD starts a transmit; ISR is write-one-to-clear as a word).
    if (offset >= TSD0 && offset < TSD0 + 16 && size === 4 && (offset & 3) === 0) { this.writeTsd((offset - TSD0) >> 2, value >>> 0); return; }
    if (offset === ISR && size >= 2) { s.ISR &= ~(value & 0xffff); this.updateIrq(); return; }
    if (offset >= TIMERINT && offset + size <= TIMERINT + 4) {
      // Assembled whole, so a 32-bit write does not pass through the values its bytes make on the way.
      const sh = 8 * (offset - TIMERINT), mask = size === 4 ? 0xffffffff : ((1 << (8 * size)) - 1) << sh;
      s.TimerInt = ((s.TimerInt & ~mask) | ((value << sh) & mask)) >>> 0;
      s.timerFired = false;
      this.armTimeout();
      return;
    }
    if (offset === CPCR || offset === CPCR + 1) { this.onLog(`rtl8139: C+ mode (CPCR=0x${value.toString(16)}) refused: this is an RTL8139C`); return; }
    for (let i = 0; i < size; i++) this.writeByte(offset + i, (value >>> (8 * i)) & 0xff);
  }

  private writeByte(off: number, v: number): void {
    const s = this.state;
    if (off < 6) { s.IDR[off] = v; return; }
    if (off >= MAR0 && off < MAR0 + 8) { s.MAR[off - MAR0] = v; return; }
    if (off >= TSD0 && off < TSD0 + 16) {
      // A byte write to a TSD: assembled, and acted on when its high byte lands.
      const i = (off - TSD0) >> 2, sh = 8 * (off & 3);
      const nv = ((s.TSD[i] & ~(0xff << sh)) | (v << sh)) >>> 0;
      if ((off & 3) === 3) this.writeTsd(i, nv); else s.TSD[i] = nv;
      return;
    }
    if (off >= TSAD0 && off < TSAD0 + 16) {
      const i = (off - TSAD0) >> 2, sh = 8 * (off & 3);
      if (s.txBusy === i) { this.onLog(`rtl8139: TSAD${i} written while its transmit is in flight: ignored`); return; }
      s.TSAD[i] = ((s.TSAD[i] & ~(0xff << sh)) | (v << sh)) >>> 0;
      return;
    }
    if (off >= RBSTART && off < RBSTART + 4) {
      const sh = 8 * (off - RBSTART);
      s.RBSTART = ((s.RBSTART & ~(0xff << sh)) | (v << sh)) >>> 0;
      return;
    }
    switch (off) {
      case CR:
        if (v & CR_RST) { this.reset(); return; }
        if ((v & CR_RE) && !(s.CR & CR_RE)) { s.CBR = 0; s.CAPR = 0xfff0; } // the receiver starts at the top of the ring
        if (!(v & CR_RE) && (s.CR & CR_RE)) this.flushRxFifo(); // the receiver stops: what it had not stored is lost
        {
          const teOn = (v & CR_TE) && !(s.CR & CR_TE);
          s.CR = v & (CR_TE | CR_RE);
          if (teOn) this.startNext(); // descriptors handed over while the transmitter was off go now
        }
        return;
      case CAPR: s.CAPR = (s.CAPR & 0xff00) | v; return;
      case CAPR + 1: s.CAPR = (s.CAPR & 0xff) | (v << 8); return;
      case IMR: s.IMR = (s.IMR & 0xff00) | v; this.updateIrq(); return;
      case IMR + 1: s.IMR = (s.IMR & 0xff) | (v << 8); this.updateIrq(); return;
      case ISR: s.ISR &= ~v; this.updateIrq(); return;
      case ISR + 1: s.ISR &= ~(v << 8); this.updateIrq(); return;
      case CR9346: this.write9346(v); return;
      case TCTR: case TCTR + 1: case TCTR + 2: case TCTR + 3:
        // Any write restarts the counter from zero.
        s.TCTRBase = this.clock.now; s.timerFired = false; this.armTimeout(); return;
      case MSR: s.MSR = v & 0xc0; return;
      case MULINT: s.MULINT = (s.MULINT & 0xff00) | v; return;
      case MULINT + 1: s.MULINT = (s.MULINT & 0xff) | ((v & 0x0f) << 8); return; // MISR11-0; the top four bits are reserved
      case ANAR: s.ANAR = (s.ANAR & 0xff00) | v; return;
      case ANAR + 1: s.ANAR = (s.ANAR & 0xff) | (v << 8); return;
      case NWAYTR: s.NWAYTR = (s.NWAYTR & 0xff00) | v; return;
      case NWAYTR + 1: s.NWAYTR = (s.NWAYTR & 0xff) | (v << 8); return;
      case CSCR: s.CSCR = (s.CSCR & 0xff00) | v; return;
      case CSCR + 1: s.CSCR = (s.CSCR & 0xff) | (v << 8); return;
      case 0x06: case 0x07: return; // reserved, after IDR5: a 32-bit write of IDR4-5 reaches them
      case CONFIG0: case CONFIG1: case CONFIG3: case CONFIG4: case CONFIG5: {
        if ((s.CR9346 & CR9346_EEM) !== CR9346_UNLOCK) { this.onLog(`rtl8139: CONFIG write 0x${v.toString(16)} at 0x${off.toString(16)} while 9346CR is locked: ignored`); return; }
        const idx = off === CONFIG0 ? 0 : off === CONFIG1 ? 1 : off === CONFIG3 ? 2 : off === CONFIG4 ? 3 : 4;
        s.CONFIG[idx] = v;
        return;
      }
      case BMCR: s.BMCR = (s.BMCR & 0xff00) | v; return;
      case BMCR + 1: s.BMCR = ((s.BMCR & 0xff) | (v << 8)) & ~0x8000; return; // reset bit self-clears
      case MPC: case MPC + 1: case MPC + 2: case MPC + 3: s.MPC = 0; return; // any write clears the counter
      case HLTCLK: return; // the older chips' clock halt; reserved on the C, and written by 8139too at probe
      default:
        if (off >= TCR && off < TCR + 4) {
          const sh = 8 * (off - TCR);
          // The hardware version bits are read-only. CLRABT clears itself: it would
          // retransmit the last aborted frame, which is not done here (the driver has
          // already counted it lost, and may be reusing its descriptor).
          const nv = (s.TCR & ~(0xff << sh)) | (v << sh);
          s.TCR = ((nv & ~(TCR_HWVERID_MASK | TCR_CLRABT)) | TCR_HWVERID_8139C) >>> 0;
          return;
        }
        if (off >= PHY1_PARM && off < PHY1_PARM + 12) { s.PARM[off - PHY1_PARM] = v; return; }
        if (off >= WAKEUP0 && off < WAKEUP_END) { s.WAKEUP[off - WAKEUP0] = v; return; }
        if (off >= RCR && off < RCR + 4) {
          const sh = 8 * (off - RCR);
          s.RCR = ((s.RCR & ~(0xff << sh)) | (v << sh)) >>> 0;
          return;
        }
        this.onLog(`rtl8139: write 0x${v.toString(16)} to 0x${off.toString(16)} ignored`);
    }
  }

  /**
   * 9346CR: EEM selects what the low bits mean. Programming mode (10) drives the
   * EEPROM's pins; auto-load (01) reloads the MAC from the EEPROM and returns to normal
   * mode (at once here: the part's read time is not modelled); 11 unlocks the CONFIG
   * registers. Leaving programming mode drops the EEPROM's chip select.
   */
  private write9346(v: number): void {
    const s = this.state;
    const mode = v & CR9346_EEM;
    if (mode === CR9346_AUTOLOAD) {
      const w = s.EEPROM.words;
      for (let i = 0; i < 3; i++) { s.IDR[2 * i] = w[7 + i] & 0xff; s.IDR[2 * i + 1] = w[7 + i] >> 8; }
      s.EEPROM.drive(false, false, false);
      s.CR9346 = 0;
      return;
    }
    s.CR9346 = v & (CR9346_EEM | CR9346_EECS | CR9346_EESK | CR9346_EEDI);
    if (mode === CR9346_PROGRAM) s.EEPROM.drive((v & CR9346_EECS) !== 0, (v & CR9346_EESK) !== 0, (v & CR9346_EEDI) !== 0);
    else s.EEPROM.drive(false, false, false);
  }

  /** TCTR now: PCI clocks since it was last written. */
  private tctr(): number {
    return Math.floor(((this.clock.now - this.state.TCTRBase) * PCI_HZ) / this.clock.hz) >>> 0;
  }

  /** Arms the TimeOut interrupt for when TCTR reaches TimerInt (0: no interrupt). */
  private armTimeout(): void {
    const s = this.state;
    this.pciTimer.cancel();
    if (s.TimerInt === 0 || s.timerFired) return;
    const at = s.TCTRBase + Math.ceil((s.TimerInt * this.clock.hz) / PCI_HZ);
    if (at <= this.clock.now) { this.timeout(); return; }
    this.pciTimer.arm(at);
  }

  private timeout(): void {
    const s = this.state;
    s.timerFired = true;
    s.ISR |= ISR_TIMEOUT;
    this.updateIrq();
  }

  // ---- Transmit (datasheet, "Transmit Operation") ----

  /** A TSD write: OWN cleared with the transmitter on starts descriptor i. */
  private writeTsd(i: number, v: number): void {
    const s = this.state;
    if (s.txBusy === i) { this.onLog(`rtl8139: TSD${i} written while its transmit is in flight: ignored`); return; }
    s.TSD[i] = v & ~(TSD_TOK | TSD_TUN);
    if (v & TSD_OWN) return;
    if (!(s.CR & CR_TE)) { this.onLog(`rtl8139: transmit on TSD${i} with the transmitter off: held`); return; }
    if (s.txBusy >= 0) {
      // One transmit at a time here: a second one queues behind by waiting for the first.
      this.onLog(`rtl8139: TSD${i} started while TSD${s.txBusy} transmits: it will wait`);
    }
    this.startNext();
  }

  /**
   * Starts the next descriptor the driver handed over (OWN=0, not yet sent), in ring
   * order, while the transmitter is on. Turning TE off lets the frame on the wire finish
   * and holds the rest until TE is set again.
   */
  private startNext(from = this.clock.now): void {
    const s = this.state;
    if (s.txBusy >= 0 || !(s.CR & CR_TE)) return;
    for (let k = 0; k < 4; k++) {
      const i = (s.txNext + k) & 3;
      const tsd = s.TSD[i];
      if (tsd & (TSD_OWN | TSD_TOK)) continue;
      s.txNext = (i + 1) & 3;
      const size = tsd & TSD_SIZE;
      if (size === 0 || size > MAX_TX_SIZE || size > MAX_FRAME) {
        // Refused: the descriptor completes with an aborted transmit (TER), nothing on the wire.
        this.onLog(`rtl8139: TSD${i} size ${size} refused (1..${Math.min(MAX_TX_SIZE, MAX_FRAME)})`);
        s.TSD[i] = (tsd | TSD_OWN | TSD_TABT) >>> 0;
        s.ISR |= ISR_TER;
        this.updateIrq();
        continue;
      }
      if (!this.busMaster || !this.dma.read(s.TSAD[i], this.txView.of(this.txBuffer, 0, size))) {
        this.onLog(`rtl8139: transmit DMA from 0x${s.TSAD[i].toString(16)} (${size} bytes) refused`);
        s.TSD[i] = (tsd | TSD_OWN | TSD_TUN) >>> 0; // underrun: the data never arrived
        s.ISR |= ISR_TER;
        this.updateIrq();
        continue;
      }
      this.txLen = Math.max(size, MIN_FRAME);
      if (size < MIN_FRAME) this.txBuffer.fill(0, size, MIN_FRAME); // padded to the minimum
      s.txBusy = i;
      this.txTimer.arm(from + this.dmaCycles(size) + Math.ceil((frameBits(this.txLen) * this.clock.hz) / this.bitsPerSecond));
      return;
    }
  }

  private transmitDone(at: number): void {
    const s = this.state;
    const i = s.txBusy;
    const len = this.txLen;
    s.txBusy = -1;
    this.txLen = 0;
    if (i < 0 || len === 0) return;
    // Lent to the wire for the call (see EthernetPort): the buffer is the next frame's.
    const frame = this.txView.of(this.txBuffer, 0, len);
    s.TSD[i] = (s.TSD[i] | TSD_OWN | TSD_TOK) >>> 0;
    s.ISR |= ISR_TOK;
    const loopback = (s.TCR & TCR_LBK) !== 0;
    if (loopback) this.receive(frame); // loopback: the frame comes back in (after the transmit, not inside it)
    else this.port?.send(frame);
    this.updateIrq();
    this.startNext(at);
  }

  // ---- Receive (datasheet, "Receive Operation") ----

  private ringEmpty(): boolean {
    const s = this.state;
    return ((s.CAPR + 16) & 0xffff) % (this.ringSize) === s.CBR % this.ringSize;
  }

  private accepts(frame: Uint8Array): number {
    const s = this.state;
    if (frame.length < MIN_FRAME && !(s.RCR & RCR_AR)) return 0;
    if (isBroadcast(frame)) return s.RCR & RCR_AB ? RX_BAR : 0;
    if (isMulticast(frame)) {
      if (!(s.RCR & RCR_AM)) return s.RCR & RCR_AAP ? RX_MAR : 0;
      const index = crc32(frame, 0, 6) >>> 26;
      return (s.MAR[index >> 3] & (1 << (index & 7))) || (s.RCR & RCR_AAP) ? RX_MAR : 0;
    }
    let match = true;
    for (let i = 0; i < 6; i++) if (frame[i] !== s.IDR[i]) match = false;
    if (match && (s.RCR & RCR_APM)) return RX_PAM;
    return s.RCR & RCR_AAP ? RX_ROK : 0;
  }

  /**
   * A frame from the wire. It passes the address filter and goes into the receive FIFO
   * (false: receiver off, filtered out, or the FIFO full: FOVW, counted in MPC); the bus
   * moves it to the ring when the transfer's time has passed (`rxDmaCycles`). With
   * Linux's setting (RCR.RXFTH = 7, no early threshold) the transfer starts once the
   * whole frame is in, which is how it is modelled whatever RXFTH says.
   */
  receive(frame: Uint8Array): boolean {
    const s = this.state;
    if (!(s.CR & CR_RE)) return false;
    const kind = this.accepts(frame);
    if (!kind) return false;
    const packet = this.packet(frame, kind);
    if (!this.rxBusTime) return this.store(packet);
    if (this.rxFifoBytes + packet.length > RX_FIFO_BYTES) {
      s.ISR |= ISR_FOVW;
      s.MPC = (s.MPC + 1) >>> 0;
      this.dropped++;
      this.updateIrq();
      return false;
    }
    this.rxFifo.push(packet);
    this.rxFifoBytes += packet.length;
    if (!this.rxTimer.armed) this.rxTimer.armIn(this.dmaCycles(packet.length));
    return true;
  }

  /** Machine cycles the bus takes to move a received frame of `length` bytes (with its header and CRC) to the ring. */
  rxDmaCycles(length: number): number {
    return this.rxBusTime ? this.dmaCycles(length + 8) : 0;
  }

  /** Machine cycles a bus-master transfer of `bytes` takes. */
  private dmaCycles(bytes: number): number {
    return Math.ceil(bytes / this.dmaBytesPerCycle);
  }

  /**
   * The longest the card can take to finish what it has in flight when nothing new is
   * started: four descriptors of the largest frame read over the bus and sent, and a
   * full receive FIFO moved to the ring. What a hypervisor waiting for it can bound its
   * wait by.
   */
  get drainCycles(): number {
    const largest = Math.min(MAX_TX_SIZE, MAX_FRAME);
    return 4 * (this.dmaCycles(largest) + Math.ceil((frameBits(largest) * this.clock.hz) / this.bitsPerSecond)) + this.dmaCycles(RX_FIFO_BYTES);
  }

  /** Frames in the receive FIFO, not yet in the ring. */
  get rxFifoFrames(): number {
    return this.rxFifo.length;
  }

  private flushRxFifo(): void {
    this.dropped += this.rxFifo.length;
    this.rxFifo.length = 0;
    this.rxFifoBytes = 0;
    this.rxTimer.cancel();
  }

  /** The head of the FIFO has crossed the bus: into the ring it goes, and the next one starts. */
  private rxDmaDone(at: number): void {
    const packet = this.rxFifo.shift();
    if (!packet) return;
    this.rxFifoBytes -= packet.length;
    this.store(packet);
    if (this.rxFifo.length) this.rxTimer.arm(at + this.dmaCycles(this.rxFifo[0].length));
  }

  /** The packet as the ring holds it: status and length (which counts the CRC), the frame, the CRC. */
  private packet(frame: Uint8Array, kind: number): Uint8Array {
    const len = frame.length + 4;
    const packet = newFrame(4 + len);
    const status = RX_ROK | kind;
    packet[0] = status & 0xff; packet[1] = status >> 8;
    packet[2] = len & 0xff; packet[3] = len >> 8;
    packet.set(frame, 4);
    const fcs = crc32(frame);
    packet[4 + frame.length] = fcs & 0xff; packet[5 + frame.length] = (fcs >>> 8) & 0xff;
    packet[6 + frame.length] = (fcs >>> 16) & 0xff; packet[7 + frame.length] = fcs >>> 24;
    return packet;
  }

  /** Writes a packet into the ring at CBR, if it has room. Returns true when it was stored. */
  private store(packet: Uint8Array): boolean {
    const s = this.state;
    const size = this.ringSize;
    const wrap = (s.RCR & RCR_WRAP) !== 0;
    const need = (packet.length + 3) & ~3;
    const read = (s.CAPR + 16) & 0xffff;
    let free = (read - s.CBR + size) % size;
    if (free === 0) free = size; // an empty ring
    if (need >= free) {
      s.ISR |= ISR_RXOVW;
      s.MPC = (s.MPC + 1) >>> 0;
      this.dropped++;
      this.updateIrq();
      return false;
    }
    const at = s.CBR % size;
    let ok: boolean;
    if (!this.busMaster) {
      ok = false;
    } else if (wrap || at + packet.length <= size) {
      // WRAP=1: the card writes past the end (into the 16-byte pad and beyond, which the
      // driver must have allocated: 1500 bytes more); the machine's DMA port bounds it.
      ok = this.dma.write(s.RBSTART + at, packet);
    } else {
      const first = size - at;
      ok = this.dma.write(s.RBSTART + at, packet.subarray(0, first)) && this.dma.write(s.RBSTART, packet.subarray(first));
    }
    if (!ok) {
      this.onLog(`rtl8139: receive DMA to 0x${(s.RBSTART + at).toString(16)} refused; frame dropped`);
      s.ISR |= ISR_RER;
      this.dropped++;
      this.updateIrq();
      return false;
    }
    s.CBR = (s.CBR + need) % size;
    s.ISR |= ISR_ROK;
    this.updateIrq();
    return true;
  }
}

