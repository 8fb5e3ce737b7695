/** The run config: schema composition, one clear line per problem, --set, shipped configs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { applySet, ConfigError, loadRunConfig, parseSet, ppoRuns, resolvedConfigYaml, resolveInput } from '../src/pipeline/config';
import { UtilityEntrySchema } from '../src/reward/config';
import { planRun } from '../src/pipeline/plan';
import { fixturePath, ROOT, tmpDir } from './helpers';

const MODEL = fixturePath('gpt2-tiny-random');

/** Write a config into a fresh directory (with the small data files it refers to) and return its path. */
function writeConfig(text: string, name = 'c.yaml'): string {
  const dir = tmpDir('rlhf-cfg-');
  for (const f of ['train.jsonl', 'eval.jsonl', 'prompts.jsonl', 'rankings.jsonl']) fs.writeFileSync(path.join(dir, f), '{}\n');
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const GOOD = (dir = '.') => `name: t
model: ${MODEL}
run_dir: ${dir}/run
data:
  sft_train: train.jsonl
  sft_eval: eval.jsonl
  prompts: prompts.jsonl
sft:
  max_steps: 5
sample: { k: 2 }
rank: {}
train_rm: { utilities: [logsigmoid, prompt-aware] }
ppo: {}
probe: {}
report: {}
`;

/** The ConfigError lines of loading `file` (fails the test if it loads). */
function problems(file: string, set: string[] = []): string[] {
  try {
    loadRunConfig(file, { set, cwd: path.dirname(file) });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${(err as Error).stack}`);
    return err.problems;
  }
  assert.fail('the config was accepted');
}

describe('run config: validation messages', () => {
  it('accepts a good config, fills defaults and resolves paths', () => {
    const file = writeConfig(GOOD());
    const dir = path.dirname(file);
    const { config } = loadRunConfig(file, { cwd: dir });
    assert.equal(config.seed, 0);
    assert.equal(config.backend, 'auto');
    assert.equal(config.run_dir, path.join(dir, 'run'));
    assert.equal(config.data.sft_train, path.join(dir, 'train.jsonl'));
    assert.ok(config.sft !== false && config.sft.max_steps === 5 && config.sft.lr === 1e-3, 'sft defaults from LMTrainConfigSchema');
    assert.ok(config.sample !== false && config.sample.k === 2 && config.sample.top_p === 1);
    assert.ok(config.ppo !== false && config.ppo.reward_model === 'logsigmoid', 'PPO uses the first reward model by default');
  });

  it('unknown key: names file, line, key path, and suggests the known key', () => {
    const file = writeConfig(GOOD().replace('  max_steps: 5', '  max_steps: 5\n  lrr: 0.1'));
    const p = problems(file);
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0], new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:10: sft\\.lrr: unknown key \\(did you mean "lr"\\?\\), expected one of: .*\\blr\\b`));
  });

  it('wrong type and out-of-range values: the value found and what was expected', () => {
    const file = writeConfig(GOOD().replace('sample: { k: 2 }', 'sample: { k: 2.5, top_p: 3, temperature: "hot" }').replace('  max_steps: 5', '  max_steps: 5\n  lr: -1'));
    const p = problems(file);
    const find = (key: string) => p.find((l) => l.includes(`: ${key}: `));
    assert.match(find('sft.lr') ?? '', /:10: sft\.lr: got -1, expected a number > 0$/);
    assert.match(find('sample.k') ?? '', /:11: sample\.k: got 2\.5, expected an integer$/);
    assert.match(find('sample.top_p') ?? '', /sample\.top_p: got 3, expected a number ≤ 1$/);
    assert.match(find('sample.temperature') ?? '', /sample\.temperature: got "hot", expected a number$/);
    assert.equal(p.length, 4, p.join('\n'));
  });

  it('a stage section must be false, true or a mapping; missing keys and enum values are named', () => {
    const file = writeConfig(GOOD().replace('rank: {}', 'rank: yes').replace('name: t\n', '').replace('report: {}', 'report: {}\nbackend: metal'));
    const p = problems(file);
    assert.ok(p.some((l) => /rank: got "yes", expected false or a mapping/.test(l)), p.join('\n'));
    assert.ok(p.some((l) => /backend: got "metal", expected one of "auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"/.test(l)), p.join('\n'));
  });

  it('cross-field rules: missing data for an enabled stage, missing files, bad utilities, unknown reward model', () => {
    const file = writeConfig(
      GOOD()
        .replace('  sft_eval: eval.jsonl\n', '')
        .replace('prompts: prompts.jsonl', 'prompts: nope.jsonl')
        .replace('utilities: [logsigmoid, prompt-aware]', 'utilities: [logsigmoid, {name: power}, logsigmoid]')
        .replace('ppo: {}', 'ppo: { reward_model: inverse }'),
    );
    const p = problems(file);
    const has = (re: RegExp) => assert.ok(p.some((l) => re.test(l)), `${re} not in:\n${p.join('\n')}`);
    has(/data\.sft_eval: missing, expected a file path \(sft is on\)/);
    has(/data\.prompts: got "nope\.jsonl", expected an existing file/);
    has(/train_rm\.utilities\[1\]\.gamma: power needs gamma/);
    has(/train_rm\.utilities\[2\]: a second reward model named "logsigmoid"/);
    has(/ppo\.reward_model: got "inverse", expected one of the reward models trained here: logsigmoid, power/);
  });

  it('turning stages off changes what is required: rank-less train-rm needs data.rankings', () => {
    const file = writeConfig(GOOD().replace('rank: {}', 'rank: false').replace('sample: { k: 2 }', 'sample: false'));
    const p = problems(file);
    assert.deepEqual(p.map((l) => l.replace(/^.*?: (?=data)/, '')), ['data.rankings: missing, expected a file path (train_rm is on and rank is off)']);
    const ok = writeConfig(GOOD().replace('rank: {}', 'rank: false').replace('sample: { k: 2 }', 'sample: false').replace('  prompts: prompts.jsonl', '  prompts: prompts.jsonl\n  rankings: rankings.jsonl'));
    const { config } = loadRunConfig(ok, { cwd: path.dirname(ok) });
    const plan = planRun(config);
    assert.equal(plan.rankings, path.join(path.dirname(ok), 'rankings.jsonl'));
    assert.deepEqual(plan.stages['train-rm'].upstream, ['sft'], 'train-rm reads the SFT policy, not a rank stage');
  });

  it('a reward model with its own rankings: resolved, hashed as an input of train-rm, trained on them; the others keep the run\'s', () => {
    const own = `train_rm:
  utilities:
    - logsigmoid
    - { id: numbers, utility: logsigmoid, rankings: own.jsonl }`;
    const file = writeConfig(GOOD().replace('train_rm: { utilities: [logsigmoid, prompt-aware] }', own));
    const dir = path.dirname(file);
    fs.writeFileSync(path.join(dir, 'own.jsonl'), '{}\n');
    const plan = planRun(loadRunConfig(file, { cwd: dir }).config);
    const byName = Object.fromEntries(plan.rewardModels.map((m) => [m.name, m]));
    assert.equal(byName.numbers.rankings, path.join(dir, 'own.jsonl'));
    assert.equal(byName.numbers.heldout, undefined, 'the run\'s held-out rankings do not go with other rankings');
    assert.equal(byName.logsigmoid.rankings, plan.rankings, 'the rank stage\'s output');
    assert.ok(plan.stages['train-rm'].inputs.some((i) => i.role === 'rankings:numbers' && i.path === path.join(dir, 'own.jsonl')), 'its file is an input (a change re-runs train-rm)');
    // With every reward model on its own rankings, rank may be off without data.rankings.
    const solo = writeConfig(GOOD().replace('rank: {}', 'rank: false').replace('sample: { k: 2 }', 'sample: false').replace('train_rm: { utilities: [logsigmoid, prompt-aware] }', 'train_rm: { utilities: [{ id: a, utility: linear, rankings: rankings.jsonl }] }'));
    assert.doesNotThrow(() => loadRunConfig(solo, { cwd: path.dirname(solo) }));
    // A missing file and held-out rankings without rankings are named by key path.
    const missing = writeConfig(GOOD().replace('train_rm: { utilities: [logsigmoid, prompt-aware] }', 'train_rm: { utilities: [{ id: a, utility: linear, rankings: nope.jsonl }] }'));
    assert.match(problems(missing).join('\n'), /train_rm\.utilities\[0\]\.rankings: .*nope\.jsonl.*expected an existing file/);
    const lone = writeConfig(GOOD().replace('train_rm: { utilities: [logsigmoid, prompt-aware] }', 'train_rm: { utilities: [{ id: a, utility: linear, heldout_rankings: rankings.jsonl }] }'));
    assert.match(problems(lone).join('\n'), /heldout_rankings: only with this entry's own rankings/);
  });

  it('a reward model may override train_rm settings (validated by the same schema); seed and unknown keys are refused', () => {
    const entry = (e: string) => writeConfig(GOOD().replace('train_rm: { utilities: [logsigmoid, prompt-aware] }', `train_rm: { epochs: 7, utilities: [logsigmoid, ${e}] }`));
    const file = entry('{ id: fast, utility: linear, epochs: 3, squash: none }');
    const plan = planRun(loadRunConfig(file, { cwd: path.dirname(file) }).config);
    const byName = Object.fromEntries(plan.rewardModels.map((m) => [m.name, m]));
    assert.deepEqual(byName.fast.overrides, { epochs: 3, squash: 'none' }, 'only what the entry gives, no defaults filled in');
    assert.equal(byName.logsigmoid.overrides, undefined);
    assert.match(problems(entry('{ id: fast, utility: linear, epochs: -1 }')).join('\n'), /train_rm\.utilities\[1\]\.epochs/);
    assert.match(problems(entry('{ id: fast, utility: linear, squash: tanh }')).join('\n'), /squash/);
    assert.match(problems(entry('{ id: fast, utility: linear, seed: 3 }')).join('\n'), /unknown key seed/);
    assert.match(problems(entry('{ id: fast, utility: linear, epoch: 3 }')).join('\n'), /unknown key epoch/);
  });

  it('YAML syntax errors name the line', () => {
    const file = writeConfig('name: t\nmodel: [unclosed\n');
    const p = problems(file);
    assert.match(p[0], /c\.yaml:\d+: not valid YAML/);
  });
});

