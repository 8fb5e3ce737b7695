/**
 * `rlhf theory`: solve the per-prompt reward program max Σ_{i<j} U(rᵢ − rⱼ) over ordered
 * r ∈ [0,1]ⁿ for one utility, and compare with the known n → ∞ limit. Thin: parse, solve, print.
 */
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base';
import { makeUtility, parseUtilityConfig, utilityForPrompt, UTILITY_NAMES, DEFAULT_EPSILON, DEFAULT_SCALE, UtilitySpec } from '../reward/utilities';
import { ksDistanceToLimit, limitDistribution, solveTheory } from '../reward/theory';

export interface TheoryOutput {
  utility: string;
  /** Set when --utility prompt-aware: which rule picked `utility`. */
  rule?: string;
  gamma: number | null;
  scale: number | null;
  epsilon: number | null;
  formula: string;
  n: number;
  /** Best first: rewards[0] = 1, rewards[n−1] = 0. */
  rewards: number[];
  objective: number;
  limit: { name: string; description: string; params: Record<string, number>; assumes: string } | null;
  /** Kolmogorov–Smirnov distance between the n rewards and the limit (when there is one). */
  ks?: number;
  method: string;
  newtonSteps: number;
  kkt: { lambda: number; maxExcess: number };
}

function parseNumberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x)) throw new Error(`--${name}: expected a number, got ${JSON.stringify(value)}`);
  return x;
}

export default class Theory extends BaseCommand {
  static summary = 'Solve the reward-collapse program for one utility: the rewards n ranked completions get.';

  static description = `For one prompt with n completions ranked best to worst, a reward model trained to the end on rankings gives them the rewards r that maximise  Σ_{i<j} U(rᵢ − rⱼ)  over 1 ≥ r₁ ≥ r₂ ≥ … ≥ rₙ ≥ 0 (Song, Cai, Lee & Su 2023). The answer depends on U and n only, not on the prompt: reward collapse. This command solves that program (interior-point Newton method, KKT residual ~1e-12 or better) and, where one is known, compares the n rewards with the n → ∞ limit by the Kolmogorov–Smirnov distance.

Utilities (the same definitions the reward-model trainer uses):
  logsigmoid     log σ(s·d), --scale s (default ${DEFAULT_SCALE}; the paper uses 4)
  linear         d              limit ½ at 0, ½ at 1
  power          d^γ, 0<γ<1     limit Beta((1−γ)/2, (1−γ)/2)
  log            log d          limit Beta(½, ½), arcsine
  inverse        −1/d           limit Uniform(0, 1)
  inverse-power  −d^(−γ), γ>0   limit Beta((1+γ)/2, (1+γ)/2)
  prompt-aware   a rule: --kind open → inverse, closed → linear

power, log, inverse and inverse-power are shifted by --epsilon ε (default ${DEFAULT_EPSILON}, as in the paper's code): U(d + ε) − U(ε) for d > 0 and the tangent line U′(ε)·d below, so that training has finite gradients. The limits are the paper's theorems for ε = 0 (for inverse-power with γ ≥ 1 the limit is uniform); with ε > 0 the finite-n optimum is a different one (it can tie several completions at 1 and at 0). Use --epsilon 0 to solve the paper's unshifted program.

Rewards are listed best first. For linear and odd n the middle reward can be anything in [0, 1]; the command returns ½, the symmetric choice.`;

  static examples = [
    { description: 'The rewards 8 ranked completions collapse to under −1/d (ε = 0.1):', command: '<%= config.bin %> <%= command.id %> --utility inverse --n 8' },
    { description: "The paper's unshifted log utility, compared with the arcsine limit:", command: '<%= config.bin %> <%= command.id %> --utility log --epsilon 0 --n 200' },
    { description: 'd^0.5 as JSON:', command: '<%= config.bin %> <%= command.id %> --utility power --gamma 0.5 --epsilon 0 --n 50 --json' },
    { description: 'Bradley–Terry with the scale the paper uses on sigmoid rewards:', command: '<%= config.bin %> <%= command.id %> --utility logsigmoid --scale 4 --n 8' },
    { description: 'What the prompt-aware rule gives a closed-ended prompt:', command: '<%= config.bin %> <%= command.id %> --utility prompt-aware --kind closed --n 8' },
  ];

