/**
 * JSON Lines, streamed.
 *
 * Reading: `readJsonl(file)` goes line by line over a byte stream, so a file of several hundred MB
 * never sits in memory whole, and no line longer than MAX_LINE_BYTES is ever buffered. Each line
 * becomes one item with its 1-based line number:
 *   { kind: 'value', line, value }   the line parsed as JSON
 *   { kind: 'error', line, error }   the line is not valid JSON (the parser's message), or it is
 *                                    longer than the limit (reason: 'line-too-long')
 *   { kind: 'blank', line }          the line is empty or only whitespace
 * The caller decides what a blank line means (the ingest counts and skips them).
 *
 * Writing: whole, small files go through `writeJsonlAtomic` (util/fs). Large outputs go through
 * `JsonlWriter`, which streams to a temporary file beside the target and renames it on `close()`,
 * so a crash never leaves a half-written file under the real name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export { writeJsonlAtomic } from '../util/fs';

export type JsonlItem =
  | { kind: 'value'; line: number; value: unknown }
  | { kind: 'error'; line: number; error: string; reason?: 'line-too-long' }
  | { kind: 'blank'; line: number };

/** The message of an over-long line (no "file:line:" prefix: the caller adds it, as for bad JSON). */
export function lineTooLongMessage(t: { bytes: number; limit: number }): string {
  const mib = (b: number) => (b / 2 ** 20).toFixed(b < 2 ** 20 ? 3 : 1);
  return `the line is ${t.bytes} bytes (${mib(t.bytes)} MiB) long, over the limit of ${t.limit} bytes (${mib(t.limit)} MiB); it was skipped without being read into memory (is a newline missing?)`;
}

/**
 * The longest line a reader accepts, in bytes (16 MiB). Real records are far shorter (an hh-rlhf
 * dialogue is a few KB, a samples.jsonl line with token ids, log-probs and entropies of a long
 * completion some 100 KB); a longer line is almost surely a broken file (a missing newline, a
 * binary file). It is rejected with file:line like any other bad record, and it is never held in
 * memory: its bytes are counted and dropped as they stream past, so a 600 MB line costs no more
 * memory than a short one (and no V8 "Invalid string length" crash).
 */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** One line of a text file: its text, or, when it is longer than the limit, only its length. */
export type TextLine = { line: number; text: string; tooLong?: undefined } | { line: number; text: ''; tooLong: { bytes: number; limit: number } };

export interface ReadLinesOptions {
  /** Longest line accepted, in bytes (default MAX_LINE_BYTES). */
  maxLineBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Lines of a text file with their 1-based numbers, streamed from bytes. Line ends are "\n",
 * "\r\n" and a lone "\r" (as node:readline splits them); a leading BOM is dropped. A line longer
 * than `maxLineBytes` comes back as `{ text: '', tooLong: { bytes, limit } }` and its bytes are
 * skipped, not buffered. Each line is decoded as UTF-8 once it is complete, so a character split
 * across two chunks of the stream is decoded whole.
 */
export async function* readLines(file: string, opts: ReadLinesOptions = {}): AsyncGenerator<TextLine> {
  const limit = opts.maxLineBytes ?? MAX_LINE_BYTES;
  const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  // Surface open errors (missing file) as a rejection of the iterator, with the file named.
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', (err) => reject(new Error(`cannot read ${file}: ${err.message}`)));
  });
  await opened;
  let line = 0;
  let parts: Buffer[] = []; // the current line's bytes so far (only while it is within the limit)
  let bytes = 0; // the current line's length so far
  let afterCR = false; // the previous chunk ended with "\r": a "\n" starting this one belongs to it
  const finish = (): TextLine => {
    line++;
    let out: TextLine;
    if (bytes > limit) out = { line, text: '', tooLong: { bytes, limit } };
    else {
      let text = parts.length === 1 ? parts[0].toString('utf8') : Buffer.concat(parts, bytes).toString('utf8');
      if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      out = { line, text };
    }
    parts = [];
    bytes = 0;
    return out;
  };
  const take = (chunk: Buffer, from: number, to: number): void => {
    const n = to - from;
    if (n <= 0) return;
    // Past the limit the bytes are only counted; what was kept of the line is let go at once.
    if (bytes + n > limit) parts = [];
    else parts.push(chunk.subarray(from, to));
    bytes += n;
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let p = 0;
      if (afterCR) {
        afterCR = false;
        if (chunk[0] === LF) p = 1;
      }
      while (p < chunk.length) {
        const lf = chunk.indexOf(LF, p);
        const cr = chunk.indexOf(CR, p);
        const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
        if (end < 0) {
          take(chunk, p, chunk.length);
          break;
        }
        take(chunk, p, end);
        yield finish();
        p = end + 1;
        if (chunk[end] === CR) {
          if (p < chunk.length) {
            if (chunk[p] === LF) p++;
          } else afterCR = true;
        }
      }
    }
    // A last line without a line end.
    if (bytes > 0) yield finish();
  } finally {
    input.destroy();
  }
}

