/**
 * The x87 instruction layer driven through the CPU: programs assembled with nasm run
 * in the flat test machine; expected values are the SDM's (vol. 1 ch. 8: status and tag
 * words, the stack fault, the FNSTENV/FNSAVE images of figures 8-9 to 8-12; vol. 3
 * table 2-2 and 6.15 for #NM and #MF), not our own output.
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Cpu } from './cpu';
import { StopReason } from './bus';
import { CR0_EM, CR0_MP, CR0_NE, CR0_TS, CR0_PE } from './registers';
import { CPUID_FEATURES_EDX } from './execute';
import { flatMachine, runToStop, CODE_BASE, HANDLER_BASE, IDT_BASE, TestBus } from './testing';

const DATA = 0x20000;

const haveNasm = spawnSync('nasm', ['-v']).status === 0;
const describeAsm = haveNasm ? describe : describe.skip;
if (!haveNasm) console.warn('skipped: nasm is not installed');

/** Assembles 32-bit code at CODE_BASE with nasm (cached by content). */
function asm(src: string): Uint8Array {
  const text = `bits 32\norg ${CODE_BASE}\n${src}\n`;
  const hash = crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), 'vpio-x87-test');
  fs.mkdirSync(dir, { recursive: true });
  const bin = path.join(dir, `${hash}.bin`);
  if (!fs.existsSync(bin)) {
    fs.writeFileSync(path.join(dir, `${hash}.asm`), text);
    const r = spawnSync('nasm', ['-f', 'bin', '-o', bin + '.tmp', path.join(dir, `${hash}.asm`)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`nasm: ${r.stderr}`);
    fs.renameSync(bin + '.tmp', bin);
  }
  return new Uint8Array(fs.readFileSync(bin));
}

interface Run { cpu: Cpu; bus: TestBus; why: StopReason; vector: number; dv: DataView }

/**
 * Runs `src` (ending with `out 0xf4, al`); every vector v leads to a HLT at
 * HANDLER_BASE + v, so `vector` names the exception taken (-1: none).
 */
function run(src: string, setup?: (cpu: Cpu) => void, translate = false): Run {
  const { cpu, bus } = flatMachine(asm(src), new Uint8Array(0));
  const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
  for (let v = 0; v < 256; v++) {
    const at = HANDLER_BASE + v;
    dv.setUint32(IDT_BASE + v * 8, (0x08 << 16) | (at & 0xffff), true);
    dv.setUint32(IDT_BASE + v * 8 + 4, (at & 0xffff0000) | 0x8e00, true);
    bus.ram[at] = 0xf4;
  }
  cpu.useTranslator = translate;
  if (translate) cpu.blocks.hotThreshold = 1;
  if (setup) setup(cpu);
  const why = runToStop(cpu, 1e6);
  const e = cpu.eip - 1 - HANDLER_BASE;
  return { cpu, bus, why, vector: e >= 0 && e < 256 && bus.exitCode < 0 ? e : -1, dv };
}

/** Where a label of `src` ended up (the program assembled with its address appended). */
function at(src: string, label: string): number {
  const b = asm(`${src}\ndd ${label}`);
  return new DataView(b.buffer, b.byteOffset).getUint32(b.length - 4, true);
}

const hex80 = (b: Uint8Array, off: number) => Array.from(b.subarray(off, off + 10)).reverse().map((x) => x.toString(16).padStart(2, '0')).join('');
/** 1.0, +0, +inf and the QNaN indefinite as 80-bit images (sign+exponent, then significand), SDM vol. 1, 4.2 and 4.8.3.7. */
const ONE = '3fff8000000000000000', INF = '7fff8000000000000000', INDEF = 'ffffc000000000000000';

describeAsm('x87: the Linux boot probe and CPUID', () => {
  it('FNINIT; FNSTSW AX; FNSTCW gives SW 0 and CW 037F (SDM vol. 1, 8.1.5, FINIT)', () => {
    const r = run(`mov ax, 0x5a5a\nfninit\nfnstsw ax\nout 0xe0, ax\nfnstcw [${DATA}]\nout 0xf4, al`);
    expect(r.vector).toBe(-1);
    expect(r.bus.recorded).toEqual([0]);
    expect(r.dv.getUint16(DATA, true)).toBe(0x037f);
  });

  it('starts from the power-on state: CW 0040, TW 5555 (SDM vol. 3, table 9-1)', () => {
    const r = run(`fnstenv [${DATA}]\nout 0xf4, al`);
    expect(r.dv.getUint16(DATA, true)).toBe(0x0040);
    expect(r.dv.getUint16(DATA + 8, true)).toBe(0x5555);
  });

  it('reports the FPU and CMOV in CPUID.1:EDX, and no MMX, FXSR or SSE', () => {
    expect(CPUID_FEATURES_EDX & 1).toBe(1);
    expect(CPUID_FEATURES_EDX & (1 << 15)).not.toBe(0);
    expect(CPUID_FEATURES_EDX & ((1 << 23) | (1 << 24) | (1 << 25) | (1 << 26))).toBe(0);
  });
});

