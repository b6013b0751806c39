/**
 * The machine's one clock: a cycle counter and an event queue keyed by cycle
 * (DESIGN.md section 3). Devices own Timers and arm them for a cycle; the machine
 * runs the CPU up to the next armed timer, then fires what is due. Nothing here
 * reads the host's clock: a run is a pure function of its inputs.
 *
 * Timers are allocated once by their device and re-armed, so scheduling allocates
 * nothing. Timers due at the same cycle fire in the order they were armed.
 */
export class Timer {
  /** The cycle this timer fires at; -1 when not armed. */
  at = -1;
  /** Arming order, the tie-break for timers due at the same cycle. */
  seq = 0;
  /** Position in the clock's heap, -1 when not queued. */
  index = -1;

  constructor(
    readonly clock: Clock,
    readonly name: string,
    readonly fire: (now: number) => void,
  ) {}

  /** Arms (or re-arms) the timer for absolute cycle `at` (at least the current cycle). */
  arm(at: number): void {
    this.clock.schedule(this, Math.max(at, this.clock.now));
  }

  /** Arms the timer `delay` cycles from now. */
  armIn(delay: number): void {
    this.arm(this.clock.now + Math.max(0, delay));
  }

  cancel(): void {
    this.clock.unschedule(this);
  }

  get armed(): boolean {
    return this.index >= 0;
  }
}

export class Clock {
  /** The current machine cycle. The machine keeps it equal to the running CPU's counter. */
  now = 0;
  private readonly heap: Timer[] = [];
  /** Every timer made here, in the order made: what `requeue` orders again. */
  private readonly timers: Timer[] = [];
  private nextSeq = 0;
  /**
   * Told whenever a timer is armed, with its cycle: the machine uses it to stop a CPU
   * run that would otherwise go past the new event.
   */
  onSchedule: (at: number) => void = () => {};

  constructor(readonly hz: number) {}

  timer(name: string, fire: (now: number) => void): Timer {
    const t = new Timer(this, name, fire);
    this.timers.push(t);
    return t;
  }

  /**
   * Builds the queue again from the timers' own `at` and `seq` (a machine snapshot
   * restores those, not the queue's order): the same timers fire in the same order.
   */
  requeue(): void {
    const heap = this.heap;
    heap.length = 0;
    for (const t of this.timers) {
      t.index = -1;
      if (t.at >= 0) heap.push(t);
    }
    heap.sort((a, b) => (this.less(a, b) ? -1 : this.less(b, a) ? 1 : 0));
    for (let i = 0; i < heap.length; i++) heap[i].index = i;
  }

  /** Cycles for `seconds` of virtual time, rounded down. */
  cyclesFor(seconds: number): number {
    return Math.floor(seconds * this.hz);
  }

  /** The cycle the earliest timer is due at, or Infinity. */
  nextDue(): number {
    return this.heap.length ? this.heap[0].at : Infinity;
  }

  /** Advances `now` to `to` and fires, in order, every timer due by then. */
  advanceTo(to: number): void {
    const heap = this.heap;
    while (heap.length && heap[0].at <= to) {
      const t = heap[0];
      this.removeAt(0);
      if (t.at > this.now) this.now = t.at;
      const at = t.at;
      t.at = -1;
      t.fire(at);
    }
    if (to > this.now) this.now = to;
  }

  schedule(t: Timer, at: number): void {
    if (t.index >= 0) this.removeAt(t.index);
    t.at = at;
    t.seq = this.nextSeq++;
    t.index = this.heap.length;
    this.heap.push(t);
    this.siftUp(t.index);
    this.onSchedule(at);
  }

  unschedule(t: Timer): void {
    if (t.index >= 0) this.removeAt(t.index);
    t.at = -1;
  }

  private less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const t = heap[i];
    const last = heap.pop()!;
    t.index = -1;
    if (i < heap.length) {
      heap[i] = last;
      last.index = i;
      this.siftDown(i);
      this.siftUp(last.index);
    }
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(heap[i], heap[p])) break;
      this.swap(i, p);
      i = p;
    }
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && this.less(heap[l], heap[m])) m = l;
      if (r < heap.length && this.less(heap[r], heap[m])) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const heap = this.heap;
    const t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
    heap[a].index = a;
    heap[b].index = b;
  }
}
