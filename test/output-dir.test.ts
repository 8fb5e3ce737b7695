/**
 * Output directories (src/util/output-dir.ts) and the commands that write them: rlhf never deletes
 * or mixes into files it did not write, replaces its own outputs cleanly on a re-run, refuses a
 * foreign non-empty directory without --overwrite, never drops an unfinished run's checkpoint
 * without --resume or --restart, and checks that an output is writable before any compute.
 *
 * We run as root here, so permission bits do not stop a write: unwritable paths are made with a
 * regular file where a directory should be (ENOTDIR).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { disposeBundle, initModel, replaceDir, saveModel } from '../src/model/checkpoint';
import { tf } from '../src/backend/tf';
import { saveTrainState } from '../src/train/state';
import { tokenizerFromJson } from '../src/tokenizer/tokenizer';
import { trainByteLevelBPE } from '../src/tokenizer/train-bpe';
import { writeFileAtomic, writeJsonAtomic } from '../src/util/fs';
import {
  ensureWritableDir,
  ensureWritableFile,
  finishOutputDir,
  foreignFiles,
  OUTPUT_MARKER,
  OutputError,
  prepareOutputDir,
  readMarker,
  UnfinishedRunError,
} from '../src/util/output-dir';
import { ROOT, runCli, TEST_BACKEND, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';

const SFT_WRITES = ['metrics.jsonl', 'model', 'checkpoint', 'summary.json'];

/** A finished run's outputs, as a training command leaves them. */
function fakeRun(dir: string, steps: number[]): void {
  writeFileAtomic(path.join(dir, 'metrics.jsonl'), steps.map((s) => `{"stage":"sft","step":${s}}\n`).join(''));
  writeJsonAtomic(path.join(dir, 'model', 'config.json'), {});
  writeFileAtomic(path.join(dir, 'model', 'model.safetensors'), 'w');
  writeJsonAtomic(path.join(dir, 'checkpoint', 'state.json'), { step: steps[steps.length - 1] });
}

