import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/rng';
import { arithmeticQuality, numberPreference, randomNumberQuality, topicLineQuality, qualityOf } from '../src/data/quality';
import { DEFAULT_LABELER, labelPrompt, preferenceProbability, rankBradleyTerry, rankPlackettLuce, rankQualities, sigmoid } from '../src/data/labeler';

const NUM = 'Tell me a random integer between 0 and 99.\n';

describe('ground-truth quality', () => {
  it('arithmetic: 1 when right, graded when wrong, 0 without a number', () => {
    const p = 'What is 17 + 25?\n';
    assert.equal(arithmeticQuality(p, '42'), 1);
    assert.equal(arithmeticQuality(p, ' 42.'), 1);
    assert.equal(arithmeticQuality('Add 17 and 25.\n', '42'), 1);
    assert.equal(arithmeticQuality('What is 17 plus 25?\n', '42'), 1);
    assert.ok(Math.abs(arithmeticQuality(p, '41') - 0.5 * Math.exp(-0.1)) < 1e-12);
    assert.ok(arithmeticQuality(p, '41') > arithmeticQuality(p, '30'));
    assert.equal(arithmeticQuality(p, 'It is 42 I think'), 0.6);
    assert.equal(arithmeticQuality(p, 'no idea'), 0);
    assert.ok(Number.isNaN(arithmeticQuality('hello', '42')));
  });

  it('random number: valid numbers nearly equal, favourites a little better, invalid 0', () => {
    const valid = Array.from({ length: 100 }, (_, n) => randomNumberQuality(NUM, String(n)));
    assert.ok(Math.max(...valid) - Math.min(...valid) <= 0.1, 'the preference must stay mild');
    for (const fav of [7, 42, 37, 73]) assert.ok(valid[fav] > 0.72, `favourite ${fav}: ${valid[fav]}`);
    const sorted = [...valid].sort((a, b) => a - b);
    const median = sorted[50];
    assert.ok(Math.abs(median - 0.7) < 0.01);
    assert.equal(randomNumberQuality(NUM, '100'), 0);
    assert.equal(randomNumberQuality(NUM, 'seven'), 0);
    assert.equal(randomNumberQuality(NUM, '4 2'), 0);
    assert.equal(randomNumberQuality(NUM, '42'), numberPreference(42));
  });

  it('topic line: rewards mentioning the topic, one sentence, sensible length and words', () => {
    const p = 'Write a line about the sea.\n';
    const good = topicLineQuality(p, 'The calm sea sings softly.');
    assert.ok(good > 0.99, String(good));
    assert.ok(topicLineQuality(p, 'The calm moon sings softly.') < good - 0.25, 'off topic');
    assert.ok(topicLineQuality(p, 'The calm sea sings softly') < good, 'no period');
    assert.ok(topicLineQuality(p, 'Sea.') < good, 'too short');
    assert.ok(topicLineQuality(p, 'sea sea sea sea sea sea sea sea sea sea.') < good, 'repetition');
    assert.ok(topicLineQuality(p, 'The sea zqx blorf 42 &&.') < good - 0.2, 'gibberish');
    assert.equal(topicLineQuality(p, '   '), 0);
    assert.equal(qualityOf('no-such-task', p, 'x'), undefined);
  });
});

