/**
 * The stage runner with a cheap fake stage table: up-to-date skipping, re-running a changed stage
 * and everything after it, --from/--until, --resume (and cutting metrics back to the checkpoint),
 * and failed writes that leave earlier artifacts alone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadRunConfig, resolvedConfigYaml, StageName, STAGES } from '../src/pipeline/config';
import { RunDir, RunDirWriteError } from '../src/pipeline/run-dir';
import { OutputError } from '../src/util/output-dir';
import { runPipeline, StageContext, StageError, StageStatus, StageTable, UnfinishedStageError } from '../src/pipeline/runner';
import { prepareMetricsForResume, truncateMetricsAfter } from '../src/train/state';
import { MetricsLogger, readMetrics } from '../src/metrics/logger';
import { writeFileAtomic, writeJsonAtomic } from '../src/util/fs';
import { MAX_LINE_BYTES } from '../src/data/jsonl';
import { fixturePath, tmpDir } from './helpers';

const CONFIG = `name: fake
model: ${fixturePath('gpt2-tiny-random')}
run_dir: run
data:
  sft_train: train.jsonl
  sft_eval: eval.jsonl
  prompts: prompts.jsonl
sft: { max_steps: 6 }
sample: { k: 2 }
rank: {}
train_rm: { utilities: [logsigmoid, inverse] }
ppo: {}
probe: {}
report: {}
`;

interface Call {
  stage: StageName;
  resume: boolean;
}

/**
 * Fake stages: each writes the artifacts the plan expects, with content derived from its config
 * section (so a changed config changes what downstream stages read). `hooks` can replace one.
 */
function fakeTable(calls: Call[], hooks: Partial<Record<StageName, (ctx: StageContext) => Promise<unknown>>> = {}): StageTable {
  const t = {} as StageTable;
  for (const s of STAGES) {
    t[s] = async (ctx) => {
      calls.push({ stage: s, resume: ctx.resume });
      if (hooks[s]) return hooks[s]!(ctx);
      const content = JSON.stringify(ctx.stagePlan.config);
      for (const out of ctx.stagePlan.outputs) writeFileAtomic(out, content);
      return { stage: s, ok: true };
    };
  }
  return t;
}

function setup(text = CONFIG): { dir: string; file: string } {
  const dir = tmpDir('rlhf-runner-');
  for (const f of ['train.jsonl', 'eval.jsonl', 'prompts.jsonl']) fs.writeFileSync(path.join(dir, f), `{"f":"${f}"}\n`);
  const file = path.join(dir, 'fake.yaml');
  fs.writeFileSync(file, text);
  return { dir, file };
}

async function run(
  env: { dir: string; file: string },
  calls: Call[],
  o: { set?: string[]; from?: StageName; until?: StageName; resume?: boolean; restart?: boolean; overwrite?: boolean; hooks?: Parameters<typeof fakeTable>[1] } = {},
) {
  const loaded = loadRunConfig(env.file, { set: o.set, cwd: env.dir });
  const res = await runPipeline({
    config: loaded.config,
    resolvedYaml: resolvedConfigYaml(loaded),
    table: fakeTable(calls, o.hooks),
    from: o.from,
    until: o.until,
    resume: o.resume,
    restart: o.restart,
    overwrite: o.overwrite,
  });
  return Object.fromEntries(res.stages.map((s) => [s.stage, s.status])) as Record<StageName, StageStatus>;
}

/** The opt-in tuning stages (grpo, rloo, dpo) are off in this config. */
const OPT_IN_OFF = { grpo: 'off', rloo: 'off', dpo: 'off' };
const ON_STAGES = STAGES.filter((s) => !(s in OPT_IN_OFF));
const ALL_RAN = { sft: 'ran', sample: 'ran', rank: 'ran', 'train-rm': 'ran', ppo: 'ran', ...OPT_IN_OFF, probe: 'ran', report: 'ran' };

