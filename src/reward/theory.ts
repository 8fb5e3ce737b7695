/**
 * The per-prompt program of reward collapse (Song, Cai, Lee & Su 2023, §3):
 *
 *     maximise  F(r) = Σ_{i<j} U(rᵢ − rⱼ)   over r ∈ [0,1]ⁿ with r₁ ≥ r₂ ≥ … ≥ rₙ,
 *
 * with U the extended utility of ./utilities (the same function the reward model is trained with).
 * In the interpolating regime every prompt solves this separately, and the answer does not depend
 * on the prompt: that is the collapse.
 *
 * How it is solved.
 *  1. r₁ = 1 and rₙ = 0 at an optimum. Every U here is increasing, and stretching r to
 *     (r − rₙ)/(r₁ − rₙ) multiplies every difference by 1/(r₁ − rₙ) ≥ 1, which cannot lower F.
 *  2. Write r by its gaps gₖ = rₖ − rₖ₊₁ ≥ 0 (k = 1…n−1), Σ gₖ = 1. Then rᵢ − rⱼ = Σ_{i≤k<j} gₖ is
 *     linear in g, so F(g) = Σ_{i<j} U(Σ_{i≤k<j} gₖ) is concave on the simplex (U concave), and
 *     strictly concave when U is (the n−1 neighbour pairs alone give a negative definite Hessian).
 *     Ordering and box constraints are both just "g on the simplex".
 *  3. Log-barrier interior-point method: for μ ↓ 0 maximise F(g) + μ Σ log gₖ subject to Σ gₖ = 1
 *     with equality-constrained Newton steps (backtracking line search that stays inside g > 0).
 *     The exact gradient and Hessian are O(n²) (prefix sums over pairs, see `derivatives`); a step
 *     costs one Cholesky factorisation, O(n³/3). Then a polish (see `polish`): gaps the optimum
 *     sets to 0 (possible only when U′(0) is finite) are set to exactly 0, and plain Newton on the
 *     others converges quadratically; it stops on the KKT residual, not on F, whose rounding is
 *     coarser than the smallest gaps. `kkt` in the result re-checks optimality from the rewards.
 *     With ε = 0 the singular utilities (log, −1/d, −d^(−γ), d^γ) are themselves barriers: the
 *     optimum has every gap > 0, and g > 0 keeps every U finite along the way.
 *     Cost: n = 100 takes ~0.05 s, n = 200 ~0.2–0.6 s, n = 400 ~1–3 s (O(n³) per step, 20–100 steps).
 *  4. Ties. For strictly concave U the optimum is unique, and since the program is invariant under
 *     r ↦ 1 − reverse(r) it is symmetric: rᵢ + r_{n+1−i} = 1; we symmetrise the final gaps to remove
 *     rounding asymmetry. The only non-strictly concave utility here is `linear`, whose objective is
 *     Σᵢ (n + 1 − 2i)·rᵢ: the top ⌊n/2⌋ get 1, the bottom ⌊n/2⌋ get 0, and for odd n the middle
 *     coefficient is 0, so any value is optimal. We return the symmetric choice, ½ (which is also the
 *     point the barrier method converges to, the centre of the optimal face).
 *
 * Known n → ∞ limits of the empirical distribution of r (for ε = 0, the utilities as in the paper;
 * Riesz-energy equilibrium measures on an interval):
 *     U = d          ½ δ₀ + ½ δ₁
 *     U = d^γ        Beta((1−γ)/2, (1−γ)/2),   0 < γ < 1
 *     U = log d      Beta(½, ½)  (arcsine; the finite-n optimum is the Fekete / Gauss–Lobatto points)
 *     U = −d^(−γ)    Beta((1+γ)/2, (1+γ)/2),   0 < γ ≤ 1 (γ = 1: −1/d, uniform)
 *                    Uniform(0, 1) for γ ≥ 1 (hypersingular Riesz energy, Hardin & Saff 2004)
 *     log σ(s·d)     no closed form known → null
 * With ε > 0 (what the trainer uses) the finite-n optimum is a different program; the limits above
 * are then a reference, not a prediction — use ε → 0 to compare with the theorems.
 */
