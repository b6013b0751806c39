/**
 * The local APIC against the SDM vol. 3A chapter 10, at the register level: reset
 * state, what is writable, priority and dispatch, EOI, the LINT pins, the timer, IPIs to
 * itself, the error status, the disabled states, and accesses the SDM leaves undefined.
 */
import seedrandom from 'seedrandom';
import { Clock } from './clock';
import { LocalApic, ApicPins, DM_FIXED, DM_NMI, DM_EXTINT, DM_INIT, LAPIC_BASE } from './lapic';

const ID = 0x20, VERSION = 0x30, TPR = 0x80, PPR = 0xa0, EOI = 0xb0, LDR = 0xd0, DFR = 0xe0, SVR = 0xf0;
const ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, ICR_LO = 0x300, ICR_HI = 0x310;
const LVT_TIMER = 0x320, LVT_THERMAL = 0x330, LVT_PERF = 0x340, LVT_LINT0 = 0x350, LVT_LINT1 = 0x360, LVT_ERROR = 0x370;
const INITIAL = 0x380, CURRENT = 0x390, DIVIDE = 0x3e0;

function setup(cyclesPerTick = 2) {
  const clock = new Clock(2e9);
  const seen = { intr: false, nmis: 0, eois: [] as number[], extIntAcks: 0, picVector: 0x08 };
  const pins: ApicPins = {
    setIntr: (level) => { seen.intr = level; },
    nmi: () => { seen.nmis++; },
    eoi: (v) => { seen.eois.push(v); },
    extIntAck: () => { seen.extIntAcks++; return seen.picVector; },
  };
  const apic = new LocalApic(clock, pins, cyclesPerTick);
  const rd = (off: number) => apic.read(off, 4);
  const wr = (off: number, v: number) => apic.write(off, 4, v);
  return { clock, apic, seen, rd, wr };
}

/** Software-enabled with the spurious vector 0xFF, everything else as at reset. */
function enabled(cyclesPerTick = 2) {
  const s = setup(cyclesPerTick);
  s.wr(SVR, 0x1ff);
  return s;
}

describe('local APIC: reset state (SDM 10.4.7.1) and registers', () => {
  it('comes up software-disabled with every LVT entry masked, DFR all ones, SVR 0xFF, version 0x11 with five LVT entries', () => {
    const { rd, apic } = setup();
    expect(rd(VERSION)).toBe(0x00040011);
    expect(rd(SVR)).toBe(0xff);
    expect(rd(DFR)).toBe(0xffffffff);
    for (const r of [LVT_TIMER, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR]) expect(rd(r)).toBe(0x10000);
    expect(rd(LVT_THERMAL)).toBe(0); // no thermal entry on the P6 family
    for (const r of [ID, TPR, PPR, LDR, ESR, ICR_LO, ICR_HI, INITIAL, CURRENT, DIVIDE, ISR, TMR, IRR]) expect(rd(r)).toBe(0);
    expect(apic.baseMsr).toBe((LAPIC_BASE | 0x900) >>> 0); // bootstrap processor, globally enabled
  });

  it('keeps only the writable bits: ID 24-27, TPR 0-7, LDR 24-31, DFR 28-31, SVR 0-9 with bits 0-3 reading 1', () => {
    const { rd, wr } = setup();
    wr(ID, -1); expect(rd(ID)).toBe(0x0f000000);
    wr(TPR, -1); expect(rd(TPR)).toBe(0xff);
    wr(LDR, -1); expect(rd(LDR)).toBe(0xff000000);
    wr(DFR, 0); expect(rd(DFR)).toBe(0x0fffffff);
    wr(SVR, 0x1230); expect(rd(SVR)).toBe(0x23f);
    wr(VERSION, 0); expect(rd(VERSION)).toBe(0x00040011);
  });

  it('keeps each LVT entry to its own fields, and forces the mask while software-disabled (SDM 10.4.7.2)', () => {
    const { rd, wr } = setup();
    wr(LVT_LINT0, 0x000000ff); // unmasking is refused while disabled
    expect(rd(LVT_LINT0)).toBe(0x100ff);
    wr(SVR, 0x1ff);
    wr(LVT_TIMER, -1); expect(rd(LVT_TIMER)).toBe(0x300ff); // vector, mask, periodic; no TSC-deadline
    wr(LVT_PERF, -1); expect(rd(LVT_PERF)).toBe(0x107ff);
    wr(LVT_LINT0, -1); expect(rd(LVT_LINT0)).toBe(0x1a7ff); // no delivery status or remote IRR bit
    wr(LVT_ERROR, -1); expect(rd(LVT_ERROR)).toBe(0x100ff);
    wr(LVT_THERMAL, -1); expect(rd(LVT_THERMAL)).toBe(0);
    wr(LVT_TIMER, 0x20030);
    wr(SVR, 0xff); // software-disable: every entry masked again
    expect(rd(LVT_TIMER)).toBe(0x30030);
  });
});

