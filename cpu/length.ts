/**
 * The length of an x86 instruction from its bytes alone (SDM vol. 2, chapter 2 and
 * appendix A's opcode maps): prefixes, the opcode (one byte, 0F xx, 0F 38 xx, 0F 3A xx),
 * ModRM with its SIB and displacement, and the immediate. The WebAssembly translator
 * uses it to go on past an instruction it hands to the interpreter whole (see
 * wasm-translator.ts's generic step): the interpreter decodes the instruction itself, and
 * the block goes on only if it left EIP at the end this gives, so a length wrong here
 * can cost an exit but never change what runs. directBranch and branchDisplacement let
 * it guess a region's labels before decoding it (guessLabels).
 */

/** Immediate kinds: none, a byte, a word, an operand-size one (2 or 4), a far pointer (2 + 2 or 4), ENTER's (2 + 1), a moffs (the address size). */
const enum Imm { None = 0, B = 1, W = 2, V = 3, Ptr = 4, Enter = 5, Moffs = 6, Group3 = 7 }

/** Per opcode of the one-byte map: bit 7 = has ModRM, low bits an Imm. 0xff: a prefix. */
const ONE = new Uint8Array(256);
/** The same for the 0F map. */
const TWO = new Uint8Array(256);
const M = 0x80, PREFIX = 0xff;

function set(map: Uint8Array, from: number, to: number, v: number): void {
  for (let i = from; i <= to; i++) map[i] = v;
}

// The one-byte map.
for (let row = 0; row < 0x40; row += 8) {
  set(ONE, row, row + 3, M); // ALU r/m forms
  ONE[row + 4] = Imm.B; // ALU AL, imm8
  ONE[row + 5] = Imm.V; // ALU eAX, imm
}
for (const p of [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]) ONE[p] = PREFIX;
ONE[0x62] = M; ONE[0x63] = M; // BOUND, ARPL
ONE[0x68] = Imm.V; ONE[0x69] = M | Imm.V; ONE[0x6a] = Imm.B; ONE[0x6b] = M | Imm.B;
set(ONE, 0x70, 0x7f, Imm.B);
ONE[0x80] = M | Imm.B; ONE[0x81] = M | Imm.V; ONE[0x82] = M | Imm.B; ONE[0x83] = M | Imm.B;
set(ONE, 0x84, 0x8f, M);
ONE[0x9a] = Imm.Ptr;
set(ONE, 0xa0, 0xa3, Imm.Moffs);
ONE[0xa8] = Imm.B; ONE[0xa9] = Imm.V;
set(ONE, 0xb0, 0xb7, Imm.B);
set(ONE, 0xb8, 0xbf, Imm.V);
ONE[0xc0] = M | Imm.B; ONE[0xc1] = M | Imm.B; ONE[0xc2] = Imm.W; ONE[0xc4] = M; ONE[0xc5] = M;
ONE[0xc6] = M | Imm.B; ONE[0xc7] = M | Imm.V; ONE[0xc8] = Imm.Enter; ONE[0xca] = Imm.W; ONE[0xcd] = Imm.B;
set(ONE, 0xd0, 0xd3, M);
ONE[0xd4] = Imm.B; ONE[0xd5] = Imm.B;
set(ONE, 0xd8, 0xdf, M); // x87
set(ONE, 0xe0, 0xe7, Imm.B); // LOOPcc, JCXZ, IN, OUT imm8
ONE[0xe8] = Imm.V; ONE[0xe9] = Imm.V; ONE[0xea] = Imm.Ptr; ONE[0xeb] = Imm.B;
ONE[0xf6] = M | Imm.Group3; ONE[0xf7] = M | Imm.Group3; // TEST's immediate only
ONE[0xfe] = M; ONE[0xff] = M;

// The 0F map: ModRM everywhere but for these.
set(TWO, 0x00, 0xff, M);
for (const o of [0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0e, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37, 0x77, 0xa0, 0xa1, 0xa2, 0xa8, 0xa9, 0xaa]) TWO[o] = 0;
set(TWO, 0x80, 0x8f, Imm.V); // Jcc rel
set(TWO, 0xc8, 0xcf, 0); // BSWAP
for (const o of [0x70, 0x71, 0x72, 0x73, 0xa4, 0xac, 0xba, 0xc2, 0xc4, 0xc5, 0xc6]) TWO[o] = M | Imm.B;

/**
 * The length in bytes of the instruction at mem[pos] in code whose default operand and
 * address size is 32 bits when `d32`, or 0 when it runs past `end` or past 15 bytes (the
 * processor's limit: #GP, which the interpreter raises).
 */
