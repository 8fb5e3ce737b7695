/**
 * Reading a run directory for the report: every artifact is optional and every field may be
 * missing. Readers normalise what they find into the small typed shapes below (numbers that are
 * not finite become undefined / are dropped) and never throw for a missing or malformed artifact:
 * the problem goes into `warnings` and the report shows the section as "not run" or "could not read".
 *
 * Layouts (a β sweep has named PPO sub-runs):
 *   RUN/config.resolved.yaml
 *   RUN/sft/metrics.jsonl
 *   RUN/sample/summary.json
 *   RUN/train-rm/<utility>/diagnostics.json
 *   RUN/ppo/metrics.jsonl        or  RUN/ppo/<name>/metrics.jsonl   (both are read)
 *   RUN/probe/probe.json         or  RUN/probe/<name>/probe.json
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { MetricsRecord, readMetrics } from '../metrics/logger';
import { Lenient, ProbeResult } from '../data/artifacts';

// ---------------------------------------------------------------------------------------------
// Shapes

export interface ConfigArtifact {
  file: string;
  /** The file verbatim (shown in the report). */
  text: string;
  /** Parsed YAML, or undefined if it does not parse (a warning says why). */
  value?: unknown;
}

export interface SftPoint {
  step: number;
  loss?: number;
  eval_loss?: number;
  lr?: number;
}

export interface DiversityRow {
  n: number;
  distinct?: number;
  ead?: number;
}

export interface DiversityViews {
  per_input: DiversityRow[];
  across_input: DiversityRow[];
}

export interface EntropyPair {
  exact?: number;
  sampled?: number;
}

export interface NumbersSummary {
  candidates: string[];
  probs: number[];
  entropy?: number;
  entropyFraction?: number;
  top?: string;
  topProb?: number;
}

export interface SampleSummary {
  file: string;
  entropy?: EntropyPair;
  diversity?: DiversityViews;
  numbers?: NumbersSummary;
}

export interface MeanStd {
  mean: number[];
  std: number[];
}

export interface KindSeries<T> {
  open?: T;
  closed?: T;
}

export interface CollapseCurvePoint {
  step: number;
  epoch?: number;
  open?: number[];
  closed?: number[];
  collapse_score?: number;
}

export interface RewardDiagnostics {
  file: string;
  utility: string;
  n?: number;
  theory: KindSeries<number[]>;
  train: KindSeries<MeanStd>;
  heldout: KindSeries<MeanStd>;
  /** W₁ between the open and closed reward distributions at the end, on training prompts. */
  collapse_score?: number;
  /** The same on held-out prompts, when the trainer had some. */
  heldout_collapse_score?: number;
  curves: CollapseCurvePoint[];
  rewards: KindSeries<number[]>;
  accuracy: { train?: number; heldout?: number };
}

export interface PpoRun {
  /** '' for the single layout (RUN/ppo/metrics.jsonl), the sub-directory name otherwise. */
  name: string;
  file: string;
  records: MetricsRecord[];
}

/**
 * probe.json as the report reads it: the shape the probe writes (ProbeResult, data/artifacts.ts),
 * every field optional (the report draws what is there, also from older or partial runs).
 */
type RandomNumber = ProbeResult['random_number'];
export type NumberProbe = Pick<RandomNumber, 'candidates' | 'reference' | 'policy' | 'optimum'> &
  Lenient<Omit<RandomNumber, 'candidates' | 'reference' | 'policy' | 'optimum' | 'entropy' | 'top' | 'valid_mass'>> & {
    entropy: Lenient<RandomNumber['entropy']>;
    top: Lenient<RandomNumber['top']>;
    valid_mass?: Lenient<RandomNumber['valid_mass']>;
  };
export type Probe = Lenient<Pick<ProbeResult, 'temperature' | 'attractor'>> & {
  random_number?: NumberProbe;
  diversity?: { before?: DiversityViews; after?: DiversityViews };
  entropy?: { before?: EntropyPair; after?: EntropyPair };
};

export interface ProbeRun {
  name: string;
  file: string;
  probe: Probe;
}

export interface RunArtifacts {
  runDir: string;
  config?: ConfigArtifact;
  sft?: { file: string; points: SftPoint[] };
  sample?: SampleSummary;
  /** One per trained utility, in a stable order (by directory name). */
  rewardModels: RewardDiagnostics[];
  /** One per PPO (sub-)run, names sorted naturally ("beta-0.01" before "beta-0.1"). */
  ppo: PpoRun[];
  probe: ProbeRun[];
  /** Artifacts found but unreadable, fields of the wrong type: said once each, in the report too. */
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Tolerant field access

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function obj(x: unknown): Obj | undefined {
  return isObj(x) ? x : undefined;
}

/** A finite number, or undefined. */
export function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** An array of numbers; non-finite entries become NaN so that indices (ranks, candidates) keep their place. */
function numArray(x: unknown): number[] | undefined {
  if (!Array.isArray(x)) return undefined;
  return x.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : NaN));
}