describe('run config: --set', () => {
  it('parses key paths and YAML scalars', () => {
    assert.deepEqual(parseSet('sft.lr=5e-4'), { path: ['sft', 'lr'], value: 5e-4 });
    assert.deepEqual(parseSet('sft=false'), { path: ['sft'], value: false });
    assert.deepEqual(parseSet('ppo.runs.1.name=b'), { path: ['ppo', 'runs', 1, 'name'], value: 'b' });
    assert.deepEqual(parseSet('run_dir=/tmp/x=y'), { path: ['run_dir'], value: '/tmp/x=y' });
    assert.throws(() => parseSet('sft.lr'), /expected key\.path=value/);
    assert.throws(() => parseSet('sft..lr=1'), /expected key\.path=value/);
  });

  it('applies before validation, creating sections; errors point at --set', () => {
    const raw: Record<string, unknown> = { sft: { lr: 1 } };
    applySet(raw, parseSet('sft.max_steps=3'));
    applySet(raw, parseSet('sample.k=4'));
    assert.deepEqual(raw, { sft: { lr: 1, max_steps: 3 }, sample: { k: 4 } });
    assert.throws(() => applySet({ sft: false }, parseSet('sft.lr=1')), /sft is false, not a mapping/);

    const file = writeConfig(GOOD());
    const { config } = loadRunConfig(file, { set: ['sft.lr=2e-3', 'train_rm=false', 'ppo.reward_model=' + MODEL, 'seed=7'], cwd: path.dirname(file) });
    assert.ok(config.sft !== false && config.sft.lr === 2e-3);
    assert.equal(config.train_rm, false);
    assert.equal(config.seed, 7);
    const p = problems(file, ['sample.top_k=-2']);
    assert.deepEqual(p, [`${file} (--set): sample.top_k: got -2, expected a number ≥ 0`]);
  });
});

