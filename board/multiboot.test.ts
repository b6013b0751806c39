/**
 * The Multiboot loader: what qemu-system-i386 -kernel accepts, the information and
 * CPU state where and as QEMU 7.2's loader leaves them (the values below are what
 * guests/programs/boot-state.S printed under qemu-system-i386 7.2 with SeaBIOS 1.16,
 * guests/expected/boot-state.out), and a clear refusal of the rest.
 */
import { loadMultiboot, BadImage, FIRMWARE_RESERVED } from './multiboot';
import { multibootElf } from './testing-elf';

const RAM = 8 << 20;
const MB_MAGIC = 0x1badb002;

function load(image: Uint8Array, cmdline = 'kernel a=1', ram = new Uint8Array(RAM)) {
  return { ram, k: loadMultiboot(image, ram, cmdline) };
}

function str(ram: Uint8Array, at: number): number[] {
  const bytes: number[] = [];
  while (ram[at]) bytes.push(ram[at++]);
  return bytes;
}

interface Seg { paddr: number; filesz: number; memsz: number }

/** An ELF with several PT_LOAD segments; the Multiboot header and `code` start the first. */
function elfWith(segs: Seg[], code: number[] = [0xf4]): Uint8Array {
  const phoff = 52, dataAt = 0x400;
  const offsets: number[] = [];
  let size = dataAt;
  for (const s of segs) { offsets.push(size); size += (s.filesz + 15) & ~15; }
  const f = new Uint8Array(size);
  const dv = new DataView(f.buffer);
  f.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0]);
  dv.setUint16(16, 2, true); dv.setUint16(18, 3, true); dv.setUint32(20, 1, true);
  dv.setUint32(24, segs[0].paddr + 12, true); dv.setUint32(28, phoff, true);
  dv.setUint16(40, 52, true); dv.setUint16(42, 32, true); dv.setUint16(44, segs.length, true);
  segs.forEach((s, i) => {
    const at = phoff + 32 * i;
    dv.setUint32(at, 1, true); dv.setUint32(at + 4, offsets[i], true);
    dv.setUint32(at + 8, s.paddr, true); dv.setUint32(at + 12, s.paddr, true);
    dv.setUint32(at + 16, s.filesz, true); dv.setUint32(at + 20, s.memsz, true);
  });
  dv.setUint32(offsets[0], MB_MAGIC, true); dv.setUint32(offsets[0] + 8, -MB_MAGIC >>> 0, true);
  f.set(code, offsets[0] + 12);
  return f;
}

/** A raw image whose Multiboot header (at offset 0) has the a.out-kludge addresses (flag 16). */
function aout(a: { header: number; load: number; loadEnd: number; bssEnd: number; entry?: number }, length = 0x100): Uint8Array {
  const f = new Uint8Array(length);
  const dv = new DataView(f.buffer);
  const flags = 0x10000;
  dv.setUint32(0, MB_MAGIC, true); dv.setUint32(4, flags, true); dv.setUint32(8, -(MB_MAGIC + flags) >>> 0, true);
  dv.setUint32(12, a.header, true); dv.setUint32(16, a.load, true); dv.setUint32(20, a.loadEnd, true);
  dv.setUint32(24, a.bssEnd, true); dv.setUint32(28, a.entry ?? a.load + 32, true);
  f[32] = 0xf4;
  return f;
}

