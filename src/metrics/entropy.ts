/**
 * Entropy of next-token distributions, on plain arrays (no tfjs).
 *
 * Two measurements of the same quantity, reported side by side:
 * - exact: Hₜ = −Σᵥ p(v | y<t) log p(v | y<t), from the full logit vector at step t;
 * - sample estimate: −log p(yₜ | y<t) of the token actually sampled. Its expectation over yₜ is
 *   exactly Hₜ, so the mean over the sampled tokens estimates the mean exact entropy along the same
 *   trajectories. It needs only the log-probabilities, which PPO has anyway (TRL's
 *   `objective/entropy` is this estimate, summed over each sequence and averaged over the batch).
 *
 * All entropies are in nats.
 */

/** log Σᵢ exp(xᵢ), stable: m + log Σ exp(xᵢ − m) with m = max xᵢ. −Infinity entries are zero mass. */
export function logSumExp(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (Number.isNaN(x) || x === Infinity) throw new Error(`logSumExp: entry ${i} is ${x}`);
    if (x > m) m = x;
  }
  if (m === -Infinity) return -Infinity; // empty, or all entries have zero mass
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i] - m);
  return m + Math.log(s);
}

/** log softmax(x / T)ᵢ = xᵢ/T − logΣⱼ exp(xⱼ/T). */
export function logSoftmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  checkTemperature(temperature);
  const z = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) z[i] = logits[i] / temperature;
  const lse = logSumExp(z);
  if (lse === -Infinity) throw new Error('logSoftmax: every logit is -Infinity (no mass)');
  for (let i = 0; i < z.length; i++) z[i] -= lse;
  return z;
}

/** softmax(x / T), stable. */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  const lp = logSoftmax(logits, temperature);
  for (let i = 0; i < lp.length; i++) lp[i] = Math.exp(lp[i]);
  return lp;
}

/** log p(index) under softmax(logits / T): the log-probability of one sampled token. */
export function logProbFromLogits(logits: ArrayLike<number>, index: number, temperature = 1): number {
  if (!Number.isInteger(index) || index < 0 || index >= logits.length) {
    throw new Error(`logProbFromLogits: index ${index} outside [0, ${logits.length})`);
  }
  checkTemperature(temperature);
  const z = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) z[i] = logits[i] / temperature;
  return z[index] - logSumExp(z);
}

/**
 * Exact entropy of softmax(logits / T) from one row of logits, without forming p:
 * with zᵢ = logitᵢ/T, m = max z, eᵢ = exp(zᵢ − m), s = Σ eᵢ,
 *   H = −Σ pᵢ (zᵢ − log Z) = log s − (Σ eᵢ (zᵢ − m)) / s        (log Z = m + log s).
 * Masked logits (−Infinity) carry zero mass and are skipped (0·log 0 = 0, not NaN).
 * `offset`/`length` read a row of a flat [rows, vocab] buffer without copying.
 */
export function entropyFromLogits(
  logits: ArrayLike<number>,
  temperature = 1,
  offset = 0,
  length = logits.length - offset,
): number {
  checkTemperature(temperature);
  if (length <= 0) throw new Error('entropyFromLogits: empty logits');
  let m = -Infinity;
  for (let i = 0; i < length; i++) {
    const x = logits[offset + i];
    if (Number.isNaN(x) || x === Infinity) throw new Error(`entropyFromLogits: logit ${i} is ${x}`);
    if (x > m) m = x;
  }
  if (m === -Infinity) throw new Error('entropyFromLogits: every logit is -Infinity (no mass)');
  m /= temperature;
  let s = 0;
  let w = 0;
  for (let i = 0; i < length; i++) {
    const d = logits[offset + i] / temperature - m; // ≤ 0
    if (d === -Infinity) continue;
    const e = Math.exp(d);
    s += e;
    w += e * d;
  }
  // Clamp the tiny negative values rounding can give for a one-hot distribution.
  return Math.max(0, Math.log(s) - w / s);
}

/** Exact entropy of each row of a flat row-major [rows, vocab] logits buffer (e.g. tf dataSync()). */
export function entropyFromLogitsRows(
  logits: ArrayLike<number>,
  vocab: number,
  temperature = 1,
): Float64Array {
  if (!Number.isInteger(vocab) || vocab <= 0 || logits.length % vocab !== 0) {
    throw new Error(`entropyFromLogitsRows: length ${logits.length} is not a multiple of vocab ${vocab}`);
  }
  const rows = logits.length / vocab;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = entropyFromLogits(logits, temperature, r * vocab, vocab);
  return out;
}

