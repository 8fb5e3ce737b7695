/**
 * train-rm with the prompt-aware utility on rankings ingested from hh-rlhf (issue 14, item 11):
 * such rankings carry no kind (open | closed) unless `rlhf rank --kind` gave one. The error must
 * name the rankings file and line, say how to fix it, and come before any model is loaded.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { ingestToFile } from '../src/data/ingest';
import { checkUtilityCoverage, runRewardStage } from '../src/reward/stage';
import { parseUtilityConfig } from '../src/reward/utilities';
import { readRankings } from '../src/data/read';
import { runCli, TEST_BACKEND, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';
import { RewardTrainConfigSchema } from '../src/reward/config';

const dir = tmpDir('rlhf-rm-kind-');
const T = (...turns: string[]) => turns.map((t, i) => `\n\n${i % 2 ? 'Assistant' : 'Human'}: ${t}`).join('');
const hh = [
  { chosen: T('Tell me a joke', 'Why did the chicken cross the road?'), rejected: T('Tell me a joke', 'No.') },
  { chosen: T('What is 2 + 2?', '4'), rejected: T('What is 2 + 2?', '5') },
  { chosen: T('Name a colour', 'Blue.'), rejected: T('Name a colour', 'Table.') },
];
const source = path.join(dir, 'hh rlhf.jsonl'); // a space: the suggested command must quote it
fs.writeFileSync(source, hh.map((r) => JSON.stringify(r)).join('\n') + '\n');
const rankings = path.join(dir, 'rankings.jsonl');

describe('train-rm: prompt-aware on ingested hh-rlhf rankings', () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
    await ingestToFile(source, rankings);
    // a blank first line, so the first record's line (2) differs from its index (0)
    fs.writeFileSync(rankings, `\n${fs.readFileSync(rankings, 'utf8')}`);
  });

  it('names the rankings file and line, suggests rlhf rank --kind, before loading a model', async () => {
    const out = path.join(dir, 'rm');
    await assert.rejects(
      // a model that does not exist: the rankings are checked first
      runRewardStage({ model: path.join(dir, 'no-model'), rankings, outDir: out, cfg: RewardTrainConfigSchema.parse({ utility: 'prompt-aware', epochs: 1 }) }),
      (e: Error) => {
        assert.ok(e.message.startsWith(`${rankings}:2: field "kind": the prompt-aware utility needs each prompt's kind (open or closed)`), e.message);
        assert.match(e.message, /no kind and task "hh-rlhf" \(none of the 3 rankings has one\)/);
        assert.ok(e.message.includes(`rlhf rank --input '${source}' --kind open --out ${rankings} (or --kind closed)`), e.message);
        return true;
      },
    );
    assert.ok(!fs.existsSync(out), 'nothing written');
  });

  it('rankings ingested with --kind, a task rule or a default are covered', async () => {
    const withKind = path.join(dir, 'rankings-open.jsonl');
    await ingestToFile(source, withKind, { kind: 'open' });
    const records = await readRankings(withKind);
    const lines = records.map((_, i) => i + 1);
    assert.doesNotThrow(() => checkUtilityCoverage(parseUtilityConfig('prompt-aware'), withKind, records, lines));
    const bare = await readRankings(rankings);
    assert.throws(() => checkUtilityCoverage(parseUtilityConfig('prompt-aware'), rankings, bare, [2, 3, 4]), /rankings\.jsonl:2: field "kind"/);
    assert.doesNotThrow(() => checkUtilityCoverage(parseUtilityConfig({ name: 'prompt-aware', tasks: { 'hh-rlhf': 'logsigmoid' } }), rankings, bare, [2, 3, 4]));
    assert.doesNotThrow(() => checkUtilityCoverage(parseUtilityConfig({ name: 'prompt-aware', default: 'logsigmoid' }), rankings, bare, [2, 3, 4]));
    assert.doesNotThrow(() => checkUtilityCoverage(parseUtilityConfig('logsigmoid'), rankings, bare, [2, 3, 4]));
  });

  it('rlhf train-rm (CLI) prints that error and exits 1', () => {
    assertBuiltCli(['src/reward/stage.ts', 'src/commands/train-rm.ts', 'src/cli']);
    const r = runCli(['train-rm', '--rankings', rankings, '--out', path.join(dir, 'rm-cli'), '--utility', 'prompt-aware', '--epochs', '1']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`Error: ${rankings.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: field "kind"`));
    assert.match(r.stderr, /rlhf rank --input .* --kind open/);
  });
});
