/** The PPO stage as a library call: load policy, reward model and prompts, train, write artifacts. */
import { disposeBundle, loadModel } from '../model/checkpoint';
import { readPrompts } from '../data/read';
import { loadRewardScorer } from '../reward/scorer';
import { PPOConfig, PPOConfigSchema } from './config';
import { PPOResult, trainPPO } from './trainer';

export interface PpoStageOptions {
  policy: string;
  rewardModel: string;
  prompts: string;
  heldout?: string;
  outDir: string;
  cfg: Partial<PPOConfig>;
  seed: number;
  resume?: boolean;
  stage?: string;
}

export async function runPpo(o: PpoStageOptions): Promise<PPOResult> {
  const cfg = PPOConfigSchema.parse(o.cfg);
  const policy = await loadModel(o.policy);
  const scorer = await loadRewardScorer(o.rewardModel);
  try {
    const all = await readPrompts(o.prompts);
    const prompts = cfg.tasks ? all.filter((p) => cfg.tasks!.includes(p.task)) : all;
    if (!prompts.length) throw new Error(`${o.prompts}: no prompts of tasks ${JSON.stringify(cfg.tasks)}`);
    const heldout = o.heldout ? await readPrompts(o.heldout) : [];
    return await trainPPO({ policy, scorer, prompts, heldout, cfg, outDir: o.outDir, seed: o.seed, resume: o.resume, stage: o.stage });
  } finally {
    disposeBundle(policy);
    scorer.dispose();
  }
}
