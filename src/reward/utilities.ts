/**
 * Utilities U(d) of the reward difference d = R(better) − R(worse).
 *
 * The reward model maximises, for every prompt with completions ranked y₁ ≻ … ≻ yₙ,
 *
 *     Σ_{i<j} U(R(x, yᵢ) − R(x, yⱼ))                                   (Song, Cai, Lee & Su 2023)
 *
 * and `rlhf theory` solves the same program over r ∈ [0,1]ⁿ. Both MUST use the same U, so each
 * utility is defined once here and exposed in two forms that compute the same function:
 *   - numbers: value(d), derivative(d), second(d)      (theory solver, tests)
 *   - tensors: tensor(d), elementwise and differentiable (reward-model loss; ops with tfjs
 *     gradients only: relu, sub, add, mul, div, neg, log1p, pow, softplus — no gather, no where)
 *
 * The utilities (name, parameters, formula before extension):
 *
 *   logsigmoid     scale s > 0        log σ(s·d)       Bradley–Terry / InstructGPT; the paper's code
 *                                                      uses s = 4 because its R = sigmoid(logit) ∈ (0,1)
 *   linear         —                  d
 *   power          0 < γ < 1          d^γ
 *   log            —                  log d
 *   inverse        —                  −1/d             (= inverse-power with γ = 1)
 *   inverse-power  γ > 0              −d^(−γ)
 *
 * Extension to mis-ordered pairs (d ≤ 0). log σ(s·d) and d are defined and smooth on all of ℝ and
 * are used as they are. The other four ("singular": U or U′ blows up at 0) are undefined or
 * infinite for d ≤ 0, so a trainer that meets a mis-ordered pair needs a defined value and a finite
 * gradient. We use the paper's own extension (reward_collapse/trainer.py: `extended_log`,
 * `extended_inv`): shift by ε and continue below 0 with the tangent line at 0,
 *
 *     U_ε(d) = U(d + ε) − U(ε)     for d > 0
 *     U_ε(d) = U′(ε) · d           for d ≤ 0
 *
 * With ε = 0.1 this gives exactly the paper's code: log → log(d+ε) − log ε above 0 and 10·d below;
 * inverse → 1/ε − 1/(d+ε) above and 100·d below (its loss is −U). Why this one:
 *   - it is continuous AND has a continuous first derivative at 0 (the "steep linear branch" is the
 *     tangent, slope U′(ε)), so the gradient a mis-ordered pair receives is the largest one any
 *     pair receives, never a jump;
 *   - it stays concave on all of ℝ (concave piece glued to its own tangent), so the theory program
 *     stays a concave maximisation and the solver finds the global optimum;
 *   - U_ε(0) = 0 for every utility, so objective values are comparable across ε.
 * The price: for ε > 0 the finite-n optimum differs from the ε = 0 program the paper's theorems are
 * about (the n → ∞ Beta limits hold for ε = 0). `epsilon: 0` is therefore allowed in the numbers
 * form (the theory solver keeps every d > 0, where U_0 = U); the tensor form refuses it, because a
 * trainer would meet d ≤ 0 where U_0 = −∞.
 *
 * Prompt-aware utilities are a rule, not a function: `prompt-aware` maps a prompt's task name
 * (first) or `kind` (open | closed) to one of the utilities above. The default is the paper's
 * choice (configs/x_adaptive.yml): open → inverse (−1/d, spreads rewards over [0,1]), closed →
 * linear (d, pushes rewards to 0 and 1).
 */
import { tf, Tensor } from '../backend/tf';

export const UTILITY_NAMES = ['logsigmoid', 'linear', 'power', 'log', 'inverse', 'inverse-power'] as const;
export type UtilityName = (typeof UTILITY_NAMES)[number];

/** The paper's shift for the singular utilities. */
export const DEFAULT_EPSILON = 0.1;
/** Default scale of logsigmoid: plain Bradley–Terry, log σ(d). The paper's code uses 4. */
export const DEFAULT_SCALE = 1;

/** Which utilities need the ε-extension (U or U′ infinite at d = 0). */
const SINGULAR: ReadonlySet<UtilityName> = new Set<UtilityName>(['power', 'log', 'inverse', 'inverse-power']);

