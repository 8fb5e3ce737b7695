/**
 * GRPO and RLOO: critic-free policy optimisation against a reward model, with k completions per
 * prompt and the group as the baseline (math.ts has the equations). One iteration:
 *
 *   1. rollout    batch_size / k prompts, each sampled k times at temperature T
 *   2. score      s = RM(x, y) (− missing-EOS penalty); log π_old and log π_ref on the same tokens
 *   3. advantage  GRPO (s − mean_group)/(std_group + 1e-4);  RLOO (s − β·KL) − mean of the other k − 1
 *   4. optimise   num_iterations × minibatches of the clipped ratio loss (GRPO: + β·k3 per token)
 *
 * There is no value model and no adaptive β. Metrics use TRL's GRPOTrainer / RLOOTrainer names,
 * plus objective/kl (KL summed over a sampled response, as PPO logs it) so that runs of every
 * algorithm compare. Probes (random-number distribution, KL(π ‖ π*), held-out reward) run every
 * `probe_every` iterations; checkpoints every `checkpoint_every` allow --resume.
 */
import * as path from 'node:path';
import { tf, Scalar, Tensor1D, Tensor2D, Variable } from '../backend/tf';
import { ModelBundle, saveModel } from '../model/checkpoint';
import { Params } from '../model/gpt2';
import { generate } from '../model/generate';
import { Adam, scheduledLr, valueAndGrads } from '../model/optim';
import { responseLogProbs } from '../model/score';
import { packQueryResponse, QueryResponseBatch } from '../model/batch';
import { PromptRecord } from '../data/records';
import { mean, std } from '../metrics/distribution';
import { assertFinite } from '../train/state';
import { openTrainingLoop } from '../train/loop';
import { heldoutReward, numberAnswerRewards, NumberProbe, numberProbe, probeMetrics } from '../train/probe';
import { info } from '../util/progress';
import { Rng } from '../util/rng';
import { writeJsonAtomic } from '../util/fs';
import { RewardScorer, normaliseOnReference, scoresPolicyTokens } from '../model/reward-scorer';
import { numberScores } from '../model/number-answers';
import { outputMetrics, outputMetricsFlat } from '../metrics/output';
import { GROUP_METRICS as G, PPO_METRICS as M, PpoObjective } from '../data/artifacts';
import { klRegularisedOptimum } from '../metrics/optimum';
import { GroupConfig } from './config';
import { grpoAdvantages, grpoLoss, maskedMean, rlooAdvantages, rlooLoss, rlooRewards, sequenceLogRatio } from './math';

export interface GroupProbePoint extends NumberProbe {
  iteration: number;
  heldout_reward: number;
}

export interface GroupResult {
  algorithm: 'grpo' | 'rloo';
  iterations: number;
  seconds: number;
  /** Seconds per iteration (this run or resume). */
  seconds_per_iteration: number;
  time: { generation: number; scoring: number; optimization: number };
  reward: { start: number; end: number };
  heldout_reward: { start: number; end: number };
  kl: { mean_last: number; beta: number };
  probes: GroupProbePoint[];
  numbers: { reference: number[]; policy: number[]; optimum: number[]; candidates: string[] };
  /** What the run optimised, for π* downstream (read with readPpoObjective: the same schema as PPO's). */
  objective: PpoObjective;
}

/** Rows `rows` of a packed batch. */
function subBatch(b: QueryResponseBatch, rows: number[]): QueryResponseBatch {
  const T = b.Q + b.R;
  const ids = new Int32Array(rows.length * T);
  const mask = new Float32Array(rows.length * T);
  const responseMask = new Float32Array(rows.length * b.R);
  rows.forEach((r, i) => {
    ids.set(b.ids.subarray(r * T, (r + 1) * T), i * T);
    mask.set(b.mask.subarray(r * T, (r + 1) * T), i * T);
    responseMask.set(b.responseMask.subarray(r * b.R, (r + 1) * b.R), i * b.R);
  });
  return { ids, mask, responseMask, B: rows.length, Q: b.Q, R: b.R };
}

/**
 * Whether π* ∝ π_ref·exp(r/β) is the exact fixed point of the update (see PpoObjectiveSchema.exact):
 * RLOO without advantage normalisation is exactly E[r] − β·KL(π ‖ π_ref) (the KL in the reward,
 * an unbiased leave-one-out baseline); GRPO never is (std scaling, the (k − 1)/k of the group
 * mean, and k3 in the loss).
 */
function exactObjective(cfg: GroupConfig): boolean {
  return cfg.algorithm === 'rloo' && !cfg.normalize_advantages;
}

