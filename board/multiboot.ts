/**
 * A Multiboot (version 0.6.96) loader for i386 ELF kernels, accepting what
 * `qemu-system-i386 -kernel` accepts: the header (magic 0x1BADB002) in the first
 * 8192 bytes, 4-byte aligned, with a valid checksum; the ELF PT_LOAD segments loaded
 * at their physical addresses, or the header's a.out-kludge addresses when flag 16 is
 * set. Then the Multiboot information, where QEMU 7.2's loader puts it: the memory map
 * at 0x9000, the information structure at 0x9500, the command line and the boot
 * loader's name on the first page boundary after the kernel; and the loader's GDT.
 *
 * What the kernel finds in the CPU is `Handover`: the registers, EFLAGS, CR0, GDTR and
 * IDTR exactly as QEMU's Multiboot option ROM (multiboot_dma.bin) leaves them on
 * SeaBIOS 1.16, as a probe kernel (guests/programs/boot-state.S) prints them there.
 *
 * Stricter than QEMU in one way: every loaded range (each segment, the information and
 * its memory map, the command line) must lie in RAM that the memory map it hands over
 * calls usable, above the first 4 KiB, and overlap no other. QEMU refuses two segments
 * with file contents at the same address, and loads the rest wherever it is told, to
 * be overwritten or to overwrite its own option ROM. Every way an image can be wrong
 * is a `BadImage` with a one-line message saying what is wrong and what to do.
 */

export class BadImage extends Error {}

const MB_MAGIC = 0x1badb002;
export const MB_BOOTLOADER_MAGIC = 0x2badb002;
/** QEMU looks for the header (up to 48 bytes long) at offsets below 8192 - 48. */
const MB_SEARCH = 8192 - 48;
const FLAG_AOUT_KLUDGE = 1 << 16;
/** RAM at the top that firmware reserves for its tables (128 KiB, as SeaBIOS under QEMU). */
export const FIRMWARE_RESERVED = 128 * 1024;

const INFO_MEMORY = 1 << 0, INFO_BOOT_DEVICE = 1 << 1, INFO_CMDLINE = 1 << 2, INFO_MODS = 1 << 3;
const INFO_MMAP = 1 << 6, INFO_LOADER_NAME = 1 << 9;

/** Where QEMU's loader puts the memory map and the information structure (hw/i386/multiboot.c). */
export const MMAP_ADDRESS = 0x9000;
export const INFO_ADDRESS = 0x9500;
const INFO_SIZE = 88;
/** The end of conventional memory: SeaBIOS's 1 KiB EBDA starts here (so mem_lower is 639). */
const LOW_RAM_END = 0x9fc00;
const HIGH_RAM_START = 0x100000;
/** Below this nothing loads: the real-mode interrupt table and the BIOS data area. */
const FIRST_PAGE_END = 0x1000;

/**
 * The GDT QEMU's Multiboot option ROM loads, at the address it has in QEMU 7.2 with
 * `-vga none -nic none` (the ROM is the first in the option-ROM area, 0xC0000): null;
 * 0x08 flat 32-bit code; 0x10 flat 32-bit data (accessed, as the ROM's own segment
 * loads leave it); 0x18 16-bit code and 0x20 16-bit data, base 0, limit 0xFFFF. It is
 * in the hole between 640 KiB and 1 MiB, which the memory map does not call RAM, so a
 * kernel that keeps to the map does not overwrite it; one that writes there can, here
 * as under QEMU (whose shadowed option-ROM area is still writable when the kernel runs).
 */
export const LOADER_GDT_ADDRESS = 0xc02b8;
const LOADER_GDT: readonly [number, number][] = [
  [0, 0], [0x0000ffff, 0x00cf9a00], [0x0000ffff, 0x00cf9300], [0x0000ffff, 0x00009e00], [0x0000ffff, 0x00009200],
];
export const LOADER_GDT_LIMIT = LOADER_GDT.length * 8 - 1;

