import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_COLLAPSE, buildCollapseData, closedCandidates, openCandidates } from '../src/data/collapse-data';
import { assertRanking, RankingRecord } from '../src/data/records';
import { arithmeticQuality } from '../src/data/quality';
import { TOPICS } from '../src/data/lexicon';
import { Rng } from '../src/util/rng';

const data = buildCollapseData({ ...DEFAULT_COLLAPSE, seed: 1 });
const quality = (r: RankingRecord): number[] => (r.meta as { quality: number[] }).quality;

describe('reward-collapse data', () => {
  it('every prompt has 8 ranked completions; both kinds, balanced', () => {
    for (const [name, set] of Object.entries(data)) {
      const n = name === 'train' ? DEFAULT_COLLAPSE.trainPerKind : DEFAULT_COLLAPSE.heldoutPerKind;
      assert.equal(set.filter((r) => r.kind === 'open').length, n);
      assert.equal(set.filter((r) => r.kind === 'closed').length, n);
      set.forEach((r, i) => {
        assertRanking(r, { file: name, line: i + 1 });
        assert.equal(r.completions.length, 8);
        assert.equal(r.source.line, i + 1);
        for (const c of r.completions) assert.ok((r.prompt + c).length <= 90, JSON.stringify(r.prompt + c));
      });
    }
  });

  it('open prompts: evenly spaced quality, and quality = length', () => {
    const rng = new Rng(0);
    for (const topic of TOPICS) {
      const cands = openCandidates(rng, topic);
      assert.deepEqual(cands.map((c) => c.quality), [0, 1, 2, 3, 4, 5, 6, 7].map((j) => j / 7));
      const words = cands.map((c) => c.text.split(/\s+/).length);
      assert.deepEqual(words, [1, 2, 3, 4, 5, 6, 7, 8]);
      for (let j = 1; j < 8; j++) assert.ok(cands[j].text.length > cands[j - 1].text.length);
      assert.equal(new Set(cands.map((c) => c.text)).size, 8);
    }
  });

  it('closed prompts: two clusters, the short correct one better', () => {
    const rng = new Rng(0);
    for (let t = 0; t < 200; t++) {
      const p = { a: rng.int(50), b: rng.int(50) };
      const cands = closedCandidates(rng, p);
      const prompt = `What is ${p.a} + ${p.b}?\n`;
      const good = cands.filter((c) => c.quality > 0.5);
      const bad = cands.filter((c) => c.quality < 0.5);
      assert.equal(good.length, 4);
      assert.equal(bad.length, 4);
      assert.ok(Math.min(...good.map((c) => c.quality)) - Math.max(...bad.map((c) => c.quality)) > 0.8, 'clusters far apart');
      assert.ok(Math.max(...good.map((c) => c.text.length)) < Math.min(...bad.map((c) => c.text.length)), 'short vs long');
      for (const c of good) assert.ok(arithmeticQuality(prompt, c.text) >= 0.6, c.text);
      for (const c of bad) assert.ok(arithmeticQuality(prompt, c.text) < 0.6, c.text);
      assert.equal(new Set(cands.map((c) => c.text)).size, 8);
    }
  });

  it('the low-noise labeler keeps the ground-truth order (> 99% of pairs), with the odd slip allowed', () => {
    let pairs = 0;
    let agree = 0;
    for (const r of [...data.train, ...data.heldout]) {
      const q = quality(r);
      for (let i = 0; i < q.length; i++)
        for (let j = i + 1; j < q.length; j++) {
          pairs++;
          if (q[i] > q[j]) agree++;
        }
    }
    assert.ok(agree / pairs > 0.99, `${agree}/${pairs}`);
    // With T = 0 the order is exactly the ground truth.
    const exact = buildCollapseData({ ...DEFAULT_COLLAPSE, labeler: { method: 'plackett-luce', temperature: 0 }, seed: 2 });
    for (const r of exact.train) {
      const q = quality(r);
      assert.deepEqual(q, [...q].sort((a, b) => b - a));
    }
  });

  it('held-out prompts are new', () => {
    const sum = (prompt: string): string => {
      const m = /(\d+)\s*(?:\+|plus|and)\s*(\d+)/.exec(prompt)!;
      return `${m[1]}+${m[2]}`;
    };
    const trainSums = new Set(data.train.filter((r) => r.kind === 'closed').map((r) => sum(r.prompt)));
    const trainOpen = new Set(data.train.filter((r) => r.kind === 'open').map((r) => r.prompt));
    for (const r of data.heldout) {
      if (r.kind === 'open') assert.ok(!trainOpen.has(r.prompt), r.prompt);
      else assert.ok(!trainSums.has(sum(r.prompt)), r.prompt);
    }
  });
});
