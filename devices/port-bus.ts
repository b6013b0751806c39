/**
 * The I/O port space: 65536 ports, each mapped to at most one device range. Dispatch
 * is two typed-array loads (port -> range index -> device) and no allocation; each
 * range charges its bus's latency (ISA, PCI or chipset, from the cost table) to the
 * CPU's cycle counter. Unmapped ports read all ones and drop writes, as an open bus.
 */

/** A device's view of port I/O: `offset` is relative to the start of its range. */
export interface PortDevice {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
  /**
   * Optional, for a REP OUTS: up to `count` writes of `size` bytes at `offset`, the
   * values little-endian in `src` from `at`, with exactly the effect of that many
   * write() calls. Returns how many it made: it stops after one whose effect goes
   * beyond moving data (an interrupt raised, a transfer ended), or makes none (0) where
   * it has no block path; the caller makes the rest one by one. It must not read the
   * clock or arm timers: the accesses after the first are not at their own cycle.
   */
  writeBlock?(offset: number, size: number, src: Uint8Array, at: number, count: number): number;
  /** The same for a REP INS: the values read go little-endian into `dst` from `at`. */
  readBlock?(offset: number, size: number, dst: Uint8Array, at: number, count: number): number;
}

/** Which directions a range takes (`PortRange.directions`). */
export const IO_IN = 1, IO_OUT = 2;

/**
 * A range's accesses and what they cost, by direction. `exits` counts the accesses of a
 * trapped range that paid its whole cost (a REP string's later elements pay
 * `repeatCycles`, which is less unless the range takes an exit per element). Ranges may share one (a hypervisor's
 * counters by hook name outlive the hooks).
 */
export interface RangeCounter {
  readonly name: string;
  accessesIn: number;
  accessesOut: number;
  exitsIn: number;
  exitsOut: number;
  cyclesIn: number;
  cyclesOut: number;
}

export function newCounter(name: string): RangeCounter {
  return { name, accessesIn: 0, accessesOut: 0, exitsIn: 0, exitsOut: 0, cyclesIn: 0, cyclesOut: 0 };
}

/** A range of ports and where its accesses go. */
export interface PortRange {
  readonly name: string;
  readonly base: number;
  readonly length: number;
  /** Gets every access, with the offset from `base`. */
  readonly device: PortDevice;
  /** Cycles each access costs: a bus's latency, or (trapped) an exit and its handler. */
  readonly cycles: number;
  /** Cycles an access that continues a REP INS/OUTS costs (`PortBus.repeat`). */
  readonly repeatCycles: number;
  /** IO_IN | IO_OUT: the directions this range takes; the other goes to the range it covers. */
  readonly directions: number;
  /** The access leaves the guest (a hypervisor's trap): traced and counted as an exit. */
  readonly trapped: boolean;
  readonly counter: RangeCounter;
}

export interface RangeOptions {
  repeatCycles?: number;
  directions?: number;
  trapped?: boolean;
  /** A counter to share with other ranges (default: one of its own). */
  counter?: RangeCounter;
}

/** Called for every access when tracing is on (`direction` 'in' or 'out'). */
export type PortTrace = (direction: 'in' | 'out', port: number, size: number, value: number, range: PortRange | null) => void;

export const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffffffff];

/**
 * Counts one access to `e` (an OUT or write when `out`) and returns what it costs: its
 * whole cost, or `repeatCycles` for an access that continues a REP string (`whole`
 * false). A trapped range's whole-cost accesses are its exits.
 */
export function countAccess(e: PortRange, out: boolean, whole: boolean): number {
  const c = e.counter;
  const cycles = whole ? e.cycles : e.repeatCycles;
  if (out) {
    c.accessesOut++;
    c.cyclesOut += cycles;
    if (e.trapped && cycles === e.cycles) c.exitsOut++;
  } else {
    c.accessesIn++;
    c.cyclesIn += cycles;
    if (e.trapped && cycles === e.cycles) c.exitsIn++;
  }
  return cycles;
}

