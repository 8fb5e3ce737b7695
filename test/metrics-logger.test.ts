import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MetricsLogger, readMetrics } from '../src/metrics/logger';

function tmpFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhf-metrics-'));
  return path.join(dir, 'sub', 'metrics.jsonl');
}

/** A fake clock: starts at 1_700_000_000_000 ms and advances 1500 ms per call after the first. */
function fakeClock(): () => number {
  let t = 1_700_000_000_000 - 1500;
  return () => (t += 1500);
}

test('MetricsLogger writes one JSON object per line with stage, step, time, elapsed', async () => {
  const file = tmpFile();
  const log = new MetricsLogger(file, { stage: 'ppo', clock: fakeClock() });
  // construction read the clock once (start); each log() reads it again: +1.5 s, +3 s
  const r0 = log.log(0, { 'objective/kl': 0.25, note: 'warmup', ok: true, missing: undefined });
  log.log(1, { 'objective/kl': 0.5, none: null });
  log.close();
  assert.equal(r0.elapsed, 1.5);
  assert.equal(log.count, 2);

  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.length, 3); // two lines and the empty string after the final '\n'
  assert.equal(lines[2], '');
  const first = JSON.parse(lines[0]);
  assert.deepEqual(first, {
    stage: 'ppo', step: 0, time: 1_700_000_001.5, elapsed: 1.5, 'objective/kl': 0.25, note: 'warmup', ok: true,
  });

  const got = await readMetrics(file);
  assert.equal(got.records.length, 2);
  assert.equal(got.partialLines, 0);
  assert.equal(got.records[1].elapsed, 3);
  assert.equal(got.records[1]['objective/kl'], 0.5);
  assert.equal(got.records[1].none, null);
  assert.equal('nonfinite' in got.records[1], false);
});

test('non-finite values are written as null + a nonfinite map and restored on read', async () => {
  const file = tmpFile();
  const log = new MetricsLogger(file, { stage: 'rm', clock: fakeClock() });
  const rec = log.log(3, { a: NaN, b: Infinity, c: -Infinity, d: 1 });
  log.close();
  // the returned record carries the real values
  assert.ok(Number.isNaN(rec.a as number));
  assert.equal(rec.b, Infinity);

  const raw = JSON.parse(fs.readFileSync(file, 'utf8').trim());
  assert.equal(raw.a, null);
  assert.equal(raw.b, null);
  assert.deepEqual(raw.nonfinite, { a: 'NaN', b: 'Infinity', c: '-Infinity' });
  assert.equal(raw.d, 1);

  const back = (await readMetrics(file)).records[0];
  assert.ok(Number.isNaN(back.a as number));
  assert.equal(back.b, Infinity);
  assert.equal(back.c, -Infinity);
  assert.equal(back.d, 1);
  const kept = (await readMetrics(file, { restore: false })).records[0];
  assert.equal(kept.a, null);
});

test('bad values and reserved keys are rejected; a closed logger refuses to log', () => {
  const file = tmpFile();
  const log = new MetricsLogger(file, { stage: 'sft' });
  assert.throws(() => log.log(0, { step: 3 }), /"step" is a reserved key/);
  assert.throws(() => log.log(0, { nonfinite: 'x' }), /reserved/);
  assert.throws(() => log.log(0, { x: { y: 1 } as unknown as number }), /"x" must be a number/);
  assert.throws(() => log.log(NaN, { x: 1 }), /step must be a finite number/);
  log.close();
  log.close(); // twice is fine
  assert.throws(() => log.log(1, { x: 1 }), /closed/);
  assert.throws(() => new MetricsLogger(file, { stage: '' }), /stage is required/);
});

test('readMetrics skips and counts a trailing partial line', async () => {
  const file = tmpFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fragment = '{"stage":"ppo","step":2,"objective/kl":0.';
  fs.writeFileSync(
    file,
    '{"stage":"ppo","step":0,"time":1,"elapsed":0}\n{"stage":"ppo","step":1,"time":2,"elapsed":1}\n' + fragment,
  );
  const got = await readMetrics(file);
  assert.deepEqual(got.records.map((r) => r.step), [0, 1]);
  assert.equal(got.partialLines, 1);
  assert.equal(got.partialBytes, Buffer.byteLength(fragment));
  assert.equal(got.lines, 2);

  // a fragment that happens to be valid JSON is still a fragment: no '\n', not complete
  fs.writeFileSync(file, '{"stage":"ppo","step":0}\n{"stage":"ppo","step":1}');
  const g2 = await readMetrics(file);
  assert.equal(g2.records.length, 1);
  assert.equal(g2.partialLines, 1);

  // a file that is only a fragment
  fs.writeFileSync(file, '{"sta');
  const g3 = await readMetrics(file);
  assert.equal(g3.records.length, 0);
  assert.equal(g3.partialLines, 1);

  // empty file
  fs.writeFileSync(file, '');
  assert.deepEqual((await readMetrics(file)).records, []);
});

test('a logger opening a file with a partial last line cuts it off before appending', async () => {
  const file = tmpFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const good = '{"stage":"sft","step":0,"time":1,"elapsed":0}\n';
  fs.writeFileSync(file, good + '{"stage":"sft","st');
  const log = new MetricsLogger(file, { stage: 'sft', clock: fakeClock() });
  assert.equal(log.droppedPartialBytes, Buffer.byteLength('{"stage":"sft","st'));
  log.log(1, { loss: 2 });
  log.close();
  const got = await readMetrics(file);
  // without the cut, step 1 would have been glued onto the fragment into one invalid line
  assert.deepEqual(got.records.map((r) => r.step), [0, 1]);
  assert.equal(got.partialLines, 0);
  assert.ok(fs.readFileSync(file, 'utf8').startsWith(good));
});

test('append mode: successive loggers (stages) share the file; readMetrics can filter by stage', async () => {
  const file = tmpFile();
  const a = new MetricsLogger(file, { stage: 'sft', syncEvery: 1 });
  a.log(0, { loss: 1 });
  a.log(1, { loss: 0.5 });
  a.close();
  const b = new MetricsLogger(file, { stage: 'ppo' });
  assert.equal(b.droppedPartialBytes, 0);
  b.log(0, { 'env/reward_mean': 0.1 });
  b.flush();
  // flushed but still open: a reader sees all three complete lines
  const mid = await readMetrics(file);
  assert.equal(mid.records.length, 3);
  b.close();
  const ppo = await readMetrics(file, { stage: 'ppo' });
  assert.equal(ppo.records.length, 1);
  assert.equal(ppo.records[0]['env/reward_mean'], 0.1);
  assert.equal(ppo.lines, 3);
});

test('a corrupt complete line is an error naming the file and line', async () => {
  const file = tmpFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '{"stage":"x","step":0}\nnot json\n{"stage":"x","step":1}\n');
  await assert.rejects(readMetrics(file), (err: Error) => err.message.includes(`${file}:2`));
  fs.writeFileSync(file, '{"stage":"x","step":0}\n{"stage":"x"}\n');
  await assert.rejects(readMetrics(file), /:2: field "step" must be a number/);
});
