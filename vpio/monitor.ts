/**
 * The VPIO monitor (DESIGN.md section 6): one physical card shared by the guests that
 * ask for it, each driving it directly while it owns it.
 *
 * - Port policy per guest. The owner's range of the card is `direct` in its port map
 *   except the (port, direction) pairs its model hooks, which exit to the model for a
 *   verdict (allow, translate, absorb, refuse, or stall until a handoff). Every other
 *   guest's range traps whole to the monitor: its first access makes it wait (its VM
 *   blocks, the instruction is retried once it owns the card).
 * - Handoff. When another guest waits or has frames waiting, and the owner has held the
 *   card for the card quantum, the model stalls the owner's new transfers; as soon as
 *   it says the card is quiescent the monitor saves the owner's card context (the
 *   card's whole register state, and for the NE2000 its buffer RAM), restores the next
 *   guest's (or a card fresh from reset with that guest's station address), re-points
 *   the ports and the interrupt line, and hands over the frames held for it.
 * - Receive time. A bus-mastering card (the RTL8139) holds a received frame in its FIFO
 *   for the bus time it takes to reach the ring; the monitor, which gave it the frame,
 *   counts that time itself (the card's own FIFO is not visible to it, as on real
 *   hardware) and hands the card over only when the last frame must be in the ring:
 *   else that frame would land in the next guest's ring. Frames go in one at a time at
 *   the pace the bus takes them, in order, so a burst of held frames after a handoff
 *   cannot overflow the FIFO.
 * - Frames. The monitor sees each frame before the card's address filter (it holds the
 *   card's attachment to the segment, as a switch port in front of the card would) and
 *   steers it by destination MAC: the owner's go to the card at once, another guest's
 *   are held (at most `HELD_FRAMES` each; one more is dropped and counted) until it
 *   owns the card, broadcast and multicast go to every guest. No guest sees another
 *   guest's unicast frame.
 * - DMA. The card's DMA port admits only the owner's partition of host memory; the
 *   models translate guest-physical addresses into it, so a refusal there means a model
 *   let something through, and is counted as such (`dmaRefused`).
 * - Refusals are recorded (guest, cycle, port, value, rule) and answered per
 *   `--on-violation`: `block` drops the access, `kill` ends the guest, `log` lets it
 *   through untranslated (the DMA port still confines the card).
 */
import { Clock, Timer } from '../devices/clock';
import { Costs } from '../devices/costs';
import { Nic, nicPciFunction, nicName, nicBusCycles, NE2000_ISA_BASE, NE2000_ISA_IRQ } from '../devices/nic';
import { PciFunction } from '../devices/pci';
import { PortDevice } from '../devices/port-bus';
import { Rtl8139, DmaPort, newRtl8139State } from '../devices/rtl8139';
import { Ne2000, newNe2000State, RAM_START, RAM_END } from '../devices/ne2000';
import { ViewCache, copyFrame, isAddressedTo, isMulticast } from '../devices/net/ethernet';
import { Vm } from '../hypervisor/vm';
import { Hook, DirectRange, TRAP_IN, TRAP_OUT } from '../hypervisor/port-map';
import type { Host, SharedCard } from '../hypervisor/host';
import { CardModel, HOOK_IN, HOOK_OUT, ModelEnv, Verdict } from './model';
import { Rtl8139Model } from './rtl8139-model';
import { Ne2000Model } from './ne2000-model';

export type OnViolation = 'block' | 'kill' | 'log';
export const ON_VIOLATION: readonly OnViolation[] = ['block', 'kill', 'log'];

/** Frames held for one guest that does not own the card. */
export const HELD_FRAMES = 64;
/** The card quantum by default for the RTL8139: 0.5 ms at 2 GHz. */
export const DEFAULT_CARD_QUANTUM = 1_000_000;

/**
 * The card quantum when none is given: 0.5 ms, or for the NE2000 eight times what a
 * handoff costs (its 16 KiB buffer goes out and in through the data port a word at a
 * time: 4 ms on PCI, 16 ms on ISA), so that handoffs take at most about a ninth of
 * the card's time.
 */
