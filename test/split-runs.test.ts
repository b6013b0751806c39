/**
 * A hypervisor run stopped at cycle limits and run on again is the run that did not
 * stop: the same guests' state, exits and frames. Snapshots (--save-at) and the
 * debugger stop runs at cycles of their choosing, so nothing the machine does may
 * depend on where a run was stopped. (The VPIO monitor once looked at the card after
 * every stop, limit included, and so could hand it over at another moment.)
 */
import * as fs from 'fs';
import { createHash } from 'crypto';
import { Host } from '../hypervisor/host';
import { HvMode } from '../hypervisor/host';
import { VpioMonitor } from '../vpio/monitor';
import { DEFAULT_MAC, NicKind } from '../board/pc';

const image = (name: string) => new Uint8Array(fs.readFileSync(`guests/bin/${name}.elf`));

function build(mode: HvMode, nic: NicKind, guests: string[]): { host: Host; frames: string[] } {
  const frames: string[] = [];
  const host = new Host({
    mode, vms: guests.map((g) => ({ image: image(g), path: g, cmdline: g === 'hostile' ? 'attack=tsad target=150994944' : '', nic: mode !== 'passthrough' || g === guests[0], initrd: null })),
    memoryBytes: 16 << 20, hostMemoryBytes: 128 << 20, nic, mac: DEFAULT_MAC, peers: [{ kind: 'echo' }, { kind: 'sink' }], rtcStart: 946684800,
    console: () => {}, sharedCard: (h, n, vms) => new VpioMonitor(h, n, vms, { onViolation: 'block' }),
  });
  host.wire!.onFrame = (from, f) => frames.push(`${host.clock.now} ${from} ${Buffer.from(f).toString('hex')}`);
  host.boot();
  return { host, frames };
}

function state({ host, frames }: { host: Host; frames: string[] }): string {
  const h = createHash('sha256').update(host.ram);
  for (const vm of host.vms) h.update(JSON.stringify([vm.cpu.cycles, vm.cpu.instructions, vm.cpu.eip, vm.end, vm.stats]));
  return `${host.clock.now} ${h.digest('hex')} ${frames.length} ${createHash('sha256').update(frames.join('\n')).digest('hex')}`;
}

const END = Number(process.env.SPLIT_END ?? 300_000_000);
describe.each([
  ['vpio', 'ne2000', ['udp-tx', 'ping']],
  ['vpio', 'rtl8139', ['udp-tx', 'udp-tx']],
  ['vpio', 'rtl8139', ['hostile', 'udp-tx']],
  ['virtual', 'ne2000', ['udp-tx', 'ping']],
  ['passthrough', 'rtl8139', ['udp-tx', 'threads']],
] as [HvMode, NicKind, string[]][])('%s, %s, %j', (mode, nic, guests) => {
  test('stopped every 1,234,567 cycles, it ends as the run that never stopped', () => {
    const straight = build(mode, nic, guests);
    straight.host.run(END);
    const split = build(mode, nic, guests);
    let stops = 0;
    for (let c = 1_234_567; c < END; c += 1_234_567) { if (split.host.run(c).kind !== 'limit') break; stops++; }
    split.host.run(END);
    expect(stops).toBeGreaterThan(100);
    expect(straight.frames.length).toBeGreaterThan(10);
    expect(state(split)).toBe(state(straight));
  });
});