/** Parse one JSONL line (already split). */
export function parseJsonlLine(text: string, line: number): JsonlItem {
  if (text.trim() === '') return { kind: 'blank', line };
  try {
    return { kind: 'value', line, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { kind: 'error', line, error: (err as Error).message };
  }
}

/** Stream a JSONL file: one item per line, in order, never the whole file (or an over-long line) in memory. */
export async function* readJsonl(file: string, opts: ReadLinesOptions = {}): AsyncGenerator<JsonlItem> {
  for await (const l of readLines(file, opts)) {
    if (l.tooLong) yield { kind: 'error', line: l.line, error: lineTooLongMessage(l.tooLong), reason: 'line-too-long' };
    else yield parseJsonlLine(l.text, l.line);
  }
}

/**
 * Read a whole (small) JSONL file into memory, failing on the first bad line with file:line.
 * For artifacts this project wrote itself (prompts, sft, small rankings); big inputs use readJsonl.
 * Blank lines are skipped.
 */
export async function readJsonlStrict<T = unknown>(
  file: string,
  validate?: (value: unknown, where: { file: string; line: number }) => T,
): Promise<T[]> {
  const out: T[] = [];
  for await (const item of readJsonl(file)) {
    if (item.kind === 'blank') continue;
    if (item.kind === 'error') throw new Error(`${file}:${item.line}: ${item.reason === 'line-too-long' ? 'line too long' : 'invalid JSON'}: ${item.error}`);
    out.push(validate ? validate(item.value, { file, line: item.line }) : (item.value as T));
  }
  return out;
}

/** Serialise records as JSONL text (a trailing newline when non-empty). */
export function toJsonl(records: Iterable<unknown>): string {
  const parts: string[] = [];
  for (const r of records) parts.push(JSON.stringify(r));
  return parts.length ? `${parts.join('\n')}\n` : '';
}

/**
 * A streaming, atomic JSONL writer: records go to `.<name>.<pid>.<time>.tmp` in the target's
 * directory; `close()` flushes, fsyncs and renames it to the target; `abort()` removes it.
 */
export class JsonlWriter {
  readonly file: string;
  readonly tmp: string;
  private stream: fs.WriteStream;
  private failed: Error | undefined;
  count = 0;

  constructor(file: string) {
    this.file = file;
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true });
    this.tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
    this.stream = fs.createWriteStream(this.tmp, { encoding: 'utf8' });
    this.stream.on('error', (err) => {
      this.failed = err;
    });
  }

  /** Append one record; waits when the stream's buffer is full (backpressure). */
  async write(record: unknown): Promise<void> {
    if (this.failed) throw new Error(`could not write ${this.file}: ${this.failed.message}`);
    this.count++;
    if (!this.stream.write(`${JSON.stringify(record)}\n`)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          this.stream.off('error', onError);
          resolve();
        };
        const onError = (err: Error): void => {
          this.stream.off('drain', onDrain);
          reject(new Error(`could not write ${this.file}: ${err.message}`));
        };
        this.stream.once('drain', onDrain);
        this.stream.once('error', onError);
      });
    }
  }

  /** Finish: flush, fsync, rename onto the target. */
  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    }).catch((err: Error) => {
      this.abort();
      throw new Error(`could not write ${this.file}: ${err.message}`);
    });
    if (this.failed) {
      this.abort();
      throw new Error(`could not write ${this.file}: ${this.failed.message}`);
    }
    const fd = fs.openSync(this.tmp, 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(this.tmp, this.file);
  }

  /** Give up: remove the temporary file, leave the target untouched. */
  abort(): void {
    this.stream.destroy();
    fs.rmSync(this.tmp, { force: true });
  }
}
