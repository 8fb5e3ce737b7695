/** Settings of the probes, one place, one line each. */
import { z } from 'zod';

export const ProbeConfigSchema = z
  .object({
    number_prompt: z.string().default('Tell me a random integer between 0 and 99.\n').describe('the one-answer prompt'),
    temperature: z.number().positive().default(1).describe('temperature the policy samples at (and the reference, for π*)'),
    beta: z.number().positive().nullable().default(null).describe('β of the KL-regularised optimum (null: take it from the PPO summary, else skip π*)'),
    k: z.number().int().positive().default(8).describe('samples per prompt for the diversity probe'),
    max_prompts: z.number().int().positive().default(32).describe('prompts for the diversity and attractor probes'),
    max_new_tokens: z.number().int().positive().default(16).describe('longest sampled completion'),
    attractor_perturb_tokens: z.number().int().positive().default(1).describe('tokens replaced in the prefix'),
    attractor_ending_tokens: z.number().int().positive().default(3).describe('tokens that must match for an ending to count as converged'),
    attractor_task: z.string().default('topic-line').describe('task whose prompts the attractor test uses'),
  })
  .strict();
export type ProbeConfig = z.infer<typeof ProbeConfigSchema>;