describe('runner: manifests decide what runs', () => {
  it('runs every stage once, then skips them all as up to date', async () => {
    const env = setup();
    const calls: Call[] = [];
    assert.deepEqual(await run(env, calls), ALL_RAN);
    const rd = new RunDir(path.join(env.dir, 'run'));
    for (const s of ON_STAGES) {
      const m = rd.readManifest(s)!;
      assert.equal(m.finished, true, s);
      assert.match(m.config_hash, /^[0-9a-f]{64}$/);
      assert.deepEqual(m.summary, { stage: s, ok: true });
    }
    assert.deepEqual(Object.keys(rd.readManifest('sample')!.upstream), ['sft'], 'sample reads the SFT policy');
    assert.ok(fs.readFileSync(rd.resolvedConfigFile, 'utf8').includes('name: fake'));

    const again: Call[] = [];
    const st = await run(env, again);
    assert.deepEqual(again, []);
    assert.ok(Object.entries(st).every(([s, x]) => x === (s in OPT_IN_OFF ? 'off' : 'up-to-date')), JSON.stringify(st));
  });

  it('a changed stage config re-runs that stage and every stage after it, not the ones before', async () => {
    const env = setup();
    await run(env, []);
    const calls: Call[] = [];
    const st = await run(env, calls, { set: ['sample.k=3'] });
    assert.deepEqual(st, { ...ALL_RAN, sft: 'up-to-date' });
    assert.deepEqual(calls.map((c) => c.stage), ['sample', 'rank', 'train-rm', 'ppo', 'probe', 'report']);

    const late: Call[] = [];
    assert.deepEqual(await run(env, late, { set: ['sample.k=3', 'ppo.init_kl_coef=0.3'] }), {
      sft: 'up-to-date', sample: 'up-to-date', rank: 'up-to-date', 'train-rm': 'up-to-date', ppo: 'ran', ...OPT_IN_OFF, probe: 'ran', report: 'ran',
    });
  });

  it('a changed input file re-runs the stages that read it (and after); the seed reaches every stage', async () => {
    const env = setup();
    await run(env, []);
    fs.writeFileSync(path.join(env.dir, 'prompts.jsonl'), '{"f":"changed"}\n');
    const calls: Call[] = [];
    await run(env, calls);
    assert.deepEqual(calls.map((c) => c.stage), ['sample', 'rank', 'train-rm', 'ppo', 'probe', 'report']);
    const seed: Call[] = [];
    await run(env, seed, { set: ['seed=5'] });
    assert.deepEqual(seed.map((c) => c.stage), ON_STAGES);
  });

  it('a deleted output re-runs its stage; an identical artifact leaves the next stages up to date', async () => {
    const env = setup();
    await run(env, []);
    fs.rmSync(path.join(env.dir, 'run', 'rank', 'rankings.jsonl'));
    const calls: Call[] = [];
    await run(env, calls);
    assert.deepEqual(calls.map((c) => c.stage), ['rank']);
  });

  it('turning a stage off: its manifest is not consulted and later stages follow the new inputs', async () => {
    const env = setup();
    await run(env, []);
    const calls: Call[] = [];
    const st = await run(env, calls, { set: ['probe=false'] });
    assert.equal(st.probe, 'off');
    assert.deepEqual(calls.map((c) => c.stage), ['report'], 'the report depends on which stages are on');
  });

  it('--from forces it and later stages; --until stops; earlier stages must have finished', async () => {
    const env = setup();
    await assert.rejects(run(env, [], { from: 'rank' }), /--from rank: stage sft before it has not finished/);
    await run(env, []);
    const calls: Call[] = [];
    const st = await run(env, calls, { from: 'sample', until: 'rank' });
    assert.deepEqual(st, { sft: 'kept', sample: 'ran', rank: 'ran', 'train-rm': 'not-run', ppo: 'not-run', ...OPT_IN_OFF, probe: 'not-run', report: 'not-run' });
    await assert.rejects(run(env, [], { from: 'ppo', until: 'sample' }), /--from ppo comes after --until sample/);
  });
});

