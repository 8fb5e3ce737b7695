/**
 * The whole-run config of `rlhf run CONFIG.yaml`: one YAML file that names the model, the data
 * files and every stage's hyperparameters. It is validated completely before any work starts;
 * every problem becomes one line naming the file (and line), the key path, the value found and
 * what was expected, e.g.
 *
 *     configs/quickstart.yaml:14: sft.lr: got -1, expected a number > 0
 *     configs/quickstart.yaml:9: sft.lrr: unknown key (did you mean "lr"?), expected one of: epochs, ...
 *
 * Shape (each stage section is the stage's own schema, composed, not copied):
 *
 *     name, seed, backend, run_dir, model,
 *     data:     { sft_train, sft_eval, prompts, heldout_prompts, preferences, heldout_preferences,
 *                 rankings, heldout_rankings }
 *     sft:      false | LMTrainConfig (src/sft/config.ts)
 *     sample:   false | SampleConfig (src/sample/stage.ts)
 *     rank:     false | { format, labeler, strict, kind, rating_field }
 *     train_rm: false | RewardTrainConfig (src/reward/config.ts) with `utilities: [...]` (one reward
 *               model per utility) instead of `utility`, and an optional base `model`
 *     ppo:      false | PPOConfig (src/ppo/config.ts) + reward_model + optional `runs` (a sweep)
 *     grpo, rloo: off unless present | GRPOConfig / RLOOConfig (src/group-rl/config.ts) + reward_model
 *               + optional `runs`;  dpo: off unless present | DPOConfig (src/dpo/config.ts) + `runs`
 *     probe:    false | ProbeConfig (src/probe/stage.ts);  report: false | {}
 *
 * A missing or `true` stage section runs the stage with its defaults; `false` turns it off. The
 * other policy-tuning algorithms (grpo, rloo, dpo) are opt-in: missing means off, `true` defaults.
 * The stages' own `seed` fields are not accepted: the top-level `seed` seeds every stage.
 *
 * Paths: run_dir is relative to the current directory; input paths (model, data files) are
 * looked up in the current directory first, then in the rlhf package (which ships data/ and
 * models/), so the shipped configs work from anywhere. The resolved config holds absolute paths.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML, { LineCounter } from 'yaml';
import { z } from 'zod';
import { BACKENDS } from '../backend';
import { FORMAT_NAMES } from '../data/ingest/types';
import { DEFAULT_LABELER, LABELER_METHODS } from '../data/labeler';
import { ROOT } from '../paths';
import { RewardTrainConfigSchema, UtilityEntry, UtilityEntrySchema, utilityEntryName, utilityIssueText } from '../reward/config';
import { SampleConfigSchema } from '../sample/config';
import { LMTrainConfigSchema } from '../sft/config';
import { PPOConfigSchema } from '../ppo/config';
import { GRPOConfigSchema, RLOOConfigSchema } from '../group-rl/config';
import { DPOConfigSchema } from '../dpo/config';
import { ProbeConfigSchema } from '../probe/config';

// ---------------------------------------------------------------------------------------------
// The stages
// ---------------------------------------------------------------------------------------------

export const STAGES = ['sft', 'sample', 'rank', 'train-rm', 'ppo', 'grpo', 'rloo', 'dpo', 'probe', 'report'] as const;
export type StageName = (typeof STAGES)[number];

/** The config key of each stage's section. */
export const STAGE_KEY = {
  sft: 'sft',
  sample: 'sample',
  rank: 'rank',
  'train-rm': 'train_rm',
  ppo: 'ppo',
  grpo: 'grpo',
  rloo: 'rloo',
  dpo: 'dpo',
  probe: 'probe',
  report: 'report',
} as const satisfies Record<StageName, string>;

/** The stages that tune the policy (each one's runs get a probe). */
export const POLICY_STAGES = ['ppo', 'grpo', 'rloo', 'dpo'] as const;
export type PolicyStage = (typeof POLICY_STAGES)[number];

export function isStageName(s: string): s is StageName {
  return (STAGES as readonly string[]).includes(s);
}

// ---------------------------------------------------------------------------------------------
// Stage schemas: each stage's own (src/<stage>/config.ts), composed here
// ---------------------------------------------------------------------------------------------

const PpoStageSchema = PPOConfigSchema;
const ProbeStageSchema = ProbeConfigSchema;

/** Directory-safe names for reward models and sweep runs. */
const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const unitName = () => z.string().regex(UNIT_NAME, { error: "expected a name of letters, digits, '.', '_' or '-' (it names a directory)" });