describeAsm('x87: #NM (SDM vol. 3, table 2-2)', () => {
  const cases: [string, number, string, number][] = [
    ['TS: any escape', CR0_TS, 'fninit', 7],
    ['EM: any escape', CR0_EM, 'fnstsw ax', 7],
    ['TS without MP: FWAIT runs', CR0_TS, 'fwait', -1],
    ['EM with MP: FWAIT runs', CR0_EM | CR0_MP, 'fwait', -1],
    ['TS and MP: FWAIT', CR0_TS | CR0_MP, 'fwait', 7],
    ['MP alone: escapes run', CR0_MP, 'fld1', -1],
  ];
  for (const [name, bits, ins, vector] of cases) {
    it(name, () => {
      const r = run(`${ins}\nout 0xf4, al`, (cpu) => { cpu.cr0 |= bits; });
      expect(r.vector).toBe(vector);
      if (vector >= 0) expect(r.dv.getUint32(r.cpu.reg32[4], true)).toBe(CODE_BASE); // a fault: EIP of the instruction
    });
  }

  it('#NM comes before #MF', () => {
    const src = `fninit\nfldcw [cw]\nfld1\nfldz\nfdivp st1, st0\nmov eax, cr0\nor eax, 8\nmov cr0, eax\nhere: fwait\nout 0xf4, al\ncw: dw 0x037b`;
    const r = run(src, (cpu) => { cpu.cr0 |= CR0_NE | CR0_MP; });
    expect(r.vector).toBe(7);
    expect(r.dv.getUint32(r.cpu.reg32[4], true)).toBe(at(src, 'here'));
  });
});