/**
 * One utility. `gamma` is required by power (0 < γ < 1) and inverse-power (γ > 0) and refused by
 * the others; `scale` only by logsigmoid (default 1); `epsilon` (default 0.1, ≥ 0) is used by
 * the singular utilities and accepted but ignored by linear and logsigmoid.
 */
export interface UtilitySpec {
  name: UtilityName;
  gamma?: number;
  scale?: number;
  epsilon?: number;
}

/** A UtilitySpec with the defaults filled in; `epsilon` is null where it does not apply. */
export interface ResolvedUtilitySpec {
  name: UtilityName;
  gamma: number | null;
  scale: number | null;
  epsilon: number | null;
}

/** The prompt-aware rule: task name first, then kind, then `default` (if given). */
export interface PromptAwareSpec {
  name: 'prompt-aware';
  open: UtilitySpec;
  closed: UtilitySpec;
  /** Overrides by task name (a prompt's `task` field). */
  tasks: Record<string, UtilitySpec>;
  /** For prompts with neither a matching task nor a kind; without it such a prompt is an error. */
  default?: UtilitySpec;
}

export type UtilityConfig = UtilitySpec | PromptAwareSpec;

/** What the prompt-aware rule looks at. */
export interface PromptInfo {
  id?: string;
  kind?: 'open' | 'closed' | string;
  task?: string;
}

export const DEFAULT_PROMPT_AWARE: PromptAwareSpec = {
  name: 'prompt-aware',
  open: { name: 'inverse', epsilon: DEFAULT_EPSILON },
  closed: { name: 'linear' },
  tasks: {},
};

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

export class UtilitySpecError extends Error {}

function fail(where: string, msg: string): never {
  throw new UtilitySpecError(`${where}: ${msg}`);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function numberField(obj: Record<string, unknown>, key: string, where: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${where}.${key}`, `must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Parse and validate one utility (not prompt-aware). Accepts a name string ("inverse") or an
 * object {name, gamma?, scale?, epsilon?}. `where` names the place for error messages, e.g.
 * "configs/a.yaml: reward.utility". Returns a plain UtilitySpec (defaults not filled in).
 */
export function parseUtilitySpec(input: unknown, where = 'utility'): UtilitySpec {
  const obj: Record<string, unknown> = typeof input === 'string' ? { name: input } : isRecord(input) ? input : fail(where, `expected a utility name or an object {name, gamma?, scale?, epsilon?}, got ${JSON.stringify(input)}`);
  const name = obj.name;
  if (name === 'prompt-aware') fail(`${where}.name`, `'prompt-aware' is a rule between utilities and cannot be used here`);
  if (typeof name !== 'string' || !(UTILITY_NAMES as readonly string[]).includes(name)) {
    fail(`${where}.name`, `unknown utility ${JSON.stringify(name)}; expected one of ${UTILITY_NAMES.join(', ')}`);
  }
  for (const key of Object.keys(obj)) {
    if (!['name', 'gamma', 'scale', 'epsilon'].includes(key)) fail(`${where}.${key}`, `unknown field (expected name, gamma, scale, epsilon)`);
  }
  const spec: UtilitySpec = { name: name as UtilityName };
  const gamma = numberField(obj, 'gamma', where);
  const scale = numberField(obj, 'scale', where);
  const epsilon = numberField(obj, 'epsilon', where);

  if (spec.name === 'power' || spec.name === 'inverse-power') {
    if (gamma === undefined) fail(`${where}.gamma`, `${spec.name} needs gamma (${spec.name === 'power' ? '0 < gamma < 1' : 'gamma > 0'})`);
    if (spec.name === 'power' && !(gamma > 0 && gamma < 1)) {
      fail(`${where}.gamma`, `power needs 0 < gamma < 1, got ${gamma} (gamma = 1 is 'linear')`);
    }
    if (spec.name === 'inverse-power' && !(gamma > 0)) fail(`${where}.gamma`, `inverse-power needs gamma > 0, got ${gamma}`);
    spec.gamma = gamma;
  } else if (gamma !== undefined) {
    fail(`${where}.gamma`, `only power and inverse-power take gamma, not ${spec.name}`);
  }

  if (spec.name === 'logsigmoid') {
    if (scale !== undefined && !(scale > 0)) fail(`${where}.scale`, `must be > 0, got ${scale}`);
    if (scale !== undefined) spec.scale = scale;
  } else if (scale !== undefined) {
    fail(`${where}.scale`, `only logsigmoid takes scale, not ${spec.name}`);
  }

  if (epsilon !== undefined) {
    if (!(epsilon >= 0)) fail(`${where}.epsilon`, `must be >= 0, got ${epsilon}`);
    spec.epsilon = epsilon;
  }
  return spec;
}

/**
 * Parse a utility or a prompt-aware rule. A prompt-aware rule is
 *   "prompt-aware"  (the default: open → inverse, closed → linear), or
 *   {name: prompt-aware, open?: U, closed?: U, tasks?: {taskName: U, …}, default?: U}
 * where each U is anything parseUtilitySpec accepts.
 */
export function parseUtilityConfig(input: unknown, where = 'utility'): UtilityConfig {
  const isPA = input === 'prompt-aware' || (isRecord(input) && input.name === 'prompt-aware');
  if (!isPA) return parseUtilitySpec(input, where);
  if (typeof input === 'string') return structuredClone(DEFAULT_PROMPT_AWARE);
  const obj = input as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!['name', 'open', 'closed', 'tasks', 'default'].includes(key)) {
      fail(`${where}.${key}`, `unknown field of prompt-aware (expected open, closed, tasks, default)`);
    }
  }
  const out: PromptAwareSpec = {
    name: 'prompt-aware',
    open: obj.open === undefined ? { ...DEFAULT_PROMPT_AWARE.open } : parseUtilitySpec(obj.open, `${where}.open`),
    closed: obj.closed === undefined ? { ...DEFAULT_PROMPT_AWARE.closed } : parseUtilitySpec(obj.closed, `${where}.closed`),
    tasks: {},
  };
  if (obj.tasks !== undefined) {
    if (!isRecord(obj.tasks)) fail(`${where}.tasks`, `expected a map from task name to utility, got ${JSON.stringify(obj.tasks)}`);
    for (const [task, u] of Object.entries(obj.tasks)) out.tasks[task] = parseUtilitySpec(u, `${where}.tasks.${task}`);
  }
  if (obj.default !== undefined) out.default = parseUtilitySpec(obj.default, `${where}.default`);
  return out;
}

