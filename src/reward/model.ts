/**
 * The reward model: a GPT-2 trunk and a scalar head on the hidden state of the last real token
 * (the EOS that ends every completion), R(x, y) = w·h_last, squashed to (0, 1) by a sigmoid as in
 * Song et al. (2023) or left raw. The head is Hugging Face's `score.weight` [1, C]
 * (GPT2ForSequenceClassification, num_labels = 1), so the directory also loads in transformers.
 */
import { tf, Tensor1D, Tensor2D, Tensor3D } from '../backend/tf';
import { GPT2Config } from '../model/config';
import { forward, Params } from '../model/gpt2';
import { matmul } from '../model/ops';
import { Rng } from '../util/rng';

export type Squash = 'sigmoid' | 'none';
export const REWARD_HEAD = 'score.weight';

export interface RewardBatch {
  /** [N, T] right-padded prompt + completion + EOS. */
  ids: Int32Array;
  mask: Float32Array;
  /** [N, T] one-hot of each row's last real token. */
  last: Float32Array;
  N: number;
  T: number;
}

export function makeRewardBatch(seqs: number[][], padId: number, maxLen: number): RewardBatch {
  const rows = seqs.map((s) => (s.length > maxLen ? s.slice(s.length - maxLen) : s)); // keep the end (the EOS)
  const N = rows.length;
  const T = Math.max(1, ...rows.map((s) => s.length));
  const ids = new Int32Array(N * T).fill(padId);
  const mask = new Float32Array(N * T);
  const last = new Float32Array(N * T);
  rows.forEach((s, i) => {
    ids.set(s, i * T);
    mask.fill(1, i * T, i * T + s.length);
    last[i * T + s.length - 1] = 1;
  });
  return { ids, mask, last, N, T };
}

/**
 * Rewards [N] for a batch. The last-token hidden state is picked by a one-hot weighted sum over
 * positions (a gather's gradient would need UnsortedSegmentSum, which wasm lacks).
 */
export function rewardForward(params: Params, head: Tensor2D, cfg: GPT2Config, b: RewardBatch, squash: Squash): Tensor1D {
  const { hidden } = forward(params, cfg, tf.tensor2d(b.ids, [b.N, b.T], 'int32'), { attentionMask: tf.tensor2d(b.mask, [b.N, b.T]) });
  const hLast = tf.sum(tf.mul(hidden as Tensor3D, tf.tensor3d(b.last, [b.N, b.T, 1])), 1) as Tensor2D; // [N, C]
  const logit = matmul(hLast, tf.transpose(head) as Tensor2D).reshape([b.N]) as Tensor1D; // head [1, C]
  return squash === 'sigmoid' ? (tf.sigmoid(logit) as Tensor1D) : logit;
}

/** A fresh head: small random weights (seeded), as transformers initialises `score`. */
export function initRewardHead(cfg: GPT2Config, seed: number): Float32Array {
  const rng = new Rng(`reward-head:${seed}`);
  return Float32Array.from({ length: cfg.n_embd }, () => rng.normal() * 0.02);
}
