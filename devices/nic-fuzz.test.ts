import { fuzzCard } from './nic-fuzz';

describe('the cards under a seeded fuzzer (20,000 steps each; bench/nic-fuzz runs a million)', () => {
  for (const kind of ['ne2000', 'rtl8139'] as const) {
    it(`${kind}: nothing escapes, DMA stays in its window, only legal frames reach the wire`, () => {
      const r = fuzzCard(kind, process.env.NIC_FUZZ_SEED ?? 'nic-fuzz-1', 20000);
      expect(r.violations).toEqual([]);
      expect(r.framesIn).toBeGreaterThan(1000);
    });
  }
});
