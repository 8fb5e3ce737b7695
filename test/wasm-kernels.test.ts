/**
 * The project's own wasm kernels (src/backend/wasm-kernels): the committed bytes are the assembly
 * of the committed text, and every kernel's output equals a float64 reference computed in JS on
 * shapes that hit every edge of the tiling (rows not a multiple of 4, columns not a multiple of 8
 * or 4, K = 1, broadcast batches, both transposes), and Transpose / Slice / SplitV, which the
 * strided-copy kernel replaces for 4-byte dtypes, equal an index-by-index JS reference (ranks 0–6,
 * including shapes that do not fold to rank 5 and dtypes that go to tfjs's own kernels).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { selectBackend } from '../src/backend';
import { tf, Tensor, Tensor3D } from '../src/backend/tf';
import { FAST_BATCH_MATMUL, fastBatchMatMulOp, wasmKernelOverridden, wasmSumSquares, writeRowsOp } from '../src/backend/wasm-kernels';
import { KERNELS_WASM_BASE64 } from '../src/backend/wasm-kernels/kernels-wasm';
import { assembleKernelsWasm } from '../src/backend/wasm-kernels/assemble';
import { Rng } from '../src/util/rng';
import { onlyOn } from './helpers';

function randn(shape: number[], seed: number): { t: Tensor3D; v: Float32Array } {
  const rng = new Rng(seed);
  const v = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
  return { t: tf.tensor3d(v, shape as [number, number, number]), v };
}

/**
 * Reference op(a)·op(b) in float64, batch broadcast, with each output's Σₖ|aₖbₖ|: a float32 sum of
 * K products is within K·u·Σ|aₖbₖ| of the exact one (u = 2⁻²⁴, Higham's bound for any order of
 * summation), which is the tolerance the tests use. A wrong term is off by far more.
 */
function reference(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean): { value: Float64Array; bound: Float64Array } {
  const [Ba, a1, a2] = aShape;
  const [Bb, b1, b2] = bShape;
  const [M, K] = ta ? [a2, a1] : [a1, a2];
  const N = tb ? b1 : b2;
  const batch = Math.max(Ba, Bb);
  const value = new Float64Array(batch * M * N);
  const bound = new Float64Array(batch * M * N);
  for (let n = 0; n < batch; n++) {
    const ao = (Ba === 1 ? 0 : n) * a1 * a2;
    const bo = (Bb === 1 ? 0 : n) * b1 * b2;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        let abs = 0;
        for (let k = 0; k < K; k++) {
          const p = a[ao + (ta ? k * M + i : i * K + k)] * b[bo + (tb ? j * K + k : k * N + j)];
          s += p;
          abs += Math.abs(p);
        }
        value[(n * M + i) * N + j] = s;
        bound[(n * M + i) * N + j] = (K + 1) * 2 ** -24 * abs + 1e-30;
      }
    }
  }
  return { value, bound };
}

/** The worst |got − want| / bound over all outputs (≤ 1 passes). */
function worstRatio(got: ArrayLike<number>, ref: { value: Float64Array; bound: Float64Array }): number {
  let worst = 0;
  for (let i = 0; i < ref.value.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref.value[i]) / ref.bound[i]);
  return worst;
}

