/**
 * The PPO-with-KL-penalty mathematics (Ziegler et al. 2019, lm-human-preferences, TRL), as pure
 * functions on tfjs tensors.
 *
 * Shapes: B responses of T tokens. Every per-token tensor is [B, T] float32 over the RESPONSE
 * tokens only: position t holds the quantity for the t-th generated token. `mask` is a float
 * [B, T] tensor, 1 on real response tokens, 0 on padding. Scores are [B].
 *
 * Conventions. These follow the classic TRL PPOTrainer (TRL ≤ 0.11: `compute_rewards`,
 * `compute_advantages`, `loss`, `trl.core.masked_*`), which test/fixtures/trl-ppo.json pins down
 * number for number (scripts/make_trl_ppo_fixture.py):
 *   - one mask for everything: rewards, advantages, losses and statistics all use `mask`;
 *   - the score goes to the LAST real token of each row;
 *   - GAE runs over all T positions with rewards and values multiplied by the mask, V_T = 0;
 *   - returns = advantages + values, taken BEFORE the advantages are whitened;
 *   - every mean is a masked mean over all real tokens of the batch; variances are unbiased.
 * Where we differ from TRL 0.11, or where TRL and lm-human-preferences differ, the function's
 * comment says so.
 *
 * Memory: every function runs in tf.tidy and returns new tensors; inputs are never disposed.
 * The caller disposes what it gets back. Scalars come back as tensors (no GPU→CPU sync), so
 * the losses can be differentiated: inside tf.variableGrads, tf.keep() any statistic you want
 * to read after the gradient call.
 */
import { tf, Tensor, Tensor1D, Tensor2D } from '../backend/tf';

export type Scalar = ReturnType<typeof tf.scalar>;

/** Which per-token KL estimator to use (http://joschu.net/blog/kl-approx.html). */
export type KLEstimator = 'k1' | 'k3';

/** Variance floor in whitening, as TRL and lm-human-preferences: (x − μ) / sqrt(σ² + 1e-8). */
const WHITEN_EPS = 1e-8;

// ─── KL ──────────────────────────────────────────────────────────────────────────────────────

/**
 * Per-token KL estimate between the policy and the reference at the sampled tokens y_t ~ π:
 *   k1_t = log π(y_t) − log π_ref(y_t)                       (TRL 0.11 kl_penalty="kl", lm-h-p)
 *   k3_t = (r − 1) − log r,  r = π_ref(y_t) / π(y_t) = exp(log π_ref − log π)
 *                                                           (modern TRL kl_estimator="k3")
 * Both are unbiased for KL(π‖π_ref) summed over a sequence; k1 can be negative per token, k3 ≥ 0
 * always and has lower variance. Shapes: [B, T] → [B, T]. No mask is applied here.
 */
export function klPerToken(logp: Tensor2D, refLogp: Tensor2D, estimator: KLEstimator): Tensor2D {
  return tf.tidy(() => {
    if (estimator === 'k1') return tf.sub(logp, refLogp) as Tensor2D;
    if (estimator === 'k3') {
      const logr = tf.sub(refLogp, logp); // log r = log π_ref − log π  (TRL 0.19.1's exact line)
      return tf.sub(tf.sub(tf.exp(logr), 1), logr) as Tensor2D;
    }
    throw new Error(`klPerToken: unknown KL estimator '${String(estimator)}' (expected 'k1' or 'k3')`);
  });
}

/**
 * One-hot [B, T] of the last real token of each row: the largest t with mask[b, t] = 1
 * (TRL 0.11: `mask.nonzero()[-1]`). A row with no real token gets an all-zero row.
 */
export function lastTokenOneHot(mask: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    const [, T] = mask.shape;
    // mask·(t + 1) is largest at the last real token; argMax picks it (ties cannot happen).
    const positions = tf.range(1, T + 1, 1, 'float32');
    const last = tf.argMax(tf.mul(mask, positions), 1);
    // onehot[b, t] = [t = last_b], built by comparison rather than tf.oneHot, which refuses a depth
    // below 2: every response of a batch can be one token long (T = 1). The comparison is exact
    // (int32) on every backend; the mask zeroes rows without a real token.
    const hit = tf.equal(tf.expandDims(tf.range(0, T, 1, 'int32'), 0), tf.expandDims(last, 1));
    return tf.mul(tf.cast(hit, 'float32'), mask) as Tensor2D;
  });
}

