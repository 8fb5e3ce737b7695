/**
 * GRPO and RLOO mathematics (src/group-rl/math.ts) against TRL's own numbers
 * (test/fixtures/trl-grpo-rloo-dpo.json, written by scripts/make_trl_grpo_rloo_dpo_fixture.py from
 * TRL 1.16's GRPOTrainer / RLOOTrainer), losses and their gradients on the suite's backend and cpu,
 * plus small cases by hand.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { selectBackend } from '../src/backend';
import { tf, Tensor, Tensor1D, Tensor2D } from '../src/backend/tf';
import { GrpoLossType, grpoAdvantages, grpoLoss, rlooAdvantages, rlooLoss, rlooRewards, ScaleRewards, sequenceLogRatio } from '../src/group-rl/math';
import { BACKENDS_UNDER_TEST, fixturePath, TEST_BACKEND, tfjsName } from './helpers';

type M = number[][];
interface LossCase {
  loss: number;
  grad: M;
  entropy: number;
  kl?: number;
  'clip_ratio/low_mean': number;
  'clip_ratio/high_mean': number;
  'clip_ratio/region_mean': number;
  'clip_ratio/low_min': number;
  'clip_ratio/high_max': number;
  epsilon_low: number;
  epsilon_high: number;
}
interface Fixture {
  trl_version: string;
  group: { prompts: number; k: number; mask: M; old_logp: M; ref_logp: M; new_logp: M; rloo_new_logp: M; entropies: M; scores: number[]; max_completion_length: number; steps_per_generation: number };
  grpo: {
    advantages: Record<ScaleRewards, { advantages: number[]; std: number[]; frac_reward_zero_std: number }>;
    losses: (LossCase & { loss_type: GrpoLossType; beta: number; use_bias_correction_kl: boolean })[];
  };
  rloo: {
    advantages: Record<string, { beta: number; normalize: boolean; advantages: number[]; rewards: number[]; frac_reward_zero_std: number }>;
    loss_case: string;
    losses: LossCase[];
  };
}

const fx: Fixture = JSON.parse(readFileSync(fixturePath('trl-grpo-rloo-dpo.json'), 'utf8'));
const G = fx.group;
/** The fixture is float64 (exact); rlhf computes in float32. */
const TOL = 2e-6;

let worst = 0;
function assertClose(actual: number | number[] | M, expected: number | number[] | M, what: string, tol = TOL): void {
  const a = [actual].flat(2) as number[];
  const e = [expected].flat(2) as number[];
  assert.equal(a.length, e.length, `${what}: length ${a.length} != ${e.length}`);
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    worst = Math.max(worst, d / Math.max(1, Math.abs(e[i])));
    assert.ok(d <= tol * Math.max(1, Math.abs(e[i])), `${what}[${i}]: ${a[i]} != ${e[i]} (|Δ| ${d.toExponential(2)}, tol ${tol})`);
  }
}
const read = (t: Tensor) => {
  const v = t.arraySync() as number | number[] | M;
  t.dispose();
  return v;
};
const t2 = (m: M): Tensor2D => tf.tensor2d(m, undefined, 'float32');
const t1 = (v: number[]): Tensor1D => tf.tensor1d(v, 'float32');

before(async () => {
  await selectBackend(TEST_BACKEND);
  await selectBackend('cpu');
});

