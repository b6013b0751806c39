/**
 * Exact 80-bit extended-precision arithmetic for the x87 (SDM vol. 1 ch. 4 and 8,
 * vol. 2's instruction pages); what it decides and how it is checked: cpu/README.md.
 *
 * API CHANGES: none; the API is the one in the brief. Notes for callers:
 * - Numbers above 2^31 passed to a call V8 does not inline are boxed (an allocation):
 *   fromF32/fromF64/fromInt32/fromInt64 accept their words as int32 (`x | 0`) too,
 *   which avoids that. toF32 returns the bits as an unsigned number, as specified.
 * - FSINCOS: call sin() and cos(); FPTAN: tan(), then push 1.0, or the NaN again when
 *   the tangent is a NaN (the silicon does). sin/cos/tan return false for |x| >= 2^63.
 * - FXAM's class comes from examine(); the empty tag is the caller's.
 *
 * Values live in `v` (three words per slot: significand bits 31..0, 63..32, sign<<15 |
 * biased exponent). Arithmetic is done on 32-bit limbs held in numbers (doubles where a
 * limb may carry past 32 bits, always exact below 2^53): no allocation per operation.
 * BigInt appears only in BCD, FPREM/FPREM1 and the transcendentals.
 *
 * Working value: sign `rs`, exponent `re` (biased as the extended format, unbounded),
 * significand `W.r2:r1:r0` (96 bits, bit 95 the integer bit when normalized); anything
 * shifted out below r0 is "jammed" (OR-ed) into r0's bit 0, which keeps rounding exact
 * because every rounding point is at least two bits above it.
 */

export const IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32;
export const SF = 64;

const TWO32 = 4294967296;
const BIAS = 16383;
const WRAP = 24576; // exponent bias adjust on unmasked overflow/underflow (SDM 8.5.4, 8.5.5)

// Operand classes
const K_ZERO = 0, K_NORMAL = 1, K_DENORMAL = 2, K_INF = 3, K_QNAN = 4, K_SNAN = 5, K_UNSUPPORTED = 6;

// Working registers (module scope: plain numbers, no allocation)
let rs = 0, re = 0;
// Unpacked operands
let as = 0, ae = 0;
let bs = 0, be = 0;
/**
 * The 32-bit limbs that cross functions (working significand r2:r1:W.r0, unpacked operand
 * significands, products) live as fields of one object: V8 keeps a double field in a
 * box it updates in place, where a module-level `let` holding a value above 2^31 would
 * get a new heap number on every store (measured: GCs during add/mul without this).
 */
const W = { r2: 0.5, r1: 0.5, r0: 0.5, ah: 0.5, al: 0.5, bh: 0.5, bl: 0.5, nh: 0.5, nl: 0.5, p0: 0.5, p1: 0.5, p2: 0.5, p3: 0.5 };
// Rounding side results
let inexact = false;
// toIntegerMagnitude: the rounded integer reached 2^64
let carried = false;

/** Class of slot i's contents (see K_*). Pseudo-denormals are K_DENORMAL. */
function classify(v: Uint32Array, i: number): number {
  const e = v[i * 3 + 2] & 0x7fff, h = v[i * 3 + 1], l = v[i * 3];
  if (e === 0) return (h | l) === 0 ? K_ZERO : K_DENORMAL;
  if ((h & 0x80000000) === 0) return K_UNSUPPORTED;
  if (e === 0x7fff) {
    if (((h & 0x7fffffff) | l) === 0) return K_INF;
    return (h & 0x40000000) !== 0 ? K_QNAN : K_SNAN;
  }
  return K_NORMAL;
}

/** Normalizes the 64-bit significand W.nh:W.nl (nonzero) in place; returns the left shift. */
function norm64(): number {
  let h = W.nh, l = W.nl, s = 0;
  if (h === 0) { h = l; l = 0; s = 32; }
  const z = Math.clz32(h);
  if (z !== 0) { h = ((h << z) | (l >>> (32 - z))) >>> 0; l = (l << z) >>> 0; }
  W.nh = h >>> 0; W.nl = l >>> 0;
  return s + z;
}

function unpackA(v: Uint32Array, i: number): void {
  const x = v[i * 3 + 2];
  as = x >>> 15; ae = x & 0x7fff; W.ah = v[i * 3 + 1]; W.al = v[i * 3];
  if (ae === 0 && (W.ah | W.al) !== 0) { W.nh = W.ah; W.nl = W.al; const s = norm64(); W.ah = W.nh; W.al = W.nl; ae = 1 - s; }
}
function unpackB(v: Uint32Array, i: number): void {
  const x = v[i * 3 + 2];
  bs = x >>> 15; be = x & 0x7fff; W.bh = v[i * 3 + 1]; W.bl = v[i * 3];
  if (be === 0 && (W.bh | W.bl) !== 0) { W.nh = W.bh; W.nl = W.bl; const s = norm64(); W.bh = W.nh; W.bl = W.nl; be = 1 - s; }
}

/** Shifts r2:r1:W.r0 right by n (>= 0), jamming what falls out into W.r0 bit 0. */
function shrJam(n: number): void {
  if (n <= 0) return;
  let sticky = 0;
  while (n >= 32) {
    sticky |= W.r0; W.r0 = W.r1; W.r1 = W.r2; W.r2 = 0; n -= 32;
    if (n >= 32 && (W.r0 | W.r1) === 0 && W.r2 === 0) break;
  }
  if (n > 0 && n < 32) {
    sticky |= (W.r0 << (32 - n));
    W.r0 = ((W.r0 >>> n) | (W.r1 << (32 - n))) >>> 0;
    W.r1 = ((W.r1 >>> n) | (W.r2 << (32 - n))) >>> 0;
    W.r2 = W.r2 >>> n;
  }
  if (sticky !== 0) W.r0 = (W.r0 | 1) >>> 0;
}

/** Shifts r2:r1:W.r0 left so that bit 95 is set (value nonzero); adjusts re. */
function normLeft(): void {
  while (W.r2 === 0) { W.r2 = W.r1; W.r1 = W.r0; W.r0 = 0; re -= 32; }
  const z = Math.clz32(W.r2);
  if (z !== 0) {
    W.r2 = ((W.r2 << z) | (W.r1 >>> (32 - z))) >>> 0;
    W.r1 = ((W.r1 << z) | (W.r0 >>> (32 - z))) >>> 0;
    W.r0 = (W.r0 << z) >>> 0;
    re -= z;
  }
}

/** Whether rounding r2:r1:W.r0 to p bits (24, 53, 64) increments; sets `inexact`. */
function roundsUp(p: number, rc: number, sign: number): boolean {
  let top: number, half: number, lower: number, lsb: number;
  if (p === 64) { top = W.r0; half = 0x80000000; lower = 0; lsb = W.r1 & 1; }
  else if (p === 53) { top = W.r1 & 0x7ff; half = 0x400; lower = W.r0; lsb = (W.r1 >>> 11) & 1; }
  else { top = W.r2 & 0xff; half = 0x80; lower = W.r1 | W.r0; lsb = (W.r2 >>> 8) & 1; }
  inexact = top !== 0 || lower !== 0;
  if (!inexact) return false;
  switch (rc) {
    case 0: return top > half || (top === half && (lower !== 0 || lsb !== 0));
    case 1: return sign !== 0;
    case 2: return sign === 0;
    default: return false;
  }
}

/** Whether the p kept bits are all ones (so that an increment carries out of bit 63). */
function keptAllOnes(p: number): boolean {
  if (p === 64) return W.r2 === 0xffffffff && W.r1 === 0xffffffff;
  if (p === 53) return W.r2 === 0xffffffff && ((W.r1 | 0x7ff) >>> 0) === 0xffffffff;
  return ((W.r2 | 0xff) >>> 0) === 0xffffffff;
}

/** Adds one unit in the p-th bit and clears the discarded bits (carry out renormalizes). */
function increment(p: number): void {
  if (p === 64) {
    W.r1 = W.r1 + 1;
    if (W.r1 === TWO32) { W.r1 = 0; W.r2 = W.r2 + 1; if (W.r2 === TWO32) { W.r2 = 0x80000000; re++; } }
  } else if (p === 53) {
    W.r1 = ((W.r1 & ~0x7ff) >>> 0) + 0x800;
    if (W.r1 >= TWO32) { W.r1 -= TWO32; W.r2 = W.r2 + 1; if (W.r2 === TWO32) { W.r2 = 0x80000000; re++; } }
  } else {
    W.r2 = ((W.r2 & ~0xff) >>> 0) + 0x100; W.r1 = 0;
    if (W.r2 >= TWO32) { W.r2 = 0x80000000; re++; }
  }
}
function chop(p: number): void {
  if (p === 53) W.r1 = (W.r1 & ~0x7ff) >>> 0;
  else if (p === 24) { W.r2 = (W.r2 & ~0xff) >>> 0; W.r1 = 0; }
  W.r0 = 0;
}

