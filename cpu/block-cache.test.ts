/**
 * What a guest can make the block translator do, and what that may cost: code that
 * runs once (a run into zeroed memory) is never compiled; the cache's blocks and
 * generated source stay under their caps, whatever the guest runs; a page whose
 * translated code keeps being invalidated by writes (data kept beside code, code
 * patched beside the loop that patches it) is interpreted for a while instead of
 * compiled again and again; ordinary hot loops are still translated. Each guest runs
 * interpreted and translated, with the default policy, and must end in the same state
 * with the same instruction and cycle counts; the expected results are worked out from
 * the program's arithmetic, not from a run. The bounds are checked on the cache's own
 * accounting (`Cpu.blocks`), not on host memory or time.
 */
import { StopReason } from './bus';
import { Cpu } from './cpu';
import { BlockCache, MAX_BLOCKS, MAX_SOURCE, MAX_WASM_BLOCKS, BACKOFF_LEVELS, BACKOFF_WINDOW, MAX_BLOCK_INSTRUCTIONS } from './translator';
import { MAX_REGION_INSTRUCTIONS } from './wasm-translator';
import { flatMachine, TestBus, CODE_BASE, runToStop } from './testing';

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/** mov al, 0 ; out 0xf4, al: TestBus stops the run. */
const EXIT = [0xb0, 0x00, 0xe6, 0xf4];

interface Run { cpu: Cpu; bus: TestBus; why: StopReason }

function run(code: number[], translate: boolean, memBytes: number, setup?: (cpu: Cpu, bus: TestBus) => void, maxCycles = 1e8): Run {
  const { cpu, bus } = flatMachine(new Uint8Array(code), undefined, memBytes);
  cpu.useTranslator = translate;
  setup?.(cpu, bus);
  const why = runToStop(cpu, maxCycles);
  return { cpu, bus, why };
}

function state(r: Run, ranges: [number, number][]): string {
  const regs = Array.from(r.cpu.reg32, (x) => (x >>> 0).toString(16)).join(' ');
  const mem = ranges.map(([a, n]) => Buffer.from(r.bus.ram.subarray(a, a + n)).toString('hex')).join(' ');
  return `why ${r.why} exit ${r.bus.exitCode} eip ${r.cpu.eip.toString(16)} instructions ${r.cpu.instructions} cycles ${r.cpu.cycles}\nregs ${regs} eflags ${r.cpu.getEflags().toString(16)}\nmem ${mem}`;
}

/** Runs both ways; the translated run must end exactly as the interpreted one. Returns the translated run. */
function both(code: number[], memBytes: number, ranges: [number, number][], setup?: (cpu: Cpu, bus: TestBus) => void): Run {
  const interpreted = run(code, false, memBytes, setup);
  const translated = run(code, true, memBytes, setup);
  expect(interpreted.why).toBe(StopReason.Requested);
  expect(state(translated, ranges)).toBe(state(interpreted, ranges));
  // Blocks dropped (replaced in their slot, flushed) gave their table entries back.
  expect(translated.cpu.wasm!.placed).toBe(translated.cpu.blocks.wasmBlocks);
  return translated;
}

/** The cache's accounting, checked against the blocks it holds. */
function accounting(cache: BlockCache): { blocks: number; source: number; wasmBlocks: number } {
  let blocks = 0, source = 0, wasmBlocks = 0;
  for (const b of cache.slots) if (b !== undefined) { blocks++; source += b.source; if (b.wasm >= 0) wasmBlocks++; }
  return { blocks, source, wasmBlocks };
}

describe('a guest that runs into zeroed memory', () => {
  // 00 00 is ADD [EAX], AL. EAX = 0x80003: each instruction adds 3 to the byte at 0x80003.
  const ZERO = 0x100000;
  const N = 1_000_000; // instructions of 00 00
  const code = new Array<number>(ZERO + 2 * N - CODE_BASE).fill(0);
  const start = [0xb8, ...le32(0x80003), 0xbb, ...le32(ZERO), 0xff, 0xe3]; // mov eax, 0x80003 ; mov ebx, ZERO ; jmp ebx
  code.splice(0, start.length, ...start);
  code.push(...EXIT);
  const MEM = 4 << 20;

  it('runs as interpreted and compiles nothing: that code runs once', () => {
    const r = both(code, MEM, [[0x80000, 8]]);
    expect(r.bus.ram[0x80003]).toBe((3 * N) & 0xff);
    expect(r.cpu.instructions).toBe(3 + N + 2);
    expect(r.cpu.blocks.compiles).toBe(0);
    expect(r.cpu.blocks.source).toBe(0);
    // And it is not looked up instruction by instruction: one lookup for each jump.
    expect(r.cpu.blocks.misses).toBeLessThan(10);
  });
});

