/**
 * The x87 instruction layer against the host's x87 (see README.md here, "The FPU group"):
 * seeded 80-bit operands of every class run through each instruction form, register and
 * memory, in every rounding mode and precision, exceptions masked or not, from a normal
 * stack, one with ST(1) or everything empty (underflow), and a full one (overflow). The
 * harness compares registers, EFLAGS and the 32-byte block; each case leaves there:
 * AX = the status word after the instruction, SI = the tag word (FNSTENV), ECX = the
 * control word, ST(0) and ST(1) stored as m80 at mem+0 and mem+12, and the memory
 * operand at mem+24 (what a store wrote).
 *
 * Run only where the host runs 32-bit programs: qemu-i386's x87 has no stack fault and
 * computes some results through doubles, so it is no reference for this layer. Compares
 * with an unmasked exception and FLD m32/m64 of a denormal with DE unmasked, where the
 * host does otherwise than the SDM says: see maskCompares. Not compared: the instruction and data pointers (FIP/FCS/FOP/FDP/FDS, which later CPUs
 * store differently), and the transcendentals (not correctly rounded on silicon).
 */
import seedrandom from 'seedrandom';
import { Case } from './cases';
import { assembly, build, compare, findOracle, runEmulated, runReference } from './harness';
import { describeIf } from '../support';

const SEED = process.env.CPU_DIFF_SEED ?? 'cpu-diff-1';
const PER_FORM = Number(process.env.CPU_DIFF_FPU_N ?? 8);

const rng = seedrandom(`${SEED}-x87`);
const int = (n: number) => Math.floor(rng() * n);
const u32 = () => (rng() * 0x100000000) >>> 0;
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

/** An 80-bit value of a random class, as [significand low, significand high, sign << 15 | exponent]. */
function f80(): [number, number, number] {
  const s = int(2) << 15;
  switch (int(14)) {
    case 0: return [0, 0, s];
    case 1: return [u32(), u32() & 0x7fffffff, s]; // denormal
    case 2: return [u32(), (u32() | 0x80000000) >>> 0, s]; // pseudo-denormal
    case 3: return [0, 0x80000000, s | 0x7fff]; // infinity
    case 4: return [u32(), (u32() | 0xc0000000) >>> 0, s | 0x7fff]; // QNaN
    case 5: return [u32() | 1, ((u32() & 0x3fffffff) | 0x80000000) >>> 0, s | 0x7fff]; // SNaN
    case 6: return [u32(), u32() & 0x7fffffff, s | (1 + int(0x7ffe))]; // unnormal (unsupported)
    case 7: { const k = 1 + int(40); const z = Math.clz32(k); return [0, (k << z) >>> 0, s | (0x3fff + 31 - z)]; } // small integer
    case 8: return [u32(), (u32() | 0x80000000) >>> 0, s | (1 + int(0x7ffd))]; // any normal
    case 9: return [0xffffffff, 0xffffffff, s | pick([1, 0x7ffe, 0x3fff])]; // all-ones significand at the edges
    default: return [u32(), (u32() | 0x80000000) >>> 0, s | (0x3ff8 + int(16))]; // normals near 1, so sums interact
  }
}

/** A memory operand's two dwords for the instruction's format (m32/m64 real, m16/m32/m64 integer). */
function memOperand(kind: string): [number, number] {
  const r = int(8);
  if (kind === 's') { // m32 real
    const s = int(2) << 31;
    const v = [0, u32() & 0x7fffff, 0x7f800000, 0x7fc00000 | (u32() & 0x3fffff), 0x7f800001 | (u32() & 0x3fffff), (0x3f000000 + (u32() & 0x01ffffff)) >>> 0, u32(), 0x7f7fffff][r];
    return [(v | s) >>> 0, u32()];
  }
  if (kind === 'l') { // m64 real
    const s = (int(2) << 31) >>> 0;
    const his = [0, u32() & 0xfffff, 0x7ff00000, 0x7ff80000 | (u32() & 0x7ffff), 0x7ff00000 | (u32() & 0x7ffff), (0x3fe00000 + (u32() & 0x3fffff)) >>> 0, u32(), 0x7fefffff];
    const lo = r === 2 ? 0 : r === 4 ? u32() | 1 : u32();
    return [lo, (his[r] | s) >>> 0];
  }
  // integers: edges and random
  const edges = [0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 0x7fff, 0x8000, 0xffff];
  return [r < 4 ? edges[int(edges.length)] : u32(), r < 2 ? pick([0, 0xffffffff, 0x80000000, 0x7fffffff]) : u32()];
}

