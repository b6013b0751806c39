/**
 * Seeded x87 cases for the differential test of cpu/f80.ts, and how our library answers
 * each one. A case is an instruction (`OPS`), a control word, ST(0) = a, ST(1) = b (80-bit
 * values) and a 10-byte memory operand; probe.c runs the same on the reference.
 */
import seedrandom from 'seedrandom';
import { F80 } from '../../cpu/f80';

/** Opcode numbers shared with probe.c. */
export const OPS = {
  fadd: 0, fsub: 1, fmul: 2, fdiv: 3, fsqrt: 4, fucom: 5, fcom: 6, frndint: 7,
  fst32: 8, fst64: 9, fist16: 10, fist32: 11, fistp64: 12, fld32: 13, fld64: 14, fild32: 15, fild64: 16,
  fxam: 17, fld1: 18, fldl2t: 19, fldl2e: 20, fldpi: 21, fldlg2: 22, fldln2: 23, fldz: 24,
  fscale: 25, fxtract: 26, fprem: 27, fprem1: 28, fbld: 29, fbstp: 30,
  fsin: 31, fcos: 32, fptan: 33, fpatan: 34, f2xm1: 35, fyl2x: 36, fyl2xp1: 37, fsincos: 38, fisttp64: 39,
} as const;
export type OpName = keyof typeof OPS;

/** An 80-bit value: significand low and high words, sign<<15 | exponent. */
export type X = [number, number, number];

export interface Case { op: OpName; cw: number; a: X; b: X; m: number[] /* 10 bytes */; why: string }

export const CASE_BYTES = 36, RESULT_BYTES = 32;

export function encode(cases: Case[]): Buffer {
  const buf = Buffer.alloc(cases.length * CASE_BYTES);
  cases.forEach((c, i) => {
    const at = i * CASE_BYTES;
    buf.writeUInt16LE(OPS[c.op], at); buf.writeUInt16LE(c.cw, at + 2);
    putX(buf, at + 4, c.a); putX(buf, at + 14, c.b);
    for (let k = 0; k < 10; k++) buf[at + 24 + k] = c.m[k] ?? 0;
  });
  return buf;
}

function putX(buf: Buffer, at: number, x: X): void {
  buf.writeUInt32LE(x[0] >>> 0, at); buf.writeUInt32LE(x[1] >>> 0, at + 4); buf.writeUInt16LE(x[2] & 0xffff, at + 8);
}

/** What a result record holds (ours or the reference's). */
export interface Result { s0: X; s1: X; sw: number; m: number[] }

export function decode(buf: Buffer, i: number): Result {
  const at = i * RESULT_BYTES;
  const x = (o: number): X => [buf.readUInt32LE(at + o), buf.readUInt32LE(at + o + 4), buf.readUInt16LE(at + o + 8)];
  return { s0: x(0), s1: x(10), sw: buf.readUInt16LE(at + 20), m: [...buf.subarray(at + 22, at + 32)] };
}

// ------------------------------------------------------------------ generation

export class Gen {
  readonly rng: seedrandom.PRNG;
  constructor(seed: string) { this.rng = seedrandom(seed); }
  int(n: number): number { return Math.floor(this.rng() * n); }
  u32(): number { return Math.floor(this.rng() * 4294967296) >>> 0; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }

  /** A 64-bit significand (bit 63 set): random, runs of ones and zeros, short ones. */
  sig(): [number, number] {
    const r = this.rng();
    if (r < 0.3) return [this.u32(), (this.u32() | 0x80000000) >>> 0];
    if (r < 0.6) {
      // runs: start all ones or zeros, flip at a few random positions
      let h = this.rng() < 0.5 ? 0xffffffff : 0, l = h;
      const flips = 1 + this.int(4);
      for (let f = 0; f < flips; f++) {
        const at = this.int(64);
        if (at >= 32) { const m = at === 63 ? 0xffffffff : ((1 << (at - 31)) - 1) >>> 0; h = (h ^ (~m >>> 0)) >>> 0; }
        else { const m = ((1 << (at + 1)) - 1) >>> 0 || 0xffffffff; l = (l ^ (~m >>> 0)) >>> 0; h = (~h) >>> 0; }
      }
      return [l >>> 0, (h | 0x80000000) >>> 0];
    }
    if (r < 0.85) {
      // k significant bits, maybe plus one low bit (halfway and just-above cases)
      const k = this.pick([1, 2, 3, 23, 24, 25, 26, 30, 52, 53, 54, 55, 63, 64]);
      let h = (this.u32() | 0x80000000) >>> 0, l = this.u32();
      if (k <= 32) { h = k === 32 ? h : (h & ~((2 ** (32 - k)) - 1)) >>> 0; l = 0; }
      else l = k === 64 ? l : (l & ~((2 ** (64 - k)) - 1)) >>> 0;
      if (this.rng() < 0.3) { const at = this.int(64); if (at >= 32) h = (h | (1 << (at - 32))) >>> 0; else l = (l | (1 << at)) >>> 0; }
      return [l >>> 0, (h | 0x80000000) >>> 0];
    }
    return this.pick([[0, 0x80000000], [0xffffffff, 0xffffffff], [1, 0x80000000], [0, 0xc0000000], [0xfffff800, 0xffffffff], [0, 0xffffff00], [0x400, 0x80000000], [0, 0x80000080]] as [number, number][]);
  }

