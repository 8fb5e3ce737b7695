"""rlhf's reward as a TRL reward function, for `trl grpo` and `trl rloo` on a run exported by
`rlhf export --to trl` (the stage's YAML names it: `reward_funcs: [rlhf_reward.grpo]`; run with
PYTHONPATH=trl so that Python finds this file).

TRL given a reward model path would read its logit at the last non-pad token of the decoded text:
without the EOS that rlhf scores at, and without the run's squash, normalisation and missing-EOS
penalty. This computes exactly what rlhf's trainer computed (src/model/reward-scorer.ts):

    R     = the reward model's logit at the EOS of  prompt ids + completion ids + EOS
            (EOS appended when the completion did not end with one), sigmoid(R) when squash is
            "sigmoid";
    score = gain · R + bias     (the run's reward normalisation, from its summary.json; 1 and 0
                                 when it had none)
            − missing_eos_penalty when the completion did not end with EOS.

The settings of each stage are in reward-<key>.json next to this file, written by the export;
`rlhf_reward.<key>` is that stage's function (grpo, rloo, or grpo_<run> for a run of a sweep).
"""

import json
import os

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

_HERE = os.path.dirname(os.path.abspath(__file__))
_loaded = {}


def _scorer(stage):
    if stage not in _loaded:
        with open(os.path.join(_HERE, f"reward-{stage}.json")) as f:
            cfg = json.load(f)
        path = os.path.normpath(os.path.join(_HERE, "..", cfg["reward_model"]))
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).eval()
        if tok.pad_token_id is None or tok.pad_token_id == tok.eos_token_id:
            raise ValueError(f"{path}: the reward model's tokenizer pads with EOS; rlhf's reward models have a pad token of their own")
        model.config.pad_token_id = tok.pad_token_id
        _loaded[stage] = (cfg, tok, model)
    return _loaded[stage]


@torch.no_grad()
def _score(stage, prompts, completion_ids):
    cfg, tok, model = _scorer(stage)
    eos = tok.eos_token_id
    seqs, finished = [], []
    for prompt, ids in zip(prompts, completion_ids):
        ids = list(ids)
        ended = len(ids) > 0 and ids[-1] == eos
        finished.append(ended)
        seqs.append(tok(prompt, add_special_tokens=False)["input_ids"] + (ids if ended else ids + [eos]))
    width = max(len(s) for s in seqs)
    input_ids = torch.tensor([s + [tok.pad_token_id] * (width - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    logits = model(input_ids=input_ids, attention_mask=mask).logits[:, 0]
    r = torch.sigmoid(logits) if cfg["squash"] == "sigmoid" else logits
    scores = (cfg["gain"] * r + cfg["bias"]).tolist()
    penalty = cfg.get("missing_eos_penalty")
    return [s - penalty if penalty is not None and not done else s for s, done in zip(scores, finished)]


def __getattr__(key):
    """rlhf_reward.<key>: the reward function of the stage whose settings are reward-<key>.json
    (grpo, rloo, or grpo_<run> for a run of a sweep)."""
    if key.startswith("__") or not os.path.exists(os.path.join(_HERE, f"reward-{key}.json")):
        raise AttributeError(key)

    def reward(prompts, completions, completion_ids, **kwargs):
        return _score(key, prompts, completion_ids)

    reward.__name__ = key  # TRL logs rewards/<name>/mean
    return reward
