/**
 * The x87 FPU: its state (register stack, control, status and tag words, the last
 * instruction and data pointers) and its instructions, the escapes D8-DF (SDM vol. 1
 * ch. 8, vol. 2). The 80-bit arithmetic is cpu/f80.ts's; this file maps ST(i) to the
 * physical registers, keeps the tags, decodes, does the stack fault, the masked and
 * unmasked exception responses, the waiting/no-wait rules, #MF and FERR#, and the
 * memory images of FLDENV/FNSTENV/FRSTOR/FNSAVE.
 *
 * Hot path: one table lookup for the form's properties, then a switch; the register
 * file is F80's Uint32Array, scratch slots 8-10 hold memory operands and results, and
 * nothing is allocated per instruction (FNSAVE/FRSTOR go through one preallocated
 * byte buffer).
 */
import type { Cpu } from './cpu';
import { F80, IE, DE, ZE, PE } from './f80';
import { CF, PF, ZF, AF, OF, SF as SF_FLAG, ARITH, VM } from './flags';
import { CS, UD, MF, CR0_NE, CR0_PE } from './registers';

/** Status word bits (SDM vol. 1, 8.1.3). TOP (bits 11-13) is kept apart, in `top`. */
export const SW_SF = 0x40, SW_ES = 0x80, SW_C0 = 0x100, SW_C1 = 0x200, SW_C2 = 0x400, SW_C3 = 0x4000, SW_B = 0x8000;
const SW_CC = SW_C0 | SW_C1 | SW_C2 | SW_C3;
/** Scratch slots of the F80 register file (0-7 are R0-R7). */
const S0 = 8, S1 = 9, S2 = 10;

/** The FPU's external pins on a PC: FERR# out (IRQ 13 through the chipset), IGNNE# in. */
export interface FpuPins {
  /** Called when FERR# changes; null: no one listens (then pending errors are ignored with NE clear). */
  onFerr: ((asserted: boolean) => void) | null;
  /** IGNNE#: while asserted, a pending error with CR0.NE clear is ignored. */
  ignne: boolean;
  /** FERR#'s level. */
  readonly ferr: boolean;
}

export class Fpu implements FpuPins {
  readonly f = new F80();
  /** The status word without TOP. */
  sw = 0;
  /** TOP: the physical register that is ST(0). */
  top = 0;
  /** Bit i set: physical register Ri is not empty (its full tag is computed from its contents). */
  valid = 0;
  /** Last non-control instruction: offset, CS selector, opcode (11 bits); last memory operand: offset, selector. */
  fip = 0;
  fcs = 0;
  fop = 0;
  fdp = 0;
  fds = 0;
  ferr = false;
  onFerr: ((asserted: boolean) => void) | null = null;
  ignne = false;
  /** FNSAVE/FRSTOR/FBLD/FBSTP/m80 images. */
  readonly buf = new Uint8Array(108);

  constructor() {
    this.powerOn();
  }

  /** The state after RESET (SDM vol. 3, table 9-1): CW 0040, TW 5555 (every register +0), the rest 0. INIT leaves the FPU alone. */
  powerOn(): void {
    this.init();
    this.f.cw = 0x0040;
    this.f.v.fill(0);
    this.valid = 0xff;
  }

  /** FNINIT: CW 037F, SW 0, every register empty, pointers 0 (registers' contents kept). */
  init(): void {
    this.f.cw = 0x037f;
    this.sw = 0;
    this.top = 0;
    this.valid = 0;
    this.fip = this.fcs = this.fop = this.fdp = this.fds = 0;
    this.setFerr(false);
  }

  statusWord(): number {
    return this.sw | (this.top << 11);
  }

  /** The full tag word: 11 for empty registers, else 00 valid, 01 zero, 10 special from the contents. */
  tagWord(): number {
    let tw = 0;
    for (let i = 0; i < 8; i++) tw |= ((this.valid >> i) & 1 ? this.f.tag(i) : 3) << (2 * i);
    return tw;
  }

  setTagWord(tw: number): void {
    let valid = 0;
    for (let i = 0; i < 8; i++) if (((tw >> (2 * i)) & 3) !== 3) valid |= 1 << i;
    this.valid = valid;
  }

  /** ES and B follow the exception flags that are unmasked (after FLDCW, FLDENV, FRSTOR). */
  updateSummary(): void {
    if (this.sw & ~this.f.cw & 0x3f) this.sw |= SW_ES | SW_B;
    else { this.sw &= ~(SW_ES | SW_B); this.setFerr(false); }
  }

  setFerr(on: boolean): void {
    if (this.ferr === on) return;
    this.ferr = on;
    if (!on) this.ignne = false;
    if (this.onFerr !== null) this.onFerr(on);
  }

  /**
   * The wait a waiting instruction (and FWAIT) does first: with an unmasked exception
   * pending, #MF when CR0.NE is set; otherwise (MS-DOS compatibility mode, SDM vol. 1,
   * 8.7.2 and D.2) FERR# is asserted and, unless IGNNE# is, the processor freezes on the
   * instruction until an interrupt (the IRQ 13 that FERR# raises). Returns false when
   * the instruction is to be abandoned (frozen: EIP stays on it).
   */
  wait(cpu: Cpu): boolean {
    if ((this.sw & SW_ES) === 0) return true;
    if (cpu.cr0 & CR0_NE) cpu.fault(MF, -1);
    if (this.onFerr === null) return true;
    this.setFerr(true);
    if (this.ignne) return true;
    cpu.eip = cpu.instrEip;
    cpu.halt();
    return false;
  }
}

