/**
 * Virtual-8086 mode (SDM vol. 3, chapter 20; vol. 2, IRET, INT n, PUSHF, POPF, IN),
 * without CR4.VME: entered by IRETD at CPL 0 with VM in the frame, segments as in real
 * mode (selector << 4, under paging as user accesses), the IOPL-sensitive instructions
 * raising #GP(0) below IOPL 3, the I/O permission bitmap consulted whatever IOPL is,
 * and interrupts to a ring-0 non-conforming segment with GS, FS, DS and ES pushed
 * (at the gate's size) and null in the handler. Run interpreted and translated.
 *
 * Machine code is given as bytes with its assembly beside it (nasm). The handler
 * records what is on its stack, from the top, until the ring-0 stack is empty.
 */
import { flatMachine, hex, putDescriptor, runToStop, IDT_BASE, CODE_BASE } from './testing';

const TSS = 0x4000;
const V86_CODE = 0x20000; // CS 0x2000, IP 0
const H16 = 0x3100;

function le32(v: number): string {
  return [0, 8, 16, 24].map((s) => ((v >>> s) & 0xff).toString(16).padStart(2, '0')).join('');
}

/**
 * (bits 32) [paging on] ; mov ax, 0x18 ; ltr ax ; push dword 0 (GS) ; push dword 0 (FS)
 * push dword 0x1234 (DS) ; push dword 0x5678 (ES) ; push dword 0x3000 (SS) ; push dword 0x1000 (ESP)
 * push dword EFLAGS ; push dword 0x2000 (CS) ; push dword 0 (EIP) ; iretd
 */
function enterV86(eflags: number, paging = false): string {
  // mov eax, 0x5000 ; mov cr3, eax ; mov eax, cr0 ; or eax, 0x80000000 ; mov cr0, eax
  const pg = paging ? 'b8005000000f22d80f20c00d000000800f22c0' : '';
  return pg + '66b818000f00d86a006a0068341200006878560000680030000068001000006' + '8' + le32(eflags) + '68002000006a00cf';
}

/**
 * The ring-0 handler of every vector: mov eax, ds ; out 0xe0, eax
 * l: pop eax ; out 0xe0, eax ; cmp esp, 0x80000 ; jne l ; mov al, 0 ; out 0xf4, al
 */
const HANDLER = '8cd8e7e058e7e081fc0000080075f5b000e6f4';
/** The same for a 16-bit gate: l: pop ax ; movzx eax, ax ; out 0xe0, eax ; cmp esp, 0x80000 ; jne l ; ... */
const HANDLER16 = '66580fb7c0e7e081fc0000080075f1b000e6f4';

interface Setup { eflags: number; v86: string; paging?: boolean; openPort?: number }

function run({ eflags, v86, paging = false, openPort = -1 }: Setup): { recorded: number[]; ram: Uint8Array }[] {
  return [false, true].map((translate) => {
    const { cpu, bus } = flatMachine(hex(enterV86(eflags, paging)), hex(HANDLER));
    const ram = bus.ram;
    const dv = new DataView(ram.buffer, ram.byteOffset);
    // 0x18: a 32-bit TSS at TSS with an I/O bitmap of 0x20 bytes, every port closed
    // unless `openPort`. 0x20: ring-3 code; 0x28: conforming ring-0 code.
    putDescriptor(ram, 0x18, TSS, 0x88, 0x89, false, false);
    putDescriptor(ram, 0x20, 0, 0xfffff, 0xfa, true, true);
    putDescriptor(ram, 0x28, 0, 0xfffff, 0x9e, true, true);
    cpu.gdtrLimit = 0x3f;
    dv.setUint32(TSS + 4, 0x80000, true);
    dv.setUint16(TSS + 8, 0x10, true);
    dv.setUint16(TSS + 0x66, 0x68, true);
    ram.fill(0xff, TSS + 0x68, TSS + 0x89);
    if (openPort >= 0) ram[TSS + 0x68 + (openPort >> 3)] &= ~(1 << (openPort & 7));
    // Vector 0x41 to ring-3 code, 0x42 to conforming code, 0x43 a 16-bit interrupt gate.
    dv.setUint16(IDT_BASE + 0x41 * 8 + 2, 0x20, true);
    dv.setUint16(IDT_BASE + 0x42 * 8 + 2, 0x28, true);
    dv.setUint32(IDT_BASE + 0x43 * 8, (0x08 << 16) | H16, true);
    dv.setUint32(IDT_BASE + 0x43 * 8 + 4, 0xe600, true);
    ram.set(hex(HANDLER16), H16);
    ram.set(hex(v86), V86_CODE);
    if (paging) {
      // Identity-mapped, user-writable, except linear page 0x12 -> physical 0x40000.
      dv.setUint32(0x5000, 0x6007, true);
      for (let i = 0; i < 256; i++) dv.setUint32(0x6000 + i * 4, (i === 0x12 ? 0x40000 : i << 12) | 7, true);
    }
    cpu.useTranslator = translate;
    cpu.blocks.hotThreshold = 1;
    runToStop(cpu);
    return { recorded: bus.recorded, ram };
  });
}

/** The V86 part of a ring-0 frame as the handler records it: ESP, SS, ES, DS, FS, GS. */
const OUTER = [0x1000, 0x3000, 0x5678, 0x1234, 0, 0];

