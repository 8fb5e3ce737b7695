/**
 * GPT-2 in raw tfjs ops, with the architecture and numerics of Hugging Face `GPT2LMHeadModel`:
 * learned position embeddings, pre-LayerNorm blocks, an MLP with the config's activation
 * (`gelu_new` for GPT-2) and width n_inner, causal self-attention with the config's score scaling,
 * a final LayerNorm and an LM head tied to the token embedding, or its own `lm_head.weight` when
 * tie_word_embeddings is false (see config.ts for every field). No dropout anywhere (RLHF wants
 * the log-probabilities of sampling and of training to be the same function).
 *
 * Shapes in comments: B batch, T new positions, S = past + T key positions, C = n_embd,
 * H = n_head, D = C / H, V = vocab_size, N = B·T.
 * Parameter names are Hugging Face's, so a checkpoint is a plain name → tensor map.
 */
import { tf, Tensor, Tensor1D, Tensor2D, Tensor3D } from '../backend/tf';
import { attentionScale, GPT2Config, innerDim, tiedEmbeddings } from './config';
import { bmm, bmmBT, bmmPrefix, embedding, linear, matmul, tiedHead } from './ops';
import { appendKV, disposeCache, inPlaceMode, KVCache, LayerKV } from './kv-cache';
import { activation, layerNorm, targetLogProbs } from './fused';
import { graphDecodeStep } from './decode-graph';
import { Rng } from '../util/rng';

/** Log-probabilities of the target tokens, [N, V] logits and [N] targets → [N] (a fused op, see fused.ts). */
export { targetLogProbs };
export { disposeCache };
export type { KVCache };

export type Params = Record<string, Tensor>;

export interface ForwardOptions {
  /** [B, T] 1 for real tokens, 0 for (left) padding. Defaults to all ones. */
  attentionMask?: Tensor2D;
  /** [B, T] position ids; defaults to cumsum(mask) − 1 (Hugging Face's rule for left padding). */
  positionIds?: Tensor2D;
  /** Past keys/values; when given, a new cache with the T new positions appended is returned. */
  cache?: KVCache;
  /** Return a cache even when none was given (the first step of generation). */
  useCache?: boolean;
  /**
   * With useCache and no cache: positions to preallocate (prompt + new tokens), so that later
   * steps write into the cache in place instead of concatenating (where the backend supports it;
   * see kv-cache.ts).
   */
  cacheCapacity?: number;
  /**
   * Run only the blocks start ≤ i < end (default [0, n_layer]). Used to train the top blocks of a
   * model whose lower blocks are frozen: their output is computed once (end = start of the top)
   * and fed back as `hiddenIn`. ln_f is applied only when end = n_layer; otherwise `hidden` is the
   * raw residual stream leaving block end − 1, i.e. the input of block `end`. Not with `cache`.
   */
  layers?: [number, number];
  /** Apply ln_f at the end; default: when layers[1] = n_layer. false gives the residual stream. */
  finalNorm?: boolean;
  /**
   * [B, T, C] residual stream entering block `layers[0]`, replacing the embeddings (then `ids`
   * only give B and T, and `positionIds` is not used). Required when layers[0] > 0.
   */
  hiddenIn?: Tensor3D;
  /**
   * [B, T] one-hot of the one position per row whose output is wanted (a reward head reads only
   * the last real token). The last block run then computes its query, attention output and MLP
   * for that position alone (keys and values still for every position) and `hidden` is [B, 1, C].
   * Exact: the last block's other outputs are never read by anything. Not with `cache`.
   */
  pick?: Tensor2D;
}

export interface ForwardResult {
  /** [B, T, C] final hidden states (after ln_f), or the residual stream when layers[1] < n_layer. */
  hidden: Tensor3D;
  cache?: KVCache;
}

export const HEAD_NAMES = {
  /** Reward head, as in Hugging Face `GPT2ForSequenceClassification` (num_labels = 1). */
  reward: ['score.weight'],
  /** Value head, as in TRL's `AutoModelForCausalLMWithValueHead`. */
  value: ['v_head.summary.weight', 'v_head.summary.bias'],
} as const;

const p = (i: number, name: string) => `transformer.h.${i}.${name}`;

/** The untied LM head, [V, C] (nn.Linear's [out, in]: the token embedding's layout). */
export const LM_HEAD = 'lm_head.weight';
const WTE = 'transformer.wte.weight';

