/**
 * The probes every policy-tuning trainer (PPO, GRPO, RLOO, DPO) logs every probe_every steps, one
 * definition for all of them so the report compares like with like:
 *   the exact distribution of answers 0–99 to the number prompt (entropy, its share of log 100, top answer),
 *   KL(policy ‖ π*) to the trainer's own optimum, KL(policy ‖ reference) of those distributions,
 *   and the reward model's mean score of the policy's answers to held-out prompts.
 */
import { ModelBundle } from '../model/checkpoint';
import { Params } from '../model/gpt2';
import { generate } from '../model/generate';
import { numberScores } from '../model/number-answers';
import { RewardScorer } from '../model/reward-scorer';
import { mean } from '../metrics/distribution';
import { klDivergence } from '../metrics/numbers';
import { PPO_METRICS as M } from '../data/artifacts';
import { Rng } from '../util/rng';

export interface NumberProbe {
  entropy: number;
  entropy_fraction: number;
  top: string;
  top_prob: number;
  kl_to_optimum: number;
  /** KL(policy ‖ reference) of the number-answer distributions (the matched-KL axis of the comparison). */
  kl_to_reference: number;
}

/**
 * The reward the trainer optimises (gain·R + bias) of each canonical answer "n" + EOS to the number
 * prompt, in the order of `candidates`: the r(n) of π* ∝ π_ref·exp(r/β).
 */
export function numberAnswerRewards(policy: ModelBundle, scorer: RewardScorer, prompt: string, candidates: readonly string[]): number[] {
  const tok = policy.tokenizer;
  const answers = candidates.map((c) => [...tok.encode(c), tok.eosId]);
  const context = tok.encode(prompt);
  return scorer.score(answers.map(() => context), answers);
}

/** The number-answer probe of `params` against π* (`optimum`) and the reference's answer distribution. */
export function numberProbe(policy: ModelBundle, params: Params, prompt: string, temperature: number, optimum: readonly number[], reference: ArrayLike<number>): NumberProbe {
  const pn = numberScores(policy, params, prompt, { temperature });
  const probs = Array.from(pn.dist.probs);
  return {
    entropy: pn.dist.entropy,
    entropy_fraction: pn.dist.entropyFraction,
    top: String(pn.dist.top),
    top_prob: pn.dist.topProb,
    kl_to_optimum: klDivergence(probs, [...optimum]),
    kl_to_reference: klDivergence(probs, Array.from(reference)),
  };
}

/**
 * The reward model's mean score of the policy's answers to `prompts` (encoded), sampled with a fixed
 * probe seed so points are comparable across steps; NaN without prompts.
 */
export function heldoutReward(policy: ModelBundle, params: Params, scorer: RewardScorer, prompts: number[][], o: { maxNewTokens: number; temperature: number; seed: number }): number {
  if (!prompts.length) return NaN;
  const tok = policy.tokenizer;
  const g = generate(params, policy.config, prompts, { maxNewTokens: o.maxNewTokens, temperature: o.temperature, eosId: tok.eosId, padId: tok.padId, rng: new Rng(`${o.seed}:heldout`) });
  return mean(scorer.score(prompts, g.tokens));
}

/** The probe's metrics under their names (data/artifacts.ts); the held-out reward only when measured. */
export function probeMetrics(p: NumberProbe & { heldout_reward?: number | null }): Record<string, number> {
  return {
    [M.probeEntropy]: p.entropy,
    [M.probeEntropyFraction]: p.entropy_fraction,
    [M.probeTopProb]: p.top_prob,
    [M.probeKlToOptimum]: p.kl_to_optimum,
    [M.probeKlToReference]: p.kl_to_reference,
    ...(p.heldout_reward !== undefined && p.heldout_reward !== null ? { [M.probeHeldoutReward]: p.heldout_reward } : {}),
  };
}
