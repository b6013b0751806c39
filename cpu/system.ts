/**
 * Protected-mode system mechanics: descriptors and segment loads, interrupt and
 * exception delivery, IRET, far JMP/CALL/RET across privilege levels via call gates,
 * LDT and TSS loads, and the I/O permission check.
 *
 * References: Intel SDM vol. 3, chapters 3 (segmentation), 5 (protection),
 * 6 (interrupts and exceptions), 7 (task management: hardware task switches, the
 * TSS stack pointers and I/O bitmap), 20 (virtual-8086 mode, without CR4.VME), and the
 * vol. 2 pages of each instruction.
 */
import type { Cpu } from './cpu';
import { TF, IF, NT, RF, IOPL, VM, AC, FIXED_ONE } from './flags';
import { ESP, ES, CS, SS, DS, FS, GS, GP, NP, SSV, TS, CR0_PE, CR0_TS } from './registers';

// The descriptor last read by fetchDescriptor (module scratch: no allocation per load).
let dLo = 0;
let dHi = 0;

export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}

/** The byte-granular limit; with G=1 the 20-bit limit counts 4 KiB pages. */
export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return hi & 0x800000 ? ((raw << 12) | 0xfff) >>> 0 : raw;
}

function dpl(hi: number): number { return (hi >>> 13) & 3; }
function present(hi: number): boolean { return (hi & 0x8000) !== 0; }
/** S=1 (code or data) and type bit 3 set. */
function isCode(hi: number): boolean { return (hi & 0x1800) === 0x1800; }
function isData(hi: number): boolean { return (hi & 0x1800) === 0x1000; }
function isConforming(hi: number): boolean { return (hi & 0x1c00) === 0x1c00; }
function isReadableCode(hi: number): boolean { return (hi & 0x1a00) === 0x1a00; }
function isWritableData(hi: number): boolean { return (hi & 0x1a00) === 0x1200; }

// ---- Supervisor (implicit) linear accesses: descriptor tables and the TSS. ----

export function readSys8(cpu: Cpu, lin: number): number {
  return cpu.readPhys8(cpu.linToPhysSystem(lin, false));
}

export function readSys16(cpu: Cpu, lin: number): number {
  return readSys8(cpu, lin) | (readSys8(cpu, lin + 1) << 8);
}

export function readSys32(cpu: Cpu, lin: number): number {
  if ((lin & 0xfff) <= 0xffc) return cpu.readPhys32(cpu.linToPhysSystem(lin, false));
  return readSys16(cpu, lin) | (readSys16(cpu, lin + 2) << 16);
}

function writeSys8(cpu: Cpu, lin: number, v: number): void {
  cpu.writePhys8(cpu.linToPhysSystem(lin, true), v);
}

function writeSys16(cpu: Cpu, lin: number, v: number): void {
  writeSys8(cpu, lin, v & 0xff);
  writeSys8(cpu, lin + 1, (v >>> 8) & 0xff);
}

function writeSys32(cpu: Cpu, lin: number, v: number): void {
  writeSys16(cpu, lin, v & 0xffff);
  writeSys16(cpu, lin + 2, v >>> 16);
}

/**
 * Reads the descriptor for `sel` from the GDT or LDT into (dLo, dHi).
 * A selector past the table's limit raises `vector` with the selector as error code.
 */
function fetchDescriptor(cpu: Cpu, sel: number, vector: number, ext: number): void {
  const index = sel & 0xfff8;
  let base: number, limit: number;
  if (sel & 4) {
    if ((cpu.ldtrSel & 0xfffc) === 0) cpu.fault(vector, (sel & 0xfffc) | ext);
    base = cpu.ldtrBase; limit = cpu.ldtrLimit;
  } else {
    base = cpu.gdtrBase; limit = cpu.gdtrLimit;
  }
  if (index + 7 > limit) cpu.fault(vector, (sel & 0xfffc) | ext);
  dLo = readSys32(cpu, base + index);
  dHi = readSys32(cpu, base + index + 4);
}

/** Sets the descriptor's accessed bit in memory, as the CPU does on a segment load. */
function markAccessed(cpu: Cpu, sel: number): void {
  if (dHi & 0x100) return;
  const base = sel & 4 ? cpu.ldtrBase : cpu.gdtrBase;
  dHi |= 0x100;
  writeSys8(cpu, base + (sel & 0xfff8) + 5, (dHi >>> 8) & 0xff);
}

function cacheFromDescriptor(cpu: Cpu, seg: number, sel: number): void {
  cpu.loadDescriptorCache(seg, sel, descBase(dLo, dHi), descLimit(dLo, dHi), dHi);
}

/**
 * MOV Sreg, POP Sreg, LDS/LES/LFS/LGS/LSS: loads a data or stack segment with the
 * protected-mode checks of SDM vol. 2 (MOV) and vol. 3, 5.7; in real mode only the base.
 */
export function loadSegment(cpu: Cpu, seg: number, sel: number): void {
  sel &= 0xffff;
  if (!(cpu.cr0 & CR0_PE)) {
    cpu.loadRealSegment(seg, sel);
    return;
  }
  if (cpu.flags & VM) {
    cpu.loadV86Segment(seg, sel);
    return;
  }
  const rpl = sel & 3;
  if (seg === SS) {
    if ((sel & 0xfffc) === 0) cpu.fault(GP, 0);
    fetchDescriptor(cpu, sel, GP, 0);
    if (rpl !== cpu.cpl || !isWritableData(dHi) || dpl(dHi) !== cpu.cpl) cpu.fault(GP, sel & 0xfffc);
    if (!present(dHi)) cpu.fault(SSV, sel & 0xfffc);
    markAccessed(cpu, sel);
    cacheFromDescriptor(cpu, SS, sel);
    return;
  }
  if ((sel & 0xfffc) === 0) {
    cpu.loadNullSegment(seg, sel);
    return;
  }
  fetchDescriptor(cpu, sel, GP, 0);
  if (!isData(dHi) && !isReadableCode(dHi)) cpu.fault(GP, sel & 0xfffc);
  if (!isConforming(dHi)) {
    const d = dpl(dHi);
    if (d < cpu.cpl || d < rpl) cpu.fault(GP, sel & 0xfffc);
  }
  if (!present(dHi)) cpu.fault(NP, sel & 0xfffc);
  markAccessed(cpu, sel);
  cacheFromDescriptor(cpu, seg, sel);
}