/** The names of the trunk's parameters, in Hugging Face order. */
export function trunkParamNames(cfg: GPT2Config): string[] {
  const names = ['transformer.wte.weight', 'transformer.wpe.weight'];
  for (let i = 0; i < cfg.n_layer; i++) {
    for (const n of ['ln_1.weight', 'ln_1.bias', 'attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight', 'attn.c_proj.bias', 'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias'])
      names.push(p(i, n));
  }
  names.push('transformer.ln_f.weight', 'transformer.ln_f.bias');
  return names;
}

/** Every parameter of the language model: the trunk, and lm_head.weight when the head is untied. */
export function paramNames(cfg: GPT2Config): string[] {
  return tiedEmbeddings(cfg) ? trunkParamNames(cfg) : [...trunkParamNames(cfg), LM_HEAD];
}

/** Expected shape of every parameter of paramNames (with lm_head.weight when untied). */
export function paramShapes(cfg: GPT2Config): Record<string, number[]> {
  const s = trunkParamShapes(cfg);
  if (!tiedEmbeddings(cfg)) s[LM_HEAD] = [cfg.vocab_size, cfg.n_embd];
  return s;
}

/** Expected shape of every trunk parameter (Conv1D weights are [in, out]; M = n_inner, default 4C). */
export function trunkParamShapes(cfg: GPT2Config): Record<string, number[]> {
  const C = cfg.n_embd;
  const M = innerDim(cfg);
  const s: Record<string, number[]> = {
    [WTE]: [cfg.vocab_size, C],
    'transformer.wpe.weight': [cfg.n_positions, C],
    'transformer.ln_f.weight': [C],
    'transformer.ln_f.bias': [C],
  };
  for (let i = 0; i < cfg.n_layer; i++) {
    Object.assign(s, {
      [p(i, 'ln_1.weight')]: [C], [p(i, 'ln_1.bias')]: [C],
      [p(i, 'attn.c_attn.weight')]: [C, 3 * C], [p(i, 'attn.c_attn.bias')]: [3 * C],
      [p(i, 'attn.c_proj.weight')]: [C, C], [p(i, 'attn.c_proj.bias')]: [C],
      [p(i, 'ln_2.weight')]: [C], [p(i, 'ln_2.bias')]: [C],
      [p(i, 'mlp.c_fc.weight')]: [C, M], [p(i, 'mlp.c_fc.bias')]: [M],
      [p(i, 'mlp.c_proj.weight')]: [M, C], [p(i, 'mlp.c_proj.bias')]: [C],
    });
  }
  return s;
}

/**
 * Hugging Face's initialisation (GPT2PreTrainedModel._init_weights): N(0, 0.02) weights, zero
 * biases, unit LayerNorm gains, residual projections scaled by 1/√(2·n_layer); an untied
 * lm_head.weight N(0, 0.02) too. Seeded, in JS, so the same seed gives the same weights on every
 * backend. Returns every parameter of paramNames(cfg).
 */
export function initTrunk(cfg: GPT2Config, seed: number): Record<string, Float32Array> {
  const rng = new Rng(seed);
  const out: Record<string, Float32Array> = {};
  const shapes = paramShapes(cfg);
  for (const name of paramNames(cfg)) {
    const size = shapes[name].reduce((a, b) => a * b, 1);
    const a = new Float32Array(size);
    if (/ln_\w+\.weight$/.test(name)) a.fill(1);
    else if (name.endsWith('.weight')) {
      const std = name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * cfg.n_layer) : 0.02;
      for (let j = 0; j < size; j++) a[j] = rng.normal() * std;
    }
    out[name] = a;
  }
  return out;
}

/** Position ids for left padding: cumsum(mask) − 1, clipped at 0 (as Hugging Face generate does). */
export function positionIdsFromMask(mask: Tensor2D, offset?: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    let pos = tf.sub(tf.cumsum(mask, 1), 1);
    if (offset) pos = tf.add(pos, offset);
    return tf.maximum(pos, 0).toInt() as Tensor2D;
  });
}

/**
 * Additive attention bias [B, 1, T, S]: 0 where query t may attend to key s (causal, and key is
 * real), −1e9 elsewhere. exp(−1e9) is exactly 0 in float32, the same as Hugging Face's finfo.min.
 */
function attentionBias(keyMask: Tensor2D, T: number, past: number): Tensor {
  const S = keyMask.shape[1]; // past + T, or an in-place cache's capacity (rows past past + T are causally masked)
  const causal = tf.linalg.bandPart(tf.ones([T, S]), -1, past); // 1 where s ≤ past + t
  const allowed = tf.mul(causal.reshape([1, 1, T, S]), keyMask.reshape([-1, 1, 1, S]));
  return tf.mul(tf.sub(allowed, 1), 1e9);
}

