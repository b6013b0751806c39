/**
 * The CMOS RAM and real-time clock (a Motorola MC146818A, as in every PC) at ports
 * 0x70 (index; bit 7 masks NMI) and 0x71 (data).
 *
 * Written from the MC146818A datasheet: time and alarm registers in BCD or binary and
 * 12- or 24-hour form (register B DM and 24/12), registers A-D, the update-in-progress
 * bit, the SET bit that stops updates so the time can be written, and the periodic,
 * alarm and update-ended interrupts on IRQ 8 with their flags in register C (cleared
 * by reading it). The time is the virtual clock: a start time (chosen by the machine,
 * from a seed) plus elapsed cycles. Bytes 0x0E-0x7F are battery-backed RAM with the
 * PC's conventional contents (memory sizes, equipment byte, century at 0x32).
 */
import { Clock, Timer } from './clock';

const REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d;
const B_SET = 0x80, B_PIE = 0x40, B_AIE = 0x20, B_UIE = 0x10, B_DM = 0x04, B_24H = 0x02;
const C_IRQF = 0x80, C_PF = 0x40, C_AF = 0x20, C_UF = 0x10;
/** Register A bit 7 is set for the last 244 µs before each update (datasheet, "UIP"). */
const UIP_SECONDS = 244e-6;

/** Civil date from Unix seconds (UTC), without the host's time zone or Date's clock. */
export function civil(unix: number): { year: number; month: number; day: number; weekday: number; hour: number; minute: number; second: number } {
  const days = Math.floor(unix / 86400);
  let rem = unix - days * 86400;
  const hour = Math.floor(rem / 3600); rem -= hour * 3600;
  const minute = Math.floor(rem / 60);
  const second = rem - minute * 60;
  // Howard Hinnant's days-to-civil algorithm.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const weekday = ((days % 7) + 11) % 7 + 1; // 1 = Sunday (1970-01-01 was a Thursday)
  return { year, month, day, weekday, hour, minute, second };
}

