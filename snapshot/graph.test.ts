/**
 * Saving an object graph and loading it into a freshly built one: values, identity,
 * views sharing a buffer, the rules, and the refusals (a SnapshotError naming the
 * path, never a silently different machine).
 */
import { saveGraph, loadGraph, GraphRules, SnapshotError, SavedGraph } from './graph';
import { Clock, Timer } from '../devices/clock';

const NO_RULES: GraphRules = { skipFields: new Set(), refFields: new Set(), keepClasses: new Set(), dataClasses: new Map(), afterLoad: new Map() };

/** Through JSON, as in a file. */
function roundTrip(g: SavedGraph): SavedGraph {
  return { objects: JSON.parse(JSON.stringify(g.objects)), buffers: g.buffers.map((b) => b.slice()) };
}

class Device {
  count = 0;
  regs = new Uint8Array(4);
  fifo: number[] = [];
  onIrq = (): void => { this.count += 1000; };
}

class Frame {
  constructor(readonly bytes: Uint8Array, readonly at: number) {}
}

class Machine {
  ram = new Uint8Array(8192);
  ram32 = new Int32Array(this.ram.buffer);
  devices = [new Device(), new Device()];
  current: Device | null = null;
  queue: Frame[] = [];
  flows = new Map<number, { packets: number }>();
  seen = new Set<string>();
  odd = { nan: NaN, inf: -Infinity, negZero: -0, none: undefined as number | undefined };
  config = { label: 'built' };
}

const RULES: GraphRules = { ...NO_RULES, refFields: new Set(['Machine.current']), dataClasses: new Map([['Frame', Frame]]), skipFields: new Set(['Machine.config']) };

describe('saveGraph and loadGraph', () => {
  test('values, shared buffers, references, maps and sets come back; functions stay the fresh build\'s', () => {
    const a = new Machine();
    a.ram[5] = 7;
    a.ram32[100] = -2;
    a.devices[1].count = 3;
    a.devices[1].regs[2] = 0xaa;
    a.devices[0].fifo.push(1, 2, 3);
    a.current = a.devices[1];
    a.queue.push(new Frame(a.ram.subarray(16, 32), 99));
    a.flows.set(9, { packets: 4 });
    a.seen.add('x');
    a.config.label = 'changed';
    const saved = roundTrip(saveGraph(a, RULES));
    a.ram[5] = 0; // the save was a copy

    const b = new Machine();
    loadGraph(b, saved, RULES);
    expect(b.ram[5]).toBe(7);
    expect(b.ram32[100]).toBe(-2);
    expect(b.ram32.buffer).toBe(b.ram.buffer); // one memory still
    expect(b.devices[1].count).toBe(3);
    expect(b.devices[1].regs[2]).toBe(0xaa);
    expect(b.devices[0].fifo).toEqual([1, 2, 3]);
    expect(b.current).toBe(b.devices[1]); // the fresh object at its own place, not a copy
    b.current!.onIrq(); // the fresh build's function, bound to the fresh object
    expect(b.devices[1].count).toBe(1003);
    expect(b.queue[0]).toBeInstanceOf(Frame);
    expect(b.queue[0].at).toBe(99);
    b.ram[20] = 0x55; // the frame's bytes are a view of the loaded RAM
    expect(b.queue[0].bytes[4]).toBe(0x55);
    expect(b.flows.get(9)).toEqual({ packets: 4 });
    expect([...b.seen]).toEqual(['x']);
    expect(Object.is(b.odd.negZero, -0)).toBe(true);
    expect(b.odd.nan).toBeNaN();
    expect(b.odd.inf).toBe(-Infinity);
    expect('none' in b.odd && b.odd.none === undefined).toBe(true);
    expect(b.config.label).toBe('built'); // skipped: configuration is the build's
  });

  test('an object with functions the fresh build does not have at that place is refused, by path', () => {
    const a = new Machine();
    a.devices.push(new Device());
    const saved = saveGraph(a, RULES);
    expect(() => loadGraph(new Machine(), saved, RULES)).toThrow(SnapshotError);
    expect(() => loadGraph(new Machine(), saved, RULES)).toThrow(/Machine\.devices\[2\].*functions \(onIrq\)/);
  });

  test('an object of a class not declared as data is refused where it would have to be made', () => {
    const a = new Machine();
    a.queue.push(new Frame(new Uint8Array(2), 1));
    const saved = saveGraph(a, { ...RULES, dataClasses: new Map() });
    expect(() => loadGraph(new Machine(), saved, { ...RULES, dataClasses: new Map() })).toThrow(/queue\[0\]: a Frame .*not a class made from data/);
  });

  test('a reference field whose object the machine holds nowhere else is refused at saving', () => {
    const a = new Machine();
    a.current = new Device();
    expect(() => saveGraph(a, RULES)).toThrow(/Machine\.current: refers to an object the machine holds nowhere else/);
  });

  test('a value that cannot be data is refused with its path', () => {
    const a = new Machine() as Machine & { big?: bigint };
    a.big = 1n;
    expect(() => saveGraph(a, RULES)).toThrow(/Machine\.big: a bigint cannot be saved/);
  });

  test('a hand-made graph that points outside itself is a SnapshotError, not a crash', () => {
    const saved = saveGraph(new Machine(), RULES);
    const bad = roundTrip(saved);
    (bad.objects[0] as { f: Record<string, unknown> }).f.current = { $r: 999999 };
    expect(() => loadGraph(new Machine(), bad, RULES)).toThrow(SnapshotError);
    const worse = roundTrip(saved);
    const view = worse.objects.find((o) => o.k === 'v')! as { l?: number };
    view.l = 1e9;
    expect(() => loadGraph(new Machine(), worse, RULES)).toThrow(/a view outside its buffer/);
  });
});

