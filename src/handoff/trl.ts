/**
 * A run in TRL's terms: one config YAML per stage for TRL's own entry points (`trl sft|reward|dpo|
 * grpo|rloo --config FILE`, parsed by TrlParser into the trainer's config dataclass, which rejects
 * unknown keys), and for PPO, which TRL ≥ 1.13 no longer ships, a small script for TRL 1.12's
 * trl.experimental.ppo.PPOTrainer (handoff/trl_ppo.py).
 *
 * Batch arithmetic. rlhf: an iteration samples `batch_size` rollouts and takes gradient steps on
 * `mini_batch_size` of them. TRL 1.12 PPO: the rollout batch is per_device_train_batch_size ·
 * gradient_accumulation_steps (one process), cut into num_mini_batches minibatches, and the
 * optimiser steps once every gradient_accumulation_steps micro-batches of per_device_train_batch_size
 * (ppo_trainer.py: `local_batch_size`, `local_mini_batch_size`, `accelerator.accumulate`); so
 * per_device = batch_size, accumulation 1 (one step per minibatch), num_mini_batches =
 * batch_size / mini_batch_size, and total_episodes = iterations · batch_size. TRL GRPO/RLOO: one generation of per_device · steps_per_generation
 * completions serves steps_per_generation · num_iterations optimiser steps, so per_device =
 * mini_batch_size, steps_per_generation = batch_size / mini_batch_size, max_steps = iterations ·
 * steps_per_generation · num_iterations. With more GPUs, divide per_device_train_batch_size by
 * their number to keep the same batch (HANDOFF.md says so).
 *
 * The reward. TRL's GRPO/RLOO read a reward model's logit at the last non-pad token of the
 * decoded text, without the EOS rlhf scores at, and without rlhf's squash, normalisation and
 * missing-EOS penalty; so the export gives them handoff/rlhf_reward.py, a TRL reward function that
 * computes exactly rlhf's score (sigmoid or raw, then gain·R + bias from the run's summary.json,
 * minus the penalty when the completion did not end). TRL 1.12's PPOTrainer takes the reward model
 * itself; its score is the raw logit read at the EOS (the tokenizer pads with the reward model's
 * own <|pad|>), and what it cannot do is listed as gaps.
 */
import { DpoStageConfig, GrpoStageConfig, PpoStageConfig, RlooStageConfig, SftSection, TrainRmSection } from '../pipeline/config';
import { RewardModelPlan } from '../pipeline/plan';
import { EngineStage, exactRatio, Gap, gapIf, Setting } from './mapping';

/** Where the export put the inputs of one stage (paths relative to the export directory). */
export interface StageInputs {
  policy: string;
  rewardModel?: string;
  /** The folder of train.jsonl / test.jsonl. */
  dataset: string;
  /** GRPO/RLOO: the key of rlhf_reward.py's function, whose settings are trl/reward-<key>.json. */
  rewardFunction?: string;
  out: string;
  /** Rows of the prompt dataset's train split (OpenRLHF counts episodes in passes over it). */
  prompts?: number;
}

const SCHEDULE: Record<string, string> = { constant: 'constant', linear: 'linear', cosine: 'cosine' };
/** Not rlhf settings: where it writes, what it logs; and float32 as rlhf trains (TRL ≥ 1.13 defaults to bf16; set bf16: true on GPUs for speed). */
const FIXED = (out: string) => ({ output_dir: out, report_to: 'none', logging_steps: 1, save_strategy: 'no', bf16: false });

/** The optimiser, schedule and length settings SFT and reward modelling share, in TrainingArguments' names. */
const supervisedRows = (stage: string, c: { lr: number; schedule: string; warmup_steps: number; weight_decay: number; max_grad_norm: number; max_length: number }): Setting[] => [
  { rlhf: `${stage}.lr`, engine: 'learning_rate', value: c.lr },
  { rlhf: `${stage}.schedule`, engine: 'lr_scheduler_type', value: SCHEDULE[c.schedule] },
  { rlhf: `${stage}.warmup_steps`, engine: 'warmup_steps', value: c.warmup_steps },
  { rlhf: `${stage}.weight_decay`, engine: 'weight_decay', value: c.weight_decay },
  { rlhf: `${stage}.max_grad_norm`, engine: 'max_grad_norm', value: c.max_grad_norm },
  { rlhf: `${stage}.max_length`, engine: 'max_length', value: c.max_length },
];

