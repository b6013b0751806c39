/**
 * Random programs of the instructions the translator compiles, run interpreted and
 * translated: the two must agree on everything the guest can see, the clock included.
 *
 * Where `fuzz.test.ts` throws random bytes at both engines (most of which fault within a
 * few instructions), these programs are loops of valid instructions of the forms blocks
 * are made of (ALU in every size, memory operands, the stack, conditional branches
 * inside the loop, calls, string instructions), mixed with those that charge cycles
 * beyond their own or read the clock: port I/O to a device with latency, a
 * memory-mapped device that reads the clock, PAUSE and RDTSC, and x87 code. Each case may raise an
 * interrupt after a random number of cycles, which shows on which instruction each
 * engine ended the slice. Compared: the stop, EIP, instruction and cycle counts,
 * registers, EFLAGS, the x87 state, the data and stack memory and what the devices saw, and when.
 * With paging on too, 32-bit and PAE. Seeded: a failure names a reproducible case.
 */
import seedrandom from 'seedrandom';
import { Cpu } from './cpu';
import { flatMachine, putDescriptor, TestBus, STACK_TOP } from './testing';
import { loadSegment } from './system';
import { FS } from './registers';

const SEED = process.env.CPU_FUZZ_SEED ?? 'translator-fuzz-1';
const CASES = Number(process.env.CPU_FUZZ_CASES ?? 250);
/** Where the programs keep their data: EBP points here and is never a destination. */
const DATA = 0x40000;
/** A memory-mapped device past the 1 MiB of RAM. */
const MMIO = 0x200000;
const PD = 0x90000, PT = 0x92000;
const BUDGET = 30000;
/** Where a WebAssembly program's HLT is: a page after its code (see program). */
const HLT_AT = 0x2000;

const le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/** The registers a program may write: not ESP (the stack) nor EBP (the data). */
const REGS = [0, 1, 2, 3, 6, 7];

type Piece = { bytes: number[]; skip?: number; call?: boolean };

/**
 * Forms the WebAssembly translator covers (wasm-translator.ts), for programs whose every
 * block it translates: the ALU operations, NEG, MUL and IMUL, shifts SHL, SHR and SAR by
 * a constant and by CL, and the moves, stack and branch forms above; memory through EBP,
 * [r32] anywhere (the device, the open bus) and across DATA's page end.
 */
