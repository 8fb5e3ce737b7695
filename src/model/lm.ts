/**
 * The language-modelling loss: mean negative log-likelihood of the next token over the positions
 * a loss mask selects (all real tokens for pretraining, response tokens only for SFT).
 */
import { tf, Tensor2D, Tensor1D, Scalar } from '../backend/tf';
import { GPT2Config } from './config';
import { forward, lmHead, Params, targetLogProbs } from './gpt2';
import { LMBatch } from './batch';


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

