import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import * as echarts from 'echarts';
import { parseOptions } from './harness/args';
import { parseOrExit } from './harness/main';
import type { SpikeRun } from './spike';

/**
 * `npm run bench:report [-- --input FILE] [--out DIR] [--run]`: draws what `npm run bench -- spike` measured
 * (bench/report/spike-run.json) into bench/report/index.html, a static page of SVG charts rendered in Node with
 * Apache ECharts (server-side rendering, no script in the page), and writes bench/report/figures.json with the
 * same figures as plotted. Without results (or with --run) it runs the spike benchmark first (~1.5 min).
 */

/** Every figure the page plots, exactly as plotted (figures.json). */
export interface Figures {
  generated: string;
  source: string;
  summary: Record<string, unknown>;
  phases: SpikeRun['phases'];
  celebrity_tweets: SpikeRun['celebrity_tweets'];
  throughput: { t: number[]; offered: number[]; acked: number[]; delivered: number[]; rejected: number[]; fanout_delivered: number[] };
  latency: { t: number[]; p50: Array<number | null>; p99: Array<number | null>; p999: Array<number | null>; max: Array<number | null> };
  queues: { t: number[]; series: Record<string, number[]> };
  redis: { labels: string[]; appends_per_s: number[]; note?: string } | null;
  limits: { labels: string[]; per_s: number[] };
}

export interface Chart {
  id: string;
  title: string;
  caption: string;
  svg: string;
}

const WIDTH = 980;
const HEIGHT = 360;

export function buildFigures(run: SpikeRun, source: string): Figures {
  const s = run.series;
  const nodes = [...new Set(run.queues.flatMap((q) => [...Object.keys(q.gateway_pending), ...Object.keys(q.node_triggered)]))].sort();
  const queueSeries: Record<string, number[]> = {};
  for (const n of nodes) {
    queueSeries[`gateway → ${n} pending`] = run.queues.map((q) => q.gateway_pending[n] ?? 0);
    queueSeries[`${n} triggered queue`] = run.queues.map((q) => q.node_triggered[n] ?? 0);
    queueSeries[`${n} bulk queue`] = run.queues.map((q) => q.node_bulk[n] ?? 0);
  }
  let redis: Figures['redis'] = null;
  if (run.redis) {
    const r = run.redis;
    const labels: string[] = [];
    const values: number[] = [];
    if (!('error' in r.redis)) {
      labels.push('Redis: pipelined LPUSH+LTRIM (no persistence)');
      values.push(r.redis.appends_per_s);
    }
    labels.push('herald node, in process (ingest log fsynced)', 'herald node, in process (no fsync)');
    values.push(r.herald_node.appends_per_s, r.herald_node_nosync.appends_per_s);
    if (r.herald_gateway) {
      labels.push('herald via gateway, 3 nodes (like events, durable ack)');
      values.push(r.herald_gateway.appends_per_s);
    }
    redis = { labels, appends_per_s: values, note: 'error' in r.redis ? `Redis not measured: ${r.redis.error}` : undefined };
  }
  const sum = run.summary as { steady?: { achieved_per_s?: number }; spike?: { peak_achieved_per_s?: number }; peak_deliveries_per_s?: number };
  return {
    generated: new Date().toISOString(),
    source,
    summary: run.summary,
    phases: run.phases,
    celebrity_tweets: run.celebrity_tweets,
    throughput: { t: s.t, offered: s.offered, acked: s.acked, delivered: s.delivered, rejected: s.rejected, fanout_delivered: s.fanout_delivered },
    latency: { t: s.t, p50: s.p50, p99: s.p99, p999: s.p999, max: s.max },
    queues: { t: run.queues.map((q) => q.t), series: queueSeries },
    redis,
    limits: {
      labels: [
        'raw LevelDB, fsynced 1000-op batches (ops/s)',
        'raw LevelDB, 1000-op batches (ops/s)',
        'raw IPC process.send (msgs/s)',
        'raw WebSocket send (msgs/s)',
        'herald steady (events/s)',
        'herald spike peak (events/s)',
        'herald peak deliveries (msgs/s)',
      ],
      per_s: [
        run.limits.raw_leveldb_sync_batch_ops_per_s,
        run.limits.raw_leveldb_batch_ops_per_s,
        run.limits.raw_ipc_msgs_per_s,
        run.limits.raw_ws_msgs_per_s,
        sum.steady?.achieved_per_s ?? 0,
        sum.spike?.peak_achieved_per_s ?? 0,
        sum.peak_deliveries_per_s ?? 0,
      ],
    },
  };
}

