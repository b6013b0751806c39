/**
 * Sharing a card under vpio when a guest does not play along: no sequence of writes
 * holds the card past the documented bound, an idle or greedy neighbour costs a
 * receiving guest no frame, no guest sends with another's address (vpio and virtual),
 * and a guest that ends mid-transmit hands on a quiet card.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Host, HostOptions, VmSpec, vmMac } from '../hypervisor/host';
import { multibootElf, asm } from '../board/testing-elf';
import { DEFAULT_MAC, NicKind } from '../devices/nic';
import { VpioMonitor, MonitorOptions } from './monitor';
import { ethernet, ipv4, udp } from '../devices/net/packets';
import { PEER_MAC, PEER_IP, GUEST_IP } from '../devices/net/wire';
import { isSentBy } from '../devices/net/ethernet';

const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

const ROOT = path.join(__dirname, '..');
const image = (name: string) => new Uint8Array(fs.readFileSync(path.join(ROOT, 'guests', 'bin', `${name}.elf`)));
const MiB = 1024 * 1024;
const { le32, outl, outb, movDx, spin, exitWith } = asm;
const spec = (img: Uint8Array, cmdline = '', nic = true): VmSpec => ({ image: img, path: 'test', cmdline, nic });

function host(mode: 'vpio' | 'virtual', vms: VmSpec[], nic: NicKind, extra: Partial<HostOptions> = {}, monitor: MonitorOptions = {}) {
  const consoles: string[] = vms.map(() => '');
  const trace: string[] = [];
  const h = new Host({
    mode, vms, nic, memoryBytes: 8 * MiB, hostMemoryBytes: vms.length * 8 * MiB + MiB, mac: DEFAULT_MAC, rtcStart: 946684800,
    console: (vm, b) => { consoles[vm] += String.fromCharCode(b); },
    sharedCard: (hh, n, list) => new VpioMonitor(hh, n, list, monitor),
    trace: (l) => trace.push(l), traceKinds: new Set(['vpio', 'net']),
    ...extra,
  });
  h.boot();
  return { h, m: h.shared as VpioMonitor | null, consoles, trace };
}

/** Every frame on the segment, copied (frames are lent). */
function tap(h: Host): Uint8Array[] {
  const seen: Uint8Array[] = [];
  h.wire!.attach({ name: 'tap', receive: (f) => seen.push(f.slice()) });
  return seen;
}

// SeaBIOS-style firmware puts BAR0 at 0xC000 in every VM; the ISA NE2000 sits at 0x300.
const RTL = 0xc000;
const ioBase = (nic: NicKind) => (nic === 'ne2000-isa' ? 0x300 : 0xc000);
/** PCI command register of 00:03.0: I/O, memory and bus master on. */
const pciOn = (nic: NicKind) => (nic === 'ne2000-isa' ? [] : [...outl(0xcf8, 0x80001804), ...outl(0xcfc, 0x0007)]);
/** mov esi, v */
const movEsi = (v: number) => [0xbe, ...le32(v)];
/** mov ecx, v */
const movEcx = (v: number) => [0xb9, ...le32(v)];
/** The address the code of a multibootElf image starts at (after its 12-byte Multiboot header). */
const CODE_AT = 0x100000 + 12;

/** A guest of `code`, with `data` right after it; `code(dataAt)` is called twice, and must be as long both times. */
function withData(code: (dataAt: number) => number[], data: ArrayLike<number>): Uint8Array {
  const len = code(0).length;
  const body = code(CODE_AT + len);
  if (body.length !== len) throw new Error('code length depends on the data address');
  return multibootElf([...body, ...Array.from(data)]);
}

/** Code that sends `frame` once from its memory at `at` on the card. */
function sendFrame(nic: NicKind, at: number, length: number): number[] {
  if (nic === 'rtl8139') return [...outl(RTL + 0x20, at), ...outl(RTL + 0x10, length)];
  const b = ioBase(nic);
  return [
    ...outb(b + 0x0a, length & 0xff), ...outb(b + 0x0b, length >> 8), // RBCR
    ...outb(b + 0x08, 0x00), ...outb(b + 0x09, 0x40), // RSAR 0x4000
    ...outb(b, 0x12), // remote write, start
    ...movEsi(at), ...movEcx(length), ...movDx(b + 0x10), 0xfc, 0xf3, 0x6e, // cld; rep outsb
    ...outb(b + 0x04, 0x40), ...outb(b + 0x05, length & 0xff), ...outb(b + 0x06, length >> 8), // TPSR, TBCR
    ...outb(b, 0x26), // transmit
  ];
}

