/**
 * Kernels this project adds to the tfjs wasm backend. They run inside the backend's own
 * WebAssembly memory (the module imports it), so a kernel call copies nothing in or out.
 *
 * FAST_BATCH_MATMUL: batched a·b with optional transposes (see kernels-wat.ts). tfjs-backend-wasm
 * runs batched products with a scalar loop at ~2 GFLOP/s; this kernel reaches 15–33 GFLOP/s on
 * attention's shapes (measured by bench/run.ts). Rank-2 products stay on tfjs's XNNPACK path,
 * which is as fast or faster there.
 *
 * Transpose, Slice and SplitV are replaced for 4-byte dtypes by one strided-copy kernel. tfjs's
 * wasm Slice copies the *whole* input to the JS heap before taking its part (SplitV does that once
 * per piece), and its Transpose runs at ~0.1 G elements/s (a rank-5 one at a hundredth of that).
 * Other dtypes, and shapes that do not fold to rank 5, go to tfjs's own kernels.
 *
 * WRITE_ROWS writes a step's keys/values into a preallocated KV cache in place (kv-cache.ts);
 * ADAM_STEP is one Adam update in a single pass (optim.ts); wasmSumSquares feeds the gradient norm.
 */
import type { KernelFunc, NamedAttrMap, NamedTensorMap, TensorInfo } from '@tensorflow/tfjs';
import { tf, Tensor } from '../tf';
import { KERNELS_WASM_BASE64 } from './kernels-wasm';

export const FAST_BATCH_MATMUL = 'RlhfBatchMatMul';
export const WRITE_ROWS = 'RlhfWriteRows';
export const ADAM_STEP = 'RlhfAdamStep';

interface WasmBackendLike {
  wasm: { asm: { memory: WebAssembly.Memory }; _malloc: (n: number) => number; _free: (p: number) => void };
  dataIdMap: { get: (id: object) => { memoryOffset: number } };
  makeOutput: (shape: number[], dtype: string) => { dataId: object; shape: number[]; dtype: string };
}

type StridedCopy = (src: number, dst: number, n0: number, n1: number, n2: number, n3: number, n4: number, s0: number, s1: number, s2: number, s3: number, s4: number) => void;
type AdamStep = (p: number, m: number, v: number, g: number, po: number, mo: number, vo: number, n: number, b1: number, c1: number, b2: number, c2: number, alpha: number, epsHat: number, decay: number) => void;
type SumSquares = (x: number, n: number) => number;
type CopyBlocks = (src: number, dst: number, batch: number, bytes: number, dstStride: number) => void;
type Bmm = (a: number, b: number, c: number, batch: number, M: number, K: number, N: number, aStride: number, bStride: number, transA: number, transB: number, scratch: number) => void;

interface Kernels {
  memory: WebAssembly.Memory;
  bmm: Bmm;
  stridedCopy: StridedCopy;
  copyBlocks: CopyBlocks;
  adam: AdamStep;
  sumSquares: SumSquares;
}
let instance: Kernels | undefined;

function kernelsFor(backend: WasmBackendLike): Kernels {
  const memory = backend.wasm.asm.memory;
  if (instance?.memory !== memory) {
    const module = new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    const inst = new WebAssembly.Instance(module, { env: { memory } });
    instance = { memory, bmm: inst.exports.bmm as Bmm, stridedCopy: inst.exports.strided_copy as StridedCopy, copyBlocks: inst.exports.copy_blocks as CopyBlocks, adam: inst.exports.adam as AdamStep, sumSquares: inst.exports.sum_squares as SumSquares };
  }
  return instance;
}

interface TensorInfoLike {
  dataId: object;
  shape: number[];
  dtype: string;
}

const ELEMENT_BYTES = 4;
const isWord = (dtype: string) => dtype === 'float32' || dtype === 'int32';
/** Byte address of a tensor's data in the wasm memory. */
const offsetOf = (backend: WasmBackendLike, t: TensorInfoLike) => backend.dataIdMap.get(t.dataId).memoryOffset;

/**
 * [batch, M, K]·[batch, K, N] (either side may have batch 1, broadcast), transposes as flags.
 * `bRows` (optional) uses only the first bRows rows of each of b's matrices (a preallocated KV
 * cache of which that many positions are filled): N = bRows with transposeB, K = bRows without.
 */