/**
 * The section of a stage: `false` (off), `true`/missing (defaults) or the stage's object.
 * (Validation errors inside the object are reported as such; see the union handling below.)
 */
function stageSection<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === undefined || v === null || v === true ? {} : v), z.union([z.literal(false), schema]));
}

/** An opt-in section: missing (or null) is off, `true` runs with the defaults. */
function optInSection<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === undefined || v === null ? false : v === true ? {} : v), z.union([z.literal(false), schema]));
}

/**
 * The same fields as `schema`, all optional and without defaults: the overrides of one sweep run
 * (zod's .partial() would fill the defaults in, and a run would then reset the shared settings).
 */
function overridesOf(schema: z.ZodObject) {
  const shape: Record<string, z.ZodType> = {};
  for (const [k, f] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const inner = f instanceof z.ZodDefault ? (f.def.innerType as z.ZodType) : f;
    shape[k] = inner.optional();
  }
  const catchall = schema.def.catchall as z.ZodType | undefined;
  return catchall ? z.object(shape).catchall(catchall) : z.object(shape).strict();
}

const file = (what: string) => z.string().min(1, { error: 'expected a file path' }).describe(what);

const DataSchema = z
  .object({
    sft_train: file('demonstrations for SFT (JSONL {id, prompt, response, ...})').optional(),
    sft_eval: file('held-out demonstrations for the SFT eval loss').optional(),
    prompts: file('prompts for sampling and PPO rollouts (JSONL {id, prompt, kind, task})').optional(),
    heldout_prompts: file('held-out prompts for the PPO probes').optional(),
    preferences: file('preference data the rank stage ingests when sampling is off (rankings, hh-rlhf, summarize or ratings JSONL)').optional(),
    heldout_preferences: file('held-out preference data, ingested by the rank stage for the reward-model diagnostics').optional(),
    rankings: file('canonical rankings for train-rm when the rank stage is off').optional(),
    heldout_rankings: file('held-out canonical rankings for the reward-model diagnostics when the rank stage is off').optional(),
  })
  .strict();

const SftSectionSchema = LMTrainConfigSchema.omit({ seed: true });

const RankSectionSchema = z
  .object({
    format: z.enum(['auto', ...FORMAT_NAMES]).default('auto').describe('format of data.preferences (samples when the sample stage is on)'),
    labeler: z
      .object({
        method: z.enum(LABELER_METHODS).default(DEFAULT_LABELER.method).describe('scripted labeler noise model (for samples)'),
        temperature: z.number().nonnegative().default(DEFAULT_LABELER.temperature).describe('labeler noise on the [0,1] quality scale (0 = rank by quality)'),
      })
      .strict()
      .default({ method: DEFAULT_LABELER.method, temperature: DEFAULT_LABELER.temperature }),
    strict: z.boolean().default(false).describe('stop at the first rejected record'),
    kind: z.enum(['open', 'closed']).optional().describe('set this kind on records that have none (the prompt-aware reward needs it)'),
    rating_field: z.string().optional().describe('ratings format: the field with the score'),
  })
  .strict();

const TrainRmSectionSchema = RewardTrainConfigSchema.omit({ utility: true, seed: true }).extend({
  utilities: z
    .array(UtilityEntrySchema)
    .min(1)
    .default([{ name: 'logsigmoid', utility: { name: 'logsigmoid' } }])
    .describe('one reward model per utility, in RUN/train-rm/<name>/: a name, {name, gamma, scale, epsilon}, prompt-aware, or {id, utility, rankings?, heldout_rankings?, any train_rm setting to override for this model}'),
  model: z.string().min(1).optional().describe('trunk of the reward models (default: the SFT policy)'),
});

const PpoSectionSchema = PpoStageSchema.extend({
  reward_model: z
    .string()
    .min(1)
    .optional()
    .describe('the reward model: a utility name from train_rm.utilities (default: the first), or a directory when train_rm is off'),
  runs: z
    .array(overridesOf(PpoStageSchema).extend({ name: unitName() }))
    .min(1)
    .optional()
    .describe('a sweep: named runs, each overriding some of the settings above, in RUN/ppo/<name>/'),
});

const rewardModelKey = () =>
  z
    .string()
    .min(1)
    .optional()
    .describe('the reward model: a utility name from train_rm.utilities (default: the first), or a directory when train_rm is off');