/**
 * The CPU state at the kernel's entry, besides what the Multiboot spec fixes (flat
 * 32-bit protected mode, CS 0x08, the other segment registers 0x10, EAX the magic,
 * EBX the information): QEMU 7.2's option ROM on SeaBIOS 1.16 leaves ECX the entry,
 * EDX 0x511 (the fw_cfg data port) over the high half of mem_upper, ESI 0, EDI
 * 0x1000, EBP 0, ESP 0x6F08 (SeaBIOS's stack), EFLAGS 0x6 (PF from its last shift),
 * CR0 0x11 (PE and ET: the ROM writes 1), IDTR the real-mode table (base 0, limit
 * 0x3FF), and GDTR its own GDT.
 */
export interface Handover {
  eip: number;
  eax: number; ebx: number; ecx: number; edx: number;
  esi: number; edi: number; ebp: number; esp: number;
  eflags: number;
  cr0: number;
  gdtBase: number; gdtLimit: number;
  idtBase: number; idtLimit: number;
  /** The flat code and data selectors loaded (Multiboot: 0x08 and 0x10; Linux: 0x10 and 0x18). */
  cs: number; ds: number;
}

/** An E820 range: base, length, type (1 usable, 2 reserved). */
export interface E820Entry { base: number; length: number; type: number }

/**
 * The memory map as SeaBIOS's E820 table reads under QEMU for `ramBytes` of RAM:
 * conventional memory up to the EBDA, the EBDA, the BIOS at 0xF0000, RAM from 1 MiB to
 * the reserved top 128 KiB, that, and the BIOS ROM's alias below 4 GiB.
 */
export function e820Map(ramBytes: number): E820Entry[] {
  const top = ramBytes - FIRMWARE_RESERVED;
  return [
    { base: 0, length: LOW_RAM_END, type: 1 }, { base: LOW_RAM_END, length: 0x400, type: 2 }, { base: 0xf0000, length: 0x10000, type: 2 },
    { base: HIGH_RAM_START, length: top - HIGH_RAM_START, type: 1 }, { base: top, length: FIRMWARE_RESERVED, type: 2 }, { base: 0xfffc0000, length: 0x40000, type: 2 },
  ];
}

export interface LoadedKernel {
  entry: number;
  /** Physical address of the Multiboot information structure (goes in EBX). */
  infoAddress: number;
  /** [start, end) of each segment loaded, for the record. */
  segments: { start: number; end: number }[];
  /** Where the command line (UTF-8, NUL-terminated) is. */
  cmdlineAddress: number;
  handover: Handover;
}

interface Segment { paddr: number; offset: number; filesz: number; memsz: number; name: string }

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}
function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}
function hex(v: number): string {
  return '0x' + v.toString(16);
}
function span(start: number, end: number): string {
  return `${hex(start)}-${hex(end)}`;
}
function size(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

/** Finds the first Multiboot header with a valid checksum, as QEMU does; returns its offset. */
function findHeader(image: Uint8Array): number {
  const limit = Math.min(image.length - 12, MB_SEARCH - 4);
  let badAt = -1;
  for (let at = 0; at <= limit; at += 4) {
    if (u32(image, at) !== MB_MAGIC) continue;
    if (((MB_MAGIC + u32(image, at + 4) + u32(image, at + 8)) >>> 0) === 0) return at;
    if (badAt < 0) badAt = at;
  }
  if (badAt >= 0) {
    throw new BadImage(`the Multiboot header at offset ${hex(badAt)} has a bad checksum (magic + flags + checksum must be 0 modulo 2^32); fix the header's checksum field`);
  }
  throw new BadImage('no Multiboot header (magic 0x1badb002) in the first 8 KiB (is it a Multiboot kernel?); put the header in its first 8 KiB, 4-byte aligned');
}

function elfSegments(image: Uint8Array): { entry: number; segments: Segment[] } {
  const rebuild = 'build the kernel as a 32-bit i386 executable (gcc -m32, ld -m elf_i386)';
  if (image.length < 52) throw new BadImage(`the ELF header is truncated (the file has ${image.length} bytes, the header 52); give the complete kernel file`);
  if (image[4] !== 1) throw new BadImage(`not a 32-bit ELF file (ELF class ${image[4]}, ELFCLASS32 expected); ${rebuild}`);
  if (image[5] !== 1) throw new BadImage(`not a little-endian ELF file; ${rebuild}`);
  if (u16(image, 18) !== 3) throw new BadImage(`not an i386 ELF file (e_machine ${u16(image, 18)}, 3 expected); ${rebuild}`);
  const type = u16(image, 16);
  if (type !== 2) throw new BadImage(`not an executable ELF file (e_type ${type}, ET_EXEC 2 expected); link it into an executable`);
  const entry = u32(image, 24);
  const phoff = u32(image, 28);
  const phentsize = u16(image, 42);
  const phnum = u16(image, 44);
  if (phentsize < 32) throw new BadImage(`the ELF program header entries are ${phentsize} bytes, 32 expected; ${rebuild}`);
  if (phoff + phnum * phentsize > image.length) {
    throw new BadImage(`the ELF program headers are truncated (${phnum} of ${phentsize} bytes at ${hex(phoff)}, the file has ${image.length}); give the complete kernel file`);
  }
  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (u32(image, at) !== 1) continue; // PT_LOAD only
    const seg = { offset: u32(image, at + 4), paddr: u32(image, at + 12), filesz: u32(image, at + 16), memsz: u32(image, at + 20), name: `ELF segment ${i}` };
    if (seg.offset + seg.filesz > image.length) {
      throw new BadImage(`${seg.name} runs past the end of the file (${seg.filesz} bytes at offset ${hex(seg.offset)}, the file has ${image.length}); give the complete kernel file`);
    }
    if (seg.memsz < seg.filesz) throw new BadImage(`${seg.name} has a memory size (${seg.memsz}) smaller than its file size (${seg.filesz}); relink the kernel`);
    segments.push(seg);
  }
  if (segments.length === 0) throw new BadImage('the ELF file has no loadable (PT_LOAD) segment; link the kernel into an executable with its code in one');
  return { entry, segments };
}

