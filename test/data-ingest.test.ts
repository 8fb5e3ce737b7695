import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IngestReport, REJECT_REASONS, RejectReason, detectFormat, formatRejection, ingestToArray, ingestToFile, splitTranscript } from '../src/data/ingest';
import { MAX_LINE_BYTES } from '../src/data/jsonl';
import { RankingRecord, assertRanking } from '../src/data/records';
import { builtCli, runCli, tmpDir } from './helpers';

const dir = tmpDir('rlhf-ingest-');
const seenReasons = new Set<string>();

/** Write lines (objects are JSON-encoded, strings written raw) and return the path. */
function file(name: string, lines: unknown[]): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return p;
}

/** Common checks of every report: the accounting adds up, and output records are canonical. */
function checkReport(report: IngestReport, records: RankingRecord[], nonBlankLines: number): void {
  assert.equal(report.read, nonBlankLines);
  assert.equal(report.accepted + report.rejected, report.read);
  assert.equal(report.lines, report.read + report.blank);
  assert.equal(Object.values(report.byReason).reduce((a, b) => a + (b ?? 0), 0), report.rejected);
  assert.equal(report.written, records.length);
  for (const r of records) assertRanking(r, { file: 'output', line: 0 });
  assert.equal(new Set(records.map((r) => r.id)).size, records.length, 'ids are unique');
  for (const k of Object.keys(report.byReason)) seenReasons.add(k);
}

function reasonAt(report: IngestReport, line: number): RejectReason | undefined {
  return report.rejections.find((r) => r.line === line)?.reason;
}

// ------------------------------------------------------------------------------------ fixtures

const rk = (id: string, completions: string[], ranks: number[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  prompt: 'Write a line about the sea.\n',
  completions,
  ranks,
  ...extra,
});

const rankingLines: unknown[] = [
  rk('r1', ['a', 'b', 'c'], [0, 1, 2], { kind: 'open', source: { format: 'hh-rlhf', file: 'orig.jsonl', line: 9 } }), // 1 ok, source kept
  rk('r2', ['d', 'e', 'f'], [0, 0, 2]), //                                  2 ok, ranks made dense
  '', //                                                                     3 blank
  '{"id": "r3", "prompt": ', //                                             4 invalid-json
  '[1, 2, 3]', //                                                            5 not-an-object
  { id: 'r4', completions: ['a', 'b'], ranks: [0, 1] }, //                   6 missing-field prompt
  rk('r5', ['only'], [0]), //                                                7 too-few-completions
  rk('r6', ['same', 'same'], [0, 1]), //                                     8 identical-completions
  rk('r7', ['x', '  '], [0, 1]), //                                          9 empty-text
  rk('r8', ['g', 'h'], [1, 0]), //                                          10 invalid-ranks
  rk('r9', ['i', 'j'], [0, 0]), //                                          11 all-tied
  rk('r10', ['k', 'l'], [0, 1], { kind: 'sometimes' }), //                  12 invalid-field kind
  rk('r2', ['m', 'n'], [0, 1]), //                                          13 duplicate-id (r2 accepted at line 2)
  rk('r11', ['c', 'b', 'a'], [2, 1, 0].sort()), //                          14 contradictory with line 1 (c ≻ b ≻ a)
  rk('r12', ['p', 'q'], [0, 1]), //                                         15 ok
  rk('r13', ['p', 'q'], [0, 1]), //                                         16 duplicate of 15
  '   ', //                                                                 17 blank
  rk('r14', ['s', 't'], [0, 1], { source: undefined, ranks: [0, 1, 2] }), // 18 invalid-ranks (length)
];

