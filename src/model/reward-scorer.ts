/**
 * A trained reward model as a scoring function for PPO and the probes. Sequences are
 * prompt + response, with EOS appended when the response lacks one (the head was trained on the
 * EOS that ends every completion; a missing-EOS penalty, if configured, is PPO's business).
 * Optional gain/bias normalisation (lm-human-preferences): score = gain·R + bias, fitted so that
 * scores of reference samples have mean 0 and std 1.
 *
 * Reward models other engines wrote are read as those engines read them (readoutOf):
 *  - TRL / transformers GPT2ForSequenceClassification: the logit at the last token whose id is not
 *    config.json's pad_token_id. TRL pads GPT-2 with EOS, so that is the token before the EOS
 *    (TRL's RewardTrainer appends an EOS and its PPO's get_reward masks it; both read the last
 *    response token). rlhf's own reward models are read at their EOS, where they were trained
 *    (they are saved with a pad token of their own, so transformers reads the same token).
 *  - OpenRLHF (config.json `value_head_prefix`): the head `<prefix>.weight` at the last token (the
 *    EOS it appends), then (R − mean)/std when `normalize_reward` is set, with config.json's mean
 *    and std.
 *  - Without rlhf's `rlhf.reward` settings the reward is the raw logit (no sigmoid): that is what
 *    the engine trained and optimised.
 */
import { tf, Tensor2D } from '../backend/tf';
import { disposeBundle, loadModel, ModelBundle } from './checkpoint';
import { TextTokenizer } from '../tokenizer/tokenizer';
import { REWARD_HEAD, REWARD_PAD_TOKEN, rewardForward, Squash } from './reward-model';
import { makeRewardBatch } from './batch';
import { generate } from './generate';
import { Params } from './gpt2';
import { Rng } from '../util/rng';

export interface RewardScorer {
  model: ModelBundle;
  squash: Squash;
  /** How the score is read (a scorer built in code, e.g. a test's, may have none). */
  readout?: RewardReadout;
  gain: number;
  bias: number;
  /** Raw rewards (before gain/bias). */
  raw(prompts: number[][], responses: number[][]): number[];
  /** gain·raw + bias. */
  score(prompts: number[][], responses: number[][]): number[];
  dispose(): void;
}

/** How a reward model's score is read: its head, the padding id not to read at, the squash, an affine normalisation. */
export interface RewardReadout {
  head: string;
  /** Trailing tokens with this id are not read (transformers' "last non-pad token"); undefined: read the last token. */
  skipTrailing?: number;
  squash: Squash;
  /** (R − mean)/std after the squash (OpenRLHF's normalize_reward). */
  normalise?: { mean: number; std: number };
  /** Who wrote it, for messages and the probe's record. */
  writer: 'rlhf' | 'openrlhf' | 'transformers';
}

export function readoutOf(model: Pick<ModelBundle, 'rlhf' | 'hf' | 'source'>): RewardReadout {
  const hf = model.hf ?? {};
  const pad = typeof hf.pad_token_id === 'number' ? hf.pad_token_id : undefined;
  const reward = model.rlhf.reward as { squash?: Squash } | undefined;
  // rlhf's own: read at the EOS it trained on (it saves a pad token of its own, so transformers reads the same token).
  if (reward) return { head: REWARD_HEAD, squash: reward.squash ?? 'sigmoid', writer: 'rlhf' };
  if (typeof hf.value_head_prefix === 'string') {
    const { mean, std } = hf as { mean?: unknown; std?: unknown };
    const normalise = hf.normalize_reward === true ? { mean: Number(mean), std: Number(std) } : undefined;
    if (normalise && !(Number.isFinite(normalise.mean) && normalise.std > 0)) throw new Error(`${model.source}/config.json: normalize_reward is true but mean (${String(mean)}) and std (${String(std)}) are not a number and a positive number`);
    return { head: `${hf.value_head_prefix}.weight`, squash: 'none', normalise, writer: 'openrlhf' };
  }
  return { head: REWARD_HEAD, skipTrailing: pad, squash: 'none', writer: 'transformers' };
}

