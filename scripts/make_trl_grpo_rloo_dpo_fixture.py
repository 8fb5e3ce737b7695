#!/usr/bin/env python3
"""Reference numbers for the GRPO, RLOO and DPO mathematics, computed by TRL's own code.

Two TRL versions, two fixtures, one script (it looks at the installed TRL and writes its part):

    # current TRL (GRPO, RLOO, DPO sigmoid / IPO / robust): a venv OUTSIDE the repository
    python3 -m venv ../venv-trl
    ../venv-trl/bin/pip install torch==2.13.0          # FIRST: the CPU wheel; never let pip upgrade it
    ../venv-trl/bin/pip install trl==1.16.0             # check: pip list | grep '^torch ' is still 2.13.0
    ../venv-trl/bin/python scripts/make_trl_grpo_rloo_dpo_fixture.py     # → test/fixtures/trl-grpo-rloo-dpo.json

    # TRL 0.11.4 (cDPO: the sigmoid loss with label smoothing), the venv of scripts/requirements.txt
    .venv/bin/python scripts/make_trl_grpo_rloo_dpo_fixture.py           # → test/fixtures/trl-cdpo.json

test/group-rl-math.test.ts and test/dpo-math.test.ts check src/group-rl/math.ts and src/dpo/math.ts
against them.

Where the numbers come from
---------------------------
Nothing here re-implements TRL. The losses are TRL's trainer methods, called on a minimal stand-in
`self` that has only the fields the method reads (as scripts/make_trl_ppo_fixture.py does for the
classic PPOTrainer):

  GRPOTrainer._compute_loss(self, model, inputs)    the per-token log-probs come from a stand-in
  RLOOTrainer._compute_loss(self, model, inputs)    `_get_per_token_logps_and_entropies` that returns
                                                    a leaf tensor, so d loss / d log π is TRL's too
  DPOTrainer._compute_loss(self, model, inputs, False)   the stand-in model returns the per-token
                                                    log-probs (0 off the completion, as TRL's fused
                                                    head does for label -100); reference log-probs
                                                    precomputed (precompute_ref_logps=True), as rlhf does
  DPOTrainer.dpo_loss (TRL 0.11.4)                  cDPO: current TRL's sigmoid loss has no label smoothing

The group advantages are not a function in TRL: they are a block inside
`_generate_and_score_completions`. We take that block from the installed TRL's source at run time
(inspect.getsource, between two marker lines quoted below) and execute it on our rewards, so the
numbers are TRL's current code, not a copy; if TRL changes the block, the markers or the names it
uses stop matching and this script fails loudly instead of writing stale numbers.

Conventions pinned down (shapes: B completions of T tokens, mask 1 on completion tokens):
  GRPO  A_i = (r_i − mean_group) / (std_group + 1e-4), std unbiased (trl nanstd); scale_rewards
        "batch": the std of the whole batch; "none": no division.
        ρ_t = exp(log π − log π_old); per-token loss −min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A)
        + β·k3_t, k3_t = exp(ref − log π) − (ref − log π) − 1 (times ρ with use_bias_correction_kl);
        aggregated per loss_type: grpo = mean over sequences of each sequence's token mean;
        bnpo = token mean over the batch; dr_grpo = token sum / (B · max_completion_length);
        dapo = token sum / (num_items_in_batch / steps_per_generation) (one process, no accumulation).
  RLOO  r_i ← r_i − β·Σ_t (log π_old − log π_ref) (k1, summed over the completion);
        A_i = r_i − mean of the other k − 1 rewards of its group; optionally normalised over the batch
        (A − mean)/(std + 1e-4). Sequence-level ratio ρ = exp(Σ_t log π − Σ_t log π_old),
        loss = mean_i −min(ρ_i·A_i, clip(ρ_i)·A_i).
  DPO   h = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)), log-probs summed over the
        completion; sigmoid −log σ(βh); IPO (h/len − 1/(2β))² with each log-ratio divided by its
        completion length; robust (rDPO) (−(1−ε) log σ(βh) + ε log σ(−βh)) / (1 − 2ε);
        cDPO (TRL 0.11.4 sigmoid with label_smoothing ε) −(1−ε) log σ(βh) − ε log σ(−βh).
        rewards/chosen = β·(log π(y_w) − log π_ref(y_w)), rewards/rejected likewise,
        rewards/accuracies = mean [chosen > rejected], rewards/margins = mean(chosen − rejected).

Numbers are float64 (inputs are float32 values, widened), so the fixture is the exact answer and the
tests measure rlhf's float32 error against it.
"""

