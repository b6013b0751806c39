/**
 * System-level CPU behaviour that the instruction differential tests (test/cpu-diff)
 * cannot see: faults, their precise EIP and instruction counts, self-modifying code,
 * the triple fault, and the equivalence of the interpreter and the block translator.
 * Machine code is given as bytes with its assembly beside it (GNU as, --32).
 */
import { StopReason } from './bus';
import { EBX, ES } from './registers';
import { loadSegment } from './system';
import { flatMachine, hex, putDescriptor, runToStop, CODE_BASE } from './testing';

/** Runs `code` twice, interpreted and translated, and returns both results. */
function bothModes(code: Uint8Array, handler?: Uint8Array) {
  return [false, true].map((translate) => {
    const { cpu, bus } = flatMachine(code, handler);
    cpu.useTranslator = translate;
    cpu.blocks.hotThreshold = 1; // translate on first sight, so short programs exercise it
    const why = runToStop(cpu);
    return { cpu, bus, why, instructions: cpu.instructions, cycles: cpu.cycles };
  });
}

describe('self-modifying code', () => {
  //   mov ecx, 3 ; xor ebx, ebx
  // lp: mov eax, 1          ; the immediate is patched below
  //   add ebx, eax
  //   mov byte [lp+1], 5    ; rewrite the instruction just executed
  //   dec ecx ; jnz lp
  //   mov eax, ebx ; out 0xf4, al
  const code = hex('b90300000031dbb80100000001c3c60508000100054975ef89d8e6f4');

  it('sees a store to already-executed code on the next fetch (1 + 5 + 5), in both modes', () => {
    for (const r of bothModes(code)) {
      expect(r.why).toBe(StopReason.Requested);
      expect(r.bus.exitCode).toBe(11);
    }
  });
});

describe('a fault in the middle of straight-line code', () => {
  //   mov eax, 10 ; xor edx, edx ; xor ecx, ecx ; inc ebx ; inc ebx
  //   div ecx                 ; at CODE_BASE + 0xb: #DE
  //   mov al, 0x77 ; out 0xf4, al
  const code = hex('b80a00000031d231c94343f7f1b077e6f4');
  // handler: pop eax (the pushed EIP) ; out 0xe0, eax ; mov eax, ebx ; out 0xe0, eax ; mov al, 0x42 ; out 0xf4, al
  const handler = hex('58e7e089d8e7e0b042e6f4');

  it('pushes the faulting instruction\'s EIP (SDM vol. 3, 6.5: #DE is a fault)', () => {
    for (const r of bothModes(code, handler)) {
      expect(r.bus.exitCode).toBe(0x42);
      expect(r.bus.recorded).toEqual([CODE_BASE + 0xb, 2]);
    }
  });

  it('counts the same instructions and cycles with and without the translator', () => {
    const [interp, translated] = bothModes(code, handler);
    expect(translated.instructions).toBe(interp.instructions);
    expect(translated.cycles).toBe(interp.cycles);
    // 5 before the fault, the faulting DIV, then 6 in the handler.
    expect(interp.instructions).toBe(12);
  });
});

describe('triple fault', () => {
  it('stops the machine with a reason when the IDT cannot deliver anything', () => {
    const { cpu } = flatMachine(hex('0f0b')); // ud2
    cpu.idtrLimit = 0; // #UD -> #GP (vector past limit) -> #DF -> shutdown
    expect(runToStop(cpu)).toBe(StopReason.TripleFault);
    expect(cpu.stopMessage).toMatch(/triple fault/);
    expect(cpu.dumpState()).toMatch(/EIP=00010000/);
  });
});

describe('determinism', () => {
  it('gives the same state and cycle count run after run', () => {
    const code = hex('b90300000031dbb80100000001c3c60508000100054975ef89d8e6f4');
    const a = bothModes(code), b = bothModes(code);
    for (let i = 0; i < 2; i++) {
      expect(b[i].cycles).toBe(a[i].cycles);
      expect(Array.from(b[i].cpu.reg32)).toEqual(Array.from(a[i].cpu.reg32));
      expect(b[i].cpu.reg32[EBX]).toBe(11);
    }
  });
});

