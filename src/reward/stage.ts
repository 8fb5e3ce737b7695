/**
 * The reward-model stage as one call, shared by `rlhf train-rm` and the `train-rm` stage of
 * `rlhf run`: load the trunk, read the rankings (strictly: the first bad line is an error naming
 * file, line and field), train with the chosen utility, and summarise what the reward-collapse
 * experiment looks at.
 *
 *   OUT/model             the reward model (a GPT-2 directory + `score.weight`; PPO reads it)
 *   OUT/metrics.jsonl     one line per step (loss, lr, grad_norm; diagnostics every eval_every epochs)
 *   OUT/diagnostics.json  per-prompt rewards, mean reward by rank per kind, theory, curves
 *   OUT/checkpoint        for --resume
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { disposeBundle, loadModel } from '../model/checkpoint';
import { readJsonlStrict } from '../data/jsonl';
import { checkRanking, RankingRecord, RecordError } from '../data/records';
import { RewardTrainConfig } from './config';
import { UtilityConfig, utilityForPrompt } from './utilities';
import { CollapseDiagnostics } from './diagnostics';
import { RewardTrainResult, trainRewardModel } from './trainer';

export interface RewardStageOptions {
  /** GPT-2 directory the reward model starts from (its trunk; a `score.weight` head is reused if present). */
  model: string;
  /** Canonical rankings (JSONL). */
  rankings: string;
  /** Held-out rankings (JSONL), scored for accuracy and the held-out curves. */
  heldout?: string;
  /** When true, a held-out file that does not exist is skipped instead of being an error (the pipeline). */
  heldoutOptional?: boolean;
  outDir: string;
  /** Training settings, parsed (RewardTrainConfigSchema; commands use parseStageConfig). */
  cfg: RewardTrainConfig;
  resume?: boolean;
  /** Name in logs, metrics and error messages (default `train-rm`). */
  stage?: string;
}

/** Mean reward at each rank index and its distance to the theory, for one kind of prompt. */
export interface KindSummary {
  prompts: number;
  mean_by_rank: number[];
  /** max_i |mean_i − theory_i| */
  theory_distance: number | null;
}

export interface SplitSummary {
  open: KindSummary | null;
  closed: KindSummary | null;
  /** W₁ between open and closed pooled rewards (→ 0 under collapse); null without both kinds. */
  collapse_score: number | null;
  accuracy: number | null;
}

/** What the command prints with --json and what the pipeline records for each reward model. */
export interface RewardStageSummary {
  utility: string;
  model: string;
  diagnostics: string;
  steps: number;
  epochs: number;
  seconds: number;
  /** The number of completions the theory vectors are for (the most common k). */
  n: number;
  theory: { open: number[] | null; closed: number[] | null };
  train: SplitSummary;
  heldout: SplitSummary | null;
  /** Collapse score at every evaluation (epoch, score): the collapse-over-training chart. */
  collapse_trajectory: { epoch: number; collapse_score: number | null }[];
}

function kindSummary(d: CollapseDiagnostics, kind: 'open' | 'closed'): KindSummary | null {
  const c = d[kind];
  return c ? { prompts: c.prompts, mean_by_rank: c.mean, theory_distance: d.theory_distance[kind] } : null;
}

function splitSummary(d: CollapseDiagnostics, accuracy: number | null): SplitSummary {
  return { open: kindSummary(d, 'open'), closed: kindSummary(d, 'closed'), collapse_score: d.collapse_score, accuracy };
}

export function summariseRewardRun(r: RewardTrainResult, outDir: string): RewardStageSummary {
  return {
    utility: r.utility,
    model: path.join(outDir, 'model'),
    diagnostics: path.join(outDir, 'diagnostics.json'),
    steps: r.steps,
    epochs: r.epochs,
    seconds: r.seconds,
    n: r.n,
    theory: r.theory,
    train: splitSummary(r.final.train, r.accuracy.train),
    heldout: r.final.heldout ? splitSummary(r.final.heldout, r.accuracy.heldout) : null,
    collapse_trajectory: r.curves.map((c) => ({ epoch: c.epoch, collapse_score: c.collapse_score })),
  };
}

