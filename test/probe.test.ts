/**
 * The mode-collapse probes on the shipped SFT model. Positive control for the temperature test:
 * multiplying the final LayerNorm's gain and bias by 1/T gives exactly the model's logits / T, i.e.
 * "the reference sampled at temperature T"; the probe must recover T* = T with KL ≈ 0. The same
 * model against itself has T* = 1 and KL 0.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf } from '../src/backend/tf';
import { disposeBundle, loadModel, ModelBundle } from '../src/model/checkpoint';
import { readPrompts } from '../src/data/read';
import { goldenMin, probeModels } from '../src/probe/stage';
import { ProbeConfigSchema } from '../src/probe/config';
import { numberScores } from '../src/model/number-answers';
import { continuationLogProbs } from '../src/model/score';
import { ROOT, TEST_BACKEND } from './helpers';

function atTemperature(m: ModelBundle, T: number): ModelBundle {
  const params = { ...m.params };
  for (const k of ['transformer.ln_f.weight', 'transformer.ln_f.bias']) params[k] = tf.div(m.params[k], T);
  return { ...m, params };
}

describe('probes', () => {
  before(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('goldenMin finds the minimum of a unimodal function on a log scale', () => {
    const r = goldenMin((x) => (Math.log(x) - Math.log(0.3)) ** 2, 0.01, 100, 40);
    assert.ok(Math.abs(r.x - 0.3) < 1e-4, `x = ${r.x}`);
  });

  it('an answer is the number then any non-digit token: matches brute force over every next token', async () => {
    // At T = 2 (flatter) so that many next tokens carry mass, digits included.
    const m = await loadModel(path.join(ROOT, 'models', 'tiny-sft'));
    const prompt = 'Tell me a random integer between 0 and 99.\n';
    const T = 2;
    const s = numberScores(m, m.params, prompt, { temperature: T, low: 0, high: 99 });
    const tok = m.tokenizer;
    const V = m.config.vocab_size;
    for (const n of ['7', '42', '81']) {
      const num = tok.encode(n);
      const conts = Array.from({ length: V }, (_, v) => [...num, v]);
      const lps = continuationLogProbs(m.params, m.config, tok.encode(prompt), conts, tok.padId, T);
      let pEnd = 0;
      let pAll = 0;
      for (let v = 0; v < V; v++) {
        const p = Math.exp(lps[v]);
        pAll += p;
        if (!/^[0-9]/.test(tok.decode([v]))) pEnd += p;
      }
      const got = Math.exp(s.logprobs[s.candidates.indexOf(n)]);
      assert.ok(pAll - pEnd > 1e-6 * pAll, `some mass continues the number ${n}`); // the test can tell the difference
      assert.ok(Math.abs(got - pEnd) < 1e-4 * pAll + 1e-9, `P(${n}) = ${got}, brute force ${pEnd}`);
    }
    disposeBundle(m);
  });

  it('recovers a pure temperature change (T* = 0.5, KL ≈ 0) and finds no change against itself', async () => {
    const ref = await loadModel(path.join(ROOT, 'models', 'tiny-sft'));
    const prompts = (await readPrompts(path.join(ROOT, 'data', 'tasks', 'prompts-heldout.jsonl'))).slice(0, 40);
    const cfg = ProbeConfigSchema.parse({ k: 2, max_prompts: 6, max_new_tokens: 8 });
    const cold = atTemperature(ref, 0.5);
    const r = await probeModels({ policy: cold, reference: ref, prompts, cfg, seed: 1 });
    assert.ok(Math.abs(r.temperature.t_star - 0.5) < 0.02, `T* = ${r.temperature.t_star}`);
    assert.ok(r.temperature.kl_at_t_star < 1e-3, `KL at T* = ${r.temperature.kl_at_t_star}`);
    assert.ok(r.temperature.kl_at_one > 0.01 && r.temperature.kl_at_t_star < r.temperature.kl_at_one / 20, `KL at T = 1 should be clearly larger: ${r.temperature.kl_at_one}`);
    assert.ok(r.random_number.entropy.policy < r.random_number.entropy.reference);
    const same = await probeModels({ policy: ref, reference: ref, prompts, cfg, seed: 1 });
    assert.ok(Math.abs(same.temperature.t_star - 1) < 0.02, `T* = ${same.temperature.t_star}`);
    assert.ok(same.random_number.kl_policy_reference < 1e-9);
    assert.equal(same.attractor.policy, same.attractor.reference);
    assert.deepEqual(same.diversity.before, same.diversity.after);
    // the number distribution is a distribution over the 100 answers
    assert.ok(Math.abs(same.random_number.policy.reduce((a, b) => a + b, 0) - 1) < 1e-6);
    tf.dispose([cold.params['transformer.ln_f.weight'], cold.params['transformer.ln_f.bias']]);
    disposeBundle(ref);
  });
});