/** Attention bias [B, 1, 1, S] for one picked query per row (no past): allowed keys s ≤ t* that are real. */
function pickBias(pick: Tensor2D, keyMask: Tensor2D): Tensor {
  const [B, T] = pick.shape;
  const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0) as Tensor2D; // [t, s] = 1 where s ≤ t
  const allowed = tf.mul(tf.matMul(pick, causal), keyMask); // [B, S]
  return tf.mul(tf.sub(allowed, 1), 1e9).reshape([B, 1, 1, T]);
}

/** What every block of one forward pass shares. */
interface PassContext {
  cfg: GPT2Config;
  params: Params;
  /** Batch, new positions, and key positions attended over (cached + new; an in-place cache read whole: its capacity). */
  B: number;
  T: number;
  S: number;
  /** [B, 1, T, S] additive attention bias: causal and padding (0 allowed, −1e9 not). */
  bias: Tensor;
  /** [B, S] 1 for real keys. */
  keyMask: Tensor2D;
  cache?: KVCache;
  /** Preallocate a cache of this many positions (first step of generation), where the backend can. */
  cacheCapacity?: number;
  act: (x: Tensor2D) => Tensor2D;
}

/** [B·T, C] → [B·H, T, D]: one matrix per (sequence, head). For T = 1 the head axis is already in place. */
function splitHeads(x: Tensor2D, B: number, T: number, H: number): Tensor3D {
  const D = x.shape[1] / H;
  if (T === 1) return x.reshape([B * H, 1, D]) as Tensor3D;
  return x.reshape([B, T, H, D]).transpose([0, 2, 1, 3]).reshape([B * H, T, D]) as Tensor3D;
}

/** [B·H, T, D] → [B·T, C], the inverse of splitHeads. */
function mergeHeads(y: Tensor3D, B: number, T: number, H: number): Tensor2D {
  const D = y.shape[2];
  if (T === 1) return y.reshape([B, H * D]) as Tensor2D;
  return y.reshape([B, H, T, D]).transpose([0, 2, 1, 3]).reshape([B * T, H * D]) as Tensor2D;
}

/**
 * Causal self-attention of block i: h [N, C] (ln_1 of the residual stream) → [B·Q, C], and this
 * block's keys/values for the cache. Q = T, or 1 with `pick` (one query per row).
 *   q, k, v = split(h·W_attn + b_attn);  a = softmax(q·kᵀ·scale + bias)·v;  out = a·W_proj + b_proj
 */
function attention(ctx: PassContext, i: number, h: Tensor2D, pick?: Tensor2D): { out: Tensor2D; kv: LayerKV } {
  const { cfg, B, T, S } = ctx;
  const H = cfg.n_head;
  const P = (n: string) => ctx.params[p(i, n)];
  const Q = pick ? 1 : T;
  const qkv = linear(h, P('attn.c_attn.weight') as Tensor2D, P('attn.c_attn.bias') as Tensor1D); // [N, 3C]
  const [q2, k2, v2] = tf.split(qkv, 3, 1) as Tensor2D[];
  const q = splitHeads(pick ? pickRows(q2, pick) : q2, B, Q, H); // [B·H, Q, D]
  // Keys and values of every position; with a cache, appended to the past ones (kv-cache.ts).
  const kv = appendKV(ctx.cache, i, splitHeads(k2, B, T, H), splitHeads(v2, B, T, H), ctx.cacheCapacity); // [B·H, S, D]
  // The picked query's bias row: causal row of its position (pick · causal) times the key mask.
  const bias = pick ? pickBias(pick, ctx.keyMask) : ctx.bias; // [B, 1, Q, S]
  // An in-place cache holds S filled rows of its buffers: attend over those only ('prefix'), or
  // over the whole buffer with the rest masked by the bias ('masked').
  const qk = kv.mode === 'prefix' ? bmmPrefix(q, kv.k, kv.rows!, true) : kv.kTransposed ? bmm(q, kv.k) : bmmBT(q, kv.k); // [B·H, Q, S]
  // 1/√D (scale_attn_weights), and 1/(i + 1) with scale_attn_by_inverse_layer_idx.
  const scores = tf.add(tf.mul(qk, attentionScale(cfg, i)).reshape([B, H, Q, S]), bias);
  const probs = tf.softmax(scores).reshape([B * H, Q, S]) as Tensor3D;
  const a = kv.mode === 'prefix' ? bmmPrefix(probs, kv.v, kv.rows!, false) : bmm(probs, kv.v); // [B·H, Q, D]
  const out = linear(mergeHeads(a, B, Q, H), P('attn.c_proj.weight') as Tensor2D, P('attn.c_proj.bias') as Tensor1D);
  return { out, kv };
}

