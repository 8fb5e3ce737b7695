/**
 * The preference ingest: any supported input → canonical rankings (notes/FORMATS.md).
 *
 *   const report = await ingestToFile('hh.jsonl', 'rankings.jsonl', { format: 'auto' });
 *
 * Accounting. Every line of the input is one of: blank (empty or whitespace only: counted under
 * `blank` and skipped, never an error, also under --strict), accepted, or rejected with a reason.
 *   lines = blank + read,   read = accepted + rejected.
 * `written` is the number of rankings written (one per accepted record; for samples, one per
 * prompt group). Only the first `keepRejections` rejections are kept in full; the counts by
 * reason always cover all of them.
 *
 * Duplicates. Two records with the same prompt and the same set of completions are
 *   - `duplicate` when they rank them the same way: the first is kept, later ones rejected;
 *   - `contradictory-duplicate` when they rank them differently (e.g. A ≻ B and B ≻ A): all of
 *     them are rejected, since no one label can be trusted over the other.
 * Finding the second kind needs the whole file, so per-record formats read the input twice:
 * pass 1 only records a 16-byte hash per distinct (prompt, completion set) and its first order;
 * pass 2 converts again and decides. Both passes stream; memory grows with the number of
 * distinct records (≈100 bytes each), never with their text.
 *
 * --strict: the first rejection throws an IngestError (file:line: reason: message), and
 * ingestToFile leaves no output behind.
 */
import { createHash } from 'node:crypto';
import { Kind, RankingRecord } from '../records';
import { JsonlWriter, readJsonl } from '../jsonl';
import { DEFAULT_LABELER, LabelerOptions } from '../labeler';
import { FORMAT_NAMES, FormatName, IngestError, RecordFormat, Rejection, RejectReason, isObject } from './types';
import { rankingsFormat } from './rankings';
import { hhRlhfFormat } from './hh-rlhf';
import { summarizeFormat } from './summarize';
import { ratingsFormat } from './ratings';
import { Tally, ingestSamples } from './samples';

export * from './types';
export { splitTranscript } from './hh-rlhf';

export interface IngestOptions {
  /** Input format, or 'auto' (default): detected from the first valid JSON record. */
  format?: FormatName | 'auto';
  /** Fail on the first rejected record. */
  strict?: boolean;
  /** Scripted labeler settings (format samples). */
  labeler?: LabelerOptions;
  /** Ratings: the field holding the score (default: overall_score, rating, score, fine-grained_score). */
  ratingField?: string;
  /** Set `kind` on records that have none (the prompt-aware reward needs it). */
  kind?: Kind;
  /** How many rejections to keep in full in the report (default 100). */
  keepRejections?: number;
}

export interface IngestReport {
  file: string;
  format: FormatName;
  /** Lines in the file. */
  lines: number;
  /** Empty or whitespace-only lines (skipped). */
  blank: number;
  /** Records read (non-blank lines) = accepted + rejected. */
  read: number;
  accepted: number;
  rejected: number;
  /** Rankings written. */
  written: number;
  /** Samples merged into an identical completion of the same prompt (format samples). */
  merged: number;
  byReason: Partial<Record<RejectReason, number>>;
  /** The first `keepRejections` rejections, in file order (group rejections of samples last). */
  rejections: Rejection[];
  labeler?: LabelerOptions;
}

export function recordFormat(name: Exclude<FormatName, 'samples'>, opts: IngestOptions = {}): RecordFormat {
  switch (name) {
    case 'rankings':
      return rankingsFormat;
    case 'hh-rlhf':
      return hhRlhfFormat;
    case 'summarize':
      return summarizeFormat;
    case 'ratings':
      return ratingsFormat({ ratingField: opts.ratingField });
  }
}

/** Which format an object looks like (samples first: its lines also have a prompt). */
export function formatOf(v: Record<string, unknown>): FormatName | undefined {
  if (typeof v.completion === 'string' && v.prompt_id !== undefined) return 'samples';
  for (const name of ['rankings', 'hh-rlhf', 'summarize', 'ratings'] as const) if (recordFormat(name).looksLike(v)) return name;
  return undefined;
}

