/**
 * The VPIO monitor with real guests and hand-assembled hostile ones: illegitimate DMA
 * refused and answered per --on-violation, the victim's memory intact, cards shared
 * with no guest seeing another's unicast frames, handoffs at quiescent points, and the
 * model's view checked against the card's own state.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Host, HostOptions, VmSpec, vmMac } from '../hypervisor/host';
import { multibootElf, asm } from '../board/testing-elf';
import { DEFAULT_MAC, NicKind } from '../devices/nic';
import { Rtl8139 } from '../devices/rtl8139';
import { VpioMonitor, OnViolation } from './monitor';
import { ethernet, ipv4, udp } from '../devices/net/packets';
import { PEER_MAC, PEER_IP, GUEST_IP } from '../devices/net/wire';

const ROOT = path.join(__dirname, '..');
const image = (name: string) => new Uint8Array(fs.readFileSync(path.join(ROOT, 'guests', 'bin', `${name}.elf`)));
const MiB = 1024 * 1024;

function vpioHost(vms: VmSpec[], nic: NicKind, extra: Partial<HostOptions> = {}, consoles: string[] = [], onViolation: OnViolation = 'block', trace: string[] | null = null): { h: Host; m: VpioMonitor } {
  const h = new Host({
    mode: 'vpio', vms, nic, memoryBytes: 8 * MiB, hostMemoryBytes: vms.length * 8 * MiB + MiB, mac: DEFAULT_MAC, rtcStart: 946684800,
    console: (vm, b) => { consoles[vm] = (consoles[vm] ?? '') + String.fromCharCode(b); },
    sharedCard: (host, n, list) => new VpioMonitor(host, n, list, { onViolation }),
    trace: trace ? (l) => trace.push(l) : null, traceKinds: new Set(trace ? ['vpio'] : []),
    ...extra,
  });
  h.boot();
  return { h, m: h.shared as VpioMonitor };
}

const spec = (img: Uint8Array, cmdline = '', nic = true): VmSpec => ({ image: img, path: 'test', cmdline, nic });
const { le32, movDx, outl, outb, spin, exitWith } = asm;
// SeaBIOS-style firmware puts the RTL8139's BAR0 at 0xC000 in every VM (the first I/O BAR, the largest).
const IO = 0xc000;

/** A guest that points the RTL8139's DMA at memory past its own end (where the next VM lives in host memory). */
function hostile(outside: number): Uint8Array {
  return multibootElf([
    ...outl(0xcf8, 0x80001804), ...outl(0xcfc, 0x0007),
    ...outb(IO + 0x37, 0x0c),
    ...outl(IO + 0x44, 0x0f),
    ...outl(IO + 0x30, outside), // RBSTART past the end of its memory
    ...outl(IO + 0x20, outside + 0x1000), // TSAD0 too
    ...outl(IO + 0x10, 64), // and go
    ...spin(2_000_000), ...exitWith(0),
  ]);
}