describe('the accounting', () => {
  it('counts the blocks and the generated source the cache holds', () => {
    // A hot loop and, after it, a few hundred blocks of straight-line code run once
    // each, translated at first sight.
    const body: number[] = [0xb9, ...le32(1000), 0x01, 0xc8, 0x49, 0x75, 0xfb]; // mov ecx, 1000 ; L: add eax, ecx ; dec ecx ; jnz L
    for (let i = 0; i < 3000; i++) body.push(0x05, ...le32(i)); // add eax, i
    body.push(...EXIT);
    const r = both(body, 1 << 20, [], (cpu) => { cpu.blocks.hotThreshold = 1; });
    const c = r.cpu.blocks;
    // A block holds at most MAX_BLOCK_INSTRUCTIONS (JavaScript) or MAX_REGION_INSTRUCTIONS (WebAssembly).
    expect(c.compiles).toBeGreaterThan(3000 / Math.max(MAX_BLOCK_INSTRUCTIONS, MAX_REGION_INSTRUCTIONS));
    expect({ blocks: c.blocks, source: c.source, wasmBlocks: c.wasmBlocks }).toEqual(accounting(c));
    expect(c.source).toBeGreaterThan(0);
  });
});

describe('the caps on the cache', () => {
  // Straight-line code translated at first sight (hotThreshold 1: as if all of it were
  // hot), more of it than the cache may hold; the run is cut into slices so that the
  // accounting is looked at all along.
  function sliced(code: number[], translate: boolean, setup: (cpu: Cpu) => void, check: (cache: BlockCache, cpu: Cpu) => void): Run {
    const { cpu, bus } = flatMachine(new Uint8Array(code), undefined, 2 << 20);
    cpu.useTranslator = translate;
    setup(cpu);
    let why = StopReason.Budget;
    for (let k = 0; k < 10000 && why === StopReason.Budget; k++) {
      why = cpu.run(997);
      check(cpu.blocks, cpu);
    }
    return { cpu, bus, why };
  }

  const cases: [string, number[], (cpu: Cpu) => void, (c: BlockCache) => number, number][] = [
    // 00 00 (ADD [EAX], AL) makes the largest blocks there are: about 16 K characters.
    ['generated source', [0xb8, ...le32(0x80003), ...new Array<number>(2 * 20000).fill(0), ...EXIT],
      (cpu) => { cpu.blocks.hotThreshold = 1; cpu.blocks.maxSource = 1 << 20; }, (c) => c.source, 1 << 20],
    // INC EAX ; CLC: a block of one instruction, and CLC ends it (the translator leaves
    // it to the interpreter: a block that cannot start there is cached too).
    ['blocks', [...new Array<number[]>(2000).fill([0x40, 0xf8]).flat(), ...EXIT],
      (cpu) => { cpu.blocks.hotThreshold = 1; cpu.blocks.maxBlocks = 100; }, (c) => c.blocks, 100],
  ];
  it.each(cases)('hold the %s under the cap, flushing the cache, and the guest sees nothing of it', (_, code, setup, held, cap) => {
    let most = 0;
    let wasmSeen = 0;
    const check = (c: BlockCache, cpu: Cpu) => {
      most = Math.max(most, held(c));
      const a = accounting(c);
      if (a.blocks !== c.blocks || a.source !== c.source || a.wasmBlocks !== c.wasmBlocks) throw new Error(`accounting ${c.blocks}/${c.source}/${c.wasmBlocks}, slots ${a.blocks}/${a.source}/${a.wasmBlocks}`);
      // Blocks dropped (replaced, flushed) give their table entries back.
      if (cpu.wasm!.placed !== c.wasmBlocks) throw new Error(`table entries ${cpu.wasm!.placed}, WebAssembly blocks ${c.wasmBlocks}`);
      wasmSeen = Math.max(wasmSeen, c.wasmBlocks);
    };
    const interpreted = sliced(code, false, setup, check);
    const translated = sliced(code, true, setup, check);
    expect(interpreted.why).toBe(StopReason.Requested);
    expect(state(translated, [[0x80000, 8]])).toBe(state(interpreted, [[0x80000, 8]]));
    expect(most).toBeLessThanOrEqual(cap);
    expect(most).toBeGreaterThan(cap / 2);
    expect(translated.cpu.blocks.flushes).toBeGreaterThan(1);
    expect(wasmSeen).toBeGreaterThan(0);
  });

  it('hold at most maxWasmBlocks WebAssembly blocks; past it blocks are JavaScript, and the guest sees nothing of it', () => {
    // 300 pages, each "inc ebx ; jmp <next page>": one WebAssembly block a page, compiled at first sight.
    const code: number[] = [];
    for (let p = 0; p < 300; p++) {
      const at = p * 4096;
      code.length = at;
      code.fill(0, at);
      code.push(0x43, 0xe9, ...le32(4096 - 6));
    }
    code.length = 300 * 4096;
    code.fill(0, code.length - 4096 + 6);
    code.splice(300 * 4096, 0, ...EXIT);
    let most = 0;
    const check = (c: BlockCache, cpu: Cpu) => {
      most = Math.max(most, c.wasmBlocks);
      const a = accounting(c);
      if (a.wasmBlocks !== c.wasmBlocks) throw new Error(`wasmBlocks ${c.wasmBlocks}, slots ${a.wasmBlocks}`);
      if (cpu.wasm!.placed !== c.wasmBlocks) throw new Error(`table entries ${cpu.wasm!.placed}, WebAssembly blocks ${c.wasmBlocks}`);
    };
    const setup = (cpu: Cpu) => { cpu.blocks.hotThreshold = 1; cpu.blocks.maxWasmBlocks = 40; };
    const interpreted = sliced(code, false, setup, check);
    const translated = sliced(code, true, setup, check);
    expect(interpreted.why).toBe(StopReason.Requested);
    expect(state(translated, [])).toBe(state(interpreted, []));
    expect(translated.cpu.reg32[3]).toBe(300);
    expect(most).toBe(40);
    expect(translated.cpu.blocks.compiles).toBeGreaterThan(250); // the rest as JavaScript
  });

  it('a host that refuses to compile WebAssembly (from the start, or once blocks are compiled): the blocks are JavaScript, and the guest sees nothing of it', () => {
    // mov ecx, 5000 ; L: add eax, ecx ; dec ecx ; jnz L ; jmp <the next page>, where the exit is (a block the WebAssembly translator covers).
    const body: number[] = [0xb9, ...le32(5000), 0x01, 0xc8, 0x49, 0x75, 0xfb, 0xe9, ...le32(4096 - 15)];
    while (body.length < 4096) body.push(0);
    body.push(...EXIT);
    const interpreted = run(body, false, 1 << 20);
    const wasm = WebAssembly as unknown as { Module: unknown };
    const real = wasm.Module;
    const refuse = function refuse(): never { throw new RangeError('WebAssembly.Module(): Out of memory: code space'); };
    // Refusing from the start (the CPU's dispatcher module), or only the blocks' modules.
    for (const when of ['at start', 'blocks']) {
      let translated: Run;
      if (when === 'at start') wasm.Module = refuse;
      try {
        translated = run(body, true, 1 << 20, (cpu) => { cpu.blocks.hotThreshold = 1; wasm.Module = refuse; });
      } finally {
        wasm.Module = real;
      }
      expect(state(translated, [])).toBe(state(interpreted, []));
      expect(translated.cpu.wasm!.refused).toMatch(/code space/);
      expect(translated.cpu.blocks.compiles).toBeGreaterThan(0);
      expect(translated.cpu.blocks.wasmBlocks).toBe(0);
    }
  });

  it('are what cpu/README.md states by default', () => {
    expect([MAX_BLOCKS, MAX_SOURCE, MAX_WASM_BLOCKS]).toEqual([16384, 16 << 20, 2048]);
  });
});

