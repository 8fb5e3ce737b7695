/**
 * The pretrain and SFT stages as library calls (commands and the pipeline both use these).
 *
 * pretrain: a byte-level BPE tokenizer is trained on the task corpus and a tiny GPT-2 is trained
 * from scratch on it, so the embedded default needs no download. sft: any GPT-2 directory is
 * fine-tuned on prompt/response demonstrations with the loss on response tokens only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GPT2Config } from '../model/config';
import { disposeBundle, initModel, loadModel, ModelBundle } from '../model/checkpoint';
import { tokenizerFromJson, TextTokenizer } from '../tokenizer/tokenizer';
import { trainByteLevelBPE } from '../tokenizer/train-bpe';
import { readSft } from '../data/read';
import { LMTrainConfig } from './config';
import { LMExample, LMTrainResult, trainLM } from './trainer';
import { writeJsonAtomic } from '../util/fs';

/** The embedded default: ~0.9M parameters, trains and samples quickly on 2 CPU cores. */
export const TINY_CONFIG: Omit<GPT2Config, 'bos_token_id' | 'eos_token_id' | 'vocab_size'> = {
  n_positions: 128,
  n_embd: 128,
  n_layer: 4,
  n_head: 4,
  layer_norm_epsilon: 1e-5,
  activation_function: 'gelu_new',
};
export const TINY_VOCAB = 512;

/** Documents of the corpus: blocks separated by blank lines. */
export function corpusDocuments(text: string): string[] {
  return text
    .split(/\n\s*\n/)
    .map((d) => d.trim())
    .filter((d) => d.length > 0)
    .map((d) => `${d}\n`);
}

export function documentExamples(docs: string[], tok: TextTokenizer): LMExample[] {
  return docs.map((d) => ({ context: [], target: [...tok.encode(d), tok.eosId] }));
}

/** Demonstrations → (prompt, response + EOS) pairs; the loss is on the response part. */
export async function sftExamples(file: string, tok: TextTokenizer): Promise<LMExample[]> {
  const recs = await readSft(file);
  return recs.map((r) => ({ context: tok.encode(r.prompt), target: [...tok.encode(r.response), tok.eosId] }));
}

export interface PretrainOptions {
  corpus: string;
  /** Demonstrations mixed into pretraining (optional; makes the base model know the task format). */
  extraDocs?: string[];
  outDir: string;
  vocabSize?: number;
  model?: Partial<typeof TINY_CONFIG>;
  train: LMTrainConfig;
  seed: number;
  resume?: boolean;
}

export async function runPretrain(o: PretrainOptions): Promise<LMTrainResult & { parameters: number; vocabSize: number }> {
  const docs = corpusDocuments(fs.readFileSync(o.corpus, 'utf8')).concat(o.extraDocs ?? []);
  if (docs.length < 10) throw new Error(`${o.corpus}: only ${docs.length} documents; a corpus needs blank-line separated text`);
  const tok = tokenizerFromJson(trainByteLevelBPE(docs, { vocabSize: o.vocabSize ?? TINY_VOCAB, singleTokenNumbers: true }));
  const cfg: GPT2Config = { ...TINY_CONFIG, ...o.model, vocab_size: tok.vocabSize, bos_token_id: tok.eosId, eos_token_id: tok.eosId };
  const model = initModel(cfg, tok, o.seed);
  const examples = documentExamples(docs, tok);
  // A fixed 5% of documents is held out for the eval loss.
  const evalIdx = new Set(examples.map((_, i) => i).filter((i) => i % 20 === 0));
  const train = examples.filter((_, i) => !evalIdx.has(i));
  const ev = examples.filter((_, i) => evalIdx.has(i));
  const res = await trainLM({ stage: 'pretrain', model, train, eval: ev, cfg: o.train, outDir: o.outDir, resume: o.resume });
  const parameters = Object.values(model.params).reduce((a, t) => a + t.size, 0);
  disposeBundle(model);
  writeJsonAtomic(path.join(o.outDir, 'summary.json'), { ...res, parameters, vocabSize: tok.vocabSize, documents: docs.length });
  return { ...res, parameters, vocabSize: tok.vocabSize };
}

export interface SftOptions {
  model: string | ModelBundle;
  train: string;
  eval: string;
  outDir: string;
  cfg: LMTrainConfig;
  resume?: boolean;
}

export async function runSft(o: SftOptions): Promise<LMTrainResult> {
  const model = typeof o.model === 'string' ? await loadModel(o.model) : o.model;
  const train = await sftExamples(o.train, model.tokenizer);
  const ev = await sftExamples(o.eval, model.tokenizer);
  const res = await trainLM({ stage: 'sft', model, train, eval: ev, cfg: o.cfg, outDir: o.outDir, resume: o.resume });
  if (typeof o.model === 'string') disposeBundle(model);
  return res;
}
