/**
 * A network card and its place on a platform: the NE2000 on PCI (as the RTL8029,
 * 10ec:8029, BAR0 I/O) or on ISA (0x300, IRQ 9), or the RTL8139 (10ec:8139, BAR0 I/O,
 * BAR1 memory, bus master), all at PCI 00:03.0 as QEMU places the first NIC.
 *
 * The same card serves the bare machine, a guest that owns it by passthrough, and a
 * hypervisor's virtual card; only what its port ranges are mapped on, where its DMA
 * goes and what its Ethernet port is attached to differ.
 */
import { Clock } from './clock';
import { Costs } from './costs';
import { PciFunction } from './pci';
import { PortDevice } from './port-bus';
import { Ne2000 } from './ne2000';
import { Rtl8139 } from './rtl8139';
import { NE2000_PORTS } from './ne2000-regs';

export type NicKind = 'ne2000' | 'ne2000-isa' | 'rtl8139';
export const NIC_KINDS: readonly NicKind[] = ['ne2000', 'ne2000-isa', 'rtl8139'];
/** QEMU's default MAC for a guest's first NIC. */
export const DEFAULT_MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

export const NE2000_ISA_BASE = 0x300;
export const NE2000_ISA_IRQ = 9;

/** A card: its model, the PCI function it presents (null on ISA) and its wire rate. */
export interface Nic {
  readonly kind: NicKind;
  readonly card: Ne2000 | Rtl8139;
  readonly pci: PciFunction | null;
  /** The register block as a port device (offsets from the card's base). */
  readonly device: PortDevice;
  /** Where an ISA card sits (its ports and interrupt line); null on PCI, where BAR0 and the interrupt line say. */
  readonly isa: { readonly base: number; readonly ports: number; readonly irq: number } | null;
  readonly bitsPerSecond: number;
}

/** The name a card goes by in port maps, traces and on the wire: the model, whatever its bus. */
export function nicName(kind: NicKind): 'rtl8139' | 'ne2000' {
  return kind === 'rtl8139' ? 'rtl8139' : 'ne2000';
}

/** The bus latency of one register access to a card: PCI for the RTL8139 and RTL8029, ISA for the ISA NE2000. */
export function nicBusCycles(nic: Nic, costs: Costs): number {
  return nic.pci ? costs.pciAccessCycles : costs.isaAccessCycles;
}

/** The wire rate each card runs at: 10 Mbit/s for the NE2000s, 100 Mbit/s for the RTL8139. */
export function nicBitsPerSecond(kind: NicKind): number {
  return kind === 'rtl8139' ? 100e6 : 10e6;
}

/** The PCI function a card presents (null for the ISA NE2000): a fresh configuration space each call. */
export function nicPciFunction(kind: NicKind): PciFunction | null {
  if (kind === 'rtl8139') {
    return new PciFunction('RTL8139', { vendor: 0x10ec, device: 0x8139, revision: 0x10, classCode: 0x020000, interruptPin: 1, subsystemVendor: 0x10ec, subsystem: 0x8139 },
      [{ size: 256, io: true }, { size: 256, io: false }]);
  }
  if (kind === 'ne2000') {
    return new PciFunction('RTL8029 (NE2000)', { vendor: 0x10ec, device: 0x8029, revision: 0x00, classCode: 0x020000, interruptPin: 1 }, [{ size: 32, io: true }]);
  }
  return null;
}

/**
 * A card of `kind`. `virtualCard`: one a hypervisor emulates for a VM, whose received
 * frames are in the guest's ring at once (the hypervisor's copy is costed by it).
 */
export function makeNic(kind: NicKind, clock: Clock, mac: Uint8Array, virtualCard = false): Nic {
  const bitsPerSecond = nicBitsPerSecond(kind);
  const pci = nicPciFunction(kind);
  const card = kind === 'rtl8139' ? new Rtl8139(clock, { mac, bitsPerSecond, rxBusTime: !virtualCard }) : new Ne2000(clock, { mac, pci: kind === 'ne2000', bitsPerSecond });
  return { kind, card, pci, device: card, bitsPerSecond, isa: pci ? null : { base: NE2000_ISA_BASE, ports: NE2000_PORTS, irq: NE2000_ISA_IRQ } };
}
