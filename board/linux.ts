/**
 * The Linux 32-bit boot protocol (Documentation/x86/boot.rst, "32-bit boot protocol"):
 * a bzImage is recognised by its setup header ("HdrS" at 0x202, the boot flag 0xAA55 at
 * 0x1FE), its protected-mode part loaded where it asks (code32_start, 1 MiB, or any
 * kernel_alignment multiple for a relocatable kernel: we keep 1 MiB), a zero page
 * (struct boot_params) built with the setup header, the E820 map, the command line and
 * the initrd's place, and the CPU left at the 32-bit entry as the protocol requires:
 * flat protected mode with paging off, a GDT with __BOOT_CS (0x10) and __BOOT_DS (0x18),
 * CS 0x10, DS/ES/SS 0x18, interrupts off, ESI the zero page, EBP, EDI and EBX zero.
 *
 * Where QEMU puts things (hw/i386/x86.c, x86_load_linux, for a protocol >= 2.03 kernel):
 * the initrd at the top of RAM below initrd_addr_max and the firmware's reserved top
 * 128 KiB, page aligned; the E820 map as SeaBIOS builds it. The zero page and the command
 * line go below 640 KiB (QEMU's setup code copies them near 0x90000; we place them at
 * 0x10000 and 0x20000, memory the map calls usable and the kernel copies out early).
 *
 * Every way an image can be wrong is a `BadImage` with one line saying what and what to do.
 */
import { BadImage, Handover, FIRMWARE_RESERVED, e820Map, LOADER_GDT_ADDRESS } from './multiboot';

/** The setup header's fields (boot.rst, "The real-mode kernel header"). */
const HDR_SETUP_SECTS = 0x1f1, HDR_BOOT_FLAG = 0x1fe, HDR_MAGIC = 0x202, HDR_VERSION = 0x206, HDR_TYPE_OF_LOADER = 0x210;
const HDR_LOADFLAGS = 0x211, HDR_CODE32_START = 0x214, HDR_RAMDISK_IMAGE = 0x218, HDR_RAMDISK_SIZE = 0x21c;
const HDR_CMD_LINE_PTR = 0x228, HDR_INITRD_ADDR_MAX = 0x22c, HDR_CMDLINE_SIZE = 0x238;
/** The zero page's own fields (arch/x86/include/uapi/asm/bootparam.h). */
const BP_ALT_MEM_K = 0x1e0, BP_E820_ENTRIES = 0x1e8, BP_E820_TABLE = 0x2d0, BP_E820_MAX = 128;
const LOADED_HIGH = 0x01;

/** Where the zero page, the command line and the loader's GDT go. */
export const ZERO_PAGE = 0x10000;
export const CMDLINE_AT = 0x20000;
const KERNEL_AT = 0x100000;
/** The loader's GDT for the protocol's selectors: null, null, 0x10 flat code, 0x18 flat data (beside the Multiboot loader's). */
export const LINUX_GDT_ADDRESS = LOADER_GDT_ADDRESS + 0x48;
const LINUX_GDT: readonly [number, number][] = [[0, 0], [0, 0], [0x0000ffff, 0x00cf9b00], [0x0000ffff, 0x00cf9300]];
/** QEMU's type_of_loader: 0xB0 (QEMU), version 0. */
const TYPE_OF_LOADER = 0xb0;

function u8(b: Uint8Array, at: number): number { return b[at]; }
function u16(b: Uint8Array, at: number): number { return b[at] | (b[at + 1] << 8); }
function u32(b: Uint8Array, at: number): number { return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0; }
function put32(b: Uint8Array, at: number, v: number): void { b[at] = v; b[at + 1] = v >>> 8; b[at + 2] = v >>> 16; b[at + 3] = v >>> 24; }
function put16(b: Uint8Array, at: number, v: number): void { b[at] = v; b[at + 1] = v >>> 8; }

/** Whether `image` is a Linux kernel with a setup header (a bzImage). */
export function isLinuxImage(image: Uint8Array): boolean {
  return image.length > 0x260 && u16(image, HDR_BOOT_FLAG) === 0xaa55 && u32(image, HDR_MAGIC) === 0x53726448; // "HdrS"
}

export interface LoadedLinux {
  handover: Handover;
  /** The protocol version, e.g. 0x020f. */
  version: number;
  kernelStart: number;
  kernelEnd: number;
  initrdAt: number;
  initrdSize: number;
}

/**
 * Loads a bzImage, its command line (UTF-8) and an initrd into `ram` (physical memory
 * from 0) and returns the CPU state at the 32-bit entry.
 */
