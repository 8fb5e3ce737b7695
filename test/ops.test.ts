/**
 * The hand-written gradients of src/model/ops.ts and src/model/fused.ts against tfjs's own
 * gradients of the plain formulas, on every backend this machine has. The shapes are chosen so that
 * both ways of forming a transposed product (transpose the operand, or form the product transposed)
 * are taken: the model parity tests use one shape regime only.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend';
import { tf, Tensor, Tensor1D, Tensor2D, Tensor3D } from '../src/backend/tf';
import { bmm, bmmBT, embedding, linear, tiedHead } from '../src/model/ops';
import { geluNew, layerNorm, targetLogProbs } from '../src/model/fused';
import { Rng } from '../src/util/rng';
import { BACKENDS_UNDER_TEST } from './helpers';

function randn(shape: number[], seed: number, scale = 1): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal() * scale), shape);
}

/** Max |a − b| over the values and every input gradient of f (ours) and g (reference), with a random cotangent. */
function compare(f: (...xs: Tensor[]) => Tensor, g: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): { value: number; grads: number[] } {
  return tf.tidy(() => {
    const yf = f(...inputs);
    const yg = g(...inputs);
    assert.deepEqual(yf.shape, yg.shape);
    const dy = randn(yf.shape, 99);
    const gf = tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(f(...xs), dy)))(inputs);
    const gg = tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(g(...xs), dy)))(inputs);
    const diff = (a: Tensor, b: Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
    return { value: diff(yf, yg), grads: gf.map((t, i) => diff(t, gg[i])) };
  }) as unknown as { value: number; grads: number[] };
}

function assertClose(r: { value: number; grads: number[] }, tol: number, what: string): void {
  assert.ok(r.value <= tol, `${what}: value differs by ${r.value}`);
  r.grads.forEach((d, i) => assert.ok(d <= tol, `${what}: gradient of input ${i} differs by ${d}`));
}

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`fast-path ops equal the plain formulas (${backend})`, () => {
    before(async () => {
      await selectBackend(backend);
    });

    // [N, in] · [in, out]: N = 40 tokens against 8×24 (transpose the operands) and N = 3 against
    // 64×48 (form the products transposed).
    for (const [N, I, O] of [[40, 8, 24], [3, 64, 48]]) {
      it(`linear with and without bias, x [${N}, ${I}] · W [${I}, ${O}]`, () => {
        const x = randn([N, I], 1), w = randn([I, O], 2, 0.3), b = randn([O], 3);
        assertClose(compare((xi, wi, bi) => linear(xi as Tensor2D, wi as Tensor2D, bi as Tensor1D), (xi, wi, bi) => tf.add(tf.matMul(xi as Tensor2D, wi as Tensor2D), bi), [x, w, b]), 1e-4, 'linear+bias');
        assertClose(compare((xi, wi) => linear(xi as Tensor2D, wi as Tensor2D), (xi, wi) => tf.matMul(xi as Tensor2D, wi as Tensor2D), [x, w]), 1e-4, 'linear');
        tf.dispose([x, w, b]);
      });
    }

    // The third has a vocabulary long enough (≥ 8192) for dh = dy·E to take the k-blocked kernel on wasm.
    for (const [N, C, V] of [[30, 8, 20], [2, 16, 50], [3, 4, 8200]]) {
      it(`tied head h [${N}, ${C}] · Eᵀ, E [${V}, ${C}]`, () => {
        const h = randn([N, C], 4), e = randn([V, C], 5, 0.3);
        assertClose(compare((hi, ei) => tiedHead(hi as Tensor2D, ei as Tensor2D), (hi, ei) => tf.matMul(hi as Tensor2D, ei as Tensor2D, false, true), [h, e]), 1e-4, 'tiedHead');
        tf.dispose([h, e]);
      });
    }

    it('batched matmul', () => {
      const a = randn([6, 5, 4], 6), b = randn([6, 4, 7], 7);
      assertClose(compare((ai, bi) => bmm(ai as Tensor3D, bi as Tensor3D), (ai, bi) => tf.matMul(ai as Tensor3D, bi as Tensor3D), [a, b]), 1e-4, 'bmm');
      tf.dispose([a, b]);
    });

    it('batched matmul with the right operand transposed (attention scores)', () => {
      const a = randn([6, 5, 4], 6), b = randn([6, 9, 4], 7);
      assertClose(compare((ai, bi) => bmmBT(ai as Tensor3D, bi as Tensor3D), (ai, bi) => tf.matMul(ai as Tensor3D, bi as Tensor3D, false, true), [a, b]), 1e-4, 'bmmBT');
      tf.dispose([a, b]);
    });

    it('embedding lookup with repeated ids (scatter-add gradient)', () => {
      const table = randn([9, 5], 8);
      const ids = tf.tensor1d([3, 1, 3, 8, 0, 3], 'int32');
      const oneHot = tf.oneHot(ids, 9).toFloat() as Tensor2D;
      assertClose(compare((t) => embedding(ids, t as Tensor2D), (t) => tf.matMul(oneHot, t as Tensor2D), [table]), 1e-5, 'embedding');
      tf.dispose([table, ids, oneHot]);
    });

    it('LayerNorm', () => {
      const x = tf.add(randn([7, 12], 9, 2), 0.5), g = tf.add(randn([12], 10, 0.1), 1), b = randn([12], 11, 0.1);
      const plain = (xi: Tensor, gi: Tensor, bi: Tensor) => {
        const xc = tf.sub(xi, tf.mean(xi, -1, true));
        return tf.add(tf.mul(tf.div(xc, tf.sqrt(tf.add(tf.mean(tf.square(xc), -1, true), 1e-5))), gi), bi);
      };
      assertClose(compare((xi, gi, bi) => layerNorm(xi as Tensor2D, gi, bi, 1e-5), plain, [x, g, b]), 1e-4, 'layerNorm');
      tf.dispose([x, g, b]);
    });

    it('gelu_new, including large |x| where σ(2u) saturates', () => {
      const x = tf.concat([randn([50], 12, 2), tf.tensor1d([-12, -6, 0, 6, 12])]).reshape([5, 11]);
      const plain = (xi: Tensor) => tf.mul(tf.mul(0.5, xi), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(xi, tf.mul(0.044715, tf.pow(xi, 3)))))));
      assertClose(compare((xi) => geluNew(xi as Tensor2D), plain, [x]), 1e-5, 'geluNew');
      x.dispose();
    });

    it('target log-probability', () => {
      const logits = randn([6, 11], 13, 3);
      const t = tf.tensor1d([0, 10, 4, 4, 7, 1], 'int32');
      const plain = (l: Tensor) => tf.sum(tf.mul(tf.logSoftmax(l), tf.oneHot(t, 11)), -1);
      assertClose(compare((l) => targetLogProbs(l as Tensor2D, t), plain, [logits]), 1e-5, 'targetLogProbs');
      tf.dispose([logits, t]);
    });
  });
}
