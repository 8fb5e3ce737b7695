/**
 * A stage's settings from a command's flags (or a test's object), parsed once with the stage's own
 * schema: an invalid value is an error naming the stage and the key path, e.g.
 * "train-rm.utility.gamma: power needs gamma". What the schema returns is typed and complete; the
 * stage takes it as it is.
 */
import { z } from 'zod';
import { utilityIssueText } from '../reward/config';

export function parseStageConfig<S extends z.ZodType>(schema: S, raw: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => {
    const at = [where, ...i.path.map(String)].join('.');
    return utilityIssueText(at, i.message) ?? `${at}: ${i.message}`;
  });
  throw new Error(lines.join('\n'));
}
