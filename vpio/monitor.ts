/**
 * The VPIO monitor (DESIGN.md section 6): one physical card shared by the guests that
 * ask for it, each driving it directly while it owns it. The monitor knows the card only
 * through its `CardSharing` (contexts, timing, ring) and the per-guest `CardModel`s.
 *
 * - Port policy per guest. The owner's range of the card is `direct` in its port map
 *   except the (port, direction) pairs its model hooks, which exit to the model for a
 *   verdict (allow, translate, absorb, refuse, or stall until a handoff). Every other
 *   guest's range traps whole to the monitor: its first access makes it wait (its VM
 *   blocks, the instruction is retried once it owns the card).
 * - Handoff. Another guest wants the card when it waits on an access, has frames held
 *   for it, or its saved context has an interrupt pending. The owner lets it go when its
 *   card quantum is over, or sooner when it is idle (halted with nothing to wake it,
 *   the card's interrupt low) after holding the card at least as long as the handoff
 *   that gave it the card took. The model then stalls the owner's new transfers; as
 *   soon as it says the card is quiescent, and the last received frame has crossed the
 *   bus, the monitor saves the owner's context, restores the next guest's, re-points
 *   the ports and the interrupt line, and hands over the frames held for it.
 * - Liveness. No sequence of writes holds the card: a handoff that is due happens by
 *   `deadline` = 2 x `drainCycles` later whatever the model says (the card's work in
 *   flight cancelled, the owner's context saved without it, and a `card-held` refusal
 *   recorded). `drainCycles` is what the card can take to finish everything it can have
 *   in flight with nothing new started: so a guest holds the card at most its quantum
 *   plus that bound once another wants it.
 * - Receive time. A bus-mastering card (the RTL8139) holds a received frame in its FIFO
 *   for the bus time it takes to reach the ring; the monitor, which gave it the frame,
 *   counts that time itself and hands the card over only when the last frame must be
 *   in the ring. Frames go in one at a time at the pace the bus takes them, in order.
 * - Frames. The monitor sees each frame before the card's address filter (it holds the
 *   card's attachment to the segment, as a switch port in front of the card would) and
 *   steers it by destination MAC: the owner's go to the card at once, another guest's
 *   are held (at most `HELD_FRAMES` each; one more is dropped and counted) until it
 *   owns the card, broadcast and multicast go to every guest. Held frames go into the
 *   ring as fast as the bus takes them and only while the ring has room for them, so a
 *   guest that reads its ring slowly loses none of them to an overflow. No guest sees
 *   another guest's unicast frame, and no guest sends with another's address: a frame
 *   the card sends whose source is not its owner's MAC is refused (`source-spoofed`).
 * - DMA. The card's DMA port admits only the owner's partition of host memory; the
 *   models translate guest-physical addresses into it, so a refusal there means a model
 *   let something through, and is counted as such (`dmaRefused`).
 * - Refusals are recorded (guest, cycle, port, value, rule) and answered per
 *   `--on-violation`: `block` drops the access, `kill` ends the guest, `log` lets it
 *   through untranslated (the DMA port still confines the card; a held card is taken
 *   whatever the answer).
 */
import { Clock, Timer } from '../devices/clock';
import { Costs } from '../devices/costs';
import { Nic, nicPciFunction, nicBusCycles } from '../devices/nic';
import { PciFunction } from '../devices/pci';
import { PortDevice } from '../devices/port-bus';
import { DmaPort } from '../devices/rtl8139';
import { EthernetPort, ViewCache, copyFrame, frameBits, isAddressedTo, isMulticast, isSentBy, macToString } from '../devices/net/ethernet';
import { Vm } from '../hypervisor/vm';
import { PortRange, IO_IN, IO_OUT } from '../devices/port-bus';
import type { Host, SharedCard } from '../hypervisor/host';
import { CardModel, CardSharing, HOOK_IN, HOOK_OUT, ModelEnv, Verdict } from './model';
import { cardSharing } from './cards';

export type OnViolation = 'block' | 'kill' | 'log';
export const ON_VIOLATION: readonly OnViolation[] = ['block', 'kill', 'log'];

/** Frames held for one guest that does not own the card. */
export const HELD_FRAMES = 64;
/** How many quanta a guest with received frames waiting for it may keep the card while another wants it. */
export const RECEIVE_TURNS = 4;
/** Minimum-size frames whose time on the wire a card quantum lasts by default: as many as are held for a waiting guest. */
export const QUANTUM_FRAMES = HELD_FRAMES;

/**
 * The card quantum when none is given: the time `QUANTUM_FRAMES` (64) minimum-size
 * frames take on the card's wire (4.3 ms at 10 Mbit/s, 0.43 ms at 100 Mbit/s): a stream
 * at the wire's rate in minimum frames fills the frames held for a waiting guest in one
 * quantum. A guest that wants the card waits at most a quantum and two handoffs.
 */
export function defaultCardQuantum(nic: Nic, costs: Costs): number {
  return Math.ceil((QUANTUM_FRAMES * 84 * 8 * costs.cpuHz) / nic.bitsPerSecond); // 84: a 60-byte frame with preamble, FCS and gap
}

export interface ViolationRecord {
  vm: number;
  cycle: number;
  /** The port of the access refused (above 0xFFFF: the MMIO address), or -1 for what was no register access (a frame, a held card). */
  port: number;
  value: number;
  rule: string;
  detail: string;
}

