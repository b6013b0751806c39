/**
 * The remote protocol's framing (gdb's manual, "Overview" and "Binary Data") and what
 * each packet does to a CPU, without gdb: test/gdb.test.ts drives the real one.
 */
import { frame, fromHex, PacketReader, toHex, unescapeBinary, type Incoming } from './rsp';
import { GdbStub, REGISTERS, TARGET_XML } from './stub';
import { CpuTarget } from './cpu-target';
import { flatMachine, hex, CODE_BASE } from '../cpu/testing';

function feed(bytes: string | number[]): Incoming[] {
  const out: Incoming[] = [];
  new PacketReader().feed(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Uint8Array.from(bytes), out);
  return out;
}

/** A packet as gdb frames it. */
function packet(data: string): string {
  return frame(data);
}

describe('framing', () => {
  it('checks the checksum: the sum of the data bytes mod 256, in two hex digits', () => {
    expect(frame('g')).toBe('$g#67');
    expect(frame('OK')).toBe('$OK#9a');
    expect(feed('$g#67')).toEqual([{ kind: 'packet', data: 'g' }]);
    expect(feed('$g#68')).toEqual([{ kind: 'corrupt' }]);
    expect(feed('$g#zz')).toEqual([{ kind: 'corrupt' }]);
  });

  it('takes packets split across chunks, acknowledgements, and a lone 0x03 as an interrupt', () => {
    const r = new PacketReader();
    const out: Incoming[] = [];
    const sum = frame('m1000,4').slice(-2);
    for (const c of ['+$m10', '00,4#', sum[0], sum[1], '\x03-']) r.feed(Buffer.from(c, 'latin1'), out);
    expect(out).toEqual([{ kind: 'ack' }, { kind: 'packet', data: 'm1000,4' }, { kind: 'interrupt' }, { kind: 'nak' }]);
  });

  it('escapes # $ } * in replies as } and the byte XOR 0x20, and undoes it in binary data', () => {
    const data = 'a#b$c}d*e';
    const framed = frame(data);
    expect(framed.startsWith('$a}\x03b}\x04c}]d}\x0ae#')).toBe(true);
    const [p] = feed(framed);
    expect(p.kind).toBe('packet');
    expect(Buffer.from(unescapeBinary((p as { data: string }).data)).toString('latin1')).toBe(data);
  });

  it('expands run-length encoding (x*n: n - 29 more copies) and refuses a bad count', () => {
    // "0* " is '0' and 3 more ('space' is 32).
    const body = '0* ';
    const sum = [...body].reduce((s, c) => s + c.charCodeAt(0), 0) & 0xff;
    expect(feed(`$${body}#${sum.toString(16).padStart(2, '0')}`)).toEqual([{ kind: 'packet', data: '0000' }]);
    const bad = '*a';
    const badSum = [...bad].reduce((s, c) => s + c.charCodeAt(0), 0) & 0xff;
    expect(feed(`$${bad}#${badSum.toString(16).padStart(2, '0')}`)).toEqual([{ kind: 'corrupt' }]);
  });

  it('drops an endless packet as corrupt instead of growing without bound', () => {
    const huge = 'a'.repeat(0x5000);
    expect(feed(frame(huge))).toEqual([{ kind: 'corrupt' }]);
    expect(feed(`${frame(huge)}$g#67`)).toEqual([{ kind: 'corrupt' }, { kind: 'packet', data: 'g' }]);
  });

  it('converts hex both ways and refuses odd or non-hex text', () => {
    expect(toHex([0, 0xab, 0x10])).toBe('00ab10');
    expect(Array.from(fromHex('00ab10')!)).toEqual([0, 0xab, 0x10]);
    expect(fromHex('abc')).toBeNull();
    expect(fromHex('zz')).toBeNull();
  });
});

