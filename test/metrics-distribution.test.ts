import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  histogram,
  ksDistance,
  mean,
  meanByRank,
  quantile,
  quantiles,
  std,
  summarize,
  wasserstein1,
} from '../src/metrics/distribution';
import { Rng } from '../src/util/rng';

const close = (a: number, b: number, tol = 1e-12): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b} (tol ${tol})`);

test('mean and std', () => {
  // [1,2,3,4]: mean 2.5; squared deviations 2.25+0.25+0.25+2.25 = 5 → pop var 5/4, sample var 5/3
  close(mean([1, 2, 3, 4]), 2.5);
  close(std([1, 2, 3, 4]), Math.sqrt(1.25));
  close(std([1, 2, 3, 4], 1), Math.sqrt(5 / 3));
  assert.ok(Number.isNaN(mean([])));
  assert.ok(Number.isNaN(std([1], 1)));
  // two-pass std keeps precision far from 0: [1e9+1, 1e9+2, 1e9+3, 1e9+4] has the same std
  close(std([1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4]), Math.sqrt(1.25), 1e-9);
});

test('quantiles by linear interpolation (numpy default)', () => {
  // sorted [1,2,3,4], h = 3q: q=0.5 → h=1.5 → 2.5; q=0.25 → h=0.75 → 1.75; q=0 → 1; q=1 → 4
  const xs = [4, 1, 3, 2];
  close(quantile(xs, 0.5), 2.5);
  close(quantile(xs, 0.25), 1.75);
  assert.deepEqual(quantiles(xs, [0, 1]), [1, 4]);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  assert.throws(() => quantile(xs, 1.5), /q must be/);
  // the input is not reordered
  assert.deepEqual(xs, [4, 1, 3, 2]);
});

test('summarize leaves out and counts non-finite values', () => {
  // finite [1, 2, 3]: mean 2, median 2, p25: h = 0.5 → 1.5, p75 → 2.5, std √(2/3)
  const s = summarize([3, 1, NaN, 2, Infinity]);
  assert.equal(s.count, 3);
  assert.equal(s.nonfinite, 2);
  close(s.mean, 2);
  close(s.median, 2);
  close(s.p25, 1.5);
  close(s.p75, 2.5);
  close(s.std, Math.sqrt(2 / 3));
  assert.equal(s.min, 1);
  assert.equal(s.max, 3);
  // p05 of [1,2,3]: h = 0.1 → 1.1
  close(s.p05, 1.1);
  assert.ok(Number.isNaN(summarize([]).mean));
});

test('histogram with fixed bins', () => {
  // bins over [0, 1] of width 0.25: edges 0, .25, .5, .75, 1
  // 0, 0.1 → bin 0; 0.25 → bin 1 (left-closed); 0.5 → bin 2; 0.99 and 1 → bin 3 (last bin closed)
  const h = histogram([0, 0.1, 0.25, 0.5, 0.99, 1, -0.1, 1.5, NaN], { lo: 0, hi: 1, bins: 4 });
  assert.deepEqual(h.edges, [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(h.counts, [2, 1, 1, 2]);
  assert.equal(h.underflow, 1);
  assert.equal(h.overflow, 1);
  assert.equal(h.nan, 1);
  // every value in range lands in the bin whose edges hold it, even where (x − lo)/width rounds
  // across an edge (0.7/0.1 = 6.999…, while edges[7] = 7 · 0.1 = 0.7000000000000001)
  const xs = Array.from({ length: 101 }, (_, i) => i / 100);
  const g = histogram(xs, { lo: 0, hi: 1, bins: 10 });
  assert.equal(g.counts.reduce((a, b) => a + b, 0), 101);
  for (const x of xs) {
    const k = histogram([x], { lo: 0, hi: 1, bins: 10 }).counts.indexOf(1);
    assert.ok(g.edges[k] <= x && (x < g.edges[k + 1] || k === 9), `x=${x} in bin ${k}`);
  }
  // a case where plain floor((x − lo)/width) is one bin off: lo 0.2, hi 0.9, 7 bins: width
  // 0.7/7 = 0.09999999999999999, edges[1] = 0.2 + width = 0.3 exactly, but (0.3 − 0.2)/width =
  // 0.0999…98/0.0999…99 < 1 → floor 0; the edges say 0.3 starts bin 1
  const e = histogram([0.3], { lo: 0.2, hi: 0.9, bins: 7 });
  assert.equal(e.edges[1], 0.3);
  assert.deepEqual(e.counts, [0, 1, 0, 0, 0, 0, 0]);
  assert.throws(() => histogram([1], { lo: 1, hi: 0, bins: 3 }), /lo < hi/);
});

test('Wasserstein-1: hand values', () => {
  // {0,1} vs {0.5,0.5}: F_a = 1/2 on [0,1); F_b = 0 on [0,.5), 1 after:
  // ∫ = |1/2 − 0|·0.5 + |1/2 − 1|·0.5 = 0.25 + 0.25 = 0.5
  close(wasserstein1([0, 1], [0.5, 0.5]), 0.5);
  // point masses: |0 − 3| = 3
  close(wasserstein1([0], [3]), 3);
  // unequal sizes: {0,1} vs {0}: |1/2 − 1| on [0,1) → 0.5
  close(wasserstein1([0, 1], [0]), 0.5);
  // {0, 0, 3} vs {1}: F_a = 2/3 on [0,1), 2/3 on [1,3) vs F_b = 0 then 1:
  // 2/3·1 + |2/3 − 1|·2 = 2/3 + 2/3 = 4/3 (= E|a − 1| = (1 + 1 + 2)/3)
  close(wasserstein1([0, 0, 3], [1]), 4 / 3);
  assert.equal(wasserstein1([1, 2, 2, 5], [5, 2, 1, 2]), 0);
  assert.throws(() => wasserstein1([], [1]), /empty/);
  assert.throws(() => wasserstein1([1], [NaN]), /b\[0\]/);
});

test('Wasserstein-1: equal sizes equal the mean gap of sorted samples; a shift by c costs c', () => {
  const rng = new Rng(7);
  const a = Array.from({ length: 200 }, () => rng.normal());
  const b = Array.from({ length: 200 }, () => 2 * rng.uniform() - 0.5);
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  const direct = sa.reduce((s, x, i) => s + Math.abs(x - sb[i]), 0) / sa.length;
  close(wasserstein1(a, b), direct, 1e-10);
  close(wasserstein1(b, a), direct, 1e-10);
  close(wasserstein1(a, a.map((x) => x + 0.3)), 0.3, 1e-10);
});

test('Kolmogorov–Smirnov distance: hand values and ties', () => {
  // {0,1} vs {0.5,0.5}: after 0: |1/2 − 0|; after 0.5: |1/2 − 1|; after 1: 0 → D = 1/2
  close(ksDistance([0, 1], [0.5, 0.5]), 0.5);
  // disjoint supports → 1
  assert.equal(ksDistance([0, 1], [2, 3]), 1);
  // identical samples with ties → 0 (ties stepped over together)
  assert.equal(ksDistance([1, 1, 2], [2, 1, 1]), 0);
  // {1,2,3} vs {1,2,3,4}: gaps 1/3−1/4, 2/3−1/2, 1−3/4, 0 → max 1/4
  close(ksDistance([1, 2, 3], [1, 2, 3, 4]), 0.25);
  assert.throws(() => ksDistance([], [1]), /empty/);
});

test('meanByRank: mean, std and count per rank position', () => {
  // position 0: {3, 5} → mean 4, std 1; position 1: {2, 4} → 3, 1; position 2: {1} → 1, 0
  const c = meanByRank([[3, 2, 1], [5, 4]]);
  assert.deepEqual(c.mean, [4, 3, 1]);
  assert.deepEqual(c.std, [1, 1, 0]);
  assert.deepEqual(c.count, [2, 2, 1]);
  assert.deepEqual(meanByRank([]).mean, []);
});
