/**
 * Hyperparameters of reward-model training, one place, one line each; and the utility as a config
 * writes it, validated once (parseUtilityConfig) into a typed UtilityConfig that every later step
 * takes as it is.
 */
import { z } from 'zod';
import { parseUtilityConfig, UtilityConfig, UtilitySpecError } from './utilities';

/**
 * Where a utility's error message puts the key path of the utility itself: parseUtilityConfig
 * names the field below it ("@.gamma: power needs gamma"); utilityIssueText puts the config's path
 * in front ("train_rm.utilities[1].gamma: power needs gamma").
 */
const HERE = '@';
export function utilityIssueText(keyPath: string, message: string): string | undefined {
  return message.startsWith(HERE) ? `${keyPath}${message.slice(HERE.length)}` : undefined;
}

/** A utility: a name, {name, gamma?, scale?, epsilon?}, or the prompt-aware rule. */
export const UtilityConfigSchema = z.unknown().transform((input, ctx): UtilityConfig => {
  try {
    return parseUtilityConfig(input, HERE);
  } catch (err) {
    if (!(err instanceof UtilitySpecError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message, input });
    return z.NEVER;
  }
});

/** One reward model of a run: the directory name, its utility, and its own rankings if it has them. */
export interface UtilityEntry {
  name: string;
  utility: UtilityConfig;
  /** Rankings this reward model learns from instead of the run's (the rank stage's output or data.rankings). */
  rankings?: string;
  /** Its held-out rankings (only with its own rankings). */
  heldout_rankings?: string;
  /** Training settings of this reward model that differ from train_rm's shared ones (like ppo.runs). */
  overrides?: Partial<RewardTrainConfig>;
}

const ENTRY_KEYS = ['id', 'utility', 'rankings', 'heldout_rankings'];
/** Settings an entry may not override: the utility is the entry's own, the seed is the run's. */
const NOT_OVERRIDDEN = ['utility', 'seed'];

/**
 * An entry of train_rm.utilities: a utility (named after it: its name, or name + parameters), or
 * {id, utility} to choose the directory name.
 */
export const UtilityEntrySchema = z.unknown().transform((input, ctx): UtilityEntry => {
  const withId = typeof input === 'object' && input !== null && !Array.isArray(input) && 'id' in input;
  const raw = withId ? (input as { utility?: unknown }).utility : input;
  if (withId) {
    const obj = input as Record<string, unknown>;
    const settings = Object.keys(RewardTrainConfigSchema.shape).filter((k) => !NOT_OVERRIDDEN.includes(k));
    const extra = Object.keys(obj).filter((k) => !ENTRY_KEYS.includes(k) && !settings.includes(k));
    if (extra.length || raw === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected {id: NAME, utility: UTILITY, rankings?: FILE, heldout_rankings?: FILE, and any train_rm setting to override} (${extra.length ? `unknown key ${extra.join(', ')}` : 'utility is missing'})`, input });
      return z.NEVER;
    }
    for (const k of ['rankings', 'heldout_rankings'])
      if (k in obj && (typeof obj[k] !== 'string' || obj[k] === '')) {
        ctx.addIssue({ code: 'custom', message: `${HERE}.${k}: expected a file path`, input });
        return z.NEVER;
      }
    if ('heldout_rankings' in obj && !('rankings' in obj)) {
      ctx.addIssue({ code: 'custom', message: `${HERE}.heldout_rankings: only with this entry's own rankings (the run's held-out rankings go with the run's rankings)`, input });
      return z.NEVER;
    }
  }
  let utility: UtilityConfig;
  try {
    utility = parseUtilityConfig(raw, withId ? `${HERE}.utility` : HERE);
  } catch (err) {
    if (!(err instanceof UtilitySpecError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message, input });
    return z.NEVER;
  }
  const own = withId ? (input as Record<string, unknown>) : {};
  let overrides: Partial<RewardTrainConfig> | undefined;
  const given = Object.fromEntries(Object.entries(own).filter(([k]) => !ENTRY_KEYS.includes(k)));
  if (Object.keys(given).length) {
    // Validated by the same schema as the shared settings, without filling defaults (only what is given).
    const parsed = RewardTrainConfigSchema.partial().safeParse(given);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: `${HERE}.${issue.path.join('.')}: ${issue.message}`, input });
      return z.NEVER;
    }
    overrides = Object.fromEntries(Object.keys(given).map((k) => [k, (parsed.data as Record<string, unknown>)[k]])) as Partial<RewardTrainConfig>;
  }
  return {
    name: utilityEntryName(input),
    utility,
    ...(typeof own.rankings === 'string' && { rankings: own.rankings }),
    ...(typeof own.heldout_rankings === 'string' && { heldout_rankings: own.heldout_rankings }),
    ...(overrides && { overrides }),
  };
});

