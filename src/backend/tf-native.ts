/**
 * Fast paths on the native TensorFlow backend (@tensorflow/tfjs-node(-gpu)), through its binding's
 * `executeOp`, which runs any TensorFlow op by name. tfjs's kernels cover the model; these cover
 * what tfjs expresses as many passes over memory:
 *
 * - Adam: TensorFlow's own fused `ResourceApplyAdam` updates a parameter and its two moments in
 *   one pass, in place, on resource variables. tfjs's ops take ~12 kernels per parameter, each
 *   allocating a full-size output; at GPT-2 124M the update is memory-bound (≈3.5 GB moved per
 *   step, measured ≈10 GB/s on a 2-core host), so the passes are what count.
 * - Σx² for the gradient norm: one `L2Loss` per tensor and one `AddN`.
 *
 * Resource variables hold the moments; the parameter itself stays a tfjs Variable (the model reads
 * it). For the update it is lent to a resource variable: TensorFlow updates a buffer in place only
 * when nothing else holds it, so when the parameter's data is not shared with another tfjs tensor,
 * tfjs's handle is released for the update and the variable's new value is handed back to the same
 * tfjs data id (no copy, no allocation). When it is shared (a tf.clone of the parameter, say),
 * TensorFlow copies before writing and the parameter takes the copy, which leaves the sharer as it
 * was: tfjs's value semantics hold either way.
 */
import { tf, Tensor, Tensor2D, Variable } from './tf';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';

/** The parts of tfjs-node's backend and binding used here. */
interface NodeBackend {
  binding: Binding;
  getDTypeInteger(dtype: string): number;
  tensorMap: { get(dataId: object): { id: number; values: unknown; refCount: number } };
  getInputTensorIds(ts: Tensor[]): number[];
  createOutputTensor(info: TensorMeta): Tensor;
}
interface TensorMeta {
  id: number;
  shape: number[];
  dtype: number;
}
interface Attr {
  name: string;
  type: number;
  value: unknown;
}
interface Binding {
  executeOp(name: string, attrs: Attr[], inputIds: number[], numOutputs: number): TensorMeta[];
  createTensor(shape: number[], dtype: number, values: Int32Array): number;
  deleteTensor(id: number): void;
  TF_FLOAT: number;
  TF_INT32: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_INT: number;
  TF_ATTR_SHAPE: number;
  TF_ATTR_STRING: number;
  TF_ATTR_BOOL: number;
}

/** TensorFlow's GUID for "a new resource owned by this handle" (ResourceHandle::ANONYMOUS_NAME): freed with its last handle. */
const ANONYMOUS_NAME = 'cd2c89b7-88b7-44c8-ad83-06c2a9158347';

export function onNativeTensorflow(): boolean {
  return tf.getBackend() === 'tensorflow';
}

function nodeBackend(): NodeBackend {
  return tf.backend() as unknown as NodeBackend;
}

/** A float32 resource variable: its handle's id in the binding. Deleting the handle frees it. */
class ResourceVar {
  readonly id: number;
  private readonly be = nodeBackend();

  constructor(shape: number[], init: Tensor) {
    const B = this.be.binding;
    this.id = B.executeOp(
      'VarHandleOp',
      [
        { name: 'dtype', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT },
        { name: 'shape', type: B.TF_ATTR_SHAPE, value: shape },
        { name: 'container', type: B.TF_ATTR_STRING, value: '' },
        { name: 'shared_name', type: B.TF_ATTR_STRING, value: ANONYMOUS_NAME },
      ],
      [],
      1,
    )[0].id;
    this.assign(init);
  }

  /** The variable now holds `t`'s buffer (shared, not copied). */
  assign(t: Tensor): void {
    const B = this.be.binding;
    this.be.binding.executeOp('AssignVariableOp', [dtypeAttr(B), { name: 'validate_shape', type: B.TF_ATTR_BOOL, value: true }], [this.id, ...this.be.getInputTensorIds([t])], 0);
  }

