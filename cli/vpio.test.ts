/**
 * The command line as a user meets it (DESIGN.md section 7): exit statuses, one-line
 * errors with no stack trace, --help, --list-devices and --trace.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ensureBuilt, runCli } from '../test/support';
import { multibootElf } from '../devices/testing-elf';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vpio-cli-'));
function image(name: string, bytes: Uint8Array): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, bytes);
  return p;
}

// mov dx, 0x3f8 ; mov al, 'A' ; out dx, al ; mov al, 3 ; out 0xf4, al
const PRINT_A_EXIT_3 = [0x66, 0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xb0, 0x03, 0xe6, 0xf4];
// jmp $ (spins forever)
const SPIN = [0xeb, 0xfe];
// lidt [zero-limit IDT] then ud2: #UD cannot be delivered -> #GP -> #DF -> triple fault
const TRIPLE = [0x0f, 0x01, 0x1d, 0x20, 0x00, 0x10, 0x00, 0x0f, 0x0b, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0, 0, 0, 0, 0, 0];
// cli ; hlt
const DEAD = [0xfa, 0xf4];

beforeAll(ensureBuilt);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function expectUsageError(args: string[], message: RegExp) {
  const r = runCli(args);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/ at .*\(.*:\d+:\d+\)/); // no stack trace
}

describe('vpio run', () => {
  it('prints the guest\'s serial bytes and exits with (V << 1) | 1', () => {
    const r = runCli(['run', image('a.elf', multibootElf(PRINT_A_EXIT_3))]);
    expect(r.stdout.toString()).toBe('A');
    expect(r.status).toBe(7);
  });

  it('stops at --max-cycles with status 3 and a one-line reason', () => {
    const r = runCli(['run', image('spin.elf', multibootElf(SPIN)), '--max-cycles', '100000']);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^vpio: stopped: the cycle limit \(100000\) was reached/);
  });

  it('stops on a triple fault with status 3, the reason and a register dump', () => {
    const r = runCli(['run', image('tf.elf', multibootElf(TRIPLE))]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^vpio: stopped: triple fault/);
    expect(r.stderr).toMatch(/EIP=.*CR0=/s);
  });

  it('stops when the guest halts with interrupts disabled', () => {
    const r = runCli(['run', image('dead.elf', multibootElf(DEAD))]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/halted with interrupts disabled/);
  });

  it('refuses bad input with status 2 and one line naming the problem', () => {
    expectUsageError(['run'], /no kernel given/);
    expectUsageError(['run', path.join(tmp, 'missing.elf')], /no such file/);
    expectUsageError(['run', tmp], /is a directory/);
    expectUsageError(['run', image('text.elf', new TextEncoder().encode('hello, not a kernel'))], /no Multiboot header/);
    expectUsageError(['run', image('big.elf', multibootElf([0xf4], { loadAt: 0x100000, bss: 8 << 20 })), '--memory', '4M'], /does not fit/);
    expectUsageError(['run', 'x.elf', '--memory', '12Q'], /bad --memory/);
    expectUsageError(['run', 'x.elf', '--memory', '1M'], /too small/);
    expectUsageError(['run', 'x.elf', '--memory', '3G'], /too large/);
    expectUsageError(['run', 'x.elf', '--max-cycles', '-5'], /--max-cycles/);
    expectUsageError(['run', 'x.elf', '--max-cycles', 'lots'], /--max-cycles/);
    expectUsageError(['run', 'x.elf', '--trace', 'io,bogus'], /unknown trace kind 'bogus'/);
    expectUsageError(['run', 'x.elf', '--bogus'], /unknown option '--bogus'/);
    expectUsageError(['frobnicate'], /unknown command/);
  });

  it('answers --help and --version with status 0', () => {
    const help = runCli(['run', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout.toString()).toMatch(/--max-cycles/);
    expect(runCli(['--version']).stdout.toString()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('lists the machine\'s devices, ports, IRQs and PCI functions', () => {
    const r = runCli(['run', '--list-devices']);
    expect(r.status).toBe(0);
    const out = r.stdout.toString();
    expect(out).toMatch(/0x03f8-0x03ff\s+com1/);
    expect(out).toMatch(/0x0020-0x0021\s+pic-master/);
    expect(out).toMatch(/00:00\.0\s+8086:1237/);
  });

  it('traces port accesses, one line each, to --trace-out', () => {
    const out = path.join(tmp, 'trace.txt');
    const r = runCli(['run', image('a2.elf', multibootElf(PRINT_A_EXIT_3)), '--trace', 'io', '--trace-out', out]);
    expect(r.status).toBe(7);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^\d+ io out port=0x03f8 size=1 value=0x41 dev=com1$/),
      expect.stringMatching(/^\d+ io out port=0x00f4 size=1 value=0x03 dev=debug-exit$/),
    ]);
  });
});

describe('vpio demo', () => {
  it('boots the bundled guest', () => {
    const r = runCli(['demo']);
    expect(r.status).toBe(0); // the guest exited with 0, so npm start succeeds
    expect(r.stdout.toString()).toMatch(/Hello from a Multiboot guest kernel/);
  });
});
