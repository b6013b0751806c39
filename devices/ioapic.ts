/**
 * The Intel 82093AA I/O APIC: 24 interrupt input pins, each with a redirection table
 * entry that turns the pin's signal into an interrupt message for the local APICs.
 *
 * Written from the 82093AA datasheet (order number 290566, section 3: IOREGSEL and
 * IOWIN, the ID, version and arbitration registers, the redirection table) and the
 * Intel SDM vol. 3A chapter 10 (edge and level delivery, EOI and remote IRR). Software
 * reaches the registers indirectly: it writes a register index to IOREGSEL (offset
 * 0x00) and then reads or writes the register through IOWIN (offset 0x10).
 *
 * Where the datasheet leaves room, this model chooses:
 * - Messages are delivered at once, so delivery status (bit 12) always reads 0 (idle).
 * - There is no APIC bus, so the arbitration ID never rotates: it is the value last
 *   written to the ID register, which datasheet 3.2.1 says is loaded into both.
 * - The board applies each wire's polarity before calling setIrq (true is asserted),
 *   as QEMU treats its inputs; the polarity bit (13) is stored and read back only.
 * - A masked edge is discarded, not held pending (datasheet 3.2.4), so unmasking the
 *   entry later sends nothing. (QEMU keeps it pending; we follow the datasheet.)
 * - The pin's level is tracked even while masked, so unmasking a level entry whose
 *   pin is still asserted sends the message: the line is still requesting. reset()
 *   keeps the levels too: they belong to the wires, which the devices drive.
 * - Writing the trigger mode to edge clears remote IRR (as QEMU does), so an entry
 *   reprogrammed from level to edge cannot be left waiting for an EOI.
 * - Delivery modes are not checked: SMI, NMI, INIT and ExtINT go to the sink with
 *   their mode as programmed, and a level entry with one of them (the datasheet asks
 *   for edge) waits for an EOI with its vector like any other level entry.
 * - Access sizes: IOREGSEL and IOWIN are 32-bit registers. A write of any size (1, 2
 *   or 4 bytes) at offset 0x00 sets the index from its low byte; writes to bytes 1-3 of
 *   IOREGSEL are dropped (reserved). A read at 0x00-0x03 or 0x10-0x13 returns the
 *   bytes of IOREGSEL or of the selected register from that offset on (bytes past the
 *   register read 0). Only a 32-bit write at exactly 0x10 writes the selected register;
 *   a narrower or misaligned write to IOWIN is dropped, since half an entry is not a
 *   state the chip can be left in. Any other offset in the 4 KiB page, any offset
 *   outside it (negative, fractional, NaN), and any size other than 1, 2 or 4 reads 0
 *   and drops writes. Values are taken modulo 2^32 (NaN as 0).
 */
import { PortDevice } from './port-bus';

/** Where the I/O APIC sends interrupt messages (the local APIC, through the board). */
export interface IoApicSink {
  /**
   * An interrupt message: `vector`, delivery `mode` (the 3-bit field of the redirection
   * entry: 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT), destination mode
   * (`logical` true for bit 11 set), the 8-bit `destination`, and `level` (trigger mode
   * bit 15: true for level-triggered).
   */
  deliver(vector: number, mode: number, logical: boolean, destination: number, level: boolean): void;
}

/** The I/O APIC's default physical address. */
export const IOAPIC_BASE = 0xfec00000;
/** Input pins, and so redirection table entries, of the 82093AA. */
export const IOAPIC_PINS = 24;

/** IOAPICVER (datasheet 3.2.2): version 0x11, maximum redirection entry 23 in bits 16-23. */
const VERSION = ((IOAPIC_PINS - 1) << 16) | 0x11;
/** The ID and arbitration ID field: bits 24-27. */
const ID_MASK = 0x0f000000;

// Redirection entry, low dword (datasheet 3.2.4).
const DEST_LOGICAL = 1 << 11;
const REMOTE_IRR = 1 << 14;
const LEVEL = 1 << 15;
const MASKED = 1 << 16;
/** The bits software writes: vector, delivery mode, destination mode, polarity, trigger mode, mask. */
const LOW_WRITABLE = 0xff | (7 << 8) | DEST_LOGICAL | (1 << 13) | LEVEL | MASKED;
/** Entry high dword: only the destination (bits 56-63) is implemented. */
const HIGH_WRITABLE = 0xff000000;

/** The byte mask of an access of `size` bytes, or 0 for a size the bus never makes. */
function sizeMask(size: number): number {
  return size === 4 ? 0xffffffff : size === 2 ? 0xffff : size === 1 ? 0xff : 0;
}

/** Two hex digits, for the trace. */
function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** One 82093AA, its registers memory-mapped in a 4 KiB page at IOAPIC_BASE. */
export class IoApic implements PortDevice {
  /** IOREGSEL: the index of the register IOWIN reaches (bits 0-7). */
  private select = 0;
  /** IOAPICID as read: the ID in bits 24-27. */
  private id = 0;
  /** The redirection table: entry n's low dword at 2n, its high dword at 2n + 1. */
  private readonly table = new Uint32Array(IOAPIC_PINS * 2);
  /** Which input pins are asserted now, bit n for pin n. */
  private pins = 0;