describe('a guest that writes into the page it runs from', () => {
  const N = 200_000;
  const D = CODE_BASE + 0x400; // data in the code's page
  const jnz = (from: number, to: number) => [0x75, (to - (from + 2)) & 0xff];
  // EBX = N + (N-1) + ... + 1, mod 2^32, if every iteration sees the values it stored.
  const SUM = (N * (N + 1) / 2) % 2 ** 32;
  const head = [0xb9, ...le32(N), 0x31, 0xdb]; // mov ecx, N ; xor ebx, ebx
  const L = head.length;

  /** After the loop, a hot loop in the next page: mov ecx, 100000 ; add edi, ecx ; dec ecx ; jnz ; then EXIT. */
  const HOT = CODE_BASE + 0x1000;
  const hot = [0xb9, ...le32(100000), 0x01, 0xcf, 0x49, ...jnz(8, 5), ...EXIT];
  function program(loop: number[]): number[] {
    const code = [...head, ...loop, 0xbe, ...le32(HOT), 0xff, 0xe6]; // mov esi, HOT ; jmp esi
    while (code.length < HOT - CODE_BASE) code.push(0x90);
    return [...code, ...hot];
  }
  const programs: [string, number[]][] = [
    // L: mov [D], ecx ; add ebx, [D] ; dec ecx ; jnz L
    ['data kept beside the code', program([0x89, 0x0d, ...le32(D), 0x03, 0x1d, ...le32(D), 0x49, ...jnz(L + 13, L)])],
    // L: mov [P+1], ecx ; P: mov edx, 0 ; add ebx, edx ; dec ecx ; jnz L (the MOV's immediate is what was stored)
    ['code patched by the loop beside it', program([0x89, 0x0d, ...le32(CODE_BASE + L + 7), 0xba, ...le32(0), 0x01, 0xd3, 0x49, ...jnz(L + 14, L)])],
  ];

  it.each(programs)('%s: as interpreted, with few compiles, and the hot loop after it still translated', (_, code) => {
    const r = both(code, 1 << 20, [[D, 4]]);
    expect(r.cpu.reg32[3] >>> 0).toBe(SUM);
    expect(r.cpu.reg32[7] >>> 0).toBe((100000 * 100001 / 2) % 2 ** 32);
    const c = r.cpu.blocks;
    // The old policy compiled a block every fourth iteration: 50000 compiles.
    expect(c.compiles).toBeLessThan(100);
    expect(c.invalidations).toBeLessThan(100);
    const loop = c.slots.find((b) => b !== undefined && b.eip === HOT + 5);
    expect(typeof loop?.fn).toBe('function');
    // The loop's three instructions, and what follows it once the loop ends.
    expect(loop?.eips.slice(0, 3)).toEqual([HOT + 5, HOT + 7, HOT + 8]);
  });
});

