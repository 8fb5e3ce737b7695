/**
 * "Algorithms side by side": PPO, GRPO, RLOO and DPO runs of one run directory next to each other,
 * on the numbers every policy-tuning stage logs under the same names (data/artifacts.ts):
 * objective/kl (KL to the reference summed over a sampled response), the probes (random-number
 * entropy, KL to π*, held-out reward) and the final probe.json of each run (exact number-answer
 * KL to the reference, diversity), plus the time per step from each run's summary.json.
 *
 * Read tolerantly like the rest of the report (a missing or odd artifact is a warning, never an
 * error). Shown only when the run has a tuning stage other than PPO: a PPO-only run's report is as
 * it was.
 *
 * Layout: RUN/<stage>/metrics.jsonl or RUN/<stage>/<run>/metrics.jsonl (stage = ppo, grpo, rloo,
 * dpo), and the probe of each at RUN/probe/<stage>[-<run>]/probe.json (pipeline/plan.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TopLevelSpec } from 'vega-lite';
import { PPO_METRICS as M, POLICY_ALGORITHMS, PolicyAlgorithm } from '../data/artifacts';
import { MetricsRecord, readMetrics } from '../metrics/logger';
import { BASE_CONFIG } from './charts';
import { fmt, pct } from './headline';
import { naturalCompare, num } from './artifacts';
import type { Block, RenderedChart, Section } from './html';
import { escapeHtml } from './html';

export interface AlgorithmRun {
  algorithm: PolicyAlgorithm;
  /** '' for the single layout, else the sweep run's name. */
  name: string;
  /** How legends and tables name it: "grpo", "dpo/beta-0.5". */
  label: string;
  records: MetricsRecord[];
  /** Seconds per training step (iteration), from summary.json; the probes are not counted for DPO. */
  secondsPerStep?: number;
  steps?: number;
  /** π* is the exact fixed point of the run's update (false: GRPO, or RLOO with normalised advantages). */
  exact?: boolean;
  /** The run's final probe.json, raw (fields read tolerantly below). */
  probe?: Record<string, unknown>;
}

export const ALGORITHM_CHART_IDS = ['algo-entropy-vs-kl', 'algo-kl', 'algo-probe-entropy', 'algo-heldout-reward'] as const;
export type AlgorithmChartId = (typeof ALGORITHM_CHART_IDS)[number];

export interface AlgorithmChart {
  id: AlgorithmChartId;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

type Obj = Record<string, unknown>;
const obj = (x: unknown): Obj | undefined => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Obj) : undefined);

function readJson(file: string, warnings: string[]): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    warnings.push(`${file}: could not read (${(err as Error).message})`);
    return undefined;
  }
}

function runDirs(stageDir: string): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  if (fs.existsSync(path.join(stageDir, 'metrics.jsonl'))) out.push({ name: '', dir: stageDir });
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(stageDir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries.filter((x) => x.isDirectory() && !x.name.startsWith('.')).sort((a, b) => naturalCompare(a.name, b.name)))
    if (fs.existsSync(path.join(stageDir, e.name, 'metrics.jsonl'))) out.push({ name: e.name, dir: path.join(stageDir, e.name) });
  return out;
}

/** Every tuning run of the run directory, PPO's too, with its probe (when the probe stage ran). */
export async function readAlgorithmRuns(runDir: string, warnings: string[]): Promise<AlgorithmRun[]> {
  const out: AlgorithmRun[] = [];
  for (const algorithm of POLICY_ALGORITHMS) {
    for (const { name, dir } of runDirs(path.join(runDir, algorithm))) {
      let records: MetricsRecord[] = [];
      try {
        records = (await readMetrics(path.join(dir, 'metrics.jsonl'))).records.sort((a, b) => a.step - b.step);
      } catch (err) {
        warnings.push(`${path.join(dir, 'metrics.jsonl')}: could not read (${(err as Error).message})`);
        continue;
      }
      const run: AlgorithmRun = { algorithm, name, label: name ? `${algorithm}/${name}` : algorithm, records };
      const summaryFile = path.join(dir, 'summary.json');
      const s = fs.existsSync(summaryFile) ? obj(readJson(summaryFile, warnings)) : undefined;
      if (s) {
        const steps = num(s.iterations) ?? num(s.steps);
        run.steps = steps;
        run.secondsPerStep = num(s.seconds_per_iteration) ?? num(s.seconds_per_step) ?? (steps && num(s.seconds) !== undefined ? num(s.seconds)! / steps : undefined);
        const o = obj(s.objective);
        run.exact = typeof o?.exact === 'boolean' ? (o.exact as boolean) : algorithm === 'ppo' ? true : undefined;
      }
      // The probe unit's name (pipeline/plan.ts): <stage>[-<run>] when stages other than PPO ran,
      // the PPO run's own name when PPO was alone.
      const candidates = [name ? `${algorithm}-${name}` : algorithm, ...(algorithm === 'ppo' ? [name] : [])];
      for (const c of candidates) {
        const f = path.join(runDir, 'probe', c, 'probe.json');
        if (fs.existsSync(f)) {
          run.probe = obj(readJson(f, warnings));
          break;
        }
      }
      out.push(run);
    }
  }
  return out;
}