/** Sign-magnitude 64-bit helpers for integers */
const PC_BITS = [24, 64, 53, 64];

export class F80 {
  readonly v = new Uint32Array(16 * 3);
  cw = 0x037f;
  flags = 0;
  c1 = false;
  outLo = 0;
  outHi = 0;

  // ---------------------------------------------------------------- rounding core

  /**
   * Rounds the working value to p bits in the exponent range [emin, emax] (extended
   * bias), with the masked/unmasked overflow and underflow responses. `reg`: the
   * destination is a register (unmasked OE/UE rebias the exponent by 24576); otherwise
   * a memory format (unmasked OE/UE: flag only, the caller does not store). Leaves the
   * result in rs/re/r2:W.r1 with re = emin - 1 for a denormal or zero; returns false when
   * nothing is to be stored.
   */
  private round(p: number, emin: number, emax: number, reg: boolean): boolean {
    const rc = (this.cw >>> 10) & 3;
    const flags0 = this.flags;
    this.c1 = false;
    if (W.r2 === 0 && W.r1 === 0 && W.r0 === 0) { re = emin - 1; return true; }
    if (re < emin) {
      let tiny = true;
      if (re === emin - 1 && keptAllOnes(p) && roundsUp(p, rc, rs)) tiny = false;
      if (tiny) {
        // unmasked: the result rebiased by +24576 when that brings it into range (an
        // FSCALE can go further: then the masked response, as the silicon does)
        if ((this.cw & UE) === 0 && (!reg || re + WRAP >= emin)) {
          this.flags |= UE;
          if (!reg) return false;
          re += WRAP;
          // fall through to normal rounding of the rebiased value
        } else if ((this.cw & UE) === 0) {
          // out of range even rebiased: a signed zero (whatever RC), UE and PE
          this.flags |= UE | PE; W.r2 = 0; W.r1 = 0; W.r0 = 0; re = emin - 1;
          return true;
        } else {
          shrJam(emin - re);
          re = emin - 1;
          const up = roundsUp(p, rc, rs);
          if (inexact) this.flags |= PE | UE;
          if (up) increment(p); else chop(p);
          if (up) this.c1 = true;
          if ((W.r2 & 0x80000000) !== 0) re = emin;
          return true;
        }
      }
    }
    const up = roundsUp(p, rc, rs);
    if (inexact) this.flags |= PE;
    if (up) { increment(p); this.c1 = true; } else chop(p);
    if (re > emax) {
      this.flags |= OE;
      if ((this.cw & OE) === 0 && (!reg || re - WRAP <= emax)) {
        if (!reg) { this.flags = (this.flags & ~PE) | (flags0 & PE); this.c1 = false; return false; }
        re -= WRAP;
        return true;
      }
      this.flags |= PE;
      // out of range even rebiased (FSCALE): a signed infinity whatever RC
      const toInf = (this.cw & OE) === 0 || rc === 0 || (rc === 1 && rs !== 0) || (rc === 2 && rs === 0);
      if (toInf) { re = emax + 1; W.r2 = 0x80000000; W.r1 = 0; this.c1 = true; }
      else {
        re = emax; this.c1 = false;
        if (p === 64) { W.r2 = 0xffffffff; W.r1 = 0xffffffff; }
        else if (p === 53) { W.r2 = 0xffffffff; W.r1 = 0xfffff800; }
        else { W.r2 = 0xffffff00; W.r1 = 0; }
      }
    }
    return true;
  }

  /** Rounds the working value to the precision control and writes it to slot d. */
  private finish(d: number): void {
    const p = PC_BITS[(this.cw >>> 8) & 3];
    if (!this.round(p, 1, 0x7ffe, true)) return;
    this.put(d);
  }

  private put(d: number): void {
    const v = this.v;
    v[d * 3] = W.r1; v[d * 3 + 1] = W.r2; v[d * 3 + 2] = (rs << 15) | (re & 0x7fff);
  }

  private putIndefinite(d: number): void {
    const v = this.v;
    v[d * 3] = 0; v[d * 3 + 1] = 0xc0000000; v[d * 3 + 2] = 0xffff;
  }

  private putZero(d: number, sign: number): void {
    const v = this.v;
    v[d * 3] = 0; v[d * 3 + 1] = 0; v[d * 3 + 2] = sign << 15;
  }

  private putInf(d: number, sign: number): void {
    const v = this.v;
    v[d * 3] = 0; v[d * 3 + 1] = 0x80000000; v[d * 3 + 2] = (sign << 15) | 0x7fff;
  }

  /** Invalid operation: IE, and the QNaN indefinite when IE is masked. */
  private invalid(d: number): void {
    this.flags |= IE;
    if ((this.cw & IE) !== 0) this.putIndefinite(d);
  }

  /** NaN operand(s) of a two-operand op (SDM table 4-7). */
  private nan2(d: number, a: number, b: number, ka: number, kb: number): void {
    const v = this.v;
    if (ka === K_SNAN || kb === K_SNAN) {
      this.flags |= IE;
      if ((this.cw & IE) === 0) return;
    }
    let pick: number;
    if (ka >= K_QNAN && ka <= K_SNAN && kb >= K_QNAN && kb <= K_SNAN) {
      if (ka !== kb) pick = ka === K_QNAN ? a : b;
      else {
        const ha = v[a * 3 + 1] & 0x3fffffff, hb = v[b * 3 + 1] & 0x3fffffff, la = v[a * 3], lb = v[b * 3];
        if (ha !== hb) pick = ha > hb ? a : b;
        else if (la !== lb) pick = la > lb ? a : b;
        else pick = (v[a * 3 + 2] & 0x8000) === 0 ? a : b;
      }
    } else pick = ka === K_QNAN || ka === K_SNAN ? a : b;
    const l = v[pick * 3], h = v[pick * 3 + 1] | 0x40000000, x = v[pick * 3 + 2];
    v[d * 3] = l; v[d * 3 + 1] = h >>> 0; v[d * 3 + 2] = x;
  }

  /** One NaN operand of a one-operand op. */
  private nan1(d: number, a: number, ka: number): void {
    const v = this.v;
    if (ka === K_SNAN) {
      this.flags |= IE;
      if ((this.cw & IE) === 0) return;
    }
    const l = v[a * 3], h = v[a * 3 + 1] | 0x40000000, x = v[a * 3 + 2];
    v[d * 3] = l; v[d * 3 + 1] = h >>> 0; v[d * 3 + 2] = x;
  }

