/**
 * The x86 CPU: architectural state, memory access through segmentation and paging,
 * lazy flags, the stack, exceptions and the run loop.
 *
 * Instruction semantics live in execute.ts (the opcode switch) and system.ts
 * (descriptors, interrupts, far control transfers); both work on this class's fields.
 * References are to the Intel SDM (vol. 1 basic architecture, vol. 2 instruction set,
 * vol. 3 system programming).
 *
 * Hot-path rules: registers in typed arrays, numbers only, no allocation per
 * instruction or per memory access; a fault unwinds with one preallocated sentinel.
 */
import { CpuBus, StopReason } from './bus';
import {
  CF, PF, AF, ZF, SF, OF, TF, IF, DF, IOPL, NT, RF, VM, AC, ID, FIXED_ONE, PARITY, LazyOp,
} from './flags';
import {
  EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, ES, CS, SS, DS, FS, GS, REG32_NAMES, SREG_NAMES,
  DE, DB, GP, PFV, SSV, DFV, TS, NP, CR0_PE, CR0_PG, CR0_WP, CR0_ET, CR4_PSE, CR4_PAE, CR4_PGE,
  TLB_SUP_READ, TLB_SUP_WRITE, TLB_USER_READ, TLB_USER_WRITE, TLB_GLOBAL, TLB_RAM, TLB_NOCODE,
  BLOCK_MODE_PAGED, BLOCK_MODE_USER, BLOCK_MODE_SEGS_SHIFT,
} from './registers';
import { step, interpret } from './execute';
import { Block, BlockCache, runBlock } from './translator';
import { deliverInterrupt } from './system';
import { Fpu } from './x87';
import { AREA_CODE_PAGES, AREA_REGS, AREA_SEG_BASE, AREA_TLB, areaBytes, pageGenAt } from './memory';
import { WasmContext } from './wasm-translator';

export { EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, ES, CS, SS, DS, FS, GS };

/** Thrown (never allocated anew) to unwind an instruction that faulted; see Cpu.fault. */
export const FAULT = { fault: true };
/**
 * The segments whose flatness is part of Cpu.blockMode: the ones translated code reaches
 * RAM through with no test of its own (FS and GS go through basedMask, tested inline;
 * CS-relative data through the checked path).
 */
const BLOCK_MODE_SEGMENTS = (1 << ES) | (1 << SS) | (1 << DS);

/** `pendingVector` for an instruction abandoned to be retried (see Cpu.retryInstruction). */
const RETRY = -2;
/** `pendingVector` for an instruction a translated block hands to the interpreter (see Cpu.leaveBlock). */
const LEAVE_BLOCK = -3;

/** The default cost of one instruction in machine cycles (DESIGN.md section 3). */
export const DEFAULT_INSTRUCTION_CYCLES = 1;

const TLB_TRACK_MAX = 4096;
/** The longest slice run() hands the hot loop, so `left` stays a small integer. */
const MAX_SLICE = 1 << 28;

/**
 * The address bits a PDE maps directly when it is a large page: 4 MiB pages with 32-bit
 * paging when CR4.PSE is set, 2 MiB ones with PAE whatever CR4.PSE says; 0 when the PDE
 * points at a page table.
 */
function largePageMask(pde: number, pae: boolean, cr4: number): number {
  if ((pde & 0x80) === 0) return 0;
  return pae ? 0xffe00000 | 0 : (cr4 & CR4_PSE) !== 0 ? 0xffc00000 | 0 : 0;
}

/** The address of the PTE mapping `lin` in the table `pde` points at (PAE: 512 eight-byte entries; else 1024 four-byte ones). */
function pteAddress(pde: number, lin: number, pae: boolean, a20Mask: number): number {
  const index = pae ? ((lin >>> 12) & 0x1ff) << 3 : ((lin >>> 12) & 0x3ff) << 2;
  return (((pde & ~0xfff) + index) & a20Mask) >>> 0;
}

/** Exception classes for the double-fault rules (SDM vol. 3, table 6-5). */
function isContributory(v: number): boolean {
  return v === DE || v === TS || v === NP || v === SSV || v === GP;
}

export class Cpu {
  // Fields set only in the constructor are `declare`d: a plain declaration is emitted as
  // a class field (ES2022), which holds undefined first, and V8 then no longer tracks
  // what the field holds (a typed array's map is checked at every access through it,
  // memSize is boxed and tested). Declared, each is created by its one assignment.

  // ---- General registers: one buffer seen at three widths. ----
  /** EAX ECX EDX EBX ESP EBP ESI EDI, in encoding order. */
  declare readonly reg32: Int32Array;
  declare readonly reg16: Uint16Array;
  declare readonly reg8: Uint8Array;
  eip = 0;

  // ---- Flags: `flags` holds every bit except those listed in `flagsLazy`. ----
  flags = FIXED_ONE;
  flagsLazy = 0;
  lazyOp: LazyOp = LazyOp.Logic;
  lazyA = 0;
  lazyB = 0;
  /** The result, already reduced to the operand size. */
  lazyR = 0;
  /** The operand's sign bit: 0x80, 0x8000 or 0x80000000|0. */
  lazySign = 0x80;

  // ---- Segment registers and their descriptor caches. ----
  readonly sreg = new Uint16Array(6);
  declare readonly segBase: Int32Array;
  /** Lowest valid offset (non-zero only for expand-down segments). */
  readonly segMin = new Float64Array(6);
  /** Highest offset a read may touch; -1 when the segment cannot be read (null, execute-only). */
  readonly segMaxR = new Float64Array(6);
  /** Highest offset a write may touch; -1 when the segment cannot be written. */
  readonly segMaxW = new Float64Array(6);
  /** The effective limit (highest valid offset for expand-up, see segMin for expand-down). */
  readonly segLimit = new Float64Array(6);
  /** The descriptor's high dword (type, S, DPL, P, AVL, D/B, G); 0 for a null selector. */
  readonly segFlags = new Int32Array(6);
  /** 1 where loadDescriptorCache filled the segment's cache (not real mode, not a null selector). */
  private readonly segFromDescriptor = new Uint8Array(6);
  /** Current privilege level (CS.RPL in protected mode; 0 in real mode). */
  cpl = 0;
  /** CS.D: default operand and address size of the code segment is 32 bits. */
  csD32 = false;
  /** SS.B: the stack pointer is ESP rather than SP. */
  ssB32 = false;

  gdtrBase = 0;
  gdtrLimit = 0xffff;
  idtrBase = 0;
  idtrLimit = 0x3ff;
  ldtrSel = 0;
  ldtrBase = 0;
  ldtrLimit = 0;
  trSel = 0;
  trBase = 0;
  trLimit = 0;
  /** The TSS descriptor's type: 9/11 for a 32-bit TSS, 1/3 for a 16-bit one. */
  trType = 0;

  cr0 = 0x60000010;
  /** The x87 FPU (x87.ts). Built in its power-on state; reset() (also INIT) leaves it alone (SDM vol. 3, 9.1.1). */
  readonly fpu = new Fpu();
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  /**
   * PAE paging's four page-directory-pointer-table entries, as the processor holds them
   * (low and high dword each): loaded from CR3 by a MOV to CR3, or to CR0 or CR4 that
   * turns PAE paging on, and used until the next such load (SDM vol. 3A, 4.4.1).
   */
  readonly pdpte = new Int32Array(8);
  readonly dr = new Int32Array(8);
  /** RDTSC returns cycles + tscOffset (WRMSR to IA32_TIME_STAMP_COUNTER moves the offset). */
  tscOffset = 0;
  /** IA32_BIOS_SIGN_ID (MSR 0x8B): as last written, or the microcode revision (0) after CPUID. */
  biosSignLo = 0;
  biosSignHi = 0;

  // ---- Memory and paging. ----
  declare readonly bus: CpuBus;
  declare readonly mem: Uint8Array;
  declare readonly mem32: Int32Array;
  /** RAM as words, for translated code's aligned 16-bit accesses. */
  declare readonly mem16: Uint16Array;
  /** RAM for word and dword accesses at any alignment (the interpreter's and translated code's): one load or store each. */
  declare readonly memView: DataView;
  declare readonly memSize: number;
  /**
   * On the hot paths this and the other boolean fields (smc, irqLine) are tested with
   * `=== true` or `=== false`: V8 does not track that a field only holds booleans, so
   * a bare `if (this.pagingOn)` compiles to a generic truthiness test, several branches
   * of machine code in every translated block that reads memory.
   */
  pagingOn = false;
  /**
   * The A20 gate: ANDed into every physical address. -1 when A20 is enabled; with it
   * disabled, bit 20 is forced to zero as on a PC (addresses wrap at 1 MiB).
   */
  a20Mask = -1;
  /**
   * The data segments whose offsets are physical addresses of RAM, one bit (1 << seg)
   * each: base 0, readable and writable from 0 to 4 GiB (expand-up, limit 4 GiB), with
   * paging off and A20 on; for SS also B = 1, so ESP is the stack pointer. Translated
   * code reads and writes such a segment's RAM straight from the typed arrays, with only
   * an alignment, bounds and code-page test (see translator.ts). updateFlat() keeps it:
   * every change of a segment cache, of paging or of A20 goes through a method that calls it.
   */
  flatMask = 0;
  /**
   * The same segments (base 0, 4 GiB) while paging is on: their offsets are linear
   * addresses, which translated code looks up in the TLB itself (see translator.ts).
   */
  pagedMask = 0;
  /**
   * While paging is on, the data segments whose offsets run to 4 GiB, readable and
   * writable (expand-up), whatever their base: Linux's FS, whose base is the per-CPU
   * area. Translated code adds the base and looks the linear address up in the TLB
   * itself, as for pagedMask, for accesses through FS and GS (see translator.ts).
   */
  basedMask = 0;
  /**
   * Memory accesses (and 32-bit pushes and pops) in translated code that missed the
   * inline path: a TLB miss or a page it does not allow, a word or dword across a page
   * with paging on, a segment that is not flat, a page past RAM or holding translated
   * code. For the bench.
   */
  memFallbacks = 0;
  /** What translated code may take as given; see updateBlockMode. */
  blockMode = 0;
  /** The segments that would be flat with paging off and A20 on. */
  private flatSegments = 0;
  /** The segments that would be in basedMask with paging on. */
  private wideSegments = 0;
  /** Linear page number -> physical page | TLB_* bits (0: walk the page tables). */
  declare readonly tlb: Int32Array;
  /** Which TLB entries are filled, so a flush clears only those. */
  private readonly tlbFilled = new Int32Array(TLB_TRACK_MAX);
  private tlbFilledCount = 0;
  private tlbOverflow = false;
  /** The TLB bit a data read or write needs at the current CPL. */
  tlbReadNeed = TLB_SUP_READ;
  tlbWriteNeed = TLB_SUP_WRITE;

