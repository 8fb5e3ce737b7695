/**
 * A small, deterministic byte-level BPE trainer for the tiny models' tokenizers. It produces the same
 * kind of tokenizer.json as GPT-2's (see byte-level.ts), so tiny and real models share one code path,
 * and Python `tokenizers`/`transformers` read it too.
 *
 * The algorithm (Sennrich et al. 2016, on bytes as in GPT-2):
 *   1. split the corpus into words with GPT-2's pre-tokenizer regex and count each distinct word;
 *   2. start from the 256 byte symbols, every word a sequence of them;
 *   3. apply the seed merges, in order (e.g. digit pairs, so that "42" and " 42" are single tokens);
 *   4. repeat until the vocabulary is full: count every adjacent pair of symbols over all words
 *      (weighted by word count), merge the most frequent pair everywhere, and record it as the next
 *      merge rule. Ties go to the pair whose (left id, right id) is smallest, so the result depends on
 *      nothing but the corpus and the options: same input, same JSON bytes.
 *   5. append the special tokens; `<|endoftext|>` gets the last id, as in GPT-2.
 *
 * Pair counts are updated incrementally: a merge only touches the words that contain its pair.
 */
import { BYTE_ALPHABET, ByteLevelBpeJson, ENDOFTEXT, byteLevelBpeJson, preTokenize, toByteSymbols } from './byte-level';

export interface TrainBpeOptions {
  /** Size of the whole vocabulary: 256 bytes + merged tokens + special tokens. */
  vocabSize: number;
  /**
   * Merges to make first, in order, as plain-text pairs: [["4", "2"], [" ", "42"]]. Each side must
   * already be a token when its turn comes (a byte, or the result of an earlier merge).
   */
  seedMerges?: string[][];
  /** Make every integer 0..99 a single token, with and without a leading space (see numberMerges). */
  singleTokenNumbers?: boolean;
  /** Special tokens, appended after the learned ones. `<|endoftext|>` is always included and last. */
  specialTokens?: string[];
  /** A pair must occur at least this often (counting word frequency) to be merged. Default 2. */
  minFrequency?: number;
}

/**
 * The seed merges that make 0..99 one token each, bare and after a space: the 90 digit pairs "10".."99",
 * then " 0".." 9", then " 10".." 99". BPE applies merges by rank, so " 42" (bytes " ", "4", "2") first
 * becomes " ", "42" by the digit pair, then " 42" by the last group.
 */
export function numberMerges(): string[][] {
  const digits = '0123456789'.split('');
  const pairs = digits.slice(1).flatMap((a) => digits.map((b) => [a, b]));
  return [...pairs, ...digits.map((d) => [' ', d]), ...pairs.map(([a, b]) => [' ', a + b])];
}

/** Pair (left id, right id) as one number, so it can key a Map. Ids stay far below 2^21. */
const PAIR_BASE = 2 ** 21;
const pairKey = (a: number, b: number): number => a * PAIR_BASE + b;