  /**
   * Common screening of two operands: unsupported (IE), NaNs, denormals (DE). Returns
   * true when the op is complete (result written or suppressed).
   */
  private screen2(d: number, a: number, b: number, ka: number, kb: number): boolean {
    if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) { this.invalid(d); return true; }
    if (ka >= K_QNAN || kb >= K_QNAN) { this.nan2(d, a, b, ka, kb); return true; }
    if (ka === K_DENORMAL || kb === K_DENORMAL) {
      this.flags |= DE;
      if ((this.cw & DE) === 0) return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- arithmetic

  add(d: number, a: number, b: number): void { this.c1 = false; this.addsub(d, a, b, 0); }
  sub(d: number, a: number, b: number): void { this.c1 = false; this.addsub(d, a, b, 1); }

  private addsub(d: number, a: number, b: number, neg: number): void {
    const v = this.v;
    const ka = classify(v, a), kb = classify(v, b);
    if (ka > K_DENORMAL || kb > K_DENORMAL || ka === K_DENORMAL || kb === K_DENORMAL) {
      if (this.screen2(d, a, b, ka, kb)) return;
    }
    unpackA(v, a); unpackB(v, b); bs ^= neg;
    if (ka === K_INF || kb === K_INF) {
      if (ka === K_INF && kb === K_INF && as !== bs) { this.invalid(d); return; }
      this.putInf(d, ka === K_INF ? as : bs);
      return;
    }
    const rc = (this.cw >>> 10) & 3;
    if (ka === K_ZERO && kb === K_ZERO) {
      this.putZero(d, as === bs ? as : (rc === 1 ? 1 : 0));
      return;
    }
    if (kb === K_ZERO) { rs = as; re = ae; W.r2 = W.ah; W.r1 = W.al; W.r0 = 0; this.finish(d); return; }
    if (ka === K_ZERO) { rs = bs; re = be; W.r2 = W.bh; W.r1 = W.bl; W.r0 = 0; this.finish(d); return; }
    // x: the operand with the larger exponent (or equal); y shifted right
    let xs: number, xe: number, xh: number, xl: number;
    if (ae > be || (ae === be && (W.ah > W.bh || (W.ah === W.bh && W.al >= W.bl)))) {
      xs = as; xe = ae; xh = W.ah; xl = W.al; rs = bs; W.r2 = W.bh; W.r1 = W.bl; W.r0 = 0; shrJam(ae - be);
    } else {
      xs = bs; xe = be; xh = W.bh; xl = W.bl; rs = as; W.r2 = W.ah; W.r1 = W.al; W.r0 = 0; shrJam(be - ae);
    }
    if (xs === rs) {
      // magnitude add
      let w1 = xl + W.r1, c = 0;
      if (w1 >= TWO32) { w1 -= TWO32; c = 1; }
      let w2 = xh + W.r2 + c;
      re = xe; rs = xs; W.r1 = w1;
      if (w2 >= TWO32) {
        w2 -= TWO32;
        const s = W.r0 & 1;
        W.r0 = (((W.r0 >>> 1) | (W.r1 << 31)) | s) >>> 0;
        W.r1 = ((W.r1 >>> 1) | (w2 << 31)) >>> 0;
        W.r2 = ((w2 >>> 1) | 0x80000000) >>> 0;
        re++;
      } else W.r2 = w2;
    } else {
      // magnitude subtract x - y (x >= y)
      let w0 = 0, bor = 0;
      if (W.r0 !== 0) { w0 = TWO32 - W.r0; bor = 1; }
      let w1 = xl - W.r1 - bor; bor = 0;
      if (w1 < 0) { w1 += TWO32; bor = 1; }
      const w2 = xh - W.r2 - bor;
      rs = xs; re = xe; W.r2 = w2 >>> 0; W.r1 = w1 >>> 0; W.r0 = w0 >>> 0;
      if (W.r2 === 0 && W.r1 === 0 && W.r0 === 0) { this.putZero(d, rc === 1 ? 1 : 0); return; }
      normLeft();
    }
    this.finish(d);
  }

  mul(d: number, a: number, b: number): void {
    this.c1 = false;
    const v = this.v;
    const ka = classify(v, a), kb = classify(v, b);
    if (ka >= K_DENORMAL || kb >= K_DENORMAL) {
      if (this.screen2(d, a, b, ka, kb)) return;
    }
    unpackA(v, a); unpackB(v, b);
    const sign = as ^ bs;
    if (ka === K_INF || kb === K_INF) {
      if (ka === K_ZERO || kb === K_ZERO) { this.invalid(d); return; }
      this.putInf(d, sign); return;
    }
    if (ka === K_ZERO || kb === K_ZERO) { this.putZero(d, sign); return; }
    mul64();
    rs = sign; re = ae + be - BIAS + 1;
    W.r2 = W.p3; W.r1 = W.p2; W.r0 = (W.p1 | (W.p0 !== 0 ? 1 : 0)) >>> 0;
    if ((W.r2 & 0x80000000) === 0) normLeft();
    this.finish(d);
  }

  div(d: number, a: number, b: number): void {
    this.c1 = false;
    const v = this.v;
    const ka = classify(v, a), kb = classify(v, b);
    // a finite dividend over zero is a zero divide and nothing else (no DE for a denormal dividend)
    if (kb === K_ZERO && (ka === K_NORMAL || ka === K_DENORMAL)) {
      this.flags |= ZE;
      if ((this.cw & ZE) !== 0) this.putInf(d, ((v[a * 3 + 2] ^ v[b * 3 + 2]) >>> 15) & 1);
      return;
    }
    if (ka >= K_DENORMAL || kb >= K_DENORMAL) {
      if (this.screen2(d, a, b, ka, kb)) return;
    }
    unpackA(v, a); unpackB(v, b);
    const sign = as ^ bs;
    if (ka === K_INF) {
      if (kb === K_INF) { this.invalid(d); return; }
      this.putInf(d, sign); return;
    }
    if (kb === K_INF) { this.putZero(d, sign); return; }
    if (kb === K_ZERO) {
      if (ka === K_ZERO) { this.invalid(d); return; }
      this.flags |= ZE;
      if ((this.cw & ZE) === 0) return;
      this.putInf(d, sign); return;
    }
    if (ka === K_ZERO) { this.putZero(d, sign); return; }
    rs = sign; re = ae - be + BIAS;
    let rh = W.ah, rl = W.al;
    if (W.ah < W.bh || (W.ah === W.bh && W.al < W.bl)) { rh = W.ah * 2 + (W.al >>> 31); rl = (W.al << 1) >>> 0; re--; }
    let qh = 0, ql = 0;
    for (let i = 0; i < 65; i++) {
      qh = ((qh << 1) | (ql >>> 31)) >>> 0; ql = (ql << 1) >>> 0;
      if (rh > W.bh || (rh === W.bh && rl >= W.bl)) {
        if (rl >= W.bl) { rl -= W.bl; rh -= W.bh; } else { rl = rl + TWO32 - W.bl; rh = rh - W.bh - 1; }
        ql = (ql | 1) >>> 0;
      }
      rh = rh * 2 + (rl >>> 31); rl = (rl << 1) >>> 0;
    }
    // 65 quotient bits in qh:ql (top bit lost from qh is the integer bit at bit 64: rebuild)
    // After 65 shifts the first bit (always 1) left qh; reassemble: q = 1:qh:ql
    W.r2 = ((0x80000000 | (qh >>> 1)) >>> 0);
    W.r1 = (((qh & 1) << 31) | (ql >>> 1)) >>> 0;
    W.r0 = (((ql & 1) << 31) | (rh !== 0 || rl !== 0 ? 1 : 0)) >>> 0;
    this.finish(d);
  }

  sqrt(d: number, a: number): void {
    this.c1 = false;
    const v = this.v;
    const ka = classify(v, a);
    if (ka === K_UNSUPPORTED) { this.invalid(d); return; }
    if (ka === K_QNAN || ka === K_SNAN) { this.nan1(d, a, ka); return; }
    // a negative operand is invalid before it is denormal (the silicon reports IE alone)
    if (ka !== K_ZERO && (v[a * 3 + 2] & 0x8000) !== 0) { this.invalid(d); return; }
    if (ka === K_DENORMAL) { this.flags |= DE; if ((this.cw & DE) === 0) return; }
    unpackA(v, a);
    if (ka === K_ZERO) { this.putZero(d, as); return; }
    if (ka === K_INF) { this.putInf(d, 0); return; }
    const E = ae - BIAS;
    const s = (E & 1) !== 0 ? 66 : 65;
    let rh = 0, rl = 0, qh = 0, ql = 0;
    for (let k = 65; k >= 0; k--) {
      // bits 2k+1, 2k of X = m << s
      const j = 2 * k - s; // m bit index of the low bit of the pair
      let pair = 0;
      if (j + 1 >= 0 && j + 1 < 64) pair |= (j + 1 >= 32 ? (W.ah >>> (j + 1 - 32)) & 1 : (W.al >>> (j + 1)) & 1) << 1;
      if (j >= 0 && j < 64) pair |= j >= 32 ? (W.ah >>> (j - 32)) & 1 : (W.al >>> j) & 1;
      rh = rh * 4 + (rl >>> 30); rl = ((rl << 2) | pair) >>> 0;
      const th = qh * 4 + (ql >>> 30), tl = ((ql << 2) | 1) >>> 0;
      qh = qh * 2 + (ql >>> 31); ql = (ql << 1) >>> 0;
      if (rh > th || (rh === th && rl >= tl)) {
        if (rl >= tl) { rl -= tl; rh -= th; } else { rl = rl + TWO32 - tl; rh = rh - th - 1; }
        ql = (ql | 1) >>> 0;
      }
    }
    // q: 65 bits, qh holds bits 64..32
    rs = 0; re = (E >> 1) + BIAS;
    W.r2 = Math.floor(qh / 2) >>> 0;
    W.r1 = (((qh & 1) << 31) | (ql >>> 1)) >>> 0;
    W.r0 = (((ql & 1) << 31) | (rh !== 0 || rl !== 0 ? 1 : 0)) >>> 0;
    this.finish(d);
  }

  // ---------------------------------------------------------------- compare, classify

  compare(a: number, b: number, quiet: boolean): number {
    const v = this.v;
    const ka = classify(v, a), kb = classify(v, b);
    if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) { this.flags |= IE; return 3; }
    if (ka >= K_QNAN || kb >= K_QNAN) {
      if (!quiet || ka === K_SNAN || kb === K_SNAN) this.flags |= IE;
      return 3;
    }
    if (ka === K_DENORMAL || kb === K_DENORMAL) this.flags |= DE;
    if (ka === K_ZERO && kb === K_ZERO) return 2;
    unpackA(v, a); unpackB(v, b);
    if (ka === K_ZERO) return bs !== 0 ? 0 : 1;
    if (kb === K_ZERO) return as !== 0 ? 1 : 0;
    if (as !== bs) return as !== 0 ? 1 : 0;
    // same sign: compare magnitudes (infinities have the largest exponent)
    let c = 0;
    if (ae !== be) c = ae > be ? 1 : -1;
    else if (W.ah !== W.bh) c = W.ah > W.bh ? 1 : -1;
    else if (W.al !== W.bl) c = W.al > W.bl ? 1 : -1;
    if (c === 0) return 2;
    if (as !== 0) c = -c;
    return c > 0 ? 0 : 1;
  }

