/**
 * The 8254 programmable interval timer at 0x40-0x43, and system control port B at
 * 0x61 (the channel 2 gate, the speaker enable, the refresh toggle and OUT2).
 *
 * Written from the Intel 8254 datasheet (order number 231164): modes 0-5, the
 * read/write modes (LSB, MSB, LSB then MSB), the counter latch command, the read-back
 * command with status bytes, BCD counting, and the gate. Channel 0 drives IRQ 0.
 *
 * Nothing ticks: a counter's state is computed from the PIT tick count at the moment
 * it is read (ticks = cycles x pitHz / cpuHz, exactly), and channel 0's next rising
 * OUT edge is a timer on the machine clock. Like QEMU's i8254, a new count written
 * while counting takes effect at once.
 */
import { Clock, Timer } from './clock';

const MODE_TERMINAL = 0, MODE_ONESHOT = 1, MODE_RATE = 2, MODE_SQUARE = 3, MODE_SW_STROBE = 4, MODE_HW_STROBE = 5;

export class PitChannel {
  mode = MODE_TERMINAL;
  /** 1: LSB only, 2: MSB only, 3: LSB then MSB. */
  rw = 3;
  bcd = false;
  /** The count register as loaded (1..65536; 0 written means 65536, or 10000 in BCD). */
  count = 0x10000;
  /** PIT tick at which the count was loaded into the counting element; -1: not counting. */
  loadTick = -1;
  /** Counting is held (gate low in modes 0, 2, 3, 4): the frozen count, else -1. */
  held = -1;
  gate = true;
  /** Which byte the next write fills (false: LSB). */
  writeMsb = false;
  writeLsb = 0;
  readMsb = false;
  /** Latched count (counter latch or read-back), -1 when none. */
  latch = -1;
  latchMsb = false;
  /** Latched status byte, -1 when none. */
  status = -1;
  nullCount = true;
  /** Output level before any count is written (mode 0: low, others: high). */
  idleOut = true;

  reset(): void {
    this.mode = MODE_TERMINAL; this.rw = 3; this.bcd = false; this.count = 0x10000;
    this.loadTick = -1; this.held = -1; this.writeMsb = false; this.writeLsb = 0;
    this.readMsb = false; this.latch = -1; this.latchMsb = false; this.status = -1;
    this.nullCount = true; this.idleOut = true;
  }

  /** Elapsed ticks of counting at tick `t` (-1 when not counting). */
  private elapsed(t: number): number {
    return this.loadTick < 0 || t < this.loadTick ? -1 : t - this.loadTick;
  }

  /** The counting element's value at tick `t`, as the datasheet's CE. */
  value(t: number): number {
    if (this.held >= 0) return this.held;
    const d = this.elapsed(t);
    const n = this.count;
    if (d < 0) return n & 0xffff;
    switch (this.mode) {
      case MODE_RATE: return n - (d % n);
      case MODE_SQUARE: {
        // Decrements by two; the high half is the longer one for odd counts.
        const ph = d % n;
        const high = (n + 1) >> 1;
        return ph < high ? (n - 2 * ph) & 0xfffe || n & 0xffff : (n - 2 * (ph - high)) & 0xfffe;
      }
      default: // 0, 1, 4, 5: count down once, then wrap through 0xFFFF
        return (n - d) & 0xffff;
    }
  }

  /** The OUT pin at tick `t`. */
  out(t: number): boolean {
    const d = this.elapsed(t);
    if (d < 0 && this.held < 0) return this.idleOut;
    if (this.held >= 0) return this.mode === MODE_TERMINAL ? false : true;
    const n = this.count;
    switch (this.mode) {
      case MODE_TERMINAL: return d >= n; // low until terminal count, then high
      case MODE_ONESHOT: return d >= n; // low from the trigger until terminal count
      case MODE_RATE: return d % n !== n - 1; // low for the one tick before reload
      case MODE_SQUARE: return d % n < ((n + 1) >> 1);
      default: return d !== n; // strobes: low for one tick at terminal count
    }
  }

