/**
 * Shared flags and behaviour of every rlhf command.
 *
 * `--json` is oclif's own: the value `run()` returns is printed as one JSON document on stdout
 * and `this.log` is silenced, so progress and logs go to stderr (see util/log).
 */
import { Command, Flags } from '@oclif/core';
import { BACKENDS, BackendChoice, BackendReport, selectBackend } from '../backend';
import { setQuiet } from '../util/progress';

export abstract class BaseCommand extends Command {
  static enableJsonFlag = true;

  static baseFlags = {
    quiet: Flags.boolean({ char: 'q', description: 'Print nothing but errors (and the --json document).', default: false }),
  };

  async init(): Promise<void> {
    await super.init();
    // --quiet silences progress bars and info lines everywhere (util/progress), before any work.
    if (this.argv.includes('--quiet') || this.argv.includes('-q')) setQuiet(true);
  }

  protected async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    // Errors go to stderr with a non-zero exit, also under --json.
    if (err && !(err as { oclif?: unknown }).oclif) {
      process.stderr.write(`Error: ${err.message}\n`);
      if (process.env.RLHF_DEBUG) process.stderr.write(`${err.stack}\n`);
      process.exit(err.exitCode ?? 1);
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
