/**
 * Integer arithmetic with lazy flags: the ALU group, INC/DEC, shifts and rotates,
 * double shifts, multiply and divide, and the BCD adjustments.
 *
 * Operands are numbers reduced to the operand size: 0..0xFF, 0..0xFFFF, or any int32
 * for 32-bit operations. `sign` is the operand's sign bit (0x80, 0x8000, 0x80000000|0)
 * and `bits` its width. Flag rules are from the SDM vol. 2 page of each instruction;
 * where a flag is "undefined" we produce what the P6 family is commonly observed to
 * produce when that is cheap, and the differential tests mask it.
 */
import type { Cpu } from './cpu';
import { ARITH, CF, PF, AF, ZF, SF, OF, LazyOp } from './flags';
import { EAX, EDX, DE } from './registers';

export const SIGN8 = 0x80, SIGN16 = 0x8000, SIGN32 = 0x80000000 | 0;

function setLazy(cpu: Cpu, op: LazyOp, a: number, b: number, r: number, sign: number): void {
  cpu.lazyOp = op;
  cpu.lazyA = a;
  cpu.lazyB = b;
  cpu.lazyR = r;
  cpu.lazySign = sign;
  cpu.flagsLazy = ARITH;
}

/** The eight ALU operations of opcodes 00-3F and group 1: ADD OR ADC SBB AND SUB XOR CMP. */
export function alu(cpu: Cpu, op: number, a: number, b: number, sign: number): number {
  // One setLazy after the switch rather than one in each case: V8 inlines alu into the
  // handlers, and the smaller it is, the more of the rest it inlines with it.
  let r: number, kind: LazyOp;
  switch (op) {
    case 0: r = a + b; kind = LazyOp.Add; break;
    case 1: r = a | b; kind = LazyOp.Logic; break;
    case 2: r = a + b + cpu.getCF(); kind = LazyOp.Add; break;
    case 3: r = a - b - cpu.getCF(); kind = LazyOp.Sub; break;
    case 4: r = a & b; kind = LazyOp.Logic; break;
    case 5:
    case 7: r = a - b; kind = LazyOp.Sub; break;
    default: r = a ^ b; kind = LazyOp.Logic; break;
  }
  r &= (sign << 1) - 1;
  setLazy(cpu, kind, a, b, r, sign);
  return r;
}

export function sub(cpu: Cpu, a: number, b: number, sign: number): number {
  const r = (a - b) & ((sign << 1) - 1);
  setLazy(cpu, LazyOp.Sub, a, b, r, sign);
  return r;
}

export function add(cpu: Cpu, a: number, b: number, sign: number): number {
  const r = (a + b) & ((sign << 1) - 1);
  setLazy(cpu, LazyOp.Add, a, b, r, sign);
  return r;
}

export function logic(cpu: Cpu, r: number, sign: number): void {
  setLazy(cpu, LazyOp.Logic, 0, 0, r, sign);
}

/** INC and DEC leave CF as it was. */
export function incdec(cpu: Cpu, a: number, dec: boolean, sign: number): number {
  const cf = cpu.getCF();
  const r = (dec ? a - 1 : a + 1) & ((sign << 1) - 1);
  setLazy(cpu, dec ? LazyOp.Sub : LazyOp.Add, a, 1, r, sign);
  cpu.flags = (cpu.flags & ~CF) | cf;
  cpu.flagsLazy = ARITH & ~CF;
  return r;
}

/**
 * Sets the status flags from a result whose CF, OF and AF are known: ZF, SF and PF
 * stay lazy (derived from `r`), the other three are stored. All six are written, so
 * nothing of the earlier lazy state is needed (no materializeFlags): the stale ZF, SF
 * and PF bits left in cpu.flags are marked lazy, and every reader takes those from `r`.
 */
export function setResultFlags(cpu: Cpu, r: number, sign: number, cf: number, of: boolean, af: boolean): void {
  let f = cpu.flags & ~(CF | OF | AF);
  if (cf) f |= CF;
  if (of) f |= OF;
  if (af) f |= AF;
  cpu.flags = f;
  cpu.lazyOp = LazyOp.Logic;
  cpu.lazyR = r;
  cpu.lazySign = sign;
  cpu.lazyA = 0;
  cpu.lazyB = 0;
  cpu.flagsLazy = PF | ZF | SF;
}

/** Sets only CF and OF (rotates leave SF, ZF, AF and PF alone). */
export function setCfOf(cpu: Cpu, cf: number, of: boolean): void {
  cpu.materializeFlags();
  let f = cpu.flags & ~(CF | OF);
  if (cf) f |= CF;
  if (of) f |= OF;
  cpu.flags = f;
}