/** Renders one ECharts option to an SVG string (server-side, no DOM). */
function svgOf(option: echarts.EChartsOption, height = HEIGHT): string {
  const chart = echarts.init(null as unknown as HTMLElement, undefined, { renderer: 'svg', ssr: true, width: WIDTH, height });
  chart.setOption({ animation: false, backgroundColor: '#ffffff', textStyle: { fontFamily: 'sans-serif' }, ...option });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return svg;
}

const pairs = (t: number[], ys: Array<number | null>) => t.map((x, i) => [x, ys[i]] as [number, number | null]);

function phaseAreas(f: Figures): any {
  return {
    silent: true,
    itemStyle: { color: 'rgba(255, 160, 60, 0.12)' },
    label: { position: 'insideTop' as const, color: '#a0522d', fontSize: 11 },
    data: f.phases
      .filter((p) => p.name !== 'warmup')
      .map((p, i, all) => {
        // The busiest phase (the spike) stands out; the others alternate two light shades.
        const peak = p.rate === Math.max(...all.map((x) => x.rate)) && p.rate > Math.min(...all.map((x) => x.rate));
        const color = peak ? 'rgba(231, 76, 60, 0.16)' : i % 2 ? 'rgba(255, 160, 60, 0.10)' : 'rgba(52, 152, 219, 0.08)';
        return [{ name: `${p.name} ${p.rate}/s`, xAxis: p.start, itemStyle: { color } }, { xAxis: p.end }];
      }),
  };
}

/** The gateway's exact high-water mark of pending events per node (scrapes can miss the peak of a burst). */
function highWaterOf(f: Figures): number {
  const perNode = (f.summary as { max_queue_depth?: { gateway_pending_events_per_node_max?: Record<string, number> } }).max_queue_depth
    ?.gateway_pending_events_per_node_max;
  return perNode ? Math.max(0, ...Object.values(perNode)) : 0;
}

function highWater(f: Figures): object {
  const max = highWaterOf(f);
  if (!max) return {};
  return {
    markLine: {
      silent: true,
      symbol: 'none',
      lineStyle: { color: '#c0392b', type: 'dashed' },
      label: { formatter: `gateway high-water ${max} per node`, position: 'insideEndTop', color: '#c0392b' },
      data: [{ yAxis: max }],
    },
  };
}

