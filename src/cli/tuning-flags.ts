/** The inputs and output every reward-driven tuning command (ppo, grpo, rloo) takes, one definition. */
import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { DATA_DIR, DEFAULT_MODEL } from '../paths';

/** policy, reward model, prompts, held-out prompts, output directory, and --config FILE for `section`'s keys. */
export function tuningInputFlags(name: string, section: string) {
  return {
    policy: Flags.string({ description: 'SFT policy directory (also the reference)', default: DEFAULT_MODEL }),
    'reward-model': Flags.string({ description: 'reward model directory (rlhf train-rm OUT/model)', required: true }),
    prompts: Flags.string({ description: 'training prompts (JSONL)', default: path.join(DATA_DIR, 'tasks', 'prompts-train.jsonl') }),
    heldout: Flags.string({ description: 'held-out prompts for the held-out reward', default: path.join(DATA_DIR, 'tasks', 'prompts-heldout.jsonl') }),
    out: Flags.string({ char: 'o', description: 'output directory', required: true }),
    config: Flags.string({ description: `YAML file with ${name} hyperparameters (the keys of the ${section} config section)` }),
  };
}
