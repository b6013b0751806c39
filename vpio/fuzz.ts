/**
 * A seeded fuzzer that plays a hostile guest against the VPIO monitor. Each round
 * builds a host with two VMs sharing one card: the hostile one runs a generated program
 * of random port accesses to every card register (every width, values biased towards
 * DMA addresses inside and outside its memory, ring pages in and out of the card's RAM,
 * resets and command bytes), string I/O on the data port, PCI command and BAR writes,
 * and pauses of random length so that the card changes hands at every point of the
 * hostile guest's programming; the victim runs `udp-tx` to the sink.
 *
 * Invariants, checked for every round: the emulator raises no exception; the victim's
 * stream arrives whole (every datagram, in order, checksums good); the card is never
 * given a frame addressed to a guest other than its owner; no DMA ever reaches the card's
 * DMA port outside the owner's memory (the models stop it first); and a canary in the
 * victim's memory is untouched; nothing of the victim's frames (sent or received)
 * reaches the hostile guest's memory through the card's buffer (the NE2000's data
 * port); and, in shadow mode (every port trapped), the model's
 * view never disagrees with the card's real state. Used by a short test and by
 * bench/vpio-fuzz.
 */
import seedrandom from 'seedrandom';
import { Host } from '../hypervisor/host';
import { DEFAULT_MAC, NicKind } from '../devices/nic';
import { multibootElf } from '../board/testing-elf';
import { SinkPeer, PEER_MAC } from '../devices/net/wire';
import { VpioMonitor } from './monitor';

export interface VpioFuzzResult {
  rounds: number;
  /** Port accesses the hostile programs made (string I/O counts each element). */
  accesses: number;
  refusals: number;
  handoffs: number;
  broken: string[];
}

const MiB = 1024 * 1024;
const MEM = 8 * MiB;
const CANARY_AT = 0x7f0000, CANARY_LEN = 4096;

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** A random program of `n` card accesses for the hostile guest. */
function program(rng: () => number, kind: NicKind, n: number): { code: number[]; accesses: number } {
  const int = (k: number) => Math.floor(rng() * k);
  const base = kind === 'ne2000-isa' ? 0x300 : 0xc000;
  const size = kind === 'rtl8139' ? 256 : 32;
  const code: number[] = [];
  let accesses = 0, strings = 0;
  const value = (): number => {
    switch (int(8)) {
      case 0: return int(MEM); // somewhere in its own memory
      case 1: return MEM + int(2 * MEM); // past its end: the victim's memory in the host
      case 2: return int(0x100); // a small number: a page, a command, a count
      case 3: return 0x40 + int(0x48); // NE2000 pages around the RAM
      case 4: return int(2) ? int(0x10000) : 0x4000 + int(0x4000); // a card address, half the time in its RAM
      case 5: return (int(4) << 6) | int(0x40); // a command byte with any page
      case 6: return 0xffffffff;
      default: return Math.floor(rng() * 0x100000000);
    }
  };
  for (let i = 0; i < n; i++) {
    const r = int(100);
    const port = base + int(size);
    if (r < 55) {
      const w = [1, 2, 4][int(3)];
      code.push(0x66, 0xba, port & 0xff, port >> 8, 0xb8, ...le32(value()));
      code.push(w === 1 ? 0xee : w === 2 ? 0x66 : 0xef);
      if (w === 2) code.push(0xef);
      accesses++;
    } else if (r < 80) {
      const w = [1, 2, 4][int(3)];
      code.push(0x66, 0xba, port & 0xff, port >> 8);
      code.push(w === 1 ? 0xec : w === 2 ? 0x66 : 0xed);
      if (w === 2) code.push(0xed);
      accesses++;
    } else if (r < 88) {
      // REP INSW / OUTSW of up to 64 words on the NE2000 data port (or anywhere on the RTL8139),
      // each through its own 128 bytes from 0x200000 on, so that what a read brought in stays
      // for the check at the end (nothing of the victim's may be among it).
      const count = 1 + int(64);
      const p = kind === 'rtl8139' ? port : base + 0x10;
      const buffer = 0x200000 + ((strings++ & 0xfff) << 7);
      code.push(0x66, 0xba, p & 0xff, p >> 8, 0xb9, ...le32(count));
      if (int(2)) code.push(0xbf, ...le32(buffer), 0x66, 0xf3, 0x6d); // mov edi; rep insw
      else code.push(0xbe, ...le32(buffer), 0x66, 0xf3, 0x6f); // mov esi; rep outsw
      accesses += count;
    } else if (r < 92) {
      // PCI: the card's command register (bus master on or off), now and then its BAR0.
      const reg = int(6) === 0 ? 0x10 : 0x04;
      const v = reg === 0x04 ? [0x0001, 0x0005, 0x0007, 0x0000][int(4)] : (int(2) ? 0xc001 : value() | 1);
      code.push(0x66, 0xba, 0xf8, 0x0c, 0xb8, ...le32(0x80001800 | reg), 0xef);
      code.push(0x66, 0xba, 0xfc, 0x0c, 0xb8, ...le32(v), 0xef);
      accesses += 2;
    } else {
      // A pause: let the card, the wire and the other guest move on.
      code.push(0xb9, ...le32(1 + int(200_000)), 0x49, 0x75, 0xfd);
    }
  }
  code.push(0x66, 0xba, 0xf4, 0x00, 0xb0, 0x00, 0xee, 0xf4); // exit 0
  return { code, accesses };
}

