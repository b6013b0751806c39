/**
 * Conservation of the bus: in every mode, every access that reaches the physical card
 * pays the bus latency exactly once. The card's accesses are counted at the card itself
 * (its register methods, block methods element by element); the bus cycles charged are
 * read from where each route charges them: the port ranges' counters (the bare machine,
 * a passthrough owner, a vpio owner's direct ports), the VPIO monitor's own accesses
 * (plus the accesses a context switch or a buffer copy is modelled as), and the
 * hypervisor's driver in virtual mode.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Pc } from '../board/pc';
import { Host, VmSpec } from '../hypervisor/host';
import { DEFAULT_MAC, NicKind, nicName } from '../devices/nic';
import { DEFAULT_COSTS } from '../devices/costs';
import { PortBus, PortRange } from '../devices/port-bus';
import { VpioMonitor } from '../vpio/monitor';

const image = (name: string) => new Uint8Array(fs.readFileSync(path.join(__dirname, '..', 'guests', 'bin', `${name}.elf`)));
const MiB = 1024 * 1024;
const busCycles = (nic: NicKind) => (nic === 'ne2000-isa' ? DEFAULT_COSTS.isaAccessCycles : DEFAULT_COSTS.pciAccessCycles);

/** Counts every access the card takes. */
function countAccesses(card: { read: Function; write: Function; readBlock?: Function; writeBlock?: Function }): { n: number } {
  const count = { n: 0 };
  const c = card as unknown as Record<string, (...a: number[]) => number>;
  for (const m of ['read', 'write'] as const) {
    const f = c[m].bind(card);
    c[m] = (...a: number[]) => { count.n++; return f(...a); };
  }
  for (const m of ['readBlock', 'writeBlock'] as const) {
    if (!c[m]) continue;
    const f = c[m].bind(card);
    c[m] = (...a: number[]) => { const done = f(...a); count.n += done; return done; };
  }
  return count;
}

/** Bus cycles charged through the card's ranges in a port bus (every range of that name, as BARs move). */
function rangeCycles(ranges: PortRange[], name: string): number {
  return ranges.filter((r) => r.name === name && !r.trapped).reduce((n, r) => n + r.counter.cyclesIn + r.counter.cyclesOut, 0);
}

const NICS: NicKind[] = ['ne2000', 'ne2000-isa', 'rtl8139'];

describe('every card access pays the bus once', () => {
  for (const nic of NICS) {
    it(`native, ${nic}`, () => {
      const pc = new Pc({ memoryBytes: 16 * MiB, nic, mac: DEFAULT_MAC, peers: [{ kind: 'sink' }], rtcStart: 946684800, console: () => {} });
      const count = countAccesses(pc.ne2000 ?? pc.rtl8139!);
      pc.boot(image('udp-tx'), 'udp-tx count=30 size=800');
      pc.run(20e9);
      expect(count.n).toBeGreaterThan(100);
      expect(rangeCycles((pc.ports as PortBus).ranges, nicName(nic))).toBe(count.n * busCycles(nic));
    });

    for (const mode of ['passthrough', 'virtual', 'vpio'] as const) {
      it(`${mode}, ${nic}`, () => {
        const vms: VmSpec[] = [
          { image: image('udp-tx'), path: 'udp-tx', cmdline: 'count=30 size=800', nic: true },
          { image: image('ping'), path: 'ping', cmdline: 'count=3', nic: mode !== 'passthrough' },
        ];
        const h = new Host({
          mode, vms, nic, memoryBytes: 8 * MiB, hostMemoryBytes: 17 * MiB, mac: DEFAULT_MAC, rtcStart: 946684800,
          peers: [{ kind: 'sink' }, { kind: 'echo' }], console: () => {},
          sharedCard: (hh, n, list) => new VpioMonitor(hh, n, list),
        });
        const count = countAccesses(h.nic!.card);
        const driverInit = h.driverBusCycles; // the hypervisor's driver set the card up before it was counted
        h.boot();
        h.run(40e9);
        expect(h.vms.every((v) => v.end?.kind === 'exit')).toBe(true);
        expect(count.n).toBeGreaterThan(100);
        let charged = 0, modelled = 0;
        if (mode === 'virtual') {
          charged = h.driverBusCycles - driverInit;
        } else {
          for (const vm of h.vms) charged += rangeCycles(vm.ports.ranges, nicName(nic));
          if (mode === 'vpio') {
            const m = h.shared as VpioMonitor;
            // A guest's direct ranges are removed at each handoff: the monitor keeps their counts.
            charged = m.guests.reduce((n, g) => n + m.directAccesses(g), 0) * busCycles(nic) + m.cardBusCycles;
            modelled = m.modelledAccesses;
            expect(m.handoffs).toBeGreaterThan(1);
          }
        }
        expect(charged).toBe((count.n + modelled) * busCycles(nic));
      }, 60000);
    }
  }
});