describe('virtual-8086 mode', () => {
  it('IRETD enters it; segments are selector << 4; IRET at IOPL 3 keeps IOPL; INT n reaches ring 0 with the segments pushed and nulled', () => {
    // (bits 16) mov word [0x10], 0xbeef ; pushfd ; pop eax ; mov [0x20], eax
    // push word 0 ; push cs ; push word after ; iret ; after: pushf ; pop ax ; mov [0x30], ax ; int 0x40
    for (const { recorded, ram } of run({ eflags: 0x23002, v86: 'c7061000efbe669c665866a320006a000e681500cf9c58a33000cd40' })) {
      const dv = new DataView(ram.buffer, ram.byteOffset);
      expect(dv.getUint16(0x12350, true)).toBe(0xbeef); // DS 0x1234: linear 0x12340 + 0x10
      expect(dv.getUint32(0x12360, true)).toBe(0x3002); // PUSHFD pushes VM clear
      expect(dv.getUint16(0x12370, true)).toBe(0x3002); // the IRET's flags image had IOPL 0
      // DS in the handler, then EIP (after the INT), CS, EFLAGS (VM set), ESP, SS, ES, DS, FS, GS.
      expect(recorded).toEqual([0, 0x1c, 0x2000, 0x23002, ...OUTER]);
    }
  });

  it('addresses through paging as user accesses', () => {
    // mov word [0x10], 0xbeef ; int 0x40
    for (const { recorded, ram } of run({ eflags: 0x23002, v86: 'c7061000efbecd40', paging: true })) {
      expect(ram[0x40350] | (ram[0x40351] << 8)).toBe(0xbeef); // linear 0x12350 is in page 0x12
      expect(ram[0x12350]).toBe(0);
      expect(recorded).toEqual([0, 8, 0x2000, 0x23002, ...OUTER]);
    }
  });

  const sensitive: [string, string][] = [
    ['cli', 'fa'], ['sti', 'fb'], ['pushf', '9c'], ['pushfd', '669c'], ['popf', '9d'], ['popfd', '669d'],
    ['int 0x40', 'cd40'], ['iret', 'cf'],
  ];
  for (const [name, code] of sensitive) {
    it(`${name} below IOPL 3 raises #GP(0) at the instruction`, () => {
      for (const { recorded } of run({ eflags: 0x20002, v86: code })) {
        expect(recorded).toEqual([0, 0 /* error code */, 0, 0x2000, 0x20002, ...OUTER]);
      }
    });
  }

  it('INT3 is not IOPL-sensitive: it goes through its gate at IOPL 0', () => {
    for (const { recorded } of run({ eflags: 0x20002, v86: 'cc' })) {
      expect(recorded).toEqual([0, 1, 0x2000, 0x20002, ...OUTER]);
    }
  });

  it('IN consults the I/O bitmap even at IOPL 3: a closed port is #GP(0)', () => {
    // in al, 0x64
    for (const { recorded } of run({ eflags: 0x23002, v86: 'e464' })) {
      expect(recorded).toEqual([0, 0, 0, 0x2000, 0x23002, ...OUTER]);
    }
  });

  it('IN to a port the bitmap opens succeeds at IOPL 0', () => {
    // in al, 0x64 ; int3
    for (const { recorded } of run({ eflags: 0x20002, v86: 'e464cc', openPort: 0x64 })) {
      expect(recorded).toEqual([0, 3, 0x2000, 0x20002, ...OUTER]);
    }
  });

  it('an interrupt to ring-3 or conforming code is #GP with that selector', () => {
    for (const { recorded } of run({ eflags: 0x23002, v86: 'cd41' })) {
      expect(recorded).toEqual([0, 0x20, 0, 0x2000, 0x23002, ...OUTER]);
    }
    for (const { recorded } of run({ eflags: 0x23002, v86: 'cd42' })) {
      expect(recorded).toEqual([0, 0x28, 0, 0x2000, 0x23002, ...OUTER]);
    }
  });

  it('a 16-bit gate pushes the frame and the segments as words', () => {
    for (const { recorded } of run({ eflags: 0x23002, v86: 'cd43' })) {
      expect(recorded).toEqual([2, 0x2000, 0x3002, ...OUTER]);
    }
  });

  it('ARPL, LAR and SLDT are not recognized: #UD', () => {
    // arpl ax, bx ; lar ax, bx ; sldt ax
    for (const code of ['63d8', '0f02c3', '0f00c0']) {
      for (const { recorded } of run({ eflags: 0x23002, v86: code })) {
        expect(recorded).toEqual([0, 0, 0x2000, 0x23002, ...OUTER]);
      }
    }
  });

  it('CR4.VME is not offered: CPUID leaf 1 does not report VME and setting it is #GP(0)', () => {
    // mov eax, 1 ; cpuid ; mov eax, edx ; and eax, 2 ; out 0xe0, eax
    // mov eax, cr4 ; or eax, 1 ; mov cr4, eax (#GP(0)) ; mov al, 0 ; out 0xf4, al
    // handler: pop eax ; out 0xe0, eax ; pop eax ; out 0xe0, eax ; exit
    for (const translate of [false, true]) {
      const { cpu, bus } = flatMachine(hex('b8010000000fa289d083e002e7e00f20e083c8010f22e0b000e6f4'), hex('58e7e058e7e0b000e6f4'));
      cpu.useTranslator = translate;
      runToStop(cpu);
      expect(bus.recorded).toEqual([0, 0, CODE_BASE + 20]);
    }
  });
});
