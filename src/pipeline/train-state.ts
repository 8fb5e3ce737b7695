/**
 * Resumable training state: weights, optimizer moments, RNG state, data position and any extra
 * scalars (PPO's β) in one directory, swapped in atomically, so `--resume` after a crash or kill -9
 * continues from the last complete checkpoint and reproduces an uninterrupted run.
 *
 * Layout of `<stage>/checkpoint/`: state.json (step, position, rng, extra), weights.safetensors
 * (trainable tensors by name), optimizer.safetensors (Adam moments).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf, Tensor, Variable } from '../backend/tf';
import { decodeSafetensors, encodeSafetensors, HostTensor } from '../model/safetensors';
import { Adam } from '../model/optim';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs';
import { replaceDir } from '../model/checkpoint';
import { RngState } from '../util/rng';

export interface TrainState {
  step: number;
  /** Where in the data the next step starts (epoch, index, permutation seed… stage-specific). */
  position: Record<string, unknown>;
  rng: RngState;
  extra: Record<string, unknown>;
}

export async function saveTrainState(dir: string, state: TrainState, vars: Record<string, Tensor>, opt?: Adam): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.tmp-`));
  try {
    const weights: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(vars)) weights[k] = { shape: v.shape.slice(), data: (await v.data()) as Float32Array };
    writeFileAtomic(path.join(tmp, 'weights.safetensors'), encodeSafetensors(weights));
    let optStep = 0;
    if (opt) {
      const s = await opt.state();
      optStep = s.step;
      writeFileAtomic(path.join(tmp, 'optimizer.safetensors'), encodeSafetensors(s.tensors));
    }
    // state.json last: its presence marks the checkpoint as complete.
    writeJsonAtomic(path.join(tmp, 'state.json'), { ...state, optimizerStep: optStep, savedAt: new Date().toISOString() });
    replaceDir(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

export function hasTrainState(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'state.json'));
}

/** Restore into existing variables (same names and shapes) and the optimizer. */
export function loadTrainState(dir: string, vars: Record<string, Variable>, opt?: Adam): TrainState {
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as TrainState & { optimizerStep: number };
  const { tensors } = decodeSafetensors(fs.readFileSync(path.join(dir, 'weights.safetensors')), path.join(dir, 'weights.safetensors'));
  for (const [k, v] of Object.entries(vars)) {
    const t = tensors[k];
    if (!t) throw new Error(`${dir}: checkpoint has no tensor '${k}' (was it written by a different config?)`);
    if (t.shape.join() !== v.shape.join()) throw new Error(`${dir}: tensor '${k}' has shape [${t.shape}], expected [${v.shape}]`);
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape)));
  }
  if (opt) {
    const f = path.join(dir, 'optimizer.safetensors');
    if (fs.existsSync(f)) opt.load(state.optimizerStep, decodeSafetensors(fs.readFileSync(f), f).tensors);
  }
  return state;
}

/** Thrown when a loss, reward or gradient stops being finite. */
export class NonFiniteError extends Error {
  constructor(
    readonly stage: string,
    readonly step: number,
    readonly what: string,
    readonly value: number,
  ) {
    super(`${stage}: ${what} is ${value} at step ${step}; stopped (the last good checkpoint is kept)`);
  }
}

export function assertFinite(stage: string, step: number, values: Record<string, number>): void {
  for (const [k, v] of Object.entries(values)) if (!Number.isFinite(v)) throw new NonFiniteError(stage, step, k, v);
}

/** Thrown after a checkpoint was written in answer to SIGINT/SIGTERM. */
export class InterruptedError extends Error {
  constructor(
    readonly stage: string,
    readonly step: number,
  ) {
    super(`${stage}: interrupted at step ${step}; a checkpoint was written. Resume with --resume.`);
  }
}

let stopSignal: string | undefined;
let installed = false;

/** Ask training loops to stop at their next step boundary on SIGINT/SIGTERM (a second signal exits at once). */
export function installStopHandlers(): void {
  if (installed) return;
  installed = true;
  const handler = (sig: string) => {
    if (stopSignal) process.exit(130);
    stopSignal = sig;
    process.stderr.write(`\n${sig} received: finishing the current step and writing a checkpoint (press Ctrl-C again to abort)\n`);
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

export function stopRequested(): boolean {
  return stopSignal !== undefined;
}
