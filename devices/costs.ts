/**
 * The cost table: every cost the machine charges, in one place, each with its unit in
 * its name and its source beside it (DESIGN.md section 3). The CPU, the devices, the
 * hypervisor and the VPIO monitor all read their costs from a `Costs` object, so a
 * run's figures can be traced back to a line here, and a bench can vary one.
 *
 * Cycles are machine (CPU) cycles at `cpuHz`.
 */
export interface Costs {
  /** The CPU clock. DESIGN.md section 3: 2 GHz by default. */
  cpuHz: number;
  /** Every instruction costs this many cycles (DESIGN.md section 3: 1 by default). */
  instructionCycles: number;
  /**
   * PAUSE (F3 90), the spin-wait hint: Intel's optimisation manual gives its latency
   * as about 10 cycles before Skylake and as many as 140 from Skylake on; we take a
   * current core's 140, as the rest of this table takes a current 2 GHz core's costs
   * (CPUID's family 6 says which instructions exist, not what they cost; on a P6 PAUSE
   * is REP NOP). A spin loop that waits on the clock (Linux's udelay through the TSC)
   * then runs as many passes as on such a core, not one every few cycles: the guest
   * waits as long, and the emulator runs a tenth of the instructions for it.
   */
  pauseCycles: number;
  /**
   * One IN or OUT to an ISA device: an ISA bus cycle at 8.33 MHz takes 4 or more bus
   * clocks plus wait states and the chipset's ISA bridge; about 1 µs is the figure
   * commonly measured for a port access on a PC (DESIGN.md section 8).
   */
  isaAccessCycles: number;
  /**
   * One IN or OUT to a PCI device: a PCI 2.x I/O transaction at 33 MHz takes at least
   * 4 clocks (address, turnaround, data, idle) of 30 ns, and measured port reads
   * through a host bridge are a few hundred ns; we take 0.25 µs.
   */
  pciAccessCycles: number;
  /**
   * Ports that live in the chipset (PIC, PIT, CMOS, port 0x61, 0x92, PCI config):
   * still ISA-speed on a PIIX-class southbridge, same as isaAccessCycles.
   */
  chipsetAccessCycles: number;
  /**
   * One access to the local APIC's registers: on the processor, uncached, a few tens of
   * ns (Intel's optimisation manuals put an xAPIC register access at 100-200 cycles of
   * a 2-3 GHz core); we take 50 ns.
   */
  apicAccessCycles: number;
  /** The 8254's input clock: 1.193182 MHz (Intel 8254 datasheet; the PC's 14.31818 MHz / 12). */
  pitHz: number;
  /**
   * A VM exit and the entry back (hardware world switch, not the handling): a few
   * hundred ns on current VT-x/SVM parts, a microsecond and more on the 2008-era hardware
   * of the VPIO paper; we take 1 µs, 2000 cycles at 2 GHz.
   */
  exitRoundTripCycles: number;
  /**
   * The hypervisor's work on a trapped access to one of its virtual devices (a PIC,
   * PIT, UART, PCI configuration or NIC register emulated in software): finding the
   * handler and running the register model. In-kernel emulation in Palacios and KVM is
   * a few hundred ns; we take 0.5 µs.
   */
  virtualDeviceCycles: number;
  /**
   * Injecting an interrupt into a VM at entry (the virtual PIC's acknowledge cycle, the
   * event-injection fields): 0.25 µs.
   */
  irqInjectCycles: number;
  /**
   * Switching the physical CPU from one VM to another (saving and loading the guest
   * state, the address-space switch and its TLB refill): 5 µs, in line with the VM
   * context-switch costs reported for 2008-era VMMs.
   */
  vmSwitchCycles: number;
  /**
   * The hypervisor copying frame data between buffers (its software switch, its own
   * driver's buffers): memcpy at about 8 GB/s, 0.25 cycles a byte at 2 GHz.
   */
  copyCyclesPerByte: number;
  /**
   * The VPIO monitor's model update on a hooked access (a few table lookups and
   * compares, as the paper's models are): 0.1 µs, beside the exit itself.
   */
  vpioModelCycles: number;
  /**
   * A VPIO context switch of the RTL8139, each way: its register file read out or
   * written back through the registers, one bus access each (IDR, MAR, the four TSD and
   * TSAD, RBSTART, CR, CAPR, CBR, IMR, ISR, TCR, RCR, the CONFIG registers and the rest):
   * 64 accesses.
   */
  rtl8139ContextAccesses: number;
  /** The same for the NE2000: its register pages 0-2, 16 registers each: 48 accesses. */
  ne2000ContextAccesses: number;
  /**
   * Moving one 256-byte page of the NE2000's buffer RAM through its data port (a VPIO
   * context switch keeping a guest's pages, or scrubbing one): a remote DMA set up
   * (RSAR0/1, RBCR0/1 and the command: 5 register writes) and 128 word transfers.
   */
  ne2000PageAccesses: number;
}

export const DEFAULT_COSTS: Readonly<Costs> = Object.freeze({
  cpuHz: 2_000_000_000,
  instructionCycles: 1,
  pauseCycles: 140,
  isaAccessCycles: 2000, // 1 µs at 2 GHz
  pciAccessCycles: 500, // 0.25 µs at 2 GHz
  chipsetAccessCycles: 2000,
  apicAccessCycles: 100, // 50 ns at 2 GHz
  pitHz: 1_193_182,
  exitRoundTripCycles: 2000,
  virtualDeviceCycles: 1000,
  irqInjectCycles: 500,
  vmSwitchCycles: 10000,
  copyCyclesPerByte: 0.25,
  vpioModelCycles: 200,
  rtl8139ContextAccesses: 64,
  ne2000ContextAccesses: 48,
  ne2000PageAccesses: 5 + 128,
});
