/**
 * Kernels this project adds to the tfjs wasm backend. They run inside the backend's own
 * WebAssembly memory (the module imports it), so a kernel call copies nothing in or out.
 *
 * FAST_BATCH_MATMUL: batched a·b with optional transposes (see matmul-wat.ts). tfjs-backend-wasm
 * runs batched products with a scalar loop at ~2 GFLOP/s; this kernel reaches 15–33 GFLOP/s on
 * attention's shapes (measured by bench/run.ts). Rank-2 products stay on tfjs's XNNPACK path,
 * which is as fast or faster there.
 */
import type { KernelFunc, NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs';
import { tf, Tensor } from '../tf';
import { MATMUL_WASM_BASE64 } from './matmul-wasm';

export const FAST_BATCH_MATMUL = 'RlhfBatchMatMul';

interface WasmBackendLike {
  wasm: { asm: { memory: WebAssembly.Memory }; _malloc: (n: number) => number; _free: (p: number) => void };
  dataIdMap: { get: (id: object) => { memoryOffset: number } };
  makeOutput: (shape: number[], dtype: string) => { dataId: object; shape: number[]; dtype: string };
}

type Bmm = (a: number, b: number, c: number, batch: number, M: number, K: number, N: number, aStride: number, bStride: number, transA: number, transB: number, scratch: number) => void;

let instance: { memory: WebAssembly.Memory; bmm: Bmm } | undefined;

function kernelFor(backend: WasmBackendLike): Bmm {
  const memory = backend.wasm.asm.memory;
  if (instance?.memory !== memory) {
    const module = new WebAssembly.Module(Buffer.from(MATMUL_WASM_BASE64, 'base64'));
    const inst = new WebAssembly.Instance(module, { env: { memory } });
    instance = { memory, bmm: inst.exports.bmm as Bmm };
  }
  return instance.bmm;
}

interface TensorInfoLike {
  dataId: object;
  shape: number[];
  dtype: string;
}

/** [batch, M, K]·[batch, K, N] (either side may have batch 1, broadcast), transposes as flags. */
function fastBatchMatMul(args: { inputs: { a: TensorInfoLike; b: TensorInfoLike }; backend: unknown; attrs: { transposeA: boolean; transposeB: boolean } }) {
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = args.attrs;
  const backend = args.backend as WasmBackendLike;
  if (a.shape.length !== 3 || b.shape.length !== 3 || a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`${FAST_BATCH_MATMUL} takes two float32 rank-3 tensors, got ${a.dtype}[${a.shape}] and ${b.dtype}[${b.shape}]`);
  }
  const [Ba, a1, a2] = a.shape;
  const [Bb, b1, b2] = b.shape;
  const [M, K] = transposeA ? [a2, a1] : [a1, a2];
  const [Kb, N] = transposeB ? [b2, b1] : [b1, b2];
  if (K !== Kb) throw new Error(`${FAST_BATCH_MATMUL}: inner dimensions ${K} and ${Kb} differ ([${a.shape}]${transposeA ? 'ᵀ' : ''} · [${b.shape}]${transposeB ? 'ᵀ' : ''})`);
  if (Ba !== Bb && Ba !== 1 && Bb !== 1) throw new Error(`${FAST_BATCH_MATMUL}: batch sizes ${Ba} and ${Bb} do not broadcast`);
  const batch = Math.max(Ba, Bb);
  const out = backend.makeOutput([batch, M, N], 'float32');
  if (batch * M * N === 0) return out;
  const off = (t: TensorInfoLike) => backend.dataIdMap.get(t.dataId).memoryOffset;
  const scratch = transposeB ? backend.wasm._malloc(K * N * 4) : 0;
  try {
    kernelFor(backend)(off(a), off(b), off(out), batch, M, K, N, Ba === 1 ? 0 : M * K * 4, Bb === 1 ? 0 : K * N * 4, transposeA ? 1 : 0, transposeB ? 1 : 0, scratch);
  } finally {
    if (scratch) backend.wasm._free(scratch);
  }
  return out;
}

let registered = false;

/** Register the kernels for the wasm backend (idempotent; harmless when wasm is never used). */
export function registerWasmKernels(): void {
  if (registered || tf.getKernel(FAST_BATCH_MATMUL, 'wasm')) return;
  registered = true;
  tf.registerKernel({ kernelName: FAST_BATCH_MATMUL, backendName: 'wasm', kernelFunc: fastBatchMatMul as unknown as KernelFunc });
}

/** Run the kernel (the caller checks that the active backend has it). */
export function fastBatchMatMulOp(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean): Tensor {
  return tf.engine().runKernel(FAST_BATCH_MATMUL, { a, b } as unknown as NamedTensorMap, { transposeA, transposeB } as unknown as NamedAttrMap) as Tensor;
}
