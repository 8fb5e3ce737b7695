/**
 * Progress and quiet mode (issue 14, item 10): at 80 columns a bar keeps its count, ETA and key
 * metric; without a terminal the last progress line prints once; -q silences the result lines
 * but not the --json document.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { fmtSeconds, formatProgress, progress, setQuiet } from '../src/util/progress';
import { runCli, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';

const LONG_LABEL = 'train-rm/logsigmoid logsigmoid(scale=1)'; // the reward trainer's label

describe('formatProgress', () => {
  it('fits 79 columns and keeps the count, the ETA and every metric of a real bar', () => {
    const cases: { label: string; values: Record<string, number> }[] = [
      { label: LONG_LABEL, values: { loss: 0.675412, acc: 0.821428 } },
      { label: 'ppo/beta-0.1', values: { reward: -0.0485123, kl: 0.00140623, beta: 0.298113 } },
      { label: 'sft', values: { loss: 2.10412, eval: 1.86012 } },
    ];
    for (const c of cases) {
      const line = formatProgress({ ...c, step: 1234, total: 5000, elapsed: 60, eta: 3671, width: 79, bar: true });
      assert.ok(line.length <= 79, `${line.length} columns: ${line}`);
      assert.ok(line.includes('1234/5000'), line);
      assert.ok(line.includes('ETA 1h01m'), line);
      for (const k of Object.keys(c.values)) assert.match(line, new RegExp(`${k} -?[\\d.e+-]+`), line);
      if (c.label !== 'ppo/beta-0.1') assert.match(line, /\[=+-+\]/, `a bar when there is room: ${line}`);
    }
  });

  it('at a narrow width drops the bar and shortens the label before the count, ETA or key metric', () => {
    const line = formatProgress({ label: LONG_LABEL, step: 7, total: 40, elapsed: 5, eta: 23, values: { loss: 0.6754, acc: 0.82 }, width: 40, bar: true });
    assert.ok(line.length <= 40, line);
    assert.ok(line.includes('7/40') && line.includes('ETA 23s') && line.includes('loss 0.6754'), line);
    assert.ok(line.startsWith('train-rm'), line);
  });

  it('without a width (a log file) keeps everything; at the end shows the time taken', () => {
    const line = formatProgress({ label: LONG_LABEL, step: 40, total: 40, elapsed: 125, eta: 0, values: { loss: 0.5, acc: 1 } });
    assert.equal(line, `${LONG_LABEL} 40/40 in 2m05s loss 0.5000 acc 1`);
    assert.equal(fmtSeconds(NaN), '?');
  });
});

/** Capture what progress() writes to stderr, as a terminal of `columns` or as a pipe. */
function captureStderr(tty: { columns: number } | null): { text: () => string; restore: () => void } {
  const chunks: string[] = [];
  const write = process.stderr.write;
  const desc = { isTTY: Object.getOwnPropertyDescriptor(process.stderr, 'isTTY'), columns: Object.getOwnPropertyDescriptor(process.stderr, 'columns') };
  Object.defineProperty(process.stderr, 'isTTY', { value: tty !== null, configurable: true, writable: true });
  Object.defineProperty(process.stderr, 'columns', { value: tty?.columns, configurable: true, writable: true });
  (process.stderr as { write: unknown }).write = (s: string | Uint8Array) => {
    chunks.push(String(s));
    return true;
  };
  return {
    text: () => chunks.join(''),
    restore: () => {
      process.stderr.write = write;
      for (const [k, d] of Object.entries(desc)) {
        if (d) Object.defineProperty(process.stderr, k, d);
        else delete (process.stderr as unknown as Record<string, unknown>)[k];
      }
    },
  };
}

