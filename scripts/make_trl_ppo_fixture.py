#!/usr/bin/env python3
"""Reference numbers for the PPO mathematics, computed by TRL's own code.

Run (from the repo root, with the venv of scripts/requirements.txt):

    .venv/bin/python scripts/make_trl_ppo_fixture.py

Writes test/fixtures/trl-ppo.json, which test/ppo-math.test.ts checks src/ppo/math.ts and
src/ppo/kl-controller.ts against.

Where the numbers come from
---------------------------
TRL 0.11.4 is the last release with the classic PPOTrainer (Ziegler et al. / lm-human-preferences
port) whose pieces are separate functions and methods. We call them directly:

  trl.core.masked_mean / masked_var / masked_whiten                      (functions)
  trl.trainer.utils.AdaptiveKLController / FixedKLController              (classes)
  trl.core.stack_dicts                                                    (function)
  trl.trainer.ppo_trainer.PPOTrainer._kl_penalty / compute_rewards /
      compute_advantages / loss / record_step_stats                      (methods, called on a
                                                                          minimal stand-in `self`
                                                                          that only has `config`
                                                                          and `kl_ctl`)

The k3 KL estimator is the one piece the classic trainer does not have: TRL 0.11.4's
`_kl_penalty` knows "kl" (= k1), "abs", "mse" and "full" only. k3 exists in the modern PPOTrainer (trl/trainer/ppo_trainer.py in TRL 0.19.1, inside
train(), step "4. compute rewards"); its two lines are copied verbatim into `k3_modern_trl`
below. For `rewards_k3` we run TRL 0.11.4's compute_rewards with that k3 line as its
`_kl_penalty`.

Explained variance is not a function in TRL 0.11.4 either, but record_step_stats computes it:
    stats["ppo/val/var_explained"] = 1 - stats["ppo/val/error"] / stats["ppo/returns/var"]
from the loss statistics; we call record_step_stats with the stacked loss statistics of one
minibatch (as step() does) and read that key.

Conventions of classic TRL that the fixture pins down (all tensors [B, T] over RESPONSE tokens):
  * `mask` is 1 on real response tokens and 0 on padding; one mask for everything.
  * compute_rewards: kl_t at every position (padding included, garbage there); rewards =
    -beta*kl, plus the score at the LAST index where mask = 1 (mask.nonzero()[-1]).
  * compute_advantages: values*mask, rewards*mask, then GAE over all T positions with
    V_{T} = 0; returns = advantages + values (before whitening); advantages then whitened with
    masked_whiten(advantages, mask) (shift_mean=True).
  * loss: every mean is masked_mean(., mask); approxkl = 0.5*masked_mean((logp - old_logp)^2).
  * masked_var is unbiased (Bessel correction n/(n-1), n = mask.sum()).
  * objective/kl = mean over the batch of (kl*mask).sum(-1); the controller is updated with it
    and n_steps = batch_size.

Fields of trl-ppo.json
----------------------
  trl_version, torch_version   versions that produced the numbers
  sources                      which TRL function/method (or copied line) produced each output
  params
    kl_coef          beta used by compute_rewards (kl_ctl.value)
    gamma, lam       GAE discount and lambda
    cliprange        policy ratio clip epsilon
    cliprange_value  value clip epsilon
    vf_coef          value loss coefficient (loss/total = loss/policy + vf_coef * loss/value)
  inputs (B = 4 responses, T = 6 tokens; float32 values stored as JSON numbers)
    mask           [B][T] 0/1   response mask, right-padded, real lengths 6, 4, 1, 3
    logprobs       [B][T]       log pi_old(y_t) of the sampled tokens (random also at padding)
    ref_logprobs   [B][T]       log pi_ref(y_t)
    values         [B][T]       value-head predictions at rollout time (random also at padding)
    scores         [B]          reward-model scores
    new_logprobs   [B][T]       log pi_theta(y_t) after some updates (for the policy loss)
    vpreds         [B][T]       new value predictions (for the value loss)
    logits         [B][T][5]    random logits, only needed because PPOTrainer.loss computes
                                entropy (not part of what we test)
    x, x_mask      [B][T]       a generic tensor and a mask with a hole, for masked_* functions
  outputs
    kl_k1          [B][T]  PPOTrainer._kl_penalty with kl_penalty="kl": logp - ref_logp
    kl_k3          [B][T]  modern TRL k3 line: logr = ref_logp - logp; (exp(logr) - 1) - logr
    rewards_k1, non_score_reward_k1, kls_k1   [B][T]   PPOTrainer.compute_rewards (k1)
    rewards_k3, non_score_reward_k3, kls_k3   [B][T]   compute_rewards with the k3 line
      (at padding these hold -beta*kl of the padding's logprobs: classic TRL does not mask
       them; compute_advantages multiplies rewards by the mask before using them)
    objective_kl_k1, objective_kl_k3          float   record_step_stats "objective/kl"
    mean_non_score_reward_k1                  float   record_step_stats "ppo/mean_non_score_reward"
    gae.values_masked        [B][T]  values * mask (first output of compute_advantages)
    gae.returns              [B][T]  advantages + values, before whitening
    gae.advantages_raw       [B][T]  returns - values_masked (the un-whitened GAE advantages)
    gae.advantages_whitened  [B][T]  masked_whiten(advantages_raw, mask) as compute_advantages does
      (computed from rewards_k1, values, mask, gamma, lam; whiten_rewards=False)
      (No whiten_rewards=True case: TRL 0.11 whitens rewards*mask and does not mask again, so
       the whitened padding rewards enter the GAE recursion of the real tokens before them;
       modern TRL masks them after whitening, and so does our gae. Not a convention to pin.)
    masked.mean                float    masked_mean(x, x_mask)
    masked.mean_axis1          [B]      masked_mean(x, x_mask, axis=1) (NaN for an all-zero row
                                        never occurs here)
    masked.var_unbiased        float    masked_var(x, x_mask)          (TRL default)
    masked.var_biased          float    masked_var(x, x_mask, unbiased=False)
    masked.whiten              [B][T]   masked_whiten(x, x_mask)                  (shift_mean=True)
    masked.whiten_no_shift     [B][T]   masked_whiten(x, x_mask, shift_mean=False)
    loss.*   PPOTrainer.loss(old_logprobs=logprobs, values=gae.values_masked, logits, vpreds,
             logprobs=new_logprobs, mask, advantages=gae.advantages_whitened, returns=gae.returns)
      policy        loss/policy      masked_mean(max(-A*ratio, -A*clip(ratio, 1-eps, 1+eps)))
      value         loss/value       0.5*masked_mean(max((v-R)^2, (clip(v, V-epsv, V+epsv)-R)^2))
      total         loss/total       policy + vf_coef*value
      policy_clipfrac  policy/clipfrac   masked_mean(pg_losses2 > pg_losses)
      value_clipfrac   val/clipfrac      masked_mean(vf_losses2 > vf_losses1)
      approxkl      policy/approxkl  0.5*masked_mean((new_logp - old_logp)^2)
      policykl      policy/policykl  masked_mean(old_logp - new_logp)
      ratio_mean    masked_mean(ratio, mask) (TRL's avg_ratio)
      ratio         [B][T] policy/ratio exp(new_logp - old_logp) (all positions)
      val_error     val/error        masked_mean((vpred - R)^2)
      returns_var   returns/var      masked_var(R, mask)
      returns_mean  returns/mean     masked_mean(R, mask)
      vpred_mean    val/vpred        masked_mean(vpred, mask)
      explained_variance  ppo/val/var_explained = 1 - val_error / returns_var (record_step_stats)
    kl_controller.adaptive: init_kl_coef, target, horizon, and `updates`: a list of
      {current, n_steps, value_after} from AdaptiveKLController.update, applied in order
    kl_controller.fixed: kl_coef and `updates` with value_after from FixedKLController
"""

