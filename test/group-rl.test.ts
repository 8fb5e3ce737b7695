/**
 * GRPO and RLOO end to end on a tiny random model (src/group-rl/trainer.ts): rewarded for starting
 * with a token from one half of the vocabulary, the reward rises and the policy leaves the
 * reference; TRL's metric names and the shared ones are logged; every tensor is freed; the summary
 * records the objective in the schema the probe reads (readPpoObjective).
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
import { trainGroup } from '../src/group-rl/trainer';
import { GRPOConfigSchema, RLOOConfigSchema } from '../src/group-rl/config';
import { RewardScorer } from '../src/model/reward-scorer';
import { PromptRecord } from '../src/data/records';
import { readPpoObjective } from '../src/data/artifacts';
import { TEST_BACKEND, tmpDir } from './helpers';

function tinyModel(seed: number): ModelBundle {
  const tok = tokenizerFromJson(trainByteLevelBPE(['Tell me a random integer between 0 and 99.', 'the sea is blue and calm'], { vocabSize: 460, minFrequency: 1, singleTokenNumbers: true }));
  return initModel({ vocab_size: tok.vocabSize, n_positions: 48, n_embd: 32, n_layer: 2, n_head: 2, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: tok.eosId, eos_token_id: tok.eosId }, tok, seed);
}

/** 1 when the response starts with a token id below `token`, else 0. */
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
const common = { iterations: 30, batch_size: 64, mini_batch_size: 32, num_iterations: 1, lr: 1e-2, response_length: 4, probe_every: 15, heldout_prompts: 4, checkpoint_every: 100 };

function lines(out: string): Record<string, number>[] {
  return fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

describe('GRPO and RLOO', () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
  });

  for (const algorithm of ['grpo', 'rloo'] as const) {
    it(`${algorithm}: optimises a scripted reward, logs TRL's metric names, frees its tensors, records its objective`, async () => {
      const model = tinyModel(1);
      const scorer = tokenScorer(model, Math.floor(model.tokenizer.vocabSize / 2));
      const out = tmpDir();
      const cfg =
        algorithm === 'grpo'
          ? { algorithm, ...GRPOConfigSchema.parse({ ...common, num_generations: 4, beta: 0.01 }) }
          : { algorithm, ...RLOOConfigSchema.parse({ ...common, num_generations: 4, beta: 0.01 }) };
      const before = tf.memory().numTensors;
      const res = await trainGroup({ policy: model, scorer, prompts, heldout: prompts, cfg, outDir: out, seed: 3 });
      assert.equal(tf.memory().numTensors, before, 'every tensor the trainer made is gone');
      const all = lines(out);
      assert.equal(all.length, 31);
      assert.equal(all[0].step, 0);
      const rows = all.slice(1);
      for (const k of ['reward', 'reward_std', 'frac_reward_zero_std', 'kl', 'entropy', 'loss', 'clip_ratio/low_mean', 'clip_ratio/high_mean', 'clip_ratio/region_mean', 'completions/mean_length', 'objective/kl', 'objective/kl_coef', 'time/generation', 'time/optimization'])
        assert.ok(typeof rows[0][k] === 'number' && Number.isFinite(rows[0][k]), `${k} = ${rows[0][k]}`);
      assert.ok(rows.some((r) => r['clip_ratio/region_mean'] > 0), 'the second minibatch of an iteration is off-policy: the ratio leaves the clip range at times');
      const first = rows.slice(0, 3).reduce((a, l) => a + l.reward, 0) / 3;
      const last = rows.slice(-3).reduce((a, l) => a + l.reward, 0) / 3;
      assert.ok(last > first + 0.2, `reward should rise: ${first.toFixed(3)} → ${last.toFixed(3)}`);
      assert.ok(rows[rows.length - 1]['objective/kl'] > 0, 'the policy moved away from the reference');
      const obj = readPpoObjective(out);
      assert.equal(obj.algorithm, algorithm);
      assert.equal(obj.beta, 0.01);
      assert.equal(obj.exact, algorithm === 'rloo', 'π* is the exact fixed point for RLOO, not for GRPO');
      assert.equal(res.iterations, 30);
      assert.ok(fs.existsSync(path.join(out, 'model', 'model.safetensors')));
      disposeBundle(model);
    });
  }

  for (const algorithm of ['grpo', 'rloo'] as const) {
    it(`${algorithm}: resuming from the mid-run checkpoint gives the same metrics and policy as the uninterrupted run`, async () => {
      const model = tinyModel(4);
      const half = Math.floor(model.tokenizer.vocabSize / 2);
      const o = { iterations: 4, batch_size: 16, mini_batch_size: 8, num_iterations: 2, lr: 1e-2, response_length: 3, probe_every: 2, heldout_prompts: 2, checkpoint_every: 2, num_generations: 4, beta: 0.05, reward_norm: true, reward_norm_samples: 8 };
      const cfg = algorithm === 'grpo' ? { algorithm, ...GRPOConfigSchema.parse(o) } : { algorithm, ...RLOOConfigSchema.parse(o) };
      const a = tmpDir();
      await trainGroup({ policy: model, scorer: tokenScorer(model, half), prompts, heldout: prompts, cfg, outDir: a, seed: 9 });
      // The finished run leaves its step-2 checkpoint: a copy of the directory is a run that
      // crashed after step 4's records were written; --resume redoes steps 3 and 4 from it.
      const b = tmpDir();
      fs.cpSync(a, b, { recursive: true });
      // Mark a record before the checkpoint: a resumed run keeps it, a run started afresh would rewrite it.
      const file = path.join(b, 'metrics.jsonl');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').split('\n').map((l) => (l && JSON.parse(l).step === 1 ? JSON.stringify({ ...JSON.parse(l), marker: 1 }) : l)).join('\n'));
      await trainGroup({ policy: model, scorer: tokenScorer(model, half), prompts, heldout: prompts, cfg, outDir: b, seed: 9, resume: true });
      const strip = (rs: Record<string, number>[]) => rs.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('time/') && k !== 'time' && k !== 'elapsed')));
      const [la, lb] = [strip(lines(a)), strip(lines(b))];
      assert.equal(lb[1].marker, 1, 'the records up to the checkpoint were kept: the run resumed');
      delete lb[1].marker;
      assert.deepEqual(lb, la);
      assert.deepEqual(fs.readFileSync(path.join(b, 'model', 'model.safetensors')), fs.readFileSync(path.join(a, 'model', 'model.safetensors')));
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(b, 'summary.json'), 'utf8')).objective, JSON.parse(fs.readFileSync(path.join(a, 'summary.json'), 'utf8')).objective, 'reward normalisation restored');
      disposeBundle(model);
    });
  }

  it('a batch that is not whole groups is an error naming the fields', async () => {
    const model = tinyModel(2);
    const scorer = tokenScorer(model, 10);
    const cfg = { algorithm: 'grpo' as const, ...GRPOConfigSchema.parse({ ...common, batch_size: 30, num_generations: 4, mini_batch_size: 30, iterations: 2 }) };
    await assert.rejects(trainGroup({ policy: model, scorer, prompts, heldout: [], cfg, outDir: tmpDir(), seed: 1 }), /grpo\.batch_size \(30\) must be a multiple of grpo\.num_generations \(4\)/);
    disposeBundle(model);
  });
});