function aoutSegments(image: Uint8Array, header: number): { entry: number; segments: Segment[] } {
  const headerAddr = u32(image, header + 12);
  const loadAddr = u32(image, header + 16);
  const loadEndField = u32(image, header + 20);
  const bssEnd = u32(image, header + 24);
  const entry = u32(image, header + 28);
  const fix = 'fix the addresses in the Multiboot header (flag 16)';
  if (loadAddr > headerAddr) throw new BadImage(`the Multiboot header's load_addr (${hex(loadAddr)}) is above its header_addr (${hex(headerAddr)}); ${fix}`);
  const offset = header - (headerAddr - loadAddr);
  if (offset < 0) {
    throw new BadImage(`the Multiboot header's header_addr - load_addr (${hex(headerAddr - loadAddr)}) is more than the header's offset in the file (${hex(header)}); ${fix}`);
  }
  if (loadEndField !== 0 && loadEndField < loadAddr) throw new BadImage(`the Multiboot header's load_end_addr (${hex(loadEndField)}) is below its load_addr (${hex(loadAddr)}); ${fix}`);
  const loadEnd = loadEndField === 0 ? loadAddr + (image.length - offset) : loadEndField;
  const filesz = loadEnd - loadAddr;
  if (offset + filesz > image.length) {
    throw new BadImage(`the Multiboot header's load_end_addr (${hex(loadEnd)}) is past the end of the file (it asks for ${filesz} bytes from offset ${hex(offset)}, the file has ${image.length}); ${fix}`);
  }
  if (bssEnd !== 0 && bssEnd < loadEnd) throw new BadImage(`the Multiboot header's bss_end_addr (${hex(bssEnd)}) is below its load_end_addr (${hex(loadEnd)}); ${fix}`);
  const memsz = bssEnd !== 0 ? bssEnd - loadAddr : filesz;
  return { entry, segments: [{ paddr: loadAddr, offset, filesz, memsz, name: 'the a.out-kludge load range' }] };
}

/** A range the loader fills; `where` says why something is there, `segment` that the kernel's linker put it there. */
interface Placed { name: string; start: number; end: number; where?: string; segment?: boolean }

/**
 * What is wrong with putting `r` in memory, or null: it must lie in usable RAM (`top`
 * is where the reserved top of RAM starts) and overlap nothing already placed. `kind`
 * says which remedy can help: moving it ('move'), more memory or moving it lower
 * ('ram'), or relinking a kernel whose own segments collide ('segments').
 */
