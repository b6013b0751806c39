/**
 * The two debug ports guests use to talk to their host:
 * - 0xE9, the Bochs/QEMU debug console: a byte written is printed; a read returns 0xE9
 *   (how guests detect it).
 * - isa-debug-exit at 0xF4 (4 ports), QEMU-compatible (`-device isa-debug-exit,
 *   iobase=0xf4,iosize=0x04`): writing V, of any width, ends the run and the process
 *   exits with status (V << 1) | 1, as QEMU's hw/misc/debugexit.c does.
 */
import { PortDevice } from './port-bus';

export class DebugConsole implements PortDevice {
  onOutput: (byte: number) => void = () => {};
  read(): number { return 0xe9; }
  write(_offset: number, _size: number, value: number): void { this.onOutput(value & 0xff); }
}

export class DebugExit implements PortDevice {
  /** The value written, or -1 until the guest writes one. */
  value = -1;
  onExit: (value: number) => void = () => {};
  read(_offset: number, size: number): number { return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff; }
  write(_offset: number, size: number, value: number): void {
    const v = size === 4 ? value >>> 0 : value & (size === 2 ? 0xffff : 0xff);
    this.value = v;
    this.onExit(v);
  }
  /** The process exit status QEMU would give: (V << 1) | 1, truncated as an exit status is. */
  static status(value: number): number {
    return ((value << 1) | 1) & 0xff;
  }
}