import inspect
import json
import math
import os
import textwrap
from types import SimpleNamespace

import torch
import trl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 20250611
torch.set_default_dtype(torch.float64)


def lst(t: torch.Tensor):
    return t.detach().to(torch.float64).tolist()


def num(t) -> float:
    return float(t.item() if torch.is_tensor(t) else t)


def check_finite(o, path="$"):
    if isinstance(o, float) and not math.isfinite(o):
        raise ValueError(f"non-finite number at {path}")
    if isinstance(o, dict):
        for k, v in o.items():
            check_finite(v, f"{path}.{k}")
    if isinstance(o, list):
        for i, v in enumerate(o):
            check_finite(v, f"{path}[{i}]")


def write(name: str, fixture: dict) -> None:
    check_finite(fixture)
    out = os.path.join(ROOT, "test", "fixtures", name)
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {out} (trl {trl.__version__}, torch {torch.__version__})")


class Gen:
    """float32 random numbers (then float64), from one seeded generator."""

    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(seed)

    def randn(self, *shape, std=1.0):
        return (std * torch.randn(*shape, generator=self.g, dtype=torch.float32)).to(torch.float64)

    def rand(self, *shape):
        return torch.rand(*shape, generator=self.g, dtype=torch.float32).to(torch.float64)


def mask_of(lengths, T):
    m = torch.zeros(len(lengths), T)
    for i, n in enumerate(lengths):
        m[i, :n] = 1.0
    return m


class Accel:
    """The accelerator as one process sees it: gather / reduce are the identity."""

    device = torch.device("cpu")
    num_processes = 1
    process_index = 0
    sync_gradients = True

    def gather(self, x):
        return x

    def gather_for_metrics(self, x):
        return x

    def reduce(self, x, reduction="sum"):
        return x


def trl_block(method, start: str, end: str) -> str:
    """The lines of a TRL method from the line containing `start` through the one containing `end`."""
    src = inspect.getsource(method).splitlines()
    i = next((n for n, l in enumerate(src) if start in l), None)
    if i is None:
        raise RuntimeError(f"{method.__qualname__}: marker {start!r} not found; TRL changed, update this script")
    j = next((n for n in range(i, len(src)) if end in src[n]), None)
    if j is None:
        raise RuntimeError(f"{method.__qualname__}: marker {end!r} not found after {start!r}")
    return textwrap.dedent("\n".join(src[i : j + 1]))


# ─── current TRL: GRPO, RLOO, DPO ─────────────────────────────────────────────────────────────────