function strArray(x: unknown): string[] | undefined {
  if (!Array.isArray(x)) return undefined;
  return x.map((v) => String(v));
}

/** The first of several spellings that is present (snake_case as written, camelCase as in the library). */
function pick(o: Obj | undefined, ...keys: string[]): unknown {
  if (!o) return undefined;
  for (const k of keys) if (o[k] !== undefined) return o[k];
  return undefined;
}

function meanStd(x: unknown): MeanStd | undefined {
  const o = obj(x);
  const mean = numArray(o?.mean);
  if (!mean) return undefined;
  const std = numArray(o?.std) ?? mean.map(() => NaN);
  return { mean, std };
}

function kindSeries<T>(x: unknown, f: (v: unknown) => T | undefined): KindSeries<T> {
  const o = obj(x);
  const out: KindSeries<T> = {};
  const open = f(o?.open);
  const closed = f(o?.closed);
  if (open !== undefined) out.open = open;
  if (closed !== undefined) out.closed = closed;
  return out;
}

function diversityRows(x: unknown): DiversityRow[] {
  if (!Array.isArray(x)) return [];
  const rows: DiversityRow[] = [];
  x.forEach((r, i) => {
    const o = obj(r);
    if (!o) return;
    rows.push({ n: num(o.n) ?? i + 1, distinct: num(o.distinct), ead: num(o.ead) });
  });
  return rows;
}

/** {per_input, across_input} (also perInput / acrossInput, as DiversityReport spells them). */
export function parseDiversity(x: unknown): DiversityViews | undefined {
  const o = obj(x);
  if (!o) return undefined;
  const per = diversityRows(pick(o, 'per_input', 'perInput'));
  const across = diversityRows(pick(o, 'across_input', 'acrossInput'));
  if (per.length === 0 && across.length === 0) return undefined;
  return { per_input: per, across_input: across };
}

function entropyPair(x: unknown): EntropyPair | undefined {
  const o = obj(x);
  if (!o) return undefined;
  const exact = num(pick(o, 'exact', 'meanExact', 'mean_exact'));
  const sampled = num(pick(o, 'sampled', 'meanSampled', 'mean_sampled'));
  if (exact === undefined && sampled === undefined) return undefined;
  return { exact, sampled };
}

function topAnswer(x: unknown): { answer: string; prob?: number } | undefined {
  const o = obj(x);
  const answer = pick(o, 'answer', 'top');
  if (answer === undefined || answer === null) return undefined;
  return { answer: String(answer), prob: num(pick(o, 'prob', 'topProb', 'p')) };
}

// ---------------------------------------------------------------------------------------------
// Parsers, one per artifact (exported for tests)

export function parseSampleSummary(file: string, x: unknown): SampleSummary {
  const o = obj(x) ?? {};
  const out: SampleSummary = { file };
  const e = entropyPair(o.entropy);
  if (e) out.entropy = e;
  const d = parseDiversity(o.diversity);
  if (d) out.diversity = d;
  const nb = obj(o.numbers);
  const candidates = strArray(nb?.candidates);
  const probs = numArray(nb?.probs);
  if (nb && candidates && probs && candidates.length === probs.length && candidates.length > 0) {
    out.numbers = {
      candidates,
      probs,
      entropy: num(nb.entropy),
      entropyFraction: num(pick(nb, 'entropyFraction', 'entropy_fraction')),
      top: nb.top === undefined || nb.top === null ? undefined : String(nb.top),
      topProb: num(pick(nb, 'topProb', 'top_prob')),
    };
  }
  return out;
}

