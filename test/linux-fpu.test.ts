/**
 * Debian 12's 686 kernel (no math emulation) with the x87 FPU: it detects the FPU
 * (CR0.ET, FNINIT, FNSTSW, FNSTCW), passes its check_fpu (the FDIV bug test), picks
 * FSAVE for context switches (no FXSR in CPUID; 6.1 saves and restores eagerly, with
 * FNSAVE/FRSTOR) and reaches /init. Before the FPU existed it stopped at the first FNINIT.
 *
 * Runs only where scripts/linux-guest.mjs has already unpacked the packages into its
 * cache (nothing is downloaded here); takes about a minute.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ROOT, ensureBuilt, runCli, describeIf } from './support';

const cached = fs.existsSync(path.join(os.tmpdir(), 'vpio-linux-guest', 'unpacked'));

describeIf(cached, 'no Linux guest in the cache (node scripts/linux-guest.mjs builds one)')('the Linux kernel and the x87 FPU', () => {
  beforeAll(ensureBuilt);

  it('detects the FPU, uses FSAVE, and boots to /init', () => {
    const g = spawnSync(process.execPath, [path.join(ROOT, 'scripts/linux-guest.mjs')], { cwd: ROOT, encoding: 'utf8' });
    expect(g.status).toBe(0);
    const kernel = /^kernel (.*)$/m.exec(g.stdout)![1], initrd = /^initrd (.*)$/m.exec(g.stdout)![1];
    const r = runCli(['run', kernel, '--initrd', initrd, '--append', 'console=ttyS0 panic=-1', '--memory', '128M', '--max-cycles', '20e9'], 600000);
    const out = r.stdout.toString('latin1');
    expect(out).toMatch(/x86\/fpu: x87 FPU will use FSAVE/);
    expect(out).not.toMatch(/Hmm, FPU with FDIV bug|math emulation|Giving up, no FPU/);
    expect(out).toMatch(/Run \/init as init process/);
    expect(out).toMatch(/init: hello from \/init/);
  }, 600000);
});