describeAsm('x87: the stack, tags and the stack fault (SDM vol. 1, 8.1.2, 8.1.7, 8.5.1.1)', () => {
  it('pushes move TOP down, FXCH swaps, FSTP m80 stores and pops', () => {
    const r = run(`fninit\nfldz\nfld1\nfnstsw ax\nout 0xe0, ax\nfxch st1\nfstp tword [${DATA}]\nfstp tword [${DATA + 16}]\nfnstsw ax\nout 0xe0, ax\nout 0xf4, al`);
    expect(r.bus.recorded).toEqual([6 << 11, 0]);
    expect(hex80(r.bus.ram, DATA)).toBe('00000000000000000000');
    expect(hex80(r.bus.ram, DATA + 16)).toBe(ONE);
  });

  it('computes the full tag word from the contents: valid 00, zero 01, special 10, empty 11', () => {
    const r = run(`fninit\nfldz\nfld1\nfld tword [inf]\nfnstenv [${DATA}]\nout 0xf4, al\ninf: dw 0, 0, 0, 0x8000, 0x7fff`);
    expect(r.dv.getUint16(DATA + 4, true)).toBe(5 << 11);
    // R7 = 0 (01), R6 = 1 (00), R5 = inf (10), R0-R4 empty
    expect(r.dv.getUint16(DATA + 8, true)).toBe(0x4bff);
  });

  it('overflow, masked: IE, SF, C1 = 1, the indefinite pushed (ST(0) was R7, now overwritten)', () => {
    const r = run(`fninit\n${'fld1\n'.repeat(9)}fnstsw ax\nout 0xe0, ax\nfstp tword [${DATA}]\nfstp tword [${DATA + 16}]\nout 0xf4, al`);
    expect(r.bus.recorded).toEqual([(7 << 11) | 0x200 | 0x40 | 0x01]);
    expect(hex80(r.bus.ram, DATA)).toBe(INDEF);
    expect(hex80(r.bus.ram, DATA + 16)).toBe(ONE);
  });

  it('underflow, masked: IE, SF, C1 = 0, the indefinite stored and popped', () => {
    const r = run(`fninit\nfld1\nfld1\nfstp st0\nfstp st0\nfstp tword [${DATA}]\nfnstsw ax\nout 0xe0, ax\nout 0xf4, al`);
    expect(r.bus.recorded).toEqual([(1 << 11) | 0x41]);
    expect(hex80(r.bus.ram, DATA)).toBe(INDEF);
  });

  it('underflow, unmasked: nothing changes, ES and B set', () => {
    const r = run(`fninit\nfldcw [cw]\nfadd st0, st1\nfnstsw ax\nout 0xe0, ax\nfnstenv [${DATA}]\nout 0xf4, al\ncw: dw 0x037e`);
    expect(r.bus.recorded).toEqual([0x8000 | 0x80 | 0x41]);
    expect(r.dv.getUint16(DATA + 8, true)).toBe(0xffff);
  });

  it('FFREE empties a register without moving TOP; FINCSTP/FDECSTP move TOP only', () => {
    const r = run(`fninit\nfld1\nfld1\nffree st1\nfincstp\nfnstenv [${DATA}]\nfdecstp\nfdecstp\nfnstsw ax\nout 0xe0, ax\nout 0xf4, al`);
    expect(r.dv.getUint16(DATA + 4, true)).toBe(7 << 11);
    expect(r.dv.getUint16(DATA + 8, true)).toBe(0xcfff); // R6 valid, R7 freed
    expect(r.bus.recorded).toEqual([5 << 11]);
  });

  it('D9 D8+i stores and pops like FSTP but raises no stack fault on an empty ST(0) (as the host x87 does)', () => {
    const r = run(`fninit\ndb 0xd9, 0xd9\nfnstsw ax\nout 0xe0, ax\nfnstenv [${DATA}]\nfld1\ndb 0xd9, 0xd9\nfnstenv [${DATA + 32}]\nout 0xf4, al`);
    expect(r.bus.recorded).toEqual([1 << 11]);
    expect(r.dv.getUint16(DATA + 8, true)).toBe(0xffff);
    expect(r.dv.getUint16(DATA + 32 + 8, true)).toBe(0xfff3); // R1 valid: 1.0 moved to ST(1), then popped
  });

  it('FCHS and FABS flip and clear the sign; the constants push their values', () => {
    const r = run(`fninit\nfld1\nfchs\nfld st0\nfstp tword [${DATA}]\nfabs\nfstp tword [${DATA + 16}]\nfldpi\nfstp tword [${DATA + 32}]\nout 0xf4, al`);
    expect(hex80(r.bus.ram, DATA)).toBe('bfff8000000000000000');
    expect(hex80(r.bus.ram, DATA + 16)).toBe(ONE);
    expect(hex80(r.bus.ram, DATA + 32)).toBe('4000c90fdaa22168c235'); // pi rounded to nearest
  });
});