  // ---- Instruction fetch cache: EIP values in [fetchLo, fetchHi) are in RAM at EIP + fetchDelta:
  // one page of it with paging on or A20 off, all of CS that is in RAM otherwise. ----
  fetchLo = 0;
  fetchHi = 0;
  fetchDelta = 0;
  /**
   * The window before the current one, with paging on or A20 off (one page each): a
   * refill for an EIP in it swaps the two rather than looking the page up again (LZ4
   * with paging on went back to the page it came from in 99% of 30 million refills).
   * Cleared with the current one (invalidateFetch), by everything that can make either
   * wrong.
   */
  private fetchLo2 = 0;
  private fetchHi2 = 0;
  private fetchDelta2 = 0;

  // ---- The block translator (translator.ts). ----
  /** Run straight-line code through the block translator; false: interpret everything. */
  useTranslator = true;
  /**
   * Translate blocks to WebAssembly where wasm-translator.ts covers them (its subset of
   * instructions), the rest to JavaScript; false: JavaScript only.
   */
  useWasm = true;
  /** What WebAssembly blocks share, when RAM and the area are in a WebAssembly.Memory (else null). */
  declare readonly wasm: WasmContext | null;
  declare readonly blocks: BlockCache;
  /** 1 for each physical page that holds translated code: writes there invalidate it. */
  declare readonly codePages: Uint8Array;
  /** Bumped on every write to a code page; a block is valid while its generation matches. */
  declare readonly pageGen: Int32Array;
  /** Set when a write hit a code page: the running block stops after this instruction. */
  smc = false;
  /** The block being executed, for counting its completed instructions after a fault. */
  block: Block | null = null;
  /** Instructions a looping block completed before its current iteration (fault accounting). */
  blockDone = 0;
  /** Instructions of the running block already charged (before a port access). */
  blockCommitted = 0;

  // ---- Per-instruction decode state (set by execute.step). ----
  instrEip = 0;
  o32 = false;
  a32 = false;
  segOvr = -1;
  /** 0: none, 1: REP/REPE (F3), 2: REPNE (F2). */
  rep = 0;
  eaSeg = DS;
  eaOff = 0;

  // ---- Run control. ----
  // The hot loop counts down `left`, a small integer, instead of adding to a double:
  // cycles = sliceEnd - left at every moment, and instructions = instrDone + sliceInstr.
  /** The cycle count at which the current slice ends. */
  private sliceEnd = 0;
  /** Cycles left in the current slice (a small integer: slices are capped at MAX_SLICE). */
  left = 0;
  private instrDone = 0;
  /** Instructions retired in the current slice. */
  sliceInstr = 0;
  private running = false;
  instructionCycles = DEFAULT_INSTRUCTION_CYCLES;
  /** What PAUSE (F3 90) costs in all; a machine sets it from its cost table (an instruction's cost alone by default). */
  pauseCycles = DEFAULT_INSTRUCTION_CYCLES;

  /** Takes the instruction costs from a machine's cost table (`devices/costs.ts`). */
  setCosts(costs: { readonly instructionCycles: number; readonly pauseCycles: number }): void {
    this.instructionCycles = costs.instructionCycles;
    this.pauseCycles = costs.pauseCycles;
  }
  /**
   * During a REP INS/OUTS, how many elements of this execution came before the current
   * port access (0 for the first, and for every other IN/OUT). A hypervisor reads it to
   * take one exit per string instruction rather than one per element, as KVM does.
   */
  ioRepeat = 0;
  /**
   * A REP INS/OUTS that the end of this run split (EIP back on it): the `ioRepeat` its
   * next element has, and its EIP (-1: the run split none).
   */
  ioRepeatSplit = 0;
  ioRepeatSplitEip = -1;
  /** Set by `resumeRepeat`: the REP INS/OUTS at `ioRepeatFromEip` counts its elements on from `ioRepeatFrom`. */
  ioRepeatFrom = 0;
  ioRepeatFromEip = -1;
  /**
   * An instruction tracer (`vpio run --trace cpu`, or a debugger: debug/session.ts):
   * `before` and `after` each instruction; `before` returning true stops the run before
   * the instruction (Cpu.requestStop), at the EIP it would have run. While one is set, the CPU interprets every instruction (no translated blocks); when
   * none is, the run loop pays one field check per block or interpreted instruction.
   */
  tracer: { before(cpu: Cpu): boolean | void; after(cpu: Cpu): void } | null = null;
  irqLine = false;
  /** The INTR pin is ignored until `instructions` passes this (one instruction after STI, MOV SS, POP SS). */
  inhibitIrqUntil = -1;
  halted = false;
  private stopRequested = false;
  private shutdown = false;
  stopMessage = '';
  /** Set by fault(); read by the run loop that catches FAULT. */
  pendingVector = -1;
  pendingError = -1;
  /** Vector of the exception being delivered, for the double-fault rules (-1: none). */
  delivering = -1;
  /**
   * ESP at the start of the few instructions that move ESP before they can still
   * fault (PUSHA, POPA, ENTER, LEAVE, POP r/m); -1 when no restore is needed.
   */
  espToRestore = -1;

  constructor(bus: CpuBus) {
    this.bus = bus;
    const area = bus.area;
    if (area !== undefined && (area.buffer !== bus.ram.buffer || area.byteOffset & 3 || area.length < areaBytes(bus.ram.length))) {
      throw new Error('Cpu: the area must be areaBytes(RAM) bytes, 4-byte aligned, in the buffer that holds RAM');
    }
    const buf = area !== undefined ? area.buffer : new ArrayBuffer(32);
    const regsAt = area !== undefined ? area.byteOffset + AREA_REGS : 0;
    this.reg32 = new Int32Array(buf, regsAt, 8);
    this.reg16 = new Uint16Array(buf, regsAt, 16);
    this.reg8 = new Uint8Array(buf, regsAt, 32);
    this.mem = bus.ram;
    if (this.mem.byteOffset & 3) throw new Error('Cpu: RAM must be 4-byte aligned in its buffer');
    this.mem32 = new Int32Array(this.mem.buffer, this.mem.byteOffset, this.mem.length >>> 2);
    this.mem16 = new Uint16Array(this.mem.buffer, this.mem.byteOffset, this.mem.length >>> 1);
    this.memView = new DataView(this.mem.buffer, this.mem.byteOffset, this.mem.length);
    this.memSize = this.mem.length;
    const pages = (this.memSize + 0xfff) >>> 12;
    this.codePages = area !== undefined ? new Uint8Array(area.buffer, area.byteOffset + AREA_CODE_PAGES, pages + 1) : new Uint8Array(pages + 1);
    this.tlb = area !== undefined ? new Int32Array(area.buffer, area.byteOffset + AREA_TLB, 1 << 20) : new Int32Array(1 << 20);
    this.segBase = area !== undefined ? new Int32Array(area.buffer, area.byteOffset + AREA_SEG_BASE, 6) : new Int32Array(6);
    this.pageGen = area !== undefined ? new Int32Array(area.buffer, area.byteOffset + pageGenAt(this.memSize), pages + 1) : new Int32Array(pages + 1);
    this.blocks = new BlockCache(pages + 1);
    this.wasm = area !== undefined && bus.wasmMemory ? new WasmContext(this, bus.wasmMemory, area) : null;
    this.reset();
  }

  /** The machine cycle counter. Bus handlers may add to it to charge latency. */
  get cycles(): number {
    return this.sliceEnd - this.left;
  }

  set cycles(v: number) {
    if (this.running) this.left = this.sliceEnd - v;
    else { this.sliceEnd = v; this.left = 0; }
  }

  /** Adds cycles (a device's latency) to the counter: the cheap form of `cycles += n`. */
  addCycles(n: number): void {
    if (this.running) this.left -= n;
    else this.cycles = this.cycles + n;
  }

  /** Instructions retired since power-on. */
  get instructions(): number {
    return this.instrDone + this.sliceInstr;
  }

  /** The cycle at which the current run() returns (Infinity when not running). */
  private runEnd = Infinity;

  /**
   * Makes the current run() return by `cycle` (a device armed a timer for then): the
   * owner fires it and runs the CPU on. No effect if the run ends earlier anyway.
   */
  stopAt(cycle: number): void {
    if (cycle >= this.runEnd) return;
    this.runEnd = cycle;
    if (this.running && cycle < this.sliceEnd) {
      const cut = this.sliceEnd - Math.max(cycle, this.cycles);
      this.sliceEnd -= cut;
      this.left -= cut;
    }
  }

  /** Ends the current slice after this instruction, leaving the cycle count as it is. */
  private endSlice(): void {
    this.sliceEnd -= this.left;
    this.left = 0;
  }

  /** Saves ESP for an instruction that moves it before a later part can fault. */
  saveEsp(): void {
    this.espToRestore = this.reg32[ESP];
  }

  // ======================================================================
  // Reset and hand-off states
  // ======================================================================

  /** Power-on state (SDM vol. 3, 9.1.1): real mode, CS:IP = F000:FFF0 with CS base FFFF0000. */
  reset(): void {
    this.reg32.fill(0);
    this.reg32[EDX] = 0x00000611; // family 6, model 1, stepping 1 (a Pentium Pro signature)
    this.flags = FIXED_ONE;
    this.flagsLazy = 0;
    this.cr0 = 0x60000000 | CR0_ET;
    this.cr2 = this.cr3 = this.cr4 = 0;
    this.pdpte.fill(0);
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.gdtrBase = 0; this.gdtrLimit = 0xffff;
    this.idtrBase = 0; this.idtrLimit = 0xffff;
    this.ldtrSel = 0; this.ldtrBase = 0; this.ldtrLimit = 0xffff;
    this.trSel = 0; this.trBase = 0; this.trLimit = 0xffff; this.trType = 11;
    for (let s = 0; s < 6; s++) this.loadRealSegment(s, 0);
    this.loadRealSegment(CS, 0xf000);
    this.segBase[CS] = 0xffff0000 | 0;
    this.eip = 0xfff0;
    this.cpl = 0;
    this.csD32 = false;
    this.ssB32 = false;
    this.pagingOn = false;
    this.a20Mask = -1;
    this.updateFlat();
    this.tscOffset = 0;
    this.biosSignLo = 0;
    this.biosSignHi = 0;
    this.halted = false;
    this.shutdown = false;
    this.delivering = -1;
    this.inhibitIrqUntil = -1;
    this.stopMessage = '';
    this.flushTlb(true);
    this.updateCplAccess();
    this.invalidateCode(0, this.memSize);
  }

