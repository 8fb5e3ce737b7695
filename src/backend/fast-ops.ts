/**
 * The fast-ops boundary: operations the model and the optimizer need that some backends run much
 * faster through a path of their own. Each operation here picks its path from the active backend
 * and falls back to plain tfjs ops; code above src/backend calls only these functions (no
 * backend tests elsewhere). None of them has a gradient: model/ops.ts builds the differentiable
 * ops from them.
 *
 *   operation        wasm (+ the project's kernels)          tensorflow (tfjs-node)          cpu
 *   op(a)·op(b)      transposes made explicit, untransposed  MatMul with transpose flags     as wasm
 *                    XNNPACK product; long k: blocked kernel
 *   batched product  SIMD kernel, transposes read in place   BatchMatMulV2 with adj flags    explicit transposes
 *   KV cache         preallocated, rows written in place,    resource variables written in   growing (concat)
 *                    products over the filled rows           place, unfilled rows masked,
 *                                                            keys stored transposed
 *   Σ over rows      1ᵀ·x (a reduction is slow on wasm)      Sum                             1ᵀ·x
 *   row mean         Mean                                    Mean (tfjs-node adds a Cast)    Mean
 *   scatter-add rows JS on the downloaded gradient            UnsortedSegmentSum              UnsortedSegmentSum
 *   Adam step        one-pass kernel                         fused ApplyAdam, in place       tfjs ops
 *   Σx² (grad norm)  float64 pass in place                   L2Loss + AddN                   tfjs ops
 *
 * Why wasm needs the explicit transposes, measured on 2 cores: a rank-2 matMul without transposes
 * runs at ~42 GFLOP/s, with transposeB at ~3.5 and transposeA at ~1; its batched matMul is scalar
 * code (~2 GFLOP/s), and it has no UnsortedSegmentSum. On tensorflow every extra kernel costs a
 * dispatch, and BatchMatMulV2 is ~2× slower than MatMul on rank-2 products with few rows (decoding).
 */
import { tf, Tensor, Tensor1D, Tensor2D, Tensor3D, Variable } from './tf';
import type * as tfTypes from '@tensorflow/tfjs';
import { ADAM_STEP, adamStepOp, FAST_BATCH_MATMUL, fastBatchMatMulOp, WRITE_ROWS, wasmSumSquares, writeRowsOp } from './wasm-kernels';
import { nativeMatMul, nativeMeanLastAxis, NativeAdamSlot, NativeKvBuffer, nativeSumSquares, onNativeTensorflow } from './tf-native';

/** Whether the active backend has a kernel (used to route around kernels a backend lacks). */
export function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Products
// ─────────────────────────────────────────────────────────────────────────────────────────────

const T2 = (x: Tensor2D) => tf.transpose(x) as Tensor2D;
const T3 = (x: Tensor3D) => tf.transpose(x, [0, 2, 1]) as Tensor3D;

/**
 * op(a)·op(b) for rank-2 a, b (op = transpose where asked). Where transposes are made explicit, the
 * product is formed whichever way copies fewer elements: a·bᵀ as a·(bᵀ) (N·K copied) or as
 * (b·aᵀ)ᵀ (M·K + M·N copied); aᵀ·b likewise. Same sums either way. For GPT-2 124M on a short batch
 * the second form copies a few activations instead of a whole weight matrix.
 */
export function matMul2d(a: Tensor2D, b: Tensor2D, transA = false, transB = false): Tensor2D {
  if (onNativeTensorflow()) return nativeMatMul(a, b, transA, transB);
  return tf.tidy(() => {
    if (transA && transB) return tf.matMul(T2(a), T2(b));
    if (transB) {
      const [M, K] = a.shape;
      const N = b.shape[0];
      return N * K <= M * K + M * N ? tf.matMul(a, T2(b)) : T2(tf.matMul(b, T2(a)));
    }
    if (transA) {
      const [K, M] = a.shape;
      const N = b.shape[1];
      return K * M <= K * N + M * N ? tf.matMul(T2(a), b) : T2(tf.matMul(T2(b), a));
    }
    return longK(a, b) ?? tf.matMul(a, b);
  });
}

/**
 * Whether a fixed right operand used with transposeB many times (the LM head's E during decoding)
 * is better transposed once up front: yes where transposes are made explicit, not on tensorflow.
 */
export function transposeOnce(): boolean {
  return !onNativeTensorflow();
}

/**
 * a·b when the inner dimension is a vocabulary (the LM head's dh = dy·E, k = 50257 for GPT-2), on
 * wasm: XNNPACK streams its packed copy of b from memory once per tile of a's rows there (measured
 * 10–17 GFLOP/s against 28 at ordinary shapes); the project's kernel works through k in cache-sized
 * blocks (28 GFLOP/s on that shape). Undefined where that does not apply.
 */
