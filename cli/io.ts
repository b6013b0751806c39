/**
 * What the command line reads and writes, and how it ends (exit statuses).
 *
 * - Inputs are read whole, only from regular files, and only up to a cap checked with
 *   fstat before reading (`readInput`): `vpio run /dev/zero` is refused, not read forever.
 * - Output files (`OutputFile`) are written to a temporary file in the same directory
 *   and renamed over the target when complete, so a failed or interrupted run leaves an
 *   existing file as it was; an output that names an input (the same file by device and
 *   inode, however it is spelt) or another output is refused before anything is read.
 *   A target that exists and is not a regular file (`/dev/null`, a FIFO, `/dev/stdout`)
 *   is written in place, as there is nothing to rename over.
 * - Streams (`Sink`: stdout, stderr, a trace file) are written synchronously and never
 *   throw: the emulated path calls them from inside the CPU's run, where an exception
 *   would end the guest. The first write error is kept; the run loop looks at it at its
 *   next chunk boundary and ends the run: a closed pipe quietly with status 141 (what a
 *   shell shows for a tool killed by SIGPIPE), any other error (ENOSPC, EIO) with one
 *   line naming the file and status 6.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as os from 'os';

/**
 * Exit statuses. A guest's isa-debug-exit value V gives (V << 1) | 1, always odd, as
 * under QEMU; everything else is even, so it cannot be taken for a guest's result,
 * except the shell's own conventions for signals (128 + the signal's number).
 */
export const EXIT = {
  ok: 0,
  /** Bad usage or a bad image: one line naming the problem and the fix. */
  usage: 2,
  /** Stopped: the cycle limit, a triple fault, a halt nothing can end, a VM killed. */
  stopped: 4,
  /** An output could not be written (one line naming the file and the error). */
  output: 6,
  /** A bug in vpio (one line; the stack with VPIO_DEBUG=1). */
  internal: 8,
  /** `vpio bench`: a run gave the wrong result (marked ! in the tables). */
  wrongResult: 10,
  /** stdout or stderr is a pipe whose reader has gone (EPIPE): 128 + SIGPIPE, as a shell shows it. */
  brokenPipe: 141,
} as const;

/** 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM. */
export function signalStatus(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}

/** A problem the user can fix: one line, status 2. */
export class UsageError extends Error {}

/** An output that could not be written: one line naming it, status 6. */
export class OutputError extends Error {
  constructor(readonly file: string, readonly code: string, detail: string) {
    super(`cannot write ${file}: ${detail}`);
  }
}

/** The one-line description of a write error: "no space left on device (ENOSPC)". */
export function errnoText(e: unknown): { code: string; text: string } {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? 'EIO';
  // Node's messages read "ENOSPC: no space left on device, write": keep the middle.
  const m = /^[A-Z0-9]+: (.*?)(?:, [a-z]+(?: '.*')?)?$/.exec(err?.message ?? '');
  return { code, text: `${m ? m[1] : err?.message ?? String(e)} (${code})` };
}

/**
 * Bytes to a file descriptor, buffered and written synchronously (so all of it is out
 * before the process exits). Never throws: the first write error is kept in `error`
 * and later output is dropped.
 */
export class Sink {
  private readonly buf = Buffer.alloc(65536);
  private n = 0;
  error: { code: string; text: string } | null = null;

  /** `name`: the file, or "stdout"/"stderr", for the error line. */
  constructor(private fd: number, readonly name: string) {}

  get broken(): boolean {
    return this.error !== null;
  }

  /** The reader of a pipe went away: end quietly. */
  get brokenPipe(): boolean {
    return this.error?.code === 'EPIPE';
  }

  byte(b: number): void {
    this.buf[this.n++] = b;
    if (this.n === this.buf.length) this.flush();
  }

  line(s: string): void {
    this.write(s + '\n');
  }

  write(s: string): void {
    const b = Buffer.from(s);
    if (this.n + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) { this.writeOut(b, b.length); return; }
    b.copy(this.buf, this.n);
    this.n += b.length;
  }

  flush(): void {
    const n = this.n;
    this.n = 0;
    if (n > 0) this.writeOut(this.buf, n);
  }