  /**
   * Tells the CPU that RAM in [addr, addr+len) changed behind its back (a loader, a
   * device's DMA): translated code there is dropped. CPU writes do this themselves.
   */
  invalidateCode(addr: number, len: number): void {
    const first = Math.max(0, addr >>> 12);
    const last = Math.min(this.codePages.length - 1, (addr + Math.max(len, 1) - 1) >>> 12);
    for (let page = first; page <= last; page++) {
      if (this.codePages[page] !== 0) {
        this.codePages[page] = 0;
        this.setNoCode(page, true);
        this.pageGen[page]++;
        this.smc = true;
        this.blocks.invalidated(page, this.instructions);
      }
    }
  }

  /**
   * The machine state a Multiboot loader hands over (Multiboot 0.6.96, section 3.2):
   * protected mode, CS a flat 32-bit execute/read segment, DS/ES/FS/GS/SS flat 32-bit
   * read/write segments, paging off, IF clear. The GDTR is left pointing at nothing:
   * the guest must load its own GDT before it loads a segment register.
   */
  /** Flat 32-bit protected mode at `eip`, paging off, CPL 0: CS `cs`, the data segments `ds` (a loader's selectors). */
  enterFlat32(eip: number, cs = 0x08, ds = 0x10): void {
    this.cr0 = (this.cr0 | CR0_PE) & ~CR0_PG;
    this.pagingOn = false;
    this.flags = FIXED_ONE;
    this.flagsLazy = 0;
    for (let s = 0; s < 6; s++) {
      const code = s === CS;
      // Flat: base 0, limit FFFFF with G=1, P=1, DPL 0, S=1, D/B=1.
      const hi = code ? 0x00cf9b00 : 0x00cf9300;
      this.loadDescriptorCache(s, code ? cs : ds, 0, 0xffffffff, hi);
    }
    this.cpl = 0;
    this.csD32 = true;
    this.ssB32 = true;
    this.updateFlat();
    this.updateCplAccess();
    this.eip = eip >>> 0;
    this.invalidateFetch();
  }

  // ======================================================================
  // Flags
  // ======================================================================

  getCF(): number {
    if (this.flagsLazy & CF) {
      const a = this.lazyA, b = this.lazyB, r = this.lazyR;
      switch (this.lazyOp) {
        case LazyOp.Add: return ((a & b) | ((a | b) & ~r)) & this.lazySign ? 1 : 0;
        case LazyOp.Sub: return ((~a & b) | ((~a | b) & r)) & this.lazySign ? 1 : 0;
        default: return 0;
      }
    }
    return this.flags & CF;
  }

  getOF(): boolean {
    if (this.flagsLazy & OF) {
      const a = this.lazyA, b = this.lazyB, r = this.lazyR;
      switch (this.lazyOp) {
        case LazyOp.Add: return (((a ^ r) & (b ^ r)) & this.lazySign) !== 0;
        case LazyOp.Sub: return (((a ^ b) & (a ^ r)) & this.lazySign) !== 0;
        default: return false;
      }
    }
    return (this.flags & OF) !== 0;
  }

  getZF(): boolean {
    return this.flagsLazy & ZF ? this.lazyR === 0 : (this.flags & ZF) !== 0;
  }

  getSF(): boolean {
    return this.flagsLazy & SF ? (this.lazyR & this.lazySign) !== 0 : (this.flags & SF) !== 0;
  }

  getPF(): boolean {
    return this.flagsLazy & PF ? PARITY[this.lazyR & 0xff] !== 0 : (this.flags & PF) !== 0;
  }

  getAF(): boolean {
    if (this.flagsLazy & AF) {
      return this.lazyOp === LazyOp.Logic ? false : ((this.lazyA ^ this.lazyB ^ this.lazyR) & 0x10) !== 0;
    }
    return (this.flags & AF) !== 0;
  }

  /** EFLAGS with every lazy bit worked out (what PUSHF would push, before masking VM/RF). */
  getEflags(): number {
    let f = this.flags;
    const lazy = this.flagsLazy;
    if (lazy) {
      f &= ~lazy;
      let v = 0;
      if (lazy & CF) v |= this.getCF();
      if (lazy & PF) v |= PARITY[this.lazyR & 0xff];
      if ((lazy & AF) && this.getAF()) v |= AF;
      if ((lazy & ZF) && this.lazyR === 0) v |= ZF;
      if ((lazy & SF) && (this.lazyR & this.lazySign)) v |= SF;
      if ((lazy & OF) && this.getOF()) v |= OF;
      f |= v & lazy;
    }
    return f | FIXED_ONE;
  }

  /**
   * Sets EFLAGS wholesale (no privilege checks: callers such as POPF and IRET apply them).
   * VM is kept as it is: only entering and leaving virtual-8086 mode change it (setVm).
   * Bits that do not exist on this CPU (VIF, VIP, reserved) stay zero.
   */
  setEflags(v: number): void {
    const writable = CF | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | RF | AC | ID;
    this.flags = (v & writable) | (this.flags & VM) | FIXED_ONE;
    this.flagsLazy = 0;
  }

  /** Virtual-8086 mode: EFLAGS.VM (SDM vol. 3, chapter 20). Only meaningful with CR0.PE. */
  get v86(): boolean {
    return (this.flags & VM) !== 0;
  }

  /** Sets or clears EFLAGS.VM; the caller loads the segments and CPL that go with it. */
  setVm(on: boolean): void {
    this.flags = on ? this.flags | VM : this.flags & ~VM;
  }

  /** Makes the status flags concrete (before an instruction sets only some of them). */
  materializeFlags(): void {
    if (this.flagsLazy) {
      this.flags = this.getEflags();
      this.flagsLazy = 0;
    }
  }

  setCF(on: boolean): void {
    this.materializeFlags();
    this.flags = on ? this.flags | CF : this.flags & ~CF;
  }

  // ======================================================================
  // Paging (SDM vol. 3, chapter 4, 32-bit paging)
  // ======================================================================

  /** Drives the A20M# pin (port 0x92 bit 1, or the keyboard controller). */
  setA20(enabled: boolean): void {
    const mask = enabled ? -1 : ~0x100000;
    if (mask === this.a20Mask) return;
    this.a20Mask = mask;
    this.flushTlb(true);
    this.updateFlat();
  }

  /** CR3 writes flush non-global entries; CR0/CR4 paging changes flush all of them. */
  flushTlb(includingGlobal: boolean): void {
    const tlb = this.tlb;
    if (this.tlbOverflow) {
      if (includingGlobal || !(this.cr4 & CR4_PGE)) tlb.fill(0);
      else for (let i = 0; i < tlb.length; i++) if (!(tlb[i] & TLB_GLOBAL)) tlb[i] = 0;
    } else {
      const filled = this.tlbFilled;
      let keep = 0;
      const keepGlobal = !includingGlobal && (this.cr4 & CR4_PGE) !== 0;
      for (let i = 0; i < this.tlbFilledCount; i++) {
        const page = filled[i];
        if (keepGlobal && (tlb[page] & TLB_GLOBAL)) filled[keep++] = page;
        else tlb[page] = 0;
      }
      this.tlbFilledCount = keep;
    }
    if (includingGlobal || this.tlbOverflow) { this.tlbOverflow = false; if (includingGlobal) this.tlbFilledCount = 0; }
    this.invalidateFetch();
  }

  /** INVLPG: drops one linear page's translation (global or not). */
  invalidatePage(lin: number): void {
    this.tlb[lin >>> 12] = 0;
    this.invalidateFetch();
  }

  /**
   * The window is now the page at `lo` (paging on, CS flat), found at `lo + delta`
   * through the TLB without a refill (WebAssembly blocks went on into it:
   * WasmContext.link); the one it replaces becomes the window before, as in refillFetch.
   */
  moveFetch(lo: number, delta: number): void {
    this.fetchLo2 = this.fetchLo; this.fetchHi2 = this.fetchHi; this.fetchDelta2 = this.fetchDelta;
    this.fetchLo = lo; this.fetchHi = lo + 0x1000; this.fetchDelta = delta;
  }

  invalidateFetch(): void {
    this.fetchLo = 0;
    this.fetchHi = 0;
    this.fetchLo2 = 0;
    this.fetchHi2 = 0;
  }

  /**
   * For traces and debuggers: the byte at a linear address through the current paging,
   * or -1 where nothing is mapped. No fault, no accessed or dirty bit, no TLB fill.
   */
  peekLinear8(lin: number): number {
    const phys = this.peekPhysical(lin);
    return phys < 0 ? -1 : this.mem[phys];
  }

  /**
   * For debuggers: the RAM address a linear address maps to through the current paging
   * (whatever the privilege and write permission), or -1 where nothing is mapped or the
   * page is not RAM. No fault, no accessed or dirty bit, no TLB fill.
   */
  peekPhysical(lin: number): number {
    let phys = lin >>> 0;
    if (this.cr0 & CR0_PG) {
      const pae = (this.cr4 & CR4_PAE) !== 0;
      const pdeAddr = this.pdeAddress(lin, pae);
      if (pdeAddr < 0) return -1;
      const pde = this.readPhys32(pdeAddr);
      if (!(pde & 1) || (pae && this.readPhys32(pdeAddr + 4) !== 0)) return -1;
      const large = largePageMask(pde, pae, this.cr4);
      if (large !== 0) {
        phys = ((pde & large) + (lin & ~large)) >>> 0;
      } else {
        const pteAddr = pteAddress(pde, lin, pae, this.a20Mask);
        const pte = this.readPhys32(pteAddr);
        if (!(pte & 1) || (pae && this.readPhys32(pteAddr + 4) !== 0)) return -1;
        phys = ((pte & ~0xfff) + (lin & 0xfff)) >>> 0;
      }
    }
    phys = (phys & this.a20Mask) >>> 0;
    return phys < this.memSize ? phys : -1;
  }

