// Bundles the command line (and the benches) into single files that start fast.
import { build } from 'esbuild';
import { existsSync } from 'fs';
import { fileURLToPath } from 'url';
import path from 'path';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const entries = [
  ['cli/vpio.ts', 'dist/vpio.js'],
  ['bench/cpu.ts', 'dist/bench-cpu.js'],
  ['bench/net.ts', 'dist/bench-net.js'],
  ['bench/nic-fuzz.ts', 'dist/bench-nic-fuzz.js'],
  ['bench/vpio-fuzz.ts', 'dist/bench-vpio-fuzz.js'],
  ['bench/f80.ts', 'dist/bench-f80.js'],
  ['bench/x87.ts', 'dist/bench-x87.js'],
  ['bench/linux.ts', 'dist/bench-linux.js'],
  ['bench/dispatch.ts', 'dist/bench-dispatch.js'],
  ['bench/snapshot.ts', 'dist/bench-snapshot.js'],
].filter(([src]) => existsSync(path.join(root, src)));

await Promise.all(entries.map(([src, out]) => build({
  entryPoints: [path.join(root, src)],
  outfile: path.join(root, out),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
  // v86 is an ES module with its own wasm: loaded at run time from node_modules.
  external: ['v86', 'vega', 'vega-lite', 'iced-x86'],
})));