/** The optimiser of a tuning stage (ppo, grpo, rloo, dpo share these four keys) in TrainingArguments' names. */
const optimiserRows = (stage: string, c: { lr: number; lr_schedule: string; adam_eps: number; max_grad_norm: number }): Setting[] => [
  { rlhf: `${stage}.lr`, engine: 'learning_rate', value: c.lr },
  { rlhf: `${stage}.lr_schedule`, engine: 'lr_scheduler_type', value: SCHEDULE[c.lr_schedule] },
  { rlhf: `${stage}.adam_eps`, engine: 'adam_epsilon', value: c.adam_eps },
  { rlhf: `${stage}.max_grad_norm`, engine: 'max_grad_norm', value: c.max_grad_norm },
];

const label = (stage: string, name: string) => (name ? `${stage}/${name}` : stage);
const file = (stage: string, name: string) => `trl/${name ? `${stage}-${name}` : stage}.yaml`;

export function trlSft(sft: SftSection, seed: number, inp: StageInputs): EngineStage {
  const settings: Setting[] = [
    { rlhf: 'model', engine: 'model_name_or_path', value: inp.policy },
    { rlhf: 'data.sft_train / sft_eval', engine: 'dataset_name', value: inp.dataset, note: 'prompt-completion rows' },
    sft.max_steps !== undefined ? { rlhf: 'sft.max_steps', engine: 'max_steps', value: sft.max_steps } : { rlhf: 'sft.epochs', engine: 'num_train_epochs', value: sft.epochs },
    { rlhf: 'sft.batch_size', engine: 'per_device_train_batch_size', value: sft.batch_size },
    ...supervisedRows('sft', sft),
    { rlhf: '(loss on the response tokens only)', engine: 'completion_only_loss', value: true },
    { rlhf: 'seed', engine: 'seed', value: seed },
  ];
  return { stage: 'sft', runs: 'TRL SFTTrainer (`trl sft`)', file: 'trl/sft.yaml', command: 'trl sft --config trl/sft.yaml', settings, fixed: FIXED(inp.out), gaps: [] };
}

/**
 * Reward modelling: TRL's RewardTrainer minimises −log σ(r_chosen − r_rejected) over pairs, which
 * is rlhf's logsigmoid utility (Bradley–Terry) on the same pairs. rlhf batches by prompt (all
 * C(k, 2) pairs of batch_prompts rankings); TRL by pairs, so the batch is batch_prompts times the
 * mean number of pairs per ranking.
 */
export function trlReward(rm: RewardModelPlan, section: TrainRmSection, seed: number, inp: StageInputs, pairsPerPrompt: number): EngineStage {
  const c = { ...section, ...rm.overrides };
  const settings: Setting[] = [
    { rlhf: 'train_rm.model (the trunk)', engine: 'model_name_or_path', value: inp.policy },
    { rlhf: `train_rm rankings${rm.ownRankings ? ` of ${rm.name}` : ''}`, engine: 'dataset_name', value: inp.dataset, note: 'every pair of each ranking' },
    { rlhf: 'train_rm.epochs', engine: 'num_train_epochs', value: c.epochs },
    { rlhf: 'train_rm.batch_prompts', engine: 'per_device_train_batch_size', value: Math.max(1, Math.round(c.batch_prompts * pairsPerPrompt)), note: `${c.batch_prompts} rankings × ${pairsPerPrompt.toFixed(1)} pairs each` },
    ...supervisedRows('train_rm', c),
    { rlhf: 'seed', engine: 'seed', value: seed },
  ];
  const gaps: Gap[] = [];
  const u = rm.utility as { name: string };
  gapIf(gaps, u.name !== 'logsigmoid', `train_rm.utilities (${rm.name})`, u.name, "TRL's RewardTrainer has one loss, −log σ(r_chosen − r_rejected) (rlhf's logsigmoid); other utilities and the prompt-aware reward have no equivalent, so this trains a logsigmoid model");
  gapIf(gaps, c.train_layers !== 'all', 'train_rm.train_layers', c.train_layers, 'TRL trains every layer; freezing the lower blocks has no config field (freeze them in code, or use PEFT)');
  gapIf(gaps, c.early_stopping !== false, 'train_rm.early_stopping', c.early_stopping, 'set load_best_model_at_end and an EarlyStoppingCallback in code; the CLI has no such field');
  gapIf(gaps, c.squash === 'sigmoid', 'train_rm.squash', c.squash, "TRL's reward is the raw logit; rlhf's sigmoid squash is applied only by the exported rlhf_reward.py");
  return { stage: label('train-rm', rm.name), runs: 'TRL RewardTrainer (`trl reward`)', file: file('reward', rm.name), command: `trl reward --config ${file('reward', rm.name)}`, settings, fixed: FIXED(inp.out), gaps };
}

