/**
 * Every GPT2Config field that changes the forward pass, against Hugging Face transformers: the
 * fixture (scripts/make_gpt2_config_fixtures.py) holds tiny random GPT-2s saved by transformers
 * with an untied head, n_inner, both attention scalings, reorder_and_upcast_attn, other
 * activations, a large layer_norm_epsilon and all of them at once, the logits transformers computed
 * for a batch with a left-padded row, PyTorch's gradients for the untied and the combined model,
 * and every parameter-free ACT2FN activation with its derivative on a grid. Fields rlhf does not
 * support must be refused with the field and the file named.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf, Tensor, Tensor2D, Variable } from '../src/backend/tf';
import type { TensorContainer } from '@tensorflow/tfjs';
import { Activation, ACTIVATIONS, attentionScale, GPT2Config, parseConfig, toHFConfig } from '../src/model/config';
import { disposeBundle, initModel, loadWeights, saveModel } from '../src/model/checkpoint';
import { decodeSafetensors } from '../src/model/safetensors';
import { disposeCache, forward, KVCache, lmHead, lmHeadT, logits, LM_HEAD, paramNames } from '../src/model/gpt2';
import { activation } from '../src/model/fused';
import { generate } from '../src/model/generate';
import { lmLoss } from '../src/model/lm';
import { valueAndGrads } from '../src/model/optim';
import { tokenizerFromJson } from '../src/tokenizer/tokenizer';
import { trainByteLevelBPE } from '../src/tokenizer/train-bpe';
import { BACKENDS_UNDER_TEST, fixturePath, tmpDir } from './helpers';

interface Variant {
  dir: string;
  overrides: Record<string, unknown>;
  delta_if_ignored: number | null;
  batch: { input_ids: number[][]; attention_mask: number[][]; position_ids: number[][]; logits: number[][][] };
  grads?: {
    batch: { B: number; T: number; ids: number[]; mask: number[]; lossMask: number[] };
    loss: number;
    grads: Record<string, { shape: number[]; data: number[] }>;
  };
}
interface Fixture {
  variants: Record<string, Variant>;
  activations: { x: number[]; values: Record<string, number[]>; grads: Record<string, number[]> };
}

const fx = JSON.parse(fs.readFileSync(fixturePath('gpt2-config-variants.json'), 'utf8')) as Fixture;
const LOGIT_TOL = 1e-4;
const GRAD_TOL = 1e-5;

/** max |a − b| over the rows' real positions. */
function maxRealDiff(a: number[][][], b: number[][][], mask: number[][]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++)
    for (let t = 0; t < a[i].length; t++) {
      if (!mask[i][t]) continue;
      for (let v = 0; v < a[i][t].length; v++) m = Math.max(m, Math.abs(a[i][t][v] - b[i][t][v]));
    }
  return m;
}

const FORWARD_FIELDS = [
  'vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head', 'n_inner', 'activation_function', 'layer_norm_epsilon',
  'scale_attn_weights', 'scale_attn_by_inverse_layer_idx', 'reorder_and_upcast_attn', 'tie_word_embeddings',
];