export interface MonitorOptions {
  onViolation?: OnViolation;
  cardQuantum?: number;
  /**
   * Shadow mode, for testing the models: every card port of the owner exits, accesses
   * outside the model's policy go straight on, and after each one the model is checked
   * against the card's real state (`shadowMismatches`).
   */
  shadow?: boolean;
}

/** Per guest figures. */
export interface GuestStats {
  /** Accesses to the card: through the model (hooked), straight to the card, and held (not the owner). */
  hooked: number;
  direct: number;
  /** Of `direct`, those that still exited: MMIO accesses the page trap took for registers the model does not hook. */
  passed: number;
  held: number;
  /** Frames held for it while another guest owned the card, and those dropped for want of room (held, or queued behind them once it owns the card). */
  framesHeld: number;
  framesDropped: number;
  /** Held frames the card would not take when they were handed over (its receiver off or its filter; a full FIFO or ring loses one later, in the card's own count). */
  framesRefused: number;
  /** Times its access was stalled for a handoff. */
  stalls: number;
  handoffsIn: number;
  /** The longest it waited for the card, from wanting it to getting it (cycles). */
  longestWait: number;
}

class Guest {
  readonly model: CardModel;
  base = -1;
  readonly queue: Uint8Array[] = [];
  context: unknown = null;
  waiting = false;
  /** When it began to want the card (-1: it does not, or owns it). */
  wantsSince = -1;
  since = 0;
  /** What the handoff that gave it the card cost (cycles): an idle owner keeps the card at least that long. */
  handoffCost = 0;
  direct: PortRange | null = null;
  /** A non-owner's one hook over the whole range. */
  heldHook: PortRange | null = null;
  /** Where the guest's memory BAR puts the card's registers (-1: nowhere), and their ranges in its MMIO map. */
  mmioBase = -1;
  mmioDirect: PortRange | null = null;
  /** The trap over the register page: the held hook for a non-owner; for the owner, the model's (see applyMmioPolicy). */
  mmioTrap: PortRange | null = null;
  /** The directions the owner's page trap takes now (IO_IN | IO_OUT bits; 0: none). */
  mmioDirections = 0;
  /** Handler of the owner's page trap: by offset, the model's registers to the model, the rest to the card. */
  mmioHandler: PortDevice | null = null;
  mappedVersion = -1;
  readonly stats: GuestStats = { hooked: 0, direct: 0, passed: 0, held: 0, framesHeld: 0, framesDropped: 0, framesRefused: 0, stalls: 0, handoffsIn: 0, longestWait: 0 };
  /** The owner's hooks, one per port, and the policy bits they were made for. */
  readonly hookAt: (PortRange | null)[];
  readonly mapped: Uint8Array;
  /** The handler of the owner's hook on each register (made once: a hook covers one port, and is given offset 0). */
  readonly handlers: PortDevice[] = [];
  /** The port of the access the model is judging (for the violation record). */
  port = 0;
  value = 0;

  constructor(readonly vm: Vm, readonly mac: Uint8Array, readonly fn: PciFunction | null, readonly env: ModelEnv, model: CardModel) {
    this.model = model;
    this.hookAt = new Array(model.size).fill(null);
    this.mapped = new Uint8Array(model.size);
  }
}

/** Accesses a range took, both directions. */
function rangeAccesses(r: PortRange): number {
  return r.counter.accessesIn + r.counter.accessesOut;
}

export class VpioMonitor implements SharedCard {
  readonly guests: Guest[] = [];
  owner: Guest | null = null;
  readonly violations: ViolationRecord[] = [];
  violationCount = 0;
  handoffs = 0;
  handoffCycles = 0;
  /** Handoffs the monitor had to force past the deadline (the owner's work in flight cancelled). */
  forcedHandoffs = 0;
  /**
   * Bus cycles the monitor paid for the card: its own register accesses through `regs`,
   * and the accesses a context switch or a buffer copy are modelled as
   * (`modelledAccesses`, charged as that many bus accesses without calling the card
   * once each). With the owners' direct accesses, every card access pays the bus once.
   */
  cardBusCycles = 0;
  modelledAccesses = 0;
  /** DMA the port refused because it fell outside the owner's memory: a model let something through. */
  dmaRefused = 0;
  /** Shadow mode: where the model and the card disagreed (the first 64). */
  readonly shadowMismatches: string[] = [];
  private readonly shadow: boolean;
  readonly onViolation: OnViolation;
  readonly cardQuantum: number;
  /** How long after a handoff is due the monitor takes the card whatever the owner does. */
  readonly deadline: number;
  readonly dma: DmaPort;
  readonly sharing: CardSharing<unknown>;
  private readonly regs: PortDevice;
  private readonly busCycles: number;
  private readonly clock: Clock;
  private readonly costs: Costs;
  private readonly quantumTimer: Timer;
  /** When the card's receive FIFO has drained, by the monitor's count of what went in. */
  private rxFreeAt = 0;
  /** Feeds the owner's queued frames as the FIFO drains and the ring has room, and looks at a pending handoff again. */
  private readonly rxTimer: Timer;
  /** How long to wait before looking again at a ring that had no room: one minimum frame on the wire. */
  private readonly rxRetryCycles: number;
  /** When the handoff now due became due (-1: none is). */
  private dueSince = -1;
  private readonly deadlineTimer: Timer;
  /** The card's interrupt line. */
  private irqLevel = false;
  private readonly trace: ((line: string) => void) | null;
  private readonly name: string;
  /** The next queued frame goes in no sooner than this (one frame's wire time after the last). */
  private paceAt = 0;
  /** Giving the card a frame (see feed). */
  private feeding = false;
  /** In the middle of a handoff: the card's interrupt changes as contexts go and come, and means nothing yet. */
  private switching = false;

