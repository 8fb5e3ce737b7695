/**
 * rlhf export: a run directory (its resolved config, the models it wrote, its data) handed to TRL
 * and OpenRLHF. The run here is laid out by hand (a model directory where each stage writes one,
 * the summary a normalising stage writes), so no training is needed: export reads only those.
 *
 *  - data: every preference pair of the rankings (counted independently here), the prompts, the
 *    demonstrations; number_prompt_only → the number prompt, batch_size times;
 *  - models: copied byte for byte;
 *  - TRL: the YAML values are the run's settings under TRL's names (batch arithmetic included), the
 *    GRPO/RLOO reward function settings carry the reward model's squash and the run's gain/bias;
 *  - OpenRLHF: the command lines carry the same settings under its dotted names;
 *  - HANDOFF.md lists every mapped setting and every gap;
 *  - refusals: not a run, a batch that does not split, a model not written yet, a foreign --out.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { loadRunConfig, resolvedConfigYaml } from '../src/pipeline/config';
import { exportRun } from '../src/handoff/export';
import { fixturePath, ROOT, runCli, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';

let work: string;
let run: string;

function config(extra = ''): string {
  return `name: handoff
seed: 4
model: ${path.join(ROOT, 'models', 'tiny-base')}
run_dir: RUN
data:
  sft_train: ${path.join(ROOT, 'data', 'tasks', 'sft-eval.jsonl')}
  sft_eval: ${path.join(ROOT, 'data', 'tasks', 'sft-eval.jsonl')}
  rankings: ${path.join(work, 'rankings.jsonl')}
  heldout_rankings: ${path.join(work, 'heldout.jsonl')}
  prompts: ${path.join(ROOT, 'data', 'tasks', 'prompts-train.jsonl')}
  heldout_prompts: ${path.join(ROOT, 'data', 'tasks', 'prompts-heldout.jsonl')}
sft:
  max_steps: 4
  batch_size: 8
sample: false
rank: false
train_rm:
  utilities: [logsigmoid, {id: inverse, utility: inverse}]
  train_layers: 2
ppo:
  iterations: 5
  batch_size: 32
  mini_batch_size: 8
  ppo_epochs: 3
  init_kl_coef: 0.07
  kl_estimator: k3
  response_length: 6
  missing_eos_penalty: 2
grpo:
  iterations: 3
  batch_size: 16
  mini_batch_size: 8
  num_generations: 4
  beta: 0.02
  loss_type: grpo
rloo:
  iterations: 3
  batch_size: 16
  mini_batch_size: 8
  num_generations: 4
  reward_norm: true
dpo:
  max_steps: 4
  batch_size: 8
  beta: 0.2
  loss_type: ipo
${extra}`;
}

/** Lay out a run directory as `rlhf run` leaves it, from a config: resolved config, models, summaries. */
function makeRun(dir: string, extra = ''): void {
  const file = path.join(work, `${path.basename(dir)}.yaml`);
  fs.writeFileSync(file, config(extra).replace('run_dir: RUN', `run_dir: ${dir}`));
  const loaded = loadRunConfig(file);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.resolved.yaml'), resolvedConfigYaml(loaded));
  const copy = (from: string, to: string) => fs.cpSync(from, path.join(dir, to), { recursive: true });
  copy(path.join(ROOT, 'models', 'tiny-sft'), 'sft/model');
  copy(fixturePath('reward-tiny'), 'train-rm/logsigmoid/model');
  copy(fixturePath('reward-tiny'), 'train-rm/inverse/model');
  // RLOO normalised its reward: the gain and bias it fitted are in its summary.json.
  fs.mkdirSync(path.join(dir, 'rloo'), { recursive: true });
  const objective = { beta: 0.05, reward_model: path.join(dir, 'train-rm/logsigmoid/model'), gain: 3.25, bias: -1.5, temperature: 1, adaptive_kl: false, algorithm: 'rloo' };
  fs.writeFileSync(path.join(dir, 'rloo', 'summary.json'), JSON.stringify({ objective }));
}

