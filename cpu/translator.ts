/**
 * The block translator: straight-line runs of common 32-bit instructions are turned
 * into one JavaScript function each, so the hot loop pays one lookup per block
 * instead of one decode and one dispatch per instruction. A run goes on past
 * conditional branches (side exits) and at the target of a direct JMP or CALL in the
 * same page. It sits beside the
 * interpreter, never instead of it: anything it does not know (most system and
 * privileged instructions, string ops with REP other than REP MOVS and REP STOS,
 * 16-bit code and addressing, LOCK) ends the block and the interpreter executes it.
 * Port I/O, single MOVS/STOS/LODS and REP MOVS/STOS (memcpy and memset, through the
 * interpreter's handlers) are translated: before a port access or a REP the block
 * charges the instructions it has retired, so the device sees the cycle count the
 * interpreter would show and a REP stops part-way where it would, and after it the
 * block returns if an interrupt is pending or the slice
 * is over. So are the stack, flag and data-segment instructions of interrupt and lock
 * code (PUSHA, POPA, PUSHFD, CLI, STI, PUSH/POP and MOV of DS/ES/FS/GS), through the
 * interpreter's handlers. Turn it off with `Cpu.useTranslator = false`. Blocks whose
 * instructions wasm-translator.ts covers are compiled to WebAssembly instead (translate()
 * asks it first; `Cpu.useWasm = false` keeps every block JavaScript).
 *
 * The generated code calls the interpreter's own semantic functions (shift, ADC/SBB,
 * multiply, condition, Cpu.read32 ...), except for the ALU operations, TEST, INC/DEC
 * and shifts by a constant, which it writes inline, recording exactly the lazy flag
 * state the interpreter's helpers record, and for byte, word and dword accesses (PUSH
 * and POP included) to a flat segment (Cpu.flatMask: base 0, 4 GiB, paging off, A20 on;
 * with paging on through the TLB), which go straight to RAM when the offset is in it
 * (with paging on, within one page) and, for a write, outside translated code; any other
 * access takes Cpu.read32 and the others, which check and fault (see memOperand).
 * Within a block it also knows which flags nobody can see (overwritten before any read,
 * fault or exit) and drops their recording, and after an inline operation it works
 * conditions out from the known state (see "Flags" below). The differential tests
 * (translator.test.ts, fuzz.test.ts) run both ways and compare registers, EFLAGS,
 * memory and counts.
 *
 * Correctness rules:
 * - A block lives in one 4 KiB physical page and is looked up by physical address
 *   (so paging changes need no flush), by the EIP it starts at, and by CS.D. Its highest byte must be inside the
 *   current fetch window, which ends at the CS limit, the end of RAM and, with paging on, the page's end (bytes
 *   below its start, reached by a jump back, are in the same page and below the limit). No instruction is in a
 *   block twice.
 * - Every instruction that can fault stores its EIP in cpu.instrEip before anything
 *   that can fault: a memory access on its checked (slow) path, just before the call,
 *   anything else (DIV, port I/O, segment loads, helpers) first. A fault unwinds out
 *   of the block and the run loop counts the instructions completed.
 * - A write to a page that holds translated code bumps that page's generation
 *   (Cpu.codeWrite), which invalidates its blocks; a block that has just written to
 *   code (cpu.smc) stops after that instruction so the new bytes are what runs next.
 */
import type { Cpu } from './cpu';
import {
  alu, shift, imulTrunc, mulU32, mulS32, mulHigh, mulFlags, div32, idiv32, sub, setResultFlags, setCfOf,
} from './alu';
import { condition, portIn, portOut, PUSHA, POPA, PUSHF, CLI, STI, RDTSC, popSegment, stringMovs, stringStos, ESC_x87, WAIT } from './execute';
import { loadSegment } from './system';
import {
  CS, SS, DS, ES, FS, GS, ESP, EBP, TLB_SUP_READ, TLB_SUP_WRITE, TLB_USER_READ, TLB_USER_WRITE, TLB_RAM, TLB_NOCODE,
  BLOCK_MODE_PAGED, BLOCK_MODE_USER, BLOCK_MODE_SEGS_SHIFT,
} from './registers';
import { ARITH, CF, PARITY, LazyOp } from './flags';
import { translateWasm, wasmUsable } from './wasm-translator';
import { LINK_BITS, LINK_SLOTS } from './memory';

/** A translated block. `count` 0 marks an address the translator could not start at. */
export interface Block {
  phys: number;
  /** The EIP the block was translated at: its code embeds EIP values, so the same
   *  physical bytes reached at another EIP (another mapping or CS base) need their own. */
  eip: number;
  d32: boolean;
  /**
   * Cpu.blockMode when it was translated: its memory accesses take that mode's inline
   * path and test only what the mode leaves open (see inlineAt), so it runs only in that
   * mode (another is a miss, and the code is translated again for it).
   */
  mode: number;
  gen: number;
  count: number;
  /** Length in bytes, for the fetch-window check at entry. */
  bytes: number;
  /** EIP of each instruction, to count completed instructions after a fault. */
  eips: number[];
  fn: ((cpu: Cpu) => number) | null;
  /**
   * A block translated to WebAssembly (wasm-translator.ts): its function's index in the
   * CPU's table (WasmContext.place), or -1. The function takes the instructions the
   * slice still has room for and works on the state slots; `fn` then runs it the way a
   * JavaScript block runs (the lazy flags copied in and out).
   */
  wasm: number;
  /** Characters of JavaScript generated for it (0 for an untranslatable start). */
  source: number;
  /** The EIP of the instruction the block stopped before because it cannot be translated, or -1. */
  stopEip: number;
  /**
   * The physical page its last instruction runs on into (see `straddle`), or -1: a
   * write there must drop translated code as one in its own page does.
   */
  tailPage: number;
}

/** The cache's slots: LINK_SLOTS, as the WebAssembly dispatcher's links mirror them (WasmContext.link). */
const CACHE_BITS = LINK_BITS;
const CACHE_MASK = LINK_SLOTS - 1;
/**
 * The most instructions a block holds. 96 rather than 32 since branches inside a block
 * stay in it: a loop body of 43 instructions (the kernel's multi-precision multiply) is
 * one block, and unrolled code (BLAKE2s) enters the run loop a third as often.
 */
export const MAX_BLOCK_INSTRUCTIONS = 96;

/**
 * A block start is translated the HOT_THRESHOLD-th time it is reached: code that runs
 * once (start-up, most of a test, a run into zeroed memory) is cheaper to interpret
 * than to compile. A block costs far more than its `new Function` (0.1-0.9 ms): V8 then
 * runs it in its own interpreter, several times slower than ours, until it has tiered
 * it up. Measured (cpu/README.md): 400 blocks run k times each cost 3.1 times the
 * interpreter at k = 2000 translated at 16 and 2.6 times at 1024, and break even near
 * k = 50000; 4000 blocks run 16 times each cost 13 times the interpreter translated at
 * 16. A threshold of 1024 keeps code that runs up to about a thousand times as cheap as
 * interpreted; it costs the CPU-bound guest a fixed 40-70 ms against 16 (its blocks
 * wait for their 1024th visit; 256 costs the same), 3% of the benchmark's run.
 */
const HOT_THRESHOLD = 1024;

/**
 * What the cache may hold: blocks (untranslatable starts included) and characters of
 * generated JavaScript. V8 keeps a function's source and its bytecode, about 3 bytes of
 * host memory per character of source (measured: 50 MB of source, 150 MB of RSS), and
 * a block compiles in 50 ns per character plus about 80 us; the guests we have hold at
 * most 160 K characters. So at most about 50 MB of host memory, whatever a guest runs.
 */
export const MAX_BLOCKS = 16384;
export const MAX_SOURCE = 16 << 20;
/**
 * Of them, at most this many WebAssembly blocks: each is a module and an instance, about
 * 20 KB of host memory beyond its code (measured: 4000 modules of 2 KB, 103 MB; 16000,
 * 335 MB), so about 50 MB. Past it, blocks are translated to JavaScript until a flush.
 */
export const MAX_WASM_BLOCKS = 2048;

/**
 * Backoff for pages whose translated code keeps being invalidated (code patched beside
 * the loop that patches it, data kept next to code): each time a page's translated code
 * is invalidated less than BACKOFF_WINDOW instructions after the page got it, the
 * page's level goes up by one, to at most BACKOFF_LEVELS, and a block start there is
 * translated only the (hotThreshold << level)-th time it is reached. Code invalidated
 * after a longer life sets the level back to 0: a page written once in a while (a
 * loader, a variable beside rarely-changed code) costs at most one compile per window.
 * So such a page is interpreted, and compiled again only after 2^BACKOFF_LEVELS times
 * the visits that made it hot, or once its writes stop.
 */
export const BACKOFF_LEVELS = 8;
export const BACKOFF_WINDOW = 1 << 20;

/**
 * The block cache of one CPU: direct-mapped by physical address (see runBlock for the
 * index). It also keeps the accounting of what it holds and has done, for tests and
 * reports; none of it is read on the hot path.
 */
export class BlockCache {
  readonly slots: (Block | undefined)[] = new Array(1 << CACHE_BITS);
  /**
   * How often the start in heatPhys[slot] was reached untranslated; code is translated
   * when hot. The count is of one physical address: another address in the slot starts
   * it again, so code that runs once never adds up to hot however much of it there is
   * (a count per slot alone made a run through megabytes of zeroed memory compile a
   * block every few dozen instructions).
   */
  readonly heat = new Int32Array(1 << CACHE_BITS);
  readonly heatPhys = new Int32Array(1 << CACHE_BITS).fill(-1);
  /** Translate a block start the hotThreshold-th time it is reached (1: at once). */
  hotThreshold = HOT_THRESHOLD;
  /** Per physical page: the backoff level (see BACKOFF_LEVELS). */
  readonly backoff: Uint8Array;
  /** Per physical page: Cpu.instructions when it last became a page of translated code. */
  private readonly codeSince: Float64Array;
  /** The caps on what the cache holds (MAX_BLOCKS, MAX_SOURCE, MAX_WASM_BLOCKS); tests may lower them. */
  maxBlocks = MAX_BLOCKS;
  maxSource = MAX_SOURCE;
  maxWasmBlocks = MAX_WASM_BLOCKS;
  /** translate() calls, untranslatable starts included. */
  translated = 0;
  /** Lookups that found no block to run and counted a visit instead (the cold path). */
  misses = 0;
  /** Blocks compiled into JavaScript functions. */
  compiles = 0;
  /** Blocks the cache holds now (untranslatable starts included), and the characters of generated source they hold. */
  blocks = 0;
  source = 0;
  /** Of them, blocks compiled to WebAssembly (each a module: see MAX_WASM_BLOCKS). */
  wasmBlocks = 0;
  /** Times the cache was full and dropped every block. */
  flushes = 0;
  /** Times translated code in a page was invalidated by a write (or reported DMA) there. */
  invalidations = 0;

  constructor(pages: number) {
    this.backoff = new Uint8Array(pages);
    this.codeSince = new Float64Array(pages);
  }

  /**
   * Drops every block (when the cache is full, as QEMU flushes its translation buffer):
   * no page holds translated code any more, so writes there go the fast way again.
   */
  flush(cpu: Cpu): void {
    for (const b of this.slots) if (b !== undefined && b.wasm >= 0) cpu.wasm!.release(b.wasm);
    this.slots.fill(undefined);
    if (cpu.wasm !== null) cpu.wasm.unlinkAll();
    this.blocks = 0;
    this.source = 0;
    this.wasmBlocks = 0;
    this.flushes++;
    cpu.codePages.fill(0);
    cpu.codeFlushed();
  }