describe('local APIC: dispatch by priority (SDM 10.8)', () => {
  it('raises INTR for a pending vector, puts the highest in service at INTA, and ends it at EOI', () => {
    const { apic, rd, wr, seen } = enabled();
    apic.accept(0x31, DM_FIXED, false);
    apic.accept(0x52, DM_FIXED, false);
    expect(seen.intr).toBe(true);
    expect(rd(IRR + 0x10)).toBe((1 << (0x31 - 32)) | 0);
    expect(apic.acknowledge()).toBe(0x52);
    expect(rd(ISR + 0x20)).toBe(1 << (0x52 - 64));
    expect(rd(PPR)).toBe(0x50);
    // 0x31 is of a lower class than the one in service: INTR stays down until EOI.
    expect(seen.intr).toBe(false);
    wr(EOI, 0);
    expect(rd(ISR + 0x20)).toBe(0);
    expect(seen.intr).toBe(true);
    expect(apic.acknowledge()).toBe(0x31);
  });

  it('holds back vectors whose class is not above TPR, and returns the spurious vector when nothing is deliverable', () => {
    const { apic, wr, seen } = enabled();
    wr(TPR, 0x40);
    apic.accept(0x45, DM_FIXED, false);
    expect(seen.intr).toBe(false);
    expect(apic.acknowledge()).toBe(0xff);
    wr(TPR, 0x3f);
    expect(seen.intr).toBe(true);
    expect(apic.acknowledge()).toBe(0x45);
  });

  it('reports a level-triggered vector to the I/O APIC at its EOI, and an edge-triggered one not', () => {
    const { apic, rd, wr, seen } = enabled();
    apic.accept(0x61, DM_FIXED, true);
    expect(rd(TMR + 0x30)).toBe(1 << 1);
    apic.acknowledge();
    wr(EOI, 0);
    apic.accept(0x62, DM_FIXED, false);
    apic.acknowledge();
    wr(EOI, 0);
    expect(seen.eois).toEqual([0x61]);
    expect(rd(TMR + 0x30)).toBe(0);
  });

  it('refuses vectors 0-15 with the receive-illegal-vector error, readable after a write of ESR, and interrupts through the error LVT', () => {
    const { apic, rd, wr, seen } = enabled();
    wr(LVT_ERROR, 0xe0);
    apic.accept(0x05, DM_FIXED, false);
    expect(rd(IRR)).toBe(0);
    expect(rd(ESR)).toBe(0); // latched, not yet visible
    wr(ESR, 0);
    expect(rd(ESR)).toBe(0x40);
    wr(ESR, 0);
    expect(rd(ESR)).toBe(0);
    expect(seen.intr).toBe(true);
    expect(apic.acknowledge()).toBe(0xe0);
  });

  it('latches an error whose own LVT vector is illegal, and interrupts no one (no error about the error, without end)', () => {
    const { apic, rd, wr, seen } = enabled();
    wr(LVT_ERROR, 0x03);
    apic.accept(0x07, DM_FIXED, false);
    wr(ESR, 0);
    expect(rd(ESR)).toBe(0x40);
    expect(seen.intr).toBe(false);
    expect(rd(IRR)).toBe(0);
  });

  it('waits with fixed interrupts while software-disabled and dispatches them once enabled; NMIs pass', () => {
    const { apic, wr, seen } = setup();
    apic.accept(0x70, DM_FIXED, false);
    apic.accept(0, DM_NMI, false);
    expect(seen.intr).toBe(false);
    expect(seen.nmis).toBe(1);
    wr(SVR, 0x1ff);
    expect(seen.intr).toBe(true);
    expect(apic.acknowledge()).toBe(0x70);
  });
});

