/**
 * PCI: a function's 256-byte configuration space, and the host bridge's configuration
 * mechanism #1 at 0xCF8 (CONFIG_ADDRESS) and 0xCFC-0xCFF (CONFIG_DATA).
 *
 * From the PCI Local Bus Specification 2.1/3.0: the type-0 header, the command
 * register's I/O space, memory space and bus-master bits, BAR sizing (write all ones,
 * read back the size mask with the type bits), interrupt line (read/write) and pin
 * (read-only), and byte/word/dword access to CONFIG_DATA. Devices register functions
 * into the bus; a function tells its device when its BARs or command bits change so
 * the machine can move its ports.
 */

export interface BarSpec {
  /** Size in bytes, a power of two (I/O BARs at least 4, memory BARs at least 16). */
  size: number;
  io: boolean;
}

export interface PciIdentity {
  vendor: number;
  device: number;
  revision: number;
  /** Class code: base class << 16 | subclass << 8 | programming interface. */
  classCode: number;
  subsystemVendor?: number;
  subsystem?: number;
  /** Header type byte (bit 7: multi-function). */
  headerType?: number;
  /** Interrupt pin: 1 = INTA#, ... 0 = none. */
  interruptPin?: number;
}

const COMMAND = 0x04, STATUS = 0x06, BAR0 = 0x10, INTERRUPT_LINE = 0x3c;
export const CMD_IO = 1, CMD_MEMORY = 2, CMD_BUS_MASTER = 4;

export class PciFunction {
  readonly config = new Uint8Array(256);
  /** Bits the guest may change, byte by byte. */
  private readonly writable = new Uint8Array(256);
  readonly bars: (BarSpec | null)[] = [null, null, null, null, null, null];
  /** Called after a write that changed a BAR or the command register. */
  onMappingChange: () => void = () => {};

  constructor(readonly name: string, id: PciIdentity, bars: (BarSpec | null)[] = []) {
    const c = this.config;
    const dv = new DataView(c.buffer);
    dv.setUint16(0x00, id.vendor, true);
    dv.setUint16(0x02, id.device, true);
    c[0x08] = id.revision;
    c[0x09] = id.classCode & 0xff;
    c[0x0a] = (id.classCode >> 8) & 0xff;
    c[0x0b] = (id.classCode >> 16) & 0xff;
    c[0x0e] = id.headerType ?? 0;
    dv.setUint16(0x2c, id.subsystemVendor ?? 0, true);
    dv.setUint16(0x2e, id.subsystem ?? 0, true);
    c[0x3d] = id.interruptPin ?? 0;
    this.writable[COMMAND] = CMD_IO | CMD_MEMORY | CMD_BUS_MASTER | 0x40 /* parity */;
    this.writable[COMMAND + 1] = 0x05; // SERR#, interrupt disable
    this.writable[0x0c] = 0xff; // cache line size
    this.writable[0x0d] = 0xff; // latency timer
    this.writable[INTERRUPT_LINE] = 0xff;
    bars.forEach((b, i) => {
      if (!b) return;
      this.bars[i] = b;
      const mask = (~(b.size - 1) & (b.io ? 0xfffffffc : 0xfffffff0)) >>> 0;
      for (let k = 0; k < 4; k++) this.writable[BAR0 + i * 4 + k] = (mask >>> (k * 8)) & 0xff;
      c[BAR0 + i * 4] = b.io ? 1 : 0;
    });
  }

  get command(): number {
    return this.config[COMMAND] | (this.config[COMMAND + 1] << 8);
  }

  get ioEnabled(): boolean { return (this.command & CMD_IO) !== 0; }
  get memoryEnabled(): boolean { return (this.command & CMD_MEMORY) !== 0; }
  get busMaster(): boolean { return (this.command & CMD_BUS_MASTER) !== 0; }
  get interruptLine(): number { return this.config[INTERRUPT_LINE]; }
  set interruptLine(v: number) { this.config[INTERRUPT_LINE] = v; }

  /** The address BAR `i` is programmed with (type bits removed). */
  barAddress(i: number): number {
    const b = this.bars[i];
    if (!b) return 0;
    const v = new DataView(this.config.buffer).getUint32(BAR0 + i * 4, true);
    return (v & (b.io ? 0xfffffffc : 0xfffffff0)) >>> 0;
  }

  /** Sets a BAR as firmware would. */
  setBar(i: number, address: number): void {
    const b = this.bars[i];
    if (!b) return;
    const v = ((address & (b.io ? 0xfffffffc : 0xfffffff0)) | (b.io ? 1 : 0)) >>> 0;
    new DataView(this.config.buffer).setUint32(BAR0 + i * 4, v, true);
    this.onMappingChange();
  }

  setCommand(bits: number): void {
    this.config[COMMAND] = bits & 0xff;
    this.config[COMMAND + 1] = (bits >> 8) & 0xff;
    this.onMappingChange();
  }

  read(offset: number, size: number): number {
    let v = 0;
    for (let k = size - 1; k >= 0; k--) v = (v << 8) | this.config[(offset + k) & 0xff];
    return size === 4 ? v >>> 0 : v;
  }

  write(offset: number, size: number, value: number): void {
    let changed = false;
    for (let k = 0; k < size; k++) {
      const at = (offset + k) & 0xff;
      const byte = (value >>> (k * 8)) & 0xff;
      if (at === STATUS + 1) {
        this.config[at] &= ~(byte & 0xf9); // status error bits are write-one-to-clear
        continue;
      }
      const w = this.writable[at];
      const nv = (this.config[at] & ~w) | (byte & w);
      if (nv !== this.config[at]) {
        this.config[at] = nv;
        if (at === COMMAND || at === COMMAND + 1 || (at >= BAR0 && at < BAR0 + 24)) changed = true;
      }
    }
    if (changed) this.onMappingChange();
  }
}

