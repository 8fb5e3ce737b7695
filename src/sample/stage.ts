/**
 * `rlhf sample`: K completions per prompt from a policy, batched and seeded, with the sampling
 * settings recorded (samples.meta.json), every sample's tokens, per-token log-probs and entropies
 * (samples.jsonl), and the output-entropy/diversity metrics of the run (summary.json, metrics.jsonl).
 */
import * as path from 'node:path';
import { z } from 'zod';
import { ModelBundle, loadModel, disposeBundle } from '../model/checkpoint';
import { checkPromptRoom, generate } from '../model/generate';
import { Params } from '../model/gpt2';
import { PromptRecord, SampleRecord, SamplesMeta } from '../data/records';
import { readPrompts } from '../data/read';
import { MetricsLogger } from '../metrics/logger';
import { writeJsonAtomic, writeJsonlAtomic } from '../util/fs';
import { Rng } from '../util/rng';
import { progress, warn } from '../util/progress';
import { currentBackend } from '../backend';
import { DEFAULT_NUMBER_PROMPT, numberSummary, outputMetrics, outputMetricsFlat } from '../probe/output-metrics';

export const SampleConfigSchema = z
  .object({
    k: z.number().int().positive().default(8).describe('completions per prompt'),
    temperature: z.number().nonnegative().default(1).describe('sampling temperature (0 = greedy)'),
    top_k: z.number().int().nonnegative().default(0).describe('keep the k most likely tokens (0 = off)'),
    top_p: z.number().positive().max(1).default(1).describe('nucleus sampling mass (1 = off)'),
    max_new_tokens: z.number().int().positive().default(24).describe('longest completion'),
    batch_size: z.number().int().positive().default(64).describe('sequences generated at once'),
    max_prompts: z.number().int().positive().optional().describe('use only the first N prompts'),
    number_prompt: z.string().default(DEFAULT_NUMBER_PROMPT).describe('prompt whose exact number distribution is reported'),
  })
  .strict();
export type SampleConfig = z.infer<typeof SampleConfigSchema>;

/** Sample K completions for each prompt; rows are prompts repeated K times, in batches. */
export function sampleCompletions(model: ModelBundle, params: Params, prompts: PromptRecord[], cfg: SampleConfig, rng: Rng, label = 'sample'): SampleRecord[] {
  const tok = model.tokenizer;
  const rows = prompts.flatMap((p) => Array.from({ length: cfg.k }, (_, i) => ({ p, i })));
  // Before any compute: a prompt that fills the context is an error, one that cuts completions short a warning.
  const short = checkPromptRoom(model.config, prompts.map((p) => ({ name: `prompt ${p.id}`, length: tok.encode(p.prompt).length })), cfg.max_new_tokens);
  if (short.length)
    warn(`${label}: ${short.length} prompt(s) leave fewer than max_new_tokens = ${cfg.max_new_tokens} positions in the model's context (n_positions ${model.config.n_positions}), e.g. ${short[0].name} (${short[0].length} tokens, room for ${short[0].room}): their completions, and those batched with them, stop early`);
  const out: SampleRecord[] = [];
  const bar = progress(label, rows.length);
  for (let s = 0; s < rows.length; s += cfg.batch_size) {
    const chunk = rows.slice(s, s + cfg.batch_size);
    const g = generate(params, model.config, chunk.map((r) => tok.encode(r.p.prompt)), {
      maxNewTokens: cfg.max_new_tokens,
      temperature: cfg.temperature,
      topK: cfg.top_k,
      topP: cfg.top_p,
      eosId: tok.eosId,
      padId: tok.padId,
      rng,
    });
    chunk.forEach((r, j) => {
      const ids = g.tokens[j];
      out.push({
        id: `${r.p.id}/s${r.i}`,
        prompt_id: r.p.id,
        prompt: r.p.prompt,
        kind: r.p.kind,
        task: r.p.task,
        sample_index: r.i,
        completion: tok.decode(ids.filter((t) => t !== tok.eosId)),
        token_ids: ids,
        logprobs: g.logprobs[j],
        entropies: g.entropies[j],
        finished: g.finished[j],
      });
    });
    bar.update(Math.min(rows.length, s + cfg.batch_size));
  }
  bar.stop();
  return out;
}

export interface SampleStageOptions {
  model: string;
  prompts: string;
  outDir: string;
  cfg: Partial<SampleConfig>;
  seed: number;
}

export async function runSample(o: SampleStageOptions) {
  const cfg = SampleConfigSchema.parse(o.cfg);
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
