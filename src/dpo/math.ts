/**
 * The mathematics of DPO (Rafailov et al. 2023) and the variants TRL users reach for first, as TRL
 * computes them (TRL 1.16 DPOTrainer._compute_loss; cDPO from TRL 0.11.4 DPOTrainer.dpo_loss:
 * test/fixtures/trl-grpo-rloo-dpo.json and trl-cdpo.json, scripts/make_trl_grpo_rloo_dpo_fixture.py).
 *
 * For a preference pair (x, y_w ≻ y_l), with sequence log-probabilities summed over the completion:
 *   implicit reward  r(y) = β·(log π(y) − log π_ref(y))          (TRL rewards/chosen, rewards/rejected)
 *   h = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))
 *   sigmoid   −log σ(β·h)                                           the DPO loss (Bradley–Terry on r)
 *   cDPO      −(1 − ε)·log σ(β·h) − ε·log σ(−β·h)                    sigmoid with label smoothing ε: the
 *                                                                   label is wrong with probability ε
 *                                                                   (TRL ≤ 0.2x; current TRL dropped it)
 *   robust    (−(1 − ε)·log σ(β·h) + ε·log σ(−β·h)) / (1 − 2ε)       rDPO (Chowdhury et al. 2024): an
 *                                                                   unbiased loss under flip rate ε
 *   ipo       (h_w/|y_w| − h_l/|y_l| − 1/(2β))²                       IPO (Azar et al. 2023); TRL divides
 *                                                                   each log-ratio by its completion length
 * The loss is the mean over pairs. Inputs are [N] sequence log-probabilities (policy: differentiable).
 */
import { tf, Tensor, Tensor1D } from '../backend/tf';

export type Scalar = ReturnType<typeof tf.scalar>;
export type DpoLossType = 'sigmoid' | 'ipo' | 'robust';

/**
 * log σ(x) = −softplus(−x), stable for large |x|. (tf.logSigmoid's custom gradient fails inside
 * tf.grads on tfjs 4; softplus has a plain one.)
 */
function logSigmoid(x: Tensor): Tensor {
  return tf.neg(tf.softplus(tf.neg(x)));
}

export interface DpoLossOptions {
  lossType: DpoLossType;
  beta: number;
  /** ε: cDPO for 'sigmoid' (0 = plain DPO), the flip rate for 'robust' (must be < 0.5). */
  labelSmoothing: number;
  /** Completion lengths (tokens) of the chosen and rejected responses; IPO needs them. */
  chosenLength?: Tensor1D;
  rejectedLength?: Tensor1D;
}

export interface DpoLossResult {
  /** Mean over pairs, differentiable in the policy log-probabilities. */
  loss: Scalar;
  /** β·(log π − log π_ref) of each chosen / rejected response [N] (TRL's are detached; these are never differentiated). */
  chosenRewards: Tensor1D;
  rejectedRewards: Tensor1D;
  /** mean [r_w > r_l] (`rewards/accuracies`) */
  accuracy: Scalar;
  /** mean (r_w − r_l) (`rewards/margins`) */
  margin: Scalar;
}

export function dpoLoss(
  policyChosen: Tensor1D,
  policyRejected: Tensor1D,
  refChosen: Tensor1D,
  refRejected: Tensor1D,
  o: DpoLossOptions,
): DpoLossResult {
  if (!(o.beta > 0)) throw new Error(`dpoLoss: β must be > 0, got ${o.beta}`);
  const eps = o.labelSmoothing;
  if (!(eps >= 0 && eps < 0.5)) throw new Error(`dpoLoss: label smoothing must be in [0, 0.5), got ${eps}`);
  return tf.tidy(() => {
    const chosenRatio = tf.sub(policyChosen, refChosen);
    const rejectedRatio = tf.sub(policyRejected, refRejected);
    const h = tf.sub(chosenRatio, rejectedRatio);
    const bh = tf.mul(h, o.beta);
    let losses;
    switch (o.lossType) {
      case 'sigmoid':
        losses = tf.sub(tf.mul(logSigmoid(bh), -(1 - eps)), tf.mul(logSigmoid(tf.neg(bh)), eps));
        break;
      case 'robust':
        losses = tf.div(tf.add(tf.mul(logSigmoid(bh), -(1 - eps)), tf.mul(logSigmoid(tf.neg(bh)), eps)), 1 - 2 * eps);
        break;
      case 'ipo': {
        if (!o.chosenLength || !o.rejectedLength) throw new Error('dpoLoss: IPO needs the completion lengths');
        const d = tf.sub(tf.div(chosenRatio, tf.maximum(o.chosenLength, 1)), tf.div(rejectedRatio, tf.maximum(o.rejectedLength, 1)));
        losses = tf.square(tf.sub(d, 1 / (2 * o.beta)));
        break;
      }
      default:
        throw new Error(`dpoLoss: unknown loss type '${String(o.lossType)}' (expected sigmoid, ipo or robust)`);
    }
    // (metrics only: they take no part in the loss, so no gradient flows through them)
    const chosenRewards = tf.mul(chosenRatio, o.beta) as Tensor1D;
    const rejectedRewards = tf.mul(rejectedRatio, o.beta) as Tensor1D;
    return {
      loss: tf.mean(losses) as Scalar,
      chosenRewards,
      rejectedRewards,
      accuracy: tf.mean(tf.cast(tf.greater(chosenRewards, rejectedRewards), 'float32')) as Scalar,
      margin: tf.mean(tf.sub(chosenRewards, rejectedRewards)) as Scalar,
    };
  });
}