/** True in real mode and in virtual-8086 mode: segments are loaded as selector << 4, without descriptors. */
function realSegments(cpu: Cpu): boolean {
  return !(cpu.cr0 & CR0_PE) || (cpu.flags & VM) !== 0;
}

/** A CS load in real or virtual-8086 mode (realSegments), for far JMP/CALL/RET and IRET. */
function loadRealCs(cpu: Cpu, sel: number): void {
  if (cpu.cr0 & CR0_PE) cpu.loadV86Segment(CS, sel); else cpu.loadRealSegment(CS, sel);
}

/** Loads CS for a control transfer whose checks are done; RPL becomes the new CPL. */
function loadCS(cpu: Cpu, sel: number, newCpl: number, eip: number): void {
  markAccessed(cpu, sel);
  cacheFromDescriptor(cpu, CS, (sel & 0xfffc) | newCpl);
  if (cpu.cpl !== newCpl) cpu.setCpl(newCpl);
  cpu.eip = eip >>> 0;
  cpu.invalidateFetch();
}

/** After a return to an outer level, data segments the new CPL may not use become null (SDM vol. 2, RET/IRET). */
function nullInaccessibleSegments(cpu: Cpu): void {
  for (const seg of [ES, DS, FS, GS]) {
    const hi = cpu.segFlags[seg];
    if ((cpu.sreg[seg] & 0xfffc) === 0 || hi === 0) continue;
    if ((isData(hi) || !isConforming(hi)) && dpl(hi) < cpu.cpl) cpu.loadNullSegment(seg, 0);
  }
}

// Saved SS state, for undoing a stack switch whose pushes faulted.
const savedSs = { sel: 0, base: 0, limit: 0, flags: 0, esp: 0 };
function saveStack(cpu: Cpu): void {
  savedSs.sel = cpu.sreg[SS];
  savedSs.base = cpu.segBase[SS];
  savedSs.limit = cpu.segLimit[SS];
  savedSs.flags = cpu.segFlags[SS];
  savedSs.esp = cpu.reg32[ESP];
}
function restoreStack(cpu: Cpu, cpl: number): void {
  if (cpu.cr0 & CR0_PE) cpu.loadDescriptorCache(SS, savedSs.sel, savedSs.base, savedSs.limit, savedSs.flags);
  cpu.reg32[ESP] = savedSs.esp;
  if (cpu.cpl !== cpl) cpu.setCpl(cpl);
}

/**
 * Reads the inner stack (SS:ESP for privilege level `level`) from the current TSS and
 * loads it, with the #TS/#SS checks of SDM vol. 3, 6.12.1.
 */
function switchToInnerStack(cpu: Cpu, level: number, ext: number): void {
  const tss32 = (cpu.trType & 8) !== 0;
  const at = tss32 ? 4 + level * 8 : 2 + level * 4;
  if (at + (tss32 ? 5 : 3) > cpu.trLimit) cpu.fault(TS, (cpu.trSel & 0xfffc) | ext);
  const newEsp = tss32 ? readSys32(cpu, cpu.trBase + at) : readSys16(cpu, cpu.trBase + at);
  const newSs = readSys16(cpu, cpu.trBase + at + (tss32 ? 4 : 2));
  if ((newSs & 0xfffc) === 0) cpu.fault(TS, ext);
  fetchDescriptor(cpu, newSs, TS, ext);
  if ((newSs & 3) !== level || dpl(dHi) !== level || !isWritableData(dHi)) cpu.fault(TS, (newSs & 0xfffc) | ext);
  if (!present(dHi)) cpu.fault(SSV, (newSs & 0xfffc) | ext);
  markAccessed(cpu, newSs);
  cacheFromDescriptor(cpu, SS, newSs);
  cpu.reg32[ESP] = newEsp;
}

/**
 * Delivers interrupt or exception `vector`. `soft` marks INT n/INT3/INTO, whose gate
 * DPL is checked against CPL; `errorCode` is pushed unless -1; `external` sets the
 * EXT bit in the error code of a fault raised during delivery.
 * EIP must already be the return address (faults: the faulting instruction).
 */
