/**
 * Decode and execute instructions: one switch on the opcode in `execute` (the 0F
 * page as 0x100 | the second byte), whose cases call one small function per opcode
 * form, or do the hottest forms themselves (see `execute`). Handlers are named after the Intel SDM vol. 2 opcode map (appendix A),
 * Bochs-style: E = ModRM r/m operand, G = ModRM reg, I = immediate, b/w/d/v/z sizes.
 *
 * Small functions rather than code in the switch's cases: V8 optimizes and inlines
 * each small handler well, where a switch with the code in its cases exceeds its
 * inlining budget (measured: about 20% faster on bench/cpu's workload). The switch
 * calls them directly rather than through a table, which cost a generic call per
 * instruction (see `execute`).
 *
 * The per-instruction path allocates nothing: operands are numbers, the effective
 * address lives in cpu.eaSeg/cpu.eaOff, and faults unwind through Cpu.fault.
 */
import type { Cpu } from './cpu';
import {
  alu, sub, add, logic, incdec, shift, shift32, doubleShift, mulU32, mulS32, mulHigh, mulFlags, imulTrunc,
  div32, idiv32, daa, das, aaa, aam, aad, sahf, SIGN8, SIGN16, SIGN32,
} from './alu';
import { ZF, TF, IF, DF, IOPL, RF, VM, ARITH, LazyOp } from './flags';
import {
  EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, ES, CS, SS, DS, FS, GS,
  UD, GP, NM, BP, OFV, BR, DB, CR0_EM, CR0_TS, CR0_MP, CR0_PE, CR0_NW, CR0_CD, CR4_DE,
} from './registers';
import {
  loadSegment, deliverInterrupt, iret, farJump, farCall, farReturn, lldt, ltr, inspectSelector,
  checkIoPermission, writeFlagsChecked,
} from './system';
import { x87 } from './x87';

/** Byte offset of each 8-bit register (AL CL DL BL AH CH DH BH) in the register buffer. */
const R8 = new Uint8Array([0, 4, 8, 12, 1, 5, 9, 13]);

/** CPUID leaf 1 EDX: what this CPU really implements (an x87 FPU, PAE paging without NX; no MMX, FXSR or SSE; the APIC bit is added where the machine has one). */
export const CPUID_FEATURES_EDX =
  (1 << 0) /* FPU */ | (1 << 3) /* PSE */ | (1 << 4) /* TSC */ | (1 << 5) /* MSR */ | (1 << 6) /* PAE */ | (1 << 8) /* CX8 */ |
  (1 << 13) /* PGE */ | (1 << 15) /* CMOV */;
/** Family 6, model 1, stepping 9: a Pentium Pro signature. */
export const CPUID_SIGNATURE = 0x00000619;

const MSR_TSC = 0x10;
/** IA32_PLATFORM_ID (P6): read-only; platform bits 52:50 are 0 here. */
const MSR_PLATFORM_ID = 0x17;
/** IA32_BIOS_SIGN_ID (P6): firmware writes 0, executes CPUID, and reads the microcode revision in EDX (0: none loaded). */
const MSR_BIOS_SIGN_ID = 0x8b;
/** IA32_APIC_BASE: the local APIC's page, global enable (bit 11) and BSP flag (bit 8), where the machine has one. */
const MSR_APIC_BASE = 0x1b;
/** CPUID leaf 1 EDX bit 9: an on-chip local APIC. */
const CPUID_APIC = 1 << 9;

// ======================================================================
// ModRM effective addresses (SDM vol. 2, tables 2-1 and 2-2)
// ======================================================================

// V8 inlines a call only where its feedback says the call runs often enough (at least
// 15% of the caller's runs), and a helper shared by every handler records that early,
// for all of them at once: a call a shared helper makes only sometimes (the memory form
// of a ModRM, a 32-bit address) is then seldom inlined, even into the handlers whose
// operands are all in memory. So the shared helpers make their calls unconditionally
// and test inside: modrm() always calls decodeAt(), which returns at once for a
// register form; and rdE32() and the others do a flat segment's access themselves (as
// Cpu.read32 would), calling Cpu only otherwise.

/** The effective address of ModRM `m` into cpu.eaSeg/cpu.eaOff (nothing for a register form). */
function decodeEA(cpu: Cpu, m: number): void {
  const e = cpu.eip;
  if (e + 5 > cpu.fetchHi || e < cpu.fetchLo || cpu.a32 === false) {
    decodeEAFetching(cpu, m);
    return;
  }
  decodeAt(cpu, m, e);
}

/**
 * decodeEA for a 32-bit address whose SIB and displacement bytes, if any, start at EIP
 * `e` and are all in the fetch window (the five there can be): read straight from it,
 * with one window test for all of them; EIP ends up after them.
 */
function decodeAt(cpu: Cpu, m: number, e: number): void {
  if (m >= 0xc0) {
    cpu.eip = e;
    return;
  }
  const mem = cpu.mem;
  const r = cpu.reg32;
  const p0 = e + cpu.fetchDelta;
  let p = p0;
  const rm = m & 7;
  let seg = DS;
  let off = 0;
  // What follows the ModRM (and SIB): 0 nothing, 1 a disp8, 2 a disp32.
  let disp = m >> 6;
  if (rm === 4) {
    const sib = mem[p++];
    const base = sib & 7;
    if (base === 5 && disp === 0) {
      disp = 2; // no base: a disp32
    } else {
      off = r[base];
      if (base === ESP || base === EBP) seg = SS;
    }
    const index = (sib >> 3) & 7;
    // Sums wrap with | 0: the address is 32 bits, and V8 then adds without an overflow check.
    if (index !== 4) off = (off + (r[index] << (sib >> 6))) | 0;
  } else if (rm === 5 && disp === 0) {
    disp = 2; // no base: a disp32
  } else {
    off = r[rm];
    if (rm === EBP) seg = SS;
  }
  if (disp === 1) {
    off = (off + ((mem[p] << 24) >> 24)) | 0;
    p += 1;
  } else if (disp === 2) {
    off = (off + cpu.memView.getInt32(p, true)) | 0;
    p += 4;
  }
  cpu.eip = e + (p - p0);
  cpu.eaOff = off;
  cpu.eaSeg = cpu.segOvr >= 0 ? cpu.segOvr : seg;
}

/** decodeEA fetching byte by byte: near the end of the fetch window, or a 16-bit address. */
function decodeEAFetching(cpu: Cpu, m: number): void {
  if (m >= 0xc0) return;
  if (cpu.a32 === true) decodeEA32(cpu, m); else decodeEA16(cpu, m);
}

/** decodeEA's 32-bit form, fetching each byte (near the end of the fetch window). */
function decodeEA32(cpu: Cpu, m: number): void {
  const rm = m & 7;
  const r = cpu.reg32;
  let seg = DS;
  let off = 0;
  let disp = m >> 6;
  if (rm === 4) {
    const sib = cpu.fetch8();
    const base = sib & 7;
    if (base === 5 && disp === 0) {
      disp = 2;
    } else {
      off = r[base];
      if (base === ESP || base === EBP) seg = SS;
    }
    const index = (sib >> 3) & 7;
    if (index !== 4) off = (off + (r[index] << (sib >> 6))) | 0;
  } else if (rm === 5 && disp === 0) {
    disp = 2;
  } else {
    off = r[rm];
    if (rm === EBP) seg = SS;
  }
  if (disp === 1) off = (off + ((cpu.fetch8() << 24) >> 24)) | 0;
  else if (disp === 2) off = (off + cpu.fetch32()) | 0;
  cpu.eaOff = off;
  cpu.eaSeg = cpu.segOvr >= 0 ? cpu.segOvr : seg;
}

function decodeEA16(cpu: Cpu, m: number): void {
  const mod = m >> 6;
  const rm = m & 7;
  const r = cpu.reg16;
  let seg = DS;
  let off: number;
  switch (rm) {
    case 0: off = r[EBX << 1] + r[ESI << 1]; break;
    case 1: off = r[EBX << 1] + r[EDI << 1]; break;
    case 2: off = r[EBP << 1] + r[ESI << 1]; seg = SS; break;
    case 3: off = r[EBP << 1] + r[EDI << 1]; seg = SS; break;
    case 4: off = r[ESI << 1]; break;
    case 5: off = r[EDI << 1]; break;
    case 6:
      if (mod === 0) { off = cpu.fetch16(); } else { off = r[EBP << 1]; seg = SS; }
      break;
    default: off = r[EBX << 1]; break;
  }
  if (mod === 1) off += (cpu.fetch8() << 24) >> 24;
  else if (mod === 2) off += cpu.fetch16();
  cpu.eaOff = off & 0xffff;
  cpu.eaSeg = cpu.segOvr >= 0 ? cpu.segOvr : seg;
}

/** Reads the ModRM byte and, for memory forms, the effective address: one window test for all their bytes. */
function modrm(cpu: Cpu): number {
  const e = cpu.eip;
  if (e + 6 > cpu.fetchHi || e < cpu.fetchLo || cpu.a32 === false) return modrmFetching(cpu);
  const m = cpu.mem[e + cpu.fetchDelta];
  decodeAt(cpu, m, e + 1);
  return m;
}

function modrmFetching(cpu: Cpu): number {
  const m = cpu.fetch8();
  decodeEAFetching(cpu, m);
  return m;
}

/** A ModRM whose r/m must be memory (LEA, LES, BOUND, CMPXCHG8B...): #UD otherwise. */
function modrmMem(cpu: Cpu): number {
  const m = cpu.fetch8();
  if (m >= 0xc0) cpu.fault(UD, -1);
  decodeEA(cpu, m);
  return m;
}

// ---- Operand access by ModRM ----

// The flat-segment fast path of Cpu.read8 ... write32, repeated here (see decodeEA).

function rdE8(cpu: Cpu, m: number): number {
  if (m >= 0xc0) return cpu.reg8[R8[m & 7]];
  const p = cpu.eaOff;
  if ((cpu.flatMask & (1 << cpu.eaSeg)) !== 0 && p >= 0 && p < cpu.memSize) return cpu.mem[p];
  return cpu.read8(cpu.eaSeg, cpu.eaOff) | 0;
}
function wrE8(cpu: Cpu, m: number, v: number): void {
  if (m >= 0xc0) { cpu.reg8[R8[m & 7]] = v; return; }
  const p = cpu.eaOff;
  if ((cpu.flatMask & (1 << cpu.eaSeg)) !== 0 && p >= 0 && p < cpu.memSize && cpu.codePages[p >>> 12] === 0) { cpu.mem[p] = v; return; }
  cpu.write8(cpu.eaSeg, cpu.eaOff, v);
}
function rdE16(cpu: Cpu, m: number): number {
  if (m >= 0xc0) return cpu.reg16[(m & 7) << 1];
  const p = cpu.eaOff;
  if ((cpu.flatMask & (1 << cpu.eaSeg)) !== 0 && p >= 0 && p < cpu.memSize - 1) return cpu.memView.getUint16(p, true);
  return cpu.read16(cpu.eaSeg, cpu.eaOff) | 0;
}
function wrE16(cpu: Cpu, m: number, v: number): void {
  if (m >= 0xc0) { cpu.reg16[(m & 7) << 1] = v; return; }
  const p = cpu.eaOff;
  if ((cpu.flatMask & (1 << cpu.eaSeg)) !== 0 && p >= 0 && p < cpu.memSize - 1 && (cpu.codePages[p >>> 12] | cpu.codePages[(p + 1) >>> 12]) === 0) {
    cpu.memView.setUint16(p, v, true);
    return;
  }
  cpu.write16(cpu.eaSeg, cpu.eaOff, v);
}
function rdE32(cpu: Cpu, m: number): number {
  if (m >= 0xc0) return cpu.reg32[m & 7];
  const p = cpu.eaOff;
  if ((cpu.flatMask & (1 << cpu.eaSeg)) !== 0 && p >= 0 && p < cpu.memSize - 3) return cpu.memView.getInt32(p, true);
  return cpu.read32(cpu.eaSeg, cpu.eaOff) | 0;
}
function wrE32(cpu: Cpu, m: number, v: number): void {
  if (m >= 0xc0) { cpu.reg32[m & 7] = v; return; }
  const p = cpu.eaOff;
  if ((cpu.flatMask & (1 << cpu.eaSeg)) !== 0 && p >= 0 && p < cpu.memSize - 3 && (cpu.codePages[p >>> 12] | cpu.codePages[(p + 3) >>> 12]) === 0) {
    cpu.memView.setInt32(p, v, true);
    return;
  }
  cpu.write32(cpu.eaSeg, cpu.eaOff, v);
}
function rdEv(cpu: Cpu, m: number): number {
  return cpu.o32 === true ? rdE32(cpu, m) : rdE16(cpu, m);
}
function wrEv(cpu: Cpu, m: number, v: number): void {
  if (cpu.o32 === true) wrE32(cpu, m, v); else wrE16(cpu, m, v);
}
function rdG8(cpu: Cpu, m: number): number { return cpu.reg8[R8[(m >> 3) & 7]]; }
function wrG8(cpu: Cpu, m: number, v: number): void { cpu.reg8[R8[(m >> 3) & 7]] = v; }
function rdGv(cpu: Cpu, m: number): number {
  return cpu.o32 === true ? cpu.reg32[(m >> 3) & 7] : cpu.reg16[((m >> 3) & 7) << 1];
}
function wrGv(cpu: Cpu, m: number, v: number): void {
  if (cpu.o32 === true) cpu.reg32[(m >> 3) & 7] = v; else cpu.reg16[((m >> 3) & 7) << 1] = v;
}
function signV(cpu: Cpu): number { return cpu.o32 === true ? SIGN32 : SIGN16; }
function fetchIv(cpu: Cpu): number { return cpu.o32 === true ? cpu.fetch32() : cpu.fetch16(); }
function fetchIbSigned(cpu: Cpu): number { return (cpu.fetch8() << 24) >> 24; }
function maskV(cpu: Cpu, v: number): number { return cpu.o32 === true ? v | 0 : v & 0xffff; }

function pushV(cpu: Cpu, v: number): void { if (cpu.o32 === true) cpu.push32(v); else cpu.push16(v); }
function popV(cpu: Cpu): number { return cpu.o32 === true ? cpu.pop32() : cpu.pop16(); }

/** The count register of string ops and LOOP: ECX or CX by address size. */
function getCount(cpu: Cpu): number { return cpu.a32 === true ? cpu.reg32[ECX] >>> 0 : cpu.reg16[ECX << 1]; }

// ======================================================================
// Conditions (SDM vol. 2, appendix B.1, table B-1)
// ======================================================================

export function condition(cpu: Cpu, cc: number): boolean {
  // All six flags lazy (after ADD, SUB, CMP, AND, OR, XOR, TEST...): worked out here from
  // the recorded operation, as getCF(), getOF(), getZF() and getSF() would, without calls.
  if (cpu.flagsLazy === ARITH && (cc >> 1) !== 5) return lazyCondition(cpu, cc);
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = cpu.getOF(); break;
    case 1: r = cpu.getCF() !== 0; break;
    case 2: r = cpu.getZF(); break;
    case 3: r = cpu.getCF() !== 0 || cpu.getZF(); break;
    case 4: r = cpu.getSF(); break;
    case 5: r = cpu.getPF(); break;
    case 6: r = cpu.getSF() !== cpu.getOF(); break;
    default: r = cpu.getZF() || cpu.getSF() !== cpu.getOF(); break;
  }
  return cc & 1 ? !r : r;
}

/** condition() with all six status flags lazy, PF aside: the formulas of Cpu.getCF() and the others. */
function lazyCondition(cpu: Cpu, cc: number): boolean {
  const r = cpu.lazyR, sign = cpu.lazySign;
  let t: boolean;
  switch (cc >> 1) {
    case 2: t = r === 0; break; // ZF
    case 4: t = (r & sign) !== 0; break; // SF
    case 1: case 3: { // CF, CF or ZF
      const a = cpu.lazyA, b = cpu.lazyB, op = cpu.lazyOp;
      let cf = 0;
      if (op === LazyOp.Sub) cf = ((~a & b) | ((~a | b) & r)) & sign;
      else if (op === LazyOp.Add) cf = ((a & b) | ((a | b) & ~r)) & sign;
      t = cf !== 0 || ((cc >> 1) === 3 && r === 0);
      break;
    }
    default: { // 0 OF, 6 SF != OF, 7 ZF or SF != OF
      const a = cpu.lazyA, b = cpu.lazyB, op = cpu.lazyOp;
      let of = 0;
      if (op === LazyOp.Sub) of = ((a ^ b) & (a ^ r)) & sign;
      else if (op === LazyOp.Add) of = ((a ^ r) & (b ^ r)) & sign;
      const c = cc >> 1;
      if (c === 0) t = of !== 0;
      else {
        t = ((r & sign) !== 0) !== (of !== 0);
        if (c === 7 && r === 0) t = true;
      }
      break;
    }
  }
  return (cc & 1) !== 0 ? !t : t;
}