/**
 * Entropy H(p) = −Σ pᵢ log pᵢ of a probability vector (0·log 0 = 0).
 * With `normalize`, p is divided by its sum first (for unnormalised weights); otherwise p is used
 * as given, so a vector that does not sum to 1 gives the plain sum, not an entropy.
 */
export function entropyFromProbs(probs: ArrayLike<number>, opts: { normalize?: boolean } = {}): number {
  let total = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (!(p >= 0) || p === Infinity) throw new Error(`entropyFromProbs: probability ${i} is ${p}`);
    total += p;
  }
  const z = opts.normalize ? total : 1;
  if (!(z > 0)) throw new Error('entropyFromProbs: total mass is 0');
  let h = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] / z;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.max(0, h);
}

/** A token mask: 1/true = real token, 0/false = padding (or a token the caller excludes). */
export type TokenMask = ArrayLike<number | boolean>;

/** Sample estimate of per-token entropy: mean of −log p(yₜ) over the real tokens (NaN if none). */
export function sampledEntropy(logprobs: ArrayLike<number>, mask?: TokenMask): number {
  if (mask && mask.length !== logprobs.length) {
    throw new Error(`sampledEntropy: mask length ${mask.length} != logprobs length ${logprobs.length}`);
  }
  let sum = 0;
  let n = 0;
  for (let t = 0; t < logprobs.length; t++) {
    if (mask && !mask[t]) continue;
    sum -= logprobs[t];
    n++;
  }
  return n > 0 ? sum / n : NaN;
}

/** The per-token arrays of one sample, as in samples.jsonl (`logprobs`, `entropies`). */
export interface TokenEntropies {
  /** log p(yₜ) of each sampled token. */
  logprobs: ArrayLike<number>;
  /** Exact entropy Hₜ at each step (optional: the summary's `exact` is NaN if any sample lacks it). */
  entropies?: ArrayLike<number>;
  /** Which positions are real tokens; absent = all of them. */
  mask?: TokenMask;
}

export interface EntropySummary {
  /** Samples and real tokens counted. */
  sequences: number;
  tokens: number;
  /** Mean exact per-token entropy over all real tokens of the batch (token-weighted). */
  exact: number;
  /** Mean −log p(yₜ) over all real tokens of the batch (token-weighted): estimates `exact`. */
  sampled: number;
  /** Mean over samples of Σₜ −log p(yₜ): the sequence-level estimate (TRL's objective/entropy). */
  sampledPerSequence: number;
}

/**
 * Batch summary over real tokens only. Means are token-weighted (a long sample counts more), so the
 * exact and sampled means are computed over exactly the same set of tokens and are comparable.
 * Empty batches (no real tokens) give NaN, not 0: "no data" must not look like "collapsed".
 */
export function summarizeEntropy(samples: readonly TokenEntropies[]): EntropySummary {
  let tokens = 0;
  let exactSum = 0;
  let sampledSum = 0;
  let haveExact = true;
  samples.forEach((s, k) => {
    const T = s.logprobs.length;
    if (s.entropies && s.entropies.length !== T) {
      throw new Error(`summarizeEntropy: sample ${k}: entropies length ${s.entropies.length} != logprobs length ${T}`);
    }
    if (s.mask && s.mask.length !== T) {
      throw new Error(`summarizeEntropy: sample ${k}: mask length ${s.mask.length} != logprobs length ${T}`);
    }
    if (!s.entropies) haveExact = false;
    for (let t = 0; t < T; t++) {
      if (s.mask && !s.mask[t]) continue;
      tokens++;
      sampledSum -= s.logprobs[t];
      if (s.entropies) exactSum += s.entropies[t];
    }
  });
  return {
    sequences: samples.length,
    tokens,
    exact: haveExact && tokens > 0 ? exactSum / tokens : NaN,
    sampled: tokens > 0 ? sampledSum / tokens : NaN,
    sampledPerSequence: samples.length > 0 ? sampledSum / samples.length : NaN,
  };
}

function checkTemperature(t: number): void {
  if (!(t > 0) || !Number.isFinite(t)) throw new Error(`temperature must be a positive finite number, got ${t}`);
}
