#!/usr/bin/env node
/**
 * Builds a Linux guest from Debian's packages, as the tests and benches boot it: the
 * i386 kernel `linux-image-6.1.0-*-686-unsigned` (a bzImage) and an initramfs of
 * `busybox-static`, the kernel's own network modules (ne2k-pci and 8390, 8139too and
 * mii, from the same package; 8139cp for QEMU's C+ RTL8139 in the reference runs), `vpio-net` (guests/linux/vpio-net.c, built here with
 * gcc -m32: the UDP workload) and an /init (guests/linux/init.sh by default: what it runs
 * comes from the kernel command line). Nothing of it is committed: the packages come
 * from Debian with `apt-get download` (the machine needs `dpkg --add-architecture i386`
 * and an `apt-get update` for busybox-static:i386, which `.ci/run` does) and are kept in
 * a cache folder.
 *
 *   node scripts/linux-guest.mjs [--cache DIR] [--init FILE]
 *
 * Prints the paths of the kernel and the initramfs (gzip'd newc cpio, written here
 * without cpio(1)), and of the same version's 686-pae kernel and an initramfs with its
 * own modules (`kernel-pae`, `initrd-pae`, for the PAE test; their absence only warns). Exits 3 with one line saying why when the
 * packages or gcc cannot be had. Also a module: `linuxGuest({ cache, init })` returns
 * { kernel, initrd } or throws.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { createHash } from 'crypto';

const digest = (data) => createHash('sha256').update(data).digest('hex').slice(0, 16);

export const DEFAULT_CACHE = path.join(os.tmpdir(), 'vpio-linux-guest');

const HERE = path.dirname(new URL(import.meta.url).pathname);
const LINUX_DIR = path.join(HERE, '..', 'guests', 'linux');

/** The /init the tests use by default (guests/linux/init.sh). */
export const DEFAULT_INIT = fs.readFileSync(path.join(LINUX_DIR, 'init.sh'), 'utf8');

/** The modules the initramfs carries: the two drivers and what they need. */
const MODULES = ['kernel/drivers/net/mii.ko', 'kernel/drivers/net/ethernet/8390/8390.ko', 'kernel/drivers/net/ethernet/8390/ne2k-pci.ko', 'kernel/drivers/net/ethernet/realtek/8139too.ko',
  // For the reference run: QEMU's rtl8139 is the C+ revision, which 8139too leaves to 8139cp.
  'kernel/drivers/net/ethernet/realtek/8139cp.ko'];

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

/** Downloads (once) and unpacks the two packages into `cache`; returns the unpacked folder. */
function unpacked(cache) {
  const root = path.join(cache, 'root');
  const done = path.join(cache, 'unpacked');
  if (fs.existsSync(done)) return root;
  fs.mkdirSync(cache, { recursive: true });
  let kernelPkg;
  try {
    const list = run('apt-cache', ['search', '--names-only', '^linux-image-6\\.1\\.0-[0-9]+-686-unsigned$']);
    const names = list.split('\n').map((l) => l.split(' ')[0]).filter(Boolean).sort((a, b) => Number(a.split('-')[3]) - Number(b.split('-')[3]));
    kernelPkg = names[names.length - 1];
  } catch (e) {
    throw new Error(`apt-cache is not available (${e.message.split('\n')[0]})`);
  }
  if (!kernelPkg) throw new Error('no linux-image-6.1.0-*-686-unsigned in the package lists (run apt-get update; Debian 12)');
  try {
    run('apt-get', ['download', kernelPkg, 'busybox-static:i386'], cache);
  } catch (e) {
    throw new Error(`apt-get download ${kernelPkg} busybox-static:i386 failed (is the i386 architecture added? dpkg --add-architecture i386 && apt-get update): ${(e.stderr || e.message).split('\n').filter(Boolean).pop()}`);
  }
  for (const deb of fs.readdirSync(cache).filter((f) => f.endsWith('.deb'))) run('dpkg', ['-x', deb, root], cache);
  fs.writeFileSync(done, kernelPkg + '\n');
  return root;
}

/**
 * Debian's 686-pae kernel of the same version (its default i386 flavour: PAE paging),
 * downloaded once into its own folder: its bzImage, and its own builds of the network
 * modules (kept in modules/, the rest of the package dropped). Returns { kernel,
 * modules }, or throws.
 */
function paeKernel(cache, kernelPkg) {
  const dir = path.join(cache, 'pae');
  const root = path.join(dir, 'root');
  const done = path.join(dir, 'unpacked');
  const pkg = kernelPkg.replace(/-686-unsigned$/, '-686-pae-unsigned');
  if (!fs.existsSync(done)) {
    fs.mkdirSync(dir, { recursive: true });
    try {
      run('apt-get', ['download', pkg], dir);
    } catch (e) {
      throw new Error(`apt-get download ${pkg} failed: ${(e.stderr || e.message).split('\n').filter(Boolean).pop()}`);
    }
    for (const deb of fs.readdirSync(dir).filter((f) => f.endsWith('.deb'))) {
      run('dpkg', ['-x', deb, root], dir);
      fs.rmSync(path.join(dir, deb));
    }
    const version = fs.readdirSync(path.join(root, 'lib', 'modules'))[0];
    fs.mkdirSync(path.join(dir, 'modules'), { recursive: true });
    for (const m of MODULES) fs.copyFileSync(path.join(root, 'lib', 'modules', version, m), path.join(dir, 'modules', path.basename(m)));
    fs.rmSync(path.join(root, 'lib'), { recursive: true, force: true });
    fs.writeFileSync(done, pkg + '\n');
  }
  return { kernel: bzImageIn(root), modules: MODULES.map((m) => fs.readFileSync(path.join(dir, 'modules', path.basename(m)))) };
}