describe('run config: sweeps, utilities, paths', () => {
  it('a PPO sweep merges each run over the shared settings (no defaults re-applied)', () => {
    const file = writeConfig(GOOD().replace('ppo: {}', 'ppo:\n  init_kl_coef: 0.3\n  adaptive_kl: false\n  runs:\n    - { name: small, init_kl_coef: 0.01 }\n    - { name: shared }'));
    const { config } = loadRunConfig(file, { cwd: path.dirname(file) });
    assert.ok(config.ppo !== false);
    const runs = ppoRuns(config.ppo);
    assert.deepEqual(runs.map((r) => [r.name, r.cfg.init_kl_coef, r.cfg.adaptive_kl]), [['small', 0.01, false], ['shared', 0.3, false]]);
    const plan = planRun(config);
    assert.deepEqual(plan.ppoRuns.map((r) => path.relative(config.run_dir, r.dir)), [path.join('ppo', 'small'), path.join('ppo', 'shared')]);
    assert.deepEqual(plan.probeRuns.map((r) => path.relative(config.run_dir, r.dir)), [path.join('probe', 'small'), path.join('probe', 'shared')]);
  });

  it('names reward models by utility, parameters or id', () => {
    const names = z.array(UtilityEntrySchema).parse(['inverse', { name: 'power', gamma: 0.5 }, { id: 'pa', utility: 'prompt-aware' }]).map((u) => u.name);
    assert.deepEqual(names, ['inverse', 'power-gamma0.5', 'pa']);
  });

  it('input paths: the current directory first, then the rlhf package', () => {
    const dir = tmpDir('rlhf-cfg-');
    assert.equal(resolveInput('data/tasks/prompts-train.jsonl', dir), path.join(ROOT, 'data', 'tasks', 'prompts-train.jsonl'));
    fs.mkdirSync(path.join(dir, 'data', 'tasks'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data', 'tasks', 'prompts-train.jsonl'), '');
    assert.equal(resolveInput('data/tasks/prompts-train.jsonl', dir), path.join(dir, 'data', 'tasks', 'prompts-train.jsonl'));
  });

  it('every shipped config validates (models and user data substituted when absent)', () => {
    const configs = fs.readdirSync(path.join(ROOT, 'configs')).filter((f) => f.endsWith('.yaml'));
    assert.ok(configs.includes('quickstart.yaml') && configs.includes('reward-collapse.yaml') && configs.includes('mode-collapse.yaml') && configs.includes('hh-rlhf-gpt2.yaml'));
    const tmp = tmpDir('rlhf-cfg-');
    const hh = path.join(tmp, 'hh.jsonl');
    fs.writeFileSync(hh, '{"chosen":"\\n\\nHuman: hi\\n\\nAssistant: hello","rejected":"\\n\\nHuman: hi\\n\\nAssistant: go away"}\n');
    for (const c of configs) {
      const file = path.join(ROOT, 'configs', c);
      const text = fs.readFileSync(file, 'utf8');
      assert.match(text, /^# \S.*\n#/, `${c}: starts with a comment block`);
      assert.match(text, /How long/i, `${c}: says how long it takes`);
      const sets = [`run_dir=${path.join(tmp, c)}`];
      const model = /^model: (\S+)/m.exec(text)?.[1];
      if (model && model.startsWith('models/') && !fs.existsSync(path.join(ROOT, model))) sets.push(`model=${MODEL}`);
      if (c === 'hh-rlhf-gpt2.yaml') sets.push(`data.preferences=${hh}`, `data.heldout_preferences=${hh}`, `model=${MODEL}`);
      const loaded = loadRunConfig(file, { set: sets, cwd: tmp });
      const plan = planRun(loaded.config);
      assert.ok(Object.values(plan.stages).some((s) => s.enabled), c);
      // The resolved config rlhf writes into the run directory is itself a config that runs as it is
      // (rlhf export reads it back), and it gives the same config.
      const resolved = path.join(tmp, `${c}.resolved.yaml`);
      fs.writeFileSync(resolved, resolvedConfigYaml(loaded));
      assert.deepEqual(loadRunConfig(resolved, { cwd: tmp }).config, loaded.config, `${c}: config.resolved.yaml reads back to the same config`);
    }
  });
});