/**
 * Group 2: ROL ROR RCL RCR SHL SHR SAL SAR by `count` (already masked to 5 bits by the
 * caller, SDM vol. 2, SAL/SAR/SHL/SHR "the count is masked to 5 bits"). Returns the result.
 * A zero count changes nothing, flags included.
 */
export function shift(cpu: Cpu, op: number, a: number, count: number, bits: number): number {
  if (count === 0) return a;
  const sign = bits === 32 ? SIGN32 : 1 << (bits - 1);
  const mask = bits === 32 ? -1 : (1 << bits) - 1;
  const ua = bits === 32 ? a >>> 0 : a;
  let r: number, cf: number;
  switch (op) {
    case 0: { // ROL
      const c = count & (bits - 1);
      r = c === 0 ? a : ((ua << c) | (ua >>> (bits - c))) & mask;
      cf = r & 1;
      setCfOf(cpu, cf, ((r & sign) !== 0) !== (cf !== 0));
      return r;
    }
    case 1: { // ROR
      const c = count & (bits - 1);
      r = c === 0 ? a : ((ua >>> c) | (ua << (bits - c))) & mask;
      cf = (r & sign) !== 0 ? 1 : 0;
      setCfOf(cpu, cf, ((r & sign) !== 0) !== ((r & (sign >>> 1)) !== 0));
      return r;
    }
    case 2: { // RCL: rotate through CF, (bits+1)-bit rotation
      const c = bits === 32 ? count : count % (bits + 1);
      r = ua;
      cf = cpu.getCF();
      for (let i = 0; i < c; i++) {
        const out = (r & sign) !== 0 ? 1 : 0;
        r = ((r << 1) | cf) & mask;
        cf = out;
      }
      if (c === 0) return a;
      setCfOf(cpu, cf, ((r & sign) !== 0) !== (cf !== 0));
      return r;
    }
    case 3: { // RCR
      const c = bits === 32 ? count : count % (bits + 1);
      r = ua;
      cf = cpu.getCF();
      for (let i = 0; i < c; i++) {
        const out = r & 1;
        r = ((bits === 32 ? r >>> 1 : r >> 1) | (cf ? sign : 0)) & mask;
        cf = out;
      }
      if (c === 0) return a;
      setCfOf(cpu, cf, ((r & sign) !== 0) !== ((r & (sign >>> 1)) !== 0));
      return r;
    }
    case 4:
    case 6: { // SHL/SAL
      if (count < bits) {
        r = (ua << count) & mask;
        cf = (ua >>> (bits - count)) & 1;
      } else {
        r = 0;
        cf = count === bits ? ua & 1 : 0;
      }
      setResultFlags(cpu, r, sign, cf, ((r & sign) !== 0) !== (cf !== 0), false);
      return r;
    }
    case 5: { // SHR
      if (count < bits) {
        r = (ua >>> count) & mask;
        cf = (ua >>> (count - 1)) & 1;
      } else {
        r = 0;
        cf = count === bits ? (ua >>> (bits - 1)) & 1 : 0;
      }
      setResultFlags(cpu, r, sign, cf, (ua & sign) !== 0, false);
      return r;
    }
    default: { // SAR
      const sa = bits === 32 ? a | 0 : (a << (32 - bits)) >> (32 - bits);
      const c = count < bits ? count : bits - 1;
      r = (sa >> c) & mask;
      cf = count < bits ? (sa >> (count - 1)) & 1 : (sa < 0 ? 1 : 0);
      setResultFlags(cpu, r, sign, cf, false, false);
      return r;
    }
  }
}

/**
 * shift() for SHL/SAL, SHR and SAR (`op` 4-7) of a dword by 1-31: the same result and
 * flags, small enough for V8 to inline into the interpreter's handlers (shift() is not).
 */
export function shift32(cpu: Cpu, op: number, a: number, count: number): number {
  let r: number, cf: number, of: boolean;
  if (op === 5) { // SHR
    const ua = a >>> 0;
    r = (ua >>> count) | 0;
    cf = (ua >>> (count - 1)) & 1;
    of = (a & SIGN32) !== 0;
  } else if (op === 7) { // SAR
    r = (a | 0) >> count;
    cf = ((a | 0) >> (count - 1)) & 1;
    of = false;
  } else { // SHL/SAL
    r = (a << count) | 0;
    cf = ((a >>> 0) >>> (32 - count)) & 1;
    of = ((r & SIGN32) !== 0) !== (cf !== 0);
  }
  setResultFlags(cpu, r, SIGN32, cf, of, false);
  return r;
}

/**
 * SHLD/SHRD (SDM vol. 2): shift `a` left/right by `count` (masked to 5 bits), filling
 * from `b`. For 16-bit operands and counts over 16 the result is undefined in the
 * manual; we shift through the 32-bit concatenation, as P6 processors do.
 */