describe('progress()', () => {
  let cap: ReturnType<typeof captureStderr> | undefined;
  afterEach(() => cap?.restore());
  after(() => setQuiet(false));

  it('without a terminal prints the last line once', () => {
    // a line at every update (lineEverySeconds 0): the final update's line is not printed again by stop()
    cap = captureStderr(null);
    let bar = progress('sample', 3, { lineEverySeconds: 0 });
    for (let s = 1; s <= 3; s++) bar.update(s, { loss: s });
    bar.stop();
    let lines = cap.text().trim().split('\n');
    cap.restore();
    assert.deepEqual(lines.map((l) => l.split(' ').slice(0, 2).join(' ')), ['sample 1/3', 'sample 2/3', 'sample 3/3']);
    // the first update prints, the next ones wait out the interval; stop() prints the last step
    cap = captureStderr(null);
    bar = progress('ppo', 5, { lineEverySeconds: 3600 });
    for (let s = 1; s <= 5; s++) bar.update(s, { reward: s });
    bar.stop();
    bar.stop();
    lines = cap.text().trim().split('\n');
    cap.restore();
    assert.deepEqual(lines.map((l) => l.split(' ').slice(0, 2).join(' ')), ['ppo 1/5', 'ppo 5/5']);
  });

  it('on an 80-column terminal every drawn bar fits and keeps count, ETA and the key metric', async () => {
    cap = captureStderr({ columns: 80 });
    const bar = progress(LONG_LABEL, 400);
    for (let s = 1; s < 400; s += 133) {
      bar.update(s, { loss: 0.6754 + s / 1000, acc: 0.8214 });
      await new Promise((r) => setTimeout(r, 250)); // past cli-progress's redraw throttle
    }
    bar.update(400, { loss: 0.5, acc: 0.9 });
    bar.stop();
    // each redraw starts with a cursor move to column 1 (ESC [ 1 G) or a new line
    const drawn = cap.text().split(/\u001b\[1G|[\r\n]/).map((l) => stripVTControlCharacters(l)).filter((l) => l.trim() !== '');
    cap.restore();
    assert.ok(drawn.length >= 4, JSON.stringify(drawn));
    for (const l of drawn) {
      assert.ok(l.length <= 79, `${l.length} columns: ${l}`);
      assert.match(l, /\d+\/400 (ETA \S+|in \S+)/, l);
    }
    const last = drawn[drawn.length - 1];
    assert.match(last, /400\/400 in \S+ loss 0\.5000 acc 0\.9000/, last);
    assert.ok(drawn.some((l) => /\[=*-+\] \d+\/400 ETA \S+ loss \d\.\d+ acc 0\.8214/.test(l)), `a bar before the end with ETA and both metrics: ${JSON.stringify(drawn)}`);
  });

  it('prints nothing when quiet', () => {
    cap = captureStderr(null);
    setQuiet(true);
    const bar = progress('sft', 2, { lineEverySeconds: 0 });
    bar.update(1, { loss: 1 });
    bar.stop();
    setQuiet(false);
    const text = cap.text();
    cap.restore();
    assert.equal(text, '');
  });
});

/** stderr without the native TensorFlow library's own log lines (RLHF_BACKEND=tensorflow). */
const ours = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l !== '' && !/^WARNING: All log messages before absl/.test(l) && !/^[IWE]\d{4} /.test(l))
    .join('\n');

describe('quiet mode and progress (CLI)', () => {
  const out = () => path.join(tmpDir('rlhf-quiet-'), 'out');
  it('-q silences the result lines; --json still prints its document', () => {
    assertBuiltCli(['src/cli', 'src/util/progress.ts', 'src/commands/generate.ts', 'src/commands/sample.ts']);
    const loud = runCli(['generate', '--prompt', 'hi', '--max-new-tokens', '4']);
    assert.equal(loud.status, 0, loud.stderr);
    assert.notEqual(loud.stdout.trim(), '', 'without -q the completion is printed');
    const q = runCli(['generate', '--prompt', 'hi', '--max-new-tokens', '4', '-q']);
    assert.equal(q.status, 0, q.stderr);
    assert.equal(q.stdout, '');
    assert.equal(ours(q.stderr), '');
    const qj = runCli(['generate', '--prompt', 'hi', '--max-new-tokens', '4', '--quiet', '--json']);
    assert.equal(qj.status, 0, qj.stderr);
    assert.equal(JSON.parse(qj.stdout).completions.length, 1);

    const s = runCli(['sample', '--out', out(), '--max-prompts', '2', '--k', '2', '--max-new-tokens', '4', '-q']);
    assert.equal(s.status, 0, s.stderr);
    assert.equal(s.stdout, '');
    assert.equal(ours(s.stderr), '');
  });

  it('without a terminal, a stage prints its last progress line once', () => {
    const r = runCli(['sample', '--out', out(), '--max-prompts', '2', '--k', '2', '--max-new-tokens', '4']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('sample 4/4'));
    assert.equal(lines.length, 1, r.stderr);
  });
});
