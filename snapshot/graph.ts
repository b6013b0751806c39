/**
 * A machine's state as data, and back again (docs/DEBUGGING.md, "Snapshots").
 *
 * The state of a machine here is the data its objects hold: the CPU's registers, RAM,
 * each device's registers, FIFOs and armed timers, the wire's queues, the hypervisor's
 * VMs and the VPIO monitor's models. Its wiring is functions: the handlers, callbacks and
 * timers' actions that building the machine made. So a snapshot saves the data and never
 * a function, and loading one needs a machine built from the same options first: the
 * loader walks the saved graph and the fresh one side by side, writes the saved values
 * into the fresh objects, and makes again what the fresh build does not have at that
 * place (a queued frame, a FIFO's entries, a model's context), as long as it holds no
 * functions.
 *
 * Objects are saved once and referred to by number afterwards, so an object reached
 * from two places is one object again after loading (a CPU's RAM, the VM the scheduler
 * runs, the guest that owns the card). A view into a buffer is saved as (buffer,
 * offset, length) with the buffer saved once: RAM and the views of it in the CPU and the
 * cards stay one memory. Numbers keep NaN, the infinities and -0.
 *
 * Nothing here knows a device: `GraphRules` say which fields are configuration or
 * outputs (skipped: the fresh build's stand) and what to do once loaded (the clock
 * orders its queue again). A field the rules do not cover that cannot be saved (a
 * bigint, a promise) or loaded (an object with functions the fresh build does not have
 * there) is a SnapshotError naming its path, never a silently different machine.
 */

export class SnapshotError extends Error {}

export interface GraphRules {
  /** Fields neither saved nor loaded, as "Class.field" or "*.field": configuration, outputs, caches. */
  readonly skipFields: ReadonlySet<string>;
  /**
   * Fields that only point at an object held elsewhere (the VM running now, the guest
   * owning the card), as "Class.field" or "*.field": never the place an object is
   * saved at, so that it loads into the fresh machine's object at its own place.
   */
  readonly refFields: ReadonlySet<string>;
  /** Classes never saved: wherever one is, the fresh build's object stays. */
  readonly keepClasses: ReadonlySet<string>;
  /**
   * Classes besides plain objects that may be made from data where the fresh machine
   * has none (a frame queued, a card's saved context), by name: their objects hold no
   * wiring, so an object made from the class's prototype and given the saved fields is one.
   */
  readonly dataClasses: ReadonlyMap<string, abstract new (...args: never[]) => unknown>;
  /** Run, after everything is loaded, on each loaded object of the class named. */
  readonly afterLoad: ReadonlyMap<string, (o: any) => void>;
}

/** A saved field or element: a primitive, or a reference to an object by number. */
export type Val = number | string | boolean | null | { $n: string } | { $u: 1 } | { $r: number };

/**
 * A saved object. `p` and `at` say where it was first reached, breadth first from the
 * root (its parent's number, and the field, index or key): the place the fresh machine
 * holds its counterpart. Breadth first, the place an object is first reached is its
 * shortest path from the root, which is the field its owner made it in.
 */
export type SavedObject = { p: number; at: Val } & (
  | { k: 'o'; c: string; f: Record<string, Val>; fn?: string[] }
  | { k: 'a'; e: Val[] }
  | { k: 'm'; e: [Val, Val][] }
  | { k: 's'; e: Val[] }
  /** A view: of buffer `b` at `o` (`l` elements), or of its own bytes `s`. */
  | { k: 'v'; c: string; b?: number; o?: number; l?: number; s?: number }
  /** An object of a kept class: the fresh one stays. */
  | { k: 'k'; c: string });

export interface SavedGraph {
  objects: SavedObject[];
  /** Buffers by number: the bytes of each, at the time of saving. */
  buffers: Uint8Array[];
}

const VIEW_CTORS: Record<string, new (b: ArrayBuffer, o: number, l: number) => ArrayBufferView> = {
  Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Int16Array, Uint32Array, Int32Array,
  Float32Array, Float64Array, DataView: DataView as never,
};

/** An object's class name, as written in the source (a bundler may prefix `_` to keep a name apart). */
function className(o: object): string {
  const c = (o as { constructor?: { name?: string } }).constructor;
  return (c?.name || 'Object').replace(/^_+/, '');
}

