import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend';
import { tf } from '../src/backend/tf';
import { GPT2Config } from '../src/model/config';
import { initTrunk, trunkParamShapes, Params, logits, forward, disposeCache, KVCache } from '../src/model/gpt2';
import type { Tensor, TensorContainer } from '@tensorflow/tfjs';
import { generate, leftPad, sampleFromLogits } from '../src/model/generate';
import { Rng } from '../src/util/rng';
import { TEST_BACKEND } from './helpers';
import { keptInt32Handles } from '../src/backend/tf-native';

const cfg: GPT2Config = {
  vocab_size: 61, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4,
  layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: 60, eos_token_id: 60,
};

function randomParams(seed: number): Params {
  const host = initTrunk(cfg, seed);
  const shapes = trunkParamShapes(cfg);
  const rng = new Rng(seed + 1);
  const out: Params = {};
  // Larger weights than the default init so that greedy paths are not trivially constant.
  for (const [k, v] of Object.entries(host)) {
    const w = v.map((x) => (k.includes('ln_') ? x : x * 10 + 0.05 * rng.normal()));
    out[k] = tf.tensor(w, shapes[k]);
  }
  return out;
}

/** Width C of the hidden states, from the step-0 output size and the number of positions. */
const h0Width = (size: number, positions: number) => size / positions;