/** Unix seconds from a civil date (UTC). */
export function unixOf(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146097 + doe - 719468;
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

export class CmosRtc {
  readonly ram = new Uint8Array(128);
  index = 0;
  /** Port 0x70 bit 7: NMI disabled. */
  nmiMasked = true;
  /** Unix seconds at machine cycle `baseCycle`. */
  private baseSeconds: number;
  private baseCycle = 0;
  private regC = 0;
  onIrq8: () => void = () => {};
  /** A write the model ignores (registers C and D are read-only), for --trace. */
  onIgnoredWrite: (index: number, value: number) => void = () => {};
  private readonly periodic: Timer;
  private readonly update: Timer;

  constructor(readonly clock: Clock, startUnixSeconds: number, memoryBytes: number) {
    this.baseSeconds = startUnixSeconds;
    this.periodic = clock.timer('rtc-periodic', (at) => this.periodicTick(at));
    this.update = clock.timer('rtc-update', (at) => this.secondTick(at));
    this.setMemorySize(memoryBytes);
    this.reset();
  }

  reset(): void {
    this.ram[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    this.ram[REG_B] = B_24H; // BCD, 24-hour, no interrupts
    this.regC = 0;
    this.ram[REG_D] = 0x80; // valid RAM and time
    this.index = 0;
    this.nmiMasked = true;
    this.periodic.cancel();
    this.armUpdate();
  }

  /** The conventional CMOS memory-size bytes (as SeaBIOS and QEMU fill them). */
  private setMemorySize(bytes: number): void {
    const kb = Math.floor(bytes / 1024);
    const base = 640;
    const ext = Math.min(Math.max(kb - 1024, 0), 0xfc00); // 1 MiB .. 64 MiB, in KiB
    const above16 = Math.min(Math.max(Math.floor((bytes - 16 * 1024 * 1024) / 65536), 0), 0xffff);
    this.ram[0x15] = base & 0xff; this.ram[0x16] = base >> 8;
    this.ram[0x17] = ext & 0xff; this.ram[0x18] = ext >> 8;
    this.ram[0x30] = ext & 0xff; this.ram[0x31] = ext >> 8;
    this.ram[0x34] = above16 & 0xff; this.ram[0x35] = above16 >> 8;
    this.ram[0x14] = 0x06; // equipment: no floppy drives, math coprocessor absent, VGA/EGA
  }

  /** Seconds since the epoch now, and how far into the current second (0..1). */
  private now(): { seconds: number; fraction: number } {
    const elapsed = (this.clock.now - this.baseCycle) / this.clock.hz;
    const whole = Math.floor(elapsed);
    return { seconds: this.baseSeconds + whole, fraction: elapsed - whole };
  }

  private encode(v: number): number {
    return this.ram[REG_B] & B_DM ? v : ((Math.floor(v / 10) << 4) | (v % 10));
  }

  private decode(v: number): number {
    return this.ram[REG_B] & B_DM ? v : ((v >> 4) * 10 + (v & 0xf));
  }

  private encodeHour(h: number): number {
    if (this.ram[REG_B] & B_24H) return this.encode(h);
    const pm = h >= 12;
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.encode(h12) | (pm ? 0x80 : 0);
  }

  private decodeHour(v: number): number {
    if (this.ram[REG_B] & B_24H) return this.decode(v);
    const h12 = this.decode(v & 0x7f);
    return (h12 % 12) + (v & 0x80 ? 12 : 0);
  }

  /** Writes the current time into RAM bytes 0-9 and 0x32. */
  private latchTime(): void {
    if (this.ram[REG_B] & B_SET) return; // frozen while the guest sets the time
    const t = civil(this.now().seconds);
    this.ram[0] = this.encode(t.second);
    this.ram[2] = this.encode(t.minute);
    this.ram[4] = this.encodeHour(t.hour);
    this.ram[6] = this.encode(t.weekday);
    this.ram[7] = this.encode(t.day);
    this.ram[8] = this.encode(t.month);
    this.ram[9] = this.encode(t.year % 100);
    this.ram[0x32] = this.encode(Math.floor(t.year / 100));
  }

  read(port: number): number {
    if (port === 0x70) return 0xff; // the index register is write-only
    const i = this.index;
    if (i <= 9 || i === 0x32) {
      this.latchTime();
      return this.ram[i];
    }
    if (i === REG_A) {
      const { fraction } = this.now();
      const uip = !(this.ram[REG_B] & B_SET) && fraction >= 1 - UIP_SECONDS;
      return (this.ram[REG_A] & 0x7f) | (uip ? 0x80 : 0);
    }
    if (i === REG_C) {
      const v = this.regC;
      this.regC = 0; // reading C clears every flag (datasheet, register C)
      return v;
    }
    return this.ram[i];
  }

  write(port: number, value: number): void {
    value &= 0xff;
    if (port === 0x70) {
      this.index = value & 0x7f;
      this.nmiMasked = (value & 0x80) !== 0;
      return;
    }
    const i = this.index;
    if (i === REG_C || i === REG_D) { this.onIgnoredWrite(i, value); return; } // read-only
    if (i === REG_A) {
      this.ram[REG_A] = value & 0x7f; // UIP is read-only
      this.armPeriodic();
      return;
    }
    if (i === REG_B) {
      const old = this.ram[REG_B];
      if ((value & B_SET) && !(old & B_SET)) this.latchTime();
      this.ram[REG_B] = value & ~(value & B_SET ? B_UIE : 0);
      if (!(value & B_SET) && (old & B_SET)) this.restartFromRegisters();
      this.armPeriodic();
      this.armUpdate();
      return;
    }
    this.ram[i] = value;
  }

  /** After SET goes back to 0: the time registers become the clock (datasheet, SET bit). */
  private restartFromRegisters(): void {
    const r = this.ram;
    const century = this.decode(r[0x32]) || 20;
    const unix = unixOf(century * 100 + this.decode(r[9]), this.decode(r[8]) || 1, this.decode(r[7]) || 1,
      this.decodeHour(r[4]), this.decode(r[2]), this.decode(r[0]));
    this.baseSeconds = unix;
    this.baseCycle = this.clock.now;
  }

  private raise(flag: number): void {
    const enabled = this.ram[REG_B] & (C_PF | C_AF | C_UF); // PIE/AIE/UIE share PF/AF/UF's bit positions
    this.regC |= flag;
    if ((flag & enabled) && !(this.regC & C_IRQF)) {
      this.regC |= C_IRQF;
      this.onIrq8();
    }
  }

  /** Periodic rate from register A RS3-0: 0 none, 1-2 as 8-9, else 32768 >> (RS - 1) Hz. */
  periodicHz(): number {
    let rs = this.ram[REG_A] & 0x0f;
    if (rs === 0) return 0;
    if (rs < 3) rs += 7;
    return 32768 >> (rs - 1);
  }

  private armPeriodic(): void {
    const hz = this.periodicHz();
    if (!(this.ram[REG_B] & B_PIE) || hz === 0) { this.periodic.cancel(); return; }
    if (!this.periodic.armed) this.periodic.armIn(Math.round(this.clock.hz / hz));
  }

  private periodicTick(at: number): void {
    this.raise(C_PF);
    const hz = this.periodicHz();
    if ((this.ram[REG_B] & B_PIE) && hz) this.periodic.arm(at + Math.round(this.clock.hz / hz));
  }

  /** The update timer runs only while an update or alarm interrupt is enabled. */
  private armUpdate(): void {
    if (!(this.ram[REG_B] & (B_UIE | B_AIE)) || (this.ram[REG_B] & B_SET)) { this.update.cancel(); return; }
    const { fraction } = this.now();
    this.update.armIn(Math.ceil((1 - fraction) * this.clock.hz));
  }

  private secondTick(at: number): void {
    if (this.ram[REG_B] & B_SET) return;
    this.raise(C_UF);
    this.latchTime();
    const r = this.ram;
    // An alarm byte with its two top bits set is "don't care" (datasheet, alarm registers).
    const match = (alarm: number, cur: number) => (alarm & 0xc0) === 0xc0 || alarm === cur;
    if (match(r[1], r[0]) && match(r[3], r[2]) && match(r[5], r[4])) this.raise(C_AF);
    this.update.arm(at + this.clock.hz);
  }
}
