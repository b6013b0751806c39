/**
 * `vpio run --save-at CYCLE:FILE` and `--restore FILE` (docs/DEBUGGING.md, "Snapshots"):
 * the command line's side of snapshot/. A file records the options that shape the
 * machine; a restore is given the same kernels and options (as QEMU's -loadvm is), is
 * refused with the options that differ named, and then builds the machine as the saving
 * run did and loads the file into it before the first instruction.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { saveGraph, loadGraph, SnapshotError, SavedGraph } from '../snapshot/graph';
import { encodeSnapshot, decodeSnapshot, SnapshotInfo } from '../snapshot/file';
import { MACHINE_RULES } from '../snapshot/machine';
import { SnapshotPager } from '../snapshot/memory';
import { OutputFile, UsageError, readInput, errnoText, OutputError } from './io';
import { parseCycles } from './numbers';

export interface SavePoint {
  cycle: number;
  file: string;
}

/** A file may be at most this large (Node's largest buffer). */
const SNAPSHOT_MAX_BYTES = 2 ** 32 - 1;

/** `--save-at CYCLE:FILE`, each: in the order of their cycles. */
export function parseSavePoints(list: readonly string[], maxCycles: number): SavePoint[] {
  const points = list.map((text) => {
    const colon = text.indexOf(':');
    if (colon < 0) throw new UsageError(`bad --save-at '${text}'; give CYCLE:FILE, such as 2e9:boot.snap`);
    const cycle = parseCycles(text.slice(0, colon), '--save-at');
    const file = text.slice(colon + 1);
    if (file.trim() === '') throw new UsageError(`--save-at ${text} needs a file name after the colon`);
    if (cycle > maxCycles) throw new UsageError(`--save-at ${text} is past --max-cycles (${maxCycles}); the run stops before it`);
    return { cycle, file };
  });
  return points.sort((a, b) => a.cycle - b.cycle);
}

export function sha256(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : createHash('sha256').update(bytes).digest('hex');
}

/** A snapshot read and checked, with the file it came from. */
export interface Restore {
  file: string;
  info: SnapshotInfo;
  graph: SavedGraph;
}

/** Reads `--restore FILE`; a file that is not a snapshot of this version, or is damaged, is a UsageError. */
export function readSnapshot(file: string): Restore {
  const fix = 'give a file written by vpio run --save-at';
  const bytes = readInput(file, { bytes: SNAPSHOT_MAX_BYTES, what: 'a snapshot can be', fix }, fix);
  try {
    const { info, graph } = decodeSnapshot(bytes);
    return { file, info, graph };
  } catch (e) {
    if (e instanceof SnapshotError) throw new UsageError(`--restore ${file}: ${e.message}`);
    throw e;
  }
}

/**
 * Refuses a restore whose machine options differ from the saving run's, naming each:
 * the same image files are compared by content.
 */
export function checkSameMachine(r: Restore, machine: Record<string, unknown>): void {
  const saved = r.info.machine ?? {};
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(machine)])];
  const differ = keys.filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(machine[k]));
  if (differ.length === 0) return;
  const show = (v: unknown) => (v === undefined ? '(none)' : typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? `a file of SHA-256 ${v.slice(0, 12)}...` : JSON.stringify(v));
  const lines = differ.map((k) => `${k}: saved with ${show(saved[k])}, given ${show(machine[k])}`);
  throw new UsageError(`--restore ${r.file} was saved from another machine; give the kernels and options of the run that saved it (${lines.join('; ')})`);
}

/** Loads a checked snapshot into a machine just built from the same options. */
export function restoreInto(root: object, r: Restore): void {
  try {
    loadGraph(root, r.graph, MACHINE_RULES);
  } catch (e) {
    // A file that passed its checksum but does not describe this machine: made by hand,
    // or by a vpio whose machine differs while its format version does not.
    throw new UsageError(`--restore ${r.file}: it does not fit this machine (${e instanceof SnapshotError ? e.message : String(e)})`);
  }
}

/** Saves the machine to its output file now (written beside it, then put in place); returns the file's size. */
export function saveSnapshot(out: OutputFile, root: object, info: SnapshotInfo): number {
  let bytes: Buffer;
  try {
    bytes = encodeSnapshot(info, saveGraph(root, MACHINE_RULES));
  } catch (e) {
    out.discard();
    throw e;
  }
  try {
    fs.writeFileSync(out.writePath, bytes);
  } catch (e) {
    out.discard();
    const { code, text } = errnoText(e);
    throw new OutputError(out.file, code, text);
  }
  out.commit();
  return bytes.length;
}

/** A debugger's checkpoints (debug/session.ts): in memory, unchanged pages shared. */
export function checkpointer(): SnapshotPager {
  return new SnapshotPager(MACHINE_RULES);
}

/**
 * `monitor save FILE` from gdb: the machine as it stands, to FILE (written beside it and
 * put in place). Returns the line gdb shows: what was saved, or why not. The debugger's
 * writes to registers or memory are in the file: a restore starts from them.
 */
export function saveFromDebugger(file: string, root: object, machine: Record<string, unknown>, cycle: number): string {
  try {
    const size = saveSnapshot(OutputFile.open(file, 'monitor save', [], []), root, { machine, cycle });
    return `saved the machine at cycle ${cycle} to ${file} (${size} bytes); vpio run --restore ${file} with this run's kernels and options goes on from here`;
  } catch (e) {
    if (e instanceof UsageError || e instanceof OutputError || e instanceof SnapshotError) return `not saved: ${e.message}`;
    throw e;
  }
}