describe('local APIC: LINT0 and LINT1', () => {
  it('passes the 8259 through LINT0 in ExtINT mode (virtual wire, as firmware leaves it): INTA is the 8259\'s', () => {
    const { apic, seen } = setup();
    apic.firmwareSetup();
    apic.setLint0(true);
    expect(seen.intr).toBe(true);
    expect(apic.acknowledge()).toBe(0x08);
    expect(seen.extIntAcks).toBe(1);
    apic.setLint0(false);
    expect(seen.intr).toBe(false);
  });

  it('dispatches its own fixed vectors before the 8259\'s', () => {
    const { apic, seen } = setup();
    apic.firmwareSetup();
    apic.setLint0(true);
    apic.accept(0x40, DM_FIXED, false);
    expect(apic.acknowledge()).toBe(0x40);
    expect(seen.extIntAcks).toBe(0);
    expect(apic.acknowledge()).toBe(0x08);
  });

  it('blocks the 8259 when LINT0 is masked', () => {
    const { apic, wr, seen } = setup();
    apic.firmwareSetup();
    wr(LVT_LINT0, 0x10700);
    apic.setLint0(true);
    expect(seen.intr).toBe(false);
  });

  it('sends an NMI on a rising edge of LINT1 in NMI mode', () => {
    const { apic, seen } = setup();
    apic.firmwareSetup();
    apic.setLint1(true);
    apic.setLint1(true);
    apic.setLint1(false);
    apic.setLint1(true);
    expect(seen.nmis).toBe(2);
  });

  it('takes a fixed level-triggered LINT0 once until EOI (remote IRR), and again at EOI while the line is up', () => {
    const { apic, rd, wr, seen } = enabled();
    wr(LVT_LINT0, 0x8000 | 0x55);
    apic.setLint0(true);
    expect(rd(LVT_LINT0) & 0x4000).toBe(0x4000);
    expect(apic.acknowledge()).toBe(0x55);
    expect(seen.intr).toBe(false);
    wr(EOI, 0);
    expect(seen.eois).toEqual([0x55]);
    expect(seen.intr).toBe(true); // still asserted: taken again
    expect(apic.acknowledge()).toBe(0x55);
    apic.setLint0(false);
    wr(EOI, 0);
    expect(seen.intr).toBe(false);
    expect(rd(LVT_LINT0) & 0x4000).toBe(0);
  });

  it('takes a fixed edge-triggered LINT0 once per rising edge', () => {
    const { apic, rd, wr } = enabled();
    wr(LVT_LINT0, 0x66);
    apic.setLint0(true);
    apic.setLint0(true);
    expect(rd(IRR + 0x30)).toBe(1 << 6);
    expect(apic.acknowledge()).toBe(0x66);
    wr(EOI, 0);
    expect(rd(IRR + 0x30)).toBe(0);
  });
});

