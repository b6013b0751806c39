/**
 * The WebAssembly encoder: its LEB128 against the specification's examples and
 * boundaries, and modules it builds run by the host's WebAssembly engine, their
 * results computed independently in JavaScript.
 */
import { Code, ModuleBuilder, Op, I32, sleb, uleb } from './wasm';

function instantiate(b: ModuleBuilder, imports: Record<string, unknown> = {}): WebAssembly.Exports {
  return new WebAssembly.Instance(new WebAssembly.Module(b.build()), { i: imports as WebAssembly.ModuleImports }).exports;
}

describe('LEB128', () => {
  const enc = (f: (o: number[], n: number) => void, n: number) => { const o: number[] = []; f(o, n); return o; };
  it('unsigned: one byte to 127, then seven bits a byte, up to 2^32 - 1', () => {
    expect(enc(uleb, 0)).toEqual([0]);
    expect(enc(uleb, 127)).toEqual([0x7f]);
    expect(enc(uleb, 128)).toEqual([0x80, 0x01]);
    expect(enc(uleb, 624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(enc(uleb, 0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
  });
  it('signed: the sign in bit 6 of the last byte', () => {
    expect(enc(sleb, 0)).toEqual([0]);
    expect(enc(sleb, 63)).toEqual([0x3f]);
    expect(enc(sleb, 64)).toEqual([0xc0, 0x00]);
    expect(enc(sleb, -1)).toEqual([0x7f]);
    expect(enc(sleb, -64)).toEqual([0x40]);
    expect(enc(sleb, -65)).toEqual([0xbf, 0x7f]);
    expect(enc(sleb, -123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(enc(sleb, 0x7fffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x07]);
    expect(enc(sleb, -0x80000000)).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
  });
});

describe('ModuleBuilder', () => {
  it('builds a module the host validates, whose functions compute what JavaScript does', () => {
    const b = new ModuleBuilder();
    // f(x, y) = ((x + y) * 3) rotl 5 ^ -123456, and every i32 constant boundary.
    b.func(2, 1, 0, new Code().get(0).get(1).op(Op.i32_add).i32(3).op(Op.i32_mul).i32(5).op(Op.i32_rotl).i32(-123456).op(Op.i32_xor), 'f');
    b.func(0, 1, 0, new Code().i32(-0x80000000).i32(0x7fffffff).op(Op.i32_xor), 'k');
    const x = instantiate(b) as { f: (a: number, b: number) => number; k: () => number };
    const rotl = (v: number, n: number) => ((v << n) | (v >>> (32 - n))) | 0;
    for (const [p, q] of [[1, 2], [0x7fffffff, 1], [-5, 3], [0x12345678, -0x789abcde]]) {
      expect(x.f(p, q)).toBe(rotl(Math.imul((p + q) | 0, 3), 5) ^ -123456);
    }
    expect(x.k()).toBe(-1);
  });

  it('memory: loads and stores of every width, signed and unsigned, at an offset, on an imported memory', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const b = new ModuleBuilder();
    b.importMemory(1);
    const c = new Code();
    c.get(0).get(1).mem(Op.i32_store, 16, 2); // [16 + a] = v
    c.get(0).mem(Op.i32_load8_s, 16).get(0).mem(Op.i32_load16_u, 18).op(Op.i32_add);
    c.get(0).get(1).mem(Op.i32_store8, 100).get(0).get(1).mem(Op.i32_store16, 200);
    b.func(2, 1, 0, c, 'f');
    const x = instantiate(b, { m: memory }) as { f: (a: number, v: number) => number };
    const view = new DataView(memory.buffer);
    expect(x.f(8, -0x12345680)).toBe((-0x80) + 0xedcb);
    expect(view.getInt32(24, true)).toBe(-0x12345680);
    expect(view.getUint8(108)).toBe(0x80);
    expect(view.getUint16(208, true)).toBe(0xa980);
  });

  it('control: a loop with br_if, if/else with a result, and br_table as a switch', () => {
    const b = new ModuleBuilder();
    // sum(n) = 0 + 1 + ... + (n - 1), locals: 1 = i, 2 = s.
    const loop = new Code();
    loop.begin(Op.block).begin(Op.loop);
    loop.get(1).get(0).op(Op.i32_ge_u).brIf(1);
    loop.get(2).get(1).op(Op.i32_add).set(2);
    loop.get(1).i32(1).op(Op.i32_add).set(1).br(0);
    loop.op(Op.end).op(Op.end).get(2);
    b.func(1, 1, 2, loop, 'sum');
    const choose = new Code().get(0).begin(Op.if, I32).i32(10).op(Op.else).i32(20).op(Op.end);
    b.func(1, 1, 0, choose, 'choose');
    // sw(n): 0 -> 100, 1 -> 101, else -> 102, by br_table out of nested blocks.
    const sw = new Code();
    sw.begin(Op.block).begin(Op.block).begin(Op.block).get(0).brTable([0, 1], 2).op(Op.end);
    sw.i32(100).op(Op.return).op(Op.end).i32(101).op(Op.return).op(Op.end).i32(102);
    b.func(1, 1, 0, sw, 'sw');
    const x = instantiate(b) as { sum: (n: number) => number; choose: (n: number) => number; sw: (n: number) => number };
    expect(x.sum(100)).toBe(4950);
    expect(x.sum(0)).toBe(0);
    expect([x.choose(1), x.choose(0)]).toEqual([10, 20]);
    expect([x.sw(0), x.sw(1), x.sw(2), x.sw(-1)]).toEqual([100, 101, 102, 102]);
  });

  it('imports: calls JavaScript with arguments, uses its result, and lets its exceptions through', () => {
    const b = new ModuleBuilder();
    const add = b.importFunc('add', 2, 1);
    const fail = b.importFunc('fail', 1, 0);
    b.func(1, 1, 0, new Code().get(0).i32(7).call(add).i32(2).op(Op.i32_mul), 'f');
    b.func(1, 0, 0, new Code().get(0).call(fail), 'g');
    const seen: number[] = [];
    const x = instantiate(b, {
      add: (p: number, q: number) => { seen.push(p, q); return p + q; },
      fail: (p: number) => { throw new RangeError(`fault ${p}`); },
    }) as { f: (n: number) => number; g: (n: number) => void };
    expect(x.f(5)).toBe(24);
    expect(seen).toEqual([5, 7]);
    expect(() => x.g(13)).toThrow(new RangeError('fault 13'));
  });

  it('i64 locals and a 32 x 32 -> 64-bit multiply, its halves as i32', () => {
    const b = new ModuleBuilder();
    // lo(a, b) and hi(a, b) of the unsigned product; hs(a, b): the high half of the signed one.
    const mul = (ext: Op) => new Code().get(0).op(ext).get(1).op(ext).op(Op.i64_mul).set(2);
    b.func(2, 1, 0, mul(Op.i64_extend_i32_u).get(2).op(Op.i32_wrap_i64), 'lo', 1);
    b.func(2, 1, 0, mul(Op.i64_extend_i32_u).get(2).i64(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64), 'hi', 1);
    b.func(2, 1, 0, mul(Op.i64_extend_i32_s).get(2).i64(32).op(Op.i64_shr_s).op(Op.i32_wrap_i64), 'hs', 1);
    const x = instantiate(b) as { lo: (a: number, b: number) => number; hi: (a: number, b: number) => number; hs: (a: number, b: number) => number };
    for (const [p, q] of [[0xffffffff, 0xffffffff], [0x12345678, 0x9abcdef0], [-3, 7], [0x80000000, 2]]) {
      const u = BigInt(p >>> 0) * BigInt(q >>> 0), s = BigInt(p | 0) * BigInt(q | 0);
      expect(x.lo(p, q)).toBe(Number(BigInt.asIntN(32, u)));
      expect(x.hi(p, q)).toBe(Number(BigInt.asIntN(32, u >> 32n)));
      expect(x.hs(p, q)).toBe(Number(BigInt.asIntN(32, s >> 32n)));
    }
  });

  it('a table: call_indirect reaches the function at an index, set from another module, and traps on an empty entry', () => {
    const table = new WebAssembly.Table({ element: 'anyfunc', initial: 4 });
    const callee = (k: number) => {
      const b = new ModuleBuilder();
      b.func(1, 1, 0, new Code().get(0).i32(k).op(Op.i32_mul), 'f');
      return instantiate(b).f as (n: number) => number;
    };
    table.set(1, callee(3));
    table.set(2, callee(5));
    const b = new ModuleBuilder();
    b.importTable();
    b.func(2, 1, 0, new Code().get(1).get(0).callIndirect(b.type(1, 1)), 'd');
    const d = new WebAssembly.Instance(new WebAssembly.Module(b.build()), { i: { t: table } }).exports.d as (i: number, n: number) => number;
    expect([d(1, 7), d(2, 7)]).toEqual([21, 35]);
    table.set(2, null);
    expect(() => d(2, 7)).toThrow();
    expect(() => d(9, 7)).toThrow(); // past the table's end
  });

  it('refuses an import added after a function (the indices would shift)', () => {
    const b = new ModuleBuilder();
    b.func(0, 0, 0, new Code());
    expect(() => b.importFunc('late', 0, 0)).toThrow(/before functions/);
  });
});
