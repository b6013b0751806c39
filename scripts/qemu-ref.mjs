#!/usr/bin/env node
// Records reference outputs for the guests under qemu-system-i386 (DESIGN.md section 5).
//
//   node scripts/qemu-ref.mjs [NAME...]     (default: every run in guests/runs.json)
//
// Each guest runs as scripts/qemu-guest.cjs says (the tests run it the same way); its
// output from its first "boot: " line is kept byte for byte (CR LF included), in
// guests/expected/NAME.out, and the exit status in NAME.status.
import { readFileSync, writeFileSync, mkdirSync } from 'fs';
import path from 'path';
import { fileURLToPath } from 'url';
import { qemuRun } from './qemu-guest.cjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { runs } = JSON.parse(readFileSync(path.join(root, 'guests/runs.json'), 'utf8'));
const wanted = process.argv.slice(2);
mkdirSync(path.join(root, 'guests/expected'), { recursive: true });

for (const run of runs) {
  if (wanted.length && !wanted.includes(run.name)) continue;
  const { output, status } = qemuRun(run);
  writeFileSync(path.join(root, `guests/expected/${run.name}.out`), output);
  writeFileSync(path.join(root, `guests/expected/${run.name}.status`), `${status}\n`);
  console.log(`${run.name}: ${output.length} bytes, status ${status}`);
}