const T = (...turns: string[]): string => turns.map((t, i) => `\n\n${i % 2 === 0 ? 'Human' : 'Assistant'}: ${t}`).join('');
const hhLines: unknown[] = [
  { chosen: T('Hi', 'Hello!', 'What is 2+2?', 'It is 4.'), rejected: T('Hi', 'Hello!', 'What is 2+2?', 'Five.') }, // 1 ok
  { chosen: T('Hi', 'Hello there.'), rejected: T('Hey', 'Go away.') }, //                           2 prefix-mismatch
  { chosen: 'Human: no assistant here', rejected: T('x', 'y') }, //                                3 malformed-transcript
  { chosen: T('Q', 'A'), rejected: T('Q', 'A') }, //                                              4 identical-completions
  { chosen: `${T('Q2')}\n\nAssistant: `, rejected: T('Q2', 'An answer.') }, //                    5 empty-text
  { chosen: T('Q3', 'A') }, //                                                                    6 missing-field rejected
  { chosen: 7, rejected: T('Q3', 'A') }, //                                                       7 invalid-field chosen
  { chosen: T('Hi', 'Hello!', 'What is 2+2?', 'Five.'), rejected: T('Hi', 'Hello!', 'What is 2+2?', 'It is 4.') }, // 8 contradicts 1
  { chosen: T('Tell me a joke', 'Why did the chicken…'), rejected: T('Tell me a joke', 'No.') }, // 9 ok
  { chosen: T('Tell me a joke', 'Why did the chicken…'), rejected: T('Tell me a joke', 'No.') }, // 10 duplicate of 9
  'not json at all', //                                                                           11 invalid-json
];

const post = { id: 't3_abc', subreddit: 'cats', title: 'My cat', post: 'My cat sits on my keyboard.' };
const sm = (summaries: unknown, choice: unknown, info: unknown = post): Record<string, unknown> => ({
  info,
  split: 'train',
  summaries,
  choice,
  worker: 'w1',
  batch: 'b1',
  extra: { confidence: 7 },
});
const summarizeLines: unknown[] = [
  sm([{ text: ' cat sits on keyboard', policy: 'ref', note: null }, { text: ' my cat is a typist', policy: 'sup', note: null }], 1), // 1 ok, choice 1
  sm([{ text: ' a' }, { text: ' b' }, { text: ' c' }], 2, { id: 'cnn1', article: 'A long news article.' }), //           2 ok, article, 3 summaries
  sm([{ text: ' a' }, { text: ' b' }], 2), //                                                                           3 invalid-choice
  { summaries: [{ text: ' a' }, { text: ' b' }], choice: 0 }, //                                                        4 missing-field info
  sm([{ text: ' a' }], 0), //                                                                                           5 too-few-completions
  sm([{ text: ' same' }, { text: ' same' }], 0), //                                                                     6 identical
  sm([{ text: ' a' }, { text: ' ' }], 0), //                                                                            7 empty-text
  sm([{ text: ' x' }, { text: ' y' }], undefined), //                                                                   8 missing-field choice
  sm([{ text: ' my cat is a typist' }, { text: ' cat sits on keyboard' }], 1), //                                       9 contradicts 1
];

const uf = (completions: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  source: 'evol_instruct',
  instruction: 'Name a fruit.',
  models: ['m1', 'm2', 'm3'],
  completions,
  ...extra,
});
const c = (response: string, overall: unknown, fine = 3): Record<string, unknown> => ({
  model: 'm',
  principle: 'helpfulness',
  custom_system_prompt: '',
  annotations: {},
  critique: 'ok',
  overall_score: overall,
  'fine-grained_score': fine,
  response,
});
const ratingsLines: unknown[] = [
  uf([c('Apple.', 6), c('Banana.', 8.5), c('Cherry.', 6), c('Rock.', 2)]), //                 1 ok: banana, (apple, cherry), rock
  uf([c('A', 5), c('B', 5)]), //                                                              2 all-tied
  uf([c('A', 'N/A'), c('B', 5)]), //                                                          3 invalid-rating
  { source: 'x', instruction: 'Name a fruit.' }, //                                            4 missing-field completions
  uf([{ text: 'Kiwi.', rating: 2 }, { text: 'Lime.', rating: '4' }], { instruction: undefined, prompt: 'Another fruit?' }), // 5 ok: alt names
  { instruction: 'Pick one.', generations: ['x', 'y', 'z'], ratings: [1, 3, 2] }, //          6 ok: distilabel layout
  uf([c('A', 3)]), //                                                                          7 too-few
  uf([c('Apple.', 1), c('Banana.', 9)]), //                                                    8 ok (different set from line 1)
];