  /** A new binding handle to the variable's current buffer (shared, not copied). */
  readHandle(): TensorMeta {
    return this.be.binding.executeOp('ReadVariableOp', [dtypeAttr(this.be.binding)], [this.id], 1)[0];
  }

  /** Its value as a tfjs tensor. */
  read(): Tensor {
    return this.be.createOutputTensor(this.readHandle());
  }

  dispose(): void {
    this.be.binding.deleteTensor(this.id);
  }
}

const dtypeAttr = (B: Binding): Attr => ({ name: 'dtype', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT });

/** Scalars of one Adam update in the form TensorFlow's ApplyAdam takes them (see NativeAdamSlot.step). */
export interface NativeAdamScalars {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/**
 * The six scalar inputs of ResourceApplyAdam (β₁ᵖ = β₂ᵖ = 0, lr, β₁, β₂, ε) for these values. Every
 * parameter of one optimiser step has the same ones, so they are made once and reused until the
 * values change (six tensors per parameter were ~10% of a small model's update on this backend).
 */
let lastAdamScalars: { key: string; tensors: Tensor[] } | undefined;
/** Slots alive: the scalars go with the last one (a finished optimiser leaves no tensors behind). */
let liveAdamSlots = 0;
function adamScalars(s: NativeAdamScalars): Tensor[] {
  const key = `${s.lr} ${s.beta1} ${s.beta2} ${s.eps}`;
  if (lastAdamScalars?.key !== key || lastAdamScalars.tensors.some((t) => t.isDisposed)) {
    if (lastAdamScalars) tf.dispose(lastAdamScalars.tensors);
    lastAdamScalars = { key, tensors: tf.tidy(() => [0, 0, s.lr, s.beta1, s.beta2, s.eps].map((x) => tf.keep(tf.scalar(x)))) };
  }
  return lastAdamScalars.tensors;
}

/**
 * Adam moments in two resource variables, and the update as TensorFlow's fused ResourceApplyAdam:
 *   lr_t = lr·√(1−β2ᵖ)/(1−β1ᵖ);  m ← m + (g − m)(1−β1);  v ← v + (g² − v)(1−β2);  θ ← θ − lr_t·m/(√v + ε)
 * (β1ᵖ, β2ᵖ are the bias-correction powers; the caller folds the correction into lr and passes 0).
 */
export class NativeAdamSlot {
  private readonly be = nodeBackend();
  private readonly m: ResourceVar;
  private readonly v: ResourceVar;
  /** The parameter's resource variable, lent its buffer for each update. */
  private readonly p: ResourceVar;

  constructor(param: Variable, m: Tensor, v: Tensor) {
    this.m = new ResourceVar(param.shape, m);
    this.v = new ResourceVar(param.shape, v);
    this.p = new ResourceVar(param.shape, param);
    liveAdamSlots++;
  }

  /** θ, m, v ← one ApplyAdam step from gradient g (not freed here). */
  step(param: Variable, g: Tensor, s: NativeAdamScalars): void {
    const be = this.be;
    const B = be.binding;
    const info = be.tensorMap.get(param.dataId);
    this.p.assign(param);
    // Release tfjs's handle when no other tfjs tensor shares the data, so the variable holds the
    // only reference and TensorFlow writes in place (see the file comment).
    const inPlace = info.refCount === 1 && info.values == null;
    if (inPlace) {
      B.deleteTensor(info.id);
      info.id = -1;
    }
    const scalars = adamScalars(s);
    try {
      B.executeOp(
        'ResourceApplyAdam',
        [
          { name: 'T', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT },
          { name: 'use_locking', type: B.TF_ATTR_BOOL, value: false },
          { name: 'use_nesterov', type: B.TF_ATTR_BOOL, value: false },
        ],
        [this.p.id, this.m.id, this.v.id, ...be.getInputTensorIds([...scalars, g])],
        0,
      );
    } finally {
      // Hand the (updated, or on failure unchanged) buffer back to the parameter.
      if (inPlace) info.id = this.p.readHandle().id;
    }
    if (!inPlace) {
      const updated = this.p.read();
      param.assign(updated);
      updated.dispose();
    }
  }

