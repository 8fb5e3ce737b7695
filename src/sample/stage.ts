/**
 * `rlhf sample`: K completions per prompt from a policy, batched and seeded, with the sampling
 * settings recorded (samples.meta.json), every sample's tokens, per-token log-probs and entropies
 * (samples.jsonl), and the output-entropy/diversity metrics of the run (summary.json, metrics.jsonl).
 */
import * as path from 'node:path';
import { loadModel, disposeBundle } from '../model/checkpoint';
import { sampleCompletions } from '../model/sample';
import { SamplesMeta } from '../data/records';
import { readPrompts } from '../data/read';
import { MetricsLogger } from '../metrics/logger';
import { writeJsonAtomic, writeJsonlAtomic } from '../util/fs';
import { Rng } from '../util/rng';
import { currentBackend } from '../backend';
import { outputMetrics, outputMetricsFlat } from '../metrics/output';
import { numberSummary } from '../model/number-answers';
import { SampleConfig } from './config';

export interface SampleStageOptions {
  model: string;
  prompts: string;
  outDir: string;
  cfg: SampleConfig;
  seed: number;
}

export async function runSample(o: SampleStageOptions) {
  const cfg = o.cfg;
  const model = await loadModel(o.model);
  let prompts = await readPrompts(o.prompts);
  if (cfg.max_prompts) prompts = prompts.slice(0, cfg.max_prompts);
  const t0 = Date.now();
  const samples = sampleCompletions(model, model.params, prompts, cfg, new Rng(o.seed));
  const seconds = (Date.now() - t0) / 1000;
  const metrics = outputMetrics(samples, model.config.vocab_size, model.tokenizer.eosId);
  const numbers = numberSummary(model, model.params, cfg.number_prompt, cfg.temperature || 1);
  const meta: SamplesMeta = {
    model: o.model,
    prompts: o.prompts,
    temperature: cfg.temperature,
    top_k: cfg.top_k,
    top_p: cfg.top_p,
    max_new_tokens: cfg.max_new_tokens,
    k: cfg.k,
    seed: o.seed,
    backend: currentBackend()?.chosen ?? 'unknown',
    count: samples.length,
    finished: samples.filter((s) => s.finished).length,
    seconds,
    tokens_per_second: samples.reduce((a, s) => a + s.token_ids.length, 0) / Math.max(seconds, 1e-9),
  };
  writeJsonlAtomic(path.join(o.outDir, 'samples.jsonl'), samples);
  writeJsonAtomic(path.join(o.outDir, 'samples.meta.json'), meta);
  const summary = { ...metrics, numbers, samples: samples.length, prompts: prompts.length };
  writeJsonAtomic(path.join(o.outDir, 'summary.json'), summary);
  const logger = new MetricsLogger(path.join(o.outDir, 'metrics.jsonl'), { stage: 'sample' });
  logger.log(0, { ...outputMetricsFlat(metrics), 'numbers/entropy': numbers.entropy, 'numbers/entropy_fraction': numbers.entropyFraction, 'numbers/top_prob': numbers.topProb, 'time/tokens_per_second': meta.tokens_per_second as number });
  logger.close();
  disposeBundle(model);
  return { meta, summary };
}
