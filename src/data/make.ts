/**
 * `rlhf data make`: writes the shipped data, deterministically from a seed.
 *
 *   <out>/tasks/sft-train.jsonl        demonstrations for SFT
 *   <out>/tasks/sft-eval.jsonl         held-out demonstrations (eval loss)
 *   <out>/tasks/prompts-train.jsonl    prompts for sampling / PPO
 *   <out>/tasks/prompts-heldout.jsonl  held-out prompts for evaluation
 *   <out>/tasks/corpus.txt             pretraining text (documents separated by a blank line)
 *   <out>/reward-collapse/train.rankings.jsonl, heldout.rankings.jsonl
 *   <out>/manifest.json                seed, and per file: bytes, records, sha256
 *
 * Same seed → same bytes (no timestamps anywhere; every file written atomically).
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs';
import { toJsonl } from './jsonl';
import { buildTaskSuite } from './tasks';
import { CollapseOptions, DEFAULT_COLLAPSE, buildCollapseData } from './collapse-data';

export const DEFAULT_DATA_SEED = 1;

export interface FileEntry {
  path: string;
  bytes: number;
  records: number;
  sha256: string;
}

export interface DataManifest {
  seed: number | string;
  files: FileEntry[];
  totalBytes: number;
}

export interface MakeOptions {
  outDir: string;
  seed: number | string;
  collapse?: Partial<Omit<CollapseOptions, 'seed'>>;
}

export function makeData(opts: MakeOptions): DataManifest {
  const suite = buildTaskSuite(opts.seed);
  const collapse = buildCollapseData({ ...DEFAULT_COLLAPSE, ...opts.collapse, seed: opts.seed });
  const outputs: [string, string, number][] = [
    ['tasks/sft-train.jsonl', toJsonl(suite.sftTrain), suite.sftTrain.length],
    ['tasks/sft-eval.jsonl', toJsonl(suite.sftEval), suite.sftEval.length],
    ['tasks/prompts-train.jsonl', toJsonl(suite.promptsTrain), suite.promptsTrain.length],
    ['tasks/prompts-heldout.jsonl', toJsonl(suite.promptsHeldout), suite.promptsHeldout.length],
    ['tasks/corpus.txt', suite.corpus, suite.corpus.split('\n\n').length],
    ['reward-collapse/train.rankings.jsonl', toJsonl(collapse.train), collapse.train.length],
    ['reward-collapse/heldout.rankings.jsonl', toJsonl(collapse.heldout), collapse.heldout.length],
  ];
  const files: FileEntry[] = [];
  for (const [rel, text, records] of outputs) {
    const buf = Buffer.from(text, 'utf8');
    writeFileAtomic(path.join(opts.outDir, rel), buf);
    files.push({ path: rel, bytes: buf.length, records, sha256: createHash('sha256').update(buf).digest('hex') });
  }
  const manifest: DataManifest = { seed: opts.seed, files, totalBytes: files.reduce((s, f) => s + f.bytes, 0) };
  writeJsonAtomic(path.join(opts.outDir, 'manifest.json'), manifest);
  return manifest;
}
