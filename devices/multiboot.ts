/**
 * A Multiboot (version 0.6.96) loader for i386 ELF kernels, accepting what
 * `qemu-system-i386 -kernel` accepts: the header (magic 0x1BADB002) in the first
 * 8192 bytes, 4-byte aligned, with a valid checksum; the ELF PT_LOAD segments loaded
 * at their physical addresses, or the header's a.out-kludge addresses when flag 16 is
 * set. Then the Multiboot information structure: memory sizes, a memory map, the
 * command line and the boot loader's name, placed above the kernel.
 *
 * Every way an image can be wrong is a `BadImage` with a one-line message.
 */

export class BadImage extends Error {}

const MB_MAGIC = 0x1badb002;
export const MB_BOOTLOADER_MAGIC = 0x2badb002;
const MB_SEARCH = 8192;
const FLAG_MEMORY = 1 << 1;
const FLAG_VIDEO = 1 << 2;
const FLAG_AOUT_KLUDGE = 1 << 16;
/** RAM at the top that firmware reserves for its tables (128 KiB, as SeaBIOS under QEMU). */
export const FIRMWARE_RESERVED = 128 * 1024;

const INFO_MEMORY = 1 << 0, INFO_CMDLINE = 1 << 2, INFO_MMAP = 1 << 6, INFO_LOADER_NAME = 1 << 9;

export interface LoadedKernel {
  entry: number;
  /** Physical address of the Multiboot information structure (goes in EBX). */
  infoAddress: number;
  /** [start, end) of what was loaded, for the record. */
  segments: { start: number; end: number }[];
}

interface Segment { paddr: number; offset: number; filesz: number; memsz: number }

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}
function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

/** Finds the Multiboot header; returns its offset in the file. */
function findHeader(image: Uint8Array): number {
  const limit = Math.min(image.length - 12, MB_SEARCH - 12);
  for (let at = 0; at <= limit; at += 4) {
    if (u32(image, at) !== MB_MAGIC) continue;
    const flags = u32(image, at + 4);
    const checksum = u32(image, at + 8);
    if (((MB_MAGIC + flags + checksum) >>> 0) !== 0) throw new BadImage(`the Multiboot header at offset 0x${at.toString(16)} has a bad checksum`);
    return at;
  }
  throw new BadImage('no Multiboot header in the first 8 KiB (is it a Multiboot kernel?)');
}

function elfSegments(image: Uint8Array): { entry: number; segments: Segment[] } {
  if (image.length < 52) throw new BadImage('the ELF header is truncated');
  if (image[4] !== 1) throw new BadImage('not a 32-bit ELF file (ELFCLASS32 expected)');
  if (image[5] !== 1) throw new BadImage('not a little-endian ELF file');
  if (u16(image, 18) !== 3) throw new BadImage(`not an i386 ELF file (e_machine ${u16(image, 18)})`);
  const type = u16(image, 16);
  if (type !== 2) throw new BadImage(`not an executable ELF file (e_type ${type})`);
  const entry = u32(image, 24);
  const phoff = u32(image, 28);
  const phentsize = u16(image, 42);
  const phnum = u16(image, 44);
  if (phentsize < 32 || phoff + phnum * phentsize > image.length) throw new BadImage('the ELF program headers are truncated');
  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (u32(image, at) !== 1) continue; // PT_LOAD only
    const seg = { offset: u32(image, at + 4), paddr: u32(image, at + 12), filesz: u32(image, at + 16), memsz: u32(image, at + 20) };
    if (seg.offset + seg.filesz > image.length) throw new BadImage(`ELF segment ${i} runs past the end of the file`);
    if (seg.memsz < seg.filesz) throw new BadImage(`ELF segment ${i} has memsz < filesz`);
    segments.push(seg);
  }
  if (segments.length === 0) throw new BadImage('the ELF file has no loadable segment');
  return { entry, segments };
}

function aoutSegments(image: Uint8Array, header: number): { entry: number; segments: Segment[] } {
  const headerAddr = u32(image, header + 12);
  const loadAddr = u32(image, header + 16);
  let loadEnd = u32(image, header + 20);
  const bssEnd = u32(image, header + 24);
  const entry = u32(image, header + 28);
  if (loadAddr > headerAddr) throw new BadImage('Multiboot a.out kludge: load_addr is above header_addr');
  const offset = header - (headerAddr - loadAddr);
  if (offset < 0) throw new BadImage('Multiboot a.out kludge: header_addr does not match the file');
  if (loadEnd === 0) loadEnd = loadAddr + (image.length - offset);
  const filesz = loadEnd - loadAddr;
  if (offset + filesz > image.length) throw new BadImage('Multiboot a.out kludge: load_end_addr is past the end of the file');
  const memsz = bssEnd ? Math.max(bssEnd - loadAddr, filesz) : filesz;
  return { entry, segments: [{ paddr: loadAddr, offset, filesz, memsz }] };
}

