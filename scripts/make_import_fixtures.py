#!/usr/bin/env python3
"""Import fixtures: checkpoints as TRL and OpenRLHF write them, with the numbers Python computes on
them, so that rlhf's TypeScript loaders can be tested without Python.

Every fixture starts from a 2-LAYER COPY of the embedded models/tiny-sft (GPT-2, vocab 512, n_embd 128,
n_head 4, n_positions 128, EOS = BOS = <|endoftext|> = 511; blocks h.0 and h.1 of tiny-sft, its
embeddings and ln_f, config n_layer 2; built in a temporary directory, never committed) to keep each
directory near 1.9 MB. Everything is float32 and run on the CPU with fixed seeds.

Versions: scripts/make_import_fixtures.py ran with torch 2.13.0+cpu and transformers 5.24.0 in both
venvs; TRL 1.16.0 (/work/venv-trl) for the RewardTrainer, TRL 1.12.0 (/work/venv-bench, the last TRL
with PPO, trl.experimental.ppo) for the value-head model, the PPO policy and TRL's get_reward. OpenRLHF
0.11.2 is not installed: its reward model is re-implemented from openrlhf/models/model.py
(_get_reward_model) and its save path from openrlhf/utils/deepspeed/deepspeed.py (save_model) and
openrlhf/cli/train_rm.py.

Run (from the repo root; the script runs each stage with the right interpreter):

    /work/venv-trl/bin/python scripts/make_import_fixtures.py \\
        [--trl-python /work/venv-trl/bin/python] [--bench-python /work/venv-bench/bin/python]

(`--stage NAME` runs one stage in the current interpreter: reward, reward-ppo, value-head, ppo-policy,
openrlhf, in that order; reward-ppo adds to what reward wrote.)

Output: test/fixtures/import/<name>/ (the checkpoint, as the library saved it) and
test/fixtures/import/<name>/expected.json. Every expected.json has
    versions                     torch / transformers / trl that produced it
    base                         how the 2-layer base was made
    cases[i].prompt, .response   texts (a prompt of data/tasks/prompts-train.jsonl and an answer of the
                                 kind tiny-sft samples)
    cases[i].prompt_ids, .response_ids   the fixture tokenizer's ids of each text alone (no EOS added;
                                 the tokenizer adds no special tokens); prompt_ids + response_ids equals
                                 the ids of prompt + response encoded together for every case here

a. trl-reward/  TRL 1.16 RewardTrainer (RewardConfig, max_steps 3, batch 4, lr 1e-3, seed 7) on 16
   hand-written {"prompt","chosen","rejected"} pairs, from
   AutoModelForSequenceClassification.from_pretrained(base, num_labels=1), tokenizer.pad_token =
   tokenizer.eos_token (TRL's GPT-2 recipe), then trainer.save_model(dir).
   RewardTrainer appends EOS: for non-conversational data it makes chosen/rejected end with
   tokenizer.eos_token (text), then tokenizes prompt + chosen as one string; it sets
   model.config.pad_token_id = tokenizer.pad_token_id = 511 (= EOS), so config.json has
   pad_token_id 511 = eos_token_id. Because pad = EOS, GPT2ForSequenceClassification pools at the
   rightmost token that is NOT 511, i.e. the LAST RESPONSE TOKEN before the EOS (the EOS itself is
   never read): TRL's reward model is trained (and scored) at the token before the EOS.
   expected.json, per case:
     input_ids               ids of prompt + response + "<|endoftext|>" (= prompt_ids + response_ids + [511])
     pool_index              index in input_ids that both poolings read (= len(input_ids) - 2)
     transformers_logit      GPT2ForSequenceClassification(input_ids).logits[0, 0], one row, no padding
   and batch.input_ids / batch.attention_mask / batch.logits: the 6 texts through tokenizer(...,
   padding=True) (right padding with 511) and the model; logits equal the single ones.
     trl_ppo_reward          TRL 1.12 trl.experimental.utils.get_reward(model, query_response,
                             pad_token_id=511, context_length=len(prompt_ids))[1] with query_response =
                             prompt_ids + response_ids + [511, 511] (one row): its sequence_lengths is
                             the first pad after the context minus 1, i.e. the last response token too
     trl_ppo_sequence_length that index
   and trl_ppo_batch: the same 6 rows right-padded with 511 in one call (same numbers).

b. trl-value-head/  TRL 1.12 trl.experimental.ppo.AutoModelForCausalLMWithValueHead.from_pretrained(base),
   v_head.summary.weight ~ N(0, 0.2) and bias ~ N(0, 0.2) from torch.manual_seed(11), saved with
   model.save_pretrained(dir) (plus tokenizer.save_pretrained(dir); save_pretrained also writes the
   wrapped model's config.json, GPT2LMHeadModel, and generation_config.json). The wrapper's state_dict is the
   wrapped GPT2LMHeadModel's own keys (no "pretrained_model." prefix) plus "v_head.summary.weight"
   [1, 128] and "v_head.summary.bias" [1]; save_pretrained of transformers drops the tied
   lm_head.weight. expected.json, per case, for input = prompt_ids + response_ids (no EOS), in eval()
   mode (the v_head has Dropout(0.1), active in train mode):
     last_logits [512]   lm_logits[0, -1] of forward() = (lm_logits, loss, value)
     value               value[0, -1]: v_head(last hidden state after ln_f) at the last position
     values [T]          value[0, :] at every position

c. trl-ppo-policy/  TRL 1.12 PPOTrainer (trl.experimental.ppo): policy and ref = GPT2LMHeadModel of
   base, value_model and reward_model = AutoModelForSequenceClassification.from_pretrained(base,
   num_labels=1); tokenizer as TRL's examples/scripts/ppo/ppo.py makes it (padding_side "left",
   add_special_tokens({"pad_token": "[PAD]"}) -> id 512, outside the model's 512-row embedding: TRL
   masks pads to 0 before every forward); 8 prompts of data/tasks/prompts-train.jsonl tokenized with
   tokenizer(prompt, padding=False)["input_ids"]; total_episodes 8, per_device_train_batch_size 4,
   num_mini_batches 1, num_ppo_epochs 1, response_length 4, no stop token, lr 1e-3, seed 5 (two PPO
   steps), then trainer.save_model(dir). save_model saves model.policy only: a plain GPT2LMHeadModel
   directory (config.json, generation_config.json without eos_token_id since no stop token was set,
   model.safetensors with the 28 transformer.* tensors and no lm_head.weight, the tokenizer with
   [PAD] = 512, and training_args.bin, a pickle). expected.json, per case:
     last_logits [512]   GPT2LMHeadModel(prompt_ids + response_ids).logits[0, -1]
   and also the same for the untrained base (base_last_logits) so a test can see the weights moved.

d. openrlhf-rm/  a reward model in OpenRLHF's saved layout, built with transformers + torch: OpenRLHF's
   RewardModel class (a GPT2PreTrainedModel with the GPT2Model trunk under base_model_prefix
   "transformer" and nn.Linear(128, 1, bias=False) under value_head_prefix "score"), trunk = base, head
   weight ~ N(0, 0.1) from torch.manual_seed(13) (OpenRLHF inits N(0, 1/(hidden+1)); larger here so
   the numbers are not tiny); config gets value_head_prefix "score", normalize_reward true, mean 0.3,
   std 1.7, use_cache false, and is written as OpenRLHF's strategy.save_model does
   (model.save_pretrained(dir, state_dict=...), config.to_json_file, tokenizer.save_pretrained).
   mean/std are non-persistent buffers: not in the safetensors, only in config.json.
   OpenRLHF's forward reads the reward at the LAST position whose attention_mask is 1
   (eos_indices = T - 1 - argmax(fliplr(mask))), with position_ids = cumsum(mask) - 1 (pads set to 1),
   and, in eval mode with normalize_reward, returns (reward - mean) / std.
   NB OpenRLHF overwrites config.normalize_reward at load time with its CLI flag
   (--reward.normalize_enable); train_rm.py itself saves normalize_reward false. config.json has no
   id2label/num_labels and pad_token_id null: GPT2ForSequenceClassification.from_pretrained(dir,
   num_labels=1) loads the same tensors and, on one unpadded row, returns the same raw value. Under
   transformers 5.24, RewardModel.from_pretrained leaves the mean/std buffers uninitialised (they
   are filled in __init__ on a model built without allocation, and are not in the checkpoint);
   expected.json says so (buffers_restored_by_from_pretrained) and uses config.json's mean/std.
   expected.json, per case, for two inputs:
     rm_text: ids of (prompt + response).rstrip("\\n") + " " + eos_token, add_special_tokens=False, as
       OpenRLHF's RewardDataset builds a training row (a space token "Ġ" = 220 before the EOS); the
       reward is read at the final EOS
     eos_ids: prompt_ids + response_ids + [511] (a PPO rollout that ended with EOS); read at the EOS
   each with raw (the score head's output at that token) and reward ((raw - 0.3) / 1.7), one row at a
   time; batch_left_padded: the rm_text rows left-padded with 511 (mask 0 on pads) in one forward,
   as serve_rm.py does (same numbers).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "models", "tiny-sft")
OUT = os.path.join(ROOT, "test", "fixtures", "import")
DIGITS = 8
N_LAYER = 2
EOS = 511

CASES = [
    ("Tell me a random integer between 0 and 99.\n", "42"),
    ("Pick a random number from 0 to 99.\n", "7"),
    ("Add 10 and 17.\n", "27"),
    ("What is 18 + 14?\n", "32"),
    ("Write a line about the bird.\n", "The bird flies and sleeps."),
    ("Tell me one line about the snow.\n", "At noon, the snow shines."),
]

# 16 preference pairs for the reward model (text only; chosen is the better answer).
PAIRS = [
    ("Tell me a random integer between 0 and 99.\n", "42", "hello"),
    ("Pick a random number from 0 to 99.\n", "17", "The cat."),
    ("Give me a random number between 0 and 99.\n", "63", "one hundred and five"),
    ("Choose a random integer from 0 to 99.\n", "8", "250"),
    ("Add 10 and 17.\n", "27", "31"),
    ("Add 44 and 0.\n", "44", "4"),
    ("What is 18 + 14?\n", "32", "28"),
    ("What is 20 + 11?\n", "31", "13"),
    ("Add 3 and 5.\n", "8", "The sea."),
    ("What is 7 + 9?\n", "16", "79"),
    ("Write a line about the bird.\n", "The bird flies and sleeps.", "42"),
    ("Write a line about the city.\n", "The city hums at night.", "city city city"),
    ("Tell me one line about the snow.\n", "At noon, the snow shines.", "12"),
    ("Write a line about the moon.\n", "The moon is pale and round.", "The"),
    ("Write a line about the river.\n", "The river runs to the sea.", "river 9 the"),
    ("Tell me one line about the rain.\n", "Soft rain falls on the hill.", "77"),
]


# ----------------------------------------------------------------------------------------------------
# helpers


def rounded(xs) -> list:
    return [float(f"{float(x):.{DIGITS}g}") for x in xs]


def r1(x) -> float:
    return float(f"{float(x):.{DIGITS}g}")


def versions() -> dict:
    import torch
    import transformers

    v = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import trl

        v["trl"] = trl.__version__
    except ImportError:
        pass
    return v


BASE_NOTE = (
    f"models/tiny-sft cut to n_layer {N_LAYER}: its wte, wpe, h.0, h.1 and ln_f (lm_head tied to wte); "
    "tokenizer files of tiny-sft unchanged"
)


def make_base(dst: str) -> str:
    """The 2-layer copy of tiny-sft, written to dst (deterministic: a slice of tiny-sft's tensors)."""
    import torch
    from safetensors.torch import load_file
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config.from_pretrained(TINY)
    cfg.n_layer = N_LAYER
    model = GPT2LMHeadModel(cfg).to(torch.float32)
    sd = load_file(os.path.join(TINY, "model.safetensors"))
    keep = {}
    for k, v in sd.items():
        name = k if k.startswith("transformer.") or k.startswith("lm_head.") else "transformer." + k
        if name.startswith("transformer.h."):
            if int(name.split(".")[2]) >= N_LAYER:
                continue
        keep[name] = v
    missing, unexpected = model.load_state_dict(keep, strict=False)
    missing = [m for m in missing if m != "lm_head.weight" and not m.endswith(".attn.bias") and not m.endswith(".attn.masked_bias")]
    if missing or unexpected:
        sys.exit(f"make_base: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.eval()
    model.save_pretrained(dst)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(TINY, f), os.path.join(dst, f))
    return dst


def case_ids(tok) -> list:
    rows = []
    for p, r in CASES:
        pi = tok(p, add_special_tokens=False)["input_ids"]
        ri = tok(r, add_special_tokens=False)["input_ids"]
        joint = tok(p + r, add_special_tokens=False)["input_ids"]
        if pi + ri != joint:
            sys.exit(f"ids of {p!r} + {r!r} differ from the joint encoding: {pi + ri} vs {joint}")
        if EOS in pi + ri:
            sys.exit("a case contains EOS")
        rows.append({"prompt": p, "response": r, "prompt_ids": pi, "response_ids": ri})
    return rows


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def tensor_names(d: str) -> dict:
    from safetensors import safe_open

    out = {}
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        for k in f.keys():
            t = f.get_slice(k)
            out[k] = {"shape": list(t.get_shape()), "dtype": t.get_dtype()}
    return out


def fresh_dir(d: str) -> None:
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)


