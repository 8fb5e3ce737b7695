/**
 * `rlhf export RUN --to trl|openrlhf --out DIR`: everything an engine built for many GPUs needs
 * to rerun the run, and nothing rlhf-specific left implicit.
 *
 *   DIR/data/      the run's data as JSON Lines (handoff/datasets.ts)
 *   DIR/models/    policy/ (where tuning starts), base/ (where SFT starts, when the run has SFT),
 *                  reward-<name>/ (each reward model a tuning stage used): the Hugging Face
 *                  directories rlhf wrote, copied
 *   DIR/trl/ or DIR/openrlhf/   one launch file per stage, the engine's own option names
 *   DIR/launch.sh  the commands, in the order of the run's stages
 *   DIR/HANDOFF.md what maps to what, and what has no equivalent there
 *
 * The mapping of each stage is data (handoff/mapping.ts: rlhf key → engine name → value), so the
 * launch files and HANDOFF.md are written from the same rows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { ROOT } from '../paths';
import { readPpoObjective } from '../data/artifacts';
import { readoutOf } from '../model/reward-scorer';
import { parseConfig } from '../model/config';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs';
import { DatasetCounts, writeDemonstrations, writePreferences, writePrompts } from './datasets';
import { readPrompts, readTaskPrompts } from '../data/read';
import { PromptRecord } from '../data/records';
import { heldoutPrompts, rolloutPrompts } from '../ppo/stage';
import { EngineStage, engineValues } from './mapping';
import { readRunSource, requireModelDir, RunSource } from './source';
import { trlDpo, trlGroup, trlPpo, trlReward, trlSft } from './trl';
import { openrlhfDpo, openrlhfGroup, openrlhfPpo, openrlhfReward, openrlhfSft } from './openrlhf';
import { handoffMarkdown } from './handoff-md';

export const ENGINES = ['trl', 'openrlhf'] as const;
export type Engine = (typeof ENGINES)[number];

export interface ExportResult {
  dir: string;
  engine: Engine;
  stages: EngineStage[];
  datasets: (DatasetCounts & { name: string })[];
  models: { name: string; from: string }[];
}

/** Copy a model directory's files (the ones rlhf writes; no checkpoint, no hidden files). */
function copyModel(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) {
    if (f.startsWith('.')) continue;
    const src = path.join(from, f);
    if (fs.statSync(src).isFile()) fs.copyFileSync(src, path.join(to, f));
  }
}

