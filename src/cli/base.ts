/**
 * Shared flags and behaviour of every rlhf command.
 *
 * `--json` is oclif's own: the value `run()` returns is printed as one JSON document on stdout
 * and `this.log` is silenced, so progress and logs go to stderr (see util/progress). An error
 * under --json prints one JSON document too, {"error": {message, code, exit}} (cli/errors).
 * `--quiet` silences progress, info lines and the result lines of `this.log`; warnings, errors and
 * the --json document still print.
 */
import { Command, Flags } from '@oclif/core';
import { BACKENDS, BackendChoice, BackendReport, selectBackend } from '../backend';
import { isQuiet, setQuiet } from '../util/progress';
import { describeError, errorJson, isOclifExit } from './errors';

export abstract class BaseCommand extends Command {
  static enableJsonFlag = true;

  static baseFlags = {
    quiet: Flags.boolean({ char: 'q', description: 'Print only warnings, errors and the --json document.', default: false }),
  };

  async init(): Promise<void> {
    await super.init();
    // --quiet silences progress bars and info lines everywhere (util/progress), before any work.
    if (this.argv.includes('--quiet') || this.argv.includes('-q')) setQuiet(true);
  }

  /** Result lines on stdout: silenced by --quiet (and, by oclif, under --json). */
  log(message = '', ...args: unknown[]): void {
    if (isQuiet()) return;
    super.log(message, ...args);
  }

  protected async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (isOclifExit(err)) throw err; // this.exit(n): oclif exits with n, nothing to report
    const e = describeError(err);
    const json = this.jsonEnabled();
    // Errors go to stderr with a non-zero exit; under --json also as one JSON document on stdout.
    // Without --json, oclif prints its own errors (parse errors come with the usage).
    if (json || !(err as { oclif?: unknown }).oclif) {
      process.stderr.write(`Error: ${e.message}\n`);
      if (process.env.RLHF_DEBUG) process.stderr.write(`${err?.stack}\n`);
      if (json) await new Promise<void>((resolve) => process.stdout.write(errorJson(e), () => resolve()));
      process.exit(e.exit);
    }
    return super.catch(err);
  }
}

/** Commands that run tensors add the backend flag and call useBackend() first. */
export const backendFlag = {
  backend: Flags.string({
    description: 'tfjs backend: auto takes the first that loads of tensorflow-gpu, tensorflow, wasm, cpu.',
    options: ['auto', ...BACKENDS],
    default: 'auto',
    env: 'RLHF_BACKEND',
  }),
};

export async function useBackend(_cmd: BaseCommand, choice: string): Promise<BackendReport> {
  const report = await selectBackend(choice as BackendChoice);
  if (process.env.RLHF_DEBUG) for (const s of report.attempts.filter((a) => !a.ok)) process.stderr.write(`backend ${s.name} skipped: ${s.reason}\n`);
  return report;
}
