/**
 * The PIT's channel 2 with port 0x61, and the 16550, driven the way a Linux 6.1 kernel
 * probes them on the way to /init: the TSC calibration of arch/x86/kernel/tsc.c
 * (quick_pit_calibrate, pit_calibrate_tsc) and the 8250 driver's autoconfig,
 * autoconfig_irq and startup tests (drivers/tty/serial/8250/8250_port.c). Each port
 * access costs the CPU time it does on the machine (the clock moves on between them);
 * the expected results are what the kernel needs to see: a TSC rate within its own
 * 500 ppm of the CPU's clock, and a 16550A with working FIFOs and THRE interrupt.
 */
import { Clock } from './clock';
import { Pit8254 } from './pit8254';
import { Uart16550 } from './uart16550';
import { DEFAULT_COSTS } from './costs';
import { AcpiPm, PM_TMR } from './acpi-pm';

const HZ = DEFAULT_COSTS.cpuHz;
const PIT_TICK_RATE = 1193182; // the kernel's PIT_TICK_RATE

/** A PIT on a machine clock where every port access, with the loop around it, takes `cost` cycles. */
function machine(cost = DEFAULT_COSTS.chipsetAccessCycles + 10 * DEFAULT_COSTS.instructionCycles) {
  const clock = new Clock(HZ);
  const pit = new Pit8254(clock, DEFAULT_COSTS.pitHz);
  pit.reset();
  const step = () => clock.advanceTo(clock.now + cost);
  const inb = (port: number) => { step(); return pit.read(port); };
  const outb = (v: number, port: number) => { step(); pit.write(port, v); };
  /** get_cycles(): the TSC counts machine cycles. */
  const tsc = () => clock.now;
  return { clock, pit, inb, outb, tsc };
}

describe("Linux's TSC calibration against the PIT (channel 2, gate and OUT2 on port 0x61)", () => {
  it('quick_pit_calibrate: the MSB of a mode 0 count falls by one every 256 ticks, and the TSC rate comes out within 500 ppm', () => {
    const { inb, outb, tsc } = machine();
    const pitVerifyMsb = (val: number) => { inb(0x42); return inb(0x42) === val; };
    const pitExpectMsb = (val: number) => {
      let count = 0, t = 0, prev = 0;
      for (; count < 50000; count++) {
        if (!pitVerifyMsb(val)) break;
        prev = t;
        t = tsc();
      }
      return { ok: count > 5, tsc: t, d: tsc() - prev };
    };
    outb((inb(0x61) & ~0x02) | 0x01, 0x61); // gate high, speaker off
    outb(0xb0, 0x43); // channel 2, mode 0, binary
    outb(0xff, 0x42);
    outb(0xff, 0x42);
    pitVerifyMsb(0);
    const first = pitExpectMsb(0xff);
    expect(first.ok).toBe(true);
    let khz = 0;
    for (let i = 1; i <= 233; i++) { // MAX_QUICK_PIT_ITERATIONS for 50 ms
      const next = pitExpectMsb(0xff - i);
      expect(next.ok).toBe(true);
      const delta = next.tsc - first.tsc;
      if (i === 1) expect(first.d + next.d).toBeLessThan((delta * 233) / 2048); // else the kernel gives up at once
      if (first.d + next.d >= delta / 2048) continue;
      expect(pitVerifyMsb(0xfe - i)).toBe(true);
      khz = (delta * PIT_TICK_RATE) / (i * 256) / 1000;
      break;
    }
    expect(khz).not.toBe(0); // "tsc: Fast TSC calibration using PIT"
    expect(Math.abs(khz * 1000 - HZ) / HZ).toBeLessThan(500e-6);
  });

  it('pit_calibrate_tsc: OUT2 (port 0x61 bit 5) rises at terminal count, after the loop count and evenness the kernel checks', () => {
    const { inb, outb, tsc } = machine();
    const ms = 10, latch = Math.floor(PIT_TICK_RATE / (1000 / ms)); // CAL_MS, CAL_LATCH
    outb((inb(0x61) & ~0x02) | 0x01, 0x61);
    outb(0xb0, 0x43);
    outb(latch & 0xff, 0x42);
    outb(latch >> 8, 0x42);
    const t1 = tsc();
    let t = t1, pitcnt = 0, min = Infinity, max = 0;
    while ((inb(0x61) & 0x20) === 0 && pitcnt < 1e6) { // (the kernel has no bound; a test must end)
      const t2 = tsc(); const delta = t2 - t; t = t2;
      min = Math.min(min, delta); max = Math.max(max, delta);
      pitcnt++;
    }
    expect(pitcnt).toBeGreaterThanOrEqual(1000); // CAL_PIT_LOOPS
    expect(max).toBeLessThanOrEqual(10 * min); // else "an SMI hit us"
    const khz = (t - t1) / ms; // cycles per millisecond
    expect(Math.abs(khz * 1000 - HZ) / HZ).toBeLessThan(0.001);
  });
});