  examine(a: number): number {
    switch (classify(this.v, a)) {
      case K_UNSUPPORTED: return 0;
      case K_QNAN: case K_SNAN: return 1;
      case K_NORMAL: return 4;
      case K_INF: return 5;
      case K_ZERO: return 8;
      default: return 12; // denormal: C3=1 C2=1 C0=0
    }
  }

  tag(a: number): number {
    const k = classify(this.v, a);
    return k === K_NORMAL ? 0 : k === K_ZERO ? 1 : 2;
  }

  // ---------------------------------------------------------------- loads

  fromF32(d: number, bits: number): void {
    this.c1 = false;
    const s = bits >>> 31, e = (bits >>> 23) & 0xff, f = bits & 0x7fffff;
    const v = this.v;
    if (e === 0xff) {
      if (f === 0) { this.putInf(d, s); return; }
      let h = (0x80000000 | (f << 8)) >>> 0;
      if ((f & 0x400000) === 0) { this.flags |= IE; h = (h | 0x40000000) >>> 0; }
      v[d * 3] = 0; v[d * 3 + 1] = h; v[d * 3 + 2] = (s << 15) | 0x7fff; return;
    }
    if (e === 0) {
      if (f === 0) { this.putZero(d, s); return; }
      this.flags |= DE;
      const z = Math.clz32(f) - 8; // leading zeros within 24 bits: shift so bit 23 set
      v[d * 3] = 0; v[d * 3 + 1] = (f << (8 + z)) >>> 0; v[d * 3 + 2] = (s << 15) | (BIAS - 126 - z); return;
    }
    v[d * 3] = 0; v[d * 3 + 1] = (0x80000000 | (f << 8)) >>> 0; v[d * 3 + 2] = (s << 15) | (e - 127 + BIAS);
  }

  fromF64(d: number, lo: number, hi: number): void {
    this.c1 = false;
    lo >>>= 0; hi >>>= 0;
    const s = hi >>> 31, e = (hi >>> 20) & 0x7ff, fh = hi & 0xfffff;
    const v = this.v;
    if (e === 0x7ff) {
      if ((fh | lo) === 0) { this.putInf(d, s); return; }
      let h = (0x80000000 | (fh << 11) | (lo >>> 21)) >>> 0;
      if ((fh & 0x80000) === 0) { this.flags |= IE; h = (h | 0x40000000) >>> 0; }
      v[d * 3] = (lo << 11) >>> 0; v[d * 3 + 1] = h; v[d * 3 + 2] = (s << 15) | 0x7fff; return;
    }
    if (e === 0) {
      if ((fh | lo) === 0) { this.putZero(d, s); return; }
      this.flags |= DE;
      // value = f * 2^-1074; f in (fh:lo), 52 bits
      W.nh = fh; W.nl = lo; const sh = norm64();
      // f normalized to bit 63: value = 2^(63 - sh) ... exponent = -1074 + 63 - sh
      v[d * 3] = W.nl; v[d * 3 + 1] = W.nh; v[d * 3 + 2] = (s << 15) | (BIAS - 1074 + 63 - sh); return;
    }
    v[d * 3] = (lo << 11) >>> 0;
    v[d * 3 + 1] = (0x80000000 | (fh << 11) | (lo >>> 21)) >>> 0;
    v[d * 3 + 2] = (s << 15) | (e - 1023 + BIAS);
  }

  fromInt32(d: number, x: number): void {
    this.c1 = false;
    x |= 0;
    if (x === 0) { this.putZero(d, 0); return; }
    const s = x < 0 ? 1 : 0;
    const m = (s ? -x : x) >>> 0;
    const z = Math.clz32(m);
    const v = this.v;
    v[d * 3] = 0; v[d * 3 + 1] = (m << z) >>> 0; v[d * 3 + 2] = (s << 15) | (BIAS + 31 - z);
  }

  fromInt64(d: number, lo: number, hi: number): void {
    this.c1 = false;
    lo >>>= 0; hi >>>= 0;
    const s = hi >>> 31;
    if (s) { lo = (~lo + 1) >>> 0; hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0; }
    if ((hi | lo) === 0) { this.putZero(d, 0); return; }
    W.nh = hi; W.nl = lo; const sh = norm64();
    const v = this.v;
    v[d * 3] = W.nl; v[d * 3 + 1] = W.nh; v[d * 3 + 2] = (s << 15) | (BIAS + 63 - sh);
  }

  fromF80(d: number, bytes: Uint8Array, off: number): void {
    this.c1 = false;
    const v = this.v;
    v[d * 3] = (bytes[off] | (bytes[off + 1] << 8) | (bytes[off + 2] << 16) | (bytes[off + 3] << 24)) >>> 0;
    v[d * 3 + 1] = (bytes[off + 4] | (bytes[off + 5] << 8) | (bytes[off + 6] << 16) | (bytes[off + 7] << 24)) >>> 0;
    v[d * 3 + 2] = bytes[off + 8] | (bytes[off + 9] << 8);
  }

  toF80(a: number, bytes: Uint8Array, off: number): void {
    this.c1 = false;
    const v = this.v, l = v[a * 3], h = v[a * 3 + 1], x = v[a * 3 + 2];
    bytes[off] = l; bytes[off + 1] = l >>> 8; bytes[off + 2] = l >>> 16; bytes[off + 3] = l >>> 24;
    bytes[off + 4] = h; bytes[off + 5] = h >>> 8; bytes[off + 6] = h >>> 16; bytes[off + 7] = h >>> 24;
    bytes[off + 8] = x; bytes[off + 9] = x >>> 8;
  }

  // ---------------------------------------------------------------- stores

  /** Screens a store's source: returns the class, having handled NaN/unsupported flags. */
  toF32(a: number): number {
    this.c1 = false;
    const v = this.v;
    const k = classify(v, a);
    const x = v[a * 3 + 2], s = x >>> 15;
    switch (k) {
      case K_ZERO: return (s << 31) >>> 0;
      case K_INF: return ((s << 31) | 0x7f800000) >>> 0;
      case K_UNSUPPORTED: this.flags |= IE; return 0xffc00000;
      case K_SNAN: case K_QNAN:
        if (k === K_SNAN) this.flags |= IE;
        return ((s << 31) | 0x7fc00000 | ((v[a * 3 + 1] >>> 8) & 0x3fffff)) >>> 0;
    }
    // stores do not report DE for a denormal source (FST lists no #D)
    unpackA(v, a);
    rs = as; re = ae; W.r2 = W.ah; W.r1 = W.al; W.r0 = 0;
    if (!this.round(24, BIAS - 126, BIAS + 127, false)) return 0;
    const field = re - (BIAS - 127);
    if (field >= 0xff) return ((rs << 31) | 0x7f800000) >>> 0;
    return ((rs << 31) | (field << 23) | ((W.r2 >>> 8) & 0x7fffff)) >>> 0;
  }

  toF64(a: number): void {
    this.c1 = false;
    const v = this.v;
    const k = classify(v, a);
    const x = v[a * 3 + 2], s = x >>> 15;
    this.outLo = 0;
    switch (k) {
      case K_ZERO: this.outHi = (s << 31) >>> 0; return;
      case K_INF: this.outHi = ((s << 31) | 0x7ff00000) >>> 0; return;
      case K_UNSUPPORTED: this.flags |= IE; this.outHi = 0xfff80000; return;
      case K_SNAN: case K_QNAN: {
        if (k === K_SNAN) this.flags |= IE;
        const h = v[a * 3 + 1], l = v[a * 3];
        this.outHi = ((s << 31) | 0x7ff80000 | ((h >>> 11) & 0x7ffff)) >>> 0;
        this.outLo = ((h << 21) | (l >>> 11)) >>> 0;
        return;
      }
    }
    unpackA(v, a);
    rs = as; re = ae; W.r2 = W.ah; W.r1 = W.al; W.r0 = 0;
    if (!this.round(53, BIAS - 1022, BIAS + 1023, false)) return;
    const field = re - (BIAS - 1023);
    if (field >= 0x7ff) { this.outHi = ((rs << 31) | 0x7ff00000) >>> 0; return; }
    this.outHi = ((rs << 31) | (field << 20) | ((W.r2 >>> 11) & 0xfffff)) >>> 0;
    this.outLo = ((W.r2 << 21) | (W.r1 >>> 11)) >>> 0;
  }