def current():
    from trl.trainer.grpo_trainer import GRPOTrainer
    from trl.trainer.rloo_trainer import RLOOTrainer
    from trl.trainer.dpo_trainer import DPOTrainer
    from trl.trainer.utils import nanmax, nanmin, nanstd

    g = Gen(SEED)
    P, K, T = 3, 4, 5
    B = P * K
    lengths = [5, 3, 1, 4, 2, 5, 5, 1, 3, 4, 2, 5]
    mask = mask_of(lengths, T)
    old_logp = -(0.1 + 2.9 * g.rand(B, T))
    ref_logp = old_logp + g.randn(B, T, std=0.4)
    new_logp = old_logp + g.randn(B, T, std=0.3)
    entropies = 0.5 + 2 * g.rand(B, T)
    scores = g.randn(B, std=1.5)
    scores[2 * K : 3 * K] = 0.75  # one group of equal rewards: zero std, zero advantage
    scores = scores.to(torch.float32).to(torch.float64)

    # --- advantages: TRL's own block, run on our rewards -------------------------------------
    grpo_src = trl_block(
        GRPOTrainer._generate_and_score_completions,
        'if self.multi_objective_aggregation == "sum_then_normalize":',
        "advantages = torch.nan_to_num(advantages, nan=0.0)",
    )
    rloo_src = trl_block(
        RLOOTrainer._generate_and_score_completions,
        "# Include the KL penalty in the reward",
        "is_std_zero = torch.isclose(std_rewards",
    )

    def grpo_advantages(scale):
        ns = dict(
            torch=torch,
            nanstd=nanstd,
            self=SimpleNamespace(multi_objective_aggregation="sum_then_normalize", scale_rewards=scale, reward_weights=torch.ones(1)),
            rewards_per_func=scores.clone().unsqueeze(1),
            unscorable_mask=torch.zeros(B, dtype=torch.bool),
            num_generations=K,
            device="cpu",
        )
        exec(grpo_src, ns)
        return ns["advantages"], ns["std_rewards"], ns["is_std_zero"]

    def rloo_advantages(beta, normalize):
        ns = dict(
            torch=torch,
            nanstd=nanstd,
            gather=lambda x: x,
            self=SimpleNamespace(beta=beta, normalize_advantages=normalize),
            rewards=scores.clone(),
            old_per_token_logps=old_logp.clone(),
            ref_per_token_logps=ref_logp.clone(),
            completion_mask=mask.clone(),
            num_generations=K,
        )
        exec(rloo_src, ns)
        return ns["advantages"], ns["rewards"], ns["is_std_zero"]

    grpo_adv = {}
    for scale in ["group", "batch", "none"]:
        a, s, z = grpo_advantages(scale)
        grpo_adv[scale] = {"advantages": lst(a), "std": lst(s), "frac_reward_zero_std": num(z.float().mean())}
    rloo_adv = {}
    for beta, normalize in [(0.0, False), (0.05, False), (0.05, True)]:
        a, r, z = rloo_advantages(beta, normalize)
        rloo_adv[f"beta={beta},normalize={normalize}"] = {
            "beta": beta,
            "normalize": normalize,
            "advantages": lst(a),
            "rewards": lst(r),
            "frac_reward_zero_std": num(z.float().mean()),
        }

    # --- GRPO loss -------------------------------------------------------------------------------
    adv_for_loss = torch.tensor(grpo_adv["group"]["advantages"])
    max_completion_length = T
    steps_per_generation = 2

    def grpo_loss(loss_type, beta, eps_low, eps_high, bias_corr):
        leaf = new_logp.clone().requires_grad_(True)
        metrics = {"train": {}}
        me = SimpleNamespace(
            _get_per_token_logps_and_entropies=lambda *a, **k: (leaf, entropies.clone(), None),
            aux_loss_enabled=False,
            top_entropy_quantile=1.0,
            off_policy_mask_threshold=None,
            importance_sampling_level="token",
            beta=beta,
            args=SimpleNamespace(use_bias_correction_kl=bias_corr, delta=None, steps_per_generation=steps_per_generation),
            loss_type=loss_type,
            epsilon_low=eps_low,
            epsilon_high=eps_high,
            use_vllm=False,
            vllm_importance_sampling_correction=False,
            model=SimpleNamespace(training=True),
            current_gradient_accumulation_steps=1,
            max_completion_length=max_completion_length,
            _entropy_bonus_enabled=False,
            accelerator=Accel(),
            _metrics=metrics,
        )
        me._metrics["train"] = _Metrics()
        inputs = {
            "prompt_ids": torch.zeros(B, 2, dtype=torch.long),
            "prompt_mask": torch.ones(B, 2, dtype=torch.long),
            "completion_ids": torch.zeros(B, T, dtype=torch.long),
            "completion_mask": mask.clone(),
            "advantages": adv_for_loss.clone(),
            "old_per_token_logps": old_logp.clone(),
            "ref_per_token_logps": ref_logp.clone(),
            "num_items_in_batch": mask.sum(),
        }
        loss = GRPOTrainer._compute_loss(me, None, inputs)
        loss.backward()
        m = me._metrics["train"]
        out = {
            "loss_type": loss_type,
            "beta": beta,
            "epsilon_low": eps_low,
            "epsilon_high": eps_high,
            "use_bias_correction_kl": bias_corr,
            "loss": num(loss),
            "grad": lst(leaf.grad * mask),
            "entropy": m.last("entropy"),
            "clip_ratio/low_mean": m.last("clip_ratio/low_mean"),
            "clip_ratio/high_mean": m.last("clip_ratio/high_mean"),
            "clip_ratio/region_mean": m.last("clip_ratio/region_mean"),
            "clip_ratio/low_min": m.last("clip_ratio/low_min"),
            "clip_ratio/high_max": m.last("clip_ratio/high_max"),
        }
        if beta != 0.0:
            out["kl"] = m.last("kl")
        return out

    grpo_losses = []
    for loss_type in ["grpo", "bnpo", "dr_grpo", "dapo"]:
        grpo_losses.append(grpo_loss(loss_type, 0.04, 0.2, 0.2, False))
    grpo_losses.append(grpo_loss("grpo", 0.0, 0.2, 0.2, False))
    grpo_losses.append(grpo_loss("grpo", 0.1, 0.2, 0.28, True))  # DAPO's clip-higher, KL with the IS correction
    for c in grpo_losses:
        # The fixture is only useful if the clipping branches are exercised.
        assert 0 < c["clip_ratio/region_mean"] < 1, c

    # --- RLOO loss -------------------------------------------------------------------------------
    rloo_case = rloo_adv["beta=0.05,normalize=False"]
    rloo_a = torch.tensor(rloo_case["advantages"])
    old_seq = (old_logp * mask).sum(1)
    # Sequence ratios need a smaller spread to land on both sides of the clip range.
    rloo_new = old_logp + g.randn(B, T, std=0.12)

    def rloo_loss(eps_low, eps_high):
        leaf = rloo_new.clone().requires_grad_(True)
        me = SimpleNamespace(
            _get_per_token_logps_and_entropies=lambda *a, **k: (leaf, entropies.clone(), None),
            aux_loss_enabled=False,
            epsilon_low=eps_low,
            epsilon_high=eps_high,
            model=SimpleNamespace(training=True),
            accelerator=Accel(),
            _metrics={"train": _Metrics()},
        )
        inputs = {
            "prompt_ids": torch.zeros(B, 2, dtype=torch.long),
            "prompt_mask": torch.ones(B, 2, dtype=torch.long),
            "completion_ids": torch.zeros(B, T, dtype=torch.long),
            "completion_mask": mask.clone(),
            "advantages": rloo_a.clone(),
            "old_logps": old_seq.clone(),
        }
        loss = RLOOTrainer._compute_loss(me, None, inputs)
        loss.backward()
        m = me._metrics["train"]
        return {
            "epsilon_low": eps_low,
            "epsilon_high": eps_high,
            "loss": num(loss),
            "grad": lst(leaf.grad * mask),
            "entropy": m.last("entropy"),
            "clip_ratio/low_mean": m.last("clip_ratio/low_mean"),
            "clip_ratio/high_mean": m.last("clip_ratio/high_mean"),
            "clip_ratio/region_mean": m.last("clip_ratio/region_mean"),
            "clip_ratio/low_min": m.last("clip_ratio/low_min"),
            "clip_ratio/high_max": m.last("clip_ratio/high_max"),
        }

    rloo_losses = [rloo_loss(0.2, 0.2), rloo_loss(0.1, 0.3)]
    for c in rloo_losses:
        assert 0 < c["clip_ratio/region_mean"] < 1, c

    # --- DPO loss --------------------------------------------------------------------------------
    N, TD = 5, 4
    c_len = [4, 2, 3, 1, 4]
    r_len = [3, 4, 1, 2, 4]
    c_mask, r_mask = mask_of(c_len, TD), mask_of(r_len, TD)
    c_tok = -(0.2 + 2.5 * g.rand(N, TD)) * c_mask
    r_tok = -(0.2 + 2.5 * g.rand(N, TD)) * r_mask
    ref_c = (c_tok * c_mask).sum(1) + g.randn(N, std=0.8)
    ref_r = (r_tok * r_mask).sum(1) + g.randn(N, std=0.8)

    def dpo_loss(loss_type, beta, label_smoothing=0.0):
        per_tok = torch.cat([c_tok, r_tok], 0)
        leaf = per_tok.clone().requires_grad_(True)
        # completion_mask over prompt + completion: one prompt token in front (TRL shifts it off).
        comp = torch.cat([torch.zeros(2 * N, 1), torch.cat([c_mask, r_mask], 0)], 1).long()
        outputs = SimpleNamespace(
            log_probs=leaf,
            entropy=torch.zeros(2 * N, TD + 1),
            mean_logits=torch.zeros(2 * N, TD + 1),
            is_top1=torch.zeros(2 * N, TD + 1, dtype=torch.bool),
        )
        me = SimpleNamespace(
            model=SimpleNamespace(training=True),
            accelerator=Accel(),
            aux_loss_enabled=False,
            ld_alpha=None,
            precompute_ref_logps=True,
            f_divergence_type="reverse_kl",
            loss_types=[loss_type],
            loss_weights=[1.0],
            beta=beta,
            label_smoothing=label_smoothing,
            use_weighting=False,
            _metrics={"train": _Metrics()},
            _total_train_tokens=0,
            _tp_size=1,
        )
        inputs = {
            "input_ids": torch.zeros(2 * N, TD + 1, dtype=torch.long),
            "attention_mask": torch.ones(2 * N, TD + 1, dtype=torch.long),
            "completion_mask": comp,
            "ref_chosen_logps": ref_c.clone(),
            "ref_rejected_logps": ref_r.clone(),
        }
        loss = DPOTrainer._compute_loss(me, lambda **kw: outputs, inputs, False)
        loss.backward()
        m = me._metrics["train"]
        return {
            "loss_type": loss_type,
            "beta": beta,
            "label_smoothing": label_smoothing,
            "loss": num(loss),
            "grad_chosen": lst(leaf.grad[:N] * c_mask),
            "grad_rejected": lst(leaf.grad[N:] * r_mask),
            "rewards/chosen": m.last("rewards/chosen"),
            "rewards/rejected": m.last("rewards/rejected"),
            "rewards/accuracies": m.last("rewards/accuracies"),
            "rewards/margins": m.last("rewards/margins"),
            "logps/chosen": m.last("logps/chosen"),
            "logps/rejected": m.last("logps/rejected"),
        }

    dpo = [dpo_loss("sigmoid", 0.1), dpo_loss("sigmoid", 0.5), dpo_loss("ipo", 0.1), dpo_loss("robust", 0.1, 0.1)]
    assert 0 < dpo[0]["rewards/accuracies"] < 1, dpo[0]

    write(
        "trl-grpo-rloo-dpo.json",
        {
            "trl_version": trl.__version__,
            "torch_version": torch.__version__,
            "seed": SEED,
            "sources": {
                "grpo.advantages": "GRPOTrainer._generate_and_score_completions, the block from 'if self.multi_objective_aggregation == \"sum_then_normalize\":' to 'advantages = torch.nan_to_num(...)', executed from the installed source",
                "rloo.advantages": "RLOOTrainer._generate_and_score_completions, the block from '# Include the KL penalty in the reward' to 'is_std_zero = torch.isclose(std_rewards, ...)', executed from the installed source",
                "grpo.losses": "GRPOTrainer._compute_loss (stand-in self; d loss / d log π by autograd)",
                "rloo.losses": "RLOOTrainer._compute_loss (stand-in self; d loss / d log π by autograd)",
                "dpo": "DPOTrainer._compute_loss (stand-in self and model, precompute_ref_logps=True; d loss / d per-token log π by autograd)",
            },
            "group": {
                "prompts": P,
                "k": K,
                "mask": lst(mask),
                "old_logp": lst(old_logp),
                "ref_logp": lst(ref_logp),
                "new_logp": lst(new_logp),
                "rloo_new_logp": lst(rloo_new),
                "entropies": lst(entropies),
                "scores": lst(scores),
                "max_completion_length": max_completion_length,
                "steps_per_generation": steps_per_generation,
            },
            "grpo": {"advantages": grpo_adv, "losses": grpo_losses},
            "rloo": {"advantages": rloo_adv, "loss_case": "beta=0.05,normalize=False", "losses": rloo_losses},
            "dpo": {
                "chosen_mask": lst(c_mask),
                "rejected_mask": lst(r_mask),
                "chosen_logp": lst(c_tok),
                "rejected_logp": lst(r_tok),
                "ref_chosen": lst(ref_c),
                "ref_rejected": lst(ref_r),
                "losses": dpo,
            },
        },
    )


