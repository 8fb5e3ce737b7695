/**
 * `npm run bench:compare`: rlhf against PyTorch / transformers / TRL on this machine, side by side
 * (issue 17). Not a test: nothing here asserts a time.
 *
 * Rows (rlhf's side in bench/micro.ts and bench/ppo-gpt2.ts, the reference in scripts/):
 *   train step, tiny config B16×T64 and GPT-2-124M shape B2×T64     tokens/s
 *   KV-cached sampling, tiny, B16 × 64 tokens (HF `generate`)        tokens/s
 *   decode step, 124M shape, B4, cache at position 20 and at 200     ms
 *   PPO iteration on models/tiny-sft, 64 rollouts, ≤ 16 new tokens, 4 epochs × 4 minibatches,
 *   against TRL 1.12.0's PPOTrainer, value head shared with the policy and a separate value model:
 *   seconds per iteration, and per phase (generation, scoring, optimisation)
 *
 * This machine's speed drifts by up to 2× between minutes, so every measurement is a separate
 * process and the sides alternate within each round (rlhf wasm, PyTorch, rlhf tensorflow, … with
 * the order rotated from round to round). A row's ratio is the median over rounds of the paired
 * ratio rlhf time / PyTorch time of the same round, for rlhf's best backend on that row (the one
 * with the better median). Target: ≤ 1.5.
 *
 * Other processes on the machine: before and after each measurement the whole machine's busy CPU
 * time (/proc/stat) and this process's children's CPU time (/proc/self/stat) are read; their
 * difference is what everything else used meanwhile, reported in cores. PyTorch's OpenMP threads
 * spin-wait by default, and with a core taken by someone else that makes its two-thread numbers
 * 5–13× slower (measured here); the reference therefore runs with OMP_WAIT_POLICY=PASSIVE unless
 * --torch-omp default.
 *
 * Usage: npm run bench:compare -- [--rounds 3] [--backends wasm,tensorflow] [--only micro|ppo]
 *        [--reps 3] [--ppo-iterations 3] [--python PATH] [--torch-omp passive|default]
 *        [--max-minutes 15] [--out FILE]
 * The Python side (an optional extra) is the interpreter of --python, else $RLHF_BENCH_PYTHON,
 * else ../venv-bench/bin/python beside the repository; see scripts/bench-requirements.txt.
 * Results: bench/results/compare.json (or --out). Exit status 2 when the Python side is missing (with
 * how to make it), 1 when a measurement failed (the table and the file are still written).
 * About 4–5 minutes a round on 2 busy cores (rlhf wasm is most of it: its 124M training step).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../src/paths';
import { writeJsonAtomic } from '../src/util/fs';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const intArg = (name: string, dflt: number): number => {
  const v = arg(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} ${v}: expected a positive integer`);
  return n;
};

type Side = 'wasm' | 'tensorflow' | 'torch';
type Group = 'micro' | 'ppo-shared' | 'ppo-separate';
const RLHF_SIDES = ['wasm', 'tensorflow'] as const;
type RlhfSide = (typeof RLHF_SIDES)[number];

/** One child process: what it printed (parsed) and what the machine did meanwhile. */
interface Measurement {
  round: number;
  group: Group;
  side: Side;
  ok: boolean;
  error?: string;
  wall_s: number;
  /** CPU seconds of the child (user + system). */
  cpu_s: number;
  /** CPU used by everything else on the machine during the child's run, in cores. */
  others_cores: number;
  loadavg_before: number[];
  data?: Record<string, unknown>;
}

// --- machine load: /proc/stat (all CPUs) and /proc/self/stat (our waited-for children) ---
const TICK = 100; // USER_HZ on Linux
function machineBusyTicks(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: busy = all − idle − iowait
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return total - f[3] - f[4];
}
function childrenTicks(): number {
  const s = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[13]) + Number(f[14]); // cutime, cstime (fields 16 and 17 of proc(5))
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutS: number) {
  const busy0 = machineBusyTicks();
  const child0 = childrenTicks();
  const load = os.loadavg();
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 * 2 ** 20 });
  const wall = (performance.now() - t0) / 1000;
  const cpu = (childrenTicks() - child0) / TICK;
  const others = Math.max(0, (machineBusyTicks() - busy0) / TICK - cpu) / wall;
  // The error's own line (a Node stack or a Python traceback ends elsewhere), else the last lines.
  const lines = (r.stderr ?? '').trim().split('\n');
  const errLine = [...lines].reverse().find((l) => /\b\w*(Error|Exception)\b:/.test(l));
  const failed = r.error ? String(r.error) : r.status !== 0 ? `exit ${r.status ?? r.signal}: ${errLine?.trim() ?? lines.slice(-3).join(' | ')}` : undefined;
  return { stdout: r.stdout ?? '', wall, cpu, others, load, failed };
}

