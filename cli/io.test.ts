/**
 * Inputs and output files: an input must be a regular file within its cap, checked
 * before reading; an output names no input (by device and inode, however it is spelt),
 * is written beside its target and put in place whole, and leaves an existing file as
 * it was when it is discarded. Sinks keep a write error instead of throwing it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { OutputFile, Sink, readInput, UsageError, fileIdentity } from './io';
import { tempDir } from '../test/tmp';

const tmp = tempDir('vpio-io-');
const at = (name: string) => path.join(tmp, name);
const leftovers = () => fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'));
const limit = { bytes: 1 << 20, what: 'the cap', fix: 'give a smaller file' };

describe('readInput', () => {
  it('reads a regular file whole', () => {
    fs.writeFileSync(at('k.elf'), 'kernel');
    expect(readInput(at('k.elf'), limit, 'give a kernel').toString()).toBe('kernel');
  });

  it('refuses a character device without reading it (/dev/zero has no end)', () => {
    expect(() => readInput('/dev/zero', limit, 'give a kernel')).toThrow(/\/dev\/zero is a character device, not a file; give a kernel/);
  });

  it('refuses a FIFO at once, with no writer to wait for', () => {
    const fifo = at('fifo');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return; // no mkfifo: nothing to test
    expect(() => readInput(fifo, limit, 'give a kernel')).toThrow(/is a pipe, not a file/);
  });

  it('refuses a directory and a missing file', () => {
    expect(() => readInput(tmp, limit, 'give a kernel')).toThrow(/is a directory, not a file/);
    expect(() => readInput(at('none'), limit, 'give a kernel')).toThrow(/^no such file: .*none; give a kernel$/);
  });

  it('refuses a file over the cap by its size, before reading it', () => {
    // Sparse: 3 GiB that take no disk, and would take seconds and 3 GiB of memory to read.
    const big = at('big.elf');
    fs.closeSync(fs.openSync(big, 'w'));
    fs.truncateSync(big, 3 * 1024 ** 3);
    expect(() => readInput(big, limit, 'give a kernel')).toThrow(/big\.elf is 3072 MiB, more than the cap \(1 MiB\); give a smaller file/);
  });
});

describe('OutputFile', () => {
  const inputs = () => [{ file: at('k.elf'), what: 'the kernel' }];
  beforeEach(() => fs.writeFileSync(at('k.elf'), 'kernel'));

  it('refuses an output that is an input, however it is spelt or linked', () => {
    fs.mkdirSync(at('sub'), { recursive: true });
    fs.rmSync(at('hard.elf'), { force: true });
    fs.rmSync(at('soft.elf'), { force: true });
    fs.linkSync(at('k.elf'), at('hard.elf'));
    fs.symlinkSync(at('k.elf'), at('soft.elf'));
    for (const spelling of [at('k.elf'), path.join(tmp, 'sub', '..', 'k.elf'), at('hard.elf'), at('soft.elf')]) {
      expect(() => OutputFile.open(spelling, '--pcap', inputs(), [])).toThrow(/--pcap .* is the kernel, which this run reads; give another file to write/);
    }
    expect(fs.readFileSync(at('k.elf'), 'utf8')).toBe('kernel');
    expect(leftovers()).toEqual([]);
  });

  it('refuses two outputs in one file, even one not yet there', () => {
    const a = OutputFile.open(at('out.pcap'), '--pcap', [], []);
    expect(() => OutputFile.open(path.join(tmp, 'sub', '..', 'out.pcap'), '--timeline', [], [a])).toThrow(/--timeline .* is the file --pcap writes/);
    a.discard();
  });

  it('writes beside the target and puts the file in place only on commit', () => {
    fs.writeFileSync(at('r.json'), 'old');
    const o = OutputFile.open(at('r.json'), '--json', [], []);
    expect(path.dirname(o.writePath)).toBe(fs.realpathSync(tmp));
    fs.writeFileSync(o.writePath, 'new');
    expect(fs.readFileSync(at('r.json'), 'utf8')).toBe('old');
    o.commit();
    expect(fs.readFileSync(at('r.json'), 'utf8')).toBe('new');
    expect(leftovers()).toEqual([]);
  });

  it('leaves an existing file as it was when discarded', () => {
    fs.writeFileSync(at('keep.pcap'), 'old');
    const o = OutputFile.open(at('keep.pcap'), '--pcap', [], []);
    fs.writeFileSync(o.writePath, 'half');
    o.discard();
    expect(fs.readFileSync(at('keep.pcap'), 'utf8')).toBe('old');
    expect(leftovers()).toEqual([]);
  });

  it('replaces the file a link points to, not the link', () => {
    fs.writeFileSync(at('real.pcap'), 'old');
    fs.rmSync(at('link.pcap'), { force: true });
    fs.symlinkSync(at('real.pcap'), at('link.pcap'));
    const o = OutputFile.open(at('link.pcap'), '--pcap', [], []);
    fs.writeFileSync(o.writePath, 'new');
    o.commit();
    expect(fs.lstatSync(at('link.pcap')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(at('real.pcap'), 'utf8')).toBe('new');
  });

  it('writes a device in place', () => {
    const o = OutputFile.open('/dev/null', '--pcap', [], []);
    expect(o.writePath).toBe('/dev/null');
    o.commit();
  });

  it('refuses an empty name, a directory, and a directory that does not exist, in one line', () => {
    expect(() => OutputFile.open('', '--pcap', [], [])).toThrow(UsageError);
    expect(() => OutputFile.open(tmp, '--pcap', [], [])).toThrow(/is a directory; give a file name/);
    expect(() => OutputFile.open(at('no/such/dir/x.pcap'), '--pcap', [], [])).toThrow(/no such directory/);
  });

  it('tells a file from another by device and inode', () => {
    expect(fileIdentity(at('k.elf'))).toBe(fileIdentity(path.join(tmp, '.', 'k.elf')));
    expect(fileIdentity(at('k.elf'))).not.toBe(fileIdentity(at('r.json')));
  });
});

describe('Sink', () => {
  it('keeps a write error (ENOSPC) instead of throwing it, and drops what follows', () => {
    const fd = fs.openSync('/dev/full', 'w');
    const s = new Sink(fd, '/dev/full');
    expect(() => { s.line('x'); s.flush(); s.line('y'); s.flush(); }).not.toThrow();
    expect(s.error?.code).toBe('ENOSPC');
    expect(s.error?.text).toBe('no space left on device (ENOSPC)');
    expect(s.brokenPipe).toBe(false);
    s.close();
  });

});
