/**
 * The scripted labeler: ranks one prompt's completions by their ground-truth quality plus noise,
 * the way a noisy person would. Two noise models, both with a temperature T (T = 0: no noise,
 * order by quality, equal quality = tie):
 *
 * Plackett–Luce   uᵢ = qᵢ/T + Gᵢ with Gᵢ ~ Gumbel(0, 1); order by u, best first. This draws a
 *                 full ranking from the Plackett–Luce model with weights exp(qᵢ/T): the first
 *                 place goes to i with probability exp(qᵢ/T) / Σⱼ exp(qⱼ/T), and so on.
 *                 (Continuous noise: no ties unless T = 0.)
 * Bradley–Terry   every pair i, j is judged once: i wins with P(i ≻ j) = σ((qᵢ − qⱼ)/T);
 *                 rank by number of wins, equal wins = tie (the labeler could not separate them).
 *                 Intransitive judgements (a cycle) naturally become ties.
 *
 * The generator is seeded per prompt (`${seed}:${promptId}`), so a prompt's ranking does not
 * depend on which other prompts are in the file or in what order.
 */
import { Rng } from '../util/rng';
import { rankByScore } from './records';

export const LABELER_METHODS = ['plackett-luce', 'bradley-terry'] as const;
export type LabelerMethod = (typeof LABELER_METHODS)[number];

export interface LabelerOptions {
  method: LabelerMethod;
  /** Noise temperature T ≥ 0 on the quality scale [0, 1]. */
  temperature: number;
  seed: number | string;
}

export const DEFAULT_LABELER: LabelerOptions = { method: 'bradley-terry', temperature: 0.1, seed: 0 };

export interface Ranked {
  /** Indices into the input, best first. */
  order: number[];
  /** Dense ranks in that order (0 = best; equal = tie). */
  ranks: number[];
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** P(i ≻ j) under Bradley–Terry with temperature T (T = 0: a step; equal quality: ½). */
export function preferenceProbability(qi: number, qj: number, temperature: number): number {
  if (qi === qj) return 0.5;
  if (temperature === 0) return qi > qj ? 1 : 0;
  return sigmoid((qi - qj) / temperature);
}

export function rankPlackettLuce(quality: number[], temperature: number, rng: Rng): Ranked {
  if (temperature === 0) return rankByScore(quality);
  const u = quality.map((q) => q / temperature + rng.gumbel());
  return rankByScore(u);
}

export function rankBradleyTerry(quality: number[], temperature: number, rng: Rng): Ranked {
  const n = quality.length;
  const wins = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (rng.uniform() < preferenceProbability(quality[i], quality[j], temperature)) wins[i]++;
      else wins[j]++;
    }
  }
  return rankByScore(wins);
}

export function rankQualities(quality: number[], method: LabelerMethod, temperature: number, rng: Rng): Ranked {
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`labeler temperature must be a finite number >= 0, got ${temperature}`);
  for (const q of quality) if (!Number.isFinite(q)) throw new Error(`labeler: quality must be finite, got ${q}`);
  return method === 'plackett-luce' ? rankPlackettLuce(quality, temperature, rng) : rankBradleyTerry(quality, temperature, rng);
}

/** Rank one prompt's completions with a generator seeded by the labeler seed and the prompt id. */
export function labelPrompt(promptId: string, quality: number[], opts: LabelerOptions): Ranked {
  return rankQualities(quality, opts.method, opts.temperature, new Rng(`${opts.seed}:${promptId}`));
}