// --- the rows of the table ---
interface RowDef {
  id: string;
  label: string;
  group: Group;
  /** 'rate': higher is better (time ∝ 1/value); 'time': lower is better. */
  kind: 'rate' | 'time';
  unit: string;
  get(m: Measurement): number | undefined;
}
const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const microRow = (m: Measurement, row: string, key: string) => num(((m.data?.rows as Record<string, Record<string, unknown>> | undefined)?.[row] ?? {})[key]);
const ppoPhase = (m: Measurement, key: string) => {
  const p = (m.data?.phase_seconds_after_first ?? {}) as Record<string, number | null>;
  if (key !== 'wall') return num(p[key]);
  // rlhf: the probed last iteration has no wall of its own; with only that one left, add up the phases.
  return num(p.wall) ?? (num(p.generation) !== undefined ? p.generation! + p.scoring! + p.optimization! : undefined);
};
const ROWS: RowDef[] = [
  { id: 'train-tiny', label: 'train step, tiny config, B16×T64', group: 'micro', kind: 'rate', unit: 'tok/s', get: (m) => microRow(m, 'train-tiny', 'tokens_per_second') },
  { id: 'train-124m', label: 'train step, GPT-2-124M shape, B2×T64', group: 'micro', kind: 'rate', unit: 'tok/s', get: (m) => microRow(m, 'train-124m', 'tokens_per_second') },
  { id: 'sample-tiny', label: 'KV-cached sampling, tiny, B16 × 64 tokens', group: 'micro', kind: 'rate', unit: 'tok/s', get: (m) => microRow(m, 'sample-tiny', 'tokens_per_second') },
  { id: 'decode-124m-20', label: 'decode step, 124M shape, B4, position 20', group: 'micro', kind: 'time', unit: 'ms', get: (m) => microRow(m, 'decode-124m', 'pos20_ms') },
  { id: 'decode-124m-200', label: 'decode step, 124M shape, B4, position 200', group: 'micro', kind: 'time', unit: 'ms', get: (m) => microRow(m, 'decode-124m', 'pos200_ms') },
  ...(['shared', 'separate'] as const).flatMap((v): RowDef[] => {
    const group: Group = `ppo-${v}`;
    const what = v === 'shared' ? 'value head shared with the policy' : 'separate value model';
    return [
      { id: `ppo-${v}`, label: `PPO iteration, tiny-sft, ${what}`, group, kind: 'time', unit: 's', get: (m) => ppoPhase(m, 'wall') },
      ...(['generation', 'scoring', 'optimization'] as const).map((ph): RowDef => ({ id: `ppo-${v}-${ph}`, label: `  — ${ph === 'optimization' ? 'optimisation' : ph}`, group, kind: 'time', unit: 's', get: (m) => ppoPhase(m, ph) })),
    ];
  }),
];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
/** rlhf time / PyTorch time for one row, from the two measured values. */
const ratio = (row: RowDef, rlhf: number, torch: number) => (row.kind === 'rate' ? torch / rlhf : rlhf / torch);

interface Summary {
  id: string;
  label: string;
  unit: string;
  torch: number | null;
  rlhf: Record<RlhfSide, number | null>;
  /** Median over rounds of the paired ratio, per backend. */
  ratio: Record<RlhfSide, number | null>;
  best: RlhfSide | null;
  best_ratio: number | null;
  rounds: number;
}

