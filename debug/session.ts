/**
 * A gdb session with a running machine, in the thread that runs it (cli/vpio.ts's
 * worker). The socket lives in the main thread (debug/server.ts), which passes the
 * debugger's bytes here through shared memory (the Channel) and sends what this side
 * posts back. So the run loop stays synchronous: while the machine is stopped, this
 * thread waits on the channel (Atomics.wait); while it runs, it looks at the channel
 * between chunks of at most CHUNK cycles, which changes nothing the guest sees (the
 * machine's run stops at a cycle and goes on from it).
 *
 * Stops: before an instruction at a breakpoint (not the first one run after a resume,
 * which is where the debugger stood), after one step, after an instruction that changed
 * a watched location's bytes, at Ctrl-C, and when gdb connects (as QEMU stops the VM).
 * While breakpoints or watchpoints are set or a step is asked for, the CPU runs under a
 * tracer hook (interpreted, one check an instruction); otherwise at full speed.
 */
import type { Cpu } from '../cpu/cpu';
import { CS } from '../cpu/registers';
import { frame, PacketReader, type Incoming } from './rsp';
import { GdbStub, WatchKind, type Watchpoint } from './stub';
import type { CpuTarget } from './cpu-target';

/** The channel's layout: Int32 control words, then the ring of bytes from the debugger. */
export const CTL_WRITTEN = 0;
export const CTL_GENERATION = 1;
export const CTL_CONNECTED = 2;
export const CTL_ATTENTION = 3;
export const CTL_READ = 4;
const CTL_WORDS = 8;
export const RING_BYTES = 1 << 16;

/** Shared memory for a channel from debug/server.ts to a DebugSession. */
export function newChannelBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(CTL_WORDS * 4 + RING_BYTES);
}

/** The most cycles the machine runs between two looks at the channel (1 ms of virtual time). */
export const CHUNK = 2_000_000;

/** Instructions a replay runs one by one at its end (see replay). */
const FAST_MARGIN = 4096;

/**
 * Going backwards replays from the latest checkpoint before the goal (a machine
 * snapshot the session took while the run went forwards), not from the start. The
 * first is taken at this cycle (25 ms of virtual time) and then every interval; past
 * MAX_CHECKPOINTS or MAX_CHECKPOINT_BYTES, every other one is dropped and the interval
 * doubles, so memory stays bounded while a replay stays a bounded share of the run
 * (docs/DEBUGGING.md gives the costs).
 */
export const CHECKPOINT_EVERY = 50_000_000;
export const MAX_CHECKPOINTS = 64;
export const MAX_CHECKPOINT_BYTES = 512 << 20;

/** A machine's saved state, as its owner keeps it (snapshot/memory.ts): the session only counts its size. */
export interface SavedState {
  readonly size: number;
}

/** A snapshot taken on the way: the machine's cycle, each thread's instruction count, its state. */
interface Checkpoint {
  cycles: number;
  positions: number[];
  state: SavedState;
}

/** How a machine's run() ended, as far as the session cares: `limit`, `paused`, or an end (an `exit` with its status). */
export interface RunEnd { kind: string }

export interface DebuggedMachine<R extends RunEnd = RunEnd> {
  run(maxCycles: number): R;
  pause(): void;
  readonly cycles: number;
  /** A thread each: the bare machine's CPU, or each VM's. */
  readonly cpus: readonly Cpu[];
  /** A snapshot of the machine as it is (snapshot/); what `rebuild` takes to start from it. */
  save?(): SavedState;
}

type StopWhy = { signal: number; text: string; thread?: number };

/** The stop text for a data access that touches a read or access watchpoint of `watches`, or null. */
function accessHit(watches: readonly Watchpoint[], lin: number, size: number, write: boolean): string | null {
  for (const w of watches) {
    if (write && w.kind === WatchKind.Read) continue;
    if (((lin - w.addr) >>> 0) < w.length || ((w.addr - lin) >>> 0) < size) {
      return `${w.kind === WatchKind.Read ? 'rwatch' : 'awatch'}:${w.addr.toString(16)};`;
    }
  }
  return null;
}

/** A CPU without the session's hooks. */
function unhook(cpu: Cpu): void {
  cpu.tracer = null;
  if (cpu.memWatch !== null) cpu.setMemWatch(null);
}