export function doubleShift(cpu: Cpu, left: boolean, a: number, b: number, count: number, bits: number): number {
  if (count === 0) return a;
  const sign = bits === 32 ? SIGN32 : SIGN16;
  let r: number, cf: number;
  if (bits === 32) {
    const ua = a >>> 0, ub = b >>> 0;
    if (left) { r = (ua << count) | (ub >>> (32 - count)); cf = (ua >>> (32 - count)) & 1; }
    else { r = (ua >>> count) | (ub << (32 - count)); cf = (ua >>> (count - 1)) & 1; }
    r |= 0;
  } else {
    // 16-bit: work on a 48-bit pattern a:b:a (left) or b:a (right), as hardware does.
    if (left) {
      const hi = (a << 16) | b; // 32-bit a:b
      if (count <= 16) { r = (hi >>> (16 - count)) & 0xffff; cf = (a >>> (16 - count)) & 1; }
      else { const x = (b << 16) | a; r = (x >>> (32 - count)) & 0xffff; cf = (b >>> (32 - count)) & 1; }
    } else {
      const lo = (b << 16) | a; // 32-bit b:a
      if (count <= 16) { r = (lo >>> count) & 0xffff; cf = (a >>> (count - 1)) & 1; }
      else { const x = (a << 16) | b; r = (x >>> (count - 16)) & 0xffff; cf = (b >>> (count - 17)) & 1; }
    }
  }
  setResultFlags(cpu, r, sign, cf, ((r ^ a) & sign) !== 0, false);
  return r;
}

// ---- Multiply and divide. 64-bit products and dividends are handled as two 32-bit halves. ----

/** mulHigh[0] is the high half of the last mulU32/mulS32 (module scratch, no allocation). */
export const mulHigh = new Int32Array(1);

/** Unsigned 32x32 -> 64 multiply; returns the low half (int32), high half in mulHigh[0]. */
export function mulU32(a: number, b: number): number {
  const ua = a >>> 0, ub = b >>> 0;
  const al = ua & 0xffff, ah = ua >>> 16, bl = ub & 0xffff, bh = ub >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  mulHigh[0] = hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536);
  return ((mid << 16) | (ll & 0xffff)) | 0;
}

/** Signed 32x32 -> 64 multiply; returns the low half, high half in mulHigh[0]. */
export function mulS32(a: number, b: number): number {
  const lo = mulU32(a, b);
  let hi = mulHigh[0];
  if (a < 0) hi = (hi - b) | 0;
  if (b < 0) hi = (hi - a) | 0;
  mulHigh[0] = hi;
  return lo;
}

/** MUL/IMUL one-operand forms: CF=OF=1 when the high half is significant. */
export function mulFlags(cpu: Cpu, lo: number, sign: number, overflow: boolean): void {
  setResultFlags(cpu, lo, sign, overflow ? 1 : 0, overflow, false);
}

/** IMUL r, r/m[, imm] (two- and three-operand forms): the truncated product, flags set. */
export function imulTrunc(cpu: Cpu, a: number, b: number, bits: number): number {
  if (bits === 16) {
    const p = ((a << 16) >> 16) * ((b << 16) >> 16);
    const r = p & 0xffff;
    mulFlags(cpu, r, SIGN16, p !== ((r << 16) >> 16));
    return r;
  }
  const lo = mulS32(a | 0, b | 0);
  mulFlags(cpu, lo, SIGN32, mulHigh[0] !== (lo >> 31));
  return lo;
}

/** divRemainder[0] is the remainder of the last divide64 (module scratch). */
const divRemainder = new Float64Array(1);

/**
 * Unsigned (hi:lo) / d for hi < d (so the quotient fits in 32 bits): long division in
 * two 16-bit steps keeps every intermediate below 2^48, exact in a double.
 */
function divide64(hi: number, lo: number, d: number): number {
  let rem = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(rem / d);
  rem -= q1 * d;
  rem = rem * 65536 + (lo & 0xffff);
  const q0 = Math.floor(rem / d);
  divRemainder[0] = rem - q0 * d;
  return q1 * 65536 + q0;
}

/** DIV r/m32: EDX:EAX / src; #DE on a zero divisor or a quotient over 32 bits. */
export function div32(cpu: Cpu, divisor: number): void {
  const d = divisor >>> 0;
  const hi = cpu.reg32[EDX] >>> 0, lo = cpu.reg32[EAX] >>> 0;
  if (d === 0 || hi >= d) cpu.fault(DE, -1);
  cpu.reg32[EAX] = divide64(hi, lo, d);
  cpu.reg32[EDX] = divRemainder[0];
}