/** Fill in defaults; `epsilon`/`scale`/`gamma` become null where the utility does not use them. */
export function resolveSpec(spec: UtilitySpec): ResolvedUtilitySpec {
  const checked = parseUtilitySpec(spec, `utility ${spec.name}`);
  return {
    name: checked.name,
    gamma: checked.gamma ?? null,
    scale: checked.name === 'logsigmoid' ? (checked.scale ?? DEFAULT_SCALE) : null,
    epsilon: SINGULAR.has(checked.name) ? (checked.epsilon ?? DEFAULT_EPSILON) : null,
  };
}

/** The utility a prompt gets: for a plain spec, itself; for prompt-aware, task, then kind, then default. */
export function utilityForPrompt(config: UtilityConfig, prompt: PromptInfo): UtilitySpec {
  if (config.name !== 'prompt-aware') return config;
  if (prompt.task !== undefined && Object.prototype.hasOwnProperty.call(config.tasks, prompt.task)) return config.tasks[prompt.task];
  if (prompt.kind === 'open') return config.open;
  if (prompt.kind === 'closed') return config.closed;
  if (config.default) return config.default;
  const who = prompt.id !== undefined ? `prompt ${prompt.id}` : 'prompt';
  throw new UtilitySpecError(
    `${who}: prompt-aware utility needs the prompt's kind (open | closed) or a rule for its task ${JSON.stringify(prompt.task ?? null)}, got kind ${JSON.stringify(prompt.kind ?? null)} (add a 'default' utility to the rule to cover such prompts)`,
  );
}

/** A short stable key for grouping pairs by utility, e.g. "inverse(eps=0.1)". */
export function utilityKey(spec: UtilitySpec): string {
  const r = resolveSpec(spec);
  const parts: string[] = [];
  if (r.gamma !== null) parts.push(`gamma=${r.gamma}`);
  if (r.scale !== null) parts.push(`scale=${r.scale}`);
  if (r.epsilon !== null) parts.push(`eps=${r.epsilon}`);
  return `${r.name}(${parts.join(',')})`;
}

// ---------------------------------------------------------------------------------------------
// The functions
// ---------------------------------------------------------------------------------------------

