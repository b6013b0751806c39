/**
 * The debugger's view of our CPUs (debug/stub.ts's DebugTarget): a thread per guest
 * CPU, its registers in gdb's i386 layout (REGISTERS), memory through its page tables.
 * Addresses are linear, as QEMU's gdbstub takes them: with the flat segments every
 * kernel here uses, an address is the offset gdb knows from the ELF's symbols.
 */
import type { Cpu } from '../cpu/cpu';
import { CS, SS, DS, ES, FS, GS } from '../cpu/registers';
import type { DebugTarget } from './stub';
import { REGISTERS } from './stub';

/** The registers' offsets in the `g` block. */
const OFFSETS = REGISTERS.map((_, n) => REGISTERS.slice(0, n).reduce((s, r) => s + r.bytes, 0));
const BLOCK = OFFSETS[OFFSETS.length - 1] + REGISTERS[REGISTERS.length - 1].bytes;
const SEGMENTS = [CS, SS, DS, ES, FS, GS];
const EIP = 8, EFLAGS = 9, ST0 = 16, FCTRL = 24, FSTAT = 25, FTAG = 26, FISEG = 27, FIOFF = 28, FOSEG = 29, FOOFF = 30, FOP = 31;

export interface DebuggedCpu {
  cpu: Cpu;
  /** What `info threads` says of it: "VM 0 (hello.elf)", say. */
  label: string;
}

export class CpuTarget implements DebugTarget {
  /** Set once the debugger has changed a register or memory: a replay would no longer be this run (see DebugSession). */
  written = false;

  constructor(private cpus: readonly DebuggedCpu[], private readonly figures: () => string[]) {}

  /** The machine was built again (a replay): its CPUs from now on. */
  rebind(cpus: readonly DebuggedCpu[]): void {
    this.cpus = cpus;
  }

  cpu(thread: number): Cpu {
    return this.cpus[Math.max(0, Math.min(this.cpus.length - 1, thread - 1))].cpu;
  }

  threads(): number[] {
    return this.cpus.map((_, i) => i + 1);
  }

  describe(thread: number): string {
    return this.cpus[thread - 1]?.label ?? '';
  }

  registers(thread: number): Uint8Array {
    const cpu = this.cpu(thread);
    const out = new Uint8Array(BLOCK);
    const view = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) view.setInt32(OFFSETS[i], cpu.reg32[i], true);
    view.setUint32(OFFSETS[EIP], cpu.eip >>> 0, true);
    view.setUint32(OFFSETS[EFLAGS], cpu.getEflags() >>> 0, true);
    SEGMENTS.forEach((s, i) => view.setUint32(OFFSETS[10 + i], cpu.sreg[s], true));
    const fpu = cpu.fpu;
    for (let i = 0; i < 8; i++) fpu.f.toF80((fpu.top + i) & 7, out, OFFSETS[ST0 + i]);
    view.setUint32(OFFSETS[FCTRL], fpu.f.cw, true);
    view.setUint32(OFFSETS[FSTAT], fpu.statusWord(), true);
    view.setUint32(OFFSETS[FTAG], fpu.tagWord(), true);
    view.setUint32(OFFSETS[FISEG], fpu.fcs, true);
    view.setUint32(OFFSETS[FIOFF], fpu.fip >>> 0, true);
    view.setUint32(OFFSETS[FOSEG], fpu.fds, true);
    view.setUint32(OFFSETS[FOOFF], fpu.fdp >>> 0, true);
    view.setUint32(OFFSETS[FOP], fpu.fop, true);
    return out;
  }

  /**
   * The general registers, EIP and EFLAGS (as POPF would load them at CPL 0, without its
   * checks) can be set; a segment register cannot (it would need its descriptor loaded,
   * which a debugger's write must not fault on), nor the x87 state.
   */
  setRegister(thread: number, n: number, value: Uint8Array): boolean {
    const cpu = this.cpu(thread);
    if (value.length !== 4) return false;
    const v = new DataView(value.buffer, value.byteOffset, 4).getInt32(0, true);
    if (n < 8) cpu.reg32[n] = v;
    else if (n === EIP) { cpu.eip = v >>> 0; cpu.invalidateFetch(); }
    else if (n === EFLAGS) cpu.setEflags(v);
    else return false;
    this.written = true;
    return true;
  }

  readMemory(thread: number, addr: number, length: number): Uint8Array {
    const cpu = this.cpu(thread);
    const out: number[] = [];
    for (let i = 0; i < length; i++) {
      const p = cpu.peekPhysical((addr + i) >>> 0);
      if (p < 0) break;
      out.push(cpu.mem[p]);
    }
    return Uint8Array.from(out);
  }

  writeMemory(thread: number, addr: number, bytes: Uint8Array): boolean {
    const cpu = this.cpu(thread);
    const phys: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const p = cpu.peekPhysical((addr + i) >>> 0);
      if (p < 0) return false;
      phys.push(p);
    }
    // Through invalidateCode, as a loader's writes: translated code there is dropped.
    phys.forEach((p, i) => { cpu.mem[p] = bytes[i]; cpu.invalidateCode(p, 1); });
    this.written = true;
    return true;
  }

  readPhysical(thread: number, addr: number, length: number): Uint8Array {
    const cpu = this.cpu(thread);
    const end = Math.min(cpu.memSize, addr + length);
    return addr >= end ? new Uint8Array(0) : cpu.mem.slice(addr, end);
  }

  writePhysical(thread: number, addr: number, bytes: Uint8Array): boolean {
    const cpu = this.cpu(thread);
    if (addr + bytes.length > cpu.memSize) return false;
    cpu.mem.set(bytes, addr);
    cpu.invalidateCode(addr, bytes.length);
    this.written = true;
    return true;
  }

  info(): string[] {
    return [
      ...this.figures(),
      ...this.cpus.map((c, i) => `thread ${i + 1} (${c.label}): EIP 0x${(c.cpu.eip >>> 0).toString(16)}, ${c.cpu.instructions} instructions, cycle ${c.cpu.cycles}`),
    ];
  }
}
