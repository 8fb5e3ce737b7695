/**
 * `npm run bench`: speed of the building blocks on the chosen backend (default: auto), printed as a
 * table and written to bench/results/<backend>.json. Not a test: nothing here asserts a time.
 *
 *  - plain 1024² matMul GFLOP/s (the backend's own best case), measured in the same run
 *  - training step (forward + backward + Adam) tokens/s and achieved GFLOP/s, tiny and GPT-2-124M-shaped
 *  - KV-cached sampling tokens/s, and per-token time at position ~200 against ~20
 *  - tensor count and resident memory over 50 training steps
 *
 * Usage: node dist/bench/run.js [--backend wasm] [--skip-124m]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend, BackendChoice } from '../src/backend';
import { tf, Variable, Tensor, Tensor2D } from '../src/backend/tf';
import type { TensorContainer } from '@tensorflow/tfjs';
import { GPT2Config } from '../src/model/config';
import { initTrunk, trunkParamShapes, forward, lmHead, disposeCache, KVCache, Params } from '../src/model/gpt2';
import { lmLoss, makeLMBatch } from '../src/model/lm';
import { Adam, valueAndGrads } from '../src/model/optim';
import { generate } from '../src/model/generate';
import { Rng } from '../src/util/rng';
import { TINY_CONFIG, TINY_VOCAB } from '../src/sft/stage';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

function makeVars(cfg: GPT2Config, seed = 1): Record<string, Variable> {
  const host = initTrunk(cfg, seed);
  const shapes = trunkParamShapes(cfg);
  const vars: Record<string, Variable> = {};
  for (const [k, v] of Object.entries(host)) vars[k] = tf.variable(tf.tensor(v, shapes[k]));
  return vars;
}

function matmulGflops(n = 1024, reps = 5): number {
  const a = tf.randomNormal([n, n]) as Tensor2D;
  const b = tf.randomNormal([n, n]) as Tensor2D;
  tf.matMul(a, b).dispose();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  }
  const s = (performance.now() - t0) / 1000 / reps;
  tf.dispose([a, b]);
  return (2 * n ** 3) / s / 1e9;
}

/** Model FLOPs per training token: 6·params (matmuls, fwd + bwd) + 12·L·T·C (attention). */
function trainFlopsPerToken(cfg: GPT2Config, T: number): number {
  const C = cfg.n_embd;
  const matmulParams = cfg.n_layer * 12 * C * C + cfg.vocab_size * C; // blocks + tied LM head
  return 6 * matmulParams + 12 * cfg.n_layer * T * C;
}

function trainStep(cfg: GPT2Config, B: number, T: number, steps: number) {
  const vars = makeVars(cfg);
  const rng = new Rng(2);
  const rows = Array.from({ length: B }, () => ({ context: [], target: Array.from({ length: T }, () => rng.int(cfg.vocab_size)) }));
  const batch = makeLMBatch(rows, 0, T);
  const opt = new Adam({ lr: 1e-4 });
  const times: number[] = [];
  const tensors: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const { value, grads } = valueAndGrads(vars, () => lmLoss(vars, cfg, batch));
    opt.apply(vars, grads);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
    times.push(performance.now() - t0);
    tensors.push(tf.memory().numTensors);
    rss.push(process.memoryUsage().rss / 2 ** 20);
  }
  opt.dispose();
  tf.dispose(Object.values(vars));
  const warm = times.slice(Math.min(2, times.length - 1));
  const s = warm.reduce((a, b) => a + b, 0) / warm.length / 1000;
  const tokens = B * T;
  return { B, T, seconds_per_step: s, tokens_per_second: tokens / s, gflops: (trainFlopsPerToken(cfg, T) * tokens) / s / 1e9, tensors, rss };
}

/** Per-token decoding time with the cache at a given position (B rows). */
function decodeTimeAt(params: Params, cfg: GPT2Config, position: number, B: number, reps = 20): number {
  const prompt = Array.from({ length: position }, (_, i) => (i * 7) % cfg.vocab_size);
  const wteT = tf.transpose(params['transformer.wte.weight']) as Tensor2D;
  let cache: KVCache | undefined = tf.tidy(() => {
    const r = forward(params, cfg, tf.tensor2d(Array(B).fill(prompt).flat(), [B, position], 'int32'), { useCache: true });
    return r.cache as unknown as TensorContainer;
  }) as unknown as KVCache;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const prev: KVCache = cache!;
    const res = tf.tidy(() => {
      const r = forward(params, cfg, tf.tensor2d(Array(B).fill(1), [B, 1], 'int32'), { cache: prev });
      const logits = lmHead(params, r.hidden.reshape([B, cfg.n_embd]) as Tensor2D, wteT);
      return { logits, cache: r.cache } as unknown as TensorContainer;
    }) as unknown as { logits: Tensor; cache: KVCache };
    res.logits.dataSync();
    res.logits.dispose();
    disposeCache(prev);
    cache = res.cache;
  }
  const ms = (performance.now() - t0) / reps;
  disposeCache(cache);
  wteT.dispose();
  return ms;
}

