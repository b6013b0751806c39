/**
 * The snapshot file: what goes in comes out; a file of another version, a truncated or
 * a damaged one is one SnapshotError with a reason, whatever byte is wrong.
 */
import { encodeSnapshot, decodeSnapshot, SNAPSHOT_VERSION } from './file';
import { SnapshotError } from './graph';

function sample(): Buffer {
  const ram = new Uint8Array(64 * 1024);
  ram[4096 * 3 + 17] = 0x5a;
  ram[ram.length - 1] = 1;
  const odd = new Uint8Array(5000); // not a whole number of pages
  odd[4999] = 9;
  return encodeSnapshot({ machine: { mode: 'native' }, cycle: 1234, extra: { consoles: [[65]] } }, {
    objects: [{ p: -1, at: null, k: 'o', c: 'Pc', f: { x: 1 } }],
    buffers: [ram, odd, new Uint8Array(0)],
  });
}

describe('snapshot files', () => {
  test('round trip: header, objects and buffers; zero pages take no room', () => {
    const file = sample();
    expect(file.length).toBeLessThan(2000); // 69 KiB of buffers, almost all zero
    const { info, graph } = decodeSnapshot(file);
    expect(info).toEqual({ machine: { mode: 'native' }, cycle: 1234, extra: { consoles: [[65]] } });
    expect(graph.objects).toEqual([{ p: -1, at: null, k: 'o', c: 'Pc', f: { x: 1 } }]);
    expect(graph.buffers.map((b) => b.length)).toEqual([65536, 5000, 0]);
    expect(graph.buffers[0][4096 * 3 + 17]).toBe(0x5a);
    expect(graph.buffers[0][65535]).toBe(1);
    expect(graph.buffers[0].reduce((s, v) => s + v, 0)).toBe(0x5a + 1);
    expect(graph.buffers[1][4999]).toBe(9);
  });

  test('every truncation is refused', () => {
    const file = sample();
    for (let n = 0; n < file.length; n += n < 64 ? 1 : 37) {
      expect(() => decodeSnapshot(file.subarray(0, n))).toThrow(SnapshotError);
    }
  });

  test('a changed byte anywhere is refused', () => {
    const file = sample();
    for (let i = 0; i < file.length; i += 13) {
      const bad = Buffer.from(file);
      bad[i] ^= 0x40;
      expect(() => decodeSnapshot(bad)).toThrow(SnapshotError);
    }
  });

  test('another version is refused by name, not read', () => {
    const file = Buffer.from(sample());
    file.writeUInt32LE(SNAPSHOT_VERSION + 1, 8);
    expect(() => decodeSnapshot(file)).toThrow(`a snapshot of format version ${SNAPSHOT_VERSION + 1}; this vpio reads version ${SNAPSHOT_VERSION} only`);
  });

  test('something else entirely is not a snapshot', () => {
    expect(() => decodeSnapshot(Buffer.from('\x7fELF and so on, a kernel perhaps'))).toThrow('not a vpio snapshot');
    expect(() => decodeSnapshot(new Uint8Array(0))).toThrow('not a vpio snapshot');
  });
});
