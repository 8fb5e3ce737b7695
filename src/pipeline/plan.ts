/**
 * What each stage of a run reads and writes, as a pure function of the resolved config. The
 * runner hashes a stage's inputs and config from this plan; the stage functions (stages.ts) take
 * their paths from it, so both always agree.
 *
 *   sft       base model + demonstrations            → RUN/sft/model
 *   sample    policy + prompts                       → RUN/sample/samples.jsonl
 *   rank      samples (or data.preferences)          → RUN/rank/rankings.jsonl (+ heldout.rankings.jsonl)
 *   train-rm  trunk + rankings, per utility          → RUN/train-rm/<utility>/model
 *   ppo       policy + reward model + prompts        → RUN/ppo/model, or RUN/ppo/<run>/model for a sweep
 *   probe     PPO policy vs the reference (policy)   → RUN/probe/probe.json, or RUN/probe/<run>/probe.json
 *   report    everything above                       → RUN/report/report.html
 *
 * "The policy" is RUN/sft/model when sft is on, else the config's `model`.
 */
import * as path from 'node:path';
import { ppoRuns, PpoStageConfig, RunConfig, STAGE_KEY, StageName, STAGES, utilityEntries } from './config';
import { UtilityConfig } from '../reward/utilities';

export interface StageInput {
  /** What the input is to the stage (stable across runs; part of the hash). */
  role: string;
  /** Absolute path, or hub:<id>. */
  path: string;
}

export interface StagePlan {
  stage: StageName;
  enabled: boolean;
  /** RUN/<stage> */
  dir: string;
  /** Training stages checkpoint and get resume=true under --resume. */
  training: boolean;
  /** The stage's resolved settings (hashed). */
  config: unknown;
  inputs: StageInput[];
  /** Stages whose artifacts are among the inputs (their config_hash joins this stage's hash). */
  upstream: StageName[];
  /** Artifacts that must exist for the stage to count as done. */
  outputs: string[];
  /**
   * Entries of RUN/<stage> the stage writes (file and directory names, its units' names too). A
   * fresh run removes these first (see util/output-dir clearOutputs); anything else there is left.
   */
  writes: string[];
}

export interface RewardModelPlan {
  name: string;
  utility: UtilityConfig;
  dir: string;
  /** RUN/train-rm/<name>/model */
  model: string;
}

export interface PpoRunPlan {
  /** '' for a single run (RUN/ppo/), the run name in a sweep (RUN/ppo/<name>/). */
  name: string;
  dir: string;
  cfg: PpoStageConfig;
  /** RUN/ppo[/name]/model */
  model: string;
}

export interface ProbeRunPlan {
  name: string;
  dir: string;
  /** The tuned policy (that run's PPO model). */
  policy: string;
  /** The policy PPO started from. */
  reference: string;
}

export interface RunPlan {
  runDir: string;
  config: RunConfig;
  /** The policy after SFT (or the config's model when sft is off). */
  policy: string;
  /** Input of the rank stage and its format. */
  rankInput?: { file: string; format: string };
  rankHeldoutInput?: { file: string; format: string };
  /** Rankings train-rm learns from, and its held-out rankings (if any). */
  rankings?: string;
  heldoutRankings?: string;
  /** Trunk the reward models start from. */
  rewardBase: string;
  rewardModels: RewardModelPlan[];
  /** The reward model PPO and the probes use (a directory). */
  rewardModel?: string;
  ppoRuns: PpoRunPlan[];
  probeRuns: ProbeRunPlan[];
  reportFile: string;
  stages: Record<StageName, StagePlan>;
}