  /** The tick of the next rising OUT edge after tick `t`, or -1. */
  nextRise(t: number): number {
    const d = this.elapsed(t);
    if (d < 0 || this.held >= 0) return -1;
    const n = this.count;
    switch (this.mode) {
      case MODE_TERMINAL: case MODE_ONESHOT: return d < n ? this.loadTick + n : -1;
      case MODE_RATE: case MODE_SQUARE: return this.loadTick + (Math.floor(d / n) + 1) * n;
      default: return d <= n ? this.loadTick + n + 1 : -1;
    }
  }
}

function toBcd(v: number): number {
  return (v % 10) | (Math.floor(v / 10) % 10) << 4 | (Math.floor(v / 100) % 10) << 8 | (Math.floor(v / 1000) % 10) << 12;
}
function fromBcd(v: number): number {
  return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
}

export class Pit8254 {
  readonly channels = [new PitChannel(), new PitChannel(), new PitChannel()];
  /** Port 0x61 bits 0 (gate 2) and 1 (speaker data enable), as last written. */
  portB = 0;
  /** IRQ 0 output (an edge per rising OUT0 edge). */
  onIrq0: () => void = () => {};
  onIgnoredWrite: (port: number, value: number) => void = () => {};
  private readonly timer: Timer;

  constructor(readonly clock: Clock, readonly pitHz: number) {
    this.timer = clock.timer('pit0', (at) => this.channel0Edge(at));
  }

  reset(): void {
    for (const c of this.channels) c.reset();
    this.portB = 0;
    this.channels[2].gate = false;
    this.timer.cancel();
  }

  /** PIT ticks elapsed at machine cycle `cycle` (exact integer arithmetic). */
  tickAt(cycle: number): number {
    const hz = this.clock.hz;
    const q = Math.floor(cycle / hz);
    const r = cycle - q * hz;
    return q * this.pitHz + Math.floor((r * this.pitHz) / hz);
  }

  /** The first machine cycle at which tickAt() reaches `tick`. */
  cycleOfTick(tick: number): number {
    const hz = this.clock.hz;
    const q = Math.floor(tick / this.pitHz);
    const r = tick - q * this.pitHz;
    return q * hz + Math.ceil((r * hz) / this.pitHz);
  }

  private now(): number {
    return this.tickAt(this.clock.now);
  }

  private channel0Edge(at: number): void {
    this.onIrq0();
    this.armChannel0(this.tickAt(at));
  }

  private armChannel0(t: number): void {
    const next = this.channels[0].nextRise(t);
    if (next < 0) this.timer.cancel();
    else this.timer.arm(this.cycleOfTick(next));
  }

  read(port: number): number {
    if (port === 0x61) {
      const t = this.now();
      const refresh = Math.floor(t / 18) & 1; // channel 1's usual 15.08 µs refresh period
      return (this.portB & 3) | (refresh << 4) | (this.channels[2].out(t) ? 0x20 : 0);
    }
    if (port === 0x43) return 0xff; // the control register is write-only
    const c = this.channels[port - 0x40];
    if (!c) return 0xff;
    if (c.status >= 0) {
      const s = c.status;
      c.status = -1;
      return s;
    }
    let v: number;
    if (c.latch >= 0) {
      v = c.latch;
    } else {
      v = c.value(this.now());
      if (c.bcd) v = toBcd(v === 0x10000 ? 0 : v);
    }
    let byte: number;
    switch (c.rw) {
      case 1: byte = v & 0xff; c.latch = -1; break;
      case 2: byte = (v >> 8) & 0xff; c.latch = -1; break;
      default:
        if (c.latch >= 0) {
          byte = c.latchMsb ? (v >> 8) & 0xff : v & 0xff;
          if (c.latchMsb) c.latch = -1;
          c.latchMsb = !c.latchMsb;
        } else {
          byte = c.readMsb ? (v >> 8) & 0xff : v & 0xff;
          c.readMsb = !c.readMsb;
        }
    }
    return byte;
  }

