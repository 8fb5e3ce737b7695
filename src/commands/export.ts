/**
 * `rlhf export RUN --to trl|openrlhf --out DIR`: hand a run to an engine built for many GPUs.
 * Thin: the library (src/handoff) maps and writes; this prints what went where.
 */
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base';
import { overwriteFlag } from '../cli/output-flags';
import { Engine, ENGINES, exportRun, ExportResult } from '../handoff/export';

export default class Export extends BaseCommand {
  static summary = 'Export a run to TRL or OpenRLHF: its data, models, and launch files with its hyperparameters under the engine\'s own names.';

  static description = `Writes into DIR:
  data/        preference pairs, prompts and demonstrations as JSON Lines
  models/      the run's starting policy and reward models (Hugging Face directories)
  trl/ or openrlhf/   a launch file per stage (TRL config YAMLs; OpenRLHF command lines)
  launch.sh    every stage's command, in the run's order
  HANDOFF.md   what maps to what, what has no equivalent there, how to probe the results with rlhf`;

  static examples = [
    '<%= config.bin %> <%= command.id %> runs/quickstart --to trl --out handoff/quickstart-trl',
    '<%= config.bin %> <%= command.id %> runs/algorithms --to openrlhf --out handoff/algorithms-openrlhf',
  ];

  static args = {
    run: Args.string({ description: 'The run directory (written by `rlhf run`).', required: true }),
  };

  static flags = {
    to: Flags.string({ description: 'the engine', options: [...ENGINES], required: true }),
    out: Flags.string({ char: 'o', description: 'output directory', required: true }),
    ...overwriteFlag,
  };

  async run(): Promise<ExportResult> {
    const { args, flags } = await this.parse(Export);
    const r = await exportRun({ run: args.run, engine: flags.to as Engine, out: flags.out, overwrite: flags.overwrite });
    this.log(`exported ${args.run} to ${r.dir} for ${r.engine}: ${r.stages.length} stage(s), ${r.models.length} model(s), ${r.datasets.length} data file(s)`);
    for (const s of r.stages) this.log(`  ${s.stage.padEnd(16)} ${s.command}${s.gaps.length ? `   (${s.gaps.length} setting(s) without an equivalent: HANDOFF.md)` : ''}`);
    this.log(`see ${r.dir}/HANDOFF.md`);
    return r;
  }
}
