/**
 * The record types of notes/FORMATS.md, and validators for them.
 *
 * A validator takes a parsed JSON value and where it came from, and returns either the typed
 * record or a list of problems, each naming the file, the line and the field, e.g.
 *   data/tasks/sft-train.jsonl:12: field "response": expected a string, got number
 * `assertX` variants throw the first problem as an Error (for artifacts that must be right);
 * `checkX` variants return all problems (for ingest, which reports and goes on).
 * Unknown extra fields are allowed everywhere: later stages may add their own.
 */

export type Kind = 'open' | 'closed';
export const KINDS: readonly Kind[] = ['open', 'closed'];

/** prompts.jsonl */
export interface PromptRecord {
  id: string;
  prompt: string;
  kind: Kind;
  task: string;
  answer?: string;
  meta?: Record<string, unknown>;
}

/** sft.jsonl: a demonstration (response without EOS). */
export interface SftRecord {
  id: string;
  prompt_id: string;
  prompt: string;
  response: string;
  kind: Kind;
  task: string;
}

/** samples.jsonl: one sampled completion (finished = ended with EOS). */
export interface SampleRecord {
  id: string;
  prompt_id: string;
  prompt: string;
  kind: Kind;
  task: string;
  sample_index: number;
  completion: string;
  token_ids: number[];
  logprobs: number[];
  entropies: number[];
  finished: boolean;
}

/** samples.meta.json */
export interface SamplesMeta {
  model: string;
  temperature: number;
  top_k: number;
  top_p: number;
  max_new_tokens: number;
  k: number;
  seed: number;
  backend: string;
  [extra: string]: unknown;
}

/** Where a ranking came from. */
export interface RankingSource {
  format: string;
  file: string;
  line: number;
}

/**
 * rankings.jsonl: completions best first; ranks the same length, non-decreasing from 0, equal
 * numbers = a tie (a tie says "no preference known", so it contributes no pair).
 */
export interface RankingRecord {
  id: string;
  prompt_id?: string;
  prompt: string;
  kind?: Kind;
  task?: string;
  completions: string[];
  ranks: number[];
  source: RankingSource;
  /** Optional extras, e.g. the synthetic data's ground-truth `quality` per completion. */
  meta?: Record<string, unknown>;
}

/** metrics.jsonl: one line per step; any further named numeric (or null) values. */
export interface MetricsRecord {
  stage: string;
  step: number;
  time: number;
  elapsed: number;
  [name: string]: unknown;
}

export interface Where {
  file: string;
  line: number;
}

export interface FieldProblem {
  file: string;
  line: number;
  field: string;
  message: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problems: FieldProblem[] };

export function formatProblem(p: FieldProblem): string {
  return `${p.file}:${p.line}: field "${p.field}": ${p.message}`;
}

export class RecordError extends Error {
  constructor(readonly problem: FieldProblem) {
    super(formatProblem(problem));
  }
}

/** What a JSON value is, for messages ("got number"). */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Collects problems against one record; each check names its field. */
class Checker {
  readonly problems: FieldProblem[] = [];
  constructor(
    readonly obj: Record<string, unknown>,
    readonly where: Where,
  ) {}

  fail(field: string, message: string): void {
    this.problems.push({ file: this.where.file, line: this.where.line, field, message });
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined;
  }

  string(field: string, opts: { optional?: boolean; nonEmpty?: boolean } = {}): void {
    const v = this.obj[field];
    if (v === undefined) {
      if (!opts.optional) this.fail(field, 'missing');
      return;
    }
    if (typeof v !== 'string') this.fail(field, `expected a string, got ${describe(v)}`);
    else if (opts.nonEmpty && v.trim() === '') this.fail(field, 'empty text');
  }

  kind(field: string, optional = false): void {
    const v = this.obj[field];
    if (v === undefined) {
      if (!optional) this.fail(field, 'missing');
      return;
    }
    if (v !== 'open' && v !== 'closed') this.fail(field, `expected "open" or "closed", got ${JSON.stringify(v)}`);
  }

  integer(field: string, opts: { min?: number; optional?: boolean } = {}): void {
    const v = this.obj[field];
    if (v === undefined) {
      if (!opts.optional) this.fail(field, 'missing');
      return;
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(field, `expected an integer, got ${JSON.stringify(v)}`);
    else if (opts.min !== undefined && v < opts.min) this.fail(field, `expected >= ${opts.min}, got ${v}`);
  }

  number(field: string): void {
    const v = this.obj[field];
    if (v === undefined) this.fail(field, 'missing');
    else if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `expected a finite number, got ${JSON.stringify(v)}`);
  }

