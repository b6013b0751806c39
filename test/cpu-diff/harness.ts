/**
 * Runs the differential cases: one static 32-bit ELF per batch, built with the system
 * toolchain, executed on the reference (natively, or under qemu-i386) and in our CPU; the
 * two result tables are compared field by field, with each case's undefined flags
 * and registers masked.
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Cpu } from '../../cpu/cpu';
import { CpuBus, StopReason } from '../../cpu/bus';
import { Case, STATUS, DF } from './cases';

const SLOT = 18; // eax ecx edx ebx esp ebp esi edi eflags mem[8] esp_before
const NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];

export function assembly(cases: Case[]): string {
  const out: string[] = ['.text', '.globl _start', '_start:'];
  cases.forEach((c, i) => {
    const base = `results+${i * SLOT * 4}`;
    out.push(`# case ${i}: ${c.group}`);
    c.mem.forEach((v, k) => out.push(`movl $${v >>> 0}, mem+${k * 4}`));
    c.regs.forEach((v, r) => {
      if (r === 4) return;
      if (r === 3 && c.ebxIsMem) out.push('movl $mem, %ebx');
      else out.push(`movl $${v >>> 0}, %${NAMES[r]}`);
    });
    // IF stays set: a user process cannot clear it, and our CPU (at CPL 0) must match.
    out.push(`pushl $${c.flags | 0x200}`, 'popfl', `movl %esp, ${base}+${17 * 4}`);
    out.push(...c.asm.split('\n').map((l) => l.trim()));
    for (let r = 0; r < 8; r++) out.push(`movl %${NAMES[r]}, ${base}+${r * 4}`);
    out.push('pushfl', `popl ${base}+32`);
    for (let k = 0; k < 8; k++) out.push(`movl mem+${k * 4}, %eax`, `movl %eax, ${base}+${(9 + k) * 4}`);
    out.push(`movl ${base}+${17 * 4}, %esp`, 'cld');
  });
  out.push(
    'movl $4, %eax', 'movl $1, %ebx', 'movl $results, %ecx', `movl $${cases.length * SLOT * 4}, %edx`, 'int $0x80',
    'movl $1, %eax', 'xorl %ebx, %ebx', 'int $0x80',
    '.data', '.align 16', 'mem: .space 64', '.bss', '.align 16', `results: .space ${cases.length * SLOT * 4}`,
    '.section .note.GNU-stack,"",@progbits',
  );
  return out.join('\n') + '\n';
}

/**
 * What runs the reference: the host processor when it can run a static 32-bit program
 * (the oracle DESIGN.md asks for), else QEMU's user-mode emulator `qemu-i386` (its TCG
 * computes every flag the SDM defines; .ci/run installs qemu-user for machines whose
 * kernel cannot run 32-bit programs), else nothing ('' : gcc or both runners missing).
 */
export type Oracle = 'host' | 'qemu-i386' | '';

