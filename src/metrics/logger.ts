/**
 * metrics.jsonl: one JSON object per line, { stage, step, time, elapsed, ...values }.
 *
 * Crash safety. The file is opened in append mode (O_APPEND: every write goes to the current end),
 * and each record is ONE write of the whole line including its '\n'. A line is therefore complete
 * exactly when it ends with '\n'; a crash can at worst leave a final fragment without one, which
 * `readMetrics` skips and counts. When a logger opens a file whose last line is such a fragment
 * (the previous run died mid-write), it truncates the fragment first, so that the next record is
 * not glued onto it (so: one live writer per file; loggers of successive stages may share a file).
 * Data are fsync'ed at flush() and close() (and every `syncEvery` records if
 * set), so after flush() returns the lines are on disk.
 *
 * Non-finite numbers. JSON has no NaN or Infinity. A value that is NaN, Infinity or −Infinity is
 * written as null and its name is listed in a `nonfinite` object with the original spelled out,
 * e.g. {"objective/kl": null, "nonfinite": {"objective/kl": "Infinity"}}. readMetrics restores
 * the numbers, so a log round-trips; other readers see null (a missing point) rather than a
 * made-up number. A value that is null on purpose stays null and is not listed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';

export type MetricValue = number | string | boolean | null;

export interface MetricsRecord {
  stage: string;
  step: number;
  /** Unix time in seconds. */
  time: number;
  /** Seconds since the stage started (since the logger was created, or `startTime`). */
  elapsed: number;
  [name: string]: MetricValue | Record<string, string> | undefined;
}

/** Keys the logger writes itself; a value may not use them. */
export const RESERVED_KEYS = ['stage', 'step', 'time', 'elapsed', 'nonfinite'] as const;

export interface MetricsLoggerOptions {
  /** Stage name written on every line (e.g. "sft", "ppo"). */
  stage: string;
  /** Stage start, Unix ms (default: now). A resumed stage passes its original start. */
  startTime?: number;
  /** fsync after every `syncEvery` records (default 0: only at flush/close). */
  syncEvery?: number;
  /** Clock in Unix ms (default Date.now), for tests. */
  clock?: () => number;
}

export class MetricsLogger {
  readonly file: string;
  readonly stage: string;
  /** Bytes of a trailing partial line found (and removed) when the file was opened. */
  readonly droppedPartialBytes: number;
  private fd: number | undefined;
  private readonly start: number;
  private readonly clock: () => number;
  private readonly syncEvery: number;
  private unsynced = 0;
  private written = 0;

  constructor(file: string, opts: MetricsLoggerOptions) {
    if (!opts.stage) throw new Error('MetricsLogger: stage is required');
    this.file = file;
    this.stage = opts.stage;
    this.clock = opts.clock ?? Date.now;
    this.start = opts.startTime ?? this.clock();
    this.syncEvery = opts.syncEvery ?? 0;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.droppedPartialBytes = truncatePartialLine(file);
    this.fd = fs.openSync(file, 'a');
  }

  /** Records written by this logger. */
  get count(): number {
    return this.written;
  }

  /**
   * Append one record. `values` are flat: numbers (NaN/±Infinity allowed, see the file comment),
   * strings, booleans or null; `undefined` values are left out. Returns the record as written.
   */
  log(step: number, values: Record<string, MetricValue | undefined>): MetricsRecord {
    if (this.fd === undefined) throw new Error(`MetricsLogger: ${this.file} is closed`);
    if (!Number.isFinite(step)) throw new Error(`MetricsLogger: step must be a finite number, got ${step}`);
    const now = this.clock();
    const rec: MetricsRecord = {
      stage: this.stage,
      step,
      time: now / 1000,
      elapsed: (now - this.start) / 1000,
    };
    const nonfinite: Record<string, string> = {};
    for (const [k, v] of Object.entries(values)) {
      if ((RESERVED_KEYS as readonly string[]).includes(k)) throw new Error(`MetricsLogger: "${k}" is a reserved key`);
      if (v === undefined) continue;
      if (typeof v === 'number' && !Number.isFinite(v)) {
        rec[k] = null;
        nonfinite[k] = String(v); // "NaN" | "Infinity" | "-Infinity"
      } else if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') {
        rec[k] = v;
      } else {
        throw new Error(`MetricsLogger: value "${k}" must be a number, string, boolean or null, got ${typeof v}`);
      }
    }
    const out: MetricsRecord = Object.keys(nonfinite).length ? { ...rec, nonfinite } : rec;
    writeAll(this.fd, Buffer.from(`${JSON.stringify(out)}\n`, 'utf8'));
    this.written++;
    this.unsynced++;
    if (this.syncEvery > 0 && this.unsynced >= this.syncEvery) this.flush();
    return restoreNonfinite({ ...out });
  }

  /** fsync: after this returns, every record written so far is on disk. */
  flush(): void {
    if (this.fd === undefined || this.unsynced === 0) return;
    fs.fsyncSync(this.fd);
    this.unsynced = 0;
  }

  /** Flush and close; further log() calls throw. Safe to call twice. */
  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** One write of the whole buffer; loops only if the OS reports a short write. */