// ---- Form properties: one byte per (escape, ModRM) form. ----
const P_UD = 1, P_NOWAIT = 2, P_CONTROL = 4;
/** Register forms at (op & 7) << 6 | (m & 63); memory forms at 512 + ((op & 7) << 3 | reg). */
const FORM = new Uint8Array(512 + 64);
(function buildForms() {
  const reg = (esc: number, lo: number, hi: number, p: number) => { for (let m = lo; m <= hi; m++) FORM[(esc << 6) | (m - 0xc0)] = p; };
  const mem = (esc: number, r: number, p: number) => { FORM[512 + (esc << 3) + r] = p; };
  // D9 register forms
  reg(1, 0xd1, 0xd7, P_UD);
  reg(1, 0xe2, 0xe3, P_UD);
  reg(1, 0xe6, 0xe7, P_UD);
  reg(1, 0xef, 0xef, P_UD);
  reg(1, 0xd0, 0xd0, P_CONTROL); // FNOP
  reg(1, 0xf6, 0xf7, P_CONTROL); // FDECSTP, FINCSTP
  // DA: FCMOVcc C0-DF, FUCOMPP E9; the rest undefined
  reg(2, 0xe0, 0xff, P_UD);
  FORM[(2 << 6) | 0x29] = 0;
  // DB: FCMOVNcc C0-DF, E0-E4 (FNENI, FNDISI, FNCLEX, FNINIT, FNSETPM), FUCOMI E8, FCOMI F0
  reg(3, 0xe0, 0xe4, P_NOWAIT | P_CONTROL);
  reg(3, 0xe5, 0xe7, P_UD);
  reg(3, 0xf8, 0xff, P_UD);
  // DD: FFREE C0 (control), FXCH alias C8, FST D0, FSTP D8, FUCOM E0, FUCOMP E8; F0-FF undefined
  reg(5, 0xc0, 0xc7, P_CONTROL);
  reg(5, 0xf0, 0xff, P_UD);
  // DE: FCOMPP is DE D9 alone
  reg(6, 0xd8, 0xd8, P_UD);
  reg(6, 0xda, 0xdf, P_UD);
  // DF: FFREEP C0 (control), FXCH C8, FSTP D0/D8 aliases, FNSTSW AX E0, FUCOMIP E8, FCOMIP F0
  reg(7, 0xc0, 0xc7, P_CONTROL);
  reg(7, 0xe0, 0xe0, P_NOWAIT | P_CONTROL);
  reg(7, 0xe1, 0xe7, P_UD);
  reg(7, 0xf8, 0xff, P_UD);
  // Memory forms
  mem(1, 1, P_UD);
  mem(1, 4, P_CONTROL); mem(1, 5, P_CONTROL); // FLDENV, FLDCW
  mem(1, 6, P_NOWAIT | P_CONTROL); mem(1, 7, P_NOWAIT | P_CONTROL); // FNSTENV, FNSTCW
  mem(3, 1, P_UD); mem(3, 4, P_UD); mem(3, 6, P_UD); // FISTTP (SSE3) and reserved
  mem(5, 1, P_UD); mem(5, 5, P_UD);
  mem(5, 4, P_CONTROL); // FRSTOR
  mem(5, 6, P_NOWAIT | P_CONTROL); mem(5, 7, P_NOWAIT | P_CONTROL); // FNSAVE, FNSTSW m16
  mem(7, 1, P_UD);
})();

/** Writes the QNaN indefinite (SDM vol. 1, 4.8.3.7) into slot s. */
function indefinite(v: Uint32Array, s: number): void {
  v[s * 3] = 0; v[s * 3 + 1] = 0xc0000000; v[s * 3 + 2] = 0xffff;
}

/**
 * Runs escape `op` (D8-DF) with ModRM `m`, its effective address already decoded into
 * cpu.eaSeg/eaOff for a memory form. The caller has raised #NM for CR0.EM/TS.
 */
export function x87(cpu: Cpu, op: number, m: number): void {
  const fpu = cpu.fpu;
  const esc = op & 7;
  const reg = (m >> 3) & 7;
  const props = FORM[m >= 0xc0 ? (esc << 6) | (m & 63) : 512 + (esc << 3) + reg];
  if (props & P_UD) cpu.fault(UD, -1);
  if ((props & P_NOWAIT) === 0 && !fpu.wait(cpu)) return;
  const f = fpu.f;
  f.flags = 0;
  if (m >= 0xc0) registerForm(cpu, fpu, esc, m);
  else memoryForm(cpu, fpu, esc, reg);
  if ((props & P_CONTROL) === 0) {
    fpu.fip = cpu.instrEip;
    fpu.fcs = cpu.sreg[CS];
    fpu.fop = (esc << 8) | m;
    if (m < 0xc0) {
      fpu.fdp = cpu.eaOff;
      fpu.fds = cpu.sreg[cpu.eaSeg];
    }
  }
}

// ---- Status helpers ----

/** Ends an instruction: its exception flags into SW (and ES/B when one is unmasked), C1 as given. */
function finish(fpu: Fpu, c1: boolean): void {
  const fl = fpu.f.flags;
  let sw = (fpu.sw | (fl & 0x7f)) & ~SW_C1;
  if (c1) sw |= SW_C1;
  if (fl & ~fpu.f.cw & 0x3f) sw |= SW_ES | SW_B;
  fpu.sw = sw;
}