  /**
   * Rounds slot a to an integer per RC (or toward zero with `truncate`), into the working
   * registers: r2:W.r1 the magnitude, rs the sign; flags PE and c1. Returns the class, or
   * -1 after a NaN/infinity/unsupported operand (IE set).
   */
  private toIntegerMagnitude(a: number, truncate: boolean): number {
    const v = this.v;
    const k = classify(v, a);
    if (k >= K_INF) { this.flags |= IE; return -1; }
    unpackA(v, a);
    rs = as; W.r2 = W.ah; W.r1 = W.al; W.r0 = 0; re = ae; carried = false;
    if (k === K_ZERO) return k;
    const E = ae - BIAS;
    if (E >= 63) return k; // already an integer (maybe too large)
    shrJam(63 - E);
    const up = roundsUp(64, truncate ? 3 : (this.cw >>> 10) & 3, rs);
    if (inexact) this.flags |= PE;
    if (up) {
      this.c1 = true;
      W.r1 = W.r1 + 1;
      if (W.r1 === TWO32) { W.r1 = 0; W.r2 = W.r2 + 1; if (W.r2 === TWO32) { W.r2 = 0; carried = true; /* 2^64: out of range */ } }
    }
    W.r0 = 0;
    return k;
  }

  toInt(a: number, bits: 16 | 32 | 64, truncate: boolean): void {
    this.c1 = false;
    const k = this.toIntegerMagnitude(a, truncate);
    let ok = k >= 0;
    if (ok && k !== K_ZERO) {
      const E = re - BIAS;
      if (carried || E > 63) ok = false;
      else if (bits === 64) ok = W.r2 < 0x80000000 || (rs === 1 && W.r2 === 0x80000000 && W.r1 === 0);
      else if (bits === 32) ok = W.r2 === 0 && (W.r1 < 0x80000000 || (rs === 1 && W.r1 === 0x80000000));
      else ok = W.r2 === 0 && (W.r1 < 0x8000 || (rs === 1 && W.r1 === 0x8000));
    }
    if (!ok) {
      if (k >= 0) { this.flags = (this.flags | IE) & ~PE; this.c1 = false; }
      this.outHi = bits === 64 ? 0x80000000 : 0;
      this.outLo = bits === 64 ? 0 : bits === 32 ? 0x80000000 : 0x8000;
      return;
    }
    if (k === K_ZERO) { this.outLo = 0; this.outHi = 0; return; }
    let lo = W.r1, hi = W.r2;
    if (rs) { lo = (~lo + 1) >>> 0; hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0; }
    if (bits === 16) { this.outLo = lo & 0xffff; this.outHi = 0; }
    else if (bits === 32) { this.outLo = lo >>> 0; this.outHi = 0; }
    else { this.outLo = lo >>> 0; this.outHi = hi >>> 0; }
  }

  roundInt(d: number, a: number): void {
    this.c1 = false;
    const v = this.v;
    const k = classify(v, a);
    if (k === K_UNSUPPORTED) { this.invalid(d); return; }
    if (k === K_QNAN || k === K_SNAN) { this.nan1(d, a, k); return; }
    if (k === K_DENORMAL) { this.flags |= DE; if ((this.cw & DE) === 0) return; }
    if (k === K_INF || k === K_ZERO || (v[a * 3 + 2] & 0x7fff) - BIAS >= 63) { this.copy(d, a); return; }
    this.toIntegerMagnitude(a, false);
    if (carried) { rs = as; re = BIAS + 64; W.r2 = 0x80000000; W.r1 = 0; this.put(d); return; }
    if (W.r2 === 0 && W.r1 === 0) { this.putZero(d, rs); return; }
    // r2:W.r1 is the integer magnitude: normalize it
    W.r0 = 0; re = BIAS + 63;
    normLeft();
    this.put(d);
  }

  // ---------------------------------------------------------------- not yet exact (filled in later commits)

  /** FBLD: 18 packed BCD digits and a sign byte; exact. Digits above 9 are summed as
   *  their nibble value (the SDM leaves such encodings undefined). BigInt used here. */
  fromBcd(d: number, bytes: Uint8Array, offset: number): void {
    this.c1 = false;
    let n = 0n;
    for (let i = 8; i >= 0; i--) {
      const b = bytes[offset + i];
      n = n * 100n + BigInt((b >>> 4) * 10 + (b & 15));
    }
    const sign = bytes[offset + 9] >>> 7;
    if (n === 0n) { this.putZero(d, sign); return; }
    this.fromBig(d, sign, n, 0);
  }

  /** FBSTP: rounds per RC to an integer; |result| >= 10^18, NaN, infinity or an
   *  unsupported encoding is IE with the packed-BCD indefinite when masked. */
  toBcd(a: number, bytes: Uint8Array, offset: number): void {
    this.c1 = false;
    const flags0 = this.flags;
    const k = this.toIntegerMagnitude(a, false);
    let ok = k >= 0 && !carried && (k === K_ZERO || re - BIAS <= 63);
    let n = 0n;
    if (ok && k !== K_ZERO) {
      n = (BigInt(W.r2) << 32n) | BigInt(W.r1);
      if (n >= 1000000000000000000n) ok = false;
    }
    if (!ok) {
      this.flags = (flags0 | IE);
      this.c1 = false;
      if ((this.cw & IE) === 0) return;
      for (let i = 0; i < 7; i++) bytes[offset + i] = 0;
      bytes[offset + 7] = 0xc0; bytes[offset + 8] = 0xff; bytes[offset + 9] = 0xff;
      return;
    }
    for (let i = 0; i < 9; i++) {
      const lo = Number(n % 10n); n /= 10n;
      const hi = Number(n % 10n); n /= 10n;
      bytes[offset + i] = (hi << 4) | lo;
    }
    bytes[offset + 9] = rs << 7;
  }

  /** Writes sign * n * 2^e2 (n a positive BigInt below 2^64) to slot d, exactly. */
  private fromBig(d: number, sign: number, n: bigint, e2: number): void {
    const hi = Number(n >> 32n) >>> 0, lo = Number(n & 0xffffffffn) >>> 0;
    W.nh = hi; W.nl = lo; const sh = norm64();
    rs = sign; re = BIAS + 63 - sh + e2; W.r2 = W.nh; W.r1 = W.nl; W.r0 = 0;
    if (!this.round(64, 1, 0x7ffe, true)) return;
    this.put(d);
  }

  /** FSCALE: d = a * 2^trunc(b), rounded per RC to 64 bits (PC does not apply). */
  scale(d: number, a: number, b: number): void {
    this.c1 = false;
    const v = this.v;
    const ka = classify(v, a), kb = classify(v, b);
    if (ka >= K_DENORMAL || kb >= K_DENORMAL) {
      if (this.screen2(d, a, b, ka, kb)) return;
    }
    unpackA(v, a); unpackB(v, b);
    if (kb === K_INF) {
      if (bs === 0) {
        if (ka === K_ZERO) { this.invalid(d); return; }
        this.putInf(d, as); return;
      }
      if (ka === K_INF) { this.invalid(d); return; }
      this.putZero(d, as); return;
    }
    if (ka === K_ZERO || ka === K_INF) { this.copy(d, a); return; }
    // trunc(b), clamped: beyond 2^17 every result overflows or underflows the same way
    let n = 0;
    const E = be - BIAS;
    if (kb !== K_ZERO && E >= 0) {
      if (E >= 17) n = 1 << 17;
      else n = Math.floor(W.bh / 2 ** (31 - E));
      if (bs) n = -n;
    }
    rs = as; re = ae + n; W.r2 = W.ah; W.r1 = W.al; W.r0 = 0;
    if (!this.round(64, 1, 0x7ffe, true)) return;
    this.put(d);
  }

  /** FXTRACT: sig = a's significand with exponent 0 (biased 0x3fff), exp = its unbiased
   *  exponent. Zero: ZE, exp = -infinity, sig = the zero. */
  xtract(sig: number, exp: number, a: number): void {
    this.c1 = false;
    const v = this.v;
    const k = classify(v, a);
    if (k === K_UNSUPPORTED) {
      this.flags |= IE;
      if ((this.cw & IE) !== 0) { this.putIndefinite(sig); this.putIndefinite(exp); }
      return;
    }
    if (k === K_QNAN || k === K_SNAN) { this.nan1(sig, a, k); if (k === K_QNAN || (this.cw & IE) !== 0) this.copy(exp, sig); return; }
    if (k === K_ZERO) {
      this.flags |= ZE;
      if ((this.cw & ZE) === 0) return;
      this.putInf(exp, 1); this.copy(sig, a); return;
    }
    if (k === K_INF) { this.putInf(exp, 0); this.copy(sig, a); return; }
    if (k === K_DENORMAL) { this.flags |= DE; if ((this.cw & DE) === 0) return; }
    unpackA(v, a);
    const E = ae - BIAS;
    v[sig * 3] = W.al; v[sig * 3 + 1] = W.ah; v[sig * 3 + 2] = (as << 15) | BIAS;
    if (E === 0) this.putZero(exp, 0);
    else this.fromInt32(exp, E);
  }

