/**
 * Format `hh-rlhf`: Anthropic's pairwise dialogues, { "chosen": "...", "rejected": "..." }, each a
 * whole transcript "\n\nHuman: … \n\nAssistant: … \n\nHuman: … \n\nAssistant: …".
 *
 * The prompt is everything up to and including the LAST "\n\nAssistant:" of each transcript; the
 * two completions are what follows it (kept verbatim, usually with a leading space, so that
 * prompt + completion is exactly the original transcript). Both transcripts must share that
 * prompt exactly, else the record is rejected (prefix-mismatch): the labeler compared two
 * different conversations, not two answers to one.
 */
import { Where } from '../records';
import { ConvertResult, RecordFormat, isObject, reject, textField } from './types';

export const ASSISTANT_TURN = '\n\nAssistant:';

/** Split a transcript at its last Assistant turn: [prompt incl. the marker, final answer]. */
export function splitTranscript(text: string): [string, string] | undefined {
  const i = text.lastIndexOf(ASSISTANT_TURN);
  if (i < 0) return undefined;
  const cut = i + ASSISTANT_TURN.length;
  return [text.slice(0, cut), text.slice(cut)];
}

/** Where two strings first differ (for a helpful message). */
function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

export const hhRlhfFormat: RecordFormat = {
  name: 'hh-rlhf',

  looksLike: (v) => typeof v.chosen === 'string' && typeof v.rejected === 'string',

  convert(v: unknown, _where: Where): ConvertResult {
    if (!isObject(v)) return reject('not-an-object', 'expected a JSON object');
    const chosen = textField(v, 'chosen');
    if (typeof chosen !== 'string') return chosen;
    const rejected = textField(v, 'rejected');
    if (typeof rejected !== 'string') return rejected;
    if (chosen === rejected) return reject('identical-completions', 'chosen and rejected are the same transcript', 'rejected');

    const c = splitTranscript(chosen);
    if (!c) return reject('malformed-transcript', 'no "\\n\\nAssistant:" turn in chosen', 'chosen');
    const r = splitTranscript(rejected);
    if (!r) return reject('malformed-transcript', 'no "\\n\\nAssistant:" turn in rejected', 'rejected');
    if (c[0] !== r[0]) {
      const at = firstDifference(c[0], r[0]);
      return reject('prefix-mismatch', `the dialogues before the last Assistant turn differ from character ${at}`, 'rejected');
    }
    if (c[1].trim() === '') return reject('empty-text', 'the final Assistant turn of chosen is empty', 'chosen');
    if (r[1].trim() === '') return reject('empty-text', 'the final Assistant turn of rejected is empty', 'rejected');
    if (c[1] === r[1]) return reject('identical-completions', 'the final Assistant turns are identical', 'rejected');
    return { ok: true, record: { prompt: c[0], task: 'hh-rlhf', completions: [c[1], r[1]], ranks: [0, 1] } };
  },
};
