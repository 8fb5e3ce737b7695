/**
 * Checkpoints other engines write, read as those engines read them (fixtures from
 * scripts/make_import_fixtures.py: TRL 1.16's RewardTrainer, TRL 1.12's PPOTrainer and
 * AutoModelForCausalLMWithValueHead, OpenRLHF 0.11's RewardModel layout; the numbers in each
 * expected.json were computed by transformers / TRL / OpenRLHF's own code in Python):
 *
 *  - a TRL reward model (GPT2ForSequenceClassification, pad = EOS) gives transformers' logit and
 *    TRL PPO's get_reward: the token before the EOS, no sigmoid;
 *  - an OpenRLHF reward model gives its head at the EOS, normalised by config.json's mean and std;
 *  - a TRL value-head checkpoint loads as a policy (same logits), and its v_head.summary gives TRL's value;
 *  - TRL's PPO output (a tokenizer with [PAD] past the vocabulary) loads, samples and probes.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf, Tensor2D } from '../src/backend/tf';
import { disposeBundle, loadModel } from '../src/model/checkpoint';
import { forward, logits } from '../src/model/gpt2';
import { loadRewardScorer } from '../src/model/reward-scorer';
import { generate } from '../src/model/generate';
import { fixturePath, runCli, TEST_BACKEND, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';

const FIX = fixturePath('import');
const expected = (name: string) => JSON.parse(fs.readFileSync(path.join(FIX, name, 'expected.json'), 'utf8'));
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));

interface Case {
  prompt_ids: number[];
  response_ids: number[];
}

describe(`checkpoints written by TRL and OpenRLHF (${TEST_BACKEND})`, () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it("TRL reward model: transformers' logit at the last non-pad token (before the EOS), TRL PPO's get_reward, no squash", async () => {
    const e = expected('trl-reward');
    assert.equal(e.config_pad_token_id, e.config_eos_token_id, 'the fixture pads with EOS, as TRL does for GPT-2');
    const scorer = await loadRewardScorer(path.join(FIX, 'trl-reward'));
    try {
      assert.equal(scorer.readout?.writer, 'transformers');
      assert.equal(scorer.squash, 'none');
      const cases = e.cases as (Case & { transformers_logit: number; trl_ppo_reward: number })[];
      const prompts = cases.map((c) => c.prompt_ids);
      const got = scorer.raw(prompts, cases.map((c) => c.response_ids));
      assert.ok(maxAbsDiff(got, cases.map((c) => c.transformers_logit)) < 1e-4, `rlhf ${got} vs transformers ${cases.map((c) => c.transformers_logit)}`);
      assert.ok(maxAbsDiff(got, cases.map((c) => c.trl_ppo_reward)) < 1e-4, 'and TRL PPO get_reward');
      // A response that already ends with EOS is read at the same token.
      const withEos = scorer.raw(prompts, cases.map((c) => [...c.response_ids, scorer.model.tokenizer.eosId]));
      assert.ok(maxAbsDiff(withEos, got) < 1e-6);
      // Reading the EOS itself (rlhf's own rule) would give other numbers: the rule matters here.
      const atEos = tf.tidy(() => {
        const ids = cases.map((c) => [...c.prompt_ids, ...c.response_ids, scorer.model.tokenizer.eosId]);
        return ids.map((s) => {
          const { hidden } = forward(scorer.model.params, scorer.model.config, tf.tensor2d([s], [1, s.length], 'int32'));
          const h = hidden.slice([0, s.length - 1, 0], [1, 1, -1]).reshape([1, -1]) as Tensor2D;
          return tf.matMul(h, scorer.model.heads['score.weight'] as Tensor2D, false, true).dataSync()[0];
        });
      });
      assert.ok(maxAbsDiff(atEos, got) > 1e-3, 'the EOS position scores differently');
    } finally {
      scorer.dispose();
    }
  });

  it("OpenRLHF reward model: head `<value_head_prefix>.weight` at the EOS, (R − mean)/std from config.json", async () => {
    const e = expected('openrlhf-rm');
    const scorer = await loadRewardScorer(path.join(FIX, 'openrlhf-rm'));
    try {
      assert.equal(scorer.readout?.writer, 'openrlhf');
      assert.deepEqual(scorer.readout?.normalise, { mean: e.mean, std: e.std });
      const cases = e.cases as (Case & { eos_ids: { raw: number; reward: number } })[];
      const got = scorer.raw(cases.map((c) => c.prompt_ids), cases.map((c) => c.response_ids));
      assert.ok(maxAbsDiff(got, cases.map((c) => c.eos_ids.reward)) < 1e-4, `rlhf ${got} vs OpenRLHF ${cases.map((c) => c.eos_ids.reward)}`);
      assert.ok(maxAbsDiff(got, cases.map((c) => c.eos_ids.raw)) > 1e-2, 'the normalisation was applied');
    } finally {
      scorer.dispose();
    }
  });

  it("TRL AutoModelForCausalLMWithValueHead: loads as a policy with TRL's logits; v_head.summary gives TRL's value", async () => {
    const e = expected('trl-value-head');
    const m = await loadModel(path.join(FIX, 'trl-value-head'));
    try {
      assert.deepEqual(Object.keys(m.heads).sort(), ['v_head.summary.bias', 'v_head.summary.weight']);
      for (const c of e.cases as (Case & { last_logits: number[]; value: number })[]) {
        const ids = [...c.prompt_ids, ...c.response_ids];
        const [last, value] = tf.tidy(() => {
          const x = tf.tensor2d([ids], [1, ids.length], 'int32');
          const lg = logits(m.params, m.config, x).slice([0, ids.length - 1, 0], [1, 1, -1]).reshape([-1]);
          const h = forward(m.params, m.config, x).hidden.slice([0, ids.length - 1, 0], [1, 1, -1]).reshape([1, -1]) as Tensor2D;
          const v = tf.add(tf.matMul(h, m.heads['v_head.summary.weight'] as Tensor2D, false, true), m.heads['v_head.summary.bias']);
          return [lg.dataSync(), v.dataSync()[0]] as const;
        });
        assert.ok(maxAbsDiff(last, c.last_logits) < 1e-4, 'logits');
        assert.ok(Math.abs(value - c.value) < 1e-4, `value ${value} vs TRL ${c.value}`);
      }
    } finally {
      disposeBundle(m);
    }
  });

  it("TRL PPOTrainer's saved policy ([PAD] past the vocabulary): loads with TRL's logits and samples", async () => {
    const e = expected('trl-ppo-policy');
    assert.ok(e.tokenizer_pad_token_id >= 512, 'the fixture has the [PAD] of TRL\'s recipe past the 512-row embedding');
    const m = await loadModel(path.join(FIX, 'trl-ppo-policy'));
    try {
      assert.equal(m.tokenizer.padId, m.tokenizer.eosId, 'rlhf pads it with EOS');
      const c = (e.cases as (Case & { last_logits: number[] })[])[0];
      const ids = [...c.prompt_ids, ...c.response_ids];
      const last = tf.tidy(() => logits(m.params, m.config, tf.tensor2d([ids], [1, ids.length], 'int32')).slice([0, ids.length - 1, 0], [1, 1, -1]).reshape([-1]).dataSync());
      assert.ok(maxAbsDiff(last, c.last_logits) < 1e-4);
      // Prompts of different lengths: left padding goes through the embedding under the mask.
      const g = generate(m.params, m.config, (e.cases as Case[]).map((x) => x.prompt_ids), { maxNewTokens: 3, temperature: 0, eosId: m.tokenizer.eosId, padId: m.tokenizer.padId });
      assert.equal(g.tokens.length, e.cases.length);
    } finally {
      disposeBundle(m);
    }
  });

  it('rlhf probe and rlhf report on what TRL wrote: π* of the TRL reward model, the report of the probe', () => {
    assertBuiltCli();
    const work = tmpDir('rlhf-import-');
    const probe = runCli(['probe', '--policy', path.join(FIX, 'trl-ppo-policy'), '--reference', path.join(FIX, 'trl-value-head'), '--reward-model', path.join(FIX, 'trl-reward'), '--beta', '0.1', '--out', path.join(work, 'probe'), '--json']);
    assert.equal(probe.status, 0, probe.stderr);
    const rn = JSON.parse(probe.stdout).random_number;
    assert.equal(rn.optimum.length, 100);
    assert.ok(rn.kl_policy_optimum > 0 && Number.isFinite(rn.kl_policy_optimum));
    const report = runCli(['report', work]);
    assert.equal(report.status, 0, report.stderr);
    assert.match(fs.readFileSync(path.join(work, 'report', 'report.html'), 'utf8'), /KL\(policy ‖ π\*\)/);
  });
});
