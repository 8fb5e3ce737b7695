/**
 * The report's side-by-side section (src/report/algorithms.ts): matched-KL read-off by hand, the
 * table from a synthetic run directory with PPO, GRPO and DPO runs and their probes, and the page:
 * the section appears only when a stage other than PPO ran (a PPO-only report is unchanged).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { algorithmTable, commonKl, entropyAtKl, entropyKlPoints, readAlgorithmRuns } from '../src/report/algorithms';
import { writeReport } from '../src/report';
import { fixturePath, tmpDir } from './helpers';

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** A run directory: the report fixture (PPO) plus a GRPO and a DPO run with their probes. */
function makeRun(withOthers: boolean): string {
  const dir = tmpDir('rlhf-report-algos-');
  fs.cpSync(fixturePath('report-run'), dir, { recursive: true });
  if (!withOthers) return dir;
  const probe = (entropy: number, kl: number, extra: object = {}) => ({
    random_number: { candidates: ['0', '1'], reference: [0.5, 0.5], policy: [0.9, 0.1], optimum: [0.8, 0.2], entropy_fraction: { reference: 1, policy: entropy }, top: { policy: { answer: '0', prob: 0.9 } }, kl_policy_reference: kl, kl_policy_optimum: 0.05, ...extra },
    diversity: { before: { per_input: [{ n: 1, distinct: 0.5 }, { n: 2, distinct: 0.6 }] }, after: { per_input: [{ n: 1, distinct: 0.3 }, { n: 2, distinct: 0.4 }] } },
  });
  for (const [s, recs, summary] of [
    ['grpo', [{ stage: 'grpo', step: 0, 'probe/entropy_fraction': 1, 'probe/heldout_reward': 0.1 }, { stage: 'grpo', step: 5, 'objective/kl': 2, 'probe/kl_to_reference': 0.5, 'probe/entropy_fraction': 0.8 }, { stage: 'grpo', step: 10, 'objective/kl': 4, 'probe/kl_to_reference': 1.5, 'probe/entropy_fraction': 0.4, 'probe/heldout_reward': 0.7 }], { iterations: 10, seconds_per_iteration: 1.5, objective: { exact: false } }],
    ['dpo', [{ stage: 'dpo', step: 0, 'objective/kl': 0, 'probe/entropy_fraction': 1 }, { stage: 'dpo', step: 10, 'objective/kl': 1, 'probe/kl_to_reference': 0.2, 'probe/entropy_fraction': 0.9 }], { steps: 10, seconds_per_step: 0.25, objective: { kind: 'dpo-implicit' } }],
  ] as const) {
    fs.mkdirSync(path.join(dir, s), { recursive: true });
    fs.writeFileSync(path.join(dir, s, 'metrics.jsonl'), jsonl(recs as unknown as object[]));
    fs.writeFileSync(path.join(dir, s, 'summary.json'), JSON.stringify(summary));
  }
  // The probe units are <stage> once other stages ran.
  fs.mkdirSync(path.join(dir, 'probe', 'grpo'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'probe', 'grpo', 'probe.json'), JSON.stringify(probe(0.4, 1.5)));
  fs.mkdirSync(path.join(dir, 'probe', 'dpo'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'probe', 'dpo', 'probe.json'), JSON.stringify(probe(0.9, 0.2, { optimum_kind: 'dpo-implicit', compare: { kl_policy_optimum: 0.7 } })));
  return dir;
}

describe('report: algorithms side by side', () => {
  it('entropy at a matched KL, by hand', () => {
    const pts = [
      { kl: 0, entropy: 1 },
      { kl: 2, entropy: 0.8 },
      { kl: 4, entropy: 0.4 },
    ];
    assert.equal(entropyAtKl(pts, 0), 1);
    assert.ok(Math.abs(entropyAtKl(pts, 3)! - 0.6) < 1e-12, 'halfway between 0.8 and 0.4');
    assert.equal(entropyAtKl(pts, 5), undefined, 'never reached');
    // the first crossing counts when the KL goes up and down again
    assert.ok(Math.abs(entropyAtKl([{ kl: 0, entropy: 1 }, { kl: 2, entropy: 0.5 }, { kl: 1, entropy: 0.2 }], 1)! - 0.75) < 1e-12);
  });

  it('reads every tuning run with its probe; the table compares them at the largest KL all reach', async () => {
    const dir = makeRun(true);
    const runs = await readAlgorithmRuns(dir, []);
    assert.deepEqual(runs.map((r) => r.label), ['ppo', 'grpo', 'dpo']);
    assert.deepEqual(entropyKlPoints(runs[1]).map((p) => p.kl), [0, 2, 4], 'step 0 is the reference: KL 0');
    const grpoDpo = runs.slice(1);
    assert.equal(commonKl(grpoDpo), 1, 'DPO only reaches KL 1');
    const t = algorithmTable(grpoDpo);
    assert.deepEqual(t.head, ['run', 'held-out reward', 'KL to reference (sampled)', 'KL on number answers', 'number entropy', 'number entropy at sampled KL = 1', 'number entropy at number KL = 0.2', 'top answer', 'KL(π ‖ π*)', 'distinct-2 per input', 's / step']);
    // GRPO at number KL 0.2: 1 + (0.2/0.5)·(0.8 − 1) = 0.92
    assert.deepEqual(t.rows[0], ['grpo', '0.1 → 0.7', '4', '1.5', '100% → 40%', '90%', '92%', '0 (90%)', '≈ 0.05', '0.6 → 0.4', '1.5']);
    assert.equal(t.rows[1][5], '90%', 'DPO at its own end, KL 1');
    assert.equal(t.rows[1][8], '0.05 (implicit r); PPO’s π*: 0.7');
    assert.equal(commonKl([runs[1], { ...runs[2], records: runs[2].records.slice(0, 1) }]), undefined, 'a run with only its step-0 probe has no trajectory to read off');
  });

  it('the page has the section only when a stage other than PPO ran', async () => {
    const only = await writeReport(makeRun(false));
    assert.deepEqual(only.algorithmCharts, []);
    assert.doesNotMatch(fs.readFileSync(only.file, 'utf8'), /id="algorithms"/);
    const both = await writeReport(makeRun(true));
    const html = fs.readFileSync(both.file, 'utf8');
    assert.match(html, /<section id="algorithms">/);
    assert.ok(html.indexOf('id="algorithms"') < html.indexOf('<section id="probe">'), 'before the mode-collapse section');
    assert.ok(both.algorithmCharts.includes('algo-entropy-vs-kl'));
    assert.match(html, /<tr><td>grpo<\/td><td>0.1 → 0.7<\/td>/);
  });
});
