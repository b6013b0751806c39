/**
 * A rebuild of the guests with the system toolchain reproduces the committed images byte
 * for byte; and the guests' own 64-bit division helpers (guests/lib/div64.c, which stand
 * in for libgcc's) give the host's quotients and remainders.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ROOT, have, describeIf } from './support';
import { tempDir } from './tmp';

/**
 * Whether this machine can build the guests: `make toolchain-check` compiles and links
 * the smallest kernel exactly as the Makefile builds every guest (a compiler that only
 * compiles with -m32, or an ld without elf_i386, fails here). Null when it can, else why not.
 */
function cannotBuildGuests(): string | null {
  if (!have('make', '--version')) return 'make is missing (.ci/run installs make, gcc and binutils)';
  const out = tempDir('vpio-toolchain-');
  const r = spawnSync('make', ['-s', '-C', path.join(ROOT, 'guests'), `OUT=${out}`, 'toolchain-check'], { encoding: 'utf8', timeout: 60000 });
  if (r.error) return `make toolchain-check could not run (${r.error.message})`;
  if (r.status !== 0) {
    const lines = (r.stderr || r.stdout).split('\n').filter((l) => l.trim() !== '');
    const why = lines.filter((l) => !l.startsWith('make')).pop() ?? lines.pop() ?? `status ${r.status}`;
    return `this machine cannot build a guest kernel the way guests/Makefile does (make toolchain-check: ${why}); it needs gcc that accepts -m32, and binutils`;
  }
  return null;
}

const whyNot = cannotBuildGuests();

describeIf(whyNot === null, whyNot ?? '')('guest images', () => {
  it('rebuild byte for byte from their sources', () => {
    const out = tempDir('vpio-guests-');
    const r = spawnSync('make', ['-s', '-C', path.join(ROOT, 'guests'), `OUT=${out}`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const committed = fs.readdirSync(path.join(ROOT, 'guests/bin')).filter((f) => f.endsWith('.elf'));
    expect(committed.length).toBeGreaterThan(0);
    for (const f of committed) {
      const rebuilt = fs.readFileSync(path.join(out, f));
      expect({ f, same: rebuilt.equals(fs.readFileSync(path.join(ROOT, 'guests/bin', f))) }).toEqual({ f, same: true });
    }
  }, 120000);

  it('build without a 32-bit libgcc, as with gcc but no gcc-multilib', () => {
    // Such a gcc answers -print-libgcc-file-name with the bare name "libgcc.a" (it has
    // none for -m32); the guests must neither ask for nor need it.
    const dir = tempDir('vpio-nolibgcc-');
    const cc = path.join(dir, 'gcc-without-multilib');
    fs.writeFileSync(cc, '#!/bin/sh\nfor a in "$@"; do [ "$a" = -print-libgcc-file-name ] && { echo libgcc.a; exit 0; }; done\nexec gcc "$@"\n', { mode: 0o755 });
    const out = path.join(dir, 'out');
    const r = spawnSync('make', ['-s', '-C', path.join(ROOT, 'guests'), `OUT=${out}`, `CC=${cc}`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const f of ['udp-tx.elf', 'ping.elf', 'hello.elf']) {
      expect({ f, same: fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ROOT, 'guests/bin', f))) }).toEqual({ f, same: true });
    }
  }, 120000);
});

// The host's own 64-bit division is the reference: the helpers compiled for the host
// (x86, where their DIV instruction exists) against `/` and `%` on 64-bit operands.
function hostCompiles(): boolean {
  if (process.arch !== 'x64' && process.arch !== 'ia32') return false;
  const dir = tempDir('vpio-hostcc-');
  const r = spawnSync('gcc', ['-x', 'c', '-', '-o', path.join(dir, 'a')], { input: 'int main(void) { return 0; }\n', encoding: 'utf8', timeout: 30000 });
  return !r.error && r.status === 0;
}
describeIf(hostCompiles(), 'an x86 host with gcc that builds host programs is needed to check guests/lib/div64.c against the host\'s division')('the guests\' 64-bit division', () => {
  it('gives the host\'s quotient and remainder for edge cases and a million seeded random pairs', () => {
    const dir = tempDir('vpio-div64-');
    const check = `
#include <stdio.h>
typedef unsigned long long u64;
u64 __udivdi3(u64 n, u64 d);
u64 __umoddi3(u64 n, u64 d);
static u64 s = 0x9e3779b97f4a7c15ull;
static u64 next(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
static long cases, wrong;
static void one(u64 a, u64 b) {
  if (!b) return;
  cases++;
  if (__udivdi3(a, b) != a / b || __umoddi3(a, b) != a % b) { if (wrong++ < 5) printf("wrong: %llx / %llx\\n", a, b); }
}
int main(void) {
  u64 edge[] = { 0, 1, 2, 3, 7, 10, 0x7fffffffull, 0x80000000ull, 0xffffffffull, 0x100000000ull, 0x100000001ull,
    0x1ffffffffull, 0x123456789abcdefull, 0x7fffffffffffffffull, 0x8000000000000000ull, 0xfffffffeffffffffull,
    0xfffffffffffffffeull, 0xffffffffffffffffull };
  int n = sizeof edge / sizeof edge[0];
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) { one(edge[i], edge[j]); one(edge[i] - 1, edge[j]); one(edge[i], edge[j] + 1); }
  for (long k = 0; k < 1000000; k++) {
    u64 a = next(), b = next() >> (next() % 64);
    if (next() & 1) a >>= next() % 64;
    one(a, b);
  }
  printf("%ld cases, %ld wrong\\n", cases, wrong);
  return wrong != 0;
}
`;
    fs.writeFileSync(path.join(dir, 'check.c'), check);
    const exe = path.join(dir, 'check');
    const cc = spawnSync('gcc', ['-O2', '-o', exe, path.join(dir, 'check.c'), path.join(ROOT, 'guests/lib/div64.c')], { encoding: 'utf8' });
    expect(cc.stderr).toBe('');
    expect(cc.status).toBe(0);
    const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 60000 });
    expect(r.stdout).toMatch(/^\d+ cases, 0 wrong\n$/);
    expect(r.status).toBe(0);
  }, 120000);
});
