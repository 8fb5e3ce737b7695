/**
 * One stage of a run, said in an engine's own terms: each rlhf setting with the engine's name and
 * value for it (the launch file is written from these rows, and HANDOFF.md prints the same rows,
 * so the two cannot disagree), and the settings the engine has no equivalent for.
 */
export interface Setting {
  /** The rlhf config key (stage.key) or a description of what it comes from. */
  rlhf: string;
  /** The engine's option name (TRL config field, OpenRLHF flag without the dashes). */
  engine: string;
  value: unknown;
  /** How the value was derived, when it is not a plain copy. */
  note?: string;
}

/** An rlhf setting of the run that the engine cannot reproduce, and what the engine does instead. */
export interface Gap {
  rlhf: string;
  value: unknown;
  why: string;
}

export interface EngineStage {
  /** The rlhf stage (and sweep run) this reruns, e.g. 'ppo', 'ppo/beta-0.1'. */
  stage: string;
  /** What the engine runs, e.g. "TRL 1.12 PPOTrainer (trl.experimental.ppo)". */
  runs: string;
  /** The launch file written for it, relative to the export directory. */
  file: string;
  /** The shell command that runs it, from the export directory. */
  command: string;
  settings: Setting[];
  /** Fixed engine settings that are not rlhf settings (output_dir, logging), written to the launch file. */
  fixed: Record<string, unknown>;
  gaps: Gap[];
  /** The launch file's text when it is a script (OpenRLHF); TRL's YAML is written from the settings. */
  launch?: string;
}

/** The settings as one object of engine names (fixed ones after the mapped ones). */
export function engineValues(s: EngineStage): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const row of s.settings) out[row.engine] = row.value;
  return { ...out, ...s.fixed };
}

/** `when` is true: the run used a setting the engine cannot reproduce. */
export function gapIf(gaps: Gap[], when: boolean, rlhf: string, value: unknown, why: string): void {
  if (when) gaps.push({ rlhf, value, why });
}

/** The exact division the engine's batch arithmetic needs, or an error naming both settings. */
export function exactRatio(stage: string, num: [string, number], den: [string, number]): number {
  if (num[1] % den[1] !== 0) throw new Error(`${stage}: ${num[0]} (${num[1]}) is not a multiple of ${den[0]} (${den[1]}); the engines split a batch into equal minibatches, so this run cannot be exported exactly`);
  return num[1] / den[1];
}
