/**
 * Adam(W) with explicit, saveable state, and global-norm gradient clipping.
 *
 * Written out rather than taken from tf.train so that its state (m, v, step) can be checkpointed
 * and restored exactly for resume, and so the ε is the TF-style constant added to √v̂ that
 * lm-human-preferences and TRL's PPO use (1e-5 there; 1e-8 is the usual default elsewhere).
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
 *   θ ← θ − lr·( m/(1−β₁ᵗ) / (√(v/(1−β₂ᵗ)) + ε) + wd·θ )
 * computed in the equivalent form of Kingma & Ba's §2 (and TensorFlow's Adam), which folds the
 * bias corrections into two scalars and so touches every parameter with fewer kernels:
 *   θ ← θ − αₜ·m / (√v + ε̂ₜ) − lr·wd·θ,   αₜ = lr·√(1−β₂ᵗ)/(1−β₁ᵗ),  ε̂ₜ = ε·√(1−β₂ᵗ).
 * Gradient clipping by c is folded in the same way: g enters as c·g (and c²·g²).
 */
import { tf, Tensor, Variable } from '../backend/tf';
import type * as tfTypes from '@tensorflow/tfjs';
import { hasKernel } from '../backend';
import { ADAM_STEP, adamStepOp, wasmSumSquares } from '../backend/wasm-kernels';

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay (AdamW); 0 for plain Adam. */
  weightDecay: number;
  /** Clip the global gradient norm to this value (0 = off). */
  maxGradNorm: number;
}

export const ADAM_DEFAULTS: AdamConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1.0 };

/** Σ over tensors of Σx²: one float64 pass per tensor on wasm; elsewhere a running sum kept on the device. */
function sumOfSquares(ts: Tensor[]): number {
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

export class Adam {
  readonly cfg: AdamConfig;
  step = 0;
  private m = new Map<string, Variable>();
  private v = new Map<string, Variable>();

  constructor(cfg: Partial<AdamConfig> = {}) {
    this.cfg = { ...ADAM_DEFAULTS, ...cfg };
  }

  /**
   * Apply one update to `vars` from `grads` (same keys), at learning rate `lr` (for schedules).
   * Takes ownership of `grads`: each is freed once its parameter is updated (a later dispose by
   * the caller is a no-op). Returns the global gradient norm before clipping.
   */
  apply(vars: Record<string, Variable>, grads: Record<string, Tensor>, lr = this.cfg.lr): number {
    this.step += 1;
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = this.cfg;
    const names = Object.keys(grads).filter((k) => vars[k]);
    const norm = Math.sqrt(sumOfSquares(names.map((k) => grads[k])));
    const clip = maxGradNorm > 0 && norm > maxGradNorm ? maxGradNorm / (norm + 1e-6) : 1;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    const alpha = (lr * Math.sqrt(bc2)) / bc1;
    const epsHat = eps * Math.sqrt(bc2);
    const c1 = (1 - beta1) * clip;
    const c2 = (1 - beta2) * clip * clip;
    const decay = weightDecay > 0 ? 1 - lr * weightDecay : 1;
    const fused = hasKernel(ADAM_STEP);
    // One parameter at a time: updating all of them in one tidy would keep every parameter's
    // temporaries alive at once (several times the model's size).
    for (const k of names) {
      const p = vars[k];
      this.initState(k, p);
      const m = this.m.get(k)!;
      const v = this.v.get(k)!;
      const g = grads[k];
      if (fused) {
        // wasm: the same float32 operations in one pass over the four arrays (src/backend/wasm-kernels).
        const [p2, m2, v2] = adamStepOp(p, m, v, g, { b1: beta1, c1, b2: beta2, c2, alpha, epsHat, decay });
        g.dispose();
        p.assign(p2);
        m.assign(m2);
        v.assign(v2);
        tf.dispose([p2, m2, v2]);
        continue;
      }
      // One tidy per line so that at most a few parameter-sized temporaries live at once (GPT-2
      // 124M's embedding is 154 MB; all of an update's temporaries at once would not fit in wasm).
      // The assign is inside the tidy: the variable takes the data, the tidy frees the tensor.
      tf.tidy(() => m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, c1))));
      tf.tidy(() => v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), c2))));
      g.dispose(); // done with it: frees room for the next parameter's temporaries
      const step = tf.tidy(() => tf.mul(tf.div(m, tf.add(tf.sqrt(v), epsHat)), alpha));
      tf.tidy(() => p.assign(decay !== 1 ? tf.sub(tf.mul(p, decay), step) : tf.sub(p, step)));
      step.dispose();
    }
    return norm;
  }

  private initState(k: string, p: Variable): void {
    if (this.m.has(k)) return;
    // In a tidy: a variable shares its initial tensor's data, which must not stay referenced.
    this.m.set(k, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    this.v.set(k, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
  }

  /** State for checkpoints: step and the moment tensors by name. */
  async state(): Promise<{ step: number; tensors: Record<string, { shape: number[]; data: Float32Array }> }> {
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, t] of this.m) tensors[`m.${k}`] = { shape: t.shape.slice(), data: (await t.data()) as Float32Array };
    for (const [k, t] of this.v) tensors[`v.${k}`] = { shape: t.shape.slice(), data: (await t.data()) as Float32Array };
    return { step: this.step, tensors };
  }

  load(step: number, tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
    this.dispose();
    this.step = step;
    for (const [name, t] of Object.entries(tensors)) {
      const [kind, ...rest] = name.split('.');
      const key = rest.join('.');
      const variable = tf.tidy(() => tf.variable(tf.tensor(t.data, t.shape), false));
      (kind === 'm' ? this.m : this.v).set(key, variable);
    }
  }

  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
    this.m.clear();
    this.v.clear();
  }
}

/** Linear warm-up then cosine or linear decay to `minRatio`·lr, or constant. */
export function scheduledLr(
  base: number,
  step: number,
  total: number,
  opts: { schedule: 'constant' | 'linear' | 'cosine'; warmupSteps?: number; minRatio?: number },
): number {
  const warm = opts.warmupSteps ?? 0;
  if (step < warm) return (base * (step + 1)) / warm;
  if (opts.schedule === 'constant') return base;
  const minR = opts.minRatio ?? 0;
  const frac = Math.min(1, (step - warm) / Math.max(1, total - warm));
  const shape = opts.schedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * frac)) : 1 - frac;
  return base * (minR + (1 - minR) * shape);
}

/**
 * Loss and gradients for a map of variables, keyed by *our* names (tf.variableGrads keys them by
 * the variables' internal names). Variables that did not take part get no entry.
 */
export function valueAndGrads(
  vars: Record<string, Variable>,
  f: () => tfTypes.Scalar,
): { value: tfTypes.Scalar; grads: Record<string, Tensor> } {
  const list = Object.values(vars).filter((v) => v.trainable);
  const { value, grads } = tf.variableGrads(f, list);
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(vars)) if (grads[v.name]) out[k] = grads[v.name];
  return { value, grads: out };
}
