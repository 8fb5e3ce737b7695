/** Hyperparameters of language-model training (pretrain and SFT), one place, one line each. */
import { z } from 'zod';

export const LMTrainConfigSchema = z
  .object({
    epochs: z.number().positive().default(3).describe('passes over the training examples'),
    max_steps: z.number().int().positive().optional().describe('train for this many steps (overrides epochs; the schedule spans them)'),
    stop_after: z.number().int().positive().optional().describe('stop early after this many steps without changing the schedule (reproducibility checks)'),
    batch_size: z.number().int().positive().default(32).describe('examples per optimiser step'),
    lr: z.number().positive().default(1e-3).describe('peak learning rate (Adam)'),
    schedule: z.enum(['constant', 'linear', 'cosine']).default('cosine').describe('learning-rate decay after warm-up'),
    warmup_steps: z.number().int().nonnegative().default(20).describe('linear warm-up steps'),
    weight_decay: z.number().nonnegative().default(0.0).describe('decoupled (AdamW) weight decay'),
    max_grad_norm: z.number().nonnegative().default(1.0).describe('clip the global gradient norm (0 = off)'),
    max_length: z.number().int().positive().default(96).describe('truncate examples to this many tokens'),
    eval_every: z.number().int().positive().default(50).describe('evaluate held-out loss every N steps'),
    checkpoint_every: z.number().int().positive().default(50).describe('write a resumable checkpoint every N steps'),
    seed: z.number().int().default(1).describe('seed for data order'),
  })
  .strict();

export type LMTrainConfig = z.infer<typeof LMTrainConfigSchema>;