export function trainByteLevelBPE(corpus: readonly string[], opts: TrainBpeOptions): ByteLevelBpeJson {
  const minFrequency = opts.minFrequency ?? 2;
  const specials = [...(opts.specialTokens ?? []).filter((t) => t !== ENDOFTEXT), ENDOFTEXT];
  if (new Set(specials).size !== specials.length) throw new Error('trainByteLevelBPE: specialTokens has duplicates');
  const seeds = [...(opts.singleTokenNumbers ? numberMerges() : []), ...(opts.seedMerges ?? [])];
  const minSize = BYTE_ALPHABET.length + specials.length;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < minSize || opts.vocabSize >= PAIR_BASE) {
    throw new Error(`trainByteLevelBPE: vocabSize must be an integer from ${minSize} (256 bytes + special tokens), got ${opts.vocabSize}`);
  }
  const learnedSize = opts.vocabSize - specials.length; // bytes + merged tokens

  // --- tokens: id → string (byte symbols) and back -------------------------------------------------
  const tokens: string[] = [...BYTE_ALPHABET];
  const idOf = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const merges: Array<[string, string]> = [];
  const merged = new Set<number>(); // pair keys of `merges`

  // --- 1, 2: distinct words and their counts; special tokens in the corpus are not words ------------
  const specialSplit = new RegExp(specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  const wordCount = new Map<string, number>();
  for (const doc of corpus) {
    for (const part of doc.split(specialSplit)) {
      for (const w of preTokenize(part)) wordCount.set(w, (wordCount.get(w) ?? 0) + 1);
    }
  }
  const words: number[][] = []; // each word as symbol ids
  const counts: number[] = [];
  for (const [w, n] of wordCount) {
    words.push([...w].map((c) => idOf.get(c)!));
    counts.push(n);
  }

  // pairCount[(a,b)] = Σ over words of count(word) × occurrences of a,b in it.
  // pairWords[(a,b)] ⊇ the words containing a,b (a superset: entries are not removed, only checked).
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: 1 | -1): void => {
    const s = words[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = pairKey(s[i], s[i + 1]);
      const c = (pairCount.get(k) ?? 0) + sign * counts[w];
      if (c === 0) pairCount.delete(k);
      else pairCount.set(k, c);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1);

  /** Record the merge a+b and rewrite every word containing it (left to right, non-overlapping). */
  const merge = (a: number, b: number): void => {
    const k = pairKey(a, b);
    if (merged.has(k)) throw new Error(`trainByteLevelBPE: merge "${tokens[a]}" + "${tokens[b]}" is given twice`);
    merged.add(k);
    merges.push([tokens[a], tokens[b]]);
    // The merged string may already be a token (made from another split): then it keeps its id.
    const text = tokens[a] + tokens[b];
    let c = idOf.get(text);
    if (c === undefined) {
      c = tokens.length;
      tokens.push(text);
      idOf.set(text, c);
    }
    for (const w of pairWords.get(k) ?? []) {
      const s = words[w];
      let found = false;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) found = true;
      if (!found) continue;
      addPairs(w, -1);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(c);
          i++;
        } else out.push(s[i]);
      }
      words[w] = out;
      addPairs(w, 1);
    }
    pairWords.delete(k);
  };

  // --- 3: seed merges ------------------------------------------------------------------------------
  seeds.forEach((pair, i) => {
    if (pair.length !== 2) throw new Error(`trainByteLevelBPE: seedMerges[${i}] must be a pair of strings`);
    const [a, b] = pair.map(toByteSymbols);
    const ia = idOf.get(a);
    const ib = idOf.get(b);
    if (ia === undefined || ib === undefined) {
      throw new Error(`trainByteLevelBPE: seed merge ${i} ${JSON.stringify(pair)}: "${ia === undefined ? pair[0] : pair[1]}" is not a token yet`);
    }
    if (tokens.length >= learnedSize && !idOf.has(a + b)) {
      throw new Error(`trainByteLevelBPE: vocabSize ${opts.vocabSize} is too small for the ${seeds.length} seed merges`);
    }
    merge(ia, ib);
  });

  // --- 4: learned merges, most frequent pair first ---------------------------------------------------
  while (tokens.length < learnedSize) {
    let bestKey = -1;
    let bestCount = 0;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && k < bestKey)) {
        bestKey = k;
        bestCount = c;
      }
    }
    if (bestCount < minFrequency) {
      throw new Error(
        `trainByteLevelBPE: the corpus supports only ${tokens.length + specials.length} tokens ` +
          `(no pair occurs ${minFrequency}+ times); lower vocabSize or minFrequency, or add text`,
      );
    }
    merge(Math.floor(bestKey / PAIR_BASE), bestKey % PAIR_BASE);
  }

  // --- 5: special tokens last -------------------------------------------------------------------------
  for (const s of specials) {
    if (idOf.has(s)) throw new Error(`trainByteLevelBPE: special token ${s} collides with a learned token`);
    idOf.set(s, tokens.length);
    tokens.push(s);
  }
  return byteLevelBpeJson(idOf, merges, specials);
}
