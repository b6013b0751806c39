/**
 * A snapshot of a stock Linux kernel (Debian 12's, with its initramfs and 8139too on
 * the RTL8139's MMIO registers), saved mid-boot and while its driver talks to the
 * peers, restored: the restored run prints the rest of the console, ends with the same
 * figures and puts the same frames on the wire as the run that saved it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureBuilt, runCli, describeIf } from './support';
import { LINUX_CACHED, LINUX_SKIP, linuxGuest } from './linux-guest';
import { tempDir } from './tmp';

const tmp = tempDir('vpio-linux-snap-');
const at = (name: string) => path.join(tmp, name);

describeIf(LINUX_CACHED, LINUX_SKIP)('a Linux guest restored from a snapshot', () => {
  beforeAll(ensureBuilt);

  it('mid-boot and mid-workload, it goes on as the run that saved it', () => {
    const { kernel, initrd } = linuxGuest();
    const args = ['run', kernel, '--initrd', initrd, '--append', 'console=ttyS0 vpio_driver=8139too vpio_work=ping,tx vpio_count=50',
      '--nic', 'rtl8139', '--peer', 'echo', '--peer', 'sink', '--memory', '128M'];
    // 1.5e9: the kernel setting up; 8e9: /init has loaded 8139too, which pings and sends to the sink.
    const ref = runCli([...args, '--pcap', at('ref.pcap'), '--save-at', `1.5e9:${at('boot.snap')}`, '--save-at', `8e9:${at('work.snap')}`], 600000);
    expect(ref.status).toBe(0);
    expect(ref.stdout.toString()).toMatch(/Run \/init as init process/);
    const whole = fs.readFileSync(at('ref.pcap')).subarray(24);
    for (const snap of ['boot', 'work']) {
      const r = runCli([...args, '--restore', at(`${snap}.snap`), '--pcap', at(`${snap}.pcap`)], 600000);
      expect(r.status).toBe(0);
      const out = r.stdout.toString();
      expect(out.length).toBeGreaterThan(0);
      expect(ref.stdout.toString().endsWith(out)).toBe(true);
      if (snap === 'work') expect(out).not.toMatch(/8139too/); // the driver was loaded before the point
      expect(r.stderr).toBe(ref.stderr);
      const tail = fs.readFileSync(at(`${snap}.pcap`)).subarray(24);
      expect(tail.length).toBeGreaterThan(0);
      expect(whole.subarray(whole.length - tail.length).equals(tail)).toBe(true);
    }
  }, 1200000);
});
