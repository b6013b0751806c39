/**
 * A minimal machine for CPU tests: flat RAM, a GDT with flat ring-0 code and data,
 * an IDT whose gates all lead to one handler, and three test ports:
 *   0xE9 (byte): console output, 0xE0 (any width): values recorded in order,
 *   0xF4 (byte): exit with that value (stops the run).
 * Test-only; the real machines live in devices/ and hypervisor/.
 */
import { Cpu } from './cpu';
import { CpuBus, StopReason } from './bus';
import { machineMemory } from './memory';

export const GDT_BASE = 0x1000;
export const IDT_BASE = 0x2000;
export const HANDLER_BASE = 0x3000;
export const CODE_BASE = 0x10000;
export const STACK_TOP = 0x80000;

export class TestBus implements CpuBus {
  readonly ram: Uint8Array;
  console = '';
  readonly recorded: number[] = [];
  exitCode = -1;
  cpu: Cpu | null = null;
  /** Memory-mapped I/O past RAM, for a test to put a device there (none: an open bus). */
  mmioRead?: (addr: number, size: number) => number;
  mmioWrite?: (addr: number, size: number, value: number) => void;

  /** The CPU's area beside RAM in a WebAssembly memory, as the machines have (see memory.ts). */
  readonly area: Uint8Array;
  readonly wasmMemory: WebAssembly.Memory | null;

  constructor(memBytes = 1 << 20) {
    const m = machineMemory(memBytes, 1);
    this.ram = m.ram;
    this.area = m.areas[0];
    this.wasmMemory = m.wasm;
  }

  ioRead(_port: number, size: number): number {
    return size === 1 ? 0xff : size === 2 ? 0xffff : -1;
  }

  ioWrite(port: number, size: number, value: number): void {
    if (port === 0xe9) this.console += String.fromCharCode(value & 0xff);
    else if (port === 0xe0) this.recorded.push(size === 4 ? value >>> 0 : value);
    else if (port === 0xf4) { this.exitCode = value & 0xff; this.cpu?.requestStop(); }
  }

  acknowledgeInterrupt(): number {
    return 0x20;
  }
}

/**
 * Writes a segment descriptor for selector `sel` into the GDT at GDT_BASE: `base`, `limit`
 * (in 4 KiB granules when `g`), the access byte `type` (0x92 writable data, 0x9a
 * readable code...), and the D/B bit `big`. The caller sets cpu.gdtrLimit to cover it.
 */
export function putDescriptor(ram: Uint8Array, sel: number, base: number, limit: number, type: number, g: boolean, big: boolean): void {
  const dv = new DataView(ram.buffer, ram.byteOffset);
  dv.setUint32(GDT_BASE + sel, (limit & 0xffff) | ((base & 0xffff) << 16), true);
  dv.setUint32(GDT_BASE + sel + 4, ((base >>> 16) & 0xff) | (type << 8) | (limit & 0xf0000) | (g ? 0x800000 : 0) | (big ? 0x400000 : 0) | (base & 0xff000000), true);
}

/** Hex string (as `xxd -p` prints it) to bytes. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Builds a flat 32-bit protected-mode machine running `code` at CODE_BASE, with every
 * interrupt vector gated (32-bit interrupt gate, DPL 3) to `handler` at HANDLER_BASE.
 */
export function flatMachine(code: Uint8Array, handler: Uint8Array = hex('f4'), memBytes = 1 << 20): { cpu: Cpu; bus: TestBus } {
  const bus = new TestBus(memBytes);
  const ram = bus.ram;
  const dv = new DataView(ram.buffer, ram.byteOffset);
  // GDT: null, 0x08 flat code (type A, DPL 0, 32-bit, 4 KiB granular), 0x10 flat data.
  dv.setUint32(GDT_BASE + 8, 0x0000ffff, true); dv.setUint32(GDT_BASE + 12, 0x00cf9a00, true);
  dv.setUint32(GDT_BASE + 16, 0x0000ffff, true); dv.setUint32(GDT_BASE + 20, 0x00cf9200, true);
  for (let v = 0; v < 256; v++) {
    dv.setUint32(IDT_BASE + v * 8, (0x08 << 16) | (HANDLER_BASE & 0xffff), true);
    dv.setUint32(IDT_BASE + v * 8 + 4, (HANDLER_BASE & 0xffff0000) | 0xee00, true);
  }
  ram.set(handler, HANDLER_BASE);
  ram.set(code, CODE_BASE);
  const cpu = new Cpu(bus);
  bus.cpu = cpu;
  cpu.enterFlat32(CODE_BASE);
  cpu.gdtrBase = GDT_BASE; cpu.gdtrLimit = 23;
  cpu.idtrBase = IDT_BASE; cpu.idtrLimit = 256 * 8 - 1;
  cpu.reg32[4] = STACK_TOP;
  return { cpu, bus };
}

/** Runs until the CPU stops for a reason other than its budget, or `maxCycles` pass. */
export function runToStop(cpu: Cpu, maxCycles = 1e8): StopReason {
  const end = cpu.cycles + maxCycles;
  for (;;) {
    const why = cpu.run(Math.min(1e6, end - cpu.cycles));
    if (why !== StopReason.Budget || cpu.cycles >= end) return why;
  }
}
