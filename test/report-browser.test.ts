/**
 * The report in a real browser: headless Chromium (Debian's `chromium` package) through
 * playwright-core. Every chart must render (an <svg> with a non-zero box and marks that draw
 * something), nothing may be fetched from a network, and the console must stay clean.
 * A full-page screenshot goes to test-artifacts/report.png. Skipped when Chromium is not installed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, tmpDir } from './helpers';
import { makeSweepRun, REPORT_RUN } from './report-helpers';
import { CHART_IDS, writeReport } from '../src/report';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SKIP = fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (install Debian's package: apt-get install -y chromium, or set CHROMIUM_PATH)`;
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const made: string[] = [];
function tmp(prefix: string): string {
  const d = tmpDir(prefix);
  made.push(d);
  return d;
}

interface ChartCheck {
  id: string;
  width: number;
  height: number;
  marks: number;
  drawn: number;
}

// playwright-core is loaded lazily, so that the skip message is all a machine without it sees.
type Browser = import('playwright-core').Browser;

async function openReport(browser: Browser, file: string, screenshot?: string) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('request', (r) => {
    if (!/^(file|data|about):/.test(r.url())) requests.push(r.url());
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  const charts: ChartCheck[] = await page.evaluate(() =>
    Array.from(document.querySelectorAll('figure[data-chart]')).map((fig) => {
      const svg = fig.querySelector('svg');
      const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
      const marks = svg ? Array.from(svg.querySelectorAll('.role-mark')) : [];
      // Marks that draw something: a shape with a box of positive size.
      const drawn = marks.filter((g) =>
        Array.from(g.querySelectorAll('path, rect, line, text')).some((el) => {
          const b = (el as SVGGraphicsElement).getBBox();
          return b.width > 0 || b.height > 0;
        }),
      );
      return { id: fig.getAttribute('data-chart') ?? '', width: box.width, height: box.height, marks: marks.length, drawn: drawn.length };
    }),
  );
  const notRun = await page.locator('.not-run').count();
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await page.close();
  return { charts, problems, requests, notRun };
}

describe('report in headless Chromium', { skip: SKIP }, () => {
  let browser: Browser;
  before(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });
  after(async () => {
    await browser?.close();
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });

  it('renders every chart of the fixture run, fetches nothing, logs no error; saves a screenshot', async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const res = await writeReport(REPORT_RUN, path.join(ARTIFACTS, 'report.html'));
    const png = path.join(ARTIFACTS, 'report.png');
    fs.rmSync(png, { force: true });
    const { charts, problems, requests, notRun } = await openReport(browser, res.file, png);

    assert.deepEqual(charts.map((c) => c.id), [...CHART_IDS]);
    for (const c of charts) {
      assert.ok(c.width > 100 && c.height > 50, `${c.id}: svg box ${c.width}×${c.height}`);
      assert.ok(c.marks > 0, `${c.id}: no marks`);
      assert.ok(c.drawn > 0, `${c.id}: marks with nothing drawn`);
    }
    assert.equal(notRun, 0);
    assert.deepEqual(problems, []);
    assert.deepEqual(requests, []);
    assert.ok(fs.statSync(png).size > 20_000, 'screenshot written');
  });

  it('renders a β sweep and an empty run the same way', async () => {
    const sweep = path.join(tmp('rlhf-report-browser-'), 'sweep');
    makeSweepRun(sweep);
    const s = await writeReport(sweep);
    const shot = path.join(ARTIFACTS, 'report-sweep.png');
    const a = await openReport(browser, s.file, shot);
    assert.deepEqual(a.charts.map((c) => c.id), [...CHART_IDS]);
    for (const c of a.charts) assert.ok(c.width > 100 && c.height > 50 && c.drawn > 0, `${c.id}: ${JSON.stringify(c)}`);
    assert.deepEqual(a.problems, []);
    assert.deepEqual(a.requests, []);

    // A run where no stage has run yet: only its resolved config (an empty directory is not a run).
    const emptyRun = tmp('rlhf-report-browser-empty-');
    fs.writeFileSync(path.join(emptyRun, 'config.resolved.yaml'), 'name: empty\n');
    const empty = await writeReport(emptyRun);
    const b = await openReport(browser, empty.file);
    assert.deepEqual(b.charts, []);
    assert.ok(b.notRun >= 5, `${b.notRun} "not run" boxes`);
    assert.deepEqual(b.problems, []);
  });
});
