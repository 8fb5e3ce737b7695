/** The GRPO and RLOO stages as library calls: load policy, reward model and prompts, train, write artifacts (as PPO's). */
import { disposeBundle, loadModel } from '../model/checkpoint';
import { checkPromptRoom } from '../model/generate';
import { warn } from '../util/progress';
import { readTaskPrompts } from '../data/read';
import { loadRewardScorer } from '../model/reward-scorer';
import { GRPOConfig, GroupConfig, RLOOConfig } from './config';
import { GroupResult, trainGroup } from './trainer';

export interface GroupStageOptions<C> {
  /** SFT policy directory (also the frozen reference). */
  policy: string;
  rewardModel: string;
  prompts: string;
  heldout?: string;
  outDir: string;
  cfg: C;
  seed: number;
  resume?: boolean;
  /** Name in logs, metrics and errors (default: the algorithm). */
  stage?: string;
}

async function runGroup(o: GroupStageOptions<GroupConfig>): Promise<GroupResult> {
  const cfg = o.cfg;
  const name = o.stage ?? cfg.algorithm;
  const policy = await loadModel(o.policy);
  const scorer = await loadRewardScorer(o.rewardModel);
  try {
    const prompts = await readTaskPrompts(o.prompts, cfg.tasks);
    const heldout = o.heldout ? await readTaskPrompts(o.heldout, cfg.tasks) : [];
    const enc = (file: string) => (p: { id: string; prompt: string }) => ({ name: `${file}: prompt ${p.id}`, length: policy.tokenizer.encode(p.prompt).length });
    const short = checkPromptRoom(policy.config, [...prompts.map(enc(o.prompts)), ...heldout.map(enc(o.heldout ?? ''))], cfg.response_length);
    if (short.length)
      warn(`${name}: ${short.length} prompt(s) leave fewer than response_length = ${cfg.response_length} positions in the model's context (n_positions ${policy.config.n_positions}), e.g. ${short[0].name}: responses in their batches are cut short`);
    return await trainGroup({ policy, scorer, prompts, heldout, cfg, outDir: o.outDir, seed: o.seed, resume: o.resume, stage: name });
  } finally {
    disposeBundle(policy);
    scorer.dispose();
  }
}

export function runGrpo(o: GroupStageOptions<GRPOConfig>): Promise<GroupResult> {
  return runGroup({ ...o, cfg: { algorithm: 'grpo', ...o.cfg } });
}

export function runRloo(o: GroupStageOptions<RLOOConfig>): Promise<GroupResult> {
  return runGroup({ ...o, cfg: { algorithm: 'rloo', ...o.cfg } });
}
