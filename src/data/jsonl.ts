/**
 * JSON Lines, streamed.
 *
 * Reading: `readJsonl(file)` goes line by line through readline, so a file of several hundred MB
 * never sits in memory whole. Each line becomes one item with its 1-based line number:
 *   { kind: 'value', line, value }   the line parsed as JSON
 *   { kind: 'error', line, error }   the line is not valid JSON (the parser's message)
 *   { kind: 'blank', line }          the line is empty or only whitespace
 * The caller decides what a blank line means (the ingest counts and skips them).
 *
 * Writing: whole, small files go through `writeJsonlAtomic` (util/fs). Large outputs go through
 * `JsonlWriter`, which streams to a temporary file beside the target and renames it on `close()`,
 * so a crash never leaves a half-written file under the real name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';

export { writeJsonlAtomic } from '../util/fs';

export type JsonlItem =
  | { kind: 'value'; line: number; value: unknown }
  | { kind: 'error'; line: number; error: string }
  | { kind: 'blank'; line: number };

/** Lines of a text file with their 1-based numbers (CRLF and a leading BOM are handled). */
export async function* readLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const input = fs.createReadStream(file, { encoding: 'utf8' });
  // Surface open errors (missing file) as a rejection of the iterator, with the file named.
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', (err) => reject(new Error(`cannot read ${file}: ${err.message}`)));
  });
  await opened;
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of rl) {
      line++;
      yield { line, text: line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw };
    }
  } finally {
    rl.close();
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

/** Stream a JSONL file: one item per line, in order, never the whole file in memory. */
export async function* readJsonl(file: string): AsyncGenerator<JsonlItem> {
  for await (const { line, text } of readLines(file)) yield parseJsonlLine(text, line);
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
    if (item.kind === 'error') throw new Error(`${file}:${item.line}: invalid JSON: ${item.error}`);
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