describe('the backoff of a page whose code keeps being invalidated', () => {
  const D = CODE_BASE + 0x400;
  const page = CODE_BASE >>> 12;
  const T = new BlockCache(1).hotThreshold;

  it('ends when the writes stop: the page is translated again', () => {
    // A loop that stores beside the code until the page has backed off as far as it
    // goes, then a loop in the same page that runs (T << BACKOFF_LEVELS) + 1000 times
    // without storing. Its block must be translated by the end.
    const m = T << (BACKOFF_LEVELS + 1);
    const n = (T << BACKOFF_LEVELS) + 1000;
    const code = [
      0xb9, ...le32(m), 0x89, 0x0d, ...le32(D), 0x49, 0x75, 0xf7, // mov ecx, m ; L1: mov [D], ecx ; dec ecx ; jnz L1
      0xb9, ...le32(n), 0x01, 0xcf, 0x49, 0x75, 0xfb, // mov ecx, n ; L2: add edi, ecx ; dec ecx ; jnz L2
      ...EXIT,
    ];
    const r = both(code, 1 << 20, [[D, 4]]);
    expect(r.cpu.reg32[7] >>> 0).toBe((n * (n + 1) / 2) % 2 ** 32);
    expect(r.cpu.blocks.backoff[page]).toBe(BACKOFF_LEVELS);
    const loop = r.cpu.blocks.slots.find((b) => b !== undefined && b.eip === CODE_BASE + 19);
    expect(typeof loop?.fn).toBe('function');
    expect(loop?.gen).toBe(r.cpu.pageGen[page]);
  });

  it('does not start for a page written less often than once a window', () => {
    // Ten times: a loop of twice BACKOFF_WINDOW instructions, then a store beside it.
    const k = BACKOFF_WINDOW; // two instructions an iteration
    const code = [
      0xbb, ...le32(10), // mov ebx, 10
      0xb9, ...le32(k), 0x49, 0x75, 0xfd, // L: mov ecx, k ; L1: dec ecx ; jnz L1
      0x89, 0x1d, ...le32(D), 0x4b, 0x75, 0xef, // mov [D], ebx ; dec ebx ; jnz L
      ...EXIT,
    ];
    const r = both(code, 1 << 20, [[D, 4]]);
    expect(r.bus.ram[D]).toBe(1);
    const c = r.cpu.blocks;
    expect(c.backoff[page]).toBe(0);
    expect(c.invalidations).toBe(10); // every store hit translated code: the inner loop was translated each time
  });
});