function jumpRelative(cpu: Cpu, disp: number): void {
  cpu.eip = cpu.o32 === true ? (cpu.eip + disp) >>> 0 : (cpu.eip + disp) & 0xffff;
}

// ======================================================================
// One instruction
// ======================================================================

/**
 * Executes one instruction: one dispatch (`execute`) on its first byte. A prefix
 * byte's handler (`prefixed`) sets the decode state, runs the instruction and puts the
 * defaults back, so an instruction without prefixes pays nothing for them (a fault
 * restores them in Cpu).
 *
 * An instruction handler is named after the SDM opcode map (appendix A): mnemonic, then
 * operand forms (E = r/m, G = reg, I = immediate, Z = register in the opcode's low
 * bits; b/w/d/v/z sizes). `op` is the opcode byte, for handlers that serve a row.
 */
export function step(cpu: Cpu): void {
  execute(cpu, cpu.fetch8(), false);
}

/**
 * Interprets instructions from EIP for the run loop, which has checked that the slice
 * has cycles left and that no interrupt or single-step trap is due: as many as
 * `step` would run one by one, with each one's `instrEip`, `left` and `sliceInstr` kept
 * as the run loop keeps them, until one of those changes (see `execute`).
 */
export function interpret(cpu: Cpu): void {
  cpu.instrEip = cpu.eip;
  execute(cpu, cpu.fetch8(), true);
}

function prefixed(cpu: Cpu, op: number): void {
  const next = prefixes(cpu, op);
  execute(cpu, next, false);
  cpu.o32 = cpu.a32 = cpu.csD32;
  cpu.segOvr = -1;
  cpu.rep = 0;
}

const IF_TF = IF | TF;

/** Per opcode (0x100 | second byte for the 0F page): HOT_MODRM, execute() decodes its ModRM itself (see there). */
const OPCLASS = new Uint8Array(512);
const HOT_MODRM = 1;
for (const o of [
  0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x10, 0x11, 0x12, 0x13, 0x18, 0x19, 0x1a, 0x1b,
  0x20, 0x21, 0x22, 0x23, 0x28, 0x29, 0x2a, 0x2b, 0x30, 0x31, 0x32, 0x33, 0x38, 0x39, 0x3a, 0x3b,
  0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0x89, 0x8a, 0x8b, 0x8d, 0x1b6, 0x1b7, 0x1be, 0x1bf,
  0xc0, 0xc1, 0xc7, 0xd0, 0xd1, 0xd3, 0x1af,
]) OPCLASS[o] = HOT_MODRM;
/** Where execute()'s inline ALU forms put their result: 0-7 a dword register, DST_REG8 + a byte register's offset, memory, or nowhere. */
const DST_NONE = -1, DST_REG8 = 16, DST_MEM32 = 32, DST_MEM8 = 33;
/**
 * Instructions execute() runs before it returns to the run loop, which calls it again:
 * V8 compiles a function that loops for long while it runs (on-stack replacement) with
 * its loop's values boxed, and a short return lets the normal compilation run instead.
 */
const EXECUTE_RUN = 1 << 12;

/** 1 for each prefix byte. */
const IS_PREFIX = new Uint8Array(256);
for (const p of [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]) IS_PREFIX[p] = 1;

/** Consumes prefixes; returns the opcode byte. More than 14 prefixes make a 16-byte instruction: #GP(0). */
function prefixes(cpu: Cpu, op: number): number {
  let n = 0;
  let lock = false;
  while (IS_PREFIX[op]) {
    switch (op) {
      case 0x26: cpu.segOvr = ES; break;
      case 0x2e: cpu.segOvr = CS; break;
      case 0x36: cpu.segOvr = SS; break;
      case 0x3e: cpu.segOvr = DS; break;
      case 0x64: cpu.segOvr = FS; break;
      case 0x65: cpu.segOvr = GS; break;
      case 0x66: cpu.o32 = !cpu.csD32; break;
      case 0x67: cpu.a32 = !cpu.csD32; break;
      case 0xf0: lock = true; break;
      case 0xf2: cpu.rep = 2; break;
      default: cpu.rep = 1; break;
    }
    if (++n >= 15) cpu.fault(GP, 0);
    op = cpu.fetch8();
  }
  if (lock) checkLock(cpu, op);
  return op;
}

/**
 * LOCK is only legal on the read-modify-write instructions with a memory destination
 * (SDM vol. 2, LOCK); anything else raises #UD. Peeks at the ModRM without consuming it.
 */
function checkLock(cpu: Cpu, op: number): void {
  const save = cpu.eip;
  let m: number;
  let ok = false;
  if (op === 0x0f) {
    const op2 = cpu.fetch8();
    m = cpu.fetch8();
    ok = m < 0xc0 && (op2 === 0xab || op2 === 0xb3 || op2 === 0xbb || op2 === 0xb0 || op2 === 0xb1 ||
      op2 === 0xc0 || op2 === 0xc1 || (op2 === 0xc7 && ((m >> 3) & 7) === 1) || (op2 === 0xba && ((m >> 3) & 7) >= 5));
  } else {
    m = cpu.fetch8();
    const reg = (m >> 3) & 7;
    if (m < 0xc0) {
      if (op < 0x40 && (op & 7) < 2 && (op >> 3) !== 7) ok = true;
      else if (op >= 0x80 && op <= 0x83) ok = reg !== 7;
      else if (op === 0x86 || op === 0x87) ok = true;
      else if (op === 0xf6 || op === 0xf7) ok = reg === 2 || reg === 3;
      else if (op === 0xfe || op === 0xff) ok = reg < 2;
    }
  }
  cpu.eip = save;
  if (!ok) cpu.fault(UD, -1);
}

// ---- ALU: ADD OR ADC SBB AND SUB XOR CMP, six forms each ----
function ALU_EbGb(cpu: Cpu, op: number): void {
  ALU_EbGb_m(cpu, op, modrm(cpu));
}

/** ALU_EbGb with its ModRM `m` decoded (by execute). */
function ALU_EbGb_m(cpu: Cpu, op: number, m: number): void {
  const r = alu(cpu, op >> 3, rdE8(cpu, m), rdG8(cpu, m), SIGN8);
  if (op !== 0x38) wrE8(cpu, m, r);
}

function ALU_EvGv(cpu: Cpu, op: number): void {
  ALU_EvGv_m(cpu, op, modrm(cpu));
}

/** ALU_EvGv with its ModRM `m` decoded (by execute). */
function ALU_EvGv_m(cpu: Cpu, op: number, m: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) {
    const r = alu(cpu, op >> 3, rdE32(cpu, m), r32[(m >> 3) & 7], SIGN32);
    if (op !== 0x39) wrE32(cpu, m, r);
  } else {
    const r = alu(cpu, op >> 3, rdE16(cpu, m), cpu.reg16[((m >> 3) & 7) << 1], SIGN16);
    if (op !== 0x39) wrE16(cpu, m, r);
  }
}

function ALU_GbEb(cpu: Cpu, op: number): void {
  ALU_GbEb_m(cpu, op, modrm(cpu));
}

/** ALU_GbEb with its ModRM `m` decoded (by execute). */
function ALU_GbEb_m(cpu: Cpu, op: number, m: number): void {
  const r = alu(cpu, op >> 3, rdG8(cpu, m), rdE8(cpu, m), SIGN8);
  if (op !== 0x3a) wrG8(cpu, m, r);
}

function ALU_GvEv(cpu: Cpu, op: number): void {
  ALU_GvEv_m(cpu, op, modrm(cpu));
}

/** ALU_GvEv with its ModRM `m` decoded (by execute). */
function ALU_GvEv_m(cpu: Cpu, op: number, m: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) {
    const r = alu(cpu, op >> 3, r32[(m >> 3) & 7], rdE32(cpu, m), SIGN32);
    if (op !== 0x3b) r32[(m >> 3) & 7] = r;
  } else {
    const r = alu(cpu, op >> 3, cpu.reg16[((m >> 3) & 7) << 1], rdE16(cpu, m), SIGN16);
    if (op !== 0x3b) cpu.reg16[((m >> 3) & 7) << 1] = r;
  }
}

function ALU_ALIb(cpu: Cpu, op: number): void {
  const r = alu(cpu, op >> 3, cpu.reg8[0], cpu.fetch8(), SIGN8);
  if (op !== 0x3c) cpu.reg8[0] = r;
}

function ALU_eAXIz(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) {
    const r = alu(cpu, op >> 3, r32[EAX], cpu.fetch32(), SIGN32);
    if (op !== 0x3d) r32[EAX] = r;
  } else {
    const r = alu(cpu, op >> 3, cpu.reg16[0], cpu.fetch16(), SIGN16);
    if (op !== 0x3d) cpu.reg16[0] = r;
  }
}

// ---- Segment register push/pop ----
function PUSH_ES(cpu: Cpu, op: number): void {
  pushV(cpu, cpu.sreg[ES]);
}

function POP_ES(cpu: Cpu, op: number): void {
  popSegment(cpu, ES);
}

function PUSH_CS(cpu: Cpu, op: number): void {
  pushV(cpu, cpu.sreg[CS]);
}

function PUSH_SS(cpu: Cpu, op: number): void {
  pushV(cpu, cpu.sreg[SS]);
}

function POP_SS(cpu: Cpu, op: number): void {
  popSegment(cpu, SS);
}

function PUSH_DS(cpu: Cpu, op: number): void {
  pushV(cpu, cpu.sreg[DS]);
}

function POP_DS(cpu: Cpu, op: number): void {
  popSegment(cpu, DS);
}

/** Segment overrides, 66, 67, LOCK, REP/REPNE: see prefixed(). */
function PREFIXES(cpu: Cpu, op: number): void {
  prefixed(cpu, op);
}

// ---- BCD ----
function DAA(cpu: Cpu, op: number): void {
  daa(cpu);
}

function DAS(cpu: Cpu, op: number): void {
  das(cpu);
}

function AAA(cpu: Cpu, op: number): void {
  aaa(cpu, false);
}

function AAS(cpu: Cpu, op: number): void {
  aaa(cpu, true);
}

// ---- INC/DEC/PUSH/POP register ----
function INC_DEC_Zv(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  const reg = op & 7;
  if (cpu.o32 === true) r32[reg] = incdec(cpu, r32[reg], op >= 0x48, SIGN32);
  else cpu.reg16[reg << 1] = incdec(cpu, cpu.reg16[reg << 1], op >= 0x48, SIGN16);
}

function PUSH_Zv(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) cpu.push32(r32[op & 7]); else cpu.push16(cpu.reg16[(op & 7) << 1]);
}

function POP_Zv(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) { const v = cpu.pop32(); r32[op & 7] = v; }
  else { const v = cpu.pop16(); cpu.reg16[(op & 7) << 1] = v; }
}

function PUSHA(cpu: Cpu, op: number): void {
  cpu.saveEsp(); pusha(cpu); cpu.espToRestore = -1;
}

function POPA(cpu: Cpu, op: number): void {
  cpu.saveEsp(); popa(cpu); cpu.espToRestore = -1;
}

function BOUND_GvMa(cpu: Cpu, op: number): void {
  bound(cpu);
}

function ARPL_EwGw(cpu: Cpu, op: number): void {
  arpl(cpu);
}

function PUSH_Iz(cpu: Cpu, op: number): void {
  pushV(cpu, fetchIv(cpu));
}

function IMUL_GvEvIz(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const a = rdEv(cpu, m);
  wrGv(cpu, m, imulTrunc(cpu, a, fetchIv(cpu), cpu.o32 === true ? 32 : 16));
}

function PUSH_Ib(cpu: Cpu, op: number): void {
  pushV(cpu, maskV(cpu, fetchIbSigned(cpu)));
}

function IMUL_GvEvIb(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const a = rdEv(cpu, m);
  wrGv(cpu, m, imulTrunc(cpu, a, maskV(cpu, fetchIbSigned(cpu)), cpu.o32 === true ? 32 : 16));
}

function INSB(cpu: Cpu, op: number): void {
  stringIns(cpu, 1);
}

function INSW(cpu: Cpu, op: number): void {
  stringIns(cpu, cpu.o32 === true ? 4 : 2);
}

function OUTSB(cpu: Cpu, op: number): void {
  stringOuts(cpu, 1);
}

function OUTSW(cpu: Cpu, op: number): void {
  stringOuts(cpu, cpu.o32 === true ? 4 : 2);
}

// ---- Jcc rel8 ----
function Jcc_Jb(cpu: Cpu, op: number): void {
  const disp = fetchIbSigned(cpu);
  if (condition(cpu, op & 15)) jumpRelative(cpu, disp);
}

// ---- Group 1: ALU r/m, imm ----
function GRP1_EbIb(cpu: Cpu, op: number): void {
  GRP1_EbIb_m(cpu, op, modrm(cpu));
}

/** GRP1_EbIb with its ModRM `m` decoded (by execute). */
function GRP1_EbIb_m(cpu: Cpu, op: number, m: number): void {
  const a = rdE8(cpu, m);
  const r = alu(cpu, (m >> 3) & 7, a, cpu.fetch8(), SIGN8);
  if (((m >> 3) & 7) !== 7) wrE8(cpu, m, r);
}

function GRP1_EvIz(cpu: Cpu, op: number): void {
  GRP1_EvIz_m(cpu, op, modrm(cpu));
}

/** GRP1_EvIz with its ModRM `m` decoded (by execute). */
function GRP1_EvIz_m(cpu: Cpu, op: number, m: number): void {
  const a = rdEv(cpu, m);
  const imm = op === 0x81 ? fetchIv(cpu) : maskV(cpu, fetchIbSigned(cpu));
  const r = alu(cpu, (m >> 3) & 7, a, imm, signV(cpu));
  if (((m >> 3) & 7) !== 7) wrEv(cpu, m, r);
}

function TEST_EbGb(cpu: Cpu, op: number): void {
  TEST_EbGb_m(cpu, op, modrm(cpu));
}

/** TEST_EbGb with its ModRM `m` decoded (by execute). */
function TEST_EbGb_m(cpu: Cpu, op: number, m: number): void {
  logic(cpu, rdE8(cpu, m) & rdG8(cpu, m), SIGN8);
}

function TEST_EvGv(cpu: Cpu, op: number): void {
  TEST_EvGv_m(cpu, op, modrm(cpu));
}

/** TEST_EvGv with its ModRM `m` decoded (by execute). */
function TEST_EvGv_m(cpu: Cpu, op: number, m: number): void {
  logic(cpu, maskV(cpu, rdEv(cpu, m) & rdGv(cpu, m)), signV(cpu));
}

function XCHG_EbGb(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const a = rdE8(cpu, m);
  wrE8(cpu, m, rdG8(cpu, m));
  wrG8(cpu, m, a);
}

function XCHG_EvGv(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const a = rdEv(cpu, m);
  wrEv(cpu, m, rdGv(cpu, m));
  wrGv(cpu, m, a);
}

// ---- MOV ----
function MOV_EbGb(cpu: Cpu, op: number): void {
  MOV_EbGb_m(cpu, op, modrm(cpu));
}

/** MOV_EbGb with its ModRM `m` decoded (by execute). */
function MOV_EbGb_m(cpu: Cpu, op: number, m: number): void {
  wrE8(cpu, m, rdG8(cpu, m));
}

function MOV_EvGv(cpu: Cpu, op: number): void {
  MOV_EvGv_m(cpu, op, modrm(cpu));
}

/** MOV_EvGv with its ModRM `m` decoded (by execute). */
function MOV_EvGv_m(cpu: Cpu, op: number, m: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) wrE32(cpu, m, r32[(m >> 3) & 7]); else wrE16(cpu, m, cpu.reg16[((m >> 3) & 7) << 1]);
}

function MOV_GbEb(cpu: Cpu, op: number): void {
  MOV_GbEb_m(cpu, op, modrm(cpu));
}

/** MOV_GbEb with its ModRM `m` decoded (by execute). */
function MOV_GbEb_m(cpu: Cpu, op: number, m: number): void {
  wrG8(cpu, m, rdE8(cpu, m));
}

function MOV_GvEv(cpu: Cpu, op: number): void {
  MOV_GvEv_m(cpu, op, modrm(cpu));
}

/** MOV_GvEv with its ModRM `m` decoded (by execute). */
function MOV_GvEv_m(cpu: Cpu, op: number, m: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) r32[(m >> 3) & 7] = rdE32(cpu, m); else cpu.reg16[((m >> 3) & 7) << 1] = rdE16(cpu, m);
}

