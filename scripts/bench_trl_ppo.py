#!/usr/bin/env python3
"""TRL reference for `npm run bench:compare` (bench/compare.ts): PPO iterations of TRL 1.12.0's
PPOTrainer (trl.experimental.ppo, the last TRL release that ships PPO), timed per phase.

The setting matches `node dist/bench/ppo-gpt2.js --policy models/tiny-sft --batch 64
--mini-batch 16 --ppo-epochs 4 --response-length 16`:

  policy        models/tiny-sft (GPT2LMHeadModel), reference = a frozen copy of it
  reward model  --reward-model DIR, the directory rlhf's bench wrote (saveRewardModel: tiny-sft's
                trunk with a random head, GPT2ForSequenceClassification with pad token <|pad|>);
                its tokenizer (tiny-sft's plus <|pad|> = 512, so pad != EOS as TRL requires) is
                the processing class, padding on the left for generation
  prompts       data/tasks/prompts-train.jsonl
  per iteration 64 rollouts (one generate call of 64 rows), at most 16 new tokens at T = 1, stop at
                EOS; then 4 PPO epochs x 4 minibatches of 16, one AdamW step per minibatch
                (per_device_train_batch_size 64, num_mini_batches 4, gradient_accumulation 1)
  precision     float32, no gradient checkpointing (TRL's defaults are bf16 and checkpointing on;
                rlhf does neither), torch.set_num_threads(2)

--value-model separate  TRL's own setting: a GPT2ForSequenceClassification critic initialised from
                        tiny-sft (its own trunk; 2 trunk passes per minibatch)
--value-model shared    TRL has no shared value head. This script gives it one: the critic is a
                        `score` head on the policy's own trunk module, and PolicyAndValueWrapper's
                        forward is replaced by one policy pass whose last hidden state feeds the
                        head (one trunk pass per minibatch, as rlhf's shared value model). The
                        rollout's value pass (get_reward on the critic) still runs the trunk once
                        more, as rlhf's scoring does (policy, reference, reward model: 3 forwards).

Phases, per iteration, from hooks around TRL's own code (no TRL line changed):
  generation    the batch_generation call (HF generate, KV cache)
  scoring       from its end to the first training forward: reference, value and reward forwards,
                rewards, GAE (TRL takes the old log-probs from generate's scores)
  optimization  from there to the end of the update (on_step_end: epochs, minibatches, metrics)
  wall          from one on_step_end to the next (other = wall - the three: data loading, gc)

Writes JSON to --out (stdout gets TRL's own logs). Optional extra: not needed to build, run or test
rlhf. Python packages: scripts/bench-requirements.txt (torch 2.13.0 CPU first, then the rest).

    /work/venv-bench/bin/python scripts/bench_trl_ppo.py --reward-model /tmp/rm --value-model separate \\
        --iterations 4 --out /tmp/trl.json
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import warnings

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reward-model", required=True, help="reward model directory written by rlhf's bench/ppo-gpt2.ts")
    ap.add_argument("--policy", default=os.path.join(ROOT, "models", "tiny-sft"))
    ap.add_argument("--prompts", default=os.path.join(ROOT, "data", "tasks", "prompts-train.jsonl"))
    ap.add_argument("--value-model", choices=["shared", "separate"], default="separate")
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--mini-batches", type=int, default=4)
    ap.add_argument("--ppo-epochs", type=int, default=4)
    ap.add_argument("--response-length", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.reward_model, "config.json")):
        sys.exit(f"bench_trl_ppo: {a.reward_model}/config.json not found: run rlhf's bench/ppo-gpt2.ts with --reward-model {a.reward_model} first")

    t_import = time.perf_counter()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(a.threads)
    import transformers
    import trl
    from datasets import Dataset
    from transformers import AutoTokenizer, GPT2ForSequenceClassification, GPT2LMHeadModel, TrainerCallback
    from trl.experimental.ppo import PPOConfig, PPOTrainer
    from trl.experimental.ppo import ppo_trainer as ppo_module
    t_import = time.perf_counter() - t_import

    tok = AutoTokenizer.from_pretrained(a.reward_model)
    tok.padding_side = "left"
    assert tok.pad_token_id != tok.eos_token_id, "the reward model's tokenizer must pad with a token other than EOS"
    with open(a.prompts) as f:
        prompts = [json.loads(line)["prompt"] for line in f if line.strip()]
    ds = Dataset.from_dict({"input_ids": [tok.encode(p) for p in prompts]})

    policy = GPT2LMHeadModel.from_pretrained(a.policy, dtype=torch.float32)
    ref = GPT2LMHeadModel.from_pretrained(a.policy, dtype=torch.float32)
    reward = GPT2ForSequenceClassification.from_pretrained(a.reward_model, num_labels=1, dtype=torch.float32)
    if a.value_model == "separate":
        value = GPT2ForSequenceClassification.from_pretrained(a.policy, num_labels=1, dtype=torch.float32)
        value.config.pad_token_id = tok.pad_token_id
    else:
        class SharedValue(nn.Module):
            """A value head on the policy's own trunk (the same module, so the same parameters)."""

            base_model_prefix = "transformer"

            def __init__(self, trunk, width):
                super().__init__()
                self.transformer = trunk
                self.score = nn.Linear(width, 1, bias=False)

        value = SharedValue(policy.transformer, policy.config.n_embd)

        def one_pass(self, **kwargs):
            # TRL's forward() asks for output_hidden_states: the head reads the policy's last one.
            out = self.policy(**kwargs)
            return out, self.value_model.score(out.hidden_states[-1])

        ppo_module.PolicyAndValueWrapper.forward = one_pass

    out_dir = tempfile.mkdtemp(prefix="trl-ppo-bench-")
    cfg = PPOConfig(
        output_dir=out_dir,
        per_device_train_batch_size=a.batch,
        gradient_accumulation_steps=1,
        num_mini_batches=a.mini_batches,
        num_ppo_epochs=a.ppo_epochs,
        local_rollout_forward_batch_size=a.batch,
        total_episodes=a.batch * a.iterations,
        response_length=a.response_length,
        temperature=1.0,
        stop_token="eos",
        kl_coef=0.1,
        learning_rate=1e-4,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        num_sample_generations=0,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
        seed=a.seed,
        disable_tqdm=True,
    )

    # --- timing hooks around TRL's own functions ---
    marks = {"gen": [], "opt_start": [], "step_end": [], "train_begin": None}
    trainer_ref = {}
    real_batch_generation = ppo_module.batch_generation
    real_forward = ppo_module.forward

    def timed_batch_generation(*args, **kwargs):
        t0 = time.perf_counter()
        r = real_batch_generation(*args, **kwargs)
        marks["gen"].append((t0, time.perf_counter()))
        return r

    def marked_forward(model, *args, **kwargs):
        # The first forward of the trainable wrapper after a generation starts the optimisation.
        if model is trainer_ref.get("model") and len(marks["opt_start"]) < len(marks["gen"]):
            marks["opt_start"].append(time.perf_counter())
        return real_forward(model, *args, **kwargs)

    ppo_module.batch_generation = timed_batch_generation
    ppo_module.forward = marked_forward

    class Marks(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            marks["train_begin"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            marks["step_end"].append(time.perf_counter())

    t_setup = time.perf_counter()
    trainer = PPOTrainer(args=cfg, processing_class=tok, model=policy, ref_model=ref, reward_model=reward,
                         train_dataset=ds, value_model=value, callbacks=[Marks()])
    trainer_ref["model"] = trainer.model
    t_setup = time.perf_counter() - t_setup
    with contextlib.redirect_stdout(sys.stderr):
        trainer.train()

    per = []
    prev = marks["train_begin"]
    for i, end in enumerate(marks["step_end"]):
        g0, g1 = marks["gen"][i]
        o0 = marks["opt_start"][i]
        row = {"iteration": i + 1, "wall": end - prev, "generation": g1 - g0, "scoring": o0 - g1, "optimization": end - o0}
        row["other"] = row["wall"] - row["generation"] - row["scoring"] - row["optimization"]
        per.append(row)
        prev = end
    if len(per) != a.iterations:
        sys.exit(f"bench_trl_ppo: {len(per)} iterations timed, expected {a.iterations}")
    later = per[1:] if len(per) > 1 else per
    med = lambda k: statistics.median(r[k] for r in later)  # noqa: E731
    result = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "threads": torch.get_num_threads(),
        "settings": {k: getattr(a, k) for k in ("value_model", "iterations", "batch", "mini_batches", "ppo_epochs", "response_length")},
        "import_seconds": t_import,
        "setup_seconds": t_setup,
        "phase_seconds_after_first": {k: med(k) for k in ("wall", "generation", "scoring", "optimization")},
        "per_iteration": per,
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"bench_trl_ppo: {a.value_model}: " + ", ".join(f"{k} {v:.2f} s" for k, v in result["phase_seconds_after_first"].items()), file=sys.stderr)


if __name__ == "__main__":
    main()