export async function loadRewardScorer(dir: string, maxLen?: number): Promise<RewardScorer> {
  const model = await loadModel(dir);
  let readout: RewardReadout;
  try {
    readout = readoutOf(model);
  } catch (err) {
    disposeBundle(model);
    throw err;
  }
  const head = model.heads[readout.head] as Tensor2D | undefined;
  if (!head || head.shape[0] !== 1) {
    disposeBundle(model);
    throw new Error(`${dir}: no reward head '${readout.head}' [1, ${model.config.n_embd}] — is this a reward model (rlhf train-rm, TRL's RewardTrainer or OpenRLHF's train_rm)?`);
  }
  const { squash, normalise, skipTrailing } = readout;
  const eos = model.tokenizer.eosId;
  const L = maxLen ?? model.config.n_positions;
  const s: RewardScorer = {
    model,
    squash,
    readout,
    gain: 1,
    bias: 0,
    raw(prompts, responses) {
      const seqs = prompts.map((p, i) => {
        const r = responses[i];
        const s = r.length && r[r.length - 1] === eos ? [...p, ...r] : [...p, ...r, eos];
        // transformers reads the last token that is not padding: with pad = EOS, the one before the EOS.
        let end = s.length;
        while (skipTrailing !== undefined && end > 1 && s[end - 1] === skipTrailing) end -= 1;
        return s.slice(0, end);
      });
      const out: number[] = [];
      for (let i = 0; i < seqs.length; i += 128) {
        const b = makeRewardBatch(seqs.slice(i, i + 128), model.tokenizer.padId, L);
        const r = tf.tidy(() => rewardForward(model.params, head, model.config, b, squash));
        const v = r.dataSync() as Float32Array;
        out.push(...(normalise ? Array.from(v, (x) => (x - normalise.mean) / normalise.std) : v));
        r.dispose();
      }
      return out;
    },
    score(prompts, responses) {
      return s.raw(prompts, responses).map((x) => s.gain * x + s.bias);
    },
    dispose() {
      disposeBundle(model);
    },
  };
  return s;
}

/**
 * Whether a reward model can score a policy's token ids: the same tokenizer, or the same one with
 * the reward model's own pad token after the policy's ids (saveRewardModel adds `<|pad|>` when the
 * policy pads with EOS).
 */
export function scoresPolicyTokens(rm: TextTokenizer, policy: TextTokenizer): boolean {
  if (rm.eosId !== policy.eosId) return false;
  if (rm.vocabSize === policy.vocabSize) return true;
  return rm.vocabSize === policy.vocabSize + 1 && rm.padId === policy.vocabSize && rm.idToToken(rm.padId) === REWARD_PAD_TOKEN;
}

/**
 * lm-human-preferences' reward normalisation: set the scorer's gain and bias so that its scores of the
 * reference policy's responses to `samples` prompts drawn from `prompts` have mean 0 and std 1.
 */
export function normaliseOnReference(
  scorer: RewardScorer,
  reference: Params,
  model: Pick<ModelBundle, 'config' | 'tokenizer'>,
  prompts: readonly number[][],
  o: { samples: number; responseLength: number; temperature: number; rng: Rng },
): void {
  const tok = model.tokenizer;
  const qs = Array.from({ length: o.samples }, () => prompts[o.rng.int(prompts.length)]);
  const g = generate(reference, model.config, qs, { maxNewTokens: o.responseLength, temperature: o.temperature, eosId: tok.eosId, padId: tok.padId, rng: o.rng });
  ({ gain: scorer.gain, bias: scorer.bias } = fitNormalisation(scorer.raw(qs, g.tokens)));
}

/** Fit gain and bias so that the given raw scores have mean 0 and std 1. */
export function fitNormalisation(raw: number[]): { gain: number; bias: number } {
  const m = raw.reduce((a, b) => a + b, 0) / raw.length;
  const sd = Math.sqrt(raw.reduce((a, b) => a + (b - m) ** 2, 0) / raw.length);
  const gain = sd > 1e-8 ? 1 / sd : 1;
  return { gain, bias: -m * gain };
}