describeAsm('x87: FNSTENV, FNSAVE, FLDENV, FRSTOR images (SDM vol. 1, figures 8-9 to 8-12)', () => {
  const body = `fninit\nfld1\nlast: fstp dword [${DATA + 0x200}]\n`;

  it('32-bit protected mode: CW, SW, TW, FIP, FCS | FOP << 16, FDP, FDS', () => {
    const src = `${body}fnstenv [${DATA}]\nout 0xf4, al`;
    const r = run(src);
    const d = (i: number) => r.dv.getUint32(DATA + 4 * i, true);
    expect([d(0) & 0xffff, d(1) & 0xffff, d(2) & 0xffff]).toEqual([0x037f, 0, 0xffff]);
    expect(d(3)).toBe(at(src, 'last'));
    expect(d(4)).toBe(0x08 | ((0x100 | 0x1d) << 16)); // D9 1D: FOP = 001 0001 1101
    expect(d(5)).toBe(DATA + 0x200);
    expect(d(6) & 0xffff).toBe(0x10);
  });

  it('16-bit protected mode (operand-size prefix): seven words', () => {
    const src = `${body}o16 fnstenv [${DATA}]\nout 0xf4, al`;
    const r = run(src);
    const w = (i: number) => r.dv.getUint16(DATA + 2 * i, true);
    expect([w(0), w(1), w(2), w(3), w(4), w(5), w(6)]).toEqual([0x037f, 0, 0xffff, at(src, 'last') & 0xffff, 0x08, (DATA + 0x200) & 0xffff, 0x10]);
  });

  it('real-address mode layouts: linear pointers split at bit 16, FOP beside FIP\'s top bits', () => {
    const src = `${body}fnstenv [${DATA}]\no16 fnstenv [${DATA + 0x40}]\nout 0xf4, al`;
    // CR0.PE clear with the flat caches kept (unreal mode) so the same code runs.
    const r = run(src, (cpu) => { cpu.setCr0(cpu.cr0 & ~CR0_PE); });
    const ip = (0x08 << 4) + at(src, 'last'), dp = (0x10 << 4) + DATA + 0x200;
    const d = (i: number) => r.dv.getUint32(DATA + 4 * i, true);
    expect(d(3) & 0xffff).toBe(ip & 0xffff);
    expect(d(4)).toBe(((ip >>> 16) << 12) | 0x11d);
    expect(d(5) & 0xffff).toBe(dp & 0xffff);
    expect(d(6)).toBe((dp >>> 16) << 12);
    const w = (i: number) => r.dv.getUint16(DATA + 0x40 + 2 * i, true);
    expect([w(3), w(4), w(5), w(6)]).toEqual([ip & 0xffff, (((ip >>> 16) & 0xf) << 12) | 0x11d, dp & 0xffff, ((dp >>> 16) & 0xf) << 12]);
  });

  for (const [name, real] of [['protected', false], ['real-address', true]] as const) {
    for (const o16 of ['', 'o16 ']) {
      it(`FLDENV and FRSTOR read back what FNSTENV and FNSAVE wrote: ${name} mode, ${o16 ? '16' : '32'}-bit`, () => {
        const src = `fninit\nfldz\nfld1\nfld tword [inf]\nfld1\nfdiv st0, st3\nfstp dword [${DATA + 0x300}]\n` + // ZE, pointers set
          `${o16}fnsave [${DATA}]\n${o16}frstor [${DATA}]\n${o16}fnsave [${DATA + 0x100}]\n` +
          `${o16}frstor [${DATA}]\n${o16}fnstenv [${DATA + 0x200}]\nout 0xf4, al\ninf: dw 0, 0, 0, 0x8000, 0x7fff`;
        const r = run(src, real ? (cpu) => { cpu.setCr0(cpu.cr0 & ~CR0_PE); } : undefined);
        const len = o16 ? 94 : 108, env = o16 ? 14 : 28;
        const ram = r.bus.ram;
        expect(Array.from(ram.subarray(DATA + 0x100, DATA + 0x100 + len))).toEqual(Array.from(ram.subarray(DATA, DATA + len)));
        expect(Array.from(ram.subarray(DATA + 0x200, DATA + 0x200 + env))).toEqual(Array.from(ram.subarray(DATA, DATA + env)));
        expect(r.dv.getUint16(DATA + (o16 ? 2 : 4), true)).toBe((5 << 11) | 0x04); // TOP 5, ZE (masked: no ES)
      });
    }
  }

  it('FNSAVE stores ST(0)..ST(7) after the environment and reinitialises; FRSTOR brings it all back', () => {
    const src = `fninit\nfldz\nfld1\nfld tword [inf]\nfnsave [${DATA}]\nfnstcw [${DATA + 0x100}]\nfnstsw [${DATA + 0x102}]\nfnstenv [${DATA + 0x180}]\n` +
      `frstor [${DATA}]\nfnstenv [${DATA + 0x140}]\nfstp tword [${DATA + 0x1c0}]\nfstp tword [${DATA + 0x1d0}]\nout 0xf4, al\ninf: dw 0, 0, 0, 0x8000, 0x7fff`;
    const r = run(src);
    const ram = r.bus.ram;
    expect(r.dv.getUint16(DATA + 4, true)).toBe(5 << 11);
    expect(r.dv.getUint16(DATA + 8, true)).toBe(0x4bff);
    expect([hex80(ram, DATA + 28), hex80(ram, DATA + 38), hex80(ram, DATA + 48)]).toEqual([INF, ONE, '00000000000000000000']);
    // after FNSAVE: as after FNINIT
    expect([r.dv.getUint16(DATA + 0x100, true), r.dv.getUint16(DATA + 0x102, true), r.dv.getUint16(DATA + 0x188, true)]).toEqual([0x037f, 0, 0xffff]);
    // after FRSTOR
    expect([r.dv.getUint16(DATA + 0x144, true), r.dv.getUint16(DATA + 0x148, true)]).toEqual([5 << 11, 0x4bff]);
    expect([hex80(ram, DATA + 0x1c0), hex80(ram, DATA + 0x1d0)]).toEqual([INF, ONE]);
  });

  it('FLDENV takes TOP from SW and empties only the registers tagged 11', () => {
    const src = `fninit\nfld1\nfld1\nfldenv [env]\nfnstsw ax\nout 0xe0, ax\nfnstenv [${DATA}]\nout 0xf4, al\n` +
      `env: dd 0x037f, ${6 << 11}, 0x3fff, 0, 0, 0, 0`;
    const r = run(src);
    expect(r.bus.recorded).toEqual([6 << 11]);
    expect(r.dv.getUint16(DATA + 8, true)).toBe(0x3fff); // R6, R7 hold 1.0: valid
  });

  it('a fault in FNSAVE changes nothing (the image is checked before it is written)', () => {
    // The segment limit ends inside the image: #GP(0) with memory and FPU untouched.
    const src = `fninit\nfld1\nmov ax, 0x18\nmov es, ax\nfnsave [es:0xff0]\nout 0xf4, al`;
    const r = run(src, (cpu) => {
      const dv = new DataView((cpu.bus as TestBus).ram.buffer, (cpu.bus as TestBus).ram.byteOffset);
      dv.setUint32(0x1000 + 0x18, 0x0000ffff & 0x0fff, true); // limit 0xfff, base 0
      dv.setUint32(0x1000 + 0x1c, 0x00409200, true);
      cpu.gdtrLimit = 31;
    });
    expect(r.vector).toBe(13);
    expect(r.cpu.fpu.statusWord()).toBe(7 << 11);
    expect(r.bus.ram.subarray(0xff0, 0x1000).every((b) => b === 0)).toBe(true);
  });
});

