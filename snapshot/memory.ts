/**
 * Snapshots kept in memory, for a debugger going backwards (debug/session.ts): the
 * saved objects, and each buffer as 4 KiB pages, where a page equal to the previous
 * snapshot's is that page (shared, not copied) and an all-zero page is nothing. A
 * machine's RAM changes a little between two checkpoints, so each costs a comparison
 * of its memory (memcmp speed) and a copy of the pages that changed.
 */
import { saveGraph, loadGraph, GraphRules, SavedGraph, SavedObject } from './graph';
import { PAGE, zeroPage } from './pages';

export interface MemorySnapshot {
  /** Bytes this snapshot holds that no earlier one shares (its objects and its new pages). */
  readonly size: number;
  readonly objects: SavedObject[];
  readonly buffers: { length: number; pages: (Buffer | null)[] }[];
}

/** Takes snapshots that share unchanged pages with the one taken before. */
export class SnapshotPager {
  private last: MemorySnapshot | null = null;

  constructor(private readonly rules: GraphRules) {}

  take(root: object): MemorySnapshot {
    const g = saveGraph(root, this.rules, false);
    let size = 0;
    const buffers = g.buffers.map((b, i) => {
      const before = this.last?.buffers[i];
      const same = before !== undefined && before.length === b.length ? before.pages : null;
      const live = Buffer.from(b.buffer, b.byteOffset, b.length);
      const pages: (Buffer | null)[] = [];
      for (let at = 0, n = 0; at < b.length; at += PAGE, n++) {
        const page = live.subarray(at, Math.min(at + PAGE, b.length));
        const prev = same ? same[n] : null;
        if (prev !== null && prev !== undefined && prev.equals(page)) { pages.push(prev); continue; }
        if (zeroPage(page)) { pages.push(null); continue; }
        pages.push(Buffer.from(page));
        size += page.length;
      }
      return { length: b.length, pages };
    });
    size += JSON.stringify(g.objects).length;
    this.last = { size, objects: g.objects, buffers };
    return this.last;
  }

  /** Loads `snap` into a machine just built from the same options. */
  load(root: object, snap: MemorySnapshot): void {
    const graph: SavedGraph = {
      objects: snap.objects,
      buffers: snap.buffers.map(({ length, pages }) => {
        const b = new Uint8Array(length);
        pages.forEach((p, n) => { if (p !== null) b.set(p, n * PAGE); });
        return b;
      }),
    };
    loadGraph(root, graph, this.rules);
  }
}
