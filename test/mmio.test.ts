/**
 * The RTL8139's registers through its memory BAR (BAR1), as Linux's 8139too uses them
 * by default: a guest that reads the card's identity and sends a frame with nothing but
 * loads and stores to BAR1, on the bare machine and in every hypervisor mode; what each
 * mode traps (nothing in passthrough, every access of the virtual card, the model's
 * page under vpio); and the hostile class under vpio through memory rather than ports:
 * a transmit from outside the guest's memory is refused whichever way it is programmed.
 */
import { Pc } from '../board/pc';
import { Host, HostOptions, VmSpec, vmMac } from '../hypervisor/host';
import { multibootElf, asm } from '../board/testing-elf';
import { DEFAULT_MAC } from '../devices/nic';
import { VpioMonitor } from '../vpio/monitor';
import { PortRange } from '../devices/port-bus';
import { SinkPeer, EchoPeer, Wire } from '../devices/net/wire';
import * as fs from 'fs';
import * as path from 'path';

const image = (name: string) => new Uint8Array(fs.readFileSync(path.join(__dirname, '..', 'guests', 'bin', `${name}.elf`)));

const MiB = 1024 * 1024;
/** Where firmware puts the RTL8139's BAR1 (the only memory BAR: 256 bytes under 0xFEC00000, as SeaBIOS allocates downward). */
const BAR1 = 0xfec00000 - 0x100;
const { outl, stl, stb, copyl, spin, exitWith } = asm;
const PCI_CMD = 0x80001804; // 00:03.0, command register

/** The frame the guest sends: broadcast, from `mac`, 64 bytes, at 0x8000. */
function frameStores(mac: Uint8Array): number[] {
  const f = new Uint8Array(64).fill(0x5a);
  f.fill(0xff, 0, 6);
  f.set(mac, 6);
  f[12] = 0x08; f[13] = 0x00;
  const code: number[] = [];
  for (let i = 0; i < 64; i += 4) code.push(...stl(0x8000 + i, f[i] | (f[i + 1] << 8) | (f[i + 2] << 16) | (f[i + 3] << 24)));
  return code;
}

/**
 * Reads IDR0-3 and TCR into 0x500 and 0x504, then sends the frame from `from` (0x8000
 * unless a hostile guest says otherwise), all through BAR1; waits; exits.
 */
function mmioGuest(mac: Uint8Array, from = 0x8000): Uint8Array {
  return multibootElf([
    ...outl(0xcf8, PCI_CMD), ...outl(0xcfc, 0x0006), // memory space and bus master; no I/O space
    ...copyl(BAR1 + 0x00, 0x500),
    ...copyl(BAR1 + 0x40, 0x504),
    ...frameStores(mac),
    ...stb(BAR1 + 0x37, 0x04), // CR: TE
    ...stl(BAR1 + 0x20, from), // TSAD0
    ...stl(BAR1 + 0x10, 64), // TSD0: 64 bytes, OWN=0
    ...spin(200_000), ...exitWith(0),
  ]);
}

const word = (ram: Uint8Array, at: number) => (ram[at] | (ram[at + 1] << 8) | (ram[at + 2] << 16) | (ram[at + 3] << 24)) >>> 0;

function hostFor(mode: 'passthrough' | 'virtual' | 'vpio', vms: VmSpec[], extra: Partial<HostOptions> = {}): Host {
  const h = new Host({
    mode, vms, nic: 'rtl8139', memoryBytes: 8 * MiB, hostMemoryBytes: vms.length * 8 * MiB + MiB, mac: DEFAULT_MAC, rtcStart: 946684800,
    console: () => {}, sharedCard: (host, n, list) => new VpioMonitor(host, n, list), ...extra,
  });
  h.boot();
  return h;
}

/** Two VMs sharing the card under vpio, each running `image` built for its own MAC. */
function sharing(image: (mac: Uint8Array) => Uint8Array): Host {
  return hostFor('vpio', [
    { image: image(vmMac(DEFAULT_MAC, 0)), path: 'a', cmdline: '', nic: true },
    { image: image(vmMac(DEFAULT_MAC, 1)), path: 'b', cmdline: '', nic: true },
  ]);
}

/** A station on `wire` that keeps a copy of every frame sent on it. */
function tap(wire: Wire): Uint8Array[] {
  const seen: Uint8Array[] = [];
  wire.attach({ name: 'tap', receive: (f) => seen.push(f.slice()) });
  return seen;
}

