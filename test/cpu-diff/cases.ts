/**
 * The instruction cases of the differential tests: for each instruction form, a
 * seeded set of register, flag and memory inputs, as GNU assembler source, plus which
 * flags the Intel SDM (vol. 2, each instruction's "Flags Affected") leaves undefined
 * for that form, so that the comparison masks exactly those.
 *
 * A case runs with: EAX..EDI (not ESP) loaded, EFLAGS from `flags` (status bits and
 * DF), a 32-byte memory block `mem` filled, EBX = &mem unless the case sets EBX
 * itself. After the instruction the harness saves all registers (ESP as its change),
 * EFLAGS and the memory block.
 */
import seedrandom from 'seedrandom';

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
export const STATUS = CF | PF | AF | ZF | SF | OF;

export interface Case {
  group: string;
  /** Assembly of the instruction(s) under test (AT&T syntax); `mem` is the memory block. */
  asm: string;
  regs: number[]; // eax ecx edx ebx (ebx may be replaced by &mem) esp(ignored) ebp esi edi
  flags: number;
  mem: number[]; // 8 dwords
  /** Flags whose value after the instruction the SDM leaves undefined. */
  undefinedFlags: number;
  /** When EBX must hold &mem (memory operand addressed through EBX). */
  ebxIsMem: boolean;
  /** Registers whose value is undefined afterwards (bit i = register i). */
  undefinedRegs?: number;
}

const EDGE = [0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678, 0xfffffffe, 0x10000, 0x100];
const COUNTS = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 255];

export class CaseBuilder {
  readonly cases: Case[] = [];
  readonly rng: seedrandom.PRNG;

  constructor(seed: string) {
    this.rng = seedrandom(seed);
  }

  int(n: number): number {
    return Math.floor(this.rng() * n);
  }

  value(): number {
    const r = this.rng();
    if (r < 0.5) return EDGE[this.int(EDGE.length)] >>> 0;
    if (r < 0.6) return this.int(256);
    return (this.rng() * 0x100000000) >>> 0;
  }

  flags(): number {
    // Status flags and DF in random combinations; IF and the rest stay as the OS has them.
    let f = 0;
    for (const bit of [CF, PF, AF, ZF, SF, OF]) if (this.rng() < 0.5) f |= bit;
    return f;
  }

  add(group: string, asm: string, undefinedFlags = 0, opts: { regs?: (number | undefined)[]; mem?: number[]; ebxIsMem?: boolean; flags?: number; undefinedRegs?: number } = {}): void {
    const regs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (opts.regs?.[i] !== undefined ? opts.regs[i]! >>> 0 : this.value()));
    const mem = opts.mem ?? Array.from({ length: 8 }, () => this.value());
    this.cases.push({
      group, asm, regs, flags: opts.flags ?? this.flags(), mem, undefinedFlags,
      ebxIsMem: opts.ebxIsMem ?? /\(%ebx\)|mem/.test(asm), undefinedRegs: opts.undefinedRegs,
    });
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  count(): number {
    return this.rng() < 0.7 ? COUNTS[this.int(COUNTS.length)] : this.int(256);
  }
}

const SIZES = [
  { s: 'b', r: ['%al', '%cl', '%dl', '%ah', '%ch', '%dh'], bits: 8 },
  { s: 'w', r: ['%ax', '%cx', '%dx', '%si', '%di', '%bp'], bits: 16 },
  { s: 'l', r: ['%eax', '%ecx', '%edx', '%esi', '%edi', '%ebp'], bits: 32 },
] as const;
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