describe('the clock across a snapshot', () => {
  class Board {
    clock = new Clock(1000);
    fired: string[] = [];
    a: Timer;
    b: Timer;
    c: Timer;
    constructor() {
      this.a = this.clock.timer('a', () => this.fired.push('a'));
      this.b = this.clock.timer('b', () => this.fired.push('b'));
      this.c = this.clock.timer('c', () => this.fired.push('c'));
    }
  }
  const rules: GraphRules = { ...NO_RULES, skipFields: new Set(['Clock.heap', 'Clock.timers']), afterLoad: new Map([['Clock', (c: Clock) => c.requeue()]]) };

  test('armed timers fire at the same cycles in the same order, ties by arming order', () => {
    const x = new Board();
    x.c.arm(50);
    x.a.arm(30);
    x.b.arm(30); // armed after a: fires after a at the same cycle
    x.clock.advanceTo(10);
    const saved = roundTrip(saveGraph(x, rules));
    x.clock.advanceTo(100);

    const y = new Board();
    y.b.arm(5); // the fresh build's own arming is replaced by the snapshot's
    loadGraph(y, saved, rules);
    expect(y.clock.now).toBe(10);
    expect(y.clock.nextDue()).toBe(30);
    y.clock.advanceTo(100);
    expect(y.fired).toEqual(x.fired);
    expect(y.fired).toEqual(['a', 'b', 'c']);
  });
});

describe('a hand-made snapshot that passes its checksum', () => {
  test('a value of another type than the machine holds is refused, by path', () => {
    const saved = roundTrip(saveGraph(new Machine(), RULES));
    const dev = saved.objects.find((o) => o.k === 'o' && o.c === 'Device')! as { f: Record<string, unknown> };
    dev.f.count = 'many';
    expect(() => loadGraph(new Machine(), saved, RULES)).toThrow(/Machine\.devices\[0\]\.count: a string where the machine holds a number/);
    const again = roundTrip(saveGraph(new Machine(), RULES));
    const dev2 = again.objects.find((o) => o.k === 'o' && o.c === 'Device')! as { f: Record<string, unknown> };
    dev2.f.regs = 5;
    expect(() => loadGraph(new Machine(), again, RULES)).toThrow(/regs: not a Uint8Array/);
  });
});

describe('a snapshot from another version of the machine', () => {
  test('a class with other fields than the saved object is refused, naming them', () => {
    const saved = roundTrip(saveGraph(new Machine(), RULES));
    class Device { count = 0; regs = new Uint8Array(4); fifo: number[] = []; dmaMask = 0xffff; onIrq = (): void => {}; }
    const later = new Machine();
    later.devices = [new Device() as never, new Device() as never];
    expect(() => loadGraph(later, saved, RULES)).toThrow(/Machine\.devices\[0\]: a Device here has fields the snapshot lacks \(dmaMask\): it was saved by another version of vpio/);
  });
});
