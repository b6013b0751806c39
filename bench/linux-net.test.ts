/**
 * The Linux rows' tables (bench/linux-net.ts) from figures made up for the purpose:
 * each mode's column, the two ratios the VPIO claim rests on, and our guest's row beside
 * Linux's. (The rows themselves are run end to end in test/linux-bench.test.ts.)
 */
import { Figures, Mode, Scenario } from './harness';
import { linuxTables, linuxScenarios, linuxAppend, LINUX_STREAMS } from './linux-net';

function fig(s: Partial<Scenario>, f: Partial<Figures>): Figures {
  const scenario: Scenario = { id: 'x', workload: 'udp-tx', mode: 'vpio', nic: 'rtl8139', frame: 64, size: 18, guests: 1, count: 2000, ...s };
  return {
    id: scenario.id, scenario, framesPerSecond: 0, mbps: 0, wireShare: 0, perGuest: [], rttMicros: null, frames: 0, cyclesPerFrame: 0, guestCyclesPerFrame: 0,
    hypervisorCyclesPerFrame: 0, cardCyclesPerFrame: 0, exitsPerFrame: {}, exitsPerFrameTotal: 0, hookedFraction: null, vpioModelCyclesPerFrame: null, handoffs: 0,
    handoffCycles: 0, violations: 0, violationRules: [], lost: {}, ok: true, note: '', cycles: 0, instructions: 0, wallSeconds: 0, mips: 0, ...f,
  };
}

const linux = { kernel: 'k', initrd: 'i', driver: '8139too-io' as const };
const row = (mode: Mode, mbps: number, hv: number, card: number, extra: Partial<Figures> = {}) =>
  fig({ mode, linux, id: `linux/udp-tx/rtl8139-io/${mode}/64B` }, { mbps, wireShare: mbps / 100, cyclesPerFrame: 30000, hypervisorCyclesPerFrame: hv, cardCyclesPerFrame: card, ...extra });

describe('the Linux tables', () => {
  const rows = [
    row('native', 63, 0, 0), row('passthrough', 50, 15000, 0), row('virtual', 44, 22000, 14000),
    row('vpio', 45, 20000, 3500, { hookedFraction: 0.2, exitsPerFrameTotal: 7 }),
    fig({ workload: 'ping', mode: 'vpio', linux, id: 'linux/ping/rtl8139-io/vpio', frame: 98 }, { rttMicros: 60 }),
  ];
  const ours = fig({ mode: 'vpio', id: 'udp-tx/rtl8139/vpio/64B' }, { hookedFraction: 0.1, exitsPerFrameTotal: 4.4, hypervisorCyclesPerFrame: 11380, cardCyclesPerFrame: 3754 });
  const lines = linuxTables(rows, [ours]);

  it('gives each mode its column and works out vpio against passthrough and virtual against vpio', () => {
    // The first table's row (the second table has a row for the same card and frame).
    const line = lines.filter((l) => /^rtl8139-io +64 /.test(l))[0];
    expect(line).toMatch(/63\.00 \(63%\) 30,000 +50\.00 \(50%\) 30,000 +44\.00 \(44%\) 30,000 +45\.00 \(45%\) 30,000/);
    // 45 / 50 of passthrough; 22,000 / 20,000 hypervisor cycles; 14,000 / 3,500 of the card's.
    expect(line).toMatch(/90\.0% +1\.10x +4\.00x$/);
  });

  it('puts our guest\'s vpio figures for the same card and frame beside Linux\'s', () => {
    const line = lines.filter((l) => /^rtl8139-io +64 /.test(l))[1];
    expect(line).toMatch(/20\.0% +7\.0 +20,000 +3,500 +10\.0% +4\.4 +11,380 +3,754$/);
  });

  it('lists the fastest ping under its mode, and leaves a mode that did not run empty', () => {
    const ping = lines[lines.indexOf(lines.find((l) => l.startsWith('Linux guest, ping'))!) + 2];
    expect(ping).toMatch(/^rtl8139-io +60$/);
  });

  it('prints nothing without Linux rows', () => {
    expect(linuxTables([ours], [ours])).toEqual([]);
  });
});

describe('the Linux scenarios', () => {
  it('boot each driver in each mode; --quick leaves out the ports variant', () => {
    expect(linuxScenarios('k', 'i', false).map((s) => s.id)).toHaveLength(12);
    const quick = linuxScenarios('k', 'i', true).map((s) => s.id);
    expect(quick).toHaveLength(8);
    expect(quick.some((id) => id.includes('rtl8139-io'))).toBe(false);
  });

  it('ask /init for the pings and one stream per size, payloads as the harness sizes frames', () => {
    expect(linuxAppend('8139too-io')).toBe(`console=ttyS0 quiet vpio_driver=8139too vpio_io=1 vpio_pings=8 vpio_work=ping,${LINUX_STREAMS.map((s) => `tx:${s.count}:${s.frame <= 64 ? 18 : s.frame - 42}`).join(',')}`);
  });
});