  /** The stored moment buffers (scaled as the caller keeps them). */
  async moments(): Promise<{ m: Float32Array; v: Float32Array }> {
    const m = this.m.read();
    const v = this.v.read();
    try {
      return { m: (await m.data()) as Float32Array, v: (await v.data()) as Float32Array };
    } finally {
      tf.dispose([m, v]);
    }
  }

  dispose(): void {
    this.m.dispose();
    this.v.dispose();
    this.p.dispose();
    if (--liveAdamSlots === 0 && lastAdamScalars) {
      tf.dispose(lastAdamScalars.tensors);
      lastAdamScalars = undefined;
    }
  }
}

/**
 * Small int32 vectors that ops take as inputs (a reshape's target shape, a reduction's axis, a
 * strided slice's bounds), kept as TensorFlow handles. tfjs-node makes, uploads and frees a tensor
 * for each of them at every call, which is more than half of a small op's cost (a reshape: 24 µs
 * → 10 µs); the distinct vectors are few, so their handles are kept (at most MAX_INT32_HANDLES,
 * the oldest freed first). The same op on the same inputs: the same result.
 */
export const MAX_INT32_HANDLES = 4096;
const int32Handles = new Map<string, number>();

function int32Handle(B: Binding, values: number[]): number {
  const key = values.join(',');
  let id = int32Handles.get(key);
  if (id === undefined) {
    if (int32Handles.size >= MAX_INT32_HANDLES) {
      const [oldKey, oldId] = int32Handles.entries().next().value as [string, number];
      B.deleteTensor(oldId);
      int32Handles.delete(oldKey);
    }
    id = B.createTensor([values.length], B.TF_INT32, Int32Array.from(values));
    int32Handles.set(key, id);
  }
  return id;
}

/** How many int32 handles are kept (binding tensors that are no tensor's buffer). */
export function keptInt32Handles(): number {
  return int32Handles.size;
}

/** Mean over the last axis, keeping it: TensorFlow's Mean (tfjs-node's kernel first casts float32 to float32, one op more). */
export function nativeMeanLastAxis(x: Tensor): Tensor {
  const be = nodeBackend();
  const B = be.binding;
  const attrs = [
    { name: 'keep_dims', type: B.TF_ATTR_BOOL, value: true },
    { name: 'T', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT },
    { name: 'Tidx', type: B.TF_ATTR_TYPE, value: B.TF_INT32 },
  ];
  return be.createOutputTensor(B.executeOp('Mean', attrs, [...be.getInputTensorIds([x]), int32Handle(B, [-1])], 1)[0]);
}

/** op(a)·op(b) for rank-2 tensors as TensorFlow's MatMul (tfjs sends every product to BatchMatMulV2, ~2× slower with few rows). */
export function nativeMatMul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor2D {
  const be = nodeBackend();
  const B = be.binding;
  const attrs = [
    { name: 'T', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT },
    { name: 'transpose_a', type: B.TF_ATTR_BOOL, value: transA },
    { name: 'transpose_b', type: B.TF_ATTR_BOOL, value: transB },
  ];
  return be.createOutputTensor(B.executeOp('MatMul', attrs, be.getInputTensorIds([a, b]), 1)[0]) as Tensor2D;
}

/**
 * A KV-cache buffer [B·H, capacity, D] in a resource variable, written in place: a step's rows go
 * in with ResourceStridedSliceAssign (TensorFlow writes in place when nothing else holds the
 * buffer), and attention reads the whole buffer through ReadVariableOp (no copy; unfilled rows are
 * masked). The read of one step must be freed before the next write, or TensorFlow copies the
 * buffer first: a step's reads live in its tidy. `transposed` stores it as [B·H, D, capacity]
 * (positions are columns).
 */
export class NativeKvBuffer {
  private readonly be = nodeBackend();
  private readonly v: ResourceVar;
  /** The stored shape: [B·H, capacity, D], or [B·H, D, capacity] when transposed. */
  private readonly stored: [number, number, number];