/** The MLP of block i: h [N, C] → act(h·W_fc + b_fc)·W_proj + b_proj, inner width n_inner (4C). */
function mlp(ctx: PassContext, i: number, h: Tensor2D): Tensor2D {
  const P = (n: string) => ctx.params[p(i, n)];
  const m = ctx.act(linear(h, P('mlp.c_fc.weight') as Tensor2D, P('mlp.c_fc.bias') as Tensor1D)); // [N, M]
  return linear(m, P('mlp.c_proj.weight') as Tensor2D, P('mlp.c_proj.bias') as Tensor1D);
}

/**
 * Block i (pre-LayerNorm): x ← x + attn(ln_1(x)); x ← x + mlp(ln_2(x)). x: [N, C] → [N, C], or
 * with `pick` [B, C] (only the picked position of each row continues after attention).
 */
function block(ctx: PassContext, i: number, x: Tensor2D, pick?: Tensor2D): { x: Tensor2D; kv: LayerKV } {
  const P = (n: string) => ctx.params[p(i, n)];
  const eps = ctx.cfg.layer_norm_epsilon;
  const { out, kv } = attention(ctx, i, layerNorm(x, P('ln_1.weight'), P('ln_1.bias'), eps), pick);
  if (pick) x = pickRows(x, pick); // the residual stream of the picked positions only: [B, C]
  x = tf.add(x, out) as Tensor2D;
  x = tf.add(x, mlp(ctx, i, layerNorm(x, P('ln_2.weight'), P('ln_2.bias'), eps))) as Tensor2D;
  return { x, kv };
}

/** The rows of t [B·T, k] at each sequence's picked position (pick: [B, T] one-hot) → [B, k]. */
function pickRows(t: Tensor2D, pick: Tensor2D): Tensor2D {
  const [B, T] = pick.shape;
  return tf.sum(tf.mul(t.reshape([B, T, -1]), pick.reshape([B, T, 1])), 1) as Tensor2D;
}

/**
 * The trunk: token ids [B, T] → final hidden states [B, T, C] (see ForwardOptions for the cache,
 * a range of blocks, and one picked position per row).
 */
