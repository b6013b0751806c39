/**
 * Public programs as guests (scripts/public-guest.mjs; their sources are not ours and
 * are not in the repository: each runs only when its copy is named, and is skipped
 * otherwise).
 *
 * - EEMBC CoreMark (COREMARK_DIR), with our port (guests/coremark). CoreMark checks
 *   itself: the CRCs of its list, matrix and state work must be the values its own
 *   sources list as right for a 2K performance run, whatever the iteration count.
 * - LZ4's compressors (LZ4_DIR), driven by guests/lz4/lz4-main.c: every round trip must
 *   give the text back, and the compressed sizes and CRCs must be what the same image
 *   gives under qemu-system-i386 (where it is installed).
 *
 * Both engines must agree, with the same instruction and cycle counts.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { describeIf, ensureBuilt, runCli, have, ROOT } from './support';
import { tempDir } from './tmp';

/** Builds `name` with `iterations` into a fresh folder; returns the ELF's path. */
function build(name: string, env: string, iterations: number): string {
  const out = tempDir(`vpio-${name}-test-`);
  const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'public-guest.mjs'), name, '--iterations', String(iterations), '--out', out],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, [env]: process.env[env] } });
  expect(b.stderr).toBe('');
  return b.stdout.trim();
}

/** The guest in both engines: the same output and counts (returned: the output). */
function bothEngines(elf: string): string {
  const runs = [['--no-translate'], []].map((flags) => runCli(['run', elf, '--stats', ...flags], 300000));
  expect(runs[0].stdout.equals(runs[1].stdout)).toBe(true);
  expect(runs[0].stderr).toBe(runs[1].stderr);
  return runs[1].stdout.toString('latin1');
}

const coremark = process.env.COREMARK_DIR ?? '';
describeIf(coremark !== '' && fs.existsSync(path.join(coremark, 'core_main.c')), 'COREMARK_DIR does not name a copy of github.com/eembc/coremark')('CoreMark', () => {
  it('gives the CRCs CoreMark lists as right, interpreted and translated, in the same cycles', () => {
    ensureBuilt();
    const text = bothEngines(build('coremark', 'COREMARK_DIR', 20));
    expect(text).toMatch(/^seedcrc +: 0xe9f5$/m);
    expect(text).toMatch(/^\[0\]crclist +: 0xe714$/m);
    expect(text).toMatch(/^\[0\]crcmatrix +: 0x1fd7$/m);
    expect(text).toMatch(/^\[0\]crcstate +: 0x8e3a$/m);
    expect(text).toMatch(/^Iterations +: 20$/m);
    expect(text).not.toMatch(/ERROR! (list|matrix|state) crc/);
  }, 600000);
});

const lz4 = process.env.LZ4_DIR ?? '';
describeIf(lz4 !== '' && fs.existsSync(path.join(lz4, 'lib', 'lz4.c')), 'LZ4_DIR does not name a copy of github.com/lz4/lz4')('LZ4', () => {
  it('compresses and gives the text back in both engines, with the sizes and CRCs QEMU gives', () => {
    ensureBuilt();
    const elf = build('lz4', 'LZ4_DIR', 1);
    const text = bothEngines(elf);
    expect(text).toMatch(/^lz4: 1 rounds, 0 failures$/m);
    const lines = (t: string) => t.replace(/\r/g, '').split('\n').filter((l) => /^(text|fast|hc9|lz4): /.test(l));
    if (have('qemu-system-i386', '--version')) {
      const q = spawnSync('qemu-system-i386', ['-kernel', elf, '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot', '-vga', 'none', '-nic', 'none',
        '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-m', '64'], { encoding: 'latin1', timeout: 120000 });
      expect(lines(q.stdout)).toEqual(lines(text));
    }
  }, 600000);
});