class _Metrics(dict):
    """TRL's self._metrics[mode]: a defaultdict(list)."""

    def __missing__(self, key):
        self[key] = []
        return self[key]

    def last(self, key):
        if not self.get(key):
            raise KeyError(f"TRL logged no {key!r}; logged: {sorted(self)}")
        return float(self[key][-1])


# ─── TRL 0.11.4: cDPO ─────────────────────────────────────────────────────────────────────────────


def classic():
    # TRL 0.11.4's dpo_trainer module imports a name transformers 5 no longer has (a mapping used only
    # for vision models); give it an empty one so the module, and dpo_loss in it, can load.
    import transformers.models.auto.modeling_auto as auto

    if not hasattr(auto, "MODEL_FOR_VISION_2_SEQ_MAPPING_NAMES"):
        auto.MODEL_FOR_VISION_2_SEQ_MAPPING_NAMES = {}
    # …and its judges module imports llm_blender when it thinks it is installed; it is not needed here.
    import trl.import_utils

    trl.import_utils.is_llmblender_available = lambda: False
    from trl.trainer.dpo_trainer import DPOTrainer

    g = Gen(SEED + 1)
    N = 6
    pc = -(1 + 8 * g.rand(N))
    pr = -(1 + 8 * g.rand(N))
    rc = pc + g.randn(N, std=1.5)
    rr = pr + g.randn(N, std=1.5)
    cases = []
    for beta, eps in [(0.1, 0.0), (0.1, 0.1), (0.5, 0.3)]:
        me = SimpleNamespace(
            accelerator=Accel(),
            reference_free=False,
            f_divergence_type="reverse_kl",
            f_divergence_params=None,
            loss_type="sigmoid",
            beta=beta,
            label_smoothing=eps,
        )
        leaf_c = pc.clone().requires_grad_(True)
        leaf_r = pr.clone().requires_grad_(True)
        losses, chosen_rewards, rejected_rewards = DPOTrainer.dpo_loss(me, leaf_c, leaf_r, rc, rr)
        losses.mean().backward()
        cases.append(
            {
                "beta": beta,
                "label_smoothing": eps,
                "losses": lst(losses),
                "loss": num(losses.mean()),
                "grad_chosen": lst(leaf_c.grad),
                "grad_rejected": lst(leaf_r.grad),
                "chosen_rewards": lst(chosen_rewards),
                "rejected_rewards": lst(rejected_rewards),
            }
        )
    write(
        "trl-cdpo.json",
        {
            "trl_version": trl.__version__,
            "torch_version": torch.__version__,
            "seed": SEED + 1,
            "sources": {"cases": "trl 0.11.4 DPOTrainer.dpo_loss, loss_type='sigmoid' with label_smoothing (cDPO)"},
            "inputs": {"policy_chosen": lst(pc), "policy_rejected": lst(pr), "ref_chosen": lst(rc), "ref_rejected": lst(rr)},
            "cases": cases,
        },
    )


if __name__ == "__main__":
    if trl.__version__.startswith("0.11."):
        classic()
    else:
        current()
