/**
 * DPO hyperparameters, one line each, with TRL's DPOConfig names where TRL has one. Defaults are
 * sized for the embedded tiny model on a CPU.
 */
import { z } from 'zod';

export const DPOConfigSchema = z
  .object({
    epochs: z.number().int().positive().default(1).describe('passes over the preference pairs'),
    max_steps: z.number().int().positive().nullable().default(null).describe('stop after this many steps (null = epochs over the pairs)'),
    batch_size: z.number().int().positive().default(16).describe('pairs per gradient step'),
    lr: z.number().positive().default(5e-5).describe('learning rate (Adam)'),
    lr_schedule: z.enum(['constant', 'linear', 'cosine']).default('constant').describe('learning-rate decay over the steps'),
    adam_eps: z.number().positive().default(1e-8).describe('Adam ε'),
    max_grad_norm: z.number().nonnegative().default(1).describe('clip the global gradient norm (0 = off)'),
    beta: z.number().positive().default(0.1).describe('β: strength of the KL to the reference (IPO: τ)'),
    loss_type: z.enum(['sigmoid', 'ipo', 'robust']).default('sigmoid').describe('sigmoid (DPO; cDPO with label_smoothing), ipo, robust (rDPO)'),
    label_smoothing: z.number().min(0).lt(0.5).default(0).describe('ε: probability a preference label is flipped (cDPO for sigmoid, rDPO for robust)'),
    max_completion_length: z.number().int().positive().default(32).describe('completion tokens kept (EOS included), the rest cut'),
    temperature: z.number().positive().default(1).describe('temperature of the probes (sampled KL, held-out reward, number distribution)'),
    tasks: z.array(z.string()).nullable().default(null).describe('train only on rankings of these tasks (null = all)'),
    probe_every: z.number().int().positive().default(10).describe('run the probes (number distribution, sampled KL, held-out pairs and reward) every N steps'),
    kl_samples: z.number().int().positive().default(64).describe('responses sampled at each probe for objective/kl (KL summed over a response)'),
    heldout_prompts: z.number().int().positive().default(48).describe('held-out prompts scored at each probe (with a reward model)'),
    checkpoint_every: z.number().int().positive().default(50).describe('write a resumable checkpoint every N steps'),
    number_prompt: z.string().default('Tell me a random integer between 0 and 99.\n').describe('the one-answer prompt of the random-number probe'),
  })
  .strict();

export type DPOConfig = z.infer<typeof DPOConfigSchema>;