import { makeUtility, Utility, UtilitySpec, ResolvedUtilitySpec } from './utilities';

export interface TheoryOptions {
  /** Stop the barrier when μ ≤ tolerance·λ (λ the common slope of the positive gaps). Default 1e-10 (the polish below takes it to full precision). */
  tolerance?: number;
  /** Safety cap on the total number of Newton steps. Default 2000. */
  maxNewtonSteps?: number;
  /** Use the numerical solver even where a closed form exists (n = 2, linear): for validation. */
  forceNumeric?: boolean;
}

export interface TheoryResult {
  utility: ResolvedUtilitySpec;
  n: number;
  /** The optimal rewards, best first: rewards[0] = 1 ≥ … ≥ rewards[n−1] = 0. */
  rewards: number[];
  /** F(rewards) = Σ_{i<j} U(rᵢ − rⱼ). */
  objective: number;
  /** Newton steps taken (0 for closed forms). */
  newtonSteps: number;
  /** Optimality re-checked from `rewards` (see kktCheck): maxExcess ≈ 0 (1e-16…1e-9) at the optimum. */
  kkt: { lambda: number; maxExcess: number };
  /** How the answer was obtained. */
  method: 'closed-form' | 'barrier-newton';
}

/** F(r) for rewards r (any order; pairs are taken in the given order, i < j means r[i] is better). */
export function theoryObjective(u: Utility, rewards: number[]): number {
  let sum = 0;
  for (let i = 0; i < rewards.length; i++) for (let j = i + 1; j < rewards.length; j++) sum += u.value(rewards[i] - rewards[j]);
  return sum;
}

