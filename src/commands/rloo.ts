import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { groupSummaryLines, tuningInputFlags } from '../cli/tuning-flags';
import { numberFlag, parseStageConfig, settingsFromFlags } from '../cli/stage-config';
import { runRloo } from '../group-rl/stage';
import { RLOOConfigSchema } from '../group-rl/config';
import { installStopHandlers } from '../train/state';
import { overwriteFlag, resumeFlags } from '../cli/output-flags';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';

export default class Rloo extends BaseCommand {
  static summary = 'Optimise a policy against a reward model with RLOO: k samples per prompt, a leave-one-out baseline, the KL in the reward.';

  static description = `The policy starts from --policy (an SFT checkpoint); a frozen copy of it is the reference. Each
iteration samples k = --num-generations completions for each of batch_size / k prompts, scores them with the
reward model, subtracts β·KL (the sequence's log π_old − log π_ref, summed) from each score, and uses the mean
of the other k − 1 rewards of the same prompt as the baseline (Ahmadian et al. 2024, TRL's RLOOTrainer). The
loss is the clipped ratio objective on whole sequences. Metrics go to OUT/metrics.jsonl under TRL's names
(reward, kl, clip_ratio/*, …) plus objective/kl and the probes; OUT/summary.json records the objective for
rlhf probe. Other settings: --config FILE (YAML with the rloo config section's keys).`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --reward-model runs/mode-collapse/train-rm/logsigmoid/model --out runs/rloo',
    '<%= config.bin %> <%= command.id %> --reward-model rm/model --out runs/rloo --num-generations 4 --beta 0.05 --iterations 60',
  ];

  static flags = {
    ...backendFlag,
    ...tuningInputFlags('RLOO', 'rloo'),
    iterations: Flags.integer({ description: 'generation + update cycles' }),
    'batch-size': Flags.integer({ description: 'completions per iteration' }),
    'num-generations': Flags.integer({ description: 'k: completions per prompt' }),
    lr: Flags.string({ description: 'learning rate' }),
    beta: Flags.string({ description: 'β of the KL in the reward' }),
    'normalize-advantages': Flags.boolean({ description: 'whiten the advantages over the batch', default: false }),
    seed: Flags.integer({ description: 'random seed', default: 1 }),
    ...resumeFlags,
    ...overwriteFlag,
  };

  async run() {
    const { flags } = await this.parse(Rloo);
    const backend = await useBackend(this, flags.backend);
    installStopHandlers();
    const settings = settingsFromFlags(flags.config, {
      iterations: flags.iterations,
      batch_size: flags['batch-size'],
      num_generations: flags['num-generations'],
      lr: numberFlag(flags.lr),
      beta: numberFlag(flags.beta),
      normalize_advantages: flags['normalize-advantages'] ? true : undefined,
    });
    const cfg = parseStageConfig(RLOOConfigSchema, settings, 'rloo');
    prepareOutputDir(flags.out, { command: 'rloo', writes: ['metrics.jsonl', 'model', 'checkpoint', 'summary.json'], overwrite: flags.overwrite, resume: flags.resume, restart: flags.restart });
    const res = await runRloo({ policy: flags.policy, rewardModel: flags['reward-model'], prompts: flags.prompts, heldout: flags.heldout, outDir: flags.out, cfg, seed: flags.seed, resume: flags.resume });
    finishOutputDir(flags.out);
    for (const line of groupSummaryLines('rloo', res, 'π* is approximate with normalize_advantages')) this.log(line);
    return { backend: backend.chosen, model: path.join(flags.out, 'model'), ...res };
  }
}
