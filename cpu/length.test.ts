/**
 * instructionLength against two independent decoders: iced-x86 (an npm dependency, so
 * always) over every opcode of the one-byte and 0F maps with every ModRM byte and the
 * operand- and address-size prefixes, and binutils' disassembler (objdump, where
 * installed) over random instructions, each with up to three prefixes, any opcode of
 * the one-byte, 0F, 0F 38 and 0F 3A maps and random bytes after it, 32-bit code and 16-bit.
 * directBranch and branchDisplacement against iced-x86's near branches and their targets.
 */
import * as iced from 'iced-x86';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import seedrandom from 'seedrandom';
import { branchDisplacement, directBranch, instructionLength, BRANCH_JCC, BRANCH_JUMP } from './length';
import { describeIf, have } from '../test/support';
import { tempDir } from '../test/tmp';

const SEED = process.env.CPU_FUZZ_SEED ?? 'length';
const CASES = 4000;
const CHUNK = 32; // 15 bytes of instruction, then NOPs: objdump is back in step at each chunk

/**
 * Opcodes where objdump and iced decode extensions this CPU does not have, with other lengths:
 * VEX and EVEX (C4, C5, 62 with a register ModRM), XOP (8F), 3DNow! (0F 0F), SSE4a's
 * EXTRQ and INSERTQ (0F 78, 0F 79), the test registers (0F 24, 0F 26) and the old
 * XBTS/IBTS slots (0F A6, 0F A7).
 */
function objdumpDiffers(b: number[], at: number): boolean {
  const op = b[at];
  if (op === 0xc4 || op === 0xc5 || op === 0x62 || op === 0x8f) return true;
  return op === 0x0f && [0x0f, 0x78, 0x79, 0x24, 0x26, 0xa6, 0xa7].includes(b[at + 1]);
}