function wasmForms(rng: () => number): (() => Piece)[] {
  const pick = <T>(a: T[]): T => a[(rng() * a.length) | 0];
  const int = (n: number): number => (rng() * n) | 0;
  const reg = (): number => pick(REGS);
  const disp = (): number => int(0x7c);
  const alu = (): number => int(8);
  const imm32 = (): number[] => le(pick([0, 1, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, (rng() * 2 ** 32) >>> 0]));
  return [
    () => ({ bytes: [(alu() << 3) | 1, 0xc0 | (reg() << 3) | reg()] }),
    () => ({ bytes: [0x66, (alu() << 3) | 1, 0xc0 | (reg() << 3) | reg()] }),
    () => ({ bytes: [(alu() << 3) | 0, 0xc0 | (int(8) << 3) | pick([0, 1, 2, 3])] }),
    () => ({ bytes: [(alu() << 3) | 2, 0xc0 | (pick([0, 1, 2, 3]) << 3) | int(8)] }),
    () => ({ bytes: [0x81, 0xc0 | (alu() << 3) | reg(), ...imm32()] }),
    () => ({ bytes: [0x83, 0xc0 | (alu() << 3) | reg(), int(256)] }),
    () => ({ bytes: pick([[pick([0x04, 0x24, 0x3c]), int(256)], [pick([0x05, 0x2d, 0x3d]), ...imm32()]]) }), // ALU AL/EAX, imm
    () => ({ bytes: [(alu() << 3) | 3, 0x45 | (reg() << 3), disp()] }),
    () => ({ bytes: [(alu() << 3) | 1, 0x45 | (reg() << 3), disp()] }),
    () => ({ bytes: [0x66, (alu() << 3) | 1, 0x45 | (reg() << 3), disp()] }),
    () => ({ bytes: [0x80, 0x45 | (alu() << 3), disp(), int(256)] }),
    () => ({ bytes: [0xb8 + reg(), ...imm32()] }),
    () => ({ bytes: [0xb0 + int(4), int(256)] }),
    () => ({ bytes: [0x8b, 0x45 | (reg() << 3), disp()] }),
    () => ({ bytes: [0x89, 0x45 | (reg() << 3), disp()] }),
    () => ({ bytes: [0x88, 0x45 | (int(4) << 3), disp()] }),
    () => ({ bytes: [0xc7, 0x45, disp(), ...imm32()] }),
    () => ({ bytes: [0x0f, pick([0xb6, 0xb7, 0xbe, 0xbf]), 0x45 | (reg() << 3), disp()] }),
    () => ({ bytes: [0x0f, pick([0xb6, 0xbe]), 0xc0 | (reg() << 3) | int(4)] }),
    () => ({ bytes: [pick([0x40, 0x48]) + reg()] }),
    () => ({ bytes: [0xff, 0x45 | (pick([0, 1]) << 3), disp()] }), // INC/DEC [ebp+d]
    () => ({ bytes: [0xf7, 0xc0 | (pick([2, 3, 4, 5]) << 3) | reg()] }), // NOT NEG MUL IMUL
    () => ({ bytes: [0xf7, 0x45 | (pick([2, 3, 4, 5]) << 3), disp()] }), // the same of [ebp+d]
    () => ({ bytes: [0x0f, 0xaf, 0xc0 | (reg() << 3) | reg()] }), // IMUL r32, r/m32
    () => ({ bytes: [0x6b, 0xc0 | (reg() << 3) | reg(), int(256)] }), // IMUL r32, r/m32, imm8
    () => ({ bytes: [0x69, 0x45 | (reg() << 3), disp(), ...imm32()] }), // IMUL r32, [ebp+d], imm32
    () => ({ bytes: [0xb1, int(40), 0xd3, 0xc0 | (pick([4, 5, 7]) << 3) | reg()] }), // MOV CL, n ; shift by CL
    () => ({ bytes: [0xd3, 0x45 | (pick([4, 5, 7]) << 3), disp()] }), // shift [ebp+d] by CL
    () => ({ bytes: [0xb9, ...le(int(12)), 0x8d, 0x7d, disp(), 0xf3, pick([0xaa, 0xab])] }), // REP STOS
    () => ({ bytes: [0xb9, ...le(int(12)), 0x8d, 0x75, disp(), 0x8d, 0x7d, disp(), 0xf3, pick([0xa4, 0xa5])] }), // REP MOVS
    () => ({ bytes: [0xb9, ...le(int(8)), 0xf3, pick([0xab, 0xa5])] }), // REP STOSD/MOVSD wherever ESI and EDI point (the code, the device, the open bus)
    () => ({ bytes: [0xb9, ...le(int(3000)), 0x8d, 0x7d, disp(), 0xf3, 0xaa] }), // a long REP STOSB: slices end inside it
    () => ({ bytes: [pick([0x64, 0x65]), pick([0x8b, 0x89, 0x03, 0x31]), 0x45 | (reg() << 3), disp()] }), // through FS (based) and GS (flat)
    () => ({ bytes: [0x64, 0x66, 0x89, 0x45 | (reg() << 3), disp()] }), // a word through FS
    () => ({ bytes: [...pick([[], [0x64], [0x65]]), 0xa0 + int(4), ...le(DATA + int(0x3c0))] }), // MOV AL/EAX to and from moffs, through DS, FS or GS
    () => ({ bytes: [0x0f, 0xc8 + reg()] }), // BSWAP
    () => ({ bytes: [0x65, 0x88, 0x45 | (int(4) << 3), disp()] }), // a byte through GS
    () => ({ bytes: [0x0f, pick([0xbc, 0xbd]), 0xc0 | (reg() << 3) | reg()] }), // BSF, BSR
    () => ({ bytes: [0x0f, pick([0xbc, 0xbd]), 0x45 | (reg() << 3), disp()] }), // BSF, BSR of [ebp+d]
    () => ({ bytes: [0x31, 0xc9, 0x0f, pick([0xbc, 0xbd]), 0xc1 | (reg() << 3)] }), // XOR ECX, ECX ; BSF/BSR r32, ECX: ZF, the destination kept
    () => ({ bytes: [0xc1, 0xc0 | (pick([4, 5, 7]) << 3) | reg(), 1 + int(31)] }),
    () => ({ bytes: [0xc0, 0xc0 | (pick([4, 5, 7]) << 3) | int(4), 1 + int(7)] }),
    () => ({ bytes: [0xd1, 0xc0 | (pick([4, 5, 7]) << 3) | reg()] }),
    () => ({ bytes: [0x0f, 0x90 + pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15]), 0xc0 | pick([0, 1, 2, 3])] }),
    () => ({ bytes: [0x0f, 0x40 + pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15]), 0xc0 | (reg() << 3) | reg()] }),
    () => ({ bytes: [pick([0x84, 0x85]), 0xc0 | (pick([0, 1, 2, 3]) << 3) | pick([0, 1, 2, 3])] }),
    () => ({ bytes: [0xa9, ...imm32()] }),
    () => ({ bytes: [0xf7, 0x45, disp(), ...imm32()] }), // TEST [ebp+d], imm32
    () => ({ bytes: [0x8d, 0x44 | (reg() << 3), (int(4) << 6) | (reg() << 3) | reg(), int(256)] }),
    () => ({ bytes: [0x87, 0xc0 | (reg() << 3) | reg()] }),
    () => ({ bytes: [0x87, 0x45 | (reg() << 3), disp()] }), // XCHG [ebp+d], r32
    () => ({ bytes: [0x90 + reg()] }), // XCHG EAX, r32 (NOP)
    () => ({ bytes: [pick([0x98, 0x99])] }), // CWDE, CDQ
    () => ({ bytes: [0x66, pick([0x98, 0x99])] }), // CBW, CWD
    () => ({ bytes: [0x50 + pick([0, 1, 2, 3, 5, 6, 7]), 0x58 + reg()] }),
    () => ({ bytes: [0xff, 0x75, disp(), 0x58 + reg()] }), // PUSH [ebp+d] ; POP r32
    () => ({ bytes: [...pick([[0x6a, int(256)], [0x68, ...imm32()]]), 0x58 + reg()] }), // PUSH imm ; POP r32
    () => ({ bytes: [0x70 + pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15]), 0], skip: 1 + int(3) }),
    () => ({ bytes: [0xe8, 0, 0, 0, 0], call: true }),
    () => ({ bytes: [pick([0x8b, 0x89]), (reg() << 3) | reg()] }), // [r32]: anywhere (open bus, the device)
    () => ({ bytes: [0x64, pick([0x8b, 0x89]), (reg() << 3) | reg()] }), // FS:[r32] (based, paging on): anywhere, the slow path with the flags pending
    () => ({ bytes: [pick([0x8b, 0x89]), 0x85 | (reg() << 3), ...le(0xffe - int(4))] }),
    () => ({ bytes: [0xeb, 0], skip: 1 + int(2) }),
    () => ({ bytes: [0xb9, ...le(1 + int(20)), 0x40, 0x49, 0x75, 0xfc] }),
    () => ({ bytes: [0x89, 0x05 | (reg() << 3), ...le(MMIO + 4 * int(4))] }), // MOV [device], r32
    () => ({ bytes: [0x03, 0x05 | (reg() << 3), ...le(MMIO)] }), // ADD r32, [device]
    () => ({ bytes: [0xc1, 0xc0 | (pick([0, 1]) << 3) | reg(), 1 + int(31)] }), // ROL, ROR r32, imm8
    () => ({ bytes: [0xc0, 0xc0 | (pick([0, 1]) << 3) | int(8), 1 + int(15)] }), // ROL, ROR r8 (AH..BH too), imm8: a count of 8 leaves the value
    () => ({ bytes: [0x66, 0xd1, 0xc0 | (pick([0, 1]) << 3) | reg()] }), // ROL, ROR r16, 1
    () => ({ bytes: [0xc1, 0x45 | (pick([0, 1]) << 3), disp(), 1 + int(31)] }), // ROL, ROR [ebp+d], imm8
    () => ({ bytes: [0x88, 0xc0 | (int(8) << 3) | int(8)] }), // MOV r8, r8: the high bytes
    () => ({ bytes: [0x55, 0x89, 0xe5, 0x50 + reg(), 0xc9] }), // PUSH EBP ; MOV EBP, ESP ; PUSH r32 ; LEAVE
    () => ({ bytes: [0x31, 0xd2, 0xf7, 0xf0 | reg()] }), // XOR EDX, EDX ; DIV r32 (#DE by 0)
    () => ({ bytes: [0x99, 0xf7, 0xf8 | reg()] }), // CDQ ; IDIV r32
    () => ({ bytes: [0xf7, pick([0x75, 0x7d]), disp()] }), // DIV, IDIV [ebp+d]: EDX:EAX as it stands, #DE often
    () => ({ bytes: [0x8d, 0x75, disp(), 0x8d, 0x7d, disp(), ...pick([[], [0x66], [0x64]]), pick([0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf])] }), // LODS STOS MOVS SCAS CMPS
    () => ({ bytes: [pick([0xfc, 0xfd])] }), // CLD, STD (by the interpreter, from the block)
    () => ({ bytes: pick([[0x0f, 0x31], [0xf3, 0x90]]) }), // RDTSC, PAUSE
  ];
}