export interface Utility {
  readonly spec: ResolvedUtilitySpec;
  /** The formula of the extended utility, for help text and reports. */
  readonly formula: string;
  /** U(d), extended. */
  value(d: number): number;
  /** U′(d). At d = 0 the one-sided derivatives agree (C¹ extension). */
  derivative(d: number): number;
  /** U″(d) (0 on the linear branch d ≤ 0). Used by the theory solver's Newton steps. */
  second(d: number): number;
  /** The same U elementwise on a tensor, differentiable; same shape and dtype as d. */
  tensor(d: Tensor): Tensor;
}

/** Numerically stable log σ(x) = −softplus(−x). */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * A singular utility on x > 0: its value, derivatives, and the shifted value
 * g(p) = U(p + ε) − U(ε) on p ≥ 0 in both forms (written to keep precision when p ≪ ε).
 */
interface SingularKernel {
  u1(x: number): number;
  u2(x: number): number;
  /** U(x) unshifted (for ε = 0). */
  u(x: number): number;
  shifted(p: number, eps: number): number;
  shiftedTensor(p: Tensor, eps: number): Tensor;
  formula(eps: string): string;
}

/** A number for formulas: 12 significant digits, so 1/0.1² prints as 100, not 99.99999999999999. */
function fmt(x: number): string {
  return String(Number(x.toPrecision(12)));
}

function singularKernel(name: UtilityName, gamma: number): SingularKernel {
  switch (name) {
    case 'log':
      return {
        u: (x) => Math.log(x),
        u1: (x) => 1 / x,
        u2: (x) => -1 / (x * x),
        // log(p + ε) − log ε = log1p(p/ε)
        shifted: (p, eps) => Math.log1p(p / eps),
        shiftedTensor: (p, eps) => tf.log1p(tf.div(p, eps)),
        formula: (eps) => `log(d + ${eps}) − log(${eps})`,
      };
    case 'inverse':
      return {
        u: (x) => -1 / x,
        u1: (x) => 1 / (x * x),
        u2: (x) => -2 / (x * x * x),
        // 1/ε − 1/(p + ε) = p / (ε (p + ε))
        shifted: (p, eps) => p / (eps * (p + eps)),
        shiftedTensor: (p, eps) => tf.div(p, tf.mul(tf.add(p, eps), eps)),
        formula: (eps) => `1/${eps} − 1/(d + ${eps})`,
      };
    case 'power':
      return {
        u: (x) => Math.pow(x, gamma),
        u1: (x) => gamma * Math.pow(x, gamma - 1),
        u2: (x) => gamma * (gamma - 1) * Math.pow(x, gamma - 2),
        shifted: (p, eps) => Math.pow(p + eps, gamma) - Math.pow(eps, gamma),
        shiftedTensor: (p, eps) => tf.sub(tf.pow(tf.add(p, eps), gamma), Math.pow(eps, gamma)),
        formula: (eps) => `(d + ${eps})^${gamma} − ${eps}^${gamma}`,
      };
    case 'inverse-power':
      return {
        u: (x) => -Math.pow(x, -gamma),
        u1: (x) => gamma * Math.pow(x, -gamma - 1),
        u2: (x) => -gamma * (gamma + 1) * Math.pow(x, -gamma - 2),
        shifted: (p, eps) => Math.pow(eps, -gamma) - Math.pow(p + eps, -gamma),
        shiftedTensor: (p, eps) => tf.sub(Math.pow(eps, -gamma), tf.pow(tf.add(p, eps), -gamma)),
        formula: (eps) => `${eps}^(−${gamma}) − (d + ${eps})^(−${gamma})`,
      };
    default:
      throw new Error(`${name} is not a singular utility`);
  }
}

