/**
 * Hardware task switching (SDM vol. 3, 7.3; vol. 2, JMP, CALL, INT n, IRET): the TSS
 * formats, the busy bits, NT and the back link, CR0.TS, the LDT, task gates in the GDT
 * and the IDT (an exception's error code pushed in the new task), and the faults of
 * the checks. Run interpreted and translated.
 *
 * Task A (TSS 0x18 at 0x4000, the one LTR loads) runs at CODE_BASE; task B (TSS 0x20
 * at 0x4100, 32-bit) at 0x11000; task C (TSS 0x30 at 0x4200, 16-bit) at 0x5000.
 * 0x28 is a task gate to B, 0x38 an LDT, 0x40 a 32-bit TSS whose limit is too small,
 * 0x48 a 16-bit stack segment.
 * Machine code is given as bytes with its assembly beside it (nasm, bits 32).
 */
import { flatMachine, hex, putDescriptor, runToStop, CODE_BASE, GDT_BASE, IDT_BASE } from './testing';

const TSS_A = 0x4000, TSS_B = 0x4100, TSS_C = 0x4200, LDT = 0x4300;
const B_CODE = 0x11000, C_CODE = 0x5000;

interface Run { recorded: number[]; dv: DataView }

interface Opts {
  handler?: string; gpTaskGate?: boolean; dfTaskGate?: boolean; cCode?: string;
  /** Changes to the machine after the standard setup (DataView over RAM). */
  setup?: (dv: DataView, ram: Uint8Array) => void;
}

function run(code: string, bCode: string, opts: Opts = {}): Run[] {
  return [false, true].map((translate) => {
    const { cpu, bus } = flatMachine(hex(code), opts.handler ? hex(opts.handler) : undefined);
    const ram = bus.ram;
    const dv = new DataView(ram.buffer, ram.byteOffset);
    putDescriptor(ram, 0x18, TSS_A, 0x67, 0x89, false, false);
    putDescriptor(ram, 0x20, TSS_B, 0x67, 0x89, false, false);
    dv.setUint32(GDT_BASE + 0x28, 0x20 << 16, true); // task gate to 0x20, DPL 0
    dv.setUint32(GDT_BASE + 0x2c, 0x8500, true);
    putDescriptor(ram, 0x30, TSS_C, 0x2b, 0x81, false, false);
    putDescriptor(ram, 0x38, LDT, 0xf, 0x82, false, false);
    putDescriptor(ram, 0x40, TSS_B, 0x60, 0x89, false, false);
    putDescriptor(ram, 0x48, 0, 0xffff, 0x92, false, false); // a 16-bit stack for C
    cpu.gdtrLimit = 0x4f;
    // Task B: EIP, EFLAGS 2, EAX 0x11111111, EBX 0x22222222, ESP 0x70000, CS 0x08, the
    // data segments 0x10, LDT 0x38; its back link field starts as 0xdead.
    dv.setUint16(TSS_B, 0xdead, true);
    dv.setUint32(TSS_B + 0x20, B_CODE, true);
    dv.setUint32(TSS_B + 0x24, 2, true);
    dv.setUint32(TSS_B + 0x28, 0x11111111, true);
    dv.setUint32(TSS_B + 0x34, 0x22222222, true);
    dv.setUint32(TSS_B + 0x38, 0x70000, true);
    for (const [at, sel] of [[0x48, 0x10], [0x4c, 0x08], [0x50, 0x10], [0x54, 0x10]]) dv.setUint16(TSS_B + at, sel, true);
    dv.setUint16(TSS_B + 0x60, 0x38, true);
    // Task C (16-bit): IP, FLAGS 2, AX 0x1234, SP 0x6000, CS 0x08, SS 0x48, DS/ES 0x10.
    dv.setUint16(TSS_C + 0x0e, C_CODE, true);
    dv.setUint16(TSS_C + 0x10, 2, true);
    dv.setUint16(TSS_C + 0x12, 0x1234, true);
    dv.setUint16(TSS_C + 0x1a, 0x6000, true);
    for (const [at, sel] of [[0x22, 0x10], [0x24, 0x08], [0x26, 0x48], [0x28, 0x10]]) dv.setUint16(TSS_C + at, sel, true);
    if (opts.gpTaskGate) {
      dv.setUint32(IDT_BASE + 13 * 8, 0x20 << 16, true); // #GP: task gate to B
      dv.setUint32(IDT_BASE + 13 * 8 + 4, 0x8500, true);
    }
    if (opts.dfTaskGate) {
      dv.setUint32(IDT_BASE + 8 * 8, 0x20 << 16, true); // #DF: task gate to B
      dv.setUint32(IDT_BASE + 8 * 8 + 4, 0x8500, true);
      dv.setUint8(IDT_BASE + 13 * 8 + 5, 0x6e); // #GP's gate not present: #NP delivering it
    }
    ram.set(hex(bCode), B_CODE);
    if (opts.setup) opts.setup(dv, ram);
    if (opts.cCode) ram.set(hex(opts.cCode), C_CODE);
    cpu.reg32[6] = 0x5a5a5a5a; // A's ESI, which must come back
    cpu.useTranslator = translate;
    cpu.blocks.hotThreshold = 1;
    runToStop(cpu);
    return { recorded: bus.recorded, dv };
  });
}

