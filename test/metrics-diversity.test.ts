import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  countNgrams,
  distinctN,
  diversityByPrompt,
  diversityMetrics,
  diversityOf,
  ead,
  expectedUnique,
  ngrams,
  wordTokens,
} from '../src/metrics/diversity';

const close = (a: number, b: number, tol = 1e-12): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b} (tol ${tol})`);

test('ngrams of a short sequence', () => {
  // [1, 2, 1, 2]: bigrams (1,2) (2,1) (1,2); trigrams (1,2,1) (2,1,2); no 5-gram
  assert.deepEqual(ngrams([1, 2, 1, 2], 2), ['1,2', '2,1', '1,2']);
  assert.equal(ngrams([1, 2, 1, 2], 3).length, 2);
  assert.deepEqual(ngrams([1, 2, 1, 2], 5), []);
  assert.throws(() => ngrams([1], 0), /positive integer/);
});

test('n-gram keys: the id 1 is not the word "1", and quotes/commas inside words do not collide', () => {
  assert.equal(countNgrams([[1], ['1']], 1).unique, 2);
  // ["a,b"] vs ["a", "b"] as 1-grams and the 2-gram (a, b): all different keys
  assert.equal(countNgrams([['a,b'], ['a', 'b']], 1).unique, 3);
  assert.notDeepEqual(ngrams(['a', 'b'], 2), ngrams(['a","b'], 1));
});

test('distinct-n by hand', () => {
  // [1, 2, 1, 2]: unigrams 4 total, {1, 2} unique → 2/4; bigrams 3 total, {(1,2), (2,1)} → 2/3
  close(distinctN([[1, 2, 1, 2]], 1), 0.5);
  close(distinctN([[1, 2, 1, 2]], 2), 2 / 3);
  // trigrams (1,2,1), (2,1,2): both unique → 1
  close(distinctN([[1, 2, 1, 2]], 3), 1);
  // n-grams do not cross sequences: [[1,2],[3,4]] has bigrams (1,2), (3,4) only (not (2,3))
  assert.deepEqual(countNgrams([[1, 2], [3, 4]], 2), { unique: 2, total: 2 });
  // two identical sequences [5,6]: bigrams (5,6) twice → 1/2
  close(distinctN([[5, 6], [5, 6]], 2), 0.5);
  // no n-gram at all: undefined → NaN (not 0, which would read as "collapsed")
  assert.ok(Number.isNaN(distinctN([[1]], 2)));
});

test('expectedUnique and EAD with small V and C', () => {
  // V = 2, C = 2: E[N] = 2 (1 − (1/2)²) = 2 · 3/4 = 1.5
  close(expectedUnique(2, 2), 1.5);
  // [0, 1]: N = 2 → EAD = 2 / 1.5 = 4/3 (more varied than random draws: above 1)
  close(ead([[0, 1]], 1, 2), 4 / 3);
  // [0, 0]: N = 1 → EAD = 1 / 1.5 = 2/3
  close(ead([[0, 0]], 1, 2), 2 / 3);
  // V = 3, C = 3: E[N] = 3 (1 − (2/3)³) = 3 · 19/27 = 19/9; [0, 1, 2]: EAD = 3 / (19/9) = 27/19
  close(expectedUnique(3, 3), 19 / 9);
  close(ead([[0, 1, 2]], 1, 3), 27 / 19);
  // V = 1: every draw is the same item, E[N] = 1
  close(expectedUnique(1, 5), 1);
  // large V, C = 2: V (1 − (1 − 1/V)²) = V (2/V − 1/V²) = 2 − 1/V exactly; needs expm1/log1p to keep digits
  close(expectedUnique(50257, 2), 2 - 1 / 50257, 1e-14);
  // bigrams use the same V (the paper's vocabulary size): [0,1,0,1] with V = 2 has bigrams
  // (0,1) (1,0) (0,1): N = 2, C = 3, E = 2 (1 − 1/8) = 7/4 → EAD = 8/7
  close(ead([[0, 1, 0, 1]], 2, 2), 8 / 7);
  assert.ok(Number.isNaN(ead([[]], 1, 10)));
  assert.throws(() => ead([[1]], 1, 0), /vocabSize/);
});

test('diversityOf gives distinct and EAD for n = 1..5 over one pool', () => {
  const d = diversityOf([[1, 2, 3, 4, 5, 6]], 10);
  assert.deepEqual(d.map((r) => r.n), [1, 2, 3, 4, 5]);
  // all n-grams distinct: distinct-n = 1 for every n; totals 6, 5, 4, 3, 2
  assert.deepEqual(d.map((r) => r.distinct), [1, 1, 1, 1, 1]);
  assert.deepEqual(d.map((r) => r.total), [6, 5, 4, 3, 2]);
  // EAD at n = 5: N = 2, C = 2, E = 10 (1 − 0.81) = 1.9 → 2/1.9
  close(d[4].ead, 2 / 1.9);
});

test('diversityByPrompt: per-input (mean over prompts) and across-input (first samples pooled)', () => {
  // prompt A: the same answer twice; prompt B: two different answers; prompt C: one 1-token answer.
  const groups = [
    [[1, 2, 3], [1, 2, 3]],
    [[4, 5], [6, 7]],
    [[9]],
  ];
  const r = diversityByPrompt(groups, { vocabSize: 10, maxN: 2 });
  assert.equal(r.prompts, 3);
  assert.equal(r.acrossPrompts, 3);

  // per-input n = 1: A 3 unique / 6 = 0.5; B 4/4 = 1; C 1/1 = 1 → mean 2.5/3
  close(r.perInput[0].distinct, 2.5 / 3);
  assert.equal(r.perInput[0].prompts, 3);
  // EAD n = 1 with V = 10: A N=3, C=6: E = 10 (1 − 0.9⁶) = 4.68559 → 0.640261…
  //                       B N=4, C=4: E = 10 (1 − 0.9⁴) = 3.439   → 1.163129…
  //                       C N=1, C=1: E = 10 (1 − 0.9)  = 1       → 1
  const eadA1 = 3 / 4.68559;
  const eadB1 = 4 / 3.439;
  close(r.perInput[0].ead, (eadA1 + eadB1 + 1) / 3, 1e-12);

  // per-input n = 2: A bigrams (1,2)(2,3)(1,2)(2,3): 2/4; B (4,5)(6,7): 2/2; C has none → skipped
  close(r.perInput[1].distinct, (0.5 + 1) / 2);
  assert.equal(r.perInput[1].prompts, 2);
  assert.equal(r.perInput[1].skipped, 1);
  // EAD n = 2: A N=2, C=4 → 2/3.439; B N=2, C=2: E = 10 (1 − 0.81) = 1.9 → 2/1.9
  close(r.perInput[1].ead, (2 / 3.439 + 2 / 1.9) / 2, 1e-12);

  // across-input: first samples [1,2,3], [4,5], [9]: unigrams 6 all distinct → 1;
  // EAD = 6 / (10 (1 − 0.9⁶)) = 6 / 4.68559; bigrams (1,2)(2,3)(4,5): 3/3 = 1
  close(r.acrossInput[0].distinct, 1);
  close(r.acrossInput[0].ead, 6 / 4.68559, 1e-12);
  close(r.acrossInput[1].distinct, 1);

  // across-input with the second sample: only A and B have one: [1,2,3], [6,7] → 5 unigrams, 5 unique
  const r2 = diversityByPrompt(groups, { vocabSize: 10, maxN: 1, acrossIndex: 1 });
  assert.equal(r2.acrossPrompts, 2);
  assert.deepEqual([r2.acrossInput[0].unique, r2.acrossInput[0].total], [5, 5]);

  // a collapsed policy (every prompt, every sample the same) has low per-input AND across-input distinct
  const collapsed = diversityByPrompt([[[7, 8], [7, 8]], [[7, 8], [7, 8]]], { vocabSize: 10 });
  close(collapsed.perInput[0].distinct, 0.5); // 2 unique / 4
  close(collapsed.acrossInput[0].distinct, 0.5); // first samples [7,8],[7,8]: 2 / 4
  assert.equal(collapsed.perInput.length, 5);
  assert.ok(Number.isNaN(collapsed.perInput[2].distinct)); // no trigram anywhere
  assert.equal(collapsed.perInput[2].skipped, 2);
});

test('diversityMetrics flattens to metric names', () => {
  const m = diversityMetrics(diversityByPrompt([[[1, 2], [1, 3]]], { vocabSize: 5, maxN: 2 }));
  // per-input n = 2: bigrams (1,2), (1,3): 2/2 = 1; n = 1: {1,2,3} over 4 = 0.75
  assert.equal(m['diversity/per_input/distinct_2'], 1);
  assert.equal(m['diversity/per_input/distinct_1'], 0.75);
  assert.ok('diversity/across_input/ead_2' in m);
  assert.equal(Object.keys(m).length, 8);
});

test('wordTokens splits words and punctuation', () => {
  assert.deepEqual(wordTokens("Hello, world! It's 42."), ['Hello', ',', 'world', '!', "It's", '42', '.']);
  assert.deepEqual(wordTokens('  '), []);
  // word-level distinct-1 of "the cat the dog": {the, cat, dog} / 4
  close(distinctN([wordTokens('the cat the dog')], 1), 0.75);
});