export function deliverInterrupt(cpu: Cpu, vector: number, soft: boolean, errorCode: number, external: boolean): void {
  const ext = external && !soft ? 1 : 0;
  const oldFlags = cpu.getEflags();
  if (!(cpu.cr0 & CR0_PE)) {
    // Real mode: the IVT at IDTR.base, four bytes a vector (SDM vol. 3, 21.1.4).
    const at = vector * 4;
    if (at + 3 > cpu.idtrLimit) cpu.fault(GP, 0);
    const ip = cpu.readLin16(cpu.idtrBase + at);
    const cs = cpu.readLin16(cpu.idtrBase + at + 2);
    cpu.push16(oldFlags);
    cpu.push16(cpu.sreg[CS]);
    cpu.push16(cpu.eip);
    cpu.flags = cpu.getEflags() & ~(IF | TF | AC | RF);
    cpu.flagsLazy = 0;
    cpu.loadRealSegment(CS, cs);
    cpu.eip = ip;
    cpu.cancelSingleStep();
    return;
  }
  const idx = vector * 8;
  const gateErr = idx + 2 + ext;
  if (idx + 7 > cpu.idtrLimit) cpu.fault(GP, gateErr);
  const lo = readSys32(cpu, cpu.idtrBase + idx);
  const hi = readSys32(cpu, cpu.idtrBase + idx + 4);
  const type = (hi >>> 8) & 0x1f;
  if (type !== 0x05 && type !== 0x06 && type !== 0x07 && type !== 0x0e && type !== 0x0f) cpu.fault(GP, gateErr);
  if (soft && dpl(hi) < cpu.cpl) cpu.fault(GP, idx + 2);
  if (!present(hi)) cpu.fault(NP, gateErr);
  if (type === 0x05) {
    // A task gate: switch to its task (nested), then push the error code there.
    const tss = lo >>> 16;
    checkTargetTss(cpu, tss, false, ext);
    const new32 = taskSwitch(cpu, tss, TASK_INT, ext);
    if (errorCode >= 0) { if (new32) cpu.push32(errorCode); else cpu.push16(errorCode); }
    cpu.cancelSingleStep();
    return;
  }
  const sel = lo >>> 16;
  const gate32 = (type & 8) !== 0;
  const offset = gate32 ? ((lo & 0xffff) | (hi & 0xffff0000)) >>> 0 : lo & 0xffff;
  if ((sel & 0xfffc) === 0) cpu.fault(GP, ext);
  fetchDescriptor(cpu, sel, GP, ext);
  const codeHi = dHi, codeLo = dLo;
  if (!isCode(codeHi) || dpl(codeHi) > cpu.cpl) cpu.fault(GP, (sel & 0xfffc) | ext);
  if (!present(codeHi)) cpu.fault(NP, (sel & 0xfffc) | ext);
  // From virtual-8086 mode only to a non-conforming ring-0 segment (SDM vol. 2, INT n,
  // INTERRUPT-FROM-VIRTUAL-8086-MODE); anything else is #GP with its selector.
  const fromV86 = (cpu.flags & VM) !== 0;
  if (fromV86 && (isConforming(codeHi) || dpl(codeHi) !== 0)) cpu.fault(GP, (sel & 0xfffc) | ext);
  if (offset > descLimit(codeLo, codeHi)) cpu.fault(GP, ext);

  const oldCpl = cpu.cpl;
  const oldCs = cpu.sreg[CS];
  const oldEip = cpu.eip;
  const oldSs = cpu.sreg[SS];
  const oldEsp = cpu.reg32[ESP];
  const newCpl = isConforming(codeHi) ? oldCpl : dpl(codeHi);
  saveStack(cpu);
  try {
    if (newCpl < oldCpl) {
      switchToInnerStack(cpu, newCpl, ext);
      if (cpu.cpl !== newCpl) cpu.setCpl(newCpl); // stack pushes are privileged accesses now
      if (fromV86) {
        // The V86 data segments go on the ring-0 stack first, at the gate's size.
        const sr = cpu.sreg;
        if (gate32) { cpu.push32(sr[GS]); cpu.push32(sr[FS]); cpu.push32(sr[DS]); cpu.push32(sr[ES]); }
        else { cpu.push16(sr[GS]); cpu.push16(sr[FS]); cpu.push16(sr[DS]); cpu.push16(sr[ES]); }
      }
      if (gate32) { cpu.push32(oldSs); cpu.push32(oldEsp); } else { cpu.push16(oldSs); cpu.push16(oldEsp); }
    }
    if (gate32) {
      cpu.push32(oldFlags); cpu.push32(oldCs); cpu.push32(oldEip);
      if (errorCode >= 0) cpu.push32(errorCode);
    } else {
      cpu.push16(oldFlags); cpu.push16(oldCs); cpu.push16(oldEip);
      if (errorCode >= 0) cpu.push16(errorCode);
    }
  } catch (e) {
    restoreStack(cpu, oldCpl);
    throw e;
  }
  dHi = codeHi; dLo = codeLo;
  loadCS(cpu, sel, newCpl, offset);
  if (fromV86) {
    // Leaving virtual-8086 mode: the data segments are null in the handler.
    cpu.loadNullSegment(ES, 0); cpu.loadNullSegment(DS, 0); cpu.loadNullSegment(FS, 0); cpu.loadNullSegment(GS, 0);
  }
  let f = oldFlags & ~(TF | NT | RF | VM);
  if (!(type & 1)) f &= ~IF; // interrupt gates clear IF; trap gates leave it
  cpu.flags = f | FIXED_ONE;
  cpu.flagsLazy = 0;
  cpu.cancelSingleStep();
}

// ---- Hardware task switching (SDM vol. 3, 7.3; vol. 2, JMP, CALL, INT n, IRET). ----

/** What starts a task switch: it decides the busy bits, NT and the back link. */
export const TASK_JMP = 0, TASK_CALL = 1, TASK_IRET = 2, TASK_INT = 3;

// The incoming task's registers and selectors, read before anything changes.
const tssRegs = new Int32Array(8);
const tssSegs = new Int32Array(6);

/** Sets or clears the busy bit of the TSS descriptor `sel` in the GDT. */
function setBusy(cpu: Cpu, sel: number, busy: boolean): void {
  const at = cpu.gdtrBase + (sel & 0xfff8) + 5;
  const b = readSys8(cpu, at);
  writeSys8(cpu, at, busy ? b | 2 : b & ~2);
}

/**
 * The checks on the TSS a JMP, CALL or INT reaches through a task gate, or that an
 * IRET's back link names (`back`): in the GDT, a TSS (busy for a return, available
 * otherwise), present. Faults #GP (#TS for a return) or #NP with the TSS selector.
 * Leaves the descriptor in dLo/dHi.
 */
function checkTargetTss(cpu: Cpu, sel: number, back: boolean, ext: number): void {
  const v = back ? TS : GP;
  if (sel & 4) cpu.fault(v, (sel & 0xfffc) | ext);
  fetchDescriptor(cpu, sel, v, ext);
  const type = (dHi >>> 8) & 0x1f;
  const want = back ? 0x03 : 0x01;
  if ((type & 0x17) !== want) cpu.fault(v, (sel & 0xfffc) | ext);
  if (!present(dHi)) cpu.fault(NP, (sel & 0xfffc) | ext);
}

/**
 * Switches to the task whose TSS descriptor (selector `sel`) is in dLo/dHi, checks
 * done by the caller (SDM vol. 3, 7.3, steps 4 on). The outgoing state goes into the
 * current TSS, the incoming task's is read whole first (a fault there changes nothing);
 * after the commit (TR loaded) a fault in the new segments is the new task's, at its
 * EIP. A 16-bit TSS fills the upper halves of the registers with ones, as QEMU and
 * Bochs do, and has no FS, GS or CR3. Returns whether the new TSS is 32-bit.
 */