function MOV_EwSw(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  const m = modrm(cpu);
  const s = (m >> 3) & 7;
  if (s > 5) cpu.fault(UD, -1);
  // A register destination with 32-bit operand size gets the selector zero-extended (P6 and later).
  if (m >= 0xc0 && cpu.o32 === true) r32[m & 7] = cpu.sreg[s]; else wrE16(cpu, m, cpu.sreg[s]);
}

function LEA_GvM(cpu: Cpu, op: number): void {
  const m = modrmMem(cpu);
  wrGv(cpu, m, maskV(cpu, cpu.eaOff));
}

function MOV_SwEw(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const s = (m >> 3) & 7;
  if (s > 5 || s === CS) cpu.fault(UD, -1);
  loadSegment(cpu, s, rdE16(cpu, m));
  if (s === SS) cpu.inhibitIrqUntil = cpu.instructions + 1;
}

function POP_Ev(cpu: Cpu, op: number): void {
  // 8F /1-/7 are undefined: #UD before anything, the pop included. For /0 the address
  // is computed after ESP is incremented (SDM vol. 2, POP), so the pop comes between
  // the ModRM byte and the rest of the address (SIB, displacement).
  const m = cpu.fetch8();
  if (((m >> 3) & 7) !== 0) cpu.fault(UD, -1);
  cpu.saveEsp();
  const v = popV(cpu);
  decodeEA(cpu, m);
  wrEv(cpu, m, v);
  cpu.espToRestore = -1;
}

function NOP(cpu: Cpu, op: number): void {
  // NOP, and PAUSE with F3 (not F2): the spin-wait hint costs what the cost table says,
  // charged beyond the instruction's own cycles as a device's latency is.
  if (cpu.rep === 1) cpu.left -= cpu.pauseCycles - cpu.instructionCycles;
}

function XCHG_ZveAX(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  const reg = op & 7;
  if (cpu.o32 === true) { const t = r32[EAX]; r32[EAX] = r32[reg]; r32[reg] = t; }
  else { const t = cpu.reg16[0]; cpu.reg16[0] = cpu.reg16[reg << 1]; cpu.reg16[reg << 1] = t; }
}

function CBW(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) r32[EAX] = (cpu.reg16[0] << 16) >> 16; else cpu.reg16[0] = (cpu.reg8[0] << 24) >> 24;
}

function CWD(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) r32[EDX] = r32[EAX] >> 31; else cpu.reg16[EDX << 1] = (cpu.reg16[0] & 0x8000) ? 0xffff : 0;
}

function CALLF_Ap(cpu: Cpu, op: number): void {
  const off = fetchIv(cpu);
  const sel = cpu.fetch16();
  farCall(cpu, sel, off, cpu.o32);
}

