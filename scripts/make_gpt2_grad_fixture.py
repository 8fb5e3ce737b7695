#!/usr/bin/env python3
"""Reference fixture for the gradients of the language-modelling loss (PyTorch autograd).

Loads the tiny random GPT-2 of test/fixtures/gpt2-tiny-random (written by
scripts/make_gpt2_parity_fixture.py) with Hugging Face `transformers`, computes the loss that
our `lmLoss` (src/model/lm.ts) computes on a small right-padded batch, back-propagates with
PyTorch, and writes the loss and the gradient of every parameter. The TypeScript model's
hand-written gradients (matmul, embedding, LayerNorm, GELU, log-softmax, attention) must
reproduce them (test/gpt2-grad-parity.test.ts).

Run (from the repo root, with the venv of scripts/requirements.txt; run
make_gpt2_parity_fixture.py first if test/fixtures/gpt2-tiny-random does not exist):

    .venv/bin/python scripts/make_gpt2_grad_fixture.py

The model is loaded from test/fixtures/gpt2-tiny-random in float32, eval mode, eager attention,
all dropout probabilities 0. As a check, its weights must equal those that
make_gpt2_parity_fixture.build_model() builds (seeded); the script exits otherwise.

The loss (exactly lmLoss's): for a batch ids [B, T], mask [B, T] (1 = real token, right padding)
and lossMask [B, T] (1 where the token at t is a target),

    logits = GPT2LMHeadModel(ids, attention_mask = mask, position_ids = clip(cumsum(mask) − 1, 0))
    loss   = − Σ_{b, t ≥ 1} lossMask[b, t] · log_softmax(logits[b, t − 1])[ids[b, t]]
             / max(1, Σ_{b, t ≥ 1} lossMask[b, t])

(position t − 1 predicts token t; lossMask[:, 0] is never used).

Output: test/fixtures/gpt2-grads.json, fields:
  transformers_version, torch_version   versions that produced the numbers
  model            fixture directory the weights come from, relative to test/fixtures/
  batch.B, batch.T int             batch size 3, sequence length 12
  batch.pad_id     int             id of the padding tokens (0, as in gpt2-parity.json)
  batch.ids        [B*T] int       token ids, row-major (b * T + t), RIGHT-padded: row 0 has
                                   12 real tokens, row 1 has 8, row 2 has 10; padding = pad_id
  batch.mask       [B*T] 0/1       1 = real token (what makeLMBatch puts in LMBatch.mask)
  batch.lossMask   [B*T] 0/1       1 where the token at t is a prediction target (LMBatch.lossMask):
                                   row 0 positions 4..11 (a 4-token context, as makeLMBatch gives
                                   for context length 4), rows 1 and 2 every real position from 1
                                   (context length 0 or 1)
  batch.position_ids [B*T] int     clip(cumsum(mask) − 1, 0), what was passed to transformers
                                   (= what our forward derives from the mask; for right padding
                                   0..len−1 on real tokens, len−1 on padding)
  loss             float           the loss above (float32 computation)
  num_targets      int             Σ lossMask[:, 1:] (the loss's denominator)
  grads            {name: {shape: [int], data: [float]}}
                                   d loss / d parameter for every parameter of the model under
                                   Hugging Face names (transformer.wte.weight,
                                   transformer.h.0.attn.c_attn.weight, ...), data row-major in the
                                   stored layout (Conv1D weights [in, out]). lm_head is tied to wte:
                                   transformer.wte.weight's gradient is the sum of the embedding's
                                   and the LM head's (torch accumulates both on the shared tensor).
  All floats rounded to 7 significant digits.
  grads_f64_max_rel_diff float     max over parameters of max|g_f32 − g_f64| / max(1, max|g_f64|),
                                   the same gradients recomputed in float64: the float32 noise
                                   of the reference itself (for judging test tolerances)
"""

import json
import os
import sys

import torch
import transformers
from transformers import GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt2_parity_fixture import FIXTURES, PAD_ID, SEED, SINGLE_DIR, build_model  # noqa: E402

