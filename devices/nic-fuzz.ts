/**
 * A seeded fuzzer for the card models: random register reads and writes of every
 * width, DMA programming pointed anywhere, incoming frames of any size and content,
 * and time passing. After every step it checks the invariants the NIC issue asks for:
 * nothing throws; no DMA write lands outside the window the machine gave the card;
 * only frames of legal length (60..1514 bytes) reach the wire. Used by a short test and
 * by bench/nic-fuzz (a million accesses per card).
 */
import seedrandom from 'seedrandom';
import { Clock } from './clock';
import { Ne2000 } from './ne2000';
import { Rtl8139 } from './rtl8139';
import { MAX_FRAME, MIN_FRAME } from './net/ethernet';

export interface FuzzResult {
  steps: number;
  framesOut: number;
  framesIn: number;
  violations: string[];
}

const WINDOW_BASE = 0x10000, WINDOW_SIZE = 0x10000, BACKING = 0x30000;

export function fuzzCard(kind: 'ne2000' | 'rtl8139', seed: string, steps: number): FuzzResult {
  const rng = seedrandom(seed);
  const int = (n: number) => Math.floor(rng() * n);
  const clock = new Clock(2e9);
  const mac = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
  const backing = new Uint8Array(BACKING);
  for (let i = 0; i < BACKING; i++) backing[i] = (i * 7) & 0xff;
  const pristine = backing.slice();
  const violations: string[] = [];
  let framesOut = 0, framesIn = 0;
  const port = {
    send: (f: Uint8Array) => {
      framesOut++;
      if (f.length < MIN_FRAME || f.length > MAX_FRAME) violations.push(`a ${f.length}-byte frame reached the wire`);
    },
  };
  // The machine's DMA window: bus addresses [0, WINDOW_SIZE) map to backing[WINDOW_BASE..].
  const dma = {
    read: (addr: number, dst: Uint8Array) => {
      if (addr < 0 || addr + dst.length > WINDOW_SIZE) return false;
      dst.set(backing.subarray(WINDOW_BASE + addr, WINDOW_BASE + addr + dst.length));
      return true;
    },
    write: (addr: number, src: Uint8Array) => {
      if (addr < 0 || addr + src.length > WINDOW_SIZE) return false;
      backing.set(src, WINDOW_BASE + addr);
      return true;
    },
  };
  let card: Ne2000 | Rtl8139;
  if (kind === 'ne2000') {
    card = new Ne2000(clock, { mac, pci: true });
  } else {
    const r = new Rtl8139(clock, { mac });
    r.dma = dma;
    r.busMaster = true;
    card = r;
  }
  card.port = port;
  const span = kind === 'ne2000' ? 0x20 : 0x100;
  const interesting = kind === 'ne2000'
    ? [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x1f]
    : [0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x37, 0x38, 0x3c, 0x3e, 0x40, 0x44, 0x50, 0x52, 0xe0];
  const value = () => {
    const r = rng();
    if (r < 0.3) return int(256);
    if (r < 0.5) return [0, 0xff, 0xffff, 0xffffffff, 0x80000000, WINDOW_SIZE - 4, WINDOW_SIZE + 0x100, 0x2000, 0x1fff, 0x700][int(10)];
    return (rng() * 0x100000000) >>> 0;
  };
  for (let i = 0; i < steps; i++) {
    const what = rng();
    try {
      if (what < 0.75) {
        const off = rng() < 0.7 ? interesting[int(interesting.length)] : int(span);
        const size = [1, 2, 4][int(3)];
        if (card instanceof Ne2000 && off === 0x10 && rng() < 0.3) {
          // A REP OUTS/INS through the data port as one block, as the machine's bus makes it.
          const buf = new Uint8Array(4 * 1600);
          const count = 1 + int(1600);
          const done = rng() < 0.5 ? card.writeBlock(off, size, buf, 0, count) : card.readBlock(off, size, buf, 0, count);
          if (done < 0 || done > count) throw new Error(`a data port block made ${done} of ${count} accesses`);
        } else if (rng() < 0.6) card.write(off, size, value());
        else card.read(off, size);
      } else if (what < 0.9) {
        const len = rng() < 0.8 ? MIN_FRAME + int(MAX_FRAME - MIN_FRAME + 1) : int(2000);
        const f = new Uint8Array(len);
        for (let k = 0; k < len; k++) f[k] = int(256);
        if (rng() < 0.5 && len >= 6) f.set(mac, 0);
        if (len >= MIN_FRAME && len <= MAX_FRAME) { framesIn++; card.receive(f); }
      } else {
        clock.advanceTo(clock.now + int(400000));
      }
    } catch (e) {
      violations.push(`step ${i}: ${(e as Error).stack ?? e}`);
      break;
    }
    if ((i & 1023) === 0 || i === steps - 1) {
      for (let a = 0; a < BACKING; a++) {
        if ((a < WINDOW_BASE || a >= WINDOW_BASE + WINDOW_SIZE) && backing[a] !== pristine[a]) {
          violations.push(`step ${i}: a DMA write landed at 0x${a.toString(16)}, outside the window`);
          break;
        }
      }
    }
    if (violations.length) break;
  }
  return { steps, framesOut, framesIn, violations };
}
