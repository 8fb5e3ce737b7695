/**
 * `rlhf train-rm`: reward-model training with a selectable utility (Song, Cai, Lee & Su 2023).
 *
 * For every prompt x with completions ranked y₁ ≻ … ≻ yₖ, maximise Σ_{i<j} U(R(x,yᵢ) − R(x,yⱼ))
 * over all C(k,2) pairs (ties make no pair), all pairs of a prompt in the same step:
 *     loss = −(1/P) Σₚ U(dₚ),   d = D·R   (D the ±1 pair matrix)
 * With a prompt-aware utility each pair uses the U of its prompt (by kind or task rule).
 * Diagnostics every `eval_every` epochs trace the reward-vs-rank curves toward the collapse.
 */
import * as path from 'node:path';
import { tf, Scalar, Tensor, Tensor1D, Tensor2D, Variable } from '../backend/tf';
import { ModelBundle } from '../model/checkpoint';
import { Params } from '../model/gpt2';
import { Adam, scheduledLr, valueAndGrads } from '../model/optim';
import { RankingRecord } from '../data/records';
import { assertFinite } from '../train/state';
import { epochBatches, NO_RNG, openTrainingLoop } from '../train/loop';
import { info } from '../util/progress';
import { writeJsonAtomic } from '../util/fs';
import { RewardTrainConfig } from './config';
import { FrozenLowerCache, initRewardHead, REWARD_HEAD, rewardForward, saveRewardModel, Squash } from '../model/reward-model';
import { makeRewardBatch } from '../model/batch';
import { pairMatrix, pairsOf } from './pairs';
import { mixedUtilityTensor, utilityForPrompt, UtilityConfig, UtilitySpec, utilityKey, utilityTensor } from './utilities';
import { collapseDiagnostics, CollapseDiagnostics, pairwiseAccuracy, PromptRewards } from './diagnostics';
import { solveTheory } from './theory';

export interface EncodedPrompt {
  record: RankingRecord;
  /** prompt + completion + EOS, one per completion, in ranked order. */
  seqs: number[][];
}

export function encodeRankings(records: RankingRecord[], model: Pick<ModelBundle, 'tokenizer'>): EncodedPrompt[] {
  const tok = model.tokenizer;
  return records.map((r) => {
    const p = tok.encode(r.prompt);
    return { record: r, seqs: r.completions.map((c) => [...p, ...tok.encode(c), tok.eosId]) };
  });
}

/** The utility of each prompt (one spec for plain utilities; per kind/task for prompt-aware). */
export function specsFor(utility: UtilityConfig, prompts: EncodedPrompt[]): UtilitySpec[] {
  return prompts.map((p) => {
    try {
      return utilityForPrompt(utility, { id: p.record.prompt_id ?? p.record.id, kind: p.record.kind, task: p.record.task });
    } catch (e) {
      // runRewardStage names the rankings file and line first (checkUtilityCoverage); this is for direct callers.
      const src = p.record.source;
      const from = src && typeof src.file === 'string' ? ` (ingested from ${src.file}${typeof src.line === 'number' ? `:${src.line}` : ''})` : '';
      throw new Error(`${(e as Error).message}${from}; rankings ingested with \`rlhf rank\` get a kind from --kind open|closed`);
    }
  });
}

/**
 * Rewards of every completion of every prompt, without gradients. With `lower`, the prompts' rows
 * are rows rowOffset, rowOffset + 1, … of the frozen-lower-blocks cache and only the top runs.
 */
export function scorePrompts(
  params: Params,
  head: Tensor2D,
  model: ModelBundle,
  prompts: EncodedPrompt[],
  squash: Squash,
  maxLen: number,
  batchRows = 128,
  lower?: { cache: FrozenLowerCache; rowOffset: number },
): PromptRewards[] {
  const rows = prompts.flatMap((p) => p.seqs);
  const rewards: number[] = [];
  for (let i = 0; i < rows.length; i += batchRows) {
    const b = makeRewardBatch(rows.slice(i, i + batchRows), model.tokenizer.padId, maxLen);
    const r = tf.tidy(() => {
      const top = lower ? lower.cache.input(range(lower.rowOffset + i, b.N), b.T) : undefined;
      return rewardForward(params, head, model.config, b, squash, top);
    });
    rewards.push(...(r.dataSync() as Float32Array));
    r.dispose();
  }
  let o = 0;
  return prompts.map((p) => {
    const k = p.seqs.length;
    const out = { prompt_id: p.record.prompt_id ?? p.record.id, kind: p.record.kind, rewards: rewards.slice(o, o + k), ranks: p.record.ranks };
    o += k;
    return out;
  });
}