describe('the config-variant fixture', () => {
  it('covers every field, and each changes the logits (except reorder_and_upcast_attn, the same maths in float32)', () => {
    const fields = new Set(Object.values(fx.variants).flatMap((v) => Object.keys(v.overrides)));
    for (const f of ['tie_word_embeddings', 'n_inner', 'scale_attn_by_inverse_layer_idx', 'scale_attn_weights', 'reorder_and_upcast_attn', 'activation_function', 'layer_norm_epsilon'])
      assert.ok(fields.has(f), f);
    for (const [name, v] of Object.entries(fx.variants)) {
      if (v.delta_if_ignored === null) continue; // n_inner: the shapes imply it
      if (name === 'reorder-and-upcast') assert.ok(v.delta_if_ignored < 1e-6, `${name}: ${v.delta_if_ignored}`);
      else assert.ok(v.delta_if_ignored > 10 * LOGIT_TOL, `${name}: a loader ignoring ${Object.keys(v.overrides)} would be off by only ${v.delta_if_ignored}`);
    }
  });
});

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`GPT2Config fields, against transformers (${backend})`, () => {
    before(async () => {
      await selectBackend(backend);
    });

    for (const [name, v] of Object.entries(fx.variants)) {
      it(`${name} (${JSON.stringify(v.overrides)}): logits within ${LOGIT_TOL}, full and KV-cached`, (t) => {
        const start = tf.memory().numTensors;
        const m = loadWeights(fixturePath(v.dir));
        const { input_ids, attention_mask, position_ids } = v.batch;
        for (const [k, want] of Object.entries(v.overrides)) assert.equal((m.config as unknown as Record<string, unknown>)[k], want, `config.${k}`);
        const ids = () => tf.tensor2d(input_ids, undefined, 'int32') as Tensor2D;
        const mask = () => tf.tensor2d(attention_mask) as Tensor2D;
        const explicit = tf.tidy(() => logits(m.params, m.config, ids(), { attentionMask: mask(), positionIds: tf.tensor2d(position_ids, undefined, 'int32') as Tensor2D }).arraySync());
        const derived = tf.tidy(() => logits(m.params, m.config, ids(), { attentionMask: mask() }).arraySync());
        const d1 = maxRealDiff(explicit, v.batch.logits, attention_mask);
        const d2 = maxRealDiff(derived, v.batch.logits, attention_mask);

        // Incremental decoding: the first 6 positions at once, then one at a time through the KV
        // cache (preallocated where the backend has the kernel), through the pre-transposed head.
        const T = input_ids[0].length;
        const P = 6;
        const cached: number[][][] = input_ids.map(() => []);
        const headT = lmHeadT(m.params);
        let cache: KVCache | undefined;
        for (let s = P; s <= T; s++) {
          const lo = s === P ? 0 : s - 1;
          const prev = cache;
          type Step = { lg: Tensor; cache: KVCache };
          const out = tf.tidy((): TensorContainer => {
            const r = forward(m.params, m.config, tf.tensor2d(input_ids.map((row) => row.slice(lo, s)), undefined, 'int32') as Tensor2D, {
              attentionMask: tf.tensor2d(attention_mask.map((row) => row.slice(lo, s))) as Tensor2D,
              cache: prev,
              useCache: true,
              cacheCapacity: T,
            });
            const [B, n, C] = r.hidden.shape;
            return { lg: lmHead(m.params, r.hidden.reshape([B * n, C]) as Tensor2D, headT).reshape([B, n, -1]), cache: r.cache! } as unknown as TensorContainer;
          }) as unknown as Step;
          disposeCache(prev, out.cache);
          cache = out.cache;
          (out.lg.arraySync() as number[][][]).forEach((rows, b) => cached[b].push(...rows));
          out.lg.dispose();
        }
        disposeCache(cache);
        headT.dispose();
        const d3 = maxRealDiff(cached, v.batch.logits, attention_mask);
        disposeBundle(m);
        assert.equal(tf.memory().numTensors, start, 'tensors leaked');
        t.diagnostic(`max |Δlogit|: ${d1.toExponential(2)} (explicit positions), ${d2.toExponential(2)} (from the mask), ${d3.toExponential(2)} (KV cache)`);
        assert.ok(d1 < LOGIT_TOL, `explicit positions: max |Δlogit| = ${d1}`);
        assert.ok(d2 < LOGIT_TOL, `positions from the mask: max |Δlogit| = ${d2}`);
        assert.ok(d3 < LOGIT_TOL, `KV cache: max |Δlogit| = ${d3}`);
      });
    }

    for (const [name, v] of Object.entries(fx.variants)) {
      if (!v.grads) continue;
      const g = v.grads;
      it(`${name}: LM-loss gradients equal PyTorch's (lm_head.weight its own), within ${GRAD_TOL}·max(1, max|g|)`, (t) => {
        const m = loadWeights(fixturePath(v.dir));
        const vars: Record<string, Variable> = {};
        for (const [k, p] of Object.entries(m.params)) vars[k] = tf.variable(p, true);
        const batch = { B: g.batch.B, T: g.batch.T, ids: Int32Array.from(g.batch.ids), mask: Float32Array.from(g.batch.mask), lossMask: Float32Array.from(g.batch.lossMask) };
        const { value, grads } = valueAndGrads(vars, () => lmLoss(vars, m.config, batch));
        const loss = value.dataSync()[0];
        const got: Record<string, Float32Array> = {};
        for (const [k, gr] of Object.entries(grads)) got[k] = gr.dataSync() as Float32Array;
        tf.dispose([value, ...Object.values(grads), ...Object.values(vars)]);
        disposeBundle(m);
        assert.ok(Math.abs(loss - g.loss) <= 1e-5 * Math.abs(g.loss), `loss ${loss} vs torch ${g.loss}`);
        const names = paramNames(m.config).sort();
        assert.ok(names.includes(LM_HEAD), 'the untied head is a parameter');
        assert.deepEqual(Object.keys(got).sort(), names, 'parameters with a gradient');
        assert.deepEqual(Object.keys(g.grads).sort(), names, "torch's parameters");
        const bad: string[] = [];
        let worst = 0;
        for (const k of names) {
          const ref = g.grads[k].data;
          let diff = 0;
          let gmax = 0;
          for (let i = 0; i < ref.length; i++) {
            diff = Math.max(diff, Math.abs(got[k][i] - ref[i]));
            gmax = Math.max(gmax, Math.abs(ref[i]));
          }
          worst = Math.max(worst, diff / Math.max(1, gmax));
          if (!(diff <= GRAD_TOL * Math.max(1, gmax))) bad.push(`${k}: max |Δg| ${diff} (max |g| ${gmax})`);
        }
        t.diagnostic(`loss ${loss} (torch ${g.loss}); worst max |Δg| / max(1, max|g|) = ${worst.toExponential(2)}`);
        assert.deepEqual(bad, [], 'gradients that differ from torch');
      });
    }

    it('every parameter-free ACT2FN activation, and its derivative, equals torch on a grid', () => {
      const { x, values, grads } = fx.activations;
      assert.deepEqual(Object.keys(values).sort(), [...ACTIVATIONS].sort(), 'the fixture covers exactly the supported activations');
      const bad: string[] = [];
      for (const name of ACTIVATIONS) {
        const f = activation(name as Activation);
        const [y, dy] = tf.tidy(() => {
          const xs = tf.tensor2d(x, [1, x.length]);
          const yv = f(xs);
          const dx = tf.grad((z: Tensor) => tf.sum(f(z as Tensor2D)))(xs);
          return [yv.dataSync(), dx.dataSync()];
        });
        for (let i = 0; i < x.length; i++) {
          const ey = Math.abs(y[i] - values[name][i]);
          const eg = Math.abs(dy[i] - grads[name][i]);
          if (!(ey <= 1e-5 * Math.max(1, Math.abs(values[name][i])))) bad.push(`${name}(${x[i]}) = ${y[i]}, torch ${values[name][i]}`);
          if (!(eg <= 1e-5 * Math.max(1, Math.abs(grads[name][i])))) bad.push(`${name}'(${x[i]}) = ${dy[i]}, torch ${grads[name][i]}`);
        }
      }
      assert.deepEqual(bad.slice(0, 10), []);
    });

    it("a reward head's one-position pass (pick) and the top blocks alone (layers) give the full forward's hidden states, per-layer scaling included", () => {
      for (const name of ['combo', 'inverse-layer-idx']) {
        const m = loadWeights(fixturePath(fx.variants[name].dir));
        const { input_ids, attention_mask } = fx.variants[name].batch;
        const [B, T] = [input_ids.length, input_ids[0].length];
        const C = m.config.n_embd;
        const d = tf.tidy(() => {
          const ids = tf.tensor2d(input_ids, undefined, 'int32') as Tensor2D;
          const mask = tf.tensor2d(attention_mask) as Tensor2D;
          const full = forward(m.params, m.config, ids, { attentionMask: mask }).hidden; // [B, T, C]
          const at = [T - 1, 5, T - 2];
          const pick = tf.oneHot(tf.tensor1d(at, 'int32'), T).toFloat() as Tensor2D;
          const picked = forward(m.params, m.config, ids, { attentionMask: mask, pick }).hidden.reshape([B, C]);
          const want = tf.sum(tf.mul(full, pick.reshape([B, T, 1])), 1);
          // blocks 0..0 once, then 1..n_layer − 1 from that residual stream (the frozen-lower cache)
          const lower = forward(m.params, m.config, ids, { attentionMask: mask, layers: [0, 1], finalNorm: false }).hidden;
          const top = forward(m.params, m.config, ids, { attentionMask: mask, layers: [1, m.config.n_layer], hiddenIn: lower }).hidden;
          return [tf.max(tf.abs(tf.sub(picked, want))).dataSync()[0], tf.max(tf.abs(tf.sub(top, full))).dataSync()[0]];
        });
        disposeBundle(m);
        assert.ok(d[0] < 1e-5, `${name}: pick differs by ${d[0]}`);
        assert.ok(d[1] < 1e-5, `${name}: layers differ by ${d[1]}`);
      }
    });

    it('generate with an untied head decodes from lm_head.weight: greedy equals the argmax of the full forward', () => {
      for (const name of ['untied', 'combo']) {
        const m = loadWeights(fixturePath(fx.variants[name].dir));
        const prompts = [[3, 4, 5], [7]];
        const g = generate(m.params, m.config, prompts, { maxNewTokens: 8, temperature: 0, eosId: m.config.eos_token_id, padId: 0 });
        prompts.forEach((p, b) => {
          const seq = [...p];
          for (const tok of g.tokens[b]) {
            const row = tf.tidy(() => logits(m.params, m.config, tf.tensor2d([seq], undefined, 'int32') as Tensor2D).arraySync()[0][seq.length - 1]);
            const best = row.indexOf(Math.max(...row));
            assert.equal(tok, best, `${name}, row ${b}, after ${JSON.stringify(seq)}`);
            seq.push(tok);
          }
        });
        disposeBundle(m);
      }
    });
  });
}