/** Sets C3 C2 C0 (C1 cleared) from compare() or FXAM-style bits (C3 << 3 | C2 << 2 | C0). */
function setCc(fpu: Fpu, c3c2c0: number, c1: boolean): void {
  let sw = fpu.sw & ~SW_CC;
  if (c3c2c0 & 1) sw |= SW_C0;
  if (c3c2c0 & 4) sw |= SW_C2;
  if (c3c2c0 & 8) sw |= SW_C3;
  if (c1) sw |= SW_C1;
  fpu.sw = sw;
}

/** compare()'s answer (0 >, 1 <, 2 =, 3 unordered) as C3 C2 C0. */
const CMP_CC = [0, 1, 8, 13];
/** ... and as ZF PF CF. */
const CMP_EFLAGS = [0, CF, ZF, ZF | PF | CF];

/** A stack underflow (SDM vol. 1, 8.5.1.1): IE and SF, C1 = 0. Returns true when IE is masked. */
function underflow(fpu: Fpu): boolean {
  fpu.f.flags |= IE | SW_SF;
  return (fpu.f.cw & IE) !== 0;
}

/** True when the operation did not complete (an unmasked IE, ZE or DE: nothing stored, no pop). */
function blocked(fpu: Fpu): boolean {
  return (fpu.f.flags & ~fpu.f.cw & (IE | ZE | DE)) !== 0;
}

/** True when a store to memory is withheld (an unmasked exception other than PE). */
function storeBlocked(fpu: Fpu): boolean {
  return (fpu.f.flags & ~fpu.f.cw & 0x1f) !== 0;
}

function pop(fpu: Fpu): void {
  fpu.valid &= ~(1 << fpu.top);
  fpu.top = (fpu.top + 1) & 7;
}

/**
 * Pushes slot `src` (or the indefinite when src < 0) onto the stack. On overflow (the
 * new ST(0) not empty): IE, SF, C1 = 1; masked, the indefinite is pushed; unmasked,
 * nothing changes. Calls finish().
 */
function push(fpu: Fpu, src: number): void {
  const t = (fpu.top - 1) & 7;
  const f = fpu.f;
  if (fpu.valid & (1 << t)) {
    f.flags |= IE | SW_SF;
    if ((f.cw & IE) !== 0) {
      indefinite(f.v, t);
      fpu.top = t;
    }
    finish(fpu, true);
    return;
  }
  if (src < 0) indefinite(f.v, t); else f.copy(t, src);
  fpu.top = t;
  fpu.valid |= 1 << t;
  finish(fpu, false);
}

/** Runs the arithmetic op `kind` (the ModRM reg field: 0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr) into d. */
function arith(f: F80, kind: number, d: number, a: number, b: number): void {
  switch (kind) {
    case 0: f.add(d, a, b); break;
    case 1: f.mul(d, a, b); break;
    case 4: f.sub(d, a, b); break;
    case 5: f.sub(d, b, a); break;
    case 6: f.div(d, a, b); break;
    default: f.div(d, b, a); break;
  }
}

/** True when slot s holds a NaN (any significand but the bare integer bit with exponent 7FFF). */
function isNaN80(v: Uint32Array, s: number): boolean {
  return (v[s * 3 + 2] & 0x7fff) === 0x7fff && ((v[s * 3 + 1] & 0x7fffffff) | v[s * 3]) !== 0;
}

/**
 * ST(0) op= operand in slot `src` (the D8/DA/DC/DE memory forms and D8 register forms),
 * or a compare. `srcDenormal`: the operand was a denormal m32/m64 (its conversion to the
 * register format normalised it, so the operation cannot see it): DE is reported only
 * when the operation raises no IE and ST(0) is no NaN, the SDM's priorities (vol. 1,
 * 8.7: invalid operation and QNaN operands before the denormal operand); unmasked, the
 * operation then does not happen.
 */
function arithSt0(fpu: Fpu, kind: number, src: number, srcValid: boolean, srcDenormal: boolean): void {
  const f = fpu.f;
  const st0 = fpu.top;
  const ok = (fpu.valid & (1 << st0)) !== 0 && srcValid;
  if (kind === 2 || kind === 3) {
    if (!ok) {
      if (underflow(fpu)) { setCc(fpu, 13, false); if (kind === 3) pop(fpu); }
      finish(fpu, false);
      return;
    }
    const r = f.compare(st0, src, false);
    if (srcDenormal) denormalOperand(fpu, st0);
    if (!blocked(fpu)) { setCc(fpu, CMP_CC[r], false); if (kind === 3) pop(fpu); }
    finish(fpu, false);
    return;
  }
  if (!ok) {
    if (underflow(fpu)) { indefinite(f.v, st0); fpu.valid |= 1 << st0; }
    finish(fpu, false);
    return;
  }
  f.c1 = false;
  if (!srcDenormal) {
    arith(f, kind, st0, st0, src);
    finish(fpu, f.c1);
    return;
  }
  arith(f, kind, S1, st0, src);
  denormalOperand(fpu, st0);
  if (!blocked(fpu)) f.copy(st0, S1);
  finish(fpu, f.c1);
}

/** The denormal-operand exception of a converted memory operand, after the operation (see arithSt0). */
function denormalOperand(fpu: Fpu, st0: number): void {
  const f = fpu.f;
  // Not when the operation raised IE or (a denormal divided by zero) ZE, as the library
  // does for register operands, nor with a NaN in ST(0).
  if ((f.flags & (IE | ZE)) !== 0 || isNaN80(f.v, st0)) return;
  if (f.cw & DE) f.flags |= DE;
  else { f.flags = DE; f.c1 = false; }
}

// ---- Register forms ----

