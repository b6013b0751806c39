/**
 * The block translator against the interpreter, for what the translator open-codes
 * rather than delegating to the interpreter's helpers: ALU operations, TEST and
 * shifts by a constant with their lazy flags written inline, conditions worked out
 * from a known flag state, flag recordings dropped because a later instruction
 * overwrites them unseen, and the stack, segment and flag instructions of interrupt
 * code. Every program runs interpreted and translated (translated on first sight);
 * registers, EFLAGS, memory, EIP, instruction and cycle counts must be equal.
 */
import seedrandom from 'seedrandom';
import { StopReason } from './bus';
import { Cpu } from './cpu';
import { flatMachine, putDescriptor, TestBus, CODE_BASE, HANDLER_BASE, STACK_TOP } from './testing';
import { WasmContext } from './wasm-translator';
import { AREA_LINKS, LINK_BYTES, LINK_SLOTS } from './memory';

/** Where the programs keep their data (EBP points here and is never an ALU destination). */
const DATA = 0x40000;
const DATA_BYTES = 0x4000;

/**
 * Runs `code`; with `irqAfter` >= 0, runs that many cycles first and then raises the
 * interrupt line (vector 0x20, whose handler is a HLT).
 */
function run(code: number[], translate: boolean, irqAfter = -1, setup?: (cpu: Cpu, bus: TestBus) => void, memBytes = 1 << 20): { cpu: Cpu; bus: TestBus; why: StopReason } {
  const { cpu, bus } = flatMachine(new Uint8Array(code), undefined, memBytes);
  setup?.(cpu, bus);
  cpu.useTranslator = translate;
  cpu.blocks.hotThreshold = 1;
  cpu.reg32[5] = DATA;
  for (let i = 0; i < DATA_BYTES; i++) bus.ram[DATA + i] = (i * 37 + 11) & 0xff;
  if (irqAfter >= 0) {
    cpu.run(irqAfter);
    cpu.irqLine = true;
  }
  const why = cpu.run(1e6);
  return { cpu, bus, why };
}

function state(r: { cpu: Cpu; bus: TestBus; why: StopReason }): string {
  const { cpu, bus } = r;
  const hexes = (a: ArrayLike<number>) => Array.from(a, (x) => (x >>> 0).toString(16)).join(' ');
  return [
    `why ${r.why} eip ${cpu.eip.toString(16)} instructions ${cpu.instructions} cycles ${cpu.cycles}`,
    `regs ${hexes(cpu.reg32)} eflags ${cpu.getEflags().toString(16)}`,
    `data ${Buffer.from(bus.ram.subarray(DATA, DATA + DATA_BYTES)).toString('hex')}`,
    `stack ${Buffer.from(bus.ram.subarray(STACK_TOP - 0x400, STACK_TOP)).toString('hex')}`,
  ].join('\n');
}

/** Runs `code` (HLT appended) both ways; returns a description of the first difference, or ''. */
function compare(code: number[], irqAfter = -1, setup?: (cpu: Cpu, bus: TestBus) => void, memBytes = 1 << 20): string {
  const program = [...code, 0xf4];
  const interpreted = run(program, false, irqAfter, setup, memBytes);
  // Every program ends at its HLT (or the exception handler's) with IF clear.
  if (interpreted.why !== StopReason.Dead) return `${Buffer.from(program).toString('hex')}: stopped by ${interpreted.why}`;
  const a = state(interpreted).split('\n');
  const b = state(run(program, true, irqAfter, setup, memBytes)).split('\n');
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return `${Buffer.from(program).toString('hex').slice(0, 400)}\n  interpreter ${a[i].slice(0, 300)}\n  translator  ${b[i].slice(0, 300)}`;
  }
  return '';
}

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const EDGES = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff, 0x12345678];

/**
 * After `op` (operating on EAX/AL/AX and EBX/BL/BX, or EAX and an immediate), every
 * condition goes to memory through SETcc, and EFLAGS through PUSHFD/POP.
 */
function recordFlags(op: number[]): number[] {
  const out: number[] = [...op];
  // pushfd ; pop edx ; mov [ebp], edx ; mov [ebp+4], eax
  out.push(0x9c, 0x5a, 0x89, 0x55, 0x00, 0x89, 0x45, 0x04);
  for (let cc = 0; cc < 16; cc++) out.push(0x0f, 0x90 + cc, 0x45, 8 + cc); // setcc [ebp+8+cc]
  out.push(0x8d, 0x6d, 0x18); // lea ebp, [ebp+24]
  return out;
}

/** Each ALU operation and TEST in each size and form, each followed by every condition. */
const FORMS: { name: string; bytes: (alu: number) => number[] }[] = [
  { name: 'op r/m32, r32', bytes: (o) => [(o << 3) | 1, 0xd8] },
  { name: 'op r32, r/m32', bytes: (o) => [(o << 3) | 3, 0xc3] },
  { name: 'op r/m8, r8', bytes: (o) => [(o << 3) | 0, 0xd8] },
  { name: 'op r/m16, r16', bytes: (o) => [0x66, (o << 3) | 1, 0xd8] },
  { name: 'op eax, imm32', bytes: (o) => [(o << 3) | 5, ...le32(0x80000000)] },
  { name: 'op al, imm8', bytes: (o) => [(o << 3) | 4, 0x80] },
  { name: 'op r/m32, imm8', bytes: (o) => [0x83, 0xc0 | (o << 3), 0xff] },
  { name: 'op r/m32, imm32', bytes: (o) => [0x81, 0xc0 | (o << 3), ...le32(0x7fffffff)] },
  { name: 'op r/m16, imm16', bytes: (o) => [0x66, 0x81, 0xc0 | (o << 3), 0x00, 0x80] },
  { name: 'op r/m8, imm8', bytes: (o) => [0x80, 0xc0 | (o << 3), 0x01] },
  { name: 'op [ebp+0x40], r32', bytes: (o) => [(o << 3) | 1, 0x5d, 0x40] },
  { name: 'op r32, [ebp+0x40]', bytes: (o) => [(o << 3) | 3, 0x45, 0x40] },
];

const TESTS: number[][] = [
  [0x85, 0xd8], // test eax, ebx
  [0x84, 0xd8], // test al, bl
  [0x66, 0x85, 0xd8], // test ax, bx
  [0xa9, ...le32(0x80000001)], // test eax, imm32
  [0xa8, 0x81], // test al, imm8
  [0xf7, 0xc0, ...le32(0xffff0000)], // test eax, imm32 (group 3)
  [0x85, 0x45, 0x40], // test [ebp+0x40], eax
];

/** Load EAX and EBX (and [EBP+0x40]) with each pair of edge values, then run `op` and record. */
function overEdges(op: number[], usesB = true): number[] {
  const code: number[] = [];
  for (const a of EDGES) {
    for (const b of usesB ? EDGES : [0x5a5a5a5a]) {
      code.push(0xb8, ...le32(a), 0xbb, ...le32(b)); // mov eax, a ; mov ebx, b
      code.push(0x89, 0x5d, 0x40); // mov [ebp+0x40], ebx
      code.push(...recordFlags(op));
    }
  }
  return code;
}

