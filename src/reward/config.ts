/** Hyperparameters of reward-model training, one place, one line each. */
import { z } from 'zod';

export const RewardTrainConfigSchema = z
  .object({
    utility: z.unknown().default('logsigmoid').describe("U of d = R(better) − R(worse): a name, {name, gamma, scale, epsilon}, or 'prompt-aware' / {name: prompt-aware, open, closed, tasks}"),
    squash: z.enum(['sigmoid', 'none']).default('sigmoid').describe('sigmoid: rewards in (0, 1) as in the paper; none: the raw head output'),
    epochs: z.number().positive().default(30).describe('passes over the training prompts (train into the terminal phase on purpose)'),
    batch_prompts: z.number().int().positive().default(8).describe('prompts per step; all of a prompt\'s completions and pairs are in the same step'),
    lr: z.number().positive().default(1e-3).describe('peak learning rate (Adam)'),
    schedule: z.enum(['constant', 'linear', 'cosine']).default('constant').describe('learning-rate decay after warm-up'),
    warmup_steps: z.number().int().nonnegative().default(10).describe('linear warm-up steps'),
    weight_decay: z.number().nonnegative().default(0).describe('decoupled weight decay'),
    max_grad_norm: z.number().nonnegative().default(1).describe('clip the global gradient norm (0 = off)'),
    max_length: z.number().int().positive().default(64).describe('longest prompt + completion in tokens (the end is kept)'),
    train_layers: z.union([z.literal('all'), z.number().int().nonnegative()]).default('all').describe("train every block, or only the last N blocks (+ ln_f and the head)"),
    cache_frozen: z.boolean().default(true).describe('with train_layers < n_layer: compute the frozen lower blocks\' output once per sequence and run only the top at each step (same numbers, much faster)'),
    eval_every: z.number().positive().default(2).describe('diagnostics (reward-vs-rank curves, collapse score, accuracy) every N epochs'),
    early_stopping: z
      .union([z.literal(false), z.object({ patience: z.number().int().positive(), min_delta: z.number().nonnegative() }).strict()])
      .default(false)
      .describe('stop when the train loss has not improved by min_delta for `patience` evaluations (off by default: the collapse shows at the end of training)'),
    eval_heldout: z.boolean().default(true).describe('score the held-out prompts at every evaluation too (they are always scored at the end)'),
    checkpoint_every: z.number().int().positive().default(100).describe('write a resumable checkpoint every N steps'),
    seed: z.number().int().default(1).describe('seed for the head initialisation and data order'),
  })
  .strict();

export type RewardTrainConfig = z.infer<typeof RewardTrainConfigSchema>;
