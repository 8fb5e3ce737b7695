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
 *   grpo      policy + reward model + prompts        → RUN/grpo/model (or RUN/grpo/<run>/model); opt-in
 *   rloo      policy + reward model + prompts        → RUN/rloo/model (or RUN/rloo/<run>/model); opt-in
 *   dpo       policy + rankings                      → RUN/dpo/model (or RUN/dpo/<run>/model); opt-in
 *   probe     each tuned policy vs the reference     → RUN/probe/probe.json, or RUN/probe/<unit>/probe.json
 *             (units: the PPO runs' names while PPO is the only tuning stage; otherwise <stage> or
 *             <stage>-<run>, e.g. RUN/probe/ppo, RUN/probe/dpo-beta-0.1)
 *   report    everything above                       → RUN/report/report.html
 *
 * "The policy" is RUN/sft/model when sft is on, else the config's `model`.
 */
import type { RewardTrainConfig } from '../reward/config';
import * as path from 'node:path';
import { dpoRuns, DpoStageConfig, grpoRuns, GrpoStageConfig, PolicyStage, ppoRuns, PpoStageConfig, rlooRuns, RlooStageConfig, RunConfig, STAGE_KEY, StageName, STAGES, utilityEntries } from './config';
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
  /** The rankings it learns from: its own (train_rm.utilities[i].rankings) or the run's. */
  rankings?: string;
  heldout?: string;
  /** Whether the rankings are its own (then its held-out file is its own too, and must exist if named). */
  ownRankings: boolean;
  /** Its training settings that differ from train_rm's shared ones. */
  overrides?: Partial<RewardTrainConfig>;
}

export interface PpoRunPlan {
  /** '' for a single run (RUN/ppo/), the run name in a sweep (RUN/ppo/<name>/). */
  name: string;
  dir: string;
  cfg: PpoStageConfig;
  /** RUN/ppo[/name]/model */
  model: string;
}

/** One run of GRPO, RLOO or DPO (as PpoRunPlan). */
export interface TuningRunPlan<C> {
  name: string;
  dir: string;
  cfg: C;
  model: string;
}