  /** FPREM/FPREM1 (SDM vol. 2): exact partial remainder; returns C0 | C1<<1 | C2<<2 |
   *  C3<<3. BigInt used here. */
  prem(d: number, a: number, b: number, ieee: boolean): number {
    this.c1 = false;
    const v = this.v;
    const ka = classify(v, a), kb = classify(v, b);
    if (ka >= K_DENORMAL || kb >= K_DENORMAL || kb === K_ZERO) {
      if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) { this.invalid(d); return 0; }
      if (ka >= K_QNAN || kb >= K_QNAN) { this.nan2(d, a, b, ka, kb); return 0; }
      if (ka === K_INF || kb === K_ZERO) { this.invalid(d); return 0; }
      if (ka === K_DENORMAL || kb === K_DENORMAL) {
        this.flags |= DE;
        if ((this.cw & DE) === 0) return 0;
      }
      if (ka === K_ZERO) { this.copy(d, a); return 0; }
      if (kb === K_INF) {
        // a itself, through the rounding: a pseudo-denormal comes back with exponent 1,
        // a denormal with UE unmasked rebiased (the silicon does both)
        unpackA(v, a);
        rs = as; re = ae; W.r2 = W.ah; W.r1 = W.al; W.r0 = 0;
        if (this.round(64, 1, 0x7ffe, true)) this.put(d);
        return 0;
      }
    } else if (ka === K_ZERO) { this.copy(d, a); return 0; }
    unpackA(v, a); unpackB(v, b);
    const D = ae - be;
    const A = (BigInt(W.ah) << 32n) | BigInt(W.al), B = (BigInt(W.bh) << 32n) | BigInt(W.bl);
    if (D >= 64) {
      // incomplete: reduce by a multiple of b * 2^(D - N), N in 32..63
      const N = 32 + (D % 32);
      // a = X * 2^(ae-BIAS-63-N) and b * 2^(D-N) = B * 2^(the same)
      const X = A << BigInt(N);
      const QQ = X / B;
      const R = X - QQ * B;
      if (R === 0n) { this.putZero(d, as); return 4; }
      this.fromBig(d, as, R, ae - BIAS - 63 - N);
      return 4;
    }
    let A2 = A, B2 = B, eUnit: number;
    if (D >= 0) { A2 = A << BigInt(D); eUnit = be; } else { B2 = B << BigInt(-D); eUnit = ae; }
    let Q = A2 / B2, R = A2 - Q * B2;
    let sign = as;
    if (ieee) {
      const twice = R * 2n;
      if (twice > B2 || (twice === B2 && (Q & 1n) === 1n)) { Q += 1n; R = B2 - R; sign ^= 1; }
    }
    const q = Number(Q & 7n);
    const cc = ((q >>> 2) & 1) | ((q & 1) << 1) | (((q >>> 1) & 1) << 3);
    if (R === 0n) { this.putZero(d, as); return cc; }
    this.fromBig(d, sign, R, eUnit - BIAS - 63);
    return cc;
  }
  // ---------------------------------------------------------------- transcendentals
  // Computed in BigInt floating point (256-bit significands, pi to 480 bits for the
  // argument reduction) and rounded once, per RC, to 64 bits: correctly rounded unless
  // the exact value lies within 2^-200 (relative) of a rounding boundary, and below 1 ulp
  // off even then. The silicon reduces arguments with a shorter pi (cpu/README.md).

  /** Screens a one-operand transcendental; returns true when done. */
  private screen1(d: number, a: number, k: number): boolean {
    if (k === K_UNSUPPORTED) { this.invalid(d); return true; }
    if (k === K_QNAN || k === K_SNAN) { this.nan1(d, a, k); return true; }
    if (k === K_DENORMAL) { this.flags |= DE; if ((this.cw & DE) === 0) return true; }
    return false;
  }

  /** Rounds a BigInt float (inexact unless `exact`) into slot d, 64-bit precision. */
  private putBF(d: number, x: BF, exact: boolean): void {
    if (x.m === 0n) { this.putZero(d, 0); return; }
    rs = x.m < 0n ? 1 : 0;
    let m = rs ? -x.m : x.m;
    const L = bitLen(m);
    let sticky = !exact;
    if (L > 96) {
      const sh = BigInt(L - 96);
      if ((m & ((1n << sh) - 1n)) !== 0n) sticky = true;
      m >>= sh;
    } else m <<= BigInt(96 - L);
    W.r2 = Number(m >> 64n) >>> 0; W.r1 = Number((m >> 32n) & 0xffffffffn) >>> 0; W.r0 = Number(m & 0xffffffffn) >>> 0;
    if (sticky) W.r0 = (W.r0 | 1) >>> 0;
    re = BIAS + x.e + L - 1;
    if (!this.round(64, 1, 0x7ffe, true)) return;
    this.put(d);
  }

  /** The slot's finite value as a BigInt float (exact). */
  private toBF(a: number): BF {
    unpackA(this.v, a);
    if ((W.ah | W.al) === 0) return { m: 0n, e: 0 };
    const m = (BigInt(W.ah) << 32n) | BigInt(W.al);
    return { m: as ? -m : m, e: ae - BIAS - 63 };
  }

  private trig(d: number, a: number, which: 0 | 1 | 2): boolean {
    this.c1 = false;
    const v = this.v;
    const k = classify(v, a);
    if (k === K_INF) { this.invalid(d); return true; }
    if (this.screen1(d, a, k)) return true;
    if (k === K_ZERO) {
      if (which === 1) { rs = 0; re = BIAS; W.r2 = 0x80000000; W.r1 = 0; this.put(d); } else this.copy(d, a);
      return true;
    }
    if ((v[a * 3 + 2] & 0x7fff) - BIAS >= 63) return false; // out of range: C2 = 1, operand unchanged
    const x = this.toBF(a);
    const neg = x.m < 0n;
    const ax: BF = { m: neg ? -x.m : x.m, e: x.e };
    // k = nearest integer to |x| / (pi/2); r = |x| - k pi/2 (exact with pi to 480 bits)
    const t = bfDiv(ax, PIO2);
    let q = 0n;
    if (t.e >= 0) q = t.m << BigInt(t.e);
    else if (-t.e <= 400) q = (t.m + (1n << BigInt(-t.e - 1))) >> BigInt(-t.e);
    let r: BF = ax;
    if (q !== 0n) {
      const E0 = Math.min(ax.e, PIO2X.e);
      r = bfNorm((ax.m << BigInt(ax.e - E0)) - ((q * PIO2X.m) << BigInt(PIO2X.e - E0)), E0);
    }
    const quad = Number(q & 3n);
    let res: BF;
    if (which === 0) { res = (quad & 1) === 0 ? bfSin(r) : bfCos(r); if (quad >= 2) res = bfNeg(res); if (neg) res = bfNeg(res); }
    else if (which === 1) { res = (quad & 1) === 0 ? bfCos(r) : bfSin(r); if (quad === 1 || quad === 2) res = bfNeg(res); }
    else { res = (quad & 1) === 0 ? bfDiv(bfSin(r), bfCos(r)) : bfNeg(bfDiv(bfCos(r), bfSin(r))); if (neg) res = bfNeg(res); }
    this.putBF(d, res, false);
    return true;
  }

  /** FSIN: false (C2 = 1, nothing written) when |a| >= 2^63. */
  sin(d: number, a: number): boolean { return this.trig(d, a, 0); }
  /** FCOS, same range rule. */
  cos(d: number, a: number): boolean { return this.trig(d, a, 1); }
  /** FPTAN's tangent (the caller pushes the 1.0), same range rule. */
  tan(d: number, a: number): boolean { return this.trig(d, a, 2); }

  /** FPATAN: d = the angle of (x, y), in (-pi, pi], with the SDM's signed-zero and infinity table. */
  atan2(d: number, y: number, x: number): void {
    this.c1 = false;
    const v = this.v;
    const ky = classify(v, y), kx = classify(v, x);
    if (this.screen2(d, y, x, ky, kx)) return;
    const sy = v[y * 3 + 2] >>> 15, sx = v[x * 3 + 2] >>> 15;
    let res: BF;
    if (ky === K_ZERO || kx === K_INF && ky !== K_INF) {
      if (sx === 0) { this.putZero(d, sy); return; }
      res = PI;
    } else if (kx === K_ZERO || ky === K_INF) {
      if (ky === K_INF && kx === K_INF) res = sx ? bfMul(PI, { m: 3n, e: -2 }) : { m: PI.m, e: PI.e - 2 };
      else res = PIO2;
    } else {
      const Y = this.toBF(y), X = this.toBF(x);
      const ay: BF = { m: sy ? -Y.m : Y.m, e: Y.e }, axx: BF = { m: sx ? -X.m : X.m, e: X.e };
      if (bfCmp(ay, axx) <= 0) res = bfAtan(bfDiv(ay, axx));
      else res = bfAdd(PIO2, bfNeg(bfAtan(bfDiv(axx, ay))));
      if (sx) res = bfAdd(PI, bfNeg(res));
    }
    if (sy) res = bfNeg(res);
    this.putBF(d, res, false);
  }

  /** F2XM1: 2^a - 1 (defined by the SDM for -1 <= a <= 1; computed for any a). */
  f2xm1(d: number, a: number): void {
    this.c1 = false;
    const v = this.v;
    const k = classify(v, a);
    if (this.screen1(d, a, k)) return;
    if (k === K_ZERO) { this.copy(d, a); return; }
    if (k === K_INF) {
      if ((v[a * 3 + 2] & 0x8000) === 0) this.copy(d, a);
      else { rs = 1; re = BIAS; W.r2 = 0x80000000; W.r1 = 0; this.put(d); }
      return;
    }
    const x = this.toBF(a);
    const E = (v[a * 3 + 2] & 0x7fff) - BIAS;
    if (E < 0 || (E === 0 && v[a * 3] === 0 && v[a * 3 + 1] === 0x80000000)) {
      // |x| <= 1; exact at +-1, where the silicon still reports PE
      if (E === 0) { this.putBF(d, x.m > 0n ? { m: 1n, e: 0 } : { m: -1n, e: -1 }, true); this.flags |= PE; return; }
      this.putBF(d, bfExpm1(bfMul(x, LN2)), false);
      return;
    }
    // outside the SDM's range (result undefined there): the operand unchanged, PE, as
    // the (AMD) silicon this was checked against does
    this.copy(d, a);
    this.flags |= PE;
  }

  /** FYL2X: y * log2(x), with the SDM's table for zeros, infinities and x < 0. */
  yl2x(d: number, y: number, x: number): void {
    this.c1 = false;
    const v = this.v;
    const ky = classify(v, y), kx = classify(v, x);
    const sy = v[y * 3 + 2] >>> 15, sx = v[x * 3 + 2] >>> 15;
    // x < 0 (invalid) and x = 0 (zero divide) come before DE for a denormal y
    if (kx !== K_UNSUPPORTED && ky !== K_UNSUPPORTED && kx < K_QNAN && ky < K_QNAN && (kx === K_ZERO || sx) && ky !== K_ZERO) {
      if (kx !== K_ZERO) { this.invalid(d); return; }
      if (ky !== K_INF) { this.flags |= ZE; if ((this.cw & ZE) !== 0) this.putInf(d, sy ^ 1); return; }
      this.putInf(d, sy ^ 1); return; // infinity * log2(0): no zero divide
    }
    if (this.screen2(d, y, x, ky, kx)) return;
    if (sx && kx !== K_ZERO) { this.invalid(d); return; }
    const isOne = kx === K_NORMAL && (v[x * 3 + 2] & 0x7fff) === BIAS && v[x * 3 + 1] === 0x80000000 && v[x * 3] === 0;
    if (kx === K_ZERO) {
      if (ky === K_ZERO) { this.invalid(d); return; }
      this.flags |= ZE;
      if ((this.cw & ZE) === 0) return;
      this.putInf(d, sy ^ 1); return;
    }
    if (kx === K_INF) {
      if (ky === K_ZERO) { this.invalid(d); return; }
      this.putInf(d, sy); return;
    }
    if (ky === K_INF) {
      if (isOne) { this.invalid(d); return; }
      const below = (v[x * 3 + 2] & 0x7fff) < BIAS; // x < 1
      this.putInf(d, sy ^ (below ? 1 : 0)); return;
    }
    const X = this.toBF(x);
    const lg = bfLog2(X);
    if (ky === K_ZERO) { this.putZero(d, sy ^ (lg.m < 0n ? 1 : 0)); return; }
    if (lg.m === 0n) { this.putZero(d, sy); return; } // x = 1: y * +0
    this.putBF(d, bfMul(this.toBF(y), lg.v), lg.exact);
    if (lg.exact) {
      // the silicon reports PE even for a power-of-two x (and so UE for a tiny result)
      this.flags |= PE;
      if ((v[d * 3 + 2] & 0x7fff) === 0) this.flags |= UE;
    }
  }

  /** FYL2XP1: y * log2(x + 1) (defined for |x| < 1 - sqrt(2)/2; computed for x > -1). */
  yl2xp1(d: number, y: number, x: number): void {
    this.c1 = false;
    const v = this.v;
    const ky = classify(v, y), kx = classify(v, x);
    const sy = v[y * 3 + 2] >>> 15, sx = v[x * 3 + 2] >>> 15;
    // x = -infinity is invalid before a denormal y is reported
    if (kx === K_INF && sx && ky !== K_UNSUPPORTED && ky < K_QNAN) { this.invalid(d); return; }
    if (this.screen2(d, y, x, ky, kx)) return;
    if (kx === K_ZERO) {
      if (ky === K_INF) { this.invalid(d); return; }
      this.putZero(d, sy ^ sx); return;
    }
    if (kx === K_INF) {
      if (sx || ky === K_ZERO) { this.invalid(d); return; }
      this.putInf(d, sy); return;
    }
    const X = this.toBF(x);
    if (ky === K_INF) { this.putInf(d, sy ^ sx); return; }
    if (ky === K_ZERO) { this.putZero(d, sy ^ sx); return; }
    // x <= -1 (outside the SDM's range, undefined there): the operand unchanged and PE,
    // as the (AMD) silicon this was checked against does
    if (bfCmp(X, { m: -1n, e: 0 }) <= 0) { this.copy(d, x); this.flags |= PE; return; }
    let l2: BF;
    if (bfMag(X) <= -1) {
      // |x| < 1/2: ln(1 + x) = 2 atanh(x / (2 + x)), exact relative to a tiny x
      l2 = bfDiv(bfAtanhTimes2(bfDiv(X, bfAdd({ m: 2n, e: 0 }, X))), LN2);
    } else l2 = bfLog2(bfAdd({ m: 1n, e: 0 }, X)).v;
    this.putBF(d, bfMul(this.toBF(y), l2), false);
  }

  // ---------------------------------------------------------------- helpers

  copy(d: number, a: number): void {
    const v = this.v;
    v[d * 3] = v[a * 3]; v[d * 3 + 1] = v[a * 3 + 1]; v[d * 3 + 2] = v[a * 3 + 2];
  }

  chs(a: number): void { this.v[a * 3 + 2] ^= 0x8000; }
  abs(a: number): void { this.v[a * 3 + 2] &= 0x7fff; }

  /** FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ: the constant rounded per RC from
   *  96 bits (no PE, C1 cleared), as the P6 and later do (SDM 8.3.8). */
  setConst(d: number, which: number): void {
    this.c1 = false;
    const c = CONSTS;
    const i = which * 4;
    rs = 0; re = c[i]; W.r2 = c[i + 1]; W.r1 = c[i + 2]; W.r0 = c[i + 3];
    if (re === 0) { this.putZero(d, 0); return; }
    const up = roundsUp(64, (this.cw >>> 10) & 3, 0);
    if (up) increment(64); else chop(64);
    this.put(d);
  }
}