/** Bus 0 and configuration mechanism #1. */
export class PciHost {
  private readonly slots = new Map<number, PciFunction>();
  /** CONFIG_ADDRESS as last written (bit 31 enable, bus 23-16, device 15-11, function 10-8, register 7-2). */
  address = 0;

  /** Places `fn` at device `dev`, function `func` on bus 0. */
  add(dev: number, func: number, fn: PciFunction): void {
    const key = (dev << 3) | func;
    if (this.slots.has(key)) throw new Error(`PCI 00:${dev.toString(16).padStart(2, '0')}.${func} is taken`);
    this.slots.set(key, fn);
  }

  functions(): { dev: number; func: number; fn: PciFunction }[] {
    return [...this.slots.entries()].sort((a, b) => a[0] - b[0]).map(([k, fn]) => ({ dev: k >> 3, func: k & 7, fn }));
  }

  private target(): PciFunction | undefined {
    if (!(this.address & 0x80000000)) return undefined;
    if ((this.address >>> 16) & 0xff) return undefined; // only bus 0
    return this.slots.get((this.address >>> 8) & 0xff);
  }

  read(port: number, size: number): number {
    if (port >= 0xcf8 && port < 0xcfc) {
      // Only a dword access addresses CONFIG_ADDRESS; narrower ones go to the ISA bus.
      return port === 0xcf8 && size === 4 ? this.address >>> 0 : (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1);
    }
    const fn = this.target();
    const all = size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    if (!fn) return all; // no device: master abort reads all ones
    return fn.read((this.address & 0xfc) + (port & 3), size);
  }

  write(port: number, size: number, value: number): void {
    if (port >= 0xcf8 && port < 0xcfc) {
      if (port === 0xcf8 && size === 4) this.address = (value & 0x80fffffc) >>> 0;
      return;
    }
    const fn = this.target();
    if (fn) fn.write((this.address & 0xfc) + (port & 3), size, value);
  }
}

/**
 * The chipset functions QEMU's default `pc` machine always has (i440FX host bridge,
 * PIIX3 ISA bridge, PIIX3 IDE, PIIX4 ACPI), with their identities only, so that a
 * guest enumerating the bus sees the same functions here and under QEMU.
 */
export function addI440fxChipset(host: PciHost): void {
  host.add(0, 0, new PciFunction('i440FX host bridge', { vendor: 0x8086, device: 0x1237, revision: 0x02, classCode: 0x060000 }));
  host.add(1, 0, new PciFunction('PIIX3 ISA bridge', { vendor: 0x8086, device: 0x7000, revision: 0x00, classCode: 0x060100, headerType: 0x80 }));
  host.add(1, 1, new PciFunction('PIIX3 IDE', { vendor: 0x8086, device: 0x7010, revision: 0x00, classCode: 0x010180 },
    [null, null, null, null, { size: 16, io: true }]));
  host.add(1, 3, new PciFunction('PIIX4 ACPI', { vendor: 0x8086, device: 0x7113, revision: 0x03, classCode: 0x068000, interruptPin: 1 }));
}

/**
 * What the BIOS does to PCI before a Multiboot kernel runs, as SeaBIOS does it on
 * QEMU's i440FX machine, so that guests find the same BARs and IRQ lines here:
 * I/O BARs from 0xC000 up and memory BARs downward from 0xFEC00000, each region's BARs
 * placed largest first; the command register's I/O and memory bits set for the spaces a
 * function uses; interrupt lines from the PIIX PIRQ routing (links A-D to IRQs 10, 10,
 * 11, 11, rotated by slot), and IRQ 9 for the PIIX4 ACPI function (its SCI).
 */
export function firmwareSetup(host: PciHost): void {
  const ioBars: { fn: PciFunction; bar: number; size: number }[] = [];
  const memBars: { fn: PciFunction; bar: number; size: number }[] = [];
  for (const { fn } of host.functions()) {
    fn.bars.forEach((b, bar) => { if (b) (b.io ? ioBars : memBars).push({ fn, bar, size: b.size }); });
  }
  const bySize = (a: { size: number }, b: { size: number }) => b.size - a.size;
  let io = 0xc000;
  for (const b of ioBars.sort(bySize)) {
    io = Math.ceil(io / b.size) * b.size;
    b.fn.setBar(b.bar, io);
    io += b.size;
  }
  const memTotal = memBars.reduce((n, b) => n + b.size, 0);
  let mem = 0xfec00000 - memTotal;
  for (const b of memBars.sort(bySize)) {
    mem = Math.ceil(mem / b.size) * b.size;
    b.fn.setBar(b.bar, mem);
    mem += b.size;
  }
  const PIRQ = [10, 10, 11, 11];
  for (const { dev, fn } of host.functions()) {
    let cmd = fn.command;
    if (fn.bars.some((b) => b?.io)) cmd |= CMD_IO;
    if (fn.bars.some((b) => b && !b.io)) cmd |= CMD_MEMORY;
    if (cmd !== fn.command) fn.setCommand(cmd);
    const pin = fn.config[0x3d];
    if (pin === 0) continue;
    const isAcpi = fn.config[0] === 0x86 && fn.config[1] === 0x80 && fn.config[2] === 0x13 && fn.config[3] === 0x71;
    fn.interruptLine = isAcpi ? 9 : PIRQ[(pin - 1 + dev - 1) & 3];
  }
}
