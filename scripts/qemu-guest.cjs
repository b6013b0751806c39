// One guest of guests/runs.json under qemu-system-i386, as the references are recorded
// (scripts/qemu-ref.mjs) and re-made in the tests (test/guests.test.ts): the same
// command line in one place. CommonJS so that both the ES module and Jest load it.
//
// The guest is booted with -kernel, its command line, its serial line to a file, no VGA
// and no NIC (the devices our PC lacks), and QEMU's isa-debug-exit at 0xF4. QEMU prints
// SeaBIOS's and iPXE's banners on the serial line before the guest runs: everything
// before the guest's first line, which always starts with "boot: ", is dropped.
'use strict';
const { spawnSync } = require('child_process');
const { readFileSync, mkdtempSync, rmSync } = require('fs');
const { tmpdir } = require('os');
const path = require('path');

const root = path.join(__dirname, '..');

/** Runs `run` (an entry of guests/runs.json); returns its serial output from "boot: " on, and QEMU's exit status. */
function qemuRun(run, timeoutSeconds = 60) {
  // The serial line goes to a file rather than through -nographic's stdio multiplexer,
  // which under load lost the last bytes, or added stray ones, when the guest exited at once.
  const dir = mkdtempSync(path.join(tmpdir(), 'vpio-qemu-ref-'));
  try {
    return qemuRunIn(run, path.join(dir, 'serial'), timeoutSeconds);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function qemuRunIn(run, serial, timeoutSeconds) {
  const args = ['-kernel', `guests/bin/${run.image}.elf`, '-append', run.cmdline ?? '', '-display', 'none', '-monitor', 'none', '-serial', `file:${serial}`,
    '-no-reboot', '-vga', 'none', '-nic', 'none', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-m', String(run.memoryMiB ?? 64)];
  const r = spawnSync('qemu-system-i386', args, { cwd: root, timeout: timeoutSeconds * 1000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  const out = readFileSync(serial);
  const marker = out.indexOf('boot: ');
  if (marker < 0) throw new Error(`${run.name}: the guest printed no "boot: " line under QEMU (status ${r.status})`);
  return { output: out.subarray(marker), status: r.status };
}

module.exports = { qemuRun };
