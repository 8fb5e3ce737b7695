/** The PPO stage as a library call: load policy, reward model and prompts, train, write artifacts. */
import { disposeBundle, loadModel } from '../model/checkpoint';
import { checkPromptRoom } from '../model/generate';
import { warn } from '../util/progress';
import { readTaskPrompts } from '../data/read';
import { PromptRecord } from '../data/records';
import { loadRewardScorer } from '../model/reward-scorer';
import { PPOConfig } from './config';
import { PPOResult, trainPPO } from './trainer';

export interface PpoStageOptions {
  policy: string;
  rewardModel: string;
  prompts: string;
  heldout?: string;
  outDir: string;
  cfg: PPOConfig;
  seed: number;
  resume?: boolean;
  stage?: string;
}

/**
 * The prompts PPO rolls out on: the prompt file (only `tasks` if given), or the probe's number prompt
 * alone. With several phrasings of the number question the policy is one network for all of them, while
 * each phrasing has its own π*; on one prompt the optimum of what PPO optimises is the probe's π* itself.
 */
export async function rolloutPrompts(file: string, cfg: Pick<PPOConfig, 'tasks' | 'number_prompt' | 'number_prompt_only'>): Promise<PromptRecord[]> {
  if (cfg.number_prompt_only && cfg.tasks) throw new Error(`ppo.number_prompt_only rolls out on number_prompt alone, so ppo.tasks (${JSON.stringify(cfg.tasks)}) would be ignored: set one of them`);
  if (cfg.number_prompt_only) return [{ id: 'number-prompt', prompt: cfg.number_prompt, kind: 'open', task: NUMBER_TASK }];
  return readTaskPrompts(file, cfg.tasks);
}

/** The held-out prompts of the tuned tasks (with number_prompt_only: every phrasing of the number question). */
export function heldoutPrompts(file: string, cfg: Pick<PPOConfig, 'tasks' | 'number_prompt_only'>): Promise<PromptRecord[]> {
  return readTaskPrompts(file, cfg.number_prompt_only ? [NUMBER_TASK] : cfg.tasks);
}

const NUMBER_TASK = 'random-number';

export async function runPpo(o: PpoStageOptions): Promise<PPOResult> {
  const cfg = o.cfg;
  const policy = await loadModel(o.policy);
  const scorer = await loadRewardScorer(o.rewardModel);
  try {
    const prompts = await rolloutPrompts(o.prompts, cfg);
    const heldout = o.heldout ? await heldoutPrompts(o.heldout, cfg) : [];
    // Before training: a prompt that fills the context is an error, one that cuts responses short a warning.
    const enc = (file: string) => (p: { id: string; prompt: string }) => ({ name: `${file}: prompt ${p.id}`, length: policy.tokenizer.encode(p.prompt).length });
    const short = checkPromptRoom(policy.config, [...prompts.map(enc(o.prompts)), ...heldout.map(enc(o.heldout ?? ''))], cfg.response_length);
    if (short.length)
      warn(`${o.stage ?? 'ppo'}: ${short.length} prompt(s) leave fewer than response_length = ${cfg.response_length} positions in the model's context (n_positions ${policy.config.n_positions}), e.g. ${short[0].name} (${short[0].length} tokens, room for ${short[0].room}): responses in their batches are cut short`);
    return await trainPPO({ policy, scorer, prompts, heldout, cfg, outDir: o.outDir, seed: o.seed, resume: o.resume, stage: o.stage });
  } finally {
    disposeBundle(policy);
    scorer.dispose();
  }
}