/** A rankings file read strictly (the first bad line is an error naming file, line and field), with each record's line. */
async function readRankingsWithLines(file: string): Promise<{ records: RankingRecord[]; lines: number[] }> {
  const lines: number[] = [];
  const records = await readJsonlStrict(file, (value, where) => {
    const c = checkRanking(value, where);
    if (!c.ok) throw new RecordError(c.problems[0]);
    lines.push(where.line);
    return c.value;
  });
  return { records, lines };
}

/** A path as a shell word (quoted when it has anything but plain characters). */
const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * Does the utility cover every ranking? A prompt-aware utility picks each prompt's U by its task
 * rule, then its kind (open | closed), then its default; a ranking with none of these has no U.
 * Rankings ingested from outside data (hh-rlhf, summarize, ratings) carry no kind unless `rlhf rank
 * --kind` set one, so say that, at the first such record's file:line, before any model is loaded.
 */
export function checkUtilityCoverage(utility: UtilityConfig, file: string, records: RankingRecord[], lines: number[]): void {
  const uncovered: number[] = [];
  records.forEach((r, i) => {
    try {
      utilityForPrompt(utility, { id: r.prompt_id ?? r.id, kind: r.kind, task: r.task });
    } catch {
      uncovered.push(i);
    }
  });
  if (!uncovered.length) return;
  const r = records[uncovered[0]];
  const has = r.kind === undefined ? 'no kind' : `kind ${JSON.stringify(r.kind)}`;
  const task = r.task === undefined ? '' : ` and task ${JSON.stringify(r.task)}`;
  const count = uncovered.length === records.length ? `none of the ${records.length} rankings has one` : `${uncovered.length} of the ${records.length} rankings have none`;
  const source = typeof r.source?.file === 'string' ? r.source.file : undefined;
  const rerank = source ? `rlhf rank --input ${shellWord(source)} --kind open --out ${shellWord(file)} (or --kind closed)` : `rlhf rank --input SOURCE --kind open|closed --out ${shellWord(file)}`;
  throw new Error(
    `${file}:${lines[uncovered[0]]}: field "kind": the prompt-aware utility needs each prompt's kind (open or closed) or a rule for its task, ` +
      `and this ranking has ${has}${task} (${count}). Set the kind when you make the rankings: ${rerank}; ` +
      `or give the utility a rule for the task (tasks: {${r.task ?? 'TASK'}: UTILITY}) or a default.`,
  );
}

/** Load, read, train, summarise. The model bundle is always freed, also on error or Ctrl-C. */
export async function runRewardStage(o: RewardStageOptions): Promise<{ result: RewardTrainResult; summary: RewardStageSummary }> {
  const stage = o.stage ?? 'train-rm';
  const utility = o.cfg.utility;
  if (!fs.existsSync(o.rankings)) throw new Error(`${o.rankings}: rankings file not found`);
  const { records: train, lines } = await readRankingsWithLines(o.rankings);
  if (!train.length) throw new Error(`${o.rankings}: no rankings in the file`);
  checkUtilityCoverage(utility, o.rankings, train, lines);
  let heldout;
  if (o.heldout && (fs.existsSync(o.heldout) || !o.heldoutOptional)) {
    if (!fs.existsSync(o.heldout)) throw new Error(`${o.heldout}: held-out rankings file not found`);
    heldout = (await readRankingsWithLines(o.heldout)).records; // scored only: no utility needed
  }
  const model = await loadModel(o.model);
  try {
    const result = await trainRewardModel({ model, train, heldout, cfg: o.cfg, outDir: o.outDir, resume: o.resume, stage });
    return { result, summary: summariseRewardRun(result, o.outDir) };
  } finally {
    disposeBundle(model);
  }
}
