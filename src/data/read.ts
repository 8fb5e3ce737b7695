/** Read this project's own (small) record files strictly: the first bad line is an error naming file, line and field. */
import { readJsonlStrict } from './jsonl';
import { Checked, checkPrompt, checkRanking, checkSft, PromptRecord, RankingRecord, RecordError, SftRecord, Where } from './records';

function strict<T>(check: (v: unknown, w: Where) => Checked<T>) {
  return (value: unknown, where: Where): T => {
    const r = check(value, where);
    if (!r.ok) throw new RecordError(r.problems[0]);
    return r.value;
  };
}

export const readPrompts = (file: string): Promise<PromptRecord[]> => readJsonlStrict(file, strict(checkPrompt));

/**
 * The prompts of some tasks (all when `tasks` is null), for a tuning stage's rollouts and its held-out
 * probe: held-out reward is measured on the tasks being tuned, not on tasks the policy never trained on.
 */
export async function readTaskPrompts(file: string, tasks: readonly string[] | null): Promise<PromptRecord[]> {
  const all = await readPrompts(file);
  const kept = tasks ? all.filter((p) => tasks.includes(p.task)) : all;
  if (!kept.length) throw new Error(`${file}: no prompts of tasks ${JSON.stringify(tasks)} (tasks found: ${JSON.stringify([...new Set(all.map((p) => p.task))])})`);
  return kept;
}
export const readSft = (file: string): Promise<SftRecord[]> => readJsonlStrict(file, strict(checkSft));
export const readRankings = (file: string): Promise<RankingRecord[]> => readJsonlStrict(file, strict(checkRanking));
