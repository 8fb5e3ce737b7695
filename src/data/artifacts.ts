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
  /** KL(policy ‖ reference) of the exact number-answer distributions (every tuning stage logs it: the matched-KL axis). */
  probeKlToReference: 'probe/kl_to_reference',
} as const;

// ---------------------------------------------------------------------------------------------
// GRPO / RLOO and DPO metrics (metrics.jsonl): TRL's GRPOTrainer / RLOOTrainer / DPOTrainer names,
// plus the names every policy-tuning stage shares with PPO so that runs compare side by side:
// objective/kl (KL summed over a sampled response, k1, mean over responses), objective/kl_coef,
// probe/* (the probes) and time/* (running totals of seconds per phase).
// ---------------------------------------------------------------------------------------------

export const GROUP_METRICS = {
  /** Mean reward-model score of the batch (before any KL term). */
  reward: 'reward',
  rewardStd: 'reward_std',
  /** Share of groups whose k rewards were all equal (no signal). */
  fracRewardZeroStd: 'frac_reward_zero_std',
  /** GRPO: masked mean of the per-token k3 term of the loss; RLOO: masked mean of the per-token k1 in the reward. */
  klPerToken: 'kl',
  /** Exact mean per-token entropy during the updates. */
  entropy: 'entropy',
  loss: 'loss',
  clipLowMean: 'clip_ratio/low_mean',
  clipHighMean: 'clip_ratio/high_mean',
  clipRegionMean: 'clip_ratio/region_mean',
  clipLowMin: 'clip_ratio/low_min',
  clipHighMax: 'clip_ratio/high_max',
  meanLength: 'completions/mean_length',
  /** Share of completions cut at max length (no EOS). */
  clippedRatio: 'completions/clipped_ratio',
  learningRate: 'learning_rate',
} as const;

export const DPO_METRICS = {
  loss: 'loss',
  rewardsChosen: 'rewards/chosen',
  rewardsRejected: 'rewards/rejected',
  rewardsAccuracies: 'rewards/accuracies',
  rewardsMargins: 'rewards/margins',
  logpsChosen: 'logps/chosen',
  logpsRejected: 'logps/rejected',
  learningRate: 'learning_rate',
  /** Held-out pairs (every probe_every steps). */
  evalLoss: 'eval/loss',
  evalRewardsAccuracies: 'eval/rewards/accuracies',
  evalRewardsMargins: 'eval/rewards/margins',
  /** Seconds spent on the reference log-probabilities (computed once, before training). */
  timeReference: 'time/reference',
} as const;

/**
 * Per algorithm, the metric that is "the reward" of its own training batches (DPO has none: it
 * never samples while training; its probe/heldout_reward, when a reward model is given, is the
 * comparable number).
 */
export const REWARD_METRIC = { ppo: PPO_METRICS.rewardMean, grpo: GROUP_METRICS.reward, rloo: GROUP_METRICS.reward, dpo: undefined } as const;
export type PolicyAlgorithm = keyof typeof REWARD_METRIC;
export const POLICY_ALGORITHMS = Object.keys(REWARD_METRIC) as PolicyAlgorithm[];

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
    /** The stage that wrote it (absent: ppo). GRPO and RLOO record this same objective. */
    algorithm: z.enum(['ppo', 'grpo', 'rloo']).optional(),
    /**
     * false when the run's update does not have π* as its exact fixed point (GRPO: the per-group
     * std scaling and the (k − 1)/k of the group mean rescale r, and k3 in the loss without the
     * ratio has the gradient of KL(π_ref ‖ π) per token; RLOO with normalize_advantages: the batch
     * std rescales r). π* is then the target of the objective as written, not where the run goes.
     */
    exact: z.boolean().optional(),
  })
  .strict();
export type PpoObjective = z.infer<typeof PpoObjectiveSchema>;

/**
 * DPO's objective. DPO maximises the same E[r] − β·KL(π ‖ π_ref), for its implicit reward
 * r(y) = β·log π_θ(y)/π_ref(y) + β·log Z(x): the reward under which the policy it learned is optimal.
 * Its π* ∝ π_ref·exp(r/β) = π_ref·π_θ/π_ref = π_θ over whole responses, for every β: the DPO
 * policy is, by construction, the optimum of its own implicit reward. On the number prompt the
 * probe computes it exactly with r(n) = β·(log π_θ − log π_ref)("n" + EOS) against π_ref(n) over
 * every ending, so KL(π_θ ‖ π*) is not 0 by definition: it measures how much of DPO's change sits
 * in how the answer ends rather than in which number it is (a consistency check). The comparison
 * with a reward model's π* (the PPO run's) is the one that says where DPO went.
 */
export const DpoObjectiveSchema = z
  .object({
    kind: z.literal('dpo-implicit'),
    beta: z.number().positive(),
    temperature: z.number().positive(),
  })
  .strict();
export type DpoObjective = z.infer<typeof DpoObjectiveSchema>;

/** The objective in a DPO output directory's summary.json. */
export function readDpoObjective(dpoDir: string): DpoObjective {
  const file = path.join(dpoDir, 'summary.json');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read the DPO summary (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); is ${dpoDir} the output of a finished rlhf dpo run?`);
  }
  const parsed = DpoObjectiveSchema.safeParse((raw as { objective?: unknown })?.objective);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new Error(`${file}: objective.${i.path.join('.')}: ${i.message}`);
  }
  return parsed.data;
}

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
    /** Which reward π* is built from: a reward model's, or DPO's implicit one (absent in older probes: a reward model's). */
    optimum_kind?: 'reward-model' | 'dpo-implicit';
    /**
     * A second π* to compare with (a DPO policy against the PPO run's π*): that objective's β and
     * reward, π* and the KLs. Absent when not asked for.
     */
    compare?: { beta: number; reward: { model: string; gain: number; bias: number }; optimum: number[]; kl_policy_optimum: number; kl_reference_optimum: number };
  };
  temperature: { t_star: number; kl_at_t_star: number; kl_at_one: number };
  attractor: { policy: number; reference: number; tested: number };
  diversity: { before: DiversityView; after: DiversityView };
  entropy: { before: { exact: number; sampled: number; tokens: number }; after: { exact: number; sampled: number; tokens: number } };
}
