/**
 * Adam: the folded update of src/model/optim.ts against the textbook formula in float64 (bias
 * corrections, clipping, decoupled weight decay) on every backend's path; save/load mid-run
 * continues bit for bit; the wasm backend's fused one-pass kernel against the cpu backend's tfjs
 * ops, which must agree bit for bit (the same float32 operations in the same order); TensorFlow's
 * fused ApplyAdam updates in place without breaking tfjs's value semantics.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend';
import { tf, Tensor, Variable } from '../src/backend/tf';
import { Adam, AdamConfig } from '../src/model/optim';
import { Rng } from '../src/util/rng';
import { BACKENDS_UNDER_TEST, onlyOn, TEST_BACKEND } from './helpers';

const SHAPES: Record<string, number[]> = { w: [7, 5], b: [3] }; // 35 and 3 floats: SIMD body and scalar tail

function series(seed: number, n: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

function gradsAt(s: number): Record<string, Tensor> {
  const grads: Record<string, Tensor> = {};
  for (const [k, shape] of Object.entries(SHAPES)) grads[k] = tf.tensor(series(100 + s * 7 + k.length, shape.reduce((a, b) => a * b, 1), 3), shape);
  return grads;
}

/**
 * Run `steps` Adam steps from fixed parameters and gradients on the active backend; final
 * parameters. With `resumeAt`, the optimizer is saved after that many steps and a new one loaded
 * from the saved state does the rest (what a resume from a checkpoint does).
 */
async function runAdam(cfg: Partial<AdamConfig>, steps: number, resumeAt?: number): Promise<Record<string, Float32Array>> {
  const vars: Record<string, Variable> = {};
  for (const [k, shape] of Object.entries(SHAPES)) vars[k] = tf.variable(tf.tensor(series(k.length, shape.reduce((a, b) => a * b, 1)), shape));
  let opt = new Adam(cfg);
  for (let s = 0; s < steps; s++) {
    if (s === resumeAt) {
      const saved = await opt.state();
      opt.dispose();
      opt = new Adam(cfg);
      opt.load(saved.step, saved.tensors);
    }
    opt.apply(vars, gradsAt(s));
  }
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(vars)) out[k] = v.dataSync() as Float32Array;
  opt.dispose();
  tf.dispose(Object.values(vars));
  return out;
}

/** The global gradient norm of step s's gradients. */
function referenceNorm(s: number): number {
  let sq = 0;
  for (const [k, shape] of Object.entries(SHAPES)) for (const x of series(100 + s * 7 + k.length, shape.reduce((a, b) => a * b, 1), 3)) sq += x * x;
  return Math.sqrt(sq);
}

/** The textbook Adam(W) in float64 with global-norm clipping. */
function referenceAdam(cfg: AdamConfig, steps: number): Record<string, Float64Array> {
  const p: Record<string, Float64Array> = {};
  const m: Record<string, Float64Array> = {};
  const v: Record<string, Float64Array> = {};
  for (const [k, shape] of Object.entries(SHAPES)) {
    const n = shape.reduce((a, b) => a * b, 1);
    p[k] = Float64Array.from(series(k.length, n));
    m[k] = new Float64Array(n);
    v[k] = new Float64Array(n);
  }
  for (let s = 0; s < steps; s++) {
    const g: Record<string, Float32Array> = {};
    let sq = 0;
    for (const [k, shape] of Object.entries(SHAPES)) {
      g[k] = series(100 + s * 7 + k.length, shape.reduce((a, b) => a * b, 1), 3);
      for (const x of g[k]) sq += x * x;
    }
    const norm = Math.sqrt(sq);
    const clip = cfg.maxGradNorm > 0 && norm > cfg.maxGradNorm ? cfg.maxGradNorm / (norm + 1e-6) : 1;
    const t = s + 1;
    for (const k of Object.keys(SHAPES)) {
      for (let i = 0; i < p[k].length; i++) {
        const gi = g[k][i] * clip;
        m[k][i] = cfg.beta1 * m[k][i] + (1 - cfg.beta1) * gi;
        v[k][i] = cfg.beta2 * v[k][i] + (1 - cfg.beta2) * gi * gi;
        const mHat = m[k][i] / (1 - cfg.beta1 ** t);
        const vHat = v[k][i] / (1 - cfg.beta2 ** t);
        p[k][i] -= cfg.lr * (mHat / (Math.sqrt(vHat) + cfg.eps) + cfg.weightDecay * p[k][i]);
      }
    }
  }
  return p;
}

