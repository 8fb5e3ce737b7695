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
import { MAX_LINE_BYTES } from '../data/jsonl';

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

/**
 * Let the event loop run once, then say whether a stop was requested. Training loops must call
 * this (not only stopRequested()) once per step: a loop that never yields to the event loop never
 * sees SIGINT/SIGTERM, because Node delivers signals to their handlers from the event loop, and a
 * step of synchronous kernels plus awaited promises (microtasks) does not get there.
 */
export async function pollStop(): Promise<boolean> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  return stopRequested();
}

/** The step of the checkpoint in `dir`, or undefined when there is none (or it is incomplete). */
export function checkpointStep(dir: string): number | undefined {
  if (!hasTrainState(dir)) return undefined;
  const s = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { step?: unknown };
  return typeof s.step === 'number' && Number.isFinite(s.step) ? s.step : undefined;
}

/**
 * Cut a metrics.jsonl back to the records with step ≤ `step`, in place (ftruncate).
 *
 * Why: a trainer logs every step but checkpoints every N steps, so after a crash the log runs
 * past the checkpoint; the resumed run logs those steps again. Cutting the log back to the
 * checkpoint makes a resumed log equal an uninterrupted one. The log is append-only in step
 * order, so everything from the first record past `step` on goes (and a final fragment without
 * '\n' too). In place, not temp + rename: a MetricsLogger that already holds the file open
 * (O_APPEND) keeps writing to the same file. Returns the records kept and dropped.
 */
export function truncateMetricsAfter(file: string, step: number): { kept: number; dropped: number } {
  if (!fs.existsSync(file)) return { kept: 0, dropped: 0 };
  const fd = fs.openSync(file, 'r+');
  try {
    let kept = 0;
    let dropped = 0;
    let cut: number | undefined;
    let lineStart = 0; // file offset of the first byte of `carry`
    let carry = Buffer.alloc(0);
    let lineNo = 0;
    const chunk = Buffer.alloc(1 << 20);
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, pos);
      if (n === 0) break;
      pos += n;
      let data = Buffer.concat([carry, chunk.subarray(0, n)]);
      let nl: number;
      while ((nl = data.indexOf(0x0a)) >= 0) {
        lineNo++;
        const line = data.subarray(0, nl).toString('utf8').trim();
        if (line) {
          if (cut !== undefined) dropped++;
          else {
            let rec: { step?: unknown };
            try {
              rec = JSON.parse(line);
            } catch {
              throw new Error(`${file}:${lineNo}: not valid JSON; cannot cut the log back to step ${step}`);
            }
            if (typeof rec.step === 'number' && rec.step > step) {
              cut = lineStart;
              dropped++;
            } else kept++;
          }
        }
        lineStart += nl + 1;
        data = data.subarray(nl + 1);
      }
      carry = Buffer.from(data);
      // A log line is a few hundred bytes; one past the readers' limit is a broken file, not a record.
      if (carry.length > MAX_LINE_BYTES) throw new Error(`${file}:${lineNo + 1}: a line longer than ${MAX_LINE_BYTES} bytes; cannot cut the log back to step ${step}`);
    }
    // A final fragment without '\n' (a crash mid-write) goes too.
    if (carry.length > 0) cut ??= lineStart;
    if (cut !== undefined) {
      fs.ftruncateSync(fd, cut);
      fs.fsyncSync(fd);
    }
    return { kept, dropped };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Before a training stage resumes in `dir`: cut `dir/metrics.jsonl` back to the step of
 * `dir/checkpoint` (to nothing when there is no checkpoint: the trainer then starts at step 0).
 * Returns the checkpoint step (0 without one) and the records dropped.
 */
export function prepareMetricsForResume(dir: string, opts: { metrics?: string; checkpoint?: string } = {}): { step: number; dropped: number } {
  const step = checkpointStep(opts.checkpoint ?? path.join(dir, 'checkpoint')) ?? 0;
  const metrics = opts.metrics ?? path.join(dir, 'metrics.jsonl');
  if (step === 0) {
    // No checkpoint: the stage restarts from scratch, so its old log goes entirely.
    if (!fs.existsSync(metrics)) return { step, dropped: 0 };
    const { kept, dropped } = truncateMetricsAfter(metrics, -Infinity);
    return { step, dropped: kept + dropped };
  }
  return { step, dropped: truncateMetricsAfter(metrics, step).dropped };
}
