/**
 * The decoding step as one TensorFlow graph (src/model/decode-graph.ts on src/backend/tf-graph.ts):
 * the same logits as the step run op by op, the same cache afterwards, the same greedy tokens, the
 * op-by-op path wherever the graph does not apply, and nothing left behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend';
import { tf } from '../src/backend/tf';
import { GraphBuilder, GraphSession } from '../src/backend/tf-graph';
import { keptInt32Handles } from '../src/backend/tf-native';
import { Activation, GPT2Config } from '../src/model/config';
import { disposeDecodeGraphs, graphStepsRun, setDecodeGraph } from '../src/model/decode-graph';
import { disposeCache, forward, initTrunk, KVCache, lmHead, Params, trunkParamShapes } from '../src/model/gpt2';
import { generate } from '../src/model/generate';
import { Rng } from '../src/util/rng';
import type { Tensor, Tensor2D, TensorContainer } from '@tensorflow/tfjs';
import { onlyOn } from './helpers';

const skip = onlyOn('tensorflow', 'graphs run through the native backend\'s SavedModel session');
const bindingTensors = () => (tf.backend() as unknown as { binding: { getNumOfTensors(): number } }).binding.getNumOfTensors() - keptInt32Handles();

const base: GPT2Config = {
  vocab_size: 61, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4,
  layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: 60, eos_token_id: 60,
};

function randomParams(cfg: GPT2Config, seed: number): Params {
  const host = initTrunk(cfg, seed);
  const shapes = trunkParamShapes(cfg);
  const rng = new Rng(seed + 1);
  const out: Params = {};
  // Larger than the default init, so that attention and the MLP matter to the logits.
  for (const [k, v] of Object.entries(host)) out[k] = tf.tensor(k.includes('ln_') ? v.map((x) => x + 0.3 * rng.normal()) : v.map((x) => x * 10 + 0.05 * rng.normal()), shapes[k]);
  return out;
}

/** Logits [B, V] of each step, and the final cache's mask and length: prefill 2 left-padded rows, then `steps` tokens. */
function decode(params: Params, cfg: GPT2Config, graph: boolean, steps = 6): { logits: number[][]; mask: number[]; length: number } {
  setDecodeGraph(graph);
  try {
    const B = 2;
    const prompt = tf.tensor2d([0, 0, 3, 4, 1, 2, 5, 6], [B, 4], 'int32');
    const promptMask = tf.tensor2d([0, 0, 1, 1, 1, 1, 1, 1], [B, 4]);
    let cache = tf.tidy(() => forward(params, cfg, prompt, { attentionMask: promptMask, useCache: true, cacheCapacity: 4 + steps }).cache as unknown as TensorContainer) as unknown as KVCache;
    tf.dispose([prompt, promptMask]);
    const logits: number[][] = [];
    for (let s = 0; s < steps; s++) {
      const prev = cache;
      const r = tf.tidy(() => {
        // Row 1's third new token is padding (mask 0), as after a finished row.
        const out = forward(params, cfg, tf.tensor2d([7 + s, 11 + 2 * s], [B, 1], 'int32'), { attentionMask: tf.tensor2d([1, s === 2 ? 0 : 1], [B, 1]), cache: prev });
        return { l: lmHead(params, out.hidden.reshape([B, cfg.n_embd]) as Tensor2D), cache: out.cache } as unknown as TensorContainer;
      }) as unknown as { l: Tensor; cache: KVCache };
      logits.push(Array.from(r.l.dataSync()));
      r.l.dispose();
      disposeCache(prev, r.cache);
      cache = r.cache;
    }
    const out = { logits, mask: Array.from(cache.mask.dataSync()), length: cache.length };
    disposeCache(cache);
    return out;
  } finally {
    setDecodeGraph(true);
  }
}

const maxDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((r, i) => r.map((x, j) => Math.abs(x - b[i][j]))));

