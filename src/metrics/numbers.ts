/**
 * "Pick a random number" prompts: the distribution over the candidate answers (0..99 by default).
 *
 * The probability of each candidate answer (the whole answer string, all its tokens and the EOS) is
 * computed exactly elsewhere, by scoring every candidate under the model; here those numbers become
 * a distribution and its summaries. The mass the model puts outside the candidates (other text,
 * non-numbers, numbers out of range) is reported as `invalidMass`, and the distribution over the
 * candidates is renormalised (it is the answer distribution conditioned on a valid answer).
 *
 * Also: KL divergence, the candidate-level temperature rescaling of a reference, the search for the
 * temperature T* at which the reference is closest to the policy, and the same summaries from
 * sampled answers (counts) instead of exact probabilities.
 */
import { entropyFromProbs, logSumExp } from './entropy';

/** The answers "lo", …, "hi" as strings (default 0..99). */
export function numberCandidates(lo = 0, hi = 99): string[] {
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
    throw new Error(`numberCandidates: need integers lo <= hi, got ${lo}, ${hi}`);
  }
  const out: string[] = [];
  for (let k = lo; k <= hi; k++) out.push(String(k));
  return out;
}

export interface NumberDistribution {
  candidates: string[];
  /** p over the candidates, renormalised to sum to 1 (all NaN if no mass on any candidate). */
  probs: number[];
  /** Σ of the given probabilities (exact) or fraction of valid answers (empirical). */
  validMass: number;
  /** 1 − validMass, clamped at 0: the mass not on any candidate. */
  invalidMass: number;
  /** H(p) in nats. */
  entropy: number;
  /** H(p) / log K, K = number of candidates (log 100 for 0..99): 1 = uniform, 0 = one answer. */
  entropyFraction: number;
  /** The most probable candidate (the first one on ties), its renormalised and raw probability. */
  top: string;
  topProb: number;
  topRawProb: number;
  /** Empirical version only: answers counted (valid and invalid) and count per candidate. */
  samples?: number;
  counts?: number[];
}

/**
 * Summaries from the (unnormalised) probability of each candidate answer. `probs[i]` is
 * P(answer = candidates[i]); their sum is the valid mass, at most 1 up to rounding.
 */
export function numberDistribution(candidates: readonly (string | number)[], probs: ArrayLike<number>): NumberDistribution {
  if (candidates.length !== probs.length) {
    throw new Error(`numberDistribution: ${candidates.length} candidates but ${probs.length} probabilities`);
  }
  if (candidates.length === 0) throw new Error('numberDistribution: no candidates');
  let mass = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (!(p >= 0) || !Number.isFinite(p)) throw new Error(`numberDistribution: probability of "${candidates[i]}" is ${p}`);
    mass += p;
  }
  const cands = candidates.map(String);
  const K = cands.length;
  if (mass === 0) {
    return {
      candidates: cands, probs: new Array<number>(K).fill(NaN), validMass: 0, invalidMass: 1,
      entropy: NaN, entropyFraction: NaN, top: cands[0], topProb: NaN, topRawProb: 0,
    };
  }
  const p = Array.from(probs, (x) => x / mass);
  let top = 0;
  for (let i = 1; i < K; i++) if (p[i] > p[top]) top = i;
  const entropy = entropyFromProbs(p);
  return {
    candidates: cands,
    probs: p,
    validMass: mass,
    invalidMass: Math.max(0, 1 - mass),
    entropy,
    // K = 1: log K = 0 and the only possible distribution has H = 0; call that fully collapsed.
    entropyFraction: K > 1 ? entropy / Math.log(K) : 0,
    top: cands[top],
    topProb: p[top],
    topRawProb: probs[top],
  };
}

/** The same from log-probabilities of the candidates (−Infinity = impossible). */
export function numberDistributionFromLogProbs(
  candidates: readonly (string | number)[],
  logprobs: ArrayLike<number>,
): NumberDistribution {
  return numberDistribution(candidates, Array.from(logprobs, (lp) => Math.exp(lp)));
}

