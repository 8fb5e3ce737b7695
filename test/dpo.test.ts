/**
 * DPO end to end on a tiny random model (src/dpo/trainer.ts): the pairs are every pair of each
 * ranking (the reward-model trainer's enumeration); at the first step the policy is the reference
 * (implicit rewards 0, loss ln 2: the reference log-probabilities were computed from the same model
 * and packing); training raises the implicit-reward accuracy and margin on the training pairs; TRL's
 * metric names and the shared ones are logged; tensors are freed; the summary records DPO's
 * objective, and π* of the implicit reward equals the reference at step 0.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf } from '../src/backend/tf';
import { disposeBundle, initModel, ModelBundle } from '../src/model/checkpoint';
import { tokenizerFromJson } from '../src/tokenizer/tokenizer';
import { trainByteLevelBPE } from '../src/tokenizer/train-bpe';
import { trainDPO } from '../src/dpo/trainer';
import { DPOConfigSchema } from '../src/dpo/config';
import { preferencePairs } from '../src/dpo/pairs';
import { pairsOf } from '../src/reward/pairs';
import { readDpoObjective } from '../src/data/artifacts';
import { RankingRecord } from '../src/data/records';
import { TEST_BACKEND, tmpDir } from './helpers';

function tinyModel(seed: number): ModelBundle {
  const tok = tokenizerFromJson(trainByteLevelBPE(['Tell me a random integer between 0 and 99.', 'the sea is blue and calm', 'seven 7 12 55 81'], { vocabSize: 460, minFrequency: 1, singleTokenNumbers: true }));
  return initModel({ vocab_size: tok.vocabSize, n_positions: 48, n_embd: 32, n_layer: 2, n_head: 2, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: tok.eosId, eos_token_id: tok.eosId }, tok, seed);
}

const ranking = (id: string, completions: string[], ranks: number[]): RankingRecord => ({
  id,
  prompt: id.startsWith('n') ? 'Tell me a random integer between 0 and 99.\n' : 'the sea is',
  task: id.startsWith('n') ? 'random-number' : 'topic-line',
  completions,
  ranks,
  source: { format: 'test', file: 'test', line: 1 },
});
const rankings: RankingRecord[] = [
  ranking('n1', ['81', '55', '7', 'the sea'], [0, 1, 2, 3]),
  ranking('n2', ['81', '12', 'calm'], [0, 1, 1]), // a tie: 12 and calm make no pair
  ranking('s1', [' blue and calm', ' calm', ' 7'], [0, 1, 2]),
];

describe('DPO', () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('pairs: every ranked pair of a prompt, ties none, the same enumeration as the reward-model trainer', () => {
    const pairs = preferencePairs(rankings);
    assert.equal(pairs.length, 6 + 2 + 3);
    const idx = pairsOf(rankings);
    const flat = rankings.flatMap((r) => r.completions);
    assert.deepEqual(pairs.map((p) => [p.chosen, p.rejected]), idx.better.map((b, i) => [flat[b], flat[idx.worse[i]]]));
    assert.ok(!pairs.some((p) => p.chosen === '12' && p.rejected === 'calm'));
  });

  for (const lossType of ['sigmoid', 'ipo'] as const) {
    it(`${lossType}: starts at the reference, learns the preferences, logs TRL's names, frees its tensors`, async () => {
      const model = tinyModel(1);
      const out = tmpDir();
      const cfg = DPOConfigSchema.parse({ epochs: 30, batch_size: 11, lr: 5e-3, beta: 0.5, loss_type: lossType, probe_every: 15, kl_samples: 8, checkpoint_every: 1000 });
      const pairs = preferencePairs(rankings);
      const before = tf.memory().numTensors;
      const res = await trainDPO({ policy: model, pairs, heldoutPairs: pairs.slice(0, 3), heldoutPrompts: [], cfg, outDir: out, seed: 2 });
      assert.equal(tf.memory().numTensors, before, 'every tensor the trainer made is gone');
      const all = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(all.length, 31);
      const [zero, first] = all;
      // step 0: π = π_ref, so π* of the implicit reward is the reference and KL to it 0; sampled KL 0
      assert.ok(Math.abs(zero['probe/kl_to_optimum']) < 1e-6, `KL(π ‖ π*) at step 0 = ${zero['probe/kl_to_optimum']}`);
      assert.ok(Math.abs(zero['objective/kl']) < 1e-4, `objective/kl at step 0 = ${zero['objective/kl']}`);
      // step 1 is computed before its update: the policy is still the reference
      assert.ok(Math.abs(first['rewards/chosen']) < 1e-5 && Math.abs(first['rewards/rejected']) < 1e-5, JSON.stringify(first));
      if (lossType === 'sigmoid') assert.ok(Math.abs(first.loss - Math.LN2) < 1e-5, `loss ${first.loss}`);
      for (const k of ['loss', 'rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected', 'entropy', 'learning_rate', 'time/optimization'])
        assert.ok(typeof first[k] === 'number' && Number.isFinite(first[k]), `${k} = ${first[k]}`);
      const last = all[all.length - 1];
      assert.ok(last['rewards/margins'] > 0.5, `margin ${last['rewards/margins']}`);
      assert.ok(last['rewards/accuracies'] > 0.8, `accuracy ${last['rewards/accuracies']}`);
      assert.ok(last['eval/rewards/accuracies'] > 0.6 && typeof last['eval/loss'] === 'number', JSON.stringify(last));
      assert.ok(last['objective/kl'] > 0, 'the policy moved away from the reference');
      assert.equal(res.steps, 30);
      const obj = readDpoObjective(out);
      assert.deepEqual(obj, { kind: 'dpo-implicit', beta: 0.5, temperature: 1 });
      disposeBundle(model);
    });
  }

  it('resuming from the mid-run checkpoint gives the same metrics and policy as the uninterrupted run', async () => {
    const model = tinyModel(3);
    const cfg = DPOConfigSchema.parse({ epochs: 2, batch_size: 4, lr: 5e-3, beta: 0.5, probe_every: 2, kl_samples: 4, checkpoint_every: 3 });
    const pairs = preferencePairs(rankings);
    const a = tmpDir();
    const res = await trainDPO({ policy: model, pairs, heldoutPairs: [], heldoutPrompts: [], cfg, outDir: a, seed: 5 });
    assert.equal(res.steps, 6);
    // The finished run leaves its step-3 checkpoint: resuming a copy redoes steps 4–6 from it.
    const b = tmpDir();
    fs.cpSync(a, b, { recursive: true });
    // Mark a record before the checkpoint: a resumed run keeps it, a run started afresh would rewrite it.
    const file = path.join(b, 'metrics.jsonl');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').split('\n').map((l) => (l && JSON.parse(l).step === 1 ? JSON.stringify({ ...JSON.parse(l), marker: 1 }) : l)).join('\n'));
    await trainDPO({ policy: model, pairs, heldoutPairs: [], heldoutPrompts: [], cfg, outDir: b, seed: 5, resume: true });
    const read = (d: string) => fs.readFileSync(path.join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => Object.fromEntries(Object.entries(JSON.parse(l)).filter(([k]) => !k.startsWith('time/') && k !== 'time' && k !== 'elapsed')));
    const [ra, rb] = [read(a), read(b)];
    assert.equal(rb[1].marker, 1, 'the records up to the checkpoint were kept: the run resumed');
    delete rb[1].marker;
    assert.deepEqual(rb, ra);
    assert.deepEqual(fs.readFileSync(path.join(b, 'model', 'model.safetensors')), fs.readFileSync(path.join(a, 'model', 'model.safetensors')));
    disposeBundle(model);
  });
});