function fastBatchMatMul(args: { inputs: { a: TensorInfoLike; b: TensorInfoLike }; backend: unknown; attrs: { transposeA: boolean; transposeB: boolean; bRows?: number } }) {
  const { a, b } = args.inputs;
  const { transposeA, transposeB, bRows } = args.attrs;
  const backend = args.backend as WasmBackendLike;
  if (a.shape.length !== 3 || b.shape.length !== 3 || a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`${FAST_BATCH_MATMUL} takes two float32 rank-3 tensors, got ${a.dtype}[${a.shape}] and ${b.dtype}[${b.shape}]`);
  }
  const [Ba, a1, a2] = a.shape;
  const [Bb, rowsAll, b2] = b.shape;
  const b1 = bRows ?? rowsAll;
  if (!(Number.isInteger(b1) && b1 >= 0 && b1 <= rowsAll)) throw new Error(`${FAST_BATCH_MATMUL}: bRows = ${bRows} outside [0, ${rowsAll}]`);
  const [M, K] = transposeA ? [a2, a1] : [a1, a2];
  const [Kb, N] = transposeB ? [b2, b1] : [b1, b2];
  if (K !== Kb) throw new Error(`${FAST_BATCH_MATMUL}: inner dimensions ${K} and ${Kb} differ ([${a.shape}]${transposeA ? 'ᵀ' : ''} · [${b.shape}]${transposeB ? 'ᵀ' : ''})`);
  if (Ba !== Bb && Ba !== 1 && Bb !== 1) throw new Error(`${FAST_BATCH_MATMUL}: batch sizes ${Ba} and ${Bb} do not broadcast`);
  const batch = Math.max(Ba, Bb);
  const out = backend.makeOutput([batch, M, N], 'float32');
  if (batch * M * N === 0) return out;
  const scratch = transposeB ? backend.wasm._malloc(K * N * ELEMENT_BYTES) : 0;
  try {
    const aStride = Ba === 1 ? 0 : M * K * ELEMENT_BYTES;
    const bStride = Bb === 1 ? 0 : rowsAll * b2 * ELEMENT_BYTES;
    kernelsFor(backend).bmm(offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out), batch, M, K, N, aStride, bStride, transposeA ? 1 : 0, transposeB ? 1 : 0, scratch);
  } finally {
    if (scratch) backend.wasm._free(scratch);
  }
  return out;
}

/**
 * In place: buf[n, at + t, :] = x[n, t, :] for buf [batch, R, C], x [batch, T, C]. The one kernel
 * here that writes into an input: it is what a preallocated KV cache needs (Hugging Face's
 * StaticCache does the same with index_copy_), and tfjs has no in-place op. Only the cache's owner
 * calls it (src/model/kv-cache.ts). Returns an empty tensor.
 */
function writeRows(args: { inputs: { buf: TensorInfoLike; x: TensorInfoLike }; backend: unknown; attrs: { at: number } }) {
  const { buf, x } = args.inputs;
  const { at } = args.attrs;
  const backend = args.backend as WasmBackendLike;
  const [Bn, R, C] = buf.shape;
  const [Bx, T, Cx] = x.shape;
  if (buf.shape.length !== 3 || x.shape.length !== 3 || Bx !== Bn || Cx !== C || buf.dtype !== x.dtype || !isWord(x.dtype)) {
    throw new Error(`${WRITE_ROWS}: cannot write ${x.dtype}[${x.shape}] into ${buf.dtype}[${buf.shape}]`);
  }
  if (!(Number.isInteger(at) && at >= 0 && at + T <= R)) throw new Error(`${WRITE_ROWS}: rows [${at}, ${at + T}) outside [0, ${R})`);
  const out = backend.makeOutput([0], x.dtype);
  if (Bn * T * C === 0) return out;
  kernelsFor(backend).copyBlocks(offsetOf(backend, x), offsetOf(backend, buf) + at * C * ELEMENT_BYTES, Bn, T * C * ELEMENT_BYTES, R * C * ELEMENT_BYTES);
  return out;
}

/** The coefficients of one Adam step (see src/model/optim.ts for how they are folded). */
export interface AdamCoefficients {
  b1: number;
  c1: number;
  b2: number;
  c2: number;
  alpha: number;
  epsHat: number;
  decay: number;
}