function program(rng: () => number, wasm = false): { code: number[]; irq: number } {
  const pick = <T>(a: T[]): T => a[(rng() * a.length) | 0];
  const int = (n: number): number => (rng() * n) | 0;
  const reg = (): number => pick(REGS);
  const disp = (): number => int(0x7c);
  const imm32 = (): number[] => le(pick([0, 1, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, (rng() * 2 ** 32) >>> 0]));
  const forms: (() => Piece)[] = wasm ? wasmForms(rng) : [
    () => ({ bytes: [(int(8) << 3) | 1, 0xc0 | (reg() << 3) | reg()] }), // ALU r/m32, r32
    () => ({ bytes: [0x66, (int(8) << 3) | 1, 0xc0 | (reg() << 3) | reg()] }), // ALU r/m16, r16
    () => ({ bytes: [(int(8) << 3) | 0, 0xc0 | (int(8) << 3) | pick([0, 1, 2, 3])] }), // ALU r/m8, r8 (AL..BL destinations)
    () => ({ bytes: [0x81, 0xc0 | (int(8) << 3) | reg(), ...imm32()] }),
    () => ({ bytes: [0x83, 0xc0 | (int(8) << 3) | reg(), int(256)] }),
    () => ({ bytes: [(int(8) << 3) | 3, 0x45 | (reg() << 3), disp()] }), // ALU r32, [ebp+d]
    () => ({ bytes: [(int(8) << 3) | 1, 0x45 | (reg() << 3), disp()] }), // ALU [ebp+d], r32
    () => ({ bytes: [0x66, (int(8) << 3) | 1, 0x45 | (reg() << 3), disp()] }), // ALU [ebp+d], r16
    () => ({ bytes: [0x80, 0x45 | (int(8) << 3), disp(), int(256)] }), // ALU byte [ebp+d], imm8
    () => ({ bytes: [0xb8 + reg(), ...imm32()] }),
    () => ({ bytes: [0x8b, 0x45 | (reg() << 3), disp()] }),
    () => ({ bytes: [0x89, 0x45 | (reg() << 3), disp()] }),
    () => ({ bytes: [0x0f, pick([0xb6, 0xb7, 0xbe, 0xbf]), 0x45 | (reg() << 3), disp()] }), // MOVZX/MOVSX
    () => ({ bytes: [pick([0x40, 0x48]) + reg()] }), // INC/DEC
    () => ({ bytes: [0xf7, 0xc0 | (pick([2, 3]) << 3) | reg()] }), // NOT/NEG
    () => ({ bytes: [0xc1, 0xc0 | (pick([0, 1, 4, 5, 7]) << 3) | reg(), int(40)] }), // shifts by imm8
    () => ({ bytes: [0xd1, 0xc0 | (pick([0, 1, 2, 3, 4, 5, 7]) << 3) | reg()] }), // by 1, RCL/RCR too
    () => ({ bytes: [0xd3, 0xc0 | (pick([0, 1, 4, 5, 7]) << 3) | reg()] }), // by CL
    () => ({ bytes: [0x0f, 0xaf, 0xc0 | (reg() << 3) | reg()] }), // IMUL r32, r/m32
    () => ({ bytes: [0x6b, 0xc0 | (reg() << 3) | reg(), int(256)] }), // IMUL r32, r/m32, imm8
    () => ({ bytes: [0xf7, 0xc0 | (pick([4, 5]) << 3) | reg()] }), // MUL/IMUL edx:eax
    () => ({ bytes: [0x0f, 0x90 + int(16), 0xc0 | pick([0, 1, 2, 3])] }), // SETcc
    () => ({ bytes: [0x0f, 0x40 + int(16), 0xc0 | (reg() << 3) | reg()] }), // CMOVcc
    () => ({ bytes: [0x85, 0xc0 | (reg() << 3) | reg()] }), // TEST
    () => ({ bytes: [0x8d, 0x44 | (reg() << 3), (int(4) << 6) | (reg() << 3) | reg(), int(256)] }), // LEA with SIB
    () => ({ bytes: [0x87, 0xc0 | (reg() << 3) | reg()] }), // XCHG
    () => ({ bytes: [0x50 + pick([0, 1, 2, 3, 5, 6, 7]), 0x58 + reg()] }), // PUSH ; POP
    () => ({ bytes: [0x9c, 0x58 + reg()] }), // PUSHFD ; POP
    () => ({ bytes: [0xff, 0x75, disp(), 0x8f, 0x45, disp()] }), // PUSH [ebp+d] ; POP [ebp+d]
    () => ({ bytes: [0x70 + int(16), 0], skip: 1 + int(3) }), // Jcc forward, inside the loop
    () => ({ bytes: [0xe8, 0, 0, 0, 0], call: true }), // CALL the subroutine (INC EAX ; RET)
    () => ({ bytes: [0xb9, ...le(int(12)), 0x8d, 0x7d, disp(), pick([[0xf3, 0xaa], [0xf3, 0xab], [0xfc]]) ].flat() }), // REP STOS
    () => ({ bytes: [0xb9, ...le(int(12)), 0x8d, 0x75, disp(), 0x8d, 0x7d, disp(), 0xf3, pick([0xa4, 0xa5])] }), // REP MOVS
    () => ({ bytes: [0x0f, pick([0xbc, 0xbd, 0xa3, 0xab, 0xb3, 0xbb, 0xc1, 0xb1]), 0xc0 | (reg() << 3) | reg()] }), // BSF BSR BT BTS BTR BTC XADD CMPXCHG
    () => ({ bytes: [0x0f, pick([0xa4, 0xac]), 0xc0 | (reg() << 3) | reg(), int(40)] }), // SHLD/SHRD by imm8
    () => ({ bytes: [0x31, 0xd2, 0xf7, 0xf0 | reg()] }), // XOR EDX, EDX ; DIV r32 (#DE by 0)
    () => ({ bytes: [pick([0x8b, 0x89]), (reg() << 3) | reg()] }), // MOV to or from [r32]: anywhere (open bus, the device, #PF)
    () => ({ bytes: [pick([0x8b, 0x89]), 0x85 | (reg() << 3), ...le(0xffe - int(4))] }), // a dword across DATA's page end
    () => ({ bytes: [pick([0xfc, 0xfd])] }), // CLD/STD (the string instructions' direction)
    () => ({ bytes: [pick([0xeb, 0xe2]), 0], skip: 1 + int(2) }), // JMP short, LOOP forward
    () => ({ bytes: [0xb9, ...le(1 + int(20)), 0x40, 0x49, 0x75, 0xfc] }), // an inner loop
    () => ({ bytes: [0xfa, 0x40, 0xfb, 0x40] }), // CLI ; INC ; STI (its one-instruction shadow) ; INC
    () => ({ bytes: [0x60, 0x61] }), // PUSHAD ; POPAD
    // x87 (run from blocks through the interpreter's handlers): loads, arithmetic, stores,
    // compares into EFLAGS, conditional moves that read them, the status word, WAIT.
    () => ({ bytes: [pick([0xd9, 0xdd, 0xdb]), 0x45, disp()] }), // FLD m32 / FLD m64 / FILD m32
    () => ({ bytes: [pick([0xd8, 0xdc]), 0xc0 | (pick([0, 1, 4, 6]) << 3) | int(8)] }), // FADD FMUL FSUB FDIV with ST(i)
    () => ({ bytes: [0xde, 0xc0 | (pick([0, 1, 5, 7]) << 3) | (1 + int(7))] }), // FADDP FMULP FSUBP FDIVP
    () => ({ bytes: [pick([0xd9, 0xdd, 0xdb]), 0x40 | (pick([2, 3]) << 3) | 5, disp()] }), // FST/FSTP m32, m64; FIST/FISTP m32
    () => ({ bytes: [0xd9, pick([0xc8 + int(8), 0xe0, 0xe1, 0xe8, 0xee, 0xfa, 0xf7, 0xf6])] }), // FXCH FCHS FABS FLD1 FLDZ FSQRT FINCSTP FDECSTP
    () => ({ bytes: [pick([0xdb, 0xdf]), 0xf0 | int(8)] }), // FCOMI / FCOMIP
    () => ({ bytes: [pick([0xda, 0xdb]), 0xc0 | (int(4) << 3) | int(8)] }), // FCMOVcc
    () => ({ bytes: pick([[0xdf, 0xe0], [0x9b], [0xdb, 0xe3], [0xd9, 0x7d, disp()], [0xdd, 0xc0 | int(8)]]) }), // FNSTSW AX, WAIT, FNINIT, FNSTCW m16, FFREE
    () => ({ bytes: [0x66, 0xc7, 0x45, disp(), pick([0x7f, 0x72, 0x40]), 0x03, 0xd9, 0x6d, disp()] }), // a control word into memory ; FLDCW m16
    // Instructions that charge cycles beyond their own or read the clock.
    () => ({ bytes: pick([[0xe4, 0x80], [0xe6, 0x80], [0xe5, 0x80]]) }), // port I/O with latency
    () => ({ bytes: [0xa1, ...le(MMIO + 4 * int(4))] }), // MOV EAX, [device]
    () => ({ bytes: [0x89, 0x05 | (reg() << 3), ...le(MMIO + 4 * int(4))] }), // MOV [device], r32
    () => ({ bytes: [0x03, 0x05 | (reg() << 3), ...le(MMIO)] }), // ADD r32, [device]
    () => ({ bytes: [0xf3, 0x90] }), // PAUSE
    () => ({ bytes: [0x0f, 0x31] }), // RDTSC
  ];
  const body: Piece[] = [];
  const n = 3 + int(30);
  for (let i = 0; i < n; i++) body.push(pick(forms)());
  // The loop's counter lives at [ebp+0x3f0], out of the way of the other operands.
  const head = [0xc7, 0x85, ...le(0x3f0), ...le(1 + int(40))]; // mov dword [ebp+0x3f0], N
  const sti = !wasm && rng() < 0.7 ? [0xfb] : [];
  const code: number[] = [...sti, ...head];
  const loopAt = code.length;
  const starts: number[] = [];
  let at = loopAt;
  for (const p of body) { starts.push(at); at += p.bytes.length; }
  const tail = [0xff, 0x8d, ...le(0x3f0), 0x0f, 0x85]; // dec dword [ebp+0x3f0] ; jnz loop (rel32 follows)
  const tailAt = at;
  // After the loop: a HLT, or (for the WebAssembly translator, which covers no HLT) a JMP
  // to one in another page, so that the block's code is all covered. The subroutine follows.
  const stop = wasm ? [0xe9, ...le(HLT_AT - (tailAt + tail.length + 4 + 5))] : [0xf4];
  const subAt = tailAt + tail.length + 4 + stop.length;
  body.forEach((p, i) => {
    const end = starts[i] + p.bytes.length;
    if (p.skip !== undefined) {
      const to = i + 1 + p.skip < body.length ? starts[i + 1 + p.skip] : tailAt;
      p.bytes[1] = to - end;
    } else if (p.call) {
      p.bytes.splice(1, 4, ...le(subAt - end));
    }
    code.push(...p.bytes);
  });
  code.push(...tail, ...le(loopAt - (tailAt + tail.length + 4)), ...stop, 0x40, 0xc3); // HLT ; sub: inc eax ; ret
  if (wasm) { while (code.length < HLT_AT) code.push(0); code.push(0xf4); }
  return { code, irq: rng() < 0.6 ? int(BUDGET) : -1 };
}

