/**
 * What one stage writes and another (or the report) reads, declared once: metric names, and the
 * artifacts whose numbers a later stage needs, with the schema both sides use. A writer fills these
 * types; a reader parses with the schema, so a missing or malformed artifact is an error that names
 * the file and the field, never a silent null.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

/** An artifact as a tolerant reader sees it: every field of every object optional, null as missing. */
export type Lenient<T> = T extends null ? undefined : T extends (infer U)[] ? U[] : T extends object ? { [K in keyof T]?: Lenient<T[K]> } : T;

// ---------------------------------------------------------------------------------------------
// PPO metrics (metrics.jsonl): TRL's names where TRL has one
// ---------------------------------------------------------------------------------------------

export const PPO_METRICS = {
  /** KL(π ‖ π_ref) summed over a response, mean over the batch (nats). */
  kl: 'objective/kl',
  /** β, the KL coefficient used in this iteration's rewards. */
  klCoef: 'objective/kl_coef',
  /** −log π of the sampled tokens, summed over a response (nats). */
  entropy: 'objective/entropy',
  nonScoreReward: 'objective/non_score_reward',
  rlhfReward: 'objective/rlhf_reward',
  /** Exact mean per-token entropy during the updates. */
  policyEntropy: 'policy/entropy',
  approxKl: 'policy/approxkl',
  clipFrac: 'policy/clipfrac',
  ratioMean: 'policy/ratio_mean',
  policyLoss: 'loss/policy',
  valueLoss: 'loss/value',
  valueClipFrac: 'val/clipfrac',
  varExplained: 'val/var_explained',
  rewardMean: 'env/reward_mean',
  rewardStd: 'env/reward_std',
  rewardHist: 'env/reward_hist',
  eosFraction: 'env/eos_fraction',
  responseLength: 'env/response_length',
  /** Cumulative seconds per phase since the run (or its resume) started. */
  timeGeneration: 'time/generation',
  timeScoring: 'time/scoring',
  timeOptimization: 'time/optimization',
  tokensPerSecondGeneration: 'time/tokens_per_second/generation',
  tokensPerSecondScoring: 'time/tokens_per_second/scoring',
  tokensPerSecondOptimization: 'time/tokens_per_second/optimization',
  // The probes every probe_every iterations (and at step 0, before any update).
  probeEntropy: 'probe/entropy',
  probeEntropyFraction: 'probe/entropy_fraction',
  probeTopProb: 'probe/top_prob',
  probeKlToOptimum: 'probe/kl_to_optimum',
  probeHeldoutReward: 'probe/heldout_reward',
} as const;

// ---------------------------------------------------------------------------------------------
// The objective a PPO run optimised (ppo summary.json → the probe's π*)
// ---------------------------------------------------------------------------------------------

/**
 * What π* ∝ π_ref·exp(r/β) needs from a PPO run: the β it ended with (fixed β: the β it used),
 * the reward model it scored with and the normalisation it applied (r = gain·R + bias).
 */
export const PpoObjectiveSchema = z
  .object({
    beta: z.number().nonnegative(),
    reward_model: z.string(),
    gain: z.number(),
    bias: z.number(),
    temperature: z.number().positive(),
    adaptive_kl: z.boolean(),
  })
  .strict();
export type PpoObjective = z.infer<typeof PpoObjectiveSchema>;

/** The objective recorded in a PPO output directory's summary.json. */
export function readPpoObjective(ppoDir: string): PpoObjective {
  const file = path.join(ppoDir, 'summary.json');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read the PPO summary (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); is ${ppoDir} the output of a finished rlhf ppo run?`);
  }
  const parsed = PpoObjectiveSchema.safeParse((raw as { objective?: unknown })?.objective);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new Error(`${file}: objective.${i.path.join('.')}: ${i.message} (written by an older rlhf? re-run the PPO stage)`);
  }
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------
// probe.json
// ---------------------------------------------------------------------------------------------

export interface DiversityView {
  per_input: { n: number; distinct: number; ead: number }[];
  across_input: { n: number; distinct: number; ead: number }[];
  prompts: number;
}

export interface ProbeResult {
  random_number: {
    prompt: string;
    candidates: string[];
    reference: number[];
    policy: number[];
    /** π* of the objective the policy was tuned on, or null without one. */
    optimum: number[] | null;
    beta: number | null;
    /** The reward π* uses: r = gain·R + bias of the reward model's R. */
    reward: { model: string; gain: number; bias: number } | null;
    entropy: { reference: number; policy: number };
    entropy_fraction: { reference: number; policy: number };
    top: { reference: { answer: string; prob: number }; policy: { answer: string; prob: number } };
    valid_mass: { reference: number; policy: number };
    kl_policy_optimum: number | null;
    kl_reference_optimum: number | null;
    kl_policy_reference: number;
  };
  temperature: { t_star: number; kl_at_t_star: number; kl_at_one: number };
  attractor: { policy: number; reference: number; tested: number };
  diversity: { before: DiversityView; after: DiversityView };
  entropy: { before: { exact: number; sampled: number; tokens: number }; after: { exact: number; sampled: number; tokens: number } };
}