export interface AssembledRewards {
  /** r_t = −β·kl_t, plus the score at the last real token; 0 on padding. [B, T] */
  rewards: Tensor2D;
  /** −β·kl_t on real tokens, 0 on padding (TRL's `non_score_reward`). [B, T] */
  nonScoreReward: Tensor2D;
  /** kl_t on real tokens, 0 on padding. [B, T] */
  kl: Tensor2D;
}

/**
 * Per-token rewards of the KL-penalised objective:
 *   kl_t = klPerToken(logp, refLogp)·mask_t
 *   r_t  = −β·kl_t + [t = last real token]·score
 *
 * TRL 0.11 `compute_rewards` leaves −β·kl of whatever log-probabilities sit at padded positions
 * (its `compute_advantages` multiplies by the mask afterwards); we zero them here, which is what
 * modern TRL achieves by filling padded log-probs with INVALID_LOGPROB. On real tokens the two
 * agree exactly. lm-human-preferences adds the score at the last position of its fixed-length
 * response instead (`rewards[:, -1] += scores`); with variable-length responses the last REAL
 * token is the one the reward model scored, as in TRL 0.11.
 *
 * scores [B], logp/refLogp/mask [B, T], beta the current KL coefficient.
 */
export function assembleRewards(
  scores: Tensor1D,
  logp: Tensor2D,
  refLogp: Tensor2D,
  mask: Tensor2D,
  beta: number,
  estimator: KLEstimator,
): AssembledRewards {
  return tf.tidy(() => {
    const kl = tf.mul(klPerToken(logp, refLogp, estimator), mask) as Tensor2D;
    const nonScoreReward = tf.mul(kl, -beta) as Tensor2D;
    const scoreAtLast = tf.mul(lastTokenOneHot(mask), tf.expandDims(scores, 1));
    const rewards = tf.add(nonScoreReward, scoreAtLast) as Tensor2D;
    return { rewards, nonScoreReward, kl };
  });
}

/**
 * KL of a batch as the controller and the `objective/kl` metric see it: summed over the real
 * tokens of each sequence, averaged over the sequences.  mean_b Σ_t kl[b,t]·mask[b,t]
 * (TRL 0.11 record_step_stats; modern TRL `kl.sum(1).mean()`).
 */
export function meanSequenceKL(kl: Tensor2D, mask: Tensor2D): Scalar {
  return tf.tidy(() => tf.mean(tf.sum(tf.mul(kl, mask), 1)) as Scalar);
}

// ─── Masked statistics ────────────────────────────────────────────────────────────────────────

/**
 * Masked mean, TRL's masked_mean:  Σ x·m / Σ m  over everything, or per row with axis = 1
 * (then [B]). An all-zero mask gives NaN (0/0), as in TRL.
 */
export function maskedMean(x: Tensor, mask: Tensor, axis?: number): Tensor {
  return tf.tidy(() => {
    if (axis === undefined) return tf.div(tf.sum(tf.mul(x, mask)), tf.sum(mask));
    return tf.div(tf.sum(tf.mul(x, mask), axis), tf.sum(mask, axis));
  });
}

/**
 * Masked variance, TRL's masked_var:  μ = maskedMean(x), σ² = maskedMean((x − μ)²),
 * times the Bessel correction n/(n − 1) with n = Σ m when unbiased (TRL's default).
 * Throws when the mask has fewer than 2 real entries for the unbiased variance (1 for the
 * biased one): TRL raises for n = 0 and divides by zero for n = 1; a NaN in the advantages
 * would silently spoil a whole PPO update. (This check reads Σ m back from the backend.)
 */
export function maskedVar(x: Tensor, mask: Tensor, unbiased = true): Scalar {
  return tf.tidy(() => {
    const nTensor = tf.sum(mask);
    const n = nTensor.dataSync()[0];
    const needed = unbiased ? 2 : 1;
    if (!(n >= needed)) {
      throw new Error(
        `maskedVar: the mask has ${n} real entries; the ${unbiased ? 'unbiased' : 'biased'} variance needs at least ${needed} (use a larger mini-batch)`,
      );
    }
    const mean = maskedMean(x, mask);
    const variance = maskedMean(tf.square(tf.sub(x, mean)), mask);
    if (!unbiased) return variance as Scalar;
    return tf.mul(variance, tf.div(nTensor, tf.sub(nTensor, 1))) as Scalar;
  });
}

