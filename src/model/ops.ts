/**
 * Matmul and embedding primitives that keep forward *and* backward on fast kernels.
 *
 * Measured on the wasm backend (2-core CPU): rank-2 matMul without transposes runs at ~42 GFLOP/s,
 * with transposeB at ~3.5 and transposeA at ~1; tfjs's built-in matMul gradient uses exactly those
 * transposed forms. And wasm has no UnsortedSegmentSum kernel, which `gather`'s gradient needs.
 * So every matmul here has a custom gradient that materialises the transpose explicitly (a cheap
 * memory copy) and multiplies non-transposed operands; the embedding gradient is a scatter-add.
 * Batched products (attention) are the exception: on wasm they run on this project's SIMD kernel
 * (src/backend/wasm-kernels), which reads transposed operands in place.
 * The results are the same products in the same precision on every backend; only the kernels
 * chosen differ.
 *
 * Every gradient function runs in its own tf.tidy: tfjs frees a backward pass's intermediates only
 * when the whole pass ends, and the transposed copies (and, on wasm, the packed copy XNNPACK makes
 * of every right-hand operand) would otherwise pile up to twice the model's size (GPT-2 124M then
 * runs the 4 GB wasm heap out of memory).
 */
import { tf, Tensor, Tensor1D, Tensor2D, Tensor3D } from '../backend/tf';
import { hasKernel } from '../backend';
import { FAST_BATCH_MATMUL, fastBatchMatMulOp } from '../backend/wasm-kernels';

const T2 = (x: Tensor2D) => tf.transpose(x) as Tensor2D;
const T3 = (x: Tensor3D) => tf.transpose(x, [0, 2, 1]) as Tensor3D;

// tfjs types customGrad's inputs loosely (tensors and the save function share one union).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const customGrad = tf.customGrad as (f: any) => any;

/** Σ over rows of x [N, k] → [k], as 1ᵀ·x: a column reduction is slow on wasm, a rank-2 matmul is not. */
export function columnSum(x: Tensor2D): Tensor1D {
  return tf.tidy(() => tf.matMul(tf.ones([1, x.shape[0]]) as Tensor2D, x).reshape([x.shape[1]]) as Tensor1D);
}

/**
 * a·bᵀ for a: [M, K], b: [N, K] → [M, N], on the fast kernel. Either b is transposed (N·K
 * elements copied) or the product is formed transposed, (b·aᵀ)ᵀ (M·K + M·N copied): whichever
 * copies less. Same sums either way. For GPT-2 124M on a short batch the second form copies a few
 * activations instead of a whole weight matrix; for the small model on a long batch, the first.
 */
function mulBT(a: Tensor2D, b: Tensor2D): Tensor2D {
  const [M, K] = a.shape;
  const N = b.shape[0];
  return tf.tidy(() => (N * K <= M * K + M * N ? tf.matMul(a, T2(b)) : T2(tf.matMul(b, T2(a)))));
}

/** aᵀ·b for a: [K, M], b: [K, N] → [M, N]: aᵀ·b (K·M copied) or (bᵀ·a)ᵀ (K·N + M·N copied). */
function mulAT(a: Tensor2D, b: Tensor2D): Tensor2D {
  const [K, M] = a.shape;
  const N = b.shape[1];
  return tf.tidy(() => (K * M <= K * N + M * N ? tf.matMul(T2(a), b) : T2(tf.matMul(T2(b), a))));
}

/**
 * a·b when the inner dimension is a vocabulary (the LM head's dh = dy·E, k = 50257 for GPT-2).
 * XNNPACK streams its packed copy of b from memory once per tile of a's rows there (measured 10–17
 * GFLOP/s against 28 at ordinary shapes); the project's wasm kernel works through k in cache-sized
 * blocks (28 GFLOP/s on that shape). Elsewhere, and on other backends, a plain matMul.
 */
const LONG_K = 8192;
function mulLongK(a: Tensor2D, b: Tensor2D): Tensor2D {
  const [M, K] = a.shape;
  if (K < LONG_K || !hasKernel(FAST_BATCH_MATMUL)) return tf.matMul(a, b);
  return tf.tidy(() => fastBatchMatMulOp(a.reshape([1, M, K]), b.reshape([1, K, b.shape[1]]), false, false).reshape([M, b.shape[1]]) as Tensor2D);
}

/** y = x·W, x: [N, in], W: [in, out] → [N, out]. dx = dy·Wᵀ, dW = xᵀ·dy. */
export const matmul = customGrad((x: Tensor, w: Tensor, save: (t: Tensor[]) => void) => {
  save([x, w]);
  return {
    value: tf.matMul(x as Tensor2D, w as Tensor2D),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [xs, ws] = saved as Tensor2D[];
      return [mulBT(dy as Tensor2D, ws), mulAT(xs, dy as Tensor2D)];
    },
  };
}) as (x: Tensor2D, w: Tensor2D) => Tensor2D;

/**
 * The tied LM head, logits = h·Eᵀ with E the [V, C] token embedding, h: [N, C] → [N, V].
 * Its own op so that the gradients come out in E's layout: dh = dy·E and dE = dyᵀ·h ([V, C]),
 * with no [C, V] copy of E kept through the backward pass and no transposing of a [C, V] gradient.
 */
