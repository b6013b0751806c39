/**
 * Decode and execute one instruction: prefixes, then one switch on the opcode byte
 * (and one on the 0F page). Forms are named as in the Intel SDM vol. 2 opcode map
 * (appendix A): E = ModRM r/m operand, G = ModRM reg, I = immediate, b/w/d/v sizes.
 *
 * The per-instruction path allocates nothing: operands are numbers, the effective
 * address lives in cpu.eaSeg/cpu.eaOff, and faults unwind through Cpu.fault.
 */
import type { Cpu } from './cpu';
import {
  alu, sub, add, logic, incdec, shift, doubleShift, mulU32, mulS32, mulHigh, mulFlags, imulTrunc,
  div32, idiv32, daa, das, aaa, aam, aad, sahf, SIGN8, SIGN16, SIGN32,
} from './alu';
import { CF, ZF, TF, IF, DF, OF, IOPL, RF, VM, AC, ID, FIXED_ONE } from './flags';
import {
  EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, ES, CS, SS, DS, FS, GS,
  UD, GP, NM, BP, OFV, BR, DB, CR0_EM, CR0_TS, CR0_MP, CR0_PE, CR0_NW, CR0_CD, CR4_DE,
} from './registers';
import {
  loadSegment, deliverInterrupt, iret, farJump, farCall, farReturn, lldt, ltr, inspectSelector,
  checkIoPermission, writeFlagsChecked,
} from './system';

/** Byte offset of each 8-bit register (AL CL DL BL AH CH DH BH) in the register buffer. */
const R8 = new Uint8Array([0, 4, 8, 12, 1, 5, 9, 13]);

/** CPUID leaf 1 EDX: what this CPU really implements (no FPU, no SSE, no APIC). */
export const CPUID_FEATURES_EDX =
  (1 << 3) /* PSE */ | (1 << 4) /* TSC */ | (1 << 5) /* MSR */ | (1 << 8) /* CX8 */ |
  (1 << 13) /* PGE */ | (1 << 15) /* CMOV */;
/** Family 6, model 1, stepping 9: a Pentium Pro signature. */
export const CPUID_SIGNATURE = 0x00000619;

const MSR_TSC = 0x10;

// ======================================================================
// ModRM effective addresses (SDM vol. 2, tables 2-1 and 2-2)
// ======================================================================

function decodeEA(cpu: Cpu, m: number): void {
  if (cpu.a32) decodeEA32(cpu, m); else decodeEA16(cpu, m);
}

