/**
 * The mathematics of GRPO (Shao et al. 2024, DeepSeekMath) and RLOO (Ahmadian et al. 2024), as TRL's
 * GRPOTrainer and RLOOTrainer compute it (TRL 1.16; test/fixtures/trl-grpo-rloo-dpo.json pins it
 * down number for number, scripts/make_trl_grpo_rloo_dpo_fixture.py).
 *
 * Both sample k completions per prompt and use the other completions of the same prompt (the
 * "group") as the baseline instead of a learned value function:
 *
 *   GRPO  Aᵢ = (rᵢ − mean_group r) / (std_group r + 1e-4)                 (scale_rewards "group")
 *         loss per token: −min(ρₜ·Aᵢ, clip(ρₜ, 1 − ε_low, 1 + ε_high)·Aᵢ) + β·k3ₜ
 *         k3ₜ = π_ref/π − log(π_ref/π) − 1 ≥ 0 of the CURRENT policy: the KL is a term of the loss
 *   RLOO  rᵢ ← rᵢ − β·Σₜ (log π_old − log π_ref)ₜ                          the KL is part of the reward
 *         Aᵢ = rᵢ − (1/(k − 1))·Σ_{j ≠ i} rⱼ                                leave-one-out baseline
 *         loss per sequence: −min(ρᵢ·Aᵢ, clip(ρᵢ)·Aᵢ),  ρᵢ = exp(Σₜ log π − Σₜ log π_old)
 *
 * Shapes as in ppo/math.ts: B completions of T tokens, [B, T] float32 over the completion tokens,
 * `mask` 1 on real tokens. Completions are grouped consecutively: rows g·k … g·k + k − 1 are the
 * k completions of prompt g (TRL's RepeatSampler order). Advantages are computed on the host in
 * float64 (B numbers); losses are tfjs functions, differentiable in the new log-probabilities.
 *
 * Memory: every tensor function runs in tf.tidy and returns new tensors; inputs are never disposed.
 */
import { tf, Tensor1D, Tensor2D } from '../backend/tf';

export type Scalar = ReturnType<typeof tf.scalar>;

/** Added to the standard deviation before dividing (TRL GRPOTrainer / RLOOTrainer). */
export const STD_EPS = 1e-4;

/** How GRPO scales the centred rewards (TRL `scale_rewards`). */
export type ScaleRewards = 'group' | 'batch' | 'none';
/** How GRPO averages the per-token losses (TRL `loss_type`). */
export type GrpoLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';

// ─── Host statistics ──────────────────────────────────────────────────────────────────────────

