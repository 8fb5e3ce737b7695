/** The KL-regularised optimum π* ∝ π_ref·exp(r/β) (metrics/optimum.ts) against small cases by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { klRegularisedOptimum, optimisedReward } from '../src/metrics/optimum';

const close = (a: number[], b: number[], tol = 1e-12) => a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < tol, `${i}: ${x} vs ${b[i]}`));

test('π* ∝ π_ref·exp(r/β): three answers by hand', () => {
  const ref = [0.5, 0.3, 0.2];
  const r = [0, 1, 2];
  const w = [0.5, 0.3 * Math.exp(2), 0.2 * Math.exp(4)]; // β = 0.5
  const z = w[0] + w[1] + w[2];
  close(klRegularisedOptimum(ref.map(Math.log), r, 0.5), w.map((x) => x / z));
});

test('large β gives back the reference; a reward shift changes nothing; r/β is computed in log space', () => {
  const ref = [0.1, 0.6, 0.3];
  close(klRegularisedOptimum(ref.map(Math.log), [5, -2, 1], 1e9), ref, 1e-8);
  close(klRegularisedOptimum(ref.map(Math.log), [1, 2, 3], 0.7), klRegularisedOptimum(ref.map(Math.log), [101, 102, 103], 0.7));
  // β = 1e-6 with rewards of order 1: exp(r/β) overflows unless normalised in log space.
  close(klRegularisedOptimum(ref.map(Math.log), [0, 1, 0.5], 1e-6), [0, 1, 0]);
});

test('β = 0 is the limit: the reference restricted to the best reward it can give', () => {
  const ref = [Math.log(0.2), Math.log(0.3), -Infinity, Math.log(0.5)];
  close(klRegularisedOptimum(ref, [1, 2, 9, 2], 0), [0, 0.375, 0, 0.625]); // answer 2 is best but π_ref(2) = 0
});

test('the optimised reward is gain·R + bias; bad β is an error', () => {
  assert.equal(optimisedReward(0.25, { gain: 4, bias: -1 }), 0);
  assert.throws(() => klRegularisedOptimum([0], [0], -1), /β must be a finite number ≥ 0/);
  assert.throws(() => klRegularisedOptimum([0], [0], NaN), /β must be/);
  assert.throws(() => klRegularisedOptimum([0, 0], [0], 1), /2 log-probabilities but 1 rewards/);
});