const range = (start: number, n: number) => Array.from({ length: n }, (_, i) => start + i);

export interface CurvePoint {
  step: number;
  epoch: number;
  open: number[] | null;
  closed: number[] | null;
  collapse_score: number | null;
  theory_distance: { open: number | null; closed: number | null };
  accuracy: { train: number; heldout: number | null };
  loss: number;
}

export interface RewardTrainResult {
  utility: string;
  steps: number;
  epochs: number;
  seconds: number;
  final: { train: CollapseDiagnostics; heldout: CollapseDiagnostics | null };
  accuracy: { train: number; heldout: number | null };
  curves: CurvePoint[];
  theory: { open: number[] | null; closed: number[] | null };
  n: number;
}

/** The theory's reward vector for each kind's utility, for the most common number of completions. */
export function theoryVectors(utility: UtilityConfig, prompts: EncodedPrompt[]): { n: number; open: number[] | null; closed: number[] | null } {
  const counts = new Map<number, number>();
  for (const p of prompts) counts.set(p.seqs.length, (counts.get(p.seqs.length) ?? 0) + 1);
  const n = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
  const vec = (kind: 'open' | 'closed') => {
    if (!prompts.some((p) => p.record.kind === kind) || n < 2) return null;
    try {
      return solveTheory(utilityForPrompt(utility, { kind }), n).rewards;
    } catch {
      return null;
    }
  };
  return { n, open: vec('open'), closed: vec('closed') };
}