function meanOf(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Unbiased standard deviation (n − 1), NaN for fewer than two values: TRL's nanstd. */
export function unbiasedStd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = meanOf(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** torch.isclose(std, 0) with its default tolerances: |std| ≤ 1e-8. */
function isZero(x: number): boolean {
  return Math.abs(x) <= 1e-8;
}

function groups(rewards: readonly number[], k: number): number[][] {
  if (!Number.isInteger(k) || k < 1) throw new Error(`group advantages: k must be a positive integer, got ${k}`);
  if (rewards.length % k !== 0) throw new Error(`group advantages: ${rewards.length} rewards are not whole groups of k = ${k}`);
  const out: number[][] = [];
  for (let i = 0; i < rewards.length; i += k) out.push(rewards.slice(i, i + k));
  return out;
}

export interface GroupAdvantages {
  /** One advantage per completion. */
  advantages: number[];
  /** The standard deviation each advantage was divided by (per completion; NaN where undefined). */
  std: number[];
  /** Share of completions (= of groups) whose group's rewards were all equal (TRL `frac_reward_zero_std`). */
  fracZeroStd: number;
}

/**
 * GRPO's group-relative advantages (TRL: "sum_then_normalize" with one reward function):
 *   Aᵢ = rᵢ − mean(group of i)
 *   "group": Aᵢ / (std(group of i) + 1e-4);  "batch": Aᵢ / (std(all rewards) + 1e-4);  "none": Aᵢ
 * std is unbiased. A group whose rewards are all equal has Aᵢ = 0 (it carries no signal). k = 1 has
 * no group to compare with: every advantage is 0.
 */
export function grpoAdvantages(rewards: readonly number[], k: number, scale: ScaleRewards): GroupAdvantages {
  const gs = groups(rewards, k);
  const means = gs.flatMap((g) => g.map(() => meanOf(g)));
  let std: number[];
  if (scale === 'batch') std = rewards.map(() => (rewards.length > 1 ? unbiasedStd(rewards) : 0));
  else std = gs.flatMap((g) => g.map(() => (k > 1 ? unbiasedStd(g) : 0)));
  const advantages = rewards.map((r, i) => {
    const a = r - means[i];
    const scaled = scale === 'none' ? a : a / (std[i] + STD_EPS);
    return Number.isNaN(scaled) ? 0 : scaled; // torch.nan_to_num
  });
  return { advantages, std, fracZeroStd: std.filter(isZero).length / std.length };
}

/**
 * RLOO's reward with the KL inside it: rᵢ − β·klᵢ, klᵢ = Σₜ (log π_old − log π_ref)ₜ over the
 * completion (k1, summed: the sequence's log-ratio, an unbiased estimate of KL(π ‖ π_ref)).
 */
export function rlooRewards(scores: readonly number[], sequenceKL: readonly number[], beta: number): number[] {
  if (scores.length !== sequenceKL.length) throw new Error(`rlooRewards: ${scores.length} scores but ${sequenceKL.length} KLs`);
  return scores.map((s, i) => (beta !== 0 ? s - beta * sequenceKL[i] : s));
}

/**
 * RLOO's leave-one-out advantages: Aᵢ = rᵢ − (Σ_group r − rᵢ)/(k − 1). With `normalize` (TRL
 * `normalize_advantages`), then (A − mean A)/(std A + 1e-4) over the whole batch. k = 1: all 0.
 */
export function rlooAdvantages(rewards: readonly number[], k: number, normalize: boolean): GroupAdvantages {
  const gs = groups(rewards, k);
  let advantages = gs.flatMap((g) => {
    const sum = g.reduce((a, b) => a + b, 0);
    return g.map((r) => (k > 1 ? r - (sum - r) / (k - 1) : 0));
  });
  if (normalize) {
    const m = meanOf(advantages);
    const s = unbiasedStd(advantages);
    advantages = advantages.map((a) => (a - m) / (s + STD_EPS));
  }
  advantages = advantages.map((a) => (Number.isNaN(a) ? 0 : a));
  const std = gs.flatMap((g) => g.map(() => (k > 1 ? unbiasedStd(g) : 0)));
  return { advantages, std, fracZeroStd: gs.filter((g) => k > 1 && isZero(unbiasedStd(g))).length / gs.length };
}

// ─── Tensor helpers ───────────────────────────────────────────────────────────────────────────

/** Σ x·m / Σ m over everything (0/0 = NaN, as in TRL). */
export function maskedMean(x: Tensor2D, mask: Tensor2D): Scalar {
  return tf.tidy(() => tf.div(tf.sum(tf.mul(x, mask)), tf.sum(mask)) as Scalar);
}

/** Per row: Σₜ x·m / Σₜ m [B] (NaN for a row without real tokens). */
function rowMean(x: Tensor2D, mask: Tensor2D): Tensor1D {
  return tf.div(tf.sum(tf.mul(x, mask), 1), tf.sum(mask, 1)) as Tensor1D;
}

/** Min / max of a [B] tensor over the rows where `keep` is true (TRL's nanmin / nanmax over sequences). */
function minWhere(x: Tensor1D, keep: Tensor1D): Scalar {
  return tf.min(tf.where(keep, x, tf.fill(x.shape, Infinity))) as Scalar;
}
function maxWhere(x: Tensor1D, keep: Tensor1D): Scalar {
  return tf.max(tf.where(keep, x, tf.fill(x.shape, -Infinity))) as Scalar;
}

/**
 * Σₜ (a − b)·mask per row [B]: with a = log π_old, b = log π_ref, the sequence KL RLOO puts into
 * the reward; also the sampled sequence KL (k1) every stage logs as `objective/kl`.
 */
export function sequenceLogRatio(a: Tensor2D, b: Tensor2D, mask: Tensor2D): Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(tf.sub(a, b), mask), 1) as Tensor1D);
}

