/**
 * The stage runner: sft → sample → rank → train-rm → ppo → probe → report over one run directory.
 *
 * For each enabled stage, in order:
 *   1. hash it: config_hash = H(stage, its resolved config, seed, its inputs' contents,
 *      the config_hash of each upstream stage it reads from) — see run-dir.ts;
 *   2. skip it when its manifest is finished with the same hash and its outputs exist ("up to date");
 *   3. otherwise run it: afresh (what it writes is removed first; files rlhf did not write stay, see
 *      util/output-dir), or, under --resume, continuing an unfinished training stage from its
 *      checkpoint (metrics.jsonl is cut back to the checkpoint). An unfinished training stage that
 *      left a checkpoint (or finished units) is never started afresh silently: without --resume or
 *      --restart the run stops before any stage runs (UnfinishedStageError);
 *   4. write the manifest: finished: false before the stage starts, finished: true with the
 *      stage's summary after it ends. A crash in between leaves finished: false.
 *
 * `from`: stages before it are not run (they must have finished); it and the stages after it run
 * even when up to date. `until`: no stage after it runs. The stage functions come from a table
 * (stages.ts), so tests can run the same logic with cheap fake stages.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunConfig, StageName, STAGES } from './config';
import { planRun, RunPlan, StagePlan } from './plan';
import { asWriteError, hashConfig, hashPath, RunDir, StageManifest } from './run-dir';
import { checkpointStep, InterruptedError, NonFiniteError, prepareMetricsForResume, stopRequested } from '../train/state';
import { OutputError } from '../util/output-dir';

export interface StageContext {
  stage: StageName;
  config: RunConfig;
  plan: RunPlan;
  stagePlan: StagePlan;
  /** RUN/<stage> (exists; holds no earlier output of this stage unless resuming, see RunDir.clearStage). */
  dir: string;
  /** Continue from the stage's checkpoint(s) (training stages under --resume). */
  resume: boolean;
  seed: number;
  log: (msg: string) => void;
}

/** A stage: does the work, writes its artifacts into ctx.dir, returns a small JSON summary. */
export type StageFn = (ctx: StageContext) => Promise<unknown>;
export type StageTable = Record<StageName, StageFn>;

export type StageStatus = 'ran' | 'resumed' | 'up-to-date' | 'off' | 'kept' | 'not-run';

export interface StageOutcome {
  stage: StageName;
  status: StageStatus;
  config_hash?: string;
  seconds?: number;
  summary?: unknown;
}

export interface RunOptions {
  config: RunConfig;
  /** Text of RUN/config.resolved.yaml (see resolvedConfigYaml). */
  resolvedYaml: string;
  table: StageTable;
  from?: StageName;
  until?: StageName;
  resume?: boolean;
  /** Start unfinished training stages afresh, discarding their checkpoints (and finished units). */
  restart?: boolean;
  /** Use a run_dir (or stage directory) that rlhf did not create; replace entries of the names a stage writes. */
  overwrite?: boolean;
  log?: (msg: string) => void;
}

export interface RunResult {
  runDir: string;
  plan: RunPlan;
  stages: StageOutcome[];
}

/** A sub-unit of a stage (one reward model, one sweep run) that finished writes this file. */
export const UNIT_DONE = 'unit.json';

/** A stage failed (not an interrupt, not a non-finite value, not a failed write): names the stage. */
export class StageError extends Error {
  constructor(
    readonly stage: StageName,
    readonly cause: unknown,
  ) {
    const m = cause instanceof Error ? cause.message : String(cause);
    super(m.startsWith(`${stage}:`) ? m : `${stage}: ${m}`);
  }
}

/** Ctrl-C arrived while a stage that does not checkpoint ran; it finished, the next ones did not start. */
export class StageBoundaryInterrupt extends InterruptedError {
  constructor(
    readonly done: StageName,
    readonly next: StageName | undefined,
  ) {
    super(done, 0);
    this.message = `interrupted after stage ${done} finished${next ? `; ${next} and later stages did not start` : ''}`;
  }
}

