/**
 * Format `samples`: the scripted labeler over a policy's samples.jsonl (one line per sample,
 * k lines per prompt, see notes/FORMATS.md). Lines are grouped by prompt_id; each group becomes
 * one ranking of its distinct completions, ordered by the task's ground-truth quality
 * (quality.ts) plus the labeler's noise (labeler.ts), seeded per prompt.
 *
 * Accounting is per line (a line is one sample):
 * - a line that is not a usable sample is rejected on its own (invalid JSON, missing field,
 *   empty completion — the canonical format has no empty completions —, a prompt or task
 *   that disagrees with the first line of the same prompt_id);
 * - identical completions of one prompt are merged into one item (the labeler cannot tell them
 *   apart); those lines count as accepted and the report counts them under `merged`. The ranking's
 *   `meta.counts` says how many samples each completion stands for, `meta.quality` its quality;
 * - a whole group is rejected, line by line, when its task has no quality function
 *   (unknown-task), its prompt does not fit the task (invalid-field), it has fewer than 2 distinct
 *   completions, or the labeler's judgements tie everything (all-tied).
 * Groups are held in memory until the file ends (a samples file is at most a few MB).
 */
import { Kind, Where } from '../records';
import { readJsonl } from '../jsonl';
import { qualityOf, QUALITY } from '../quality';
import { LabelerOptions, labelPrompt } from '../labeler';
import { RankingRecord } from '../records';
import { Rejection, isObject } from './types';

export interface Tally {
  blank(): void;
  read(): void;
  accept(n?: number): void;
  /** Counts the rejection; throws IngestError under --strict. */
  reject(r: Rejection): void;
  merged(n: number): void;
}

interface Group {
  promptId: string;
  prompt: string;
  task: string;
  kind?: Kind;
  firstLine: number;
  items: { line: number; index: number; completion: string }[];
}

type Bad = { reason: Rejection['reason']; field: string; message: string };

function field(obj: Record<string, unknown>, key: string, nonEmpty: boolean): string | Bad {
  const v = obj[key];
  if (v === undefined || v === null) return { reason: 'missing-field', field: key, message: `"${key}" is missing` };
  if (typeof v !== 'string') return { reason: 'invalid-field', field: key, message: `"${key}" should be a string` };
  if (nonEmpty && v.trim() === '') return { reason: 'empty-text', field: key, message: `"${key}" is empty` };
  return v;
}

export async function ingestSamples(
  file: string,
  labeler: LabelerOptions,
  tally: Tally,
  emit: (r: RankingRecord) => void | Promise<void>,
): Promise<void> {
  const groups = new Map<string, Group>();
  for await (const item of readJsonl(file)) {
    if (item.kind === 'blank') {
      tally.blank();
      continue;
    }
    tally.read();
    const where: Where = { file, line: item.line };
    const fail = (b: Bad): void => tally.reject({ ...where, ...b });
    if (item.kind === 'error') {
      tally.reject({ ...where, reason: item.reason ?? 'invalid-json', message: item.error });
      continue;
    }
    const v = item.value;
    if (!isObject(v)) {
      tally.reject({ ...where, reason: 'not-an-object', message: 'expected a JSON object' });
      continue;
    }
    const pid = field(v, 'prompt_id', true);
    if (typeof pid !== 'string') { fail(pid); continue; }
    const prompt = field(v, 'prompt', true);
    if (typeof prompt !== 'string') { fail(prompt); continue; }
    const task = field(v, 'task', true);
    if (typeof task !== 'string') { fail(task); continue; }
    const completion = field(v, 'completion', true);
    if (typeof completion !== 'string') { fail(completion); continue; }
    const index = v.sample_index;
    if (index !== undefined && (typeof index !== 'number' || !Number.isInteger(index) || index < 0)) {
      fail({ reason: 'invalid-field', field: 'sample_index', message: `"sample_index" should be an integer >= 0, got ${JSON.stringify(index)}` });
      continue;
    }
    const kind = v.kind;
    if (kind !== undefined && kind !== 'open' && kind !== 'closed') {
      fail({ reason: 'invalid-field', field: 'kind', message: `"kind" should be "open" or "closed", got ${JSON.stringify(kind)}` });
      continue;
    }
    let g = groups.get(pid);
    if (!g) {
      g = { promptId: pid, prompt, task, kind: kind as Kind | undefined, firstLine: item.line, items: [] };
      groups.set(pid, g);
    } else if (g.prompt !== prompt || g.task !== task) {
      const f = g.prompt !== prompt ? 'prompt' : 'task';
      fail({ reason: 'inconsistent-group', field: f, message: `"${f}" differs from line ${g.firstLine} of the same prompt_id ${JSON.stringify(pid)}` });
      continue;
    }
    g.items.push({ line: item.line, index: typeof index === 'number' ? index : g.items.length, completion });
  }

  for (const g of groups.values()) {
    const rejectAll = (b: Bad): void => {
      for (const it of g.items) tally.reject({ file, line: it.line, ...b });
    };
    if (!QUALITY[g.task]) {
      rejectAll({ reason: 'unknown-task', field: 'task', message: `no quality function for task ${JSON.stringify(g.task)} (known: ${Object.keys(QUALITY).join(', ')})` });
      continue;
    }
    // Distinct completions in sample order; duplicates merged into the first.
    const items = [...g.items].sort((a, b) => a.index - b.index || a.line - b.line);
    const texts: string[] = [];
    const counts: number[] = [];
    const at = new Map<string, number>();
    for (const it of items) {
      const j = at.get(it.completion);
      if (j === undefined) {
        at.set(it.completion, texts.length);
        texts.push(it.completion);
        counts.push(1);
      } else counts[j]++;
    }
    if (texts.length < 2) {
      rejectAll({ reason: 'too-few-completions', field: 'completion', message: `prompt ${JSON.stringify(g.promptId)} has ${texts.length} distinct completion(s) among ${items.length} sample(s)` });
      continue;
    }
    const quality = texts.map((t) => qualityOf(g.task, g.prompt, t) as number);
    if (quality.some((q) => !Number.isFinite(q))) {
      rejectAll({ reason: 'invalid-field', field: 'prompt', message: `the prompt does not fit task ${JSON.stringify(g.task)}, so its quality cannot be computed` });
      continue;
    }
    const { order, ranks } = labelPrompt(g.promptId, quality, labeler);
    if (ranks[ranks.length - 1] === 0) {
      rejectAll({ reason: 'all-tied', field: 'completion', message: `the labeler tied all ${texts.length} completions of prompt ${JSON.stringify(g.promptId)}` });
      continue;
    }
    tally.accept(items.length);
    tally.merged(items.length - texts.length);
    const record: RankingRecord = {
      id: `rank-${g.promptId}`,
      prompt_id: g.promptId,
      prompt: g.prompt,
      ...(g.kind ? { kind: g.kind } : {}),
      task: g.task,
      completions: order.map((i) => texts[i]),
      ranks,
      source: { format: 'samples', file, line: g.firstLine },
      meta: { quality: order.map((i) => Number(quality[i].toFixed(6))), counts: order.map((i) => counts[i]) },
    };
    await emit(record);
  }
}