const S = (prompt_id: string, sample_index: number, completion: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: `${prompt_id}-s${sample_index}`,
  prompt_id,
  prompt: 'What is 17 + 25?\n',
  kind: 'closed',
  task: 'arithmetic',
  sample_index,
  completion,
  token_ids: [1],
  logprobs: [-0.5],
  entropies: [1.2],
  finished: true,
  ...over,
});
const samplesLines: unknown[] = [
  S('p1', 0, '41'), //                                                    1
  S('p1', 1, '42'), //                                                    2
  S('p1', 2, '41'), //                                                    3 merged into line 1
  S('p1', 3, 'I do not know'), //                                         4
  S('p2', 0, 'x', { task: 'poetry' }), //                                 5 unknown-task
  S('p2', 1, 'y', { task: 'poetry' }), //                                 6 unknown-task
  S('p3', 0, '42'), //                                                    7 too-few (only one distinct)
  S('p3', 1, '42'), //                                                    8 too-few
  S('p1', 4, '40', { prompt: 'What is 1 + 1?\n' }), //                     9 inconsistent-group
  S('p4', 0, ''), //                                                     10 empty-text
  S('p4', 1, '7', { prompt: 'Tell me a random integer between 0 and 99.\n', task: 'random-number', kind: 'open' }), // 11 inconsistent (prompt differs from line 10? no: 10 was rejected, so 11 starts p4)
  S('p4', 2, '58', { prompt: 'Tell me a random integer between 0 and 99.\n', task: 'random-number', kind: 'open' }), // 12
  '{"prompt_id": 5}', //                                                 13 invalid-field prompt_id
];

// --------------------------------------------------------------------------------------- tests

describe('ingest: canonical rankings', () => {
  it('accepts valid records, normalises ranks, rejects every bad line with its reason', async () => {
    const f = file('rankings.jsonl', rankingLines);
    const { report, records } = await ingestToArray(f);
    assert.equal(report.format, 'rankings');
    checkReport(report, records, 16);
    assert.equal(report.blank, 2);
    assert.deepEqual(records.map((r) => r.id), ['r2', 'r12']);
    assert.deepEqual(records[0].ranks, [0, 0, 1]);
    assert.deepEqual(records[0].source, { format: 'rankings', file: f, line: 2 });
    assert.equal(reasonAt(report, 1), 'contradictory-duplicate');
    const expected: [number, RejectReason][] = [
      [4, 'invalid-json'],
      [5, 'not-an-object'],
      [6, 'missing-field'],
      [7, 'too-few-completions'],
      [8, 'identical-completions'],
      [9, 'empty-text'],
      [10, 'invalid-ranks'],
      [11, 'all-tied'],
      [12, 'invalid-field'],
      [13, 'duplicate-id'],
      [14, 'contradictory-duplicate'],
      [16, 'duplicate'],
      [18, 'invalid-ranks'],
    ];
    for (const [line, reason] of expected) assert.equal(reasonAt(report, line), reason, `line ${line}`);
    assert.equal(report.rejections.find((r) => r.line === 6)!.field, 'prompt');
    assert.equal(report.rejections.find((r) => r.line === 12)!.field, 'kind');
    assert.match(report.rejections.find((r) => r.line === 14)!.message, /line 1\b/);
  });

  it('keeps the provenance of re-ingested rankings', async () => {
    const f = file('rankings-ok.jsonl', [rankingLines[0]]);
    const { records } = await ingestToArray(f);
    assert.deepEqual(records[0].source, { format: 'hh-rlhf', file: 'orig.jsonl', line: 9 });
    assert.equal(records[0].kind, 'open');
  });
});

