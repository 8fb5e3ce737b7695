/** Settings of the sampling stage, one place, one line each. */
import { z } from 'zod';
import { DEFAULT_NUMBER_PROMPT } from '../model/number-answers';

export const SampleConfigSchema = z
  .object({
    k: z.number().int().positive().default(8).describe('completions per prompt'),
    temperature: z.number().nonnegative().default(1).describe('sampling temperature (0 = greedy)'),
    top_k: z.number().int().nonnegative().default(0).describe('keep the k most likely tokens (0 = off)'),
    top_p: z.number().positive().max(1).default(1).describe('nucleus sampling mass (1 = off)'),
    max_new_tokens: z.number().int().positive().default(24).describe('longest completion'),
    batch_size: z.number().int().positive().default(64).describe('sequences generated at once'),
    max_prompts: z.number().int().positive().optional().describe('use only the first N prompts'),
    number_prompt: z.string().default(DEFAULT_NUMBER_PROMPT).describe('prompt whose exact number distribution is reported'),
  })
  .strict();
export type SampleConfig = z.infer<typeof SampleConfigSchema>;
