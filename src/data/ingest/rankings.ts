/**
 * Format `rankings`: the canonical k-wise rankings JSONL itself (notes/FORMATS.md),
 *   { id, prompt_id?, prompt, kind?, task?, completions: string[] (best first), ranks: number[],
 *     source? }
 * Ingesting it validates and normalises: ranks become dense (0,0,2,3 → 0,0,1,2); a missing
 * `source` is filled with this file and line; an existing `source` (provenance from an earlier
 * ingest) is kept.
 */
import { checkRanking, denseRanks, checkRankOrder, Where } from '../records';
import { ConvertResult, RecordFormat, identicalTexts, isObject, reject, textField } from './types';

export const rankingsFormat: RecordFormat = {
  name: 'rankings',

  looksLike: (v) => Array.isArray(v.completions) && Array.isArray(v.ranks),

  convert(v: unknown, where: Where): ConvertResult {
    if (!isObject(v)) return reject('not-an-object', 'expected a JSON object');
    const id = textField(v, 'id');
    if (typeof id !== 'string') return id;
    const prompt = textField(v, 'prompt');
    if (typeof prompt !== 'string') return prompt;

    const completions = v.completions;
    if (completions === undefined) return reject('missing-field', '"completions" is missing', 'completions');
    if (!Array.isArray(completions)) return reject('invalid-field', '"completions" should be an array of strings', 'completions');
    if (completions.length < 2) return reject('too-few-completions', `${completions.length} completion(s); a ranking needs at least 2`, 'completions');
    for (let i = 0; i < completions.length; i++) {
      const t = completions[i] as unknown;
      if (typeof t !== 'string') return reject('invalid-field', `completions[${i}] should be a string`, `completions[${i}]`);
      if (t.trim() === '') return reject('empty-text', `completions[${i}] is empty`, `completions[${i}]`);
    }
    const texts = completions as string[];
    const same = identicalTexts(texts, (i) => `completions[${i}]`);
    if (same) return same;

    const ranks = v.ranks;
    if (ranks === undefined) return reject('missing-field', '"ranks" is missing', 'ranks');
    if (!Array.isArray(ranks) || ranks.some((r) => typeof r !== 'number' || !Number.isInteger(r)))
      return reject('invalid-ranks', '"ranks" should be an array of integers', 'ranks');
    if (ranks.length !== texts.length) return reject('invalid-ranks', `${ranks.length} ranks for ${texts.length} completions`, 'ranks');
    const orderProblem = checkRankOrder(ranks as number[]);
    if (orderProblem) return reject('invalid-ranks', `ranks ${orderProblem}`, 'ranks');
    const dense = denseRanks(ranks as number[]);
    if (dense[dense.length - 1] === 0) return reject('all-tied', 'every completion has rank 0', 'ranks');

    // Everything else (kind, task, prompt_id, source) through the shared validator.
    const rest = checkRanking({ ...v, ranks: dense, source: v.source ?? { format: 'rankings', file: where.file, line: where.line } }, where);
    if (!rest.ok) {
      const p = rest.problems[0];
      return reject('invalid-field', p.message, p.field);
    }
    return { ok: true, record: { ...rest.value, ranks: dense } };
  },
};
