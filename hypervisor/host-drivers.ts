/**
 * The hypervisor's own drivers for the physical card, used in `virtual` mode, where
 * the guests' frames reach the wire through the hypervisor's software switch. They
 * drive the card through its registers like any driver (each access paying the bus
 * latency), and copy frames between their buffers and the switch (paying the copy):
 * that work is what `virtual` mode costs beyond the exits.
 *
 * Both run the card in promiscuous mode (the guests behind the switch have their own
 * MAC addresses), keep a bounded transmit queue (a full queue drops the frame and
 * counts it), and take the card's interrupt whenever it rises.
 */
import { PortDevice } from '../devices/port-bus';
import { Ne2000 } from '../devices/ne2000';
import {
  CR, DATA, RESET, CR_STP, CR_STA, CR_TXP, CR_PAGE1, RD_READ, RD_WRITE, RD_ABORT, ISR_PRX, ISR_PTX, ISR_RXE, ISR_TXE, ISR_OVW, ISR_RDC,
  P0_PSTART, P0_PSTOP, P0_BNRY, P0_TPSR, P0_TBCR0, P0_TBCR1, P0_ISR, P0_RSAR0, P0_RSAR1, P0_RBCR0, P0_RBCR1, P0_RCR, P0_TCR, P0_DCR, P0_IMR,
  P1_PAR0, P1_MAR0, P1_CURR, offsetOf,
} from '../devices/ne2000-regs';
import { Rtl8139 } from '../devices/rtl8139';
import * as R from '../devices/rtl8139-regs';
import { PciFunction } from '../devices/pci';
import { MAX_FRAME, MIN_FRAME, copyFrame } from '../devices/net/ethernet';

/** How a driver touches the world: the card's registers, and the cost of its own work. */
export interface DriverIo {
  /** The card's register block (offsets from its base); each access pays the bus latency. */
  readonly regs: PortDevice;
  /** Hypervisor cycles for work other than register accesses (copies). */
  work(cycles: number): void;
}

export interface HostDriver {
  readonly name: string;
  /** Queues a frame for the wire; false when the queue is full (the frame is dropped). */
  transmit(frame: Uint8Array): boolean;
  /** The card's interrupt line went up: service the card. */
  interrupt(): void;
  /** Frames dropped because the transmit queue was full. */
  readonly dropped: number;
  /** Whether frames are queued or on their way out. */
  readonly busy: boolean;
}

const TX_QUEUE = 64;

// ---- RTL8139 ----

/** The receive ring: 32 KiB + 16, WRAP set so a frame never splits at the end. */
const RTL_RING = 32 * 1024;
export const RTL8139_DRIVER_BYTES = RTL_RING + 16 + MAX_FRAME + 4 * 2048;

/**
 * The RTL8139 driver: the receive ring and four transmit buffers in the hypervisor's
 * own memory (`mem`, host-physical from `memBase`), descriptors used round robin.
 */
export class Rtl8139Driver implements HostDriver {
  readonly name = 'rtl8139';
  dropped = 0;
  private readonly queue: Uint8Array[] = [];
  private next = 0; // the next descriptor to fill
  private dirty = 0; // the oldest descriptor in flight
  private inFlight = 0;
  private rxOff = 0;
  private servicing = false;
  private readonly ringAt: number;
  private readonly txAt: number;

  get busy(): boolean { return this.queue.length > 0 || this.inFlight > 0; }

  constructor(private readonly io: DriverIo, fn: PciFunction, private readonly mem: Uint8Array, private readonly memBase: number,
    private readonly deliver: (frame: Uint8Array) => void) {
    this.ringAt = memBase;
    this.txAt = memBase + RTL_RING + 16 + MAX_FRAME;
    // PCI: I/O decoding and bus mastering on (the firmware set up the BARs).
    fn.write(0x04, 2, fn.read(0x04, 2) | 0x05);
    const r = io.regs;
    r.write(R.CR, 1, R.CR_RST);
    r.write(R.RBSTART, 4, this.ringAt >>> 0);
    for (let i = 0; i < 4; i++) r.write(R.TSAD0 + 4 * i, 4, (this.txAt + i * 2048) >>> 0);
    r.write(R.CR, 1, R.CR_RE | R.CR_TE);
    r.write(R.TCR, 4, 0x03000700); // max DMA burst, the default interframe gap
    r.write(R.RCR, 4, 0x80 | (2 << 11) | 0x0f); // WRAP, 32 KiB ring, accept all (promiscuous), multicast, broadcast
    r.write(R.CAPR, 2, 0xfff0);
    r.write(R.IMR, 2, R.ISR_ROK | R.ISR_RER | R.ISR_TOK | R.ISR_TER | R.ISR_RXOVW | R.ISR_FOVW);
  }

  transmit(frame: Uint8Array): boolean {
    if (this.queue.length >= TX_QUEUE) { this.dropped++; return false; }
    this.queue.push(copyFrame(frame)); // the sender's buffer is only lent (EthernetPort)
    this.kick();
    return true;
  }