describe('ingest: an over-long line', () => {
  it('is rejected as line-too-long with its line number, unread; the lines around it are ingested', async () => {
    const f = path.join(dir, 'long-line.jsonl');
    const fd = fs.openSync(f, 'w');
    fs.writeSync(fd, `${JSON.stringify(rk('l1', ['a', 'b'], [0, 1]))}\n{"id":"l2","prompt":"`);
    const mib = Buffer.alloc(1 << 20, 'x');
    for (let i = 0; i < MAX_LINE_BYTES / mib.length + 1; i++) fs.writeSync(fd, mib);
    fs.writeSync(fd, `","completions":["a","b"],"ranks":[0,1]}\n${JSON.stringify(rk('l3', ['c', 'd'], [0, 1]))}\n`);
    fs.closeSync(fd);
    const { report, records } = await ingestToArray(f);
    checkReport(report, records, 3);
    assert.deepEqual(records.map((r) => r.id), ['l1', 'l3']);
    assert.equal(reasonAt(report, 2), 'line-too-long');
    assert.match(formatRejection(report.rejections[0]), new RegExp(`long-line\\.jsonl:2: line-too-long: the line is \\d+ bytes .*over the limit of ${MAX_LINE_BYTES} bytes`));
  });
});

describe('ingest: hh-rlhf', () => {
  it('splits at the last Assistant turn, rejects mismatched prefixes and the rest', async () => {
    const f = file('hh.jsonl', hhLines);
    const { report, records } = await ingestToArray(f);
    assert.equal(report.format, 'hh-rlhf');
    checkReport(report, records, 11);
    assert.equal(records.length, 1);
    const r = records[0];
    assert.equal(r.prompt, T('Tell me a joke', 'x').replace(' x', ''));
    assert.ok(r.prompt.endsWith('\n\nAssistant:'));
    assert.deepEqual(r.completions, [' Why did the chicken…', ' No.']);
    assert.deepEqual(r.ranks, [0, 1]);
    const hh = hhLines[8] as { chosen: string; rejected: string };
    assert.equal(r.prompt + r.completions[0], hh.chosen, 'prompt + completion is the original transcript');
    assert.equal(r.prompt + r.completions[1], hh.rejected);
    const expected: [number, RejectReason][] = [
      [1, 'contradictory-duplicate'],
      [2, 'prefix-mismatch'],
      [3, 'malformed-transcript'],
      [4, 'identical-completions'],
      [5, 'empty-text'],
      [6, 'missing-field'],
      [7, 'invalid-field'],
      [8, 'contradictory-duplicate'],
      [10, 'duplicate'],
      [11, 'invalid-json'],
    ];
    for (const [line, reason] of expected) assert.equal(reasonAt(report, line), reason, `line ${line}`);
  });

  it('a multi-turn transcript splits at the LAST assistant turn', () => {
    assert.deepEqual(splitTranscript(T('a', 'b', 'c', 'd')), [`${T('a', 'b', 'c')}\n\nAssistant:`, ' d']);
    assert.equal(splitTranscript('\n\nHuman: only'), undefined);
  });

  it('--kind fills in a kind', async () => {
    const f = file('hh-one.jsonl', [hhLines[0]]);
    const { records } = await ingestToArray(f, { kind: 'open' });
    assert.equal(records[0].kind, 'open');
  });
});

describe('ingest: summarize-from-feedback', () => {
  it('builds the TL;DR prompt, puts the chosen summary first', async () => {
    const f = file('summarize.jsonl', summarizeLines);
    const { report, records } = await ingestToArray(f);
    assert.equal(report.format, 'summarize');
    checkReport(report, records, 9);
    assert.equal(records.length, 1);
    const r = records[0];
    assert.equal(r.prompt, 'ARTICLE: A long news article.\n\nTL;DR:');
    assert.deepEqual(r.completions, [' c', ' a', ' b']);
    assert.deepEqual(r.ranks, [0, 1, 1]);
    assert.equal(r.prompt_id, 'cnn1');
    const expected: [number, RejectReason][] = [
      [1, 'contradictory-duplicate'],
      [3, 'invalid-choice'],
      [4, 'missing-field'],
      [5, 'too-few-completions'],
      [6, 'identical-completions'],
      [7, 'empty-text'],
      [8, 'missing-field'],
      [9, 'contradictory-duplicate'],
    ];
    for (const [line, reason] of expected) assert.equal(reasonAt(report, line), reason, `line ${line}`);
  });

  it('the Reddit prompt layout', async () => {
    const f = file('summarize-one.jsonl', [summarizeLines[0]]);
    const { records } = await ingestToArray(f);
    assert.equal(records[0].prompt, 'SUBREDDIT: r/cats\n\nTITLE: My cat\n\nPOST: My cat sits on my keyboard.\n\nTL;DR:');
    assert.deepEqual(records[0].completions, [' my cat is a typist', ' cat sits on keyboard']);
  });
});

