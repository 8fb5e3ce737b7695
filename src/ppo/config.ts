/**
 * PPO hyperparameters, every one named in one place with a one-line description (CleanRL style),
 * with TRL's / lm-human-preferences' names and defaults where they have one. Defaults are sized for
 * the embedded tiny model on a CPU; configs/hh-rlhf-gpt2.yaml shows GPT-2-124M settings.
 */
import { z } from 'zod';

export const PPOConfigSchema = z
  .object({
    iterations: z.number().int().positive().default(40).describe('rollout + update cycles'),
    batch_size: z.number().int().positive().default(64).describe('rollouts (prompt, response) per iteration'),
    mini_batch_size: z.number().int().positive().default(16).describe('rollouts per gradient step'),
    ppo_epochs: z.number().int().positive().default(4).describe('passes over each rollout batch'),
    lr: z.number().positive().default(1e-4).describe('learning rate (Adam)'),
    lr_schedule: z.enum(['constant', 'linear', 'cosine']).default('constant').describe('learning-rate decay over iterations'),
    adam_eps: z.number().positive().default(1e-5).describe('Adam ε, a TF-style constant as in lm-human-preferences and TRL'),
    max_grad_norm: z.number().nonnegative().default(1).describe('clip the global gradient norm (0 = off)'),
    temperature: z.number().positive().default(1).describe('sampling temperature; policy and reference log-probs use logits / T'),
    response_length: z.number().int().positive().default(16).describe('longest response in tokens'),
    missing_eos_penalty: z.number().nullable().default(null).describe('subtract this from the score of responses without EOS (TRL); null = off'),
    kl_estimator: z.enum(['k1', 'k3']).default('k1').describe('per-token KL: k1 = log π − log π_ref, k3 = (r − 1) − log r'),
    init_kl_coef: z.number().nonnegative().default(0.1).describe('β at the start (the fixed β when adaptive is off)'),
    adaptive_kl: z.boolean().default(true).describe('adapt β toward target KL (Ziegler et al. 2019)'),
    target_kl: z.number().positive().default(2).describe('target of the adaptive controller: KL summed over a response, nats'),
    kl_horizon: z.number().positive().default(2000).describe('horizon of the adaptive controller (in rollouts)'),
    gamma: z.number().min(0).max(1).default(1).describe('discount'),
    lam: z.number().min(0).max(1).default(0.95).describe('GAE λ'),
    cliprange: z.number().positive().default(0.2).describe('policy ratio clip ε'),
    cliprange_value: z.number().positive().default(0.2).describe('value clip around the old values'),
    vf_coef: z.number().nonnegative().default(0.1).describe('weight of the value loss'),
    whiten_rewards: z.boolean().default(false).describe('whiten per-token rewards before GAE'),
    whiten_advantages: z.boolean().default(true).describe('whiten advantages per batch before the policy loss (TRL; CleanRL norm_adv)'),
    value_model: z.enum(['shared', 'separate']).default('shared').describe('value head on the policy trunk, or a separate critic (a copy of the SFT trunk)'),
    reward_norm: z.boolean().default(false).describe('normalise scores to mean 0, std 1 on reference samples (gain/bias, lm-human-preferences)'),
    reward_norm_samples: z.number().int().positive().default(128).describe('reference samples used to fit the gain and bias'),
    probe_every: z.number().int().positive().default(5).describe('run the probes (random-number distribution, KL to π*, held-out reward) every N iterations'),
    heldout_prompts: z.number().int().positive().default(48).describe('held-out prompts scored at each probe'),
    checkpoint_every: z.number().int().positive().default(10).describe('write a resumable checkpoint every N iterations'),
    tasks: z.array(z.string()).nullable().default(null).describe('train only on prompts of these tasks (null = all)'),
    number_prompt: z.string().default('Tell me a random integer between 0 and 99.\n').describe('the one-answer prompt of the random-number probe'),
    number_prompt_only: z
      .boolean()
      .default(false)
      .describe('roll out on number_prompt alone: a one-prompt bandit whose KL-regularised optimum π* is exactly the one the probe computes'),
  })
  .strict();

export type PPOConfig = z.infer<typeof PPOConfigSchema>;
