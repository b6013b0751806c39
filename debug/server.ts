/**
 * The debugger's end of a gdb session, in the main thread: a TCP server for one gdb at a
 * time, whose bytes go to the worker's DebugSession through shared memory and whose
 * replies (posted by the worker) go back on the socket. A second debugger while one is
 * connected is refused (closed at once), as QEMU refuses it.
 */
import * as net from 'net';
import { CTL_ATTENTION, CTL_CONNECTED, CTL_GENERATION, CTL_READ, CTL_WRITTEN, RING_BYTES } from './session';

/**
 * `[HOST:]PORT` as --gdb takes it (QEMU's `tcp::PORT` too); the host defaults to
 * 127.0.0.1 (gdb's protocol has no authentication: listening on every interface is for
 * the user to ask for, with 0.0.0.0). Port 0: one the system picks (said on stderr).
 */
export function parseGdbAddress(text: string): { host: string; port: number } | null {
  const m = /^(?:tcp:)?(?:(.*):)?([0-9]{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[2]);
  if (port > 65535) return null;
  const host = m[1] === undefined || m[1] === '' ? '127.0.0.1' : m[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

export class GdbServer {
  private readonly ctl: Int32Array;
  private readonly ring: Uint8Array;
  private socket: net.Socket | null = null;
  private readonly server: net.Server;

  constructor(buffer: SharedArrayBuffer) {
    this.ctl = new Int32Array(buffer, 0, 8);
    this.ring = new Uint8Array(buffer, 32, RING_BYTES);
    this.server = net.createServer((s) => this.accept(s));
  }

  /** Listens; resolves with the port once listening, rejects with the system's error (EADDRINUSE, say). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
  }

  /** A reply from the session. */
  send(text: string): void {
    this.socket?.write(Buffer.from(text, 'latin1'));
  }

  close(): void {
    this.socket?.destroy();
    this.server.close();
  }

  private accept(s: net.Socket): void {
    if (this.socket !== null) { s.destroy(); return; }
    this.socket = s;
    s.setNoDelay(true);
    this.changed(1);
    s.on('data', (chunk: Buffer) => {
      let w = Atomics.load(this.ctl, CTL_WRITTEN);
      const r = Atomics.load(this.ctl, CTL_READ);
      let interrupt = false;
      for (const b of chunk) {
        if (((w - r) | 0) >= RING_BYTES - 1) break; // the session is not reading: a debugger never sends this much unanswered
        this.ring[w % RING_BYTES] = b;
        w = (w + 1) | 0;
        if (w < 0) w = 0;
        if (b === 0x03) interrupt = true;
      }
      Atomics.store(this.ctl, CTL_WRITTEN, w);
      if (interrupt) Atomics.store(this.ctl, CTL_ATTENTION, 1);
      Atomics.notify(this.ctl, CTL_WRITTEN);
    });
    const gone = () => { if (this.socket === s) { this.socket = null; this.changed(0); } };
    s.on('close', gone);
    s.on('error', gone);
  }

  private changed(connected: number): void {
    Atomics.store(this.ctl, CTL_CONNECTED, connected);
    Atomics.add(this.ctl, CTL_GENERATION, 1);
    Atomics.store(this.ctl, CTL_ATTENTION, 1);
    Atomics.notify(this.ctl, CTL_WRITTEN);
  }
}