  constructor(private readonly host: Host, private readonly nic: Nic, vms: { vm: Vm; mac: Uint8Array }[], opts: MonitorOptions = {}) {
    this.onViolation = opts.onViolation ?? 'block';
    this.shadow = opts.shadow ?? false;
    this.busCycles = nicBusCycles(nic, host.costs);
    this.cardQuantum = opts.cardQuantum ?? defaultCardQuantum(nic, host.costs);
    this.clock = host.clock;
    this.costs = host.costs;
    this.trace = host.opts.traceKinds?.has('vpio') && host.opts.trace ? host.opts.trace : null;
    this.quantumTimer = this.clock.timer('vpio-card-quantum', () => this.poll());
    this.rxTimer = this.clock.timer('vpio-rx-pace', () => { this.feedQueued(); this.poll(); });
    this.deadlineTimer = this.clock.timer('vpio-deadline', () => this.poll());
    this.rxRetryCycles = Math.ceil((84 * 8 * this.clock.hz) / nic.bitsPerSecond);
    // The monitor's own register accesses (models reading status, context switches) pay the bus.
    const dev = nic.device;
    // Every access of the monitor's (a hooked access passed on, a model's status read, a
    // context switch's) reaches the card through `regs` and pays the bus there, once.
    this.regs = {
      read: (off, size) => { this.payBus(1); return dev.read(off, size); },
      write: (off, size, v) => { this.payBus(1); dev.write(off, size, v); },
    };
    this.sharing = cardSharing(nic, this.regs, (accesses) => { this.modelledAccesses += accesses; this.payBus(accesses); }, host.costs);
    this.name = this.sharing.name;
    this.deadline = 2 * this.sharing.drainCycles;
    this.dma = this.makeDma();
    this.sharing.busMaster(false);
    // What the card sends goes through the monitor: counted for its owner, and refused if it claims another sender.
    const card = nic.card;
    const out = card.port;
    card.port = { send: (frame) => this.fromCard(frame, out) };
    for (const { vm, mac } of vms) this.addGuest(vm, mac);
  }

  private addGuest(vm: Vm, mac: Uint8Array): void {
    const fn = nicPciFunction(this.nic.kind);
    const self = this;
    let guest: Guest;
    const env: ModelEnv = {
      card: this.regs,
      memBytes: vm.ram.length,
      hostBase: vm.base,
      tracing: this.trace !== null,
      drainCycles: this.sharing.drainCycles,
      refuse(rule, detail) { self.refuse(guest, rule, detail); },
      note(what) { self.note(guest.vm, what); },
      receiving(length) { self.rxFreeAt = Math.max(self.rxFreeAt, self.clock.now) + self.sharing.rxCycles(length); },
      now() { return self.clock.now; },
      claim(from, to, use) { self.sharing.claim(guest.vm.id, from, to, use); },
    };
    guest = new Guest(vm, mac, fn, env, this.sharing.model(vm.base));
    for (let off = 0; off < guest.model.size; off++) {
      guest.handlers.push({
        read: (_o, sz) => this.ownerIn(guest, off, sz),
        write: (_o, sz, value) => this.ownerOut(guest, off, sz, value),
      });
    }
    this.guests.push(guest);
    const platform = vm.platform;
    if (fn) {
      platform.pci.add(3, 0, fn);
      guest.mmioHandler = {
        read: (off, sz) => (guest.model.policy[off] & HOOK_IN ? this.ownerIn(guest, off, sz) : this.mmioPass(guest, off, sz)),
        write: (off, sz, value) => { if (guest.model.policy[off] & HOOK_OUT) this.ownerOut(guest, off, sz, value, guest.mmioBase + off); else this.mmioPass(guest, off, sz, value); },
      };
      platform.mapPciBars(fn, this.name, this.regs, 0, {
        io: { map: (_name: string, base: number) => { this.setBase(guest, base); return base; }, unmap: () => this.setBase(guest, -1) },
        mem: { map: (_name: string, base: number) => { this.setMmioBase(guest, base); return base; }, unmap: () => this.setMmioBase(guest, -1) },
      }, () => { if (this.owner === guest) this.sharing.busMaster(fn.busMaster); });
    } else {
      this.setBase(guest, this.nic.isa!.base);
    }
  }

  // ---- Ports ----

  /** Where the guest's BAR0 puts the card; a range over another device's ports is refused (the platform logs it). */
  private setBase(g: Guest, base: number): void {
    this.unmapGuest(g);
    g.base = -1;
    if (base < 0) return;
    for (let p = base; p < base + g.model.size; p++) {
      const e = g.vm.ports.lookup(p);
      if (e !== null) throw new Error(`port 0x${p.toString(16)} is ${e.name}'s`);
    }
    g.base = base;
    this.mapGuest(g);
  }