  normal(exp: number): X {
    const [l, h] = this.sig();
    return [l, h, ((this.rng() < 0.5 ? 1 : 0) << 15) | Math.max(1, Math.min(0x7ffe, exp))];
  }

  special(): X {
    const s = (this.rng() < 0.5 ? 1 : 0) << 15;
    switch (this.int(13)) {
      case 0: return [0, 0, s];
      case 1: return [0, 0x80000000, s | 0x7fff];
      case 2: return [this.u32(), (this.u32() | 0xc0000000) >>> 0, s | 0x7fff]; // QNaN
      case 3: return [this.u32() | 1, ((this.u32() & 0x3fffffff) | 0x80000000) >>> 0, s | 0x7fff]; // SNaN
      case 4: return [0, 0xc0000000, 0xffff]; // indefinite
      case 5: return [this.u32(), this.u32() & 0x7fffffff, s]; // denormal
      case 6: return [this.u32(), (this.u32() | 0x80000000) >>> 0, s]; // pseudo-denormal
      case 7: return [this.u32(), this.u32() & 0x7fffffff, s | (1 + this.int(0x7ffe))]; // unnormal
      case 8: return [0, 0, s | 0x7fff]; // pseudo-infinity
      case 9: return [this.u32() | 1, this.u32() & 0x7fffffff, s | 0x7fff]; // pseudo-NaN
      case 10: return [0, 0x80000000, s | 1]; // smallest normal
      case 11: return [0xffffffff, 0xffffffff, s | 0x7ffe]; // largest
      default: return [0xffffffff, 0x7fffffff, s]; // largest denormal
    }
  }

  /** Any operand: mostly normals near 1, some anywhere, some at the range ends, some special. */
  any(): X {
    const r = this.rng();
    if (r < 0.45) return this.normal(0x3fff + this.int(130) - 65);
    if (r < 0.6) return this.normal(1 + this.int(0x7ffe));
    if (r < 0.7) return this.normal(this.pick([1, 2, 3, 64, 65, 0x7ffe, 0x7ffd, 0x7fbe, 0x3fff - 16382 + 63]));
    return this.special();
  }

  /** A control word: all four rounding modes, three precisions, mostly masked. */
  cw(unmaskedOk: boolean): number {
    const rc = this.int(4), pc = this.pick([0, 2, 3, 3]);
    let masks = 0x3f;
    if (unmaskedOk && this.rng() < 0.15) masks &= ~this.pick([IE_BIT, 4, 8, 16, 32, 8 | 16 | 32]);
    return 0x1040 | (rc << 10) | (pc << 8) | masks;
  }
}
const IE_BIT = 1, PE_BIT = 32;

