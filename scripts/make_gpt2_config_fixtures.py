#!/usr/bin/env python3
"""Reference fixtures for the GPT2Config fields that change the forward pass.

For each variant below, builds a tiny random `GPT2LMHeadModel` with Hugging Face `transformers`
(the base config with a few fields changed), saves it the way transformers does, reloads it, and
records the logits transformers computes for a padded batch. For two variants (an untied head,
and every non-default field at once) it also records PyTorch's gradient of the language-modelling
loss for every parameter. And it records every parameter-free activation of transformers' ACT2FN
(and its derivative) on a grid. test/gpt2-config.test.ts checks rlhf against all of it.

Run (from the repo root, with the venv of scripts/requirements.txt):

    /work/venv/bin/python scripts/make_gpt2_config_fixtures.py

Outputs (under test/fixtures/):

  gpt2-variants/<name>/         config.json + model.safetensors, as transformers saves them
  gpt2-config-variants.json     fields:
    transformers_version, torch_version, seed
    variants.<name>.dir          the directory above, relative to test/fixtures/
    variants.<name>.overrides    the GPT2Config fields that differ from the base config
    variants.<name>.batch        input_ids [B][T], attention_mask [B][T] (row 1 LEFT-padded with
                                 pad_id), position_ids [B][T] = clip(cumsum(mask) − 1, 0) (passed
                                 to transformers), logits [B][T][V] float32 (compare real
                                 positions only)
    variants.<name>.delta_if_ignored   max |Δlogit| over real positions between this model and the
                                 same weights with the overridden fields set back to their
                                 defaults (for tie_word_embeddings: the head replaced by wte;
                                 n_inner cannot be reset, so null): how wrong a loader that reads
                                 the field and ignores it would be. ~0 for reorder_and_upcast_attn,
                                 whose maths is the same in float32.
    variants.<name>.grads        (untied and combo only) the loss of lmLoss (src/model/lm.ts) on a
                                 right-padded batch and d loss / d parameter for every parameter,
                                 as in gpt2-grads.json: {batch: {B, T, ids, mask, lossMask} (flat,
                                 row-major), loss, grads: {name: {shape, data}}}; lm_head.weight
                                 has its own gradient when untied
    activations.x                grid of float32 inputs (avoids every kink: 0, ±3, 6, ±10)
    activations.values.<name>    ACT2FN[name](x) in float32
    activations.grads.<name>     d ACT2FN[name](x) / dx (autograd, float32)
  Weights: every weight ~ N(0, 0.3²), every bias ~ N(0, 0.1²), LayerNorm gain ~ 1 + N(0, 0.1²),
  LayerNorm bias ~ N(0, 0.1²); dims vocab 31, n_positions 16, n_embd 8, n_layer 3, n_head 2
  (3 layers, so that 1/(layer + 1) takes three values). All floats to 7 significant digits.
"""

import inspect
import json
import os
import shutil
import sys

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.activations import ACT2FN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures")
VARIANTS_DIR = os.path.join(FIXTURES, "gpt2-variants")
OUT_JSON = os.path.join(FIXTURES, "gpt2-config-variants.json")

SEED = 4321
WEIGHT_STD = 0.3
BIAS_STD = 0.1
PAD_ID = 0
DIGITS = 7

BASE = dict(
    vocab_size=31,
    n_positions=16,
    n_embd=8,
    n_layer=3,
    n_head=2,
    activation_function="gelu_new",
    resid_pdrop=0.0,
    embd_pdrop=0.0,
    attn_pdrop=0.0,
    summary_first_dropout=0.0,
    layer_norm_epsilon=1e-5,
    initializer_range=0.02,
    bos_token_id=30,
    eos_token_id=30,
    tie_word_embeddings=True,
)