/** One Adam step for one parameter in a single pass: new p, m, v (fresh tensors; inputs untouched). */
function adamStep(args: { inputs: { p: TensorInfoLike; m: TensorInfoLike; v: TensorInfoLike; g: TensorInfoLike }; backend: unknown; attrs: AdamCoefficients }) {
  const { p, m, v, g } = args.inputs;
  const c = args.attrs;
  const backend = args.backend as WasmBackendLike;
  const n = tf.util.sizeFromShape(p.shape);
  for (const [name, t] of Object.entries({ m, v, g })) {
    if (t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== n) throw new Error(`${ADAM_STEP}: ${name} is ${t.dtype}[${t.shape}], parameter is float32[${p.shape}]`);
  }
  const outs = [backend.makeOutput(p.shape, 'float32'), backend.makeOutput(p.shape, 'float32'), backend.makeOutput(p.shape, 'float32')];
  const [po, mo, vo] = outs.map((t) => offsetOf(backend, t));
  if (n > 0) kernelsFor(backend).adam(offsetOf(backend, p), offsetOf(backend, m), offsetOf(backend, v), offsetOf(backend, g), po, mo, vo, n, c.b1, c.c1, c.b2, c.c2, c.alpha, c.epsHat, c.decay);
  return outs;
}

/** Row-major strides in elements (tfjs's computeStrides leaves out the last, which is 1). */
const stridesOf = (shape: number[]): number[] => (shape.length ? [...tf.util.computeStrides(shape), 1] : []);

/**
 * The copy out (dense, shape `outShape`) ← x[Σ iₖ·strides[k]] folded to the kernel's rank 5:
 * dimensions of size 1 dropped, neighbours that are contiguous in x merged, leading 1s added.
 * Undefined if more than 5 dimensions remain.
 */
function fold(outShape: number[], strides: number[]): { n: number[]; st: number[] } | undefined {
  const n: number[] = [];
  const st: number[] = [];
  for (let d = 0; d < outShape.length; d++) {
    if (outShape[d] === 1) continue;
    const last = n.length - 1;
    if (last >= 0 && st[last] === strides[d] * outShape[d]) {
      n[last] *= outShape[d];
      st[last] = strides[d];
    } else {
      n.push(outShape[d]);
      st.push(strides[d]);
    }
  }
  if (n.length > 5) return undefined;
  while (n.length < 5) {
    n.unshift(1);
    st.unshift(0);
  }
  return { n, st };
}

/** A new dense tensor of shape `outShape` holding x[offset + Σ iₖ·strides[k]]; undefined if the copy does not fold to rank 5. */
function stridedCopy(be: WasmBackendLike, x: TensorInfoLike, outShape: number[], offset: number, strides: number[]): TensorInfoLike | undefined {
  const f = fold(outShape, strides);
  if (!f) return undefined;
  const out = be.makeOutput(outShape, x.dtype);
  if (outShape.includes(0)) return out;
  const [s0, s1, s2, s3, s4] = f.st.map((v) => v * ELEMENT_BYTES);
  kernelsFor(be).stridedCopy(offsetOf(be, x) + offset * ELEMENT_BYTES, offsetOf(be, out), f.n[0], f.n[1], f.n[2], f.n[3], f.n[4], s0, s1, s2, s3, s4);
  return out;
}

type KernelArgs = { inputs: Record<string, TensorInfoLike>; backend: unknown; attrs: Record<string, unknown> };

/** Transpose by strided copy; undefined → tfjs's kernel. */
function fastTranspose({ inputs: { x }, backend, attrs }: KernelArgs): TensorInfoLike | undefined {
  if (!isWord(x.dtype)) return undefined;
  const perm = attrs.perm as number[];
  const inStrides = stridesOf(x.shape);
  return stridedCopy(backend as WasmBackendLike, x, perm.map((p) => x.shape[p]), 0, perm.map((p) => inStrides[p]));
}

/** One piece [begin, begin + size) of x, by strided copy. */
function slicePiece(be: WasmBackendLike, x: TensorInfoLike, begin: number[], size: number[]): TensorInfoLike | undefined {
  const inStrides = stridesOf(x.shape);
  const offset = begin.reduce((acc, b, i) => acc + b * inStrides[i], 0);
  return stridedCopy(be, x, size, offset, inStrides);
}

function fastSlice({ inputs: { x }, backend, attrs }: KernelArgs): TensorInfoLike | undefined {
  if (!isWord(x.dtype)) return undefined;
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as TensorInfo, attrs.begin as number[], attrs.size as number[]);
  return slicePiece(backend as WasmBackendLike, x, begin, size);
}