/**
 * Empirical version from sampled answers. Each answer is mapped by `normalize` (default: trim
 * whitespace) and counted if it equals a candidate; the others are the invalid mass. `smoothing`
 * adds a pseudo-count to every candidate (default 0; > 0 keeps KL against it finite).
 */
export function empiricalNumberDistribution(
  answers: readonly (string | null | undefined)[],
  candidates: readonly (string | number)[],
  opts: { normalize?: (answer: string) => string; smoothing?: number } = {},
): NumberDistribution {
  const normalize = opts.normalize ?? ((s: string) => s.trim());
  const smoothing = opts.smoothing ?? 0;
  if (!(smoothing >= 0)) throw new Error(`empiricalNumberDistribution: smoothing must be >= 0, got ${smoothing}`);
  const cands = candidates.map(String);
  const index = new Map<string, number>();
  cands.forEach((c, i) => index.set(c, i));
  const counts = new Array<number>(cands.length).fill(0);
  let valid = 0;
  for (const a of answers) {
    if (a === null || a === undefined) continue;
    const i = index.get(normalize(a));
    if (i === undefined) continue;
    counts[i]++;
    valid++;
  }
  const n = answers.length;
  // Probabilities relative to all answers (so their sum is the valid fraction), smoothed if asked.
  const raw = counts.map((c) => (n > 0 ? (c + smoothing) / (n + smoothing * cands.length) : 0));
  const d = numberDistribution(cands, raw);
  d.validMass = n > 0 ? valid / n : 0;
  d.invalidMass = 1 - d.validMass;
  d.topRawProb = n > 0 ? counts[cands.indexOf(d.top)] / n : 0;
  d.samples = n;
  d.counts = counts;
  return d;
}

/**
 * KL(p ‖ q) = Σᵢ pᵢ log(pᵢ / qᵢ) in nats, for two distributions over the same candidates.
 * Terms with pᵢ = 0 are 0; pᵢ > 0 with qᵢ = 0 gives +Infinity. Inputs are used as given (normalise
 * them first); tiny negative results from rounding are clamped to 0.
 */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new Error(`klDivergence: lengths ${p.length} and ${q.length} differ`);
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i];
    const qi = q[i];
    if (!(pi >= 0) || !(qi >= 0)) throw new Error(`klDivergence: entry ${i} is p=${pi}, q=${qi}`);
    if (pi === 0) continue;
    if (qi === 0) return Infinity;
    kl += pi * Math.log(pi / qi);
  }
  return Math.max(0, kl);
}

/** KL(p ‖ q) from log-probabilities (avoids exp underflow for very unlikely candidates). */
export function klFromLogProbs(logp: ArrayLike<number>, logq: ArrayLike<number>): number {
  if (logp.length !== logq.length) throw new Error(`klFromLogProbs: lengths ${logp.length} and ${logq.length} differ`);
  let kl = 0;
  for (let i = 0; i < logp.length; i++) {
    const lp = logp[i];
    if (lp === -Infinity) continue;
    if (logq[i] === -Infinity) return Infinity;
    kl += Math.exp(lp) * (lp - logq[i]);
  }
  return Math.max(0, kl);
}

/**
 * Candidate-level temperature rescaling: log q_T(i) = log p(i)/T − log Σⱼ exp(log p(j)/T), i.e.
 * q_T ∝ p^(1/T) renormalised over the candidates.
 *
 * NOTE: sampling at temperature T divides the per-token LOGITS by T at every step. That equals this
 * candidate-level rescaling only when every answer is a single token (then restricting
 * softmax(logits/T) to the candidates and renormalising is exactly p^(1/T) renormalised). For
 * multi-token answers ("42" + EOS) each step has its own normaliser that also changes with T, so the
 * true answer distribution at T is not p^(1/T); compute it by re-scoring the candidates with
 * logits/T. This helper is the cheap one-parameter family used to ask "is the policy just a
 * colder/hotter reference?".
 */