describe('instruction lengths as iced-x86 finds them', () => {
  it.each([[[]], [[0x66]], [[0x67]], [[0x66, 0x67]], [[0xf3]]])('every opcode and ModRM byte of the one-byte and 0F maps, 32-bit code, prefixes %j', (prefix) => {
    const wrong: string[] = [];
    let compared = 0;
    const bytes = new Uint8Array(16);
    for (let map = 0; map < 2; map++) {
      for (let op = 0; op < 256; op++) {
        for (let modrm = 0; modrm < 256; modrm++) {
          const b = [...prefix, ...(map ? [0x0f] : []), op, modrm, modrm & 1 ? 0x25 : 0x24, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
          if (objdumpDiffers(b, prefix.length) || (map === 0 && (op === 0x0f || [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3].includes(op)))) continue;
          bytes.fill(0); bytes.set(b.slice(0, 16));
          const d = new iced.Decoder(32, bytes, iced.DecoderOptions.None);
          const ins = d.decode();
          const invalid = ins.code === iced.Code.INVALID;
          const length = ins.length;
          ins.free(); d.free();
          if (invalid) continue;
          compared++;
          const n = instructionLength(bytes, 0, 16, true);
          if (n !== length && wrong.length < 10) wrong.push(`${b.map((x) => x.toString(16).padStart(2, '0')).join(' ')}: ${n}, iced ${length}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(compared).toBeGreaterThan(50000);
  });
});

describeIf(have('objdump', '--version'), 'objdump (binutils) is not installed')('instruction lengths as objdump finds them', () => {
  for (const d32 of [true, false]) {
    it(`${d32 ? '32' : '16'}-bit code, ${CASES} random instructions (seed ${SEED})`, () => {
      const rng = seedrandom(`${SEED}/${d32}`);
      const int = (n: number) => Math.floor(rng() * n);
      const buf = Buffer.alloc(CASES * CHUNK, 0x90);
      const cases: number[][] = [];
      while (cases.length < CASES) {
        const b: number[] = [];
        for (let n = int(4); n > 0; n--) b.push([0x66, 0x67, 0xf3, 0xf2, 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0xf0][int(11)]);
        const at = b.length;
        const kind = int(4);
        if (kind === 0) b.push(0x0f);
        else if (kind === 1) b.push(0x0f, [0x38, 0x3a][int(2)]);
        while (b.length < 15) b.push(int(256));
        if ([0x66, 0x67, 0xf3, 0xf2, 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0xf0].includes(b[at]) || objdumpDiffers(b, at)) continue;
        const i = cases.length;
        b.forEach((x, k) => { buf[i * CHUNK + k] = x; });
        cases.push(b);
      }
      const file = path.join(tempDir('vpio-length-'), 'code.bin');
      fs.writeFileSync(file, buf);
      const r = spawnSync('objdump', ['-D', '-b', 'binary', '-m', d32 ? 'i386' : 'i8086', '--insn-width=16', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
      expect(r.status).toBe(0);
      const found = new Map<number, { length: number; text: string }>();
      for (const line of r.stdout.split('\n')) {
        const m = /^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$/.exec(line);
        if (m) found.set(parseInt(m[1], 16), { length: m[2].trim().split(' ').length, text: m[3] });
      }
      let compared = 0;
      const wrong: string[] = [];
      cases.forEach((b, i) => {
        const o = found.get(i * CHUNK);
        if (o === undefined || o.text.includes('(bad)') || o.length > 15) return; // objdump knows no such instruction
        compared++;
        const n = instructionLength(buf, i * CHUNK, buf.length, d32);
        if (n !== o.length && wrong.length < 10) wrong.push(`${b.map((x) => x.toString(16).padStart(2, '0')).join(' ')}: ${n}, objdump ${o.length} (${o.text})`);
      });
      expect(wrong).toEqual([]);
      expect(compared).toBeGreaterThan(CASES / 2);
    });
  }
  it('an instruction that runs past the end, or past 15 bytes, has no length', () => {
    const mem = new Uint8Array([0x05, 1, 2, 3, 4]); // ADD EAX, imm32
    expect(instructionLength(mem, 0, 5, true)).toBe(5);
    expect(instructionLength(mem, 0, 4, true)).toBe(0);
    const prefixed = new Uint8Array(16).fill(0x66); prefixed[14] = 0x90;
    expect(instructionLength(prefixed, 0, 16, true)).toBe(15);
    prefixed[14] = 0x66; prefixed[15] = 0x90;
    expect(instructionLength(prefixed, 0, 16, true)).toBe(0);
  });
});

describe('direct branches as iced-x86 finds them', () => {
  it('every opcode of the one-byte and 0F maps: Jcc, JMP and CALL with a 32-bit target, and their targets; nothing else', () => {
    const wrong: string[] = [];
    let branches = 0;
    for (const prefix of [[], [0x66], [0x2e], [0x3e, 0x66]]) {
      for (let map = 0; map < 2; map++) {
        for (let op = 0; op < 256; op++) {
          if (map === 0 && (op === 0x0f || [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3].includes(op))) continue;
          const bytes = Uint8Array.from([...prefix, ...(map ? [0x0f] : []), op, 0xf0, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
          const d = new iced.Decoder(32, bytes, iced.DecoderOptions.None);
          d.ip = 0x1000n;
          const ins = d.decode();
          const near32 = ins.code !== iced.Code.INVALID && ins.op0Kind === iced.OpKind.NearBranch32;
          const want = near32 && ins.isJccShortOrNear ? BRANCH_JCC : near32 && (ins.isJmpShortOrNear || ins.isCallNear) ? BRANCH_JUMP : 0;
          const target = want !== 0 ? ins.nearBranch32 : -1;
          const n = ins.length;
          ins.free(); d.free();
          const kind = directBranch(bytes, 0);
          const hex = [...bytes.slice(0, prefix.length + map + 2)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
          if ((kind & (BRANCH_JCC | BRANCH_JUMP)) !== want) wrong.push(`${hex}: kind ${kind}, iced ${want}`);
          else if (want !== 0) {
            branches++;
            const t = (0x1000 + n + branchDisplacement(bytes, n, kind)) >>> 0;
            if (t !== target) wrong.push(`${hex}: target ${t.toString(16)}, iced ${target.toString(16)}`);
          }
        }
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    // 16 short and 16 near Jcc, JMP short and near, CALL: 35, with no prefix and with a segment prefix.
    expect(branches).toBe(35 * 2);
  });
});