/** Detect the format from the first line that parses as a JSON object. */
export async function detectFormat(file: string): Promise<{ format: FormatName; line: number }> {
  for await (const item of readJsonl(file)) {
    if (item.kind !== 'value' || !isObject(item.value)) continue;
    const f = formatOf(item.value);
    if (f) return { format: f, line: item.line };
    const keys = Object.keys(item.value).slice(0, 12).join(', ');
    throw new Error(
      `${file}:${item.line}: cannot detect the input format: the first JSON record has fields {${keys}}; ` +
        `pass --format (${FORMAT_NAMES.join(', ')})`,
    );
  }
  throw new Error(`${file}: cannot detect the input format: no line is a JSON object`);
}

// --------------------------------------------------------------------------------- accounting

class Counter implements Tally {
  readonly report: IngestReport;
  constructor(
    file: string,
    format: FormatName,
    private strict: boolean,
    private keep: number,
  ) {
    this.report = { file, format, lines: 0, blank: 0, read: 0, accepted: 0, rejected: 0, written: 0, merged: 0, byReason: {}, rejections: [] };
  }
  blank(): void {
    this.report.blank++;
  }
  read(): void {
    this.report.read++;
  }
  accept(n = 1): void {
    this.report.accepted += n;
  }
  merged(n: number): void {
    this.report.merged += n;
  }
  reject(r: Rejection): void {
    if (this.strict) throw new IngestError(r);
    this.report.rejected++;
    this.report.byReason[r.reason] = (this.report.byReason[r.reason] ?? 0) + 1;
    if (this.report.rejections.length < this.keep) this.report.rejections.push(r);
  }
}

// ---------------------------------------------------------------------------- duplicate keys

function hash(parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('base64').slice(0, 22);
}

/** Key = (prompt, set of completions); signature = the ranks in a canonical completion order. */
function keyOf(r: { prompt: string; completions: string[]; ranks: number[] }): { key: string; sig: string } {
  const idx = r.completions.map((_, i) => i).sort((a, b) => (r.completions[a] < r.completions[b] ? -1 : r.completions[a] > r.completions[b] ? 1 : 0));
  return { key: hash([r.prompt, ...idx.map((i) => r.completions[i])]), sig: idx.map((i) => r.ranks[i]).join(',') };
}

interface KeyInfo {
  first: number;
  sig: string;
  /** First line whose order disagrees with `first`'s, if any. */
  conflict?: number;
}

/** Pass 1: the first occurrence and order of every (prompt, completion set). */
async function scanKeys(file: string, fmt: RecordFormat, strict: boolean): Promise<Map<string, KeyInfo>> {
  const keys = new Map<string, KeyInfo>();
  for await (const item of readJsonl(file)) {
    if (item.kind === 'blank') continue;
    if (item.kind === 'error') {
      if (strict) break; // pass 2 fails here anyway
      continue;
    }
    const res = fmt.convert(item.value, { file, line: item.line });
    if (!res.ok) {
      if (strict) break;
      continue;
    }
    const { key, sig } = keyOf(res.record);
    const info = keys.get(key);
    if (!info) keys.set(key, { first: item.line, sig });
    else if (info.sig !== sig && info.conflict === undefined) info.conflict = item.line;
  }
  return keys;
}

// ------------------------------------------------------------------------------------ driver

