#!/usr/bin/env python3
"""Load a model directory (e.g. one written by `rlhf`) with Hugging Face `transformers` and
print its logits for a list of token ids as JSON, to show that Python reads our checkpoints.

Usage:
    .venv/bin/python scripts/check_hf_load.py DIR --ids 5,17,3,42
    .venv/bin/python scripts/check_hf_load.py DIR --ids '[5, 17, 3, 42]' --last-only

Prints to stdout one JSON object:
    {"dir": DIR, "transformers_version": "...", "ids": [...], "vocab_size": V,
     "logits": [[...V floats...] per position]}      (or [V floats] with --last-only)
     plus "ignored_tensors": names in the checkpoint that GPT2LMHeadModel does not use
     (e.g. our value/reward heads, which are extra tensors with their own names).
Exits non-zero with a message on stderr if the directory does not load, or if transformers
reports missing or mismatched tensors (a silently re-initialised weight would make the
comparison meaningless).
"""

import argparse
import json
import sys

import torch
import transformers
from transformers import GPT2LMHeadModel


def parse_ids(text: str) -> list:
    text = text.strip()
    if text.startswith("["):
        ids = json.loads(text)
    else:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    if not ids or not all(isinstance(i, int) and i >= 0 for i in ids):
        raise ValueError(f"--ids must be a non-empty list of non-negative integers, got {text!r}")
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="model directory: config.json + model.safetensors (or sharded)")
    ap.add_argument("--ids", required=True, help="token ids, '1,2,3' or a JSON list")
    ap.add_argument("--last-only", action="store_true", help="print only the last position's logits")
    args = ap.parse_args()

    ids = parse_ids(args.ids)
    try:
        model, info = GPT2LMHeadModel.from_pretrained(
            args.dir, output_loading_info=True, attn_implementation="eager"
        )
    except Exception as e:  # noqa: BLE001 - report any load failure plainly
        sys.exit(f"{args.dir}: could not load with transformers {transformers.__version__}: {e}")
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "mismatched_keys")}
    if problems:
        sys.exit(f"{args.dir}: transformers reports {json.dumps({k: list(map(str, v)) for k, v in problems.items()})}")
    model.eval()
    if max(ids) >= model.config.vocab_size:
        sys.exit(f"--ids: id {max(ids)} >= vocab_size {model.config.vocab_size}")

    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    out = logits[-1].tolist() if args.last_only else logits.tolist()
    print(json.dumps({
        "dir": args.dir,
        "transformers_version": transformers.__version__,
        "ids": ids,
        "vocab_size": model.config.vocab_size,
        "ignored_tensors": sorted(map(str, info.get("unexpected_keys") or [])),
        "logits": out,
    }))


if __name__ == "__main__":
    main()