/** Builds the cases: `n` per instruction of the arithmetic group, fewer elsewhere. */
export function buildCases(seed: string, n: number): Case[] {
  const g = new Gen(seed);
  const out: Case[] = [];
  const none: number[] = new Array(10).fill(0);
  const binary = (op: OpName) => {
    for (let i = 0; i < n; i++) {
      const a = g.any();
      let b: X;
      const r = g.rng();
      const ea = a[2] & 0x7fff;
      if (r < 0.5 && ea > 0 && ea < 0x7fff) {
        // b near a in exponent (add/sub alignment, carries, cancellation)
        b = g.normal(ea - g.int(70) + (op === 'fadd' || op === 'fsub' ? 0 : g.int(3) - 1));
        if (op === 'fmul' || op === 'fdiv') b = g.normal(op === 'fmul' ? 0x3fff * 2 - ea + g.int(9) - 4 + g.pick([0, 0, -16383, 16383, 16382 + 60]) : ea + g.int(9) - 4 + g.pick([0, 0, 16383, -16383, -16382 - 60]));
      } else b = g.any();
      if (g.rng() < 0.5 && (op === 'fadd' || op === 'fsub')) b[2] ^= g.int(2) << 15;
      if (g.rng() < 0.05) {
        // two NaNs with equal significands but for the quiet bit or the sign (Table 4-7's ties)
        const h = (g.u32() | 0x80000000) >>> 0, l = g.u32();
        const q = () => (g.rng() < 0.5 ? (h | 0x40000000) >>> 0 : ((h & ~0x40000000) >>> 0) | (l === 0 ? 1 : 0));
        out.push({ op, cw: g.cw(true), a: [l, q(), (g.int(2) << 15) | 0x7fff], b: [l, q(), (g.int(2) << 15) | 0x7fff], m: none, why: 'nan pair' });
      }
      out.push({ op, cw: g.cw(true), a, b, m: none, why: op });
    }
  };
  binary('fadd'); binary('fsub'); binary('fmul'); binary('fdiv');
  for (let i = 0; i < n; i++) out.push({ op: 'fsqrt', cw: g.cw(true), a: i % 4 === 0 ? g.any() : g.normal(0x3fff + g.int(200) - 100), b: [0, 0, 0], m: none, why: 'fsqrt' });
  for (const op of ['fucom', 'fcom'] as OpName[]) {
    for (let i = 0; i < n / 4; i++) {
      const a = g.any();
      const b: X = g.rng() < 0.3 ? [a[0], a[1], a[2] ^ (g.int(2) << 15)] : g.rng() < 0.5 ? g.normal((a[2] & 0x7fff) + g.int(3) - 1) : g.any();
      out.push({ op, cw: g.cw(false), a, b, m: none, why: op });
    }
  }
  const intish = (): X => {
    // values around integers and halves, and near the 16/32/64-bit limits
    const r = g.rng();
    const e = r < 0.5 ? 0x3fff + g.int(20) - 2 : 0x3fff + g.pick([14, 15, 16, 30, 31, 32, 62, 63, 64, -1, -2]);
    return g.normal(e);
  };
  for (let i = 0; i < n / 2; i++) out.push({ op: 'frndint', cw: g.cw(true), a: g.rng() < 0.7 ? intish() : g.any(), b: [0, 0, 0], m: none, why: 'frndint' });
  for (const op of ['fist16', 'fist32', 'fistp64'] as OpName[]) {
    for (let i = 0; i < n / 2; i++) out.push({ op, cw: g.cw(true), a: g.rng() < 0.8 ? intish() : g.any(), b: [0, 0, 0], m: none, why: op });
  }
  // FISTTP (SSE3, not the P6's; toInt's truncate): only run where the host has it
  for (let i = 0; i < n / 4; i++) out.push({ op: 'fisttp64', cw: g.cw(true), a: g.rng() < 0.8 ? intish() : g.any(), b: [0, 0, 0], m: none, why: 'fisttp64' });
  for (const op of ['fst32', 'fst64'] as OpName[]) {
    for (let i = 0; i < n; i++) {
      const lim = op === 'fst32' ? [126, 127, 149, 150, 148] : [1022, 1023, 1074, 1075, 1073];
      const a = g.rng() < 0.5 ? g.normal(0x3fff + g.int(40) - 20) : g.rng() < 0.6 ? g.normal(0x3fff + g.pick(lim) * (g.rng() < 0.5 ? -1 : 1) + g.int(5) - 2) : g.any();
      out.push({ op, cw: g.cw(true), a, b: [0, 0, 0], m: none, why: op });
    }
  }
  const bytes = (k: number) => Array.from({ length: 10 }, (_, j) => (j < k ? g.int(256) : 0));
  for (let i = 0; i < n / 4; i++) {
    const m32 = bytes(4), r = g.rng();
    if (r < 0.3) { m32[3] = (m32[3] & 0x80) | (g.rng() < 0.5 ? 0x7f : 0); m32[2] |= g.rng() < 0.5 ? 0x80 : 0; }
    out.push({ op: 'fld32', cw: g.cw(false), a: g.normal(0x3fff), b: [0, 0, 0], m: m32, why: 'fld32' });
    const m64 = bytes(8);
    if (r < 0.3) { m64[7] = (m64[7] & 0x80) | (g.rng() < 0.5 ? 0x7f : 0); m64[6] |= g.rng() < 0.5 ? 0xf0 : 0; }
    out.push({ op: 'fld64', cw: g.cw(false), a: g.normal(0x3fff), b: [0, 0, 0], m: m64, why: 'fld64' });
    out.push({ op: 'fild32', cw: g.cw(false), a: g.normal(0x3fff), b: [0, 0, 0], m: bytes(r < 0.3 ? 1 : 4), why: 'fild32' });
    const m = bytes(8); if (r < 0.2) m[7] = 0x80, m[6] = 0, m[5] = 0;
    out.push({ op: 'fild64', cw: g.cw(false), a: g.normal(0x3fff), b: [0, 0, 0], m, why: 'fild64' });
    out.push({ op: 'fxam', cw: g.cw(false), a: g.any(), b: [0, 0, 0], m: none, why: 'fxam' });
  }
  for (let i = 0; i < n / 2; i++) {
    const a = g.any();
    const ea = a[2] & 0x7fff;
    const D = g.rng() < 0.7 ? g.int(70) - 3 : g.rng() < 0.5 ? 64 + g.int(200) : g.int(0x7fff) - 0x3fff;
    const b = g.rng() < 0.85 ? g.normal(ea - D) : g.any();
    out.push({ op: 'fprem', cw: g.cw(true), a, b, m: none, why: 'fprem' });
    out.push({ op: 'fprem1', cw: g.cw(true), a: [...a] as X, b: [...b] as X, m: none, why: 'fprem1' });
    const sb: X = g.rng() < 0.8 ? g.normal(0x3fff + g.int(g.rng() < 0.8 ? 17 : 20) - 2) : g.any();
    if (g.rng() < 0.3) sb[2] = (sb[2] & 0x8000) | (0x3fff + 14); // near +-16384: the ends of the range
    out.push({ op: 'fscale', cw: g.cw(true), a: g.any(), b: sb, m: none, why: 'fscale' });
    out.push({ op: 'fxtract', cw: g.cw(true), a: g.any(), b: [0, 0x80000000, 0x3fff], m: none, why: 'fxtract' });
    const bcd = Array.from({ length: 10 }, (_, j) => (j < 9 ? (g.int(10) << 4) | g.int(10) : 0));
    if (g.rng() < 0.3) for (let j = 9 - g.int(9); j < 9; j++) bcd[j] = 0;
    bcd[9] = g.rng() < 0.5 ? 0x80 : 0;
    if (g.rng() < 0.1) bcd[g.int(9)] |= 0xa0 + (g.int(6) << 4) & 0xf0; // a digit above 9
    if (g.rng() < 0.1) bcd[9] |= g.int(128); // bits 0-6 of the sign byte
    out.push({ op: 'fbld', cw: g.cw(false), a: g.normal(0x3fff), b: [0, 0, 0], m: bcd, why: 'fbld' });
    const big = g.rng() < 0.6 ? g.normal(0x3fff + g.int(64) - 2) : g.rng() < 0.3 ? g.normal(0x3fff - 1 - g.int(3)) : g.rng() < 0.5 ? intish() : g.any();
    out.push({ op: 'fbstp', cw: g.cw(true), a: big, b: [0, 0, 0], m: none, why: 'fbstp' });
  }
  // transcendentals: arguments where the silicon is accurate to 1 ulp (no large reduction)
  for (let i = 0; i < n / 4; i++) {
    const small = (): X => (g.rng() < 0.85 ? g.normal(0x3ffe - g.int(g.rng() < 0.8 ? 8 : 80)) : g.rng() < 0.5 ? g.normal(0x3fff + 63 + g.int(4)) : g.special());
    for (const op of ['fsin', 'fcos', 'fptan', 'fsincos', 'f2xm1'] as OpName[]) out.push({ op, cw: g.cw(true), a: small(), b: g.normal(0x3fff), m: none, why: op });
    const pos = (): X => { const x = g.rng() < 0.9 ? g.normal(0x3fff + g.int(80) - 40) : g.special(); if (g.rng() < 0.95) x[2] &= 0x7fff; if (g.rng() < 0.1) { x[0] = 0; x[1] = 0x80000000; } return x; };
    out.push({ op: 'fyl2x', cw: g.cw(true), a: pos(), b: g.rng() < 0.9 ? g.normal(0x3fff + g.int(40) - 20) : g.special(), m: none, why: 'fyl2x' });
    out.push({ op: 'fyl2xp1', cw: g.cw(true), a: g.rng() < 0.9 ? g.normal(0x3ffd - g.int(70)) : g.special(), b: g.rng() < 0.9 ? g.normal(0x3fff + g.int(40) - 20) : g.special(), m: none, why: 'fyl2xp1' });
    out.push({ op: 'fpatan', cw: g.cw(true), a: g.rng() < 0.85 ? g.normal(0x3fff + g.int(80) - 40) : g.special(), b: g.rng() < 0.85 ? g.normal(0x3fff + g.int(80) - 40) : g.special(), m: none, why: 'fpatan' });
  }
  for (const op of ['fld1', 'fldl2t', 'fldl2e', 'fldpi', 'fldlg2', 'fldln2', 'fldz'] as OpName[]) {
    for (let rc = 0; rc < 4; rc++) out.push({ op, cw: 0x037f | (rc << 10), a: [0, 0, 0], b: [0, 0, 0], m: none, why: op });
  }
  return out;
}