describe('illegitimate RTL8139 programming under vpio', () => {
  for (const response of ['block', 'kill', 'log'] as const) {
    it(`refuses DMA outside the guest's memory (--on-violation ${response}) and the neighbour's memory stays intact`, () => {
      const trace: string[] = [];
      const { h, m } = vpioHost([spec(hostile(8 * MiB + 0x10000)), spec(multibootElf(spin(3_000_000).concat(exitWith(0))), '', false)], 'rtl8139', {}, [], response, trace);
      const secret = Uint8Array.from({ length: 0x3000 }, (_, i) => (i * 7 + 3) & 0xff);
      h.ram.set(secret, 8 * MiB + 0x10000);
      const seen: Uint8Array[] = [];
      const tap = h.wire!.attach({ name: 'tap', receive: (f) => seen.push(f.slice()) }); // lent: keep a copy
      expect(h.run(1_000_000)).toEqual({ kind: 'limit' });
      const frame = Uint8Array.from({ length: 100 }, (_, i) => i);
      frame.set(vmMac(DEFAULT_MAC, 0), 0);
      tap.send(frame);
      expect(h.run(1e10)).toEqual({ kind: 'done' });
      expect(m.violations.map((v) => v.rule)).toEqual(expect.arrayContaining(response === 'kill' ? ['rbstart-outside'] : ['rbstart-outside', 'tsad-outside']));
      expect(m.violations[0]).toMatchObject({ vm: 0, port: IO + 0x30, value: 8 * MiB + 0x10000 });
      // Nothing of the neighbour's went out, and nothing came into its memory.
      expect([...h.ram.subarray(8 * MiB + 0x10000, 8 * MiB + 0x13000)]).toEqual([...secret]);
      expect(seen.some((f) => f.length >= 64 && f.subarray(0, 64).every((b, i) => b === secret[0x1000 + i]))).toBe(false);
      if (response === 'kill') expect(h.vms[0].end).toMatchObject({ kind: 'killed' });
      else expect(h.vms[0].end).toMatchObject({ kind: 'exit', value: 0 });
      // "log" lets the access through untranslated; the DMA port still keeps the card in the owner's memory.
      if (response === 'log') expect(m.dmaRefused).toBeGreaterThan(0);
      else expect(m.dmaRefused).toBe(0);
      expect(trace.some((l) => /^\d+ vm0 vpio refused rule=rbstart-outside port=0xc030 /.test(l))).toBe(true);
    });
  }

  it('translates legitimate DMA into the guest\'s partition: a second VM\'s ring lands in its own memory', () => {
    const consoles: string[] = [];
    const { h, m } = vpioHost([spec(image('ping')), spec(image('ping'))], 'rtl8139', { peers: [{ kind: 'echo' }] }, consoles);
    expect(h.run(3e10)).toEqual({ kind: 'done' });
    for (let i = 0; i < 2; i++) expect(consoles[i]).toMatch(/ping: 4 sent, 4 received/);
    expect(m.violationCount).toBe(0);
    expect(m.dmaRefused).toBe(0);
    expect(m.handoffs).toBeGreaterThanOrEqual(2);
    // vm1 lives at 8 MiB in host memory; its guest-physical RBSTART plus that is what the card was given.
    const model = m.guests[1].model as unknown as { rbstart: number };
    const card = h.nic!.card as Rtl8139;
    if (m.owner === m.guests[1]) expect(card.state.RBSTART).toBe(8 * MiB + model.rbstart);
  });
});

describe('illegitimate NE2000 programming under vpio', () => {
  const NE = 0xc000;
  it('refuses a remote DMA that leaves the card\'s RAM, a transmit over the end, and a ring outside the RAM', () => {
    const code = [
      ...outl(0xcf8, 0x80001804), ...outl(0xcfc, 0x0001),
      ...outb(NE + 0x00, 0x21), // stop, page 0
      ...outb(NE + 0x0a, 0x00), ...outb(NE + 0x0b, 0x10), // RBCR = 0x1000
      ...outb(NE + 0x08, 0x00), ...outb(NE + 0x09, 0x78), // RSAR = 0x7800: runs 0x800 past the RAM
      ...outb(NE + 0x00, 0x0a), // remote read, start
      ...outb(NE + 0x04, 0x7f), ...outb(NE + 0x05, 0xea), ...outb(NE + 0x06, 0x05), // TPSR 0x7f, 1514 bytes
      ...outb(NE + 0x00, 0x26), // transmit
      ...outb(NE + 0x01, 0x10), ...outb(NE + 0x02, 0x90), // PSTART 0x10, PSTOP 0x90
      ...outb(NE + 0x00, 0x22), // start
      ...exitWith(0),
    ];
    const { m } = (() => { const r = vpioHost([spec(multibootElf(code))], 'ne2000'); r.h.run(1e9); return r; })();
    expect(m.violations.map((v) => v.rule)).toEqual(['remote-outside', 'transmit-outside', 'ring-outside']);
  });
});