function summarise(ms: Measurement[], backends: RlhfSide[]): Summary[] {
  return ROWS.flatMap((row) => {
    const of = (side: Side) => ms.filter((m) => m.ok && m.group === row.group && m.side === side);
    const torch = of('torch');
    if (!torch.length && !backends.some((b) => of(b).length)) return [];
    const vals = (side: Side) => of(side).map(row.get).filter((x): x is number => x !== undefined);
    const s: Summary = { id: row.id, label: row.label, unit: row.unit, torch: null, rlhf: { wasm: null, tensorflow: null }, ratio: { wasm: null, tensorflow: null }, best: null, best_ratio: null, rounds: 0 };
    const t = vals('torch');
    s.torch = t.length ? median(t) : null;
    for (const b of backends) {
      const v = vals(b);
      s.rlhf[b] = v.length ? median(v) : null;
      // Paired within a round: the same minutes of the machine.
      const paired: number[] = [];
      for (const m of of(b)) {
        const tm = torch.find((x) => x.round === m.round);
        const [rv, tv] = [row.get(m), tm && row.get(tm)];
        if (rv !== undefined && tv !== undefined) paired.push(ratio(row, rv, tv));
      }
      s.ratio[b] = paired.length ? median(paired) : null;
    }
    const cands = backends.filter((b) => s.rlhf[b] !== null);
    if (cands.length) {
      const better = (a: RlhfSide, b: RlhfSide) => (row.kind === 'rate' ? s.rlhf[a]! >= s.rlhf[b]! : s.rlhf[a]! <= s.rlhf[b]!);
      s.best = cands.reduce((a, b) => (better(a, b) ? a : b));
      s.best_ratio = s.ratio[s.best];
      s.rounds = Math.min(vals(s.best).length, t.length);
    }
    return [s];
  });
}

function fmt(x: number | null, unit: string): string {
  if (x === null) return '—';
  if (unit === 'tok/s') return `${x >= 100 ? x.toFixed(0) : x.toFixed(1)} ${unit}`;
  if (unit === 'ms') return `${x.toFixed(1)} ${unit}`;
  return `${x.toFixed(2)} ${unit}`;
}

