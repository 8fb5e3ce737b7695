/**
 * What `rlhf export` hands off from a run directory: the run's resolved config and plan (the same
 * plan `rlhf run` executed, so every path and setting is the one the run used), and the models and
 * data files an engine needs to rerun it. A model the run has not written yet is an error naming
 * it; nothing is guessed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadRunConfig, RunConfig } from '../pipeline/config';
import { planRun, RunPlan } from '../pipeline/plan';

export interface RunSource {
  runDir: string;
  config: RunConfig;
  plan: RunPlan;
}

/** Read RUN/config.resolved.yaml (written by `rlhf run`) and plan the run from it. */
export function readRunSource(runDir: string): RunSource {
  const abs = path.resolve(runDir);
  const file = path.join(abs, 'config.resolved.yaml');
  if (!fs.existsSync(file)) throw new Error(`${abs}: no config.resolved.yaml — not a run directory written by \`rlhf run\` (export needs the run's resolved config)`);
  const config = loadRunConfig(file).config;
  // The resolved config names the run_dir it was written for; a moved run directory is read where it is now.
  return { runDir: abs, config: { ...config, run_dir: abs }, plan: planRun({ ...config, run_dir: abs }) };
}

/** A model directory the export copies: it must hold a model (config.json and weights). */
export function requireModelDir(dir: string, what: string): string {
  const ok = fs.existsSync(path.join(dir, 'config.json')) && (fs.existsSync(path.join(dir, 'model.safetensors')) || fs.existsSync(path.join(dir, 'model.safetensors.index.json')));
  if (!ok) throw new Error(`${dir}: ${what} is not there (no config.json with weights); run that stage first (\`rlhf run CONFIG --until <stage>\`)`);
  return dir;
}
