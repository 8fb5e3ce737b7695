#!/usr/bin/env python3
"""Reference fixture: an rlhf-saved reward model scored by transformers' GPT2ForSequenceClassification.

1. Has rlhf write a tiny random reward model with its own save path (saveRewardModel), by running
   `node --import tsx scripts/make-reward-fixture-model.ts test/fixtures/reward-tiny` (the model is
   built by test/reward-fixture.ts).
2. Loads that directory with AutoTokenizer and GPT2ForSequenceClassification, as a Python user
   would, and records the logits transformers returns for a few prompt + response + EOS texts,
   batched with right padding by the tokenizer and one at a time. test/reward-hf.test.ts checks that
   rlhf's reward is sigmoid(logit) (the squash of this model) for each, and that a re-save today
   writes the same directory.

Run (from the repo root, with the venv of scripts/requirements.txt and node):

    /work/venv/bin/python scripts/make_reward_hf_fixture.py

Output: test/fixtures/reward-tiny/ (rlhf's reward model directory) and test/fixtures/reward-hf.json:
    transformers_version, torch_version
    model                 the directory, relative to test/fixtures/
    pad_token_id, eos_token_id, pad_token   as transformers reads them (pad must differ from EOS)
    rows[i].prompt, rows[i].response          the texts; the model sees prompt + response + EOS
    rows[i].input_ids     what the tokenizer gives for prompt + response + "<|endoftext|>"
    batch.input_ids [B][T], batch.attention_mask [B][T]   tokenizer(texts, padding=True): right
                          padding with the pad token
    batch.logits [B]      GPT2ForSequenceClassification(**batch).logits[:, 0] (num_labels = 1)
    single_logits [B]     the same, each row alone (no padding)
    eos_pad_logits [B]    the batch's logits with config.pad_token_id = EOS and the batch padded with
                          EOS, as rlhf used to save reward models: transformers then pools the token
                          before the EOS (the bug this fixes)
"""

import json
import os
import subprocess
import sys

import torch
import transformers
from transformers import AutoTokenizer, GPT2ForSequenceClassification

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures")
MODEL_DIR = os.path.join(FIXTURES, "reward-tiny")
OUT_JSON = os.path.join(FIXTURES, "reward-hf.json")
DIGITS = 7

ROWS = [
    ("What is 12 + 7?\n", "19"),
    ("What is 3 + 4?\n", "The answer is 7."),
    ("Name a colour.\n", "blue"),
    ("Tell me a number.\n", "42"),
    ("Write a sentence about the sea.\n", "The sea is wide and very deep today."),
]


def rounded(xs) -> list:
    return [float(f"{x:.{DIGITS}g}") for x in xs]


def main() -> None:
    subprocess.run(
        ["node", "--import", "tsx", os.path.join("scripts", "make-reward-fixture-model.ts"), MODEL_DIR], cwd=ROOT, check=True
    )
    os.chmod(MODEL_DIR, 0o755)
    for f in os.listdir(MODEL_DIR):
        os.chmod(os.path.join(MODEL_DIR, f), 0o644)

    tok = AutoTokenizer.from_pretrained(MODEL_DIR)
    model, info = GPT2ForSequenceClassification.from_pretrained(
        MODEL_DIR, output_loading_info=True, attn_implementation="eager", dtype=torch.float32
    )
    model.eval()
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "mismatched_keys")}
    if problems:
        sys.exit(f"{MODEL_DIR}: transformers reports {problems}")
    cfg = model.config
    if cfg.pad_token_id is None or cfg.pad_token_id == cfg.eos_token_id:
        sys.exit(f"pad_token_id {cfg.pad_token_id} must be set and differ from EOS {cfg.eos_token_id}")
    if tok.pad_token_id != cfg.pad_token_id or tok.padding_side != "right":
        sys.exit(f"tokenizer pads with {tok.pad_token_id} on the {tok.padding_side}; config says {cfg.pad_token_id}")

    texts = [p + r + tok.eos_token for p, r in ROWS]
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        batch_logits = model(**enc).logits[:, 0]
        lengths = enc["attention_mask"].sum(-1).tolist()
        single = [model(input_ids=enc["input_ids"][i : i + 1, : lengths[i]]).logits[0, 0].item() for i in range(len(texts))]
        # How rlhf used to save it: pad_token_id = EOS, and the tokenizer padding with EOS.
        cfg.pad_token_id = cfg.eos_token_id
        eos_padded = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, cfg.eos_token_id)
        eos_pad = model(input_ids=eos_padded, attention_mask=enc["attention_mask"]).logits[:, 0]
        cfg.pad_token_id = tok.pad_token_id
    if max(abs(a - b) for a, b in zip(batch_logits.tolist(), single)) > 1e-5:
        sys.exit("padded batch and single rows disagree")

    fixture = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "model": os.path.relpath(MODEL_DIR, FIXTURES),
        "pad_token_id": tok.pad_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token": tok.pad_token,
        "rows": [
            {"prompt": p, "response": r, "input_ids": enc["input_ids"][i, : lengths[i]].tolist()}
            for i, (p, r) in enumerate(ROWS)
        ],
        "batch": {
            "input_ids": enc["input_ids"].tolist(),
            "attention_mask": enc["attention_mask"].tolist(),
            "logits": rounded(batch_logits.tolist()),
        },
        "single_logits": rounded(single),
        "eos_pad_logits": rounded(eos_pad.tolist()),
    }
    with open(OUT_JSON, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT_JSON}: logits {fixture['batch']['logits']}, with pad = EOS {fixture['eos_pad_logits']}")


if __name__ == "__main__":
    main()