describe('decoding step as one TensorFlow graph (decode-graph.ts)', { skip }, () => {
  before(async () => {
    await selectBackend('tensorflow');
  });
  after(() => disposeDecodeGraphs());

  it('a small graph gives what the same ops give eagerly, and refuses to run after dispose', () => {
    const g = new GraphBuilder();
    const a = g.input('a');
    const b = g.input('b');
    const [lo, hi] = g.split(g.add(g.matMul(a, b, false, true), g.scalar(0.5)), [1, -1], 1);
    const s = new GraphSession(g, [a, b], [g.unary('Identity', hi), g.reduce('Sum', g.unary('Square', lo), 0)]);
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.tensor2d([0.5, -1, 2, 3, 0, 1, -2, 2, 2], [3, 3]);
    const [h, q] = s.run([x, y]);
    const e = tf.add(tf.matMul(x, y, false, true), 0.5);
    assert.deepEqual(h.arraySync(), tf.slice(e, [0, 1], [2, 2]).arraySync());
    assert.deepEqual(h.shape, [2, 2]);
    assert.deepEqual(Array.from(q.dataSync()), Array.from(tf.sum(tf.square(tf.slice(e, [0, 0], [2, 1])), 0, true).dataSync()));
    s.dispose();
    assert.throws(() => s.run([x, y]), /after dispose/);
    tf.dispose([x, y, h, q, e]);
  });

  for (const [act, extra] of [['gelu_new', {}], ['gelu', {}], ['relu', { scale_attn_by_inverse_layer_idx: true }], ['gelu_new', { n_inner: 48, scale_attn_weights: false }]] as [Activation, Partial<GPT2Config>][]) {
    it(`${act} ${JSON.stringify(extra)}: the same logits as op by op, step after step, with padding`, () => {
      const cfg = { ...base, activation_function: act, ...extra };
      const params = randomParams(cfg, 5);
      const n0 = graphStepsRun();
      const eager = decode(params, cfg, false);
      assert.equal(graphStepsRun(), n0);
      const graph = decode(params, cfg, true);
      assert.equal(graphStepsRun(), n0 + 6, 'every step after the prefill ran as the graph');
      // Not identical: the graph sums the new key's attention terms last (decode-graph.ts).
      const d = maxDiff(eager.logits, graph.logits);
      assert.ok(d < 1e-4, `max |Δlogit| ${d}`);
      // …and not the same as a wrong step either: logits of consecutive steps differ by far more.
      assert.ok(maxDiff(eager.logits.slice(1), eager.logits.slice(0, -1)) > 0.1);
      assert.deepEqual(graph.mask, eager.mask);
      assert.equal(graph.length, eager.length);
      tf.dispose(Object.values(params));
    });
  }

  it('a step that did not take the graph is op by op: an activation it does not write gives identical logits', () => {
    const cfg = { ...base, activation_function: 'silu' as Activation };
    const params = randomParams(cfg, 6);
    const n0 = graphStepsRun();
    assert.deepEqual(decode(params, cfg, true).logits, decode(params, cfg, false).logits);
    assert.equal(graphStepsRun(), n0);
    tf.dispose(Object.values(params));
  });

  it('greedy generation gives the same tokens either way, and leaves no tensor or buffer behind', () => {
    const params = randomParams(base, 9);
    const prompts = [[1, 2, 3, 4, 5], [7, 8], [9, 10, 11]];
    const opts = { maxNewTokens: 16, temperature: 0, eosId: 60 };
    setDecodeGraph(false);
    const eager = generate(params, base, prompts, opts);
    setDecodeGraph(true);
    generate(params, base, prompts, opts); // the session is built once and kept
    const tensors = tf.memory().numTensors;
    const handles = bindingTensors();
    const n0 = graphStepsRun();
    const graph = generate(params, base, prompts, opts);
    assert.ok(graphStepsRun() > n0);
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(bindingTensors(), handles);
    assert.deepEqual(graph.tokens, eager.tokens);
    assert.ok(new Set(graph.tokens.flat()).size > 2, `degenerate greedy output ${JSON.stringify(graph.tokens)}`);
    for (let i = 0; i < graph.logprobs.length; i++) for (let j = 0; j < graph.logprobs[i].length; j++) assert.ok(Math.abs(graph.logprobs[i][j] - eager.logprobs[i][j]) < 1e-4);
    tf.dispose(Object.values(params));
  });
});
