/**
 * A small WebAssembly binary encoder (the MVP format, WebAssembly Core Specification
 * 1.0, section 5): enough to build, at run time, a module of functions over one
 * imported memory and imported JavaScript functions. The WebAssembly block translator
 * (wasm-translator.ts) writes its code with it; nothing here knows about x86.
 *
 * Integer code: the value type i32, its loads, stores and arithmetic, i64 locals and
 * the few i64 operations a 32 x 32 -> 64-bit multiply needs, and structured control
 * (block, loop, if, br, br_if, br_table), calls direct and through a table. Functions
 * take and return i32 values. Translation time only: nothing here is on the emulated path.
 */

/** Opcodes (Core Specification 5.4). */
export const enum Op {
  unreachable = 0x00, nop = 0x01, block = 0x02, loop = 0x03, if = 0x04, else = 0x05, end = 0x0b,
  br = 0x0c, br_if = 0x0d, br_table = 0x0e, return = 0x0f, call = 0x10, call_indirect = 0x11, drop = 0x1a, select = 0x1b,
  local_get = 0x20, local_set = 0x21, local_tee = 0x22,
  i32_load = 0x28, i32_load8_s = 0x2c, i32_load8_u = 0x2d, i32_load16_s = 0x2e, i32_load16_u = 0x2f,
  i32_store = 0x36, i32_store8 = 0x3a, i32_store16 = 0x3b,
  i32_const = 0x41,
  i32_eqz = 0x45, i32_eq = 0x46, i32_ne = 0x47, i32_lt_s = 0x48, i32_lt_u = 0x49, i32_gt_s = 0x4a, i32_gt_u = 0x4b,
  i32_le_s = 0x4c, i32_le_u = 0x4d, i32_ge_s = 0x4e, i32_ge_u = 0x4f,
  i32_clz = 0x67, i32_ctz = 0x68, i32_popcnt = 0x69, i32_add = 0x6a, i32_sub = 0x6b, i32_mul = 0x6c,
  i32_div_s = 0x6d, i32_div_u = 0x6e, i32_rem_s = 0x6f, i32_rem_u = 0x70,
  i32_and = 0x71, i32_or = 0x72, i32_xor = 0x73, i32_shl = 0x74, i32_shr_s = 0x75, i32_shr_u = 0x76,
  i32_rotl = 0x77, i32_rotr = 0x78,
  i32_extend8_s = 0xc0, i32_extend16_s = 0xc1,
  i64_eq = 0x51, i64_ne = 0x52, i64_mul = 0x7e, i64_div_s = 0x7f, i64_div_u = 0x80, i64_rem_s = 0x81, i64_rem_u = 0x82,
  i64_or = 0x84, i64_shl = 0x86, i64_shr_u = 0x88, i64_shr_s = 0x87,
  i32_wrap_i64 = 0xa7, i64_extend_i32_s = 0xac, i64_extend_i32_u = 0xad,
  i64_const = 0x42,
}

/** The value types i32 and i64, and the empty block type (5.3.1, 5.3.5). */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const VOID = 0x40;

/** Appends the unsigned LEB128 encoding of `n` (0 to 2^32 - 1). */
export function uleb(out: number[], n: number): void {
  n >>>= 0;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

/** Appends the signed LEB128 encoding of the 32-bit integer `n`. */
export function sleb(out: number[], n: number): void {
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return; }
    out.push(b | 0x80);
  }
}

/** A function body being written: instructions appended in order, as in the text format's flat form. */
export class Code {
  readonly bytes: number[] = [];

  op(o: Op): this { this.bytes.push(o); return this; }
  i32(n: number): this { this.bytes.push(Op.i32_const); sleb(this.bytes, n); return this; }
  /** An i64 constant in the 32-bit signed range (what this project needs: shift counts). */
  i64(n: number): this { this.bytes.push(Op.i64_const); sleb(this.bytes, n); return this; }
  get(local: number): this { this.bytes.push(Op.local_get); uleb(this.bytes, local); return this; }
  set(local: number): this { this.bytes.push(Op.local_set); uleb(this.bytes, local); return this; }
  tee(local: number): this { this.bytes.push(Op.local_tee); uleb(this.bytes, local); return this; }
  call(func: number): this { this.bytes.push(Op.call); uleb(this.bytes, func); return this; }
  /** A call through table 0 of a function of type `type` (ModuleBuilder.type), its index on top of the arguments. */
  callIndirect(type: number): this { this.bytes.push(Op.call_indirect); uleb(this.bytes, type); this.bytes.push(0x00); return this; }
  /** A load or store with its memarg: alignment as log2 of bytes (a hint), and a constant offset added to the address. */
  mem(o: Op, offset: number, align = 0): this { this.bytes.push(o); uleb(this.bytes, align); uleb(this.bytes, offset); return this; }
  /** `block`, `loop` or `if` with the block type (VOID or I32). */
  begin(o: Op.block | Op.loop | Op.if, type = VOID): this { this.bytes.push(o, type); return this; }
  br(depth: number): this { this.bytes.push(Op.br); uleb(this.bytes, depth); return this; }
  brIf(depth: number): this { this.bytes.push(Op.br_if); uleb(this.bytes, depth); return this; }
  brTable(depths: readonly number[], otherwise: number): this {
    this.bytes.push(Op.br_table);
    uleb(this.bytes, depths.length);
    for (const d of depths) uleb(this.bytes, d);
    uleb(this.bytes, otherwise);
    return this;
  }
  append(other: Code): this { for (const b of other.bytes) this.bytes.push(b); return this; }
}

