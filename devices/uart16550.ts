/**
 * A 16550A UART (COM1 at 0x3F8, IRQ 4 on a PC), from the National PC16550D datasheet:
 * RBR/THR, IER, IIR/FCR, LCR (DLAB), MCR, LSR, MSR, SCR, the divisor latch, 16-byte
 * receive and transmit FIFOs with trigger levels, the character timeout, interrupt
 * identification by priority, loopback (MCR bit 4) and the IRQ gate that MCR OUT2 is
 * on PC serial cards.
 *
 * Transmission is immediate: a byte written to THR goes to `onTransmit` at once and
 * THRE/TEMT stay set, so a polling guest never waits (the emulated wire of a serial
 * console has no rate). Received bytes (`receive`, or loopback) are timed by the
 * character time at the programmed baud rate only for the timeout interrupt.
 */
import { PortDevice } from './port-bus';
import { Clock, Timer } from './clock';

const IER_ERBFI = 0x01, IER_ETBEI = 0x02, IER_ELSI = 0x04, IER_EDSSI = 0x08;
const LSR_DR = 0x01, LSR_OE = 0x02, LSR_BI = 0x10, LSR_THRE = 0x20, LSR_TEMT = 0x40, LSR_FIFOERR = 0x80;
const LCR_DLAB = 0x80;
const MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
const IIR_NONE = 0x01, IIR_MSR = 0x00, IIR_THR = 0x02, IIR_RDA = 0x04, IIR_RLS = 0x06, IIR_TIMEOUT = 0x0c;
const FIFO_SIZE = 16;
const TRIGGER = [1, 4, 8, 14];

export class Uart16550 implements PortDevice {
  ier = 0;
  lcr = 0x03;
  mcr = 0;
  lsr = LSR_THRE | LSR_TEMT;
  /** MSR: the delta bits (3-0) and the input lines (7-4). */
  msr = 0;
  scr = 0;
  dll = 0x0c; // 9600 baud after reset
  dlm = 0;
  fifoEnabled = false;
  triggerLevel = 1;
  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  /** A THRE interrupt is pending until IIR is read with it as the source, or THR is written. */
  private thrInterrupt = false;
  private timeoutPending = false;
  private irqLevel = false;
  private readonly timeout: Timer;
  /** Bytes the guest transmits (not in loopback). */
  onTransmit: (byte: number) => void = () => {};
  /** The IRQ line (already gated by MCR OUT2). */
  onIrq: (level: boolean) => void = () => {};
  /** A write the model ignores (LSR and MSR are read-only here), for --trace. */
  onIgnoredWrite: (offset: number, value: number) => void = () => {};

  constructor(readonly clock: Clock) {
    this.timeout = clock.timer('uart-timeout', () => {
      if (this.rxCount > 0 && this.fifoEnabled) { this.timeoutPending = true; this.updateIrq(); }
    });
  }

  reset(): void {
    this.ier = 0; this.lcr = 0x03; this.mcr = 0; this.lsr = LSR_THRE | LSR_TEMT; this.msr = 0; this.scr = 0;
    this.dll = 0x0c; this.dlm = 0; this.fifoEnabled = false; this.triggerLevel = 1;
    this.msr = this.modemInputs();
    this.rxHead = this.rxCount = 0;
    this.thrInterrupt = this.timeoutPending = false;
    this.timeout.cancel();
    this.updateIrq();
  }

  /** Bits per second from the divisor latch (1.8432 MHz crystal / 16 / divisor). */
  get baud(): number {
    const div = this.dll | (this.dlm << 8);
    return div === 0 ? 0 : 115200 / div;
  }

  /** A byte arrives on the receive line (or from loopback). */
  receive(byte: number): void {
    const cap = this.fifoEnabled ? FIFO_SIZE : 1;
    if (this.rxCount >= cap) {
      this.lsr |= LSR_OE; // overrun: the new byte is lost
    } else {
      this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = byte & 0xff;
      this.rxCount++;
      this.lsr |= LSR_DR;
    }
    this.armTimeout();
    this.updateIrq();
  }

  /** The character timeout: four character times with no FIFO activity (datasheet, FIFO interrupt mode). */
  private armTimeout(): void {
    this.timeoutPending = false;
    const baud = this.baud || 115200;
    if (this.fifoEnabled && this.rxCount > 0) this.timeout.armIn(Math.ceil((4 * 10 * this.clock.hz) / baud));
    else this.timeout.cancel();
  }

  private readRbr(): number {
    if (this.rxCount === 0) return 0;
    const b = this.rx[this.rxHead];
    this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
    this.rxCount--;
    if (this.rxCount === 0) this.lsr &= ~LSR_DR;
    this.armTimeout();
    return b;
  }

