/**
 * The WebAssembly block translator: a block of common 32-bit instructions as one
 * WebAssembly function, which V8 compiles straight to machine code (its Liftoff tier)
 * and whose register and memory accesses need none of JavaScript's checks. It sits
 * beside the JavaScript translator (translator.ts), which it mirrors: the same blocks
 * (a run of instructions in one 4 KiB page, on past conditional branches, on at the
 * target of a direct JMP or CALL in the page, loops inside), the same fast and slow
 * memory paths, the same lazy flag state after each instruction as far as anything can
 * see (dead flags dropped by the same rule; a record waits in locals until it can be
 * seen: Pending), the same exits and instruction counts. So a block runs the same
 * whichever of the two translated it, and translate() may choose either.
 *
 * What it covers inline (translateOne below): moves, the ALU operations, INC, DEC, NEG,
 * NOT, TEST, LEA, SHL, SHR and SAR by a constant (and by CL, 32-bit), ROL and ROR by a
 * constant, IMUL and MUL (32-bit), DIV and IDIV (32-bit), BSF, BSR and BSWAP (32-bit),
 * MOVZX and MOVSX, MOV to and from moffs, SETcc, CMOVcc, XCHG, CWDE, CDQ, PUSH, POP,
 * LEAVE, CALL, RET, JMP and Jcc, LODS, STOS, MOVS, SCAS and CMPS, PAUSE, RDTSC, and REP
 * MOVS and REP STOS (through the interpreter's handlers, as the JavaScript translator
 * does), paging off or on. Any other instruction the interpreter runs from the block
 * (Unit.stepCall: the `step` import), which goes on past it when nothing the run loop
 * must see has happened. An instruction that runs on past its page's end is decoded
 * with the next page's bytes, paging off (straddle); with paging on, a block whose
 * first run reaches past its page's end is left to the JavaScript translator.
 *
 * Where the state lives. RAM, the registers, the software TLB and the code-page map are
 * in the machine's WebAssembly.Memory (memory.ts), which both the module and JavaScript
 * see. The lazy flags are JavaScript fields of the Cpu (the JavaScript blocks are faster
 * with them there: a typed array cost them 12% on CoreMark), so runBlock copies them
 * into the area's state slots (AREA_STATE) before the first of a run of WebAssembly
 * blocks and back after the last (WasmContext.enter, leave), and a block's slow paths
 * copy them back before they call the interpreter's accessors, which may fault (the run
 * loop then reads them, and Cpu.blockDone). Each block's function is in the CPU's table
 * (Block.wasm is its index), and JavaScript enters every block through one dispatcher
 * (WasmContext.run), which goes on from block to block by itself while nothing the run
 * loop looks after can have changed (WasmContext.link).
 *
 * Cpu.useWasm = false turns WebAssembly off (docs/PERFORMANCE.md has the measurements).
 */
import type { Cpu } from './cpu';
import type { Block, BlockCache, Decoded, FlagInfo } from './translator';
import { Code, ModuleBuilder, Op, I32 } from './wasm';
import { AREA_CODE_PAGES, AREA_LINKS, AREA_REGS, AREA_SEG_BASE, AREA_STATE, AREA_TLB, LINK_BITS, LINK_BYTES, LINK_SLOTS, pageGenAt } from './memory';
import { AF, ARITH, CF, IF, LazyOp, OF, PF, SF, TF, ZF } from './flags';
import { RDTSC, step, stringMovs, stringStos } from './execute';
import { setCfOf } from './alu';
import { alwaysTransfers, branchDisplacement, directBranch, instructionLength, BRANCH_JCC } from './length';
import { CS, DS, ES, EAX, EDX, ESI, EDI, EBP, ESP, SS, FS, GS, BLOCK_MODE_PAGED, BLOCK_MODE_USER, BLOCK_MODE_SEGS_SHIFT, TLB_RAM } from './registers';
import {
  byte, dword, word, immediate, signedImm8, liveFlags, prefixes, tlbNeedAt, unknownFlags, rd8, rd16, rd32, wr8, wr16, wr32, pushSlow, popSlow,
} from './translator';

// ---- The state slots of a CPU's area (byte offsets from AREA_STATE) ----
const S_FLAGS = 0, S_LAZY = 4, S_OP = 8, S_A = 12, S_B = 16, S_R = 20, S_SIGN = 24, S_EIP = 28, S_DONE = 32, S_LIMIT = 36, S_BASED = 40;
// The dispatcher's (WasmContext.link): whether a block called an import; the instructions
// of the blocks before this one, not charged yet; this block's table index; the fetch
// window (its first EIP, its last minus its first, the physical address minus EIP) and
// the mode a block must have been translated in (-1: go on to none).
// With paging on and CS flat, the TLB bits an entry needs for the dispatcher to go on
// into another page (else 0), and whether it has (the window moved: Cpu.moveFetch).
const S_EXT = 44, S_CHAIN = 48, S_CUR = 52, S_LO = 56, S_SPAN = 60, S_DELTA = 64, S_KEY = 68, S_NEED = 72, S_MOVED = 76;
// A link's words (LINK_BYTES a cache slot): the block's physical address, EIP, mode,
// page generation, instruction count, bytes minus one, and table index.
const L_PHYS = 0, L_EIP = 4, L_MODE = 8, L_GEN = 12, L_COUNT = 16, L_LAST = 20, L_INDEX = 24;

/** The instructions the slice still has room for, as a block's `limit` (held to an i32). */
function instructionsLeft(cpu: Cpu): number {
  return Math.min(Math.floor(cpu.left / cpu.instructionCycles), 0x3fffffff);
}

/**
 * Leaves the block: Cpu.eip is `eip` (a constant, or what the code pushes) and BASE +
 * `count` instructions are done.
 */
function exitTo(c: Code, state: number, eip: number | ((c: Code) => void), count: number): void {
  c.i32(0);
  if (typeof eip === 'number') c.i32(eip); else eip(c);
  c.mem(Op.i32_store, state + S_EIP, 2);
  c.get(BASE).i32(count).op(Op.i32_add).op(Op.return);
}

/** What one CPU's WebAssembly blocks share: where things are in the memory, and the imports. */
export class WasmContext {
  readonly memory: WebAssembly.Memory;
  /** Absolute byte offsets in the memory. */
  readonly regs: number;
  readonly state: number;
  readonly codePages: number;
  readonly tlb: number;
  readonly segBase: number;
  readonly ram: number;
  /** Cpu.pageGen's. */
  readonly pageGens: number;
  /** The state slots as 32-bit words. */
  readonly slots: Int32Array;
  readonly imports: WebAssembly.Imports;
  /** Blocks compiled, and bytes of WebAssembly generated for them. */
  compiles = 0;
  bytes = 0;
  /** Instructions the interpreter ran from blocks (the `step` import). */
  steps = 0;
  /** Why the host refused to compile a block (then none is translated to WebAssembly any more), or null. */
  refused: string | null = null;
  /** Copies the state slots back into the Cpu (the lazy flags, Cpu.blockDone). */
  private readonly out: () => void;
  /**
   * The blocks' functions, by Block.wasm, and the one exported function that calls them
   * through it (dispatch: index, limit). JavaScript calls only that one: a call from
   * JavaScript to each block's own export went through V8's generic wrapper (about 30
   * ns each, measured, against 10 through the table), and the Linux boot enters
   * WebAssembly some 40 million times.
   *
   * The dispatcher goes on from a block to the next one itself, as runBlock would, while
   * the block called no import (so nothing the run loop looks after can have changed:
   * see link) and the next block is in the cache, valid and fits in the slice. The
   * instructions of the blocks it went on from wait in the S_CHAIN slot; an import
   * charges them first (settle), so that a clock it reads or a fault it raises finds the
   * slice as the interpreter would have left it.
   */
  private readonly table: WebAssembly.Table;
  private readonly dispatch: (index: number, limit: number) => number;
  /** Table indices free for a block (released ones), and the first never used. */
  private readonly free: number[] = [];
  private used = 0;
  /** The block at each table index (for a fault's accounting: settle). */
  private readonly blockAt: (Block | null)[] = [];
  /** The links (AREA_LINKS) as 32-bit words, LINK_BYTES / 4 a cache slot. */
  private readonly links: Int32Array;

  /** Before the first of a run of WebAssembly blocks: the lazy flags into the state slots. */
  enter(): void {
    const s = this.slots, c = this.cpu;
    s[0] = c.flags; s[1] = c.flagsLazy; s[2] = c.lazyOp; s[3] = c.lazyA; s[4] = c.lazyB; s[5] = c.lazyR; s[6] = c.lazySign;
    s[S_BASED >> 2] = c.basedMask; // only a segment load changes it, which no WebAssembly block makes
  }

  /**
   * Runs the block at table index `index` with the instructions the slice has room for,
   * and (`chain`) the blocks after it as runBlock would; leaves Cpu.eip where it stopped.
   * Returns the instructions run that are not charged yet (an import charged the rest).
   */
  run(index: number, chain = true): number {
    const s = this.slots, c = this.cpu;
    s[S_CHAIN >> 2] = 0;
    // The fetch window (not empty: it holds the block), which the next block and a
    // straddling instruction must fit in; the mode the next block must have been
    // translated in (none in 16-bit code: no WebAssembly block is 16-bit); with paging
    // on and CS flat, the TLB bits that let the dispatcher follow EIP into another page.
    s[S_LO >> 2] = c.fetchLo; s[S_SPAN >> 2] = c.fetchHi - 1 - c.fetchLo; s[S_DELTA >> 2] = c.fetchDelta;
    s[S_KEY >> 2] = chain && c.csD32 === true ? c.blockMode : -1;
    s[S_NEED >> 2] = c.pagingOn === true && c.segBase[CS] === 0 && c.segMin[CS] === 0 && c.segLimit[CS] === 0xffffffff ? c.tlbReadNeed : 0;
    const n = this.dispatch(index, instructionsLeft(c));
    c.eip = s[S_EIP >> 2] >>> 0;
    if (s[S_MOVED >> 2] !== 0) this.moved();
    return n;
  }

  /** Puts block `b`'s function in the table; returns its index (Block.wasm). */
  place(f: (limit: number) => number, b: Block): number {
    const i = this.free.length > 0 ? this.free.pop()! : this.used++;
    if (i >= this.table.length) this.table.grow(Math.max(256, this.table.length));
    this.table.set(i, f);
    this.blockAt[i] = b;
    return i;
  }

  /**
   * Cache slot `slot` now holds `b` (BlockCache.insert): what the dispatcher checks to go
   * on to it, the checks runBlock makes (its address, EIP, mode and page generation, that
   * it fits in the slice and in the fetch window), or a link to nothing when it is not a
   * WebAssembly block. The mode check stands for the code's size too (all WebAssembly
   * blocks are 32-bit, and run() asks for none in 16-bit code).
   */
  link(slot: number, b: Block): void {
    const l = this.links, at = slot * (LINK_BYTES >> 2);
    if (b.wasm < 0 || b.count === 0) { l[at + (L_PHYS >> 2)] = -1; l[at + (L_INDEX >> 2)] = -1; return; }
    l[at + (L_PHYS >> 2)] = b.phys; l[at + (L_EIP >> 2)] = b.eip; l[at + (L_MODE >> 2)] = b.mode; l[at + (L_GEN >> 2)] = b.gen;
    l[at + (L_COUNT >> 2)] = b.count; l[at + (L_LAST >> 2)] = b.bytes - 1; l[at + (L_INDEX >> 2)] = b.wasm;
  }

  /** The dispatcher went on into another page: the Cpu's fetch window follows. */
  private moved(): void {
    const s = this.slots, lo = s[S_LO >> 2] >>> 0;
    s[S_MOVED >> 2] = 0;
    this.cpu.moveFetch(lo, ((s[S_DELTA >> 2] + lo) >>> 0) - lo);
  }

  /** Every cache slot is empty (BlockCache.flush). */
  unlinkAll(): void {
    this.links.fill(-1);
  }

  /** The links made again from what `cache` holds (Cpu.memoryLoaded). */
  relink(cache: BlockCache): void {
    this.unlinkAll();
    cache.slots.forEach((b, slot) => { if (b !== undefined) this.link(slot, b); });
  }

  /** Table entries holding a block's function now (always BlockCache.wasmBlocks: the tests check it). */
  get placed(): number { return this.used - this.free.length; }

  /** Index `i` is no longer a block's (its block left the cache): the function may be collected. */
  release(i: number): void {
    this.table.set(i, null);
    this.blockAt[i] = null;
    this.free.push(i);
  }

  /** After the last of a run of WebAssembly blocks: the lazy flags back into the Cpu. */
  leave(): void {
    this.out();
  }