  /**
   * Puts `b` in `slot`, accounting for the block it replaces; when that would take the
   * cache past maxBlocks or maxSource, the cache is flushed first.
   */
  insert(cpu: Cpu, slot: number, b: Block): void {
    const old = this.slots[slot];
    if (old !== undefined) {
      this.blocks--;
      this.source -= old.source;
      if (old.wasm >= 0) { this.wasmBlocks--; cpu.wasm!.release(old.wasm); }
    }
    if (this.blocks >= this.maxBlocks || this.source + b.source > this.maxSource) this.flush(cpu);
    this.slots[slot] = b;
    if (cpu.wasm !== null) cpu.wasm.link(slot, b);
    this.blocks++;
    this.source += b.source;
    if (b.wasm >= 0) this.wasmBlocks++;
    this.translated++;
    if (b.fn !== null) {
      this.compiles++;
      this.markCode(cpu, b.phys >>> 12);
      if (b.tailPage >= 0) this.markCode(cpu, b.tailPage);
    }
  }

  /** Physical page `page` holds translated code: writes there go the checked way. */
  private markCode(cpu: Cpu, page: number): void {
    if (cpu.codePages[page] === 0) {
      cpu.codePages[page] = 1;
      cpu.codeMarked(page);
      this.codeSince[page] = cpu.instructions;
    }
  }

  /**
   * Translated code in physical page `page` was invalidated (Cpu.invalidateCode) when
   * `now` instructions had retired: the page backs off if its code lived briefly.
   */
  invalidated(page: number, now: number): void {
    this.invalidations++;
    if (now - this.codeSince[page] >= BACKOFF_WINDOW) this.backoff[page] = 0;
    else if (this.backoff[page] < BACKOFF_LEVELS) this.backoff[page]++;
  }
}


const R8_NAMES = ['r8[0]', 'r8[4]', 'r8[8]', 'r8[12]', 'r8[1]', 'r8[5]', 'r8[9]', 'r8[13]'];

/**
 * Runs the block at cpu.eip, translating it first if needed, and the blocks after it
 * while they are in the cache (see below), charging their instructions to the slice.
 * Returns 1 when it ran blocks, or 0 when the interpreter must take this instruction, or -1
 * when it must because this start is not hot yet: then the run loop looks up no block
 * until the code stops running on in sequence (Cpu.runSlice), so that code run once
 * costs one lookup for each jump rather than one for each instruction.
 */
export function runBlock(cpu: Cpu, cache: BlockCache): number {
  const eip = cpu.eip;
  if (eip >= cpu.fetchHi || eip < cpu.fetchLo) {
    cpu.instrEip = eip; // a fault fetching it (past CS's limit) is this instruction's, as interpreted
    if (!cpu.refillFetch(eip)) return 0;
  }
  const phys = eip + cpu.fetchDelta;
  // The low bits of the address XOR the rest: blocks at the same offset in different
  // 64 KiB spans (a larger guest's hot functions, aligned alike) land in different
  // slots, while a span maps to the slots one to one. One shift and one XOR on the
  // dispatch path; a multiply would mix better and cost more.
  const slot = (phys ^ (phys >>> CACHE_BITS)) & CACHE_MASK;
  let b = cache.slots[slot];
  if (b === undefined || b.phys !== phys || b.eip !== eip || b.d32 !== cpu.csD32 || b.mode !== cpu.blockMode || b.gen !== cpu.pageGen[phys >>> 12]) {
    cache.misses++;
    if (cache.heatPhys[slot] !== phys) {
      cache.heatPhys[slot] = phys;
      cache.heat[slot] = 0;
    }
    if (++cache.heat[slot] < cache.hotThreshold << cache.backoff[phys >>> 12]) return -1;
    cache.heat[slot] = 0;
    b = translate(cpu, eip, phys);
    if (b.stopEip !== -1) markUntranslatable(cpu, cache, b);
    cache.insert(cpu, slot, b);
  }
  // A block runs only if all of it fits in what is left of the slice, and a looping
  // block stops before an iteration that would not fit: slices end on exactly the
  // instruction where the interpreter would end them, so both modes keep one timing.
  if (b.count === 0 || b.count * cpu.instructionCycles > cpu.left || eip + b.bytes > cpu.fetchHi) return 0;
  // While WebAssembly blocks follow one another, the lazy flags stay in their state slots
  // (wasm-translator.ts): copied in before the first, back before a JavaScript block or
  // the return. A fault in one has copied them back already (its slow path does).
  const w = cpu.wasm;
  let inWasm = false;
  for (;;) {
    cpu.smc = false;
    cpu.block = b;
    cpu.blockCommitted = 0;
    let n: number;
    if (b.wasm >= 0) {
      if (!inWasm) { w!.enter(); inWasm = true; }
      cpu.blockDone = 0;
      // It goes on to the WebAssembly blocks after it by itself, making the checks below
      // (WasmContext.link); n counts them all, less what an import charged.
      n = w!.run(b.wasm) - cpu.blockCommitted;
    } else {
      if (inWasm) { w!.leave(); inWasm = false; }
      cpu.blockDone = 0;
      n = b.fn!(cpu) - cpu.blockCommitted;
    }
    cpu.block = null;
    if (n === 0) { if (inWasm) w!.leave(); return 0; } // a block whose first instruction runs on into a page it no longer finds as translated: the interpreter's (see straddle)
    cpu.left -= n * cpu.instructionCycles;
    cpu.sliceInstr += n;
    // Straight on to the next block while nothing the run loop looks after can have
    // happened (an interrupt to take, TF, the slice's end: HLT and stop requests end
    // the slice) and the next block is in the cache, valid and fits: one lookup per
    // block, without the trip through the run loop. Anything else goes back to it.
    // (IF and TF are never changed by WebAssembly blocks: cpu.flags holds them.)
    if (cpu.left <= 0 || (cpu.irqLine === true && (cpu.flags & 0x200) !== 0) || (cpu.flags & 0x100) !== 0) { if (inWasm) w!.leave(); return 1; }
    const e = cpu.eip;
    if (e >= cpu.fetchHi || e < cpu.fetchLo) {
      // Another page with paging on (one window a page): the refill the run loop would
      // make, here (a fault fetching is this instruction's, as at entry).
      cpu.instrEip = e;
      if (inWasm) { w!.leave(); inWasm = false; }
      if (!cpu.refillFetch(e)) return 1;
    }
    const p = e + cpu.fetchDelta;
    const nb = cache.slots[(p ^ (p >>> CACHE_BITS)) & CACHE_MASK];
    if (nb === undefined || nb.phys !== p || nb.eip !== e || nb.d32 !== cpu.csD32 || nb.mode !== cpu.blockMode || nb.gen !== cpu.pageGen[p >>> 12] ||
      nb.count === 0 || nb.count * cpu.instructionCycles > cpu.left || e + nb.bytes > cpu.fetchHi) { if (inWasm) w!.leave(); return 1; }
    b = nb;
  }
}

/**
 * Caches the instruction `b` stopped before as an untranslatable start (what translate()
 * would make of it), so that the run loop interprets it alone and looks up what
 * follows: as a start that is not hot yet it would begin a cold run, and the code after
 * it would wait for twice the threshold. Before `b` is inserted, so that a flush here
 * cannot drop the mark of `b`'s code page.
 */
function markUntranslatable(cpu: Cpu, cache: BlockCache, b: Block): void {
  const eip = b.stopEip;
  const phys = b.phys + ((eip - b.eip) | 0);
  const slot = (phys ^ (phys >>> CACHE_BITS)) & CACHE_MASK;
  const o = cache.slots[slot];
  if (o !== undefined && o.phys === phys && o.eip === eip && o.d32 === b.d32 && o.mode === b.mode && o.gen === b.gen) return;
  cache.insert(cpu, slot, { phys, eip, d32: b.d32, mode: b.mode, gen: b.gen, count: 0, bytes: 0, eips: [], fn: null, wasm: -1, source: 0, stopEip: -1, tailPage: -1 });
}

// ======================================================================
// Translation
// ======================================================================

/** Decoding state for one instruction (translation time only). */
export interface Decoded {
  pos: number; // physical address of the next byte
  end: number; // physical address past the last byte allowed (page end)
  ok: boolean;
}

/**
 * After port I/O (whose latency the device charged, and which may have raised an
 * interrupt or cut the slice short), go on only if every instruction left in this pass
 * of the block still fits where the interpreter would run it; else return and let the
 * run loop decide. Retired instructions are charged when the block returns.
 *
 * REBUDGET first: cycles charged inside a block beyond its instructions' own (a
 * device's latency, a timer that cut the slice, PAUSE) shorten what the block may
 * still run, so a looping block counts its `limit` again from what is left, or its
 * next pass would be let in on the budget the block began with.
 */
const IO_CHECK = 'if ((cpu.irqLine === true && (cpu.flags & 0x200) !== 0) || cpu.left < (PASS - cpu.blockCommitted) * cpu.instructionCycles) { cpu.eip = NEXT; return COUNT; }';
/** The same after PAUSE, whose extra cycles end the slice but raise no interrupt. */
const BUDGET_CHECK = 'if (cpu.left < (PASS - cpu.blockCommitted) * cpu.instructionCycles) { cpu.eip = NEXT; return COUNT; }';

/** One decoding of a block (see translate). */
interface Decoding {
  bodies: string[][];
  eips: number[];
  nexts: number[];
  /** Per instruction: a branch's condition (JS) and target, or null; 'true' for a JMP. */
  exits: ({ cond: string; target: number } | null)[];
  stopEip: number;
  /** Past the highest byte decoded. */
  end: number;
  /** The run ended for good (a RET, an exit, a jump): nothing to add after its last instruction. */
  terminated: boolean;
  /** The EIP of an instruction of the block the last one runs on into, or -1. */
  tail: number;
  /** The physical page the last instruction runs on into (see straddle), or -1. */
  tailPage: number;
}

/** What translateOne learns of an instruction, before it translates one: nothing yet (conservative flags). */
function beginInstruction(): void {
  lastBranch.cc = -2; lastBranch.call = false;
  unknownFlags(flagInfo);
}

/** Sets `f` to what is known of an instruction's flags before it is translated: nothing (it reads and changes them). */
export function unknownFlags(f: FlagInfo): void {
  f.reads = true; f.modifies = true; f.all = false; f.keepsCf = false; f.op = -1; f.size = 0;
}

/**
 * Decodes and emits the instructions of a block starting at `eip`. `labels` are the
 * EIPs that branches inside the block will reach (found by a first decoding): at each
 * the flag state is not known, so conditions there are worked out generically.
 */
