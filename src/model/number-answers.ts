/**
 * The exact distribution over number answers: for a prompt such as "Tell me a random integer
 * between 0 and 99.\n", the probability of each answer "0" … "99", computed by scoring all
 * candidates — exact, not sampled, for any tokenizer.
 *
 * An answer is the number's tokens followed by anything that does not continue the number (EOS,
 * ".", " and", …: a next token that does not start with a digit):
 *     P(n) = π(tokens(n) | prompt) · (1 − Σ_{v starts with a digit} π(v | prompt, tokens(n)))
 * Counting only "n" + EOS would miss a policy that learned to answer "81." (PPO does: the reward
 * model may prefer it), and renormalising over what is left would describe a sliver of its mass.
 * `valid_mass` (the sum over n) says how much of the policy's mass is a number answer at all.
 */
import { tf, Tensor2D } from '../backend/tf';
import { responseLogProbs } from './score';
import { packQueryResponse } from './batch';
import { ModelBundle } from './checkpoint';
import { lmHead, Params } from './gpt2';
import { TextTokenizer } from '../tokenizer/tokenizer';
import { numberCandidates, numberDistributionFromLogProbs, NumberDistribution } from '../metrics/numbers';

export interface NumberScores {
  candidates: string[];
  /** log P(answer n | prompt) at the given temperature (the number, then a non-digit token). */
  logprobs: number[];
  dist: NumberDistribution;
}

/** 1 for vocabulary ids whose text starts with a digit (they would continue a number), else 0. */
const digitMasks = new WeakMap<TextTokenizer, Float32Array>();
function digitStartMask(tok: TextTokenizer, vocab: number): Float32Array {
  let m = digitMasks.get(tok);
  if (!m || m.length !== vocab) {
    m = new Float32Array(vocab);
    for (let id = 0; id < Math.min(vocab, tok.vocabSize); id++) {
      let text = '';
      try {
        text = tok.decode([id]);
      } catch {
        continue; // an id the tokenizer does not know (a padded vocabulary) continues nothing
      }
      if (/^[0-9]/.test(text)) m[id] = 1;
    }
    digitMasks.set(tok, m);
  }
  return m;
}

export function numberScores(
  model: Pick<ModelBundle, 'config' | 'tokenizer'>,
  params: Params,
  prompt: string,
  opts: { low?: number; high?: number; temperature?: number; batchSize?: number } = {},
): NumberScores {
  const tok = model.tokenizer;
  const cfg = model.config;
  const T = opts.temperature ?? 1;
  const candidates = numberCandidates(opts.low ?? 0, opts.high ?? 99);
  const context = tok.encode(prompt);
  const digits = digitStartMask(tok, cfg.vocab_size);
  const logprobs: number[] = [];
  const bs = opts.batchSize ?? 128;
  for (let i = 0; i < candidates.length; i += bs) {
    const nums = candidates.slice(i, i + bs).map((c) => tok.encode(c));
    // Each response is the number and one more (any) token: the position predicting that token
    // gives the whole next-token distribution after the number.
    const batch = packQueryResponse(nums.map(() => context), nums.map((n) => [...n, tok.eosId]), tok.padId);
    const { B, R } = batch;
    const numMask = new Float32Array(B * R);
    const endPick = new Float32Array(B * R);
    nums.forEach((n, b) => {
      numMask.fill(1, b * R, b * R + n.length);
      endPick[b * R + n.length] = 1;
    });
    const lp = tf.tidy(() => {
      const { logprobs: tokLp, hidden } = responseLogProbs(params, cfg, batch, T);
      const numberLp = tf.sum(tf.mul(tokLp, tf.tensor2d(numMask, [B, R])), 1); // log π(tokens(n))
      // The hidden state at the end of the number, then its next-token log-probabilities.
      const hEnd = tf.sum(tf.mul(hidden, tf.tensor3d(endPick, [B, R, 1])), 1) as Tensor2D; // [B, C]
      const next = tf.logSoftmax(tf.div(lmHead(params, hEnd), T)); // [B, V]
      const pDigit = tf.sum(tf.mul(tf.exp(next), tf.tensor1d(digits)), 1); // P(the number goes on)
      return tf.add(numberLp, tf.log(tf.maximum(tf.sub(1, pDigit), 1e-30)));
    });
    logprobs.push(...(lp.dataSync() as Float32Array));
    lp.dispose();
  }
  return { candidates, logprobs, dist: numberDistributionFromLogProbs(candidates, logprobs) };
}

/** The exact number distribution for a probe prompt, in the artifact's shape. */
export function numberSummary(model: Pick<ModelBundle, 'config' | 'tokenizer'>, params: Params, prompt: string, temperature = 1) {
  const s = numberScores(model, params, prompt, { temperature });
  const d: NumberDistribution = s.dist;
  return {
    prompt,
    candidates: s.candidates,
    logprobs: s.logprobs,
    probs: Array.from(d.probs),
    entropy: d.entropy,
    entropyFraction: d.entropyFraction,
    top: String(d.top),
    topProb: d.topProb,
    validMass: d.validMass,
  };
}

export const DEFAULT_NUMBER_PROMPT = 'Tell me a random integer between 0 and 99.\n';
