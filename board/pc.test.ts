/**
 * The machine as a whole: the same image, options and seed give the same output and
 * the same final cycle count, run after run, and with the translator on or off; the
 * PIT drives IRQ 0 through the PIC into the CPU; port accesses cost their bus latency.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Pc } from './pc';
import { PortBus } from '../devices/port-bus';
import { DEFAULT_COSTS } from '../devices/costs';
import { multibootElf } from './testing-elf';

const ROOT = path.join(__dirname, '..');

function run(image: Uint8Array, cmdline: string, translate: boolean, maxCycles = 50e9) {
  let out = '';
  const pc = new Pc({ memoryBytes: 64 << 20, console: (b) => { out += String.fromCharCode(b); } });
  pc.cpu.useTranslator = translate;
  pc.boot(image, cmdline);
  const result = pc.run(maxCycles);
  return { out, result, cycles: pc.cpu.cycles, instructions: pc.cpu.instructions };
}

/**
 * Programs the PIC (vectors 0x20), the PIT at 1193 (1 kHz), an IDT whose vector 0x20
 * handler counts in EBX and EOIs the PIC; waits with STI/HLT until 5 ticks and writes
 * the count to isa-debug-exit.
 */
function picTicks(apic: boolean) {
  const code = [
    // mov esp, 0x180000 (Multiboot leaves ESP undefined)
    0xbc, 0x00, 0x00, 0x18, 0x00,
    // lidt [idtr]
    0x0f, 0x01, 0x1d, 0x00, 0x20, 0x10, 0x00,
    // PIC init: 0x11 -> 0x20, 0x20 -> 0x21, 0x04 -> 0x21, 0x01 -> 0x21, mask 0xfe
    0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6, 0x21, 0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21, 0xb0, 0xfe, 0xe6, 0x21,
    // PIT ch0 mode 2, 1193
    0xb0, 0x34, 0xe6, 0x43, 0xb0, 0xa9, 0xe6, 0x40, 0xb0, 0x04, 0xe6, 0x40,
    // xor ebx, ebx ; loop: sti ; hlt ; cmp ebx, 5 ; jb loop
    0x31, 0xdb, 0xfb, 0xf4, 0x83, 0xfb, 0x05, 0x72, 0xf9,
    // mov al, bl ; out 0xf4, al
    0x88, 0xd8, 0xe6, 0xf4,
  ];
  const image = multibootElf(code, { bss: 0x3000 });
  const pc = new Pc({ memoryBytes: 16 << 20, apic });
  pc.boot(image, 'k');
  // IDTR at 0x102000 (limit 0x7ff, base 0x102100); gate 0x20 -> handler at 0x102900
  const dv = new DataView(pc.ram.buffer, pc.ram.byteOffset);
  dv.setUint16(0x102000, 0x7ff, true); dv.setUint32(0x102002, 0x102100, true);
  dv.setUint32(0x102100 + 0x20 * 8, (0x08 << 16) | 0x2900, true); dv.setUint32(0x102104 + 0x20 * 8, 0x00108e00, true);
  // handler: inc ebx ; mov al, 0x20 ; out 0x20, al ; iret
  pc.ram.set([0x43, 0xb0, 0x20, 0xe6, 0x20, 0xcf], 0x102900);
  // the GDT the gate's selector needs
  dv.setUint32(0x103008, 0x0000ffff, true); dv.setUint32(0x10300c, 0x00cf9a00, true);
  pc.cpu.gdtrBase = 0x103000; pc.cpu.gdtrLimit = 15;
  return { result: pc.run(1e10), cycles: pc.cpu.cycles };
}