function printTable(sum: Summary[], backends: RlhfSide[]): string {
  const head = ['row', 'PyTorch / TRL', ...backends.map((b) => `rlhf ${b}`), 'best', 'ratio', ...backends.map((b) => `ratio ${b}`)];
  const lines = sum.map((s) => [
    s.label,
    fmt(s.torch, s.unit),
    ...backends.map((b) => fmt(s.rlhf[b], s.unit)),
    s.best ?? '—',
    s.best_ratio === null ? '—' : `${s.best_ratio.toFixed(2)}${s.best_ratio <= 1.5 ? '' : ' ✗'}`,
    ...backends.map((b) => (s.ratio[b] === null ? '—' : s.ratio[b]!.toFixed(2))),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [row(head), row(w.map((n) => '-'.repeat(n))), ...lines.map(row)].join('\n');
}

const HOW_TO_PYTHON = (py: string) =>
  [
    `bench:compare: no usable Python reference environment at ${py}.`,
    'The references (PyTorch 2.13, transformers, TRL 1.12.0) are an optional extra; make a virtual environment outside the repository:',
    '  python3 -m venv ../venv-bench',
    '  ../venv-bench/bin/pip install torch==2.13.0                      # first: the CPU wheel',
    '  ../venv-bench/bin/pip install -r scripts/bench-requirements.txt  # check pip keeps torch 2.13.0',
    'or point --python or RLHF_BENCH_PYTHON at an interpreter that has them.',
  ].join('\n');

async function main(): Promise<void> {
  const t0 = performance.now();
  const rounds = intArg('rounds', 3);
  const reps = intArg('reps', 3);
  const ppoIterations = intArg('ppo-iterations', 3);
  const maxMinutes = Number(arg('max-minutes') ?? 15);
  const only = arg('only');
  if (only !== undefined && only !== 'micro' && only !== 'ppo') throw new Error(`--only ${only}: expected micro or ppo`);
  const backends = (arg('backends') ?? 'wasm,tensorflow').split(',').filter(Boolean) as RlhfSide[];
  for (const b of backends) if (!RLHF_SIDES.includes(b)) throw new Error(`--backends: unknown backend '${b}' (known: ${RLHF_SIDES.join(', ')})`);
  const torchOmp = arg('torch-omp') ?? 'passive';
  if (torchOmp !== 'passive' && torchOmp !== 'default') throw new Error(`--torch-omp ${torchOmp}: expected passive or default`);
  const python = arg('python') ?? process.env.RLHF_BENCH_PYTHON ?? path.join(ROOT, '..', 'venv-bench', 'bin', 'python');
  const outFile = arg('out') ?? path.join(ROOT, 'bench', 'results', 'compare.json');

  // The Python side must be there, with the packages the scripts import.
  const check = fs.existsSync(python)
    ? spawnSync(python, ['-c', 'import json, torch, transformers, trl; print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__}))'], { encoding: 'utf8' })
    : undefined;
  if (!check || check.status !== 0) {
    console.error(HOW_TO_PYTHON(python));
    if (check) console.error(`(${(check.stderr ?? '').trim().split('\n').slice(-1)[0]})`);
    process.exit(2);
  }
  const pyVersions = JSON.parse(check.stdout.trim()) as Record<string, string>;
  if (!pyVersions.torch.startsWith('2.13.0') || pyVersions.trl !== '1.12.0') console.error(`bench:compare: warning: the reference runs torch ${pyVersions.torch}, trl ${pyVersions.trl}; the issue's figures are for torch 2.13.0 and trl 1.12.0`);

  const nodeEnv = { ...process.env };
  const pyEnv: NodeJS.ProcessEnv = { ...process.env, PYTHONWARNINGS: 'ignore', TOKENIZERS_PARALLELISM: 'false', ...(torchOmp === 'passive' ? { OMP_WAIT_POLICY: 'PASSIVE' } : {}) };
  const dist = path.join(ROOT, 'dist', 'bench');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhf-compare-'));
  const rm = path.join(work, 'reward-model');
  const ppoArgs = ['--policy', path.join(ROOT, 'models', 'tiny-sft'), '--reward-model', rm, '--batch', '64', '--mini-batch', '16', '--ppo-epochs', '4', '--response-length', '16'];
  const measurements: Measurement[] = [];
  const deadBackends = new Set<RlhfSide>();

  const measure = (round: number, group: Group, side: Side): void => {
    if (side !== 'torch' && deadBackends.has(side)) return;
    const out = path.join(work, `${group}-${side}-${round}.json`);
    let cmd: string;
    let args: string[];
    if (group === 'micro') {
      [cmd, args] = side === 'torch' ? [python, [path.join(ROOT, 'scripts', 'bench_torch.py'), '--reps', String(reps)]] : [process.execPath, [path.join(dist, 'micro.js'), '--backend', side, '--reps', String(reps)]];
    } else {
      const vm = group === 'ppo-shared' ? 'shared' : 'separate';
      [cmd, args] =
        side === 'torch'
          ? [python, [path.join(ROOT, 'scripts', 'bench_trl_ppo.py'), '--reward-model', rm, '--value-model', vm, '--iterations', String(ppoIterations), '--batch', '64', '--mini-batches', '4', '--ppo-epochs', '4', '--response-length', '16', '--out', out]]
          : [process.execPath, [path.join(dist, 'ppo-gpt2.js'), '--backend', side, ...ppoArgs, '--value-model', vm, '--iterations', String(ppoIterations), '--out', out]];
    }
    const r = run(cmd, args, side === 'torch' ? pyEnv : nodeEnv, 600);
    const m: Measurement = { round, group, side, ok: !r.failed, error: r.failed, wall_s: r.wall, cpu_s: r.cpu, others_cores: r.others, loadavg_before: r.load };
    if (!r.failed) {
      try {
        m.data = group === 'micro' ? JSON.parse(r.stdout.trim().split('\n').pop()!) : JSON.parse(fs.readFileSync(out, 'utf8'));
      } catch (e) {
        m.ok = false;
        m.error = `unreadable result: ${String(e)}`;
      }
    }
    measurements.push(m);
    const name = side === 'torch' ? (group === 'micro' ? 'PyTorch' : 'TRL') : `rlhf ${side}`;
    console.error(`round ${round} ${group.padEnd(12)} ${name.padEnd(15)} ${m.ok ? 'ok    ' : 'FAILED'} ${r.wall.toFixed(0).padStart(4)} s, CPU ${(r.cpu / r.wall).toFixed(2)} cores, others ${r.others.toFixed(2)} cores${m.ok ? '' : `: ${m.error}`}`);
    // A backend that cannot even start (not installed) is not retried every round.
    if (!m.ok && side !== 'torch' && round === 1 && /is not available|could not be loaded|Cannot find module/i.test(m.error ?? '')) deadBackends.add(side);
  };

  try {
    const groups: Group[] = only === 'micro' ? ['micro'] : only === 'ppo' ? ['ppo-shared', 'ppo-separate'] : ['micro', 'ppo-shared', 'ppo-separate'];
    if (groups.some((g) => g !== 'micro')) {
      // The reward model both sides score with: tiny-sft's trunk with a random head, written once.
      const r = run(process.execPath, [path.join(dist, 'ppo-gpt2.js'), '--backend', backends[0] ?? 'wasm', ...ppoArgs, '--setup-only'], nodeEnv, 300);
      if (r.failed) throw new Error(`writing the reward model failed: ${r.failed}`);
    }
    // Alternate: rlhf, reference, rlhf, …; the order rotates each round.
    const sides: Side[] = backends.length > 1 ? [backends[0], 'torch', ...backends.slice(1)] : [...backends, 'torch'];
    let lastRound = 0;
    for (let round = 1; round <= rounds; round++) {
      const rt = performance.now();
      const order = sides.map((_, i) => sides[(i + round - 1) % sides.length]);
      for (const g of groups) for (const s of order) measure(round, g, s);
      lastRound = (performance.now() - rt) / 1000;
      const elapsed = (performance.now() - t0) / 1000;
      console.error(`round ${round}: ${lastRound.toFixed(0)} s (elapsed ${(elapsed / 60).toFixed(1)} min)`);
      if (round < rounds && elapsed + lastRound > maxMinutes * 60) {
        console.error(`bench:compare: stopping after round ${round}: another round would pass --max-minutes ${maxMinutes}`);
        break;
      }
    }

    const summary = summarise(measurements, backends);
    const others = measurements.map((m) => m.others_cores);
    const load = { others_cores_median: median(others), others_cores_max: Math.max(...others), loadavg_first: measurements[0]?.loadavg_before, loadavg_last: os.loadavg() };
    // Cores each side kept busy (CPU time / wall time of its processes, start-up included): on a
    // quiet machine a two-thread engine that stays near 1 is not using its second core.
    const cores = Object.fromEntries((['torch', ...backends] as Side[]).map((side) => [side, median(measurements.filter((m) => m.ok && m.side === side).map((m) => m.cpu_s / m.wall_s))]));
    const table = printTable(summary, backends);
    console.log(`rlhf vs PyTorch ${pyVersions.torch} / transformers ${pyVersions.transformers} / TRL ${pyVersions.trl} (2 threads, OMP_WAIT_POLICY ${torchOmp === 'passive' ? 'PASSIVE' : 'default'}), ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}`);
    console.log(`ratio = rlhf time / PyTorch time (median over rounds of same-round pairs), best backend; target ≤ 1.5`);
    console.log(table);
    console.log(`cores used (median over its processes): ${Object.entries(cores).map(([k, v]) => `${k === 'torch' ? 'PyTorch/TRL' : k} ${Number.isNaN(v) ? '—' : v.toFixed(2)}`).join(', ')}`);
    console.log(`other processes used ${load.others_cores_median.toFixed(2)} cores (median over measurements; max ${load.others_cores_max.toFixed(2)}); load average ${load.loadavg_last.map((x) => x.toFixed(2)).join(' ')}`);
    if (load.others_cores_median > 0.25)
      console.log(`warning: other processes kept ${load.others_cores_median.toFixed(2)} of ${os.cpus().length} cores busy: every side ran slower than on a quiet machine, the two-thread ones (PyTorch, tensorflow) more than single-threaded wasm; rerun when the machine is quiet`);
    const failed = measurements.filter((m) => !m.ok);
    if (failed.length) console.log(`${failed.length} measurement(s) failed: ${failed.map((m) => `round ${m.round} ${m.group} ${m.side}: ${m.error}`).join('; ')}`);
    writeJsonAtomic(outFile, {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, load, cores_used: cores },
      settings: { rounds, reps, ppo_iterations: ppoIterations, backends, torch_omp_wait_policy: torchOmp, python, python_versions: pyVersions },
      summary,
      measurements: measurements.map((m) => ({ ...m, data: m.data })),
      seconds: (performance.now() - t0) / 1000,
    });
    console.log(`written ${path.relative(process.cwd(), outFile) || outFile} (${((performance.now() - t0) / 60000).toFixed(1)} min)`);
    // Results are written either way; a failed measurement still makes the run fail.
    if (failed.length) process.exitCode = 1;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench:compare: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