/** IDIV r/m32: signed EDX:EAX / src; #DE when the quotient does not fit in int32. */
export function idiv32(cpu: Cpu, divisor: number): void {
  const d = divisor | 0;
  if (d === 0) cpu.fault(DE, -1);
  let hi = cpu.reg32[EDX] | 0, lo = cpu.reg32[EAX] >>> 0;
  const negN = hi < 0;
  if (negN) { // negate the 64-bit dividend
    lo = (~lo + 1) >>> 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
  } else {
    hi >>>= 0;
  }
  const negD = d < 0;
  const ad = negD ? -d : d; // up to 2^31, exact
  if (hi >= ad) cpu.fault(DE, -1);
  let q = divide64(hi, lo, ad);
  const rem = divRemainder[0];
  const negQ = negN !== negD;
  if (negQ ? q > 0x80000000 : q > 0x7fffffff) cpu.fault(DE, -1);
  if (negQ) q = -q;
  cpu.reg32[EAX] = q;
  cpu.reg32[EDX] = negN ? -rem : rem;
}

// ---- Decimal adjustments (SDM vol. 2, DAA/DAS/AAA/AAS/AAM/AAD). ----

function setAlFlags(cpu: Cpu, al: number, cf: boolean, af: boolean, of: boolean): void {
  setResultFlags(cpu, al, SIGN8, cf ? 1 : 0, of, af);
}

export function daa(cpu: Cpu): void {
  const oldAl = cpu.reg8[0];
  const oldCf = cpu.getCF() !== 0;
  let al = oldAl, cf = false, af = false;
  if ((al & 0xf) > 9 || cpu.getAF()) {
    cf = oldCf || al + 6 > 0xff;
    al = (al + 6) & 0xff;
    af = true;
  }
  if (oldAl > 0x99 || oldCf) { al = (al + 0x60) & 0xff; cf = true; } else cf = false;
  cpu.reg8[0] = al;
  setAlFlags(cpu, al, cf, af, ((oldAl ^ al) & al & 0x80) !== 0);
}

export function das(cpu: Cpu): void {
  const oldAl = cpu.reg8[0];
  const oldCf = cpu.getCF() !== 0;
  let al = oldAl, cf = false, af = false;
  if ((al & 0xf) > 9 || cpu.getAF()) {
    cf = oldCf || al < 6;
    al = (al - 6) & 0xff;
    af = true;
  }
  if (oldAl > 0x99 || oldCf) { al = (al - 0x60) & 0xff; cf = true; }
  cpu.reg8[0] = al;
  setAlFlags(cpu, al, cf, af, ((oldAl ^ al) & oldAl & 0x80) !== 0);
}

export function aaa(cpu: Cpu, subtract: boolean): void {
  const ax = cpu.reg16[0];
  if ((ax & 0xf) > 9 || cpu.getAF()) {
    // AAA: AX += 0x106. AAS: AX -= 6 (borrowing from AH), then AH -= 1 (SDM vol. 2, AAA/AAS).
    let nax: number;
    if (subtract) {
      nax = (ax - 6) & 0xffff;
      nax = (nax & 0xff) | ((((nax >> 8) - 1) & 0xff) << 8);
    } else {
      nax = (ax + 0x106) & 0xffff;
    }
    cpu.reg16[0] = nax & 0xff0f;
    setAlFlags(cpu, nax & 0xff, true, true, false);
  } else {
    cpu.reg16[0] = ax & 0xff0f;
    setAlFlags(cpu, ax & 0xff, false, false, false);
  }
}

export function aam(cpu: Cpu, base: number): void {
  if (base === 0) cpu.fault(DE, -1);
  const al = cpu.reg8[0];
  const q = Math.floor(al / base), r = al % base;
  cpu.reg16[0] = (q << 8) | r;
  setAlFlags(cpu, r, false, false, false);
}

export function aad(cpu: Cpu, base: number): void {
  const al = cpu.reg8[0], ah = cpu.reg8[1];
  const t = ah * base;
  const r = (al + t) & 0xff;
  cpu.reg16[0] = r;
  // The P6 sets CF/OF/AF as for the 8-bit addition AL + (AH * imm8) (flags undefined in the SDM).
  const b = t & 0xff;
  setLazy(cpu, LazyOp.Add, al, b, r, SIGN8);
}

/** SAHF: loads SF ZF AF PF CF from AH. LAHF is getEflags() & 0xFF. */
export function sahf(cpu: Cpu): void {
  cpu.materializeFlags();
  const m = SF | ZF | AF | PF | CF;
  cpu.flags = (cpu.flags & ~m) | (cpu.reg8[1] & m);
}

