/**
 * The backend ladder: tensorflow-gpu → tensorflow → wasm → cpu.
 *
 * Every compute path in rlhf is plain tfjs code; the backend only decides which kernels run it.
 * The native backends (`@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`) are optional
 * dependencies: their own install downloads libtensorflow 2.9.1 from Google, which fails on
 * machines without that route (and does not load on CUDA 12), and `npm ci` still succeeds.
 * `npm run setup:native [-- --gpu]` builds them against PyPI's TensorFlow instead
 * (scripts/setup-native.js). `auto` takes the first backend that loads and says why each one above
 * it was skipped.
 *
 * Both native packages register a backend named 'tensorflow' and load a libtensorflow: only one of
 * them can live in a process. So whether a GPU is there is decided before the GPU package is
 * loaded (the driver's device files), and `auto` does not load it without one: it would run on the
 * CPU, where the CPU build (or wasm) is the right choice.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from './tf';
import { registerWasmKernels, WASM_KERNELS_SUMMARY } from './wasm-kernels';
import { NATIVE_KERNELS_SUMMARY, registerNativeKernels } from './tf-native';
import { GRAPH_SUMMARY, graphsAvailable } from './tf-graph';

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
  /** Devices the computation runs on: the GPU(s) for tensorflow-gpu on a GPU, else the host CPU. */
  devices: string[];
  /** Whether the computation runs on a GPU. */
  gpu: boolean;
  /** Something the user should know about the choice (tensorflow-gpu that found no usable GPU). */
  warning?: string;
  /** Kernels this project adds to the chosen backend (src/backend/wasm-kernels, src/backend/tf-native.ts). */
  kernels: string[];
}

export class BackendError extends Error {}

const INSTALL_HINT: Record<BackendName, string> = {
  'tensorflow-gpu':
    'install it with `npm run setup:native -- --gpu` (TensorFlow 2.21 with CUDA 12 and cuDNN 9 from PyPI; needs only the NVIDIA driver), or `npm install @tensorflow/tfjs-node-gpu@4.22.0` where Google\'s download works (CUDA 11.2, cuDNN 8.1, no Hopper kernels)',
  tensorflow:
    'install it with `npm run setup:native` (libtensorflow from PyPI\'s TensorFlow), or `npm install @tensorflow/tfjs-node@4.22.0` where Google\'s download works',
  wasm: 'reinstall dependencies with `npm ci` (@tensorflow/tfjs-backend-wasm is a regular dependency)',
  cpu: 'the cpu backend ships with @tensorflow/tfjs; reinstall dependencies with `npm ci`',
};

const NATIVE_PACKAGE = { 'tensorflow-gpu': '@tensorflow/tfjs-node-gpu', tensorflow: '@tensorflow/tfjs-node' } as const;

let current: BackendReport | undefined;
/** Whether the project's wasm kernels linked against the wasm backend's memory. */
let wasmKernels = false;
/** Whether the project's kernels replace tfjs-node's (tf-native.ts). */
let nativeKernels = false;
/** The native package loaded into this process, if any. */
let nativeLoaded: 'tensorflow-gpu' | 'tensorflow' | undefined;

/** A reason to skip a backend that is not a failure to load it (shown without the install hint). */
export class Skip extends Error {}

/**
 * The NVIDIA GPUs the driver exposes to this process, by model name; empty when there is no driver
 * or CUDA_VISIBLE_DEVICES hides them all. Read from the driver's files, without loading CUDA.
 */
export function visibleNvidiaGpus(): string[] {
  const visible = process.env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined && (visible.trim() === '' || visible.trim() === '-1')) return [];
  const dir = '/proc/driver/nvidia/gpus';
  let gpus: string[] = [];
  try {
    gpus = fs.readdirSync(dir).map((bus) => {
      const info = fs.readFileSync(path.join(dir, bus, 'information'), 'utf8');
      return /^Model:\s*(.+)$/m.exec(info)?.[1].trim() ?? `NVIDIA GPU at ${bus}`;
    });
  } catch {
    // No /proc entries (containers often hide them): the device nodes still tell.
    if (fs.existsSync('/dev/nvidiactl')) gpus = fs.readdirSync('/dev').filter((d) => /^nvidia\d+$/.test(d)).map((d) => `NVIDIA GPU /dev/${d}`);
  }
  if (visible !== undefined) {
    const ids = visible.split(',').map((s) => s.trim());
    gpus = gpus.filter((_, i) => ids.includes(String(i)) || ids.some((id) => id.startsWith('GPU-') || id.startsWith('MIG-')));
  }
  return gpus;
}

/** The directory an installed package lives in, or undefined. */
export function packageDir(pkg: string): string | undefined {
  try {
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return undefined;
  }
}

/** Whether a native package's directory holds a compiled binding (lib/napi-vN/tfjs_binding.node). */
export function nativeBuilt(dir: string): boolean {
  const lib = path.join(dir, 'lib');
  return fs.existsSync(lib) && fs.readdirSync(lib).some((d) => fs.existsSync(path.join(lib, d, 'tfjs_binding.node')));
}