describe('Multiboot loader', () => {
  it('loads the segment at its physical address, zeroes BSS, and enters after the header', () => {
    const code = [0xb0, 0x03, 0xe6, 0xf4];
    const { ram, k } = load(multibootElf(code, { bss: 64 }));
    expect(k.entry).toBe(0x10000c);
    expect(Array.from(ram.subarray(0x10000c, 0x100010))).toEqual(code);
    expect(k.segments).toEqual([{ start: 0x100000, end: 0x100010 + 64 }]);
  });

  it('puts the information at 0x9500 and the memory map at 0x9000, as QEMU does, with QEMU\'s fields', () => {
    const { ram, k } = load(multibootElf([0xf4]));
    const dv = new DataView(ram.buffer, ram.byteOffset);
    const info = k.infoAddress;
    expect(info).toBe(0x9500);
    expect(dv.getUint32(info, true)).toBe(0x24f); // memory, boot device, cmdline, mods, mmap, loader name
    expect(dv.getUint32(info + 4, true)).toBe(639);
    expect(dv.getUint32(info + 8, true)).toBe((RAM - FIRMWARE_RESERVED) / 1024 - 1024);
    expect(dv.getUint32(info + 12, true)).toBe(0x8000ffff);
    // The command line on the page after the kernel; the module list (empty) would start there.
    expect(dv.getUint32(info + 16, true)).toBe(0x101000);
    expect([dv.getUint32(info + 20, true), dv.getUint32(info + 24, true)]).toEqual([0, 0x101000]);
    expect(String.fromCharCode(...str(ram, 0x101000))).toBe('kernel a=1');
    expect(dv.getUint32(info + 64, true)).toBe(0x101000 + 'kernel a=1'.length + 1);
    expect(String.fromCharCode(...str(ram, dv.getUint32(info + 64, true)))).toBe('vpio');
    expect([dv.getUint32(info + 44, true), dv.getUint32(info + 48, true)]).toEqual([144, 0x9000]);
    const top = RAM - FIRMWARE_RESERVED;
    const map: number[][] = [];
    for (let at = 0x9000; at < 0x9000 + 144; at += 24) {
      map.push([dv.getUint32(at, true), dv.getUint32(at + 4, true), dv.getUint32(at + 8, true), dv.getUint32(at + 12, true), dv.getUint32(at + 16, true), dv.getUint32(at + 20, true)]);
    }
    expect(map).toEqual([
      [20, 0, 0, 0x9fc00, 0, 1],
      [20, 0x9fc00, 0, 0x400, 0, 2],
      [20, 0xf0000, 0, 0x10000, 0, 2],
      [20, 0x100000, 0, top - 0x100000, 0, 1],
      [20, top, 0, 0x20000, 0, 2],
      [20, 0xfffc0000, 0, 0x40000, 0, 2],
    ]);
  });

  it('passes the command line as UTF-8, NUL-terminated, as QEMU does', () => {
    const { ram, k } = load(multibootElf([0xf4]), 'k x=é€ 日本');
    expect(str(ram, k.cmdlineAddress)).toEqual([0x6b, 0x20, 0x78, 0x3d, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0x20, 0xe6, 0x97, 0xa5, 0xe6, 0x9c, 0xac]);
    expect(ram[k.cmdlineAddress + 16]).toBe(0);
  });

  it('leaves the loader\'s GDT at 0xc02b8 and the CPU state QEMU\'s option ROM leaves', () => {
    const { ram, k } = load(multibootElf([0xf4]));
    const dv = new DataView(ram.buffer, ram.byteOffset);
    const gdt: string[] = [];
    for (let i = 0; i < 5; i++) gdt.push(`${dv.getUint32(0xc02b8 + 8 * i + 4, true).toString(16).padStart(8, '0')} ${dv.getUint32(0xc02b8 + 8 * i, true).toString(16).padStart(8, '0')}`);
    expect(gdt).toEqual(['00000000 00000000', '00cf9a00 0000ffff', '00cf9300 0000ffff', '00009e00 0000ffff', '00009200 0000ffff']);
    expect(k.handover).toEqual({
      eip: 0x10000c, eax: 0x2badb002, ebx: 0x9500, ecx: 0x10000c, edx: 0x511, esi: 0, edi: 0x1000, ebp: 0, esp: 0x6f08,
      eflags: 0x6, cr0: 0x11, cs: 0x08, ds: 0x10, gdtBase: 0xc02b8, gdtLimit: 0x27, idtBase: 0, idtLimit: 0x3ff,
    });
    // EDX keeps the high half of mem_upper (KiB) under the fw_cfg port: 0x00010511 with 128 MiB.
    expect(load(multibootElf([0xf4]), 'k', new Uint8Array(128 << 20)).k.handover.edx).toBe(0x00010511);
  });

  it('skips a header with a bad checksum and takes a later good one, as QEMU does', () => {
    const image = multibootElf([0xf4]);
    const withBad = new Uint8Array(image.length + 12);
    withBad.set(image);
    // A second, valid header would be found after a bad first one: make the first bad and append a good one.
    const dv = new DataView(withBad.buffer);
    dv.setUint32(0x54 + 8, 1, true);
    const at = (image.length + 3) & ~3;
    const grown = new Uint8Array(at + 12);
    grown.set(withBad.subarray(0, image.length));
    const g = new DataView(grown.buffer);
    g.setUint32(at, MB_MAGIC, true); g.setUint32(at + 8, -MB_MAGIC >>> 0, true);
    expect(() => load(grown)).not.toThrow();
    expect(() => load(withBad.subarray(0, image.length))).toThrow(/bad checksum/);
  });

  it('loads the a.out-kludge range of a raw image and zeroes up to bss_end', () => {
    const { ram, k } = load(aout({ header: 0x100000, load: 0x100000, loadEnd: 0x100100, bssEnd: 0x102000 }));
    expect(k.segments).toEqual([{ start: 0x100000, end: 0x102000 }]);
    expect(k.entry).toBe(0x100020);
    expect(ram[0x100020]).toBe(0xf4);
  });

  // Each refusal is one line that says what is wrong and, after a semicolon, what to do.
  const bad: [string, () => Uint8Array, RegExp, string?][] = [
    ['an empty file', () => new Uint8Array(0), /empty/],
    ['no Multiboot header', () => multibootElf([0xf4], { noHeader: true }), /no Multiboot header/],
    ['a bad checksum', () => multibootElf([0xf4], { badChecksum: true }), /bad checksum/],
    ['a 64-bit ELF', () => multibootElf([0xf4], { elfClass: 2 }), /not a 32-bit ELF/],
    ['an ELF for another machine', () => multibootElf([0xf4], { machine: 62 }), /not an i386 ELF file \(e_machine 62/],
    ['a truncated file', () => multibootElf(new Array(100).fill(0x90)).subarray(0, 0x54 + 20), /^ELF segment 0 runs past the end of the file \(112 bytes at offset 0x54, the file has 104\)/],
    ['a kernel larger than memory', () => multibootElf([0xf4], { loadAt: 0x100000, bss: RAM }), /^ELF segment 0 \(0x100000-0x90000d\) does not fit: RAM ends at 0x800000 \(8 MiB\)/],
    ['a segment beyond the end of RAM', () => multibootElf([0xf4], { loadAt: RAM + 0x1000 }), /does not fit: RAM ends at 0x800000/],
    ['a segment in the reserved top 128 KiB', () => multibootElf([0xf4], { loadAt: RAM - 0x10000 }),
      /^ELF segment 0 \(0x7f0000-0x7f000d\) reaches into the top 128 KiB of RAM \(0x7e0000-0x800000\), which firmware reserves .*usable RAM ends at 0x7e0000/],
    ['a segment over the interrupt table', () => multibootElf([0xf4], { loadAt: 0x100 }), /first 4 KiB .*interrupt table/],
    ['a segment in the hole below 1 MiB', () => multibootElf([0xf4], { loadAt: 0xc0000 }), /overlaps 0x9fc00-0x100000, which is not usable RAM/],
    ['a segment over the Multiboot information', () => multibootElf([0xf4], { loadAt: 0x8000, bss: 0x2000 }),
      /^ELF segment 0 \(0x8000-0xa00d\) overlaps the Multiboot information and memory map \(0x9000-0x9558\)/],
    ['two segments at the same address', () => elfWith([{ paddr: 0x100000, filesz: 64, memsz: 64 }, { paddr: 0x100000, filesz: 64, memsz: 64 }]),
      /^ELF segment 1 \(0x100000-0x100040\) overlaps ELF segment 0 \(0x100000-0x100040\); relink the kernel so that no two of its segments share an address$/],
    ['a segment whose BSS runs over the next one', () => elfWith([{ paddr: 0x100000, filesz: 64, memsz: 0x2000 }, { paddr: 0x101000, filesz: 64, memsz: 64 }]),
      /ELF segment 1 \(0x101000-0x101040\) overlaps ELF segment 0 \(0x100000-0x102000\)/],
    ['a kernel that leaves no room for the command line', () => multibootElf([0xf4], { loadAt: RAM - FIRMWARE_RESERVED - 0x10 }),
      /^the command line \(11 bytes\) and the loader's name after the kernel \(0x7e0ff0-0x7e1000\) reaches into the top 128 KiB of RAM.*; give a larger --memory or link the kernel lower$/],
    ['a command line too long for the room after the kernel', () => multibootElf([0xf4], { loadAt: RAM - FIRMWARE_RESERVED - 0x1000 - 0x10 }),
      /^the command line \(5001 bytes\) .* reaches into the top 128 KiB of RAM.*; give a shorter --cmdline or a larger --memory$/, 'x'.repeat(5000)],
    ['an a.out kludge with bss_end below load_end', () => aout({ header: 0x100000, load: 0x100000, loadEnd: 0x100100, bssEnd: 0x100080 }), /bss_end_addr \(0x100080\) is below its load_end_addr \(0x100100\)/],
    ['an a.out kludge with load_end below load_addr', () => aout({ header: 0x100000, load: 0x100000, loadEnd: 0xffff0, bssEnd: 0 }), /load_end_addr \(0xffff0\) is below its load_addr/],
    ['an a.out kludge with load_addr above header_addr', () => aout({ header: 0x100000, load: 0x100010, loadEnd: 0, bssEnd: 0 }), /load_addr \(0x100010\) is above its header_addr/],
    ['an a.out kludge that loads more than the file has', () => aout({ header: 0x100000, load: 0x100000, loadEnd: 0x101000, bssEnd: 0 }), /past the end of the file/],
  ];
  for (const [what, image, message, cmdline] of bad) {
    it(`refuses ${what} with one line saying what is wrong and what to do`, () => {
      let error: unknown = null;
      try { load(image(), cmdline); } catch (e) { error = e; }
      expect(error).toBeInstanceOf(BadImage);
      const m = (error as Error).message;
      expect(m).toMatch(message);
      expect(m).not.toContain('\n');
      expect(m).toMatch(/; (give|link|relink|fix|put|set|build)\b/);
    });
  }
});
