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
export const readSft = (file: string): Promise<SftRecord[]> => readJsonlStrict(file, strict(checkSft));
export const readRankings = (file: string): Promise<RankingRecord[]> => readJsonlStrict(file, strict(checkRanking));
