/**
 * A VM's port map, the heart of the hypervisor layer (DESIGN.md section 2): every port
 * is unmapped, `direct` (the access goes to a device, paying only its bus latency) or
 * `trap` (an exit: the exit-plus-entry cost, then a handler the hypervisor, a virtual
 * device or the VPIO monitor registered). Hooking and unhooking a range at run time is
 * one pass over its ports, as in Palacios's v3_hook_io_port / v3_unhook_io_port, so the
 * VPIO monitor can change its policy while the guest runs. A trap hooked over a direct
 * range shadows it and unhooking restores it.
 *
 * Every trap is counted and costed per hook name and direction (`TrapCounter`), for the
 * exit accounting the command line and the bench report; the counters outlive the hooks,
 * so a range hooked and unhooked many times keeps one line. A REP INS/OUTS takes one
 * exit per instruction, as in KVM and Palacios, and each further element costs only the
 * handler, unless the hook asks for an exit per element. Dispatch allocates nothing.
 */
import { PortDevice } from '../devices/port-bus';

/** A trap handler: Rust-VMM-like, typed, told the port, width and (for OUT) value. */
export interface TrapHandler {
  /** An IN that exited: returns the value the guest reads. */
  in(port: number, size: number): number;
  /** An OUT that exited. */
  out(port: number, size: number, value: number): void;
}

export interface DirectRange {
  readonly kind: 'direct';
  readonly name: string;
  readonly base: number;
  readonly length: number;
  readonly device: PortDevice;
  /** The bus latency of each access. */
  readonly cycles: number;
  /** Accesses that went straight to the device. */
  accesses: number;
}

/** Exits and accesses through the hooks of one name, by direction, and the cycles they cost. */
export interface TrapCounter {
  readonly name: string;
  exitsIn: number;
  exitsOut: number;
  /** Port accesses handled (more than exits when REP string I/O runs in one exit). */
  accessesIn: number;
  accessesOut: number;
  cyclesIn: number;
  cyclesOut: number;
}

export interface Hook {
  readonly kind: 'trap';
  readonly name: string;
  readonly base: number;
  readonly length: number;
  readonly handler: TrapHandler;
  /** Cycles the handler itself costs per access (a device model's or the monitor's work). */
  readonly handlerCycles: number;
  /** Take an exit for every element of a REP INS/OUTS (default: one per instruction). */
  readonly perElement: boolean;
  /** Which directions exit (TRAP_IN | TRAP_OUT); the other goes to the range underneath, if any. */
  readonly directions: number;
  readonly counter: TrapCounter;
}

export const TRAP_IN = 1, TRAP_OUT = 2;

export interface HookOptions {
  handlerCycles?: number;
  perElement?: boolean;
  /** TRAP_IN, TRAP_OUT or both (the default). */
  directions?: number;
}

type Entry = DirectRange | Hook;

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffffffff];

export class PortMap {
  private readonly owner = new Uint16Array(0x10000);
  private readonly entries: (Entry | null)[] = [null];
  /** For each port, the direct entry a trap shadows (0: none). */
  private readonly shadowed = new Uint16Array(0x10000);
  /** Charged for the cycles an access costs (the machine adds them to the CPU's counter). */
  charge: (cycles: number) => void = () => {};
  /** Called before each device or handler access so devices see the current cycle. */
  syncTime: () => void = () => {};
  /** Where the CPU says whether an access continues a REP INS/OUTS (see Cpu.ioRepeat). */
  repeat: { ioRepeat: number } = { ioRepeat: 0 };
  /** Called after every mapped access when tracing: direction, port, size, value, range name, trapped. */
  trace: ((dir: 'in' | 'out', port: number, size: number, value: number, name: string, trapped: boolean) => void) | null = null;
  /** The counters by hook name, in the order the names were first hooked. */
  readonly counters = new Map<string, TrapCounter>();

  /** @param exitCycles the VM exit plus entry cost (from the cost table) */
  constructor(readonly exitCycles: number) {}

  /** Maps [base, base+length) straight to a device. Overlapping another range is a wiring bug. */
  direct(name: string, base: number, length: number, device: PortDevice, cycles: number): DirectRange {
    for (let p = base; p < base + length; p++) {
      if (this.owner[p & 0xffff] !== 0) throw new Error(`port 0x${p.toString(16)} of ${name} is already mapped`);
    }
    const range: DirectRange = { kind: 'direct', name, base, length, device, cycles, accesses: 0 };
    const id = this.add(range);
    for (let p = base; p < base + length; p++) this.owner[p & 0xffff] = id;
    return range;
  }