describe('Adam', () => {
  const cfg: AdamConfig = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-5, weightDecay: 0.1, maxGradNorm: 2 };

  for (const backend of BACKENDS_UNDER_TEST) {
    it(`equals the textbook Adam(W) with clipping in float64 over 5 steps (${backend})`, async () => {
      await selectBackend(backend);
      const got = await runAdam(cfg, 5);
      const want = referenceAdam(cfg, 5);
      for (const k of Object.keys(SHAPES)) {
        const worst = Math.max(...Array.from(got[k], (x, i) => Math.abs(x - want[k][i])));
        // Each step moves a parameter by about lr; float32 rounding of the update is ~1e-7 of it.
        assert.ok(worst < 2e-6, `${k}: differs from the reference by ${worst}`);
      }
    });
  }

  it(`saving the state after 2 of 5 steps and loading it into a new optimizer gives the same parameters bit for bit (${TEST_BACKEND})`, async () => {
    await selectBackend(TEST_BACKEND);
    const straight = await runAdam(cfg, 5);
    const resumed = await runAdam(cfg, 5, 2);
    for (const k of Object.keys(SHAPES)) assert.deepEqual(Array.from(resumed[k]), Array.from(straight[k]), k);
    // and the clipping fired (else the scaled moments of the native path would not be exercised)
    assert.ok(referenceNorm(0) > cfg.maxGradNorm);
  });

  it('native TensorFlow: the update is in place when the parameter\'s data is not shared; a clone keeps its value; no handles leak', { skip: onlyOn('tensorflow', 'TensorFlow\'s fused ApplyAdam') }, async () => {
    await selectBackend('tensorflow');
    const binding = (tf.backend() as unknown as { binding: { getNumOfTensors(): number } }).binding;
    const handlesBefore = binding.getNumOfTensors();
    const tensorsBefore = tf.memory().numTensors;
    // In a tidy, as the model's parameters are made: the variable is then the data's only holder.
    const p = tf.tidy(() => tf.variable(tf.tensor(series(1, 35), [7, 5])));
    const opt = new Adam({ ...cfg, weightDecay: 0 }); // (decay multiplies θ into a new tensor first)
    const dataId = p.dataId;
    opt.apply({ p }, { p: tf.tensor(series(2, 35), [7, 5]) });
    assert.equal(p.dataId, dataId, 'updated in place: the same tfjs data');
    const snapshot = tf.clone(p); // shares p's data
    const before = Array.from(snapshot.dataSync());
    opt.apply({ p }, { p: tf.tensor(series(3, 35), [7, 5]) });
    assert.deepEqual(Array.from(snapshot.dataSync()), before, 'the clone did not change');
    assert.notDeepEqual(Array.from(p.dataSync()), before, 'the parameter did');
    opt.dispose();
    tf.dispose([p, snapshot]);
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(binding.getNumOfTensors(), handlesBefore, 'every resource variable and handle freed');
  });

  it('the fused wasm step equals the cpu backend’s tfjs ops bit for bit (no clipping, with and without decay)', { skip: onlyOn('wasm', 'the wasm backend\'s fused Adam kernel') }, async () => {
    for (const weightDecay of [0, 0.1]) {
      const c = { ...cfg, weightDecay, maxGradNorm: 0 };
      await selectBackend('cpu');
      const cpu = await runAdam(c, 4);
      await selectBackend('wasm');
      const wasm = await runAdam(c, 4);
      for (const k of Object.keys(SHAPES)) assert.deepEqual(Array.from(wasm[k]), Array.from(cpu[k]), `${k}, weight decay ${weightDecay}`);
    }
  });
});
