/**
 * The bench's Linux rows (`vpio bench --linux KERNEL --initrd FILE`): Debian's kernel and
 * Linux's own drivers (ne2k-pci, 8139too through BAR1, 8139too with use_io=1) in each
 * mode, beside our own guests' rows.
 *
 * One boot per card and mode runs three workloads in turn (guests/linux/init.sh): ping
 * the echo peer, then a UDP stream of small frames to the sink, then one of 1024-byte
 * frames. A boot takes seconds of virtual time before the first frame, so whole-run
 * figures would measure the boot: each stream's figures are taken over its own window
 * instead, from its first datagram at the sink to its last (the sink's `onArrival`
 * marks both, on the virtual clock), as the difference of two tallies of the same
 * counters `runScenario` reads at the end of a run.
 */
import * as fs from 'fs';
import { NicKind } from '../devices/nic';
import { SinkPeer } from '../devices/net/wire';
import { frameBits } from '../devices/net/ethernet';
import { Figures, Mode, MODES, Scenario, Tally, tally, minus, perFrame, payloadFor, bootMachine, instructionsOf, refusals } from './harness';

/** Linux's drivers for our cards, as init.sh loads them. */
export const LINUX_DRIVERS = {
  'ne2k-pci': { nic: 'ne2000' as NicKind, label: 'ne2000', append: 'vpio_driver=ne2k-pci' },
  '8139too': { nic: 'rtl8139' as NicKind, label: 'rtl8139', append: 'vpio_driver=8139too' },
  '8139too-io': { nic: 'rtl8139' as NicKind, label: 'rtl8139-io', append: 'vpio_driver=8139too vpio_io=1' },
} as const;
export type LinuxDriver = keyof typeof LINUX_DRIVERS;

export interface LinuxSpec {
  kernel: string;
  initrd: string;
  driver: LinuxDriver;
  /** Each machine with a local APIC and an I/O APIC (`vpio bench --apic`). */
  apic?: boolean;
}

/** The streams each boot sends, in order: frame size (64: the minimum frame) and datagrams. */
export const LINUX_STREAMS = [{ frame: 64, count: 2000 }, { frame: 1024, count: 1000 }] as const;
export const LINUX_PINGS = 8;
/** Each Linux guest's memory (QEMU's default). */
const LINUX_MEMORY = 128 * 1024 * 1024;
/** Boot, three workloads and power-off fit well inside this (the run ends at power-off). */
const LINUX_LIMIT = 60e9;

/** The Linux boots of a bench run: each driver in each mode (`quick`: not the ports variant of 8139too). */
export function linuxScenarios(kernel: string, initrd: string, quick: boolean, apic = false): Scenario[] {
  const list: Scenario[] = [];
  const drivers: LinuxDriver[] = quick ? ['ne2k-pci', '8139too'] : ['ne2k-pci', '8139too', '8139too-io'];
  for (const driver of drivers) {
    for (const mode of MODES) {
      const linux = { kernel, initrd, driver, apic };
      list.push({ id: `linux/${linuxLabel(linux)}/${mode}`, workload: 'linux', mode, nic: LINUX_DRIVERS[driver].nic, frame: 0, size: 0, guests: 1, count: 0, linux });
    }
  }
  return list;
}

/** The kernel command line of a bench boot. */
export function linuxAppend(driver: LinuxDriver): string {
  const work = ['ping', ...LINUX_STREAMS.map((st) => `tx:${st.count}:${payloadFor(st.frame)}`)].join(',');
  return `console=ttyS0 quiet ${LINUX_DRIVERS[driver].append} vpio_pings=${LINUX_PINGS} vpio_work=${work}`;
}

interface Window {
  flow: number;
  first: Tally;
  last: Tally;
  arrivals: number;
}