/**
 * Masked whitening, TRL's masked_whiten:  (x − μ)·rsqrt(σ² + 1e-8) with μ and the unbiased σ²
 * over the real entries; with shiftMean = false the mean is added back, (x − μ)/σ + μ (used
 * for whitening rewards, whose level matters). Padded entries are transformed too, not zeroed,
 * exactly as in TRL 0.11; every loss masks them out. [B, T] → [B, T].
 */
export function maskedWhiten(x: Tensor2D, mask: Tensor2D, shiftMean = true): Tensor2D {
  return tf.tidy(() => {
    const mean = maskedMean(x, mask);
    const variance = maskedVar(x, mask);
    const whitened = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, WHITEN_EPS)));
    return (shiftMean ? whitened : tf.add(whitened, mean)) as Tensor2D;
  });
}

// ─── Generalised advantage estimation ─────────────────────────────────────────────────────────

export interface GAEResult {
  /** Â_t, NOT whitened (whiten with maskedWhiten(advantages, mask) before the policy loss). [B, T] */
  advantages: Tensor2D;
  /** R_t = Â_t + V_t (with V masked), the value-loss target, from the un-whitened advantages. [B, T] */
  returns: Tensor2D;
}

/**
 * GAE(γ, λ) (Schulman et al. 2016), TRL 0.11 compute_advantages without its final whitening:
 *   V ← V·mask,  r ← r·mask
 *   δ_t = r_t + γ·V_{t+1} − V_t        (V_T = 0: the episode ends with the response)
 *   Â_t = δ_t + γλ·Â_{t+1}             (Â_T = 0)
 *   R_t = Â_t + V_t
 * Padding after the last real token therefore has δ = 0, Â = 0, R = 0, and the last real token
 * bootstraps from V = 0. rewards, values, mask: [B, T].
 *
 * To whiten rewards first (TRL's whiten_rewards), pass maskedWhiten(rewards, mask, false): the
 * mask applied here zeroes the whitened padding again. (TRL 0.11 does not re-mask, so its
 * whitened padding rewards leak into the advantages of the real tokens before them; modern TRL
 * re-masks, as we do.)
 */
export function gae(rewards: Tensor2D, values: Tensor2D, mask: Tensor2D, gamma: number, lambda: number): GAEResult {
  return tf.tidy(() => {
    const [B, T] = rewards.shape;
    const v = tf.mul(values, mask) as Tensor2D;
    const r = tf.mul(rewards, mask) as Tensor2D;
    // V_{t+1}: shift the values one step left and append V_T = 0.
    const nextV = tf.concat([tf.slice(v, [0, 1], [B, T - 1]), tf.zeros([B, 1])], 1);
    const delta = tf.sub(tf.add(r, tf.mul(nextV, gamma)), v);
    // The backward recursion, one column at a time (T is a response length: tens of tokens).
    const deltas = tf.unstack(delta, 1);
    const adv: Tensor[] = new Array(T);
    let last: Tensor = tf.zeros([B]);
    for (let t = T - 1; t >= 0; t--) {
      last = tf.add(deltas[t], tf.mul(last, gamma * lambda));
      adv[t] = last;
    }
    const advantages = tf.stack(adv, 1) as Tensor2D;
    const returns = tf.add(advantages, v) as Tensor2D;
    return { advantages, returns };
  });
}

// ─── Losses ───────────────────────────────────────────────────────────────────────────────────

export interface PolicyLossResult {
  /** L^CLIP = maskedMean(max(−Â·ρ, −Â·clip(ρ, 1−ε, 1+ε))), differentiable in newLogp (`loss/policy`). */
  loss: Scalar;
  /** Fraction of real tokens where the clipped term is the larger one (`policy/clipfrac`). */
  clipfrac: Scalar;
  /** ½·maskedMean((log π − log π_old)²) (`policy/approxkl`). */
  approxkl: Scalar;
  /** maskedMean(log π_old − log π) (`policy/policykl`). */
  policykl: Scalar;
  /** Masked mean, min and max of ρ = exp(log π − log π_old) over real tokens. */
  ratioMean: Scalar;
  ratioMin: Scalar;
  ratioMax: Scalar;
}

