/**
 * Reward-collapse diagnostics: per-prompt reward vectors sorted by rank, the mean reward at each
 * rank index split by prompt kind, the collapse score, and each kind's distance to the theory.
 *
 * collapse score = W₁(pooled rewards of open prompts, pooled rewards of closed prompts).
 * It goes to 0 when both kinds collapse onto one distribution (what a single utility does at the
 * end of training); a prompt-aware utility keeps it away from 0.
 */
import { meanByRank, wasserstein1 } from '../metrics/distribution';
import { Kind } from '../data/records';

export interface PromptRewards {
  prompt_id: string;
  kind?: Kind;
  /** Rewards in ranked order (best first), as the completions are listed. */
  rewards: number[];
  ranks: number[];
}

export interface KindCurve {
  prompts: number;
  mean: number[];
  std: number[];
}

export interface CollapseDiagnostics {
  open: KindCurve | null;
  closed: KindCurve | null;
  collapse_score: number | null;
  /** max_i |mean_i − theory_i| per kind, when a theory vector is given. */
  theory_distance: { open: number | null; closed: number | null };
  pooled: { open: number[]; closed: number[] };
}

function curve(groups: PromptRewards[]): KindCurve | null {
  if (!groups.length) return null;
  const c = meanByRank(groups.map((g) => g.rewards));
  return { prompts: groups.length, mean: Array.from(c.mean), std: Array.from(c.std) };
}

export function maxAbsDiff(a: number[], b: number[]): number {
  if (a.length !== b.length) return NaN;
  return Math.max(...a.map((x, i) => Math.abs(x - b[i])));
}

export function collapseDiagnostics(rows: PromptRewards[], theory?: { open?: number[]; closed?: number[] }): CollapseDiagnostics {
  const open = rows.filter((r) => r.kind === 'open');
  const closed = rows.filter((r) => r.kind === 'closed');
  const pooled = { open: open.flatMap((r) => r.rewards), closed: closed.flatMap((r) => r.rewards) };
  const o = curve(open);
  const c = curve(closed);
  return {
    open: o,
    closed: c,
    collapse_score: pooled.open.length && pooled.closed.length ? wasserstein1(pooled.open, pooled.closed) : null,
    theory_distance: {
      open: o && theory?.open ? maxAbsDiff(o.mean, theory.open) : null,
      closed: c && theory?.closed ? maxAbsDiff(c.mean, theory.closed) : null,
    },
    pooled,
  };
}

/** Held-out pairwise accuracy: the share of ordered pairs (ties excluded) the model orders correctly. */
export function pairwiseAccuracy(rows: PromptRewards[]): number {
  let right = 0;
  let total = 0;
  for (const r of rows)
    for (let i = 0; i < r.ranks.length; i++)
      for (let j = 0; j < r.ranks.length; j++)
        if (r.ranks[i] < r.ranks[j]) {
          total += 1;
          if (r.rewards[i] > r.rewards[j]) right += 1;
        }
  return total ? right / total : NaN;
}