describe('runner: resume', () => {
  /** A training stage that logs steps 1..n, checkpoints at `ckpt`, and dies at `dieAt` (simulated kill). */
  function trainingHook(o: { n: number; ckpt: number; dieAt?: number; seen?: { resume: boolean; firstStep: number }[] }) {
    return async (ctx: StageContext) => {
      const ck = path.join(ctx.dir, 'checkpoint');
      const start = ctx.resume && fs.existsSync(path.join(ck, 'state.json')) ? JSON.parse(fs.readFileSync(path.join(ck, 'state.json'), 'utf8')).step : 0;
      o.seen?.push({ resume: ctx.resume, firstStep: start + 1 });
      const log = new MetricsLogger(path.join(ctx.dir, 'metrics.jsonl'), { stage: ctx.stage });
      try {
        for (let step = start + 1; step <= o.n; step++) {
          log.log(step, { loss: 1 / step });
          if (step === o.ckpt) writeJsonAtomic(path.join(ck, 'state.json'), { step });
          if (step === o.dieAt) throw new Error('killed');
        }
      } finally {
        log.close();
      }
      writeFileAtomic(path.join(ctx.dir, 'model', 'config.json'), '{}');
      return { steps: o.n };
    };
  }

  it('--resume continues an unfinished training stage with resume=true and cuts metrics back to the checkpoint', async () => {
    const env = setup();
    const seen: { resume: boolean; firstStep: number }[] = [];
    await assert.rejects(run(env, [], { until: 'sft', hooks: { sft: trainingHook({ n: 10, ckpt: 4, dieAt: 7, seen }) } }), (e: unknown) => e instanceof StageError && e.stage === 'sft' && /sft: killed/.test(e.message));
    const rd = new RunDir(path.join(env.dir, 'run'));
    const m = rd.readManifest('sft')!;
    assert.equal(m.finished, false);
    assert.match(m.error ?? '', /killed/);

    const calls: Call[] = [];
    const st = await run(env, calls, { until: 'sft', resume: true, hooks: { sft: trainingHook({ n: 10, ckpt: 4, seen }) } });
    assert.equal(st.sft, 'resumed');
    assert.deepEqual(seen, [{ resume: false, firstStep: 1 }, { resume: true, firstStep: 5 }]);
    const steps = (await readMetrics(path.join(env.dir, 'run', 'sft', 'metrics.jsonl'))).records.map((r) => r.step);
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'steps 5-7 of the killed run were dropped, not duplicated');
    assert.equal(rd.readManifest('sft')!.finished, true);
    assert.equal(rd.readManifest('sft')!.resumed, true);
  });

  it('without --resume or --restart, an unfinished stage with a checkpoint stops the run: nothing runs, nothing is lost', async () => {
    const env = setup();
    await assert.rejects(run(env, [], { until: 'sft', hooks: { sft: trainingHook({ n: 10, ckpt: 4, dieAt: 7 }) } }));
    const sftDir = path.join(env.dir, 'run', 'sft');
    const before = fs.readFileSync(path.join(sftDir, 'checkpoint', 'state.json'), 'utf8');
    const calls: Call[] = [];
    const err = await run(env, calls, { hooks: { sft: trainingHook({ n: 10, ckpt: 4 }) } }).catch((e: unknown) => e);
    assert.ok(err instanceof UnfinishedStageError, String(err));
    assert.match(err.message, /stage sft did not finish in its last run: a checkpoint at step 4 \(/);
    assert.match(err.message, /--resume to continue from step 4/);
    assert.match(err.message, /--restart to discard it and start sft afresh/);
    assert.deepEqual(calls, [], 'no stage ran');
    assert.equal(fs.readFileSync(path.join(sftDir, 'checkpoint', 'state.json'), 'utf8'), before, 'the checkpoint is kept');
    assert.deepEqual((await readMetrics(path.join(sftDir, 'metrics.jsonl'))).records.map((r) => r.step), [1, 2, 3, 4, 5, 6, 7], 'the log is kept');
  });

  it('--restart starts an unfinished stage afresh: checkpoint and old log discarded, steps from 1', async () => {
    const env = setup();
    await assert.rejects(run(env, [], { until: 'sft', hooks: { sft: trainingHook({ n: 10, ckpt: 4, dieAt: 7 }) } }));
    const seen: { resume: boolean; firstStep: number }[] = [];
    const st = await run(env, [], { until: 'sft', restart: true, hooks: { sft: trainingHook({ n: 10, ckpt: 20, seen }) } });
    assert.equal(st.sft, 'ran');
    assert.deepEqual(seen, [{ resume: false, firstStep: 1 }]);
    const steps = (await readMetrics(path.join(env.dir, 'run', 'sft', 'metrics.jsonl'))).records.map((r) => r.step);
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(fs.existsSync(path.join(env.dir, 'run', 'sft', 'checkpoint')), false, 'the old checkpoint is gone');
    await assert.rejects(run(env, [], { resume: true, restart: true }), /--resume and --restart exclude each other/);
  });

  it('a stage with units: finished units and a unit checkpoint are named; an unfinished stage without any is re-run', async () => {
    const env = setup();
    const rmHook = (dieIn?: string) => async (ctx: StageContext) => {
      for (const u of ctx.plan.rewardModels) {
        if (ctx.resume && fs.existsSync(path.join(u.dir, 'unit.json'))) continue;
        if (u.name === dieIn) {
          writeJsonAtomic(path.join(u.dir, 'checkpoint', 'state.json'), { step: 3 });
          throw new Error('killed');
        }
        writeFileAtomic(path.join(u.model, 'config.json'), '{}');
        writeFileAtomic(path.join(u.dir, 'diagnostics.json'), '{}');
        writeJsonAtomic(path.join(u.dir, 'unit.json'), { name: u.name });
      }
      return {};
    };
    await assert.rejects(run(env, [], { until: 'train-rm', hooks: { 'train-rm': rmHook('inverse') } }), /killed/);
    const err = await run(env, [], { until: 'train-rm', hooks: { 'train-rm': rmHook() } }).catch((e: unknown) => e);
    assert.ok(err instanceof UnfinishedStageError, String(err));
    assert.match(err.message, /stage train-rm did not finish in its last run: logsigmoid finished; inverse has a checkpoint at step 3/);
    assert.match(err.message, /--resume .* --restart/);

    // A stage that died before its first checkpoint loses nothing: it re-runs without a flag.
    const env2 = setup();
    await assert.rejects(run(env2, [], { until: 'sft', hooks: { sft: trainingHook({ n: 10, ckpt: 8, dieAt: 3 }) } }));
    const seen: { resume: boolean; firstStep: number }[] = [];
    await run(env2, [], { until: 'sft', hooks: { sft: trainingHook({ n: 10, ckpt: 8, seen }) } });
    assert.deepEqual(seen, [{ resume: false, firstStep: 1 }]);
    const steps = (await readMetrics(path.join(env2.dir, 'run', 'sft', 'metrics.jsonl'))).records.map((r) => r.step);
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'the old log is replaced, not appended to');
  });

  it('--resume refuses a checkpoint made with a different config; non-training stages just re-run', async () => {
    const env = setup();
    await assert.rejects(run(env, [], { until: 'sft', hooks: { sft: trainingHook({ n: 10, ckpt: 4, dieAt: 7 }) } }));
    await assert.rejects(run(env, [], { until: 'sft', resume: true, set: ['sft.lr=0.5'] }), /--resume: the unfinished run .* different config/);

    const env2 = setup();
    await assert.rejects(run(env2, [], { hooks: { sample: async () => { throw new Error('boom'); } } }), /sample: boom/);
    const calls: Call[] = [];
    await run(env2, calls, { resume: true });
    assert.deepEqual(calls.map((c) => [c.stage, c.resume]), [['sample', false], ['rank', false], ['train-rm', false], ['ppo', false], ['probe', false], ['report', false]]);
  });
});

