/**
 * Format `ratings`: a scalar rating per completion, UltraFeedback style (openbmb/UltraFeedback):
 *   { "source", "instruction", "models",
 *     "completions": [ { "model", "principle", "custom_system_prompt", "annotations",
 *                        "critique", "overall_score", "fine-grained_score", "response" }, … ] }
 * Also accepted: "prompt" for "instruction"; "text" or "completion" for "response"; "rating" or
 * "score" for the score; and the distilabel layout { "instruction", "generations": [...],
 * "ratings": [...] }.
 *
 * The score is the first present of overall_score, rating, score, fine-grained_score (or the field
 * named by --rating-field). Numeric strings ("4") are read as numbers. Completions are sorted by
 * score, highest first; equal scores are ties. A record whose scores are all equal teaches no
 * preference and is rejected (all-tied). The prompt is kept verbatim (UltraFeedback instructions
 * carry no separator; add one upstream if your model needs it).
 */
import { rankByScore, Where } from '../records';
import { ConvertResult, RecordFormat, identicalTexts, isObject, reject, textField } from './types';

export const SCORE_FIELDS = ['overall_score', 'rating', 'score', 'fine-grained_score'];
const TEXT_FIELDS = ['response', 'text', 'completion'];

function toScore(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const x = Number(v);
    return Number.isFinite(x) ? x : undefined;
  }
  return undefined;
}

export function ratingsFormat(opts: { ratingField?: string } = {}): RecordFormat {
  const scoreFields = opts.ratingField ? [opts.ratingField] : SCORE_FIELDS;
  return {
    name: 'ratings',

    looksLike: (v) =>
      (Array.isArray(v.completions) && v.completions.length > 0 && isObject(v.completions[0])) ||
      (Array.isArray(v.generations) && Array.isArray(v.ratings)),

    convert(v: unknown, _where: Where): ConvertResult {
      if (!isObject(v)) return reject('not-an-object', 'expected a JSON object');
      const promptKey = v.instruction !== undefined ? 'instruction' : v.prompt !== undefined ? 'prompt' : 'instruction';
      const prompt = textField(v, promptKey);
      if (typeof prompt !== 'string') return prompt;

      const texts: string[] = [];
      const scores: number[] = [];
      if (v.completions !== undefined) {
        if (!Array.isArray(v.completions)) return reject('invalid-field', '"completions" should be an array of objects', 'completions');
        const items = v.completions as unknown[];
        if (items.length < 2) return reject('too-few-completions', `${items.length} completion(s); a ranking needs at least 2`, 'completions');
        for (let i = 0; i < items.length; i++) {
          const c = items[i];
          if (!isObject(c)) return reject('invalid-field', `completions[${i}] should be an object`, `completions[${i}]`);
          const tk = TEXT_FIELDS.find((k) => c[k] !== undefined) ?? 'response';
          const t = textField(c, tk, `completions[${i}].${tk}`);
          if (typeof t !== 'string') return t;
          const sk = scoreFields.find((k) => c[k] !== undefined && c[k] !== null);
          if (sk === undefined) return reject('invalid-rating', `completions[${i}] has no rating (${scoreFields.join(', ')})`, `completions[${i}].${scoreFields[0]}`);
          const s = toScore(c[sk]);
          if (s === undefined) return reject('invalid-rating', `completions[${i}].${sk} is not a finite number: ${JSON.stringify(c[sk])}`, `completions[${i}].${sk}`);
          texts.push(t);
          scores.push(s);
        }
      } else if (v.generations !== undefined) {
        const gens = v.generations;
        const rats = v.ratings;
        if (!Array.isArray(gens)) return reject('invalid-field', '"generations" should be an array of strings', 'generations');
        if (rats === undefined) return reject('missing-field', '"ratings" is missing', 'ratings');
        if (!Array.isArray(rats)) return reject('invalid-field', '"ratings" should be an array of numbers', 'ratings');
        if (gens.length < 2) return reject('too-few-completions', `${gens.length} generation(s); a ranking needs at least 2`, 'generations');
        if (rats.length !== gens.length) return reject('invalid-rating', `${rats.length} ratings for ${gens.length} generations`, 'ratings');
        for (let i = 0; i < gens.length; i++) {
          const g = gens[i] as unknown;
          if (typeof g !== 'string') return reject('invalid-field', `generations[${i}] should be a string`, `generations[${i}]`);
          if (g.trim() === '') return reject('empty-text', `generations[${i}] is empty`, `generations[${i}]`);
          const s = toScore(rats[i]);
          if (s === undefined) return reject('invalid-rating', `ratings[${i}] is not a finite number: ${JSON.stringify(rats[i])}`, `ratings[${i}]`);
          texts.push(g);
          scores.push(s);
        }
      } else {
        return reject('missing-field', '"completions" is missing', 'completions');
      }

      const same = identicalTexts(texts, (i) => `completions[${i}]`);
      if (same) return same;
      const { order, ranks } = rankByScore(scores);
      if (ranks[ranks.length - 1] === 0) return reject('all-tied', `every completion has the same score (${scores[0]})`, 'completions');
      const record: ConvertResult = { ok: true, record: { prompt, task: 'ratings', completions: order.map((i) => texts[i]), ranks } };
      const pid = typeof v.prompt_id === 'string' ? v.prompt_id : typeof v.id === 'string' ? v.id : undefined;
      if (pid) record.record.prompt_id = pid;
      return record;
    },
  };
}
