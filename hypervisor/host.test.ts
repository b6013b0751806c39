/**
 * The host and its VMs at the API level: memory isolation, the insecure passthrough
 * (DMA reaching outside the owner, recorded), the switch never showing a guest another
 * guest's unicast, exits that match the native run's port trace access for access, the
 * scheduler's quantum and HLT yield, and determinism.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Host, HostConfigError, HostOptions, VmSpec, vmMac } from './host';
import { Pc } from '../board/pc';
import { multibootElf, asm } from '../board/testing-elf';
import { DEFAULT_MAC, NicKind } from '../devices/nic';

const ROOT = path.join(__dirname, '..');
const image = (name: string) => new Uint8Array(fs.readFileSync(path.join(ROOT, 'guests', 'bin', `${name}.elf`)));
const MiB = 1024 * 1024;

function host(vms: VmSpec[], extra: Partial<HostOptions> = {}, consoles?: string[]): Host {
  const out = consoles ?? [];
  const h = new Host({
    mode: 'virtual', vms, memoryBytes: 4 * MiB, hostMemoryBytes: vms.length * 4 * MiB + MiB, mac: DEFAULT_MAC, rtcStart: 946684800,
    console: (vm, b) => { out[vm] = (out[vm] ?? '') + String.fromCharCode(b); }, ...extra,
  });
  h.boot();
  return h;
}

const spec = (img: Uint8Array, cmdline = '', nic = false): VmSpec => ({ image: img, path: 'test', cmdline, nic });

// Little machine-code helpers (32-bit flat mode, as a Multiboot loader leaves the CPU).
const { le32, movDx, outl, outb, spin, exitWith } = asm;

describe('memory partitions', () => {
  it('keep a guest inside its own memory: a write past its end is dropped, and reads float', () => {
    // mov dword [4 MiB + 0x100], 0xdeadbeef; mov eax, [4 MiB + 0x100]; out 0xf4, al
    const code = [0xc7, 0x05, ...le32(4 * MiB + 0x100), ...le32(0xdeadbeef), 0xa1, ...le32(4 * MiB + 0x100), ...movDx(0xf4), 0xee, 0xf4];
    const h = host([spec(multibootElf(code)), spec(multibootElf(spin(1000).concat(exitWith(0))))]);
    h.ram.fill(0x5a, 4 * MiB, 4 * MiB + 0x200);
    expect(h.run(1e9)).toEqual({ kind: 'done' });
    expect(h.vms[0].end).toMatchObject({ kind: 'exit', value: 0xff });
    // vm1's partition starts where vm0's ends: untouched except by vm1 itself.
    expect(h.vms[1].base).toBe(4 * MiB);
    expect([...h.ram.subarray(4 * MiB + 0x100, 4 * MiB + 0x104)]).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
  });

  it('refuses more VMs than host memory, and two passthrough owners', () => {
    const img = image('hello');
    expect(() => new Host({ mode: 'virtual', vms: [spec(img), spec(img)], memoryBytes: 64 * MiB, hostMemoryBytes: 128 * MiB, mac: DEFAULT_MAC, rtcStart: 0, console: () => {} }))
      .toThrow(HostConfigError);
    expect(() => new Host({ mode: 'passthrough', vms: [spec(img, '', true), spec(img, '', true)], nic: 'rtl8139', memoryBytes: 4 * MiB, hostMemoryBytes: 16 * MiB, mac: DEFAULT_MAC, rtcStart: 0, console: () => {} }))
      .toThrow(/vm1 asks for the rtl8139 that vm0 already owns by passthrough/);
  });
});

describe('passthrough is insecure, and says so', () => {
  it('lets the owner point RTL8139 DMA at another VM: received frames land there and its memory leaks onto the wire', () => {
    const ESC = 4 * MiB + 0x10000, LEAK = 4 * MiB + 0x20000;
    // The owner is vm0 at host-physical 0; its BAR0 is where firmware put it.
    const probe = host([spec(multibootElf(exitWith(0)), '', true), spec(multibootElf(exitWith(0)))], { mode: 'passthrough', nic: 'rtl8139' });
    const io = probe.nic!.pci!.barAddress(0);
    const code = [
      ...outl(0xcf8, 0x80001804), ...outl(0xcfc, 0x0007), // PCI command: I/O, memory, bus master
      ...outb(io + 0x37, 0x0c), // CR: receiver and transmitter on
      ...outl(io + 0x44, 0x0f), // RCR: accept everything, 8 KiB ring
      ...outl(io + 0x30, ESC), // RBSTART: in vm1's memory
      ...outl(io + 0x20, LEAK), // TSAD0: in vm1's memory
      ...outl(io + 0x10, 64), // TSD0: send 64 bytes from there
      ...spin(3_000_000), ...exitWith(0),
    ];
    const h = host([spec(multibootElf(code), '', true), spec(multibootElf(spin(4_000_000).concat(exitWith(0))))], { mode: 'passthrough', nic: 'rtl8139' });
    const secret = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
    secret.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0); // a broadcast frame, so the peer's view is ordinary
    h.ram.set(secret, LEAK);
    const seen: Uint8Array[] = [];
    const station = { name: 'tap', receive: (f: Uint8Array) => seen.push(Uint8Array.from(f)) };
    const tap = h.wire!.attach(station);
    expect(h.run(1_000_000)).toEqual({ kind: 'limit' });
    const frame = Uint8Array.from({ length: 100 }, (_, i) => i);
    frame.set(vmMac(DEFAULT_MAC, 0), 0);
    tap.send(frame);
    expect(h.run(1e10)).toEqual({ kind: 'done' });
    // The leak: vm1's bytes went out on the wire.
    expect(seen.some((f) => f.length === 64 && f.every((b, i) => b === secret[i]))).toBe(true);
    // The escape: the frame was written into vm1's memory, after the 4-byte receive header.
    expect([...h.ram.subarray(ESC + 4, ESC + 4 + 100)]).toEqual([...frame]);
    expect(h.escapeCount).toBeGreaterThanOrEqual(2);
    expect(h.escapes.map((e) => e.direction)).toEqual(expect.arrayContaining(['read', 'write']));
    expect(h.escapes.every((e) => e.vm === 0 && e.address >= 4 * MiB)).toBe(true);
  });
});

describe('virtual mode', () => {
  it('never shows a guest another guest\'s unicast frame, and every guest gets its replies', () => {
    const consoles: string[] = [];
    const img = image('ping');
    const h = host([0, 1, 2, 3].map(() => spec(img, '', true)), { nic: 'rtl8139', peers: [{ kind: 'echo' }], memoryBytes: 8 * MiB, hostMemoryBytes: 40 * MiB }, consoles);
    const wrong: string[] = [];
    h.switch!.ports.forEach((p, i) => {
      const deliver = p.deliver;
      (p as { deliver: (f: Uint8Array) => void }).deliver = (f) => {
        const dst = f.subarray(0, 6);
        if (!(dst[0] & 1) && !dst.every((b, k) => b === p.mac[k])) wrong.push(`vm${i} got a frame for ${Buffer.from(dst).toString('hex')}`);
        deliver(f);
      };
    });
    expect(h.run(2e10)).toEqual({ kind: 'done' });
    expect(wrong).toEqual([]);
    for (let i = 0; i < 4; i++) expect(consoles[i]).toMatch(/ping: 4 sent, 4 received/);
    for (const vm of h.vms) expect(vm.stats.framesIn).toBeGreaterThanOrEqual(5); // the ARP reply and four echo replies at least
  });

  it('puts on the wire the frames each guest sent, in order, though its card reuses its buffer while they wait', () => {
    // Two senders outrun the wire: frames wait in the host driver's transmit queue while
    // each virtual card sends the next one from the same buffer (a frame is only lent:
    // EthernetPort). Per sender, the wire must show the sequence numbers rising.
    for (const nic of ['ne2000', 'rtl8139'] as NicKind[]) {
      const img = image('udp-tx');
      const h = host([0, 1].map(() => spec(img, 'udp-tx.elf count=150', true)), { nic, peers: [{ kind: 'sink' }], memoryBytes: 8 * MiB, hostMemoryBytes: 24 * MiB });
      const last = new Map<string, number>();
      const wrong: string[] = [];
      let queued = 0;
      h.wire!.attach({
        name: 'tap',
        receive: (f) => {
          if (f.length < 46 || f[12] !== 0x08 || f[23] !== 17) return; // IPv4 UDP only
          const from = Buffer.from(f.subarray(6, 12)).toString('hex');
          const seq = ((f[42] << 24) | (f[43] << 16) | (f[44] << 8) | f[45]) >>> 0;
          if (seq <= (last.get(from) ?? -1)) wrong.push(`${nic}: ${from} sent ${seq} after ${last.get(from)}`);
          last.set(from, seq);
          queued++;
        },
      });
      expect(h.run(2e10)).toEqual({ kind: 'done' });
      expect(wrong).toEqual([]);
      expect(last.size).toBe(2);
      expect(queued).toBeGreaterThan(150);
      expect(h.switch!.uplinkDropped).toBeGreaterThan(0); // the queue did fill: frames waited in it
    }
  });

  // The exits must be the guest driver's own accesses: the native run's port trace,
  // counted per device, is the reference (run-time polling loops aside, which these
  // guests do not have before they finish).
  for (const [guest, nic] of [['hello', undefined], ['ping', 'rtl8139'], ['ping', 'ne2000']] as const) {
    it(`exits ${guest}${nic ? ' on ' + nic : ''} makes match its native port trace, device by device`, () => {
      const native = new Map<string, number>();
      const pc = new Pc({
        memoryBytes: 4 * MiB, nic: nic as NicKind | undefined, peers: nic ? [{ kind: 'echo' }] : [], traceKinds: new Set(['io']),
        trace: (line) => {
          const m = / io (in|out) .* dev=(\S+)/.exec(line);
          if (m) native.set(`${m[1]} ${m[2]}`, (native.get(`${m[1]} ${m[2]}`) ?? 0) + 1);
        },
      });
      pc.boot(image(guest), 'test ');
      expect(pc.run(2e10).kind).toBe('exit');
      const h = host([spec(image(guest), '', nic !== undefined)], { nic: nic as NicKind | undefined, peers: nic ? [{ kind: 'echo' }] : [] });
      expect(h.run(2e10)).toEqual({ kind: 'done' });
      const virtual = new Map<string, number>();
      for (const c of h.vms[0].portCounters()) {
        if (c.accessesIn) virtual.set(`in ${c.name}`, c.accessesIn);
        if (c.accessesOut) virtual.set(`out ${c.name}`, c.accessesOut);
        // One exit per access, except the elements after the first of a REP INS/OUTS.
        expect(c.exitsIn).toBeLessThanOrEqual(c.accessesIn);
        if (c.name !== 'ne2000') expect([c.exitsIn, c.exitsOut]).toEqual([c.accessesIn, c.accessesOut]);
      }
      expect(Object.fromEntries(virtual)).toEqual(Object.fromEntries(native));
    });
  }
});

describe('the scheduler', () => {
  it('time-slices CPU-bound guests by the quantum, fairly, and their results are the native ones', () => {
    const consoles: string[] = [];
    const img = image('cpubound');
    const h = host([spec(img, 'iterations=3'), spec(img, 'iterations=3')], { quantum: 500_000, memoryBytes: 8 * MiB, hostMemoryBytes: 17 * MiB }, consoles);
    expect(h.run(1e10)).toEqual({ kind: 'done' });
    const pc = new Pc({ memoryBytes: 8 * MiB });
    let native = '';
    (pc.com1 as { onTransmit: (b: number) => void }).onTransmit = (b) => { native += String.fromCharCode(b); };
    pc.boot(img, 'test iterations=3');
    pc.run(1e10);
    expect(consoles[0]).toBe(native);
    expect(consoles[1]).toBe(native);
    const [a, b] = h.vms;
    // Each ran about half the time in quanta: preempted about run/quantum times each.
    for (const vm of h.vms) {
      expect(vm.stats.quantum.count).toBeGreaterThanOrEqual(Math.floor(vm.stats.runCycles / 500_000) - 2);
      expect(vm.stats.quantum.count).toBeLessThanOrEqual(Math.ceil(vm.stats.runCycles / 500_000) + 1);
    }
    expect(Math.abs(a.stats.runCycles - b.stats.runCycles)).toBeLessThan(2 * 500_000);
  });

  it('lets a halted guest yield: a timer guest beside a CPU-bound one keeps its ticks', () => {
    const consoles: string[] = [];
    const h = host([spec(image('timer')), spec(image('cpubound'), 'iterations=4')], { memoryBytes: 8 * MiB, hostMemoryBytes: 17 * MiB }, consoles);
    expect(h.run(2e10)).toEqual({ kind: 'done' });
    expect(consoles[0]).toMatch(/tick 5: 250 ticks since start/);
    expect(h.vms[0].stats.hlt.count).toBeGreaterThan(100);
    // The timer guest mostly halts: the CPU-bound guest gets nearly all the CPU.
    expect(h.vms[1].stats.runCycles).toBeGreaterThan(10 * h.vms[0].stats.runCycles);
  });

  it('is deterministic: two VMs pinging, twice, give the same consoles and the same cycle count', () => {
    const runOnce = () => {
      const consoles: string[] = [];
      const img = image('ping');
      const h = host([spec(img, '', true), spec(img, '', true)], { nic: 'ne2000', peers: [{ kind: 'echo' }], memoryBytes: 8 * MiB, hostMemoryBytes: 20 * MiB }, consoles);
      h.run(2e10);
      return { consoles, cycles: h.clock.now, exits: h.vms.map((v) => v.hypervisorCycles) };
    };
    const a = runOnce();
    expect(runOnce()).toEqual(a);
    expect(a.consoles[1]).toMatch(/ping: 4 sent, 4 received/);
  });
});