  static flags = {
    utility: Flags.string({
      char: 'u',
      description: 'The utility U of the reward difference d.',
      options: [...UTILITY_NAMES, 'prompt-aware'],
      required: true,
    }),
    n: Flags.integer({ char: 'n', description: 'Number of ranked completions of the prompt.', required: true, min: 1, max: 2000 }),
    gamma: Flags.string({ description: 'Exponent γ of power (0 < γ < 1) and inverse-power (γ > 0).' }),
    scale: Flags.string({ description: `Scale s of logsigmoid, log σ(s·d) (default ${DEFAULT_SCALE}).` }),
    epsilon: Flags.string({ description: `Shift ε of power, log, inverse, inverse-power (default ${DEFAULT_EPSILON}; 0 = the unshifted utility).` }),
    kind: Flags.string({ description: 'With --utility prompt-aware: the prompt kind the rule looks at.', options: ['open', 'closed'] }),
  };

  async run(): Promise<TheoryOutput> {
    const { flags } = await this.parse(Theory);
    const raw: Record<string, unknown> = { name: flags.utility };
    const gamma = parseNumberFlag('gamma', flags.gamma);
    const scale = parseNumberFlag('scale', flags.scale);
    const epsilon = parseNumberFlag('epsilon', flags.epsilon);

    let spec: UtilitySpec;
    let rule: string | undefined;
    if (flags.utility === 'prompt-aware') {
      if (!flags.kind) throw new Error('--utility prompt-aware needs --kind open|closed (the rule maps a prompt kind to a utility)');
      if (gamma !== undefined || scale !== undefined) throw new Error('--gamma and --scale do not apply to prompt-aware; pick the utility directly instead');
      spec = { ...utilityForPrompt(parseUtilityConfig('prompt-aware', '--utility'), { kind: flags.kind }) };
      if (epsilon !== undefined) spec.epsilon = epsilon;
      rule = `prompt-aware (kind ${flags.kind} → ${spec.name})`;
    } else {
      if (gamma !== undefined) raw.gamma = gamma;
      if (scale !== undefined) raw.scale = scale;
      if (epsilon !== undefined) raw.epsilon = epsilon;
      try {
        spec = parseUtilityConfig(raw, '--utility') as UtilitySpec;
      } catch (err) {
        throw new Error((err as Error).message.replace(/--utility\.(\w+)/g, '--$1'));
      }
    }
    let resolved;
    try {
      resolved = makeUtility(spec);
    } catch (err) {
      // The library names fields as "--utility.gamma"; on the command line they are flags.
      throw new Error((err as Error).message.replace(/--utility\.(\w+)/g, '--$1'));
    }
    const result = solveTheory(spec, flags.n);
    const limit = limitDistribution(spec);
    const out: TheoryOutput = {
      utility: resolved.spec.name,
      ...(rule ? { rule } : {}),
      gamma: resolved.spec.gamma,
      scale: resolved.spec.scale,
      epsilon: resolved.spec.epsilon,
      formula: resolved.formula,
      n: flags.n,
      rewards: result.rewards,
      objective: result.objective,
      limit: limit ? { name: limit.name, description: limit.description, params: limit.params, assumes: limit.assumes } : null,
      ...(limit ? { ks: ksDistanceToLimit(result.rewards, limit) } : {}),
      method: result.method,
      newtonSteps: result.newtonSteps,
      kkt: result.kkt,
    };
    if (!this.jsonEnabled()) this.log(formatHuman(out));
    return out;
  }
}

/** A readable report: the utility, the table of rewards with a bar, the objective and the limit. */
export function formatHuman(o: TheoryOutput): string {
  const lines: string[] = [];
  lines.push(`utility   ${o.utility}${o.rule ? `  [${o.rule}]` : ''}: U(d) = ${o.formula}`);
  lines.push(`n         ${o.n}`);
  lines.push(`objective ${o.objective.toPrecision(10)}   (Σ over ${(o.n * (o.n - 1)) / 2} pairs; ${o.method}, KKT residual ${o.kkt.maxExcess.toExponential(1)})`);
  lines.push('');
  const width = 40;
  const rankWidth = String(o.n).length;
  lines.push(`${'rank'.padStart(Math.max(4, rankWidth))}  reward        0${' '.repeat(width - 2)}1`);
  o.rewards.forEach((r, i) => {
    const bar = '█'.repeat(Math.round(r * width));
    lines.push(`${String(i + 1).padStart(Math.max(4, rankWidth))}  ${r.toFixed(8)}    ${bar}`);
  });
  lines.push('');
  if (o.limit) {
    lines.push(`limit     ${o.limit.description}`);
    lines.push(`          (${o.limit.assumes})`);
    lines.push(`KS        ${(o.ks as number).toFixed(6)}   (sup |empirical CDF of the n rewards − limit CDF|)`);
  } else {
    lines.push('limit     none known for this utility');
  }
  return lines.join('\n');
}