function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/** If `file` ends with a line without '\n', cut it off; returns the bytes removed (0 if none). */
function truncatePartialLine(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return 0;
    // Scan backwards in chunks for the last '\n'.
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const len = Math.min(chunk.length, end);
      fs.readSync(fd, chunk, 0, len, end - len);
      const k = chunk.subarray(0, len).lastIndexOf(0x0a);
      if (k >= 0) {
        const keep = end - len + k + 1;
        if (keep < size) {
          fs.ftruncateSync(fd, keep);
          fs.fsyncSync(fd);
        }
        return size - keep;
      }
      end -= len;
    }
    fs.ftruncateSync(fd, 0); // no newline at all: the whole file is one fragment
    fs.fsyncSync(fd);
    return size;
  } finally {
    fs.closeSync(fd);
  }
}

function restoreNonfinite(rec: MetricsRecord): MetricsRecord {
  const nf = rec.nonfinite;
  if (nf && typeof nf === 'object') {
    for (const [k, s] of Object.entries(nf)) {
      if (s === 'NaN') rec[k] = NaN;
      else if (s === 'Infinity') rec[k] = Infinity;
      else if (s === '-Infinity') rec[k] = -Infinity;
    }
  }
  return rec;
}

export interface ReadMetricsResult {
  records: MetricsRecord[];
  /** Complete lines read (records, blank lines, and lines left out by the stage filter). */
  lines: number;
  /** A final line without '\n' (a write cut short by a crash): skipped, counted here. */
  partialLines: number;
  partialBytes: number;
}

/**
 * Stream a metrics.jsonl file line by line. Only complete lines (ending in '\n') are parsed: the file
 * is read up to the size it has when reading starts, and a final fragment is skipped and counted.
 * Values listed in `nonfinite` are restored to NaN/±Infinity (`restore: false` keeps the nulls).
 * A complete line that is not a JSON object with string `stage` and numeric `step` is an error
 * naming the file and line. `stage` keeps only that stage's records.
 */
export async function readMetrics(
  file: string,
  opts: { stage?: string; restore?: boolean } = {},
): Promise<ReadMetricsResult> {
  const restore = opts.restore ?? true;
  const size = fs.statSync(file).size;
  const result: ReadMetricsResult = { records: [], lines: 0, partialLines: 0, partialBytes: 0 };
  if (size === 0) return result;

  // Is the last byte a newline? If not, the last line is a fragment.
  const fd = fs.openSync(file, 'r');
  const last = Buffer.alloc(1);
  try {
    fs.readSync(fd, last, 0, 1, size - 1);
  } finally {
    fs.closeSync(fd);
  }
  const endsComplete = last[0] === 0x0a;

  const stream = fs.createReadStream(file, { start: 0, end: size - 1 });
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  let pending: string | undefined; // hold one line back: the last may be a fragment
  const handle = (line: string, no: number): void => {
    result.lines++;
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      throw new Error(`${file}:${no}: not valid JSON (${(err as Error).message})`);
    }
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) throw new Error(`${file}:${no}: not a JSON object`);
    const r = rec as MetricsRecord;
    if (typeof r.stage !== 'string') throw new Error(`${file}:${no}: field "stage" must be a string`);
    if (typeof r.step !== 'number') throw new Error(`${file}:${no}: field "step" must be a number`);
    if (opts.stage !== undefined && r.stage !== opts.stage) return;
    result.records.push(restore ? restoreNonfinite(r) : r);
  };
  for await (const line of rl) {
    if (pending !== undefined) handle(pending, lineNo);
    pending = line;
    lineNo++;
  }
  if (pending !== undefined) {
    if (endsComplete) handle(pending, lineNo);
    else {
      result.partialLines = 1;
      result.partialBytes = Buffer.byteLength(pending, 'utf8');
    }
  }
  return result;
}
