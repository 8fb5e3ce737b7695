/** Flags shared by pretrain and sft (the names of LMTrainConfig), and the sampling flags' checks. Not a command. */
import { Flags } from '@oclif/core';
import { LMTrainConfig } from '../sft/config';
import { UsageError } from './errors';

export function lmTrainFlags(d: { epochs: number; lr: string; batch: number; warmup: number }) {
  return {
    'warmup-steps': Flags.integer({ description: 'linear learning-rate warm-up steps', default: d.warmup }),
    'stop-after': Flags.integer({ description: 'stop after N steps without changing the schedule (to check reproducibility)' }),
    epochs: Flags.string({ description: 'passes over the data', default: String(d.epochs) }),
    'max-steps': Flags.integer({ description: 'stop after this many steps (overrides --epochs)' }),
    'batch-size': Flags.integer({ description: 'examples per step', default: d.batch }),
    lr: Flags.string({ description: 'peak learning rate', default: d.lr }),
    'checkpoint-every': Flags.integer({ description: 'write a resumable checkpoint every N steps', default: 50 }),
  };
}

export function lmTrainFromFlags(f: { epochs: string; 'max-steps'?: number; 'batch-size': number; lr: string; 'checkpoint-every': number; 'warmup-steps': number; 'stop-after'?: number }): Partial<LMTrainConfig> {
  const num = (name: string, v: string) => {
    const x = Number(v);
    if (!Number.isFinite(x) || x <= 0) throw new Error(`--${name}: expected a positive number, got ${JSON.stringify(v)}`);
    return x;
  };
  return {
    epochs: num('epochs', f.epochs),
    max_steps: f['max-steps'],
    batch_size: f['batch-size'],
    lr: num('lr', f.lr),
    checkpoint_every: f['checkpoint-every'],
    warmup_steps: f['warmup-steps'],
    stop_after: f['stop-after'],
  };
}

/**
 * The sampling flags of generate and sample as numbers, checked: --temperature ≥ 0, --top-p in
 * (0, 1], --top-k ≥ 0 and --max-new-tokens ≥ 1 (the integer ones also have oclif `min`s, so a bad
 * value is refused before any work either way). A bad value is a UsageError naming the flag.
 */
export function samplingFromFlags(f: { temperature: string; 'top-p': string; 'top-k': number; 'max-new-tokens': number }): { temperature: number; topP: number; topK: number; maxNewTokens: number } {
  const temperature = Number(f.temperature);
  const topP = Number(f['top-p']);
  if (f.temperature.trim() === '' || !Number.isFinite(temperature) || temperature < 0) throw new UsageError(`--temperature must be a number ≥ 0 (0 = greedy), got ${JSON.stringify(f.temperature)}`);
  if (f['top-p'].trim() === '' || !(topP > 0 && topP <= 1)) throw new UsageError(`--top-p must be a number in (0, 1] (1 = off), got ${JSON.stringify(f['top-p'])}`);
  if (!Number.isInteger(f['top-k']) || f['top-k'] < 0) throw new UsageError(`--top-k must be an integer ≥ 0 (0 = off), got ${f['top-k']}`);
  if (!Number.isInteger(f['max-new-tokens']) || f['max-new-tokens'] < 1) throw new UsageError(`--max-new-tokens must be an integer ≥ 1, got ${f['max-new-tokens']}`);
  return { temperature, topP, topK: f['top-k'], maxNewTokens: f['max-new-tokens'] };
}
