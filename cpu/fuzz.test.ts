/**
 * Random bytes as code: whatever a guest executes, the emulator itself must not
 * throw (an internal error would stop the machine with "internal error"), and the
 * interpreter and the translator must agree on where it ends up.
 * Seeded, so a failure names a reproducible case.
 */
import seedrandom from 'seedrandom';
import { StopReason } from './bus';
import { flatMachine, hex, CODE_BASE } from './testing';

const SEED = process.env.CPU_FUZZ_SEED ?? 'cpu-fuzz-1';
const CASES = 1500;

function runCase(code: Uint8Array, regs: Int32Array, translate: boolean) {
  // Every vector gates to a HLT with IF clear: the run ends at the first exception.
  const { cpu } = flatMachine(code, hex('f4'));
  cpu.useTranslator = translate;
  cpu.blocks.hotThreshold = 1; // translate at once: random code rarely loops
  for (let i = 0; i < 8; i++) if (i !== 4) cpu.reg32[i] = regs[i];
  const why = cpu.run(2000);
  return { why, cpu };
}

describe(`random code (seed ${SEED})`, () => {
  it(`never raises an internal error and both execution modes agree, over ${CASES} cases`, () => {
    const rng = seedrandom(SEED);
    const failures: string[] = [];
    for (let n = 0; n < CASES && failures.length < 5; n++) {
      const code = new Uint8Array(64);
      for (let i = 0; i < code.length; i++) code[i] = (rng() * 256) | 0;
      const regs = new Int32Array(8);
      // Registers point into RAM half the time, so memory operands often succeed.
      for (let i = 0; i < 8; i++) regs[i] = rng() < 0.5 ? CODE_BASE + ((rng() * 0x8000) | 0) : (rng() * 0x100000000) | 0;
      const a = runCase(code, regs, false);
      const b = runCase(code, regs, true);
      const text = Buffer.from(code).toString('hex');
      for (const r of [a, b]) {
        if (r.why === StopReason.TripleFault && /internal error/.test(r.cpu.stopMessage)) failures.push(`${text}: ${r.cpu.stopMessage.split('\n')[0]}`);
      }
      const sa = `${a.why} ${a.cpu.eip} ${a.cpu.instructions} ${Array.from(a.cpu.reg32)}`;
      const sb = `${b.why} ${b.cpu.eip} ${b.cpu.instructions} ${Array.from(b.cpu.reg32)}`;
      if (sa !== sb) failures.push(`${text}: interpreter [${sa}] translator [${sb}]`);
    }
    expect(failures).toEqual([]);
  });
});
