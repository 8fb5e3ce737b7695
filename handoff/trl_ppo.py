"""PPO with TRL 1.12's PPOTrainer (trl.experimental.ppo) on a run exported by `rlhf export --to trl`.

TRL 1.13 removed PPO and ships no command for it, so `rlhf export` writes this script next to the
stage's config YAML:

    pip install "trl==1.12.0"
    python trl/trl_ppo.py --config trl/ppo.yaml

It follows TRL's own examples/scripts/ppo/ppo.py, with the choices rlhf's run made:
- the tokenizer is the reward model's, whose pad token (<|pad|>) is not EOS, so the reward model is
  read at the EOS that ends a response, where rlhf trained and reads it (with pad = EOS, TRL would
  mask the EOS and read the token before it);
- prompts are left-padded (TRL's generation needs it); the pad id is masked before any embedding
  lookup, so the policy never needs a row for it;
- the value model starts from the policy's trunk with a fresh scalar head (rlhf's `separate`
  value model), the reference is a frozen copy of the starting policy.
"""

from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from trl import ModelConfig, ScriptArguments, TrlParser
from trl.experimental.ppo import PPOConfig, PPOTrainer


def main():
    parser = TrlParser((ScriptArguments, PPOConfig, ModelConfig))
    script_args, args, _ = parser.parse_args_and_config()

    tokenizer = AutoTokenizer.from_pretrained(args.reward_model_path, padding_side="left")
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise SystemExit(f"{args.reward_model_path}: its tokenizer pads with EOS; rlhf's reward models have a pad token of their own")

    policy = AutoModelForCausalLM.from_pretrained(args.sft_model_path)
    ref_policy = AutoModelForCausalLM.from_pretrained(args.sft_model_path)
    value_model = AutoModelForSequenceClassification.from_pretrained(args.sft_model_path, num_labels=1)
    reward_model = AutoModelForSequenceClassification.from_pretrained(args.reward_model_path, num_labels=1)
    for m in (value_model, reward_model):
        m.config.pad_token_id = tokenizer.pad_token_id

    dataset = load_dataset(script_args.dataset_name)

    def tokenize(row):
        return {"input_ids": tokenizer(row["prompt"], padding=False, add_special_tokens=False)["input_ids"]}

    train = dataset[script_args.dataset_train_split].map(tokenize, remove_columns=["prompt"])
    test = dataset[script_args.dataset_test_split].map(tokenize, remove_columns=["prompt"]) if script_args.dataset_test_split in dataset else None

    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=ref_policy,
        reward_model=reward_model,
        value_model=value_model,
        train_dataset=train,
        eval_dataset=test,
    )
    trainer.train()
    trainer.save_model(args.output_dir)
    # save_model also wrote the reward model's tokenizer (one token more than the policy's
    # vocabulary); the policy keeps its own.
    AutoTokenizer.from_pretrained(args.sft_model_path).save_pretrained(args.output_dir)


if __name__ == "__main__":
    main()
