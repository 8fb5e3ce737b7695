/**
 * The PPO mathematics against TRL's own numbers (test/fixtures/trl-ppo.json, written by
 * scripts/make_trl_ppo_fixture.py from TRL 0.11.4's PPOTrainer methods and trl.core), plus
 * small cases derived by hand, on the cpu and wasm backends.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { selectBackend } from '../src/backend';
import { tf, Tensor, Tensor1D, Tensor2D } from '../src/backend/tf';
import {
  assembleRewards,
  explainedVariance,
  gae,
  klPerToken,
  lastTokenOneHot,
  maskedMean,
  maskedVar,
  maskedWhiten,
  meanSequenceKL,
  policyLoss,
  valueLoss,
  KLEstimator,
} from '../src/ppo/math';
import {
  AdaptiveKLController,
  FixedKLController,
  klControllerFromState,
  KLControllerState,
} from '../src/ppo/kl-controller';
import { BACKENDS_UNDER_TEST, TEST_BACKEND, tfjsName } from './helpers';

type M = number[][];
interface Fixture {
  trl_version: string;
  params: { kl_coef: number; gamma: number; lam: number; cliprange: number; cliprange_value: number; vf_coef: number };
  inputs: {
    mask: M;
    logprobs: M;
    ref_logprobs: M;
    values: M;
    scores: number[];
    new_logprobs: M;
    vpreds: M;
    x: M;
    x_mask: M;
  };
  outputs: {
    kl_k1: M;
    kl_k3: M;
    rewards_k1: M;
    non_score_reward_k1: M;
    kls_k1: M;
    rewards_k3: M;
    non_score_reward_k3: M;
    kls_k3: M;
    objective_kl_k1: number;
    objective_kl_k3: number;
    mean_non_score_reward_k1: number;
    gae: { values_masked: M; returns: M; advantages_raw: M; advantages_whitened: M };
    masked: {
      mean: number;
      mean_axis1: number[];
      var_unbiased: number;
      var_biased: number;
      whiten: M;
      whiten_no_shift: M;
    };
    loss: Record<string, number> & { ratio: M };
    kl_controller: {
      adaptive: {
        init_kl_coef: number;
        target: number;
        horizon: number;
        updates: { current: number; n_steps: number; value_after: number }[];
      };
      fixed: { kl_coef: number; updates: { current: number; n_steps: number; value_after: number }[] };
    };
  };
}

// test/fixtures from the sources (tsx) or from dist/test (the compiled run of `npm test`).
const FIXTURE = [join(__dirname, 'fixtures'), join(__dirname, '..', '..', 'test', 'fixtures')]
  .map((dir) => join(dir, 'trl-ppo.json'))
  .find((file) => existsSync(file));
if (!FIXTURE) throw new Error(`trl-ppo.json not found next to ${__dirname}; run scripts/make_trl_ppo_fixture.py`);
const fx: Fixture = JSON.parse(readFileSync(FIXTURE, 'utf8'));
const P = fx.params;

const TOL = 1e-5;

/** |a − b| ≤ tol·max(1, |b|), element by element, with the position in the message. */
function assertClose(actual: number | number[] | M, expected: number | number[] | M, what: string, tol = TOL): void {
  const a = [actual].flat(2) as number[];
  const e = [expected].flat(2) as number[];
  assert.equal(a.length, e.length, `${what}: length ${a.length} != ${e.length}`);
  for (let i = 0; i < e.length; i++) {
    const ok = Math.abs(a[i] - e[i]) <= tol * Math.max(1, Math.abs(e[i]));
    assert.ok(ok, `${what}[${i}]: ${a[i]} != ${e[i]} (tol ${tol})`);
  }
}

/** Read a tensor and dispose it. */
function read(t: Tensor): number | number[] | M {
  const v = t.arraySync() as number | number[] | M;
  t.dispose();
  return v;
}
const t2 = (m: M): Tensor2D => tf.tensor2d(m, undefined, 'float32');
const t1 = (v: number[]): Tensor1D => tf.tensor1d(v, 'float32');
const mul = (a: M, m: M): M => a.map((row, i) => row.map((v, j) => v * m[i][j]));

