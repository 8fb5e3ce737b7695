/**
 * The model's differentiable products and embedding: each a tf.customGrad whose forward and
 * backward are products of src/backend/fast-ops (which picks each backend's fastest path: explicit
 * transposes and the project's kernels on wasm, TensorFlow's own transposed MatMul natively).
 * The gradients are written out rather than left to tfjs because tfjs's built-in ones use exactly
 * the forms wasm runs slowly (transposed operands) or lacks (gather's scatter-add gradient).
 * The results are the same products in the same precision on every backend; only the kernels
 * chosen differ.
 *
 * Every gradient function runs in its own tf.tidy: tfjs frees a backward pass's intermediates only
 * when the whole pass ends, and the transposed copies (and, on wasm, the packed copy XNNPACK makes
 * of every right-hand operand) would otherwise pile up to twice the model's size (GPT-2 124M then
 * runs the 4 GB wasm heap out of memory).
 */
import { tf, Tensor, Tensor1D, Tensor2D, Tensor3D } from '../backend/tf';
import { batchMatMul3d, columnSum, matMul2d, scatterAddRows } from '../backend/fast-ops';

export { columnSum };

// tfjs types customGrad's inputs loosely (tensors and the save function share one union).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const customGrad = tf.customGrad as (f: any) => any;

/** y = x·W, x: [N, in], W: [in, out] → [N, out]. dx = dy·Wᵀ, dW = xᵀ·dy. */
export const matmul = customGrad((x: Tensor, w: Tensor, save: (t: Tensor[]) => void) => {
  save([x, w]);
  return {
    value: matMul2d(x as Tensor2D, w as Tensor2D),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [xs, ws] = saved as Tensor2D[];
      return [matMul2d(dy as Tensor2D, ws, false, true), matMul2d(xs, dy as Tensor2D, true, false)];
    },
  };
}) as (x: Tensor2D, w: Tensor2D) => Tensor2D;

/**
 * The LM head, logits = h·Eᵀ with E the [V, C] token embedding (tied) or the untied lm_head.weight
 * (nn.Linear's [out, in], the same layout), h: [N, C] → [N, V].
 * Its own op so that the gradients come out in E's layout: dh = dy·E and dE = dyᵀ·h ([V, C]),
 * with no [C, V] copy of E kept through the backward pass and no transposing of a [C, V] gradient.
 */
export const tiedHead = customGrad((h: Tensor, emb: Tensor, save: (t: Tensor[]) => void) => {
  save([h, emb]);
  return {
    value: matMul2d(h as Tensor2D, emb as Tensor2D, false, true),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [hs, es] = saved as Tensor2D[];
      return [matMul2d(dy as Tensor2D, es), matMul2d(dy as Tensor2D, hs, true, false)];
    },
  };
}) as (h: Tensor2D, emb: Tensor2D) => Tensor2D;

/** y = x·W + b (Hugging Face Conv1D layout: W is [in, out]); the bias gradient Σₙ dyₙ is a columnSum. */
export const linearBias = customGrad((x: Tensor, w: Tensor, b: Tensor, save: (t: Tensor[]) => void) => {
  save([x, w]);
  return {
    value: tf.tidy(() => tf.add(matMul2d(x as Tensor2D, w as Tensor2D), b)),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [xs, ws] = saved as Tensor2D[];
      const d = dy as Tensor2D;
      return [matMul2d(d, ws, false, true), matMul2d(xs, d, true, false), columnSum(d)];
    },
  };
}) as (x: Tensor2D, w: Tensor2D, b: Tensor1D) => Tensor2D;

export function linear(x: Tensor2D, w: Tensor2D, b?: Tensor1D): Tensor2D {
  return b ? linearBias(x, w, b) : matmul(x, w);
}

/**
 * Product with the first `rows` rows of each of b's matrices (a preallocated KV cache: keys with
 * transposeB, values without), read in place. No gradient: decoding only, and only where the
 * backend keeps such a cache (see kv-cache.ts).
 */
export function bmmPrefix(a: Tensor3D, b: Tensor3D, rows: number, transposeB: boolean): Tensor3D {
  return batchMatMul3d(a, b, false, transposeB, rows);
}

/** Batched y = a·b, a: [N, M, K], b: [N, K, P] → [N, M, P]; da = dy·bᵀ, db = aᵀ·dy. */
export const bmm = customGrad((a: Tensor, b: Tensor, save: (t: Tensor[]) => void) => {
  save([a, b]);
  return {
    value: batchMatMul3d(a as Tensor3D, b as Tensor3D),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [as, bs] = saved as Tensor3D[];
      return [batchMatMul3d(dy as Tensor3D, bs, false, true), batchMatMul3d(as, dy as Tensor3D, true, false)];
    },
  };
}) as (a: Tensor3D, b: Tensor3D) => Tensor3D;

/** Batched y = a·bᵀ, a: [N, M, K], b: [N, P, K] → [N, M, P] (attention scores q·kᵀ); da = dy·b, db = dyᵀ·a. */
export const bmmBT = customGrad((a: Tensor, b: Tensor, save: (t: Tensor[]) => void) => {
  save([a, b]);
  return {
    value: batchMatMul3d(a as Tensor3D, b as Tensor3D, false, true),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [as, bs] = saved as Tensor3D[];
      return [batchMatMul3d(dy as Tensor3D, bs), batchMatMul3d(dy as Tensor3D, as, true, false)];
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