  constructor(readonly cpu: Cpu, memory: WebAssembly.Memory, area: Uint8Array) {
    this.memory = memory;
    this.regs = area.byteOffset + AREA_REGS;
    this.state = area.byteOffset + AREA_STATE;
    this.codePages = area.byteOffset + AREA_CODE_PAGES;
    this.tlb = area.byteOffset + AREA_TLB;
    this.segBase = area.byteOffset + AREA_SEG_BASE;
    this.ram = cpu.mem.byteOffset;
    this.pageGens = area.byteOffset + pageGenAt(cpu.memSize);
    const s = new Int32Array(memory.buffer, this.state, 24);
    this.slots = s;
    this.links = new Int32Array(memory.buffer, area.byteOffset + AREA_LINKS, LINK_SLOTS * (LINK_BYTES >> 2));
    this.unlinkAll();
    // The lazy flags and the count of completed instructions back into the Cpu.
    const copyOut = (): void => {
      cpu.flags = s[0]; cpu.flagsLazy = s[1]; cpu.lazyOp = s[2]; cpu.lazyA = s[3]; cpu.lazyB = s[4]; cpu.lazyR = s[5]; cpu.lazySign = s[6];
      cpu.blockDone = s[S_DONE >> 2];
    };
    // First in every import: the blocks the dispatcher went on from are charged, and this
    // one is Cpu.block (its fault is counted from it); the dispatcher returns after it.
    const settle = (): void => {
      const chained = s[S_CHAIN >> 2];
      if (chained !== 0) {
        s[S_CHAIN >> 2] = 0;
        cpu.left -= chained * cpu.instructionCycles;
        cpu.sliceInstr += chained;
        cpu.block = this.blockAt[s[S_CUR >> 2]];
      }
      s[S_EXT >> 2] = 1;
      if (s[S_MOVED >> 2] !== 0) this.moved();
    };
    // The slow paths: settled, and the state copied back (what the helper can fault on
    // reads it), then the interpreter's own.
    const out = (): void => { settle(); copyOut(); };
    const smc = (): number => (cpu.smc === true ? 1 : 0);
    // Before an instruction that reads the clock (a device, RDTSC): the block's `done`
    // instructions before it charged, as the interpreter would have by now (translator.ts's COMMIT).
    const commit = (done: number): void => {
      const c = done - cpu.blockCommitted;
      cpu.left -= c * cpu.instructionCycles; cpu.sliceInstr += c; cpu.blockCommitted += c;
    };
    // After cycles charged inside the block: its new limit into the S_LIMIT slot
    // (translator.ts's REBUDGET), and whether the rest of this pass (`pass`
    // instructions from the block's start) still fits in the slice.
    const rebudget = (pass: number): boolean => {
      s[S_LIMIT >> 2] = instructionsLeft(cpu) + cpu.blockCommitted;
      return cpu.left >= (pass - cpu.blockCommitted) * cpu.instructionCycles;
    };
    this.out = copyOut;
    this.table = new WebAssembly.Table({ element: 'anyfunc', initial: 256 });
    const m = new ModuleBuilder();
    m.importTable();
    m.importMemory(memory.buffer.byteLength / 65536);
    const blockType = m.type(1, 1);
    m.func(2, 1, 4, dispatcher(blockType, this.state, area.byteOffset + AREA_LINKS, this.pageGens, this.tlb), 'd');
    let dispatch: (index: number, limit: number) => number;
    try {
      dispatch = new WebAssembly.Instance(new WebAssembly.Module(m.build()), { i: { t: this.table, m: memory } }).exports.d as (index: number, limit: number) => number;
    } catch (e) {
      // The host refused even this (see translateWasm): no block is ever WebAssembly.
      this.refused = String(e);
      dispatch = (): number => { throw new Error('WasmContext: no dispatcher (the host refused WebAssembly)'); };
    }
    this.dispatch = dispatch;
    const helpers: WebAssembly.ModuleImports = {
      // translator.ts's slow paths; a write returns whether it hit translated code.
      rd8: (seg: number, o: number, eip: number) => { out(); return rd8(cpu, seg, o, eip >>> 0); },
      rd16: (seg: number, o: number, eip: number) => { out(); return rd16(cpu, seg, o, eip >>> 0); },
      rd32: (seg: number, o: number, eip: number) => { out(); return rd32(cpu, seg, o, eip >>> 0); },
      wr8: (seg: number, o: number, v: number, eip: number) => { out(); wr8(cpu, seg, o, v & 0xff, eip >>> 0); return smc(); },
      wr16: (seg: number, o: number, v: number, eip: number) => { out(); wr16(cpu, seg, o, v & 0xffff, eip >>> 0); return smc(); },
      wr32: (seg: number, o: number, v: number, eip: number) => { out(); wr32(cpu, seg, o, v, eip >>> 0); return smc(); },
      push: (v: number, eip: number) => { out(); pushSlow(cpu, v, eip >>> 0); return smc(); },
      pop: (eip: number) => { out(); return popSlow(cpu, eip >>> 0); },
      // REP MOVS or REP STOS (op: its opcode) of `size`-byte elements, ECX not 0, with
      // `done` instructions of the block completed and `pass` the most it runs from its
      // start: translator.ts's emitRepString. Returns 1 when it stopped part-way (the
      // block leaves on it), 2 when the block must leave after it (a write to code, an
      // interrupt to take, the slice over), else 0, with the block's new limit (REBUDGET)
      // in the S_LIMIT slot.
      rep: (op: number, size: number, eip: number, done: number, pass: number) => {
        out();
        commit(done);
        cpu.instrEip = eip >>> 0;
        cpu.rep = 1;
        if (op <= 0xa5) stringMovs(cpu, size); else stringStos(cpu, size);
        cpu.rep = 0;
        if (cpu.reg32[1] !== 0) return 1;
        if (cpu.smc === true) return 2;
        return !rebudget(pass) || (cpu.irqLine === true && (cpu.flags & IF) !== 0) ? 2 : 0;
      },
      // One instruction at `eip` that no form here covers, by the interpreter (its
      // `step`), as the run loop would run it: the instructions before it charged first
      // (a device it reaches reads the clock), and outside the block (Cpu.block null:
      // a fault in it is the interpreter's, memory-mapped I/O too). The block goes on
      // at `next` only if the instruction left EIP there and left nothing the run loop
      // must see: the mode and the code's page as they were, no write to translated
      // code, no interrupt to take, no TF, the rest of the pass inside the slice (HLT
      // and a stop request end it). Else returns 1 with EIP in the S_EIP slot.
      step: (eip: number, next: number, done: number, pass: number) => {
        out();
        this.steps++;
        commit(done);
        const block = cpu.block, mode = cpu.blockMode;
        cpu.block = null;
        cpu.eip = eip >>> 0; cpu.instrEip = eip >>> 0;
        step(cpu);
        cpu.block = block;
        this.enter();
        const e = cpu.eip;
        if (!rebudget(pass) || e !== next >>> 0 || cpu.smc === true || cpu.blockMode !== mode || cpu.csD32 !== true || e >= cpu.fetchHi ||
          e < cpu.fetchLo || (cpu.irqLine === true && (cpu.flags & IF) !== 0) || (cpu.flags & TF) !== 0) {
          s[S_EIP >> 2] = e;
          return 1;
        }
        return 0;
      },
      // RDTSC at `eip`, `done` instructions of the block before it (translator.ts's).
      rdtsc: (eip: number, done: number) => {
        out();
        commit(done);
        cpu.instrEip = eip >>> 0;
        RDTSC(cpu, 0x31);
      },
      // PAUSE's cycles beyond an instruction's; 1 when the rest of the pass (`pass`) no longer fits.
      pause: (pass: number) => {
        settle();
        cpu.left -= cpu.pauseCycles - cpu.instructionCycles;
        return rebudget(pass) ? 0 : 1;
      },
      // A rotate's CF and OF, the other flags as they stand (alu.ts's setCfOf).
      cfof: (cf: number, of: number) => {
        out();
        setCfOf(cpu, cf, of !== 0);
        s[0] = cpu.flags; s[1] = cpu.flagsLazy;
      },
    };
    // The helpers in a table of their own (callHelper). Not in the blocks' table: a module
    // that imports a table is made with a copy of all its entries, and every later change
    // to an entry is made in each such module's copy too.
    const helperTable = new WebAssembly.Table({ element: 'anyfunc', initial: HELPERS.length });
    if (this.refused === null) {
      try {
        const g = gate(helpers);
        HELPERS.forEach(([name], i) => helperTable.set(i, g[name] as (...args: never[]) => unknown));
      } catch (e) {
        this.refused = String(e);
      }
    }
    this.imports = { i: { m: memory, h: helperTable } };
  }
}

/**
 * The helpers as WebAssembly functions, which a block calls through the table. A module
 * that imports JavaScript functions has a wrapper compiled for each signature of them it
 * calls when it is made (V8 in Node 20: 0.05-0.1 ms each), about 0.5 ms for a block that calls
 * six: most of what making a block's module cost. So one module imports the helpers, once,
 * and exports a function for each that passes its arguments on; the blocks import only
 * the table and the memory.
 */
function gate(helpers: WebAssembly.ModuleImports): WebAssembly.Exports {
  const m = new ModuleBuilder();
  for (const [name, params, results] of HELPERS) m.importFunc(name, params, results);
  HELPERS.forEach(([name, params, results], i) => {
    const c = new Code();
    for (let k = 0; k < params; k++) c.get(k);
    m.func(params, results, 0, c.call(i), name);
  });
  return new WebAssembly.Instance(new WebAssembly.Module(m.build()), { i: helpers }).exports;
}

/**
 * The dispatcher's code (WasmContext.dispatch; params: the table index, the limit): runs
 * the block, then goes on to the next one while runBlock would (see WasmContext.link),
 * with the blocks' instructions so far in the S_CHAIN slot. Returns those not charged
 * yet. `st` is the state slots' offset, `links` the links', `gens` Cpu.pageGen's, `tlb` Cpu.tlb's.
 */
function dispatcher(blockType: number, st: number, links: number, gens: number, tlb: number): Code {
  const INDEX = 0, LIMIT = 1, N = 2, E = 3, P = 4, A = 5;
  const c = new Code();
  const slot = (off: number): Code => c.i32(0).mem(Op.i32_load, st + off, 2);
  const linkWord = (off: number): Code => c.get(A).mem(Op.i32_load, links + off, 2);
  c.begin(Op.block).begin(Op.loop);
  c.i32(0).i32(0).mem(Op.i32_store, st + S_EXT, 2);
  c.i32(0).i32(0).mem(Op.i32_store, st + S_DONE, 2);
  c.i32(0).get(INDEX).mem(Op.i32_store, st + S_CUR, 2);
  c.get(LIMIT).get(INDEX).callIndirect(blockType).set(N);
  // It called an import (which charged the blocks before it), or ran nothing: return.
  slot(S_EXT).get(N).op(Op.i32_eqz).op(Op.i32_or).begin(Op.if);
  slot(S_CHAIN).get(N).op(Op.i32_add).op(Op.return);
  c.op(Op.end);
  c.i32(0); slot(S_CHAIN).get(N).op(Op.i32_add).mem(Op.i32_store, st + S_CHAIN, 2);
  c.get(LIMIT).get(N).op(Op.i32_sub).set(LIMIT);
  // The next EIP in the fetch window; else (paging on, CS flat) its page's, through the
  // TLB as Cpu.refillFetch would find it; then its cache slot's link (translator.ts's hash).
  slot(S_EIP).tee(E); slot(S_LO).op(Op.i32_sub); slot(S_SPAN).op(Op.i32_gt_u).begin(Op.if);
  c.get(E).i32(12).op(Op.i32_shr_u).i32(2).op(Op.i32_shl).mem(Op.i32_load, tlb, 2).tee(P);
  slot(S_NEED).op(Op.i32_and).op(Op.i32_eqz).get(P).i32(TLB_RAM).op(Op.i32_and).op(Op.i32_eqz).op(Op.i32_or).brIf(2);
  c.i32(0).get(E).i32(-4096).op(Op.i32_and).tee(A).mem(Op.i32_store, st + S_LO, 2);
  c.i32(0).get(P).i32(-4096).op(Op.i32_and).get(A).op(Op.i32_sub).mem(Op.i32_store, st + S_DELTA, 2);
  c.i32(0).i32(1).mem(Op.i32_store, st + S_MOVED, 2);
  c.op(Op.end);
  c.get(E); slot(S_DELTA).op(Op.i32_add).tee(P).get(P).i32(LINK_BITS).op(Op.i32_shr_u).op(Op.i32_xor).i32(LINK_SLOTS - 1).op(Op.i32_and).i32(Math.log2(LINK_BYTES)).op(Op.i32_shl).set(A);
  linkWord(L_PHYS).get(P).op(Op.i32_ne).brIf(1);
  linkWord(L_EIP).get(E).op(Op.i32_ne).brIf(1);
  linkWord(L_MODE); slot(S_KEY).op(Op.i32_ne).brIf(1);
  linkWord(L_GEN).get(P).i32(12).op(Op.i32_shr_u).i32(2).op(Op.i32_shl).mem(Op.i32_load, gens, 2).op(Op.i32_ne).brIf(1);
  linkWord(L_COUNT).get(LIMIT).op(Op.i32_gt_s).brIf(1);
  linkWord(L_LAST); slot(S_LO); slot(S_SPAN).op(Op.i32_add).get(E).op(Op.i32_sub).op(Op.i32_gt_u).brIf(1);
  linkWord(L_INDEX).set(INDEX);
  c.br(0);
  c.op(Op.end).op(Op.end);
  return slot(S_CHAIN);
}

// The helpers (WasmContext's slow paths in JavaScript), by their index in the table:
// a block reaches them through it (callHelper; see gate), with the type indices
// HELPER_TYPES gives. Then a block module's own functions, in order: the flag
// functions (flagFunctions), then the block.
const F_RD = [0, 0, 1, 0, 2];
const F_WR = [0, 3, 4, 0, 5];
const F_PUSH = 6, F_POP = 7, F_REP = 8, F_STEP = 9, F_RDTSC = 10, F_CFOF = 11, F_PAUSE = 12;
const HELPERS: [string, number, number][] = [
  ['rd8', 3, 1], ['rd16', 3, 1], ['rd32', 3, 1], ['wr8', 4, 1], ['wr16', 4, 1], ['wr32', 4, 1],
  ['push', 2, 1], ['pop', 1, 1], ['rep', 5, 1], ['step', 4, 1], ['rdtsc', 2, 0], ['cfof', 2, 0], ['pause', 1, 1],
];
const F_GETCF = 0, F_GETOF = 1, F_GETZF = 2, F_GETSF = 3, F_GETPF = 4, F_COND = 5;

