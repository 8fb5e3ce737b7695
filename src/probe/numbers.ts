/**
 * The exact distribution over number answers: for a prompt such as "Tell me a random integer
 * between 0 and 99.\n", the probability of each complete answer "0" … "99" (its tokens followed by
 * EOS), computed by scoring all candidates — exact, not sampled, for any tokenizer.
 */
import { continuationLogProbs } from '../model/score';
import { ModelBundle } from '../model/checkpoint';
import { Params } from '../model/gpt2';
import { numberCandidates, numberDistributionFromLogProbs, NumberDistribution } from '../metrics/numbers';

export interface NumberScores {
  candidates: string[];
  /** log π(candidate + EOS | prompt) at the given temperature. */
  logprobs: number[];
  dist: NumberDistribution;
}

export function numberScores(
  model: Pick<ModelBundle, 'config' | 'tokenizer'>,
  params: Params,
  prompt: string,
  opts: { low?: number; high?: number; temperature?: number } = {},
): NumberScores {
  const tok = model.tokenizer;
  const candidates = numberCandidates(opts.low ?? 0, opts.high ?? 99);
  const conts = candidates.map((c) => [...tok.encode(c), tok.eosId]);
  const logprobs = continuationLogProbs(params, model.config, tok.encode(prompt), conts, tok.padId, opts.temperature ?? 1);
  return { candidates, logprobs, dist: numberDistributionFromLogProbs(candidates, logprobs) };
}
