/**
 * `npm run bench`: speed of the building blocks on the chosen backend (default: auto), printed as a
 * table and written to bench/results/<backend>.json. Not a test: nothing here asserts a time.
 *
 *  - plain 1024² matMul GFLOP/s (the backend's own best case), measured in the same run
 *  - training step (forward + backward + Adam) tokens/s and achieved GFLOP/s, tiny and GPT-2-124M-shaped,
 *    as a share of a plain matMul measured just before each step (and of the run's best matMul)
 *    (124M: batch 2×64; on wasm 4×64 fits the 4 GB heap only just: 4.07 GB after three steps)
 *  - KV-cached sampling tokens/s, and per-token time at position ~200 against ~20 (tiny and 124M width;
 *    steps at the two positions alternate and the medians are compared); where decoding steps run as
 *    one TensorFlow graph (tensorflow on the CPU), the 124M step op by op as well, for comparison
 *  - tensor count and resident memory over 50 training steps
 *
 * Usage: node dist/bench/run.js [--backend wasm] [--skip-124m | --only-124m]
 * The 124M training row runs last: if it runs out of memory the rows before it are still written.
 * --only-124m runs just the matMul yardstick and the 124M rows (scripts/gpu-check.sh) and writes
 * bench/results/<backend>-124m.json, so that a partial run never replaces a full results file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend, BackendChoice } from '../src/backend';
import { tf, Variable, Tensor, Tensor2D } from '../src/backend/tf';
import type { TensorContainer } from '@tensorflow/tfjs';
import { GPT2Config } from '../src/model/config';
import { initTrunk, trunkParamShapes, forward, lmHead, disposeCache, KVCache, Params } from '../src/model/gpt2';
import { lmLoss } from '../src/model/lm';
import { makeLMBatch } from '../src/model/batch';
import { Adam, valueAndGrads } from '../src/model/optim';
import { generate } from '../src/model/generate';
import { setDecodeGraph } from '../src/model/decode-graph';
import { graphsAvailable } from '../src/backend/tf-graph';
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
  // In a tidy: the initial tensor would otherwise keep its data alive after the first update.
  for (const [k, v] of Object.entries(host)) vars[k] = tf.tidy(() => tf.variable(tf.tensor(v, shapes[k])));
  return vars;
}

/** Plain [n,n]·[n,n] matMul GFLOP/s: the median of `reps` timed products after two warm-ups. */
function matmulGflops(n = 1024, reps = 15): number {
  const a = tf.randomNormal([n, n]) as Tensor2D;
  const b = tf.randomNormal([n, n]) as Tensor2D;
  const rates: number[] = [];
  for (let i = 0; i < reps + 2; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    if (i >= 2) rates.push((2 * n ** 3) / ((performance.now() - t0) / 1000) / 1e9);
  }
  tf.dispose([a, b]);
  rates.sort((x, y) => x - y);
  return rates[Math.floor(rates.length / 2)];
}

/** Model FLOPs per training token: 6·params (matmuls, fwd + bwd) + 12·L·T·C (attention). */
function trainFlopsPerToken(cfg: GPT2Config, T: number): number {
  const C = cfg.n_embd;
  const matmulParams = cfg.n_layer * 12 * C * C + cfg.vocab_size * C; // blocks + tied LM head
  return 6 * matmulParams + 12 * cfg.n_layer * T * C;
}

/**
 * Training steps (forward + backward + Adam) on random tokens. Before every step a short plain
 * matMul measurement (median of 3) is taken, so that each step is compared with the machine's
 * matMul rate of the same moment (this machine's speed drifts by up to 2× between minutes); the
 * step's share of matMul is the median over steps of those paired ratios.
 */