describe('where a run is cut', () => {
  // REP MOVSB of 100000 bytes forward (in bulk where it can), REP STOSD of 5000 dwords
  // backward (element by element), and a loop of 1000 REP MOVSD of 3 dwords; then the sum.
  const code = hex(
    'be00000200' + 'bf00000300' + 'b9a0860100' + 'f3a4' + // mov esi, 0x20000; mov edi, 0x30000; mov ecx, 100000; rep movsb
    'fd' + 'bffc4f0500' + 'b888776655' + 'b988130000' + 'f3ab' + 'fc' + // std; mov edi, 0x54ffc; mov eax; mov ecx, 5000; rep stosd; cld
    'bae8030000' + 'be00000200' + 'bf00000600' + 'b903000000' + 'f3a5' + '4a' + '75ed' + // mov edx, 1000; 1: esi, edi, ecx 3; rep movsd; dec edx; jnz 1b
    'b000e6f4');
  function cutEvery(translate: boolean, every: number) {
    const { cpu } = flatMachine(code, hex('f4'), 1 << 23);
    cpu.useTranslator = translate;
    for (let i = 0; i < 100000 && cpu.run(every) === StopReason.Budget; i++);
    return { cycles: cpu.cycles, instructions: cpu.instructions, regs: Array.from(cpu.reg32), eip: cpu.eip };
  }
  for (const translate of [false, true]) {
    it(`changes nothing when a REP string is cut part-way (${translate ? 'translated' : 'interpreted'})`, () => {
      const whole = cutEvery(translate, 1e9);
      for (const every of [997, 4096, 65537]) expect(cutEvery(translate, every)).toEqual(whole);
      // Every element costs a cycle and every instruction one more: 100000 + 5000 + 1000 * 3 elements.
      expect(whole.cycles - whole.instructions).toBe(100000 + 5000 + 3000);
    });
  }
});

describe('the A20 gate', () => {
  it('wraps physical addresses at 1 MiB while A20 is disabled (as on a PC at reset)', () => {
    // mov eax, [0x100000 + 0x500] ; out 0xe0, eax ; out 0xf4, al
    const code = hex('a100051000e7e0e6f4');
    for (const enabled of [true, false]) {
      const { cpu, bus } = flatMachine(code, undefined, 2 << 20);
      new DataView(bus.ram.buffer, bus.ram.byteOffset).setUint32(0x500, 0x11111111, true);
      new DataView(bus.ram.buffer, bus.ram.byteOffset).setUint32(0x100500, 0x22222222, true);
      cpu.setA20(enabled);
      runToStop(cpu);
      expect(bus.recorded).toEqual([enabled ? 0x22222222 : 0x11111111]);
    }
  });
});