const GrpoSectionSchema = GRPOConfigSchema.extend({
  reward_model: rewardModelKey(),
  runs: z
    .array(overridesOf(GRPOConfigSchema).extend({ name: unitName() }))
    .min(1)
    .optional()
    .describe('a sweep: named runs, each overriding some of the settings above, in RUN/grpo/<name>/'),
});
const RlooSectionSchema = RLOOConfigSchema.extend({
  reward_model: rewardModelKey(),
  runs: z
    .array(overridesOf(RLOOConfigSchema).extend({ name: unitName() }))
    .min(1)
    .optional()
    .describe('a sweep: named runs, each overriding some of the settings above, in RUN/rloo/<name>/'),
});
const DpoSectionSchema = DPOConfigSchema.extend({
  reward_model: z
    .string()
    .min(1)
    .optional()
    .describe('a reward model for the held-out reward at the probes only (DPO trains without one): a utility name from train_rm.utilities (default: the first), or a directory'),
  runs: z
    .array(overridesOf(DPOConfigSchema).extend({ name: unitName() }))
    .min(1)
    .optional()
    .describe('a sweep: named runs, each overriding some of the settings above, in RUN/dpo/<name>/'),
});

const ProbeSectionSchema = ProbeStageSchema;
const ReportSectionSchema = z.object({}).strict();

export const RunConfigSchema = z
  .object({
    name: unitName().describe('the run name (default: the config file name)'),
    seed: z.number().int().nonnegative().default(0).describe('seeds every stage (data order, initialisation, sampling, labeler)'),
    backend: z.enum(['auto', ...BACKENDS]).default('auto').describe('tfjs backend (--backend and RLHF_BACKEND override it)'),
    run_dir: z.string().min(1).describe('the run directory (default: runs/<name>)'),
    model: z.string().min(1, { error: 'expected a model directory or a hub id' }).describe('the policy to start from: a GPT-2 directory or a Hugging Face hub id'),
    data: DataSchema.default({}),
    sft: stageSection(SftSectionSchema),
    sample: stageSection(SampleConfigSchema),
    rank: stageSection(RankSectionSchema),
    train_rm: stageSection(TrainRmSectionSchema),
    ppo: stageSection(PpoSectionSchema),
    grpo: optInSection(GrpoSectionSchema),
    rloo: optInSection(RlooSectionSchema),
    dpo: optInSection(DpoSectionSchema),
    probe: stageSection(ProbeSectionSchema),
    report: stageSection(ReportSectionSchema),
  })
  .strict();

export type RunConfig = z.output<typeof RunConfigSchema>;
export type SftSection = z.output<typeof SftSectionSchema>;
export type RankSection = z.output<typeof RankSectionSchema>;
export type TrainRmSection = z.output<typeof TrainRmSectionSchema>;
export type PpoSection = z.output<typeof PpoSectionSchema>;
export type PpoStageConfig = z.output<typeof PpoStageSchema>;
export type ProbeSection = z.output<typeof ProbeSectionSchema>;
export type GrpoSection = z.output<typeof GrpoSectionSchema>;
export type RlooSection = z.output<typeof RlooSectionSchema>;
export type DpoSection = z.output<typeof DpoSectionSchema>;
export type GrpoStageConfig = z.output<typeof GRPOConfigSchema>;
export type RlooStageConfig = z.output<typeof RLOOConfigSchema>;
export type DpoStageConfig = z.output<typeof DPOConfigSchema>;

export type { UtilityEntry };

/** The reward models of train_rm: directory name and typed utility (validated once, by the schema). */
export function utilityEntries(section: TrainRmSection): UtilityEntry[] {
  return section.utilities;
}

/** The runs of the PPO stage: one unnamed run ('' = RUN/ppo/), or the named runs of a sweep. */
export function ppoRuns(section: PpoSection): { name: string; cfg: PpoStageConfig }[] {
  const { runs, reward_model: _rm, ...shared } = section;
  void _rm;
  if (!runs) return [{ name: '', cfg: shared as PpoStageConfig }];
  return runs.map(({ name, ...over }) => {
    // (the overrides' schema is built at run time, so TypeScript sees `name` as unknown)
    const merged = { ...shared, ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)) };
    return { name: String(name), cfg: PpoStageSchema.parse(merged) as PpoStageConfig };
  });
}