// Every case runs on the cpu backend and on the suite's backend (wasm by default: its float32
// oneHot returns integer bit patterns, which only a wasm run shows). Both are initialised once, before
// any test reports: selectBackend() redirects stdout while a backend loads, and node:test's
// reporter writes its results to stdout. Between suites we only switch with tf.setBackend.
before(async () => {
  await selectBackend(TEST_BACKEND);
  await selectBackend('cpu');
});

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`PPO math on ${backend}`, () => {
    before(async () => {
      assert.ok(await tf.setBackend(tfjsName(backend)), `backend ${backend} did not initialise`);
    });

    describe('fixture provenance', () => {
      test('the fixture was made by TRL 0.11.x with the expected parameters', () => {
      assert.equal(tf.getBackend(), tfjsName(backend));
        assert.match(fx.trl_version, /^0\.11\./);
        assert.equal(fx.inputs.mask.length, 4);
        assert.equal(fx.inputs.mask[0].length, 6);
      });
    });

    describe('klPerToken', () => {
      for (const est of ['k1', 'k3'] as const) {
        test(`${est} matches TRL at every position`, () => {
          const lp = t2(fx.inputs.logprobs);
          const ref = t2(fx.inputs.ref_logprobs);
          assertClose(read(klPerToken(lp, ref, est)), fx.outputs[`kl_${est}`], `kl_${est}`);
          tf.dispose([lp, ref]);
        });
      }

      test('by hand: p = 1/2, p_ref = 1/4', () => {
        // k1 = log(1/2) − log(1/4) = ln 2; r = p_ref/p = 1/2, k3 = (r − 1) − ln r = −1/2 + ln 2
        const lp = t2([[Math.log(0.5), Math.log(0.3)]]);
        const ref = t2([[Math.log(0.25), Math.log(0.3)]]);
        assertClose(read(klPerToken(lp, ref, 'k1')), [[Math.LN2, 0]], 'k1');
        assertClose(read(klPerToken(lp, ref, 'k3')), [[Math.LN2 - 0.5, 0]], 'k3');
        assert.throws(() => klPerToken(lp, ref, 'k2' as KLEstimator), /unknown KL estimator 'k2'/);
        tf.dispose([lp, ref]);
      });

      test('k3 is never negative, k1 can be', () => {
        const lp = t2([[-0.1, -2.0, -1.0]]);
        const ref = t2([[-1.5, -0.2, -1.0]]);
        const k1 = read(klPerToken(lp, ref, 'k1')) as M;
        const k3 = read(klPerToken(lp, ref, 'k3')) as M;
        assert.ok(k1[0].some((v) => v < 0));
        assert.ok(k3[0].every((v) => v >= 0));
        tf.dispose([lp, ref]);
      });
    });

    describe('lastTokenOneHot', () => {
      test('by hand: right padding, a hole, a full row, an empty row', () => {
        const mask = t2([
          [1, 1, 0, 0],
          [1, 0, 1, 0],
          [1, 1, 1, 1],
          [0, 0, 0, 0],
        ]);
        assert.deepEqual(read(lastTokenOneHot(mask)), [
          [0, 1, 0, 0],
          [0, 0, 1, 0],
          [0, 0, 0, 1],
          [0, 0, 0, 0],
        ]);
        mask.dispose();
      });
    });

    describe('assembleRewards', () => {
      for (const est of ['k1', 'k3'] as const) {
        test(`${est}: rewards, non-score rewards and KL match TRL compute_rewards on real tokens`, () => {
          const m = fx.inputs.mask;
          const [scores, lp, ref, mask] = [t1(fx.inputs.scores), t2(fx.inputs.logprobs), t2(fx.inputs.ref_logprobs), t2(m)];
          const out = assembleRewards(scores, lp, ref, mask, P.kl_coef, est);
          const rewards = out.rewards.arraySync();
          // TRL 0.11 leaves −β·kl at padding (masked later); ours is 0 there. Compare on the mask.
          assertClose(rewards, mul(fx.outputs[`rewards_${est}`], m), `rewards_${est}`);
          assertClose(out.nonScoreReward.arraySync(), mul(fx.outputs[`non_score_reward_${est}`], m), 'non_score_reward');
          assertClose(out.kl.arraySync(), mul(fx.outputs[`kls_${est}`], m), 'kl');
          for (let b = 0; b < m.length; b++) {
            for (let t = 0; t < m[b].length; t++) {
              if (m[b][t] === 0) assert.equal(rewards[b][t], 0, `reward at padding [${b}][${t}]`);
            }
          }
          assertClose(read(meanSequenceKL(out.kl, mask)) as number, fx.outputs[`objective_kl_${est}`], 'objective/kl');
          if (est === 'k1') {
            assertClose(read(maskedMean(out.nonScoreReward, mask)) as number, fx.outputs.mean_non_score_reward_k1, 'mean nsr');
          }
          tf.dispose([scores, lp, ref, mask, out.rewards, out.nonScoreReward, out.kl]);
        });
      }

      test('by hand: β = 0.5, k1, lengths 2 and 3', () => {
        // kl = logp − ref = [[0.2, −0.4, (pad)], [0.1, 0.1, 0.6]]
        // rewards = −0.5·kl + score at the last real token (t = 1 for row 0, t = 2 for row 1)
        const lp = t2([[-1.0, -2.0, -9.0], [-0.5, -0.5, -0.2]]);
        const ref = t2([[-1.2, -1.6, -1.0], [-0.6, -0.6, -0.8]]);
        const mask = t2([[1, 1, 0], [1, 1, 1]]);
        const scores = t1([3, -1]);
        const out = assembleRewards(scores, lp, ref, mask, 0.5, 'k1');
        assertClose(out.kl.arraySync(), [[0.2, -0.4, 0], [0.1, 0.1, 0.6]], 'kl');
        assertClose(out.rewards.arraySync(), [[-0.1, 0.2 + 3, 0], [-0.05, -0.05, -0.3 - 1]], 'rewards');
        // objective/kl = mean(0.2 − 0.4, 0.1 + 0.1 + 0.6) = mean(−0.2, 0.8) = 0.3
        assertClose(read(meanSequenceKL(out.kl, mask)) as number, 0.3, 'meanSequenceKL');
        tf.dispose([lp, ref, mask, scores, out.rewards, out.nonScoreReward, out.kl]);
      });
    });

    describe('masked statistics', () => {
      test('maskedMean / maskedVar / maskedWhiten match trl.core (mask with a hole)', () => {
        const x = t2(fx.inputs.x);
        const m = t2(fx.inputs.x_mask);
        const o = fx.outputs.masked;
        assertClose(read(maskedMean(x, m)) as number, o.mean, 'masked_mean');
        assertClose(read(maskedMean(x, m, 1)), o.mean_axis1, 'masked_mean axis=1');
        assertClose(read(maskedVar(x, m)) as number, o.var_unbiased, 'masked_var');
        assertClose(read(maskedVar(x, m, false)) as number, o.var_biased, 'masked_var biased');
        assertClose(read(maskedWhiten(x, m)), o.whiten, 'masked_whiten');
        assertClose(read(maskedWhiten(x, m, false)), o.whiten_no_shift, 'masked_whiten shift_mean=False');
        tf.dispose([x, m]);
      });

      test('by hand: x = [1, 2, 3, 100] with the 100 masked out', () => {
        const x = t2([[1, 2, 3, 100]]);
        const m = t2([[1, 1, 1, 0]]);
        // mean 2; squared deviations 1, 0, 1 → biased 2/3, unbiased 2/3·3/2 = 1
        assertClose(read(maskedMean(x, m)) as number, 2, 'mean');
        assertClose(read(maskedVar(x, m, false)) as number, 2 / 3, 'biased var');
        assertClose(read(maskedVar(x, m)) as number, 1, 'unbiased var');
        // (x − 2)/sqrt(1 + 1e-8): [−1, 0, 1, 98]; without the shift the mean 2 comes back
        assertClose(read(maskedWhiten(x, m)), [[-1, 0, 1, 98]], 'whiten');
        assertClose(read(maskedWhiten(x, m, false)), [[1, 2, 3, 100]], 'whiten no shift');
        tf.dispose([x, m]);
      });

      test('the unbiased variance of fewer than 2 real entries is an error, not a NaN', () => {
        const x = t2([[1, 2, 3]]);
        const one = t2([[0, 1, 0]]);
        const none = t2([[0, 0, 0]]);
        assert.throws(() => maskedVar(x, one), /1 real entries; the unbiased variance needs at least 2/);
        assert.throws(() => maskedWhiten(x, none), /0 real entries/);
        assertClose(read(maskedVar(x, one, false)) as number, 0, 'biased var of one entry');
        tf.dispose([x, one, none]);
      });
    });

    describe('gae', () => {
      test('advantages (before whitening), returns and whitened advantages match TRL compute_advantages', () => {
        const rewards = t2(fx.outputs.rewards_k1); // TRL's own rewards, padding garbage included
        const values = t2(fx.inputs.values);
        const mask = t2(fx.inputs.mask);
        const { advantages, returns } = gae(rewards, values, mask, P.gamma, P.lam);
        assertClose(advantages.arraySync(), fx.outputs.gae.advantages_raw, 'advantages');
        assertClose(returns.arraySync(), fx.outputs.gae.returns, 'returns');
        assertClose(read(maskedWhiten(advantages, mask)), fx.outputs.gae.advantages_whitened, 'whitened advantages');
        tf.dispose([rewards, values, mask, advantages, returns]);
      });

      test('by hand: γ = 0.9, λ = 0.5, one row of 3 tokens, last one padding', () => {
        // r = [1, 2, (pad 5)], V = [0.5, 1, (pad 7)] → masked: r = [1, 2, 0], V = [0.5, 1, 0]
        // δ_1 = 2 + 0.9·0 − 1 = 1;     Â_1 = 1
        // δ_0 = 1 + 0.9·1 − 0.5 = 1.4; Â_0 = 1.4 + 0.45·1 = 1.85
        // R = Â + V = [2.35, 2, 0]
        const rewards = t2([[1, 2, 5]]);
        const values = t2([[0.5, 1, 7]]);
        const mask = t2([[1, 1, 0]]);
        const { advantages, returns } = gae(rewards, values, mask, 0.9, 0.5);
        assertClose(advantages.arraySync(), [[1.85, 1, 0]], 'advantages');
        assertClose(returns.arraySync(), [[2.35, 2, 0]], 'returns');
        tf.dispose([rewards, values, mask, advantages, returns]);
      });

      test('by hand: γ = λ = 1 gives the reward-to-go minus the value; T = 1 works', () => {
        const rewards = t2([[0, 0, 1]]);
        const values = t2([[0.2, 0.3, 0.4]]);
        const mask = t2([[1, 1, 1]]);
        const { advantages, returns } = gae(rewards, values, mask, 1, 1);
        assertClose(advantages.arraySync(), [[0.8, 0.7, 0.6]], 'advantages');
        assertClose(returns.arraySync(), [[1, 1, 1]], 'returns');
        const r1 = t2([[2]]);
        const v1 = t2([[0.5]]);
        const m1 = t2([[1]]);
        const one = gae(r1, v1, m1, 0.99, 0.95);
        assertClose(one.advantages.arraySync(), [[1.5]], 'T=1 advantage');
        tf.dispose([rewards, values, mask, advantages, returns, r1, v1, m1, one.advantages, one.returns]);
      });
    });

    describe('policyLoss', () => {
      test('loss, clipfrac, approxkl, policykl and ratio match TRL PPOTrainer.loss', () => {
        const [newLp, oldLp, adv, mask] = [
          t2(fx.inputs.new_logprobs),
          t2(fx.inputs.logprobs),
          t2(fx.outputs.gae.advantages_whitened),
          t2(fx.inputs.mask),
        ];
        const out = policyLoss(newLp, oldLp, adv, mask, P.cliprange);
        const L = fx.outputs.loss;
        assertClose(read(out.loss) as number, L.policy, 'loss/policy');
        assertClose(read(out.clipfrac) as number, L.policy_clipfrac, 'policy/clipfrac');
        assertClose(read(out.approxkl) as number, L.approxkl, 'policy/approxkl');
        assertClose(read(out.policykl) as number, L.policykl, 'policy/policykl');
        assertClose(read(out.ratioMean) as number, L.ratio_mean, 'ratio mean');
        const realRatios = L.ratio.flatMap((row, b) => row.filter((_, t) => fx.inputs.mask[b][t] === 1));
        assertClose(read(out.ratioMin) as number, Math.min(...realRatios), 'ratio min');
        assertClose(read(out.ratioMax) as number, Math.max(...realRatios), 'ratio max');
        tf.dispose([newLp, oldLp, adv, mask]);
      });

      test('by hand: the clip binds for A > 0 and ρ > 1+ε, not for A < 0; gradient is 0 where clipped', () => {
        // ρ = e^{0.5} ≈ 1.6487 on both real tokens, ε = 0.2.
        //   A = +1: max(−1.6487, −1.2) = −1.2   (clipped; no gradient)
        //   A = −1: max(+1.6487, +1.2) = 1.6487 (unclipped; d/dlogp = −A·ρ / 2 = ρ/2)
        const rho = Math.exp(0.5);
        const oldLp = t2([[-1, -1, -1]]);
        const adv = t2([[1, -1, 5]]);
        const mask = t2([[1, 1, 0]]);
        const newLp = t2([[-0.5, -0.5, -0.5]]);
        const out = policyLoss(newLp, oldLp, adv, mask, 0.2);
        assertClose(read(out.loss) as number, (-1.2 + rho) / 2, 'loss');
        assertClose(read(out.clipfrac) as number, 0.5, 'clipfrac');
        assertClose(read(out.approxkl) as number, 0.5 * 0.25, 'approxkl');
        assertClose(read(out.policykl) as number, -0.5, 'policykl');
        assertClose(read(out.ratioMean) as number, rho, 'ratio mean');
        tf.dispose([out.ratioMin, out.ratioMax]);
        const grad = tf.grad((lp: Tensor) => policyLoss(lp as Tensor2D, oldLp, adv, mask, 0.2).loss)(newLp);
        assertClose(read(grad), [[0, rho / 2, 0]], 'd loss / d logp');
        tf.dispose([oldLp, adv, mask, newLp]);
      });
    });

    describe('valueLoss', () => {
      test('loss and clipfrac match TRL PPOTrainer.loss', () => {
        const [vpred, oldV, ret, mask] = [
          t2(fx.inputs.vpreds),
          t2(fx.outputs.gae.values_masked),
          t2(fx.outputs.gae.returns),
          t2(fx.inputs.mask),
        ];
        const out = valueLoss(vpred, oldV, ret, mask, P.cliprange_value);
        assertClose(read(out.loss) as number, fx.outputs.loss.value, 'loss/value');
        assertClose(read(out.clipfrac) as number, fx.outputs.loss.value_clipfrac, 'val/clipfrac');
        tf.dispose([vpred, oldV, ret, mask]);
      });

      test('by hand: ε_v = 0.2', () => {
        // token 0: V_old 0, V 1, R 1  → clipped V 0.2: errors 0 vs 0.64 → max 0.64 (clipped one larger)
        // token 1: V_old 0, V 0.1, R 1 → inside the band: errors 0.81 vs 0.81 → 0.81, not clipped
        // token 2: V_old 0, V −1, R 1 → clipped −0.2: errors 4 vs 1.44 → 4 (unclipped larger)
        // loss = ½·(0.64 + 0.81 + 4)/3; clipfrac = 1/3
        const vpred = t2([[1, 0.1, -1]]);
        const oldV = t2([[0, 0, 0]]);
        const ret = t2([[1, 1, 1]]);
        const mask = t2([[1, 1, 1]]);
        const out = valueLoss(vpred, oldV, ret, mask, 0.2);
        assertClose(read(out.loss) as number, (0.5 * (0.64 + 0.81 + 4)) / 3, 'loss');
        assertClose(read(out.clipfrac) as number, 1 / 3, 'clipfrac');
        // ∂/∂V: token 0 clipped → 0; token 1: (V − R)/3 = −0.3; token 2: (V − R)/3 = −2/3
        const grad = tf.grad((v: Tensor) => valueLoss(v as Tensor2D, oldV, ret, mask, 0.2).loss)(vpred);
        assertClose(read(grad), [[0, -0.3, -2 / 3]], 'd loss / d V');
        tf.dispose([vpred, oldV, ret, mask]);
      });
    });

    describe('explainedVariance', () => {
      test('matches TRL val/var_explained', () => {
        const [v, ret, mask] = [t2(fx.inputs.vpreds), t2(fx.outputs.gae.returns), t2(fx.inputs.mask)];
        assertClose(read(explainedVariance(v, ret, mask)) as number, fx.outputs.loss.explained_variance, 'var_explained');
        tf.dispose([v, ret, mask]);
      });

      test('by hand: perfect values give 1, the constant mean gives 1/n', () => {
        const ret = t2([[1, 2, 3, 9]]);
        const mask = t2([[1, 1, 1, 0]]);
        assertClose(read(explainedVariance(ret, ret, mask)) as number, 1, 'perfect');
        // V ≡ 2: mean squared error = biased var = 2/3, unbiased var = 1 → 1 − 2/3 = 1/3
        const mean = t2([[2, 2, 2, 2]]);
        assertClose(read(explainedVariance(mean, ret, mask)) as number, 1 / 3, 'mean predictor');
        tf.dispose([ret, mask, mean]);
      });
    });

    describe('KL controllers', () => {
      test('AdaptiveKLController follows TRL update by update', () => {
        const a = fx.outputs.kl_controller.adaptive;
        const ctl = new AdaptiveKLController(a.init_kl_coef, a.target, a.horizon);
        for (const u of a.updates) {
          ctl.update(u.current, u.n_steps);
          assertClose(ctl.value, u.value_after, `β after KL ${u.current}`, 1e-12);
        }
      });

      test('FixedKLController never moves', () => {
        const f = fx.outputs.kl_controller.fixed;
        const ctl = new FixedKLController(f.kl_coef);
        for (const u of f.updates) {
          ctl.update(u.current, u.n_steps);
          assert.equal(ctl.value, u.value_after);
        }
      });

      test('by hand: the proportional error is clipped at ±0.2', () => {
        // target 1, horizon 100, n = 10: KL 1.1 → e = 0.1 → β·1.01; KL 50 → e = 0.2 → β·1.02
        const ctl = new AdaptiveKLController(1, 1, 100);
        ctl.update(1.1, 10);
        assertClose(ctl.value, 1.01, 'inside the band', 1e-12);
        ctl.update(50, 10);
        assertClose(ctl.value, 1.01 * 1.02, 'clipped above', 1e-12);
        ctl.update(0, 10);
        assertClose(ctl.value, 1.01 * 1.02 * 0.98, 'clipped below', 1e-12);
      });

      test('state round-trips and bad input is refused', () => {
        const ctl = new AdaptiveKLController(0.2, 6, 10000);
        ctl.update(9, 64);
        const state = JSON.parse(JSON.stringify(ctl.state())) as KLControllerState;
        const back = klControllerFromState(state);
        assert.equal(back.value, ctl.value);
        back.update(3, 64);
        ctl.update(3, 64);
        assert.equal(back.value, ctl.value);
        assert.deepEqual(klControllerFromState({ kind: 'fixed', value: 0.05 }).state(), { kind: 'fixed', value: 0.05 });
        assert.throws(() => ctl.update(NaN, 4), /KL must be finite/);
        assert.throws(() => new AdaptiveKLController(0.2, 0, 10), /target must be/);
        assert.throws(() => new FixedKLController(-1), /≥ 0/);
      });
    });

    describe('memory', () => {
      test('no function leaks tensors', () => {
        const lp = t2(fx.inputs.logprobs);
        const ref = t2(fx.inputs.ref_logprobs);
        const mask = t2(fx.inputs.mask);
        const values = t2(fx.inputs.values);
        const scores = t1(fx.inputs.scores);
        const before = tf.memory().numTensors;
        for (let i = 0; i < 3; i++) {
          const r = assembleRewards(scores, lp, ref, mask, 0.1, 'k3');
          const g = gae(r.rewards, values, mask, 0.99, 0.95);
          const w = maskedWhiten(g.advantages, mask);
          const p = policyLoss(lp, ref, w, mask, 0.2);
          const v = valueLoss(values, values, g.returns, mask, 0.2);
          const e = explainedVariance(values, g.returns, mask);
          const k = meanSequenceKL(r.kl, mask);
          tf.dispose([r.rewards, r.nonScoreReward, r.kl, g.advantages, g.returns, w, e, k]);
          tf.dispose(Object.values(p));
          tf.dispose(Object.values(v));
        }
        assert.equal(tf.memory().numTensors, before);
        tf.dispose([lp, ref, mask, values, scores]);
      });
    });
  });
}