describe("the PM timer as Linux's acpi_pm clocksource checks it", () => {
  it('verify_pmtmr_rate: over a PIT channel 2 count of 5 x LATCH the PM timer runs within 5% of 3.579545 MHz', () => {
    const { clock, inb, outb } = machine();
    const pm = new AcpiPm(clock);
    pm.reset();
    const HZ_KERNEL = 100, LATCH = Math.floor((PIT_TICK_RATE + HZ_KERNEL / 2) / HZ_KERNEL), CALIBRATE_LATCH = 5 * LATCH;
    const PMTMR_TICKS_PER_SEC = 3579545;
    const expected = Math.floor((CALIBRATE_LATCH * (PMTMR_TICKS_PER_SEC >> 10)) / (PIT_TICK_RATE >> 10));
    outb((inb(0x61) & ~0x02) | 0x01, 0x61); // mach_prepare_counter
    outb(0xb0, 0x43);
    outb(CALIBRATE_LATCH & 0xff, 0x42);
    outb(CALIBRATE_LATCH >> 8, 0x42);
    const v1 = pm.read(PM_TMR, 4);
    let n = 0;
    while ((inb(0x61) & 0x20) === 0 && n++ < 1e7); // mach_countup
    const v2 = pm.read(PM_TMR, 4);
    const delta = (v2 - v1) & 0xffffff;
    expect(delta).toBeGreaterThanOrEqual((expected * 19) / 20);
    expect(delta).toBeLessThanOrEqual((expected * 21) / 20);
  });

  it('acpi_pm_read_verified (the PIIX4 is on its graylist): three reads in a row never go backwards', () => {
    const { clock } = machine();
    const pm = new AcpiPm(clock);
    pm.reset();
    for (let i = 0; i < 2000; i++) {
      const a = pm.read(PM_TMR, 4); clock.advanceTo(clock.now + 300);
      const b = pm.read(PM_TMR, 4); clock.advanceTo(clock.now + 300);
      const c = pm.read(PM_TMR, 4);
      expect(a <= b && b <= c).toBe(true);
      clock.advanceTo(clock.now + 12345);
    }
  });
});

describe("the 16550 as Linux's 8250 driver probes it", () => {
  function uart() {
    const clock = new Clock(HZ);
    const u = new Uart16550(clock);
    u.reset();
    const irq: boolean[] = [];
    u.onIrq = (l) => irq.push(l);
    const out = (off: number, v: number) => u.write(off, 1, v);
    const inp = (off: number) => u.read(off, 1);
    return { u, irq, out, inp };
  }
  const IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6;

  it('autoconfig: IER holds its 4 bits, the loopback MSR test gives 0x90, IIR says 16550A, and no EFR, 16750 or XScale bit shows', () => {
    const { out, inp } = uart();
    out(IER, 0); const scratch2 = inp(IER) & 0x0f;
    out(IER, 0x0f); const scratch3 = inp(IER) & 0x0f;
    out(IER, 0);
    expect([scratch2, scratch3]).toEqual([0, 0x0f]);
    const saveMcr = inp(MCR), saveLcr = inp(LCR);
    out(MCR, 0x10 | 0x0a); // UART_MCR_LOOP | RTS | OUT2
    expect(inp(MSR) & 0xf0).toBe(0x90);
    out(MCR, saveMcr);
    out(LCR, 0xbf); out(2, 0); out(LCR, 0); // EFR cleared "if any"
    out(FCR, 0x01);
    expect(inp(IIR) >> 6).toBe(3); // 16550A
    // autoconfig_16550a: EFR under LCR 0x80 and 0xBF must not read 0.
    out(LCR, 0x80); expect(inp(2)).not.toBe(0);
    out(LCR, 0xbf); expect(inp(2)).not.toBe(0);
    // 16750: IIR bit 5 with the 64-byte FIFO bit, with and without DLAB.
    out(LCR, 0); out(FCR, 0x21); const s1 = inp(IIR) >> 5; out(FCR, 0x01);
    out(LCR, 0x80); out(FCR, 0x21); const s2 = inp(IIR) >> 5; out(FCR, 0x01); out(LCR, 0);
    expect(s1 === 6 && s2 === 7).toBe(false);
    // XScale: IER bit 6 (UUE) does not stick.
    out(IER, 0x40); expect(inp(IER) & 0x40).toBe(0); out(IER, 0);
    out(LCR, saveLcr);
    expect(inp(LSR)).not.toBe(0xff);
  });

  it('autoconfig_irq: with OUT2 and IER 0x0F the line rises, and rises again after a byte is sent', () => {
    const { out, inp, irq } = uart();
    out(MCR, 0x04 | 0x08); out(MCR, 0);
    out(MCR, 0x01 | 0x02 | 0x08); // DTR, RTS, OUT2
    out(IER, 0x0f);
    expect(irq).toEqual([true]); // THRE: the probe sees the IRQ
    inp(LSR); inp(0); inp(IIR); inp(MSR);
    out(0, 0xff);
    expect(irq[irq.length - 1]).toBe(true);
    out(IER, 0); out(MCR, 0);
    expect(irq[irq.length - 1]).toBe(false);
  });

  it('serial8250_do_startup: THRE is re-asserted after IER is cleared and set again (no UART_BUG_THRE), and the TX interrupt test passes (no UART_BUG_TXEN)', () => {
    const { out, inp } = uart();
    out(FCR, 0x07); out(FCR, 0); // clear the FIFOs
    inp(LSR); inp(0); inp(IIR); inp(MSR);
    out(IER, 0x02); const iir1 = inp(IIR);
    out(IER, 0);
    out(IER, 0x02); const iir = inp(IIR);
    out(IER, 0);
    expect(!(iir1 & 1) && (iir & 1)).toBeFalsy();
    out(LCR, 0x03); out(MCR, 0x0b);
    out(IER, 0x02);
    const lsr = inp(LSR), iir2 = inp(IIR);
    out(IER, 0);
    expect((lsr & 0x40) && (iir2 & 1)).toBeFalsy();
    expect(iir2 & 0x0f).toBe(0x02); // the THRE interrupt identified
  });
});
