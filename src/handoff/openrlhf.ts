/**
 * A run in OpenRLHF's terms (0.11: every option is dotted, `--model.model_name_or_path`,
 * `--algo.kl.init_coef`; the flat names of ≤ 0.9 are rejected): one shell script per stage,
 *
 *   sft, train-rm, dpo   deepspeed --module openrlhf.cli.train_sft | train_rm | train_dpo
 *   ppo, grpo, rloo      python3 -m openrlhf.cli.train_ppo_ray with --algo.advantage.estimator
 *                        gae | group_norm (dr_grpo without the std) | rloo
 *
 * Batch arithmetic. OpenRLHF: a rollout is rollout.batch_size prompts × n_samples_per_prompt
 * responses; train.batch_size is the responses of one optimiser step; train.max_epochs the passes
 * over a rollout; train.num_episodes the passes over the prompt dataset. rlhf's `iterations` has
 * no direct option: num_episodes is the smallest number of passes over the exported prompts that
 * gives at least iterations · batch_size rollouts (HANDOFF.md shows both).
 *
 * Options are checked against OpenRLHF 0.11.2's own argument parsers by
 * scripts/check_openrlhf_args.py (from its source, without its GPU stack); the runs themselves
 * need GPUs, Ray and vLLM and are not run here.
 */
import { DpoStageConfig, GrpoStageConfig, PpoStageConfig, RlooStageConfig, SftSection, TrainRmSection } from '../pipeline/config';
import { RewardModelPlan } from '../pipeline/plan';
import { EngineStage, exactRatio, Gap, gapIf, Setting } from './mapping';
import { StageInputs } from './trl';

const SCHEDULE: Record<string, string> = { constant: 'constant_with_warmup', linear: 'linear', cosine: 'cosine' };
/** Engine settings that are not rlhf settings: float32 is not offered (bf16 is the closest), GPT-2 has no flash attention. */
const DS = { 'ds.zero_stage': 2, 'ds.param_dtype': 'bf16', 'ds.attn_implementation': 'sdpa' };
const PRECISION: Gap = { rlhf: '(float32 throughout)', value: 'float32', why: 'OpenRLHF trains in bf16 or fp16 (--ds.param_dtype has no fp32)' };

const label = (stage: string, name: string) => (name ? `${stage}/${name}` : stage);
const script = (stage: string, name: string) => `openrlhf/${name ? `${stage}-${name}` : stage}.sh`;

/** The command line: `--key value`, flags for true, nothing for false / null, lists space-separated. */
export function commandLine(launcher: string, s: Pick<EngineStage, 'settings' | 'fixed'>): string {
  const all: [string, unknown][] = [...s.settings.map((r) => [r.engine, r.value] as [string, unknown]), ...Object.entries(s.fixed)];
  const args: string[] = [];
  for (const [k, v] of all) {
    if (v === false || v === null || v === undefined) continue;
    if (v === true) args.push(`--${k}`);
    else args.push(`--${k} ${(Array.isArray(v) ? v : [v]).map(shellWord).join(' ')}`);
  }
  return [launcher, ...args].join(' \\\n  ');
}