export function temperatureLogProbs(refLogProbs: ArrayLike<number>, temperature: number): Float64Array {
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new Error(`temperature must be a positive finite number, got ${temperature}`);
  }
  const z = Float64Array.from(refLogProbs, (lp) => lp / temperature);
  const lse = logSumExp(z);
  if (lse === -Infinity) throw new Error('temperatureLogProbs: the reference has no mass on any candidate');
  for (let i = 0; i < z.length; i++) z[i] -= lse;
  return z;
}

/** Probabilities of the candidate-level rescaling (see `temperatureLogProbs`). */
export function temperatureRescale(refLogProbs: ArrayLike<number>, temperature: number): Float64Array {
  return temperatureLogProbs(refLogProbs, temperature).map(Math.exp);
}

export interface TemperatureFit {
  /** T* = argmin over T of KL(policy ‖ ref_T). */
  temperature: number;
  /** KL(policy ‖ ref_T*) and, for comparison, KL(policy ‖ ref) at T = 1. */
  kl: number;
  klAtOne: number;
  iterations: number;
  /** True if T* is at (within tolerance of) an end of the search interval: the optimum may lie outside. */
  atBoundary: boolean;
}

/**
 * T* minimising KL(policy ‖ ref_T) by golden-section search on u = log T in [log tMin, log tMax].
 *
 * Why golden section is valid: with β = 1/T, ref_T(i) = exp(β·ℓᵢ − A(β)) (ℓ = ref log-probs) is an
 * exponential family, so KL(p ‖ ref_T) = Σ pᵢ log pᵢ − β Σ pᵢ ℓᵢ + A(β) is convex in β (A is the
 * log-partition function); a convex function of β is unimodal in log T = −log β.
 *
 * `policyProbs` is the policy's distribution over the candidates (normalised); `refLogProbs` the
 * reference's log-probabilities (any normalisation; −Infinity = impossible).
 */
export function fitTemperature(
  policyProbs: ArrayLike<number>,
  refLogProbs: ArrayLike<number>,
  opts: { tMin?: number; tMax?: number; tol?: number; maxIter?: number } = {},
): TemperatureFit {
  if (policyProbs.length !== refLogProbs.length) {
    throw new Error(`fitTemperature: ${policyProbs.length} policy probabilities but ${refLogProbs.length} reference log-probs`);
  }
  const tMin = opts.tMin ?? 0.01;
  const tMax = opts.tMax ?? 100;
  const tol = opts.tol ?? 1e-9; // on log T
  const maxIter = opts.maxIter ?? 200;
  if (!(tMin > 0 && tMax > tMin)) throw new Error(`fitTemperature: need 0 < tMin < tMax, got ${tMin}, ${tMax}`);
  const f = (u: number): number => klDivergence(policyProbs, temperatureRescale(refLogProbs, Math.exp(u)));

  const invPhi = (Math.sqrt(5) - 1) / 2; // 1/φ ≈ 0.618
  let a = Math.log(tMin);
  let b = Math.log(tMax);
  let c = b - invPhi * (b - a);
  let d = a + invPhi * (b - a);
  let fc = f(c);
  let fd = f(d);
  let it = 0;
  while (b - a > tol && it < maxIter) {
    // Keep the bracket that holds the smaller value; one new evaluation per step.
    if (fc <= fd) {
      b = d; d = c; fd = fc;
      c = b - invPhi * (b - a); fc = f(c);
    } else {
      a = c; c = d; fc = fd;
      d = a + invPhi * (b - a); fd = f(d);
    }
    it++;
  }
  const u = (a + b) / 2;
  const temperature = Math.exp(u);
  const edge = Math.max(tol, 1e-6) * 10;
  return {
    temperature,
    kl: f(u),
    klAtOne: f(0),
    iterations: it,
    atBoundary: u - Math.log(tMin) < edge || Math.log(tMax) - u < edge,
  };
}