export function WAIT(cpu: Cpu, op: number): void {
  // WAIT/FWAIT: #NM when MP and TS are both set (SDM vol. 3, table 2-2)
  if ((cpu.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) cpu.fault(NM, -1);
  cpu.fpu.wait(cpu); // a pending unmasked x87 exception: #MF, or FERR# (x87.ts)
}

function PUSHF(cpu: Cpu, op: number): void {
  pushf(cpu);
}

function POPF(cpu: Cpu, op: number): void {
  popf(cpu);
}

function SAHF(cpu: Cpu, op: number): void {
  sahf(cpu);
}

function LAHF(cpu: Cpu, op: number): void {
  cpu.reg8[1] = cpu.getEflags() & 0xff;
}

// ---- MOV moffs ----
function MOV_ALOb(cpu: Cpu, op: number): void {
  cpu.reg8[0] = cpu.read8(dataSeg(cpu), fetchMoffs(cpu));
}

function MOV_eAXOv(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  const off = fetchMoffs(cpu);
  if (cpu.o32 === true) r32[EAX] = cpu.read32(dataSeg(cpu), off); else cpu.reg16[0] = cpu.read16(dataSeg(cpu), off);
}

function MOV_ObAL(cpu: Cpu, op: number): void {
  cpu.write8(dataSeg(cpu), fetchMoffs(cpu), cpu.reg8[0]);
}

function MOV_OveAX(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  const off = fetchMoffs(cpu);
  if (cpu.o32 === true) cpu.write32(dataSeg(cpu), off, r32[EAX]); else cpu.write16(dataSeg(cpu), off, cpu.reg16[0]);
}

// ---- String instructions ----
function MOVSB(cpu: Cpu, op: number): void {
  stringMovs(cpu, 1);
}

function MOVSW(cpu: Cpu, op: number): void {
  stringMovs(cpu, cpu.o32 === true ? 4 : 2);
}

function CMPSB(cpu: Cpu, op: number): void {
  stringCmps(cpu, 1);
}

function CMPSW(cpu: Cpu, op: number): void {
  stringCmps(cpu, cpu.o32 === true ? 4 : 2);
}

function TEST_ALIb(cpu: Cpu, op: number): void {
  logic(cpu, cpu.reg8[0] & cpu.fetch8(), SIGN8);
}

function TEST_eAXIz(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  logic(cpu, maskV(cpu, (cpu.o32 === true ? r32[EAX] : cpu.reg16[0]) & fetchIv(cpu)), signV(cpu));
}

function STOSB(cpu: Cpu, op: number): void {
  stringStos(cpu, 1);
}

function STOSW(cpu: Cpu, op: number): void {
  stringStos(cpu, cpu.o32 === true ? 4 : 2);
}

function LODSB(cpu: Cpu, op: number): void {
  stringLods(cpu, 1);
}

function LODSW(cpu: Cpu, op: number): void {
  stringLods(cpu, cpu.o32 === true ? 4 : 2);
}

function SCASB(cpu: Cpu, op: number): void {
  stringScas(cpu, 1);
}

function SCASW(cpu: Cpu, op: number): void {
  stringScas(cpu, cpu.o32 === true ? 4 : 2);
}

// ---- MOV reg, imm ----
function MOV_ZbIb(cpu: Cpu, op: number): void {
  cpu.reg8[R8[op & 7]] = cpu.fetch8();
}

function MOV_ZvIv(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  if (cpu.o32 === true) r32[op & 7] = cpu.fetch32(); else cpu.reg16[(op & 7) << 1] = cpu.fetch16();
}

// ---- Group 2: shifts and rotates ----
function GRP2_EbIb(cpu: Cpu, op: number): void {
  GRP2_EbIb_m(cpu, op, modrm(cpu));
}

/** GRP2_EbIb with its ModRM `m` decoded (by execute). */
function GRP2_EbIb_m(cpu: Cpu, op: number, m: number): void {
  const a = rdE8(cpu, m);
  const c = cpu.fetch8() & 31;
  shiftE8(cpu, m, a, c);
}

function GRP2_EvIb(cpu: Cpu, op: number): void {
  GRP2_EvIb_m(cpu, op, modrm(cpu));
}

/** GRP2_EvIb with its ModRM `m` decoded (by execute). */
function GRP2_EvIb_m(cpu: Cpu, op: number, m: number): void {
  const a = rdEv(cpu, m);
  const c = cpu.fetch8() & 31;
  shiftEv(cpu, m, a, c);
}

function GRP2_Eb1(cpu: Cpu, op: number): void {
  GRP2_Eb1_m(cpu, op, modrm(cpu));
}

/** GRP2_Eb1 with its ModRM `m` decoded (by execute). */
function GRP2_Eb1_m(cpu: Cpu, op: number, m: number): void {
  shiftE8(cpu, m, rdE8(cpu, m), 1);
}

function GRP2_Ev1(cpu: Cpu, op: number): void {
  GRP2_Ev1_m(cpu, op, modrm(cpu));
}

/** GRP2_Ev1 with its ModRM `m` decoded (by execute). */
function GRP2_Ev1_m(cpu: Cpu, op: number, m: number): void {
  shiftEv(cpu, m, rdEv(cpu, m), 1);
}

function GRP2_EbCL(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  shiftE8(cpu, m, rdE8(cpu, m), cpu.reg8[4] & 31);
}

function GRP2_EvCL(cpu: Cpu, op: number): void {
  GRP2_EvCL_m(cpu, op, modrm(cpu));
}

/** GRP2_EvCL with its ModRM `m` decoded (by execute). */
function GRP2_EvCL_m(cpu: Cpu, op: number, m: number): void {
  shiftEv(cpu, m, rdEv(cpu, m), cpu.reg8[4] & 31);
}

// ---- Near returns ----
function RET_Iw(cpu: Cpu, op: number): void {
  const n = cpu.fetch16();
  const ip = popV(cpu);
  cpu.setSP(cpu.getSP() + n);
  cpu.eip = ip >>> 0;
}

function RET(cpu: Cpu, op: number): void {
  const ip = popV(cpu);
  cpu.eip = ip >>> 0;
}

function LES_GvMp(cpu: Cpu, op: number): void {
  loadFarPointer(cpu, ES);
}

function LDS_GvMp(cpu: Cpu, op: number): void {
  loadFarPointer(cpu, DS);
}

function MOV_EbIb(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  if (((m >> 3) & 7) !== 0) cpu.fault(UD, -1);
  wrE8(cpu, m, cpu.fetch8());
}

function MOV_EvIz(cpu: Cpu, op: number): void {
  MOV_EvIz_m(cpu, op, modrm(cpu));
}

/** MOV_EvIz with its ModRM `m` decoded (by execute). */
function MOV_EvIz_m(cpu: Cpu, op: number, m: number): void {
  if (((m >> 3) & 7) !== 0) cpu.fault(UD, -1);
  wrEv(cpu, m, fetchIv(cpu));
}

function ENTER_IwIb(cpu: Cpu, op: number): void {
  cpu.saveEsp(); enter(cpu); cpu.espToRestore = -1;
}

function LEAVE(cpu: Cpu, op: number): void {
  cpu.saveEsp(); leave(cpu); cpu.espToRestore = -1;
}

function RETF_Iw(cpu: Cpu, op: number): void {
  const n = cpu.fetch16();
  farReturn(cpu, cpu.o32, n);
}

function RETF(cpu: Cpu, op: number): void {
  farReturn(cpu, cpu.o32, 0);
}

function INT3(cpu: Cpu, op: number): void {
  deliverInterrupt(cpu, BP, true, -1, false);
}

function INT_Ib(cpu: Cpu, op: number): void {
  const v = cpu.fetch8();
  // In virtual-8086 mode INT n is IOPL-sensitive (INT3 and INTO are not): SDM vol. 3, 20.2.7.
  if (cpu.flags & VM && (cpu.flags & IOPL) !== IOPL) cpu.fault(GP, 0);
  deliverInterrupt(cpu, v, true, -1, false);
}

function INTO(cpu: Cpu, op: number): void {
  if (cpu.getOF()) deliverInterrupt(cpu, OFV, true, -1, false);
}

function IRET(cpu: Cpu, op: number): void {
  iret(cpu, cpu.o32);
}

function AAM_Ib(cpu: Cpu, op: number): void {
  aam(cpu, cpu.fetch8());
}

function AAD_Ib(cpu: Cpu, op: number): void {
  aad(cpu, cpu.fetch8());
}

function SALC(cpu: Cpu, op: number): void {
  cpu.reg8[0] = cpu.getCF() ? 0xff : 0; return; // SALC (undocumented, present on all P6)
}

function XLAT(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  const base = cpu.a32 === true ? r32[EBX] + cpu.reg8[0] : (cpu.reg16[EBX << 1] + cpu.reg8[0]) & 0xffff;
  cpu.reg8[0] = cpu.read8(dataSeg(cpu), base);
}

export function ESC_x87(cpu: Cpu, op: number): void {
  // #NM first when CR0.EM or CR0.TS is set (SDM vol. 3, table 2-2); the rest is x87.ts.
  if (cpu.cr0 & (CR0_EM | CR0_TS)) cpu.fault(NM, -1);
  const m = cpu.fetch8();
  decodeEA(cpu, m);
  x87(cpu, op, m);
}

// ---- LOOP and JCXZ ----
function LOOPcc_Jb(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  const disp = fetchIbSigned(cpu);
  let n: number;
  if (cpu.a32 === true) { n = (r32[ECX] - 1) | 0; r32[ECX] = n; } else { n = (cpu.reg16[ECX << 1] - 1) & 0xffff; cpu.reg16[ECX << 1] = n; }
  let take = n !== 0;
  if (op === 0xe0) take = take && !cpu.getZF();
  else if (op === 0xe1) take = take && cpu.getZF();
  if (take) jumpRelative(cpu, disp);
}

function JCXZ_Jb(cpu: Cpu, op: number): void {
  const disp = fetchIbSigned(cpu);
  if (getCount(cpu) === 0) jumpRelative(cpu, disp);
}

// ---- Port I/O ----
function IN_ALIb(cpu: Cpu, op: number): void {
  const p = cpu.fetch8();
  cpu.reg8[0] = portIn(cpu, p, 1);
}

function IN_eAXIb(cpu: Cpu, op: number): void {
  const p = cpu.fetch8();
  inAcc(cpu, p);
}

function OUT_IbAL(cpu: Cpu, op: number): void {
  const p = cpu.fetch8();
  portOut(cpu, p, 1, cpu.reg8[0]);
}

function OUT_IbeAX(cpu: Cpu, op: number): void {
  const p = cpu.fetch8();
  outAcc(cpu, p);
}

function IN_ALDX(cpu: Cpu, op: number): void {
  cpu.reg8[0] = portIn(cpu, cpu.reg16[EDX << 1], 1);
}

function IN_eAXDX(cpu: Cpu, op: number): void {
  inAcc(cpu, cpu.reg16[EDX << 1]);
}

function OUT_DXAL(cpu: Cpu, op: number): void {
  portOut(cpu, cpu.reg16[EDX << 1], 1, cpu.reg8[0]);
}

function OUT_DXeAX(cpu: Cpu, op: number): void {
  outAcc(cpu, cpu.reg16[EDX << 1]);
}

// ---- Near and far CALL/JMP ----
function CALL_Jz(cpu: Cpu, op: number): void {
  const disp = fetchIv(cpu);
  pushV(cpu, cpu.eip);
  jumpRelative(cpu, disp);
}

function JMP_Jz(cpu: Cpu, op: number): void {
  jumpRelative(cpu, cpu.o32 === true ? cpu.fetch32() : (cpu.fetch16() << 16) >> 16);
}

function JMPF_Ap(cpu: Cpu, op: number): void {
  const off = fetchIv(cpu);
  const sel = cpu.fetch16();
  farJump(cpu, sel, off, cpu.o32);
}

function JMP_Jb(cpu: Cpu, op: number): void {
  jumpRelative(cpu, fetchIbSigned(cpu));
}

function INT1(cpu: Cpu, op: number): void {
  deliverInterrupt(cpu, DB, false, -1, false); return; // INT1/ICEBP: no gate DPL check
}

function HLT(cpu: Cpu, op: number): void {
  if (cpu.protectedMode && cpu.cpl !== 0) cpu.fault(GP, 0);
  cpu.halt();
}

function CMC(cpu: Cpu, op: number): void {
  cpu.setCF(cpu.getCF() === 0);
}

function GRP3_Eb(cpu: Cpu, op: number): void {
  group3(cpu, true);
}

function GRP3_Ev(cpu: Cpu, op: number): void {
  group3(cpu, false);
}

function CLC(cpu: Cpu, op: number): void {
  cpu.setCF(false);
}

function STC(cpu: Cpu, op: number): void {
  cpu.setCF(true);
}

function CLI(cpu: Cpu, op: number): void {
  if (cpu.protectedMode && cpu.cpl > ((cpu.flags & IOPL) >>> 12)) cpu.fault(GP, 0);
  cpu.flags &= ~IF;
}

function STI(cpu: Cpu, op: number): void {
  if (cpu.protectedMode && cpu.cpl > ((cpu.flags & IOPL) >>> 12)) cpu.fault(GP, 0);
  if (!(cpu.flags & IF)) cpu.inhibitIrqUntil = cpu.instructions + 1;
  cpu.flags |= IF;
}

function CLD(cpu: Cpu, op: number): void {
  cpu.flags &= ~DF;
}

function STD(cpu: Cpu, op: number): void {
  cpu.flags |= DF;
}

function GRP4_Eb(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const reg = (m >> 3) & 7;
  if (reg > 1) cpu.fault(UD, -1);
  wrE8(cpu, m, incdec(cpu, rdE8(cpu, m), reg === 1, SIGN8));
}

function GRP5_Ev(cpu: Cpu, op: number): void {
  group5(cpu);
}

function INVALID(cpu: Cpu, op: number): void {
  cpu.fault(UD, -1);
}


// ======================================================================
// The 0F page
// ======================================================================

function GRP6(cpu: Cpu, op: number): void {
  group6(cpu);
}

function GRP7(cpu: Cpu, op: number): void {
  group7(cpu);
}

function LAR_LSL_GvEw(cpu: Cpu, op: number): void {
  if (!cpu.protectedMode || cpu.flags & VM) cpu.fault(UD, -1); // not recognized in real or virtual-8086 mode
  const m = modrm(cpu);
  const v = inspectSelector(cpu, rdE16(cpu, m), op === 0x02 ? 'lar' : 'lsl');
  cpu.materializeFlags();
  if (v < 0) { cpu.flags &= ~ZF; return; }
  cpu.flags |= ZF;
  wrGv(cpu, m, maskV(cpu, v));
}

function CLTS(cpu: Cpu, op: number): void {
  if (cpu.cpl !== 0) cpu.fault(GP, 0);
  cpu.cr0 &= ~CR0_TS;
}

function INVD_WBINVD(cpu: Cpu, op: number): void {
  if (cpu.cpl !== 0) cpu.fault(GP, 0);
  return; // INVD/WBINVD: no caches are modelled
}

function UD2(cpu: Cpu, op: number): void {
  cpu.fault(UD, -1); return; // UD2
}

function NOP_Ev(cpu: Cpu, op: number): void {
  modrm(cpu); // 0F 19-1F: the P6's reserved NOPs (NOP r/m is 0F 1F /0); 0F 18 came later with SSE's PREFETCH
}

function MOV_CR_DR(cpu: Cpu, op: number): void {
  moveControl(cpu, op);
}

function WRMSR(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  // WRMSR
  if (cpu.cpl !== 0) cpu.fault(GP, 0);
  const msr = r32[ECX];
  if (msr === MSR_TSC) cpu.tscOffset = ((r32[EDX] >>> 0) * 4294967296 + (r32[EAX] >>> 0)) - cpu.cycles;
  else if (msr === MSR_BIOS_SIGN_ID) { cpu.biosSignLo = r32[EAX]; cpu.biosSignHi = r32[EDX]; }
  else if (msr === MSR_APIC_BASE && cpu.bus.localApic) {
    // Reserved bits (0-7, 9-10, and 32 up: 32-bit physical addresses here) raise #GP.
    if ((r32[EAX] & 0x6ff) !== 0 || r32[EDX] !== 0) cpu.fault(GP, 0);
    cpu.bus.localApic.baseMsr = r32[EAX] >>> 0;
  }
  else cpu.fault(GP, 0); // every other MSR, IA32_PLATFORM_ID (read-only) included
}

export function RDTSC(cpu: Cpu, op: number): void {
  { // RDTSC
  if ((cpu.cr4 & 4) && cpu.cpl !== 0 && cpu.protectedMode) cpu.fault(GP, 0);
  readTsc(cpu);
  return;
}
}

function RDMSR(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  // RDMSR
  if (cpu.cpl !== 0) cpu.fault(GP, 0);
  const msr = r32[ECX];
  if (msr === MSR_TSC) readTsc(cpu);
  else if (msr === MSR_PLATFORM_ID) { r32[EAX] = 0; r32[EDX] = 0; }
  else if (msr === MSR_BIOS_SIGN_ID) { r32[EAX] = cpu.biosSignLo; r32[EDX] = cpu.biosSignHi; }
  else if (msr === MSR_APIC_BASE && cpu.bus.localApic) { r32[EAX] = cpu.bus.localApic.baseMsr; r32[EDX] = 0; }
  else cpu.fault(GP, 0);
}

function CMOVcc_GvEv(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const v = rdEv(cpu, m); // the source is read (and may fault) whatever the condition
  if (condition(cpu, op & 15)) wrGv(cpu, m, v);
}

function Jcc_Jz(cpu: Cpu, op: number): void {
  const disp = cpu.o32 === true ? cpu.fetch32() : (cpu.fetch16() << 16) >> 16;
  if (condition(cpu, op & 15)) jumpRelative(cpu, disp);
}

function SETcc_Eb(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  wrE8(cpu, m, condition(cpu, op & 15) ? 1 : 0);
}

function PUSH_FS(cpu: Cpu, op: number): void {
  pushV(cpu, cpu.sreg[FS]);
}

function POP_FS(cpu: Cpu, op: number): void {
  popSegment(cpu, FS);
}

function CPUID(cpu: Cpu, op: number): void {
  cpuid(cpu);
}

function BT_EvGv(cpu: Cpu, op: number): void {
  bitTest(cpu, 0, false);
}

function SHLD_SHRD(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const a = rdEv(cpu, m);
  const count = (op & 1 ? cpu.reg8[4] : cpu.fetch8()) & 31;
  if (count === 0) return;
  wrEv(cpu, m, doubleShift(cpu, op < 0xa8, a, rdGv(cpu, m), count, cpu.o32 === true ? 32 : 16));
}

function PUSH_GS(cpu: Cpu, op: number): void {
  pushV(cpu, cpu.sreg[GS]);
}

function POP_GS(cpu: Cpu, op: number): void {
  popSegment(cpu, GS);
}

function BTS_EvGv(cpu: Cpu, op: number): void {
  bitTest(cpu, 1, false);
}

function IMUL_GvEv(cpu: Cpu, op: number): void {
  IMUL_GvEv_m(cpu, op, modrm(cpu));
}

/** IMUL_GvEv with its ModRM `m` decoded (by execute). */
function IMUL_GvEv_m(cpu: Cpu, op: number, m: number): void {
  wrGv(cpu, m, imulTrunc(cpu, rdGv(cpu, m), rdEv(cpu, m), cpu.o32 === true ? 32 : 16));
}

function CMPXCHG_EbGb(cpu: Cpu, op: number): void {
  { // CMPXCHG Eb, Gb
  const m = modrm(cpu);
  const d = rdE8(cpu, m);
  sub(cpu, cpu.reg8[0], d, SIGN8);
  if (cpu.reg8[0] === d) wrE8(cpu, m, rdG8(cpu, m));
  else { wrE8(cpu, m, d); cpu.reg8[0] = d; }
  return;
}
}

function CMPXCHG_EvGv(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  { // CMPXCHG Ev, Gv: the destination is written back either way (SDM vol. 2)
  const m = modrm(cpu);
  const d = rdEv(cpu, m);
  const acc = cpu.o32 === true ? r32[EAX] : cpu.reg16[0];
  sub(cpu, acc, d, signV(cpu));
  if (acc === d) wrEv(cpu, m, rdGv(cpu, m));
  else { wrEv(cpu, m, d); if (cpu.o32 === true) r32[EAX] = d; else cpu.reg16[0] = d; }
  return;
}
}

function LSS_GvMp(cpu: Cpu, op: number): void {
  loadFarPointer(cpu, SS);
}

function BTR_EvGv(cpu: Cpu, op: number): void {
  bitTest(cpu, 2, false);
}

function LFS_GvMp(cpu: Cpu, op: number): void {
  loadFarPointer(cpu, FS);
}

function LGS_GvMp(cpu: Cpu, op: number): void {
  loadFarPointer(cpu, GS);
}

function MOVZX_GvEb(cpu: Cpu, op: number): void {
  MOVZX_GvEb_m(cpu, op, modrm(cpu));
}

/** MOVZX_GvEb with its ModRM `m` decoded (by execute). */
function MOVZX_GvEb_m(cpu: Cpu, op: number, m: number): void {
  wrGv(cpu, m, rdE8(cpu, m));
}

function MOVZX_GvEw(cpu: Cpu, op: number): void {
  MOVZX_GvEw_m(cpu, op, modrm(cpu));
}

/** MOVZX_GvEw with its ModRM `m` decoded (by execute). */
function MOVZX_GvEw_m(cpu: Cpu, op: number, m: number): void {
  wrGv(cpu, m, rdE16(cpu, m));
}

function GRP8_EvIb(cpu: Cpu, op: number): void {
  bitTest(cpu, -1, true);
}

function BTC_EvGv(cpu: Cpu, op: number): void {
  bitTest(cpu, 3, false);
}

function BSF_BSR_GvEv(cpu: Cpu, op: number): void {
  { // BSF/BSR: a zero source sets ZF and leaves the destination alone
  const m = modrm(cpu);
  const v = cpu.o32 === true ? rdE32(cpu, m) : rdE16(cpu, m);
  if (v === 0) {
    logic(cpu, 0, signV(cpu));
    return;
  }
  const idx = op === 0xbc ? 31 - Math.clz32(v & -v) : 31 - Math.clz32(v);
  wrGv(cpu, m, idx);
  logic(cpu, idx | 0x100, SIGN32); // ZF=0; SF/PF undefined
  return;
}
}

function MOVSX_GvEb(cpu: Cpu, op: number): void {
  MOVSX_GvEb_m(cpu, op, modrm(cpu));
}

/** MOVSX_GvEb with its ModRM `m` decoded (by execute). */
function MOVSX_GvEb_m(cpu: Cpu, op: number, m: number): void {
  wrGv(cpu, m, maskV(cpu, (rdE8(cpu, m) << 24) >> 24));
}

function MOVSX_GvEw(cpu: Cpu, op: number): void {
  MOVSX_GvEw_m(cpu, op, modrm(cpu));
}

/** MOVSX_GvEw with its ModRM `m` decoded (by execute). */
function MOVSX_GvEw_m(cpu: Cpu, op: number, m: number): void {
  wrGv(cpu, m, maskV(cpu, (rdE16(cpu, m) << 16) >> 16));
}

/**
 * XADD (SDM vol. 2): TEMP = SRC + DEST; SRC = DEST; DEST = TEMP. DEST is written last,
 * so XADD r, r with one register leaves the sum; a memory DEST is written first so that
 * a fault there leaves the register untouched.
 */
function XADD_EbGb(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const d = rdE8(cpu, m), s = rdG8(cpu, m);
  const r = add(cpu, d, s, SIGN8);
  if (m >= 0xc0) { wrG8(cpu, m, d); wrE8(cpu, m, r); } else { wrE8(cpu, m, r); wrG8(cpu, m, d); }
}

function XADD_EvGv(cpu: Cpu, op: number): void {
  const m = modrm(cpu);
  const d = rdEv(cpu, m), s = rdGv(cpu, m);
  const r = add(cpu, d, s, signV(cpu));
  if (m >= 0xc0) { wrGv(cpu, m, d); wrEv(cpu, m, r); } else { wrEv(cpu, m, r); wrGv(cpu, m, d); }
}

function GRP9_CMPXCHG8B(cpu: Cpu, op: number): void {
  cmpxchg8b(cpu);
}

function BSWAP_Zd(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  const reg = op & 7;
  if (cpu.o32 === true) {
    const v = r32[reg];
    r32[reg] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
  } else {
    cpu.reg16[reg << 1] = 0; // BSWAP r16 is undefined; P6 processors clear it
  }
}

function INVALID_0F(cpu: Cpu, op: number): void {
  cpu.fault(UD, -1);
}


/**
 * Executes the instruction whose first byte `op` has been fetched: one switch on it
 * (0x100 | the second byte for the 0F page), whose cases call the handlers or, for the
 * hottest forms, decode and do them inline (HOT_MODRM, cpu/README.md). With
 * `run`, goes on to the next instruction, counting each retired one as the run loop
 * does, until the slice ends or an interrupt can be taken or TF traps (the run loop's
 * slow path), so the loop and the dispatch are one function: V8 inlines the small hot
 * handlers into it and calls the rest directly, where a table of handlers cost a
 * generic call (the `Call` builtin) per instruction.
 */
function execute(cpu: Cpu, first: number, run: boolean): void {
  // A byte, as V8 then knows: it keeps the opcode untagged in a register through the loop.
  let op = first & 0xff;
  const cycles = cpu.instructionCycles; // set once, by the machine that builds the CPU
  // Return once `left` is down to `floor`: at the slice's end (0) or after about
  // EXECUTE_RUN instructions, whichever comes first (one test for both).
  const floor = run === true ? Math.max(0, cpu.left - EXECUTE_RUN * cycles) : 0;
  const r32 = cpu.reg32;
  const reg8 = cpu.reg8;
  for (;;) {
    // The 0F page in the same switch: its opcodes are 0x100 | the second byte.
    if (op === 0x0f) op = 0x100 | cpu.fetch8();
    // The ModRM of the most frequent forms (HOT_MODRM) is decoded here, inline, when its
    // bytes are all in the fetch window with a 32-bit address: `m` the ModRM, `ea`/`seg`
    // the effective address (stored in cpu.eaOff/cpu.eaSeg only for the handlers' `_m` forms).
    // m < 0: not decoded, and the case calls the handler that decodes it itself.
    let m = -1;
    let ea = 0;
    let seg = DS;
    const cls = OPCLASS[op];
    if ((cls & HOT_MODRM) !== 0) {
      const e = cpu.eip;
      if (e + 6 <= cpu.fetchHi && e >= cpu.fetchLo && cpu.a32 === true) {
        const mem = cpu.mem;
        const p0 = e + cpu.fetchDelta;
        m = mem[p0];
        if (m >= 0xc0) {
          cpu.eip = e + 1;
        } else {
          let p = p0 + 1;
          const rm = m & 7;
          let disp = m >> 6;
          if (rm === 4) {
            const sib = mem[p++];
            const base = sib & 7;
            if (base === 5 && disp === 0) {
              disp = 2;
            } else {
              ea = r32[base];
              if (base === ESP || base === EBP) seg = SS;
            }
            const index = (sib >> 3) & 7;
            if (index !== 4) ea = (ea + (r32[index] << (sib >> 6))) | 0;
          } else if (rm === 5 && disp === 0) {
            disp = 2;
          } else {
            ea = r32[rm];
            if (rm === EBP) seg = SS;
          }
          if (disp === 1) {
            ea = (ea + ((mem[p] << 24) >> 24)) | 0;
            p += 1;
          } else if (disp === 2) {
            ea = (ea + cpu.memView.getInt32(p, true)) | 0;
            p += 4;
          }
          cpu.eip = e + (p - p0);
          if (cpu.segOvr >= 0) seg = cpu.segOvr;
        }
      }
    }
    switch (op) {
      // The ALU forms done inline: k the operation (alu()'s 0-7, 8 TEST), a and b the
      // operands, sign their size's sign bit, dst where the result goes.
      case 0x00: case 0x08: case 0x20: case 0x28: case 0x30: case 0x38: case 0x01: case 0x09:
      case 0x21: case 0x29: case 0x31: case 0x39: case 0x02: case 0x0a: case 0x22: case 0x2a:
      case 0x32: case 0x3a: case 0x03: case 0x0b: case 0x23: case 0x2b: case 0x33: case 0x3b:
      case 0x80: case 0x82: case 0x81: case 0x83: case 0x84: case 0x85:
      {
        let k = -1;
        let a = 0;
        let b = 0;
        let sign = SIGN32;
        let dst = DST_NONE;
        switch (op) {
          case 0x00: case 0x08: case 0x20: case 0x28: case 0x30: case 0x38:
            if (m < 0) { ALU_EbGb(cpu, op); break; }
            if (m >= 0xc0) a = reg8[R8[m & 7]];
            else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize) a = cpu.mem[ea];
            else { a = cpu.read8(seg, ea) | 0; }
            b = reg8[R8[(m >> 3) & 7]];
            k = op >> 3;
            sign = SIGN8;
            dst = op === 0x38 ? DST_NONE : m >= 0xc0 ? DST_REG8 + R8[m & 7] : DST_MEM8;
            break;
          case 0x01: case 0x09: case 0x21: case 0x29: case 0x31: case 0x39:
            if (m < 0) { ALU_EvGv(cpu, op); break; }
            if (cpu.o32 === false) { { cpu.eaOff = ea; cpu.eaSeg = seg; ALU_EvGv_m(cpu, op, m); } break; }
            if (m >= 0xc0) a = r32[m & 7];
            else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize - 3) a = cpu.memView.getInt32(ea, true);
            else { a = cpu.read32(seg, ea) | 0; }
            b = r32[(m >> 3) & 7];
            k = op >> 3;
            dst = op === 0x39 ? DST_NONE : m >= 0xc0 ? m & 7 : DST_MEM32;
            break;
          case 0x02: case 0x0a: case 0x22: case 0x2a: case 0x32: case 0x3a:
            if (m < 0) { ALU_GbEb(cpu, op); break; }
            a = reg8[R8[(m >> 3) & 7]];
            if (m >= 0xc0) b = reg8[R8[m & 7]];
            else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize) b = cpu.mem[ea];
            else { b = cpu.read8(seg, ea) | 0; }
            k = op >> 3;
            sign = SIGN8;
            dst = op === 0x3a ? DST_NONE : DST_REG8 + R8[(m >> 3) & 7];
            break;
          case 0x03: case 0x0b: case 0x23: case 0x2b: case 0x33: case 0x3b:
            if (m < 0) { ALU_GvEv(cpu, op); break; }
            if (cpu.o32 === false) { { cpu.eaOff = ea; cpu.eaSeg = seg; ALU_GvEv_m(cpu, op, m); } break; }
            a = r32[(m >> 3) & 7];
            if (m >= 0xc0) b = r32[m & 7];
            else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize - 3) b = cpu.memView.getInt32(ea, true);
            else { b = cpu.read32(seg, ea) | 0; }
            k = op >> 3;
            dst = op === 0x3b ? DST_NONE : (m >> 3) & 7;
            break;
          case 0x80: case 0x82:
            if (m < 0) { GRP1_EbIb(cpu, op); break; }
            k = (m >> 3) & 7;
            if (k === 2 || k === 3) { k = -1; { cpu.eaOff = ea; cpu.eaSeg = seg; GRP1_EbIb_m(cpu, op, m); } break; }
            if (m >= 0xc0) a = reg8[R8[m & 7]];
            else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize) a = cpu.mem[ea];
            else { a = cpu.read8(seg, ea) | 0; }
            {
              const e = cpu.eip;
              if (e < cpu.fetchHi) { b = cpu.mem[e + cpu.fetchDelta]; cpu.eip = e + 1; } else { b = cpu.fetch8(); }
            }
            sign = SIGN8;
            dst = k === 7 ? DST_NONE : m >= 0xc0 ? DST_REG8 + R8[m & 7] : DST_MEM8;
            break;
          case 0x81: case 0x83:
            if (m < 0) { GRP1_EvIz(cpu, op); break; }
            k = (m >> 3) & 7;
            if (k === 2 || k === 3 || cpu.o32 === false) { k = -1; { cpu.eaOff = ea; cpu.eaSeg = seg; GRP1_EvIz_m(cpu, op, m); } break; }
            if (m >= 0xc0) a = r32[m & 7];
            else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize - 3) a = cpu.memView.getInt32(ea, true);
            else { a = cpu.read32(seg, ea) | 0; }
            {
              const e = cpu.eip;
              if (op === 0x83) {
                if (e < cpu.fetchHi) { b = (cpu.mem[e + cpu.fetchDelta] << 24) >> 24; cpu.eip = e + 1; } else { b = (cpu.fetch8() << 24) >> 24; }
              } else if (e + 3 < cpu.fetchHi) {
                b = cpu.memView.getInt32(e + cpu.fetchDelta, true);
                cpu.eip = e + 4;
              } else { b = cpu.fetch32(); }
            }
            dst = k === 7 ? DST_NONE : m >= 0xc0 ? m & 7 : DST_MEM32;
            break;
          case 0x84:
            if (m < 0) { TEST_EbGb(cpu, op); break; }
            if (m >= 0xc0) a = reg8[R8[m & 7]];
            else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize) a = cpu.mem[ea];
            else { a = cpu.read8(seg, ea) | 0; }
            b = reg8[R8[(m >> 3) & 7]];
            k = 8;
            sign = SIGN8;
            break;
          case 0x85:
            if (m < 0) { TEST_EvGv(cpu, op); break; }
            if (cpu.o32 === false) { { cpu.eaOff = ea; cpu.eaSeg = seg; TEST_EvGv_m(cpu, op, m); } break; }
            if (m >= 0xc0) a = r32[m & 7];
            else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize - 3) a = cpu.memView.getInt32(ea, true);
            else { a = cpu.read32(seg, ea) | 0; }
            b = r32[(m >> 3) & 7];
            k = 8;
            break;
        }
        if (k >= 0) {
          // The ALU forms above, as alu() (and logic() for TEST) compute and record them.
          let r: number, kind: LazyOp;
          switch (k) {
            case 0: r = a + b; kind = LazyOp.Add; break;
            case 1: r = a | b; kind = LazyOp.Logic; break;
            case 4: case 8: r = a & b; kind = LazyOp.Logic; break;
            case 6: r = a ^ b; kind = LazyOp.Logic; break;
            default: r = a - b; kind = LazyOp.Sub; break; // 5 SUB, 7 CMP
          }
          r &= (sign << 1) - 1;
          if (k === 8) { a = 0; b = 0; } // logic() records no operands
          cpu.lazyOp = kind;
          cpu.lazyA = a;
          cpu.lazyB = b;
          cpu.lazyR = r;
          cpu.lazySign = sign;
          cpu.flagsLazy = ARITH;
          if (dst < 8) {
            if (dst >= 0) r32[dst] = r;
          } else if (dst < DST_MEM32) {
            reg8[dst - DST_REG8] = r;
          } else if (dst === DST_MEM32) {
            if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize - 3 && (cpu.codePages[ea >>> 12] | cpu.codePages[(ea + 3) >>> 12]) === 0) cpu.memView.setInt32(ea, r, true);
            else { cpu.write32(seg, ea, r); }
          } else {
            if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize && cpu.codePages[ea >>> 12] === 0) cpu.mem[ea] = r;
            else { cpu.write8(seg, ea, r); }
          }
        }
        break;
      }
      case 0x10: case 0x18:
        if (m < 0) ALU_EbGb(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; ALU_EbGb_m(cpu, op, m); }
        break;
      case 0x11: case 0x19:
        if (m < 0) ALU_EvGv(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; ALU_EvGv_m(cpu, op, m); }
        break;
      case 0x12: case 0x1a:
        if (m < 0) ALU_GbEb(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; ALU_GbEb_m(cpu, op, m); }
        break;
      case 0x13: case 0x1b:
        if (m < 0) ALU_GvEv(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; ALU_GvEv_m(cpu, op, m); }
        break;
      case 0x04: case 0x0c: case 0x14: case 0x1c: case 0x24: case 0x2c: case 0x34: case 0x3c:
        ALU_ALIb(cpu, op); break;
      case 0x05: case 0x0d: case 0x15: case 0x1d: case 0x25: case 0x2d: case 0x35: case 0x3d:
        ALU_eAXIz(cpu, op); break;
      case 0x06:
        PUSH_ES(cpu, op); break;
      case 0x07:
        POP_ES(cpu, op); break;
      case 0x0e:
        PUSH_CS(cpu, op); break;
      case 0x16:
        PUSH_SS(cpu, op); break;
      case 0x17:
        POP_SS(cpu, op); break;
      case 0x1e:
        PUSH_DS(cpu, op); break;
      case 0x1f:
        POP_DS(cpu, op); break;
      case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65: case 0x66: case 0x67:
      case 0xf0: case 0xf2: case 0xf3:
        PREFIXES(cpu, op); break;
      case 0x27:
        DAA(cpu, op); break;
      case 0x2f:
        DAS(cpu, op); break;
      case 0x37:
        AAA(cpu, op); break;
      case 0x3f:
        AAS(cpu, op); break;
      case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
      case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
        INC_DEC_Zv(cpu, op); break;
      case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
        PUSH_Zv(cpu, op); break;
      case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
        POP_Zv(cpu, op); break;
      case 0x60:
        PUSHA(cpu, op); break;
      case 0x61:
        POPA(cpu, op); break;
      case 0x62:
        BOUND_GvMa(cpu, op); break;
      case 0x63:
        ARPL_EwGw(cpu, op); break;
      case 0x68:
        PUSH_Iz(cpu, op); break;
      case 0x69:
        IMUL_GvEvIz(cpu, op); break;
      case 0x6a:
        PUSH_Ib(cpu, op); break;
      case 0x6b:
        IMUL_GvEvIb(cpu, op); break;
      case 0x6c:
        INSB(cpu, op); break;
      case 0x6d:
        INSW(cpu, op); break;
      case 0x6e:
        OUTSB(cpu, op); break;
      case 0x6f:
        OUTSW(cpu, op); break;
      case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
      case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f: {
        // Jcc rel8 read from the fetch window, as Jcc_Jb does (the hottest branch there is).
        const e = cpu.eip;
        if (cpu.o32 === true && e < cpu.fetchHi && e >= cpu.fetchLo) {
          const disp = (cpu.mem[e + cpu.fetchDelta] << 24) >> 24;
          cpu.eip = e + 1;
          if (condition(cpu, op & 15)) cpu.eip = (e + 1 + disp) >>> 0;
        } else {
          Jcc_Jb(cpu, op);
        }
        break;
      }
      case 0x86:
        XCHG_EbGb(cpu, op); break;
      case 0x87:
        XCHG_EvGv(cpu, op); break;
      case 0x88: {
        let a = 0;
        if (m < 0) { MOV_EbGb(cpu, op); break; }
        a = reg8[R8[(m >> 3) & 7]];
        if (m >= 0xc0) reg8[R8[m & 7]] = a;
        else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize && cpu.codePages[ea >>> 12] === 0) cpu.mem[ea] = a;
        else { cpu.write8(seg, ea, a); }
        break;
      }
      case 0x89: {
        let a = 0;
        if (m < 0) { MOV_EvGv(cpu, op); break; }
        if (cpu.o32 === false) { { cpu.eaOff = ea; cpu.eaSeg = seg; MOV_EvGv_m(cpu, op, m); } break; }
        a = r32[(m >> 3) & 7];
        if (m >= 0xc0) r32[m & 7] = a;
        else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize - 3 && (cpu.codePages[ea >>> 12] | cpu.codePages[(ea + 3) >>> 12]) === 0) cpu.memView.setInt32(ea, a, true);
        else { cpu.write32(seg, ea, a); }
        break;
      }
      case 0x8a: {
        let a = 0;
        if (m < 0) { MOV_GbEb(cpu, op); break; }
        if (m >= 0xc0) a = reg8[R8[m & 7]];
        else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize) a = cpu.mem[ea];
        else { a = cpu.read8(seg, ea) | 0; }
        reg8[R8[(m >> 3) & 7]] = a;
        break;
      }
      case 0x8b: {
        let a = 0;
        if (m < 0) { MOV_GvEv(cpu, op); break; }
        if (cpu.o32 === false) { { cpu.eaOff = ea; cpu.eaSeg = seg; MOV_GvEv_m(cpu, op, m); } break; }
        if (m >= 0xc0) a = r32[m & 7];
        else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize - 3) a = cpu.memView.getInt32(ea, true);
        else { a = cpu.read32(seg, ea) | 0; }
        r32[(m >> 3) & 7] = a;
        break;
      }
      case 0x8c:
        MOV_EwSw(cpu, op); break;
      case 0x8d:
        // LEA: a register form is #UD (modrmMem), after the ModRM byte as here.
        if (m < 0) { LEA_GvM(cpu, op); break; }
        if (m >= 0xc0) { cpu.fault(UD, -1); }
        if (cpu.o32 === true) r32[(m >> 3) & 7] = ea; else cpu.reg16[((m >> 3) & 7) << 1] = ea & 0xffff;
        break;
      case 0x8e:
        MOV_SwEw(cpu, op); break;
      case 0x8f:
        POP_Ev(cpu, op); break;
      case 0x90:
        NOP(cpu, op); break;
      case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
        XCHG_ZveAX(cpu, op); break;
      case 0x98:
        CBW(cpu, op); break;
      case 0x99:
        CWD(cpu, op); break;
      case 0x9a:
        CALLF_Ap(cpu, op); break;
      case 0x9b:
        WAIT(cpu, op); break;
      case 0x9c:
        PUSHF(cpu, op); break;
      case 0x9d:
        POPF(cpu, op); break;
      case 0x9e:
        SAHF(cpu, op); break;
      case 0x9f:
        LAHF(cpu, op); break;
      case 0xa0:
        MOV_ALOb(cpu, op); break;
      case 0xa1:
        MOV_eAXOv(cpu, op); break;
      case 0xa2:
        MOV_ObAL(cpu, op); break;
      case 0xa3:
        MOV_OveAX(cpu, op); break;
      case 0xa4:
        MOVSB(cpu, op); break;
      case 0xa5:
        MOVSW(cpu, op); break;
      case 0xa6:
        CMPSB(cpu, op); break;
      case 0xa7:
        CMPSW(cpu, op); break;
      case 0xa8:
        TEST_ALIb(cpu, op); break;
      case 0xa9:
        TEST_eAXIz(cpu, op); break;
      case 0xaa:
        STOSB(cpu, op); break;
      case 0xab:
        STOSW(cpu, op); break;
      case 0xac:
        LODSB(cpu, op); break;
      case 0xad:
        LODSW(cpu, op); break;
      case 0xae:
        SCASB(cpu, op); break;
      case 0xaf:
        SCASW(cpu, op); break;
      case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
        MOV_ZbIb(cpu, op); break;
      case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
        MOV_ZvIv(cpu, op); break;
      case 0xc0:
        if (m < 0) GRP2_EbIb(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; GRP2_EbIb_m(cpu, op, m); }
        break;
      case 0xc1:
        if (m < 0) GRP2_EvIb(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; GRP2_EvIb_m(cpu, op, m); }
        break;
      case 0xc2:
        RET_Iw(cpu, op); break;
      case 0xc3:
        RET(cpu, op); break;
      case 0xc4:
        LES_GvMp(cpu, op); break;
      case 0xc5:
        LDS_GvMp(cpu, op); break;
      case 0xc6:
        MOV_EbIb(cpu, op); break;
      case 0xc7:
        if (m < 0) MOV_EvIz(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; MOV_EvIz_m(cpu, op, m); }
        break;
      case 0xc8:
        ENTER_IwIb(cpu, op); break;
      case 0xc9:
        LEAVE(cpu, op); break;
      case 0xca:
        RETF_Iw(cpu, op); break;
      case 0xcb:
        RETF(cpu, op); break;
      case 0xcc:
        INT3(cpu, op); break;
      case 0xcd:
        INT_Ib(cpu, op); break;
      case 0xce:
        INTO(cpu, op); break;
      case 0xcf:
        IRET(cpu, op); break;
      case 0xd0:
        if (m < 0) GRP2_Eb1(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; GRP2_Eb1_m(cpu, op, m); }
        break;
      case 0xd1:
        if (m < 0) GRP2_Ev1(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; GRP2_Ev1_m(cpu, op, m); }
        break;
      case 0xd2:
        GRP2_EbCL(cpu, op); break;
      case 0xd3:
        if (m < 0) GRP2_EvCL(cpu, op); else { cpu.eaOff = ea; cpu.eaSeg = seg; GRP2_EvCL_m(cpu, op, m); }
        break;
      case 0xd4:
        AAM_Ib(cpu, op); break;
      case 0xd5:
        AAD_Ib(cpu, op); break;
      case 0xd6:
        SALC(cpu, op); break;
      case 0xd7:
        XLAT(cpu, op); break;
      case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
        ESC_x87(cpu, op); break;
      case 0xe0: case 0xe1: case 0xe2:
        LOOPcc_Jb(cpu, op); break;
      case 0xe3:
        JCXZ_Jb(cpu, op); break;
      case 0xe4:
        IN_ALIb(cpu, op); break;
      case 0xe5:
        IN_eAXIb(cpu, op); break;
      case 0xe6:
        OUT_IbAL(cpu, op); break;
      case 0xe7:
        OUT_IbeAX(cpu, op); break;
      case 0xe8:
        CALL_Jz(cpu, op); break;
      case 0xe9:
        JMP_Jz(cpu, op); break;
      case 0xea:
        JMPF_Ap(cpu, op); break;
      case 0xeb:
        JMP_Jb(cpu, op); break;
      case 0xec:
        IN_ALDX(cpu, op); break;
      case 0xed:
        IN_eAXDX(cpu, op); break;
      case 0xee:
        OUT_DXAL(cpu, op); break;
      case 0xef:
        OUT_DXeAX(cpu, op); break;
      case 0xf1:
        INT1(cpu, op); break;
      case 0xf4:
        HLT(cpu, op); break;
      case 0xf5:
        CMC(cpu, op); break;
      case 0xf6:
        GRP3_Eb(cpu, op); break;
      case 0xf7:
        GRP3_Ev(cpu, op); break;
      case 0xf8:
        CLC(cpu, op); break;
      case 0xf9:
        STC(cpu, op); break;
      case 0xfa:
        CLI(cpu, op); break;
      case 0xfb:
        STI(cpu, op); break;
      case 0xfc:
        CLD(cpu, op); break;
      case 0xfd:
        STD(cpu, op); break;
      case 0xfe:
        GRP4_Eb(cpu, op); break;
      case 0xff:
        GRP5_Ev(cpu, op); break;
      case 0x100:
        GRP6(cpu, op & 0xff); break;
      case 0x101:
        GRP7(cpu, op & 0xff); break;
      case 0x102: case 0x103:
        LAR_LSL_GvEw(cpu, op & 0xff); break;
      case 0x106:
        CLTS(cpu, op & 0xff); break;
      case 0x108: case 0x109:
        INVD_WBINVD(cpu, op & 0xff); break;
      case 0x10b:
        UD2(cpu, op & 0xff); break;
      case 0x119: case 0x11a: case 0x11b: case 0x11c: case 0x11d: case 0x11e: case 0x11f:
        NOP_Ev(cpu, op & 0xff); break;
      case 0x120: case 0x121: case 0x122: case 0x123:
        MOV_CR_DR(cpu, op & 0xff); break;
      case 0x130:
        WRMSR(cpu, op & 0xff); break;
      case 0x131:
        RDTSC(cpu, op & 0xff); break;
      case 0x132:
        RDMSR(cpu, op & 0xff); break;
      case 0x140: case 0x141: case 0x142: case 0x143: case 0x144: case 0x145: case 0x146: case 0x147:
      case 0x148: case 0x149: case 0x14a: case 0x14b: case 0x14c: case 0x14d: case 0x14e: case 0x14f:
        CMOVcc_GvEv(cpu, op & 0xff); break;
      case 0x180: case 0x181: case 0x182: case 0x183: case 0x184: case 0x185: case 0x186: case 0x187:
      case 0x188: case 0x189: case 0x18a: case 0x18b: case 0x18c: case 0x18d: case 0x18e: case 0x18f: {
        // Jcc rel32 read from the fetch window, as Jcc_Jz does.
        const e = cpu.eip;
        if (cpu.o32 === true && e + 4 <= cpu.fetchHi && e >= cpu.fetchLo) {
          const disp = cpu.memView.getInt32(e + cpu.fetchDelta, true);
          cpu.eip = e + 4;
          if (condition(cpu, op & 15)) cpu.eip = (e + 4 + disp) >>> 0;
        } else {
          Jcc_Jz(cpu, op & 0xff);
        }
        break;
      }
      case 0x190: case 0x191: case 0x192: case 0x193: case 0x194: case 0x195: case 0x196: case 0x197:
      case 0x198: case 0x199: case 0x19a: case 0x19b: case 0x19c: case 0x19d: case 0x19e: case 0x19f:
        SETcc_Eb(cpu, op & 0xff); break;
      case 0x1a0:
        PUSH_FS(cpu, op & 0xff); break;
      case 0x1a1:
        POP_FS(cpu, op & 0xff); break;
      case 0x1a2:
        CPUID(cpu, op & 0xff); break;
      case 0x1a3:
        BT_EvGv(cpu, op & 0xff); break;
      case 0x1a4: case 0x1a5: case 0x1ac: case 0x1ad:
        SHLD_SHRD(cpu, op & 0xff); break;
      case 0x1a8:
        PUSH_GS(cpu, op & 0xff); break;
      case 0x1a9:
        POP_GS(cpu, op & 0xff); break;
      case 0x1ab:
        BTS_EvGv(cpu, op & 0xff); break;
      case 0x1af:
        if (m < 0) IMUL_GvEv(cpu, op & 0xff); else { cpu.eaOff = ea; cpu.eaSeg = seg; IMUL_GvEv_m(cpu, op & 0xff, m); }
        break;
      case 0x1b0:
        CMPXCHG_EbGb(cpu, op & 0xff); break;
      case 0x1b1:
        CMPXCHG_EvGv(cpu, op & 0xff); break;
      case 0x1b2:
        LSS_GvMp(cpu, op & 0xff); break;
      case 0x1b3:
        BTR_EvGv(cpu, op & 0xff); break;
      case 0x1b4:
        LFS_GvMp(cpu, op & 0xff); break;
      case 0x1b5:
        LGS_GvMp(cpu, op & 0xff); break;
      case 0x1b6: {
        let a = 0;
        if (m < 0) { MOVZX_GvEb(cpu, op & 0xff); break; }
        if (m >= 0xc0) a = reg8[R8[m & 7]];
        else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize) a = cpu.mem[ea];
        else { a = cpu.read8(seg, ea) | 0; }
        if (cpu.o32 === true) r32[(m >> 3) & 7] = a; else cpu.reg16[((m >> 3) & 7) << 1] = a;
        break;
      }
      case 0x1b7: {
        let a = 0;
        if (m < 0) { MOVZX_GvEw(cpu, op & 0xff); break; }
        if (m >= 0xc0) a = cpu.reg16[(m & 7) << 1];
        else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize - 1) a = cpu.memView.getUint16(ea, true);
        else { a = cpu.read16(seg, ea) | 0; }
        if (cpu.o32 === true) r32[(m >> 3) & 7] = a; else cpu.reg16[((m >> 3) & 7) << 1] = a;
        break;
      }
      case 0x1be: {
        let a = 0;
        if (m < 0) { MOVSX_GvEb(cpu, op & 0xff); break; }
        if (m >= 0xc0) a = reg8[R8[m & 7]];
        else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize) a = cpu.mem[ea];
        else { a = cpu.read8(seg, ea) | 0; }
        a = (a << 24) >> 24;
        if (cpu.o32 === true) r32[(m >> 3) & 7] = a; else cpu.reg16[((m >> 3) & 7) << 1] = a & 0xffff;
        break;
      }
      case 0x1bf: {
        let a = 0;
        if (m < 0) { MOVSX_GvEw(cpu, op & 0xff); break; }
        if (m >= 0xc0) a = cpu.reg16[(m & 7) << 1];
        else if ((cpu.flatMask & (1 << seg)) !== 0 && ea >= 0 && ea < cpu.memSize - 1) a = cpu.memView.getUint16(ea, true);
        else { a = cpu.read16(seg, ea) | 0; }
        a = (a << 16) >> 16;
        if (cpu.o32 === true) r32[(m >> 3) & 7] = a; else cpu.reg16[((m >> 3) & 7) << 1] = a & 0xffff;
        break;
      }
      case 0x1ba:
        GRP8_EvIb(cpu, op & 0xff); break;
      case 0x1bb:
        BTC_EvGv(cpu, op & 0xff); break;
      case 0x1bc: case 0x1bd:
        BSF_BSR_GvEv(cpu, op & 0xff); break;
      case 0x1c0:
        XADD_EbGb(cpu, op & 0xff); break;
      case 0x1c1:
        XADD_EvGv(cpu, op & 0xff); break;
      case 0x1c7:
        GRP9_CMPXCHG8B(cpu, op & 0xff); break;
      case 0x1c8: case 0x1c9: case 0x1ca: case 0x1cb: case 0x1cc: case 0x1cd: case 0x1ce: case 0x1cf:
        BSWAP_Zd(cpu, op & 0xff); break;
      default:
        if (op > 0xff) INVALID_0F(cpu, op & 0xff); else INVALID(cpu, op);
        break;
    }
    if (run === false) return;
    const left = cpu.left - cycles;
    cpu.left = left;
    cpu.sliceInstr++;
    if (left <= floor) return;
    // The run loop's slow path: TF, or an interrupt with IF set. Neither flag, mostly.
    const flags = cpu.flags;
    if ((flags & IF_TF) !== 0 && ((flags & TF) !== 0 || cpu.irqLine === true)) return;
    cpu.instrEip = cpu.eip;
    op = cpu.fetch8();
  }
}