/** Exponent, significand bits 63..32, 31..0, then the next 32 bits of each constant. */
const CONSTS = [
  0x3fff, 0x80000000, 0x00000000, 0x00000000, // 1
  0x4000, 0xd49a784b, 0xcd1b8afe, 0x492bf6ff, // log2(10)
  0x3fff, 0xb8aa3b29, 0x5c17f0bb, 0xbe87fed0, // log2(e)
  0x4000, 0xc90fdaa2, 0x2168c234, 0xc4c6628b, // pi
  0x3ffd, 0x9a209a84, 0xfbcff798, 0x8f8959ac, // log10(2)
  0x3ffe, 0xb17217f7, 0xd1cf79ab, 0xc9e3b398, // ln(2)
  0, 0, 0, 0, // +0
];

// W.ah:al * W.bh:bl -> 128-bit product in W.p3:p2:p1:p0 (32-bit words): 16-bit limbs,
// column sums (below 2^35, exact in doubles), carries base 2^16. No arguments: a number
// above 2^31 passed to a function that is not inlined is boxed (an allocation).
function mul64(): void {
  const xh = W.ah, xl = W.al, yh = W.bh, yl = W.bl;
  const x0 = xl & 0xffff, x1 = xl >>> 16, x2 = xh & 0xffff, x3 = xh >>> 16;
  const y0 = yl & 0xffff, y1 = yl >>> 16, y2 = yh & 0xffff, y3 = yh >>> 16;
  let c = x0 * y0;
  let q = (c / 65536) | 0; const w0 = c - q * 65536;
  c = x0 * y1 + x1 * y0 + q;
  q = Math.floor(c / 65536); const w1 = c - q * 65536;
  c = x0 * y2 + x1 * y1 + x2 * y0 + q;
  q = Math.floor(c / 65536); const w2 = c - q * 65536;
  c = x0 * y3 + x1 * y2 + x2 * y1 + x3 * y0 + q;
  q = Math.floor(c / 65536); const w3 = c - q * 65536;
  c = x1 * y3 + x2 * y2 + x3 * y1 + q;
  q = Math.floor(c / 65536); const w4 = c - q * 65536;
  c = x2 * y3 + x3 * y2 + q;
  q = Math.floor(c / 65536); const w5 = c - q * 65536;
  c = x3 * y3 + q;
  q = Math.floor(c / 65536); const w6 = c - q * 65536;
  W.p0 = (w0 + w1 * 65536) >>> 0;
  W.p1 = (w2 + w3 * 65536) >>> 0;
  W.p2 = (w4 + w5 * 65536) >>> 0;
  W.p3 = (w6 + q * 65536) >>> 0;
}