function conflict(placed: readonly Placed[], r: Placed, ramBytes: number, top: number): { text: string; kind: 'move' | 'ram' | 'segments' } | null {
  const what = `${r.name} (${span(r.start, r.end)})`;
  if (r.start < FIRST_PAGE_END) {
    return { text: `${what} is in the first 4 KiB of memory, the real-mode interrupt table and the BIOS data area`, kind: 'move' };
  }
  if (r.end > LOW_RAM_END && r.start < HIGH_RAM_START) {
    return {
      text: `${what} overlaps ${span(LOW_RAM_END, HIGH_RAM_START)}, which is not usable RAM (the EBDA, VGA memory, option ROMs with the loader's GDT at ${hex(LOADER_GDT_ADDRESS)}, the BIOS)`,
      kind: 'move',
    };
  }
  if (r.end > ramBytes) return { text: `${what} does not fit: RAM ends at ${hex(ramBytes)} (${size(ramBytes)})`, kind: 'ram' };
  if (r.end > top) {
    return {
      text: `${what} reaches into the top ${FIRMWARE_RESERVED / 1024} KiB of RAM (${span(top, ramBytes)}), which firmware reserves (SeaBIOS does under QEMU), so usable RAM ends at ${hex(top)}`,
      kind: 'ram',
    };
  }
  for (const p of placed) {
    if (r.start < p.end && p.start < r.end) {
      return { text: `${what} overlaps ${p.name} (${span(p.start, p.end)})${p.where ? `, ${p.where}` : ''}`, kind: r.segment && p.segment ? 'segments' : 'move' };
    }
  }
  return null;
}

const REMEDY = {
  move: 'link the kernel elsewhere, e.g. at 1 MiB (0x100000)',
  ram: 'give a larger --memory or link the kernel lower',
  segments: 'relink the kernel so that no two of its segments share an address',
};

/**
 * Loads `image` into `ram` (physical memory from 0), builds the Multiboot information
 * and the loader's GDT, and returns what the CPU gets. Throws BadImage for anything a
 * loader must refuse. `cmdline` goes to the kernel as UTF-8, as QEMU passes it.
 */