/** The runs of a GRPO, RLOO or DPO section, as ppoRuns: one unnamed run, or the named runs of a sweep. */
export function sectionRuns<C>(section: { runs?: unknown[]; reward_model?: string }, schema: z.ZodType<C>): { name: string; cfg: C }[] {
  const { runs, reward_model: _rm, ...shared } = section as { runs?: Record<string, unknown>[]; reward_model?: string };
  void _rm;
  if (!runs) return [{ name: '', cfg: schema.parse(shared) }];
  return runs.map(({ name, ...over }) => ({ name: String(name), cfg: schema.parse({ ...shared, ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)) }) }));
}
export const grpoRuns = (s: GrpoSection) => sectionRuns(s, GRPOConfigSchema);
export const rlooRuns = (s: RlooSection) => sectionRuns(s, RLOOConfigSchema);
export const dpoRuns = (s: DpoSection) => sectionRuns(s, DPOConfigSchema);

// ---------------------------------------------------------------------------------------------
// Problems and their messages
// ---------------------------------------------------------------------------------------------

export type KeyPath = (string | number)[];

export interface ConfigProblem {
  path: KeyPath;
  /** The value found (undefined = missing). */
  value: unknown;
  /** What was expected, e.g. "a number > 0". */
  expected?: string;
  /** Or the whole text after the key path (unknown keys, cross-field rules). */
  text?: string;
  /** `text` names the key path itself (messages of parseUtilityConfig). */
  full?: boolean;
}

/** A config that cannot be used; `problems` are the formatted lines (also the message). */
export class ConfigError extends Error {
  readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(problems.length === 1 ? problems[0] : `${file}: ${problems.length} problems\n  ${problems.join('\n  ')}`);
  }
}

export function formatKeyPath(p: KeyPath): string {
  let s = '';
  for (const k of p) s += typeof k === 'number' ? `[${k}]` : s ? `.${k}` : k;
  return s || '(top level)';
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  if (s.length > 60) s = `${s.slice(0, 57)}...`;
  if (v !== null && typeof v === 'object') return Array.isArray(v) ? `a list ${s}` : `a mapping ${s}`;
  return s;
}

function getIn(obj: unknown, p: KeyPath): unknown {
  let cur = obj;
  for (const k of p) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  literal: 'a fixed value',
};

/** Lower/upper bound as words: "a number > 0", "at least 1 item". */
function bound(issue: { origin?: string; minimum?: unknown; maximum?: unknown; inclusive?: boolean }, lower: boolean): string {
  const n = lower ? issue.minimum : issue.maximum;
  const op = lower ? (issue.inclusive ? '≥' : '>') : issue.inclusive ? '≤' : '<';
  switch (issue.origin) {
    case 'array':
    case 'set':
      return `${lower ? 'at least' : 'at most'} ${n} item${Number(n) === 1 ? '' : 's'}`;
    case 'string':
      return `${lower ? 'at least' : 'at most'} ${n} character${Number(n) === 1 ? '' : 's'}`;
    case 'int':
      return `an integer ${op} ${n}`;
    default:
      return `a number ${op} ${n}`;
  }
}

