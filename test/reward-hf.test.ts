/**
 * A reward model saved by rlhf gives rlhf's score in Python: the fixture (scripts/
 * make_reward_hf_fixture.py) is a reward model written by saveRewardModel (test/reward-fixture.ts)
 * and the logits transformers' GPT2ForSequenceClassification returned for it, batched with the
 * tokenizer's right padding and one row at a time. rlhf's reward must be sigmoid(logit) (this
 * model's squash), and a save today must write what transformers was checked on: a pad token
 * other than EOS (with pad_token_id = EOS, transformers pools the token before the EOS).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf, Tensor2D } from '../src/backend/tf';
import { disposeBundle, loadModel } from '../src/model/checkpoint';
import { decodeSafetensors } from '../src/model/safetensors';
import { LM_HEAD } from '../src/model/gpt2';
import { REWARD_HEAD, REWARD_PAD_TOKEN, rewardForward, saveRewardModel, withDistinctPad } from '../src/model/reward-model';
import { makeRewardBatch } from '../src/model/batch';
import { loadRewardScorer, scoresPolicyTokens } from '../src/model/reward-scorer';
import { loadTokenizer, tokenizerFromJson } from '../src/tokenizer/tokenizer';
import { trainByteLevelBPE } from '../src/tokenizer/train-bpe';
import { buildFixtureRewardModel, REWARD_FIXTURE_SQUASH } from './reward-fixture';
import { BACKENDS_UNDER_TEST, fixturePath, ROOT, tmpDir } from './helpers';

interface Fixture {
  model: string;
  pad_token_id: number;
  eos_token_id: number;
  pad_token: string;
  rows: { prompt: string; response: string; input_ids: number[] }[];
  batch: { input_ids: number[][]; attention_mask: number[][]; logits: number[] };
  single_logits: number[];
  eos_pad_logits: number[];
}

const fx = JSON.parse(fs.readFileSync(fixturePath('reward-hf.json'), 'utf8')) as Fixture;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('the reward-model fixture', () => {
  it('pads with a token other than EOS, and with pad = EOS transformers would score something else', () => {
    assert.notEqual(fx.pad_token_id, fx.eos_token_id);
    assert.equal(fx.pad_token, REWARD_PAD_TOKEN);
    // The bug this guards against is visible in the fixture: pooling before the EOS moves the logits.
    const moved = Math.max(...fx.eos_pad_logits.map((x, i) => Math.abs(x - fx.batch.logits[i])));
    assert.ok(moved > 0.1, `pad = EOS moves the logits by only ${moved}`);
    // Rows of different lengths: the batch is padded.
    assert.ok(new Set(fx.rows.map((r) => r.input_ids.length)).size > 1);
  });
});

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`a saved reward model scores the same in transformers (${backend})`, () => {
    before(async () => {
      await selectBackend(backend);
    });

    it(`rlhf's reward = sigmoid(transformers' logit), and its raw head = the logit, within 1e-5`, async (t) => {
      const scorer = await loadRewardScorer(fixturePath(fx.model));
      try {
        assert.equal(scorer.squash, REWARD_FIXTURE_SQUASH);
        const tok = scorer.model.tokenizer;
        const prompts = fx.rows.map((r) => tok.encode(r.prompt));
        const responses = fx.rows.map((r) => tok.encode(r.response));
        // What a Python user feeds the model (prompt + response + "<|endoftext|>") is what rlhf scores.
        fx.rows.forEach((r, i) => assert.deepEqual([...prompts[i], ...responses[i], tok.eosId], r.input_ids, `row ${i} tokens`));

        const rewards = scorer.raw(prompts, responses);
        const b = makeRewardBatch(fx.rows.map((r) => r.input_ids), tok.padId, scorer.model.config.n_positions);
        const logits = tf.tidy(() => Array.from(rewardForward(scorer.model.params, scorer.model.heads[REWARD_HEAD] as Tensor2D, scorer.model.config, b, 'none').dataSync()));
        let dr = 0;
        let dl = 0;
        fx.batch.logits.forEach((hf, i) => {
          dr = Math.max(dr, Math.abs(rewards[i] - sigmoid(hf)));
          dl = Math.max(dl, Math.abs(logits[i] - hf), Math.abs(logits[i] - fx.single_logits[i]));
        });
        t.diagnostic(`max |reward − sigmoid(logit)| ${dr.toExponential(2)}, max |Δlogit| ${dl.toExponential(2)}`);
        assert.ok(dl < 1e-5, `max |Δlogit| = ${dl}`);
        assert.ok(dr < 1e-5, `max |reward − sigmoid(logit)| = ${dr}`);
      } finally {
        scorer.dispose();
      }
    });
  });
}

describe('saveRewardModel', () => {
  before(async () => {
    await selectBackend('cpu');
  });

  it('writes today what transformers was checked on: config, tokenizer and tensors of the fixture', async () => {
    const m = await buildFixtureRewardModel();
    const dir = path.join(tmpDir(), 'rm');
    await saveRewardModel(dir, m);
    tf.dispose([...Object.values(m.params), ...Object.values(m.heads)]);
    const read = (d: string, f: string) => JSON.parse(fs.readFileSync(path.join(d, f), 'utf8')) as Record<string, unknown>;
    const got = read(dir, 'config.json');
    const want = read(fixturePath(fx.model), 'config.json');
    for (const k of ['architectures', 'num_labels', 'pad_token_id', 'eos_token_id', 'vocab_size', 'rlhf']) assert.deepEqual(got[k], want[k], `config.json ${k}`);
    assert.equal(got.pad_token_id, fx.pad_token_id);
    for (const f of ['tokenizer.json', 'special_tokens_map.json']) assert.deepEqual(read(dir, f), read(fixturePath(fx.model), f), f);
    assert.equal(read(dir, 'tokenizer_config.json').pad_token, REWARD_PAD_TOKEN);
    const a = decodeSafetensors(fs.readFileSync(path.join(dir, 'model.safetensors'))).tensors;
    const b = decodeSafetensors(fs.readFileSync(fixturePath(fx.model, 'model.safetensors'))).tensors;
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
    for (const k of Object.keys(a)) assert.deepEqual(a[k].data, b[k].data, k);
    // and rlhf reads it back with the pad token distinct from EOS
    const back = await loadModel(dir);
    assert.equal(back.tokenizer.padId, fx.pad_token_id);
    assert.notEqual(back.tokenizer.padId, back.tokenizer.eosId);
    disposeBundle(back);
  });

  it('adds <|pad|> only when the tokenizer pads with EOS; uses spare vocabulary; grows an untied head too', async () => {
    const base = await loadTokenizer(path.join(ROOT, 'models', 'tiny-base'));
    const cfg = { vocab_size: base.vocabSize, n_positions: 8, n_embd: 4, n_layer: 1, n_head: 1, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new' as const, bos_token_id: base.eosId, eos_token_id: base.eosId };
    const wte = tf.ones([base.vocabSize, 4]);
    const head = tf.ones([base.vocabSize, 4]);

    // tied, no spare id: a new row V, zero
    const grown = withDistinctPad({ config: cfg, params: { 'transformer.wte.weight': wte }, tokenizer: base });
    assert.equal(grown.tokenizer.padId, base.vocabSize);
    assert.equal(grown.config.vocab_size, base.vocabSize + 1);
    assert.deepEqual(grown.params['transformer.wte.weight'].shape, [base.vocabSize + 1, 4]);
    assert.deepEqual(Array.from(grown.params['transformer.wte.weight'].slice([base.vocabSize, 0], [1, 4]).dataSync()), [0, 0, 0, 0]);
    assert.ok(scoresPolicyTokens(grown.tokenizer, base), 'the reward model scores the policy tokenizer');
    assert.deepEqual(grown.tokenizer.encode('12 + 7'), base.encode('12 + 7'));
    tf.dispose(grown.created);

    // untied: lm_head.weight grows with the embedding
    const untied = withDistinctPad({ config: { ...cfg, tie_word_embeddings: false }, params: { 'transformer.wte.weight': wte, [LM_HEAD]: head }, tokenizer: base });
    assert.deepEqual(untied.params[LM_HEAD].shape, [base.vocabSize + 1, 4]);
    assert.equal(untied.created.length, 2);
    tf.dispose(untied.created);

    // a padded vocabulary (vocab_size > tokenizer ids): the first spare id, no new row
    const spare = withDistinctPad({ config: { ...cfg, vocab_size: base.vocabSize + 3 }, params: { 'transformer.wte.weight': wte }, tokenizer: base });
    assert.equal(spare.tokenizer.padId, base.vocabSize);
    assert.equal(spare.config.vocab_size, base.vocabSize + 3);
    assert.equal(spare.created.length, 0);

    // already a pad of its own: unchanged
    const again = withDistinctPad({ config: grown.config, params: {}, tokenizer: grown.tokenizer });
    assert.equal(again.tokenizer, grown.tokenizer);
    assert.equal(again.created.length, 0);

    // a different tokenizer is still refused
    const other = tokenizerFromJson(trainByteLevelBPE(['hello world 12 34 hello world'], { vocabSize: 260, minFrequency: 1 }));
    assert.equal(scoresPolicyTokens(grown.tokenizer, other), false);
    tf.dispose([wte, head]);
  });
});