/** Identity-maps the first 4 MiB (the device's page too) in 4 KiB pages and turns paging on, 32-bit or PAE. */
function pagingOn(cpu: Cpu, bus: TestBus, pae: boolean): void {
  const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
  if (pae) {
    // PDPT at PD, its PD at PD + 0x1000, two PTs (2 MiB each) from PT + 0x1000.
    dv.setUint32(PD, (PD + 0x1000) | 1, true);
    for (let t = 0; t < 2; t++) dv.setUint32(PD + 0x1000 + t * 8, (PT + 0x1000 + t * 0x1000) | 3, true);
    for (let i = 0; i < 1024; i++) dv.setUint32(PT + 0x1000 + i * 8, (i << 12) | 3, true);
    cpu.setCr4(cpu.cr4 | 0x20);
  } else {
    dv.setUint32(PD, PT | 3, true);
    for (let i = 0; i < 1024; i++) dv.setUint32(PT + i * 4, (i << 12) | 3, true);
  }
  cpu.setCr3(PD);
  cpu.setCr0(cpu.cr0 | 0x80000000);
}

/** How a case runs: interpreted, translated to JavaScript only, or to WebAssembly where covered. */
type Mode = 'interpreter' | 'javascript' | 'webassembly';

function runCase(code: number[], irq: number, mode: Mode, paging: string, seed: number): string {
  const { cpu, bus } = flatMachine(new Uint8Array(code));
  const seen: number[] = [];
  // Port 0x80: 25 cycles a read, 40 a write; reads return a count of reads.
  let reads = 0;
  bus.ioRead = (port: number, size: number): number => { cpu.addCycles(25); seen.push(cpu.cycles, port); return (++reads * 0x01010101) & (size === 4 ? -1 : (1 << (8 * size)) - 1); };
  bus.ioWrite = (port: number, size: number, v: number): void => { seen.push(cpu.cycles, port, v); cpu.addCycles(40); };
  // The device: a read returns the clock, a write records it; 30 cycles each.
  bus.mmioRead = (p: number): number => { const c = cpu.cycles; seen.push(c, p); cpu.addCycles(30); return c; };
  bus.mmioWrite = (p: number, _size: number, v: number): void => { seen.push(cpu.cycles, p, v); cpu.addCycles(30); };
  cpu.pauseCycles = 140;
  // FS: a data segment based at 0x200 (to 4 GiB), so FS:[EBP+d] is in DATA too; GS stays flat.
  putDescriptor(bus.ram, 0x18, 0x200, 0xfffff, 0x92, true, true);
  cpu.gdtrLimit = 31;
  loadSegment(cpu, FS, 0x18);
  if (paging !== 'off') pagingOn(cpu, bus, paging === 'PAE');
  cpu.useTranslator = mode !== 'interpreter';
  cpu.useWasm = mode === 'webassembly';
  cpu.blocks.hotThreshold = 1 + (seed % 3); // compiled at once, or after a pass or two
  const r = cpu.reg32;
  for (const i of REGS) r[i] = (Math.imul(seed + 1, 0x9e3779b1 + i * 0x85ebca6b) >>> 0);
  r[5] = DATA;
  for (let i = 0; i < 0x400; i++) bus.ram[DATA + i] = (i * 37 + seed) & 0xff;
  let why;
  if (irq >= 0) {
    cpu.run(irq);
    cpu.irqLine = true;
    why = cpu.run(BUDGET - irq);
  } else {
    why = cpu.run(BUDGET);
  }
  const hex = (a: Uint8Array): string => Buffer.from(a).toString('hex');
  return [
    `why ${why} eip ${cpu.eip.toString(16)} instructions ${cpu.instructions} cycles ${cpu.cycles} eflags ${cpu.getEflags().toString(16)}`,
    `regs ${Array.from(r, (x) => (x >>> 0).toString(16)).join(' ')}`,
    `data ${hex(bus.ram.subarray(DATA, DATA + 0x400))}`,
    `stack ${hex(bus.ram.subarray(STACK_TOP - 0x800, STACK_TOP))}`,
    `devices ${seen.join(',')}`,
    `webassembly blocks ${mode === 'webassembly' ? cpu.wasm!.compiles : 0} steps ${mode === 'webassembly' ? cpu.wasm!.steps : 0}`,
    `fpu sw ${cpu.fpu.sw} top ${cpu.fpu.top} valid ${cpu.fpu.valid} cw ${cpu.fpu.f.cw} fip ${cpu.fpu.fip} fdp ${cpu.fpu.fdp} fop ${cpu.fpu.fop} ${Array.from(cpu.fpu.f.v).join(' ')}`,
  ].join('\n');
}