/** Declares the helpers' types first in a block's module; returns each helper's type index. */
function helperTypes(m: ModuleBuilder): number[] {
  return HELPERS.map(([, params, results]) => m.type(params, results));
}
const HELPER_TYPES = helperTypes(new ModuleBuilder());

/** Calls helper `f` (F_RD..F_PAUSE), its arguments pushed. */
function callHelper(c: Code, f: number): Code {
  return c.i32(f).callIndirect(HELPER_TYPES[f]);
}

/**
 * Adds the flag functions every module has, in the F_GETCF... order: Cpu.getCF(),
 * getOF(), getZF(), getSF(), getPF() on the state slots (1 or 0), and condition(cc) as
 * execute.ts works it out from them (SDM vol. 2, appendix B.1).
 */
function flagFunctions(m: ModuleBuilder, st: number): void {
  const slot = (c: Code, off: number): Code => c.i32(0).mem(Op.i32_load, st + off, 2);
  // Locals 0-3: a, b, r, sign.
  const operands = (c: Code): Code => { slot(c, S_A).set(0); slot(c, S_B).set(1); slot(c, S_R).set(2); slot(c, S_SIGN).set(3); return c; };
  const lazyOr = (c: Code, bit: number, lazy: (c: Code) => void): Code => {
    slot(c, S_LAZY).i32(bit).op(Op.i32_and).begin(Op.if, I32);
    lazy(c);
    c.op(Op.else);
    slot(c, S_FLAGS).i32(bit).op(Op.i32_and).i32(0).op(Op.i32_ne);
    return c.op(Op.end);
  };
  // By the lazy operation: Sub's formula, else Add's, else (Logic) 0.
  const byOp = (c: Code, sub: (c: Code) => void, add: (c: Code) => void): void => {
    operands(c);
    slot(c, S_OP).i32(LazyOp.Sub).op(Op.i32_eq).begin(Op.if, I32);
    sub(c);
    c.op(Op.else);
    slot(c, S_OP).i32(LazyOp.Add).op(Op.i32_eq).begin(Op.if, I32);
    add(c);
    c.op(Op.else).i32(0).op(Op.end).op(Op.end);
  };
  const signed = (c: Code): void => { c.get(3).op(Op.i32_and).i32(0).op(Op.i32_ne); };
  m.func(0, 1, 4, lazyOr(new Code(), CF, (c) => byOp(c,
    (c) => { c.get(0).i32(-1).op(Op.i32_xor).get(1).op(Op.i32_and).get(0).i32(-1).op(Op.i32_xor).get(1).op(Op.i32_or).get(2).op(Op.i32_and).op(Op.i32_or); signed(c); },
    (c) => { c.get(0).get(1).op(Op.i32_and).get(0).get(1).op(Op.i32_or).get(2).i32(-1).op(Op.i32_xor).op(Op.i32_and).op(Op.i32_or); signed(c); })));
  m.func(0, 1, 4, lazyOr(new Code(), OF, (c) => byOp(c,
    (c) => { c.get(0).get(1).op(Op.i32_xor).get(0).get(2).op(Op.i32_xor).op(Op.i32_and); signed(c); },
    (c) => { c.get(0).get(2).op(Op.i32_xor).get(1).get(2).op(Op.i32_xor).op(Op.i32_and); signed(c); })));
  m.func(0, 1, 0, lazyOr(new Code(), ZF, (c) => { slot(c, S_R).op(Op.i32_eqz); }));
  m.func(0, 1, 0, lazyOr(new Code(), SF, (c) => { slot(c, S_R); slot(c, S_SIGN).op(Op.i32_and).i32(0).op(Op.i32_ne); }));
  m.func(0, 1, 0, lazyOr(new Code(), PF, (c) => { slot(c, S_R).i32(0xff).op(Op.i32_and).op(Op.i32_popcnt).i32(1).op(Op.i32_and).op(Op.i32_eqz); }));
  // condition(cc): param 0 = cc.
  const c = new Code();
  const cases = 8;
  for (let k = 0; k < cases; k++) c.begin(Op.block);
  c.get(0).i32(1).op(Op.i32_shr_u).i32(7).op(Op.i32_and).brTable([0, 1, 2, 3, 4, 5, 6, 7], 7);
  const ret = (): void => { c.get(0).i32(1).op(Op.i32_and).op(Op.i32_xor).op(Op.return); };
  const sfNeOf = (): void => { c.call(F_GETSF).call(F_GETOF).op(Op.i32_ne); };
  c.op(Op.end).call(F_GETOF); ret();
  c.op(Op.end).call(F_GETCF); ret();
  c.op(Op.end).call(F_GETZF); ret();
  c.op(Op.end).call(F_GETCF).call(F_GETZF).op(Op.i32_or); ret();
  c.op(Op.end).call(F_GETSF); ret();
  c.op(Op.end).call(F_GETPF); ret();
  c.op(Op.end); sfNeOf(); ret();
  c.op(Op.end).call(F_GETZF); sfNeOf(); c.op(Op.i32_or); ret();
  c.op(Op.unreachable);
  m.func(1, 1, 0, c);
}

// Locals: the parameter `limit`, then these i32 ones, then the i64 P (a product).
// N holds the block's instruction count (set on entry: the count is known only once the region is).
// TE holds a TLB entry, then the physical address it gives.
// FA, FB and FR hold the operands and result of the pending flag record (see Pending).
const LIMIT = 0, A = 1, B = 2, V = 3, O = 4, C = 5, W = 6, BASE = 7, L = 8, T = 9, N = 10, TE = 11, FA = 12, FB = 13, FR = 14;
const LOCALS = 14;
const P = 15, Q = 16; // i64
const LOCALS64 = 2;

const R8_OFFSET = [0, 4, 8, 12, 1, 5, 9, 13];
const MASK = [0, 0xff, 0xffff, 0, -1];
const SIGN = [0, 0x80, 0x8000, 0, -2147483648];
const LOAD = [0, Op.i32_load8_u, Op.i32_load16_u, 0, Op.i32_load];
const STORE = [0, Op.i32_store8, Op.i32_store16, 0, Op.i32_store];

const enum Emit { None = 0, Plain = 1, Writes = 2, Terminates = 3, Branch = 4, Jump = 6 }

/** One instruction's code: pieces in order, those that record its flags marked (dropped when the flags are dead). */
interface Piece { code: Code; flags: boolean }

/**
 * A flag record not yet in the state slots. An operation that sets the flags leaves its
 * operands and result in the locals FA, FB and FR (or constants here), which cost next
 * to nothing, and the six stores of the lazy state are made only where something can
 * see the slots: before a call out of the block (the slow paths, whose helpers may
 * fault, stores included only on those paths), before an exit, and at the end of each
 * path into a label. Conditions after it read the locals. A record is deferred only on
 * a block's straight-line path; inside a conditional the slots are written at once
 * (Unit.recordNow), the pending one first.
 */
interface Pending { op: number; a: number; b: number; constAB: boolean; sign: number; lazy: number }

/** Stores `p` (when there is one) into the state slots at `state`. */
function storePending(c: Code, state: number, p: Pending | null): void {
  if (p === null) return;
  c.i32(0).i32(p.op).mem(Op.i32_store, state + S_OP, 2);
  if (p.constAB) { c.i32(0).i32(p.a).mem(Op.i32_store, state + S_A, 2); c.i32(0).i32(p.b).mem(Op.i32_store, state + S_B, 2); }
  else { c.i32(0).get(FA).mem(Op.i32_store, state + S_A, 2); c.i32(0).get(FB).mem(Op.i32_store, state + S_B, 2); }
  c.i32(0).get(FR).mem(Op.i32_store, state + S_R, 2);
  c.i32(0).i32(p.sign).mem(Op.i32_store, state + S_SIGN, 2);
  c.i32(0).i32(p.lazy).mem(Op.i32_store, state + S_LAZY, 2);
}

/** An operand: code that pushes its value, and code that stores the value of a local. */
interface Operand { read(c: Code): void; write(c: Code, local: number): void; mem: boolean }

/** Translation of one block: what the instruction translator reads and writes as it goes. */
class Unit {
  readonly pieces: Piece[][] = [];
  cur: Piece[] = [];
  code = new Code();
  flagInfo: FlagInfo = { reads: true, modifies: true, all: false, keepsCf: false, op: -1, size: 0 };
  readonly known = { op: -1, size: 0, cfKept: false };
  /** The flag record the state slots do not hold yet, at this point of the straight-line path. */
  pend: Pending | null = null;
  readonly lastBranch = { cc: -2, disp: 0, call: false };
  /** The instruction's index in the block, and its EIP. */
  index = 0;
  here = 0;
  segs = 0;
  /** The block's mode: paging on (accesses through the TLB, as translator.ts's inlineAt), at CPL 3. */
  paged = false;
  user = false;
  end1 = 0; end2 = 0; end4 = 0;

  constructor(readonly ctx: WasmContext) {}

  /** Starts a new piece of the current instruction: `flags` when it records the flags. */
  /**
   * Starts an instruction: no pieces, its flag effects unknown, no branch seen. Returns
   * what an attempt at it may change and a retry puts back: the pending record (a
   * discarded attempt may have settled it in code that is dropped) and the known state.
   */
  begin(): { pend: Pending | null; op: number; size: number; cfKept: boolean } {
    this.cur = [];
    unknownFlags(this.flagInfo);
    this.lastBranch.cc = -2; this.lastBranch.call = false;
    return { pend: this.pend, op: this.known.op, size: this.known.size, cfKept: this.known.cfKept };
  }

  /** The instruction started again after a discarded attempt (begin's state put back). */
  retry(s: { pend: Pending | null; op: number; size: number; cfKept: boolean }): void {
    this.begin();
    this.pend = s.pend; this.known.op = s.op; this.known.size = s.size; this.known.cfKept = s.cfKept;
  }

  piece(flags: boolean): Code {
    this.code = new Code();
    this.cur.push({ code: this.code, flags });
    return this.code;
  }

  endFor(size: number): number { return size === 1 ? this.end1 : size === 2 ? this.end2 : this.end4; }

  // ---- Registers ----
  regRead(c: Code, reg: number, size: number): void {
    if (size === 4) c.i32(0).mem(Op.i32_load, this.ctx.regs + reg * 4, 2);
    else if (size === 2) c.i32(0).mem(Op.i32_load16_u, this.ctx.regs + reg * 4, 1);
    else c.i32(0).mem(Op.i32_load8_u, this.ctx.regs + R8_OFFSET[reg]);
  }
  regWrite(c: Code, reg: number, size: number, local: number): void {
    if (size === 4) c.i32(0).get(local).mem(Op.i32_store, this.ctx.regs + reg * 4, 2);
    else if (size === 2) c.i32(0).get(local).mem(Op.i32_store16, this.ctx.regs + reg * 4, 1);
    else c.i32(0).get(local).mem(Op.i32_store8, this.ctx.regs + R8_OFFSET[reg]);
  }
  /**
   * The instruction by the interpreter (the `step` import; `next`: the EIP after it):
   * the block leaves after it unless it went on to `next` with nothing for the run loop
   * to see; then the block's limit is what the slice has left (REBUDGET). Also the slow
   * path of forms covered here only in part (a division that faults, LEAVE off the fast path).
   */
  stepCall(c: Code, next: number): void {
    this.flush(c);
    callHelper(c.i32(this.here).i32(next).get(BASE).i32(this.index).op(Op.i32_add).get(BASE).get(N).op(Op.i32_add), F_STEP).begin(Op.if);
    c.get(BASE).i32(this.index + 1).op(Op.i32_add).op(Op.return);
    c.op(Op.end);
    this.limitFromSlot(c);
  }

  /** After an import that charged cycles inside the block: its limit from the S_LIMIT slot (REBUDGET). */
  limitFromSlot(c: Code): void { c.i32(0).mem(Op.i32_load, this.ctx.state + S_LIMIT, 2).set(LIMIT); }
  reg(reg: number, size: number): Operand {
    return { read: (c) => this.regRead(c, reg, size), write: (c, l) => this.regWrite(c, reg, size, l), mem: false };
  }

  // ---- Memory: see translator.ts's memOperand ----
  flat(seg: number): boolean { return (this.segs & (1 << seg)) !== 0; }

  /** Pushes the value of the `size`-byte access at seg:o (o in local O). */
  memRead(c: Code, seg: number, size: number): void {
    if (this.based(seg)) {
      this.basedHit(c, seg, size, false);
      c.begin(Op.if, I32).get(TE).mem(LOAD[size], this.ctx.ram).op(Op.else);
      this.flush(c); callHelper(c.i32(seg).get(O).i32(this.here), F_RD[size]);
      c.op(Op.end);
      return;
    }
    if (this.flat(seg)) {
      if (this.paged) {
        this.tlbHit(c, size, false);
        c.begin(Op.if, I32).get(TE).mem(LOAD[size], this.ctx.ram);
      } else {
        c.get(O).i32(this.endFor(size)).op(Op.i32_lt_u).begin(Op.if, I32);
        c.get(O).mem(LOAD[size], this.ctx.ram);
      }
      c.op(Op.else);
    }
    this.flush(c); callHelper(c.i32(seg).get(O).i32(this.here), F_RD[size]);
    if (this.flat(seg)) c.op(Op.end);
  }

