/**
 * DPO (Rafailov et al. 2023): the policy learns from preference pairs directly, with no reward model
 * and no sampling. The loss (math.ts) is logistic regression on the implicit reward
 * r(y) = β·log π(y)/π_ref(y), so the frozen reference's log-probabilities enter every step; they do
 * not change, so they are computed once, before training, for every distinct (prompt, completion).
 *
 *   pairs      every (chosen, rejected) pair of each ranking (pairs.ts), completion + EOS
 *   reference  log π_ref(y) summed over each completion, once
 *   step       a batch of pairs: log π(y_w), log π(y_l) → loss (sigmoid / cDPO, IPO or robust) → Adam
 *
 * Metrics use TRL's DPOTrainer names (loss, rewards/chosen, rewards/rejected, rewards/accuracies,
 * rewards/margins, logps/*). Every `probe_every` steps the probes: the exact random-number
 * distribution and its KL to π* of the implicit reward, objective/kl (KL summed over responses
 * sampled from the policy, k1, as PPO, GRPO and RLOO log it: the numbers compare), held-out pairs,
 * and, with a reward model, the held-out reward.
 */
import * as path from 'node:path';
import { tf, Scalar, Tensor1D, Variable } from '../backend/tf';
import { ModelBundle, saveModel } from '../model/checkpoint';
import { Params } from '../model/gpt2';
import { generate } from '../model/generate';
import { Adam, scheduledLr, valueAndGrads } from '../model/optim';
import { responseLogProbs } from '../model/score';
import { packQueryResponse } from '../model/batch';
import { PromptRecord } from '../data/records';
import { assertFinite } from '../train/state';
import { epochBatches, NO_RNG, openTrainingLoop } from '../train/loop';
import { Rng } from '../util/rng';
import { writeJsonAtomic } from '../util/fs';
import { RewardScorer, scoresPolicyTokens } from '../model/reward-scorer';
import { numberScores } from '../model/number-answers';
import { continuationLogProbs } from '../model/score';
import { DPO_METRICS as D, DpoObjective, GROUP_METRICS as G, PPO_METRICS as M } from '../data/artifacts';
import { implicitRewardOptimum } from '../metrics/optimum';
import { heldoutReward, NumberProbe, numberProbe, probeMetrics } from '../train/probe';
import { DPOConfig } from './config';
import { dpoLoss } from './math';
import { PreferencePair } from './pairs';

export interface DpoProbePoint extends NumberProbe {
  step: number;
  /** (kl_to_optimum: KL(π ‖ π*) of the implicit reward on the number prompt, see DpoObjectiveSchema.) */
  /** KL(π ‖ π_ref) summed over sampled responses, mean (objective/kl). */
  kl: number;
  heldout_reward: number | null;
  /** The loss and implicit-reward accuracy and margin on the held-out pairs (null without any). */
  heldout: { loss: number; accuracy: number; margin: number } | null;
}

export interface DpoResult {
  algorithm: 'dpo';
  steps: number;
  pairs: number;
  heldout_pairs: number;
  seconds: number;
  seconds_per_step: number;
  time: { reference: number; optimization: number; probes: number };
  loss: { start: number; end: number };
  accuracy: { start: number; end: number };
  kl: { last: number };
  probes: DpoProbePoint[];
  numbers: { reference: number[]; policy: number[]; optimum: number[]; candidates: string[] };
  /** DPO's own objective (its implicit reward), for the probe's π*. */
  objective: DpoObjective;
}

/** A tokenised pair: the prompt and both completions (EOS appended, cut to the longest allowed). */
interface Encoded {
  prompt: number[];
  chosen: number[];
  rejected: number[];
  /** Keys of the two (prompt, completion) sequences in the reference table. */
  chosenKey: string;
  rejectedKey: string;
}

