/**
 * The run's data in the formats TRL and OpenRLHF read: JSON Lines with plain-text columns, one
 * folder per kind with train.jsonl and test.jsonl, so that `load_dataset("json", data_files=…)`
 * (OpenRLHF) and `load_dataset(folder)` (TRL's `dataset_name`, which names splits after the files)
 * both read them.
 *
 *   preference/  {"prompt", "chosen", "rejected"}: every pair of a k-wise ranking with
 *                rank(chosen) < rank(rejected), ties make none (dpo/pairs.ts: the pairs rlhf's own
 *                reward models and DPO learn from)
 *   prompt/      {"prompt"}: the prompts the policy is tuned on (ppo.tasks / number_prompt_only
 *                applied), test = the held-out prompts of the tuned tasks
 *   sft/         {"prompt", "completion"}: the demonstrations (TRL's prompt-completion format: the
 *                loss on the completion only, as rlhf's SFT)
 *
 * Completions carry no EOS: both engines' tokenisation adds it (TRL appends eos_token to the
 * completion; OpenRLHF's datasets append it), as rlhf's trainers do.
 */
import * as path from 'node:path';
import { readRankings, readSft } from '../data/read';
import { PromptRecord } from '../data/records';
import { preferencePairs } from '../dpo/pairs';
import { writeJsonlAtomic } from '../util/fs';

export interface DatasetCounts {
  /** Records read from the run's file, records written. */
  read: number;
  written: number;
  file: string;
  source: string;
}

export async function writePreferences(outDir: string, split: 'train' | 'test', rankingsFile: string, tasks: readonly string[] | null = null): Promise<DatasetCounts> {
  const records = await readRankings(rankingsFile);
  const kept = tasks ? records.filter((r) => r.task !== undefined && tasks.includes(r.task)) : records;
  const pairs = preferencePairs(kept).map((p) => ({ prompt: p.prompt, chosen: p.chosen, rejected: p.rejected }));
  const file = path.join(outDir, `${split}.jsonl`);
  writeJsonlAtomic(file, pairs);
  return { read: records.length, written: pairs.length, file, source: rankingsFile };
}

/**
 * Prompt-only rows: the prompts a stage tunes on, chosen by the stage's own code (ppo/stage.ts
 * rolloutPrompts / heldoutPrompts, readTaskPrompts for GRPO and RLOO), so the export cannot pick
 * others. `repeat`: write the list over until it has at least that many rows (PPO's
 * number_prompt_only is one prompt: the engines draw batches from the dataset and drop a last
 * partial batch, so a one-row dataset would give no batch at all).
 */
export function writePrompts(outDir: string, split: 'train' | 'test', records: readonly PromptRecord[], source: string, read: number, repeat = 1): DatasetCounts {
  const file = path.join(outDir, `${split}.jsonl`);
  const rows = Array.from({ length: Math.max(1, Math.ceil(repeat / Math.max(1, records.length))) }, () => records.map((r) => ({ prompt: r.prompt }))).flat();
  writeJsonlAtomic(file, rows);
  return { read, written: rows.length, file, source };
}

export async function writeDemonstrations(outDir: string, split: 'train' | 'test', sftFile: string): Promise<DatasetCounts> {
  const records = await readSft(sftFile);
  const file = path.join(outDir, `${split}.jsonl`);
  writeJsonlAtomic(file, records.map((r) => ({ prompt: r.prompt, completion: r.response })));
  return { read: records.length, written: records.length, file, source: sftFile };
}
