/** A rebuild of the guests with the system toolchain reproduces the committed images byte for byte. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ROOT, have, describeIf } from './support';

const toolchain = have('make', '--version') && have('ld', '--version') &&
  spawnSync('sh', ['-c', 'echo "int x;" | gcc -m32 -ffreestanding -c -x c - -o /dev/null'], { encoding: 'utf8' }).status === 0;

describeIf(toolchain, 'gcc -m32, ld or make is missing (.ci/run installs gcc-multilib, binutils and make)')('guest images', () => {
  it('rebuild byte for byte from their sources', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vpio-guests-'));
    const r = spawnSync('make', ['-s', '-C', path.join(ROOT, 'guests'), `OUT=${out}`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const committed = fs.readdirSync(path.join(ROOT, 'guests/bin')).filter((f) => f.endsWith('.elf'));
    expect(committed.length).toBeGreaterThan(0);
    for (const f of committed) {
      const rebuilt = fs.readFileSync(path.join(out, f));
      expect({ f, same: rebuilt.equals(fs.readFileSync(path.join(ROOT, 'guests/bin', f))) }).toEqual({ f, same: true });
    }
    fs.rmSync(out, { recursive: true, force: true });
  }, 120000);
});
