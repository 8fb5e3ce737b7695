/**
 * How an error ends a command: one message on stderr, a non-zero exit status and, under --json,
 * one JSON document on stdout, so a script that reads stdout always gets something to parse:
 *
 *   {"error": {"message": "...", "code": "usage", "exit": 2}}
 *
 * code: "usage" for a command line that does not parse or a flag value a command refuses (exit 2);
 * Node's own code for a system error ("ENOENT", "EACCES", "ENOSPC", ...); otherwise the error's class
 * ("ConfigError", "RecordError", "StageError", "Error", ...). bin/run.js uses it too, for errors
 * that happen before a command runs (an unknown command).
 */
import { stripVTControlCharacters } from 'node:util';

/** A flag value a command refuses (exit 2, code "usage"), thrown where `this.error` is out of reach. */
export class UsageError extends Error {
  readonly code = 'usage';
  readonly exitCode = 2;
}

export interface ErrorInfo {
  message: string;
  code: string;
  exit: number;
}

interface OclifLike {
  oclif?: { exit?: number };
  parse?: unknown;
  code?: unknown;
  exitCode?: unknown;
}

/** oclif's this.exit(n): not a failure to report, only a way out. */
export function isOclifExit(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as OclifLike).code === 'EEXIT';
}

export function describeError(err: unknown): ErrorInfo {
  const e = (err && typeof err === 'object' ? err : { message: String(err) }) as Error & OclifLike;
  const message = stripVTControlCharacters(String(e.message ?? err)).replace(/\nSee more help with --help$/, '');
  const oclifExit = e.oclif?.exit;
  if (oclifExit !== undefined) {
    // CLIError: oclif's parse errors and this.error() in a command (a refused flag value).
    return { message, code: typeof e.code === 'string' ? e.code : 'usage', exit: oclifExit || 2 };
  }
  const exit = typeof e.exitCode === 'number' && e.exitCode > 0 ? e.exitCode : 1;
  const code = typeof e.code === 'string' && e.code ? e.code : e.constructor?.name && e.constructor.name !== 'Object' ? e.constructor.name : 'Error';
  return { message, code, exit };
}

/** The --json document of an error (pretty-printed like oclif's success documents). */
export function errorJson(info: ErrorInfo): string {
  return `${JSON.stringify({ error: info }, null, 2)}\n`;
}

/** Whether the command line asks for --json (before any `--`), as oclif decides it. */
export function argvWantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  const i = argv.indexOf('--json');
  return i !== -1 && (end === -1 || i < end);
}
