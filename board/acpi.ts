/**
 * The ACPI tables firmware leaves for a kernel, as SeaBIOS builds them under QEMU's `pc`
 * machine (what `dmesg` shows there: "ACPI: RSDP 0x00000000000F59D0 000014 (v00 BOCHS )",
 * RSDT, FACP, DSDT, FACS, APIC, HPET, WAET), minus what this machine does not have:
 *
 *   RSDP  0xF59D0, in the BIOS area Linux scans on 16-byte boundaries; ACPI 1.0 (20 bytes)
 *   FACS  the first 64 bytes of the top 128 KiB of RAM the E820 map reserves (64-aligned)
 *   DSDT  after it: \_S5 and the PCI root bridge with its _PRT, in AML assembled here
 *   FACP  the FADT, revision 1 (116 bytes) as QEMU's: SCI on IRQ 9, PM1a event block
 *         0x600, PM1a control 0x604, the PM timer at 0x608 (24 bits), the CMOS century
 *         byte 0x32, the flags QEMU sets (WBINVD, PROC_C1, SLP_BUTTON, RTC_S4,
 *         USE_PLATFORM_CLOCK)
 *   MADT  only on a machine with an APIC (`vpio run --apic`): the local APIC (ID 0) at
 *         0xFEE00000, the I/O APIC (ID 1, GSIs 0-23) at 0xFEC00000, IRQ 0 on GSI 2 and
 *         the SCI level-triggered active-high on GSI 9 (QEMU's two overrides), LINT1 as
 *         NMI, and the 8259s present (PCAT_COMPAT)
 *   RSDT  last, pointing at the FADT (and the MADT)
 *
 * Left out, and why:
 * - MADT on a machine without an APIC (the default): CPUID says none, so no table may
 *   say one exists; Linux then routes interrupts through the 8259s.
 * - HPET: no HPET is modelled (Linux calibrates with the PIT and keeps time with the PIT
 *   and the TSC).
 * - WAET: it only tells Windows that the RTC and PM timer are "enlightened".
 * - SSDTs, processor objects, hotplug, PNP devices (keyboard, serial, RTC): Linux finds
 *   the legacy devices at their fixed ports without them ("PNP: No PS/2 controller
 *   found. Probing ports directly."), and CPU 0 without a Processor object.
 * - The SMI command port: SMI_CMD is 0, so ACPI is always in ACPI mode (ACPICA's
 *   acpi_hw_get_mode) and the OS never hands over; SCI_EN is set in PM1a_CNT by
 *   firmware setup, as SeaBIOS leaves it after QEMU's ACPI enable.
 * - The GPE0 block QEMU has at 0xAFE0 (its hotplug events): no GPE here.
 * - \_S1-\_S4: only soft-off (S5, sleep type 0 as QEMU's \_S5) is modelled.
 * - Link devices (LNKA-LNKD, LNKS): the _PRT routes each slot's INTA-INTD straight to
 *   the IRQ firmware programs into the functions' interrupt lines (SeaBIOS's PIIX
 *   routing: links A-D on IRQs 10, 10, 11, 11, link (slot + pin - 1) mod 4, and the
 *   PIIX4 ACPI function's INTA on the SCI's IRQ 9), so Linux finds the same IRQs as
 *   under QEMU ("00:03.0 ... IRQ 11") without an interpreter run of _SRS.
 */
import { FIRMWARE_RESERVED } from './multiboot';

/** Where SeaBIOS leaves the RSDP under QEMU (the F segment: E820 reserves it). */
export const RSDP_ADDRESS = 0xf59d0;
const OEM_ID = 'BOCHS ';
const OEM_TABLE_ID = 'BXPC    ';
const CREATOR_ID = 'BXPC';
const HEADER = 36;

/** The PIIX4 PM I/O registers the FADT points at (devices/acpi-pm.ts) and the SCI. */
export const ACPI_PM_BASE = 0x600;
export const ACPI_SCI_IRQ = 9;
/** SeaBIOS's PCI IRQs for the PIIX links A-D (devices/pci.ts firmwareSetup uses the same). */
export const PIRQ_IRQS = [10, 10, 11, 11] as const;