export function defaultCardQuantum(nic: Nic, costs: Costs): number {
  if (nic.kind === 'rtl8139') return DEFAULT_CARD_QUANTUM;
  return Math.max(DEFAULT_CARD_QUANTUM, 8 * (RAM_END - RAM_START) * nicBusCycles(nic, costs));
}

export interface ViolationRecord {
  vm: number;
  cycle: number;
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
  held: number;
  /** Frames held for it while another guest owned the card, and those dropped for want of room (held, or queued behind them once it owns the card). */
  framesHeld: number;
  framesDropped: number;
  /** Held frames the card would not take when they were handed over (its receiver off, its filter, or its FIFO full; a full ring loses one later, in the card's own count). */
  framesRefused: number;
  /** Times its access was stalled for a handoff. */
  stalls: number;
  handoffsIn: number;
}

class Guest {
  readonly model: CardModel;
  base = -1;
  readonly queue: Uint8Array[] = [];
  context: unknown = null;
  waiting = false;
  since = 0;
  direct: DirectRange | null = null;
  /** A non-owner's one hook over the whole range. */
  heldHook: Hook | null = null;
  mappedVersion = -1;
  readonly stats: GuestStats = { hooked: 0, direct: 0, held: 0, framesHeld: 0, framesDropped: 0, framesRefused: 0, stalls: 0, handoffsIn: 0 };
  /** The owner's hooks, one per port, and the policy bits they were made for. */
  readonly hookAt: (Hook | null)[];
  readonly mapped: Uint8Array;
  handler!: { in(port: number, size: number): number; out(port: number, size: number, value: number): void };
  /** The port of the access the model is judging (for the violation record). */
  port = 0;
  value = 0;

  constructor(readonly vm: Vm, readonly mac: Uint8Array, readonly fn: PciFunction | null, readonly env: ModelEnv, rtl: boolean) {
    this.model = rtl ? new Rtl8139Model() : new Ne2000Model();
    this.hookAt = new Array(this.model.size).fill(null);
    this.mapped = new Uint8Array(this.model.size);
  }
}

export class VpioMonitor implements SharedCard {
  readonly guests: Guest[] = [];
  owner: Guest | null = null;
  readonly violations: ViolationRecord[] = [];
  violationCount = 0;
  handoffs = 0;
  handoffCycles = 0;
  /** DMA the port refused because it fell outside the owner's memory: a model let it through. */
  dmaRefused = 0;
  /** Shadow mode: where the model and the card disagreed (the first 64). */
  readonly shadowMismatches: string[] = [];
  private readonly shadow: boolean;
  readonly onViolation: OnViolation;
  readonly cardQuantum: number;
  readonly dma: DmaPort;
  private readonly card: Rtl8139 | Ne2000;
  private readonly regs: PortDevice;
  private readonly busCycles: number;
  private readonly clock: Clock;
  private readonly costs: Costs;
  private readonly quantumTimer: Timer;
  /** When the card's receive FIFO has drained, by the monitor's count of what went in. */
  private rxFreeAt = 0;
  /** Feeds the owner's queued frames as the FIFO drains, and looks at a pending handoff again once it has. */
  private readonly rxTimer: Timer;
  private readonly trace: ((line: string) => void) | null;
  private readonly name: string;
  private everOwned = false;
  /** In the middle of a handoff: the card's interrupt changes as contexts go and come, and means nothing yet. */
  private switching = false;

