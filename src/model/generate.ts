/**
 * KV-cached autoregressive sampling for a batch of prompts (left-padded, position ids from the
 * mask), with temperature, top-k, top-p, EOS stopping and a seeded JS random generator, so the
 * same seed gives the same tokens on every backend whose logits agree.
 *
 * Per sampled token we return log π(yₜ) under softmax(logits / T) over the whole vocabulary and the
 * exact entropy of that distribution: the quantities PPO and the entropy metrics need. top-k/top-p
 * only restrict what can be drawn (they default to off, as in TRL's PPO sampling).
 */
import { tf, Tensor2D } from '../backend/tf';
import type { TensorContainer } from '@tensorflow/tfjs';
import { GPT2Config } from './config';
import { disposeCache, forward, KVCache, lmHead, lmHeadT, Params } from './gpt2';
import { transposeOnce } from '../backend/fast-ops';
import { Rng } from '../util/rng';

/** tf.tidy for a function returning an object of tensors (and plain numbers). */
export function tidyObj<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => TensorContainer) as unknown as T;
}

export interface SamplingOptions {
  maxNewTokens: number;
  /** 0 means greedy decoding (log-probs and entropies are then reported at T = 1). */
  temperature: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off). */
  topP?: number;
  /** Stop a row when it emits this token (it is kept in the output). */
  eosId: number;
  /** Pad id used to left-pad prompts (masked out; its value does not matter). */
  padId?: number;
  rng?: Rng;
  /** Use the KV cache (true); false re-runs the whole sequence each step (for tests). */
  useCache?: boolean;
}

export interface Generation {
  /** Generated ids per row (EOS included when emitted). */
  tokens: number[][];
  /** log π(yₜ) of each generated token under softmax(logits / T). */
  logprobs: number[][];
  /** Exact entropy of softmax(logits / T) at each generated position (nats). */
  entropies: number[][];
  /** Whether the row ended with EOS. */
  finished: boolean[];
  /**
   * The most new tokens any row could get: min(maxNewTokens, n_positions − longest prompt). Less
   * than maxNewTokens when the context cut the batch short (rows are left-padded to the longest).
   */
  limit: number;
}

/** Check the sampling options; an Error names the option and the value. */
export function checkSamplingOptions(opts: Pick<SamplingOptions, 'maxNewTokens' | 'temperature' | 'topK' | 'topP'>): void {
  const bad = (name: string, want: string, got: unknown) => new Error(`sampling option ${name} must be ${want}, got ${got}`);
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) throw bad('maxNewTokens', 'an integer ≥ 0', opts.maxNewTokens);
  if (!Number.isFinite(opts.temperature) || opts.temperature < 0) throw bad('temperature', 'a number ≥ 0', opts.temperature);
  if (opts.topK !== undefined && (!Number.isInteger(opts.topK) || opts.topK < 0)) throw bad('topK', 'an integer ≥ 0 (0 = off)', opts.topK);
  if (opts.topP !== undefined && !(opts.topP > 0 && opts.topP <= 1)) throw bad('topP', 'in (0, 1]', opts.topP);
}

/**
 * Do these prompts fit the model's context? A prompt of n_positions tokens or more leaves no room
 * for one new token: an Error naming it (`name`, e.g. "prompt arith-7" or "--prompt"). Prompts that
 * leave fewer than maxNewTokens positions come back, with their room, for the caller to warn about:
 * their completions (and, in a batch, those of every row batched with them) stop early.
 */
export function checkPromptRoom(cfg: Pick<GPT2Config, 'n_positions'>, prompts: { name: string; length: number }[], maxNewTokens: number): { name: string; length: number; room: number }[] {
  const short: { name: string; length: number; room: number }[] = [];
  for (const p of prompts) {
    if (p.length === 0) throw new Error(`${p.name} is empty: it must be at least one token long`);
    const room = cfg.n_positions - p.length;
    if (room <= 0)
      throw new Error(`${p.name} is ${p.length} tokens long, but the model's context (n_positions) is ${cfg.n_positions}: there is no room for a new token; shorten the prompt`);
    if (room < maxNewTokens) short.push({ ...p, room });
  }
  return short;
}

/** Left-pad a batch of id lists: ids [B, L] and mask [B, L] (1 real, 0 pad). */
export function leftPad(seqs: number[][], padId: number): { ids: Int32Array; mask: Float32Array; length: number } {
  const L = Math.max(1, ...seqs.map((s) => s.length));
  const ids = new Int32Array(seqs.length * L).fill(padId);
  const mask = new Float32Array(seqs.length * L);
  seqs.forEach((s, b) => {
    const off = b * L + (L - s.length);
    ids.set(s, off);
    mask.fill(1, off, off + s.length);
  });
  return { ids, mask, length: L };
}