/** Every group, `n` cases per form (more where the operand space is larger). */
export function buildCases(seed: string, n: number): Case[] {
  const b = new CaseBuilder(seed);
  const reps = (k: number, f: () => void) => { for (let i = 0; i < k; i++) f(); };

  // ---- ALU: all flags defined except AF after logic ops (SDM: AND/OR/XOR/TEST "AF undefined") ----
  for (const op of ['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor', 'test']) {
    const logic = ['and', 'or', 'xor', 'test'].includes(op);
    const und = logic ? AF : 0;
    for (const z of SIZES) {
      reps(n, () => {
        const a = b.pick(z.r), c = b.pick(z.r);
        b.add(`alu ${op}${z.s}`, `${op}${z.s} ${a}, ${c}`, und);
        b.add(`alu ${op}${z.s}`, `${op}${z.s} $${b.value() & (z.bits === 32 ? 0xffffffff : (1 << z.bits) - 1)}, ${c}`, und);
        b.add(`alu ${op}${z.s}`, `${op}${z.s} 4(%ebx), ${a}`, und);
        if (op !== 'test') b.add(`alu ${op}${z.s}`, `${op}${z.s} ${a}, 8(%ebx)`, und);
        if (z.bits > 8) b.add(`alu ${op}${z.s}`, `${op}${z.s} $${(b.value() << 24) >> 24}, ${c}`, und); // imm8 sign-extended form
      });
    }
  }
  // ---- INC DEC NEG NOT ----
  for (const op of ['inc', 'dec', 'neg', 'not']) {
    for (const z of SIZES) {
      reps(n, () => {
        b.add(`unary ${op}${z.s}`, `${op}${z.s} ${b.pick(z.r)}`);
        b.add(`unary ${op}${z.s}`, `${op}${z.s} 12(%ebx)`);
      });
    }
  }
  // ---- Shifts and rotates ----
  for (const op of ['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr']) {
    for (const z of SIZES) {
      reps(n, () => {
        const count = b.count();
        const masked = count & 31;
        const rotate = op.startsWith('r');
        const effective = op === 'rcl' || op === 'rcr' ? (z.bits === 32 ? masked : masked % (z.bits + 1)) : masked;
        let und = 0;
        if (masked !== 0) {
          if (effective !== 1 && masked !== 1) und |= OF;
          if (!rotate) und |= AF;
          if (!rotate && masked >= z.bits && (op === 'shl' || op === 'shr')) und |= CF;
          if (!rotate && masked > z.bits) und |= OF;
        }
        const dst = b.pick(z.r.filter((r) => !r.startsWith('%c')));
        b.add(`shift ${op}${z.s}`, `${op}${z.s} $${count & 0xff}, ${dst}`, und);
        b.add(`shift ${op}${z.s}`, `${op}${z.s} %cl, ${dst}`, und, { regs: [undefined, count] });
        b.add(`shift ${op}${z.s}`, `${op}${z.s} 16(%ebx)`, rotate ? 0 : AF); // by one: OF defined, AF not
      });
    }
  }
  // ---- SHLD SHRD ----
  for (const op of ['shld', 'shrd']) {
    for (const z of SIZES.slice(1)) {
      reps(n, () => {
        const count = b.count();
        const masked = count & 31;
        let und = masked ? AF : 0;
        if (masked > 1) und |= OF;
        const undefinedResult = z.bits === 16 && masked > 16;
        if (undefinedResult) und |= STATUS;
        const [x, y] = [b.pick(['%eax', '%edx', '%esi']), b.pick(['%edi', '%ebp'])].map((r) => (z.bits === 16 ? r.replace('%e', '%') : r));
        const ureg = undefinedResult ? 1 << ['%eax', '%ecx', '%edx', '%ebx', '%esp', '%ebp', '%esi', '%edi'].indexOf(y.replace('%', '%e').replace('%ee', '%e')) : 0;
        b.add(`dshift ${op}${z.s}`, `${op}${z.s} $${count & 0xff}, ${x}, ${y}`, und, { undefinedRegs: ureg });
        b.add(`dshift ${op}${z.s}`, `${op}${z.s} %cl, ${x}, ${y}`, und, { regs: [undefined, count], undefinedRegs: ureg });
      });
    }
  }
  // ---- MUL IMUL: CF/OF defined; SF ZF AF PF undefined ----
  const MULU = SF | ZF | AF | PF;
  for (const z of SIZES) {
    reps(n, () => {
      b.add(`mul mul${z.s}`, `mul${z.s} ${b.pick(z.r)}`, MULU);
      b.add(`mul imul${z.s}`, `imul${z.s} ${b.pick(z.r)}`, MULU);
      b.add(`mul mul${z.s}`, `mul${z.s} 4(%ebx)`, MULU);
      if (z.bits > 8) {
        b.add(`mul imul2${z.s}`, `imul${z.s} ${b.pick(z.r)}, ${b.pick(z.r)}`, MULU);
        b.add(`mul imul3${z.s}`, `imul${z.s} $${b.value() & (z.bits === 16 ? 0xffff : 0xffffffff)}, ${b.pick(z.r)}, ${b.pick(z.r)}`, MULU);
        b.add(`mul imul3${z.s}`, `imul${z.s} $${(b.value() << 24) >> 24}, 8(%ebx), ${b.pick(z.r)}`, MULU);
      }
    });
  }
  // ---- DIV IDIV with inputs that do not fault; all flags undefined ----
  reps(n * 2, () => {
    const d = (b.value() | 1) >>> 0;
    const q = b.value();
    // unsigned 32: EDX < divisor
    b.add('div divl', 'divl %ecx', STATUS, { regs: [q, d, (b.value() >>> 0) % d] });
    const d16 = (b.value() & 0xffff) | 1;
    b.add('div divw', 'divw %cx', STATUS, { regs: [q, d16, (b.value() & 0xffff) % d16] });
    const d8 = (b.value() & 0xff) | 1;
    b.add('div divb', 'divb %cl', STATUS, { regs: [((b.value() & 0xff) % d8) << 8 | (q & 0xff), d8] });
    // signed: keep |quotient| small enough by making the dividend a sign-extension
    // A sign-extended dividend only overflows divided by -1 (MIN / -1): use 3 then.
    const sd = (b.value() | 1) | 0;
    const sq = b.value() | 0;
    b.add('div idivl', 'cltd\n idivl %ecx', STATUS, { regs: [sq, sd === -1 ? 3 : sd] });
    b.add('div idivw', 'cwtd\n idivw %cx', STATUS, { regs: [sq, (sd & 0xffff) === 0xffff ? 3 : sd & 0xffff] });
    b.add('div idivb', 'cbtw\n idivb %cl', STATUS, { regs: [sq, (sd & 0xff) === 0xff ? 3 : sd & 0xff] });
  });
  // ---- BT BTS BTR BTC: CF defined; OF SF AF PF undefined ----
  const BTU = OF | SF | AF | PF;
  for (const op of ['bt', 'bts', 'btr', 'btc']) {
    for (const z of SIZES.slice(1)) {
      reps(n, () => {
        const r = z.bits === 16 ? '%dx' : '%edx';
        b.add(`bit ${op}${z.s}`, `${op}${z.s} %cx, ${r}`.replace('%cx', z.bits === 16 ? '%cx' : '%ecx'), BTU);
        b.add(`bit ${op}${z.s}`, `${op}${z.s} $${b.count()}, ${r}`, BTU);
        // Memory with a register offset reaches -64..+127 bits around 8(%ebx).
        b.add(`bit ${op}${z.s}`, `${op}${z.s} ${z.bits === 16 ? '%cx' : '%ecx'}, 8(%ebx)`, BTU, { regs: [undefined, (b.value() % 160) - 64] });
      });
    }
  }
  // ---- BSF BSR: ZF defined; the rest undefined; the destination undefined for a zero source ----
  for (const op of ['bsf', 'bsr']) {
    for (const z of SIZES.slice(1)) {
      reps(n, () => {
        const src = b.rng() < 0.2 ? 0 : b.value();
        b.add(`bitscan ${op}${z.s}`, `${op}${z.s} ${z.bits === 16 ? '%cx' : '%ecx'}, ${z.bits === 16 ? '%dx' : '%edx'}`, OF | SF | AF | PF | CF,
          { regs: [undefined, src], undefinedRegs: (src & (z.bits === 16 ? 0xffff : 0xffffffff)) === 0 ? 1 << 2 : 0 });
      });
    }
  }
  // ---- Data movement and conversions ----
  reps(n, () => {
    b.add('move bswap', 'bswapl %esi');
    for (const ins of ['movsbw %cl, %dx', 'movsbl %ch, %edx', 'movswl %cx, %edx', 'movzbw %dh, %si', 'movzbl 5(%ebx), %edi', 'movzwl 6(%ebx), %eax', 'movsbl 7(%ebx), %ebp']) b.add('move movx', ins);
    for (const ins of ['cbtw', 'cwtl', 'cwtd', 'cltd', 'xchgl %eax, %esi', 'xchgw %dx, 8(%ebx)', 'xchgb %ah, %dl', 'xlat']) b.add('move misc', ins, 0, { regs: [b.value() & 0x1f], ebxIsMem: true });
    // 16-bit registers in the address make GAS emit the 0x67 prefix: 16-bit addressing.
    for (const ins of ['leal 12(%ebx,%esi,4), %eax', 'leal -5(%ecx,%edx,2), %edi', 'leal 0x12345(,%esi,8), %ebp', 'leaw (%bx,%si), %ax', 'leaw 7(%bp,%di), %cx', 'leal -3(%bx), %edx', 'leal 0x7fff(%bp), %esi'])
      b.add('move lea', ins, 0, { ebxIsMem: false });
    for (const z of SIZES) {
      b.add(`xadd ${z.s}`, `xadd${z.s} ${z.r[4 % z.r.length]}, ${z.r[0]}`);
      b.add(`xadd ${z.s}`, `xadd${z.s} ${z.r[1]}, 4(%ebx)`);
      // One register as both operands: the sum is written last and wins.
      b.add(`xadd ${z.s}`, `xadd${z.s} ${z.r[3]}, ${z.r[3]}`);
      const eq = b.rng() < 0.5;
      const v = b.value();
      b.add(`cmpxchg ${z.s}`, `cmpxchg${z.s} ${z.r[2]}, 4(%ebx)`, 0, { regs: [eq ? v : undefined], mem: [0, eq ? v : b.value(), 0, 0, 0, 0, 0, 0] });
      b.add(`cmpxchg ${z.s}`, `cmpxchg${z.s} ${z.r[2]}, ${z.r[4 % z.r.length]}`);
    }
    const lo = b.value(), hi = b.value(), eq = b.rng() < 0.5;
    b.add('cmpxchg 8b', 'cmpxchg8b 8(%ebx)', CF | PF | AF | SF | OF, { regs: [eq ? lo : b.value(), undefined, eq ? hi : b.value()], mem: [0, 0, lo, hi, 0, 0, 0, 0] });
  });
  // ---- Conditions: SETcc, CMOVcc, Jcc, LOOP, JECXZ ----
  for (const cc of CC) {
    reps(Math.max(2, n >> 1), () => {
      b.add(`cond set${cc}`, `set${cc} %dl`);
      b.add(`cond cmov${cc}`, `cmov${cc}l 4(%ebx), %esi`);
      b.add(`cond cmov${cc}`, `cmov${cc}w %cx, %di`);
      b.add(`cond j${cc}`, `movl $0, %esi\n j${cc} 1f\n movl $1, %esi\n1:`);
    });
  }
  reps(n, () => {
    const c = b.pick([0, 1, 2, 0x10000, 0xffffffff, b.value()]);
    for (const ins of ['loop', 'loope', 'loopne', 'jecxz']) b.add(`cond ${ins}`, `movl $0, %esi\n ${ins} 1f\n movl $1, %esi\n1:`, 0, { regs: [undefined, c] });
  });
  // ---- BCD: each instruction's undefined flags ----
  reps(n * 2, () => {
    b.add('bcd daa', 'daa', OF);
    b.add('bcd das', 'das', OF);
    b.add('bcd aaa', 'aaa', OF | SF | ZF | PF);
    b.add('bcd aas', 'aas', OF | SF | ZF | PF);
    b.add('bcd aam', `.byte 0xd4, ${1 + (b.value() % 255)}`, OF | AF | CF);
    b.add('bcd aad', `.byte 0xd5, ${b.value() & 0xff}`, OF | AF | CF);
  });
  // ---- Flags ----
  reps(n, () => {
    for (const ins of ['lahf', 'sahf', 'clc', 'stc', 'cmc', 'pushfl\n popl %esi']) b.add('flags misc', ins);
  });
  // ---- Strings: ESI/EDI into the block, ECX small; compare the block ----
  for (const op of ['movs', 'stos', 'lods', 'cmps', 'scas']) {
    for (const z of SIZES) {
      reps(n, () => {
        const df = b.rng() < 0.5;
        const width = z.bits / 8;
        const count = b.int(4);
        const start = df ? 28 - width : 0;
        for (const rep of op === 'cmps' || op === 'scas' ? ['', 'repe ', 'repne '] : ['', 'rep ']) {
          b.add(`string ${rep}${op}${z.s}`,
            `leal ${start}(%ebx), %edi\n leal ${df ? 28 - width - 4 * width : 4 * width}(%ebx), %esi\n ${df ? 'std' : 'cld'}\n ${rep}${op}${z.s}\n cld`,
            0, { regs: [undefined, count] });
        }
      });
    }
  }
  // ---- Stack ----
  reps(n, () => {
    b.add('stack push/pop', 'pushl %esi\n pushw %dx\n popl %edi\n popw %ax');
    b.add('stack push imm', 'pushw $0x1234\n pushw $-2\n popl %ecx\n pushl $-5\n popl %edx');
    b.add('stack pusha/popa', 'pushal\n movl $0, %eax\n movl $0, %esi\n popal');
    // SP itself is left out: the native stack is elsewhere.
    b.add('stack pushaw', 'pushaw\n popl %esi\n popl %edi\n leal 8(%esp), %esp\n movl $0, %edi');
    for (const level of [0, 1, 3]) {
      b.add(`stack enter ${level}`, `movl %esp, %ebp\n enter $12, $${level}\n movl %ebp, %esi\n subl %esp, %esi\n leave\n movl $0, %ebp`);
    }
  });
  return b.cases;
}

