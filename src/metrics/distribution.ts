/**
 * Statistics of 1-D samples (reward-model scores, rewards of PPO batches): summaries, a fixed-bin
 * histogram for the report, and two distances between empirical distributions:
 * - Wasserstein-1, W₁(a, b) = ∫ |F_a(x) − F_b(x)| dx (how far mass must move; in reward units);
 * - Kolmogorov–Smirnov, D = sup_x |F_a(x) − F_b(x)| (largest gap between the CDFs; in [0, 1]).
 * Both are exact for the empirical CDFs (step functions), computed by one merge of sorted samples.
 */

/** Arithmetic mean; NaN for an empty sample. */
export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/**
 * Standard deviation with `ddof` (0 = population, the default, as numpy; 1 = sample).
 * Two-pass (mean first) to avoid the cancellation of Σx² − n·x̄². NaN when n ≤ ddof.
 */
export function std(xs: ArrayLike<number>, ddof = 0): number {
  const n = xs.length;
  if (n <= ddof) return NaN;
  const m = mean(xs);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (xs[i] - m) ** 2;
  return Math.sqrt(ss / (n - ddof));
}

/** A sorted copy (ascending, numeric). */
export function sorted(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs).sort();
}

/**
 * Quantile q ∈ [0, 1] of a sample already sorted ascending, by linear interpolation between order
 * statistics at position h = (n − 1)·q (numpy's default "linear", Hyndman–Fan type 7).
 */
