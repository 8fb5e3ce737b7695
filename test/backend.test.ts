/**
 * The backend ladder and `rlhf env`. The walk itself (auto takes the first backend that loads, every
 * one above it is skipped with its reason and install hint; a named backend that does not load is a
 * BackendError) is tested with stand-in loaders, so every branch runs on every machine. The real
 * loads run in child processes (the two native packages cannot share one process), and what each
 * must give is predicted from what is installed: a built native package must load, an absent one
 * must fail with its hint.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, BackendError, BackendName, nativeBuilt, packageDir, Skip, visibleNvidiaGpus, walkLadder } from '../src/backend';
import { runCli } from './helpers';

/** A loader where the backends in `ok` load and the rest throw (or skip, for those in `skip`). */
function fakeLoader(ok: BackendName[], skip: BackendName[] = []) {
  const calls: string[] = [];
  const attempt = async (name: BackendName, auto: boolean) => {
    calls.push(`${name}${auto ? ' (auto)' : ''}`);
    if (skip.includes(name)) throw new Skip(`skipped on purpose`);
    if (!ok.includes(name)) throw new Error(`Cannot find module '${name}'`);
    return name.startsWith('tensorflow') ? 'tensorflow' : name;
  };
  return { attempt, calls };
}

describe('backend ladder (the walk, with stand-in loaders)', () => {
  it('auto takes the first backend that loads; each one above it is skipped with its reason and install hint', async () => {
    const { attempt, calls } = fakeLoader(['wasm', 'cpu']);
    const r = await walkLadder('auto', attempt);
    assert.equal(r.chosen, 'wasm');
    assert.deepEqual(calls, ['tensorflow-gpu (auto)', 'tensorflow (auto)', 'wasm (auto)']);
    assert.deepEqual(r.attempts.map((a) => [a.name, a.ok]), [['tensorflow-gpu', false], ['tensorflow', false], ['wasm', true]]);
    assert.match(r.attempts[0].reason!, /^not installed; install it with `npm run setup:native -- --gpu`/);
    assert.match(r.attempts[1].reason!, /^not installed; install it with `npm run setup:native`/);
  });

  it('a deliberate skip (no GPU visible) is reported as its reason, without an install hint', async () => {
    const { attempt } = fakeLoader(['tensorflow', 'wasm', 'cpu'], ['tensorflow-gpu']);
    const r = await walkLadder('auto', attempt);
    assert.equal(r.chosen, 'tensorflow');
    assert.equal(r.attempts[0].reason, 'skipped on purpose');
  });

  it('a named backend that does not load is a BackendError naming it, with the hint; it is tried alone', async () => {
    const { attempt, calls } = fakeLoader(['wasm', 'cpu']);
    await assert.rejects(walkLadder('tensorflow', attempt), (err: unknown) => {
      assert.ok(err instanceof BackendError);
      assert.match((err as Error).message, /^backend 'tensorflow' is not available: not installed; install it with `npm run setup:native`/);
      return true;
    });
    assert.deepEqual(calls, ['tensorflow']);
  });

  it('when nothing loads, auto lists every backend with its reason', async () => {
    const { attempt } = fakeLoader([]);
    await assert.rejects(walkLadder('auto', attempt), (err: unknown) => {
      assert.ok(err instanceof BackendError);
      for (const b of BACKENDS) assert.match((err as Error).message, new RegExp(`\\n  ${b}: not installed; `));
      return true;
    });
  });

  it('CUDA_VISIBLE_DEVICES=-1 or empty hides every GPU', () => {
    const saved = process.env.CUDA_VISIBLE_DEVICES;
    try {
      for (const v of ['-1', '']) {
        process.env.CUDA_VISIBLE_DEVICES = v;
        assert.deepEqual(visibleNvidiaGpus(), []);
      }
    } finally {
      if (saved === undefined) delete process.env.CUDA_VISIBLE_DEVICES;
      else process.env.CUDA_VISIBLE_DEVICES = saved;
    }
  });
});

/** What this machine has installed: a native backend loads exactly when its package is built. */
function expectedToLoad(b: BackendName): boolean {
  if (b === 'wasm' || b === 'cpu') return true;
  const dir = packageDir(b === 'tensorflow' ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-node-gpu');
  return dir !== undefined && nativeBuilt(dir);
}

describe('backend ladder (real loads, `rlhf env` in a child process)', () => {
  for (const b of BACKENDS) {
    it(`--backend ${b}: ${expectedToLoad(b) ? 'loads (it is installed here)' : 'fails with the install hint (it is not installed here)'}`, () => {
      const r = runCli(['env', '--backend', b, '--json'], { env: { CUDA_VISIBLE_DEVICES: '-1' } });
      if (expectedToLoad(b)) {
        assert.equal(r.status, 0, r.stderr);
        const doc = JSON.parse(r.stdout);
        assert.equal(doc.chosen, b);
        assert.equal(doc.tfjsBackend, b.startsWith('tensorflow') ? 'tensorflow' : b);
        // The project's own kernels are reported on wasm and on tensorflow, not on cpu.
        assert.equal(doc.kernels.length > 0, b !== 'cpu');
        if (b === 'wasm') assert.ok(doc.kernels.some((k: string) => k.startsWith('RlhfBatchMatMul')));
        if (b.startsWith('tensorflow')) assert.ok(doc.kernels.some((k: string) => k.startsWith('Reshape')));
        // Decoding steps as one graph session: on the CPU build only (a GPU would copy the feeds).
        if (b.startsWith('tensorflow')) assert.equal(doc.kernels.some((k: string) => k.startsWith('Decoding steps')), !doc.gpu);
        if (b.startsWith('tensorflow')) {
          assert.ok(doc.devices.some((d: string) => /^libtensorflow \d+\.\d+/.test(d)), doc.devices.join('; '));
          // With every GPU hidden, TensorFlow runs on the CPU, and tensorflow-gpu says so.
          assert.equal(doc.gpu, false);
          if (b === 'tensorflow-gpu') assert.match(doc.warning, /no usable GPU.*runs on the CPU/);
        }
      } else {
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, new RegExp(`backend '${b}' is not available: .*(npm run setup:native|npm ci)`));
      }
    });
  }

  it('auto with no GPU visible: never tensorflow-gpu; the first of tensorflow, wasm that is installed; each skip has its reason', () => {
    const r = runCli(['env', '--backend', 'auto', '--json'], { env: { CUDA_VISIBLE_DEVICES: '-1' } });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.chosen, expectedToLoad('tensorflow') ? 'tensorflow' : 'wasm');
    assert.equal(doc.attempts[0].name, 'tensorflow-gpu');
    assert.equal(doc.attempts[0].ok, false);
    assert.match(doc.attempts[0].reason, expectedToLoad('tensorflow-gpu') || packageDir('@tensorflow/tfjs-node-gpu') ? /no NVIDIA GPU is visible/ : /not installed; install it/);
    for (const a of doc.attempts.slice(1, -1)) assert.match(a.reason, /install it with|npm ci/, `${a.name}: ${a.reason}`);
    assert.ok(doc.versions.tfjs);
  });
});