(async () => {
  const backend = await selectBackend((arg('backend') ?? 'auto') as BackendChoice);
  const tiny: GPT2Config = { ...TINY_CONFIG, vocab_size: TINY_VOCAB, bos_token_id: 511, eos_token_id: 511 };
  const gpt2: GPT2Config = { vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: 50256, eos_token_id: 50256 };
  const out: Record<string, unknown> = { backend: backend.chosen, date: new Date().toISOString() };
  const rows: string[][] = [];

  const mm = matmulGflops();
  out.matmul_1024_gflops = mm;
  rows.push(['plain matMul 1024²', `${mm.toFixed(1)} GFLOP/s`, '']);

  const tinyTrain = trainStep(tiny, 16, 64, 50);
  out.train_tiny = { ...tinyTrain, tensors: undefined, rss: undefined };
  rows.push(['train step, tiny (B16×T64)', `${tinyTrain.tokens_per_second.toFixed(0)} tok/s`, `${tinyTrain.gflops.toFixed(1)} GFLOP/s = ${((100 * tinyTrain.gflops) / mm).toFixed(0)}% of matMul`]);
  const t = tinyTrain.tensors;
  const r = tinyTrain.rss;
  out.memory_over_50_steps = { tensors_first: t[1], tensors_last: t[t.length - 1], rss_mb_step5: r[4], rss_mb_last: r[r.length - 1] };
  rows.push(['tensors over 50 steps', `${t[1]} → ${t[t.length - 1]}`, `RSS ${r[4].toFixed(0)} → ${r[r.length - 1].toFixed(0)} MB`]);

  if (!process.argv.includes('--skip-124m')) {
    const big = trainStep(gpt2, 4, 64, 4);
    out.train_gpt2_124m = { ...big, tensors: undefined, rss: undefined };
    rows.push(['train step, GPT-2 124M shape (B4×T64)', `${big.tokens_per_second.toFixed(0)} tok/s`, `${big.gflops.toFixed(1)} GFLOP/s = ${((100 * big.gflops) / mm).toFixed(0)}% of matMul`]);
  }

  const params = makeVars(tiny, 3) as unknown as Params;
  const B = 16;
  const g0 = performance.now();
  const gen = generate(params, tiny, Array.from({ length: B }, () => [1, 2, 3]), { maxNewTokens: 64, temperature: 1, eosId: -1, rng: new Rng(1) });
  const genS = (performance.now() - g0) / 1000;
  const genTok = gen.tokens.reduce((a, x) => a + x.length, 0);
  out.sampling_tiny = { batch: B, tokens: genTok, tokens_per_second: genTok / genS };
  rows.push([`sampling, tiny, KV cache (B${B})`, `${(genTok / genS).toFixed(0)} tok/s`, '']);
  const at20 = decodeTimeAt(params, tiny, 20, B);
  const at100 = decodeTimeAt(params, tiny, 100, B);
  out.decode_ms_per_step = { pos20: at20, pos100: at100, ratio: at100 / at20 };
  rows.push(['decode step at pos 100 / pos 20 (tiny, n_positions 128)', `${at100.toFixed(2)} / ${at20.toFixed(2)} ms`, `ratio ${(at100 / at20).toFixed(2)}`]);
  const wide: GPT2Config = { ...tiny, n_positions: 256 };
  const wparams = makeVars(wide, 4) as unknown as Params;
  const w20 = decodeTimeAt(wparams, wide, 20, B);
  const w200 = decodeTimeAt(wparams, wide, 200, B);
  out.decode_ms_per_step_256 = { pos20: w20, pos200: w200, ratio: w200 / w20 };
  rows.push(['decode step at pos 200 / pos 20 (tiny width, n_positions 256)', `${w200.toFixed(2)} / ${w20.toFixed(2)} ms`, `ratio ${(w200 / w20).toFixed(2)}`]);
  tf.dispose(Object.values(params));
  tf.dispose(Object.values(wparams));

  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  console.log(`backend ${backend.chosen}`);
  for (const row of rows) console.log(`${row[0].padEnd(w0)}  ${row[1].padEnd(w1)}  ${row[2]}`);
  const file = path.join(__dirname, '..', '..', 'bench', 'results', `${backend.chosen}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`written ${file}`);
})();
