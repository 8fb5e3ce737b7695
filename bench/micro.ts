/**
 * rlhf's side of the building-block rows of `npm run bench:compare` (bench/compare.ts), on one
 * backend, with the shapes of the PyTorch reference (scripts/bench_torch.py):
 *
 *   train-tiny    training step (forward + backward + Adam with the global-norm clip) tokens/s,
 *                 the tiny config (= models/tiny-sft's) with random weights, B16 × T64
 *   train-124m    the same on a GPT-2-124M-shaped random model, B2 × T64
 *   sample-tiny   generate() (KV cache, sampling at T = 1) tokens/s, tiny config, B16, prompt
 *                 [1, 2, 3], 64 new tokens (no EOS: every row gets all 64)
 *   decode-124m   one KV-cached decode step (forward of one token per row + LM head) at 124M
 *                 width, B4, cache at position 20 and at 200; the positions alternate, median ms
 *
 * Every row: untimed warm-up (XNNPACK operators, Adam's moments), then `--reps` timed repetitions,
 * median reported. Prints one JSON object on stdout. Not a test: nothing asserts a time.
 *
 * Usage: node dist/bench/micro.js --backend wasm [--rows train-tiny,sample-tiny] [--reps 5]
 */
import { selectBackend, BackendChoice } from '../src/backend';
import { tf, Variable, Tensor, Tensor2D } from '../src/backend/tf';
import type { TensorContainer } from '@tensorflow/tfjs';
import { GPT2Config } from '../src/model/config';
import { initTrunk, trunkParamShapes, forward, lmHead, disposeCache, KVCache, Params } from '../src/model/gpt2';
import { lmLoss } from '../src/model/lm';
import { makeLMBatch } from '../src/model/batch';
import { Adam, valueAndGrads } from '../src/model/optim';
import { generate } from '../src/model/generate';
import { Rng } from '../src/util/rng';
import { TINY_CONFIG, TINY_VOCAB } from '../src/sft/stage';

/** In the order they run. */
export const MICRO_ROWS = ['train-tiny', 'sample-tiny', 'decode-124m', 'train-124m'] as const;
export type MicroRow = (typeof MICRO_ROWS)[number];

export const TINY: GPT2Config = { ...TINY_CONFIG, vocab_size: TINY_VOCAB, bos_token_id: 511, eos_token_id: 511 };
export const GPT2_124M_SHAPE: GPT2Config = { vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: 50256, eos_token_id: 50256 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export function makeVars(cfg: GPT2Config, seed = 1): Record<string, Variable> {
  const host = initTrunk(cfg, seed);
  const shapes = trunkParamShapes(cfg);
  const vars: Record<string, Variable> = {};
  // In a tidy: the initial tensor would otherwise keep its data alive after the first update.
  for (const [k, v] of Object.entries(host)) vars[k] = tf.tidy(() => tf.variable(tf.tensor(v, shapes[k])));
  return vars;
}

/**
 * Uniform random weights with std 0.02 (xorshift32: the values do not matter to the speed),
 * unit LayerNorm gains, zero biases. Under a second at 124M, where initTrunk's seeded normals in
 * JS take ~8 s, which would be most of a 124M row's time.
 */
export function quickVars(cfg: GPT2Config, seed = 1): Record<string, Variable> {
  let x = seed | 0 || 1;
  const vars: Record<string, Variable> = {};
  for (const [k, shape] of Object.entries(trunkParamShapes(cfg))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (/ln_\w*\.weight$/.test(k)) data.fill(1);
    else if (!k.endsWith('.bias'))
      for (let i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        data[i] = (x / 4294967296) * 0.0693; // uniform on ±0.0346: std 0.0693/√12 = 0.02
      }
    vars[k] = tf.tidy(() => tf.variable(tf.tensor(data, shape)));
  }
  return vars;
}

/**
 * Seconds per training step (and the Adam part of it), median of `reps` after `warmup` steps,
 * on `vars` (updated in place; the caller disposes them).
 */
export function trainStepSeconds(vars: Record<string, Variable>, cfg: GPT2Config, B: number, T: number, warmup: number, reps: number) {
  const rng = new Rng(2);
  const rows = Array.from({ length: B }, () => ({ context: [], target: Array.from({ length: T }, () => rng.int(cfg.vocab_size)) }));
  const batch = makeLMBatch(rows, 0, T);
  const opt = new Adam({ lr: 1e-4 });
  const times: number[] = [];
  const adam: number[] = [];
  try {
    for (let i = 0; i < warmup + reps; i++) {
      const t0 = performance.now();
      const { value, grads } = valueAndGrads(vars, () => lmLoss(vars, cfg, batch));
      value.dataSync();
      const t1 = performance.now();
      opt.apply(vars, grads);
      tf.dispose([value, ...Object.values(grads)]);
      const t2 = performance.now();
      if (i >= warmup) {
        times.push((t2 - t0) / 1000);
        adam.push((t2 - t1) / 1000);
      }
    }
  } finally {
    opt.dispose();
  }
  const s = median(times);
  return { B, T, seconds_per_step: s, adam_seconds_per_step: median(adam), tokens_per_second: (B * T) / s, samples: times };
}

/** generate() tokens/s: B rows × newTokens (EOS disabled), median of `reps` after `warmup` runs. */
export function samplingRate(cfg: GPT2Config, B: number, newTokens: number, warmup: number, reps: number) {
  const params = makeVars(cfg, 3) as unknown as Params;
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup + reps; i++) {
      const t0 = performance.now();
      const g = generate(params, cfg, Array.from({ length: B }, () => [1, 2, 3]), { maxNewTokens: newTokens, temperature: 1, eosId: -1, padId: 0, rng: new Rng(i) });
      const dt = (performance.now() - t0) / 1000;
      const n = g.tokens.reduce((a, x) => a + x.length, 0);
      if (n !== B * newTokens) throw new Error(`sample-tiny: ${n} tokens, expected ${B * newTokens}`);
      if (i >= warmup) times.push(dt);
    }
  } finally {
    tf.dispose(Object.values(params));
  }
  const s = median(times);
  return { B, new_tokens: newTokens, seconds: s, tokens_per_second: (B * newTokens) / s, samples: times };
}