const LONG_K = 8192;
function longK(a: Tensor2D, b: Tensor2D): Tensor2D | undefined {
  const [M, K] = a.shape;
  if (K < LONG_K || !hasKernel(FAST_BATCH_MATMUL)) return undefined;
  return fastBatchMatMulOp(a.reshape([1, M, K]), b.reshape([1, K, b.shape[1]]), false, false).reshape([M, b.shape[1]]) as Tensor2D;
}

/**
 * Batched op(a)·op(b) for rank-3 tensors (a batch of 1 broadcasts). With `bRows`, only the first
 * bRows rows of each of b's matrices take part (a preallocated KV cache, see kvCacheInPlace):
 * then N = bRows with transB, K = bRows without.
 */
export function batchMatMul3d(a: Tensor3D, b: Tensor3D, transA = false, transB = false, bRows?: number): Tensor3D {
  if (hasKernel(FAST_BATCH_MATMUL)) return fastBatchMatMulOp(a, b, transA, transB, bRows) as Tensor3D;
  if (bRows !== undefined) throw new Error('batchMatMul3d: bRows needs the in-place KV cache kernels (kvCacheInPlace())');
  if (onNativeTensorflow()) return tf.matMul(a, b, transA, transB);
  return tf.tidy(() => tf.matMul(transA ? T3(a) : a, transB ? T3(b) : b));
}

/** Mean over the last axis, kept as a size-1 axis ([N, C] → [N, 1]). */
export function meanLastAxis(x: Tensor): Tensor {
  return onNativeTensorflow() ? nativeMeanLastAxis(x) : tf.mean(x, -1, true);
}

/** Σ over rows of x [N, k] → [k]. On wasm (and cpu) as 1ᵀ·x: a column reduction is slow there, a rank-2 matmul is not. */
export function columnSum(x: Tensor2D): Tensor1D {
  if (onNativeTensorflow()) return tf.sum(x, 0) as Tensor1D;
  return tf.tidy(() => tf.matMul(tf.ones([1, x.shape[0]]) as Tensor2D, x).reshape([x.shape[1]]) as Tensor1D);
}

