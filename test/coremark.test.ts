/**
 * EEMBC CoreMark (github.com/eembc/coremark) with our port (guests/coremark), built by
 * scripts/coremark.mjs from a copy named by COREMARK_DIR (its sources are not ours and
 * are not in the repository; without a copy this test is skipped). CoreMark checks
 * itself: the CRCs of its list, matrix and state work must be the values its own
 * sources list as right for a 2K performance run, whatever the iteration count. Both
 * engines must get them, with the same instruction and cycle counts.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeIf, ensureBuilt, runCli, ROOT } from './support';

const dir = process.env.COREMARK_DIR ?? '';
const present = dir !== '' && fs.existsSync(path.join(dir, 'core_main.c'));

describeIf(present, 'COREMARK_DIR does not name a copy of github.com/eembc/coremark')('CoreMark', () => {
  it('gives the CRCs CoreMark lists as right, interpreted and translated, in the same cycles', () => {
    ensureBuilt();
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vpio-coremark-test-'));
    const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'coremark.mjs'), '--iterations', '20', '--out', out], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, COREMARK_DIR: dir } });
    expect(b.stderr).toBe('');
    const elf = b.stdout.trim();
    const runs = [['--no-translate'], []].map((flags) => runCli(['run', elf, '--stats', ...flags], 300000));
    for (const r of runs) {
      const text = r.stdout.toString('latin1');
      expect(text).toMatch(/^seedcrc +: 0xe9f5$/m);
      expect(text).toMatch(/^\[0\]crclist +: 0xe714$/m);
      expect(text).toMatch(/^\[0\]crcmatrix +: 0x1fd7$/m);
      expect(text).toMatch(/^\[0\]crcstate +: 0x8e3a$/m);
      expect(text).toMatch(/^Iterations +: 20$/m);
      expect(text).not.toMatch(/ERROR! (list|matrix|state) crc/);
    }
    expect(runs[0].stdout.equals(runs[1].stdout)).toBe(true);
    expect(runs[0].stderr).toBe(runs[1].stderr);
  }, 600000);
});