  /** Where the guest's memory BAR puts the card (-1: unmapped, or memory decoding off). */
  private setMmioBase(g: Guest, base: number): void {
    this.unmapGuest(g);
    g.mmioBase = base;
    this.mapGuest(g);
  }

  private unmapGuest(g: Guest): void {
    const mmio = g.vm.mmio;
    if (g.mmioTrap) { mmio.remove(g.mmioTrap); g.mmioTrap = null; }
    g.mmioDirections = 0;
    if (g.mmioDirect) { g.stats.direct += rangeAccesses(g.mmioDirect); mmio.remove(g.mmioDirect); g.mmioDirect = null; }
    const ports = g.vm.ports;
    if (g.heldHook) { ports.unhook(g.heldHook); g.heldHook = null; }
    for (let off = 0; off < g.hookAt.length; off++) {
      const h = g.hookAt[off];
      if (h) { ports.unhook(h); g.hookAt[off] = null; }
    }
    g.mapped.fill(0);
    if (g.direct) { g.stats.direct += rangeAccesses(g.direct); ports.remove(g.direct); g.direct = null; }
  }

  private mapGuest(g: Guest): void {
    const ports = g.vm.ports, mmio = g.vm.mmio;
    const size = g.model.size;
    const exit = this.costs.exitRoundTripCycles;
    if (this.owner !== g) {
      const held: PortDevice = { read: () => this.held(g), write: () => this.held(g) };
      if (g.base >= 0) g.heldHook = ports.hook(`${this.name} (held)`, g.base, size, held, { handlerCycles: this.costs.virtualDeviceCycles });
      if (g.mmioBase >= 0) {
        g.mmioTrap = mmio.cover(`${this.name} (mmio held)`, g.mmioBase, size, held, exit + this.costs.virtualDeviceCycles, { counter: g.vm.trapCounter(`${this.name} (mmio held)`) });
      }
      return;
    }
    if (g.base >= 0) g.direct = ports.direct(this.name, g.base, size, this.nic.device, this.busCycles);
    if (g.mmioBase >= 0) g.mmioDirect = mmio.map(`${this.name} (mmio)`, g.mmioBase, size, this.nic.device, this.busCycles);
    this.applyPolicy(g);
  }

  /**
   * The owner's register page: memory is trapped a page at a time, so the model's
   * policy, per register for ports, becomes one trap on the page for each direction in
   * which any register is hooked (a write-only trap is a write-protected page: reads go
   * straight to the card). Accesses the trap takes for registers the model does not
   * hook go on to the card (`mmioPass`): they pay an exit the port policy would not.
   */
  private applyMmioPolicy(g: Guest): void {
    if (g.mmioBase < 0) return;
    let dirs = 0;
    const policy = g.model.policy;
    for (let off = 0; off < policy.length; off++) {
      const bits = this.shadow ? HOOK_IN | HOOK_OUT : policy[off];
      if (bits & HOOK_IN) dirs |= IO_IN;
      if (bits & HOOK_OUT) dirs |= IO_OUT;
    }
    if (dirs === g.mmioDirections) return;
    const mmio = g.vm.mmio;
    if (g.mmioTrap) { mmio.remove(g.mmioTrap); g.mmioTrap = null; }
    g.mmioDirections = dirs;
    if (dirs === 0) return;
    const name = `${this.name} (mmio model)`;
    g.mmioTrap = mmio.cover(name, g.mmioBase, g.model.size, g.mmioHandler!, this.costs.exitRoundTripCycles + this.costs.vpioModelCycles, { directions: dirs, counter: g.vm.trapCounter(name) });
  }

  /** An access the owner's page trap took for a register its model does not hook: straight on to the card (paying the bus there). */
  private mmioPass(g: Guest, off: number, size: number, value?: number): number {
    g.stats.direct++;
    g.stats.passed++;
    if (value === undefined) return this.regs.read(off, size);
    this.regs.write(off, size, value);
    this.poll();
    return 0;
  }

  /**
   * Brings the owner's hooks in line with its model's policy, one port at a time, so
   * that a model flipping a register between hooked and direct (the NE2000's page, an
   * RTL8139 descriptor going out and coming back) costs a hook or an unhook, not a remap.
   */
  private applyPolicy(g: Guest): void {
    if (g.base < 0) { this.applyMmioPolicy(g); g.mappedVersion = g.model.policyVersion; return; }
    const ports = g.vm.ports;
    const policy = g.model.policy;
    for (let off = 0; off < policy.length; off++) {
      const bits = this.shadow ? HOOK_IN | HOOK_OUT : policy[off];
      if (bits === g.mapped[off]) continue;
      const old = g.hookAt[off];
      if (old) { ports.unhook(old); g.hookAt[off] = null; }
      if (bits !== 0) {
        const directions = (bits & HOOK_IN ? IO_IN : 0) | (bits & HOOK_OUT ? IO_OUT : 0);
        g.hookAt[off] = ports.hook(`${this.name} (model)`, g.base + off, 1, g.handlers[off], { handlerCycles: this.costs.vpioModelCycles, directions, perElement: true });
      }
      g.mapped[off] = bits;
    }
    this.applyMmioPolicy(g);
    g.mappedVersion = g.model.policyVersion;
  }

