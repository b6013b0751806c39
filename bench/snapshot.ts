/**
 * bench/snapshot: what snapshots cost (docs/DEBUGGING.md). For a machine run to a cycle:
 * a snapshot file's size, the host time to save it (the graph walked, the pages that are
 * not zero gzipped) and to restore it (read, a machine built, the graph loaded); and
 * what a debugger's checkpoints cost while the run goes on: the time to take each (the
 * pages compared with the checkpoint before) and the bytes each adds.
 *
 *   npm run bench:snapshot -- [--linux KERNEL --initrd INITRD] [--at CYCLES] [--every CYCLES] [--count N]
 *
 * Without --linux: our udp-tx guest streaming to the sink on the RTL8139, natively, with
 * 64 MiB; with it, Debian's kernel (node scripts/linux-guest.mjs prints the paths) with
 * 8139too pinging and sending, 128 MiB. Host time is read here, in the bench, never on
 * the emulated path.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Pc } from '../board/pc';
import { saveGraph, loadGraph } from '../snapshot/graph';
import { encodeSnapshot, decodeSnapshot } from '../snapshot/file';
import { MACHINE_RULES } from '../snapshot/machine';
import { SnapshotPager } from '../snapshot/memory';

const ROOT = path.join(__dirname, '..');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function main(): void {
  const linux = arg('--linux'), initrdPath = arg('--initrd');
  if ((linux === undefined) !== (initrdPath === undefined)) throw new Error('give --linux KERNEL and --initrd INITRD together');
  const image = new Uint8Array(fs.readFileSync(linux ?? path.join(ROOT, 'guests', 'bin', 'udp-tx.elf')));
  const initrd = initrdPath ? new Uint8Array(fs.readFileSync(initrdPath)) : null;
  const at = Number(arg('--at') ?? (linux ? 8e9 : 2e8));
  const every = Number(arg('--every') ?? 5e7);
  const count = Number(arg('--count') ?? 10);
  const memoryBytes = linux ? 128 << 20 : 64 << 20;
  const build = (): Pc => {
    const pc = new Pc({ memoryBytes, nic: 'rtl8139', peers: [{ kind: 'echo' }, { kind: 'sink' }], console: () => {} });
    // A Multiboot kernel's command line starts with its path, as the command line gives it.
    const cmdline = linux ? 'console=ttyS0 vpio_driver=8139too vpio_work=ping,tx vpio_count=50' : 'guests/bin/udp-tx.elf ';
    pc.boot(image, cmdline, initrd);
    return pc;
  };
  const name = linux ? `Debian's kernel, ${memoryBytes >> 20} MiB` : `udp-tx on the RTL8139, ${memoryBytes >> 20} MiB`;
  console.log(`bench-snapshot: ${name}, run to cycle ${at}`);
  const pc = build();
  pc.run(at);

  let t = process.hrtime.bigint();
  const file = encodeSnapshot({ machine: {}, cycle: pc.cpu.cycles }, saveGraph(pc, MACHINE_RULES));
  const saveMs = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  const fresh = build();
  loadGraph(fresh, decodeSnapshot(file).graph, MACHINE_RULES);
  const restoreMs = Number(process.hrtime.bigint() - t) / 1e6;
  if (fresh.cpu.cycles !== pc.cpu.cycles || fresh.cpu.eip !== pc.cpu.eip) throw new Error('the restored machine is not where the saved one was');
  console.log(`file: ${(file.length / 1e6).toFixed(2)} MB, saved in ${saveMs.toFixed(0)} ms, restored (built and loaded) in ${restoreMs.toFixed(0)} ms`);

  const pager = new SnapshotPager(MACHINE_RULES);
  const rows: string[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    t = process.hrtime.bigint();
    const snap = pager.take(pc);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    total += snap.size;
    rows.push(`  at cycle ${pc.cpu.cycles}: ${ms.toFixed(1)} ms, ${(snap.size / 1e6).toFixed(2)} MB new`);
    const r = pc.run(pc.cpu.cycles + every);
    if (r.kind !== 'limit') { rows.push(`  (the guest ended: ${r.kind})`); break; }
  }
  console.log(`checkpoints every ${every} cycles (as a gdb session takes them):`);
  for (const r of rows) console.log(r);
  console.log(`  ${(total / 1e6).toFixed(2)} MB for ${rows.length} checkpoints`);
}

main();
