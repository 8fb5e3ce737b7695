/**
 * Shared types of the preference ingest: every input line ends up either accepted (its content is
 * in a canonical ranking) or rejected with a reason, never lost.
 */
import { RankingRecord, Where } from '../records';

export const FORMAT_NAMES = ['rankings', 'hh-rlhf', 'summarize', 'ratings', 'samples'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

/** Why a record was rejected (the counts in the report are keyed by these). */
export const REJECT_REASONS = {
  'invalid-json': 'the line is not valid JSON',
  'line-too-long': 'the line is longer than the reader\'s limit (MAX_LINE_BYTES, 16 MiB); skipped unread',
  'not-an-object': 'the line is JSON but not an object',
  'missing-field': 'a required field is absent',
  'invalid-field': 'a field has the wrong type or value',
  'too-few-completions': 'fewer than 2 (distinct) completions',
  'identical-completions': 'two completions have the same text',
  'empty-text': 'a prompt or completion is empty or only whitespace',
  'all-tied': 'every completion has the same rank or score: no preference to learn',
  'invalid-ranks': 'ranks are not non-decreasing from 0, one per completion',
  'invalid-choice': 'the choice index is not one of the candidates',
  'invalid-rating': 'a rating is missing or not a finite number',
  'malformed-transcript': 'no "\\n\\nAssistant:" turn in a dialogue',
  'prefix-mismatch': 'chosen and rejected dialogues differ before their last Assistant turn',
  duplicate: 'the same prompt and completions with the same order as an earlier record (first kept)',
  'contradictory-duplicate': 'the same prompt and completions ranked differently by another record (all such records rejected)',
  'duplicate-id': 'the id was already used by an accepted record',
  'unknown-task': 'the scripted labeler has no quality function for this task',
  'inconsistent-group': 'a sample disagrees with its prompt group (prompt or task differ for one prompt_id)',
} as const;
export type RejectReason = keyof typeof REJECT_REASONS;

export interface Rejection {
  file: string;
  line: number;
  reason: RejectReason;
  /** The field at fault, when there is one (e.g. "completions[1].text"). */
  field?: string;
  message: string;
}

export function formatRejection(r: Rejection): string {
  return `${r.file}:${r.line}: ${r.reason}${r.field ? ` (field "${r.field}")` : ''}: ${r.message}`;
}

/** Thrown under --strict at the first rejected record. */
export class IngestError extends Error {
  constructor(readonly rejection: Rejection) {
    super(formatRejection(rejection));
  }
}

/** A ranking before the ingest gives it its source (and, if the format has none, its id). */
export type Converted = Omit<RankingRecord, 'id' | 'source'> & { id?: string; source?: RankingRecord['source'] };

export type ConvertResult = { ok: true; record: Converted } | { ok: false; reason: RejectReason; field?: string; message: string };

/** A per-line format: one input record → one ranking. */
export interface RecordFormat {
  name: Exclude<FormatName, 'samples'>;
  /** Does this parsed object look like a record of this format? (auto-detection) */
  looksLike(v: Record<string, unknown>): boolean;
  convert(v: unknown, where: Where): ConvertResult;
}

export function reject(reason: RejectReason, message: string, field?: string): ConvertResult {
  return field === undefined ? { ok: false, reason, message } : { ok: false, reason, field, message };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A required non-empty string field, or the rejection saying what is wrong with it. */
export function textField(obj: Record<string, unknown>, key: string, field: string = key): string | ConvertResult {
  const v = obj[key];
  if (v === undefined || v === null) return reject('missing-field', `"${field}" is missing`, field);
  if (typeof v !== 'string') return reject('invalid-field', `"${field}" should be a string, got ${Array.isArray(v) ? 'array' : typeof v}`, field);
  if (v.trim() === '') return reject('empty-text', `"${field}" is empty`, field);
  return v;
}

/** The first pair of identical texts, as a rejection, or undefined when all differ. */
export function identicalTexts(texts: string[], fieldOf: (i: number) => string): ConvertResult | undefined {
  const seen = new Map<string, number>();
  for (let i = 0; i < texts.length; i++) {
    const j = seen.get(texts[i]);
    if (j !== undefined) return reject('identical-completions', `${fieldOf(i)} is identical to ${fieldOf(j)}`, fieldOf(i));
    seen.set(texts[i], i);
  }
  return undefined;
}