describe('local APIC: timer (SDM 10.5.4)', () => {
  it('counts the initial count down at the bus clock over the divider and interrupts once at 0 (one-shot)', () => {
    const { apic, clock, rd, wr, seen } = enabled(2);
    wr(DIVIDE, 0x3); // divide by 16
    wr(LVT_TIMER, 0x40);
    wr(INITIAL, 100);
    expect(rd(CURRENT)).toBe(100);
    clock.advanceTo(2 * 16 * 10);
    expect(rd(CURRENT)).toBe(90);
    expect(seen.intr).toBe(false);
    clock.advanceTo(2 * 16 * 100);
    expect(rd(CURRENT)).toBe(0);
    expect(seen.intr).toBe(true);
    expect(apic.acknowledge()).toBe(0x40);
    wr(EOI, 0);
    clock.advanceTo(2 * 16 * 300);
    expect(seen.intr).toBe(false);
  });

  it('reloads in periodic mode, each period from the last expiry, and stops when the initial count is written 0', () => {
    const { apic, clock, rd, wr } = enabled(1);
    wr(DIVIDE, 0xb); // divide by 1
    wr(LVT_TIMER, 0x20000 | 0x41);
    wr(INITIAL, 1000);
    let fired = 0;
    for (let t = 500; t <= 5500; t += 500) {
      clock.advanceTo(t);
      while (apic.acknowledge() === 0x41) { fired++; wr(EOI, 0); }
    }
    expect(fired).toBe(5);
    clock.advanceTo(5700);
    expect(rd(CURRENT)).toBe(300);
    wr(INITIAL, 0);
    expect(rd(CURRENT)).toBe(0);
    clock.advanceTo(20000);
    expect(apic.acknowledge()).toBe(0xff);
  });

  it('selects the divisor from bits 0, 1 and 3 of the divide configuration (2 to 128, and 1)', () => {
    const divisors: [number, number][] = [[0x0, 2], [0x1, 4], [0x2, 8], [0x3, 16], [0x8, 32], [0x9, 64], [0xa, 128], [0xb, 1]];
    for (const [code, divisor] of divisors) {
      const { clock, rd, wr } = enabled(1);
      wr(DIVIDE, code | 0x4); // bit 2 is reserved
      expect(rd(DIVIDE)).toBe(code);
      wr(INITIAL, 1000);
      clock.advanceTo(divisor * 10);
      expect(rd(CURRENT)).toBe(990);
    }
  });

  it('counts with a masked entry without interrupting', () => {
    const { clock, rd, wr, seen } = enabled(1);
    wr(DIVIDE, 0xb);
    wr(LVT_TIMER, 0x10040);
    wr(INITIAL, 10);
    clock.advanceTo(5);
    expect(rd(CURRENT)).toBe(5);
    clock.advanceTo(50);
    expect(seen.intr).toBe(false);
  });
});

describe('local APIC: IPIs to itself (SDM 10.6)', () => {
  it('delivers a fixed IPI by the self shorthand, by all-including-self and by its own ID, and not to all-excluding-self', () => {
    const { apic, rd, wr } = enabled();
    wr(ICR_LO, (1 << 18) | 0x90);
    expect(rd(ICR_LO) & 0x1000).toBe(0); // delivery status: idle
    expect(apic.acknowledge()).toBe(0x90);
    wr(EOI, 0);
    wr(ICR_LO, (2 << 18) | 0x91);
    expect(apic.acknowledge()).toBe(0x91);
    wr(EOI, 0);
    wr(ICR_LO, (3 << 18) | 0x92);
    expect(apic.acknowledge()).toBe(0xff);
    wr(ID, 0x03000000);
    wr(ICR_HI, 0x03000000);
    wr(ICR_LO, 0x93);
    expect(apic.acknowledge()).toBe(0x93);
    wr(EOI, 0);
    wr(ICR_HI, 0x05000000);
    wr(ICR_LO, 0x94);
    expect(apic.acknowledge()).toBe(0xff);
  });

  it('matches logical destinations in the flat and cluster models', () => {
    const { apic, wr } = enabled();
    wr(LDR, 0x24000000);
    expect(apic.matches(true, 0x04)).toBe(true);
    expect(apic.matches(true, 0x08)).toBe(false);
    wr(DFR, 0x0fffffff); // cluster: cluster 2, member bit 2
    expect(apic.matches(true, 0x24)).toBe(true);
    expect(apic.matches(true, 0x34)).toBe(false);
    expect(apic.matches(true, 0xf4)).toBe(true);
    expect(apic.matches(false, 0x0f)).toBe(true);
  });

  it('refuses a fixed IPI with a vector below 16 (send-illegal-vector), sends NMIs, and drops INIT to itself', () => {
    const { apic, rd, wr, seen } = enabled();
    wr(ICR_LO, (1 << 18) | 0x03);
    wr(ESR, 0);
    expect(rd(ESR)).toBe(0x20);
    wr(ICR_LO, (1 << 18) | (DM_NMI << 8));
    expect(seen.nmis).toBe(1);
    wr(ICR_LO, (1 << 18) | (DM_INIT << 8));
    expect(apic.acknowledge()).toBe(0xff);
  });
});