/** The ISA IRQ a PCI slot's INTx# (pin 0-3: INTA-INTD) reaches, as SeaBIOS routes the PIIX's links. */
export function pciSlotIrq(slot: number, pin: number): number {
  if (slot === 1 && pin === 0) return ACPI_SCI_IRQ; // the PIIX4 ACPI function's INTA: its SCI
  return PIRQ_IRQS[(pin + slot - 1) & 3];
}

// ---- AML (ACPI spec, chapter "ACPI Machine Language Specification") ----

const ZERO_OP = 0x00, ONE_OP = 0x01, BYTE_PREFIX = 0x0a, WORD_PREFIX = 0x0b, DWORD_PREFIX = 0x0c;
const NAME_OP = 0x08, SCOPE_OP = 0x10, PACKAGE_OP = 0x12, EXT_OP = 0x5b, DEVICE_OP = 0x82, ROOT_CHAR = 0x5c;

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

/** A NameSeg: four characters, padded with '_'. */
function nameSeg(s: string): number[] {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(s)) throw new Error(`bad AML name '${s}'`);
  return ascii(s.padEnd(4, '_'));
}

/** A NameString: a NameSeg, or '\' and one NameSeg. */
function nameString(s: string): number[] {
  return s.startsWith('\\') ? [ROOT_CHAR, ...nameSeg(s.slice(1))] : nameSeg(s);
}

/** PkgLength for `length` bytes that follow it: 1 to 4 bytes, counting itself. */
export function pkgLength(length: number): number[] {
  if (length + 1 < 0x40) return [length + 1];
  for (let n = 1; n <= 3; n++) {
    const total = length + 1 + n;
    if (total < 1 << (4 + 8 * n)) {
      const out = [(n << 6) | (total & 0x0f)];
      for (let k = 0; k < n; k++) out.push((total >> (4 + 8 * k)) & 0xff);
      return out;
    }
  }
  throw new Error('AML package too long');
}

