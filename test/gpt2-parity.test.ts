/**
 * Parity with Hugging Face transformers' GPT2LMHeadModel: the fixture (scripts/
 * make_gpt2_parity_fixture.py) holds a random tiny GPT-2 saved by transformers and the logits
 * transformers computed for a batch with a left-padded row. Our forward pass must agree within
 * 1e-4 on every real position, on every backend this machine has.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf, Tensor2D } from '../src/backend/tf';
import { loadWeights, disposeBundle } from '../src/model/checkpoint';
import { logits } from '../src/model/gpt2';
import { BACKENDS_UNDER_TEST, fixturePath } from './helpers';

interface Fixture {
  batch: { input_ids: number[][]; attention_mask: number[][]; position_ids: number[][]; logits: number[][][] };
  single: { input_ids: number[]; logits: number[][] };
}

const fx = JSON.parse(fs.readFileSync(fixturePath('gpt2-parity.json'), 'utf8')) as Fixture;

function maxAbsDiff(a: number[][][], b: number[][][], mask?: number[][]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++)
    for (let t = 0; t < a[i].length; t++) {
      if (mask && !mask[i][t]) continue;
      for (let v = 0; v < a[i][t].length; v++) m = Math.max(m, Math.abs(a[i][t][v] - b[i][t][v]));
    }
  return m;
}

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`GPT-2 logits equal transformers' (${backend})`, () => {
    before(async () => {
      await selectBackend(backend);
    });
    for (const dir of ['gpt2-tiny-random', 'gpt2-tiny-random-sharded']) {
      it(`${dir}: batch with left padding and explicit position ids, within 1e-4`, () => {
        const m = loadWeights(fixturePath(dir));
        const { input_ids, attention_mask, position_ids } = fx.batch;
        const out = tf.tidy(() =>
          logits(m.params, m.config, tf.tensor2d(input_ids, undefined, 'int32') as Tensor2D, {
            attentionMask: tf.tensor2d(attention_mask) as Tensor2D,
            positionIds: tf.tensor2d(position_ids, undefined, 'int32') as Tensor2D,
          }).arraySync(),
        );
        const d = maxAbsDiff(out, fx.batch.logits, attention_mask);
        assert.ok(d < 1e-4, `max |Δlogit| = ${d}`);
        // and with position ids derived from the mask (what generation uses)
        const out2 = tf.tidy(() =>
          logits(m.params, m.config, tf.tensor2d(input_ids, undefined, 'int32') as Tensor2D, {
            attentionMask: tf.tensor2d(attention_mask) as Tensor2D,
          }).arraySync(),
        );
        assert.ok(maxAbsDiff(out2, fx.batch.logits, attention_mask) < 1e-4);
        disposeBundle(m);
      });
    }
    it('single unpadded sequence, within 1e-4', () => {
      const m = loadWeights(fixturePath('gpt2-tiny-random'));
      const out = tf.tidy(() => logits(m.params, m.config, tf.tensor2d([fx.single.input_ids], undefined, 'int32') as Tensor2D).arraySync());
      const d = maxAbsDiff(out, [fx.single.logits]);
      assert.ok(d < 1e-4, `max |Δlogit| = ${d}`);
      // The logits are not trivially small: a broken model could not pass by accident.
      assert.ok(Math.max(...fx.single.logits.flat().map(Math.abs)) > 1);
      disposeBundle(m);
    });
  });
}

void path;