export async function trainRewardModel(opts: {
  model: ModelBundle;
  train: RankingRecord[];
  heldout?: RankingRecord[];
  cfg: RewardTrainConfig;
  outDir: string;
  resume?: boolean;
  stage?: string;
}): Promise<RewardTrainResult> {
  const { model, cfg, outDir } = opts;
  const stage = opts.stage ?? 'train-rm';
  const utility = cfg.utility;
  const squash = cfg.squash as Squash;
  const train = encodeRankings(opts.train, model);
  const heldout = opts.heldout?.length ? encodeRankings(opts.heldout, model) : [];
  const trainSpecs = specsFor(utility, train);
  const theory = theoryVectors(utility, train);

  // Trainable: the head and all blocks, or only the last N blocks + ln_f.
  const L = model.config.n_layer;
  const trainable = (name: string) => {
    if (cfg.train_layers === 'all') return true;
    const m = /^transformer\.h\.(\d+)\./.exec(name);
    if (m) return Number(m[1]) >= L - cfg.train_layers;
    return name.startsWith('transformer.ln_f.');
  };
  const vars: Record<string, Variable> = {};
  const params: Params = {};
  for (const [k, t] of Object.entries(model.params)) {
    if (trainable(k)) params[k] = vars[k] = tf.variable(t, true);
    else params[k] = t;
  }
  const existing = model.heads[REWARD_HEAD];
  vars[REWARD_HEAD] = tf.tidy(() => tf.variable(existing ?? tf.tensor2d(initRewardHead(model.config, cfg.seed), [1, model.config.n_embd]), true));
  const head = vars[REWARD_HEAD] as unknown as Tensor2D;

  // Frozen lower blocks: their output per sequence never changes, so compute it once (forward
  // only) and run just the trainable top at every step and evaluation.
  if (cfg.max_length > model.config.n_positions) {
    throw new Error(`${stage}.max_length: ${cfg.max_length} exceeds the model's n_positions = ${model.config.n_positions}`);
  }
  const topStart = cfg.train_layers === 'all' ? 0 : Math.max(0, L - cfg.train_layers);
  const rowStart: number[] = []; // first cache row of each train prompt; held-out rows follow
  let nRows = 0;
  for (const p of train) {
    rowStart.push(nRows);
    nRows += p.seqs.length;
  }
  const heldoutRowStart = nRows;
  let cache: FrozenLowerCache | undefined;
  if (topStart > 0 && cfg.cache_frozen) {
    const tc = Date.now();
    cache = new FrozenLowerCache(model.params, model.config, [...train, ...heldout].flatMap((p) => p.seqs), model.tokenizer.padId, cfg.max_length, topStart);
    info(`${stage}: cached the output of frozen blocks 0-${topStart - 1} for ${cache.hidden.shape[0]} sequences (${((Date.now() - tc) / 1000).toFixed(1)} s)`);
  }
  const trainLower = cache ? { cache, rowOffset: 0 } : undefined;
  const heldoutLower = cache ? { cache, rowOffset: heldoutRowStart } : undefined;
  const score = (which: 'train' | 'heldout') =>
    which === 'train'
      ? scorePrompts(params, head, model, train, squash, cfg.max_length, 128, trainLower)
      : scorePrompts(params, head, model, heldout, squash, cfg.max_length, 128, heldoutLower);

  const stepsPerEpoch = Math.ceil(train.length / cfg.batch_prompts);
  const total = Math.ceil(cfg.epochs * stepsPerEpoch);
  const evalEverySteps = Math.max(1, Math.round(cfg.eval_every * stepsPerEpoch));
  const opt = new Adam({ lr: cfg.lr, weightDecay: cfg.weight_decay, maxGradNorm: cfg.max_grad_norm });
  const loop = openTrainingLoop({ stage, outDir, vars, opt, total, checkpointEvery: cfg.checkpoint_every, resume: opts.resume, label: `${stage} ${utilityLabel(utility)}` });
  // Resumable state besides the tensors: the curves so far and the early-stopping counters.
  const saved = loop.resumed?.extra as { curves?: CurvePoint[]; best?: number; sinceBest?: number } | undefined;
  const curves: CurvePoint[] = saved?.curves ?? [];
  let best = saved?.best ?? Infinity;
  let sinceBest = saved?.sinceBest ?? 0;
  const batchAt = epochBatches(`${cfg.seed}:rm`, train.length, cfg.batch_prompts);
  const evaluate = (step: number, loss: number): CurvePoint => {
    const tr = score('train');
    const dTrain = collapseDiagnostics(tr, { open: theory.open ?? undefined, closed: theory.closed ?? undefined });
    const ho = heldout.length && cfg.eval_heldout ? score('heldout') : null;
    return {
      step,
      epoch: step / stepsPerEpoch,
      open: dTrain.open?.mean ?? null,
      closed: dTrain.closed?.mean ?? null,
      collapse_score: dTrain.collapse_score,
      theory_distance: dTrain.theory_distance,
      accuracy: { train: pairwiseAccuracy(tr), heldout: ho ? pairwiseAccuracy(ho) : null },
      loss,
    };
  };
  const t0 = Date.now();
  let loss = NaN;
  let epochLoss = 0;
  let epochSteps = 0;
  if (loop.step === 0) curves.push(evaluate(0, NaN));
  try {
    await loop.run(
      (step) => {
        const idx = batchAt(step);
        const prompts = idx.map((i) => train[i]);
        const rows = prompts.flatMap((p) => p.seqs);
        const batch = makeRewardBatch(rows, model.tokenizer.padId, cfg.max_length);
        const pairs = pairsOf(prompts.map((p) => p.record));
        const P = pairs.better.length;
        if (P === 0) return {}; // no ranked pair among these prompts: nothing to learn, nothing logged
        const D = pairMatrix(pairs, rows.length);
        const specs = pairs.prompt.map((p) => trainSpecs[idx[p]]);
        const single = specs.every((s) => utilityKey(s) === utilityKey(specs[0]));
        const lr = scheduledLr(cfg.lr, step, total, { schedule: cfg.schedule, warmupSteps: cfg.warmup_steps });
        const top = cache?.input(idx.flatMap((i) => range(rowStart[i], train[i].seqs.length)), batch.T);
        const { value, grads } = valueAndGrads(vars, () => {
          const R = rewardForward(params, head, model.config, batch, squash, top); // [N]
          const d = tf.matMul(tf.tensor2d(D, [P, rows.length]), R.reshape([rows.length, 1])).reshape([P]) as Tensor1D; // [P]
          const U: Tensor = single ? utilityTensor(specs[0], d) : mixedUtilityTensor(d, specs);
          return tf.neg(tf.mean(U)) as Scalar;
        });
        loss = value.dataSync()[0];
        assertFinite(stage, step + 1, { loss });
        const gradNorm = opt.apply(vars, grads, lr);
        tf.dispose([value, ...Object.values(grads)]);
        top?.hidden.dispose();
        const done = step + 1;
        epochLoss += loss;
        epochSteps += 1;
        const record: Record<string, number | null> = { loss, lr, grad_norm: gradNorm, epoch: done / stepsPerEpoch, pairs: P };
        let stopEarly = false;
        if (done % evalEverySteps === 0 || done === total) {
          const meanLoss = epochLoss / Math.max(1, epochSteps);
          epochLoss = 0;
          epochSteps = 0;
          const c = evaluate(done, meanLoss);
          curves.push(c);
          Object.assign(record, {
            collapse_score: c.collapse_score,
            'accuracy/train': c.accuracy.train,
            'accuracy/heldout': c.accuracy.heldout,
            'theory_distance/open': c.theory_distance.open,
            'theory_distance/closed': c.theory_distance.closed,
          });
          if (cfg.early_stopping) {
            if (meanLoss < best - cfg.early_stopping.min_delta) {
              best = meanLoss;
              sinceBest = 0;
            } else if (++sinceBest >= cfg.early_stopping.patience) {
              info(`${stage}: early stop at step ${done} (no improvement for ${sinceBest} evaluations)`);
              stopEarly = true;
            }
          }
        }
        return { record, progress: { loss, ...(curves.length ? { acc: curves[curves.length - 1].accuracy.train } : {}) }, done: stopEarly };
      },
      () => ({ position: { epoch: loop.step / stepsPerEpoch }, rng: NO_RNG, extra: { curves, best, sinceBest } }),
    );
  } finally {
    loop.close();
  }
  const step = loop.step;
  const seconds = (Date.now() - t0) / 1000;
  const trainRows = score('train');
  const hoRows = heldout.length ? score('heldout') : null;
  cache?.dispose();
  const theoryArg = { open: theory.open ?? undefined, closed: theory.closed ?? undefined };
  const result: RewardTrainResult = {
    utility: utilityLabel(utility),
    steps: step,
    epochs: step / stepsPerEpoch,
    seconds,
    final: { train: collapseDiagnostics(trainRows, theoryArg), heldout: hoRows ? collapseDiagnostics(hoRows, theoryArg) : null },
    accuracy: { train: pairwiseAccuracy(trainRows), heldout: hoRows ? pairwiseAccuracy(hoRows) : null },
    curves,
    theory: { open: theory.open, closed: theory.closed },
    n: theory.n,
  };
  writeDiagnostics(outDir, result, trainRows, hoRows);
  // A pad token other than EOS, so that transformers' GPT2ForSequenceClassification scores it too.
  await saveRewardModel(path.join(outDir, 'model'), {
    ...model,
    params,
    heads: { [REWARD_HEAD]: head },
    rlhf: { ...model.rlhf, reward: { squash, utility: cfg.utility, head: REWARD_HEAD } },
  });
  tf.dispose(Object.values(vars));
  opt.dispose();
  return result;
}