/** One round: a fresh host, a hostile program, the victim's stream. */
export function fuzzRound(kind: NicKind, seed: string, accessesPerRound: number, victimImage: Uint8Array, datagrams = 30, shadow = false,
  trace: ((line: string) => void) | null = null): { accesses: number; refusals: number; handoffs: number; broken: string[] } {
  const rng = seedrandom(seed);
  const { code, accesses } = program(rng, kind, accessesPerRound);
  const broken: string[] = [];
  let victimOut = '';
  const host = new Host({
    mode: 'vpio', nic: kind, memoryBytes: MEM, hostMemoryBytes: 2 * MEM + MiB, mac: DEFAULT_MAC, rtcStart: 946684800,
    vms: [
      { image: multibootElf(code), path: 'hostile', cmdline: '', nic: true },
      { image: victimImage, path: 'udp-tx', cmdline: `count=${datagrams} size=700`, nic: true },
    ],
    peers: [{ kind: 'sink' }],
    trace, traceKinds: new Set(trace ? ['vpio', 'io'] : []),
    console: (vm, b) => { if (vm === 1) victimOut += String.fromCharCode(b); },
    // A short card quantum for the RTL8139 makes handoffs frequent; the NE2000's own default keeps its costly handoffs to an eighth of the time.
    sharedCard: (h, nic, vms) => new VpioMonitor(h, nic, vms, { onViolation: 'block', cardQuantum: kind === 'rtl8139' ? 400_000 : undefined, shadow }),
  });
  const monitor = host.shared as VpioMonitor;
  const card = host.nic!.card;
  const receive = card.receive.bind(card);
  // Frames from the segment (not the card's own, looped back in TCR loopback mode) must be the owner's.
  let fromSegment = false;
  const fromWire = monitor.fromWire.bind(monitor);
  monitor.fromWire = (f) => { fromSegment = true; try { fromWire(f); } finally { fromSegment = false; } };
  (card as { receive: (f: Uint8Array) => boolean }).receive = (f) => {
    const o = monitor.owner;
    const other = fromSegment && o ? monitor.guests.find((g) => g !== o && f.subarray(0, 6).every((b, i) => b === g.mac[i])) : undefined;
    if (o && other) broken.push(`vm${o.vm.id}'s card was given a frame for vm${other.vm.id}`);
    return receive(f);
  };
  host.boot();
  const victim = host.vms[1];
  const canary = Uint8Array.from({ length: CANARY_LEN }, (_, i) => (i * 31 + 7) & 0xff);
  victim.ram.set(canary, CANARY_AT);
  try {
    const r = host.run(3e10);
    if (r.kind !== 'done') broken.push(`the run ended with ${r.kind}`);
  } catch (e) {
    broken.push(`exception: ${(e as Error).stack ?? e}`);
  }
  host.close();
  const sink = host.peers[0] as SinkPeer;
  if (!/udp-tx: \d+ datagrams of 700 bytes, 0 errors/.test(victimOut)) broken.push(`the victim did not finish cleanly: ${JSON.stringify(victimOut.slice(-200))}`);
  if (sink.received !== datagrams || sink.lost || sink.outOfOrder || sink.duplicates || sink.badChecksums) broken.push(`the victim's stream was damaged: ${sink.summary()}`);
  for (const m of monitor.shadowMismatches) broken.push(`shadow: ${m}`);
  if (monitor.dmaRefused) broken.push(`${monitor.dmaRefused} DMA accesses outside the owner's memory reached the card's DMA port`);
  if (!victim.ram.subarray(CANARY_AT, CANARY_AT + CANARY_LEN).every((b, i) => b === canary[i])) broken.push('the canary in the victim\'s memory changed');
  for (const vm of host.vms) if (vm.end?.kind === 'triple-fault') broken.push(`vm${vm.id} triple-faulted: ${vm.end.message}`);
  const leaked = victimFrameIn(host.vms[0].ram, monitor.guests[1].mac);
  if (leaked >= 0) broken.push(`the hostile guest's memory holds a frame of the victim's at 0x${leaked.toString(16)}`);
  return { accesses, refusals: monitor.violationCount, handoffs: monitor.handoffs, broken };
}

/**
 * Where `ram` holds the start of one of the victim's frames: its address as a source
 * followed by the IPv4 type and version (a frame it sent), or as a destination followed
 * by the peer's address (a frame it received); -1 if nowhere.
 */
function victimFrameIn(ram: Uint8Array, mac: Uint8Array): number {
  const sent = Buffer.from([...mac, 0x08, 0x00, 0x45]);
  const got = Buffer.from([...mac, ...PEER_MAC]);
  const b = Buffer.from(ram.buffer, ram.byteOffset, ram.length);
  const a = b.indexOf(sent), c = b.indexOf(got);
  return a >= 0 ? a : c;
}

export function fuzzMonitor(kind: NicKind, seed: string, rounds: number, accessesPerRound: number, victimImage: Uint8Array, shadow = false): VpioFuzzResult {
  const result: VpioFuzzResult = { rounds: 0, accesses: 0, refusals: 0, handoffs: 0, broken: [] };
  for (let i = 0; i < rounds; i++) {
    const r = fuzzRound(kind, `${seed}/${kind}/${i}`, accessesPerRound, victimImage, 30, shadow);
    result.rounds++;
    result.accesses += r.accesses;
    result.refusals += r.refusals;
    result.handoffs += r.handoffs;
    for (const b of r.broken) result.broken.push(`round ${i}: ${b}`);
  }
  return result;
}