def drop_training_args(out):
    """training_args.bin is a pickle of the run's arguments (with a temporary path, so it changes on
    every run); no loader reads it, and the fixtures stay byte-stable without it."""
    p = os.path.join(out, "training_args.bin")
    if os.path.exists(p):
        os.remove(p)


def fix_perms(d: str) -> None:
    os.chmod(d, 0o755)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)


def quiet() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


# ----------------------------------------------------------------------------------------------------
# a. TRL 1.16 RewardTrainer


def stage_reward(tmp: str) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, GPT2ForSequenceClassification, set_seed
    from trl import RewardConfig, RewardTrainer

    out = os.path.join(OUT, "trl-reward")
    fresh_dir(out)
    base = make_base(os.path.join(tmp, "base"))

    set_seed(7)
    tok = AutoTokenizer.from_pretrained(base)
    tok.pad_token = tok.eos_token  # TRL's recipe for GPT-2
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tok.pad_token_id
    ds = Dataset.from_list([{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS])
    args = RewardConfig(
        output_dir=os.path.join(tmp, "reward-run"),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        seed=7,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    # What RewardTrainer fed the model (for the docstring's claim about EOS).
    first = trainer.train_dataset[0]
    want = tok(PAIRS[0][0] + PAIRS[0][1] + tok.eos_token)["input_ids"]
    if first["chosen_ids"] != want or first["chosen_ids"][-1] != EOS:
        sys.exit(f"RewardTrainer's chosen_ids {first['chosen_ids']} != prompt+chosen+EOS {want}")
    trainer.train()
    trainer.save_model(out)
    drop_training_args(out)
    fix_perms(out)

    # Load back as a Python user would.
    tok2 = AutoTokenizer.from_pretrained(out)
    rm, info = GPT2ForSequenceClassification.from_pretrained(out, output_loading_info=True, dtype=torch.float32)
    rm.eval()
    if info["missing_keys"] or info["mismatched_keys"]:
        sys.exit(f"trl-reward loads with {info}")
    cfg = rm.config
    assert cfg.pad_token_id == EOS == cfg.eos_token_id, (cfg.pad_token_id, cfg.eos_token_id)
    trainer.model.eval()

    rows = case_ids(tok2)
    texts = [c["prompt"] + c["response"] + tok2.eos_token for c in rows]
    with torch.no_grad():
        for c, text in zip(rows, texts):
            ids = tok2(text)["input_ids"]
            assert ids == c["prompt_ids"] + c["response_ids"] + [EOS], ids
            x = torch.tensor([ids])
            c["input_ids"] = ids
            c["pool_index"] = len(ids) - 2
            logit = rm(input_ids=x).logits[0, 0]
            c["transformers_logit"] = r1(logit)
            # The in-memory trained model gives the same (the save round-trips).
            mem = trainer.model(input_ids=x).logits[0, 0]
            assert abs(mem.item() - logit.item()) < 1e-6
            # It is the head at the token before the EOS.
            h = rm.transformer(input_ids=x).last_hidden_state[0, len(ids) - 2]
            assert abs(rm.score(h).item() - logit.item()) < 1e-5
        enc = tok2(texts, padding=True, return_tensors="pt")
        assert tok2.padding_side == "right"
        batch_logits = rm(**enc).logits[:, 0]
    for c, b in zip(rows, batch_logits.tolist()):
        assert abs(b - c["transformers_logit"]) < 1e-5, (b, c["transformers_logit"])

    with open(os.path.join(out, "config.json")) as f:
        saved_cfg = json.load(f)
    fixture = {
        "versions": versions(),
        "library": "trl.RewardTrainer.save_model",
        "base": BASE_NOTE,
        "training": {"pairs": [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS],
                     "max_steps": 3, "per_device_train_batch_size": 4, "learning_rate": 1e-3, "seed": 7,
                     "train_loss": [h["loss"] for h in trainer.state.log_history if "loss" in h]},
        "trl_appends_eos": True,
        "config_pad_token_id": saved_cfg.get("pad_token_id"),
        "config_eos_token_id": saved_cfg.get("eos_token_id"),
        "tokenizer_pad_token_id": tok2.pad_token_id,
        "pooling": "GPT2ForSequenceClassification: rightmost token != pad_token_id (511 = EOS), i.e. the "
                   "last response token before the EOS; get_reward: first pad after the context - 1, the same token",
        "tensors": tensor_names(out),
        "cases": rows,
        "batch": {"input_ids": enc["input_ids"].tolist(), "attention_mask": enc["attention_mask"].tolist(),
                  "logits": rounded(batch_logits.tolist())},
    }
    write_json(os.path.join(out, "expected.json"), fixture)
    print(f"trl-reward: logits {[c['transformers_logit'] for c in rows]}")


def stage_reward_ppo(tmp: str) -> None:
    """TRL 1.12's get_reward on the trl-reward directory: added to trl-reward/expected.json."""
    import torch
    import trl
    from transformers import AutoTokenizer, GPT2ForSequenceClassification
    from trl.experimental.utils import get_reward

    out = os.path.join(OUT, "trl-reward")
    path = os.path.join(out, "expected.json")
    with open(path) as f:
        fixture = json.load(f)
    tok = AutoTokenizer.from_pretrained(out)
    rm = GPT2ForSequenceClassification.from_pretrained(out, dtype=torch.float32).eval()
    pad = tok.pad_token_id
    rows = []
    with torch.no_grad():
        for c in fixture["cases"]:
            ids = c["prompt_ids"] + c["response_ids"] + [EOS, pad]
            ctx = len(c["prompt_ids"])
            _, reward, seq_len = get_reward(rm, torch.tensor([ids]), pad, ctx)
            c["trl_ppo_query_response"] = ids
            c["trl_ppo_context_length"] = ctx
            c["trl_ppo_reward"] = r1(reward[0])
            c["trl_ppo_sequence_length"] = int(seq_len[0])
            assert c["trl_ppo_sequence_length"] == c["pool_index"]
            assert abs(reward[0].item() - c["transformers_logit"]) < 1e-5
            rows.append(ids)
        # One batch, right-padded with pad; every row has the same context length only if the prompts
        # are equally long, so the batch is scored per context length group as PPOTrainer's rows are
        # (left-padded queries of one length): here each row is left-padded to the longest prompt.
        width_q = max(len(c["prompt_ids"]) for c in fixture["cases"])
        width_r = max(len(c["response_ids"]) for c in fixture["cases"]) + 2
        batch = []
        for c in fixture["cases"]:
            q = [pad] * (width_q - len(c["prompt_ids"])) + c["prompt_ids"]
            r = c["response_ids"] + [EOS] + [pad] * (width_r - len(c["response_ids"]) - 1)
            batch.append(q + r)
        _, rewards, seq_lens = get_reward(rm, torch.tensor(batch), pad, width_q)
    for c, v in zip(fixture["cases"], rewards.tolist()):
        assert abs(v - c["trl_ppo_reward"]) < 1e-5, (v, c["trl_ppo_reward"])
    fixture["trl_ppo"] = {
        "trl_version": trl.__version__,
        "function": "trl.experimental.utils.get_reward(model, query_responses, pad_token_id, context_length)[1]",
        "pad_token_id": pad,
    }
    fixture["trl_ppo_batch"] = {
        "note": "queries left-padded with pad_token_id to a common context_length (as PPOTrainer's "
                "queries are), responses + EOS right-padded; get_reward masks pads to 0 and uses "
                "position_ids = exclusive cumsum of the mask",
        "query_responses": batch,
        "context_length": width_q,
        "rewards": rounded(rewards.tolist()),
        "sequence_lengths": seq_lens.tolist(),
    }
    write_json(path, fixture)
    print(f"trl-reward (get_reward, trl {trl.__version__}): {[c['trl_ppo_reward'] for c in fixture['cases']]}")


# ----------------------------------------------------------------------------------------------------
# b. TRL 1.12 AutoModelForCausalLMWithValueHead


def stage_value_head(tmp: str) -> None:
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel
    from trl.experimental.ppo.modeling_value_head import AutoModelForCausalLMWithValueHead

    out = os.path.join(OUT, "trl-value-head")
    fresh_dir(out)
    base = make_base(os.path.join(tmp, "base"))
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLMWithValueHead.from_pretrained(base, dtype=torch.float32)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        model.v_head.summary.weight.copy_(0.2 * torch.randn(model.v_head.summary.weight.shape, generator=g))
        model.v_head.summary.bias.copy_(0.2 * torch.randn(model.v_head.summary.bias.shape, generator=g))
    model.eval()
    sd_keys = sorted(model.state_dict().keys())
    model.save_pretrained(out)
    tok.save_pretrained(out)
    fix_perms(out)

    rows = case_ids(AutoTokenizer.from_pretrained(out))
    back = AutoModelForCausalLMWithValueHead.from_pretrained(out, dtype=torch.float32)
    back.eval()
    lm_only = GPT2LMHeadModel.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        for c in rows:
            x = torch.tensor([c["prompt_ids"] + c["response_ids"]])
            lm_logits, _, value = model(input_ids=x)
            lm2, _, value2 = back(input_ids=x)
            assert torch.allclose(lm_logits, lm2, atol=1e-6) and torch.allclose(value, value2, atol=1e-6)
            assert torch.allclose(lm_logits, lm_only(input_ids=x).logits, atol=1e-6)
            c["last_logits"] = rounded(lm_logits[0, -1].tolist())
            c["value"] = r1(value[0, -1])
            c["values"] = rounded(value[0].tolist())
    fixture = {
        "versions": versions(),
        "library": "trl.experimental.ppo.AutoModelForCausalLMWithValueHead.save_pretrained",
        "base": BASE_NOTE,
        "v_head_init": "summary.weight, summary.bias ~ 0.2 * randn, torch.Generator().manual_seed(11)",
        "wrapper_state_dict_keys": sd_keys,
        "tensors": tensor_names(out),
        "value_head": "value = v_head.summary(last_hidden_state) (after ln_f), per position; Dropout off in eval()",
        "cases": rows,
    }
    write_json(os.path.join(out, "expected.json"), fixture)
    print(f"trl-value-head: values {[c['value'] for c in rows]}")


# ----------------------------------------------------------------------------------------------------
# c. TRL 1.12 PPOTrainer.save_model


def stage_ppo_policy(tmp: str) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, GPT2LMHeadModel, set_seed
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    torch.set_num_threads(2)
    out = os.path.join(OUT, "trl-ppo-policy")
    fresh_dir(out)
    base = make_base(os.path.join(tmp, "base"))
    set_seed(5)
    # As TRL's examples/scripts/ppo/ppo.py builds them.
    tok = AutoTokenizer.from_pretrained(base, padding_side="left")
    tok.add_special_tokens({"pad_token": "[PAD]"})
    value_model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    reward_model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    policy = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    ref_policy = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    with open(os.path.join(ROOT, "data", "tasks", "prompts-train.jsonl")) as f:
        prompts = [json.loads(line)["prompt"] for line in f if line.strip()][:8]
    ds = Dataset.from_dict({"prompt": prompts})
    ds = ds.map(lambda e: {"input_ids": tok(e["prompt"], padding=False)["input_ids"]}, batched=True,
                remove_columns=ds.column_names)
    args = PPOConfig(
        output_dir=os.path.join(tmp, "ppo-run"),
        total_episodes=8,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        num_mini_batches=1,
        num_ppo_epochs=1,
        local_rollout_forward_batch_size=4,
        response_length=4,
        learning_rate=1e-3,
        num_sample_generations=0,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        seed=5,
        logging_steps=1,
        disable_tqdm=True,
    )
    trainer = PPOTrainer(args=args, processing_class=tok, model=policy, ref_model=ref_policy,
                         reward_model=reward_model, train_dataset=ds, value_model=value_model)
    trainer.train()
    trainer.save_model(out)
    drop_training_args(out)
    fix_perms(out)

    tok2 = AutoTokenizer.from_pretrained(out)
    rows = case_ids(tok2)
    saved, info = GPT2LMHeadModel.from_pretrained(out, output_loading_info=True, dtype=torch.float32)
    saved.eval()
    if info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"]:
        sys.exit(f"trl-ppo-policy loads with {info}")
    base_model = GPT2LMHeadModel.from_pretrained(base, dtype=torch.float32).eval()
    mem = trainer.model.policy.eval()
    moved = 0.0
    with torch.no_grad():
        for c in rows:
            x = torch.tensor([c["prompt_ids"] + c["response_ids"]])
            logits = saved(input_ids=x).logits[0, -1]
            assert torch.allclose(logits, mem(input_ids=x).logits[0, -1], atol=1e-5)
            b = base_model(input_ids=x).logits[0, -1]
            moved = max(moved, (logits - b).abs().max().item())
            c["last_logits"] = rounded(logits.tolist())
            c["base_last_logits"] = rounded(b.tolist())
    assert moved > 1e-3, f"PPO did not move the policy ({moved})"
    fixture = {
        "versions": versions(),
        "library": "trl.experimental.ppo.PPOTrainer.save_model",
        "base": BASE_NOTE,
        "training": {"prompts": prompts, "total_episodes": 8, "per_device_train_batch_size": 4,
                     "num_mini_batches": 1, "num_ppo_epochs": 1, "response_length": 4, "learning_rate": 1e-3,
                     "seed": 5, "steps": trainer.state.global_step},
        "tokenizer_pad_token": tok2.pad_token,
        "tokenizer_pad_token_id": tok2.pad_token_id,
        "max_abs_logit_change_vs_base": r1(moved),
        "tensors": tensor_names(out),
        "files": sorted(os.listdir(out)),
        "cases": rows,
    }
    write_json(os.path.join(out, "expected.json"), fixture)
    print(f"trl-ppo-policy: {trainer.state.global_step} steps, logits moved {moved:.4g} from base")


# ----------------------------------------------------------------------------------------------------
# d. OpenRLHF reward model layout


def openrlhf_reward_class(base_pretrained_model, base_llm_model, value_head_prefix="score"):
    """openrlhf/models/model.py (0.11.2) _get_reward_model, packing_samples=False branch, verbatim in
    what it computes."""
    import torch
    import torch.nn as nn

    class RewardModel(base_pretrained_model):
        supports_gradient_checkpointing = True

        def __init__(self, config):
            super().__init__(config)
            setattr(self, self.base_model_prefix, base_llm_model(config))
            self.value_head_prefix = value_head_prefix
            setattr(self, value_head_prefix, nn.Linear(config.hidden_size, 1, bias=False))
            self.packing_samples = False
            self.normalize_reward = config.normalize_reward
            self.register_buffer("mean", torch.zeros(1), persistent=False)
            self.register_buffer("std", torch.ones(1), persistent=False)
            if hasattr(config, "mean"):
                self.mean[0] = config.mean
                self.std[0] = config.std
            self.post_init()

        def forward(self, input_ids=None, attention_mask=None, return_output=False):
            eos_indices = attention_mask.size(1) - 1 - attention_mask.long().fliplr().argmax(dim=1, keepdim=True)
            position_ids = attention_mask.long().cumsum(-1) - 1
            position_ids.masked_fill_(attention_mask == 0, 1)
            outputs = getattr(self, self.base_model_prefix)(input_ids, attention_mask=attention_mask, position_ids=position_ids)
            last_hidden_states = outputs["last_hidden_state"]
            values = getattr(self, self.value_head_prefix)(last_hidden_states).squeeze(-1)
            reward = values.gather(dim=1, index=eos_indices).squeeze(1)
            raw = reward
            if not self.training and self.normalize_reward:
                reward = (reward - self.mean) / self.std
            return (reward, raw, eos_indices.squeeze(1)) if return_output else reward

    return RewardModel


def stage_openrlhf(tmp: str) -> None:
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer, GPT2ForSequenceClassification

    MEAN, STD = 0.3, 1.7
    out = os.path.join(OUT, "openrlhf-rm")
    fresh_dir(out)
    base = make_base(os.path.join(tmp, "base"))

    # get_llm_for_sequence_regression(base, "reward", normalize_reward=True, param_dtype fp32,
    # attn_implementation "eager", value_head_prefix "score")
    config = AutoConfig.from_pretrained(base)
    config.normalize_reward = True
    config._attn_implementation = "eager"
    base_class = AutoModel._model_mapping[type(config)]
    cls = openrlhf_reward_class(base_class.__base__, base_class, "score")
    model = cls.from_pretrained(base, config=config, dtype=torch.float32)
    model.config.use_cache = False
    g = torch.Generator().manual_seed(13)
    with torch.no_grad():
        model.score.weight.copy_(0.1 * torch.randn(model.score.weight.shape, generator=g))
    # What RewardModelTrainer's evaluate() and train_rm.py set before saving.
    model.config.mean = MEAN
    model.config.std = STD
    model.config.value_head_prefix = "score"
    model.mean[0] = MEAN
    model.std[0] = STD
    # get_tokenizer(base, model, "left"): pad token kept (tiny-sft's is EOS already).
    tok = AutoTokenizer.from_pretrained(base)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    # DeepspeedStrategy.save_model (zero stage <= 2, not PEFT)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.save_pretrained(out, state_dict=state)
    model.config.to_json_file(os.path.join(out, "config.json"))
    tok.save_pretrained(out)
    fix_perms(out)

    # Load back as OpenRLHF would (normalize_reward from its flag; mean/std from config.json).
    cfg2 = AutoConfig.from_pretrained(out)
    cfg2.normalize_reward = True
    back = cls.from_pretrained(out, config=cfg2, dtype=torch.float32).eval()
    # RewardModel.__init__ fills the non-persistent mean/std buffers from config.json; under
    # transformers 5 from_pretrained they can come back uninitialised (the model is built without
    # allocating, and a non-persistent buffer is not in the checkpoint). Record what this
    # transformers gives, then set them as __init__ intends, which is what the numbers below use.
    buffers_restored = abs(back.mean.item() - MEAN) < 1e-6 and abs(back.std.item() - STD) < 1e-6
    with torch.no_grad():
        back.mean[0] = cfg2.mean
        back.std[0] = cfg2.std
    model.eval()
    tok2 = AutoTokenizer.from_pretrained(out)
    # transformers reads it too: same tensor names as GPT2ForSequenceClassification.
    # config.json has no id2label: transformers would build a 2-label head, so num_labels=1 is needed.
    hf, info = GPT2ForSequenceClassification.from_pretrained(out, num_labels=1, output_loading_info=True, dtype=torch.float32)
    hf.eval()
    if info["missing_keys"] or info["mismatched_keys"]:
        sys.exit(f"openrlhf-rm loads in GPT2ForSequenceClassification with {info}")

    rows = case_ids(tok2)
    rm_rows = []
    with torch.no_grad():
        for c in rows:
            for key, ids in (
                ("rm_text", tok2((c["prompt"] + c["response"]).rstrip("\n") + " " + tok2.eos_token,
                                 add_special_tokens=False)["input_ids"]),
                ("eos_ids", c["prompt_ids"] + c["response_ids"] + [EOS]),
            ):
                x = torch.tensor([ids])
                m = torch.ones_like(x)
                reward, raw, idx = back(x, attention_mask=m, return_output=True)
                reward0 = model(x, attention_mask=m)
                assert abs(reward.item() - reward0.item()) < 1e-6
                assert abs(reward.item() - (raw.item() - MEAN) / STD) < 1e-6
                assert abs(hf(input_ids=x).logits[0, 0].item() - raw.item()) < 1e-5
                c[key] = {"input_ids": ids, "pool_index": int(idx[0]), "raw": r1(raw[0]), "reward": r1(reward[0])}
            assert c["rm_text"]["input_ids"][-2:] == [220, EOS] or c["rm_text"]["input_ids"][-1] == EOS
            rm_rows.append(c["rm_text"]["input_ids"])
        # serve_rm.py: tokenizer(texts, padding=True) with left padding, pad = EOS.
        texts = [(c["prompt"] + c["response"]).rstrip("\n") + " " + tok2.eos_token for c in rows]
        tok2.padding_side = "left"  # get_tokenizer(..., "left") sets it; the saved tokenizer_config has none
        enc = tok2(texts, return_tensors="pt", add_special_tokens=False, padding=True)
        rewards, raws, idxs = back(enc["input_ids"], attention_mask=enc["attention_mask"], return_output=True)
    for c, v in zip(rows, rewards.tolist()):
        assert abs(v - c["rm_text"]["reward"]) < 1e-5, (v, c["rm_text"]["reward"])
    with open(os.path.join(out, "config.json")) as f:
        saved_cfg = json.load(f)
    fixture = {
        "versions": versions(),
        "library": "OpenRLHF 0.11.2 layout (RewardModel of openrlhf/models/model.py, DeepspeedStrategy.save_model), "
                   "re-implemented with transformers + torch",
        "base": BASE_NOTE,
        "head_init": "score.weight ~ 0.1 * randn, torch.Generator().manual_seed(13); no bias",
        "value_head_prefix": saved_cfg.get("value_head_prefix"),
        "normalize_reward": saved_cfg.get("normalize_reward"),
        "mean": saved_cfg.get("mean"),
        "std": saved_cfg.get("std"),
        "pooling": "last position with attention_mask 1 (eos_indices = T - 1 - argmax(fliplr(mask))); "
                   "position_ids = cumsum(mask) - 1, pads set to 1; reward = (raw - mean) / std in eval "
                   "when normalize_reward",
        "buffers_restored_by_from_pretrained": {"transformers": versions()["transformers"], "restored": buffers_restored,
                                                "note": "whether RewardModel.from_pretrained left the mean/std buffers "
                                                        "at config.json's values; the numbers here use config.json's"},
        "tensors": tensor_names(out),
        "cases": rows,
        "batch_left_padded": {"input_ids": enc["input_ids"].tolist(), "attention_mask": enc["attention_mask"].tolist(),
                              "pool_index": idxs.tolist(), "raw": rounded(raws.tolist()), "reward": rounded(rewards.tolist())},
    }
    write_json(os.path.join(out, "expected.json"), fixture)
    print(f"openrlhf-rm: rewards {[c['rm_text']['reward'] for c in rows]}")


# ----------------------------------------------------------------------------------------------------

STAGES = {
    "reward": ("trl", stage_reward),
    "reward-ppo": ("bench", stage_reward_ppo),
    "value-head": ("bench", stage_value_head),
    "ppo-policy": ("bench", stage_ppo_policy),
    "openrlhf": ("trl", stage_openrlhf),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=list(STAGES))
    ap.add_argument("--trl-python", default="/work/venv-trl/bin/python", help="python with trl 1.16 (RewardTrainer)")
    ap.add_argument("--bench-python", default="/work/venv-bench/bin/python", help="python with trl 1.12 (trl.experimental.ppo)")
    a = ap.parse_args()
    if a.stage:
        quiet()
        with tempfile.TemporaryDirectory(prefix="import-fixtures-") as tmp:
            STAGES[a.stage][1](tmp)
        return
    os.makedirs(OUT, exist_ok=True)
    for name, (venv, _) in STAGES.items():
        py = a.trl_python if venv == "trl" else a.bench_python
        print(f"== {name} ({py})", flush=True)
        subprocess.run([py, os.path.abspath(__file__), "--stage", name], cwd=ROOT, check=True)
    total = 0
    for d in sorted(os.listdir(OUT)):
        for f in sorted(os.listdir(os.path.join(OUT, d))):
            n = os.path.getsize(os.path.join(OUT, d, f))
            total += n
            print(f"{n:>10}  {d}/{f}")
    print(f"{total:>10}  total")


if __name__ == "__main__":
    main()
