/**
 * The language-modelling loss: mean negative log-likelihood of the next token over the positions
 * a loss mask selects (all real tokens for pretraining, response tokens only for SFT).
 */
import { tf, Tensor2D, Tensor1D, Scalar } from '../backend/tf';
import { GPT2Config } from './config';
import { forward, lmHead, Params, targetLogProbs } from './gpt2';

export interface LMBatch {
  /** [B, T] token ids (right-padded). */
  ids: Int32Array;
  /** [B, T] 1 for real tokens. */
  mask: Float32Array;
  /** [B, T] 1 where the token at t is a prediction target (its logit comes from position t−1). */
  lossMask: Float32Array;
  B: number;
  T: number;
}

/** Mean NLL over target tokens, and the number of targets. */
export function lmLoss(params: Params, cfg: GPT2Config, batch: LMBatch): Scalar {
  const { B, T } = batch;
  const ids = tf.tensor2d(batch.ids, [B, T], 'int32');
  const { hidden } = forward(params, cfg, ids, { attentionMask: tf.tensor2d(batch.mask, [B, T]) });
  // Predict token t+1 from position t: drop the last position's hidden state and the first target.
  const h = hidden.slice([0, 0, 0], [B, T - 1, cfg.n_embd]).reshape([B * (T - 1), cfg.n_embd]) as Tensor2D;
  const targets = ids.slice([0, 1], [B, T - 1]).reshape([-1]) as Tensor1D;
  const w = tf.tensor2d(batch.lossMask, [B, T]).slice([0, 1], [B, T - 1]).reshape([-1]);
  const lp = targetLogProbs(lmHead(params, h), targets);
  return tf.div(tf.neg(tf.sum(tf.mul(lp, w))), tf.maximum(tf.sum(w), 1)) as Scalar;
}

/** Build a right-padded batch from (context, target) token lists; loss on the target part only. */
export function makeLMBatch(rows: { context: number[]; target: number[] }[], padId: number, maxLen: number): LMBatch {
  const seqs = rows.map((r) => [...r.context, ...r.target].slice(0, maxLen));
  const T = Math.max(2, ...seqs.map((s) => s.length));
  const B = rows.length;
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Float32Array(B * T);
  const lossMask = new Float32Array(B * T);
  seqs.forEach((s, b) => {
    ids.set(s, b * T);
    mask.fill(1, b * T, b * T + s.length);
    const start = Math.min(rows[b].context.length, s.length);
    lossMask.fill(1, b * T + Math.max(1, start), b * T + s.length);
  });
  return { ids, mask, lossMask, B, T };
}