/**
 * Per-token decoding time with the cache at each of `positions` (B rows each): one step at each
 * position in turn, so that a slow moment of the machine hits all alike; median ms per position.
 * (The same measurement as bench/run.ts.)
 */
export function decodeMs(params: Params, cfg: GPT2Config, positions: number[], B: number, warmup: number, reps: number): number[][] {
  const wteT = tf.transpose(params['transformer.wte.weight']) as Tensor2D;
  const caches: KVCache[] = positions.map((position) => {
    const prompt = Array.from({ length: position }, (_, i) => (i * 7) % cfg.vocab_size);
    return tf.tidy(() => {
      const r = forward(params, cfg, tf.tensor2d(Array(B).fill(prompt).flat(), [B, position], 'int32'), { useCache: true, cacheCapacity: position + warmup + reps });
      return r.cache as unknown as TensorContainer;
    }) as unknown as KVCache;
  });
  const times: number[][] = positions.map(() => []);
  for (let i = 0; i < warmup + reps; i++) {
    for (let p = 0; p < positions.length; p++) {
      const prev = caches[p];
      const t0 = performance.now();
      const res = tf.tidy(() => {
        const r = forward(params, cfg, tf.tensor2d(Array(B).fill(1), [B, 1], 'int32'), { cache: prev });
        const logits = lmHead(params, r.hidden.reshape([B, cfg.n_embd]) as Tensor2D, wteT);
        return { logits, cache: r.cache } as unknown as TensorContainer;
      }) as unknown as { logits: Tensor; cache: KVCache };
      res.logits.dataSync();
      if (i >= warmup) times[p].push(performance.now() - t0);
      res.logits.dispose();
      disposeCache(prev, res.cache);
      caches[p] = res.cache;
    }
  }
  caches.forEach((c) => disposeCache(c));
  wteT.dispose();
  return times;
}

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

async function main(): Promise<void> {
  const backend = await selectBackend((arg('backend') ?? 'auto') as BackendChoice);
  const reps = Number(arg('reps') ?? 5);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps ${arg('reps')}: expected a positive integer`);
  const rows = (arg('rows') ?? MICRO_ROWS.join(',')).split(',').filter(Boolean);
  for (const r of rows) if (!(MICRO_ROWS as readonly string[]).includes(r)) throw new Error(`--rows: unknown row '${r}' (known: ${MICRO_ROWS.join(', ')})`);
  const out: { backend: string; rows: Record<string, unknown> } = { backend: backend.chosen, rows: {} };
  // One 124M model for both 124M rows (decode first: training changes the weights, not the speed).
  let big: Record<string, Variable> | undefined;
  const bigVars = () => (big ??= quickVars(GPT2_124M_SHAPE, 5));
  const order = MICRO_ROWS.filter((r) => rows.includes(r));
  for (const r of order) {
    const t0 = performance.now();
    if (r === 'train-tiny') {
      const vars = makeVars(TINY);
      out.rows[r] = trainStepSeconds(vars, TINY, 16, 64, 2, reps);
      tf.dispose(Object.values(vars));
    } else if (r === 'train-124m') out.rows[r] = trainStepSeconds(bigVars(), GPT2_124M_SHAPE, 2, 64, 1, Math.max(2, Math.floor(reps / 2)));
    else if (r === 'sample-tiny') out.rows[r] = samplingRate(TINY, 16, 64, 1, reps);
    else {
      const [t20, t200] = decodeMs(bigVars() as unknown as Params, GPT2_124M_SHAPE, [20, 200], 4, 3, 2 * reps);
      out.rows[r] = { B: 4, pos20_ms: median(t20), pos200_ms: median(t200), samples: { '20': t20, '200': t200 } };
    }
    console.error(`micro ${backend.chosen}: ${r}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (big) tf.dispose(Object.values(big));
  console.log(JSON.stringify(out));
}

if (require.main === module)
  main().catch((err) => {
    console.error(`micro: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  });
