import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { numberFlag, settingsFromFlags } from '../cli/stage-config';
import { tuningInputFlags } from '../cli/tuning-flags';
import { runPpo } from '../ppo/stage';
import { PPOConfigSchema } from '../ppo/config';
import { installStopHandlers } from '../train/state';
import { overwriteFlag, resumeFlags } from '../cli/output-flags';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';

export default class Ppo extends BaseCommand {
  static summary = 'Optimise a policy against a reward model with PPO and a KL penalty to the frozen reference.';

  static description = `The policy starts from --policy (an SFT checkpoint); a frozen copy of it is the reference. Each
iteration samples responses, scores them with the reward model (--reward-model, from rlhf train-rm), builds
per-token rewards −β·KL plus the score at the last token, runs GAE and several epochs of clipped PPO updates,
and adapts β toward the target KL (or keeps it fixed). Metrics go to OUT/metrics.jsonl under TRL's names
(objective/kl, objective/kl_coef, policy/clipfrac, env/reward_mean, …); every --probe-every iterations the
random-number probe records the exact answer distribution and its KL to the optimum π* ∝ π_ref·exp(r/β).
Hyperparameters not exposed as flags can be set with --config FILE (YAML with the ppo section's keys).
The policy and its value head are saved to OUT/model (a Hugging Face GPT-2 directory).`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --reward-model runs/quickstart/train-rm/logsigmoid/model --out runs/ppo',
    '<%= config.bin %> <%= command.id %> --reward-model rm/model --out runs/ppo-fixed --fixed-kl --init-kl-coef 0.02 --iterations 60',
  ];

  static flags = {
    ...backendFlag,
    ...tuningInputFlags('PPO', 'ppo'),
    iterations: Flags.integer({ description: 'rollout + update cycles' }),
    'batch-size': Flags.integer({ description: 'rollouts per iteration' }),
    lr: Flags.string({ description: 'learning rate' }),
    'init-kl-coef': Flags.string({ description: 'initial (or fixed) β' }),
    'target-kl': Flags.string({ description: 'adaptive controller target KL (nats per response)' }),
    'fixed-kl': Flags.boolean({ description: 'keep β fixed (no adaptive controller)', default: false }),
    'kl-estimator': Flags.string({ description: 'per-token KL estimator', options: ['k1', 'k3'] }),
    seed: Flags.integer({ description: 'random seed', default: 1 }),
    ...resumeFlags,
    ...overwriteFlag,
  };

  async run() {
    const { flags } = await this.parse(Ppo);
    const backend = await useBackend(this, flags.backend);
    installStopHandlers();
    const settings = settingsFromFlags(flags.config, {
      iterations: flags.iterations,
      batch_size: flags['batch-size'],
      lr: numberFlag(flags.lr),
      init_kl_coef: numberFlag(flags['init-kl-coef']),
      target_kl: numberFlag(flags['target-kl']),
      adaptive_kl: flags['fixed-kl'] ? false : undefined,
      kl_estimator: flags['kl-estimator'],
    });
    const parsed = PPOConfigSchema.safeParse(settings);
    if (!parsed.success) this.error(`PPO config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    // The output directory before any compute: a path that cannot be written, or a directory of the user's, stops here.
    prepareOutputDir(flags.out, { command: 'ppo', writes: ['metrics.jsonl', 'model', 'critic', 'checkpoint', 'summary.json'], overwrite: flags.overwrite, resume: flags.resume, restart: flags.restart });
    const res = await runPpo({ policy: flags.policy, rewardModel: flags['reward-model'], prompts: flags.prompts, heldout: flags.heldout, outDir: flags.out, cfg: parsed.data, seed: flags.seed, resume: flags.resume });
    finishOutputDir(flags.out);
    const last = res.probes[res.probes.length - 1];
    this.log(`ppo: ${res.iterations} iterations in ${res.seconds.toFixed(0)}s (generation ${res.time.generation.toFixed(0)}s, scoring ${res.time.scoring.toFixed(0)}s, optimisation ${res.time.optimization.toFixed(0)}s)`);
    this.log(`reward ${res.reward.start.toFixed(3)} → ${res.reward.end.toFixed(3)}; held-out ${res.heldout_reward.start.toFixed(3)} → ${res.heldout_reward.end.toFixed(3)}`);
    this.log(`KL ${res.kl.mean_last.toFixed(3)}${res.kl.target ? ` (target ${res.kl.target})` : ''}, β ${res.kl.beta_final.toPrecision(3)}`);
    if (last) this.log(`random number: entropy ${(100 * last.entropy_fraction).toFixed(1)}% of log 100, top ${last.top} p=${last.top_prob.toFixed(3)}, KL(π‖π*) ${last.kl_to_optimum.toFixed(4)}`);
    return { backend: backend.chosen, model: path.join(flags.out, 'model'), ...res };
  }
}