const ARITH = ['add', 'mul', 'sub', 'subr', 'div', 'divr'];
const REG_FORMS = [
  ...ARITH.flatMap((o) => [`f${o} %st(1), %st`, `f${o} %st, %st(1)`, `f${o}p %st, %st(1)`]),
  'fcom %st(1)', 'fcomp %st(1)', 'fcompp', 'fucom %st(1)', 'fucomp %st(1)', 'fucompp',
  'fcomi %st(1), %st', 'fcomip %st(1), %st', 'fucomi %st(1), %st', 'fucomip %st(1), %st',
  'fxch %st(1)', 'fprem', 'fprem1', 'fscale', 'fst %st(1)', 'fstp %st(1)', 'fld %st(1)', 'ffree %st(1)',
  ...['b', 'e', 'be', 'u', 'nb', 'ne', 'nbe', 'nu'].map((c) => `fcmov${c} %st(1), %st`),
  // The P6's undocumented aliases: FCOM (DC D0+i), FCOMP (DC D8+i, DE D0+i), FXCH (DD C8+i,
  // DF C8+i), FFREEP (DF C0+i), FSTP (D9 D8+i, DF D0+i, DF D8+i)
  ...['0xdc, 0xd1', '0xdc, 0xd9', '0xde, 0xd1', '0xdd, 0xc9', '0xdf, 0xc9', '0xdf, 0xc1', '0xd9, 0xd9', '0xdf, 0xd1', '0xdf, 0xd9'].map((b) => `.byte ${b}`),
];
const ONE_FORMS = ['fchs', 'fabs', 'fsqrt', 'frndint', 'ftst', 'fxam', 'fxtract', 'fincstp', 'fdecstp', 'fnop',
  'fld1', 'fldz', 'fldpi', 'fldl2e', 'fldl2t', 'fldlg2', 'fldln2'];
const MEM_FORMS = [
  ...[...ARITH, 'com', 'comp'].flatMap((o) => [`f${o}s mem+24`, `f${o}l mem+24`, `fi${o}s mem+24`, `fi${o}l mem+24`]),
  'flds mem+24', 'fldl mem+24', 'filds mem+24', 'fildl mem+24', 'fildll mem+24',
  'fsts mem+24', 'fstps mem+24', 'fstl mem+24', 'fstpl mem+24', 'fists mem+24', 'fistps mem+24',
  'fistl mem+24', 'fistpl mem+24', 'fistpll mem+24',
  'fbld mem+22', 'fbstp mem+22', // packed BCD: bytes 22-31 (the operand's bytes and B's top word)
];