/** Records every unicast frame the card is given that is not addressed to its owner at that moment. */
function watchUnicast(h: Host, m: VpioMonitor): string[] {
  const card = h.nic!.card;
  const receive = card.receive.bind(card);
  const wrong: string[] = [];
  (card as { receive: (f: Uint8Array) => boolean }).receive = (f) => {
    const o = m.owner!;
    if (!(f[0] & 1) && !f.subarray(0, 6).every((b, i) => b === o.mac[i])) wrong.push(`vm${o.vm.id} owned the card when a frame for ${Buffer.from(f.subarray(0, 6)).toString('hex')} went in`);
    return receive(f);
  };
  return wrong;
}

describe('sharing one card under vpio', () => {
  for (const nic of ['rtl8139', 'ne2000'] as const) {
    it(`four ping guests on one ${nic}: all answered, none sees another's unicast frame`, () => {
      const consoles: string[] = [];
      const { h, m } = vpioHost([0, 1, 2, 3].map(() => spec(image('ping'))), nic, { peers: [{ kind: 'echo' }] }, consoles);
      const wrong = watchUnicast(h, m);
      expect(h.run(4e10)).toEqual({ kind: 'done' });
      expect(wrong).toEqual([]);
      for (let i = 0; i < 4; i++) expect(consoles[i]).toMatch(/ping: 4 sent, 4 received/);
      expect(m.handoffs).toBeGreaterThanOrEqual(4);
      expect(m.violationCount).toBe(0);
      for (const g of m.guests) expect(g.stats.framesDropped).toBe(0);
    });
  }

  for (const nic of ['rtl8139', 'ne2000'] as const) {
    it(`holds a guest's frames while another owns the ${nic}, and delivers every one, to it alone, at its turn`, () => {
      const consoles: string[] = [];
      const { h, m } = vpioHost([spec(image('ping'), 'count=3'), spec(image('udp-rx'), 'count=40')], nic, { peers: [{ kind: 'echo' }] }, consoles);
      const wrong = watchUnicast(h, m);
      // A UDP stream to vm1's address, once its driver is up: 40 datagrams, one every 2 ms, from 150 ms on.
      // Each is sent from the same buffer, as a card sends (a frame is only lent): held frames must be copies.
      const tap = h.wire!.attach({ name: 'stream', receive: () => {} });
      const mac1 = vmMac(DEFAULT_MAC, 1);
      let seq = 0;
      const lent = new Uint8Array(242);
      const tick = h.clock.timer('stream', (at) => {
        const data = new Uint8Array(200);
        data[3] = seq; data[2] = seq >> 8;
        lent.set(ethernet(mac1, PEER_MAC, 0x0800, ipv4(PEER_IP, GUEST_IP, 17, udp(PEER_IP, GUEST_IP, 9, 9, data), seq)));
        tap.send(lent);
        if (++seq < 40) tick.arm(at + 4_000_000);
      });
      tick.arm(300_000_000);
      expect(h.run(4e9)).toEqual({ kind: 'done' });
      expect(wrong).toEqual([]);
      expect(consoles[0]).toMatch(/ping: 3 sent, 3 received/);
      expect(consoles[1]).toMatch(/udp-rx: 40 datagrams, 8000 bytes, 0 lost/);
      expect(m.guests[1].stats.framesHeld).toBeGreaterThan(0);
      expect(m.guests[1].stats.framesDropped).toBe(0);
      expect(m.guests[1].stats.framesRefused).toBe(0);
    }, 60000);
  }

  for (const nic of ['rtl8139', 'ne2000'] as const) {
    it(`shadow mode: ping and udp-tx sharing one ${nic}, the models agree with the card after every access`, () => {
      const consoles: string[] = [];
      const h = new Host({
        mode: 'vpio', vms: [spec(image('ping')), spec(image('udp-tx'), 'count=50 size=900')], nic, memoryBytes: 8 * MiB, hostMemoryBytes: 17 * MiB,
        mac: DEFAULT_MAC, rtcStart: 946684800, peers: [{ kind: 'echo' }, { kind: 'sink' }],
        console: (vm, b) => { consoles[vm] = (consoles[vm] ?? '') + String.fromCharCode(b); },
        sharedCard: (host, n, list) => new VpioMonitor(host, n, list, { shadow: true }),
      });
      h.boot();
      expect(h.run(4e10)).toEqual({ kind: 'done' });
      const m = h.shared as VpioMonitor;
      expect(consoles[0]).toMatch(/ping: 4 sent, 4 received/);
      expect(consoles[1]).toMatch(/udp-tx: 50 datagrams of 900 bytes, 0 errors/);
      expect(m.shadowMismatches).toEqual([]);
      expect(m.handoffs).toBeGreaterThanOrEqual(2);
    }, 60000);
  }

  it('is deterministic: the same shared run twice gives the same consoles, cycles and handoffs', () => {
    const once = () => {
      const consoles: string[] = [];
      const { h, m } = vpioHost([spec(image('ping')), spec(image('ping'))], 'rtl8139', { peers: [{ kind: 'echo' }] }, consoles);
      h.run(3e10);
      return { consoles, cycles: h.clock.now, handoffs: m.handoffs, cost: m.handoffCycles };
    };
    expect(once()).toEqual(once());
  });
});