function trainStep(cfg: GPT2Config, B: number, T: number, steps: number) {
  const vars = makeVars(cfg);
  const rng = new Rng(2);
  const rows = Array.from({ length: B }, () => ({ context: [], target: Array.from({ length: T }, () => rng.int(cfg.vocab_size)) }));
  const batch = makeLMBatch(rows, 0, T);
  const opt = new Adam({ lr: 1e-4 });
  const times: number[] = [];
  const adamTimes: number[] = [];
  const pairedMatmul: number[] = [];
  const tensors: number[] = [];
  const rss: number[] = [];
  const tokens = B * T;
  const flops = trainFlopsPerToken(cfg, T) * tokens;
  for (let i = 0; i < steps; i++) {
    pairedMatmul.push(matmulGflops(1024, 3));
    const t0 = performance.now();
    const { value, grads } = valueAndGrads(vars, () => lmLoss(vars, cfg, batch));
    value.dataSync();
    const t1 = performance.now();
    opt.apply(vars, grads);
    tf.dispose([value, ...Object.values(grads)]);
    const t2 = performance.now();
    times.push(t2 - t0);
    adamTimes.push(t2 - t1);
    tensors.push(tf.memory().numTensors);
    rss.push(process.memoryUsage().rss / 2 ** 20);
  }
  opt.dispose();
  tf.dispose(Object.values(vars));
  // The first two steps create XNNPACK operators and Adam's moments: not counted.
  const skip = Math.min(2, steps - 1);
  const mean = (xs: number[]) => xs.slice(skip).reduce((a, b) => a + b, 0) / (steps - skip) / 1000;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const s = mean(times);
  const ratios = times.slice(skip).map((ms, i) => flops / (ms / 1000) / 1e9 / pairedMatmul[skip + i]);
  return {
    B,
    T,
    steps,
    seconds_per_step: s,
    adam_seconds_per_step: mean(adamTimes),
    tokens_per_second: tokens / s,
    gflops: flops / s / 1e9,
    paired_matmul_gflops: pairedMatmul.slice(skip),
    share_of_matmul_paired_median: median(ratios),
    tensors,
    rss,
  };
}

/**
 * Per-token decoding time with the cache at two positions (B rows each): one step at each position
 * in turn, so that a slow moment of the machine hits both alike, and the median of `reps` steps per
 * position (3 untimed warm-up steps each). Returns milliseconds per step at each position.
 */
function decodeTimes(params: Params, cfg: GPT2Config, positions: number[], B: number, reps = 20): number[] {
  const warmup = 3;
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
  return times.map((ts) => ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]);
}