describe('segment limits, rights and null selectors (SDM vol. 3, 5.3-5.5)', () => {
  // handler: pop eax (error code) ; out 0xe0, eax ; pop eax (EIP) ; out 0xe0, eax ; mov al, 1 ; out 0xf4, al
  const handler = hex('58e7e058e7e0b001e6f4');

  /** Adds descriptors to the test GDT: 0x18 data limit 0xFF, 0x20 read-only data, 0x28 expand-down (offsets above 0xFFF), 0x38 DPL 3 data. */
  function withSegments(code: Uint8Array, translate: boolean) {
    const m = flatMachine(code, handler);
    const dv = new DataView(m.bus.ram.buffer, m.bus.ram.byteOffset);
    const put = (index: number, lo: number, hi: number) => { dv.setUint32(0x1000 + index * 8, lo, true); dv.setUint32(0x1000 + index * 8 + 4, hi, true); };
    put(3, 0x000000ff, 0x00409200); // base 0, limit 0xff, byte granular, 32-bit, writable data
    put(4, 0x0000ffff, 0x00cf9000); // read-only data
    put(5, 0x00000fff, 0x00409600); // expand-down writable data, limit 0xfff, B=1
    put(7, 0x00002345, 0x0041f200); // DPL 3 writable data, limit 0x12345
    m.cpu.gdtrLimit = 8 * 8 - 1;
    m.cpu.useTranslator = translate;
    m.cpu.blocks.hotThreshold = 1;
    runToStop(m.cpu);
    return m.bus;
  }

  const cases: [string, string, number[]][] = [
    // mov ax, 0x18 ; mov es, ax ; mov eax, [es:0xfc] (the last dword: fine) ; mov eax, [es:0x100]
    ['an access past the limit is #GP(0)', '66b818008ec026a1fc00000026a100010000', [0, CODE_BASE + 0xc]],
    // mov ax, 0x20 ; mov es, ax ; mov eax, [es:0x10] ; mov [es:0x10], eax
    ['a write to a read-only data segment is #GP(0)', '66b820008ec026a11000000026a310000000', [0, CODE_BASE + 0xc]],
    // xor eax, eax ; mov es, ax (a null selector loads fine) ; mov eax, [es:0]
    ['using a null selector is #GP(0)', '31c08ec026a100000000', [0, CODE_BASE + 0x4]],
    // mov ax, 0x28 ; mov es, ax ; mov eax, [es:0x2000] (above the limit: fine) ; mov eax, [es:0x800]
    ['expand-down: offsets at or below the limit are #GP(0)', '66b828008ec026a10020000026a100080000', [0, CODE_BASE + 0xc]],
  ];
  for (const [what, code, expected] of cases) {
    it(what, () => {
      for (const translate of [false, true]) expect(withSegments(hex(code), translate).recorded).toEqual(expected);
    });
  }

  it('takes a segment\'s rights from its descriptor again after real mode, though base, limit and flags come out the same', () => {
    // Read-only data at 0x20 with base 0x200 (what real mode makes of 0x20), limit 0xFFFF.
    // In real mode ES keeps that cache but may be written; back in protected mode,
    // reloading 0x20 must make it read-only again. mov [es:0], al ; then the handler.
    const { cpu, bus } = flatMachine(hex('26a200000000b000e6f4'), handler);
    putDescriptor(bus.ram, 0x20, 0x200, 0xffff, 0x90, false, false);
    cpu.gdtrLimit = 0x27;
    loadSegment(cpu, ES, 0x20);
    cpu.setCr0(cpu.cr0 & ~1);
    loadSegment(cpu, ES, 0x20);
    cpu.setCr0(cpu.cr0 | 1);
    loadSegment(cpu, ES, 0x20);
    runToStop(cpu);
    expect(bus.recorded).toEqual([0, CODE_BASE]); // #GP(0) at the write
  });

  it('LAR, LSL, VERR and VERW report a DPL 3 data segment', () => {
    // mov ax, 0x3b ; lar ecx, ax ; lsl edx, ax ; verr ax ; sete bl ; verw ax ; sete bh ; out ecx, edx, bx
    const bus = withSegments(hex('66b83b000f02c80f03d00f00e00f94c30f00e80f94c789c8e7e089d0e7e00fb7c3e7e0b007e6f4'), false);
    expect(bus.recorded).toEqual([0x0040f200, 0x12345, 0x0101]);
    expect(bus.exitCode).toBe(7);
  });
});