describe('the heat threshold', () => {
  // 100 functions of 8 instructions (each a block), called in turn, k times over. A block
  // costs far more than interpreting it until V8 has run it many times (cpu/README.md):
  // code that runs a thousand times stays interpreted, code that runs more is compiled.
  const FUNCS = 100, AT = 0x1000;
  function program(k: number): number[] {
    const code = [0xbe, ...le32(k)]; // mov esi, k
    const L = code.length;
    for (let f = 0; f < FUNCS; f++) code.push(0xe8, ...le32(AT + f * 32 - (code.length + 5))); // call f
    code.push(0x4e, 0x0f, 0x85, ...le32(L - (code.length + 7)), ...EXIT); // dec esi ; jnz L
    while (code.length < AT) code.push(0x90);
    for (let f = 0; f < FUNCS; f++) {
      const fn: number[] = [];
      for (let i = 0; i < 3; i++) fn.push(0x01, 0xc8, 0x83, 0xc3, (f + i) & 0x7f); // add eax, ecx ; add ebx, imm8
      fn.push(0x41, 0xc3); // inc ecx ; ret
      code.push(...fn, ...new Array<number>(32 - fn.length).fill(0x90));
    }
    return code;
  }

  it.each([[1000, false], [3000, true]])('code run %i times is compiled: %s', (k, compiled) => {
    const r = both(program(k), 1 << 20, []);
    expect(r.cpu.reg32[1] >>> 0).toBe(k * FUNCS);
    if (compiled) expect(r.cpu.blocks.compiles).toBeGreaterThanOrEqual(FUNCS);
    else expect(r.cpu.blocks.compiles).toBe(0);
  });
});

describe('an instruction the translator leaves to the interpreter', () => {
  it('does not hold back the code after it: that is compiled as soon as the code before it was', () => {
    // L: inc eax ; clc ; inc ebx ; dec ecx ; jnz L. The block at L stops before CLC; the
    // code after CLC must not wait for CLC's own start to get hot first (a cold run from
    // CLC would go past it unlooked-up): by 2.5 times the threshold it is compiled.
    // The JavaScript translator's (the WebAssembly one runs CLC inside its block).
    const T = new BlockCache(1).hotThreshold;
    const k = Math.floor(2.5 * T);
    const code = [0xb9, ...le32(k), 0x40, 0xf8, 0x43, 0x49, 0x75, 0xfa, ...EXIT];
    const r = both(code, 1 << 20, [], (cpu) => { cpu.useWasm = false; });
    expect([r.cpu.reg32[0] & ~0xff, r.cpu.reg32[3]]).toEqual([k & ~0xff, k]);
    const after = r.cpu.blocks.slots.find((b) => b !== undefined && b.eip === CODE_BASE + 7);
    expect(typeof after?.fn).toBe('function');
  });
});