export function loadLinux(image: Uint8Array, ram: Uint8Array, cmdline: string, initrd: Uint8Array | null): LoadedLinux {
  if (!isLinuxImage(image)) throw new BadImage('not a Linux bzImage (no "HdrS" setup header at 0x202); give a bzImage or a Multiboot kernel');
  const version = u16(image, HDR_VERSION);
  if (version < 0x0204) throw new BadImage(`a Linux boot protocol ${version >> 8}.${version & 0xff} kernel; this loader needs 2.04 or later (a bzImage of Linux 2.6 or newer)`);
  if (!(u8(image, HDR_LOADFLAGS) & LOADED_HIGH)) throw new BadImage('a zImage (loaded low); give a bzImage');
  let setupSects = u8(image, HDR_SETUP_SECTS);
  if (setupSects === 0) setupSects = 4;
  const kernelOffset = (setupSects + 1) * 512;
  if (kernelOffset >= image.length) throw new BadImage(`the bzImage is truncated: its setup is ${kernelOffset} bytes, the file ${image.length}; give the complete kernel file`);
  const kernel = image.subarray(kernelOffset);
  const top = ram.length - FIRMWARE_RESERVED;
  const kernelEnd = KERNEL_AT + kernel.length;
  if (kernelEnd > top) throw new BadImage(`the kernel's ${kernel.length} bytes at 1 MiB do not fit in ${ram.length >> 20} MiB of RAM; give more --memory`);
  ram.fill(0, KERNEL_AT, Math.min(top, kernelEnd + 0x10000));
  ram.set(kernel, KERNEL_AT);

  // The command line, NUL-terminated, as UTF-8 (what QEMU passes).
  const cmd = new TextEncoder().encode(cmdline);
  const cmdMax = version >= 0x0206 ? u32(image, HDR_CMDLINE_SIZE) : 255;
  if (cmd.length > cmdMax) throw new BadImage(`the kernel command line is ${cmd.length} bytes; this kernel takes at most ${cmdMax}; give a shorter --append`);
  ram.fill(0, CMDLINE_AT, CMDLINE_AT + cmd.length + 1);
  ram.set(cmd, CMDLINE_AT);

  // The initrd at the top of usable RAM, below initrd_addr_max, page-aligned (as QEMU).
  let initrdAt = 0;
  const initrdSize = initrd?.length ?? 0;
  if (initrd && initrd.length > 0) {
    const max = Math.min(u32(image, HDR_INITRD_ADDR_MAX), top - 1);
    initrdAt = (max + 1 - initrd.length) & ~0xfff;
    if (initrdAt < kernelEnd) throw new BadImage(`the initrd's ${initrd.length} bytes do not fit between the kernel and the top of RAM (or initrd_addr_max); give more --memory or a smaller initrd`);
    ram.set(initrd, initrdAt);
  }

  // The zero page: zeros, the setup header as the file has it, then what the loader fills in.
  const bp = ram.subarray(ZERO_PAGE, ZERO_PAGE + 4096);
  bp.fill(0);
  const headerEnd = 0x202 + u8(image, 0x201);
  bp.set(image.subarray(HDR_SETUP_SECTS, headerEnd), HDR_SETUP_SECTS);
  bp[HDR_TYPE_OF_LOADER] = TYPE_OF_LOADER;
  put32(bp, HDR_CODE32_START, KERNEL_AT);
  put32(bp, HDR_CMD_LINE_PTR, CMDLINE_AT);
  put32(bp, HDR_RAMDISK_IMAGE, initrdAt);
  put32(bp, HDR_RAMDISK_SIZE, initrdSize);
  put16(bp, 0x1fa, 0xffff); // vid_mode: "normal"
  const map = e820Map(ram.length);
  put32(bp, BP_ALT_MEM_K, (top - 0x100000) >> 10);
  bp[BP_E820_ENTRIES] = Math.min(map.length, BP_E820_MAX);
  map.slice(0, BP_E820_MAX).forEach((e, i) => {
    const at = BP_E820_TABLE + 20 * i;
    put32(bp, at, e.base >>> 0); put32(bp, at + 4, Math.floor(e.base / 2 ** 32));
    put32(bp, at + 8, e.length >>> 0); put32(bp, at + 12, Math.floor(e.length / 2 ** 32));
    put32(bp, at + 16, e.type);
  });

  // The loader's GDT, with the protocol's selectors.
  LINUX_GDT.forEach(([lo, hi], i) => { put32(ram, LINUX_GDT_ADDRESS + 8 * i, lo); put32(ram, LINUX_GDT_ADDRESS + 8 * i + 4, hi); });
  const handover: Handover = {
    eip: KERNEL_AT, eax: 0, ebx: 0, ecx: 0, edx: 0, esi: ZERO_PAGE, edi: 0, ebp: 0, esp: 0x1000 - 0x10,
    eflags: 0x2, cr0: 0x11, gdtBase: LINUX_GDT_ADDRESS, gdtLimit: LINUX_GDT.length * 8 - 1, idtBase: 0, idtLimit: 0x3ff,
    cs: 0x10, ds: 0x18,
  };
  return { handover, version, kernelStart: KERNEL_AT, kernelEnd, initrdAt, initrdSize };
}