  /** Re-hooks the owner when its model changed its policy. */
  private refreshPolicy(g: Guest): void {
    if (g.mappedVersion === g.model.policyVersion || this.owner !== g || (g.base < 0 && g.mmioBase < 0)) return;
    if (this.trace) {
      let hooked = 0;
      for (const b of g.model.policy) if (b) hooked++;
      this.note(g.vm, `policy changed: ${hooked} of ${g.model.size} registers hooked`);
    }
    this.applyPolicy(g);
  }

  // ---- Accesses ----

  private ownerIn(g: Guest, off: number, size: number): number {
    if (this.shadow && !(g.model.policy[off] & HOOK_IN)) {
      g.stats.direct++;
      const v = this.regs.read(off, size);
      this.shadowCheck(g);
      return v;
    }
    g.stats.hooked++;
    const v = g.model.read(g.env, off, size);
    this.refreshPolicy(g);
    if (this.shadow) this.shadowCheck(g);
    return v;
  }

  private shadowCheck(g: Guest): void {
    if (this.owner !== g) return;
    const why = g.model.check(g.env, this.sharing.state);
    if (why !== null && this.shadowMismatches.length < 64) {
      this.shadowMismatches.push(`vm${g.vm.id} at ${this.clock.now}: ${why}`);
      this.note(g.vm, `shadow mismatch: ${why}`);
    }
  }

  /** A write the owner's model hooks; `at` is the port or (MMIO) the address it was made at. */
  private ownerOut(g: Guest, off: number, size: number, value: number, at = g.base + off): void {
    if (this.shadow && !(g.model.policy[off] & HOOK_OUT)) {
      g.stats.direct++;
      this.regs.write(off, size, value);
      this.shadowCheck(g);
      this.poll();
      return;
    }
    g.stats.hooked++;
    g.port = at; g.value = value;
    // Whatever of the access reaches the card goes through `regs`, and pays the bus there, once.
    const verdict = g.model.write(g.env, off, size, value, this.handoffWanted());
    switch (verdict) {
      case Verdict.Allow: this.regs.write(off, size, value); break;
      case Verdict.Translate: this.regs.write(off, size, g.model.translated); break;
      case Verdict.Absorb: break;
      case Verdict.Stall:
        g.stats.stalls++;
        if (this.trace) this.note(g.vm, `stall ${at === g.base + off ? 'port' : 'addr'}=0x${at.toString(16)} value=0x${(value >>> 0).toString(16)}: handoff pending`);
        this.wait(g);
        this.poll();
        g.vm.cpu.retryInstruction();
        break;
      case Verdict.Refuse:
        if (this.onViolation === 'log') this.regs.write(off, size, value);
        else if (this.onViolation === 'kill') this.kill(g);
        break;
    }
    this.refreshPolicy(g);
    if (this.shadow) this.shadowCheck(g);
    this.poll();
  }

  /** A non-owner touched the card: it waits for it, and its instruction runs again once it owns it. */
  private held(g: Guest): number {
    g.stats.held++;
    if (this.owner === null) {
      this.handoff(g);
    } else {
      this.wait(g);
      this.poll();
    }
    return g.vm.cpu.retryInstruction();
  }

  private wait(g: Guest): void {
    if (!g.waiting && this.trace) this.note(g.vm, `waits for the card (vm${this.owner?.vm.id} owns it)`);
    g.waiting = true;
    g.vm.blocked = true;
    this.armQuantum();
  }

  private kill(g: Guest): void {
    this.note(g.vm, 'killed (--on-violation kill)');
    g.vm.end = { kind: 'killed', message: `illegitimate programming of the ${this.name}: ${this.violations[this.violations.length - 1]?.rule ?? 'refused'}` };
    g.vm.cpu.requestStop();
  }

  private refuse(g: Guest, rule: string, detail: string, port = g.port, value = g.value): void {
    this.violationCount++;
    const rec: ViolationRecord = { vm: g.vm.id, cycle: this.clock.now, port, value: value >>> 0, rule, detail };
    if (this.violations.length < 256) this.violations.push(rec);
    const where = port < 0 ? '' : ` ${port > 0xffff ? 'addr' : 'port'}=0x${port.toString(16)} value=0x${rec.value.toString(16)}`;
    this.note(g.vm, `refused rule=${rule}${where} (${detail}) -> ${this.onViolation}`);
  }

  // ---- Handoff ----

  /**
   * Whether a guest wants the card: it waits on an access, has frames held for it, or
   * its saved context has an interrupt pending (a transmit that finished after it lost
   * the card: its driver may be asleep until that interrupt).
   */
  private demand(g: Guest): boolean {
    if (g.vm.end !== null) return false;
    if (g.waiting || g.queue.length > 0) return true;
    return g.context !== null && this.sharing.interruptPending(g.context);
  }

  private othersWant(o: Guest): boolean {
    let any = false;
    const now = this.clock.now;
    for (const g of this.guests) {
      if (g === o) continue;
      if (this.demand(g)) {
        any = true;
        if (g.wantsSince < 0) g.wantsSince = now;
      } else {
        g.wantsSince = -1;
      }
    }
    return any;
  }

