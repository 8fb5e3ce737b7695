import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  entropyFromLogits,
  entropyFromLogitsRows,
  entropyFromProbs,
  logProbFromLogits,
  logSoftmax,
  logSumExp,
  sampledEntropy,
  softmax,
  summarizeEntropy,
} from '../src/metrics/entropy';
import { Rng } from '../src/util/rng';

const LN2 = Math.log(2);
const close = (a: number, b: number, tol = 1e-12): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b} (tol ${tol})`);

test('logSumExp: exact values and stability', () => {
  // log(e^0 + e^{ln 3}) = log(1 + 3) = ln 4
  close(logSumExp([0, Math.log(3)]), Math.log(4));
  // 1000 + log(e^0 + e^0) = 1000 + ln 2; a naive exp(1000) would overflow to Infinity
  close(logSumExp([1000, 1000]), 1000 + LN2);
  // −Infinity entries have zero mass: log(e^0) = 0
  close(logSumExp([0, -Infinity]), 0);
  assert.equal(logSumExp([]), -Infinity);
  assert.throws(() => logSumExp([0, NaN]), /NaN/);
});

test('softmax / logSoftmax / logProbFromLogits', () => {
  // logits [ln 2, 0, 0]: weights [2, 1, 1] / 4 = [0.5, 0.25, 0.25]
  const p = softmax([LN2, 0, 0]);
  close(p[0], 0.5);
  close(p[1], 0.25);
  close(p[2], 0.25);
  close(logSoftmax([LN2, 0, 0])[1], Math.log(0.25));
  close(logProbFromLogits([LN2, 0, 0], 0), Math.log(0.5));
  // at T = 2 logits [ln 4, 0] become [ln 2, 0]: p = [2/3, 1/3]
  close(logProbFromLogits([Math.log(4), 0], 1, 2), Math.log(1 / 3));
  assert.throws(() => logProbFromLogits([0, 0], 2), /outside/);
});

test('entropyFromProbs: [0.5, 0.25, 0.25] has entropy 1.5 ln 2', () => {
  // −(0.5 ln 0.5 + 2 · 0.25 ln 0.25) = 0.5 ln 2 + 0.5 · 2 ln 2 = 1.5 ln 2
  close(entropyFromProbs([0.5, 0.25, 0.25]), 1.5 * LN2);
  // uniform over 4: ln 4; one-hot: 0 (0 · log 0 counts as 0)
  close(entropyFromProbs([0.25, 0.25, 0.25, 0.25]), Math.log(4));
  assert.equal(entropyFromProbs([1, 0, 0]), 0);
  // unnormalised weights [2, 1, 1] normalise to [0.5, 0.25, 0.25]
  close(entropyFromProbs([2, 1, 1], { normalize: true }), 1.5 * LN2);
  assert.throws(() => entropyFromProbs([0.5, -0.1]), /probability 1/);
});

test('entropyFromLogits: same 1.5 ln 2 from logits, shifted, masked, and at a temperature', () => {
  // logits = log p + any constant
  close(entropyFromLogits([LN2, 0, 0]), 1.5 * LN2);
  close(entropyFromLogits([1000 + LN2, 1000, 1000]), 1.5 * LN2, 1e-12);
  close(entropyFromLogits([-1000 + LN2, -1000, -1000]), 1.5 * LN2, 1e-12);
  // a masked entry (−Infinity) has no mass and must not turn the sum into NaN
  close(entropyFromLogits([LN2, 0, 0, -Infinity]), 1.5 * LN2);
  // uniform over 4 → ln 4; one-hot → 0
  close(entropyFromLogits([7, 7, 7, 7]), Math.log(4));
  assert.equal(entropyFromLogits([3, -Infinity, -Infinity]), 0);
  // T = 2: [ln 4, 0]/2 = [ln 2, 0] → p = [2/3, 1/3], H = ln 3 − (2/3) ln 2
  close(entropyFromLogits([Math.log(4), 0], 2), Math.log(3) - (2 / 3) * LN2);
  // agrees with entropyFromProbs(softmax(.)) on arbitrary logits
  const logits = [0.3, -1.2, 2.5, 0.0, -0.7];
  close(entropyFromLogits(logits, 0.8), entropyFromProbs(softmax(logits, 0.8)), 1e-12);
  assert.throws(() => entropyFromLogits([-Infinity, -Infinity]), /no mass/);
  assert.throws(() => entropyFromLogits([0, NaN]), /NaN/);
  assert.throws(() => entropyFromLogits([0, 1], 0), /temperature/);
});

test('entropyFromLogitsRows reads each row of a flat [rows, vocab] buffer', () => {
  // row 0: [ln 2, 0, 0] → 1.5 ln 2; row 1: uniform → ln 3
  const flat = new Float32Array([LN2, 0, 0, 5, 5, 5]);
  const h = entropyFromLogitsRows(flat, 3);
  assert.equal(h.length, 2);
  close(h[0], 1.5 * LN2, 1e-7); // float32 input
  close(h[1], Math.log(3), 1e-12);
  assert.throws(() => entropyFromLogitsRows(flat, 4), /multiple/);
});

test('sampledEntropy: mean −log p over real tokens', () => {
  // tokens with p = 1/2, 1/4 (real) and 1/8 (masked): (ln 2 + 2 ln 2) / 2 = 1.5 ln 2
  close(sampledEntropy([Math.log(0.5), Math.log(0.25), Math.log(0.125)], [1, 1, 0]), 1.5 * LN2);
  // without a mask: (1 + 2 + 3) ln 2 / 3 = 2 ln 2
  close(sampledEntropy([Math.log(0.5), Math.log(0.25), Math.log(0.125)]), 2 * LN2);
  assert.ok(Number.isNaN(sampledEntropy([])));
  assert.throws(() => sampledEntropy([0, 0], [1]), /mask length/);
});

test('sampled estimate converges to the exact entropy when tokens are drawn from p', () => {
  // E[−log p(y)] = H(p) = 1.5 ln 2 ≈ 1.0397. −log p is ln 2 or ln 4 with prob 1/2 each, so its sd is
  // ln2/2 ≈ 0.347 and with 20000 draws the standard error is ≈ 0.0025; tolerance 0.015 = 6 se.
  const p = [0.5, 0.25, 0.25];
  const rng = new Rng(1234);
  const lps: number[] = [];
  for (let i = 0; i < 20000; i++) lps.push(Math.log(p[rng.categorical(p)]));
  assert.ok(Math.abs(sampledEntropy(lps) - 1.5 * LN2) < 0.015, `estimate ${sampledEntropy(lps)}`);
});

test('summarizeEntropy: token-weighted means over real tokens only', () => {
  // A: 2 real tokens, −log p = 1, 2; exact 0.5, 1.5
  // B: 1 real token (second masked), −log p = 3; exact 2.0
  // exact = (0.5 + 1.5 + 2) / 3 = 4/3; sampled = (1 + 2 + 3) / 3 = 2;
  // per sequence: mean of sums (1 + 2) and (3) = 3
  const s = summarizeEntropy([
    { logprobs: [-1, -2], entropies: [0.5, 1.5] },
    { logprobs: [-3, -9], entropies: [2.0, 7.0], mask: [1, 0] },
  ]);
  assert.equal(s.sequences, 2);
  assert.equal(s.tokens, 3);
  close(s.exact, 4 / 3);
  close(s.sampled, 2);
  close(s.sampledPerSequence, 3);
  // without exact entropies the exact mean is NaN, the estimate still works
  const t = summarizeEntropy([{ logprobs: [-1, -3] }]);
  assert.ok(Number.isNaN(t.exact));
  close(t.sampled, 2);
  // empty batch: NaN, not 0
  assert.ok(Number.isNaN(summarizeEntropy([]).sampled));
  assert.throws(() => summarizeEntropy([{ logprobs: [-1], entropies: [1, 2] }]), /sample 0: entropies length/);
});
