/**
 * `rlhf probe`: what tuning did to a policy's output distribution, against its reference
 * ("Mysteries of mode collapse"):
 *
 *  - random number: exact probability of every answer 0..99 for the policy and the reference,
 *    entropy, top answer; with a reward model and β, the KL-regularised optimum
 *    π*(n) ∝ π_ref(n)·exp(r(n)/β) and KL(π ‖ π*);
 *  - temperature: the T* at which the reference sampled at T* is closest in KL to the policy, found
 *    by exact re-scoring of the answers at each T (not a shortcut on answer probabilities), and the
 *    KL left at T*: near 0 means "just temperature", well above 0 means the shape changed;
 *  - attractors: perturb completions part-way, continue greedily, and count how often the ending
 *    comes back to the unperturbed one;
 *  - diversity: per-input and across-input distinct-n/EAD and entropies, reference vs policy.
 */
import * as path from 'node:path';
import { disposeBundle, loadModel, ModelBundle } from '../model/checkpoint';
import { generate } from '../model/generate';
import { Params } from '../model/gpt2';
import { readPrompts } from '../data/read';
import { PromptRecord } from '../data/records';
import { klDivergence } from '../metrics/numbers';
import { writeJsonAtomic } from '../util/fs';
import { Rng } from '../util/rng';
import { loadRewardScorer } from '../model/reward-scorer';
import { numberScores } from '../model/number-answers';
import { outputMetrics } from '../metrics/output';
import { DpoObjective, PpoObjective, ProbeResult } from '../data/artifacts';
import { implicitRewardOptimum, klRegularisedOptimum, optimisedReward } from '../metrics/optimum';
import { continuationLogProbs } from '../model/score';
import { sampleCompletions } from '../model/sample';

import { ProbeConfig } from './config';


/** Golden-section search for the minimum of f on [lo, hi] (f unimodal enough), on log scale. */
export function goldenMin(f: (x: number) => number, lo: number, hi: number, iters = 24): { x: number; fx: number } {
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = Math.log(lo);
  let b = Math.log(hi);
  let c = b - phi * (b - a);
  let d = a + phi * (b - a);
  let fc = f(Math.exp(c));
  let fd = f(Math.exp(d));
  for (let i = 0; i < iters; i++) {
    if (fc <= fd) {
      b = d; d = c; fd = fc; c = b - phi * (b - a); fc = f(Math.exp(c));
    } else {
      a = c; c = d; fc = fd; d = a + phi * (b - a); fd = f(Math.exp(d));
    }
  }
  const x = Math.exp((a + b) / 2);
  return { x, fx: f(x) };
}

/**
 * Attractor test: for each completion y of prompt x, take its first half, replace
 * `perturb` tokens of that prefix at random, let the model continue greedily, and check whether
 * the last `ending` tokens equal those of the greedy continuation of the unperturbed prefix.
 */
export function attractorRate(model: ModelBundle, params: Params, prompts: PromptRecord[], cfg: ProbeConfig, rng: Rng): { rate: number; tested: number } {
  const tok = model.tokenizer;
  const qs = prompts.map((p) => tok.encode(p.prompt));
  const base = generate(params, model.config, qs, { maxNewTokens: cfg.max_new_tokens, temperature: 0, eosId: tok.eosId, padId: tok.padId });
  const clean: number[][] = [];
  const perturbed: number[][] = [];
  const keep: number[] = [];
  base.tokens.forEach((y, i) => {
    const body = y.filter((t) => t !== tok.eosId);
    if (body.length < 4) return;
    const cut = Math.floor(body.length / 2);
    const prefix = body.slice(0, cut);
    const bad = prefix.slice();
    for (let j = 0; j < cfg.attractor_perturb_tokens; j++) {
      const pos = rng.int(bad.length);
      let t = rng.int(tok.vocabSize);
      while (t === tok.eosId || t === prefix[pos]) t = rng.int(tok.vocabSize);
      bad[pos] = t;
    }
    clean.push([...qs[i], ...prefix]);
    perturbed.push([...qs[i], ...bad]);
    keep.push(i);
  });
  if (!keep.length) return { rate: NaN, tested: 0 };
  const opts = { maxNewTokens: cfg.max_new_tokens, temperature: 0, eosId: tok.eosId, padId: tok.padId };
  const a = generate(params, model.config, clean, opts).tokens;
  const b = generate(params, model.config, perturbed, opts).tokens;
  const m = cfg.attractor_ending_tokens;
  let same = 0;
  for (let i = 0; i < a.length; i++) if (JSON.stringify(a[i].slice(-m)) === JSON.stringify(b[i].slice(-m))) same += 1;
  return { rate: same / a.length, tested: a.length };
}