  /** `trace`, if given, gets one line per message sent. */
  constructor(private readonly sink: IoApicSink, private readonly trace: ((line: string) => void) | null = null) {
    this.reset();
  }

  /**
   * Power-on state: IOREGSEL and the ID 0, every entry masked with all else 0. The
   * input levels are the wires', not the chip's, so they are kept.
   */
  reset(): void {
    this.select = 0;
    this.id = 0;
    for (let n = 0; n < IOAPIC_PINS; n++) {
      this.table[2 * n] = MASKED;
      this.table[2 * n + 1] = 0;
    }
  }

  /** MMIO read at `offset` from IOAPIC_BASE (within its 4 KiB page); see the file comment for sizes. */
  read(offset: number, size: number): number {
    const mask = sizeMask(size);
    if (mask === 0 || offset !== (offset & 0xfff)) return 0;
    let value: number;
    if (offset < 0x04) value = this.select;
    else if (offset >= 0x10 && offset < 0x14) value = this.register(this.select);
    else return 0;
    return ((value >>> ((offset & 3) * 8)) & mask) >>> 0;
  }

  /** MMIO write at `offset` from IOAPIC_BASE (within its 4 KiB page); see the file comment for sizes. */
  write(offset: number, size: number, value: number): void {
    if (sizeMask(size) === 0 || offset !== (offset & 0xfff)) return;
    if (offset === 0x00) this.select = value & 0xff;
    else if (offset === 0x10 && size === 4) this.setRegister(this.select, value >>> 0);
  }

  /** The register at `index` as IOWIN reads it; an unimplemented index reads 0. */
  private register(index: number): number {
    if (index === 0x00 || index === 0x02) return this.id; // ID, and the arbitration ID loaded with it
    if (index === 0x01) return VERSION;
    if (index >= 0x10 && index < 0x10 + IOAPIC_PINS * 2) return this.table[index - 0x10];
    return 0;
  }

  /** A write through IOWIN to the register at `index`: read-only and unimplemented registers drop it. */
  private setRegister(index: number, value: number): void {
    if (index === 0x00) {
      this.id = value & ID_MASK;
      return;
    }
    if (index < 0x10 || index >= 0x10 + IOAPIC_PINS * 2) return;
    const at = index - 0x10;
    if (at & 1) {
      this.table[at] = value & HIGH_WRITABLE;
      return;
    }
    // Low dword: delivery status stays 0 and remote IRR keeps its value, unless the
    // entry becomes edge-triggered, which clears it.
    let low = (value & LOW_WRITABLE) | (this.table[at] & REMOTE_IRR);
    if ((low & LEVEL) === 0) low &= ~REMOTE_IRR;
    this.table[at] = low;
    this.serviceLevel(at >> 1); // an unmasked (or newly level) entry with its pin asserted
  }

  /** Input pin `pin` (0..23) asserted or not (the board has already applied the wire's polarity: true means asserted). */
  setIrq(pin: number, asserted: boolean): void {
    if (pin !== (pin & 31) || pin >= IOAPIC_PINS) return;
    const bit = 1 << pin;
    if (!asserted) {
      this.pins &= ~bit;
      return;
    }
    const was = this.pins & bit;
    this.pins |= bit;
    const low = this.table[2 * pin];
    if (low & LEVEL) this.serviceLevel(pin);
    else if (was === 0 && (low & MASKED) === 0) this.send(pin, low); // a rising edge, unmasked
  }

  /** The local APIC's EOI for `vector` (a level-triggered interrupt's end): clears the remote IRR of entries with that vector. */
  eoi(vector: number): void {
    for (let n = 0; n < IOAPIC_PINS; n++) {
      const low = this.table[2 * n];
      if ((low & REMOTE_IRR) === 0 || (low & 0xff) !== vector) continue;
      this.table[2 * n] = low & ~REMOTE_IRR;
      this.serviceLevel(n); // still asserted: the request stands and goes again
    }
  }

  /** Sends pin `pin`'s message if its entry is level-triggered, unmasked and not awaiting an EOI, and the pin is asserted. */
  private serviceLevel(pin: number): void {
    const low = this.table[2 * pin];
    if ((low & (LEVEL | MASKED | REMOTE_IRR)) !== LEVEL || (this.pins & (1 << pin)) === 0) return;
    this.table[2 * pin] = low | REMOTE_IRR;
    this.send(pin, low);
  }

  /** Sends the message that pin `pin`'s entry (low dword `low`) describes. */
  private send(pin: number, low: number): void {
    const vector = low & 0xff, mode = (low >> 8) & 7, level = (low & LEVEL) !== 0;
    const destination = this.table[2 * pin + 1] >>> 24;
    if (this.trace !== null) {
      this.trace(`ioapic pin=${pin} vector=0x${hex2(vector)} mode=${mode} dest=0x${hex2(destination)} ${level ? 'level' : 'edge'}`);
    }
    this.sink.deliver(vector, mode, (low & DEST_LOGICAL) !== 0, destination, level);
  }
}