  private kick(): void {
    while (this.queue.length && this.inFlight < 4) {
      const f = this.queue.shift()!;
      const at = this.txAt + this.next * 2048;
      this.mem.set(f, at);
      this.io.work(f.length);
      const len = Math.max(f.length, MIN_FRAME);
      if (len > f.length) this.mem.fill(0, at + f.length, at + len);
      this.io.regs.write(R.TSD0 + 4 * this.next, 4, len); // OWN = 0: the card takes it
      this.next = (this.next + 1) & 3;
      this.inFlight++;
    }
  }

  interrupt(): void {
    if (this.servicing) return; // the loop below sees whatever raised the line again
    this.servicing = true;
    const r = this.io.regs;
    for (let rounds = 0; rounds < 64; rounds++) {
      const isr = r.read(R.ISR, 2);
      if (isr === 0) break;
      r.write(R.ISR, 2, isr);
      if (isr & (R.ISR_TOK | R.ISR_TER)) this.reclaim();
      if (isr & (R.ISR_ROK | R.ISR_RER | R.ISR_RXOVW | R.ISR_FOVW)) this.receive();
    }
    this.servicing = false;
  }

  private reclaim(): void {
    while (this.inFlight > 0) {
      const tsd = this.io.regs.read(R.TSD0 + 4 * this.dirty, 4);
      if (!(tsd & (R.TSD_TOK | R.TSD_TUN | R.TSD_TABT)) && !(tsd & R.TSD_OWN)) break;
      this.dirty = (this.dirty + 1) & 3;
      this.inFlight--;
    }
    this.kick();
  }

  private receive(): void {
    const r = this.io.regs;
    for (let n = 0; n < 256 && !(r.read(R.CR, 1) & R.CR_BUFE); n++) {
      const p = this.ringAt + this.rxOff;
      const status = this.mem[p] | (this.mem[p + 1] << 8);
      const len = this.mem[p + 2] | (this.mem[p + 3] << 8);
      if (!(status & 1) || len < 4 + MIN_FRAME || len - 4 > MAX_FRAME) {
        // A bad header: restart the receiver, as Linux's 8139too does.
        r.write(R.CR, 1, R.CR_TE);
        r.write(R.CR, 1, R.CR_RE | R.CR_TE);
        r.write(R.RCR, 4, 0x80 | (2 << 11) | 0x0f);
        this.rxOff = 0;
        return;
      }
      const frame = this.mem.slice(p + 4, p + 4 + len - 4);
      this.io.work(frame.length);
      this.rxOff = ((this.rxOff + len + 4 + 3) & ~3) % RTL_RING;
      r.write(R.CAPR, 2, (this.rxOff - 16) & 0xffff);
      this.deliver(frame);
    }
  }
}

// ---- NE2000 (DP8390) ----

/** Page 1's registers, as ports. */
const N_PAR0 = offsetOf(P1_PAR0), N_MAR0 = offsetOf(P1_MAR0), N_CURR = offsetOf(P1_CURR);
const TX_PAGE = 0x40, RX_START = 0x46, RX_STOP = 0x80;

/** The NE2000 driver: one transmit buffer at page 0x40, the receive ring at 0x46-0x80, data moved by 16-bit remote DMA. */
export class Ne2000Driver implements HostDriver {
  readonly name = 'ne2000';
  dropped = 0;
  private readonly queue: Uint8Array[] = [];
  private txBusy = false;
  private servicing = false;

  get busy(): boolean { return this.queue.length > 0 || this.txBusy; }

  constructor(private readonly io: DriverIo, card: Ne2000, fn: PciFunction | null, private readonly deliver: (frame: Uint8Array) => void) {
    if (fn) fn.write(0x04, 2, fn.read(0x04, 2) | 0x01);
    const r = io.regs;
    r.write(RESET, 1, r.read(RESET, 1));
    r.write(CR, 1, RD_ABORT | CR_STP);
    r.write(P0_DCR, 1, 0x49); // word transfers, normal operation, FIFO threshold 8 bytes
    r.write(P0_RBCR0, 1, 0); r.write(P0_RBCR1, 1, 0);
    r.write(P0_RCR, 1, 0x1c); // promiscuous, multicast, broadcast
    r.write(P0_TCR, 1, 0x02); // internal loopback while the ring is set up
    r.write(P0_PSTART, 1, RX_START); r.write(P0_BNRY, 1, RX_START); r.write(P0_PSTOP, 1, RX_STOP);
    r.write(P0_ISR, 1, 0xff);
    r.write(P0_IMR, 1, ISR_PRX | ISR_PTX | ISR_RXE | ISR_TXE | ISR_OVW);
    r.write(CR, 1, RD_ABORT | CR_STP | CR_PAGE1);
    for (let i = 0; i < 6; i++) r.write(N_PAR0 + i, 1, card.mac[i]);
    for (let i = 0; i < 8; i++) r.write(N_MAR0 + i, 1, 0xff);
    r.write(N_CURR, 1, RX_START + 1);
    r.write(CR, 1, RD_ABORT | CR_STA);
    r.write(P0_TCR, 1, 0x00);
  }

