/**
 * Language-model training for `rlhf pretrain` (loss on every token) and `rlhf sft` (loss on the
 * response tokens only): Adam, warm-up + decay, gradient clipping, held-out loss, resumable
 * checkpoints, metrics.jsonl and a progress bar.
 *
 * Data order is a pure function of (seed, epoch): the resume position is just the step.
 */
import * as path from 'node:path';
import { tf, Variable } from '../backend/tf';
import { GPT2Config } from '../model/config';
import { ModelBundle, saveModel } from '../model/checkpoint';
import { Params } from '../model/gpt2';
import { lmLoss } from '../model/lm';
import { makeLMBatch } from '../model/batch';
import { Adam, scheduledLr, valueAndGrads } from '../model/optim';
import { assertFinite } from '../train/state';
import { epochBatches, NO_RNG, openTrainingLoop } from '../train/loop';
import { LMTrainConfig } from './config';

export interface LMExample {
  /** Tokens that condition but are not trained on (the prompt; empty for pretraining). */
  context: number[];
  /** Tokens trained on (response + EOS, or a whole document). */
  target: number[];
}

export interface LMTrainResult {
  steps: number;
  trainLoss: number;
  evalLoss: number;
  seconds: number;
  tokensPerSecond: number;
}

/** Mean target NLL over a dataset, without gradients. */
export function evalLoss(params: Params, cfg: GPT2Config, examples: LMExample[], padId: number, maxLen: number, batchSize = 64): number {
  let total = 0;
  let count = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = makeLMBatch(examples.slice(i, i + batchSize), padId, maxLen);
    const n = batch.lossMask.reduce((a, b) => a + b, 0) - countFirst(batch);
    const l = tf.tidy(() => lmLoss(params, cfg, batch));
    total += l.dataSync()[0] * n;
    count += n;
    l.dispose();
  }
  return count ? total / count : NaN;
}

// lmLoss ignores position 0 as a target; keep the weights consistent with it.
function countFirst(batch: { lossMask: Float32Array; B: number; T: number }): number {
  let c = 0;
  for (let b = 0; b < batch.B; b++) c += batch.lossMask[b * batch.T];
  return c;
}

export async function trainLM(opts: {
  stage: string;
  model: ModelBundle;
  train: LMExample[];
  eval: LMExample[];
  cfg: LMTrainConfig;
  outDir: string;
  resume?: boolean;
}): Promise<LMTrainResult> {
  const { stage, model, train, cfg, outDir } = opts;
  const padId = model.tokenizer.padId;
  const stepsPerEpoch = Math.ceil(train.length / cfg.batch_size);
  const total = cfg.max_steps ?? Math.ceil(cfg.epochs * stepsPerEpoch);
  const vars: Record<string, Variable> = {};
  for (const [k, t] of Object.entries(model.params)) vars[k] = tf.variable(t, true);
  const params = vars as unknown as Params;
  const opt = new Adam({ lr: cfg.lr, weightDecay: cfg.weight_decay, maxGradNorm: cfg.max_grad_norm });
  const loop = openTrainingLoop({ stage, outDir, vars, opt, total, stopAfter: cfg.stop_after, checkpointEvery: cfg.checkpoint_every, resume: opts.resume });
  const batchAt = epochBatches(String(cfg.seed), train.length, cfg.batch_size);
  const t0 = Date.now();
  let tokens = 0;
  let loss = NaN;
  let ev = NaN;
  try {
    await loop.run(
      (step) => {
        const rows = batchAt(step).map((i) => train[i]);
        const batch = makeLMBatch(rows, padId, cfg.max_length);
        const lr = scheduledLr(cfg.lr, step, total, { schedule: cfg.schedule, warmupSteps: cfg.warmup_steps });
        const { value, grads } = valueAndGrads(vars, () => lmLoss(params, model.config, batch));
        loss = value.dataSync()[0];
        assertFinite(stage, step + 1, { loss });
        const gradNorm = opt.apply(vars, grads, lr);
        tf.dispose([value, ...Object.values(grads)]);
        tokens += batch.mask.reduce((a, b) => a + b, 0);
        const done = step + 1;
        const record: Record<string, number> = { loss, lr, grad_norm: gradNorm, epoch: done / stepsPerEpoch };
        if (done % cfg.eval_every === 0 || done === total) {
          ev = evalLoss(params, model.config, opts.eval, padId, cfg.max_length);
          record.eval_loss = ev;
        }
        return { record, progress: { loss, ...(Number.isFinite(ev) ? { eval: ev } : {}) } };
      },
      () => ({ position: { epoch: loop.step / stepsPerEpoch }, rng: NO_RNG, extra: {} }),
    );
  } finally {
    loop.close();
  }
  const step = loop.step;
  const seconds = (Date.now() - t0) / 1000;
  if (step === total) await saveModel(path.join(outDir, 'model'), { ...model, params });
  tf.dispose(Object.values(vars));
  opt.dispose();
  return { steps: step, trainLoss: loss, evalLoss: ev, seconds, tokensPerSecond: tokens / Math.max(seconds, 1e-9) };
}
