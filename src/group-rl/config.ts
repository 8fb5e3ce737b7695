/**
 * GRPO and RLOO hyperparameters, one line each, with TRL's names (GRPOConfig / RLOOConfig) where TRL
 * has one. Both sample k = num_generations completions per prompt; the batch is batch_size
 * completions (batch_size / k prompts). Defaults are sized for the embedded tiny model on a CPU.
 */
import { z } from 'zod';

const shared = {
  iterations: z.number().int().positive().default(40).describe('generation + update cycles'),
  batch_size: z.number().int().positive().default(64).describe('completions per iteration (batch_size / num_generations prompts)'),
  num_generations: z.number().int().min(2).default(8).describe('k: completions sampled per prompt (the group)'),
  mini_batch_size: z.number().int().positive().default(64).describe('completions per gradient step (TRL: batch_size / steps_per_generation)'),
  num_iterations: z.number().int().positive().default(1).describe('μ: passes over each generation batch (1 = on-policy)'),
  lr: z.number().positive().default(1e-4).describe('learning rate (Adam)'),
  lr_schedule: z.enum(['constant', 'linear', 'cosine']).default('constant').describe('learning-rate decay over iterations'),
  adam_eps: z.number().positive().default(1e-5).describe('Adam ε'),
  max_grad_norm: z.number().nonnegative().default(1).describe('clip the global gradient norm (0 = off)'),
  temperature: z.number().positive().default(1).describe('sampling temperature; log-probs use logits / T'),
  response_length: z.number().int().positive().default(16).describe('max_completion_length: longest completion in tokens'),
  missing_eos_penalty: z.number().nullable().default(null).describe('subtract this from the score of completions without EOS; null = off'),
  epsilon: z.number().positive().default(0.2).describe('ε_low of the ratio clip'),
  epsilon_high: z.number().positive().nullable().default(null).describe('ε_high of the ratio clip (null = epsilon; DAPO uses 0.28)'),
  reward_norm: z.boolean().default(false).describe('normalise scores to mean 0, std 1 on reference samples (gain/bias)'),
  reward_norm_samples: z.number().int().positive().default(128).describe('reference samples used to fit the gain and bias'),
  probe_every: z.number().int().positive().default(5).describe('run the probes (random-number distribution, KL to π*, held-out reward) every N iterations'),
  heldout_prompts: z.number().int().positive().default(48).describe('held-out prompts scored at each probe'),
  checkpoint_every: z.number().int().positive().default(10).describe('write a resumable checkpoint every N iterations'),
  tasks: z.array(z.string()).nullable().default(null).describe('train only on prompts of these tasks (null = all)'),
  number_prompt: z.string().default('Tell me a random integer between 0 and 99.\n').describe('the one-answer prompt of the random-number probe'),
};

export const GRPOConfigSchema = z
  .object({
    ...shared,
    beta: z.number().nonnegative().default(0.04).describe('β of the k3 KL term in the loss (DeepSeekMath 0.04; TRL defaults to 0)'),
    scale_rewards: z.enum(['group', 'batch', 'none']).default('group').describe('divide centred rewards by the std of the group, of the batch, or not (Dr. GRPO)'),
    loss_type: z.enum(['grpo', 'bnpo', 'dr_grpo', 'dapo']).default('grpo').describe('token averaging: per sequence (paper), per batch, by B·max length, by generation-batch tokens'),
    kl_bias_correction: z.boolean().default(false).describe('TRL use_bias_correction_kl: k3 times the ratio'),
  })
  .strict();

export const RLOOConfigSchema = z
  .object({
    ...shared,
    num_generations: z.number().int().min(2).default(4).describe('k: completions sampled per prompt (the group)'),
    beta: z.number().nonnegative().default(0.05).describe('β of the KL in the reward: r − β·Σₜ(log π_old − log π_ref)'),
    normalize_advantages: z.boolean().default(false).describe('whiten the leave-one-out advantages over the batch'),
  })
  .strict();

export type GRPOConfig = z.infer<typeof GRPOConfigSchema>;
export type RLOOConfig = z.infer<typeof RLOOConfigSchema>;
export type GroupAlgorithm = 'grpo' | 'rloo';
/** The trainer takes either, told apart by `algorithm`. */
export type GroupConfig = ({ algorithm: 'grpo' } & GRPOConfig) | ({ algorithm: 'rloo' } & RLOOConfig);
