/**
 * The kernels src/backend/tf-native.ts puts in place of tfjs-node's, and the Adam scalars it reuses:
 * same results as the stock path, and nothing kept beyond what it says it keeps.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend';
import { tf } from '../src/backend/tf';
import { keptInt32Handles, MAX_INT32_HANDLES } from '../src/backend/tf-native';
import { Adam } from '../src/model/optim';
import { onlyOn } from './helpers';

const skip = onlyOn('tensorflow', "tfjs-node's Reshape kernel and TensorFlow's ApplyAdam");
const binding = () => (tf.backend() as unknown as { binding: { getNumOfTensors(): number } }).binding;

describe('native TensorFlow kernels (tf-native.ts)', { skip }, () => {
  before(async () => {
    await selectBackend('tensorflow');
  });

  it('reshape keeps the values, takes the new shape (an inferred −1 too), for float32, int32 and bool', () => {
    const f = tf.tensor(Float32Array.from({ length: 24 }, (_, i) => i / 7 - 1), [2, 3, 4]);
    const r = f.reshape([4, -1]);
    assert.deepEqual(r.shape, [4, 6]);
    assert.deepEqual(Array.from(r.dataSync()), Array.from(f.dataSync()));
    const i = tf.tensor([1, -2, 3, 2147483647, -2147483648, 0], [6], 'int32');
    const ri = i.reshape([3, 2]);
    assert.equal(ri.dtype, 'int32');
    assert.deepEqual(ri.arraySync(), [[1, -2], [3, 2147483647], [-2147483648, 0]]);
    const b = tf.tensor([true, false, true, true], [4], 'bool');
    assert.deepEqual(b.reshape([2, 2]).arraySync(), [[1, 0], [1, 1]]);
    // A product through the reshaped tensor sees its new shape.
    assert.deepEqual(tf.matMul(r, tf.ones([6, 1])).shape, [4, 1]);
    tf.dispose([f, r, i, ri, b]);
  });

  it(`keeps one int32 handle per distinct shape, at most ${MAX_INT32_HANDLES}, the oldest freed first`, () => {
    const x = tf.zeros([2, 3]);
    x.reshape([3, 2]).dispose();
    const kept = keptInt32Handles();
    x.reshape([3, 2]).dispose();
    assert.equal(keptInt32Handles(), kept, 'a shape seen before adds nothing');
    const handles = binding().getNumOfTensors();
    for (let k = 0; k < MAX_INT32_HANDLES + 50; k++) {
      const y = tf.zeros([k + 1]);
      y.reshape([1, k + 1]).dispose();
      y.dispose();
    }
    assert.equal(keptInt32Handles(), MAX_INT32_HANDLES);
    assert.ok(binding().getNumOfTensors() - handles <= MAX_INT32_HANDLES - kept, 'no binding tensor beyond the kept handles');
    x.dispose();
  });

  it("one step's Adam scalars are made once for all its parameters and freed with the optimizer", () => {
    const before = tf.memory().numTensors;
    const v = (shape: number[]) => tf.tidy(() => tf.variable(tf.ones(shape))); // the variable alone holds its data
    const params = { a: v([3, 2]), b: v([4]), c: v([2, 2]) };
    const opt = new Adam({ lr: 1e-2, maxGradNorm: 0 });
    const grads = () => ({ a: tf.fill([3, 2], 0.5), b: tf.fill([4], -0.5), c: tf.fill([2, 2], 0.25) });
    opt.apply(params, grads());
    // The three parameters, and six scalars (β₁ᵖ, β₂ᵖ, lr, β₁, β₂, ε) for all three of them.
    assert.equal(tf.memory().numTensors - before, 3 + 6);
    opt.apply(params, grads(), 5e-3); // a new learning rate: a new set replaces the old one
    assert.equal(tf.memory().numTensors - before, 3 + 6);
    assert.ok(params.a.dataSync().every((v) => v < 1), 'the parameters moved against the gradient');
    opt.dispose();
    assert.equal(tf.memory().numTensors - before, 3, 'the scalars went with the optimizer');
    tf.dispose(Object.values(params));
  });
});