describe('runner: files rlhf did not write', () => {
  it('a run_dir that is not empty and not a run is refused before anything is written, unless --overwrite', async () => {
    const env = setup();
    const mine = path.join(env.dir, 'run');
    fs.mkdirSync(mine);
    fs.writeFileSync(path.join(mine, 'thesis.tex'), 'mine');
    const calls: Call[] = [];
    const err = await run(env, calls).catch((e: unknown) => e);
    assert.ok(err instanceof OutputError, String(err));
    assert.match(err.message, /run_dir .*run is not empty and is not an rlhf run directory \(thesis\.tex\).*--overwrite/);
    assert.deepEqual(calls, []);
    assert.deepEqual(fs.readdirSync(mine), ['thesis.tex'], 'nothing written into it');
    await run(env, [], { overwrite: true });
    assert.equal(fs.readFileSync(path.join(mine, 'thesis.tex'), 'utf8'), 'mine');
    assert.deepEqual(await run(env, []), Object.fromEntries(STAGES.map((s) => [s, s in OPT_IN_OFF ? 'off' : 'up-to-date'])), 'now a run directory: no flag needed');
  });

  it("a user's folder named like a stage: refused unless --overwrite, and then the user's file stays", async () => {
    const env = setup();
    await run(env, [], { until: 'sample' });
    const sampleDir = path.join(env.dir, 'run', 'rank');
    fs.mkdirSync(sampleDir);
    fs.writeFileSync(path.join(sampleDir, 'notes.txt'), 'mine');
    const calls: Call[] = [];
    const err = await run(env, calls).catch((e: unknown) => e);
    assert.ok(err instanceof OutputError, String(err));
    assert.match(err.message, /stage directories that rlhf did not write are in the way: .*rank \(notes\.txt\)/);
    assert.deepEqual(calls, [], 'refused before any stage ran');
    await run(env, [], { overwrite: true });
    assert.equal(fs.readFileSync(path.join(sampleDir, 'notes.txt'), 'utf8'), 'mine');
    assert.ok(fs.existsSync(path.join(sampleDir, 'rankings.jsonl')));
  });

  it("a re-run keeps a user's file beside a stage's outputs and refuses to delete one inside them", async () => {
    const env = setup();
    await run(env, []);
    const sft = path.join(env.dir, 'run', 'sft');
    fs.writeFileSync(path.join(sft, 'notes.txt'), 'beside');
    await run(env, [], { set: ['sft.lr=0.01'] });
    assert.equal(fs.readFileSync(path.join(sft, 'notes.txt'), 'utf8'), 'beside', 'a file beside the outputs stays');

    fs.writeFileSync(path.join(sft, 'model', 'README.md'), 'inside');
    const calls: Call[] = [];
    const err = await run(env, calls, { set: ['sft.lr=0.02'] }).catch((e: unknown) => e);
    assert.ok(err instanceof OutputError, String(err));
    assert.match(err.message, new RegExp(`holds files rlhf did not write where this run writes its outputs: model${path.sep}README\\.md.*--overwrite`));
    assert.deepEqual(calls, [], 'the stage did not run');
    assert.equal(fs.readFileSync(path.join(sft, 'model', 'README.md'), 'utf8'), 'inside');
    await run(env, [], { set: ['sft.lr=0.02'], overwrite: true });
    assert.equal(fs.existsSync(path.join(sft, 'model', 'README.md')), false, '--overwrite replaces model/ whole');
    assert.equal(fs.readFileSync(path.join(sft, 'notes.txt'), 'utf8'), 'beside');
  });

  it('units of an earlier config go (the report must not show a utility no longer trained); rlhf output nested by the user stays', async () => {
    const env = setup();
    await run(env, []);
    const rm = path.join(env.dir, 'run', 'train-rm');
    fs.mkdirSync(path.join(rm, 'logsigmoid', 'mine'));
    fs.writeFileSync(path.join(rm, 'logsigmoid', 'mine', 'x.txt'), 'keep');
    writeJsonAtomic(path.join(rm, 'extra', '.rlhf-output.json'), { written_by: 'rlhf', command: 'train-rm', finished: true });
    writeFileAtomic(path.join(rm, 'extra', 'metrics.jsonl'), '');
    await run(env, [], { set: ['train_rm.utilities=[inverse]'] });
    assert.deepEqual(fs.readdirSync(rm).filter((n) => !n.startsWith('.')).sort(), ['extra', 'inverse', 'logsigmoid', 'manifest.json']);
    assert.deepEqual(fs.readdirSync(path.join(rm, 'logsigmoid')), ['mine'], "logsigmoid's outputs went, the user's folder in it stayed");
  });
});

