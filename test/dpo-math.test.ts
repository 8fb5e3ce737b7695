/**
 * DPO losses (src/dpo/math.ts) against TRL's own numbers: sigmoid, IPO and robust from TRL 1.16's
 * DPOTrainer._compute_loss (test/fixtures/trl-grpo-rloo-dpo.json), cDPO (sigmoid with label
 * smoothing) from TRL 0.11.4's DPOTrainer.dpo_loss (test/fixtures/trl-cdpo.json); losses, gradients
 * and the implicit-reward metrics, on the suite's backend and cpu; plus cases by hand.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { selectBackend } from '../src/backend';
import { tf, Tensor, Tensor1D, Tensor2D } from '../src/backend/tf';
import { dpoLoss, DpoLossType } from '../src/dpo/math';
import { BACKENDS_UNDER_TEST, fixturePath, TEST_BACKEND, tfjsName } from './helpers';

type M = number[][];
interface Current {
  trl_version: string;
  dpo: {
    chosen_mask: M;
    rejected_mask: M;
    chosen_logp: M;
    rejected_logp: M;
    ref_chosen: number[];
    ref_rejected: number[];
    losses: {
      loss_type: DpoLossType;
      beta: number;
      label_smoothing: number;
      loss: number;
      grad_chosen: M;
      grad_rejected: M;
      'rewards/chosen': number;
      'rewards/rejected': number;
      'rewards/accuracies': number;
      'rewards/margins': number;
    }[];
  };
}
interface Classic {
  trl_version: string;
  inputs: { policy_chosen: number[]; policy_rejected: number[]; ref_chosen: number[]; ref_rejected: number[] };
  cases: { beta: number; label_smoothing: number; loss: number; grad_chosen: number[]; grad_rejected: number[]; chosen_rewards: number[]; rejected_rewards: number[] }[];
}

const cur: Current = JSON.parse(readFileSync(fixturePath('trl-grpo-rloo-dpo.json'), 'utf8'));
const old: Classic = JSON.parse(readFileSync(fixturePath('trl-cdpo.json'), 'utf8'));
const D = cur.dpo;
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

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`DPO losses on ${backend}`, () => {
    before(async () => {
      assert.ok(await tf.setBackend(tfjsName(backend)));
    });

    test('fixture provenance: TRL ≥ 1 and TRL 0.11', () => {
      assert.match(cur.trl_version, /^1\./);
      assert.match(old.trl_version, /^0\.11\./);
    });

    for (const e of D.losses) {
      test(`${e.loss_type}, β = ${e.beta}${e.label_smoothing ? `, ε = ${e.label_smoothing}` : ''}: loss, per-token gradients and rewards/* match TRL`, () => {
        const [cm, rm, cl, rl] = [t2(D.chosen_mask), t2(D.rejected_mask), t2(D.chosen_logp), t2(D.rejected_logp)];
        const [refC, refR] = [t1(D.ref_chosen), t1(D.ref_rejected)];
        const opts = { lossType: e.loss_type, beta: e.beta, labelSmoothing: e.label_smoothing, chosenLength: tf.sum(cm, 1) as Tensor1D, rejectedLength: tf.sum(rm, 1) as Tensor1D };
        // Sequence log-probabilities: the per-token ones summed over the completion.
        const f = (c: Tensor, r: Tensor) => dpoLoss(tf.sum(tf.mul(c, cm), 1) as Tensor1D, tf.sum(tf.mul(r, rm), 1) as Tensor1D, refC, refR, opts);
        const out = f(cl, rl);
        assertClose(read(out.loss), e.loss, 'loss');
        assertClose(tf.mean(out.chosenRewards).dataSync()[0], e['rewards/chosen'], 'rewards/chosen');
        assertClose(tf.mean(out.rejectedRewards).dataSync()[0], e['rewards/rejected'], 'rewards/rejected');
        assertClose(read(out.accuracy), e['rewards/accuracies'], 'rewards/accuracies');
        assertClose(read(out.margin), e['rewards/margins'], 'rewards/margins');
        const [gc, gr] = tf.grads((c: Tensor, r: Tensor) => f(c, r).loss)([cl, rl]);
        assertClose(read(tf.mul(gc, cm)), e.grad_chosen, '∂loss/∂log π(y_w)');
        assertClose(read(tf.mul(gr, rm)), e.grad_rejected, '∂loss/∂log π(y_l)');
        tf.dispose([cm, rm, cl, rl, refC, refR, opts.chosenLength, opts.rejectedLength, out.chosenRewards, out.rejectedRewards, gc, gr]);
      });
    }

    for (const e of old.cases) {
      test(`cDPO (TRL 0.11.4 sigmoid), β = ${e.beta}, ε = ${e.label_smoothing}: loss, gradients and rewards`, () => {
        const I = old.inputs;
        const [pc, pr, rc, rr] = [t1(I.policy_chosen), t1(I.policy_rejected), t1(I.ref_chosen), t1(I.ref_rejected)];
        const opts = { lossType: 'sigmoid' as const, beta: e.beta, labelSmoothing: e.label_smoothing };
        const out = dpoLoss(pc, pr, rc, rr, opts);
        assertClose(read(out.loss), e.loss, 'loss');
        assertClose(read(out.chosenRewards), e.chosen_rewards, 'chosen rewards');
        assertClose(read(out.rejectedRewards), e.rejected_rewards, 'rejected rewards');
        tf.dispose([out.accuracy, out.margin]);
        const [gc, gr] = tf.grads((c: Tensor, r: Tensor) => dpoLoss(c as Tensor1D, r as Tensor1D, rc, rr, opts).loss)([pc, pr]);
        assertClose(read(gc), e.grad_chosen, '∂loss/∂log π(y_w)');
        assertClose(read(gr), e.grad_rejected, '∂loss/∂log π(y_l)');
        tf.dispose([pc, pr, rc, rr]);
      });
    }

    test('by hand: h = 0 gives ln 2 (sigmoid) and 1/(4β²) (IPO); β·h ≫ 0 gives ≈ 0; cDPO = sigmoid at ε = 0', () => {
      const z = t1([-3, -5]);
      const lens = t1([2, 2]);
      assertClose(read(dpoLoss(z, z, z, z, { lossType: 'sigmoid', beta: 0.1, labelSmoothing: 0 }).loss), Math.LN2, 'ln 2', 1e-6);
      assertClose(read(dpoLoss(z, z, z, z, { lossType: 'ipo', beta: 0.5, labelSmoothing: 0, chosenLength: lens, rejectedLength: lens }).loss), 1, '(1/(2β))²', 1e-6);
      // robust at ε: (−(1−ε)·ln½ + ε·ln½)/(1−2ε) = ln 2 whatever ε
      assertClose(read(dpoLoss(z, z, z, z, { lossType: 'robust', beta: 0.1, labelSmoothing: 0.2 }).loss), Math.LN2, 'robust ln 2', 1e-6);
      const big = dpoLoss(t1([0]), t1([-200]), t1([0]), t1([0]), { lossType: 'sigmoid', beta: 1, labelSmoothing: 0 });
      assert.ok((read(big.loss) as number) < 1e-6);
      assert.equal(read(big.accuracy), 1);
      assertClose(read(big.margin), 200, 'margin', 1e-6);
      assert.throws(() => dpoLoss(z, z, z, z, { lossType: 'robust', beta: 0.1, labelSmoothing: 0.5 }), /label smoothing must be in \[0, 0.5\)/);
      assert.throws(() => dpoLoss(z, z, z, z, { lossType: 'ipo', beta: 0.1, labelSmoothing: 0 }), /IPO needs the completion lengths/);
      tf.dispose([z, lens]);
    });
  });
}

test('worst relative |Δ| to TRL', () => {
  assert.ok(worst <= TOL, `worst ${worst}`);
  console.log(`dpo math: worst |Δ|/max(1, |TRL|) = ${worst.toExponential(2)}`);
});