async function ingestRecords(
  file: string,
  fmt: RecordFormat,
  opts: IngestOptions,
  tally: Counter,
  emit: (r: RankingRecord) => void | Promise<void>,
): Promise<void> {
  const keys = await scanKeys(file, fmt, !!opts.strict);
  const ids = new Set<string>();
  for await (const item of readJsonl(file)) {
    if (item.kind === 'blank') {
      tally.blank();
      continue;
    }
    tally.read();
    const where = { file, line: item.line };
    if (item.kind === 'error') {
      tally.reject({ ...where, reason: item.reason ?? 'invalid-json', message: item.error });
      continue;
    }
    const res = fmt.convert(item.value, where);
    if (!res.ok) {
      tally.reject({ ...where, reason: res.reason, ...(res.field ? { field: res.field } : {}), message: res.message });
      continue;
    }
    const rec = res.record;
    const { key } = keyOf(rec);
    const info = keys.get(key);
    if (!info) throw new Error(`internal: ${file}:${item.line} was not seen in the first pass (did the file change while reading?)`);
    if (info.conflict !== undefined) {
      const other = item.line === info.first ? info.conflict : info.first;
      tally.reject({ ...where, reason: 'contradictory-duplicate', field: 'ranks', message: `same prompt and completions ranked differently at line ${other}` });
      continue;
    }
    if (info.first !== item.line) {
      tally.reject({ ...where, reason: 'duplicate', message: `same prompt, completions and order as line ${info.first}` });
      continue;
    }
    // Formats without ids get a content hash (unique, since exact duplicates were rejected);
    // ids given in the input must be unique among accepted records.
    const id = rec.id ?? `${fmt.name}-${hash([rec.prompt, ...rec.completions, rec.ranks.join(',')]).replace(/[+/]/g, '_').slice(0, 16)}`;
    if (rec.id !== undefined) {
      if (ids.has(id)) {
        tally.reject({ ...where, reason: 'duplicate-id', field: 'id', message: `id ${JSON.stringify(id)} was already used by an accepted record` });
        continue;
      }
      ids.add(id);
    }
    tally.accept();
    const kind = rec.kind ?? opts.kind;
    const out: RankingRecord = {
      id,
      ...(rec.prompt_id !== undefined ? { prompt_id: rec.prompt_id } : {}),
      prompt: rec.prompt,
      ...(kind !== undefined ? { kind } : {}),
      ...(rec.task !== undefined ? { task: rec.task } : {}),
      completions: rec.completions,
      ranks: rec.ranks,
      source: rec.source ?? { format: fmt.name, file, line: item.line },
      ...(rec.meta !== undefined ? { meta: rec.meta } : {}),
    };
    await emit(out);
  }
}

/** Ingest `file`, handing every accepted ranking to `emit` in order; returns the counts. */
export async function ingest(file: string, opts: IngestOptions, emit: (r: RankingRecord) => void | Promise<void>): Promise<IngestReport> {
  const format = !opts.format || opts.format === 'auto' ? (await detectFormat(file)).format : opts.format;
  if (!(FORMAT_NAMES as readonly string[]).includes(format)) throw new Error(`unknown format ${JSON.stringify(format)} (known: ${FORMAT_NAMES.join(', ')})`);
  const tally = new Counter(file, format, !!opts.strict, opts.keepRejections ?? 100);
  const counted = async (r: RankingRecord): Promise<void> => {
    tally.report.written++;
    await emit(r);
  };
  if (format === 'samples') {
    const labeler = opts.labeler ?? DEFAULT_LABELER;
    tally.report.labeler = labeler;
    await ingestSamples(file, labeler, tally, counted);
  } else {
    await ingestRecords(file, recordFormat(format, opts), opts, tally, counted);
  }
  const r = tally.report;
  r.lines = r.blank + r.read;
  if (r.accepted + r.rejected !== r.read) throw new Error(`internal: ${file}: accepted ${r.accepted} + rejected ${r.rejected} != read ${r.read}`);
  return r;
}

/** Ingest into memory (tests, small files). */
export async function ingestToArray(file: string, opts: IngestOptions = {}): Promise<{ report: IngestReport; records: RankingRecord[] }> {
  const records: RankingRecord[] = [];
  const report = await ingest(file, opts, (r) => {
    records.push(r);
  });
  return { report, records };
}

/** Ingest and write the rankings to `out` atomically (streamed; nothing is written on failure). */
export async function ingestToFile(file: string, out: string, opts: IngestOptions = {}): Promise<IngestReport> {
  const writer = new JsonlWriter(out);
  try {
    const report = await ingest(file, opts, (r) => writer.write(r));
    await writer.close();
    return report;
  } catch (err) {
    writer.abort();
    throw err;
  }
}
