/**
 * A stage's settings from a command's flags (or a test's object), parsed once with the stage's own
 * schema: an invalid value is an error naming the stage and the key path, e.g.
 * "train-rm.utility.gamma: power needs gamma". What the schema returns is typed and complete; the
 * stage takes it as it is.
 */
import * as fs from 'node:fs';
import YAML from 'yaml';
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

/**
 * A tuning command's raw settings: the YAML of --config FILE (the stage section's keys), then the flags
 * that were given on top (undefined ones dropped, so they do not hide the file's or the defaults).
 */
export function settingsFromFlags(configFile: string | undefined, flags: Record<string, unknown>): Record<string, unknown> {
  const fromFile = configFile ? (YAML.parse(fs.readFileSync(configFile, 'utf8')) ?? {}) : {};
  return { ...fromFile, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) };
}

/** A numeric flag given as a string (so 1e-4 is accepted), or undefined when absent. */
export const numberFlag = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