export function renderCharts(f: Figures): Chart[] {
  const xAxis = { type: 'value' as const, name: 's', min: 0, max: Math.max(1, f.throughput.t.length), splitLine: { show: false } };
  const grid = { left: 70, right: 30, top: 50, bottom: 40 };
  const legend = { top: 8 };
  const tweets = {
    silent: true,
    symbol: 'none',
    lineStyle: { color: '#8e44ad', type: 'dashed' as const },
    label: { formatter: '{b}', color: '#8e44ad', fontSize: 10 },
    data: f.celebrity_tweets.map((t) => ({ name: `tweet ${t.author}`, xAxis: t.at })),
  };
  const line = (name: string, ys: Array<number | null>, extra: object = {}) => ({
    name,
    type: 'line' as const,
    showSymbol: false,
    data: pairs(f.throughput.t, ys),
    ...extra,
  });

  const charts: Chart[] = [
    {
      id: 'throughput',
      title: 'Throughput across the spike',
      caption:
        'Events per second: offered (by intended send time), acked (by ack time), delivered to subscribers and rejected; fanout deliveries of celebrity tweets.',
      svg: svgOf({
        legend,
        grid,
        xAxis,
        yAxis: { type: 'value', name: 'events/s' },
        series: [
          line('offered', f.throughput.offered, { markArea: phaseAreas(f), markLine: tweets }),
          line('acked', f.throughput.acked),
          line('delivered', f.throughput.delivered),
          line('rejected', f.throughput.rejected),
          line('fanout delivered', f.throughput.fanout_delivered),
        ],
      }),
    },
    {
      id: 'latency',
      title: 'Latency percentiles over time',
      caption:
        "Publish to delivery at the subscriber, from each event's intended send time (coordinated-omission safe), by the second the event was due. Log scale.",
      svg: svgOf({
        legend,
        grid,
        xAxis,
        yAxis: { type: 'log', name: 'ms', min: 1 },
        series: [
          line('p50', f.latency.p50, { markArea: phaseAreas(f) }),
          line('p99', f.latency.p99),
          line('p99.9', f.latency.p999),
          line('max', f.latency.max, { lineStyle: { type: 'dotted' } }),
        ],
      }),
    },
    {
      id: 'queues',
      title: 'Queue depths',
      caption:
        "From GET /metrics once a second: events pending from the gateway to each node (herald_channel_pending_events) and work queued inside each node (herald_node_queue_depth; triggered = ingest events, bulk = fanout followers). The dashed line is the gateway's own high-water mark (herald_channel_pending_events_max): a scrape that waits behind an overloaded gateway misses the peak.",
      svg: svgOf({
        legend: { ...legend, type: 'scroll' },
        grid,
        xAxis,
        // Room for the high-water line, which may be far above every 1-s sample.
        yAxis: { type: 'value', name: 'queued', max: (v: { max: number }) => Math.max(v.max, Math.ceil(highWaterOf(f) * 1.05)) || 1 },
        series: Object.entries(f.queues.series).map(([name, ys], i) => ({
          name,
          type: 'line' as const,
          showSymbol: false,
          data: pairs(f.queues.t, ys),
          ...(i === 0 ? { markArea: phaseAreas(f), ...highWater(f) } : {}),
        })),
      }),
    },
  ];
  if (f.redis) {
    charts.push({
      id: 'redis',
      title: 'Timeline appends: herald and Redis side by side',
      caption: `Appends per second of the same workload (append a notification to one of 1,000 users' timelines, keep 1,000). ${f.redis.note ?? ''}`,
      svg: svgOf(
        {
          grid: { left: 330, right: 90, top: 20, bottom: 30 },
          xAxis: { type: 'value', name: 'appends/s' },
          yAxis: { type: 'category', data: f.redis.labels, inverse: true, axisLabel: { width: 310, overflow: 'truncate' } },
          series: [{ type: 'bar', data: f.redis.appends_per_s, label: { show: true, position: 'right' }, itemStyle: { color: '#c0392b' } }],
        },
        260,
      ),
    });
  }
  charts.push({
    id: 'limits',
    title: 'Herald against the raw limits of this machine',
    caption: "Raw limits measured in the same run before the cluster started (bench/limits.ts), and herald's figures. Log scale.",
    svg: svgOf(
      {
        grid: { left: 330, right: 90, top: 20, bottom: 30 },
        xAxis: { type: 'log', name: '/s', min: 100 },
        yAxis: { type: 'category', data: f.limits.labels, inverse: true, axisLabel: { width: 310, overflow: 'truncate' } },
        series: [{ type: 'bar', data: f.limits.per_s.map((v) => Math.max(v, 1)), label: { show: true, position: 'right' }, itemStyle: { color: '#2c3e50' } }],
      },
      300,
    ),
  });
  return charts;
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function renderHtml(f: Figures, charts: Chart[]): string {
  const sum = f.summary as Record<string, any>;
  const row = (k: string, v: unknown) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(typeof v === 'object' ? JSON.stringify(v) : String(v))}</td></tr>`;
  const keys: Array<[string, unknown]> = [
    ['scenario', sum.scenario],
    ['steady: offered / achieved events/s', `${sum.steady?.offered_per_s} / ${sum.steady?.achieved_per_s}`],
    ['steady: p50 / p99 / p99.9 ms', `${sum.steady?.p50_ms} / ${sum.steady?.p99_ms} / ${sum.steady?.p999_ms}`],
    ['spike: offered / achieved / peak achieved events/s', `${sum.spike?.offered_per_s} / ${sum.spike?.achieved_per_s} / ${sum.spike?.peak_achieved_per_s}`],
    ['spike: p50 / p99 / p99.9 ms', `${sum.spike?.p50_ms} / ${sum.spike?.p99_ms} / ${sum.spike?.p999_ms}`],
    ['recovery after the spike (s)', sum.recovery_s],
    ['max queue depth', sum.max_queue_depth],
    ['rejected by code', sum.rejected_by_code],
    ['ratios to raw limits', sum.ratios],
    ['Redis side by side', sum.redis ?? 'not run'],
    ['machine', `${sum.nproc} cores, node ${sum.node}, busy before the run: ${sum.machine_busy_cores_before} cores`],
  ];
  const figures = charts
    .map(
      (c) =>
        `<figure class="chart" id="chart-${c.id}" data-chart="${c.id}">\n<h2>${escapeHtml(c.title)}</h2>\n${c.svg}\n<figcaption>${escapeHtml(c.caption)}</figcaption>\n</figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>herald benchmark report: ${escapeHtml(String(sum.scenario ?? ''))}</title>
<style>
body { font-family: sans-serif; margin: 24px auto; max-width: ${WIDTH + 40}px; color: #222; }
table { border-collapse: collapse; margin-bottom: 24px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f6f6; font-weight: normal; }
td { font-family: monospace; word-break: break-all; }
figure.chart { margin: 0 0 28px 0; }
figure.chart h2 { font-size: 16px; margin: 0 0 6px 0; }
figcaption { font-size: 12px; color: #555; }
</style>
</head>
<body>
<h1>herald benchmark report</h1>
<p>Generated ${escapeHtml(f.generated)} from <code>${escapeHtml(f.source)}</code> (<code>npm run bench -- spike</code>, then <code>npm run bench:report</code>). The same figures are in <code>figures.json</code>.</p>
<table id="summary">${keys.map(([k, v]) => row(k, v)).join('')}</table>
${figures}
</body>
</html>
`;
}

/** Writes index.html and figures.json into `outDir`; answers their paths. */
export function writeReport(run: SpikeRun, source: string, outDir: string): { html: string; json: string; charts: string[] } {
  const figures = buildFigures(run, source);
  const charts = renderCharts(figures);
  mkdirSync(outDir, { recursive: true });
  const html = join(outDir, 'index.html');
  const json = join(outDir, 'figures.json');
  writeFileSync(html, renderHtml(figures, charts));
  writeFileSync(json, JSON.stringify(figures, null, 1));
  return { html, json, charts: charts.map((c) => c.id) };
}

export function main(argv = process.argv.slice(2)): void {
  const { values } = parseOrExit('bench:report', () => parseOptions(argv, { input: { type: 'string' }, out: { type: 'string' }, run: { type: 'boolean' } }));
  const reportDir = join(__dirname.replace(/[\\/]dist[\\/]bench$/, '/bench'), 'report');
  const input = resolvePath(values.input ?? join(reportDir, 'spike-run.json'));
  const out = resolvePath(values.out ?? reportDir);
  if (values.run || !existsSync(input)) {
    process.stderr.write(`[report] ${values.run ? '--run' : `no results at ${input}`}: running npm run bench -- spike first\n`);
    const bench = spawnSync(process.execPath, [join(__dirname, 'spike.js'), '--out', input], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (bench.status !== 0) throw new Error(`the spike benchmark failed (exit ${bench.status})`);
  }
  const run = JSON.parse(readFileSync(input, 'utf8')) as SpikeRun;
  const res = writeReport(run, input, out);
  process.stdout.write(`${JSON.stringify({ report: res.html, figures: res.json, charts: res.charts })}\n`);
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    console.error(`bench:report failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  }
}