describe('instruction fetch', () => {
  // handler: pop eax (error code) ; out 0xe0, eax ; pop eax (EIP) ; out 0xe0, eax ; mov al, 1 ; out 0xf4, al
  const handler = hex('58e7e058e7e0b001e6f4');
  const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  /** Runs `code` (at CODE_BASE, 3 pages) after a far JMP to selector 0x18: code, base `base`, byte-granular limit `limit`. */
  function withCodeSegment(code: number[], base: number, limit: number, translate: boolean) {
    const program = new Uint8Array(0x3000);
    program.set([0xea, ...le32(CODE_BASE + 7 - base), 0x18, 0x00]); // jmp far 0x18:(CODE_BASE+7 - base)
    program.set(code, 7);
    const m = flatMachine(program, handler);
    m.bus.ram.fill(0xf4, CODE_BASE - 0x2000, CODE_BASE); // HLTs: code fetched from the wrong place stops
    putDescriptor(m.bus.ram, 0x18, base, limit, 0x9a, false, true);
    m.cpu.gdtrLimit = 0x1f;
    m.cpu.useTranslator = translate;
    m.cpu.blocks.hotThreshold = 1;
    runToStop(m.cpu);
    return { recorded: m.bus.recorded.map((v) => v >>> 0), cpu: m.cpu };
  }

  it('faults (#GP(0)) on a jump past CS\'s limit, in the page it runs in and beyond', () => {
    // The fault is taken fetching the target, with its EIP (the SDM has the JMP fault).
    for (const [target, limit] of [[0x800, 0x7ff], [0x2000, 0x1fff]]) {
      const code = [0xb8, ...le32(1), 0xe9, ...le32(target - 0x11)]; // 7: mov eax, 1 ; c: jmp CODE_BASE+target
      for (const translate of [false, true]) {
        expect(withCodeSegment(code, 0, CODE_BASE + limit, translate).recorded).toEqual([0, CODE_BASE + target]);
      }
    }
  });

  it('runs code at CS base + EIP across pages', () => {
    // 7: mov eax, 5 ; call +0x1ff4 (CODE_BASE+0x2000 - base) ; out 0xe0, eax ; mov al, 0 ; out 0xf4, al
    // CODE_BASE+0x2000: add eax, eax ; ret
    const base = 0x1000;
    const code = [0xb8, ...le32(5), 0xe8, ...le32(0x2000 - 0x11), 0xe7, 0xe0, 0xb0, 0x00, 0xe6, 0xf4];
    for (const translate of [false, true]) {
      const program = [...code, ...new Array(0x2000 - 7 - code.length).fill(0x90), 0x01, 0xc0, 0xc3];
      expect(withCodeSegment(program, base, 0xfffff, translate).recorded).toEqual([10]);
    }
  });
});

describe('#TS, ring 3 and REP OUTS', () => {
  // ring 0: ltr 0x28 ; iret to ring 3 (CS 0x1b, SS 0x23, EFLAGS IOPL 3)
  // ring 3: ds = 0x23 (IRET to ring 3 nulled the ring-0 DS) ; esi = "r3!" ; ecx = 3 ; dx = 0xe9 ; rep outsb ; int 0x80 ; hlt
  const code = hex('66b828000f00d86a23680000070068023000006a1b681b000100cf66b823008ed8be34000100b90300000066bae900f36ecd80f4723321');
  // #TS handler, reached through a conforming ring-0 segment so it runs at CPL 3 on the
  // user stack: pop error code ; out 0xe0 ; pop EIP ; out 0xe0 ; mov eax, cs ; out 0xe0 ; exit 2
  const handler = hex('58e7e058e7e08cc8e7e0b002e6f4');

  it('raises #TS(SS0) when the TSS gives an unusable ring-0 stack for INT from ring 3 (SDM vol. 3, 6.12.1)', () => {
    const { cpu, bus } = flatMachine(code, handler);
    const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
    const put = (index: number, lo: number, hi: number) => { dv.setUint32(0x1000 + index * 8, lo, true); dv.setUint32(0x1000 + index * 8 + 4, hi, true); };
    put(3, 0x0000ffff, 0x00cffa00); // 0x18: ring-3 code
    put(4, 0x0000ffff, 0x00cff200); // 0x20: ring-3 data
    put(5, 0x50000067, 0x00008900); // 0x28: 32-bit TSS at 0x5000, limit 0x67
    put(6, 0x0000ffff, 0x00cf9e00); // 0x30: conforming ring-0 code
    cpu.gdtrLimit = 7 * 8 - 1;
    dv.setUint32(0x5004, 0x60000, true); // ESP0
    dv.setUint32(0x5008, 0x18, true); // SS0: a code segment, unusable as a stack
    dv.setUint32(0x2000 + 10 * 8, (0x30 << 16) | 0x3000, true); // #TS gate -> conforming segment
    dv.setUint32(0x2000 + 0x80 * 8, (0x08 << 16) | 0x3000, true); // INT 0x80 gate -> ring 0
    for (const translate of [false, true]) {
      const m = flatMachine(code, handler);
      m.bus.ram.set(bus.ram.subarray(0, 0x6000));
      Object.assign(m.cpu, { gdtrLimit: cpu.gdtrLimit });
      m.cpu.useTranslator = translate;
      runToStop(m.cpu);
      expect(m.bus.console).toBe('r3!');
      expect(m.bus.recorded).toEqual([0x18, CODE_BASE + 0x31, 0x33]); // error = SS0 selector; EIP of INT; CS = 0x30 | CPL 3
      expect(m.bus.exitCode).toBe(2);
    }
  });
});

