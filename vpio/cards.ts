/**
 * Which `CardSharing` serves which card: the one place the VPIO monitor's side of the
 * code names the card types. A third card adds a line here, a model and a sharing
 * beside it, and nothing in the monitor.
 */
import { Nic } from '../devices/nic';
import { Ne2000 } from '../devices/ne2000';
import { Rtl8139 } from '../devices/rtl8139';
import { PortDevice } from '../devices/port-bus';
import { Costs } from '../devices/costs';
import { CardSharing } from './model';
import { Rtl8139Sharing } from './rtl8139-model';
import { Ne2000Sharing } from './ne2000-model';

/**
 * The sharing for `nic`. `regs` is the card's register block as the monitor reaches it
 * (each access paying the bus); `bus` charges accesses the sharing makes some other way;
 * `costs` gives what a context switch and a buffer page cost in accesses.
 */
export function cardSharing(nic: Nic, regs: PortDevice, bus: (accesses: number) => void, costs: Costs): CardSharing<unknown> {
  const card = nic.card;
  if (card instanceof Rtl8139) return new Rtl8139Sharing(card, regs, costs);
  if (card instanceof Ne2000) return new Ne2000Sharing(card, bus, costs);
  throw new Error(`no VPIO model for the ${nic.kind}`);
}
