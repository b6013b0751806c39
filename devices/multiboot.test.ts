/** The Multiboot loader: what qemu-system-i386 -kernel accepts, and a clear refusal of the rest. */
import { loadMultiboot, BadImage, FIRMWARE_RESERVED } from './multiboot';
import { multibootElf } from './testing-elf';

const RAM = 8 << 20;

function load(image: Uint8Array, cmdline = 'kernel a=1') {
  const ram = new Uint8Array(RAM);
  return { ram, k: loadMultiboot(image, ram, cmdline) };
}

describe('Multiboot loader', () => {
  it('loads the segment at its physical address, zeroes BSS, and enters after the header', () => {
    const code = [0xb0, 0x03, 0xe6, 0xf4];
    const { ram, k } = load(multibootElf(code, { bss: 64 }));
    expect(k.entry).toBe(0x10000c);
    expect(Array.from(ram.subarray(0x10000c, 0x100010))).toEqual(code);
    expect(k.segments).toEqual([{ start: 0x100000, end: 0x100010 + 64 }]);
  });

  it('builds the information structure: flags, memory, map, command line, loader name', () => {
    const { ram, k } = load(multibootElf([0xf4]));
    const dv = new DataView(ram.buffer);
    const info = k.infoAddress;
    expect(info % 4096).toBe(0);
    expect(dv.getUint32(info, true) & 0x245).toBe(0x245);
    expect(dv.getUint32(info + 4, true)).toBe(640);
    expect(dv.getUint32(info + 8, true)).toBe((RAM - FIRMWARE_RESERVED) / 1024 - 1024);
    const str = (at: number) => { let s = ''; while (ram[at]) s += String.fromCharCode(ram[at++]); return s; };
    expect(str(dv.getUint32(info + 16, true))).toBe('kernel a=1');
    expect(str(dv.getUint32(info + 64, true))).toBe('vpio');
    const mmap = dv.getUint32(info + 48, true);
    expect(dv.getUint32(info + 44, true)).toBe(72);
    expect([dv.getUint32(mmap + 4, true), dv.getUint32(mmap + 12, true), dv.getUint32(mmap + 20, true)]).toEqual([0, 0x9fc00, 1]);
  });

  const bad: [string, Uint8Array, RegExp][] = [
    ['an empty file', new Uint8Array(0), /empty/],
    ['no Multiboot header', multibootElf([0xf4], { noHeader: true }), /no Multiboot header/],
    ['a bad checksum', multibootElf([0xf4], { badChecksum: true }), /checksum/],
    ['a 64-bit ELF', multibootElf([0xf4], { elfClass: 2 }), /32-bit/],
    ['an ELF for another machine', multibootElf([0xf4], { machine: 62 }), /i386/],
    ['a kernel larger than memory', multibootElf([0xf4], { loadAt: RAM - 0x1000, bss: 0x10000 }), /does not fit/],
    ['a segment over the interrupt table', multibootElf([0xf4], { loadAt: 0x100 }), /interrupt table/],
    ['a truncated file', multibootElf([0xf4]).subarray(0, 40), /truncated|Multiboot/],
  ];
  for (const [what, image, message] of bad) {
    it(`refuses ${what} with a one-line reason`, () => {
      expect(() => load(image)).toThrow(BadImage);
      try { load(image); } catch (e) { expect((e as Error).message).toMatch(message); expect((e as Error).message).not.toContain('\n'); }
    });
  }
});