describe('generate', () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('greedy decoding with the KV cache equals decoding without it, token for token', () => {
    const params = randomParams(3);
    const prompts = [[1, 2, 3, 4, 5], [7, 8], [9, 10, 11]];
    const opts = { maxNewTokens: 20, temperature: 0, eosId: 60 };
    const a = generate(params, cfg, prompts, { ...opts, useCache: true });
    const b = generate(params, cfg, prompts, { ...opts, useCache: false });
    assert.deepEqual(a.tokens, b.tokens);
    assert.ok(a.tokens.every((t) => t.length > 0));
    // the tokens are not all the same: the test would notice a cache that ignored the past
    assert.ok(new Set(a.tokens.flat()).size > 2, `degenerate greedy output ${JSON.stringify(a.tokens)}`);
    for (let i = 0; i < a.logprobs.length; i++)
      for (let j = 0; j < a.logprobs[i].length; j++) assert.ok(Math.abs(a.logprobs[i][j] - b.logprobs[i][j]) < 1e-4);
    tf.dispose(Object.values(params));
  });

  it('an in-place KV cache gives the hidden states of the growing one, step by step, and frees every buffer', { skip: TEST_BACKEND === 'cpu' ? 'the cpu backend keeps no in-place cache' : undefined }, () => {
    // Binding tensors, less the kept int32 handles (shapes, axes, slice bounds; tf-native.ts): buffers only.
    const handles = () => (tf.getBackend() === 'tensorflow' ? (tf.backend() as unknown as { binding: { getNumOfTensors(): number } }).binding.getNumOfTensors() - keptInt32Handles() : 0);
    const params = randomParams(7);
    const { ids, mask, length } = leftPad([[1, 2, 3, 4], [5, 6]], 60);
    type Step = { hidden: Tensor; cache: KVCache };
    const run = (capacity?: number) => {
      const hs: number[][] = [];
      let cache: KVCache | undefined;
      const feed = [ids, Int32Array.from([7, 8]), Int32Array.from([9, 10]), Int32Array.from([11, 12])];
      feed.forEach((tokens, step) => {
        const T = step === 0 ? length : 1;
        const prev = cache;
        const r = tf.tidy(() => {
          const out = forward(params, cfg, tf.tensor2d(tokens, [2, T], 'int32'), {
            attentionMask: tf.tensor2d(step === 0 ? mask : new Float32Array(2).fill(1), [2, T]),
            cache: prev,
            useCache: true,
            cacheCapacity: capacity,
          });
          return { hidden: out.hidden, cache: out.cache } as unknown as TensorContainer;
        }) as unknown as Step;
        hs.push(Array.from(r.hidden.dataSync()));
        r.hidden.dispose();
        disposeCache(prev, r.cache);
        cache = r.cache;
      });
      const capacityUsed = cache!.capacity;
      disposeCache(cache);
      return { hs, capacityUsed };
    };
    const before = tf.memory().numTensors;
    const grow = run();
    const handlesBefore = handles(); // the parameters are materialised by now
    const pre = run(length + 3);
    assert.equal(grow.capacityUsed, undefined);
    assert.equal(pre.capacityUsed, length + 3, `the ${TEST_BACKEND} backend keeps an in-place cache`);
    // Real positions only: a left-padding query attends to no real key, and its (unused) output is
    // a uniform average over whatever keys the attention reads, which a whole-buffer read widens.
    const C = h0Width(grow.hs[0].length, mask.length);
    grow.hs.forEach((h, step) => {
      const real = (i: number) => step > 0 || mask[Math.floor(i / C)] === 1;
      const worst = Math.max(...h.map((x, i) => (real(i) ? Math.abs(x - pre.hs[step][i]) : 0)));
      assert.ok(worst < 1e-5, `step ${step}: hidden states differ by ${worst}`);
    });
    assert.equal(tf.memory().numTensors, before, 'every cache buffer is freed');
    assert.equal(handles(), handlesBefore, 'every native buffer (resource variable) is freed');
    assert.throws(() => run(length + 2), /cannot take 1 more/);
    tf.dispose(Object.values(params));
  });

  it('a left-padded row gives the same logits as the same prompt alone', () => {
    const params = randomParams(5);
    const alone = tf.tidy(() => logits(params, cfg, tf.tensor2d([[4, 5, 6]], [1, 3], 'int32')).arraySync());
    const { ids, mask, length } = leftPad([[1, 2, 3, 9, 9], [4, 5, 6]], 60);
    const padded = tf.tidy(() =>
      logits(params, cfg, tf.tensor2d(ids, [2, length], 'int32'), { attentionMask: tf.tensor2d(mask, [2, length]) }).arraySync(),
    );
    for (let t = 0; t < 3; t++)
      for (let v = 0; v < cfg.vocab_size; v++) assert.ok(Math.abs(padded[1][t + 2][v] - alone[0][t][v]) < 1e-4);
    tf.dispose(Object.values(params));
  });

  it('sampling is seeded and the tensor count does not grow', () => {
    const params = randomParams(7);
    const before = tf.memory().numTensors;
    const opts = { maxNewTokens: 12, temperature: 1, eosId: 60 };
    const a = generate(params, cfg, [[1, 2], [3]], { ...opts, rng: new Rng(42) });
    const b = generate(params, cfg, [[1, 2], [3]], { ...opts, rng: new Rng(42) });
    const c = generate(params, cfg, [[1, 2], [3]], { ...opts, rng: new Rng(43) });
    assert.deepEqual(a.tokens, b.tokens);
    assert.notDeepEqual(a.tokens, c.tokens);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose(Object.values(params));
  });

  it('sampleFromLogits: entropy and log-probs of softmax(logits/T), top-k restricts the support', () => {
    const row = Float32Array.from([Math.log(0.5), Math.log(0.25), Math.log(0.25)]);
    const s = sampleFromLogits(row, { temperature: 1 }, new Rng(1));
    assert.ok(Math.abs(s.entropy - 1.5 * Math.LN2) < 1e-6);
    assert.ok(Math.abs(s.logprob - Math.log([0.5, 0.25, 0.25][s.token])) < 1e-6);
    const rng = new Rng(2);
    for (let i = 0; i < 50; i++) assert.equal(sampleFromLogits(row, { temperature: 1, topK: 1 }, rng).token, 0);
    // T = 2 flattens: p ∝ (0.5, 0.25, 0.25)^(1/2)
    const z = [Math.SQRT1_2, 0.5, 0.5];
    const Z = z[0] + z[1] + z[2];
    const h = -z.reduce((a, p) => a + (p / Z) * Math.log(p / Z), 0);
    assert.ok(Math.abs(sampleFromLogits(row, { temperature: 2 }, new Rng(1)).entropy - h) < 1e-6);
  });
});
