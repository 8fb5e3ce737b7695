/**
 * The report's charts: one small function per chart, each turning artifacts into a Vega-Lite spec
 * (or undefined when the artifact or the fields it needs are missing), and `renderSvg`, which
 * compiles a spec with vega-lite and renders it headless with vega's View (renderer 'none') to an
 * SVG string. Data are inlined into the spec, so rendering never touches a file or the network.
 *
 * Chart titles and captions live with the spec so that a caption can quote the data (the KL
 * target, the time split); html.ts only lays them out.
 */
import * as vega from 'vega';
import { compile, TopLevelSpec } from 'vega-lite';
import { PPO_METRICS as M } from '../data/artifacts';
import { firstLast, fmt } from './headline';
import {
  DiversityViews,
  MeanStd,
  num,
  PpoRun,
  ProbeRun,
  RewardDiagnostics,
  runLabel,
  SampleSummary,
  SftPoint,
} from './artifacts';

export interface Chart {
  id: ChartId;
  title: string;
  /** One or two sentences: what the chart shows and what to look for. Plain text. */
  caption: string;
  spec: TopLevelSpec;
}

/** Every chart the report can have, in the order it appears. */
export const CHART_IDS = [
  'sft-loss',
  'sample-numbers',
  'rm-reward-by-rank',
  'rm-reward-histogram',
  'rm-collapse-score',
  'ppo-reward',
  'ppo-kl',
  'ppo-kl-coef',
  'ppo-clipfrac',
  'ppo-probe-entropy',
  'ppo-kl-to-optimum',
  'ppo-entropy',
  'ppo-time',
  'probe-numbers',
  'probe-diversity',
] as const;
export type ChartId = (typeof CHART_IDS)[number];

/** Each chart's heading (also used for its "not run" box). */
export const CHART_TITLES: Record<ChartId, string> = {
  'sft-loss': 'SFT loss',
  'sample-numbers': 'Random-number answers of the SFT policy',
  'rm-reward-by-rank': 'Reward by rank, per utility',
  'rm-reward-histogram': 'Reward distributions by prompt kind',
  'rm-collapse-score': 'Collapse score during reward-model training',
  'ppo-reward': 'Reward',
  'ppo-kl': 'KL to the reference',
  'ppo-kl-coef': 'KL coefficient β',
  'ppo-clipfrac': 'Clip fraction',
  'ppo-probe-entropy': 'Random-number entropy during PPO',
  'ppo-kl-to-optimum': 'KL(policy ‖ π*) during PPO',
  'ppo-entropy': 'Entropies',
  'ppo-time': 'Where PPO time goes',
  'probe-numbers': 'Random numbers: reference vs policy vs π*',
  'probe-diversity': 'Output diversity before and after PPO',
};

// ---------------------------------------------------------------------------------------------
// Look

/** Tableau 10: distinct, colour-blind-friendlier than category10, prints well. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac'];
const KIND_COLORS = { domain: ['open', 'closed'], range: ['#4e79a7', '#f28e2b'] };
const INK = '#374151';
const MUTED = '#6b7280';

/** Legend entries for lines: solid strokes, opaque even when a layer (a band) is faint. */
const LINE_LEGEND = { symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 2.5 };

/** Widths in px of the plotting area: a half-width chart (two per row) and a full-width one. */
const HALF = 370;
const FULL = 760;
const HEIGHT = 190;

/** Shared Vega-Lite config: generic sans-serif (no web fonts), light grid, legends under the plot. */
export const BASE_CONFIG = {
  font: 'sans-serif',
  background: 'white',
  padding: 6,
  view: { stroke: null },
  axis: {
    labelFontSize: 11,
    titleFontSize: 11,
    titleFontWeight: 'normal' as const,
    titleColor: INK,
    labelColor: MUTED,
    gridColor: '#eceff3',
    domainColor: '#9ca3af',
    tickColor: '#9ca3af',
    titlePadding: 8,
  },
  legend: {
    orient: 'bottom' as const,
    direction: 'horizontal' as const,
    labelFontSize: 11,
    titleFontSize: 11,
    titleFontWeight: 'normal' as const,
    titleColor: INK,
    labelColor: INK,
    symbolStrokeWidth: 2,
    columnPadding: 14,
    labelLimit: 260,
  },
  header: { labelFontSize: 12, labelFontWeight: 'bold' as const, labelColor: INK, titleFontSize: 12 },
  range: { category: PALETTE },
  line: { strokeWidth: 2 },
  point: { size: 28, filled: true },
  bar: { binSpacing: 0 },
};

// ---------------------------------------------------------------------------------------------
// Helpers

/** Keep at most `max` points of a long series (every k-th, and always the last): SVG stays small. */
export function thin<T>(xs: readonly T[], max = 400): T[] {
  if (xs.length <= max) return xs.slice();
  const k = Math.ceil(xs.length / max);
  const out = xs.filter((_, i) => i % k === 0);
  if (out[out.length - 1] !== xs[xs.length - 1]) out.push(xs[xs.length - 1]);
  return out;
}

const finite = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);

/** A value of a metrics record, when it is a finite number. */
export function metric(rec: Record<string, unknown>, key: string): number | undefined {
  return num(rec[key]);
}

/** Do any records of any run carry this metric? */
export function hasMetric(runs: readonly PpoRun[], key: string): boolean {
  return runs.some((r) => r.records.some((rec) => metric(rec, key) !== undefined));
}