export function parseDiagnostics(file: string, fallbackUtility: string, x: unknown): RewardDiagnostics {
  const o = obj(x) ?? {};
  const curves: CollapseCurvePoint[] = [];
  if (Array.isArray(o.curves)) {
    o.curves.forEach((c, i) => {
      const co = obj(c);
      if (!co) return;
      curves.push({
        step: num(co.step) ?? i,
        epoch: num(co.epoch),
        open: numArray(co.open),
        closed: numArray(co.closed),
        collapse_score: num(pick(co, 'collapse_score', 'collapseScore')),
      });
    });
  }
  const acc = obj(o.accuracy);
  return {
    file,
    utility: typeof o.utility === 'string' && o.utility ? o.utility : fallbackUtility,
    n: num(o.n),
    theory: kindSeries(o.theory, numArray),
    train: kindSeries(o.train, meanStd),
    heldout: kindSeries(pick(o, 'heldout', 'held_out'), meanStd),
    collapse_score: num(pick(o, 'collapse_score', 'collapseScore')),
    heldout_collapse_score: num(pick(obj(pick(o, 'heldout', 'held_out')), 'collapse_score')),
    curves,
    rewards: kindSeries(o.rewards, (v) => numArray(v)?.filter(Number.isFinite)),
    accuracy: { train: num(acc?.train), heldout: num(pick(acc, 'heldout', 'held_out')) },
  };
}

export function parseProbe(x: unknown): Probe {
  const o = obj(x) ?? {};
  const out: Probe = {};
  const rn = obj(o.random_number);
  const candidates = strArray(rn?.candidates);
  const reference = numArray(rn?.reference);
  const policy = numArray(rn?.policy);
  if (rn && candidates && reference && policy && reference.length === candidates.length && policy.length === candidates.length) {
    const optimum = numArray(rn.optimum);
    const ent = obj(rn.entropy);
    const top = obj(rn.top);
    out.random_number = {
      candidates,
      reference,
      policy,
      optimum: optimum && optimum.length === candidates.length ? optimum : null,
      beta: num(rn.beta),
      entropy: { reference: num(ent?.reference), policy: num(ent?.policy) },
      top: { reference: topAnswer(top?.reference), policy: topAnswer(top?.policy) },
      ...(obj(rn.valid_mass) && { valid_mass: { reference: num(obj(rn.valid_mass)!.reference), policy: num(obj(rn.valid_mass)!.policy) } }),
      kl_policy_optimum: num(rn.kl_policy_optimum),
      kl_reference_optimum: num(rn.kl_reference_optimum),
    };
  }
  const t = obj(o.temperature);
  if (t) out.temperature = { t_star: num(t.t_star), kl_at_t_star: num(t.kl_at_t_star), kl_at_one: num(t.kl_at_one) };
  const a = obj(o.attractor);
  if (a) out.attractor = { policy: num(a.policy), reference: num(a.reference) };
  const d = obj(o.diversity);
  if (d) out.diversity = { before: parseDiversity(d.before), after: parseDiversity(d.after) };
  const e = obj(o.entropy);
  if (e) out.entropy = { before: entropyPair(e.before), after: entropyPair(e.after) };
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading the run directory

/**
 * Natural order: numbers inside names compare by value, decimals too ("beta-0.01" < "beta-0.1" <
 * "beta-1" < "beta-10"), which Intl's numeric collation gets wrong for "0.01" vs "0.1".
 */
export function naturalCompare(a: string, b: string): number {
  const split = (s: string) => s.split(/(\d+(?:\.\d+)?(?:e[-+]?\d+)?)/i);
  const pa = split(a);
  const pb = split(b);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    // Odd indices are the captured numbers, even ones the text between them.
    const c = i % 2 === 1 ? Number(pa[i]) - Number(pb[i]) || pa[i].localeCompare(pb[i]) : pa[i].localeCompare(pb[i], 'en');
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

function readJson(file: string, warnings: string[]): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    warnings.push(`${file}: could not read (${(err as Error).message})`);
    return undefined;
  }
}

function subdirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort(naturalCompare);
  } catch {
    return [];
  }
}

/** The artifact in the stage directory itself (name '') and in each named sub-directory. */
function findLayout(stageDir: string, fileName: string): { name: string; file: string }[] {
  const out: { name: string; file: string }[] = [];
  const top = path.join(stageDir, fileName);
  if (fs.existsSync(top)) out.push({ name: '', file: top });
  for (const d of subdirs(stageDir)) {
    const f = path.join(stageDir, d, fileName);
    if (fs.existsSync(f)) out.push({ name: d, file: f });
  }
  return out;
}

async function readMetricsTolerant(file: string, warnings: string[]): Promise<MetricsRecord[] | undefined> {
  try {
    const r = await readMetrics(file);
    if (r.partialLines) warnings.push(`${file}: last line incomplete (${r.partialBytes} bytes), skipped`);
    return r.records;
  } catch (err) {
    warnings.push(`${file}: could not read (${(err as Error).message})`);
    return undefined;
  }
}