function ruled(set: ReadonlySet<string>, cls: string, field: string): boolean {
  return set.has(`*.${field}`) || set.has(`${cls}.${field}`);
}

function viewLength(v: ArrayBufferView): number {
  return v instanceof DataView ? v.byteLength : (v as unknown as { length: number }).length;
}

/** A Node Buffer carved from Node's shared pool: saved as its own bytes, never as the pool. */
function pooled(v: ArrayBufferView): boolean {
  return Buffer.isBuffer(v) && v.byteLength !== v.buffer.byteLength && v.buffer.byteLength <= Buffer.poolSize;
}

function fail(message: string): never {
  throw new SnapshotError(message);
}

/**
 * Saves the graph from `root`. Buffers are copied, so the machine may run on; with
 * `copy` false they are the machine's own (for a caller that copies what it keeps at once).
 */
export function saveGraph(root: object, rules: GraphRules, copy = true): SavedGraph {
  const ids = new Map<object, number>();
  const order: object[] = [];
  const paths: string[] = [];
  const objects: SavedObject[] = [];
  const bufferIds = new Map<ArrayBufferLike, number>();
  const buffers: Uint8Array[] = [];
  // References through refFields, filled in once every object has its number.
  const later: { holder: Record<string, Val>; key: string; target: object; path: string }[] = [];

  const reach = (o: object, parent: number, at: Val, path: string): number => {
    let id = ids.get(o);
    if (id === undefined) {
      id = order.length;
      ids.set(o, id);
      order.push(o);
      paths.push(path);
      objects.push({ p: parent, at } as SavedObject);
    }
    return id;
  };

  const value = (v: unknown, parent: number, at: Val, path: string): Val => {
    switch (typeof v) {
      case 'number': return Number.isFinite(v) && !Object.is(v, -0) ? v : { $n: Object.is(v, -0) ? '-0' : String(v) };
      case 'string': case 'boolean': return v;
      case 'undefined': return { $u: 1 };
      case 'object': return v === null ? null : { $r: reach(v, parent, at, path) };
      default: return fail(`${path}: a ${typeof v} cannot be saved`);
    }
  };

  const buffer = (b: ArrayBufferLike): number => {
    let id = bufferIds.get(b);
    if (id === undefined) {
      id = buffers.length;
      bufferIds.set(b, id);
      buffers.push(copy ? new Uint8Array(b.slice(0)) : new Uint8Array(b));
    }
    return id;
  };

  reach(root, -1, null, className(root));
  for (let id = 0; id < order.length; id++) {
    const v = order[id], path = paths[id];
    const slot = objects[id] as SavedObject & Record<string, unknown>;
    if (ArrayBuffer.isView(v)) {
      const ctor = Buffer.isBuffer(v) ? 'Buffer' : className(v);
      if (!(ctor in VIEW_CTORS) && ctor !== 'Buffer') fail(`${path}: a ${ctor} cannot be saved`);
      slot.k = 'v';
      if (pooled(v)) {
        slot.c = ctor;
        slot.s = buffers.length;
        buffers.push(new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)));
      } else {
        slot.c = ctor === 'Buffer' ? 'Uint8Array' : ctor;
        slot.b = buffer(v.buffer);
        slot.o = v.byteOffset;
        slot.l = viewLength(v);
      }
    } else if (Array.isArray(v)) {
      slot.k = 'a';
      slot.e = v.map((x, i) => typeof x === 'function' ? fail(`${path}[${i}]: a function in an array cannot be saved`) : value(x, id, i, `${path}[${i}]`));
    } else if (v instanceof Map) {
      slot.k = 'm';
      slot.e = [...v].map(([key, x]) => {
        if (typeof key === 'object' && key !== null) fail(`${path}: a Map keyed by objects cannot be saved`);
        const k = value(key, id, null, path);
        return [k, value(x, id, k, `${path}{${String(key)}}`)];
      });
    } else if (v instanceof Set) {
      slot.k = 's';
      slot.e = [...v].map((x) => value(x, id, null, `${path}{}`));
    } else {
      const cls = className(v);
      if (v instanceof ArrayBuffer || v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet) fail(`${path}: a ${cls} cannot be saved`);
      slot.c = cls;
      if (rules.keepClasses.has(cls)) { slot.k = 'k'; continue; }
      slot.k = 'o';
      const f: Record<string, Val> = {};
      const fn: string[] = [];
      for (const k of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[k];
        if (typeof x === 'function') { fn.push(k); continue; }
        if (ruled(rules.skipFields, cls, k)) continue;
        if (typeof x === 'object' && x !== null && ruled(rules.refFields, cls, k)) {
          later.push({ holder: f, key: k, target: x, path: `${path}.${k}` });
          continue;
        }
        f[k] = value(x, id, k, `${path}.${k}`);
      }
      slot.f = f;
      if (fn.length) slot.fn = fn;
    }
  }
  for (const { holder, key, target, path } of later) {
    const id = ids.get(target);
    if (id === undefined) fail(`${path}: refers to an object the machine holds nowhere else`);
    holder[key] = { $r: id };
  }
  return { objects, buffers };
}