  /**
   * The address of the PDE mapping `lin`: from CR3 with 32-bit paging (1024 four-byte
   * entries a table), from the PDPTE register with PAE (512 eight-byte ones; SDM vol.
   * 3A, 4.4), or -1 where that PDPTE is not present.
   */
  private pdeAddress(lin: number, pae: boolean): number {
    if (!pae) return (((this.cr3 & ~0xfff) + ((lin >>> 22) << 2)) & this.a20Mask) >>> 0;
    const pdpte = this.pdpte[(lin >>> 30) << 1];
    if (!(pdpte & 1)) return -1;
    return (((pdpte & ~0xfff) + (((lin >>> 21) & 0x1ff) << 3)) & this.a20Mask) >>> 0;
  }

  /** Paging, protection and A/D-bit work of a TLB miss. Returns the physical address. */
  translate(lin: number, write: boolean, user: boolean): number {
    const page = lin >>> 12;
    const pae = (this.cr4 & CR4_PAE) !== 0;
    let errBase = (write ? 2 : 0) | (user ? 4 : 0);
    const pdeAddr = this.pdeAddress(lin, pae);
    if (pdeAddr < 0) return this.pageFault(lin, errBase);
    const pde = this.readPhys32(pdeAddr);
    if (!(pde & 1)) return this.pageFault(lin, errBase);
    const large = largePageMask(pde, pae, this.cr4);
    // PAE's reserved bits (#PF with RSVD and P): an entry's high dword (bit 63, XD, is
    // reserved without IA32_EFER.NXE, which a P6 has not; physical addresses are 32 bits
    // here: see loadPdptes) and a 2 MiB page's bits 20:13.
    if (pae && (this.readPhys32(pdeAddr + 4) !== 0 || (large !== 0 && (pde & 0x1fe000) !== 0))) return this.pageFault(lin, errBase | 9);
    let entryAddr: number, entry: number, physPage: number, rw: boolean, us: boolean, global: boolean;
    if (large !== 0) {
      // A large page (4 MiB, or 2 MiB with PAE): the PDE maps it directly.
      entryAddr = pdeAddr;
      entry = pde;
      physPage = (((pde & large) + (lin & ~large & ~0xfff)) & this.a20Mask) >>> 0;
      rw = (pde & 2) !== 0;
      us = (pde & 4) !== 0;
      global = (pde & 0x100) !== 0;
    } else {
      const pteAddr = pteAddress(pde, lin, pae, this.a20Mask);
      const pte = this.readPhys32(pteAddr);
      if (!(pte & 1)) return this.pageFault(lin, errBase);
      if (pae && this.readPhys32(pteAddr + 4) !== 0) return this.pageFault(lin, errBase | 9);
      entryAddr = pteAddr;
      entry = pte;
      physPage = (pte & ~0xfff & this.a20Mask) >>> 0;
      // Both levels must allow an access (SDM vol. 3, 4.6.1).
      rw = (pde & pte & 2) !== 0;
      us = (pde & pte & 4) !== 0;
      global = (pte & 0x100) !== 0;
    }
    errBase |= 1; // the page was present: any fault from here is a protection fault
    if (user) {
      if (!us) return this.pageFault(lin, errBase);
      if (write && !rw) return this.pageFault(lin, errBase);
    } else if (write && !rw && (this.cr0 & CR0_WP)) {
      return this.pageFault(lin, errBase);
    }
    // The accessed bits only for an access that is allowed: a protection fault leaves the
    // PDE's as it was (i386 manual, 5.2.4.4: A is set "before a read or write"; Bochs, whose
    // behaviour test386 checks, does the same).
    if (entryAddr !== pdeAddr && !(pde & 0x20)) this.writePhys32(pdeAddr, pde | 0x20);
    const newEntry = entry | 0x20 | (write ? 0x40 : 0);
    if (newEntry !== entry) this.writePhys32(entryAddr, newEntry);
    // Fill the TLB: reads are allowed as checked; writes only once D is set.
    let bits = TLB_SUP_READ;
    if (us) bits |= TLB_USER_READ;
    if (newEntry & 0x40) {
      if (rw || !(this.cr0 & CR0_WP)) bits |= TLB_SUP_WRITE;
      if (us && rw) bits |= TLB_USER_WRITE;
    }
    if (global && (this.cr4 & CR4_PGE)) bits |= TLB_GLOBAL;
    if (physPage + 4096 <= this.memSize) bits |= this.codePages[physPage >>> 12] === 0 ? TLB_RAM | TLB_NOCODE : TLB_RAM;
    if (this.tlb[page] === 0) {
      if (this.tlbFilledCount < TLB_TRACK_MAX) this.tlbFilled[this.tlbFilledCount++] = page;
      else this.tlbOverflow = true;
    }
    this.tlb[page] = (physPage | bits) | 0;
    return (physPage + (lin & 0xfff)) >>> 0;
  }

  private pageFault(lin: number, errorCode: number): never {
    this.cr2 = lin | 0;
    return this.fault(PFV, errorCode);
  }

  /** Linear to physical for a data access at the current privilege level. */
  linToPhysRead(lin: number): number {
    if (this.pagingOn === false) return (lin & this.a20Mask) >>> 0;
    const e = this.tlb[lin >>> 12];
    if (e & this.tlbReadNeed) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    return this.translate(lin, false, this.cpl === 3);
  }

  linToPhysWrite(lin: number): number {
    if (this.pagingOn === false) return (lin & this.a20Mask) >>> 0;
    const e = this.tlb[lin >>> 12];
    if (e & this.tlbWriteNeed) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    return this.translate(lin, true, this.cpl === 3);
  }

  /** Supervisor-level translation for descriptor tables and the TSS (implicit accesses). */
  linToPhysSystem(lin: number, write: boolean): number {
    if (this.pagingOn === false) return (lin & this.a20Mask) >>> 0;
    const e = this.tlb[lin >>> 12];
    if (e & (write ? TLB_SUP_WRITE : TLB_SUP_READ)) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    return this.translate(lin, write, false);
  }

  /**
   * Physical page `page` now holds translated code (BlockCache): translated code must no
   * longer write it inline through any TLB entry (TLB_NOCODE), but the checked way,
   * which drops the code.
   */
  codeMarked(page: number): void {
    this.setNoCode(page, false);
  }

  /**
   * RAM and this CPU's area were written from a snapshot (snapshot/machine.ts). The
   * area holds one cache of this process's own: the WebAssembly dispatcher's links,
   * which name table entries of the process that saved it. They are made again from the
   * blocks this CPU holds. (Everything else there is the machine's state: the code-page
   * map and generations came with the RAM they describe.)
   */
  memoryLoaded(): void {
    if (this.wasm !== null) this.wasm.relink(this.blocks);
  }

  /** Every page's translated code was dropped (BlockCache.flush): entries of RAM pages may write inline again. */
  codeFlushed(): void {
    this.setNoCode(-1, true);
  }

  /**
   * Sets (`on`) or clears TLB_NOCODE in the TLB entries that map physical page `page` (-1:
   * every page) in RAM. The filled entries are listed, up to TLB_TRACK_MAX of them, past
   * which every entry is looked at: a page becomes code when a block is compiled, which
   * costs far more.
   */
  private setNoCode(page: number, on: boolean): void {
    const tlb = this.tlb;
    const all = this.tlbOverflow;
    const n = all ? tlb.length : this.tlbFilledCount;
    for (let k = 0; k < n; k++) {
      const i = all ? k : this.tlbFilled[k];
      const e = tlb[i];
      if ((e & TLB_RAM) === 0 || (page >= 0 && e >>> 12 !== page)) continue;
      tlb[i] = on ? e | TLB_NOCODE : e & ~TLB_NOCODE;
    }
  }

  updateCplAccess(): void {
    const user = this.cpl === 3;
    this.tlbReadNeed = user ? TLB_USER_READ : TLB_SUP_READ;
    this.tlbWriteNeed = user ? TLB_USER_WRITE : TLB_SUP_WRITE;
    this.updateBlockMode();
  }

  /**
   * What translated code may take as given (Block.mode): paging on or off; which of ES,
   * SS and DS its memory accesses may take straight to RAM (flatMask with paging off,
   * pagedMask with it on); with paging on, whether at CPL 3 (the TLB bits an access
   * needs). A block runs only in the mode it was translated in (runBlock).
   */
  private updateBlockMode(): void {
    const segs = (this.pagingOn ? this.pagedMask : this.flatMask) & BLOCK_MODE_SEGMENTS;
    this.blockMode = (this.pagingOn ? BLOCK_MODE_PAGED | (this.cpl === 3 ? BLOCK_MODE_USER : 0) : 0) | (segs << BLOCK_MODE_SEGS_SHIFT);
  }

  // ======================================================================
  // Physical memory: RAM from 0; beyond it the bus's memory-mapped I/O, or an open bus
  // (reads all ones, writes dropped). A word or dword that starts in RAM and runs past
  // its end is split into bytes; one that starts past it is one bus access.
  // ======================================================================

  /** A read past RAM: the machine's memory-mapped I/O, or all ones. */
  private busRead(p: number, size: number): number {
    const bus = this.bus;
    if (bus.mmioRead === undefined) return size === 4 ? -1 : (1 << (size * 8)) - 1;
    if (this.block !== null) this.leaveBlock();
    return bus.mmioRead(p, size);
  }