export function forward(params: Params, cfg: GPT2Config, ids: Tensor2D, opts: ForwardOptions = {}): ForwardResult {
  const [B, T] = ids.shape;
  const C = cfg.n_embd;
  const past = opts.cache?.length ?? 0;
  if (past + T > cfg.n_positions) throw new Error(`sequence of ${past + T} tokens exceeds n_positions = ${cfg.n_positions}`);
  const [start, end] = opts.layers ?? [0, cfg.n_layer];
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= cfg.n_layer)) {
    throw new Error(`layers [${start}, ${end}] must satisfy 0 <= start <= end <= n_layer = ${cfg.n_layer}`);
  }
  if (opts.cache && (start !== 0 || end !== cfg.n_layer)) throw new Error('a KV cache needs all layers (layers = [0, n_layer])');
  if (opts.pick && (opts.cache || opts.useCache)) throw new Error('pick (one output position per row) cannot be combined with a KV cache');
  if (opts.pick && start === end) throw new Error('pick needs at least one block to run');
  if (start > 0 && !opts.hiddenIn) throw new Error(`layers starting at block ${start} need hiddenIn (the residual stream entering it)`);
  if (opts.hiddenIn && (opts.hiddenIn.shape[0] !== B || opts.hiddenIn.shape[1] !== T || opts.hiddenIn.shape[2] !== C)) {
    throw new Error(`hiddenIn has shape [${opts.hiddenIn.shape.join(', ')}], expected [${B}, ${T}, ${C}]`);
  }
  const mask = (opts.attentionMask ?? tf.ones([B, T])).toFloat() as Tensor2D;
  // One new token per row after an in-place cache: the whole step as one TensorFlow graph where
  // the backend runs graphs (decode-graph.ts); elsewhere op by op below.
  if (opts.cache && T === 1 && !opts.positionIds && opts.finalNorm !== false && inPlaceMode(opts.cache, T) === 'masked') {
    const step = graphDecodeStep(params, cfg, ids, mask, opts.cache);
    if (step) return step;
  }
  const keyMask = opts.cache ? (tf.concat([opts.cache.mask, mask], 1) as Tensor2D) : mask; // [B, S]
  const S = past + T;
  // An in-place cache read whole ('masked') is attended over all its rows: the bias masks the unfilled ones.
  const capacity = opts.cache?.capacity ?? (opts.useCache ? opts.cacheCapacity : undefined);
  const mode = inPlaceMode(opts.cache, T, opts.useCache ? opts.cacheCapacity : undefined);
  const W = mode === 'masked' ? capacity! : S;
  const ctx: PassContext = {
    cfg,
    params,
    B,
    T,
    S: W,
    bias: attentionBias(W > S ? (tf.pad(keyMask, [[0, 0], [0, W - S]]) as Tensor2D) : keyMask, T, past),
    keyMask,
    cache: opts.cache,
    cacheCapacity: opts.useCache ? opts.cacheCapacity : undefined,
    act: activation(cfg.activation_function),
  };

  // x: [N, C], the residual stream: token + position embeddings, or the given stream.
  let x: Tensor2D;
  if (opts.hiddenIn) x = opts.hiddenIn.reshape([B * T, C]) as Tensor2D;
  else {
    let pos = opts.positionIds;
    if (!pos) {
      // Positions continue from the cached ones: count the real tokens before each position.
      const prev = opts.cache ? tf.sum(opts.cache.mask, 1, true) : undefined;
      pos = positionIdsFromMask(mask, prev as Tensor2D | undefined);
    }
    x = tf.add(
      embedding(ids.reshape([-1]) as Tensor1D, params['transformer.wte.weight'] as Tensor2D),
      embedding(pos.reshape([-1]) as Tensor1D, params['transformer.wpe.weight'] as Tensor2D),
    ) as Tensor2D;
  }

  const newK: Tensor3D[] = [];
  const newV: Tensor3D[] = [];
  const buffers: NonNullable<KVCache['buffers']> = [];
  for (let i = start; i < end; i++) {
    // In the last block run, with pick, only one query per row continues.
    const r = block(ctx, i, x, opts.pick && i === end - 1 ? opts.pick : undefined);
    x = r.x;
    if (r.kv.buffers) buffers.push(r.kv.buffers);
    else {
      newK.push(r.kv.k);
      newV.push(r.kv.v);
    }
  }
  if (opts.finalNorm ?? end === cfg.n_layer) x = layerNorm(x, params['transformer.ln_f.weight'], params['transformer.ln_f.bias'], cfg.layer_norm_epsilon);
  const hidden = x.reshape([B, opts.pick ? 1 : T, C]) as Tensor3D;
  const wantCache = opts.cache !== undefined || opts.useCache;
  return {
    hidden,
    cache: wantCache ? (mode ? { k: [], v: [], buffers, mask: keyMask, length: S, capacity } : { k: newK, v: newV, mask: keyMask, length: S }) : undefined,
  };
}

/**
 * The LM head's [V, C] matrix E: lm_head.weight when the model has one (tie_word_embeddings
 * false: loadWeights puts it in params only then), else the token embedding.
 */
export function headWeight(params: Params): Tensor2D {
  return (params[LM_HEAD] ?? params[WTE]) as Tensor2D;
}

/** Eᵀ, [C, V], for lmHead's headT: made once per generate call, not at every decoding step. */
export function lmHeadT(params: Params): Tensor2D {
  return tf.transpose(headWeight(params)) as Tensor2D;
}

/**
 * LM head: logits = h · Eᵀ, h: [N, C] → [N, V], E = headWeight(params) (the embedding, or the untied
 * lm_head.weight, which has the same layout; both go through the same op and its gradients).
 * Decoding passes headT = lmHeadT(params) to avoid re-transposing E at every step.
 */
export function lmHead(params: Params, h: Tensor2D, headT?: Tensor2D): Tensor2D {
  return headT ? matmul(h, headT) : tiedHead(h, headWeight(params));
}

/** Logits for every position: ids [B, T] → [B, T, V]. */
export function logits(params: Params, cfg: GPT2Config, ids: Tensor2D, opts: ForwardOptions = {}): Tensor3D {
  const { hidden } = forward(params, cfg, ids, opts);
  const [B, T, C] = hidden.shape;
  return lmHead(params, hidden.reshape([B * T, C]) as Tensor2D).reshape([B, T, cfg.vocab_size]) as Tensor3D;
}

/** Exact entropy of softmax(logits) per row, [N, V] → [N]. */
export function logitsEntropy(logitsNV: Tensor2D): Tensor1D {
  const logp = tf.logSoftmax(logitsNV);
  return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)) as Tensor1D;
}
