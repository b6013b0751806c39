/**
 * What the VPIO monitor asks of a card model (DESIGN.md section 6). A model is a small
 * state machine over the part of the card's architectural state that matters for
 * ownership and safety, driven by the accesses the monitor hooks. There is one model
 * instance per guest: it holds that guest's view of the registers it translates
 * (guest-physical DMA addresses) and what the guest has in flight.
 */
import { PortDevice } from '../devices/port-bus';

/** Hook-policy bits per register offset. */
export const HOOK_IN = 1, HOOK_OUT = 2;

/** What the model may touch: the physical card (each access pays the bus), and the guest's memory bounds. */
export interface ModelEnv {
  /** The card's register block. */
  readonly card: PortDevice;
  /** The owner's guest-physical memory size, and where it starts in host-physical memory. */
  readonly memBytes: number;
  readonly hostBase: number;
  /** Records a refusal of rule `rule` (the monitor adds guest, cycle, port and value). */
  refuse(rule: string, detail: string): void;
  /** Whether `--trace vpio` is on: build a note's text only then. */
  readonly tracing: boolean;
  /** One line to `--trace vpio` (a model transition). */
  note(what: string): void;
  /**
   * A frame of `length` bytes went into the card's receive path behind the monitor's
   * back (a transmit looped back inside the card): the card is busy moving it to the
   * ring for the bus time that takes, and cannot change hands until it is done.
   */
  receiving(length: number): void;
  /** The machine cycle now. */
  now(): number;
  /** The longest the card takes to finish what it has in flight (`CardSharing.drainCycles`). */
  readonly drainCycles: number;
  /**
   * The owner's next command makes the card touch its buffer RAM at card addresses
   * [from, to): `read` (a remote read, a transmit's frame), `write` (a remote write) or
   * `transmit` (a transmit, whose frame may loop back into the ring). Whatever another
   * guest left there is scrubbed first (NE2000: see `Ne2000Sharing`).
   */
  claim(from: number, to: number, use: 'read' | 'write' | 'transmit'): void;
}

/**
 * What sharing one kind of card takes beside its per-guest model: the card's contexts,
 * its timing and its receive ring. The monitor knows the card only through this and the
 * models, so another card means another implementation, not an edit of the monitor.
 *
 * `C` is a guest's saved card context. Bus accesses the work takes are returned (save,
 * restore: charged to the handoff) or reported through the `bus` callback the
 * implementation is built with (charged as the monitor's own work).
 */
export interface CardSharing<C> {
  /** The card's name in port maps and traces. */
  readonly name: string;
  /** A model for one guest, whose memory starts at host-physical `hostBase`. */
  model(hostBase: number): CardModel;
  /** The longest the card can take to finish what it has in flight when nothing new starts. */
  readonly drainCycles: number;
  /** A guest's context before its first turn: the card as after a reset, with the guest's station address. */
  fresh(mac: Uint8Array): C;
  /** Takes guest `guest`'s context off the card (nothing may be in flight). */
  save(guest: number): { context: C; accesses: number };
  /** Puts a guest's context on the card, with its station address; returns the bus accesses it took. */
  restore(guest: number, context: C, mac: Uint8Array): number;
  /** The PCI command register's bus-master bit of the owner changed (or a new owner came). */
  busMaster(on: boolean): void;
  /** Cancels what the card has in flight (a transmit): what was cancelled, for the report, or null. */
  cancel(): string | null;
  /** Whether a saved context has an interrupt pending (its driver may sleep until it is delivered). */
  interruptPending(context: C): boolean;
  /** Bus time for the card to move a received frame of `length` bytes into the ring (0: the ring is on the card). */
  rxCycles(length: number): number;
  /** Whether the owner's receive ring has room for a frame of `length` bytes now (true when the card would not take it anyway). */
  rxRoom(length: number): boolean;
  /** Whether the owner's receive ring holds frames its driver has not read yet (read through the card's registers). */
  rxPending(): boolean;
  /** Gives the card a frame from the wire for its owner `guest`; false when the card did not take it. */
  receive(guest: number, frame: Uint8Array): boolean;
  /** `ModelEnv.claim` for the owner `guest`. */
  claim(guest: number, from: number, to: number, use: 'read' | 'write' | 'transmit'): void;
  /** The card's own register state, for shadow mode's checks (`CardModel.check`). */
  readonly state: unknown;
  /** Shadow mode: why handing the card over now would lose something (a frame still in the card), or null. */
  handoffProblem(): string | null;
}

/** A hooked OUT's outcome. */
export const enum Verdict {
  /** Write `value` as the guest gave it. */
  Allow = 0,
  /** Write `model.translated` instead (a translated DMA address). */
  Translate = 1,
  /** Do not write at all: the model has already done what is needed (or nothing is). */
  Absorb = 2,
  /** Refused: the model called env.refuse; the monitor applies the --on-violation response. */
  Refuse = 3,
  /** Not now: a handoff is pending, the guest waits and the access is retried after it. */
  Stall = 4,
}

export interface CardModel {
  /** Bytes in the card's register block. */
  readonly size: number;
  /** HOOK_IN | HOOK_OUT for each offset, under the current policy. */
  readonly policy: Uint8Array;
  /** Bumped whenever `policy` changes, so the monitor re-hooks. */
  readonly policyVersion: number;
  /** The value a `Translate` verdict writes. */
  readonly translated: number;
  /** A hooked OUT by the owner at `offset`. */
  write(env: ModelEnv, offset: number, size: number, value: number, handoffPending: boolean): Verdict;
  /** A hooked IN by the owner: the value the guest sees. */
  read(env: ModelEnv, offset: number, size: number): number;
  /** No transfer is in flight and none is half set up: the card can change hands. */
  quiescent(env: ModelEnv): boolean;
  /** The guest got the card (its context was just restored) or lost it. */
  acquired(env: ModelEnv): void;
  /**
   * The monitor decided the owner must give the card up (`due`), or no longer must: a
   * model that lets a go point through unhooked hooks it again while a handoff is due,
   * so that new work stalls and the card drains. `acquired` starts a turn not due.
   */
  handoffDue?(env: ModelEnv, due: boolean): void;
  /** The card raised its interrupt while this guest owns it (before the guest sees it). */
  interrupt?(env: ModelEnv): void;
  /**
   * Shadow mode (DESIGN.md section 8): the model's view against the card's real state
   * (`state`, the card's own register file), after every access. Returns what disagrees
   * in a way that matters for safety, or null.
   */
  check(env: ModelEnv, state: unknown): string | null;
}