/** One draw from a logits row. Exported for tests. */
export function sampleFromLogits(
  row: Float32Array,
  opts: { temperature: number; topK?: number; topP?: number },
  rng: Rng,
): { token: number; logprob: number; entropy: number } {
  const V = row.length;
  const greedy = opts.temperature <= 0;
  const T = greedy ? 1 : opts.temperature;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (row[i] > max) max = row[i];
  // One pass of exp: e_i = exp(z_i), z_i = (logit_i − max)/T (stable); p_i = e_i/Σe, log p_i = z_i − lse,
  // entropy = −Σ p_i (z_i − lse) = lse − Σ e_i z_i / Σe.
  const e = new Float64Array(V);
  let sum = 0;
  let ez = 0;
  for (let i = 0; i < V; i++) {
    const z = (row[i] - max) / T;
    const x = Math.exp(z);
    e[i] = x;
    sum += x;
    ez += x * z;
  }
  const lse = Math.log(sum);
  const entropy = lse - ez / sum;
  const logp = (i: number) => (row[i] - max) / T - lse;
  let token: number;
  if (greedy) {
    token = 0;
    for (let i = 1; i < V; i++) if (row[i] > row[token]) token = i;
  } else {
    // The categorical draw normalises its weights: e itself, zeroed outside top-k / top-p.
    const topK = opts.topK ?? 0;
    const topP = opts.topP ?? 1;
    if ((topK > 0 && topK < V) || topP < 1) {
      const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => e[b] - e[a] || a - b);
      let keep = topK > 0 ? Math.min(topK, V) : V;
      if (topP < 1) {
        let cum = 0;
        for (let r = 0; r < keep; r++) {
          cum += e[order[r]] / sum;
          if (cum >= topP) {
            keep = r + 1;
            break;
          }
        }
      }
      for (let r = keep; r < V; r++) e[order[r]] = 0;
    }
    token = rng.categorical(e);
  }
  return { token, logprob: logp(token), entropy };
}

/**
 * Sample continuations of `prompts` (token id lists). Rows stop at EOS; the loop stops when every
 * row has stopped or after maxNewTokens.
 */
export function generate(params: Params, cfg: GPT2Config, prompts: number[][], opts: SamplingOptions): Generation {
  const B = prompts.length;
  const rng = opts.rng ?? new Rng(0);
  const padId = opts.padId ?? opts.eosId;
  const useCache = opts.useCache ?? true;
  const out: Generation = {
    tokens: prompts.map(() => []),
    logprobs: prompts.map(() => []),
    entropies: prompts.map(() => []),
    finished: prompts.map(() => false),
    limit: 0,
  };
  checkSamplingOptions(opts);
  if (B === 0 || opts.maxNewTokens === 0) return out;
  // A prompt that fills the context would silently get no tokens: refuse it instead.
  checkPromptRoom(cfg, prompts.map((p, i) => ({ name: `prompt ${i} of the batch`, length: p.length })), opts.maxNewTokens);
  const maxLen = Math.max(...prompts.map((p) => p.length));
  const budget = Math.min(opts.maxNewTokens, cfg.n_positions - maxLen);
  out.limit = budget;
  // The LM head's Eᵀ (the embedding's, or lm_head.weight's when untied), made once for every step
  // where the backend multiplies untransposed operands; TensorFlow reads E transposed in place.
  const wteT = transposeOnce() ? tf.tidy(() => lmHeadT(params)) : undefined;
  let cache: KVCache | undefined;
  const seqs = prompts.map((p) => p.slice());
  try {
    for (let step = 0; step < budget; step++) {
      let logitsData: Float32Array;
      if (useCache) {
        // First step: the whole left-padded prompt batch. Later steps: one new token per row.
        const step0 = cache === undefined;
        const { ids, mask, length } = step0 ? leftPad(prompts, padId) : { ids: Int32Array.from(seqs.map((s) => s[s.length - 1])), mask: new Float32Array(B).fill(1), length: 1 };
        const prev = cache;
        const res = tidyObj(() => {
          const r = forward(params, cfg, tf.tensor2d(ids, [B, length], 'int32'), {
            attentionMask: tf.tensor2d(mask, [B, length]),
            cache: prev,
            useCache: true,
            cacheCapacity: maxLen + budget,
          });
          const last = r.hidden.slice([0, length - 1, 0], [B, 1, cfg.n_embd]).reshape([B, cfg.n_embd]) as Tensor2D;
          return { logits: lmHead(params, last, wteT), cache: r.cache! };
        });
        disposeCache(prev, res.cache);
        cache = res.cache;
        logitsData = res.logits.dataSync() as Float32Array;
        res.logits.dispose();
      } else {
        const { ids, mask, length } = leftPad(seqs, padId);
        const logitsT = tf.tidy(() => {
          const r = forward(params, cfg, tf.tensor2d(ids, [B, length], 'int32'), { attentionMask: tf.tensor2d(mask, [B, length]) });
          const last = r.hidden.slice([0, length - 1, 0], [B, 1, cfg.n_embd]).reshape([B, cfg.n_embd]) as Tensor2D;
          return lmHead(params, last, wteT);
        });
        logitsData = logitsT.dataSync() as Float32Array;
        logitsT.dispose();
      }
      const V = cfg.vocab_size;
      for (let b = 0; b < B; b++) {
        if (out.finished[b]) {
          seqs[b].push(padId); // keeps the batch rectangular; masked out of every result
          continue;
        }
        const s = sampleFromLogits(logitsData.subarray(b * V, (b + 1) * V), opts, rng);
        out.tokens[b].push(s.token);
        out.logprobs[b].push(s.logprob);
        out.entropies[b].push(s.entropy);
        seqs[b].push(s.token);
        if (s.token === opts.eosId) out.finished[b] = true;
      }
      if (out.finished.every(Boolean)) break;
    }
  } finally {
    disposeCache(cache);
    wteT?.dispose();
  }
  return out;
}