  private writeOut(b: Buffer, length: number): void {
    if (this.error) return;
    try {
      let off = 0;
      while (off < length) off += fs.writeSync(this.fd, b, off, length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') { this.retry(b, length); return; }
      this.error = errnoText(e);
    }
  }

  /** A non-blocking descriptor (a pipe Node set so) that is full: wait for it, a little at a time. */
  private retry(b: Buffer, length: number): void {
    let off = 0;
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    while (off < length) {
      try {
        off += fs.writeSync(this.fd, b, off, length - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') { this.error = errnoText(e); return; }
        Atomics.wait(sleeper, 0, 0, 1);
      }
    }
  }

  /** Flushes and closes a file's descriptor (not stdout or stderr). */
  close(): void {
    this.flush();
    if (this.fd > 2) {
      try { fs.closeSync(this.fd); } catch (e) { if (!this.error) this.error = errnoText(e); }
      this.fd = -1;
    }
  }
}

export const stdout = new Sink(1, 'stdout');
export const stderr = new Sink(2, 'stderr');

/** A line on stderr, at once. */
export function warn(line: string): void {
  stderr.line(line);
  stderr.flush();
}

/** Whether stdout or stderr lost its reader. */
export function pipeBroken(): boolean {
  return stdout.brokenPipe || stderr.brokenPipe;
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function mib(bytes: number): string {
  return bytes >= 1048576 ? `${+(bytes / 1048576).toFixed(1)} MiB` : `${bytes} bytes`;
}

/**
 * Reads a whole input file: only a regular file, and only if fstat says it is at most
 * `limit.bytes` (checked before reading anything). `fix` says what to give instead;
 * `limit.what` names the limit ("what --memory 64M holds") and `limit.fix` the way out.
 */
export function readInput(file: string, limit: { bytes: number; what: string; fix: string }, fix: string): Buffer {
  if (file === '') throw new UsageError(`an empty file name; ${fix}`);
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not hang before fstat refuses it.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    const { code, text } = errnoText(e);
    throw new UsageError(code === 'ENOENT' ? `no such file: ${file}; ${fix}` : code === 'EISDIR' ? `${file} is a directory, not a file; ${fix}` : `cannot read ${file}: ${text}; ${fix}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`${file} is ${kindOf(st)}, not a file; ${fix}`);
    if (st.size > limit.bytes) throw new UsageError(`${file} is ${mib(st.size)}, more than ${limit.what} (${mib(limit.bytes)}); ${limit.fix}`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = fs.readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break; // the file shrank while we read it: what is there
      off += n;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${file}: ${errnoText(e).text}; ${fix}`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Who a path is: "dev:ino" for a file that exists (so two spellings of one file, or a
 * link to it, are the same), else its absolute path with the directory's links resolved.
 */
export function fileIdentity(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    const abs = path.resolve(file);
    try {
      return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
    } catch {
      return abs;
    }
  }
}

/** Temporary files not yet renamed into place: removed if the process ends first. */
const pending = new Set<OutputFile>();
process.on('exit', () => { for (const o of pending) o.discard(); });

/** An output file's names, to be passed between threads. */
export interface OutputDescription {
  file: string;
  option: string;
  target: string;
  temp: string | null;
}

/**
 * An output file of a run. `writePath` is where the writer writes: a temporary file
 * beside the target, renamed over it by `commit()`, or the target itself when it exists
 * and is not a regular file. `discard()` removes the temporary file, leaving the target
 * as it was.
 */
export class OutputFile {
  readonly writePath: string;
  private readonly temp: string | null;
  private done = false;

  private constructor(readonly file: string, readonly option: string, private readonly target: string, temp: string | null) {
    this.writePath = temp ?? target;
    this.temp = temp;
    if (temp) pending.add(this);
  }

  /**
   * Checks `file` for `option` and makes its temporary file. `inputs`: the files the run
   * reads, with what each is ("the kernel"); `others`: the outputs opened before.
   */
  static open(file: string, option: string, inputs: { file: string; what: string }[], others: OutputFile[]): OutputFile {
    if (file === '') throw new UsageError(`${option} needs a file name`);
    const id = fileIdentity(file);
    for (const i of inputs) {
      if (fileIdentity(i.file) === id) throw new UsageError(`${option} ${file} is ${i.what}, which this run reads; give another file to write`);
    }
    for (const o of others) {
      if (fileIdentity(o.file) === id) throw new UsageError(`${option} ${file} is the file ${o.option} writes; give each output its own file`);
    }
    let target = file;
    try {
      const st = fs.statSync(file);
      if (st.isDirectory()) throw new UsageError(`${option} ${file} is a directory; give a file name`);
      if (!st.isFile()) {
        // A device or a pipe: written in place.
        fs.accessSync(file, fs.constants.W_OK);
        return new OutputFile(file, option, file, null);
      }
      target = fs.realpathSync(file); // a link's target is what is replaced, not the link
      fs.accessSync(target, fs.constants.W_OK);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      const { code, text } = errnoText(e);
      if (code !== 'ENOENT') throw new UsageError(`cannot write ${option} ${file}: ${text}; give a writable path`);
    }
    const dir = path.dirname(target);
    const temp = path.join(dir, `.${path.basename(target)}.vpio-${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`);
    try {
      fs.closeSync(fs.openSync(temp, 'wx'));
    } catch (e) {
      const { code, text } = errnoText(e);
      throw new UsageError(code === 'ENOENT' ? `cannot write ${option} ${file}: no such directory ${dir}; give a path in a directory that exists` :
        `cannot write ${option} ${file}: ${text} (in ${dir}); give a writable path`);
    }
    return new OutputFile(file, option, target, temp);
  }

  /** Its names, for another thread to `adopt`. */
  describe(): OutputDescription {
    return { file: this.file, option: this.option, target: this.target, temp: this.temp };
  }

  /** The output another thread opened (and can no longer finish). */
  static adopt(d: OutputDescription): OutputFile {
    return new OutputFile(d.file, d.option, d.target, d.temp);
  }

  /** Puts the complete file in place. */
  commit(): void {
    if (this.done) return;
    this.done = true;
    pending.delete(this);
    if (!this.temp) return;
    try {
      fs.renameSync(this.temp, this.target);
    } catch (e) {
      this.discard();
      const { code, text } = errnoText(e);
      throw new OutputError(this.file, code, text);
    }
  }

  /** Leaves the target as it was. */
  discard(): void {
    this.done = true;
    pending.delete(this);
    if (this.temp) { try { fs.unlinkSync(this.temp); } catch { /* gone already */ } }
  }
}