export async function readRunArtifacts(runDir: string): Promise<RunArtifacts> {
  const warnings: string[] = [];
  const out: RunArtifacts = { runDir, rewardModels: [], ppo: [], probe: [], warnings };

  const configFile = path.join(runDir, 'config.resolved.yaml');
  if (fs.existsSync(configFile)) {
    const text = fs.readFileSync(configFile, 'utf8');
    const cfg: ConfigArtifact = { file: configFile, text };
    try {
      cfg.value = YAML.parse(text);
    } catch (err) {
      warnings.push(`${configFile}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
    }
    out.config = cfg;
  }

  const sftFile = path.join(runDir, 'sft', 'metrics.jsonl');
  if (fs.existsSync(sftFile)) {
    const recs = await readMetricsTolerant(sftFile, warnings);
    if (recs) {
      const points: SftPoint[] = [];
      for (const r of recs) {
        // Records without a loss (a stage's start/end markers, say) are not points of the curve.
        const p: SftPoint = { step: r.step, loss: num(r.loss), eval_loss: num(r.eval_loss), lr: num(r.lr) };
        if (p.loss !== undefined || p.eval_loss !== undefined) points.push(p);
      }
      out.sft = { file: sftFile, points };
    }
  }

  const sampleFile = path.join(runDir, 'sample', 'summary.json');
  if (fs.existsSync(sampleFile)) {
    const x = readJson(sampleFile, warnings);
    if (x !== undefined) out.sample = parseSampleSummary(sampleFile, x);
  }

  const rmDir = path.join(runDir, 'train-rm');
  for (const d of subdirs(rmDir)) {
    const f = path.join(rmDir, d, 'diagnostics.json');
    if (!fs.existsSync(f)) continue;
    const x = readJson(f, warnings);
    if (x !== undefined) out.rewardModels.push(parseDiagnostics(f, d, x));
  }

  // The order the config lists the utilities in (the order they were trained), else by name.
  const order = configuredUtilities(out.config?.value);
  const rank = (d: RewardDiagnostics) => {
    const i = order.findIndex((u) => u === path.basename(path.dirname(d.file)) || u === d.utility);
    return i < 0 ? order.length : i;
  };
  out.rewardModels.sort((x, y) => rank(x) - rank(y));

  for (const { name, file } of findLayout(path.join(runDir, 'ppo'), 'metrics.jsonl')) {
    const recs = await readMetricsTolerant(file, warnings);
    if (recs) out.ppo.push({ name, file, records: recs.sort((a, b) => a.step - b.step) });
  }

  for (const { name, file } of findLayout(path.join(runDir, 'probe'), 'probe.json')) {
    const x = readJson(file, warnings);
    if (x !== undefined) out.probe.push({ name, file, probe: parseProbe(x) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Config look-ups

/**
 * The adaptive-KL target, if the config has one: the first finite number under `ppo` at one of the
 * usual spellings (TRL's `target`, `kl_target`, `target_kl`, nested in `kl`/`kl_ctl`/`adaptive_kl`).
 * A `target_kl` that TRL ≥ 0.12 uses for early stopping is a KL per token, not the controller's
 * target, but it is still the KL the run aims at, so it is drawn the same way.
 */
export function klTarget(config: unknown): number | undefined {
  const ppo = obj(obj(config)?.ppo);
  if (!ppo) return undefined;
  if (ppo.adaptive_kl === false) return undefined; // a fixed β has no target
  const keys = ['kl_target', 'target_kl', 'target'];
  for (const k of keys) if (num(ppo[k]) !== undefined) return num(ppo[k]);
  for (const sub of ['kl', 'kl_ctl', 'kl_controller', 'adaptive_kl', 'kl_penalty']) {
    const s = obj(ppo[sub]);
    if (!s) continue;
    for (const k of keys) if (num(s[k]) !== undefined) return num(s[k]);
  }
  return undefined;
}

/** train_rm.utilities (names, or objects with a `name`), in config order; [] when absent. */
export function configuredUtilities(config: unknown): string[] {
  const rm = obj(pick(obj(config), 'train_rm', 'train-rm', 'reward_model'));
  const list = rm?.utilities;
  if (!Array.isArray(list)) return [];
  return list.map((u) => (typeof u === 'string' ? u : typeof obj(u)?.name === 'string' ? (obj(u)!.name as string) : '')).filter(Boolean);
}

/** A name for the run: the config's `name` or `title`, else the run directory's name. */
export function runTitle(a: RunArtifacts): string {
  const c = obj(a.config?.value);
  const n = c?.name ?? c?.title;
  if (typeof n === 'string' && n.trim()) return n.trim();
  return path.basename(path.resolve(a.runDir));
}

/** How a sub-run is labelled in legends: its directory name, or "policy" for the single layout. */
export function runLabel(name: string): string {
  return name === '' ? 'policy' : name;
}
