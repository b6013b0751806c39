#!/usr/bin/env node
// Runs a network guest under qemu-system-i386 with one of the cards we model, on QEMU's
// user-mode network, and captures the segment in a pcap (filter-dump), for comparing
// with `vpio run ... --nic CARD --pcap FILE` (test/net.test.ts does exactly that).
//
//   node scripts/qemu-net.mjs GUEST CARD OUT.pcap [CMDLINE]
//   CARD: ne2000 (ne2k_pci), ne2000-isa (ne2k_isa) or rtl8139
import { spawnSync } from 'child_process';
import path from 'path';
import { fileURLToPath } from 'url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const [guest, card, pcap, cmdline = ''] = process.argv.slice(2);
const devices = { ne2000: 'ne2k_pci', 'ne2000-isa': 'ne2k_isa', rtl8139: 'rtl8139' };
if (!guest || !devices[card] || !pcap) {
  console.error('usage: node scripts/qemu-net.mjs GUEST ne2000|ne2000-isa|rtl8139 OUT.pcap [CMDLINE]');
  process.exit(2);
}
const r = spawnSync('qemu-system-i386', ['-kernel', `guests/bin/${guest}.elf`, '-append', cmdline, '-nographic', '-no-reboot', '-vga', 'none',
  '-netdev', 'user,id=n0', '-device', `${devices[card]},netdev=n0`, '-object', `filter-dump,id=f0,netdev=n0,file=${path.resolve(pcap)}`,
  '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-m', '64'], { cwd: root, timeout: 120000, stdio: ['ignore', 'pipe', 'inherit'] });
const out = r.stdout.toString('latin1');
process.stdout.write(out.slice(Math.max(0, out.indexOf('boot: '))));
process.exit(r.status ?? 3);