/**
 * k3ₜ = exp(log π_ref − log π) − (log π_ref − log π) − 1 (Schulman's estimator, ≥ 0), as GRPO
 * writes it. (ppo/math.ts has the same estimator for PPO; stages do not share code, so it is here too.)
 */
export function k3(logp: Tensor2D, refLogp: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    const d = tf.sub(refLogp, logp);
    return tf.sub(tf.sub(tf.exp(d), d), 1) as Tensor2D;
  });
}

/** Clip statistics of a ratio, TRL's names: low = ρ < 1 − ε_low with A < 0, high = ρ > 1 + ε_high with A > 0. */
export interface ClipStats {
  /** `clip_ratio/low_mean` */
  lowMean: Scalar;
  /** `clip_ratio/high_mean` */
  highMean: Scalar;
  /** `clip_ratio/region_mean` */
  regionMean: Scalar;
  /** `clip_ratio/low_min`: the smallest per-sequence share */
  lowMin: Scalar;
  /** `clip_ratio/high_max`: the largest per-sequence share */
  highMax: Scalar;
}

// ─── GRPO loss ────────────────────────────────────────────────────────────────────────────────

export interface GrpoLossOptions {
  lossType: GrpoLossType;
  /** KL coefficient β (0: no reference needed, no KL term). */
  beta: number;
  epsilonLow: number;
  epsilonHigh: number;
  /** TRL `use_bias_correction_kl`: multiply k3 by ρ (the gradient is then that of KL(π ‖ π_ref) on π_old's samples). */
  klBiasCorrection: boolean;
  /** dr_grpo divides by B·max_completion_length. */
  maxCompletionLength: number;
  /** dapo divides by (real tokens of the whole generation batch) / (optimiser steps per generation batch). */
  tokensInGenerationBatch?: number;
  stepsPerGeneration?: number;
}

export interface GrpoLossResult extends ClipStats {
  /** The loss, differentiable in newLogp. */
  loss: Scalar;
  /** Masked mean of the per-token KL term (TRL `kl`); undefined when β = 0. */
  kl?: Scalar;
}

/**
 * GRPO's loss (TRL GRPOTrainer._compute_loss, importance sampling per token):
 *   ρₜ = exp(log π − log π_old)
 *   ℓₜ = −min(ρₜ·Aᵢ, clip(ρₜ, 1 − ε_low, 1 + ε_high)·Aᵢ) + β·k3ₜ      (k3ₜ·ρₜ with the bias correction)
 *   grpo:    mean over sequences of (Σₜ ℓₜ·m / Σₜ m)              (the DeepSeekMath paper's average)
 *   bnpo:    Σ ℓ·m / Σ m over the batch
 *   dr_grpo: Σ ℓ·m / (B · max_completion_length)                  (Dr. GRPO: no length normalisation)
 *   dapo:    Σ ℓ·m / (tokens of the generation batch / steps per generation batch)
 * newLogp, oldLogp, refLogp, mask [B, T]; advantages [B].
 */
