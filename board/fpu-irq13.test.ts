/**
 * The PC's legacy x87 error path (CR0.NE clear, MS-DOS compatibility mode; SDM vol. 1,
 * 8.7.2 and appendix D.2): an unmasked exception pending at a waiting instruction
 * asserts FERR#, which the chipset latches as IRQ 13 (slave PIC input 5); the CPU waits
 * on the instruction, takes the interrupt, and the handler's write to port 0xF0 clears
 * the latch (and asserts IGNNE#). After IRET the instruction runs again.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Pc } from './pc';
import { multibootElf } from './testing-elf';
import { tempDir } from '../test/tmp';

const haveNasm = spawnSync('nasm', ['-v']).status === 0;
const describeAsm = haveNasm ? describe : describe.skip;

function asm(src: string): number[] {
  const dir = tempDir('vpio-irq13-');
  fs.writeFileSync(path.join(dir, 'a.asm'), `bits 32\n${src}\n`);
  const r = spawnSync('nasm', ['-f', 'bin', '-o', path.join(dir, 'a.bin'), path.join(dir, 'a.asm')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const out = Array.from(fs.readFileSync(path.join(dir, 'a.bin')));
  return out;
}

/** Runs the program with `handler` at vector 0x2D (IRQ 13); returns the exit value (EBX, the handler's count). */
function runWith(handler: string): { value: number; cycles: number } {
  const code = asm(`
    mov esp, 0x180000
    lidt [0x102000]
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, 0xfb
    out 0x21, al
    mov al, 0xdf
    out 0xa1, al
    xor ebx, ebx
    fninit
    fldcw [0x180100]
    fld1
    fldz
    fdivp st1, st0      ; 1/0 with ZE unmasked: pending
    sti
    fwait               ; FERR#, IRQ 13, and again after IRET
    fld1                ; a waiting instruction: the error no longer stops anything
    mov eax, ebx
    out 0xf4, al`);
  const pc = new Pc({ memoryBytes: 16 << 20 });
  pc.boot(multibootElf(code, { bss: 0x3000 }), 'k');
  const dv = new DataView(pc.ram.buffer, pc.ram.byteOffset);
  dv.setUint16(0x180100, 0x037b, true);
  dv.setUint16(0x102000, 0x7ff, true); dv.setUint32(0x102002, 0x102100, true);
  dv.setUint32(0x102100 + 0x2d * 8, (0x08 << 16) | 0x2900, true); dv.setUint32(0x102104 + 0x2d * 8, 0x00108e00, true);
  pc.ram.set(asm(handler), 0x102900);
  dv.setUint32(0x103008, 0x0000ffff, true); dv.setUint32(0x10300c, 0x00cf9a00, true);
  pc.cpu.gdtrBase = 0x103000; pc.cpu.gdtrLimit = 15;
  const r = pc.run(1e8);
  expect(r.kind).toBe('exit');
  return { value: (r as { value: number }).value, cycles: pc.cpu.cycles };
}

describeAsm('FERR# and IRQ 13 on the PC (CR0.NE clear)', () => {
  it('the handler that writes port 0xF0 and clears the exception (FNCLEX) runs once', () => {
    expect(runWith('inc ebx\nxor al, al\nout 0xf0, al\nfnclex\nmov al, 0x20\nout 0xa0, al\nout 0x20, al\niret').value).toBe(1);
  });

  it('without FNCLEX, the 0xF0 write alone (IGNNE#) lets the waiting instructions go on', () => {
    expect(runWith('inc ebx\nxor al, al\nout 0xf0, al\nmov al, 0x20\nout 0xa0, al\nout 0x20, al\niret').value).toBe(1);
  });
});
