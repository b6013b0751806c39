/**
 * `vpio bench --html FILE`: the report as one self-contained HTML page, its charts drawn
 * with Vega-Lite (compiled and rendered to inline SVG here, so the page needs nothing
 * online): throughput and hypervisor cycles per frame against frame size for each mode
 * and card, exits per frame, and the sharing scenarios.
 */
import type { BenchReport } from './bench';
import type { Figures } from '../bench/harness';

type Spec = Record<string, unknown>;

/** Vega and Vega-Lite are ES modules: loaded when a chart is drawn (esbuild leaves them out of the bundle). */
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const importEsm = new Function('m', 'return import(m)') as (m: string) => Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function svg(spec: Spec): Promise<string> {
  const vega = await importEsm('vega');
  const vl = await importEsm('vega-lite');
  const compiled = vl.compile({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...spec }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  return view.toSVG();
}

const MODE_COLORS = { domain: ['native', 'passthrough', 'virtual', 'vpio'], range: ['#555555', '#1f77b4', '#d62728', '#2ca02c'] };

/**
 * Kelly's colours of maximum contrast (K. L. Kelly, "Twenty-two colors of maximum
 * contrast", 1965), without white and black: a categorical scheme with a colour for
 * each of up to 20 categories, where Vega's default has 10 and repeats them.
 */
const DISTINCT = ['#0067a5', '#f38400', '#be0032', '#008856', '#875692', '#f3c300', '#848482', '#a1caf1', '#882d17', '#8db600',
  '#e68fac', '#604e97', '#f6a600', '#b3446c', '#dcd300', '#2b3d26', '#f99379', '#c2b280', '#654522', '#e25822'];

/**
 * A colour for every reason: the reasons by their total share, each its own colour; past
 * as many as there are colours, the rarest together as "other".
 */
function reasonColours<T extends { reason: string; v: number }>(rows: T[]): { values: T[]; scale: { domain: string[]; range: string[] } } {
  const total = new Map<string, number>();
  for (const row of rows) total.set(row.reason, (total.get(row.reason) ?? 0) + row.v);
  const byShare = [...total.keys()].sort((a, b) => total.get(b)! - total.get(a)! || a.localeCompare(b));
  let kept = byShare;
  let values = rows;
  if (byShare.length > DISTINCT.length) {
    kept = byShare.slice(0, DISTINCT.length - 1);
    const keep = new Set(kept);
    const other = `other (${byShare.length - kept.length} reasons)`;
    values = rows.map((row) => (keep.has(row.reason) ? row : { ...row, reason: other }));
    kept = [...kept, other];
  }
  // The commonest reasons get the first, most distinct colours; the legend lists them by name.
  const domain = [...kept].sort((a, b) => a.localeCompare(b));
  return { values, scale: { domain, range: domain.map((reason) => DISTINCT[kept.indexOf(reason)]) } };
}

function sweep(rows: Figures[], field: 'mbps' | 'hypervisorCyclesPerFrame', title: string, log: boolean): Spec {
  return {
    title, width: 260, height: 180,
    data: { values: rows.map((f) => ({ frame: f.scenario.frame, mode: f.scenario.mode, card: f.scenario.nic, value: f[field] > 0 || !log ? f[field] : null })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'frame', type: 'quantitative', title: 'frame bytes', scale: { type: 'log', base: 2 } },
      y: { field: 'value', type: 'quantitative', title: field === 'mbps' ? 'Mbit/s' : 'hypervisor cycles/frame', scale: log ? { type: 'log' } : {} },
      color: { field: 'mode', type: 'nominal', scale: MODE_COLORS },
      column: { field: 'card', type: 'nominal', title: null },
    },
  };
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export async function benchHtml(report: BenchReport, tableLines: string[]): Promise<string> {
  const parts: string[] = [];
  // The charts are our guests' sweeps; the Linux rows are in the tables below them.
  const r = report.results.filter((f) => f.scenario.linux === undefined);
  for (const workload of ['udp-tx', 'udp-rx'] as const) {
    const rows = r.filter((f) => f.scenario.workload === workload && f.scenario.guests === 1);
    if (!rows.length) continue;
    parts.push(`<h2>${workload}, one guest</h2>`);
    parts.push(await svg(sweep(rows, 'mbps', `${workload}: throughput`, false)));
    parts.push(await svg(sweep(rows.filter((f) => f.scenario.mode !== 'native'), 'hypervisorCyclesPerFrame', `${workload}: hypervisor cycles per frame`, true)));
  }
  const exits = r.filter((f) => f.scenario.workload === 'udp-tx' && f.scenario.guests === 1 && f.scenario.mode !== 'native');
  if (exits.length) {
    parts.push('<h2>Exits per frame, udp-tx</h2>');
    const { values, scale } = reasonColours(exits.flatMap((f) => Object.entries(f.exitsPerFrame).map(([reason, v]) => ({ mode: f.scenario.mode, card: f.scenario.nic, frame: f.scenario.frame, reason, v }))));
    parts.push(await svg({
      title: 'exits per frame by reason', width: 80, height: 150,
      data: { values },
      mark: 'bar',
      encoding: {
        x: { field: 'mode', type: 'nominal', title: null, sort: MODE_COLORS.domain },
        y: { field: 'v', type: 'quantitative', aggregate: 'sum', title: 'exits/frame' },
        color: { field: 'reason', type: 'nominal', scale, legend: { columns: 1 } },
        // One row per card, the frame sizes across in numeric order: a page wide, not one panel per size and card.
        row: { field: 'card', type: 'nominal', title: null },
        column: { field: 'frame', type: 'ordinal', sort: 'ascending', title: 'frame bytes' },
      },
    }));
  }
  const shared = r.filter((f) => f.scenario.guests > 1 && f.scenario.workload === 'udp-tx');
  if (shared.length) {
    parts.push('<h2>Guests sharing one card</h2>');
    parts.push(await svg({
      title: 'aggregate throughput', width: 160, height: 160,
      data: { values: shared.map((f) => ({ mode: f.scenario.mode, guests: `${f.scenario.guests} guests`, card: f.scenario.nic, mbps: f.mbps })) },
      mark: 'bar',
      encoding: { x: { field: 'guests', type: 'nominal', title: null }, xOffset: { field: 'mode' }, y: { field: 'mbps', type: 'quantitative', title: 'Mbit/s' }, color: { field: 'mode', type: 'nominal', scale: MODE_COLORS }, column: { field: 'card', type: 'nominal', title: null } },
    }));
  }
  const title = `vpio bench ${report.quick ? '(quick)' : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}pre{font-size:12px;background:#f6f6f6;padding:1em;overflow-x:auto}svg{margin:0.5em 1em 0.5em 0}</style></head>
<body><h1>${title}</h1>
<p>vpio ${escape(report.version)}, Node ${escape(report.node)}; every figure on the virtual clock (2 GHz) but the host's wall time. Images: ${Object.entries(report.images).map(([k, v]) => `${escape(k)} ${v.slice(0, 12)}`).join(', ')}.</p>
${parts.join('\n')}
<h2>The tables</h2><pre>${escape(tableLines.join('\n'))}</pre>
</body></html>
`;
}