/** The type nibble of the TSS descriptor `sel`: 9 available, 0xB busy (32-bit). */
function tssType(dv: DataView, sel: number): number {
  return dv.getUint8(GDT_BASE + sel + 5) & 0xf;
}

describe('hardware task switching', () => {
  it('CALL to a TSS nests: B gets its registers, LDT, NT and a back link; its IRET returns to A', () => {
    // A: mov ax, 0x18 ; ltr ax ; call 0x20:0 ; pushfd ; pop eax ; out 0xe0, eax ; str ax ; movzx eax, ax ; out 0xe0, eax
    //    mov eax, cr0 ; and eax, 8 ; out 0xe0, eax ; mov eax, esi ; out 0xe0, eax ; mov al, 0 ; out 0xf4, al
    // B: out 0xe0, eax ; mov eax, ebx ; out 0xe0, eax ; pushfd ; pop eax ; out 0xe0, eax
    //    str ax ; movzx eax, ax ; out 0xe0, eax ; sldt ax ; movzx eax, ax ; out 0xe0, eax ; iretd
    const a = '66b818000f00d89a0000000020009c58e7e0660f00c80fb7c0e7e00f20c083e008e7e089f0e7e0b000e6f4';
    const b = 'e7e089d8e7e09c58e7e0660f00c80fb7c0e7e0660f00c00fb7c0e7e0cf';
    for (const { recorded, dv } of run(a, b)) {
      // In B: EAX, EBX from its TSS, EFLAGS with NT, TR, LDTR. Back in A: NT clear, TR, CR0.TS, ESI kept.
      expect(recorded).toEqual([0x11111111, 0x22222222, 0x4002, 0x20, 0x38, 0x2, 0x18, 8, 0x5a5a5a5a]);
      expect(dv.getUint16(TSS_B, true)).toBe(0x18); // the back link
      expect(dv.getUint32(TSS_A + 0x20, true)).toBe(CODE_BASE + 14); // A's EIP: after the CALL
      expect(dv.getUint32(TSS_B + 0x20, true)).toBe(B_CODE + 29); // B's: after its IRETD
      expect(dv.getUint32(TSS_B + 0x24, true)).toBe(2); // saved by IRET with NT clear
      expect(tssType(dv, 0x18)).toBe(0xb); // A busy again (it never stopped being)
      expect(tssType(dv, 0x20)).toBe(0x9); // B free after the IRET
    }
  });

  it('JMP through a task gate does not nest: no back link, NT as the TSS has it, the old task not busy', () => {
    // A: mov ax, 0x18 ; ltr ax ; jmp 0x28:0 ; str ax ; movzx eax, ax ; out 0xe0, eax ; mov al, 0 ; out 0xf4, al
    // B: pushfd ; pop eax ; out 0xe0, eax ; str ax ; movzx eax, ax ; out 0xe0, eax ; jmp 0x18:0
    const a = '66b818000f00d8ea000000002800660f00c80fb7c0e7e0b000e6f4';
    const b = '9c58e7e0660f00c80fb7c0e7e0ea000000001800';
    for (const { recorded, dv } of run(a, b)) {
      expect(recorded).toEqual([0x2, 0x20, 0x18]);
      expect(dv.getUint16(TSS_B, true)).toBe(0xdead);
      expect(tssType(dv, 0x18)).toBe(0xb);
      expect(tssType(dv, 0x20)).toBe(0x9);
    }
  });

  it('JMP to a busy TSS is #GP(selector), with nothing switched', () => {
    // A: mov ax, 0x18 ; ltr ax ; jmp 0x18:0. Handler: pop eax ; out 0xe0, eax ; pop eax ; out 0xe0, eax ; exit
    for (const { recorded } of run('66b818000f00d8ea000000001800', 'f4', { handler: '58e7e058e7e0b000e6f4' })) {
      expect(recorded).toEqual([0x18, CODE_BASE + 7]);
    }
  });

  it('a TSS whose limit is below 0x67 is #TS(selector)', () => {
    // A: mov ax, 0x18 ; ltr ax ; call 0x40:0
    for (const { recorded } of run('66b818000f00d89a000000004000', 'f4', { handler: '58e7e058e7e0b000e6f4' })) {
      expect(recorded).toEqual([0x40, CODE_BASE + 7]);
    }
  });

  it('an exception through a task gate switches nested and pushes its error code on the new task\'s stack', () => {
    // A: mov ax, 0x18 ; ltr ax ; mov ax, 0x1234 ; mov ds, ax (#GP(0x1234): an LDT selector, and there is no LDT)
    // B: pop eax ; out 0xe0, eax ; pushfd ; pop eax ; out 0xe0, eax ; mov al, 0 ; out 0xf4, al
    for (const { recorded, dv } of run('66b818000f00d866b834128ed8', '58e7e09c58e7e0b000e6f4', { gpTaskGate: true })) {
      expect(recorded).toEqual([0x1234, 0x4002]);
      expect(dv.getUint16(TSS_B, true)).toBe(0x18);
      expect(dv.getUint32(TSS_A + 0x20, true)).toBe(CODE_BASE + 11); // the faulting MOV
    }
  });

  it('a double fault goes to its task gate, with error code 0', () => {
    for (const { recorded, dv } of run('66b818000f00d866b834128ed8', '58e7e09c58e7e0b000e6f4', { dfTaskGate: true })) {
      expect(recorded).toEqual([0, 0x4002]);
      expect(dv.getUint16(TSS_B, true)).toBe(0x18);
    }
  });

  it('a 16-bit TSS: 16-bit fields, the registers\' upper halves all ones (as Bochs, which test386 checks)', () => {
    // A: mov ax, 0x18 ; ltr ax ; call 0x30:0 ; mov al, 0 ; out 0xf4, al
    // C: out 0xe0, eax ; mov eax, esp ; out 0xe0, eax ; pushfd ; pop eax ; out 0xe0, eax ; iretd
    for (const { recorded, dv } of run('66b818000f00d89a000000003000b000e6f4', 'f4', { cCode: 'e7e089e0e7e09c58e7e0cf' })) {
      expect(recorded).toEqual([0xffff1234, 0xffff6000, 0x4002]);
      expect(dv.getUint16(TSS_C, true)).toBe(0x18);
      expect(dv.getUint16(TSS_C + 0x0e, true)).toBe(C_CODE + 11); // IP saved after the IRETD
      expect(tssType(dv, 0x30)).toBe(0x1); // available 16-bit TSS again
    }
  });

  it('a 32-bit TSS loads CR3 when paging is on; switching back loads the old task\'s CR3 field', () => {
    // A (paging on, CR3 0x5000): mov eax, 0x5000 ; mov cr3, eax ; mov eax, cr0 ; or eax, 0x80000000 ; mov cr0, eax
    //    mov ax, 0x18 ; ltr ax ; call 0x20:0 ; mov eax, cr3 ; out 0xe0, eax ; mov al, 0 ; out 0xf4, al
    // B: mov eax, cr3 ; out 0xe0, eax ; iretd
    const setup = (dv: DataView) => {
      for (const pd of [0x5000, 0x8000]) dv.setUint32(pd, 0x6007, true); // two directories, one identity table
      for (let i = 0; i < 256; i++) dv.setUint32(0x6000 + i * 4, (i << 12) | 7, true);
      dv.setUint32(TSS_B + 0x1c, 0x8000, true);
      dv.setUint32(TSS_A + 0x1c, 0x5000, true); // not saved by a switch: software keeps it
    };
    const a = 'b8005000000f22d80f20c00d000000800f22c0' + '66b818000f00d89a0000000020000f20d8e7e0b000e6f4';
    for (const { recorded } of run(a, '0f20d8e7e0cf', { setup })) {
      expect(recorded).toEqual([0x8000, 0x5000]);
    }
  });

  it('a TSS with VM set starts a virtual-8086 task', () => {
    // A: mov ax, 0x18 ; ltr ax ; call 0x20:0. B's TSS: EFLAGS VM|IOPL 3, CS:EIP 0x2000:0, SS:ESP 0x3000:0x1000,
    // DS 0x1234, ES 0x5678, FS GS 0, ring-0 stack 0x10:0x80000. At 0x20000 (16-bit): int 0x40.
    // Handler: mov eax, ds ; out 0xe0, eax ; then pop and record until ESP is 0x80000 ; exit.
    const setup = (dv: DataView, ram: Uint8Array) => {
      dv.setUint32(TSS_B + 4, 0x80000, true);
      dv.setUint16(TSS_B + 8, 0x10, true);
      dv.setUint32(TSS_B + 0x20, 0, true);
      dv.setUint32(TSS_B + 0x24, 0x23002, true);
      dv.setUint32(TSS_B + 0x38, 0x1000, true);
      for (const [at, sel] of [[0x48, 0x5678], [0x4c, 0x2000], [0x50, 0x3000], [0x54, 0x1234], [0x58, 0], [0x5c, 0]]) dv.setUint16(TSS_B + at, sel, true);
      dv.setUint16(TSS_B + 0x60, 0, true);
      ram.set([0xcd, 0x40], 0x20000);
    };
    for (const { recorded } of run('66b818000f00d89a000000002000', 'f4', { setup, handler: '8cd8e7e058e7e081fc0000080075f5b000e6f4' })) {
      // DS in the handler, EIP, CS, EFLAGS (VM, IOPL 3, NT from the CALL), ESP, SS, ES, DS, FS, GS.
      expect(recorded).toEqual([0, 2, 0x2000, 0x27002, 0x1000, 0x3000, 0x5678, 0x1234, 0, 0]);
    }
  });

  /** Handler: pop eax ; out 0xe0, eax (error code) ; pop eax ; out 0xe0, eax (EIP) ; str ax ; movzx eax, ax ; out 0xe0, eax ; exit */
  const RECORD_TR = '58e7e058e7e0660f00c80fb7c0e7e0b000e6f4';

  it('IRET with NT to a back link that is not busy is #TS(back link), in the old task', () => {
    // A: mov ax, 0x18 ; ltr ax ; pushfd ; or dword [esp], 0x4000 ; popfd ; iretd (back link 0x20, available)
    const setup = (dv: DataView) => dv.setUint16(TSS_A, 0x20, true);
    for (const { recorded } of run('66b818000f00d89c810c24004000009dcf', 'f4', { setup, handler: RECORD_TR })) {
      expect(recorded).toEqual([0x20, CODE_BASE + 0x10, 0x18]);
    }
  });

  it('a bad CS in the new TSS is #TS(CS) raised in the new task, at its EIP', () => {
    // A: mov ax, 0x18 ; ltr ax ; call 0x20:0, B's CS a data segment (0x10)
    const setup = (dv: DataView) => dv.setUint16(TSS_B + 0x4c, 0x10, true);
    for (const { recorded } of run('66b818000f00d89a000000002000', 'f4', { setup, handler: RECORD_TR })) {
      expect(recorded).toEqual([0x10, B_CODE, 0x20]);
    }
  });
});