/** x positions of number candidates: the numbers themselves when every candidate is an integer. */
function numericCandidates(cands: readonly string[]): boolean {
  return cands.every((c) => /^-?\d+$/.test(c.trim()));
}

function withConfig(spec: object): TopLevelSpec {
  return { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', config: BASE_CONFIG, ...spec } as TopLevelSpec;
}

/** Colour of one series for a legend-free chart (one run, one metric). */
const SINGLE = PALETTE[0];

// ---------------------------------------------------------------------------------------------
// SFT

export function sftLossChart(points: readonly SftPoint[] | undefined): Chart | undefined {
  if (!points) return undefined;
  const rows: { step: number; series: string; value: number }[] = [];
  for (const p of thin(points.filter((p) => finite(p.loss)))) rows.push({ step: p.step, series: 'training loss', value: p.loss as number });
  for (const p of points) if (finite(p.eval_loss)) rows.push({ step: p.step, series: 'held-out loss', value: p.eval_loss });
  if (rows.length === 0) return undefined;
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: ['training loss', 'held-out loss'], range: [PALETTE[0], PALETTE[1]] }, legend: LINE_LEGEND };
  return {
    id: 'sft-loss',
    title: CHART_TITLES['sft-loss'],
    caption:
      'Cross-entropy of the demonstration responses per training step (held-out points where the run evaluated). ' +
      'It should fall and level off; a held-out curve that turns up while the training curve keeps falling is overfitting.',
    spec: withConfig({
      width: FULL,
      height: HEIGHT,
      data: { values: rows },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'value', type: 'quantitative', title: 'loss (nats / token)', scale: { zero: false } },
        color,
      },
      layer: [{ mark: { type: 'line', interpolate: 'monotone' } }, { transform: [{ filter: "datum.series === 'held-out loss'" }], mark: { type: 'point' } }],
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Random-number distributions

/** Bars over the candidates 0..99 (one distribution: the SFT policy's samples). */
export function sampleNumbersChart(sample: SampleSummary | undefined): Chart | undefined {
  const nb = sample?.numbers;
  if (!nb) return undefined;
  const numeric = numericCandidates(nb.candidates);
  const rows = nb.candidates.map((c, i) => ({ answer: numeric ? Number(c) : c, p: Number.isFinite(nb.probs[i]) ? nb.probs[i] : 0 }));
  return {
    id: 'sample-numbers',
    title: CHART_TITLES['sample-numbers'],
    caption:
      'Exact probability the SFT policy (before any RL) gives each answer when asked for a random number. ' +
      'A healthy start spreads its mass over many numbers; this is the "before" of mode collapse.',
    spec: withConfig({
      width: FULL,
      height: 150,
      data: { values: rows },
      mark: { type: 'bar', color: SINGLE },
      encoding: {
        x: numeric
          ? { field: 'answer', type: 'ordinal', title: 'answer', sort: null, axis: { values: rows.map((r) => r.answer).filter((v) => Number(v) % 10 === 0), labelAngle: 0 } }
          : { field: 'answer', type: 'ordinal', title: 'answer', sort: null },
        y: { field: 'p', type: 'quantitative', title: 'probability' },
      },
    }),
  };
}

const NUMBER_SERIES = ['reference', 'policy', 'π* (optimum)'];

/**
 * Reference vs policy vs π* over the answers, one panel per sub-run. Square-root y scale: the policy
 * can pile 60% on one number while the reference has 1% everywhere, and both must stay visible.
 */
export function numberDistributionChart(probes: readonly ProbeRun[]): Chart | undefined {
  const runs = probes.filter((p) => p.probe.random_number);
  if (runs.length === 0) return undefined;
  const rows: { run: string; answer: number | string; series: string; p: number }[] = [];
  let numeric = true;
  for (const r of runs) numeric = numeric && numericCandidates(r.probe.random_number!.candidates);
  for (const r of runs) {
    const rn = r.probe.random_number!;
    const label = runLabel(r.name) + (rn.beta !== undefined ? ` (β = ${rn.beta})` : '');
    rn.candidates.forEach((c, i) => {
      const answer = numeric ? Number(c) : c;
      const add = (series: string, p: number | undefined) => {
        if (finite(p)) rows.push({ run: label, answer, series, p });
      };
      add(NUMBER_SERIES[0], rn.reference[i]);
      add(NUMBER_SERIES[1], rn.policy[i]);
      if (rn.optimum) add(NUMBER_SERIES[2], rn.optimum[i]);
    });
  }
  const hasOptimum = runs.some((r) => r.probe.random_number!.optimum);
  const domain = hasOptimum ? NUMBER_SERIES : NUMBER_SERIES.slice(0, 2);
  const x = numeric
    ? { field: 'answer', type: 'quantitative', title: 'answer', scale: { nice: false } }
    : { field: 'answer', type: 'ordinal', title: 'answer', sort: null };
  const y = { field: 'p', type: 'quantitative', title: 'probability (√ scale)', scale: { type: 'sqrt' } };
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain, range: ['#b8bec8', PALETTE[3], '#1f2937'] }, legend: { ...LINE_LEGEND, symbolStrokeWidth: 3 } };
  const layer = [
    { transform: [{ filter: `datum.series === '${NUMBER_SERIES[0]}'` }], mark: { type: 'area', opacity: 0.35, interpolate: 'step' }, encoding: { x, y, color } },
    {
      transform: [{ filter: `datum.series !== '${NUMBER_SERIES[0]}'` }],
      mark: { type: 'line', interpolate: 'step', strokeWidth: 1.6 },
      encoding: {
        x,
        y,
        color,
        strokeDash: { field: 'series', type: 'nominal', legend: null, scale: { domain: NUMBER_SERIES.slice(1), range: [[1, 0], [3, 2]] } },
        strokeWidth: { field: 'series', type: 'ordinal', legend: null, scale: { domain: NUMBER_SERIES.slice(1), range: [1.8, 1.2] } },
      },
    },
  ];
  const spec =
    runs.length > 1
      ? { data: { values: rows }, facet: { row: { field: 'run', type: 'nominal', title: null, sort: null, header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top' } } }, spec: { width: FULL, height: 120, layer } }
      : { data: { values: rows }, width: FULL, height: 200, layer };
  return {
    id: 'probe-numbers',
    title: CHART_TITLES['probe-numbers'],
    caption:
      'Exact probability of each answer to "tell me a random number": the reference (SFT) policy, the tuned policy, and ' +
      'π* ∝ π_ref·exp(r/β), the optimum of the objective the policy was tuned on (√ scale keeps small probabilities visible). ' +
      'Mode collapse is the policy piling its mass on a few numbers. ' +
      runs
        .filter((r) => r.probe.random_number!.optimum)
        .map((r) => optimumVerdict(runLabel(r.name), r.probe.random_number!.beta, r.probe.random_number!.kl_policy_optimum, r.probe.random_number!.kl_reference_optimum))
        .join(' '),
    spec: withConfig(spec),
  };
}

// ---------------------------------------------------------------------------------------------
// Reward models

const CURVE_SOURCES = ['train', 'held-out', 'theory'];
const CURVE_DASHES: Record<string, number[]> = { train: [1, 0], 'held-out': [2, 2], theory: [6, 3] };

/**
 * Rows for one utility's reward-by-rank curves: mean (and ±1 sd band) by rank index, by kind. With
 * rewards in [0, 1] (the sigmoid squash) the band is cut to [0, 1]: rewards cannot leave it.
 */
function rankRows(d: RewardDiagnostics, bounded: boolean) {
  const rows: { utility: string; kind: string; source: string; rank: number; mean: number; lo?: number; hi?: number }[] = [];
  const clip = (x: number) => (bounded ? Math.min(1, Math.max(0, x)) : x);
  const add = (kind: string, source: string, ms: MeanStd | undefined) => {
    ms?.mean.forEach((m, i) => {
      if (!Number.isFinite(m)) return;
      const s = ms.std[i];
      rows.push({ utility: d.utility, kind, source, rank: i + 1, mean: m, ...(Number.isFinite(s) ? { lo: clip(m - s), hi: clip(m + s) } : {}) });
    });
  };
  for (const kind of ['open', 'closed'] as const) {
    add(kind, 'train', d.train[kind]);
    add(kind, 'held-out', d.heldout[kind]);
    const th = d.theory[kind];
    if (th) add(kind, 'theory', { mean: th, std: th.map(() => NaN) });
  }
  return rows;
}

function facetByUtility(count: number) {
  return { facet: { field: 'utility', type: 'nominal', title: null, sort: null }, columns: Math.min(3, count) };
}

export function rewardByRankChart(diags: readonly RewardDiagnostics[]): Chart | undefined {
  const bounded = rewardBins(diags)?.lo === 0 && rewardBins(diags)?.hi === 1;
  const rows = diags.flatMap((d) => rankRows(d, bounded));
  if (rows.length === 0) return undefined;
  // Only the curves there are (no held-out entry in the legend of a run without held-out data).
  const sources = CURVE_SOURCES.filter((s) => rows.some((r) => r.source === s));
  const dashes = sources.map((s) => CURVE_DASHES[s]);
  const utilities = [...new Set(rows.map((r) => r.utility))];
  const x = { field: 'rank', type: 'quantitative', title: 'rank (1 = best)', axis: { tickMinStep: 1, format: 'd' }, scale: { nice: false } };
  // The same colour definition in every layer: vega-lite merges them into one legend (a `legend: null`
  // in one layer would remove it), drawn as solid strokes whatever the layer's opacity.
  const color = { field: 'kind', type: 'nominal', title: 'prompt kind', scale: KIND_COLORS, legend: LINE_LEGEND };
  const bandColor = color;
  const inner = {
    width: utilities.length === 1 ? HALF + 60 : 240,
    height: 170,
    layer: [
      {
        transform: [{ filter: "datum.source === 'train' && isValid(datum.lo)" }],
        mark: { type: 'area', opacity: 0.14 },
        encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'reward' }, y2: { field: 'hi' }, color: bandColor },
      },
      {
        mark: { type: 'line' },
        encoding: {
          x,
          y: { field: 'mean', type: 'quantitative', title: 'reward' },
          color,
          strokeDash: {
            field: 'source',
            type: 'nominal',
            title: 'curve',
            scale: { domain: sources, range: dashes },
            legend: { symbolType: 'stroke', symbolStrokeColor: INK, labelExpr: "datum.label === 'train' ? 'train (±1 sd)' : datum.label" },
          },
        },
      },
      { transform: [{ filter: "datum.source === 'train'" }], mark: { type: 'point', size: 22 }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, color: bandColor } },
    ],
  };
  return {
    id: 'rm-reward-by-rank',
    title: CHART_TITLES['rm-reward-by-rank'],
    caption:
      `Mean reward the trained model gives the completion at each rank (1 = best) on training prompts (solid, ±1 sd band${bounded ? ', cut to the reward range [0, 1]' : ''})` +
      `${sources.includes('held-out') ? ' and held-out prompts (dotted)' : ''}, with the theory’s optimum for the utility (dashed). ` +
      'Reward collapse: open and closed prompts follow one curve, the theory’s, whatever the prompt; a prompt-aware utility keeps the two kinds on different curves.',
    spec: withConfig({ data: { values: rows }, ...facetByUtility(utilities.length), spec: inner }),
  };
}