export async function trainGroup(opts: {
  policy: ModelBundle;
  scorer: RewardScorer;
  prompts: PromptRecord[];
  heldout: PromptRecord[];
  cfg: GroupConfig;
  outDir: string;
  seed: number;
  resume?: boolean;
  stage?: string;
}): Promise<GroupResult> {
  const { policy, scorer, cfg, outDir } = opts;
  const algo = cfg.algorithm;
  const stage = opts.stage ?? algo;
  const tok = policy.tokenizer;
  const mcfg = policy.config;
  const k = cfg.num_generations;
  if (!scoresPolicyTokens(scorer.model.tokenizer, tok))
    throw new Error(`the reward model's tokenizer (${scorer.model.source}) differs from the policy's (${policy.source}); they must share one`);
  if (cfg.batch_size % k !== 0) throw new Error(`${algo}.batch_size (${cfg.batch_size}) must be a multiple of ${algo}.num_generations (${k}): whole groups`);
  if (cfg.batch_size % cfg.mini_batch_size !== 0) throw new Error(`${algo}.batch_size (${cfg.batch_size}) must be a multiple of ${algo}.mini_batch_size (${cfg.mini_batch_size})`);
  const T = cfg.temperature;
  const epsHigh = cfg.epsilon_high ?? cfg.epsilon;

  // --- models: policy (trainable copy) and the frozen reference ---
  const ref: Params = policy.params;
  const vars: Record<string, Variable> = {};
  const pol: Params = {};
  for (const [name, t] of Object.entries(ref)) pol[name] = vars[name] = tf.variable(t, true);

  const opt = new Adam({ lr: cfg.lr, eps: cfg.adam_eps, maxGradNorm: cfg.max_grad_norm });
  const loop = openTrainingLoop({ stage, outDir, vars, opt, total: cfg.iterations, checkpointEvery: cfg.checkpoint_every, resume: opts.resume });
  const saved = loop.resumed;
  const extra = saved?.extra as { probes?: GroupProbePoint[]; rewardMeans?: number[]; gain?: number; bias?: number } | undefined;
  const rng = saved ? Rng.fromState(saved.rng) : new Rng(`${opts.seed}:${algo}`);
  const probes: GroupProbePoint[] = extra?.probes ?? [];
  const rewardMeans: number[] = extra?.rewardMeans ?? [];
  const encode = (p: PromptRecord) => tok.encode(p.prompt);

  if (saved) {
    scorer.gain = extra?.gain ?? 1;
    scorer.bias = extra?.bias ?? 0;
    info(`${stage}: resumed at iteration ${loop.step}`);
  } else if (cfg.reward_norm) {
    normaliseOnReference(scorer, ref, policy, opts.prompts.map(encode), { samples: cfg.reward_norm_samples, responseLength: cfg.response_length, temperature: T, rng });
    info(`${stage}: reward normalisation gain ${scorer.gain.toPrecision(4)}, bias ${scorer.bias.toPrecision(4)}`);
  }

  // --- probes: the number prompt's exact distribution, π* and the held-out reward (as PPO's) ---
  const refNumbers = numberScores(policy, ref, cfg.number_prompt, { temperature: T });
  const numberRewards = numberAnswerRewards(policy, scorer, cfg.number_prompt, refNumbers.candidates);
  // π*(n) ∝ π_ref(n)·exp(r(n)/β), r = gain·R + bias of the canonical answer "n" + EOS (metrics/optimum.ts).
  // β = 0 (no KL term) gives the argmax limit.
  const optimum = klRegularisedOptimum(refNumbers.logprobs, numberRewards, cfg.beta);
  const heldout = opts.heldout.slice(0, cfg.heldout_prompts);
  const heldoutIds = heldout.map(encode);
  const probe = (at: number): GroupProbePoint => ({
    iteration: at,
    ...numberProbe(policy, pol, cfg.number_prompt, T, optimum, refNumbers.dist.probs),
    heldout_reward: heldoutReward(policy, pol, scorer, heldoutIds, { maxNewTokens: cfg.response_length, temperature: T, seed: opts.seed }),
  });
  const probeRecord = probeMetrics;
  if (loop.step === 0) {
    probes.push(probe(0));
    loop.logger.log(0, probeRecord(probes[0]));
  }

  const time = { generation: 0, scoring: 0, optimization: 0 };
  let lastKL = NaN;
  const t0 = Date.now();
  const startStep = loop.step;
  try {
    await loop.run(async (iteration) => {
      // 1. rollout: each prompt k times, consecutively (rows g·k … g·k + k − 1 are prompt g's group)
      let t = Date.now();
      const nPrompts = cfg.batch_size / k;
      const picked = Array.from({ length: nPrompts }, () => rng.int(opts.prompts.length));
      const idx = picked.flatMap((i) => Array.from({ length: k }, () => i));
      const queries = idx.map((i) => encode(opts.prompts[i]));
      const gen = generate(pol, mcfg, queries, { maxNewTokens: cfg.response_length, temperature: T, eosId: tok.eosId, padId: tok.padId, rng });
      const responses = gen.tokens;
      time.generation += (Date.now() - t) / 1000;

      // 2. score; log π_old and log π_ref on the same tokens
      t = Date.now();
      const scores = scorer.score(queries, responses).map((s, i) => (cfg.missing_eos_penalty !== null && !gen.finished[i] ? s - cfg.missing_eos_penalty : s));
      assertFinite(stage, iteration + 1, { [G.reward]: mean(scores) });
      const batch = packQueryResponse(queries, responses, tok.padId);
      const B = batch.B;
      const R = batch.R;
      const roll = tf.tidy(() => {
        const p = responseLogProbs(pol, mcfg, batch, T, { entropy: true });
        const r = responseLogProbs(ref, mcfg, batch, T);
        const mask = tf.tensor2d(batch.responseMask, [B, R]);
        return { logprobs: p.logprobs, entropy: p.entropy!, ref: r.logprobs, mask, seqKL: sequenceLogRatio(p.logprobs, r.logprobs, mask), perTokenKL: maskedMean(tf.sub(p.logprobs, r.logprobs) as Tensor2D, mask) };
      });
      const seqKL = Array.from(roll.seqKL.dataSync());
      time.scoring += (Date.now() - t) / 1000;

      // 3. advantages (host, float64)
      const adv = cfg.algorithm === 'grpo' ? grpoAdvantages(scores, k, cfg.scale_rewards) : rlooAdvantages(rlooRewards(scores, seqKL, cfg.beta), k, cfg.normalize_advantages);
      const advantages = tf.tensor1d(adv.advantages, 'float32');
      const oldSeq = tf.tidy(() => tf.sum(tf.mul(roll.logprobs, roll.mask), 1) as Tensor1D);

      // 4. optimise: num_iterations × minibatches
      t = Date.now();
      const lr = scheduledLr(cfg.lr, iteration, cfg.iterations, { schedule: cfg.lr_schedule });
      const tokens = batch.responseMask.reduce((a, b) => a + b, 0);
      const steps = B / cfg.mini_batch_size;
      const stats: Record<string, number[]> = { loss: [], kl: [], entropy: [], low: [], high: [], region: [], lowMin: [], highMax: [] };
      for (let epoch = 0; epoch < cfg.num_iterations; epoch++) {
        const perm = rng.shuffle(Array.from({ length: B }, (_, i) => i));
        for (let m = 0; m < B; m += cfg.mini_batch_size) {
          const rows = perm.slice(m, m + cfg.mini_batch_size);
          const mb = subBatch(batch, rows);
          const sel = tf.tensor1d(rows, 'int32');
          const kept: Record<string, Scalar> = {};
          const { value, grads } = valueAndGrads(vars, () => {
            const pick2 = (x: Tensor2D) => tf.gather(x, sel) as Tensor2D;
            const mask = pick2(roll.mask);
            const A = tf.gather(advantages, sel) as Tensor1D;
            const p = responseLogProbs(pol, mcfg, mb, T, { entropy: true });
            const res =
              cfg.algorithm === 'grpo'
                ? grpoLoss(p.logprobs, pick2(roll.logprobs), cfg.beta !== 0 ? pick2(roll.ref) : null, A, mask, {
                    lossType: cfg.loss_type,
                    beta: cfg.beta,
                    epsilonLow: cfg.epsilon,
                    epsilonHigh: epsHigh,
                    klBiasCorrection: cfg.kl_bias_correction,
                    maxCompletionLength: cfg.response_length,
                    tokensInGenerationBatch: tokens,
                    stepsPerGeneration: steps,
                  })
                : rlooLoss(p.logprobs, tf.gather(oldSeq, sel) as Tensor1D, A, mask, cfg.epsilon, epsHigh);
            kept.loss = tf.keep(res.loss);
            const kl = (res as { kl?: Scalar }).kl;
            if (kl) kept.kl = tf.keep(kl);
            kept.entropy = tf.keep(maskedMean(p.entropy!, mask));
            kept.low = tf.keep(res.lowMean);
            kept.high = tf.keep(res.highMean);
            kept.region = tf.keep(res.regionMean);
            kept.lowMin = tf.keep(res.lowMin);
            kept.highMax = tf.keep(res.highMax);
            return res.loss;
          });
          const loss = value.dataSync()[0];
          assertFinite(stage, iteration + 1, { loss });
          opt.apply(vars, grads, lr);
          for (const [name, s] of Object.entries(kept)) stats[name].push(s.dataSync()[0]);
          tf.dispose([value, sel, ...Object.values(grads), ...Object.values(kept)]);
        }
      }
      time.optimization += (Date.now() - t) / 1000;

      // metrics: TRL's names, then the names shared with PPO
      const meanKL = mean(seqKL);
      lastKL = meanKL;
      const logp = roll.logprobs.arraySync() as number[][];
      const ent = roll.entropy.arraySync() as number[][];
      const samples = responses.map((r, i) => ({ prompt_id: opts.prompts[idx[i]].id, token_ids: r, logprobs: logp[i].slice(0, r.length), entropies: ent[i].slice(0, r.length) }));
      const om = outputMetrics(samples, mcfg.vocab_size, tok.eosId);
      const perTokenKL = roll.perTokenKL.dataSync()[0];
      rewardMeans.push(mean(scores));
      const done = iteration + 1;
      const rec: Record<string, number | string | null> = {
        [G.reward]: mean(scores),
        [G.rewardStd]: std(scores, 1),
        [G.fracRewardZeroStd]: adv.fracZeroStd,
        // TRL: GRPO logs the k3 term of its loss, RLOO the per-token k1 of its reward
        [G.klPerToken]: cfg.algorithm === 'grpo' ? (stats.kl.length ? mean(stats.kl) : null) : perTokenKL,
        [G.entropy]: mean(stats.entropy),
        [G.loss]: mean(stats.loss),
        [G.clipLowMean]: mean(stats.low),
        [G.clipHighMean]: mean(stats.high),
        [G.clipRegionMean]: mean(stats.region),
        [G.clipLowMin]: Math.min(...stats.lowMin),
        [G.clipHighMax]: Math.max(...stats.highMax),
        [G.meanLength]: om.mean_length,
        [G.clippedRatio]: gen.finished.filter((f) => !f).length / B,
        [G.learningRate]: lr,
        [M.kl]: meanKL,
        [M.klCoef]: cfg.beta,
        ...outputMetricsFlat(om),
        [M.timeGeneration]: time.generation,
        [M.timeScoring]: time.scoring,
        [M.timeOptimization]: time.optimization,
      };
      tf.dispose([...Object.values(roll), advantages, oldSeq]);
      if (done % cfg.probe_every === 0 || done === cfg.iterations) {
        const pp = probe(done);
        probes.push(pp);
        Object.assign(rec, probeRecord(pp));
      }
      return { record: rec, progress: { reward: mean(scores), kl: meanKL } };
    }, () => ({ position: { iteration: loop.step }, rng: rng.state(), extra: { probes, gain: scorer.gain, bias: scorer.bias, rewardMeans } }));
  } finally {
    loop.close();
  }

  const seconds = (Date.now() - t0) / 1000;
  const finalPolicy = numberScores(policy, pol, cfg.number_prompt, { temperature: T });
  const result: GroupResult = {
    algorithm: algo,
    iterations: loop.step,
    seconds,
    seconds_per_iteration: seconds / Math.max(1, loop.step - startStep),
    time,
    reward: { start: rewardMeans[0] ?? NaN, end: rewardMeans[rewardMeans.length - 1] ?? NaN },
    heldout_reward: { start: probes[0]?.heldout_reward ?? NaN, end: probes[probes.length - 1]?.heldout_reward ?? NaN },
    kl: { mean_last: lastKL, beta: cfg.beta },
    probes,
    numbers: { candidates: refNumbers.candidates, reference: Array.from(refNumbers.dist.probs), policy: Array.from(finalPolicy.dist.probs), optimum },
    objective: { beta: cfg.beta, reward_model: scorer.model.source, gain: scorer.gain, bias: scorer.bias, temperature: T, adaptive_kl: false, algorithm: algo, exact: exactObjective(cfg) },
  };
  writeJsonAtomic(path.join(outDir, 'summary.json'), result);
  await saveModel(path.join(outDir, 'model'), { ...policy, params: pol, heads: {}, rlhf: { ...policy.rlhf, [algo]: { num_generations: k } } });
  tf.dispose(Object.values(vars));
  opt.dispose();
  return result;
}
