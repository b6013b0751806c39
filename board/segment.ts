/**
 * A network segment: a card, the wire it is on, the built-in peers on the wire, and what
 * records it (the pcap, `--trace net` and `--trace nic`, the timeline's wire track). One
 * builder for the bare machine (`pc.ts`) and the hypervisor's host: what differs between
 * them is only where the card's own side goes (straight to the machine, to a
 * passthrough owner, behind the switch, or to the VPIO monitor), which the caller wires.
 */
import { Clock } from '../devices/clock';
import { Nic, NicKind, makeNic } from '../devices/nic';
import { Wire, EchoPeer, SinkPeer, SourcePeer, SourceOptions, describe as describeFrame } from '../devices/net/wire';
import { PcapWriter } from '../devices/net/pcap';
import { Timeline, WIRE_TRACK } from './timeline';

/** A built-in station on the segment (`--peer`). */
export type PeerSpec = { kind: 'echo' } | { kind: 'sink' } | ({ kind: 'source' } & SourceOptions);
export type Peer = EchoPeer | SinkPeer | SourcePeer;

export interface SegmentOptions {
  kind: NicKind;
  /** The card's station address. */
  mac: Uint8Array;
  peers?: readonly PeerSpec[];
  pcapPath?: string;
  /** Where trace lines go, and which kinds were asked for ('net': frames; 'nic': the card's remarks). */
  trace?: ((line: string) => void) | null;
  traceKinds?: ReadonlySet<string>;
  /** The card's remarks are this VM's (null: the machine's), asked each time. */
  cardVm?: () => number | null;
  timeline?: Timeline | null;
}

export interface Segment {
  readonly nic: Nic;
  readonly wire: Wire;
  readonly peers: Peer[];
}

export function buildSegment(clock: Clock, o: SegmentOptions): Segment {
  const nic = makeNic(o.kind, clock, o.mac);
  const wire = new Wire(clock, nic.bitsPerSecond);
  if (o.pcapPath) wire.pcap = new PcapWriter(o.pcapPath);
  const trace = o.trace ?? null, kinds = o.traceKinds ?? new Set<string>();
  if (trace && kinds.has('net')) wire.trace = trace;
  if (trace && kinds.has('nic')) {
    const vm = o.cardVm ?? (() => null);
    nic.card.onLog = (m) => {
      const id = vm();
      trace(`${clock.now} ${id !== null ? `vm${id} ` : ''}nic ${m}`);
    };
  }
  const tl = o.timeline ?? null;
  if (tl) {
    tl.track(WIRE_TRACK, 'wire');
    wire.onFrame = (from, frame) => tl.slice(WIRE_TRACK, from, clock.now - wire.frameCycles(frame.length), clock.now, 'frame', { frame: describeFrame(frame) });
  }
  const peers: Peer[] = [];
  for (const p of o.peers ?? []) {
    if (p.kind === 'echo') peers.push(new EchoPeer(wire));
    else if (p.kind === 'sink') peers.push(new SinkPeer(wire));
    else peers.push(new SourcePeer(wire, p));
  }
  return { nic, wire, peers };
}
