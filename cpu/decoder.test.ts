/**
 * The CPU's decoding against an independent decoder, iced-x86, over every opcode of
 * the one-byte and 0F maps, all 256 ModRM bytes (with SIB bytes that exercise the
 * no-base and ESP-base forms), with and without the 0x66 and 0x67 prefixes:
 *
 * - an instruction iced decodes as a P6-class integer or x87 instruction must not raise
 *   #UD here, and when it runs in place (no fault, no control transfer elsewhere) EIP
 *   must advance by exactly iced's length;
 * - an instruction of another extension (MMX, SSE, SSE3's FISTTP, SYSENTER...) must
 *   raise #UD (CPUID reports none of them);
 * - bytes iced calls invalid must raise #UD.
 */
import * as iced from 'iced-x86';
import { Cpu } from './cpu';
import { flatMachine, CODE_BASE, HANDLER_BASE, IDT_BASE } from './testing';

/** The CPUID features of a Pentium Pro-class CPU, as iced names them: integer and x87 (FSETPM is a no-op since the 387). */
const P6_INTEGER = new Set(['INTEL8086', 'INTEL8086_ONLY', 'INTEL186', 'INTEL286', 'INTEL386', 'INTEL486', 'CPUID', 'CMOV', 'CX8', 'TSC', 'MSR', 'MULTIBYTENOP', 'PAUSE', 'FPU', 'FPU287', 'FPU387']);
/** Valid instructions whose job is to raise #UD, or that raise it outside a mode we do not have. */
const UD_BY_DEFINITION = new Set(['Ud0', 'Ud1', 'Ud2', 'Rsm']);
/** Software interrupts raise their vector (6 for INT 6) on purpose. */
const RAISES_A_VECTOR = new Set(['Int', 'Int1', 'Int3', 'Into', 'Bound']);

const ICED_FEATURE = iced.CpuidFeature as unknown as Record<number, string>;
const ICED_MNEMONIC = iced.Mnemonic as unknown as Record<number, string>;

function decode(bytes: Uint8Array): { length: number; invalid: boolean; features: string[]; mnemonic: string; straight: boolean } {
  const d = new iced.Decoder(32, bytes, iced.DecoderOptions.None);
  const ins = d.decode();
  const r = {
    length: ins.length,
    invalid: ins.code === iced.Code.INVALID,
    features: Array.from(ins.cpuidFeatures()).map((f) => ICED_FEATURE[f as number]),
    mnemonic: ICED_MNEMONIC[ins.mnemonic as number],
    // Only straight-line instructions can be measured by where EIP ends up.
    straight: ins.flowControl === iced.FlowControl.Next,
  };
  ins.free();
  d.free();
  return r;
}

describe('instruction decoding agrees with iced-x86', () => {
  const { cpu, bus } = flatMachine(new Uint8Array(0), new Uint8Array(0));
  const ram = bus.ram;
  const dv = new DataView(ram.buffer, ram.byteOffset);
  // Each vector gets its own handler address (a HLT), so EIP after a fault names it.
  for (let v = 0; v < 256; v++) {
    const at = HANDLER_BASE + v;
    dv.setUint32(IDT_BASE + v * 8, (0x08 << 16) | (at & 0xffff), true);
    dv.setUint32(IDT_BASE + v * 8 + 4, (at & 0xffff0000) | 0xee00, true);
    ram[at] = 0xf4;
  }
  const idt = ram.slice(0, 0x4000);

  /** Runs one instruction; returns the vector it raised, or -1 and how far EIP moved. */
  function runOne(bytes: Uint8Array): { vector: number; advanced: number } {
    ram.set(idt.subarray(0, 0x4000), 0);
    ram.fill(0, CODE_BASE, CODE_BASE + 32);
    ram.set(bytes, CODE_BASE);
    (cpu as Cpu).reset();
    cpu.enterFlat32(CODE_BASE);
    cpu.gdtrBase = 0x1000; cpu.gdtrLimit = 23;
    cpu.idtrBase = IDT_BASE; cpu.idtrLimit = 0x7ff;
    for (let r = 0; r < 8; r++) cpu.reg32[r] = 0x40000 + r * 0x100;
    cpu.reg32[4] = 0x80000;
    cpu.useTranslator = false;
    cpu.run(1);
    const eip = cpu.eip;
    if (eip >= HANDLER_BASE && eip < HANDLER_BASE + 256) return { vector: eip - HANDLER_BASE, advanced: -1 };
    return { vector: -1, advanced: eip - CODE_BASE };
  }

  const forms: Uint8Array[] = [];
  const SIBS = [0x24, 0x25, 0xe5, 0x9c];
  for (const prefix of [[], [0x66], [0x67]]) {
    for (const page of [[], [0x0f]]) {
      for (let op = 0; op < 256; op++) {
        const head = [...prefix, ...page, op];
        if (page.length === 0 && [0x0f, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3].includes(op)) continue;
        for (let m = 0; m < 256; m++) {
          const sibs = (m & 7) === 4 && m < 0xc0 ? SIBS : [0x00];
          for (const sib of sibs) {
            // Displacements and immediates are zero: relative branches land on the next instruction.
            const bytes = new Uint8Array(16);
            bytes.set([...head, m, sib]);
            forms.push(bytes);
          }
        }
      }
    }
  }

  it(`over ${forms.length} encodings`, () => {
    const problems: string[] = [];
    let compared = 0;
    for (const bytes of forms) {
      const ref = decode(bytes);
      const ours = runOne(bytes);
      const hexBytes = Buffer.from(bytes.subarray(0, Math.max(ref.length, 4))).toString('hex');
      // 0F 0D (AMD's PREFETCHW) and 0F 18 (SSE's PREFETCHh) came after the P6, which
      // raises #UD for both; iced calls their unused forms reserved NOPs of later CPUs.
      const body = bytes.subarray(bytes[0] === 0x66 || bytes[0] === 0x67 ? 1 : 0);
      const notOnP6 = body[0] === 0x0f && (body[1] === 0x0d || body[1] === 0x18);
      // 0F 19-1F is the hint-NOP space: what later CPUs put there (CLDEMOTE, ENDBR...)
      // is defined to run as a NOP on older ones.
      const hintNop = body[0] === 0x0f && body[1] >= 0x19 && body[1] <= 0x1f;
      const p6 = !ref.invalid && !notOnP6 && (hintNop || ref.features.every((f) => P6_INTEGER.has(f)));
      if (ref.invalid) {
        if (ours.vector !== 6) problems.push(`${hexBytes}: iced says invalid, we ${ours.vector >= 0 ? `raised vector ${ours.vector}` : `ran ${ours.advanced} bytes`}`);
      } else if (p6) {
        if (UD_BY_DEFINITION.has(ref.mnemonic) || RAISES_A_VECTOR.has(ref.mnemonic)) continue;
        if (ours.vector === 6) problems.push(`${hexBytes}: ${ref.mnemonic} (${ref.features.join(',')}) raised #UD here`);
        else if (ref.straight && ours.vector < 0 && ours.advanced >= 0 && ours.advanced <= 15) {
          compared++;
          if (ours.advanced !== ref.length) problems.push(`${hexBytes}: ${ref.mnemonic}: iced length ${ref.length}, ours ${ours.advanced}`);
        }
      } else if (ours.vector !== 6) {
        problems.push(`${hexBytes}: ${ref.mnemonic} needs ${ref.features.join(',')}, which CPUID does not report, but it did not raise #UD`);
      }
    }
    expect(problems.slice(0, 30)).toEqual([]);
    expect(compared).toBeGreaterThan(forms.length / 3);
  });
});