describe('runner: failed writes', () => {
  it('a full disk names the path; finished stages and their artifacts are untouched', async () => {
    const env = setup();
    await run(env, [], { until: 'sample' });
    const rd = new RunDir(path.join(env.dir, 'run'));
    const before = { manifest: fs.readFileSync(rd.manifestFile('sft')), model: fs.readFileSync(path.join(env.dir, 'run', 'sft', 'model', 'config.json')) };
    const full = path.join(env.dir, 'run', 'rank', 'rankings.jsonl');
    const err = await run(env, [], {
      set: ['sample.k=5'],
      hooks: {
        rank: async () => {
          throw new Error(`could not write ${full}: ENOSPC: no space left on device, write`);
        },
      },
    }).catch((e: unknown) => e);
    assert.ok(err instanceof RunDirWriteError, String(err));
    assert.equal(err.code, 'ENOSPC');
    assert.match(err.message, new RegExp(`^rank: cannot write ${full.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: no space left on the device \\(ENOSPC\\)\\. Nothing already written was changed`));
    assert.ok(fs.readFileSync(rd.manifestFile('sft')).equals(before.manifest));
    assert.ok(fs.readFileSync(path.join(env.dir, 'run', 'sft', 'model', 'config.json')).equals(before.model));
    assert.equal(rd.readManifest('sample')!.finished, true);
    assert.equal(rd.readManifest('rank')!.finished, false);
  });

  it('a run directory that cannot be created is an error naming it, before any stage', async () => {
    const env = setup();
    fs.writeFileSync(path.join(env.dir, 'blocker'), 'a file, not a directory');
    const calls: Call[] = [];
    const err = await run(env, calls, { set: [`run_dir=${path.join(env.dir, 'blocker', 'run')}`] }).catch((e: unknown) => e);
    assert.ok(err instanceof RunDirWriteError, String(err));
    assert.match(err.message, /cannot write .*blocker.*\(ENOTDIR\)/);
    assert.deepEqual(calls, []);
    assert.equal(fs.readFileSync(path.join(env.dir, 'blocker'), 'utf8'), 'a file, not a directory');
  });
});