/** Top-level expectation of one union branch that failed at its root, or undefined if it failed deeper. */
function rootExpectation(issues: z.core.$ZodIssue[]): string | undefined {
  const root = issues.find((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value'));
  if (!root) return undefined;
  if (root.code === 'invalid_type') return TYPE_WORDS[root.expected] ?? `a ${root.expected}`;
  if (root.code === 'invalid_value') return root.values.map((v) => JSON.stringify(v)).join(' or ');
  return undefined;
}

/** The keys a mapping at `p` may have, found by walking the schema (for "did you mean"). */
export function knownKeysAt(schema: z.ZodType, p: KeyPath): string[] {
  let s: z.ZodType | undefined = schema;
  const unwrap = (x: z.ZodType): z.ZodType => {
    for (let i = 0; i < 20; i++) {
      const d = x.def as unknown as { type: string; innerType?: z.ZodType; out?: z.ZodType; options?: z.ZodType[] };
      if (['default', 'optional', 'nullable', 'readonly', 'catch', 'prefault', 'nonoptional'].includes(d.type) && d.innerType) x = d.innerType;
      else if (d.type === 'pipe' && d.out) x = d.out;
      else if (d.type === 'union' && d.options) x = d.options.find((o) => ['object', 'pipe', 'default'].includes((o.def as { type: string }).type)) ?? d.options[0];
      else break;
    }
    return x;
  };
  for (const k of p) {
    if (!s) return [];
    s = unwrap(s);
    const d = s.def as unknown as { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType };
    if (d.type === 'object' && typeof k === 'string') s = d.shape?.[k];
    else if (d.type === 'array') s = d.element;
    else return [];
  }
  if (!s) return [];
  s = unwrap(s);
  const d = s.def as unknown as { type: string; shape?: Record<string, z.ZodType> };
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

function didYouMean(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/** Turn zod issues into problems (value, expectation), one per problem. */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[], raw: unknown, base: KeyPath = [], schema: z.ZodType = RunConfigSchema): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const p = [...base, ...(issue.path as KeyPath)];
    const value = getIn(raw, p);
    switch (issue.code) {
      case 'invalid_type':
        out.push({ path: p, value, expected: TYPE_WORDS[issue.expected] ?? `a ${issue.expected}` });
        break;
      case 'too_small':
        out.push({ path: p, value, expected: bound(issue, true) });
        break;
      case 'too_big':
        out.push({ path: p, value, expected: bound(issue, false) });
        break;
      case 'invalid_value':
        out.push({ path: p, value, expected: issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` });
        break;
      case 'not_multiple_of':
        out.push({ path: p, value, expected: `a multiple of ${issue.divisor}` });
        break;
      case 'unrecognized_keys': {
        const known = knownKeysAt(schema, p);
        for (const key of issue.keys) {
          const hint = didYouMean(key, known);
          out.push({
            path: [...p, key],
            value: getIn(raw, [...p, key]),
            text: `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}${known.length ? `, expected one of: ${known.join(', ')}` : ''}`,
          });
        }
        break;
      }
      case 'invalid_union': {
        // The branch that got past the type check is what the user meant; report its problems.
        const branches = issue.errors;
        const deep = branches.find((b) => b.length > 0 && rootExpectation(b) === undefined);
        if (deep) out.push(...issuesToProblems(deep, raw, p, schema));
        else {
          const alts = branches.map(rootExpectation).filter((x): x is string => !!x);
          out.push({ path: p, value, expected: alts.length ? [...new Set(alts)].join(' or ') : issue.message });
        }
        break;
      }
      default: {
        const m = issue.message;
        const utility = utilityIssueText(formatKeyPath(p), m);
        if (utility) out.push({ path: p, value, text: utility, full: true });
        else if (m.startsWith('expected ')) out.push({ path: p, value, expected: m.slice('expected '.length) });
        else out.push({ path: p, value, text: m });
      }
    }
  }
  return out;
}

/** Where each key path is in the YAML source, and which paths came from --set. */
export interface ConfigSource {
  file: string;
  doc?: YAML.Document;
  lines?: LineCounter;
  setPaths: KeyPath[];
}

function lineOf(src: ConfigSource, p: KeyPath): number | undefined {
  if (!src.doc || !src.lines) return undefined;
  for (let n = p.length; n >= 0; n--) {
    const node = src.doc.getIn(p.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return src.lines.linePos(node.range[0]).line;
  }
  return undefined;
}

function fromSet(src: ConfigSource, p: KeyPath): boolean {
  return src.setPaths.some((s) => s.length <= p.length && s.every((k, i) => String(k) === String(p[i])));
}

export function formatProblem(src: ConfigSource, pr: ConfigProblem): string {
  const where = fromSet(src, pr.path) ? `${src.file} (--set)` : (() => {
    const l = lineOf(src, pr.path);
    return l !== undefined ? `${src.file}:${l}` : src.file;
  })();
  if (pr.full && pr.text) return `${where}: ${pr.text}`;
  const what = pr.text ?? `${pr.value === undefined ? 'missing' : `got ${show(pr.value)}`}, expected ${pr.expected}`;
  return `${where}: ${formatKeyPath(pr.path)}: ${what}`;
}

// ---------------------------------------------------------------------------------------------
// --set overrides
// ---------------------------------------------------------------------------------------------

/** Parse "a.b.c=value" (value as a YAML scalar: numbers, true/false, null, strings). */
export function parseSet(expr: string): { path: KeyPath; value: unknown } {
  const eq = expr.indexOf('=');
  const key = eq > 0 ? expr.slice(0, eq).trim() : '';
  if (!key || key.split('.').some((s) => s === '')) throw new ConfigError('--set', [`--set ${JSON.stringify(expr)}: expected key.path=value, e.g. --set sft.lr=5e-4`]);
  let value: unknown;
  try {
    value = YAML.parse(expr.slice(eq + 1));
  } catch (err) {
    throw new ConfigError('--set', [`--set ${key}: the value is not valid YAML (${(err as Error).message.split('\n')[0]})`]);
  }
  return { path: key.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s)), value: value ?? null };
}

/** Apply one override to the raw config (before validation); creates missing mappings on the way. */
export function applySet(raw: Record<string, unknown>, set: { path: KeyPath; value: unknown }): void {
  let cur: Record<string | number, unknown> = raw;
  for (let i = 0; i < set.path.length - 1; i++) {
    const k = set.path[i];
    const next = cur[k];
    if (next === undefined || next === null || next === true) cur[k] = typeof set.path[i + 1] === 'number' ? [] : {};
    else if (typeof next !== 'object') {
      throw new ConfigError('--set', [`--set ${formatKeyPath(set.path)}: ${formatKeyPath(set.path.slice(0, i + 1))} is ${show(next)}, not a mapping (set the whole section first, e.g. --set ${formatKeyPath(set.path.slice(0, i + 1))}=true)`]);
    }
    cur = cur[k] as Record<string | number, unknown>;
  }
  cur[set.path[set.path.length - 1]] = set.value;
}

// ---------------------------------------------------------------------------------------------
// Paths and cross-field rules
// ---------------------------------------------------------------------------------------------

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** An input path: as given if absolute, else the current directory, else the rlhf package. */
export function resolveInput(p: string, cwd = process.cwd()): string {
  const e = expandHome(p);
  if (path.isAbsolute(e)) return e;
  const here = path.resolve(cwd, e);
  if (fs.existsSync(here)) return here;
  const pkg = path.resolve(ROOT, e);
  return fs.existsSync(pkg) ? pkg : here;
}

/**
 * A model reference: an existing local directory (absolute after this), or a hub id. A value that
 * looks like a path (./, ../, /, ~, or whose first segment is a local directory) must exist.
 */
export function resolveModel(ref: string, cwd = process.cwd()): { kind: 'dir' | 'hub'; value: string } | { kind: 'missing'; value: string } {
  const local = resolveInput(ref, cwd);
  if (fs.existsSync(local)) return { kind: 'dir', value: local };
  const pathLike = /^(\.{1,2}\/|\/|~)/.test(ref) || (ref.includes('/') && [cwd, ROOT].some((d) => fs.existsSync(path.join(d, ref.split('/')[0]))));
  if (!pathLike && /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(ref)) return { kind: 'hub', value: ref };
  return { kind: 'missing', value: local };
}

export const HUB_PREFIX = 'hub:';

/** Check what the schema cannot (files exist, stages fit together) and resolve paths in place. */
function checkAndResolve(cfg: RunConfig, cwd: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const need = (key: keyof RunConfig['data'], why: string) => {
    const v = cfg.data[key];
    if (v === undefined) problems.push({ path: ['data', key], value: undefined, expected: `a file path (${why})` });
    return v !== undefined;
  };
  const inputFile = (p: KeyPath, v: string | undefined, set: (x: string) => void) => {
    if (v === undefined) return;
    const r = resolveInput(v, cwd);
    if (!fs.existsSync(r)) problems.push({ path: p, value: v, expected: `an existing file (looked for ${r}${path.isAbsolute(expandHome(v)) ? '' : ` and ${path.resolve(ROOT, v)}`})` });
    else if (!fs.statSync(r).isFile()) problems.push({ path: p, value: v, expected: 'a file, not a directory' });
    else set(r);
  };
  const modelRef = (p: KeyPath, v: string, set: (x: string) => void) => {
    const m = resolveModel(v, cwd);
    if (m.kind === 'missing') problems.push({ path: p, value: v, expected: `an existing model directory or a Hugging Face hub id (${m.value} does not exist)` });
    else if (m.kind === 'dir' && !fs.existsSync(path.join(m.value, 'config.json'))) problems.push({ path: p, value: v, expected: `a GPT-2 model directory with config.json (none in ${m.value})` });
    else set(m.kind === 'hub' ? `${HUB_PREFIX}${m.value}` : m.value);
  };

  modelRef(['model'], cfg.model, (x) => (cfg.model = x));
  cfg.run_dir = path.resolve(cwd, expandHome(cfg.run_dir));

  // Which data each enabled stage needs.
  if (cfg.sft !== false) {
    need('sft_train', 'sft is on');
    need('sft_eval', 'sft is on');
  }
  const sampler = cfg.sample !== false ? 'sample' : cfg.ppo !== false ? 'ppo' : cfg.grpo !== false ? 'grpo' : cfg.rloo !== false ? 'rloo' : undefined;
  if (sampler) need('prompts', `${sampler} is on`);
  if (cfg.dpo !== false && cfg.rank === false) need('rankings', 'dpo is on and rank is off: DPO learns from these rankings');
  if (cfg.rank !== false) {
    if (cfg.sample === false) need('preferences', 'rank is on and sample is off: rank ingests this file');
    else {
      if (cfg.data.preferences !== undefined) problems.push({ path: ['data', 'preferences'], value: cfg.data.preferences, text: 'not used while sample is on (rank labels the samples); remove it or set sample: false' });
      if (cfg.rank.format !== 'auto' && cfg.rank.format !== 'samples') problems.push({ path: ['rank', 'format'], value: cfg.rank.format, expected: '"auto" or "samples" (rank labels the samples of the sample stage)' });
    }
  }
  // A reward model with its own rankings needs neither the rank stage nor data.rankings.
  if (cfg.train_rm !== false && cfg.rank === false && utilityEntries(cfg.train_rm).some((u) => u.rankings === undefined)) need('rankings', 'train_rm is on and rank is off');
  if (cfg.train_rm !== false) {
    const seen = new Map<string, number>();
    utilityEntries(cfg.train_rm).forEach((u, i) => {
      const at: KeyPath = ['train_rm', 'utilities', i];
      if (!UNIT_NAME.test(u.name)) problems.push({ path: at, value: u.name, text: `gives the directory name ${JSON.stringify(u.name)}; name it with {id: NAME, utility: ...}` });
      if (seen.has(u.name)) problems.push({ path: at, value: u.name, text: `a second reward model named ${JSON.stringify(u.name)} (entry ${seen.get(u.name)} has it); give one an id: {id: NAME, utility: ...}` });
      seen.set(u.name, i);
      inputFile([...at, 'rankings'], u.rankings, (x) => (u.rankings = x));
      inputFile([...at, 'heldout_rankings'], u.heldout_rankings, (x) => (u.heldout_rankings = x));
    });
    if (cfg.train_rm.model !== undefined) {
      const rm = cfg.train_rm;
      modelRef(['train_rm', 'model'], rm.model!, (x) => (rm.model = x));
    }
  }
  if (cfg.ppo !== false) {
    const ppo = cfg.ppo;
    if (cfg.train_rm !== false) {
      const names = [...new Set(utilityEntries(cfg.train_rm).map((u) => u.name))];
      if (ppo.reward_model === undefined) ppo.reward_model = names[0];
      else if (!names.includes(ppo.reward_model)) problems.push({ path: ['ppo', 'reward_model'], value: ppo.reward_model, expected: `one of the reward models trained here: ${names.join(', ')}` });
    } else if (ppo.reward_model === undefined) {
      problems.push({ path: ['ppo', 'reward_model'], value: undefined, expected: 'a reward-model directory (train_rm is off)' });
    } else modelRef(['ppo', 'reward_model'], ppo.reward_model, (x) => (ppo.reward_model = x));
    if (ppo.runs) {
      const seen = new Set<string>();
      ppo.runs.forEach((r, i) => {
        const name = String(r.name);
        if (seen.has(name)) problems.push({ path: ['ppo', 'runs', i, 'name'], value: name, text: `a second run named ${JSON.stringify(name)}; run names must differ` });
        seen.add(name);
      });
    }
  }
  // grpo and rloo name their reward model as ppo does; dpo uses one only for the held-out reward
  // at its probes (the first trained here by default; none when train_rm is off and it names none).
  for (const key of ['grpo', 'rloo', 'dpo'] as const) {
    const sec = cfg[key];
    if (sec === false) continue;
    if (cfg.train_rm !== false) {
      const names = [...new Set(utilityEntries(cfg.train_rm).map((u) => u.name))];
      if (sec.reward_model === undefined) sec.reward_model = names[0];
      else if (!names.includes(sec.reward_model)) problems.push({ path: [key, 'reward_model'], value: sec.reward_model, expected: `one of the reward models trained here: ${names.join(', ')}` });
    } else if (sec.reward_model === undefined) {
      if (key !== 'dpo') problems.push({ path: [key, 'reward_model'], value: undefined, expected: 'a reward-model directory (train_rm is off)' });
    } else modelRef([key, 'reward_model'], sec.reward_model, (x) => (sec.reward_model = x));
    if (sec.runs) {
      const seen = new Set<string>();
      sec.runs.forEach((r, i) => {
        const name = String(r.name);
        if (seen.has(name)) problems.push({ path: [key, 'runs', i, 'name'], value: name, text: `a second run named ${JSON.stringify(name)}; run names must differ` });
        seen.add(name);
      });
    }
  }
  if (cfg.probe !== false && POLICY_STAGES.every((s) => cfg[s] === false))
    problems.push({ path: ['probe'], value: cfg.probe, text: 'probe compares a tuned policy with its reference, and no policy-tuning stage (ppo, grpo, rloo, dpo) is on; set probe: false' });

  for (const key of Object.keys(cfg.data) as (keyof RunConfig['data'])[]) inputFile(['data', key], cfg.data[key], (x) => (cfg.data[key] = x));
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

export interface LoadedConfig {
  config: RunConfig;
  /** The config file as given. */
  file: string;
  /** The --set expressions applied. */
  sets: string[];
}

/**
 * Validate a raw config object (already parsed from YAML, --set applied). `file` names the source
 * in messages. Throws ConfigError listing every problem; returns the resolved config.
 */
export function validateRunConfig(raw: unknown, src: ConfigSource, cwd = process.cwd()): RunConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(src.file, [`${src.file}: expected a mapping of settings (name, model, data, sft, ...), got ${show(raw)}`]);
  }
  const withDefaults = { ...(raw as Record<string, unknown>) };
  const base = path.basename(src.file).replace(/\.(ya?ml|json)$/i, '');
  if (withDefaults.name === undefined && UNIT_NAME.test(base)) withDefaults.name = base;
  if (withDefaults.run_dir === undefined && typeof withDefaults.name === 'string') withDefaults.run_dir = path.join('runs', withDefaults.name);
  const parsed = RunConfigSchema.safeParse(withDefaults);
  if (!parsed.success) {
    const problems = issuesToProblems(parsed.error.issues, withDefaults);
    // When only utilities are wrong, the cross-field rules still run (every problem in one go):
    // each bad entry stands in as a valid utility of the same directory name.
    const utilityAt = (p: ConfigProblem) => p.path[0] === 'train_rm' && p.path[1] === 'utilities' && typeof p.path[2] === 'number';
    const rm = withDefaults.train_rm as { utilities?: unknown[] } | undefined;
    if (rm?.utilities && problems.every(utilityAt)) {
      const utilities = rm.utilities.map((u, i) => (problems.some((x) => x.path[2] === i) ? { id: utilityEntryName(u), utility: 'logsigmoid' } : u));
      const again = RunConfigSchema.safeParse({ ...withDefaults, train_rm: { ...rm, utilities } });
      if (again.success) problems.push(...checkAndResolve(again.data, cwd));
    }
    throw new ConfigError(src.file, problems.map((p) => formatProblem(src, p)));
  }
  const cfg = parsed.data;
  const problems = checkAndResolve(cfg, cwd);
  if (problems.length) throw new ConfigError(src.file, problems.map((p) => formatProblem(src, p)));
  return cfg;
}

/** Read, override and validate a config file. Nothing is written. */
export function loadRunConfig(file: string, opts: { set?: string[]; cwd?: string } = {}): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`${file}: cannot read the config (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  const lines = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `${file}:${lines.linePos(e.pos[0]).line}: not valid YAML: ${e.message.split('\n')[0]}`),
    );
  }
  const raw = (doc.toJS() ?? {}) as Record<string, unknown>;
  const sets = opts.set ?? [];
  const src: ConfigSource = { file, doc, lines, setPaths: [] };
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const s of sets) {
      const o = parseSet(s);
      applySet(raw, o);
      src.setPaths.push(o.path);
    }
  }
  return { config: validateRunConfig(raw, src, opts.cwd), file, sets };
}

/** The resolved config as YAML (what RUN/config.resolved.yaml holds). */
export function resolvedConfigYaml(loaded: LoadedConfig): string {
  const head = [
    `# Resolved config of ${path.resolve(loaded.file)}`,
    ...loaded.sets.map((s) => `#   --set ${s}`),
    '# Defaults filled in, paths absolute. Written by `rlhf run`; edit the source config, not this file.',
  ];
  const cfg = loaded.config;
  // train_rm.utilities in the form the schema reads ({id, utility, …}), so the file runs as it is.
  const written = cfg.train_rm === false ? cfg : { ...cfg, train_rm: { ...cfg.train_rm, utilities: cfg.train_rm.utilities.map(utilityEntryInput) } };
  return `${head.join('\n')}\n${YAML.stringify(written, { lineWidth: 0 })}`;
}

/** A parsed train_rm.utilities entry back in its input form: {id, utility, rankings?, heldout_rankings?, overrides…}. */
function utilityEntryInput(u: UtilityEntry): Record<string, unknown> {
  return { id: u.name, utility: u.utility, ...(u.rankings && { rankings: u.rankings }), ...(u.heldout_rankings && { heldout_rankings: u.heldout_rankings }), ...u.overrides };
}
