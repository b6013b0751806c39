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
  /** The card raised its interrupt while this guest owns it (before the guest sees it). */
  interrupt?(env: ModelEnv): void;
  /**
   * Shadow mode (DESIGN.md section 8): the model's view against the card's real state
   * (`state`, the card's own register file), after every access. Returns what disagrees
   * in a way that matters for safety, or null.
   */
  check(env: ModelEnv, state: unknown): string | null;
}