function taskSwitch(cpu: Cpu, sel: number, source: number, ext: number): boolean {
  const lo = dLo, hi = dHi;
  const new32 = (hi & 0x800) !== 0;
  const base = descBase(lo, hi), limit = descLimit(lo, hi);
  if (limit < (new32 ? 0x67 : 0x2b)) cpu.fault(TS, (sel & 0xfffc) | ext);
  let newEip: number, newFlags: number, newLdt: number, newCr3 = 0;
  if (new32) {
    newCr3 = readSys32(cpu, base + 0x1c);
    newEip = readSys32(cpu, base + 0x20) >>> 0;
    newFlags = readSys32(cpu, base + 0x24);
    for (let i = 0; i < 8; i++) tssRegs[i] = readSys32(cpu, base + 0x28 + i * 4);
    for (let i = 0; i < 6; i++) tssSegs[i] = readSys16(cpu, base + 0x48 + i * 4);
    newLdt = readSys16(cpu, base + 0x60);
  } else {
    newEip = readSys16(cpu, base + 0x0e);
    newFlags = readSys16(cpu, base + 0x10);
    for (let i = 0; i < 8; i++) tssRegs[i] = readSys16(cpu, base + 0x12 + i * 2) | 0xffff0000;
    for (let i = 0; i < 4; i++) tssSegs[i] = readSys16(cpu, base + 0x22 + i * 2);
    tssSegs[FS] = 0; tssSegs[GS] = 0;
    newLdt = readSys16(cpu, base + 0x2a);
  }

  // The outgoing task: its busy bit (JMP, IRET), then its state.
  const oldSel = cpu.trSel, oldBase = cpu.trBase;
  if (source === TASK_JMP || source === TASK_IRET) setBusy(cpu, oldSel, false);
  let oldFlags = cpu.getEflags();
  if (source === TASK_IRET) oldFlags &= ~NT;
  if (cpu.trType & 8) {
    writeSys32(cpu, oldBase + 0x20, cpu.eip);
    writeSys32(cpu, oldBase + 0x24, oldFlags);
    for (let i = 0; i < 8; i++) writeSys32(cpu, oldBase + 0x28 + i * 4, cpu.reg32[i]);
    for (let i = 0; i < 6; i++) writeSys16(cpu, oldBase + 0x48 + i * 4, cpu.sreg[i]);
  } else {
    writeSys16(cpu, oldBase + 0x0e, cpu.eip);
    writeSys16(cpu, oldBase + 0x10, oldFlags);
    for (let i = 0; i < 8; i++) writeSys16(cpu, oldBase + 0x12 + i * 2, cpu.reg32[i]);
    for (let i = 0; i < 4; i++) writeSys16(cpu, oldBase + 0x22 + i * 2, cpu.sreg[i]);
  }

  // The incoming task: back link and NT (CALL, INT), busy bit (all but IRET), TR.
  if (source === TASK_CALL || source === TASK_INT) {
    writeSys16(cpu, base, oldSel);
    newFlags |= NT;
  }
  if (source !== TASK_IRET) setBusy(cpu, sel, true);
  cpu.trSel = sel;
  cpu.trBase = base;
  cpu.trLimit = limit;
  cpu.trType = ((hi >>> 8) & 0xf) | 2;
  cpu.cr0 |= CR0_TS;
  if (new32 && cpu.pagingOn) cpu.setCr3(newCr3);
  for (let i = 0; i < 8; i++) cpu.reg32[i] = tssRegs[i];
  const vm = new32 && (newFlags & VM) !== 0;
  cpu.setEflags(newFlags);
  cpu.setVm(vm);
  cpu.eip = newEip;
  // From here a fault belongs to the new task: it restarts at the new EIP and ESP.
  cpu.instrEip = newEip;
  cpu.espToRestore = -1;
  // Selectors first, so a fault shows the new task's; then the LDT, then the caches.
  for (let i = 0; i < 6; i++) cpu.sreg[i] = tssSegs[i];
  cpu.ldtrSel = newLdt;
  if (newLdt & 4) cpu.fault(TS, (newLdt & 0xfffc) | ext);
  if ((newLdt & 0xfffc) === 0) {
    cpu.ldtrBase = 0; cpu.ldtrLimit = 0;
  } else {
    fetchDescriptor(cpu, newLdt, TS, ext);
    if (((dHi >>> 8) & 0x1f) !== 0x02 || !present(dHi)) cpu.fault(TS, (newLdt & 0xfffc) | ext);
    cpu.ldtrBase = descBase(dLo, dHi);
    cpu.ldtrLimit = descLimit(dLo, dHi);
  }
  if (vm) {
    for (let i = 0; i < 6; i++) cpu.loadV86Segment(i, tssSegs[i]);
    cpu.setCpl(3);
  } else {
    loadTaskSegments(cpu, ext);
  }
  if (cpu.eip > cpu.segLimit[CS] >>> 0) cpu.fault(GP, ext);
  cpu.invalidateFetch();
  return new32;
}

/** The incoming task's CS, SS and data segments, with their #TS/#NP/#SS checks (SDM vol. 3, table 7-1). */
function loadTaskSegments(cpu: Cpu, ext: number): void {
  const cs = tssSegs[CS], cpl = cs & 3;
  if ((cs & 0xfffc) === 0) cpu.fault(TS, ext);
  fetchDescriptor(cpu, cs, TS, ext);
  if (!isCode(dHi) || (isConforming(dHi) ? dpl(dHi) > cpl : dpl(dHi) !== cpl)) cpu.fault(TS, (cs & 0xfffc) | ext);
  if (!present(dHi)) cpu.fault(NP, (cs & 0xfffc) | ext);
  markAccessed(cpu, cs);
  cacheFromDescriptor(cpu, CS, cs);
  if (cpu.cpl !== cpl) cpu.setCpl(cpl);
  const ss = tssSegs[SS];
  if ((ss & 0xfffc) === 0) cpu.fault(TS, ext);
  fetchDescriptor(cpu, ss, TS, ext);
  if ((ss & 3) !== cpl || dpl(dHi) !== cpl || !isWritableData(dHi)) cpu.fault(TS, (ss & 0xfffc) | ext);
  if (!present(dHi)) cpu.fault(SSV, (ss & 0xfffc) | ext);
  markAccessed(cpu, ss);
  cacheFromDescriptor(cpu, SS, ss);
  for (const seg of [ES, DS, FS, GS]) {
    const sel = tssSegs[seg];
    if ((sel & 0xfffc) === 0) { cpu.loadNullSegment(seg, sel); continue; }
    fetchDescriptor(cpu, sel, TS, ext);
    if (!isData(dHi) && !isReadableCode(dHi)) cpu.fault(TS, (sel & 0xfffc) | ext);
    if (!isConforming(dHi) && (dpl(dHi) < cpl || dpl(dHi) < (sel & 3))) cpu.fault(TS, (sel & 0xfffc) | ext);
    if (!present(dHi)) cpu.fault(NP, (sel & 0xfffc) | ext);
    markAccessed(cpu, sel);
    cacheFromDescriptor(cpu, seg, sel);
  }
}