  /** The highest-priority pending interrupt (datasheet, table "Interrupt Control Functions"). */
  private pending(): number {
    if ((this.ier & IER_ELSI) && (this.lsr & (LSR_OE | LSR_BI | 0x0c))) return IIR_RLS;
    if (this.ier & IER_ERBFI) {
      if (this.timeoutPending) return IIR_TIMEOUT;
      if (this.rxCount >= (this.fifoEnabled ? this.triggerLevel : 1)) return IIR_RDA;
    }
    if ((this.ier & IER_ETBEI) && this.thrInterrupt) return IIR_THR;
    if ((this.ier & IER_EDSSI) && (this.msr & 0x0f)) return IIR_MSR;
    return IIR_NONE;
  }

  private updateIrq(): void {
    // On PC serial boards the interrupt output is enabled by OUT2 (and not in loopback).
    const level = this.pending() !== IIR_NONE && (this.mcr & MCR_OUT2) !== 0 && !(this.mcr & MCR_LOOP);
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.onIrq(level);
    }
  }

  get irq(): boolean {
    return this.irqLevel;
  }

  /** MSR inputs: in loopback the modem outputs feed them (DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD). */
  private modemInputs(): number {
    if (this.mcr & MCR_LOOP) {
      return ((this.mcr & MCR_RTS) ? 0x10 : 0) | ((this.mcr & MCR_DTR) ? 0x20 : 0) |
        ((this.mcr & MCR_OUT1) ? 0x40 : 0) | ((this.mcr & MCR_OUT2) ? 0x80 : 0);
    }
    return 0x10 | 0x20 | 0x80; // a console on the other end: CTS, DSR and DCD asserted
  }

  private setModemInputs(): void {
    const now = this.modemInputs();
    const old = this.msr & 0xf0;
    let delta = this.msr & 0x0f;
    if ((now ^ old) & 0x10) delta |= 0x01; // DCTS
    if ((now ^ old) & 0x20) delta |= 0x02; // DDSR
    if ((old & 0x40) && !(now & 0x40)) delta |= 0x04; // TERI: RI trailing edge
    if ((now ^ old) & 0x80) delta |= 0x08; // DDCD
    this.msr = now | delta;
  }

  read(offset: number, _size: number): number {
    switch (offset & 7) {
      case 0:
        if (this.lcr & LCR_DLAB) return this.dll;
        { const b = this.readRbr(); this.updateIrq(); return b; }
      case 1:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case 2: {
        const id = this.pending();
        if (id === IIR_THR) this.thrInterrupt = false; // reading IIR clears a THRE interrupt it reports
        this.updateIrq();
        return id | (this.fifoEnabled ? 0xc0 : 0);
      }
      case 3: return this.lcr;
      case 4: return this.mcr;
      case 5: {
        let v = this.lsr;
        if (this.fifoEnabled && (this.lsr & (LSR_BI | 0x0c))) v |= LSR_FIFOERR;
        this.lsr &= ~(LSR_OE | LSR_BI | 0x0c); // error bits clear on read
        this.updateIrq();
        return v;
      }
      case 6: {
        const v = this.msr;
        this.msr &= 0xf0; // delta bits clear on read
        this.updateIrq();
        return v;
      }
      default: return this.scr;
    }
  }

  write(offset: number, _size: number, value: number): void {
    value &= 0xff;
    switch (offset & 7) {
      case 0:
        if (this.lcr & LCR_DLAB) { this.dll = value; return; }
        if (this.mcr & MCR_LOOP) this.receive(value);
        else this.onTransmit(value);
        this.thrInterrupt = true; // the byte left at once: THR is empty again
        this.updateIrq();
        return;
      case 1:
        if (this.lcr & LCR_DLAB) { this.dlm = value; return; }
        // Enabling ETBEI with THR empty raises the THRE interrupt (datasheet behaviour).
        if ((value & IER_ETBEI) && !(this.ier & IER_ETBEI)) this.thrInterrupt = true;
        this.ier = value & 0x0f;
        this.updateIrq();
        return;
      case 2:
        if ((value & 1) !== (this.fifoEnabled ? 1 : 0)) { this.rxHead = this.rxCount = 0; this.lsr &= ~LSR_DR; }
        this.fifoEnabled = (value & 1) !== 0;
        if (value & 2) { this.rxHead = this.rxCount = 0; this.lsr &= ~LSR_DR; this.timeout.cancel(); this.timeoutPending = false; }
        this.triggerLevel = TRIGGER[value >> 6];
        this.updateIrq();
        return;
      case 3: this.lcr = value; return;
      case 4:
        this.mcr = value & 0x1f;
        this.setModemInputs();
        this.updateIrq();
        return;
      case 5: // LSR: writable only for factory test on the real part; ignored here
      case 6: // MSR is read-only
        this.onIgnoredWrite(offset & 7, value);
        return;
      default: this.scr = value;
    }
  }
}