/**
 * The one dispatch core for port I/O, for the bare machine and for every VM: ranges
 * mapped once (overlaps are a wiring bug and throw) or laid over others at run time
 * (`cover`: a hypervisor's trap shadows what is under it, and removing it restores it,
 * as Palacios's v3_hook_io_port does), open bus where nothing is mapped, the clock
 * synced once before each access, its cost charged once, counted, and traced. A
 * device, a virtual device and a trap handler are all `PortDevice`s given offsets.
 */
export class PortBus {
  /** For each port, the index of its range in `entries` (0: none). */
  private readonly owner = new Uint16Array(0x10000);
  /** For each port, the range a cover shadows (0: none). */
  private readonly under = new Uint16Array(0x10000);
  private readonly entries: (PortRange | null)[] = [null];
  /** The cycle counter accesses are charged to (set by the machine). */
  charge: (cycles: number) => void = () => {};
  /** Called before each mapped access so devices see the current cycle. */
  syncTime: () => void = () => {};
  /** Where the CPU says whether an access continues a REP INS/OUTS (see Cpu.ioRepeat). */
  repeat: { ioRepeat: number } = { ioRepeat: 0 };
  trace: PortTrace | null = null;

  /** The ranges mapped now, covers included. */
  get ranges(): PortRange[] {
    return this.entries.filter((e): e is PortRange => e !== null);
  }

  /** Maps [base, base+length) to `device`, each access costing `cycles`. A port already mapped is a wiring bug. */
  map(name: string, base: number, length: number, device: PortDevice, cycles: number, opts: RangeOptions = {}): PortRange {
    for (let p = base; p < base + length; p++) {
      const e = this.entries[this.owner[p & 0xffff]];
      if (e) throw new Error(`port 0x${p.toString(16)} of ${name} is already ${e.name}'s`);
    }
    const range = this.range(name, base, length, device, cycles, opts);
    const id = this.add(range);
    for (let p = base; p < base + length; p++) this.owner[p & 0xffff] = id;
    return range;
  }

  /** Lays a range over [base, base+length), shadowing what is mapped there until `remove`. Two covers on a port are a wiring bug. */
  cover(name: string, base: number, length: number, device: PortDevice, cycles: number, opts: RangeOptions = {}): PortRange {
    for (let p = base; p < base + length; p++) {
      const port = p & 0xffff;
      if (this.under[port] !== 0 || (this.entries[this.owner[port]]?.trapped ?? false)) {
        throw new Error(`port 0x${p.toString(16)} is already covered by ${this.entries[this.owner[port]]?.name}`);
      }
    }
    const range = this.range(name, base, length, device, cycles, opts);
    const id = this.add(range);
    for (let p = base; p < base + length; p++) {
      const port = p & 0xffff;
      this.under[port] = this.owner[port];
      this.owner[port] = id;
    }
    return range;
  }

  /** Removes a range: a cover gives its ports back to what it shadowed; a range under a cover leaves the cover alone. */
  remove(range: PortRange): void {
    const id = this.entries.indexOf(range);
    if (id <= 0) return;
    for (let p = range.base; p < range.base + range.length; p++) {
      const port = p & 0xffff;
      if (this.owner[port] === id) { this.owner[port] = this.under[port]; this.under[port] = 0; }
      if (this.under[port] === id) this.under[port] = 0;
    }
    this.entries[id] = null;
  }

  /** What a port is mapped to now (for --list-devices and tests). */
  lookup(port: number): PortRange | null {
    return this.entries[this.owner[port & 0xffff]];
  }

  private range(name: string, base: number, length: number, device: PortDevice, cycles: number, opts: RangeOptions): PortRange {
    return {
      name, base, length, device, cycles, repeatCycles: opts.repeatCycles ?? cycles, directions: opts.directions ?? (IO_IN | IO_OUT),
      trapped: opts.trapped ?? false, counter: opts.counter ?? newCounter(name),
    };
  }

  private add(e: PortRange): number {
    // Reuse a free slot so mapping and removing at run time does not grow the table.
    for (let i = 1; i < this.entries.length; i++) {
      if (this.entries[i] === null) { this.entries[i] = e; return i; }
    }
    if (this.entries.length >= 0xffff) throw new Error('port bus: too many ranges');
    this.entries.push(e);
    return this.entries.length - 1;
  }

