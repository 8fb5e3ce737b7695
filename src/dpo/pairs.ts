/**
 * Preference pairs from k-wise rankings: every pair (i, j) of a prompt's completions with
 * rank(i) < rank(j) is one (chosen = i, rejected = j) pair; ties make no pair. This is the same
 * enumeration as the reward-model trainer's (reward/pairs.ts pairsOf; a stage does not import
 * another, test/dpo.test.ts checks the two agree), so DPO and the reward model learn from exactly
 * the same comparisons: C(k, 2) per fully ranked prompt.
 */
import { RankingRecord } from '../data/records';

export interface PreferencePair {
  prompt_id: string;
  prompt: string;
  chosen: string;
  rejected: string;
}

export function preferencePairs(records: Pick<RankingRecord, 'id' | 'prompt_id' | 'prompt' | 'completions' | 'ranks'>[]): PreferencePair[] {
  const out: PreferencePair[] = [];
  for (const r of records) {
    const k = r.completions.length;
    for (let i = 0; i < k; i++)
      for (let j = 0; j < k; j++)
        if (r.ranks[i] < r.ranks[j]) out.push({ prompt_id: r.prompt_id ?? r.id, prompt: r.prompt, chosen: r.completions[i], rejected: r.completions[j] });
  }
  return out;
}
