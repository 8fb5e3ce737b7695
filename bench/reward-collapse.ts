/**
 * The reward-collapse reproduction (configs/reward-collapse.yaml) timed end to end: one reward
 * model per utility with the config's settings, and per utility
 *
 *   - seconds (training + diagnostics; the frozen-block cache included)
 *   - max_i |mean reward at rank i − theory_i| per prompt kind, train and held-out
 *   - collapse score (W₁ open vs closed) at the start, the middle and the end of training
 *   - pairwise accuracy, train and held-out
 *
 * and, for logsigmoid, the open and closed curves at several points of training (the collapse as
 * it happens). Not a test: nothing here asserts a number or a time. The results go to
 * bench/results/reward-collapse-<backend>.json as well.
 *
 * Usage: node dist/bench/reward-collapse.js [--backend wasm] [--config configs/reward-collapse.yaml]
 *        [--only linear,inverse] [--out DIR]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend, BackendChoice } from '../src/backend';
import { loadRunConfig, utilityEntries } from '../src/pipeline/config';
import { runRewardStage } from '../src/reward/stage';
import { CurvePoint } from '../src/reward/trainer';
import { setQuiet } from '../src/util/progress';
import { ROOT } from '../src/paths';
import { writeJsonAtomic } from '../src/util/fs';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

const f3 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '    —' : x.toFixed(3).padStart(5));
const curve = (v: number[] | null) => (v ? v.map((x) => x.toFixed(2)).join(' ') : '—');

/** The evaluation nearest to a fraction of training. */
function at(curves: CurvePoint[], frac: number): CurvePoint {
  const last = curves[curves.length - 1].epoch;
  return curves.reduce((best, c) => (Math.abs(c.epoch - frac * last) < Math.abs(best.epoch - frac * last) ? c : best));
}

async function main() {
  const backend = await selectBackend((arg('backend') ?? 'wasm') as BackendChoice);
  setQuiet(true);
  const configFile = arg('config') ?? path.join(ROOT, 'configs', 'reward-collapse.yaml');
  const { config } = loadRunConfig(configFile, { cwd: ROOT });
  if (config.train_rm === false) throw new Error(`${configFile}: train_rm is off`);
  const { utilities: _u, model: rmModel, ...shared } = config.train_rm;
  void _u;
  const only = arg('only')?.split(',');
  const entries = utilityEntries(config.train_rm).filter((e) => !only || only.includes(e.name));
  const outRoot = arg('out') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rlhf-bench-rc-'));
  console.log(`reward-collapse reproduction on ${backend.chosen}: ${entries.length} utilities, ${shared.epochs} epochs, train_layers ${shared.train_layers}, lr ${shared.lr} (${shared.schedule}), batch_prompts ${shared.batch_prompts}; ${os.cpus().length} CPUs`);
  console.log(`runs in ${outRoot}\n`);

  const rows: Record<string, unknown>[] = [];
  const t0 = Date.now();
  for (const e of entries) {
    const { result: r, summary: s } = await runRewardStage({
      model: (rmModel ?? config.model).replace(/^hub:/, ''),
      rankings: config.data.rankings!,
      heldout: config.data.heldout_rankings,
      outDir: path.join(outRoot, e.name),
      cfg: { ...shared, utility: e.utility, seed: config.seed },
      stage: `train-rm/${e.name}`,
    });
    const start = r.curves[0];
    const mid = at(r.curves, 0.5);
    const end = r.curves[r.curves.length - 1];
    const row = {
      utility: e.name,
      seconds: r.seconds,
      theory_distance: {
        train: { open: s.train.open?.theory_distance ?? null, closed: s.train.closed?.theory_distance ?? null },
        heldout: { open: s.heldout?.open?.theory_distance ?? null, closed: s.heldout?.closed?.theory_distance ?? null },
      },
      collapse_score: { start: start.collapse_score, middle: mid.collapse_score, end: s.train.collapse_score, heldout: s.heldout?.collapse_score ?? null },
      accuracy: { train: s.train.accuracy, heldout: s.heldout?.accuracy ?? null },
      mean_by_rank: { open: s.train.open?.mean_by_rank ?? null, closed: s.train.closed?.mean_by_rank ?? null },
      theory: r.theory,
      curves: r.curves.map((c) => ({ epoch: c.epoch, open: c.open, closed: c.closed, collapse_score: c.collapse_score })),
    };
    rows.push(row);
    console.log(`${e.name}: ${r.seconds.toFixed(1)} s`);
    console.log(`  max |mean − theory|  train open ${f3(row.theory_distance.train.open)} closed ${f3(row.theory_distance.train.closed)}   held-out open ${f3(row.theory_distance.heldout.open)} closed ${f3(row.theory_distance.heldout.closed)}`);
    console.log(`  collapse score       start ${f3(start.collapse_score)} (epoch ${start.epoch.toFixed(1)})  middle ${f3(mid.collapse_score)} (epoch ${mid.epoch.toFixed(1)})  end ${f3(end.collapse_score)} (epoch ${end.epoch.toFixed(1)})   held-out end ${f3(row.collapse_score.heldout)}`);
    console.log(`  collapse score by epoch ${r.curves.map((c) => `${c.epoch.toFixed(c.epoch % 1 ? 1 : 0)}:${f3(c.collapse_score).trim()}`).join(' ')}`);
    console.log(`  accuracy             train ${f3(s.train.accuracy)}  held-out ${f3(s.heldout?.accuracy)}`);
    console.log(`  open   ${curve(row.mean_by_rank.open)}   theory ${curve(r.theory.open)}`);
    console.log(`  closed ${curve(row.mean_by_rank.closed)}   theory ${curve(r.theory.closed)}`);
    if (e.name === 'logsigmoid') {
      console.log('  the collapse over training (mean reward by rank, open | closed, collapse score):');
      for (const frac of [0, 0.1, 0.25, 0.5, 0.75, 1]) {
        const c = frac === 0 ? start : at(r.curves, frac);
        console.log(`    epoch ${c.epoch.toFixed(1).padStart(5)}  ${curve(c.open)} | ${curve(c.closed)}   ${f3(c.collapse_score)}`);
      }
    }
    console.log('');
  }
  const total = (Date.now() - t0) / 1000;
  console.log(`total ${total.toFixed(0)} s (${(total / 60).toFixed(1)} min) for ${entries.length} reward models`);
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `reward-collapse-${backend.chosen}.json`);
  writeJsonAtomic(file, { backend: backend.chosen, cpus: os.cpus().length, date: new Date().toISOString(), total_seconds: total, settings: shared, utilities: rows });
  console.log(`wrote ${file}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
