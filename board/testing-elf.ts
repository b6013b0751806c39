/**
 * Builds small Multiboot ELF images in tests, so loader and machine tests need no
 * toolchain: one PT_LOAD segment at `loadAt` holding the Multiboot header followed by
 * `code`, entry at the code.
 */
export interface ElfOptions {
  loadAt?: number;
  /** Extra zeroed memory after the file contents (BSS). */
  bss?: number;
  machine?: number;
  elfClass?: number;
  /** Put no Multiboot header in. */
  noHeader?: boolean;
  badChecksum?: boolean;
}

export function multibootElf(code: ArrayLike<number>, opts: ElfOptions = {}): Uint8Array {
  const loadAt = opts.loadAt ?? 0x100000;
  const headerOff = 0x54; // ELF header (52) + one program header (32) = 84
  const mb = opts.noHeader ? new Uint8Array(0) : new Uint8Array(12);
  if (!opts.noHeader) {
    const dv = new DataView(mb.buffer);
    dv.setUint32(0, 0x1badb002, true);
    dv.setUint32(4, 0, true);
    dv.setUint32(8, (-(0x1badb002) + (opts.badChecksum ? 1 : 0)) >>> 0, true);
  }
  const body = new Uint8Array(mb.length + code.length);
  body.set(mb, 0);
  body.set(Array.from(code), mb.length);
  const file = new Uint8Array(headerOff + body.length);
  const dv = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, opts.elfClass ?? 1, 1, 1, 0], 0);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, opts.machine ?? 3, true); // EM_386
  dv.setUint32(20, 1, true);
  const entry = loadAt + mb.length;
  dv.setUint32(24, entry, true);
  dv.setUint32(28, 52, true); // phoff
  dv.setUint16(40, 52, true); // ehsize
  dv.setUint16(42, 32, true); // phentsize
  dv.setUint16(44, 1, true); // phnum
  // PT_LOAD: offset headerOff -> loadAt
  dv.setUint32(52, 1, true);
  dv.setUint32(56, headerOff, true);
  dv.setUint32(60, loadAt, true);
  dv.setUint32(64, loadAt, true);
  dv.setUint32(68, body.length, true);
  dv.setUint32(72, body.length + (opts.bss ?? 0), true);
  dv.setUint32(76, 7, true);
  file.set(body, headerOff);
  return file;
}

/**
 * A few 32-bit instructions as bytes, for tests' hand-assembled guests (flat mode, as
 * a Multiboot loader leaves the CPU).
 */
export const asm = {
  le32: (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff],
  /** mov dx, port */
  movDx: (port: number) => [0x66, 0xba, port & 0xff, port >> 8],
  /** mov dx, port; mov eax, v; out dx, eax */
  outl: (port: number, v: number) => [...asm.movDx(port), 0xb8, ...asm.le32(v), 0xef],
  /** mov dx, port; mov al, v; out dx, al */
  outb: (port: number, v: number) => [...asm.movDx(port), 0xb0, v, 0xee],
  /** mov ecx, n; 1: dec ecx; jnz 1b */
  spin: (n: number) => [0xb9, ...asm.le32(n), 0x49, 0x75, 0xfd],
  /** mov dword [addr], v: a 32-bit store (to a memory-mapped register past RAM, say) */
  stl: (addr: number, v: number) => [0xc7, 0x05, ...asm.le32(addr), ...asm.le32(v)],
  /** mov byte [addr], v */
  stb: (addr: number, v: number) => [0xc6, 0x05, ...asm.le32(addr), v & 0xff],
  /** mov eax, [addr]; mov [to], eax: a 32-bit load kept where the test can read it */
  copyl: (addr: number, to: number) => [0xa1, ...asm.le32(addr), 0xa3, ...asm.le32(to)],
  /** isa-debug-exit with v, then hlt */
  exitWith: (v: number) => [...asm.outb(0xf4, v), 0xf4],
};
