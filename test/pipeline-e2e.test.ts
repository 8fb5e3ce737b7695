/**
 * train-rm → ppo → probe through the stage table (`rlhf run` as a child process), on the embedded
 * SFT model with a few of the reward-collapse rankings:
 *
 *  - every stage runs and writes its artifacts; PPO records the objective it optimised, and the
 *    probe's π* is built from it: the probe's KL(policy ‖ π*) equals PPO's own last
 *    probe/kl_to_optimum (both from the reward PPO optimised, gain·R + bias), and differs from π*
 *    of the raw reward (reward normalisation on: the gain is far from 1);
 *  - Ctrl-C during PPO writes a checkpoint; --resume finishes with the same metrics and the same
 *    policy as the uninterrupted run (the shared training loop's resume, through PPO's own state:
 *    RNG, β controller, probe curve, reward normalisation).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { decodeSafetensors } from '../src/model/safetensors';
import { selectBackend } from '../src/backend';
import { disposeBundle, loadModel } from '../src/model/checkpoint';
import { loadRewardScorer } from '../src/model/reward-scorer';
import { numberScores } from '../src/model/number-answers';
import { ROOT, runCli, TEST_BACKEND, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';

const BIN = path.join(ROOT, 'bin', 'run.js');
let work: string;
let configFile: string;

function writeFixture(): void {
  work = tmpDir('rlhf-e2e-');
  const lines = fs.readFileSync(path.join(ROOT, 'data', 'reward-collapse', 'train.rankings.jsonl'), 'utf8').split('\n').filter(Boolean);
  fs.writeFileSync(path.join(work, 'rankings.jsonl'), `${lines.slice(0, 12).join('\n')}\n`);
  configFile = path.join(work, 'e2e.yaml');
  fs.writeFileSync(
    configFile,
    `name: e2e
seed: 5
model: ${path.join(ROOT, 'models', 'tiny-sft')}
run_dir: ${path.join(work, 'runs', 'default')}
data:
  rankings: ${path.join(work, 'rankings.jsonl')}
  prompts: ${path.join(ROOT, 'data', 'tasks', 'prompts-train.jsonl')}
  heldout_prompts: ${path.join(ROOT, 'data', 'tasks', 'prompts-heldout.jsonl')}
sft: false
sample: false
rank: false
train_rm:
  utilities: [logsigmoid]
  epochs: 2
  batch_prompts: 4
  train_layers: 1
  eval_every: 1
ppo:
  iterations: 6
  batch_size: 8
  mini_batch_size: 4
  ppo_epochs: 1
  response_length: 4
  reward_norm: true
  reward_norm_samples: 16
  heldout_prompts: 4
  probe_every: 2
  checkpoint_every: 2
probe:
  k: 2
  max_prompts: 4
  max_new_tokens: 4
report: false
`,
  );
}

const runDir = (name: string) => path.join(work, 'runs', name);
const runSync = (name: string, extra: string[] = []) => runCli(['run', configFile, '--set', `run_dir=${runDir(name)}`, ...extra]);

function metrics(name: string, stage: string): Record<string, unknown>[] {
  const file = path.join(runDir(name), stage, 'metrics.jsonl');
  const strip = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => !(k === 'time' || k === 'elapsed' || k.startsWith('time/'))));
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => strip(JSON.parse(l)));
}

function policyWeights(name: string): Record<string, Float32Array> {
  const f = path.join(runDir(name), 'ppo', 'model', 'model.safetensors');
  return Object.fromEntries(Object.entries(decodeSafetensors(fs.readFileSync(f), f).tensors).map(([k, v]) => [k, v.data as Float32Array]));
}

describe('rlhf run: train-rm → ppo → probe', { concurrency: false }, () => {
  before(() => {
    assertBuiltCli();
    writeFixture();
    const r = runSync('baseline');
    assert.equal(r.status, 0, r.stderr);
  });

  it('every stage writes its artifacts; the probe builds π* from the objective PPO recorded', () => {
    const dir = runDir('baseline');
    const diag = JSON.parse(fs.readFileSync(path.join(dir, 'train-rm', 'logsigmoid', 'diagnostics.json'), 'utf8'));
    assert.equal(diag.utility, 'logsigmoid(scale=1)');
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'ppo', 'summary.json'), 'utf8'));
    const obj = summary.objective;
    assert.equal(obj.reward_model, path.join(dir, 'train-rm', 'logsigmoid', 'model'));
    assert.ok(obj.beta > 0 && Number.isFinite(obj.gain) && Math.abs(obj.gain - 1) > 0.1, `reward normalisation gives a gain far from 1: ${JSON.stringify(obj)}`);
    const probe = JSON.parse(fs.readFileSync(path.join(dir, 'probe', 'probe.json'), 'utf8'));
    const rn = probe.random_number;
    assert.deepEqual(rn.reward, { model: obj.reward_model, gain: obj.gain, bias: obj.bias });
    assert.equal(rn.beta, obj.beta);
    const last = metrics('baseline', 'ppo').filter((r) => r['probe/kl_to_optimum'] !== undefined).pop()!;
    assert.equal(rn.kl_policy_optimum, last['probe/kl_to_optimum'], 'the probe and PPO measure the same KL(policy ‖ π*)');
  });

  it('π* by hand: π_ref(n)·exp((gain·R(n) + bias)/β), normalised, from the reference and the reward model', async () => {
    await selectBackend(TEST_BACKEND);
    const dir = runDir('baseline');
    const obj = JSON.parse(fs.readFileSync(path.join(dir, 'ppo', 'summary.json'), 'utf8')).objective;
    const probe = JSON.parse(fs.readFileSync(path.join(dir, 'probe', 'probe.json'), 'utf8')).random_number;
    const ref = await loadModel(path.join(ROOT, 'models', 'tiny-sft'));
    const scorer = await loadRewardScorer(obj.reward_model);
    try {
      const tok = ref.tokenizer;
      const rn = numberScores(ref, ref.params, probe.prompt, { temperature: 1 });
      const answers = rn.candidates.map((c) => [...tok.encode(c), tok.eosId]);
      const raw = scorer.raw(answers.map(() => tok.encode(probe.prompt)), answers);
      const w = rn.logprobs.map((lp, i) => Math.exp(lp) * Math.exp((obj.gain * raw[i] + obj.bias) / obj.beta));
      const z = w.reduce((a, b) => a + b, 0);
      const byHand = w.map((x) => x / z);
      const worst = Math.max(...byHand.map((x, i) => Math.abs(x - probe.optimum[i])));
      assert.ok(worst < 1e-9, `π* differs from the hand computation by ${worst}`);
      // …and from π* of the raw reward, which the probe used before it read PPO's objective.
      const wRaw = rn.logprobs.map((lp, i) => Math.exp(lp) * Math.exp(raw[i] / obj.beta));
      const zRaw = wRaw.reduce((a, b) => a + b, 0);
      assert.ok(Math.max(...wRaw.map((x, i) => Math.abs(x / zRaw - probe.optimum[i]))) > 1e-3, 'the gain makes a difference here');
    } finally {
      scorer.dispose();
      disposeBundle(ref);
    }
  });

  it('Ctrl-C during PPO writes a checkpoint; --resume gives the same metrics and policy as the uninterrupted run', async () => {
    const name = 'sigint';
    const child = spawn(process.execPath, [BIN, 'run', configFile, '--set', `run_dir=${runDir(name)}`], { cwd: ROOT, env: { ...process.env, RLHF_BACKEND: TEST_BACKEND }, stdio: ['ignore', 'ignore', 'pipe'] });
    // Ctrl-C as soon as the PPO stage announces itself, so the signal has the whole stage (its
    // set-up and all 6 iterations) to arrive in. Waiting for the first checkpoint instead left only
    // the last few iterations, and on a fast machine the signal sometimes landed after PPO had ended.
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && /\] ppo: running/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.ok(sent, `the run ended before the PPO stage started:\n${stderr}`);
    assert.equal(code, 130, stderr);
    const at = /ppo: interrupted at step (\d+); a checkpoint was written/.exec(stderr);
    assert.ok(at, `PPO was not interrupted mid-stage:\n${stderr}`);
    assert.ok(Number(at[1]) < 6, `the interrupt came at the last step (${at[1]}), so nothing is left to resume`);
    assert.ok(fs.existsSync(path.join(runDir(name), 'ppo', 'checkpoint', 'state.json')), 'the checkpoint is on disk');
    const r = runSync(name, ['--resume']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(metrics(name, 'ppo'), metrics('baseline', 'ppo'));
    const a = policyWeights('baseline');
    const b = policyWeights(name);
    for (const k of Object.keys(a)) assert.deepEqual(Array.from(b[k]), Array.from(a[k]), `policy tensor ${k}`);
  });
});