/** The trap counters of a VM whose names say they are the card's memory window. */
function mmioTraps(ranges: Iterable<{ name: string; exitsIn: number; exitsOut: number; accessesIn: number; accessesOut: number }>) {
  let exits = 0, accesses = 0;
  for (const c of ranges) if (/mmio/.test(c.name)) { exits += c.exitsIn + c.exitsOut; accesses += c.accessesIn + c.accessesOut; }
  return { exits, accesses };
}

describe('the RTL8139 through its memory BAR', () => {
  it('native: firmware puts BAR1 where the guest finds it, loads and stores reach the card, one bus access each', () => {
    const pc = new Pc({ memoryBytes: 16 * MiB, nic: 'rtl8139', mac: DEFAULT_MAC, rtcStart: 946684800, console: () => {} });
    const seen = tap(pc.wire!);
    pc.boot(mmioGuest(DEFAULT_MAC), '');
    expect(pc.run(1e9)).toMatchObject({ kind: 'exit' });
    expect(pc.pci.functions().find((f) => f.dev === 3)!.fn.barAddress(1)).toBe(BAR1);
    expect(word(pc.ram, 0x500)).toBe((DEFAULT_MAC[0] | (DEFAULT_MAC[1] << 8) | (DEFAULT_MAC[2] << 16) | (DEFAULT_MAC[3] << 24)) >>> 0);
    expect(word(pc.ram, 0x504) & 0x7cc00000).toBe(0x74000000);
    expect(seen.length).toBe(1);
    expect(seen[0].length).toBe(64);
    expect(Array.from(seen[0].subarray(6, 12))).toEqual(Array.from(DEFAULT_MAC));
    const r = pc.mmio.ranges.find((x: PortRange) => x.name === 'rtl8139 (mmio)')!;
    expect(r.counter.accessesIn).toBe(2);
    expect(r.counter.accessesOut).toBe(3);
    expect(r.counter.cyclesIn + r.counter.cyclesOut).toBe(5 * pc.costs.pciAccessCycles);
  });

  it('native: a word or dword load straddling the end of RAM is split, one past it is one bus access, and nothing mapped reads all ones', () => {
    const pc = new Pc({ memoryBytes: 16 * MiB, nic: 'rtl8139', mac: DEFAULT_MAC, rtcStart: 946684800, console: () => {} });
    pc.boot(multibootElf(exitWith(0)), '');
    pc.ram[16 * MiB - 1] = 0x12;
    expect(pc.cpu.readPhys32(16 * MiB - 1) >>> 0).toBe(0xffffff12);
    expect(pc.cpu.readPhys32(0xf0000000) >>> 0).toBe(0xffffffff);
    expect(pc.cpu.readPhys32(BAR1) >>> 0).toBe((DEFAULT_MAC[0] | (DEFAULT_MAC[1] << 8) | (DEFAULT_MAC[2] << 16) | (DEFAULT_MAC[3] << 24)) >>> 0);
    pc.cpu.writePhys32(BAR1 + 0x44, 0x0000000f); // RCR, one access
    expect(pc.rtl8139!.state.RCR).toBe(0x0f);
    // Memory decoding off: BAR1 reads all ones and the card ignores stores there.
    const fn = pc.pci.functions().find((f) => f.dev === 3)!.fn;
    fn.setCommand(fn.command & ~0x2);
    expect(pc.cpu.readPhys32(BAR1) >>> 0).toBe(0xffffffff);
    pc.cpu.writePhys32(BAR1 + 0x44, 0);
    expect(pc.rtl8139!.state.RCR).toBe(0x0f);
    // Moved by the guest: the registers follow.
    fn.setCommand(fn.command | 0x2);
    fn.write(0x14, 4, 0xfe000000);
    expect(pc.cpu.readPhys32(0xfe000044) >>> 0).toBe(0x0f);
    expect(pc.cpu.readPhys32(BAR1 + 0x44) >>> 0).toBe(0xffffffff);
  });

  it('refuses a memory BAR placed inside RAM (RAM answers there) and says so in the trace', () => {
    const lines: string[] = [];
    const pc = new Pc({ memoryBytes: 16 * MiB, nic: 'rtl8139', mac: DEFAULT_MAC, rtcStart: 946684800, console: () => {}, trace: (l) => lines.push(l), traceKinds: new Set() });
    pc.boot(multibootElf(exitWith(0)), '');
    const fn = pc.pci.functions().find((f) => f.dev === 3)!.fn;
    fn.write(0x14, 4, 0x00100000);
    pc.ram[0x100000] = 0x77;
    expect(pc.cpu.readPhys8(0x100000)).toBe(0x77);
    expect(lines.join('\n')).toMatch(/rtl8139: BAR1 at 0x100000 is inside RAM; not mapped/);
  });

  for (const mode of ['passthrough', 'virtual', 'vpio'] as const) {
    it(`${mode}: the guest reads its own MAC and sends its frame through BAR1`, () => {
      const mac = vmMac(DEFAULT_MAC, 0);
      const h = hostFor(mode, [{ image: mmioGuest(mac), path: 'mmio', cmdline: '', nic: true }]);
      const seen = tap(h.wire!);
      expect(h.run(1e10)).toEqual({ kind: 'done' });
      const vm = h.vms[0];
      expect(vm.end).toMatchObject({ kind: 'exit', value: 0 });
      expect(word(vm.ram, 0x500)).toBe((mac[0] | (mac[1] << 8) | (mac[2] << 16) | (mac[3] << 24)) >>> 0);
      expect(word(vm.ram, 0x504) & 0x7cc00000).toBe(0x74000000);
      expect(seen.length).toBe(1);
      expect(Array.from(seen[0].subarray(6, 12))).toEqual(Array.from(mac));
      const traps = mmioTraps(vm.portCounters());
      if (mode === 'passthrough') expect(traps.exits).toBe(0);
      if (mode === 'virtual') expect(traps).toEqual({ exits: 5, accesses: 5 }); // every access exits
      if (mode === 'vpio') {
        // The page traps (the model hooks TSAD, CR, RBSTART... and TSD until its buffer is checked): the stores exit; loads exit too while any read is hooked.
        expect(traps.exits).toBeGreaterThanOrEqual(3);
        expect((h.shared as VpioMonitor).violations).toEqual([]);
      }
    });
  }

  it('vpio: a transmit from outside the guest\'s memory is refused when programmed through BAR1, with the address it was written at', () => {
    const victim = 8 * MiB + 0x8000; // the second VM's memory, in host terms just past the first's
    const h = hostFor('vpio', [
      { image: mmioGuest(vmMac(DEFAULT_MAC, 0), victim), path: 'hostile', cmdline: '', nic: true },
      { image: multibootElf([...spin(100_000), ...exitWith(0)]), path: 'idle', cmdline: '', nic: false },
    ]);
    const secret = Uint8Array.from({ length: 64 }, (_, i) => 0xc0 ^ i);
    h.ram.set(secret, 8 * MiB + 0x8000);
    const seen = tap(h.wire!);
    expect(h.run(1e10)).toEqual({ kind: 'done' });
    const m = h.shared as VpioMonitor;
    expect(m.violations.map((v) => v.rule)).toContain('tsad-outside');
    expect(m.violations.find((v) => v.rule === 'tsad-outside')).toMatchObject({ vm: 0, port: BAR1 + 0x10 });
    expect(seen.some((f) => f.length >= 64 && f.subarray(0, 64).every((b, i) => b === secret[i]))).toBe(false);
  });

  it('vpio: a guest that does not own the card waits on a BAR1 access, and gets the card', () => {
    const h = sharing(mmioGuest);
    const seen = tap(h.wire!);
    expect(h.run(1e10)).toEqual({ kind: 'done' });
    const m = h.shared as VpioMonitor;
    expect(m.handoffs).toBeGreaterThanOrEqual(2);
    expect(m.violations).toEqual([]);
    expect(seen.map((f) => Array.from(f.subarray(6, 12))).sort()).toEqual([Array.from(vmMac(DEFAULT_MAC, 0)), Array.from(vmMac(DEFAULT_MAC, 1))].sort());
    // Each read its own MAC: the IDR of its own context.
    for (const vm of h.vms) {
      const mac = vmMac(DEFAULT_MAC, vm.id);
      expect(word(vm.ram, 0x500)).toBe((mac[0] | (mac[1] << 8) | (mac[2] << 16) | (mac[3] << 24)) >>> 0);
    }
    expect(word(h.vms[1].ram, 0x504) & 0x7cc00000).toBe(0x74000000);
    expect(mmioTraps(h.vms[1].portCounters()).exits).toBeGreaterThan(0);
  });

  it('vpio: a guest at host-physical 0 has only its stores trapped and reads back what it wrote; a guest elsewhere has its loads hooked and reads back its own addresses too', () => {
    /** Writes RBSTART, reads it back with receive off and on, sends, and reads TSAD0 back while the frame is the card's. */
    const readBack = (mac: Uint8Array) => multibootElf([
      ...outl(0xcf8, PCI_CMD), ...outl(0xcfc, 0x0006),
      ...stl(BAR1 + 0x30, 0x10000), // RBSTART, receive off
      ...copyl(BAR1 + 0x30, 0x510),
      ...stl(BAR1 + 0x44, 0x0f), // RCR: 8 KiB ring, accept all
      ...stb(BAR1 + 0x37, 0x0c), // CR: RE and TE
      ...copyl(BAR1 + 0x30, 0x514),
      ...frameStores(mac),
      ...stl(BAR1 + 0x20, 0x8000), // TSAD0
      ...stl(BAR1 + 0x10, 64), // TSD0: the go point
      ...copyl(BAR1 + 0x20, 0x518), // at once: the frame is still going out
      ...spin(200_000), ...exitWith(0),
    ]);
    const h = sharing(readBack);
    const seen = tap(h.wire!);
    expect(h.run(1e10)).toEqual({ kind: 'done' });
    expect((h.shared as VpioMonitor).violations).toEqual([]);
    expect(seen.length).toBe(2);
    expect(h.vms.map((vm) => vm.base)).toEqual([0, 8 * MiB]);
    for (const vm of h.vms) expect([word(vm.ram, 0x510), word(vm.ram, 0x514), word(vm.ram, 0x518)]).toEqual([0x10000, 0x10000, 0x8000]);
    const modelTrap = (id: number) => Array.from(h.vms[id].portCounters()).filter((c) => c.name.includes('mmio model'));
    expect(modelTrap(0).reduce((n, c) => n + c.exitsIn, 0)).toBe(0);
    expect(modelTrap(0).reduce((n, c) => n + c.exitsOut, 0)).toBeGreaterThanOrEqual(5);
    expect(modelTrap(1).reduce((n, c) => n + c.exitsIn, 0)).toBe(3);
  });

  describe('our RTL8139 driver with mmio=1 (BAR1) against the same driver on ports', () => {
    /** The sink's count and what the guest printed, natively or in a mode. */
    function run(mode: 'native' | 'passthrough' | 'virtual' | 'vpio', prog: string, args: string) {
      let out = '';
      if (mode === 'native') {
        const pc = new Pc({ memoryBytes: 16 * MiB, nic: 'rtl8139', mac: DEFAULT_MAC, peers: [{ kind: 'sink' }, { kind: 'echo' }], rtcStart: 946684800, console: (b) => { out += String.fromCharCode(b); } });
        pc.boot(image(prog), `${prog} ${args}`);
        expect(pc.run(40e9)).toMatchObject({ kind: 'exit', value: 0 });
        return { sink: (pc.peers.find((p) => p instanceof SinkPeer) as SinkPeer).received, out, exits: null };
      }
      const h = hostFor(mode, [{ image: image(prog), path: prog, cmdline: args, nic: true }], {
        peers: [{ kind: 'sink' }, { kind: 'echo' }], console: (_vm, b) => { out += String.fromCharCode(b); }, memoryBytes: 16 * MiB, hostMemoryBytes: 17 * MiB,
      });
      expect(h.run(40e9)).toEqual({ kind: 'done' });
      expect(h.vms[0].end).toMatchObject({ kind: 'exit', value: 0 });
      return { sink: (h.peers.find((p) => p instanceof SinkPeer) as SinkPeer).received, out, exits: mmioTraps(h.vms[0].portCounters()) };
    }

    for (const mode of ['native', 'passthrough', 'virtual', 'vpio'] as const) {
      it(`${mode}: the same datagrams reach the sink, and pings come back`, () => {
        const ports = run(mode, 'udp-tx', 'count=40 size=300');
        const mem = run(mode, 'udp-tx', 'count=40 size=300 mmio=1');
        expect(ports.sink).toBe(40);
        expect(mem.sink).toBe(40);
        const ping = run(mode, 'ping', 'count=3 mmio=1');
        expect(ping.out).toMatch(/3 sent, 3 received/);
        if (mode === 'passthrough') expect(mem.exits!.exits).toBe(0);
        if (mode === 'virtual' || mode === 'vpio') expect(mem.exits!.exits).toBeGreaterThan(40);
      });
    }
  });
});