export async function exportRun(o: { run: string; engine: Engine; out: string; overwrite?: boolean }): Promise<ExportResult> {
  const src = readRunSource(o.run);
  const { config: cfg, plan } = src;
  const out = path.resolve(o.out);
  prepareOutputDir(out, { command: 'export', writes: ['HANDOFF.md', 'launch.sh', 'data', 'models', o.engine], overwrite: o.overwrite });

  // --- models --------------------------------------------------------------------------------
  const models: ExportResult['models'] = [];
  const addModel = (name: string, from: string, what: string): string => {
    const rel = `models/${name}`;
    if (!models.some((m) => m.name === name)) {
      copyModel(requireModelDir(from, what), path.join(out, rel));
      models.push({ name, from });
    }
    return rel;
  };
  const base = cfg.sft !== false ? addModel('base', cfg.model, 'the model SFT starts from') : undefined;
  const policy = addModel('policy', plan.policy, cfg.sft !== false ? 'the SFT model (sft/model)' : 'the model');
  const rewardBase = plan.rewardBase === plan.policy ? policy : addModel('reward-base', plan.rewardBase, 'the reward models\' trunk');
  const rewardOf = (dir: string | undefined, stage: string): string => {
    if (!dir) throw new Error(`${stage}: the run names no reward model`);
    const rm = plan.rewardModels.find((m) => m.model === dir);
    return addModel(rm ? `reward-${rm.name}` : `reward-${stage}`, dir, `the reward model of ${stage}`);
  };

  // --- data ----------------------------------------------------------------------------------
  const datasets: ExportResult['datasets'] = [];
  const addData = async (name: string, write: (dir: string) => Promise<DatasetCounts[]>): Promise<string> => {
    const rel = `data/${name}`;
    if (!datasets.some((d) => d.name === name)) for (const c of await write(path.join(out, rel))) datasets.push({ name, ...c });
    return rel;
  };
  const preferences = (name: string, train: string | undefined, test: string | undefined, tasks: readonly string[] | null = null) => {
    if (!train || !fs.existsSync(train)) throw new Error(`${train ?? 'the rankings'}: the rankings are not there; run the rank stage first`);
    return addData(name, async (d) => [await writePreferences(d, 'train', train, tasks), ...(test && fs.existsSync(test) ? [await writePreferences(d, 'test', test, tasks)] : [])]);
  };
  /**
   * The prompts of a tuning stage, train and held-out, as the stage itself selects them. `number`:
   * PPO's number_prompt_only, the one prompt written `number.rows` times.
   */
  const prompts = (name: string, select: { train: (file: string) => Promise<PromptRecord[]>; test: (file: string) => Promise<PromptRecord[]>; number?: { rows: number } }) => {
    const file = cfg.data.prompts;
    if (!file) throw new Error('the run has no data.prompts to export');
    const heldout = cfg.data.heldout_prompts;
    const recordsIn = async (f: string) => (await readPrompts(f)).length;
    return addData(name, async (d) => {
      const train = await select.train(file);
      const counts = [select.number ? writePrompts(d, 'train', train, 'number_prompt', 0, select.number.rows) : writePrompts(d, 'train', train, file, await recordsIn(file))];
      if (heldout) counts.push(writePrompts(d, 'test', await select.test(heldout), heldout, await recordsIn(heldout)));
      return counts;
    });
  };
  /** What was written to a data folder's train split. */
  const trainSplit = (rel: string) => datasets.find((d) => `data/${d.name}` === rel && d.file.endsWith('train.jsonl'))!;

  // --- stages --------------------------------------------------------------------------------
  const E = o.engine === 'trl' ? { sft: trlSft, reward: trlReward, ppo: trlPpo, group: trlGroup, dpo: trlDpo } : { sft: openrlhfSft, reward: openrlhfReward, ppo: openrlhfPpo, group: openrlhfGroup, dpo: openrlhfDpo };
  const outOf = (stage: string, name = '') => `out/${name ? `${stage}-${name}` : stage}`;
  const stages: EngineStage[] = [];
  const rewardFunctions: Record<string, unknown> = {};
  const nPositions = parseConfig(JSON.parse(fs.readFileSync(path.join(out, policy, 'config.json'), 'utf8')), 'config.json').n_positions;

  if (cfg.sft !== false) {
    if (!cfg.data.sft_train) throw new Error('sft: the run has no data.sft_train to export');
    const sftTrain = cfg.data.sft_train;
    const sftEval = cfg.data.sft_eval;
    const data = await addData('sft', async (d) => [await writeDemonstrations(d, 'train', sftTrain), ...(sftEval ? [await writeDemonstrations(d, 'test', sftEval)] : [])]);
    stages.push(E.sft(cfg.sft, cfg.seed, { policy: base!, dataset: data, out: outOf('sft') }));
  }
  if (cfg.train_rm !== false) {
    for (const rm of plan.rewardModels) {
      const data = await preferences(rm.ownRankings ? `preference-${rm.name}` : 'preference', rm.rankings, rm.heldout);
      const d = trainSplit(data);
      stages.push(E.reward(rm, cfg.train_rm, cfg.seed, { policy: rewardBase, dataset: data, out: outOf('reward', rm.name) }, d.read ? d.written / d.read : 1));
    }
  }
  // number_prompt_only: one file for every run of a sweep, as many rows as the largest batch.
  const numberRows = Math.max(0, ...plan.ppoRuns.filter((r) => r.cfg.number_prompt_only).map((r) => r.cfg.batch_size));
  const taskPrompts = (tasks: readonly string[] | null) => prompts(tasks ? `prompt-tasks-${tasks.join('+')}` : 'prompt', { train: (f) => readTaskPrompts(f, tasks), test: (f) => readTaskPrompts(f, tasks) });
  for (const r of plan.ppoRuns) {
    const rewardModel = rewardOf(plan.rewardModel, 'ppo');
    const data = r.cfg.number_prompt_only
      ? await prompts('prompt-number', { train: (f) => rolloutPrompts(f, r.cfg), test: (f) => heldoutPrompts(f, r.cfg), number: { rows: numberRows } })
      : await taskPrompts(r.cfg.tasks);
    stages.push(E.ppo(r.cfg, r.name, cfg.seed, { policy, rewardModel, dataset: data, prompts: trainSplit(data).written, out: outOf('ppo', r.name) }));
  }
  for (const [stage, runs] of [['grpo', plan.grpoRuns], ['rloo', plan.rlooRuns]] as const) {
    for (const r of runs) {
      const rewardModel = rewardOf(plan.stageRewardModels[stage], stage);
      const data = await taskPrompts(r.cfg.tasks);
      const key = r.name ? `${stage}_${r.name.replace(/[^A-Za-z0-9_]/g, '_')}` : stage;
      rewardFunctions[key] = rewardFunctionSettings(plan.stageRewardModels[stage]!, rewardModel, r.dir, r.cfg);
      stages.push(E.group(stage, r.cfg, r.name, cfg.seed, { policy, rewardModel, dataset: data, rewardFunction: key, prompts: trainSplit(data).written, out: outOf(stage, r.name) }));
    }
  }
  for (const r of plan.dpoRuns) {
    const data = await preferences(r.cfg.tasks ? `preference-tasks-${r.cfg.tasks.join('+')}` : 'preference', plan.rankings, plan.heldoutRankings, r.cfg.tasks);
    stages.push(E.dpo(r.cfg, r.name, cfg.seed, { policy, dataset: data, out: outOf('dpo', r.name) }, nPositions));
  }
  if (!stages.length) throw new Error(`${src.runDir}: the run has no stage an engine can rerun (sft, train_rm, ppo, grpo, rloo or dpo)`);

  // --- launch files --------------------------------------------------------------------------
  // YAML 1.1 for the YAML files: TRL reads them with PyYAML, for which a bare `no` is false.
  for (const s of stages) if (s.launch !== undefined) writeFileAtomic(path.join(out, s.file), `#!/usr/bin/env bash\n# ${s.runs}: rlhf stage ${s.stage} of ${src.runDir}. Run from ${out}; see HANDOFF.md.\nset -euo pipefail\n${s.launch}\n`);
  if (o.engine === 'trl') {
    for (const s of stages) writeFileAtomic(path.join(out, s.file), `# ${s.runs}: rlhf stage ${s.stage} of ${src.runDir}\n# ${s.command}   (from ${out}; see HANDOFF.md)\n${YAML.stringify(engineValues(s), { version: '1.1' })}`);
    for (const f of ['trl_ppo.py', 'rlhf_reward.py']) writeFileAtomic(path.join(out, 'trl', f), fs.readFileSync(path.join(ROOT, 'handoff', f)));
    for (const [key, v] of Object.entries(rewardFunctions)) writeJsonAtomic(path.join(out, 'trl', `reward-${key}.json`), v);
  }
  writeFileAtomic(path.join(out, 'launch.sh'), launchScript(stages, src, o.engine));
  fs.chmodSync(path.join(out, 'launch.sh'), 0o755);
  const result: ExportResult = { dir: out, engine: o.engine, stages, datasets, models };
  writeFileAtomic(path.join(out, 'HANDOFF.md'), handoffMarkdown(result, src));
  finishOutputDir(out);
  return result;
}