describe('the translator agrees with the interpreter on flags', () => {
  it('after every ALU operation, form and size, on edge operands, for every condition', () => {
    const failures: string[] = [];
    for (const form of FORMS) {
      for (let o = 0; o < 8; o++) {
        // Keep each program within the data area: 256 pairs of 24 bytes = 0x1800 bytes.
        const diff = compare(overEdges(form.bytes(o)));
        if (diff) failures.push(`${form.name} /${o}: ${diff}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('after TEST in every form', () => {
    const failures = TESTS.map((t) => compare(overEdges(t))).filter((d) => d !== '');
    expect(failures).toEqual([]);
  });

  it('after BSF and BSR (a zero source leaves the destination), register and memory, and the 16-bit form', () => {
    const forms = [
      [0x0f, 0xbc, 0xc3], // bsf eax, ebx
      [0x0f, 0xbd, 0xc3], // bsr eax, ebx
      [0x0f, 0xbc, 0xc0], // bsf eax, eax
      [0x0f, 0xbd, 0x45, 0x40], // bsr eax, [ebp+0x40]
      [0x0f, 0xbc, 0x45, 0x40], // bsf eax, [ebp+0x40]
      [0x66, 0x0f, 0xbc, 0xc3], // bsf ax, bx (interpreted in both)
    ];
    const failures = forms.map((f) => compare(overEdges(f))).filter((d) => d !== '');
    expect(failures).toEqual([]);
  });

  it('after INC and DEC (CF carried over from a known or unknown state), in every size and form', () => {
    const ops = [
      [0x39, 0xd8, 0x40], // cmp eax, ebx ; inc eax
      [0x39, 0xd8, 0x48], // cmp eax, ebx ; dec eax
      [0x01, 0xd8, 0x48], // add eax, ebx ; dec eax
      [0x21, 0xd8, 0x40], // and eax, ebx ; inc eax
      [0x39, 0xd8, 0x40, 0x48], // cmp ; inc ; dec
      [0xf9, 0x40], // stc ; inc eax
      [0xf8, 0x48], // clc ; dec eax
      [0x39, 0xd8, 0x66, 0x48], // cmp ; dec ax
      [0x39, 0xd8, 0xfe, 0xc0], // cmp ; inc al
      [0x39, 0xd8, 0xff, 0x45, 0x40], // cmp ; inc dword [ebp+0x40]
      [0x39, 0xd8, 0xfe, 0x4d, 0x40], // cmp ; dec byte [ebp+0x40]
    ];
    const failures = ops.map((op) => compare(overEdges(op))).filter((d) => d !== '');
    expect(failures).toEqual([]);
  });

  it('after shifts and rotates by 0, 1, 3, 7, 8, 9, 15, 16, 17, 31 and 32 (masked to 0), by CL, in every size (inline by a constant, a width or more by the helper)', () => {
    const failures: string[] = [];
    for (const kind of [0, 1, 2, 3, 4, 5, 6, 7]) {
      for (const count of [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32]) {
        for (const op of [
          [0xc1, 0xc0 | (kind << 3), count], // shl eax, imm8
          [0xd1, 0xc0 | (kind << 3)], // shl eax, 1
          [0xc0, 0xc0 | (kind << 3), count], // shl al, imm8
          [0x66, 0xc1, 0xc0 | (kind << 3), count], // shl ax, imm8
          [0x89, 0x45, 0x40, 0xc1, 0x65 | (kind << 3), 0x40, count], // mov [ebp+0x40], eax ; shl dword [ebp+0x40], imm8
          [0xb1, count, 0xd3, 0xc0 | (kind << 3)], // mov cl, count ; shl eax, cl
        ]) {
          const diff = compare(overEdges(op, false));
          if (diff) failures.push(`shift /${kind} by ${count}: ${diff}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('when one operation\'s flags are overwritten by the next, with or without a fault or a read in between', () => {
    // Each first operation, then something, then a flag-setting second operation, then record.
    const firsts = [[0x01, 0xd8], [0x29, 0xd8], [0x31, 0xd8], [0xc1, 0xe0, 0x05], [0xc1, 0xf8, 0x1f], [0x40], [0xf7, 0xd8]];
    const betweens = [
      [], [0x89, 0xc1], // mov ecx, eax
      [0x8b, 0x4d, 0x40], // mov ecx, [ebp+0x40]
      [0x0f, 0x92, 0xc1], // setb cl
      [0x73, 0x00], // jae +0 (a side exit that goes nowhere)
      [0x43], // inc ebx (reads CF)
      [0x11, 0xd9], // adc ecx, ebx
    ];
    const seconds = [[0x39, 0xd8], [0x21, 0xd8], [0x83, 0xc0, 0x01], [0xc1, 0xe8, 0x03], [0x85, 0xc0], [0x48]];
    const failures: string[] = [];
    for (const f of firsts) for (const b of betweens) for (const s of seconds) {
      const code: number[] = [];
      for (const [x, y] of [[0, 0], [0xffffffff, 1], [0x7fffffff, 0xffffffff], [0x80000000, 0x80000000], [3, 5]]) {
        code.push(0xb8, ...le32(x), 0xbb, ...le32(y), ...f, ...b, ...s);
        code.push(...recordFlags([]));
      }
      const diff = compare(code);
      if (diff) failures.push(diff);
    }
    expect(failures).toEqual([]);
  });

  it('keeps the size of the lazy flags right at a loop\'s head, where the back edge brings another size, and after a helper that records another size', () => {
    // A 32-bit ADD before the loop and at its head; an 8-bit SUB at its end. The head's ADD
    // must record its size again on every pass: a store dropped as a repeat of the one
    // before the loop would leave the SUB's 8-bit sign for the PUSHFD to read.
    const loop = [0x01, 0xd8, 0x9c, 0x80, 0xe9, 0x01, 0x75, 0xf8]; // L: add eax, ebx; pushfd; sub cl, 1; jnz L
    const failures: string[] = [];
    for (const x of [0x7fffffff, 0x7f, 0xffffff7f, 0]) {
      const code = [0xb9, ...le32(3), 0xb8, ...le32(x), 0xbb, ...le32(1), 0x01, 0xd8, 0x0f, 0x92, 0xc2, ...loop]; // add eax, ebx; setc dl (its flags are read: kept)
      const diff = compare(code);
      if (diff) failures.push(diff);
      // The same across a helper that records flags of another size (a 16-bit shift by CL): add; setc; shl ax, cl; add; pushfd.
      const helper = [0xb9, ...le32(1), 0xb8, ...le32(x), 0xbb, ...le32(1), 0x01, 0xd8, 0x0f, 0x92, 0xc2, 0x66, 0xd3, 0xe0, 0x01, 0xd8, 0x9c];
      const diff2 = compare(helper);
      if (diff2) failures.push(diff2);
    }
    expect(failures).toEqual([]);
  });

  it('at a fault right after an operation whose flags a later one would overwrite (the handler sees them)', () => {
    // add eax, ebx ; push 0 ; pop es ; mov ecx, es:[0] (#GP: null ES) ; cmp eax, ebx
    for (const [x, y] of [[0xffffffff, 1], [0x7fffffff, 1], [0, 0]]) {
      const code = [0xb8, ...le32(x), 0xbb, ...le32(y), 0x01, 0xd8, 0x6a, 0x00, 0x07, 0x26, 0x8b, 0x0d, 0, 0, 0, 0, 0x39, 0xd8];
      expect(compare(code)).toBe('');
    }
  });
});

/**
 * Random straight-line and looping code from a vocabulary of flag-heavy instructions:
 * every ALU form, shifts, INC/DEC, SETcc, CMOVcc, Jcc or JMP over one instruction, PUSHFD,
 * memory operands, and sometimes a fault at the end.
 */
describe('random flag-heavy code in both modes', () => {
  const SEED = process.env.CPU_FUZZ_SEED ?? 'translator-flags-1';
  const CASES = 1500;

  function instruction(rng: () => number): number[] {
    const pick = <T>(a: T[]): T => a[(rng() * a.length) | 0];
    const reg = () => pick([0, 1, 2, 3, 6, 7]); // never ESP or EBP
    const rm = () => 0xc0 | (reg() << 3) | reg();
    const o = (rng() * 8) | 0;
    switch ((rng() * 20) | 0) {
      case 0: return [(o << 3) | 1, rm()];
      case 1: return [(o << 3) | 3, rm()];
      case 2: return [(o << 3) | 0, rm()];
      case 3: return [0x66, (o << 3) | 1, rm()];
      case 4: return [0x83, 0xc0 | (o << 3) | reg(), pick([0, 1, 0x7f, 0x80, 0xff])];
      case 5: return [0x81, 0xc0 | (o << 3) | reg(), ...le32(pick(EDGES))];
      case 6: return [(o << 3) | 3, 0x45 | (reg() << 3), pick([0x40, 0x44, 0x48])];
      case 7: return [(o << 3) | 1, 0x45 | (reg() << 3), pick([0x40, 0x44, 0x48])];
      case 8: return [pick([0x85, 0x84]), rm()];
      case 9: return [...(rng() < 0.3 ? [0x66] : []), pick([0xc1, 0xc0]), 0xc0 | (o << 3) | reg(), pick([0, 1, 3, 4, 8, 9, 16, 17, 31, 32])];
      case 10: return [pick([0xd1, 0xd3]), 0xc0 | (o << 3) | reg()];
      case 11: return rng() < 0.7 ? [pick([0x40, 0x48]) + reg()] : [pick([0xfe, 0xff]), pick([0x45, 0x4d]), 0x44];
      case 12: return [0x0f, 0x90 + ((rng() * 16) | 0), 0xc0 | reg()];
      case 13: return [0x0f, 0x40 + ((rng() * 16) | 0), rm()];
      case 14: return [rng() < 0.2 ? 0xeb : 0x70 + ((rng() * 16) | 0), 2, (o << 3) | 1, rm()]; // Jcc or JMP over one
      case 15: return [0x9c, 0x58 + reg()]; // pushfd ; pop r32
      case 16: return [0xb8 + reg(), ...le32(pick(EDGES))];
      case 17: return [0xf7, 0xc0 | (pick([2, 3]) << 3) | reg()]; // not, neg
      case 18: return [0x8d, 0x40 | (reg() << 3) | reg(), pick([1, 0x7f, 0x80])]; // lea r, [r+d8]
      default: return [0x89, rm()];
    }
  }

  it(`${CASES} cases agree on registers, EFLAGS, memory and counts`, () => {
    const rng = seedrandom(SEED);
    const failures: string[] = [];
    for (let n = 0; n < CASES && failures.length < 5; n++) {
      const code: number[] = [];
      for (let r = 0; r < 8; r++) if (r !== 4 && r !== 5) code.push(0xb8 + r, ...le32(EDGES[(rng() * EDGES.length) | 0]));
      const loop = rng() < 0.3;
      if (loop) code.push(0xc7, 0x45, 0x7c, 3, 0, 0, 0); // mov dword [ebp+0x7c], 3
      const body: number[] = [];
      const count = 2 + ((rng() * 20) | 0);
      for (let i = 0; i < count; i++) body.push(...instruction(rng));
      if (loop) body.push(0xff, 0x4d, 0x7c); // dec dword [ebp+0x7c]
      code.push(...body);
      if (loop) code.push(0x0f, 0x85, ...le32(-(body.length + 6))); // jnz back to the body
      if (rng() < 0.3) code.push(0x6a, 0x00, 0x07, 0x26, 0x8b, 0x0d, 0, 0, 0, 0); // #GP through a null ES
      code.push(0x9c, 0x8f, 0x45, 0x00); // pushfd ; pop dword [ebp]
      const diff = compare(code);
      if (diff) failures.push(diff);
    }
    expect(failures).toEqual([]);
  });
});

describe('interrupt-path instructions in blocks', () => {
  it('PUSHA, POPA, PUSHFD, CLI, STI, CLD, STD, PUSH/POP ES/DS/FS/GS, MOV Sreg and moffs agree', () => {
    const code = [
      0x60, // pusha
      0x1e, 0x06, 0x0f, 0xa0, 0x0f, 0xa8, // push ds ; push es ; push fs ; push gs
      0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xe0, 0x8e, 0xe8, // mov ax, 0x10 ; mov ds/es/fs/gs, ax
      0xa1, ...le32(DATA + 0x20), // mov eax, [DATA+0x20]
      0xa3, ...le32(DATA + 0x30), // mov [DATA+0x30], eax
      0xa0, ...le32(DATA + 0x21), 0xa2, ...le32(DATA + 0x31), // mov al, [..] ; mov [..], al
      0x66, 0xa1, ...le32(DATA + 0x22), 0x66, 0xa3, ...le32(DATA + 0x32), // 16-bit moffs
      0x64, 0xa1, ...le32(DATA + 0x24), // mov eax, fs:[..]
      0xfa, 0xfd, 0xfc, 0x9c, 0x8f, 0x45, 0x10, // cli ; std ; cld ; pushfd ; pop [ebp+0x10]
      0xfb, 0x90, // sti ; nop
      0x0f, 0xa9, 0x0f, 0xa1, 0x07, 0x1f, // pop gs ; pop fs ; pop es ; pop ds
      0x61, // popa
      0xfa, // cli (the run ends at HLT with IF clear)
    ];
    expect(compare(code)).toBe('');
  });

  it('STI in a block holds an interrupt raised right after it off for exactly one more instruction', () => {
    // mov eax, 1 ; mov ebx, 2 ; add eax, ebx ; sti ; inc eax ; inc eax ; inc eax
    const code = [0xb8, ...le32(1), 0xbb, ...le32(2), 0x01, 0xd8, 0xfb, 0x40, 0x40, 0x40];
    expect(compare(code, 4)).toBe('');
    const r = run([...code, 0xf4], true, 4); // the line rises when the STI has retired
    expect(r.cpu.reg32[0]).toBe(4); // one INC ran before the interrupt
  });

  it('STI with an interrupt already waiting takes it after exactly one more instruction', () => {
    // The line rises after three instructions, with IF still clear: nop ; sti ; inc eax x3.
    const code = [0xb8, ...le32(1), 0xbb, ...le32(2), 0x01, 0xd8, 0x90, 0xfb, 0x40, 0x40, 0x40];
    expect(compare(code, 3)).toBe('');
    expect(run([...code, 0xf4], true, 3).cpu.reg32[0]).toBe(4);
  });

  it('goes on past STI, and takes an interrupt that port I/O raises later in the block, when the interpreter would', () => {
    // A write to port 0xE0 raises the line. The OUT right after STI is in its shadow; one
    // further on is not. Either way the interrupt comes right after the OUT.
    const raising = (_cpu: Cpu, bus: TestBus) => {
      const write = bus.ioWrite.bind(bus);
      bus.ioWrite = (port, size, value) => { write(port, size, value); if (port === 0xe0 && bus.cpu) bus.cpu.irqLine = true; };
    };
    const out = [0xe6, 0xe0]; // out 0xe0, al
    for (const [name, body, eax] of [
      ['in the shadow', [0xfb, ...out, 0x40, 0x40], 1],
      ['after it', [0xfb, 0x40, ...out, 0x40, 0x40], 2],
      ['with no interrupt at all', [0xfb, 0x40, 0x40, 0x40, 0xfa], 4], // cli: the run ends at HLT with IF clear
    ] as const) {
      const code = [0xb8, ...le32(1), ...body];
      expect(`${name}: ${compare(code, -1, raising)}`).toBe(`${name}: `);
      expect(run([...code, 0xf4], true, -1, raising).cpu.reg32[0]).toBe(eax);
    }
    // And one block holds them all: the STI did not end it (a WebAssembly block holds the HLT too).
    const { cpu } = run([0xb8, ...le32(1), 0xfb, 0x40, 0x40, 0x40, 0xfa, 0xf4], true);
    expect(cpu.blocks.slots.find((b) => b !== undefined && b.eip === CODE_BASE)?.count).toBeGreaterThanOrEqual(6);
  });
});

describe('an interrupt line held up with IF clear', () => {
  // A loop of 1000 with IF clear while the line is up (as when firmware leaves a timer
  // running that the guest never serves), then STI: the interrupt comes after one more.
  // mov ecx, 1000 ; 1: inc eax ; dec ecx ; jnz 1b ; sti ; inc eax ; inc eax ; inc eax
  const code = [0xb9, ...le32(1000), 0x40, 0x49, 0x75, 0xfc, 0xfb, 0x40, 0x40, 0x40];

  it('runs translated code all the same, and STI takes the interrupt after exactly one more instruction', () => {
    expect(compare(code, 0)).toBe('');
    const r = run([...code, 0xf4], true, 0);
    expect(r.cpu.reg32[0]).toBe(1001); // the loop's 1000 and the one INC of STI's hold-off
    expect(r.cpu.blocks.compiles).toBeGreaterThan(0);
    expect(r.cpu.blocks.translated).toBeGreaterThan(0);
  });
});

describe('the block cache', () => {
  it('keeps blocks 64 KiB apart at the same page offset both translated', () => {
    // A loop calls f1 and f2, 64 KiB apart (the span of the cache's index). Were they to
    // share a slot, each call would find the other's block there and run interpreted.
    const f1 = 0x1000, f2 = 0x11000; // offsets from CODE_BASE
    const code = new Array<number>(f2 + 2).fill(0x90);
    const rel32 = (from: number, to: number) => le32(to - (from + 5));
    const loop = [0xb9, ...le32(2000), 0xe8, ...rel32(5, f1), 0xe8, ...rel32(10, f2), 0x49, 0x75, -13 & 0xff, 0xf4]; // mov ecx, 2000 ; L: call f1 ; call f2 ; dec ecx ; jnz L ; hlt
    code.splice(0, loop.length, ...loop);
    code.splice(f1, 2, 0x40, 0xc3); // f1: inc eax ; ret
    code.splice(f2, 2, 0x43, 0xc3); // f2: inc ebx ; ret
    const { cpu } = flatMachine(new Uint8Array(code));
    cpu.run(1e6);
    expect([cpu.reg32[0], cpu.reg32[3]]).toEqual([2000, 2000]);
    expect(cpu.blocks.translated).toBeLessThan(10);
  });
});

describe('direct JMP and CALL inside a block', () => {
  // Blocks go on at the target of a direct JMP or CALL in the same page. Each program
  // runs to a HLT; both modes must agree on everything, instruction counts included.
  const rel32 = (from: number, to: number) => le32(to - (from + 5)); // for E8/E9 at `from`

  it('follows jumps forward and back, calls and returns, a side exit back into the block', () => {
    const code = [
      0xb8, ...le32(1), //             0: mov eax, 1
      0xeb, 0x05, //                   5: jmp 0xc
      0xff, 0xff, 0xff, 0xff, 0xff, // 7: never run
      0x83, 0xc0, 0x02, //             c: add eax, 2
      0xe8, ...rel32(0x0f, 0x1e), //   f: call 0x1e
      0x83, 0xf8, 0x40, //            14: cmp eax, 0x40
      0x72, 0xf3, //                  17: jb 0xc
      0xe9, ...rel32(0x19, 0x21), //  19: jmp 0x21
      0x01, 0xc0, //                  1e: add eax, eax
      0xc3, //                        20: ret
      0x9c, 0x5a, //                  21: pushfd ; pop edx
    ];
    expect(compare(code)).toBe('');
    const r = run([...code, 0xf4], true);
    expect(r.cpu.reg32[0]).toBe(76); // four passes: (1+2)*2, (6+2)*2, (16+2)*2, (36+2)*2
  });

  it('counts instructions exactly when a fault follows a followed CALL', () => {
    const code = [
      0x6a, 0x00, 0x07, //             0: push 0 ; pop es (null)
      0xe8, ...rel32(0x03, 0x0e), //   3: call 0xe
      0x90, 0x90, 0x90, 0x90, 0x90, 0x90, // 8: never run
      0x40, //                         e: inc eax
      0x26, 0x8b, 0x0d, 0, 0, 0, 0, // f: mov ecx, es:[0] (#GP)
    ];
    expect(compare(code)).toBe('');
  });

  it('stops after a CALL whose push wrote to its own code page, at the target', () => {
    // The stack is in the code page: the pushed return address invalidates the block.
    const code = [
      0xbc, ...le32(CODE_BASE + 0x800), // 0: mov esp, CODE_BASE+0x800
      0xe8, ...rel32(0x05, 0x10), //       5: call 0x10
      0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, // a: never run
      0x8b, 0x1c, 0x24, //                10: mov ebx, [esp]
      0x43, //                            13: inc ebx
      0xbc, ...le32(STACK_TOP), //        14: mov esp, STACK_TOP
    ];
    expect(compare(code)).toBe('');
    expect(run([...code, 0xf4], true).cpu.reg32[3]).toBe(CODE_BASE + 0x0b);
  });

  it('runs the new bytes when a CALL\'s push overwrote its own target', () => {
    const code = [
      0xbc, ...le32(CODE_BASE + 0x14), // 0: mov esp, CODE_BASE+0x14
      0xe8, ...rel32(0x05, 0x10), //       5: call 0x10 (the push overwrites 10..13)
      0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, // a: never run
      0x90, 0x90, 0x90, 0x90, //          10: became 0a 00 01 00: or al, [eax] ; add [eax], eax
      0xbc, ...le32(STACK_TOP), //        14: mov esp, STACK_TOP
      0x9c, 0x5a, //                      19: pushfd ; pop edx
    ];
    expect(compare(code)).toBe('');
  });

  it('does not take an instruction into a block twice (a fault must count the right one)', () => {
    const code = [
      0xbb, ...le32(2), //          0: mov ebx, 2
      0x4b, //                      5: dec ebx
      0x31, 0xd2, //                6: xor edx, edx
      0xb8, ...le32(100), //        8: mov eax, 100
      0xf7, 0xf3, //                d: div ebx (#DE on the second pass)
      0xeb, 0xf4, //                f: jmp 5
    ];
    expect(compare(code)).toBe('');
  });

  it('leaves the block for a target in another page, and loops on a JMP to its start', () => {
    const code = [
      0xb9, ...le32(5), //             0: mov ecx, 5
      0x49, //                         5: dec ecx
      0x74, 0x02, //                   6: jz 0xa
      0xeb, 0xfb, //                   8: jmp 5 (a loop block from 5)
      0xe9, ...rel32(0x0a, 0x2000), // a: jmp CODE_BASE+0x2000 (the next page but one)
    ];
    const program = [...code, ...new Array(0x2000 - code.length).fill(0x90), 0x9c, 0x5a];
    expect(compare(program)).toBe('');
  });
});

describe('REP MOVS and REP STOS inside a block', () => {
  // memcpy and memset: the interpreter's handlers run inside the block, charging each
  // element's cycles, moving runs in bulk where they can, stopping part-way when the
  // slice is over. Both modes must agree on everything, counts included.
  const movEcx = (n: number) => [0xb9, ...le32(n)];
  const movEsi = (a: number) => [0xbe, ...le32(a)];
  const movEdi = (a: number) => [0xbf, ...le32(a)];
  const around = (rep: number[], n: number, src = DATA, dst = DATA + 0x1000) => [
    0x40, ...movEcx(n), ...movEsi(src), ...movEdi(dst), 0xb8, ...le32(0x11223344),
    ...rep,
    0x01, 0xc8, 0x01, 0xf0, 0x01, 0xf8, 0x43, // add eax, ecx ; add eax, esi ; add eax, edi ; inc ebx
    0xae, 0x01, 0xf8, // scasb (interpreted: no REP left over from the block) ; add eax, edi
  ];
  const FORMS: [string, number[]][] = [
    ['rep movsb', [0xf3, 0xa4]], ['rep movsd', [0xf3, 0xa5]], ['rep movsw', [0x66, 0xf3, 0xa5]],
    ['rep stosb', [0xf3, 0xaa]], ['rep stosd', [0xf3, 0xab]], ['rep stosw', [0xf3, 0x66, 0xab]],
    ['rep movsb from es:', [0x26, 0xf3, 0xa4]], ['rep movsd from fs:', [0xf3, 0x64, 0xa5]],
  ];
  /** ES based 0x200 above FS (the copies' destination), FS 0x100 above DS: 4 GiB data segments with bases of their own. */
  const selectors = [0x66, 0xb8, 0x18, 0x00, 0x8e, 0xc0, 0x66, 0xb8, 0x20, 0x00, 0x8e, 0xe0]; // mov ax, 0x18 ; mov es, ax ; mov ax, 0x20 ; mov fs, ax
  const segments = (cpu: Cpu, bus: TestBus) => {
    putDescriptor(bus.ram, 0x18, 0x300, 0xfffff, 0x92, true, true);
    putDescriptor(bus.ram, 0x20, 0x100, 0xfffff, 0x92, true, true);
    cpu.gdtrLimit = 39;
  };

  it('agrees for each size, forward and backward, for counts 0, 1, 7 and 1000, and on an overlapping copy', () => {
    const failures: string[] = [];
    for (const [name, rep] of FORMS) {
      for (const n of [0, 1, 7, 1000]) {
        for (const std of [false, true]) {
          const code = [...selectors, ...(std ? [0xfd] : []), ...around(rep, n, DATA + 0x800, DATA + 0x1800), 0xfc];
          const d = compare(code, -1, segments);
          if (d) failures.push(`${name} n=${n}${std ? ' std' : ''}: ${d}`);
        }
      }
      // A destination one element above the source repeats the first element (not a memmove).
      const d = compare([...selectors, ...around(rep, 300, DATA + 0x100, DATA + 0x104)], -1, segments);
      if (d) failures.push(`${name} overlapping: ${d}`);
    }
    expect(failures).toEqual([]);
  });

  it('moves in bulk exactly what the element-by-element loop moves, short runs and long', () => {
    // Both modes above share the handlers' bulk path. With paging on (the page tables
    // mapping each page to itself) a REP goes element by element: the reference here.
    const identityPaged = (cpu: Cpu, bus: TestBus) => {
      segments(cpu, bus); // loaded only where the code loads them
      const pd = 0x90000, pt = 0x91000, dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
      dv.setUint32(pd, pt | 3, true);
      for (let i = 0; i <= 256; i++) dv.setUint32(pt + i * 4, (i << 12) | 3, true); // and the page past RAM's end
      cpu.setCr3(pd);
      cpu.setCr0(cpu.cr0 | 0x80000000);
    };
    const failures: string[] = [];
    for (const [name, rep] of FORMS) {
      for (const n of [1, 2, 3, 5, 7, 8, 9, 16, 31, 32, 33, 257]) {
        // Source below the destination, destination below the source and overlapping it,
        // and a source that runs past the end of RAM (1 MiB), where reads see open bus.
        for (const [src, dst] of [[DATA + 0x801, DATA + 0x1802], [DATA + 0x40, DATA + 0x23], [0x100000 - 12, DATA + 0x100]]) {
          // All segments flat (Cpu.flatMask's own path), FS alone based, and ES and FS based.
          for (const [how, load] of [['flat', []], ['FS based', selectors.slice(6)], ['ES and FS based', selectors]] as const) {
            const code = [...load, ...around(rep, n, src, dst)];
            const bulk = state(run([...code, 0xf4], true, -1, segments));
            const elements = state(run([...code, 0xf4], false, -1, identityPaged));
            if (bulk !== elements) failures.push(`${name} n=${n} from ${src.toString(16)} to ${dst.toString(16)}, ${how}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });

  /** Runs `code` in slices of `chunk` cycles until it stops: slices end inside the REPs. */
  function chunked(code: number[], translate: boolean, chunk: number): string {
    const { cpu, bus } = flatMachine(new Uint8Array([...code, 0xf4]));
    cpu.useTranslator = translate;
    cpu.blocks.hotThreshold = 1;
    cpu.reg32[5] = DATA;
    for (let i = 0; i < DATA_BYTES; i++) bus.ram[DATA + i] = (i * 37 + 11) & 0xff;
    let why = StopReason.Budget;
    const eips: number[] = [];
    for (let k = 0; k < 100000 && why === StopReason.Budget; k++) {
      why = cpu.run(chunk);
      eips.push(cpu.eip);
    }
    return `${eips.join(',')}\n${state({ cpu, bus, why })}`;
  }

  it('stops part-way when the slice ends inside the copy, and resumes it, at the same instructions and cycles', () => {
    // Three copies in a loop, each of 700 elements: slices of 13, 64 and 997 cycles end
    // inside them at different points.
    const body = [
      ...around([0xf3, 0xa5], 700, DATA, DATA + 0xc00), ...around([0xf3, 0xaa], 700, DATA, DATA + 0x200),
      ...around([0x66, 0xf3, 0xa5], 700, DATA + 0x2000, DATA + 0x2800),
    ];
    const code = [0xba, ...le32(3), ...body, 0x4a, 0x0f, 0x85, ...le32(-(body.length + 7))]; // mov edx, 3 ; body ; dec edx ; jnz body
    for (const chunk of [13, 64, 997]) {
      expect(chunked(code, true, chunk)).toBe(chunked(code, false, chunk));
    }
  });

  it('counts the instructions before a REP STOS that faults part-way, with the elements it stored', () => {
    // ES gets a byte-granular data segment ending at DATA + 0x100: the 0x101st byte faults (#GP).
    const program = [
      0x66, 0xb8, 0x18, 0x00, 0x8e, 0xc0, // mov ax, 0x18 ; mov es, ax
      ...around([0xf3, 0xaa], 0x200, DATA, DATA), 0xf4,
    ];
    const result = (translate: boolean) => {
      const { cpu, bus } = flatMachine(new Uint8Array(program));
      putDescriptor(bus.ram, 0x18, DATA, DATA + 0x100, 0x92, false, false);
      cpu.gdtrLimit = 31;
      cpu.useTranslator = translate;
      cpu.blocks.hotThreshold = 1;
      cpu.reg32[5] = DATA;
      const why = cpu.run(1e6);
      return { text: state({ cpu, bus, why }), ecx: cpu.reg32[1] };
    };
    const interpreted = result(false);
    expect(interpreted.ecx).toBe(0x200 - 0x101); // the fault came after 0x101 stores
    expect(result(true).text).toBe(interpreted.text);
  });

  it('runs the new bytes when a REP MOVS overwrites the instructions after it in its block', () => {
    // The copy puts "inc ebx" x 4 over the four NOPs that follow it.
    const tail = [0x90, 0x90, 0x90, 0x90, 0x83, 0xc3, 0x10]; // nop x 4 ; add ebx, 0x10
    const prefix = [...movEcx(4), ...movEsi(DATA + 0x3000), ...movEdi(0), 0xf3, 0xa4];
    const at = CODE_BASE + prefix.length + 18; // after the three setup moves below
    const code = [
      0xc7, 0x05, ...le32(DATA + 0x3000), ...le32(0x43434343), // mov dword [DATA+0x3000], 0x43434343
      0x31, 0xdb, // xor ebx, ebx
      0x8d, 0x76, 0x00, 0x8d, 0x76, 0x00, // lea esi, [esi] x 2 (padding to 18 bytes)
      ...prefix.slice(0, 10), ...movEdi(at), 0xf3, 0xa4, ...tail,
    ];
    expect(compare(code)).toBe('');
    expect(run([...code, 0xf4], true).cpu.reg32[3]).toBe(0x14);
  });
});

describe('memory operands of flat segments, straight into RAM', () => {
  // A block reads and writes dwords and bytes of a flat segment (base 0, 4 GiB, paging
  // off, A20 on) straight in RAM; anything else must go the checked way. Each program
  // makes its accesses and then records registers and data; both modes must agree.
  const DESC = 0x18; // the first free GDT slot
  const withDescriptor = (base: number, limit: number, type = 0x92, g = true, big = true) => (cpu: Cpu, bus: TestBus) => {
    putDescriptor(bus.ram, DESC, base, limit, type, g, big);
    cpu.gdtrLimit = DESC + 7;
  };
  const loadDs = [0x66, 0xb8, DESC, 0x00, 0x8e, 0xd8]; // mov ax, DESC ; mov ds, ax
  const movEbx = (a: number) => [0xbb, ...le32(a)];
  /** Dword and byte reads, writes and read-modify-writes at DS:EBX+d. */
  const accesses = (d: number) => [
    0x8b, 0x83, ...le32(d), //        mov eax, [ebx+d]
    0x0f, 0xb6, 0x8b, ...le32(d + 1), // movzx ecx, byte [ebx+d+1]
    0x01, 0x83, ...le32(d + 8), //    add [ebx+d+8], eax
    0x88, 0x8b, ...le32(d + 13), //   mov [ebx+d+13], cl
    0x89, 0x83, ...le32(d + 16), //   mov [ebx+d+16], eax
    0x8b, 0x93, ...le32(d + 2), //    mov edx, [ebx+d+2] (unaligned)
  ];
  const record = [0x89, 0x45, 0x00, 0x89, 0x4d, 0x04, 0x89, 0x55, 0x08]; // mov [ebp], eax ; mov [ebp+4], ecx ; mov [ebp+8], edx (SS: flat)

  it('agrees on aligned and unaligned accesses to a flat DS', () => {
    expect(compare([...movEbx(DATA + 0x100), ...accesses(0x20), ...record, ...accesses(0x1001), ...record])).toBe('');
  });

  it('uses the segment base and limit when DS is not flat, and faults past the limit', () => {
    const program = [...loadDs, ...movEbx(DATA + 0x100), ...accesses(0x20), ...record, ...accesses(0x1000), ...record];
    expect(compare(program, -1, withDescriptor(0x800, 0xfffff))).toBe(''); // base 0x800, 4 GiB
    expect(compare(program, -1, withDescriptor(0, 0x41120, 0x92, false))).toBe(''); // limit between the two groups
    expect(compare(program, -1, withDescriptor(0, DATA + 0x10ff, 0x96, false, true))).toBe(''); // expand-down: only the second group
    expect(compare(program, -1, withDescriptor(0, 0xfffff, 0x90))).toBe(''); // read-only: the first write faults
  });

  it('faults at the right instruction whichever access faults: byte, word and dword, read and write, stack', () => {
    // Each program: harmless instructions first, then one access past DS's limit (#GP,
    // whose handler HLTs): the EIP pushed and the instruction count must be the same.
    const past = [0x8b, 0x83, ...le32(0x2000)]; // mov eax, [ebx+0x2000]
    const forms: number[][] = [
      [0x8a, 0x83, ...le32(0x2000)], //        mov al, [ebx+0x2000]
      [0x88, 0x83, ...le32(0x2000)], //        mov [ebx+0x2000], al
      [0x66, 0x8b, 0x83, ...le32(0x2000)], //  mov ax, [ebx+0x2000]
      [0x66, 0x89, 0x83, ...le32(0x2000)], //  mov [ebx+0x2000], ax
      past, //                                  mov eax, [ebx+0x2000]
      [0x89, 0x83, ...le32(0x2000)], //        mov [ebx+0x2000], eax
      [0x01, 0x83, ...le32(0x2000)], //        add [ebx+0x2000], eax
      [0x0f, 0xb6, 0x83, ...le32(0x2000)], //  movzx eax, byte [ebx+0x2000]
      [0xff, 0xb3, ...le32(0x2000)], //        push dword [ebx+0x2000]
    ];
    for (const form of forms) {
      const program = [...loadDs, ...movEbx(DATA), 0x8b, 0x03, 0x40, 0x41, 0x89, 0x43, 0x04, 0x42, ...form];
      expect(compare(program, -1, withDescriptor(0, DATA + 0x1000, 0x92, false))).toBe('');
    }
    // The stack: ESP at SS's limit, then a PUSH or a CALL (whose #SS cannot be delivered
    // on that stack either: the machine stops, a triple fault), or a POP or a RET (whose
    // #SS is delivered below the limit). Both modes must stop at the same instruction,
    // with the same count and the same stack.
    for (const form of [[0x50], [0xe8, ...le32(0)], [0x68, ...le32(7)], [0x58], [0xc3]]) {
      const pop = form[0] === 0x58 || form[0] === 0xc3;
      const program = [
        0x66, 0xb8, DESC, 0x00, 0x8e, 0xd0, //   mov ax, DESC ; mov ss, ax
        0xbc, ...le32(pop ? DATA + 0x1000 : DATA + 0x1002), 0x40, 0x41, ...form, 0xf4,
      ];
      const [a, b] = [false, true].map((translate) => run(program, translate, -1, withDescriptor(0, DATA + 0x1000, 0x92, false)));
      expect(a.why).toBe(pop ? StopReason.Dead : StopReason.TripleFault);
      const seen = (r: typeof a) => [r.why, r.cpu.eip, r.cpu.instructions, r.cpu.stopMessage, Buffer.from(r.bus.ram.subarray(DATA + 0xff0, DATA + 0x1004)).toString('hex')];
      expect(seen(b)).toEqual(seen(a));
    }
  });

  it('masks bit 20 with A20 off, where RAM goes on above 1 MiB', () => {
    const program = [...movEbx(DATA + 0x100000), ...accesses(0x40), ...record];
    const a20Off = (cpu: Cpu, bus: TestBus) => {
      for (let i = 0; i < 0x100; i++) bus.ram[DATA + 0x100000 + i] = 0xa5 ^ i;
      cpu.setA20(false);
    };
    expect(compare(program, -1, a20Off, 2 << 20)).toBe('');
    const r = run([...program, 0xf4], true, -1, a20Off, 2 << 20);
    expect(r.cpu.reg32[0]).toBe(new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset).getInt32(DATA + 0x40, true)); // read below 1 MiB
  });

  it('translates through the page tables with paging on', () => {
    const paged = (cpu: Cpu, bus: TestBus) => {
      const pd = 0x90000, pt = 0x91000;
      bus.ram.fill(0x5a, 0x50000, 0x51000);
      new DataView(bus.ram.buffer, bus.ram.byteOffset).setUint32(pd, pt | 3, true);
      for (let i = 0; i < 256; i++) new DataView(bus.ram.buffer, bus.ram.byteOffset).setUint32(pt + i * 4, (i === DATA >>> 12 ? 0x50000 : i << 12) | 3, true);
      cpu.setCr3(pd);
      cpu.setCr0(cpu.cr0 | 0x80000000);
    };
    const program = [...movEbx(DATA), ...accesses(0x40), ...record];
    expect(compare(program, -1, paged)).toBe('');
    expect(run([...program, 0xf4], true, -1, paged).cpu.reg32[0]).toBe(0x5a5a5a5a);
  });

  describe('with paging on, through the TLB inline', () => {
    const PD = 0x90000, PT = 0x91000;
    /** Identity paging of the first MiB, with the DATA page's PTE given `flags` (and, with `to`, mapped there). */
    const pagedWith = (flags: number, to = DATA, wp = false) => (cpu: Cpu, bus: TestBus) => {
      const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
      dv.setUint32(PD, PT | 3, true);
      for (let i = 0; i < 256; i++) dv.setUint32(PT + i * 4, (i << 12) | 3, true);
      dv.setUint32(PT + (DATA >>> 12) * 4, (to & ~0xfff) | flags, true);
      cpu.setCr3(PD);
      cpu.setCr0(cpu.cr0 | 0x80000000 | (wp ? 0x10000 : 0));
    };
    const pte = (r: { bus: TestBus }) => new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset).getUint32(PT + (DATA >>> 12) * 4, true);
    /** The page-fault record both engines must agree on: CR2, the error code pushed, where it stopped. */
    const fault = (r: ReturnType<typeof run>) => [r.why, r.cpu.eip, r.cpu.instructions, r.cpu.cr2 >>> 0, new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset).getUint32(STACK_TOP - 16, true)];
    const loop = (body: number[]) => [0xb9, ...le32(5), ...body, 0x49, 0x75, (-(body.length + 3)) & 0xff]; // mov ecx, 5 ; 1: body ; dec ecx ; jnz 1b

    it('fetches below EIP within its page with paging on, CS\'s base not page-aligned (a call back, a loop)', () => {
      // CS base 0x10010: the page's first bytes are below offset 0, so the fetch window
      // starts at offset 0; a call to offset 8 and the loop's jump back stay in it.
      const setup = (cpu: Cpu, bus: TestBus) => {
        putDescriptor(bus.ram, 0x18, 0x10010, 0xfffff, 0x9a, true, true);
        cpu.gdtrLimit = 0x1f;
        pagedWith(3)(cpu, bus);
      };
      const program = new Array(0x20).fill(0x90);
      program.splice(0, 7, 0xea, ...le32(0x10), 0x18, 0x00); // jmp far 0x18:0x10 (linear 0x10020)
      program.splice(0x18, 4, 0x83, 0xc2, 0x02, 0xc3); // offset 8: add edx, 2 ; ret
      program.push(0xb9, ...le32(30), 0x40, 0xe8, ...le32(-0x13), 0x49, 0x75, 0xf7); // mov ecx, 30 ; 1: inc eax ; call 8 ; dec ecx ; jnz 1b
      program.push(...record);
      expect(compare(program, -1, setup)).toBe('');
      const r = run([...program, 0xf4], true, -1, setup);
      expect([r.cpu.sreg[1], r.cpu.reg32[1]]).toEqual([0x18, 0]); // CS loaded, the loop done (the values: compare above)
      expect(r.cpu.blocks.compiles).toBeGreaterThan(0);
    });

    it('fetches from a page remapped by INVLPG, not from the window kept for it (Cpu.fetchLo2)', () => {
      // Ten calls from the code's page A into the next, B (F: mov eax, 1 ; ret), leave
      // B's window as the one before A's. Then the last instructions of A point B's PTE
      // at another page (mov eax, 2 ; ret) and INVLPG it, and run on into B: the new bytes
      // must run, as in the interpreter, not those of the window kept for B.
      const F = CODE_BASE + 0x1000, OTHER = CODE_BASE + 0x2000;
      const setup = (cpu: Cpu, bus: TestBus) => {
        pagedWith(3)(cpu, bus);
        bus.ram.set([0xb8, ...le32(1), 0xc3], F);
        bus.ram.set([0xb8, ...le32(2), 0xc3], OTHER);
      };
      const program: number[] = [0x31, 0xd2, 0xb9, ...le32(10)]; // xor edx, edx ; mov ecx, 10
      const top = program.length;
      program.push(0xe8, ...le32(F - (CODE_BASE + top + 5)), 0x01, 0xc2, 0x49, 0x75, (top - (top + 10)) & 0xff); // 1: call F ; add edx, eax ; dec ecx ; jnz 1b
      const tail = 0x1000 - 22;
      program.push(0xe9, ...le32(tail - (program.length + 5))); // jmp tail
      const after = program.length;
      program.push(0x01, 0xc2, ...record, 0xf4); // after: add edx, eax ; record ; hlt
      while (program.length < tail) program.push(0x90);
      program.push(0x68, ...le32(CODE_BASE + after)); // tail: push after
      program.push(0xc7, 0x05, ...le32(PT + (F >>> 12) * 4), ...le32(OTHER | 3)); // mov dword [PTE of F], OTHER | 3
      program.push(0x0f, 0x01, 0x3d, ...le32(F)); // invlpg [F], the page's last bytes: on into F
      expect(program.length).toBe(0x1000);
      expect(compare(program, -1, setup)).toBe('');
      expect(run(program, true, -1, setup).cpu.reg32[2]).toBe(12);
    });

    it('drops code written through a TLB entry filled before its page held code (TLB_NOCODE)', () => {
      // A loop writes a function `mov eax, ecx' ; ret` into the DATA page (its TLB entry
      // filled by the first write, when the page held no code), calls it (translated at
      // once, so the page now holds code) and sums what it returns: each pass's writes
      // must drop the code the last pass translated, as the interpreter runs the bytes.
      const program = [
        ...movEbx(DATA), 0xbe, ...le32(DATA), 0x31, 0xd2, 0xb9, ...le32(20), // mov ebx, DATA ; mov esi, DATA ; xor edx, edx ; mov ecx, 20
        0xc6, 0x03, 0xb8, // 1: mov byte [ebx], 0xb8 (mov eax, imm32)
        0x89, 0x4b, 0x01, // mov [ebx+1], ecx (the immediate: unaligned)
        0x66, 0xc7, 0x43, 0x05, 0xc3, 0x90, // mov word [ebx+5], 0x90c3 (ret ; nop)
        0xff, 0xd6, 0x01, 0xc2, 0x49, 0x75, 0xeb, // call esi ; add edx, eax ; dec ecx ; jnz 1b
        0x89, 0x55, 0x00, // mov [ebp], edx
      ];
      const identity = pagedWith(3);
      expect(compare(program, -1, identity)).toBe('');
      const r = run([...program, 0xf4], true, -1, identity);
      expect(r.cpu.reg32[2]).toBe(210); // 20 + 19 + ... + 1
      expect(r.cpu.blocks.invalidations).toBeGreaterThanOrEqual(3); // passes after the first (the page then backs off: see BACKOFF_LEVELS)
    });

    it('reads and writes a page mapped past RAM the checked way (TLB_RAM), as the interpreter does', () => {
      // The DATA page mapped to a physical page past the 1 MiB of RAM, and to the last
      // page of RAM: reads of the first are the open bus's all-ones, writes dropped.
      const program = [...movEbx(DATA), ...loop([0x8b, 0x03, 0x89, 0x43, 0x08, 0x8a, 0x53, 0x05, 0x66, 0x8b, 0x73, 0x0a]), ...record];
      for (const to of [0x10000000, 0x80000000]) {
        expect(compare(program, -1, pagedWith(3, to))).toBe('');
        expect(run([...program, 0xf4], true, -1, pagedWith(3, to)).cpu.reg32[0] >>> 0).toBe(0xffffffff);
      }
      expect(compare(program, -1, pagedWith(3, 0xff000))).toBe('');
    });

    it('keeps CPL 3 out of a supervisor page through code translated at CPL 0 (the CPL is part of a block\'s mode)', () => {
      // mov ebx, DATA ; 1: mov eax, [ebx] ; inc ecx ; jmp 1b: run at CPL 0, where the
      // page may be read, until the loop is translated and running; then at CPL 3, where
      // the first read must fault (the page's U/S bit is clear) as in the interpreter.
      const program = [...movEbx(DATA), 0x8b, 0x03, 0x41, 0xeb, 0xfb];
      const outcome = (translate: boolean) => {
        const { cpu, bus } = flatMachine(new Uint8Array(program));
        const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
        dv.setUint32(PD, PT | 7, true);
        for (let i = 0; i < 256; i++) dv.setUint32(PT + i * 4, (i << 12) | 7, true);
        dv.setUint32(PT + (DATA >>> 12) * 4, DATA | 3, true); // supervisor only
        cpu.setCr3(PD);
        cpu.setCr0(cpu.cr0 | 0x80000000);
        cpu.useTranslator = translate;
        cpu.blocks.hotThreshold = 1;
        cpu.run(3000);
        const atCpl0 = cpu.reg32[1];
        cpu.setCpl(3);
        const why = cpu.run(3000);
        return { atCpl0, after: [why, cpu.cr2 >>> 0, cpu.reg32[1], cpu.instructions], compiles: cpu.blocks.compiles };
      };
      const [a, b] = [outcome(false), outcome(true)];
      expect(b.compiles).toBeGreaterThan(0);
      expect(a.atCpl0).toBeGreaterThan(100); // it ran at CPL 0, reading the page
      expect(b.atCpl0).toBe(a.atCpl0);
      expect(b.after).toEqual(a.after);
      expect(a.after[1]).toBe(DATA); // CR2: the read at CPL 3 faulted
    });

    it('leaves a block when port I/O changed its mode (A20 off through port 0x92), as the interpreter reads', () => {
      // mov ebx, 0x100010 ; mov eax, [ebx] ; mov al, 0 ; out 0x92, al ; mov ecx, [ebx]:
      // the second read, in the same block, must wrap to 0x10 as the interpreter's does.
      const setup = (cpu: Cpu, bus: TestBus) => {
        const write = bus.ioWrite.bind(bus);
        bus.ioWrite = (port, size, value) => (port === 0x92 ? cpu.setA20((value & 2) !== 0) : write(port, size, value));
        bus.ram.fill(0x11, 0x10, 0x14);
        bus.ram.fill(0x22, 0x100010, 0x100014);
      };
      const program = [...movEbx(0x100010), 0x8b, 0x03, 0xb0, 0x00, 0xe6, 0x92, 0x8b, 0x0b, ...record];
      expect(compare(program, -1, setup, 2 << 20)).toBe('');
      const r = run([...program, 0xf4], true, -1, setup, 2 << 20);
      expect(r.cpu.reg32[1]).toBe(0x11111111);
      expect(r.cpu.blocks.compiles).toBeGreaterThan(0);
    });

    it('translates code again for paging on when it was translated with paging off, and stays inline', () => {
      // The same subroutine (a loop of loads and stores through DS) called with paging
      // off, then again after the program turns paging on: a block tests only the
      // inline path of the mode it was translated in (Block.paged), so it must be
      // translated again rather than run with every access on the slow path.
      const tables = (cpu: Cpu, bus: TestBus) => {
        const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
        dv.setUint32(PD, PT | 3, true);
        for (let i = 0; i < 256; i++) dv.setUint32(PT + i * 4, (i << 12) | 3, true);
      };
      const sub = [0xb9, ...le32(50), 0x8b, 0x03, 0x01, 0xc8, 0x89, 0x43, 0x04, 0x49, 0x75, 0xf6, 0xc3]; // mov ecx, 50 ; 1: mov eax, [ebx] ; add eax, ecx ; mov [ebx+4], eax ; dec ecx ; jnz 1b ; ret
      // Called through a register, so that it is a block of its own (a direct CALL in
      // the page is followed into the caller's block).
      const main = (subAt: number) => [
        ...movEbx(DATA), 0xbe, ...le32(CODE_BASE + subAt), 0xff, 0xd6, // mov esi, sub ; call esi
        0xb8, ...le32(PD), 0x0f, 0x22, 0xd8, // mov eax, PD ; mov cr3, eax
        0x0f, 0x20, 0xc0, 0x0d, ...le32(0x80000000), 0x0f, 0x22, 0xc0, // mov eax, cr0 ; or eax, 0x80000000 ; mov cr0, eax
        0xff, 0xd6, // call esi
        ...record, 0xeb, sub.length, // jmp over sub, to the HLT after it
      ];
      const program = [...main(main(0).length), ...sub];
      expect(compare(program, -1, tables)).toBe('');
      const r = run([...program, 0xf4], true, -1, tables);
      expect(r.cpu.pagingOn).toBe(true);
      expect(r.cpu.memFallbacks).toBeLessThan(10);
    });

    it('sets the accessed and dirty bits as the interpreter does: a read, then the first write', () => {
      for (const program of [[...movEbx(DATA), 0x8b, 0x03, ...record], [...movEbx(DATA), ...loop([0x8b, 0x03, 0x89, 0x43, 0x08]), ...record]]) {
        expect(compare(program, -1, pagedWith(3))).toBe('');
        const [a, b] = [false, true].map((t) => run([...program, 0xf4], t, -1, pagedWith(3)));
        expect(pte(b)).toBe(pte(a));
      }
      expect(pte(run([...movEbx(DATA), 0x89, 0x03, 0xf4], true, -1, pagedWith(3))) & 0x60).toBe(0x60);
      expect(pte(run([...movEbx(DATA), 0x8b, 0x03, 0xf4], true, -1, pagedWith(3))) & 0x60).toBe(0x20);
    });

    it('faults on a write to a read-only page with CR0.WP set (and not with it clear), at the right instruction', () => {
      const program = [...movEbx(DATA), ...loop([0x8b, 0x03, 0x40, 0x89, 0x43, 0x04]), ...record];
      for (const wp of [true, false]) {
        expect(compare(program, -1, pagedWith(1, DATA, wp))).toBe('');
        const [a, b] = [false, true].map((t) => run([...program, 0xf4], t, -1, pagedWith(1, DATA, wp)));
        expect(fault(b)).toEqual(fault(a));
        if (wp) expect(a.cpu.cr2 >>> 0).toBe(DATA + 4);
      }
    });

    it('faults on a page that is not present, a byte, a dword and a push alike', () => {
      for (const access of [[0x8a, 0x03], [0x8b, 0x03], [0x88, 0x03], [0x89, 0x03]]) {
        const program = [...movEbx(DATA), 0x40, ...access, ...record];
        const [a, b] = [false, true].map((t) => run([...program, 0xf4], t, -1, pagedWith(0)));
        expect(fault(b)).toEqual(fault(a));
        expect(a.cpu.cr2 >>> 0).toBe(DATA);
      }
      const push = [0xbc, ...le32(DATA + 0x10), 0x40, 0x50, 0x50, 0xf4]; // mov esp, DATA+0x10 ; push eax x2: the stack page is not present
      const [a, b] = [false, true].map((t) => run(push, t, -1, pagedWith(0)));
      expect([b.why, b.cpu.instructions]).toEqual([a.why, a.cpu.instructions]);
    });

    it('sees a remapped page only after INVLPG or a CR3 load, as the interpreter does (the TLB is shared)', () => {
      const other = 0x52000;
      const remap = (cpu: Cpu, bus: TestBus) => { pagedWith(3)(cpu, bus); bus.ram.fill(0x77, other, other + 0x1000); };
      const newPte = (other | 3);
      const program = [
        ...movEbx(DATA), 0x8b, 0x03, //                       mov eax, [ebx]   (fills the TLB)
        0xc7, 0x05, ...le32(PT + (DATA >>> 12) * 4), ...le32(newPte), // mov dword [pte], other|3
        0x8b, 0x0b, //                                        mov ecx, [ebx]   (stale: the old page)
        0x0f, 0x01, 0x3b, //                                  invlpg [ebx]
        0x8b, 0x13, //                                        mov edx, [ebx]   (the new page)
        ...record,
      ];
      expect(compare(program, -1, remap)).toBe('');
      const r = run([...program, 0xf4], true, -1, remap);
      expect(r.cpu.reg32[2]).toBe(0x77777777);
      expect(r.cpu.reg32[1]).toBe(r.cpu.reg32[0]);
    });

    it('goes to the bus for a page mapped past the end of RAM (open bus here), not to the typed array', () => {
      const program = [...movEbx(DATA), ...loop([0x8b, 0x03, 0x0f, 0xb6, 0x53, 0x01, 0x89, 0x43, 0x08]), ...record]; // mov eax,[ebx] ; movzx edx, byte [ebx+1] ; mov [ebx+8],eax
      expect(compare(program, -1, pagedWith(3, 0x8000000))).toBe('');
      expect(run([...program, 0xf4], true, -1, pagedWith(3, 0x8000000)).cpu.reg32[0]).toBe(-1);
    });
  });

  it('stops at the end of RAM: the last dword, one across the end, and past it', () => {
    for (const at of [0xffff0, 0xffff8, 0xffffc, 0xffffd, 0xfffff, 0x100000, 0xfffffffc]) {
      const program = [...movEbx(at), 0x8b, 0x03, 0x0f, 0xb6, 0x4b, 0x03, 0x89, 0x03, 0x88, 0x4b, 0x03, 0x8b, 0x13, ...record]; // mov eax,[ebx] ; movzx ecx, byte [ebx+3] ; mov [ebx],eax ; mov [ebx+3],cl ; mov edx,[ebx]
      expect(compare(program)).toBe('');
    }
  });

  it('runs the new bytes after a dword or byte write into its own block', () => {
    // mov dword [CODE_BASE+0x10], 0x90909090 over "inc eax" x4, then a byte write over an "inc ecx".
    const program = [
      0xc7, 0x05, ...le32(CODE_BASE + 0x10), ...le32(0x90909090), // 0: mov dword [CODE_BASE+0x10], nops
      0x90, 0x90, 0x90, 0x90, 0x90, 0x90, //                        a
      0x40, 0x40, 0x40, 0x40, //                                    10: inc eax x4 (become NOPs)
      0xc6, 0x05, ...le32(CODE_BASE + 0x1b), 0x48, //               14: mov byte [CODE_BASE+0x1b], 0x48 (dec eax)
      0x41, //                                                      1b: inc ecx (becomes dec eax)
      ...record,
    ];
    expect(compare(program)).toBe('');
    expect(run([...program, 0xf4], true).cpu.reg32[0]).toBe(-1);
  });

  it('pushes and pops through SP on a 16-bit stack (B = 0) with a 4 GiB limit', () => {
    const program = [
      0x66, 0xb8, DESC, 0x00, 0x8e, 0xd0, //   mov ax, DESC ; mov ss, ax
      0xbc, ...le32(0x00050000), //             mov esp, 0x50000: SP 0, so the first push wraps to SP 0xfffc
      0x68, ...le32(0x11223344), 0x53, //       push imm32 ; push ebx
      0x89, 0xe6, 0x5a, 0x58, //                mov esi, esp ; pop edx ; pop eax
      0x6a, 0x7f, 0x59, //                      push 0x7f ; pop ecx
      0x89, 0xe3, //                            mov ebx, esp
      0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd0, //   mov ax, 0x10 ; mov ss, ax
      0xbc, ...le32(STACK_TOP), ...record, //   back to the flat stack
    ];
    expect(compare(program, -1, withDescriptor(0, 0xfffff, 0x92, true, false))).toBe('');
  });

  it('pushes and pops on an unaligned flat stack', () => {
    const program = [
      0xbc, ...le32(STACK_TOP - 0x102), //     mov esp, STACK_TOP-0x102
      0x68, ...le32(0x11223344), 0x53, //       push imm32 ; push ebx
      0x89, 0xe6, 0x5a, 0x58, //                mov esi, esp ; pop edx ; pop eax
      0xe8, ...le32(0), 0x59, //                call next ; pop ecx
      0x8b, 0x1c, 0x24, //                      mov ebx, [esp]
      0xbc, ...le32(STACK_TOP), ...record,
    ];
    expect(compare(program)).toBe('');
  });

  it('follows DS from flat to based and back within one looping block', () => {
    // Every pass loads DS with the other selector: 0x10 (flat) and DESC (based).
    const loop = [
      ...movEbx(DATA), 0xb9, ...le32(6), 0xbe, ...le32(0x10), 0xba, ...le32(DESC), // mov esi, 0x10 ; mov edx, DESC
      0x8b, 0x03, 0x01, 0x43, 0x40, 0x88, 0x4b, 0x50, // l: mov eax,[ebx] ; add [ebx+0x40],eax ; mov [ebx+0x50],cl
      0x8e, 0xda, 0x87, 0xd6, //                        mov ds, edx ; xchg edx, esi
      0x49, 0x75, 0xf1, //                              dec ecx ; jnz l
      0x8e, 0xde, ...record, //                         mov ds, esi
    ];
    expect(compare(loop, -1, withDescriptor(0x200, 0xfffff))).toBe('');
  });

  describe('unaligned words and dwords (issue 19)', () => {
    // Two pages of DATA: P1 and the page after it, P2. A word or dword at an odd offset
    // of a page goes inline like an aligned one; one that crosses into the next page does
    // too with paging off (nothing can fault), and takes the slow path with paging on.
    const P1 = DATA + 0x1000, P2 = DATA + 0x2000;
    const PD = 0x90000, PT = 0x91000;
    /** Each read, write and read-modify-write form at [EBX] = `a`, its reads recorded at [EBP] (EBP moves on). */
    const at = (a: number, seg: number[] = []) => [
      0xbb, ...le32(a), //                mov ebx, a
      ...seg, 0x8b, 0x03, //              mov eax, [ebx]
      ...seg, 0x0f, 0xb7, 0x0b, //        movzx ecx, word [ebx]
      ...seg, 0x66, 0x8b, 0x13, //        mov dx, [ebx]
      0x89, 0x45, 0x00, 0x89, 0x4d, 0x04, 0x89, 0x55, 0x08, 0x8d, 0x6d, 0x0c, // record ; lea ebp, [ebp+12]
      0xbe, ...le32((0x11223344 ^ a) | 0), // mov esi, ...
      ...seg, 0x89, 0x33, //              mov [ebx], esi
      ...seg, 0x01, 0x03, //              add [ebx], eax
      ...seg, 0x66, 0x89, 0x33, //        mov [ebx], si
      ...seg, 0x66, 0x01, 0x0b, //        add [ebx], cx
      ...seg, 0x87, 0x13, //              xchg [ebx], edx
      ...seg, 0x8b, 0x0b, 0x89, 0x4d, 0x00, 0x8d, 0x6d, 0x04, // mov ecx, [ebx] ; mov [ebp], ecx ; lea ebp, [ebp+4]
    ];
    /** Offsets 1, 2 and 3 into P1, and the last bytes of P1: in the page and across into P2. */
    const OFFSETS = [1, 2, 3, 0xffa, 0xffb, 0xffc, 0xffd, 0xffe, 0xfff];
    /**
     * Identity paging of the first MiB (present, writable, neither accessed nor dirty),
     * with P1's and P2's entries given `p1` and `p2`; CR0.WP as given.
     */
    const paging = (p1 = 3, p2 = 3, wp = false, p2To = P2) => (cpu: Cpu, bus: TestBus) => {
      const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
      dv.setUint32(PD, PT | 3, true);
      for (let i = 0; i < 256; i++) dv.setUint32(PT + i * 4, (i << 12) | 3, true);
      dv.setUint32(PT + (P1 >>> 12) * 4, P1 | p1, true);
      dv.setUint32(PT + (P2 >>> 12) * 4, p2To | p2, true);
      if (p2To !== P2) for (let i = 0; i < 0x1000; i++) bus.ram[p2To + i] = (i * 13 + 5) & 0xff;
      cpu.setCr3(PD);
      cpu.setCr0(cpu.cr0 | 0x80000000 | (wp ? 0x10000 : 0));
    };
    /** Where P2 is mapped elsewhere: a page outside DATA, which state() does not see, so both() compares it too. */
    const ELSEWHERE = 0x60000;
    const ptes = (r: { bus: TestBus }) => [P1, P2].map((p) => new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset).getUint32(PT + (p >>> 12) * 4, true).toString(16))
      .concat(Buffer.from(r.bus.ram.subarray(ELSEWHERE, ELSEWHERE + 16)).toString('hex'));
    /** Both engines: registers, counts, data, stack, CR2, the error code pushed for a fault, P1's and P2's entries. */
    const both = (program: number[], setup?: (cpu: Cpu, bus: TestBus) => void) => {
      const [a, b] = [false, true].map((t) => run([...program, 0xf4], t, -1, setup));
      const seen = (r: typeof a) => [state(r), (r.cpu.cr2 >>> 0).toString(16), new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset).getUint32(STACK_TOP - 16, true), ...ptes(r)];
      expect(seen(b)).toEqual(seen(a));
      return [a, b];
    };
    const loadFs = [0x66, 0xb8, DESC, 0x00, 0x8e, 0xe0]; // mov ax, DESC ; mov fs, ax

    it('agrees at offsets 1 to 3 and at the end of a page, in it and across, with paging off: all inline', () => {
      for (const k of OFFSETS) {
        expect(compare(at(P1 + k))).toBe('');
        const [, b] = both(at(P1 + k));
        expect(b.cpu.memFallbacks).toBe(0);
      }
    });

    it('agrees at the same offsets with paging on: inline within a page, the slow path across', () => {
      for (const k of OFFSETS) {
        both(at(P1 + k), paging(3, 3, false, ELSEWHERE)); // across into a page that is not the next one in RAM
        const [a, b] = both(at(P1 + k), paging());
        expect(a.cpu.cr2).toBe(0); // no fault
        // The slow path only for the first read of P1 (a TLB fill) and the first writes to
        // P1 and to the records' page (setting their dirty bits).
        if (k <= 0xffc) expect(b.cpu.memFallbacks).toBe(3);
        else expect(b.cpu.memFallbacks).toBeGreaterThan(2);
      }
    });

    it('stays inline in a loop over unaligned dwords and words with paging on', () => {
      // mov ebx, P1+1 ; mov ecx, 200 ; l: mov eax, [ebx] ; add [ebx+6], eax ; mov dx, [ebx+3] ; mov [ebx+9], dx ; add ebx, 13 ; dec ecx ; jnz l
      const program = [0xbb, ...le32(P1 + 1), 0xb9, ...le32(200), 0x8b, 0x03, 0x01, 0x43, 0x06, 0x66, 0x8b, 0x53, 0x03, 0x66, 0x89, 0x53, 0x09, 0x83, 0xc3, 0x0d, 0x49, 0x75, 0xed];
      const [, b] = both(program, paging());
      expect([b.cpu.reg32[1], b.cpu.reg32[3]]).toEqual([0, P1 + 1 + 13 * 200]);
      expect(b.cpu.memFallbacks).toBe(2); // the first read (a TLB fill) and the first write (the dirty bit)
    });

    it('faults across into a page that is not present, or read-only with CR0.WP, with its CR2 and EIP, and writes nothing', () => {
      for (const k of [0xffd, 0xffe, 0xfff]) {
        for (const access of [[0x8b, 0x03], [0x66, 0x8b, 0x03], [0x89, 0x03], [0x66, 0x89, 0x03], [0x01, 0x03]]) {
          if (access[0] === 0x66 && k < 0xfff) continue; // a word at 0xffd or 0xffe is within P1
          const program = [0xbb, ...le32(P1 + k), 0xb8, ...le32(0x55667788), 0x40, ...access, 0x40];
          const [a] = both(program, paging(3, 0));
          expect(a.cpu.cr2 >>> 0).toBe(P2);
          const write = access[access.length - 2] !== 0x8b;
          const [c] = both(program, paging(0x63, 0x61, true)); // P2 read-only, both accessed and dirty
          expect(c.cpu.cr2 >>> 0).toBe(write ? P2 : 0);
          // P1 read-only: a write faults on its first byte.
          const [d] = both(program, paging(0x61, 3, true));
          expect(d.cpu.cr2 >>> 0).toBe(write ? P1 + k : 0);
        }
      }
    });

    it('sets the dirty bit of each page written, one not yet dirty, as the interpreter does', () => {
      for (const k of [1, 0xffb, 0xffd, 0xfff]) {
        for (const program of [[0xbb, ...le32(P1 + k), 0x89, 0x03], [0xbb, ...le32(P1 + k), 0x66, 0x89, 0x03], [0xbb, ...le32(P1 + k), 0x8b, 0x03]]) {
          both(program, paging(0x23, 0x23)); // accessed, not dirty
          both(program, paging(0x63, 3)); // P1 dirty, P2 neither accessed nor dirty
        }
      }
    });

    it('runs the new bytes after an unaligned write into its own block, in its page or across into it', () => {
      // At offsets 1, 2 and 3 of a dword of "inc eax": a dword or word of NOPs written over them.
      for (const k of [1, 2, 3]) {
        for (const word of [false, true]) {
          const target = CODE_BASE + 0x20 + k;
          const store = word ? [0x66, 0xc7, 0x05, ...le32(target), 0x90, 0x90] : [0xc7, 0x05, ...le32(target), ...le32(0x90909090)];
          const program = [...store];
          while (program.length < 0x20) program.push(0x90);
          program.push(0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, ...record);
          expect(compare(program)).toBe('');
          expect(compare(program, -1, paging())).toBe('');
          expect(run([...program, 0xf4], true).cpu.reg32[0]).toBe(word ? 6 : 4);
        }
      }
      // A dword across into the code page (its first two bytes) from the page below it:
      // 10000: inc eax ; inc eax ; inc ecx ; cmp ecx, 2 ; je done ; mov [0xfffe], 0x9090xxxx ; jmp 10000
      // (or a word over the first): the first pass increments EAX twice, the second once or not at all.
      for (const setup of [undefined, paging()]) {
        for (const word of [false, true]) {
          const store = word ? [0x66, 0xc7, 0x05, ...le32(CODE_BASE - 1), 0x34, 0x90] : [0xc7, 0x05, ...le32(CODE_BASE - 2), ...le32(0x90901234)];
          const program = [0x40, 0x40, 0x41, 0x83, 0xf9, 0x02, 0x74, store.length + 2, ...store, 0xeb, (-(8 + store.length + 2)) & 0xff, ...record];
          expect(compare(program, -1, setup)).toBe('');
          expect(run([...program, 0xf4], true, -1, setup).cpu.reg32[0]).toBe(word ? 3 : 2);
        }
      }
      // And the other way: from the code page's last bytes across into the page above it.
      const program = [0xbb, ...le32(CODE_BASE + 0xffe), 0x89, 0x03, 0x8b, 0x0b, ...record];
      expect(compare(program)).toBe('');
    });

    it('goes through FS with a base: inline within a page, the slow path across', () => {
      for (const base of [0x10, 0x13, 0x1001]) {
        const withFs = (p2 = 3, p2To = P2) => (cpu: Cpu, bus: TestBus) => { withDescriptor(base, 0xfffff)(cpu, bus); paging(3, p2, false, p2To)(cpu, bus); };
        for (const k of OFFSETS) {
          const program = [...loadFs, ...at(P1 + k - base, [0x64])];
          const [, b] = both(program, withFs());
          if (k <= 0xffc) expect(b.cpu.memFallbacks).toBe(3);
          // Across into a page mapped elsewhere, or not present.
          both(program, withFs(3, ELSEWHERE));
          const [c] = both(program, withFs(0));
          expect(c.cpu.cr2 >>> 0).toBe(k >= 0xffd ? P2 : 0);
        }
      }
    });

    it('pushes and pops on a misaligned stack with paging on, within a page and across', () => {
      for (const esp of [P1 + 0x102, P1 + 0x101, P2 + 2, P2 + 1, P2 + 3]) {
        const program = [
          0xbc, ...le32(esp), //                mov esp, ...
          0x68, ...le32(0x11223344), 0x53, //   push imm32 ; push ebx
          0x89, 0xe6, 0x5a, 0x58, //            mov esi, esp ; pop edx ; pop eax
          0xe8, ...le32(0), 0x59, //            call next ; pop ecx
          0xbc, ...le32(STACK_TOP), ...record,
        ];
        both(program, paging());
        both(program);
      }
      // Across into a page that is not present: a POP faults with CR2 at that page (the
      // handler runs on the stack below); a PUSH faults, and so does the delivery of its
      // fault on the same stack, to a triple fault.
      const [pop] = both([0xbc, ...le32(P2 - 2), 0x40, 0x58, 0x40], paging(3, 0));
      expect([pop.why, pop.cpu.cr2 >>> 0, new DataView(pop.bus.ram.buffer, pop.bus.ram.byteOffset).getUint32(P2 - 14, true)]).toEqual([StopReason.Dead, P2, CODE_BASE + 6]);
      const [push] = both([0xbc, ...le32(P2 + 2), 0x40, 0x50, 0x40], paging(3, 0));
      expect([push.why, push.cpu.cr2 >>> 0]).toEqual([StopReason.TripleFault, P2]);
    });
  });
});

describe('what the Linux boot spends its time in (issue 17), translated', () => {
  const DESC = 0x18;
  const le = le32;

  it('RDTSC and PAUSE in a delay loop: the same counts and cycles both ways, and the loop is one block', () => {
    // L: pause ; rdtsc ; mov [ebp+ecx*4], eax ; mov [ebp+ecx*4+0x100], edx ; dec ecx ; jnz L
    const loopAt = 5;
    const program = [0xb9, ...le(40), 0xf3, 0x90, 0x0f, 0x31, 0x89, 0x44, 0x8d, 0x00, 0x89, 0x94, 0x8d, ...le(0x100), 0x49, 0x75, 0xee];
    expect(compare(program)).toBe('');
    const r = run([...program, 0xf4], true);
    // The loop is in a compiled block, PAUSE and RDTSC included.
    const loop = r.cpu.blocks.slots.find((b) => b !== undefined && b.fn !== null && b.eips.includes(CODE_BASE + loopAt) && b.eips.includes(CODE_BASE + loopAt + 2));
    expect(loop?.eips).toContain(CODE_BASE + loopAt + 4);
    // The clock each RDTSC read: 6 instructions (cycles) a pass apart.
    const dv = new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset);
    expect(dv.getUint32(DATA + 4 * 4, true) - dv.getUint32(DATA + 5 * 4, true)).toBe(6);
  });

  describe('branches to instructions of the same block stay inside it', () => {
    // mov ecx, 100 ; mov ebx, 0 ; L: test cl, 1 ; jz S ; add ebx, ecx ; S: add ebx, 3 ; dec ecx ; jnz L ; mov [ebp], ebx
    const ifInLoop = [0xb9, ...le(100), 0xbb, ...le(0), 0xf6, 0xc1, 0x01, 0x74, 0x02, 0x01, 0xcb, 0x83, 0xc3, 0x03, 0x49, 0x75, 0xf3, 0x89, 0x5d, 0x00];
    // mov ecx, 5 ; mov ebx, 1000 ; L: mov eax, ebx ; xor edx, edx ; div ecx ; test al, 1 ; jz S ; add ebx, eax ; S: dec ecx ; jmp L
    // (#DE when ECX reaches 0, after branches forward and back inside the block)
    const faultInLoop = [0xb9, ...le(5), 0xbb, ...le(1000), 0x89, 0xd8, 0x31, 0xd2, 0xf7, 0xf1, 0xa8, 0x01, 0x74, 0x02, 0x01, 0xc3, 0x49, 0xeb, 0xf1];

    it('agree with the interpreter: an if inside a loop, and a fault after branches inside', () => {
      expect(compare(ifInLoop)).toBe('');
      expect(compare(faultInLoop)).toBe('');
    });

    it('end the slice on the instruction the interpreter ends it on, wherever it falls', () => {
      const out: string[] = [];
      for (let at = 1; at < 80; at++) out.push(compare([0xfb, ...ifInLoop], at), compare([0xfb, ...faultInLoop], at));
      expect(out.filter((x) => x !== '')).toEqual([]);
    });

    it('make one block of the whole program', () => {
      const r = run([...ifInLoop, 0xf4], true);
      expect(r.cpu.blocks.compiles).toBe(1);
    });
  });

  it('RDTSC right after port I/O and a REP STOS in one block reads the clock the interpreter reads', () => {
    const program = [
      0xb9, ...le(3), 0x89, 0xef, 0xf3, 0xab, // mov ecx, 3 ; mov edi, ebp ; rep stosd
      0xe4, 0x80, 0x0f, 0x31, 0x89, 0x45, 0x20, 0x89, 0x55, 0x24, // in al, 0x80 ; rdtsc ; mov [ebp+0x20], eax ; mov [ebp+0x24], edx
    ];
    expect(compare(program)).toBe('');
  });

  it('IMUL in its two- and three-operand forms sets the flags imulTrunc sets, on edge operands', () => {
    const cases: string[] = [];
    for (const a of EDGES) {
      for (const b of EDGES) {
        const load = [0xb8, ...le(a), 0xbb, ...le(b), 0x89, 0x5d, 0x10];
        cases.push(compare([...load, ...recordFlags([0x0f, 0xaf, 0xc3])])); // imul eax, ebx
        cases.push(compare([...load, ...recordFlags([0x0f, 0xaf, 0x45, 0x10])])); // imul eax, [ebp+0x10]
        cases.push(compare([...load, ...recordFlags([0x69, 0xc3, ...le(a)])])); // imul eax, ebx, a
        cases.push(compare([...load, ...recordFlags([0x6b, 0xc3, b & 0xff])])); // imul eax, ebx, (int8)b
        cases.push(compare([...load, ...recordFlags([0x66, 0x0f, 0xaf, 0xc3])])); // imul ax, bx
      }
    }
    expect(cases.filter((c) => c !== '')).toEqual([]);
  });

  describe('FS with a base (Linux\'s per-CPU area) and paging on', () => {
    const PD = 0x90000, PT = 0x91000, BASE = 0x3000;
    /** Identity paging of the first MiB (the page at DATA + 0x2000 + BASE not present), FS = DESC with `base` (BASE) and 4 GiB (or `limit`). */
    const setup = (limit = 0xfffff, base = BASE) => (cpu: Cpu, bus: TestBus) => {
      const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
      dv.setUint32(PD, PT | 3, true);
      for (let i = 0; i < 256; i++) dv.setUint32(PT + i * 4, (i << 12) | 3, true);
      dv.setUint32(PT + ((DATA + 0x2000 + BASE) >>> 12) * 4, 0, true);
      putDescriptor(bus.ram, DESC, base, limit, 0x92, true, true);
      cpu.gdtrLimit = DESC + 7;
      cpu.setCr3(PD);
      cpu.setCr0(cpu.cr0 | 0x80000000);
    };
    const loadFs = [0x66, 0xb8, DESC, 0x00, 0x8e, 0xe0]; // mov ax, DESC ; mov fs, ax
    // L: mov eax, fs:[ebx] ; add fs:[ebx+8], eax ; inc dword fs:[ebx+12] ; mov cl, fs:[ebx+1] ; mov fs:[ebx+17], cl ;
    //    mov edx, fs:[ebx+2] (unaligned) ; mov fs:[DATA+0x40], edx (moffs) ; dec esi ; jnz L
    const body = [
      0x64, 0x8b, 0x03, 0x64, 0x01, 0x43, 0x08, 0x64, 0xff, 0x43, 0x0c, 0x64, 0x8a, 0x4b, 0x01, 0x64, 0x88, 0x4b, 0x11,
      0x64, 0x8b, 0x53, 0x02, 0x64, 0x89, 0x15, ...le(DATA + 0x40), 0x4e, 0x75,
    ];
    const program = (at: number) => [...loadFs, 0xbb, ...le(at), 0xbe, ...le(50), ...body, (-(body.length + 1)) & 0xff,
      0x89, 0x45, 0x00, 0x89, 0x4d, 0x04, 0x89, 0x55, 0x08];

    it('agrees with the interpreter, and goes to RAM inline once the TLB holds the pages', () => {
      expect(compare(program(DATA + 0x100), -1, setup())).toBe('');
      const r = run([...program(DATA + 0x100), 0xf4], true, -1, setup());
      expect(r.bus.ram[DATA + 0x100 + BASE + 12]).not.toBe(((0x100 + 12) * 37 + 11) & 0xff); // it ran, at base + offset
      // 50 passes of 7 accesses through FS: only the first of each page (TLB misses, the
      // first writes) take the checked way, the unaligned one too.
      expect(r.cpu.memFallbacks).toBeLessThan(10);
    });

    it('agrees on word accesses through FS, DS and SS, aligned and not, with paging on', () => {
      // mov ax, fs:[ebx] ; add fs:[ebx+6], ax ; mov cx, [ebx+3] ; mov [ebx+10], cx ; movzx edx, word [ebx+16] ;
      // mov fs:[ebx+0xffd], dx (across a page) ; mov si, [ebp+2] ; mov [ebp+12], si
      const words = [0x64, 0x66, 0x8b, 0x03, 0x64, 0x66, 0x01, 0x43, 0x06, 0x66, 0x8b, 0x4b, 0x03, 0x66, 0x89, 0x4b, 0x0a,
        0x0f, 0xb7, 0x53, 0x10, 0x64, 0x66, 0x89, 0x93, ...le(0xffd), 0x66, 0x8b, 0x75, 0x02, 0x66, 0x89, 0x75, 0x0c];
      const program = [...loadFs, 0xbb, ...le(DATA + 0x200), ...words, 0x89, 0x45, 0x20, 0x89, 0x4d, 0x24, 0x89, 0x55, 0x28, 0x89, 0x75, 0x2c];
      expect(compare(program, -1, setup())).toBe('');
      expect(compare(program.slice(6))).toBe(''); // paging off, FS flat
      expect(compare([...loadFs, 0xbb, ...le(DATA + 0x1ffe - BASE), ...words], -1, setup())).toBe(''); // a page that is not present
    });

    it('faults where the interpreter does: a page that is not present, and past a lower limit', () => {
      expect(compare(program(DATA + 0x2000 - 4), -1, setup())).toBe('');
      expect(compare(program(DATA + 0x100), -1, setup(DATA + 0x104))).toBe(''); // not 4 GiB: the checked way
    });

    it('faults on an offset whose last byte is past 4 GiB, though base + offset wraps to a mapped page', () => {
      // mov ebx, o ; inc eax ; the access ; inc eax: the access must #GP (EIP pushed) unless it fits.
      for (const base of [0x10, 0x13, 0x1001]) {
        for (const o of [0xfffffffc, 0xfffffffd, 0xfffffffe, 0xffffffff]) {
          for (const access of [[0x64, 0x8b, 0x0b], [0x64, 0x89, 0x0b], [0x64, 0x66, 0x8b, 0x0b], [0x64, 0x66, 0x89, 0x0b], [0x64, 0x8a, 0x0b]]) { // mov ecx, fs:[ebx] ; mov fs:[ebx], ecx ; mov cx ; mov fs:[ebx], cx ; mov cl
            const program = [...loadFs, 0xbb, ...le(o), 0x40, ...access, 0x40];
            expect(compare(program, -1, setup(0xfffff, base))).toBe('');
            const r = run([...program, 0xf4], true, -1, setup(0xfffff, base));
            const size = access[1] === 0x66 ? 2 : access[1] === 0x8a ? 1 : 4;
            const faults = o + size - 1 > 0xffffffff;
            expect(new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset).getUint32(STACK_TOP - 12, true)).toBe(faults ? CODE_BASE + 12 : 0); // the EIP pushed
          }
        }
      }
    });
  });
});

describe('an instruction across a page boundary (issue 19)', () => {
  // A loop from L = CODE_BASE + 0xff0 whose body runs across into the next page: its
  // first instructions in one page, one instruction across the boundary, the rest in
  // the next page. `across` is the instruction put at 0xffd (so it ends past 0x1000).
  const L = 0xff0;
  const loop = (across: number[], after: number[] = []) => {
    const code = [0xb9, ...le32(50), 0xe9, ...le32(L - 10)]; // mov ecx, 50 ; jmp L
    while (code.length < L) code.push(0xcc);
    code.push(0x05, ...le32(0x01020304), 0x40); // L: add eax, 0x01020304 ; inc eax
    while (code.length < 0xffd) code.push(0x90);
    code.push(...across, ...after);
    return code;
  };
  const tail = (code: number[]) => [...code, 0x49, 0x0f, 0x85, ...le32(L - (code.length + 7))]; // dec ecx ; jnz L (rel32)
  const identity = (cpu: Cpu, bus: TestBus) => {
    const PD = 0x90000, PT = 0x91000, dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
    dv.setUint32(PD, PT | 3, true);
    for (let i = 0; i < 256; i++) dv.setUint32(PT + i * 4, (i << 12) | 3, true);
    cpu.setCr3(PD);
    cpu.setCr0(cpu.cr0 | 0x80000000);
  };
  /** The pages translated code runs on into (the block from the start follows its JMP to L and holds the loop too). */
  const tailPages = (cpu: Cpu) => [...new Set(cpu.blocks.slots.filter((b) => b !== undefined && b.tailPage >= 0).map((b) => b!.tailPage))];

  it('is translated at the end of its block, with paging off and on, and agrees with the interpreter', () => {
    const forms = [
      [0x81, 0xc3, ...le32(0x12345678)], // add ebx, imm32
      [0x8b, 0x95, ...le32(DATA + 8)], // mov edx, [ebp + DATA + 8] (EBP = DATA: a read)
      [0x89, 0x85, ...le32(8)], // mov [ebp + 8], eax (a write)
      [0xc1, 0xe3, 0x03, 0x90, 0x90, 0x90], // shl ebx, 3 (ends in the first page: the block goes on)
    ];
    for (const across of forms) {
      const program = tail(loop(across));
      expect(compare(program)).toBe('');
      expect(compare(program, -1, identity)).toBe('');
      const translated = run([...program, 0xf4], true).cpu;
      expect(tailPages(translated)).toEqual(across[0] === 0xc1 ? [] : [(CODE_BASE + 0x1000) >>> 12]);
      expect(tailPages(run([...program, 0xf4], true, -1, identity).cpu)).toEqual(across[0] === 0xc1 ? [] : [(CODE_BASE + 0x1000) >>> 12]);
    }
  });

  it('with paging on, takes the next page\'s bytes from where the page tables map it, and leaves the block for the interpreter once they map it elsewhere', () => {
    // The next linear page (CODE_BASE + 0x1000) mapped to physical 0x60000, holding the rest of
    // the program: add ebx, imm32's last bytes, dec ecx ; jnz L2. At pass 25 the loop maps it to
    // 0x61000 instead (a copy whose immediate differs) and flushes the TLB with a CR3 load.
    const PD = 0x90000, PT = 0x91000, ELSEWHERE = 0x60000, COPY = 0x61000, L2 = 0xfd0;
    const code = [0xb9, ...le32(50), 0xe9, ...le32(L2 - 10)];
    while (code.length < L2) code.push(0xcc);
    // L2: cmp ecx, 25 ; jne 1f ; mov dword [PT + 4 * 0x11], COPY | 3 ; mov eax, PD ; mov cr3, eax ; 1:
    code.push(0x83, 0xf9, 0x19, 0x75, 0x12, 0xc7, 0x05, ...le32(PT + 4 * ((CODE_BASE + 0x1000) >>> 12)), ...le32(COPY | 3), 0xb8, ...le32(PD), 0x0f, 0x22, 0xd8);
    while (code.length < 0xffd) code.push(0x90);
    code.push(0x81, 0xc3, 0x78); // add ebx, imm32: the immediate's last three bytes in the next page
    const rest = [0x56, 0x34, 0x12, 0x49, 0x0f, 0x85, ...le32(L2 - (0x1000 + 10))]; // ... ; dec ecx ; jnz L2
    const setup = (cpu: Cpu, bus: TestBus) => {
      const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
      dv.setUint32(PD, PT | 3, true);
      for (let i = 0; i < 256; i++) dv.setUint32(PT + i * 4, (i << 12) | 3, true);
      dv.setUint32(PT + ((CODE_BASE + 0x1000) >>> 12) * 4, ELSEWHERE | 3, true);
      bus.ram.set([...rest, 0xf4], ELSEWHERE);
      bus.ram.set([0x56, 0x34, 0x99, ...rest.slice(3), 0xf4], COPY);
      cpu.setCr3(PD);
      cpu.setCr0(cpu.cr0 | 0x80000000);
    };
    expect(compare(code, -1, setup)).toBe('');
    const r = run([...code, 0xf4], true, -1, setup).cpu;
    expect(r.reg32[3] >>> 0).toBe((25 * 0x12345678 + 25 * 0x99345678) >>> 0);
    expect(tailPages(r)).toContain(ELSEWHERE >>> 12);
  });

  it('as the first instruction of a block, and when its check then fails (the next page written), taken by the interpreter', () => {
    // mov ecx, 50 ; jmp L3 ; ... L3 (at 0xffd): add ebx, imm32 across ; [mov [CODE_BASE + 0x1001], cl] ; dec ecx ; jnz L3
    for (const write of [false, true]) {
      const code = [0xb9, ...le32(50), 0xe9, ...le32(0xffd - 10)];
      while (code.length < 0xffd) code.push(0xcc);
      code.push(0x81, 0xc3, 0x78, 0x56, 0x34, 0x12, ...(write ? [0x88, 0x0d, ...le32(CODE_BASE + 0x1001)] : []));
      code.push(0x49, 0x0f, 0x85, ...le32(0xffd - (code.length + 7)));
      for (const setup of [undefined, identity]) {
        expect(compare(code, -1, setup)).toBe('');
        const r = run([...code, 0xf4], true, -1, setup).cpu;
        const first = r.blocks.slots.find((b) => b !== undefined && b.eip === CODE_BASE + 0xffd);
        expect(first?.count).toBeGreaterThan(0);
        expect(first?.tailPage).toBe((CODE_BASE + 0x1000) >>> 12);
      }
    }
  });

  it('as the loop\'s closing branch: a conditional jump across the boundary back into the block', () => {
    const code = loop([]).slice(0, 0xffc);
    code.push(0x49, 0x0f, 0x85, ...le32(L - (0xffd + 6))); // dec ecx ; jnz L across 0x1000
    expect(compare(code)).toBe('');
    expect(tailPages(run([...code, 0xf4], true).cpu)).toEqual([(CODE_BASE + 0x1000) >>> 12]);
  });

  it('runs the new bytes when its part in the next page is written, by the loop itself or by code elsewhere', () => {
    // add ebx, imm32 across; then mov [CODE_BASE + 0x1001], cl: the immediate's second byte changes each pass.
    const self = tail(loop([0x81, 0xc3, ...le32(0x12345678)], [0x88, 0x0d, ...le32(CODE_BASE + 0x1001)]));
    expect(compare(self)).toBe('');
    const r = run([...self, 0xf4], true).cpu;
    const i = run([...self, 0xf4], false).cpu;
    expect(r.reg32[3]).toBe(i.reg32[3]);
    // And a store into the next page from the same block's first page: the instruction after L.
    const code = [0xb9, ...le32(50), 0xe9, ...le32(L - 10)];
    while (code.length < L) code.push(0xcc);
    code.push(0x88, 0x0d, ...le32(CODE_BASE + 0x1000)); // L: mov [CODE_BASE + 0x1000], cl: the last byte of the immediate
    while (code.length < 0xffd) code.push(0x90);
    code.push(0x81, 0xc3, 0x11, 0x22, 0x33, 0x44); // add ebx, imm32: its second byte at 0x1000 (written above)
    expect(compare(tail(code))).toBe('');
  });
});

describe('blocks chained across pages with paging on (issue 19)', () => {
  // 10000: mov ecx, 20 ; 1: call 12000 ; dec ecx ; jnz 1b ; hlt      12000: inc eax ; add ebx, eax ; ret
  const program = (() => {
    const code = [0xb9, ...le32(20), 0xe8, ...le32(0x2000 - 10), 0x49, 0x75, (-8) & 0xff, 0xf4];
    while (code.length < 0x2000) code.push(0xcc);
    return [...code, 0x40, 0x01, 0xc3, 0xc3];
  })();
  /** Identity paging of the first MiB; the called page present or not. */
  const paged = (present: boolean) => (cpu: Cpu, bus: TestBus) => {
    const PD = 0x90000, PT = 0x91000, dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
    dv.setUint32(PD, PT | 3, true);
    for (let i = 0; i < 256; i++) dv.setUint32(PT + i * 4, (i << 12) | 3, true);
    if (!present) dv.setUint32(PT + ((CODE_BASE + 0x2000) >>> 12) * 4, 0, true);
    cpu.setCr3(PD);
    cpu.setCr0(cpu.cr0 | 0x80000000);
  };
  const fault = (r: ReturnType<typeof run>) => [r.why, r.cpu.eip, r.cpu.instructions, r.cpu.cycles, r.cpu.cr2 >>> 0, new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset).getUint32(STACK_TOP - 16, true)];

  it('goes on from a block into the next one in another page, as the interpreter runs them', () => {
    expect(compare(program, -1, paged(true))).toBe('');
    expect(run(program, true, -1, paged(true)).cpu.reg32[0]).toBe(20);
  });

  it('goes on from block to block inside WebAssembly, into the other page too: JavaScript enters it a few times, not twice a pass', () => {
    const entries = jest.spyOn(WasmContext.prototype, 'run');
    try {
      const r = run(program, true, -1, paged(true));
      expect(r.cpu.reg32[0]).toBe(20);
      expect(r.cpu.blocks.wasmBlocks).toBeGreaterThanOrEqual(2);
      // 20 passes, each through the called page's block and the loop's: 40 blocks run.
      expect(entries.mock.calls.length).toBeLessThan(8);
    } finally {
      entries.mockRestore();
    }
  });

  it('leaves the fetch window where an import leaves it: a CR3 load in a page the blocks went on into', () => {
    // main: mov eax, PD2 ; 10 calls of G (in the page 0x2000 on). G: cmp ecx, 5 ; jne L ;
    // mov cr3, eax ; L: inc ebx ; ret. PD2 maps G's page to B2, whose L is add ebx, 0x10:
    // the fifth call switches, and from L on G is fetched from B2.
    const PD1 = 0x90000, PT1 = 0x91000, PD2 = 0x92000, PT2 = 0x93000, B2 = 0x60000;
    const g = [0x83, 0xf9, 0x05, 0x75, 0x03, 0x0f, 0x22, 0xd8];
    const code = [0xb8, ...le32(PD2), 0xb9, ...le32(10), 0xe8, ...le32(0x2000 - 15), 0x49, 0x75, (-8) & 0xff, 0xf4];
    while (code.length < 0x2000) code.push(0xcc);
    code.push(...g, 0x43, 0xc3);
    const setup = (cpu: Cpu, bus: TestBus) => {
      const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
      for (const [pd, pt] of [[PD1, PT1], [PD2, PT2]]) {
        dv.setUint32(pd, pt | 3, true);
        for (let i = 0; i < 256; i++) dv.setUint32(pt + i * 4, (i << 12) | 3, true);
      }
      dv.setUint32(PT2 + ((CODE_BASE + 0x2000) >>> 12) * 4, B2 | 3, true);
      bus.ram.set([...g, 0x83, 0xc3, 0x10, 0xc3], B2);
      cpu.setCr3(PD1);
      cpu.setCr0(cpu.cr0 | 0x80000000);
      cpu.reg32[3] = 0;
    };
    expect(compare(code, -1, setup)).toBe('');
    expect(run(code, true, -1, setup).cpu.reg32[3]).toBe(5 * 1 + 5 * 0x10);
  });

  it('faults fetching from a page that is not present with the CR2, EIP and counts of the interpreter', () => {
    const [a, b] = [false, true].map((t) => run(program, t, -1, paged(false)));
    expect(fault(b)).toEqual(fault(a));
    expect(a.cpu.cr2 >>> 0).toBe(CODE_BASE + 0x2000);
  });
});

describe('the WebAssembly dispatcher going on from block to block (issue 17)', () => {
  // Each test but the links' has a block that the dispatcher must not go on to, though
  // its address and EIP match: it would run where the interpreter (and runBlock) would not.
  const F = 0x1800; // a function at CODE_BASE + F, in the next page (a call in the page would stay in its block)
  /** `main` (HLT after it) at CODE_BASE, then at CODE_BASE + F: `f` ; ret. */
  const withF = (main: number[], f: number[]): number[] => {
    const code = [...main, 0xf4];
    while (code.length < F) code.push(0xcc);
    return [...code, ...f, 0xc3];
  };
  const call = (from: number) => [0xe8, ...le32(F - (from + 5))];
  const loop = (at: number, n: number) => [0xb9, ...le32(n), ...call(at + 5), 0x49, 0x75, (-8) & 0xff]; // mov ecx, n ; L: call F ; dec ecx ; jnz L

  it('stops where the slice ends, before a block that no longer fits (an interrupt after any cycle)', () => {
    // sti ; 30 calls of F: inc eax ; add ebx, eax ; ret
    const code = withF([0xfb, ...loop(1, 30)], [0x40, 0x01, 0xc3]);
    const out: string[] = [];
    for (let at = 0; at < 30 * 6 + 10; at++) {
      const d = compare(code, at);
      if (d !== '') out.push(`at ${at}: ${d}`);
    }
    expect(out.slice(0, 3)).toEqual([]);
  });

  it('does not go on to a block translated with other segment bases (the mode)', () => {
    // 20 calls of F: add edx, [ebx] with DS flat; mov ds, 0x18 (base 0x104); 20 more.
    const main = [0xbb, ...le32(DATA), ...loop(5, 20)]; // mov ebx, DATA ; 20 calls
    const reload = [0x66, 0xb8, 0x18, 0x00, 0x8e, 0xd8]; // mov ax, 0x18 ; mov ds, ax
    const code = withF([...main, ...reload, ...loop(main.length + reload.length, 20)], [0x03, 0x13]);
    const segments = (cpu: Cpu, bus: TestBus) => { putDescriptor(bus.ram, 0x18, 0x104, 0xfffff, 0x92, true, true); cpu.gdtrLimit = 31; };
    expect(compare(code, -1, segments)).toBe('');
    // (The two dwords differ, so F run with DS flat would show in EDX.)
    const r = run(code, true, -1, segments);
    const dv = new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset);
    expect(dv.getUint32(DATA, true)).not.toBe(dv.getUint32(DATA + 0x104, true));
  });

  it('makes its links again from the blocks it holds when the memory is loaded over them (a snapshot), and follows none from elsewhere', () => {
    // Two functions in the next page, called in turn 200 times: after 600 cycles the
    // links are scrambled (each link's table index given to another link) as a snapshot
    // saved by another process leaves them; Cpu.memoryLoaded makes them again.
    const G = F + 0x20;
    const main = [0xb9, ...le32(200), ...call(5), 0xe8, ...le32(G - 15), 0x49, 0x75, (-13) & 0xff];
    const code = withF(main, [0x40, 0x01, 0xc3]);
    while (code.length < G) code.push(0xcc);
    code.push(0x29, 0xc2, 0xc3, 0xf4); // G: sub edx, eax ; ret
    const reference = state(run(code, false));
    const { cpu, bus } = flatMachine(new Uint8Array(code));
    cpu.blocks.hotThreshold = 1;
    cpu.reg32[5] = DATA;
    for (let i = 0; i < DATA_BYTES; i++) bus.ram[DATA + i] = (i * 37 + 11) & 0xff;
    cpu.run(600);
    // The links as words (the area starts at its registers); a link's word 6 is its table index.
    const links = new Int32Array(cpu.wasm!.memory.buffer, cpu.wasm!.regs + AREA_LINKS, LINK_SLOTS * (LINK_BYTES >> 2));
    const held: number[] = [];
    for (let i = 0; i < links.length; i += LINK_BYTES >> 2) if (links[i + 6] >= 0) held.push(i);
    expect(held.length).toBeGreaterThanOrEqual(2);
    const indices = held.map((i) => links[i + 6]);
    held.forEach((i, k) => { links[i + 6] = indices[(k + 1) % indices.length]; });
    cpu.memoryLoaded();
    const why = cpu.run(1e6);
    expect(state({ cpu, bus, why })).toBe(reference);
  });

  it('does not go on to a block that runs past CS\'s limit (the window): the interpreter faults in it', () => {
    // 20 calls of F (inc eax ; add ebx, eax), then jmp far to CS 0x18, whose limit ends
    // inside F's add, and one more call: #GP at the add, after the inc.
    const main = loop(0, 20);
    const far = main.length; // jmp far 0x18:next
    const next = CODE_BASE + far + 7;
    const code = withF([...main, 0xea, ...le32(next), 0x18, 0x00, ...call(far + 7)], [0x40, 0x01, 0xc3]);
    const limited = (cpu: Cpu, bus: TestBus) => { putDescriptor(bus.ram, 0x18, 0, CODE_BASE + F + 1, 0x9a, false, true); cpu.gdtrLimit = 31; };
    expect(compare(code, -1, limited)).toBe('');
    const r = run(code, true, -1, limited);
    expect(r.cpu.reg32[0]).toBe(21);
    expect(r.cpu.eip).toBeGreaterThanOrEqual(HANDLER_BASE);
  });
});

describe('a WebAssembly block\'s module (issue 17)', () => {
  it('imports only the memory and the helpers\' table, and reaches the helpers through it', () => {
    // A JavaScript function imported by a module costs a wrapper compiled for the module
    // (gate in wasm-translator.ts). A loop whose block calls the `step` helper (CPUID is
    // interpreted; it sets ECX, so EDI counts) and the slow read (a dword past the end of
    // RAM, read by the bus).
    const code = [0xbf, ...le32(50), 0x31, 0xc0, 0x0f, 0xa2, 0x03, 0x35, ...le32(0x00fffffe), 0x4f, 0x75, (-13) & 0xff];
    const wasm = WebAssembly as unknown as { Module: new (b: Uint8Array) => WebAssembly.Module };
    const Real = wasm.Module;
    const made: WebAssembly.Module[] = [];
    wasm.Module = function (b: Uint8Array) { const m = new Real(b); made.push(m); return m; } as unknown as typeof Real;
    let r: ReturnType<typeof run>;
    try {
      expect(compare(code)).toBe('');
      made.length = 0;
      r = run([...code, 0xf4], true);
    } finally {
      wasm.Module = Real;
    }
    expect(r.cpu.wasm!.steps).toBeGreaterThan(0);
    expect(r.cpu.wasm!.compiles).toBeGreaterThan(0);
    const imports = made.map((m) => (WebAssembly as unknown as { Module: { imports(m: WebAssembly.Module): { name: string; kind: string }[] } }).Module.imports(m));
    // The blocks' (made after the CPU's dispatcher and helper modules): the memory and the table.
    const blocks = imports.slice(made.length - r.cpu.wasm!.compiles);
    expect(blocks.length).toBeGreaterThan(0);
    for (const i of blocks) expect(i.map((x) => `${x.name}:${x.kind}`).sort()).toEqual(['h:table', 'm:memory']);
  });
});

describe('cycles charged inside a block beyond its instructions\' own (issue 17)', () => {
  // A device's latency, PAUSE's cost and a memory-mapped register that reads the clock:
  // the clock a device sees and the instruction a slice ends on are the interpreter's,
  // wherever the slice ends (an interrupt raised after `at` cycles shows where it did).
  const le = le32;
  const MMIO = 0x200000; // past the test machine's 1 MiB of RAM
  const everywhere = (program: number[], setup: (cpu: Cpu, bus: TestBus) => void, upTo: number, stride = 1): string[] => {
    const out: string[] = [];
    for (let at = -1; at < upTo; at += stride) {
      const d = compare(at < 0 ? program : [0xfb, ...program], at, setup); // STI only where an interrupt comes
      if (d !== '') out.push(`at ${at}: ${d}`);
    }
    return out.slice(0, 3);
  };
  /** A memory-mapped device: reads return the clock and cost 30 cycles; writes record the clock and the value at DATA+0x1000. */
  const clockDevice = (cpu: Cpu, bus: TestBus): void => {
    let n = 0;
    bus.mmioRead = (_p: number, _size: number): number => { const c = cpu.cycles; cpu.addCycles(30); return c; };
    bus.mmioWrite = (_p: number, _size: number, v: number): void => {
      const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
      dv.setUint32(DATA + 0x1000 + 8 * (n & 0x1ff), cpu.cycles, true);
      dv.setUint32(DATA + 0x1004 + 8 * (n++ & 0x1ff), v, true);
      cpu.addCycles(30);
    };
  };

  it('PAUSE costs the machine\'s pauseCycles, and a delay loop on it stays one block', () => {
    // L: pause ; rdtsc ; mov [ebp+ecx*4], eax ; dec ecx ; jnz L
    const program = [0xb9, ...le(12), 0xf3, 0x90, 0x0f, 0x31, 0x89, 0x44, 0x8d, 0x00, 0x49, 0x75, 0xf5];
    const pause140 = (cpu: Cpu): void => { cpu.pauseCycles = 140; };
    expect(everywhere(program, pause140, 12 * 144 + 40, 5)).toEqual([]);
    for (const translate of [false, true]) {
      const r = run([...program, 0xf4], translate, -1, pause140);
      const dv = new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset);
      expect(dv.getUint32(DATA + 4 * 4, true) - dv.getUint32(DATA + 5 * 4, true)).toBe(140 + 4);
      if (translate) expect(r.cpu.blocks.compiles).toBe(1);
    }
  });

  it('a block that leaves after PAUSE leaves the flags of the instruction before it', () => {
    // L: shr edx, 1 (CF) ; pause ; sub eax, ebx (all six flags again) ; dec ecx ; jnz L
    const program = [0xba, ...le(0x5555), 0xb9, ...le(8), 0xd1, 0xea, 0xf3, 0x90, 0x29, 0xd8, 0x49, 0x75, 0xf7];
    expect(everywhere(program, (cpu) => { cpu.pauseCycles = 140; }, 8 * 145 + 20)).toEqual([]);
  });

  it('F2 90 is a NOP, not PAUSE', () => {
    const r = run([0xf2, 0x90, 0x0f, 0x31, 0x89, 0x45, 0x00, 0xf4], false, -1, (cpu) => { cpu.pauseCycles = 140; });
    expect(new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset).getUint32(DATA, true)).toBe(1);
  });

  it('port input whose device charges latency, in a loop', () => {
    // L: inc ebx ; inc ebx ; inc ebx ; in al, 0x80 ; rdtsc ; mov [ebp+ecx*4], eax ; dec ecx ; jnz L
    const program = [0xb9, ...le(10), 0x43, 0x43, 0x43, 0xe4, 0x80, 0x0f, 0x31, 0x89, 0x44, 0x8d, 0x00, 0x49, 0x75, 0xf1];
    const slowPort = (cpu: Cpu, bus: TestBus): void => { bus.ioRead = (): number => { cpu.addCycles(25); return 3; }; };
    expect(everywhere(program, slowPort, 10 * 31 + 20)).toEqual([]);
  });

  it('memory-mapped reads and writes see the clock as interpreted, in a loop and in straight-line code', () => {
    // L: mov eax, [MMIO] ; mov [ebp+ecx*4], eax ; mov [MMIO+4], ecx ; inc ebx ; dec ecx ; jnz L
    const loop = [0xb9, ...le(10), 0xa1, ...le(MMIO), 0x89, 0x44, 0x8d, 0x00, 0x89, 0x0d, ...le(MMIO + 4), 0x43, 0x49, 0x75, 0xed];
    expect(everywhere(loop, clockDevice, 10 * 66 + 20, 3)).toEqual([]);
    // inc ebx ; mov edx, [MMIO] ; inc ebx ; add [MMIO+8], edx (read and write) ; mov [ebp], edx
    const straight = [0x43, 0x8b, 0x15, ...le(MMIO), 0x43, 0x01, 0x15, ...le(MMIO + 8), 0x89, 0x55, 0x00];
    expect(everywhere(straight, clockDevice, 80)).toEqual([]);
  });

  it('REP MOVSD from and to device memory, inside a block', () => {
    // mov esi, MMIO ; mov edi, ebp ; mov ecx, 6 ; rep movsd ; mov esi, ebp ; mov edi, MMIO ; mov ecx, 4 ; rep movsd
    const program = [0xbe, ...le(MMIO), 0x89, 0xef, 0xb9, ...le(6), 0xf3, 0xa5, 0x89, 0xee, 0xbf, ...le(MMIO), 0xb9, ...le(4), 0xf3, 0xa5];
    expect(everywhere(program, clockDevice, 400, 3)).toEqual([]);
  });
});