function decodeBlock(cpu: Cpu, eip: number, phys: number, pageEnd: number, labels: ReadonlySet<number>): Decoding {
  const mem = cpu.mem;
  const bodies: string[][] = [];
  const flagInfos: FlagInfo[] = [];
  const nexts: number[] = [];
  const eips: number[] = [];
  const exits: ({ cond: string; target: number } | null)[] = [];
  const st: Decoded = { pos: phys, end: pageEnd, ok: true };
  let terminated = false;
  let stopEip = -1;
  let tail = -1;
  let tailPage = -1;
  let end = phys; // past the highest byte of the block: it may jump back within its page
  known.op = -1;
  while (eips.length < MAX_BLOCK_INSTRUCTIONS && !terminated) {
    const start = st.pos;
    const ieip = eip + (start - phys);
    if (eips.length > 0 && eips.includes(ieip)) {
      // Running on (after a followed jump) into an instruction already in the block: go
      // there (after the last instruction's own branch, if it has one).
      tail = ieip;
      flagInfos[flagInfos.length - 1].reads = true;
      terminated = true;
      break;
    }
    if (labels.has(ieip)) known.op = -1;
    const code: string[] = [];
    beginInstruction();
    let res = translateOne(cpu, mem, st, ieip, code);
    if (!st.ok) res = straddle(cpu, mem, st, start, ieip, code);
    if (!st.ok || res === Emit.None) {
      if (st.ok) stopEip = ieip;
      st.pos = start;
      break;
    }
    const next = eip + (st.pos - phys);
    eips.push(ieip);
    nexts.push(next);
    exits.push(null);
    if (st.pos > end) end = st.pos;
    if (res === Emit.Writes) code.push('if (cpu.smc === true) { cpu.eip = NEXT; return COUNT; }');
    if (res === Emit.Io) code.push('REBUDGET', IO_CHECK, modeCheck()); // a device may have changed the mode (A20 through port 0x92 or the i8042)
    bodies.push(code);
    if (res === Emit.Branch) {
      // Taken: to the target (inside the block or out of it, decided when the whole
      // block is known); not taken: on with the fall-through path.
      exits[exits.length - 1] = { cond: conditionExpr(lastBranch.cc), target: (next + lastBranch.disp) >>> 0 };
    } else if (res === Emit.Terminates) {
      terminated = true;
    } else if (res === Emit.Jump) {
      const target = (next + lastBranch.disp) >>> 0;
      const targetPhys = phys + (target - eip);
      if (!eips.includes(target) && targetPhys >= (phys & ~0xfff) && targetPhys < pageEnd) {
        // Straight on at the target: in the same page, so under the same mapping, and
        // within the fetch window once the block's highest byte is.
        nexts[nexts.length - 1] = target;
        if (lastBranch.call) code.push('if (cpu.smc === true) { cpu.eip = NEXT; return COUNT; }');
        st.pos = targetPhys;
      } else {
        if (lastBranch.call) code.push(`if (cpu.smc === true) { cpu.eip = ${target}; return COUNT; }`);
        exits[exits.length - 1] = { cond: 'true', target };
        terminated = true;
      }
    }
    if (exits[exits.length - 1] !== null) flagInfo.reads = true; // whoever is jumped to may read them
    flagInfos.push({ ...flagInfo });
    if (flagInfo.modifies) { known.op = flagInfo.op; known.size = flagInfo.size; known.cfKept = flagInfo.keepsCf; }
    if (st.pos > pageEnd) { tailPage = lastStraddle.page; break; } // it ran on into the next page: the block ends with it
  }
  dropDeadFlags(bodies, flagInfos);
  return { bodies, eips, nexts, exits, stopEip, end, terminated, tail, tailPage };
}

/** The longest an instruction can be (SDM vol. 2, 2.3.11). */
const MAX_INSTRUCTION_BYTES = 15;
/** The bytes of an instruction across a page boundary, gathered from its two physical pages (translation time only). */
const acrossBytes = new Uint8Array(32);
/** The physical page the last straddle() ran on into. */
const lastStraddle = { page: -1 };

/**
 * An instruction that starts in the block's page and ends in the next (a hot loop can
 * straddle a page boundary: LZ4's did, 3 million times a run, each one a trip through
 * the run loop and the interpreter). It is decoded again with the next page's first
 * bytes and ends the block: from the next physical page where the fetch window reaches
 * them (linear is physical), or with paging on from the page the TLB maps the next
 * linear page to now. Its code first checks that they are still what was decoded: the
 * next page's code generation unchanged (the block's own page's is checked at entry),
 * and the window still reaching them, or with paging on the TLB still mapping the next
 * page there, readable at this CPL, within CS's limit; otherwise the block ends before
 * it and the interpreter takes it (and faults, if it must): as a block's first
 * instruction, the block then ran none and runBlock hands the instruction to the run
 * loop. Not for jumps, exits or port I/O, which end a block their own ways. Returns
 * what translateOne returned, or Emit.None (st.ok false) to leave it out.
 */
function straddle(cpu: Cpu, mem: Uint8Array, st: Decoded, start: number, ieip: number, code: string[]): Emit {
  const pageEnd = st.end;
  const inPage = pageEnd - start;
  if (inPage <= 0 || inPage >= MAX_INSTRUCTION_BYTES) return Emit.None;
  const nextEip = ieip + inPage; // the EIP of its first byte in the next page
  let p2: number;
  if (nextEip + MAX_INSTRUCTION_BYTES <= cpu.fetchHi) {
    p2 = pageEnd; // the block is translated where the window maps it: phys = EIP + fetchDelta
  } else if (cpu.pagingOn && nextEip <= cpu.segLimit[CS]) {
    // Where the page tables map it now (the TLB need not hold it yet: the check at run
    // time leaves the block until it does, and the interpreter's fetch fills it).
    const lin = (cpu.segBase[CS] + nextEip) | 0;
    const te = cpu.tlb[lin >>> 12];
    p2 = (te & cpu.tlbReadNeed) !== 0 ? (te & -4096) >>> 0 : cpu.peekPhysical(lin) - (lin & 0xfff);
    if (p2 < 0) return Emit.None;
  } else {
    return Emit.None;
  }
  if (p2 + 16 > cpu.memSize) return Emit.None;
  acrossBytes.set(mem.subarray(start, pageEnd), 0);
  acrossBytes.set(mem.subarray(p2, p2 + 16), inPage);
  code.length = 0;
  beginInstruction();
  const across: Decoded = { pos: 0, end: MAX_INSTRUCTION_BYTES, ok: true };
  const res = translateOne(cpu, acrossBytes, across, ieip, code);
  if (!across.ok || across.pos <= inPage || (res !== Emit.Plain && res !== Emit.Writes && res !== Emit.Branch)) { st.ok = false; return Emit.None; }
  st.ok = true;
  st.pos = start + across.pos;
  const page = p2 >>> 12;
  lastStraddle.page = page;
  const mapped = `cpu.pagingOn === true && NEXT - 1 <= cpu.segLimit[${CS}] && ((te = tlb[((cpu.segBase[${CS}] + ${nextEip}) | 0) >>> 12]) & cpu.tlbReadNeed) !== 0 && (te & -4096) === ${p2 | 0}`;
  code.unshift(`if (cpu.pageGen[${page}] !== ${cpu.pageGen[page]} || NEXT > cpu.fetchHi && !(${mapped})) { cpu.eip = HERE; return COUNT - 1; }`);
  flagInfo.reads = true; // it may leave the block before it runs: the flags before it are seen
  return res;
}

function translate(cpu: Cpu, eip: number, phys: number): Block {
  const pageEnd = Math.min((phys | 0xfff) + 1, cpu.memSize);
  const d32 = cpu.csD32;
  const blockMode = cpu.blockMode;
  const gen = cpu.pageGen[phys >>> 12];
  const empty: Block = { phys, eip, d32, mode: blockMode, gen, count: 0, bytes: 0, eips: [], fn: null, wasm: -1, source: 0, stopEip: -1, tailPage: -1 };
  if (!d32) return empty; // 16-bit code runs in the interpreter
  if (cpu.useWasm === true && cpu.blocks.wasmBlocks < cpu.blocks.maxWasmBlocks && wasmUsable(cpu)) {
    const w = translateWasm(cpu, eip, phys);
    if (w !== null) return w;
  }
  mode.key = blockMode;
  mode.paged = (blockMode & BLOCK_MODE_PAGED) !== 0;
  mode.user = (blockMode & BLOCK_MODE_USER) !== 0;
  mode.segs = blockMode >>> BLOCK_MODE_SEGS_SHIFT;
  let d = decodeBlock(cpu, eip, phys, pageEnd, new Set());
  // Branches to instructions of the block stay inside it (a loop, an if, a loop with
  // a branch back to its middle); at their targets the flag state is not known: decode
  // again knowing them (the same instructions, conditions there worked out generically).
  const inside = (t: number) => d.eips.includes(t);
  const labels = new Set(d.exits.filter((x) => x !== null && inside(x.target)).map((x) => x!.target));
  if (d.tail !== -1) labels.add(d.tail);
  if ([...labels].some((t) => t !== eip)) d = decodeBlock(cpu, eip, phys, pageEnd, labels);
  const { bodies, eips, nexts, exits } = d;
  const count = eips.length;
  if (count === 0) return empty;
  const index = new Map(eips.map((e, i) => [e, i]));
  const loop = labels.size > 0;
  const lines: string[] = [];
  // With branches inside, the function is a loop around a switch on where to go on
  // (`L`, an instruction's index): `base` + i instructions are complete when the i-th
  // starts (so cpu.blockDone = base for the fault accounting), and a branch inside goes
  // on only if every instruction the block could run from its target still fits in
  // what was left of the slice when the block began (as a pass of a loop must).
  const indent = loop ? '      ' : '  ';
  if (loop) lines.push('  let limit = Math.floor(cpu.left / cpu.instructionCycles);', '  let base = 0, L = 0;', '  for (;;) {', '    switch (L) {');
  const goto = (i: number, t: number): string => {
    const ti = index.get(t)!;
    return `base += ${i + 1 - ti}; if (base + ${count} > limit) { cpu.eip = ${t}; return base + ${ti}; } cpu.blockDone = base; L = ${ti}; continue;`;
  };
  const subst = (c: string, i: number): string => c.replace(/\bNEXT\b/g, String(nexts[i])).replace(/\bHERE\b/g, String(eips[i]))
    .replace(/\bCOUNT\b/g, loop ? `base + ${i + 1}` : String(i + 1)).replace(/\bPASS\b/g, loop ? `base + ${count}` : String(count));
  bodies.forEach((code, i) => {
    if (loop && (i === 0 || labels.has(eips[i]))) lines.push(`    case ${i}:`);
    lines.push(`${indent}// ${eips[i].toString(16)}`);
    for (const c of code) {
      if (c === 'COMMIT') {
        // A device reads the clock during I/O: first charge the instructions before this
        // one, as the interpreter would have by now (runBlock subtracts them at the end).
        lines.push(`${indent}c = ${loop ? `base + ${i}` : String(i)} - cpu.blockCommitted; cpu.left -= c * cpu.instructionCycles; cpu.sliceInstr += c; cpu.blockCommitted += c;`);
      } else if (c === 'REBUDGET') {
        // What may still run, counted from the block's start: the instructions charged
        // so far and as many more as the cycles left pay for (see IO_CHECK).
        if (loop) lines.push(`${indent}limit = Math.floor(cpu.left / cpu.instructionCycles) + cpu.blockCommitted;`);
      } else {
        lines.push(indent + subst(c, i));
      }
    }
    const x = exits[i];
    if (x !== null) {
      const to = index.has(x.target) ? goto(i, x.target) : subst(`cpu.eip = ${x.target}; return COUNT;`, i);
      lines.push(x.cond === 'true' ? indent + to : `${indent}if (${x.cond}) { ${to} }`);
    }
  });
  if (d.tail !== -1) lines.push(indent + goto(count - 1, d.tail));
  else if (!d.terminated) lines.push(indent + subst(`cpu.eip = ${nexts[count - 1]}; return COUNT;`, count - 1));
  if (loop) lines.push('    }', '  }');
  const body = lines.join('\n').replace(/\bEND4\b/g, String(cpu.memSize - 3)).replace(/\bEND2\b/g, String(cpu.memSize - 1))
    .replace(/\bEND1\b/g, String(cpu.memSize));
  // The block's function in parentheses: V8 then compiles it with the outer one, rather
  // than pre-parsing it there and parsing it again at its first call (a quarter less
  // compile time a block, measured on the XZ decompressor's blocks).
  const src = `const { ${HELPER_NAMES} } = helpers;\nreturn (function block_${phys.toString(16)}(cpu) {\n` +
    `  const r = cpu.reg32, r16 = cpu.reg16, r8 = cpu.reg8, m32 = cpu.mem32, m8 = cpu.mem, cp = cpu.codePages, tlb = cpu.tlb${body.includes('m16[') ? ', m16 = cpu.mem16' : ''};\n` +
    `  let a = 0, b = 0, v = 0, o = 0, c = 0, te = 0, tp = 0, l = 0;\n${body}\n});`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const fn = new Function('helpers', src)(HELPERS) as (cpu: Cpu) => number;
  // A last instruction that runs on into the next page checks its own bytes (see
  // straddle): the entry check covers the block's own page.
  return { phys, eip, d32, mode: blockMode, gen, count, bytes: Math.min(d.end, pageEnd) - phys, eips, fn, wasm: -1, source: src.length, stopEip: d.stopEip, tailPage: d.tailPage };
}

