/**
 * The machine's memory layout (memory.ts): RAM and the CPUs' areas in one
 * WebAssembly.Memory, the CPU's registers, code-page map and code generations in its area.
 */
import { AREA_CODE_PAGES, AREA_REGS, areaBytes, machineMemory, pageGenAt } from './memory';
import { Cpu } from './cpu';
import { CpuBus } from './bus';

function bus(ram: Uint8Array, area?: Uint8Array): CpuBus {
  return { ram, area, ioRead: () => 0xff, ioWrite: () => undefined, acknowledgeInterrupt: () => 0x20 };
}

describe('machineMemory', () => {
  it('puts the areas first and RAM after them, page-aligned, in one WebAssembly memory', () => {
    const m = machineMemory(3 << 20, 2, 1 << 20);
    expect(m.wasm).not.toBeNull();
    const a = areaBytes(1 << 20);
    expect(a % 4096).toBe(0);
    expect(a).toBeGreaterThanOrEqual(AREA_CODE_PAGES + 256 + 1);
    expect(m.areas.map((x) => [x.byteOffset, x.length])).toEqual([[0, a], [a, a]]);
    expect(m.ram.byteOffset).toBe(2 * a);
    expect(m.ram.length).toBe(3 << 20);
    for (const x of [...m.areas, m.ram]) expect(x.buffer).toBe(m.wasm!.buffer);
    expect(m.wasm!.buffer.byteLength).toBeGreaterThanOrEqual(2 * a + (3 << 20));
  });

  it('a CPU given an area keeps its registers and code-page map there, and RAM beside them', () => {
    const m = machineMemory(1 << 20, 1);
    const cpu = new Cpu(bus(m.ram, m.areas[0]));
    cpu.reg32[3] = 0x12345678;
    expect(new DataView(m.ram.buffer).getInt32(m.areas[0].byteOffset + AREA_REGS + 12, true)).toBe(0x12345678);
    cpu.reg8[1] = 0xab; // AH
    expect(m.areas[0][AREA_REGS + 1]).toBe(0xab);
    expect(cpu.codePages.buffer).toBe(m.ram.buffer);
    expect(cpu.codePages.byteOffset).toBe(m.areas[0].byteOffset + AREA_CODE_PAGES);
    expect(cpu.codePages.length).toBe(257);
    // The code generations after the map, 4-byte aligned, and all of them inside the area.
    expect(cpu.pageGen.buffer).toBe(m.ram.buffer);
    expect(cpu.pageGen.byteOffset).toBe(m.areas[0].byteOffset + pageGenAt(1 << 20));
    expect(pageGenAt(1 << 20)).toBeGreaterThanOrEqual(AREA_CODE_PAGES + 257);
    expect(cpu.pageGen.length).toBe(257);
    expect(pageGenAt(1 << 20) + 4 * 257).toBeLessThanOrEqual(areaBytes(1 << 20));
    // Dropping code in a page (a loader's write) bumps its generation there.
    cpu.codePages[5] = 1;
    cpu.invalidateCode(5 * 4096, 1);
    expect(new DataView(m.ram.buffer).getInt32(m.areas[0].byteOffset + pageGenAt(1 << 20) + 5 * 4, true)).toBe(1);
  });

  it('a CPU refuses an area outside RAM\'s buffer, misaligned or too small', () => {
    const m = machineMemory(1 << 20, 1);
    expect(() => new Cpu(bus(m.ram, new Uint8Array(areaBytes(1 << 20))))).toThrow(/area/);
    expect(() => new Cpu(bus(m.ram, new Uint8Array(m.ram.buffer, 2, areaBytes(1 << 20))))).toThrow(/area/);
    expect(() => new Cpu(bus(m.ram, new Uint8Array(m.ram.buffer, 0, 64)))).toThrow(/area/);
  });

  it('past what a WebAssembly memory may hold, the same layout in a plain buffer, and the CPU runs there', () => {
    const m = machineMemory(1 << 20, 1, 1 << 20, 8); // 1 MiB and an area need more than 8 pages of 64 KiB
    expect(m.wasm).toBeNull();
    expect(m.ram.buffer).toBeInstanceOf(ArrayBuffer);
    expect(m.ram.byteOffset).toBe(areaBytes(1 << 20));
    const cpu = new Cpu(bus(m.ram, m.areas[0]));
    m.ram.set([0xb8, 0x2a, 0, 0, 0, 0xf4], 0x1000); // mov eax, 42; hlt (real mode, CS:IP set below)
    cpu.loadRealSegment(1, 0); cpu.eip = 0x1000; // CS = 0
    cpu.run(100);
    expect(cpu.reg32[0]).toBe(42);
  });
});