describe('retryInstruction (a hypervisor that cannot complete an access yet)', () => {
  // A loop of port reads into memory (REP INSB) and single INs, run hot so the
  // translator takes it too; the bus refuses every 7th access once with a retry.
  // mov ecx, 40 ; mov edi, 0x20000 ; mov dx, 0x60 ; rep insb ; mov ecx, 30
  // 1: in al, dx ; add ebx, eax ; dec ecx ; jnz 1b ; mov eax, ebx ; out 0xe0, eax ; out 0xf4, al
  const code = hex('b928000000 bf00000200 66ba6000 f36c b91e000000 ec 01c3 49 75fa 89d8 e7e0 e6f4');
  function runWith(retry: boolean, translate: boolean) {
    const { cpu, bus } = flatMachine(code);
    cpu.useTranslator = translate;
    let n = 0, value = 0, refused = 0;
    bus.ioRead = (port: number) => {
      if (port !== 0x60) return 0xff;
      n++;
      if (retry && n % 7 === 0) { n++; refused++; cpu.retryInstruction(); }
      return (value++ * 13) & 0xff;
    };
    let stops = 0;
    for (let i = 0; i < 1000 && bus.exitCode < 0; i++) {
      const why = cpu.run(1e6);
      if (why === StopReason.Requested && bus.exitCode < 0) stops++;
    }
    return { recorded: bus.recorded, mem: [...bus.ram.subarray(0x20000, 0x20000 + 40)], instructions: cpu.instructions, stops, refused };
  }
  for (const translate of [false, true]) {
    it(`re-runs the refused instruction, REP INS from the element it reached, and counts it once (${translate ? 'translator' : 'interpreter'})`, () => {
      const plain = runWith(false, translate);
      const retried = runWith(true, translate);
      expect(retried.refused).toBeGreaterThan(5);
      expect(retried.stops).toBe(retried.refused);
      expect(retried.recorded).toEqual(plain.recorded);
      expect(retried.mem).toEqual(plain.mem);
      expect(retried.instructions).toBe(plain.instructions);
    });
  }
});