  /** Stores local `v` at seg:o: in RAM when neither page of it holds translated code, else the slow path (W: it wrote to code). */
  memWrite(c: Code, seg: number, size: number, v: number): void {
    if (this.based(seg)) {
      this.basedHit(c, seg, size, true);
      c.begin(Op.if).get(TE).get(v).mem(STORE[size], this.ctx.ram).op(Op.else);
      this.flush(c); callHelper(c.i32(seg).get(O).get(v).i32(this.here), F_WR[size]).set(W);
      c.op(Op.end);
      return;
    }
    if (this.flat(seg)) {
      if (this.paged) {
        this.tlbHit(c, size, true);
        c.begin(Op.if).get(TE).get(v).mem(STORE[size], this.ctx.ram).op(Op.else);
      } else {
        this.inRam(c, this.endFor(size));
        this.codeFree(c, TE, size);
        c.op(Op.i32_and).begin(Op.if).get(O).get(v).mem(STORE[size], this.ctx.ram).op(Op.else);
      }
    }
    this.flush(c); callHelper(c.i32(seg).get(O).get(v).i32(this.here), F_WR[size]).set(W);
    if (this.flat(seg)) c.op(Op.end);
  }

  /**
   * Paging on (translator.ts's inlineAt): pushes 1 when the `size` bytes at linear O lie
   * in one page whose TLB entry allows the access at the block's CPL and says the page
   * is in RAM (and, for a write, holds no translated code), else 0; TE is left holding
   * the physical address (meaningful on a hit only). `aligned`: O is known to be a
   * multiple of `size` where this matters (the caller tests it), so it cannot cross.
   *
   * Without a branch: every 32-bit linear address has an entry to load (the TLB covers
   * the 4 GiB), so the tests are worked out side by side and joined with i32.and, and
   * the physical address is made whether or not it will be used. Nested `if`s with
   * results cost more than the arithmetic in V8's baseline code (Liftoff), which most
   * blocks run in.
   */
  tlbHit(c: Code, size: number, write: boolean, aligned = false): void {
    this.tlbAllows(c, O, write);
    if (size > 1 && !aligned) c.get(O).i32(4095).op(Op.i32_and).i32(4097 - size).op(Op.i32_lt_u).op(Op.i32_and);
    this.physical(c, O);
  }

  /** Pushes whether the TLB entry of linear `lin`'s page (left in TE) has the bits the access needs. */
  tlbAllows(c: Code, lin: number, write: boolean): void {
    const need = tlbNeedAt(this.user, write);
    c.get(lin).i32(12).op(Op.i32_shr_u).i32(2).op(Op.i32_shl).mem(Op.i32_load, this.ctx.tlb, 2).tee(TE);
    c.i32(need).op(Op.i32_and).i32(need).op(Op.i32_eq);
  }

  /** The physical address of linear `lin` into TE from its entry there (the pushed test left as it is). */
  physical(c: Code, lin: number): void {
    c.get(TE).i32(-4096).op(Op.i32_and).get(lin).i32(4095).op(Op.i32_and).op(Op.i32_or).set(TE);
  }

  /** FS or GS with paging on: through basedMask (translator.ts's basedAt); with paging off they take the slow path. */
  based(seg: number): boolean { return this.paged && (seg === FS || seg === GS); }

  /**
   * translator.ts's basedAt: pushes 1 when `seg` is in basedMask (paging on, offsets to 4
   * GiB, any base), the `size` bytes at its base + O lie in one page and O does not run
   * past 4 GiB, and the TLB entry of that page allows the access, leaving the physical
   * address in TE; else 0. The linear address goes through T. Without a branch, as tlbHit.
   */
  basedHit(c: Code, seg: number, size: number, write: boolean): void {
    c.i32(0).mem(Op.i32_load, this.ctx.state + S_BASED, 2).i32(1 << seg).op(Op.i32_and).i32(0).op(Op.i32_ne);
    c.i32(0).mem(Op.i32_load, this.ctx.segBase + seg * 4, 2).get(O).op(Op.i32_add).set(T);
    if (size > 1) {
      c.get(T).i32(4095).op(Op.i32_and).i32(4097 - size).op(Op.i32_lt_u).op(Op.i32_and);
      c.get(O).i32(-size).op(Op.i32_le_u).op(Op.i32_and); // o <= 2^32 - size, unsigned
    }
    this.tlbAllows(c, T, write);
    c.op(Op.i32_and);
    this.physical(c, T);
  }

  /**
   * Paging off: pushes whether O is below `end` (the access lies in RAM), and leaves in
   * TE O if so, else 0: an address whose code-page byte may be loaded whatever O is, so
   * that codeFree's test can be joined to this one without a branch (as tlbHit's).
   */
  inRam(c: Code, end: number): void {
    c.get(O).i32(end).op(Op.i32_lt_u).tee(TE);
    c.get(O).i32(0).get(TE).op(Op.select).set(TE);
  }

  /** Pushes 1 when the pages of the `size` bytes at physical `local` hold no translated code (the address is in RAM). */
  codeFree(c: Code, local: number, size: number): void {
    c.get(local).i32(12).op(Op.i32_shr_u).mem(Op.i32_load8_u, this.ctx.codePages).op(Op.i32_eqz);
    if (size > 1) {
      c.get(local).i32(size - 1).op(Op.i32_add).i32(12).op(Op.i32_shr_u).mem(Op.i32_load8_u, this.ctx.codePages).op(Op.i32_eqz);
      c.op(Op.i32_and);
    }
  }

  memory(seg: number, size: number): Operand {
    return { read: (c) => this.memRead(c, seg, size), write: (c, l) => this.memWrite(c, seg, size, l), mem: true };
  }

  /** PUSH of local `v` (a dword). */
  push(c: Code, v: number): void {
    c.i32(0).mem(Op.i32_load, this.ctx.regs + ESP * 4, 2).i32(4).op(Op.i32_sub).set(O);
    if (this.flat(SS)) {
      // ESP aligned, as translator.ts's push32 asks (a misaligned stack takes the slow path there too).
      if (this.paged) {
        c.get(O).i32(3).op(Op.i32_and).op(Op.i32_eqz);
        this.tlbHit(c, 4, true, true);
        c.op(Op.i32_and).begin(Op.if).get(TE).get(v).mem(Op.i32_store, this.ctx.ram);
      } else {
        c.get(O).i32(3).op(Op.i32_and).op(Op.i32_eqz);
        this.inRam(c, this.end4);
        c.op(Op.i32_and);
        this.codeFree(c, TE, 4);
        c.op(Op.i32_and).begin(Op.if).get(O).get(v).mem(Op.i32_store, this.ctx.ram);
      }
      c.i32(0).get(O).mem(Op.i32_store, this.ctx.regs + ESP * 4, 2);
      c.op(Op.else);
    }
    this.flush(c); callHelper(c.get(v).i32(this.here), F_PUSH).set(W);
    if (this.flat(SS)) c.op(Op.end);
  }

  /**
   * SS flat: opens an `if` taken when the dword at linear O is in RAM (and, paging on,
   * its TLB entry allows the read), with its value in V; its `else` is the slow path.
   */
  stackRead(c: Code): void {
    if (this.paged) { this.tlbHit(c, 4, false); c.begin(Op.if).get(TE).mem(Op.i32_load, this.ctx.ram).set(V); }
    else { c.get(O).i32(this.end4).op(Op.i32_lt_u).begin(Op.if); c.get(O).mem(Op.i32_load, this.ctx.ram).set(V); }
  }

  /** POP of a dword into local V. */
  pop(c: Code): void {
    c.i32(0).mem(Op.i32_load, this.ctx.regs + ESP * 4, 2).set(O);
    if (this.flat(SS)) {
      this.stackRead(c);
      c.i32(0).get(O).i32(4).op(Op.i32_add).mem(Op.i32_store, this.ctx.regs + ESP * 4, 2);
      c.op(Op.else);
    }
    this.flush(c); callHelper(c.i32(this.here), F_POP).set(V);
    if (this.flat(SS)) c.op(Op.end);
  }

  // ---- Flags: as translator.ts's ----
  flagsUntouched(): void { this.flagInfo.reads = false; this.flagInfo.modifies = false; }
  flagsKept(): void { this.flagInfo.modifies = false; }
  dataMove(memory: boolean): void { if (memory) this.flagsKept(); else this.flagsUntouched(); }
  flagsSet(op: number, sz: number, mayLeave: boolean): void {
    const f = this.flagInfo;
    f.reads = mayLeave; f.modifies = true; f.all = true; f.op = op; f.size = sz;
  }

  /**
   * Records the lazy state: op, the locals or constants for A and B, the local R, the
   * sign and which flags are lazy. Deferred (see Pending): on the straight-line path only.
   */
  record(c: Code, op: number, a: number, b: number, r: number, sz: number, lazy: number, constAB = false): void {
    if (!constAB) c.get(a).set(FA).get(b).set(FB);
    c.get(r).set(FR);
    this.pend = { op, a, b, constAB, sign: SIGN[sz], lazy };
  }

  /** The same, into the slots at once (inside a conditional: the pending record settled before it). */
  recordNow(c: Code, op: number, a: number, b: number, r: number, sz: number, lazy: number, constAB = false): void {
    this.record(c, op, a, b, r, sz, lazy, constAB);
    this.settle(c);
  }

  /** The pending record into the slots, on a path that leaves the straight line (a slow path, an exit): it stays pending on the other. */
  flush(c: Code): void { storePending(c, this.ctx.state, this.pend); }

  /** The pending record into the slots on the straight-line path: none is pending after it. */
  settle(c: Code): void { this.flush(c); this.pend = null; }

  /** Leaves the block (exitTo), the pending record stored first. */
  exit(c: Code, eip: number | ((c: Code) => void), count: number): void {
    this.flush(c);
    exitTo(c, this.ctx.state, eip, count);
  }

  slot(c: Code, offset: number): void { c.i32(0).mem(Op.i32_load, this.ctx.state + offset, 2); }

  /** Pushes condition `cc` (SDM vol. 2, appendix B.1): inline from a known state (as translator.ts's conditionExpr), else through condition(). */
  condition(c: Code, cc: number): void {
    const k = this.known;
    const t = cc >> 1;
    // Unknown, or PF (the parity table is not in the memory): from the state slots.
    if (k.op < 0 || t === 5) { this.settle(c); c.i32(cc).call(F_COND); return; }
    const sz = k.size, S = SIGN[sz];
    // The operands from the pending record's locals, or from the slots once they hold it.
    const p = this.pend;
    const operand = (local: number, konst: number, offset: number) => (): void => {
      if (p === null) this.slot(c, offset); else if (p.constAB && local !== FR) c.i32(konst); else c.get(local);
    };
    const a = operand(FA, p?.a ?? 0, S_A), b = operand(FB, p?.b ?? 0, S_B), r = operand(FR, 0, S_R);
    const sx = (push: () => void) => { push(); if (sz === 1) c.op(Op.i32_extend8_s); else if (sz === 2) c.op(Op.i32_extend16_s); };
    const zf = () => { r(); c.op(Op.i32_eqz); };
    const sf = () => { r(); c.i32(S).op(Op.i32_and).i32(0).op(Op.i32_ne); };
    const addOf = () => { a(); r(); c.op(Op.i32_xor); b(); r(); c.op(Op.i32_xor).op(Op.i32_and).i32(S).op(Op.i32_and).i32(0).op(Op.i32_ne); };
    const subOf = () => { a(); b(); c.op(Op.i32_xor); a(); r(); c.op(Op.i32_xor).op(Op.i32_and).i32(S).op(Op.i32_and).i32(0).op(Op.i32_ne); };
    const lessFromOf = (of: () => void) => { sf(); of(); c.op(Op.i32_ne); };
    let e: () => void;
    if (k.cfKept) {
      const cf = () => { this.slot(c, S_FLAGS); c.i32(CF).op(Op.i32_and).i32(0).op(Op.i32_ne); };
      const of = k.op === LazyOp.Sub ? subOf : addOf;
      const less = k.op === LazyOp.Sub ? () => { sx(a); sx(b); c.op(Op.i32_lt_s); } : () => lessFromOf(of);
      const lessEq = k.op === LazyOp.Sub ? () => { sx(a); sx(b); c.op(Op.i32_le_s); } : () => { zf(); lessFromOf(of); c.op(Op.i32_or); };
      e = [of, cf, zf, () => { cf(); zf(); c.op(Op.i32_or); }, sf, zf, less, lessEq][t];
    } else if (k.op === LazyOp.Logic) {
      const no = () => { c.i32(0); };
      e = [no, no, zf, zf, sf, zf, sf, () => { zf(); sf(); c.op(Op.i32_or); }][t];
    } else if (k.op === LazyOp.Sub) {
      const below = () => { a(); b(); c.op(Op.i32_lt_u); };
      e = [subOf, below, zf, () => { a(); b(); c.op(Op.i32_le_u); }, sf, zf,
        () => { sx(a); sx(b); c.op(Op.i32_lt_s); }, () => { sx(a); sx(b); c.op(Op.i32_le_s); }][t];
    } else {
      // ADD: CF from the operands' and result's sign bits, as Cpu.getCF works it out.
      const cf = () => { a(); b(); c.op(Op.i32_and); a(); b(); c.op(Op.i32_or); r(); c.i32(-1).op(Op.i32_xor).op(Op.i32_and).op(Op.i32_or).i32(S).op(Op.i32_and).i32(0).op(Op.i32_ne); };
      e = [addOf, cf, zf, () => { cf(); zf(); c.op(Op.i32_or); }, sf, zf, () => lessFromOf(addOf), () => { zf(); lessFromOf(addOf); c.op(Op.i32_or); }][t];
    }
    e();
    if (cc & 1) c.op(Op.i32_eqz);
  }
}

