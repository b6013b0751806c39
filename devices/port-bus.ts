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

export interface PortRange {
  readonly name: string;
  readonly base: number;
  readonly length: number;
  readonly device: PortDevice;
  /** Cycles each access costs. */
  readonly cycles: number;
}

/** Called for every access when tracing is on (`direction` 'in' or 'out'). */
export type PortTrace = (direction: 'in' | 'out', port: number, size: number, value: number, range: PortRange | null) => void;

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffffffff];

export class PortBus {
  /** For each port, 1 + the index of its range in `ranges`, or 0. */
  private readonly owner = new Uint16Array(0x10000);
  readonly ranges: PortRange[] = [];
  /** The cycle counter accesses are charged to, and the clock devices read (set by the machine). */
  charge: (cycles: number) => void = () => {};
  /** Called before each mapped access so devices see the current cycle. */
  syncTime: () => void = () => {};
  trace: PortTrace | null = null;

  /** Maps [base, base+length) to `device`. Overlaps are a wiring bug and throw. */
  map(name: string, base: number, length: number, device: PortDevice, cycles: number): PortRange {
    for (let p = base; p < base + length; p++) {
      if (this.owner[p & 0xffff] !== 0) {
        throw new Error(`port 0x${p.toString(16)} of ${name} is already ${this.ranges[this.owner[p & 0xffff] - 1].name}'s`);
      }
    }
    const range: PortRange = { name, base, length, device, cycles };
    this.ranges.push(range);
    const id = this.ranges.length;
    for (let p = base; p < base + length; p++) this.owner[p & 0xffff] = id;
    return range;
  }

  /** Removes a range (a PCI BAR moved or was disabled). */
  unmap(range: PortRange): void {
    const id = this.ranges.indexOf(range) + 1;
    if (id === 0) return;
    for (let p = range.base; p < range.base + range.length; p++) if (this.owner[p & 0xffff] === id) this.owner[p & 0xffff] = 0;
  }

  rangeAt(port: number): PortRange | null {
    const id = this.owner[port & 0xffff];
    return id ? this.ranges[id - 1] : null;
  }

  read(port: number, size: number): number {
    const id = this.owner[port];
    let value: number;
    let range: PortRange | null = null;
    if (id === 0) {
      value = ALL_ONES[size];
    } else {
      range = this.ranges[id - 1];
      this.syncTime();
      value = range.device.read(port - range.base, size);
      this.charge(range.cycles);
    }
    if (this.trace !== null) this.trace('in', port, size, value, range);
    return value;
  }

  /**
   * Up to `count` accesses to `port` in a row as one call to the device's block method
   * (see PortDevice.writeBlock), for a REP OUTS: as many as would start before `budget`
   * cycles run out, each costing the port's latency plus `extraCycles` (the CPU's own),
   * which are those the CPU makes before it stops part way for want of time. Returns
   * how many were made (0: none, make them one by one); charges their latency.
   */
  writeBlock(port: number, size: number, src: Uint8Array, at: number, count: number, budget: number, extraCycles: number): number {
    const range = this.blockRange(port, budget);
    if (range === null || range.device.writeBlock === undefined) return 0;
    this.syncTime();
    const done = range.device.writeBlock(port - range.base, size, src, at, this.fitting(range, count, budget, extraCycles));
    this.charge(done * range.cycles);
    return done;
  }

  /** The same for a REP INS. */
  readBlock(port: number, size: number, dst: Uint8Array, at: number, count: number, budget: number, extraCycles: number): number {
    const range = this.blockRange(port, budget);
    if (range === null || range.device.readBlock === undefined) return 0;
    this.syncTime();
    const done = range.device.readBlock(port - range.base, size, dst, at, this.fitting(range, count, budget, extraCycles));
    this.charge(done * range.cycles);
    return done;
  }

  /** The range a block at `port` can go to, or null (unmapped, traced, or no budget left). */
  private blockRange(port: number, budget: number): PortRange | null {
    const id = this.owner[port];
    if (id === 0 || this.trace !== null || budget <= 0) return null;
    return this.ranges[id - 1];
  }

  /** How many of `count` accesses start inside `budget`: the k-th (from 0) starts k * (latency + extra) cycles in. */
  private fitting(range: PortRange, count: number, budget: number, extraCycles: number): number {
    return Math.min(count, Math.ceil(budget / (range.cycles + extraCycles)));
  }

  write(port: number, size: number, value: number): void {
    const id = this.owner[port];
    let range: PortRange | null = null;
    if (id !== 0) {
      range = this.ranges[id - 1];
      this.syncTime();
      range.device.write(port - range.base, size, value);
      this.charge(range.cycles);
    }
    if (this.trace !== null) this.trace('out', port, size, value, range);
  }
}
