/**
 * The one place tfjs is imported. `@tensorflow/tfjs` (not tfjs-core) is the CommonJS entry that
 * carries the chained ops; every module imports `tf` from here so that the native backends,
 * which register themselves on this same instance, see the same code.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
import tfjs = require('@tensorflow/tfjs');

export const tf = tfjs;
export type Tensor = tfjs.Tensor;
export type Tensor1D = tfjs.Tensor1D;
export type Tensor2D = tfjs.Tensor2D;
export type Tensor3D = tfjs.Tensor3D;
export type Tensor4D = tfjs.Tensor4D;
export type Variable = tfjs.Variable;
export type Scalar = tfjs.Scalar;