export function trlPpo(cfg: PpoStageConfig, name: string, seed: number, inp: StageInputs): EngineStage {
  const miniBatches = exactRatio('ppo', ['batch_size', cfg.batch_size], ['mini_batch_size', cfg.mini_batch_size]);
  const settings: Setting[] = [
    { rlhf: 'the policy PPO starts from', engine: 'sft_model_path', value: inp.policy },
    { rlhf: 'ppo.reward_model', engine: 'reward_model_path', value: inp.rewardModel },
    { rlhf: 'data.prompts (ppo.tasks, number_prompt_only applied)', engine: 'dataset_name', value: inp.dataset },
    { rlhf: 'ppo.iterations × batch_size', engine: 'total_episodes', value: cfg.iterations * cfg.batch_size },
    { rlhf: 'ppo.batch_size', engine: 'per_device_train_batch_size', value: cfg.batch_size, note: 'the rollout batch, of which each minibatch is a slice' },
    { rlhf: '(one gradient step per minibatch)', engine: 'gradient_accumulation_steps', value: 1 },
    { rlhf: 'ppo.batch_size / mini_batch_size', engine: 'num_mini_batches', value: miniBatches },
    { rlhf: 'ppo.batch_size', engine: 'local_rollout_forward_batch_size', value: cfg.batch_size },
    { rlhf: 'ppo.ppo_epochs', engine: 'num_ppo_epochs', value: cfg.ppo_epochs },
    ...optimiserRows('ppo', cfg),
    { rlhf: 'ppo.temperature', engine: 'temperature', value: cfg.temperature },
    { rlhf: 'ppo.response_length', engine: 'response_length', value: cfg.response_length },
    { rlhf: '(responses end at EOS)', engine: 'stop_token', value: 'eos' },
    { rlhf: 'ppo.missing_eos_penalty', engine: 'missing_eos_penalty', value: cfg.missing_eos_penalty },
    { rlhf: 'ppo.init_kl_coef', engine: 'kl_coef', value: cfg.init_kl_coef },
    { rlhf: 'ppo.kl_estimator', engine: 'kl_estimator', value: cfg.kl_estimator },
    { rlhf: 'ppo.cliprange', engine: 'cliprange', value: cfg.cliprange },
    { rlhf: 'ppo.cliprange_value', engine: 'cliprange_value', value: cfg.cliprange_value },
    { rlhf: 'ppo.vf_coef', engine: 'vf_coef', value: cfg.vf_coef },
    { rlhf: 'ppo.gamma', engine: 'gamma', value: cfg.gamma },
    { rlhf: 'ppo.lam', engine: 'lam', value: cfg.lam },
    { rlhf: 'ppo.whiten_rewards', engine: 'whiten_rewards', value: cfg.whiten_rewards },
    { rlhf: 'seed', engine: 'seed', value: seed },
  ];
  const gaps: Gap[] = [];
  gapIf(gaps, cfg.adaptive_kl, 'ppo.adaptive_kl', true, `TRL's PPOTrainer keeps kl_coef fixed; the adaptive controller (target_kl ${cfg.target_kl}, horizon ${cfg.kl_horizon}) has no equivalent`);
  gapIf(gaps, !cfg.whiten_advantages, 'ppo.whiten_advantages', false, 'TRL always whitens the advantages');
  gapIf(gaps, cfg.value_model === 'shared', 'ppo.value_model', 'shared', 'TRL has a separate value model only (trl_ppo.py starts it from the policy trunk with a fresh head, as rlhf\'s `separate` does)');
  gapIf(gaps, cfg.reward_norm, 'ppo.reward_norm', true, "TRL's PPOTrainer scores with the reward model's raw logit; rlhf's gain/bias normalisation has no equivalent");
  return { stage: label('ppo', name), runs: 'TRL 1.12 PPOTrainer (trl.experimental.ppo; PPO left TRL in 1.13)', file: file('ppo', name), command: `python trl/trl_ppo.py --config ${file('ppo', name)}`, settings, fixed: { ...FIXED(inp.out), num_sample_generations: 0 }, gaps };
}

