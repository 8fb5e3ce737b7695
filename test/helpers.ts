/** Shared test helpers. Tests run from test/ (tsx) or dist/test/ (npm test); fixtures stay in test/fixtures. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync, SpawnSyncReturns } from 'node:child_process';

export const ROOT = (() => {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return d;
})();

export function fixturePath(...parts: string[]): string {
  return path.join(ROOT, 'test', 'fixtures', ...parts);
}

export function tmpDir(prefix = 'rlhf-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Run the CLI as a child process (the compiled one in dist/, built by `npm test`). */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, RLHF_BACKEND: 'wasm', ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeout ?? 300_000,
  });
}

export function builtCli(): boolean {
  return fs.existsSync(path.join(ROOT, 'dist', 'src', 'commands'));
}