// ======================================================================
// Instruction helpers
// ======================================================================

function dataSeg(cpu: Cpu): number { return cpu.segOvr >= 0 ? cpu.segOvr : DS; }
function fetchMoffs(cpu: Cpu): number { return cpu.a32 === true ? cpu.fetch32() : cpu.fetch16(); }

/**
 * POP DS/ES/FS/GS/SS. The stack pointer moves by the size of the stack the selector came
 * from: a POP SS that loads a stack of the other size still adds to ESP (32-bit stack)
 * or to SP alone (16-bit), as the old SS says (SDM vol. 2, POP: the pop is done, then
 * the segment loaded). ESP changes only once the load has succeeded.
 */
function popSegment(cpu: Cpu, seg: number): void {
  const big = cpu.ssB32;
  const sp = cpu.getSP();
  const w = cpu.o32 === true ? 4 : 2;
  const v = w === 4 ? cpu.read32(SS, sp) & 0xffff : cpu.read16(SS, sp);
  loadSegment(cpu, seg, v);
  if (big) cpu.reg32[ESP] = sp + w; else cpu.reg16[ESP << 1] = sp + w;
  if (seg === SS) cpu.inhibitIrqUntil = cpu.instructions + 1;
}

function shiftE8(cpu: Cpu, m: number, a: number, count: number): void {
  if (count === 0) return;
  wrE8(cpu, m, shift(cpu, (m >> 3) & 7, a, count, 8));
}