/** The directory name of a train_rm.utilities entry: its id, the utility's name, or name + parameters. */
export function utilityEntryName(input: unknown): string {
  if (typeof input === 'string') return input;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return String(input);
  const obj = input as Record<string, unknown>;
  if ('id' in obj) return String(obj.id);
  const params = Object.keys(obj)
    .filter((k) => k !== 'name')
    .sort()
    .map((k) => `${k}${typeof obj[k] === 'object' ? '' : String(obj[k])}`);
  return [String(obj.name), ...params].join('-');
}

export const RewardTrainConfigSchema = z
  .object({
    utility: UtilityConfigSchema.default({ name: 'logsigmoid' }).describe("U of d = R(better) − R(worse): a name, {name, gamma, scale, epsilon}, or 'prompt-aware' / {name: prompt-aware, open, closed, tasks}"),
    squash: z.enum(['sigmoid', 'none']).default('sigmoid').describe('sigmoid: rewards in (0, 1) as in the paper; none: the raw head output'),
    epochs: z.number().positive().default(30).describe('passes over the training prompts (train into the terminal phase on purpose)'),
    batch_prompts: z.number().int().positive().default(8).describe('prompts per step; all of a prompt\'s completions and pairs are in the same step'),
    lr: z.number().positive().default(1e-3).describe('peak learning rate (Adam)'),
    schedule: z.enum(['constant', 'linear', 'cosine']).default('constant').describe('learning-rate decay after warm-up'),
    warmup_steps: z.number().int().nonnegative().default(10).describe('linear warm-up steps'),
    weight_decay: z.number().nonnegative().default(0).describe('decoupled weight decay'),
    max_grad_norm: z.number().nonnegative().default(1).describe('clip the global gradient norm (0 = off)'),
    max_length: z.number().int().positive().default(64).describe('longest prompt + completion in tokens (the end is kept)'),
    train_layers: z.union([z.literal('all'), z.number().int().nonnegative()]).default('all').describe("train every block, or only the last N blocks (+ ln_f and the head)"),
    cache_frozen: z.boolean().default(true).describe('with train_layers < n_layer: compute the frozen lower blocks\' output once per sequence and run only the top at each step (same numbers, much faster)'),
    eval_every: z.number().positive().default(2).describe('diagnostics (reward-vs-rank curves, collapse score, accuracy) every N epochs'),
    early_stopping: z
      .union([z.literal(false), z.object({ patience: z.number().int().positive(), min_delta: z.number().nonnegative() }).strict()])
      .default(false)
      .describe('stop when the train loss has not improved by min_delta for `patience` evaluations (off by default: the collapse shows at the end of training)'),
    eval_heldout: z.boolean().default(true).describe('score the held-out prompts at every evaluation too (they are always scored at the end)'),
    checkpoint_every: z.number().int().positive().default(100).describe('write a resumable checkpoint every N steps'),
    seed: z.number().int().default(1).describe('seed for the head initialisation and data order'),
  })
  .strict();

export type RewardTrainConfig = z.infer<typeof RewardTrainConfigSchema>;