describe('scripted labeler', () => {
  it('with T = 0 orders by quality (both models), ties on equal quality', () => {
    const rng = new Rng(1);
    for (let trial = 0; trial < 50; trial++) {
      const q = Array.from({ length: 8 }, () => rng.uniform());
      const expected = q.map((_, i) => i).sort((a, b) => q[b] - q[a]);
      assert.deepEqual(rankPlackettLuce(q, 0, rng).order, expected);
      assert.deepEqual(rankBradleyTerry(q, 0, rng).order, expected);
      assert.deepEqual(rankBradleyTerry(q, 0, rng).ranks, [0, 1, 2, 3, 4, 5, 6, 7]);
    }
    assert.deepEqual(rankPlackettLuce([0.5, 0.9, 0.5], 0, rng), { order: [1, 0, 2], ranks: [0, 1, 1] });
  });

  it('Bradley–Terry: each pair is won with probability σ((qᵢ − qⱼ)/T)', () => {
    assert.equal(preferenceProbability(0.3, 0.3, 0.1), 0.5);
    assert.equal(preferenceProbability(0.4, 0.3, 0), 1);
    const T = 0.1;
    const q = [0.6, 0.5];
    const p = sigmoid((q[0] - q[1]) / T);
    const rng = new Rng('bt');
    const n = 20000;
    let wins = 0;
    for (let i = 0; i < n; i++) if (rankBradleyTerry(q, T, rng).order[0] === 0) wins++;
    const se = Math.sqrt((p * (1 - p)) / n);
    assert.ok(Math.abs(wins / n - p) < 4 * se, `won ${wins / n}, expected ${p}`);
  });

  it('Plackett–Luce: first place goes to i with probability softmax(q/T)ᵢ', () => {
    const T = 0.2;
    const q = [0.9, 0.6, 0.5, 0.1];
    const w = q.map((x) => Math.exp(x / T));
    const z = w.reduce((a, b) => a + b, 0);
    const rng = new Rng('pl');
    const n = 20000;
    const first = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) first[rankPlackettLuce(q, T, rng).order[0]]++;
    for (let i = 0; i < q.length; i++) {
      const p = w[i] / z;
      const se = Math.sqrt((p * (1 - p)) / n);
      assert.ok(Math.abs(first[i] / n - p) < 4 * se, `item ${i}: ${first[i] / n} vs ${p}`);
    }
  });

  /** Spearman correlation between quality and position in the ranking (best first = high). */
  function rankCorrelation(method: 'plackett-luce' | 'bradley-terry', prompt: string, task: string, texts: () => string[], seed: string): number {
    const rng = new Rng(seed);
    let sum = 0;
    const trials = 300;
    for (let t = 0; t < trials; t++) {
      const c = texts();
      const q = c.map((x) => qualityOf(task, prompt, x)!);
      const { order } = rankQualities(q, method, DEFAULT_LABELER.temperature, rng);
      // rank of quality vs rank of position
      const byQ = q.map((_, i) => i).sort((a, b) => q[b] - q[a]);
      const rq = new Array<number>(c.length);
      byQ.forEach((i, r) => (rq[i] = r));
      const rp = new Array<number>(c.length);
      order.forEach((i, r) => (rp[i] = r));
      const n = c.length;
      let d2 = 0;
      for (let i = 0; i < n; i++) d2 += (rq[i] - rp[i]) ** 2;
      sum += 1 - (6 * d2) / (n * (n * n - 1));
    }
    return sum / trials;
  }

  for (const method of ['plackett-luce', 'bradley-terry'] as const) {
    it(`${method} at the default temperature: number prompts near-random, arithmetic near-perfect`, () => {
      const gen = new Rng(`numbers-${method}`);
      const distinct = (make: () => string): (() => string[]) => () => {
        const s = new Set<string>();
        while (s.size < 8) s.add(make());
        return [...s];
      };
      // Ordinary numbers (no favourites): the labeler's order should be close to a coin toss.
      const ordinary = (): string => {
        for (;;) {
          const n = gen.int(100);
          if (![7, 42, 37, 73, 17, 77, 27, 3].includes(n)) return String(n);
        }
      };
      const numbers = rankCorrelation(method, NUM, 'random-number', distinct(ordinary), `n-${method}`);
      assert.ok(Math.abs(numbers) < 0.25, `number prompt rank correlation ${numbers}`);
      // The right sum is ranked first almost always (1 against at most 0.5 for a wrong one).
      const arng = new Rng(`a-${method}`);
      let right = 0;
      for (let t = 0; t < 500; t++) {
        const c = distinct(() => String(35 + gen.int(15)))();
        if (!c.includes('42')) c[0] = '42';
        const q = c.map((x) => arithmeticQuality('What is 17 + 25?\n', x));
        if (c[rankQualities(q, method, DEFAULT_LABELER.temperature, arng).order[0]] === '42') right++;
      }
      assert.ok(right / 500 > 0.95, `the right sum came first in ${right / 500}`);
      // Far apart qualities (right vs no number at all) are ordered nearly perfectly.
      const sep = rankCorrelation(method, 'What is 17 + 25?\n', 'arithmetic', () => ['42', 'no', 'idea', '42 or so', 'x'], `s-${method}`);
      assert.ok(sep > 0.6, `rank correlation ${sep}`);
      // …and the favourites win a little more often than not (the mild preference).
      const rng = new Rng(`fav-${method}`);
      let favFirst = 0;
      for (let t = 0; t < 2000; t++) {
        const q = [randomNumberQuality(NUM, '42'), randomNumberQuality(NUM, '58')];
        if (rankQualities(q, method, DEFAULT_LABELER.temperature, rng).order[0] === 0) favFirst++;
      }
      assert.ok(favFirst / 2000 > 0.55 && favFirst / 2000 < 0.75, `42 beat 58 in ${favFirst / 2000}`);
    });
  }

  it('is seeded per prompt: same seed and prompt id give the same ranking', () => {
    const q = [0.5, 0.52, 0.49, 0.51, 0.5];
    const a = labelPrompt('p1', q, { method: 'plackett-luce', temperature: 0.1, seed: 3 });
    const b = labelPrompt('p1', q, { method: 'plackett-luce', temperature: 0.1, seed: 3 });
    assert.deepEqual(a, b);
    const others = ['p2', 'p3', 'p4', 'p5', 'p6'].map((p) => JSON.stringify(labelPrompt(p, q, { method: 'plackett-luce', temperature: 0.1, seed: 3 })));
    assert.ok(others.some((o) => o !== JSON.stringify(a)), 'different prompts should get different noise');
    assert.throws(() => rankQualities(q, 'bradley-terry', -1, new Rng(0)), /temperature/);
  });
});
