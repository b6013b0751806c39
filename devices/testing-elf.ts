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