function registerForm(cpu: Cpu, fpu: Fpu, esc: number, m: number): void {
  const f = fpu.f;
  const v = f.v;
  const reg = (m >> 3) & 7;
  const i = m & 7;
  const st0 = fpu.top;
  const sti = (fpu.top + i) & 7;
  const st0Valid = (fpu.valid & (1 << st0)) !== 0;
  const stiValid = (fpu.valid & (1 << sti)) !== 0;
  switch (esc) {
    case 0: // D8: ST(0) = ST(0) op ST(i); FCOM, FCOMP
      arithSt0(fpu, reg, sti, stiValid, false);
      return;
    case 1: d9Register(cpu, fpu, m, i, st0, sti, st0Valid, stiValid); return;
    case 2:
      if (reg < 4) { fcmov(cpu, fpu, reg, false, st0, sti, st0Valid, stiValid); return; }
      // DA E9: FUCOMPP
      compareRegs(cpu, fpu, (fpu.top + 1) & 7, true, 2, false);
      return;
    case 3:
      if (reg < 4) { fcmov(cpu, fpu, reg, true, st0, sti, st0Valid, stiValid); return; }
      if (reg === 4) {
        if (m === 0xe2) { fpu.sw &= ~(0x7f | SW_ES | SW_B); fpu.setFerr(false); } // FNCLEX
        else if (m === 0xe3) fpu.init(); // FNINIT
        return; // FNENI, FNDISI, FNSETPM: no-ops since the 387
      }
      compareRegs(cpu, fpu, sti, reg === 5, 0, true); // FUCOMI (E8), FCOMI (F0)
      return;
    case 4: // DC: ST(i) = ST(i) op ST(0); D0/D8 are FCOM/FCOMP aliases
    case 6: // DE: the same and pop; D0 FCOMP alias, D9 FCOMPP
      if (reg === 2 || reg === 3) {
        compareRegs(cpu, fpu, sti, false, esc === 6 && i === 1 && reg === 3 ? 2 : reg === 3 || esc === 6 ? 1 : 0, false);
        return;
      }
      if (!st0Valid || !stiValid) {
        if (underflow(fpu)) {
          indefinite(v, sti); fpu.valid |= 1 << sti;
          if (esc === 6) pop(fpu);
        }
        finish(fpu, false);
        return;
      }
      f.c1 = false;
      // The reverse forms swap with the destination: DC E8+i is ST(i) - ST(0).
      arith(f, reg < 4 ? reg : reg ^ 1, sti, sti, st0);
      if (esc === 6 && !blocked(fpu)) pop(fpu);
      finish(fpu, f.c1);
      return;
    case 5:
      switch (reg) {
        case 0: fpu.valid &= ~(1 << sti); return; // FFREE
        case 1: fxch(fpu, st0, sti, st0Valid, stiValid); return;
        case 2: case 3: fstReg(fpu, sti, reg === 3, st0Valid); return;
        default: compareRegs(cpu, fpu, sti, true, reg === 5 ? 1 : 0, false); return; // FUCOM, FUCOMP
      }
    default: // DF
      switch (reg) {
        case 0: fpu.valid &= ~(1 << sti); pop(fpu); return; // FFREEP
        case 1: fxch(fpu, st0, sti, st0Valid, stiValid); return;
        case 2: case 3: fstReg(fpu, sti, true, st0Valid); return;
        case 4: cpu.reg16[0] = fpu.statusWord(); return; // FNSTSW AX
        default: compareRegs(cpu, fpu, sti, reg === 5, 1, true); return; // FUCOMIP, FCOMIP
      }
  }
}

/**
 * Compares ST(0) with the register `other`, quietly (FUCOM*) or not, then pops `pops`
 * times; `eflags` for FCOMI/FUCOMI(P): ZF PF CF, with OF SF AF cleared (C1 cleared too).
 */
function compareRegs(cpu: Cpu, fpu: Fpu, other: number, quiet: boolean, pops: number, eflags: boolean): void {
  const f = fpu.f;
  const st0 = fpu.top;
  let r: number;
  if ((fpu.valid & (1 << st0)) === 0 || (fpu.valid & (1 << other)) === 0) {
    if (!underflow(fpu)) { unordered(cpu, eflags); finish(fpu, false); return; }
    r = 3;
  } else {
    r = f.compare(st0, other, quiet);
    if (blocked(fpu)) { unordered(cpu, eflags); finish(fpu, false); return; }
  }
  if (eflags) {
    cpu.flags = (cpu.flags & ~ARITH) | CMP_EFLAGS[r];
    cpu.flagsLazy = 0;
    fpu.sw &= ~SW_C1;
  } else {
    setCc(fpu, CMP_CC[r], false);
  }
  for (let k = 0; k < pops; k++) pop(fpu);
  finish(fpu, false);
}

/**
 * An FCOMI/FUCOMI(P) stopped by an unmasked exception: ZF PF CF are left alone (as the
 * SDM has the FCOM family leave C3 C2 C0), OF SF AF cleared all the same (its "Flags
 * Affected" clears them unconditionally; the host x87 does so too).
 */
function unordered(cpu: Cpu, eflags: boolean): void {
  if (!eflags) return;
  cpu.materializeFlags();
  cpu.flags &= ~(OF | SF_FLAG | AF);
}

function fxch(fpu: Fpu, st0: number, sti: number, st0Valid: boolean, stiValid: boolean): void {
  const f = fpu.f;
  if (!st0Valid || !stiValid) {
    if (!underflow(fpu)) { finish(fpu, false); return; }
    if (!st0Valid) indefinite(f.v, st0);
    if (!stiValid) indefinite(f.v, sti);
    fpu.valid |= (1 << st0) | (1 << sti);
  }
  f.copy(S0, st0); f.copy(st0, sti); f.copy(sti, S0);
  finish(fpu, false);
}