function groupShared(stage: 'grpo' | 'rloo', cfg: GrpoStageConfig | RlooStageConfig, seed: number, inp: StageInputs): Setting[] {
  const perGeneration = exactRatio(stage, ['batch_size', cfg.batch_size], ['mini_batch_size', cfg.mini_batch_size]);
  exactRatio(stage, ['batch_size', cfg.batch_size], ['num_generations', cfg.num_generations]);
  return [
    { rlhf: 'the policy it starts from', engine: 'model_name_or_path', value: inp.policy },
    { rlhf: `${stage}.reward_model (+ squash, normalisation, missing_eos_penalty)`, engine: 'reward_funcs', value: [`rlhf_reward.${inp.rewardFunction}`], note: `trl/rlhf_reward.py with trl/reward-${inp.rewardFunction}.json` },
    { rlhf: 'data.prompts (tasks applied)', engine: 'dataset_name', value: inp.dataset },
    { rlhf: `${stage}.num_generations`, engine: 'num_generations', value: cfg.num_generations },
    { rlhf: `${stage}.mini_batch_size`, engine: 'per_device_train_batch_size', value: cfg.mini_batch_size },
    { rlhf: '(one minibatch per gradient step)', engine: 'gradient_accumulation_steps', value: 1 },
    { rlhf: `${stage}.batch_size / mini_batch_size`, engine: 'steps_per_generation', value: perGeneration },
    { rlhf: `${stage}.num_iterations`, engine: 'num_iterations', value: cfg.num_iterations },
    { rlhf: `${stage}.iterations × steps_per_generation × num_iterations`, engine: 'max_steps', value: cfg.iterations * perGeneration * cfg.num_iterations },
    ...optimiserRows(stage, cfg),
    { rlhf: `${stage}.temperature`, engine: 'temperature', value: cfg.temperature },
    { rlhf: '(plain sampling)', engine: 'top_k', value: 0 },
    { rlhf: '(plain sampling)', engine: 'top_p', value: 1 },
    { rlhf: `${stage}.response_length`, engine: 'max_completion_length', value: cfg.response_length },
    { rlhf: `${stage}.epsilon`, engine: 'epsilon', value: cfg.epsilon },
    { rlhf: `${stage}.epsilon_high`, engine: 'epsilon_high', value: cfg.epsilon_high },
    { rlhf: `${stage}.beta`, engine: 'beta', value: cfg.beta },
    { rlhf: 'seed', engine: 'seed', value: seed },
  ];
}

export function trlGroup(stage: 'grpo' | 'rloo', cfg: GrpoStageConfig | RlooStageConfig, name: string, seed: number, inp: StageInputs): EngineStage {
  const settings = groupShared(stage, cfg, seed, inp);
  if (stage === 'grpo') {
    const g = cfg as GrpoStageConfig;
    settings.push(
      { rlhf: 'grpo.loss_type', engine: 'loss_type', value: g.loss_type },
      { rlhf: 'grpo.scale_rewards', engine: 'scale_rewards', value: g.scale_rewards },
      { rlhf: 'grpo.kl_bias_correction', engine: 'use_bias_correction_kl', value: g.kl_bias_correction },
    );
  } else settings.push({ rlhf: 'rloo.normalize_advantages', engine: 'normalize_advantages', value: (cfg as RlooStageConfig).normalize_advantages });
  const f = file(stage, name);
  const trainer = stage === 'grpo' ? 'GRPOTrainer' : 'RLOOTrainer';
  return { stage: label(stage, name), runs: `TRL ${trainer} (\`trl ${stage}\`)`, file: f, command: `PYTHONPATH=trl trl ${stage} --config ${f}`, settings, fixed: FIXED(inp.out), gaps: [] };
}

export function trlDpo(cfg: DpoStageConfig, name: string, seed: number, inp: StageInputs, maxLength: number): EngineStage {
  const settings: Setting[] = [
    { rlhf: 'the policy DPO starts from (also the reference)', engine: 'model_name_or_path', value: inp.policy },
    { rlhf: 'the rankings (dpo.tasks applied)', engine: 'dataset_name', value: inp.dataset, note: 'every pair of each ranking' },
    { rlhf: 'dpo.beta', engine: 'beta', value: cfg.beta },
    { rlhf: 'dpo.loss_type', engine: 'loss_type', value: [cfg.loss_type] },
    { rlhf: 'dpo.label_smoothing', engine: 'label_smoothing', value: cfg.label_smoothing },
    cfg.max_steps !== null ? { rlhf: 'dpo.max_steps', engine: 'max_steps', value: cfg.max_steps } : { rlhf: 'dpo.epochs', engine: 'num_train_epochs', value: cfg.epochs },
    { rlhf: 'dpo.batch_size', engine: 'per_device_train_batch_size', value: cfg.batch_size },
    ...optimiserRows('dpo', cfg),
    { rlhf: "(the model's context)", engine: 'max_length', value: maxLength },
    { rlhf: 'seed', engine: 'seed', value: seed },
  ];
  const gaps: Gap[] = [{ rlhf: 'dpo.max_completion_length', value: cfg.max_completion_length, why: `TRL's DPOConfig cuts prompt + completion together at max_length (${maxLength}, the model's context); rlhf cuts the completion alone` }];
  return { stage: label('dpo', name), runs: 'TRL DPOTrainer (`trl dpo`)', file: file('dpo', name), command: `trl dpo --config ${file('dpo', name)}`, settings, fixed: FIXED(inp.out), gaps };
}
