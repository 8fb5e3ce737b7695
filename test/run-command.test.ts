/**
 * `rlhf run` as a child process: bad configs (exit non-zero, nothing written), --set, crash
 * safety with a real training stage (SFT on a tiny model: kill -9 then --resume, and Ctrl-C then
 * --resume, both equal to an uninterrupted run), the non-finite guard, an unwritable run dir.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { selectBackend } from '../src/backend';
import { disposeBundle, initModel, saveModel } from '../src/model/checkpoint';
import { decodeSafetensors } from '../src/model/safetensors';
import { tokenizerFromJson } from '../src/tokenizer/tokenizer';
import { trainByteLevelBPE } from '../src/tokenizer/train-bpe';
import { ROOT, runCli, TEST_BACKEND, tmpDir } from './helpers';

const BIN = path.join(ROOT, 'bin', 'run.js');
const STEPS = 150;
const CKPT_EVERY = 10;

let work: string;
let configFile: string;

/** A tiny GPT-2 (2 layers, 32 wide) with a BPE tokenizer trained on the demonstrations; data subsets. */
async function makeFixture(): Promise<void> {
  work = tmpDir('rlhf-run-cmd-');
  const lines = (f: string, n: number) => fs.readFileSync(path.join(ROOT, 'data', 'tasks', f), 'utf8').split('\n').filter(Boolean).slice(0, n);
  const train = lines('sft-train.jsonl', 96);
  fs.writeFileSync(path.join(work, 'train.jsonl'), `${train.join('\n')}\n`);
  fs.writeFileSync(path.join(work, 'eval.jsonl'), `${lines('sft-eval.jsonl', 16).join('\n')}\n`);
  const texts = train.map((l) => JSON.parse(l)).map((r: { prompt: string; response: string }) => r.prompt + r.response);
  await selectBackend('cpu');
  const tok = tokenizerFromJson(trainByteLevelBPE(texts, { vocabSize: 512, singleTokenNumbers: true }));
  const cfg = { vocab_size: tok.vocabSize, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 2, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new' as const, bos_token_id: tok.eosId, eos_token_id: tok.eosId };
  const m = initModel(cfg, tok, 3);
  await saveModel(path.join(work, 'model'), m);
  disposeBundle(m);
  configFile = path.join(work, 'tiny.yaml');
  fs.writeFileSync(
    configFile,
    `# a tiny SFT-only run for the crash-safety tests
name: tiny
seed: 3
model: ${path.join(work, 'model')}
run_dir: ${path.join(work, 'runs', 'default')}
data:
  sft_train: ${path.join(work, 'train.jsonl')}
  sft_eval: ${path.join(work, 'eval.jsonl')}
sft:
  max_steps: ${STEPS}
  batch_size: 8
  lr: 3.0e-3
  warmup_steps: 5
  max_length: 48
  eval_every: 50
  checkpoint_every: ${CKPT_EVERY}
sample: false
rank: false
train_rm: false
ppo: false
probe: false
report: false
`,
  );
}

const runDir = (name: string) => path.join(work, 'runs', name);

function runSync(name: string, extra: string[] = []) {
  return runCli(['run', configFile, '--set', `run_dir=${runDir(name)}`, ...extra]);
}

/** Start `rlhf run` without waiting; resolves with its exit code/signal and stderr. */
function runAsync(name: string, extra: string[] = []) {
  const child = spawn(process.execPath, [BIN, 'run', configFile, '--set', `run_dir=${runDir(name)}`, ...extra], {
    cwd: ROOT,
    env: { ...process.env, RLHF_BACKEND: TEST_BACKEND },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', () => {});
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { child, done };
}

/** Complete metrics lines written so far (the child may be mid-write). */
function metricsSteps(name: string): number[] {
  const f = path.join(runDir(name), 'sft', 'metrics.jsonl');
  if (!fs.existsSync(f)) return [];
  const text = fs.readFileSync(f, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).step as number);
}

function checkpointStep(name: string): number {
  const f = path.join(runDir(name), 'sft', 'checkpoint', 'state.json');
  try {
    return JSON.parse(fs.readFileSync(f, 'utf8')).step;
  } catch {
    return 0; // none yet (or being swapped in)
  }
}

/** Poll until `cond` holds; fails if the child ends first. */
async function waitFor(cond: () => boolean, done: Promise<unknown>, what: string): Promise<void> {
  let ended = false;
  void done.then(() => (ended = true));
  while (!cond()) {
    if (ended) assert.fail(`the run ended before ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function metricsRecords(name: string): Record<string, number>[] {
  return fs.readFileSync(path.join(runDir(name), 'sft', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function weights(name: string): Record<string, Float32Array> {
  const f = path.join(runDir(name), 'sft', 'model', 'model.safetensors');
  const t = decodeSafetensors(fs.readFileSync(f), f).tensors;
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.data as Float32Array]));
}

/** Same steps, same losses and same final weights as the uninterrupted run, within float tolerance. */
function assertSameAsBaseline(name: string): void {
  const a = metricsRecords('baseline');
  const b = metricsRecords(name);
  assert.deepEqual(b.map((r) => r.step), a.map((r) => r.step), 'every step logged exactly once');
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i].loss - b[i].loss) <= 1e-5 * Math.max(1, Math.abs(a[i].loss)), `loss at step ${a[i].step}: ${b[i].loss} vs ${a[i].loss}`);
    if (a[i].eval_loss !== undefined) assert.ok(Math.abs(a[i].eval_loss - b[i].eval_loss) <= 1e-5 * Math.max(1, a[i].eval_loss), `eval loss at ${a[i].step}`);
  }
  const wa = weights('baseline');
  const wb = weights(name);
  assert.deepEqual(Object.keys(wb).sort(), Object.keys(wa).sort());
  let maxDiff = 0;
  for (const k of Object.keys(wa)) for (let i = 0; i < wa[k].length; i++) maxDiff = Math.max(maxDiff, Math.abs(wa[k][i] - wb[k][i]));
  assert.ok(maxDiff <= 1e-5, `final weights differ by up to ${maxDiff}`);
}

describe('rlhf run (child process)', { concurrency: false }, () => {
  before(async () => {
    await makeFixture();
    const r = runSync('baseline');
    assert.equal(r.status, 0, r.stderr);
  });

  it('a bad config: one message per problem with key path, value and expectation; exit non-zero; nothing written', () => {
    const bad = path.join(work, 'bad.yaml');
    const text = fs
      .readFileSync(configFile, 'utf8')
      .replace('  batch_size: 8', '  batch_size: 8\n  batchsize: 4')
      .replace('  lr: 3.0e-3', '  lr: fast')
      .replace('  max_length: 48', '  max_length: -48')
      .replace(/run_dir: .*/, `run_dir: ${runDir('bad')}`);
    fs.writeFileSync(bad, text);
    const r = runCli(['run', bad, '--set', 'seed=-1']);
    assert.notEqual(r.status, 0);
    const lineOf = (key: string) => text.split('\n').findIndex((l) => l.trimStart().startsWith(`${key}:`)) + 1;
    assert.ok(r.stderr.includes(`${bad}:${lineOf('batchsize')}: sft.batchsize: unknown key (did you mean "batch_size"?)`), r.stderr);
    assert.ok(r.stderr.includes(`${bad}:${lineOf('lr')}: sft.lr: got "fast", expected a number`), r.stderr);
    assert.ok(r.stderr.includes(`${bad}:${lineOf('max_length')}: sft.max_length: got -48, expected a number > 0`), r.stderr);
    assert.ok(r.stderr.includes(`${bad} (--set): seed: got -1, expected a number ≥ 0`), r.stderr);
    assert.equal(fs.existsSync(runDir('bad')), false, 'no run directory for a config that does not validate');
    assert.equal(r.stdout, '');

    const stage = runCli(['run', configFile, '--from', 'nonsense']);
    assert.notEqual(stage.status, 0);
    assert.match(stage.stderr, /nonsense/);
  });

  it('--set overrides before validation; the resolved config and --json report them', () => {
    const r = runSync('set', ['--set', 'sft.max_steps=4', '--set', 'sft.eval_every=2', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.name, 'tiny');
    assert.equal(out.run_dir, runDir('set'));
    const sft = out.stages.find((s: { stage: string }) => s.stage === 'sft');
    assert.equal(sft.status, 'ran');
    assert.equal(sft.summary.steps, 4);
    assert.deepEqual(out.stages.filter((s: { status: string }) => s.status === 'off').map((s: { stage: string }) => s.stage), ['sample', 'rank', 'train-rm', 'ppo', 'grpo', 'rloo', 'dpo', 'probe', 'report']);
    assert.ok(out.headline.some((h: { key: string }) => h.key === 'sft-loss'), 'headline numbers from the artifacts');
    const resolved = fs.readFileSync(path.join(runDir('set'), 'config.resolved.yaml'), 'utf8');
    assert.match(resolved, /--set sft\.max_steps=4/);
    assert.match(resolved, /max_steps: 4\n/);
    assert.match(resolved, /schedule: cosine/, 'defaults filled in');
    // The same command again: up to date.
    const again = JSON.parse(runSync('set', ['--set', 'sft.max_steps=4', '--set', 'sft.eval_every=2', '--json']).stdout);
    assert.equal(again.stages[0].status, 'up-to-date');
  });

  it('real stages end to end: sft → sample → rank → report, then the report and headline numbers are printed', () => {
    const r = runSync('e2e', [
      ...['sft.max_steps=4', 'data.prompts=data/tasks/prompts-train.jsonl', 'sample={}', 'sample.k=2', 'sample.max_prompts=6', 'sample.max_new_tokens=6', 'rank={}', 'report={}'].flatMap((s) => ['--set', s]),
    ]);
    assert.equal(r.status, 0, r.stderr);
    const report = path.join(runDir('e2e'), 'report', 'report.html');
    assert.ok(r.stdout.includes(`report: ${report}`), r.stdout);
    assert.match(r.stdout, /SFT loss\s+[\d.]+ → [\d.]+/);
    assert.match(fs.readFileSync(report, 'utf8'), /^<!DOCTYPE html>/);
    const rank = JSON.parse(fs.readFileSync(path.join(runDir('e2e'), 'rank', 'manifest.json'), 'utf8'));
    assert.equal(rank.finished, true);
    assert.deepEqual(Object.keys(rank.upstream), ['sample'], 'rank reads the samples');
    assert.equal(rank.summary.train.read, 12, 'every sample was read by the labeler');
    // Progress and stage lines go to stderr, the summary to stdout.
    assert.match(r.stderr, /\[3\/10\] rank: running/);
  });

  it('kill -9 mid-stage, then --resume: the same metrics and weights as an uninterrupted run', async () => {
    const { child, done } = runAsync('killed');
    // Kill once a checkpoint exists and the log has run past it (the records a resume must drop).
    await waitFor(() => checkpointStep('killed') >= 2 * CKPT_EVERY && Math.max(...metricsSteps('killed')) > checkpointStep('killed'), done, 'a checkpoint was written');
    child.kill('SIGKILL');
    const end = await done;
    assert.equal(end.signal, 'SIGKILL');
    const ck = checkpointStep('killed');
    assert.ok(ck < STEPS, 'killed mid-stage');
    const manifest = JSON.parse(fs.readFileSync(path.join(runDir('killed'), 'sft', 'manifest.json'), 'utf8'));
    assert.equal(manifest.finished, false);

    // The same command without --resume must not throw the checkpoint away: it stops, names the
    // stage, the step and both ways on, and changes nothing.
    const plain = runSync('killed');
    assert.equal(plain.status, 1, plain.stderr);
    assert.match(plain.stderr, new RegExp(`stage sft did not finish in its last run: a checkpoint at step ${ck} \\(`));
    assert.match(plain.stderr, new RegExp(`--resume to continue from step ${ck}, or with --restart to discard it`));
    assert.ok(plain.stderr.includes(`continue:  rlhf run ${configFile} --resume --set run_dir=${runDir('killed')}`), plain.stderr);
    assert.ok(plain.stderr.includes(`discard:   rlhf run ${configFile} --restart --set run_dir=${runDir('killed')}`), plain.stderr);
    assert.equal(checkpointStep('killed'), ck, 'the checkpoint is kept');

    const r = runSync('killed', ['--resume']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`from the checkpoint at step ${ck}`));
    assertSameAsBaseline('killed');
    assert.equal(JSON.parse(fs.readFileSync(path.join(runDir('killed'), 'sft', 'manifest.json'), 'utf8')).finished, true);
  });

  it('Ctrl-C (SIGINT) writes a checkpoint, exits 130 with the resume command; --resume finishes it identically', async () => {
    const { child, done } = runAsync('sigint');
    await waitFor(() => checkpointStep('sigint') >= CKPT_EVERY, done, 'a checkpoint was written');
    child.kill('SIGINT');
    const end = await done;
    assert.equal(end.code, 130, `exit signal ${end.signal}\n${end.stderr}`);
    assert.match(end.stderr, /sft: interrupted at step (\d+); a checkpoint was written/);
    assert.ok(end.stderr.includes(`Resume with: rlhf run ${configFile} --resume --set run_dir=${runDir('sigint')}`), end.stderr);
    const at = Number(/interrupted at step (\d+)/.exec(end.stderr)![1]);
    assert.equal(checkpointStep('sigint'), at, 'the checkpoint is at the step where it stopped');
    assert.equal(Math.max(...metricsSteps('sigint')), at, 'nothing logged past the checkpoint');

    const r = runSync('sigint', ['--resume']);
    assert.equal(r.status, 0, r.stderr);
    assertSameAsBaseline('sigint');
  });

  it('a non-finite loss stops the stage: exit 1, message with stage, step and value', () => {
    const r = runSync('nan', ['--set', 'sft.lr=1e30', '--set', 'sft.warmup_steps=0', '--set', 'sft.max_grad_norm=0']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /stage sft stopped: loss is (NaN|Infinity|-Infinity) at step \d+\./);
    assert.match(r.stderr, /lower the learning rate/);
    const manifest = JSON.parse(fs.readFileSync(path.join(runDir('nan'), 'sft', 'manifest.json'), 'utf8'));
    assert.equal(manifest.finished, false);
    assert.match(manifest.error, /loss is (NaN|Infinity|-Infinity) at step/);
    assert.equal(fs.existsSync(path.join(runDir('nan'), 'sft', 'model')), false, 'no model from a diverged run');
  });

  it('an unwritable run directory: a clear error naming the path, nothing already there damaged', () => {
    const blocker = path.join(work, 'not-a-dir');
    fs.writeFileSync(blocker, 'keep me');
    const r = runCli(['run', configFile, '--set', `run_dir=${path.join(blocker, 'run')}`]);
    assert.notEqual(r.status, 0);
    assert.ok(r.stderr.includes(`cannot write ${path.join(blocker, 'run')}`), r.stderr);
    assert.match(r.stderr, /\(ENOTDIR\)\. Nothing already written was changed/);
    assert.equal(fs.readFileSync(blocker, 'utf8'), 'keep me');
  });

  it('a read-only run directory (permissions): error naming it, earlier artifacts intact', (t) => {
    if (process.getuid?.() === 0) {
      t.skip('running as root: permissions do not stop root (the ENOTDIR case above covers the error path)');
      return;
    }
    const dir = runDir('baseline');
    const snapshot = (d: string) => fs.readdirSync(d, { recursive: true }).map(String).sort().map((f) => [f, fs.statSync(path.join(d, f)).isFile() ? fs.readFileSync(path.join(d, f)).toString('base64') : 'dir']);
    const before = snapshot(dir);
    fs.chmodSync(dir, 0o555);
    try {
      const r = runSync('baseline', ['--set', 'sft.lr=1e-3']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /cannot write .*\(EACCES\)/);
    } finally {
      fs.chmodSync(dir, 0o755);
    }
    assert.deepEqual(snapshot(dir), before);
  });
});