/** What generated code may call: the interpreter's own semantic functions. */
const HELPERS = {
  alu, shift, imulTrunc, mulU32, mulS32, mulHigh, mulFlags, div32, idiv32, sub, setResultFlags, setCfOf,
  rd8, rd16, rd32, wr8, wr16, wr32, pushSlow, popSlow,
  condition, PARITY, portIn, portOut, PUSHA, POPA, PUSHF, CLI, STI, RDTSC, popSegment, loadSegment, stringMovs, stringStos, ESC_x87, WAIT,
};
const HELPER_NAMES = Object.keys(HELPERS).join(', ');

const enum Emit {
  /** Not translatable: the block ends before this instruction. */
  None = 0,
  /** Straight-line, no memory write. */
  Plain = 1,
  /** Straight-line with a memory write (check for self-modifying code after it). */
  Writes = 2,
  /** Ends the block (sets cpu.eip itself). */
  Terminates = 3,
  /**
   * Port I/O: the device may have raised an interrupt or armed a timer that ends the
   * slice, so the block stops after it when the interpreter would (see translate()).
   */
  Io = 5,
  /**
   * A conditional branch (lastBranch says which): translate() makes it a side exit
   * and goes on with the fall-through path, or closes a loop when it targets the
   * block's start.
   */
  Branch = 4,
  /**
   * A direct JMP or CALL (lastBranch: its displacement; a CALL has pushed its return
   * address): translate() goes on at the target when it is in the block's page and
   * not yet in the block, closes a loop for a JMP to the block's start, else ends the
   * block there.
   */
  Jump = 6,
}

/** The next byte of the instruction (and dword, word): past `end`, 0 and `ok` false. */
export function byte(mem: Uint8Array, st: Decoded): number {
  if (st.pos >= st.end) { st.ok = false; return 0; }
  return mem[st.pos++];
}
export function dword(mem: Uint8Array, st: Decoded): number {
  return byte(mem, st) | (byte(mem, st) << 8) | (byte(mem, st) << 16) | (byte(mem, st) << 24);
}
export function word(mem: Uint8Array, st: Decoded): number {
  return byte(mem, st) | (byte(mem, st) << 8);
}
/**
 * The prefixes a block's instruction may have (operand size, REP, a segment; up to four)
 * and the opcode byte after them; both translators decode with it.
 */
export function prefixes(mem: Uint8Array, st: Decoded): { op: number; size: number; segOvr: number; rep: boolean } {
  let size = 4;
  let segOvr = -1;
  let rep = false;
  let op = byte(mem, st);
  for (let n = 0; n < 4; n++) {
    if (op === 0x66) size = 2;
    else if (op === 0xf3) rep = true;
    else if (op === 0x26) segOvr = ES;
    else if (op === 0x2e) segOvr = CS;
    else if (op === 0x36) segOvr = SS;
    else if (op === 0x3e) segOvr = DS;
    else if (op === 0x64) segOvr = FS;
    else if (op === 0x65) segOvr = GS;
    else break;
    op = byte(mem, st);
  }
  return { op, size, segOvr, rep };
}

/** An immediate of `sz` bytes (a dword as a signed 32-bit number). */
export function immediate(mem: Uint8Array, st: Decoded, sz: number): number {
  return sz === 4 ? dword(mem, st) : sz === 2 ? word(mem, st) : byte(mem, st);
}
/** An 8-bit immediate sign-extended to `sz` bytes (reduced to the size: 0xffff for -1 in a word). */
export function signedImm8(mem: Uint8Array, st: Decoded, sz: number): number {
  const b = (byte(mem, st) << 24) >> 24;
  return sz === 4 ? b : b & (sz === 2 ? 0xffff : 0xff);
}

/** An operand: an expression to read it and a statement to write it. */
interface Operand { read: string; write(v: string): string; mem: boolean }

function regOperand(reg: number, size: number): Operand {
  if (size === 4) return { read: `r[${reg}]`, write: (v) => `r[${reg}] = ${v};`, mem: false };
  if (size === 2) return { read: `r16[${reg << 1}]`, write: (v) => `r16[${reg << 1}] = ${v};`, mem: false };
  return { read: R8_NAMES[reg], write: (v) => `${R8_NAMES[reg]} = ${v};`, mem: false };
}

/**
 * A memory operand at seg:o. Bytes, words and dwords of a flat segment (base 0, 4 GiB)
 * are read and written straight in RAM when the address is in it, and written so only
 * outside translated code. The test leaves the physical address in `tp`: with paging off
 * the offset is the physical address (Cpu.flatMask); with paging on (Cpu.pagedMask) the
 * software TLB gives it, when its entry allows the access at this privilege level (a
 * write only once the page is dirty: see Cpu.translate); through FS or GS (basedMask)
 * the TLB is looked up at base + o. Which of these a block tests is fixed when it is
 * translated, by its mode (see `mode`). Then an aligned word or dword is one element of
 * mem16/mem32 (the cheapest, so tested first), an unaligned one a DataView access
 * (Cpu.memView: V8 makes it one unaligned load or store; four byte loads and stores
 * took 4% more instructions on LZ4, see docs/PERFORMANCE.md, issue 19).
 *
 * With paging on a word or dword must lie within one 4 KiB page: one TLB entry then
 * covers it, and one that crosses a page takes the slow path, which checks (and faults
 * on) both pages. With paging off nothing can fault, so one that crosses a page goes
 * inline too, a write only when neither page holds translated code (an unaligned write
 * checks the page of its last byte as well). Keeping the crossing access off the slow
 * path matters beyond its own cost: a slow path never taken before V8 optimized the
 * block has no type feedback, and reaching it later throws the block's optimized code
 * away (a deopt and a recompile of tens of milliseconds).
 *
 * Everything else (a TLB miss, a page past RAM, a page of translated code, a segment that
 * is not flat, a page-crossing access with paging on) goes through rd32/wr32 and the
 * others, which count it (Cpu.memFallbacks) and call Cpu.read32/write32 and the others,
 * which fill the TLB and fault. Only that slow path can fault, so it is where the
 * instruction's EIP is stored for a fault (`HERE`), not before every access; a call to a
 * helper keeps it short (source is compile time). `END4`/`END2`/`END1` stand for the
 * RAM size minus 3, 1 and 0: translate() puts the numbers in.
 */
function memOperand(seg: number, size: number): Operand {
  const fn = size * 8;
  if (seg === CS) return { read: `(cpu.instrEip = HERE, cpu.read${fn}(${seg}, o))`, write: (v) => `cpu.instrEip = HERE; cpu.write${fn}(${seg}, o, ${v});`, mem: true };
  const based = seg === FS || seg === GS;
  const read = based ? basedAt(seg, false, size) : inlineAt(seg, false, size);
  const write = based ? basedAt(seg, true, size) : inlineAt(seg, true, size);
  const slowWrite = (v: string): string => `wr${fn}(cpu, ${seg}, o, ${v}, HERE);`;
  return {
    read: `(${read} ? ${load(size)} : rd${fn}(cpu, ${seg}, o, HERE))`,
    write: (v) => `if (${write}${noCode()}) ${store(size, v, slowWrite(v))} else ${slowWrite(v)}`,
    mem: true,
  };
}

const END = ['', 'END1', 'END2', '', 'END4'];

/** The value of the `size`-byte access at physical `tp` (in RAM: see memOperand). */
function load(size: number): string {
  if (size === 1) return 'm8[tp]';
  if (size === 2) return '((tp & 1) === 0 ? m16[tp >> 1] : cpu.memView.getUint16(tp, true))';
  return '((tp & 3) === 0 ? m32[tp >> 2] : cpu.memView.getInt32(tp, true))';
}

/**
 * Stores `v` at physical `tp`, whose first page holds no translated code; an unaligned
 * word or dword may end in the next page (paging off), which must hold none either, or
 * the access goes the `slow` way.
 */
function store(size: number, v: string, slow: string): string {
  if (size === 1) return `m8[tp] = ${v};`;
  const [mask, element, set] = size === 2 ? [1, 'm16[tp >> 1]', 'setUint16'] : [3, 'm32[tp >> 2]', 'setInt32'];
  const unaligned = `cpu.memView.${set}(tp, ${v}, true);`;
  // With paging on the access lies within one page (see inlineAt and basedAt), whose
  // entry said it holds no code; with it off its last byte's page is tested too.
  return `{ if ((tp & ${mask}) === 0) ${element} = ${v}; else ${mode.paged ? unaligned : `if (cp[(tp + ${size - 1}) >>> 12] === 0) ${unaligned} else ${slow}`} }`;
}

/**
 * The mode the block being translated is for (Cpu.blockMode, Block.mode): paging on or
 * off, at CPL 3 or not, and which of ES, SS and DS are flat (base 0, 4 GiB). An access
 * through a segment that is not flat in the mode takes the slow path, with no test; one
 * through a flat segment takes the mode's inline path with no test of the segment, and
 * with paging on a TLB entry is tested for the bits this CPL needs and TLB_RAM (the page
 * is in RAM), so the physical address needs no bounds test either. The block runs only
 * in its mode: runBlock treats another as a miss and the code is translated again.
 * CoreMark with paging on: 8% fewer host instructions than testing all of it at run
 * time; with paging off, the source of the TLB path is not there to compile.
 */
const mode = { key: 0, paged: false, user: false, segs: 0 };

/**
 * After a segment load or port I/O: the block's code after it was translated for the
 * mode as it was, so if the instruction changed it (a segment made flat or not, A20
 * switched by a device) the block leaves (the next block is looked up for the new one).
 */
function modeCheck(): string {
  return `if (cpu.blockMode !== ${mode.key}) { cpu.eip = NEXT; return COUNT; }`;
}

/** The TLB entry bits an access needs in translated code at the block's CPL: the kind's and TLB_RAM, and for a write TLB_NOCODE. */
function tlbNeed(write: boolean): number {
  return tlbNeedAt(mode.user, write);
}