describe('output directories: the rule (util/output-dir)', () => {
  it('a new directory is created and marked; a re-run replaces its own outputs and leaves other files alone', () => {
    const out = path.join(tmpDir('rlhf-out-'), 'a', 'b');
    assert.equal(prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES }).state, 'created');
    assert.deepEqual(readMarker(out)?.finished, false);
    fakeRun(out, [1, 2]);
    finishOutputDir(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const p = prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES });
    assert.equal(p.state, 'own');
    assert.deepEqual(p.removed.sort(), ['checkpoint', 'metrics.jsonl', 'model']);
    assert.deepEqual(fs.readdirSync(out).sort(), [OUTPUT_MARKER, 'notes.txt'], 'no old metrics to append to, no old model beside new metrics');
    assert.equal(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8'), 'mine');
  });

  it("a non-empty directory rlhf did not write is refused, unchanged; --overwrite replaces only rlhf's names", () => {
    const out = tmpDir('rlhf-out-');
    fs.writeFileSync(path.join(out, 'thesis.tex'), 'mine');
    fs.writeFileSync(path.join(out, 'metrics.jsonl'), '{"mine":1}\n');
    assert.throws(
      () => prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES }),
      (e: Error) => e instanceof OutputError && e.message.startsWith(`sft: ${out} is not empty and was not written by rlhf (metrics.jsonl, thesis.tex)`) && /--overwrite/.test(e.message),
    );
    assert.deepEqual(fs.readdirSync(out).sort(), ['metrics.jsonl', 'thesis.tex'], 'nothing written, nothing removed');
    assert.equal(prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES, overwrite: true }).state, 'foreign');
    assert.deepEqual(fs.readdirSync(out).sort(), [OUTPUT_MARKER, 'thesis.tex']);
  });

  it('a file rlhf did not write inside an output it replaces (OUT/model/) stops the run unless --overwrite', () => {
    const out = tmpDir('rlhf-out-');
    prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES });
    fakeRun(out, [1]);
    finishOutputDir(out);
    fs.writeFileSync(path.join(out, 'model', 'README.md'), 'mine');
    assert.throws(() => prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES }), new RegExp(`holds files rlhf did not write where this run writes its outputs: model${path.sep}README\\.md`));
    assert.equal(fs.readFileSync(path.join(out, 'model', 'README.md'), 'utf8'), 'mine');
    assert.ok(fs.existsSync(path.join(out, 'metrics.jsonl')), 'nothing removed when refused');
    prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES, overwrite: true });
    assert.equal(fs.existsSync(path.join(out, 'model')), false);
  });

  it('an unfinished run with a checkpoint: refused without --resume/--restart; --resume keeps it, --restart discards it', () => {
    const out = tmpDir('rlhf-out-');
    prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES });
    fakeRun(out, [1, 2, 3]); // the run died: the marker still says finished: false
    assert.throws(
      () => prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES }),
      (e: Error) => e instanceof UnfinishedRunError && e.step === 3 && /did not finish.*checkpoint at step 3.*Pass --resume to continue from step 3, or --restart to discard the checkpoint/.test(e.message),
    );
    assert.equal(prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES, resume: true }).resumeStep, 3);
    assert.ok(fs.existsSync(path.join(out, 'checkpoint', 'state.json')) && fs.existsSync(path.join(out, 'metrics.jsonl')), '--resume keeps checkpoint and log');
    prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES, restart: true });
    assert.equal(fs.existsSync(path.join(out, 'checkpoint')), false, '--restart discards it');
    // A run that finished keeps its last checkpoint; a new run may replace it without a flag.
    fakeRun(out, [1, 2]);
    finishOutputDir(out);
    assert.equal(prepareOutputDir(out, { command: 'sft', writes: SFT_WRITES }).state, 'own');
  });

  it('unwritable outputs are named before any compute: a path under a regular file, a file where a directory goes', () => {
    const d = tmpDir('rlhf-out-');
    const blocker = path.join(d, 'blocker');
    fs.writeFileSync(blocker, 'keep me');
    assert.throws(() => ensureWritableDir(path.join(blocker, 'out')), (e: Error) => e instanceof OutputError && e.message === `cannot write to the output directory ${path.join(blocker, 'out')}: ${blocker} is a file, not a directory (ENOTDIR). Nothing was computed yet; choose another path or fix this one.`);
    assert.throws(() => prepareOutputDir(blocker, { command: 'sample', writes: [] }), new RegExp(`cannot write to the output directory ${blocker}: it is a file, not a directory`));
    assert.throws(() => ensureWritableFile(path.join(blocker, 'x', 'r.jsonl'), 'the rankings'), new RegExp(`cannot write the rankings .*r\\.jsonl into ${path.join(blocker, 'x')}: ${blocker} is a file`));
    assert.throws(() => ensureWritableFile(d), /it is a directory/);
    assert.equal(fs.readFileSync(blocker, 'utf8'), 'keep me');
    assert.deepEqual(fs.readdirSync(d), ['blocker'], 'the probe file is gone');
  });
});

describe('output directories: what rlhf writes is recognised as its own', () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('saveModel (plain and sharded) and saveTrainState write only names the rule knows (so a re-run can replace them)', async () => {
    const out = tmpDir('rlhf-out-');
    const tok = tokenizerFromJson(trainByteLevelBPE(Array.from({ length: 20 }, (_, i) => `the sea is wide and the sky is ${i}\n`), { vocabSize: 270 }));
    const m = initModel({ vocab_size: tok.vocabSize, n_positions: 16, n_embd: 8, n_layer: 1, n_head: 2, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: tok.eosId, eos_token_id: tok.eosId }, tok, 1);
    await saveModel(path.join(out, 'model'), m);
    await saveModel(path.join(out, 'critic'), m, { maxShardBytes: 4096 });
    const v = { w: tf.variable(tf.ones([2, 2])) };
    await saveTrainState(path.join(out, 'checkpoint'), { step: 1, position: {}, rng: {} as never, extra: {} }, v);
    tf.dispose(Object.values(v));
    disposeBundle(m);
    writeJsonAtomic(path.join(out, 'unit', 'diagnostics.json'), {});
    assert.ok(fs.readdirSync(path.join(out, 'critic')).some((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)), 'sharded');
    for (const e of fs.readdirSync(out)) assert.deepEqual(foreignFiles(path.join(out, e)), [], e);
  });

  it("replaceDir never deletes a file rlhf did not write: it stops, and keeps the new files beside it", () => {
    const d = tmpDir('rlhf-out-');
    const dir = path.join(d, 'model');
    writeJsonAtomic(path.join(dir, 'config.json'), { old: true });
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    const tmp = path.join(d, '.model.tmp-abcdef');
    writeJsonAtomic(path.join(tmp, 'config.json'), { new: true });
    assert.throws(() => replaceDir(tmp, dir), /cannot replace .*model: it holds files rlhf did not write \(notes\.txt\); nothing in it was changed\. The new files are in .*model\.new-\d+/);
    assert.equal(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'mine');
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')), { old: true });
    const kept = fs.readdirSync(d).find((n) => n.startsWith('model.new-'))!;
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(d, kept, 'config.json'), 'utf8')), { new: true });
  });
});