export class DebugSession {
  private readonly ctl: Int32Array;
  private readonly ring: Uint8Array;
  private readonly reader = new PacketReader();
  private readonly stub: GdbStub;
  private generation = 0;
  private lastReply = '';
  private stepping = false;
  /** The thread a step runs, and the instructions it has run since the resume. */
  private stepThread = 1;
  private stepRan = 0;
  /** Per thread: 1 until it has run an instruction since the resume (the one it stood at, where a breakpoint does not stop it). */
  private fresh = new Uint8Array(0);
  private pending: StopWhy | null = null;
  /** Packets that came after a resume, for the next stop. */
  private queue: Incoming[] = [];
  /** The watched bytes as last seen, per watchpoint. */
  private watched: { addr: number; length: number; bytes: Uint8Array }[] = [];
  /** Set when the debugger killed the run. */
  killed = false;

  /** The machine being debugged: a replay replaces it. */
  private machine: DebuggedMachine<RunEnd> | null = null;
  /** The furthest cycle the run has reached: output up to it has been seen once (see muted). */
  private highWater = 0;
  /** Replays so far, and the instructions they ran (monitor info). */
  replays = 0;
  replayed = 0;
  private checkpoints: Checkpoint[] = [];
  /** The cycle the last replay started from: a checkpoint's, or 0 (the start). */
  lastReplayFrom = 0;
  private checkpointEvery = CHECKPOINT_EVERY;
  /** Bytes the checkpoints hold now. */
  get checkpointBytes(): number {
    return this.checkpoints.reduce((n, c) => n + c.state.size, 0);
  }

  /** For `monitor info`: the replays so far, the checkpoints, where the last replay started. */
  summary(): string {
    return `${this.replays} replays (${this.replayed} instructions), ${this.checkpoints.length} checkpoints (${this.checkpointBytes} bytes), the last replay from cycle ${this.lastReplayFrom}`;
  }

  /**
   * `rebuild`, where given, builds the machine again as the run started it (the same
   * images and options, so the same run): the session then offers reverse execution.
   */
  constructor(buffer: SharedArrayBuffer, private readonly send: (text: string) => void,
    private readonly target: CpuTarget, private readonly waitForDebugger: boolean,
    private readonly rebuild: ((from: SavedState | null) => DebuggedMachine<RunEnd>) | null = null,
    save: ((file: string) => string) | null = null) {
    this.ctl = new Int32Array(buffer, 0, CTL_WORDS);
    this.ring = new Uint8Array(buffer, CTL_WORDS * 4, RING_BYTES);
    this.stub = new GdbStub(target);
    this.stub.reverse = rebuild !== null;
    this.stub.save = save;
  }

  /**
   * Whether what the guest sends out at `cycle` was sent already, before a replay went
   * back: the console mutes it, so a run that goes backwards and forwards prints each
   * byte once.
   */
  muted(cycle: number): boolean {
    return cycle <= this.highWater && this.replays > 0;
  }

  /**
   * Runs the machine to `maxCycles` or its end, stopping for the debugger as it asks.
   * Returns how the run ended (`killed` set when the debugger ended it).
   */
  run<R extends RunEnd>(first: DebuggedMachine<R>, maxCycles: number): R {
    this.machine = first;
    this.fresh = new Uint8Array(first.cpus.length);
    let stopped = this.waitForDebugger;
    if (stopped) this.stub.stopReply(5, 1, '');
    for (;;) {
      const machine = this.machine! as DebuggedMachine<R>;
      if (stopped) {
        this.highWater = Math.max(this.highWater, machine.cycles);
        if (!this.serve()) return { kind: 'limit' } as R;
        stopped = false;
        if (this.machine !== machine) continue; // went backwards: stopped again, on the replayed machine
      }
      // A Ctrl-C that came with the resume stops the machine before it runs on.
      let r = { kind: 'paused' } as R;
      if (this.pending === null) {
        this.arm(machine);
        r = machine.run(Math.min(maxCycles, machine.cycles + CHUNK));
        this.disarm();
      }
      if (r.kind === 'paused' || (r.kind === 'limit' && this.pending === null && this.attention())) {
        const why = this.pending ?? { signal: 2, text: '' };
        this.pending = null;
        if (this.connected()) {
          this.reply(this.stub.stopReply(why.signal, why.thread ?? this.stub.current(), why.text));
          stopped = true;
        }
        continue;
      }
      if (r.kind === 'limit' && machine.cycles < maxCycles) {
        this.checkpoint(machine);
        continue;
      }
      if (this.connected()) {
        const status = r.kind === 'exit' ? (r as unknown as { status: number }).status : 0;
        this.reply(r.kind === 'limit' ? 'X05' : `W${(status & 0xff).toString(16).padStart(2, '0')}`);
      }
      return r;
    }
  }