  constructor(private readonly host: Host, private readonly nic: Nic, vms: { vm: Vm; mac: Uint8Array }[], opts: MonitorOptions = {}) {
    this.onViolation = opts.onViolation ?? 'block';
    this.shadow = opts.shadow ?? false;
    this.busCycles = nicBusCycles(nic, host.costs);
    this.cardQuantum = opts.cardQuantum ?? defaultCardQuantum(nic, host.costs);
    this.card = nic.card;
    this.clock = host.clock;
    this.costs = host.costs;
    this.trace = host.opts.traceKinds?.has('vpio') && host.opts.trace ? host.opts.trace : null;
    this.name = nicName(nic.kind);
    this.quantumTimer = this.clock.timer('vpio-card-quantum', () => this.poll());
    this.rxTimer = this.clock.timer('vpio-rx-pace', () => { this.feedQueued(); this.poll(); });
    // The monitor's own register accesses (models reading status, context switches) pay the bus.
    const dev = nic.device;
    this.regs = {
      read: (off, size) => { this.charge(this.owner?.vm ?? null, this.busCycles); return dev.read(off, size); },
      write: (off, size, v) => { this.charge(this.owner?.vm ?? null, this.busCycles); dev.write(off, size, v); },
    };
    this.dma = this.makeDma();
    if (this.card instanceof Rtl8139) this.card.busMaster = false;
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
      refuse(rule, detail) { self.refuse(guest, rule, detail); },
      note(what) { self.note(`vm${vm.id} ${what}`); },
      receiving(length) { self.rxFreeAt = Math.max(self.rxFreeAt, self.clock.now) + self.rxCycles(length); },
    };
    guest = new Guest(vm, mac, fn, env, this.nic.kind === 'rtl8139');
    guest.handler = {
      in: (port, sz) => this.ownerIn(guest, port, sz),
      out: (port, sz, value) => this.ownerOut(guest, port, sz, value),
    };
    this.guests.push(guest);
    const platform = vm.platform;
    if (fn) {
      platform.pci.add(3, 0, fn);
      platform.mapPciIo(fn, this.name, this.regs, 0, {
        map: (_name, base) => { this.setBase(guest, base); return base; },
        unmap: () => this.setBase(guest, -1),
      }, () => { if (this.owner === guest && this.card instanceof Rtl8139) this.card.busMaster = fn.busMaster; });
    } else {
      this.setBase(guest, NE2000_ISA_BASE);
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

  private unmapGuest(g: Guest): void {
    const ports = g.vm.ports;
    if (g.heldHook) { ports.unhook(g.heldHook); g.heldHook = null; }
    for (let off = 0; off < g.hookAt.length; off++) {
      const h = g.hookAt[off];
      if (h) { ports.unhook(h); g.hookAt[off] = null; }
    }
    g.mapped.fill(0);
    if (g.direct) { g.stats.direct += g.direct.accesses; ports.remove(g.direct); g.direct = null; }
  }

  private mapGuest(g: Guest): void {
    if (g.base < 0) return;
    const ports = g.vm.ports;
    const size = g.model.size;
    if (this.owner !== g) {
      g.heldHook = ports.hook(`${this.name} (held)`, g.base, size, {
        in: () => this.held(g),
        out: () => this.held(g),
      }, { handlerCycles: this.costs.virtualDeviceCycles });
      return;
    }
    g.direct = ports.direct(this.name, g.base, size, this.nic.device, this.busCycles);
    this.applyPolicy(g);
  }

  /**
   * Brings the owner's hooks in line with its model's policy, one port at a time, so
   * that a model flipping a register between hooked and direct (the NE2000's page, an
   * RTL8139 descriptor going out and coming back) costs a hook or an unhook, not a remap.
   */
  private applyPolicy(g: Guest): void {
    const ports = g.vm.ports;
    const policy = g.model.policy;
    for (let off = 0; off < policy.length; off++) {
      const bits = this.shadow ? HOOK_IN | HOOK_OUT : policy[off];
      if (bits === g.mapped[off]) continue;
      const old = g.hookAt[off];
      if (old) { ports.unhook(old); g.hookAt[off] = null; }
      if (bits !== 0) {
        const directions = (bits & HOOK_IN ? TRAP_IN : 0) | (bits & HOOK_OUT ? TRAP_OUT : 0);
        g.hookAt[off] = ports.hook(`${this.name} (model)`, g.base + off, 1, g.handler, { handlerCycles: this.costs.vpioModelCycles, directions, perElement: true });
      }
      g.mapped[off] = bits;
    }
    g.mappedVersion = g.model.policyVersion;
  }

  /** Re-hooks the owner when its model changed its policy. */
  private refreshPolicy(g: Guest): void {
    if (g.mappedVersion === g.model.policyVersion || this.owner !== g || g.base < 0) return;
    if (this.trace) {
      let hooked = 0;
      for (const b of g.model.policy) if (b) hooked++;
      this.note(`vm${g.vm.id} policy changed: ${hooked} of ${g.model.size} registers hooked`);
    }
    this.applyPolicy(g);
  }

  // ---- Accesses ----

  private ownerIn(g: Guest, port: number, size: number): number {
    this.syncClock(g);
    if (this.shadow && !(g.model.policy[port - g.base] & HOOK_IN)) {
      g.stats.direct++;
      const v = this.nic.device.read(port - g.base, size);
      this.shadowCheck(g);
      return v;
    }
    g.stats.hooked++;
    const v = g.model.read(g.env, port - g.base, size);
    this.refreshPolicy(g);
    if (this.shadow) this.shadowCheck(g);
    return v;
  }

  private shadowCheck(g: Guest): void {
    if (this.owner !== g) return;
    const why = g.model.check(g.env, this.card.state);
    if (why !== null && this.shadowMismatches.length < 64) {
      this.shadowMismatches.push(`vm${g.vm.id} at ${this.clock.now}: ${why}`);
      this.note(`vm${g.vm.id} shadow mismatch: ${why}`);
    }
  }

  private ownerOut(g: Guest, port: number, size: number, value: number): void {
    this.syncClock(g);
    if (this.shadow && !(g.model.policy[port - g.base] & HOOK_OUT)) {
      g.stats.direct++;
      this.nic.device.write(port - g.base, size, value);
      this.shadowCheck(g);
      this.poll();
      return;
    }
    g.stats.hooked++;
    g.port = port; g.value = value;
    const verdict = g.model.write(g.env, port - g.base, size, value, this.handoffWanted());
    switch (verdict) {
      case Verdict.Allow: this.nic.device.write(port - g.base, size, value); break;
      case Verdict.Translate: this.nic.device.write(port - g.base, size, g.model.translated); break;
      case Verdict.Absorb: break;
      case Verdict.Stall:
        g.stats.stalls++;
        if (this.trace) this.note(`vm${g.vm.id} stall port=0x${port.toString(16)} value=0x${(value >>> 0).toString(16)}: handoff pending`);
        this.wait(g);
        this.poll();
        g.vm.cpu.retryInstruction();
        break;
      case Verdict.Refuse:
        if (this.onViolation === 'log') this.nic.device.write(port - g.base, size, value);
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
    if (!g.waiting && this.trace) this.note(`vm${g.vm.id} waits for the card (vm${this.owner?.vm.id} owns it)`);
    g.waiting = true;
    g.vm.blocked = true;
    this.armQuantum();
  }

  private kill(g: Guest): void {
    this.note(`vm${g.vm.id} killed (--on-violation kill)`);
    g.vm.end = { kind: 'killed', message: `illegitimate programming of the ${this.name}: ${this.violations[this.violations.length - 1]?.rule ?? 'refused'}` };
    g.vm.cpu.requestStop();
  }

  private refuse(g: Guest, rule: string, detail: string): void {
    this.violationCount++;
    const rec: ViolationRecord = { vm: g.vm.id, cycle: this.clock.now, port: g.port, value: g.value >>> 0, rule, detail };
    if (this.violations.length < 256) this.violations.push(rec);
    this.note(`vm${g.vm.id} refused rule=${rule} port=0x${g.port.toString(16)} value=0x${rec.value.toString(16)} (${detail}) -> ${this.onViolation}`);
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
    const c = g.context as { ISR: number; IMR: number } | null;
    return c !== null && (c.ISR & c.IMR & 0x7fff) !== 0;
  }

  private handoffWanted(): boolean {
    const o = this.owner;
    if (o === null) return false;
    if (o.vm.end !== null) return true;
    if (this.clock.now - o.since < this.cardQuantum) return false;
    return this.guests.some((g) => g !== o && this.demand(g));
  }

  private armQuantum(): void {
    const o = this.owner;
    if (o && !this.quantumTimer.armed) this.quantumTimer.arm(Math.max(this.clock.now, o.since + this.cardQuantum));
  }

  /** Hands the card over if someone wants it and the owner can let it go. Cheap when nothing is pending. */
  poll(): void {
    if (this.switching) return;
    const o = this.owner;
    if (o !== null && o.vm.end === null) {
      if (!this.guests.some((g) => g !== o && this.demand(g))) return;
      if (this.clock.now - o.since < this.cardQuantum) { this.armQuantum(); return; }
      if (!o.model.quiescent(o.env)) return; // the card's interrupt or the next exit will look again
      if (o.queue.length > 0 || this.clock.now < this.rxFreeAt) { this.armRx(); return; } // a frame still on its way to the ring
    }
    const n = this.guests.length;
    const start = o ? this.guests.indexOf(o) + 1 : 0;
    for (let k = 0; k < n; k++) {
      const g = this.guests[(start + k) % n];
      if (g !== o && this.demand(g)) { this.handoff(g); return; }
    }
    if (o && o.vm.end !== null) this.release(o);
  }

  private release(o: Guest): void {
    o.queue.length = 0;
    this.setIrq(o, false);
    this.owner = null;
    this.host.cardOwnedBy(null);
    // Its guest is gone: the card is reset so that nothing it still had under way (a
    // frame in the RTL8139's receive FIFO) goes on into memory no guest owns.
    this.switching = true;
    try {
      this.card.reset();
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
    this.setIrq(next, this.card.irq);
    if (this.guests.some((g) => g !== next && this.demand(g))) this.armQuantum();
  }

  private switchTo(next: Guest): void {
    const from = this.owner;
    let cost = 0;
    const regs = this.nic.kind === 'rtl8139' ? 64 : 48;
    this.host.cardOwnedBy(next.vm.id);
    if (from) {
      if (this.shadow && this.card instanceof Rtl8139 && this.card.rxFifoFrames > 0 && from.vm.end === null && this.shadowMismatches.length < 64) {
        this.shadowMismatches.push(`vm${from.vm.id} at ${this.clock.now}: handoff with ${this.card.rxFifoFrames} frames still in the card's receive FIFO`);
      }
      if (from.vm.end !== null) from.queue.length = 0;
      from.context = this.card.save();
      cost += regs * this.busCycles;
      if (this.card instanceof Ne2000) cost += ((RAM_END - RAM_START) / 2) * this.busCycles; // the buffer, read out by remote DMA
      this.setIrq(from, false);
      this.owner = null;
      this.unmapGuest(from);
      this.mapGuest(from);
    }
    const card = this.card;
    if (card instanceof Rtl8139) {
      card.restore((next.context as ReturnType<Rtl8139['save']> | null) ?? newRtl8139State(next.mac));
      card.busMaster = next.fn?.busMaster ?? false;
    } else {
      card.setPromAddress(next.mac);
      card.restore((next.context as ReturnType<Ne2000['save']> | null) ?? newNe2000State());
      // The next guest's buffer written back (or, for a first turn, zeros over whatever an
      // earlier guest left); a card no guest has used yet needs neither.
      if (this.everOwned) cost += ((RAM_END - RAM_START) / 2) * this.busCycles;
    }
    this.everOwned = true;
    cost += regs * this.busCycles;
    next.context = null;
    this.owner = next;
    next.waiting = false;
    next.vm.blocked = false;
    next.stats.handoffsIn++;
    this.unmapGuest(next);
    this.mapGuest(next);
    next.model.acquired(next.env);
    this.refreshPolicy(next);
    this.handoffs++;
    this.charge(next.vm, cost, next.vm.stats.handoff);
    this.handoffCycles += cost;
    // Its time with the card starts when the switch is done.
    next.since = this.clock.now;
    if (this.trace) this.note(`handoff ${from ? `vm${from.vm.id}` : 'nobody'} -> vm${next.vm.id} (${cost} cycles, ${next.queue.length} frames held for it)`);
    // The frames held for it go in now, through the card's own filter, at the bus's pace.
    this.rxFreeAt = this.clock.now;
    this.feedQueued();
  }

  // ---- Frames to the owner's card ----

  /** Bus time for the card to move a received frame to the ring (0 for the NE2000, whose ring is on the card). */
  private rxCycles(length: number): number {
    return this.card instanceof Rtl8139 ? this.card.rxDmaCycles(length) : 0;
  }

  /**
   * A frame for the owner: into the card now, or, while the card is still moving an
   * earlier one to the ring or frames are queued for it, behind them (in order, and
   * never two at once in the FIFO, which two full frames would overflow).
   */
  private toOwner(o: Guest, frame: Uint8Array): void {
    if (o.queue.length === 0 && this.clock.now >= this.rxFreeAt) { this.feed(frame); return; }
    if (this.enqueue(o, frame)) this.armRx();
  }

  /** Puts a frame in a guest's queue, or drops and counts it when HELD_FRAMES are there already. */
  private enqueue(g: Guest, frame: Uint8Array): boolean {
    if (g.queue.length >= HELD_FRAMES) {
      g.stats.framesDropped++;
      if (this.trace) this.note(`vm${g.vm.id} frame dropped: ${HELD_FRAMES} already queued`);
      return false;
    }
    g.queue.push(copyFrame(frame)); // lent by the wire for the call (EthernetPort)
    return true;
  }

  private feed(frame: Uint8Array): boolean {
    if (!this.card.receive(frame)) return false;
    this.rxFreeAt = Math.max(this.rxFreeAt, this.clock.now) + this.rxCycles(frame.length);
    return true;
  }

  /** The owner's queued frames (held for it, or behind them) into the card, each once the one before is in the ring. */
  private feedQueued(): void {
    const o = this.owner;
    if (o === null) return;
    while (o.queue.length > 0 && this.clock.now >= this.rxFreeAt) {
      const f = o.queue.shift()!;
      this.charge(o.vm, Math.ceil(f.length * this.costs.copyCyclesPerByte), o.vm.stats.vpioWork);
      if (!this.feed(f)) {
        o.stats.framesRefused++;
        if (this.trace) this.note(`vm${o.vm.id} held frame not taken by its card (receiver off, filtered out or FIFO full)`);
      }
    }
    if (o.queue.length > 0) this.armRx();
  }

  private armRx(): void {
    if (!this.rxTimer.armed) this.rxTimer.arm(Math.max(this.clock.now, this.rxFreeAt));
  }

  // ---- Interrupts, frames, DMA ----

  private setIrq(g: Guest, level: boolean): void {
    if (g.fn) g.vm.platform.pciIrq(g.fn, level);
    else g.vm.platform.isaIrq(NE2000_ISA_IRQ, level);
  }

  irq(level: boolean): void {
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
    this.armQuantum();
    this.poll();
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
        if (!inside(addr, dst.length)) { this.dmaRefused++; if (this.trace) this.note(`dma read 0x${addr.toString(16)}+${dst.length} outside the owner's memory: refused`); return false; }
        dst.set(source.of(ram, addr, addr + dst.length));
        return true;
      },
      write: (addr, src) => {
        if (!inside(addr, src.length)) { this.dmaRefused++; if (this.trace) this.note(`dma write 0x${addr.toString(16)}+${src.length} outside the owner's memory: refused`); return false; }
        ram.set(src, addr);
        const o = this.owner!;
        o.vm.cpu.invalidateCode(addr - o.vm.base, src.length);
        return true;
      },
    };
  }

  // ---- Time and trace ----

  private syncClock(g: Guest): void {
    this.clock.now = g.vm.cpu.cycles;
  }

  private charge(vm: Vm | null, cycles: number, counter = vm?.stats.vpioWork): void {
    if (vm && counter) this.host.charge(vm, counter, cycles);
    else this.host.charge(null, this.host.hostWork, cycles);
  }

  private note(what: string): void {
    this.trace?.(`${this.clock.now} vpio ${what}`);
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
    return g.stats.direct + (g.direct?.accesses ?? 0);
  }
}