export function grpoLoss(
  newLogp: Tensor2D,
  oldLogp: Tensor2D,
  refLogp: Tensor2D | null,
  advantages: Tensor1D,
  mask: Tensor2D,
  o: GrpoLossOptions,
): GrpoLossResult {
  return tf.tidy(() => {
    const [B] = newLogp.shape;
    const A = tf.expandDims(advantages, 1);
    const ratio = tf.exp(tf.sub(newLogp, oldLogp));
    const clipped = tf.clipByValue(ratio, 1 - o.epsilonLow, 1 + o.epsilonHigh);
    let perToken = tf.neg(tf.minimum(tf.mul(ratio, A), tf.mul(clipped, A)));
    let kl: Scalar | undefined;
    if (o.beta !== 0) {
      if (!refLogp) throw new Error('grpoLoss: β ≠ 0 needs the reference log-probabilities');
      let klTok = k3(newLogp, refLogp) as Tensor2D;
      if (o.klBiasCorrection) klTok = tf.mul(klTok, ratio) as Tensor2D;
      perToken = tf.add(perToken, tf.mul(klTok, o.beta));
      kl = maskedMean(klTok, mask);
    }
    const masked = tf.mul(perToken, mask);
    let loss: Scalar;
    switch (o.lossType) {
      case 'grpo':
        loss = tf.mean(tf.div(tf.sum(masked, 1), tf.maximum(tf.sum(mask, 1), 1))) as Scalar;
        break;
      case 'bnpo':
        loss = tf.div(tf.sum(masked), tf.maximum(tf.sum(mask), 1)) as Scalar;
        break;
      case 'dr_grpo':
        loss = tf.div(tf.sum(masked), B * o.maxCompletionLength) as Scalar;
        break;
      case 'dapo': {
        if (!(o.tokensInGenerationBatch! > 0) || !(o.stepsPerGeneration! > 0)) throw new Error('grpoLoss: dapo needs tokensInGenerationBatch and stepsPerGeneration');
        loss = tf.div(tf.sum(masked), Math.max(o.tokensInGenerationBatch!, 1) / o.stepsPerGeneration!) as Scalar;
        break;
      }
      default:
        throw new Error(`grpoLoss: unknown loss type '${String(o.lossType)}' (expected grpo, bnpo, dr_grpo or dapo)`);
    }
    // Clip statistics over tokens (TRL: global masked means; min/max over per-sequence means).
    const low = tf.cast(tf.logicalAnd(tf.less(ratio, 1 - o.epsilonLow), tf.less(A, 0)), 'float32') as Tensor2D;
    const high = tf.cast(tf.logicalAnd(tf.greater(ratio, 1 + o.epsilonHigh), tf.greater(A, 0)), 'float32') as Tensor2D;
    const region = tf.maximum(low, high) as Tensor2D;
    const hasTokens = tf.greater(tf.sum(mask, 1), 0) as Tensor1D;
    return {
      loss,
      kl,
      lowMean: maskedMean(low, mask),
      highMean: maskedMean(high, mask),
      regionMean: maskedMean(region, mask),
      lowMin: minWhere(rowMean(low, mask), hasTokens),
      highMax: maxWhere(rowMean(high, mask), hasTokens),
    };
  });
}

// ─── RLOO loss ────────────────────────────────────────────────────────────────────────────────

export interface RlooLossResult extends ClipStats {
  loss: Scalar;
}

/**
 * RLOO's loss (TRL RLOOTrainer._compute_loss): one ratio per SEQUENCE,
 *   ρᵢ = exp(Σₜ log π·m − old_logpsᵢ),  ℓᵢ = −min(ρᵢ·Aᵢ, clip(ρᵢ, 1 − ε_low, 1 + ε_high)·Aᵢ),  loss = mean ℓᵢ
 * (REINFORCE with the leave-one-out baseline when updates stay on-policy: ρ = 1, ∇ρ = ∇ log π(y)).
 * newLogp, mask [B, T]; oldSeqLogp = Σₜ log π_old·m [B]; advantages [B].
 */
export function rlooLoss(newLogp: Tensor2D, oldSeqLogp: Tensor1D, advantages: Tensor1D, mask: Tensor2D, epsilonLow: number, epsilonHigh: number): RlooLossResult {
  return tf.tidy(() => {
    const logps = tf.sum(tf.mul(newLogp, mask), 1);
    const ratio = tf.exp(tf.sub(logps, oldSeqLogp));
    const clipped = tf.clipByValue(ratio, 1 - epsilonLow, 1 + epsilonHigh);
    const loss = tf.mean(tf.neg(tf.minimum(tf.mul(ratio, advantages), tf.mul(clipped, advantages)))) as Scalar;
    const low = tf.cast(tf.logicalAnd(tf.less(ratio, 1 - epsilonLow), tf.less(advantages, 0)), 'float32') as Tensor1D;
    const high = tf.cast(tf.logicalAnd(tf.greater(ratio, 1 + epsilonHigh), tf.greater(advantages, 0)), 'float32') as Tensor1D;
    return {
      loss,
      lowMean: tf.mean(low) as Scalar,
      highMean: tf.mean(high) as Scalar,
      regionMean: tf.mean(tf.maximum(low, high)) as Scalar,
      lowMin: tf.min(low) as Scalar,
      highMax: tf.max(high) as Scalar,
    };
  });
}