describe('group advantages (host, float64)', () => {
  test('the fixture was made by TRL ≥ 1 on groups of k = 4', () => {
    assert.match(fx.trl_version, /^1\./);
    assert.equal(G.k, 4);
    assert.equal(G.scores.length, G.prompts * G.k);
  });

  for (const scale of ['group', 'batch', 'none'] as const) {
    test(`GRPO scale_rewards = ${scale} matches TRL`, () => {
      const r = grpoAdvantages(G.scores, G.k, scale);
      const e = fx.grpo.advantages[scale];
      assertClose(r.advantages, e.advantages, `advantages (${scale})`, 1e-9);
      assertClose(r.fracZeroStd, e.frac_reward_zero_std, 'frac_reward_zero_std', 1e-7);
    });
  }

  for (const [name, e] of Object.entries(fx.rloo.advantages)) {
    test(`RLOO ${name}: KL in the reward, leave-one-out baseline, match TRL`, () => {
      const mask = t2(G.mask);
      const kl = Array.from(read(sequenceLogRatio(t2(G.old_logp), t2(G.ref_logp), mask)) as number[]);
      mask.dispose();
      const rewards = rlooRewards(G.scores, kl, e.beta);
      assertClose(rewards, e.rewards, 'rewards − β·KL');
      const a = rlooAdvantages(rewards, G.k, e.normalize);
      assertClose(a.advantages, e.advantages, 'advantages', 1e-5);
      assertClose(a.fracZeroStd, e.frac_reward_zero_std, 'frac_reward_zero_std', 1e-7);
    });
  }

  test('by hand: rewards 1, 2, 3, 6 in one group', () => {
    // mean 3, unbiased std sqrt((4 + 1 + 0 + 9)/3) = sqrt(14/3)
    const s = Math.sqrt(14 / 3);
    assertClose(grpoAdvantages([1, 2, 3, 6], 4, 'group').advantages, [-2 / (s + 1e-4), -1 / (s + 1e-4), 0, 3 / (s + 1e-4)], 'grpo', 1e-12);
    assertClose(grpoAdvantages([1, 2, 3, 6], 4, 'none').advantages, [-2, -1, 0, 3], 'grpo none', 1e-12);
    // leave-one-out: 1 − (2+3+6)/3, 2 − (1+3+6)/3, 3 − (1+2+6)/3, 6 − (1+2+3)/3
    assertClose(rlooAdvantages([1, 2, 3, 6], 4, false).advantages, [1 - 11 / 3, 2 - 10 / 3, 0, 4], 'rloo', 1e-12);
    // RLOO's advantage is GRPO's unscaled one times k/(k − 1)
    assertClose(rlooAdvantages([1, 2, 3, 6], 4, false).advantages, [-2, -1, 0, 3].map((x) => (x * 4) / 3), 'rloo = k/(k−1)·centred', 1e-12);
  });

  test('equal rewards, k = 1 and ragged batches', () => {
    assert.deepEqual(grpoAdvantages([2, 2, 2], 3, 'group').advantages, [0, 0, 0]);
    assert.equal(grpoAdvantages([2, 2, 2], 3, 'group').fracZeroStd, 1);
    assert.deepEqual(grpoAdvantages([5, 7], 1, 'group').advantages, [0, 0]);
    assert.deepEqual(rlooAdvantages([5, 7], 1, false).advantages, [0, 0]);
    assert.throws(() => grpoAdvantages([1, 2, 3], 2, 'group'), /not whole groups of k = 2/);
  });
});

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`group losses on ${backend}`, () => {
    before(async () => {
      assert.ok(await tf.setBackend(tfjsName(backend)));
    });

    const clipStats = (r: { lowMean: Tensor; highMean: Tensor; regionMean: Tensor; lowMin: Tensor; highMax: Tensor }, e: LossCase) => {
      assertClose(read(r.lowMean), e['clip_ratio/low_mean'], 'clip_ratio/low_mean');
      assertClose(read(r.highMean), e['clip_ratio/high_mean'], 'clip_ratio/high_mean');
      assertClose(read(r.regionMean), e['clip_ratio/region_mean'], 'clip_ratio/region_mean');
      assertClose(read(r.lowMin), e['clip_ratio/low_min'], 'clip_ratio/low_min');
      assertClose(read(r.highMax), e['clip_ratio/high_max'], 'clip_ratio/high_max');
    };

    for (const e of fx.grpo.losses) {
      test(`GRPO ${e.loss_type}, β = ${e.beta}, ε = ${e.epsilon_low}/${e.epsilon_high}${e.use_bias_correction_kl ? ', KL bias correction' : ''}: loss, ∂loss/∂log π and metrics match TRL`, () => {
        const [oldL, ref, mask, newL] = [t2(G.old_logp), t2(G.ref_logp), t2(G.mask), t2(G.new_logp)];
        const adv = t1(fx.grpo.advantages.group.advantages);
        const tokens = G.mask.flat().reduce((a, b) => a + b, 0);
        const opts = {
          lossType: e.loss_type,
          beta: e.beta,
          epsilonLow: e.epsilon_low,
          epsilonHigh: e.epsilon_high,
          klBiasCorrection: e.use_bias_correction_kl,
          maxCompletionLength: G.max_completion_length,
          tokensInGenerationBatch: tokens,
          stepsPerGeneration: G.steps_per_generation,
        };
        const r = grpoLoss(newL, oldL, e.beta ? ref : null, adv, mask, opts);
        assertClose(read(r.loss), e.loss, 'loss');
        if (e.kl !== undefined) assertClose(read(r.kl!), e.kl, 'kl');
        else assert.equal(r.kl, undefined);
        clipStats(r, e);
        const grad = tf.grad((x: Tensor) => grpoLoss(x as Tensor2D, oldL, e.beta ? ref : null, adv, mask, opts).loss)(newL);
        assertClose(read(tf.mul(grad, mask)), e.grad, '∂loss/∂log π');
        grad.dispose();
        tf.dispose([oldL, ref, mask, newL, adv]);
      });
    }

    for (const e of fx.rloo.losses) {
      test(`RLOO ε = ${e.epsilon_low}/${e.epsilon_high}: sequence-ratio loss, ∂loss/∂log π and clip metrics match TRL`, () => {
        const [oldL, mask, newL] = [t2(G.old_logp), t2(G.mask), t2(G.rloo_new_logp)];
        const oldSeq = tf.sum(tf.mul(oldL, mask), 1) as Tensor1D;
        const adv = t1(fx.rloo.advantages[fx.rloo.loss_case].advantages);
        const r = rlooLoss(newL, oldSeq, adv, mask, e.epsilon_low, e.epsilon_high);
        assertClose(read(r.loss), e.loss, 'loss');
        clipStats(r, e);
        const grad = tf.grad((x: Tensor) => rlooLoss(x as Tensor2D, oldSeq, adv, mask, e.epsilon_low, e.epsilon_high).loss)(newL);
        assertClose(read(tf.mul(grad, mask)), e.grad, '∂loss/∂log π');
        grad.dispose();
        tf.dispose([oldL, mask, newL, oldSeq, adv]);
      });
    }

    test('by hand: on-policy GRPO (ρ = 1, β = 0) is −mean A; the gradient is −A/|y| per token', () => {
      const logp = t2([[-1, -2], [-0.5, -0.7]]);
      const old = t2([[-1, -2], [-0.5, -0.7]]); // π_old = π, but a constant
      const mask = t2([[1, 1], [1, 0]]);
      const adv = t1([2, -1]);
      const opts = { lossType: 'grpo' as const, beta: 0, epsilonLow: 0.2, epsilonHigh: 0.2, klBiasCorrection: false, maxCompletionLength: 2 };
      assertClose(read(grpoLoss(logp, old, null, adv, mask, opts).loss), -(2 - 1) / 2, 'loss');
      const g = tf.grad((x: Tensor) => grpoLoss(x as Tensor2D, old, null, adv, mask, opts).loss)(logp);
      // ∂/∂log π of −mean_i (1/|yᵢ|)Σₜ ρₜAᵢ at ρ = 1: −Aᵢ/(B·|yᵢ|)
      assertClose(read(tf.mul(g, mask)), [[-2 / 4, -2 / 4], [1 / 2, 0]], 'grad');
      assert.throws(() => grpoLoss(logp, logp, null, adv, mask, { ...opts, beta: 0.1 }), /needs the reference/);
      tf.dispose([logp, old, mask, adv, g]);
    });
  });
}

test('worst relative |Δ| to TRL', () => {
  // Reported (not a timing): the largest relative difference seen above, far inside the tolerance.
  assert.ok(worst <= TOL, `worst ${worst}`);
  console.log(`group-rl math: worst |Δ|/max(1, |TRL|) = ${worst.toExponential(2)}`);
});
