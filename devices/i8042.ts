/**
 * The 8042 keyboard controller (data port 0x60, status and command port 0x64), with an
 * idle AT keyboard on its first port (IRQ 1) and an idle PS/2 mouse on its auxiliary
 * port (IRQ 12), as QEMU's `pc` machine has them: a guest probing the controller finds
 * both ports and both devices, and no key or movement ever comes.
 *
 * Written from the Intel 8042/8742 and the IBM PS/2 keyboard and mouse technical
 * references (the register and command sets every PC keyboard controller implements):
 *
 *   status (read 0x64):   OBF (0), IBF (1, always 0: commands complete at once), SYS (2),
 *                         A2 (3: the last write was a command), INH (4: 1 = not inhibited),
 *                         AUXB (5: the output byte is from the mouse), timeout (6), parity (7)
 *   command byte (CTR):   KBDINT (0), AUXINT (1), SYS (2), KBDDIS (4), AUXDIS (5), XLATE (6)
 *   commands (write 0x64): 0x20 read CTR, 0x60 write CTR, 0xA7/0xA8 disable/enable the
 *                         mouse port, 0xA9 test it (00), 0xAA self-test (55), 0xAB test the
 *                         keyboard port (00), 0xAD/0xAE disable/enable the keyboard port,
 *                         0xC0 read the input port, 0xD0/0xD1 read/write the output port
 *                         (bit 0 the CPU reset line, active low; bit 1 A20), 0xD2/0xD3 write
 *                         the keyboard/mouse output buffer (loopback), 0xD4 write to the
 *                         mouse, 0xDD/0xDF A20 off/on, 0xF0-0xFF pulse output-port bits
 *                         0-3 low for each command bit 0-3 that is 0 (0xFE: reset the CPU)
 *
 * A byte for the guest (a reply from the controller, the keyboard or the mouse) waits in
 * a queue until the output buffer is empty and, for a device's byte, its port is enabled;
 * in the buffer it raises IRQ 1 or 12 when the CTR enables that interrupt (the line is
 * high while the byte is unread). The keyboard answers the commands a PC's firmware and
 * Linux's atkbd send (reset FA AA, identify FA AB 83 or FA AB 41 when the controller
 * translates, echo EE, the rest FA, an unknown one FE); the mouse likewise (reset FA AA
 * 00, identify FA 00, status FA 00 02 64). Resetting the CPU (0xFE, or 0xD1 with bit 0
 * clear) is `onReset`: under this emulator it ends the run, as under `qemu -no-reboot`.
 */
import { PortDevice } from './port-bus';

export const STATUS_OBF = 0x01, STATUS_IBF = 0x02, STATUS_SYS = 0x04, STATUS_A2 = 0x08, STATUS_INH = 0x10, STATUS_AUXB = 0x20;
export const CTR_KBDINT = 0x01, CTR_AUXINT = 0x02, CTR_SYS = 0x04, CTR_KBDDIS = 0x10, CTR_AUXDIS = 0x20, CTR_XLATE = 0x40;
/** The command byte SeaBIOS leaves (ps2port.c: translate, mouse port disabled, keyboard interrupt). */
export const FIRMWARE_CTR = CTR_XLATE | CTR_AUXDIS | CTR_KBDINT;

const QUEUE = 32;
/**
 * Where a queued byte comes from: the controller (its replies, and 0xD2 loopback, as
 * keyboard data), the keyboard, the mouse, the controller as mouse data (0xD3 loopback).
 * The controller's bytes are delivered whatever the ports' disable bits say (Linux's AUX
 * loop test runs with the mouse port disabled); a device's wait while its port is off.
 */
const FROM_CTRL = 0, FROM_KBD = 1, FROM_AUX = 2, FROM_CTRL_AUX = 3;
/** A controller command waiting for its data byte on 0x60 (0: none). */
const WAIT_NONE = 0;

export class I8042 implements PortDevice {
  ctr = FIRMWARE_CTR;
  /** Status bits the controller keeps (SYS, A2); OBF and AUXB come from the buffer. */
  private flags = STATUS_INH;
  /** Output port: bit 0 reset (1 = running), bit 1 A20. */
  outputPort = 0x03;
  /** The output buffer: -1 empty, else the byte; `outFrom` its source. */
  private out = -1;
  private outFrom = FROM_CTRL;
  /** The byte last put in the output buffer: what reading an empty buffer returns. */
  private lastOut = 0;
  private readonly queue = new Uint8Array(QUEUE);
  private readonly queueFrom = new Uint8Array(QUEUE);
  private head = 0;
  private count = 0;
  /** The controller command whose data byte is awaited on 0x60. */
  private pendingCommand = WAIT_NONE;
  /** A keyboard or mouse command whose argument byte is awaited (0: none). */
  private kbdArg = 0;
  private auxArg = 0;
  private irq1 = false;
  private irq12 = false;

