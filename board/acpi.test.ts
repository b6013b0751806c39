/**
 * The ACPI tables firmware leaves, checked as a kernel reads them and against QEMU's:
 * the RSDP found by Linux's scan of the BIOS area, the walk RSDP -> RSDT -> FACP ->
 * DSDT/FACS with every checksum, the FADT field by field against the one SeaBIOS builds
 * under QEMU (recorded below), the DSDT's AML decoded (\_S5 as QEMU's, the _PRT giving
 * every PCI function the IRQ firmware programmed into it), the tables inside the E820
 * map's reserved ranges, and, where `iasl` is installed, ACPICA's disassembler reading
 * the DSDT without a complaint.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { writeAcpiTables, pkgLength, RSDP_ADDRESS } from './acpi';
import { e820Map } from './multiboot';
import { Pc } from './pc';
import { multibootElf } from './testing-elf';
import { CPUID_FEATURES_EDX } from '../cpu/execute';
import { tempDir } from '../test/tmp';

const MiB = 1024 * 1024;
const u8 = (m: Uint8Array, a: number) => m[a];
const u16 = (m: Uint8Array, a: number) => m[a] | (m[a + 1] << 8);
const u32 = (m: Uint8Array, a: number) => (m[a] | (m[a + 1] << 8) | (m[a + 2] << 16) | (m[a + 3] << 24)) >>> 0;
const text = (m: Uint8Array, a: number, n: number) => String.fromCharCode(...m.subarray(a, a + n));
const sum = (m: Uint8Array, a: number, n: number) => m.subarray(a, a + n).reduce((s, b) => (s + b) & 0xff, 0);
const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

/** Linux's acpi_find_root_pointer: the EBDA's first KiB, then 0xE0000-0xFFFFF, 16-byte steps, signature and checksum. */
function findRsdp(m: Uint8Array): number {
  const ebda = u16(m, 0x40e) << 4;
  const areas: [number, number][] = ebda >= 0x80000 ? [[ebda, ebda + 1024], [0xe0000, 0x100000]] : [[0xe0000, 0x100000]];
  for (const [lo, hi] of areas) {
    for (let a = lo; a < hi; a += 16) {
      if (text(m, a, 8) === 'RSD PTR ' && sum(m, a, 20) === 0) return a;
    }
  }
  return -1;
}

/** The tables a kernel finds by walking from the RSDP, each checked. */
function walk(m: Uint8Array) {
  const rsdp = findRsdp(m);
  expect(rsdp).toBeGreaterThan(0);
  const rsdt = u32(m, rsdp + 16);
  expect(text(m, rsdt, 4)).toBe('RSDT');
  expect(sum(m, rsdt, u32(m, rsdt + 4))).toBe(0);
  const tables = new Map<string, number>();
  for (let e = rsdt + 36; e < rsdt + u32(m, rsdt + 4); e += 4) {
    const t = u32(m, e);
    expect(sum(m, t, u32(m, t + 4))).toBe(0);
    tables.set(text(m, t, 4), t);
  }
  const fadt = tables.get('FACP')!;
  const dsdt = u32(m, fadt + 40), facs = u32(m, fadt + 36);
  expect(text(m, dsdt, 4)).toBe('DSDT');
  expect(sum(m, dsdt, u32(m, dsdt + 4))).toBe(0);
  expect(text(m, facs, 4)).toBe('FACS');
  return { rsdp, rsdt, fadt, dsdt, facs, tables };
}

// ---- a small AML reader (ACPI spec, "ACPI Machine Language Specification") ----

type Aml = number | string | Aml[] | { scope: string; body: Map<string, Aml> };