  /**
   * Traps [base, base+length) to `handler` (Palacios v3_hook_io_port). A direct range
   * underneath is shadowed until unhook; two traps on one port are a wiring bug.
   */
  hook(name: string, base: number, length: number, handler: TrapHandler, opts: HookOptions = {}): Hook {
    for (let p = base; p < base + length; p++) {
      const e = this.entries[this.owner[p & 0xffff]];
      if (e && e.kind === 'trap') throw new Error(`port 0x${p.toString(16)} is already hooked by ${e.name}`);
    }
    let counter = this.counters.get(name);
    if (!counter) {
      counter = { name, exitsIn: 0, exitsOut: 0, accessesIn: 0, accessesOut: 0, cyclesIn: 0, cyclesOut: 0 };
      this.counters.set(name, counter);
    }
    const hook: Hook = { kind: 'trap', name, base, length, handler, handlerCycles: opts.handlerCycles ?? 0, perElement: opts.perElement ?? false,
      directions: opts.directions ?? (TRAP_IN | TRAP_OUT), counter };
    const id = this.add(hook);
    for (let p = base; p < base + length; p++) {
      const port = p & 0xffff;
      this.shadowed[port] = this.owner[port];
      this.owner[port] = id;
    }
    return hook;
  }

  /** Removes a trap; shadowed direct ports become direct again. */
  unhook(hook: Hook): void {
    const id = this.entries.indexOf(hook);
    if (id <= 0) return;
    for (let p = hook.base; p < hook.base + hook.length; p++) {
      const port = p & 0xffff;
      if (this.owner[port] !== id) continue;
      this.owner[port] = this.shadowed[port];
      this.shadowed[port] = 0;
    }
    this.entries[id] = null;
  }

  /** Removes a direct range (a passthrough BAR moved); a trap over it keeps the ports. */
  remove(range: DirectRange): void {
    const id = this.entries.indexOf(range);
    if (id <= 0) return;
    for (let p = range.base; p < range.base + range.length; p++) {
      const port = p & 0xffff;
      if (this.owner[port] === id) this.owner[port] = 0;
      if (this.shadowed[port] === id) this.shadowed[port] = 0;
    }
    this.entries[id] = null;
  }

  /** What a port is mapped to now (for --list-devices and tests). */
  lookup(port: number): Entry | null {
    return this.entries[this.owner[port & 0xffff]];
  }

  read(port: number, size: number): number {
    let e = this.entries[this.owner[port]];
    if (e !== null && e.kind === 'trap' && !(e.directions & TRAP_IN)) e = this.entries[this.shadowed[port]];
    if (e === null) {
      const v = ALL_ONES[size];
      if (this.trace !== null) this.trace('in', port, size, v, 'none', false);
      return v;
    }
    this.syncTime();
    let v: number;
    if (e.kind === 'direct') {
      v = e.device.read(port - e.base, size);
      e.accesses++;
      this.charge(e.cycles);
    } else {
      const c = e.counter;
      let cost = e.handlerCycles;
      if (this.repeat.ioRepeat === 0 || e.perElement) { cost += this.exitCycles; c.exitsIn++; }
      c.accessesIn++;
      c.cyclesIn += cost;
      this.charge(cost);
      v = e.handler.in(port, size);
    }
    if (this.trace !== null) this.trace('in', port, size, v, e.name, e.kind === 'trap');
    return v;
  }

  write(port: number, size: number, value: number): void {
    let e = this.entries[this.owner[port]];
    if (e !== null && e.kind === 'trap' && !(e.directions & TRAP_OUT)) e = this.entries[this.shadowed[port]];
    if (e === null) {
      if (this.trace !== null) this.trace('out', port, size, value, 'none', false);
      return;
    }
    this.syncTime();
    if (e.kind === 'direct') {
      e.device.write(port - e.base, size, value);
      e.accesses++;
      this.charge(e.cycles);
    } else {
      const c = e.counter;
      let cost = e.handlerCycles;
      if (this.repeat.ioRepeat === 0 || e.perElement) { cost += this.exitCycles; c.exitsOut++; }
      c.accessesOut++;
      c.cyclesOut += cost;
      this.charge(cost);
      e.handler.out(port, size, value);
    }
    if (this.trace !== null) this.trace('out', port, size, value, e.name, e.kind === 'trap');
  }

  private add(e: Entry): number {
    // Reuse a free slot so hooking and unhooking at run time does not grow the table.
    for (let i = 1; i < this.entries.length; i++) {
      if (this.entries[i] === null) { this.entries[i] = e; return i; }
    }
    if (this.entries.length >= 0xffff) throw new Error('port map: too many ranges');
    this.entries.push(e);
    return this.entries.length - 1;
  }
}
