/**
 * The DPO stage as a library call: load the policy (also the reference) and the rankings, make the
 * preference pairs, train, write artifacts (OUT/model, metrics.jsonl, summary.json with the
 * objective the probe's π* uses, checkpoint/ for --resume).
 */
import * as fs from 'node:fs';
import { disposeBundle, loadModel } from '../model/checkpoint';
import { readTaskPrompts, readRankings } from '../data/read';
import { loadRewardScorer, RewardScorer } from '../model/reward-scorer';
import { RankingRecord } from '../data/records';
import { DPOConfig } from './config';
import { preferencePairs } from './pairs';
import { DpoResult, trainDPO } from './trainer';

export interface DpoStageOptions {
  policy: string;
  /** Canonical rankings (JSONL): every pair of each ranking is a preference pair. */
  rankings: string;
  /** Held-out rankings for eval/* (optional; skipped when the file does not exist and heldoutOptional). */
  heldoutRankings?: string;
  heldoutOptional?: boolean;
  /** A reward model for the held-out reward at the probes (optional: DPO itself needs none). */
  rewardModel?: string;
  heldoutPrompts?: string;
  outDir: string;
  cfg: DPOConfig;
  seed: number;
  resume?: boolean;
  stage?: string;
}

export async function runDpo(o: DpoStageOptions): Promise<DpoResult> {
  const cfg = o.cfg;
  const keep = (rs: RankingRecord[]) => (cfg.tasks ? rs.filter((r) => r.task !== undefined && cfg.tasks!.includes(r.task)) : rs);
  const rankings = keep(await readRankings(o.rankings));
  const heldoutRankings = o.heldoutRankings && (!o.heldoutOptional || fs.existsSync(o.heldoutRankings)) ? keep(await readRankings(o.heldoutRankings)) : [];
  const policy = await loadModel(o.policy);
  let scorer: RewardScorer | undefined;
  try {
    if (o.rewardModel) scorer = await loadRewardScorer(o.rewardModel);
    const heldoutPrompts = o.heldoutPrompts ? await readTaskPrompts(o.heldoutPrompts, cfg.tasks) : [];
    return await trainDPO({
      policy,
      pairs: preferencePairs(rankings),
      heldoutPairs: preferencePairs(heldoutRankings),
      scorer,
      heldoutPrompts, // the tuned tasks, as PPO's held-out reward: the numbers compare
      cfg,
      outDir: o.outDir,
      seed: o.seed,
      resume: o.resume,
      stage: o.stage,
    });
  } finally {
    disposeBundle(policy);
    scorer?.dispose();
  }
}