import json
import math
import os
from types import SimpleNamespace

import numpy as np
import torch
import trl
from trl.core import masked_mean, masked_var, masked_whiten, stack_dicts
from trl.trainer.ppo_trainer import PPOTrainer
from trl.trainer.utils import AdaptiveKLController, FixedKLController

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "trl-ppo.json")

SEED = 20240601
B, T, V = 4, 6, 5
LENGTHS = [6, 4, 1, 3]

PARAMS = dict(kl_coef=0.15, gamma=0.99, lam=0.95, cliprange=0.2, cliprange_value=0.2, vf_coef=0.1)


def k3_modern_trl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    # Copied from TRL 0.19.1, trl/trainer/ppo_trainer.py, PPOTrainer.train(), "# 4. compute rewards":
    #     # Formula used by http://joschu.net/blog/kl-approx.html for the k1 and k3 estimators
    #     logr = ref_logprobs - logprobs
    #     kl = -logr if args.kl_estimator == "k1" else (logr.exp() - 1) - logr  # Else statement is k3
    logr = ref_logprobs - logprobs
    kl = (logr.exp() - 1) - logr
    return kl


def stand_in(kl_penalty: str = "kl", whiten_rewards: bool = False, kl_fn=None) -> SimpleNamespace:
    """The minimal `self` PPOTrainer's methods read: config fields and kl_ctl."""
    config = SimpleNamespace(
        kl_penalty=kl_penalty,
        whiten_rewards=whiten_rewards,
        gamma=PARAMS["gamma"],
        lam=PARAMS["lam"],
        cliprange=PARAMS["cliprange"],
        cliprange_value=PARAMS["cliprange_value"],
        vf_coef=PARAMS["vf_coef"],
        ratio_threshold=10.0,
    )
    self = SimpleNamespace(config=config, kl_ctl=FixedKLController(PARAMS["kl_coef"]))
    self._kl_penalty = kl_fn if kl_fn is not None else (lambda lp, rlp: PPOTrainer._kl_penalty(self, lp, rlp))
    return self


