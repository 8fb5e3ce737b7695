/**
 * `rlhf train-rm`: train a reward model on k-wise rankings with a chosen utility U and report the
 * reward-collapse diagnostics. Thin: flags → RewardTrainConfig → runRewardStage (src/reward/stage.ts).
 */
import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { installStopHandlers } from '../train/state';
import { loadRunConfig, utilityEntries } from '../pipeline/config';
import { DATA_DIR, DEFAULT_MODEL } from '../paths';
import { RewardStageSummary, runRewardStage } from '../reward/stage';
import { DEFAULT_EPSILON, DEFAULT_SCALE, UTILITY_NAMES } from '../reward/utilities';
import { overwriteFlag, resumeFlags } from '../cli/output-flags';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';
import { parseStageConfig } from '../cli/stage-config';
import { RewardTrainConfigSchema } from '../reward/config';

function num(name: string, v: string | undefined, check: (x: number) => boolean = Number.isFinite): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new Error(`--${name}: expected ${check === Number.isFinite ? 'a number' : 'a positive number'}, got ${JSON.stringify(v)}`);
  return x;
}

const fmt = (v: number[] | undefined | null) => (v ? v.map((x) => x.toFixed(2)).join(' ') : '—');

export default class TrainRm extends BaseCommand {
  static summary = 'Train a reward model on ranked completions with a chosen utility U, and measure reward collapse.';

  static description = `A reward model is the GPT-2 trunk (--model) with a scalar head on the last token (the end-of-text that closes every completion): R(x, y) = sigmoid(w·h_last) ∈ (0, 1) as in the paper (--squash none: the raw w·h_last).

It learns from rankings (JSONL, one prompt per line, completions best first, ties allowed; \`rlhf rank\` makes them from hh-rlhf, summarize-from-feedback, ratings or a policy's samples). For every prompt with completions ranked y₁ ≻ … ≻ yₖ it maximises

    Σ_{i<j} U(R(x, yᵢ) − R(x, yⱼ))      over all C(k,2) pairs of the prompt, in the same step

The UTILITY U says how much a margin d = R(better) − R(worse) is worth:
  logsigmoid     log σ(s·d)  Bradley–Terry, the InstructGPT loss  (--scale s, default ${DEFAULT_SCALE}; the paper uses 4)
  linear         d           every margin equally: pushes rewards to 0 and 1
  power          d^γ         0 < γ < 1 (--gamma)
  log            log d       diminishing returns: spreads rewards (arcsine-shaped)
  inverse        −1/d        small margins are very costly: spreads rewards evenly
  inverse-power  −d^(−γ)     γ > 0 (--gamma)
  prompt-aware   U chosen per prompt: open-ended → inverse, closed-ended → linear (the prompt's "kind")
The singular ones (power, log, inverse, inverse-power) are shifted by ε (--epsilon, default ${DEFAULT_EPSILON}) and continued by their tangent below 0, so mis-ordered pairs get a finite gradient (the paper's code; \`rlhf theory --help\`).

REWARD COLLAPSE (Song, Cai, Lee & Su 2023). Trained to the end, the model gives each prompt the rewards that maximise the sum above over r ∈ [0,1]ᵏ alone, which depend on U and k, not on the prompt: open-ended and closed-ended prompts end with the same reward distribution. \`rlhf theory --utility U --n k\` predicts it. This command prints, per prompt kind, the mean reward at each rank index against that prediction (theory distance = max |mean − theory|), and the collapse score: the Wasserstein-1 distance between the open and closed prompts' rewards, which falls toward 0 as they collapse. A prompt-aware utility keeps it away from 0.

Training: Adam, all prompts' pairs in the step of their prompt, --train-layers N trains only the top N blocks (+ final norm and head) and computes the frozen blocks once (same numbers, much faster). Outputs in OUT: model/ (a Hugging Face GPT2ForSequenceClassification directory that \`rlhf ppo --reward-model\` reads), metrics.jsonl, diagnostics.json (per-prompt rewards and the curves over training), checkpoint/ (--resume; Ctrl-C saves one).

--config FILE takes the defaults from a run config's train_rm section (and its model, data.rankings, data.heldout_rankings, seed, first utility); flags override it.`;