# name -> (overrides, gradients?)
VARIANTS = {
    "untied": ({"tie_word_embeddings": False}, True),
    "n-inner": ({"n_inner": 12}, False),
    "inverse-layer-idx": ({"scale_attn_by_inverse_layer_idx": True}, False),
    "no-attn-scale": ({"scale_attn_weights": False}, False),
    "reorder-and-upcast": ({"reorder_and_upcast_attn": True}, False),
    "gelu-exact": ({"activation_function": "gelu"}, False),
    "relu": ({"activation_function": "relu"}, False),
    "layer-norm-eps": ({"layer_norm_epsilon": 0.1}, False),
    "combo": (
        {
            "tie_word_embeddings": False,
            "n_inner": 20,
            "scale_attn_by_inverse_layer_idx": True,
            "scale_attn_weights": False,
            "reorder_and_upcast_attn": True,
            "activation_function": "silu",
            "layer_norm_epsilon": 1e-3,
        },
        True,
    ),
}

DEFAULTS = {
    "tie_word_embeddings": True,
    "n_inner": None,
    "scale_attn_by_inverse_layer_idx": False,
    "scale_attn_weights": True,
    "reorder_and_upcast_attn": False,
    "activation_function": "gelu_new",
    "layer_norm_epsilon": 1e-5,
}

# Every ACT2FN entry without parameters of its own (prelu and xielu have learned weights).
ACTIVATIONS = [
    "gelu_new", "gelu_pytorch_tanh", "gelu_python_tanh", "gelu_fast", "gelu_accurate", "gelu",
    "gelu_python", "gelu_10", "quick_gelu", "relu", "relu6", "relu2", "leaky_relu", "silu", "swish",
    "mish", "hardswish", "sigmoid", "tanh", "linear", "laplace", "sqrtsoftplus",
]


def rounded(xs) -> list:
    return [float(f"{x:.{DIGITS}g}") for x in xs]


def nested_rounded(t: torch.Tensor):
    if t.dim() == 1:
        return rounded(t.tolist())
    return [nested_rounded(s) for s in t]


def config_of(overrides: dict) -> GPT2Config:
    cfg = GPT2Config(**{**BASE, **overrides})
    # eager attention: the reference formula, and the only path where reorder_and_upcast_attn applies.
    cfg._attn_implementation = "eager"
    return cfg


