/**
 * A VM's port map (DESIGN.md section 2): the machine's one dispatch core
 * (`devices/port-bus.ts`) with the hypervisor's two kinds of range. Every port is
 * unmapped, `direct` (the access goes to a device, paying only its bus latency) or a
 * `trap` (an exit: the exit-plus-entry cost, then a handler the hypervisor, a virtual
 * device or the VPIO monitor registered, given the offset as a device is). Hooking and
 * unhooking a range at run time is one pass over its ports, as in Palacios's
 * v3_hook_io_port / v3_unhook_io_port, so the VPIO monitor can change its policy while
 * the guest runs; a trap hooked over a direct range shadows it and unhooking restores it.
 *
 * Traps are counted and costed per hook name and direction (`RangeCounter`), for the
 * exit accounting the command line and the bench report; the counters outlive the
 * hooks, so a range hooked and unhooked many times keeps one line. A REP INS/OUTS takes
 * one exit per instruction, as in KVM and Palacios, and each further element costs only
 * the handler, unless the hook asks for an exit per element.
 */
import { PortBus, PortDevice, PortRange, RangeCounter, IO_IN, IO_OUT, newCounter } from '../devices/port-bus';

export interface HookOptions {
  /** Cycles the handler itself costs per access (a device model's or the monitor's work). */
  handlerCycles?: number;
  /** Take an exit for every element of a REP INS/OUTS (default: one per instruction). */
  perElement?: boolean;
  /** IO_IN, IO_OUT or both (the default); the other direction goes to the range underneath, if any. */
  directions?: number;
}

export class PortMap extends PortBus {
  /** The trap counters by hook name, in the order the names were first hooked. */
  readonly counters = new Map<string, RangeCounter>();

  /** @param exitCycles the VM exit plus entry cost (from the cost table) */
  constructor(readonly exitCycles: number) {
    super();
  }

  /** Maps [base, base+length) straight to a device. Overlapping another range is a wiring bug. */
  direct(name: string, base: number, length: number, device: PortDevice, cycles: number): PortRange {
    return this.map(name, base, length, device, cycles);
  }

  /**
   * Traps [base, base+length) to `handler` (Palacios v3_hook_io_port). A direct range
   * underneath is shadowed until unhook; two traps on one port are a wiring bug.
   */
  hook(name: string, base: number, length: number, handler: PortDevice, opts: HookOptions = {}): PortRange {
    let counter = this.counters.get(name);
    if (!counter) {
      counter = newCounter(name);
      this.counters.set(name, counter);
    }
    const handlerCycles = opts.handlerCycles ?? 0;
    return this.cover(name, base, length, handler, this.exitCycles + handlerCycles, {
      repeatCycles: opts.perElement === true ? this.exitCycles + handlerCycles : handlerCycles,
      directions: opts.directions ?? (IO_IN | IO_OUT), trapped: true, counter,
    });
  }

  /** Removes a trap; shadowed direct ports become direct again. */
  unhook(hook: PortRange): void {
    this.remove(hook);
  }
}