/** Whether `cpu` can have its blocks translated to WebAssembly now (32-bit code, RAM in its WebAssembly memory, the host willing). */
export function wasmUsable(cpu: Cpu): boolean {
  return cpu.wasm !== null && cpu.wasm.refused === null && cpu.csD32 === true;
}

/**
 * Translates the block at `eip` (physical `phys`) to WebAssembly, or returns null when
 * it holds anything this translator does not cover (translator.ts then takes it).
 */
export function translateWasm(cpu: Cpu, eip: number, phys: number): Block | null {
  const ctx = cpu.wasm!;
  const pageEnd = Math.min((phys | 0xfff) + 1, cpu.memSize);
  // Decoded knowing the targets of its branches inside (labels: there the flag state is
  // not known), guessed first, then again with those the decoding found until they are
  // among what it knew.
  let labels = guessLabels(cpu.mem, eip, phys, pageEnd);
  let d: Decoding | null = null;
  for (let pass = 0; ; pass++) {
    d = decodeBlock(cpu, ctx, eip, phys, pageEnd, labels);
    if (d === null || d.eips.length === 0) return null;
    const inside = new Set(d.eips);
    const targets = new Set<number>();
    for (const x of d.exits) if (x !== null && inside.has(x.target)) targets.add(x.target);
    for (const t of d.after) if (t !== -1 && inside.has(t)) targets.add(t);
    targets.delete(eip);
    if ([...targets].every((t) => labels.has(t))) break;
    if (pass === 3) return null;
    labels = targets;
  }
  const { pieces, eips, exits, after, pending } = d;
  const count = eips.length;
  const index = new Map(eips.map((e, i) => [e, i]));
  // Cases of the dispatch: the block's start and each label, in order.
  const caseOf = new Map<number, number>();
  eips.forEach((e, i) => { if (i === 0 || labels.has(e)) caseOf.set(i, caseOf.size); });
  const cases = caseOf.size;
  const st = ctx.state;
  const body = new Code();
  // Leaving instruction i's straight line (an exit, a jump to a label, running on into
  // one), its pending flag record goes into the slots first: at a label none is pending.
  const exit = (c: Code, i: number, target: number, plus: number): void => { storePending(c, st, pending[i]); exitTo(c, st, target, plus); };
  // A jump from instruction i to instruction index ti inside the block (translator.ts's goto); `depth` is the loop's.
  const goto = (c: Code, i: number, t: number, depth: number): void => {
    const ti = index.get(t)!;
    storePending(c, st, pending[i]);
    c.get(BASE).i32(i + 1 - ti).op(Op.i32_add).set(BASE);
    c.get(BASE).i32(count).op(Op.i32_add).get(LIMIT).op(Op.i32_gt_s).begin(Op.if);
    exitTo(c, st, t, ti);
    c.op(Op.end);
    c.i32(0).get(BASE).mem(Op.i32_store, st + S_DONE, 2);
    c.i32(caseOf.get(ti)!).set(L).br(depth);
  };
  body.i32(count).set(N);
  body.begin(Op.loop);
  for (let k = cases - 1; k >= 0; k--) body.begin(Op.block);
  body.get(L).brTable([...Array(cases).keys()], cases - 1);
  let caseNo = -1;
  pieces.forEach((ps, i) => {
    if (caseOf.has(i)) {
      if (i > 0) storePending(body, st, pending[i - 1]); // running on into the label
      body.op(Op.end);
      caseNo = caseOf.get(i)!;
    }
    const depth = cases - 1 - caseNo; // of the loop, from this case's code
    for (const p of ps) body.append(p.code);
    const x = exits[i];
    if (x !== null) {
      const inside = index.has(x.target);
      const c = new Code();
      if (x.cond !== null) { c.append(x.cond); c.begin(Op.if); }
      if (inside) goto(c, i, x.target, depth + (x.cond !== null ? 1 : 0));
      else exit(c, i, x.target, i + 1);
      if (x.cond !== null) c.op(Op.end);
      body.append(c);
    }
    const t = after[i];
    if (t !== -1) {
      if (index.has(t)) goto(body, i, t, depth);
      else exit(body, i, t, i + 1);
    }
  });
  body.op(Op.end); // the loop
  body.op(Op.unreachable);
  const m = new ModuleBuilder();
  helperTypes(m);
  m.importTable('h');
  m.importMemory(ctx.memory.buffer.byteLength / 65536);
  flagFunctions(m, st);
  m.func(1, 1, LOCALS, body, 'b', LOCALS64);
  const bytes = m.build();
  let f: (limit: number) => number;
  try {
    f = new WebAssembly.Instance(new WebAssembly.Module(bytes), ctx.imports).exports.b as (limit: number) => number;
  } catch (e) {
    // The host refused (its code space or memory for WebAssembly is exhausted): this CPU's
    // blocks are translated to JavaScript from now on, and the guest sees nothing of it.
    ctx.refused = String(e);
    return null;
  }
  ctx.compiles++;
  ctx.bytes += bytes.length;
  // Run as a JavaScript block is (by whoever calls Block.fn rather than runBlock): alone.
  const fn = (): number => { ctx.enter(); const n = ctx.run(block.wasm, false); ctx.leave(); return n; };
  const block: Block = {
    phys, eip, d32: true, mode: cpu.blockMode, gen: cpu.pageGen[phys >>> 12], count, bytes: Math.min(d.end, pageEnd) - phys,
    eips, fn, wasm: -1, source: bytes.length, stopEip: -1, tailPage: d.tailPage,
  };
  block.wasm = ctx.place(f, block);
  return block;
}

interface Decoding {
  pieces: Piece[][];
  eips: number[];
  /** Per instruction: a branch's condition (code pushing it; null for a JMP) and target, or null. */
  exits: ({ cond: Code | null; target: number } | null)[];
  /** Per instruction: where control goes after it when its run ends there (after its own exit, if any), or -1. */
  after: number[];
  /** Per instruction: the flag record pending after it (and after its branch's condition), stored on every way out of its straight line. */
  pending: (Pending | null)[];
  end: number;
  /** The next physical page, when an instruction runs on into it (straddle), else -1. */
  tailPage: number;
}

/**
 * The most instructions a WebAssembly block holds. More than a JavaScript block: a block
 * here is a region of its page (see decodeBlock), and each entry from JavaScript costs
 * about as much as a dozen instructions run inside.
 */
export const MAX_REGION_INSTRUCTIONS = 256;

/**
 * The labels decodeBlock will find in the region from `eip` (the instructions a branch
 * inside it goes to), found from the instructions' lengths and the displacements of
 * their direct branches alone: its runs, followed in the same order (a JMP or CALL into
 * the page goes on at its target, a Jcc's target starts a run, RET and other transfers
 * end one). So most regions are decoded once, not a second time with their labels. A
 * guess: decodeBlock's runs also end at a form it does not cover that transfers, or
 * before an instruction across the page's end; translateWasm decodes again when the
 * guess missed a target. A label that is none costs only the flag state known there.
 */
function guessLabels(mem: Uint8Array, eip: number, phys: number, pageEnd: number): Set<number> {
  const labels = new Set<number>();
  const seen = new Set<number>();
  const pageStart = phys & ~0xfff;
  const inPage = (t: number): boolean => { const tp = phys + ((t - eip) | 0); return tp >= pageStart && tp < pageEnd; };
  const starts = [eip];
  for (let r = 0; r < starts.length && seen.size < MAX_REGION_INSTRUCTIONS; r++) {
    let e = starts[r];
    if (seen.has(e)) continue;
    while (seen.size < MAX_REGION_INSTRUCTIONS) {
      if (seen.has(e)) { labels.add(e); break; } // running on into the region: a jump there
      const p = phys + ((e - eip) | 0);
      const n = instructionLength(mem, p, pageEnd, true);
      if (n === 0) break; // across the page's end
      seen.add(e);
      const next = (e + n) >>> 0;
      const kind = directBranch(mem, p);
      if (kind !== 0) {
        const t = (next + branchDisplacement(mem, p + n, kind)) >>> 0;
        if ((kind & BRANCH_JCC) !== 0) {
          if (inPage(t)) { labels.add(t); starts.push(t); }
        } else {
          if (!inPage(t)) break;
          if (seen.has(t)) { labels.add(t); break; }
          e = t;
          continue;
        }
      } else if (alwaysTransfers(mem, p)) {
        break;
      }
      e = next;
    }
  }
  labels.delete(eip);
  return labels;
}

/**
 * Decodes a block as a region of its page: a run of instructions from `eip` as
 * translator.ts's decodeBlock makes it, then runs from the targets of its branches that
 * are in the same page and not yet in it, and so on, up to MAX_REGION_INSTRUCTIONS. A
 * branch to any instruction of the region is a jump inside the function, so a loop whose
 * body branches about its page stays in WebAssembly. A run ends where the JavaScript
 * translator's would; a later run also ends before an instruction that runs past the
 * page's end (an exit to it). Null when the first run holds one.
 */
function decodeBlock(cpu: Cpu, ctx: WasmContext, eip: number, phys: number, pageEnd: number, labels: ReadonlySet<number>): Decoding | null {
  const mem = cpu.mem;
  const u = new Unit(ctx);
  u.segs = cpu.blockMode >>> BLOCK_MODE_SEGS_SHIFT;
  u.paged = (cpu.blockMode & BLOCK_MODE_PAGED) !== 0;
  u.user = (cpu.blockMode & BLOCK_MODE_USER) !== 0;
  u.end1 = cpu.memSize; u.end2 = cpu.memSize - 1; u.end4 = cpu.memSize - 3;
  const infos: FlagInfo[] = [];
  const nexts: number[] = [];
  const eips: number[] = [];
  const exits: ({ cond: Code | null; target: number } | null)[] = [];
  const after: number[] = [];
  const pending: (Pending | null)[] = [];
  const pageStart = phys & ~0xfff;
  const inPage = (t: number): boolean => { const tp = phys + (t - eip); return tp >= pageStart && tp < pageEnd; };
  const starts = [eip];
  let end = phys;
  let tailPage = -1;
  for (let r = 0; r < starts.length && eips.length < MAX_REGION_INSTRUCTIONS; r++) {
    const runStart = starts[r];
    if (eips.includes(runStart)) continue;
    const first = eips.length;
    const st: Decoded = { pos: phys + (runStart - eip), end: pageEnd, ok: true };
    u.known.op = -1; // what branches here leave is not known
    u.pend = null; // and every path here has stored its record (see translateWasm)
    let terminated = false;
    while (eips.length < MAX_REGION_INSTRUCTIONS && !terminated) {
      const start = st.pos;
      const ieip = eip + (start - phys);
      if (eips.length > first && eips.includes(ieip)) {
        // Running on into an instruction already in the region: go there.
        after[after.length - 1] = ieip;
        infos[infos.length - 1].reads = true;
        terminated = true;
        break;
      }
      if (labels.has(ieip)) { u.known.op = -1; u.pend = null; }
      u.index = eips.length;
      u.here = ieip;
      const before = u.begin();
      let res = translateOne(u, mem, st, ieip, start);
      let across = false;
      if (!st.ok && !u.paged) {
        // It runs on into the next page: decoded again with that page's bytes (straddle).
        u.retry(before);
        res = straddle(u, cpu, st, start, ieip, pageEnd);
        if (res !== Emit.None) { across = true; tailPage = pageEnd >>> 12; }
      }
      if (res === Emit.None && !across) {
        // Not a form covered here: the interpreter runs it from the block (generic step).
        const n = instructionLength(mem, start, pageEnd, true);
        if (n !== 0) {
          u.retry(before);
          st.pos = start + n; st.ok = true;
          res = emitStep(u, (ieip + n) >>> 0, alwaysTransfers(mem, start));
        }
      }
      let cond: Code | null = null;
      if (res === Emit.Branch && st.ok) {
        cond = new Code();
        u.condition(cond, u.lastBranch.cc);
      }
      if (!st.ok || res === Emit.None) {
        // Across the page's end (and with paging on, where the next page is found through
        // the TLB). In the first run: the block is the JavaScript translator's, whole (it
        // runs on across the page's end; ending the block here and interpreting the one
        // instruction each time made CoreMark a third slower). In a later run: that run
        // ends before it, with an exit to it.
        if (r === 0) return null;
        if (eips.length > first) { after[after.length - 1] = ieip; infos[infos.length - 1].reads = true; }
        break;
      }
      const next = eip + (st.pos - phys);
      eips.push(ieip);
      nexts.push(next);
      exits.push(null);
      after.push(-1);
      pending.push(u.pend);
      if (st.pos > end) end = st.pos;
      if (res === Emit.Writes || (res === Emit.Jump && u.lastBranch.call)) {
        // After a write to translated code (W, set by the slow path) stop after the
        // instruction; after a CALL its target is the next instruction, followed or not.
        const c = u.piece(false);
        c.get(W).begin(Op.if);
        u.exit(c, res === Emit.Jump ? (next + u.lastBranch.disp) >>> 0 : next, eips.length);
        c.op(Op.end);
      }
      u.pieces.push(u.cur);
      if (res === Emit.Branch) {
        const target = (next + u.lastBranch.disp) >>> 0;
        exits[exits.length - 1] = { cond, target };
        if (inPage(target) && !starts.includes(target)) starts.push(target);
      } else if (res === Emit.Terminates) {
        terminated = true;
      } else if (res === Emit.Jump) {
        const target = (next + u.lastBranch.disp) >>> 0;
        if (!eips.includes(target) && inPage(target)) {
          nexts[nexts.length - 1] = target;
          st.pos = phys + (target - eip);
        } else {
          exits[exits.length - 1] = { cond: null, target };
          terminated = true;
        }
      }
      if (exits[exits.length - 1] !== null || across) u.flagInfo.reads = true; // across: it may leave before it runs
      infos.push({ ...u.flagInfo });
      if (u.flagInfo.modifies) { u.known.op = u.flagInfo.op; u.known.size = u.flagInfo.size; u.known.cfKept = u.flagInfo.keepsCf; }
      if (across) break; // the run ends with it (on at the next instruction, in the next page)
    }
    if (!terminated && eips.length > first && after[after.length - 1] === -1) {
      // The run stopped (the region is full, or an instruction not covered): on at the next instruction.
      after[after.length - 1] = nexts[nexts.length - 1];
      infos[infos.length - 1].reads = true;
    }
  }
  dropDeadFlags(u.pieces, infos);
  return { pieces: u.pieces, eips, exits, after, pending, end, tailPage };
}