/** out[ids[i]] += dy[i] over the rows of dy [N, C] → [rows, C] (the embedding's gradient). */
export function scatterAddRows(dy: Tensor2D, ids: Tensor1D, rows: number): Tensor2D {
  if (hasKernel('UnsortedSegmentSum')) return tf.unsortedSegmentSum(dy, ids, rows) as Tensor2D;
  // wasm lacks the kernel: the scatter-add in JS on the downloaded gradient (O(N·C) work).
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

// ─────────────────────────────────────────────────────────────────────────────────────────────
// KV cache written in place
// ─────────────────────────────────────────────────────────────────────────────────────────────

/**
 * How the backend keeps a preallocated KV cache written in place (Hugging Face's StaticCache):
 *   'prefix'  wasm: a kernel writes a step's rows, products read only the filled rows (bRows);
 *   'masked'  tensorflow: a resource variable takes the rows in place; attention reads the whole
 *             buffer and masks the rows not filled yet;
 * or undefined: the cache grows by concatenation (each step copies it).
 */
export type KvCacheMode = 'prefix' | 'masked';
export function kvCacheMode(): KvCacheMode | undefined {
  if (hasKernel(WRITE_ROWS) && hasKernel(FAST_BATCH_MATMUL)) return 'prefix';
  if (onNativeTensorflow()) return 'masked';
  return undefined;
}

/** One layer's keys or values, [B·H, capacity, D] (or transposed, [B·H, D, capacity]), written in place. */
export interface KvBuffer {
  /** Positions [at, at + T) of every matrix ← x [B·H, T, D] (rows, or columns when transposed). */
  write(x: Tensor3D, at: number): void;
  /** The buffer as a tensor to multiply with (valid within the step that read it). */
  read(): Tensor3D;
  /** Stored as [B·H, D, capacity]: attention's q·Kᵀ is then a product without transposes. */
  readonly transposed: boolean;
  dispose(): void;
}

/**
 * A zeroed buffer for [B·H, capacity, D] keys or values (positions past the filled ones are read,
 * masked or not, and must not be NaN). On tensorflow the keys are kept transposed: its batched
 * product reads a transposed operand at about two thirds of the speed (q·Kᵀ at B·H = 48, 213
 * positions, D = 64: 578 µs with adj_y, 395 µs on Kᵀ stored; measured on 2 cores).
 */
export function newKvBuffer(shape: [number, number, number], role: 'keys' | 'values'): KvBuffer {
  if (onNativeTensorflow()) {
    const b = new NativeKvBuffer(shape, role === 'keys');
    return { write: (x, at) => b.write(x, at), read: () => b.read() as Tensor3D, transposed: b.transposed, dispose: () => b.dispose() };
  }
  if (kvCacheMode() !== 'prefix') throw new Error('newKvBuffer: this backend keeps no in-place KV cache (kvCacheMode())');
  const t = tf.keep(tf.zeros(shape)) as Tensor3D;
  return { write: (x, at) => writeRowsOp(t, x, at), read: () => t, transposed: false, dispose: () => t.dispose() };
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Σx² over a list of tensors (the global gradient norm)
// ─────────────────────────────────────────────────────────────────────────────────────────────

/** Σ over tensors of Σx², read to the host once. */
export function sumSquares(ts: Tensor[]): number {
  if (onNativeTensorflow()) return nativeSumSquares(ts);
  const host = ts.map((t) => wasmSumSquares(t));
  if (host.every((x) => x !== undefined)) return (host as number[]).reduce((a, b) => a + b, 0);
  // One read at the end, not one per tensor (on a GPU each read is a sync).
  let sumSq: tfTypes.Scalar = tf.scalar(0);
  for (const t of ts) {
    const next = tf.tidy(() => tf.add(sumSq, tf.sum(tf.square(t))) as tfTypes.Scalar);
    sumSq.dispose();
    sumSq = next;
  }
  const out = sumSq.dataSync()[0];
  sumSq.dispose();
  return out;
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Adam(W): one parameter's moments and its update
// ─────────────────────────────────────────────────────────────────────────────────────────────

/**
 * The scalars of one Adam(W) step (model/optim.ts derives them):
 *   m ← β₁m + (1−β₁)·c·g,   v ← β₂v + (1−β₂)·c²·g²,   θ ← decay·θ − α·m/(√v + ε̂)
 * with c the gradient-clipping factor, α and ε̂ the bias-corrected step size and epsilon.
 */
export interface AdamStepScalars {
  beta1: number;
  beta2: number;
  clip: number;
  alpha: number;
  epsHat: number;
  decay: number;
}

/**
 * A parameter's Adam moments as a checkpoint stores them. A backend may keep a moment scaled
 * (true m = mScale·m): saving the raw buffers and their scales makes resume bit-identical.
 */
export interface AdamSlotState {
  shape: number[];
  m: Float32Array;
  v: Float32Array;
  mScale: number;
  vScale: number;
}

export interface AdamSlot {
  /** θ and the moments ← one step from gradient g (freed here: its memory is reused at once). */
  step(param: Variable, g: Tensor, s: AdamStepScalars): void;
  state(): Promise<AdamSlotState>;
  dispose(): void;
}

/** A parameter's Adam state on the active backend: zero moments, or restored from a checkpoint. */
export function adamSlot(param: Variable, saved?: AdamSlotState): AdamSlot {
  if (saved && saved.shape.join() !== param.shape.join()) throw new Error(`optimizer state has shape [${saved.shape}], parameter has [${param.shape}]`);
  return onNativeTensorflow() ? new ScaledNativeAdamSlot(param, saved) : new TfjsAdamSlot(param, saved);
}

/** Moments as tfjs variables; the update as tfjs ops, or as one wasm kernel pass where it exists. */
class TfjsAdamSlot implements AdamSlot {
  private readonly m: Variable;
  private readonly v: Variable;

  constructor(param: Variable, saved?: AdamSlotState) {
    // In a tidy: a variable shares its initial tensor's data, which must not stay referenced.
    const init = (data: Float32Array | undefined, scale: number) =>
      tf.tidy(() => tf.variable(data ? tf.tensor(scale === 1 ? data : Float32Array.from(data, (x) => x * scale), param.shape) : tf.zerosLike(param), false));
    this.m = init(saved?.m, saved?.mScale ?? 1);
    this.v = init(saved?.v, saved?.vScale ?? 1);
  }

  step(p: Variable, g: Tensor, s: AdamStepScalars): void {
    const { m, v } = this;
    const c1 = (1 - s.beta1) * s.clip;
    const c2 = (1 - s.beta2) * s.clip * s.clip;
    if (hasKernel(ADAM_STEP)) {
      // wasm: the same float32 operations in one pass over the four arrays (src/backend/wasm-kernels).
      const [p2, m2, v2] = adamStepOp(p, m, v, g, { b1: s.beta1, c1, b2: s.beta2, c2, alpha: s.alpha, epsHat: s.epsHat, decay: s.decay });
      g.dispose();
      p.assign(p2);
      m.assign(m2);
      v.assign(v2);
      tf.dispose([p2, m2, v2]);
      return;
    }
    // One tidy per line so that at most a few parameter-sized temporaries live at once (GPT-2
    // 124M's embedding is 154 MB; all of an update's temporaries at once would not fit in wasm).
    // The assign is inside the tidy: the variable takes the data, the tidy frees the tensor.
    tf.tidy(() => m.assign(tf.add(tf.mul(m, s.beta1), tf.mul(g, c1))));
    tf.tidy(() => v.assign(tf.add(tf.mul(v, s.beta2), tf.mul(tf.square(g), c2))));
    g.dispose(); // done with it: frees room for the next parameter's temporaries
    const step = tf.tidy(() => tf.mul(tf.div(m, tf.add(tf.sqrt(v), s.epsHat)), s.alpha));
    tf.tidy(() => p.assign(s.decay !== 1 ? tf.sub(tf.mul(p, s.decay), step) : tf.sub(p, step)));
    step.dispose();
  }

  async state(): Promise<AdamSlotState> {
    return { shape: this.m.shape.slice(), m: (await this.m.data()) as Float32Array, v: (await this.v.data()) as Float32Array, mScale: 1, vScale: 1 };
  }

  dispose(): void {
    tf.dispose([this.m, this.v]);
  }
}

/**
 * TensorFlow's fused ApplyAdam (tf-native.ts) has one coefficient per moment, m ← β·m + (1−β)·g,
 * where clipped Adam needs two (β₁ on m, (1−β₁)·c on g). So the moments are stored scaled,
 * M = m/Kₘ and V = v/Kᵥ, with Kₘ, Kᵥ chosen each step so that the op's one coefficient does both:
 *   Kₘ' = β₁Kₘ + (1−β₁)c,   b₁ = β₁Kₘ/Kₘ'   ⇒   M' = b₁M + (1−b₁)g = (β₁m + (1−β₁)c·g)/Kₘ' = m'/Kₘ'
 *   Kᵥ' = β₂Kᵥ + (1−β₂)c²,  b₂ = β₂Kᵥ/Kᵥ'   ⇒   V' = v'/Kᵥ'
 * and the step α·m'/(√v' + ε̂) = (α·Kₘ'/√Kᵥ')·M'/(√V' + ε̂/√Kᵥ') is the op's lr and ε. Kₘ and Kᵥ
 * are running averages of c and c² (1 when nothing is clipped: then M = m and b₁ = β₁), so they
 * stay in (0, 1]; while c stays near its average, 1 − b is near 1 − β, as in plain Adam. Decoupled weight decay is a multiply of θ before the update.
 */
class ScaledNativeAdamSlot implements AdamSlot {
  private readonly slot: NativeAdamSlot;
  private readonly shape: number[];
  private kM: number;
  private kV: number;

  constructor(param: Variable, saved?: AdamSlotState) {
    const [m, v] = tf.tidy(() => (saved ? [tf.tensor(saved.m, param.shape), tf.tensor(saved.v, param.shape)] : [tf.zerosLike(param), tf.zerosLike(param)]));
    this.slot = new NativeAdamSlot(param, m, v);
    tf.dispose([m, v]);
    this.shape = param.shape.slice();
    this.kM = saved?.mScale ?? 0;
    this.kV = saved?.vScale ?? 0;
  }

  step(p: Variable, g: Tensor, s: AdamStepScalars): void {
    // While the moments are zero any scale describes them: start at this step's c and c², so that
    // b₁ = β₁ and b₂ = β₂ exactly. (Starting at 1 with c ≪ 1 would make 1 − b₂ ≈ (1−β₂)c² tiny,
    // and TensorFlow forms 1 − b₂ in float32: its rounding would then be a large relative error.)
    if (this.kM === 0) [this.kM, this.kV] = [Math.fround(s.clip), Math.fround(s.clip * s.clip)];
    // Kₘ, Kᵥ are kept at float32 precision, as a checkpoint stores them: a resumed run then
    // continues with exactly the scales an uninterrupted one has.
    const kM = Math.fround(s.beta1 * this.kM + (1 - s.beta1) * s.clip);
    const kV = Math.fround(s.beta2 * this.kV + (1 - s.beta2) * s.clip * s.clip);
    const beta1 = (s.beta1 * this.kM) / kM;
    const beta2 = (s.beta2 * this.kV) / kV;
    if (s.decay !== 1) tf.tidy(() => p.assign(tf.mul(p, s.decay)));
    this.slot.step(p, g, { lr: (s.alpha * kM) / Math.sqrt(kV), beta1, beta2, eps: s.epsHat / Math.sqrt(kV) });
    g.dispose();
    this.kM = kM;
    this.kV = kV;
  }

  async state(): Promise<AdamSlotState> {
    const { m, v } = await this.slot.moments();
    return { shape: this.shape, m, v, mScale: this.kM, vScale: this.kV };
  }

  dispose(): void {
    this.slot.dispose();
  }
}