/** FST/FSTP ST(i) (and the DF D0/D8 aliases). */
function fstReg(fpu: Fpu, sti: number, doPop: boolean, st0Valid: boolean): void {
  const f = fpu.f;
  if (!st0Valid) {
    if (!underflow(fpu)) { finish(fpu, false); return; }
    indefinite(f.v, sti);
  } else {
    f.copy(sti, fpu.top);
  }
  fpu.valid |= 1 << sti;
  if (doPop) pop(fpu);
  finish(fpu, false);
}

/** FCMOVcc (DA C0-DF, and DB C0-DF negated): B (CF), E (ZF), BE (CF or ZF), U (PF). */
function fcmov(cpu: Cpu, fpu: Fpu, cc: number, negate: boolean, st0: number, sti: number, st0Valid: boolean, stiValid: boolean): void {
  const f = fpu.f;
  if (!st0Valid || !stiValid) {
    // Masked, ST(0) becomes the indefinite whatever the condition (the SDM's #IS).
    if (underflow(fpu)) { indefinite(f.v, st0); fpu.valid |= 1 << st0; }
    finish(fpu, false);
    return;
  }
  let take: boolean;
  switch (cc) {
    case 0: take = cpu.getCF() !== 0; break;
    case 1: take = cpu.getZF(); break;
    case 2: take = cpu.getCF() !== 0 || cpu.getZF(); break;
    default: take = cpu.getPF(); break;
  }
  if (take !== negate) f.copy(st0, sti);
  finish(fpu, false);
}

function d9Register(cpu: Cpu, fpu: Fpu, m: number, i: number, st0: number, sti: number, st0Valid: boolean, stiValid: boolean): void {
  void cpu;
  const f = fpu.f;
  const v = f.v;
  switch (m & 0xf8) {
    case 0xc0: // FLD ST(i)
      if (!stiValid) {
        if (underflow(fpu)) push(fpu, -1); else finish(fpu, false);
        return;
      }
      push(fpu, sti);
      return;
    case 0xc8: fxch(fpu, st0, sti, st0Valid, stiValid); return;
    case 0xd0: finish(fpu, false); return; // FNOP (D9 D0): C1 as any other instruction
    case 0xd8: // D9 D8+i (iced's FSTPNCE): FSTP without the stack fault: ST(0) with its tag
      // goes to ST(i), then the pop; an empty ST(0) raises nothing (the host x87; QEMU too)
      f.copy(sti, st0);
      if (st0Valid) fpu.valid |= 1 << sti; else fpu.valid &= ~(1 << sti);
      pop(fpu);
      finish(fpu, false);
      return;
    case 0xe8: // constants (EF is #UD, screened)
      f.c1 = false;
      f.setConst(S0, i);
      push(fpu, S0);
      return;
    default: break;
  }
  // D9 E0-E5, F0-FF: operate on ST(0) (and ST(1)).
  const st1 = (st0 + 1) & 7;
  const st1Valid = (fpu.valid & (1 << st1)) !== 0;
  switch (m) {
    case 0xe5: { // FXAM: C1 = sign; empty is C3 C0 = 1 0 1
      const sign = (v[st0 * 3 + 2] & 0x8000) !== 0;
      setCc(fpu, st0Valid ? f.examine(st0) : 9, sign);
      return;
    }
    case 0xf6: fpu.top = (fpu.top - 1) & 7; fpu.sw &= ~SW_C1; return; // FDECSTP
    case 0xf7: fpu.top = (fpu.top + 1) & 7; fpu.sw &= ~SW_C1; return; // FINCSTP
    default: break;
  }
  if (!st0Valid) {
    // Every remaining form reads ST(0): underflow, the indefinite (and FTST: unordered).
    if (underflow(fpu)) {
      if (m === 0xe4) setCc(fpu, 13, false);
      else if (m === 0xf1 || m === 0xf3 || m === 0xf9) { indefinite(v, st1); fpu.valid |= 1 << st1; pop(fpu); }
      else { indefinite(v, st0); fpu.valid |= 1 << st0; if (m === 0xf2 || m === 0xf4 || m === 0xfb) { push(fpu, -1); return; } }
    }
    finish(fpu, false);
    return;
  }
  f.c1 = false;
  switch (m) {
    case 0xe0: f.chs(st0); finish(fpu, false); return;
    case 0xe1: f.abs(st0); finish(fpu, false); return;
    case 0xe4: // FTST: compare with +0.0
      f.setConst(S0, 6);
      { const r = f.compare(st0, S0, false); if (!blocked(fpu)) setCc(fpu, CMP_CC[r], false); }
      finish(fpu, false);
      return;
    case 0xf0: f.f2xm1(st0, st0); finish(fpu, f.c1); return;
    case 0xfa: f.sqrt(st0, st0); finish(fpu, f.c1); return;
    case 0xfc: f.roundInt(st0, st0); finish(fpu, f.c1); return;
    case 0xfe: case 0xff: { // FSIN, FCOS: C2 = 1 and nothing changed when out of range
      const inRange = m === 0xfe ? f.sin(st0, st0) : f.cos(st0, st0);
      fpu.sw = inRange ? fpu.sw & ~SW_C2 : fpu.sw | SW_C2;
      finish(fpu, inRange && f.c1);
      return;
    }
    default: break;
  }
  // Two-operand and pushing forms.
  switch (m) {
    case 0xf1: case 0xf3: case 0xf9: case 0xf5: case 0xf8: case 0xfd:
      if (!st1Valid) {
        if (underflow(fpu)) {
          if (m === 0xf1 || m === 0xf3 || m === 0xf9) { indefinite(v, st1); fpu.valid |= 1 << st1; pop(fpu); }
          else { indefinite(v, st0); if (m !== 0xfd) fpu.sw &= ~SW_C2; }
        }
        finish(fpu, false);
        return;
      }
      break;
    default: break;
  }
  switch (m) {
    case 0xf1: f.yl2x(st1, st1, st0); if (!blocked(fpu)) pop(fpu); finish(fpu, f.c1); return;
    case 0xf3: f.atan2(st1, st1, st0); if (!blocked(fpu)) pop(fpu); finish(fpu, f.c1); return;
    case 0xf9: f.yl2xp1(st1, st1, st0); if (!blocked(fpu)) pop(fpu); finish(fpu, f.c1); return;
    case 0xfd: f.scale(st0, st0, st1); finish(fpu, f.c1); return;
    case 0xf5: case 0xf8: { // FPREM1, FPREM: C0 C3 C1 = Q2 Q1 Q0, C2 = incomplete
      const cc = f.prem(st0, st0, st1, m === 0xf5);
      if (blocked(fpu)) { finish(fpu, false); return; }
      setCc(fpu, ((cc >> 3) & 1) << 3 | ((cc >> 2) & 1) << 2 | (cc & 1), (cc & 2) !== 0);
      finish(fpu, (cc & 2) !== 0);
      return;
    }
    default: break;
  }
  // FPTAN (F2), FXTRACT (F4), FSINCOS (FB): a result in ST(0), then one more pushed.
  const t = (fpu.top - 1) & 7;
  if (fpu.valid & (1 << t)) {
    f.flags |= IE | SW_SF;
    if (f.cw & IE) { indefinite(v, st0); indefinite(v, t); fpu.top = t; fpu.valid |= 1 << t; }
    finish(fpu, true);
    return;
  }
  if (m === 0xf4) {
    f.xtract(S1, S2, st0);
    if (blocked(fpu)) { finish(fpu, false); return; }
    f.copy(st0, S2);
    push(fpu, S1);
    return;
  }
  if (m === 0xf2) {
    if (!f.tan(S1, st0)) { fpu.sw |= SW_C2; finish(fpu, false); return; }
    fpu.sw &= ~SW_C2;
    if (blocked(fpu)) { finish(fpu, false); return; }
    const c1 = f.c1;
    f.copy(st0, S1);
    // 1.0 is pushed, or the NaN again when the tangent is one (the silicon's answer, f80.ts)
    if (!isNaN80(f.v, S1)) f.setConst(S1, 0);
    push(fpu, S1);
    if (c1) fpu.sw |= SW_C1;
    return;
  }
  // FSINCOS: ST(0) = sin, then cos pushed
  if (!f.cos(S2, st0)) { fpu.sw |= SW_C2; finish(fpu, false); return; }
  f.sin(S1, st0);
  fpu.sw &= ~SW_C2;
  if (blocked(fpu)) { finish(fpu, false); return; }
  const c1 = f.c1;
  f.copy(st0, S1);
  push(fpu, S2);
  if (c1) fpu.sw |= SW_C1;
}

