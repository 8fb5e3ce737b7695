/** Flags shared by pretrain and sft (the names of LMTrainConfig). Not a command. */
import { Flags } from '@oclif/core';
import { LMTrainConfig } from '../sft/config';

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
