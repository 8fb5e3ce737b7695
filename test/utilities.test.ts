import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend';
import { tf, Tensor } from '../src/backend/tf';
import {
  DEFAULT_EPSILON,
  makeUtility,
  mixedUtilityTensor,
  parseUtilityConfig,
  parseUtilitySpec,
  resolveSpec,
  utilityForPrompt,
  utilityKey,
  UtilitySpec,
} from '../src/reward/utilities';
import { BACKENDS_UNDER_TEST, TEST_BACKEND, tfjsName } from './helpers';
import type { BackendName } from '../src/backend';

/** One of each utility, with the parameters the paper uses where it has one. */
const SPECS: UtilitySpec[] = [
  { name: 'logsigmoid' },
  { name: 'logsigmoid', scale: 4 },
  { name: 'linear' },
  { name: 'power', gamma: 0.5 },
  { name: 'power', gamma: 0.2, epsilon: 0.05 },
  { name: 'log' },
  { name: 'log', epsilon: 0.01 },
  { name: 'inverse' },
  { name: 'inverse-power', gamma: 0.5 },
  { name: 'inverse-power', gamma: 2, epsilon: 0.2 },
];

/** Points on both sides of 0, including 0, −ε (where d + ε = 0) and tiny |d|. */
const GRID = [-1, -0.5, -0.2, -0.1, -0.05, -1e-3, -1e-6, 0, 1e-6, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.333, 0.5, 0.75, 0.9, 1];