/**
 * A far JMP or CALL whose selector (in dLo/dHi) names a TSS or a task gate (SDM vol. 2,
 * JMP and CALL): the privilege checks, then the switch. Returns false when it is neither.
 */
function farTaskSwitch(cpu: Cpu, sel: number, source: number): boolean {
  const type = (dHi >>> 8) & 0x1f;
  if (type === 0x01 || type === 0x09 || type === 0x03 || type === 0x0b) {
    if (dpl(dHi) < cpu.cpl || dpl(dHi) < (sel & 3)) cpu.fault(GP, sel & 0xfffc);
    if (type & 2) cpu.fault(GP, sel & 0xfffc); // busy
    if (!present(dHi)) cpu.fault(NP, sel & 0xfffc);
    taskSwitch(cpu, sel, source, 0);
    return true;
  }
  if (type === 0x05) {
    if (dpl(dHi) < cpu.cpl || dpl(dHi) < (sel & 3)) cpu.fault(GP, sel & 0xfffc);
    if (!present(dHi)) cpu.fault(NP, sel & 0xfffc);
    const tss = dLo >>> 16;
    checkTargetTss(cpu, tss, false, 0);
    taskSwitch(cpu, tss, source, 0);
    return true;
  }
  return false;
}

/** Applies a popped EFLAGS image with the privilege rules of POPF/IRET (SDM vol. 2). */
export function writeFlagsChecked(cpu: Cpu, v: number, mask: number): void {
  const cur = cpu.getEflags();
  let allowed = mask;
  if (cpu.cr0 & CR0_PE) {
    if (cpu.cpl > 0) allowed &= ~IOPL;
    if (cpu.cpl > ((cur >>> 12) & 3)) allowed &= ~IF;
  }
  allowed &= ~VM;
  cpu.setEflags((cur & ~allowed) | (v & allowed));
}

/**
 * The checks IRET and RETF make on the CS they return to (SDM vol. 2, RET and IRET):
 * a code segment, not more privileged than the caller, DPL matching RPL (or not above
 * it if conforming), present, EIP within its limit. Leaves the descriptor in dLo/dHi.
 */
function checkReturnCs(cpu: Cpu, newCs: number, newEip: number): void {
  const rpl = newCs & 3;
  if ((newCs & 0xfffc) === 0) cpu.fault(GP, 0);
  fetchDescriptor(cpu, newCs, GP, 0);
  if (!isCode(dHi) || rpl < cpu.cpl) cpu.fault(GP, newCs & 0xfffc);
  if (isConforming(dHi) ? dpl(dHi) > rpl : dpl(dHi) !== rpl) cpu.fault(GP, newCs & 0xfffc);
  if (!present(dHi)) cpu.fault(NP, newCs & 0xfffc);
  if (newEip > descLimit(dLo, dHi)) cpu.fault(GP, 0);
}

/** The `i`-th dword (o32) or word of an IRET frame at stack pointer `sp`, not popped. */
function readStackSlot(cpu: Cpu, sp: number, i: number, o32: boolean): number {
  return o32 ? cpu.read32(SS, sp + i * 4) : cpu.read16(SS, (sp + i * 2) & (cpu.ssB32 ? -1 : 0xffff));
}

