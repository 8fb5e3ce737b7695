/**
 * train-rm → ppo, grpo, rloo, dpo → probe → report through the stage table (`rlhf run` as a child
 * process), on the embedded SFT model with a few of the reward-collapse rankings:
 *
 *  - every tuning stage writes its policy and summary, and gets its own probe unit
 *    (RUN/probe/ppo, grpo, rloo, dpo);
 *  - GRPO's and RLOO's probe builds π* from the objective the run recorded: the probe's
 *    KL(policy ‖ π*) equals the run's own last probe/kl_to_optimum;
 *  - DPO's probe builds π* of DPO's implicit reward, equal to a hand computation from the two
 *    models' log-probabilities, and compares the DPO policy with the PPO run's π* too;
 *  - the report has the side-by-side section with one row per algorithm.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { disposeBundle, loadModel } from '../src/model/checkpoint';
import { numberScores } from '../src/model/number-answers';
import { continuationLogProbs } from '../src/model/score';
import { klDivergence } from '../src/metrics/numbers';
import { ROOT, runCli, TEST_BACKEND, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';

let run: string;

function setup(): string {
  const work = tmpDir('rlhf-algos-');
  const lines = fs.readFileSync(path.join(ROOT, 'data', 'reward-collapse', 'train.rankings.jsonl'), 'utf8').split('\n').filter(Boolean);
  fs.writeFileSync(path.join(work, 'rankings.jsonl'), `${lines.slice(0, 6).join('\n')}\n`);
  const file = path.join(work, 'algos.yaml');
  const rl = 'iterations: 3\n  batch_size: 8\n  mini_batch_size: 8\n  response_length: 4\n  heldout_prompts: 4\n  probe_every: 3\n  checkpoint_every: 2';
  fs.writeFileSync(
    file,
    `name: algos
seed: 3
model: ${path.join(ROOT, 'models', 'tiny-sft')}
run_dir: ${path.join(work, 'run')}
data:
  rankings: ${path.join(work, 'rankings.jsonl')}
  prompts: ${path.join(ROOT, 'data', 'tasks', 'prompts-train.jsonl')}
  heldout_prompts: ${path.join(ROOT, 'data', 'tasks', 'prompts-heldout.jsonl')}
sft: false
sample: false
rank: false
train_rm:
  utilities: [logsigmoid]
  epochs: 1
  batch_prompts: 3
  train_layers: 1
ppo:
  ${rl}
  ppo_epochs: 1
  adaptive_kl: false
grpo:
  ${rl}
  num_generations: 4
  beta: 0.1
rloo:
  ${rl}
  num_generations: 4
  reward_norm: true
  reward_norm_samples: 8
dpo:
  epochs: 1
  batch_size: 16
  lr: 1.0e-3
  beta: 0.5
  probe_every: 2
  kl_samples: 4
  heldout_prompts: 4
probe:
  k: 2
  max_prompts: 4
  max_new_tokens: 4
report: {}
`,
  );
  return path.join(work, 'run');
}

const json = (...p: string[]) => JSON.parse(fs.readFileSync(path.join(run, ...p), 'utf8'));
const metrics = (stage: string) => fs.readFileSync(path.join(run, stage, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('rlhf run: ppo, grpo, rloo and dpo side by side', { concurrency: false }, () => {
  before(() => {
    assertBuiltCli(['src/group-rl', 'src/dpo', 'src/pipeline', 'src/probe', 'src/report']);
    run = setup();
    const r = runCli(['run', path.join(path.dirname(run), 'algos.yaml')]);
    assert.equal(r.status, 0, r.stderr);
  });

  it('every tuning stage writes its policy and summary, and has a probe unit of its own', () => {
    for (const s of ['ppo', 'grpo', 'rloo', 'dpo']) {
      assert.ok(fs.existsSync(path.join(run, s, 'model', 'model.safetensors')), `${s}/model`);
      assert.ok(json(s, 'summary.json').objective, `${s} records its objective`);
      assert.ok(fs.existsSync(path.join(run, 'probe', s, 'probe.json')), `probe/${s}`);
    }
    assert.deepEqual(json('grpo', 'summary.json').objective.algorithm, 'grpo');
    assert.deepEqual(json('dpo', 'summary.json').objective, { kind: 'dpo-implicit', beta: 0.5, temperature: 1 });
  });

  it("GRPO's and RLOO's probe use the objective they recorded: the same KL(policy ‖ π*) as their own last probe", () => {
    for (const s of ['grpo', 'rloo']) {
      const obj = json(s, 'summary.json').objective;
      const rn = json('probe', s, 'probe.json').random_number;
      assert.equal(rn.beta, obj.beta);
      assert.deepEqual(rn.reward, { model: obj.reward_model, gain: obj.gain, bias: obj.bias });
      assert.equal(rn.optimum_kind, 'reward-model');
      const last = metrics(s).filter((r) => r['probe/kl_to_optimum'] !== undefined).pop();
      assert.ok(Math.abs(rn.kl_policy_optimum - last['probe/kl_to_optimum']) < 1e-9, `${s}: probe ${rn.kl_policy_optimum} vs run ${last['probe/kl_to_optimum']}`);
    }
    assert.equal(json('rloo', 'summary.json').objective.exact, true);
    assert.equal(json('grpo', 'summary.json').objective.exact, false);
  });

  it("DPO's probe: π* of the implicit reward by hand, and the PPO run's π* as the comparison", async () => {
    await selectBackend(TEST_BACKEND);
    const rn = json('probe', 'dpo', 'probe.json').random_number;
    assert.equal(rn.optimum_kind, 'dpo-implicit');
    assert.equal(rn.reward, null);
    const ref = await loadModel(path.join(ROOT, 'models', 'tiny-sft'));
    const pol = await loadModel(path.join(run, 'dpo', 'model'));
    try {
      const tok = ref.tokenizer;
      const r = numberScores(ref, ref.params, rn.prompt, { temperature: 1 });
      const answers = r.candidates.map((c) => [...tok.encode(c), tok.eosId]);
      const context = tok.encode(rn.prompt);
      const lpPol = continuationLogProbs(pol.params, pol.config, context, answers, tok.padId);
      const lpRef = continuationLogProbs(ref.params, ref.config, context, answers, tok.padId);
      // π*(n) ∝ π_ref(n)·exp(β·(log π − log π_ref)(n EOS)/β)
      const w = r.logprobs.map((lp, i) => Math.exp(lp + lpPol[i] - lpRef[i]));
      const z = w.reduce((a, b) => a + b, 0);
      const worst = Math.max(...w.map((x, i) => Math.abs(x / z - rn.optimum[i])));
      assert.ok(worst < 1e-9, `π* differs from the hand computation by ${worst}`);
      assert.ok(Math.abs(klDivergence(rn.policy, rn.optimum) - rn.kl_policy_optimum) < 1e-12);
      const last = metrics('dpo').filter((x) => x['probe/kl_to_optimum'] !== undefined).pop();
      assert.ok(Math.abs(rn.kl_policy_optimum - last['probe/kl_to_optimum']) < 1e-6, 'the probe and DPO measure the same KL(policy ‖ π*)');
    } finally {
      disposeBundle(ref);
      disposeBundle(pol);
    }
    const ppo = json('ppo', 'summary.json').objective;
    assert.equal(rn.compare.beta, ppo.beta);
    assert.deepEqual(rn.compare.reward, { model: ppo.reward_model, gain: ppo.gain, bias: ppo.bias });
    // The PPO policy's own probe used the same π*: the same optimum vector.
    assert.deepEqual(rn.compare.optimum, json('probe', 'ppo', 'probe.json').random_number.optimum);
  });

  it('DPO logs TRL names; GRPO and RLOO log TRL names and objective/kl; the report puts them side by side', () => {
    const d = metrics('dpo');
    for (const k of ['loss', 'rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins']) assert.ok(typeof d[1][k] === 'number', `dpo ${k}`);
    assert.ok(d.some((r) => typeof r['objective/kl'] === 'number' && typeof r['probe/heldout_reward'] === 'number'), 'DPO probes: sampled KL and held-out reward');
    for (const s of ['grpo', 'rloo']) for (const k of ['reward', 'kl', 'clip_ratio/region_mean', 'objective/kl']) assert.ok(typeof metrics(s)[1][k] === 'number', `${s} ${k}`);
    const html = fs.readFileSync(path.join(run, 'report', 'report.html'), 'utf8');
    const section = html.slice(html.indexOf('<section id="algorithms">'), html.indexOf('</section>', html.indexOf('<section id="algorithms">')));
    assert.ok(section.length > 0, 'the side-by-side section is there');
    for (const s of ['ppo', 'grpo', 'rloo', 'dpo']) assert.match(section, new RegExp(`<tr><td>${s}</td>`), `a row for ${s}`);
    assert.match(section, /id="chart-algo-entropy-vs-kl"/);
  });
});