describe('wasm kernels', () => {
  it('the committed kernel bytes are the assembly of kernels-wat.ts', async () => {
    const bytes = await assembleKernelsWasm();
    const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const committed = Buffer.from(KERNELS_WASM_BASE64, 'base64');
    assert.ok(committed.equals(Buffer.from(bytes)), `committed ${committed.length} bytes (sha256 ${digest(committed).slice(0, 12)}), text assembles to ${bytes.length} (${digest(bytes).slice(0, 12)}): run \`npm run build:wasm-kernels\``);
  });

  describe(`${FAST_BATCH_MATMUL} on wasm`, { skip: onlyOn('wasm', 'the wasm backend\'s own kernels') }, () => {
    before(async () => {
      await selectBackend('wasm');
    });

    // [batchA, batchB, M, K, N]: tiles of 4×8, 4×4, 4×1 and the single-row tail, K = 1 and K = 0,
    // one to three rows (a decode step; with Bᵀ these are dot products), batch broadcasting.
    const shapes = [
      [3, 3, 5, 7, 9],
      [2, 2, 8, 16, 16],
      [2, 2, 13, 6, 11],
      [1, 1, 4, 1, 12],
      [2, 2, 3, 0, 5],
      [4, 4, 1, 33, 70],
      [1, 3, 6, 5, 10],
      [3, 1, 6, 5, 10],
      [1, 3, 2, 7, 9], // fewer rows than a tile: with Bᵀ, the dot-product path
      [3, 1, 3, 9, 6],
      [2, 2, 1, 64, 214],
      [2, 2, 5, 700, 9], // k in blocks of 256: two full blocks and a partial one
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
          const worst = worstRatio(out.dataSync(), reference(a.v, aShape, b.v, bShape, ta, tb));
          assert.ok(worst <= 1, `error ${worst.toFixed(2)}× the float32 bound`);
          tf.dispose([a.t, b.t, out]);
        });
      }
    }

    for (const tb of [false, true]) {
      it(`bRows: the first rows of each of b's matrices (a preallocated cache), ${tb ? 'keys (Bᵀ)' : 'values'}`, () => {
        // b is [3, 10, 6] of which 7 rows are used: with Bᵀ, N = 7 (K = 6); without, K = 7 (N = 6).
        const [M, K] = tb ? [5, 6] : [5, 7];
        const a = randn([3, M, K], 11);
        const b = randn([3, 10, 6], 12);
        const out = fastBatchMatMulOp(a.t, b.t, false, tb, 7);
        const used = new Float32Array(3 * 7 * 6);
        for (let n = 0; n < 3; n++) used.set(b.v.subarray(n * 60, n * 60 + 42), n * 42);
        assert.deepEqual(out.shape, [3, M, tb ? 7 : 6]);
        const worst = worstRatio(out.dataSync(), reference(a.v, [3, M, K], used, [3, 7, 6], false, tb));
        assert.ok(worst <= 1, `error ${worst.toFixed(2)}× the float32 bound`);
        tf.dispose([a.t, b.t, out]);
      });
    }

    it('writeRows writes x into rows [at, at + T) of each matrix in place and nothing else', () => {
      const buf = tf.tensor3d(Float32Array.from({ length: 2 * 5 * 3 }, (_, i) => -i - 1), [2, 5, 3]);
      const x = tf.tensor3d(Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => i + 1), [2, 2, 3]);
      writeRowsOp(buf, x, 2);
      const got = Array.from(buf.dataSync());
      const want = Array.from({ length: 30 }, (_, i) => -i - 1);
      for (let n = 0; n < 2; n++) for (let t = 0; t < 2; t++) for (let c = 0; c < 3; c++) want[n * 15 + (2 + t) * 3 + c] = n * 6 + t * 3 + c + 1;
      assert.deepEqual(got, want);
      assert.throws(() => writeRowsOp(buf, x, 4), /rows \[4, 6\) outside \[0, 5\)/);
      tf.dispose([buf, x]);
    });

    it('sum of squares in float64, SIMD body and tail, read in place', () => {
      for (const n of [0, 3, 4, 100_003]) {
        const x = randn([1, 1, n], n + 5);
        let want = 0;
        for (const v of x.v) want += v * v;
        const got = wasmSumSquares(x.t)!;
        assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, want), `n = ${n}: ${got} vs ${want}`);
        x.t.dispose();
      }
    });

    it('rejects shapes that do not fit, naming them', () => {
      const a = tf.zeros([2, 3, 4]);
      const b = tf.zeros([2, 5, 6]);
      assert.throws(() => fastBatchMatMulOp(a, b, false, false), /inner dimensions 4 and 5/);
      tf.dispose([a, b]);
    });
  });
});

