/**
 * PPO end to end on a tiny random model: the loop runs, logs TRL's metric names, frees its tensors,
 * and actually optimises: rewarded for starting with a token from one half of the vocabulary, the
 * policy's reward rises, while the KL to the reference becomes positive.
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
import { trainPPO } from '../src/ppo/trainer';
import { PPOConfigSchema } from '../src/ppo/config';
import { RewardScorer } from '../src/model/reward-scorer';
import { PromptRecord } from '../src/data/records';
import { TEST_BACKEND, tmpDir } from './helpers';

function tinyModel(seed: number): ModelBundle {
  const tok = tokenizerFromJson(trainByteLevelBPE(['Tell me a random integer between 0 and 99.', 'the sea is blue and calm'], { vocabSize: 460, minFrequency: 1, singleTokenNumbers: true }));
  return initModel({ vocab_size: tok.vocabSize, n_positions: 48, n_embd: 32, n_layer: 2, n_head: 2, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: tok.eosId, eos_token_id: tok.eosId }, tok, seed);
}

/** A scripted reward: 1 when the response starts with a token id below `token`, else 0 (≈ half the vocabulary). */
function tokenScorer(model: ModelBundle, token: number): RewardScorer {
  const s: RewardScorer = {
    model,
    squash: 'none',
    gain: 1,
    bias: 0,
    raw: (_p, responses) => responses.map((r) => (r[0] < token ? 1 : 0)),
    score: (p, r) => s.raw(p, r).map((x) => s.gain * x + s.bias),
    dispose: () => {},
  };
  return s;
}

const prompts: PromptRecord[] = Array.from({ length: 8 }, (_, i) => ({ id: `p${i}`, prompt: i % 2 ? 'the sea is' : 'Tell me a random integer between 0 and 99.', kind: 'open', task: 'x' }));

describe('PPO', () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('optimises a scripted reward, logs TRL metric names and frees its tensors', async () => {
    const model = tinyModel(1);
    const target = Math.floor(model.tokenizer.vocabSize / 2);
    const scorer = tokenScorer(model, target);
    const out = tmpDir();
    const cfg = PPOConfigSchema.parse({
      iterations: 12, batch_size: 32, mini_batch_size: 16, ppo_epochs: 4, lr: 1e-2, response_length: 4,
      init_kl_coef: 0.01, adaptive_kl: false, probe_every: 6, heldout_prompts: 4, checkpoint_every: 100,
    });
    const tensorsBefore = tf.memory().numTensors;
    const res = await trainPPO({ policy: model, scorer, prompts, heldout: prompts, cfg, outDir: out, seed: 3 });
    // every model/optimiser tensor created by the trainer is gone again
    assert.equal(tf.memory().numTensors, tensorsBefore);
    const all = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // step 0: the probes of the untouched policy (the start of every probe curve); then one per iteration
    assert.equal(all.length, 13);
    assert.deepEqual(Object.keys(all[0]).filter((k) => k.startsWith('probe/')).sort(), ['probe/entropy', 'probe/entropy_fraction', 'probe/heldout_reward', 'probe/kl_to_optimum', 'probe/kl_to_reference', 'probe/top_prob']);
    assert.equal(all[0].step, 0);
    const lines = all.slice(1);
    assert.deepEqual(lines.map((l) => l.step), Array.from({ length: 12 }, (_, i) => i + 1));
    for (const k of ['objective/kl', 'objective/kl_coef', 'objective/entropy', 'policy/entropy', 'policy/approxkl', 'policy/clipfrac', 'loss/policy', 'loss/value', 'env/reward_mean', 'env/reward_std', 'time/generation', 'time/scoring', 'time/optimization'])
      assert.ok(typeof lines[0][k] === 'number' && Number.isFinite(lines[0][k]), `${k} = ${lines[0][k]}`);
    // explained variance is undefined (0/0) while every return is equal; later it is a number
    assert.ok(lines.some((l) => typeof l['val/var_explained'] === 'number'));
    assert.ok(lines[0]['env/reward_hist'], 'reward histogram logged');
    const first = lines.slice(0, 3).reduce((a, l) => a + l['env/reward_mean'], 0) / 3;
    const last = lines.slice(-3).reduce((a, l) => a + l['env/reward_mean'], 0) / 3;
    assert.ok(last > first + 0.2, `reward should rise: ${first.toFixed(3)} → ${last.toFixed(3)}`);
    assert.ok(lines[lines.length - 1]['objective/kl'] > 0, 'the policy moved away from the reference');
    assert.equal(res.iterations, 12);
    // the checkpoint is a GPT-2 directory with the value head
    const st = fs.readdirSync(path.join(out, 'model'));
    assert.ok(st.includes('model.safetensors') && st.includes('config.json') && st.includes('tokenizer.json'));
    disposeBundle(model);
  });

  it('the adaptive controller moves β toward the target', async () => {
    const model = tinyModel(2);
    const scorer = tokenScorer(model, Math.floor(model.tokenizer.vocabSize / 2));
    const out = tmpDir();
    const cfg = PPOConfigSchema.parse({
      iterations: 3, batch_size: 16, mini_batch_size: 16, ppo_epochs: 1, lr: 1e-4, response_length: 3,
      init_kl_coef: 0.2, adaptive_kl: true, target_kl: 100, kl_horizon: 10, probe_every: 10, heldout_prompts: 2,
    });
    const res = await trainPPO({ policy: model, scorer, prompts, heldout: prompts, cfg, outDir: out, seed: 4 });
    // KL ≪ target: e = −0.2 each time, β ← β(1 − 0.2·16/10) = 0.68β
    assert.ok(Math.abs(res.kl.beta_final - 0.2 * 0.68 ** 3) < 1e-9, `β = ${res.kl.beta_final}`);
    disposeBundle(model);
  });

  it('whiten_advantages: on, the policy loss does not grow with the reward scale; off, it does', async () => {
    const firstLoss = async (whiten: boolean, gain: number): Promise<number> => {
      const model = tinyModel(5);
      const scorer = tokenScorer(model, Math.floor(model.tokenizer.vocabSize / 2));
      scorer.gain = gain;
      const out = tmpDir();
      const cfg = PPOConfigSchema.parse({
        iterations: 1, batch_size: 16, mini_batch_size: 16, ppo_epochs: 1, lr: 1e-4, response_length: 3,
        init_kl_coef: 0, adaptive_kl: false, probe_every: 10, heldout_prompts: 2, whiten_advantages: whiten,
      });
      await trainPPO({ policy: model, scorer, prompts, heldout: prompts, cfg, outDir: out, seed: 6 });
      const line = JSON.parse(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').pop()!);
      disposeBundle(model);
      return Math.abs(line['loss/policy']);
    };
    // One minibatch, ratio 1: the policy loss is −mean(A). Whitened, A has mean 0 and std 1 whatever the scale.
    assert.ok((await firstLoss(true, 100)) < 1e-3, 'whitened advantages have mean 0');
    const raw1 = await firstLoss(false, 1);
    const raw100 = await firstLoss(false, 100);
    assert.ok(raw100 > 20 * raw1, `un-whitened, the loss follows the reward scale: ${raw1} → ${raw100}`);
  });
});
