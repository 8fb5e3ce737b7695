/**
 * Output-entropy and diversity of a set of samples, the same numbers for the sampling stage, every
 * PPO iteration and the probes: mean exact per-token entropy and its sample estimate, per-input and
 * across-input distinct-n/EAD (n = 1..5).
 */
import { summarizeEntropy } from './entropy';
import { diversityByPrompt, DiversityReport } from './diversity';

export interface SampleLike {
  prompt_id: string;
  token_ids: number[];
  logprobs: number[];
  entropies: number[];
  finished?: boolean;
}

export interface OutputMetrics {
  entropy: { exact: number; sampled: number; tokens: number };
  diversity: {
    per_input: { n: number; distinct: number; ead: number }[];
    across_input: { n: number; distinct: number; ead: number }[];
    prompts: number;
  };
  mean_length: number;
}

/** Group samples by prompt in first-seen order. */
export function groupByPrompt<T extends { prompt_id: string }>(samples: T[]): T[][] {
  const m = new Map<string, T[]>();
  for (const s of samples) {
    if (!m.has(s.prompt_id)) m.set(s.prompt_id, []);
    m.get(s.prompt_id)!.push(s);
  }
  return [...m.values()];
}

export function outputMetrics(samples: SampleLike[], vocabSize: number, eosId: number): OutputMetrics {
  const ent = summarizeEntropy(samples.map((s) => ({ logprobs: s.logprobs, entropies: s.entropies })));
  // Diversity over the text tokens: EOS is an end marker, not content.
  const groups = groupByPrompt(samples).map((g) => g.map((s) => s.token_ids.filter((t) => t !== eosId)));
  const rep: DiversityReport = diversityByPrompt(groups, { vocabSize });
  return {
    entropy: { exact: ent.exact, sampled: ent.sampled, tokens: ent.tokens },
    diversity: {
      per_input: rep.perInput.map((r) => ({ n: r.n, distinct: r.distinct, ead: r.ead })),
      across_input: rep.acrossInput.map((r) => ({ n: r.n, distinct: r.distinct, ead: r.ead })),
      prompts: rep.prompts,
    },
    mean_length: samples.reduce((a, s) => a + s.token_ids.length, 0) / Math.max(1, samples.length),
  };
}

/** Flat metric names for metrics.jsonl. */
export function outputMetricsFlat(m: OutputMetrics, prefix = 'output'): Record<string, number> {
  const out: Record<string, number> = {
    [`${prefix}/entropy_exact`]: m.entropy.exact,
    [`${prefix}/entropy_sampled`]: m.entropy.sampled,
    [`${prefix}/mean_length`]: m.mean_length,
  };
  for (const r of m.diversity.per_input) {
    out[`${prefix}/per_input/distinct_${r.n}`] = r.distinct;
    out[`${prefix}/per_input/ead_${r.n}`] = r.ead;
  }
  for (const r of m.diversity.across_input) {
    out[`${prefix}/across_input/distinct_${r.n}`] = r.distinct;
    out[`${prefix}/across_input/ead_${r.n}`] = r.ead;
  }
  return out;
}