// ------------------------------------------------------------------------------------ commands

let work: string;
let model: string;

/** A tiny GPT-2 with a BPE tokenizer, a few demonstrations and prompts: every command here runs in seconds. */
async function makeFixture(): Promise<void> {
  work = tmpDir('rlhf-out-cmd-');
  const lines = (f: string, n: number) => fs.readFileSync(path.join(ROOT, 'data', 'tasks', f), 'utf8').split('\n').filter(Boolean).slice(0, n);
  const train = lines('sft-train.jsonl', 16);
  fs.writeFileSync(path.join(work, 'train.jsonl'), `${train.join('\n')}\n`);
  fs.writeFileSync(path.join(work, 'eval.jsonl'), `${lines('sft-eval.jsonl', 4).join('\n')}\n`);
  fs.writeFileSync(path.join(work, 'prompts.jsonl'), `${lines('prompts-heldout.jsonl', 2).join('\n')}\n`);
  const texts = train.map((l) => JSON.parse(l)).map((r: { prompt: string; response: string }) => r.prompt + r.response);
  await selectBackend('cpu');
  const tok = tokenizerFromJson(trainByteLevelBPE(texts, { vocabSize: 512, singleTokenNumbers: true }));
  const m = initModel({ vocab_size: tok.vocabSize, n_positions: 64, n_embd: 16, n_layer: 1, n_head: 2, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: tok.eosId, eos_token_id: tok.eosId }, tok, 3);
  model = path.join(work, 'model');
  await saveModel(model, m);
  disposeBundle(m);
}

function sft(out: string, extra: string[] = []) {
  return runCli([
    'sft', '--model', model, '--train', path.join(work, 'train.jsonl'), '--eval', path.join(work, 'eval.jsonl'), '--eval-prompts', path.join(work, 'prompts.jsonl'),
    '--max-steps', '4', '--batch-size', '4', '--checkpoint-every', '2', '--out', out, ...extra,
  ]);
}

const steps = (out: string) => fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step as number);