/**
 * Loads `saved` into `root`, a machine built from the same options as the one saved
 * and not yet run. Throws SnapshotError where the two do not fit together; the machine
 * is then half loaded and must be dropped.
 */
export function loadGraph(root: object, saved: SavedGraph, rules: GraphRules): void {
  const { objects } = saved;
  if (objects.length === 0) fail('the snapshot holds no machine');
  const targets: unknown[] = new Array(objects.length);
  const claimed = new Set<object>();
  const buffers: (ArrayBufferLike | null)[] = saved.buffers.map(() => null);
  const claimedBuffers = new Set<ArrayBufferLike>();
  const pathOf = (id: number): string => {
    const parts: string[] = [];
    for (let i = id; i > 0; i = objects[i].p) {
      const at = objects[i].at;
      parts.push(typeof at === 'number' ? `[${at}]` : typeof at === 'string' ? `.${at}` : '{}');
    }
    return className(root) + parts.reverse().join('');
  };
  const decode = (v: Val, id: number): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if ('$n' in v) return v.$n === '-0' ? -0 : Number(v.$n);
    if ('$u' in v) return undefined;
    const t = targets[v.$r];
    if (t === undefined || v.$r >= objects.length) fail(`${pathOf(id)}: refers to object ${v.$r}, which the snapshot does not hold`);
    return t;
  };

  // First every object its place: the fresh machine's object there, or one made anew.
  for (let id = 0; id < objects.length; id++) {
    const n = objects[id];
    let fresh: unknown = root;
    if (id > 0) {
      const parentNode = objects[n.p], parent = targets[n.p] as Record<string, unknown>;
      if (parentNode === undefined || n.p >= id) fail(`object ${id}: a parent that is not before it`);
      const at = decode(n.at, id) as string | number;
      fresh = parentNode.k === 'o' || parentNode.k === 'a' ? parent[at]
        : parentNode.k === 'm' ? (parent as unknown as Map<unknown, unknown>).get(at) : undefined;
    }
    const usable = typeof fresh === 'object' && fresh !== null && !claimed.has(fresh) ? fresh : null;
    let t: object;
    switch (n.k) {
      case 'k':
        if (!usable || className(usable) !== n.c) fail(`${pathOf(id)}: the fresh machine has no ${n.c} here to keep`);
        t = usable;
        break;
      case 'a': t = Array.isArray(usable) ? usable : []; break;
      case 'm': t = usable instanceof Map ? usable : new Map(); break;
      case 's': t = usable instanceof Set ? usable : new Set(); break;
      case 'v': {
        const ctor = VIEW_CTORS[n.c] ?? (n.c === 'Buffer' ? Uint8Array : undefined);
        if (!ctor) fail(`${pathOf(id)}: unknown view type ${n.c}`);
        const bytes = saved.buffers[n.s ?? n.b ?? -1];
        if (!bytes) fail(`${pathOf(id)}: a view of a buffer the snapshot does not hold`);
        const view = usable && ArrayBuffer.isView(usable) ? usable : null;
        if (n.s !== undefined) {
          if (view && view.byteLength === bytes.length && (className(view) === n.c || Buffer.isBuffer(view))) {
            new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(bytes);
            t = view;
          } else {
            t = n.c === 'Buffer' ? Buffer.from(bytes) : new ctor(bytes.slice().buffer, 0, bytes.length / (((ctor as unknown) as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1));
          }
          break;
        }
        let b = buffers[n.b!];
        if (!b) {
          b = view && view.buffer.byteLength === bytes.length && !claimedBuffers.has(view.buffer) && !pooled(view) ? view.buffer : new ArrayBuffer(bytes.length);
          new Uint8Array(b).set(bytes);
          claimedBuffers.add(b);
          buffers[n.b!] = b;
        }
        const o = n.o!, l = n.l!;
        t = view && view.buffer === b && view.byteOffset === o && viewLength(view) === l && (className(view) === n.c || (Buffer.isBuffer(view) && n.c === 'Uint8Array'))
          ? view
          : (() => { try { return new ctor(b as ArrayBuffer, o, l); } catch { return fail(`${pathOf(id)}: a view outside its buffer`); } })();
        break;
      }
      case 'o': {
        if (usable && !Array.isArray(usable) && !ArrayBuffer.isView(usable) && className(usable) === n.c) {
          t = usable;
          // A class's fields are its code's: other fields than the saved object's mean
          // another version of the machine, whatever the file's format version says.
          if (n.c !== 'Object') {
            // (Data fields only: functions are wiring, which the run may add later.)
            const have = Object.keys(t).filter((k) => !ruled(rules.skipFields, n.c, k) && typeof (t as Record<string, unknown>)[k] !== 'function');
            const saved = Object.keys(n.f);
            const missing = have.filter((k) => !saved.includes(k)), extra = saved.filter((k) => !have.includes(k));
            if (missing.length || extra.length) {
              fail(`${pathOf(id)}: a ${n.c} here has ${missing.length ? `fields the snapshot lacks (${missing.join(', ')})` : ''}${missing.length && extra.length ? ' and ' : ''}${extra.length ? `lacks fields the snapshot has (${extra.join(', ')})` : ''}: it was saved by another version of vpio`);
            }
          }
        }
        else if (n.fn) fail(`${pathOf(id)}: a ${n.c} with functions (${n.fn.join(', ')}) that the fresh machine does not have here; it cannot be made from data`);
        else if (n.c === 'Object') t = {};
        else if (rules.dataClasses.has(n.c)) t = Object.create(rules.dataClasses.get(n.c)!.prototype as object) as object;
        else fail(`${pathOf(id)}: a ${n.c} that the fresh machine does not have here, and not a class made from data`);
        break;
      }
      default: fail(`object ${id}: an unknown kind`);
    }
    claimed.add(t);
    targets[id] = t;
  }

  // Then their contents.
  for (let id = 0; id < objects.length; id++) {
    const n = objects[id];
    const t = targets[id];
    switch (n.k) {
      case 'o': {
        const o = t as Record<string, unknown>;
        for (const k of Object.keys(n.f)) {
          const v = decode(n.f[k], id);
          const cur = o[k];
          // A hand-made file may say anything: a value of another type than the machine
          // holds there is refused, so a loaded machine has the types its code expects.
          if (v !== null && v !== undefined && cur !== null && cur !== undefined) {
            const want = typeof cur, got = typeof v;
            if ((want === 'number' || want === 'string' || want === 'boolean') && got !== want) fail(`${pathOf(id)}.${k}: a ${got} where the machine holds a ${want}`);
            if (ArrayBuffer.isView(cur) && !(ArrayBuffer.isView(v) && (className(v) === className(cur) || (Buffer.isBuffer(cur) && className(v) === 'Uint8Array')))) {
              fail(`${pathOf(id)}.${k}: not a ${className(cur)}, which the machine holds there`);
            }
            if (want === 'object' && got !== 'object') fail(`${pathOf(id)}.${k}: a ${got} where the machine holds an object`);
          }
          if (!Object.is(cur, v)) o[k] = v;
        }
        break;
      }
      case 'a': {
        const a = t as unknown[];
        a.length = n.e.length;
        for (let i = 0; i < n.e.length; i++) a[i] = decode(n.e[i], id);
        break;
      }
      case 'm': {
        const m = t as Map<unknown, unknown>;
        m.clear();
        for (const [k, v] of n.e) m.set(decode(k, id), decode(v, id));
        break;
      }
      case 's': {
        const s = t as Set<unknown>;
        s.clear();
        for (const v of n.e) s.add(decode(v, id));
        break;
      }
    }
  }
  for (let id = 0; id < objects.length; id++) {
    const n = objects[id];
    if (n.k === 'o') rules.afterLoad.get(n.c)?.(targets[id]);
  }
}