// ---- Memory forms ----

function memoryForm(cpu: Cpu, fpu: Fpu, esc: number, reg: number): void {
  const f = fpu.f;
  const seg = cpu.eaSeg, off = cpu.eaOff;
  // D8, DA, DC, DE: ST(0) op m32real / m32int / m64real / m16int
  if ((esc & 1) === 0) {
    switch (esc) {
      case 0: f.fromF32(S0, cpu.read32(seg, off)); break;
      case 2: f.fromInt32(S0, cpu.read32(seg, off)); break;
      case 4: { const lo = cpu.read32(seg, off); f.fromF64(S0, lo, cpu.read32(seg, off + 4)); break; }
      default: f.fromInt32(S0, (cpu.read16(seg, off) << 16) >> 16); break;
    }
    // The conversion's exceptions are the operation's: an SNaN goes on as an SNaN (so
    // that the operation picks the NaN it returns by the SDM's rules, table 4-7, and
    // raises IE itself), and its DE is reported by arithSt0 in its priority.
    if (f.flags & IE) { f.v[S0 * 3 + 1] &= ~0x40000000; f.flags &= ~IE; }
    const denormal = (f.flags & DE) !== 0;
    f.flags &= ~DE;
    arithSt0(fpu, reg, S0, true, denormal);
    return;
  }
  switch ((esc << 3) | reg) {
    // ---- loads ----
    case (1 << 3) | 0: loadMem(fpu, 0, cpu.read32(seg, off), 0); return; // FLD m32
    case (3 << 3) | 0: loadMem(fpu, 1, cpu.read32(seg, off), 0); return; // FILD m32
    case (7 << 3) | 0: loadMem(fpu, 1, (cpu.read16(seg, off) << 16) >> 16, 0); return; // FILD m16
    case (5 << 3) | 0: { const lo = cpu.read32(seg, off); loadMem(fpu, 2, lo, cpu.read32(seg, off + 4)); return; } // FLD m64
    case (7 << 3) | 5: { const lo = cpu.read32(seg, off); loadMem(fpu, 3, lo, cpu.read32(seg, off + 4)); return; } // FILD m64
    case (3 << 3) | 5: // FLD m80: no conversion, no exception but the stack's
      readBytes(cpu, fpu.buf, seg, off, 10);
      f.fromF80(S0, fpu.buf, 0);
      push(fpu, S0);
      return;
    case (7 << 3) | 4: // FBLD
      readBytes(cpu, fpu.buf, seg, off, 10);
      f.fromBcd(S0, fpu.buf, 0);
      push(fpu, S0);
      return;
    // ---- stores ----
    case (1 << 3) | 2: case (1 << 3) | 3: // FST(P) m32
    case (5 << 3) | 2: case (5 << 3) | 3: // FST(P) m64
    case (3 << 3) | 2: case (3 << 3) | 3: // FIST(P) m32
    case (7 << 3) | 2: case (7 << 3) | 3: // FIST(P) m16
      storeMem(cpu, fpu, esc, reg === 3, seg, off);
      return;
    case (7 << 3) | 7: storeMem(cpu, fpu, 8, true, seg, off); return; // FISTP m64
    case (3 << 3) | 7: // FSTP m80
      cpu.checkWrite(seg, off, 10);
      if ((fpu.valid & (1 << fpu.top)) === 0) {
        if (!underflow(fpu)) { finish(fpu, false); return; }
        indefinite(f.v, S0);
      } else f.copy(S0, fpu.top);
      f.toF80(S0, fpu.buf, 0);
      writeBytes(cpu, fpu.buf, seg, off, 10);
      pop(fpu);
      finish(fpu, false);
      return;
    case (7 << 3) | 6: // FBSTP
      cpu.checkWrite(seg, off, 10);
      if ((fpu.valid & (1 << fpu.top)) === 0) {
        if (!underflow(fpu)) { finish(fpu, false); return; }
        // The BCD indefinite: FFFF C000 0000 0000 0000 (SDM vol. 1, 4.7)
        fpu.buf.fill(0, 0, 10); fpu.buf[7] = 0xc0; fpu.buf[8] = 0xff; fpu.buf[9] = 0xff;
      } else {
        f.c1 = false;
        f.toBcd(fpu.top, fpu.buf, 0);
        if (storeBlocked(fpu)) { finish(fpu, false); return; }
      }
      writeBytes(cpu, fpu.buf, seg, off, 10);
      pop(fpu);
      finish(fpu, f.c1);
      return;
    // ---- control ----
    case (1 << 3) | 4: loadEnv(cpu, fpu, seg, off, false); return; // FLDENV
    case (1 << 3) | 5: f.cw = (cpu.read16(seg, off) & ~0xe0c0) | 0x40; fpu.updateSummary(); return; // FLDCW
    case (1 << 3) | 6: storeEnv(cpu, fpu, seg, off, false); return; // FNSTENV
    case (1 << 3) | 7: cpu.write16(seg, off, f.cw); return; // FNSTCW
    case (5 << 3) | 4: loadEnv(cpu, fpu, seg, off, true); return; // FRSTOR
    case (5 << 3) | 6: storeEnv(cpu, fpu, seg, off, true); return; // FNSAVE
    default: cpu.write16(seg, off, fpu.statusWord()); return; // (5 << 3) | 7: FNSTSW m16
  }
}