/** Boots the Linux guest of `s` and returns its figures: the ping's, then each stream's. */
export function runLinux(s: Scenario): Figures[] {
  const spec = s.linux!;
  const t0 = process.hrtime.bigint();
  const kernel = new Uint8Array(fs.readFileSync(spec.kernel));
  const initrd = new Uint8Array(fs.readFileSync(spec.initrd));
  const append = linuxAppend(spec.driver);
  const peers = [{ kind: 'echo' as const }, { kind: 'sink' as const }];
  let out = '';
  const m = bootMachine(s.mode, s.nic, [{ image: kernel, path: spec.kernel, cmdline: append, initrd, nic: true }], LINUX_MEMORY, peers, (_vm, b) => { out += String.fromCharCode(b); }, spec.apic === true);
  const host = m.host;
  const machine = m.pc ?? m.host;
  const clock = machine.clock;
  const sink = machine.peers.find((p) => p instanceof SinkPeer) as SinkPeer;
  const windows: Window[] = [];
  sink.onArrival = (flow) => {
    const t = tally(host, clock.now, s.nic);
    const w = windows[windows.length - 1];
    if (w === undefined || w.flow !== flow) windows.push({ flow, first: t, last: t, arrivals: 1 });
    else { w.last = t; w.arrivals++; }
  };
  if (host) { host.run(LINUX_LIMIT); host.close(); } else m.pc.run(LINUX_LIMIT);
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cycles = clock.now;
  const instructions = instructionsOf(m);
  const hz = clock.hz;
  const wireBps = machine.wire?.bitsPerSecond ?? 0;
  const common = { perGuest: [] as number[], ...refusals(host), cycles, instructions, wallSeconds, mips: instructions / wallSeconds / 1e6 };
  const noWindow = perFrame(tally(null, 0, s.nic), 0);
  const label = linuxLabel(spec);
  const figures: Figures[] = [];

  const pings = /(\d+) packets transmitted, (\d+) packets received/.exec(out);
  const rtt = /round-trip min\/avg\/max = ([\d.]+)\//.exec(out);
  const pingOk = !!pings && Number(pings[1]) === LINUX_PINGS && pings[1] === pings[2];
  figures.push({
    ...common, ...noWindow, id: `linux/ping/${label}/${s.mode}`, scenario: { ...s, id: `linux/ping/${label}/${s.mode}`, workload: 'ping', frame: 98, size: 56, count: LINUX_PINGS },
    framesPerSecond: 0, mbps: 0, wireShare: 0, rttMicros: rtt ? Math.round(Number(rtt[1]) * 1000) : null, frames: pings ? 2 * Number(pings[2]) : 0,
    lost: {}, ok: pingOk, note: pingOk ? 'wall time and instructions: the whole boot' : `not every ping was answered (${pings ? `${pings[2]} of ${pings[1]}` : 'ping did not report'})`,
  });

  const sent = [...out.matchAll(/vpio-net: tx (\d+) sent, (\d+) errors/g)];
  LINUX_STREAMS.forEach((st, i) => {
    const id = `linux/udp-tx/${label}/${s.mode}/${st.frame}B`;
    const w = windows[i];
    const frames = w ? w.arrivals : 0;
    const d = w ? minus(w.last, w.first) : null;
    const intervals = Math.max(0, frames - 1);
    const fps = d && d.cycles > 0 ? intervals / (d.cycles / hz) : 0;
    const bits = frameBits(Math.max(60, payloadFor(st.frame) + 42));
    const reported = sent[i];
    const lost: Record<string, number> = {};
    if (frames < st.count) lost['never reached the sink'] = st.count - frames;
    const ok = !!reported && Number(reported[1]) === st.count && reported[2] === '0' && frames === st.count;
    figures.push({
      ...common, ...(d ? perFrame(d, intervals) : noWindow), id, scenario: { ...s, id, workload: 'udp-tx', frame: st.frame, size: payloadFor(st.frame), count: st.count },
      framesPerSecond: fps, mbps: (fps * bits) / 1e6, wireShare: wireBps ? (fps * bits) / wireBps : 0, perGuest: [fps], rttMicros: null, frames,
      lost, ok, note: ok ? 'figures over the stream\'s own window at the sink; wall time and instructions: the whole boot' : `the guest did not send its ${st.count} datagrams whole${reported ? ` (${reported[0]})` : ''}`,
    });
  });
  return figures;
}

/** A Linux row's card and driver as the tables and ids name them: `rtl8139-io`, and `+apic` with an APIC. */
export function linuxLabel(spec: LinuxSpec): string {
  return LINUX_DRIVERS[spec.driver].label + (spec.apic === true ? '+apic' : '');
}

/** Whether a figure is one of the Linux rows. */
export function isLinux(f: Figures): boolean {
  return f.scenario.linux !== undefined;
}

