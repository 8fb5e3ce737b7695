/**
 * `rlhf run CONFIG.yaml`: the whole loop from one config file (src/pipeline). Thin: validate the
 * config, choose the backend, run the stages, print where the report is and the headline numbers.
 */
import { Args, Flags } from '@oclif/core';
import * as path from 'node:path';
import { BACKENDS } from '../backend';
import { BaseCommand, useBackend } from '../cli/base';
import { LoadedConfig, loadRunConfig, resolvedConfigYaml, StageName, STAGES } from '../pipeline/config';
import { RunDirWriteError } from '../pipeline/run-dir';
import { runPipeline, RunResult, StageOutcome, UnfinishedStageError } from '../pipeline/runner';
import { STAGE_TABLE } from '../pipeline/stages';
import { checkpointStep, installStopHandlers, InterruptedError, NonFiniteError } from '../train/state';
import { HeadlineRow, readRunArtifacts } from '../report';
import { klTarget } from '../report/artifacts';
import { headlineRows } from '../report/headline';
import { info, setQuiet } from '../util/progress';

export interface RunCommandResult {
  name: string;
  config: string;
  run_dir: string;
  backend: string;
  seconds: number;
  stages: StageOutcome[];
  report: string | null;
  headline: HeadlineRow[];
}

/** Quote a shell word only when it needs it. */
function sh(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function duration(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${Math.round(s - 60 * m)}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

const STATUS_WORDS: Record<StageOutcome['status'], string> = {
  ran: 'ran',
  resumed: 'resumed',
  'up-to-date': 'up to date',
  off: 'off',
  kept: 'kept (--from)',
  'not-run': 'not run (--until)',
};

export default class Run extends BaseCommand {
  static summary = 'Run the whole RLHF loop from a config file: sft → sample → rank → train-rm → ppo → probe → report.';

  static description = [
  'Validates the whole config before any work (every problem is reported with its key path, the value found and what was expected), writes the resolved config to RUN/config.resolved.yaml, then runs the stages in order.',
  "Each stage writes its artifacts and a manifest (RUN/<stage>/manifest.json: a hash of its config and inputs, and whether it finished). A stage whose manifest matches is skipped as up to date; changing a stage's config re-runs it and every stage after it. A stage set to false in the config is off.",
  'Training stages checkpoint every N steps: after a crash, kill -9 or Ctrl-C, the same command with --resume continues from the last checkpoint and ends with the same numbers. Ctrl-C writes a checkpoint and exits with code 130; a non-finite loss stops the stage with its step and value (exit 1). A checkpoint is never thrown away silently: re-running a config whose training stage did not finish stops (exit 1) and asks for --resume (continue) or --restart (discard the checkpoint and start that stage afresh).',
  "Output: run_dir must be new, empty, or an rlhf run directory; a stage replaces only the files it writes in RUN/<stage>/ and never deletes a file rlhf did not write (a user's file inside RUN/<stage>/model/ stops the run with its name). --overwrite lets a run use a directory rlhf did not create and replace such files.",
  'Paths: run_dir is relative to the current directory; input paths are looked up in the current directory, then in the rlhf package (data/, models/). The shipped configs are in configs/ (quickstart, reward-collapse, mode-collapse, hh-rlhf-gpt2, pretrain); each starts with a comment saying what it shows and how long it takes.',
].join('\n\n');

  static examples = [
    { description: 'The quickstart: the whole loop on the embedded tiny model (what `npm start` runs):', command: '<%= config.bin %> <%= command.id %> configs/quickstart.yaml' },
    { description: 'Continue after a crash or Ctrl-C:', command: '<%= config.bin %> <%= command.id %> configs/quickstart.yaml --resume' },
    { description: 'Or throw the unfinished stage away and start it again:', command: '<%= config.bin %> <%= command.id %> configs/quickstart.yaml --restart' },
    { description: 'Change a setting without editing the file (re-runs that stage and the ones after it):', command: '<%= config.bin %> <%= command.id %> configs/quickstart.yaml --set ppo.init_kl_coef=0.05 --set run_dir=runs/beta-0.05' },
    { description: 'Only the reward models, then the report:', command: '<%= config.bin %> <%= command.id %> configs/reward-collapse.yaml --from train-rm' },
  ];

  static args = {
    config: Args.string({ description: 'The run config (YAML).', required: true }),
  };

  static flags = {
    from: Flags.string({ description: 'Start at this stage (it and later ones run even if up to date; earlier ones must have finished).', options: [...STAGES] }),
    until: Flags.string({ description: 'Stop after this stage.', options: [...STAGES] }),
    resume: Flags.boolean({ description: 'Continue an unfinished training stage from its checkpoint.', default: false, exclusive: ['restart'] }),
    restart: Flags.boolean({ description: 'Start an unfinished training stage afresh, discarding its checkpoint (without --resume or --restart such a run stops).', default: false, exclusive: ['resume'] }),
    overwrite: Flags.boolean({ description: 'Use a run_dir (or RUN/<stage>/ directory) that rlhf did not create, replacing entries with the names a stage writes.', default: false }),
    set: Flags.string({ description: 'Override a config value before validation: key.path=value (value as YAML). Repeatable.', multiple: true }),
    backend: Flags.string({ description: "tfjs backend (overrides the config's `backend`).", options: ['auto', ...BACKENDS], env: 'RLHF_BACKEND' }),
  };

  async run(): Promise<RunCommandResult> {
    const { args, flags } = await this.parse(Run);
    if (flags.quiet) setQuiet(true);
    const sets = [...(flags.set ?? []), ...(flags.backend ? [`backend=${flags.backend}`] : [])];
    // Validation first: a bad config stops here, before any file is written or tfjs is loaded.
    const loaded = loadRunConfig(args.config, { set: sets });
    const cfg = loaded.config;
    const backend = await useBackend(this, cfg.backend);
    installStopHandlers();
    info(`rlhf run ${cfg.name}: ${cfg.run_dir} (backend ${backend.chosen})`);

    const t0 = Date.now();
    let result: RunResult;
    try {
      result = await runPipeline({
        config: cfg,
        resolvedYaml: resolvedConfigYaml(loaded),
        table: STAGE_TABLE,
        from: flags.from as StageName | undefined,
        until: flags.until as StageName | undefined,
        resume: flags.resume,
        restart: flags.restart,
        overwrite: flags.overwrite,
        log: info,
      });
    } catch (err) {
      return this.stop(err, loaded, flags);
    }
    const seconds = (Date.now() - t0) / 1000;

    const reportOutcome = result.stages.find((s) => s.stage === 'report');
    const reportSummary = reportOutcome?.summary as { file?: string; headline?: HeadlineRow[] } | undefined;
    const headline = reportSummary?.headline ?? (await this.headlineFromArtifacts(result.runDir));

    // The closing summary on stdout (--json prints the document instead; --quiet prints nothing).
    if (!flags.quiet) {
      this.log(`rlhf run ${cfg.name}: finished in ${duration(seconds)} (backend ${backend.chosen})`);
      for (const s of result.stages) this.log(`  ${s.stage.padEnd(9)} ${STATUS_WORDS[s.status]}${s.seconds !== undefined ? ` in ${duration(s.seconds)}` : ''}`);
      if (reportSummary?.file) this.log(`report: ${reportSummary.file}`);
      const width = Math.max(0, ...headline.map((h) => h.label.length));
      for (const h of headline) this.log(`  ${h.label.padEnd(width)}  ${h.value}${h.note ? `   (${h.note})` : ''}`);
    }

    return {
      name: cfg.name,
      config: path.resolve(args.config),
      run_dir: result.runDir,
      backend: backend.chosen,
      seconds,
      stages: result.stages,
      report: reportSummary?.file ?? null,
      headline,
    };
  }

  /** The headline numbers when the report stage did not run: read from the artifacts directly. */
  private async headlineFromArtifacts(runDir: string): Promise<HeadlineRow[]> {
    try {
      const a = await readRunArtifacts(runDir);
      return headlineRows(a, klTarget(a.config?.value));
    } catch {
      return [];
    }
  }

  /** How a run that did not finish ends: the message, what to do next, the exit code. */
  private stop(err: unknown, loaded: LoadedConfig, flags: { until?: string; backend?: string; set?: string[]; overwrite?: boolean }): never {
    const again = (flag: string) =>
      [
        this.config.bin,
        'run',
        sh(loaded.file),
        flag,
        ...(flags.set ?? []).flatMap((s) => ['--set', sh(s)]),
        ...(flags.until ? ['--until', flags.until] : []),
        ...(flags.backend ? ['--backend', flags.backend] : []),
        ...(flags.overwrite ? ['--overwrite'] : []),
      ].join(' ');
    const resumeCmd = again('--resume');
    if (err instanceof UnfinishedStageError) {
      throw new Error(`${err.message}\n  continue:  ${resumeCmd}\n  discard:   ${again('--restart')}`);
    }
    if (err instanceof InterruptedError) {
      process.stderr.write(`\n${err.message.replace(/\s*Resume with --resume\.?$/, '')}\nResume with: ${resumeCmd}\n`);
      process.exit(130);
    }
    if (err instanceof NonFiniteError) {
      // The trainer's stage label is the stage, or stage/unit (train-rm/logsigmoid, ppo/beta-0.1).
      const ckpt = path.join(loaded.config.run_dir, ...err.stage.split('/'), 'checkpoint');
      const step = checkpointStep(ckpt);
      throw new Error(
        `stage ${err.stage} stopped: ${err.what} is ${err.value} at step ${err.step}. ` +
          (step !== undefined ? `The last good checkpoint (step ${step}) is kept in ${ckpt}. ` : `No checkpoint had been written yet. `) +
          `Training diverged: lower the learning rate (or raise warm-up / gradient clipping) and run again.`,
      );
    }
    if (err instanceof RunDirWriteError) {
      const e = new Error(`${err.message}${err.code === 'ENOSPC' || err.code === 'EDQUOT' ? `\nThen: ${resumeCmd}` : ''}`);
      throw e;
    }
    throw err;
  }
}
