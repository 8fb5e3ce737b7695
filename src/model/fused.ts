/**
 * LayerNorm, gelu_new and the target log-probability as single ops with hand-written gradients.
 *
 * Written as a chain of tfjs ops, each of these leaves every intermediate on the gradient tape
 * (gelu_new alone: eleven [N, 4C] tensors) and takes twice as many elementwise kernels in the
 * backward pass. As custom-gradient ops they keep only what the gradient needs (the input, and
 * for LayerNorm its normalised input and 1/σ) and run their forward in a tidy, so a GPT-2 124M
 * step fits the 4 GB wasm heap and the small model's step spends less time in elementwise kernels.
 * The formulas are the same functions; only rounding differs. test/gpt2-grad-parity.test.ts checks
 * the gradients against PyTorch's.
 */
import { tf, Tensor, Tensor1D, Tensor2D } from '../backend/tf';
import { Activation } from './config';
import { columnSum, customGrad } from './ops';
import { meanLastAxis } from '../backend/fast-ops';

/**
 * y = (x − μ)/σ · g + b over the last axis, σ = √(var + ε) (biased variance, as torch).
 * Backward with x̂ = (x − μ)/σ and dx̂ = dy·g:
 *   dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / σ,   dg = Σₙ dy·x̂,   db = Σₙ dy.
 */
export function layerNorm(x: Tensor2D, g: Tensor, b: Tensor, eps: number): Tensor2D {
  const f = customGrad((xi: Tensor, gi: Tensor, bi: Tensor, save: (t: Tensor[]) => void) => {
    const [xhat, rstd, value] = tf.tidy(() => {
      const xc = tf.sub(xi, meanLastAxis(xi));
      const r = tf.rsqrt(tf.add(meanLastAxis(tf.square(xc)), eps)); // [N, 1]
      const xh = tf.mul(xc, r);
      return [xh, r, tf.add(tf.mul(xh, gi), bi)];
    });
    save([xhat, rstd, gi]);
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xh, r, gs] = saved;
        return tf.tidy(() => {
          const dxh = tf.mul(dy, gs);
          const inner = tf.sub(tf.sub(dxh, meanLastAxis(dxh)), tf.mul(xh, meanLastAxis(tf.mul(dxh, xh))));
          return [tf.mul(inner, r), columnSum(tf.mul(dy, xh) as Tensor2D), columnSum(dy as Tensor2D)];
        });
      },
    };
  });
  return f(x, g, b) as Tensor2D;
}

/** gelu_new's constants: √(2/π) and the cubic term's coefficient. */
export const GELU_C = Math.sqrt(2 / Math.PI);
export const GELU_A = 0.044715;

/**
 * gelu_new(x) = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), computed as x·σ(2u) (the same
 * function: 1 + tanh u = 2σ(2u)), because wasm's sigmoid is vectorised and its tanh is about 8×
 * slower. With s = σ(2u): d/dx = s + 2x·s(1 − s)·u′, u′ = √(2/π)(1 + 3·0.044715x²).
 * x³ as x·x·x: tf.pow and its gradient are slow on wasm.
 * s is kept from the forward pass for the backward (one [N, 4C] tensor more on the tape, instead
 * of six elementwise passes over it again: measured 6–9% of a tiny model's forward + backward on
 * tensorflow). The backward's s is the forward's, so the gradient is the same number for number.
 */
export const geluNew = customGrad((x: Tensor, save: (t: Tensor[]) => void) => {
  const [s, value] = tf.tidy(() => {
    const si = tf.sigmoid(tf.mul(2 * GELU_C, tf.add(x, tf.mul(GELU_A, tf.mul(tf.mul(x, x), x)))));
    return [si, tf.mul(x, si)];
  });
  save([x, s]);
  s.dispose(); // save kept its own reference where a gradient will be taken
  return {
    value,
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [xs, ss] = saved;
      return tf.tidy(() => {
        const du = tf.mul(GELU_C, tf.add(1, tf.mul(3 * GELU_A, tf.mul(xs, xs))));
        const d = tf.add(ss, tf.mul(tf.mul(tf.mul(2, xs), tf.mul(ss, tf.sub(1, ss))), du));
        return [tf.mul(dy, d)];
      });
    },
  };
}) as (x: Tensor2D) => Tensor2D;

/**
 * gelu(x) = x·Φ(x) = ½x(1 + erf(x/√2)), the exact GELU (transformers' "gelu", torch's default).
 * d/dx = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π). Φ is recomputed in the backward pass rather
 * than kept (one [N, 4C] tensor fewer on the tape).
 */