export function utilityLabel(u: UtilityConfig): string {
  return u.name === 'prompt-aware' ? 'prompt-aware' : utilityKey(u);
}

function kindCurve(d: CollapseDiagnostics | null, kind: 'open' | 'closed') {
  const c = d?.[kind];
  return c ? { mean: c.mean, std: c.std, prompts: c.prompts } : null;
}

/** diagnostics.json: what the report draws and what the closing numbers come from. */
function writeDiagnostics(outDir: string, r: RewardTrainResult, train: PromptRewards[], heldout: PromptRewards[] | null): void {
  writeJsonAtomic(path.join(outDir, 'diagnostics.json'), {
    utility: r.utility,
    n: r.n,
    theory: r.theory,
    train: { open: kindCurve(r.final.train, 'open'), closed: kindCurve(r.final.train, 'closed'), theory_distance: r.final.train.theory_distance, collapse_score: r.final.train.collapse_score },
    heldout: r.final.heldout
      ? { open: kindCurve(r.final.heldout, 'open'), closed: kindCurve(r.final.heldout, 'closed'), theory_distance: r.final.heldout.theory_distance, collapse_score: r.final.heldout.collapse_score }
      : null,
    collapse_score: r.final.train.collapse_score,
    curves: r.curves,
    rewards: r.final.train.pooled,
    accuracy: r.accuracy,
    per_prompt: { train, heldout },
    steps: r.steps,
    epochs: r.epochs,
    seconds: r.seconds,
  });
}
