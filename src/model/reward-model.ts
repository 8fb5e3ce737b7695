/**
 * The reward model: a GPT-2 trunk and a scalar head on the hidden state of the last real token
 * (the EOS that ends every completion), R(x, y) = w·h_last, squashed to (0, 1) by a sigmoid as in
 * Song et al. (2023) or left raw. The head is Hugging Face's `score.weight` [1, C]
 * (GPT2ForSequenceClassification, num_labels = 1), so the directory also loads in transformers
 * and gives the same score there (saveRewardModel): transformers returns the logit w·h_last, and
 * rlhf's reward is sigmoid(logit) when the squash is 'sigmoid', the logit itself when 'none'.
 *
 * Which token is "last": rlhf knows each row's length (right padding, an attention mask) and reads
 * the last real token, the EOS. GPT2ForSequenceClassification has no mask for this: it reads the
 * rightmost token whose id is not config.json's pad_token_id. GPT-2 pads with EOS, and with
 * pad_token_id = EOS transformers skips the EOS and scores the token before it. So a reward model
 * is saved with a pad token of its own (`<|pad|>`, as the RLHF implementation-details literature
 * does: Huang et al. 2024, "The N+ implementation details of RLHF with PPO"), never EOS.
 */
import { tf, Tensor, Tensor1D, Tensor2D, Tensor3D } from '../backend/tf';
import { GPT2Config } from './config';
import { forward, ForwardOptions, LM_HEAD, Params } from './gpt2';
import { matmul } from './ops';
import { ModelBundle, saveModel, SaveOptions } from './checkpoint';
import { makeRewardBatch, RewardBatch, truncateEnd } from './batch';
import { TextTokenizer, tokenizerFromJson } from '../tokenizer/tokenizer';
import { Rng } from '../util/rng';

export type Squash = 'sigmoid' | 'none';
export const REWARD_HEAD = 'score.weight';



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


/** A fresh head: small random weights (seeded), as transformers initialises `score`. */
export function initRewardHead(cfg: GPT2Config, seed: number): Float32Array {
  const rng = new Rng(`reward-head:${seed}`);
  return Float32Array.from({ length: cfg.n_embd }, () => rng.normal() * 0.02);
}

/** The pad token a reward model gets when its tokenizer pads with EOS. */
export const REWARD_PAD_TOKEN = '<|pad|>';

/**
 * A model whose pad token is not EOS, for GPT2ForSequenceClassification's pooling (see the top of
 * this file). When the tokenizer already pads with a token of its own, nothing changes. Otherwise
 * `<|pad|>` becomes the pad token: an id the vocabulary leaves unused if there is one (a padded
 * vocab_size), else a new id V, with a zero row appended to the embedding (and to an untied
 * lm_head.weight) and vocab_size V + 1. The row is never read for a real token: rlhf masks padding,
 * and with right padding transformers' causal attention never lets a real token see it.
 * Returns new tensors in `created` for the caller to dispose.
 */
export function withDistinctPad(m: Pick<ModelBundle, 'config' | 'params' | 'tokenizer'>): Pick<ModelBundle, 'config' | 'params' | 'tokenizer'> & { created: Tensor[] } {
  const tok = m.tokenizer;
  if (tok.padId !== tok.eosId) return { ...m, created: [] };
  const existing = tok.tokenToId(REWARD_PAD_TOKEN);
  let id = existing ?? tok.vocabSize;
  let config = m.config;
  const params: Params = { ...m.params };
  const created: Tensor[] = [];
  if (existing === undefined && id >= m.config.vocab_size) {
    id = m.config.vocab_size;
    config = { ...m.config, vocab_size: id + 1 };
    for (const name of ['transformer.wte.weight', LM_HEAD]) {
      const w = m.params[name];
      if (!w) continue;
      params[name] = tf.tidy(() => tf.concat([w, tf.zeros([1, w.shape[1]!])], 0));
      created.push(params[name]);
    }
  }
  let tokenizer: TextTokenizer;
  if (existing !== undefined) tokenizer = tokenizerFromJson(tok.json, { ...tok.config, pad_token: REWARD_PAD_TOKEN });
  else {
    const json = structuredClone(tok.json) as { added_tokens: object[] };
    json.added_tokens.push({ id, content: REWARD_PAD_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    tokenizer = tokenizerFromJson(json, { ...tok.config, pad_token: REWARD_PAD_TOKEN });
  }
  if (tokenizer.padId !== id) throw new Error(`reward model: the pad token ${REWARD_PAD_TOKEN} got id ${tokenizer.padId}, expected ${id}`);
  return { config, params, tokenizer, created };
}

/**
 * Save a reward model (the trunk, `score.weight` among the heads, the squash under rlhf.reward)
 * so that transformers' GPT2ForSequenceClassification.from_pretrained(dir) returns its logit:
 * architectures GPT2ForSequenceClassification, num_labels 1, and pad_token_id a token other than
 * EOS (withDistinctPad).
 */
export async function saveRewardModel(dir: string, m: Omit<ModelBundle, 'source'>, opts: SaveOptions = {}): Promise<void> {
  if (!m.heads[REWARD_HEAD]) throw new Error(`saveRewardModel: no reward head '${REWARD_HEAD}'`);
  const padded = withDistinctPad(m);
  try {
    await saveModel(dir, { ...m, ...padded }, {
      ...opts,
      configExtra: { ...opts.configExtra, architectures: ['GPT2ForSequenceClassification'], num_labels: 1, pad_token_id: padded.tokenizer.padId },
    });
  } finally {
    tf.dispose(padded.created);
  }
}