describe('metrics cut back to a checkpoint', () => {
  it('keeps records with step ≤ the checkpoint, drops the rest and a trailing fragment', async () => {
    const dir = tmpDir('rlhf-trunc-');
    const f = path.join(dir, 'metrics.jsonl');
    const lines = [1, 2, 3, 4, 5, 6].map((s) => JSON.stringify({ stage: 'sft', step: s, time: 0, elapsed: 0, loss: s, text: 'ü' }));
    fs.writeFileSync(f, `${lines.join('\n')}\n{"stage":"sft","st`);
    assert.deepEqual(truncateMetricsAfter(f, 4), { kept: 4, dropped: 2 });
    assert.equal(fs.readFileSync(f, 'utf8'), `${lines.slice(0, 4).join('\n')}\n`);
    assert.deepEqual(truncateMetricsAfter(f, 4), { kept: 4, dropped: 0 }, 'idempotent');
  });

  it('a line longer than the readers\' limit is an error naming file:line, not a buffer of any size', () => {
    const f = path.join(tmpDir('rlhf-trunc-'), 'metrics.jsonl');
    // (The limit is checked per 1 MiB read: the line is well past it.)
    fs.writeFileSync(f, `${JSON.stringify({ stage: 'sft', step: 1 })}\n{"stage":"sft","step":2,"x":"${'x'.repeat(MAX_LINE_BYTES + (2 << 20))}"}\n`);
    assert.throws(() => truncateMetricsAfter(f, 2), new RegExp(`metrics\\.jsonl:2: a line longer than ${MAX_LINE_BYTES} bytes`));
  });

  it('works under an open logger (same file, appends continue after the cut)', async () => {
    const dir = tmpDir('rlhf-trunc-');
    const f = path.join(dir, 'metrics.jsonl');
    const log = new MetricsLogger(f, { stage: 'sft' });
    for (let s = 1; s <= 5; s++) log.log(s, { loss: s });
    log.flush();
    truncateMetricsAfter(f, 2);
    log.log(3, { loss: 30 });
    log.close();
    const recs = (await readMetrics(f)).records;
    assert.deepEqual(recs.map((r) => [r.step, r.loss]), [[1, 1], [2, 2], [3, 30]]);
  });

  it('prepareMetricsForResume uses the checkpoint step, and clears the log when there is no checkpoint', async () => {
    const dir = tmpDir('rlhf-trunc-');
    const f = path.join(dir, 'metrics.jsonl');
    fs.writeFileSync(f, [1, 2, 3].map((s) => JSON.stringify({ stage: 'x', step: s })).join('\n') + '\n');
    assert.deepEqual(prepareMetricsForResume(dir), { step: 0, dropped: 3 });
    assert.equal(fs.readFileSync(f, 'utf8'), '');
    fs.writeFileSync(f, [1, 2, 3].map((s) => JSON.stringify({ stage: 'x', step: s })).join('\n') + '\n');
    writeJsonAtomic(path.join(dir, 'checkpoint', 'state.json'), { step: 2 });
    assert.deepEqual(prepareMetricsForResume(dir), { step: 2, dropped: 1 });
  });
});