/** What an unfinished training stage left that starting it afresh would throw away. */
export interface UnfinishedWork {
  stage: StageName;
  dir: string;
  /** Checkpoints: the unit ('' for the stage itself) and its step. */
  checkpoints: { unit: string; step: number; dir: string }[];
  /** Units (reward models, sweep runs) that finished. */
  finishedUnits: string[];
}

/**
 * A re-run would restart training stages whose last run did not finish and left a checkpoint: stop
 * and say how to continue (--resume) or to discard it (--restart). Nothing was changed.
 */
export class UnfinishedStageError extends Error {
  constructor(readonly work: UnfinishedWork[]) {
    const parts = work.map((w) => {
      const what = [
        ...w.finishedUnits.map((u) => `${u} finished`),
        ...w.checkpoints.map((c) => `${c.unit ? `${c.unit} has ` : ''}a checkpoint at step ${c.step} (${c.dir})`),
      ];
      return `stage ${w.stage} did not finish in its last run: ${what.join('; ')}`;
    });
    const first = work[0];
    const step = first.checkpoints[0]?.step;
    super(
      `${parts.join('. ')}. Starting ${work.length > 1 ? 'them' : 'it'} again would throw ${work.length > 1 || first.checkpoints.length + first.finishedUnits.length > 1 ? 'this work' : 'the checkpoint'} away, so nothing was run or changed. ` +
        `Run again with --resume to continue${step !== undefined && work.length === 1 && first.checkpoints.length === 1 ? ` from step ${step}` : ' where it stopped'}, ` +
        `or with --restart to discard it and start ${work.map((w) => w.stage).join(', ')} afresh.`,
    );
  }
}

/** Checkpoints and finished units in a training stage's directory (what a restart would discard). */
export function unfinishedWork(stage: StageName, dir: string): UnfinishedWork {
  const w: UnfinishedWork = { stage, dir, checkpoints: [], finishedUnits: [] };
  const look = (d: string, unit: string) => {
    const step = checkpointStep(path.join(d, 'checkpoint'));
    if (step !== undefined) w.checkpoints.push({ unit, step, dir: path.join(d, 'checkpoint') });
  };
  look(dir, '');
  if (fs.existsSync(dir)) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name === 'checkpoint' || e.name === 'model' || e.name === 'critic' || e.name.startsWith('.')) continue;
      if (fs.existsSync(path.join(dir, e.name, UNIT_DONE))) w.finishedUnits.push(e.name);
      else look(path.join(dir, e.name), e.name);
    }
  }
  return w;
}

/** Arrays longer than this are summarised in manifests (the artifacts hold the data). */
const MAX_SUMMARY_ARRAY = 32;

/** A summary small enough for a manifest: long arrays become "[N items]", functions and tensors go. */
export function compactSummary(v: unknown, depth = 0): unknown {
  if (v === null || v === undefined) return v ?? null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v !== 'object') return typeof v === 'function' ? undefined : v;
  if (depth > 6) return '[…]';
  if (Array.isArray(v)) return v.length > MAX_SUMMARY_ARRAY ? `[${v.length} items]` : v.map((x) => compactSummary(x, depth + 1));
  if (ArrayBuffer.isView(v)) return `[${(v as unknown as { length: number }).length} values]`;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const c = compactSummary(x, depth + 1);
    if (c !== undefined) out[k] = c;
  }
  return out;
}

function stageIndex(s: StageName | undefined, fallback: number): number {
  return s === undefined ? fallback : STAGES.indexOf(s);
}

/** Directories of a stage that may hold a checkpoint and a metrics log: the stage dir and its sub-dirs. */
function trainingDirs(dir: string): string[] {
  const dirs = [dir];
  if (fs.existsSync(dir)) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== 'checkpoint' && e.name !== 'model' && !e.name.startsWith('.')) dirs.push(path.join(dir, e.name));
    }
  }
  // A finished unit keeps its complete log; only unfinished ones resume from a checkpoint.
  return dirs.filter((d) => !fs.existsSync(path.join(d, UNIT_DONE)) && (fs.existsSync(path.join(d, 'metrics.jsonl')) || fs.existsSync(path.join(d, 'checkpoint'))));
}