/** An integer as the shortest AML constant. */
export function amlInteger(v: number): number[] {
  if (v === 0) return [ZERO_OP];
  if (v === 1) return [ONE_OP];
  if (v <= 0xff) return [BYTE_PREFIX, v];
  if (v <= 0xffff) return [WORD_PREFIX, v & 0xff, v >> 8];
  return [DWORD_PREFIX, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

function amlName(name: string, value: number[]): number[] {
  return [NAME_OP, ...nameString(name), ...value];
}

function amlPackage(elements: number[][]): number[] {
  const body = [elements.length, ...elements.flat()];
  return [PACKAGE_OP, ...pkgLength(body.length), ...body];
}

function amlScope(name: string, terms: number[][]): number[] {
  const body = [...nameString(name), ...terms.flat()];
  return [SCOPE_OP, ...pkgLength(body.length), ...body];
}

function amlDevice(name: string, terms: number[][]): number[] {
  const body = [...nameString(name), ...terms.flat()];
  return [EXT_OP, DEVICE_OP, ...pkgLength(body.length), ...body];
}

/** EISAID("PNP0A03"): three compressed letters and four hex digits, as a DWordConst. */
export function eisaId(id: string): number[] {
  const c = (i: number) => (id.charCodeAt(i) - 0x40) & 0x1f;
  const hi = (c(0) << 10) | (c(1) << 5) | c(2);
  const digits = parseInt(id.slice(3), 16);
  return [DWORD_PREFIX, hi >> 8, hi & 0xff, digits >> 8, digits & 0xff];
}

/** The DSDT's AML: \_S5 (QEMU's sleep type 0) and \_SB.PCI0 with a static _PRT. */
export function dsdtAml(): number[] {
  const prt: number[][] = [];
  for (let slot = 0; slot < 32; slot++) {
    for (let pin = 0; pin < 4; pin++) {
      prt.push(amlPackage([amlInteger(((slot << 16) | 0xffff) >>> 0), amlInteger(pin), amlInteger(0), amlInteger(pciSlotIrq(slot, pin))]));
    }
  }
  return [
    ...amlName('_S5', amlPackage([amlInteger(0), amlInteger(0), amlInteger(0), amlInteger(0)])),
    ...amlScope('\\_SB', [
      amlDevice('PCI0', [
        amlName('_HID', eisaId('PNP0A03')),
        amlName('_ADR', amlInteger(0)),
        amlName('_UID', amlInteger(0)),
        amlName('_PRT', amlPackage(prt)),
      ]),
    ]),
  ];
}

// ---- the tables ----

function put8(ram: Uint8Array, at: number, v: number): void { ram[at] = v & 0xff; }
function put16(ram: Uint8Array, at: number, v: number): void { ram[at] = v & 0xff; ram[at + 1] = (v >> 8) & 0xff; }
function put32(ram: Uint8Array, at: number, v: number): void { for (let k = 0; k < 4; k++) ram[at + k] = (v >>> (8 * k)) & 0xff; }
function putText(ram: Uint8Array, at: number, s: string): void { ascii(s).forEach((c, i) => { ram[at + i] = c; }); }

/** Sets the byte at `at + checksumAt` so that `length` bytes from `at` sum to 0. */
function checksum(ram: Uint8Array, at: number, length: number, checksumAt: number): void {
  ram[at + checksumAt] = 0;
  let sum = 0;
  for (let i = 0; i < length; i++) sum += ram[at + i];
  ram[at + checksumAt] = (0x100 - (sum & 0xff)) & 0xff;
}

/** A system description table header (36 bytes), its checksum set once the body is in. */
function header(ram: Uint8Array, at: number, signature: string, length: number, revision: number): void {
  putText(ram, at, signature);
  put32(ram, at + 4, length);
  put8(ram, at + 8, revision);
  putText(ram, at + 10, OEM_ID);
  putText(ram, at + 16, OEM_TABLE_ID);
  put32(ram, at + 24, 1);
  putText(ram, at + 28, CREATOR_ID);
  put32(ram, at + 32, 1);
}

export interface AcpiTables {
  rsdp: number;
  rsdt: number;
  fadt: number;
  facs: number;
  dsdt: number;
  /** The MADT, or 0 without an APIC. */
  madt: number;
  /** The end of the tables (exclusive). */
  end: number;
}

/** FADT flags as QEMU sets them for its PIIX machine (ACPI spec, "Fixed ACPI Description Table Fixed Feature Flags"). */
const FADT_WBINVD = 1 << 0, FADT_PROC_C1 = 1 << 2, FADT_SLP_BUTTON = 1 << 5, FADT_RTC_S4 = 1 << 7, FADT_USE_PLATFORM_CLOCK = 1 << 15;
const FADT_LENGTH = 116;

/** The I/O APIC's ID as firmware programs it and the MADT gives it (the local APIC's is 0). */
export const IOAPIC_ID = 1;

/** The MADT's body after its header: local APIC address, flags, then the entries. */
function madtBody(): number[] {
  const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
  const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  return [
    ...u32(0xfee00000), ...u32(1), // the local APIC's address; PCAT_COMPAT: the 8259s are there too
    0, 8, 0, 0, ...u32(1), // processor local APIC: ACPI processor 0, APIC ID 0, enabled
    1, 12, IOAPIC_ID, 0, ...u32(0xfec00000), ...u32(0), // I/O APIC: its ID, address, GSI base 0
    2, 10, 0, 0, ...u32(2), ...u16(0), // ISA IRQ 0 on GSI 2, the bus's polarity and trigger
    2, 10, 0, ACPI_SCI_IRQ, ...u32(ACPI_SCI_IRQ), ...u16(0x000d), // the SCI: level-triggered, active high
    4, 6, 0xff, ...u16(0), 1, // local APIC NMI: every processor's LINT1
  ];
}

/**
 * Writes the tables into `ram` (physical memory from 0): the RSDP at RSDP_ADDRESS, the
 * rest from the start of the reserved top 128 KiB, every checksum right. `apic`: the
 * machine has a local APIC and an I/O APIC, which the MADT describes.
 */
export function writeAcpiTables(ram: Uint8Array, apic = false): AcpiTables {
  const base = ram.length - FIRMWARE_RESERVED;
  const align = (v: number, a: number) => Math.ceil(v / a) * a;

  // FACS (ACPI 1.0: 64 bytes, no checksum): signature, length, the hardware signature 0.
  const facs = base;
  ram.fill(0, facs, facs + 64);
  putText(ram, facs, 'FACS');
  put32(ram, facs + 4, 64);

  // DSDT.
  const dsdt = facs + 64;
  const aml = dsdtAml();
  const dsdtLength = HEADER + aml.length;
  header(ram, dsdt, 'DSDT', dsdtLength, 1);
  ram.set(aml, dsdt + HEADER);
  checksum(ram, dsdt, dsdtLength, 9);

  // FADT, revision 1.
  const fadt = align(dsdt + dsdtLength, 4);
  ram.fill(0, fadt, fadt + FADT_LENGTH);
  header(ram, fadt, 'FACP', FADT_LENGTH, 1);
  put32(ram, fadt + 36, facs); // FIRMWARE_CTRL
  put32(ram, fadt + 40, dsdt); // DSDT
  put8(ram, fadt + 44, apic ? 1 : 0); // INT_MODEL: multiple APIC, or dual PIC where there is none
  put16(ram, fadt + 46, ACPI_SCI_IRQ); // SCI_INT
  put32(ram, fadt + 48, 0); // SMI_CMD: none; ACPI_ENABLE/ACPI_DISABLE 0
  put32(ram, fadt + 56, ACPI_PM_BASE); // PM1a_EVT_BLK
  put32(ram, fadt + 64, ACPI_PM_BASE + 4); // PM1a_CNT_BLK
  put32(ram, fadt + 76, ACPI_PM_BASE + 8); // PM_TMR_BLK
  put8(ram, fadt + 88, 4); // PM1_EVT_LEN
  put8(ram, fadt + 89, 2); // PM1_CNT_LEN
  put8(ram, fadt + 91, 4); // PM_TMR_LEN
  put16(ram, fadt + 96, 0x0fff); // P_LVL2_LAT: > 100, no C2 (as QEMU)
  put16(ram, fadt + 98, 0x0fff); // P_LVL3_LAT: > 1000, no C3
  put8(ram, fadt + 108, 0x32); // CENTURY: the CMOS century byte
  put32(ram, fadt + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RTC_S4 | FADT_USE_PLATFORM_CLOCK);
  checksum(ram, fadt, FADT_LENGTH, 9);

  // MADT, with an APIC.
  let madt = 0;
  let end = fadt + FADT_LENGTH;
  if (apic) {
    madt = end;
    const body = madtBody();
    header(ram, madt, 'APIC', HEADER + body.length, 1);
    ram.set(body, madt + HEADER);
    checksum(ram, madt, HEADER + body.length, 9);
    end = align(madt + HEADER + body.length, 4);
  }

  // RSDT: the FADT (and the MADT).
  const rsdt = end;
  const rsdtLength = HEADER + (apic ? 8 : 4);
  header(ram, rsdt, 'RSDT', rsdtLength, 1);
  put32(ram, rsdt + HEADER, fadt);
  if (apic) put32(ram, rsdt + HEADER + 4, madt);
  checksum(ram, rsdt, rsdtLength, 9);

  // RSDP (ACPI 1.0).
  const rsdp = RSDP_ADDRESS;
  ram.fill(0, rsdp, rsdp + 20);
  putText(ram, rsdp, 'RSD PTR ');
  putText(ram, rsdp + 9, OEM_ID);
  put8(ram, rsdp + 15, 0); // revision 0: ACPI 1.0
  put32(ram, rsdp + 16, rsdt);
  checksum(ram, rsdp, 20, 8);

  return { rsdp, rsdt, fadt, facs, dsdt, madt, end: rsdt + rsdtLength };
}
