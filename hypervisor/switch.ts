/**
 * The software switch of `virtual` mode: each VM's virtual card is a port; the
 * hypervisor's driver for the physical card is the uplink. A frame from a VM goes to
 * the VMs it is addressed to (unicast by MAC address, broadcast and multicast to all
 * but the sender) and, unless it is unicast to one of them, out of the physical card.
 * A frame from the wire goes to the VM whose MAC it names, or to all of them when it is
 * broadcast or multicast; a unicast frame for no VM is dropped (and counted), so no
 * guest ever sees another guest's unicast traffic. A frame from a VM whose source
 * address is not that VM's is refused (dropped, counted and reported), so no guest can
 * send as another. Every copy costs hypervisor cycles.
 */
import { EthernetPort, isAddressedTo, isMulticast, isSentBy } from '../devices/net/ethernet';

export interface SwitchPort {
  /** The VM the port is for. */
  readonly id: number;
  readonly mac: Uint8Array;
  /** Hands a frame to the VM's virtual card. */
  deliver(frame: Uint8Array): void;
}

export interface SwitchUplink {
  transmit(frame: Uint8Array): boolean;
}

export class SoftSwitch {
  readonly ports: SwitchPort[] = [];
  uplink: SwitchUplink | null = null;
  /** Frames from the wire that named no VM. */
  unknownUnicast = 0;
  /** Frames the uplink's transmit queue had no room for. */
  uplinkDropped = 0;
  /** Frames from a VM with a source address not its own, refused. */
  spoofed = 0;
  /** Hears of each refused frame (for the trace and the VM's figures). */
  onSpoofed: (from: SwitchPort, frame: Uint8Array) => void = () => {};

  /** Attaches a VM's card; returns the Ethernet port its card sends through. */
  attach(port: SwitchPort): EthernetPort {
    this.ports.push(port);
    return { send: (frame) => this.fromVm(port, frame) };
  }

  private fromVm(from: SwitchPort, frame: Uint8Array): void {
    if (!isSentBy(frame, from.mac)) {
      this.spoofed++;
      this.onSpoofed(from, frame);
      return;
    }
    const group = isMulticast(frame);
    let local = false;
    for (const p of this.ports) {
      if (p === from) continue;
      if (group) p.deliver(frame);
      else if (isAddressedTo(frame, p.mac)) { p.deliver(frame); local = true; }
    }
    if (!local && this.uplink && !this.uplink.transmit(frame)) this.uplinkDropped++;
  }

  /** A frame the physical card received. */
  fromWire(frame: Uint8Array): void {
    if (isMulticast(frame)) {
      for (const p of this.ports) p.deliver(frame);
      return;
    }
    for (const p of this.ports) {
      if (isAddressedTo(frame, p.mac)) { p.deliver(frame); return; }
    }
    this.unknownUnicast++;
  }
}