(async () => {
  const only124m = process.argv.includes('--only-124m');
  const skip124m = process.argv.includes('--skip-124m');
  if (only124m && skip124m) throw new Error('--only-124m and --skip-124m exclude each other');
  const backend = await selectBackend((arg('backend') ?? 'auto') as BackendChoice);
  const tiny: GPT2Config = { ...TINY_CONFIG, vocab_size: TINY_VOCAB, bos_token_id: 511, eos_token_id: 511 };
  const gpt2: GPT2Config = { vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: 50256, eos_token_id: 50256 };
  const out: Record<string, unknown> = { backend: backend.chosen, date: new Date().toISOString(), ...(only124m ? { only_124m: true } : {}) };
  const rows: string[][] = [];

  // Measured before and after the other rows; the higher of the two is the yardstick (so a slow
  // moment of the machine cannot flatter the training step's share).
  const mmStart = matmulGflops();
  let mm = mmStart;
  const mmRow = ['plain matMul 1024² (median of 15)', '', ''];
  rows.push(mmRow);

  // The tiny rows (skipped by --only-124m).
  let tinyTrain: ReturnType<typeof trainStep> | undefined;
  if (!only124m) {
    tinyTrain = trainStep(tiny, 16, 64, 50);
    out.train_tiny = { ...tinyTrain, tensors: undefined, rss: undefined };
    const t = tinyTrain.tensors;
    const r = tinyTrain.rss;
    out.memory_over_50_steps = { tensors_first: t[1], tensors_last: t[t.length - 1], rss_mb_step5: r[4], rss_mb_last: r[r.length - 1] };
    rows.push(['tensors over 50 steps', `${t[1]} → ${t[t.length - 1]}`, `RSS ${r[4].toFixed(0)} → ${r[r.length - 1].toFixed(0)} MB`]);

    const params = makeVars(tiny, 3) as unknown as Params;
    const B = 16;
    const g0 = performance.now();
    const gen = generate(params, tiny, Array.from({ length: B }, () => [1, 2, 3]), { maxNewTokens: 64, temperature: 1, eosId: -1, rng: new Rng(1) });
    const genS = (performance.now() - g0) / 1000;
    const genTok = gen.tokens.reduce((a, x) => a + x.length, 0);
    out.sampling_tiny = { batch: B, tokens: genTok, tokens_per_second: genTok / genS };
    rows.push([`sampling, tiny, KV cache (B${B})`, `${(genTok / genS).toFixed(0)} tok/s`, '']);
    const [at20, at100] = decodeTimes(params, tiny, [20, 100], B);
    out.decode_ms_per_step = { pos20: at20, pos100: at100, ratio: at100 / at20 };
    rows.push(['decode step at pos 100 / pos 20 (tiny, n_positions 128)', `${at100.toFixed(2)} / ${at20.toFixed(2)} ms`, `ratio ${(at100 / at20).toFixed(2)}`]);
    const wide: GPT2Config = { ...tiny, n_positions: 256 };
    const wparams = makeVars(wide, 4) as unknown as Params;
    const [w20, w200] = decodeTimes(wparams, wide, [20, 200], B);
    out.decode_ms_per_step_256 = { pos20: w20, pos200: w200, ratio: w200 / w20 };
    rows.push(['decode step at pos 200 / pos 20 (tiny width, n_positions 256)', `${w200.toFixed(2)} / ${w20.toFixed(2)} ms`, `ratio ${(w200 / w20).toFixed(2)}`]);
    tf.dispose(Object.values(params));
    tf.dispose(Object.values(wparams));
  }

  const trainRow = (label: string, r: ReturnType<typeof trainStep>) =>
    rows.push([
      label,
      `${r.tokens_per_second.toFixed(0)} tok/s`,
      `${r.gflops.toFixed(1)} GFLOP/s = ${(100 * r.share_of_matmul_paired_median).toFixed(0)}% of matMul measured with each step (${((100 * r.gflops) / mm).toFixed(0)}% of the run's best matMul; Adam ${((100 * r.adam_seconds_per_step) / r.seconds_per_step).toFixed(0)}% of the step)`,
    ]);
  const mmEnd = matmulGflops();
  mm = Math.max(mmStart, mmEnd);
  out.matmul_1024_gflops = { start: mmStart, end: mmEnd, used: mm };
  mmRow[1] = `${mm.toFixed(1)} GFLOP/s`;
  mmRow[2] = `start ${mmStart.toFixed(1)}, end ${mmEnd.toFixed(1)}`;
  if (tinyTrain) trainRow('train step, tiny (B16×T64)', tinyTrain);
  if (!skip124m) {
    const bparams = makeVars(gpt2, 5) as unknown as Params;
    const [b20, b200] = decodeTimes(bparams, gpt2, [20, 200], 4, 10);
    out.decode_ms_per_step_124m = { batch: 4, pos20: b20, pos200: b200, ratio: b200 / b20 };
    rows.push(['decode step at pos 200 / pos 20 (GPT-2 124M shape, B4)', `${b200.toFixed(1)} / ${b20.toFixed(1)} ms`, `ratio ${(b200 / b20).toFixed(2)}`]);
    if (graphsAvailable()) {
      // The same steps op by op, as before the step became one graph (src/model/decode-graph.ts).
      setDecodeGraph(false);
      const [e20, e200] = decodeTimes(bparams, gpt2, [20, 200], 4, 10);
      setDecodeGraph(true);
      out.decode_ms_per_step_124m_op_by_op = { batch: 4, pos20: e20, pos200: e200 };
      rows.push(['— the same, op by op instead of one graph', `${e200.toFixed(1)} / ${e20.toFixed(1)} ms`, `graph ${(e20 / b20).toFixed(2)}× faster at pos 20`]);
    }
    tf.dispose(Object.values(bparams));
    try {
      const big = trainStep(gpt2, 2, 64, 6);
      out.train_gpt2_124m = { ...big, tensors: undefined, rss: undefined };
      trainRow('train step, GPT-2 124M shape (B2×T64)', big);
    } catch (e) {
      out.train_gpt2_124m = { error: String(e) };
      rows.push(['train step, GPT-2 124M shape (B2×T64)', 'failed', String(e).slice(0, 80)]);
    }
  }

  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  console.log(`backend ${backend.chosen}`);
  for (const row of rows) console.log(`${row[0].padEnd(w0)}  ${row[1].padEnd(w1)}  ${row[2]}`);
  const file = path.join(__dirname, '..', '..', 'bench', 'results', `${backend.chosen}${only124m ? '-124m' : ''}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`written ${file}`);
})();
