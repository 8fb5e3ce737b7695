import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';
import { figure, makeSweepRun, REPORT_RUN, SWEEP } from './report-helpers';
import { CHART_IDS, NotARunError, writeReport } from '../src/report';
import { klTarget, naturalCompare, parseDiagnostics, parseDiversity, readRunArtifacts } from '../src/report/artifacts';
import { buildCharts, estimateTextWidth, lastWarnings, optimumVerdict, ppoTimeChart, renderSvg, rewardByRankChart, scopeSvgIds, thin, timeSplit } from '../src/report/charts';
import { fmt, verdictRows } from '../src/report/headline';

const NOW = new Date('2026-01-02T03:04:05Z');

/** Temporary directories, removed when the file's tests end. */
const made: string[] = [];
function tmp(prefix = 'rlhf-report-'): string {
  const d = tmpDir(prefix);
  made.push(d);
  return d;
}
after(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));
const readJsonl = (f: string): Record<string, number>[] =>
  fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

/** An inline SVG that draws something: positive size and at least one mark with geometry. */
function assertDrawnSvg(fig: string, id: string): void {
  const svg = /<svg\b[^>]*>[\s\S]*<\/svg>/.exec(fig)?.[0];
  assert.ok(svg, `${id}: no inline <svg>`);
  const w = Number(/\bwidth="([\d.]+)"/.exec(svg)?.[1]);
  const h = Number(/\bheight="([\d.]+)"/.exec(svg)?.[1]);
  assert.ok(w > 50 && h > 50, `${id}: svg size ${w}×${h}`);
  assert.match(svg, /class="mark-(line|rect|area|symbol|text|rule)[^"]*role-mark/, `${id}: no data marks`);
  // A mark group with real geometry: a path with a "d", or a line/rect element.
  const marks = svg.split(/<g class="mark-/).slice(1).filter((g) => /role-mark/.test(g.slice(0, 80)));
  assert.ok(
    marks.some((g) => /<path\b[^>]*\bd="M[^"]{8,}"/.test(g) || /<line\b/.test(g)),
    `${id}: the marks draw nothing`,
  );
}