export async function trainDPO(opts: {
  policy: ModelBundle;
  pairs: PreferencePair[];
  heldoutPairs: PreferencePair[];
  /** Optional: held-out reward at the probes. */
  scorer?: RewardScorer;
  heldoutPrompts: PromptRecord[];
  cfg: DPOConfig;
  outDir: string;
  seed: number;
  resume?: boolean;
  stage?: string;
}): Promise<DpoResult> {
  const { policy, cfg, outDir } = opts;
  const stage = opts.stage ?? 'dpo';
  const tok = policy.tokenizer;
  const mcfg = policy.config;
  const T = cfg.temperature;
  if (!opts.pairs.length) throw new Error(`${stage}: no preference pairs (every ranking was a tie, or no ranking has a task in ${JSON.stringify(cfg.tasks)})`);
  if (opts.scorer && !scoresPolicyTokens(opts.scorer.model.tokenizer, tok))
    throw new Error(`the reward model's tokenizer (${opts.scorer.model.source}) differs from the policy's (${policy.source}); they must share one`);

  const encodeCompletion = (c: string) => [...tok.encode(c), tok.eosId].slice(0, cfg.max_completion_length);
  const encode = (ps: PreferencePair[]): Encoded[] =>
    ps.map((p) => ({
      prompt: tok.encode(p.prompt),
      chosen: encodeCompletion(p.chosen),
      rejected: encodeCompletion(p.rejected),
      chosenKey: `${p.prompt}\u0000${p.chosen}`,
      rejectedKey: `${p.prompt}\u0000${p.rejected}`,
    }));
  const train = encode(opts.pairs);
  const heldoutPairs = encode(opts.heldoutPairs);

  // --- reference log-probabilities: once, for every distinct (prompt, completion) ---
  const ref: Params = policy.params;
  const tRef = Date.now();
  const refLogp = new Map<string, number>();
  const sequences = new Map<string, { prompt: number[]; completion: number[] }>();
  for (const e of [...train, ...heldoutPairs]) {
    sequences.set(e.chosenKey, { prompt: e.prompt, completion: e.chosen });
    sequences.set(e.rejectedKey, { prompt: e.prompt, completion: e.rejected });
  }
  const keys = [...sequences.keys()];
  for (let i = 0; i < keys.length; i += 64) {
    const chunk = keys.slice(i, i + 64).map((k) => sequences.get(k)!);
    const lp = tf.tidy(() => seqLogProbs(ref, chunk.map((s) => s.prompt), chunk.map((s) => s.completion)));
    const v = lp.dataSync();
    lp.dispose();
    keys.slice(i, i + 64).forEach((k, j) => refLogp.set(k, v[j]));
  }
  const referenceSeconds = (Date.now() - tRef) / 1000;

  /** Σₜ log π(yₜ) over each completion [N], inside the caller's tidy / gradient scope. */
  function seqLogProbs(params: Params, prompts: number[][], completions: number[][], entropy?: { out?: Scalar }): Tensor1D {
    const b = packQueryResponse(prompts, completions, tok.padId);
    const mask = tf.tensor2d(b.responseMask, [b.B, b.R]);
    const r = responseLogProbs(params, mcfg, b, 1, { entropy: !!entropy });
    if (entropy) entropy.out = tf.div(tf.sum(tf.mul(r.entropy!, mask)), tf.sum(mask)) as Scalar;
    return tf.sum(tf.mul(r.logprobs, mask), 1) as Tensor1D;
  }

  // --- the policy (trainable copy) and the loop ---
  const vars: Record<string, Variable> = {};
  const pol: Params = {};
  for (const [name, t] of Object.entries(ref)) pol[name] = vars[name] = tf.variable(t, true);
  const perEpoch = Math.ceil(train.length / cfg.batch_size);
  const total = cfg.max_steps ?? cfg.epochs * perEpoch;
  const batches = epochBatches(`${opts.seed}:dpo`, train.length, cfg.batch_size);
  const opt = new Adam({ lr: cfg.lr, eps: cfg.adam_eps, maxGradNorm: cfg.max_grad_norm });
  const loop = openTrainingLoop({ stage, outDir, vars, opt, total, checkpointEvery: cfg.checkpoint_every, resume: opts.resume });
  const extra = loop.resumed?.extra as { probes?: DpoProbePoint[]; losses?: number[]; accuracies?: number[] } | undefined;
  const probes: DpoProbePoint[] = extra?.probes ?? [];
  const losses: number[] = extra?.losses ?? [];
  const accuracies: number[] = extra?.accuracies ?? [];

  /** Loss and implicit-reward statistics of a list of pairs, no gradient (held-out evaluation). */
  const evaluate = (ps: Encoded[]) => {
    let loss = 0;
    let acc = 0;
    let margin = 0;
    for (let i = 0; i < ps.length; i += 32) {
      const chunk = ps.slice(i, i + 32);
      const r = tf.tidy(() => {
        const out = pairLoss(chunk);
        return [out.loss, out.accuracy, out.margin];
      });
      const [l, a, m] = r.map((x) => x.dataSync()[0]);
      tf.dispose(r);
      loss += l * chunk.length;
      acc += a * chunk.length;
      margin += m * chunk.length;
    }
    return { loss: loss / ps.length, accuracy: acc / ps.length, margin: margin / ps.length };
  };
  function pairLoss(chunk: Encoded[], entropy?: { out?: Scalar }) {
    const both = seqLogProbs(pol, [...chunk.map((e) => e.prompt), ...chunk.map((e) => e.prompt)], [...chunk.map((e) => e.chosen), ...chunk.map((e) => e.rejected)], entropy);
    const n = chunk.length;
    const lengths = (xs: number[][]) => tf.tensor1d(xs.map((x) => x.length), 'float32');
    return {
      ...dpoLoss(both.slice(0, n) as Tensor1D, both.slice(n, n) as Tensor1D, tf.tensor1d(chunk.map((e) => refLogp.get(e.chosenKey)!)), tf.tensor1d(chunk.map((e) => refLogp.get(e.rejectedKey)!)), {
        lossType: cfg.loss_type,
        beta: cfg.beta,
        labelSmoothing: cfg.label_smoothing,
        chosenLength: lengths(chunk.map((e) => e.chosen)),
        rejectedLength: lengths(chunk.map((e) => e.rejected)),
      }),
      logps: both,
    };
  }

  // --- probes ---
  const refNumbers = numberScores(policy, ref, cfg.number_prompt, { temperature: T });
  const numberPrompt = tok.encode(cfg.number_prompt);
  const numberIds = refNumbers.candidates.map((c) => [...tok.encode(c), tok.eosId]);
  const refAnswerLogp = continuationLogProbs(ref, mcfg, numberPrompt, numberIds, tok.padId, T);
  /** π* of the implicit reward r(n) = β·(log π − log π_ref)("n" + EOS): see DpoObjectiveSchema. */
  const optimumNow = () => implicitRewardOptimum(refNumbers.logprobs, continuationLogProbs(pol, mcfg, numberPrompt, numberIds, tok.padId, T), refAnswerLogp);
  const klPrompts = [...new Set(opts.pairs.map((p) => p.prompt))];
  const heldoutIds = opts.heldoutPrompts.slice(0, cfg.heldout_prompts).map((p) => tok.encode(p.prompt));
  const probe = (at: number): DpoProbePoint => {
    // objective/kl: responses sampled from the policy with a fixed probe seed, KL summed over each.
    const r = new Rng(`${opts.seed}:dpo-kl`);
    const qs = Array.from({ length: cfg.kl_samples }, (_, i) => tok.encode(klPrompts[i % klPrompts.length]));
    const g = generate(pol, mcfg, qs, { maxNewTokens: cfg.max_completion_length, temperature: T, eosId: tok.eosId, padId: tok.padId, rng: r });
    const kl = tf.tidy(() => tf.mean(tf.sub(seqLogProbs(pol, qs, g.tokens), seqLogProbs(ref, qs, g.tokens))));
    const klValue = kl.dataSync()[0];
    kl.dispose();
    const heldout = opts.scorer && heldoutIds.length ? heldoutReward(policy, pol, opts.scorer, heldoutIds, { maxNewTokens: cfg.max_completion_length, temperature: T, seed: opts.seed }) : null;
    return {
      step: at,
      ...numberProbe(policy, pol, cfg.number_prompt, T, optimumNow(), refNumbers.dist.probs),
      kl: klValue,
      heldout_reward: heldout,
      heldout: heldoutPairs.length ? evaluate(heldoutPairs) : null,
    };
  };
  const probeRecord = (pp: DpoProbePoint) => ({
    ...probeMetrics(pp),
    [M.kl]: pp.kl,
    ...(pp.heldout ? { [D.evalLoss]: pp.heldout.loss, [D.evalRewardsAccuracies]: pp.heldout.accuracy, [D.evalRewardsMargins]: pp.heldout.margin } : {}),
  });
  let probeSeconds = 0;
  const timedProbe = (at: number) => {
    const t = Date.now();
    const pp = probe(at);
    probeSeconds += (Date.now() - t) / 1000;
    return pp;
  };
  if (loop.step === 0) {
    probes.push(timedProbe(0));
    loop.logger.log(0, { ...probeRecord(probes[0]), [M.klCoef]: cfg.beta, [D.timeReference]: referenceSeconds });
  }

  let optSeconds = 0;
  const t0 = Date.now();
  const startStep = loop.step;
  try {
    await loop.run(async (step) => {
      const t = Date.now();
      const chunk = batches(step).map((i) => train[i]);
      const lr = scheduledLr(cfg.lr, step, total, { schedule: cfg.lr_schedule });
      const kept: Record<string, Scalar> = {};
      const { value, grads } = valueAndGrads(vars, () => {
        const ent: { out?: Scalar } = {};
        const out = pairLoss(chunk, ent);
        const n = chunk.length;
        kept.chosen = tf.keep(tf.mean(out.chosenRewards) as Scalar);
        kept.rejected = tf.keep(tf.mean(out.rejectedRewards) as Scalar);
        kept.accuracy = tf.keep(out.accuracy);
        kept.margin = tf.keep(out.margin);
        kept.logpsChosen = tf.keep(tf.mean(out.logps.slice(0, n)) as Scalar);
        kept.logpsRejected = tf.keep(tf.mean(out.logps.slice(n, n)) as Scalar);
        kept.entropy = tf.keep(ent.out!);
        return out.loss;
      });
      const loss = value.dataSync()[0];
      assertFinite(stage, step + 1, { loss });
      opt.apply(vars, grads, lr);
      const v = Object.fromEntries(Object.entries(kept).map(([name, s]) => [name, s.dataSync()[0]]));
      tf.dispose([value, ...Object.values(grads), ...Object.values(kept)]);
      optSeconds += (Date.now() - t) / 1000;
      losses.push(loss);
      accuracies.push(v.accuracy);
      const done = step + 1;
      const rec: Record<string, number | string | null> = {
        [D.loss]: loss,
        [D.rewardsChosen]: v.chosen,
        [D.rewardsRejected]: v.rejected,
        [D.rewardsAccuracies]: v.accuracy,
        [D.rewardsMargins]: v.margin,
        [D.logpsChosen]: v.logpsChosen,
        [D.logpsRejected]: v.logpsRejected,
        [G.entropy]: v.entropy,
        [D.learningRate]: lr,
        epoch: step / perEpoch,
        [M.klCoef]: cfg.beta,
        [M.timeOptimization]: optSeconds,
        [D.timeReference]: referenceSeconds,
      };
      if (done % cfg.probe_every === 0 || done === total) {
        const pp = timedProbe(done);
        probes.push(pp);
        Object.assign(rec, probeRecord(pp));
      }
      return { record: rec, progress: { loss, acc: v.accuracy } };
    }, () => ({ position: { step: loop.step }, rng: NO_RNG, extra: { probes, losses, accuracies } }));
  } finally {
    loop.close();
  }

  const seconds = (Date.now() - t0) / 1000;
  const finalPolicy = numberScores(policy, pol, cfg.number_prompt, { temperature: T });
  const result: DpoResult = {
    algorithm: 'dpo',
    steps: loop.step,
    pairs: train.length,
    heldout_pairs: heldoutPairs.length,
    seconds,
    seconds_per_step: (seconds - probeSeconds) / Math.max(1, loop.step - startStep),
    time: { reference: referenceSeconds, optimization: optSeconds, probes: probeSeconds },
    loss: { start: losses[0] ?? NaN, end: losses[losses.length - 1] ?? NaN },
    accuracy: { start: accuracies[0] ?? NaN, end: accuracies[accuracies.length - 1] ?? NaN },
    kl: { last: probes[probes.length - 1]?.kl ?? NaN },
    probes,
    numbers: { candidates: refNumbers.candidates, reference: Array.from(refNumbers.dist.probs), policy: Array.from(finalPolicy.dist.probs), optimum: optimumNow() },
    objective: { kind: 'dpo-implicit', beta: cfg.beta, temperature: T },
  };
  writeJsonAtomic(path.join(outDir, 'summary.json'), result);
  await saveModel(path.join(outDir, 'model'), { ...policy, params: pol, heads: {}, rlhf: { ...policy.rlhf, dpo: { beta: cfg.beta, loss_type: cfg.loss_type } } });
  tf.dispose(Object.values(vars));
  opt.dispose();
  return result;
}