/** Runs CASES programs interpreted and translated (`mode`); the first lines that differ, of up to three cases. */
function compare(rng: () => number, mode: Mode, paging: string, wasm: boolean): { failures: string[]; wasmBlocks: number; steps: number } {
  const failures: string[] = [];
  let wasmBlocks = 0, steps = 0;
  for (let n = 0; n < CASES && failures.length < 3; n++) {
    const { code, irq } = program(rng, wasm);
    const a = runCase(code, irq, 'interpreter', paging, n).split('\n');
    const b = runCase(code, irq, mode, paging, n).split('\n');
    const counts = /webassembly blocks (\d+) steps (\d+)/.exec(b.join('\n'))!;
    wasmBlocks += Number(counts[1]); steps += Number(counts[2]);
    b[b.findIndex((l) => l.startsWith('webassembly blocks'))] = 'webassembly blocks 0 steps 0';
    const i = a.findIndex((line, k) => line !== b[k]);
    if (i >= 0) failures.push(`case ${n} (irq after ${irq}): ${Buffer.from(code).toString('hex').replace(/(00)+f4$/, ' ... f4')}\n  interpreter ${a[i].slice(0, 400)}\n  translator  ${b[i].slice(0, 400)}`);
  }
  return { failures, wasmBlocks, steps };
}

