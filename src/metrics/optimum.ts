/**
 * The KL-regularised optimum. PPO with a KL penalty maximises E_π[r] − β·KL(π ‖ π_ref), whose
 * maximiser over all policies is
 *
 *     π*(y) = π_ref(y)·exp(r(y)/β) / Z
 *
 * (Ziegler et al. 2019; "RL with KL penalties is better viewed as Bayesian inference", Korbak et
 * al. 2022). For an answer set small enough to enumerate (the numbers 0–99) it is computed exactly,
 * and a policy tuned with that β should approach it. r must be the reward the policy was tuned on:
 * with reward normalisation that is gain·R + bias, not the reward model's raw R (the bias cancels
 * in Z; the gain does not).
 */

/** The reward a PPO run optimised, as a function of the reward model's raw score. */
export interface OptimisedReward {
  /** Reward normalisation (lm-human-preferences): r = gain·R + bias; 1 and 0 when off. */
  gain: number;
  bias: number;
}

export function optimisedReward(raw: number, r: OptimisedReward): number {
  return r.gain * raw + r.bias;
}

/**
 * π* over an enumerated answer set, from the reference's log-probabilities of the answers and
 * their rewards. As β → 0 the optimum is the reference restricted to the best-rewarded answers;
 * β = 0 gives exactly that limit (the answers of maximal reward among those the reference can
 * give, in proportion to π_ref).
 */
export function klRegularisedOptimum(refLogProbs: ArrayLike<number>, rewards: ArrayLike<number>, beta: number): number[] {
  if (refLogProbs.length !== rewards.length) throw new Error(`π*: ${refLogProbs.length} log-probabilities but ${rewards.length} rewards`);
  if (!(beta >= 0) || !Number.isFinite(beta)) throw new Error(`π*: β must be a finite number ≥ 0, got ${beta}`);
  const n = refLogProbs.length;
  let z: number[];
  if (beta === 0) {
    let best = -Infinity;
    for (let i = 0; i < n; i++) if (refLogProbs[i] > -Infinity) best = Math.max(best, rewards[i]);
    z = Array.from({ length: n }, (_, i) => (rewards[i] === best ? refLogProbs[i] : -Infinity));
  } else z = Array.from({ length: n }, (_, i) => refLogProbs[i] + rewards[i] / beta);
  // Normalised in log space: exp(r/β) overflows for small β.
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/**
 * π* of DPO's implicit reward r(y) = β·(log π(y) − log π_ref(y)) over an enumerated answer set:
 *     π*(n) ∝ π_ref(n)·exp(r(n)/β) = π_ref(n)·π(n̂)/π_ref(n̂)
 * β cancels: over whole responses π* IS the DPO policy. refLogProbs are the reference's
 * log-probabilities of the answers as the probe counts them (n with any ending); the implicit
 * reward is taken at the canonical response n̂ = "n" + EOS (policyAnswerLogProbs,
 * refAnswerLogProbs), as π* of a reward model scores "n" + EOS. So π* differs from the policy's
 * own distribution only where tuning changed how answers end.
 */
export function implicitRewardOptimum(refLogProbs: ArrayLike<number>, policyAnswerLogProbs: ArrayLike<number>, refAnswerLogProbs: ArrayLike<number>): number[] {
  if (policyAnswerLogProbs.length !== refAnswerLogProbs.length) throw new Error(`π* of the implicit reward: ${policyAnswerLogProbs.length} policy but ${refAnswerLogProbs.length} reference log-probabilities`);
  const r = Array.from(policyAnswerLogProbs, (lp, i) => lp - refAnswerLogProbs[i]);
  return klRegularisedOptimum(refLogProbs, r, 1);
}
