#!/usr/bin/env python3
"""Reference fixture for the GPT-2 forward pass and the Hugging Face checkpoint format.

Builds a tiny random `GPT2LMHeadModel` with Hugging Face `transformers`, saves it the way
Hugging Face does (config.json + model.safetensors, and again as a sharded checkpoint), and
writes the logits that `transformers` computes for a small padded batch. The TypeScript model
must load these directories and reproduce the logits.

Run (from the repo root, with the venv of scripts/requirements.txt):

    .venv/bin/python scripts/make_gpt2_parity_fixture.py

Outputs (all under test/fixtures/):

  gpt2-tiny-random/            config.json + model.safetensors (single file)
  gpt2-tiny-random-sharded/    config.json + model.safetensors.index.json + 2 or more shards
  gpt2-parity.json             inputs and float32 logits, fields:
    transformers_version, torch_version   versions that produced the numbers
    seed                                  torch seed used for the weights
    config                                the model config (same as config.json, for reading)
    batch.input_ids        [B][T] int     token ids; row 1 is LEFT-padded with pad_id
    batch.attention_mask   [B][T] 0/1     1 = real token, 0 = padding
    batch.position_ids     [B][T] int     cumsum(attention_mask) - 1, clipped at 0
                                          (what HF generation uses; passed to the model explicitly)
    batch.logits           [B][T][V] f32  logits; only positions with attention_mask = 1 are
                                          meaningful (padded query positions are implementation-
                                          defined, compare only real positions)
    batch.pad_id           int            id used for padding
    single.input_ids       [T] int        one un-padded sequence (no mask, positions 0..T-1)
    single.logits          [T][V] f32     its logits
  Weights: every weight ~ N(0, 0.2), every bias ~ N(0, 0.1), LayerNorm gain ~ 1 + N(0, 0.1)
  and LayerNorm bias ~ N(0, 0.1), so that a wrong layout, a missing bias, a transposed
  matrix or a wrong epsilon shows up in the logits. lm_head is tied to wte (GPT-2's default).
"""

import inspect
import json
import os
import shutil
import sys

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures")
SINGLE_DIR = os.path.join(FIXTURES, "gpt2-tiny-random")
SHARDED_DIR = os.path.join(FIXTURES, "gpt2-tiny-random-sharded")
PARITY_JSON = os.path.join(FIXTURES, "gpt2-parity.json")

SEED = 1234
WEIGHT_STD = 0.2
BIAS_STD = 0.1
PAD_ID = 0


def build_model() -> GPT2LMHeadModel:
    config = GPT2Config(
        vocab_size=97,
        n_positions=32,
        n_embd=32,
        n_layer=2,
        n_head=4,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        summary_first_dropout=0.0,
        layer_norm_epsilon=1e-5,
        initializer_range=WEIGHT_STD,
        bos_token_id=96,
        eos_token_id=96,
        tie_word_embeddings=True,
    )
    torch.manual_seed(SEED)
    # eager attention: the reference formula (softmax of masked scores), no fused kernel.
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config)
    gen = torch.Generator().manual_seed(SEED)
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
    model.eval()
    return model


def save(model: GPT2LMHeadModel, out_dir: str, **kwargs) -> None:
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    # transformers < 5 needs safe_serialization=True for safetensors; 5.x always writes
    # safetensors and no longer has the argument.
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        kwargs["safe_serialization"] = True
    model.save_pretrained(out_dir, **kwargs)
    # generation_config.json is not part of the format we test; keep the fixture minimal.
    gen_cfg = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    # safetensors writes 0600 files; make them readable like any other fixture.
    for f in os.listdir(out_dir):
        os.chmod(os.path.join(out_dir, f), 0o644)


def logits_of(model, input_ids, attention_mask=None, position_ids=None) -> torch.Tensor:
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)
    return out.logits.float()


def main() -> None:
    model = build_model()
    save(model, SINGLE_DIR)
    save(model, SHARDED_DIR, max_shard_size="60KB")
    shards = [f for f in os.listdir(SHARDED_DIR) if f.endswith(".safetensors")]
    if len(shards) < 2 or not os.path.exists(os.path.join(SHARDED_DIR, "model.safetensors.index.json")):
        sys.exit(f"expected a sharded checkpoint, got {sorted(os.listdir(SHARDED_DIR))}")

    # A batch of 3 sequences of length 12; row 1 is left-padded by 4 (8 real tokens).
    gen = torch.Generator().manual_seed(SEED + 1)
    B, T, V = 3, 12, model.config.vocab_size
    input_ids = torch.randint(1, V, (B, T), generator=gen)
    attention_mask = torch.ones(B, T, dtype=torch.long)
    attention_mask[1, :4] = 0
    input_ids[attention_mask == 0] = PAD_ID
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    batch_logits = logits_of(model, input_ids, attention_mask, position_ids)

    single_ids = torch.randint(1, V, (1, 10), generator=gen)
    single_logits = logits_of(model, single_ids)[0]

    # Sanity: the left-padded row's real positions equal the same tokens run alone.
    alone = logits_of(model, input_ids[1:2, 4:])[0]
    err = (alone - batch_logits[1, 4:]).abs().max().item()
    if err > 1e-4:
        sys.exit(f"padded row does not match the un-padded run (max abs diff {err})")

    fixture = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "seed": SEED,
        "config": json.load(open(os.path.join(SINGLE_DIR, "config.json"))),
        "batch": {
            "pad_id": PAD_ID,
            "input_ids": input_ids.tolist(),
            "attention_mask": attention_mask.tolist(),
            "position_ids": position_ids.tolist(),
            "logits": batch_logits.tolist(),
        },
        "single": {
            "input_ids": single_ids[0].tolist(),
            "logits": single_logits.tolist(),
        },
    }
    with open(PARITY_JSON, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {SINGLE_DIR}, {SHARDED_DIR} ({len(shards)} shards), {PARITY_JSON}")


if __name__ == "__main__":
    main()