/** The instruction's bytes in its page, then the next page's first ones (straddle). */
const acrossBytes = new Uint8Array(32);

/**
 * translator.ts's straddle, paging off: the instruction at `ieip` (physical `start`) that
 * starts in the block's page and ends in the next, decoded with the next page's first
 * bytes, as long as the fetch window reaches them. Its code first checks that they are
 * still what was decoded (the next page's code generation unchanged, the window still
 * reaching its last byte); otherwise the block leaves before it, and the interpreter
 * takes it. Not for jumps, exits or port I/O, which end a block their own ways. Returns
 * what translateOne returned, with `st` past the instruction, or Emit.None.
 */
function straddle(u: Unit, cpu: Cpu, st: Decoded, start: number, ieip: number, pageEnd: number): Emit {
  const inPage = pageEnd - start;
  const next = ieip + inPage; // the EIP of its first byte in the next page
  if (inPage <= 0 || inPage >= 16 || next + 16 > cpu.fetchHi || pageEnd + 16 > cpu.memSize) return Emit.None;
  acrossBytes.set(cpu.mem.subarray(start, pageEnd), 0);
  acrossBytes.set(cpu.mem.subarray(pageEnd, pageEnd + 16), inPage);
  const page = pageEnd >>> 12;
  const c = u.piece(false); // the checks, filled in once the instruction's length is known
  const before = u.pend;
  const across: Decoded = { pos: 0, end: 16, ok: true };
  const res = translateOne(u, acrossBytes, across, ieip, 0);
  if (!across.ok || across.pos <= inPage || (res !== Emit.Plain && res !== Emit.Writes && res !== Emit.Branch)) { st.ok = false; return Emit.None; }
  c.i32(0).mem(Op.i32_load, u.ctx.pageGens + page * 4, 2).i32(cpu.pageGen[page]).op(Op.i32_ne);
  c.i32((ieip + across.pos - 1) | 0); u.slot(c, S_LO); c.op(Op.i32_sub); u.slot(c, S_SPAN); c.op(Op.i32_gt_u).op(Op.i32_or).begin(Op.if);
  // The exit runs before the instruction: the record pending then is stored.
  const after = u.pend;
  u.pend = before;
  u.exit(c, ieip, u.index);
  u.pend = after;
  c.op(Op.end);
  st.ok = true;
  st.pos = start + across.pos;
  return res;
}

/** translator.ts's dropDeadFlags, on pieces. */
function dropDeadFlags(pieces: Piece[][], infos: FlagInfo[]): void {
  const keep = liveFlags(infos);
  for (let i = 0; i < pieces.length; i++) if (!keep[i]) pieces[i] = pieces[i].filter((p) => !p.flags);
}

/** A 32-bit ModRM effective address into local O; returns its default segment (or the override). */
function effectiveAddress(u: Unit, c: Code, mem: Uint8Array, st: Decoded, m: number, segOvr: number): number {
  const mod = m >> 6, rm = m & 7;
  let seg = DS;
  let started = false;
  const reg = (r: number) => { u.regRead(c, r, 4); if (started) c.op(Op.i32_add); started = true; };
  const konst = (k: number) => { c.i32(k); if (started) c.op(Op.i32_add); started = true; };
  if (rm === 4) {
    const sib = byte(mem, st);
    const base = sib & 7, index = (sib >> 3) & 7, scale = sib >> 6;
    if (base === 5 && mod === 0) konst(dword(mem, st));
    else { reg(base); if (base === ESP || base === EBP) seg = SS; }
    if (index !== 4) {
      u.regRead(c, index, 4);
      if (scale) c.i32(scale).op(Op.i32_shl);
      c.op(Op.i32_add);
    }
  } else if (rm === 5 && mod === 0) {
    konst(dword(mem, st));
  } else {
    reg(rm);
    if (rm === EBP) seg = SS;
  }
  if (mod === 1) konst((byte(mem, st) << 24) >> 24);
  else if (mod === 2) konst(dword(mem, st));
  c.set(O);
  return segOvr >= 0 ? segOvr : seg;
}

const LAZY_OP = [LazyOp.Add, LazyOp.Logic, -1, -1, LazyOp.Logic, LazyOp.Sub, LazyOp.Logic, LazyOp.Sub];
const ALU_OP = [Op.i32_add, Op.i32_or, 0, 0, Op.i32_and, Op.i32_sub, Op.i32_xor, Op.i32_sub];

/**
 * ALU operation `aluOp` of locals A and B into V, and its flags: inline as
 * translator.ts's emitAlu for all but ADC and SBB, which add or subtract CF too and
 * record what alu() records (they read the flags: the state after them is not known).
 */
function emitAlu(u: Unit, aluOp: number, sz: number, mayLeave: boolean): void {
  const c = u.code;
  if (aluOp === 2 || aluOp === 3) {
    const add = aluOp === 2;
    u.settle(c); // getCF reads the slots
    c.get(A).get(B).op(add ? Op.i32_add : Op.i32_sub).call(F_GETCF).op(add ? Op.i32_add : Op.i32_sub);
    if (sz !== 4) c.i32(MASK[sz]).op(Op.i32_and);
    c.set(V);
    u.record(c, add ? LazyOp.Add : LazyOp.Sub, A, B, V, sz, ARITH);
    return; // the flags as translateOne leaves them by default: read and changed
  }
  c.get(A).get(B).op(ALU_OP[aluOp]);
  if (sz !== 4) c.i32(MASK[sz]).op(Op.i32_and);
  c.set(V);
  u.record(u.piece(true), LAZY_OP[aluOp], A, B, V, sz, ARITH);
  u.piece(false);
  u.flagsSet(LAZY_OP[aluOp], sz, mayLeave);
}

/** TEST: the result already in V. */
function emitTest(u: Unit, sz: number, mayLeave: boolean): void {
  u.record(u.piece(true), LazyOp.Logic, 0, 0, V, sz, ARITH, true);
  u.piece(false);
  u.flagsSet(LazyOp.Logic, sz, mayLeave);
}

/** INC/DEC of local A into V (translator.ts's emitIncDec). */
function emitIncDec(u: Unit, dec: boolean, sz: number, mayLeave: boolean): void {
  const c = u.code;
  c.get(A).i32(1).op(dec ? Op.i32_sub : Op.i32_add);
  if (sz !== 4) c.i32(MASK[sz]).op(Op.i32_and);
  c.set(V);
  const f = u.piece(true);
  // CF is carried over: worked out first (from the known state, or by getCF), then stored as a plain bit.
  if (u.known.op >= 0) u.condition(f, 2); else { u.settle(f); f.call(F_GETCF); }
  f.set(C);
  const op = dec ? LazyOp.Sub : LazyOp.Add;
  f.i32(1).set(B);
  u.record(f, op, A, B, V, sz, ARITH & ~CF);
  f.i32(0).i32(0).mem(Op.i32_load, u.ctx.state + S_FLAGS, 2).i32(~CF).op(Op.i32_and).get(C).op(Op.i32_or).mem(Op.i32_store, u.ctx.state + S_FLAGS, 2);
  u.piece(false);
  const fi = u.flagInfo;
  fi.reads = mayLeave; fi.keepsCf = true; fi.op = op; fi.size = sz;
}

/**
 * setResultFlags(cpu, V, sign, cf, of, false) on the state slots, CF (0 or 1) in local C:
 * `of` is C itself (`overflow`: a multiply's CF = OF), or what a shift's OF is ('shl':
 * the result's sign differs from CF; 'shr': the operand's sign, in A; 'sar': clear).
 */
function emitResultFlags(u: Unit, c: Code, sz: number, overflow: boolean, of: 'shl' | 'shr' | 'sar' | null = null, now = false): void {
  const st = u.ctx.state;
  c.i32(0);
  c.i32(0).mem(Op.i32_load, st + S_FLAGS, 2).i32(~(CF | OF | AF)).op(Op.i32_and).get(C).op(Op.i32_or);
  if (overflow) c.get(C).i32(OF).op(Op.i32_mul).op(Op.i32_or);
  else if (of === 'shl') c.get(V).i32(SIGN[sz]).op(Op.i32_and).i32(0).op(Op.i32_ne).get(C).op(Op.i32_ne).i32(OF).op(Op.i32_mul).op(Op.i32_or);
  else if (of === 'shr') c.get(A).i32(SIGN[sz]).op(Op.i32_and).i32(0).op(Op.i32_ne).i32(OF).op(Op.i32_mul).op(Op.i32_or);
  c.mem(Op.i32_store, st + S_FLAGS, 2);
  if (now) u.recordNow(c, LazyOp.Logic, 0, 0, V, sz, PF | ZF | SF, true);
  else u.record(c, LazyOp.Logic, 0, 0, V, sz, PF | ZF | SF, true);
}

/** IMUL of the 32-bit locals A and B into V (translator.ts's emitImul32): CF = OF = the product does not fit. */
function emitImul32(u: Unit, mayLeave: boolean): void {
  const c = u.code;
  c.get(A).op(Op.i64_extend_i32_s).get(B).op(Op.i64_extend_i32_s).op(Op.i64_mul).tee(P).op(Op.i32_wrap_i64).set(V);
  const f = u.piece(true);
  f.get(P).get(V).op(Op.i64_extend_i32_s).op(Op.i64_ne).set(C);
  emitResultFlags(u, f, 4, true);
  u.piece(false);
  u.flagsSet(-1, 4, mayLeave);
}

/** SHL, SHR, SAR of local A by a constant 1-31 into V, flags as shift() sets them (translator.ts's emitShiftImm); false for the rest. */
function emitShiftImm(u: Unit, kind: number, count: number, sz: number, mayLeave: boolean): boolean {
  const bits = sz * 8;
  if (kind < 4 || kind === 6 || count >= bits) return false;
  const c = u.code;
  const sign = SIGN[sz];
  // The result.
  if (kind === 5) { c.get(A); if (sz !== 4) c.i32(MASK[sz]).op(Op.i32_and); c.i32(count).op(Op.i32_shr_u); }
  else if (kind === 7) { c.get(A); if (sz === 1) c.op(Op.i32_extend8_s); else if (sz === 2) c.op(Op.i32_extend16_s); c.i32(count).op(Op.i32_shr_s); if (sz !== 4) c.i32(MASK[sz]).op(Op.i32_and); }
  else { c.get(A).i32(count).op(Op.i32_shl); if (sz !== 4) c.i32(MASK[sz]).op(Op.i32_and); }
  c.set(V);
  const f = u.piece(true);
  // CF into C.
  if (kind === 5) { f.get(A); if (sz !== 4) f.i32(MASK[sz]).op(Op.i32_and); f.i32(count - 1).op(Op.i32_shr_u).i32(1).op(Op.i32_and); }
  else if (kind === 7) { f.get(A); if (sz === 1) f.op(Op.i32_extend8_s); else if (sz === 2) f.op(Op.i32_extend16_s); f.i32(count - 1).op(Op.i32_shr_s).i32(1).op(Op.i32_and); }
  else { f.get(A); if (sz !== 4) f.i32(MASK[sz]).op(Op.i32_and); f.i32(bits - count).op(Op.i32_shr_u).i32(1).op(Op.i32_and); }
  f.set(C);
  // flags = (flags & ~(CF|OF|AF)) | CF? | OF?  (setResultFlags with af false)
  f.i32(0);
  f.i32(0).mem(Op.i32_load, u.ctx.state + S_FLAGS, 2).i32(~(CF | OF | AF)).op(Op.i32_and).get(C).op(Op.i32_or);
  if (kind === 5) { f.get(A).i32(sign).op(Op.i32_and).i32(0).op(Op.i32_ne).i32(OF).op(Op.i32_mul).op(Op.i32_or); }
  else if (kind === 4) { f.get(V).i32(sign).op(Op.i32_and).i32(0).op(Op.i32_ne).get(C).op(Op.i32_ne).i32(OF).op(Op.i32_mul).op(Op.i32_or); }
  f.mem(Op.i32_store, u.ctx.state + S_FLAGS, 2);
  u.record(f, LazyOp.Logic, 0, 0, V, sz, PF | ZF | SF, true);
  u.piece(false);
  u.flagsSet(-1, sz, mayLeave);
  return true;
}

/**
 * ROL (kind 0) or ROR (1) of local A by a constant 1-31 into V: shift()'s result, and its
 * CF and OF through the `cfof` import (setCfOf: the other flags as they stand) in a piece
 * of their own, dropped where the flags are dead.
 */