/** Shared bins for all utilities and kinds: [0, 1] for sigmoid rewards, else the data's range. */
export function rewardBins(diags: readonly RewardDiagnostics[], bins = 20): { lo: number; hi: number; bins: number } | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const d of diags)
    for (const xs of [d.rewards.open, d.rewards.closed])
      for (const x of xs ?? []) {
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
  if (!Number.isFinite(lo)) return undefined;
  if (lo >= 0 && hi <= 1) return { lo: 0, hi: 1, bins };
  if (hi === lo) return { lo: lo - 0.5, hi: hi + 0.5, bins };
  return { lo, hi, bins };
}

/** "utility: open 10%/20% (theory 0%/12%), closed …": the shares of rewards below 0.1 and above 0.9. */
function endShares(d: RewardDiagnostics): string {
  const pct = (xs: readonly number[], f: (x: number) => boolean) => `${Math.round((100 * xs.filter(f).length) / Math.max(1, xs.length))}%`;
  const kinds = (['open', 'closed'] as const).filter((k) => d.rewards[k]?.length);
  return `${d.utility}: ${kinds
    .map((k) => {
      const xs = d.rewards[k]!;
      const th = d.theory[k];
      return `${k} ${pct(xs, (x) => x < 0.1)}/${pct(xs, (x) => x > 0.9)}${th ? ` (theory ${pct(th, (x) => x < 0.1)}/${pct(th, (x) => x > 0.9)})` : ''}`;
    })
    .join(', ')}`;
}

