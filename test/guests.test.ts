/**
 * Every guest with a reference output gives, under `vpio run`, exactly the bytes and
 * exit status it gives under qemu-system-i386 (guests/expected, recorded by
 * scripts/qemu-ref.mjs). Where QEMU is installed, one guest is re-run under QEMU to
 * check that the committed reference still holds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, ensureBuilt, runCli, have, describeIf } from './support';

/** The reference machine's run of a guest, as scripts/qemu-ref.mjs records it (one command line for both). */
const { qemuRun } = require('../scripts/qemu-guest.cjs') as { qemuRun: (run: { name: string; image: string; cmdline?: string; memoryMiB?: number }) => { output: Buffer; status: number } };

interface Run { name: string; image: string; cmdline?: string; memoryMiB?: number; maxCycles?: number }
const runs: Run[] = JSON.parse(fs.readFileSync(path.join(ROOT, 'guests/runs.json'), 'utf8')).runs;

function vpioArgs(run: Run, extra: string[] = []): string[] {
  return ['run', `guests/bin/${run.image}.elf`, '--cmdline', run.cmdline ?? '', '--memory', `${run.memoryMiB ?? 64}M`,
    '--max-cycles', String(run.maxCycles ?? 200e9), ...extra];
}

beforeAll(ensureBuilt);

describe('guests under vpio match their QEMU reference', () => {
  for (const run of runs) {
    it(`${run.name}`, () => {
      const expected = fs.readFileSync(path.join(ROOT, `guests/expected/${run.name}.out`));
      const status = Number(fs.readFileSync(path.join(ROOT, `guests/expected/${run.name}.status`), 'utf8'));
      const r = runCli(vpioArgs(run));
      expect(r.stdout.toString('latin1')).toBe(expected.toString('latin1'));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(status);
    });
  }

  it('gives the same output with the block translator off', () => {
    const run = runs[0];
    const a = runCli(vpioArgs(run));
    const b = runCli(vpioArgs(run, ['--no-translate']));
    expect(b.stdout.equals(a.stdout)).toBe(true);
    expect(b.status).toBe(a.status);
  });
});

describe('the boot state is the same in a hypervisor VM', () => {
  // boot-state prints what the loader left (registers, GDT, IDTR, PICs, PIT, A20, the
  // Multiboot information, the UTF-8 command line): each VM must get what QEMU gives.
  const run = runs.find((r) => r.name === 'boot-state')!;
  const expected = fs.readFileSync(path.join(ROOT, `guests/expected/${run.name}.out`));
  const status = Number(fs.readFileSync(path.join(ROOT, `guests/expected/${run.name}.status`), 'utf8'));
  for (const mode of ['passthrough', 'virtual', 'vpio']) {
    it(`--mode ${mode}`, () => {
      const r = runCli(vpioArgs(run, ['--mode', mode, ...(mode === 'virtual' ? [] : ['--nic', 'rtl8139'])]));
      expect(r.stdout.toString('latin1')).toBe(expected.toString('latin1'));
      expect(r.status).toBe(status);
    });
  }
});

// Every reference is re-made from the committed image, so a guest rebuilt without
// re-running scripts/qemu-ref.mjs (its layout moved, say) fails here, naming the guest,
// rather than as a mismatch that looks like an emulator bug. All ten take ~4 s.
describeIf(have('qemu-system-i386', '--version'), 'qemu-system-i386 is not installed (.ci/run installs qemu-system-x86)')('the committed references still hold under QEMU', () => {
  for (const run of runs) {
    it(`${run.name}`, () => {
      const { output: out, status } = qemuRun(run);
      expect(out.toString('latin1')).toBe(fs.readFileSync(path.join(ROOT, `guests/expected/${run.name}.out`)).toString('latin1'));
      expect(status).toBe(Number(fs.readFileSync(path.join(ROOT, `guests/expected/${run.name}.status`), 'utf8')));
    });
  }
});