/** Code that brings the card up to send: I/O on, transmitter on (RTL8139) or started in byte mode (NE2000). */
function cardUp(nic: NicKind): number[] {
  if (nic === 'rtl8139') return [...pciOn(nic), ...outb(RTL + 0x37, 0x04)];
  const b = ioBase(nic);
  return [...pciOn(nic), ...outb(b, 0x21), ...outb(b + 0x0e, 0x48), ...outb(b + 0x0d, 0x00), ...outb(b, 0x22)];
}

/** A frame from `src` to the peer, its payload `fill`. */
function frameFrom(src: Uint8Array, fill: number, length = 100): Uint8Array {
  const f = new Uint8Array(length).fill(fill);
  f.set(PEER_MAC, 0);
  f.set(src, 6);
  f[12] = 0x08; f[13] = 0x00;
  return f;
}

describe('no guest keeps the card', () => {
  it('RTL8139: a transmit started before the transmitter is turned off is still in flight; the neighbour gets the card and the attacker its descriptor back', () => {
    // vm0 starts a full frame, turns the transmitter off while it is on the wire, waits,
    // turns it back on, starts another, then spins; vm1 pings.
    const attacker = withData((at) => [
      ...cardUp('rtl8139'),
      ...sendFrame('rtl8139', at, 1500),
      ...outb(RTL + 0x37, 0x00), // TE off with the frame on the wire
      ...spin(200_000),
      ...outb(RTL + 0x37, 0x04), // and on again
      ...outl(RTL + 0x24, at), ...outl(RTL + 0x14, 1500),
      ...spin(400_000_000), ...exitWith(0),
    ], frameFrom(vmMac(DEFAULT_MAC, 0), 0x11, 1500));
    const { h, m, consoles } = host('vpio', [spec(attacker), spec(image('ping'))], 'rtl8139', { peers: [{ kind: 'echo' }] });
    h.run(20e9);
    expect(consoles[1]).toMatch(/ping: 4 sent, 4 received/);
    const bound = m!.cardQuantum + m!.deadline;
    expect(m!.guests[1].stats.longestWait).toBeLessThanOrEqual(bound);
    expect(m!.forcedHandoffs).toBe(0); // the model let it go by itself once the frame was out
    // Every descriptor vm0 handed over came back: none is stuck with the card.
    const ctx = (m!.owner === m!.guests[0] ? h.nic!.card.state : m!.guests[0].context) as { TSD: Uint32Array };
    for (let i = 0; i < 2; i++) expect(ctx.TSD[i] & 0x2000).toBe(0x2000);
  });

  it('RTL8139: descriptors the card rejects at once (oversized, in loopback) hold the card no longer than the bound', () => {
    // vm0 loops back and queues four 8191-byte descriptors (the card aborts each at once), again and again.
    const loop = (at: number) => {
      const body = [0, 1, 2, 3].flatMap((i) => [...outl(RTL + 0x20 + 4 * i, at), ...outl(RTL + 0x10 + 4 * i, 0x1fff)]);
      return [...movEsi(20_000), ...body, 0x4e, 0x0f, 0x85, ...le32(-(body.length + 7))]; // dec esi; jnz
    };
    const attacker = withData((at) => [
      ...pciOn('rtl8139'),
      ...outl(RTL + 0x40, 0x00060000), // TCR: loopback
      ...outl(RTL + 0x30, 0x200000), ...outl(RTL + 0x44, 0x8f), ...outb(RTL + 0x37, 0x0c),
      ...loop(at), ...exitWith(0),
    ], new Uint8Array(64));
    const { h, m, consoles } = host('vpio', [spec(attacker), spec(image('ping'))], 'rtl8139', { peers: [{ kind: 'echo' }] });
    h.run(20e9);
    expect(consoles[1]).toMatch(/ping: 4 sent, 4 received/);
    expect(m!.guests[1].stats.longestWait).toBeLessThanOrEqual(m!.cardQuantum + m!.deadline);
  });

  it('takes the card past the deadline from an owner whose card never settles, cancelling its transmit and saying so', () => {
    // A model that never calls the card quiescent stands for any way of keeping it busy.
    const sender = withData((at) => [...cardUp('rtl8139'), ...sendFrame('rtl8139', at, 1500), ...spin(300_000_000), ...exitWith(0)], frameFrom(vmMac(DEFAULT_MAC, 0), 0x22, 1500));
    const latecomer = multibootElf([...spin(500_000), ...outb(RTL + 0x3c, 0), ...spin(1000), ...exitWith(0)]);
    const { h, m, trace } = host('vpio', [spec(sender), spec(latecomer)], 'rtl8139');
    m!.guests[0].model.quiescent = () => false;
    h.run(20e9);
    expect(h.vms[1].end).toMatchObject({ kind: 'exit', value: 0 });
    expect(m!.forcedHandoffs).toBeGreaterThanOrEqual(1);
    expect(m!.violations.find((v) => v.rule === 'card-held')).toMatchObject({ vm: 0, port: -1 });
    expect(m!.guests[1].stats.longestWait).toBeLessThanOrEqual(m!.cardQuantum + m!.deadline);
    expect(trace.some((l) => /^\d+ vm0 vpio refused rule=card-held \(the card was still busy \d+ cycles after its handoff was due(: transmit on TSD0 cancelled)?; taken\)/.test(l))).toBe(true);
  });
});

