/**
 * test386.asm (github.com/barotto/test386.asm), a CPU test ROM, from its reset vector
 * with every test on (the 128 KiB ROM with the task-switch tests), interpreted and
 * translated: both runs must reach POST code 0xFF, and test 0xEE's results must match
 * the reference file in the copy (computed on hardware/Bochs, not by us). The ROM's
 * sources are not ours and are not in the repository: set TEST386_DIR to a copy
 * (scripts/test386.mjs builds and runs it); without one this test is skipped.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { describeIf, ensureBuilt, have, ROOT } from './support';

const dir = process.env.TEST386_DIR ?? '';
const present = dir !== '' && fs.existsSync(path.join(dir, 'src', 'test386.asm'));
const reason = !present
  ? 'TEST386_DIR does not name a copy of github.com/barotto/test386.asm'
  : 'nasm is not installed';

describeIf(present && have('nasm', '-v'), reason)('test386.asm', () => {
  it('reaches POST 0xFF with the reference results, interpreted and translated', () => {
    ensureBuilt();
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'test386.mjs'), '--json'], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, TEST386_DIR: dir }, timeout: 600000,
    });
    expect(r.stderr).toBe('');
    const results = JSON.parse(r.stdout) as Record<string, { last: number; ee: { mismatch: unknown } | null }>;
    for (const mode of ['translated', 'interpreted']) {
      expect({ mode, last: results[mode].last }).toEqual({ mode, last: 0xff });
      expect(results[mode].ee?.mismatch).toBeNull();
    }
    expect(r.status).toBe(0);
  }, 600000);
});