describe('REP INS/OUTS straight to and from RAM', () => {
  // rep outsw (300 words from 0x20000 to port 0x60), rep insw (300 words from port 0x61
  // to 0x30000), rep outsb (17 bytes), rep insd (40 dwords); then ECX, ESI, EDI out to
  // the recorder and exit. Without paging the CPU takes the direct path; with identity
  // paging (4 MiB pages) the element-by-element one. Both must make the same accesses
  // in the same order with the same ioRepeat, stop and resume at the same elements when
  // the budget runs out mid-string, and leave the same memory and registers.
  const code = hex(
    'b92c010000 be00000200 66ba6000 f3666f' + // mov ecx,300; mov esi,0x20000; mov dx,0x60; rep outsw
    'b92c010000 bf00000300 66ba6100 f3666d' + // mov ecx,300; mov edi,0x30000; mov dx,0x61; rep insw
    'b911000000 66ba6000 f36e' + //              mov ecx,17; mov dx,0x60; rep outsb
    'b928000000 66ba6100 f36d' + //              mov ecx,40; mov dx,0x61; rep insd
    '89c8 e7e0 89f0 e7e0 89f8 e7e0 e6f4'); //    ecx, esi, edi to port 0xe0; exit
  function run(paging: boolean, slice: number) {
    const { cpu, bus } = flatMachine(code);
    for (let i = 0; i < 0x1000; i++) bus.ram[0x20000 + i] = (i * 29 + 7) & 0xff;
    if (paging) {
      const pd = 0x90000; // one 4 MiB identity page, writable, supervisor
      bus.ram[pd] = 0x83;
      cpu.setCr4(cpu.cr4 | 0x10);
      cpu.setCr3(pd);
      cpu.setCr0(cpu.cr0 | 0x80000000);
    }
    const log: string[] = [];
    let next = 0;
    bus.ioWrite = (port: number, size: number, value: number) => {
      if (port === 0x60) log.push(`out ${size} ${value.toString(16)} k${cpu.ioRepeat}`);
      else if (port === 0xe0) log.push(`reg ${(value >>> 0).toString(16)}`);
      else if (port === 0xf4) { bus.exitCode = value; cpu.requestStop(); }
    };
    bus.ioRead = (port: number, size: number) => {
      log.push(`in ${size} k${cpu.ioRepeat}`);
      const v = (next++ * 0x9e3779b1) >>> (32 - 8 * size);
      return size === 4 ? v | 0 : v;
    };
    let stops = 0;
    while (bus.exitCode < 0 && stops < 100000) { cpu.run(slice); stops++; }
    return { log, stops, mem: Buffer.from(bus.ram.subarray(0x30000, 0x30000 + 700)).toString('hex'), instructions: cpu.instructions };
  }
  for (const slice of [1e6, 97]) {
    it(`makes the same port accesses, in order, with and without the direct path (run budget ${slice} cycles)`, () => {
      const direct = run(false, slice);
      const stepped = run(true, slice);
      expect(direct.log.filter((l) => l.startsWith('out 2'))).toHaveLength(300);
      expect(direct.log.filter((l) => l.startsWith('in 4'))).toHaveLength(40);
      expect(direct.log).toEqual(stepped.log);
      expect(direct.mem).toEqual(stepped.mem);
      expect(direct.instructions).toBe(stepped.instructions);
      expect(direct.stops).toBe(stepped.stops);
      if (slice < 1000) expect(direct.log.filter((l) => l.endsWith(' k0')).length).toBeGreaterThan(4); // resumed mid-string
      // The first words out are the bytes at 0x20000, little-endian.
      expect(direct.log[0]).toBe(`out 2 ${(7 | (36 << 8)).toString(16)} k0`);
    });
  }
});

describe('the P6 model-specific registers firmware and kernels probe', () => {
  //   mov ecx, 0x8b ; xor eax, eax ; mov edx, 0xdead ; wrmsr   (IA32_BIOS_SIGN_ID := junk)
  //   mov eax, 1 ; cpuid                                       (loads the microcode revision)
  //   mov ecx, 0x8b ; mov eax, 0x5555 ; mov edx, 0x5555 ; rdmsr ; mov esi, eax ; mov edi, edx
  //   mov ecx, 0x17 ; rdmsr ; mov ebx, eax ; or ebx, edx       (IA32_PLATFORM_ID)
  //   mov al, 0 ; out 0xf4, al
  const code = hex('b98b00000031c0baadde00000f30b8010000000fa2b98b000000b855550000ba555500000f3289c689d7b9170000000f3289c309d3b000e6f4');

  it('IA32_BIOS_SIGN_ID reads the revision CPUID loaded (0, none), and IA32_PLATFORM_ID reads 0 (SDM vol. 3 9.11.7, table 2-3)', () => {
    for (const r of bothModes(code)) {
      expect(r.why).toBe(StopReason.Requested);
      expect(r.cpu.reg32[6] >>> 0).toBe(0); // ESI: the low half
      expect(r.cpu.reg32[7] >>> 0).toBe(0); // EDI: the revision, not the 0xdead written
      expect(r.cpu.reg32[EBX] >>> 0).toBe(0);
    }
  });

  it('a write to the read-only IA32_PLATFORM_ID, or to an MSR this CPU lacks, is #GP(0)', () => {
    //   mov ecx, 0x17 ; wrmsr ; out 0xf4, al       (the handler at vector 13 halts)
    for (const msr of ['17', '8e']) {
      for (const r of bothModes(hex(`b9${msr}0000000f30e6f4`))) {
        // The handler (HLT, interrupts off) runs instead of the OUT, with #GP's error code 0 pushed.
        expect(r.why).toBe(StopReason.Dead);
        expect(r.cpu.read32(2, r.cpu.reg32[4]) >>> 0).toBe(0);
      }
    }
  });
});