function shiftEv(cpu: Cpu, m: number, a: number, count: number): void {
  if (count === 0) return;
  const op = (m >> 3) & 7;
  if (op >= 4 && cpu.o32 === true) {
    wrE32(cpu, m, shift32(cpu, op, a, count));
    return;
  }
  wrEv(cpu, m, shift(cpu, (m >> 3) & 7, a, count, cpu.o32 === true ? 32 : 16));
}

function pusha(cpu: Cpu): void {
  const r = cpu.reg32;
  if (cpu.o32 === true) {
    const sp = r[ESP];
    cpu.push32(r[EAX]); cpu.push32(r[ECX]); cpu.push32(r[EDX]); cpu.push32(r[EBX]);
    cpu.push32(sp); cpu.push32(r[EBP]); cpu.push32(r[ESI]); cpu.push32(r[EDI]);
  } else {
    const r16 = cpu.reg16;
    const sp = r16[ESP << 1];
    for (let i = 0; i < 8; i++) cpu.push16(i === ESP ? sp : r16[i << 1]);
  }
}

const popaScratch = new Uint16Array(8);

function popa(cpu: Cpu): void {
  if (cpu.o32 === true) {
    const r = cpu.reg32;
    const edi = cpu.pop32(), esi = cpu.pop32(), ebp = cpu.pop32();
    cpu.pop32();
    const ebx = cpu.pop32(), edx = cpu.pop32(), ecx = cpu.pop32(), eax = cpu.pop32();
    r[EDI] = edi; r[ESI] = esi; r[EBP] = ebp; r[EBX] = ebx; r[EDX] = edx; r[ECX] = ecx; r[EAX] = eax;
  } else {
    const r16 = cpu.reg16;
    const v = popaScratch;
    for (let i = 7; i >= 0; i--) v[i] = cpu.pop16();
    for (let i = 0; i < 8; i++) if (i !== ESP) r16[i << 1] = v[i];
  }
}

function bound(cpu: Cpu): void {
  const m = modrmMem(cpu);
  if (cpu.o32 === true) {
    const idx = cpu.reg32[(m >> 3) & 7];
    const lo = cpu.read32(cpu.eaSeg, cpu.eaOff), hi = cpu.read32(cpu.eaSeg, cpu.eaOff + 4);
    if (idx < lo || idx > hi) cpu.fault(BR, -1);
  } else {
    const idx = (cpu.reg16[((m >> 3) & 7) << 1] << 16) >> 16;
    const lo = (cpu.read16(cpu.eaSeg, cpu.eaOff) << 16) >> 16;
    const hi = (cpu.read16(cpu.eaSeg, (cpu.eaOff + 2) & (cpu.a32 === true ? -1 : 0xffff)) << 16) >> 16;
    if (idx < lo || idx > hi) cpu.fault(BR, -1);
  }
}

function arpl(cpu: Cpu): void {
  if (!cpu.protectedMode || cpu.flags & VM) cpu.fault(UD, -1); // not recognized in real or virtual-8086 mode
  const m = modrm(cpu);
  const d = rdE16(cpu, m);
  const s = cpu.reg16[((m >> 3) & 7) << 1];
  cpu.materializeFlags();
  if ((d & 3) < (s & 3)) {
    wrE16(cpu, m, (d & ~3) | (s & 3));
    cpu.flags |= ZF;
  } else {
    cpu.flags &= ~ZF;
  }
}

function pushf(cpu: Cpu): void {
  // IOPL-sensitive in virtual-8086 mode (no CR4.VME); VM and RF are never pushed set (SDM vol. 2, PUSHF).
  if (cpu.flags & VM && (cpu.flags & IOPL) !== IOPL) cpu.fault(GP, 0);
  const f = cpu.getEflags() & ~(VM | RF);
  if (cpu.o32 === true) cpu.push32(f); else cpu.push16(f);
}

function popf(cpu: Cpu): void {
  if (cpu.flags & VM && (cpu.flags & IOPL) !== IOPL) cpu.fault(GP, 0); // IOPL-sensitive in V86 (SDM vol. 2, POPF)
  const v = cpu.o32 === true ? cpu.pop32() : cpu.pop16();
  const mask = cpu.o32 === true ? (0x3f7fd5 & ~VM) : 0x7fd5;
  writeFlagsChecked(cpu, v, mask);
  if (!(cpu.flags & TF)) cpu.cancelSingleStep();
}

function loadFarPointer(cpu: Cpu, seg: number): void {
  const m = modrmMem(cpu);
  const off = cpu.o32 === true ? cpu.read32(cpu.eaSeg, cpu.eaOff) : cpu.read16(cpu.eaSeg, cpu.eaOff);
  const sel = cpu.read16(cpu.eaSeg, cpu.eaOff + (cpu.o32 === true ? 4 : 2));
  loadSegment(cpu, seg, sel);
  wrGv(cpu, m, off);
  if (seg === SS) cpu.inhibitIrqUntil = cpu.instructions + 1;
}

/** ENTER imm16, imm8 (SDM vol. 2, ENTER): nesting level taken modulo 32. */
function enter(cpu: Cpu): void {
  const size = cpu.fetch16();
  const level = cpu.fetch8() & 31;
  const r = cpu.reg32;
  const w = cpu.o32 === true ? 4 : 2;
  pushV(cpu, cpu.o32 === true ? r[EBP] : cpu.reg16[EBP << 1]);
  // FrameTemp is the pointer at the operand size, whatever the stack's: a 32-bit ENTER
  // on a 16-bit stack takes all of ESP, upper half included (i386 manual, ENTER; Bochs).
  const frame = cpu.o32 === true ? r[ESP] : cpu.reg16[ESP << 1];
  if (level > 0) {
    let bp = cpu.ssB32 === true ? r[EBP] : cpu.reg16[EBP << 1];
    for (let i = 1; i < level; i++) {
      bp = cpu.ssB32 === true ? (bp - w) | 0 : (bp - w) & 0xffff;
      pushV(cpu, cpu.o32 === true ? cpu.read32(SS, bp) : cpu.read16(SS, bp));
    }
    pushV(cpu, frame);
  }
  if (cpu.o32 === true) r[EBP] = frame; else cpu.reg16[EBP << 1] = frame;
  const sp = cpu.getSP() - size;
  // Touch the lowest byte of the new frame so an overflow faults here, as hardware does.
  cpu.checkWrite(SS, cpu.ssB32 === true ? sp : sp & 0xffff, 1);
  cpu.setSP(sp);
}

function leave(cpu: Cpu): void {
  if (cpu.ssB32 === true) cpu.reg32[ESP] = cpu.reg32[EBP]; else cpu.reg16[ESP << 1] = cpu.reg16[EBP << 1];
  const v = popV(cpu);
  if (cpu.o32 === true) cpu.reg32[EBP] = v; else cpu.reg16[EBP << 1] = v;
}