  boolean(field: string): void {
    const v = this.obj[field];
    if (v === undefined) this.fail(field, 'missing');
    else if (typeof v !== 'boolean') this.fail(field, `expected true or false, got ${describe(v)}`);
  }

  numberArray(field: string, opts: { integer?: boolean } = {}): number[] | undefined {
    const v = this.obj[field];
    if (v === undefined) {
      this.fail(field, 'missing');
      return undefined;
    }
    if (!Array.isArray(v)) {
      this.fail(field, `expected an array, got ${describe(v)}`);
      return undefined;
    }
    for (let i = 0; i < v.length; i++) {
      const x = v[i] as unknown;
      if (typeof x !== 'number' || !Number.isFinite(x) || (opts.integer && !Number.isInteger(x))) {
        this.fail(`${field}[${i}]`, `expected ${opts.integer ? 'an integer' : 'a finite number'}, got ${JSON.stringify(x)}`);
        return undefined;
      }
    }
    return v as number[];
  }

  object(field: string, optional = true): void {
    const v = this.obj[field];
    if (v === undefined) {
      if (!optional) this.fail(field, 'missing');
      return;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(field, `expected an object, got ${describe(v)}`);
  }

  result<T>(): Checked<T> {
    return this.problems.length ? { ok: false, problems: this.problems } : { ok: true, value: this.obj as unknown as T };
  }
}

/** Start checking: the value must be a JSON object. */
function begin(value: unknown, where: Where): Checker | FieldProblem[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [{ file: where.file, line: where.line, field: '(record)', message: `expected a JSON object, got ${describe(value)}` }];
  }
  return new Checker(value as Record<string, unknown>, where);
}

export function checkPrompt(value: unknown, where: Where): Checked<PromptRecord> {
  const c = begin(value, where);
  if (Array.isArray(c)) return { ok: false, problems: c };
  c.string('id', { nonEmpty: true });
  c.string('prompt', { nonEmpty: true });
  c.kind('kind');
  c.string('task', { nonEmpty: true });
  c.string('answer', { optional: true });
  c.object('meta');
  return c.result();
}

export function checkSft(value: unknown, where: Where): Checked<SftRecord> {
  const c = begin(value, where);
  if (Array.isArray(c)) return { ok: false, problems: c };
  c.string('id', { nonEmpty: true });
  c.string('prompt_id', { nonEmpty: true });
  c.string('prompt', { nonEmpty: true });
  c.string('response', { nonEmpty: true });
  c.kind('kind');
  c.string('task', { nonEmpty: true });
  return c.result();
}

export function checkSample(value: unknown, where: Where): Checked<SampleRecord> {
  const c = begin(value, where);
  if (Array.isArray(c)) return { ok: false, problems: c };
  c.string('id', { nonEmpty: true });
  c.string('prompt_id', { nonEmpty: true });
  c.string('prompt', { nonEmpty: true });
  c.kind('kind');
  c.string('task', { nonEmpty: true });
  c.integer('sample_index', { min: 0 });
  c.string('completion');
  const ids = c.numberArray('token_ids', { integer: true });
  const lp = c.numberArray('logprobs');
  const ent = c.numberArray('entropies');
  c.boolean('finished');
  if (ids && lp && lp.length !== ids.length) c.fail('logprobs', `expected ${ids.length} values (one per token), got ${lp.length}`);
  if (ids && ent && ent.length !== ids.length) c.fail('entropies', `expected ${ids.length} values (one per token), got ${ent.length}`);
  return c.result();
}

