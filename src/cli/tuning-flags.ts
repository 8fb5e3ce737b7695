/** The inputs and output every reward-driven tuning command (ppo, grpo, rloo) takes, one definition; and the summary grpo and rloo print. */
import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { DATA_DIR, DEFAULT_MODEL } from '../paths';
import type { GroupResult } from '../group-rl/trainer';

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

/** What `rlhf grpo` and `rlhf rloo` print at the end; `approximate` says why π* is not exact when the run's objective says so. */
export function groupSummaryLines(stage: string, res: GroupResult, approximate: string): string[] {
  const last = res.probes[res.probes.length - 1];
  return [
    `${stage}: ${res.iterations} iterations in ${res.seconds.toFixed(0)}s (${res.seconds_per_iteration.toFixed(2)}s each)`,
    `reward ${res.reward.start.toFixed(3)} → ${res.reward.end.toFixed(3)}; held-out ${res.heldout_reward.start.toFixed(3)} → ${res.heldout_reward.end.toFixed(3)}; KL ${res.kl.mean_last.toFixed(3)} (β ${res.kl.beta})`,
    ...(last ? [`random number: entropy ${(100 * last.entropy_fraction).toFixed(1)}% of log 100, top ${last.top} p=${last.top_prob.toFixed(3)}, KL(π‖π*) ${last.kl_to_optimum.toFixed(4)}${res.objective.exact ? '' : ` (${approximate})`}`] : []),
  ];
}
