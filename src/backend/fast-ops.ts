/**
 * The fast-ops boundary: operations the model and the optimizer need that some backends run much
 * faster through a path of their own. Each operation here picks its path from the active backend
 * and falls back to plain tfjs ops; callers above src/backend use only these functions.
 *
 *   path            wasm                                 tensorflow (tfjs-node)           any other
 *   Adam step       one-pass kernel (wasm-kernels)       fused ApplyAdam, in place        tfjs ops
 *   Σx² (grad norm) float64 pass in place (wasm-kernels) L2Loss + AddN (tf-native)        tfjs ops
 */
import { tf, Tensor, Variable } from './tf';
import type * as tfTypes from '@tensorflow/tfjs';
import { ADAM_STEP, adamStepOp, wasmSumSquares } from './wasm-kernels';
import { NativeAdamSlot, nativeSumSquares, onNativeTensorflow } from './tf-native';

/** Whether the active backend has a kernel (used to route around kernels a backend lacks). */
export function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
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