/** The TLB entry bits an inline access needs at CPL 3 (`user`) or not (both translators use it). */
export function tlbNeedAt(user: boolean, write: boolean): number {
  const kind = user ? (write ? TLB_USER_WRITE : TLB_USER_READ) : (write ? TLB_SUP_WRITE : TLB_SUP_READ);
  return kind | TLB_RAM | (write ? TLB_NOCODE : 0);
}

/**
 * What an inline write must also test: that its page holds no translated code. With
 * paging on the TLB entry said so (TLB_NOCODE, in tlbNeed).
 */
function noCode(): string {
  return mode.paged ? '' : ' && cp[tp >>> 12] === 0';
}

/**
 * Whether the `size`-byte access at seg:o (ES, SS or DS) can go straight to RAM, leaving
 * its physical address in `tp`: with paging off any offset whose last byte is in RAM,
 * with paging on an access within one page whose TLB entry allows it; `false` when the
 * segment is not flat in the block's mode.
 */
function inlineAt(seg: number, write: boolean, size: number): string {
  if ((mode.segs & (1 << seg)) === 0) return 'false';
  if (!mode.paged) return `((tp = o >>> 0) < ${END[size]})`;
  const page = size === 1 ? '' : `(o & 4095) < ${4097 - size} && `;
  const need = tlbNeed(write);
  return `(${page}((te = tlb[o >>> 12]) & ${need}) === ${need} && ((tp = (te & -4096) | (o & 4095)), true))`;
}

/**
 * Whether seg:o is in a segment of basedMask (paging on, offsets to 4 GiB, any base)
 * and the TLB says where base + o is in RAM: the physical address is left in `tp`. A
 * word or dword must lie within one page of linear addresses, and its offset must not
 * run past 4 GiB (the segment limit: base + o would wrap to an address in the page).
 */
function basedAt(seg: number, write: boolean, size: number): string {
  if (!mode.paged) return 'false'; // basedMask is 0 with paging off
  const fits = size === 1 ? '& 0) === 0' : `& 4095) < ${4097 - size} && (o >>> 0) < ${2 ** 32 + 1 - size}`;
  const need = tlbNeed(write);
  return `(cpu.basedMask & ${1 << seg}) !== 0 && ((l = (cpu.segBase[${seg}] + o) | 0) ${fits} && ` +
    `((te = tlb[l >>> 12]) & ${need}) === ${need} && ((tp = (te & -4096) | (l & 4095)), true)`;
}

/**
 * PUSH of a dword (a 32-bit stack): straight into RAM when SS is flat, as memOperand
 * does, and ESP aligned (a misaligned stack is rare, and the test is cheaper than the
 * unaligned store's).
 */
function push32(value: string): string {
  return `o = (r[${ESP}] - 4) | 0; if ((o & 3) === 0 && ${inlineAt(SS, true, 4)}${noCode()}) { m32[tp >> 2] = ${value}; r[${ESP}] = o; } ` +
    `else pushSlow(cpu, ${value}, HERE);`;
}

/** POP of a dword into `v`, straight from RAM when SS is flat (aligned or not, as memOperand reads). */
function pop32(): string {
  return `o = r[${ESP}]; if (${inlineAt(SS, false, 4)}) { v = ${load(4)}; r[${ESP}] = (o + 4) | 0; } else v = popSlow(cpu, HERE);`;
}

/*
 * The slow paths of memory operands, PUSH and POP (see memOperand; the WebAssembly
 * blocks' too): a call each, so a block's source stays short (it compiles in time proportional to its length). They
 * store the instruction's EIP for a fault and count the access as one that missed the
 * inline path.
 */
export function rd8(cpu: Cpu, seg: number, o: number, eip: number): number { cpu.instrEip = eip; cpu.memFallbacks++; return cpu.read8(seg, o); }
export function rd16(cpu: Cpu, seg: number, o: number, eip: number): number { cpu.instrEip = eip; cpu.memFallbacks++; return cpu.read16(seg, o); }
export function rd32(cpu: Cpu, seg: number, o: number, eip: number): number { cpu.instrEip = eip; cpu.memFallbacks++; return cpu.read32(seg, o); }
export function wr8(cpu: Cpu, seg: number, o: number, v: number, eip: number): void { cpu.instrEip = eip; cpu.memFallbacks++; cpu.write8(seg, o, v); }
export function wr16(cpu: Cpu, seg: number, o: number, v: number, eip: number): void { cpu.instrEip = eip; cpu.memFallbacks++; cpu.write16(seg, o, v); }
export function wr32(cpu: Cpu, seg: number, o: number, v: number, eip: number): void { cpu.instrEip = eip; cpu.memFallbacks++; cpu.write32(seg, o, v); }
export function pushSlow(cpu: Cpu, v: number, eip: number): void { cpu.instrEip = eip; cpu.memFallbacks++; cpu.push32(v); }
export function popSlow(cpu: Cpu, eip: number): number { cpu.instrEip = eip; cpu.memFallbacks++; return cpu.pop32(); }

/**
 * Decodes a 32-bit ModRM effective address; returns the JS expression of the offset
 * and the default segment (every 32-bit form has one).
 */
function effectiveAddress(mem: Uint8Array, st: Decoded, m: number, segOvr: number): { expr: string; seg: number } {
  const mod = m >> 6, rm = m & 7;
  let seg = DS;
  const parts: string[] = [];
  if (rm === 4) {
    const sib = byte(mem, st);
    const base = sib & 7, index = (sib >> 3) & 7, scale = sib >> 6;
    if (base === 5 && mod === 0) parts.push(String(dword(mem, st)));
    else { parts.push(`r[${base}]`); if (base === ESP || base === EBP) seg = SS; }
    if (index !== 4) parts.push(scale ? `(r[${index}] << ${scale})` : `r[${index}]`);
  } else if (rm === 5 && mod === 0) {
    parts.push(String(dword(mem, st)));
  } else {
    parts.push(`r[${rm}]`);
    if (rm === EBP) seg = SS;
  }
  if (mod === 1) parts.push(String((byte(mem, st) << 24) >> 24));
  else if (mod === 2) parts.push(String(dword(mem, st)));
  return { expr: `(${parts.join(' + ')}) | 0`, seg: segOvr >= 0 ? segOvr : seg };
}

const SIGN = ['', '0x80', '0x8000', '', '(-2147483648)'];

/**
 * The direct branch that ended the last translated instruction, if any: its condition
 * (-1 for JMP) and its displacement, so translate() can turn a branch back to the
 * block's start into a loop inside the generated function.
 */
const lastBranch = { cc: -2, disp: 0, call: false };
const MASK = ['', '0xff', '0xffff', '', '-1'];

// ---- Flags ----
//
// An instruction that sets all six status flags from registers only, with nothing in
// between that reads flags or can leave the block (a fault, an exit, a port access), makes the
// flags of the one before it dead: nobody can see them, so their recording is dropped.
// Live flags are recorded inline, as exactly the lazy state alu()/logic() record, and a
// condition read right after an inline ALU operation is worked out from that state
// without the generic condition().

/** How the last translated instruction uses the status flags (conservative by default). */
export interface FlagInfo {
  /** It reads the flags, or can leave the block (fault, exit) and so show them. */
  reads: boolean;
  /** It changes the flags. */
  modifies: boolean;
  /** It sets all six status flags, whatever they were. */
  all: boolean;
  /**
   * INC or DEC: sets five flags and carries CF over. Without `reads` (a register
   * operand), its flags dead make the CF it carried dead too; live, it read CF.
   */
  keepsCf: boolean;
  /** The LazyOp it records inline (ADD, SUB/CMP or a logic op; -1: something else), and its operand size. */
  op: number;
  size: number;
}
const flagInfo: FlagInfo = { reads: true, modifies: true, all: false, keepsCf: false, op: -1, size: 0 };
/**
 * The lazy flag state as far as this block knows it: set by an inline ALU operation
 * (op -1: unknown); after INC/DEC, `cfKept`: CF is a plain bit in cpu.flags.
 */
const known = { op: -1, size: 0, cfKept: false };
/** Marks the lines of an instruction that record its flags, for dropDeadFlags. */
const FLAGS = 'FLAGS ';

/** The instruction only moves data between registers: no flags, no way out of the block. */
function flagsUntouched(): void {
  flagInfo.reads = false; flagInfo.modifies = false;
}

/** The instruction may fault or exit but leaves the flags alone. */
function flagsKept(): void {
  flagInfo.modifies = false;
}

/** A data move: with a memory operand it may fault, else it is invisible to the flags. */
function dataMove(memory: boolean): void {
  if (memory) flagsKept(); else flagsUntouched();
}

/** The instruction sets all six flags, recording `op` inline; `mayLeave` when it can fault. */
function flagsSet(op: number, sz: number, mayLeave: boolean): void {
  flagInfo.reads = mayLeave; flagInfo.modifies = true; flagInfo.all = true; flagInfo.op = op; flagInfo.size = sz;
}

/**
 * Which instructions' flag recordings someone can see (the rest are overwritten unseen),
 * from how each uses the flags, in block order (both translators use it).
 */
export function liveFlags(infos: readonly FlagInfo[]): boolean[] {
  const keep = new Array<boolean>(infos.length);
  let live = true; // at the end of the block, whoever runs next may read them
  for (let i = infos.length - 1; i >= 0; i--) {
    const f = infos[i];
    const killer = !f.reads && f.modifies && f.all;
    const carrier = !f.reads && f.keepsCf;
    keep[i] = live || !(killer || carrier);
    if (killer) live = false;
    else if (carrier) { /* earlier flags are live exactly when its own are */ }
    else if (f.reads || f.modifies) live = true;
  }
  return keep;
}

/** Drops the flag recording of every instruction whose flags are overwritten unseen. */
function dropDeadFlags(bodies: string[][], infos: FlagInfo[]): void {
  const keep = liveFlags(infos);
  for (let i = 0; i < bodies.length; i++) {
    bodies[i] = bodies[i].flatMap((line) => (!line.startsWith(FLAGS) ? [line] : keep[i] ? [line.slice(FLAGS.length)] : []));
  }
}

const LAZY_OP = [LazyOp.Add, LazyOp.Logic, -1, -1, LazyOp.Logic, LazyOp.Sub, LazyOp.Logic, LazyOp.Sub];
const ALU_EXPR = ['a + b', 'a | b', '', '', 'a & b', 'a - b', 'a ^ b', 'a - b'];

/**
 * ALU operation `aluOp` (not ADC or SBB, which read CF) of the locals `a` and `b`:
 * the result into `v` and the lazy flags exactly as alu() records them.
 */
function emitAlu(out: string[], aluOp: number, sz: number, mayLeave: boolean): void {
  out.push(`v = (${ALU_EXPR[aluOp]}) & ${MASK[sz]};`);
  out.push(`${FLAGS}cpu.lazyOp = ${LAZY_OP[aluOp]}; cpu.lazyA = a; cpu.lazyB = b; cpu.lazyR = v; cpu.lazySign = ${SIGN[sz]}; cpu.flagsLazy = ${ARITH};`);
  flagsSet(LAZY_OP[aluOp], sz, mayLeave);
}