  /**
   * The owner is idle: its VM is halted with nothing to wake it, the card's interrupt
   * is low, nothing of its is in flight and no frame is on its way to it. A guest
   * waiting for traffic sleeps so.
   */
  private idle(o: Guest): boolean {
    // A guest halted until its own transmit completes is waiting for the card, not idle.
    return o.vm.cpu.halted && !o.vm.runnable && !this.irqLevel && o.queue.length === 0 && this.clock.now >= this.rxFreeAt && o.model.quiescent(o.env);
  }

  /** The owner's turn is over: its VM ended, or another wants the card and its quantum is spent (or it is idle and has had the card a handoff's worth). */
  private turnOver(o: Guest): boolean {
    if (o.vm.end !== null) return true;
    if (!this.othersWant(o)) return false;
    if (this.dueSince >= 0) return true; // decided already: the owner is draining
    const held = this.clock.now - o.since;
    if (held < this.cardQuantum) return held >= o.handoffCost && this.idle(o);
    // A receiver keeps the card past its quantum while frames wait for it (queued, or
    // unread in its ring), up to RECEIVE_TURNS quanta: a guest that waits loses nothing,
    // one whose frames wait loses them. So a receiver whose traffic the card can carry
    // loses no frame to a greedy neighbour, and the neighbour still gets a turn.
    if (held >= RECEIVE_TURNS * this.cardQuantum) return true;
    return o.queue.length === 0 && !this.sharing.rxPending();
  }

  private handoffWanted(): boolean {
    return this.dueSince >= 0 || (this.owner !== null && this.turnOver(this.owner));
  }

  /**
   * Looks again at the owner's turn at its next deadline still ahead: when an idle owner
   * may go (a handoff's worth in), when its quantum ends, when its receive turns end.
   * Never at a moment already past: between those the run loop's polls (after every
   * slice, every card interrupt) see what changes, and a timer re-armed for "now" would
   * fire again and again without letting any guest run.
   */
  private armQuantum(): void {
    const o = this.owner;
    if (!o || this.quantumTimer.armed) return;
    const now = this.clock.now;
    for (const at of [o.since + o.handoffCost, o.since + this.cardQuantum, o.since + RECEIVE_TURNS * this.cardQuantum]) {
      if (at > now) { this.quantumTimer.arm(at); return; }
    }
  }

  /** Hands the card over if someone wants it and the owner can let it go. Cheap when nothing is pending. */
  poll(): void {
    if (this.switching) return;
    this.feedQueued();
    const o = this.owner;
    if (o !== null && o.vm.end === null) {
      if (!this.turnOver(o)) {
        if (this.dueSince >= 0) this.setDue(o, false);
        this.dueSince = -1;
        this.deadlineTimer.cancel();
        if (this.guests.length > 1 && this.othersWant(o)) this.armQuantum();
        return;
      }
      const now = this.clock.now;
      if (this.dueSince < 0) {
        this.dueSince = now;
        this.setDue(o, true);
        this.deadlineTimer.arm(now + this.deadline);
      }
      const settled = o.model.quiescent(o.env) && now >= this.rxFreeAt;
      if (!settled) {
        if (now < this.dueSince + this.deadline) {
          if (now < this.rxFreeAt) this.armRx();
          return; // the card's interrupt, the next exit or the deadline will look again
        }
        this.takeFrom(o);
      }
    }
    const n = this.guests.length;
    const start = o ? this.guests.indexOf(o) + 1 : 0;
    for (let k = 0; k < n; k++) {
      const g = this.guests[(start + k) % n];
      if (g !== o && this.demand(g)) { this.handoff(g); return; }
    }
    if (o && o.vm.end !== null) this.release(o);
  }

  /** Tells the owner's model whether a handoff is due, and re-hooks it if that changed its policy. */
  private setDue(o: Guest, due: boolean): void {
    if (o.model.handoffDue === undefined) return;
    o.model.handoffDue(o.env, due);
    this.refreshPolicy(o);
  }

  /** The deadline passed with the owner's card still busy: what it has in flight is cancelled, and reported. */
  private takeFrom(o: Guest): void {
    const cancelled = this.sharing.cancel();
    this.forcedHandoffs++;
    this.rxFreeAt = this.clock.now; // whatever is still in the FIFO is lost with the context switch
    this.refuse(o, 'card-held', `the card was still busy ${this.deadline} cycles after its handoff was due${cancelled ? `: ${cancelled}` : ''}; taken`, -1, 0);
    if (this.onViolation === 'kill') this.kill(o);
  }

  private release(o: Guest): void {
    o.queue.length = 0;
    this.setIrq(o, false);
    this.owner = null;
    this.dueSince = -1;
    this.deadlineTimer.cancel();
    this.host.cardOwnedBy(null);
    // Its guest is gone: the card is reset so that nothing it still had under way (a
    // frame in the RTL8139's receive FIFO, a transmit) goes on into memory no guest owns
    // or onto the wire.
    this.switching = true;
    try {
      this.nic.card.reset();
    } finally {
      this.switching = false;
    }
    this.unmapGuest(o);
    this.mapGuest(o);
  }

  private handoff(next: Guest): void {
    this.switching = true;
    try {
      this.switchTo(next);
    } finally {
      this.switching = false;
    }
    // The line as the card has it now, after the context and the held frames went in
    // (changes during the switch were not passed on).
    this.setIrq(next, this.irqLevel);
    this.feedQueued();
    if (this.othersWant(next)) this.armQuantum();
  }

