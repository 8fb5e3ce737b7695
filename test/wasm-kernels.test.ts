/**
 * The project's own wasm kernels (src/backend/wasm-kernels): the committed bytes are the assembly
 * of the committed text, and every kernel's output equals a float64 reference computed in JS on
 * shapes that hit every edge of the tiling (rows not a multiple of 4, columns not a multiple of 8
 * or 4, K = 1, broadcast batches, both transposes).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend';
import { tf, Tensor3D } from '../src/backend/tf';
import { FAST_BATCH_MATMUL, fastBatchMatMulOp } from '../src/backend/wasm-kernels';
import { MATMUL_WASM_BASE64 } from '../src/backend/wasm-kernels/matmul-wasm';
import { assembleMatmulWasm } from '../src/backend/wasm-kernels/assemble';
import { Rng } from '../src/util/rng';

function randn(shape: number[], seed: number): { t: Tensor3D; v: Float32Array } {
  const rng = new Rng(seed);
  const v = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
  return { t: tf.tensor3d(v, shape as [number, number, number]), v };
}

/** Reference op(a)·op(b) in float64, batch broadcast. */
function reference(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean): Float64Array {
  const [Ba, a1, a2] = aShape;
  const [Bb, b1, b2] = bShape;
  const [M, K] = ta ? [a2, a1] : [a1, a2];
  const N = tb ? b1 : b2;
  const batch = Math.max(Ba, Bb);
  const out = new Float64Array(batch * M * N);
  for (let n = 0; n < batch; n++) {
    const ao = (Ba === 1 ? 0 : n) * a1 * a2;
    const bo = (Bb === 1 ? 0 : n) * b1 * b2;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ao + (ta ? k * M + i : i * K + k)] * b[bo + (tb ? j * K + k : k * N + j)];
        out[(n * M + i) * N + j] = s;
      }
    }
  }
  return out;
}

describe('wasm kernels', () => {
  it('the committed kernel bytes are the assembly of matmul-wat.ts', async () => {
    const bytes = await assembleMatmulWasm();
    assert.equal(Buffer.from(MATMUL_WASM_BASE64, 'base64').toString('hex'), Buffer.from(bytes).toString('hex'), 'run `npm run build:wasm-kernels`');
  });

  describe(`${FAST_BATCH_MATMUL} on wasm`, () => {
    before(async () => {
      await selectBackend('wasm');
    });

    // [batchA, batchB, M, K, N]: tiles of 4×8, 4×4, 4×1 and the single-row tail, K = 1 and K = 0,
    // one row (a decode step), and batch broadcasting on either side.
    const shapes = [
      [3, 3, 5, 7, 9],
      [2, 2, 8, 16, 16],
      [2, 2, 13, 6, 11],
      [1, 1, 4, 1, 12],
      [2, 2, 3, 0, 5],
      [4, 4, 1, 33, 70],
      [1, 3, 6, 5, 10],
      [3, 1, 6, 5, 10],
    ];
    for (const [Ba, Bb, M, K, N] of shapes) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        it(`[${Ba}] ${ta ? 'Aᵀ' : 'A'} (${M}×${K}) · [${Bb}] ${tb ? 'Bᵀ' : 'B'} (${K}×${N})`, () => {
          const aShape = ta ? [Ba, K, M] : [Ba, M, K];
          const bShape = tb ? [Bb, N, K] : [Bb, K, N];
          const a = randn(aShape, M * 31 + K);
          const b = randn(bShape, N * 17 + K + 1);
          const out = fastBatchMatMulOp(a.t, b.t, ta, tb);
          assert.deepEqual(out.shape, [Math.max(Ba, Bb), M, N]);
          const got = out.dataSync();
          const want = reference(a.v, aShape, b.v, bShape, ta, tb);
          let worst = 0;
          for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
          assert.ok(worst <= 1e-5, `max relative error ${worst}`);
          tf.dispose([a.t, b.t, out]);
        });
      }
    }

    it('rejects shapes that do not fit, naming them', () => {
      const a = tf.zeros([2, 3, 4]);
      const b = tf.zeros([2, 5, 6]);
      assert.throws(() => fastBatchMatMulOp(a, b, false, false), /inner dimensions 4 and 5/);
      tf.dispose([a, b]);
    });
  });
});