function emitRotateImm(u: Unit, kind: number, count: number, sz: number): void {
  const c = u.code;
  const bits = sz * 8, n = count & (bits - 1), sign = SIGN[sz];
  if (n === 0) c.get(A);
  else if (sz === 4) c.get(A).i32(n).op(kind === 0 ? Op.i32_rotl : Op.i32_rotr);
  else {
    c.get(A).i32(kind === 0 ? n : bits - n).op(Op.i32_shl);
    c.get(A).i32(kind === 0 ? bits - n : n).op(Op.i32_shr_u).op(Op.i32_or).i32(MASK[sz]).op(Op.i32_and);
  }
  c.set(V);
  const f = u.piece(true);
  const bit = (b: number): void => { f.get(V).i32(b).op(Op.i32_and).i32(0).op(Op.i32_ne); };
  if (kind === 0) { f.get(V).i32(1).op(Op.i32_and).set(C); f.get(C); bit(sign); f.get(C).op(Op.i32_ne); }
  else { bit(sign); f.set(C); f.get(C); bit(sign); bit(sign >>> 1); f.op(Op.i32_ne); }
  u.settle(f); // setCfOf keeps the other flags as the slots hold them
  callHelper(f, F_CFOF);
  u.piece(false);
}

/**
 * DIV (or IDIV, `signed`) of EDX:EAX by the 32-bit operand: inline when the quotient
 * fits, else the interpreter's (which raises #DE). The flags stay as they were.
 */
function emitDivide(u: Unit, c: Code, E: Operand, signed: boolean, next: number): Emit {
  u.flagsKept();
  u.settle(c); // the interpreter's path (stepCall) may change the flags
  E.read(c); c.set(B);
  const dividend = (): void => {
    u.regRead(c, EDX, 4); c.op(Op.i64_extend_i32_u).i64(32).op(Op.i64_shl);
    u.regRead(c, EAX, 4); c.op(Op.i64_extend_i32_u).op(Op.i64_or).set(P);
  };
  const results = (): void => {
    c.get(Q).op(Op.i32_wrap_i64).set(V);
    c.get(P).get(B).op(signed ? Op.i64_extend_i32_s : Op.i64_extend_i32_u).op(signed ? Op.i64_rem_s : Op.i64_rem_u).op(Op.i32_wrap_i64).set(A);
    u.regWrite(c, EAX, 4, V); u.regWrite(c, EDX, 4, A);
  };
  if (!signed) {
    // Fits when EDX < the divisor (which also rules a divisor of 0 out).
    u.regRead(c, EDX, 4); c.get(B).op(Op.i32_lt_u).begin(Op.if);
    dividend();
    c.get(P).get(B).op(Op.i64_extend_i32_u).op(Op.i64_div_u).set(Q);
    results();
  } else {
    // A divisor of 0 or -1 (whose quotient of -2^63 would trap) to the interpreter, then the quotient's range.
    c.get(B).i32(0).op(Op.i32_ne).get(B).i32(-1).op(Op.i32_ne).op(Op.i32_and).begin(Op.if);
    dividend();
    c.get(P).get(B).op(Op.i64_extend_i32_s).op(Op.i64_div_s).set(Q);
    c.get(Q).get(Q).op(Op.i32_wrap_i64).op(Op.i64_extend_i32_s).op(Op.i64_eq).begin(Op.if);
    results();
    c.op(Op.else);
    u.stepCall(c, next);
    c.op(Op.end);
  }
  c.op(Op.else);
  u.stepCall(c, next);
  c.op(Op.end);
  return Emit.Plain;
}

/**
 * LODS, STOS, MOVS, SCAS and CMPS without REP, 32-bit addressing (execute.ts's string
 * handlers with one element): the source at `seg`:ESI, the destination at ES:EDI, each
 * index stepped by the size, down when DF is set, after the accesses (a fault leaves it).
 */
function emitString(u: Unit, c: Code, op: number, sz: number, seg: number): Emit {
  const st = u.ctx.state;
  c.i32(-sz).i32(sz).i32(0).mem(Op.i32_load, st + S_FLAGS, 2).i32(0x400).op(Op.i32_and).op(Op.select).set(C);
  const advance = (r: number): void => { u.regRead(c, r, 4); c.get(C).op(Op.i32_add).set(T); u.regWrite(c, r, 4, T); };
  const at = (r: number): void => { u.regRead(c, r, 4); c.set(O); };
  const kind = op & ~1;
  if (kind === 0xac) { // LODS
    at(ESI); u.memRead(c, seg, sz); c.set(V);
    u.regWrite(c, EAX, sz, V); advance(ESI);
    u.flagsKept();
    return Emit.Plain;
  }
  if (kind === 0xaa) { // STOS
    u.regRead(c, EAX, sz); c.set(V);
    at(EDI); u.memWrite(c, ES, sz, V);
    advance(EDI);
    u.flagsKept();
    return Emit.Writes;
  }
  if (kind === 0xa4) { // MOVS
    at(ESI); u.memRead(c, seg, sz); c.set(V);
    at(EDI); u.memWrite(c, ES, sz, V);
    advance(ESI); advance(EDI);
    u.flagsKept();
    return Emit.Writes;
  }
  // SCAS: the accumulator less ES:EDI; CMPS: seg:ESI less ES:EDI. The flags of sub().
  if (kind === 0xae) { u.regRead(c, EAX, sz); c.set(A); }
  else { at(ESI); u.memRead(c, seg, sz); c.set(A); }
  at(EDI); u.memRead(c, ES, sz); c.set(B);
  c.get(A).get(B).op(Op.i32_sub); if (sz !== 4) c.i32(MASK[sz]).op(Op.i32_and); c.set(V);
  if (kind === 0xa6) advance(ESI);
  advance(EDI);
  u.record(u.piece(true), LazyOp.Sub, A, B, V, sz, ARITH);
  u.piece(false);
  u.flagsSet(LazyOp.Sub, sz, true);
  return Emit.Plain;
}

/**
 * An instruction no form here covers, by the interpreter (Unit.stepCall). One that always
 * transfers control (`transfers`: a far JMP, IRET, HLT...) ends its run of the region.
 */
function emitStep(u: Unit, next: number, transfers: boolean): Emit {
  const c = u.piece(false);
  u.settle(c); // the interpreter may change the flags: the slots hold them after it
  u.stepCall(c, next);
  if (transfers) { u.exit(c, next, u.index + 1); return Emit.Terminates; }
  return Emit.Plain;
}

