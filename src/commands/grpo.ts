import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { groupSummaryLines, tuningInputFlags } from '../cli/tuning-flags';
import { numberFlag, parseStageConfig, settingsFromFlags } from '../cli/stage-config';
import { runGrpo } from '../group-rl/stage';
import { GRPOConfigSchema } from '../group-rl/config';
import { installStopHandlers } from '../train/state';
import { overwriteFlag, resumeFlags } from '../cli/output-flags';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';

export default class Grpo extends BaseCommand {
  static summary = 'Optimise a policy against a reward model with GRPO: k samples per prompt, group-relative advantages, no value model.';

  static description = `The policy starts from --policy (an SFT checkpoint); a frozen copy of it is the reference. Each
iteration samples k = --num-generations completions for each of batch_size / k prompts, scores them with the
reward model, and turns each score into a group-relative advantage (r − mean of its group) / (std + 1e-4)
(Shao et al. 2024, TRL's GRPOTrainer). The loss is the clipped ratio objective per token plus β·k3, the KL to
the reference as a term of the loss. Metrics go to OUT/metrics.jsonl under TRL's names (reward, kl,
clip_ratio/*, …) plus objective/kl (KL summed over a response, as PPO logs it) and the probes
(probe/entropy_fraction, probe/kl_to_optimum, …). OUT/summary.json records the objective for rlhf probe.
Other settings: --config FILE (YAML with the grpo config section's keys).`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --reward-model runs/mode-collapse/train-rm/logsigmoid/model --out runs/grpo',
    '<%= config.bin %> <%= command.id %> --reward-model rm/model --out runs/grpo --num-generations 8 --beta 0.02 --iterations 60',
  ];

  static flags = {
    ...backendFlag,
    ...tuningInputFlags('GRPO', 'grpo'),
    iterations: Flags.integer({ description: 'generation + update cycles' }),
    'batch-size': Flags.integer({ description: 'completions per iteration' }),
    'num-generations': Flags.integer({ description: 'k: completions per prompt' }),
    lr: Flags.string({ description: 'learning rate' }),
    beta: Flags.string({ description: 'β of the k3 KL term in the loss' }),
    'scale-rewards': Flags.string({ description: 'divide centred rewards by the std of the group, the batch, or not', options: ['group', 'batch', 'none'] }),
    'loss-type': Flags.string({ description: 'token averaging of the loss', options: ['grpo', 'bnpo', 'dr_grpo', 'dapo'] }),
    seed: Flags.integer({ description: 'random seed', default: 1 }),
    ...resumeFlags,
    ...overwriteFlag,
  };

  async run() {
    const { flags } = await this.parse(Grpo);
    const backend = await useBackend(this, flags.backend);
    installStopHandlers();
    const settings = settingsFromFlags(flags.config, {
      iterations: flags.iterations,
      batch_size: flags['batch-size'],
      num_generations: flags['num-generations'],
      lr: numberFlag(flags.lr),
      beta: numberFlag(flags.beta),
      scale_rewards: flags['scale-rewards'],
      loss_type: flags['loss-type'],
    });
    const cfg = parseStageConfig(GRPOConfigSchema, settings, 'grpo');
    prepareOutputDir(flags.out, { command: 'grpo', writes: ['metrics.jsonl', 'model', 'checkpoint', 'summary.json'], overwrite: flags.overwrite, resume: flags.resume, restart: flags.restart });
    const res = await runGrpo({ policy: flags.policy, rewardModel: flags['reward-model'], prompts: flags.prompts, heldout: flags.heldout, outDir: flags.out, cfg, seed: flags.seed, resume: flags.resume });
    finishOutputDir(flags.out);
    for (const line of groupSummaryLines('grpo', res, 'π* is approximate for GRPO')) this.log(line);
    return { backend: backend.chosen, model: path.join(flags.out, 'model'), ...res };
  }
}
