#!/usr/bin/env node
// Records reference outputs for the guests under qemu-system-i386 (DESIGN.md section 5).
//
//   node scripts/qemu-ref.mjs [NAME...]     (default: every run in guests/runs.json)
//
// Each guest is booted with -kernel, its command line, its serial line to a file, no VGA and no NIC
// (the devices our PC lacks), and QEMU's isa-debug-exit at 0xF4. QEMU prints SeaBIOS's and iPXE's banners on the serial line
// before the guest runs: everything before the guest's first line, which always
// starts with "boot: ", is dropped. The rest is kept byte for byte (CR LF included),
// in guests/expected/NAME.out, and the exit status in NAME.status.
import { spawnSync } from 'child_process';
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import { fileURLToPath } from 'url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { runs } = JSON.parse(readFileSync(path.join(root, 'guests/runs.json'), 'utf8'));
const wanted = process.argv.slice(2);
mkdirSync(path.join(root, 'guests/expected'), { recursive: true });

export function qemuRun(run, timeoutSeconds = 60) {
  // -vga none -nic none: QEMU's pc machine without the devices ours does not have.
  // The serial line goes to a file rather than through -nographic's stdio multiplexer,
  // which under load lost the last bytes when the guest exited at once.
  const serial = path.join(mkdtempSync(path.join(tmpdir(), 'vpio-qemu-ref-')), 'serial');
  const args = ['-kernel', `guests/bin/${run.image}.elf`, '-append', run.cmdline ?? '', '-display', 'none', '-monitor', 'none', '-serial', `file:${serial}`,
    '-no-reboot', '-vga', 'none', '-nic', 'none', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-m', String(run.memoryMiB ?? 64)];
  const r = spawnSync('qemu-system-i386', args, { cwd: root, timeout: timeoutSeconds * 1000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  const out = readFileSync(serial);
  const marker = out.indexOf('boot: ');
  if (marker < 0) throw new Error(`${run.name}: the guest printed no "boot: " line under QEMU (status ${r.status})`);
  return { output: out.subarray(marker), status: r.status };
}

for (const run of runs) {
  if (wanted.length && !wanted.includes(run.name)) continue;
  const { output, status } = qemuRun(run);
  writeFileSync(path.join(root, `guests/expected/${run.name}.out`), output);
  writeFileSync(path.join(root, `guests/expected/${run.name}.status`), `${status}\n`);
  console.log(`${run.name}: ${output.length} bytes, status ${status}`);
}