class AmlReader {
  at: number;
  constructor(private readonly m: Uint8Array, start: number, readonly end: number) { this.at = start; }
  pkgLength(): number {
    const start = this.at;
    const lead = this.m[this.at++];
    const n = lead >> 6;
    if (n === 0) return start + (lead & 0x3f);
    let len = lead & 0x0f;
    for (let k = 0; k < n; k++) len |= this.m[this.at++] << (4 + 8 * k);
    return start + len;
  }
  seg(): string { const s = text(this.m, this.at, 4); this.at += 4; return s; }
  nameString(): string {
    let prefix = '';
    while (this.m[this.at] === 0x5c || this.m[this.at] === 0x5e) prefix += String.fromCharCode(this.m[this.at++]);
    const c = this.m[this.at];
    if (c === 0x2e) { this.at++; return prefix + this.seg() + '.' + this.seg(); }
    if (c === 0x2f) { this.at++; const n = this.m[this.at++]; const segs = []; for (let i = 0; i < n; i++) segs.push(this.seg()); return prefix + segs.join('.'); }
    if (c === 0x00) { this.at++; return prefix; }
    return prefix + this.seg();
  }
  data(): Aml {
    const op = this.m[this.at++];
    switch (op) {
      case 0x00: return 0;
      case 0x01: return 1;
      case 0xff: return 0xffffffff;
      case 0x0a: return this.m[this.at++];
      case 0x0b: { const v = u16(this.m, this.at); this.at += 2; return v; }
      case 0x0c: { const v = u32(this.m, this.at); this.at += 4; return v; }
      case 0x12: {
        const end = this.pkgLength();
        const n = this.m[this.at++];
        const out: Aml[] = [];
        for (let i = 0; i < n; i++) out.push(this.data());
        expect(this.at).toBe(end);
        return out;
      }
      default: throw new Error(`AML data op 0x${op.toString(16)} at ${this.at - 1}`);
    }
  }
  /** A TermList of Name, Scope and Device: name -> value (a scope or device as a nested map). */
  terms(end: number, into = new Map<string, Aml>()): Map<string, Aml> {
    while (this.at < end) {
      const op = this.m[this.at++];
      if (op === 0x08) { const n = this.nameString(); into.set(n, this.data()); continue; }
      if (op === 0x10 || (op === 0x5b && this.m[this.at] === 0x82)) {
        if (op === 0x5b) this.at++;
        const stop = this.pkgLength();
        const n = this.nameString();
        into.set(n, { scope: op === 0x10 ? 'scope' : 'device', body: this.terms(stop) });
        continue;
      }
      throw new Error(`AML op 0x${op.toString(16)} at ${this.at - 1}`);
    }
    return into;
  }
}

function dsdtNamespace(m: Uint8Array, dsdt: number): Map<string, Aml> {
  return new AmlReader(m, dsdt + 36, dsdt + u32(m, dsdt + 4)).terms(dsdt + u32(m, dsdt + 4));
}

/**
 * QEMU 7.2's FADT (SeaBIOS 1.16, `qemu-system-i386 -m 128`, read with the monitor's
 * pmemsave from 0x7FE1958): the reference for every field we share with it.
 */
const QEMU_FADT = hex(
  '464143507400000001f1424f4348532042585043202020200100000042585043010000000000fe074000fe0701000900b2000000f1f0' +
  '0000000600000000000004060000000000000000000008060000e0af0000000000000402000404000000ff0fff0f000000000000000032000000a5800000');
/** QEMU's \_S5 in its DSDT: Name (_S5, Package (4) { Zero, Zero, Zero, Zero }). */
const QEMU_S5 = hex('085f53355f12060400000000');