function fpuCase(group: string, op: string): Case {
  const a = f80(), b = f80();
  const m = memOperand(/^fi.*s /.test(op) ? 'w' : /^fi/.test(op) ? 'i' : /s mem/.test(op) ? 's' : 'l');
  // Precision 24/53/64, any rounding; a third of the cases with some exceptions unmasked
  // (their flags, ES and B show in AX; FNCLEX then lets the stores after run).
  const masks = rng() < 0.33 ? u32() & 0x3f : 0x3f;
  const cw = 0x40 | masks | (pick([0, 2, 3]) << 8) | (int(4) << 10);
  const stack = rng();
  const lines = ['fninit', `pushl $${cw}`, 'fldcw (%esp)', 'popl %ecx'];
  if (stack < 0.08) lines.push(...Array(6).fill('fldz')); // full: the next push overflows
  if (stack >= 0.08 && stack < 0.16) lines.push('fldt mem'); // ST(1) empty
  else if (stack >= 0.16 && stack < 0.2) { /* everything empty */ } else lines.push('fldt mem+12', 'fldt mem');
  lines.push(op, 'fnstsw %ax', 'leal -28(%esp), %esp', 'fnstenv (%esp)', 'movzwl 8(%esp), %esi', 'leal 28(%esp), %esp',
    'fnclex', 'fstpt mem', 'fstpt mem+12', 'fninit');
  return {
    group, asm: lines.join('\n'), regs: [u32(), u32(), u32(), 0, 0, u32(), u32(), u32()],
    flags: [0x1, 0x4, 0x40, 0x41, 0x45, 0, 0x880, 0x44][int(8)],
    mem: [a[0], a[1], a[2], b[0], b[1], b[2], m[0], m[1]], undefinedFlags: 0, ebxIsMem: true,
  };
}

const COMPARES = /^(f(i?u?comp?p?[sl]?|u?comip?|tst)\b|\.byte 0x(dc, 0xd|de, 0xd1))/;
const SLOT_BYTES = 18 * 4;

/**
 * A compare that raises an unmasked exception (IE, DE, or the stack underflow) leaves
 * C3 C2 C0 (FCOMI*: ZF PF CF) alone by the SDM (FCOM, FUCOM, FCOMI, FTST: "if the
 * exception is unmasked, the condition code flags are not set"), which is what we do;
 * the host (an AMD x87) sets them as for a masked response. Those bits are cleared in
 * both tables for such cases, named by the reference's ES.
 */
function maskCompares(cases: Case[], table: Buffer, reference: Buffer = table): Buffer {
  const out = Buffer.from(table);
  cases.forEach((c, i) => {
    const sw = reference.readUInt32LE(i * SLOT_BYTES);
    // FLD m32/m64 of a denormal with DE unmasked: by the SDM (vol. 1, 8.5.2) nothing is
    // loaded (TOP unchanged), which we do; the host loads it. Such cases are left out.
    if (/^fld[sl] /m.test(c.asm) && (sw & 0x82) === 0x82) { out.fill(0, i * SLOT_BYTES, (i + 1) * SLOT_BYTES); return; }
    const op = c.asm.split('\n').find((l) => COMPARES.test(l));
    if (!op || !(sw & 0x80)) return;
    out.writeUInt32LE((out.readUInt32LE(i * SLOT_BYTES) & ~0x4700) >>> 0, i * SLOT_BYTES);
    out.writeUInt32LE((out.readUInt32LE(i * SLOT_BYTES + 32) & ~0x45) >>> 0, i * SLOT_BYTES + 32);
  });
  return out;
}

const oracle = findOracle();
describeIf(oracle === 'host', 'the host cannot run static 32-bit programs (qemu-i386 is no reference for the x87 layer: no stack fault)')(`x87 instructions against the host's x87 (seed ${SEED})`, () => {
  const groups: [string, string[]][] = [['x87-register', REG_FORMS], ['x87-one-operand', ONE_FORMS], ['x87-memory', MEM_FORMS]];
  for (const [group, forms] of groups) {
    const cases = forms.flatMap((op) => Array.from({ length: PER_FORM }, () => fpuCase(`${group} ${op}`, op)));
    it(`${group} (${cases.length} cases)`, () => {
      const elf = build(assembly(cases));
      const reference = runReference(elf, oracle);
      for (const translate of [false, true]) {
        const problems = compare(cases, maskCompares(cases, reference), maskCompares(cases, runEmulated(elf, translate), reference));
        if (problems.length) throw new Error(`${problems.length} of ${cases.length} cases differ ${translate ? '(translator)' : '(interpreter)'}:\n${problems.slice(0, 12).join('\n')}`);
      }
    });
  }
});
