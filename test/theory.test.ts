import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  betaDistribution,
  kktCheck,
  ksDistanceToLimit,
  limitDistribution,
  logGamma,
  regularizedIncompleteBeta,
  solveTheory,
  theoryObjective,
  twoPointDistribution,
} from '../src/reward/theory';
import { makeUtility, UtilitySpec, utilityKey } from '../src/reward/utilities';
import { Rng } from '../src/util/rng';

import { ROOT } from './helpers';

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected} (±${tol})`);
}

function closeArrays(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((x, i) => close(x, expected[i], tol, `${what}[${i}]`));
}

/** Root of a decreasing function on [lo, hi] by bisection (independent of the solver). */
function bisect(f: (x: number) => number, lo: number, hi: number): number {
  assert.ok(f(lo) > 0 && f(hi) < 0, 'bisection bracket');
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    if (f(mid) > 0) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/**
 * Gauss–Lobatto nodes on [−1, 1] (±1 and the roots of P′_{N}, N = n − 1), by the Newton iteration
 * of Trefethen's lglnodes with the Legendre recurrence. The maximiser of Σ log|xᵢ − xⱼ| on an
 * interval (Fekete points) is exactly these nodes (Stieltjes), so this is an independent check of
 * U = log d with ε = 0.
 */
function lobattoOn01(n: number): number[] {
  const N = n - 1;
  let x = Array.from({ length: n }, (_, k) => Math.cos((Math.PI * k) / N));
  for (let iter = 0; iter < 100; iter++) {
    const next = x.map((xi) => {
      let p0 = 1;
      let p1 = xi;
      for (let k = 2; k <= N; k++) {
        const p2 = ((2 * k - 1) * xi * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      // p1 = P_N, p0 = P_{N−1}
      return xi - (xi * p1 - p0) / ((N + 1) * p1);
    });
    const moved = Math.max(...next.map((v, i) => Math.abs(v - x[i])));
    x = next;
    if (moved < 1e-16) break;
  }
  return x.map((v) => (1 + v) / 2); // descending already: cos(0) = 1 first
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe('theory: exact small cases', () => {
  const ALL: UtilitySpec[] = [
    { name: 'logsigmoid' },
    { name: 'logsigmoid', scale: 4 },
    { name: 'linear' },
    { name: 'power', gamma: 0.5 },
    { name: 'power', gamma: 0.5, epsilon: 0 },
    { name: 'log' },
    { name: 'log', epsilon: 0 },
    { name: 'inverse' },
    { name: 'inverse', epsilon: 0 },
    { name: 'inverse-power', gamma: 0.5 },
    { name: 'inverse-power', gamma: 2, epsilon: 0 },
  ];

  it('n = 2: r = (1, 0) and F = U(1) for every utility', () => {
    // Every U is increasing, so the one difference r₁ − r₂ is pushed to its maximum 1.
    for (const spec of ALL) {
      for (const forceNumeric of [false, true]) {
        const res = solveTheory(spec, 2, { forceNumeric });
        assert.deepEqual(res.rewards, [1, 0], utilityKey(spec));
        close(res.objective, makeUtility(spec).value(1), 1e-12, `${utilityKey(spec)} objective`);
      }
    }
  });

  it('n = 3: r = (1, ½, 0) and F = 2U(½) + U(1) for every utility', () => {
    // r₁ = 1 and r₃ = 0 (stretching never lowers F); the middle x maximises
    // U(1 − x) + U(x) + U(1), which is symmetric about ½ and concave, so x = ½ (for U = d any x is
    // optimal and ½ is the documented tie-break).
    for (const spec of ALL) {
      const res = solveTheory(spec, 3);
      const u = makeUtility(spec);
      closeArrays(res.rewards, [1, 0.5, 0], 1e-9, utilityKey(spec));
      close(res.objective, 2 * u.value(0.5) + u.value(1), 1e-9 * Math.max(1, Math.abs(res.objective)), `${utilityKey(spec)} objective`);
    }
  });

  /*
   * n = 4. By uniqueness and the symmetry r ↦ 1 − reverse(r), r = (1, 1 − a, a, 0) with a ∈ [0, ½):
   *   F(a) = 2U(a) + 2U(1 − a) + U(1 − 2a) + U(1)      (pairs 12, 34; 13, 24; 23; 14)
   *   F′(a)/2 = U′(a) − U′(1 − a) − U′(1 − 2a),
   * so a solves U′(a) = U′(1 − a) + U′(1 − 2a) if U′(0) > 2U′(1), and a = 0 otherwise.
   */
  it('n = 4, log (ε-shifted): U′ = 1/(d+ε) gives 5a² − (5+2ε)a + (1−ε²) = 0', () => {
    // (1−a+ε)(1−2a+ε) = (a+ε)[(1−2a+ε) + (1−a+ε)]  ⇔  5a² − (5 + 2ε)a + (1 + ε)(1 − ε) = 0.
    for (const eps of [0, 0.01, 0.1, 0.3]) {
      const b = 5 + 2 * eps;
      const a = (b - Math.sqrt(b * b - 20 * (1 - eps * eps))) / 10;
      if (eps === 0) close(a, (5 - Math.sqrt(5)) / 10, 1e-15, 'ε = 0 root');
      const res = solveTheory({ name: 'log', epsilon: eps }, 4);
      closeArrays(res.rewards, [1, 1 - a, a, 0], 1e-10, `log ε=${eps}`);
    }
  });

  it('n = 4, inverse and power: the same equation solved by bisection', () => {
    const cases: [UtilitySpec, (d: number) => number][] = [
      [{ name: 'inverse', epsilon: 0 }, (d) => 1 / (d * d)],
      [{ name: 'inverse', epsilon: 0.1 }, (d) => 1 / ((d + 0.1) * (d + 0.1))],
      [{ name: 'power', gamma: 0.5, epsilon: 0 }, (d) => 0.5 / Math.sqrt(d)],
      [{ name: 'inverse-power', gamma: 0.5, epsilon: 0.1 }, (d) => 0.5 * Math.pow(d + 0.1, -1.5)],
    ];
    for (const [spec, du] of cases) {
      const a = bisect((x) => du(x) - du(1 - x) - du(1 - 2 * x), 1e-12, 0.5 - 1e-12);
      const res = solveTheory(spec, 4);
      closeArrays(res.rewards, [1, 1 - a, a, 0], 1e-9, utilityKey(spec));
    }
  });

  it('n = 4, logsigmoid: σ(−sa) = σ(−s(1−a)) + σ(−s(1−2a)), or a = 0 when s ≤ ln 3', () => {
    // U′(d) = s·σ(−sd); the interior root exists iff U′(0) > 2U′(1) ⇔ σ(−s) < ¼ ⇔ s > ln 3.
    const s = 4;
    const a = bisect((x) => sigmoid(-s * x) - sigmoid(-s * (1 - x)) - sigmoid(-s * (1 - 2 * x)), 0, 0.5);
    closeArrays(solveTheory({ name: 'logsigmoid', scale: s }, 4).rewards, [1, 1 - a, a, 0], 1e-9, 'logsigmoid s=4');
    closeArrays(solveTheory({ name: 'logsigmoid', scale: 1 }, 4).rewards, [1, 1, 0, 0], 1e-12, 'logsigmoid s=1');
    closeArrays(solveTheory({ name: 'logsigmoid', scale: 1.05 }, 4).rewards, [1, 1, 0, 0], 1e-12, 'logsigmoid s=1.05 < ln 3');
    const s2 = 1.3;
    const a2 = bisect((x) => sigmoid(-s2 * x) - sigmoid(-s2 * (1 - x)) - sigmoid(-s2 * (1 - 2 * x)), 0, 0.5);
    closeArrays(solveTheory({ name: 'logsigmoid', scale: s2 }, 4).rewards, [1, 1 - a2, a2, 0], 1e-9, 'logsigmoid s=1.3');
  });

  it('linear: F = Σᵢ (n + 1 − 2i) rᵢ, so the top half get 1, the bottom half 0, the middle (odd n) ½', () => {
    for (const n of [4, 5, 8, 9]) {
      const half = Math.floor(n / 2);
      const expected = Array.from({ length: n }, (_, i) => (i < half ? 1 : i >= n - half ? 0 : 0.5));
      const res = solveTheory({ name: 'linear' }, n);
      assert.deepEqual(res.rewards, expected, `n=${n}`);
      // Σ_{i ≤ ⌊n/2⌋} (n + 1 − 2i) = ⌊n/2⌋·⌈n/2⌉, e.g. 4 for n = 4, 16 for n = 8.
      assert.equal(res.objective, half * Math.ceil(n / 2), `n=${n} objective`);
      // The numerical solver (barrier method) lands on the same symmetric point: the tie-break is
      // the centre of the optimal face, not an accident of the closed form.
      closeArrays(solveTheory({ name: 'linear' }, n, { forceNumeric: true }).rewards, expected, 1e-6, `n=${n} numeric`);
    }
  });

  it('log with ε = 0 gives the Gauss–Lobatto (Fekete) points, n = 5, 8, 30', () => {
    // n = 5 by hand: P′₄ ∝ x(7x² − 3), nodes 0, ±√(3/7), ±1.
    const q = Math.sqrt(3 / 7);
    closeArrays(solveTheory({ name: 'log', epsilon: 0 }, 5).rewards, [1, (1 + q) / 2, 0.5, (1 - q) / 2, 0], 1e-10, 'n=5');
    for (const n of [8, 30]) closeArrays(solveTheory({ name: 'log', epsilon: 0 }, n).rewards, lobattoOn01(n), 1e-9, `n=${n}`);
  });

  it('ε → 0 approaches the ε = 0 solution continuously', () => {
    for (const spec of [{ name: 'log' }, { name: 'inverse' }, { name: 'power', gamma: 0.5 }] as UtilitySpec[]) {
      const exact = solveTheory({ ...spec, epsilon: 0 }, 8).rewards;
      closeArrays(solveTheory({ ...spec, epsilon: 1e-7 }, 8).rewards, exact, 1e-4, `${spec.name} ε=1e-7`);
      // …and ε = 0.1 is a genuinely different program (what the trainer optimises).
      assert.ok(Math.abs(solveTheory({ ...spec, epsilon: 0.1 }, 8).rewards[1] - exact[1]) > 1e-3, `${spec.name}: ε = 0.1 differs`);
    }
  });

  it('the solution is optimal: KKT holds and no nearby feasible point is better (n = 8, 12)', () => {
    const rng = new Rng(7);
    for (const spec of ALL) {
      for (const n of [8, 12]) {
        const res = solveTheory(spec, n);
        const key = `${utilityKey(spec)} n=${n}`;
        assert.ok(res.kkt.maxExcess < 1e-8, `${key}: KKT residual ${res.kkt.maxExcess}`);
        assert.equal(res.rewards[0], 1, key);
        assert.equal(res.rewards[n - 1], 0, key);
        res.rewards.forEach((r, i) => {
          if (i > 0) assert.ok(r <= res.rewards[i - 1], `${key}: ordered`);
          close(r + res.rewards[n - 1 - i], 1, 1e-12, `${key}: symmetric`);
        });
        const u = makeUtility(spec);
        for (let trial = 0; trial < 30; trial++) {
          // A random feasible point near the optimum: perturb, clip to [0, 1], sort descending.
          const scale = trial < 15 ? 1e-3 : 3e-2;
          const p = res.rewards.map((r) => Math.min(1, Math.max(0, r + scale * rng.normal()))).sort((a, b) => b - a);
          assert.ok(theoryObjective(u, p) <= res.objective + 1e-9 * Math.max(1, Math.abs(res.objective)), `${key}: perturbation ${trial} is better`);
        }
      }
    }
  });

  it('kktCheck flags a non-optimal point', () => {
    const u = makeUtility({ name: 'inverse', epsilon: 0 });
    assert.ok(kktCheck(u, [1, 0.9, 0.5, 0.1, 0]).maxExcess > 0.1);
    assert.ok(kktCheck(makeUtility({ name: 'linear' }), [1, 1, 0.5, 0, 0]).maxExcess < 1e-15);
  });
});

describe('theory: n → ∞ limits (ε = 0)', () => {
  // Kolmogorov–Smirnov distance between the n optimal rewards and the paper's limit. The rewards
  // include 0 and 1, so KS ≥ 1/n; the numbers in comments are what the solver reaches.
  const CANDIDATES: [number, number][] = [
    [0.25, 0.25],
    [0.5, 0.5],
    [0.75, 0.75],
    [1, 1],
  ];
  const cases: { spec: UtilitySpec; n: number; max: number; ab: [number, number] }[] = [
    { spec: { name: 'log', epsilon: 0 }, n: 100, max: 0.011, ab: [0.5, 0.5] }, // 0.0100
    { spec: { name: 'power', gamma: 0.5, epsilon: 0 }, n: 100, max: 0.011, ab: [0.25, 0.25] }, // 0.0100
    { spec: { name: 'inverse-power', gamma: 0.5, epsilon: 0 }, n: 100, max: 0.015, ab: [0.75, 0.75] }, // 0.0130
    { spec: { name: 'inverse-power', gamma: 2, epsilon: 0 }, n: 100, max: 0.015, ab: [1, 1] }, // 0.0114 (uniform, γ ≥ 1)
    // −1/d converges slowly (the Riesz s = 1 case has a log n correction): 0.0202 at n = 200.
    { spec: { name: 'inverse', epsilon: 0 }, n: 200, max: 0.025, ab: [1, 1] },
  ];

  for (const { spec, n, max, ab } of cases) {
    it(`${utilityKey(spec)}: KS to Beta(${ab.join(', ')}) at n = ${n} below ${max}, shrinking with n, and the closest candidate`, () => {
      const limit = limitDistribution(spec);
      assert.ok(limit, 'a limit is known');
      assert.deepEqual(limit.params, { a: ab[0], b: ab[1] });
      const big = solveTheory(spec, n).rewards;
      const small = solveTheory(spec, Math.round(n / 4)).rewards;
      const ks = ksDistanceToLimit(big, limit);
      assert.ok(ks < max, `KS ${ks} at n = ${n}`);
      assert.ok(ks < ksDistanceToLimit(small, limit), `KS at n = ${n} (${ks}) below KS at n = ${Math.round(n / 4)}`);
      for (const [a, b] of CANDIDATES) {
        if (a === ab[0]) continue;
        const other = ksDistanceToLimit(big, betaDistribution(a, b));
        assert.ok(other > ks, `Beta(${a}, ${b}) fits worse (${other}) than the limit (${ks})`);
      }
    });
  }

  it('linear: the two-point limit is exact for even n (KS = 0) and 1/(2n) off for odd n', () => {
    const lim = limitDistribution({ name: 'linear' });
    assert.ok(lim);
    assert.equal(ksDistanceToLimit(solveTheory({ name: 'linear' }, 50).rewards, lim), 0);
    close(ksDistanceToLimit(solveTheory({ name: 'linear' }, 51).rewards, lim), 1 / 102, 1e-15, 'odd n');
  });

  it('limits: parameters per utility, none for logsigmoid', () => {
    assert.deepEqual(limitDistribution({ name: 'power', gamma: 0.2 })?.params, { a: 0.4, b: 0.4 });
    assert.deepEqual(limitDistribution({ name: 'inverse-power', gamma: 0.6 })?.params, { a: 0.8, b: 0.8 });
    assert.equal(limitDistribution({ name: 'inverse-power', gamma: 3 })?.name, 'uniform');
    assert.equal(limitDistribution({ name: 'logsigmoid', scale: 4 }), null);
  });
});

describe('theory: incomplete beta and KS', () => {
  it('logGamma at known values', () => {
    close(logGamma(5), Math.log(24), 1e-13, 'Γ(5)');
    close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-13, 'Γ(½)');
    close(logGamma(0.25), Math.log(3.625609908221908), 1e-13, 'Γ(¼)');
    close(logGamma(100), 359.1342053695754, 1e-10, 'Γ(100)');
  });

  it('I_x(a, b) against closed forms', () => {
    const binom = (n: number, k: number) => {
      let c = 1;
      for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
      return c;
    };
    for (const x of [1e-6, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999]) {
      close(regularizedIncompleteBeta(x, 0.5, 0.5), (2 / Math.PI) * Math.asin(Math.sqrt(x)), 1e-13, `arcsine ${x}`);
      close(regularizedIncompleteBeta(x, 1, 1), x, 1e-14, `uniform ${x}`);
      close(regularizedIncompleteBeta(x, 0.3, 1), Math.pow(x, 0.3), 1e-13, `I(a,1) ${x}`);
      close(regularizedIncompleteBeta(x, 1, 2.5), 1 - Math.pow(1 - x, 2.5), 1e-13, `I(1,b) ${x}`);
      // Integer a, b: I_x(a, b) = Σ_{j=a}^{a+b−1} C(a+b−1, j) x^j (1−x)^{a+b−1−j}.
      for (const [a, b] of [[2, 3], [5, 4], [7, 1]]) {
        let s = 0;
        for (let j = a; j <= a + b - 1; j++) s += binom(a + b - 1, j) * Math.pow(x, j) * Math.pow(1 - x, a + b - 1 - j);
        close(regularizedIncompleteBeta(x, a, b), s, 1e-13, `I(${a},${b}) ${x}`);
      }
      close(regularizedIncompleteBeta(x, 0.25, 0.75) + regularizedIncompleteBeta(1 - x, 0.75, 0.25), 1, 1e-12, `reflection ${x}`); // 1 − x itself is rounded
    }
    close(regularizedIncompleteBeta(0.5, 0.25, 0.25), 0.5, 1e-14, 'symmetric at ½');
    assert.equal(regularizedIncompleteBeta(0, 2, 2), 0);
    assert.equal(regularizedIncompleteBeta(1, 2, 2), 1);
    assert.throws(() => regularizedIncompleteBeta(0.5, 0, 1), /a, b > 0/);
  });

  it('ksDistanceToLimit handles continuous limits and atoms', () => {
    const uniform = betaDistribution(1, 1);
    close(ksDistanceToLimit([0.5], uniform), 0.5, 1e-14, 'one point');
    // Midpoints (i − ½)/n are the best n-point fit to the uniform: KS = 1/(2n).
    close(ksDistanceToLimit(Array.from({ length: 10 }, (_, i) => (i + 0.5) / 10), uniform), 0.05, 1e-15, 'midpoints');
    const two = twoPointDistribution();
    assert.equal(ksDistanceToLimit([1, 1, 0, 0], two), 0);
    close(ksDistanceToLimit([1, 0.5, 0], two), 1 / 6, 1e-15, 'three points');
    assert.equal(ksDistanceToLimit([0.5, 0.5], two), 0.5);
  });
});

describe('rlhf theory (CLI)', () => {
  it('prints the solution as JSON and fails with a clear error on bad flags', () => {
    // `npm test` builds dist/ first; the CLI is run as a child process.
    const run = (...args: string[]) => spawnSync(process.execPath, ['bin/run.js', 'theory', ...args], { cwd: ROOT, encoding: 'utf8' });

    const ok = run('--utility', 'log', '--epsilon', '0', '--n', '5', '--json');
    assert.equal(ok.status, 0, ok.stderr);
    const out = JSON.parse(ok.stdout);
    assert.equal(out.utility, 'log');
    assert.equal(out.n, 5);
    assert.equal(out.epsilon, 0);
    const q = Math.sqrt(3 / 7);
    closeArrays(out.rewards, [1, (1 + q) / 2, 0.5, (1 - q) / 2, 0], 1e-10, 'CLI rewards');
    close(out.objective, theoryObjective(makeUtility({ name: 'log', epsilon: 0 }), out.rewards), 1e-12, 'CLI objective');
    assert.deepEqual(out.limit.params, { a: 0.5, b: 0.5 });
    close(out.ks, ksDistanceToLimit(out.rewards, betaDistribution(0.5, 0.5)), 1e-15, 'CLI ks');

    const ls = JSON.parse(run('--utility', 'logsigmoid', '--scale', '4', '--n', '4', '--json').stdout);
    assert.equal(ls.limit, null);
    assert.equal('ks' in ls, false);
    assert.equal(ls.scale, 4);

    const pa = JSON.parse(run('--utility', 'prompt-aware', '--kind', 'closed', '--n', '4', '--json').stdout);
    assert.equal(pa.utility, 'linear');
    assert.deepEqual(pa.rewards, [1, 1, 0, 0]);

    const human = run('--utility', 'inverse', '--n', '3');
    assert.equal(human.status, 0, human.stderr);
    assert.match(human.stdout, /rank\s+reward/);
    assert.match(human.stdout, /0\.50000000/);

    const bad = run('--utility', 'power', '--n', '4', '--json');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--gamma: power needs gamma/);
    // under --json the error is one JSON document on stdout as well (cli/errors)
    assert.match(JSON.parse(bad.stdout).error.message, /--gamma: power needs gamma/);
  });
});