/** The kernel (boot/vmlinuz-*) of an unpacked kernel package. */
function bzImageIn(root) {
  const boot = path.join(root, 'boot');
  return fs.readdirSync(boot).filter((f) => f.startsWith('vmlinuz-')).map((f) => path.join(boot, f))[0];
}

/** A newc cpio archive of `entries` ([name, mode, data]), as the kernel's initramfs unpacker reads it. */
function cpio(entries) {
  const parts = [];
  let ino = 1;
  const hex = (n) => n.toString(16).padStart(8, '0');
  const pad4 = (n) => (4 - (n % 4)) % 4;
  for (const [name, mode, data] of [...entries, ['TRAILER!!!', 0, Buffer.alloc(0)]]) {
    const nameBytes = Buffer.from(name + '\0');
    const header = '070701' + [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0].map(hex).join('');
    parts.push(Buffer.from(header), nameBytes, Buffer.alloc(pad4(110 + nameBytes.length)), data, Buffer.alloc(pad4(data.length)));
  }
  return Buffer.concat(parts);
}

/** vpio-net, built once into the cache (a static i386 program without libc: gcc -m32 is all it needs). */
function vpioNet(cache) {
  const src = path.join(LINUX_DIR, 'vpio-net.c');
  const source = fs.readFileSync(src);
  const out = path.join(cache, `vpio-net-${digest(source)}`);
  if (!fs.existsSync(out)) {
    try {
      run('gcc', ['-m32', '-static', '-nostdlib', '-ffreestanding', '-fno-pic', '-fno-pie', '-no-pie', '-fno-stack-protector', '-O2', '-o', `${out}.${process.pid}.tmp`, src], cache);
    } catch (e) {
      throw new Error(`gcc -m32 could not build guests/linux/vpio-net.c (install gcc and binutils): ${(e.stderr || e.message).split('\n').filter(Boolean)[0]}`);
    }
    fs.renameSync(`${out}.${process.pid}.tmp`, out);
  }
  return fs.readFileSync(out);
}

export function linuxGuest({ cache = DEFAULT_CACHE, init = DEFAULT_INIT } = {}) {
  const root = unpacked(cache);
  const kernel = bzImageIn(root);
  const version = fs.readdirSync(path.join(root, 'lib', 'modules'))[0];
  const modules = MODULES.map((m) => fs.readFileSync(path.join(root, 'lib', 'modules', version, m)));
  return { kernel, initrd: initramfs(cache, root, modules, init) };
}

/** The initramfs: busybox (from `root`), vpio-net, the modules given (in MODULES' order) and /init; its path in the cache. */
function initramfs(cache, root, moduleFiles, init) {
  const busybox = fs.readFileSync(path.join(root, 'bin', 'busybox'));
  const modules = MODULES.map((m, i) => [`lib/modules/${path.basename(m)}`, 0o100644, moduleFiles[i]]);
  const archive = cpio([
    ['bin', 0o040755, Buffer.alloc(0)],
    ['dev', 0o040755, Buffer.alloc(0)],
    ['lib', 0o040755, Buffer.alloc(0)],
    ['lib/modules', 0o040755, Buffer.alloc(0)],
    ['bin/busybox', 0o100755, busybox],
    ['bin/vpio-net', 0o100755, vpioNet(cache)],
    ...modules,
    ['init', 0o100755, Buffer.from(init)],
  ]);
  const body = zlib.gzipSync(archive, { level: 6 });
  // Named by its content: a file already there is this one. Written beside it and renamed,
  // so that a test booting it while another test builds the same one never reads half of it.
  const initrd = path.join(cache, `initrd-${digest(body)}.gz`);
  if (!fs.existsSync(initrd)) {
    const tmp = `${initrd}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, body);
    fs.renameSync(tmp, initrd);
  }
  return initrd;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  try {
    const init = opt('--init') ? fs.readFileSync(opt('--init'), 'utf8') : DEFAULT_INIT;
    const cache = opt('--cache') ?? DEFAULT_CACHE;
    const { kernel, initrd } = linuxGuest({ cache, init });
    console.log(`kernel ${kernel}\ninitrd ${initrd}`);
    // The PAE kernel is for one test (with an initramfs of its own modules); without it
    // that test skips and says why.
    try {
      const pae = paeKernel(cache, fs.readFileSync(path.join(cache, 'unpacked'), 'utf8').trim());
      console.log(`kernel-pae ${pae.kernel}\ninitrd-pae ${initramfs(cache, path.join(cache, 'root'), pae.modules, init)}`);
    } catch (e) {
      console.error(`linux-guest: no 686-pae kernel: ${e.message}`);
    }
  } catch (e) {
    console.error(`linux-guest: ${e.message}`);
    process.exit(3);
  }
}
