/**
 * Progress for long loops, on stderr: a cli-progress bar (steps, ETA, loss/reward) on a terminal,
 * plain periodic lines when stderr is not a terminal (CI, pipes, log files), nothing with --quiet.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance to `step` (absolute) and show these values. */
  update(step: number, values?: Record<string, number | string>): void;
  stop(): void;
}

let quiet = process.env.RLHF_QUIET === '1';
export function setQuiet(q: boolean): void {
  quiet = q;
}
export function isQuiet(): boolean {
  return quiet;
}

/** Informational line on stderr (silenced by --quiet). */
export function info(msg: string): void {
  if (!quiet) process.stderr.write(`${msg}\n`);
}

function fmt(values: Record<string, number | string>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : v.toPrecision(4)) : v}`)
    .join('  ');
}

export function progress(label: string, total: number, opts: { lineEverySeconds?: number } = {}): Progress {
  if (quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted} | {vals}`, stream: process.stderr, hideCursor: true, etaBuffer: 20 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { vals: '' });
    return {
      update: (step, values = {}) => bar.update(step, { vals: fmt(values) }),
      stop: () => bar.stop(),
    };
  }
  // Not a terminal: a line at most every few seconds, and always the last one.
  const every = (opts.lineEverySeconds ?? 10) * 1000;
  const start = Date.now();
  let last = 0;
  let lastStep = 0;
  let lastValues: Record<string, number | string> = {};
  const line = (step: number, values: Record<string, number | string>) => {
    const el = (Date.now() - start) / 1000;
    const eta = step > 0 ? (el / step) * (total - step) : NaN;
    process.stderr.write(`${label} ${step}/${total} (${el.toFixed(0)}s, ETA ${Number.isFinite(eta) ? eta.toFixed(0) : '?'}s) ${fmt(values)}\n`);
  };
  return {
    update(step, values = {}) {
      lastStep = step;
      lastValues = values;
      if (Date.now() - last >= every) {
        last = Date.now();
        line(step, values);
      }
    },
    stop() {
      line(lastStep, lastValues);
    },
  };
}
