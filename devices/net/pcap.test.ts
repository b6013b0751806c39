/**
 * The pcap writer: the classic libpcap format (the global header and one record per
 * frame, as tcpdump's pcap-savefile(5) lays them out), whole records however frames
 * fall across its buffer, and a write error (a full disk) kept rather than thrown,
 * since frames are written from inside the CPU's run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { PcapWriter } from './pcap';
import { tempDir } from '../../test/tmp';

const tmp = tempDir('vpio-pcap-');

function frame(n: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (n + i) & 0xff;
  return f;
}

describe('PcapWriter', () => {
  it('writes the header and whole records, frames straddling its buffer included', () => {
    const file = path.join(tmp, 'a.pcap');
    const w = new PcapWriter(file);
    const lens = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? 60 : 1514));
    lens.forEach((len, i) => w.write(1 + i / 1000 + 0.0000004, frame(i, len)));
    w.close();
    const b = fs.readFileSync(file);
    // pcap-savefile(5): magic, version 2.4, thiszone, sigfigs, snaplen, LINKTYPE_ETHERNET (1)
    expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect([b.readUInt16LE(4), b.readUInt16LE(6), b.readInt32LE(8), b.readUInt32LE(12), b.readUInt32LE(16), b.readUInt32LE(20)]).toEqual([2, 4, 0, 0, 65535, 1]);
    let at = 24;
    lens.forEach((len, i) => {
      expect([b.readUInt32LE(at), b.readUInt32LE(at + 4), b.readUInt32LE(at + 8), b.readUInt32LE(at + 12)]).toEqual([1, i * 1000, len, len]);
      expect(Buffer.compare(b.subarray(at + 16, at + 16 + len), Buffer.from(frame(i, len)))).toBe(0);
      at += 16 + len;
    });
    expect(at).toBe(b.length);
    const tshark = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.len'], { encoding: 'utf8' });
    if (!tshark.error && tshark.status === 0) expect(tshark.stdout.trim().split('\n').map(Number)).toEqual(lens);
  });

  it('is a valid capture of every frame so far after each flush', () => {
    const file = path.join(tmp, 'b.pcap');
    const w = new PcapWriter(file);
    expect(fs.statSync(file).size).toBe(24); // no frames yet: the header, at once
    w.write(0.5, frame(1, 100));
    w.flush();
    expect(fs.statSync(file).size).toBe(24 + 16 + 100);
    w.close();
    w.close(); // a second close does nothing
  });

  it('keeps a write error (ENOSPC on /dev/full) instead of throwing it', () => {
    let w: PcapWriter | null = null;
    expect(() => {
      w = new PcapWriter('/dev/full');
      w.write(0, frame(0, 60));
      w.flush();
      w.close();
    }).not.toThrow();
    expect(w!.error?.code).toBe('ENOSPC');
  });
});
