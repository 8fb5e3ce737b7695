/** Crash-safe file writing: a temporary file in the same directory, fsync, then rename. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new Error(`could not write ${file}: ${(err as Error).message}`);
  }
}

/** JSON with a trailing newline, atomically. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** JSON Lines, atomically (the whole file at once; for streams use util/jsonl). */
export function writeJsonlAtomic(file: string, records: Iterable<unknown>): void {
  const parts: string[] = [];
  for (const r of records) parts.push(JSON.stringify(r));
  writeFileAtomic(file, parts.length ? `${parts.join('\n')}\n` : '');
}
