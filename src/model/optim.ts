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
import { adamSlot, AdamSlot, AdamSlotState, sumSquares } from '../backend/fast-ops';

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

/** Optimizer state for checkpoints: the step and, per parameter, its moments as the backend keeps them. */
export interface AdamState {
  step: number;
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
}

export class Adam {
  readonly cfg: AdamConfig;
  step = 0;
  /** Per parameter: its moments and update, on the backend's fast path (src/backend/fast-ops). */
  private slots = new Map<string, AdamSlot>();
  /** Restored moments of parameters not yet seen since load(). */
  private pending = new Map<string, AdamSlotState>();

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
    const norm = Math.sqrt(sumSquares(names.map((k) => grads[k])));
    const clip = maxGradNorm > 0 && norm > maxGradNorm ? maxGradNorm / (norm + 1e-6) : 1;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    const scalars = {
      beta1,
      beta2,
      clip,
      alpha: (lr * Math.sqrt(bc2)) / bc1,
      epsHat: eps * Math.sqrt(bc2),
      decay: weightDecay > 0 ? 1 - lr * weightDecay : 1,
    };
    // One parameter at a time: updating all of them at once would keep every parameter's
    // temporaries alive together (several times the model's size).
    for (const k of names) this.slot(k, vars[k]).step(vars[k], grads[k], scalars);
    return norm;
  }

  private slot(k: string, p: Variable): AdamSlot {
    let s = this.slots.get(k);
    if (!s) {
      s = adamSlot(p, this.pending.get(k));
      this.pending.delete(k);
      this.slots.set(k, s);
    }
    return s;
  }

  /**
   * State for checkpoints: the step and the moment tensors by name (`m.<param>`, `v.<param>`;
   * `m_scale.<param>`, `v_scale.<param>` where the backend keeps a moment scaled: true m = scale·m).
   */
  async state(): Promise<AdamState> {
    const tensors: AdamState['tensors'] = {};
    const all = new Map<string, AdamSlotState>(this.pending);
    for (const [k, s] of this.slots) all.set(k, await s.state());
    for (const [k, s] of all) {
      tensors[`m.${k}`] = { shape: s.shape, data: s.m };
      tensors[`v.${k}`] = { shape: s.shape, data: s.v };
      if (s.mScale !== 1 || s.vScale !== 1) {
        tensors[`m_scale.${k}`] = { shape: [], data: Float32Array.of(s.mScale) };
        tensors[`v_scale.${k}`] = { shape: [], data: Float32Array.of(s.vScale) };
      }
    }
    return { step: this.step, tensors };
  }

  load(step: number, tensors: AdamState['tensors']): void {
    this.dispose();
    this.step = step;
    for (const [name, t] of Object.entries(tensors)) {
      const dot = name.indexOf('.');
      const [kind, key] = [name.slice(0, dot), name.slice(dot + 1)];
      if (kind !== 'm' && kind !== 'v') continue;
      const s = this.pending.get(key) ?? { shape: t.shape, m: new Float32Array(0), v: new Float32Array(0), mScale: 1, vScale: 1 };
      s[kind] = t.data;
      const scale = tensors[`${kind}_scale.${key}`];
      if (scale) s[kind === 'm' ? 'mScale' : 'vScale'] = scale.data[0];
      this.pending.set(key, s);
    }
  }

  dispose(): void {
    for (const s of this.slots.values()) s.dispose();
    this.slots.clear();
    this.pending.clear();
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
