/**
 * PAE paging (CR4.PAE) by the SDM (vol. 3A, 4.4 and 4.7): the four PDPTEs loaded into
 * registers by MOV to CR3 (and to CR0 or CR4 that turns PAE paging on), 64-bit PDEs and
 * PTEs 512 to a table, 2 MiB pages by PS whatever CR4.PSE says, the accessed and dirty
 * bits, reserved bits (#PF with RSVD in a PDE or PTE, #GP(0) at the MOV in a PDPTE), and
 * PDPTEs kept until CR3 is loaded again. Debian's default i386 kernel (686-pae) needs
 * it. Each program runs interpreted and translated. Machine code as bytes with its
 * assembly beside it (nasm, bits 32).
 */
import { Cpu } from './cpu';
import { flatMachine, runToStop, TestBus } from './testing';

const le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const PDPT = 0x5000, PD0 = 0x6000, PT1 = 0x7000, PD_OTHER = 0x8000, PT_OTHER = 0x9000;

// mov eax, 0x20 ; mov cr4, eax ; mov eax, PDPT ; mov cr3, eax ; mov eax, cr0 ; or eax, 0x80000000 ; mov cr0, eax
const PAGING_ON = [0xb8, ...le(0x20), 0x0f, 0x22, 0xe0, 0xb8, ...le(PDPT), 0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xc0, 0x0d, ...le(0x80000000), 0x0f, 0x22, 0xc0];
const readOut = (lin: number): number[] => [0xa1, ...le(lin), 0xe7, 0xe0]; // mov eax, [lin] ; out 0xe0, eax
const STOP = [0xb0, 0x00, 0xe6, 0xf4]; // mov al, 0 ; out 0xf4, al
// The handler: pop eax (the error code) ; out 0xe0, eax ; mov eax, cr2 ; out 0xe0, eax ; mov eax, cr3 ; out 0xe0, eax ; stop
const HANDLER = new Uint8Array([0x58, 0xe7, 0xe0, 0x0f, 0x20, 0xd0, 0xe7, 0xe0, 0x0f, 0x20, 0xd8, 0xe7, 0xe0, ...STOP]);

/**
 * The tables: PDPTE 0 -> PD0; PDE 0 maps linear 0-2 MiB to itself as one 2 MiB page
 * (with CR4.PSE clear), PDE 1 -> PT1, whose PTE 0 maps linear 0x200000 to 0x50000 and
 * PTE 1 linear 0x201000 to 0x51000. `edit` changes them before the run.
 */
function run(code: number[], translate: boolean, edit?: (dv: DataView, bus: TestBus) => void): { recorded: number[]; dv: DataView; cpu: Cpu } {
  const { cpu, bus } = flatMachine(new Uint8Array([...code, ...STOP]), HANDLER);
  const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
  dv.setUint32(PDPT, PD0 | 1, true);
  dv.setUint32(PD0, 0x83, true); // P, R/W, PS: 0-2 MiB
  dv.setUint32(PD0 + 8, PT1 | 3, true);
  dv.setUint32(PT1, 0x50003, true);
  dv.setUint32(PT1 + 8, 0x51003, true);
  dv.setUint32(0x50000, 0xaabbccdd, true);
  dv.setUint32(0x51000, 0x11223344, true);
  edit?.(dv, bus);
  cpu.useTranslator = translate;
  cpu.blocks.hotThreshold = 1;
  runToStop(cpu);
  return { recorded: bus.recorded, dv, cpu };
}

