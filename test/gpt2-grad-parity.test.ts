/**
 * Gradient parity with PyTorch autograd through Hugging Face transformers' GPT2LMHeadModel: the
 * fixture (scripts/make_gpt2_grad_fixture.py) holds the language-modelling loss of a right-padded
 * batch on the tiny random GPT-2 of gpt2-tiny-random and torch's gradient of every parameter.
 * Our loss (lmLoss) and our hand-written gradients (matmul / linear / bmm / tied head / embedding
 * in src/model/ops.ts, LayerNorm / gelu_new / target log-probability in src/model/fused.ts, and
 * tfjs's own for the attention softmax) must reproduce
 * them on every backend: loss within 1e-5 relative, every gradient within
 * 1e-5 · max(1, max|g_torch|). Measured differences are ≤ 4e-7 on wasm and cpu (torch's own
 * float32 gradients differ from float64 ones by 3e-7), so the margin is ~30×; the gradients here
 * are all ≤ 0.47 and ≥ 0.03 in max-norm, so a 0.1% error in any one of them, or a missing or zero
 * gradient, fails.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { selectBackend } from '../src/backend';
import { tf, Tensor2D, Variable } from '../src/backend/tf';
import { loadWeights, disposeBundle } from '../src/model/checkpoint';
import { positionIdsFromMask, trunkParamNames } from '../src/model/gpt2';
import { lmLoss } from '../src/model/lm';
import { makeLMBatch, LMBatch } from '../src/model/batch';
import { valueAndGrads } from '../src/model/optim';
import { BACKENDS_UNDER_TEST, fixturePath } from './helpers';

interface Fixture {
  model: string;
  batch: { B: number; T: number; pad_id: number; ids: number[]; mask: number[]; lossMask: number[]; position_ids: number[] };
  loss: number;
  num_targets: number;
  grads: Record<string, { shape: number[]; data: number[] }>;
}

const fx = JSON.parse(fs.readFileSync(fixturePath('gpt2-grads.json'), 'utf8')) as Fixture;

const LOSS_RTOL = 1e-5;
const GRAD_TOL = 1e-5;

function fixtureBatch(): LMBatch {
  const { B, T, ids, mask, lossMask } = fx.batch;
  return { ids: Int32Array.from(ids), mask: Float32Array.from(mask), lossMask: Float32Array.from(lossMask), B, T };
}

describe('gpt2-grads.json batch', () => {
  it('is what makeLMBatch builds (row 0: 4-token context; rows 1, 2: all target)', () => {
    const { B, T, ids, mask, pad_id } = fx.batch;
    const contexts = [4, 0, 0];
    const rows = Array.from({ length: B }, (_, b) => {
      const seq = ids.slice(b * T, (b + 1) * T).filter((_, t) => mask[b * T + t] === 1);
      return { context: seq.slice(0, contexts[b]), target: seq.slice(contexts[b]) };
    });
    assert.deepEqual(makeLMBatch(rows, pad_id, T), fixtureBatch());
  });
});

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`GPT-2 LM-loss gradients equal PyTorch's (${backend})`, () => {
    before(async () => {
      await selectBackend(backend);
    });

    it(`loss within ${LOSS_RTOL} relative, every gradient within ${GRAD_TOL}·max(1, max|g|)`, (t) => {
      const start = tf.memory().numTensors;
      const m = loadWeights(fixturePath(fx.model));
      const vars: Record<string, Variable> = {};
      for (const [k, p] of Object.entries(m.params)) vars[k] = tf.variable(p, true);
      const batch = fixtureBatch();

      // The positions our forward derives from the mask are the ones transformers was given.
      const pos = tf.tidy(() => positionIdsFromMask(tf.tensor2d(batch.mask, [batch.B, batch.T]) as Tensor2D).dataSync());
      assert.deepEqual(Array.from(pos), fx.batch.position_ids);

      const { value, grads } = valueAndGrads(vars, () => lmLoss(vars, m.config, batch));
      const loss = value.dataSync()[0];
      const rows: { name: string; diff: number; tol: number; gmax: number }[] = [];
      const got: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const [k, g] of Object.entries(grads)) got[k] = { shape: g.shape.slice(), data: g.dataSync() as Float32Array };
      tf.dispose([value, ...Object.values(grads), ...Object.values(vars)]);
      disposeBundle(m);
      assert.equal(tf.memory().numTensors, start, 'tensors leaked');

      assert.ok(Math.abs(loss - fx.loss) <= LOSS_RTOL * Math.abs(fx.loss), `loss ${loss} vs torch ${fx.loss}`);
      // Every trainable parameter has a gradient, and torch has the same parameters.
      const names = trunkParamNames(m.config).sort();
      assert.deepEqual(Object.keys(got).sort(), names, 'parameters with a gradient');
      assert.deepEqual(Object.keys(fx.grads).sort(), names, "torch's parameters");

      for (const name of names) {
        const ref = fx.grads[name];
        const g = got[name];
        assert.deepEqual(g.shape, ref.shape, `${name}: shape`);
        let diff = 0;
        let gmax = 0;
        for (let i = 0; i < ref.data.length; i++) {
          diff = Math.max(diff, Math.abs(g.data[i] - ref.data[i]));
          gmax = Math.max(gmax, Math.abs(ref.data[i]));
        }
        rows.push({ name, diff, tol: GRAD_TOL * Math.max(1, gmax), gmax });
      }
      rows.sort((a, b) => b.diff / b.tol - a.diff / a.tol);
      t.diagnostic(`loss ${loss} (torch ${fx.loss}, rel diff ${(Math.abs(loss - fx.loss) / fx.loss).toExponential(2)})`);
      for (const r of rows.slice(0, 5))
        t.diagnostic(`${r.name}: max |Δg| ${r.diff.toExponential(2)} (tol ${r.tol.toExponential(2)}, max |g| ${r.gmax.toPrecision(3)})`);
      const bad = rows.filter((r) => !(r.diff <= r.tol));
      assert.deepEqual(
        bad.map((r) => `${r.name}: max |Δg| ${r.diff} > ${r.tol}`),
        [],
        'gradients that differ from torch',
      );
    });
  });
}
