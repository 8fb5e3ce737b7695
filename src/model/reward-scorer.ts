/**
 * A trained reward model as a scoring function for PPO and the probes. Sequences are
 * prompt + response, with EOS appended when the response lacks one (the head was trained on the
 * EOS that ends every completion; a missing-EOS penalty, if configured, is PPO's business).
 * Optional gain/bias normalisation (lm-human-preferences): score = gain·R + bias, fitted so that
 * scores of reference samples have mean 0 and std 1.
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
  gain: number;
  bias: number;
  /** Raw rewards (before gain/bias). */
  raw(prompts: number[][], responses: number[][]): number[];
  /** gain·raw + bias. */
  score(prompts: number[][], responses: number[][]): number[];
  dispose(): void;
}

export async function loadRewardScorer(dir: string, maxLen?: number): Promise<RewardScorer> {
  const model = await loadModel(dir);
  const head = model.heads[REWARD_HEAD] as Tensor2D | undefined;
  if (!head) {
    disposeBundle(model);
    throw new Error(`${dir}: no reward head '${REWARD_HEAD}' — is this a reward model written by rlhf train-rm?`);
  }
  const reward = (model.rlhf.reward ?? {}) as { squash?: Squash };
  const squash: Squash = reward.squash ?? 'sigmoid';
  const eos = model.tokenizer.eosId;
  const L = maxLen ?? model.config.n_positions;
  const s: RewardScorer = {
    model,
    squash,
    gain: 1,
    bias: 0,
    raw(prompts, responses) {
      const seqs = prompts.map((p, i) => {
        const r = responses[i];
        return r.length && r[r.length - 1] === eos ? [...p, ...r] : [...p, ...r, eos];
      });
      const out: number[] = [];
      for (let i = 0; i < seqs.length; i += 128) {
        const b = makeRewardBatch(seqs.slice(i, i + 128), model.tokenizer.padId, L);
        const r = tf.tidy(() => rewardForward(model.params, head, model.config, b, squash));
        out.push(...(r.dataSync() as Float32Array));
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