export async function runPipeline(o: RunOptions): Promise<RunResult> {
  const cfg = o.config;
  const log = o.log ?? (() => {});
  const plan = planRun(cfg);
  const rd = new RunDir(cfg.run_dir);
  const fromIdx = stageIndex(o.from, 0);
  const untilIdx = stageIndex(o.until, STAGES.length - 1);
  if (fromIdx > untilIdx) throw new Error(`--from ${o.from} comes after --until ${o.until} (the order is ${STAGES.join(' → ')})`);

  if (o.resume && o.restart) throw new Error('--resume and --restart exclude each other: --resume continues an unfinished stage, --restart discards it');

  // 0. Before anything is written or computed: whose directories these are, and whether a
  //    checkpoint would be lost (see preflight).
  preflight(plan, rd, fromIdx, untilIdx, o);
  rd.writeResolvedConfig(o.resolvedYaml);
  const hashes: Partial<Record<StageName, string>> = {};
  const outcomes: StageOutcome[] = [];
  const n = STAGES.length;

  for (let i = 0; i < n; i++) {
    const s = STAGES[i];
    const sp = plan.stages[s];
    const tag = `[${i + 1}/${n}] ${s}`;
    if (!sp.enabled) {
      outcomes.push({ stage: s, status: 'off' });
      log(`${tag}: off`);
      continue;
    }
    if (i > untilIdx) {
      outcomes.push({ stage: s, status: 'not-run' });
      log(`${tag}: not run (--until ${o.until})`);
      continue;
    }
    const manifest = rd.readManifest(s);
    if (i < fromIdx) {
      if (!manifest?.finished) {
        throw new Error(`--from ${o.from}: stage ${s} before it has not finished in ${sp.dir}; run without --from (or with --from ${s}) first`);
      }
      hashes[s] = manifest.config_hash;
      outcomes.push({ stage: s, status: 'kept', config_hash: manifest.config_hash, summary: manifest.summary });
      log(`${tag}: kept as it is (--from ${o.from})`);
      continue;
    }

    // 1. The hash of this stage's config and inputs.
    const inputs: Record<string, string> = {};
    const inputHashes: [string, string][] = [];
    for (const inp of sp.inputs) {
      if (!inp.path.startsWith('hub:') && !fs.existsSync(inp.path)) {
        throw new StageError(s, new Error(`input ${inp.role} ${inp.path} does not exist`));
      }
      const h = hashPath(inp.path);
      inputs[inp.path] = h;
      inputHashes.push([inp.role, h]);
    }
    const upstream: Partial<Record<StageName, string>> = {};
    for (const u of sp.upstream) if (hashes[u]) upstream[u] = hashes[u];
    const configHash = hashConfig({ stage: s, config: sp.config, seed: cfg.seed, inputs: inputHashes, upstream });

    // 2. Up to date?
    const forced = o.from !== undefined && i >= fromIdx;
    const outputsExist = sp.outputs.every((f) => fs.existsSync(f));
    if (!forced && manifest?.finished && manifest.config_hash === configHash && outputsExist) {
      hashes[s] = configHash;
      outcomes.push({ stage: s, status: 'up-to-date', config_hash: configHash, summary: manifest.summary });
      log(`${tag}: up to date (finished ${manifest.finished_at ?? '?'}), skipped`);
      continue;
    }

    // 3. Resume or start afresh.
    const resume = !!o.resume && sp.training && !!manifest && !manifest.finished;
    if (resume && manifest.config_hash !== configHash) {
      throw new StageError(
        s,
        new Error(
          `--resume: the unfinished run in ${sp.dir} was started with a different config or inputs (hash ${manifest.config_hash.slice(0, 12)}, now ${configHash.slice(0, 12)}); ` +
            `restore the config, or run with --restart instead of --resume to discard the checkpoint and start the stage afresh`,
        ),
      );
    }
    const wasUnfinished = !resume && !!manifest && !manifest.finished;
    const why = resume
      ? 'resuming'
      : !manifest
        ? 'running'
        : forced
          ? `running (--from ${o.from})`
          : manifest.finished
            ? 're-running (config or inputs changed)'
            : o.restart && sp.training
              ? 'restarting (--restart; the last run did not finish)'
              : 're-running (the last run did not finish)';
    if (wasUnfinished && sp.training) {
      const w = unfinishedWork(s, sp.dir);
      for (const c of w.checkpoints) log(`${s}: discarding ${c.unit ? `${c.unit}'s ` : ''}checkpoint at step ${c.step} (--restart)`);
      for (const u of w.finishedUnits) log(`${s}: discarding the finished unit ${u} (--restart)`);
    }
    log(`${tag}: ${why}`);
    if (resume) {
      // The log of each unfinished unit is cut back to its checkpoint (see prepareMetricsForResume).
      for (const d of trainingDirs(sp.dir)) {
        const r = rd.guard(d, () => prepareMetricsForResume(d), s);
        log(`${s}: ${path.relative(sp.dir, d) || 'continuing'} from ${r.step ? `the checkpoint at step ${r.step}` : 'the start (no checkpoint yet)'}${r.dropped ? `; dropped ${r.dropped} metrics records logged after it` : ''}`);
      }
    } else {
      rd.clearStage(s, sp.writes, { overwrite: o.overwrite });
    }

    // 4. Run, with the manifest around it.
    const started = new Date();
    const m: StageManifest = { stage: s, config_hash: configHash, inputs, upstream, config: sp.config, finished: false, started_at: started.toISOString(), resumed: resume || undefined };
    rd.writeManifest(m);
    const ctx: StageContext = { stage: s, config: cfg, plan, stagePlan: sp, dir: sp.dir, resume, seed: cfg.seed, log };
    let summary: unknown;
    try {
      summary = compactSummary(await o.table[s](ctx));
    } catch (err) {
      const wrapped = asWriteError(err, sp.dir, s) ?? (err instanceof InterruptedError || err instanceof NonFiniteError || err instanceof StageError || err instanceof OutputError ? err : new StageError(s, err));
      try {
        rd.writeManifest({ ...m, error: (wrapped as Error).message });
      } catch {
        // The disk may be full: the manifest without the error still says "not finished".
      }
      throw wrapped;
    }
    const seconds = (Date.now() - started.getTime()) / 1000;
    rd.writeManifest({ ...m, finished: true, finished_at: new Date().toISOString(), seconds, summary });
    hashes[s] = configHash;
    outcomes.push({ stage: s, status: resume ? 'resumed' : 'ran', config_hash: configHash, seconds, summary });
    log(`${s}: done in ${seconds.toFixed(1)}s`);

    if (stopRequested()) {
      const next = STAGES.slice(i + 1, untilIdx + 1).find((x) => plan.stages[x].enabled);
      if (next) throw new StageBoundaryInterrupt(s, next);
    }
  }
  return { runDir: rd.root, plan, stages: outcomes };
}

/**
 * Checks before the first write of a run: the run directory and the directory of every stage that
 * may run must be rlhf's (or --overwrite) and writable, and no unfinished training stage may be
 * restarted over its checkpoint unless --resume or --restart says what to do with it.
 */
function preflight(plan: RunPlan, rd: RunDir, fromIdx: number, untilIdx: number, o: RunOptions): void {
  rd.checkRoot({ overwrite: o.overwrite });
  const foreign: string[] = [];
  const unfinished: UnfinishedWork[] = [];
  for (let i = fromIdx; i <= untilIdx; i++) {
    const s = STAGES[i];
    const sp = plan.stages[s];
    if (!sp.enabled) continue;
    const names = rd.foreignStageDir(s);
    if (names && !o.overwrite) foreign.push(`${sp.dir} (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`);
    const m = rd.readManifest(s);
    if (sp.training && m && !m.finished && !o.resume && !o.restart) {
      const w = unfinishedWork(s, sp.dir);
      if (w.checkpoints.length || w.finishedUnits.length) unfinished.push(w);
    }
  }
  if (foreign.length) {
    throw new OutputError(
      foreign[0],
      `stage directories that rlhf did not write are in the way: ${foreign.join('; ')}. Nothing was changed. ` +
        `Move them, choose another run_dir, or pass --overwrite: each stage then replaces only the entries it writes there and leaves other files alone.`,
    );
  }
  if (unfinished.length) throw new UnfinishedStageError(unfinished);
}