/** IRET/IRETD (SDM vol. 2, IRET): real mode, same level, and return to an outer level. */
export function iret(cpu: Cpu, o32: boolean): void {
  const fullMask = 0x003f7fd5; // all architectural bits through ID, less VM handled in writeFlagsChecked
  if (!(cpu.cr0 & CR0_PE)) {
    let eip: number, cs: number, fl: number;
    if (o32) { eip = cpu.pop32(); cs = cpu.pop32() & 0xffff; fl = cpu.pop32(); }
    else { eip = cpu.pop16(); cs = cpu.pop16(); fl = cpu.pop16() | (cpu.getEflags() & 0xffff0000); }
    cpu.loadRealSegment(CS, cs);
    cpu.eip = eip >>> 0;
    cpu.setEflags((fl & fullMask) | FIXED_ONE);
    return;
  }
  const sp = cpu.getSP();
  const w = o32 ? 4 : 2;
  if (cpu.flags & VM) {
    // In virtual-8086 mode: as in real mode at IOPL 3, #GP(0) below it; IOPL and VM
    // stay as they are (SDM vol. 2, IRET; no CR4.VME here).
    if ((cpu.flags & IOPL) !== IOPL) cpu.fault(GP, 0);
    const eip = readStackSlot(cpu, sp, 0, o32) >>> 0;
    const cs = readStackSlot(cpu, sp, 1, o32) & 0xffff;
    const fl = readStackSlot(cpu, sp, 2, o32);
    if (eip > 0xffff) cpu.fault(GP, 0);
    const mask = (o32 ? fullMask : 0xffff) & ~(IOPL | VM);
    cpu.setEflags((cpu.getEflags() & ~mask) | (fl & mask));
    cpu.loadV86Segment(CS, cs);
    cpu.eip = eip;
    cpu.setSP(sp + 3 * w);
    cpu.cancelSingleStep();
    return;
  }
  if (cpu.flags & NT) {
    // A nested task's return: to the task in the back link, which must be busy.
    const back = readSys16(cpu, cpu.trBase);
    checkTargetTss(cpu, back, true, 0);
    taskSwitch(cpu, back, TASK_IRET, 0);
    cpu.cancelSingleStep();
    return;
  }
  const newEip = readStackSlot(cpu, sp, 0, o32) >>> 0;
  const newCs = readStackSlot(cpu, sp, 1, o32) & 0xffff;
  let newFlags = readStackSlot(cpu, sp, 2, o32);
  if (!o32) newFlags = (newFlags & 0xffff) | (cpu.getEflags() & 0xffff0000);
  if (o32 && (newFlags & VM) && cpu.cpl === 0) {
    returnToV86(cpu, sp, newEip, newCs, newFlags);
    return;
  }
  const rpl = newCs & 3;
  checkReturnCs(cpu, newCs, newEip);
  const csLo = dLo, csHi = dHi;
  if (rpl > cpu.cpl) {
    const newEsp = readStackSlot(cpu, sp, 3, o32);
    const newSs = readStackSlot(cpu, sp, 4, o32) & 0xffff;
    if ((newSs & 0xfffc) === 0) cpu.fault(GP, 0);
    fetchDescriptor(cpu, newSs, GP, 0);
    const ssLo = dLo, ssHi = dHi;
    if ((newSs & 3) !== rpl || dpl(ssHi) !== rpl || !isWritableData(ssHi)) cpu.fault(GP, newSs & 0xfffc);
    if (!present(ssHi)) cpu.fault(SSV, newSs & 0xfffc);
    writeFlagsChecked(cpu, newFlags, fullMask);
    dLo = csLo; dHi = csHi;
    loadCS(cpu, newCs, rpl, newEip);
    dLo = ssLo; dHi = ssHi;
    markAccessed(cpu, newSs);
    cacheFromDescriptor(cpu, SS, newSs);
    // At the new stack's size: onto a 16-bit stack only SP is loaded, and ESP's upper
    // half stays as it was, whatever the operand size (QEMU's helper_ret_protected; the
    // leak Linux's espfix covers).
    cpu.setSP(newEsp);
    nullInaccessibleSegments(cpu);
  } else {
    writeFlagsChecked(cpu, newFlags, fullMask);
    dLo = csLo; dHi = csHi;
    loadCS(cpu, newCs, cpu.cpl, newEip);
    cpu.setSP(cpu.getSP() + 3 * w);
  }
  cpu.cancelSingleStep();
}

/**
 * IRETD at CPL 0 with VM set in the popped EFLAGS (SDM vol. 2, IRET,
 * RETURN-TO-VIRTUAL-8086-MODE): the frame goes on with ESP, SS, ES, DS, FS and GS, each
 * a dword; every segment is loaded as in V86 mode, CPL becomes 3, EFLAGS is the frame's
 * whole. All nine slots are read (and may fault) before anything changes.
 */
function returnToV86(cpu: Cpu, sp: number, eip: number, cs: number, fl: number): void {
  const esp = readStackSlot(cpu, sp, 3, true);
  const ss = readStackSlot(cpu, sp, 4, true);
  const es = readStackSlot(cpu, sp, 5, true);
  const ds = readStackSlot(cpu, sp, 6, true);
  const fs = readStackSlot(cpu, sp, 7, true);
  const gs = readStackSlot(cpu, sp, 8, true);
  cpu.setEflags(fl);
  cpu.setVm(true);
  cpu.loadV86Segment(CS, cs);
  cpu.loadV86Segment(SS, ss);
  cpu.loadV86Segment(ES, es);
  cpu.loadV86Segment(DS, ds);
  cpu.loadV86Segment(FS, fs);
  cpu.loadV86Segment(GS, gs);
  cpu.setCpl(3);
  cpu.reg32[ESP] = esp;
  cpu.eip = eip & 0xffff;
  cpu.cancelSingleStep();
}

/** JMP ptr16:16/32 and JMP m16:16/32 (SDM vol. 2, JMP, far jumps in protected mode). */
export function farJump(cpu: Cpu, sel: number, eip: number, o32: boolean): void {
  sel &= 0xffff;
  if (realSegments(cpu)) {
    if (cpu.flags & VM && (o32 ? eip >>> 0 : eip & 0xffff) > 0xffff) cpu.fault(GP, 0);
    loadRealCs(cpu, sel);
    cpu.eip = o32 ? eip >>> 0 : eip & 0xffff;
    return;
  }
  if ((sel & 0xfffc) === 0) cpu.fault(GP, 0);
  fetchDescriptor(cpu, sel, GP, 0);
  if (isCode(dHi)) {
    checkDirectCodeTarget(cpu, sel);
    if (eip >>> 0 > descLimit(dLo, dHi)) cpu.fault(GP, 0);
    loadCS(cpu, sel, cpu.cpl, eip);
    return;
  }
  const type = (dHi >>> 8) & 0x1f;
  if (type === 0x04 || type === 0x0c) {
    const gateHi = dHi, gateLo = dLo;
    if (dpl(gateHi) < cpu.cpl || dpl(gateHi) < (sel & 3)) cpu.fault(GP, sel & 0xfffc);
    if (!present(gateHi)) cpu.fault(NP, sel & 0xfffc);
    const target = gateLo >>> 16;
    const off = type === 0x0c ? ((gateLo & 0xffff) | (gateHi & 0xffff0000)) >>> 0 : gateLo & 0xffff;
    if ((target & 0xfffc) === 0) cpu.fault(GP, 0);
    fetchDescriptor(cpu, target, GP, 0);
    if (!isCode(dHi)) cpu.fault(GP, target & 0xfffc);
    if (isConforming(dHi) ? dpl(dHi) > cpu.cpl : dpl(dHi) !== cpu.cpl) cpu.fault(GP, target & 0xfffc);
    if (!present(dHi)) cpu.fault(NP, target & 0xfffc);
    if (off > descLimit(dLo, dHi)) cpu.fault(GP, 0);
    loadCS(cpu, target, cpu.cpl, off);
    return;
  }
  if (!farTaskSwitch(cpu, sel, TASK_JMP)) cpu.fault(GP, sel & 0xfffc);
}