def randomise(model: GPT2LMHeadModel, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                if name.endswith("weight"):
                    p.copy_(1.0 + BIAS_STD * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(BIAS_STD * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(BIAS_STD * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(WEIGHT_STD * torch.randn(p.shape, generator=gen))


def save(model: GPT2LMHeadModel, out_dir: str) -> None:
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    kwargs = {}
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        kwargs["safe_serialization"] = True
    model.save_pretrained(out_dir, **kwargs)
    gen_cfg = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    for f in os.listdir(out_dir):
        os.chmod(os.path.join(out_dir, f), 0o644)


def load(out_dir: str) -> GPT2LMHeadModel:
    model = GPT2LMHeadModel.from_pretrained(out_dir, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    return model


def padded_batch(vocab_size: int):
    """3 rows of 10 tokens; row 1 left-padded by 3 (what generation feeds the model)."""
    gen = torch.Generator().manual_seed(SEED + 1)
    B, T = 3, 10
    ids = torch.randint(1, vocab_size, (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, :3] = 0
    ids[mask == 0] = PAD_ID
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, pos


def logits_of(model, ids, mask, pos) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, position_ids=pos).logits.float()


def max_real_diff(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    return ((a - b).abs().max(-1).values * mask).max().item()


def if_ignored(name: str, overrides: dict, model: GPT2LMHeadModel, batch, logits: torch.Tensor):
    """Logits of the same weights with the overridden fields back at their defaults."""
    if "n_inner" in overrides:
        return None  # the weights' shapes imply n_inner: it cannot be ignored, only refused
    reset = config_of({k: DEFAULTS[k] for k in overrides})
    other = GPT2LMHeadModel(reset)
    state = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    missing, unexpected = other.load_state_dict(state, strict=False)
    if [m for m in missing if m != "lm_head.weight"] or unexpected:
        sys.exit(f"{name}: reset model does not take the weights: {missing} {unexpected}")
    other.tie_weights()
    other.eval()
    if other.lm_head.weight.data_ptr() != other.transformer.wte.weight.data_ptr():
        sys.exit(f"{name}: the reset model's head is not tied")
    return float(f"{max_real_diff(logits_of(other, *batch), logits, batch[1]):.4g}")


def grad_batch(vocab_size: int):
    """Right-padded rows of 10, 7 and 9 real tokens; loss on every real token from position 1."""
    gen = torch.Generator().manual_seed(SEED + 2)
    B, T, lens = 3, 10, [10, 7, 9]
    ids = torch.randint(1, vocab_size, (B, T), generator=gen)
    mask = torch.zeros(B, T, dtype=torch.long)
    loss_mask = torch.zeros(B, T)
    for b, n in enumerate(lens):
        mask[b, :n] = 1
        loss_mask[b, 1:n] = 1
    ids[mask == 0] = PAD_ID
    return ids, mask, loss_mask


def grads_of(model, ids, mask, loss_mask) -> dict:
    """lmLoss's value and gradients (see make_gpt2_grad_fixture.py for the formula)."""
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
    lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    w = loss_mask[:, 1:]
    loss = -(lp * w).sum() / w.sum().clamp(min=1)
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            sys.exit(f"no gradient for {name}")
        grads[name] = {"shape": list(p.grad.shape), "data": rounded(p.grad.flatten().tolist())}
    B, T = ids.shape
    return {
        "batch": {
            "B": B,
            "T": T,
            "ids": ids.flatten().tolist(),
            "mask": mask.flatten().tolist(),
            "lossMask": [int(x) for x in loss_mask.flatten().tolist()],
        },
        "loss": rounded([loss.item()])[0],
        "grads": grads,
    }


def activations() -> dict:
    x = torch.linspace(-12.1, 12.3, 61, dtype=torch.float32)
    for kink in (0.0, 3.0, -3.0, 6.0, 10.0, -10.0):
        if (x == kink).any():
            sys.exit(f"the grid hits the kink {kink}")
    values, grads = {}, {}
    for name in ACTIVATIONS:
        xi = x.clone().requires_grad_(True)
        y = ACT2FN[name](xi)
        if any(True for _ in ACT2FN[name].parameters()):
            sys.exit(f"{name} has parameters")
        (g,) = torch.autograd.grad(y.sum(), xi)
        values[name] = rounded(y.detach().tolist())
        grads[name] = rounded(g.tolist())
    return {"x": x.tolist(), "values": values, "grads": grads}


def main() -> None:
    torch.use_deterministic_algorithms(True)
    os.makedirs(VARIANTS_DIR, exist_ok=True)
    out = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "seed": SEED,
        "variants": {},
        "activations": activations(),
    }
    for i, (name, (overrides, with_grads)) in enumerate(VARIANTS.items()):
        torch.manual_seed(SEED + 10 * i)
        model = GPT2LMHeadModel(config_of(overrides))
        randomise(model, SEED + 10 * i)
        directory = os.path.join(VARIANTS_DIR, name)
        save(model, directory)
        model = load(directory)  # the numbers come from what was saved
        for k, v in overrides.items():
            if getattr(model.config, k) != v:
                sys.exit(f"{name}: reloaded config has {k} = {getattr(model.config, k)}, expected {v}")
        untied = model.lm_head.weight.data_ptr() != model.transformer.wte.weight.data_ptr()
        if untied != (overrides.get("tie_word_embeddings") is False):
            sys.exit(f"{name}: lm_head tied = {not untied}, expected the opposite")
        batch = padded_batch(model.config.vocab_size)
        logits = logits_of(model, *batch)
        entry = {
            "dir": os.path.relpath(directory, FIXTURES),
            "overrides": overrides,
            "delta_if_ignored": if_ignored(name, overrides, model, batch, logits),
            "batch": {
                "pad_id": PAD_ID,
                "input_ids": batch[0].tolist(),
                "attention_mask": batch[1].tolist(),
                "position_ids": batch[2].tolist(),
                "logits": nested_rounded(logits),
            },
        }
        if with_grads:
            entry["grads"] = grads_of(model, *grad_batch(model.config.vocab_size))
        out["variants"][name] = entry
        print(f"{name}: max |logit| {logits.abs().max().item():.3g}, delta if ignored {entry['delta_if_ignored']}")
    with open(OUT_JSON, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT_JSON} and {len(VARIANTS)} directories under {VARIANTS_DIR}")


if __name__ == "__main__":
    main()