export function rewardHistogramChart(diags: readonly RewardDiagnostics[]): Chart | undefined {
  const b = rewardBins(diags);
  if (!b) return undefined;
  const width = (b.hi - b.lo) / b.bins;
  const rows: { utility: string; kind: string; x0: number; x1: number; frac: number }[] = [];
  for (const d of diags)
    for (const kind of ['open', 'closed'] as const) {
      const xs = d.rewards[kind];
      if (!xs || xs.length === 0) continue;
      const counts = new Array<number>(b.bins).fill(0);
      for (const x of xs) counts[Math.min(b.bins - 1, Math.max(0, Math.floor((x - b.lo) / width)))]++;
      // Fractions, not counts: the two kinds can have different numbers of prompts.
      counts.forEach((c, i) => rows.push({ utility: d.utility, kind, x0: b.lo + i * width, x1: b.lo + (i + 1) * width, frac: c / xs.length }));
    }
  const utilities = [...new Set(rows.map((r) => r.utility))];
  return {
    id: 'rm-reward-histogram',
    title: CHART_TITLES['rm-reward-histogram'],
    caption:
      'Every completion’s reward, as a fraction of its prompt kind. Under collapse open and closed prompts get the same shape; where the ' +
      'rewards should be is the theory curve of the reward-by-rank chart. ' +
      (b.lo === 0 && b.hi === 1 ? `Share of rewards at the ends (< 0.1 / > 0.9), data vs theory: ${diags.map(endShares).join('; ')}.` : ''),
    spec: withConfig({
      data: { values: rows },
      ...facetByUtility(utilities.length),
      spec: {
        width: utilities.length === 1 ? HALF + 60 : 240,
        height: 150,
        mark: { type: 'rect', opacity: 0.55 },
        encoding: {
          x: { field: 'x0', type: 'quantitative', title: 'reward', scale: { domain: [b.lo, b.hi], nice: false } },
          x2: { field: 'x1' },
          y: { field: 'frac', type: 'quantitative', title: 'fraction of completions', stack: null },
          y2: { datum: 0 },
          color: { field: 'kind', type: 'nominal', title: 'prompt kind', scale: KIND_COLORS },
        },
      },
    }),
  };
}

