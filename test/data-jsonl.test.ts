import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JsonlWriter, MAX_LINE_BYTES, readJsonl, readJsonlStrict, readLines, toJsonl } from '../src/data/jsonl';
import { assertRanking, assertSample, checkRanking, checkSft, denseRanks, rankByScore } from '../src/data/records';
import { tmpDir } from './helpers';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('JSONL reader', () => {
  it('yields values, errors and blanks with 1-based line numbers (BOM and CRLF handled)', async () => {
    const f = path.join(tmpDir(), 'a.jsonl');
    fs.writeFileSync(f, '\uFEFF{"a":1}\r\n\r\n  \n{bad json\n[2,3]\n"x"');
    const items = await collect(readJsonl(f));
    assert.equal(items.length, 6);
    assert.deepEqual(items[0], { kind: 'value', line: 1, value: { a: 1 } });
    assert.deepEqual(items[1], { kind: 'blank', line: 2 });
    assert.deepEqual(items[2], { kind: 'blank', line: 3 });
    assert.equal(items[3].kind, 'error');
    assert.equal(items[3].line, 4);
    assert.deepEqual(items[4], { kind: 'value', line: 5, value: [2, 3] });
    assert.deepEqual(items[5], { kind: 'value', line: 6, value: 'x' });
  });

  it('streams a file of many lines in order', async () => {
    const f = path.join(tmpDir(), 'big.jsonl');
    const n = 50_000;
    const fd = fs.openSync(f, 'w');
    for (let i = 0; i < n; i++) fs.writeSync(fd, `{"i":${i},"pad":"${'x'.repeat(40)}"}\n`);
    fs.closeSync(fd);
    let count = 0;
    for await (const item of readJsonl(f)) {
      assert.equal(item.kind, 'value');
      if (item.kind === 'value') assert.equal((item.value as { i: number }).i, count);
      count++;
      assert.equal(item.line, count);
    }
    assert.equal(count, n);
  });

  it('names the missing file', async () => {
    await assert.rejects(collect(readJsonl('/nonexistent/x.jsonl')), /nonexistent\/x\.jsonl/);
  });

  it('readJsonlStrict fails with file:line on invalid JSON and on invalid records', async () => {
    const d = tmpDir();
    const f = path.join(d, 's.jsonl');
    fs.writeFileSync(f, '{"id":"a"}\n{oops\n');
    await assert.rejects(readJsonlStrict(f), (e: Error) => e.message.startsWith(`${f}:2: invalid JSON`));
    const g = path.join(d, 'r.jsonl');
    fs.writeFileSync(g, `${JSON.stringify({ id: 'r', prompt: 'p', completions: ['a', 'b'], ranks: [0, 1], source: { format: 'x', file: 'f', line: 1 } })}\n{"id":"r2","prompt":"p","completions":["a","b"],"ranks":[1,0],"source":{"format":"x","file":"f","line":2}}\n`);
    await assert.rejects(readJsonlStrict(g, assertRanking), (e: Error) => e.message === `${g}:2: field "ranks": must start at 0, got [1,0]`);
  });
});

describe('JSONL reader: line length is bounded', () => {
  /** A file whose line 2 is `{"id":"big","pad":"xxx…"}` of exactly `bytes` bytes, between two short lines. */
  function withLongLine(bytes: number): string {
    const f = path.join(tmpDir('rlhf-longline-'), 'long.jsonl');
    const head = '{"id":"big","pad":"';
    const fd = fs.openSync(f, 'w');
    fs.writeSync(fd, '{"id":"a"}\n' + head);
    const chunk = Buffer.alloc(1 << 20, 'x');
    let left = bytes - head.length - 2;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      fs.writeSync(fd, chunk, 0, n);
      left -= n;
    }
    fs.writeSync(fd, '"}\n{"id":"c"}\n');
    fs.closeSync(fd);
    return f;
  }

  it('a line over MAX_LINE_BYTES is an error item with its line number and length; the next line is read', async () => {
    const bytes = MAX_LINE_BYTES + 1000;
    const items = await collect(readJsonl(withLongLine(bytes)));
    assert.deepEqual(items.map((i) => [i.line, i.kind]), [[1, 'value'], [2, 'error'], [3, 'value']]);
    const bad = items[1];
    assert.ok(bad.kind === 'error');
    assert.equal(bad.reason, 'line-too-long');
    assert.match(bad.error, new RegExp(`^the line is ${bytes} bytes .* over the limit of ${MAX_LINE_BYTES} bytes`));
    assert.deepEqual(items[2], { kind: 'value', line: 3, value: { id: 'c' } });
  });

  it('readJsonlStrict names file:line of an over-long line', async () => {
    const f = withLongLine(MAX_LINE_BYTES + 1);
    await assert.rejects(readJsonlStrict(f), (e: Error) => e.message.startsWith(`${f}:2: line too long: the line is ${MAX_LINE_BYTES + 1} bytes`));
  });

  it('the limit is exact (bytes, not characters), and a line at the limit is read whole', async () => {
    const f = path.join(tmpDir(), 'edge.jsonl');
    fs.writeFileSync(f, `"${'ü'.repeat(4)}"\n"${'ü'.repeat(4)}x"\n"abcdefghi"`); // 10, 11 and 11 bytes
    const lines = await collect(readLines(f, { maxLineBytes: 10 }));
    assert.deepEqual(lines[0], { line: 1, text: `"${'ü'.repeat(4)}"` });
    assert.deepEqual(lines[1], { line: 2, text: '', tooLong: { bytes: 11, limit: 10 } });
    assert.deepEqual(lines[2], { line: 3, text: '', tooLong: { bytes: 11, limit: 10 } }, 'a last line without a newline counts too');
  });

  it('line ends and characters split across read chunks (1 MiB) are joined correctly', async () => {
    const f = path.join(tmpDir(), 'chunks.jsonl');
    const MiB = 1 << 20;
    // "\r" is the last byte of the first chunk and "\n" the first of the second: one line end, not two.
    const first = 'a'.repeat(MiB - 1);
    // A two-byte "ü" straddles the second chunk boundary.
    const second = 'b'.repeat(MiB - 2) + 'ü' + 'c'; // starts at byte MiB + 1, so 'ü' takes bytes 2 MiB − 1 and 2 MiB
    fs.writeFileSync(f, `${first}\r\n${second}\rlast\r`);
    const lines = await collect(readLines(f));
    assert.deepEqual(lines.map((l) => [l.line, l.text.length]), [[1, MiB - 1], [2, MiB], [3, 4]]);
    assert.equal(lines[1].text.slice(-2), 'üc');
    assert.equal(lines[2].text, 'last');
  });
});