/** Whether the report gets the side-by-side section: some tuning stage other than PPO ran. */
export function hasOtherAlgorithms(runs: readonly AlgorithmRun[]): boolean {
  return runs.some((r) => r.algorithm !== 'ppo');
}

// ---------------------------------------------------------------------------------------------
// Charts

const FULL = 760;
const HALF = 370;
const HEIGHT = 190;
const LINE_LEGEND = { symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 2.5 };

function spec(s: object): TopLevelSpec {
  return { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', config: BASE_CONFIG, ...s } as TopLevelSpec;
}

const value = (rec: MetricsRecord, key: string) => num((rec as Record<string, unknown>)[key]);

/** The two KLs to the reference a run is compared at: sampled over responses, and exact on the number answers. */
export type KlAxis = 'sampled' | 'numbers';
const KL_KEY: Record<KlAxis, string> = { sampled: M.kl, numbers: M.probeKlToReference };

/**
 * The probe points of a run: (KL to the reference, number entropy) in step order. The step-0 probe
 * is the reference itself: KL 0 there (PPO, GRPO and RLOO log no sampled KL before training).
 */
export function entropyKlPoints(run: AlgorithmRun, axis: KlAxis = 'sampled'): { step: number; kl: number; entropy: number }[] {
  const pts: { step: number; kl: number; entropy: number }[] = [];
  for (const rec of run.records) {
    const h = value(rec, M.probeEntropyFraction);
    const kl = rec.step === 0 ? (value(rec, KL_KEY[axis]) ?? 0) : value(rec, KL_KEY[axis]);
    if (h !== undefined && kl !== undefined) pts.push({ step: rec.step, kl, entropy: h });
  }
  return pts;
}

function progressRows(runs: readonly AlgorithmRun[], key: string): { run: string; progress: number; value: number }[] {
  const rows: { run: string; progress: number; value: number }[] = [];
  for (const r of runs) {
    const last = r.records.length ? r.records[r.records.length - 1].step : 0;
    for (const rec of r.records) {
      const v = value(rec, key);
      if (v !== undefined) rows.push({ run: r.label, progress: last ? rec.step / last : 0, value: v });
    }
  }
  return rows;
}

function progressChart(id: AlgorithmChartId, title: string, caption: string, runs: readonly AlgorithmRun[], key: string, yTitle: string): AlgorithmChart | undefined {
  const rows = progressRows(runs, key);
  if (!rows.length) return undefined;
  const x = { field: 'progress', type: 'quantitative', title: 'share of the run (steps / last step)', axis: { format: '%' } };
  const y = { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false } };
  const color = { field: 'run', type: 'nominal', title: null, sort: runs.map((r) => r.label), legend: LINE_LEGEND };
  return { id, title, caption, spec: spec({ data: { values: rows }, width: HALF, height: HEIGHT - 30, layer: [{ mark: 'line', encoding: { x, y, color } }, { mark: { type: 'point', size: 16 }, encoding: { x, y, color } }] }) };
}