function decodeEA32(cpu: Cpu, m: number): void {
  const mod = m >> 6;
  const rm = m & 7;
  const r = cpu.reg32;
  let seg = DS;
  let off: number;
  if (rm === 4) {
    const sib = cpu.fetch8();
    const base = sib & 7;
    const index = (sib >> 3) & 7;
    if (base === 5 && mod === 0) {
      off = cpu.fetch32();
    } else {
      off = r[base];
      if (base === ESP || base === EBP) seg = SS;
    }
    if (index !== 4) off += r[index] << (sib >> 6);
  } else if (rm === 5 && mod === 0) {
    off = cpu.fetch32();
  } else {
    off = r[rm];
    if (rm === EBP) seg = SS;
  }
  if (mod === 1) off += (cpu.fetch8() << 24) >> 24;
  else if (mod === 2) off += cpu.fetch32();
  cpu.eaOff = off | 0;
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

/** Reads the ModRM byte and, for memory forms, the effective address. */
function modrm(cpu: Cpu): number {
  const m = cpu.fetch8();
  if (m < 0xc0) decodeEA(cpu, m);
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

function rdE8(cpu: Cpu, m: number): number {
  return m >= 0xc0 ? cpu.reg8[R8[m & 7]] : cpu.read8(cpu.eaSeg, cpu.eaOff);
}
function wrE8(cpu: Cpu, m: number, v: number): void {
  if (m >= 0xc0) cpu.reg8[R8[m & 7]] = v; else cpu.write8(cpu.eaSeg, cpu.eaOff, v);
}
function rdE16(cpu: Cpu, m: number): number {
  return m >= 0xc0 ? cpu.reg16[(m & 7) << 1] : cpu.read16(cpu.eaSeg, cpu.eaOff);
}
function wrE16(cpu: Cpu, m: number, v: number): void {
  if (m >= 0xc0) cpu.reg16[(m & 7) << 1] = v; else cpu.write16(cpu.eaSeg, cpu.eaOff, v);
}
function rdE32(cpu: Cpu, m: number): number {
  return m >= 0xc0 ? cpu.reg32[m & 7] : cpu.read32(cpu.eaSeg, cpu.eaOff);
}
function wrE32(cpu: Cpu, m: number, v: number): void {
  if (m >= 0xc0) cpu.reg32[m & 7] = v; else cpu.write32(cpu.eaSeg, cpu.eaOff, v);
}
function rdEv(cpu: Cpu, m: number): number {
  return cpu.o32 ? rdE32(cpu, m) : rdE16(cpu, m);
}
function wrEv(cpu: Cpu, m: number, v: number): void {
  if (cpu.o32) wrE32(cpu, m, v); else wrE16(cpu, m, v);
}
function rdG8(cpu: Cpu, m: number): number { return cpu.reg8[R8[(m >> 3) & 7]]; }
function wrG8(cpu: Cpu, m: number, v: number): void { cpu.reg8[R8[(m >> 3) & 7]] = v; }
function rdGv(cpu: Cpu, m: number): number {
  return cpu.o32 ? cpu.reg32[(m >> 3) & 7] : cpu.reg16[((m >> 3) & 7) << 1];
}
function wrGv(cpu: Cpu, m: number, v: number): void {
  if (cpu.o32) cpu.reg32[(m >> 3) & 7] = v; else cpu.reg16[((m >> 3) & 7) << 1] = v;
}
function signV(cpu: Cpu): number { return cpu.o32 ? SIGN32 : SIGN16; }
function fetchIv(cpu: Cpu): number { return cpu.o32 ? cpu.fetch32() : cpu.fetch16(); }
function fetchIbSigned(cpu: Cpu): number { return (cpu.fetch8() << 24) >> 24; }
function maskV(cpu: Cpu, v: number): number { return cpu.o32 ? v | 0 : v & 0xffff; }

function pushV(cpu: Cpu, v: number): void { if (cpu.o32) cpu.push32(v); else cpu.push16(v); }
function popV(cpu: Cpu): number { return cpu.o32 ? cpu.pop32() : cpu.pop16(); }

/** The count register of string ops and LOOP: ECX or CX by address size. */
function getCount(cpu: Cpu): number { return cpu.a32 ? cpu.reg32[ECX] >>> 0 : cpu.reg16[ECX << 1]; }

// ======================================================================
// Conditions (SDM vol. 2, appendix B.1, table B-1)
// ======================================================================

export function condition(cpu: Cpu, cc: number): boolean {
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

function jumpRelative(cpu: Cpu, disp: number): void {
  cpu.eip = cpu.o32 ? (cpu.eip + disp) >>> 0 : (cpu.eip + disp) & 0xffff;
}

// ======================================================================
// One instruction
// ======================================================================

export function step(cpu: Cpu): void {
  const d32 = cpu.csD32;
  cpu.o32 = d32;
  cpu.a32 = d32;
  cpu.segOvr = -1;
  cpu.rep = 0;
  let op = cpu.fetch8();
  if (PREFIX[op]) op = prefixes(cpu, op);
  execute(cpu, op);
}

/** 1 for each prefix byte. */
const PREFIX = new Uint8Array(256);
for (const p of [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]) PREFIX[p] = 1;

/** Consumes prefixes; returns the opcode byte. More than 14 prefixes make a 16-byte instruction: #GP(0). */
function prefixes(cpu: Cpu, op: number): number {
  let n = 0;
  let lock = false;
  while (PREFIX[op]) {
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

function execute(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  switch (op) {
    // ---- ALU: ADD OR ADC SBB AND SUB XOR CMP, six forms each ----
    case 0x00: case 0x08: case 0x10: case 0x18: case 0x20: case 0x28: case 0x30: case 0x38: {
      const m = modrm(cpu);
      const r = alu(cpu, op >> 3, rdE8(cpu, m), rdG8(cpu, m), SIGN8);
      if (op !== 0x38) wrE8(cpu, m, r);
      return;
    }
    case 0x01: case 0x09: case 0x11: case 0x19: case 0x21: case 0x29: case 0x31: case 0x39: {
      const m = modrm(cpu);
      if (cpu.o32) {
        const r = alu(cpu, op >> 3, rdE32(cpu, m), r32[(m >> 3) & 7], SIGN32);
        if (op !== 0x39) wrE32(cpu, m, r);
      } else {
        const r = alu(cpu, op >> 3, rdE16(cpu, m), cpu.reg16[((m >> 3) & 7) << 1], SIGN16);
        if (op !== 0x39) wrE16(cpu, m, r);
      }
      return;
    }
    case 0x02: case 0x0a: case 0x12: case 0x1a: case 0x22: case 0x2a: case 0x32: case 0x3a: {
      const m = modrm(cpu);
      const r = alu(cpu, op >> 3, rdG8(cpu, m), rdE8(cpu, m), SIGN8);
      if (op !== 0x3a) wrG8(cpu, m, r);
      return;
    }
    case 0x03: case 0x0b: case 0x13: case 0x1b: case 0x23: case 0x2b: case 0x33: case 0x3b: {
      const m = modrm(cpu);
      if (cpu.o32) {
        const r = alu(cpu, op >> 3, r32[(m >> 3) & 7], rdE32(cpu, m), SIGN32);
        if (op !== 0x3b) r32[(m >> 3) & 7] = r;
      } else {
        const r = alu(cpu, op >> 3, cpu.reg16[((m >> 3) & 7) << 1], rdE16(cpu, m), SIGN16);
        if (op !== 0x3b) cpu.reg16[((m >> 3) & 7) << 1] = r;
      }
      return;
    }
    case 0x04: case 0x0c: case 0x14: case 0x1c: case 0x24: case 0x2c: case 0x34: case 0x3c: {
      const r = alu(cpu, op >> 3, cpu.reg8[0], cpu.fetch8(), SIGN8);
      if (op !== 0x3c) cpu.reg8[0] = r;
      return;
    }
    case 0x05: case 0x0d: case 0x15: case 0x1d: case 0x25: case 0x2d: case 0x35: case 0x3d: {
      if (cpu.o32) {
        const r = alu(cpu, op >> 3, r32[EAX], cpu.fetch32(), SIGN32);
        if (op !== 0x3d) r32[EAX] = r;
      } else {
        const r = alu(cpu, op >> 3, cpu.reg16[0], cpu.fetch16(), SIGN16);
        if (op !== 0x3d) cpu.reg16[0] = r;
      }
      return;
    }

    // ---- Segment register push/pop ----
    case 0x06: pushV(cpu, cpu.sreg[ES]); return;
    case 0x07: popSegment(cpu, ES); return;
    case 0x0e: pushV(cpu, cpu.sreg[CS]); return;
    case 0x16: pushV(cpu, cpu.sreg[SS]); return;
    case 0x17: popSegment(cpu, SS); return;
    case 0x1e: pushV(cpu, cpu.sreg[DS]); return;
    case 0x1f: popSegment(cpu, DS); return;

    case 0x0f: execute0F(cpu, cpu.fetch8()); return;

    // ---- BCD ----
    case 0x27: daa(cpu); return;
    case 0x2f: das(cpu); return;
    case 0x37: aaa(cpu, false); return;
    case 0x3f: aaa(cpu, true); return;

    // ---- INC/DEC/PUSH/POP register ----
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
      const reg = op & 7;
      if (cpu.o32) r32[reg] = incdec(cpu, r32[reg], op >= 0x48, SIGN32);
      else cpu.reg16[reg << 1] = incdec(cpu, cpu.reg16[reg << 1], op >= 0x48, SIGN16);
      return;
    }
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
      if (cpu.o32) cpu.push32(r32[op & 7]); else cpu.push16(cpu.reg16[(op & 7) << 1]);
      return;
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
      if (cpu.o32) { const v = cpu.pop32(); r32[op & 7] = v; }
      else { const v = cpu.pop16(); cpu.reg16[(op & 7) << 1] = v; }
      return;

    case 0x60: pusha(cpu); return;
    case 0x61: popa(cpu); return;
    case 0x62: bound(cpu); return;
    case 0x63: arpl(cpu); return;

    case 0x68: pushV(cpu, fetchIv(cpu)); return;
    case 0x69: {
      const m = modrm(cpu);
      const a = rdEv(cpu, m);
      wrGv(cpu, m, imulTrunc(cpu, a, fetchIv(cpu), cpu.o32 ? 32 : 16));
      return;
    }
    case 0x6a: pushV(cpu, maskV(cpu, fetchIbSigned(cpu))); return;
    case 0x6b: {
      const m = modrm(cpu);
      const a = rdEv(cpu, m);
      wrGv(cpu, m, imulTrunc(cpu, a, maskV(cpu, fetchIbSigned(cpu)), cpu.o32 ? 32 : 16));
      return;
    }
    case 0x6c: stringIns(cpu, 1); return;
    case 0x6d: stringIns(cpu, cpu.o32 ? 4 : 2); return;
    case 0x6e: stringOuts(cpu, 1); return;
    case 0x6f: stringOuts(cpu, cpu.o32 ? 4 : 2); return;

    // ---- Jcc rel8 ----
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f: {
      const disp = fetchIbSigned(cpu);
      if (condition(cpu, op & 15)) jumpRelative(cpu, disp);
      return;
    }

    // ---- Group 1: ALU r/m, imm ----
    case 0x80: case 0x82: {
      const m = modrm(cpu);
      const a = rdE8(cpu, m);
      const r = alu(cpu, (m >> 3) & 7, a, cpu.fetch8(), SIGN8);
      if (((m >> 3) & 7) !== 7) wrE8(cpu, m, r);
      return;
    }
    case 0x81: case 0x83: {
      const m = modrm(cpu);
      const a = rdEv(cpu, m);
      const imm = op === 0x81 ? fetchIv(cpu) : maskV(cpu, fetchIbSigned(cpu));
      const r = alu(cpu, (m >> 3) & 7, a, imm, signV(cpu));
      if (((m >> 3) & 7) !== 7) wrEv(cpu, m, r);
      return;
    }
    case 0x84: { const m = modrm(cpu); logic(cpu, rdE8(cpu, m) & rdG8(cpu, m), SIGN8); return; }
    case 0x85: { const m = modrm(cpu); logic(cpu, maskV(cpu, rdEv(cpu, m) & rdGv(cpu, m)), signV(cpu)); return; }
    case 0x86: {
      const m = modrm(cpu);
      const a = rdE8(cpu, m);
      wrE8(cpu, m, rdG8(cpu, m));
      wrG8(cpu, m, a);
      return;
    }
    case 0x87: {
      const m = modrm(cpu);
      const a = rdEv(cpu, m);
      wrEv(cpu, m, rdGv(cpu, m));
      wrGv(cpu, m, a);
      return;
    }

    // ---- MOV ----
    case 0x88: { const m = modrm(cpu); wrE8(cpu, m, rdG8(cpu, m)); return; }
    case 0x89: {
      const m = modrm(cpu);
      if (cpu.o32) wrE32(cpu, m, r32[(m >> 3) & 7]); else wrE16(cpu, m, cpu.reg16[((m >> 3) & 7) << 1]);
      return;
    }
    case 0x8a: { const m = modrm(cpu); wrG8(cpu, m, rdE8(cpu, m)); return; }
    case 0x8b: {
      const m = modrm(cpu);
      if (cpu.o32) r32[(m >> 3) & 7] = rdE32(cpu, m); else cpu.reg16[((m >> 3) & 7) << 1] = rdE16(cpu, m);
      return;
    }
    case 0x8c: {
      const m = modrm(cpu);
      const s = (m >> 3) & 7;
      if (s > 5) cpu.fault(UD, -1);
      // A register destination with 32-bit operand size gets the selector zero-extended (P6 and later).
      if (m >= 0xc0 && cpu.o32) r32[m & 7] = cpu.sreg[s]; else wrE16(cpu, m, cpu.sreg[s]);
      return;
    }
    case 0x8d: {
      const m = modrmMem(cpu);
      wrGv(cpu, m, maskV(cpu, cpu.eaOff));
      return;
    }
    case 0x8e: {
      const m = modrm(cpu);
      const s = (m >> 3) & 7;
      if (s > 5 || s === CS) cpu.fault(UD, -1);
      loadSegment(cpu, s, rdE16(cpu, m));
      if (s === SS) cpu.inhibitIrqUntil = cpu.instructions + 1;
      return;
    }
    case 0x8f: {
      // POP r/m: the address is computed after ESP is incremented (SDM vol. 2, POP).
      const v = popV(cpu);
      const m = cpu.fetch8();
      if (((m >> 3) & 7) !== 0) cpu.fault(UD, -1);
      if (m < 0xc0) decodeEA(cpu, m);
      wrEv(cpu, m, v);
      return;
    }

    case 0x90:
      return; // NOP (also PAUSE with F3)
    case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97: {
      const reg = op & 7;
      if (cpu.o32) { const t = r32[EAX]; r32[EAX] = r32[reg]; r32[reg] = t; }
      else { const t = cpu.reg16[0]; cpu.reg16[0] = cpu.reg16[reg << 1]; cpu.reg16[reg << 1] = t; }
      return;
    }
    case 0x98:
      if (cpu.o32) r32[EAX] = (cpu.reg16[0] << 16) >> 16; else cpu.reg16[0] = (cpu.reg8[0] << 24) >> 24;
      return;
    case 0x99:
      if (cpu.o32) r32[EDX] = r32[EAX] >> 31; else cpu.reg16[EDX << 1] = (cpu.reg16[0] & 0x8000) ? 0xffff : 0;
      return;
    case 0x9a: {
      const off = fetchIv(cpu);
      const sel = cpu.fetch16();
      farCall(cpu, sel, off, cpu.o32);
      return;
    }
    case 0x9b: // WAIT/FWAIT: #NM when MP and TS are both set (SDM vol. 3, table 2-2)
      if ((cpu.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) cpu.fault(NM, -1);
      return;
    case 0x9c: pushf(cpu); return;
    case 0x9d: popf(cpu); return;
    case 0x9e: sahf(cpu); return;
    case 0x9f: cpu.reg8[1] = cpu.getEflags() & 0xff; return;

    // ---- MOV moffs ----
    case 0xa0: cpu.reg8[0] = cpu.read8(dataSeg(cpu), fetchMoffs(cpu)); return;
    case 0xa1: {
      const off = fetchMoffs(cpu);
      if (cpu.o32) r32[EAX] = cpu.read32(dataSeg(cpu), off); else cpu.reg16[0] = cpu.read16(dataSeg(cpu), off);
      return;
    }
    case 0xa2: cpu.write8(dataSeg(cpu), fetchMoffs(cpu), cpu.reg8[0]); return;
    case 0xa3: {
      const off = fetchMoffs(cpu);
      if (cpu.o32) cpu.write32(dataSeg(cpu), off, r32[EAX]); else cpu.write16(dataSeg(cpu), off, cpu.reg16[0]);
      return;
    }

    // ---- String instructions ----
    case 0xa4: stringMovs(cpu, 1); return;
    case 0xa5: stringMovs(cpu, cpu.o32 ? 4 : 2); return;
    case 0xa6: stringCmps(cpu, 1); return;
    case 0xa7: stringCmps(cpu, cpu.o32 ? 4 : 2); return;
    case 0xa8: logic(cpu, cpu.reg8[0] & cpu.fetch8(), SIGN8); return;
    case 0xa9: logic(cpu, maskV(cpu, (cpu.o32 ? r32[EAX] : cpu.reg16[0]) & fetchIv(cpu)), signV(cpu)); return;
    case 0xaa: stringStos(cpu, 1); return;
    case 0xab: stringStos(cpu, cpu.o32 ? 4 : 2); return;
    case 0xac: stringLods(cpu, 1); return;
    case 0xad: stringLods(cpu, cpu.o32 ? 4 : 2); return;
    case 0xae: stringScas(cpu, 1); return;
    case 0xaf: stringScas(cpu, cpu.o32 ? 4 : 2); return;

    // ---- MOV reg, imm ----
    case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
      cpu.reg8[R8[op & 7]] = cpu.fetch8();
      return;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
      if (cpu.o32) r32[op & 7] = cpu.fetch32(); else cpu.reg16[(op & 7) << 1] = cpu.fetch16();
      return;

    // ---- Group 2: shifts and rotates ----
    case 0xc0: { const m = modrm(cpu); const a = rdE8(cpu, m); const c = cpu.fetch8() & 31; shiftE8(cpu, m, a, c); return; }
    case 0xc1: { const m = modrm(cpu); const a = rdEv(cpu, m); const c = cpu.fetch8() & 31; shiftEv(cpu, m, a, c); return; }
    case 0xd0: { const m = modrm(cpu); shiftE8(cpu, m, rdE8(cpu, m), 1); return; }
    case 0xd1: { const m = modrm(cpu); shiftEv(cpu, m, rdEv(cpu, m), 1); return; }
    case 0xd2: { const m = modrm(cpu); shiftE8(cpu, m, rdE8(cpu, m), cpu.reg8[4] & 31); return; }
    case 0xd3: { const m = modrm(cpu); shiftEv(cpu, m, rdEv(cpu, m), cpu.reg8[4] & 31); return; }

    // ---- Near returns ----
    case 0xc2: { const n = cpu.fetch16(); const ip = popV(cpu); cpu.setSP(cpu.getSP() + n); cpu.eip = ip >>> 0; return; }
    case 0xc3: { const ip = popV(cpu); cpu.eip = ip >>> 0; return; }
    case 0xc4: loadFarPointer(cpu, ES); return;
    case 0xc5: loadFarPointer(cpu, DS); return;
    case 0xc6: {
      const m = modrm(cpu);
      if (((m >> 3) & 7) !== 0) cpu.fault(UD, -1);
      wrE8(cpu, m, cpu.fetch8());
      return;
    }
    case 0xc7: {
      const m = modrm(cpu);
      if (((m >> 3) & 7) !== 0) cpu.fault(UD, -1);
      wrEv(cpu, m, fetchIv(cpu));
      return;
    }
    case 0xc8: enter(cpu); return;
    case 0xc9: leave(cpu); return;
    case 0xca: { const n = cpu.fetch16(); farReturn(cpu, cpu.o32, n); return; }
    case 0xcb: farReturn(cpu, cpu.o32, 0); return;
    case 0xcc: deliverInterrupt(cpu, BP, true, -1, false); return;
    case 0xcd: { const v = cpu.fetch8(); deliverInterrupt(cpu, v, true, -1, false); return; }
    case 0xce: if (cpu.getOF()) deliverInterrupt(cpu, OFV, true, -1, false); return;
    case 0xcf: iret(cpu, cpu.o32); return;

    case 0xd4: aam(cpu, cpu.fetch8()); return;
    case 0xd5: aad(cpu, cpu.fetch8()); return;
    case 0xd6: cpu.reg8[0] = cpu.getCF() ? 0xff : 0; return; // SALC (undocumented, present on all P6)
    case 0xd7: {
      const base = cpu.a32 ? r32[EBX] + cpu.reg8[0] : (cpu.reg16[EBX << 1] + cpu.reg8[0]) & 0xffff;
      cpu.reg8[0] = cpu.read8(dataSeg(cpu), base);
      return;
    }
    case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
      // x87 escape with no FPU: #NM when CR0.EM or CR0.TS says so, else #UD (see README).
      if (cpu.cr0 & (CR0_EM | CR0_TS)) cpu.fault(NM, -1);
      cpu.fault(UD, -1);
      return;

    // ---- LOOP and JCXZ ----
    case 0xe0: case 0xe1: case 0xe2: {
      const disp = fetchIbSigned(cpu);
      let n: number;
      if (cpu.a32) { n = (r32[ECX] - 1) | 0; r32[ECX] = n; } else { n = (cpu.reg16[ECX << 1] - 1) & 0xffff; cpu.reg16[ECX << 1] = n; }
      let take = n !== 0;
      if (op === 0xe0) take = take && !cpu.getZF();
      else if (op === 0xe1) take = take && cpu.getZF();
      if (take) jumpRelative(cpu, disp);
      return;
    }
    case 0xe3: {
      const disp = fetchIbSigned(cpu);
      if (getCount(cpu) === 0) jumpRelative(cpu, disp);
      return;
    }

    // ---- Port I/O ----
    case 0xe4: { const p = cpu.fetch8(); cpu.reg8[0] = portIn(cpu, p, 1); return; }
    case 0xe5: { const p = cpu.fetch8(); inAcc(cpu, p); return; }
    case 0xe6: { const p = cpu.fetch8(); portOut(cpu, p, 1, cpu.reg8[0]); return; }
    case 0xe7: { const p = cpu.fetch8(); outAcc(cpu, p); return; }
    case 0xec: cpu.reg8[0] = portIn(cpu, cpu.reg16[EDX << 1], 1); return;
    case 0xed: inAcc(cpu, cpu.reg16[EDX << 1]); return;
    case 0xee: portOut(cpu, cpu.reg16[EDX << 1], 1, cpu.reg8[0]); return;
    case 0xef: outAcc(cpu, cpu.reg16[EDX << 1]); return;

    // ---- Near and far CALL/JMP ----
    case 0xe8: {
      const disp = fetchIv(cpu);
      pushV(cpu, cpu.eip);
      jumpRelative(cpu, disp);
      return;
    }
    case 0xe9: jumpRelative(cpu, cpu.o32 ? cpu.fetch32() : (cpu.fetch16() << 16) >> 16); return;
    case 0xea: {
      const off = fetchIv(cpu);
      const sel = cpu.fetch16();
      farJump(cpu, sel, off, cpu.o32);
      return;
    }
    case 0xeb: jumpRelative(cpu, fetchIbSigned(cpu)); return;

    case 0xf1: deliverInterrupt(cpu, DB, false, -1, false); return; // INT1/ICEBP: no gate DPL check
    case 0xf4:
      if (cpu.protectedMode && cpu.cpl !== 0) cpu.fault(GP, 0);
      cpu.halt();
      return;
    case 0xf5: cpu.setCF(cpu.getCF() === 0); return;
    case 0xf6: group3(cpu, true); return;
    case 0xf7: group3(cpu, false); return;
    case 0xf8: cpu.setCF(false); return;
    case 0xf9: cpu.setCF(true); return;
    case 0xfa:
      if (cpu.protectedMode && cpu.cpl > ((cpu.flags & IOPL) >>> 12)) cpu.fault(GP, 0);
      cpu.flags &= ~IF;
      return;
    case 0xfb:
      if (cpu.protectedMode && cpu.cpl > ((cpu.flags & IOPL) >>> 12)) cpu.fault(GP, 0);
      if (!(cpu.flags & IF)) cpu.inhibitIrqUntil = cpu.instructions + 1;
      cpu.flags |= IF;
      return;
    case 0xfc: cpu.flags &= ~DF; return;
    case 0xfd: cpu.flags |= DF; return;
    case 0xfe: {
      const m = modrm(cpu);
      const reg = (m >> 3) & 7;
      if (reg > 1) cpu.fault(UD, -1);
      wrE8(cpu, m, incdec(cpu, rdE8(cpu, m), reg === 1, SIGN8));
      return;
    }
    case 0xff: group5(cpu); return;

    default:
      cpu.fault(UD, -1);
  }
}

// ======================================================================
// The 0F page
// ======================================================================

function execute0F(cpu: Cpu, op: number): void {
  const r32 = cpu.reg32;
  switch (op) {
    case 0x00: group6(cpu); return;
    case 0x01: group7(cpu); return;
    case 0x02: case 0x03: {
      if (!cpu.protectedMode) cpu.fault(UD, -1);
      const m = modrm(cpu);
      const v = inspectSelector(cpu, rdE16(cpu, m), op === 0x02 ? 'lar' : 'lsl');
      cpu.materializeFlags();
      if (v < 0) { cpu.flags &= ~ZF; return; }
      cpu.flags |= ZF;
      wrGv(cpu, m, maskV(cpu, v));
      return;
    }
    case 0x06:
      if (cpu.cpl !== 0) cpu.fault(GP, 0);
      cpu.cr0 &= ~CR0_TS;
      return;
    case 0x08: case 0x09:
      if (cpu.cpl !== 0) cpu.fault(GP, 0);
      return; // INVD/WBINVD: no caches are modelled
    case 0x0b: cpu.fault(UD, -1); return; // UD2
    case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
      modrm(cpu); // hint NOPs (NOP r/m is P6 and later)
      return;
    case 0x20: case 0x21: case 0x22: case 0x23: moveControl(cpu, op); return;
    case 0x30: // WRMSR
      if (cpu.cpl !== 0) cpu.fault(GP, 0);
      if (r32[ECX] !== MSR_TSC) cpu.fault(GP, 0);
      cpu.tscOffset = ((r32[EDX] >>> 0) * 4294967296 + (r32[EAX] >>> 0)) - cpu.cycles;
      return;
    case 0x31: { // RDTSC
      if ((cpu.cr4 & 4) && cpu.cpl !== 0 && cpu.protectedMode) cpu.fault(GP, 0);
      readTsc(cpu);
      return;
    }
    case 0x32: // RDMSR
      if (cpu.cpl !== 0) cpu.fault(GP, 0);
      if (r32[ECX] !== MSR_TSC) cpu.fault(GP, 0);
      readTsc(cpu);
      return;
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
      const m = modrm(cpu);
      const v = rdEv(cpu, m); // the source is read (and may fault) whatever the condition
      if (condition(cpu, op & 15)) wrGv(cpu, m, v);
      return;
    }
    case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86: case 0x87:
    case 0x88: case 0x89: case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x8e: case 0x8f: {
      const disp = cpu.o32 ? cpu.fetch32() : (cpu.fetch16() << 16) >> 16;
      if (condition(cpu, op & 15)) jumpRelative(cpu, disp);
      return;
    }
    case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
    case 0x98: case 0x99: case 0x9a: case 0x9b: case 0x9c: case 0x9d: case 0x9e: case 0x9f: {
      const m = modrm(cpu);
      wrE8(cpu, m, condition(cpu, op & 15) ? 1 : 0);
      return;
    }
    case 0xa0: pushV(cpu, cpu.sreg[FS]); return;
    case 0xa1: popSegment(cpu, FS); return;
    case 0xa2: cpuid(cpu); return;
    case 0xa3: bitTest(cpu, 0, false); return;
    case 0xa4: case 0xa5: case 0xac: case 0xad: {
      const m = modrm(cpu);
      const a = rdEv(cpu, m);
      const count = (op & 1 ? cpu.reg8[4] : cpu.fetch8()) & 31;
      if (count === 0) return;
      wrEv(cpu, m, doubleShift(cpu, op < 0xa8, a, rdGv(cpu, m), count, cpu.o32 ? 32 : 16));
      return;
    }
    case 0xa8: pushV(cpu, cpu.sreg[GS]); return;
    case 0xa9: popSegment(cpu, GS); return;
    case 0xab: bitTest(cpu, 1, false); return;
    case 0xaf: {
      const m = modrm(cpu);
      wrGv(cpu, m, imulTrunc(cpu, rdGv(cpu, m), rdEv(cpu, m), cpu.o32 ? 32 : 16));
      return;
    }
    case 0xb0: { // CMPXCHG Eb, Gb
      const m = modrm(cpu);
      const d = rdE8(cpu, m);
      sub(cpu, cpu.reg8[0], d, SIGN8);
      if (cpu.reg8[0] === d) wrE8(cpu, m, rdG8(cpu, m));
      else { wrE8(cpu, m, d); cpu.reg8[0] = d; }
      return;
    }
    case 0xb1: { // CMPXCHG Ev, Gv: the destination is written back either way (SDM vol. 2)
      const m = modrm(cpu);
      const d = rdEv(cpu, m);
      const acc = cpu.o32 ? r32[EAX] : cpu.reg16[0];
      sub(cpu, acc, d, signV(cpu));
      if (acc === d) wrEv(cpu, m, rdGv(cpu, m));
      else { wrEv(cpu, m, d); if (cpu.o32) r32[EAX] = d; else cpu.reg16[0] = d; }
      return;
    }
    case 0xb2: loadFarPointer(cpu, SS); return;
    case 0xb3: bitTest(cpu, 2, false); return;
    case 0xb4: loadFarPointer(cpu, FS); return;
    case 0xb5: loadFarPointer(cpu, GS); return;
    case 0xb6: { const m = modrm(cpu); wrGv(cpu, m, rdE8(cpu, m)); return; }
    case 0xb7: { const m = modrm(cpu); wrGv(cpu, m, rdE16(cpu, m)); return; }
    case 0xba: bitTest(cpu, -1, true); return;
    case 0xbb: bitTest(cpu, 3, false); return;
    case 0xbc: case 0xbd: { // BSF/BSR: a zero source sets ZF and leaves the destination alone
      const m = modrm(cpu);
      const v = cpu.o32 ? rdE32(cpu, m) : rdE16(cpu, m);
      if (v === 0) {
        logic(cpu, 0, signV(cpu));
        return;
      }
      const idx = op === 0xbc ? 31 - Math.clz32(v & -v) : 31 - Math.clz32(v);
      wrGv(cpu, m, idx);
      logic(cpu, idx | 0x100, SIGN32); // ZF=0; SF/PF undefined
      return;
    }
    case 0xbe: { const m = modrm(cpu); wrGv(cpu, m, maskV(cpu, (rdE8(cpu, m) << 24) >> 24)); return; }
    case 0xbf: { const m = modrm(cpu); wrGv(cpu, m, maskV(cpu, (rdE16(cpu, m) << 16) >> 16)); return; }
    case 0xc0: { // XADD Eb, Gb
      const m = modrm(cpu);
      const d = rdE8(cpu, m), s = rdG8(cpu, m);
      const r = add(cpu, d, s, SIGN8);
      wrE8(cpu, m, r);
      wrG8(cpu, m, d);
      return;
    }
    case 0xc1: {
      const m = modrm(cpu);
      const d = rdEv(cpu, m), s = rdGv(cpu, m);
      const r = add(cpu, d, s, signV(cpu));
      wrEv(cpu, m, r);
      wrGv(cpu, m, d);
      return;
    }
    case 0xc7: cmpxchg8b(cpu); return;
    case 0xc8: case 0xc9: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf: {
      const reg = op & 7;
      if (cpu.o32) {
        const v = r32[reg];
        r32[reg] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
      } else {
        cpu.reg16[reg << 1] = 0; // BSWAP r16 is undefined; P6 processors clear it
      }
      return;
    }
    default:
      cpu.fault(UD, -1);
  }
}

// ======================================================================
// Instruction helpers
// ======================================================================

function dataSeg(cpu: Cpu): number { return cpu.segOvr >= 0 ? cpu.segOvr : DS; }
function fetchMoffs(cpu: Cpu): number { return cpu.a32 ? cpu.fetch32() : cpu.fetch16(); }

function popSegment(cpu: Cpu, seg: number): void {
  const sp = cpu.getSP();
  const v = cpu.o32 ? cpu.read32(SS, sp) & 0xffff : cpu.read16(SS, sp);
  loadSegment(cpu, seg, v);
  cpu.setSP(sp + (cpu.o32 ? 4 : 2));
  if (seg === SS) cpu.inhibitIrqUntil = cpu.instructions + 1;
}

function shiftE8(cpu: Cpu, m: number, a: number, count: number): void {
  if (count === 0) return;
  wrE8(cpu, m, shift(cpu, (m >> 3) & 7, a, count, 8));
}

function shiftEv(cpu: Cpu, m: number, a: number, count: number): void {
  if (count === 0) return;
  wrEv(cpu, m, shift(cpu, (m >> 3) & 7, a, count, cpu.o32 ? 32 : 16));
}

function pusha(cpu: Cpu): void {
  const r = cpu.reg32;
  if (cpu.o32) {
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
  if (cpu.o32) {
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
  if (cpu.o32) {
    const idx = cpu.reg32[(m >> 3) & 7];
    const lo = cpu.read32(cpu.eaSeg, cpu.eaOff), hi = cpu.read32(cpu.eaSeg, cpu.eaOff + 4);
    if (idx < lo || idx > hi) cpu.fault(BR, -1);
  } else {
    const idx = (cpu.reg16[((m >> 3) & 7) << 1] << 16) >> 16;
    const lo = (cpu.read16(cpu.eaSeg, cpu.eaOff) << 16) >> 16;
    const hi = (cpu.read16(cpu.eaSeg, (cpu.eaOff + 2) & (cpu.a32 ? -1 : 0xffff)) << 16) >> 16;
    if (idx < lo || idx > hi) cpu.fault(BR, -1);
  }
}

function arpl(cpu: Cpu): void {
  if (!cpu.protectedMode) cpu.fault(UD, -1);
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
  // VM and RF are never pushed set (SDM vol. 2, PUSHF).
  const f = cpu.getEflags() & ~(VM | RF);
  if (cpu.o32) cpu.push32(f); else cpu.push16(f);
}

function popf(cpu: Cpu): void {
  const v = cpu.o32 ? cpu.pop32() : cpu.pop16();
  const mask = cpu.o32 ? (0x3f7fd5 & ~VM) : 0x7fd5;
  writeFlagsChecked(cpu, v, mask);
  if (!(cpu.flags & TF)) cpu.cancelSingleStep();
}

function loadFarPointer(cpu: Cpu, seg: number): void {
  const m = modrmMem(cpu);
  const off = cpu.o32 ? cpu.read32(cpu.eaSeg, cpu.eaOff) : cpu.read16(cpu.eaSeg, cpu.eaOff);
  const sel = cpu.read16(cpu.eaSeg, cpu.eaOff + (cpu.o32 ? 4 : 2));
  loadSegment(cpu, seg, sel);
  wrGv(cpu, m, off);
  if (seg === SS) cpu.inhibitIrqUntil = cpu.instructions + 1;
}

/** ENTER imm16, imm8 (SDM vol. 2, ENTER): nesting level taken modulo 32. */
function enter(cpu: Cpu): void {
  const size = cpu.fetch16();
  const level = cpu.fetch8() & 31;
  const r = cpu.reg32;
  const w = cpu.o32 ? 4 : 2;
  pushV(cpu, cpu.o32 ? r[EBP] : cpu.reg16[EBP << 1]);
  const frame = cpu.getSP();
  if (level > 0) {
    let bp = cpu.ssB32 ? r[EBP] : cpu.reg16[EBP << 1];
    for (let i = 1; i < level; i++) {
      bp = cpu.ssB32 ? (bp - w) | 0 : (bp - w) & 0xffff;
      pushV(cpu, cpu.o32 ? cpu.read32(SS, bp) : cpu.read16(SS, bp));
    }
    pushV(cpu, frame);
  }
  if (cpu.o32) r[EBP] = frame; else cpu.reg16[EBP << 1] = frame;
  const sp = cpu.getSP() - size;
  // Touch the lowest byte of the new frame so an overflow faults here, as hardware does.
  cpu.checkWrite(SS, cpu.ssB32 ? sp : sp & 0xffff, 1);
  cpu.setSP(sp);
}

function leave(cpu: Cpu): void {
  if (cpu.ssB32) cpu.reg32[ESP] = cpu.reg32[EBP]; else cpu.reg16[ESP << 1] = cpu.reg16[EBP << 1];
  const v = popV(cpu);
  if (cpu.o32) cpu.reg32[EBP] = v; else cpu.reg16[EBP << 1] = v;
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
  if (cpu.o32) {
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
      cpu.eip = cpu.o32 ? target >>> 0 : target & 0xffff;
      return;
    }
    case 3: case 5: {
      if (m >= 0xc0) cpu.fault(UD, -1);
      const off = cpu.o32 ? cpu.read32(cpu.eaSeg, cpu.eaOff) : cpu.read16(cpu.eaSeg, cpu.eaOff);
      const sel = cpu.read16(cpu.eaSeg, cpu.eaOff + (cpu.o32 ? 4 : 2));
      if (reg === 3) farCall(cpu, sel, off, cpu.o32); else farJump(cpu, sel, off, cpu.o32);
      return;
    }
    case 4: {
      const target = rdEv(cpu, m);
      cpu.eip = cpu.o32 ? target >>> 0 : target & 0xffff;
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
  const bits = cpu.o32 ? 32 : 16;
  let offset: number;
  if (immediate) {
    const k = (m >> 3) & 7;
    if (k < 4) cpu.fault(UD, -1);
    kind = k - 4;
    offset = cpu.fetch8() & (bits - 1);
  } else {
    offset = cpu.o32 ? cpu.reg32[(m >> 3) & 7] : (cpu.reg16[((m >> 3) & 7) << 1] << 16) >> 16;
  }
  let v: number;
  let bit: number;
  if (m >= 0xc0) {
    bit = offset & (bits - 1);
    v = cpu.o32 ? cpu.reg32[m & 7] : cpu.reg16[(m & 7) << 1];
  } else {
    if (!immediate) {
      const step = bits >> 3;
      const delta = Math.floor(offset / bits) * step;
      cpu.eaOff = cpu.a32 ? (cpu.eaOff + delta) | 0 : (cpu.eaOff + delta) & 0xffff;
    }
    bit = offset & (bits - 1);
    v = cpu.o32 ? cpu.read32(cpu.eaSeg, cpu.eaOff) : cpu.read16(cpu.eaSeg, cpu.eaOff);
  }
  cpu.setCF(((v >>> bit) & 1) !== 0);
  if (kind === 0) return;
  const mask = 1 << bit;
  const nv = kind === 1 ? v | mask : kind === 2 ? v & ~mask : v ^ mask;
  if (m >= 0xc0) {
    if (cpu.o32) cpu.reg32[m & 7] = nv; else cpu.reg16[(m & 7) << 1] = nv;
  } else if (cpu.o32) cpu.write32(cpu.eaSeg, cpu.eaOff, nv);
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
  r[EAX] = CPUID_SIGNATURE;
  r[EBX] = 0;
  r[ECX] = 0;
  r[EDX] = CPUID_FEATURES_EDX;
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
  if (!cpu.protectedMode) cpu.fault(UD, -1);
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
  if (m >= 0xc0 && cpu.o32) cpu.reg32[m & 7] = sel; else wrE16(cpu, m, sel);
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
      if (m >= 0xc0 && cpu.o32) cpu.reg32[m & 7] = cpu.cr0; else wrE16(cpu, m, cpu.cr0 & 0xffff);
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

// ======================================================================
// Port I/O
// ======================================================================

function portIn(cpu: Cpu, port: number, size: number): number {
  checkIoPermission(cpu, port, size);
  return cpu.bus.ioRead(port, size);
}

function portOut(cpu: Cpu, port: number, size: number, v: number): void {
  checkIoPermission(cpu, port, size);
  cpu.bus.ioWrite(port, size, v);
}

function inAcc(cpu: Cpu, port: number): void {
  if (cpu.o32) cpu.reg32[EAX] = portIn(cpu, port, 4);
  else cpu.reg16[0] = portIn(cpu, port, 2);
}

function outAcc(cpu: Cpu, port: number): void {
  if (cpu.o32) portOut(cpu, port, 4, cpu.reg32[EAX]);
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
  if (cpu.a32) cpu.reg32[reg] = (cpu.reg32[reg] + delta) | 0;
  else cpu.reg16[reg << 1] = (cpu.reg16[reg << 1] + delta) & 0xffff;
}

function indexOf(cpu: Cpu, reg: number): number {
  return cpu.a32 ? cpu.reg32[reg] : cpu.reg16[reg << 1];
}

function decCount(cpu: Cpu): number {
  if (cpu.a32) { const n = (cpu.reg32[ECX] - 1) | 0; cpu.reg32[ECX] = n; return n; }
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
  cpu.cycles += cpu.instructionCycles;
  if (left !== 0 && cpu.cycles >= cpu.budgetEnd) {
    cpu.eip = cpu.instrEip;
    return true;
  }
  return false;
}

function stringMovs(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const src = dataSeg(cpu);
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

function stringStos(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const v = size === 1 ? cpu.reg8[0] : size === 2 ? cpu.reg16[0] : cpu.reg32[EAX];
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
  let n = cpu.rep === 0 ? 1 : getCount(cpu);
  while (n !== 0) {
    checkIoPermission(cpu, port, size);
    // The destination is checked before the port is read, so a fault does not lose data.
    cpu.checkWrite(ES, indexOf(cpu, EDI), size);
    writeSized(cpu, ES, indexOf(cpu, EDI), size, cpu.bus.ioRead(port, size));
    advance(cpu, EDI, delta);
    if (cpu.rep === 0) return;
    n = decCount(cpu);
    if (repInterrupted(cpu, n)) return;
  }
}

function stringOuts(cpu: Cpu, size: number): void {
  const delta = cpu.flags & DF ? -size : size;
  const port = cpu.reg16[EDX << 1];
  const src = dataSeg(cpu);
  let n = cpu.rep === 0 ? 1 : getCount(cpu);
  while (n !== 0) {
    checkIoPermission(cpu, port, size);
    cpu.bus.ioWrite(port, size, readSized(cpu, src, indexOf(cpu, ESI), size));
    advance(cpu, ESI, delta);
    if (cpu.rep === 0) return;
    n = decCount(cpu);
    if (repInterrupted(cpu, n)) return;
  }
}

void [CF, OF, AC, ID, FIXED_ONE, EBP, EDI, ESI];
