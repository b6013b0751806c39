/**
 * The whole of what the CPU knows about the world outside it (DESIGN.md section 2).
 *
 * The CPU does its own segmentation and paging; what reaches the bus is a physical
 * address or an I/O port. RAM is a plain Uint8Array that the CPU reads directly for
 * speed; everything else (port I/O, the interrupt acknowledge cycle) is a call.
 * A machine, a VM or a test harness implements this; the CPU imports nothing else.
 */
export interface CpuBus {
  /**
   * Physical RAM starting at physical address 0. Accesses at or past `ram.length` go to
   * `mmioRead`/`mmioWrite` (an open bus without them: reads all ones, writes dropped). Whoever writes RAM other than
   * through the CPU (a loader, device DMA) must call `Cpu.invalidateCode` for the range.
   */
  readonly ram: Uint8Array;
  /**
   * Optional: this CPU's area of the machine's memory (memory.ts), in the buffer that
   * holds `ram`: the registers, the segment bases, the software TLB and the code-page map
   * are kept there. Without it the CPU keeps them in buffers of its own, and translates to
   * JavaScript only.
   */
  readonly area?: Uint8Array;
  /** Optional: the WebAssembly memory whose buffer holds `ram` and `area`, which translated WebAssembly code imports. */
  readonly wasmMemory?: WebAssembly.Memory | null;
  /** An IN of `size` bytes (1, 2 or 4) from `port` (0..0xFFFF). Returns the value, zero-extended. */
  ioRead(port: number, size: number): number;
  /** An OUT of `size` bytes (1, 2 or 4) of `value` to `port`. */
  ioWrite(port: number, size: number, value: number): void;
  /**
   * Optional, for a REP OUTS forward over RAM: up to `count` OUTs to `port`, the values
   * little-endian in `ram` from physical address `at`, with exactly the effect of that
   * many ioWrite calls (their cycles charged as ioWrite charges them). At most those
   * that start before `budget` cycles run out, each costing its access plus
   * `extraCycles`; none where the device has no block path. Returns how many were made;
   * the CPU stops the string there if the budget is spent, else makes the rest one by one.
   */
  ioWriteBlock?(port: number, size: number, at: number, count: number, budget: number, extraCycles: number): number;
  /** The same for a REP INS: the values go little-endian into `ram` from `at`. */
  ioReadBlock?(port: number, size: number, at: number, count: number, budget: number, extraCycles: number): number;
  /**
   * Optional: a read of `size` bytes (1, 2 or 4) at a physical address at or past the
   * end of RAM (a device's memory-mapped registers). Without it, or where nothing is
   * mapped, such reads return all ones. An access of 2 or 4 bytes reaches the bus as one
   * access when it starts past RAM and does not cross a page.
   */
  mmioRead?(addr: number, size: number): number;
  /** Optional: the write at or past the end of RAM; without it such writes are dropped. */
  mmioWrite?(addr: number, size: number, value: number): void;
  /**
   * The interrupt acknowledge cycle: called when the CPU takes an external interrupt
   * (its `irqLine` is up and EFLAGS.IF is set). Returns the vector, 0..255.
   */
  acknowledgeInterrupt(): number;
  /**
   * Optional: the processor's local APIC, when the machine has one. CPUID then reports
   * it (leaf 1 EDX bit 9) and RDMSR/WRMSR of IA32_APIC_BASE (0x1B) reach `baseMsr`;
   * without it both say there is none (the MSR raises #GP).
   */
  readonly localApic?: { baseMsr: number } | null;
}

/** Why `Cpu.run` returned. */
export const enum StopReason {
  /** The cycle budget given to `run` is used up. */
  Budget = 0,
  /** HLT with interrupts enabled: the CPU waits for `irqLine`. */
  Halt = 1,
  /** Someone called `Cpu.requestStop()` (a debug-exit port, a hypervisor exit). */
  Requested = 2,
  /** A fault during double-fault delivery: the machine is dead (`Cpu.stopMessage` says why). */
  TripleFault = 3,
  /** HLT with interrupts disabled: nothing can wake the CPU. */
  Dead = 4,
}