/** Group 3: TEST NOT NEG MUL IMUL DIV IDIV. */
function group3(cpu: Cpu, byte: boolean): void {
  const m = modrm(cpu);
  const reg = (m >> 3) & 7;
  const r = cpu.reg32;
  if (byte) {
    const a = rdE8(cpu, m);
    switch (reg) {
      case 0: case 1: logic(cpu, a & cpu.fetch8(), SIGN8); return;
      case 2: wrE8(cpu, m, ~a & 0xff); return;
      case 3: wrE8(cpu, m, sub(cpu, 0, a, SIGN8)); return;
      case 4: { const p = cpu.reg8[0] * a; cpu.reg16[0] = p; mulFlags(cpu, p & 0xff, SIGN8, p > 0xff); return; }
      case 5: {
        const p = ((cpu.reg8[0] << 24) >> 24) * ((a << 24) >> 24);
        cpu.reg16[0] = p;
        mulFlags(cpu, p & 0xff, SIGN8, p !== ((p << 24) >> 24));
        return;
      }
      case 6: {
        const n = cpu.reg16[0];
        if (a === 0) cpu.fault(0, -1);
        const q = Math.floor(n / a);
        if (q > 0xff) cpu.fault(0, -1);
        cpu.reg16[0] = ((n % a) << 8) | q;
        return;
      }
      default: {
        const n = (cpu.reg16[0] << 16) >> 16, d = (a << 24) >> 24;
        if (d === 0) cpu.fault(0, -1);
        const q = Math.trunc(n / d);
        if (q > 127 || q < -128) cpu.fault(0, -1);
        cpu.reg16[0] = ((n % d & 0xff) << 8) | (q & 0xff);
        return;
      }
    }
  }
  if (cpu.o32 === true) {
    const a = rdE32(cpu, m);
    switch (reg) {
      case 0: case 1: logic(cpu, a & cpu.fetch32(), SIGN32); return;
      case 2: wrE32(cpu, m, ~a); return;
      case 3: wrE32(cpu, m, sub(cpu, 0, a, SIGN32)); return;
      case 4: { const lo = mulU32(r[EAX], a); r[EAX] = lo; r[EDX] = mulHigh[0]; mulFlags(cpu, lo, SIGN32, mulHigh[0] !== 0); return; }
      case 5: { const lo = mulS32(r[EAX], a); r[EAX] = lo; r[EDX] = mulHigh[0]; mulFlags(cpu, lo, SIGN32, mulHigh[0] !== (lo >> 31)); return; }
      case 6: div32(cpu, a); return;
      default: idiv32(cpu, a); return;
    }
  }
  const a = rdE16(cpu, m);
  const r16 = cpu.reg16;
  switch (reg) {
    case 0: case 1: logic(cpu, a & cpu.fetch16(), SIGN16); return;
    case 2: wrE16(cpu, m, ~a & 0xffff); return;
    case 3: wrE16(cpu, m, sub(cpu, 0, a, SIGN16)); return;
    case 4: {
      const p = r16[0] * a;
      r16[0] = p; r16[EDX << 1] = p >>> 16;
      mulFlags(cpu, p & 0xffff, SIGN16, p > 0xffff);
      return;
    }
    case 5: {
      const p = ((r16[0] << 16) >> 16) * ((a << 16) >> 16);
      r16[0] = p; r16[EDX << 1] = p >> 16;
      mulFlags(cpu, p & 0xffff, SIGN16, p !== ((p << 16) >> 16));
      return;
    }
    case 6: {
      const n = (r16[EDX << 1] * 65536) + r16[0];
      if (a === 0) cpu.fault(0, -1);
      const q = Math.floor(n / a);
      if (q > 0xffff) cpu.fault(0, -1);
      r16[0] = q; r16[EDX << 1] = n % a;
      return;
    }
    default: {
      const n = (r16[EDX << 1] << 16) | r16[0], d = (a << 16) >> 16;
      if (d === 0) cpu.fault(0, -1);
      const q = Math.trunc(n / d);
      if (q > 32767 || q < -32768) cpu.fault(0, -1);
      r16[0] = q; r16[EDX << 1] = n % d;
      return;
    }
  }
}

/** Group 5: INC DEC CALL CALLF JMP JMPF PUSH. */
function group5(cpu: Cpu): void {
  const m = modrm(cpu);
  const reg = (m >> 3) & 7;
  switch (reg) {
    case 0: case 1: wrEv(cpu, m, incdec(cpu, rdEv(cpu, m), reg === 1, signV(cpu))); return;
    case 2: {
      const target = rdEv(cpu, m);
      pushV(cpu, cpu.eip);
      cpu.eip = cpu.o32 === true ? target >>> 0 : target & 0xffff;
      return;
    }
    case 3: case 5: {
      if (m >= 0xc0) cpu.fault(UD, -1);
      const off = cpu.o32 === true ? cpu.read32(cpu.eaSeg, cpu.eaOff) : cpu.read16(cpu.eaSeg, cpu.eaOff);
      const sel = cpu.read16(cpu.eaSeg, cpu.eaOff + (cpu.o32 === true ? 4 : 2));
      if (reg === 3) farCall(cpu, sel, off, cpu.o32); else farJump(cpu, sel, off, cpu.o32);
      return;
    }
    case 4: {
      const target = rdEv(cpu, m);
      cpu.eip = cpu.o32 === true ? target >>> 0 : target & 0xffff;
      return;
    }
    case 6: pushV(cpu, rdEv(cpu, m)); return;
    default: cpu.fault(UD, -1);
  }
}

/**
 * BT/BTS/BTR/BTC (SDM vol. 2, BT): `kind` 0..3, or -1 for group 8 (imm8 bit offset).
 * With a register bit offset and a memory operand, the offset is signed and may reach
 * outside the addressed word.
 */
function bitTest(cpu: Cpu, kind: number, immediate: boolean): void {
  const m = modrm(cpu);
  const bits = cpu.o32 === true ? 32 : 16;
  let offset: number;
  if (immediate) {
    const k = (m >> 3) & 7;
    if (k < 4) cpu.fault(UD, -1);
    kind = k - 4;
    offset = cpu.fetch8() & (bits - 1);
  } else {
    offset = cpu.o32 === true ? cpu.reg32[(m >> 3) & 7] : (cpu.reg16[((m >> 3) & 7) << 1] << 16) >> 16;
  }
  let v: number;
  let bit: number;
  if (m >= 0xc0) {
    bit = offset & (bits - 1);
    v = cpu.o32 === true ? cpu.reg32[m & 7] : cpu.reg16[(m & 7) << 1];
  } else {
    if (!immediate) {
      const step = bits >> 3;
      const delta = Math.floor(offset / bits) * step;
      cpu.eaOff = cpu.a32 === true ? (cpu.eaOff + delta) | 0 : (cpu.eaOff + delta) & 0xffff;
    }
    bit = offset & (bits - 1);
    v = cpu.o32 === true ? cpu.read32(cpu.eaSeg, cpu.eaOff) : cpu.read16(cpu.eaSeg, cpu.eaOff);
  }
  cpu.setCF(((v >>> bit) & 1) !== 0);
  if (kind === 0) return;
  const mask = 1 << bit;
  const nv = kind === 1 ? v | mask : kind === 2 ? v & ~mask : v ^ mask;
  if (m >= 0xc0) {
    if (cpu.o32 === true) cpu.reg32[m & 7] = nv; else cpu.reg16[(m & 7) << 1] = nv;
  } else if (cpu.o32 === true) cpu.write32(cpu.eaSeg, cpu.eaOff, nv);
  else cpu.write16(cpu.eaSeg, cpu.eaOff, nv);
}

function cmpxchg8b(cpu: Cpu): void {
  const m = cpu.fetch8();
  if (m >= 0xc0 || ((m >> 3) & 7) !== 1) cpu.fault(UD, -1);
  decodeEA(cpu, m);
  const r = cpu.reg32;
  const seg = cpu.eaSeg, off = cpu.eaOff;
  const lo = cpu.read32(seg, off), hi = cpu.read32(seg, off + 4);
  cpu.materializeFlags();
  cpu.checkWrite(seg, off, 8);
  if (lo === r[EAX] && hi === r[EDX]) {
    cpu.write32(seg, off, r[EBX]);
    cpu.write32(seg, off + 4, r[ECX]);
    cpu.flags |= ZF;
  } else {
    cpu.write32(seg, off, lo);
    cpu.write32(seg, off + 4, hi);
    r[EAX] = lo;
    r[EDX] = hi;
    cpu.flags &= ~ZF;
  }
}

function cpuid(cpu: Cpu): void {
  const r = cpu.reg32;
  const leaf = r[EAX] >>> 0;
  if (leaf === 0) {
    r[EAX] = 1;
    r[EBX] = 0x756e6547; // "Genu"
    r[EDX] = 0x49656e69; // "ineI"
    r[ECX] = 0x6c65746e; // "ntel"
    return;
  }
  // Leaf 1, and (as Intel processors do) any leaf above the maximum reports the highest basic leaf.
  // CPUID also loads the microcode revision (none: 0) into IA32_BIOS_SIGN_ID's high half.
  cpu.biosSignLo = 0;
  cpu.biosSignHi = 0;
  r[EAX] = CPUID_SIGNATURE;
  r[EBX] = 0;
  r[ECX] = 0;
  r[EDX] = CPUID_FEATURES_EDX | (cpu.bus.localApic ? CPUID_APIC : 0);
}

function readTsc(cpu: Cpu): void {
  const t = cpu.cycles + cpu.tscOffset;
  const hi = Math.floor(t / 4294967296);
  cpu.reg32[EAX] = t - hi * 4294967296;
  cpu.reg32[EDX] = hi;
}

/** MOV to and from CR0/CR2/CR3/CR4 and DR0-DR7 (SDM vol. 2, MOV—Move to/from Control/Debug Registers). */
function moveControl(cpu: Cpu, op: number): void {
  const m = cpu.fetch8(); // the mod field is ignored: always register operands
  if (cpu.cpl !== 0) cpu.fault(GP, 0);
  const n = (m >> 3) & 7;
  const reg = m & 7;
  const r = cpu.reg32;
  if (op === 0x20) {
    switch (n) {
      case 0: r[reg] = cpu.cr0; return;
      case 2: r[reg] = cpu.cr2; return;
      case 3: r[reg] = cpu.cr3; return;
      case 4: r[reg] = cpu.cr4; return;
      default: cpu.fault(UD, -1);
    }
  }
  if (op === 0x22) {
    const v = r[reg];
    switch (n) {
      case 0:
        if ((v & CR0_NW) && !(v & CR0_CD)) cpu.fault(GP, 0);
        cpu.setCr0(v);
        return;
      case 2: cpu.cr2 = v; return;
      case 3: cpu.setCr3(v); return;
      case 4: cpu.setCr4(v); return;
      default: cpu.fault(UD, -1);
    }
  }
  // Debug registers: DR4/DR5 alias DR6/DR7 unless CR4.DE (SDM vol. 3, 17.2.2).
  let d = n;
  if (d === 4 || d === 5) {
    if (cpu.cr4 & CR4_DE) cpu.fault(UD, -1);
    d += 2;
  }
  if (op === 0x21) { r[reg] = cpu.dr[d]; return; }
  cpu.dr[d] = d === 6 ? (r[reg] | 0xffff0ff0) : d === 7 ? (r[reg] | 0x400) : r[reg];
}

/** Group 6: SLDT STR LLDT LTR VERR VERW (protected mode only). */
function group6(cpu: Cpu): void {
  if (!cpu.protectedMode || cpu.flags & VM) cpu.fault(UD, -1); // not recognized in real or virtual-8086 mode
  const m = modrm(cpu);
  switch ((m >> 3) & 7) {
    case 0: storeSelector(cpu, m, cpu.ldtrSel); return;
    case 1: storeSelector(cpu, m, cpu.trSel); return;
    case 2: lldt(cpu, rdE16(cpu, m)); return;
    case 3: ltr(cpu, rdE16(cpu, m)); return;
    case 4: case 5: {
      const ok = inspectSelector(cpu, rdE16(cpu, m), ((m >> 3) & 7) === 4 ? 'verr' : 'verw') >= 0;
      cpu.materializeFlags();
      cpu.flags = ok ? cpu.flags | ZF : cpu.flags & ~ZF;
      return;
    }
    default: cpu.fault(UD, -1);
  }
}

function storeSelector(cpu: Cpu, m: number, sel: number): void {
  if (m >= 0xc0 && cpu.o32 === true) cpu.reg32[m & 7] = sel; else wrE16(cpu, m, sel);
}

/** Group 7: SGDT SIDT LGDT LIDT SMSW LMSW INVLPG. */
function group7(cpu: Cpu): void {
  const m = modrm(cpu);
  const reg = (m >> 3) & 7;
  switch (reg) {
    case 0: case 1: {
      if (m >= 0xc0) cpu.fault(UD, -1);
      const limit = reg === 0 ? cpu.gdtrLimit : cpu.idtrLimit;
      const base = reg === 0 ? cpu.gdtrBase : cpu.idtrBase;
      cpu.checkWrite(cpu.eaSeg, cpu.eaOff, 6);
      cpu.write16(cpu.eaSeg, cpu.eaOff, limit);
      cpu.write32(cpu.eaSeg, cpu.eaOff + 2, base);
      return;
    }
    case 2: case 3: {
      if (m >= 0xc0) cpu.fault(UD, -1);
      if (cpu.cpl !== 0) cpu.fault(GP, 0);
      const limit = cpu.read16(cpu.eaSeg, cpu.eaOff);
      let base = cpu.read32(cpu.eaSeg, cpu.eaOff + 2);
      if (!cpu.o32) base &= 0xffffff;
      if (reg === 2) { cpu.gdtrLimit = limit; cpu.gdtrBase = base; } else { cpu.idtrLimit = limit; cpu.idtrBase = base; }
      return;
    }
    case 4:
      if (m >= 0xc0 && cpu.o32 === true) cpu.reg32[m & 7] = cpu.cr0; else wrE16(cpu, m, cpu.cr0 & 0xffff);
      return;
    case 6: {
      if (cpu.cpl !== 0) cpu.fault(GP, 0);
      // LMSW loads PE, MP, EM, TS; it can set PE but never clear it.
      const v = rdE16(cpu, m);
      const keep = cpu.cr0 & CR0_PE;
      cpu.setCr0((cpu.cr0 & ~0xf) | (v & 0xf) | keep);
      return;
    }
    case 7:
      if (m >= 0xc0) cpu.fault(UD, -1);
      if (cpu.cpl !== 0) cpu.fault(GP, 0);
      cpu.invalidatePage((cpu.segBase[cpu.eaSeg] + cpu.eaOff) | 0);
      return;
    default: cpu.fault(UD, -1);
  }
}

/**
 * The handlers the block translator calls for instructions it does not open-code
 * (32-bit operand size only: they read `cpu.o32`, which is true inside a block).
 */
export { PUSHA, POPA, PUSHF, CLI, STI, popSegment };

// ======================================================================
// Port I/O
// ======================================================================

export function portIn(cpu: Cpu, port: number, size: number): number {
  checkIoPermission(cpu, port, size);
  return cpu.bus.ioRead(port, size);
}

export function portOut(cpu: Cpu, port: number, size: number, v: number): void {
  checkIoPermission(cpu, port, size);
  cpu.bus.ioWrite(port, size, v);
}

function inAcc(cpu: Cpu, port: number): void {
  if (cpu.o32 === true) cpu.reg32[EAX] = portIn(cpu, port, 4);
  else cpu.reg16[0] = portIn(cpu, port, 2);
}

function outAcc(cpu: Cpu, port: number): void {
  if (cpu.o32 === true) portOut(cpu, port, 4, cpu.reg32[EAX]);
  else portOut(cpu, port, 2, cpu.reg16[0]);
}

// ======================================================================
// String instructions. With REP, every iteration updates the registers before the
// next, so a fault leaves a restartable state (SDM vol. 2, REP). Each iteration after
// the first costs one more instruction's cycles.
// ======================================================================

function readSized(cpu: Cpu, seg: number, off: number, size: number): number {
  return size === 1 ? cpu.read8(seg, off) : size === 2 ? cpu.read16(seg, off) : cpu.read32(seg, off);
}

function writeSized(cpu: Cpu, seg: number, off: number, size: number, v: number): void {
  if (size === 1) cpu.write8(seg, off, v); else if (size === 2) cpu.write16(seg, off, v); else cpu.write32(seg, off, v);
}

function signOf(size: number): number { return size === 1 ? SIGN8 : size === 2 ? SIGN16 : SIGN32; }

/** Advances ESI/EDI (or SI/DI) by `delta` for the address size. */
function advance(cpu: Cpu, reg: number, delta: number): void {
  if (cpu.a32 === true) cpu.reg32[reg] = (cpu.reg32[reg] + delta) | 0;
  else cpu.reg16[reg << 1] = (cpu.reg16[reg << 1] + delta) & 0xffff;
}

function indexOf(cpu: Cpu, reg: number): number {
  return cpu.a32 === true ? cpu.reg32[reg] : cpu.reg16[reg << 1];
}

function decCount(cpu: Cpu): number {
  if (cpu.a32 === true) { const n = (cpu.reg32[ECX] - 1) | 0; cpu.reg32[ECX] = n; return n; }
  const n = (cpu.reg16[ECX << 1] - 1) & 0xffff;
  cpu.reg16[ECX << 1] = n;
  return n;
}

/**
 * Charges one iteration and, when the run's cycle budget is spent with iterations
 * left, stops here with EIP back on the instruction so it resumes later, as an
 * interrupted REP does on hardware. Keeps a huge count from stalling the machine.
 */
function repInterrupted(cpu: Cpu, left: number): boolean {
  cpu.left -= cpu.instructionCycles;
  if (left !== 0 && cpu.left <= 0) {
    splitHere(cpu);
    return true;
  }
  return false;
}

/**
 * A REP string stops part-way because the run's budget is spent: EIP back on it, and
 * this part is not an instruction of its own. The caller (the run loop, or a block)
 * counts the instruction and charges its cycle as for any other; that is taken back
 * here, so a string split by the end of a run costs what it costs in one piece (its
 * elements, and one instruction when it completes): where a run is cut, which the
 * machine decides and not the guest, changes nothing the guest can see.
 */