const END: readonly number[] = [Op.end];

interface FuncDef { type: number; locals: number; locals64: number; code: Code; exportName: string | null }

/**
 * A module: function types, imported functions (module "i"), an imported memory
 * ("i"."m") and an imported table of functions ("i"."t", or a name of its own), each optional, functions and
 * their exports. Imported functions take the indices from 0, then the module's own, in
 * the order they are added.
 */
export class ModuleBuilder {
  private readonly types: string[] = [];
  private readonly imports: { name: string; type: number }[] = [];
  private readonly funcs: FuncDef[] = [];
  private memoryPages = -1;
  private table: string | null = null;

  /** The index of the function type (i32 params) -> (i32 results), added once. */
  type(params: number, results: number): number {
    const key = `${params}:${results}`;
    let i = this.types.indexOf(key);
    if (i < 0) { i = this.types.length; this.types.push(key); }
    return i;
  }

  /** Imports `name` from module "i"; returns its function index. All imports come before any function. */
  importFunc(name: string, params: number, results: number): number {
    if (this.funcs.length > 0) throw new Error('ModuleBuilder: imports must come before functions');
    this.imports.push({ name, type: this.type(params, results) });
    return this.imports.length - 1;
  }

  /** Imports the memory "i"."m", of at least `pages` 64 KiB pages. */
  importMemory(pages: number): void {
    this.memoryPages = pages;
  }

  /** Imports the table of functions "i".`name` (any size), which call_indirect goes through. */
  importTable(name = 't'): void {
    this.table = name;
  }

  /** Adds a function with `locals` i32 locals after its parameters, then `locals64` i64 ones; returns its index. */
  func(params: number, results: number, locals: number, code: Code, exportName: string | null = null, locals64 = 0): number {
    this.funcs.push({ type: this.type(params, results), locals, locals64, code, exportName });
    return this.imports.length + this.funcs.length - 1;
  }

  /**
   * The module's bytes. Assembled from the pieces without copying a function's code more
   * than once (into the result): a block's module is made for every block translated.
   */
  build(): Uint8Array {
    const chunks: (readonly number[])[] = [[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]];
    const section = (id: number, ...parts: (readonly number[])[]): void => {
      let n = 0;
      for (const p of parts) n += p.length;
      const head = [id];
      uleb(head, n);
      chunks.push(head, ...parts);
    };
    const name = (s: string, to: number[]): void => {
      uleb(to, s.length);
      for (let i = 0; i < s.length; i++) to.push(s.charCodeAt(i));
    };
    const types: number[] = [];
    uleb(types, this.types.length);
    for (const t of this.types) {
      const [p, r] = t.split(':').map(Number);
      types.push(0x60);
      uleb(types, p);
      for (let i = 0; i < p; i++) types.push(I32);
      uleb(types, r);
      for (let i = 0; i < r; i++) types.push(I32);
    }
    section(1, types);
    const imports: number[] = [];
    uleb(imports, this.imports.length + (this.memoryPages >= 0 ? 1 : 0) + (this.table ? 1 : 0));
    for (const im of this.imports) {
      name('i', imports);
      name(im.name, imports);
      imports.push(0x00);
      uleb(imports, im.type);
    }
    if (this.memoryPages >= 0) {
      name('i', imports);
      name('m', imports);
      imports.push(0x02, 0x00);
      uleb(imports, this.memoryPages);
    }
    if (this.table !== null) {
      name('i', imports);
      name(this.table, imports);
      imports.push(0x01, 0x70, 0x00, 0x00); // a table of funcref, at least 0 long
    }
    section(2, imports);
    const funcs: number[] = [];
    uleb(funcs, this.funcs.length);
    for (const f of this.funcs) uleb(funcs, f.type);
    section(3, funcs);
    const exportSec: number[] = [];
    const exported = this.funcs.map((f, i) => ({ f, i })).filter((x) => x.f.exportName !== null);
    uleb(exportSec, exported.length);
    for (const { f, i } of exported) {
      name(f.exportName!, exportSec);
      exportSec.push(0x00);
      uleb(exportSec, this.imports.length + i);
    }
    section(7, exportSec);
    const code: (readonly number[])[] = [];
    const count: number[] = [];
    uleb(count, this.funcs.length);
    code.push(count);
    for (const f of this.funcs) {
      const locals: number[] = [];
      const groups: [number, number][] = [];
      if (f.locals > 0) groups.push([f.locals, I32]);
      if (f.locals64 > 0) groups.push([f.locals64, I64]);
      uleb(locals, groups.length);
      for (const [n, t] of groups) { uleb(locals, n); locals.push(t); }
      const size: number[] = [];
      uleb(size, locals.length + f.code.bytes.length + 1);
      code.push(size, locals, f.code.bytes, END);
    }
    section(10, ...code);
    let total = 0;
    for (const c of chunks) total += c.length;
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return out;
  }
}