/** TEST: the lazy flags logic() records for the result expression `r`. */
function emitTest(out: string[], r: string, sz: number, mayLeave: boolean): void {
  out.push(`v = ${r};`);
  out.push(`${FLAGS}cpu.lazyOp = ${LazyOp.Logic}; cpu.lazyA = 0; cpu.lazyB = 0; cpu.lazyR = v; cpu.lazySign = ${SIGN[sz]}; cpu.flagsLazy = ${ARITH};`);
  flagsSet(LazyOp.Logic, sz, mayLeave);
}

/**
 * INC/DEC of the local `a` (SDM vol. 2: CF unchanged): the result into `v`, and the
 * flags as incdec() sets them, CF worked out inline when the state is known.
 */
function emitIncDec(out: string[], dec: boolean, sz: number, mayLeave: boolean): void {
  const cf = known.op >= 0 ? `${conditionExpr(2)} ? 1 : 0` : 'cpu.getCF()';
  const op = dec ? LazyOp.Sub : LazyOp.Add;
  out.push(`v = (a ${dec ? '-' : '+'} 1) & ${MASK[sz]};`);
  out.push(`${FLAGS}c = ${cf}; cpu.lazyOp = ${op}; cpu.lazyA = a; cpu.lazyB = 1; cpu.lazyR = v; cpu.lazySign = ${SIGN[sz]}; ` +
    `cpu.flags = (cpu.flags & ~${CF}) | c; cpu.flagsLazy = ${ARITH & ~CF};`);
  flagInfo.reads = mayLeave; flagInfo.keepsCf = true; flagInfo.op = op; flagInfo.size = sz;
}

/**
 * IMUL of the 32-bit locals `a` and `b` (two- and three-operand forms): the truncated
 * product into `v`, and the flags as imulTrunc() sets them (CF = OF = the product does
 * not fit in 32 signed bits; a double holds the exact product where it does).
 */
function emitImul32(out: string[], mayLeave: boolean): void {
  out.push('v = Math.imul(a, b);', `${FLAGS}c = v !== (a | 0) * (b | 0) ? 1 : 0; setResultFlags(cpu, v, -2147483648, c, c !== 0, false);`);
  flagsSet(-1, 4, mayLeave);
}

/**
 * Shifts and rotates by a constant (1-31) of the local `a`, in any size: the result
 * into `v` and the flags as shift() records them. SHL, SHR and SAR set all six status
 * flags; ROL and ROR only CF and OF, leaving the rest as they were. RCL and RCR (which
 * read CF), and shifts of 8- and 16-bit operands by their width or more, return false:
 * the caller calls shift().
 */
function emitShiftImm(out: string[], kind: number, count: number, sz: number, mayLeave: boolean): boolean {
  const bits = sz * 8;
  const mask = MASK[sz], sign = SIGN[sz];
  if (kind === 0 || kind === 1) {
    // The count is taken modulo the width; a multiple of it leaves the value and still sets CF and OF from it.
    const c = count & (bits - 1);
    const ua = sz === 4 ? 'a' : `(a & ${mask})`;
    const half = sz === 4 ? '0x40000000' : sz === 2 ? '0x4000' : '0x40';
    if (kind === 0) {
      out.push(c === 0 ? `v = ${ua};` : `v = ((${ua} << ${c}) | (${ua} >>> ${bits - c})) & ${mask};`);
      out.push(`${FLAGS}setCfOf(cpu, v & 1, ((v & ${sign}) !== 0) !== ((v & 1) !== 0));`);
    } else {
      out.push(c === 0 ? `v = ${ua};` : `v = ((${ua} >>> ${c}) | (${ua} << ${bits - c})) & ${mask};`);
      out.push(`${FLAGS}setCfOf(cpu, (v & ${sign}) !== 0 ? 1 : 0, ((v & ${sign}) !== 0) !== ((v & ${half}) !== 0));`);
    }
    // Only CF and OF change: the flags before it stay live, and the state is no longer one an inline condition knows.
    flagInfo.reads = mayLeave; flagInfo.modifies = true; flagInfo.all = false; flagInfo.op = -1; flagInfo.size = sz;
    return true;
  }
  if (kind < 4 || count >= bits) return false;
  let r: string, cf: string, of: string;
  if (sz === 4) {
    if (kind === 5) { r = `(a >>> ${count}) & -1`; cf = `(a >>> ${count - 1}) & 1`; of = '(a & -2147483648) !== 0'; }
    else if (kind === 7) { r = `(a >> ${count}) & -1`; cf = `(a >> ${count - 1}) & 1`; of = 'false'; }
    else { r = `(a << ${count}) & -1`; cf = `(a >>> ${32 - count}) & 1`; of = '((v & -2147483648) !== 0) !== (c !== 0)'; }
  } else {
    const ua = `(a & ${mask})`, sa = `((a << ${32 - bits}) >> ${32 - bits})`;
    if (kind === 5) { r = `${ua} >>> ${count}`; cf = `(${ua} >>> ${count - 1}) & 1`; of = `(a & ${sign}) !== 0`; }
    else if (kind === 7) { r = `(${sa} >> ${count}) & ${mask}`; cf = `(${sa} >> ${count - 1}) & 1`; of = 'false'; }
    else { r = `(a << ${count}) & ${mask}`; cf = `(${ua} >>> ${bits - count}) & 1`; of = `((v & ${sign}) !== 0) !== (c !== 0)`; }
  }
  out.push(`v = ${r};`, `${FLAGS}c = ${cf}; setResultFlags(cpu, v, ${sign}, c, ${of}, false);`);
  flagsSet(-1, sz, mayLeave);
  return true;
}

/**
 * The JS expression of condition `cc` (SDM vol. 2, appendix B.1). After an inline ALU
 * operation the flag state is known: the same formulas as Cpu.getCF() and the others,
 * and for a subtraction (SUB, CMP: never SBB) the unsigned and signed comparisons of
 * its operands, which are what CF and SF != OF of a plain subtraction are.
 */
function conditionExpr(cc: number): string {
  if (known.op < 0) return `condition(cpu, ${cc})`;
  const S = SIGN[known.size];
  const A = 'cpu.lazyA', B = 'cpu.lazyB', R = 'cpu.lazyR';
  const zf = `${R} === 0`, sf = `(${R} & ${S}) !== 0`;
  const sx = (x: string) => (known.size === 4 ? `(${x} | 0)` : known.size === 2 ? `((${x} << 16) >> 16)` : `((${x} << 24) >> 24)`);
  const ux = (x: string) => (known.size === 4 ? `(${x} >>> 0)` : x);
  let of: string, cf: string, below: string, belowEq: string, less: string, lessEq: string;
  if (known.cfKept) {
    // After INC/DEC (a plain addition or subtraction of 1 but for CF, which is stored).
    cf = `(cpu.flags & ${CF}) !== 0`;
    below = cf; belowEq = `${cf} || ${zf}`;
    if (known.op === LazyOp.Sub) {
      of = `(((${A} ^ ${B}) & (${A} ^ ${R})) & ${S}) !== 0`;
      less = `${sx(A)} < ${sx(B)}`; lessEq = `${sx(A)} <= ${sx(B)}`;
    } else {
      of = `(((${A} ^ ${R}) & (${B} ^ ${R})) & ${S}) !== 0`;
      less = `(${sf}) !== (${of})`; lessEq = `${zf} || (${sf}) !== (${of})`;
    }
  } else if (known.op === LazyOp.Logic) {
    of = 'false'; cf = 'false';
    below = 'false'; belowEq = zf; less = sf; lessEq = `${zf} || ${sf}`;
  } else if (known.op === LazyOp.Sub) {
    of = `(((${A} ^ ${B}) & (${A} ^ ${R})) & ${S}) !== 0`; cf = `${ux(A)} < ${ux(B)}`;
    below = cf; belowEq = `${ux(A)} <= ${ux(B)}`; less = `${sx(A)} < ${sx(B)}`; lessEq = `${sx(A)} <= ${sx(B)}`;
  } else {
    of = `(((${A} ^ ${R}) & (${B} ^ ${R})) & ${S}) !== 0`; cf = `(((${A} & ${B}) | ((${A} | ${B}) & ~${R})) & ${S}) !== 0`;
    below = cf; belowEq = `${cf} || ${zf}`; less = `(${sf}) !== (${of})`; lessEq = `${zf} || (${sf}) !== (${of})`;
  }
  const e = [of, below, zf, belowEq, sf, `PARITY[${R} & 0xff] !== 0`, less, lessEq][cc >> 1];
  return cc & 1 ? `!(${e})` : `(${e})`;
}

/**
 * REP MOVS and REP STOS (memcpy and memset), through the interpreter's handlers with
 * the prefix state they read: they charge each element's cycles themselves, move a
 * whole run in bulk when they can, and stop part-way (ECX not yet 0, EIP back on the
 * instruction) when the slice is over. So the block charges the instructions before,
 * leaves if the copy stopped part-way, and after it goes on only as port I/O does.
 */
function emitRepString(out: string[], op: number, sz: number, segOvr: number, ieip: number): Emit {
  const fn = op <= 0xa5 ? 'stringMovs' : 'stringStos';
  flagsKept();
  // With ECX 0 (a memcpy's tail of no bytes) it does nothing: it is an instruction of the block like any other.
  out.push('if (r[1] !== 0) {');
  out.push('COMMIT', `cpu.instrEip = ${ieip};`, `cpu.rep = 1;${segOvr >= 0 ? ` cpu.segOvr = ${segOvr};` : ''}`);
  out.push(`${fn}(cpu, ${sz});`, `cpu.rep = 0;${segOvr >= 0 ? ' cpu.segOvr = -1;' : ''}`);
  out.push(`if (r[1] !== 0) { cpu.eip = ${ieip}; return COUNT; }`, 'if (cpu.smc === true) { cpu.eip = NEXT; return COUNT; }');
  out.push('REBUDGET', IO_CHECK, '}');
  return Emit.Plain; // the checks an Io instruction gets are above, inside the test of ECX
}

/**
 * Emits the code of one instruction into `out`. Placeholders NEXT and COUNT are
 * replaced by the next EIP and the instruction's 1-based index in the block.
 */