describe('ingest: scalar ratings', () => {
  it('ranks by score with ties, reads UltraFeedback, alternative and distilabel fields', async () => {
    const f = file('ratings.jsonl', ratingsLines);
    const { report, records } = await ingestToArray(f);
    assert.equal(report.format, 'ratings');
    checkReport(report, records, 8);
    assert.deepEqual(
      records.map((r) => [r.completions, r.ranks]),
      [
        [['Banana.', 'Apple.', 'Cherry.', 'Rock.'], [0, 1, 1, 2]],
        [['Lime.', 'Kiwi.'], [0, 1]],
        [['y', 'z', 'x'], [0, 1, 2]],
        [['Banana.', 'Apple.'], [0, 1]],
      ],
    );
    assert.equal(records[1].prompt, 'Another fruit?');
    const expected: [number, RejectReason][] = [
      [2, 'all-tied'],
      [3, 'invalid-rating'],
      [4, 'missing-field'],
      [7, 'too-few-completions'],
    ];
    for (const [line, reason] of expected) assert.equal(reasonAt(report, line), reason, `line ${line}`);
  });

  it('--rating-field picks another score', async () => {
    const f = file('ratings-fine.jsonl', [uf([c('Apple.', 9, 1), c('Banana.', 1, 5)])]);
    const { records } = await ingestToArray(f, { ratingField: 'fine-grained_score' });
    assert.deepEqual(records[0].completions, ['Banana.', 'Apple.']);
  });
});

describe('ingest: samples through the scripted labeler', () => {
  it('groups by prompt, merges identical samples, rejects bad groups line by line', async () => {
    const f = file('samples.jsonl', samplesLines);
    const opts = { labeler: { method: 'bradley-terry' as const, temperature: 0, seed: 1 } };
    const { report, records } = await ingestToArray(f, opts);
    assert.equal(report.format, 'samples');
    checkReport(report, records, 13);
    assert.equal(report.merged, 1);
    assert.deepEqual(
      records.map((r) => [r.prompt_id, r.completions, r.ranks]),
      [
        ['p1', ['42', '41', 'I do not know'], [0, 1, 2]],
        ['p4', ['7', '58'], [0, 1]],
      ],
    );
    assert.deepEqual(records[0].meta?.counts, [1, 2, 1]);
    assert.equal(records[0].kind, 'closed');
    const expected: [number, RejectReason][] = [
      [5, 'unknown-task'],
      [6, 'unknown-task'],
      [7, 'too-few-completions'],
      [8, 'too-few-completions'],
      [9, 'inconsistent-group'],
      [10, 'empty-text'],
      [13, 'invalid-field'],
    ];
    for (const [line, reason] of expected) assert.equal(reasonAt(report, line), reason, `line ${line}`);
    assert.equal(report.accepted, 6);
    // Same seed, same output; the labeler options are reported.
    const again = await ingestToArray(f, opts);
    assert.deepEqual(again.records, records);
    assert.deepEqual(report.labeler, opts.labeler);
  });
});