/**
 * The first element's `ioRepeat` in a REP INS/OUTS: 0, or where it was when a run
 * stopped from outside split it (Cpu.resumeRepeat).
 */
function repeatBase(cpu: Cpu): number {
  if (cpu.ioRepeatFromEip === -1) return 0;
  const k = cpu.ioRepeatFromEip === cpu.instrEip ? cpu.ioRepeatFrom : 0;
  cpu.ioRepeatFromEip = -1;
  return k;
}

/** A REP INS/OUTS split: the `ioRepeat` of its next element, for Cpu.resumeRepeat. */
function repeatSplit(cpu: Cpu, next: number): void {
  cpu.ioRepeatSplit = next;
  cpu.ioRepeatSplitEip = cpu.instrEip;
}

function splitHere(cpu: Cpu): void {
  cpu.eip = cpu.instrEip;
  cpu.left += cpu.instructionCycles;
  cpu.sliceInstr--;
}

/**
 * The physical address of [off, off + bytes) in `seg` when a REP string instruction
 * can move it in bulk: no paging, 32-bit addressing, A20 on, inside the segment's
 * limits and rights, inside RAM. Otherwise -1 (the element-by-element path runs).
 */
function bulkRange(cpu: Cpu, seg: number, off: number, bytes: number, write: boolean): number {
  if (cpu.a32 === false) return -1;
  const o = off >>> 0;
  // A flat segment (see Cpu.flatMask): the offset is the physical address.
  if (((cpu.flatMask >> seg) & 1) !== 0) return o + bytes <= cpu.memSize ? o : -1;
  if (!cpu.linearIsPhysical()) return -1;
  if (o < cpu.segMin[seg] || o + bytes - 1 > (write ? cpu.segMaxW[seg] : cpu.segMaxR[seg])) return -1;
  const p = (cpu.segBase[seg] + o) >>> 0;
  return p + bytes <= cpu.memSize ? p : -1;
}

/** Bytes a bulk copy or fill moves in a loop rather than through copyWithin/fill. */
const BULK_SHORT = 32;

/**
 * REP MOVS/STOS forward, when the whole count fits in the slice: one bulk copy or fill
 * with exactly the registers, memory and cycles the element-by-element loop would
 * give. Returns false when it does not apply.
 */
function bulkRep(cpu: Cpu, size: number, movs: boolean): boolean {
  if (cpu.flags & DF) return false;
  const n = cpu.reg32[ECX] >>> 0;
  if (n === 0 || n * cpu.instructionCycles > cpu.left) return false;
  if (cpu.pagingOn === true) return bulkRepPaged(cpu, size, movs, n);
  const bytes = n * size;
  const dst = bulkRange(cpu, ES, cpu.reg32[EDI], bytes, true);
  if (dst < 0) return false;
  const src = movs ? bulkRange(cpu, dataSeg(cpu), cpu.reg32[ESI], bytes, false) : 0;
  // A destination just above the source repeats bytes element by element: not a memmove.
  if (movs && (src < 0 || (dst > src && dst < src + bytes))) return false;
  bulkPiece(cpu, dst, src, bytes, size, movs);
  cpu.reg32[ECX] = 0;
  cpu.left -= n * cpu.instructionCycles;
  return true;
}

/**
 * bulkRep with paging on: a page at a time, each piece of elements within one page of
 * the destination (and of the source) moved in bulk once its pages are translated as
 * the piece's first element would translate them (the source's first, for MOVS). So a
 * fault there finds the registers, memory and cycles the element loop would have left
 * (the pieces before it done), and the A and D bits are set as it would set them.
 * Stops (false, the element loop goes on from there) at an element across a page's
 * end, a page outside RAM, or a destination just above its source; the segments'
 * limits are checked for the whole string first, else the element loop takes it all.
 */
function bulkRepPaged(cpu: Cpu, size: number, movs: boolean, n: number): boolean {
  if (cpu.a32 === false) return false;
  const bytes = n * size;
  const src = movs ? dataSeg(cpu) : ES;
  const d0 = cpu.reg32[EDI] >>> 0, s0 = cpu.reg32[ESI] >>> 0;
  if (d0 < cpu.segMin[ES] || d0 + bytes - 1 > cpu.segMaxW[ES]) return false;
  if (movs && (s0 < cpu.segMin[src] || s0 + bytes - 1 > cpu.segMaxR[src])) return false;
  const end = cpu.memSize;
  let left = n;
  while (left !== 0) {
    const dl = (cpu.segBase[ES] + (cpu.reg32[EDI] >>> 0)) >>> 0;
    const sl = (cpu.segBase[src] + (cpu.reg32[ESI] >>> 0)) >>> 0;
    const room = movs ? Math.min(0x1000 - (dl & 0xfff), 0x1000 - (sl & 0xfff)) : 0x1000 - (dl & 0xfff);
    const k = Math.min(left, Math.floor(room / size));
    if (k === 0) return false;
    const b = k * size;
    const sp = movs ? cpu.linToPhysRead(sl) : 0;
    const dp = cpu.linToPhysWrite(dl);
    if (dp + b > end || (movs && (sp + b > end || (dp > sp && dp < sp + b)))) return false;
    bulkPiece(cpu, dp, sp, b, size, movs);
    left -= k;
    cpu.reg32[ECX] = left;
    cpu.left -= k * cpu.instructionCycles;
  }
  return true;
}

/**
 * `bytes` of RAM at physical `dst` copied from `src` (MOVS) or filled with AL, AX or
 * EAX (STOS, `size`-byte elements) as the element loop would (the destination not just
 * above the source: the callers check), with EDI (and ESI) past them.
 */
function bulkPiece(cpu: Cpu, dst: number, src: number, bytes: number, size: number, movs: boolean): void {
  const mem = cpu.mem;
  if (movs) {
    // copyWithin costs a call into the runtime (about 20 ns): a short copy (a MAC
    // address, a header's tail) is cheaper a byte at a time. Copying upwards is right
    // here, since the destination is not just above the source.
    if (bytes <= BULK_SHORT) for (let i = 0; i < bytes; i++) mem[dst + i] = mem[src + i];
    else mem.copyWithin(dst, src, src + bytes);
    cpu.reg32[ESI] = (cpu.reg32[ESI] + bytes) | 0;
  } else if (size === 1) {
    const v = cpu.reg8[0];
    if (bytes <= BULK_SHORT) for (let i = 0; i < bytes; i++) mem[dst + i] = v;
    else mem.fill(v, dst, dst + bytes);
  } else {
    const v = cpu.reg32[EAX];
    if (size === 4 && (dst & 3) === 0) {
      cpu.mem32.fill(v, dst >>> 2, (dst + bytes) >>> 2);
    } else if (size === 2) {
      for (let i = 0; i < bytes; i += 2) { mem[dst + i] = v; mem[dst + i + 1] = v >> 8; }
    } else {
      for (let i = 0; i < bytes; i += 4) { mem[dst + i] = v; mem[dst + i + 1] = v >> 8; mem[dst + i + 2] = v >> 16; mem[dst + i + 3] = v >> 24; }
    }
  }
  cpu.invalidateCode(dst, bytes);
  cpu.reg32[EDI] = (cpu.reg32[EDI] + bytes) | 0;
}

export function stringMovs(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const src = dataSeg(cpu);
  if (cpu.rep !== 0 && cpu.a32 === true && bulkRep(cpu, size, true)) return;
  if (cpu.rep === 0) {
    writeSized(cpu, ES, indexOf(cpu, EDI), size, readSized(cpu, src, indexOf(cpu, ESI), size));
    advance(cpu, ESI, delta); advance(cpu, EDI, delta);
    return;
  }
  let n = getCount(cpu);
  while (n !== 0) {
    writeSized(cpu, ES, indexOf(cpu, EDI), size, readSized(cpu, src, indexOf(cpu, ESI), size));
    advance(cpu, ESI, delta); advance(cpu, EDI, delta);
    n = decCount(cpu);
    if (repInterrupted(cpu, n)) return;
  }
}

export function stringStos(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const v = size === 1 ? cpu.reg8[0] : size === 2 ? cpu.reg16[0] : cpu.reg32[EAX];
  if (cpu.rep !== 0 && cpu.a32 === true && bulkRep(cpu, size, false)) return;
  if (cpu.rep === 0) {
    writeSized(cpu, ES, indexOf(cpu, EDI), size, v);
    advance(cpu, EDI, delta);
    return;
  }
  let n = getCount(cpu);
  while (n !== 0) {
    writeSized(cpu, ES, indexOf(cpu, EDI), size, v);
    advance(cpu, EDI, delta);
    n = decCount(cpu);
    if (repInterrupted(cpu, n)) return;
  }
}

function stringLods(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const src = dataSeg(cpu);
  let n = cpu.rep === 0 ? 1 : getCount(cpu);
  while (n !== 0) {
    const v = readSized(cpu, src, indexOf(cpu, ESI), size);
    if (size === 1) cpu.reg8[0] = v; else if (size === 2) cpu.reg16[0] = v; else cpu.reg32[EAX] = v;
    advance(cpu, ESI, delta);
    if (cpu.rep === 0) return;
    n = decCount(cpu);
    if (repInterrupted(cpu, n)) return;
  }
}

function stringCmps(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const src = dataSeg(cpu);
  const sign = signOf(size);
  let n = cpu.rep === 0 ? 1 : getCount(cpu);
  while (n !== 0) {
    const a = readSized(cpu, src, indexOf(cpu, ESI), size);
    const b = readSized(cpu, ES, indexOf(cpu, EDI), size);
    sub(cpu, a, b, sign);
    advance(cpu, ESI, delta); advance(cpu, EDI, delta);
    if (cpu.rep === 0) return;
    n = decCount(cpu);
    if ((a === b) !== (cpu.rep === 1)) return; // REPE stops on a difference, REPNE on a match
    if (repInterrupted(cpu, n)) return;
  }
}

function stringScas(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const sign = signOf(size);
  const acc = size === 1 ? cpu.reg8[0] : size === 2 ? cpu.reg16[0] : cpu.reg32[EAX];
  let n = cpu.rep === 0 ? 1 : getCount(cpu);
  while (n !== 0) {
    const b = readSized(cpu, ES, indexOf(cpu, EDI), size);
    sub(cpu, acc, b, sign);
    advance(cpu, EDI, delta);
    if (cpu.rep === 0) return;
    n = decCount(cpu);
    if ((acc === b) !== (cpu.rep === 1)) return;
    if (repInterrupted(cpu, n)) return;
  }
}

function stringIns(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const port = cpu.reg16[EDX << 1];
  if (cpu.rep !== 0 && repInsDirect(cpu, port, size)) return;
  let n = cpu.rep === 0 ? 1 : getCount(cpu);
  let k = cpu.rep === 0 ? 0 : repeatBase(cpu);
  while (n !== 0) {
    checkIoPermission(cpu, port, size);
    // The destination is checked before the port is read, so a fault does not lose data.
    cpu.checkWrite(ES, indexOf(cpu, EDI), size);
    cpu.ioRepeat = k++;
    const v = cpu.bus.ioRead(port, size);
    cpu.ioRepeat = 0;
    writeSized(cpu, ES, indexOf(cpu, EDI), size, v);
    advance(cpu, EDI, delta);
    if (cpu.rep === 0) return;
    n = decCount(cpu);
    if (repInterrupted(cpu, n)) { repeatSplit(cpu, k); return; }
  }
}

/**
 * REP INS forward into plain RAM (no paging, the whole count inside ES and RAM): the
 * same port reads, one by one, with the same cycles and stops, but the permission
 * checked once and each element stored at its physical address instead of through
 * segmentation (translated code there is dropped, as any write drops it); where the bus offers a block path (CpuBus.ioReadBlock)
 * the elements that only move data go in one call. A driver's receive path (REP INSW
 * from the NE2000's data port) spends its time here. Returns false when it does not apply.
 */
function repInsDirect(cpu: Cpu, port: number, size: number): boolean {
  if (cpu.flags & DF) return false;
  let n = cpu.reg32[ECX] >>> 0;
  if (n === 0) return false;
  let p = bulkRange(cpu, ES, cpu.reg32[EDI], n * size, true);
  if (p < 0) return false;
  checkIoPermission(cpu, port, size);
  const base = repeatBase(cpu);
  let k = 0;
  if (cpu.bus.ioReadBlock !== undefined) {
    // A device with a block path takes the elements that move data only, in one call.
    k = cpu.bus.ioReadBlock(port, size, p, n, cpu.left, cpu.instructionCycles);
    if (k > 0) {
      cpu.invalidateCode(p, k * size);
      blockDone(cpu, EDI, k, size);
      p += k * size;
      n -= k;
      if (n === 0) return true;
      if (repStopped(cpu)) { repeatSplit(cpu, base + k); return true; }
    }
  }
  for (; ; k++) {
    cpu.ioRepeat = base + k;
    const v = cpu.bus.ioRead(port, size);
    cpu.ioRepeat = 0;
    if (size === 1) cpu.writePhys8(p, v); else if (size === 2) cpu.writePhys16(p, v); else cpu.writePhys32(p, v);
    p += size;
    cpu.reg32[EDI] = (cpu.reg32[EDI] + size) | 0;
    cpu.reg32[ECX] = --n;
    if (repInterrupted(cpu, n)) { repeatSplit(cpu, base + k + 1); return true; }
    if (n === 0) return true;
  }
}

/**
 * After a block that took the slice's last cycles with elements left: the REP stops
 * here, EIP back on it, as repInterrupted stops it after the element that does so.
 */
function repStopped(cpu: Cpu): boolean {
  if (cpu.left > 0) return false;
  splitHere(cpu);
  return true;
}

/** `k` elements of a REP INS/OUTS made in one block: ESI or EDI, ECX and the cycles as that many iterations leave them. */
function blockDone(cpu: Cpu, index: number, k: number, size: number): void {
  cpu.reg32[index] = (cpu.reg32[index] + k * size) | 0;
  cpu.reg32[ECX] = (cpu.reg32[ECX] - k) | 0;
  cpu.left -= k * cpu.instructionCycles;
}

function stringOuts(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const port = cpu.reg16[EDX << 1];
  const src = dataSeg(cpu);
  if (cpu.rep !== 0 && repOutsDirect(cpu, port, size, src)) return;
  let n = cpu.rep === 0 ? 1 : getCount(cpu);
  let k = cpu.rep === 0 ? 0 : repeatBase(cpu);
  while (n !== 0) {
    checkIoPermission(cpu, port, size);
    const v = readSized(cpu, src, indexOf(cpu, ESI), size);
    cpu.ioRepeat = k++;
    cpu.bus.ioWrite(port, size, v);
    cpu.ioRepeat = 0;
    advance(cpu, ESI, delta);
    if (cpu.rep === 0) return;
    n = decCount(cpu);
    if (repInterrupted(cpu, n)) { repeatSplit(cpu, k); return; }
  }
}

/**
 * REP OUTS forward from plain RAM (no paging, the whole count inside the segment and
 * RAM): the same port writes, one by one, with the same cycles and stops, but the
 * permission checked once and each element read straight from RAM, or through the
 * bus's block path (CpuBus.ioWriteBlock) where it has one. A driver's transmit path
 * (REP OUTSW to the NE2000's data port) spends its time here. Returns false when it
 * does not apply.
 */
function repOutsDirect(cpu: Cpu, port: number, size: number, seg: number): boolean {
  if (cpu.flags & DF) return false;
  let n = cpu.reg32[ECX] >>> 0;
  if (n === 0) return false;
  let p = bulkRange(cpu, seg, cpu.reg32[ESI], n * size, false);
  if (p < 0) return false;
  checkIoPermission(cpu, port, size);
  const base = repeatBase(cpu);
  let k = 0;
  if (cpu.bus.ioWriteBlock !== undefined) {
    k = cpu.bus.ioWriteBlock(port, size, p, n, cpu.left, cpu.instructionCycles);
    if (k > 0) {
      blockDone(cpu, ESI, k, size);
      p += k * size;
      n -= k;
      if (n === 0) return true;
      if (repStopped(cpu)) { repeatSplit(cpu, base + k); return true; }
    }
  }
  for (; ; k++) {
    const v = size === 1 ? cpu.readPhys8(p) : size === 2 ? cpu.readPhys16(p) : cpu.readPhys32(p);
    cpu.ioRepeat = base + k;
    cpu.bus.ioWrite(port, size, v);
    cpu.ioRepeat = 0;
    p += size;
    cpu.reg32[ESI] = (cpu.reg32[ESI] + size) | 0;
    cpu.reg32[ECX] = --n;
    if (repInterrupted(cpu, n)) { repeatSplit(cpu, base + k + 1); return true; }
    if (n === 0) return true;
  }
}