describe('the PC', () => {
  const cpubound = new Uint8Array(fs.readFileSync(path.join(ROOT, 'guests/bin/cpubound.elf')));

  it('is deterministic: same output, cycles and instructions, run after run and in both CPU modes', () => {
    const a = run(cpubound, 'cpubound iterations=1', true);
    const b = run(cpubound, 'cpubound iterations=1', true);
    const c = run(cpubound, 'cpubound iterations=1', false);
    expect(a.result.kind).toBe('exit');
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('delivers PIT ticks as IRQ 0 through the PIC to an interrupt handler', () => {
    const { result, cycles } = picTicks(false);
    expect(result).toEqual({ kind: 'exit', value: 5, status: 11 });
    // Five 1193-tick periods at 1.193182 MHz, on a 2 GHz clock: just over 10 ms.
    const period = (1193 * DEFAULT_COSTS.cpuHz) / DEFAULT_COSTS.pitHz;
    expect(cycles).toBeGreaterThanOrEqual(5 * period);
    expect(cycles).toBeLessThan(5 * period + 100000);
  });

  it('hands a Multiboot kernel the CPU, PICs and PIT as QEMU 7.2 and SeaBIOS 1.16 leave them', () => {
    // The values guests/programs/boot-state.S reads under qemu-system-i386 (guests/expected/boot-state.out).
    const pc = new Pc({ memoryBytes: 64 << 20 });
    pc.boot(multibootElf([0xf4]), 'k');
    const c = pc.cpu;
    expect([c.gdtrBase, c.gdtrLimit, c.idtrBase, c.idtrLimit, c.cr0, c.getEflags()]).toEqual([0xc02b8, 0x27, 0, 0x3ff, 0x11, 0x6]);
    expect(Array.from(c.reg32)).toEqual([0x2badb002, 0x10000c, 0x511, 0x9500, 0x6f08, 0, 0, 0x1000].map((v) => v | 0));
    const { master, slave } = pc.pic;
    expect([master.vectorBase, master.imr, master.isr, slave.vectorBase, slave.imr, slave.isr, slave.elcr]).toEqual([0x08, 0xb8, 0, 0x70, 0x8e, 0, 0x0c]);
    // PIT channel 0: mode 2, LSB then MSB, binary, count 65536, counting: IRQ 0 within 65536 ticks.
    const ch0 = pc.pit.channels[0];
    expect([ch0.mode, ch0.rw, ch0.bcd, ch0.count, ch0.loadTick >= 0]).toEqual([2, 3, false, 0x10000, true]);
    expect(pc.clock.nextDue()).toBeLessThanOrEqual(Math.ceil((0x10001 * DEFAULT_COSTS.cpuHz) / DEFAULT_COSTS.pitHz));
  });

  it('charges each port access its bus latency from the cost table', () => {
    // in al, 0x61 (chipset) x3 ; out 0xf4, al
    const pc = new Pc({ memoryBytes: 4 << 20 });
    pc.boot(multibootElf([0xe4, 0x61, 0xe4, 0x61, 0xe4, 0x61, 0xe6, 0xf4]), 'k');
    pc.run(1e9);
    expect(pc.cpu.cycles).toBe(4 * DEFAULT_COSTS.instructionCycles + 3 * DEFAULT_COSTS.chipsetAccessCycles + DEFAULT_COSTS.isaAccessCycles);
  });
});

describe('the PC with an APIC (--apic)', () => {
  /** Runs `code` as a Multiboot kernel and returns what it wrote to isa-debug-exit. */
  function exitValue(code: number[], apic: boolean): number {
    const pc = new Pc({ memoryBytes: 16 << 20, apic });
    pc.boot(multibootElf(code), 'k');
    const r = pc.run(1e9);
    if (r.kind !== 'exit') throw new Error(`the guest ended with ${r.kind}`);
    return r.value;
  }

  it('says so in CPUID (leaf 1 EDX bit 9) only with one', () => {
    // mov eax, 1 ; cpuid ; mov eax, edx ; shr eax, 9 ; and al, 1 ; out 0xf4, al
    const code = [0xb8, 1, 0, 0, 0, 0x0f, 0xa2, 0x89, 0xd0, 0xc1, 0xe8, 0x09, 0x24, 0x01, 0xe6, 0xf4];
    expect(exitValue(code, true)).toBe(1);
    expect(exitValue(code, false)).toBe(0);
  });

  it('reads IA32_APIC_BASE as the bootstrap processor\'s enabled APIC at 0xFEE00000, and without one the MSR raises #GP', () => {
    // mov ecx, 0x1b ; rdmsr ; shr eax, 8 ; out 0xf4, al (bits 8-15: BSP and global enable)
    const code = [0xb9, 0x1b, 0, 0, 0, 0x0f, 0x32, 0xc1, 0xe8, 0x08, 0xe6, 0xf4];
    expect(exitValue(code, true)).toBe(0x09);
    const pc = new Pc({ memoryBytes: 16 << 20 });
    pc.boot(multibootElf(code), 'k');
    expect(pc.run(1e9).kind).toBe('triple-fault'); // #GP with no IDT
  });

  it('delivers PIT ticks through I/O APIC pin 2 and the local APIC, ended by a write of the EOI register', () => {
    // Both 8259s masked; I/O APIC entry 2 (IOREGSEL 0x14) to vector 0x30, fixed, edge,
    // unmasked; the PIT at 1 kHz; count ticks in EBX with STI/HLT until 5.
    const code = [
      0xbc, 0x00, 0x00, 0x18, 0x00, // mov esp, 0x180000
      0x0f, 0x01, 0x1d, 0x00, 0x20, 0x10, 0x00, // lidt [0x102000]
      0xb0, 0xff, 0xe6, 0x21, 0xe6, 0xa1, // mask the 8259s
      0xc7, 0x05, 0x00, 0x00, 0xc0, 0xfe, 0x14, 0, 0, 0, // mov dword [0xfec00000], 0x14
      0xc7, 0x05, 0x10, 0x00, 0xc0, 0xfe, 0x30, 0, 0, 0, // mov dword [0xfec00010], 0x30
      0xb0, 0x34, 0xe6, 0x43, 0xb0, 0xa9, 0xe6, 0x40, 0xb0, 0x04, 0xe6, 0x40, // PIT ch0 mode 2, 1193
      0x31, 0xdb, 0xfb, 0xf4, 0x83, 0xfb, 0x05, 0x72, 0xf9, // xor ebx, ebx ; sti ; hlt ; cmp ebx, 5 ; jb
      0x88, 0xd8, 0xe6, 0xf4, // mov al, bl ; out 0xf4, al
    ];
    const boot = () => {
      const pc = new Pc({ memoryBytes: 16 << 20, apic: true });
      pc.boot(multibootElf(code, { bss: 0x3000 }), 'k');
      const dv = new DataView(pc.ram.buffer, pc.ram.byteOffset);
      dv.setUint16(0x102000, 0x7ff, true); dv.setUint32(0x102002, 0x102100, true);
      dv.setUint32(0x102100 + 0x30 * 8, (0x08 << 16) | 0x2900, true); dv.setUint32(0x102104 + 0x30 * 8, 0x00108e00, true);
      // handler: inc ebx ; mov dword [0xfee000b0], 0 ; iret
      pc.ram.set([0x43, 0xc7, 0x05, 0xb0, 0x00, 0xe0, 0xfe, 0, 0, 0, 0, 0xcf], 0x102900);
      dv.setUint32(0x103008, 0x0000ffff, true); dv.setUint32(0x10300c, 0x00cf9a00, true);
      pc.cpu.gdtrBase = 0x103000; pc.cpu.gdtrLimit = 15;
      return pc;
    };
    const pc = boot();
    expect(pc.run(1e10)).toEqual({ kind: 'exit', value: 5, status: 11 });
    const period = (1193 * DEFAULT_COSTS.cpuHz) / DEFAULT_COSTS.pitHz;
    expect(pc.cpu.cycles).toBeGreaterThanOrEqual(5 * period);
    expect(pc.cpu.cycles).toBeLessThan(5 * period + 100000);
    expect(pc.platform.lapic!.read(0x100 + 0x10, 4)).toBe(0); // nothing left in service (ISR of vector 0x30)
    // Deterministic, interpreted or translated: the same cycle count again.
    const again = boot();
    again.cpu.useTranslator = false;
    again.run(1e10);
    expect(again.cpu.cycles).toBe(pc.cpu.cycles);
  });

  it('passes the 8259s\' interrupts through the local APIC\'s LINT0 (virtual wire, as firmware leaves it) to a guest that knows no APIC', () => {
    expect(picTicks(true)).toEqual(picTicks(false));
    expect(picTicks(true).result).toEqual({ kind: 'exit', value: 5, status: 11 });
  });
});

describe('the PC under hostile port traffic', () => {
  it('survives a million random port writes and reads: no exception, unmapped ports read all ones', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const seedrandom = require('seedrandom');
    const rng = seedrandom('port-fuzz');
    const traced: string[] = [];
    const pc = new Pc({ memoryBytes: 4 << 20, trace: (l) => traced.push(l), traceKinds: new Set() });
    const ports = [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x92, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0xcf8, 0xcf9, 0xcfc, 0xcfd, 0xcfe, 0xcff, 0x80, 0xe9];
    for (let i = 0; i < 1_000_000; i++) {
      const port = rng() < 0.9 ? ports[(rng() * ports.length) | 0] : (rng() * 0x10000) | 0;
      if (port === 0x92) continue; // bit 0 resets the machine, which ends a run: hypervisor/machine-end.test.ts
      const size = [1, 2, 4][(rng() * 3) | 0];
      if (rng() < 0.5) pc.ioWrite(port, size, (rng() * 0x100000000) >>> 0);
      else pc.ioRead(port, size);
      if ((i & 0xffff) === 0) pc.clock.advanceTo(pc.cpu.cycles);
    }
    expect(pc.ioRead(0x1234, 2)).toBe(0xffff);
    // Ignored writes are logged once per (device, port, value), never per access.
    expect(new Set(traced).size).toBe(traced.length);
  });
});

describe('block transfers through the data port (REP INS/OUTS on the NE2000)', () => {
  const image = (name: string) => new Uint8Array(fs.readFileSync(path.join(ROOT, 'guests', 'bin', `${name}.elf`)));
  function net(name: string, cmdline: string, nic: 'ne2000' | 'ne2000-isa', peer: 'sink' | 'source', blocks: boolean) {
    let out = '';
    const pc = new Pc({
      memoryBytes: 64 << 20, nic, console: (b) => { out += String.fromCharCode(b); },
      peers: [peer === 'sink' ? { kind: 'sink' } : { kind: 'source', rate: 2000, size: 1000, count: 300 }],
    });
    if (!blocks) Object.assign(pc, { ioWriteBlock: undefined, ioReadBlock: undefined });
    pc.boot(image(name), `${name}.elf ${cmdline}`);
    const result = pc.run(50e9);
    return { out, result, cycles: pc.cpu.cycles, instructions: pc.cpu.instructions };
  }
  for (const nic of ['ne2000', 'ne2000-isa'] as const) {
    it(`gives the same run as one access at a time: udp-tx and udp-rx on the ${nic}`, () => {
      const tx = net('udp-tx', 'count=200 size=1472', nic, 'sink', true);
      expect(tx.out).toMatch(/udp-tx: 200 datagrams of 1472 bytes, 0 errors/);
      expect(tx).toEqual(net('udp-tx', 'count=200 size=1472', nic, 'sink', false));
      const rx = net('udp-rx', 'count=300', nic, 'source', true);
      expect(rx.out).toMatch(/udp-rx: 300 datagrams, 300000 bytes, 0 lost/);
      expect(rx).toEqual(net('udp-rx', 'count=300', nic, 'source', false));
    });
  }

  it('makes a block of the accesses that start inside the budget, and charges each its latency', () => {
    const bus = new PortBus();
    let charged = 0;
    bus.charge = (c) => { charged += c; };
    const seen: number[] = [];
    bus.map('dev', 0x100, 4, {
      read: () => 0, write: () => {},
      writeBlock: (_off, size, src, at, count) => { for (let i = 0; i < count; i++) seen.push(src[at + i * size]); return count; },
    }, 10);
    const src = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Accesses of 10 cycles each plus 1 of the CPU's: the fifth starts at 44.
    expect(bus.writeBlock(0x100, 2, src, 0, 5, 44, 1)).toBe(4);
    expect(bus.writeBlock(0x100, 2, src, 0, 5, 45, 1)).toBe(5);
    expect(bus.writeBlock(0x100, 2, src, 0, 5, 1, 1)).toBe(1);
    expect(bus.writeBlock(0x100, 2, src, 0, 5, 0, 1)).toBe(0); // the slice is over
    expect(seen).toEqual([1, 3, 5, 7, 1, 3, 5, 7, 9, 1]);
    expect(charged).toBe(100);
    expect(bus.writeBlock(0x200, 2, src, 0, 5, 1e9, 1)).toBe(0); // nothing mapped there
    expect(bus.readBlock(0x100, 2, src, 0, 5, 1e9, 1)).toBe(0); // no read block on this device
    bus.trace = () => {};
    expect(bus.writeBlock(0x100, 2, src, 0, 5, 1e9, 1)).toBe(0); // a traced port sees every access
  });
});