describe('an idle or greedy neighbour costs a receiving guest no frame', () => {
  /** 500 datagrams of 512 bytes to vm1, one a millisecond, from 150 ms on; a broadcast among them every 20 ms. */
  function stream(h: Host, count = 500): void {
    const port = h.wire!.attach({ name: 'stream', receive: () => {} });
    const mac1 = vmMac(DEFAULT_MAC, 1);
    const lent = new Uint8Array(14 + 20 + 8 + 512);
    let seq = 0;
    const tick = h.clock.timer('stream', (at) => {
      const data = new Uint8Array(512);
      data[0] = seq >>> 24; data[1] = (seq >>> 16) & 0xff; data[2] = (seq >>> 8) & 0xff; data[3] = seq & 0xff;
      lent.set(ethernet(mac1, PEER_MAC, 0x0800, ipv4(PEER_IP, GUEST_IP, 17, udp(PEER_IP, GUEST_IP, 9, 9, data), seq & 0xffff)));
      port.send(lent);
      if (seq % 20 === 10) port.send(ethernet(BROADCAST, PEER_MAC, 0x0806, new Uint8Array(28))); // held for every guest
      if (++seq < count) tick.arm(at + 2_000_000);
    });
    tick.arm(300_000_000);
  }

  for (const nic of ['ne2000', 'ne2000-isa', 'rtl8139'] as const) {
    for (const [kind, neighbour, peers] of [
      ['idle', spec(image('echo-server'), 'seconds=3'), []],
      ['greedy', spec(image('udp-tx'), 'count=100000 size=1472'), [{ kind: 'sink' as const }]],
    ] as const) {
      it(`${nic}: a ${kind} neighbour`, () => {
        const { h, m, consoles } = host('vpio', [neighbour, spec(image('udp-rx'), 'count=500')], nic, { peers: [...peers], hostMemoryBytes: 17 * MiB });
        stream(h);
        h.run(4e9);
        expect(consoles[1]).toMatch(/udp-rx: 500 datagrams, 256000 bytes, 0 lost/);
        expect(m!.guests[1].stats.framesDropped).toBe(0);
        expect(m!.violationCount).toBe(0);
        if (kind === 'greedy') expect(m!.guests[0].stats.handoffsIn).toBeGreaterThan(1); // the neighbour did get its turns
      }, 120000);
    }
  }
});