describe('ingest: detection, strictness, output', () => {
  it('detects each format from its first valid record (skipping junk lines)', async () => {
    assert.deepEqual(await detectFormat(file('d1.jsonl', ['', 'junk', ...hhLines.slice(0, 1)])), { format: 'hh-rlhf', line: 3 });
    assert.equal((await detectFormat(file('d2.jsonl', rankingLines))).format, 'rankings');
    assert.equal((await detectFormat(file('d3.jsonl', summarizeLines))).format, 'summarize');
    assert.equal((await detectFormat(file('d4.jsonl', ratingsLines))).format, 'ratings');
    assert.equal((await detectFormat(file('d5.jsonl', samplesLines))).format, 'samples');
    await assert.rejects(detectFormat(file('d6.jsonl', [{ foo: 1 }])), /d6\.jsonl:1: cannot detect the input format.*\{foo\}/);
    await assert.rejects(detectFormat(file('d7.jsonl', ['nope'])), /no line is a JSON object/);
  });

  it('strict mode throws at the first bad line, naming file and line, and writes nothing', async () => {
    const f = file('strict.jsonl', hhLines);
    const out = path.join(dir, 'strict-out.jsonl');
    await assert.rejects(ingestToFile(f, out, { strict: true }), (e: Error) => e.message.startsWith(`${f}:2: prefix-mismatch`));
    assert.equal(fs.existsSync(out), false);
    // A contradiction makes both records bad: strict mode stops at the first of them.
    const g = file('strict2.jsonl', [hhLines[0], hhLines[8], hhLines[7]]);
    await assert.rejects(ingestToFile(g, out, { strict: true }), (e: Error) => e.message.startsWith(`${g}:1: contradictory-duplicate`) && /line 3/.test(e.message));
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('strict-out')), []);
  });

  it('writes the rankings file atomically, one line per ranking', async () => {
    const f = file('hh-out.jsonl', hhLines);
    const out = path.join(dir, 'sub', 'rankings.jsonl');
    const report = await ingestToFile(f, out, {});
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, report.written);
    assertRanking(JSON.parse(lines[0]), { file: out, line: 1 });
  });

  it('the CLI: counts as JSON, and --strict exits non-zero', { skip: !builtCli() && 'dist/ not built (npm test builds it)' }, () => {
    const f = file('cli.jsonl', hhLines);
    const out = path.join(dir, 'cli-out.jsonl');
    const ok = runCli(['rank', '--input', f, '--out', out, '--json']);
    assert.equal(ok.status, 0, ok.stderr);
    const report = JSON.parse(ok.stdout) as IngestReport & { out: string };
    assert.equal(report.read, 11);
    assert.equal(report.accepted + report.rejected, 11);
    assert.equal(report.accepted, 1);
    assert.equal(report.byReason['contradictory-duplicate'], 2);
    assert.equal(fs.readFileSync(out, 'utf8').trim().split('\n').length, 1);

    const text = runCli(['rank', '--input', f, '--out', out]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /accepted 1, rejected 10/);
    assert.match(text.stdout, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: prefix-mismatch`));

    const out2 = path.join(dir, 'cli-strict.jsonl');
    const strict = runCli(['rank', '--input', f, '--out', out2, '--strict']);
    assert.notEqual(strict.status, 0);
    assert.match(strict.stderr, /cli\.jsonl:2: prefix-mismatch/);
    assert.equal(fs.existsSync(out2), false);

    const samples = file('cli-samples.jsonl', samplesLines);
    const lab = runCli(['rank', '--input', samples, '--format', 'samples', '--labeler', 'plackett-luce', '--temperature', '0', '--seed', '4', '--out', path.join(dir, 'cli-s.jsonl'), '--json']);
    assert.equal(lab.status, 0, lab.stderr);
    const lr = JSON.parse(lab.stdout) as IngestReport;
    assert.deepEqual(lr.labeler, { method: 'plackett-luce', temperature: 0, seed: 4 });
    assert.equal(lr.written, 2);
  });

});

// Runs last (suites of a file run in order).
describe('ingest: coverage', () => {
  it('every rejection reason is exercised by some fixture above', () => {
    const missing = Object.keys(REJECT_REASONS).filter((r) => !seenReasons.has(r));
    assert.deepEqual(missing, [], `rejection reasons never tested: ${missing.join(', ')}`);
  });
});
