/**
 * Lexical diversity of generated text: distinct-n and EAD over n-grams, n = 1..5.
 *
 * Sequences are arrays of tokens: token ids (numbers) or words (strings, see `wordTokens`).
 * n-grams never cross the boundary between two sequences.
 *
 * distinct-n (Li et al. 2016) = N / C, with N the number of unique n-grams and C the total number of
 * n-grams. It falls as C grows even for a uniformly random generator, which penalises long outputs.
 *
 * EAD, expectation-adjusted distinct (Liu et al. 2022, "Rethinking and Refining the Distinct Metric"):
 *   EAD = N / E[N],   E[N] = V · (1 − ((V − 1)/V)^C),
 * where E[N] is the expected number of distinct items among C draws uniform over V items, and V is the
 * VOCABULARY SIZE. The paper and its reference implementation use the same V for every n (not Vⁿ,
 * the number of possible n-grams), and so do we: pass the tokenizer's vocabulary size (50257 for
 * GPT-2 ids) or, for word tokens, the size of a word vocabulary fixed once for all methods compared.
 * EAD is not bounded by 1: a set with fewer repeats than uniform random draws scores above 1
 * (C = V = 2 with both items seen gives 2 / 1.5), and for n ≥ 2, N itself can exceed V.
 *
 * Two views of a prompt set where each prompt has k samples:
 * - per-input diversity: the metric over the k samples of one prompt, averaged over prompts
 *   (does the policy say different things when asked the same thing again? mode collapse);
 * - across-input diversity: one sample per prompt (by default the first), pooled
 *   (does the policy say the same thing whatever it is asked?).
 */

export type Token = number | string;
export type TokenSeq = readonly Token[];

/** Largest n reported by the summaries. */
export const MAX_N = 5;

/**
 * A string key identifying an n-gram. Numbers are written as decimals and strings as JSON string
 * literals, joined by commas: numbers contain no quote or comma and JSON escapes quotes inside
 * strings, so two different n-grams never share a key (and the id 1 differs from the word "1").
 */
export function ngramKey(seq: TokenSeq, start: number, n: number): string {
  let key = '';
  for (let i = start; i < start + n; i++) {
    const t = seq[i];
    if (i > start) key += ',';
    key += typeof t === 'number' ? String(t) : JSON.stringify(t);
  }
  return key;
}

/** The n-grams of one sequence, in order, as keys (length max(0, L − n + 1)). */
export function ngrams(seq: TokenSeq, n: number): string[] {
  checkN(n);
  const out: string[] = [];
  for (let i = 0; i + n <= seq.length; i++) out.push(ngramKey(seq, i, n));
  return out;
}

export interface NgramCounts {
  /** N: distinct n-grams in the pooled sequences. */
  unique: number;
  /** C: all n-grams in the pooled sequences. */
  total: number;
}

/** N and C for n-grams pooled over several sequences (n-grams do not cross sequence boundaries). */
export function countNgrams(seqs: readonly TokenSeq[], n: number): NgramCounts {
  checkN(n);
  const seen = new Set<string>();
  let total = 0;
  for (const seq of seqs) {
    for (let i = 0; i + n <= seq.length; i++) {
      seen.add(ngramKey(seq, i, n));
      total++;
    }
  }
  return { unique: seen.size, total };
}

/** distinct-n = N / C over the pooled sequences; NaN when there is no n-gram (C = 0). */
export function distinctN(seqs: readonly TokenSeq[], n: number): number {
  const { unique, total } = countNgrams(seqs, n);
  return total > 0 ? unique / total : NaN;
}

/**
 * E[N] = V · (1 − ((V−1)/V)^C): the expected number of distinct items in C uniform draws from V.
 * Computed as −V · expm1(C · log1p(−1/V)), which keeps its precision when V is large (V = 50257 and
 * small C would otherwise lose digits in 1 − (1 − 1/V)^C).
 */
export function expectedUnique(vocabSize: number, total: number): number {
  checkVocab(vocabSize);
  if (!(total >= 0)) throw new Error(`expectedUnique: total must be >= 0, got ${total}`);
  if (total === 0) return 0;
  if (vocabSize === 1) return 1; // log1p(−1) = −∞; one item, always seen
  return -vocabSize * Math.expm1(total * Math.log1p(-1 / vocabSize));
}

/** EAD = N / (V · (1 − ((V−1)/V)^C)); NaN when C = 0. */
export function eadFromCounts(counts: NgramCounts, vocabSize: number): number {
  if (counts.total === 0) return NaN;
  return counts.unique / expectedUnique(vocabSize, counts.total);
}

/** EAD of n-grams pooled over the sequences (V = vocabulary size, see the file comment). */
export function ead(seqs: readonly TokenSeq[], n: number, vocabSize: number): number {
  return eadFromCounts(countNgrams(seqs, n), vocabSize);
}