export function instructionLength(mem: Uint8Array, pos: number, end: number, d32: boolean): number {
  const start = pos;
  const limit = Math.min(end, start + 15);
  let o32 = d32, a32 = d32;
  let op = 0;
  for (;;) {
    if (pos >= limit) return 0;
    op = mem[pos++];
    if (ONE[op] !== PREFIX) break;
    if (op === 0x66) o32 = !d32;
    else if (op === 0x67) a32 = !d32;
  }
  let info = ONE[op];
  if (op === 0x0f) {
    if (pos >= limit) return 0;
    const op2 = mem[pos++];
    if (op2 === 0x38 || op2 === 0x3a) {
      if (pos >= limit) return 0;
      pos++; // the third opcode byte
      info = op2 === 0x3a ? M | Imm.B : M;
    } else {
      info = TWO[op2];
      // MOV to and from control and debug registers: a register operand whatever mod says (SDM vol. 2, MOV—Move to/from Control Registers).
      if (op2 >= 0x20 && op2 <= 0x23) {
        if (pos >= limit) return 0;
        return pos + 1 - start;
      }
    }
  }
  let imm = info & 0x7f;
  if (info & M) {
    if (pos >= limit) return 0;
    const modrm = mem[pos++];
    const mod = modrm >> 6, rm = modrm & 7;
    if (imm === Imm.Group3) imm = (modrm & 0x30) === 0 ? (op === 0xf6 ? Imm.B : Imm.V) : Imm.None;
    if (mod !== 3) {
      if (a32) {
        if (rm === 4) {
          if (pos >= limit) return 0;
          const sib = mem[pos++];
          if (mod === 0 && (sib & 7) === 5) pos += 4;
        }
        if (mod === 1) pos += 1;
        else if (mod === 2 || (mod === 0 && rm === 5)) pos += 4;
      } else if (mod === 1) pos += 1;
      else if (mod === 2 || (mod === 0 && rm === 6)) pos += 2;
    }
  }
  const v = o32 ? 4 : 2;
  switch (imm) {
    case Imm.B: pos += 1; break;
    case Imm.W: pos += 2; break;
    case Imm.V: pos += v; break;
    case Imm.Ptr: pos += v + 2; break;
    case Imm.Enter: pos += 3; break;
    case Imm.Moffs: pos += a32 ? 4 : 2; break;
  }
  return pos > limit ? 0 : pos - start;
}

/** One-byte opcodes that always leave the next instruction: RET, RETF, INT3, INT n, IRET, CALL, JMP (near and far), INT1, HLT. */
const TRANSFERS = new Set([0x9a, 0xc2, 0xc3, 0xca, 0xcb, 0xcc, 0xcd, 0xcf, 0xe8, 0xe9, 0xea, 0xeb, 0xf1, 0xf4]);

/**
 * Whether the instruction at mem[pos] (of a length instructionLength found) never goes
 * on to the instruction after it: the TRANSFERS opcodes, UD2, and CALL and JMP through
 * memory or a register (FF /2 to /5). HLT counts: the CPU waits there for an interrupt.
 */
export function alwaysTransfers(mem: Uint8Array, pos: number): boolean {
  let op = mem[pos];
  while (ONE[op] === PREFIX) op = mem[++pos];
  if (op === 0x0f) return mem[pos + 1] === 0x0b;
  if (op === 0xff) { const reg = (mem[pos + 1] >> 3) & 7; return reg >= 2 && reg <= 5; }
  return TRANSFERS.has(op);
}

/** directBranch's kinds: a Jcc, or a JMP or CALL; with BRANCH_SHORT, its displacement is a byte (else a dword). */
export const BRANCH_JCC = 1, BRANCH_JUMP = 2, BRANCH_SHORT = 4;

/**
 * Whether the instruction at mem[pos] is a direct near branch with a 32-bit operand
 * size: Jcc (70-7F, 0F 80-8F), JMP (EB, E9) or CALL (E8), as BRANCH_* bits; 0 for
 * anything else, those with an operand-size prefix included (a 16-bit displacement).
 */
export function directBranch(mem: Uint8Array, pos: number): number {
  let op = mem[pos];
  let o16 = false;
  while (ONE[op] === PREFIX) { if (op === 0x66) o16 = true; op = mem[++pos]; }
  if (o16) return 0;
  if (op >= 0x70 && op <= 0x7f) return BRANCH_JCC | BRANCH_SHORT;
  if (op === 0x0f) return mem[pos + 1] >= 0x80 && mem[pos + 1] <= 0x8f ? BRANCH_JCC : 0;
  if (op === 0xeb) return BRANCH_JUMP | BRANCH_SHORT;
  return op === 0xe8 || op === 0xe9 ? BRANCH_JUMP : 0;
}

/** The displacement of the direct branch of kind `kind` (directBranch) that ends before mem[end]: its last byte or dword, signed. */
export function branchDisplacement(mem: Uint8Array, end: number, kind: number): number {
  if ((kind & BRANCH_SHORT) !== 0) return (mem[end - 1] << 24) >> 24;
  return mem[end - 4] | (mem[end - 3] << 8) | (mem[end - 2] << 16) | (mem[end - 1] << 24);
}