/** Loads a memory operand (kind 0 m32 real, 1 integer, 2 m64 real, 3 m64 integer) and pushes it. */
function loadMem(fpu: Fpu, kind: number, lo: number, hi: number): void {
  const f = fpu.f;
  if (fpu.valid & (1 << ((fpu.top - 1) & 7))) { push(fpu, -1); return; } // overflow
  switch (kind) {
    case 0: f.fromF32(S0, lo); break;
    case 1: f.fromInt32(S0, lo); break;
    case 2: f.fromF64(S0, lo, hi); break;
    default: f.fromInt64(S0, lo, hi); break;
  }
  if (blocked(fpu)) { finish(fpu, false); return; }
  push(fpu, S0);
}

/** FST/FSTP m32 (esc 1), m64 (5), FIST(P) m32 (3), m16 (7), FISTP m64 (8). */
function storeMem(cpu: Cpu, fpu: Fpu, esc: number, doPop: boolean, seg: number, off: number): void {
  const f = fpu.f;
  f.c1 = false;
  let lo: number, hi = 0;
  if ((fpu.valid & (1 << fpu.top)) === 0) {
    if (!underflow(fpu)) { finish(fpu, false); return; }
    // Masked: the indefinite of the destination format (SDM vol. 1, 4.8.3.7, 4.2.2).
    switch (esc) {
      case 1: lo = 0xffc00000 | 0; break;
      case 5: lo = 0; hi = 0xfff80000 | 0; break;
      case 3: lo = 0x80000000 | 0; break;
      case 7: lo = 0x8000; break;
      default: lo = 0; hi = 0x80000000 | 0; break;
    }
  } else {
    const st0 = fpu.top;
    switch (esc) {
      case 1: lo = f.toF32(st0); break;
      case 5: f.toF64(st0); lo = f.outLo; hi = f.outHi; break;
      case 3: f.toInt(st0, 32, false); lo = f.outLo; break;
      case 7: f.toInt(st0, 16, false); lo = f.outLo; break;
      default: f.toInt(st0, 64, false); lo = f.outLo; hi = f.outHi; break;
    }
    if (storeBlocked(fpu)) { finish(fpu, false); return; }
  }
  if (esc === 7) cpu.write16(seg, off, lo & 0xffff);
  else if (esc === 1 || esc === 3) cpu.write32(seg, off, lo);
  else {
    cpu.checkWrite(seg, off, 8);
    cpu.write32(seg, off, lo);
    cpu.write32(seg, off + 4, hi);
  }
  if (doPop) pop(fpu);
  finish(fpu, f.c1);
}

