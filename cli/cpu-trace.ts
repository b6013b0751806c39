/**
 * `--trace cpu`: one line per instruction: cycle, VM, CS:EIP, the bytes, the disassembly
 * (iced-x86, NASM syntax) and the registers it changed. Tracing makes the CPU interpret
 * every instruction (see Cpu.tracer); nothing of it runs when the kind is off.
 */
import * as iced from 'iced-x86';
import { Cpu } from '../cpu/cpu';
import { CS } from '../cpu/registers';

const NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const hex = (v: number, w: number) => (v >>> 0).toString(16).padStart(w, '0');

export function cpuTracer(out: (line: string) => void, prefix: string): Cpu['tracer'] {
  const before = new Int32Array(8);
  let eflags = 0, eip = 0, cs = 0, cycle = 0, text = '', bytes = '';
  const formatter = new iced.Formatter(iced.FormatterSyntax.Nasm);
  return {
    before(cpu: Cpu) {
      cycle = cpu.cycles;
      eip = cpu.eip >>> 0;
      cs = cpu.sreg[CS];
      before.set(cpu.reg32);
      eflags = cpu.getEflags();
      const code = new Uint8Array(15);
      let n = 0;
      for (; n < 15; n++) {
        const b = cpu.peekLinear8((cpu.segBase[CS] + eip + n) >>> 0);
        if (b < 0) break;
        code[n] = b;
      }
      const decoder = new iced.Decoder(cpu.csD32 ? 32 : 16, code.subarray(0, n), iced.DecoderOptions.None);
      decoder.ip = BigInt(eip);
      const instr = decoder.decode();
      text = instr.isInvalid ? '(bad)' : formatter.format(instr);
      bytes = Array.from(code.subarray(0, instr.isInvalid ? 1 : instr.length), (b) => hex(b, 2)).join('');
      instr.free();
      decoder.free();
    },
    after(cpu: Cpu) {
      const changed: string[] = [];
      for (let r = 0; r < 8; r++) if (cpu.reg32[r] !== before[r]) changed.push(`${NAMES[r]}=${hex(cpu.reg32[r], 8)}`);
      const f = cpu.getEflags();
      if (f !== eflags) changed.push(`eflags=${hex(f, 8)}`);
      out(`${cycle} ${prefix}cpu ${hex(cs, 4)}:${hex(eip, 8)} ${bytes.padEnd(16)} ${text.padEnd(32)} ${changed.join(' ')}`.trimEnd());
    },
  };
}