function shellWord(v: unknown): string {
  const s = String(v);
  return /^[A-Za-z0-9_./:+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function stageScript(stage: string, name: string, runs: string, launcher: string, settings: Setting[], fixed: Record<string, unknown>, gaps: Gap[]): EngineStage {
  const file = script(stage, name);
  return { stage: label(stage, name), runs, file, command: `bash ${file}`, settings, fixed, gaps: [...gaps, PRECISION], launch: commandLine(launcher, { settings, fixed }) };
}

export function openrlhfSft(sft: SftSection, seed: number, inp: StageInputs): EngineStage {
  const settings: Setting[] = [
    { rlhf: 'model', engine: 'model.model_name_or_path', value: inp.policy },
    { rlhf: 'data.sft_train', engine: 'data.dataset', value: `${inp.dataset}/train.jsonl` },
    { rlhf: '(prompt column)', engine: 'data.input_key', value: 'prompt' },
    { rlhf: '(response column)', engine: 'data.output_key', value: 'completion' },
    { rlhf: '(the prompt as it is)', engine: 'data.input_template', value: '' },
    { rlhf: 'sft.max_length', engine: 'data.max_len', value: sft.max_length },
    { rlhf: 'sft.epochs', engine: 'train.max_epochs', value: Math.ceil(sft.epochs) },
    { rlhf: 'sft.batch_size', engine: 'train.batch_size', value: sft.batch_size },
    { rlhf: 'sft.lr', engine: 'adam.lr', value: sft.lr },
    { rlhf: '(Adam β)', engine: 'adam.betas', value: [0.9, 0.999] },
    { rlhf: 'sft.weight_decay', engine: 'adam.weight_decay', value: sft.weight_decay },
    { rlhf: 'sft.schedule', engine: 'lr_scheduler', value: SCHEDULE[sft.schedule] },
    { rlhf: 'sft.max_grad_norm', engine: 'max_norm', value: sft.max_grad_norm },
    { rlhf: 'seed', engine: 'train.seed', value: seed },
  ];
  const gaps: Gap[] = [];
  gapIf(gaps, sft.warmup_steps > 0, 'sft.warmup_steps', sft.warmup_steps, 'OpenRLHF sets warm-up as a ratio of all steps (--lr_warmup_ratio, default 0.03)');
  gapIf(gaps, sft.max_steps !== undefined, 'sft.max_steps', sft.max_steps, 'OpenRLHF counts epochs only (--train.max_epochs)');
  gapIf(gaps, !Number.isInteger(sft.epochs), 'sft.epochs', sft.epochs, 'OpenRLHF counts whole epochs; rounded up');
  return stageScript('sft', '', 'OpenRLHF train_sft (DeepSpeed)', 'deepspeed --module openrlhf.cli.train_sft', settings, { ...DS, 'ckpt.output_dir': inp.out }, gaps);
}

export function openrlhfReward(rm: RewardModelPlan, section: TrainRmSection, seed: number, inp: StageInputs, pairsPerPrompt: number): EngineStage {
  const c = { ...section, ...rm.overrides };
  const settings: Setting[] = [
    { rlhf: 'train_rm.model (the trunk)', engine: 'model.model_name_or_path', value: inp.policy },
    { rlhf: `train_rm rankings${rm.ownRankings ? ` of ${rm.name}` : ''}`, engine: 'data.dataset', value: `${inp.dataset}/train.jsonl`, note: 'every pair of each ranking' },
    { rlhf: 'train_rm held-out rankings', engine: 'eval.dataset', value: `${inp.dataset}/test.jsonl` },
    { rlhf: '(a .jsonl file has one split)', engine: 'eval.split', value: 'train' },
    { rlhf: '(columns)', engine: 'data.prompt_key', value: 'prompt' },
    { rlhf: '(columns)', engine: 'data.chosen_key', value: 'chosen' },
    { rlhf: '(columns)', engine: 'data.rejected_key', value: 'rejected' },
    { rlhf: 'train_rm.max_length', engine: 'data.max_len', value: c.max_length },
    { rlhf: 'train_rm.utilities: logsigmoid', engine: 'model.loss_type', value: 'sigmoid' },
    { rlhf: 'train_rm.epochs', engine: 'train.max_epochs', value: Math.ceil(c.epochs) },
    { rlhf: 'train_rm.batch_prompts', engine: 'train.batch_size', value: Math.max(1, Math.round(c.batch_prompts * pairsPerPrompt)), note: `${c.batch_prompts} rankings × ${pairsPerPrompt.toFixed(1)} pairs each` },
    { rlhf: 'train_rm.lr', engine: 'adam.lr', value: c.lr },
    { rlhf: '(Adam β)', engine: 'adam.betas', value: [0.9, 0.999] },
    { rlhf: 'train_rm.weight_decay', engine: 'adam.weight_decay', value: c.weight_decay },
    { rlhf: 'train_rm.schedule', engine: 'lr_scheduler', value: SCHEDULE[c.schedule] },
    { rlhf: 'train_rm.max_grad_norm', engine: 'max_norm', value: c.max_grad_norm },
    { rlhf: '(the head is score.weight, as rlhf writes it)', engine: 'ds.value_head_prefix', value: 'score' },
    { rlhf: 'seed', engine: 'train.seed', value: seed },
  ];
  const gaps: Gap[] = [];
  const u = rm.utility as { name: string };
  gapIf(gaps, u.name !== 'logsigmoid', `train_rm.utilities (${rm.name})`, u.name, "OpenRLHF's reward losses are pairwise (sigmoid, logexp); other utilities and the prompt-aware reward have no equivalent, so this trains a logsigmoid model");
  gapIf(gaps, c.train_layers !== 'all', 'train_rm.train_layers', c.train_layers, 'OpenRLHF trains every layer');
  gapIf(gaps, c.squash === 'sigmoid', 'train_rm.squash', c.squash, "OpenRLHF's reward is the raw head output (normalised by the saved mean/std when --reward.normalize_enable)");
  gaps.push({ rlhf: '(text of a pair)', value: 'prompt + completion + EOS', why: 'OpenRLHF joins prompt and completion and appends " " + EOS: a space token before the EOS that rlhf does not have' });
  return stageScript('train-rm', rm.name, 'OpenRLHF train_rm (DeepSpeed)', 'deepspeed --module openrlhf.cli.train_rm', settings, { ...DS, 'ckpt.output_dir': inp.out }, gaps);
}

/** PPO, GRPO and RLOO share train_ppo_ray: the rollout, the optimiser and the KL. */
function rolloutSettings(stage: string, cfg: { iterations: number; batch_size: number; mini_batch_size: number; lr: number; lr_schedule: string; adam_eps: number; max_grad_norm: number; temperature: number; response_length: number }, k: number, nPrompts: number, seed: number, inp: StageInputs): Setting[] {
  const prompts = exactRatio(stage, ['batch_size', cfg.batch_size], [k > 1 ? 'num_generations' : 'one response per prompt', k]);
  return [
    { rlhf: 'the policy it starts from', engine: 'actor.model_name_or_path', value: inp.policy },
    { rlhf: `${stage}.reward_model`, engine: 'reward.model_name_or_path', value: inp.rewardModel },
    { rlhf: 'data.prompts (tasks applied)', engine: 'data.prompt_dataset', value: `${inp.dataset}/train.jsonl` },
    { rlhf: '(prompt column)', engine: 'data.input_key', value: 'prompt' },
    { rlhf: `${stage}.batch_size / k`, engine: 'rollout.batch_size', value: prompts },
    { rlhf: 'k', engine: 'rollout.n_samples_per_prompt', value: k },
    { rlhf: `${stage}.mini_batch_size`, engine: 'train.batch_size', value: cfg.mini_batch_size },
    ...episodes(cfg.iterations, prompts, nPrompts),
    { rlhf: `${stage}.response_length`, engine: 'rollout.max_new_tokens', value: cfg.response_length },
    { rlhf: `${stage}.temperature`, engine: 'rollout.temperature', value: cfg.temperature },
    { rlhf: '(plain sampling)', engine: 'rollout.top_p', value: 1 },
    { rlhf: `${stage}.lr`, engine: 'actor.adam.lr', value: cfg.lr },
    { rlhf: '(Adam β)', engine: 'actor.adam.betas', value: [0.9, 0.999] },
    { rlhf: `${stage}.adam_eps`, engine: 'actor.adam.eps', value: cfg.adam_eps },
    { rlhf: `${stage}.lr_schedule`, engine: 'actor.lr_scheduler', value: SCHEDULE[cfg.lr_schedule] },
    { rlhf: '(no warm-up)', engine: 'actor.lr_warmup_ratio', value: 0 },
    { rlhf: `${stage}.max_grad_norm`, engine: 'actor.max_norm', value: cfg.max_grad_norm },
    { rlhf: '(no reward clipping)', engine: 'reward.clip_range', value: [-1e6, 1e6] },
    { rlhf: 'seed', engine: 'train.seed', value: seed },
  ];
}

/**
 * rlhf's iterations in OpenRLHF's episodes: with enough prompts, one pass over the first
 * iterations · prompts of them (--data.max_samples) is exactly `iterations` rollouts; with fewer,
 * whole passes, at least as many rollouts.
 */
function episodes(iterations: number, prompts: number, nPrompts: number): Setting[] {
  const need = iterations * prompts;
  if (need <= nPrompts) return [
    { rlhf: 'iterations × prompts per iteration', engine: 'data.max_samples', value: need, note: `${iterations} rollouts of ${prompts} prompts` },
    { rlhf: '(one pass over them)', engine: 'train.num_episodes', value: 1 },
  ];
  const n = Math.ceil(need / Math.max(1, nPrompts));
  return [{ rlhf: 'iterations', engine: 'train.num_episodes', value: n, note: `${n} passes over ${nPrompts} prompts: ${Math.floor((n * nPrompts) / prompts)} rollouts for rlhf's ${iterations}` }];
}

const RAY = { 'vllm.num_engines': 1, 'actor.num_gpus_per_node': 1, 'ref.num_gpus_per_node': 1, 'reward.num_gpus_per_node': 1, ...DS };
const LAUNCH_PPO = 'python3 -m openrlhf.cli.train_ppo_ray';

function rewardGaps(stage: string, cfg: { reward_norm: boolean; missing_eos_penalty: number | null }): Gap[] {
  const gaps: Gap[] = [];
  gapIf(gaps, cfg.reward_norm, `${stage}.reward_norm`, true, "OpenRLHF scores with the reward model's raw output (or its saved mean/std with --reward.normalize_enable); rlhf's gain/bias fitted on reference samples has no equivalent");
  gapIf(gaps, cfg.missing_eos_penalty !== null, `${stage}.missing_eos_penalty`, cfg.missing_eos_penalty, 'OpenRLHF has no missing-EOS penalty; it reads the reward at the last generated token, EOS or not');
  gaps.push({ rlhf: '(the reward model squash)', value: 'sigmoid or none', why: "OpenRLHF uses the head's raw output; a sigmoid-squashed rlhf reward is not reproduced" });
  return gaps;
}

export function openrlhfPpo(cfg: PpoStageConfig, name: string, seed: number, inp: StageInputs): EngineStage {
  exactRatio('ppo', ['batch_size', cfg.batch_size], ['mini_batch_size', cfg.mini_batch_size]);
  const settings: Setting[] = [
    ...rolloutSettings('ppo', cfg, 1, inp.prompts ?? cfg.batch_size, seed, inp),
    { rlhf: 'ppo.value_model (a critic from the policy trunk)', engine: 'critic.model_name_or_path', value: inp.policy },
    { rlhf: 'ppo.lr', engine: 'critic.adam.lr', value: cfg.lr },
    { rlhf: '(Adam β)', engine: 'critic.adam.betas', value: [0.9, 0.999] },
    { rlhf: 'ppo.lr_schedule', engine: 'critic.lr_scheduler', value: SCHEDULE[cfg.lr_schedule] },
    { rlhf: '(no warm-up)', engine: 'critic.lr_warmup_ratio', value: 0 },
    { rlhf: '(GAE)', engine: 'algo.advantage.estimator', value: 'gae' },
    { rlhf: 'ppo.ppo_epochs', engine: 'train.max_epochs', value: cfg.ppo_epochs },
    { rlhf: 'ppo.init_kl_coef', engine: 'algo.kl.init_coef', value: cfg.init_kl_coef },
    { rlhf: 'ppo.kl_estimator', engine: 'algo.kl.estimator', value: cfg.kl_estimator },
    { rlhf: 'ppo.adaptive_kl → target_kl', engine: 'algo.kl.target', value: cfg.adaptive_kl ? cfg.target_kl : null },
    { rlhf: 'ppo.kl_horizon', engine: 'algo.kl.horizon', value: cfg.adaptive_kl ? cfg.kl_horizon : null },
    { rlhf: 'ppo.cliprange', engine: 'actor.eps_clip', value: cfg.cliprange },
    { rlhf: 'ppo.cliprange_value', engine: 'critic.value_clip', value: cfg.cliprange_value },
    { rlhf: 'ppo.gamma', engine: 'algo.advantage.gamma', value: cfg.gamma },
    { rlhf: 'ppo.lam', engine: 'algo.advantage.lambd', value: cfg.lam },
  ];
  const gaps = rewardGaps('ppo', cfg);
  gapIf(gaps, cfg.value_model === 'shared', 'ppo.value_model', 'shared', 'OpenRLHF has a separate critic only (started here from the policy trunk)');
  gapIf(gaps, !cfg.whiten_advantages, 'ppo.whiten_advantages', false, 'OpenRLHF always centres GAE advantages (--algo.advantage.no_std_norm drops only the std)');
  gapIf(gaps, cfg.whiten_rewards, 'ppo.whiten_rewards', true, 'OpenRLHF has no reward whitening');
  gaps.push({ rlhf: 'ppo.vf_coef', value: cfg.vf_coef, why: 'the critic has its own optimiser in OpenRLHF; no value-loss weight' });
  gapIf(gaps, cfg.adaptive_kl, 'ppo.adaptive_kl', true, "OpenRLHF 0.11's trainer notes that its adaptive controller is not wired in (a TODO in trainer/ppo_trainer.py); use a fixed β");
  return stageScript('ppo', name, 'OpenRLHF train_ppo_ray (Ray + vLLM + DeepSpeed), GAE', LAUNCH_PPO, settings, { ...RAY, 'critic.num_gpus_per_node': 1, 'ckpt.output_dir': inp.out }, gaps);
}

export function openrlhfGroup(stage: 'grpo' | 'rloo', cfg: GrpoStageConfig | RlooStageConfig, name: string, seed: number, inp: StageInputs): EngineStage {
  const settings = rolloutSettings(stage, cfg, cfg.num_generations, inp.prompts ?? cfg.batch_size, seed, inp);
  const gaps = rewardGaps(stage, cfg);
  settings.push({ rlhf: `${stage}.num_iterations`, engine: 'train.max_epochs', value: cfg.num_iterations });
  settings.push({ rlhf: `${stage}.epsilon, epsilon_high`, engine: 'actor.eps_clip_low_high', value: [cfg.epsilon, cfg.epsilon_high ?? cfg.epsilon] });
  if (stage === 'grpo') {
    const g = cfg as GrpoStageConfig;
    settings.push(
      { rlhf: 'grpo.scale_rewards', engine: 'algo.advantage.estimator', value: g.scale_rewards === 'none' ? 'dr_grpo' : 'group_norm', note: 'group_norm: (r − mean)/std in the group; dr_grpo: without the std' },
      { rlhf: 'grpo.beta (k3 KL in the loss)', engine: 'algo.kl.init_coef', value: g.beta },
      { rlhf: '(GRPO: KL in the loss)', engine: 'algo.kl.use_loss', value: true },
      { rlhf: '(GRPO: k3)', engine: 'algo.kl.estimator', value: 'k3' },
    );
    gapIf(gaps, g.scale_rewards === 'batch', 'grpo.scale_rewards', 'batch', 'OpenRLHF scales by the group std or not at all');
    if (g.loss_type !== 'dr_grpo') settings.push({ rlhf: 'grpo.loss_type', engine: 'actor.loss_agg_mode', value: g.loss_type === 'grpo' ? 'seq-mean-token-mean' : 'token-mean', note: 'grpo: per sequence, then over sequences; bnpo/dapo: over all tokens' });
    gapIf(gaps, g.loss_type === 'dr_grpo', 'grpo.loss_type', g.loss_type, 'OpenRLHF averages over tokens or sequences, not by a constant B·max length');
    gapIf(gaps, g.kl_bias_correction, 'grpo.kl_bias_correction', true, 'no equivalent in OpenRLHF');
  } else {
    const r = cfg as RlooStageConfig;
    settings.push(
      { rlhf: '(leave-one-out baseline)', engine: 'algo.advantage.estimator', value: 'rloo' },
      { rlhf: 'rloo.beta (KL in the reward)', engine: 'algo.kl.init_coef', value: r.beta },
      { rlhf: '(RLOO: k1 in the reward)', engine: 'algo.kl.estimator', value: 'k1' },
    );
    gapIf(gaps, r.normalize_advantages, 'rloo.normalize_advantages', true, "OpenRLHF's rloo estimator does not whiten");
  }
  return stageScript(stage, name, `OpenRLHF train_ppo_ray (Ray + vLLM + DeepSpeed), ${stage === 'grpo' ? 'group_norm' : 'rloo'} advantages`, LAUNCH_PPO, settings, { ...RAY, 'ckpt.output_dir': inp.out }, gaps);
}

export function openrlhfDpo(cfg: DpoStageConfig, name: string, seed: number, inp: StageInputs, maxLength: number): EngineStage {
  const settings: Setting[] = [
    { rlhf: 'the policy DPO starts from (also the reference)', engine: 'model.model_name_or_path', value: inp.policy },
    { rlhf: 'the rankings (dpo.tasks applied)', engine: 'data.dataset', value: `${inp.dataset}/train.jsonl`, note: 'every pair of each ranking' },
    { rlhf: '(columns)', engine: 'data.prompt_key', value: 'prompt' },
    { rlhf: '(columns)', engine: 'data.chosen_key', value: 'chosen' },
    { rlhf: '(columns)', engine: 'data.rejected_key', value: 'rejected' },
    { rlhf: "(the model's context)", engine: 'data.max_len', value: maxLength },
    { rlhf: 'dpo.beta', engine: 'model.beta', value: cfg.beta },
    { rlhf: 'dpo.loss_type: ipo', engine: 'model.ipo_enable', value: cfg.loss_type === 'ipo' },
    { rlhf: 'dpo.label_smoothing', engine: 'model.label_smoothing', value: cfg.label_smoothing },
    { rlhf: 'dpo.epochs', engine: 'train.max_epochs', value: cfg.epochs },
    { rlhf: 'dpo.batch_size', engine: 'train.batch_size', value: cfg.batch_size },
    { rlhf: 'dpo.lr', engine: 'adam.lr', value: cfg.lr },
    { rlhf: '(Adam β)', engine: 'adam.betas', value: [0.9, 0.999] },
    { rlhf: 'dpo.lr_schedule', engine: 'lr_scheduler', value: SCHEDULE[cfg.lr_schedule] },
    { rlhf: '(no warm-up)', engine: 'lr_warmup_ratio', value: 0 },
    { rlhf: 'dpo.max_grad_norm', engine: 'max_norm', value: cfg.max_grad_norm },
    { rlhf: 'seed', engine: 'train.seed', value: seed },
  ];
  const gaps: Gap[] = [];
  gapIf(gaps, cfg.loss_type === 'robust', 'dpo.loss_type', 'robust', 'OpenRLHF has no robust DPO; label_smoothing there is cDPO');
  gapIf(gaps, cfg.max_steps !== null, 'dpo.max_steps', cfg.max_steps, 'OpenRLHF counts epochs only');
  gaps.push({ rlhf: 'dpo.max_completion_length', value: cfg.max_completion_length, why: `OpenRLHF cuts prompt + completion together at --data.max_len (${maxLength})` });
  return stageScript('dpo', name, 'OpenRLHF train_dpo (DeepSpeed)', 'deepspeed --module openrlhf.cli.train_dpo', settings, { ...DS, 'ckpt.output_dir': inp.out }, gaps);
}