GRADS_JSON = os.path.join(FIXTURES, "gpt2-grads.json")
B, T = 3, 12
REAL_LEN = [12, 8, 10]  # real tokens per row (right padding after them)
CONTEXT_LEN = [4, 0, 0]  # loss on positions max(1, context) .. len − 1, as makeLMBatch does
DIGITS = 7


def load_model() -> GPT2LMHeadModel:
    model = GPT2LMHeadModel.from_pretrained(SINGLE_DIR, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    cfg = model.config
    assert cfg.resid_pdrop == cfg.embd_pdrop == cfg.attn_pdrop == 0.0, "dropout must be off"
    # The directory must hold exactly the seeded weights of the parity fixture's build_model().
    ref = dict(build_model().named_parameters())
    got = dict(model.named_parameters())
    if sorted(ref) != sorted(got):
        sys.exit(f"parameter names differ from build_model(): {sorted(set(ref) ^ set(got))}")
    for name, p in got.items():
        if not torch.equal(p, ref[name]):
            sys.exit(f"{SINGLE_DIR}: {name} differs from build_model(); rerun make_gpt2_parity_fixture.py")
    if model.lm_head.weight.data_ptr() != model.transformer.wte.weight.data_ptr():
        sys.exit("lm_head is not tied to wte")
    return model


def make_batch(vocab_size: int):
    gen = torch.Generator().manual_seed(SEED + 2)
    ids = torch.randint(1, vocab_size, (B, T), generator=gen)
    mask = torch.zeros(B, T, dtype=torch.long)
    loss_mask = torch.zeros(B, T)
    for b, (n, c) in enumerate(zip(REAL_LEN, CONTEXT_LEN)):
        mask[b, :n] = 1
        loss_mask[b, max(1, c):n] = 1
    ids[mask == 0] = PAD_ID
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, loss_mask, position_ids


def lm_loss(model, ids, mask, loss_mask, position_ids) -> torch.Tensor:
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids).logits
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    lp = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    w = loss_mask[:, 1:].to(lp.dtype)
    return -(lp * w).sum() / w.sum().clamp(min=1)


def grads_of(model, batch) -> tuple[float, dict]:
    model.zero_grad(set_to_none=True)
    loss = lm_loss(model, *batch)
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            sys.exit(f"no gradient for {name}")
        grads[name] = p.grad.detach().clone()
    return loss.item(), grads


def rounded(xs) -> list:
    return [float(f"{x:.{DIGITS}g}") for x in xs]


def main() -> None:
    torch.use_deterministic_algorithms(True)
    model = load_model()
    batch = make_batch(model.config.vocab_size)
    ids, mask, loss_mask, position_ids = batch
    loss, grads = grads_of(model, batch)

    # The same in float64: how noisy the float32 reference itself is.
    model64 = load_model().double()
    loss64, grads64 = grads_of(model64, batch)
    noise = max(
        ((grads[k].double() - g).abs().max() / max(1.0, g.abs().max().item())).item() for k, g in grads64.items()
    )

    fixture = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "model": os.path.relpath(SINGLE_DIR, FIXTURES),
        "batch": {
            "B": B,
            "T": T,
            "pad_id": PAD_ID,
            "ids": ids.flatten().tolist(),
            "mask": mask.flatten().tolist(),
            "lossMask": [int(x) for x in loss_mask.flatten().tolist()],
            "position_ids": position_ids.flatten().tolist(),
        },
        "loss": rounded([loss])[0],
        "num_targets": int(loss_mask[:, 1:].sum().item()),
        "grads": {
            name: {"shape": list(g.shape), "data": rounded(g.flatten().tolist())} for name, g in grads.items()
        },
        "grads_f64_max_rel_diff": float(f"{noise:.3g}"),
    }
    with open(GRADS_JSON, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    gmax = max(g.abs().max().item() for g in grads.values())
    print(
        f"wrote {GRADS_JSON}: loss {loss:.7g} (float64 {loss64:.7g}), {len(grads)} gradients, "
        f"max |g| {gmax:.3g}, float32 vs float64 max rel diff {noise:.3g}"
    )


if __name__ == "__main__":
    main()