/** The privilege checks for a JMP or CALL straight to a code segment. */
function checkDirectCodeTarget(cpu: Cpu, sel: number): void {
  if (isConforming(dHi)) {
    if (dpl(dHi) > cpu.cpl) cpu.fault(GP, sel & 0xfffc);
  } else if ((sel & 3) > cpu.cpl || dpl(dHi) !== cpu.cpl) {
    cpu.fault(GP, sel & 0xfffc);
  }
  if (!present(dHi)) cpu.fault(NP, sel & 0xfffc);
}

/** CALL ptr16:16/32 and CALL m16:16/32, including call gates to a more privileged level. */
export function farCall(cpu: Cpu, sel: number, eip: number, o32: boolean): void {
  sel &= 0xffff;
  const retEip = cpu.eip;
  const retCs = cpu.sreg[CS];
  if (realSegments(cpu)) {
    if (cpu.flags & VM && (o32 ? eip >>> 0 : eip & 0xffff) > 0xffff) cpu.fault(GP, 0);
    if (o32) { cpu.push32(retCs); cpu.push32(retEip); } else { cpu.push16(retCs); cpu.push16(retEip); }
    loadRealCs(cpu, sel);
    cpu.eip = o32 ? eip >>> 0 : eip & 0xffff;
    return;
  }
  if ((sel & 0xfffc) === 0) cpu.fault(GP, 0);
  fetchDescriptor(cpu, sel, GP, 0);
  if (isCode(dHi)) {
    checkDirectCodeTarget(cpu, sel);
    const lo = dLo, hi = dHi;
    if (eip >>> 0 > descLimit(lo, hi)) cpu.fault(GP, 0);
    if (o32) { cpu.push32(retCs); cpu.push32(retEip); } else { cpu.push16(retCs); cpu.push16(retEip); }
    dLo = lo; dHi = hi;
    loadCS(cpu, sel, cpu.cpl, eip);
    return;
  }
  const type = (dHi >>> 8) & 0x1f;
  if (type !== 0x04 && type !== 0x0c) {
    if (!farTaskSwitch(cpu, sel, TASK_CALL)) cpu.fault(GP, sel & 0xfffc);
    return;
  }
  const gateHi = dHi, gateLo = dLo;
  if (dpl(gateHi) < cpu.cpl || dpl(gateHi) < (sel & 3)) cpu.fault(GP, sel & 0xfffc);
  if (!present(gateHi)) cpu.fault(NP, sel & 0xfffc);
  const gate32 = type === 0x0c;
  const target = gateLo >>> 16;
  const off = gate32 ? ((gateLo & 0xffff) | (gateHi & 0xffff0000)) >>> 0 : gateLo & 0xffff;
  const params = gateHi & 0x1f;
  if ((target & 0xfffc) === 0) cpu.fault(GP, 0);
  fetchDescriptor(cpu, target, GP, 0);
  const codeLo = dLo, codeHi = dHi;
  if (!isCode(codeHi) || dpl(codeHi) > cpu.cpl) cpu.fault(GP, target & 0xfffc);
  if (!present(codeHi)) cpu.fault(NP, target & 0xfffc);
  if (off > descLimit(codeLo, codeHi)) cpu.fault(GP, 0);
  const oldCpl = cpu.cpl;
  if (!isConforming(codeHi) && dpl(codeHi) < oldCpl) {
    const newCpl = dpl(codeHi);
    const oldSs = cpu.sreg[SS];
    const oldEsp = cpu.reg32[ESP];
    const oldSsBase = cpu.segBase[SS];
    const oldSs32 = cpu.ssB32;
    saveStack(cpu);
    try {
      switchToInnerStack(cpu, newCpl, 0);
      cpu.setCpl(newCpl);
      const w = gate32 ? 4 : 2;
      if (gate32) { cpu.push32(oldSs); cpu.push32(oldEsp); } else { cpu.push16(oldSs); cpu.push16(oldEsp); }
      // Copy the parameters from the caller's stack, deepest first (SDM vol. 3, 5.8.5).
      for (let i = params - 1; i >= 0; i--) {
        const at = (oldSs32 ? oldEsp + i * w : (oldEsp + i * w) & 0xffff) >>> 0;
        const lin = oldSsBase + at;
        const v = w === 4 ? cpu.readLin32(lin) : cpu.readLin16(lin);
        if (gate32) cpu.push32(v); else cpu.push16(v);
      }
      if (gate32) { cpu.push32(retCs); cpu.push32(retEip); } else { cpu.push16(retCs); cpu.push16(retEip); }
    } catch (e) {
      restoreStack(cpu, oldCpl);
      throw e;
    }
    dLo = codeLo; dHi = codeHi;
    loadCS(cpu, target, newCpl, off);
    return;
  }
  if (gate32) { cpu.push32(retCs); cpu.push32(retEip); } else { cpu.push16(retCs); cpu.push16(retEip); }
  dLo = codeLo; dHi = codeHi;
  loadCS(cpu, target, oldCpl, off);
}

/** RETF [imm16] (SDM vol. 2, RET, far returns), including returns to an outer level. */
export function farReturn(cpu: Cpu, o32: boolean, imm: number): void {
  const w = o32 ? 4 : 2;
  const sp = cpu.getSP();
  const mask = cpu.ssB32 ? -1 : 0xffff;
  const rd = (off: number) => (o32 ? cpu.read32(SS, (sp + off) & mask) : cpu.read16(SS, (sp + off) & mask));
  const newEip = rd(0) >>> 0;
  const newCs = rd(w) & 0xffff;
  if (realSegments(cpu)) {
    if (cpu.flags & VM && newEip > 0xffff) cpu.fault(GP, 0);
    loadRealCs(cpu, newCs);
    cpu.eip = newEip;
    cpu.setSP(sp + 2 * w + imm);
    return;
  }
  const rpl = newCs & 3;
  checkReturnCs(cpu, newCs, newEip);
  const csLo = dLo, csHi = dHi;
  if (rpl > cpu.cpl) {
    const newEsp = rd(2 * w + imm);
    const newSs = rd(3 * w + imm) & 0xffff;
    if ((newSs & 0xfffc) === 0) cpu.fault(GP, 0);
    fetchDescriptor(cpu, newSs, GP, 0);
    const ssLo = dLo, ssHi = dHi;
    if ((newSs & 3) !== rpl || dpl(ssHi) !== rpl || !isWritableData(ssHi)) cpu.fault(GP, newSs & 0xfffc);
    if (!present(ssHi)) cpu.fault(SSV, newSs & 0xfffc);
    dLo = csLo; dHi = csHi;
    loadCS(cpu, newCs, rpl, newEip);
    dLo = ssLo; dHi = ssHi;
    markAccessed(cpu, newSs);
    cacheFromDescriptor(cpu, SS, newSs);
    cpu.setSP((o32 ? newEsp : newEsp & 0xffff) + imm);
    nullInaccessibleSegments(cpu);
    return;
  }
  dLo = csLo; dHi = csHi;
  loadCS(cpu, newCs, cpu.cpl, newEip);
  cpu.setSP(sp + 2 * w + imm);
}