  /**
   * While stopped: answers packets until the debugger resumes (true) or kills the run
   * (false). A debugger that disconnects (or detaches) leaves the machine running on
   * without breakpoints; with --gdb-wait and no debugger yet, this waits for one.
   */
  private serve(): boolean {
    for (;;) {
      const events = this.queue.length ? this.queue.splice(0) : this.take();
      while (events.length) {
        const e = events.shift()!;
        if (e.kind === 'nak') { if (this.lastReply) this.send(frame(this.lastReply)); continue; }
        if (e.kind === 'corrupt') { this.send('-'); continue; }
        if (e.kind !== 'packet') continue; // an ack, or Ctrl-C while already stopped
        if (!this.stub.noAck) this.send('+');
        const a = this.stub.handle(e.data);
        if (a.kind === 'reply') { this.reply(a.text); continue; }
        if (a.kind === 'detach') { this.reply(a.text); this.forget(); return true; }
        if (a.kind === 'kill') { this.killed = true; return false; }
        if (a.kind === 'reverse') { this.reply(this.goBack(a.step)); continue; }
        // Resume. What came after it waits for the next stop; a Ctrl-C among it stops
        // the machine again at once (gdb sends one when its user presses Ctrl-C).
        this.stepping = a.step;
        this.stepThread = a.thread;
        this.stepRan = 0;
        this.fresh.fill(1);
        if (events.some((x) => x.kind === 'interrupt')) this.pending = { signal: 2, text: '' };
        this.queue = events.filter((x) => x.kind === 'packet' || x.kind === 'corrupt');
        return true;
      }
      if (!this.connected() && this.generation !== 0) { this.forget(); return true; }
      // Until the server writes bytes or a connection comes or goes (it notifies either way).
      const written = Atomics.load(this.ctl, CTL_WRITTEN);
      if (written === Atomics.load(this.ctl, CTL_READ) && Atomics.load(this.ctl, CTL_GENERATION) === this.generation) {
        Atomics.wait(this.ctl, CTL_WRITTEN, written, 200);
      }
    }
  }

  /** The bytes waiting in the channel, as protocol events; notes a new connection. */
  private take(): Incoming[] {
    const gen = Atomics.load(this.ctl, CTL_GENERATION);
    if (gen !== this.generation) {
      this.generation = gen;
      if (this.connected()) { this.stub.noAck = false; this.stub.breakpoints.clear(); this.stub.watchpoints.length = 0; }
    }
    // Attention is cleared before the bytes are read: the server sets it after it has
    // written them, so a Ctrl-C that comes meanwhile is seen next time.
    Atomics.store(this.ctl, CTL_ATTENTION, 0);
    const written = Atomics.load(this.ctl, CTL_WRITTEN);
    let read = Atomics.load(this.ctl, CTL_READ);
    const bytes: number[] = [];
    while (read !== written) {
      bytes.push(this.ring[read % RING_BYTES]);
      read = (read + 1) | 0;
      if (read < 0) read = 0;
    }
    Atomics.store(this.ctl, CTL_READ, read);
    const out: Incoming[] = [];
    if (bytes.length) this.reader.feed(Uint8Array.from(bytes), out);
    return out;
  }

  /** Whether the debugger wants the machine stopped: Ctrl-C, or it has just connected. */
  private attention(): boolean {
    if (Atomics.load(this.ctl, CTL_ATTENTION) === 0) return false;
    const gen = Atomics.load(this.ctl, CTL_GENERATION);
    const fresh = gen !== this.generation && this.connected();
    const events = this.take();
    if (fresh) this.pending = { signal: 5, text: '' };
    else if (events.some((e) => e.kind === 'interrupt')) this.pending = { signal: 2, text: '' };
    return this.pending !== null;
  }

  private connected(): boolean {
    return Atomics.load(this.ctl, CTL_CONNECTED) === 1;
  }

  private reply(text: string): void {
    this.lastReply = text;
    this.send(frame(text));
  }