function translateOne(cpu: Cpu, mem: Uint8Array, st: Decoded, ieip: number, out: string[]): Emit {
  const startPos = st.pos;
  const { op, size, segOvr, rep } = prefixes(mem, st);
  if (!st.ok) return Emit.None;
  const markFault = `cpu.instrEip = ${ieip};`;
  if (rep && op === 0x90) {
    // PAUSE: its cycles beyond an instruction's are charged here, and the block goes on
    // only if the rest of this pass still fits (delay loops spin on it, so it stays in them).
    if (cpu.pauseCycles === cpu.instructionCycles) { flagsUntouched(); return Emit.Plain; }
    flagsKept(); // it may leave the block: the flags before it are seen
    out.push('cpu.left -= cpu.pauseCycles - cpu.instructionCycles;', 'REBUDGET', BUDGET_CHECK);
    return Emit.Plain;
  }
  if (rep) return op === 0xa4 || op === 0xa5 || op === 0xaa || op === 0xab ? emitRepString(out, op, op & 1 ? size : 1, segOvr, ieip) : Emit.None;
  if ((op >= 0xd8 && op <= 0xdf) || op === 0x9b) {
    // x87 instructions and WAIT: the interpreter's handlers, called from the block, so
    // that the integer code around x87 code stays translated (v86 does the same). They
    // decode their ModRM from the fetch window (EIP on it), with the segment prefix the
    // interpreter would have set. As around port I/O: the instructions before are charged
    // first, and the block stops after one if an interrupt is pending (FERR# raises IRQ
    // 13) or the slice is over; after a frozen one (FERR# with IGNNE# off, EIP left on
    // it, the CPU halted) at once; after a store into code, as after any write. The flags
    // stay as recorded before (FCMOVcc reads them, FCOMI writes them), and an instruction
    // across the page's end is left to the interpreter (straddle takes no Io).
    if (size !== 4) return Emit.None;
    const fetchAt = ieip + (st.pos - startPos);
    if (op !== 0x9b) {
      const m = byte(mem, st);
      if (m < 0xc0) effectiveAddress(mem, st, m, segOvr);
      if (!st.ok) return Emit.None;
    }
    const seg = segOvr >= 0 ? [` cpu.segOvr = ${segOvr};`, ' cpu.segOvr = -1;'] : ['', ''];
    out.push('COMMIT', markFault, `cpu.eip = ${fetchAt};${seg[0]}`, `${op === 0x9b ? 'WAIT' : 'ESC_x87'}(cpu, ${op});${seg[1]}`,
      'if (cpu.halted === true) return COUNT;', 'if (cpu.smc === true) { cpu.eip = NEXT; return COUNT; }');
    return Emit.Io;
  }
  // ModRM operands: E (r/m) and G (reg); for memory E, `o` holds the offset.
  let m = 0;
  let E: Operand = regOperand(0, size);
  let G: Operand = regOperand(0, size);
  const modrm = (opSize: number): void => {
    m = byte(mem, st);
    G = regOperand((m >> 3) & 7, opSize);
    if (m >= 0xc0) {
      E = regOperand(m & 7, opSize);
    } else {
      const ea = effectiveAddress(mem, st, m, segOvr);
      E = memOperand(ea.seg, opSize);
      out.push(`o = ${ea.expr};`); // the access's slow path stores the EIP for a fault
    }
  };
  const wrote = (): Emit => (E.mem ? Emit.Writes : Emit.Plain);
  const imm = (sz: number): number => immediate(mem, st, sz);
  const simm8 = (sz: number): number => signedImm8(mem, st, sz);

  // ---- One-byte opcodes ----
  if (op < 0x40 && (op & 7) < 6) {
    const aluOp = op >> 3;
    const form = op & 7;
    const carry = aluOp === 2 || aluOp === 3; // ADC, SBB read CF: the generic helper
    if (form === 0 || form === 1) {
      const sz = form === 0 ? 1 : size;
      modrm(sz);
      if (carry) out.push(`v = alu(cpu, ${aluOp}, ${E.read}, ${G.read}, ${SIGN[sz]});`);
      else { out.push(`a = ${E.read};`, `b = ${G.read};`); emitAlu(out, aluOp, sz, E.mem); }
      if (aluOp !== 7) { out.push(E.write('v')); return wrote(); }
      return Emit.Plain;
    }
    if (form === 2 || form === 3) {
      const sz = form === 2 ? 1 : size;
      modrm(sz);
      if (carry) out.push(`v = alu(cpu, ${aluOp}, ${G.read}, ${E.read}, ${SIGN[sz]});`);
      else { out.push(`a = ${G.read};`, `b = ${E.read};`); emitAlu(out, aluOp, sz, E.mem); }
      if (aluOp !== 7) out.push(G.write('v'));
      return Emit.Plain;
    }
    const sz = form === 4 ? 1 : size;
    const acc = regOperand(0, sz);
    const k = imm(sz);
    if (carry) out.push(`v = alu(cpu, ${aluOp}, ${acc.read}, ${sz === 4 ? k | 0 : k}, ${SIGN[sz]});`);
    else { out.push(`a = ${acc.read};`, `b = ${sz === 4 ? k | 0 : k};`); emitAlu(out, aluOp, sz, false); }
    if (aluOp !== 7) out.push(acc.write('v'));
    return Emit.Plain;
  }
  if (op >= 0x40 && op <= 0x4f) {
    const R = regOperand(op & 7, size);
    out.push(`a = ${R.read};`);
    emitIncDec(out, op >= 0x48, size, false);
    out.push(R.write('v'));
    return Emit.Plain;
  }
  if (op >= 0x50 && op <= 0x57) {
    out.push(size === 4 ? push32(`r[${op & 7}]`) : `${markFault} cpu.push16(r16[${(op & 7) << 1}]);`);
    flagsKept();
    return Emit.Writes;
  }
  if (op >= 0x58 && op <= 0x5f) {
    out.push(size === 4 ? `${pop32()} r[${op & 7}] = v;` : `${markFault} v = cpu.pop16(); r16[${(op & 7) << 1}] = v;`);
    flagsKept();
    return Emit.Plain;
  }
  if (op >= 0x70 && op <= 0x7f) {
    if (size !== 4) return Emit.None;
    const d = (byte(mem, st) << 24) >> 24;
    lastBranch.cc = op & 15; lastBranch.disp = d;
    flagsKept();
    return Emit.Branch;
  }
  if (op >= 0xb0 && op <= 0xb7) { out.push(`${R8_NAMES[op & 7]} = ${byte(mem, st)};`); flagsUntouched(); return Emit.Plain; }
  if (op >= 0xb8 && op <= 0xbf) { const R = regOperand(op & 7, size); out.push(R.write(String(size === 4 ? dword(mem, st) : word(mem, st)))); flagsUntouched(); return Emit.Plain; }
  if (op >= 0x91 && op <= 0x97) {
    const A = regOperand(0, size), R = regOperand(op & 7, size);
    out.push(`v = ${A.read};`, A.write(R.read), R.write('v'));
    flagsUntouched();
    return Emit.Plain;
  }
  switch (op) {
    case 0xa4: case 0xa5: case 0xaa: case 0xab: case 0xac: case 0xad: {
      // MOVS, STOS, LODS without REP (compilers write copy loops with them), 32-bit addressing.
      const sz = op & 1 ? size : 1;
      const rd = sz === 4 ? 'read32' : sz === 2 ? 'read16' : 'read8';
      const wr = sz === 4 ? 'write32' : sz === 2 ? 'write16' : 'write8';
      const src = segOvr >= 0 ? segOvr : DS;
      const acc = regOperand(0, sz);
      flagsKept();
      out.push(markFault, `c = cpu.flags & 0x400 ? ${-sz} : ${sz};`);
      if (op <= 0xa5) {
        out.push(`cpu.${wr}(${ES}, r[7], cpu.${rd}(${src}, r[6]));`, 'r[6] = (r[6] + c) | 0;', 'r[7] = (r[7] + c) | 0;');
        return Emit.Writes;
      }
      if (op <= 0xab) {
        out.push(`cpu.${wr}(${ES}, r[7], ${acc.read});`, 'r[7] = (r[7] + c) | 0;');
        return Emit.Writes;
      }
      out.push(acc.write(`cpu.${rd}(${src}, r[6])`), 'r[6] = (r[6] + c) | 0;');
      return Emit.Plain;
    }
    case 0xe4: case 0xe5: case 0xec: case 0xed: {
      // IN AL/eAX, imm8 or DX. The interrupt flag cannot change here, so only devices matter.
      const port = op < 0xec ? String(byte(mem, st)) : 'r16[4]';
      const sz = op & 1 ? size : 1;
      const R = regOperand(0, sz);
      out.push('COMMIT', markFault, R.write(`portIn(cpu, ${port}, ${sz})`));
      return Emit.Io;
    }
    case 0xe6: case 0xe7: case 0xee: case 0xef: {
      const port = op < 0xee ? String(byte(mem, st)) : 'r16[4]';
      const sz = op & 1 ? size : 1;
      out.push('COMMIT', markFault, `portOut(cpu, ${port}, ${sz}, ${regOperand(0, sz).read});`);
      return Emit.Io;
    }
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
      // MOV AL/eAX to and from a direct offset (moffs), 32-bit addressing.
      const sz = op & 1 ? size : 1;
      const M = memOperand(segOvr >= 0 ? segOvr : DS, sz);
      const acc = regOperand(0, sz);
      out.push(`o = ${dword(mem, st)};`, op < 0xa2 ? acc.write(M.read) : M.write(acc.read));
      flagsKept();
      return op < 0xa2 ? Emit.Plain : Emit.Writes;
    }
    // Stack and flag instructions of interrupt and lock code: the interpreter's handlers,
    // which read cpu.o32 (true in a block), so only without an operand-size prefix.
    case 0x60: case 0x61: case 0x9c:
      if (size !== 4) return Emit.None;
      flagsKept();
      out.push(markFault, `${op === 0x60 ? 'PUSHA' : op === 0x61 ? 'POPA' : 'PUSHF'}(cpu, ${op});`);
      return op === 0x61 ? Emit.Plain : Emit.Writes;
    case 0x06: case 0x1e:
      if (size !== 4) return Emit.None;
      flagsKept();
      out.push(markFault, `cpu.push32(cpu.sreg[${op === 0x06 ? ES : DS}]);`);
      return Emit.Writes;
    case 0x07: case 0x1f:
      // A segment load may set a descriptor's accessed bit: a write.
      if (size !== 4) return Emit.None;
      flagsKept();
      out.push(markFault, `popSegment(cpu, ${op === 0x07 ? ES : DS});`, modeCheck());
      return Emit.Writes;
    case 0x8e: {
      // MOV Sreg, Ew for the data segments; SS (which holds off interrupts) and CS are left to the interpreter.
      modrm(2);
      const s = (m >> 3) & 7;
      if (s !== ES && s !== DS && s !== FS && s !== GS) return Emit.None;
      out.push(`v = ${E.read};`, markFault, `loadSegment(cpu, ${s}, v);`, modeCheck());
      flagsKept();
      return Emit.Writes;
    }
    case 0xfa: out.push(markFault, 'CLI(cpu, 0xfa);'); flagsKept(); return Emit.Plain;
    case 0xfb:
      // STI holds off interrupts for one instruction, counted from cpu.instructions:
      // charge the block's earlier instructions first. A block runs only while no
      // interrupt can be taken; the line may be up with IF clear (nobody serves it), and
      // then STI makes one takeable: the block ends after it and the run loop steps the
      // one instruction of the hold-off, then delivers. With the line low the block goes
      // on (only port I/O and x87's FERR# raise it in a block, after which it looks: IO_CHECK).
      out.push('COMMIT', markFault, 'STI(cpu, 0xfb);', 'if (cpu.irqLine === true) { cpu.eip = NEXT; return COUNT; }');
      flagsKept();
      return Emit.Plain;
    // CLD, STD: DF is never lazy, so to the status flags these are invisible.
    case 0xfc: out.push('cpu.flags &= ~0x400;'); flagsUntouched(); return Emit.Plain;
    case 0xfd: out.push('cpu.flags |= 0x400;'); flagsUntouched(); return Emit.Plain;
    case 0x0f: return translate0F(mem, st, size, segOvr, markFault, out, modrm, () => E, () => G, () => m);
    case 0x68: out.push(size === 4 ? push32(String(dword(mem, st))) : `${markFault} cpu.push16(${word(mem, st)});`); flagsKept(); return Emit.Writes;
    case 0x6a: out.push(size === 4 ? push32(String(simm8(4))) : `${markFault} cpu.push16(${simm8(2)});`); flagsKept(); return Emit.Writes;
    case 0x69: case 0x6b: {
      modrm(size);
      out.push(`a = ${E.read};`);
      const k = op === 0x69 ? imm(size) : simm8(size);
      if (size === 4) { out.push(`b = ${k | 0};`); emitImul32(out, E.mem); out.push(G.write('v')); return Emit.Plain; }
      out.push(G.write(`imulTrunc(cpu, a, ${k}, ${size * 8})`));
      return Emit.Plain;
    }
    case 0x80: case 0x81: case 0x82: case 0x83: {
      const sz = op === 0x81 || op === 0x83 ? size : 1;
      modrm(sz);
      const aluOp = (m >> 3) & 7;
      out.push(`a = ${E.read};`);
      const k = op === 0x83 ? simm8(sz) : imm(sz);
      if (aluOp === 2 || aluOp === 3) out.push(`v = alu(cpu, ${aluOp}, a, ${sz === 4 ? k | 0 : k}, ${SIGN[sz]});`);
      else { out.push(`b = ${sz === 4 ? k | 0 : k};`); emitAlu(out, aluOp, sz, E.mem); }
      if (aluOp !== 7) { out.push(E.write('v')); return wrote(); }
      return Emit.Plain;
    }
    case 0x84: case 0x85: {
      const sz = op === 0x84 ? 1 : size;
      modrm(sz);
      emitTest(out, `(${E.read} & ${G.read}) & ${MASK[sz]}`, sz, E.mem);
      return Emit.Plain;
    }
    case 0x86: case 0x87: {
      const sz = op === 0x86 ? 1 : size;
      modrm(sz);
      out.push(`a = ${E.read};`, E.write(G.read), G.write('a'));
      dataMove(E.mem);
      return wrote();
    }
    case 0x88: case 0x89: modrm(op === 0x88 ? 1 : size); out.push(E.write(G.read)); dataMove(E.mem); return wrote();
    case 0x8a: case 0x8b: modrm(op === 0x8a ? 1 : size); out.push(G.write(E.read)); dataMove(E.mem); return Emit.Plain;
    case 0x8d: {
      m = byte(mem, st);
      if (m >= 0xc0) return Emit.None;
      const ea = effectiveAddress(mem, st, m, segOvr);
      const R = regOperand((m >> 3) & 7, size);
      out.push(R.write(size === 4 ? `${ea.expr}` : `(${ea.expr}) & 0xffff`));
      flagsUntouched();
      return Emit.Plain;
    }
    case 0x90: flagsUntouched(); return Emit.Plain;
    case 0x98: out.push(size === 4 ? 'r[0] = (r16[0] << 16) >> 16;' : 'r16[0] = (r8[0] << 24) >> 24;'); flagsUntouched(); return Emit.Plain;
    case 0x99: out.push(size === 4 ? 'r[2] = r[0] >> 31;' : 'r16[4] = (r16[0] & 0x8000) ? 0xffff : 0;'); flagsUntouched(); return Emit.Plain;
    case 0xa8: emitTest(out, `r8[0] & ${byte(mem, st)}`, 1, false); return Emit.Plain;
    case 0xa9: {
      const A = regOperand(0, size);
      emitTest(out, `(${A.read} & ${imm(size)}) & ${MASK[size]}`, size, false);
      return Emit.Plain;
    }
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd3: {
      const sz = op & 1 ? size : 1;
      modrm(sz);
      const kind = (m >> 3) & 7;
      out.push(`a = ${E.read};`);
      const count = op === 0xd3 ? -1 : op <= 0xc1 ? byte(mem, st) & 31 : 1;
      if (count > 0 && emitShiftImm(out, kind, count, sz, E.mem)) {
        out.push(E.write('v'));
        return wrote();
      }
      out.push(count < 0 ? 'c = r8[4] & 31;' : `c = ${count};`);
      out.push(`if (c !== 0) { ${E.write(`shift(cpu, ${kind}, a, c, ${sz * 8})`)} }`);
      return wrote();
    }
    case 0xc2: case 0xc3: {
      if (size !== 4) return Emit.None;
      const n = op === 0xc2 ? word(mem, st) : 0;
      out.push(pop32());
      if (n) out.push(`cpu.setSP(cpu.getSP() + ${n});`);
      out.push('cpu.eip = v >>> 0;', 'return COUNT;');
      return Emit.Terminates;
    }
    case 0xc6: case 0xc7: {
      const sz = op === 0xc6 ? 1 : size;
      modrm(sz);
      if (((m >> 3) & 7) !== 0) return Emit.None;
      out.push(E.write(String(imm(sz))));
      dataMove(E.mem);
      return wrote();
    }
    case 0xe8: {
      if (size !== 4) return Emit.None;
      const d = dword(mem, st);
      lastBranch.call = true; lastBranch.disp = d;
      out.push(push32(String(ieip + (st.pos - startPos))));
      flagsKept();
      return Emit.Jump;
    }
    case 0xe9: case 0xeb: {
      if (size !== 4) return Emit.None;
      const d = op === 0xe9 ? dword(mem, st) : (byte(mem, st) << 24) >> 24;
      lastBranch.cc = -1; lastBranch.disp = d;
      flagsUntouched();
      return Emit.Jump;
    }
    case 0xf6: case 0xf7: {
      const sz = op === 0xf6 ? 1 : size;
      modrm(sz);
      const kind = (m >> 3) & 7;
      out.push(`a = ${E.read};`);
      switch (kind) {
        case 0: case 1: emitTest(out, `a & ${imm(sz)} & ${MASK[sz]}`, sz, E.mem); return Emit.Plain;
        case 2: out.push(E.write(`~a & ${MASK[sz]}`)); dataMove(E.mem); return wrote();
        case 3: out.push(E.write(`sub(cpu, 0, a, ${SIGN[sz]})`)); return wrote();
      }
      if (sz !== 4) return Emit.None;
      switch (kind) {
        case 4: out.push('v = mulU32(r[0], a); r[0] = v; r[2] = mulHigh[0]; mulFlags(cpu, v, -2147483648, mulHigh[0] !== 0);'); return Emit.Plain;
        case 5: out.push('v = mulS32(r[0], a); r[0] = v; r[2] = mulHigh[0]; mulFlags(cpu, v, -2147483648, mulHigh[0] !== (v >> 31));'); return Emit.Plain;
        case 6: out.push(markFault, 'div32(cpu, a);'); return Emit.Plain;
        default: out.push(markFault, 'idiv32(cpu, a);'); return Emit.Plain;
      }
    }
    case 0xfe: case 0xff: {
      const sz = op === 0xfe ? 1 : size;
      modrm(sz);
      const kind = (m >> 3) & 7;
      if (kind < 2) {
        out.push(`a = ${E.read};`);
        emitIncDec(out, kind === 1, sz, E.mem);
        out.push(E.write('v'));
        return wrote();
      }
      if (op === 0xfe || size !== 4) return Emit.None;
      if (kind === 2) { out.push(`v = ${E.read};`, push32('NEXT'), 'cpu.eip = v >>> 0;', 'return COUNT;'); return Emit.Terminates; }
      if (kind === 4) { out.push(`cpu.eip = ${E.read} >>> 0;`, 'return COUNT;'); return Emit.Terminates; }
      if (kind === 6) { out.push(`v = ${E.read};`, push32('v')); flagsKept(); return Emit.Writes; }
      return Emit.None;
    }
    default:
      return Emit.None;
  }
}