describe('output directories: the commands', { concurrency: false }, () => {
  before(async () => {
    // The CLI runs dist/ (built by `npm test`): a missing or stale build fails here, it is never skipped.
    assertBuiltCli(['src/util/output-dir.ts', 'src/cli/output-flags.ts', 'src/commands/sft.ts', 'src/commands/sample.ts', 'src/commands/rank.ts', 'src/commands/report.ts', 'src/report/index.ts']);
    await makeFixture();
  });

  it('rlhf sft --out DIR twice: the second run replaces the first (steps 1-4, not 1-4 then 1-4)', () => {
    const out = path.join(work, 'sft-twice');
    for (let i = 0; i < 2; i++) {
      const r = sft(out, ['-q']);
      assert.equal(r.status, 0, r.stderr);
    }
    assert.deepEqual(steps(out), [1, 2, 3, 4]);
    assert.equal(readMarker(out)?.finished, true);
  });

  it("rlhf sft never deletes a user's file in DIR/model/; a foreign DIR needs --overwrite and keeps the user's files", () => {
    const out = path.join(work, 'sft-user');
    assert.equal(sft(out, ['-q']).status, 0);
    fs.writeFileSync(path.join(out, 'model', 'notes.txt'), 'mine');
    const r = sft(out);
    assert.equal(r.status, 1, r.stderr);
    assert.ok(r.stderr.includes(`${out} holds files rlhf did not write where this run writes its outputs: model${path.sep}notes.txt`), r.stderr);
    assert.equal(fs.readFileSync(path.join(out, 'model', 'notes.txt'), 'utf8'), 'mine');

    const foreign = path.join(work, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'data.csv'), 'mine');
    const f = sft(foreign);
    assert.equal(f.status, 1);
    assert.match(f.stderr, /is not empty and was not written by rlhf \(data\.csv\).*--overwrite/);
    assert.deepEqual(fs.readdirSync(foreign), ['data.csv']);
    const o = sft(foreign, ['--overwrite', '-q']);
    assert.equal(o.status, 0, o.stderr);
    assert.equal(fs.readFileSync(path.join(foreign, 'data.csv'), 'utf8'), 'mine');
    assert.deepEqual(steps(foreign), [1, 2, 3, 4]);
  });

  it('rlhf sft after a run that stopped with a checkpoint: refused without --resume/--restart; --resume continues it', () => {
    const out = path.join(work, 'sft-stopped');
    assert.equal(sft(out, ['--stop-after', '3', '-q']).status, 0);
    const r = sft(out);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /sft: the last run in .* did not finish; its checkpoint at step 2 .*--resume .*--restart/);
    assert.deepEqual(steps(out), [1, 2, 3], 'the log is untouched');
    const resumed = sft(out, ['--resume', '-q']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.deepEqual(steps(out), [1, 2, 3, 4], 'cut back to the checkpoint, then continued');
  });

  it('rlhf sample into an unwritable path fails before sampling, naming the path', () => {
    const blocker = path.join(work, 'blocker');
    fs.writeFileSync(blocker, 'keep me');
    const r = runCli(['sample', '--model', model, '--prompts', path.join(work, 'prompts.jsonl'), '--k', '2', '--out', path.join(blocker, 'out')]);
    assert.equal(r.status, 1);
    assert.ok(r.stderr.includes(`cannot write to the output directory ${path.join(blocker, 'out')}: ${blocker} is a file, not a directory (ENOTDIR). Nothing was computed yet`), r.stderr);
    assert.doesNotMatch(r.stderr, /sample \d+\/\d+/, 'no progress: nothing was sampled');
    const rank = runCli(['rank', '--input', path.join(work, 'train.jsonl'), '--out', path.join(blocker, 'r.jsonl')]);
    assert.equal(rank.status, 1);
    assert.match(rank.stderr, /cannot write the rankings .*r\.jsonl into .*blocker: it is a file, not a directory/);
    assert.equal(fs.readFileSync(blocker, 'utf8'), 'keep me');
  });

  it('rlhf sample twice into its own directory: one metrics record, not two', () => {
    const out = path.join(work, 'sample-twice');
    for (let i = 0; i < 2; i++) {
      const r = runCli(['sample', '--model', model, '--prompts', path.join(work, 'prompts.jsonl'), '--k', '2', '--max-new-tokens', '4', '--out', out, '-q']);
      assert.equal(r.status, 0, r.stderr);
    }
    assert.deepEqual(steps(out), [0]);
  });

  it('rlhf report on a directory that is not a run: an error, exit non-zero, nothing written', () => {
    const empty = path.join(work, 'empty');
    fs.mkdirSync(empty);
    const r = runCli(['report', empty]);
    assert.notEqual(r.status, 0);
    assert.ok(r.stderr.includes(`${empty} is not a run directory: it has no config.resolved.yaml and none of the artifacts a report shows`), r.stderr);
    assert.deepEqual(fs.readdirSync(empty), []);
    // A run where no stage has run yet is a run: its report says so.
    fs.writeFileSync(path.join(empty, 'config.resolved.yaml'), 'name: nothing-yet\n');
    const ok = runCli(['report', empty, '-q']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(fs.existsSync(path.join(empty, 'report', 'report.html')));
  });
});
