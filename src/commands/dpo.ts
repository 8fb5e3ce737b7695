import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { numberFlag, parseStageConfig, settingsFromFlags } from '../cli/stage-config';
import { runDpo } from '../dpo/stage';
import { DPOConfigSchema } from '../dpo/config';
import { installStopHandlers } from '../train/state';
import { DATA_DIR, DEFAULT_MODEL } from '../paths';
import { overwriteFlag, resumeFlags } from '../cli/output-flags';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';

export default class Dpo extends BaseCommand {
  static summary = 'Tune a policy on preference pairs with DPO (no reward model, no sampling), or its IPO / cDPO / robust variants.';

  static description = `The policy starts from --policy; a frozen copy of it is the reference. Every pair of each ranking in
--rankings (all C(k, 2) pairs of a prompt, as the reward-model trainer uses them) is a preference pair; the
reference's log-probabilities of every completion are computed once, then each step lowers
−log σ(β·[(log π − log π_ref)(y_w) − (log π − log π_ref)(y_l)]) (Rafailov et al. 2023, TRL's DPOTrainer),
or the IPO, cDPO (--label-smoothing) or robust loss. Metrics go to OUT/metrics.jsonl under TRL's names
(loss, rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins, logps/*), plus, every
probe_every steps, objective/kl (KL summed over sampled responses) and the random-number probe with its KL to
π* of DPO's implicit reward. OUT/summary.json records that objective for rlhf probe (--dpo DIR).
Other settings: --config FILE (YAML with the dpo config section's keys).`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --rankings runs/mode-collapse/rank/rankings.jsonl --out runs/dpo',
    '<%= config.bin %> <%= command.id %> --rankings data/reward-collapse/train.rankings.jsonl --out runs/ipo --loss-type ipo --beta 0.5',
  ];

  static flags = {
    ...backendFlag,
    policy: Flags.string({ description: 'SFT policy directory (also the reference)', default: DEFAULT_MODEL }),
    rankings: Flags.string({ description: 'rankings (JSONL, rlhf rank or data make output): every pair is a preference pair', required: true }),
    'heldout-rankings': Flags.string({ description: 'held-out rankings for eval/loss and eval/rewards/accuracies' }),
    'reward-model': Flags.string({ description: 'a reward model for the held-out reward at the probes (optional: DPO needs none)' }),
    heldout: Flags.string({ description: 'held-out prompts for the held-out reward', default: path.join(DATA_DIR, 'tasks', 'prompts-heldout.jsonl') }),
    out: Flags.string({ char: 'o', description: 'output directory', required: true }),
    config: Flags.string({ description: 'YAML file with DPO hyperparameters (the keys of the dpo config section)' }),
    epochs: Flags.integer({ description: 'passes over the pairs' }),
    'batch-size': Flags.integer({ description: 'pairs per step' }),
    lr: Flags.string({ description: 'learning rate' }),
    beta: Flags.string({ description: 'β (IPO: τ)' }),
    'loss-type': Flags.string({ description: 'loss', options: ['sigmoid', 'ipo', 'robust'] }),
    'label-smoothing': Flags.string({ description: 'ε: label flip probability (cDPO with sigmoid, rDPO with robust)' }),
    seed: Flags.integer({ description: 'random seed', default: 1 }),
    ...resumeFlags,
    ...overwriteFlag,
  };

  async run() {
    const { flags } = await this.parse(Dpo);
    const backend = await useBackend(this, flags.backend);
    installStopHandlers();
    const settings = settingsFromFlags(flags.config, {
      epochs: flags.epochs,
      batch_size: flags['batch-size'],
      lr: numberFlag(flags.lr),
      beta: numberFlag(flags.beta),
      loss_type: flags['loss-type'],
      label_smoothing: numberFlag(flags['label-smoothing']),
    });
    const cfg = parseStageConfig(DPOConfigSchema, settings, 'dpo');
    prepareOutputDir(flags.out, { command: 'dpo', writes: ['metrics.jsonl', 'model', 'checkpoint', 'summary.json'], overwrite: flags.overwrite, resume: flags.resume, restart: flags.restart });
    const res = await runDpo({
      policy: flags.policy,
      rankings: flags.rankings,
      heldoutRankings: flags['heldout-rankings'],
      rewardModel: flags['reward-model'],
      heldoutPrompts: flags.heldout,
      outDir: flags.out,
      cfg,
      seed: flags.seed,
      resume: flags.resume,
    });
    finishOutputDir(flags.out);
    const last = res.probes[res.probes.length - 1];
    this.log(`dpo: ${res.steps} steps over ${res.pairs} pairs in ${res.seconds.toFixed(0)}s (reference log-probs ${res.time.reference.toFixed(1)}s, once)`);
    this.log(`loss ${res.loss.start.toFixed(3)} → ${res.loss.end.toFixed(3)}; implicit-reward accuracy ${(100 * res.accuracy.start).toFixed(0)}% → ${(100 * res.accuracy.end).toFixed(0)}%; KL ${res.kl.last.toFixed(3)} (β ${cfg.beta})`);
    if (last) this.log(`random number: entropy ${(100 * last.entropy_fraction).toFixed(1)}% of log 100, top ${last.top} p=${last.top_prob.toFixed(3)}, KL(π‖π* of the implicit reward) ${last.kl_to_optimum.toFixed(4)}`);
    return { backend: backend.chosen, model: path.join(flags.out, 'model'), ...res };
  }
}