describe('PAE paging', () => {
  it('CPUID says PAE (leaf 1 EDX bit 6)', () => {
    // mov eax, 1 ; cpuid ; mov eax, edx ; out 0xe0, eax
    const [edx] = run([0xb8, ...le(1), 0x0f, 0xa2, 0x89, 0xd0, 0xe7, 0xe0], false).recorded;
    expect(edx & (1 << 6)).not.toBe(0);
  });

  it.each([['interpreted', false], ['translated', true]])('maps 4 KiB pages through 64-bit entries and 2 MiB pages without CR4.PSE, setting A and D, %s', (_, translate) => {
    const code = [
      ...PAGING_ON,
      ...readOut(0x200000), ...readOut(0x201000),
      0xc7, 0x05, ...le(0x200004), ...le(0x12345678), // mov dword [0x200004], 0x12345678
      ...readOut(0x50004), // through the 2 MiB page: the same RAM
      ...readOut(PT1), ...readOut(PT1 + 8), ...readOut(PD0 + 8),
    ];
    const r = run(code, translate as boolean);
    expect(r.recorded).toEqual([0xaabbccdd, 0x11223344, 0x12345678, 0x50063, 0x51023, PT1 | 0x23]);
    // The 2 MiB page holds the code, fetched and not written: accessed, not dirty.
    expect(r.dv.getUint32(PD0, true)).toBe(0xa3);
  });

  it.each([['interpreted', false], ['translated', true]])('a reserved bit in a PTE\'s or PDE\'s high dword, or in a 2 MiB PDE\'s bits 20:13, is #PF with RSVD and P, %s', (_, translate) => {
    // Reading linear 0x201000, whose PTE sets bit 36 (above a P6's MAXPHYADDR of 36 bits): #PF(P | RSVD = 9), CR2 = 0x201000.
    expect(run([...PAGING_ON, ...readOut(0x201000)], translate as boolean, (dv) => dv.setUint32(PT1 + 12, 0x10, true)).recorded).toEqual([9, 0x201000, PDPT]);
    // Writing there with bit 63 (XD, reserved without IA32_EFER.NXE, which a P6 has not): the W bit too.
    const write = [...PAGING_ON, 0xc7, 0x05, ...le(0x201000), ...le(1)];
    expect(run(write, translate as boolean, (dv) => dv.setUint32(PT1 + 12, 0x80000000, true)).recorded).toEqual([0xb, 0x201000, PDPT]);
    // PDE 1's high dword: every page under it.
    expect(run([...PAGING_ON, ...readOut(0x200000)], translate as boolean, (dv) => dv.setUint32(PD0 + 12, 0x10, true)).recorded).toEqual([9, 0x200000, PDPT]);
    // A 2 MiB page (PDE 2: linear 0x400000) with bit 13 set.
    expect(run([...PAGING_ON, ...readOut(0x400000)], translate as boolean, (dv) => dv.setUint32(PD0 + 16, 0x2083, true)).recorded).toEqual([9, 0x400000, PDPT]);
    // The same 2 MiB page without it maps linear 0x400000 to RAM's first bytes.
    expect(run([...PAGING_ON, ...readOut(0x400000)], translate as boolean, (dv) => { dv.setUint32(PD0 + 16, 0x83, true); dv.setUint32(0, 0xfeedbeef, true); }).recorded).toEqual([0xfeedbeef]);
  });

  it.each([['interpreted', false], ['translated', true]])('a not-present PDPTE is #PF with P clear, %s', (_, translate) => {
    // Linear 0x40000000 is PDPTE 1's, left 0.
    expect(run([...PAGING_ON, ...readOut(0x40000000)], translate as boolean).recorded).toEqual([0, 0x40000000, PDPT]);
  });

  it.each([['interpreted', false], ['translated', true]])('a present PDPTE with a reserved bit makes MOV to CR3 #GP(0), leaving CR3 and the PDPTEs as they were, %s', (_, translate) => {
    // After paging is on, CR3 is loaded with a second PDPT whose entry 1 sets bit 1 (reserved): #GP(0), CR3 still PDPT.
    const code = [...PAGING_ON, 0xb8, ...le(0x5100), 0x0f, 0x22, 0xd8];
    const r = run(code, translate as boolean, (dv) => { dv.setUint32(0x5100, PD0 | 1, true); dv.setUint32(0x5108, PD0 | 3, true); });
    expect(r.recorded).toEqual([0, 0, PDPT]);
    // Bits 8:5 and the high dword are reserved too; bits 3 and 4 (PWT, PCD) are not, nor anything in a not-present one.
    for (const [lo, hi, faults] of [[0x21, 0, true], [0x101, 0, true], [0x1, 0x10, true], [0x19, 0, false], [0x1fe, 0xffffffff, false]] as const) {
      const rr = run([...PAGING_ON, 0xb8, ...le(0x5100), 0x0f, 0x22, 0xd8, ...readOut(0x200000)], translate as boolean, (dv) => {
        dv.setUint32(0x5100, PD0 | 1, true); dv.setUint32(0x5108, (PD0 & ~0x1ff) | lo, true); dv.setUint32(0x510c, hi, true);
      });
      expect([lo, hi, rr.recorded]).toEqual([lo, hi, faults ? [0, 0, PDPT] : [0xaabbccdd]]);
    }
    // Turning paging on over such a table faults at the MOV to CR0, paging still off.
    const on = run(PAGING_ON, translate as boolean, (dv) => dv.setUint32(PDPT + 8, PD0 | 5, true));
    expect(on.recorded).toEqual([0, 0, PDPT]);
    expect(on.cpu.cr0 & 0x80000000).toBe(0);
  });

  it.each([['interpreted', false], ['translated', true]])('uses the PDPTEs loaded with CR3 until CR3 is loaded again, not the table in memory, %s', (_, translate) => {
    // Another PD whose PDE 1 maps linear 0x200000 to 0x52000 instead.
    const edit = (dv: DataView): void => {
      dv.setUint32(PD_OTHER, 0x83, true);
      dv.setUint32(PD_OTHER + 8, PT_OTHER | 3, true);
      dv.setUint32(PT_OTHER, 0x52003, true);
      dv.setUint32(0x52000, 0x5eedf00d, true);
    };
    const code = [
      ...PAGING_ON, ...readOut(0x200000),
      0xc7, 0x05, ...le(PDPT), ...le(PD_OTHER | 1), // mov dword [PDPT], PD_OTHER | 1
      0x0f, 0x01, 0x3d, ...le(0x200000), // invlpg [0x200000]: the TLB entry goes, the PDPTE register stays
      ...readOut(0x200000),
      0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8, // mov eax, cr3 ; mov cr3, eax
      ...readOut(0x200000),
    ];
    expect(run(code, translate as boolean, edit).recorded).toEqual([0xaabbccdd, 0xaabbccdd, 0x5eedf00d]);
  });

  it('CR4.PAE can be set and cleared, and reads back', () => {
    // mov eax, 0x20 ; mov cr4, eax ; mov eax, cr4 ; out 0xe0, eax ; xor eax, eax ; mov cr4, eax ; mov eax, cr4 ; out 0xe0, eax
    const r = run([0xb8, ...le(0x20), 0x0f, 0x22, 0xe0, 0x0f, 0x20, 0xe0, 0xe7, 0xe0, 0x31, 0xc0, 0x0f, 0x22, 0xe0, 0x0f, 0x20, 0xe0, 0xe7, 0xe0], false);
    expect(r.recorded).toEqual([0x20, 0]);
  });
});
