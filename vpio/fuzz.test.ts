/** A short run of the VPIO fuzzer (vpio/fuzz.ts); bench/vpio-fuzz runs the long one. */
import * as fs from 'fs';
import * as path from 'path';
import { fuzzMonitor } from './fuzz';

const victim = new Uint8Array(fs.readFileSync(path.join(__dirname, '..', 'guests', 'bin', 'udp-tx.elf')));

describe('a hostile guest against the VPIO monitor, seeded', () => {
  for (const kind of ['rtl8139', 'ne2000', 'ne2000-isa'] as const) {
    it(`${kind}: the victim's stream is whole, no DMA or frame crosses guests, nothing throws`, () => {
      const r = fuzzMonitor(kind, 'vpio-fuzz-test', 3, 400, victim);
      expect(r.broken).toEqual([]);
      // The fuzzer did reach the rules and the handoffs, or it proves nothing.
      expect(r.refusals).toBeGreaterThan(0);
      expect(r.handoffs).toBeGreaterThan(3);
    }, 120000);

    it(`${kind}: in shadow mode the model never disagrees with the card`, () => {
      const r = fuzzMonitor(kind, 'vpio-fuzz-shadow', 2, 400, victim, true);
      expect(r.broken).toEqual([]);
    }, 120000);
  }
});