function fastSplitV({ inputs: { x }, backend, attrs }: KernelArgs): TensorInfoLike[] | undefined {
  if (!isWord(x.dtype) || x.shape.length > 5) return undefined;
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as Tensor, attrs.numOrSizeSplits as number[], axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  const pieces: TensorInfoLike[] = [];
  for (const s of sizes) {
    const size = [...x.shape];
    size[axis] = s;
    const piece = slicePiece(backend as WasmBackendLike, x, [...begin], size);
    if (!piece) throw new Error('unreachable: a split of a rank ≤ 5 tensor folds to rank 5');
    pieces.push(piece);
    begin[axis] += s;
  }
  return pieces;
}

const overridden = new Set<string>();

/** Whether tfjs's wasm kernel `name` has this module's fast path in front of it. */
export function wasmKernelOverridden(name: string): boolean {
  return overridden.has(name);
}

/** Put `fast` in front of tfjs's wasm kernel `name`; when it returns undefined, tfjs's kernel runs. */
function override(name: string, fast: (args: KernelArgs) => TensorInfoLike | TensorInfoLike[] | undefined): void {
  const original = tf.getKernel(name, 'wasm');
  if (!original) return;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({
    ...original,
    kernelFunc: ((args: KernelArgs) => fast(args) ?? original.kernelFunc(args as never)) as unknown as KernelFunc,
  });
  overridden.add(name);
}

/** What this module adds to and replaces in the wasm backend (for `rlhf env`). */
export const WASM_KERNELS_SUMMARY = [
  `${FAST_BATCH_MATMUL} (batched matmul, SIMD)`,
  `${WRITE_ROWS} (in-place KV-cache write)`,
  `${ADAM_STEP} (one-pass Adam)`,
  'Transpose, Slice, SplitV replaced for float32/int32 (strided copy)',
];

let registered = false;

/**
 * Register the kernels for the wasm backend, once, after it is initialised. They are linked to the
 * live backend's memory first: where that fails (e.g. a multi-threaded build whose memory is
 * shared, which this module does not declare) nothing is registered and tfjs's own kernels run.
 * Returns whether the kernels are in place.
 */
export function registerWasmKernels(): boolean {
  if (registered) return true;
  try {
    kernelsFor(tf.backend() as unknown as WasmBackendLike);
  } catch {
    return false;
  }
  registered = true;
  tf.registerKernel({ kernelName: FAST_BATCH_MATMUL, backendName: 'wasm', kernelFunc: fastBatchMatMul as unknown as KernelFunc });
  tf.registerKernel({ kernelName: WRITE_ROWS, backendName: 'wasm', kernelFunc: writeRows as unknown as KernelFunc });
  tf.registerKernel({ kernelName: ADAM_STEP, backendName: 'wasm', kernelFunc: adamStep as unknown as KernelFunc });
  override('Transpose', fastTranspose);
  override('Slice', fastSlice);
  override('SplitV', fastSplitV);
  return true;
}

/** Run the batched matmul kernel (the caller checks that the active backend has it). */
export function fastBatchMatMulOp(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean, bRows?: number): Tensor {
  const attrs = bRows === undefined ? { transposeA, transposeB } : { transposeA, transposeB, bRows };
  return tf.engine().runKernel(FAST_BATCH_MATMUL, { a, b } as unknown as NamedTensorMap, attrs as unknown as NamedAttrMap) as Tensor;
}

/** One fused Adam step: [p', m', v'] (the caller checks that the backend has the kernel). */
export function adamStepOp(p: Tensor, m: Tensor, v: Tensor, g: Tensor, c: AdamCoefficients): Tensor[] {
  return tf.engine().runKernel(ADAM_STEP, { p, m, v, g } as unknown as NamedTensorMap, c as unknown as NamedAttrMap) as unknown as Tensor[];
}

/**
 * Σx² of a float32 tensor, read in place and summed in float64, when the active backend is wasm
 * and the kernels are in place; undefined elsewhere. Not a tfjs kernel: it returns a number, as a dataSync of a sum would.
 */
export function wasmSumSquares(x: Tensor): number | undefined {
  if (!registered || tf.getBackend() !== 'wasm' || x.dtype !== 'float32') return undefined;
  const backend = tf.backend() as unknown as WasmBackendLike;
  return kernelsFor(backend).sumSquares(offsetOf(backend, x), x.size);
}

/** Write x into buf's rows [at, at + T) in place (the caller checks that the backend has the kernel). */
export function writeRowsOp(buf: Tensor, x: Tensor, at: number): void {
  (tf.engine().runKernel(WRITE_ROWS, { buf, x } as unknown as NamedTensorMap, { at } as unknown as NamedAttrMap) as Tensor).dispose();
}
