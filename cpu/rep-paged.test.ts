/**
 * REP MOVS and REP STOS with paging on, moved a page at a time (execute.ts's
 * bulkRepPaged) against the same strings run an element at a time: each run is
 * repeated in slices of one cycle, where no string fits and the element loop takes
 * every element (a REP cut by its slice resumes where it stopped). Both must leave the
 * same registers, memory (the page tables' accessed and dirty bits too), fault and
 * cycle count, interpreted and translated (to WebAssembly, and to JavaScript alone).
 *
 * The strings cross pages mapped to scattered physical pages, an element across a
 * page's end, a page not present, a read-only page (CR0.WP), and a destination one byte
 * above its source. Machine code as bytes with its assembly beside it (nasm, bits 32).
 */
import { createHash } from 'crypto';
import { StopReason } from './bus';
import { flatMachine, hex } from './testing';

// mov eax, 0x5000 ; mov cr3, eax ; mov eax, cr0 ; or eax, 0x80010000 (PG, WP) ; mov cr0, eax ; mov eax, ebx
const ENTER = 'b8005000000f22d80f20c00d000001800f22c089d8';
// mov al, 0 ; out 0xf4, al
const LEAVE = 'b000e6f4';
const OPS: Record<string, string> = {
  'rep stosb': 'f3aa', 'rep stosw': 'f366ab', 'rep stosd': 'f3ab',
  'rep movsb': 'f3a4', 'rep movsw': 'f366a5', 'rep movsd': 'f3a5',
};
// The fault handler: mov eax, cr2 ; out 0xe0, eax ; then ECX, EDI, ESI the same way ; mov al, 1 ; out 0xf4, al
const HANDLER = '0f20d0e7e089c8e7e089f8e7e089f0e7e0b001e6f4';

/**
 * Page directory at 0x5000, one table at 0x6000: the first MiB identity-mapped, except
 * linear 0x20000-0x2ffff, whose pages are scattered over physical 0x80000-0x8ffff; then
 * `tweak` changes PTEs (by linear page number).
 */
function machine(op: string, regs: { esi: number; edi: number; ecx: number; ebx: number }, tweak: Record<number, number>, mode: Mode) {
  const { cpu, bus } = flatMachine(hex(ENTER + OPS[op] + LEAVE), hex(HANDLER));
  const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
  dv.setUint32(0x5000, 0x6003, true);
  for (let i = 0; i < 256; i++) {
    const phys = i >= 0x20 && i < 0x30 ? 0x80 + (((i - 0x20) * 7) % 16) : i;
    dv.setUint32(0x6000 + i * 4, (phys << 12) | 3, true);
  }
  for (const [page, pte] of Object.entries(tweak)) dv.setUint32(0x6000 + Number(page) * 4, pte, true);
  // Something to copy, and something to see overwritten.
  for (let i = 0x20000; i < 0x50000; i++) bus.ram[i] = (i * 131 + (i >>> 8)) & 0xff;
  for (let i = 0x80000; i < 0x90000; i++) bus.ram[i] = (i * 7) & 0xff;
  cpu.reg32[6] = regs.esi; cpu.reg32[7] = regs.edi; cpu.reg32[1] = regs.ecx; cpu.reg32[3] = regs.ebx;
  cpu.useTranslator = mode !== 'interpreted';
  cpu.useWasm = mode === 'translated';
  cpu.blocks.hotThreshold = 1;
  return { cpu, bus };
}

function outcome(op: string, regs: { esi: number; edi: number; ecx: number; ebx: number }, tweak: Record<number, number>, mode: Mode, slice: number): string {
  const { cpu, bus } = machine(op, regs, tweak, mode);
  let why = StopReason.Budget;
  for (let i = 0; i < 1e6 && why === StopReason.Budget; i++) why = cpu.run(slice);
  const r = Array.from(cpu.reg32, (x) => (x >>> 0).toString(16)).join(' ');
  const mem = createHash('sha256').update(bus.ram).digest('hex').slice(0, 16);
  return `why ${why} exit ${bus.exitCode} recorded ${bus.recorded.map((x) => x.toString(16)).join(' ')} regs ${r} eip ${cpu.eip.toString(16)} ` +
    `cycles ${cpu.cycles} instructions ${cpu.instructions} memory ${mem}`;
}

/** The interpreter, the WebAssembly blocks, or the JavaScript blocks (translator.ts) alone. */
type Mode = 'interpreted' | 'translated' | 'translated to JavaScript';

const CASES: [string, string, { esi: number; edi: number; ecx: number; ebx: number }, Record<number, number>][] = [
  ['dwords across four scattered pages', 'rep stosd', { esi: 0, edi: 0x20ff8, ecx: 3000, ebx: 0x11223344 }, {}],
  ['bytes across six pages', 'rep stosb', { esi: 0, edi: 0x20003, ecx: 20000, ebx: 0xa5 }, {}],
  ['words, one across a page\'s end', 'rep stosw', { esi: 0, edi: 0x20fff, ecx: 5000, ebx: 0xbeef }, {}],
  ['copy bytes into scattered pages', 'rep movsb', { esi: 0x40011, edi: 0x21005, ecx: 30000, ebx: 0 }, {}],
  ['copy dwords, both unaligned', 'rep movsd', { esi: 0x40002, edi: 0x20ffe, ecx: 9000, ebx: 0 }, {}],
  ['copy words out of scattered pages', 'rep movsw', { esi: 0x20000, edi: 0x40000, ecx: 20000, ebx: 0 }, {}],
  ['a page not present in the destination (#PF)', 'rep stosd', { esi: 0, edi: 0x23f00, ecx: 3000, ebx: 0x01020304 }, { 0x25: 0 }],
  ['a read-only page in the destination, CR0.WP (#PF)', 'rep movsd', { esi: 0x40000, edi: 0x24ff0, ecx: 3000, ebx: 0 }, { 0x26: (0x86 << 12) | 1 }],
  ['a page not present in the source (#PF)', 'rep movsd', { esi: 0x4e010, edi: 0x21000, ecx: 2000, ebx: 0 }, { 0x4f: 0 }],
  ['both pages not present at one element: the source\'s read faults first (#PF)', 'rep movsd', { esi: 0x4e010, edi: 0x24010, ecx: 2000, ebx: 0 }, { 0x4f: 0, 0x25: 0 }],
  ['the destination one byte above the source', 'rep movsb', { esi: 0x40000, edi: 0x40001, ecx: 6000, ebx: 0 }, {}],
  ['the destination one page above the source, through two mappings of one page', 'rep movsd', { esi: 0x30000, edi: 0x31004, ecx: 2000, ebx: 0 }, { 0x31: 0x30003 }],
];

describe('REP MOVS and STOS with paging on, a page at a time (issue 17)', () => {
  for (const mode of ['interpreted', 'translated', 'translated to JavaScript'] as Mode[]) {
    for (const [name, op, regs, tweak] of CASES) {
      it(`${name}: ${op}, as element by element (${mode})`, () => {
        const whole = outcome(op, regs, tweak, mode, 1e6);
        expect(whole).toBe(outcome(op, regs, tweak, mode, 1));
        // The string ran to its end, or to the fault its case is for.
        expect(whole).toMatch(name.includes('#PF') ? /exit 1 / : /exit 0 /);
      });
    }
  }
});
