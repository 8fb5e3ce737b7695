/**
 * The backend ladder and `rlhf env`: auto takes the first backend that loads and says why each one
 * above it was skipped (with the install hint); asking for one that is not there is a clear error
 * and a non-zero exit. Written for any machine: the native backends are optional dependencies, so
 * which ones load is read from the ladder's own report, not assumed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, BackendError, BackendName, selectBackend } from '../src/backend';
import { builtCli, runCli } from './helpers';

describe('backend ladder', () => {
  it('auto picks the first backend that loads; every one above it is skipped with a reason and an install hint', async () => {
    const report = await selectBackend('auto');
    const chosenAt = BACKENDS.indexOf(report.chosen);
    assert.deepEqual(report.attempts.map((a) => a.name), BACKENDS.slice(0, chosenAt + 1));
    for (const a of report.attempts.slice(0, -1)) {
      assert.equal(a.ok, false);
      assert.match(a.reason ?? '', /install|npm ci/, `${a.name}: ${a.reason}`);
    }
    assert.equal(report.attempts[chosenAt].ok, true);
    assert.ok(report.versions.tfjs && report.devices.length > 0);
    // The project's own kernels are reported exactly when wasm runs.
    assert.equal(report.kernels.length > 0, report.tfjsBackend === 'wasm');
  });

  it('a backend that is not there is a BackendError naming it, with the install hint', async (t) => {
    const auto = await selectBackend('auto');
    const missing = auto.attempts.find((a) => !a.ok)?.name as BackendName | undefined;
    if (!missing) return t.skip('every backend loads on this machine');
    await assert.rejects(selectBackend(missing), (err: unknown) => {
      assert.ok(err instanceof BackendError);
      assert.match((err as Error).message, new RegExp(`backend '${missing}' is not available: .*npm install`));
      return true;
    });
  });

  it('`rlhf env --json` is one JSON document with the choice; `--backend <missing>` exits non-zero with the hint', async (t) => {
    if (!builtCli()) return t.skip('dist/ not built');
    const ok = runCli(['env', '--backend', 'wasm', '--json']);
    assert.equal(ok.status, 0, ok.stderr);
    const doc = JSON.parse(ok.stdout);
    assert.equal(doc.chosen, 'wasm');
    assert.ok(doc.kernels.some((k: string) => k.startsWith('RlhfBatchMatMul')));
    const auto = await selectBackend('auto');
    const missing = auto.attempts.find((a) => !a.ok)?.name;
    if (!missing) return;
    const bad = runCli(['env', '--backend', missing]);
    assert.notEqual(bad.status, 0);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, new RegExp(`backend '${missing}' is not available.*npm install`));
  });
});
