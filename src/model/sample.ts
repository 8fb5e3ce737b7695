/**
 * K sampled completions per prompt, as sample records (tokens, per-token log-probs and exact
 * entropies): what the sampling stage writes and the probes measure. Batched across prompts.
 */
import { ModelBundle } from './checkpoint';
import { checkPromptRoom, generate } from './generate';
import { Params } from './gpt2';
import { PromptRecord, SampleRecord } from '../data/records';
import { progress, warn } from '../util/progress';
import { Rng } from '../util/rng';

/** How to sample: completions per prompt, the sampling distribution, length and batch. */
export interface CompletionOptions {
  k: number;
  temperature: number;
  top_k: number;
  top_p: number;
  max_new_tokens: number;
  batch_size: number;
}

/** Sample K completions for each prompt; rows are prompts repeated K times, in batches. */
export function sampleCompletions(model: ModelBundle, params: Params, prompts: PromptRecord[], cfg: CompletionOptions, rng: Rng, label = 'sample'): SampleRecord[] {
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