  constructor(
    shape: [number, number, number],
    readonly transposed = false,
  ) {
    const [BH, cap, D] = shape;
    this.stored = transposed ? [BH, D, cap] : [BH, cap, D];
    const zeros = tf.zeros(this.stored);
    this.v = new ResourceVar(this.stored, zeros);
    zeros.dispose(); // the variable holds the only reference now
  }

  /** Positions [at, at + T) of every matrix ← x [B·H, T, D] (written as columns when transposed). */
  write(x: Tensor, at: number): void {
    const B = this.be.binding;
    const T = x.shape[1]!;
    const [BH, , D] = x.shape as number[];
    const [begin, end] = this.transposed ? [[0, 0, at], [BH, D, at + T]] : [[0, at, 0], [BH, at + T, D]];
    // One position: [B·H, 1, D] and [B·H, D, 1] are the same memory, a reshape.
    const value = !this.transposed ? x : T === 1 ? x.reshape([BH, D, 1]) : tf.transpose(x, [0, 2, 1]);
    const bounds = [int32Handle(B, begin), int32Handle(B, end), int32Handle(B, [1, 1, 1])];
    const int = (name: string) => ({ name, type: B.TF_ATTR_INT, value: 0 });
    B.executeOp(
      'ResourceStridedSliceAssign',
      [{ name: 'T', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT }, { name: 'Index', type: B.TF_ATTR_TYPE, value: B.TF_INT32 }, int('begin_mask'), int('end_mask'), int('ellipsis_mask'), int('new_axis_mask'), int('shrink_axis_mask')],
      [this.v.id, ...bounds, ...this.be.getInputTensorIds([value])],
      0,
    );
    if (value !== x) value.dispose();
  }

  /** The whole buffer, shared with the variable (valid until the next write). */
  read(): Tensor {
    return this.v.read();
  }

  dispose(): void {
    this.v.dispose();
  }
}

/** Σ over tensors of Σx², as one L2Loss (Σx²/2) per tensor and one AddN, read once. */
export function nativeSumSquares(ts: Tensor[]): number {
  if (ts.length === 0) return 0;
  const be = nodeBackend();
  const B = be.binding;
  const halves = ts.map((t) => be.createOutputTensor(B.executeOp('L2Loss', [{ name: 'T', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT }], be.getInputTensorIds([t]), 1)[0]));
  const total = tf.addN(halves);
  const out = 2 * total.dataSync()[0];
  tf.dispose([...halves, total]);
  return out;
}

/** What registerNativeKernels replaces, as `rlhf env` reports it. */
export const NATIVE_KERNELS_SUMMARY = ['Reshape replaced for float32/int32 (the target shape kept as a handle)'];

let nativeKernelsRegistered = false;

/**
 * Put this file's kernels in place of tfjs-node's (once per process); whether they are in place.
 * Reshape goes through a kept target-shape handle (see int32Handle); other dtypes than float32 and
 * int32 through tfjs-node's own kernel.
 */
export function registerNativeKernels(): boolean {
  if (nativeKernelsRegistered) return true;
  const stock = tf.getKernel('Reshape', 'tensorflow') as KernelConfig | undefined;
  if (!stock) return false;
  const reshape: KernelFunc = (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype !== 'float32' && x.dtype !== 'int32') return stock.kernelFunc(args);
    const be = args.backend as unknown as NodeBackend;
    const B = be.binding;
    const shape = args.attrs!.shape as number[];
    const attrs = [
      { name: 'T', type: B.TF_ATTR_TYPE, value: be.getDTypeInteger(x.dtype) },
      { name: 'Tshape', type: B.TF_ATTR_TYPE, value: B.TF_INT32 },
    ];
    const [xId] = be.getInputTensorIds([x as unknown as Tensor]);
    return be.createOutputTensor(B.executeOp('Reshape', attrs, [xId, int32Handle(B, shape)], 1)[0]) as unknown as TensorInfo;
  };
  tf.unregisterKernel('Reshape', 'tensorflow');
  tf.registerKernel({ kernelName: 'Reshape', backendName: 'tensorflow', kernelFunc: reshape });
  nativeKernelsRegistered = true;
  return true;
}
