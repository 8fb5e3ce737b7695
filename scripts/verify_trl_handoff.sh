#!/usr/bin/env bash
# The measured round trip of README's "When one machine is not enough": a small run of every stage
# with rlhf, `rlhf export --to trl`, each exported stage run by TRL itself for the run's few steps
# (SFT, reward, DPO, GRPO and RLOO with the current TRL; PPO with trl==1.12.0, the last release
# that has it), then `rlhf probe` on every policy TRL wrote.
#
#   TRL_PYTHON=/path/venv/bin/python TRL_PPO_PYTHON=/path/venv-trl112/bin/python \
#     scripts/verify_trl_handoff.sh [WORKDIR]
#
# TRL_PYTHON: a Python with the current `trl` (its `trl` command is used from the same bin/).
# TRL_PPO_PYTHON: a Python with trl==1.12.0. Both need torch (CPU is enough: the tiny model).
# Not needed by rlhf's tests; it checks that the exported files are what TRL accepts (TrlParser
# refuses unknown keys) and that the results come back into rlhf's probes.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-$(mktemp -d /tmp/rlhf-handoff-XXXXXX)}"
TRL_PYTHON="${TRL_PYTHON:-python3}"
TRL_PPO_PYTHON="${TRL_PPO_PYTHON:-python3}"
TRL_BIN="$(dirname "$TRL_PYTHON")/trl"
[ -x "$TRL_BIN" ] || TRL_BIN="trl"
RLHF="node $ROOT/bin/run.js"
mkdir -p "$WORK"
echo "work: $WORK"
echo "TRL: $("$TRL_PYTHON" -c 'import trl; print(trl.__version__)'), PPO with TRL $("$TRL_PPO_PYTHON" -c 'import trl; print(trl.__version__)')"

head -40 "$ROOT/data/reward-collapse/train.rankings.jsonl" > "$WORK/rankings.jsonl"
head -10 "$ROOT/data/reward-collapse/heldout.rankings.jsonl" > "$WORK/heldout.jsonl"
head -64 "$ROOT/data/tasks/sft-train.jsonl" > "$WORK/sft.jsonl"
head -16 "$ROOT/data/tasks/sft-eval.jsonl" > "$WORK/sft-eval.jsonl"
cat > "$WORK/run.yaml" <<YAML
name: handoff
seed: 1
model: $ROOT/models/tiny-base
run_dir: $WORK/run
data:
  sft_train: $WORK/sft.jsonl
  sft_eval: $WORK/sft-eval.jsonl
  rankings: $WORK/rankings.jsonl
  heldout_rankings: $WORK/heldout.jsonl
  prompts: $ROOT/data/tasks/prompts-train.jsonl
  heldout_prompts: $ROOT/data/tasks/prompts-heldout.jsonl
sft: {max_steps: 4, batch_size: 8, eval_every: 2}
sample: false
rank: false
train_rm: {utilities: [logsigmoid], epochs: 1, batch_prompts: 4, train_layers: 2}
ppo: {iterations: 3, batch_size: 16, mini_batch_size: 8, ppo_epochs: 1, response_length: 4, missing_eos_penalty: 1, adaptive_kl: false, init_kl_coef: 0.05, heldout_prompts: 4, probe_every: 3}
grpo: {iterations: 3, batch_size: 16, mini_batch_size: 8, num_generations: 4, response_length: 4, beta: 0.04, heldout_prompts: 4, probe_every: 3}
rloo: {iterations: 3, batch_size: 16, mini_batch_size: 8, num_generations: 4, response_length: 4, reward_norm: true, reward_norm_samples: 16, heldout_prompts: 4, probe_every: 3}
dpo: {max_steps: 4, batch_size: 8, beta: 0.1, probe_every: 4, kl_samples: 4, heldout_prompts: 4}
probe: {k: 2, max_prompts: 4, max_new_tokens: 4}
report: false
YAML

$RLHF run "$WORK/run.yaml" -q
$RLHF export "$WORK/run" --to trl --out "$WORK/trl"
cd "$WORK/trl"

status=0
run_stage() { # name, python-or-trl command...
  local name="$1"; shift
  local t0=$SECONDS
  if "$@" > "logs-$name.txt" 2>&1; then echo "  $name: ran in TRL ($((SECONDS - t0)) s)"; else echo "  $name: FAILED (see $WORK/trl/logs-$name.txt)"; tail -5 "logs-$name.txt"; status=1; fi
}
echo "TRL runs the exported stages:"
run_stage sft "$TRL_BIN" sft --config trl/sft.yaml
run_stage reward "$TRL_BIN" reward --config trl/reward-logsigmoid.yaml
run_stage ppo "$TRL_PPO_PYTHON" trl/trl_ppo.py --config trl/ppo.yaml
run_stage grpo env PYTHONPATH=trl "$TRL_BIN" grpo --config trl/grpo.yaml
run_stage rloo env PYTHONPATH=trl "$TRL_BIN" rloo --config trl/rloo.yaml
run_stage dpo "$TRL_BIN" dpo --config trl/dpo.yaml

echo "rlhf probes what TRL wrote (reference: models/policy; π* of the run's reward model where the stage had one):"
for s in ppo grpo rloo dpo; do
  [ -d "out/$s" ] || continue
  beta=$(grep -E '^(kl_coef|beta):' "trl/$s.yaml" | head -1 | awk '{print $2}')
  extra=()
  [ "$s" != dpo ] && extra=(--reward-model models/reward-logsigmoid --beta "$beta")
  if $RLHF probe --policy "out/$s" --reference models/policy "${extra[@]}" --out "results/probe/$s" -q --json > "probe-$s.json"; then
    node -e "const r=require('./probe-$s.json').random_number; console.log('  $s: random-number entropy ' + (100*r.entropy_fraction.reference).toFixed(1) + '% → ' + (100*r.entropy_fraction.policy).toFixed(1) + '% of log 100, top ' + r.top.policy.answer + (r.kl_policy_optimum !== null ? ', KL(policy ‖ π*) ' + r.kl_policy_optimum.toFixed(4) + ' (reference ' + r.kl_reference_optimum.toFixed(4) + ')' : ''))"
  else echo "  $s: rlhf probe FAILED"; status=1; fi
done
# The four policies TRL trained, side by side in rlhf's report (results/probe/<stage>/probe.json).
if $RLHF report results -q; then echo "report: $WORK/trl/results/report/report.html"; else echo "rlhf report FAILED"; status=1; fi
exit $status
