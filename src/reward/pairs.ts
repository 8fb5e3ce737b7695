/**
 * All C(k,2) ordered pairs of every prompt's ranked completions, kept in the same batch. For
 * prompt x with completions ranked y₁ ≻ … ≻ yₖ (ties share a rank and make no pair), the pair
 * (i, j) with rank(i) < rank(j) contributes U(R(x,yᵢ) − R(x,yⱼ)).
 *
 * The differences d = R(better) − R(worse) are one product D·R with a ±1 pair matrix D [P, N]:
 * a fast rank-2 matmul, and no gather.
 */
import { RankingRecord } from '../data/records';

export interface PairIndex {
  /** Row of the better and the worse completion in the batch. */
  better: number[];
  worse: number[];
  /** Which prompt (index into the batch's prompts) each pair belongs to. */
  prompt: number[];
}

/** Pairs of a batch whose rows are the prompts' completions in order (prompt 0's first, …). */
export function pairsOf(records: Pick<RankingRecord, 'ranks'>[]): PairIndex {
  const out: PairIndex = { better: [], worse: [], prompt: [] };
  let offset = 0;
  records.forEach((r, p) => {
    const k = r.ranks.length;
    for (let i = 0; i < k; i++)
      for (let j = 0; j < k; j++)
        if (r.ranks[i] < r.ranks[j]) {
          out.better.push(offset + i);
          out.worse.push(offset + j);
          out.prompt.push(p);
        }
    offset += k;
  });
  return out;
}

/** The ±1 matrix D [P, N] with (D·R)ₚ = R(betterₚ) − R(worseₚ). */
export function pairMatrix(pairs: PairIndex, n: number): Float32Array {
  const P = pairs.better.length;
  const D = new Float32Array(P * n);
  for (let p = 0; p < P; p++) {
    D[p * n + pairs.better[p]] = 1;
    D[p * n + pairs.worse[p]] = -1;
  }
  return D;
}