// ---------------------------------------------------------------- BigInt floats
// For the transcendentals only (allocation is fine there): value = m * 2^e, m a signed
// BigInt of at most BF_P bits (truncated beyond).

interface BF { m: bigint; e: number }
const BF_P = 256;

function bitLen(m: bigint): number {
  if (m < 0n) m = -m;
  if (m === 0n) return 0;
  const h = m.toString(16);
  return h.length * 4 - (Math.clz32(parseInt(h[0], 16)) - 28);
}
function bfNorm(m: bigint, e: number, p = BF_P): BF {
  if (m === 0n) return { m: 0n, e: 0 };
  const L = bitLen(m);
  if (L > p) {
    const sh = BigInt(L - p);
    m = m < 0n ? -((-m) >> sh) : m >> sh;
    e += L - p;
  }
  return { m, e };
}
function bfNeg(x: BF): BF { return { m: -x.m, e: x.e }; }
function bfAdd(x: BF, y: BF): BF {
  if (x.m === 0n) return y;
  if (y.m === 0n) return x;
  if (x.e < y.e) { const t = x; x = y; y = t; }
  // y is negligible when far below x's precision
  // a y far below x's precision only tells which side of x the sum lies on
  if (x.e + bitLen(x.m) - (y.e + bitLen(y.m)) > BF_P + 64) {
    const sh = BF_P + 2 - bitLen(x.m);
    return bfNorm((x.m << BigInt(sh)) + (y.m > 0n ? 1n : -1n), x.e - sh);
  }
  return bfNorm((x.m << BigInt(x.e - y.e)) + y.m, y.e);
}
function bfMul(x: BF, y: BF): BF { return bfNorm(x.m * y.m, x.e + y.e); }
function bfDiv(x: BF, y: BF): BF {
  const sh = BF_P + bitLen(y.m) - bitLen(x.m) + 2;
  return bfNorm(sh > 0 ? (x.m << BigInt(sh)) / y.m : x.m / y.m, x.e - y.e - Math.max(sh, 0));
}
function bfDivInt(x: BF, k: bigint): BF { return bfDiv(x, { m: k, e: 0 }); }
function bfCmp(x: BF, y: BF): number {
  const d = bfAdd(x, bfNeg(y)).m;
  return d === 0n ? 0 : d > 0n ? 1 : -1;
}
/** Magnitude exponent: |x| < 2^bfMag(x). */
function bfMag(x: BF): number { return x.e + bitLen(x.m); }
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLen(n) >> 1) + 1);
  for (;;) { const y = (x + n / x) >> 1n; if (y >= x) return x; x = y; }
}
function bfSqrt(x: BF): BF {
  let sh = 2 * BF_P - bitLen(x.m); if (sh < 0) sh = 0;
  if (((x.e - sh) & 1) !== 0) sh++;
  return bfNorm(isqrt(x.m << BigInt(sh)), (x.e - sh) / 2);
}
/** Sum of terms t_k = t_{k-1} * f(k) until below 2^-(BF_P+8) of the first. */
function bfSeries(first: BF, step: (t: BF, k: number) => BF): BF {
  let sum = first, t = first;
  const stop = bfMag(first) - BF_P - 8;
  for (let k = 1; k < 2000; k++) {
    t = step(t, k);
    if (t.m === 0n) break;
    sum = bfAdd(sum, t); // the last, negligible term still says which side the sum is on
    if (bfMag(t) < stop) break;
  }
  return sum;
}
function bfSin(r: BF): BF {
  if (r.m === 0n) return r;
  const r2 = bfMul(r, r);
  return bfSeries(r, (t, k) => bfNeg(bfDivInt(bfMul(t, r2), BigInt(2 * k * (2 * k + 1)))));
}
function bfCos(r: BF): BF {
  const one: BF = { m: 1n, e: 0 };
  if (r.m === 0n) return one;
  const r2 = bfMul(r, r);
  return bfSeries(one, (t, k) => bfNeg(bfDivInt(bfMul(t, r2), BigInt((2 * k - 1) * (2 * k)))));
}
/** atan(t) for 0 < t <= 1: two halvings t -> t / (1 + sqrt(1 + t^2)), then the series. */
function bfAtan(t: BF): BF {
  if (t.m === 0n) return t;
  const one: BF = { m: 1n, e: 0 };
  for (let i = 0; i < 2; i++) t = bfDiv(t, bfAdd(one, bfSqrt(bfAdd(one, bfMul(t, t)))));
  const t2 = bfMul(t, t);
  // sum (-1)^k t^(2k+1) / (2k+1): carry the power separately
  let p = t, sum = t;
  const stop = bfMag(t) - BF_P - 8;
  for (let k = 1; k < 2000; k++) {
    p = bfNeg(bfMul(p, t2));
    const term = bfDivInt(p, BigInt(2 * k + 1));
    sum = bfAdd(sum, term);
    if (bfMag(term) < stop) break;
  }
  return { m: sum.m, e: sum.e + 2 };
}
/** 2 atanh(s) = ln((1 + s) / (1 - s)), |s| small. */
function bfAtanhTimes2(s: BF): BF {
  if (s.m === 0n) return s;
  const s2 = bfMul(s, s);
  let p = s, sum = s;
  const stop = bfMag(s) - BF_P - 8;
  for (let k = 1; k < 4000; k++) {
    p = bfMul(p, s2);
    const term = bfDivInt(p, BigInt(2 * k + 1));
    sum = bfAdd(sum, term);
    if (bfMag(term) < stop) break;
  }
  return { m: sum.m, e: sum.e + 1 };
}
function bfExpm1(y: BF): BF {
  if (y.m === 0n) return y;
  return bfSeries(y, (t, k) => bfDivInt(bfMul(t, y), BigInt(k + 1)));
}
/** log2 of a positive finite x; exact when x is a power of two. */
function bfLog2(x: BF): { v: BF; exact: boolean; m: bigint } {
  const L = bitLen(x.m);
  let E = x.e + L - 1; // x = M * 2^E, M in [1, 2)
  let M: BF = { m: x.m, e: -(L - 1) };
  if (x.m === 1n << BigInt(L - 1)) return { v: { m: BigInt(E), e: 0 }, exact: true, m: BigInt(E) };
  if (bfCmp(M, SQRT2) > 0) { M = { m: M.m, e: M.e - 1 }; E++; }
  const one: BF = { m: 1n, e: 0 };
  const ln = bfAtanhTimes2(bfDiv(bfAdd(M, bfNeg(one)), bfAdd(M, one)));
  const v = bfAdd({ m: BigInt(E), e: 0 }, bfDiv(ln, LN2));
  return { v, exact: false, m: v.m };
}

/** pi to 480 bits (Machin: 16 atan(1/5) - 4 atan(1/239)), in fixed point. */
function machinPi(bits: number): bigint {
  const one = 1n << BigInt(bits + 16);
  const atanInv = (n: bigint): bigint => {
    let sum = 0n, p = one / n, k = 0n;
    const n2 = n * n;
    while (p !== 0n) { const t = p / (2n * k + 1n); sum += k % 2n === 0n ? t : -t; p /= n2; k++; }
    return sum;
  };
  return (16n * atanInv(5n) - 4n * atanInv(239n)) >> 16n;
}
const PI_BITS = 480;
const PI_FIX = machinPi(PI_BITS);
/** pi/2 to 480 bits, for the argument reduction. */
const PIO2X: BF = { m: PI_FIX, e: -PI_BITS - 1 };
const PI: BF = bfNorm(PI_FIX, -PI_BITS);
const PIO2: BF = { m: PI.m, e: PI.e - 1 };
const LN2: BF = bfAtanhTimes2(bfDiv({ m: 1n, e: 0 }, { m: 3n, e: 0 }));
const SQRT2: BF = bfSqrt({ m: 2n, e: 0 });
