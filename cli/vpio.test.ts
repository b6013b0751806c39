/**
 * The command line as a user meets it (DESIGN.md section 7): exit statuses, one-line
 * errors with no stack trace, --help, --list-devices and --trace.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureBuilt, runCli } from '../test/support';
import { multibootElf } from '../board/testing-elf';
import { tempDir } from '../test/tmp';

const tmp = tempDir('vpio-cli-');
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

  it('stops at --max-cycles with status 4 and a one-line reason', () => {
    const r = runCli(['run', image('spin.elf', multibootElf(SPIN)), '--max-cycles', '100000']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/^vpio: stopped: the cycle limit \(100000\) was reached/);
  });

  it('stops on a triple fault with status 4, the reason and a register dump', () => {
    const r = runCli(['run', image('tf.elf', multibootElf(TRIPLE))]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/^vpio: stopped: triple fault/);
    expect(r.stderr).toMatch(/EIP=.*CR0=/s);
  });

  it('stops when the guest halts with interrupts disabled', () => {
    const r = runCli(['run', image('dead.elf', multibootElf(DEAD))]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/halted with interrupts disabled/);
  });

  it('refuses bad input with status 2 and one line naming the problem', () => {
    expectUsageError(['run'], /no kernel given/);
    expectUsageError(['run', path.join(tmp, 'missing.elf')], /no such file/);
    // A missing initrd is named as the initrd, not as a kernel.
    expectUsageError(['run', image('hlt.elf', multibootElf([0xf4])), '--initrd', path.join(tmp, 'missing.cpio')], /no such file: .*missing\.cpio; give --initrd the path of an initramfs/);
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
    expect(out).not.toMatch(/apic/);
  });

  it('lists the APICs\' pages with --apic', () => {
    const out = runCli(['run', '--list-devices', '--apic']).stdout.toString();
    expect(out).toMatch(/^0xfec00000-0xfec00fff\s+ioapic\s+\d+\n0xfee00000-0xfee00fff\s+lapic\s+\d+$/m);
    expect(out).toMatch(/I\/O APIC pin of its number, IRQ 0 on pin 2/);
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

describe('exit statuses: a guest\'s are odd, every other one even', () => {
  it('a guest that writes 1 gives 3, a stop gives 4, under the hypervisor too', () => {
    // mov al, 1 ; out 0xf4, al
    expect(runCli(['run', image('one.elf', multibootElf([0xb0, 0x01, 0xe6, 0xf4]))]).status).toBe(3);
    const r = runCli(['run', image('spin2.elf', multibootElf(SPIN)), image('spin3.elf', multibootElf(SPIN)), '--mode', 'virtual', '--max-cycles', '1e6']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/^vpio: vm0: stopped: the cycle limit \(1000000\) was reached/m);
  });

  it('a guest that powers the machine off or resets it gives 0, as under qemu -no-reboot, under the hypervisor too', () => {
    // mov dx, 0x604 ; mov ax, 0x2001 (SLP_EN, sleep type 0, SCI_EN) ; out dx, ax ; jmp $
    const off = image('off.elf', multibootElf([0x66, 0xba, 0x04, 0x06, 0x66, 0xb8, 0x01, 0x20, 0x66, 0xef, ...SPIN]));
    // mov al, 0xfe ; out 0x64, al ; jmp $
    const reset = image('reset.elf', multibootElf([0xb0, 0xfe, 0xe6, 0x64, ...SPIN]));
    for (const args of [[off], [reset], [off, reset, '--mode', 'virtual']]) {
      const r = runCli(['run', ...args, '--max-cycles', '1e8']);
      expect([args, r.status]).toEqual([args, 0]);
      expect(r.stderr.toString()).not.toMatch(/stopped|killed/);
    }
  });

  it('a bare vpio prints the usage on stderr, nothing on stdout, and exits 2', () => {
    const r = runCli([]);
    expect(r.status).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toMatch(/^Usage: vpio /);
  });

  it('--help states the exit statuses', () => {
    for (const args of [['--help'], ['run', '--help']]) {
      const help = runCli(args).stdout.toString();
      expect(help).toMatch(/\(V << 1\) \| 1/);
      expect(help).toMatch(/^ {2}4 +stopped: the cycle limit/m);
      expect(help).toMatch(/^ {2}0 +success: the guest powered off or reset the machine/m);
      expect(help).toMatch(/^ {2}6 +an output could not be written/m);
      expect(help).toMatch(/^ {2}141 +stdout or stderr is a pipe/m);
    }
  });
});

describe('cycle counts in the notation the documentation uses', () => {
  const spin = () => image('spin-n.elf', multibootElf(SPIN));
  for (const [text, cycles] of [['1e5', 100000], ['2.5e5', 250000], ['100_000', 100000], ['100000', 100000]] as [string, number][]) {
    it(`--max-cycles ${text} stops at ${cycles}`, () => {
      const r = runCli(['run', spin(), '--max-cycles', text]);
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(new RegExp(`^vpio: stopped: the cycle limit \\(${cycles}\\)`));
    });
  }

  it('--quantum, --card-quantum and --trace-from take the same notation', () => {
    expect(runCli(['run', 'guests/bin/hello.elf', '--mode', 'virtual', '--quantum', '2e6']).status).toBe(1);
    expect(runCli(['run', 'guests/bin/hello.elf', '--mode', 'vpio', '--nic', 'rtl8139', '--card-quantum', '1e6']).status).toBe(1);
    const r = runCli(['run', 'guests/bin/hello.elf', '--trace', 'io', '--trace-from', '0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^\d+ io out port=0x03f8/m);
  });

  it('refuses fractions of a cycle, negatives, NaN and more than 2^53 - 1, in one line', () => {
    expectUsageError(['run', 'x.elf', '--max-cycles', '2.5'], /bad --max-cycles '2\.5': not a whole number of cycles/);
    expectUsageError(['run', 'x.elf', '--max-cycles', '-2e9'], /bad --max-cycles '-2e9': a negative number/);
    expectUsageError(['run', 'x.elf', '--max-cycles', 'NaN'], /bad --max-cycles 'NaN'/);
    expectUsageError(['run', 'x.elf', '--max-cycles', '1e16'], /more than 2\^53 - 1/);
    expectUsageError(['run', 'x.elf', '--mode', 'virtual', '--quantum', '1.5e3.2'], /bad --quantum/);
    expectUsageError(['run', 'x.elf', '--trace', 'io', '--trace-from', '0.5'], /bad --trace-from '0\.5': not a whole number/);
  });
});

describe('hints name a mode that takes the option', () => {
  // Each option refused on the bare machine, with what it needs to run.
  const cases: [string, string[]][] = [
    ['--on-violation', ['kill']],
    ['--card-quantum', ['1e6']],
    ['--quantum', ['2e6']],
    ['--host-memory', ['512M']],
    ['--nic-vms', ['all']],
  ];
  for (const [option, value] of cases) {
    it(`${option}: every mode the hint names takes it`, () => {
      const r = runCli(['run', 'guests/bin/hello.elf', option, ...value, '--nic', 'rtl8139']);
      expect(r.status).toBe(2);
      const hint = /add --mode (.*)$/m.exec(r.stderr);
      expect(hint).not.toBeNull();
      const modes = hint![1].split(/, | or /).map((m) => m.trim());
      expect(modes.length).toBeGreaterThan(0);
      for (const mode of modes) {
        const ok = runCli(['run', 'guests/bin/hello.elf', option, ...value, '--nic', 'rtl8139', '--mode', mode]);
        expect({ mode, status: ok.status, stderr: ok.status === 2 ? ok.stderr : '' }).toEqual({ mode, status: 1, stderr: '' });
      }
    });
  }

  it('two kernels on the bare machine: every mode the hint names runs them', () => {
    const r = runCli(['run', 'guests/bin/hello.elf', 'guests/bin/hello.elf']);
    expect(r.status).toBe(2);
    const modes = /give --mode ([a-z, ]+?)(?: \(|$)/m.exec(r.stderr)![1].split(/, | or /);
    expect(modes).toEqual(['passthrough', 'virtual', 'vpio']);
    for (const mode of modes) expect(runCli(['run', 'guests/bin/hello.elf', 'guests/bin/hello.elf', '--mode', mode, '--nic', 'rtl8139']).status).toBe(1);
  });
});

describe('options refused in one line rather than taken silently', () => {
  it('empty file names', () => {
    expectUsageError(['run', 'guests/bin/ping.elf', '--nic', 'rtl8139', '--pcap', ''], /--pcap needs a file name/);
    expectUsageError(['run', 'guests/bin/ping.elf', '--timeline', ''], /--timeline needs a file name/);
    expectUsageError(['run', 'guests/bin/ping.elf', '--trace', 'io', '--trace-out', ''], /--trace-out needs a file name/);
  });

  it('a --trace-vm that the run does not have', () => {
    expectUsageError(['run', 'guests/bin/hello.elf', '--mode', 'virtual', '--trace', 'exit', '--trace-vm', '5'], /bad --trace-vm 5: this run has one VM, vm0/);
    expectUsageError(['run', 'guests/bin/hello.elf', 'guests/bin/hello.elf', '--mode', 'virtual', '--trace', 'exit', '--trace-vm', '2'], /this run has 2 VMs, vm0\.\.vm1/);
    expectUsageError(['run', 'guests/bin/hello.elf', '--trace', 'io', '--trace-vm', '0'], /--trace-vm picks one VM's lines under --mode passthrough, virtual or vpio/);
  });

  it('--peer source parameters out of range, not whole, unknown or given twice', () => {
    const run = (spec: string) => ['run', 'guests/bin/udp-rx.elf', '--nic', 'rtl8139', '--peer', spec];
    expectUsageError(run('source,size=3'), /bad --peer source size '3'; give 4\.\.1472/);
    expectUsageError(run('source,rate=1.5'), /bad --peer source rate '1\.5': not a whole number/);
    expectUsageError(run('source,count=-1'), /bad --peer source count '-1': a negative number/);
    expectUsageError(run('source,speed=5'), /unknown --peer source parameter 'speed'/);
    expectUsageError(run('source,rate=5,rate=6'), /rate= is given twice/);
    expectUsageError(run('source,start=600001'), /bad --peer source start '600001'; give 0\.\.600000/);
  });

  it('--peer source count=0 sends until the run ends, as --help says', () => {
    const r = runCli(['run', 'guests/bin/udp-rx.elf', '--nic', 'rtl8139', '--peer', 'source,count=0,rate=5000', '--cmdline', 'count=50']);
    expect(r.status).toBe(1);
    // The guest ends after 50; the source sent them and went on until then.
    expect(Number(/source: (\d+) datagrams sent/.exec(r.stderr)![1])).toBeGreaterThanOrEqual(50);
    const help = runCli(['run', '--help']).stdout.toString().replace(/\s+/g, ' ');
    for (const p of ['rate=N (datagrams a second; 1..1000000, default 1000)', 'size=N (UDP payload bytes', '4..1472, default 512)', 'count=N (datagrams to send; 0 sends until the run ends; 0..1000000000, default 0)', 'port=N (the guest\'s UDP port', '1..65535, default 9)']) {
      expect(help).toContain(p);
    }
  });

  it('--help says where the defaults differ from QEMU\'s', () => {
    const help = runCli(['run', '--help']).stdout.toString().replace(/\s+/g, ' ');
    expect(help).toMatch(/--memory is 64M \(QEMU: 128M\)/);
    expect(help).toMatch(/QEMU's default is 128M/);
  });
});

describe('--list-devices shows the card: its ports and its IRQ', () => {
  // QEMU's ne2k_isa defaults to iobase 0x300, irq 9; SeaBIOS routes 00:03.0's INTA# to IRQ 11.
  it('the ISA NE2000 at 0x300-0x31f, IRQ 9', () => {
    const out = runCli(['run', '--list-devices', '--nic', 'ne2000-isa']).stdout.toString();
    expect(out).toMatch(/^0x0300-0x031f\s+ne2000/m);
    expect(out).toMatch(/^ {2}9 {2}ne2000 \(ISA\)$/m);
  });

  for (const [nic, name] of [['rtl8139', 'RTL8139'], ['ne2000', 'RTL8029 \\(NE2000\\)']]) {
    it(`the ${nic} on PCI: its BAR's ports and IRQ 11`, () => {
      const out = runCli(['run', '--list-devices', '--nic', nic]).stdout.toString();
      expect(out).toMatch(new RegExp(`^0xc000-0xc0[0-9a-f]{2}\\s+${nic === 'rtl8139' ? 'rtl8139' : 'ne2000'}`, 'm'));
      expect(out).toMatch(new RegExp(`^ 11 {2}${name} \\(PCI 00:03\\.0 INTA#\\)$`, 'm'));
    });
  }
});

describe('vpio demo', () => {
  it('boots the bundled guest', () => {
    const r = runCli(['demo']);
    expect(r.status).toBe(0); // the guest exited with 0, so npm start succeeds
    expect(r.stdout.toString()).toMatch(/Hello from a Multiboot guest kernel/);
  });
});