/**
 * Word tokens of a text, for word-level diversity: runs of letters/digits, and each other
 * non-space character (punctuation) on its own. Case is kept.
 */
export function wordTokens(text: string): string[] {
  return text.match(/[\p{L}\p{N}\p{M}_']+|[^\s\p{L}\p{N}\p{M}_']/gu) ?? [];
}

/** One n: distinct-n and EAD with the counts they came from. */
export interface DiversityAtN {
  n: number;
  distinct: number;
  ead: number;
  unique: number;
  total: number;
}

/** Per-input diversity at one n: means over prompts of the per-prompt metric. */
export interface PerInputAtN {
  n: number;
  distinct: number;
  ead: number;
  /** Prompts that had at least one n-gram, i.e. that entered the mean. */
  prompts: number;
  /** Prompts without any n-gram at this n (all samples shorter than n): left out, counted here. */
  skipped: number;
}

export interface DiversityReport {
  /** Index n − 1 holds n. */
  perInput: PerInputAtN[];
  acrossInput: DiversityAtN[];
  /** Prompts given, and prompts that had a sample at `acrossIndex` (pooled for across-input). */
  prompts: number;
  acrossPrompts: number;
}

export interface DiversityOptions {
  /** V in EAD: the vocabulary size (the same V for every n, as in the paper). */
  vocabSize: number;
  /** Report n = 1..maxN (default 5). */
  maxN?: number;
  /** Which sample of each prompt enters across-input diversity (default 0, the first). */
  acrossIndex?: number;
}

/** distinct-n and EAD for n = 1..maxN over one pool of sequences. */
export function diversityOf(seqs: readonly TokenSeq[], vocabSize: number, maxN = MAX_N): DiversityAtN[] {
  checkVocab(vocabSize);
  const out: DiversityAtN[] = [];
  for (let n = 1; n <= maxN; n++) {
    const c = countNgrams(seqs, n);
    out.push({
      n,
      distinct: c.total > 0 ? c.unique / c.total : NaN,
      ead: eadFromCounts(c, vocabSize),
      unique: c.unique,
      total: c.total,
    });
  }
  return out;
}

/**
 * Per-input and across-input diversity of samples grouped by prompt: `groups[p]` holds the token
 * sequences of the samples of prompt p. Per-input: for each prompt, distinct-n and EAD over its own
 * samples pooled, then the mean over prompts (prompts with no n-gram at that n are skipped and
 * counted; the mean is NaN if all are skipped). Across-input: sample `acrossIndex` of each prompt,
 * pooled into one set, then distinct-n and EAD of that set.
 */
export function diversityByPrompt(groups: readonly (readonly TokenSeq[])[], opts: DiversityOptions): DiversityReport {
  const maxN = opts.maxN ?? MAX_N;
  checkN(maxN);
  const acrossIndex = opts.acrossIndex ?? 0;
  checkVocab(opts.vocabSize);

  const perInput: PerInputAtN[] = [];
  for (let n = 1; n <= maxN; n++) {
    let dSum = 0;
    let eSum = 0;
    let used = 0;
    for (const g of groups) {
      const c = countNgrams(g, n);
      if (c.total === 0) continue;
      dSum += c.unique / c.total;
      eSum += eadFromCounts(c, opts.vocabSize);
      used++;
    }
    perInput.push({
      n,
      distinct: used > 0 ? dSum / used : NaN,
      ead: used > 0 ? eSum / used : NaN,
      prompts: used,
      skipped: groups.length - used,
    });
  }

  const firsts: TokenSeq[] = [];
  for (const g of groups) if (g.length > acrossIndex) firsts.push(g[acrossIndex]);
  return {
    perInput,
    acrossInput: diversityOf(firsts, opts.vocabSize, maxN),
    prompts: groups.length,
    acrossPrompts: firsts.length,
  };
}

/**
 * Flat metric names for metrics.jsonl, e.g. `diversity/per_input/distinct_2`,
 * `diversity/across_input/ead_5` (prefix configurable).
 */
export function diversityMetrics(report: DiversityReport, prefix = 'diversity'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of report.perInput) {
    out[`${prefix}/per_input/distinct_${r.n}`] = r.distinct;
    out[`${prefix}/per_input/ead_${r.n}`] = r.ead;
  }
  for (const r of report.acrossInput) {
    out[`${prefix}/across_input/distinct_${r.n}`] = r.distinct;
    out[`${prefix}/across_input/ead_${r.n}`] = r.ead;
  }
  return out;
}

function checkN(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`n-gram order must be a positive integer, got ${n}`);
}

function checkVocab(v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`vocabSize must be a positive integer, got ${v}`);
}
