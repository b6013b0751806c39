/**
 * Memory-mapped I/O: the physical addresses past RAM where devices put registers (a PCI
 * memory BAR: the RTL8139's BAR1). The CPU sends every access there to `read`/`write`
 * (CpuBus.mmioRead/mmioWrite); each goes to the range holding its address, with the
 * offset from the range's base, as port I/O does (`PortBus`), and pays the range's cost
 * once: a bus's latency, or a trap's exit and handler. Unmapped addresses read all ones
 * and drop writes.
 *
 * Ranges are few (a card's window or two), so lookup is a scan, covers first. A cover
 * (a hypervisor's trap) shadows the direct range under it for the directions it takes
 * and passes the others through, which is what a page's access rights can do: a trap
 * on writes only is a write-protected page. Traps on memory are whole pages, as
 * Palacios's v3_hook_full_mem and an EPT violation are: `cover` rounds out to 4 KiB.
 */
import { PortDevice, PortRange, RangeOptions, IO_IN, IO_OUT, ALL_ONES, countAccess, newCounter } from './port-bus';

export const PAGE = 4096;

/** Called for every access when tracing is on. */
export type MmioTrace = (direction: 'read' | 'write', addr: number, size: number, value: number, range: PortRange | null) => void;

export class MmioBus {
  /** Covers (traps) first, then direct ranges. */
  private covers: PortRange[] = [];
  private maps: PortRange[] = [];
  /** The cycle counter accesses are charged to (set by the machine). */
  charge: (cycles: number) => void = () => {};
  /** Called before each mapped access so devices see the current cycle. */
  syncTime: () => void = () => {};
  trace: MmioTrace | null = null;

  get ranges(): PortRange[] {
    return [...this.covers, ...this.maps];
  }

  /** Maps [base, base+length) straight to `device`, each access costing `cycles`. Overlapping another direct range is a wiring bug. */
  map(name: string, base: number, length: number, device: PortDevice, cycles: number, opts: RangeOptions = {}): PortRange {
    for (const e of this.maps) {
      if (base < e.base + e.length && e.base < base + length) throw new Error(`memory 0x${base.toString(16)}+0x${length.toString(16)} of ${name} overlaps ${e.name}'s`);
    }
    const r = range(name, base, length, device, cycles, opts);
    this.maps.push(r);
    return r;
  }

  /**
   * Traps the pages of [base, base+length) to `device`, shadowing what is mapped there
   * for `opts.directions` until `remove`. The exit is taken for the whole pages, but
   * the device is given only the accesses inside [base, base+length), with offsets from
   * `base`; the rest of the pages reads all ones. Two covers on a page are a wiring bug.
   */
  cover(name: string, base: number, length: number, device: PortDevice, cycles: number, opts: RangeOptions = {}): PortRange {
    const from = Math.floor(base / PAGE) * PAGE, to = Math.ceil((base + length) / PAGE) * PAGE;
    for (const e of this.covers) {
      if (from < e.base + e.length && e.base < to) throw new Error(`page 0x${from.toString(16)} of ${name} is already covered by ${e.name}`);
    }
    // The device sees offsets in [0, length) only; the rest of its pages is open bus.
    const inner = base - from;
    const shifted: PortDevice = {
      read: (off, size) => (off >= inner && off - inner < length ? device.read(off - inner, size) : ALL_ONES[size]),
      write: (off, size, v) => { if (off >= inner && off - inner < length) device.write(off - inner, size, v); },
    };
    const r = range(name, from, to - from, shifted, cycles, { trapped: true, ...opts });
    this.covers.push(r);
    return r;
  }

  remove(r: PortRange): void {
    this.covers = this.covers.filter((e) => e !== r);
    this.maps = this.maps.filter((e) => e !== r);
  }

  /** What an access in direction `dir` at `addr` goes to: a cover taking that direction, else a direct range. */
  lookup(addr: number, dir = IO_IN | IO_OUT): PortRange | null {
    for (const e of this.covers) if (addr >= e.base && addr < e.base + e.length && (e.directions & dir) !== 0) return e;
    for (const e of this.maps) if (addr >= e.base && addr < e.base + e.length) return e;
    return null;
  }

  read(addr: number, size: number): number {
    const e = this.lookup(addr, IO_IN);
    let value: number;
    if (e === null) {
      value = ALL_ONES[size];
    } else if (e.trapped) {
      this.charge(countAccess(e, false, true));
      this.syncTime();
      value = e.device.read(addr - e.base, size);
    } else {
      this.syncTime();
      value = e.device.read(addr - e.base, size);
      this.charge(countAccess(e, false, true));
    }
    if (this.trace !== null) this.trace('read', addr, size, value, e);
    return value;
  }

  write(addr: number, size: number, value: number): void {
    const e = this.lookup(addr, IO_OUT);
    if (e !== null) {
      if (e.trapped) {
        this.charge(countAccess(e, true, true));
        this.syncTime();
        e.device.write(addr - e.base, size, value);
      } else {
        this.syncTime();
        e.device.write(addr - e.base, size, value);
        this.charge(countAccess(e, true, true));
      }
    }
    if (this.trace !== null) this.trace('write', addr, size, value, e);
  }
}

function range(name: string, base: number, length: number, device: PortDevice, cycles: number, opts: RangeOptions): PortRange {
  return {
    name, base, length, device, cycles, repeatCycles: opts.repeatCycles ?? cycles, directions: opts.directions ?? (IO_IN | IO_OUT),
    trapped: opts.trapped ?? false, counter: opts.counter ?? newCounter(name),
  };
}

