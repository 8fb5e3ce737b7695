/**
 * The reward model: a GPT-2 trunk and a scalar head on the hidden state of the last real token
 * (the EOS that ends every completion), R(x, y) = w·h_last, squashed to (0, 1) by a sigmoid as in
 * Song et al. (2023) or left raw. The head is Hugging Face's `score.weight` [1, C]
 * (GPT2ForSequenceClassification, num_labels = 1), so the directory also loads in transformers.
 */
import { tf, Tensor1D, Tensor2D, Tensor3D } from '../backend/tf';
import { GPT2Config } from '../model/config';
import { forward, ForwardOptions, Params } from '../model/gpt2';
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
  const rows = seqs.map((s) => truncateEnd(s, maxLen)); // keep the end (the EOS)
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
 * The input of the trainable top when the lower blocks are frozen: the residual stream entering
 * block `start`, [N, T, C] for the batch's rows (see FrozenLowerCache).
 */
export interface TopInput {
  start: number;
  hidden: Tensor3D;
}

/**
 * Rewards [N] for a batch, R = w·h_last: the final hidden state of each row's last real token.
 * The last block computes only that position (forward's `pick`, a one-hot over positions: a
 * gather's gradient would need UnsortedSegmentSum, which wasm lacks), which is exact and makes the
 * last block several times cheaper. With `top`, only blocks top.start … n_layer − 1 run, on the
 * cached residual stream.
 */
export function rewardForward(params: Params, head: Tensor2D, cfg: GPT2Config, b: RewardBatch, squash: Squash, top?: TopInput): Tensor1D {
  const ids = tf.tensor2d(b.ids, [b.N, b.T], 'int32');
  const attentionMask = tf.tensor2d(b.mask, [b.N, b.T]);
  const pick = tf.tensor2d(b.last, [b.N, b.T]);
  const opts: ForwardOptions = top ? { attentionMask, layers: [top.start, cfg.n_layer], hiddenIn: top.hidden } : { attentionMask };
  // With no block to run (train_layers = 0) there is nothing to pick inside forward: pick after.
  const runsBlocks = !top || top.start < cfg.n_layer;
  const { hidden } = forward(params, cfg, ids, runsBlocks ? { ...opts, pick } : opts);
  const hLast = (runsBlocks ? hidden.reshape([b.N, cfg.n_embd]) : tf.sum(tf.mul(hidden, pick.reshape([b.N, b.T, 1])), 1)) as Tensor2D; // [N, C]
  const logit = matmul(hLast, tf.transpose(head) as Tensor2D).reshape([b.N]) as Tensor1D; // head [1, C]
  return squash === 'sigmoid' ? (tf.sigmoid(logit) as Tensor1D) : logit;
}

/**
 * The frozen lower blocks' output, computed once. When only the top blocks (and ln_f, the head)
 * train, the embeddings and blocks 0 … start − 1 never change, so the residual stream entering
 * block `start` is a constant of each sequence: compute it once, forward only, and feed batches of
 * it to the top with tf.gather. The cache is not a variable and no gradient flows into it (so the
 * gather needs no UnsortedSegmentSum on wasm).
 *
 * Rows are right-padded (makeRewardBatch), so a real token never attends to padding and its
 * hidden state does not depend on how wide the batch was: the cache is built at the widest row
 * (Tmax) and each batch is cut back to its own width T. Memory: rows · Tmax · C floats.
 */
export class FrozenLowerCache {
  /** [M, Tmax, C] residual stream entering block `start`, one row per sequence. */
  readonly hidden: Tensor3D;
  readonly Tmax: number;

  constructor(
    params: Params,
    cfg: GPT2Config,
    /** Every sequence the top will see (train and held-out), already cut to maxLen or not. */
    seqs: number[][],
    padId: number,
    maxLen: number,
    readonly start: number,
    chunkRows = 128,
  ) {
    const rows = seqs.map((s) => truncateEnd(s, maxLen));
    this.Tmax = Math.max(1, ...rows.map((s) => s.length));
    const parts: Tensor3D[] = [];
    for (let i = 0; i < rows.length; i += chunkRows) {
      const b = makeRewardBatch(rows.slice(i, i + chunkRows), padId, maxLen);
      parts.push(
        tf.tidy(() => {
          const { hidden } = forward(params, cfg, tf.tensor2d(b.ids, [b.N, b.T], 'int32'), {
            attentionMask: tf.tensor2d(b.mask, [b.N, b.T]),
            layers: [0, start],
            finalNorm: false,
          });
          return (b.T < this.Tmax ? tf.pad(hidden, [[0, 0], [0, this.Tmax - b.T], [0, 0]]) : hidden) as Tensor3D;
        }),
      );
    }
    this.hidden = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as Tensor3D);
    if (parts.length > 1) tf.dispose(parts);
  }

  /** The top's input for rows `idx` of the cache, cut to width T: [n, T, C]. */
  input(idx: number[], T: number): TopInput {
    const hidden = tf.tidy(() => {
      const g = tf.gather(this.hidden, tf.tensor1d(idx, 'int32')) as Tensor3D;
      return (T < this.Tmax ? tf.slice(g, [0, 0, 0], [idx.length, T, g.shape[2]]) : g) as Tensor3D;
    });
    return { start: this.start, hidden };
  }

  dispose(): void {
    this.hidden.dispose();
  }
}

/** Keep the last maxLen tokens (the completion's end and the EOS, where the reward is read). */
export function truncateEnd(s: number[], maxLen: number): number[] {
  return s.length > maxLen ? s.slice(s.length - maxLen) : s;
}

/** A fresh head: small random weights (seeded), as transformers initialises `score`. */
export function initRewardHead(cfg: GPT2Config, seed: number): Float32Array {
  const rng = new Rng(`reward-head:${seed}`);
  return Float32Array.from({ length: cfg.n_embd }, () => rng.normal() * 0.02);
}