export function buildAlgorithmCharts(runs: readonly AlgorithmRun[]): Map<AlgorithmChartId, AlgorithmChart> {
  const out = new Map<AlgorithmChartId, AlgorithmChart>();
  // x: the exact KL of the number-answer distribution when every run logs it, else the sampled KL.
  const axis: KlAxis = runs.every((r) => entropyKlPoints(r, 'numbers').length > 1) ? 'numbers' : 'sampled';
  const pts = runs.flatMap((r) => entropyKlPoints(r, axis).map((p) => ({ run: r.label, ...p })));
  if (pts.length) {
    const x = { field: 'kl', type: 'quantitative', title: axis === 'numbers' ? 'KL(policy ‖ reference) of the number answers, nats' : 'KL(policy ‖ reference), nats per sampled response' };
    const y = { field: 'entropy', type: 'quantitative', title: 'random-number entropy, H / log 100' };
    const color = { field: 'run', type: 'nominal', title: null, sort: runs.map((r) => r.label), legend: LINE_LEGEND };
    out.set('algo-entropy-vs-kl', {
      id: 'algo-entropy-vs-kl',
      title: 'Random-number entropy against KL to the reference',
      caption:
        'Each run’s probe points in training order (the first is the reference: KL 0). At a matched KL, the lower line collapses the number distribution more; ' +
        'a run that ends at a different KL is compared where the lines overlap, not at their ends.',
      spec: spec({ data: { values: pts }, width: FULL, height: HEIGHT + 40, layer: [{ mark: 'line', encoding: { x, y, color, order: { field: 'step', type: 'quantitative' } } }, { mark: { type: 'point', size: 30 }, encoding: { x, y, color } }] }),
    });
  }
  const kl = progressChart('algo-kl', 'KL to the reference', 'objective/kl: KL(policy ‖ reference) summed over a sampled response, the same estimate (k1) for every algorithm (DPO: at its probes).', runs, M.kl, 'KL (nats / response)');
  if (kl) out.set(kl.id, kl);
  const ent = progressChart('algo-probe-entropy', 'Random-number entropy during training', 'probe/entropy_fraction: entropy of the exact answer distribution of the number prompt, as a share of log 100.', runs, M.probeEntropyFraction, 'H / log 100');
  if (ent) out.set(ent.id, ent);
  const rw = progressChart('algo-heldout-reward', 'Held-out reward during training', 'probe/heldout_reward: the reward model’s score of responses to held-out prompts (a fixed sampling seed); the same reward model for every algorithm (DPO only when its config names one).', runs, M.probeHeldoutReward, 'reward (normalised as each run scored it)');
  if (rw) out.set(rw.id, rw);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The table

function lastValue(run: AlgorithmRun, key: string): number | undefined {
  for (let i = run.records.length - 1; i >= 0; i--) {
    const v = value(run.records[i], key);
    if (v !== undefined) return v;
  }
  return undefined;
}
function firstValue(run: AlgorithmRun, key: string): number | undefined {
  for (const rec of run.records) {
    const v = value(rec, key);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * The number entropy of a run where its sampled KL first reaches `kl`, linear between the two probe
 * points around it; undefined when the run never gets there.
 */
export function entropyAtKl(points: readonly { kl: number; entropy: number }[], kl: number): number | undefined {
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    if (p.kl < kl) continue;
    if (i === 0 || p.kl === kl) return p.entropy;
    const q = points[i - 1];
    return q.entropy + ((kl - q.kl) / (p.kl - q.kl)) * (p.entropy - q.entropy);
  }
  return undefined;
}

/** The largest KL every run reaches (the end of the range where all can be compared at equal KL). */
export function commonKl(runs: readonly AlgorithmRun[], axis: KlAxis = 'sampled'): number | undefined {
  // Only runs with a trajectory (the reference and at least one probe after it) can be read off.
  const pts = runs.map((r) => entropyKlPoints(r, axis));
  if (!pts.length || pts.some((p) => p.length < 2)) return undefined;
  return Math.min(...pts.map((p) => Math.max(...p.map((x) => x.kl))));
}

/** One row per run: what the issue asks to compare. Cells are plain text (escaped by the caller). */
export function algorithmTable(runs: readonly AlgorithmRun[]): { head: string[]; rows: string[][] } {
  const matched = commonKl(runs);
  const matchedNumbers = commonKl(runs, 'numbers');
  const head = [
    'run',
    'held-out reward',
    'KL to reference (sampled)',
    'KL on number answers',
    'number entropy',
    ...(matched !== undefined ? [`number entropy at sampled KL = ${fmt(matched)}`] : []),
    ...(matchedNumbers !== undefined ? [`number entropy at number KL = ${fmt(matchedNumbers)}`] : []),
    'top answer',
    'KL(π ‖ π*)',
    'distinct-2 per input',
    's / step',
  ];
  const rows = runs.map((r) => {
    const rn = obj(r.probe?.random_number);
    const ef = obj(rn?.entropy_fraction);
    const top = obj(obj(rn?.top)?.policy);
    const cmp = obj(rn?.compare);
    const kind = rn?.optimum_kind === 'dpo-implicit' ? 'implicit r' : undefined;
    const klStar = num(rn?.kl_policy_optimum);
    let star = klStar === undefined ? '–' : `${r.exact === false ? '≈ ' : ''}${fmt(klStar)}${kind ? ` (${kind})` : ''}`;
    if (cmp) star += `; PPO’s π*: ${fmt(num(cmp.kl_policy_optimum))}`;
    const div = obj(r.probe?.diversity);
    const d2 = (v: unknown) => num(obj((obj(v)?.per_input as unknown[] | undefined)?.[1])?.distinct);
    return [
      r.label,
      `${fmt(firstValue(r, M.probeHeldoutReward))} → ${fmt(lastValue(r, M.probeHeldoutReward))}`,
      fmt(lastValue(r, M.kl)),
      fmt(num(rn?.kl_policy_reference)),
      `${pct(num(ef?.reference))} → ${pct(num(ef?.policy))}`,
      ...(matched !== undefined ? [pct(entropyAtKl(entropyKlPoints(r), matched))] : []),
      ...(matchedNumbers !== undefined ? [pct(entropyAtKl(entropyKlPoints(r, 'numbers'), matchedNumbers))] : []),
      top ? `${String(top.answer ?? '?')} (${pct(num(top.prob))})` : '–',
      star,
      `${fmt(d2(div?.before))} → ${fmt(d2(div?.after))}`,
      fmt(r.secondsPerStep),
    ];
  });
  return { head, rows };
}

export const ALGORITHM_NOTES =
  'PPO and RLOO optimise E[r] − β·KL(π ‖ π_ref) exactly, so π* ∝ π_ref·exp(r/β) is where they should go. ' +
  'GRPO’s update is not that objective (“≈”): it divides each group’s centred rewards by their std (a reward scale that grows as the group agrees), its own-group mean scales the reward by (k − 1)/k, and its k3 term in the loss has the gradient of KL(π_ref ‖ π) per token. ' +
  'DPO’s π* of its implicit reward β·log π/π_ref is the DPO policy itself over whole responses; on the number prompt the KL to it measures what changed in how answers end. ' +
  'With a PPO run in the same directory, DPO is also compared with PPO’s π* (PPO’s reward model, normalisation and β).';

// ---------------------------------------------------------------------------------------------
// The section

/** The section, placed before "Mode collapse"; charts already rendered (index.ts). */
export function algorithmSection(runs: readonly AlgorithmRun[], charts: ReadonlyMap<AlgorithmChartId, RenderedChart>): Section {
  const e = escapeHtml;
  const t = algorithmTable(runs);
  const blocks: Block[] = [
    { kind: 'table', head: t.head.map(e), rows: t.rows.map((r) => r.map(e)) },
    {
      kind: 'text',
      html:
        '<p class="note">Held-out reward and sampled KL: first and last probe. KL on number answers, number entropy, top answer, KL to π* and diversity: the final policy against the reference (probe). ' +
        'Number entropy at KL = x: read off each run’s probe points where its KL first reaches x (linear in between), x the largest KL every run reaches: the runs compared at matched KL, ' +
        'with the sampled KL over responses, and with the exact KL of the number-answer distribution itself (probe/kl_to_reference). ' +
        `${e(ALGORITHM_NOTES)}</p>`,
    },
  ];
  for (const id of ALGORITHM_CHART_IDS) {
    const c = charts.get(id);
    if (c) blocks.push({ kind: 'chart', chart: c, wide: id === 'algo-entropy-vs-kl' });
  }
  return {
    id: 'algorithms',
    title: 'Algorithms side by side',
    intro: 'PPO, GRPO, RLOO and DPO from the same SFT policy and the same rankings, measured by the same probes.',
    blocks,
  };
}
