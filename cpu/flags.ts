/**
 * EFLAGS bit names (Intel SDM vol. 1, 3.4.3) and the lazy-flags encoding.
 *
 * Arithmetic instructions do not compute their six status flags; they record the
 * operation, its operands and its result, and a flag is derived only when something
 * reads it (a Jcc, PUSHF, ADC...). `Cpu.flagsLazy` says which status bits are to be
 * derived; all other bits live in `Cpu.flags` as plain bits.
 */
export const CF = 0x0001, PF = 0x0004, AF = 0x0010, ZF = 0x0040, SF = 0x0080;
export const TF = 0x0100, IF = 0x0200, DF = 0x0400, OF = 0x0800;
export const IOPL = 0x3000, NT = 0x4000, RF = 0x10000, VM = 0x20000, AC = 0x40000;
export const VIF = 0x80000, VIP = 0x100000, ID = 0x200000;
/** The six status flags that arithmetic sets. */
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** Bit 1 always reads as one. */
export const FIXED_ONE = 0x0002;

/** What the last flag-setting operation was, for deriving the lazy flags. */
export const enum LazyOp {
  /** ADD, ADC, INC, XADD: CF and OF of an addition. */
  Add = 0,
  /** SUB, SBB, CMP, DEC, NEG, CMPXCHG, string compares: borrow and signed overflow. */
  Sub = 1,
  /** AND, OR, XOR, TEST, and results whose CF/OF/AF are set explicitly: CF=OF=AF=0. */
  Logic = 2,
}

/** PF is set when the low byte of the result has an even number of one bits. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let n = 0;
  for (let b = i; b; b >>= 1) n += b & 1;
  PARITY[i] = n & 1 ? 0 : PF;
}
