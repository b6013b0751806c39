// STUB: the real implementation is being written; this file fixes the public API.
import { CpuBus, StopReason } from './bus';

export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;

export class Cpu {
  /** General registers in encoding order (EAX ECX EDX EBX ESP EBP ESI EDI). */
  readonly reg32 = new Int32Array(8);
  eip = 0;
  /** Machine cycle counter; bus handlers may add to it to charge latency. */
  cycles = 0;
  /** The INTR pin, driven by the machine's interrupt controller. */
  irqLine = false;
  /** Visible segment selectors ES CS SS DS FS GS. */
  readonly sreg = new Uint16Array(6);
  gdtrBase = 0; gdtrLimit = 0; idtrBase = 0; idtrLimit = 0x3ff;
  cr0 = 0x60000010; cr2 = 0; cr3 = 0; cr4 = 0;
  /** Set when run() returns TripleFault or Dead: one line saying why. */
  stopMessage = '';
  constructor(readonly bus: CpuBus) {}
  /** Power-on state: real mode, CS:IP = F000:FFF0. */
  reset(): void {}
  /** The Multiboot hand-off state: protected mode, flat 4 GiB code and data, CPL 0, IF=0, paging off. */
  enterFlat32(eip: number): void { this.eip = eip; }
  getEflags(): number { return 2; }
  setEflags(v: number): void { void v; }
  /** Runs until `cycleBudget` more cycles have passed, HLT, a stop request or a triple fault. */
  run(cycleBudget: number): StopReason { void cycleBudget; return StopReason.Dead; }
  /** Makes the current run() return StopReason.Requested after the current instruction. */
  requestStop(): void {}
  /** A multi-line register dump for error reports. */
  dumpState(): string { return ''; }
  /** Instructions retired since reset. */
  instructions = 0;
}
