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
 * a queue until the output buffer is empty; the controller's own replies go first, a
 * device's bytes only while its port is enabled, in the order they came. Reading the
 * data port empties the buffer and lowers the interrupt line before the next byte comes
 * in and raises it again, so that each byte is its own edge at the (edge-triggered)
 * 8259A: Linux reads one byte per interrupt. IRQ 1 needs KBDINT and the keyboard port
 * enabled, IRQ 12 needs AUXINT. A byte for the keyboard (data port) or the mouse (0xD4)
 * re-enables that device's port, as the 8042 does when it clocks a byte out.
 *
 * The devices answer as QEMU's ps2.c (the reference for these details):
 *   keyboard: reset FF -> FA AA; F5/F6 (defaults) -> FA; identify F2 -> FA AB 41 (83 when
 *     the controller does not translate); echo EE -> EE; ED/F3/FC and F0 take an argument
 *     (FA, FA; F0 00 -> FA FA and the scan code set, translated 43/41/3F; F0 > 3 -> FE);
 *     F4, FA, 00 -> FA; 05 and the rest -> FE. A new byte drops the unread replies to the
 *     last one (and these resets drop everything queued).
 *   mouse: reset FF -> FA AA 00 (defaults, standard ID, out of wrap mode); F2 -> FA and
 *     the ID (0, 3 after the sample-rate knock 200,100,80, 4 after 200,200,80); E9 -> FA
 *     status resolution rate (status: 0x40 remote, 0x20 enabled, 0x10 2:1 scaling);
 *     E6/E7/EA/F0/F4/F5/F6 -> FA; E8/F3 take an argument; EB -> FA and a motionless
 *     packet; EE wrap mode echoes every byte but EC (-> FA, leaves) and FF. A byte that
 *     is no command -> FE, as a PS/2 mouse answers (QEMU's stays silent).
 * Resetting the CPU (0xFE, or 0xD1 with bit 0 clear) is `onReset`: under this emulator it
 * ends the run, as under `qemu -no-reboot`.
 */
import { PortDevice } from './port-bus';

export const STATUS_OBF = 0x01, STATUS_IBF = 0x02, STATUS_SYS = 0x04, STATUS_A2 = 0x08, STATUS_INH = 0x10, STATUS_AUXB = 0x20;
export const CTR_KBDINT = 0x01, CTR_AUXINT = 0x02, CTR_SYS = 0x04, CTR_KBDDIS = 0x10, CTR_AUXDIS = 0x20, CTR_XLATE = 0x40;
/** The command byte SeaBIOS leaves (ps2port.c: translate, mouse port disabled, keyboard interrupt). */
export const FIRMWARE_CTR = CTR_XLATE | CTR_AUXDIS | CTR_KBDINT;

const QUEUE = 32;
/** The mouse's status byte (its reply to 0xE9). */
const AUX_STATUS_REMOTE = 0x40, AUX_STATUS_ENABLED = 0x20, AUX_STATUS_SCALE21 = 0x10;
/** What 0xF0 0x00 answers for scan code sets 1-3 when the controller translates (the set 2 codes 43, 41, 3F in set 1). */
const SET_TRANSLATED = [0, 0x43, 0x41, 0x3f];
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
  /** The keyboard's scan code set (1-3). */
  private scanSet = 2;
  /** The mouse: status byte (AUX_STATUS_*), resolution, sample rate, wrap mode, ID and the ID knock's progress. */
  private auxStatus = 0;
  private auxResolution = 2;
  private auxRate = 100;
  private auxWrap = false;
  private auxType = 0;
  private auxKnock = 0;
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
    this.scanSet = 2;
    this.resetMouse();
    this.auxKnock = 0;
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
    // Reading the data port empties the output buffer (an empty one reads its last byte);
    // the line drops before the next byte comes in, so that byte is a new edge.
    if (this.out < 0) return this.lastOut;
    const v = this.out;
    this.out = -1;
    this.updateIrq();
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
      case 0xd4:
        this.ctr &= ~CTR_AUXDIS; // likewise a byte for the mouse enables the AUX port
        this.mouse(value);
        this.refill();
        return;
      default:
        this.ctr &= ~CTR_KBDDIS; // a byte for the keyboard enables its clock (the 8042 does)
        this.keyboard(value);
        this.refill();
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
    this.dropReplies(FROM_KBD); // a new byte ends the transmission of the last command's replies
    const arg = this.kbdArg;
    if (arg) {
      this.kbdArg = 0;
      if (arg !== 0xf0) { this.enqueue(0xfa, FROM_KBD); return; } // LEDs, typematic rate, make/break
      if (b === 0) { // get the scan code set: as the controller's translation shows it
        this.enqueue(0xfa, FROM_KBD);
        this.enqueue(this.ctr & CTR_XLATE ? SET_TRANSLATED[this.scanSet] : this.scanSet, FROM_KBD);
      } else if (b <= 3) {
        this.scanSet = b;
        this.enqueue(0xfa, FROM_KBD);
      } else {
        this.enqueue(0xfe, FROM_KBD);
      }
      return;
    }
    switch (b) {
      case 0xff: this.resetKeyboard(); this.enqueue(0xfa, FROM_KBD); this.enqueue(0xaa, FROM_KBD); return; // self-test passed
      case 0xf5: case 0xf6: this.resetKeyboard(); this.enqueue(0xfa, FROM_KBD); return; // defaults (scanning off/on)
      case 0xf2: // identify: an MF2 keyboard, AB 83, its 83 seen as 41 through the translation
        this.enqueue(0xfa, FROM_KBD); this.enqueue(0xab, FROM_KBD); this.enqueue(this.ctr & CTR_XLATE ? 0x41 : 0x83, FROM_KBD);
        return;
      case 0xee: this.enqueue(0xee, FROM_KBD); return; // echo
      case 0xed: case 0xf0: case 0xf3: case 0xfc: this.kbdArg = b; this.enqueue(0xfa, FROM_KBD); return;
      case 0xf4: case 0xfa: case 0x00: this.enqueue(0xfa, FROM_KBD); return;
      default: this.enqueue(0xfe, FROM_KBD); // resend: not a command
    }
  }

  private resetKeyboard(): void {
    this.clearDevice(FROM_KBD);
    this.scanSet = 2;
  }

  /** A byte the guest sent the mouse (command 0xD4). */
  private mouse(b: number): void {
    const arg = this.auxArg;
    if (arg) {
      this.auxArg = 0;
      if (arg === 0xe8) this.auxResolution = b;
      else { this.auxRate = b; this.knock(b); }
      this.enqueue(0xfa, FROM_AUX);
      return;
    }
    if (this.auxWrap && b !== 0xff) {
      if (b === 0xec) { this.auxWrap = false; this.enqueue(0xfa, FROM_AUX); } else this.enqueue(b, FROM_AUX);
      return;
    }
    switch (b) {
      case 0xff: // reset: defaults, self-test passed, the standard ID
        this.clearDevice(FROM_AUX);
        this.resetMouse();
        this.enqueue(0xfa, FROM_AUX); this.enqueue(0xaa, FROM_AUX); this.enqueue(0x00, FROM_AUX);
        return;
      case 0xf6: this.auxStatus = 0; this.auxResolution = 2; this.auxRate = 100; break; // defaults
      case 0xf2: this.enqueue(0xfa, FROM_AUX); this.enqueue(this.auxType, FROM_AUX); return;
      case 0xe9:
        this.enqueue(0xfa, FROM_AUX);
        this.enqueue(this.auxStatus, FROM_AUX); this.enqueue(this.auxResolution, FROM_AUX); this.enqueue(this.auxRate, FROM_AUX);
        return;
      case 0xe8: case 0xf3: this.auxArg = b; break;
      case 0xeb: // read data: a packet with no motion and no button (4 bytes for a wheel mouse)
        this.enqueue(0xfa, FROM_AUX);
        this.enqueue(0x08, FROM_AUX); this.enqueue(0x00, FROM_AUX); this.enqueue(0x00, FROM_AUX);
        if (this.auxType) this.enqueue(0x00, FROM_AUX);
        return;
      case 0xe6: this.auxStatus &= ~AUX_STATUS_SCALE21; break;
      case 0xe7: this.auxStatus |= AUX_STATUS_SCALE21; break;
      case 0xea: this.auxStatus &= ~AUX_STATUS_REMOTE; break;
      case 0xf0: this.auxStatus |= AUX_STATUS_REMOTE; break;
      case 0xf4: this.auxStatus |= AUX_STATUS_ENABLED; break;
      case 0xf5: this.auxStatus &= ~AUX_STATUS_ENABLED; break;
      case 0xee: this.auxWrap = true; break;
      default: this.enqueue(0xfe, FROM_AUX); return; // resend: not a command
    }
    this.enqueue(0xfa, FROM_AUX);
  }

  private resetMouse(): void {
    this.auxStatus = 0;
    this.auxResolution = 2;
    this.auxRate = 100;
    this.auxWrap = false;
    this.auxType = 0;
    this.auxArg = 0;
  }

  /** The IntelliMouse knock: sample rates 200, 100, 80 make a wheel mouse (ID 3), 200, 200, 80 a 5-button one (ID 4). */
  private knock(rate: number): void {
    switch (this.auxKnock) {
      case 0: this.auxKnock = rate === 200 ? 1 : 0; break;
      case 1: this.auxKnock = rate === 100 ? 2 : rate === 200 ? 3 : 0; break;
      default:
        if (rate === 80) this.auxType = this.auxKnock === 2 ? 3 : 4;
        this.auxKnock = 0;
    }
  }

  /**
   * A device's replies not yet read: the queued ones and the one in the output buffer
   * (QEMU's keyboard drops them when a new byte comes). The interrupt line is left as it
   * is: the new reply takes the buffer's place.
   */
  private dropReplies(from: number): void {
    if (this.out >= 0 && this.outFrom === from) this.out = -1;
    this.clearDevice(from);
  }

  /** Drops a device's queued bytes (its reset); the output buffer keeps its byte. */
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
   * Fills an empty output buffer: with the oldest controller reply if there is one, else
   * with the oldest byte of a device whose port is enabled (the rest keep their order).
   */
  private refill(): void {
    if (this.out < 0 && this.count > 0) {
      let pick = -1;
      for (let i = 0; i < this.count; i++) {
        const from = this.queueFrom[(this.head + i) % QUEUE];
        if (from === FROM_CTRL || from === FROM_CTRL_AUX) { pick = i; break; }
        if (pick < 0 && !(from === FROM_KBD && (this.ctr & CTR_KBDDIS)) && !(from === FROM_AUX && (this.ctr & CTR_AUXDIS))) pick = i;
      }
      if (pick >= 0) {
        const at = (this.head + pick) % QUEUE;
        this.out = this.lastOut = this.queue[at];
        this.outFrom = this.queueFrom[at];
        for (let j = pick; j > 0; j--) { // close the gap: the older, held bytes move up one
          const to = (this.head + j) % QUEUE, prev = (this.head + j - 1) % QUEUE;
          this.queue[to] = this.queue[prev];
          this.queueFrom[to] = this.queueFrom[prev];
        }
        this.head = (this.head + 1) % QUEUE;
        this.count--;
      }
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    const full = this.out >= 0;
    const i1 = full && this.outFrom < FROM_AUX && (this.ctr & (CTR_KBDINT | CTR_KBDDIS)) === CTR_KBDINT;
    const i12 = full && this.outFrom >= FROM_AUX && (this.ctr & CTR_AUXINT) !== 0;
    if (i1 !== this.irq1) { this.irq1 = i1; this.onIrq(1, i1); }
    if (i12 !== this.irq12) { this.irq12 = i12; this.onIrq(12, i12); }
  }
}