  write(port: number, value: number): void {
    value &= 0xff;
    if (port === 0x61) {
      this.portB = value & 3;
      this.setGate2((value & 1) !== 0);
      return;
    }
    if (port === 0x43) {
      this.control(value);
      return;
    }
    const index = port - 0x40;
    const c = this.channels[index];
    if (!c) { this.onIgnoredWrite(port, value); return; }
    let count: number;
    switch (c.rw) {
      case 1: count = value; break;
      case 2: count = value << 8; break;
      default:
        if (!c.writeMsb) {
          c.writeLsb = value;
          c.writeMsb = true;
          if (c.mode === MODE_TERMINAL) { c.loadTick = -1; c.held = -1; } // mode 0: writing the LSB stops counting
          return;
        }
        c.writeMsb = false;
        count = c.writeLsb | (value << 8);
    }
    if (c.bcd) count = fromBcd(count);
    if (count === 0) count = c.bcd ? 10000 : 0x10000;
    if (count === 1 && (c.mode === MODE_RATE || c.mode === MODE_SQUARE)) count = 2; // 1 is illegal there
    c.count = count;
    c.nullCount = false;
    c.held = -1;
    const gated = c.mode === MODE_ONESHOT || c.mode === MODE_HW_STROBE;
    if (!gated) {
      c.loadTick = c.gate ? this.now() : -1;
      if (!c.gate) c.held = count & 0xffff;
    }
    if (index === 0) this.armChannel0(this.now());
  }

  private control(value: number): void {
    const sc = value >> 6;
    const t = this.now();
    if (sc === 3) {
      // Read-back (datasheet, "Read-Back Command"): bit 5 low latches counts, bit 4 low latches status.
      for (let i = 0; i < 3; i++) {
        if (!(value & (2 << i))) continue;
        const c = this.channels[i];
        if (!(value & 0x20) && c.latch < 0) { c.latch = this.latchValue(c, t); c.latchMsb = false; }
        if (!(value & 0x10) && c.status < 0) {
          c.status = (c.out(t) ? 0x80 : 0) | (c.nullCount ? 0x40 : 0) | (c.rw << 4) | (c.mode << 1) | (c.bcd ? 1 : 0);
        }
      }
      return;
    }
    const c = this.channels[sc];
    const rw = (value >> 4) & 3;
    if (rw === 0) {
      // Counter latch command: the first one wins until read.
      if (c.latch < 0) { c.latch = this.latchValue(c, t); c.latchMsb = false; }
      return;
    }
    let mode = (value >> 1) & 7;
    if (mode > 5) mode -= 4; // 6 and 7 are modes 2 and 3 (datasheet, control word format)
    c.mode = mode;
    c.rw = rw;
    c.bcd = (value & 1) !== 0;
    c.writeMsb = c.readMsb = false;
    c.latch = -1;
    c.status = -1;
    c.loadTick = -1;
    c.held = -1;
    c.nullCount = true;
    c.idleOut = mode !== MODE_TERMINAL;
    if (sc === 0) this.timer.cancel();
  }

  private latchValue(c: PitChannel, t: number): number {
    const v = c.value(t);
    return c.bcd ? toBcd(v === 0x10000 ? 0 : v) : v & 0xffff;
  }

  /** The channel 2 gate (port 0x61 bit 0). */
  private setGate2(level: boolean): void {
    const c = this.channels[2];
    if (level === c.gate) return;
    const t = this.now();
    c.gate = level;
    if (c.count === 0x10000 && c.nullCount) return;
    if (level) {
      if (c.mode === MODE_ONESHOT || c.mode === MODE_HW_STROBE || c.mode === MODE_RATE || c.mode === MODE_SQUARE) {
        c.loadTick = t; // a rising gate (re)triggers these modes
        c.held = -1;
      } else if (c.held >= 0) {
        // Mode 0/4 resume from the held count.
        c.loadTick = t - ((c.count - c.held) & 0xffff);
        c.held = -1;
      }
    } else if (c.mode === MODE_TERMINAL || c.mode === MODE_SW_STROBE || c.mode === MODE_RATE || c.mode === MODE_SQUARE) {
      if (c.loadTick >= 0) c.held = c.value(t);
      c.loadTick = -1;
    }
  }
}