describe(`random loops of translatable instructions, the clock included (seed ${SEED})`, () => {
  it.each([['off'], ['32-bit'], ['PAE']])(`the interpreter and the JavaScript translator agree on ${CASES} programs, paging %s`, (paging) => {
    const rng = seedrandom(`${SEED}/${paging === 'off' ? false : paging === '32-bit' ? true : paging}`);
    expect(compare(rng, 'javascript', paging, false).failures).toEqual([]);
  });

  it.each([['off'], ['32-bit'], ['PAE']])(`the interpreter and the WebAssembly translator agree on ${CASES} programs of the forms it covers, paging %s`, (paging) => {
    const r = compare(seedrandom(`${SEED}/webassembly/${paging}`), 'webassembly', paging, true);
    expect(r.failures).toEqual([]);
    expect(r.wasmBlocks).toBeGreaterThan(CASES); // the programs did run as WebAssembly: a block or more each
  });

  it.each([['off'], ['32-bit'], ['PAE']])(`with the WebAssembly translator on, the mixed programs agree too (the forms it does not cover run by the interpreter from its blocks), paging %s`, (paging) => {
    const r = compare(seedrandom(`${SEED}/mixed/${paging}`), 'webassembly', paging, false);
    expect(r.failures).toEqual([]);
    expect(r.steps).toBeGreaterThan(CASES); // the interpreter did run instructions from WebAssembly blocks
  });
});
