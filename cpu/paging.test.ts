/**
 * Paging's accessed bits on a protection fault: the i386 manual (5.2.4.4) has the CPU
 * set A in both levels "before a read or write", so an access that faults sets neither;
 * Bochs does the same, and test386 (POST 0x11) checks the PDE's. Run interpreted and
 * translated. Machine code as bytes with its assembly beside it (nasm, bits 32).
 */
import { flatMachine, hex, runToStop } from './testing';

describe('paging: accessed bits', () => {
  it('a protection fault leaves the PDE\'s accessed bit clear', () => {
    // mov eax, 0x5000 ; mov cr3, eax ; mov eax, cr0 ; or eax, 0x80010000 (PG, WP) ; mov cr0, eax
    // mov dword [0x400000], 1   (PDE 1 -> a read-only PTE: #PF(3))
    // handler: pop eax ; out 0xe0, eax ; mov eax, [0x5004] ; out 0xe0, eax ; mov al, 0 ; out 0xf4, al
    for (const translate of [false, true]) {
      const { cpu, bus } = flatMachine(hex('b8005000000f22d80f20c00d000001800f22c0c7050000400001000000'), hex('58e7e0a104500000e7e0b000e6f4'));
      const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
      dv.setUint32(0x5000, 0x6003, true); // PDE 0: identity-mapped first 1 MiB, writable
      for (let i = 0; i < 256; i++) dv.setUint32(0x6000 + i * 4, (i << 12) | 3, true);
      dv.setUint32(0x5004, 0x7003, true); // PDE 1: writable, A clear
      dv.setUint32(0x7000, 0x40001, true); // its PTE 0: present, read-only
      cpu.useTranslator = translate;
      cpu.blocks.hotThreshold = 1;
      runToStop(cpu);
      expect(bus.recorded).toEqual([3, 0x7003]);
    }
  });
});