export function checkRanking(value: unknown, where: Where): Checked<RankingRecord> {
  const c = begin(value, where);
  if (Array.isArray(c)) return { ok: false, problems: c };
  c.string('id', { nonEmpty: true });
  c.string('prompt_id', { optional: true });
  c.string('prompt', { nonEmpty: true });
  c.kind('kind', true);
  c.string('task', { optional: true });
  const completions = c.obj.completions;
  if (completions === undefined) c.fail('completions', 'missing');
  else if (!Array.isArray(completions)) c.fail('completions', `expected an array of strings, got ${describe(completions)}`);
  else {
    if (completions.length < 2) c.fail('completions', `expected at least 2 completions, got ${completions.length}`);
    completions.forEach((t: unknown, i: number) => {
      if (typeof t !== 'string') c.fail(`completions[${i}]`, `expected a string, got ${describe(t)}`);
      else if (t.trim() === '') c.fail(`completions[${i}]`, 'empty text');
    });
    const seen = new Map<unknown, number>();
    completions.forEach((t: unknown, i: number) => {
      if (typeof t !== 'string') return;
      const j = seen.get(t);
      if (j !== undefined) c.fail(`completions[${i}]`, `identical to completions[${j}]`);
      else seen.set(t, i);
    });
  }
  const ranks = c.numberArray('ranks', { integer: true });
  if (ranks && Array.isArray(completions)) {
    if (ranks.length !== completions.length)
      c.fail('ranks', `expected ${completions.length} ranks (one per completion), got ${ranks.length}`);
    else if (ranks.length > 0) {
      const problem = checkRankOrder(ranks);
      if (problem) c.fail('ranks', problem);
    }
  }
  const src = c.obj.source;
  if (src === undefined) c.fail('source', 'missing');
  else if (src === null || typeof src !== 'object' || Array.isArray(src)) c.fail('source', `expected an object, got ${describe(src)}`);
  else {
    const s = src as Record<string, unknown>;
    if (typeof s.format !== 'string') c.fail('source.format', 'expected a string');
    if (typeof s.file !== 'string') c.fail('source.file', 'expected a string');
    if (typeof s.line !== 'number' || !Number.isInteger(s.line)) c.fail('source.line', 'expected an integer');
  }
  return c.result();
}

/** Ranks must start at 0 and never decrease (best first); returns the problem or undefined. */
export function checkRankOrder(ranks: number[]): string | undefined {
  if (ranks[0] !== 0) return `must start at 0, got ${JSON.stringify(ranks)}`;
  for (let i = 1; i < ranks.length; i++) {
    if (ranks[i] < ranks[i - 1]) return `must be non-decreasing (best first), got ${JSON.stringify(ranks)}`;
  }
  return undefined;
}

export function checkMetrics(value: unknown, where: Where): Checked<MetricsRecord> {
  const c = begin(value, where);
  if (Array.isArray(c)) return { ok: false, problems: c };
  c.string('stage', { nonEmpty: true });
  c.integer('step', { min: 0 });
  c.number('time');
  c.number('elapsed');
  return c.result();
}

export function checkSamplesMeta(value: unknown, where: Where): Checked<SamplesMeta> {
  const c = begin(value, where);
  if (Array.isArray(c)) return { ok: false, problems: c };
  c.string('model', { nonEmpty: true });
  c.number('temperature');
  c.integer('top_k', { min: 0 });
  c.number('top_p');
  c.integer('max_new_tokens', { min: 1 });
  c.integer('k', { min: 1 });
  c.integer('seed');
  c.string('backend', { nonEmpty: true });
  return c.result();
}

/** Turn a checker into a throwing validator (first problem, named by file, line and field). */
function asserter<T>(check: (v: unknown, w: Where) => Checked<T>): (v: unknown, w: Where) => T {
  return (v, w) => {
    const r = check(v, w);
    if (!r.ok) throw new RecordError(r.problems[0]);
    return r.value;
  };
}

export const assertPrompt = asserter(checkPrompt);
export const assertSft = asserter(checkSft);
export const assertSample = asserter(checkSample);
export const assertRanking = asserter(checkRanking);
export const assertSamplesMeta = asserter(checkSamplesMeta);

/** Dense ranks 0,0,1,2,… from ranks that are only non-decreasing (e.g. 0,0,2,3). */
export function denseRanks(ranks: number[]): number[] {
  const out: number[] = [];
  let r = 0;
  for (let i = 0; i < ranks.length; i++) {
    if (i > 0 && ranks[i] !== ranks[i - 1]) r++;
    out.push(r);
  }
  return out;
}

/**
 * Ranks from scores, best (highest) first: returns the order (indices, best first) and dense
 * ranks in that order; equal scores are tied. Stable: ties keep their input order.
 */
export function rankByScore(scores: number[]): { order: number[]; ranks: number[] } {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const ranks: number[] = [];
  let r = 0;
  order.forEach((idx, pos) => {
    if (pos > 0 && scores[idx] !== scores[order[pos - 1]]) r++;
    ranks.push(r);
  });
  return { order, ranks };
}

/** Number of preference pairs a ranking gives (pairs of different rank). */
export function pairCount(ranks: number[]): number {
  let n = 0;
  for (let i = 0; i < ranks.length; i++) for (let j = i + 1; j < ranks.length; j++) if (ranks[i] !== ranks[j]) n++;
  return n;
}
