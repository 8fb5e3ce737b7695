/**
 * PPO with a KL penalty to a frozen reference (Ziegler et al. 2019; lm-human-preferences; TRL),
 * written to read top to bottom like the equations (notes/ARCHITECTURE.md says where each lives). One iteration:
 *
 *   1. rollout    sample responses y ~ π_θ(·|x) at temperature T for a batch of prompts
 *   2. score      s = RM(x, y) (− missing-EOS penalty); log π_θ, log π_ref, V on the same tokens,
 *                 all from logits / T
 *   3. rewards    r_t = −β·kl_t, plus s at the last real token            (math.assembleRewards)
 *   4. GAE        δ_t = r_t + γV_{t+1} − V_t,  A_t = δ_t + γλA_{t+1};  returns = A + V; whiten A
 *   5. optimise   ppo_epochs × minibatches of  L = L^CLIP + vf_coef·L^V   (Adam, ε = 1e-5)
 *   6. β          adaptive: e = clip(KL/target − 1, ±0.2); β ← β(1 + e·n/horizon)
 *
 * Metrics use TRL's names. Probes (random-number distribution, KL(π‖π*), held-out reward) run
 * every `probe_every` iterations; checkpoints every `checkpoint_every` allow --resume.
 */
import * as path from 'node:path';
import { tf, Scalar, Tensor, Tensor2D, Tensor3D, Variable } from '../backend/tf';
import { ModelBundle, saveModel } from '../model/checkpoint';
import { Params, HEAD_NAMES, forward } from '../model/gpt2';
import { generate } from '../model/generate';
import { matmul } from '../model/ops';
import { Adam, scheduledLr, valueAndGrads } from '../model/optim';
import { responseLogProbs } from '../model/score';
import { packQueryResponse, QueryResponseBatch } from '../model/batch';
import { PromptRecord } from '../data/records';
import { histogram, mean, std } from '../metrics/distribution';
import { assertFinite } from '../train/state';
import { openTrainingLoop } from '../train/loop';
import { heldoutReward, numberAnswerRewards, NumberProbe, numberProbe, probeMetrics } from '../train/probe';
import { info } from '../util/progress';
import { Rng } from '../util/rng';
import { writeJsonAtomic } from '../util/fs';
import { RewardScorer, normaliseOnReference, scoresPolicyTokens } from '../model/reward-scorer';
import { numberScores } from '../model/number-answers';
import { outputMetrics, outputMetricsFlat } from '../metrics/output';
import { PPOConfig } from './config';
import { PPO_METRICS as M, PpoObjective } from '../data/artifacts';
import { klRegularisedOptimum } from '../metrics/optimum';
import { AdaptiveKLController, FixedKLController, KLController, klControllerFromState, KLControllerState } from './kl-controller';
import { assembleRewards, explainedVariance, gae, maskedMean, maskedWhiten, meanSequenceKL, policyLoss, valueLoss } from './math';

const [V_W, V_B] = HEAD_NAMES.value;

export interface ProbePoint extends NumberProbe {
  iteration: number;
  beta: number;
  heldout_reward: number;
}

export interface PPOResult {
  iterations: number;
  seconds: number;
  time: { generation: number; scoring: number; optimization: number };
  tokens_per_second: { generation: number; scoring: number; optimization: number };
  reward: { start: number; end: number };
  heldout_reward: { start: number; end: number };
  kl: { mean_last: number; target: number | null; beta_final: number };
  probes: ProbePoint[];
  numbers: { reference: number[]; policy: number[]; optimum: number[]; candidates: string[] };
  /** What the run optimised, for π* downstream (the probe reads it with readPpoObjective). */
  objective: PpoObjective;
}

