/**
 * bench/x87: host nanoseconds per emulated instruction for x87 code beside integer code,
 * in the CPU's flat test machine (blocks end before x87 instructions: the interpreter
 * runs them). Three loops of 10 instructions an iteration:
 *   x87    FLD m64, FMUL m64, FADD ST(0),ST(1), FSTP m64, FXCH, FCOM, FNSTSW AX, ... (8 x87)
 *   moves  8 x87 instructions without arithmetic (FLD/FSTP ST(i), FXCH, FCHS, FNSTSW):
 *          the instruction layer's own cost
 *   int    the same shape in integer instructions (translated)
 *   int-i  the integer loop interpreted (the translator off)
 *
 *   node scripts/build.mjs && node dist/bench-x87.js [--iterations N]
 *
 * Host time is read here, in the bench, never on the emulated path.
 */
import { flatMachine, runToStop } from '../cpu/testing';

const argI = process.argv.indexOf('--iterations');
const ITER = argI > 0 ? Number(process.argv[argI + 1]) : 1_000_000;

// mov ecx, N ; fninit ; fld1 ; lp: (10 instructions) ; dec ecx ; jnz lp ; out 0xf4, al
const x87Body = [
  0xdd, 0x05, 0x00, 0x00, 0x02, 0x00, // fld qword [0x20000]
  0xdc, 0x0d, 0x08, 0x00, 0x02, 0x00, // fmul qword [0x20008]
  0xd8, 0xc1, //                         fadd st0, st1
  0xdd, 0x1d, 0x10, 0x00, 0x02, 0x00, // fstp qword [0x20010]
  0xd9, 0xc9, //                         fxch st1
  0xd8, 0xd1, //                         fcom st1
  0xdf, 0xe0, //                         fnstsw ax
  0xd9, 0xc9, //                         fxch st1
];
const movesBody = [
  0xd9, 0xc0, //                         fld st0
  0xd9, 0xc9, //                         fxch st1
  0xdd, 0xd9, //                         fstp st1
  0xdf, 0xe0, //                         fnstsw ax
  0xd9, 0xe0, //                         fchs
  0xd9, 0xc9, //                         fxch st1
  0xd9, 0xc0, //                         fld st0
  0xdd, 0xd8, //                         fstp st0
];
const intBody = [
  0x8b, 0x05, 0x00, 0x00, 0x02, 0x00, // mov eax, [0x20000]
  0x0f, 0xaf, 0x05, 0x08, 0x00, 0x02, 0x00, // imul eax, [0x20008]
  0x01, 0xc3, //                         add ebx, eax
  0x89, 0x1d, 0x10, 0x00, 0x02, 0x00, // mov [0x20010], ebx
  0x87, 0xd3, //                         xchg ebx, edx
  0x39, 0xd3, //                         cmp ebx, edx
  0x89, 0xc6, //                         mov esi, eax
  0x87, 0xd3, //                         xchg ebx, edx
];

function program(body: number[]): Uint8Array {
  const head = [0xb9, ITER & 0xff, (ITER >> 8) & 0xff, (ITER >> 16) & 0xff, ITER >>> 24, 0xdb, 0xe3, 0xd9, 0xe8];
  const loop = [...body, 0x49, 0x75, 0]; // dec ecx ; jnz lp
  loop[loop.length - 1] = (-loop.length) & 0xff;
  return new Uint8Array([...head, ...loop, 0xe6, 0xf4]);
}

function measure(name: string, body: number[], translate: boolean): void {
  let best = Infinity, instructions = 0;
  for (let run = 0; run < 5; run++) {
    const { cpu, bus } = flatMachine(program(body));
    const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
    dv.setFloat64(0x20000, 1.0000001, true); dv.setFloat64(0x20008, 0.9999999, true);
    cpu.useTranslator = translate;
    const t0 = process.hrtime.bigint();
    runToStop(cpu, 1e12);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, s);
    instructions = cpu.instructions;
  }
  console.log(`${name.padEnd(6)} ${instructions} instructions, best of 5 ${best.toFixed(3)} s, ${(best * 1e9 / instructions).toFixed(1)} ns/instruction, ${(instructions / best / 1e6).toFixed(1)} MIPS`);
}

measure('x87', x87Body, true);
measure('moves', movesBody, true);
measure('int', intBody, true);
measure('int-i', intBody, false);