describeAsm('x87: pending exceptions, #MF and FERR# (SDM vol. 1, 8.6, 8.7; vol. 3, 6.15 #MF)', () => {
  const src = `fninit\nfldcw [cw]\nfld1\nfldz\nfdivp st1, st0\nnop\nfnstsw ax\nhere: fwait\ndone: out 0xf4, al\ncw: dw 0x037b`;

  it('an unmasked exception sets ES and B; the instruction is not completed (ST(1) kept, no pop)', () => {
    const r = run(src, (cpu) => { cpu.cr0 |= CR0_NE; });
    expect(r.cpu.reg16[0]).toBe(0x8000 | (6 << 11) | 0x80 | 0x04);
    expect(r.cpu.fpu.valid).toBe(0xc0);
  });

  it('CR0.NE set: the next waiting instruction raises #MF with its own EIP', () => {
    const r = run(src, (cpu) => { cpu.cr0 |= CR0_NE; });
    expect(r.vector).toBe(16);
    expect(r.dv.getUint32(r.cpu.reg32[4], true)).toBe(at(src, 'here'));
  });

  it('non-waiting instructions (FNSTSW, FNSTENV, FNCLEX) do not raise it; after FNCLEX FWAIT runs', () => {
    const r = run(`fninit\nfldcw [cw]\nfld1\nfldz\nfdivp st1, st0\nfnstsw ax\nfnstcw [${DATA}]\nfnstenv [${DATA + 16}]\nfnclex\nfwait\nfld1\nout 0xf4, al\ncw: dw 0x037b`, (cpu) => { cpu.cr0 |= CR0_NE; });
    expect(r.vector).toBe(-1);
    expect(r.bus.exitCode).toBeGreaterThanOrEqual(0);
  });

  it('CR0.NE clear: FERR# is asserted and the CPU waits on the instruction; with IGNNE# it goes on', () => {
    const { cpu, bus } = flatMachine(asm(src), new Uint8Array([0xf4]));
    const ferr: boolean[] = [];
    cpu.fpu.onFerr = (on) => ferr.push(on);
    cpu.useTranslator = false;
    runToStop(cpu, 1e5);
    expect(ferr).toEqual([true]);
    expect(cpu.halted).toBe(true);
    expect(cpu.eip).toBe(at(src, 'here'));
    expect(bus.exitCode).toBe(-1);
    cpu.fpu.ignne = true; // what the PC's port F0 write does
    cpu.halted = false;
    runToStop(cpu, 1e5);
    expect(bus.exitCode).toBeGreaterThanOrEqual(0);
  });

  it('FLDCW unmasking a flag already set makes it pending', () => {
    const r = run(`fninit\nfld1\nfldz\nfdivp st1, st0\nfldcw [cw]\nhere: fld1\nout 0xf4, al\ncw: dw 0x037b`, (cpu) => { cpu.cr0 |= CR0_NE; });
    expect(r.vector).toBe(16);
  });
});

