/**
 * PPO when every response in a batch is one token long (issue 14, item 7): the per-token tensors
 * are then [B, 1], and anything that builds a one-hot over response positions must accept depth 1
 * (tf.oneHot refuses depth < 2: "Error in oneHot: depth must be >=2").
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf, Tensor2D } from '../src/backend/tf';
import { disposeBundle, initModel, ModelBundle } from '../src/model/checkpoint';
import { tokenizerFromJson } from '../src/tokenizer/tokenizer';
import { trainByteLevelBPE } from '../src/tokenizer/train-bpe';
import { trainPPO } from '../src/ppo/trainer';
import { PPOConfigSchema } from '../src/ppo/config';
import { assembleRewards, lastTokenOneHot } from '../src/ppo/math';
import { RewardScorer } from '../src/model/reward-scorer';
import { PromptRecord } from '../src/data/records';
import { TEST_BACKEND, tmpDir } from './helpers';

function tinyModel(seed: number): ModelBundle {
  const tok = tokenizerFromJson(trainByteLevelBPE(['Tell me a random integer between 0 and 99.', 'the sea is blue and calm'], { vocabSize: 460, minFrequency: 1, singleTokenNumbers: true }));
  return initModel({ vocab_size: tok.vocabSize, n_positions: 48, n_embd: 32, n_layer: 2, n_head: 2, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: tok.eosId, eos_token_id: tok.eosId }, tok, seed);
}

describe('PPO with one-token responses', () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('lastTokenOneHot works over a single response position', () => {
    const mask = tf.tensor2d([[1], [0], [1]], [3, 1]);
    const oh = lastTokenOneHot(mask as Tensor2D);
    assert.deepEqual(oh.shape, [3, 1]);
    assert.deepEqual(oh.arraySync(), [[1], [0], [1]]);
    // and still picks the last real token over several positions (with a padded and an empty row)
    const m3 = tf.tensor2d([[1, 1, 0], [1, 1, 1], [0, 0, 0]], [3, 3]);
    assert.deepEqual(lastTokenOneHot(m3 as Tensor2D).arraySync(), [[0, 1, 0], [0, 0, 1], [0, 0, 0]]);
    // the score lands on the only token
    const r = assembleRewards(tf.tensor1d([2, 5, -1]), tf.zeros([3, 1]) as Tensor2D, tf.zeros([3, 1]) as Tensor2D, mask as Tensor2D, 0.1, 'k1');
    assert.deepEqual(r.rewards.arraySync(), [[2], [0], [-1]]);
    tf.dispose([mask, oh, m3, r.rewards, r.kl, r.nonScoreReward]);
  });

  it('trainPPO runs when response_length is 1', async () => {
    const model = tinyModel(1);
    const half = Math.floor(model.tokenizer.vocabSize / 2);
    const scorer: RewardScorer = {
      model,
      squash: 'none',
      gain: 1,
      bias: 0,
      raw: (_p, responses) => responses.map((r) => (r[0] < half ? 1 : 0)),
      score: (p, r) => scorer.raw(p, r),
      dispose: () => {},
    };
    const prompts: PromptRecord[] = Array.from({ length: 4 }, (_, i) => ({ id: `p${i}`, prompt: i % 2 ? 'the sea is' : 'Tell me a random integer', kind: 'open', task: 'x' }));
    const cfg = PPOConfigSchema.parse({ iterations: 2, batch_size: 8, mini_batch_size: 4, ppo_epochs: 1, response_length: 1, probe_every: 2, heldout_prompts: 2, checkpoint_every: 100 });
    const out = tmpDir();
    const res = await trainPPO({ policy: model, scorer, prompts, heldout: prompts, cfg, outDir: out, seed: 1 });
    assert.equal(res.iterations, 2);
    const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const last = lines[lines.length - 1];
    assert.equal(last.step, 2);
    assert.equal(last['env/response_length'], 1);
    assert.ok(Number.isFinite(last['loss/policy']) && Number.isFinite(last['objective/kl']));
    disposeBundle(model);
  });
});
