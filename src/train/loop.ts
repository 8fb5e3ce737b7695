/**
 * The one training loop of rlhf: what the SFT, reward-model and PPO trainers share around their
 * own step — resume from a checkpoint, metrics.jsonl, the progress bar, a checkpoint every N steps,
 * and a clean stop on SIGINT/SIGTERM (a checkpoint, then InterruptedError). The trainer supplies
 * the step itself and the state it needs back on resume; the loop owns everything else.
 *
 *   const loop = openTrainingLoop({ stage, outDir, vars, opt, total, checkpointEvery, resume });
 *   const extra = loop.resumed?.extra;             // the trainer restores its own state from this
 *   await loop.run(async (step) => {               // step = steps done so far (0-based index)
 *     …one optimisation step…
 *     return { record: { loss, lr }, progress: { loss } };   // logged as step + 1
 *   }, () => ({ position, rng, extra }));          // what a checkpoint stores besides the tensors
 *   loop.close();
 *
 * A resumed run continues from the checkpoint's step and cuts metrics.jsonl back to it (records a
 * crash left past the checkpoint are re-done), so a resumed run's log equals an uninterrupted one.
 */
import * as path from 'node:path';
import { Variable } from '../backend/tf';
import { Adam } from '../model/optim';
import { MetricsLogger, MetricValue } from '../metrics/logger';
import { info, progress, Progress } from '../util/progress';
import { Rng, RngState } from '../util/rng';
import { hasTrainState, InterruptedError, loadTrainState, pollStop, saveTrainState, TrainState, truncateMetricsAfter } from './state';

export interface TrainingLoopOptions {
  /** Names the metrics records, the progress bar, messages and errors. */
  stage: string;
  /** metrics.jsonl and checkpoint/ go here. */
  outDir: string;
  /** The trainable tensors a checkpoint stores and a resume restores (by name). */
  vars: Record<string, Variable>;
  opt: Adam;
  /** Steps of the whole run (the bar's end; no periodic checkpoint at the last step). */
  total: number;
  /** Stop after this many steps without changing the schedule (sft's --stop-after). */
  stopAfter?: number;
  /** Write a checkpoint every N steps. */
  checkpointEvery: number;
  /** Continue from outDir/checkpoint when there is one. */
  resume?: boolean;
  /** The progress bar's label (default: the stage). */
  label?: string;
}

/** What a step returns: the metrics record of the step it completed, and the bar's fields. */
export interface StepOutcome {
  /** Logged as step + 1; undefined logs nothing for this step (a step with nothing to learn from). */
  record?: Record<string, MetricValue>;
  progress?: Record<string, number>;
  /** End the run after this step (early stopping). */
  done?: boolean;
}

/** A checkpoint's stage-specific part: where in the data, the RNG, and anything else to restore. */
export type Snapshot = Omit<TrainState, 'step'>;

export interface TrainingLoop {
  readonly stage: string;
  readonly logger: MetricsLogger;
  /** Steps done (the checkpoint's step after a resume). */
  readonly step: number;
  /** The checkpoint this run resumed from, if it did. */
  readonly resumed?: TrainState;
  run(step: (step: number) => StepOutcome | Promise<StepOutcome>, snapshot: () => Snapshot): Promise<void>;
  close(): void;
}

export function openTrainingLoop(o: TrainingLoopOptions): TrainingLoop {
  const ckptDir = path.join(o.outDir, 'checkpoint');
  const metricsFile = path.join(o.outDir, 'metrics.jsonl');
  const logger = new MetricsLogger(metricsFile, { stage: o.stage });
  let step = 0;
  let resumed: TrainState | undefined;
  if (o.resume && hasTrainState(ckptDir)) {
    resumed = loadTrainState(ckptDir, o.vars, o.opt);
    step = resumed.step;
    truncateMetricsAfter(metricsFile, step);
    info(`${o.stage}: resumed from step ${step} (${ckptDir})`);
  }
  const checkpoint = (snapshot: () => Snapshot) => saveTrainState(ckptDir, { step, ...snapshot() }, o.vars, o.opt);
  let bar: Progress | undefined;

  return {
    stage: o.stage,
    logger,
    get step() {
      return step;
    },
    resumed,
    async run(body, snapshot) {
      bar = progress(o.label ?? o.stage, o.total);
      const stopAt = Math.min(o.total, o.stopAfter ?? o.total);
      try {
        while (step < stopAt) {
          const out = await body(step);
          step += 1;
          if (out.record) logger.log(step, out.record);
          bar.update(step, out.progress ?? {});
          if (out.done) break;
          const stop = await pollStop(); // lets the event loop deliver SIGINT/SIGTERM
          if ((step % o.checkpointEvery === 0 && step < o.total) || stop) {
            logger.flush();
            await checkpoint(snapshot);
            if (stop) throw new InterruptedError(o.stage, step);
          }
        }
      } finally {
        bar.stop();
      }
    },
    close() {
      logger.close();
    },
  };
}

/** The RNG part of a snapshot for trainers whose randomness is a pure function of the step. */
export const NO_RNG: RngState = {} as RngState;

/**
 * Data order as a pure function of (seed, epoch): every epoch a fresh shuffle of the n examples,
 * cut into batches; so the step alone is the whole resume position. Returns the example indices of
 * a step's batch.
 */
export function epochBatches(seed: string, n: number, batchSize: number): (step: number) => number[] {
  const perEpoch = Math.ceil(n / batchSize);
  let epoch = -1;
  let perm: number[] = [];
  return (step) => {
    const e = Math.floor(step / perEpoch);
    if (e !== epoch) {
      perm = new Rng(`${seed}:${e}`).shuffle(Array.from({ length: n }, (_, i) => i));
      epoch = e;
    }
    const i0 = (step % perEpoch) * batchSize;
    return perm.slice(i0, i0 + batchSize);
  };
}