export function planRun(cfg: RunConfig): RunPlan {
  const R = cfg.run_dir;
  const dir = (s: StageName) => path.join(R, s);
  const policy = cfg.sft !== false ? path.join(dir('sft'), 'model') : cfg.model;

  const samples = path.join(dir('sample'), 'samples.jsonl');
  let rankInput: RunPlan['rankInput'];
  let rankHeldoutInput: RunPlan['rankHeldoutInput'];
  if (cfg.rank !== false) {
    rankInput = cfg.sample !== false ? { file: samples, format: 'samples' } : { file: cfg.data.preferences!, format: cfg.rank.format };
    if (cfg.data.heldout_preferences) rankHeldoutInput = { file: cfg.data.heldout_preferences, format: cfg.rank.format === 'samples' ? 'auto' : cfg.rank.format };
  }
  const rankings = cfg.rank !== false ? path.join(dir('rank'), 'rankings.jsonl') : cfg.data.rankings;
  const heldoutRankings = rankHeldoutInput ? path.join(dir('rank'), 'heldout.rankings.jsonl') : cfg.data.heldout_rankings;

  const rewardBase = cfg.train_rm !== false && cfg.train_rm.model ? cfg.train_rm.model : policy;
  const rewardModels: RewardModelPlan[] =
    cfg.train_rm === false
      ? []
      : utilityEntries(cfg.train_rm).map((u) => ({ name: u.name, utility: u.utility, dir: path.join(dir('train-rm'), u.name), model: path.join(dir('train-rm'), u.name, 'model') }));
  // ppo.reward_model names one of the reward models trained here, or is a directory (train_rm off).
  let rewardModel: string | undefined;
  if (cfg.ppo !== false) {
    const name = cfg.ppo.reward_model;
    rewardModel = cfg.train_rm !== false ? rewardModels.find((m) => m.name === name)?.model : name;
  }

  const ppo: PpoRunPlan[] =
    cfg.ppo === false
      ? []
      : ppoRuns(cfg.ppo).map((r) => {
          const d = r.name ? path.join(dir('ppo'), r.name) : dir('ppo');
          return { name: r.name, dir: d, cfg: r.cfg, model: path.join(d, 'model') };
        });
  const probes: ProbeRunPlan[] =
    cfg.probe === false ? [] : ppo.map((r) => ({ name: r.name, dir: r.name ? path.join(dir('probe'), r.name) : dir('probe'), policy: r.model, reference: policy }));
  const reportFile = path.join(dir('report'), 'report.html');

  const section = (s: StageName) => cfg[STAGE_KEY[s]];
  const stagePlan = (s: StageName, p: { training?: boolean; config?: unknown; inputs: (StageInput | undefined | false)[]; outputs: string[]; writes: string[] }): StagePlan => {
    const inputs = p.inputs.filter((x): x is StageInput => !!x && !!x.path);
    const upstream = STAGES.filter((u) => u !== s && inputs.some((i) => i.path === dir(u) || i.path.startsWith(dir(u) + path.sep)));
    return { stage: s, enabled: section(s) !== false, dir: dir(s), training: !!p.training, config: p.config ?? section(s), inputs, upstream, outputs: p.outputs, writes: p.writes };
  };
  // What a training run writes into its directory (sft, a reward model, a PPO run).
  const trainingWrites = ['metrics.jsonl', 'summary.json', 'model', 'critic', 'checkpoint', 'unit.json', 'diagnostics.json'];
  // A stage with units: the single-run layout and every unit's directory (switching between
  // one run and a sweep replaces the other layout too).
  const unitNames = (units: { name: string }[]) => units.map((u) => u.name).filter((n) => n !== '');

  const stages: Record<StageName, StagePlan> = {
    sft: stagePlan('sft', {
      training: true,
      inputs: [
        { role: 'model', path: cfg.model },
        { role: 'train', path: cfg.data.sft_train! },
        { role: 'eval', path: cfg.data.sft_eval! },
      ],
      outputs: [path.join(dir('sft'), 'model', 'config.json')],
      writes: trainingWrites,
    }),
    sample: stagePlan('sample', {
      inputs: [
        { role: 'policy', path: policy },
        { role: 'prompts', path: cfg.data.prompts! },
      ],
      outputs: [samples, path.join(dir('sample'), 'summary.json')],
      writes: ['samples.jsonl', 'samples.meta.json', 'summary.json', 'metrics.jsonl'],
    }),
    rank: stagePlan('rank', {
      config: cfg.rank === false ? false : { ...cfg.rank, format: rankInput?.format },
      inputs: [rankInput && { role: 'input', path: rankInput.file }, rankHeldoutInput && { role: 'heldout', path: rankHeldoutInput.file }],
      outputs: [path.join(dir('rank'), 'rankings.jsonl'), ...(rankHeldoutInput ? [heldoutRankings!] : [])],
      writes: ['rankings.jsonl', 'heldout.rankings.jsonl', 'summary.json'],
    }),
    'train-rm': stagePlan('train-rm', {
      training: true,
      inputs: [
        { role: 'model', path: rewardBase },
        rankings !== undefined && { role: 'rankings', path: rankings },
        heldoutRankings !== undefined && { role: 'heldout', path: heldoutRankings },
      ],
      outputs: rewardModels.flatMap((m) => [path.join(m.model, 'config.json'), path.join(m.dir, 'diagnostics.json')]),
      writes: ['summary.json', ...unitNames(rewardModels)],
    }),
    ppo: stagePlan('ppo', {
      training: true,
      config: cfg.ppo === false ? false : { runs: ppo.map((r) => ({ name: r.name, ...r.cfg })) },
      inputs: [
        { role: 'policy', path: policy },
        rewardModel !== undefined && { role: 'reward_model', path: rewardModel },
        { role: 'prompts', path: cfg.data.prompts! },
        cfg.data.heldout_prompts !== undefined && { role: 'heldout', path: cfg.data.heldout_prompts },
      ],
      outputs: ppo.map((r) => path.join(r.model, 'config.json')),
      writes: [...trainingWrites, ...unitNames(ppo)],
    }),
    probe: stagePlan('probe', {
      inputs: [
        { role: 'reference', path: policy },
        ...ppo.map((r) => ({ role: `policy:${r.name}`, path: r.model })),
        rewardModel !== undefined && { role: 'reward_model', path: rewardModel },
        { role: 'prompts', path: (cfg.data.heldout_prompts ?? cfg.data.prompts)! },
      ],
      outputs: probes.map((p) => path.join(p.dir, 'probe.json')),
      writes: ['probe.json', 'unit.json', ...unitNames(probes)],
    }),
    report: stagePlan('report', {
      config: cfg.report === false ? false : { name: cfg.name, ...cfg.report },
      inputs: [{ role: 'config', path: path.join(R, 'config.resolved.yaml') }],
      outputs: [reportFile],
      writes: ['report.html'],
    }),
  };
  // The report reads every stage's artifacts.
  stages.report.upstream = STAGES.filter((s) => s !== 'report' && stages[s].enabled);

  return {
    runDir: R,
    config: cfg,
    policy,
    rankInput,
    rankHeldoutInput,
    rankings,
    heldoutRankings,
    rewardBase,
    rewardModels,
    rewardModel,
    ppoRuns: ppo,
    probeRuns: probes,
    reportFile,
    stages,
  };
}