/** LLDT (SDM vol. 2): CPL 0 only; a null selector leaves the LDT unusable. */
export function lldt(cpu: Cpu, sel: number): void {
  if (cpu.cpl !== 0) cpu.fault(GP, 0);
  sel &= 0xffff;
  if ((sel & 0xfffc) === 0) { cpu.ldtrSel = sel; cpu.ldtrBase = 0; cpu.ldtrLimit = 0; return; }
  if (sel & 4) cpu.fault(GP, sel & 0xfffc);
  fetchDescriptor(cpu, sel, GP, 0);
  if ((dHi & 0x1f00) !== 0x0200) cpu.fault(GP, sel & 0xfffc);
  if (!present(dHi)) cpu.fault(NP, sel & 0xfffc);
  cpu.ldtrSel = sel;
  cpu.ldtrBase = descBase(dLo, dHi);
  cpu.ldtrLimit = descLimit(dLo, dHi);
}

/** LTR (SDM vol. 2): loads an available TSS and marks it busy. */
export function ltr(cpu: Cpu, sel: number): void {
  if (cpu.cpl !== 0) cpu.fault(GP, 0);
  sel &= 0xffff;
  if ((sel & 0xfffc) === 0) cpu.fault(GP, 0);
  if (sel & 4) cpu.fault(GP, sel & 0xfffc);
  fetchDescriptor(cpu, sel, GP, 0);
  const type = (dHi >>> 8) & 0x1f;
  if (type !== 0x01 && type !== 0x09) cpu.fault(GP, sel & 0xfffc);
  if (!present(dHi)) cpu.fault(NP, sel & 0xfffc);
  cpu.trSel = sel;
  cpu.trBase = descBase(dLo, dHi);
  cpu.trLimit = descLimit(dLo, dHi);
  cpu.trType = type | 2;
  writeSys8(cpu, cpu.gdtrBase + (sel & 0xfff8) + 5, ((dHi >>> 8) | 2) & 0xff);
}

/**
 * LAR, LSL, VERR, VERW (SDM vol. 2): report a descriptor's rights or limit, or whether
 * it can be read or written, without faulting. Returns -1 for "ZF=0", else the value.
 */
export function inspectSelector(cpu: Cpu, sel: number, what: 'lar' | 'lsl' | 'verr' | 'verw'): number {
  sel &= 0xffff;
  if ((sel & 0xfffc) === 0) return -1;
  const base = sel & 4 ? cpu.ldtrBase : cpu.gdtrBase;
  const limit = sel & 4 ? cpu.ldtrLimit : cpu.gdtrLimit;
  if ((sel & 4) && (cpu.ldtrSel & 0xfffc) === 0) return -1;
  if ((sel & 0xfff8) + 7 > limit) return -1;
  const lo = readSys32(cpu, base + (sel & 0xfff8));
  const hi = readSys32(cpu, base + (sel & 0xfff8) + 4);
  const d = dpl(hi);
  const rpl = sel & 3;
  const s = (hi & 0x1000) !== 0;
  const type = (hi >>> 8) & 0xf;
  if (!s) {
    // System descriptors: which types LAR and LSL accept (SDM vol. 2, LAR table 3-52, LSL).
    const larOk = [1, 2, 3, 4, 5, 9, 0xb, 0xc].includes(type);
    const lslOk = [1, 2, 3, 9, 0xb].includes(type);
    if (what === 'verr' || what === 'verw') return -1;
    if (what === 'lar' ? !larOk : !lslOk) return -1;
    if (d < cpu.cpl || d < rpl) return -1;
  } else {
    const conformingCode = (type & 0xc) === 0xc;
    if (!conformingCode && (d < cpu.cpl || d < rpl)) return -1;
    if (what === 'verr' && (type & 8) && !(type & 2)) return -1; // execute-only code
    if (what === 'verw' && ((type & 8) || !(type & 2))) return -1; // code, or read-only data
  }
  if (what === 'lar') return hi & 0x00f0ff00;
  if (what === 'lsl') return descLimit(lo, hi);
  return 0;
}

/**
 * The I/O permission check for IN/OUT/INS/OUTS (SDM vol. 1, 19.5): at CPL > IOPL in
 * protected mode, and always in virtual-8086 mode, every port of the access must be
 * clear in the TSS I/O bitmap.
 */
export function checkIoPermission(cpu: Cpu, port: number, size: number): void {
  // In virtual-8086 mode the bitmap decides whatever IOPL is (SDM vol. 3, 20.2.8.1).
  if (!(cpu.cr0 & CR0_PE) || (cpu.cpl <= ((cpu.flags >>> 12) & 3) && !(cpu.flags & VM))) return;
  if (!(cpu.trType & 8) || cpu.trLimit < 0x67) cpu.fault(GP, 0);
  const bitmap = readSys16(cpu, cpu.trBase + 0x66);
  const at = bitmap + (port >>> 3);
  if (at + 1 > cpu.trLimit) cpu.fault(GP, 0);
  const bits = readSys16(cpu, cpu.trBase + at);
  const want = ((1 << size) - 1) << (port & 7);
  if (bits & want) cpu.fault(GP, 0);
}

