#!/usr/bin/env python3
"""PyTorch / Hugging Face transformers reference for `npm run bench:compare` (bench/compare.ts).

Measures, on the same shapes as rlhf's bench/micro.ts, with torch.set_num_threads(2):

  train-tiny    training step (forward + backward + clip 1.0 + AdamW) tokens/s, models/tiny-sft's
                config with random weights, B16 x T64
  train-124m    the same on a GPT-2-124M-shaped random model, B2 x T64
  sample-tiny   HF `generate` (KV cache, multinomial sampling, T = 1, top_k off) tokens/s, the tiny
                config, B16, prompt [1, 2, 3], exactly 64 new tokens (min_new_tokens = 64)
  decode-124m   one KV-cached decode step (forward of one token per row + LM head) at 124M width,
                B4, with the cache at position 20 and at position 200: steps at the two positions
                alternate (as rlhf's bench/run.ts decodeTimes), median milliseconds per step

Every row: untimed warm-up, then `--reps` timed repetitions; the median is reported. Prints one
JSON object on stdout (progress on stderr). Optional extra: not needed to build, run or test rlhf.

    /work/venv-bench/bin/python scripts/bench_torch.py --rows train-tiny,sample-tiny --reps 5

Python packages: scripts/bench-requirements.txt (torch 2.13.0 CPU first, then the rest).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = ("train-tiny", "train-124m", "sample-tiny", "decode-124m")


def log(msg):
    print(f"bench_torch: {msg}", file=sys.stderr, flush=True)


def tiny_config():
    """models/tiny-sft's config.json (4 layers, 128 wide, 512 tokens, 128 positions)."""
    with open(os.path.join(ROOT, "models", "tiny-sft", "config.json")) as f:
        return GPT2Config(**json.load(f))


def gpt2_124m_config():
    return GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                      activation_function="gelu_new", layer_norm_epsilon=1e-5,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      bos_token_id=50256, eos_token_id=50256)


def make_model(cfg, seed):
    torch.manual_seed(seed)
    # rlhf has no dropout anywhere (its configs set every pdrop to 0): the same here.
    cfg.resid_pdrop = cfg.embd_pdrop = cfg.attn_pdrop = 0.0
    return GPT2LMHeadModel(cfg).float()


def train_step(cfg, B, T, warmup, reps):
    """Seconds per step: loss = LM cross-entropy (labels = inputs; HF shifts them), backward,
    global-norm clip to 1.0 (rlhf's Adam clips by default), AdamW(lr 1e-4)."""
    model = make_model(cfg, 1)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, cfg.vocab_size, (B, T), generator=g)
    times, adam = [], []
    for i in range(warmup + reps):
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        t1 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        if i >= warmup:
            times.append(t2 - t0)
            adam.append(t2 - t1)
    s = statistics.median(times)
    return {"B": B, "T": T, "seconds_per_step": s, "adam_seconds_per_step": statistics.median(adam),
            "tokens_per_second": B * T / s, "samples": times}


@torch.no_grad()
def sample(cfg, B, new_tokens, warmup, reps):
    """HF generate: tokens/s over B rows x new_tokens (every row gets exactly new_tokens)."""
    model = make_model(cfg, 3)
    model.eval()
    ids = torch.tensor([[1, 2, 3]] * B)
    mask = torch.ones_like(ids)
    times = []
    for i in range(warmup + reps):
        torch.manual_seed(i)
        t0 = time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                             top_p=1.0, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             pad_token_id=cfg.eos_token_id, use_cache=True)
        dt = time.perf_counter() - t0
        assert out.shape == (B, 3 + new_tokens), out.shape
        if i >= warmup:
            times.append(dt)
    s = statistics.median(times)
    return {"B": B, "new_tokens": new_tokens, "seconds": s, "tokens_per_second": B * new_tokens / s, "samples": times}


@torch.no_grad()
def decode(cfg, B, positions, warmup, reps):
    """Median ms per one-token step with the cache at each position; the positions alternate."""
    model = make_model(cfg, 5)
    model.eval()
    caches = []
    for p in positions:
        prompt = torch.tensor([[(i * 7) % cfg.vocab_size for i in range(p)]] * B)
        caches.append(model(input_ids=prompt, use_cache=True).past_key_values)
    step_ids = torch.ones((B, 1), dtype=torch.long)
    times = [[] for _ in positions]
    for i in range(warmup + reps):
        for k in range(len(positions)):
            t0 = time.perf_counter()
            out = model(input_ids=step_ids, past_key_values=caches[k], use_cache=True)
            out.logits.sum().item()  # the logits exist (they do already: eager CPU)
            dt = time.perf_counter() - t0
            caches[k] = out.past_key_values
            if i >= warmup:
                times[k].append(dt * 1000)
    return {"B": B, **{f"pos{p}_ms": statistics.median(ts) for p, ts in zip(positions, times)},
            "samples": {str(p): ts for p, ts in zip(positions, times)}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions per row (124M training: half, at least 2)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    rows = [r for r in a.rows.split(",") if r]
    for r in rows:
        if r not in ROWS:
            ap.error(f"--rows: unknown row {r!r} (known: {', '.join(ROWS)})")
    torch.set_num_threads(a.threads)
    out = {"torch": torch.__version__, "transformers": transformers.__version__, "threads": torch.get_num_threads(),
           "attn_implementation": make_model(tiny_config(), 0).config._attn_implementation, "rows": {}}
    for r in rows:
        t0 = time.perf_counter()
        if r == "train-tiny":
            out["rows"][r] = train_step(tiny_config(), 16, 64, warmup=2, reps=a.reps)
        elif r == "train-124m":
            out["rows"][r] = train_step(gpt2_124m_config(), 2, 64, warmup=1, reps=max(2, a.reps // 2))
        elif r == "sample-tiny":
            out["rows"][r] = sample(tiny_config(), 16, 64, warmup=1, reps=a.reps)
        elif r == "decode-124m":
            out["rows"][r] = decode(gpt2_124m_config(), 4, [20, 200], warmup=3, reps=2 * a.reps)
        log(f"{r}: {time.perf_counter() - t0:.1f} s")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