export const tiedHead = customGrad((h: Tensor, emb: Tensor, save: (t: Tensor[]) => void) => {
  save([h, emb]);
  return {
    value: mulBT(h as Tensor2D, emb as Tensor2D),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [hs, es] = saved as Tensor2D[];
      return [mulLongK(dy as Tensor2D, es), mulAT(dy as Tensor2D, hs)];
    },
  };
}) as (h: Tensor2D, emb: Tensor2D) => Tensor2D;

/** y = x·W + b (Hugging Face Conv1D layout: W is [in, out]); the bias gradient Σₙ dyₙ is a columnSum. */
export const linearBias = customGrad((x: Tensor, w: Tensor, b: Tensor, save: (t: Tensor[]) => void) => {
  save([x, w]);
  return {
    value: tf.tidy(() => tf.add(tf.matMul(x as Tensor2D, w as Tensor2D), b)),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [xs, ws] = saved as Tensor2D[];
      const d = dy as Tensor2D;
      return [mulBT(d, ws), mulAT(xs, d), columnSum(d)];
    },
  };
}) as (x: Tensor2D, w: Tensor2D, b: Tensor1D) => Tensor2D;

export function linear(x: Tensor2D, w: Tensor2D, b?: Tensor1D): Tensor2D {
  return b ? linearBias(x, w, b) : matmul(x, w);
}

/**
 * Batched op(a)·op(b) for rank-3 tensors. On wasm this is the project's SIMD kernel, which reads
 * transposed operands in place (tfjs's own batched kernel there is scalar code at ~2 GFLOP/s);
 * elsewhere the transposes are materialised and the backend multiplies untransposed operands.
 */
function batchMatMul(a: Tensor3D, b: Tensor3D, transposeA = false, transposeB = false): Tensor3D {
  if (hasKernel(FAST_BATCH_MATMUL)) return fastBatchMatMulOp(a, b, transposeA, transposeB) as Tensor3D;
  return tf.tidy(() => tf.matMul(transposeA ? T3(a) : a, transposeB ? T3(b) : b));
}

/**
 * Product with the first `rows` rows of each of b's matrices (a preallocated KV cache: keys with
 * transposeB, values without), read in place. No gradient: decoding only, and only where the
 * kernel exists (see kv-cache.ts).
 */
export function bmmPrefix(a: Tensor3D, b: Tensor3D, rows: number, transposeB: boolean): Tensor3D {
  return fastBatchMatMulOp(a, b, false, transposeB, rows) as Tensor3D;
}

/** Batched y = a·b, a: [N, M, K], b: [N, K, P] → [N, M, P]; da = dy·bᵀ, db = aᵀ·dy. */
export const bmm = customGrad((a: Tensor, b: Tensor, save: (t: Tensor[]) => void) => {
  save([a, b]);
  return {
    value: batchMatMul(a as Tensor3D, b as Tensor3D),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [as, bs] = saved as Tensor3D[];
      return [batchMatMul(dy as Tensor3D, bs, false, true), batchMatMul(as, dy as Tensor3D, true, false)];
    },
  };
}) as (a: Tensor3D, b: Tensor3D) => Tensor3D;

/** Batched y = a·bᵀ, a: [N, M, K], b: [N, P, K] → [N, M, P] (attention scores q·kᵀ); da = dy·b, db = dyᵀ·a. */
export const bmmBT = customGrad((a: Tensor, b: Tensor, save: (t: Tensor[]) => void) => {
  save([a, b]);
  return {
    value: batchMatMul(a as Tensor3D, b as Tensor3D, false, true),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [as, bs] = saved as Tensor3D[];
      return [batchMatMul(dy as Tensor3D, bs), batchMatMul(dy as Tensor3D, as, true, false)];
    },
  };
}) as (a: Tensor3D, b: Tensor3D) => Tensor3D;

/**
 * Row lookup table[ids] with a gradient that is a scatter-add of dy into the rows.
 * Uses the backend's UnsortedSegmentSum where it exists (native backends, cpu); on wasm,
 * which lacks it, the scatter-add runs in JS on the downloaded gradient (O(N·C) work).
 */
export function embedding(ids: Tensor1D, table: Tensor2D): Tensor2D {
  const vocab = table.shape[0];
  const f = customGrad((t: Tensor, save: (x: Tensor[]) => void) => {
    // The ids must be saved with the op: tensors merely captured by the closure are freed
    // before the backward pass runs.
    save([ids]);
    return {
      value: tf.gather(t as Tensor2D, ids),
      gradFunc: (dy: Tensor, saved: Tensor[]) => [scatterAddRows(dy as Tensor2D, saved[0] as Tensor1D, vocab)],
    };
  }) as (t: Tensor2D) => Tensor2D;
  return f(table);
}

export function scatterAddRows(dy: Tensor2D, ids: Tensor1D, rows: number): Tensor2D {
  if (hasKernel('UnsortedSegmentSum')) return tf.unsortedSegmentSum(dy, ids, rows) as Tensor2D;
  const [n, c] = dy.shape;
  const g = dy.dataSync();
  const idx = ids.dataSync();
  const out = new Float32Array(rows * c);
  for (let i = 0; i < n; i++) {
    const r = idx[i] * c;
    const s = i * c;
    for (let j = 0; j < c; j++) out[r + j] += g[s + j];
  }
  return tf.tensor2d(out, [rows, c]);
}