/**
 * Loads `image` into `ram` (physical memory from 0) and builds the Multiboot
 * information. Throws BadImage for anything a loader must refuse.
 */
export function loadMultiboot(image: Uint8Array, ram: Uint8Array, cmdline: string, loaderName = 'vpio'): LoadedKernel {
  if (image.length === 0) throw new BadImage('the image is empty');
  const isElf = image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46;
  const header = findHeader(image);
  const flags = u32(image, header + 4);
  if (flags & FLAG_VIDEO) {
    // A video mode request is optional for a loader to honour; there is no display here.
  }
  let layout: { entry: number; segments: Segment[] };
  if (flags & FLAG_AOUT_KLUDGE) layout = aoutSegments(image, header);
  else if (isElf) layout = elfSegments(image);
  else throw new BadImage('not an ELF file, and its Multiboot header has no load addresses (flag 16)');
  void FLAG_MEMORY;
  let kernelEnd = 0;
  for (const s of layout.segments) {
    const end = s.paddr + s.memsz;
    if (end > ram.length - FIRMWARE_RESERVED) {
      throw new BadImage(`the kernel does not fit in memory: it loads up to 0x${end.toString(16)} but RAM ends at 0x${ram.length.toString(16)} (use a larger --memory)`);
    }
    if (s.paddr < 0x1000 && s.memsz > 0) throw new BadImage(`a segment loads at 0x${s.paddr.toString(16)}, over the real-mode interrupt table`);
    kernelEnd = Math.max(kernelEnd, end);
  }
  if (layout.entry === 0) throw new BadImage('the kernel entry point is 0');
  for (const s of layout.segments) {
    ram.set(image.subarray(s.offset, s.offset + s.filesz), s.paddr);
    ram.fill(0, s.paddr + s.filesz, s.paddr + s.memsz);
  }

  // The information structure, the memory map, the command line and the loader name,
  // on the first page boundary above the kernel.
  let at = (kernelEnd + 0xfff) & ~0xfff;
  const need = 88 + 3 * 24 + cmdline.length + 1 + loaderName.length + 1;
  if (at + need > ram.length - FIRMWARE_RESERVED) throw new BadImage('no room above the kernel for the Multiboot information (use a larger --memory)');
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.length);
  const info = at;
  ram.fill(0, info, info + 88);
  at += 88;
  // Memory map: usable 0..639 KiB and 1 MiB up to the top 128 KiB, which firmware keeps
  // for its tables (SeaBIOS does under QEMU, so mem_upper matches QEMU's). The hole
  // below 1 MiB is the EBDA, VGA and BIOS area.
  const mmap = at;
  const top = ram.length - FIRMWARE_RESERVED;
  const entries: [number, number, number][] = [[0, 0x9fc00, 1], [0x100000, top - 0x100000, 1], [top, FIRMWARE_RESERVED, 2]];
  for (const [base, length, type] of entries) {
    dv.setUint32(at, 20, true); // size of the entry, not counting this field
    dv.setUint32(at + 4, base, true); dv.setUint32(at + 8, 0, true);
    dv.setUint32(at + 12, length, true); dv.setUint32(at + 16, 0, true);
    dv.setUint32(at + 20, type, true);
    at += 24;
  }
  const cmdAt = at;
  for (let i = 0; i < cmdline.length; i++) ram[at++] = cmdline.charCodeAt(i) & 0xff;
  ram[at++] = 0;
  const nameAt = at;
  for (let i = 0; i < loaderName.length; i++) ram[at++] = loaderName.charCodeAt(i) & 0xff;
  ram[at++] = 0;
  dv.setUint32(info + 0, INFO_MEMORY | INFO_CMDLINE | INFO_MMAP | INFO_LOADER_NAME, true);
  dv.setUint32(info + 4, 640, true); // mem_lower, KiB
  dv.setUint32(info + 8, Math.floor(top / 1024) - 1024, true); // mem_upper: KiB of usable RAM above 1 MiB
  dv.setUint32(info + 16, cmdAt, true);
  dv.setUint32(info + 44, entries.length * 24, true);
  dv.setUint32(info + 48, mmap, true);
  dv.setUint32(info + 64, nameAt, true);
  return {
    entry: layout.entry,
    infoAddress: info,
    segments: layout.segments.map((s) => ({ start: s.paddr, end: s.paddr + s.memsz })),
  };
}