describe('x87 instructions inside blocks', () => {
  const le = le32;
  // fninit ; fldcw [ebp+0x100] ; mov ecx, 20 ;
  // L: fld dword [ebp+ecx*4] ; fadd st0, st0 ; fld1 ; faddp st1, st0 ; fstp dword [ebp+ecx*4+0x200] ; fnstsw ax ; add ebx, eax ; dec ecx ; jnz L
  const sums = [0xdb, 0xe3, 0xd9, 0xad, ...le(0x100), 0xb9, ...le(20),
    0xd9, 0x44, 0x8d, 0x00, 0xd8, 0xc0, 0xd9, 0xe8, 0xde, 0xc1, 0xd9, 0x9c, 0x8d, ...le(0x200), 0xdf, 0xe0, 0x01, 0xc3, 0x49, 0x75, 0xe8];
  const cw = (value: number) => (_cpu: Cpu, bus: TestBus): void => { new DataView(bus.ram.buffer, bus.ram.byteOffset).setUint16(DATA + 0x100, value, true); };

  it('run in the block with the integer code around them, as interpreted', () => {
    expect(compare(sums, -1, cw(0x037f))).toBe('');
    const r = run([...sums, 0xf4], true, -1, cw(0x037f));
    // The loop (at 13) is one compiled block, its x87 instructions (13, 17, 23, 30) in it.
    const loop = r.cpu.blocks.slots.find((b) => b !== undefined && b.fn !== null && b.eips.includes(CODE_BASE + 13));
    expect(loop?.eips).toEqual(expect.arrayContaining([13, 17, 19, 21, 23, 30, 32, 34].map((o) => CODE_BASE + o)));
  });

  it('freeze on an unmasked exception with CR0.NE clear (FERR#) where the interpreter does, wherever the interrupt that ends it comes', () => {
    // The zero-divide is unmasked (CW 037B) and each pass divides by zero: the next waiting
    // x87 instruction asserts FERR# and waits there until an interrupt.
    // fninit ; fldcw [ebp+0x100] ; mov ecx, 5 ; L: inc eax ; fld1 ; fldz ; fdivp st1, st0 ; inc edx ; fld1 ; fstp st0 ; dec ecx ; jnz L
    const program = [0xfb, 0xdb, 0xe3, 0xd9, 0xad, ...le(0x100), 0xb9, ...le(5), 0x40, 0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9, 0x42, 0xd9, 0xe8, 0xdd, 0xd8, 0x49, 0x75, 0xf1];
    const ferr = (cpu: Cpu, bus: TestBus): void => { cw(0x037b)(cpu, bus); cpu.fpu.onFerr = () => {}; };
    const out: string[] = [];
    for (let at = 0; at < 60; at++) {
      const d = compare(program, at, ferr);
      if (d !== '') out.push(`at ${at}: ${d}`);
    }
    expect(out.slice(0, 3)).toEqual([]);
    // It froze: the interrupt came with EIP on the FLD1 after the division (at 22).
    const r = run([...program, 0xf4], true, 50, ferr);
    expect(new DataView(r.bus.ram.buffer, r.bus.ram.byteOffset).getUint32(STACK_TOP - 12, true)).toBe(CODE_BASE + 22);
  });
});
