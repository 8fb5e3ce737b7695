/**
 * Scoring given text: per-token log-probabilities and exact entropies of continuations under a
 * model, with logits divided by a temperature T (PPO scores policy and reference at the sampling
 * temperature). Used by `rlhf logprobs`, the random-number probe and PPO.
 */
import { tf, Tensor1D, Tensor2D, Tensor3D } from '../backend/tf';
import { GPT2Config } from './config';
import { forward, lmHead, Params, targetLogProbs, logitsEntropy } from './gpt2';
import { packQueryResponse, QueryResponseBatch } from './batch';



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
  const entropy = opts.entropy ? (logitsEntropy(logits).reshape([B, R]) as Tensor2D) : undefined;
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