const lines = (f: string) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('rlhf export', () => {
  before(() => {
    work = tmpDir('rlhf-export-');
    const rk = lines(path.join(ROOT, 'data', 'reward-collapse', 'train.rankings.jsonl'));
    fs.writeFileSync(path.join(work, 'rankings.jsonl'), rk.slice(0, 20).map((r) => JSON.stringify(r)).join('\n') + '\n');
    fs.writeFileSync(path.join(work, 'heldout.jsonl'), rk.slice(20, 25).map((r) => JSON.stringify(r)).join('\n') + '\n');
    run = path.join(work, 'run');
    makeRun(run);
  });

  it('TRL: data, models, one YAML per stage under TRL\'s names, the reward function settings, launch.sh, HANDOFF.md', async () => {
    const out = path.join(work, 'trl');
    const r = await exportRun({ run, engine: 'trl', out });
    assert.deepEqual(r.stages.map((s) => s.stage), ['sft', 'train-rm/logsigmoid', 'train-rm/inverse', 'ppo', 'grpo', 'rloo', 'dpo']);

    // Every pair of every ranking, counted here independently of the export's code.
    const rankings = lines(path.join(work, 'rankings.jsonl')) as { ranks: number[]; completions: string[] }[];
    let pairs = 0;
    for (const rk of rankings) for (const a of rk.ranks) for (const b of rk.ranks) if (a < b) pairs += 1;
    const pref = lines(path.join(out, 'data', 'preference', 'train.jsonl'));
    assert.equal(pref.length, pairs);
    assert.deepEqual(Object.keys(pref[0]), ['prompt', 'chosen', 'rejected']);
    const best = rankings[0].completions[rankings[0].ranks.indexOf(Math.min(...rankings[0].ranks))];
    assert.equal(pref[0].chosen, best, 'the first pair has the best completion as chosen');
    assert.equal(lines(path.join(out, 'data', 'prompt', 'train.jsonl')).length, lines(path.join(ROOT, 'data', 'tasks', 'prompts-train.jsonl')).length);
    const sft = lines(path.join(out, 'data', 'sft', 'train.jsonl'));
    assert.deepEqual(Object.keys(sft[0]), ['prompt', 'completion']);

    // Models, byte for byte: the SFT output is where tuning starts; the base is where SFT starts.
    for (const [to, from] of [['policy', path.join(run, 'sft', 'model')], ['base', path.join(ROOT, 'models', 'tiny-base')], ['reward-logsigmoid', path.join(run, 'train-rm', 'logsigmoid', 'model')]])
      assert.ok(fs.readFileSync(path.join(out, 'models', to, 'model.safetensors')).equals(fs.readFileSync(path.join(from, 'model.safetensors'))), to);

    const yaml = (f: string) => YAML.parse(fs.readFileSync(path.join(out, 'trl', f), 'utf8'));
    const ppo = yaml('ppo.yaml');
    assert.equal(ppo.sft_model_path, 'models/policy');
    assert.equal(ppo.reward_model_path, 'models/reward-logsigmoid');
    assert.equal(ppo.total_episodes, 5 * 32);
    // TRL 1.12: batch = per_device · accumulation; minibatch = batch / num_mini_batches; one optimiser step per accumulation micro-batches.
    assert.equal(ppo.per_device_train_batch_size * ppo.gradient_accumulation_steps, 32, "TRL's batch_size");
    assert.equal(32 / ppo.num_mini_batches, 8, "TRL's mini_batch_size");
    assert.equal(ppo.gradient_accumulation_steps, 1, 'an optimiser step per minibatch');
    assert.equal(ppo.num_ppo_epochs, 3);
    assert.equal(ppo.kl_coef, 0.07);
    assert.equal(ppo.kl_estimator, 'k3');
    assert.equal(ppo.response_length, 6);
    assert.equal(ppo.missing_eos_penalty, 2);
    assert.equal(ppo.seed, 4);
    const grpo = yaml('grpo.yaml');
    assert.deepEqual(grpo.reward_funcs, ['rlhf_reward.grpo']);
    assert.equal(grpo.per_device_train_batch_size * grpo.steps_per_generation, 16, 'completions per generation');
    assert.equal(grpo.max_steps, 3 * 2 * 1);
    assert.equal(grpo.beta, 0.02);
    assert.equal(grpo.loss_type, 'grpo');
    assert.equal(grpo.use_bias_correction_kl, false, "set explicitly: TRL's default is true");
    const rewardRloo = JSON.parse(fs.readFileSync(path.join(out, 'trl', 'reward-rloo.json'), 'utf8'));
    assert.deepEqual(rewardRloo, { reward_model: 'models/reward-logsigmoid', squash: 'sigmoid', gain: 3.25, bias: -1.5, missing_eos_penalty: null });
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'trl', 'reward-grpo.json'), 'utf8')).gain, 1, 'no normalisation: gain 1');
    const dpo = yaml('dpo.yaml');
    assert.deepEqual(dpo.loss_type, ['ipo']);
    assert.equal(dpo.beta, 0.2);
    assert.equal(dpo.max_steps, 4);
    assert.ok(fs.existsSync(path.join(out, 'trl', 'trl_ppo.py')) && fs.existsSync(path.join(out, 'trl', 'rlhf_reward.py')));

    const launch = fs.readFileSync(path.join(out, 'launch.sh'), 'utf8');
    assert.ok(launch.indexOf('trl sft --config trl/sft.yaml') < launch.indexOf('python trl/trl_ppo.py --config trl/ppo.yaml'), 'stages in the run\'s order');
    assert.ok((fs.statSync(path.join(out, 'launch.sh')).mode & 0o111) !== 0, 'executable');

    const md = fs.readFileSync(path.join(out, 'HANDOFF.md'), 'utf8');
    for (const s of r.stages) for (const row of s.settings) assert.ok(md.includes(`\`${row.engine}\``), `HANDOFF.md names ${row.engine} (${s.stage})`);
    assert.match(md, /ppo \| ppo\.adaptive_kl \| true \| TRL's PPOTrainer keeps kl_coef fixed/);
    assert.match(md, /train-rm\/inverse \| train_rm\.utilities \(inverse\) \| inverse \|/);
    assert.match(md, /rlhf probe --policy out\/ppo --reference models\/policy --reward-model models\/reward-logsigmoid --beta 0\.07/);
  });

  it('OpenRLHF: one script per stage, dotted option names, the same values', async () => {
    const out = path.join(work, 'openrlhf');
    await exportRun({ run, engine: 'openrlhf', out });
    const sh = (f: string) => fs.readFileSync(path.join(out, 'openrlhf', f), 'utf8');
    const ppo = sh('ppo.sh');
    assert.match(ppo, /^python3 -m openrlhf\.cli\.train_ppo_ray \\$/m);
    for (const flag of ['--algo.kl.init_coef 0.07', '--algo.kl.estimator k3', '--train.max_epochs 3', '--rollout.batch_size 32', '--train.batch_size 8', '--data.max_samples 160', '--rollout.max_new_tokens 6', '--algo.advantage.estimator gae', '--critic.model_name_or_path models/policy'])
      assert.ok(ppo.includes(flag), `ppo.sh has ${flag}`);
    const grpo = sh('grpo.sh');
    for (const flag of ['--algo.advantage.estimator group_norm', '--rollout.n_samples_per_prompt 4', '--rollout.batch_size 4', '--algo.kl.use_loss', '--algo.kl.estimator k3', '--algo.kl.init_coef 0.02', '--actor.loss_agg_mode seq-mean-token-mean'])
      assert.ok(grpo.includes(flag), `grpo.sh has ${flag}`);
    assert.ok(sh('rloo.sh').includes('--algo.advantage.estimator rloo'));
    assert.ok(sh('dpo.sh').includes('--model.ipo_enable') && sh('dpo.sh').includes('--model.beta 0.2'));
    assert.ok(sh('sft.sh').includes("--data.input_template ''"), 'an empty template, quoted for the shell');
    const md = fs.readFileSync(path.join(out, 'HANDOFF.md'), 'utf8');
    assert.match(md, /rloo \| rloo\.reward_norm \| true \|/);
    assert.match(md, /checked against OpenRLHF 0\.11\.2's own argument parsers/);
  });

  it('number_prompt_only in a sweep: the prompt set is the number prompt, the largest batch_size times; a launch file per run', async () => {
    const dir = path.join(work, 'run-number');
    makeRun(dir);
    const cfgFile = path.join(dir, 'config.resolved.yaml');
    // A sweep whose runs have different batches: one prompt file, as many rows as the largest batch
    // (the engines drop a last partial batch, so fewer rows than a batch would give no batch at all).
    const text = fs.readFileSync(cfgFile, 'utf8').replace(/number_prompt_only: false/, 'number_prompt_only: true').replace(/^ppo:\n/m, 'ppo:\n  runs:\n    - { name: small, batch_size: 16 }\n    - { name: big, batch_size: 64 }\n');
    fs.writeFileSync(cfgFile, text);
    const out = path.join(work, 'trl-number');
    const r = await exportRun({ run: dir, engine: 'trl', out });
    assert.deepEqual(r.stages.filter((s) => s.stage.startsWith('ppo')).map((s) => s.stage), ['ppo/small', 'ppo/big']);
    const rows = lines(path.join(out, 'data', 'prompt-number', 'train.jsonl'));
    assert.equal(rows.length, 64);
    assert.ok(rows.every((x) => x.prompt === 'Tell me a random integer between 0 and 99.\n'));
    // Held out: every phrasing of the number question, as the PPO stage's held-out reward uses.
    const heldout = lines(path.join(ROOT, 'data', 'tasks', 'prompts-heldout.jsonl')).filter((x) => x.task === 'random-number');
    assert.deepEqual(lines(path.join(out, 'data', 'prompt-number', 'test.jsonl')).map((x) => x.prompt), heldout.map((x) => x.prompt));
    for (const [name, batch] of [['small', 16], ['big', 64]] as const) {
      const y = YAML.parse(fs.readFileSync(path.join(out, 'trl', `ppo-${name}.yaml`), 'utf8'));
      assert.equal(y.dataset_name, 'data/prompt-number');
      assert.equal(y.per_device_train_batch_size, batch);
      assert.equal(y.output_dir, `out/ppo-${name}`);
    }
  });

  it('refuses what it cannot export exactly, naming it; leaves a foreign directory alone', async () => {
    await assert.rejects(exportRun({ run: work, engine: 'trl', out: path.join(work, 'x1') }), /no config\.resolved\.yaml — not a run directory/);
    const odd = path.join(work, 'run-odd');
    makeRun(odd);
    const f = path.join(odd, 'config.resolved.yaml');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('mini_batch_size: 8\n  ppo_epochs: 3', 'mini_batch_size: 12\n  ppo_epochs: 3'));
    await assert.rejects(exportRun({ run: odd, engine: 'trl', out: path.join(work, 'x2') }), /ppo: batch_size \(32\) is not a multiple of mini_batch_size \(12\)/);
    const unfinished = path.join(work, 'run-unfinished');
    makeRun(unfinished);
    fs.rmSync(path.join(unfinished, 'train-rm', 'inverse', 'model'), { recursive: true });
    fs.rmSync(path.join(unfinished, 'train-rm', 'logsigmoid', 'model'), { recursive: true });
    await assert.rejects(exportRun({ run: unfinished, engine: 'trl', out: path.join(work, 'x3') }), /train-rm\/logsigmoid\/model: the reward model of ppo is not there/);
    const foreign = path.join(work, 'mine');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'notes.txt'), 'keep');
    await assert.rejects(exportRun({ run, engine: 'trl', out: foreign }), /not empty and was not written by rlhf/);
    assert.deepEqual(fs.readdirSync(foreign), ['notes.txt']);
  });

  it('the command: exit 0 and where HANDOFF.md is; an unknown engine is refused', () => {
    assertBuiltCli();
    const out = path.join(work, 'cli');
    const r = runCli(['export', run, '--to', 'trl', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(`see ${out}/HANDOFF.md`), r.stdout);
    const bad = runCli(['export', run, '--to', 'deepspeed', '--out', path.join(work, 'cli2')]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Expected --to=deepspeed to be one of: trl, openrlhf/);
  });
});
