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
import { lmLoss, makeLMBatch } from '../model/lm';
import { Adam, scheduledLr, valueAndGrads } from '../model/optim';
import { MetricsLogger } from '../metrics/logger';
import { assertFinite, hasTrainState, InterruptedError, loadTrainState, pollStop, saveTrainState, truncateMetricsAfter } from '../pipeline/train-state';
import { progress, info } from '../util/progress';
import { Rng } from '../util/rng';
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
  const ckptDir = path.join(outDir, 'checkpoint');
  const logger = new MetricsLogger(path.join(outDir, 'metrics.jsonl'), { stage });
  let step = 0;
  if (opts.resume && hasTrainState(ckptDir)) {
    step = loadTrainState(ckptDir, vars, opt).step;
    // records logged after that checkpoint (before a crash) are re-done, so drop them
    truncateMetricsAfter(path.join(outDir, 'metrics.jsonl'), step);
    info(`${stage}: resumed from step ${step} (${ckptDir})`);
  }
  const order = (epoch: number) => new Rng(`${cfg.seed}:${epoch}`).shuffle(Array.from({ length: train.length }, (_, i) => i));
  let perm = order(Math.floor(step / stepsPerEpoch));
  let permEpoch = Math.floor(step / stepsPerEpoch);
  const bar = progress(stage, total);
  const t0 = Date.now();
  let tokens = 0;
  let loss = NaN;
  let ev = NaN;
  try {
    const stopAt = Math.min(total, cfg.stop_after ?? total);
    while (step < stopAt) {
      const epoch = Math.floor(step / stepsPerEpoch);
      if (epoch !== permEpoch) {
        perm = order(epoch);
        permEpoch = epoch;
      }
      const i0 = (step % stepsPerEpoch) * cfg.batch_size;
      const rows = perm.slice(i0, i0 + cfg.batch_size).map((i) => train[i]);
      const batch = makeLMBatch(rows, padId, cfg.max_length);
      const lr = scheduledLr(cfg.lr, step, total, { schedule: cfg.schedule, warmupSteps: cfg.warmup_steps });
      const { value, grads } = valueAndGrads(vars, () => lmLoss(params, model.config, batch));
      loss = value.dataSync()[0];
      assertFinite(stage, step + 1, { loss });
      const gradNorm = opt.apply(vars, grads, lr);
      tf.dispose([value, ...Object.values(grads)]);
      step += 1;
      tokens += batch.mask.reduce((a, b) => a + b, 0);
      const record: Record<string, number> = { loss, lr, grad_norm: gradNorm, epoch: step / stepsPerEpoch };
      if (step % cfg.eval_every === 0 || step === total) {
        ev = evalLoss(params, model.config, opts.eval, padId, cfg.max_length);
        record.eval_loss = ev;
      }
      logger.log(step, record);
      bar.update(step, { loss, ...(Number.isFinite(ev) ? { eval: ev } : {}) });
      if (step % cfg.checkpoint_every === 0 && step < total) {
        logger.flush();
        await saveTrainState(ckptDir, { step, position: { epoch: step / stepsPerEpoch }, rng: {}, extra: {} }, vars, opt);
      }
      if (await pollStop()) {
        logger.flush();
        await saveTrainState(ckptDir, { step, position: { epoch: step / stepsPerEpoch }, rng: {}, extra: {} }, vars, opt);
        throw new InterruptedError(stage, step);
      }
    }
  } finally {
    bar.stop();
    logger.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  if (step === total) await saveModel(path.join(outDir, 'model'), { ...model, params });
  tf.dispose(Object.values(vars));
  opt.dispose();
  return { steps: step, trainLoss: loss, evalLoss: ev, seconds, tokensPerSecond: tokens / Math.max(seconds, 1e-9) };
}