export interface ProbeRunPlan {
  name: string;
  dir: string;
  /** The stage that tuned the policy, and that run's directory (its summary.json has the objective). */
  algorithm: PolicyStage;
  source: string;
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
  grpoRuns: TuningRunPlan<GrpoStageConfig>[];
  rlooRuns: TuningRunPlan<RlooStageConfig>[];
  dpoRuns: TuningRunPlan<DpoStageConfig>[];
  /** The reward model of grpo / rloo (and dpo's optional one), like rewardModel for ppo. */
  stageRewardModels: Partial<Record<'grpo' | 'rloo' | 'dpo', string>>;
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
      : utilityEntries(cfg.train_rm).map((u) => ({
          name: u.name,
          utility: u.utility,
          dir: path.join(dir('train-rm'), u.name),
          model: path.join(dir('train-rm'), u.name, 'model'),
          rankings: u.rankings ?? rankings,
          heldout: u.rankings !== undefined ? u.heldout_rankings : heldoutRankings,
          ownRankings: u.rankings !== undefined,
          overrides: u.overrides,
        }));
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
  const tuningRuns = <C>(s: 'grpo' | 'rloo' | 'dpo', runs: { name: string; cfg: C }[]): TuningRunPlan<C>[] =>
    runs.map((r) => {
      const d = r.name ? path.join(dir(s), r.name) : dir(s);
      return { name: r.name, dir: d, cfg: r.cfg, model: path.join(d, 'model') };
    });
  const grpo = cfg.grpo === false ? [] : tuningRuns('grpo', grpoRuns(cfg.grpo));
  const rloo = cfg.rloo === false ? [] : tuningRuns('rloo', rlooRuns(cfg.rloo));
  const dpo = cfg.dpo === false ? [] : tuningRuns('dpo', dpoRuns(cfg.dpo));
  // grpo / rloo / dpo name their reward model as ppo does (checkAndResolve filled in the default).
  const stageRewardModels: RunPlan['stageRewardModels'] = {};
  for (const s of ['grpo', 'rloo', 'dpo'] as const) {
    const sec = cfg[s];
    if (sec === false || sec.reward_model === undefined) continue;
    stageRewardModels[s] = cfg.train_rm !== false ? rewardModels.find((m) => m.name === sec.reward_model)?.model : sec.reward_model;
  }
  // One probe per tuned policy. With PPO alone the units keep PPO's run names (RUN/probe/, or
  // RUN/probe/<run>/ for a sweep); with other algorithms on, <stage>[-<run>].
  const tuned: { algorithm: PolicyStage; name: string; dir: string; model: string }[] = [
    ...ppo.map((r) => ({ algorithm: 'ppo' as const, ...r })),
    ...grpo.map((r) => ({ algorithm: 'grpo' as const, ...r })),
    ...rloo.map((r) => ({ algorithm: 'rloo' as const, ...r })),
    ...dpo.map((r) => ({ algorithm: 'dpo' as const, ...r })),
  ];
  const ppoOnly = tuned.every((r) => r.algorithm === 'ppo');
  const probes: ProbeRunPlan[] =
    cfg.probe === false
      ? []
      : tuned.map((r) => {
          const name = ppoOnly ? r.name : r.name ? `${r.algorithm}-${r.name}` : r.algorithm;
          return { name, dir: name ? path.join(dir('probe'), name) : dir('probe'), algorithm: r.algorithm, source: r.dir, policy: r.model, reference: policy };
        });
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
  // GRPO and RLOO read what PPO reads.
  const tuningStagePlan = (s: 'grpo' | 'rloo', runs: TuningRunPlan<unknown>[], rm: string | undefined): StagePlan =>
    stagePlan(s, {
      training: true,
      config: cfg[s] === false ? false : { runs: runs.map((r) => ({ name: r.name, ...(r.cfg as object) })) },
      inputs: [
        { role: 'policy', path: policy },
        rm !== undefined && { role: 'reward_model', path: rm },
        { role: 'prompts', path: cfg.data.prompts! },
        cfg.data.heldout_prompts !== undefined && { role: 'heldout', path: cfg.data.heldout_prompts },
      ],
      outputs: runs.map((r) => path.join(r.model, 'config.json')),
      writes: [...trainingWrites, ...unitNames(runs)],
    });

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
        rankings !== undefined && rewardModels.some((m) => !m.ownRankings) && { role: 'rankings', path: rankings },
        heldoutRankings !== undefined && rewardModels.some((m) => !m.ownRankings) && { role: 'heldout', path: heldoutRankings },
        ...rewardModels.filter((m) => m.ownRankings).flatMap((m) => [{ role: `rankings:${m.name}`, path: m.rankings! }, m.heldout !== undefined && { role: `heldout:${m.name}`, path: m.heldout }]),
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
    grpo: tuningStagePlan('grpo', grpo, stageRewardModels.grpo),
    rloo: tuningStagePlan('rloo', rloo, stageRewardModels.rloo),
    dpo: stagePlan('dpo', {
      training: true,
      config: cfg.dpo === false ? false : { runs: dpo.map((r) => ({ name: r.name, ...r.cfg })) },
      inputs: [
        { role: 'policy', path: policy },
        rankings !== undefined && { role: 'rankings', path: rankings },
        heldoutRankings !== undefined && { role: 'heldout', path: heldoutRankings },
        stageRewardModels.dpo !== undefined && { role: 'reward_model', path: stageRewardModels.dpo },
        cfg.data.heldout_prompts !== undefined && { role: 'heldout_prompts', path: cfg.data.heldout_prompts },
      ],
      outputs: dpo.map((r) => path.join(r.model, 'config.json')),
      writes: [...trainingWrites, ...unitNames(dpo)],
    }),
    probe: stagePlan('probe', {
      inputs: [
        { role: 'reference', path: policy },
        // PPO's roles as they were (hashes of existing runs stay valid); the other stages' prefixed.
        ...ppo.map((r) => ({ role: `policy:${r.name}`, path: r.model })),
        ...probes.filter((p) => p.algorithm !== 'ppo').map((p) => ({ role: `policy:${p.name}`, path: p.policy })),
        rewardModel !== undefined && { role: 'reward_model', path: rewardModel },
        ...(['grpo', 'rloo'] as const).map((s) => stageRewardModels[s] !== undefined && stageRewardModels[s] !== rewardModel && { role: `reward_model:${s}`, path: stageRewardModels[s]! }),
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
    grpoRuns: grpo,
    rlooRuns: rloo,
    dpoRuns: dpo,
    stageRewardModels,
    probeRuns: probes,
    reportFile,
    stages,
  };
}