  /** A debugger gone: its breakpoints and watchpoints go with it. */
  private forget(): void {
    this.stub.breakpoints.clear();
    this.stub.watchpoints.length = 0;
    this.stepping = false;
  }

  /** The tracer hooks on the CPUs when something must be checked at each instruction. */
  private arm(machine: DebuggedMachine): void {
    const stub = this.stub;
    if (!this.stepping && stub.breakpoints.size === 0 && stub.watchpoints.length === 0) return;
    machine.cpus.forEach((cpu, i) => {
      const thread = i + 1;
      // Each VM has its own address space: a watchpoint watches its address in each.
      const watched = this.writeWatches(thread);
      // Read and access watchpoints: the CPU tells of each data access (Cpu.memWatch);
      // the first that overlaps one stops the machine after its instruction.
      const accessed = stub.watchpoints.filter((w) => w.kind !== WatchKind.Write);
      let hit: string | null = null;
      if (accessed.length) cpu.setMemWatch((lin, size, write) => { hit ??= accessHit(accessed, lin, size, write); });
      cpu.tracer = {
        before: (c: Cpu): boolean => {
          hit = null;
          if (this.stepping && thread === this.stepThread && this.stepRan > 0) {
            this.pending = { signal: 5, text: '', thread };
            this.stepping = false;
            machine.pause();
            return true;
          }
          if (this.fresh[i] === 0 && stub.breakpoints.has((c.segBase[CS] + c.eip) >>> 0)) {
            this.pending = { signal: 5, text: 'swbreak:;', thread };
            machine.pause();
            return true;
          }
          this.fresh[i] = 0;
          return false;
        },
        after: (): void => {
          if (thread === this.stepThread) this.stepRan++;
          if (hit !== null) {
            this.pending = { signal: 5, text: hit, thread };
            hit = null;
            machine.pause();
            return;
          }
          for (const w of watched) {
            const now = this.target.readMemory(thread, w.addr, w.length);
            if (now.length === w.bytes.length && now.every((b, k) => b === w.bytes[k])) continue;
            w.bytes = now;
            this.pending = { signal: 5, text: `watch:${w.addr.toString(16)};`, thread };
            machine.pause();
            return;
          }
        },
      };
    });
  }

  private disarm(): void {
    for (const cpu of this.machine!.cpus) unhook(cpu);
  }

  /** Thread `thread`'s write watchpoints, each with the bytes it holds now. */
  private writeWatches(thread: number): { addr: number; length: number; bytes: Uint8Array }[] {
    return this.stub.watchpoints.filter((w) => w.kind === WatchKind.Write)
      .map((w) => ({ addr: w.addr, length: w.length, bytes: this.target.readMemory(thread, w.addr, w.length) }));
  }

  /**
   * While going forwards, between chunks: a checkpoint when the run has passed the
   * next one's cycle (never while replaying, never after the debugger wrote to the machine).
   */
  private checkpoint(machine: DebuggedMachine): void {
    if (this.rebuild === null || !machine.save || this.target.written) return;
    const last = this.checkpoints[this.checkpoints.length - 1];
    if (machine.cycles < (last ? last.cycles : 0) + this.checkpointEvery) return;
    this.checkpoints.push({ cycles: machine.cycles, positions: machine.cpus.map((c) => c.instructions), state: machine.save() });
    if (this.checkpoints.length > MAX_CHECKPOINTS || this.checkpointBytes > MAX_CHECKPOINT_BYTES) {
      this.checkpoints = this.checkpoints.filter((_, i) => i % 2 === 1);
      this.checkpointEvery *= 2;
    }
  }

  /** The latest checkpoint at or before thread `thread`'s instruction `pos` (-1: the start). */
  private checkpointBefore(thread: number, pos: number): number {
    for (let i = this.checkpoints.length - 1; i >= 0; i--) if (this.checkpoints[i].positions[thread - 1] <= pos) return i;
    return -1;
  }