/** The Linux tables: by driver and frame, each mode's Mbit/s and cycles per frame, the ratios the claim rests on, and what the hypervisor saw. */
export function linuxTables(results: Figures[], ours: Figures[]): string[] {
  const rows = results.filter(isLinux);
  if (!rows.length) return [];
  const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');
  const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');
  const labelOf = (f: Figures) => linuxLabel(f.scenario.linux!);
  const find = (list: Figures[], label: string, workload: string, mode: Mode, frame?: number) =>
    list.find((f) => labelOf(f) === label && f.scenario.workload === workload && f.scenario.mode === mode && (frame === undefined || f.scenario.frame === frame));
  const labels = [...new Set(rows.map(labelOf))];
  const lines: string[] = ['', 'Linux guest (Debian\'s kernel, its own ne2k-pci and 8139too), udp-tx over each stream\'s window: Mbit/s (share of the wire) and elapsed cycles per frame, by mode'];
  lines.push(`${'card'.padEnd(16)} frame  ${MODES.map((m) => m.padStart(22)).join('')}   vpio/passthrough   virtual/vpio: hv cycles  card cycles`);
  for (const label of labels) {
    for (const st of LINUX_STREAMS) {
      const cells = MODES.map((m) => {
        const f = find(rows, label, 'udp-tx', m, st.frame);
        return f ? `${fmt(f.mbps, 2)} (${fmt(100 * f.wireShare, 0)}%) ${int(f.cyclesPerFrame)}${f.ok ? '' : '!'}`.padStart(22) : ''.padStart(22);
      }).join('');
      const v = find(rows, label, 'udp-tx', 'vpio', st.frame), p = find(rows, label, 'udp-tx', 'passthrough', st.frame), vi = find(rows, label, 'udp-tx', 'virtual', st.frame);
      const ratio = v && p && p.mbps ? `${fmt((100 * v.mbps) / p.mbps)}%` : '';
      // vpio may spend no card cycles at all in a stream (nothing of the card hooked per frame): said so, not left blank.
      const times = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '' : b ? `${fmt(a / b, 2)}x` : a ? '0 in vpio' : '');
      lines.push(`${label.padEnd(16)} ${String(st.frame).padStart(5)}  ${cells}   ${ratio.padStart(16)}   ${times(vi?.hypervisorCyclesPerFrame, v?.hypervisorCyclesPerFrame).padStart(22)}  ${times(vi?.cardCyclesPerFrame, v?.cardCyclesPerFrame).padStart(11)}`);
    }
  }
  lines.push('', 'Linux guest beside ours under vpio, udp-tx: share of card accesses the model saw, exits, hypervisor cycles and the card\'s part of them, per frame');
  lines.push(`${'card'.padEnd(16)} frame   Linux: hooked  exits  hv cycles  card cycles     ours: hooked  exits  hv cycles  card cycles`);
  for (const label of labels) {
    for (const st of LINUX_STREAMS) {
      const l = find(rows, label, 'udp-tx', 'vpio', st.frame);
      if (!l) continue;
      const o = ours.find((f) => f.scenario.workload === 'udp-tx' && f.scenario.guests === 1 && f.scenario.mode === 'vpio' && f.scenario.frame === st.frame && f.scenario.nic === l.scenario.nic);
      const cols = (f: Figures | undefined) => (f ? `${(fmt(100 * (f.hookedFraction ?? 0)) + '%').padStart(13)}  ${fmt(f.exitsPerFrameTotal, 1).padStart(5)}  ${int(f.hypervisorCyclesPerFrame).padStart(9)}  ${int(f.cardCyclesPerFrame ?? NaN).padStart(11)}` : `${'-'.padStart(13)}  ${'-'.padStart(5)}  ${'-'.padStart(9)}  ${'-'.padStart(11)}`);
      lines.push(`${label.padEnd(16)} ${String(st.frame).padStart(5)}  ${cols(l)}    ${cols(o)}`);
    }
  }
  lines.push('', 'Linux guest, ping: round trip, µs (the fastest of the pings)');
  lines.push(`${'card'.padEnd(16)} ${MODES.map((m) => m.padStart(12)).join('')}`);
  for (const label of labels) {
    lines.push(`${label.padEnd(16)} ${MODES.map((m) => { const f = find(rows, label, 'ping', m); return (f ? `${f.rttMicros ?? '-'}${f.ok ? '' : '!'}` : '').padStart(12); }).join('')}`);
  }
  return lines;
}
