/**
 * A machine's memory: guest RAM and each CPU's own area, laid out in one buffer, which
 * is a WebAssembly.Memory's where the host allows. Code generated as WebAssembly (see
 * wasm-translator.ts) can import only one memory, and reaches RAM, the registers and the
 * code-page map there with plain loads and stores at constant offsets; JavaScript sees
 * the same bytes through typed arrays, as before.
 *
 * Layout: the CPUs' areas first, one after another, each AREA bytes rounded up to a 4
 * KiB page; RAM after them, page-aligned. An area holds:
 * - AREA_REGS: the eight general registers (Cpu.reg32 and its byte and word views);
 * - AREA_STATE: what WebAssembly blocks keep of the CPU's state while they run (the
 *   lazy flags, the EIP they leave at; see wasm-translator.ts);
 * - AREA_SEG_BASE: Cpu.segBase, the six segment bases;
 * - AREA_TLB: Cpu.tlb, the software TLB (one 32-bit entry a 4 KiB page of the 4 GiB);
 * - AREA_LINKS: what WebAssembly blocks need to go on to the next one without returning
 *   to JavaScript: one LINK_BYTES entry a slot of the block cache (wasm-translator.ts,
 *   WasmContext.link);
 * - AREA_CODE_PAGES: Cpu.codePages, one byte a 4 KiB page of the CPU's RAM and one more;
 * - then, 4-byte aligned (pageGenAt): Cpu.pageGen, one 32-bit word a page of RAM and one more.
 *
 * A WebAssembly memory is at most 65536 pages of 64 KiB (4 GiB); a machine that would
 * need more, or a host that refuses the allocation, gets the same layout in a plain
 * ArrayBuffer, and its code is translated to JavaScript only (`wasm` is then null).
 */
export const AREA_REGS = 0;
export const AREA_STATE = 64;
export const AREA_STATE_BYTES = 96;
export const AREA_SEG_BASE = AREA_STATE + AREA_STATE_BYTES;
export const AREA_TLB = 4096;
export const AREA_TLB_BYTES = 4 << 20;
/** The block cache's slots (translator.ts's CACHE_BITS), and the bytes of a slot's link. */
export const LINK_BITS = 16;
export const LINK_SLOTS = 1 << LINK_BITS;
export const LINK_BYTES = 32;
export const AREA_LINKS = AREA_TLB + AREA_TLB_BYTES;
export const AREA_CODE_PAGES = AREA_LINKS + LINK_SLOTS * LINK_BYTES;

const WASM_PAGE = 65536;
const MAX_WASM_PAGES = 65536;

/** Where Cpu.pageGen starts in an area for `ramBytes` of RAM (after the code-page map, 4-byte aligned). */
export function pageGenAt(ramBytes: number): number {
  return (AREA_CODE_PAGES + Math.ceil(ramBytes / 4096) + 1 + 3) & ~3;
}

/** Bytes of one CPU's area for `ramBytes` of RAM, a whole number of 4 KiB pages. */
export function areaBytes(ramBytes: number): number {
  const pages = Math.ceil(ramBytes / 4096) + 1;
  return (pageGenAt(ramBytes) + pages * 4 + 4095) & ~4095;
}

export interface MachineMemory {
  /** The WebAssembly memory holding all of it, or null (a plain ArrayBuffer: see above). */
  readonly wasm: WebAssembly.Memory | null;
  /** Guest RAM (for the hypervisor: all of host memory, which its VMs' RAM is carved from). */
  readonly ram: Uint8Array;
  /** One area a CPU, each sized for `cpuRamBytes` of RAM. */
  readonly areas: Uint8Array[];
}

/**
 * Allocates RAM of `ramBytes` and `cpus` CPU areas for CPUs of `cpuRamBytes` of RAM each
 * (the VMs' RAM under the hypervisor; RAM itself on the bare machine). `maxWasmPages`
 * is the host's limit, lowered by tests.
 */
export function machineMemory(ramBytes: number, cpus: number, cpuRamBytes = ramBytes, maxWasmPages = MAX_WASM_PAGES): MachineMemory {
  const area = areaBytes(cpuRamBytes);
  const ramAt = cpus * area;
  const total = ramAt + ramBytes;
  let wasm: WebAssembly.Memory | null = null;
  const pages = Math.ceil(total / WASM_PAGE);
  if (pages <= maxWasmPages) {
    try {
      wasm = new WebAssembly.Memory({ initial: pages, maximum: pages });
    } catch {
      wasm = null; // the host's limit on address space: the plain buffer below
    }
  }
  const buffer = wasm !== null ? wasm.buffer : new ArrayBuffer(total);
  const areas: Uint8Array[] = [];
  for (let i = 0; i < cpus; i++) areas.push(new Uint8Array(buffer, i * area, area));
  return { wasm, ram: new Uint8Array(buffer, ramAt, ramBytes), areas };
}
