/**
 * A timeline of a run in the Chrome trace-event format (JSON object form, "X" complete
 * events and "i" instants, microseconds), which Perfetto UI and chrome://tracing open:
 * on the bare machine one track for the CPU; under the hypervisor one per VM (the guest
 * running, its exits and the hypervisor's work for it) and one for the card's ownership
 * under vpio; and one for the wire's frames. It lives beside the clock because both the
 * machine and the hypervisor record into it.
 *
 * Recording is opt-in (`vpio run --timeline FILE`); when it is off nothing calls here.
 */
import * as fs from 'fs';

interface TraceEvent {
  name: string;
  ph: 'X' | 'i' | 'M';
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  s?: 't';
  cat?: string;
  args?: Record<string, unknown>;
}

/** Track ids: VM n is n + 1; the card and the wire come after. */
export const CARD_TRACK = 1000, WIRE_TRACK = 1001;

export class Timeline {
  private readonly events: TraceEvent[] = [];
  private readonly named = new Set<number>();
  /** Events kept at most (a long run's timeline is cut there, and says so). */
  readonly limit: number;
  dropped = 0;

  constructor(private readonly hz: number, limit = 2_000_000) {
    this.limit = limit;
  }

  private us(cycles: number): number {
    return (cycles * 1e6) / this.hz;
  }

  /** Names a track the first time it is used. */
  track(tid: number, name: string): void {
    if (this.named.has(tid)) return;
    this.named.add(tid);
    this.events.push({ name: 'thread_name', ph: 'M', pid: 1, tid, args: { name } });
    this.events.push({ name: 'thread_sort_index', ph: 'M', pid: 1, tid, args: { sort_index: tid } });
  }

  slice(tid: number, name: string, from: number, to: number, cat: string, args?: Record<string, unknown>): void {
    if (to <= from) return;
    if (this.events.length >= this.limit) { this.dropped++; return; }
    this.events.push({ name, cat, ph: 'X', ts: this.us(from), dur: this.us(to - from), pid: 1, tid, args });
  }

  instant(tid: number, name: string, at: number, cat: string, args?: Record<string, unknown>): void {
    if (this.events.length >= this.limit) { this.dropped++; return; }
    this.events.push({ name, cat, ph: 'i', s: 't', ts: this.us(at), pid: 1, tid, args });
  }

  /**
   * Writes the trace-event JSON to `file`, a few thousand events at a time (a long
   * run's whole document would not fit in one string). Errors are thrown.
   */
  write(file: string): void {
    const meta: TraceEvent = { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'vpio' } };
    const fd = fs.openSync(file, 'w');
    try {
      const put = (s: string) => {
        const b = Buffer.from(s);
        let off = 0;
        while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
      };
      put(`{"traceEvents":[${JSON.stringify(meta)}`);
      const events = this.events;
      for (let i = 0; i < events.length; i += 4096) {
        let part = '';
        for (const e of events.slice(i, i + 4096)) part += ',' + JSON.stringify(e);
        put(part);
      }
      put(`],"displayTimeUnit":"ns","otherData":${JSON.stringify({ clock: `${this.hz} Hz virtual`, dropped: this.dropped })}}`);
    } finally {
      fs.closeSync(fd);
    }
  }
}
