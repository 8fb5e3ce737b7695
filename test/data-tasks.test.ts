import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeData, DEFAULT_DATA_SEED } from '../src/data/make';
import { arithmeticSplit, buildTaskSuite, NUMBER_PROMPTS_HELDOUT, TASK_KIND, TaskName } from '../src/data/tasks';
import { assertPrompt, assertSft } from '../src/data/records';
import { qualityOf } from '../src/data/quality';
import { ROOT, builtCli, runCli, tmpDir } from './helpers';

function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

describe('rlhf data make', () => {
  it('is deterministic: the same seed gives the same bytes, another seed other bytes', () => {
    const a = tmpDir();
    const b = tmpDir();
    const c = tmpDir();
    makeData({ outDir: a, seed: 5 });
    makeData({ outDir: b, seed: 5 });
    makeData({ outDir: c, seed: 6 });
    const fa = filesOf(a);
    const fb = filesOf(b);
    const fc = filesOf(c);
    assert.deepEqual([...fa.keys()].sort(), [...fb.keys()].sort());
    assert.equal(fa.size, 8);
    for (const [name, bytes] of fa) assert.ok(bytes.equals(fb.get(name)!), `${name} differs between two runs with the same seed`);
    for (const name of ['tasks/sft-train.jsonl', 'tasks/corpus.txt', 'reward-collapse/train.rankings.jsonl'])
      assert.ok(!fa.get(name)!.equals(fc.get(name)!), `${name} does not depend on the seed`);
  });

  it('the shipped data/ is what the default seed generates (regenerate with `rlhf data make`)', () => {
    const shipped = path.join(ROOT, 'data');
    const fresh = tmpDir();
    makeData({ outDir: fresh, seed: DEFAULT_DATA_SEED });
    const fs1 = filesOf(fresh);
    for (const [name, bytes] of fs1) {
      const p = path.join(shipped, name);
      assert.ok(fs.existsSync(p), `${p} is missing: run \`rlhf data make\``);
      assert.ok(fs.readFileSync(p).equals(bytes), `${p} differs from what \`rlhf data make\` generates now`);
    }
  });

  it('the CLI writes the same bytes as the library', { skip: !builtCli() && 'dist/ not built (npm test builds it)' }, () => {
    const out = tmpDir();
    const r = runCli(['data', 'make', '--out', out, '--seed', '5', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const manifest = JSON.parse(r.stdout) as { files: { path: string; sha256: string }[] };
    const lib = makeData({ outDir: tmpDir(), seed: 5 });
    assert.deepEqual(manifest.files, lib.files);
    assert.equal(filesOf(out).size, 8);
  });

  it('stays small (< 2 MB in total)', () => {
    const m = makeData({ outDir: tmpDir(), seed: DEFAULT_DATA_SEED });
    assert.ok(m.totalBytes < 2_000_000, `data is ${m.totalBytes} bytes`);
    assert.equal(m.totalBytes, m.files.reduce((s, f) => s + f.bytes, 0));
  });
});

describe('task suite', () => {
  const suite = buildTaskSuite(DEFAULT_DATA_SEED);

  it('records are valid, prompts end with a newline, kinds follow the task', () => {
    for (const r of [...suite.sftTrain, ...suite.sftEval]) {
      assertSft(r, { file: 'sft', line: 0 });
      assert.ok(r.prompt.endsWith('\n'));
      assert.equal(r.kind, TASK_KIND[r.task as TaskName]);
    }
    for (const r of [...suite.promptsTrain, ...suite.promptsHeldout]) {
      assertPrompt(r, { file: 'prompts', line: 0 });
      assert.ok(r.prompt.endsWith('\n'));
    }
    const ids = new Set([...suite.sftTrain, ...suite.sftEval, ...suite.promptsTrain, ...suite.promptsHeldout].map((r) => r.id));
    assert.equal(ids.size, suite.sftTrain.length + suite.sftEval.length + suite.promptsTrain.length + suite.promptsHeldout.length);
  });

  it('has a few thousand demonstrations, all of top quality, short enough for the tiny model', () => {
    assert.ok(suite.sftTrain.length >= 2000 && suite.sftTrain.length <= 5000);
    for (const r of suite.sftTrain) {
      const q = qualityOf(r.task, r.prompt, r.response)!;
      if (r.task === 'random-number') assert.ok(q > 0.6, `${r.response}: ${q}`);
      else assert.ok(q >= 0.99, `${JSON.stringify(r.prompt + r.response)} has quality ${q}`);
      assert.ok((r.prompt + r.response).length <= 80, JSON.stringify(r.prompt + r.response));
    }
  });

  it('random-number demonstrations are exactly uniform over 0..99', () => {
    const counts = new Array(100).fill(0);
    for (const r of suite.sftTrain.filter((r) => r.task === 'random-number')) {
      assert.match(r.response, /^\d{1,2}$/);
      counts[Number(r.response)]++;
    }
    assert.equal(Math.min(...counts), Math.max(...counts));
    assert.ok(counts[0] > 0);
  });

  it('held-out sums never appear in training demonstrations, training prompts or the corpus', () => {
    const split = arithmeticSplit(DEFAULT_DATA_SEED);
    const held = new Set(split.heldout.map((p) => `${p.a}+${p.b}`));
    const pairOf = (prompt: string): string => {
      const m = /(\d+)\s*(?:\+|plus|and)\s*(\d+)/.exec(prompt)!;
      return `${m[1]}+${m[2]}`;
    };
    for (const r of suite.sftTrain.filter((r) => r.task === 'arithmetic')) assert.ok(!held.has(pairOf(r.prompt)), r.prompt);
    for (const r of suite.promptsTrain.filter((r) => r.task === 'arithmetic')) assert.ok(!held.has(pairOf(r.prompt)), r.prompt);
    for (const r of suite.promptsHeldout.filter((r) => r.task === 'arithmetic')) assert.ok(held.has(pairOf(r.prompt)), r.prompt);
    for (const r of suite.sftEval.filter((r) => r.task === 'arithmetic')) assert.ok(held.has(pairOf(r.prompt)), r.prompt);
    // The corpus states sums as "a + b = s", "a plus b is s", "sum of a and b", "add a and b".
    for (const doc of suite.corpus.split('\n\n')) {
      const m = /(\d+)\s*(?:\+|plus|and)\s*(\d+)(?:\?|\.|,| =| is)/.exec(doc);
      if (m && !doc.startsWith('Count') && !/^\d+, /.test(doc)) assert.ok(!held.has(`${m[1]}+${m[2]}`), `held-out sum in the corpus: ${doc}`);
    }
    for (const p of NUMBER_PROMPTS_HELDOUT) assert.ok(!suite.corpus.includes(p), 'a held-out paraphrase is in the corpus');
  });

  it('the corpus contains every training demonstration, as documents separated by blank lines', () => {
    const docs = new Set(suite.corpus.split('\n\n').map((d) => d.replace(/\n$/, '')));
    for (const r of suite.sftTrain) assert.ok(docs.has(r.prompt + r.response), JSON.stringify(r.prompt + r.response));
    assert.ok(docs.size > suite.sftTrain.length * 2);
  });

  it('prompt sets are balanced across the three tasks', () => {
    for (const set of [suite.promptsTrain, suite.promptsHeldout]) {
      const n: Record<string, number> = {};
      for (const r of set) n[r.task] = (n[r.task] ?? 0) + 1;
      assert.deepEqual(Object.keys(n).sort(), ['arithmetic', 'random-number', 'topic-line']);
      assert.equal(new Set(Object.values(n)).size, 1);
    }
  });
});
