/**
 * `vpio run --bios`: a raw firmware image placed as `qemu-system-i386 -bios` places it,
 * run from the reset vector (SDM vol. 3, 9.1.4: the first instruction is fetched from
 * physical FFFFFFF0, CS base FFFF0000, IP FFF0). The same ROM also runs under QEMU
 * where it is installed: the reference for what it prints and how it ends.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Pc, DEFAULT_MAC } from '../board/pc';
import { describeIf, ensureBuilt, have, runCli } from './support';
import { tempDir } from './tmp';

const MiB = 1 << 20;

/**
 * A 64 KiB ROM (nasm, bits 16). At the reset vector, which only the copy at the top of
 * 4 GiB holds in RAM-less space:
 *   FFF0: mov al, 'A' ; out 0xe9, al ; jmp 0xf000:0xe000
 * and at F000:E000 (the copy below 1 MiB):
 *   mov al, 'B' ; out 0xe9, al ; mov al, 0x42 ; out 0x80, al ; mov ax, 0xf000 ; mov ds, ax
 *   mov al, [0xfff1] ; out 0xe9, al        ('A' again: the alias holds the same bytes)
 *   mov al, 0x21 ; out 0xf4, al            (isa-debug-exit: status 0x43)
 */
function rom(): Uint8Array {
  const r = new Uint8Array(0x10000).fill(0xff);
  r.set([0xb0, 0x41, 0xe6, 0xe9, 0xea, 0x00, 0xe0, 0x00, 0xf0], 0xfff0);
  r.set([0xb0, 0x42, 0xe6, 0xe9, 0xb0, 0x42, 0xe6, 0x80, 0xb8, 0x00, 0xf0, 0x8e, 0xd8,
    0xa0, 0xf1, 0xff, 0xe6, 0xe9, 0xb0, 0x21, 0xe6, 0xf4], 0xe000);
  return r;
}

describe('Pc.loadBios', () => {
  for (const translate of [false, true]) {
    it(`starts at the reset vector in the image's top copy and runs on in the copy below 1 MiB (${translate ? 'translated' : 'interpreted'})`, () => {
      let out = '';
      const trace: string[] = [];
      const pc = new Pc({
        memoryBytes: 16 * MiB, mac: DEFAULT_MAC, rtcStart: 946684800, console: (b) => { out += String.fromCharCode(b); },
        trace: (l) => trace.push(l), traceKinds: new Set(['post']),
      });
      pc.cpu.useTranslator = translate;
      pc.loadBios(rom());
      const r = pc.run(1e6);
      expect(out).toBe('ABA');
      expect(r).toEqual({ kind: 'exit', value: 0x21, status: 0x43 });
      expect(pc.platform.post.last).toBe(0x42);
      expect(trace.filter((l) => / post /.test(l)).map((l) => l.replace(/^\d+ /, ''))).toEqual(['post 0x42']);
    });
  }

  it('refuses an image that is not a whole number of 64 KiB blocks, as QEMU does', () => {
    const pc = new Pc({ memoryBytes: 16 * MiB, mac: DEFAULT_MAC, rtcStart: 946684800, console: () => {} });
    expect(() => pc.loadBios(new Uint8Array(0x8000))).toThrow(/64 KiB/);
  });
});

describe('vpio run --bios', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    ensureBuilt();
    dir = tempDir('vpio-bios-');
    file = path.join(dir, 'rom.bin');
    fs.writeFileSync(file, rom());
  });

  it('runs the ROM and traces its POST codes', () => {
    const r = runCli(['run', '--bios', file, '--trace', 'post']);
    expect(r.stdout.toString('latin1')).toBe('ABA');
    expect(r.status).toBe(0x43);
    expect(r.stderr).toMatch(/^\d+ post 0x42$/m);
  });

  it('refuses a kernel beside it, and an image of the wrong size', () => {
    const odd = path.join(dir, 'odd.bin');
    fs.writeFileSync(odd, new Uint8Array(1000));
    const both = runCli(['run', '--bios', file, odd]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--bios/);
    const bad = runCli(['run', '--bios', odd]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/64 KiB/);
  });

  describeIf(have('qemu-system-i386', '--version'), 'qemu-system-i386 is not installed')('against QEMU', () => {
    it('prints and ends as under qemu-system-i386 -bios', () => {
      const q = spawnSync('qemu-system-i386', ['-bios', file, '-display', 'none', '-nodefaults', '-debugcon', 'stdio',
        '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'], { timeout: 30000 });
      const ours = runCli(['run', '--bios', file]);
      expect(ours.stdout.toString('latin1')).toBe(q.stdout.toString('latin1'));
      expect(ours.status).toBe(q.status);
    });
  });
});