  static examples = [
    { description: 'The collapse with −1/d on the shipped reproduction data (open and closed prompts):', command: '<%= config.bin %> <%= command.id %> --utility inverse --train-layers 2 --out runs/rm-inverse' },
    { description: 'The fix: a prompt-aware utility, summary as JSON:', command: '<%= config.bin %> <%= command.id %> --utility prompt-aware --train-layers 2 --out runs/rm-aware --json' },
    { description: 'The settings of the reproduction config, one utility:', command: '<%= config.bin %> <%= command.id %> --config configs/reward-collapse.yaml --utility log --out runs/rm-log' },
    { description: 'Human preferences (hh-rlhf) ingested by rank, Bradley–Terry:', command: '<%= config.bin %> rank --input hh/harmless-base-test.jsonl --out runs/hh/rankings.jsonl\n<%= config.bin %> <%= command.id %> --rankings runs/hh/rankings.jsonl --utility logsigmoid --max-length 128 --out runs/hh/rm' },
  ];

  static flags = {
    ...backendFlag,
    model: Flags.string({ char: 'm', description: `GPT-2 directory the reward model starts from [default: the embedded tiny SFT model]` }),
    rankings: Flags.string({ char: 'r', description: 'training rankings (JSONL) [default: data/reward-collapse/train.rankings.jsonl]' }),
    heldout: Flags.string({ description: 'held-out rankings (JSONL) for accuracy and held-out curves [default with the shipped rankings: data/reward-collapse/heldout.rankings.jsonl]' }),
    out: Flags.string({ char: 'o', description: 'output directory (model/, metrics.jsonl, diagnostics.json, checkpoint/)', required: true }),
    config: Flags.string({ char: 'c', description: "a run config (YAML): defaults from its train_rm section" }),
    utility: Flags.string({ char: 'u', description: 'the utility U of the reward difference [default: logsigmoid, or the config\'s first]', options: [...UTILITY_NAMES, 'prompt-aware'] }),
    gamma: Flags.string({ description: 'γ of power (0 < γ < 1) and inverse-power (γ > 0)' }),
    scale: Flags.string({ description: `s of logsigmoid, log σ(s·d) [default: ${DEFAULT_SCALE}]` }),
    epsilon: Flags.string({ description: `shift ε of power, log, inverse, inverse-power [default: ${DEFAULT_EPSILON}]` }),
    epochs: Flags.string({ description: 'passes over the training prompts (train to the end on purpose) [default: 30]' }),
    lr: Flags.string({ description: 'peak learning rate (Adam) [default: 1e-3]' }),
    schedule: Flags.string({ description: 'learning-rate decay after warm-up [default: constant]', options: ['constant', 'linear', 'cosine'] }),
    'batch-prompts': Flags.integer({ description: 'prompts per step (all their pairs together) [default: 8]', min: 1 }),
    'train-layers': Flags.string({ description: "train only the top N blocks (+ ln_f, head), or 'all' [default: all]" }),
    squash: Flags.string({ description: 'sigmoid: rewards in (0,1) as in the paper; none: raw [default: sigmoid]', options: ['sigmoid', 'none'] }),
    'max-length': Flags.integer({ description: 'longest prompt + completion in tokens; longer ones keep their end [default: 64]', min: 2 }),
    'eval-every': Flags.string({ description: 'diagnostics every N epochs [default: 2]' }),
    seed: Flags.integer({ description: 'seed for the head and the data order [default: 1, or the config\'s]' }),
    ...resumeFlags,
    ...overwriteFlag,
  };