export function findOracle(): Oracle {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpudiff-probe-'));
  try {
    fs.writeFileSync(path.join(dir, 'p.S'), '.globl _start\n_start: movl $1, %eax\n xorl %ebx, %ebx\n int $0x80\n.section .note.GNU-stack,"",@progbits\n');
    const b = spawnSync('gcc', ['-m32', '-nostdlib', '-static', '-no-pie', path.join(dir, 'p.S'), '-o', path.join(dir, 'p')], { encoding: 'utf8' });
    if (b.status !== 0) return '';
    if (spawnSync(path.join(dir, 'p'), []).status === 0) return 'host';
    if (spawnSync('qemu-i386', [path.join(dir, 'p')]).status === 0) return 'qemu-i386';
    return '';
  } catch {
    return '';
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds (cached by content) and returns the ELF path. */
export function build(source: string): string {
  const hash = crypto.createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), 'vpio-cpudiff');
  fs.mkdirSync(dir, { recursive: true });
  const elf = path.join(dir, `${hash}.elf`);
  if (fs.existsSync(elf)) return elf;
  const src = path.join(dir, `${hash}.S`);
  fs.writeFileSync(src, source);
  const r = spawnSync('gcc', ['-m32', '-nostdlib', '-static', '-no-pie', '-Wl,-Ttext=0x200000', '-Wl,--build-id=none', src, '-o', elf + '.tmp'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc failed:\n${r.stderr.slice(0, 2000)}`);
  fs.renameSync(elf + '.tmp', elf);
  return elf;
}

/** Runs the ELF on the reference (see findOracle); returns what it wrote. */
export function runReference(elf: string, oracle: Oracle): Buffer {
  const r = oracle === 'host' ? spawnSync(elf, [], { maxBuffer: 256 << 20 }) : spawnSync('qemu-i386', [elf], { maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`reference run (${oracle}) failed: status ${r.status} signal ${r.signal}`);
  return r.stdout;
}

/** Runs the same ELF in our CPU: flat protected mode, int 0x80 reaches a port the bus serves. */
export function runEmulated(elf: string, translate: boolean): Buffer {
  const image = fs.readFileSync(elf);
  const ram = new Uint8Array(32 << 20);
  const dv = new DataView(image.buffer, image.byteOffset, image.length);
  const phoff = dv.getUint32(28, true), phnum = dv.getUint16(44, true);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * 32;
    if (dv.getUint32(at, true) !== 1) continue;
    const off = dv.getUint32(at + 4, true), vaddr = dv.getUint32(at + 8, true), filesz = dv.getUint32(at + 16, true);
    ram.set(image.subarray(off, off + filesz), vaddr);
  }
  const mem = new DataView(ram.buffer, ram.byteOffset);
  // GDT: null, flat code 0x08, flat data 0x10. IDT gate 0x80 (DPL 3) -> stub at 0x3000: out %eax, $0xe4 ; iret
  mem.setUint32(0x1008, 0x0000ffff, true); mem.setUint32(0x100c, 0x00cf9a00, true);
  mem.setUint32(0x1010, 0x0000ffff, true); mem.setUint32(0x1014, 0x00cf9200, true);
  mem.setUint32(0x2000 + 0x80 * 8, (0x08 << 16) | 0x3000, true); mem.setUint32(0x2000 + 0x80 * 8 + 4, 0xee00, true);
  ram.set([0xe7, 0xe4, 0xcf], 0x3000);
  const chunks: Buffer[] = [];
  let cpu: Cpu;
  const bus: CpuBus = {
    ram,
    ioRead: () => 0xffffffff,
    ioWrite: (port) => {
      if (port !== 0xe4) return;
      const r = cpu.reg32;
      if (r[0] === 4) chunks.push(Buffer.from(ram.subarray(r[1] >>> 0, (r[1] >>> 0) + (r[2] >>> 0))));
      else if (r[0] === 1) cpu.requestStop();
    },
    acknowledgeInterrupt: () => 0,
  };
  cpu = new Cpu(bus);
  cpu.useTranslator = translate;
  cpu.enterFlat32(dv.getUint32(24, true));
  cpu.gdtrBase = 0x1000; cpu.gdtrLimit = 23;
  cpu.idtrBase = 0x2000; cpu.idtrLimit = 0x7ff;
  cpu.reg32[4] = 0x1f00000;
  cpu.setEflags(0x202); // IF set, as a user process has it
  for (;;) {
    const why = cpu.run(50_000_000);
    if (why === StopReason.Requested) break;
    if (why !== StopReason.Budget) throw new Error(`emulated run stopped: ${why} ${cpu.stopMessage}\n${cpu.dumpState()}`);
  }
  return Buffer.concat(chunks);
}

/** Compares result tables; returns one readable line per mismatch. */
export function compare(cases: Case[], reference: Buffer, ours: Buffer): string[] {
  const problems: string[] = [];
  if (ours.length !== reference.length) return [`result sizes differ: reference ${reference.length}, ours ${ours.length}`];
  const h = (v: number) => '0x' + (v >>> 0).toString(16);
  cases.forEach((c, i) => {
    const at = i * SLOT * 4;
    const n = (k: number) => reference.readUInt32LE(at + k * 4), o = (k: number) => ours.readUInt32LE(at + k * 4);
    const diffs: string[] = [];
    for (let r = 0; r < 8; r++) {
      if (c.undefinedRegs && (c.undefinedRegs & (1 << r))) continue;
      const nv = r === 4 ? (n(4) - n(17)) | 0 : n(r), ov = r === 4 ? (o(4) - o(17)) | 0 : o(r);
      if (nv !== ov) diffs.push(`${NAMES[r]}${r === 4 ? ' change' : ''} reference=${h(nv)} ours=${h(ov)}`);
    }
    const mask = (STATUS | DF) & ~c.undefinedFlags;
    if ((n(8) & mask) !== (o(8) & mask)) diffs.push(`eflags reference=${h(n(8) & mask)} ours=${h(o(8) & mask)} (compared bits ${h(mask)})`);
    for (let k = 0; k < 8; k++) if (n(9 + k) !== o(9 + k)) diffs.push(`mem+${k * 4} reference=${h(n(9 + k))} ours=${h(o(9 + k))}`);
    if (diffs.length) {
      problems.push(`${c.group}: ${c.asm.replace(/\n\s*/g, '; ')}\n    in: regs=[${c.regs.map(h).join(' ')}] flags=${h(c.flags)} mem=[${c.mem.map(h).join(' ')}]\n    ${diffs.join('\n    ')}`);
    }
  });
  return problems;
}