describe('no guest sends with another guest\'s address', () => {
  for (const mode of ['vpio', 'virtual'] as const) {
    for (const nic of ['ne2000', 'ne2000-isa', 'rtl8139'] as const) {
      it(`${mode}, ${nic}: a frame with vm1's source address is refused, the guest's own goes out`, () => {
        const spoofed = frameFrom(vmMac(DEFAULT_MAC, 1), 0x5a);
        const honest = frameFrom(vmMac(DEFAULT_MAC, 0), 0xa5);
        const guest = withData((at) => [
          ...cardUp(nic),
          ...sendFrame(nic, at, 100), ...spin(2_000_000),
          ...(nic === 'rtl8139' ? outl(RTL + 0x24, at + 100).concat(outl(RTL + 0x14, 100)) : sendFrame(nic, at + 100, 100)),
          ...spin(2_000_000), ...exitWith(0),
        ], [...spoofed, ...honest]);
        const { h, m, trace } = host(mode, [spec(guest), spec(multibootElf([...spin(10_000_000), ...exitWith(0)]), '', false)], nic);
        const seen = tap(h);
        h.run(20e9);
        expect(seen.filter((f) => f[14] === 0x5a)).toEqual([]);
        expect(seen.filter((f) => f[14] === 0xa5 && isSentBy(f, vmMac(DEFAULT_MAC, 0))).length).toBe(1);
        expect(h.vms[0].stats.framesSpoofed).toBe(1);
        if (mode === 'vpio') {
          expect(m!.violations.map((v) => v.rule)).toEqual(['source-spoofed']);
          expect(trace.some((l) => /^\d+ vm0 vpio refused rule=source-spoofed \(a 100-byte frame from 52:54:00:12:34:57, not vm0's 52:54:00:12:34:56\)/.test(l))).toBe(true);
        } else {
          expect(h.switch!.spoofed).toBe(1);
          expect(trace.some((l) => /^\d+ vm0 net refused: a 100-byte frame from 52:54:00:12:34:57, not the sender's 52:54:00:12:34:56/.test(l))).toBe(true);
        }
      });
    }
  }
});

describe('a guest that ends in the middle of a transmit', () => {
  for (const nic of ['ne2000', 'ne2000-isa', 'rtl8139'] as const) {
    it(`${nic}: its frame does not go out after it ended, and the next owner's card is quiet`, () => {
      // vm0 starts a full-size frame and ends at once; vm1 waits for the card from the start.
      const quitter = withData((at) => [...cardUp(nic), ...sendFrame(nic, at, 1500), ...exitWith(0)], frameFrom(vmMac(DEFAULT_MAC, 0), 0x33, 1500));
      const waiter = multibootElf([...pciOn(nic), ...spin(5_000), ...outb(ioBase(nic) + (nic === 'rtl8139' ? 0x3c : 0x0f), 0), ...spin(20_000_000), ...exitWith(0)]);
      const { h, m } = host('vpio', [spec(quitter), spec(waiter)], nic);
      const seen: { at: number; f: Uint8Array }[] = [];
      h.wire!.attach({ name: 'tap', receive: (f) => seen.push({ at: h.clock.now, f: f.slice() }) });
      let ended = -1;
      while (h.vms[1].end === null && h.clock.now < 20e9) {
        h.run(h.clock.now + 20_000);
        if (ended < 0 && h.vms[0].end !== null) ended = h.clock.now;
      }
      expect(ended).toBeGreaterThan(0);
      expect(seen.filter((s) => s.f[14] === 0x33 && s.at > ended)).toEqual([]);
      expect(m!.owner === m!.guests[1] || m!.owner === null).toBe(true);
      // vm1's context never saw vm0's transmit complete: no transmit interrupt pending for it.
      const card = h.nic!.card;
      if (m!.owner === m!.guests[1]) expect(card.state.ISR & (nic === 'rtl8139' ? 0x04 : 0x02)).toBe(0);
    });
  }
});

describe('the NE2000\'s buffer shows a guest only its own data', () => {
  for (const nic of ['ne2000', 'ne2000-isa'] as const) {
    it(`${nic}: a guest that reads the whole buffer after another guest sent and received finds none of its bytes`, () => {
      const b = ioBase(nic);
      // vm1 waits until vm0 is done, then reads the card's 16 KiB by remote DMA into its memory at 3 MiB.
      const snoop = multibootElf([
        ...spin(60_000_000), ...pciOn(nic),
        ...outb(b, 0x21), ...outb(b + 0x0e, 0x48), // stop, page 0; byte transfers
        ...outb(b + 0x0a, 0x00), ...outb(b + 0x0b, 0x40), ...outb(b + 0x08, 0x00), ...outb(b + 0x09, 0x40), // RBCR 0x4000, RSAR 0x4000
        ...outb(b, 0x0a), // remote read, start
        0xbf, ...le32(0x300000), ...movEcx(0x4000), ...movDx(b + 0x10), 0xfc, 0xf3, 0x6c, // rep insb
        ...exitWith(0),
      ]);
      const { h, consoles } = host('vpio', [spec(image('udp-tx'), 'count=20 size=1000'), spec(snoop)], nic, { peers: [{ kind: 'sink' }] });
      h.run(20e9);
      expect(consoles[0]).toMatch(/udp-tx: 20 datagrams of 1000 bytes, 0 errors/);
      expect(h.vms[1].end).toMatchObject({ kind: 'exit', value: 0 });
      const mem = Buffer.from(h.vms[1].ram.subarray(0x300000, 0x304000));
      const mac0 = vmMac(DEFAULT_MAC, 0);
      expect(mem.indexOf(Buffer.from([...mac0, 0x08, 0x00, 0x45]))).toBe(-1); // a frame it sent
      expect(mem.indexOf(Buffer.from([...mac0, ...PEER_MAC]))).toBe(-1); // a frame it received
      expect(mem.every((x) => x === 0)).toBe(true); // all scrubbed: nothing of vm0's, and the card had nothing of vm1's
    });
  }
});