/** Row-major strides of a shape. */
function strides(shape: number[]): number[] {
  const st = new Array<number>(shape.length);
  for (let i = shape.length - 1, s = 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

/** Every multi-index of a shape, in row-major order. */
function* indices(shape: number[]): Generator<number[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  for (let f = 0; f < n; f++) {
    const idx: number[] = [];
    let r = f;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = r % shape[d];
      r = Math.floor(r / shape[d]);
    }
    yield idx;
  }
}

const iota = (n: number) => Array.from({ length: n }, (_, i) => i * 3 - 7);

describe('Transpose, Slice and SplitV on wasm (strided-copy kernel) equal a JS reference', { skip: onlyOn('wasm', 'the wasm backend\'s own kernels') }, () => {
  before(async () => {
    await selectBackend('wasm');
  });

  it('the strided-copy path is in front of tfjs\'s Transpose, Slice and SplitV', () => {
    for (const name of ['Transpose', 'Slice', 'SplitV']) assert.ok(wasmKernelOverridden(name), name);
  });

  const transposes: [number[], number[]][] = [
    [[], []],
    [[5], [0]],
    [[7, 9], [1, 0]],
    [[1024, 3], [1, 0]],
    [[2, 3, 4], [0, 2, 1]],
    [[16, 5, 4, 3], [0, 2, 1, 3]],
    [[2, 5, 3, 4, 3], [2, 0, 3, 1, 4]],
    [[2, 3, 2, 3, 2, 3], [5, 4, 3, 2, 1, 0]], // does not fold to rank 5: tfjs's kernel
    [[3, 1, 4], [2, 1, 0]],
    [[2, 0, 3], [2, 0, 1]],
  ];
  for (const [shape, perm] of transposes) {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      it(`transpose ${dtype}[${shape}] by [${perm}]`, () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const vals = iota(n).map((v) => (dtype === 'bool' ? Number(v % 2 === 0) : v));
        const x = tf.tensor(vals, shape, dtype);
        const y = tf.transpose(x, perm);
        const outShape = perm.map((p) => shape[p]);
        assert.deepEqual(y.shape, outShape);
        assert.equal(y.dtype, dtype);
        const xs = strides(shape);
        const want = [...indices(outShape)].map((idx) => vals[idx.reduce((a, i, d) => a + i * xs[perm[d]], 0)]);
        assert.deepEqual(Array.from(y.dataSync()), want);
        tf.dispose([x, y]);
      });
    }
  }

  const slices: [number[], number[], number[]][] = [
    [[10], [3], [4]],
    [[6, 8], [1, 2], [3, 5]],
    [[6, 8], [2, 0], [3, 8]], // contiguous rows
    [[4, 5, 6], [1, 0, 2], [2, -1, 3]],
    [[3, 4, 5, 6, 2], [1, 1, 0, 2, 1], [2, 2, 5, 3, 1]],
    [[2, 3, 2, 3, 2, 3], [1, 1, 0, 1, 0, 1], [1, 2, 2, 2, 2, 2]], // rank 6 that folds (leading 1)
    [[2, 3, 2, 3, 2, 3], [0, 1, 1, 1, 0, 1], [2, 2, 1, 2, 2, 2]], // rank 6 that does not
    [[5, 4], [2, 1], [0, 3]],
  ];
  for (const [shape, begin, size] of slices) {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      it(`slice ${dtype}[${shape}] at [${begin}] size [${size}]`, () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const vals = iota(n).map((v) => (dtype === 'bool' ? Number(v % 2 === 0) : v));
        const x = tf.tensor(vals, shape, dtype);
        const y = tf.slice(x, begin, size);
        const outShape = size.map((s, d) => (s === -1 ? shape[d] - begin[d] : s));
        assert.deepEqual(y.shape, outShape);
        const xs = strides(shape);
        const want = [...indices(outShape)].map((idx) => vals[idx.reduce((a, i, d) => a + (i + begin[d]) * xs[d], 0)]);
        assert.deepEqual(Array.from(y.dataSync()), want);
        tf.dispose([x, y]);
      });
    }
  }

  for (const [shape, splits, axis] of [[[1024, 384], 3, 1], [[4, 6, 5], [1, 3, 2], 1], [[3, 4, 5], [2, 1, 2], -1], [[6, 2], 2, 0]] as [number[], number | number[], number][]) {
    it(`split [${shape}] into ${JSON.stringify(splits)} along ${axis}`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const vals = iota(n);
      const x = tf.tensor(vals, shape);
      const parts = tf.split(x, splits, axis);
      const ax = axis < 0 ? shape.length + axis : axis;
      const sizes = typeof splits === 'number' ? Array(splits).fill(shape[ax] / splits) : splits;
      const xs = strides(shape);
      let offset = 0;
      parts.forEach((part: Tensor, k: number) => {
        const outShape = shape.map((d, i) => (i === ax ? sizes[k] : d));
        assert.deepEqual(part.shape, outShape);
        const want = [...indices(outShape)].map((idx) => vals[idx.reduce((a, i, d) => a + (i + (d === ax ? offset : 0)) * xs[d], 0)]);
        assert.deepEqual(Array.from(part.dataSync()), want, `piece ${k}`);
        offset += sizes[k];
      });
      tf.dispose([x, ...parts]);
    });
  }
});