  private switchTo(next: Guest): void {
    const from = this.owner;
    let accesses = 0;
    const now = this.clock.now;
    this.host.cardOwnedBy(next.vm.id);
    if (from) {
      if (this.shadow && from.vm.end === null && this.shadowMismatches.length < 64) {
        const problem = this.sharing.handoffProblem();
        if (problem) this.shadowMismatches.push(`vm${from.vm.id} at ${now}: handoff with ${problem}`);
      }
      if (from.vm.end !== null) {
        // An ended guest's work in flight goes nowhere: cancelled before the card is handed on.
        const cancelled = this.sharing.cancel();
        if (cancelled && this.trace) this.note(from.vm, `ended with its card busy: ${cancelled}`);
        from.queue.length = 0;
        from.context = null;
      } else {
        const saved = this.sharing.save(from.vm.id);
        from.context = saved.context;
        accesses += saved.accesses;
      }
      this.setIrq(from, false);
      this.owner = null;
      this.unmapGuest(from);
      this.mapGuest(from);
    }
    accesses += this.sharing.restore(next.vm.id, next.context ?? this.sharing.fresh(next.mac), next.mac);
    this.sharing.busMaster(next.fn?.busMaster ?? false);
    this.modelledAccesses += accesses;
    this.cardBusCycles += accesses * this.busCycles;
    const cost = accesses * this.busCycles;
    next.context = null;
    this.owner = next;
    this.dueSince = -1;
    this.deadlineTimer.cancel();
    next.waiting = false;
    next.vm.blocked = false;
    next.stats.handoffsIn++;
    if (next.wantsSince >= 0) next.stats.longestWait = Math.max(next.stats.longestWait, now - next.wantsSince);
    next.wantsSince = -1;
    this.unmapGuest(next);
    this.mapGuest(next);
    next.model.acquired(next.env);
    this.refreshPolicy(next);
    this.handoffs++;
    this.charge(next.vm, cost, next.vm.stats.handoff);
    this.handoffCycles += cost;
    // Its time with the card starts when the switch is done.
    next.since = this.clock.now;
    next.handoffCost = cost;
    if (this.trace) this.note(null, `handoff ${from ? `vm${from.vm.id}` : 'nobody'} -> vm${next.vm.id} (${cost} cycles, ${next.queue.length} frames held for it)`);
    this.rxFreeAt = this.clock.now;
  }

  // ---- Frames to the owner's card ----

  /**
   * A frame for the owner: into the card now, or, while the card is still moving an
   * earlier one to the ring or frames are queued for it, behind them (in order, and
   * never two at once in the FIFO, which two full frames would overflow).
   */
  private toOwner(o: Guest, frame: Uint8Array): void {
    if (o.queue.length === 0 && this.clock.now >= this.rxFreeAt && !this.feeding) { this.feed(o, frame); return; }
    if (this.enqueue(o, frame)) this.armRx();
  }

  /** Puts a frame in a guest's queue, or drops and counts it when HELD_FRAMES are there already. */
  private enqueue(g: Guest, frame: Uint8Array): boolean {
    if (g.queue.length >= HELD_FRAMES) {
      g.stats.framesDropped++;
      if (this.trace) this.note(g.vm, `frame dropped: ${HELD_FRAMES} already queued`);
      return false;
    }
    g.queue.push(copyFrame(frame)); // lent by the wire for the call (EthernetPort)
    return true;
  }

  private feed(o: Guest, frame: Uint8Array): boolean {
    // The card raises its interrupt inside receive, and the monitor polls on it: no second
    // frame may go in from there before this one is counted (its bus time, its order).
    this.feeding = true;
    let taken: boolean;
    try {
      taken = this.sharing.receive(o.vm.id, frame);
    } finally {
      this.feeding = false;
    }
    if (!taken) return false;
    o.vm.stats.framesIn++;
    o.vm.stats.bytesIn += frame.length;
    this.rxFreeAt = Math.max(this.rxFreeAt, this.clock.now) + this.sharing.rxCycles(frame.length);
    return true;
  }

  /**
   * The owner's queued frames (held for it, or behind them) into the card, each once the
   * one before is in the ring and while the ring has room for it; what does not fit
   * waits (a minimum frame's time, or the next look).
   */
  private feedQueued(): void {
    const o = this.owner;
    if (o === null || o.queue.length === 0 || this.switching || this.feeding) return;
    const now = this.clock.now;
    if (now < this.rxFreeAt || now < this.paceAt) { this.armRx(); return; }
    const f = o.queue[0];
    if (!this.sharing.rxRoom(f.length)) {
      if (!this.rxTimer.armed) this.rxTimer.arm(now + this.rxRetryCycles);
      return;
    }
    o.queue.shift();
    this.charge(o.vm, Math.ceil(f.length * this.costs.copyCyclesPerByte), o.vm.stats.vpioWork);
    // The next one no sooner than the wire could have brought it: a driver sees its
    // waiting frames arrive as from the wire, not all at once.
    this.paceAt = this.clock.now + this.wireCycles(f.length);
    if (!this.feed(o, f)) {
      o.stats.framesRefused++;
      if (this.trace) this.note(o.vm, 'held frame not taken by its card (receiver off or filtered out)');
    }
    if (o.queue.length > 0) this.armRx();
  }