/** Emits one instruction; as translator.ts's translateOne, for the forms this translator covers. */
function translateOne(u: Unit, mem: Uint8Array, st: Decoded, ieip: number, startPos: number): Emit {
  const { op, size, segOvr, rep } = prefixes(mem, st);
  // CS (a code segment read through the interpreter's accessors) is the JavaScript translator's.
  if (segOvr === CS) return Emit.None;
  if (!st.ok) return Emit.None;
  if (rep && op === 0x90) {
    // PAUSE (translator.ts's): its cycles beyond an instruction's charged, the block
    // going on only if the rest of this pass still fits (delay loops spin on it).
    const c = u.piece(false);
    if (u.ctx.cpu.pauseCycles === u.ctx.cpu.instructionCycles) { u.flagsUntouched(); return Emit.Plain; }
    u.flagsKept(); // it may leave the block: the flags before it are seen
    u.settle(c);
    callHelper(c.get(BASE).get(N).op(Op.i32_add), F_PAUSE).begin(Op.if);
    u.exit(c, ieip + (st.pos - startPos), u.index + 1);
    c.op(Op.end);
    u.limitFromSlot(c);
    return Emit.Plain;
  }
  if (rep) {
    // REP MOVS and REP STOS without a segment prefix, through the interpreter's handlers (see the `rep` import).
    if ((op !== 0xa4 && op !== 0xa5 && op !== 0xaa && op !== 0xab) || segOvr >= 0) return Emit.None;
    const c = u.piece(false);
    const sz = op & 1 ? size : 1;
    u.flagsKept();
    u.settle(c);
    u.regRead(c, 1, 4); c.begin(Op.if);
    callHelper(c.i32(op).i32(sz).i32(ieip).get(BASE).i32(u.index).op(Op.i32_add).get(BASE).get(N).op(Op.i32_add), F_REP).set(T);
    c.get(T).begin(Op.if);
    // 1: stopped part-way, EIP on it; 2: leave after it.
    u.exit(c, (e) => e.get(T).i32(1).op(Op.i32_eq).begin(Op.if, I32).i32(ieip).op(Op.else).i32(ieip + (st.pos - startPos)).op(Op.end), u.index + 1);
    c.op(Op.end);
    u.limitFromSlot(c);
    c.op(Op.end);
    return Emit.Plain;
  }
  const c = u.piece(false);
  let m = 0;
  let E: Operand = u.reg(0, size);
  let G: Operand = u.reg(0, size);
  const modrm = (opSize: number): void => {
    m = byte(mem, st);
    G = u.reg((m >> 3) & 7, opSize);
    if (m >= 0xc0) E = u.reg(m & 7, opSize);
    else { const seg = effectiveAddress(u, c, mem, st, m, segOvr); E = u.memory(seg, opSize); }
  };
  const wrote = (): Emit => (E.mem ? Emit.Writes : Emit.Plain);
  const imm = (sz: number): number => immediate(mem, st, sz);
  const simm8 = (sz: number): number => signedImm8(mem, st, sz);

  if (op < 0x40 && (op & 7) < 6) {
    const aluOp = op >> 3;
    const form = op & 7;
    if (form === 0 || form === 1) {
      const sz = form === 0 ? 1 : size;
      modrm(sz);
      E.read(c); c.set(A); G.read(c); c.set(B);
      emitAlu(u, aluOp, sz, E.mem);
      if (aluOp !== 7) { E.write(u.code, V); return wrote(); }
      return Emit.Plain;
    }
    if (form === 2 || form === 3) {
      const sz = form === 2 ? 1 : size;
      modrm(sz);
      G.read(c); c.set(A); E.read(c); c.set(B);
      emitAlu(u, aluOp, sz, E.mem);
      if (aluOp !== 7) G.write(u.code, V);
      return Emit.Plain;
    }
    const sz = form === 4 ? 1 : size;
    const acc = u.reg(0, sz);
    const k = imm(sz);
    acc.read(c); c.set(A); c.i32(k).set(B);
    emitAlu(u, aluOp, sz, false);
    if (aluOp !== 7) acc.write(u.code, V);
    return Emit.Plain;
  }
  if (op >= 0x40 && op <= 0x4f) {
    const R = u.reg(op & 7, size);
    R.read(c); c.set(A);
    emitIncDec(u, op >= 0x48, size, false);
    R.write(u.code, V);
    return Emit.Plain;
  }
  if (op >= 0x50 && op <= 0x57) {
    if (size !== 4) return Emit.None;
    u.regRead(c, op & 7, 4); c.set(V);
    u.push(c, V);
    u.flagsKept();
    return Emit.Writes;
  }
  if (op >= 0x58 && op <= 0x5f) {
    if (size !== 4) return Emit.None;
    u.pop(c);
    u.regWrite(c, op & 7, 4, V);
    u.flagsKept();
    return Emit.Plain;
  }
  if (op >= 0x70 && op <= 0x7f) {
    if (size !== 4) return Emit.None;
    const d = (byte(mem, st) << 24) >> 24;
    u.lastBranch.cc = op & 15; u.lastBranch.disp = d;
    u.flagsKept();
    return Emit.Branch;
  }
  if (op >= 0xb0 && op <= 0xb7) { c.i32(byte(mem, st)).set(V); u.regWrite(c, op & 7, 1, V); u.flagsUntouched(); return Emit.Plain; }
  if (op >= 0xb8 && op <= 0xbf) { c.i32(size === 4 ? dword(mem, st) : word(mem, st)).set(V); u.regWrite(c, op & 7, size, V); u.flagsUntouched(); return Emit.Plain; }
  if (op >= 0x91 && op <= 0x97) {
    u.regRead(c, 0, size); c.set(V); u.regRead(c, op & 7, size); c.set(A);
    u.regWrite(c, 0, size, A); u.regWrite(c, op & 7, size, V);
    u.flagsUntouched();
    return Emit.Plain;
  }
  if (op >= 0xa4 && op <= 0xaf && op !== 0xa8 && op !== 0xa9) return emitString(u, c, op, op & 1 ? size : 1, segOvr >= 0 ? segOvr : DS);
  switch (op) {
    case 0xc9: {
      // LEAVE: ESP = EBP, then POP EBP. Off the fast path (a stack not flat, a TLB miss, past RAM) the interpreter's.
      if (size !== 4) return Emit.None;
      const next = ieip + (st.pos - startPos);
      u.flagsKept();
      u.settle(c); // the interpreter's path (stepCall) may change the flags
      u.regRead(c, EBP, 4); c.set(O);
      if (!u.flat(SS)) { u.stepCall(c, next); return Emit.Plain; }
      u.stackRead(c);
      c.get(O).i32(4).op(Op.i32_add).set(T);
      u.regWrite(c, ESP, 4, T);
      u.regWrite(c, EBP, 4, V);
      c.op(Op.else);
      u.stepCall(c, next);
      c.op(Op.end);
      return Emit.Plain;
    }
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
      // MOV AL/eAX to and from a direct offset (moffs), 32-bit addressing: Linux's per-CPU
      // variables are MOV EAX, FS:[moffs].
      const sz = op & 1 ? size : 1;
      const M = u.memory(segOvr >= 0 ? segOvr : DS, sz);
      c.i32(dword(mem, st)).set(O);
      if (op < 0xa2) { M.read(c); c.set(V); u.regWrite(c, 0, sz, V); u.flagsKept(); return Emit.Plain; }
      u.regRead(c, 0, sz); c.set(V);
      M.write(c, V);
      u.flagsKept();
      return Emit.Writes;
    }
    case 0x0f: return translate0F(u, mem, st, size, modrm, () => E, () => G, () => m, () => c);
    case 0x68: case 0x6a:
      if (size !== 4) return Emit.None;
      c.i32(op === 0x68 ? dword(mem, st) : simm8(4)).set(V);
      u.push(c, V);
      u.flagsKept();
      return Emit.Writes;
    case 0x80: case 0x81: case 0x83: {
      const sz = op === 0x80 ? 1 : size;
      modrm(sz);
      const aluOp = (m >> 3) & 7;
      E.read(c); c.set(A);
      const k = op === 0x83 ? simm8(sz) : imm(sz);
      c.i32(k).set(B);
      emitAlu(u, aluOp, sz, E.mem);
      if (aluOp !== 7) { E.write(u.code, V); return wrote(); }
      return Emit.Plain;
    }
    case 0x84: case 0x85: {
      const sz = op === 0x84 ? 1 : size;
      modrm(sz);
      E.read(c); G.read(c); c.op(Op.i32_and).set(V);
      emitTest(u, sz, E.mem);
      return Emit.Plain;
    }
    case 0x86: case 0x87: {
      const sz = op === 0x86 ? 1 : size;
      modrm(sz);
      E.read(c); c.set(A); G.read(c); c.set(V);
      E.write(c, V); G.write(c, A);
      u.dataMove(E.mem);
      return wrote();
    }
    case 0x88: case 0x89: modrm(op === 0x88 ? 1 : size); G.read(c); c.set(V); E.write(c, V); u.dataMove(E.mem); return wrote();
    case 0x8a: case 0x8b: modrm(op === 0x8a ? 1 : size); E.read(c); c.set(V); G.write(c, V); u.dataMove(E.mem); return Emit.Plain;
    case 0x8d: {
      m = byte(mem, st);
      if (m >= 0xc0) return Emit.None;
      effectiveAddress(u, c, mem, st, m, segOvr);
      if (size === 2) c.get(O).i32(0xffff).op(Op.i32_and).set(O);
      u.regWrite(c, (m >> 3) & 7, size, O);
      u.flagsUntouched();
      return Emit.Plain;
    }
    case 0x90: u.flagsUntouched(); return Emit.Plain;
    case 0x98:
      if (size === 4) { u.regRead(c, 0, 2); c.op(Op.i32_extend16_s).set(V); u.regWrite(c, 0, 4, V); }
      else { u.regRead(c, 0, 1); c.op(Op.i32_extend8_s).i32(0xffff).op(Op.i32_and).set(V); u.regWrite(c, 0, 2, V); }
      u.flagsUntouched();
      return Emit.Plain;
    case 0x99:
      if (size === 4) { u.regRead(c, 0, 4); c.i32(31).op(Op.i32_shr_s).set(V); u.regWrite(c, 2, 4, V); }
      else { u.regRead(c, 0, 2); c.op(Op.i32_extend16_s).i32(15).op(Op.i32_shr_s).i32(0xffff).op(Op.i32_and).set(V); u.regWrite(c, 2, 2, V); }
      u.flagsUntouched();
      return Emit.Plain;
    case 0xa8: u.regRead(c, 0, 1); c.i32(byte(mem, st)).op(Op.i32_and).set(V); emitTest(u, 1, false); return Emit.Plain;
    case 0xa9: u.regRead(c, 0, size); c.i32(imm(size)).op(Op.i32_and).set(V); emitTest(u, size, false); return Emit.Plain;
    case 0x69: case 0x6b: {
      if (size !== 4) return Emit.None;
      modrm(4);
      E.read(c); c.set(A);
      c.i32(op === 0x69 ? dword(mem, st) : simm8(4)).set(B);
      emitImul32(u, E.mem);
      G.write(u.code, V);
      return Emit.Plain;
    }
    case 0xd3: {
      // Shifts by CL, 32-bit SHL, SHR and SAR: shift()'s result and flags, for a count of 1-31; none for 0.
      if (size !== 4) return Emit.None;
      modrm(4);
      const kind = (m >> 3) & 7;
      if (kind !== 4 && kind !== 5 && kind !== 7) return Emit.None;
      E.read(c); c.set(A);
      u.settle(c); // flags only for a count not 0: recorded at once inside
      u.regRead(c, 1, 1); c.i32(31).op(Op.i32_and).tee(T).begin(Op.if);
      c.get(A).get(T).op(kind === 4 ? Op.i32_shl : kind === 5 ? Op.i32_shr_u : Op.i32_shr_s).set(V);
      if (kind === 4) c.get(A).i32(32).get(T).op(Op.i32_sub).op(Op.i32_shr_u);
      else c.get(A).get(T).i32(1).op(Op.i32_sub).op(kind === 5 ? Op.i32_shr_u : Op.i32_shr_s);
      c.i32(1).op(Op.i32_and).set(C);
      emitResultFlags(u, c, 4, false, kind === 4 ? 'shl' : kind === 5 ? 'shr' : 'sar', true);
      E.write(c, V);
      c.op(Op.end);
      return wrote();
    }
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: {
      const sz = op & 1 ? size : 1;
      modrm(sz);
      const kind = (m >> 3) & 7;
      const count = op <= 0xc1 ? byte(mem, st) & 31 : 1;
      if (count === 0) return Emit.None;
      E.read(c); c.set(A);
      if (kind < 2) emitRotateImm(u, kind, count, sz);
      else if (!emitShiftImm(u, kind, count, sz, E.mem)) return Emit.None;
      E.write(u.code, V);
      return wrote();
    }
    case 0xc3: {
      if (size !== 4) return Emit.None;
      u.pop(c);
      u.exit(c, (e) => e.get(V), u.index + 1);
      u.flagsKept();
      return Emit.Terminates;
    }
    case 0xc6: case 0xc7: {
      const sz = op === 0xc6 ? 1 : size;
      modrm(sz);
      if (((m >> 3) & 7) !== 0) return Emit.None;
      c.i32(imm(sz)).set(V);
      E.write(c, V);
      u.dataMove(E.mem);
      return wrote();
    }
    case 0xe8: {
      if (size !== 4) return Emit.None;
      const d = dword(mem, st);
      u.lastBranch.call = true; u.lastBranch.disp = d;
      c.i32(ieip + (st.pos - startPos)).set(V);
      u.push(c, V);
      u.flagsKept();
      return Emit.Jump;
    }
    case 0xe9: case 0xeb: {
      if (size !== 4) return Emit.None;
      const d = op === 0xe9 ? dword(mem, st) : (byte(mem, st) << 24) >> 24;
      u.lastBranch.cc = -1; u.lastBranch.disp = d;
      u.flagsUntouched();
      return Emit.Jump;
    }
    case 0xf6: case 0xf7: {
      const sz = op === 0xf6 ? 1 : size;
      modrm(sz);
      const kind = (m >> 3) & 7;
      if (kind === 0 || kind === 1) {
        E.read(c); c.i32(imm(sz)).op(Op.i32_and).set(V);
        emitTest(u, sz, E.mem);
        return Emit.Plain;
      }
      if (kind === 2) {
        E.read(c); c.i32(-1).op(Op.i32_xor); if (sz !== 4) c.i32(MASK[sz]).op(Op.i32_and); c.set(V);
        E.write(c, V);
        u.dataMove(E.mem);
        return wrote();
      }
      if (kind === 3) {
        // NEG: sub(cpu, 0, a) (the flags read and changed, as translateOne leaves them).
        E.read(c); c.set(B); c.i32(0).set(A);
        c.get(A).get(B).op(Op.i32_sub); if (sz !== 4) c.i32(MASK[sz]).op(Op.i32_and); c.set(V);
        u.record(c, LazyOp.Sub, A, B, V, sz, ARITH);
        E.write(c, V);
        return wrote();
      }
      if (sz !== 4) return Emit.None;
      if (kind >= 6) return emitDivide(u, c, E, kind === 7, ieip + (st.pos - startPos));
      // MUL, IMUL EDX:EAX = EAX * r/m32: the flags as mulFlags() sets them.
      const ext = kind === 4 ? Op.i64_extend_i32_u : Op.i64_extend_i32_s;
      E.read(c); c.op(ext); u.regRead(c, 0, 4); c.op(ext).op(Op.i64_mul).set(P);
      c.get(P).op(Op.i32_wrap_i64).set(V);
      c.get(P).i64(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64).set(B);
      u.regWrite(c, 0, 4, V);
      u.regWrite(c, 2, 4, B);
      c.get(B);
      if (kind === 4) c.i32(0).op(Op.i32_ne); else c.get(V).i32(31).op(Op.i32_shr_s).op(Op.i32_ne);
      c.set(C);
      emitResultFlags(u, c, 4, true);
      return Emit.Plain;
    }
    case 0xfe: case 0xff: {
      const sz = op === 0xfe ? 1 : size;
      modrm(sz);
      const kind = (m >> 3) & 7;
      if (kind < 2) {
        E.read(c); c.set(A);
        emitIncDec(u, kind === 1, sz, E.mem);
        E.write(u.code, V);
        return wrote();
      }
      if (op === 0xfe || size !== 4) return Emit.None;
      if (kind === 2) {
        // CALL r/m: the return address is the EIP after the instruction.
        E.read(c); c.set(A);
        c.i32(ieip + (st.pos - startPos)).set(V);
        u.push(c, V);
      }
      if (kind === 2 || kind === 4) {
        if (kind === 4) { E.read(c); c.set(A); }
        u.exit(c, (e) => e.get(A), u.index + 1);
        u.flagsKept();
        return Emit.Terminates;
      }
      if (kind === 6) { E.read(c); c.set(V); u.push(c, V); u.flagsKept(); return Emit.Writes; }
      return Emit.None;
    }
    default:
      return Emit.None;
  }
}

function translate0F(
  u: Unit, mem: Uint8Array, st: Decoded, size: number,
  modrm: (sz: number) => void, getE: () => Operand, getG: () => Operand, getM: () => number, code: () => Code,
): Emit {
  const op = byte(mem, st);
  const c = code();
  if (op >= 0x80 && op <= 0x8f) {
    if (size !== 4) return Emit.None;
    const d = dword(mem, st);
    u.lastBranch.cc = op & 15; u.lastBranch.disp = d;
    u.flagsKept();
    return Emit.Branch;
  }
  if (op >= 0x40 && op <= 0x4f) {
    modrm(size);
    getE().read(c); c.set(V);
    u.condition(c, op & 15);
    c.begin(Op.if);
    getG().write(c, V);
    c.op(Op.end);
    u.flagsKept();
    return Emit.Plain;
  }
  if (op >= 0x90 && op <= 0x9f) {
    modrm(1);
    u.condition(c, op & 15);
    c.set(V);
    getE().write(c, V);
    u.flagsKept();
    return getE().mem ? Emit.Writes : Emit.Plain;
  }
  if (op >= 0xc8 && op <= 0xcf) {
    // BSWAP r32.
    if (size !== 4) return Emit.None;
    const n = op & 7;
    u.regRead(c, n, 4); c.set(A);
    c.get(A).i32(24).op(Op.i32_shl);
    c.get(A).i32(0xff00).op(Op.i32_and).i32(8).op(Op.i32_shl).op(Op.i32_or);
    c.get(A).i32(8).op(Op.i32_shr_u).i32(0xff00).op(Op.i32_and).op(Op.i32_or);
    c.get(A).i32(24).op(Op.i32_shr_u).op(Op.i32_or).set(V);
    u.regWrite(c, n, 4, V);
    u.flagsUntouched();
    return Emit.Plain;
  }
  switch (op) {
    case 0x31:
      // RDTSC: the instructions before it charged first (the `rdtsc` import).
      u.settle(c);
      callHelper(c.i32(u.here).get(BASE).i32(u.index).op(Op.i32_add), F_RDTSC);
      u.flagsKept();
      return Emit.Plain;
    case 0xaf: {
      if (size !== 4) return Emit.None;
      modrm(4);
      getG().read(c); c.set(A); getE().read(c); c.set(B);
      emitImul32(u, getE().mem);
      getG().write(u.code, V);
      return Emit.Plain;
    }
    case 0xbc: case 0xbd: {
      // BSF, BSR (translator.ts's): a zero source sets ZF and leaves the destination; else
      // the index, and the flags logic() records for it with bit 8 set (ZF clear).
      if (size !== 4) return Emit.None;
      modrm(4);
      getE().read(c); c.set(B);
      // The index into V (what it would be; written only for a source not zero).
      if (op === 0xbc) c.get(B).op(Op.i32_ctz); else c.i32(31).get(B).op(Op.i32_clz).op(Op.i32_sub);
      c.set(V);
      c.get(B).begin(Op.if);
      getG().write(c, V);
      c.op(Op.end);
      const f = u.piece(true);
      f.get(B).begin(Op.if, I32).get(V).i32(0x100).op(Op.i32_or).op(Op.else).i32(0).op(Op.end).set(V);
      u.record(f, LazyOp.Logic, 0, 0, V, 4, ARITH, true);
      u.piece(false);
      u.flagsSet(LazyOp.Logic, 4, getE().mem);
      return Emit.Plain;
    }
    case 0xb6: case 0xb7: case 0xbe: case 0xbf: {
      // MOVZX, MOVSX of a byte (B6, BE) or a word (B7, BF).
      const from = op & 1 ? 2 : 1;
      modrm(from);
      getE().read(c);
      if (op >= 0xbe) { c.op(from === 1 ? Op.i32_extend8_s : Op.i32_extend16_s); if (size !== 4) c.i32(0xffff).op(Op.i32_and); }
      c.set(V);
      u.regWrite(c, (getM() >> 3) & 7, size, V);
      u.dataMove(getE().mem);
      return Emit.Plain;
    }
    default:
      return Emit.None;
  }
}