export const geluErf = customGrad((x: Tensor, save: (t: Tensor[]) => void) => {
  save([x]);
  const cdf = (xi: Tensor) => tf.mul(0.5, tf.add(1, tf.erf(tf.mul(xi, Math.SQRT1_2))));
  return {
    value: tf.tidy(() => tf.mul(x, cdf(x))),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [xs] = saved;
      return tf.tidy(() => {
        const pdf = tf.mul(1 / Math.sqrt(2 * Math.PI), tf.exp(tf.mul(-0.5, tf.mul(xs, xs))));
        return [tf.mul(dy, tf.add(cdf(xs), tf.mul(xs, pdf)))];
      });
    },
  };
}) as (x: Tensor2D) => Tensor2D;

/** The names of the tanh-approximate GELU (one function: geluNew) and of the exact one (geluErf). */
export const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_python_tanh', 'gelu_fast', 'gelu_accurate'] as const satisfies readonly Activation[];
export const ERF_GELUS = ['gelu', 'gelu_python'] as const satisfies readonly Activation[];

/**
 * The MLP nonlinearity named by config.json's activation_function, as transformers' ACT2FN
 * (activations.py) computes it. The tanh-approximate GELUs (gelu_new, gelu_pytorch_tanh,
 * gelu_python_tanh, gelu_fast, gelu_accurate) are one function, ½x(1 + tanh(√(2/π)(x + 0.044715x³))),
 * written with different constants or operation orders (gelu_fast's 0.7978845608 is √(2/π) to
 * 10 digits): they share the fused geluNew. The rest are plain tfjs ops with tfjs's gradients.
 */
export function activation(name: Activation): (x: Tensor2D) => Tensor2D {
  if ((TANH_GELUS as readonly Activation[]).includes(name)) return geluNew;
  if ((ERF_GELUS as readonly Activation[]).includes(name)) return geluErf;
  const sig = (x: Tensor, a = 1) => tf.sigmoid(a === 1 ? x : tf.mul(a, x));
  const f: Record<Exclude<Activation, (typeof TANH_GELUS)[number] | (typeof ERF_GELUS)[number]>, (x: Tensor2D) => Tensor> = {
    gelu_10: (x) => tf.clipByValue(geluErf(x), -10, 10), // ClippedGELUActivation(min=-10, max=10)
    quick_gelu: (x) => tf.mul(x, sig(x, 1.702)), // x·σ(1.702x)
    relu: (x) => tf.relu(x),
    relu6: (x) => tf.relu6(x),
    relu2: (x) => tf.square(tf.relu(x)), // ReLUSquaredActivation
    leaky_relu: (x) => tf.leakyRelu(x, 0.01), // nn.LeakyReLU's default slope
    silu: (x) => tf.mul(x, sig(x)), // x·σ(x)
    swish: (x) => tf.mul(x, sig(x)),
    mish: (x) => tf.mul(x, tf.tanh(tf.softplus(x))), // x·tanh(ln(1 + eˣ))
    hardswish: (x) => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6)), // x·relu6(x + 3)/6
    sigmoid: (x) => sig(x),
    tanh: (x) => tf.tanh(x),
    linear: (x) => x,
    // LaplaceActivation: ½(1 + erf((x − μ)/(σ√2))), μ = 0.707107, σ = 0.282095.
    laplace: (x) => tf.mul(0.5, tf.add(1, tf.erf(tf.div(tf.sub(x, 0.707107), 0.282095 * Math.SQRT2)))),
    sqrtsoftplus: (x) => tf.sqrt(tf.softplus(x)), // √(ln(1 + eˣ))
  };
  const fn = f[name as keyof typeof f];
  if (!fn) throw new Error(`activation_function '${String(name)}' is not supported`);
  return fn as (x: Tensor2D) => Tensor2D;
}

/**
 * log softmax(logits)[target] per row, [N, V] logits and [N] int targets → [N]:
 * logits[n, tₙ] − logsumexp(logitsₙ). Backward: dlogits = dy·(onehot(t) − softmax(logits)).
 * Only the logits and the log-normaliser are kept, not the [N, V] log-softmax and one-hot.
 */
export function targetLogProbs(logitsNV: Tensor2D, targets: Tensor1D): Tensor1D {
  const V = logitsNV.shape[1];
  const f = customGrad((lg: Tensor, save: (t: Tensor[]) => void) => {
    const [lse, value] = tf.tidy(() => {
      const m = tf.max(lg, -1, true);
      const z = tf.add(tf.log(tf.sum(tf.exp(tf.sub(lg, m)), -1, true)), m); // [N, 1]
      const picked = tf.sum(tf.mul(lg, tf.oneHot(targets, V)), -1); // exact: one non-zero term per row
      return [z, tf.sub(picked, z.reshape([-1]))];
    });
    save([lg, lse, targets]);
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [ls, z, t] = saved;
        return tf.tidy(() => {
          const p = tf.exp(tf.sub(ls, z)); // softmax
          return [tf.mul(dy.reshape([-1, 1]), tf.sub(tf.oneHot(t as Tensor1D, V), p))];
        });
      },
    };
  });
  return f(logitsNV) as Tensor1D;
}