  private busWrite(p: number, size: number, v: number): void {
    const bus = this.bus;
    if (bus.mmioWrite === undefined) return;
    if (this.block !== null) this.leaveBlock();
    bus.mmioWrite(p, size, size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1));
  }

  /**
   * A device's memory is reached from a translated block: the instruction is abandoned
   * as a fault abandons it, and the interpreter runs it. A block charges its instructions
   * when it returns, so inside one the clock a device would read (a timer's count, the
   * RTL8139's TCTR) still stands where the block began; and it checks for an interrupt
   * or the slice's end only after port I/O, so a device's latency or an interrupt it
   * raises would be seen late. The interpreter charges each instruction before the next,
   * as the machine's clock must; what the guest sees is the same either way.
   */
  private leaveBlock(): never {
    this.pendingVector = LEAVE_BLOCK;
    throw FAULT;
  }

  /** Set when a block has left an instruction to the interpreter: the run loop runs it next, by itself. */
  private interpretNext = false;

  readPhys8(p: number): number {
    return p < this.memSize ? this.mem[p] : this.busRead(p, 1);
  }

  readPhys16(p: number): number {
    if (p + 1 < this.memSize) return this.mem[p] | (this.mem[p + 1] << 8);
    if (p >= this.memSize) return this.busRead(p, 2);
    return this.readPhys8(p) | (this.readPhys8(p + 1) << 8);
  }

  readPhys32(p: number): number {
    if (p + 3 < this.memSize) {
      if ((p & 3) === 0) return this.mem32[p >>> 2];
      const m = this.mem;
      return m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24);
    }
    if (p >= this.memSize) return this.busRead(p, 4) | 0;
    return this.readPhys16(p) | (this.readPhys16(p + 2) << 16);
  }

  writePhys8(p: number, v: number): void {
    if (p < this.memSize) {
      this.mem[p] = v;
      if (this.codePages[p >>> 12] !== 0) this.invalidateCode(p, 1);
    } else {
      this.busWrite(p, 1, v);
    }
  }

  writePhys16(p: number, v: number): void {
    if (p + 1 < this.memSize) {
      this.mem[p] = v;
      this.mem[p + 1] = v >> 8;
      if ((this.codePages[p >>> 12] | this.codePages[(p + 1) >>> 12]) !== 0) this.invalidateCode(p, 2);
    } else if (p >= this.memSize) {
      this.busWrite(p, 2, v);
    } else {
      this.writePhys8(p, v);
      this.writePhys8(p + 1, v >> 8);
    }
  }

  writePhys32(p: number, v: number): void {
    if (p + 3 < this.memSize) {
      if ((p & 3) === 0) this.mem32[p >>> 2] = v;
      else {
        const m = this.mem;
        m[p] = v; m[p + 1] = v >> 8; m[p + 2] = v >> 16; m[p + 3] = v >> 24;
      }
      if ((this.codePages[p >>> 12] | this.codePages[(p + 3) >>> 12]) !== 0) this.invalidateCode(p, 4);
    } else if (p >= this.memSize) {
      this.busWrite(p, 4, v);
    } else {
      this.writePhys16(p, v);
      this.writePhys16(p + 2, v >> 16);
    }
  }

  // ======================================================================
  // Linear memory (after segmentation, before paging)
  // ======================================================================

  readLin8(lin: number): number {
    return this.readPhys8(this.linToPhysRead(lin));
  }

  readLin16(lin: number): number {
    if ((lin & 0xfff) === 0xfff) return this.readLin8(lin) | (this.readLin8(lin + 1) << 8);
    return this.readPhys16(this.linToPhysRead(lin));
  }

  readLin32(lin: number): number {
    if ((lin & 0xfff) > 0xffc) return this.readLin16(lin) | (this.readLin16(lin + 2) << 16);
    return this.readPhys32(this.linToPhysRead(lin));
  }

  writeLin8(lin: number, v: number): void {
    this.writePhys8(this.linToPhysWrite(lin), v);
  }

  writeLin16(lin: number, v: number): void {
    if ((lin & 0xfff) === 0xfff) {
      // Check both pages before writing either, so a fault leaves memory untouched.
      const p0 = this.linToPhysWrite(lin), p1 = this.linToPhysWrite(lin + 1);
      this.writePhys8(p0, v); this.writePhys8(p1, v >> 8);
      return;
    }
    this.writePhys16(this.linToPhysWrite(lin), v);
  }

  writeLin32(lin: number, v: number): void {
    const off = lin & 0xfff;
    if (off > 0xffc) {
      const p0 = this.linToPhysWrite(lin), p1 = this.linToPhysWrite((lin | 0xfff) + 1);
      for (let i = 0; i < 4; i++) {
        const p = off + i < 0x1000 ? p0 + i : p1 + (off + i - 0x1000);
        this.writePhys8(p, v >> (i * 8));
      }
      return;
    }
    this.writePhys32(this.linToPhysWrite(lin), v);
  }

  // ======================================================================
  // Segmented memory: limit and rights checks, then linear access.
  // ======================================================================

  /** #GP(0), or #SS(0) for the stack segment: the fault for a bad segment access. */
  segFault(seg: number): never {
    return this.fault(seg === SS ? SSV : GP, 0);
  }

  // Each access first serves a segment in flatMask (base 0, limits 4 GiB, paging off,
  // A20 on: the offset is the physical address, and no limit or right can fail) whose
  // bytes are all in RAM, at any alignment, with no other test: that much is small enough
  // for V8 to inline into every handler. Everything else is a call to the general path.
  // The offset is taken as an int32 (one of 2 GiB or more is negative, and goes the
  // general way): as a uint32, V8 would compile the test to deoptimize on such an offset.
  // With paging on, the same holds for a segment in pagedMask (the same segments: the
  // offset is the linear address) whose access stays in one page the TLB allows.

  read8(seg: number, off: number): number {
    if ((this.flatMask & (1 << seg)) !== 0) {
      const p = off | 0;
      if (p >= 0 && p < this.memSize) return this.mem[p];
    } else if ((this.pagedMask & (1 << seg)) !== 0) {
      const e = this.tlb[off >>> 12];
      if ((e & this.tlbReadNeed) !== 0) {
        const p = (e & ~0xfff) | (off & 0xfff);
        if (p >= 0 && p < this.memSize) return this.mem[p];
      }
    }
    return this.read8Slow(seg, off) | 0;
  }

  read16(seg: number, off: number): number {
    if ((this.flatMask & (1 << seg)) !== 0) {
      const p = off | 0;
      if (p >= 0 && p < this.memSize - 1) return this.memView.getUint16(p, true);
    } else if ((this.pagedMask & (1 << seg)) !== 0) {
      const e = this.tlb[off >>> 12];
      if ((off & 0xfff) !== 0xfff && (e & this.tlbReadNeed) !== 0) {
        const p = (e & ~0xfff) | (off & 0xfff);
        if (p >= 0 && p < this.memSize - 1) return this.memView.getUint16(p, true);
      }
    }
    return this.read16Slow(seg, off) | 0;
  }

  read32(seg: number, off: number): number {
    if ((this.flatMask & (1 << seg)) !== 0) {
      const p = off | 0;
      if (p >= 0 && p < this.memSize - 3) return this.memView.getInt32(p, true);
    } else if ((this.pagedMask & (1 << seg)) !== 0) {
      const e = this.tlb[off >>> 12];
      if ((off & 0xfff) <= 0xffc && (e & this.tlbReadNeed) !== 0) {
        const p = (e & ~0xfff) | (off & 0xfff);
        if (p >= 0 && p < this.memSize - 3) return this.memView.getInt32(p, true);
      }
    }
    return this.read32Slow(seg, off) | 0;
  }

  write8(seg: number, off: number, v: number): void {
    if ((this.flatMask & (1 << seg)) !== 0) {
      const p = off | 0;
      if (p >= 0 && p < this.memSize && this.codePages[p >>> 12] === 0) { this.mem[p] = v; return; }
    } else if ((this.pagedMask & (1 << seg)) !== 0) {
      const e = this.tlb[off >>> 12];
      if ((e & this.tlbWriteNeed) !== 0) {
        const p = (e & ~0xfff) | (off & 0xfff);
        if (p >= 0 && p < this.memSize && this.codePages[p >>> 12] === 0) { this.mem[p] = v; return; }
      }
    }
    this.write8Slow(seg, off, v);
  }

  write16(seg: number, off: number, v: number): void {
    if ((this.flatMask & (1 << seg)) !== 0) {
      const p = off | 0;
      if (p >= 0 && p < this.memSize - 1 && (this.codePages[p >>> 12] | this.codePages[(p + 1) >>> 12]) === 0) {
        this.memView.setUint16(p, v, true);
        return;
      }
    } else if ((this.pagedMask & (1 << seg)) !== 0) {
      const e = this.tlb[off >>> 12];
      if ((off & 0xfff) !== 0xfff && (e & this.tlbWriteNeed) !== 0) {
        const p = (e & ~0xfff) | (off & 0xfff);
        if (p >= 0 && p < this.memSize - 1 && this.codePages[p >>> 12] === 0) {
          this.memView.setUint16(p, v, true);
          return;
        }
      }
    }
    this.write16Slow(seg, off, v);
  }

  write32(seg: number, off: number, v: number): void {
    if ((this.flatMask & (1 << seg)) !== 0) {
      const p = off | 0;
      if (p >= 0 && p < this.memSize - 3 && (this.codePages[p >>> 12] | this.codePages[(p + 3) >>> 12]) === 0) {
        this.memView.setInt32(p, v, true);
        return;
      }
    } else if ((this.pagedMask & (1 << seg)) !== 0) {
      const e = this.tlb[off >>> 12];
      if ((off & 0xfff) <= 0xffc && (e & this.tlbWriteNeed) !== 0) {
        const p = (e & ~0xfff) | (off & 0xfff);
        if (p >= 0 && p < this.memSize - 3 && this.codePages[p >>> 12] === 0) {
          this.memView.setInt32(p, v, true);
          return;
        }
      }
    }
    this.write32Slow(seg, off, v);
  }

  private read8Slow(seg: number, off: number): number {
    const o = off >>> 0;
    if (o < this.segMin[seg] || o > this.segMaxR[seg]) this.segFault(seg);
    if (this.memWatch !== null) this.memWatch((this.segBase[seg] + o) | 0, 1, false);
    if (this.pagingOn === false) {
      // Without paging the linear address is physical: skip the layers (the common case).
      const p = ((this.segBase[seg] + o) & this.a20Mask) >>> 0;
      return p < this.memSize ? this.mem[p] : this.busRead(p, 1);
    }
    return this.readLin8(this.segBase[seg] + o);
  }

  private read16Slow(seg: number, off: number): number {
    const o = off >>> 0;
    if (o < this.segMin[seg] || o + 1 > this.segMaxR[seg]) this.segFault(seg);
    if (this.memWatch !== null) this.memWatch((this.segBase[seg] + o) | 0, 2, false);
    if (this.pagingOn === false) {
      // Without paging, a word within one page of RAM is read directly (the common case).
      const p = ((this.segBase[seg] + o) & this.a20Mask) >>> 0;
      if ((p & 0xfff) !== 0xfff && p + 1 < this.memSize) return this.mem[p] | (this.mem[p + 1] << 8);
    }
    return this.readLin16(this.segBase[seg] + o);
  }

  private read32Slow(seg: number, off: number): number {
    const o = off >>> 0;
    if (o < this.segMin[seg] || o + 3 > this.segMaxR[seg]) this.segFault(seg);
    if (this.memWatch !== null) this.memWatch((this.segBase[seg] + o) | 0, 4, false);
    const lin = (this.segBase[seg] + o) | 0;
    if (this.pagingOn === true) return this.readLin32(lin);
    const p = (lin & this.a20Mask) >>> 0;
    if ((p & 3) !== 0 || p + 3 >= this.memSize) return this.readLin32(lin);
    return this.mem32[p >>> 2];
  }

  private write8Slow(seg: number, off: number, v: number): void {
    const o = off >>> 0;
    if (o < this.segMin[seg] || o > this.segMaxW[seg]) this.segFault(seg);
    if (this.memWatch !== null) this.memWatch((this.segBase[seg] + o) | 0, 1, true);
    if (this.pagingOn === false) {
      this.writePhys8(((this.segBase[seg] + o) & this.a20Mask) >>> 0, v);
      return;
    }
    this.writeLin8(this.segBase[seg] + o, v);
  }

  private write16Slow(seg: number, off: number, v: number): void {
    const o = off >>> 0;
    if (o < this.segMin[seg] || o + 1 > this.segMaxW[seg]) this.segFault(seg);
    if (this.memWatch !== null) this.memWatch((this.segBase[seg] + o) | 0, 2, true);
    if (this.linearIsPhysical()) {
      // As in write32: aligned (so in one page), in RAM, no translated code there.
      const p = (this.segBase[seg] + o) >>> 0;
      if ((p & 1) === 0 && p + 1 < this.memSize && this.codePages[p >>> 12] === 0) {
        this.mem[p] = v;
        this.mem[p + 1] = v >> 8;
        return;
      }
    }
    this.writeLin16(this.segBase[seg] + o, v);
  }

  private write32Slow(seg: number, off: number, v: number): void {
    const o = off >>> 0;
    if (o < this.segMin[seg] || o + 3 > this.segMaxW[seg]) this.segFault(seg);
    if (this.memWatch !== null) this.memWatch((this.segBase[seg] + o) | 0, 4, true);
    if (this.linearIsPhysical()) {
      const p = (this.segBase[seg] + o) >>> 0;
      // The common case inline: aligned (so in one page), in RAM, no translated code there.
      if ((p & 3) === 0 && p + 3 < this.memSize && this.codePages[p >>> 12] === 0) this.mem32[p >>> 2] = v;
      else this.writePhys32(p, v);
      return;
    }
    this.writeLin32(this.segBase[seg] + o, v);
  }

  /** Checks that a write of `size` bytes at seg:off would be allowed, without writing. */
  checkWrite(seg: number, off: number, size: number): void {
    const o = off >>> 0;
    if (o < this.segMin[seg] || o + size - 1 > this.segMaxW[seg]) this.segFault(seg);
    const lin = this.segBase[seg] + o;
    this.linToPhysWrite(lin);
    if (((lin & 0xfff) + size - 1) > 0xfff) this.linToPhysWrite(lin + size - 1);
  }

  // ======================================================================
  // Instruction fetch
  // ======================================================================

  /** Refills the fetch window for EIP `e`, or returns false when it is not plain RAM. */
  refillFetch(e: number): boolean {
    if (e < this.fetchHi2 && e >= this.fetchLo2) {
      // Back in the page of the window before (a call and its return across two pages,
      // a loop that runs through two): swap the two, as valid as when they were made.
      const lo = this.fetchLo, hi = this.fetchHi, delta = this.fetchDelta;
      this.fetchLo = this.fetchLo2;
      this.fetchHi = this.fetchHi2;
      this.fetchDelta = this.fetchDelta2;
      this.fetchLo2 = lo;
      this.fetchHi2 = hi;
      this.fetchDelta2 = delta;
      return true;
    }
    if (e < this.segMin[CS] || e > this.segLimit[CS]) this.segFault(CS);
    if (this.linearIsPhysical()) {
      // Linear is physical: one window covers every EIP of CS whose byte is in RAM, so
      // jumps and calls between pages need no refill.
      const base = this.segBase[CS] >>> 0;
      if (base + e >= this.memSize) return false;
      // A code segment's lowest offset is 0; written as a small integer either way, so
      // that V8 keeps the field unboxed (fetch8 compares EIP with it every instruction).
      this.fetchLo = this.segMin[CS] === 0 ? 0 : e;
      this.fetchHi = Math.min(this.segLimit[CS] + 1, this.memSize - base);
      this.fetchDelta = base;
      return true;
    }
    const lin = (this.segBase[CS] + e) | 0;
    const phys = this.fetchPhys(lin);
    if (phys >= this.memSize) return false;
    const pageLeft = 0x1000 - (lin & 0xfff);
    let hi = e + pageLeft;
    const limitHi = this.segLimit[CS] + 1;
    if (hi > limitHi) hi = limitHi;
    if (phys + (hi - e) > this.memSize) hi = e + (this.memSize - phys);
    this.fetchLo2 = this.fetchLo;
    this.fetchHi2 = this.fetchHi;
    this.fetchDelta2 = this.fetchDelta;
    // The whole page, below EIP too (as far as CS reaches): a jump back within it, a
    // loop's or a return's, needs no refill.
    const lo = e - (lin & 0xfff);
    this.fetchLo = lo > this.segMin[CS] ? lo : this.segMin[CS];
    this.fetchHi = hi;
    this.fetchDelta = phys - e;
    return true;
  }

  /** The physical address of an instruction byte at linear `lin` (through the TLB with paging on; may fault). */
  private fetchPhys(lin: number): number {
    if (this.pagingOn !== true) return (lin & this.a20Mask) >>> 0;
    const ent = this.tlb[lin >>> 12];
    return ent & this.tlbReadNeed ? ((ent & ~0xfff) | (lin & 0xfff)) >>> 0 : this.translate(lin, false, this.cpl === 3);
  }

  /**
   * An instruction byte that is not in RAM (firmware's ROM at the top of the 4 GiB
   * space, where the CPU starts): read through the bus, a byte at a time.
   */
  private fetchOutsideRam(e: number): number {
    const phys = this.fetchPhys((this.segBase[CS] + e) | 0);
    this.eip = e + 1;
    return this.readPhys8(phys);
  }

  // The fetches are small so that V8 inlines them into every handler: a refill, a
  // byte outside RAM or an immediate that runs past the window is a call. A call's
  // result is `| 0`, as in read8 and the others: V8 does not know what a call returns,
  // and without it the fetched byte would be a boxed value, tested again at every use.

  fetch8(): number {
    const e = this.eip;
    if (e < this.fetchHi && e >= this.fetchLo) {
      this.eip = e + 1;
      return this.mem[e + this.fetchDelta];
    }
    return this.fetch8Refill(e) | 0;
  }

  private fetch8Refill(e: number): number {
    if (!this.refillFetch(e)) return this.fetchOutsideRam(e);
    this.eip = e + 1;
    return this.mem[e + this.fetchDelta];
  }

  fetch16(): number {
    const e = this.eip;
    if (e + 1 < this.fetchHi && e >= this.fetchLo) {
      this.eip = e + 2;
      return this.memView.getUint16(e + this.fetchDelta, true);
    }
    return this.fetch16Split() | 0;
  }

  private fetch16Split(): number {
    return this.fetch8() | (this.fetch8() << 8);
  }

  fetch32(): number {
    const e = this.eip;
    if (e + 3 < this.fetchHi && e >= this.fetchLo) {
      this.eip = e + 4;
      return this.memView.getInt32(e + this.fetchDelta, true);
    }
    return this.fetch32Split() | 0;
  }

  private fetch32Split(): number {
    return this.fetch16() | (this.fetch16() << 16);
  }

  // ======================================================================
  // The stack
  // ======================================================================

  push16(v: number): void {
    if (this.ssB32 === true) {
      const sp = (this.reg32[ESP] - 2) | 0;
      this.write16(SS, sp, v);
      this.reg32[ESP] = sp;
    } else {
      const sp = (this.reg16[ESP << 1] - 2) & 0xffff;
      this.write16(SS, sp, v);
      this.reg16[ESP << 1] = sp;
    }
  }

  push32(v: number): void {
    if (this.ssB32 === true) {
      const sp = (this.reg32[ESP] - 4) | 0;
      this.write32(SS, sp, v);
      this.reg32[ESP] = sp;
    } else {
      const sp = (this.reg16[ESP << 1] - 4) & 0xffff;
      this.write32(SS, sp, v);
      this.reg16[ESP << 1] = sp;
    }
  }

  pop16(): number {
    if (this.ssB32 === true) {
      const sp = this.reg32[ESP];
      const v = this.read16(SS, sp);
      this.reg32[ESP] = sp + 2;
      return v;
    }
    const sp = this.reg16[ESP << 1];
    const v = this.read16(SS, sp);
    this.reg16[ESP << 1] = sp + 2;
    return v;
  }

  pop32(): number {
    if (this.ssB32 === true) {
      const sp = this.reg32[ESP];
      const v = this.read32(SS, sp);
      this.reg32[ESP] = sp + 4;
      return v;
    }
    const sp = this.reg16[ESP << 1];
    const v = this.read32(SS, sp);
    this.reg16[ESP << 1] = sp + 4;
    return v;
  }

  /** The stack pointer as the current stack size sees it. */
  getSP(): number {
    return this.ssB32 === true ? this.reg32[ESP] : this.reg16[ESP << 1];
  }

  setSP(v: number): void {
    if (this.ssB32 === true) this.reg32[ESP] = v;
    else this.reg16[ESP << 1] = v;
  }

  // ======================================================================
  // Segment descriptor caches
  // ======================================================================

  /** Real-mode (and unreal-mode) segment load: only the base changes (SDM vol. 3, 9.9.1 and 21.1). */
  loadRealSegment(seg: number, sel: number): void {
    this.segFromDescriptor[seg] = 0;
    this.sreg[seg] = sel;
    this.segBase[seg] = sel << 4;
    if (this.segLimit[seg] === 0 && this.segFlags[seg] === 0) this.segLimit[seg] = 0xffff;
    const min = this.segMin[seg], max = min > 0 ? (this.segFlags[seg] & 0x400000 ? 0xffffffff : 0xffff) : this.segLimit[seg];
    // In real mode there are no rights: a cached null or read-only segment is usable again.
    this.segMaxR[seg] = max;
    this.segMaxW[seg] = max;
    if (this.segFlags[seg] === 0) this.segFlags[seg] = 0x9300; // present, DPL 0, writable data
    if (seg === CS) {
      this.csD32 = (this.segFlags[CS] & 0x400000) !== 0 && (this.cr0 & CR0_PE) !== 0;
      if (!(this.cr0 & CR0_PE)) this.csD32 = false;
      this.o32 = this.a32 = this.csD32;
      this.invalidateFetch();
    } else if (seg === SS) {
      this.ssB32 = (this.segFlags[SS] & 0x400000) !== 0 && (this.cr0 & CR0_PE) !== 0;
    }
    this.updateFlat(seg);
  }

  /**
   * A segment load in virtual-8086 mode (SDM vol. 3, 20.1.1): base selector << 4, and,
   * unlike real mode, the whole cache is set: limit FFFF, 16-bit, present, DPL 3,
   * read/write. CS too: the code is 16-bit and at CPL 3.
   */
  loadV86Segment(seg: number, sel: number): void {
    sel &= 0xffff;
    this.segFromDescriptor[seg] = 0;
    this.sreg[seg] = sel;
    this.segBase[seg] = sel << 4;
    this.segLimit[seg] = 0xffff;
    this.segMin[seg] = 0;
    this.segMaxR[seg] = 0xffff;
    this.segMaxW[seg] = 0xffff;
    this.segFlags[seg] = 0xf300;
    this.segmentSizeLoaded(seg, false);
  }

  /**
   * Fills a descriptor cache from a descriptor (base, byte-granular limit, high dword),
   * working out what the limit checks need. No checks here: callers have made them.
   */
  loadDescriptorCache(seg: number, sel: number, base: number, limit: number, hi: number): void {
    // The same descriptor again, as an interrupt handler reloads DS and an IRET CS: the
    // cache would come out the same, so it is left as it is. Only a cache this method
    // filled counts: real mode's keeps its own limits and rights (see loadRealSegment).
    if (this.segFromDescriptor[seg] === 1 && this.sreg[seg] === (sel & 0xffff) && this.segBase[seg] === (base | 0) &&
      this.segLimit[seg] === limit >>> 0 && this.segFlags[seg] === (hi | 0)) return;
    this.segFromDescriptor[seg] = 1;
    this.sreg[seg] = sel;
    this.segBase[seg] = base | 0;
    this.segFlags[seg] = hi;
    const type = (hi >>> 8) & 0xf;
    const code = (type & 8) !== 0;
    const big = (hi & 0x400000) !== 0;
    const lim = limit >>> 0;
    this.segLimit[seg] = lim;
    let min = 0, max = lim;
    if (!code && (type & 4)) {
      // Expand-down data: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF (SDM vol. 3, 3.4.5.1).
      min = lim + 1;
      max = big ? 0xffffffff : 0xffff;
    }
    this.segMin[seg] = min;
    this.segMaxR[seg] = code && !(type & 2) ? -1 : max;
    this.segMaxW[seg] = code || !(type & 2) ? -1 : max;
    this.segmentSizeLoaded(seg, big);
  }

  /** After a segment register's cache is filled: CS sets the code and default sizes (and the fetch window), SS the stack size. */
  private segmentSizeLoaded(seg: number, big: boolean): void {
    if (seg === CS) {
      this.csD32 = big;
      this.o32 = this.a32 = big;
      this.invalidateFetch();
    } else if (seg === SS) {
      this.ssB32 = big;
    }
    this.updateFlat(seg);
  }

  /** A null selector in DS, ES, FS or GS: any use faults with #GP(0). */
  loadNullSegment(seg: number, sel: number): void {
    this.segFromDescriptor[seg] = 0;
    this.sreg[seg] = sel;
    this.segBase[seg] = 0;
    this.segFlags[seg] = 0;
    this.segLimit[seg] = 0;
    this.segMin[seg] = 0;
    this.segMaxR[seg] = -1;
    this.segMaxW[seg] = -1;
    this.updateFlat(seg);
  }

  /**
   * Works out flatMask again (see there) after segment `seg` changed, or after anything
   * else did (-1: every segment). A segment load is on the interrupt path, so it looks
   * at its own segment only.
   */
  private updateFlat(seg = -1): void {
    if (seg >= 0) this.updateFlatSegment(seg);
    else for (let s = 0; s < 6; s++) this.updateFlatSegment(s);
    // Watched, every data access goes the general way, where memWatch sees it.
    const fast = this.memWatch === null;
    this.flatMask = fast && this.linearIsPhysical() ? this.flatSegments : 0;
    this.pagedMask = fast && this.pagingOn ? this.flatSegments : 0;
    this.basedMask = fast && this.pagingOn ? this.wideSegments : 0;
    this.updateBlockMode();
  }

  /**
   * A debugger's watch on data (debug/session.ts: read and access watchpoints): told of
   * every data read and write through a segment, with its linear address and size,
   * before it is made. While it is set the inline paths stand aside (flatMask, pagedMask
   * and basedMask are 0), so every such access takes the general path, where it is told;
   * the CPU is then slower, and nothing else changes. Instruction fetches, descriptor
   * tables, page walks and a task switch's own accesses are not data accesses here.
   */
  memWatch: ((lin: number, size: number, write: boolean) => void) | null = null;

  setMemWatch(watch: ((lin: number, size: number, write: boolean) => void) | null): void {
    this.memWatch = watch;
    this.updateFlat();
  }

  /** Segment `seg`'s bit in flatSegments: base 0, readable and writable to 4 GiB, and for SS a 32-bit ESP. */
  private updateFlatSegment(seg: number): void {
    const flat = seg !== CS && this.segBase[seg] === 0 && this.segMin[seg] === 0 && this.segMaxR[seg] === 0xffffffff &&
      this.segMaxW[seg] === 0xffffffff && (seg !== SS || this.ssB32 === true);
    this.flatSegments = flat ? this.flatSegments | (1 << seg) : this.flatSegments & ~(1 << seg);
    const wide = seg !== CS && seg !== SS && this.segMin[seg] === 0 && this.segMaxR[seg] === 0xffffffff && this.segMaxW[seg] === 0xffffffff;
    this.wideSegments = wide ? this.wideSegments | (1 << seg) : this.wideSegments & ~(1 << seg);
  }

  /** Paging off and A20 on: a linear address is the physical one. */
  linearIsPhysical(): boolean {
    return this.pagingOn === false && this.a20Mask === -1;
  }

  setCpl(cpl: number): void {
    this.cpl = cpl;
    this.updateCplAccess();
    this.invalidateFetch();
  }

  /** CR0 writes: PE and PG switch modes; paging changes flush the TLB. */
  setCr0(v: number): void {
    const old = this.cr0;
    v = (v | CR0_ET) | 0;
    if ((v & CR0_PG) && !(v & CR0_PE)) this.fault(GP, 0);
    // Paging turned on (or CD/NW changed with it on) with PAE: the PDPTEs are loaded (SDM vol. 3A, 4.4.1).
    if ((v & CR0_PG) && (this.cr4 & CR4_PAE) && ((old ^ v) & (CR0_PG | 0x60000000))) this.loadPdptes(this.cr3);
    this.cr0 = v;
    if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) {
      this.pagingOn = (v & CR0_PG) !== 0;
      this.flushTlb(true);
      this.updateFlat();
    }
    if ((old ^ v) & CR0_PE) {
      if (!(v & CR0_PE)) {
        // Back to real mode: CPL is 0 and stays so.
        this.setCpl(0);
      }
    }
  }

  setCr4(v: number): void {
    const supported = 0x04 | 0x08 | CR4_PSE | CR4_PAE | CR4_PGE;
    if (v & ~supported) this.fault(GP, 0);
    const old = this.cr4;
    // Turning PAE on (or PSE/PGE changed) with paging on loads the PDPTEs; a MOV that
    // would leave paging on with PAE off faults on processors that have PAE with long
    // mode only, not on a P6.
    if ((v & CR4_PAE) && (this.cr0 & CR0_PG) && ((old ^ v) & (CR4_PAE | CR4_PSE | CR4_PGE))) this.loadPdptes(this.cr3);
    this.cr4 = v;
    if ((old ^ v) & (CR4_PSE | CR4_PAE | CR4_PGE)) this.flushTlb(true);
  }

  setCr3(v: number): void {
    if ((this.cr4 & CR4_PAE) && (this.cr0 & CR0_PG)) this.loadPdptes(v);
    this.cr3 = v | 0;
    this.flushTlb(false);
  }

  /**
   * Loads the four PDPTEs from the 32-byte table CR3 (bits 31:5) points at, or raises
   * #GP(0) and loads none if a present one sets a reserved bit: bits 2:1 and 8:5, and
   * the high dword, where our physical addresses end (SDM vol. 3A, 4.4.1: bits 63 to
   * MAXPHYADDR; MAXPHYADDR is 36 on a P6 with PAE, 32 here, since nothing of this
   * machine lies above 4 GiB and a TLB entry holds a 32-bit page: a guest pointing an
   * entry above 4 GiB gets the reserved-bit fault rather than an open bus).
   */
  private loadPdptes(cr3: number): void {
    const base = (cr3 & ~0x1f) >>> 0;
    const lo = [0, 0, 0, 0], hi = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) {
      const a = (((base + i * 8) & this.a20Mask) >>> 0);
      lo[i] = this.readPhys32(a);
      hi[i] = this.readPhys32(a + 4);
      if ((lo[i] & 1) && ((lo[i] & 0x1e6) !== 0 || hi[i] !== 0)) this.fault(GP, 0);
    }
    for (let i = 0; i < 4; i++) { this.pdpte[i * 2] = lo[i]; this.pdpte[i * 2 + 1] = hi[i]; }
  }

  // ======================================================================
  // Exceptions and interrupts
  // ======================================================================

  /**
   * Raises exception `vector` with `errorCode` (-1: none) as a fault: the current
   * instruction is abandoned and EIP/ESP go back to their values at its start.
   */
  fault(vector: number, errorCode: number): never {
    this.pendingVector = vector;
    this.pendingError = errorCode;
    throw FAULT;
  }

  /**
   * Abandons the current instruction without an exception, for a hypervisor whose trap
   * handler cannot complete an access yet (the device belongs to another guest): EIP
   * goes back to the instruction, the current `run` returns `StopReason.Requested`, and
   * the instruction runs again when the CPU next runs. A REP string instruction resumes
   * at the element it had reached, as after an interrupt. Call it only from a bus access.
   */
  retryInstruction(): never {
    this.pendingVector = RETRY;
    this.ioRepeat = 0;
    throw FAULT;
  }

  /** True when the CPU is in protected mode (CR0.PE). */
  get protectedMode(): boolean {
    return (this.cr0 & CR0_PE) !== 0;
  }

  /**
   * Delivers the pending fault, applying the double-fault rules; a fault while
   * delivering a double fault shuts the CPU down (a triple fault).
   */
  private deliverPendingFault(): void {
    let vector = this.pendingVector;
    let error = this.pendingError;
    this.restoreAfterFault();
    for (;;) {
      const first = this.delivering;
      if (first >= 0) {
        if (first === DFV) {
          this.shutdownWith(`triple fault: exception ${vector} while delivering a double fault`);
          return;
        }
        const promote = (isContributory(first) && isContributory(vector)) ||
          (first === PFV && (vector === PFV || isContributory(vector)));
        if (promote) { vector = DFV; error = 0; }
      }
      this.delivering = vector;
      try {
        deliverInterrupt(this, vector, false, error, true);
        this.delivering = -1;
        return;
      } catch (e) {
        if (e !== FAULT) throw e;
        vector = this.pendingVector;
        error = this.pendingError;
        this.restoreAfterFault();
      }
    }
  }

  /** A fault abandons the instruction: back to its first byte, its prefixes undone. */
  private restoreAfterFault(): void {
    this.eip = this.instrEip;
    if (this.espToRestore !== -1) {
      this.reg32[ESP] = this.espToRestore;
      this.espToRestore = -1;
    }
    this.o32 = this.a32 = this.csD32;
    this.segOvr = -1;
    this.rep = 0;
    this.invalidateFetch();
  }

  private shutdownWith(why: string): void {
    this.shutdown = true;
    this.stopMessage = why;
    this.delivering = -1;
    this.endSlice();
  }

  /** Makes the current run() return StopReason.Requested after the current instruction. */
  requestStop(): void {
    this.stopRequested = true;
    this.endSlice();
  }

  /** HLT: stops the run loop until an interrupt. */
  halt(): void {
    this.halted = true;
    this.endSlice();
  }

  // ======================================================================
  // The run loop
  // ======================================================================

  /**
   * Runs until `cycleBudget` more cycles have passed, HLT, a stop request or a triple
   * fault. Long budgets are split into slices internally; the result is the same.
   */
  run(cycleBudget: number): StopReason {
    if (this.shutdown) return StopReason.TripleFault;
    this.stopRequested = false;
    this.ioRepeatSplitEip = -1;
    this.runEnd = this.cycles + cycleBudget;
    try {
      return this.runUntilEnd();
    } finally {
      this.runEnd = Infinity;
    }
  }

  /**
   * After a run that was stopped from outside (a cycle limit, a debugger), not at a
   * point of the machine's own: a REP INS/OUTS that the stop split goes on counting its
   * elements where it was, so that a hypervisor charges its later elements as later
   * elements (`ioRepeat` > 0), as in the run that did not stop. A split at the machine's
   * own events is a real one: the string starts counting again, as KVM takes a new exit
   * for a string instruction resumed after an exit.
   */
  resumeRepeat(): void {
    this.ioRepeatFrom = this.ioRepeatSplit;
    this.ioRepeatFromEip = this.ioRepeatSplitEip;
  }

  private runUntilEnd(): StopReason {
    for (;;) {
      const end = this.runEnd;
      const now = this.cycles;
      if (now >= end) return StopReason.Budget;
      if (this.halted) {
        if (this.irqLine && (this.flags & IF)) {
          this.halted = false;
        } else {
          // Time passes while the CPU waits for an interrupt (to the end of the run).
          if (end !== Infinity) this.cycles = end;
          return this.flags & IF ? StopReason.Halt : StopReason.Dead;
        }
      }
      const slice = Math.min(end - now, MAX_SLICE);
      this.sliceEnd = now + slice;
      this.left = slice;
      this.sliceInstr = 0;
      this.running = true;
      try {
        this.runSlice();
      } finally {
        this.running = false;
        this.instrDone += this.sliceInstr;
        this.sliceInstr = 0;
        this.sliceEnd -= this.left;
        this.left = 0;
      }
      if (this.shutdown) return StopReason.TripleFault;
      if (this.stopRequested) return StopReason.Requested;
      if (this.halted) {
        if (!(this.irqLine && (this.flags & IF))) return this.flags & IF ? StopReason.Halt : StopReason.Dead;
      }
    }
  }

  private runSlice(): void {
    for (;;) {
      try {
        while (this.left > 0) {
          // The slow path only when an interrupt can be taken (the line up with IF set) or
          // TF traps: a line held up while IF is clear (a timer no one serves, as after
          // firmware) must not make every instruction slow.
          if ((this.irqLine === true && (this.flags & IF) !== 0) || (this.flags & TF)) {
            this.slowStep();
            continue;
          }
          if (this.useTranslator === true && this.tracer === null) {
            if (this.interpretNext === true) {
              this.interpretNext = false;
              this.instrEip = this.eip;
              step(this);
              this.left -= this.instructionCycles;
              this.sliceInstr++;
              continue;
            }
            const n = runBlock(this, this.blocks);
            if (n > 0) continue; // it charged what it ran
            if (n < 0) {
              // Not hot yet: interpret on, with no lookup, while the code runs on in
              // sequence; a jump (or a REP that stays on itself) ends the run, and its
              // target is looked up. Which starts are looked up changes only the speed.
              for (;;) {
                this.instrEip = this.eip;
                step(this);
                this.left -= this.instructionCycles;
                this.sliceInstr++;
                const d = this.eip - this.instrEip;
                if (d <= 0 || d > 15 || this.left <= 0 || ((this.irqLine as boolean) === true && (this.flags & IF) !== 0) || (this.flags & TF) !== 0) break;
              }
              continue;
            }
          } else if (this.tracer === null) {
            // The interpreter alone: it runs on by itself until the slice ends or the
            // checks above must be made again.
            interpret(this);
            continue;
          }
          this.instrEip = this.eip;
          if (this.tracer !== null && this.tracer.before(this) === true) { this.requestStop(); return; }
          step(this);
          this.left -= this.instructionCycles;
          this.sliceInstr++;
          if (this.tracer !== null) this.tracer.after(this);
        }
        return;
      } catch (e) {
        if (this.block !== null) {
          // A fault inside a translated block: count the instructions it completed.
          const done = this.blockDone + this.block.eips.indexOf(this.instrEip) - this.blockCommitted;
          if (done > 0) {
            this.sliceInstr += done;
            this.left -= done * this.instructionCycles;
          }
          this.block = null;
        }
        if (e !== FAULT) {
          this.shutdownWith(`internal error at ${this.sreg[CS].toString(16)}:${(this.instrEip >>> 0).toString(16)}: ${(e as Error)?.stack ?? e}`);
          return;
        }
        if (this.pendingVector === RETRY) {
          this.pendingVector = -1;
          this.restoreAfterFault();
          this.stopRequested = true;
          return;
        }
        if (this.pendingVector === LEAVE_BLOCK) {
          this.pendingVector = -1;
          this.restoreAfterFault();
          this.interpretNext = true;
          continue;
        }
        this.sliceInstr++;
        this.left -= this.instructionCycles;
        this.deliverPendingFault();
        if (this.shutdown || this.stopRequested) return;
      }
    }
  }

  /**
   * One instruction with the rare cases handled: an external interrupt to take first,
   * or a single-step #DB trap after it (SDM vol. 3, 17.3.1.4).
   */
  private slowStep(): void {
    if (this.irqLine && (this.flags & IF) && this.instructions > this.inhibitIrqUntil) {
      this.instrEip = this.eip;
      this.halted = false;
      const vector = this.bus.acknowledgeInterrupt();
      if (vector >= 0) deliverInterrupt(this, vector & 0xff, false, -1, true);
      if (this.left <= 0) return;
    }
    const trap = (this.flags & TF) !== 0;
    this.instrEip = this.eip;
    this.singleStepCancelled = false;
    if (this.tracer !== null && this.tracer.before(this) === true) { this.requestStop(); return; }
    step(this);
    this.left -= this.instructionCycles;
    this.sliceInstr++;
    if (this.tracer !== null) this.tracer.after(this);
    if (trap && !this.singleStepCancelled) {
      this.dr[6] |= 0x4000; // BS
      this.instrEip = this.eip;
      deliverInterrupt(this, DB, false, -1, true);
    }
  }

  private singleStepCancelled = false;

  /**
   * No single-step trap after this instruction: it delivered an interrupt or loaded
   * flags itself (an interrupt clears TF; IRET and POPF that load TF trap after the next).
   */
  cancelSingleStep(): void {
    this.singleStepCancelled = true;
  }

  // ======================================================================
  // Diagnostics
  // ======================================================================

  /** A multi-line register dump for error reports (same layout as QEMU's `info registers`, abridged). */
  dumpState(): string {
    const h = (v: number, w = 8) => (v >>> 0).toString(16).padStart(w, '0');
    const r = this.reg32;
    const lines: string[] = [];
    lines.push(REG32_NAMES.slice(0, 4).map((n, i) => `${n.toUpperCase()}=${h(r[i])}`).join(' '));
    lines.push(REG32_NAMES.slice(4).map((n, i) => `${n.toUpperCase()}=${h(r[i + 4])}`).join(' '));
    lines.push(`EIP=${h(this.eip)} EFL=${h(this.getEflags())} CPL=${this.cpl} ${this.protectedMode ? (this.v86 ? 'V86' : 'PM') : 'RM'}${this.pagingOn ? ' PG' : ''}`);
    for (let s = 0; s < 6; s++) {
      lines.push(`${SREG_NAMES[s].toUpperCase()} =${h(this.sreg[s], 4)} ${h(this.segBase[s])} ${h(this.segLimit[s])} ${h(this.segFlags[s])}`);
    }
    lines.push(`LDT=${h(this.ldtrSel, 4)} ${h(this.ldtrBase)} ${h(this.ldtrLimit)}  TR=${h(this.trSel, 4)} ${h(this.trBase)} ${h(this.trLimit)}`);
    lines.push(`GDT=${h(this.gdtrBase)} ${h(this.gdtrLimit)}  IDT=${h(this.idtrBase)} ${h(this.idtrLimit)}`);
    lines.push(`CR0=${h(this.cr0)} CR2=${h(this.cr2)} CR3=${h(this.cr3)} CR4=${h(this.cr4)}`);
    lines.push(`cycles=${this.cycles} instructions=${this.instructions}`);
    return lines.join('\n');
  }
}

export { StopReason };
