/** The PPO stage as a library call: load policy, reward model and prompts, train, write artifacts. */
import { disposeBundle, loadModel } from '../model/checkpoint';
import { checkPromptRoom } from '../model/generate';
import { warn } from '../util/progress';
import { readPrompts } from '../data/read';
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

export async function runPpo(o: PpoStageOptions): Promise<PPOResult> {
  const cfg = o.cfg;
  const policy = await loadModel(o.policy);
  const scorer = await loadRewardScorer(o.rewardModel);
  try {
    const all = await readPrompts(o.prompts);
    const prompts = cfg.tasks ? all.filter((p) => cfg.tasks!.includes(p.task)) : all;
    if (!prompts.length) throw new Error(`${o.prompts}: no prompts of tasks ${JSON.stringify(cfg.tasks)}`);
    const heldout = o.heldout ? await readPrompts(o.heldout) : [];
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