export function quantileSorted(s: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile: q must be in [0, 1], got ${q}`);
  const n = s.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

/** Quantile of an unsorted sample (sorts a copy). */
export function quantile(xs: ArrayLike<number>, q: number): number {
  return quantileSorted(sorted(xs), q);
}

/** Several quantiles with one sort. */
export function quantiles(xs: ArrayLike<number>, qs: readonly number[]): number[] {
  const s = sorted(xs);
  return qs.map((q) => quantileSorted(s, q));
}

export interface Summary {
  /** Finite values summarised, and non-finite values (NaN, ±Infinity) left out and counted. */
  count: number;
  nonfinite: number;
  mean: number;
  /** Population standard deviation (ddof = 0). */
  std: number;
  min: number;
  p05: number;
  p25: number;
  median: number;
  p75: number;
  p95: number;
  max: number;
}

/** mean/std/min/max and the 5/25/50/75/95% quantiles of the finite values (NaN fields if none). */
export function summarize(xs: ArrayLike<number>): Summary {
  const finite: number[] = [];
  for (let i = 0; i < xs.length; i++) if (Number.isFinite(xs[i])) finite.push(xs[i]);
  const s = sorted(finite);
  const n = s.length;
  return {
    count: n,
    nonfinite: xs.length - n,
    mean: mean(s),
    std: std(s),
    min: n ? s[0] : NaN,
    p05: quantileSorted(s, 0.05),
    p25: quantileSorted(s, 0.25),
    median: quantileSorted(s, 0.5),
    p75: quantileSorted(s, 0.75),
    p95: quantileSorted(s, 0.95),
    max: n ? s[n - 1] : NaN,
  };
}

export interface Histogram {
  /** bins + 1 edges, lo = edges[0] < … < edges[bins] = hi. */
  edges: number[];
  /** counts[i] = #{x : edges[i] ≤ x < edges[i+1]}; the last bin also holds x = hi (as numpy). */
  counts: number[];
  /** Values below lo, above hi, and NaN: outside every bin, counted so nothing is lost silently. */
  underflow: number;
  overflow: number;
  nan: number;
}

/**
 * Histogram with fixed, equal-width bins over [lo, hi], so that histograms of different steps or
 * runs share their bins and can be compared (e.g. lo = 0, hi = 1 for sigmoid rewards).
 */
export function histogram(xs: ArrayLike<number>, opts: { lo: number; hi: number; bins: number }): Histogram {
  const { lo, hi, bins } = opts;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) throw new Error(`histogram: need finite lo < hi, got ${lo}, ${hi}`);
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`histogram: bins must be a positive integer, got ${bins}`);
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  const counts = new Array<number>(bins).fill(0);
  let underflow = 0;
  let overflow = 0;
  let nan = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (Number.isNaN(x)) nan++;
    else if (x < lo) underflow++;
    else if (x > hi) overflow++;
    else {
      let k = Math.min(bins - 1, Math.floor((x - lo) / width));
      // Rounding in (x − lo)/width can land one bin off near an edge; the edges decide.
      if (k > 0 && x < edges[k]) k--;
      else if (k < bins - 1 && x >= edges[k + 1]) k++;
      counts[k]++;
    }
  }
  return { edges, counts, underflow, overflow, nan };
}

function finiteSorted(xs: ArrayLike<number>, what: string, name: string): Float64Array {
  if (xs.length === 0) throw new Error(`${what}: sample ${name} is empty`);
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) throw new Error(`${what}: sample ${name}[${i}] is ${xs[i]}`);
  }
  return sorted(xs);
}

/**
 * Wasserstein-1 distance between the empirical distributions of a and b, exactly:
 * W₁ = ∫ |F_a(x) − F_b(x)| dx, where both CDFs are constant between consecutive points of the
 * merged sorted samples, so the integral is Σ |F_a − F_b| · (x₍ₖ₊₁₎ − x₍ₖ₎).
 * (With equal sizes it equals the mean of |a₍ᵢ₎ − b₍ᵢ₎| over the sorted samples.)
 */
export function wasserstein1(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const sa = finiteSorted(a, 'wasserstein1', 'a');
  const sb = finiteSorted(b, 'wasserstein1', 'b');
  const na = sa.length;
  const nb = sb.length;
  let i = 0;
  let j = 0;
  let x = Math.min(sa[0], sb[0]);
  let w = 0;
  while (i < na || j < nb) {
    // Step past every point equal to x (ties in either sample), then both CDFs hold until the next.
    while (i < na && sa[i] <= x) i++;
    while (j < nb && sb[j] <= x) j++;
    if (i === na && j === nb) break;
    const next = Math.min(i < na ? sa[i] : Infinity, j < nb ? sb[j] : Infinity);
    w += Math.abs(i / na - j / nb) * (next - x);
    x = next;
  }
  return w;
}

/**
 * Two-sample Kolmogorov–Smirnov statistic D = sup_x |F_a(x) − F_b(x)|. The supremum is reached
 * right after a data point, so it is enough to evaluate both CDFs after stepping past each distinct
 * value (all ties at once, or tied values would create a gap that does not exist).
 */
export function ksDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const sa = finiteSorted(a, 'ksDistance', 'a');
  const sb = finiteSorted(b, 'ksDistance', 'b');
  const na = sa.length;
  const nb = sb.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < na || j < nb) {
    const x = Math.min(i < na ? sa[i] : Infinity, j < nb ? sb[j] : Infinity);
    while (i < na && sa[i] <= x) i++;
    while (j < nb && sb[j] <= x) j++;
    d = Math.max(d, Math.abs(i / na - j / nb));
  }
  return d;
}

export interface RankCurve {
  /** Index i = rank position i (0 = best): mean, population std and count over the groups having it. */
  mean: number[];
  std: number[];
  count: number[];
}

/**
 * Mean-by-rank-index curve: `groups[g][i]` is the value (e.g. reward-model score) of the completion
 * at rank position i of prompt g (best first). Groups may differ in length; position i averages
 * over the groups that have it. A healthy reward model gives a decreasing curve; a collapsed one a
 * step or a flat line.
 */
export function meanByRank(groups: readonly (ArrayLike<number>)[]): RankCurve {
  let len = 0;
  for (const g of groups) len = Math.max(len, g.length);
  const cols: number[][] = Array.from({ length: len }, () => []);
  for (const g of groups) for (let i = 0; i < g.length; i++) cols[i].push(g[i]);
  return {
    mean: cols.map((c) => mean(c)),
    std: cols.map((c) => std(c)),
    count: cols.map((c) => c.length),
  };
}