function readBytes(cpu: Cpu, buf: Uint8Array, seg: number, off: number, n: number): void {
  for (let k = 0; k < n; k++) buf[k] = cpu.read8(seg, off + k);
}

function writeBytes(cpu: Cpu, buf: Uint8Array, seg: number, off: number, n: number): void {
  for (let k = 0; k < n; k++) cpu.write8(seg, off + k, buf[k]);
}

function put16(b: Uint8Array, at: number, v: number): void { b[at] = v; b[at + 1] = v >> 8; }
function put32(b: Uint8Array, at: number, v: number): void { b[at] = v; b[at + 1] = v >> 8; b[at + 2] = v >> 16; b[at + 3] = v >>> 24; }
function get16(b: Uint8Array, at: number): number { return b[at] | (b[at + 1] << 8); }
function get32(b: Uint8Array, at: number): number { return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0; }

/** Real-address (and virtual-8086) layouts hold linear 20/32-bit pointers and the opcode; protected ones selector:offset. */
function realLayout(cpu: Cpu): boolean {
  return (cpu.cr0 & CR0_PE) === 0 || (cpu.flags & VM) !== 0;
}

/**
 * FNSTENV / FNSAVE (SDM vol. 1, figures 8-9 to 8-12): the 14- or 28-byte environment
 * (operand size), then for FNSAVE ST(0)..ST(7) as 10 bytes each, then FNINIT. Reserved
 * halves of the 32-bit images are written as zeros. FNSTENV then masks every exception
 * (as the SDM says it does). The whole image is checked writable first.
 */
function storeEnv(cpu: Cpu, fpu: Fpu, seg: number, off: number, save: boolean): void {
  const f = fpu.f;
  const b = fpu.buf;
  const o32 = cpu.o32;
  const envLen = o32 ? 28 : 14;
  const len = save ? envLen + 80 : envLen;
  cpu.checkWrite(seg, off, len);
  b.fill(0, 0, len);
  const sw = fpu.statusWord(), tw = fpu.tagWord();
  const real = realLayout(cpu);
  const w = o32 ? 4 : 2;
  put16(b, 0, f.cw); put16(b, w, sw); put16(b, 2 * w, tw);
  if (real) {
    const ip = ((fpu.fcs << 4) + fpu.fip) >>> 0;
    const dp = ((fpu.fds << 4) + fpu.fdp) >>> 0;
    if (o32) {
      put16(b, 12, ip); put32(b, 16, ((ip >>> 16) << 12) | fpu.fop);
      put16(b, 20, dp); put32(b, 24, (dp >>> 16) << 12);
    } else {
      put16(b, 6, ip); put16(b, 8, (((ip >>> 16) & 0xf) << 12) | fpu.fop);
      put16(b, 10, dp); put16(b, 12, ((dp >>> 16) & 0xf) << 12);
    }
  } else if (o32) {
    put32(b, 12, fpu.fip); put32(b, 16, fpu.fcs | (fpu.fop << 16));
    put32(b, 20, fpu.fdp); put16(b, 24, fpu.fds);
  } else {
    put16(b, 6, fpu.fip); put16(b, 8, fpu.fcs); put16(b, 10, fpu.fdp); put16(b, 12, fpu.fds);
  }
  if (save) for (let i = 0; i < 8; i++) f.toF80((fpu.top + i) & 7, b, envLen + 10 * i);
  writeBytes(cpu, b, seg, off, len);
  if (save) fpu.init();
  else { f.cw |= 0x3f; fpu.updateSummary(); }
}

/** FLDENV / FRSTOR: everything read first, then loaded; ES and B follow the loaded words. */
function loadEnv(cpu: Cpu, fpu: Fpu, seg: number, off: number, restore: boolean): void {
  const f = fpu.f;
  const b = fpu.buf;
  const o32 = cpu.o32;
  const envLen = o32 ? 28 : 14;
  readBytes(cpu, b, seg, off, restore ? envLen + 80 : envLen);
  const w = o32 ? 4 : 2;
  f.cw = (get16(b, 0) & ~0xe0c0) | 0x40;
  const sw = get16(b, w);
  fpu.top = (sw >> 11) & 7;
  fpu.sw = sw & ~0x3800;
  fpu.setTagWord(get16(b, 2 * w));
  if (realLayout(cpu)) {
    fpu.fcs = fpu.fds = 0;
    if (o32) {
      const x = get32(b, 16);
      fpu.fip = (get16(b, 12) | ((x >>> 12) << 16)) >>> 0; fpu.fop = x & 0x7ff;
      fpu.fdp = (get16(b, 20) | ((get32(b, 24) >>> 12) << 16)) >>> 0;
    } else {
      const x = get16(b, 8);
      fpu.fip = get16(b, 6) | ((x >> 12) << 16); fpu.fop = x & 0x7ff;
      fpu.fdp = get16(b, 10) | ((get16(b, 12) >> 12) << 16);
    }
  } else if (o32) {
    fpu.fip = get32(b, 12); const x = get32(b, 16); fpu.fcs = x & 0xffff; fpu.fop = (x >>> 16) & 0x7ff;
    fpu.fdp = get32(b, 20); fpu.fds = get16(b, 24);
  } else {
    fpu.fip = get16(b, 6); fpu.fcs = get16(b, 8); fpu.fdp = get16(b, 10); fpu.fds = get16(b, 12);
  }
  if (restore) for (let i = 0; i < 8; i++) f.fromF80((fpu.top + i) & 7, b, envLen + 10 * i);
  fpu.updateSummary();
}
