/**
 * The reward model: the fast forward (pick + frozen-lower cache) against a plain forward, the pair
 * bookkeeping with ties, a small reward-collapse reproduction that checks the EFFECT (the theory's
 * curve, for open and closed prompts alike, and a prompt-aware utility keeping them apart), and
 * `rlhf train-rm` as a child process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf, Scalar, Tensor, Tensor2D, Tensor3D } from '../src/backend/tf';
import { disposeBundle, loadModel, ModelBundle } from '../src/model/checkpoint';
import { forward, Params } from '../src/model/gpt2';
import { readRankings } from '../src/data/read';
import { RankingRecord } from '../src/data/records';
import { encodeRankings, trainRewardModel, RewardTrainResult } from '../src/reward/trainer';
import { FrozenLowerCache, rewardForward } from '../src/model/reward-model';
import { makeRewardBatch } from '../src/model/batch';
import { pairMatrix, pairsOf } from '../src/reward/pairs';
import { RewardTrainConfigSchema } from '../src/reward/config';
import { loadRewardScorer } from '../src/model/reward-scorer';
import { setQuiet } from '../src/util/progress';
import { Rng } from '../src/util/rng';
import { ROOT, TEST_BACKEND, builtCli, runCli, tmpDir } from './helpers';

const MODEL = path.join(ROOT, 'models', 'tiny-sft');
const TRAIN = path.join(ROOT, 'data', 'reward-collapse', 'train.rankings.jsonl');
/**
 * The small reproduction: prompts per kind and settings (configs/reward-collapse.yaml's, more
 * epochs). Inverse, not linear, is the single utility checked here: with so few prompts a linear
 * run can leave an open prompt's 4th completion stuck on the wrong side of the sigmoid (gradient
 * σ′ ≈ 0 there), while −1/d pushes hardest on the smallest margins and gets there every time.
 */
const SMALL_PER_KIND = 8;
const SMALL_CFG = { train_layers: 2, batch_prompts: 4, lr: 3e-4, epochs: 32, eval_every: 32, eval_heldout: false, seed: 1 };

let model: ModelBundle;
before(async () => {
  await selectBackend(TEST_BACKEND);
  setQuiet(true);
  model = await loadModel(MODEL);
});
after(() => disposeBundle(model));