describeAsm('x87: compares, FCOMI and FCMOVcc (SDM vol. 2, FCOM, FCOMI, FCMOVcc)', () => {
  it('FCOMI sets ZF PF CF and clears OF SF AF; FCMOVB takes when CF is set', () => {
    const src = `fninit\nfld1\nfldz\nmov eax, 0x7fffffff\nadd eax, 1\n` + // OF SF AF set first
      `fcomi st0, st1\npushfd\npop eax\nout 0xe0, eax\nfcmovb st0, st1\nfstp dword [${DATA}]\n` +
      `fldz\nfldz\nfucomip st0, st1\npushfd\npop eax\nout 0xe0, eax\nfnstsw ax\nout 0xe0, ax\nout 0xf4, al`;
    const r = run(src);
    expect((r.bus.recorded[0] as number) & 0x8d5).toBe(0x001); // CF only (OF 800, SF 80, ZF 40, AF 10, PF 4)
    expect(r.dv.getUint32(DATA, true)).toBe(0x3f800000);
    expect((r.bus.recorded[1] as number) & 0x8d5).toBe(0x040);
    expect(r.bus.recorded[2]).toBe(6 << 11); // FUCOMIP popped once: two left
  });

  it('FCOM sets C3 C2 C0 (> 000, < 001, = 100); FCOMPP pops twice; FXAM classes', () => {
    const src = `fninit\nfld1\nfldz\nfcom st1\nfnstsw ax\nout 0xe0, ax\nfcompp\nfnstsw ax\nout 0xe0, ax\n` +
      `fxam\nfnstsw ax\nout 0xe0, ax\nfld1\nfchs\nfxam\nfnstsw ax\nout 0xe0, ax\nout 0xf4, al`;
    const r = run(src);
    expect(r.bus.recorded).toEqual([
      (6 << 11) | 0x100, // 0 < 1: C0
      0x100, // FCOMPP: same compare, TOP back to 0
      0x4100 | (0x0000), // FXAM of an empty register: C3 C0 = 1 1 (C2 0), C1 = sign of R0 (0)
      (7 << 11) | 0x0400 | 0x0200, // -1: normal (C2), C1 = sign
    ]);
  });
});

