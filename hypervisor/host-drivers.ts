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
import { Rtl8139 } from '../devices/rtl8139';
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

const R_TSD0 = 0x10, R_TSAD0 = 0x20, R_RBSTART = 0x30, R_CR = 0x37, R_CAPR = 0x38, R_IMR = 0x3c, R_ISR = 0x3e, R_TCR = 0x40, R_RCR = 0x44;
const CR_BUFE = 0x01, CR_TE = 0x04, CR_RE = 0x08, CR_RST = 0x10;
const ISR_ROK = 0x01, ISR_RER = 0x02, ISR_TOK = 0x04, ISR_TER = 0x08, ISR_RXOVW = 0x10, ISR_FOVW = 0x40;
const TSD_OWN = 1 << 13, TSD_TUN = 1 << 14, TSD_TOK = 1 << 15, TSD_TABT = 1 << 30;
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
    r.write(R_CR, 1, CR_RST);
    r.write(R_RBSTART, 4, this.ringAt >>> 0);
    for (let i = 0; i < 4; i++) r.write(R_TSAD0 + 4 * i, 4, (this.txAt + i * 2048) >>> 0);
    r.write(R_CR, 1, CR_RE | CR_TE);
    r.write(R_TCR, 4, 0x03000700); // max DMA burst, the default interframe gap
    r.write(R_RCR, 4, 0x80 | (2 << 11) | 0x0f); // WRAP, 32 KiB ring, accept all (promiscuous), multicast, broadcast
    r.write(R_CAPR, 2, 0xfff0);
    r.write(R_IMR, 2, ISR_ROK | ISR_RER | ISR_TOK | ISR_TER | ISR_RXOVW | ISR_FOVW);
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
      this.io.regs.write(R_TSD0 + 4 * this.next, 4, len); // OWN = 0: the card takes it
      this.next = (this.next + 1) & 3;
      this.inFlight++;
    }
  }

  interrupt(): void {
    if (this.servicing) return; // the loop below sees whatever raised the line again
    this.servicing = true;
    const r = this.io.regs;
    for (let rounds = 0; rounds < 64; rounds++) {
      const isr = r.read(R_ISR, 2);
      if (isr === 0) break;
      r.write(R_ISR, 2, isr);
      if (isr & (ISR_TOK | ISR_TER)) this.reclaim();
      if (isr & (ISR_ROK | ISR_RER | ISR_RXOVW | ISR_FOVW)) this.receive();
    }
    this.servicing = false;
  }

  private reclaim(): void {
    while (this.inFlight > 0) {
      const tsd = this.io.regs.read(R_TSD0 + 4 * this.dirty, 4);
      if (!(tsd & (TSD_TOK | TSD_TUN | TSD_TABT)) && !(tsd & TSD_OWN)) break;
      this.dirty = (this.dirty + 1) & 3;
      this.inFlight--;
    }
    this.kick();
  }

  private receive(): void {
    const r = this.io.regs;
    for (let n = 0; n < 256 && !(r.read(R_CR, 1) & CR_BUFE); n++) {
      const p = this.ringAt + this.rxOff;
      const status = this.mem[p] | (this.mem[p + 1] << 8);
      const len = this.mem[p + 2] | (this.mem[p + 3] << 8);
      if (!(status & 1) || len < 4 + MIN_FRAME || len - 4 > MAX_FRAME) {
        // A bad header: restart the receiver, as Linux's 8139too does.
        r.write(R_CR, 1, CR_TE);
        r.write(R_CR, 1, CR_RE | CR_TE);
        r.write(R_RCR, 4, 0x80 | (2 << 11) | 0x0f);
        this.rxOff = 0;
        return;
      }
      const frame = this.mem.slice(p + 4, p + 4 + len - 4);
      this.io.work(frame.length);
      this.rxOff = ((this.rxOff + len + 4 + 3) & ~3) % RTL_RING;
      r.write(R_CAPR, 2, (this.rxOff - 16) & 0xffff);
      this.deliver(frame);
    }
  }
}

// ---- NE2000 (DP8390) ----

