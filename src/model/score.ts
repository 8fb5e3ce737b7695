/**
 * Scoring given text: per-token log-probabilities and exact entropies of continuations under a
 * model, with logits divided by a temperature T (PPO scores policy and reference at the sampling
 * temperature). Used by `rlhf logprobs`, the random-number probe and PPO.
 */
import { tf, Tensor1D, Tensor2D, Tensor3D } from '../backend/tf';
import { GPT2Config } from './config';
import { forward, lmHead, Params, targetLogProbs, entropyFromLogits } from './gpt2';

export interface QueryResponseBatch {
  /** [B, T] ids: left-padded query followed by right-padded response. */
  ids: Int32Array;
  /** [B, T] 1 for real tokens. */
  mask: Float32Array;
  B: number;
  /** Query length Q (after left padding) and response length R; T = Q + R. */
  Q: number;
  R: number;
  /** [B, R] 1 for real response tokens. */
  responseMask: Float32Array;
}

/** Pack queries (left-padded) and responses (right-padded) into one batch. */
export function packQueryResponse(queries: number[][], responses: number[][], padId: number): QueryResponseBatch {
  const B = queries.length;
  const Q = Math.max(1, ...queries.map((q) => q.length));
  const R = Math.max(1, ...responses.map((r) => r.length));
  const T = Q + R;
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Float32Array(B * T);
  const responseMask = new Float32Array(B * R);
  for (let b = 0; b < B; b++) {
    const q = queries[b];
    const r = responses[b];
    ids.set(q, b * T + Q - q.length);
    mask.fill(1, b * T + Q - q.length, b * T + Q);
    ids.set(r, b * T + Q);
    mask.fill(1, b * T + Q, b * T + Q + r.length);
    responseMask.fill(1, b * R, b * R + r.length);
  }
  return { ids, mask, B, Q, R, responseMask };
}

/**
 * Inside a tidy/grad scope: log π(response tokens) [B, R], entropies [B, R] and the hidden states at
 * the positions that predict them [B, R, C] (for value heads). Logits are divided by `temperature`.
 */
export function responseLogProbs(
  params: Params,
  cfg: GPT2Config,
  batch: QueryResponseBatch,
  temperature = 1,
  opts: { entropy?: boolean } = {},
): { logprobs: Tensor2D; entropy?: Tensor2D; hidden: Tensor3D } {
  const { B, Q, R } = batch;
  const T = Q + R;
  const ids = tf.tensor2d(batch.ids, [B, T], 'int32');
  const { hidden } = forward(params, cfg, ids, { attentionMask: tf.tensor2d(batch.mask, [B, T]) });
  // Position t predicts token t+1: the response tokens Q..T-1 are predicted by positions Q-1..T-2.
  const h = hidden.slice([0, Q - 1, 0], [B, R, cfg.n_embd]) as Tensor3D;
  let logits = lmHead(params, h.reshape([B * R, cfg.n_embd]) as Tensor2D);
  if (temperature !== 1) logits = tf.div(logits, temperature);
  const targets = ids.slice([0, Q], [B, R]).reshape([-1]);
  const logprobs = targetLogProbs(logits, targets as Tensor1D).reshape([B, R]) as Tensor2D;
  const entropy = opts.entropy ? (entropyFromLogits(logits).reshape([B, R]) as Tensor2D) : undefined;
  return { logprobs, entropy, hidden: h };
}

/**
 * Total log-probability of each continuation after one shared context, in batches: the exact
 * probability of complete answers (e.g. every number 0..99 followed by EOS).
 */
export function continuationLogProbs(
  params: Params,
  cfg: GPT2Config,
  context: number[],
  continuations: number[][],
  padId: number,
  temperature = 1,
  batchSize = 128,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < continuations.length; i += batchSize) {
    const conts = continuations.slice(i, i + batchSize);
    const batch = packQueryResponse(conts.map(() => context), conts, padId);
    const lp = tf.tidy(() => {
      const { logprobs } = responseLogProbs(params, cfg, batch, temperature);
      return tf.sum(tf.mul(logprobs, tf.tensor2d(batch.responseMask, [batch.B, batch.R])), 1);
    });
    out.push(...(lp.dataSync() as Float32Array));
    lp.dispose();
  }
  return out;
}

/** Per-token log-probs and entropies of a whole text (the first token has none). */
export function textLogProbs(params: Params, cfg: GPT2Config, ids: number[]): { logprobs: number[]; entropies: number[] } {
  if (ids.length < 2) return { logprobs: [], entropies: [] };
  const batch = packQueryResponse([ids.slice(0, 1)], [ids.slice(1)], 0);
  const [lp, ent] = tf.tidy(() => {
    const r = responseLogProbs(params, cfg, batch, 1, { entropy: true });
    return [r.logprobs, r.entropy!];
  });
  const res = { logprobs: Array.from(lp.dataSync()), entropies: Array.from(ent.dataSync()) };
  tf.dispose([lp, ent]);
  return res;
}