describeAsm('x87: arithmetic through the library', () => {
  it('Linux check_fpu: (x / y) * y - x is 0 (no FDIV bug), FISTP m32', () => {
    const src = `fninit\nfld qword [x]\nfdiv qword [y]\nfmul qword [y]\nfld qword [x]\nfsubp st1, st0\nfistp dword [${DATA}]\nfwait\nfnstsw ax\nout 0xe0, ax\nout 0xf4, al\n` +
      `x: dq 4195835.0\ny: dq 3145727.0`;
    const r = run(src, (cpu) => { cpu.cr0 |= CR0_NE; });
    expect(r.vector).toBe(-1);
    expect(r.dv.getInt32(DATA, true)).toBe(0);
    expect(r.bus.recorded[0] & 0x3800).toBe(0);
  });

  it('FIADD, FIMUL m16, FST m64, FIST m16 and FISTP m64 give the integer results', () => {
    const src = `fninit\nfild dword [a]\nfiadd dword [a]\nfimul word [b]\nfst qword [${DATA}]\nfist word [${DATA + 8}]\nfistp qword [${DATA + 16}]\nout 0xf4, al\na: dd 1000\nb: dw -3`;
    const r = run(src);
    expect(r.dv.getFloat64(DATA, true)).toBe(-6000);
    expect(r.dv.getInt16(DATA + 8, true)).toBe(-6000);
    expect(r.dv.getBigInt64(DATA + 16, true)).toBe(-6000n);
  });

  it('the reverse register forms: DC E8+i is ST(i) - ST(0), DE F0+i is ST(0) / ST(i) then pop', () => {
    const src = `fninit\nfld dword [two]\nfld dword [eight]\nfsub st1, st0\nfstp dword [${DATA}]\nfst dword [${DATA + 4}]\n` +
      `fld dword [eight]\nfdivrp st1, st0\nfstp dword [${DATA + 8}]\nout 0xf4, al\ntwo: dd 2.0\neight: dd 8.0`;
    const r = run(src);
    expect(r.dv.getFloat32(DATA, true)).toBe(8);
    expect(r.dv.getFloat32(DATA + 4, true)).toBe(-6); // 2 - 8
    expect(r.dv.getFloat32(DATA + 8, true)).toBe(Math.fround(8 / -6));
  });

  it('FPREM and FPREM1: the remainder, C0 C3 C1 = Q2 Q1 Q0, C2 clear when complete (SDM vol. 2, FPREM)', () => {
    const src = `fninit\nfild dword [three]\nfild dword [ten]\nfprem\nfnstsw ax\nout 0xe0, ax\nfistp dword [${DATA}]\n` +
      `fild dword [eleven]\nfprem1\nfnstsw ax\nout 0xe0, ax\nfistp dword [${DATA + 4}]\n` +
      `fild dword [eleven]\nfprem\nfnstsw ax\nout 0xe0, ax\nfistp dword [${DATA + 8}]\nout 0xf4, al\n` +
      `three: dd 3\nten: dd 10\neleven: dd 11`;
    const r = run(src);
    // 10 = 3*3 + 1: q = 011; 11 = 4*3 - 1 (nearest): q = 100; 11 = 3*3 + 2 (chopped): q = 011
    expect(r.bus.recorded.map((w) => w & 0x4700)).toEqual([0x4200, 0x0100, 0x4200]);
    expect([r.dv.getInt32(DATA, true), r.dv.getInt32(DATA + 4, true), r.dv.getInt32(DATA + 8, true)]).toEqual([1, -1, 2]);
  });

  it('FXTRACT leaves the significand in ST(0) over the exponent; FSCALE scales by ST(1) truncated', () => {
    const src = `fninit\nfild dword [ten]\nfxtract\nfstp dword [${DATA}]\nfstp dword [${DATA + 4}]\n` +
      `fld dword [m35]\nfld dword [f15]\nfscale\nfstp dword [${DATA + 8}]\nout 0xf4, al\n` +
      `ten: dd 10\nm35: dd -3.5\nf15: dd 1.5`;
    const r = run(src);
    expect([r.dv.getFloat32(DATA, true), r.dv.getFloat32(DATA + 4, true), r.dv.getFloat32(DATA + 8, true)]).toEqual([1.25, 3, 1.5 / 8]);
  });

  it('FBSTP stores packed BCD (sign in byte 9) and FBLD reads it back', () => {
    const src = `fninit\nfild dword [n]\nfbstp [${DATA}]\nfbld [${DATA}]\nfistp dword [${DATA + 16}]\nout 0xf4, al\nn: dd -1234`;
    const r = run(src);
    expect(Array.from(r.bus.ram.subarray(DATA, DATA + 10))).toEqual([0x34, 0x12, 0, 0, 0, 0, 0, 0, 0, 0x80]);
    expect(r.dv.getInt32(DATA + 16, true)).toBe(-1234);
  });

  it('a denormal memory operand: DE after IE in priority (SDM vol. 1, 8.7); unmasked DE stops the operation', () => {
    const src = `fninit\nfadd dword [den]\nfnstsw ax\nout 0xe0, ax\n` + // stack underflow: IE SF, no DE
      `fninit\nfld1\nfadd dword [den]\nfnstsw ax\nout 0xe0, ax\n` + // DE and PE (1 + 2^-149 rounds to 1)
      `fninit\nfld dword [snan]\nfadd dword [den]\nfnstsw ax\nout 0xe0, ax\n` + // SNaN in ST(0): IE only
      `fninit\nfldcw [cw]\nfld1\nfadd dword [den]\nfnstsw ax\nout 0xe0, ax\nfnclex\nfstp dword [${DATA}]\nout 0xf4, al\n` +
      `den: dd 1\nsnan: dd 0x7f800001\ncw: dw 0x037d`;
    const r = run(src);
    expect(r.bus.recorded).toEqual([0x41, (7 << 11) | 0x22, (7 << 11) | 0x01, 0x8000 | (7 << 11) | 0x80 | 0x02]);
    expect(r.dv.getFloat32(DATA, true)).toBe(1);
  });

  it('an SNaN memory operand against a QNaN ST(0): the QNaN is the result (SDM vol. 1, table 4-7), IE set', () => {
    const src = `fninit\nfld tword [qnan]\nfadd dword [snan]\nfnstsw ax\nout 0xe0, ax\nfstp tword [${DATA}]\nout 0xf4, al\n` +
      `snan: dd 0x7fbfffff\nqnan: dw 0, 0, 0, 0xc001, 0x7fff`;
    const r = run(src);
    expect(r.bus.recorded).toEqual([(7 << 11) | 0x01]);
    expect(hex80(r.bus.ram, DATA)).toBe('7fffc001000000000000');
  });

  it('a denormal m64 divided by zero: ZE without DE (as the host x87 reports it)', () => {
    const src = `fninit\nfldz\nfdivr qword [den]\nfnstsw ax\nout 0xe0, ax\nout 0xf4, al\nden: dq 1`;
    expect(run(src).bus.recorded).toEqual([(7 << 11) | 0x04]);
  });

  it('FCOMI stopped by an unmasked IE clears OF SF AF and leaves ZF PF CF', () => {
    const src = `fninit\nfldcw [cw]\nfld1\nfld tword [snan]\nmov eax, 0x7fffffff\nadd eax, 1\nstc\n` + // OF SF AF PF CF set, ZF clear
      `fcomi st0, st1\npushfd\npop eax\nout 0xe0, eax\nout 0xf4, al\ncw: dw 0x037e\nsnan: dw 1, 0, 0, 0x8000, 0x7fff`;
    const r = run(src);
    expect(r.vector).toBe(-1);
    expect((r.bus.recorded[0] as number) & 0x8d5).toBe(0x005);
  });

  it('the transcendentals\' stack effects: FPTAN pushes 1.0 (or the NaN again), FSINCOS leaves cos over sin, FPATAN and FYL2X pop', () => {
    const src = `fninit\nfldz\nfptan\nfstp dword [${DATA}]\nfstp dword [${DATA + 4}]\n` +
      `fldz\nfsincos\nfstp dword [${DATA + 8}]\nfstp dword [${DATA + 12}]\n` +
      `fld1\nfld1\nfpatan\nfstp tword [${DATA + 16}]\n` +
      `fild dword [three]\nfild dword [eight]\nfyl2x\nfistp dword [${DATA + 32}]\n` +
      `fld tword [qnan]\nfptan\nfstp tword [${DATA + 48}]\nfstp tword [${DATA + 64}]\nfnstsw ax\nout 0xe0, ax\n` +
      `fld tword [big]\nfsin\nfnstsw ax\nout 0xe0, ax\nfstp tword [${DATA + 80}]\nout 0xf4, al\n` +
      `three: dd 3\neight: dd 8\nqnan: dw 0, 0, 0, 0xc001, 0x7fff\nbig: dw 0, 0, 0, 0x8000, 0x403e`;
    const r = run(src);
    const f32 = (o: number) => r.dv.getFloat32(DATA + o, true);
    expect([f32(0), f32(4), f32(8), f32(12)]).toEqual([1, 0, 1, 0]);
    expect(hex80(r.bus.ram, DATA + 16)).toBe('3ffec90fdaa22168c235'); // pi/4, nearest
    expect(r.dv.getInt32(DATA + 32, true)).toBe(9); // 3 * log2(8)
    expect([hex80(r.bus.ram, DATA + 48), hex80(r.bus.ram, DATA + 64)]).toEqual(['7fffc001000000000000', '7fffc001000000000000']);
    // PE stays from FPATAN; 2^63 is out of FSIN's range: C2 = 1 and ST(0) unchanged (SDM vol. 2, FSIN)
    expect(r.bus.recorded).toEqual([0x20, (7 << 11) | 0x400 | 0x20]);
    expect(hex80(r.bus.ram, DATA + 80)).toBe('403e8000000000000000');
  });

  it('runs the same, with the same instruction count, through the block translator', () => {
    const src = `fninit\nfldz\nmov ecx, 50\nlp: fadd dword [one]\ndec ecx\njnz lp\nfistp dword [${DATA}]\nout 0xf4, al\none: dd 1.0`;
    const a = run(src, undefined, false), b = run(src, undefined, true);
    expect(a.dv.getInt32(DATA, true)).toBe(50);
    expect(b.dv.getInt32(DATA, true)).toBe(50);
    expect(b.cpu.instructions).toBe(a.cpu.instructions);
    expect(b.cpu.cycles).toBe(a.cpu.cycles);
  });
});