/** A guest that receives on the RTL8139 (ring at `ring` of its memory, every frame accepted), spins, and exits. */
function receiverAt(ring: number, spins: number): Uint8Array {
  return multibootElf([
    ...outl(0xcf8, 0x80001804), ...outl(0xcfc, 0x0007),
    ...outl(IO + 0x30, ring), ...outl(IO + 0x44, 0x8f), ...outb(IO + 0x37, 0x0c),
    ...spin(spins), ...exitWith(0),
  ]);
}

describe('receive time under vpio', () => {
  it('hands the RTL8139 over only when the frame still crossing the bus is in its owner\'s ring', () => {
    const RING = 0x200000, Q = 20_000_000;
    // vm0 receives (ring at 2 MiB of its memory, every frame accepted); vm1 wants the card a little later.
    const receiver = receiverAt(RING, 100_000_000);
    const latecomer = multibootElf([...spin(2_000_000), ...outb(IO + 0x3c, 0), ...spin(1000), ...exitWith(0)]);
    const trace: string[] = [];
    const h = new Host({
      mode: 'vpio', vms: [spec(receiver), spec(latecomer)], nic: 'rtl8139', memoryBytes: 8 * MiB, hostMemoryBytes: 17 * MiB,
      mac: DEFAULT_MAC, rtcStart: 946684800, console: () => {},
      sharedCard: (host, n, list) => new VpioMonitor(host, n, list, { shadow: true, cardQuantum: Q }),
      trace: (l) => trace.push(l), traceKinds: new Set(['vpio']),
    });
    h.boot();
    const m = h.shared as VpioMonitor;
    expect(h.run(1_000_000)).toEqual({ kind: 'limit' });
    expect(m.owner?.vm.id).toBe(0);
    // The frame for vm0 arrives 1000 cycles before vm0's card quantum ends, with vm1 waiting.
    const card = h.nic!.card as Rtl8139;
    const frame = Uint8Array.from({ length: 1400 }, (_, i) => (i * 13 + 5) & 0xff);
    frame.set(vmMac(DEFAULT_MAC, 0), 0);
    const arrival = m.guests[0].since + Q - 1000;
    expect(h.run(arrival)).toEqual({ kind: 'limit' }); // run() takes the cycle to stop at
    expect(m.guests[1].waiting).toBe(true);
    const tap = h.wire!.attach({ name: 'tap', receive: () => {} });
    expect(h.clock.now).toBe(arrival);
    tap.send(frame); // a port's send is the frame's arrival (the sending card or peer has paid the wire time)
    expect(h.run(1e10)).toEqual({ kind: 'done' });
    // The handoff waited for the bus: not at the quantum's end, but once the frame was in vm0's ring.
    const handoff = trace.find((l) => / vpio handoff vm0 -> vm1 /.test(l));
    expect(handoff).toBeDefined();
    expect(Number(handoff!.split(' ')[0])).toBeGreaterThanOrEqual(arrival + card.rxDmaCycles(frame.length));
    const ring0 = h.vms[0].ram.subarray(RING + 4, RING + 4 + frame.length);
    expect(Buffer.from(ring0).equals(Buffer.from(frame))).toBe(true);
    const mem1 = Buffer.from(h.vms[1].ram);
    expect(mem1.indexOf(Buffer.from(frame.subarray(6, 200)))).toBe(-1);
    expect(m.shadowMismatches).toEqual([]);
    expect(card.dropped).toBe(0);
  });

  it('resets the card when its owner ends with a frame still crossing the bus, so nothing lands in memory no guest owns', () => {
    const RING = 0x200000;
    const receiver = receiverAt(RING, 1_000_000);
    const frame = Uint8Array.from({ length: 1400 }, (_, i) => (i * 13 + 5) & 0xff);
    frame.set(vmMac(DEFAULT_MAC, 0), 0);
    const runWith = (arrival: number) => {
      const h = new Host({
        mode: 'vpio', vms: [spec(receiver)], nic: 'rtl8139', memoryBytes: 8 * MiB, hostMemoryBytes: 9 * MiB,
        mac: DEFAULT_MAC, rtcStart: 946684800, console: () => {},
        sharedCard: (host, n, list) => new VpioMonitor(host, n, list, { shadow: true }),
      });
      h.boot();
      const m = h.shared as VpioMonitor;
      let ended = -1;
      if (arrival < 0) {
        // Find the cycle vm0 ends at, a step at a time.
        while (h.vms[0].end === null) { h.run(h.clock.now + 1000); }
        ended = h.clock.now;
      } else {
        h.run(arrival);
        h.wire!.attach({ name: 'tap', receive: () => {} }).send(frame);
      }
      h.run(1e10);
      return { h, m, ended };
    };
    // vm0 ends somewhere in (ended - 1000, ended]; the frame arrives before that and is
    // still on its way to the ring when it does.
    const dry = runWith(-1);
    const dma = (dry.h.nic!.card as Rtl8139).rxDmaCycles(frame.length);
    const { h, m } = runWith(dry.ended - 1000 - Math.floor(dma / 2));
    expect(h.vms[0].end).toMatchObject({ kind: 'exit' });
    expect(m.owner).toBeNull();
    expect(m.dmaRefused).toBe(0);
    expect((h.nic!.card as Rtl8139).rxFifoFrames).toBe(0);
    expect((h.nic!.card as Rtl8139).dropped).toBe(1); // the frame, discarded by the reset
  });

  it('gives the card one frame at a time, so two full frames at once both reach the ring rather than overflow its FIFO', () => {
    const RING = 0x200000;
    const receiver = receiverAt(RING, 1_000_000);
    const h = new Host({
      mode: 'vpio', vms: [spec(receiver)], nic: 'rtl8139', memoryBytes: 8 * MiB, hostMemoryBytes: 9 * MiB,
      mac: DEFAULT_MAC, rtcStart: 946684800, console: () => {},
      sharedCard: (host, n, list) => new VpioMonitor(host, n, list, { shadow: true }),
    });
    h.boot();
    h.run(500_000);
    const frames = [0x11, 0x22].map((fill) => {
      const f = new Uint8Array(1400).fill(fill);
      f.set(vmMac(DEFAULT_MAC, 0), 0);
      return f;
    });
    const tap = h.wire!.attach({ name: 'tap', receive: () => {} });
    for (const f of frames) tap.send(f); // together: more than the 2 KiB FIFO holds
    expect(h.run(1e10)).toEqual({ kind: 'done' });
    const card = h.nic!.card as Rtl8139;
    expect(card.dropped).toBe(0);
    const second = RING + ((4 + 1404 + 3) & ~3);
    expect(h.vms[0].ram[RING + 4 + 100]).toBe(0x11);
    expect(h.vms[0].ram[second + 4 + 100]).toBe(0x22);
  });
});
