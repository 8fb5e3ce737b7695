/**
 * The reward model of the transformers fixture (test/fixtures/reward-tiny, reward-hf.json): a tiny
 * random GPT-2 trunk with the embedded tiny model's tokenizer (which pads with EOS, like GPT-2)
 * and a `score.weight` head, saved by rlhf's own saveRewardModel. Deterministic (seeded, in JS).
 *
 * scripts/make-reward-fixture-model.ts writes it (scripts/make_reward_hf_fixture.py runs that, then
 * scores the directory in transformers). No command-line entry here: node --test runs every file
 * under dist/test/.
 */
import * as path from 'node:path';
import { tf } from '../src/backend/tf';
import { GPT2Config } from '../src/model/config';
import { ModelBundle } from '../src/model/checkpoint';
import { paramNames, paramShapes, Params } from '../src/model/gpt2';
import { REWARD_HEAD } from '../src/model/reward-model';
import { loadTokenizer } from '../src/tokenizer/tokenizer';
import { Rng } from '../src/util/rng';
import { ROOT } from './helpers';

export const REWARD_FIXTURE_SQUASH = 'sigmoid';

/** The unsaved reward model: weights N(0, 0.3²), biases N(0, 0.1²), LayerNorm gains 1 + N(0, 0.1²), head N(0, 0.5²). */
export async function buildFixtureRewardModel(): Promise<Omit<ModelBundle, 'source'>> {
  const tokenizer = await loadTokenizer(path.join(ROOT, 'models', 'tiny-base'));
  const config: GPT2Config = {
    vocab_size: tokenizer.vocabSize,
    n_positions: 64,
    n_embd: 16,
    n_layer: 2,
    n_head: 2,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
    bos_token_id: tokenizer.eosId,
    eos_token_id: tokenizer.eosId,
  };
  const rng = new Rng('reward-hf-fixture');
  const shapes = paramShapes(config);
  const params: Params = {};
  for (const name of paramNames(config)) {
    const size = shapes[name].reduce((a, b) => a * b, 1);
    const isLn = /\.ln_\w+\.|ln_f\./.test(name);
    const data = Float32Array.from({ length: size }, () =>
      isLn && name.endsWith('.weight') ? 1 + 0.1 * rng.normal() : name.endsWith('.bias') || isLn ? 0.1 * rng.normal() : 0.3 * rng.normal(),
    );
    params[name] = tf.tensor(data, shapes[name]);
  }
  const head = tf.tensor2d(Float32Array.from({ length: config.n_embd }, () => 0.5 * rng.normal()), [1, config.n_embd]);
  return {
    config,
    params,
    heads: { [REWARD_HEAD]: head },
    tokenizer,
    rlhf: { reward: { squash: REWARD_FIXTURE_SQUASH, utility: 'logsigmoid', head: REWARD_HEAD } },
  };
}