  /**
   * Reverse execution by replay: the run is deterministic, so the machine as it was
   * before instruction k is the machine restored from the latest checkpoint before k
   * (or built again) and run to k. `bs` goes to the instruction before this one; `bc`
   * replays the stretch from the latest checkpoint to here noting each breakpoint
   * reached and each write to a watched location (before the instruction that wrote
   * it, so its old value shows), then the stretch before it and so on, and replays to
   * the last one found, or to the start (`replaylog:begin`). A debugger that changed
   * registers or memory has made a run no replay gives: then it is refused (E02).
   */
  private goBack(step: boolean): string {
    if (this.rebuild === null) return 'E01';
    if (this.target.written) return 'E02';
    // Positions are a thread's instruction count: the current thread's for a step.
    const thread = this.stub.current();
    const here = this.machine!.cpus[thread - 1].instructions;
    if (here === 0) return this.stub.stopReply(5, thread, 'replaylog:begin;');
    let goal = { thread, pos: here - 1 }, why = '';
    if (!step) {
      let last: { thread: number; pos: number } | null = null, lastWhy = '';
      // Stretch by stretch backwards: [checkpoint i, end), end moving to checkpoint i.
      let end = here;
      for (let i = this.checkpointBefore(thread, here - 1); last === null && i >= -1; i--) {
        this.replay(thread, end, (t, pos, text) => { last = { thread: t, pos }; lastWhy = text; }, i);
        if (i >= 0) end = this.checkpoints[i].positions[thread - 1];
      }
      if (last === null) {
        // Nothing on the way: back to the very start, before any thread's first instruction.
        this.replay(1, 0, null, -1);
        return this.stub.stopReply(5, 1, 'replaylog:begin;');
      }
      goal = last;
      why = lastWhy;
    }
    this.replay(goal.thread, goal.pos, null);
    return this.stub.stopReply(5, goal.thread, why);
  }

  /**
   * Builds the machine again, from checkpoint `from` (-1: the start; by default the
   * latest before the goal), and runs it until thread `thread` is just before its
   * instruction `goal`, telling `seen` of the stops any thread passes on the way.
   */
  private replay(thread: number, goal: number, seen: ((thread: number, pos: number, why: string) => void) | null,
    from = this.checkpointBefore(thread, goal)): void {
    const m = this.rebuild!(from >= 0 ? this.checkpoints[from].state : null);
    this.lastReplayFrom = from >= 0 ? this.checkpoints[from].cycles : 0;
    const cpu = m.cpus[thread - 1];
    this.machine = m;
    this.replays++;
    const stub = this.stub, target = this.target;
    // Without breakpoints or watchpoints to note, most of the way at full speed: every
    // instruction takes at least instructionCycles, so a run of (goal - k) times that
    // many cycles (on the one clock all VMs share) ends at or before instruction goal - k;
    // the last stretch is stepped.
    if (seen === null) {
      for (;;) {
        const left = goal - cpu.instructions;
        if (left <= FAST_MARGIN) break;
        const r = m.run(m.cycles + (left - FAST_MARGIN / 2) * cpu.instructionCycles);
        if (r.kind !== 'limit') break;
      }
    }
    m.cpus.forEach((c, i) => {
      const t = i + 1;
      const watched = this.writeWatches(t);
      let pos = 0;
      const accessed = seen === null ? [] : stub.watchpoints.filter((w) => w.kind !== WatchKind.Write);
      let noted = -1;
      if (accessed.length) {
        c.setMemWatch((lin, size, write) => {
          if (noted === pos) return;
          const text = accessHit(accessed, lin, size, write);
          if (text !== null) { noted = pos; seen!(t, pos, text); }
        });
      }
      c.tracer = {
        before: (x: Cpu): boolean => {
          pos = x.instructions;
          if (t === thread && pos >= goal) { m.pause(); return true; }
          if (seen !== null && stub.breakpoints.has((x.segBase[CS] + x.eip) >>> 0)) seen(t, pos, 'swbreak:;');
          return false;
        },
        after: (): void => {
          if (seen === null) return;
          for (const w of watched) {
            const now = target.readMemory(t, w.addr, w.length);
            if (now.length === w.bytes.length && now.every((b, k) => b === w.bytes[k])) continue;
            w.bytes = now;
            seen(t, pos, `watch:${w.addr.toString(16)};`);
          }
        },
      };
    });
    for (;;) {
      const r = m.run(Infinity);
      if (r.kind === 'paused' || r.kind !== 'limit') break; // (the run cannot end first: the same run got to `goal`)
    }
    for (const c of m.cpus) unhook(c);
    this.replayed += m.cpus.reduce((n, c, i) => n + c.instructions - (from >= 0 ? this.checkpoints[from].positions[i] : 0), 0);
  }
}
