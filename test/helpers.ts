/** Shared test helpers. Tests run from test/ (tsx) or dist/test/ (npm test); fixtures stay in test/fixtures. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { BACKENDS, BackendName } from '../src/backend';

/**
 * The backend the suite runs on: RLHF_BACKEND (the variable the CLI's --backend reads too), wasm
 * when unset. `RLHF_BACKEND=tensorflow npm test` runs it on the native build (npm run setup:native).
 * Tests that compare backends use BACKENDS_UNDER_TEST: this one and the cpu reference.
 */
export const TEST_BACKEND: BackendName = (() => {
  const b = process.env.RLHF_BACKEND ?? 'wasm';
  if (!(BACKENDS as readonly string[]).includes(b)) throw new Error(`RLHF_BACKEND=${b}: expected one of ${BACKENDS.join(', ')}`);
  return b as BackendName;
})();
export const BACKENDS_UNDER_TEST: BackendName[] = TEST_BACKEND === 'cpu' ? ['cpu'] : [TEST_BACKEND, 'cpu'];

/** For a test that only means something on one backend: the reason to skip it elsewhere, or undefined. */
export function onlyOn(backend: BackendName, why: string): string | undefined {
  return TEST_BACKEND === backend ? undefined : `${why} (runs only with RLHF_BACKEND=${backend}; this run uses ${TEST_BACKEND})`;
}

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
    env: { ...process.env, RLHF_BACKEND: TEST_BACKEND, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeout ?? 300_000,
  });
}

export function builtCli(): boolean {
  return fs.existsSync(path.join(ROOT, 'dist', 'src', 'commands'));
}

/** tfjs's own name for a backend (both native packages register 'tensorflow'), for tf.setBackend. */
export function tfjsName(b: BackendName): string {
  return b.startsWith('tensorflow') ? 'tensorflow' : b;
}