describe('the stub on a CPU', () => {
  // mov eax, 0x11223344; mov ebx, 5; hlt
  const setup = () => {
    const { cpu } = flatMachine(hex('b8 44 33 22 11 bb 05 00 00 00 f4'));
    const target = new CpuTarget([{ cpu, label: 'CPU 0 (test)' }], () => ['figures']);
    return { cpu, stub: new GdbStub(target) };
  };
  const text = (a: ReturnType<GdbStub['handle']>): string => (a.kind === 'reply' || a.kind === 'detach' ? a.text : `<${a.kind}>`);

  it('reads the registers in gdb i386 order: general, EIP, EFLAGS, segments, the x87 stack and its words', () => {
    const { cpu, stub } = setup();
    cpu.reg32[0] = 0x11223344;
    cpu.reg32[3] = 5;
    const g = text(stub.handle('g'));
    const size = REGISTERS.reduce((s, r) => s + r.bytes, 0);
    expect(size).toBe(16 * 4 + 8 * 10 + 8 * 4);
    expect(g.length).toBe(size * 2);
    expect(g.slice(0, 8)).toBe('44332211'); // EAX, little-endian
    expect(g.slice(24, 32)).toBe('05000000'); // EBX is register 3
    expect(g.slice(64, 72)).toBe(toHex([cpu.eip & 0xff, (cpu.eip >> 8) & 0xff, (cpu.eip >> 16) & 0xff, cpu.eip >>> 24]));
    expect(text(stub.handle('p8'))).toBe(g.slice(64, 72));
    expect(text(stub.handle('p18'))).toBe(g.slice(2 * (16 * 4 + 8 * 10), 2 * (16 * 4 + 8 * 10) + 8)); // fctrl
    expect(parseInt(text(stub.handle('p18')).slice(0, 4).match(/../g)!.reverse().join(''), 16)).toBe(cpu.fpu.f.cw);
  });

  it('writes general registers, EIP and EFLAGS; refuses a segment register and malformed packets', () => {
    const { cpu, stub } = setup();
    expect(text(stub.handle('P1=78563412'))).toBe('OK');
    expect(cpu.reg32[1]).toBe(0x12345678);
    expect(text(stub.handle(`P8=${toHex([0x05, 0x00, 0x01, 0x00])}`))).toBe('OK');
    expect(cpu.eip).toBe(0x10005);
    expect(text(stub.handle('Pa=01000000'))).toBe('E02'); // CS
    expect(text(stub.handle('P1=7856'))).toBe('E01'); // too short
    expect(text(stub.handle('P99=00000000'))).toBe('E01');
    expect(text(stub.handle('Pzz'))).toBe('E01');
    // G writes what changed and keeps what did not (segments unchanged are no error).
    const g = text(stub.handle('g'));
    expect(text(stub.handle(`G${'ffffffff'}${g.slice(8)}`))).toBe('OK');
    expect(cpu.reg32[0]).toBe(-1);
    expect(text(stub.handle('Gxyz'))).toBe('E01');
  });

  it('reads and writes memory at linear addresses, stopping where nothing is mapped', () => {
    const { cpu, stub } = setup();
    expect(text(stub.handle(`m${CODE_BASE.toString(16)},5`))).toBe('b844332211');
    expect(text(stub.handle(`M${(CODE_BASE + 1).toString(16)},2:aabb`))).toBe('OK');
    expect(cpu.mem[CODE_BASE + 1]).toBe(0xaa);
    expect(text(stub.handle(`X${(CODE_BASE + 3).toString(16)},1:}\x03`))).toBe('OK'); // the byte 0x23 ('#'), escaped
    expect(cpu.mem[CODE_BASE + 3]).toBe(0x23);
    expect(text(stub.handle(`X${CODE_BASE.toString(16)},0:`))).toBe('OK');
    // Past the end of RAM (1 MiB here): the bytes up to it, then an error for none at all.
    expect(text(stub.handle('mffffe,4'))).toBe(toHex(cpu.mem.subarray(0xffffe, 0x100000)));
    expect(text(stub.handle('m200000,4'))).toBe('E14');
    expect(text(stub.handle('M200000,1:00'))).toBe('E14');
    expect(text(stub.handle('m,4'))).toBe('E01');
    expect(text(stub.handle('M1000,2:00'))).toBe('E01'); // length and data disagree
  });

  it('keeps breakpoints and write watchpoints; write, read and access watchpoints', () => {
    const { stub } = setup();
    expect(text(stub.handle('Z0,10005,1'))).toBe('OK');
    expect(text(stub.handle('Z1,10007,1'))).toBe('OK');
    expect([...stub.breakpoints]).toEqual([0x10005, 0x10007]);
    expect(text(stub.handle('z0,10005,1'))).toBe('OK');
    expect([...stub.breakpoints]).toEqual([0x10007]);
    expect(text(stub.handle('Z2,2000,4'))).toBe('OK');
    expect(stub.watchpoints).toEqual([{ kind: 2, addr: 0x2000, length: 4 }]);
    expect(text(stub.handle('Z3,3000,2'))).toBe('OK');
    expect(text(stub.handle('Z4,4000,1'))).toBe('OK');
    expect(stub.watchpoints).toEqual([{ kind: 2, addr: 0x2000, length: 4 }, { kind: 3, addr: 0x3000, length: 2 }, { kind: 4, addr: 0x4000, length: 1 }]);
    expect(text(stub.handle('z3,3000,2'))).toBe('OK');
    expect(text(stub.handle('z4,4000,1'))).toBe('OK');
    expect(text(stub.handle('Z3,2000,0'))).toBe('E01');
    expect(text(stub.handle('Z2,2000,0'))).toBe('E01');
    expect(text(stub.handle('Z0,xyz,1'))).toBe('E01');
    expect(text(stub.handle('z2,2000,4'))).toBe('OK');
    expect(stub.watchpoints).toEqual([]);
  });

  it('answers the queries gdb makes on connecting, and its thread and monitor packets', () => {
    const { stub } = setup();
    expect(text(stub.handle('qSupported:multiprocess+;swbreak+'))).toContain('qXfer:features:read+');
    expect(text(stub.handle('qXfer:features:read:target.xml:0,20'))).toBe('m' + TARGET_XML.slice(0, 0x20));
    expect(text(stub.handle(`qXfer:features:read:target.xml:0,${(TARGET_XML.length + 10).toString(16)}`))).toBe('l' + TARGET_XML);
    expect(text(stub.handle('qXfer:features:read:other.xml:0,20'))).toBe('E00');
    expect(TARGET_XML).toContain('<feature name="org.gnu.gdb.i386.core">');
    expect(text(stub.handle('qfThreadInfo'))).toBe('m1');
    expect(text(stub.handle('qsThreadInfo'))).toBe('l');
    expect(Buffer.from(text(stub.handle('qThreadExtraInfo,1')), 'hex').toString()).toBe('CPU 0 (test)');
    expect(text(stub.handle('Hg1'))).toBe('OK');
    expect(text(stub.handle('Hg2'))).toBe('E01');
    expect(text(stub.handle('T1'))).toBe('OK');
    expect(text(stub.handle('T2'))).toBe('E01');
    const monitor = (cmd: string) => Buffer.from(text(stub.handle(`qRcmd,${Buffer.from(cmd).toString('hex')}`)), 'hex').toString();
    expect(monitor('info')).toContain('figures');
    expect(monitor(`phys ${CODE_BASE} 4`)).toBe(`${CODE_BASE.toString(16).padStart(8, '0')}: b8 44 33 22\n`);
    expect(monitor('phys 0xfffff 4')).toContain('(end of RAM at 0x100000)');
    expect(monitor('phys nowhere')).toContain('usage: monitor phys');
    expect(monitor('bogus')).toContain('monitor commands:');
    expect(monitor(`physwrite ${CODE_BASE + 1} 0102`)).toBe(`2 bytes written at 0x${(CODE_BASE + 1).toString(16)}\n`);
    expect(monitor(`phys ${CODE_BASE} 4`)).toBe(`${CODE_BASE.toString(16).padStart(8, '0')}: b8 01 02 22\n`);
    expect(monitor('physwrite 0xfffff 0102')).toContain('past the end of RAM');
    expect(monitor('physwrite 0x1000 xyz')).toContain('usage: monitor physwrite');
    expect(text(stub.handle('qUnknownThing'))).toBe('');
    expect(text(stub.handle('vMustReplyEmpty'))).toBe('');
    expect(text(stub.handle(''))).toBe('');
  });

  it('turns c, s and vCont into resume requests, D into a detach and k into a kill', () => {
    const { stub } = setup();
    expect(stub.handle('c')).toEqual({ kind: 'resume', step: false, thread: 1 });
    expect(stub.handle('s')).toEqual({ kind: 'resume', step: true, thread: 1 });
    expect(stub.handle('vCont;s:1;c')).toEqual({ kind: 'resume', step: true, thread: 1 });
    expect(stub.handle('vCont;c')).toEqual({ kind: 'resume', step: false, thread: 1 });
    expect(text(stub.handle('vCont;x'))).toBe('E01');
    expect(text(stub.handle('c10000'))).toBe('E01');
    expect(stub.handle('D')).toEqual({ kind: 'detach', text: 'OK' });
    expect(stub.handle('k')).toEqual({ kind: 'kill' });
    expect(stub.stopReply(5, 1, 'swbreak:;')).toBe('T05thread:1;swbreak:;');
    expect(text(stub.handle('?'))).toBe('T05thread:1;swbreak:;');
  });
});