export type { ProbeResult };

/** The objective π* is built from: the β and the reward r = gain·R + bias of a reward model's R. */
export type ProbeObjective = Pick<PpoObjective, 'beta' | 'reward_model' | 'gain' | 'bias'>;

export async function probeModels(o: {
  policy: ModelBundle;
  reference: ModelBundle;
  prompts: PromptRecord[];
  /**
   * With an objective, π* and KL(policy ‖ π*) too (β from cfg.beta when set, else the objective's).
   * DPO's implicit reward (DpoObjective): π* from the policy's and the reference's own log-probs.
   */
  objective?: ProbeObjective | DpoObjective;
  /** A second reward model's π* to compare with (a DPO policy against the PPO run's π*): random_number.compare. */
  compare?: ProbeObjective;
  cfg: ProbeConfig;
  seed: number;
}): Promise<ProbeResult> {
  const { policy, reference, cfg } = o;
  const T = cfg.temperature;
  const pn = numberScores(policy, policy.params, cfg.number_prompt, { temperature: T });
  const rn = numberScores(reference, reference.params, cfg.number_prompt, { temperature: T });
  const pol = Array.from(pn.dist.probs);
  const refp = Array.from(rn.dist.probs);
  // π* of the objective the policy was tuned on: the reward PPO optimised (gain·R + bias) of each
  // canonical answer "n" + EOS, as in the PPO trainer's own probe (metrics/optimum.ts).
  let optimum: number[] | null = null;
  const beta = cfg.beta ?? o.objective?.beta ?? null;
  const tok = reference.tokenizer;
  const conts = rn.candidates.map((c) => [...tok.encode(c), tok.eosId]);
  const rewardModelOptimum = async (obj: ProbeObjective, b: number) => {
    const scorer = await loadRewardScorer(obj.reward_model);
    const raw = scorer.raw(conts.map(() => tok.encode(cfg.number_prompt)), conts);
    scorer.dispose();
    return klRegularisedOptimum(rn.logprobs, raw.map((x) => optimisedReward(x, obj)), b);
  };
  const dpo = o.objective && 'kind' in o.objective ? o.objective : undefined;
  if (dpo) {
    // DPO's implicit reward r(n) = β·(log π − log π_ref)("n" + EOS); π* ∝ π_ref(n)·exp(r(n)/β), β cancels (metrics/optimum.ts).
    const context = tok.encode(cfg.number_prompt);
    optimum = implicitRewardOptimum(rn.logprobs, continuationLogProbs(policy.params, policy.config, context, conts, tok.padId, T), continuationLogProbs(reference.params, reference.config, context, conts, tok.padId, T));
  } else if (o.objective && beta !== null) optimum = await rewardModelOptimum(o.objective as ProbeObjective, beta);
  const compare = o.compare ? { objective: o.compare, optimum: await rewardModelOptimum(o.compare, o.compare.beta) } : undefined;
  // Temperature test: exact re-scoring of the reference's answers at each T.
  const klAt = (t: number) => klDivergence(pol, Array.from(numberScores(reference, reference.params, cfg.number_prompt, { temperature: t }).dist.probs));
  const fit = goldenMin(klAt, 0.05, 20);
  // Diversity and entropy, reference (before) vs policy (after), on the same prompts and seed.
  const prompts = o.prompts.slice(0, cfg.max_prompts);
  const scfg = { k: cfg.k, temperature: T, top_k: 0, top_p: 1, max_new_tokens: cfg.max_new_tokens, batch_size: 64, number_prompt: cfg.number_prompt };
  const before = outputMetrics(sampleCompletions(reference, reference.params, prompts, scfg, new Rng(`${o.seed}:probe`), 'probe reference'), reference.config.vocab_size, reference.tokenizer.eosId);
  const after = outputMetrics(sampleCompletions(policy, policy.params, prompts, scfg, new Rng(`${o.seed}:probe`), 'probe policy'), policy.config.vocab_size, policy.tokenizer.eosId);
  const attractorPrompts = o.prompts.filter((p) => p.task === cfg.attractor_task).slice(0, cfg.max_prompts);
  const ap = attractorRate(policy, policy.params, attractorPrompts, cfg, new Rng(`${o.seed}:attractor`));
  const ar = attractorRate(reference, reference.params, attractorPrompts, cfg, new Rng(`${o.seed}:attractor`));
  return {
    random_number: {
      prompt: cfg.number_prompt,
      candidates: pn.candidates,
      reference: refp,
      policy: pol,
      optimum,
      beta: optimum ? beta : null,
      reward: optimum && o.objective && !dpo ? { model: (o.objective as ProbeObjective).reward_model, gain: (o.objective as ProbeObjective).gain, bias: (o.objective as ProbeObjective).bias } : null,
      entropy: { reference: rn.dist.entropy, policy: pn.dist.entropy },
      entropy_fraction: { reference: rn.dist.entropyFraction, policy: pn.dist.entropyFraction },
      top: { reference: { answer: String(rn.dist.top), prob: rn.dist.topProb }, policy: { answer: String(pn.dist.top), prob: pn.dist.topProb } },
      valid_mass: { reference: rn.dist.validMass, policy: pn.dist.validMass },
      kl_policy_optimum: optimum ? klDivergence(pol, optimum) : null,
      kl_reference_optimum: optimum ? klDivergence(refp, optimum) : null,
      kl_policy_reference: klDivergence(pol, refp),
      ...(optimum ? { optimum_kind: dpo ? ('dpo-implicit' as const) : ('reward-model' as const) } : {}),
      ...(compare
        ? {
            compare: {
              beta: compare.objective.beta,
              reward: { model: compare.objective.reward_model, gain: compare.objective.gain, bias: compare.objective.bias },
              optimum: compare.optimum,
              kl_policy_optimum: klDivergence(pol, compare.optimum),
              kl_reference_optimum: klDivergence(refp, compare.optimum),
            },
          }
        : {}),
    },
    temperature: { t_star: fit.x, kl_at_t_star: fit.fx, kl_at_one: klAt(1) },
    attractor: { policy: ap.rate, reference: ar.rate, tested: ap.tested },
    diversity: { before: before.diversity, after: after.diversity },
    entropy: { before: before.entropy, after: after.entropy },
  };
}

export async function runProbe(o: { policy: string; reference: string; objective?: ProbeObjective | DpoObjective; compare?: ProbeObjective; prompts: string; outDir: string; cfg: ProbeConfig; seed: number }): Promise<ProbeResult> {
  const cfg = o.cfg;
  const policy = await loadModel(o.policy);
  const reference = await loadModel(o.reference);
  try {
    const res = await probeModels({ policy, reference, prompts: await readPrompts(o.prompts), objective: o.objective, compare: o.compare, cfg, seed: o.seed });
    writeJsonAtomic(path.join(o.outDir, 'probe.json'), res);
    return res;
  } finally {
    disposeBundle(policy);
    disposeBundle(reference);
  }
}
