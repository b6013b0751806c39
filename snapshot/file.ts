/**
 * Snapshot files (docs/DEBUGGING.md, "Snapshots"): a machine's saved graph, with a
 * description of the run that made it, in one versioned, checksummed file.
 *
 *   offset 0   "VPIOSNAP"                     8 bytes
 *          8   format version                 u32 little-endian (SNAPSHOT_VERSION)
 *         12   SHA-256 of the rest            32 bytes
 *         44   gzip of:
 *                u32 length of the header, the header (JSON, UTF-8): the run's
 *                description, the saved objects, and each buffer's length and the
 *                4 KiB pages of it that are not all zero;
 *                then those pages, buffer after buffer.
 *
 * RAM is most of a machine and most of RAM is zero at any time: only pages with a byte
 * set are stored, and gzip takes the rest. A file is read whole and checked (magic,
 * version, checksum, then the header's own consistency) before anything is loaded, so a
 * truncated or damaged file is one clear error and the machine is never half changed by it.
 */
import { createHash } from 'crypto';
import { gzipSync, gunzipSync } from 'zlib';
import { SavedGraph, SavedObject, SnapshotError } from './graph';
import { PAGE, zeroPage } from './pages';

/** Bumped whenever a saved machine's layout changes: a file of another version is refused. */
export const SNAPSHOT_VERSION = 1;

const MAGIC = Buffer.from('VPIOSNAP', 'latin1');
const PREFIX = 8 + 4 + 32;
/** The most a file may unpack to: more is a damaged or hostile file, not a machine. */
const MAX_UNPACKED = 2 ** 32 - 1;
/** The most memory a file's buffers may describe (RAM is at most 2 GiB a machine, and a host's too). */
const MAX_BUFFERS = 2 ** 33;

/** What a file holds besides the machine: which run made it and where it was. */
export interface SnapshotInfo {
  /** The options that shape the machine; a restore must be given the same. */
  machine: Record<string, unknown>;
  /** The machine's clock when saved. */
  cycle: number;
  /** What the command line keeps outside the machine (a console's unfinished lines). */
  extra?: Record<string, unknown>;
}

interface Header {
  info: SnapshotInfo;
  objects: SavedObject[];
  buffers: { length: number; pages: number[] }[];
}

/** The bytes of a snapshot file. */
export function encodeSnapshot(info: SnapshotInfo, graph: SavedGraph): Buffer {
  const data: Buffer[] = [];
  const buffers = graph.buffers.map((b) => {
    const pages: number[] = [];
    for (let at = 0, i = 0; at < b.length; at += PAGE, i++) {
      const page = b.subarray(at, Math.min(at + PAGE, b.length));
      if (!zeroPage(page)) { pages.push(i); data.push(Buffer.from(page.buffer, page.byteOffset, page.length)); }
    }
    return { length: b.length, pages };
  });
  const header = Buffer.from(JSON.stringify({ info, objects: graph.objects, buffers } satisfies Header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  const body = gzipSync(Buffer.concat([length, header, ...data]), { level: 1 });
  const prefix = Buffer.alloc(PREFIX);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(SNAPSHOT_VERSION, 8);
  createHash('sha256').update(body).digest().copy(prefix, 12);
  return Buffer.concat([prefix, body]);
}

/** Reads a snapshot file's bytes; a SnapshotError says what is wrong with them. */
export function decodeSnapshot(file: Uint8Array): { info: SnapshotInfo; graph: SavedGraph } {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (bytes.length < PREFIX || !bytes.subarray(0, 8).equals(MAGIC)) {
    throw new SnapshotError(bytes.length < 8 || !MAGIC.subarray(0, Math.min(8, bytes.length)).equals(bytes.subarray(0, Math.min(8, bytes.length)))
      ? 'not a vpio snapshot (it does not begin with VPIOSNAP)'
      : 'truncated: it ends inside its first 44 bytes');
  }
  const version = bytes.readUInt32LE(8);
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotError(`a snapshot of format version ${version}; this vpio reads version ${SNAPSHOT_VERSION} only (save it again with the vpio that runs it)`);
  }
  const body = bytes.subarray(PREFIX);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(12, PREFIX))) {
    throw new SnapshotError('damaged or truncated: its checksum does not match its contents');
  }
  let raw: Buffer;
  try {
    raw = gunzipSync(body, { maxOutputLength: MAX_UNPACKED });
  } catch (e) {
    throw new SnapshotError(`damaged: it does not unpack (${(e as Error).message})`);
  }
  if (raw.length < 4) throw new SnapshotError('damaged: no header');
  const headerLength = raw.readUInt32LE(0);
  if (4 + headerLength > raw.length) throw new SnapshotError('damaged: its header runs past its end');
  let header: Header;
  try {
    header = JSON.parse(raw.subarray(4, 4 + headerLength).toString('utf8')) as Header;
  } catch (e) {
    throw new SnapshotError(`damaged: its header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || !Array.isArray(header.objects) || !Array.isArray(header.buffers)
    || typeof header.info !== 'object' || header.info === null || !Number.isSafeInteger(header.info.cycle)) {
    throw new SnapshotError('damaged: its header lacks the machine, its buffers or its cycle');
  }
  let at = 4 + headerLength;
  let total = 0;
  const buffers = header.buffers.map((d, n) => {
    if (!Number.isSafeInteger(d?.length) || d.length < 0 || d.length > MAX_UNPACKED || !Array.isArray(d.pages)) throw new SnapshotError(`damaged: buffer ${n} is described wrongly`);
    total += d.length;
    if (total > MAX_BUFFERS) throw new SnapshotError(`damaged: its buffers come to more than ${MAX_BUFFERS / 2 ** 30} GiB`);
    let b: Uint8Array;
    try {
      b = new Uint8Array(d.length);
    } catch {
      throw new SnapshotError(`its buffer ${n} of ${d.length} bytes cannot be allocated here`);
    }
    const pageCount = Math.ceil(d.length / PAGE);
    let last = -1;
    for (const i of d.pages) {
      if (!Number.isSafeInteger(i) || i <= last || i >= pageCount) throw new SnapshotError(`damaged: buffer ${n} lists page ${String(i)} wrongly`);
      last = i;
      const size = Math.min(PAGE, d.length - i * PAGE);
      if (at + size > raw.length) throw new SnapshotError('damaged: its pages end early');
      b.set(raw.subarray(at, at + size), i * PAGE);
      at += size;
    }
    return b;
  });
  if (at !== raw.length) throw new SnapshotError('damaged: bytes left over after its last page');
  return { info: header.info, graph: { objects: header.objects, buffers } };
}