/** No script, and nothing fetched from a network: no src/href to http(s):// or //host. */
function assertSelfContained(html: string): void {
  assert.doesNotMatch(html, /<script\b/i, 'no scripts');
  for (const m of html.matchAll(/<(script|link|img|iframe|source|video|audio|object|embed)\b[^>]*>/gi)) {
    assert.doesNotMatch(m[0], /\b(src|href|data)\s*=\s*["']?\s*(https?:)?\/\//i, `external resource: ${m[0]}`);
  }
  assert.doesNotMatch(html, /\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i, 'an external src/href somewhere');
  assert.doesNotMatch(html, /@import|url\(\s*["']?(https?:)?\/\//i, 'CSS loads nothing');
}

describe('rlhf report: the fixture run', () => {
  it('draws every chart as inline SVG, self-contained, with the headline numbers and the config', async () => {
    const out = path.join(tmp('rlhf-report-'), 'sub', 'r.html');
    const res = await writeReport(REPORT_RUN, out, { now: NOW });
    assert.equal(res.file, path.resolve(out));
    assert.deepEqual(res.charts, [...CHART_IDS]);
    assert.deepEqual(res.missing, []);
    assert.deepEqual(res.warnings, []);
    // Written atomically: only the report in its directory, no temporary left behind.
    assert.deepEqual(fs.readdirSync(path.dirname(out)), ['r.html']);

    const html = fs.readFileSync(out, 'utf8');
    assert.match(html, /^<!DOCTYPE html>/);
    for (const id of CHART_IDS) {
      const fig = figure(html, id);
      assert.ok(fig, `chart ${id} missing from the page`);
      assertDrawnSvg(fig, id);
      assert.match(fig, /<figcaption>[^<]{40,}<\/figcaption>/, `${id}: caption`);
    }
    assert.doesNotMatch(html, /data-missing=/);
    assertSelfContained(html);

    // Several inline SVGs share one id namespace: every id must be unique.
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(new Set(ids).size, ids.length, 'duplicate element ids');
    for (const m of html.matchAll(/url\(#([^)]+)\)/g)) assert.ok(ids.includes(m[1]), `dangling reference #${m[1]}`);

    // Headline numbers, recomputed from the raw artifacts.
    const ppo = readJsonl(path.join(REPORT_RUN, 'ppo', 'metrics.jsonl'));
    const r0 = ppo[0]['env/reward_mean'];
    const r1 = ppo[ppo.length - 1]['env/reward_mean'];
    assert.ok(r1 > r0);
    const probe = readJson(path.join(REPORT_RUN, 'probe', 'probe.json'));
    const h0 = probe.random_number.entropy.reference;
    const h1 = probe.random_number.entropy.policy;
    const kl = ppo[ppo.length - 1]['objective/kl'];
    const headline = html.slice(html.indexOf('id="headline"'), html.indexOf('id="sft"'));
    assert.ok(headline.includes(`${fmt(r0)} → ${fmt(r1)}`), 'reward before → after');
    assert.ok(headline.includes(`${fmt(h0)} → ${fmt(h1)} nats`), 'random-number entropy before → after');
    assert.ok(headline.includes(`>${fmt(kl)}<`), 'final KL');
    assert.ok(headline.includes('target 6'), 'KL target from the config');
    for (const u of ['logsigmoid', 'inverse', 'prompt-aware']) {
      const d = readJson(path.join(REPORT_RUN, 'train-rm', u, 'diagnostics.json'));
      assert.ok(headline.includes(`Collapse score, ${u}</td><td class="value">${fmt(d.collapse_score)}<`), `collapse score of ${u}`);
    }
    assert.deepEqual(
      res.headline.map((h) => h.key),
      // Utilities in the order the config lists them.
      ['sft-loss', 'heldout-reward', 'reward', 'kl', 'number-entropy', 'kl-to-optimum', 'collapse:logsigmoid', 'collapse:inverse', 'collapse:prompt-aware',
        'verdict:reward-collapse', 'verdict:prompt-aware-curves', 'verdict:prompt-aware-score', 'verdict:mode-collapse', 'verdict:reaches-optimum', 'verdict:not-temperature'],
    );
    for (const h of res.headline.filter((x) => x.key.startsWith('verdict:'))) assert.ok((h.value === 'yes') === h.pass && /^(yes|no)$/.test(h.value), JSON.stringify(h));
    const ho = res.headline.find((h) => h.key === 'heldout-reward')!;
    const hoPoints = readJsonl(path.join(REPORT_RUN, 'ppo', 'metrics.jsonl')).filter((r) => r['probe/heldout_reward'] !== undefined);
    assert.equal(ho.before, hoPoints[0]['probe/heldout_reward']);
    assert.equal(ho.after, hoPoints[hoPoints.length - 1]['probe/heldout_reward']);
    const ent = res.headline.find((h) => h.key === 'number-entropy')!;
    assert.equal(ent.before, h0);
    assert.equal(ent.after, h1);

    // The config, verbatim (escaped) in a <pre>, and the title from its `name`.
    const cfgText = fs.readFileSync(path.join(REPORT_RUN, 'config.resolved.yaml'), 'utf8');
    const pre = /<pre class="config">([\s\S]*?)<\/pre>/.exec(html)?.[1];
    assert.ok(pre);
    assert.equal(pre.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&'), cfgText);
    assert.match(html, /<title>RLHF report: quickstart<\/title>/);
  });

  it('renders every chart spec without a vega-lite warning', async () => {
    const a = await readRunArtifacts(REPORT_RUN);
    const charts = buildCharts({ sft: a.sft?.points, sample: a.sample, rewardModels: a.rewardModels, ppo: a.ppo, probe: a.probe, klTarget: klTarget(a.config?.value) });
    assert.equal(charts.size, CHART_IDS.length);
    for (const [id, c] of charts) {
      await renderSvg(c.spec, id);
      assert.deepEqual(lastWarnings(), [], `${id}: warnings`);
    }
  });

  it('writes RUN/report/report.html by default', async () => {
    const run = path.join(tmp('rlhf-report-'), 'run');
    fs.cpSync(REPORT_RUN, run, { recursive: true });
    const res = await writeReport(run);
    assert.equal(res.file, path.join(run, 'report', 'report.html'));
    assert.ok(fs.statSync(res.file).size > 50_000);
  });
});

describe('rlhf report: β sweep (named sub-runs)', () => {
  it('draws one line per sub-run and a headline row per sub-run', async () => {
    const run = path.join(tmp('rlhf-report-'), 'sweep');
    makeSweepRun(run);
    const a = await readRunArtifacts(run);
    assert.deepEqual(a.ppo.map((r) => r.name), SWEEP.map((s) => s.name));
    assert.deepEqual(a.probe.map((r) => r.name), SWEEP.map((s) => s.name));

    const res = await writeReport(run, undefined, { now: NOW });
    assert.deepEqual(res.missing, []);
    const html = fs.readFileSync(res.file, 'utf8');
    for (const id of ['ppo-reward', 'ppo-kl', 'ppo-kl-coef', 'ppo-entropy'] as const) {
      const fig = figure(html, id)!;
      // Colour legend names each sub-run; the first line mark group holds one path per sub-run.
      for (const s of SWEEP) assert.ok(fig.includes(`>${s.name}</text>`), `${id}: legend entry ${s.name}`);
      // A line mark split by colour is one group (one path) per series, in each panel.
      const groups = fig.split('<g class="mark-line role-mark').slice(1);
      const panels = id === 'ppo-entropy' ? 2 : 1;
      assert.equal(groups.length, SWEEP.length * panels, `${id}: ${groups.length} lines`);
      for (const g of groups) assert.match(g.slice(0, g.indexOf('</g>')), /<path\b[^>]*\bd="M/, `${id}: an empty line`);
    }
    // The random-number chart has a panel per sub-run, titled with its β.
    for (const s of SWEEP) assert.ok(figure(html, 'probe-numbers')!.includes(`>${s.name} (β = ${s.beta})</text>`), `panel of ${s.name}`);
    for (const s of SWEEP) {
      const row = res.headline.find((h) => h.key === `reward:${s.name}`);
      assert.ok(row, `headline reward for ${s.name}`);
      assert.ok(res.headline.find((h) => h.key === `number-entropy:${s.name}`));
    }
    // The larger β stays closer to the reference: its after-entropy is higher.
    const e = SWEEP.map((s) => res.headline.find((h) => h.key === `number-entropy:${s.name}`)!.after as number);
    assert.ok(e[0] < e[1] && e[1] < e[2], `entropies ${e}`);
    assertSelfContained(html);
  });
});

describe('rlhf report: missing and partial artifacts', () => {
  it('an empty directory is not a run: an error naming it, and no page', async () => {
    const dir = tmp('rlhf-report-empty-');
    await assert.rejects(writeReport(dir, undefined, { now: NOW }), (e: Error) => e instanceof NotARunError && e.message.startsWith(`${dir} is not a run directory`));
    assert.deepEqual(fs.readdirSync(dir), [], 'nothing written');
  });

  it('a run where no stage has run yet gives a page of "not run" sections, not an error', async () => {
    const run = tmp('rlhf-report-empty-');
    fs.writeFileSync(path.join(run, 'config.resolved.yaml'), 'name: nothing-ran\n');
    const res = await writeReport(run, undefined, { now: NOW });
    assert.deepEqual(res.charts, []);
    assert.deepEqual(res.missing, [...CHART_IDS]);
    assert.deepEqual(res.headline, []);
    const html = fs.readFileSync(res.file, 'utf8');
    assert.doesNotMatch(html, /<svg\b/);
    const missing = [...html.matchAll(/data-missing="([^"]+)"/g)].flatMap((m) => m[1].split(' '));
    for (const id of CHART_IDS) assert.ok(missing.includes(id), `${id} not marked as not run`);
    for (const s of ['sft', 'sample', 'reward-model', 'ppo', 'probe']) {
      const sec = html.slice(html.indexOf(`<section id="${s}">`), html.indexOf('</section>', html.indexOf(`<section id="${s}">`)));
      assert.match(sec, /Not run/, `section ${s}`);
    }
    assert.match(html, /name: nothing-ran/, 'the config is shown');
    assert.match(html, /data-missing="headline"/);
  });

  it('draws what exists, marks the rest, and survives odd or broken files', async () => {
    const run = path.join(tmp('rlhf-report-'), 'partial');
    fs.cpSync(REPORT_RUN, run, { recursive: true });
    fs.rmSync(path.join(run, 'sft'), { recursive: true });
    fs.rmSync(path.join(run, 'sample'), { recursive: true });
    // PPO logged only some metrics, one of them non-finite (written as null + nonfinite, as the logger does).
    const ppo = readJsonl(path.join(run, 'ppo', 'metrics.jsonl')).map((r, i) => ({
      stage: 'ppo',
      step: r.step,
      time: r.time,
      elapsed: r.elapsed,
      'env/reward_mean': i === 3 ? null : r['env/reward_mean'],
      'objective/kl': r['objective/kl'],
      ...(i === 3 ? { nonfinite: { 'env/reward_mean': 'NaN' } } : {}),
    }));
    fs.writeFileSync(path.join(run, 'ppo', 'metrics.jsonl'), ppo.map((r) => JSON.stringify(r)).join('\n') + '\n');
    // A reward model as the trainer writes it when there is no held-out set and no theory for a kind.
    const diag = readJson(path.join(run, 'train-rm', 'inverse', 'diagnostics.json'));
    diag.heldout = null;
    diag.theory = { open: diag.theory.open, closed: null };
    diag.curves[0].open = null;
    diag.curves[0].collapse_score = null;
    fs.writeFileSync(path.join(run, 'train-rm', 'inverse', 'diagnostics.json'), JSON.stringify(diag));
    // A broken diagnostics file and a probe without π*.
    fs.writeFileSync(path.join(run, 'train-rm', 'logsigmoid', 'diagnostics.json'), '{"utility": "logsig');
    const probe = readJson(path.join(run, 'probe', 'probe.json'));
    probe.random_number.optimum = null;
    delete probe.diversity;
    fs.writeFileSync(path.join(run, 'probe', 'probe.json'), JSON.stringify(probe));

    const res = await writeReport(run, undefined, { now: NOW });
    assert.deepEqual(res.charts, ['rm-reward-by-rank', 'rm-reward-histogram', 'rm-collapse-score', 'ppo-reward', 'ppo-kl', 'probe-numbers']);
    assert.deepEqual(res.missing, CHART_IDS.filter((id) => !res.charts.includes(id)));
    assert.equal(res.warnings.length, 1);
    assert.match(res.warnings[0], /logsigmoid[\\/]diagnostics\.json: could not read/);
    const html = fs.readFileSync(res.file, 'utf8');
    assert.match(html, /Some artifacts could not be read/);
    for (const id of res.charts) assertDrawnSvg(figure(html, id)!, id);
    for (const id of res.missing) assert.match(html, new RegExp(`data-missing="[^"]*\\b${id}\\b`), `${id} marked`);
    assert.doesNotMatch(figure(html, 'probe-numbers')!, /π\* \(optimum\)/, 'no π* series without an optimum');
    // A NaN reward is a gap, not a zero, and the headline reads the first and last finite values.
    const reward = res.headline.find((h) => h.key === 'reward')!;
    assert.equal(reward.before, ppo[0]['env/reward_mean']);
    assert.equal(reward.after, ppo[ppo.length - 1]['env/reward_mean']);
  });
});

describe('report helpers', () => {
  it('the PPO time chart adds up the per-iteration times: time/* are running totals, restarted by a resume', () => {
    // Per-iteration seconds of each phase; the run is resumed after iteration 3 (the counts restart).
    const per = { generation: [1, 2, 3, 4, 5], scoring: [0.5, 0.5, 0.5, 0.5, 0.5], optimization: [3, 3, 3, 3, 3] };
    const records = [];
    const total = { generation: 0, scoring: 0, optimization: 0 };
    for (let i = 0; i < 5; i++) {
      if (i === 3) total.generation = total.scoring = total.optimization = 0;
      for (const k of Object.keys(per) as (keyof typeof per)[]) total[k] += per[k][i];
      records.push({ stage: 'ppo', step: i + 1, time: 0, elapsed: 0, 'time/generation': total.generation, 'time/scoring': total.scoring, 'time/optimization': total.optimization, 'time/tokens_per_second/generation': 99 });
    }
    const split = timeSplit({ name: '', file: 'metrics.jsonl', records });
    assert.deepEqual(split, [
      { phase: 'generation', seconds: 15 },
      { phase: 'scoring', seconds: 2.5 },
      { phase: 'optimization', seconds: 15 },
    ]);
    const chart = ppoTimeChart([{ name: '', file: 'metrics.jsonl', records }])!;
    assert.match(chart.caption, /generation 46%, scoring 8%, optimization 46%, 33 s in all/);
    assert.match(chart.caption, /Here (generation|optimization) takes the most/);
  });

  it('reward-by-rank: no held-out legend entry without held-out data; ±1 sd bands cut to [0, 1] for rewards in [0, 1]', () => {
    const d = {
      utility: 'linear',
      n: 3,
      theory: { open: [1, 0.5, 0], closed: [1, 0.5, 0] },
      train: { open: { mean: [0.95, 0.5, 0.05], std: [0.2, 0.1, 0.2] } },
      heldout: {},
      curves: [],
      rewards: { open: [0.9, 1, 0.5, 0.4, 0.1, 0] },
      accuracy: {},
    } as never;
    const chart = rewardByRankChart([d])!;
    const json = JSON.stringify(chart.spec);
    assert.doesNotMatch(json, /held-out/);
    assert.doesNotMatch(chart.caption, /held-out/);
    const rows = (chart.spec as { data: { values: { lo?: number; hi?: number }[] } }).data.values.filter((r) => r.lo !== undefined);
    assert.ok(rows.length > 0 && rows.every((r) => r.lo! >= 0 && r.hi! <= 1), JSON.stringify(rows));
  });

  it('headline verdicts: yes/no by the documented thresholds, from the artifacts', () => {
    const diag = (utility: string, open: number[], closed: number[], theory: { open: number[]; closed: number[] }, acc: number, score: number) =>
      ({ file: '', utility, theory, train: { open: { mean: open, std: [] }, closed: { mean: closed, std: [] } }, heldout: {}, curves: [], rewards: {}, accuracy: { train: acc }, collapse_score: score }) as never;
    const th = { open: [1, 0.5, 0], closed: [1, 0.5, 0] };
    const pa = { open: [1, 0.6, 0], closed: [1, 1, 0] };
    const rec = (step: number, kl: number, beta: number, extra: Record<string, number> = {}) => ({ stage: 'ppo', step, time: 0, elapsed: 0, 'objective/kl_coef': beta, 'probe/kl_to_optimum': kl, ...extra });
    const probe = (entropyFraction: number, tStar: number, left: number) => ({ random_number: { entropy: { policy: entropyFraction * Math.log(100) } }, temperature: { t_star: tStar, kl_at_t_star: left, kl_at_one: 1 } });
    const artifacts = {
      runDir: '',
      rewardModels: [diag('linear', [0.95, 0.55, 0.02], [0.97, 0.45, 0.0], th, 0.93, 0.004), diag('prompt-aware', [1, 0.62, 0.05], [0.98, 0.95, 0.01], pa, 0.95, 0.2)],
      ppo: [
        { name: 'beta-0.02', file: '', records: [rec(0, 30, 0.02), rec(10, 2, 0.02)] },
        { name: 'beta-1', file: '', records: [rec(0, 0.05, 1), rec(10, 0.04, 1)] },
      ],
      probe: [
        { name: 'beta-0.02', file: '', probe: probe(0.2, 0.4, 0.5) },
        { name: 'beta-1', file: '', probe: probe(0.95, 1.1, 0.001) },
      ],
      warnings: [],
    } as never;
    const v = Object.fromEntries(verdictRows(artifacts).map((r) => [r.key, r]));
    assert.deepEqual(Object.keys(v), ['verdict:reward-collapse', 'verdict:prompt-aware-curves', 'verdict:prompt-aware-score', 'verdict:mode-collapse', 'verdict:reaches-optimum', 'verdict:not-temperature']);
    for (const k of Object.keys(v)) assert.equal(v[k].value, 'yes', `${k}: ${v[k].note}`);
    assert.match(v['verdict:reaches-optimum'].note!, /30 → 2, fell 15×/);
    assert.match(v['verdict:prompt-aware-score'].note!, /50×/);
    // Just past each threshold: 'no'.
    const worse = { ...(artifacts as object), rewardModels: [diag('linear', [0.95, 0.55, 0.2], [0.97, 0.45, 0.0], th, 0.93, 0.004)], probe: [{ name: 'beta-0.02', file: '', probe: probe(0.51, 0.4, 0.05) }, { name: 'beta-1', file: '', probe: probe(0.95, 1, 0) }] } as never;
    const w = Object.fromEntries(verdictRows(worse).map((r) => [r.key, r]));
    assert.equal(w['verdict:reward-collapse'].value, 'no');
    assert.equal(w['verdict:mode-collapse'].value, 'no');
    assert.equal(w['verdict:not-temperature'].value, 'no');
    // A low entropy on a policy that left the answers 0–99 is reward hacking, not the collapse: 'no'.
    const hacked = (valid: number) => {
      const pr = probe(0.2, 0.4, 0.5) as { random_number: Record<string, unknown> };
      pr.random_number.valid_mass = { reference: 0.99, policy: valid };
      return Object.fromEntries(verdictRows({ ...(artifacts as object), probe: [{ name: 'beta-0.02', file: '', probe: pr }, { name: 'beta-1', file: '', probe: probe(0.95, 1.1, 0.001) }] } as never).map((r) => [r.key, r]));
    };
    assert.equal(hacked(0.06)['verdict:mode-collapse'].value, 'no');
    assert.match(hacked(0.06)['verdict:mode-collapse'].note!, /valid answers 6% \(≥ 90%\)/);
    assert.equal(hacked(0.95)['verdict:mode-collapse'].value, 'yes');
  });

  it('says plainly whether a policy reached π* within the stated tolerance', () => {
    assert.equal(optimumVerdict('beta-0.02', 0.02, 1.19, 32.4), 'beta-0.02 (β = 0.02) did not reach π*: KL(policy ‖ π*) = 1.19 nats, more than 0.1 (the reference is at 32.4).');
    assert.equal(optimumVerdict('beta-1', 1, 0.03, 0.05), 'beta-1 (β = 1) reached π*: KL(policy ‖ π*) = 0.03 ≤ 0.1 nats (the reference is at 0.05).');
    assert.equal(optimumVerdict('x', 1, undefined, 0.05), '');
  });

  it('finds the KL target under the usual spellings', () => {
    assert.equal(klTarget({ ppo: { kl: { target: 6 } } }), 6);
    assert.equal(klTarget({ ppo: { adaptive_kl: false, target_kl: 2 } }), undefined, 'a fixed β has no target');
    assert.equal(klTarget({ ppo: { target_kl: 0.1 } }), 0.1);
    assert.equal(klTarget({ ppo: { kl_ctl: { kl_target: 3 } } }), 3);
    assert.equal(klTarget({ ppo: { kl: { adaptive: false } } }), undefined);
    assert.equal(klTarget(undefined), undefined);
  });

  it('orders sub-runs naturally and reads both diversity spellings', () => {
    assert.deepEqual(['beta-1', 'beta-0.1', 'beta-10', 'beta-0.01'].sort(naturalCompare), ['beta-0.01', 'beta-0.1', 'beta-1', 'beta-10']);
    const d = parseDiversity({ perInput: [{ n: 1, distinct: 0.5, ead: 0.7 }], acrossInput: [{ n: 1, distinct: 0.4, ead: null }] });
    assert.deepEqual(d, { per_input: [{ n: 1, distinct: 0.5, ead: 0.7 }], across_input: [{ n: 1, distinct: 0.4, ead: undefined }] });
    assert.equal(parseDiversity({}), undefined);
    const diag = parseDiagnostics('f', 'dir-name', { train: { open: { mean: [1, 0], std: [0, 0] } }, curves: [{ step: 5, collapse_score: null }] });
    assert.equal(diag.utility, 'dir-name');
    assert.deepEqual(diag.train.open, { mean: [1, 0], std: [0, 0] });
    assert.equal(diag.curves[0].collapse_score, undefined);
  });

  it('scopes SVG ids so that inline SVGs cannot collide', () => {
    const svg = '<svg><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"></g><use href="#clip1"/></svg>';
    assert.equal(scopeSvgIds(svg, 'c-a'), '<svg><defs><clipPath id="c-a-clip1"><rect/></clipPath></defs><g clip-path="url(#c-a-clip1)"></g><use href="#c-a-clip1"/></svg>');
  });

  it('thins long series but keeps the last point', () => {
    const xs = Array.from({ length: 1001 }, (_, i) => i);
    const t = thin(xs, 100);
    assert.ok(t.length <= 102);
    assert.equal(t[0], 0);
    assert.equal(t[t.length - 1], 1000);
    assert.deepEqual(thin([1, 2, 3], 100), [1, 2, 3]);
  });

  it('estimates sans-serif text narrower than vega’s 0.8 em per character', () => {
    const w = estimateTextWidth('collapse score (0 = collapsed)', 11);
    assert.ok(w < 0.8 * 30 * 11 && w > 0.45 * 30 * 11, `width ${w}`);
    assert.ok(estimateTextWidth('WWW', 10) > estimateTextWidth('iii', 10));
  });
});

describe('rlhf report (CLI)', () => {
  it('writes the report and prints the result as JSON; a missing run directory is an error', () => {
    // The CLI runs dist/: built by `npm test` before any test, never here (a missing or stale build fails).
    assertBuiltCli(['src/commands/report.ts', 'src/report', 'src/cli']);
    const out = path.join(tmp('rlhf-report-cli-'), 'report.html');
    const ok = runCli(['report', REPORT_RUN, '--out', out, '--json']);
    assert.equal(ok.status, 0, ok.stderr);
    const res = JSON.parse(ok.stdout);
    assert.equal(res.file, out);
    assert.deepEqual(res.charts, [...CHART_IDS]);
    assert.deepEqual(res.missing, []);
    assert.ok(res.headline.some((h: { key: string }) => h.key === 'reward'));
    assert.ok(fs.statSync(out).size > 50_000);

    const bad = runCli(['report', path.join(out, 'nope'), '--json']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /not a run directory/);
    // under --json the error is one JSON document on stdout too
    const doc = JSON.parse(bad.stdout);
    assert.match(doc.error.message, /not a run directory/);
    assert.equal(doc.error.exit, bad.status);
  });
});