export function collapseScoreChart(diags: readonly RewardDiagnostics[]): Chart | undefined {
  const rows: { utility: string; step: number; score: number }[] = [];
  for (const d of diags) {
    for (const c of d.curves) if (finite(c.collapse_score)) rows.push({ utility: d.utility, step: c.step, score: c.collapse_score });
    // No curve logged but a final score: one point, so the utility still appears.
    if (!d.curves.some((c) => finite(c.collapse_score)) && finite(d.collapse_score)) rows.push({ utility: d.utility, step: 0, score: d.collapse_score });
  }
  if (rows.length === 0) return undefined;
  const utilities = [...new Set(rows.map((r) => r.utility))];
  const color = { field: 'utility', type: 'nominal', title: 'utility', sort: utilities, legend: LINE_LEGEND };
  return {
    id: 'rm-collapse-score',
    title: CHART_TITLES['rm-collapse-score'],
    caption:
      'Distance between the reward distributions of open and of closed prompts as training goes on; 0 means they have collapsed onto one shape. ' +
      'Single utilities drift toward 0; a prompt-aware utility should stay well above them.',
    spec: withConfig({
      width: FULL,
      height: HEIGHT,
      data: { values: rows },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'training step' },
        y: { field: 'score', type: 'quantitative', title: 'collapse score' },
        color,
      },
      layer: [{ mark: { type: 'line' } }, { mark: { type: 'point' } }],
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// PPO curves

interface PpoSeries {
  key: string;
  label: string;
}

interface PpoChartOptions {
  /** A horizontal reference line (the KL target), labelled. */
  rule?: { value: number; label: string };
  /** Draw a ±1 sd band from this metric (env/reward_std around env/reward_mean). */
  band?: string;
  logY?: boolean;
  yTitle: string;
  /** Several metrics on different scales: one panel each instead of one shared axis. */
  panels?: boolean;
}

/**
 * One line per (sub-run, metric) over PPO iterations. Colour shows the sub-run when there are
 * several, else the metric; with `panels`, each metric gets its own panel and y axis.
 */
export function ppoLineSpec(runs: readonly PpoRun[], series: readonly PpoSeries[], o: PpoChartOptions): TopLevelSpec | undefined {
  const present = series.filter((s) => hasMetric(runs, s.key));
  if (present.length === 0) return undefined;
  const rows: { run: string; metric: string; step: number; value: number; lo?: number; hi?: number }[] = [];
  for (const r of runs)
    for (const s of present)
      for (const rec of thin(r.records.filter((rec) => metric(rec, s.key) !== undefined && (!o.logY || (metric(rec, s.key) as number) > 0)))) {
        const v = metric(rec, s.key) as number;
        const sd = o.band ? metric(rec, o.band) : undefined;
        rows.push({ run: runLabel(r.name), metric: s.label, step: rec.step, value: v, ...(sd !== undefined ? { lo: v - sd, hi: v + sd } : {}) });
      }
  if (rows.length === 0) return undefined;
  const manyRuns = runs.length > 1;
  const panels = !!o.panels && present.length > 1;
  const runNames = runs.map((r) => runLabel(r.name));
  const color = manyRuns
    ? { field: 'run', type: 'nominal', title: 'run', sort: runNames, legend: LINE_LEGEND }
    : panels || present.length === 1
      ? { value: SINGLE }
      : { field: 'metric', type: 'nominal', title: null, sort: present.map((s) => s.label), legend: LINE_LEGEND };
  const x = { field: 'step', type: 'quantitative', title: 'PPO iteration' };
  const y = { field: 'value', type: 'quantitative', title: panels ? null : o.yTitle, scale: o.logY ? { type: 'log' } : { zero: false } };
  const detail = manyRuns && present.length > 1 && !panels ? { strokeDash: { field: 'metric', type: 'nominal', title: null } } : {};
  const layer: object[] = [];
  if (o.band && rows.some((r) => r.lo !== undefined)) {
    const bandColor = color;
    layer.push({ transform: [{ filter: 'isValid(datum.lo)' }], mark: { type: 'area', opacity: 0.15 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: o.yTitle }, y2: { field: 'hi' }, color: bandColor } });
  }
  layer.push({ mark: { type: 'line' }, encoding: { x, y, color, ...detail } });
  if (rows.length <= 60) layer.push({ mark: { type: 'point', size: 16 }, encoding: { x, y, color } });
  if (o.rule) {
    layer.push({ data: { values: [{ y: o.rule.value, label: o.rule.label }] }, mark: { type: 'rule', strokeDash: [5, 4], color: MUTED }, encoding: { y: { field: 'y', type: 'quantitative' } } });
    layer.push({
      data: { values: [{ y: o.rule.value, label: o.rule.label }] },
      mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 3, dy: -3, color: MUTED, fontSize: 10, x: 0 },
      encoding: { y: { field: 'y', type: 'quantitative' }, text: { field: 'label' } },
    });
  }
  if (panels) {
    return withConfig({
      data: { values: rows },
      facet: { field: 'metric', type: 'nominal', title: null, sort: present.map((s) => s.label) },
      columns: present.length,
      resolve: { scale: { y: 'independent' } },
      spec: { width: Math.floor((FULL - 60 * (present.length - 1)) / present.length), height: HEIGHT - 30, layer },
    });
  }
  return withConfig({ data: { values: rows }, width: HALF, height: HEIGHT - 30, layer });
}

function ppoChart(id: ChartId, title: string, caption: string, spec: TopLevelSpec | undefined): Chart | undefined {
  return spec ? { id, title, caption, spec } : undefined;
}

export function ppoRewardChart(runs: readonly PpoRun[]): Chart | undefined {
  return ppoChart(
    'ppo-reward',
    CHART_TITLES['ppo-reward'],
    'Mean reward-model score of each iteration’s samples (band: ±1 sd). It should rise; a rise bought with a KL that keeps growing is the policy exploiting the reward model.',
    ppoLineSpec(runs, [{ key: M.rewardMean, label: 'reward' }], { band: M.rewardStd, yTitle: 'reward (mean)' }),
  );
}

export function ppoKlChart(runs: readonly PpoRun[], target?: number): Chart | undefined {
  return ppoChart(
    'ppo-kl',
    CHART_TITLES['ppo-kl'],
    'KL(policy ‖ reference), summed over each response and averaged over the batch. ' +
      (target !== undefined
        ? `The adaptive β steers it toward the target (dashed, ${target}); a KL far above it means the policy has moved far from the SFT model.`
        : 'It grows as the policy moves away from the SFT model; the β penalty keeps it bounded.'),
    ppoLineSpec(runs, [{ key: M.kl, label: 'KL' }], { yTitle: 'KL (nats / response)', ...(target !== undefined ? { rule: { value: target, label: `target ${target}` } } : {}) }),
  );
}