  /** The range an access in direction `dir` at `port` goes to: a cover that does not take it passes it to what it shadows. */
  private target(port: number, dir: number): PortRange | null {
    const e = this.entries[this.owner[port]];
    if (e !== null && (e.directions & dir) === 0) return this.entries[this.under[port]];
    return e;
  }

  /** What an access to `e` costs now, counted (a REP string's later elements pay `repeatCycles`). */
  private cost(e: PortRange, out: boolean): number {
    return countAccess(e, out, this.repeat.ioRepeat === 0);
  }

  read(port: number, size: number): number {
    const e = this.target(port, IO_IN);
    let value: number;
    if (e === null) {
      value = ALL_ONES[size];
    } else {
      // A trap's exit comes before its handler runs, which sees the time after it; a
      // device sees the time the access began, and its latency is paid after. Either
      // way the clock is synced once, just before the call.
      if (e.trapped) {
        this.charge(this.cost(e, false));
        this.syncTime();
        value = e.device.read(port - e.base, size);
      } else {
        this.syncTime();
        value = e.device.read(port - e.base, size);
        this.charge(this.cost(e, false));
      }
    }
    if (this.trace !== null) this.trace('in', port, size, value, e);
    return value;
  }

  write(port: number, size: number, value: number): void {
    const e = this.target(port, IO_OUT);
    if (e !== null) {
      if (e.trapped) {
        this.charge(this.cost(e, true));
        this.syncTime();
        e.device.write(port - e.base, size, value);
      } else {
        this.syncTime();
        e.device.write(port - e.base, size, value);
        this.charge(this.cost(e, true));
      }
    }
    if (this.trace !== null) this.trace('out', port, size, value, e);
  }

  /**
   * Up to `count` accesses to `port` in a row as one call to the device's block method
   * (see PortDevice.writeBlock), for a REP OUTS: as many as would start before `budget`
   * cycles run out, each costing the port's latency plus `extraCycles` (the CPU's own),
   * which are those the CPU makes before it stops part way for want of time. Returns
   * how many were made (0: none, make them one by one); charges their latency. Only an
   * untrapped range with a block method takes them.
   */
  writeBlock(port: number, size: number, src: Uint8Array, at: number, count: number, budget: number, extraCycles: number): number {
    const range = this.blockRange(port, IO_OUT, budget);
    if (range === null || range.device.writeBlock === undefined) return 0;
    this.syncTime();
    const done = range.device.writeBlock(port - range.base, size, src, at, this.fitting(range, count, budget, extraCycles));
    this.chargeBlock(range, done, true);
    return done;
  }

  /** The same for a REP INS. */
  readBlock(port: number, size: number, dst: Uint8Array, at: number, count: number, budget: number, extraCycles: number): number {
    const range = this.blockRange(port, IO_IN, budget);
    if (range === null || range.device.readBlock === undefined) return 0;
    this.syncTime();
    const done = range.device.readBlock(port - range.base, size, dst, at, this.fitting(range, count, budget, extraCycles));
    this.chargeBlock(range, done, false);
    return done;
  }

  private chargeBlock(range: PortRange, done: number, out: boolean): void {
    const c = range.counter;
    if (out) { c.accessesOut += done; c.cyclesOut += done * range.cycles; } else { c.accessesIn += done; c.cyclesIn += done * range.cycles; }
    this.charge(done * range.cycles);
  }

  /** The range a block at `port` can go to, or null (unmapped, trapped, traced, or no budget left). */
  private blockRange(port: number, dir: number, budget: number): PortRange | null {
    const e = this.target(port, dir);
    if (e === null || e.trapped || this.trace !== null || budget <= 0) return null;
    return e;
  }

  /** How many of `count` accesses start inside `budget`: the k-th (from 0) starts k * (latency + extra) cycles in. */
  private fitting(range: PortRange, count: number, budget: number, extraCycles: number): number {
    return Math.min(count, Math.ceil(budget / (range.cycles + extraCycles)));
  }
}
