/**
 * A guest that powers its machine off (ACPI soft-off through the PIIX4's PM1a_CNT) or
 * resets it (the 8042's reset line, the PIIX reset control register at 0xCF9, port
 * 0x92) ends the run with status 0 at that instruction, as `qemu-system-i386
 * -no-reboot` does: on the bare machine, and under the hypervisor, where it ends only
 * that VM.
 */
import { Pc } from '../board/pc';
import { multibootElf, asm } from '../board/testing-elf';
import { Host } from './host';
import { DEFAULT_MAC } from '../devices/nic';

const MiB = 1024 * 1024;
const { movDx, outb, spin, exitWith } = asm;
/** mov dx, port; mov ax, v; out dx, ax */
const outw = (port: number, v: number) => [...movDx(port), 0x66, 0xb8, v & 0xff, v >> 8, 0x66, 0xef];
/** jmp $ */
const FOREVER = [0xeb, 0xfe];

/** The guests, each followed by a spin that only the cycle limit would end. */
const GUESTS: { name: string; code: number[]; end: 'power-off' | 'reset' }[] = [
  // ACPICA's acpi_hw_legacy_sleep: SLP_TYP (0, QEMU's \_S5) alone, then with SLP_EN (bit 13).
  { name: 'poweroff: SLP_TYP then SLP_TYP|SLP_EN to PM1a_CNT (0x604)', code: [...outw(0x604, 0x0001), ...outw(0x604, 0x2001), ...FOREVER], end: 'power-off' },
  { name: 'reboot: 0xFE to the 8042 (0x64)', code: [...outb(0x64, 0xfe), ...FOREVER], end: 'reset' },
  { name: 'reboot=pci: 0x02 then 0x06 to 0xCF9', code: [...outb(0xcf9, 0x02), ...outb(0xcf9, 0x06), ...FOREVER], end: 'reset' },
  { name: 'a fast reset: bit 0 of port 0x92', code: [...outb(0x92, 0x03), ...FOREVER], end: 'reset' },
];

describe('power-off and reset end the run with status 0', () => {
  for (const g of GUESTS) {
    it(`on the bare machine: ${g.name}`, () => {
      const pc = new Pc({ memoryBytes: 16 * MiB });
      pc.boot(multibootElf(g.code), 'k');
      const r = pc.run(1e9);
      expect(r).toEqual({ kind: g.end, status: 0 });
      expect(pc.cpu.cycles).toBeLessThan(1e5); // at the write, not at the limit
    });

    it(`under the hypervisor, ending only that VM: ${g.name}`, () => {
      const h = new Host({
        mode: 'virtual', memoryBytes: 4 * MiB, hostMemoryBytes: 9 * MiB, mac: DEFAULT_MAC, rtcStart: 946684800, console: () => {},
        vms: [
          { image: multibootElf(g.code), path: 'a', cmdline: '', nic: false },
          { image: multibootElf([...spin(200000), ...exitWith(3)]), path: 'b', cmdline: '', nic: false },
        ],
      });
      h.boot();
      expect(h.run(1e9)).toEqual({ kind: 'done' });
      expect(h.vms[0].end).toEqual({ kind: g.end, status: 0 });
      expect(h.vms[1].end).toMatchObject({ kind: 'exit', value: 3 });
    });
  }

  it('writing SLP_TYP without SLP_EN, or a sleep type other than soft-off, does not end the run', () => {
    const pc = new Pc({ memoryBytes: 16 * MiB });
    // SLP_TYP 0 alone; SLP_TYP 1 (suspend to RAM, not offered by our DSDT) with SLP_EN; then exit 5.
    pc.boot(multibootElf([...outw(0x604, 0x0001), ...outw(0x604, 0x2401), ...exitWith(5)]), 'k');
    expect(pc.run(1e9)).toEqual({ kind: 'exit', value: 5, status: 11 });
  });
});

describe('what firmware leaves, in every VM', () => {
  it("puts the ACPI tables in each VM's own memory: its RSDP at 0xF59D0, the rest in its reserved top 128 KiB", () => {
    const h = new Host({
      mode: 'virtual', memoryBytes: 8 * MiB, hostMemoryBytes: 17 * MiB, mac: DEFAULT_MAC, rtcStart: 946684800, console: () => {},
      vms: [0, 1].map((i) => ({ image: multibootElf(FOREVER), path: `v${i}`, cmdline: '', nic: false })),
    });
    h.boot();
    for (const vm of h.vms) {
      const m = vm.ram;
      const u32 = (a: number) => (m[a] | (m[a + 1] << 8) | (m[a + 2] << 16) | (m[a + 3] << 24)) >>> 0;
      expect(String.fromCharCode(...m.subarray(0xf59d0, 0xf59d8))).toBe('RSD PTR ');
      const rsdt = u32(0xf59d0 + 16);
      expect(rsdt).toBeGreaterThanOrEqual(8 * MiB - 128 * 1024);
      expect(rsdt).toBeLessThan(8 * MiB);
      expect(String.fromCharCode(...m.subarray(rsdt, rsdt + 4))).toBe('RSDT');
    }
  });
});