/** Build the utility (both forms) from a spec. */
export function makeUtility(spec: UtilitySpec): Utility {
  const r = resolveSpec(spec);
  if (r.name === 'linear') {
    return {
      spec: r,
      formula: 'd',
      value: (d) => d,
      derivative: () => 1,
      second: () => 0,
      tensor: (d) => tf.clone(d),
    };
  }
  if (r.name === 'logsigmoid') {
    const s = r.scale as number;
    return {
      spec: r,
      formula: `log σ(${fmt(s)}·d)`,
      value: (d) => logSigmoid(s * d),
      derivative: (d) => s * sigmoid(-s * d),
      second: (d) => -s * s * sigmoid(s * d) * sigmoid(-s * d),
      // log σ(z) = −softplus(−z), from kernels with registered gradients. (tf.logSigmoid is a
      // customGrad whose saved input would be disposed by the tidy around it.)
      tensor: (d) => tf.tidy(() => tf.neg(tf.softplus(tf.mul(d, -s)))),
    };
  }

  const eps = r.epsilon as number;
  const k = singularKernel(r.name, r.gamma ?? 1);
  if (eps === 0) {
    // The unextended utility (theory only): U(d) for d > 0; −∞ below (the limit ε → 0 of the
    // tangent branch, whose slope U′(ε) → ∞). U(0) is 0 for power and −∞ for the others.
    const atZero = r.name === 'power' ? 0 : -Infinity;
    return {
      spec: r,
      formula: `${r.name === 'log' ? 'log d' : r.name === 'inverse' ? '−1/d' : r.name === 'power' ? `d^${r.gamma}` : `−d^(−${r.gamma})`} (epsilon = 0: −∞ for d < 0; theory only)`,
      value: (d) => (d > 0 ? k.u(d) : d === 0 ? atZero : -Infinity),
      derivative: (d) => (d > 0 ? k.u1(d) : Infinity),
      second: (d) => (d > 0 ? k.u2(d) : -Infinity),
      tensor: () => {
        throw new UtilitySpecError(
          `utility ${r.name}: epsilon = 0 has no finite value for mis-ordered pairs (d <= 0); training needs epsilon > 0 (default ${DEFAULT_EPSILON})`,
        );
      },
    };
  }

  // U_ε(d) = g(max(d,0)) + U′(ε)·min(d,0), with g(p) = U(p+ε) − U(ε), g(0) = 0, g′(0) = U′(ε).
  const slope = k.u1(eps);
  return {
    spec: r,
    formula: `${k.formula(fmt(eps))} for d > 0; ${fmt(slope)}·d for d <= 0`,
    value: (d) => (d > 0 ? k.shifted(d, eps) : slope * d),
    derivative: (d) => (d > 0 ? k.u1(d + eps) : slope),
    second: (d) => (d > 0 ? k.u2(d + eps) : 0),
    tensor: (d) =>
      tf.tidy(() => {
        // relu instead of where: no NaN from the unused branch can leak into the gradient, and
        // at d = 0 relu′ = 0 gives slope·1 = g′(0), the same one-sided value as above.
        const p = tf.relu(d);
        const m = tf.sub(d, p);
        return tf.add(k.shiftedTensor(p, eps), tf.mul(m, slope));
      }),
  };
}

/** The utility's tensor form on reward differences d (the reward model's loss is −mean U(d)). */
export function utilityTensor(spec: UtilitySpec, d: Tensor): Tensor {
  return makeUtility(spec).tensor(d);
}

/**
 * Different utilities for different pairs in one batch (prompt-aware training), without gather:
 * every distinct utility is applied to all of d and the results are combined with 0/1 masks,
 *     U(d)ₖ = Σ_u 1[specₖ = u] · U_u(dₖ).
 * The singular utilities are finite everywhere for ε > 0, so the masked-out values never make NaN.
 * d: [P] pair differences; specs: one per pair.
 */
export function mixedUtilityTensor(d: Tensor, specs: UtilitySpec[]): Tensor {
  if (d.rank !== 1 || d.shape[0] !== specs.length) {
    throw new Error(`mixedUtilityTensor: d must be 1-D with one entry per spec, got shape [${d.shape.join(', ')}] and ${specs.length} specs`);
  }
  const groups = new Map<string, { spec: UtilitySpec; mask: number[] }>();
  specs.forEach((s, i) => {
    const key = utilityKey(s);
    let g = groups.get(key);
    if (!g) {
      g = { spec: s, mask: new Array<number>(specs.length).fill(0) };
      groups.set(key, g);
    }
    g.mask[i] = 1;
  });
  if (groups.size === 1) return makeUtility(specs[0]).tensor(d);
  return tf.tidy(() => {
    let out: Tensor | undefined;
    for (const g of groups.values()) {
      const term = tf.mul(makeUtility(g.spec).tensor(d), tf.tensor1d(g.mask, d.dtype as 'float32'));
      out = out ? tf.add(out, term) : term;
    }
    return out as Tensor;
  });
}
