/** The per-VM port map: direct and trapped ranges, run-time hooking, exit accounting. */
import { PortMap } from './port-map';
import { PortDevice, IO_OUT } from '../devices/port-bus';

function device(log: string[]): PortDevice {
  return {
    read: (off, size) => { log.push(`dev in ${off}/${size}`); return 0x40 + off; },
    write: (off, size, v) => { log.push(`dev out ${off}/${size}=${v}`); },
  };
}

/** A trap handler: like a device, it is given the offset from the hook's base. */
function trap(log: string[]): PortDevice {
  return {
    read: (off, size) => { log.push(`trap in +${off}/${size}`); return 0x99; },
    write: (off, size, v) => { log.push(`trap out +${off}/${size}=${v}`); },
  };
}

describe('PortMap', () => {
  it('sends direct ports to the device for their bus latency, and unmapped ports float', () => {
    const log: string[] = [];
    const map = new PortMap(3000);
    let cycles = 0;
    map.charge = (c) => { cycles += c; };
    map.direct('nic', 0xc000, 0x20, device(log), 500);
    expect(map.read(0xc007, 1)).toBe(0x47);
    map.write(0xc010, 2, 0x1234);
    expect(map.read(0x1234, 2)).toBe(0xffff);
    expect(log).toEqual(['dev in 7/1', 'dev out 16/2=4660']);
    expect(cycles).toBe(1000);
  });

  it('traps hooked ports: exit cost plus handler cost, counted per direction', () => {
    const log: string[] = [];
    const map = new PortMap(3000);
    let cycles = 0;
    map.charge = (c) => { cycles += c; };
    const hook = map.hook('vnic', 0x300, 0x20, trap(log), { handlerCycles: 700 });
    expect(map.read(0x307, 1)).toBe(0x99);
    map.write(0x310, 2, 5);
    map.write(0x310, 2, 6);
    expect(log).toEqual(['trap in +7/1', 'trap out +16/2=5', 'trap out +16/2=6']);
    expect([hook.counter.exitsIn, hook.counter.exitsOut, hook.counter.cyclesIn, hook.counter.cyclesOut]).toEqual([1, 2, 3700, 7400]);
    expect(cycles).toBe(3 * 3700);
  });

  it('shadows a direct range with a hook and restores it on unhook, at run time', () => {
    const log: string[] = [];
    const map = new PortMap(3000);
    map.direct('nic', 0xc000, 0x20, device(log), 500);
    const hook = map.hook('monitor', 0xc007, 1, trap(log));
    map.read(0xc006, 1);
    map.read(0xc007, 1);
    map.unhook(hook);
    map.read(0xc007, 1);
    expect(log).toEqual(['dev in 6/1', 'trap in +0/1', 'dev in 7/1']);
    expect(map.lookup(0xc007)?.trapped).toBe(false);
  });

  it('refuses overlapping direct ranges and double hooks (wiring bugs), leaving the map as it was', () => {
    const map = new PortMap(3000);
    map.direct('a', 0x100, 8, device([]), 1);
    expect(() => map.direct('b', 0x104, 8, device([]), 1)).toThrow(/already a's/);
    map.hook('h', 0x100, 2, trap([]));
    expect(() => map.hook('h2', 0x101, 2, trap([]))).toThrow(/already covered by h/);
    expect(map.lookup(0x104)?.name).toBe('a');
    expect(map.lookup(0x102)?.name).toBe('a');
  });

  it('reuses table slots, so hooking and unhooking forever does not grow it', () => {
    const map = new PortMap(3000);
    for (let i = 0; i < 100000; i++) map.unhook(map.hook('flip', 0x3f8, 8, trap([])));
    expect(map.lookup(0x3f8)).toBeNull();
  });

  it('takes one exit for a whole REP INS/OUTS, the handler cost for every element, unless the hook asks for per-element exits', () => {
    const map = new PortMap(3000);
    let cycles = 0;
    map.charge = (c) => { cycles += c; };
    const cpu = { ioRepeat: 0 };
    map.repeat = cpu;
    const once = map.hook('data', 0x310, 2, trap([]), { handlerCycles: 10 });
    const each = map.hook('strict', 0x320, 2, trap([]), { handlerCycles: 10, perElement: true });
    for (let k = 0; k < 4; k++) { cpu.ioRepeat = k; map.write(0x310, 2, k); map.read(0x320, 2); }
    expect([once.counter.exitsOut, once.counter.accessesOut, once.counter.cyclesOut]).toEqual([1, 4, 3000 + 4 * 10]);
    expect([each.counter.exitsIn, each.counter.accessesIn, each.counter.cyclesIn]).toEqual([4, 4, 4 * 3010]);
    expect(cycles).toBe(3040 + 4 * 3010);
  });

  it('keeps one counter per hook name across hook and unhook', () => {
    const map = new PortMap(100);
    for (let i = 0; i < 3; i++) {
      const h = map.hook('flip', 0x60, 1, trap([]));
      map.read(0x60, 1);
      map.unhook(h);
      map.read(0x60, 1);
    }
    expect(map.counters.get('flip')?.exitsIn).toBe(3);
    expect([...map.counters.keys()]).toEqual(['flip']);
  });

  it('removes a direct range (a BAR moved), and traces every access with what served it', () => {
    const log: string[] = [];
    const map = new PortMap(100);
    const lines: string[] = [];
    map.trace = (dir, port, size, value, range) => lines.push(`${dir} ${port.toString(16)} ${value} ${range ? range.name : 'none'}${range?.trapped ? ' trap' : ''}`);
    const r = map.direct('nic', 0xc000, 0x20, device(log), 1);
    map.hook('pit', 0x40, 4, trap(log));
    map.read(0xc001, 1);
    map.remove(r);
    map.read(0xc001, 1);
    map.write(0x40, 1, 7);
    expect(lines).toEqual(['in c001 65 nic', 'in c001 255 none', 'out 40 7 pit trap']);
    expect(map.lookup(0xc001)).toBeNull();
  });

  it('traps one direction only, the other going to the direct range underneath, and counts direct accesses', () => {
    const log: string[] = [];
    const map = new PortMap(100);
    const r = map.direct('nic', 0xc000, 0x20, device(log), 1);
    const h = map.hook('go', 0xc010, 4, trap(log), { directions: IO_OUT });
    map.read(0xc010, 4);
    map.write(0xc010, 4, 9);
    expect(log).toEqual(['dev in 16/4', 'trap out +0/4=9']);
    expect([h.counter.exitsIn, h.counter.exitsOut, r.counter.accessesIn]).toEqual([0, 1, 1]);
  });
});
