import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JsonlWriter, readJsonl, readJsonlStrict, toJsonl } from '../src/data/jsonl';
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