/**
 * PPO's clipped surrogate (TRL 0.11 `loss`, CleanRL):
 *   ρ_t = exp(log π_θ(y_t) − log π_old(y_t))
 *   L   = maskedMean( max(−Â_t·ρ_t, −Â_t·clip(ρ_t, 1 − ε, 1 + ε)) )
 * approxkl follows TRL 0.11 (masked mean of ½·diff²); modern TRL takes the unmasked mean over
 * the whole [B, T] with padded diffs = 0, which shrinks it by the padding fraction. TRL's
 * ratio_threshold check (skip the batch when ratioMean > threshold) is the caller's to make.
 * All inputs [B, T]; advantages are the whitened ones.
 */
export function policyLoss(
  newLogp: Tensor2D,
  oldLogp: Tensor2D,
  advantages: Tensor2D,
  mask: Tensor2D,
  clipRange: number,
): PolicyLossResult {
  return tf.tidy(() => {
    const logRatio = tf.sub(newLogp, oldLogp);
    const ratio = tf.exp(logRatio);
    const pgLosses = tf.mul(tf.neg(advantages), ratio);
    const pgLosses2 = tf.mul(tf.neg(advantages), tf.clipByValue(ratio, 1 - clipRange, 1 + clipRange));
    const loss = maskedMean(tf.maximum(pgLosses, pgLosses2), mask) as Scalar;

    const clipfrac = maskedMean(tf.cast(tf.greater(pgLosses2, pgLosses), 'float32'), mask) as Scalar;
    const approxkl = tf.mul(maskedMean(tf.square(logRatio), mask), 0.5) as Scalar;
    const policykl = maskedMean(tf.neg(logRatio), mask) as Scalar;
    const real = tf.greater(mask, 0);
    const ratioMean = maskedMean(ratio, mask) as Scalar;
    const ratioMin = tf.min(tf.where(real, ratio, tf.fill(ratio.shape, Infinity))) as Scalar;
    const ratioMax = tf.max(tf.where(real, ratio, tf.fill(ratio.shape, -Infinity))) as Scalar;
    return { loss, clipfrac, approxkl, policykl, ratioMean, ratioMin, ratioMax };
  });
}

export interface ValueLossResult {
  /** ½·maskedMean(max((V − R)², (V_clip − R)²)), differentiable in vpred (`loss/value`, before vf_coef). */
  loss: Scalar;
  /** Fraction of real tokens where the clipped error is the larger one (`val/clipfrac`). */
  clipfrac: Scalar;
}

/**
 * Clipped value loss (TRL 0.11 `loss`, lm-human-preferences, CleanRL with clip_vloss):
 *   V_clip = clip(V_θ, V_old − ε_v, V_old + ε_v)
 *   L_V    = ½·maskedMean( max((V_θ − R)², (V_clip − R)²) )
 * The total PPO loss is policy + vf_coef·L_V; the coefficient is the caller's.
 * vpred: new predictions, oldValues: rollout values (masked), returns from gae; all [B, T].
 */
export function valueLoss(
  vpred: Tensor2D,
  oldValues: Tensor2D,
  returns: Tensor2D,
  mask: Tensor2D,
  clipRangeValue: number,
): ValueLossResult {
  return tf.tidy(() => {
    // TRL's clip_by_value: max(min(x, hi), lo), with per-element bounds.
    const vpredClipped = tf.maximum(
      tf.minimum(vpred, tf.add(oldValues, clipRangeValue)),
      tf.sub(oldValues, clipRangeValue),
    );
    const vfLosses1 = tf.square(tf.sub(vpred, returns));
    const vfLosses2 = tf.square(tf.sub(vpredClipped, returns));
    const loss = tf.mul(maskedMean(tf.maximum(vfLosses1, vfLosses2), mask), 0.5) as Scalar;
    const clipfrac = maskedMean(tf.cast(tf.greater(vfLosses2, vfLosses1), 'float32'), mask) as Scalar;
    return { loss, clipfrac };
  });
}

/**
 * Explained variance of the value head (`val/var_explained`), as TRL 0.11 computes it:
 *   1 − maskedMean((V − R)²) / maskedVar(R)        (unbiased variance of the returns)
 * 1 is perfect, 0 is no better than predicting the mean return, negative is worse.
 * CleanRL uses 1 − Var(R − V)/Var(R), which ignores a constant bias in V; TRL's form counts it.
 */
export function explainedVariance(values: Tensor2D, returns: Tensor2D, mask: Tensor2D): Scalar {
  return tf.tidy(() => {
    const error = maskedMean(tf.square(tf.sub(values, returns)), mask);
    return tf.sub(1, tf.div(error, maskedVar(returns, mask))) as Scalar;
  });
}