describe('ACPI tables', () => {
  const ram = new Uint8Array(128 * MiB);
  const where = writeAcpiTables(ram);

  it("are found by Linux's RSDP scan where QEMU's are, and walk RSDP -> RSDT -> FACP -> DSDT, FACS with every checksum right", () => {
    const t = walk(ram);
    expect(t.rsdp).toBe(0xf59d0); // "ACPI: RSDP 0x00000000000F59D0 000014 (v00 BOCHS )" under QEMU
    expect(RSDP_ADDRESS).toBe(0xf59d0);
    expect(u8(ram, t.rsdp + 15)).toBe(0); // ACPI 1.0 RSDP, 20 bytes
    expect(text(ram, t.rsdp + 9, 6)).toBe('BOCHS ');
    expect([...t.tables.keys()]).toEqual(['FACP']); // no APIC (MADT), HPET, WAET: see board/acpi.ts
    expect(t.facs % 64).toBe(0);
    expect(u32(ram, t.facs + 4)).toBe(64);
    expect(t).toMatchObject({ rsdt: where.rsdt, fadt: where.fadt, dsdt: where.dsdt, facs: where.facs });
  });

  it('lie in ranges the E820 map reserves: the RSDP in the BIOS area, the rest in the top 128 KiB', () => {
    const reserved = e820Map(ram.length).filter((e) => e.type === 2);
    const inReserved = (lo: number, hi: number) => reserved.some((e) => lo >= e.base && hi <= e.base + e.length);
    expect(inReserved(where.rsdp, where.rsdp + 20)).toBe(true);
    expect(inReserved(where.facs, where.end)).toBe(true);
    expect(where.facs).toBe(0x7fe0000); // where SeaBIOS puts the FACS for 128 MiB ("ACPI: FACS 0x0000000007FE0000")
    expect(where.dsdt).toBe(0x7fe0040);
  });

  it('have a revision 1 FADT equal to QEMU\'s but for the addresses, the interrupt model, the SMI port and the GPE block', () => {
    const f = ram.subarray(where.fadt, where.fadt + 116);
    expect(QEMU_FADT.length).toBe(116);
    expect(u32(f, 4)).toBe(116);
    const differ: Record<number, string> = {
      9: 'checksum', 36: 'FIRMWARE_CTRL', 37: '', 38: '', 39: '', 40: 'DSDT', 41: '', 42: '', 43: '',
      44: 'INT_MODEL: 0 (dual PIC), QEMU 1 (APIC)', 48: 'SMI_CMD: none, QEMU 0xB2', 52: 'ACPI_ENABLE', 53: 'ACPI_DISABLE',
      80: 'GPE0_BLK: none, QEMU 0xAFE0', 81: '', 92: 'GPE0_BLK_LEN',
    };
    for (let i = 0; i < 116; i++) {
      if (i in differ) continue;
      expect([i, f[i]]).toEqual([i, QEMU_FADT[i]]);
    }
    expect(u32(f, 36)).toBe(where.facs);
    expect(u32(f, 40)).toBe(where.dsdt);
    expect(u32(f, 48)).toBe(0);
    expect(u8(f, 92)).toBe(0);
    // What a kernel reads from it: the PIIX4 PM registers devices/acpi-pm.ts models, the SCI.
    expect({ sci: u16(f, 46), pm1aEvt: u32(f, 56), pm1aCnt: u32(f, 64), pmTmr: u32(f, 76), tmrExt: (u32(f, 112) >> 8) & 1 })
      .toEqual({ sci: 9, pm1aEvt: 0x600, pm1aCnt: 0x604, pmTmr: 0x608, tmrExt: 0 });
  });

  it('say nowhere that an APIC exists, as CPUID does not: no MADT, no MP floating pointer', () => {
    expect(CPUID_FEATURES_EDX & (1 << 9)).toBe(0); // CPUID.1:EDX.APIC
    const pc = new Pc({ memoryBytes: 128 * MiB });
    pc.boot(multibootElf([0xf4]), 'k');
    const t = walk(pc.ram);
    expect(t.tables.has('APIC')).toBe(false);
    expect(u8(pc.ram, t.fadt + 44)).toBe(0); // INT_MODEL: dual PIC
    // Linux's find_smp_config: "_MP_" on a 16-byte boundary in the EBDA's first KiB, the last KiB of base memory, or the BIOS area.
    for (const [lo, hi] of [[0x9fc00, 0xa0000], [0xf0000, 0x100000]]) {
      for (let a = lo; a < hi; a += 16) expect(text(pc.ram, a, 4)).not.toBe('_MP_');
    }
  });

  it('with an APIC (--apic), add a MADT for the local APIC and the I/O APIC where they answer, QEMU\'s two overrides and LINT1 as NMI', () => {
    const pc = new Pc({ memoryBytes: 128 * MiB, apic: true });
    pc.boot(multibootElf([0xf4]), 'k');
    const t = walk(pc.ram);
    expect([...t.tables.keys()]).toEqual(['FACP', 'APIC']);
    expect(u8(pc.ram, t.fadt + 44)).toBe(1); // INT_MODEL: multiple APIC
    const madt = t.tables.get('APIC')!;
    const length = u32(pc.ram, madt + 4);
    expect(u32(pc.ram, madt + 36)).toBe(0xfee00000);
    expect(u32(pc.ram, madt + 40) & 1).toBe(1); // PCAT_COMPAT: the 8259s are there
    const entries: Record<string, number>[] = [];
    for (let e = madt + 44; e < madt + length; e += u8(pc.ram, e + 1)) {
      const type = u8(pc.ram, e);
      if (type === 0) entries.push({ type, processor: u8(pc.ram, e + 2), apicId: u8(pc.ram, e + 3), flags: u32(pc.ram, e + 4) });
      else if (type === 1) entries.push({ type, ioApicId: u8(pc.ram, e + 2), address: u32(pc.ram, e + 4), gsiBase: u32(pc.ram, e + 8) });
      else if (type === 2) entries.push({ type, bus: u8(pc.ram, e + 2), source: u8(pc.ram, e + 3), gsi: u32(pc.ram, e + 4), flags: u16(pc.ram, e + 8) });
      else if (type === 4) entries.push({ type, processor: u8(pc.ram, e + 2), flags: u16(pc.ram, e + 3), lint: u8(pc.ram, e + 5) });
      else entries.push({ type });
    }
    expect(entries).toEqual([
      { type: 0, processor: 0, apicId: 0, flags: 1 },
      { type: 1, ioApicId: 1, address: 0xfec00000, gsiBase: 0 },
      { type: 2, bus: 0, source: 0, gsi: 2, flags: 0 },
      { type: 2, bus: 0, source: 9, gsi: 9, flags: 0x0d },
      { type: 4, processor: 0xff, flags: 0, lint: 1 },
    ]);
    // The devices answer as the table says: the local APIC's ID and version, the I/O APIC's ID and its 24 pins.
    expect(pc.mmio.read(0xfee00020, 4) >>> 24).toBe(0);
    expect(pc.mmio.read(0xfee00030, 4) & 0xff).toBe(0x11);
    pc.mmio.write(0xfec00000, 4, 0);
    expect(pc.mmio.read(0xfec00010, 4) >>> 24).toBe(1);
    pc.mmio.write(0xfec00000, 4, 1);
    expect(((pc.mmio.read(0xfec00010, 4) >>> 16) & 0xff) + 1).toBe(24);
  });

  it('encode PkgLength in one to three bytes, counting itself', () => {
    expect(pkgLength(5)).toEqual([6]);
    expect(pkgLength(0x3e)).toEqual([0x3f]);
    expect(pkgLength(0x3f)).toEqual([0x41, 0x04]); // 0x41 total: lead 0x40 | 1, then 0x04
    expect(pkgLength(0x694)).toEqual([0x46, 0x69]);
    expect(pkgLength(0x1000)).toEqual([0x83, 0x00, 0x01]);
  });

  it('give \\_S5 the bytes of QEMU\'s DSDT, sleep type 0, which powers the machine off through the FADT\'s PM1a_CNT', () => {
    const dsdtAml = ram.subarray(where.dsdt + 36, where.dsdt + u32(ram, where.dsdt + 4));
    expect([...dsdtAml.subarray(0, QEMU_S5.length)]).toEqual([...QEMU_S5]);
    const ns = dsdtNamespace(ram, where.dsdt);
    const s5 = ns.get('_S5_') as number[];
    expect(s5).toEqual([0, 0, 0, 0]);
    // acpi_hw_legacy_sleep on a machine booted with these tables: SLP_TYPa from \_S5, SLP_EN.
    const pc = new Pc({ memoryBytes: 128 * MiB });
    pc.boot(multibootElf([0xeb, 0xfe]), 'k'); // jmp $
    const t = walk(pc.ram);
    const pm1aCnt = u32(pc.ram, t.fadt + 64);
    const cnt = pc.ioRead(pm1aCnt, 2);
    expect(cnt & 1).toBe(1); // SCI_EN: ACPI mode, as firmware leaves it
    pc.ioWrite(pm1aCnt, 2, (cnt & ~0x3c00) | (s5[0] << 10));
    expect(pc.run(1e6)).toEqual({ kind: 'limit' }); // the type alone does nothing
    pc.ioWrite(pm1aCnt, 2, (cnt & ~0x3c00) | (s5[0] << 10) | 0x2000);
    expect(pc.run(2e6)).toEqual({ kind: 'power-off', status: 0 });
  });

  it("route every PCI function's INTx# in _PRT to the IRQ firmware programmed into it, 00:03.0 on IRQ 11 as under QEMU", () => {
    const pc = new Pc({ memoryBytes: 128 * MiB, nic: 'rtl8139' });
    pc.boot(multibootElf([0xf4]), 'k');
    const t = walk(pc.ram);
    const sb = dsdtNamespace(pc.ram, t.dsdt).get('\\_SB_') as { scope: string; body: Map<string, Aml> };
    const pci0 = sb.body.get('PCI0') as { scope: string; body: Map<string, Aml> };
    expect(pci0.scope).toBe('device');
    expect(pci0.body.get('_HID')).toBe(0x030ad041); // EISAID("PNP0A03"), a PCI root bridge
    const prt = pci0.body.get('_PRT') as number[][];
    const route = new Map(prt.map(([addr, pin, source, gsi]) => {
      expect(addr & 0xffff).toBe(0xffff); // any function of the slot
      expect(source).toBe(0); // no link device: the fourth element is the interrupt itself
      return [`${addr >>> 16}:${pin}`, gsi];
    }));
    expect(route.size).toBe(32 * 4);
    let checked = 0;
    for (const { dev, fn } of pc.pci.functions()) {
      const pin = fn.config[0x3d];
      if (pin === 0) continue;
      expect([dev, route.get(`${dev}:${pin - 1}`)]).toEqual([dev, fn.interruptLine]);
      checked++;
    }
    expect(checked).toBe(2); // the PIIX4 ACPI function (IRQ 9, its SCI) and the card
    // QEMU's DSDT routes slot 3 INTA through LNKC ((slot + pin) mod 4 = 3), "configured for IRQ 11".
    expect(route.get('3:0')).toBe(11);
    // SeaBIOS's links A-D on IRQs 10, 10, 11, 11; slot s pin p on link (s + p - 1) mod 4.
    expect([route.get('2:0'), route.get('4:0'), route.get('5:0'), route.get('5:3')]).toEqual([10, 11, 10, 11]);
  });

  const iasl = (() => { try { execFileSync('iasl', ['-v'], { stdio: 'ignore' }); return true; } catch { return false; } })();
  (iasl ? it : it.skip)('disassemble with ACPICA\'s iasl without an error or warning (skipped without iasl: apt-get install acpica-tools)', () => {
    const dir = tempDir('vpio-acpi-');
    const file = path.join(dir, 'dsdt.aml');
    fs.writeFileSync(file, ram.subarray(where.dsdt, where.dsdt + u32(ram, where.dsdt + 4)));
    const out = execFileSync('iasl', ['-d', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).not.toMatch(/error|warning/i);
    const dsl = fs.readFileSync(path.join(dir, 'dsdt.dsl'), 'utf8');
    expect(dsl).toMatch(/DefinitionBlock \("", "DSDT", 1, "BOCHS ", "BXPC    ", 0x00000001\)/);
    expect(dsl).toMatch(/Name \(_S5, Package \(0x04\)/);
    expect(dsl).toMatch(/Name \(_HID, EisaId \("PNP0A03"\)/);
    expect(dsl).toMatch(/Name \(_PRT, Package \(0x80\)/);
  });
});

describe('the PIIX4 PM function after firmware', () => {
  it('points PMBA (config 0x40) at the PM registers with PMIOSE set, as SeaBIOS programs them, and they answer there', () => {
    const pc = new Pc({ memoryBytes: 16 * MiB });
    pc.boot(multibootElf([0xf4]), 'k');
    const cfg = (reg: number) => { pc.ioWrite(0xcf8, 4, (0x80000000 | (1 << 11) | (3 << 8) | reg) >>> 0); return pc.ioRead(0xcfc, 4); };
    expect(cfg(0x00)).toBe(0x71138086);
    expect(cfg(0x40)).toBe(0x601); // I/O space indicator, base 0x600
    expect(cfg(0x80) & 1).toBe(1); // PMIOSE
    expect(cfg(0x3c) & 0xff).toBe(9); // its interrupt line: the SCI
    const base = cfg(0x40) & 0xffc0;
    expect(pc.ioRead(base + 4, 2) & 1).toBe(1); // SCI_EN: ACPI mode
    const t0 = pc.ioRead(base + 8, 4);
    pc.clock.advanceTo(pc.clock.now + 2e9 / 1000); // a millisecond: 3579.545 ticks
    pc.cpu.cycles = pc.clock.now;
    const ticks = (pc.ioRead(base + 8, 4) - t0) & 0xffffff;
    expect(ticks).toBeGreaterThanOrEqual(3579);
    expect(ticks).toBeLessThanOrEqual(3579 + 8); // and the port accesses' own microseconds
  });
});