  async run(): Promise<RewardStageSummary & { backend: string }> {
    const { flags } = await this.parse(TrainRm);
    // Defaults: the config file's, else the shipped reproduction data.
    let fromConfig: Record<string, unknown> = {};
    let model = DEFAULT_MODEL;
    let rankings = path.join(DATA_DIR, 'reward-collapse', 'train.rankings.jsonl');
    let heldout: string | undefined = path.join(DATA_DIR, 'reward-collapse', 'heldout.rankings.jsonl');
    if (flags.config) {
      const { config } = loadRunConfig(flags.config);
      if (config.train_rm === false) throw new Error(`${flags.config}: train_rm is off (false); nothing to take settings from`);
      const { utilities: _u, model: rmModel, ...shared } = config.train_rm;
      void _u;
      fromConfig = { ...shared, seed: config.seed, utility: utilityEntries(config.train_rm)[0]?.utility };
      model = (rmModel ?? config.model).replace(/^hub:/, '');
      if (config.data.rankings) rankings = config.data.rankings;
      heldout = config.data.heldout_rankings;
    }
    if (flags.rankings && !flags.heldout) heldout = undefined; // never pair user data with the shipped held-out set

    const cfg: Record<string, unknown> = { ...fromConfig };
    if (flags.utility) {
      if (flags.utility === 'prompt-aware') {
        for (const k of ['gamma', 'scale', 'epsilon'] as const) if (flags[k] !== undefined) throw new Error(`--${k}: not used with --utility prompt-aware (its rule is open → inverse, closed → linear; set another rule in a config)`);
        cfg.utility = 'prompt-aware';
      } else {
        const u: Record<string, unknown> = { name: flags.utility };
        if (flags.gamma !== undefined) u.gamma = num('gamma', flags.gamma);
        if (flags.scale !== undefined) u.scale = num('scale', flags.scale);
        if (flags.epsilon !== undefined) u.epsilon = num('epsilon', flags.epsilon);
        cfg.utility = u;
      }
    } else if (flags.gamma !== undefined || flags.scale !== undefined || flags.epsilon !== undefined) {
      throw new Error('--gamma/--scale/--epsilon need --utility');
    }
    const pos = (x: number) => x > 0;
    if (flags.epochs !== undefined) cfg.epochs = num('epochs', flags.epochs, pos);
    if (flags.lr !== undefined) cfg.lr = num('lr', flags.lr, pos);
    if (flags['eval-every'] !== undefined) cfg.eval_every = num('eval-every', flags['eval-every'], pos);
    if (flags.schedule) cfg.schedule = flags.schedule;
    if (flags['batch-prompts'] !== undefined) cfg.batch_prompts = flags['batch-prompts'];
    if (flags.squash) cfg.squash = flags.squash;
    if (flags['max-length'] !== undefined) cfg.max_length = flags['max-length'];
    if (flags.seed !== undefined) cfg.seed = flags.seed;
    if (flags['train-layers'] !== undefined) {
      const t = flags['train-layers'];
      if (t === 'all') cfg.train_layers = 'all';
      else if (/^\d+$/.test(t)) cfg.train_layers = Number(t);
      else throw new Error(`--train-layers: expected 'all' or a whole number of top blocks, got ${JSON.stringify(t)}`);
    }

    // The output directory before any compute: a path that cannot be written, or a directory of the user's, stops here.
    prepareOutputDir(flags.out, { command: 'train-rm', writes: ['metrics.jsonl', 'model', 'checkpoint', 'diagnostics.json', 'summary.json'], overwrite: flags.overwrite, resume: flags.resume, restart: flags.restart });
    const backend = await useBackend(this, flags.backend);
    installStopHandlers();
    const { summary } = await runRewardStage({
      model: flags.model ?? model,
      rankings: flags.rankings ?? rankings,
      heldout: flags.heldout ?? heldout,
      outDir: flags.out,
      cfg: parseStageConfig(RewardTrainConfigSchema, cfg, 'train-rm'),
      resume: flags.resume,
    });
    finishOutputDir(flags.out);

    const t = summary.train;
    this.log(`train-rm ${summary.utility}: ${summary.steps} steps (${summary.epochs.toFixed(1)} epochs) in ${summary.seconds.toFixed(0)} s on ${backend.chosen}`);
    this.log(`  pairwise accuracy  train ${pct(t.accuracy)}${summary.heldout ? `   held-out ${pct(summary.heldout.accuracy)}` : ''}`);
    this.log(`  collapse score     ${show(t.collapse_score)} (W₁ open vs closed; → 0 = collapsed)${summary.collapse_trajectory.length > 1 ? `, from ${show(summary.collapse_trajectory[0].collapse_score)} at the start` : ''}`);
    this.log(`  mean reward by rank (best first), theory for n = ${summary.n}:`);
    for (const kind of ['open', 'closed'] as const) {
      const k = t[kind];
      if (!k) continue;
      this.log(`    ${kind.padEnd(6)} ${fmt(k.mean_by_rank)}   theory ${fmt(summary.theory[kind])}   max |Δ| ${show(k.theory_distance)}`);
    }
    if (summary.heldout) {
      for (const kind of ['open', 'closed'] as const) {
        const k = summary.heldout[kind];
        if (k) this.log(`    held-out ${kind.padEnd(6)} ${fmt(k.mean_by_rank)}   max |Δ| ${show(k.theory_distance)}`);
      }
    }
    this.log(`  model → ${summary.model}`);
    return { backend: backend.chosen, ...summary };
  }
}

const show = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(3));
const pct = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '—' : `${(100 * x).toFixed(1)}%`);
