/**
 * The Linux 32-bit boot protocol loader against Documentation/x86/boot.rst: a bzImage
 * recognised by its setup header, its protected-mode part at 1 MiB, the zero page (the
 * header copied, type_of_loader, the command line and initrd pointers, the E820 map as
 * SeaBIOS builds it), the initrd at the top of RAM below initrd_addr_max, and the CPU
 * state the protocol requires at the 32-bit entry. Refusals are one line each.
 */
import { isLinuxImage, loadLinux, ZERO_PAGE, CMDLINE_AT, LINUX_GDT_ADDRESS } from './linux';
import { BadImage, FIRMWARE_RESERVED } from './multiboot';
import { Pc } from './pc';

const MiB = 1 << 20;

/** A bzImage of `setupSects` setup sectors and `kernel` bytes of protected-mode code, protocol `version`. */
function bzImage(kernel: ArrayLike<number>, opts: { version?: number; setupSects?: number; loadflags?: number; initrdMax?: number; cmdlineSize?: number } = {}): Uint8Array {
  const setupSects = opts.setupSects ?? 4;
  const img = new Uint8Array((setupSects + 1) * 512 + kernel.length);
  const dv = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  dv.setUint16(0x1fe, 0xaa55, true);
  img[0x201] = 0x6a; // the header runs to 0x202 + 0x6a
  dv.setUint32(0x202, 0x53726448, true); // "HdrS"
  dv.setUint16(0x206, opts.version ?? 0x020f, true);
  img[0x211] = opts.loadflags ?? 0x01;
  dv.setUint32(0x214, 0x100000, true);
  dv.setUint32(0x22c, opts.initrdMax ?? 0x7fffffff, true);
  dv.setUint32(0x230, 0x200000, true); // kernel_alignment
  dv.setUint32(0x238, opts.cmdlineSize ?? 2047, true);
  img.set(Array.from(kernel), (setupSects + 1) * 512);
  return img;
}

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

describe('the Linux boot protocol', () => {
  it('recognises a bzImage by its setup header, and nothing else', () => {
    expect(isLinuxImage(bzImage([0xf4]))).toBe(true);
    const noMagic = bzImage([0xf4]);
    noMagic[0x202] = 0;
    expect(isLinuxImage(noMagic)).toBe(false);
    expect(isLinuxImage(new Uint8Array(100))).toBe(false);
  });

  it('loads the kernel at 1 MiB, builds the zero page, and puts the initrd at the top of RAM below the reserved 128 KiB', () => {
    const ram = new Uint8Array(64 * MiB);
    const kernel = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
    const initrd = Uint8Array.from({ length: 10000 }, (_, i) => (i * 3 + 1) & 0xff);
    const k = loadLinux(bzImage(kernel), ram, 'console=ttyS0 é', initrd);
    expect(Array.from(ram.subarray(0x100000, 0x100000 + 5000))).toEqual(Array.from(kernel));
    const bp = ram.subarray(ZERO_PAGE, ZERO_PAGE + 4096);
    expect(u32(bp, 0x202)).toBe(0x53726448); // the header, copied
    expect(bp[0x210]).toBe(0xb0); // type_of_loader: QEMU's
    expect(u32(bp, 0x228)).toBe(CMDLINE_AT);
    expect(new TextDecoder().decode(ram.subarray(CMDLINE_AT, CMDLINE_AT + 16))).toBe('console=ttyS0 é');
    expect(ram[CMDLINE_AT + 16]).toBe(0);
    // The initrd: page aligned, ending at or below the usable top (RAM minus 128 KiB).
    const at = u32(bp, 0x218);
    expect(u32(bp, 0x21c)).toBe(10000);
    expect(at % 4096).toBe(0);
    expect(at + 10000).toBeLessThanOrEqual(64 * MiB - FIRMWARE_RESERVED);
    expect(at + 10000 + 4096).toBeGreaterThan(64 * MiB - FIRMWARE_RESERVED);
    expect(Array.from(ram.subarray(at, at + 10000))).toEqual(Array.from(initrd));
    expect(k.initrdAt).toBe(at);
    // The E820 map (SeaBIOS's under QEMU for 64 MiB): six ranges.
    expect(bp[0x1e8]).toBe(6);
    const e = (i: number) => [u32(bp, 0x2d0 + 20 * i), u32(bp, 0x2d0 + 20 * i + 8), u32(bp, 0x2d0 + 20 * i + 16)];
    expect(e(0)).toEqual([0, 0x9fc00, 1]);
    expect(e(3)).toEqual([0x100000, 64 * MiB - FIRMWARE_RESERVED - 0x100000, 1]);
    expect(e(4)).toEqual([64 * MiB - FIRMWARE_RESERVED, FIRMWARE_RESERVED, 2]);
  });

  it('puts the initrd below initrd_addr_max when that is lower', () => {
    const ram = new Uint8Array(64 * MiB);
    const k = loadLinux(bzImage([0xf4], { initrdMax: 32 * MiB - 1 }), ram, '', new Uint8Array(8192));
    expect(k.initrdAt).toBe(32 * MiB - 8192);
  });

  it('leaves the CPU at the 32-bit entry as the protocol says: flat, CS 0x10, DS/ES/SS 0x18, ESI the zero page, IF clear', () => {
    const pc = new Pc({ memoryBytes: 32 * MiB, rtcStart: 946684800, console: () => {} });
    pc.boot(bzImage([0xf4]), 'quiet');
    const cpu = pc.cpu;
    expect(cpu.eip).toBe(0x100000);
    expect(cpu.sreg[1]).toBe(0x10);
    for (const s of [0, 2, 3]) expect(cpu.sreg[s]).toBe(0x18);
    expect(cpu.reg32[6]).toBe(ZERO_PAGE); // ESI
    expect([cpu.reg32[3], cpu.reg32[5], cpu.reg32[7]]).toEqual([0, 0, 0]); // EBX, EBP, EDI
    expect(cpu.flags & 0x200).toBe(0);
    expect(cpu.gdtrBase).toBe(LINUX_GDT_ADDRESS);
    expect(u32(pc.ram, LINUX_GDT_ADDRESS + 0x14)).toBe(0x00cf9b00); // __BOOT_CS: flat 32-bit code
    expect(u32(pc.ram, LINUX_GDT_ADDRESS + 0x1c)).toBe(0x00cf9300); // __BOOT_DS: flat data
  });

  it('refuses, in one line each, what it cannot boot', () => {
    const ram = new Uint8Array(16 * MiB);
    const cases: [Uint8Array, string, Uint8Array | null, RegExp][] = [
      [bzImage([0xf4], { version: 0x0203 }), '', null, /boot protocol 2\.3 kernel; this loader needs 2\.04 or later/],
      [bzImage([0xf4], { loadflags: 0 }), '', null, /a zImage \(loaded low\); give a bzImage/],
      [bzImage([0xf4], { cmdlineSize: 8 }), 'console=ttyS0', null, /command line is 13 bytes; this kernel takes at most 8; give a shorter --append/],
      [bzImage(new Uint8Array(17 * MiB)), '', null, /do not fit in 16 MiB of RAM; give more --memory/],
      [bzImage([0xf4]), '', new Uint8Array(20 * MiB), /the initrd's \d+ bytes do not fit/],
      [bzImage([0xf4]).subarray(0, 0x400), '', null, /truncated/],
    ];
    for (const [img, cmd, initrd, why] of cases) {
      let err: unknown = null;
      try { loadLinux(img, ram, cmd, initrd); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(BadImage);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).not.toMatch(/\n/);
    }
  });
});
