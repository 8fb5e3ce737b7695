/**
 * The headline numbers: the few values a person wants first (and `rlhf run` prints at the end):
 * SFT loss, PPO reward before → after, the final KL, the random-number entropy before → after,
 * KL(policy ‖ π*), and the collapse score of each trained utility.
 */
import { num, PpoRun, RunArtifacts, runLabel } from './artifacts';
import { PPO_METRICS as M } from '../data/artifacts';

export interface HeadlineRow {
  /** Stable key: 'sft-loss', 'heldout-reward', 'reward', 'kl', 'number-entropy', 'kl-to-optimum', 'collapse' (+ ':' sub-run or utility). */
  key: string;
  label: string;
  /** Formatted, e.g. "0.41 → 0.73". */
  value: string;
  /** Where the number comes from, or what else to know. */
  note?: string;
  /** The raw numbers behind `value` (for --json). */
  before?: number;
  after?: number;
}

/** Three significant digits, no exponent for everyday magnitudes, "–" for a missing value. */
export function fmt(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 1);
  if (a >= 10 ** digits) return x.toFixed(0);
  return String(Number(x.toPrecision(digits)));
}

export function pct(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : `${Math.round(100 * x)}%`;
}

/** The first and the last finite value of a metric over a run's iterations. */
export function firstLast(run: PpoRun, key: string): { first?: number; last?: number } {
  let first: number | undefined;
  let last: number | undefined;
  for (const r of run.records) {
    const v = num(r[key]);
    if (v === undefined) continue;
    if (first === undefined) first = v;
    last = v;
  }
  return { first, last };
}

const LOG100 = Math.log(100);

export function headlineRows(a: RunArtifacts, klTarget?: number): HeadlineRow[] {
  const rows: HeadlineRow[] = [];
  const many = (n: number, name: string) => (n > 1 ? ` (${runLabel(name)})` : '');

  if (a.sft) {
    const losses = a.sft.points.map((p) => p.loss).filter((x): x is number => x !== undefined);
    if (losses.length) {
      rows.push({ key: 'sft-loss', label: 'SFT loss', value: `${fmt(losses[0])} → ${fmt(losses[losses.length - 1])}`, note: 'first → last step', before: losses[0], after: losses[losses.length - 1] });
    }
  }

  for (const run of a.ppo) {
    // Held-out prompts, fixed sampling seed (the probe's): the reward that is not trained on.
    const h = firstLast(run, M.probeHeldoutReward);
    const points = run.records.filter((r) => num(r[M.probeHeldoutReward]) !== undefined).length;
    if (points >= 2) {
      rows.push({
        key: `heldout-reward${run.name ? `:${run.name}` : ''}`,
        label: `Held-out reward${many(a.ppo.length, run.name)}`,
        value: `${fmt(h.first)} → ${fmt(h.last)}`,
        note: 'reward-model score on held-out prompts, before → after PPO',
        before: h.first,
        after: h.last,
      });
    }
    const r = firstLast(run, M.rewardMean);
    if (r.first !== undefined) {
      rows.push({
        key: `reward${run.name ? `:${run.name}` : ''}`,
        label: `Reward${many(a.ppo.length, run.name)}`,
        value: `${fmt(r.first)} → ${fmt(r.last)}`,
        note: 'reward-model score of the samples, first → last PPO iteration',
        before: r.first,
        after: r.last,
      });
    }
  }
  for (const run of a.ppo) {
    const k = firstLast(run, M.kl);
    if (k.last !== undefined) {
      const beta = firstLast(run, M.klCoef).last;
      rows.push({
        key: `kl${run.name ? `:${run.name}` : ''}`,
        label: `KL to reference${many(a.ppo.length, run.name)}`,
        value: fmt(k.last),
        note: `nats per response at the last iteration${klTarget !== undefined ? `; target ${fmt(klTarget)}` : ''}${beta !== undefined ? `; β = ${fmt(beta)}` : ''}`,
        after: k.last,
      });
    }
  }

  // Random-number entropy: the probe has reference and policy; without it, the sampling stage's "before".
  const probes = a.probe.filter((p) => p.probe.random_number);
  for (const p of probes) {
    const rn = p.probe.random_number!;
    const h0 = rn.entropy.reference;
    const h1 = rn.entropy.policy;
    const t0 = rn.top.reference;
    const t1 = rn.top.policy;
    const top = t0 || t1 ? `top answer ${t0 ? `${t0.answer} (${pct(t0.prob)})` : '–'} → ${t1 ? `${t1.answer} (${pct(t1.prob)})` : '–'}` : '';
    rows.push({
      key: `number-entropy${p.name ? `:${p.name}` : ''}`,
      label: `Random-number entropy${many(probes.length, p.name)}`,
      value: `${fmt(h0)} → ${fmt(h1)} nats`,
      note: `${h0 !== undefined && h1 !== undefined ? `${pct(h0 / LOG100)} → ${pct(h1 / LOG100)} of log 100; ` : ''}${top}`,
      before: h0,
      after: h1,
    });
  }
  if (probes.length === 0 && a.sample?.numbers) {
    const nb = a.sample.numbers;
    rows.push({
      key: 'number-entropy',
      label: 'Random-number entropy',
      value: `${fmt(nb.entropy)} nats → not run`,
      note: `SFT samples (${pct(nb.entropyFraction ?? (nb.entropy !== undefined ? nb.entropy / LOG100 : undefined))} of log 100); no probe after PPO`,
      before: nb.entropy,
    });
  }
  for (const p of probes) {
    const rn = p.probe.random_number!;
    if (rn.kl_policy_optimum === undefined) continue;
    rows.push({
      key: `kl-to-optimum${p.name ? `:${p.name}` : ''}`,
      label: `KL(policy ‖ π*)${many(probes.length, p.name)}`,
      value: fmt(rn.kl_policy_optimum),
      note: `reference: ${fmt(rn.kl_reference_optimum)}${rn.beta !== undefined ? `; β = ${fmt(rn.beta)}` : ''}`,
      before: rn.kl_reference_optimum,
      after: rn.kl_policy_optimum,
    });
  }

  for (const d of a.rewardModels) {
    const score = d.collapse_score ?? [...d.curves].reverse().find((c) => c.collapse_score !== undefined)?.collapse_score;
    if (score === undefined) continue;
    const acc = d.accuracy.heldout ?? d.accuracy.train;
    rows.push({
      key: `collapse:${d.utility}`,
      label: `Collapse score, ${d.utility}`,
      value: fmt(score),
      note: `open vs closed reward distributions (0 = collapsed)${acc !== undefined ? `; ${d.accuracy.heldout !== undefined ? 'held-out' : 'train'} accuracy ${pct(acc)}` : ''}`,
      after: score,
    });
  }
  return rows;
}
