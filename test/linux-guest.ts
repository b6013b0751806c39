/**
 * The Linux guest the Linux tests boot: Debian 12's 686 kernel and an initramfs of
 * busybox-static, Debian's network modules and vpio-net (scripts/linux-guest.mjs).
 * Only what is already in the script's cache is used: nothing is downloaded during
 * the tests (.ci/run fills the cache first). Where it is absent the tests skip and say so.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ROOT } from './support';

export const LINUX_CACHED = fs.existsSync(path.join(os.tmpdir(), 'vpio-linux-guest', 'unpacked'));
export const LINUX_SKIP = 'no Linux guest in the cache (node scripts/linux-guest.mjs downloads Debian\'s kernel and busybox with apt-get; .ci/run does it)';

/** Debian's 686-pae kernel of the same version, where the script could download it. */
export const LINUX_PAE_CACHED = fs.existsSync(path.join(os.tmpdir(), 'vpio-linux-guest', 'pae', 'unpacked'));
export const LINUX_PAE_SKIP = 'no 686-pae kernel in the cache (node scripts/linux-guest.mjs downloads it beside the 686 one; .ci/run does it)';

/**
 * The kernel and initrd paths (the initramfs is rebuilt only when its inputs change),
 * and the 686-pae kernel's with an initramfs of its own modules, where the script has them.
 */
export function linuxGuest(): { kernel: string; initrd: string; kernelPae: string | null; initrdPae: string | null } {
  const g = spawnSync(process.execPath, [path.join(ROOT, 'scripts/linux-guest.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (g.status !== 0) throw new Error(`scripts/linux-guest.mjs failed: ${g.stderr}`);
  return { kernel: /^kernel (.*)$/m.exec(g.stdout)![1], initrd: /^initrd (.*)$/m.exec(g.stdout)![1], kernelPae: /^kernel-pae (.*)$/m.exec(g.stdout)?.[1] ?? null,
    initrdPae: /^initrd-pae (.*)$/m.exec(g.stdout)?.[1] ?? null };
}

/** The lines /init and its workloads print, in order (the kernel's own log left out). */
export function initLines(out: string): string[] {
  return out.split(/\r?\n/).map((l) => l.replace(/^vm\d+\| /, '')).filter((l) => /^(init: |vpio-net: |\d+ packets transmitted)/.test(l));
}
