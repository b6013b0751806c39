/**
 * `vpio bench`: the quick run end to end (every result right, the tables, the JSON with
 * its configuration), repeatability (the same figures from a second run, and from one
 * worker instead of several), --compare, and bad usage.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { CLI, ROOT, ensureBuilt, runCli } from './support';
import { tempDir } from './tmp';

beforeAll(ensureBuilt);
const tmp = tempDir('vpio-bench-');

type Report = { tool: string; images: Record<string, string>; costs: Record<string, number>; results: { id: string; ok: boolean; wallSeconds: number; mips: number; [k: string]: unknown }[] };
const read = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Report;
/** The figures that must repeat: all but the host's wall time and speed. */
const virtualClock = (r: Report) => r.results.map(({ wallSeconds: _w, mips: _m, ...rest }) => rest);

describe('vpio bench --quick', () => {
  const a = path.join(tmp, 'a.json'), b = path.join(tmp, 'b.json');
  let first: ReturnType<typeof runCli>;
  beforeAll(() => { first = runCli(['bench', '--quick', '--json', a], 300000); });

  it('runs every mode with both cards and gets every result right', () => {
    expect(first.status).toBe(0);
    const out = first.stdout.toString();
    expect(out).toMatch(/udp-tx, one guest: Mbit\/s/);
    expect(out).toMatch(/native +passthrough +virtual +vpio/);
    expect(out).toMatch(/^rtl8139 +1514 /m);
    expect(out).toMatch(/^ping: round trip/m);
    expect(out).toMatch(/24 runs, every result right/);
    const r = read(a);
    expect(r.tool).toBe('vpio bench');
    expect(r.results).toHaveLength(24);
    expect(r.results.every((x) => x.ok)).toBe(true);
    expect(Object.keys(r.images).sort()).toEqual(['ping', 'udp-tx']);
    expect(r.images['udp-tx']).toMatch(/^[0-9a-f]{64}$/);
    expect(r.costs.exitRoundTripCycles).toBeGreaterThan(0);
  });

  it('gives the same virtual-clock figures again, in one process as in several, and --compare says nothing changed', () => {
    const second = runCli(['bench', '--quick', '--json', b, '--jobs', '1', '--compare', a], 300000);
    expect(second.status).toBe(0);
    expect(virtualClock(read(b))).toEqual(virtualClock(read(a)));
    expect(second.stdout.toString()).toMatch(/against the earlier report:\n {2}nothing changed/);
  });

  it('--html writes one page with the charts as inline SVG, nothing to fetch', () => {
    const html = path.join(tmp, 'report.html');
    const r = runCli(['bench', '--quick', '--only', 'udp-tx', '--html', html], 300000);
    expect(r.status).toBe(0);
    const page = fs.readFileSync(html, 'utf8');
    expect(page.startsWith('<!doctype html>')).toBe(true);
    expect((page.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(3);
    expect(page).toMatch(/udp-tx: throughput/);
    expect(page).toMatch(/hypervisor cycles per frame/);
    // Readable offline: no scripts, stylesheets or images from anywhere.
    expect(page).not.toMatch(/<script|<link|<img|src=/i);
    // Every chart fits a screen.
    for (const m of page.matchAll(/<svg [^>]*width="(\d+)"/g)) expect(Number(m[1])).toBeLessThanOrEqual(1400);
    const exits = page.slice(page.indexOf('<h2>Exits per frame'));
    const chart = exits.slice(0, exits.indexOf('</svg>'));
    // The frame sizes in numeric order, not as text (1514 before 64).
    const headers = chart.slice(chart.indexOf('column_header'));
    const sizes = [...headers.matchAll(/<text[^>]*>(\d+)<\/text>/g)].map((m) => Number(m[1])).filter((n) => n === 64 || n === 1514);
    expect(sizes.slice(0, 2)).toEqual([64, 1514]);
    // A colour of its own for every reason in the legend.
    const legend = chart.slice(chart.indexOf('role-legend'));
    const labels = [...legend.matchAll(/role-legend-label[\s\S]*?<text[^>]*>([^<]+)<\/text>/g)].map((m) => m[1]);
    const symbols = [...legend.matchAll(/role-legend-symbol[\s\S]*?fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
    expect(labels.length).toBeGreaterThan(10); // more than Vega's ten default colours
    expect(new Set(symbols.slice(0, labels.length)).size).toBe(labels.length);
  });

  it('--compare reports a change', () => {
    const r = read(a);
    const row = r.results.find((x) => x.id === 'udp-tx/rtl8139/vpio/64B')!;
    (row as unknown as { mbps: number }).mbps = 50;
    const changed = path.join(tmp, 'changed.json');
    fs.writeFileSync(changed, JSON.stringify(r));
    const c = runCli(['bench', '--quick', '--only', 'udp-tx/rtl8139/vpio/64B', '--compare', changed], 120000);
    const m = /udp-tx\/rtl8139\/vpio\/64B: Mbit\/s 50\.00 -> (\d+\.\d\d) \(\+(\d+\.\d)%\)/.exec(c.stdout.toString());
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeCloseTo((Number(m![1]) / 50 - 1) * 100, 0);
  });
});

describe('vpio bench: reports in and out', () => {
  const a = path.join(tmp, 'scope.json');
  beforeAll(() => { runCli(['bench', '--quick', '--only', 'udp-tx/rtl8139/vpio', '--json', a], 300000); });

  it('refuses --json naming the --compare report before running anything, and leaves it whole', () => {
    const before = fs.readFileSync(a, 'utf8');
    const r = runCli(['bench', '--quick', '--json', path.join(tmp, '.', 'scope.json'), '--compare', a], 20000);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^vpio: --json .*scope\.json is the --compare report, which this run reads; give another file to write$/);
    expect(r.stdout.toString()).toBe('');
    expect(fs.readFileSync(a, 'utf8')).toBe(before);
  });

  it('reads and checks the --compare report before the bench starts', () => {
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{"tool": "vpio bench", "results": [1]}');
    const r = runCli(['bench', '--compare', bad], 20000);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/bad\.json is not a vpio bench --json report/);
    expect(r.stderr).not.toMatch(/vpio bench: \d+\//); // nothing ran
    expect(runCli(['bench', '--compare', '/dev/zero'], 20000).stderr).toMatch(/\/dev\/zero is a character device, not a file/);
  });

  it('--compare of runs that differ in scope says so and compares only what both ran alike', () => {
    // The same report as a full run would have it: not --quick, 1000 datagrams a scenario, and scenarios the quick run has not.
    const r = JSON.parse(fs.readFileSync(a, 'utf8'));
    r.quick = false; r.options = { quick: false, only: null };
    for (const f of r.results) { f.scenario.count = 1000; f.mbps *= 2; }
    r.results.push({ ...r.results[0], id: 'udp-rx/rtl8139/vpio/64B', scenario: { ...r.results[0].scenario, workload: 'udp-rx' } });
    const full = path.join(tmp, 'full.json');
    fs.writeFileSync(full, JSON.stringify(r));
    const c = runCli(['bench', '--quick', '--only', 'udp-tx/rtl8139/vpio/64B', '--compare', full], 120000);
    expect(c.status).toBe(0);
    const out = c.stdout.toString();
    expect(out).toMatch(/the runs differ in scope \(the earlier: the full run; this one: --quick --only 'udp-tx\/rtl8139\/vpio\/64B'\): comparing only the 0 scenarios both ran alike \(not compared: 1 run with other parameters, 2 only in the earlier report, 0 only in this one\)/);
    expect(out).not.toMatch(/Mbit\/s .* -> /);
    expect(out).not.toMatch(/: gone$|: new$/m);
  });

  it('SIGINT during the bench stops it with 130 and leaves --json as it was', async () => {
    const json = path.join(tmp, 'kept.json');
    fs.writeFileSync(json, 'the old report');
    const { status, stderr } = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'bench', '--quick', '--json', json], { cwd: ROOT });
      let err = '', sent = false;
      child.stderr.on('data', (d) => {
        err += d;
        if (!sent && /vpio bench: \d+\//.test(err)) { sent = true; child.kill('SIGINT'); }
      });
      child.on('close', (code) => resolve({ status: code, stderr: err }));
    });
    expect(status).toBe(130);
    expect(stderr).toMatch(/^vpio: bench stopped by SIGINT; no report written, the files were left as they were$/m);
    expect(fs.readFileSync(json, 'utf8')).toBe('the old report');
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('vpio bench: the CPU-bound guest beside v86', () => {
  it('runs it in our CPU and, where the v86 package is installed, in v86, and all print the same checksums', () => {
    const json = path.join(tmp, 'cpu.json');
    const r = runCli(['bench', '--only', 'cpubound', '--json', json], 300000);
    expect(r.status).toBe(0);
    const cpu = (JSON.parse(fs.readFileSync(json, 'utf8')) as { cpu: { engines: { engine: string; mips: number; sameOutput: boolean }[] } }).cpu;
    const engines = cpu.engines.map((e) => e.engine);
    expect(engines).toContain('ours');
    expect(cpu.engines.every((e) => e.sameOutput && e.mips > 0)).toBe(true);
    expect(r.stdout.toString()).toMatch(/the CPU-bound guest \(1\.015 billion instructions\), emulator speed beside v86/);
  });
});

describe('vpio bench refuses bad usage in one line, status 2', () => {
  for (const [what, args, message] of [
    ['no such report to compare', ['--compare', '/nonexistent.json'], /no such file: \/nonexistent.json; give a report written by vpio bench --json/],
    ['a report that is not one', ['--quick', '--only', 'ping/rtl8139/native', '--compare', 'package.json'], /package.json is not a vpio bench --json report/],
    ['zero workers', ['--quick', '--jobs', '0'], /bad --jobs '0'/],
    ['a filter that matches nothing', ['--only', 'nothing-like-this'], /--only 'nothing-like-this' matches no scenario/],
  ] as [string, string[], RegExp][]) {
    it(what, () => {
      const r = runCli(['bench', ...args], 120000);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n').filter((l) => !/^vpio bench: \d+\//.test(l))).toEqual([expect.stringMatching(message)]);
    });
  }
});