  transmit(frame: Uint8Array): boolean {
    if (this.queue.length >= TX_QUEUE) { this.dropped++; return false; }
    this.queue.push(copyFrame(frame)); // the sender's buffer is only lent (EthernetPort)
    if (!this.txBusy && !this.servicing) this.start();
    return true;
  }

  private start(): void {
    const f = this.queue.shift();
    if (!f) return;
    const len = Math.max(f.length, MIN_FRAME);
    const padded = len > f.length ? new Uint8Array(len) : f;
    if (padded !== f) padded.set(f);
    this.remoteWrite(TX_PAGE << 8, padded);
    const r = this.io.regs;
    r.write(P0_TPSR, 1, TX_PAGE);
    r.write(P0_TBCR0, 1, len & 0xff);
    r.write(P0_TBCR1, 1, len >> 8);
    r.write(CR, 1, RD_ABORT | CR_STA | CR_TXP);
    this.txBusy = true;
  }

  private remoteSetup(addr: number, count: number, cmd: number): void {
    const r = this.io.regs;
    r.write(CR, 1, RD_ABORT | CR_STA);
    r.write(P0_RBCR0, 1, count & 0xff); r.write(P0_RBCR1, 1, count >> 8);
    r.write(P0_RSAR0, 1, addr & 0xff); r.write(P0_RSAR1, 1, addr >> 8);
    r.write(CR, 1, cmd | CR_STA);
  }

  private remoteDone(): void {
    const r = this.io.regs;
    for (let i = 0; i < 16 && !(r.read(P0_ISR, 1) & ISR_RDC); i++);
    r.write(P0_ISR, 1, ISR_RDC);
  }

  private remoteWrite(addr: number, data: Uint8Array): void {
    const words = (data.length + 1) >> 1;
    this.remoteSetup(addr, words * 2, RD_WRITE);
    const r = this.io.regs;
    for (let i = 0; i < words; i++) r.write(DATA, 2, data[2 * i] | ((data[2 * i + 1] ?? 0) << 8));
    this.remoteDone();
  }

  private remoteRead(addr: number, dst: Uint8Array, at: number, count: number): void {
    const words = (count + 1) >> 1;
    this.remoteSetup(addr, words * 2, RD_READ);
    const r = this.io.regs;
    for (let i = 0; i < words; i++) {
      const w = r.read(DATA, 2);
      dst[at + 2 * i] = w & 0xff;
      if (2 * i + 1 < count) dst[at + 2 * i + 1] = w >> 8;
    }
    this.remoteDone();
  }

  interrupt(): void {
    if (this.servicing) return;
    this.servicing = true;
    const r = this.io.regs;
    for (let rounds = 0; rounds < 64; rounds++) {
      const isr = r.read(P0_ISR, 1) & ~ISR_RDC;
      if (isr === 0) break;
      r.write(P0_ISR, 1, isr);
      if (isr & (ISR_PRX | ISR_RXE | ISR_OVW)) this.receive();
      if (isr & (ISR_PTX | ISR_TXE)) this.txBusy = false;
    }
    this.servicing = false;
    if (!this.txBusy) this.start();
  }

  private receive(): void {
    const r = this.io.regs;
    const hdr = new Uint8Array(4);
    for (let n = 0; n < 64; n++) {
      r.write(CR, 1, RD_ABORT | CR_STA | CR_PAGE1);
      const curr = r.read(N_CURR, 1);
      r.write(CR, 1, RD_ABORT | CR_STA);
      let page = r.read(P0_BNRY, 1) + 1;
      if (page >= RX_STOP) page = RX_START;
      if (page === curr) return;
      this.remoteRead(page << 8, hdr, 0, 4);
      const next = hdr[1], total = hdr[2] | (hdr[3] << 8);
      const len = total - 4;
      if (!(hdr[0] & 0x01) || next < RX_START || next >= RX_STOP || len < MIN_FRAME || len > MAX_FRAME) {
        // A header that makes no sense: drop everything the ring holds.
        r.write(P0_BNRY, 1, curr === RX_START ? RX_STOP - 1 : curr - 1);
        return;
      }
      const frame = new Uint8Array(len);
      const addr = (page << 8) + 4;
      const first = Math.min(len, (RX_STOP << 8) - addr);
      this.remoteRead(addr, frame, 0, first);
      if (first < len) this.remoteRead(RX_START << 8, frame, first, len - first);
      this.io.work(len);
      r.write(P0_BNRY, 1, next === RX_START ? RX_STOP - 1 : next - 1);
      this.deliver(frame);
    }
  }
}