/** Solve the program for one utility and n ranked completions. */
export function solveTheory(spec: UtilitySpec, n: number, options: TheoryOptions = {}): TheoryResult {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be an integer >= 1, got ${n}`);
  const u = makeUtility(spec);
  const tolerance = options.tolerance ?? 1e-10;
  const maxSteps = options.maxNewtonSteps ?? 2000;

  let gaps: number[];
  let steps = 0;
  let method: TheoryResult['method'] = 'barrier-newton';
  if (n === 1) {
    // No pairs: every r is optimal; the symmetric choice.
    return finish(u, [0.5], 0, 'closed-form');
  } else if (u.spec.name === 'linear' && !options.forceNumeric) {
    gaps = linearGaps(n);
    method = 'closed-form';
  } else if (n === 2 && !options.forceNumeric) {
    gaps = [1];
    method = 'closed-form';
  } else {
    ({ gaps, steps } = barrierNewton(u, n - 1, tolerance, maxSteps));
    const polished = polish(u, gaps);
    gaps = polished.gaps;
    steps += polished.steps;
  }
  // Symmetrise (see 4. above) and renormalise. The bottom half is summed from the bottom
  // (rₚ = Σ_{k≥p} gₖ keeps exact zeros and tiny values exact), the top half is its mirror
  // rᵢ = 1 − r_{n−1−i}, and for odd n the middle point is ½.
  const m = gaps.length;
  const sym = gaps.map((g, k) => 0.5 * (g + gaps[m - 1 - k]));
  const total = sym.reduce((a, b) => a + b, 0);
  const r = new Array<number>(n).fill(0);
  let fromBottom = 0;
  for (let p = n - 2; p >= Math.floor(n / 2); p--) {
    fromBottom += sym[p] / total;
    r[p] = Math.min(0.5, fromBottom);
  }
  for (let i = 0; i < Math.floor(n / 2); i++) r[i] = 1 - r[n - 1 - i];
  if (n % 2 === 1) r[(n - 1) / 2] = 0.5;
  return finish(u, r, steps, method);
}

function finish(u: Utility, rewards: number[], newtonSteps: number, method: TheoryResult['method']): TheoryResult {
  return {
    utility: u.spec,
    n: rewards.length,
    rewards,
    objective: theoryObjective(u, rewards),
    newtonSteps,
    kkt: kktCheck(u, rewards),
    method,
  };
}

/** U = d: gaps of the symmetric optimum, 1 for the middle gap (even n) or ½, ½ for the two around the middle (odd n). */
function linearGaps(n: number): number[] {
  const m = n - 1;
  const gaps = new Array<number>(m).fill(0);
  if (n % 2 === 0) gaps[n / 2 - 1] = 1;
  else {
    gaps[(n - 1) / 2 - 1] = 0.5;
    gaps[(n - 1) / 2] = 0.5;
  }
  return gaps;
}

/**
 * Gradient and Hessian of F in the gap variables, from the pair derivatives W1ᵢⱼ = U′(dᵢⱼ),
 * W2ᵢⱼ = U″(dᵢⱼ). Points are 0…n−1, gap k lies between points k and k+1, and pair (i, j), i < j,
 * covers gap k iff i ≤ k < j. Hence
 *     ∂F/∂gₖ      = Σ_{i ≤ k} Σ_{j > k} W1ᵢⱼ
 *     ∂²F/∂gₖ∂gₗ  = Σ_{i ≤ k} Σ_{j > l} W2ᵢⱼ        (k ≤ l)
 * computed with row suffix sums and a running sum over i: O(n²) each.
 */
function derivatives(u: Utility, gaps: number[], wantHessian: boolean): { F: number; grad: Float64Array; hess?: Float64Array[] } {
  const m = gaps.length;
  const n = m + 1;
  // S[p] = Σ_{k<p} gₖ (distance of point p from the top), T[p] = Σ_{k≥p} gₖ (from the bottom).
  // dᵢⱼ = S[j] − S[i] = T[i] − T[j]; we take the form whose terms are small, so that tiny gaps near
  // either end (d^γ with ε = 0 has outer gaps ~ n^(−2/(1−γ))) keep their relative precision.
  const S = new Float64Array(n);
  for (let p = 1; p < n; p++) S[p] = S[p - 1] + gaps[p - 1];
  const T = new Float64Array(n);
  for (let p = n - 2; p >= 0; p--) T[p] = T[p + 1] + gaps[p];
  const half = n >> 1;
  let F = 0;
  const grad = new Float64Array(m);
  // acc1[l] = Σ_{i ≤ current row} Σ_{j > l} W1ᵢⱼ and running2[l] the same for W2, row by row.
  const acc1 = new Float64Array(m);
  const rowSuf1 = new Float64Array(n + 1);
  const rowSuf2 = new Float64Array(n + 1);
  const hessRows: Float64Array[] | undefined = wantHessian ? Array.from({ length: m }, () => new Float64Array(m)) : undefined;
  const running2 = wantHessian ? new Float64Array(m) : undefined;
  for (let i = 0; i < m; i++) {
    // Row i: suffix sums over j > l of W1ᵢⱼ and W2ᵢⱼ, for l = i … m−1.
    rowSuf1[n] = 0;
    rowSuf2[n] = 0;
    for (let j = n - 1; j > i; j--) {
      const d = i >= half ? T[i] - T[j] : S[j] - S[i];
      F += u.value(d);
      rowSuf1[j] = rowSuf1[j + 1] + u.derivative(d);
      if (wantHessian) rowSuf2[j] = rowSuf2[j + 1] + u.second(d);
    }
    for (let l = i; l < m; l++) {
      acc1[l] += rowSuf1[l + 1];
      if (running2) running2[l] += rowSuf2[l + 1];
    }
    // Gap k = i is complete once rows 0…i are in: ∂F/∂g_i = Σ_{i' ≤ i} Σ_{j > i} W1.
    grad[i] = acc1[i];
    if (hessRows && running2) for (let l = i; l < m; l++) hessRows[i][l] = hessRows[l][i] = running2[l];
  }
  return { F, grad, hess: hessRows };
}

/** In-place Cholesky of a symmetric positive definite matrix (lower triangle). Returns false if not PD. */
function cholesky(a: Float64Array[]): boolean {
  const m = a.length;
  for (let j = 0; j < m; j++) {
    const aj = a[j];
    let s = aj[j];
    for (let k = 0; k < j; k++) s -= aj[k] * aj[k];
    if (!(s > 0)) return false;
    const l = Math.sqrt(s);
    aj[j] = l;
    for (let i = j + 1; i < m; i++) {
      const ai = a[i];
      let t = ai[j];
      for (let k = 0; k < j; k++) t -= ai[k] * aj[k];
      ai[j] = t / l;
    }
  }
  return true;
}

function cholSolve(L: Float64Array[], b: Float64Array): Float64Array {
  const m = L.length;
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b[i];
    const Li = L[i];
    for (let k = 0; k < i; k++) s -= Li[k] * y[k];
    y[i] = s / Li[i];
  }
  for (let i = m - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < m; k++) s -= L[k][i] * y[k];
    y[i] = s / L[i][i];
  }
  return y;
}

/**
 * One equality-constrained Newton direction for φ(g) = F(g) + μ Σ_{k∈free} log gₖ on the free gaps
 * (the others stay fixed), subject to Σ gₖ = 1. Computed in the scaled variables g = diag(g)·y
 * (y = 1 at the current point), where the barrier's Hessian is μ·I and the system stays well
 * conditioned however small some gaps get:
 *     A = −D H_F D + μ I,   b = D ∇F + μ·1,   A Δy = b − λ g,   gᵀΔy = 0,
 * so Δy = A⁻¹b − λ A⁻¹g with λ = gᵀA⁻¹b / gᵀA⁻¹g, and the Newton decrement² is bᵀΔy.
 * Returns null when A is not positive definite (H_F = 0 on the free gaps, e.g. U = d with μ = 0).
 */
function newtonDirection(
  u: Utility,
  g: number[],
  free: number[],
  mu: number,
): { F: number; grad: Float64Array; dy: Float64Array; lambda: number; decrement: number } | null {
  const { F, grad, hess } = derivatives(u, g, true);
  const H = hess as Float64Array[];
  const f = free.length;
  const b = new Float64Array(f);
  const gv = new Float64Array(f);
  const A = free.map((k, a) => {
    b[a] = g[k] * grad[k] + mu;
    gv[a] = g[k];
    const row = new Float64Array(f);
    for (let c = 0; c <= a; c++) row[c] = -g[k] * H[k][free[c]] * g[free[c]];
    row[a] += mu;
    return row;
  });
  if (!cholesky(A)) return null;
  const Ab = cholSolve(A, b);
  const Ag = cholSolve(A, gv);
  let gAb = 0;
  let gAg = 0;
  for (let a = 0; a < f; a++) {
    gAb += gv[a] * Ab[a];
    gAg += gv[a] * Ag[a];
  }
  const lambda = gAb / gAg;
  const dy = new Float64Array(f);
  let decrement = 0;
  for (let a = 0; a < f; a++) {
    dy[a] = Ab[a] - lambda * Ag[a];
    decrement += b[a] * dy[a];
  }
  return { F, grad, dy, lambda, decrement };
}

/**
 * A damped Newton step along dy (free gaps scaled by 1 + t·dyₖ, t ≤ 0.99 of the way to the
 * boundary). Far from the optimum: backtracking until φ rises by 1% of the predicted amount. Close
 * to it (decrement² < 0.1·scale, the region of quadratic convergence): the full step, because
 * there φ changes by less than its own rounding error and comparing values says nothing.
 * Returns the new gaps, or null if no step was accepted.
 */
function takeStep(u: Utility, g: number[], free: number[], mu: number, dir: { F: number; dy: Float64Array; decrement: number }, scale: number): number[] | null {
  const { dy, decrement } = dir;
  let t = 1;
  for (let a = 0; a < free.length; a++) if (dy[a] < 0) t = Math.min(t, -0.99 / dy[a]);
  const move = (tt: number) => {
    const trial = g.slice();
    free.forEach((k, a) => (trial[k] = g[k] * (1 + tt * dy[a])));
    return trial;
  };
  if (decrement < 0.1 * scale) return move(t);
  const phi = (x: number[]) => {
    let v = derivatives(u, x, false).F;
    if (mu > 0) for (const k of free) v += mu * Math.log(x[k]);
    return v;
  };
  const phi0 = phi(g);
  for (let ls = 0; ls < 60; ls++) {
    const trial = move(t);
    const v = phi(trial);
    if (Number.isFinite(v) && v >= phi0 + 0.01 * t * decrement) return trial;
    t *= 0.5;
  }
  return null;
}

/**
 * Log-barrier interior point on the simplex {g > 0, Σg = 1} (Boyd & Vandenberghe §11.3): centre
 * on F + μ Σ log g, then μ ← μ/10, until μ/λ ≤ tolerance (λ, the multiplier of Σg = 1, is the
 * common slope ∂F/∂gₖ of the positive gaps; a gap the optimum sets to 0 is then ~μ/λ ≈ tolerance).
 * Centring stops when the decrement of the normalised function F/μ + Σ log g is ≤ 1e-9.
 */
function barrierNewton(u: Utility, m: number, tolerance: number, maxSteps: number): { gaps: number[]; steps: number } {
  let g = new Array<number>(m).fill(1 / m);
  const all = g.map((_, k) => k);
  let steps = 0;
  // Start μ at the size of the objective's own slopes times a gap, so the first centring is easy.
  const first = derivatives(u, g, false);
  let mu = Math.max(1e-300, first.grad.reduce((a, b) => a + Math.abs(b), 0) / (m * m));
  for (;;) {
    let lambda = 0;
    for (let inner = 0; inner < 50; inner++) {
      if (steps >= maxSteps) throw new Error(`theory solver: no convergence after ${maxSteps} Newton steps (n = ${m + 1}, utility ${u.spec.name})`);
      const dir = newtonDirection(u, g, all, mu);
      if (!dir) throw new Error(`theory solver: Newton system not positive definite (n = ${m + 1}, utility ${u.spec.name}; is U concave?)`);
      lambda = dir.lambda;
      if (dir.decrement / (2 * mu) <= 1e-9) break;
      steps++;
      const next = takeStep(u, g, all, mu, dir, mu);
      if (!next) break; // no more progress at float precision: centred as well as we can
      g = next;
    }
    if (mu <= tolerance * Math.abs(lambda)) break;
    mu *= 0.1;
  }
  return { gaps: g, steps };
}

/**
 * Finish what the barrier started. The barrier leaves every gap > 0 and each one the optimum sets
 * to 0 at about μ/(λ − ∂F/∂gₖ) instead.
 * (a) When U′(0) is finite (ε > 0, logsigmoid, linear) gaps can really be 0 (tied rewards at the
 *     top and bottom): a gap whose slope is clearly below the multiplier, (λ − ∂F/∂gₖ)/λ > 1e-6,
 *     is set to exactly 0. When U′(0) = ∞ (ε = 0) no optimal gap is 0 and none is snapped, however
 *     small (for d^γ the outer gaps shrink like n^(−2/(1−γ))).
 * (b) Plain Newton (μ = 0) on the remaining gaps converges quadratically to the optimum of that
 *     face; it stops on the gradient residual, max |∂F/∂gₖ − λ|/λ over the free gaps.
 * (c) Active-set check: if a snapped gap has ∂F/∂gₖ > λ after all, it is released and (b) rerun.
 */
function polish(u: Utility, barrier: number[]): { gaps: number[]; steps: number } {
  const m = barrier.length;
  let zero = new Set<number>();
  if (Number.isFinite(u.derivative(0))) {
    const { grad } = derivatives(u, barrier, false);
    const lambda = Math.max(...grad);
    barrier.forEach((_, k) => {
      if ((lambda - grad[k]) / lambda > 1e-6) zero.add(k);
    });
  }
  let steps = 0;
  let g = barrier;
  for (let round = 0; round < m; round++) {
    const free = barrier.map((_, k) => k).filter((k) => !zero.has(k));
    const freeMass = free.reduce((a, k) => a + barrier[k], 0);
    g = barrier.map((x, k) => (zero.has(k) ? 0 : x / freeMass));
    const result = newtonOnFace(u, g, free);
    g = result.gaps;
    steps += result.steps;
    // (c): a zero gap whose slope exceeds the multiplier would gain by opening.
    const { grad } = derivatives(u, g, false);
    let lambda = 0;
    for (const k of free) lambda += g[k] * grad[k];
    const release = [...zero].filter((k) => grad[k] > lambda * (1 + 1e-9));
    if (release.length === 0) break;
    zero = new Set([...zero].filter((k) => !release.includes(k)));
  }
  return { gaps: g, steps };
}

function newtonOnFace(u: Utility, start: number[], free: number[]): { gaps: number[]; steps: number } {
  let g = start;
  let steps = 0;
  if (free.length < 2) return { gaps: g, steps };
  const residual = (grad: Float64Array, gaps: number[]): number => {
    let lambda = 0;
    for (const k of free) lambda += gaps[k] * grad[k];
    let worst = 0;
    for (const k of free) worst = Math.max(worst, Math.abs(grad[k] - lambda) / Math.abs(lambda));
    return worst;
  };
  let best = { gaps: g, res: Infinity };
  for (let iter = 0; iter < 40; iter++) {
    const dir = newtonDirection(u, g, free, 0);
    const res = dir ? residual(dir.grad, g) : residual(derivatives(u, g, false).grad, g);
    if (res < best.res) best = { gaps: g, res };
    else break; // stagnating at float precision
    if (!dir || res < 1e-14) break;
    const next = takeStep(u, g, free, 0, dir, 1e-8 * Math.max(1, Math.abs(dir.F)));
    steps++;
    if (!next) break;
    g = next;
  }
  return { gaps: best.gaps, steps };
}

/**
 * KKT check of r in the gap variables: with λ the mean of ∂F/∂gₖ over the positive gaps,
 * maxExcess = max over k of max(0, ∂F/∂gₖ − λ)/λ for zero gaps (opening one must not pay) and
 * |∂F/∂gₖ − λ|/λ for positive ones.
 * 0 (up to rounding) at an optimum.
 */
export function kktCheck(u: Utility, rewards: number[]): { lambda: number; maxExcess: number } {
  const n = rewards.length;
  if (n < 2) return { lambda: 0, maxExcess: 0 };
  const gaps = rewards.slice(1).map((x, k) => rewards[k] - x);
  const { grad } = derivatives(u, gaps, false);
  const positive = gaps.map((g) => g > 0);
  let sum = 0;
  let count = 0;
  grad.forEach((x, k) => {
    if (positive[k]) {
      sum += x;
      count++;
    }
  });
  const lambda = count > 0 ? sum / count : 0;
  let maxExcess = 0;
  grad.forEach((x, k) => {
    const e = positive[k] ? Math.abs(x - lambda) : Math.max(0, x - lambda);
    maxExcess = Math.max(maxExcess, e / Math.abs(lambda || 1));
  });
  return { lambda, maxExcess };
}

// ---------------------------------------------------------------------------------------------
// Limits and the Kolmogorov–Smirnov distance
// ---------------------------------------------------------------------------------------------

export interface LimitDistribution {
  /** "beta", "two-point" or "uniform". */
  name: string;
  description: string;
  params: Record<string, number>;
  /** What the limit assumes. */
  assumes: string;
  /** F(x) = P(X ≤ x). */
  cdf(x: number): number;
  /** F(x−) = P(X < x) (differs from cdf only at atoms). */
  cdfLeft(x: number): number;
}

const ASSUMES = "n → ∞ with epsilon = 0, the paper's unshifted utility";

export function betaDistribution(a: number, b: number, description?: string): LimitDistribution {
  const cdf = (x: number) => (x <= 0 ? 0 : x >= 1 ? 1 : regularizedIncompleteBeta(x, a, b));
  return { name: 'beta', description: description ?? `Beta(${a}, ${b})`, params: { a, b }, assumes: ASSUMES, cdf, cdfLeft: cdf };
}

/** ½ δ₀ + ½ δ₁. */
export function twoPointDistribution(): LimitDistribution {
  return {
    name: 'two-point',
    description: 'half the mass at 0, half at 1',
    params: { p0: 0.5, p1: 0.5 },
    assumes: 'n → ∞; exact for every even n',
    cdf: (x) => (x < 0 ? 0 : x < 1 ? 0.5 : 1),
    cdfLeft: (x) => (x <= 0 ? 0 : x <= 1 ? 0.5 : 1),
  };
}

/** The known n → ∞ limit of the optimal rewards for this utility, or null. */
export function limitDistribution(spec: UtilitySpec): LimitDistribution | null {
  const r = makeUtility(spec).spec;
  switch (r.name) {
    case 'linear':
      return twoPointDistribution();
    case 'power': {
      const a = (1 - (r.gamma as number)) / 2;
      return betaDistribution(a, a, `Beta((1−γ)/2, (1−γ)/2) = Beta(${a}, ${a}) for U = d^${r.gamma}`);
    }
    case 'log':
      return betaDistribution(0.5, 0.5, 'Beta(1/2, 1/2) (arcsine) for U = log d');
    case 'inverse':
      return betaDistribution(1, 1, 'Beta(1, 1) = Uniform(0, 1) for U = −1/d');
    case 'inverse-power': {
      const gamma = r.gamma as number;
      if (gamma >= 1) {
        return { ...betaDistribution(1, 1, `Uniform(0, 1) for U = −d^(−${gamma}), γ ≥ 1`), name: 'uniform' };
      }
      const a = (1 + gamma) / 2;
      return betaDistribution(a, a, `Beta((1+γ)/2, (1+γ)/2) = Beta(${a}, ${a}) for U = −d^(−${gamma})`);
    }
    case 'logsigmoid':
      return null;
  }
}

/**
 * Kolmogorov–Smirnov distance sup_x |Fₙ(x) − F(x)| between the empirical CDF of the points and a
 * limit CDF (which may have atoms). Between consecutive distinct points Fₙ is constant and F is
 * monotone, so the sup is attained at a point v, either at v (right-continuous values) or just
 * before it (left limits); the two tails are covered by the first and last point.
 */
export function ksDistanceToLimit(points: number[], dist: LimitDistribution): number {
  const xs = [...points].sort((a, b) => a - b);
  const n = xs.length;
  if (n === 0) throw new RangeError('ksDistanceToLimit: no points');
  let d = 0;
  let i = 0;
  while (i < n) {
    const v = xs[i];
    let j = i;
    while (j < n && xs[j] === v) j++;
    const below = i / n; // Fₙ(v−)
    const at = j / n; // Fₙ(v)
    d = Math.max(d, Math.abs(below - dist.cdfLeft(v)), Math.abs(at - dist.cdf(v)));
    i = j;
  }
  return d;
}

/** log Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error ~1e-15). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * The regularised incomplete beta function I_x(a, b) = B(x; a, b)/B(a, b), by the continued
 * fraction of Numerical Recipes (§6.4, `betacf`, modified Lentz), used directly for
 * x < (a+1)/(a+b+2) and through I_x(a, b) = 1 − I_{1−x}(b, a) otherwise, where it converges fast.
 */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`incomplete beta needs a, b > 0, got a = ${a}, b = ${b}`);
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  const EPS = 1e-15;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    // Even step: d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)).
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    // Odd step: d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)).
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new Error(`incomplete beta: continued fraction did not converge (x = ${x}, a = ${a}, b = ${b})`);
}