/** Do a metric's positive values span more than a factor 20 (a β sweep)? Then a log axis reads better. */
function spansDecades(runs: readonly PpoRun[], key: string): boolean {
  let lo = Infinity;
  let hi = 0;
  for (const r of runs)
    for (const rec of r.records) {
      const v = metric(rec, key);
      if (v === undefined) continue;
      if (v <= 0) return false;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  return hi / lo > 20;
}

export function ppoKlCoefChart(runs: readonly PpoRun[]): Chart | undefined {
  return ppoChart(
    'ppo-kl-coef',
    CHART_TITLES['ppo-kl-coef'],
    'The weight of the KL penalty. An adaptive controller raises it while the KL is above target and lowers it below; a fixed β is a flat line.',
    ppoLineSpec(runs, [{ key: M.klCoef, label: 'β' }], { yTitle: 'β', logY: spansDecades(runs, M.klCoef) }),
  );
}

export function ppoEntropyChart(runs: readonly PpoRun[]): Chart | undefined {
  return ppoChart(
    'ppo-entropy',
    CHART_TITLES['ppo-entropy'],
    'objective/entropy: −log π of the sampled tokens, summed over a response; policy/entropy: exact mean entropy per token during the updates. ' +
      'A steady fall is the policy narrowing its outputs, the first sign of mode collapse.',
    ppoLineSpec(
      runs,
      [
        { key: M.entropy, label: 'objective/entropy (nats / response)' },
        { key: M.policyEntropy, label: 'policy/entropy (nats / token)' },
      ],
      { yTitle: 'entropy (nats)', panels: true },
    ),
  );
}

export function ppoClipfracChart(runs: readonly PpoRun[]): Chart | undefined {
  return ppoChart(
    'ppo-clipfrac',
    CHART_TITLES['ppo-clipfrac'],
    'Share of tokens whose probability ratio hit the PPO clip. A few percent is normal; large values mean each update moves the policy too far (lower the learning rate or the epochs).',
    ppoLineSpec(runs, [{ key: M.clipFrac, label: 'clip fraction' }], { yTitle: 'clip fraction' }),
  );
}

export function ppoProbeEntropyChart(runs: readonly PpoRun[]): Chart | undefined {
  return ppoChart(
    'ppo-probe-entropy',
    CHART_TITLES['ppo-probe-entropy'],
    'Entropy of the exact distribution over the answers to the random-number prompt, as a fraction of log 100 (1 = uniform). Falling toward 0 is mode collapse onto a favourite number.',
    ppoLineSpec(runs, [{ key: M.probeEntropyFraction, label: 'entropy fraction' }], { yTitle: 'H / log 100' }),
  );
}

/** KL(policy ‖ π*) within which the policy counts as having reached π* (nats). */
export const OPTIMUM_TOLERANCE = 0.1;

/** One plain sentence: did the tuned policy reach π* within the tolerance, or not, with the numbers. */
export function optimumVerdict(run: string, beta: number | undefined, klPolicy: number | undefined, klReference: number | undefined): string {
  if (klPolicy === undefined) return '';
  const who = `${run || 'The policy'}${beta !== undefined ? ` (β = ${fmt(beta)})` : ''}`;
  const from = klReference !== undefined ? ` (the reference is at ${fmt(klReference)})` : '';
  return klPolicy <= OPTIMUM_TOLERANCE
    ? `${who} reached π*: KL(policy ‖ π*) = ${fmt(klPolicy)} ≤ ${OPTIMUM_TOLERANCE} nats${from}.`
    : `${who} did not reach π*: KL(policy ‖ π*) = ${fmt(klPolicy)} nats, more than ${OPTIMUM_TOLERANCE}${from}.`;
}

export function ppoKlToOptimumChart(runs: readonly PpoRun[]): Chart | undefined {
  return ppoChart(
    'ppo-kl-to-optimum',
    CHART_TITLES['ppo-kl-to-optimum'],
    'Distance from the exact optimum π* ∝ π_ref·exp(r/β) of the KL-regularised objective on the random-number prompt (log scale). With a fixed β it should fall: the optimiser reaching what the objective asks. ' +
      runs
        .map((r) => {
          const k = firstLast(r, M.probeKlToOptimum);
          return optimumVerdict(runLabel(r.name), firstLast(r, M.klCoef).last, k.last, k.first);
        })
        .join(' '),
    ppoLineSpec(runs, [{ key: M.probeKlToOptimum, label: 'KL to π*' }], { yTitle: 'KL(policy ‖ π*)', logY: true }),
  );
}

/**
 * Seconds per phase over the whole run, per sub-run. The time/<phase> metrics are running totals
 * since the run (or its last resume) started: a phase's time is the last value, plus the last
 * value before every restart of the count (a value lower than the one before it).
 */
export function timeSplit(run: PpoRun): { phase: string; seconds: number }[] {
  const sums = new Map<string, number>();
  const prev = new Map<string, number>();
  for (const rec of run.records)
    for (const [k, v] of Object.entries(rec)) {
      // time/generation, time/scoring, time/optimization…; not rates (tokens per second) or totals.
      const m = /^time\/([a-z_]+)$/.exec(k);
      if (!m || /tokens|per_s|total|elapsed/.test(m[1])) continue;
      const x = num(v);
      if (x === undefined) continue;
      const before = prev.get(m[1]);
      if (before !== undefined && x < before) sums.set(m[1], (sums.get(m[1]) ?? 0) + before); // a resume restarted the count
      prev.set(m[1], x);
    }
  for (const [phase, last] of prev) sums.set(phase, (sums.get(phase) ?? 0) + last);
  const order = ['generation', 'scoring', 'optimization'];
  return [...sums.entries()]
    .sort((a, b) => (order.indexOf(a[0]) + 1 || 99) - (order.indexOf(b[0]) + 1 || 99) || a[0].localeCompare(b[0]))
    .map(([phase, seconds]) => ({ phase, seconds }));
}

export function ppoTimeChart(runs: readonly PpoRun[]): Chart | undefined {
  // x0/x1: where each phase's segment starts and ends; the label sits in the middle of a wide one.
  const rows: { run: string; phase: string; x0: number; x1: number; mid: number; label: string }[] = [];
  for (const r of runs) {
    const split = timeSplit(r);
    const total = split.reduce((s, x) => s + x.seconds, 0);
    if (total <= 0) continue;
    let at = 0;
    for (const x of split) {
      const share = x.seconds / total;
      rows.push({ run: runLabel(r.name), phase: x.phase, x0: at, x1: at + x.seconds, mid: at + x.seconds / 2, label: share >= 0.06 ? `${x.phase} ${Math.round(100 * share)}%` : '' });
      at += x.seconds;
    }
  }
  if (rows.length === 0) return undefined;
  const runNames = [...new Set(rows.map((r) => r.run))];
  const phases = [...new Set(rows.map((r) => r.phase))];
  const first = rows.filter((r) => r.run === runNames[0]);
  const total0 = first[first.length - 1].x1;
  const split = first.map((r) => `${r.phase} ${Math.round((100 * (r.x1 - r.x0)) / total0)}%`).join(', ');
  const top = first.reduce((a, b) => (b.x1 - b.x0 > a.x1 - a.x0 ? b : a));
  const why: Record<string, string> = {
    generation: 'sampling runs the policy once per new token',
    scoring: 'the reward model, the reference and the value head each run over every rollout',
    optimization: 'every rollout is trained on ppo_epochs times, forward and backward',
  };
  const y = { field: 'run', type: 'nominal', title: null, sort: runNames, axis: runNames.length > 1 ? { labelLimit: 160 } : null };
  return {
    id: 'ppo-time',
    title: CHART_TITLES['ppo-time'],
    caption:
      `Wall time per phase over all iterations${runNames.length > 1 ? ', one bar per run' : ''} (${runNames.length > 1 ? `${runNames[0]}: ` : ''}${split}, ${fmtSeconds(total0)} in all). ` +
      `Here ${top.phase} takes the most${why[top.phase] ? `: ${why[top.phase]}` : ''}.`,
    spec: withConfig({
      width: FULL,
      height: { step: 30 },
      data: { values: rows },
      layer: [
        {
          mark: { type: 'bar', height: { band: 0.72 } },
          encoding: {
            y,
            x: { field: 'x0', type: 'quantitative', title: 'seconds' },
            x2: { field: 'x1' },
            color: { field: 'phase', type: 'nominal', title: null, sort: phases, legend: runNames.length > 1 ? {} : null },
          },
        },
        { mark: { type: 'text', color: 'white', fontSize: 11 }, encoding: { y, x: { field: 'mid', type: 'quantitative' }, text: { field: 'label' } } },
      ],
    }),
  };
}

function fmtSeconds(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  const m = s / 60;
  return m < 120 ? `${m.toFixed(1)} min` : `${(m / 60).toFixed(1)} h`;
}

// ---------------------------------------------------------------------------------------------
// Diversity

const PANELS: { view: keyof DiversityViews; metric: 'distinct' | 'ead'; label: string }[] = [
  { view: 'per_input', metric: 'distinct', label: 'distinct-n, per input' },
  { view: 'per_input', metric: 'ead', label: 'EAD, per input' },
  { view: 'across_input', metric: 'distinct', label: 'distinct-n, across inputs' },
  { view: 'across_input', metric: 'ead', label: 'EAD, across inputs' },
];

export function diversityChart(probes: readonly ProbeRun[]): Chart | undefined {
  const rows: { series: string; panel: string; n: number; value: number }[] = [];
  const add = (series: string, d: DiversityViews | undefined) => {
    if (!d) return;
    for (const p of PANELS) for (const r of d[p.view]) if (finite(r[p.metric])) rows.push({ series, panel: p.label, n: r.n, value: r[p.metric] as number });
  };
  // "Before" is the reference policy: the same for every sub-run of a sweep, so drawn once.
  const withBefore = probes.find((p) => p.probe.diversity?.before);
  add('before (reference)', withBefore?.probe.diversity?.before);
  for (const p of probes) add(probes.length > 1 ? `after: ${runLabel(p.name)}` : 'after (policy)', p.probe.diversity?.after);
  if (rows.length === 0) return undefined;
  const series = [...new Set(rows.map((r) => r.series))];
  const panels = PANELS.map((p) => p.label).filter((l) => rows.some((r) => r.panel === l));
  return {
    id: 'probe-diversity',
    title: CHART_TITLES['probe-diversity'],
    caption:
      'distinct-n (unique n-grams / all n-grams) and EAD (unique n-grams relative to what random text of the same length would have), n = 1..5, ' +
      'over the samples of one prompt (per input) and over one sample of each prompt (across inputs). Lower after than before = less diverse outputs: mode collapse.',
    spec: withConfig({
      data: { values: rows },
      // A column facet (not a wrapped one): the headers share one row and line up.
      facet: { column: { field: 'panel', type: 'nominal', title: null, sort: panels } },
      spacing: 36,
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: 168,
        height: 140,
        encoding: {
          x: { field: 'n', type: 'quantitative', title: 'n', axis: { tickMinStep: 1, format: 'd' }, scale: { nice: false } },
          y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
          color: { field: 'series', type: 'nominal', title: null, sort: series, scale: { range: ['#9ca3af', ...PALETTE.slice(3), ...PALETTE.slice(0, 3)] }, legend: LINE_LEGEND },
        },
        layer: [{ mark: { type: 'line' } }, { mark: { type: 'point' } }],
      },
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering

/**
 * Prefix every id in an SVG (and the url(#…)/href="#…" references to it): vega numbers its clip
 * paths and gradients from module-level counters, and several SVGs inline in one HTML page share
 * one id namespace, so two charts must never both define "clip1".
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}-${id})`)
    .replace(/href="#([^"]+)"/g, (_, id: string) => `href="#${prefix}-${id}"`);
}

/** A loader that refuses everything: charts carry their data inline and must never fetch. */
const refuse = () => Promise.reject(new Error('report charts carry their data inline and may not load anything'));
const noLoader = { load: refuse, sanitize: refuse, http: refuse, file: refuse };

/**
 * Text widths for layout without a canvas. Vega's own fallback guesses 0.8 em per character, about
 * 40% too wide for a sans-serif, which leaves gaps around long axis titles and spreads legends out.
 * These are advance widths (em) close to DejaVu Sans, the widest common default sans-serif (what
 * Chromium shows on Linux), so that text still fits with Arial or Helvetica.
 */
const NARROW = new Set([...' il.,:;|!\'jI·()[]']);
const SEMI = new Set([...'ftr-/*"']);
const WIDE = new Set([...'mwMW%=→≥≤∝']);
export function estimateTextWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const ch of text) {
    if (NARROW.has(ch)) em += 0.3;
    else if (SEMI.has(ch)) em += 0.39;
    else if (WIDE.has(ch)) em += 0.9;
    else if (ch >= 'A' && ch <= 'Z') em += 0.7;
    else em += 0.62;
  }
  return em * fontSize;
}

function textWidth(item: { text?: unknown; fontSize?: number }, text?: unknown): number {
  const t = text ?? item.text;
  const s = t == null ? '' : String(t).trim();
  return estimateTextWidth(s, item.fontSize != null ? Number(item.fontSize) || 0 : 11);
}

/** vega-lite's warnings (a spec mistake) collected instead of printed; see `lastWarnings`. */
let warnings: string[] = [];
const logger = {
  _level: 2,
  level(l?: number) {
    if (l === undefined) return this._level as never;
    this._level = l;
    return this as never;
  },
  error(...args: unknown[]) {
    warnings.push(`error: ${args.join(' ')}`);
    return this;
  },
  warn(...args: unknown[]) {
    warnings.push(args.join(' '));
    return this;
  },
  info() {
    return this;
  },
  debug() {
    return this;
  },
};

/** Warnings vega-lite and vega gave while rendering the last chart (tests assert there are none). */
export function lastWarnings(): string[] {
  return warnings.slice();
}

/** Vega-Lite spec → SVG string, headless (no DOM, no canvas, no network). */
export async function renderSvg(spec: TopLevelSpec, idPrefix: string): Promise<string> {
  warnings = [];
  const vg = compile(spec, { logger: logger as never }).spec;
  // Exported by vega at run time (vega-scenegraph), missing from its typings.
  const metrics = (vega as unknown as { textMetrics: { width: (item: object, text?: unknown) => number } }).textMetrics;
  const saved = metrics.width;
  metrics.width = textWidth;
  const view = new vega.View(vega.parse(vg), { renderer: 'none', loader: noLoader as unknown as vega.Loader, logger: logger as never });
  try {
    const svg = await view.toSVG();
    return scopeSvgIds(svg, idPrefix);
  } finally {
    view.finalize();
    metrics.width = saved;
  }
}

/** All charts the artifacts allow, in CHART_IDS order. */
export interface ChartInputs {
  sft?: readonly SftPoint[];
  sample?: SampleSummary;
  rewardModels: readonly RewardDiagnostics[];
  ppo: readonly PpoRun[];
  probe: readonly ProbeRun[];
  klTarget?: number;
}

export function buildCharts(a: ChartInputs): Map<ChartId, Chart> {
  const all: (Chart | undefined)[] = [
    sftLossChart(a.sft),
    sampleNumbersChart(a.sample),
    rewardByRankChart(a.rewardModels),
    rewardHistogramChart(a.rewardModels),
    collapseScoreChart(a.rewardModels),
    ppoRewardChart(a.ppo),
    ppoKlChart(a.ppo, a.klTarget),
    ppoKlCoefChart(a.ppo),
    ppoClipfracChart(a.ppo),
    ppoProbeEntropyChart(a.ppo),
    ppoKlToOptimumChart(a.ppo),
    ppoEntropyChart(a.ppo),
    ppoTimeChart(a.ppo),
    numberDistributionChart(a.probe),
    diversityChart(a.probe),
  ];
  const out = new Map<ChartId, Chart>();
  for (const c of all) if (c) out.set(c.id, c);
  return out;
}
