/**
 * Random bytes as code: whatever a guest executes, the emulator itself must not
 * throw (an internal error would stop the machine with "internal error"), and the
 * interpreter and the translator must agree on where it ends up.
 * Seeded, so a failure names a reproducible case.
 */
import seedrandom from 'seedrandom';
import { StopReason } from './bus';
import { flatMachine, hex, CODE_BASE, STACK_TOP } from './testing';
import { DS, ES, FS, GS, SS } from './registers';

const SEED = process.env.CPU_FUZZ_SEED ?? 'cpu-fuzz-1';
const CASES = 1500;

/**
 * With `based`, the data segments are not flat (base 0, 4 GiB), so the translator's
 * straight-to-RAM path must stand aside: DS, ES and SS have base 0x1000 (4 GiB limit),
 * FS and GS a 1 MiB limit (base 0).
 */
function runCase(code: Uint8Array, regs: Int32Array, translate: boolean, based: boolean) {
  // Every vector gates to a HLT with IF clear: the run ends at the first exception.
  const { cpu, bus } = flatMachine(code, hex('f4'));
  if (based) {
    for (const seg of [DS, ES, SS]) cpu.loadDescriptorCache(seg, 0x10, 0x1000, 0xffffffff, 0xc09200);
    for (const seg of [FS, GS]) cpu.loadDescriptorCache(seg, 0x10, 0, 0xfffff, 0x409200);
  }
  cpu.useTranslator = translate;
  cpu.blocks.hotThreshold = 1; // translate at once: random code rarely loops
  for (let i = 0; i < 8; i++) if (i !== 4) cpu.reg32[i] = regs[i];
  const why = cpu.run(2000);
  // The RAM the registers mostly point at (code, data, stack), based or not.
  const ram = Buffer.concat([bus.ram.subarray(CODE_BASE, CODE_BASE + 0xa000), bus.ram.subarray(STACK_TOP - 0x1000, STACK_TOP + 0x1000)]);
  return { why, cpu, ram };
}

describe(`random code (seed ${SEED})`, () => {
  it.each([['flat', false], ['based', true]])(`never raises an internal error and both execution modes agree, over ${CASES} cases, %s data segments`, (_, based) => {
    const rng = seedrandom(SEED);
    const failures: string[] = [];
    for (let n = 0; n < CASES && failures.length < 5; n++) {
      const code = new Uint8Array(64);
      for (let i = 0; i < code.length; i++) code[i] = (rng() * 256) | 0;
      const regs = new Int32Array(8);
      // Registers point into RAM half the time, so memory operands often succeed.
      for (let i = 0; i < 8; i++) regs[i] = rng() < 0.5 ? CODE_BASE + ((rng() * 0x8000) | 0) : (rng() * 0x100000000) | 0;
      const a = runCase(code, regs, false, based as boolean);
      const b = runCase(code, regs, true, based as boolean);
      const text = Buffer.from(code).toString('hex');
      for (const r of [a, b]) {
        if (r.why === StopReason.TripleFault && /internal error/.test(r.cpu.stopMessage)) failures.push(`${text}: ${r.cpu.stopMessage.split('\n')[0]}`);
      }
      const sa = `${a.why} ${a.cpu.eip} ${a.cpu.instructions} ${Array.from(a.cpu.reg32)}`;
      const sb = `${b.why} ${b.cpu.eip} ${b.cpu.instructions} ${Array.from(b.cpu.reg32)}${a.ram.equals(b.ram) ? '' : ' (RAM differs)'}`;
      if (sa !== sb) failures.push(`${text}: interpreter [${sa}] translator [${sb}]`);
    }
    expect(failures).toEqual([]);
  });
});