const maxAbs = (a: Tensor, b: Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('rewardForward', () => {
  const TOP = 'transformer.h.3.mlp.c_fc.weight';

  /** The reference: full forward over every position, then a one-hot pick of the last real token. */
  function reference(params: Params, head: Tensor2D, ids: Int32Array, mask: Float32Array, last: Float32Array, N: number, T: number): Tensor {
    const { hidden } = forward(params, model.config, tf.tensor2d(ids, [N, T], 'int32'), { attentionMask: tf.tensor2d(mask, [N, T]) });
    const h = tf.sum(tf.mul(hidden as Tensor3D, tf.tensor3d(last, [N, T, 1])), 1) as Tensor2D; // [N, C]
    return tf.sigmoid(tf.matMul(h, head, false, true)).reshape([N]);
  }

  it('with pick, and with the frozen-lower cache at every start, equals a plain forward: values and gradients', async () => {
    const records = (await readRankings(TRAIN)).slice(0, 3);
    const seqs = encodeRankings(records, model).flatMap((p) => p.seqs);
    const b = makeRewardBatch(seqs, model.tokenizer.padId, 64);
    assert.ok(new Set(seqs.map((s) => s.length)).size > 1, 'rows of different lengths (padding is exercised)');
    const rng = new Rng('rm-eq');
    const headVar = tf.variable(tf.tensor2d(Float32Array.from({ length: model.config.n_embd }, () => rng.normal() * 0.5), [1, model.config.n_embd]));
    const topVar = tf.variable(model.params[TOP]);
    const params: Params = { ...model.params, [TOP]: topVar };
    // A weighted sum, so that every row's gradient matters and differs.
    const w = tf.tensor1d(Float32Array.from({ length: b.N }, (_, i) => Math.cos(i + 1)));
    const grads = (f: () => Tensor) => {
      const { value, grads: g } = tf.variableGrads(() => tf.sum(tf.mul(f(), w)) as Scalar, [headVar, topVar]);
      return { r: tf.keep(f()), value, head: g[headVar.name], top: g[topVar.name] };
    };
    const ref = grads(() => reference(params, headVar, b.ids, b.mask, b.last, b.N, b.T));
    const check = (what: string, f: () => Tensor) => {
      const got = grads(f);
      assert.ok(maxAbs(got.r, ref.r) < 1e-5, `${what}: rewards differ by ${maxAbs(got.r, ref.r)}`);
      assert.ok(maxAbs(got.head, ref.head) < 1e-5, `${what}: head gradient differs by ${maxAbs(got.head, ref.head)}`);
      assert.ok(maxAbs(got.top, ref.top) < 1e-5, `${what}: top-block gradient differs by ${maxAbs(got.top, ref.top)}`);
      tf.dispose([got.r, got.value, got.head, got.top]);
    };
    // The gradients are not trivially zero (else equality says nothing).
    assert.ok(tf.max(tf.abs(ref.top)).dataSync()[0] > 1e-6, 'top-block gradient is non-zero');
    check('pick', () => rewardForward(params, headVar, model.config, b, 'sigmoid'));
    for (const start of [1, 2, 3]) {
      // The cache is built from the frozen weights; block 3 (the one with a variable) is above it.
      const cache = new FrozenLowerCache(model.params, model.config, seqs, model.tokenizer.padId, 64, start, 7);
      const idx = seqs.map((_, i) => i);
      check(`cache from block ${start}`, () => rewardForward(params, headVar, model.config, b, 'sigmoid', cache.input(idx, b.T)));
      cache.dispose();
    }
    // train_layers = 0: the cache holds every block, only ln_f and the head run.
    const all = new FrozenLowerCache(model.params, model.config, seqs, model.tokenizer.padId, 64, model.config.n_layer);
    const r0 = rewardForward(model.params, headVar, model.config, b, 'sigmoid', all.input(seqs.map((_, i) => i), b.T));
    const plain = reference(model.params, headVar, b.ids, b.mask, b.last, b.N, b.T);
    assert.ok(maxAbs(r0, plain) < 1e-5, `cache of all blocks: ${maxAbs(r0, plain)}`);
    tf.dispose([r0, plain, ref.r, ref.value, ref.head, ref.top, headVar, topVar, w]);
    all.dispose();
  });
});

describe('pairs', () => {
  it('pairsOf: every ordered pair across ranks, none within a tie, rows offset per prompt', () => {
    // Prompt 0: ranks [0, 1, 1, 2] (a tie between rows 1 and 2); prompt 1: [1, 0] (listed worst first).
    const p = pairsOf([{ ranks: [0, 1, 1, 2] }, { ranks: [1, 0] }]);
    const got = p.better.map((b, i) => `${b}>${p.worse[i]}@${p.prompt[i]}`).sort();
    assert.deepEqual(got, ['0>1@0', '0>2@0', '0>3@0', '1>3@0', '2>3@0', '5>4@1'].sort());
    // All tied: no pair at all.
    assert.equal(pairsOf([{ ranks: [0, 0, 0] }]).better.length, 0);
  });

  it('pairMatrix: D·R gives R(better) − R(worse) for each pair', () => {
    const p = pairsOf([{ ranks: [0, 1, 1, 2] }, { ranks: [1, 0] }]);
    const n = 6;
    const D = pairMatrix(p, n);
    const R = [0.9, 0.5, 0.4, 0.1, 0.3, 0.7];
    for (let k = 0; k < p.better.length; k++) {
      let d = 0;
      for (let j = 0; j < n; j++) d += D[k * n + j] * R[j];
      assert.ok(Math.abs(d - (R[p.better[k]] - R[p.worse[k]])) < 1e-7, `pair ${k}`);
      // Exactly one +1 and one −1 per row.
      const row = Array.from(D.slice(k * n, (k + 1) * n));
      assert.equal(row.filter((x) => x === 1).length, 1);
      assert.equal(row.filter((x) => x === -1).length, 1);
      assert.equal(row.filter((x) => x === 0).length, n - 2);
    }
  });
});

/**
 * The effect, small: 8 open + 8 closed training prompts × 8 ranked completions, trained to the
 * terminal phase (the settings of configs/reward-collapse.yaml, fewer prompts, more epochs).
 *   - inverse: both kinds end on the theory's evenly spread curve (the collapse, predicted);
 *   - prompt-aware: open prompts on the inverse curve, closed on the linear one (no collapse), so
 *     the collapse score stays well above the inverse run's.
 */
describe('reward collapse, small reproduction', () => {
  const TOL = 0.1;
  let records: RankingRecord[];
  const runs: Record<string, RewardTrainResult> = {};
  const dir = tmpDir('rlhf-rc-');

  before(async () => {
    const all = await readRankings(TRAIN);
    const pick = (kind: string) => all.filter((r) => r.kind === kind).slice(0, SMALL_PER_KIND);
    records = [...pick('open'), ...pick('closed')];
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const train = async (utility: string) => {
    const cfg = RewardTrainConfigSchema.parse({ ...SMALL_CFG, utility });
    runs[utility] = await trainRewardModel({ model, train: records, cfg, outDir: path.join(dir, utility) });
    return runs[utility];
  };
  const dist = (mean: number[] | undefined, theory: number[] | null) => {
    assert.ok(mean && theory && mean.length === theory.length, 'a curve and a theory vector of the same length');
    return Math.max(...mean.map((x, i) => Math.abs(x - theory[i])));
  };

  it('inverse: open and closed prompts both end on the theory curve (the collapse)', async () => {
    const r = await train('inverse');
    const d = r.final.train;
    // The theory for −1/d (ε = 0.1), n = 8: spread over [0, 1], strictly decreasing.
    assert.equal(r.theory.open!.length, 8);
    assert.ok(r.theory.open![0] > 0.99 && r.theory.open![7] < 0.01 && r.theory.open![3] > 0.5 && r.theory.open![4] < 0.5, 'inverse theory for n = 8');
    const open = dist(d.open?.mean, r.theory.open);
    const closed = dist(d.closed?.mean, r.theory.closed);
    assert.ok(open < TOL, `open curve ${fmt(d.open?.mean)} is ${open.toFixed(3)} from the theory`);
    assert.ok(closed < TOL, `closed curve ${fmt(d.closed?.mean)} is ${closed.toFixed(3)} from the theory`);
  });

  it('prompt-aware: open follows inverse, closed follows linear, and the kinds stay apart', async () => {
    const r = await train('prompt-aware');
    const d = r.final.train;
    // The two kinds have different theories here (inverse spreads, linear splits).
    assert.ok(dist(r.theory.open!, r.theory.closed) > 0.3, 'different theories per kind');
    const open = dist(d.open?.mean, r.theory.open);
    const closed = dist(d.closed?.mean, r.theory.closed);
    assert.ok(open < TOL, `open curve ${fmt(d.open?.mean)} is ${open.toFixed(3)} from the inverse theory ${fmt(r.theory.open!)}`);
    assert.ok(closed < TOL, `closed curve ${fmt(d.closed?.mean)} is ${closed.toFixed(3)} from the linear theory`);
    const single = runs.inverse?.final.train.collapse_score;
    assert.ok(single !== undefined && single !== null, 'the inverse run ran first');
    assert.ok(d.collapse_score! > single + 0.05 && d.collapse_score! > 2 * single, `collapse score prompt-aware ${d.collapse_score} vs inverse ${single}`);
  });
});

const fmt = (v: number[] | undefined) => (v ? v.map((x) => x.toFixed(2)).join(' ') : 'none');

describe('rlhf train-rm (CLI)', { skip: !builtCli() && 'dist/ not built (npm test builds it)' }, () => {
  const dir = tmpDir('rlhf-trainrm-');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('--json summary, a model directory the scorer loads, and file:line for a bad rankings file', async () => {
    // A tiny slice: 2 open and 2 closed prompts, 1 epoch.
    const lines = fs.readFileSync(TRAIN, 'utf8').split('\n').filter(Boolean).slice(0, 4);
    const slice = path.join(dir, 'slice.jsonl');
    fs.writeFileSync(slice, lines.join('\n') + '\n');
    const out = path.join(dir, 'rm');
    const res = runCli(['train-rm', '--rankings', slice, '--heldout', slice, '--out', out, '--utility', 'inverse', '--epochs', '1', '--train-layers', '1', '--batch-prompts', '2', '--json']);
    assert.equal(res.status, 0, res.stderr);
    const j = JSON.parse(res.stdout);
    assert.match(j.utility, /^inverse/);
    assert.equal(j.steps, 2);
    assert.equal(j.n, 8);
    for (const split of [j.train, j.heldout]) {
      assert.equal(typeof split.accuracy, 'number');
      assert.equal(typeof split.collapse_score, 'number');
      for (const kind of ['open', 'closed']) {
        assert.equal(split[kind].mean_by_rank.length, 8);
        assert.equal(typeof split[kind].theory_distance, 'number');
      }
    }
    assert.equal(j.theory.open.length, 8);
    assert.ok(j.collapse_trajectory.length >= 2);
    assert.ok(fs.existsSync(path.join(out, 'diagnostics.json')) && fs.existsSync(path.join(out, 'metrics.jsonl')));

    // The model directory is a reward model the PPO stage's scorer reads.
    const scorer = await loadRewardScorer(j.model);
    try {
      const tok = scorer.model.tokenizer;
      const s = scorer.raw([tok.encode('What is 28 plus 34?\n'), tok.encode('Write a sentence about the winter.\n')], [tok.encode('62'), tok.encode('Winter.')]);
      assert.equal(s.length, 2);
      for (const x of s) assert.ok(x > 0 && x < 1, `sigmoid reward in (0, 1), got ${x}`);
    } finally {
      scorer.dispose();
    }

    // A bad line: non-zero exit, the message names the file and the line.
    const bad = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(bad, `${lines[0]}\n{"id":"x","prompt":"hi","completions":["only one"],"ranks":[0]}\n`);
    const err = runCli(['train-rm', '--rankings', bad, '--out', path.join(dir, 'bad'), '--epochs', '1']);
    assert.notEqual(err.status, 0);
    assert.match(err.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2`));
    assert.match(err.stderr, /completions/);
  });
});
