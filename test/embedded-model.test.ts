/**
 * The shipped embedded model (models/tiny-base, models/tiny-sft) is reproducible from the committed
 * settings: re-running `rlhf pretrain` and `rlhf sft` with them follows the shipped training logs
 * step for step (same backend, same seed), and the shipped SFT model has the quality we state:
 * held-out arithmetic well above chance, a calibrated random-number distribution.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { disposeBundle, loadModel } from '../src/model/checkpoint';
import { readPrompts } from '../src/data/read';
import { evaluatePolicy } from '../src/sft/eval';
import { ROOT, TEST_BACKEND, builtCli, runCli, tmpDir } from './helpers';

function losses(file: string, n: number): number[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').slice(0, n).map((l) => JSON.parse(l).loss as number);
}

describe('embedded model', () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('the shipped SFT model answers held-out arithmetic above chance and is calibrated on random numbers', async () => {
    const m = await loadModel(path.join(ROOT, 'models', 'tiny-sft'));
    const ev = evaluatePolicy(m, m.params, await readPrompts(path.join(ROOT, 'data', 'tasks', 'prompts-heldout.jsonl')));
    disposeBundle(m);
    // chance: one of ~99 possible sums ≈ 1%
    assert.ok(ev.arithmetic.accuracy >= 0.05, `held-out arithmetic accuracy ${ev.arithmetic.accuracy}`);
    assert.ok(ev.random_number.entropy_fraction > 0.95, `random-number entropy ${ev.random_number.entropy_fraction} of log 100`);
    assert.ok(ev.random_number.valid_mass > 0.9, `mass on valid numbers ${ev.random_number.valid_mass}`);
  });

  for (const [stage, args, log] of [
    ['pretrain', ['pretrain', '--epochs', '4', '--lr', '2e-3', '--batch-size', '32', '--seed', '1'], 'tiny-base'],
    ['sft', ['sft', '--model', path.join(ROOT, 'models', 'tiny-base'), '--epochs', '3', '--lr', '1e-3', '--batch-size', '32', '--seed', '1'], 'tiny-sft'],
  ] as const) {
    it(`re-running ${stage} with the committed settings follows the shipped training log`, { skip: builtCli() ? false : 'needs the compiled CLI (npm test builds it)' }, () => {
      const out = tmpDir();
      const r = runCli([...args, '--out', out, '--stop-after', '6', '--backend', TEST_BACKEND, '--quiet']);
      assert.equal(r.status, 0, r.stderr);
      const mine = losses(path.join(out, 'metrics.jsonl'), 6);
      const shipped = losses(path.join(ROOT, 'models', log, 'training-metrics.jsonl'), 6);
      assert.equal(mine.length, 6);
      for (let i = 0; i < 6; i++) assert.ok(Math.abs(mine[i] - shipped[i]) < 1e-4, `step ${i + 1}: ${mine[i]} vs shipped ${shipped[i]}`);
    });
  }
});
