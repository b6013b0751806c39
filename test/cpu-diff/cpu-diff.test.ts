/**
 * The CPU against the host processor (DESIGN.md section 5), or QEMU's user-mode
 * emulator where the host cannot run 32-bit programs: seeded instruction cases run
 * there and in our CPU (interpreted, and through the block translator), with
 * registers, memory and every flag the SDM defines compared. See README.md here.
 */
import { buildCases, Case } from './cases';
import { assembly, build, compare, findOracle, runEmulated, runReference } from './harness';
import { describeIf } from '../support';

const SEED = process.env.CPU_DIFF_SEED ?? 'cpu-diff-1';
const PER_FORM = Number(process.env.CPU_DIFF_N ?? 12);

const oracle = findOracle();
const ok = oracle !== '';
const against = oracle === 'qemu-i386' ? 'qemu-i386 (this machine cannot run 32-bit programs)' : 'the host CPU';
describeIf(ok, 'gcc -m32 cannot build, or neither this machine nor qemu-i386 can run static 32-bit programs (.ci/run installs gcc-multilib and qemu-user)')(`instructions against ${against} (seed ${SEED})`, () => {
  const cases = ok ? buildCases(SEED, PER_FORM) : [];
  const groups = new Map<string, Case[]>();
  for (const c of cases) {
    const g = c.group.split(' ')[0];
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(c);
  }
  // Without a toolchain the block is skipped; one named test keeps the skip visible in the counts.
  if (!ok) it('every instruction group', () => undefined);
  for (const [group, list] of groups) {
    it(`${group} (${list.length} cases)`, () => {
      const elf = build(assembly(list));
      const reference = runReference(elf, oracle);
      for (const translate of [false, true]) {
        const problems = compare(list, reference, runEmulated(elf, translate));
        if (problems.length) throw new Error(`${problems.length} of ${list.length} cases differ ${translate ? '(translator)' : '(interpreter)'}:\n${problems.slice(0, 8).join('\n')}`);
      }
    });
  }
});