// ------------------------------------------------------------------ our side

/**
 * Runs one case through cpu/f80.ts the way the instruction layer would, producing the
 * record probe.c writes (status word: exception flags, ES, condition codes; TOP not
 * modelled). `stored` says whether the instruction writes its destination (false when an
 * unmasked exception suppresses it).
 */
export function ours(f: F80, c: Case): { r: Result; stored: boolean } {
  const bytes = new Uint8Array(10);
  const load = (slot: number, x: X) => { f.v[slot * 3] = x[0] >>> 0; f.v[slot * 3 + 1] = x[1] >>> 0; f.v[slot * 3 + 2] = x[2] & 0xffff; };
  const get = (slot: number): X => [f.v[slot * 3], f.v[slot * 3 + 1], f.v[slot * 3 + 2]];
  f.cw = c.cw; f.flags = 0; f.c1 = false;
  load(8, c.a); load(9, c.b); load(10, c.a);
  let cc = 0; // C3<<3 | C2<<2 | C1<<1 | C0 in SDM order packed as status bits later
  const m = c.m.slice(0, 10);
  const w32 = (x: number) => { m[0] = x & 0xff; m[1] = (x >>> 8) & 0xff; m[2] = (x >>> 16) & 0xff; m[3] = (x >>> 24) & 0xff; };
  const w64 = (lo: number, hi: number) => { w32(lo); m[4] = hi & 0xff; m[5] = (hi >>> 8) & 0xff; m[6] = (hi >>> 16) & 0xff; m[7] = (hi >>> 24) & 0xff; };
  const rd32 = () => (c.m[0] | (c.m[1] << 8) | (c.m[2] << 16) | (c.m[3] << 24)) >>> 0;
  const rd32hi = () => (c.m[4] | (c.m[5] << 8) | (c.m[6] << 16) | (c.m[7] << 24)) >>> 0;
  let s0: X = c.a, s1: X = c.b;
  switch (c.op) {
    case 'fadd': f.add(10, 8, 9); s0 = get(10); break;
    case 'fsub': f.sub(10, 8, 9); s0 = get(10); break;
    case 'fmul': f.mul(10, 8, 9); s0 = get(10); break;
    case 'fdiv': f.div(10, 8, 9); s0 = get(10); break;
    case 'fsqrt': f.sqrt(10, 8); s0 = get(10); break;
    case 'frndint': f.roundInt(10, 8); s0 = get(10); break;
    case 'fucom': case 'fcom': {
      const r = f.compare(8, 9, c.op === 'fucom');
      cc = [0, 1, 8, 13][r];
      break;
    }
    case 'fst32': { const x = f.toF32(8); if (stores(f)) w32(x); break; }
    case 'fst64': f.toF64(8); if (stores(f)) w64(f.outLo, f.outHi); break;
    case 'fist16': f.toInt(8, 16, false); if (stores(f)) { m[0] = f.outLo & 0xff; m[1] = (f.outLo >>> 8) & 0xff; } break;
    case 'fist32': f.toInt(8, 32, false); if (stores(f)) w32(f.outLo); break;
    case 'fistp64': f.toInt(8, 64, false); if (stores(f)) w64(f.outLo, f.outHi); break;
    case 'fisttp64': f.toInt(8, 64, true); if (stores(f)) w64(f.outLo, f.outHi); break;
    case 'fld32': f.fromF32(10, rd32()); s0 = get(10); s1 = c.a; break;
    case 'fld64': f.fromF64(10, rd32(), rd32hi()); s0 = get(10); s1 = c.a; break;
    case 'fild32': f.fromInt32(10, rd32() | 0); s0 = get(10); s1 = c.a; break;
    case 'fild64': f.fromInt64(10, rd32(), rd32hi()); s0 = get(10); s1 = c.a; break;
    case 'fprem': case 'fprem1': cc = f.prem(10, 8, 9, c.op === 'fprem1'); s0 = get(10); break;
    case 'fscale': f.scale(10, 8, 9); s0 = get(10); break;
    case 'fxtract': load(11, c.b); f.xtract(10, 11, 8); if ((f.flags & ~c.cw & 0x3f & ~PE_BIT) === 0) { s0 = get(10); s1 = get(11); } break;
    case 'fbld': { const mb = new Uint8Array(c.m); f.fromBcd(10, mb, 0); s0 = get(10); s1 = c.a; break; }
    case 'fbstp': { const mb = new Uint8Array(c.m); f.toBcd(8, mb, 0); for (let k = 0; k < 10; k++) m[k] = mb[k]; break; }
    case 'fsin': case 'fcos': case 'fptan': case 'fsincos': {
      const ok = c.op === 'fcos' ? f.cos(10, 8) : c.op === 'fsincos' ? f.sin(11, 8) && f.cos(10, 8) : c.op === 'fsin' ? f.sin(10, 8) : f.tan(11, 8);
      if (!ok) { cc = 4; break; }
      if (c.op === 'fsin' || c.op === 'fcos') s0 = get(10);
      else if ((f.flags & ~c.cw & 0x07) === 0) { // unmasked IE, DE or ZE: nothing written
        s1 = get(11);
        // FPTAN pushes 1.0, or the NaN again when the tangent is a NaN
        s0 = c.op === 'fptan' ? ((s1[2] & 0x7fff) === 0x7fff && (s1[1] & 0x7fffffff) !== 0 ? s1 : [0, 0x80000000, 0x3fff]) : get(10);
      }
      break;
    }
    case 'fpatan': f.atan2(10, 9, 8); s0 = get(10); break;
    case 'f2xm1': f.f2xm1(10, 8); s0 = get(10); break;
    case 'fyl2x': f.yl2x(10, 9, 8); s0 = get(10); break;
    case 'fyl2xp1': f.yl2xp1(10, 9, 8); s0 = get(10); break;
    case 'fxam': cc = f.examine(8); if (c.a[2] & 0x8000) cc |= 2; break;
    case 'fld1': case 'fldl2t': case 'fldl2e': case 'fldpi': case 'fldlg2': case 'fldln2': case 'fldz':
      f.setConst(10, OPS[c.op] - OPS.fld1); s0 = get(10); s1 = c.a; break;
    default: throw new Error(`no model for ${c.op}`);
  }
  void bytes;
  if (c.op.startsWith('fld') || c.op.startsWith('fild')) {
    // an unmasked exception on a load leaves the stack as it was (nothing pushed)
    if ((f.flags & ~c.cw & 0x3f & ~PE_BIT) !== 0) { s0 = c.a; s1 = c.b; }
  }
  // cc packs C3<<3 | C2<<2 | C0 (plus C1 at bit 1 for FXAM): place in status word
  const sw = (f.flags & 0x3f) | ((f.flags & ~c.cw & 0x3f) !== 0 ? 0x8080 : 0)
    | ((cc & 1) << 8) | ((cc & 2) ? 0x200 : 0) | ((cc & 4) << 8) | ((cc & 8) << 11)
    | (f.c1 && c.op !== 'fxam' ? 0x200 : 0);
  return { r: { s0, s1, sw, m }, stored: (f.flags & ~c.cw & (1 | 2 | 4 | 8 | 16)) === 0 };
}

function stores(f: F80): boolean {
  return (f.flags & ~f.cw & (1 | 2 | 4 | 8 | 16)) === 0;
}
