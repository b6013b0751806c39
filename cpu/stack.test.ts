/**
 * Instructions that change SS (and so, maybe, the stack's size) while they use the
 * stack: the stack pointer moves by the size of the stack the operands came from, and
 * is set, afterwards, at the size of the stack it now points into. And an undefined
 * form of POP faults before it pops.
 *
 * Expected values from the SDM (vol. 2, POP: "the pop is done, then SS is loaded";
 * vol. 2 opcode map: 8F /1-/7 are undefined) and, for IRET to an outer level, from
 * QEMU's helper_ret_protected, which sets only SP when the new SS is 16-bit (the
 * upper half stays as it was: the leak Linux's espfix exists for).
 * Machine code is given as bytes with its assembly beside it (nasm, bits 32).
 */
import { flatMachine, hex, putDescriptor, runToStop } from './testing';
import { CODE_BASE } from './testing';

/** Runs `code` in the flat test machine with `setup`, interpreted and translated; returns what each recorded. */
function bothModes(code: string, setup: (ram: Uint8Array) => void, handler?: string) {
  return [false, true].map((translate) => {
    const { cpu, bus } = flatMachine(hex(code), handler ? hex(handler) : undefined);
    setup(bus.ram);
    cpu.gdtrLimit = 0x3f;
    cpu.useTranslator = translate;
    cpu.blocks.hotThreshold = 1;
    runToStop(cpu);
    return bus.recorded;
  });
}

describe('POP SS that changes the stack size (SDM vol. 2, POP)', () => {
  /** 0x18: a 16-bit (B=0) writable data segment, base 0, limit 0xFFFF. */
  const stack16 = (ram: Uint8Array) => putDescriptor(ram, 0x18, 0, 0xffff, 0x92, false, false);

  it('a 32-bit POP SS from a 16-bit stack adds 4 to SP only, as the old stack is 16-bit', () => {
    // mov esp, 0x0002fff0 ; mov ax, 0x18 ; mov ss, ax (SP = 0xfff0) ; push dword 0x10 (SP = 0xffec)
    // pop ss (loads the flat 32-bit 0x10) ; mov eax, esp ; out 0xe0, eax ; mov eax, ss ; out 0xe0, eax ; out 0xf4, al
    for (const r of bothModes('bcf0ff020066b818008ed06a101789e0e7e08cd0e7e0e6f4', stack16)) {
      expect(r).toEqual([0x0002fff0, 0x10]); // not 0x0000fff0: ESP's upper half is not the pop's
    }
  });

  it('a 16-bit POP SS from a 32-bit stack adds 2 to all of ESP, carrying past 64 KiB', () => {
    // mov esp, 0x30000 ; push word 0x18 (ESP = 0x2fffe) ; o16 pop ss (loads the 16-bit 0x18)
    // mov eax, esp ; out 0xe0, eax ; mov eax, ss ; out 0xe0, eax ; out 0xf4, al
    for (const r of bothModes('bc00000300666a18661789e0e7e08cd0e7e0e6f4', stack16)) {
      expect(r).toEqual([0x00030000, 0x18]); // not 0x00020000: the carry out of SP is the old stack's
    }
  });
});

describe('ENTER with an operand size other than the stack\'s (i386 manual, ENTER)', () => {
  it('a 32-bit ENTER on a 16-bit stack sets EBP to all of ESP, upper half included', () => {
    // mov ax, 0x18 ; mov ss, ax (16-bit) ; mov esp, 0x20010 ; enter 8, 0
    // mov eax, ebp ; out 0xe0, eax ; mov eax, esp ; out 0xe0, eax ; out 0xf4, al
    const stack16 = (ram: Uint8Array) => putDescriptor(ram, 0x18, 0, 0xffff, 0x92, false, false);
    for (const r of bothModes('66b818008ed0bc10000200c808000089e8e7e089e0e7e0e6f4', stack16)) {
      expect(r).toEqual([0x0002000c, 0x00020004]); // FrameTemp = ESP after the push; SP alone moves
    }
  });
});

describe('POP r/m with an undefined ModRM reg field (8F /1-/7)', () => {
  it('raises #UD before it pops: a pop that would fault with #SS does not', () => {
    // 0x18: a 32-bit stack whose limit 0x7fff1 leaves ESP 0x7fff0 room for a push but not a dword pop.
    // mov ax, 0x18 ; mov ss, ax ; mov esp, 0x7fff0 ; db 8f c8 (pop /1) ; out 0xf4, al
    // handler: pop eax ; out 0xe0, eax ; pop eax ; out 0xe0, eax ; mov al, 1 ; out 0xf4, al
    const setup = (ram: Uint8Array) => putDescriptor(ram, 0x18, 0, 0x7fff1, 0x92, false, true);
    for (const r of bothModes('66b818008ed0bcf0ff07008fc8e6f4', setup, '58e7e058e7e0b001e6f4')) {
      // #UD pushes no error code: the EIP of the 8F, then CS. (#SS would push 0 first.)
      expect(r).toEqual([CODE_BASE + 11, 0x08]);
    }
  });
});

describe('IRET to an outer level onto a 16-bit stack', () => {
  it('sets SP only: ESP\'s upper half stays as it was (QEMU helper_ret_protected)', () => {
    // 0x18 ring-3 flat 32-bit code, 0x20 a ring-3 16-bit stack (base 0, limit 0xFFFF).
    const setup = (ram: Uint8Array) => {
      putDescriptor(ram, 0x18, 0, 0xfffff, 0xfa, true, true);
      putDescriptor(ram, 0x20, 0, 0xffff, 0xf2, false, false);
    };
    // (ESP 0x80000) push dword 0x23 ; push dword 0xaaaa1000 ; push dword 0x3002 (IOPL 3) ; push dword 0x1b
    // push dword ring3 ; iretd ; ring3: mov eax, esp ; out 0xe0, eax ; out 0xf4, al
    for (const r of bothModes('6a23680010aaaa68023000006a1b6814000100cf89e0e7e0e6f4', setup)) {
      expect(r).toEqual([0x00071000]); // the ring-0 ESP was 0x0007ffec; SP from the frame
    }
  });
});
