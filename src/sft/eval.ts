/**
 * What an SFT policy should be able to do on the task suite: answer held-out arithmetic (greedy,
 * exact match) and spread its random numbers over 0..99 (exact entropy of the answer distribution,
 * against log 100 for a uniform one).
 */
import { ModelBundle } from '../model/checkpoint';
import { generate } from '../model/generate';
import { Params } from '../model/gpt2';
import { PromptRecord } from '../data/records';
import { numberScores } from '../model/number-answers';

export interface PolicyEval {
  arithmetic: { prompts: number; correct: number; accuracy: number };
  random_number: { prompts: number; entropy: number; entropy_fraction: number; top: string; top_prob: number; valid_mass: number };
}

export function evaluatePolicy(model: ModelBundle, params: Params, prompts: PromptRecord[], opts: { maxArithmetic?: number; maxNumberPrompts?: number } = {}): PolicyEval {
  const tok = model.tokenizer;
  const arith = prompts.filter((p) => p.task === 'arithmetic' && p.answer !== undefined).slice(0, opts.maxArithmetic ?? 200);
  let correct = 0;
  for (let i = 0; i < arith.length; i += 64) {
    const chunk = arith.slice(i, i + 64);
    const g = generate(params, model.config, chunk.map((p) => tok.encode(p.prompt)), { maxNewTokens: 6, temperature: 0, eosId: tok.eosId, padId: tok.padId });
    g.tokens.forEach((t, j) => {
      const text = tok.decode(t.filter((id) => id !== tok.eosId)).trim();
      if (text === chunk[j].answer) correct += 1;
    });
  }
  // One distribution per distinct number prompt text, averaged.
  const texts = [...new Set(prompts.filter((p) => p.task === 'random-number').map((p) => p.prompt))].slice(0, opts.maxNumberPrompts ?? 8);
  const dists = texts.map((t) => numberScores(model, params, t).dist);
  const avg = (f: (d: (typeof dists)[number]) => number) => dists.reduce((a, d) => a + f(d), 0) / Math.max(1, dists.length);
  const first = dists[0];
  return {
    arithmetic: { prompts: arith.length, correct, accuracy: arith.length ? correct / arith.length : NaN },
    random_number: {
      prompts: dists.length,
      entropy: avg((d) => d.entropy),
      entropy_fraction: avg((d) => d.entropyFraction),
      top: first ? String(first.top) : '',
      top_prob: first ? first.topProb : NaN,
      valid_mass: avg((d) => d.validMass),
    },
  };
}