  /** Cycles a frame of `length` bytes takes on the card's wire (preamble, FCS and gap included). */
  private wireCycles(length: number): number {
    return Math.ceil((frameBits(length) * this.clock.hz) / this.nic.bitsPerSecond);
  }

  private armRx(): void {
    if (!this.rxTimer.armed) this.rxTimer.arm(Math.max(this.clock.now, this.rxFreeAt, this.paceAt));
  }

  // ---- Interrupts, frames, DMA ----

  private setIrq(g: Guest, level: boolean): void {
    if (g.fn) g.vm.platform.pciIrq(g.fn, level);
    else g.vm.platform.isaIrq(this.nic.isa!.irq, level);
  }

  irq(level: boolean): void {
    this.irqLevel = level;
    if (this.switching) return; // the handoff sets the new owner's line when it is done
    const o = this.owner;
    if (o) {
      // The model hears of the interrupt first (the RTL8139's learns which descriptors came back).
      if (level && o.model.interrupt) { o.model.interrupt(o.env); this.refreshPolicy(o); }
      this.setIrq(o, level);
    }
    // A transmit that came back may make the card quiescent, even if its owner (stalled
    // for the handoff) cannot acknowledge the interrupt yet.
    this.poll();
  }

  fromWire(frame: Uint8Array): void {
    if (isMulticast(frame)) {
      for (const g of this.guests) this.deliver(g, frame);
      return;
    }
    for (const g of this.guests) {
      if (isAddressedTo(frame, g.mac)) { this.deliver(g, frame); return; }
    }
    // For nobody in particular: the owner's card filter decides, as on a hub.
    if (this.owner) this.toOwner(this.owner, frame);
  }

  private deliver(g: Guest, frame: Uint8Array): void {
    if (g.vm.end !== null) return;
    if (g === this.owner) { this.toOwner(g, frame); return; }
    if (!this.enqueue(g, frame)) return;
    g.stats.framesHeld++;
    this.poll();
  }

  /** A frame the card sends: its owner's, with the owner's own source address, or refused. */
  private fromCard(frame: Uint8Array, out: EthernetPort | null): void {
    const o = this.owner;
    if (o === null) return; // nobody's: a card reset when its owner ended sends nothing
    if (!isSentBy(frame, o.mac)) {
      o.vm.stats.framesSpoofed++;
      this.refuse(o, 'source-spoofed', `a ${frame.length}-byte frame from ${frame.length >= 12 ? macToString(frame, 6) : 'a short frame'}, not vm${o.vm.id}'s ${macToString(o.mac)}`, -1, 0);
      if (this.onViolation === 'kill') this.kill(o);
      if (this.onViolation !== 'log') return;
    }
    o.vm.stats.framesOut++;
    o.vm.stats.bytesOut += frame.length;
    out?.send(frame);
  }

  private makeDma(): DmaPort {
    const ram = this.host.ram;
    const source = new ViewCache(4); // a driver's transmit buffers, one per descriptor
    const inside = (addr: number, len: number) => {
      const o = this.owner;
      return o !== null && addr >= o.vm.base && addr + len <= o.vm.base + o.vm.ram.length;
    };
    return {
      read: (addr, dst) => {
        if (!inside(addr, dst.length)) { this.dmaRefused++; if (this.trace) this.note(null, `dma read 0x${addr.toString(16)}+${dst.length} outside the owner's memory: refused`); return false; }
        dst.set(source.of(ram, addr, addr + dst.length));
        return true;
      },
      write: (addr, src) => {
        if (!inside(addr, src.length)) { this.dmaRefused++; if (this.trace) this.note(null, `dma write 0x${addr.toString(16)}+${src.length} outside the owner's memory: refused`); return false; }
        ram.set(src, addr);
        const o = this.owner!;
        o.vm.cpu.invalidateCode(addr - o.vm.base, src.length);
        return true;
      },
    };
  }

  // ---- Time and trace ----

  /** `accesses` bus accesses to the card, paid by the owner (or the host when nobody owns it). */
  private payBus(accesses: number): void {
    this.cardBusCycles += accesses * this.busCycles;
    this.charge(this.owner?.vm ?? null, accesses * this.busCycles);
  }

  private charge(vm: Vm | null, cycles: number, counter = vm?.stats.vpioWork): void {
    if (vm && counter) this.host.charge(vm, counter, cycles);
    else this.host.charge(null, this.host.hostWork, cycles);
  }

  /** One `--trace vpio` line: "CYCLE vmN vpio WHAT" for a guest's event, "CYCLE vpio WHAT" for the card's. */
  private note(vm: Vm | null, what: string): void {
    this.trace?.(`${this.clock.now} ${vm ? `vm${vm.id} ` : ''}vpio ${what}`);
  }

  /** The share of card accesses that exited to the model, over all guests. */
  hookedFraction(): number {
    let hooked = 0, all = 0;
    for (const g of this.guests) {
      hooked += g.stats.hooked;
      all += g.stats.hooked + this.directAccesses(g);
    }
    return all ? hooked / all : 0;
  }

  directAccesses(g: Guest): number {
    return g.stats.direct + (g.direct ? rangeAccesses(g.direct) : 0) + (g.mmioDirect ? rangeAccesses(g.mmioDirect) : 0);
  }
}