describe('GPT2Config fields: saving and refusing', () => {
  before(async () => {
    await selectBackend('cpu');
  });
  const tok = tokenizerFromJson(trainByteLevelBPE(['hello world 12 34 hello world'], { vocabSize: 260, minFrequency: 1 }));

  it('save → load keeps every forward field, and the untied head as lm_head.weight, bit for bit', async () => {
    for (const name of ['combo', 'n-inner', 'untied', 'reorder-and-upcast']) {
      const v = fx.variants[name];
      const m = loadWeights(fixturePath(v.dir));
      const hf = JSON.parse(fs.readFileSync(fixturePath(v.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      const dir = path.join(tmpDir(), 'model');
      await saveModel(dir, { ...m, tokenizer: tok });
      const saved = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      for (const f of FORWARD_FIELDS) assert.deepEqual(saved[f], hf[f] ?? null, `${name}: config.json field ${f}`);
      const { tensors } = decodeSafetensors(fs.readFileSync(path.join(dir, 'model.safetensors')));
      assert.equal(LM_HEAD in tensors, v.overrides.tie_word_embeddings === false, `${name}: ${LM_HEAD} saved iff untied`);
      const back = loadWeights(dir);
      assert.deepEqual(back.config, m.config);
      for (const k of Object.keys(m.params)) assert.deepEqual(back.params[k].dataSync(), m.params[k].dataSync(), `${name}: ${k}`);
      disposeBundle(back);
      disposeBundle(m);
    }
  });

  it('a freshly initialised untied model has its own head, and round-trips', async () => {
    const cfg: GPT2Config = { vocab_size: tok.vocabSize, n_positions: 16, n_embd: 8, n_layer: 2, n_head: 2, layer_norm_epsilon: 1e-5, activation_function: 'gelu', bos_token_id: tok.eosId, eos_token_id: tok.eosId, tie_word_embeddings: false, n_inner: 12 };
    const m = initModel(cfg, tok, 5);
    assert.deepEqual(m.params[LM_HEAD].shape, [cfg.vocab_size, 8]);
    assert.deepEqual(m.params['transformer.h.0.mlp.c_fc.weight'].shape, [8, 12]);
    const dir = path.join(tmpDir(), 'model');
    await saveModel(dir, m);
    const back = loadWeights(dir);
    assert.equal(back.config.tie_word_embeddings, false);
    assert.deepEqual(back.params[LM_HEAD].dataSync(), m.params[LM_HEAD].dataSync());
    disposeBundle(back);
    disposeBundle(m);
  });

  it('attention scale: 1/√D, × 1/(layer + 1), or 1', () => {
    const base = { vocab_size: 5, n_positions: 4, n_embd: 16, n_layer: 3, n_head: 4, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new' as const, bos_token_id: 0, eos_token_id: 0 };
    assert.equal(attentionScale(base, 2), 0.5);
    assert.equal(attentionScale({ ...base, scale_attn_by_inverse_layer_idx: true }, 2), 0.5 / 3);
    assert.equal(attentionScale({ ...base, scale_attn_weights: false }, 2), 1);
    assert.equal(attentionScale({ ...base, scale_attn_weights: false, scale_attn_by_inverse_layer_idx: true }, 1), 0.5);
  });

  it('refuses what it cannot compute, naming the field and the file', () => {
    const base = { model_type: 'gpt2', vocab_size: 31, n_positions: 16, n_embd: 8, n_layer: 3, n_head: 2 };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ activation_function: 'prelu' }, /cfg\.json: field 'activation_function' is "prelu" \(it has learned parameters/],
      [{ activation_function: 'xielu' }, /cfg\.json: field 'activation_function' is "xielu"/],
      [{ activation_function: 'gelu_newest' }, /cfg\.json: field 'activation_function' is "gelu_newest"; rlhf supports gelu_new/],
      [{ add_cross_attention: true }, /cfg\.json: field 'add_cross_attention' is true/],
      [{ n_inner: 0 }, /cfg\.json: field 'n_inner' must be a positive integer/],
      [{ n_inner: 2.5 }, /cfg\.json: field 'n_inner' must be a positive integer/],
      [{ scale_attn_weights: 'yes' }, /cfg\.json: field 'scale_attn_weights' must be true or false/],
      [{ tie_word_embeddings: 0 }, /cfg\.json: field 'tie_word_embeddings' must be true or false/],
      [{ layer_norm_epsilon: 0 }, /cfg\.json: field 'layer_norm_epsilon' must be > 0/],
    ];
    for (const [extra, re] of cases) assert.throws(() => parseConfig({ ...base, ...extra }, 'cfg.json'), re, JSON.stringify(extra));
    // accepted: the defaults written out, n_inner null, reorder_and_upcast_attn, dropout fields
    const ok = parseConfig({ ...base, n_inner: null, reorder_and_upcast_attn: true, resid_pdrop: 0.1, attn_pdrop: 0.1, embd_pdrop: 0.1, add_cross_attention: false }, 'cfg.json');
    assert.equal(ok.n_inner, null);
    assert.equal(toHFConfig(ok).reorder_and_upcast_attn, true);
  });

  it('an untied config without lm_head.weight is refused, naming the tensor and config.json', () => {
    const dir = tmpDir();
    const src = fixturePath(fx.variants['gelu-exact'].dir); // tied: no lm_head.weight stored
    fs.copyFileSync(path.join(src, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, tie_word_embeddings: false }));
    assert.throws(() => loadWeights(dir), new RegExp(`tensor 'lm_head\\.weight' is missing .*${path.join(dir, 'config.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} says tie_word_embeddings: false`));
  });
});