  /** IRQ 1 and IRQ 12. */
  onIrq: (irq: number, level: boolean) => void = () => {};
  /** The CPU reset line was pulsed. */
  onReset: () => void = () => {};
  onA20: (enabled: boolean) => void = () => {};
  /** A command the model does not know, for --trace. */
  onIgnoredWrite: (port: number, value: number) => void = () => {};

  /** Power-on state (before firmware): both ports' interrupts on, no translation, SYS clear. */
  reset(): void {
    this.ctr = CTR_KBDINT | CTR_AUXINT;
    this.flags = STATUS_INH;
    this.outputPort = 0x03;
    this.out = -1;
    this.head = this.count = 0;
    this.pendingCommand = WAIT_NONE;
    this.kbdArg = this.auxArg = 0;
    this.updateIrq();
  }

  /** What SeaBIOS leaves: self-test passed (SYS set), its command byte, the keyboard enabled. */
  firmwareSetup(): void {
    this.reset();
    this.flags |= STATUS_SYS;
    this.ctr = FIRMWARE_CTR;
    this.updateIrq();
  }

  get status(): number {
    return this.flags | (this.out >= 0 ? STATUS_OBF | (this.outFrom >= FROM_AUX ? STATUS_AUXB : 0) : 0);
  }

  read(offset: number, _size: number): number {
    if (offset === 4) return this.status;
    if (offset !== 0) return 0xff;
    // Reading the data port empties the output buffer (an empty one reads its last byte).
    const v = this.out >= 0 ? this.out : this.lastOut;
    this.out = -1;
    this.refill();
    return v;
  }

  write(offset: number, _size: number, value: number): void {
    value &= 0xff;
    if (offset === 4) { this.flags |= STATUS_A2; this.command(value); return; }
    if (offset !== 0) return;
    this.flags &= ~STATUS_A2;
    const cmd = this.pendingCommand;
    this.pendingCommand = WAIT_NONE;
    switch (cmd) {
      case 0x60:
        this.ctr = value;
        this.flags = (this.flags & ~STATUS_SYS) | (value & CTR_SYS);
        this.refill();
        return;
      case 0xd1: this.writeOutputPort(value); return;
      case 0xd2: this.enqueue(value, FROM_CTRL); return;
      case 0xd3: this.enqueue(value, FROM_CTRL_AUX); return;
      case 0xd4: this.mouse(value); return;
      default:
        this.ctr &= ~CTR_KBDDIS; // a byte for the keyboard enables its clock (the 8042 does)
        this.keyboard(value);
    }
  }

  private command(c: number): void {
    this.pendingCommand = WAIT_NONE;
    switch (c) {
      case 0x20: this.enqueue(this.ctr, FROM_CTRL); return;
      case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4: this.pendingCommand = c; return;
      case 0xa7: this.ctr |= CTR_AUXDIS; this.refill(); return;
      case 0xa8: this.ctr &= ~CTR_AUXDIS; this.refill(); return;
      case 0xa9: case 0xab: this.enqueue(0x00, FROM_CTRL); return; // interface tests: no error
      case 0xaa: this.flags |= STATUS_SYS; this.enqueue(0x55, FROM_CTRL); return;
      case 0xad: this.ctr |= CTR_KBDDIS; this.refill(); return;
      case 0xae: this.ctr &= ~CTR_KBDDIS; this.refill(); return;
      case 0xc0: this.enqueue(0x80, FROM_CTRL); return; // input port: bit 7, keyboard not inhibited
      case 0xd0: {
        const v = (this.outputPort & 0x03) | (this.out >= 0 ? (this.outFrom >= FROM_AUX ? 0x20 : 0x10) : 0);
        this.enqueue(v, FROM_CTRL);
        return;
      }
      case 0xdd: this.writeOutputPort(this.outputPort & ~0x02); return;
      case 0xdf: this.writeOutputPort(this.outputPort | 0x02); return;
      default:
        if (c >= 0xf0) {
          if (!(c & 0x01)) this.onReset(); // bit 0 pulsed low: the CPU's reset line
          return;
        }
        this.onIgnoredWrite(0x64, c);
    }
  }

  private writeOutputPort(v: number): void {
    const a20 = (v & 0x02) !== 0;
    const changed = a20 !== ((this.outputPort & 0x02) !== 0);
    this.outputPort = (v & 0x02) | 0x01;
    if (changed) this.onA20(a20);
    if (!(v & 0x01)) this.onReset();
  }