function translate0F(
  mem: Uint8Array, st: Decoded, size: number, segOvr: number, markFault: string, out: string[],
  modrm: (sz: number) => void, getE: () => Operand, getG: () => Operand, getM: () => number,
): Emit {
  void segOvr;
  const op = byte(mem, st);
  if (op >= 0x80 && op <= 0x8f) {
    if (size !== 4) return Emit.None;
    const d = dword(mem, st);
    lastBranch.cc = op & 15; lastBranch.disp = d;
    flagsKept();
    return Emit.Branch;
  }
  if (op >= 0x40 && op <= 0x4f) {
    modrm(size);
    out.push(`v = ${getE().read};`, `if (${conditionExpr(op & 15)}) { ${getG().write('v')} }`);
    flagsKept();
    return Emit.Plain;
  }
  if (op >= 0x90 && op <= 0x9f) {
    modrm(1);
    out.push(getE().write(`${conditionExpr(op & 15)} ? 1 : 0`));
    flagsKept();
    return getE().mem ? Emit.Writes : Emit.Plain;
  }
  if (op === 0xa0 || op === 0xa8 || op === 0xa1 || op === 0xa9) {
    // PUSH/POP FS and GS (see the one-byte forms).
    if (size !== 4) return Emit.None;
    const seg = op < 0xa8 ? FS : GS;
    out.push(markFault, op & 1 ? `popSegment(cpu, ${seg});` : `cpu.push32(cpu.sreg[${seg}]);`);
    if (op & 1) out.push(modeCheck());
    flagsKept();
    return Emit.Writes;
  }
  if (op >= 0xc8 && op <= 0xcf) {
    if (size !== 4) return Emit.None;
    const n = op & 7;
    out.push(`v = r[${n}]; r[${n}] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);`);
    flagsUntouched();
    return Emit.Plain;
  }
  switch (op) {
    case 0xaf:
      modrm(size);
      if (size === 4) {
        out.push(`a = ${getG().read};`, `b = ${getE().read};`);
        emitImul32(out, getE().mem);
        out.push(getG().write('v'));
        return Emit.Plain;
      }
      out.push(getG().write(`imulTrunc(cpu, ${getG().read}, ${getE().read}, ${size * 8})`));
      return Emit.Plain;
    case 0x31:
      // RDTSC reads the clock: charge the instructions before it first, as for port I/O.
      out.push('COMMIT', markFault, 'RDTSC(cpu, 0x31);');
      flagsKept();
      return Emit.Plain;
    case 0xbc: case 0xbd: {
      // BSF/BSR (LZ4's and any ctz's): as the interpreter does it, a zero source sets ZF
      // and leaves the destination alone; else the index, and the flags logic() records
      // for it with bit 8 set (ZF clear). 32-bit only: the 16-bit form's two cases
      // record different sign bits, which the block's flag knowledge cannot follow.
      if (size !== 4) return Emit.None;
      modrm(4);
      const E = getE();
      const index = op === 0xbc ? '31 - Math.clz32(b & -b)' : '31 - Math.clz32(b)';
      out.push(`b = ${E.read};`, `if (b !== 0) { ${getG().write(index)} }`);
      out.push(`${FLAGS}cpu.lazyOp = ${LazyOp.Logic}; cpu.lazyA = 0; cpu.lazyB = 0; cpu.lazyR = b === 0 ? 0 : (${index}) | 0x100; cpu.lazySign = ${SIGN[4]}; cpu.flagsLazy = ${ARITH};`);
      flagsSet(LazyOp.Logic, 4, E.mem);
      return Emit.Plain;
    }
    case 0xb6: case 0xbe: {
      modrm(1);
      const E = getE();
      const G = regOperand((getM() >> 3) & 7, size);
      out.push(G.write(op === 0xb6 ? E.read : `((${E.read} << 24) >> 24) & ${MASK[size]}`));
      dataMove(E.mem);
      return Emit.Plain;
    }
    case 0xb7: case 0xbf: {
      modrm(2);
      const E = getE();
      const G = regOperand((getM() >> 3) & 7, size);
      out.push(G.write(op === 0xb7 ? E.read : `((${E.read} << 16) >> 16) & ${MASK[size]}`));
      dataMove(E.mem);
      return Emit.Plain;
    }
    default:
      return Emit.None;
  }
}