/** Values V(s_t) for the response positions: the value head on the hidden states that predict them. */
function values(hidden: Tensor3D, w: Tensor, b: Tensor): Tensor2D {
  const [B, R, C] = hidden.shape;
  return tf.add(matmul(hidden.reshape([B * R, C]) as Tensor2D, tf.transpose(w) as Tensor2D), b).reshape([B, R]) as Tensor2D;
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

export async function trainPPO(opts: {
  policy: ModelBundle;
  scorer: RewardScorer;
  prompts: PromptRecord[];
  heldout: PromptRecord[];
  cfg: PPOConfig;
  outDir: string;
  seed: number;
  resume?: boolean;
  stage?: string;
}): Promise<PPOResult> {
  const { policy, scorer, cfg, outDir } = opts;
  const stage = opts.stage ?? 'ppo';
  const tok = policy.tokenizer;
  const mcfg = policy.config;
  if (!scoresPolicyTokens(scorer.model.tokenizer, tok))
    throw new Error(`the reward model's tokenizer (${scorer.model.source}) differs from the policy's (${policy.source}); they must share one`);
  if (cfg.batch_size % cfg.mini_batch_size !== 0) throw new Error(`ppo.batch_size (${cfg.batch_size}) must be a multiple of ppo.mini_batch_size (${cfg.mini_batch_size})`);
  const T = cfg.temperature;

  // --- models: policy (trainable copy), frozen reference, value head (zero-initialised) ---
  const ref: Params = policy.params;
  const vars: Record<string, Variable> = {};
  const pol: Params = {};
  for (const [k, t] of Object.entries(ref)) pol[k] = vars[k] = tf.variable(t, true);
  // tf.variable shares the initial tensor's data; tidy frees the temporary itself.
  vars[V_W] = tf.tidy(() => tf.variable(tf.zeros([1, mcfg.n_embd]), true));
  vars[V_B] = tf.tidy(() => tf.variable(tf.zeros([1]), true));
  let critic: Params | undefined;
  if (cfg.value_model === 'separate') {
    critic = {};
    for (const [k, t] of Object.entries(ref)) critic[k] = vars[`critic.${k}`] = tf.variable(t, true);
  }
  const valueHidden = (b: QueryResponseBatch, polHidden: Tensor3D): Tensor3D => {
    if (!critic) return polHidden;
    const { hidden } = forward(critic, mcfg, tf.tensor2d(b.ids, [b.B, b.Q + b.R], 'int32'), { attentionMask: tf.tensor2d(b.mask, [b.B, b.Q + b.R]) });
    return hidden.slice([0, b.Q - 1, 0], [b.B, b.R, mcfg.n_embd]) as Tensor3D;
  };

  const opt = new Adam({ lr: cfg.lr, eps: cfg.adam_eps, maxGradNorm: cfg.max_grad_norm });
  const loop = openTrainingLoop({ stage, outDir, vars, opt, total: cfg.iterations, checkpointEvery: cfg.checkpoint_every, resume: opts.resume });
  // Resumable state besides the tensors: the RNG, β's controller, the probe curve, the reward normalisation.
  const saved = loop.resumed;
  const extra = saved?.extra as { kl: KLControllerState; probes?: ProbePoint[]; rewardMeans?: number[]; gain?: number; bias?: number } | undefined;
  const kl: KLController = extra
    ? klControllerFromState(extra.kl)
    : cfg.adaptive_kl
      ? new AdaptiveKLController(cfg.init_kl_coef, cfg.target_kl, cfg.kl_horizon)
      : new FixedKLController(cfg.init_kl_coef);
  const rng = saved ? Rng.fromState(saved.rng) : new Rng(`${opts.seed}:ppo`);
  const probes: ProbePoint[] = extra?.probes ?? [];
  const rewardMeans: number[] = extra?.rewardMeans ?? [];
  const encode = (p: PromptRecord) => tok.encode(p.prompt);

  if (saved) {
    scorer.gain = extra?.gain ?? 1;
    scorer.bias = extra?.bias ?? 0;
    info(`${stage}: resumed at iteration ${loop.step}, β = ${kl.value.toPrecision(4)}`);
  } else if (cfg.reward_norm) {
    normaliseOnReference(scorer, ref, policy, opts.prompts.map(encode), { samples: cfg.reward_norm_samples, responseLength: cfg.response_length, temperature: T, rng });
    info(`${stage}: reward normalisation gain ${scorer.gain.toPrecision(4)}, bias ${scorer.bias.toPrecision(4)}`);
  }

  // --- probes: the one-answer prompt's exact distribution, π* and the held-out reward ---
  const refNumbers = numberScores(policy, ref, cfg.number_prompt, { temperature: T });
  const numberRewards = numberAnswerRewards(policy, scorer, cfg.number_prompt, refNumbers.candidates);
  /**
   * π*(n) ∝ π_ref(n)·exp(r(n)/β) over the number answers (metrics/optimum.ts). π_ref(n) is the
   * probability of answering n in any ending (numberScores); r(n) is the score PPO optimises
   * (gain·R + bias) of the canonical answer "n" + EOS, so answers that differ only in their ending
   * share one reward.
   */
  const optimum = (beta: number): number[] => klRegularisedOptimum(refNumbers.logprobs, numberRewards, beta);
  const heldout = opts.heldout.slice(0, cfg.heldout_prompts);
  const heldoutIds = heldout.map(encode);
  const probe = (at: number): ProbePoint => ({
    iteration: at,
    beta: kl.value,
    ...numberProbe(policy, pol, cfg.number_prompt, T, optimum(kl.value), refNumbers.dist.probs),
    heldout_reward: heldoutReward(policy, pol, scorer, heldoutIds, { maxNewTokens: cfg.response_length, temperature: T, seed: opts.seed }),
  });
  const probeRecord = probeMetrics;
  if (loop.step === 0) {
    // The starting point of every probe curve (the policy is still the reference), as step 0.
    probes.push(probe(0));
    loop.logger.log(0, probeRecord(probes[0]));
  }

  const time = { generation: 0, scoring: 0, optimization: 0 };
  const tokens = { generation: 0, scoring: 0, optimization: 0 };
  let lastKL = NaN;
  const t0 = Date.now();
  try {
    await loop.run(async (iteration) => {
      // 1. rollout
      let t = Date.now();
      const idx = Array.from({ length: cfg.batch_size }, () => rng.int(opts.prompts.length));
      const queries = idx.map((i) => encode(opts.prompts[i]));
      const gen = generate(pol, mcfg, queries, { maxNewTokens: cfg.response_length, temperature: T, eosId: tok.eosId, padId: tok.padId, rng });
      const responses = gen.tokens;
      time.generation += (Date.now() - t) / 1000;
      tokens.generation += responses.reduce((a, r) => a + r.length, 0);

      // 2. score: reward model, then old log-probs, values and reference log-probs on the same tokens
      t = Date.now();
      const scores = scorer.score(queries, responses).map((s, i) => (cfg.missing_eos_penalty !== null && !gen.finished[i] ? s - cfg.missing_eos_penalty : s));
      assertFinite(stage, iteration + 1, { [M.rewardMean]: mean(scores) });
      const batch = packQueryResponse(queries, responses, tok.padId);
      const B = batch.B;
      const R = batch.R;
      const roll = tf.tidy(() => {
        const p = responseLogProbs(pol, mcfg, batch, T, { entropy: true });
        const v = values(valueHidden(batch, p.hidden), vars[V_W], vars[V_B]);
        const r = responseLogProbs(ref, mcfg, batch, T);
        const mask = tf.tensor2d(batch.responseMask, [B, R]);
        // 3. rewards  4. GAE
        const asm = assembleRewards(tf.tensor1d(scores), p.logprobs, r.logprobs, mask, kl.value, cfg.kl_estimator);
        const rw = cfg.whiten_rewards ? maskedWhiten(asm.rewards, mask, false) : asm.rewards;
        const { advantages, returns } = gae(rw, v, mask, cfg.gamma, cfg.lam);
        return {
          logprobs: p.logprobs,
          entropy: p.entropy!,
          values: tf.mul(v, mask) as Tensor2D,
          mask,
          klTok: asm.kl,
          nonScore: tf.sum(asm.nonScoreReward, 1),
          // Whitened by default (TRL, lm-human-preferences, CleanRL's norm_adv). Off, the step shrinks as
          // the policy nears π*: there every answer's KL-regularised return is the same, and whitening
          // would blow what is left (noise) up to unit variance, a random walk away from π*.
          advantages: cfg.whiten_advantages ? maskedWhiten(advantages, mask) : (tf.mul(advantages, mask) as Tensor2D),
          returns,
          meanKL: meanSequenceKL(asm.kl, mask),
        };
      });
      time.scoring += (Date.now() - t) / 1000;
      tokens.scoring += 3 * B * (batch.Q + R);

      // 5. optimise: ppo_epochs × minibatches
      t = Date.now();
      const lr = scheduledLr(cfg.lr, iteration, cfg.iterations, { schedule: cfg.lr_schedule });
      const stats = { pg: [] as number[], vf: [] as number[], clip: [] as number[], vclip: [] as number[], approxkl: [] as number[], entropy: [] as number[], ratio: [] as number[] };
      for (let epoch = 0; epoch < cfg.ppo_epochs; epoch++) {
        const perm = rng.shuffle(Array.from({ length: B }, (_, i) => i));
        for (let m = 0; m < B; m += cfg.mini_batch_size) {
          const rows = perm.slice(m, m + cfg.mini_batch_size);
          const mb = subBatch(batch, rows);
          const sel = tf.tensor1d(rows, 'int32');
          const pick = (x: Tensor2D) => tf.gather(x, sel) as Tensor2D;
          const kept: Record<string, Scalar> = {};
          const { value, grads } = valueAndGrads(vars, () => {
            const mask = pick(roll.mask);
            const p = responseLogProbs(pol, mcfg, mb, T, { entropy: true });
            const vpred = values(valueHidden(mb, p.hidden), vars[V_W], vars[V_B]);
            const pl = policyLoss(p.logprobs, pick(roll.logprobs), pick(roll.advantages), mask, cfg.cliprange);
            const vl = valueLoss(vpred, pick(roll.values), pick(roll.returns), mask, cfg.cliprange_value);
            for (const [k, s] of Object.entries({ pg: pl.loss, vf: vl.loss, clip: pl.clipfrac, vclip: vl.clipfrac, approxkl: pl.approxkl, ratio: pl.ratioMean }))
              kept[k] = tf.keep(s);
            kept.entropy = tf.keep(maskedMean(p.entropy!, mask) as Scalar);
            return tf.add(pl.loss, tf.mul(cfg.vf_coef, vl.loss)) as Scalar;
          });
          const loss = value.dataSync()[0];
          assertFinite(stage, iteration + 1, { loss });
          opt.apply(vars, grads, lr);
          for (const [k, s] of Object.entries(kept)) (stats as Record<string, number[]>)[k].push(s.dataSync()[0]);
          tf.dispose([value, sel, ...Object.values(grads), ...Object.values(kept)]);
        }
      }
      time.optimization += (Date.now() - t) / 1000;
      tokens.optimization += cfg.ppo_epochs * B * (batch.Q + R);

      // 6. β
      const meanKL = roll.meanKL.dataSync()[0];
      const beta = kl.value;
      kl.update(meanKL, B);
      lastKL = meanKL;
      const done = iteration + 1;

      // metrics (TRL names)
      const logp = roll.logprobs.arraySync() as number[][];
      const ent = roll.entropy.arraySync() as number[][];
      const samples = responses.map((r, i) => ({ prompt_id: opts.prompts[idx[i]].id, token_ids: r, logprobs: logp[i].slice(0, r.length), entropies: ent[i].slice(0, r.length) }));
      const om = outputMetrics(samples, mcfg.vocab_size, tok.eosId);
      const nonScore = roll.nonScore.dataSync() as Float32Array;
      const evT = explainedVariance(roll.values, roll.returns, roll.mask);
      const ev = evT.dataSync()[0];
      evT.dispose();
      const h = histogram(scores, { lo: Math.min(...scores), hi: Math.max(...scores) + 1e-9, bins: 20 });
      rewardMeans.push(mean(scores));
      const rec: Record<string, number | string | null> = {
        // the reward histogram of this batch, as a JSON string (metrics values are flat)
        [M.rewardHist]: JSON.stringify({ edges: h.edges.map((e) => +e.toFixed(5)), counts: h.counts }),
        [M.kl]: meanKL,
        [M.klCoef]: beta,
        [M.entropy]: mean(samples.map((s) => -s.logprobs.reduce((a, b) => a + b, 0))),
        [M.nonScoreReward]: mean(Array.from(nonScore)),
        [M.rlhfReward]: mean(scores.map((s, i) => s + nonScore[i])),
        [M.policyEntropy]: mean(stats.entropy),
        [M.approxKl]: mean(stats.approxkl),
        [M.clipFrac]: mean(stats.clip),
        [M.ratioMean]: mean(stats.ratio),
        [M.policyLoss]: mean(stats.pg),
        [M.valueLoss]: mean(stats.vf),
        [M.valueClipFrac]: mean(stats.vclip),
        [M.varExplained]: ev,
        [M.rewardMean]: mean(scores),
        [M.rewardStd]: std(scores),
        [M.eosFraction]: gen.finished.filter(Boolean).length / B,
        [M.responseLength]: om.mean_length,
        lr,
        ...outputMetricsFlat(om),
        [M.timeGeneration]: time.generation,
        [M.timeScoring]: time.scoring,
        [M.timeOptimization]: time.optimization,
        [M.tokensPerSecondGeneration]: tokens.generation / Math.max(time.generation, 1e-9),
        [M.tokensPerSecondScoring]: tokens.scoring / Math.max(time.scoring, 1e-9),
        [M.tokensPerSecondOptimization]: tokens.optimization / Math.max(time.optimization, 1e-9),
      };
      tf.dispose(Object.values(roll));
      if (done % cfg.probe_every === 0 || done === cfg.iterations) {
        const pp = probe(done);
        probes.push(pp);
        Object.assign(rec, probeRecord(pp));
      }
      return { record: rec, progress: { reward: mean(scores), kl: meanKL, beta: kl.value } };
    }, () => ({ position: { iteration: loop.step }, rng: rng.state(), extra: { kl: kl.state(), probes, gain: scorer.gain, bias: scorer.bias, rewardMeans } }));
  } finally {
    loop.close();
  }
  const iteration = loop.step;

  const seconds = (Date.now() - t0) / 1000;
  const finalPolicy = numberScores(policy, pol, cfg.number_prompt, { temperature: T });
  const result: PPOResult = {
    iterations: iteration,
    seconds,
    time,
    tokens_per_second: {
      generation: tokens.generation / Math.max(time.generation, 1e-9),
      scoring: tokens.scoring / Math.max(time.scoring, 1e-9),
      optimization: tokens.optimization / Math.max(time.optimization, 1e-9),
    },
    reward: { start: rewardMeans[0] ?? NaN, end: rewardMeans[rewardMeans.length - 1] ?? NaN },
    heldout_reward: { start: probes[0]?.heldout_reward ?? NaN, end: probes[probes.length - 1]?.heldout_reward ?? NaN },
    kl: { mean_last: lastKL, target: cfg.adaptive_kl ? cfg.target_kl : null, beta_final: kl.value },
    probes,
    numbers: { candidates: refNumbers.candidates, reference: Array.from(refNumbers.dist.probs), policy: Array.from(finalPolicy.dist.probs), optimum: optimum(kl.value) },
    objective: { beta: kl.value, reward_model: scorer.model.source, gain: scorer.gain, bias: scorer.bias, temperature: T, adaptive_kl: cfg.adaptive_kl },
  };
  writeJsonAtomic(path.join(outDir, 'summary.json'), result);
  const heads: Params = { [V_W]: vars[V_W], [V_B]: vars[V_B] };
  await saveModel(path.join(outDir, 'model'), { ...policy, params: pol, heads: critic ? {} : heads, rlhf: { ...policy.rlhf, ppo: { value_model: cfg.value_model } } });
  if (critic) await saveModel(path.join(outDir, 'critic'), { ...policy, params: critic, heads, rlhf: { value_head: true } });
  tf.dispose(Object.values(vars));
  opt.dispose();
  return result;
}
