/**
 * Format `summarize`: OpenAI's summarize-from-feedback comparisons (Stiennon et al. 2020), as in
 * the released comparisons/*.json and the HF dataset openai/summarize_from_feedback:
 *   { "info": { "id", "post", "title", "subreddit", "site", "article" },
 *     "summaries": [ { "text", "policy", "note" }, { "text", … } ],
 *     "choice": 0 | 1, "worker", "batch", "split", "extra": { "confidence" } }
 * Reddit posts have info.post (and title, subreddit); CNN/DM items have info.article instead.
 *
 * Prompt: the paper's query layout,
 *   "SUBREDDIT: r/{subreddit}\n\nTITLE: {title}\n\nPOST: {post}\n\nTL;DR:"
 * (lines without a value left out), or "ARTICLE: {article}\n\nTL;DR:". Completions: the summary
 * texts verbatim (they usually start with a space). The chosen summary is ranked first; with more
 * than two summaries, the others share rank 1 (their order among themselves is unknown).
 */
import { Where } from '../records';
import { ConvertResult, RecordFormat, identicalTexts, isObject, reject, textField } from './types';

export function summarizePrompt(info: Record<string, unknown>): string | undefined {
  const str = (k: string): string | undefined => (typeof info[k] === 'string' && (info[k] as string).trim() !== '' ? (info[k] as string) : undefined);
  const post = str('post');
  if (post !== undefined) {
    const parts: string[] = [];
    const sub = str('subreddit');
    const title = str('title');
    if (sub !== undefined) parts.push(`SUBREDDIT: r/${sub}`);
    if (title !== undefined) parts.push(`TITLE: ${title}`);
    parts.push(`POST: ${post}`);
    return `${parts.join('\n\n')}\n\nTL;DR:`;
  }
  const article = str('article');
  if (article !== undefined) return `ARTICLE: ${article}\n\nTL;DR:`;
  return undefined;
}

export const summarizeFormat: RecordFormat = {
  name: 'summarize',

  looksLike: (v) => Array.isArray(v.summaries) && ('choice' in v || isObject(v.info)),

  convert(v: unknown, _where: Where): ConvertResult {
    if (!isObject(v)) return reject('not-an-object', 'expected a JSON object');
    const info = v.info;
    if (info === undefined || info === null) return reject('missing-field', '"info" is missing', 'info');
    if (!isObject(info)) return reject('invalid-field', '"info" should be an object', 'info');
    const prompt = summarizePrompt(info);
    if (prompt === undefined) {
      const present = info.post !== undefined || info.article !== undefined;
      return present
        ? reject('empty-text', 'info.post (or info.article) is empty or not a string', 'info.post')
        : reject('missing-field', 'neither info.post nor info.article is present', 'info.post');
    }

    const summaries = v.summaries;
    if (summaries === undefined) return reject('missing-field', '"summaries" is missing', 'summaries');
    if (!Array.isArray(summaries)) return reject('invalid-field', '"summaries" should be an array', 'summaries');
    if (summaries.length < 2) return reject('too-few-completions', `${summaries.length} summary(ies); a comparison needs at least 2`, 'summaries');
    const texts: string[] = [];
    for (let i = 0; i < summaries.length; i++) {
      const s = summaries[i] as unknown;
      if (!isObject(s)) return reject('invalid-field', `summaries[${i}] should be an object with "text"`, `summaries[${i}]`);
      const t = textField(s, 'text', `summaries[${i}].text`);
      if (typeof t !== 'string') return t;
      texts.push(t);
    }
    const same = identicalTexts(texts, (i) => `summaries[${i}].text`);
    if (same) return same;

    const choice = v.choice;
    if (choice === undefined || choice === null) return reject('missing-field', '"choice" is missing', 'choice');
    if (typeof choice !== 'number' || !Number.isInteger(choice) || choice < 0 || choice >= texts.length)
      return reject('invalid-choice', `"choice" should be an index 0..${texts.length - 1}, got ${JSON.stringify(choice)}`, 'choice');

    const completions = [texts[choice], ...texts.filter((_, i) => i !== choice)];
    const ranks = completions.map((_, i) => (i === 0 ? 0 : 1));
    const record: ConvertResult = { ok: true, record: { prompt, task: 'summarize', completions, ranks } };
    if (typeof info.id === 'string' && info.id !== '') record.record.prompt_id = info.id;
    return record;
  },
};