describe('local APIC: globally disabled, and accesses the SDM leaves undefined', () => {
  it('hands INTR and INTA to the 8259 when IA32_APIC_BASE bit 11 is clear, reads 0, and stays off until reset', () => {
    const { apic, rd, seen } = enabled();
    apic.baseMsr = LAPIC_BASE; // bit 11 clear
    expect(apic.enabled).toBe(false);
    expect(rd(VERSION)).toBe(0);
    apic.setLint0(true);
    expect(seen.intr).toBe(true);
    expect(apic.acknowledge()).toBe(0x08);
    apic.baseMsr = (LAPIC_BASE | 0x800) >>> 0;
    expect(apic.enabled).toBe(false);
    apic.reset();
    expect(apic.enabled).toBe(true);
    expect(rd(VERSION)).toBe(0x00040011);
  });

  it('reads bytes and words of a register, drops narrow or misaligned writes, and flags reserved offsets in ESR', () => {
    const { apic, rd, wr } = enabled();
    wr(TPR, 0x5a);
    expect(apic.read(TPR, 1)).toBe(0x5a);
    expect(apic.read(VERSION + 2, 2)).toBe(0x0004);
    expect(apic.read(VERSION + 2, 4)).toBe(0); // a misaligned dword
    apic.write(TPR, 1, 0x11);
    apic.write(TPR + 4, 4, 0x22);
    expect(rd(TPR)).toBe(0x5a);
    expect(rd(0x050)).toBe(0); // reserved
    wr(0x3f0, 1); // reserved
    wr(ESR, 0);
    expect(rd(ESR)).toBe(0x80);
    for (const off of [-4, 0x1000, NaN, 0xfff]) {
      expect(() => apic.read(off, 4)).not.toThrow();
      expect(() => apic.write(off, 4, 0xffffffff)).not.toThrow();
    }
    expect(apic.read(0x1000, 4)).toBe(0);
  });

  it('drops an I/O APIC message in a mode it does not take (ExtINT, INIT)', () => {
    const { apic, rd } = enabled();
    apic.accept(0x50, DM_EXTINT, false);
    apic.accept(0x50, DM_INIT, false);
    expect(rd(IRR + 0x20)).toBe(0);
  });
});

describe('local APIC: hostile programming', () => {
  it('survives 200,000 random register accesses, messages, INTAs and EOIs: no exception, and IRR never holds vectors 0-15', () => {
    const rng = seedrandom('lapic-hostile');
    const { apic, clock, seen } = setup(1);
    const sizes = [1, 2, 4, 3, 8];
    for (let i = 0; i < 200000; i++) {
      const r = rng();
      const offset = rng() < 0.9 ? Math.floor(rng() * 0x40) * 16 : Math.floor(rng() * 0x1400) - 0x100;
      const value = Math.floor(rng() * 2 ** 32);
      if (r < 0.4) apic.write(offset, sizes[Math.floor(rng() * sizes.length)], value);
      else if (r < 0.55) apic.read(offset, sizes[Math.floor(rng() * sizes.length)]);
      else if (r < 0.65) apic.accept(Math.floor(rng() * 256), Math.floor(rng() * 8), rng() < 0.5);
      else if (r < 0.75) apic.acknowledge();
      else if (r < 0.8) apic.write(EOI, 4, 0);
      else if (r < 0.85) apic.setLint0(rng() < 0.5);
      else if (r < 0.9) apic.setLint1(rng() < 0.5);
      else if (r < 0.99) clock.advanceTo(clock.now + Math.floor(rng() * 5000));
      else apic.baseMsr = value;
      expect(apic.read(IRR, 4) & 0xffff).toBe(0);
      if (!apic.enabled) apic.reset();
    }
    expect(seen.nmis + seen.eois.length + seen.extIntAcks).toBeGreaterThan(0);
  });

  it('keeps a periodic timer with the smallest period (a count of 1, divide by 1) firing once a tick, bounded by the machine\'s clock', () => {
    const { apic, clock, wr } = enabled(2);
    wr(DIVIDE, 0xb);
    wr(LVT_TIMER, 0x20000 | 0x10040); // periodic, masked: it counts and reloads without interrupting
    wr(INITIAL, 1);
    clock.advanceTo(20000);
    expect(clock.nextDue()).toBe(20002);
    expect(apic.acknowledge()).toBe(0xff);
  });
});