const N_CR = 0x00, N_PSTART = 0x01, N_PSTOP = 0x02, N_BNRY = 0x03, N_TPSR = 0x04, N_TBCR0 = 0x05, N_TBCR1 = 0x06, N_ISR = 0x07;
const N_RSAR0 = 0x08, N_RSAR1 = 0x09, N_RBCR0 = 0x0a, N_RBCR1 = 0x0b, N_RCR = 0x0c, N_TCR = 0x0d, N_DCR = 0x0e, N_IMR = 0x0f;
const N_DATA = 0x10, N_RESET = 0x1f, N_CURR = 0x07;
const NCR_STP = 0x01, NCR_STA = 0x02, NCR_TXP = 0x04, NCR_RREAD = 0x08, NCR_RWRITE = 0x10, NCR_NODMA = 0x20, NCR_PAGE1 = 0x40;
const NISR_PRX = 0x01, NISR_PTX = 0x02, NISR_RXE = 0x04, NISR_TXE = 0x08, NISR_OVW = 0x10, NISR_RDC = 0x40;
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
    r.write(N_RESET, 1, r.read(N_RESET, 1));
    r.write(N_CR, 1, NCR_NODMA | NCR_STP);
    r.write(N_DCR, 1, 0x49); // word transfers, normal operation, FIFO threshold 8 bytes
    r.write(N_RBCR0, 1, 0); r.write(N_RBCR1, 1, 0);
    r.write(N_RCR, 1, 0x1c); // promiscuous, multicast, broadcast
    r.write(N_TCR, 1, 0x02); // internal loopback while the ring is set up
    r.write(N_PSTART, 1, RX_START); r.write(N_BNRY, 1, RX_START); r.write(N_PSTOP, 1, RX_STOP);
    r.write(N_ISR, 1, 0xff);
    r.write(N_IMR, 1, NISR_PRX | NISR_PTX | NISR_RXE | NISR_TXE | NISR_OVW);
    r.write(N_CR, 1, NCR_NODMA | NCR_STP | NCR_PAGE1);
    for (let i = 0; i < 6; i++) r.write(0x01 + i, 1, card.mac[i]);
    for (let i = 0; i < 8; i++) r.write(0x08 + i, 1, 0xff);
    r.write(N_CURR, 1, RX_START + 1);
    r.write(N_CR, 1, NCR_NODMA | NCR_STA);
    r.write(N_TCR, 1, 0x00);
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
    r.write(N_TPSR, 1, TX_PAGE);
    r.write(N_TBCR0, 1, len & 0xff);
    r.write(N_TBCR1, 1, len >> 8);
    r.write(N_CR, 1, NCR_NODMA | NCR_STA | NCR_TXP);
    this.txBusy = true;
  }

  private remoteSetup(addr: number, count: number, cmd: number): void {
    const r = this.io.regs;
    r.write(N_CR, 1, NCR_NODMA | NCR_STA);
    r.write(N_RBCR0, 1, count & 0xff); r.write(N_RBCR1, 1, count >> 8);
    r.write(N_RSAR0, 1, addr & 0xff); r.write(N_RSAR1, 1, addr >> 8);
    r.write(N_CR, 1, cmd | NCR_STA);
  }

  private remoteDone(): void {
    const r = this.io.regs;
    for (let i = 0; i < 16 && !(r.read(N_ISR, 1) & NISR_RDC); i++);
    r.write(N_ISR, 1, NISR_RDC);
  }

  private remoteWrite(addr: number, data: Uint8Array): void {
    const words = (data.length + 1) >> 1;
    this.remoteSetup(addr, words * 2, NCR_RWRITE);
    const r = this.io.regs;
    for (let i = 0; i < words; i++) r.write(N_DATA, 2, data[2 * i] | ((data[2 * i + 1] ?? 0) << 8));
    this.remoteDone();
  }

  private remoteRead(addr: number, dst: Uint8Array, at: number, count: number): void {
    const words = (count + 1) >> 1;
    this.remoteSetup(addr, words * 2, NCR_RREAD);
    const r = this.io.regs;
    for (let i = 0; i < words; i++) {
      const w = r.read(N_DATA, 2);
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
      const isr = r.read(N_ISR, 1) & ~NISR_RDC;
      if (isr === 0) break;
      r.write(N_ISR, 1, isr);
      if (isr & (NISR_PRX | NISR_RXE | NISR_OVW)) this.receive();
      if (isr & (NISR_PTX | NISR_TXE)) this.txBusy = false;
    }
    this.servicing = false;
    if (!this.txBusy) this.start();
  }

  private receive(): void {
    const r = this.io.regs;
    const hdr = new Uint8Array(4);
    for (let n = 0; n < 64; n++) {
      r.write(N_CR, 1, NCR_NODMA | NCR_STA | NCR_PAGE1);
      const curr = r.read(N_CURR, 1);
      r.write(N_CR, 1, NCR_NODMA | NCR_STA);
      let page = r.read(N_BNRY, 1) + 1;
      if (page >= RX_STOP) page = RX_START;
      if (page === curr) return;
      this.remoteRead(page << 8, hdr, 0, 4);
      const next = hdr[1], total = hdr[2] | (hdr[3] << 8);
      const len = total - 4;
      if (!(hdr[0] & 0x01) || next < RX_START || next >= RX_STOP || len < MIN_FRAME || len > MAX_FRAME) {
        // A header that makes no sense: drop everything the ring holds.
        r.write(N_BNRY, 1, curr === RX_START ? RX_STOP - 1 : curr - 1);
        return;
      }
      const frame = new Uint8Array(len);
      const addr = (page << 8) + 4;
      const first = Math.min(len, (RX_STOP << 8) - addr);
      this.remoteRead(addr, frame, 0, first);
      if (first < len) this.remoteRead(RX_START << 8, frame, first, len - first);
      this.io.work(len);
      r.write(N_BNRY, 1, next === RX_START ? RX_STOP - 1 : next - 1);
      this.deliver(frame);
    }
  }
}
