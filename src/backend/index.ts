/**
 * The backend ladder: tensorflow-gpu → tensorflow → wasm → cpu.
 *
 * Every compute path in rlhf is plain tfjs code; the backend only decides which kernels run it.
 * The native backends (`@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`) are optional
 * dependencies: their install downloads libtensorflow, which fails on machines without that
 * route, and `npm ci` still succeeds. `auto` takes the first backend that loads and says why
 * each one above it was skipped.
 */
import { tf } from './tf';
import { registerWasmKernels, WASM_KERNELS_SUMMARY } from './wasm-kernels';

export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendChoice = 'auto' | BackendName;

export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  reason?: string;
}

export interface BackendReport {
  /** The backend the ladder chose (our name). */
  chosen: BackendName;
  /** tfjs's own name for it (`tensorflow`, `wasm`, `cpu`). */
  tfjsBackend: string;
  /** What was tried, in order, and why the ones before the chosen one were skipped. */
  attempts: BackendAttempt[];
  versions: Record<string, string>;
  /** Devices a native backend reports; the host CPU otherwise. */
  devices: string[];
  /** Kernels this project adds to the chosen backend (wasm only; see src/backend/wasm-kernels). */
  kernels: string[];
}

export class BackendError extends Error {}

const INSTALL_HINT: Record<BackendName, string> = {
  'tensorflow-gpu':
    'install it with `npm install @tensorflow/tfjs-node-gpu@4.22.0` on a machine with CUDA 11.8/cuDNN 8 and internet access (its install downloads libtensorflow)',
  tensorflow:
    'install it with `npm install @tensorflow/tfjs-node@4.22.0` on a machine with internet access (its install downloads libtensorflow)',
  wasm: 'reinstall dependencies with `npm ci` (@tensorflow/tfjs-backend-wasm is a regular dependency)',
  cpu: 'the cpu backend ships with @tensorflow/tfjs; reinstall dependencies with `npm ci`',
};

let current: BackendReport | undefined;
/** Whether the project's wasm kernels linked against the wasm backend's memory. */
let wasmKernels = false;

function loadNative(pkg: string): void {
  // Both native packages register a backend called 'tensorflow' on the shared tfjs-core.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(pkg);
  if (!tf.findBackend('tensorflow')) throw new Error(`${pkg} loaded but registered no 'tensorflow' backend`);
}

async function tryBackend(name: BackendName): Promise<string> {
  switch (name) {
    case 'tensorflow-gpu':
      loadNative('@tensorflow/tfjs-node-gpu');
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tfjs could not initialise it');
      return 'tensorflow';
    case 'tensorflow':
      loadNative('@tensorflow/tfjs-node');
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tfjs could not initialise it');
      return 'tensorflow';
    case 'wasm':
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) throw new Error('tfjs could not initialise it');
      await tf.ready();
      wasmKernels = registerWasmKernels();
      return 'wasm';
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) throw new Error('tfjs could not initialise it');
      return 'cpu';
  }
}

function shortReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Cannot find module/.test(msg)) return 'not installed';
  return msg.split('\n')[0].slice(0, 200);
}

function versions(): Record<string, string> {
  const out: Record<string, string> = { node: process.versions.node, tfjs: tf.version.tfjs };
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm']) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      out[pkg] = require(`${pkg}/package.json`).version;
    } catch {
      /* not installed */
    }
  }
  return out;
}

function devices(tfjsBackend: string): string[] {
  if (tfjsBackend === 'tensorflow') {
    // tfjs-node exposes the TensorFlow C library through its binding; which devices it placed
    // ops on is printed by TensorFlow itself at start-up. We report what the binding tells us.
    const b = tf.backend() as unknown as { binding?: { TF_Version?: string; isUsingGpu?: () => boolean } };
    const list = [`libtensorflow ${b.binding?.TF_Version ?? 'unknown version'}`];
    const cuda = process.env.CUDA_VISIBLE_DEVICES;
    if (cuda !== undefined) list.push(`CUDA_VISIBLE_DEVICES=${cuda}`);
    return list;
  }
  const os = require('node:os') as typeof import('node:os');
  const cpus = os.cpus();
  return [`cpu: ${cpus.length} × ${cpus[0]?.model ?? 'unknown'}${tfjsBackend === 'wasm' ? ' (wasm runs single-threaded in Node)' : ''}`];
}

/**
 * Select and initialise a backend. `auto` walks the ladder; a named backend that does not load
 * is a BackendError with the install hint.
 */
export async function selectBackend(choice: BackendChoice = 'auto'): Promise<BackendReport> {
  tf.enableProdMode();
  const ladder: readonly BackendName[] = choice === 'auto' ? BACKENDS : [choice];
  const attempts: BackendAttempt[] = [];
  for (const name of ladder) {
    try {
      const tfjsBackend = await tryBackend(name);
      await tf.ready();
      attempts.push({ name, ok: true });
      current = { chosen: name, tfjsBackend, attempts, versions: versions(), devices: devices(tfjsBackend), kernels: tfjsBackend === 'wasm' && wasmKernels ? WASM_KERNELS_SUMMARY : [] };
      return current;
    } catch (err) {
      attempts.push({ name, ok: false, reason: `${shortReason(err)}; ${INSTALL_HINT[name]}` });
    }
  }
  const detail = attempts.map((a) => `  ${a.name}: ${a.reason}`).join('\n');
  throw new BackendError(
    choice === 'auto'
      ? `no tfjs backend could be loaded:\n${detail}`
      : `backend '${choice}' is not available: ${attempts[0].reason}`,
  );
}

/** The report of the backend chosen last, if any. */
export function currentBackend(): BackendReport | undefined {
  return current;
}

/** Whether the active backend has a kernel (used to route around kernels wasm lacks). */
export function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}