describe('JsonlWriter', () => {
  it('writes atomically: nothing under the real name until close, then all of it', async () => {
    const d = tmpDir();
    const f = path.join(d, 'out.jsonl');
    const w = new JsonlWriter(f);
    for (let i = 0; i < 1000; i++) await w.write({ i });
    assert.equal(fs.existsSync(f), false);
    await w.close();
    const lines = fs.readFileSync(f, 'utf8').trim().split('\n');
    assert.equal(lines.length, 1000);
    assert.deepEqual(JSON.parse(lines[999]), { i: 999 });
    assert.deepEqual(fs.readdirSync(d), ['out.jsonl']);
  });

  it('abort leaves the target untouched and no temporary file', async () => {
    const d = tmpDir();
    const f = path.join(d, 'out.jsonl');
    fs.writeFileSync(f, 'old\n');
    const w = new JsonlWriter(f);
    await w.write({ a: 1 });
    w.abort();
    assert.equal(fs.readFileSync(f, 'utf8'), 'old\n');
    assert.deepEqual(fs.readdirSync(d), ['out.jsonl']);
  });

  it('toJsonl ends with a newline, and is empty for no records', () => {
    assert.equal(toJsonl([{ a: 1 }, { b: 2 }]), '{"a":1}\n{"b":2}\n');
    assert.equal(toJsonl([]), '');
  });
});

describe('record validators', () => {
  const where = { file: 'x.jsonl', line: 7 };
  it('name file, line and field', () => {
    const r = checkSft({ id: 's', prompt_id: 'p', prompt: 'q\n', response: 3, kind: 'open', task: 't' }, where);
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual(r.problems, [{ file: 'x.jsonl', line: 7, field: 'response', message: 'expected a string, got number' }]);
    assert.throws(
      () => assertSample({ id: 's', prompt_id: 'p', prompt: 'q', kind: 'open', task: 't', sample_index: 0, completion: 'a', token_ids: [1, 2], logprobs: [0], entropies: [0, 0], finished: true }, where),
      { message: 'x.jsonl:7: field "logprobs": expected 2 values (one per token), got 1' },
    );
  });

  it('rankings: identical and empty completions, rank order, kind', () => {
    const base = { id: 'r', prompt: 'p', completions: ['a', 'b', 'c'], ranks: [0, 0, 2], source: { format: 'f', file: 'f', line: 1 } };
    assert.equal(checkRanking(base, where).ok, true);
    const fields = (v: unknown): string[] => {
      const r = checkRanking(v, where);
      return r.ok ? [] : r.problems.map((p) => p.field);
    };
    assert.deepEqual(fields({ ...base, completions: ['a', 'a', 'c'] }), ['completions[1]']);
    assert.deepEqual(fields({ ...base, completions: ['a', ' ', 'c'] }), ['completions[1]']);
    assert.deepEqual(fields({ ...base, ranks: [0, 2, 1] }), ['ranks']);
    assert.deepEqual(fields({ ...base, ranks: [0, 1] }), ['ranks']);
    assert.deepEqual(fields({ ...base, kind: 'maybe' }), ['kind']);
    assert.deepEqual(fields({ ...base, source: undefined }), ['source']);
    assert.deepEqual(fields([1, 2]), ['(record)']);
  });

  it('dense ranks and ranking by score (ties equal, best first)', () => {
    assert.deepEqual(denseRanks([0, 0, 2, 3, 3]), [0, 0, 1, 2, 2]);
    assert.deepEqual(rankByScore([1, 3, 2, 3]), { order: [1, 3, 2, 0], ranks: [0, 0, 1, 2] });
  });
});