/**
 * rlhf_reward.py's settings for one GRPO/RLOO run: the reward model, its squash, and the gain and bias the run fitted at its start (its summary.json; 1 and 0
 * without reward_norm).
 */
function rewardFunctionSettings(rewardModelDir: string, rewardModel: string, runDir: string, cfg: { reward_norm: boolean; missing_eos_penalty: number | null }) {
  let gain = 1;
  let bias = 0;
  if (cfg.reward_norm) {
    try {
      ({ gain, bias } = readPpoObjective(runDir));
    } catch (err) {
      throw new Error(`${runDir}: the run normalises its reward, and the gain and bias it fitted are read from its summary.json; finish the stage first (${(err as Error).message})`);
    }
  }
  // The squash as rlhf's scorer reads it (model/reward-scorer readoutOf), from the model's config.json.
  const hf = JSON.parse(fs.readFileSync(path.join(rewardModelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const { squash } = readoutOf({ rlhf: (hf.rlhf as Record<string, unknown>) ?? {}, hf, source: rewardModelDir });
  return { reward_model: rewardModel, squash, gain, bias, missing_eos_penalty: cfg.missing_eos_penalty };
}

function launchScript(stages: EngineStage[], src: RunSource, engine: Engine): string {
  const head = [
    '#!/usr/bin/env bash',
    `# The stages of ${src.runDir} in ${engine === 'trl' ? 'TRL' : 'OpenRLHF'}, in the run's order. Written by \`rlhf export\`; see HANDOFF.md.`,
    '# Run from anywhere: paths are relative to this directory.',
    'set -euo pipefail',
    'cd "$(dirname "$0")"',
    '',
  ];
  const body = stages.flatMap((s) => [`# rlhf stage ${s.stage}: ${s.runs}`, s.command, '']);
  return [...head, ...body].join('\n');
}