def lst(t: torch.Tensor):
    return t.detach().to(torch.float32).tolist()


def num(t) -> float:
    return float(t.item() if torch.is_tensor(t) else t)


def main() -> None:
    g = torch.Generator().manual_seed(SEED)

    def randn(*shape, std=1.0):
        return (std * torch.randn(*shape, generator=g)).to(torch.float32)

    mask = torch.zeros(B, T, dtype=torch.float32)
    for i, n in enumerate(LENGTHS):
        mask[i, :n] = 1.0
    logprobs = -(0.1 + 2.9 * torch.rand(B, T, generator=g))
    ref_logprobs = logprobs + randn(B, T, std=0.4)
    values = randn(B, T)
    scores = randn(B, std=2.0)
    new_logprobs = logprobs + randn(B, T, std=0.25)
    vpreds = values + randn(B, T, std=0.4)
    logits = randn(B, T, V)
    x = randn(B, T, std=3.0) + 1.5
    x_mask = mask.clone()
    x_mask[0, 2] = 0.0  # a hole in the middle of a row

    # --- KL estimators and reward assembly -------------------------------------------------
    s_k1 = stand_in("kl")
    kl_k1 = PPOTrainer._kl_penalty(s_k1, logprobs, ref_logprobs)
    kl_k3 = k3_modern_trl(logprobs, ref_logprobs)
    rewards_k1, nsr_k1, kls_k1 = PPOTrainer.compute_rewards(s_k1, scores, logprobs, ref_logprobs, mask)
    s_k3 = stand_in("k3", kl_fn=k3_modern_trl)
    rewards_k3, nsr_k3, kls_k3 = PPOTrainer.compute_rewards(s_k3, scores, logprobs, ref_logprobs, mask)

    # --- GAE ---------------------------------------------------------------------------------
    values_masked, adv_white, returns = PPOTrainer.compute_advantages(s_k1, values, rewards_k1, mask)
    adv_raw = returns - values_masked

    # --- masked statistics -------------------------------------------------------------------
    masked = {
        "mean": num(masked_mean(x, x_mask)),
        "mean_axis1": lst(masked_mean(x, x_mask, axis=1)),
        "var_unbiased": num(masked_var(x, x_mask)),
        "var_biased": num(masked_var(x, x_mask, unbiased=False)),
        "whiten": lst(masked_whiten(x, x_mask)),
        "whiten_no_shift": lst(masked_whiten(x, x_mask, shift_mean=False)),
    }

    # --- losses ------------------------------------------------------------------------------
    pg_loss, vf_loss_scaled, stats = PPOTrainer.loss(
        s_k1, logprobs, values_masked, logits, vpreds, new_logprobs, mask, adv_white, returns
    )
    ratio = torch.exp(new_logprobs - logprobs)

    def step_stats(kls, nsr):
        # record_step_stats as PPOTrainer.step() calls it, with one minibatch's loss statistics
        # stacked the way step() stacks them (trl.core.stack_dicts).
        return PPOTrainer.record_step_stats(
            s_k1,
            PARAMS["kl_coef"],
            masks=mask,
            kls=kls,
            logprobs=logprobs,
            ref_logprobs=ref_logprobs,
            non_score_reward=nsr,
            scores=scores,
            queries=[torch.zeros(3)] * B,
            responses=[torch.zeros(n) for n in LENGTHS],
            train_stats=stack_dicts([stats]),
        )

    st_k1 = step_stats(kls_k1, nsr_k1)
    st_k3 = step_stats(kls_k3, nsr_k3)
    loss = {
        "policy": num(stats["loss/policy"]),
        "value": num(stats["loss/value"]),
        "total": num(stats["loss/total"]),
        "value_scaled": num(vf_loss_scaled),
        "policy_clipfrac": num(stats["policy/clipfrac"]),
        "value_clipfrac": num(stats["val/clipfrac"]),
        "approxkl": num(stats["policy/approxkl"]),
        "policykl": num(stats["policy/policykl"]),
        "ratio_mean": num(masked_mean(stats["policy/ratio"], mask)),
        "ratio": lst(stats["policy/ratio"]),
        "val_error": num(stats["val/error"]),
        "returns_var": num(stats["returns/var"]),
        "returns_mean": num(stats["returns/mean"]),
        "vpred_mean": num(stats["val/vpred"]),
        "explained_variance": num(st_k1["ppo/val/var_explained"]),
    }
    assert abs(num(pg_loss) - loss["policy"]) < 1e-7
    assert abs(loss["explained_variance"] - num(1 - stats["val/error"] / stats["returns/var"])) < 1e-6
    assert torch.allclose(ratio, stats["policy/ratio"])
    # The fixture is only useful if the clipping branches are exercised.
    assert 0.0 < loss["policy_clipfrac"] < 1.0, loss["policy_clipfrac"]
    assert 0.0 < loss["value_clipfrac"] < 1.0, loss["value_clipfrac"]

    # --- KL controllers ----------------------------------------------------------------------
    ada_cfg = dict(init_kl_coef=0.2, target=6.0, horizon=10000.0)
    ada = AdaptiveKLController(ada_cfg["init_kl_coef"], ada_cfg["target"], ada_cfg["horizon"])
    fixed = FixedKLController(0.05)
    schedule = [
        (12.0, 256),  # far above target: error clipped at +0.2
        (3.0, 256),  # far below: clipped at -0.2
        (6.6, 64),  # inside the band: e = 0.1
        (5.1, 1000),  # inside: e = -0.15
        (0.0, 512),  # zero KL: e = -1 clipped to -0.2
        (num(st_k1["objective/kl"]), B),  # the k1 batch above, n_steps = batch size
    ]
    ada_updates, fixed_updates = [], []
    for current, n in schedule:
        ada.update(current, n)
        fixed.update(current, n)
        ada_updates.append({"current": current, "n_steps": n, "value_after": float(ada.value)})
        fixed_updates.append({"current": current, "n_steps": n, "value_after": float(fixed.value)})

    fixture = {
        "trl_version": trl.__version__,
        "torch_version": torch.__version__,
        "seed": SEED,
        "sources": {
            "kl_k1": "trl 0.11.4 PPOTrainer._kl_penalty (config.kl_penalty='kl')",
            "kl_k3": "copied from trl 0.19.1 trl/trainer/ppo_trainer.py PPOTrainer.train() step 4",
            "rewards_*": "trl 0.11.4 PPOTrainer.compute_rewards (k3: with the copied k3 line as _kl_penalty)",
            "objective_kl_*": "trl 0.11.4 PPOTrainer.record_step_stats 'objective/kl'",
            "gae": "trl 0.11.4 PPOTrainer.compute_advantages",
            "masked": "trl 0.11.4 trl.core.masked_mean / masked_var / masked_whiten",
            "loss": "trl 0.11.4 PPOTrainer.loss",
            "loss.explained_variance": "trl 0.11.4 PPOTrainer.record_step_stats 'ppo/val/var_explained'",
            "kl_controller": "trl 0.11.4 trl.trainer.utils.AdaptiveKLController / FixedKLController",
        },
        "params": PARAMS,
        "inputs": {
            "mask": lst(mask),
            "logprobs": lst(logprobs),
            "ref_logprobs": lst(ref_logprobs),
            "values": lst(values),
            "scores": lst(scores),
            "new_logprobs": lst(new_logprobs),
            "vpreds": lst(vpreds),
            "logits": lst(logits),
            "x": lst(x),
            "x_mask": lst(x_mask),
        },
        "outputs": {
            "kl_k1": lst(kl_k1),
            "kl_k3": lst(kl_k3),
            "rewards_k1": lst(rewards_k1),
            "non_score_reward_k1": lst(nsr_k1),
            "kls_k1": lst(kls_k1),
            "rewards_k3": lst(rewards_k3),
            "non_score_reward_k3": lst(nsr_k3),
            "kls_k3": lst(kls_k3),
            "objective_kl_k1": num(st_k1["objective/kl"]),
            "objective_kl_k3": num(st_k3["objective/kl"]),
            "mean_non_score_reward_k1": num(st_k1["ppo/mean_non_score_reward"]),
            "gae": {
                "values_masked": lst(values_masked),
                "returns": lst(returns),
                "advantages_raw": lst(adv_raw),
                "advantages_whitened": lst(adv_white),
            },
            "masked": masked,
            "loss": loss,
            "kl_controller": {
                "adaptive": {**ada_cfg, "updates": ada_updates},
                "fixed": {"kl_coef": 0.05, "updates": fixed_updates},
            },
        },
    }

    def check_finite(o, path="$"):
        if isinstance(o, float) and not math.isfinite(o):
            raise ValueError(f"non-finite number at {path}")
        if isinstance(o, dict):
            for k, v in o.items():
                check_finite(v, f"{path}.{k}")
        if isinstance(o, list):
            for i, v in enumerate(o):
                check_finite(v, f"{path}[{i}]")

    check_finite(fixture)
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT} (trl {trl.__version__}, torch {torch.__version__}, numpy {np.__version__})")


if __name__ == "__main__":
    main()