function loadNative(name: 'tensorflow-gpu' | 'tensorflow'): void {
  const pkg = NATIVE_PACKAGE[name];
  const dir = packageDir(pkg);
  if (!dir) throw new Error('not installed');
  // Installed without its native library (its own install could not download libtensorflow, or
  // setup:native installed the other variant): say so instead of the loader's stack.
  if (!nativeBuilt(dir)) throw new Error(`${pkg} is installed but its native library was not built`);
  if (nativeLoaded && nativeLoaded !== name) throw new Skip(`${NATIVE_PACKAGE[nativeLoaded]} is already loaded in this process (the two cannot share one)`);
  // TensorFlow's C++ logging: warnings and errors only.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(pkg);
  nativeLoaded = name;
  if (!tf.findBackend('tensorflow')) throw new Error(`${pkg} loaded but registered no 'tensorflow' backend`);
}

async function tryBackend(name: BackendName, auto: boolean): Promise<string> {
  switch (name) {
    case 'tensorflow-gpu':
      if (auto && visibleNvidiaGpus().length === 0) {
        throw new Skip(
          packageDir(NATIVE_PACKAGE[name])
            ? 'no NVIDIA GPU is visible (no driver, or CUDA_VISIBLE_DEVICES hides them): it would run on the CPU; `--backend tensorflow-gpu` forces it'
            : `not installed; ${INSTALL_HINT[name]}`,
        );
      }
      loadNative(name);
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tfjs could not initialise it');
      nativeKernels = registerNativeKernels();
      return 'tensorflow';
    case 'tensorflow':
      loadNative(name);
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tfjs could not initialise it');
      nativeKernels = registerNativeKernels();
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

/** tfjs-node's backend object: its binding and whether TensorFlow placed ops on a GPU. */
interface NativeBackend {
  binding: { TF_Version: string };
  isUsingGpuDevice: boolean;
}

/** Where the computation runs, and a warning when that is not what the choice implies. */
function devices(name: BackendName, tfjsBackend: string): Pick<BackendReport, 'devices' | 'gpu' | 'warning'> {
  const os = require('node:os') as typeof import('node:os');
  const cpus = os.cpus();
  const host = `cpu: ${cpus.length} × ${cpus[0]?.model ?? 'unknown'}`;
  if (tfjsBackend === 'tensorflow') {
    const b = tf.backend() as unknown as NativeBackend;
    const lib = `libtensorflow ${b.binding.TF_Version}`;
    if (b.isUsingGpuDevice) return { devices: [...visibleNvidiaGpus().map((g) => `gpu: ${g}`), lib], gpu: true };
    const warning =
      name === 'tensorflow-gpu'
        ? 'TensorFlow found no usable GPU (driver missing or too old for CUDA 12?): tensorflow-gpu runs on the CPU. The CPU build (`npm run setup:native`) is the better choice there.'
        : undefined;
    return { devices: [`${host} (libtensorflow, multi-threaded)`, lib], gpu: false, warning };
  }
  return { devices: [`${host}${tfjsBackend === 'wasm' ? ' (wasm runs single-threaded in Node)' : ''}`], gpu: false };
}

/**
 * Walk the ladder: `auto` tries every backend in order and takes the first that loads; a named
 * backend is tried alone. A failure records its reason with the install hint (a deliberate skip,
 * without); a named backend that fails, or an auto ladder where none loads, is a BackendError.
 * `attempt` loads one backend and returns tfjs's name for it (separate so the walk is testable).
 */
export async function walkLadder(
  choice: BackendChoice,
  attempt: (name: BackendName, auto: boolean) => Promise<string>,
): Promise<{ chosen: BackendName; tfjsBackend: string; attempts: BackendAttempt[] }> {
  const auto = choice === 'auto';
  const attempts: BackendAttempt[] = [];
  for (const name of auto ? BACKENDS : [choice]) {
    try {
      const tfjsBackend = await attempt(name, auto);
      attempts.push({ name, ok: true });
      return { chosen: name, tfjsBackend, attempts };
    } catch (err) {
      const reason = err instanceof Skip ? err.message : `${shortReason(err)}; ${INSTALL_HINT[name]}`;
      attempts.push({ name, ok: false, reason });
    }
  }
  const detail = attempts.map((a) => `  ${a.name}: ${a.reason}`).join('\n');
  throw new BackendError(auto ? `no tfjs backend could be loaded:\n${detail}` : `backend '${choice}' is not available: ${attempts[0].reason}`);
}

/**
 * Select and initialise a backend. `auto` walks the ladder; a named backend that does not load
 * is a BackendError with the install hint.
 */
export async function selectBackend(choice: BackendChoice = 'auto'): Promise<BackendReport> {
  tf.enableProdMode();
  const { chosen, tfjsBackend, attempts } = await walkLadder(choice, async (name, auto) => {
    const b = await tryBackend(name, auto);
    await tf.ready();
    return b;
  });
  const kernels = tfjsBackend === 'wasm' && wasmKernels ? WASM_KERNELS_SUMMARY : tfjsBackend === 'tensorflow' && nativeKernels ? [...NATIVE_KERNELS_SUMMARY, ...(graphsAvailable() ? [GRAPH_SUMMARY] : [])] : [];
  current = { chosen, tfjsBackend, attempts, versions: versions(), ...devices(chosen, tfjsBackend), kernels };
  return current;
}

/** The report of the backend chosen last, if any. */
export function currentBackend(): BackendReport | undefined {
  return current;
}

export { hasKernel } from './fast-ops';
