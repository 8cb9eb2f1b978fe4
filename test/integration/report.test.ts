import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../bench/report';
import type { SpikeRun } from '../../bench/spike';

// The benchmark report (npm run bench:report) rendered in a real browser: headless Chromium from Debian's
// `chromium` package (.ci/run installs it). Fed a small fixture, not a benchmark run, so it takes seconds.
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`report.test.ts: SKIPPED, ${CHROMIUM} is absent (apt-get install -y chromium; .ci/run does it)`);

describe('bench report: static SVG charts render in headless Chromium', () => {
  const fixture = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'spike-run.json'), 'utf8')) as SpikeRun;
  const out = mkdtempSync(join(tmpdir(), 'herald-report-'));
  let browser: Browser | undefined;
  let written: ReturnType<typeof writeReport>;

  beforeAll(async () => {
    written = writeReport(fixture, 'test/fixtures/spike-run.json', out);
    if (hasChromium) {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    }
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(out, { recursive: true, force: true });
  });

  it('writes index.html and figures.json with the figures as plotted', () => {
    expect(written.charts).toEqual(['throughput', 'latency', 'queues', 'redis', 'limits']);
    const figures = JSON.parse(readFileSync(written.json, 'utf8'));
    expect(figures.throughput.offered).toEqual(fixture.series.offered);
    expect(figures.latency.p99).toEqual(fixture.series.p99);
    expect(figures.queues.series['gateway → node-1 pending']).toEqual(fixture.queues.map((q) => q.gateway_pending['node-1']));
    expect(figures.redis.appends_per_s).toEqual([150000, 40000, 45000, 15000]);
    // Static page: the charts are SVG in the HTML, no script to run.
    const html = readFileSync(written.html, 'utf8');
    expect(html).not.toMatch(/<script/i);
    expect(html.match(/<svg/g)).toHaveLength(5);
  });

  // Skipped only when Chromium is not installed (the warning above says so): the page cannot be rendered then.
  it.skipIf(!hasChromium)('renders every chart with its axes, series and legend', async () => {
    const page = await browser!.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(pathToFileURL(written.html).href);
    expect(await page.title()).toContain('herald benchmark report');
    expect(await page.locator('#summary tr').count()).toBeGreaterThan(5);

    const charts = await page.locator('figure.chart').evaluateAll((figs) =>
      figs.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        return {
          id: f.getAttribute('data-chart') ?? '',
          width: box?.width ?? 0,
          height: box?.height ?? 0,
          paths: svg?.querySelectorAll('path').length ?? 0,
          texts: [...(svg?.querySelectorAll('text') ?? [])].map((t) => t.textContent ?? ''),
        };
      }),
    );
    expect(charts.map((c) => c.id)).toEqual(['throughput', 'latency', 'queues', 'redis', 'limits']);
    for (const c of charts) {
      expect(c.width, c.id).toBeGreaterThan(900);
      expect(c.height, c.id).toBeGreaterThan(200);
      expect(c.paths, c.id).toBeGreaterThan(5);
    }
    const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
    for (const name of ['offered', 'acked', 'delivered', 'rejected', 'fanout delivered']) expect(byId.throughput.texts).toContain(name);
    expect(byId.throughput.texts).toContain('spike 25000/s');
    for (const name of ['p50', 'p99', 'p99.9', 'max']) expect(byId.latency.texts).toContain(name);
    expect(byId.queues.texts).toContain('gateway → node-1 pending');
    expect(byId.queues.texts).toContain('gateway high-water 20000 per node');
    expect(byId.redis.texts).toContain('Redis: pipelined LPUSH+LTRIM (no persistence)');
    expect(byId.redis.texts).toContain('150000');
    expect(byId.limits.texts.some((t) => t.startsWith('raw IPC'))).toBe(true);
    // The plotted lines really have points: a throughput line is drawn through one point per second.
    const segments = await page
      .locator('figure[data-chart=throughput] svg path')
      .evaluateAll((ps) => Math.max(...ps.map((p) => ((p.getAttribute('d') ?? '').match(/L/g) ?? []).length)));
    expect(segments).toBeGreaterThanOrEqual(fixture.series.t.length - 1);
    expect(errors).toEqual([]);
    await page.close();
  });
});