export function loadMultiboot(image: Uint8Array, ram: Uint8Array, cmdline: string, loaderName = 'vpio'): LoadedKernel {
  if (image.length === 0) throw new BadImage('the image is empty (0 bytes); give a Multiboot kernel file');
  const isElf = image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46;
  const header = findHeader(image);
  const flags = u32(image, header + 4);
  let layout: { entry: number; segments: Segment[] };
  if (flags & FLAG_AOUT_KLUDGE) layout = aoutSegments(image, header);
  else if (isElf) layout = elfSegments(image);
  else throw new BadImage('not an ELF file, and its Multiboot header gives no load addresses (flag 16 clear); link it as an i386 ELF executable, or set flag 16 and the a.out-kludge addresses');
  if (layout.entry === 0) throw new BadImage('the kernel entry point is 0; give the ELF entry (or the header\'s entry_addr) its code address');

  const top = ram.length - FIRMWARE_RESERVED;
  const placed: Placed[] = [];
  // The loader's own structures first, so that a segment over them is named as such.
  placed.push({ name: 'the Multiboot information and memory map', start: MMAP_ADDRESS, end: INFO_ADDRESS + INFO_SIZE, where: 'where QEMU\'s loader puts them too' });
  let low = Infinity, high = 0;
  for (const s of layout.segments) {
    if (s.memsz === 0) continue;
    const r: Placed = { name: s.name, start: s.paddr, end: s.paddr + s.memsz, segment: true };
    const c = conflict(placed, r, ram.length, top);
    if (c) throw new BadImage(`${c.text}; ${REMEDY[c.kind]}`);
    placed.push(r);
    low = Math.min(low, s.paddr);
    high = Math.max(high, s.paddr + s.memsz);
  }
  if (high === 0) throw new BadImage('the kernel loads nothing (every segment is empty); link its code into a loadable segment');

  // The command line and the loader's name, on the first page boundary after the kernel
  // as QEMU puts them (its module list would start there too: mods_addr). When they do
  // not fit, a shorter command line is the remedy only if an empty one would fit.
  const cmd = new TextEncoder().encode(cmdline);
  const name = new TextEncoder().encode(loaderName);
  const cmdAt = low + ((high - low + 0xfff) & ~0xfff);
  const cmdRange = (n: number): Placed => ({ name: `the command line (${n + 1} bytes) and the loader's name after the kernel`, start: cmdAt, end: cmdAt + n + 1 + name.length + 1 });
  const c = conflict(placed, cmdRange(cmd.length), ram.length, top);
  if (c) {
    const shorter = conflict(placed, cmdRange(0), ram.length, top) === null;
    const remedy = !shorter ? REMEDY[c.kind] : c.kind === 'ram' ? 'give a shorter --cmdline or a larger --memory' : 'give a shorter --cmdline or link the kernel elsewhere, e.g. at 1 MiB (0x100000)';
    throw new BadImage(`${c.text}; ${remedy}`);
  }

  for (const s of layout.segments) {
    ram.set(image.subarray(s.offset, s.offset + s.filesz), s.paddr);
    ram.fill(0, s.paddr + s.filesz, s.paddr + s.memsz);
  }
  ram.set(cmd, cmdAt);
  ram[cmdAt + cmd.length] = 0;
  const nameAt = cmdAt + cmd.length + 1;
  ram.set(name, nameAt);
  ram[nameAt + name.length] = 0;

  const dv = new DataView(ram.buffer, ram.byteOffset, ram.length);
  ram.fill(0, MMAP_ADDRESS, INFO_ADDRESS + INFO_SIZE);
  let at = MMAP_ADDRESS;
  for (const { base, length, type } of e820Map(ram.length)) {
    dv.setUint32(at, 20, true); // size of the entry, not counting this field
    dv.setUint32(at + 4, base, true); dv.setUint32(at + 8, 0, true);
    dv.setUint32(at + 12, length, true); dv.setUint32(at + 16, 0, true);
    dv.setUint32(at + 20, type, true);
    at += 24;
  }
  const info = INFO_ADDRESS;
  const memUpper = Math.floor(top / 1024) - 1024; // KiB of RAM from 1 MiB up to the first hole
  dv.setUint32(info + 0, INFO_MEMORY | INFO_BOOT_DEVICE | INFO_CMDLINE | INFO_MODS | INFO_MMAP | INFO_LOADER_NAME, true);
  dv.setUint32(info + 4, LOW_RAM_END / 1024, true); // mem_lower: 639 KiB
  dv.setUint32(info + 8, memUpper, true);
  dv.setUint32(info + 12, 0x8000ffff, true); // boot_device: BIOS drive 0x80, no partition (QEMU's)
  dv.setUint32(info + 16, cmdAt, true);
  dv.setUint32(info + 20, 0, true); // mods_count
  dv.setUint32(info + 24, cmdAt, true); // mods_addr: where the list would be
  dv.setUint32(info + 44, e820Map(ram.length).length * 24, true);
  dv.setUint32(info + 48, MMAP_ADDRESS, true);
  dv.setUint32(info + 64, nameAt, true);

  for (let i = 0; i < LOADER_GDT.length; i++) {
    dv.setUint32(LOADER_GDT_ADDRESS + i * 8, LOADER_GDT[i][0], true);
    dv.setUint32(LOADER_GDT_ADDRESS + i * 8 + 4, LOADER_GDT[i][1], true);
  }

  const entry = layout.entry >>> 0;
  return {
    entry,
    infoAddress: info,
    segments: layout.segments.filter((s) => s.memsz > 0).map((s) => ({ start: s.paddr, end: s.paddr + s.memsz })),
    cmdlineAddress: cmdAt,
    handover: {
      eip: entry,
      eax: MB_BOOTLOADER_MAGIC, ebx: info, ecx: entry, edx: ((memUpper & 0xffff0000) | 0x511) >>> 0,
      esi: 0, edi: 0x1000, ebp: 0, esp: 0x6f08,
      eflags: 0x00000006,
      cr0: 0x00000011,
      gdtBase: LOADER_GDT_ADDRESS, gdtLimit: LOADER_GDT_LIMIT,
      idtBase: 0, idtLimit: 0x3ff,
      cs: 0x08, ds: 0x10,
    },
  };
}