  /** A byte the guest sent the keyboard. */
  private keyboard(b: number): void {
    if (this.kbdArg) { this.kbdArg = 0; this.enqueue(0xfa, FROM_KBD); return; }
    switch (b) {
      case 0xff: this.clearDevice(FROM_KBD); this.enqueue(0xfa, FROM_KBD); this.enqueue(0xaa, FROM_KBD); return; // reset, self-test passed
      case 0xf2: // identify: an MF2 keyboard, 0x83 as the controller translates it
        this.enqueue(0xfa, FROM_KBD); this.enqueue(0xab, FROM_KBD); this.enqueue(this.ctr & CTR_XLATE ? 0x41 : 0x83, FROM_KBD);
        return;
      case 0xee: this.enqueue(0xee, FROM_KBD); return; // echo
      case 0xed: case 0xf0: case 0xf3: this.kbdArg = b; this.enqueue(0xfa, FROM_KBD); return; // LEDs, scan code set, typematic
      case 0xf4: case 0xf5: case 0xf6: case 0xf7: case 0xf8: case 0xf9: case 0xfa: this.enqueue(0xfa, FROM_KBD); return;
      default: this.enqueue(0xfe, FROM_KBD); // resend: not a command
    }
  }

  /** A byte the guest sent the mouse (command 0xD4). */
  private mouse(b: number): void {
    if (this.auxArg) { this.auxArg = 0; this.enqueue(0xfa, FROM_AUX); return; }
    switch (b) {
      case 0xff: this.clearDevice(FROM_AUX); this.enqueue(0xfa, FROM_AUX); this.enqueue(0xaa, FROM_AUX); this.enqueue(0x00, FROM_AUX); return;
      case 0xf2: this.enqueue(0xfa, FROM_AUX); this.enqueue(0x00, FROM_AUX); return; // a standard mouse
      case 0xe9: this.enqueue(0xfa, FROM_AUX); this.enqueue(0x00, FROM_AUX); this.enqueue(0x02, FROM_AUX); this.enqueue(0x64, FROM_AUX); return; // status: 4 counts/mm, 100/s
      case 0xe8: case 0xf3: this.auxArg = b; this.enqueue(0xfa, FROM_AUX); return; // resolution, sample rate
      case 0xeb: this.enqueue(0xfa, FROM_AUX); this.enqueue(0x08, FROM_AUX); this.enqueue(0x00, FROM_AUX); this.enqueue(0x00, FROM_AUX); return; // read data: no motion
      default:
        if (b >= 0xe6) this.enqueue(0xfa, FROM_AUX);
        else this.enqueue(0xfe, FROM_AUX);
    }
  }

  /** Drops a device's queued bytes (its reset). */
  private clearDevice(from: number): void {
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      const at = (this.head + i) % QUEUE;
      if (this.queueFrom[at] === from) continue;
      const to = (this.head + kept) % QUEUE;
      this.queue[to] = this.queue[at];
      this.queueFrom[to] = this.queueFrom[at];
      kept++;
    }
    this.count = kept;
  }

  private enqueue(b: number, from: number): void {
    if (this.count < QUEUE) {
      const at = (this.head + this.count) % QUEUE;
      this.queue[at] = b;
      this.queueFrom[at] = from;
      this.count++;
    }
    this.refill();
  }

  /**
   * Moves the oldest deliverable byte into an empty output buffer: the controller's own
   * replies always, a device's only while its port is enabled (the rest keep their order).
   */
  private refill(): void {
    if (this.out < 0) {
      for (let i = 0; i < this.count; i++) {
        const at = (this.head + i) % QUEUE;
        const from = this.queueFrom[at];
        if ((from === FROM_KBD && (this.ctr & CTR_KBDDIS)) || (from === FROM_AUX && (this.ctr & CTR_AUXDIS))) continue;
        this.out = this.lastOut = this.queue[at];
        this.outFrom = from;
        for (let j = i; j > 0; j--) { // close the gap: the older, held bytes move up one
          const to = (this.head + j) % QUEUE, prev = (this.head + j - 1) % QUEUE;
          this.queue[to] = this.queue[prev];
          this.queueFrom[to] = this.queueFrom[prev];
        }
        this.head = (this.head + 1) % QUEUE;
        this.count--;
        break;
      }
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    const full = this.out >= 0;
    const i1 = full && this.outFrom < FROM_AUX && (this.ctr & CTR_KBDINT) !== 0;
    const i12 = full && this.outFrom >= FROM_AUX && (this.ctr & CTR_AUXINT) !== 0;
    if (i1 !== this.irq1) { this.irq1 = i1; this.onIrq(1, i1); }
    if (i12 !== this.irq12) { this.irq12 = i12; this.onIrq(12, i12); }
  }
}
