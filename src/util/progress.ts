/**
 * Progress for long loops, on stderr: a cli-progress bar (count, ETA, the key metrics) on a
 * terminal, plain periodic lines when stderr is not a terminal (CI, pipes, log files), nothing
 * with --quiet. Both show the same compact line (formatProgress), which always keeps the count, the
 * ETA and the first metric: on a terminal it is cut to the terminal's width (80 columns when
 * unknown) by shortening the label, then dropping the bar, then the later metrics.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance to `step` (absolute) and show these values (the first one is the key metric). */
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

/**
 * A warning on stderr: something the user asked for did not happen as asked (a result was cut
 * short, a value was adjusted). Not silenced by --quiet, which silences progress and results only.
 */
export function warn(msg: string): void {
  process.stderr.write(`Warning: ${msg}\n`);
}

/** A metric value in at most ~8 characters: 4 significant digits, integers as they are. */
export function fmtValue(v: number | string): string {
  if (typeof v !== 'number') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  if (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3) return v.toExponential(2);
  return v.toPrecision(4);
}

/** Seconds as 42s, 3m05s, 2h07m; '?' when unknown. */
export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressLine {
  label: string;
  step: number;
  total: number;
  /** Seconds since the start. */
  elapsed: number;
  /** Seconds left (NaN when unknown). */
  eta: number;
  values: Record<string, number | string>;
  /** Fit the line in this many columns (a terminal); undefined = no limit (a log file). */
  width?: number;
  /** Draw a bar in the room left over (a terminal). */
  bar?: boolean;
}

const BAR_MIN = 10;
const BAR_MAX = 30;
/** The label is cut to no fewer characters than this while a bar or later metrics could go instead. */
const LABEL_KEEP = 16;

/**
 * One progress line: `label [====----] 12/50 ETA 1m05s loss 2.315 eval 2.066`.
 *
 * Within a width (a terminal), room goes in this order: the count, the ETA and the first (key)
 * metric always; then the other metrics; then up to LABEL_KEEP characters of the label (cut with
 * '…'); then a bar of BAR_MIN; then the rest of the label; then the bar up to BAR_MAX.
 */
export function formatProgress(p: ProgressLine): string {
  const count = `${p.step}/${p.total}`;
  const eta = p.step >= p.total ? `in ${fmtSeconds(p.elapsed)}` : `ETA ${fmtSeconds(p.eta)}`;
  const metrics = Object.entries(p.values).map(([k, v]) => `${k} ${fmtValue(v)}`);
  const join = (parts: string[]) => parts.filter((s) => s !== '').join(' ');
  if (p.width === undefined) return join([p.label, count, eta, ...metrics]);

  const W = p.width;
  const labelKeep = Math.min(p.label.length, LABEL_KEEP);
  // The later metrics go first when even a short label does not fit beside them.
  let shown = metrics.length;
  while (shown > 1 && join([count, eta, ...metrics.slice(0, shown)]).length + (labelKeep ? labelKeep + 1 : 0) > W) shown--;
  const fixed = join([count, eta, ...metrics.slice(0, shown)]);
  let free = W - fixed.length;
  // label: its first LABEL_KEEP characters (fewer if that is all the room), then the bar's minimum, then the rest
  let labelLen = Math.max(0, Math.min(labelKeep, free - 1));
  free -= labelLen ? labelLen + 1 : 0;
  let barLen = p.bar && free >= BAR_MIN + 3 ? BAR_MIN : 0;
  free -= barLen ? barLen + 3 : 0;
  const more = Math.min(p.label.length - labelLen, free);
  if (labelLen && more > 0) {
    labelLen += more;
    free -= more;
  }
  if (barLen) barLen += Math.max(0, Math.min(BAR_MAX - barLen, free));
  const label = labelLen >= p.label.length ? p.label : labelLen >= 2 ? `${p.label.slice(0, labelLen - 1)}…` : '';
  let bar = '';
  if (barLen) {
    const done = p.total > 0 ? Math.max(0, Math.min(barLen, Math.round((barLen * p.step) / p.total))) : 0;
    bar = `[${'='.repeat(done)}${'-'.repeat(barLen - done)}]`;
  }
  const line = join([label, bar, fixed]);
  return line.length > W ? line.slice(0, W) : line; // only when count, ETA and key metric alone do not fit
}

/** Columns of the terminal on stderr, less one (writing the last column wraps on some terminals). */
function terminalWidth(): number {
  return (process.stderr.columns || 80) - 1;
}

export function progress(label: string, total: number, opts: { lineEverySeconds?: number } = {}): Progress {
  if (quiet) return { update() {}, stop() {} };
  const start = Date.now();
  let firstStep: number | undefined;
  /** ETA from the steps done since this bar started (a resumed run starts mid-way). */
  const etaOf = (step: number, elapsed: number) => {
    const done = firstStep === undefined ? 0 : step - firstStep + 1;
    return done > 0 ? (elapsed / done) * (total - step) : NaN;
  };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        hideCursor: true,
        // cli-progress draws the line; formatProgress decides what is in it and fits it to the terminal.
        format: (_o, params, payload) => {
          const elapsed = ((params.stopTime ?? Date.now()) - start) / 1000;
          return formatProgress({ label, step: params.value, total: params.total, elapsed, eta: etaOf(params.value, elapsed), values: payload.values ?? {}, width: terminalWidth(), bar: true });
        },
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { values: {} });
    return {
      update: (step, values = {}) => {
        firstStep ??= step;
        bar.update(step, { values });
      },
      stop: () => bar.stop(),
    };
  }
  // Not a terminal: a line at most every few seconds, and the last one once (unless already printed).
  const every = (opts.lineEverySeconds ?? 10) * 1000;
  let lastPrintedAt = 0;
  let lastPrintedStep: number | undefined;
  let current: { step: number; values: Record<string, number | string> } | undefined;
  const line = (step: number, values: Record<string, number | string>) => {
    const elapsed = (Date.now() - start) / 1000;
    return formatProgress({ label, step, total, elapsed, eta: etaOf(step, elapsed), values });
  };
  return {
    update(step, values = {}) {
      firstStep ??= step;
      current = { step, values };
      if (Date.now() - lastPrintedAt >= every) {
        lastPrintedAt = Date.now();
        lastPrintedStep = step;
        process.stderr.write(`${line(step, values)}\n`);
      }
    },
    stop() {
      // The final state, unless the last line printed was already that step.
      if (current && current.step !== lastPrintedStep) process.stderr.write(`${line(current.step, current.values)}\n`);
      current = undefined;
    },
  };
}
