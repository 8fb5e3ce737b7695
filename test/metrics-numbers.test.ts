import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  empiricalNumberDistribution,
  fitTemperature,
  klDivergence,
  klFromLogProbs,
  numberCandidates,
  numberDistribution,
  numberDistributionFromLogProbs,
  temperatureLogProbs,
  temperatureRescale,
} from '../src/metrics/numbers';

const LN2 = Math.log(2);
const close = (a: number, b: number, tol = 1e-12): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b} (tol ${tol})`);

test('numberCandidates: "0".."99" by default', () => {
  const c = numberCandidates();
  assert.equal(c.length, 100);
  assert.equal(c[0], '0');
  assert.equal(c[99], '99');
  assert.deepEqual(numberCandidates(3, 5), ['3', '4', '5']);
  assert.throws(() => numberCandidates(5, 3), /lo <= hi/);
});

test('numberDistribution: renormalised p, entropy, fraction of log K, top, invalid mass', () => {
  // raw [0.4, 0.2, 0.2, 0] sums to 0.8 → 0.2 invalid; p = [0.5, 0.25, 0.25, 0];
  // H = 1.5 ln 2; fraction = 1.5 ln 2 / ln 4 = 1.5 ln 2 / (2 ln 2) = 0.75
  const d = numberDistribution([0, 1, 2, 3], [0.4, 0.2, 0.2, 0]);
  assert.deepEqual(d.candidates, ['0', '1', '2', '3']);
  close(d.probs[0], 0.5);
  close(d.probs[1], 0.25);
  assert.equal(d.probs[3], 0);
  close(d.validMass, 0.8);
  close(d.invalidMass, 0.2);
  close(d.entropy, 1.5 * LN2);
  close(d.entropyFraction, 0.75);
  assert.equal(d.top, '0');
  close(d.topProb, 0.5);
  close(d.topRawProb, 0.4);
  // ties: the first candidate wins
  assert.equal(numberDistribution(['a', 'b'], [0.3, 0.3]).top, 'a');
  // uniform over 0..99: entropy ln 100, fraction 1
  const u = numberDistribution(numberCandidates(), new Array(100).fill(0.01));
  close(u.entropy, Math.log(100));
  close(u.entropyFraction, 1);
  // collapsed on 42: entropy 0, top "42" with probability 1
  const onehot = new Array(100).fill(0);
  onehot[42] = 0.9;
  const c = numberDistribution(numberCandidates(), onehot);
  assert.equal(c.entropy, 0);
  assert.equal(c.top, '42');
  assert.equal(c.topProb, 1);
  // no mass on any candidate: NaN distribution, everything invalid
  const z = numberDistribution(['1', '2'], [0, 0]);
  assert.equal(z.invalidMass, 1);
  assert.ok(Number.isNaN(z.entropy));
  assert.throws(() => numberDistribution(['1'], [0.5, 0.5]), /1 candidates but 2/);
  assert.throws(() => numberDistribution(['1', '2'], [0.5, NaN]), /"2"/);
});

test('numberDistributionFromLogProbs equals the probability version', () => {
  const d = numberDistributionFromLogProbs(['7', '8', '9'], [Math.log(0.4), Math.log(0.2), -Infinity]);
  // raw [0.4, 0.2, 0]: valid 0.6, p = [2/3, 1/3, 0], H = ln 3 − (2/3) ln 2
  close(d.validMass, 0.6);
  close(d.probs[0], 2 / 3);
  close(d.entropy, Math.log(3) - (2 / 3) * LN2);
});

test('empiricalNumberDistribution: counts → distribution', () => {
  // answers after trimming: 3, 3, 7, abc (invalid), null (invalid), 3 → n = 6, valid 4
  // counts: 3 → 3, 7 → 1; p = [3/4, 1/4] on {3, 7}; H = −(3/4 ln 3/4 + 1/4 ln 1/4) = 0.5623351446…
  const d = empiricalNumberDistribution([' 3', '3\n', '7', 'abc', null, '3'], numberCandidates(0, 9));
  assert.equal(d.samples, 6);
  assert.equal(d.counts![3], 3);
  assert.equal(d.counts![7], 1);
  close(d.validMass, 4 / 6);
  close(d.invalidMass, 2 / 6);
  close(d.probs[3], 0.75);
  close(d.probs[7], 0.25);
  close(d.entropy, -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)));
  assert.equal(d.top, '3');
  close(d.topProb, 0.75);
  close(d.topRawProb, 0.5); // 3 of 6 answers
  // smoothing 1 over {a, b} with answers [a]: (1+1)/3, (0+1)/3 → [2/3, 1/3]
  const s = empiricalNumberDistribution(['a'], ['a', 'b'], { smoothing: 1 });
  close(s.probs[0], 2 / 3);
  close(s.probs[1], 1 / 3);
  assert.equal(s.validMass, 1);
  // a custom parser: "42." → "42"
  const p = empiricalNumberDistribution(['42.', '42'], numberCandidates(), { normalize: (a) => a.trim().replace(/\.$/, '') });
  assert.equal(p.counts![42], 2);
});

test('KL divergence of known pairs', () => {
  // KL([1/2,1/2] ‖ [1/4,3/4]) = 1/2 ln 2 + 1/2 ln (2/3) = 1/2 ln (4/3) ≈ 0.1438410362
  close(klDivergence([0.5, 0.5], [0.25, 0.75]), 0.5 * Math.log(4 / 3));
  // KL([1,0] ‖ [1/2,1/2]) = 1 · ln 2 (the 0 term contributes nothing)
  close(klDivergence([1, 0], [0.5, 0.5]), LN2);
  // KL([1/2,1/2] ‖ [1,0]) = +∞ (mass where q has none)
  assert.equal(klDivergence([0.5, 0.5], [1, 0]), Infinity);
  assert.equal(klDivergence([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]), 0);
  // the same from log-probabilities
  close(klFromLogProbs([Math.log(0.5), Math.log(0.5)], [Math.log(0.25), Math.log(0.75)]), 0.5 * Math.log(4 / 3));
  close(klFromLogProbs([0, -Infinity], [Math.log(0.5), Math.log(0.5)]), LN2);
  assert.equal(klFromLogProbs([Math.log(0.5), Math.log(0.5)], [0, -Infinity]), Infinity);
  assert.throws(() => klDivergence([1], [0.5, 0.5]), /lengths/);
});

test('temperatureRescale: q_T ∝ p^(1/T) over the candidates', () => {
  const ref = [0.5, 0.25, 0.25].map(Math.log);
  // T = 1/2: p² = [1/4, 1/16, 1/16], sum 3/8 → [2/3, 1/6, 1/6]
  const q = temperatureRescale(ref, 0.5);
  close(q[0], 2 / 3);
  close(q[1], 1 / 6);
  close(q[2], 1 / 6);
  // T = 2: √p = [√.5, .5, .5] / (√.5 + 1)
  const h = temperatureRescale(ref, 2);
  close(h[0], Math.SQRT1_2 / (Math.SQRT1_2 + 1));
  // T = 1 keeps p (and normalises an unnormalised reference: log [2, 1, 1] → [1/2, 1/4, 1/4])
  const one = temperatureRescale([LN2, 0, 0], 1);
  close(one[0], 0.5);
  close(temperatureLogProbs(ref, 1)[1], Math.log(0.25));
  assert.throws(() => temperatureRescale(ref, 0), /temperature/);
});

test('fitTemperature recovers a known temperature', () => {
  // reference: an arbitrary distribution over 6 candidates; the policy is exactly ref at T = 0.37
  const ref = [0.3, 0.25, 0.2, 0.12, 0.08, 0.05].map(Math.log);
  const policy = temperatureRescale(ref, 0.37);
  const fit = fitTemperature(policy, ref);
  close(fit.temperature, 0.37, 1e-6);
  assert.ok(fit.kl < 1e-12, `kl ${fit.kl}`);
  assert.ok(fit.klAtOne > 0.1, `klAtOne ${fit.klAtOne}`);
  assert.equal(fit.atBoundary, false);
  // a hotter policy, T = 3
  close(fitTemperature(temperatureRescale(ref, 3), ref).temperature, 3, 1e-6);
  // policy = reference → T* = 1
  close(fitTemperature(ref.map(Math.exp), ref).temperature, 1, 1e-6);
});

test('fitTemperature: a policy outside the family gets a local minimum; a one-hot policy hits the boundary', () => {
  const ref = [0.4, 0.3, 0.2, 0.1].map(Math.log);
  // a policy that prefers the reference's second answer: no temperature reproduces it, but there is
  // an interior best T (a bit hotter than 1); check it is a minimum against its neighbours
  const policy = [0.2, 0.5, 0.2, 0.1];
  const fit = fitTemperature(policy, ref);
  const kl = (T: number): number => klDivergence(policy, temperatureRescale(ref, T));
  assert.equal(fit.atBoundary, false);
  assert.ok(fit.temperature > 1 && fit.temperature < 3, `T* ${fit.temperature}`);
  assert.ok(fit.kl <= kl(fit.temperature * 1.01) && fit.kl <= kl(fit.temperature / 1.01));
  assert.ok(fit.kl < fit.klAtOne);
  // reversed order [0.1, 0.2, 0.3, 0.4]: ref_T keeps the reference's order for every T > 0, so the
  // closest is the flattest, T → ∞: the search runs to tMax and says so
  const rev = fitTemperature([0.1, 0.2, 0.3, 0.4], ref, { tMax: 50 });
  assert.equal(rev.atBoundary, true);
  close(rev.temperature, 50, 1e-6);
  // policy entirely on the reference's top answer: KL(δ ‖ ref_T) = −log ref_T(top) falls as T → 0,
  // so the search runs to tMin and says so
  const oneHot = fitTemperature([1, 0, 0, 0], ref, { tMin: 0.05, tMax: 10 });
  assert.equal(oneHot.atBoundary, true);
  close(oneHot.temperature, 0.05, 1e-6);
  assert.throws(() => fitTemperature([1], ref), /1 policy probabilities but 4/);
});
