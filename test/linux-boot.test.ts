/**
 * Booting a Linux bzImage from the command line: `--append` (QEMU's name) and
 * `--initrd`, the image's format recognised, and refusals in one line.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureBuilt, runCli } from './support';
import { tempDir } from './tmp';

beforeAll(ensureBuilt);
const tmp = tempDir('vpio-linux-');

/** A bzImage whose protected-mode code writes "OK\n" to port 0xE9 and exits with 0 through isa-debug-exit. */
function tinyBzImage(): string {
  const code = [0xb0, 0x4f, 0xe6, 0xe9, 0xb0, 0x4b, 0xe6, 0xe9, 0xb0, 0x0a, 0xe6, 0xe9, 0xb0, 0x00, 0xe6, 0xf4, 0xf4];
  const img = new Uint8Array(5 * 512 + code.length);
  const dv = new DataView(img.buffer);
  img[0x1f1] = 4;
  dv.setUint16(0x1fe, 0xaa55, true);
  img[0x201] = 0x6a;
  dv.setUint32(0x202, 0x53726448, true);
  dv.setUint16(0x206, 0x020f, true);
  img[0x211] = 0x01;
  dv.setUint32(0x214, 0x100000, true);
  dv.setUint32(0x22c, 0x7fffffff, true);
  dv.setUint32(0x238, 2047, true);
  img.set(code, 5 * 512);
  const file = path.join(tmp, 'tiny.bzImage');
  fs.writeFileSync(file, img);
  return file;
}

describe('vpio run with a Linux bzImage', () => {
  it('boots it through the 32-bit boot protocol, with --append and --initrd', () => {
    const initrd = path.join(tmp, 'initrd');
    fs.writeFileSync(initrd, Buffer.alloc(4096, 7));
    const r = runCli(['run', tinyBzImage(), '--append', 'console=ttyS0', '--initrd', initrd]);
    expect(r.stdout.toString()).toBe('OK\n');
    expect(r.status).toBe(1); // isa-debug-exit with 0, as under QEMU
  });

  it('says on stderr, once, when the command line names no serial console (the machine has no display)', () => {
    const quiet = runCli(['run', tinyBzImage()]);
    expect(quiet.stderr.trim().split('\n')).toEqual([expect.stringMatching(/names no serial console; .* add --append console=ttyS0$/)]);
    expect(quiet.stdout.toString()).toBe('OK\n');
    for (const append of ['quiet console=ttyS0,115200n8', 'console=tty0 console=ttyS1', 'console=uart8250,io,0x3f8']) {
      expect(runCli(['run', tinyBzImage(), '--append', append]).stderr).toBe('');
    }
    expect(runCli(['run', 'guests/bin/hello.elf']).stderr).toBe(''); // not Linux: nothing to say
    const vms = runCli(['run', tinyBzImage(), 'guests/bin/hello.elf', '--mode', 'virtual']);
    expect(vms.stderr.match(/names no serial console/g)).toHaveLength(1);
  });

  it('refuses an initrd for a Multiboot kernel, and an initrd that is not a regular file', () => {
    const a = runCli(['run', 'guests/bin/hello.elf', '--initrd', 'package.json']);
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/--initrd is for a Linux bzImage; guests\/bin\/hello\.elf is a Multiboot kernel/);
    const b = runCli(['run', tinyBzImage(), '--initrd', '/dev/zero']);
    expect(b.status).toBe(2);
    expect(b.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('with several kernels, gives --initrd to the Linux ones and refuses it when none is', () => {
    const initrd = path.join(tmp, 'initrd-mixed');
    fs.writeFileSync(initrd, Buffer.alloc(4096, 7));
    const mixed = runCli(['run', tinyBzImage(), 'guests/bin/hello.elf', '--initrd', initrd, '--mode', 'virtual']);
    expect(mixed.stderr).not.toMatch(/--initrd is for/);
    expect(mixed.stdout.toString()).toMatch(/vm0\| OK/);
    expect(mixed.stdout.toString()).toMatch(/vm1\| boot: hello/);
    const none = runCli(['run', 'guests/bin/hello.elf', 'guests/bin/hello.elf', '--initrd', initrd, '--mode', 'virtual']);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/--initrd is for a Linux bzImage; guests\/bin\/hello\.elf is a Multiboot kernel/);
  });
});