function close(actual: number, expected: number, rel: number, what: string): void {
  const tol = rel * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected} (±${tol})`);
}

describe('utility definitions (numbers)', () => {
  it("matches the paper's code at eps = 0.1: extended_log, extended_inv, logsigmoid(4x)", () => {
    // extended_log(x) = log(x + 0.1) − log(0.1) for x > 0, 10·x otherwise.
    const log = makeUtility({ name: 'log' });
    close(log.value(0.5), Math.log(0.6) - Math.log(0.1), 1e-14, 'log(0.5)');
    close(log.value(1), Math.log(11), 1e-14, 'log(1)');
    close(log.value(-0.2), -2, 1e-14, 'log(-0.2)');
    // The paper's loss for x_inv is extended_inv(x) = 1/(x+ε) − 1/ε (x > 0), −100·x; U = −loss.
    const inv = makeUtility({ name: 'inverse' });
    close(inv.value(0.5), 10 - 1 / 0.6, 1e-14, 'inverse(0.5)');
    close(inv.value(-0.2), -20, 1e-14, 'inverse(-0.2)');
    close(inv.derivative(-0.3), 100, 1e-12, "inverse'(d<0)");
    const ls = makeUtility({ name: 'logsigmoid', scale: 4 });
    close(ls.value(0), -Math.log(2), 1e-15, 'logsigmoid(0)');
    close(ls.value(0.25), Math.log(1 / (1 + Math.exp(-1))), 1e-15, 'logsigmoid(0.25)');
    close(ls.value(-50), -200, 1e-12, 'logsigmoid(-50) (no overflow)');
  });

  it('power and inverse-power: shift by eps and the tangent line below 0', () => {
    const p = makeUtility({ name: 'power', gamma: 0.5 });
    close(p.value(0.3), Math.sqrt(0.4) - Math.sqrt(0.1), 1e-14, 'sqrt');
    close(p.value(-0.3), -0.3 * (0.5 / Math.sqrt(0.1)), 1e-14, 'sqrt below 0');
    const ip = makeUtility({ name: 'inverse-power', gamma: 0.5 });
    close(ip.value(0.3), 1 / Math.sqrt(0.1) - 1 / Math.sqrt(0.4), 1e-14, 'inverse sqrt');
    close(ip.derivative(-1), 0.5 * Math.pow(0.1, -1.5), 1e-14, 'inverse sqrt slope below 0');
    // inverse-power with γ = 1 is the inverse utility.
    const a = makeUtility({ name: 'inverse-power', gamma: 1 });
    const b = makeUtility({ name: 'inverse' });
    for (const d of GRID) close(a.value(d), b.value(d), 1e-13, `inverse-power(1) vs inverse at ${d}`);
  });

  it('every extension is continuous at 0, with U(0) = 0 for the shifted ones, and C¹ there', () => {
    for (const spec of SPECS) {
      const u = makeUtility(spec);
      const key = utilityKey(spec);
      const h = 1e-7;
      // Continuity of the value: both sides tend to U(0).
      assert.ok(Math.abs(u.value(h) - u.value(0)) < 1e-4, `${key}: jump at 0+ (${u.value(h)} vs ${u.value(0)})`);
      assert.ok(Math.abs(u.value(-h) - u.value(0)) < 1e-4, `${key}: jump at 0- (${u.value(-h)} vs ${u.value(0)})`);
      if (u.spec.epsilon !== null) assert.equal(u.value(0), 0, `${key}: U(0) = 0`);
      // Continuity of the derivative: one-sided difference quotients agree with U′(0).
      const right = (u.value(h) - u.value(0)) / h;
      const left = (u.value(0) - u.value(-h)) / h;
      close(right, u.derivative(0), 1e-4, `${key}: right slope at 0`);
      close(left, u.derivative(0), 1e-4, `${key}: left slope at 0`);
      close(u.derivative(1e-12), u.derivative(-1e-12), 1e-6, `${key}: U′ continuous at 0`);
    }
  });

  it('derivative and second derivative agree with central differences; U is increasing and concave', () => {
    for (const spec of SPECS) {
      const u = makeUtility(spec);
      const key = utilityKey(spec);
      for (const d of GRID) {
        if (d === 0) continue;
        const h = 1e-6 * Math.max(Math.abs(d), 1e-3);
        if (Math.abs(d) > h) {
          close(u.derivative(d), (u.value(d + h) - u.value(d - h)) / (2 * h), 1e-5, `${key}: U′(${d})`);
          close(u.second(d), (u.derivative(d + h) - u.derivative(d - h)) / (2 * h), 1e-4, `${key}: U″(${d})`);
        }
        assert.ok(u.derivative(d) > 0, `${key}: increasing at ${d}`);
        assert.ok(u.second(d) <= 0, `${key}: concave at ${d}`);
      }
      for (let i = 1; i < GRID.length; i++) {
        assert.ok(u.derivative(GRID[i]) <= u.derivative(GRID[i - 1]) + 1e-12, `${key}: U′ non-increasing between ${GRID[i - 1]} and ${GRID[i]}`);
      }
    }
  });

  it('epsilon = 0 is the unshifted utility: log d, −1/d, d^γ above 0 and −∞ below', () => {
    const log0 = makeUtility({ name: 'log', epsilon: 0 });
    close(log0.value(0.3), Math.log(0.3), 1e-15, 'log d');
    assert.equal(log0.value(0), -Infinity);
    assert.equal(log0.value(-0.1), -Infinity);
    assert.equal(makeUtility({ name: 'inverse', epsilon: 0 }).value(0.25), -4);
    assert.equal(makeUtility({ name: 'power', gamma: 0.5, epsilon: 0 }).value(0.25), 0.5);
    assert.equal(makeUtility({ name: 'power', gamma: 0.5, epsilon: 0 }).value(0), 0);
    assert.throws(() => log0.tensor(tf.tensor1d([0.5])), /epsilon = 0.*training needs epsilon > 0/);
  });
});

describe('utility specs and the prompt-aware rule', () => {
  it('parses names and objects and fills the defaults', () => {
    assert.deepEqual(parseUtilitySpec('inverse'), { name: 'inverse' });
    assert.deepEqual(resolveSpec({ name: 'inverse' }), { name: 'inverse', gamma: null, scale: null, epsilon: DEFAULT_EPSILON });
    assert.deepEqual(resolveSpec({ name: 'logsigmoid' }), { name: 'logsigmoid', gamma: null, scale: 1, epsilon: null });
    assert.deepEqual(resolveSpec({ name: 'linear', epsilon: 0.3 }), { name: 'linear', gamma: null, scale: null, epsilon: null });
    assert.deepEqual(parseUtilitySpec({ name: 'power', gamma: 0.5, epsilon: 0 }), { name: 'power', gamma: 0.5, epsilon: 0 });
  });

  it('rejects bad specs with the field named', () => {
    const where = 'configs/a.yaml: reward.utility';
    const cases: [unknown, RegExp][] = [
      [{ name: 'cubic' }, /reward\.utility\.name: unknown utility "cubic"; expected one of logsigmoid, linear/],
      [{ name: 'power' }, /reward\.utility\.gamma: power needs gamma/],
      [{ name: 'power', gamma: 1 }, /reward\.utility\.gamma: power needs 0 < gamma < 1, got 1/],
      [{ name: 'inverse-power', gamma: -1 }, /reward\.utility\.gamma: inverse-power needs gamma > 0/],
      [{ name: 'log', gamma: 0.5 }, /reward\.utility\.gamma: only power and inverse-power take gamma/],
      [{ name: 'inverse', scale: 2 }, /reward\.utility\.scale: only logsigmoid takes scale/],
      [{ name: 'logsigmoid', scale: 0 }, /reward\.utility\.scale: must be > 0/],
      [{ name: 'log', epsilon: -0.1 }, /reward\.utility\.epsilon: must be >= 0/],
      [{ name: 'log', epsilon: '0.1' }, /reward\.utility\.epsilon: must be a finite number, got "0.1"/],
      [{ name: 'log', eps: 0.1 }, /reward\.utility\.eps: unknown field/],
      [42, /reward\.utility: expected a utility name or an object/],
      [{ name: 'prompt-aware', closed: { name: 'power' } }, /reward\.utility\.closed\.gamma: power needs gamma/],
      [{ name: 'prompt-aware', tasks: { qa: 'nope' } }, /reward\.utility\.tasks\.qa\.name: unknown utility "nope"/],
      [{ name: 'prompt-aware', always: 'linear' }, /reward\.utility\.always: unknown field of prompt-aware/],
    ];
    for (const [input, re] of cases) assert.throws(() => parseUtilityConfig(input, where), re, JSON.stringify(input));
    assert.throws(() => parseUtilitySpec('prompt-aware', where), /cannot be used here/);
  });

  it('prompt-aware: task rule first, then kind (open → inverse, closed → linear), then default', () => {
    const def = parseUtilityConfig('prompt-aware');
    assert.deepEqual(utilityForPrompt(def, { kind: 'open' }), { name: 'inverse', epsilon: 0.1 });
    assert.deepEqual(utilityForPrompt(def, { kind: 'closed' }), { name: 'linear' });
    assert.throws(() => utilityForPrompt(def, { id: 'p7', task: 'numbers' }), /prompt p7: prompt-aware utility needs the prompt's kind/);

    const cfg = parseUtilityConfig({
      name: 'prompt-aware',
      open: { name: 'log', epsilon: 0.05 },
      tasks: { capitals: 'linear', stories: { name: 'inverse-power', gamma: 0.5 } },
      default: { name: 'logsigmoid', scale: 4 },
    });
    assert.deepEqual(utilityForPrompt(cfg, { kind: 'open' }), { name: 'log', epsilon: 0.05 });
    assert.deepEqual(utilityForPrompt(cfg, { kind: 'closed' }), { name: 'linear' });
    assert.deepEqual(utilityForPrompt(cfg, { kind: 'open', task: 'capitals' }), { name: 'linear' });
    assert.deepEqual(utilityForPrompt(cfg, { task: 'stories' }), { name: 'inverse-power', gamma: 0.5 });
    assert.deepEqual(utilityForPrompt(cfg, { task: 'other' }), { name: 'logsigmoid', scale: 4 });
    // A plain utility applies to every prompt.
    assert.deepEqual(utilityForPrompt({ name: 'log' }, { kind: 'closed' }), { name: 'log' });
  });
});

// Initialise both backends once, before any test runs: selectBackend briefly redirects stdout,
// which node:test uses to report results from this file, so it must not overlap a test.
before(async () => {
  await selectBackend(TEST_BACKEND);
  await selectBackend('cpu');
});

async function useBackend(name: BackendName): Promise<void> {
  assert.ok(await tf.setBackend(tfjsName(name)), `backend ${name}`);
}

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`utility tensors on ${backend}`, () => {
    it('tensor form == number form, values and tf.grad gradients (float32)', async () => {
      await useBackend(backend);
      for (const spec of SPECS) {
        const u = makeUtility(spec);
        const key = utilityKey(spec);
        const d = tf.tensor1d(GRID);
        const values = u.tensor(d).arraySync() as number[];
        // d/dd Σ U(dₖ) = U′(dₖ) elementwise.
        const grads = tf.grad((x: Tensor) => tf.sum(u.tensor(x)))(d).arraySync() as number[];
        GRID.forEach((x, i) => {
          const xf = Math.fround(x); // the tensor sees the float32 of x
          // float32 arithmetic; the gradient of p/(ε(p+ε)) by the quotient rule loses up to ~10×
          // float32's 6e-8 to cancellation, hence 1e-5.
          close(values[i], u.value(xf), 1e-5, `${key}: U(${x}) tensor`);
          close(grads[i], u.derivative(xf), 1e-5, `${key}: U′(${x}) tf.grad`);
          assert.ok(Number.isFinite(grads[i]), `${key}: finite gradient at ${x}`);
        });
        tf.dispose(d);
      }
    });

    it('mixed utilities per pair (prompt-aware batches) equal each utility on its own pairs, values and gradients', async () => {
      await useBackend(backend);
      const specs: UtilitySpec[] = [{ name: 'inverse' }, { name: 'linear' }, { name: 'inverse' }, { name: 'log' }, { name: 'linear' }, { name: 'logsigmoid', scale: 4 }];
      const ds = [0.3, -0.2, -0.05, 0.7, 0.4, -0.6];
      const d = tf.tensor1d(ds);
      const values = mixedUtilityTensor(d, specs).arraySync() as number[];
      const grads = tf.grad((x: Tensor) => tf.sum(mixedUtilityTensor(x, specs)))(d).arraySync() as number[];
      ds.forEach((x, i) => {
        const u = makeUtility(specs[i]);
        close(values[i], u.value(Math.fround(x)), 1e-5, `pair ${i} value`);
        close(grads[i], u.derivative(Math.fround(x)), 1e-5, `pair ${i} gradient`);
      });
      assert.throws(() => mixedUtilityTensor(d, specs.slice(1)), /one entry per spec/);
      tf.dispose(d);
    });

    it('frees its intermediates: one call leaves exactly its result behind', async () => {
      await useBackend(backend);
      const d = tf.tensor1d(GRID);
      for (const spec of SPECS) {
        const before = tf.memory().numTensors;
        const out = makeUtility(spec).tensor(d);
        assert.equal(tf.memory().numTensors, before + 1, utilityKey(spec));
        out.dispose();
      }
      const d3 = d.slice(0, 3);
      const before = tf.memory().numTensors;
      const out = mixedUtilityTensor(d3, [{ name: 'log' }, { name: 'linear' }, { name: 'log' }]);
      assert.equal(tf.memory().numTensors, before + 1, 'mixed');
      out.dispose();
      tf.dispose([d, d3]);
    });
  });
}
