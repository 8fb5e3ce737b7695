/**
 * The headline numbers: the few values a person wants first (and `rlhf run` prints at the end):
 * SFT loss, PPO reward before → after, the final KL, the random-number entropy before → after,
 * KL(policy ‖ π*), and the collapse score of each trained utility.
 */
import { num, PpoRun, RewardDiagnostics, RunArtifacts, runLabel } from './artifacts';
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
  /** For a verdict row (key 'verdict:…'): whether the effect is shown, by the rule in its note. */
  pass?: boolean;
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
      note: `${h0 !== undefined && h1 !== undefined ? `${pct(h0 / LOG100)} → ${pct(h1 / LOG100)} of log 100; ` : ''}${top}${validNote(rn.valid_mass)}`,
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
  return [...rows, ...verdictRows(a)];
}

/** max over ranks of |mean reward − theory| for one kind, on training prompts. */
function theoryDistance(d: RewardDiagnostics, kind: 'open' | 'closed'): number | undefined {
  const m = d.train[kind]?.mean;
  const t = d.theory[kind];
  if (!m || !t || m.length !== t.length) return undefined;
  return Math.max(...m.map((x, i) => Math.abs(x - t[i])));
}

/** The thresholds the verdicts use (the issue-13 criteria; notes/FORMATS.md documents them). */
export const VERDICT = { theoryTolerance: 0.1, accuracy: 0.9, collapseRatio: 5, collapsedEntropy: 0.5, diverseEntropy: 0.9, validAnswers: 0.9, optimumFall: 5, temperatureLeft: 0.1 } as const;

/** "; valid answers 99% → 12%": how much of the policy's probability is on the answers 0–99 at all. */
function validNote(v: { reference?: number; policy?: number } | undefined): string {
  return v && v.reference !== undefined && v.policy !== undefined ? `; valid answers ${pct(v.reference)} → ${pct(v.policy)}` : '';
}

/**
 * The headline's plain-words verdicts, each 'yes' or 'no' with the numbers and the rule behind it:
 *   verdict:reward-collapse     a single-utility reward model sits on its theory curve (open and closed)
 *   verdict:prompt-aware-curves the prompt-aware model keeps open and closed prompts on their own curves
 *   verdict:prompt-aware-score  its collapse score is ≥ 5× the single-utility model's
 *   verdict:mode-collapse       the smallest-β policy's random-number entropy ≤ 50% of log 100 with
 *                               ≥ 90% of it on valid answers (and, with a sweep, the largest-β policy's ≥ 90%)
 *   verdict:reaches-optimum     KL(policy ‖ π*) of the smallest-β run fell ≥ 5× over PPO
 *   verdict:not-temperature     no temperature of the reference explains the smallest-β policy (the KL
 *                               left at the best temperature is ≥ 10% of the KL at T = 1)
 * A verdict whose artifacts are missing is left out.
 */
export function verdictRows(a: RunArtifacts): HeadlineRow[] {
  const rows: HeadlineRow[] = [];
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const V = VERDICT;
  const isPromptAware = (d: RewardDiagnostics) => /^prompt-aware/.test(d.utility);
  const single = a.rewardModels.filter((d) => !isPromptAware(d) && d.theory.open && d.theory.closed);
  const aware = a.rewardModels.find(isPromptAware);
  const dist = (d: RewardDiagnostics) => Math.max(theoryDistance(d, 'open') ?? Infinity, theoryDistance(d, 'closed') ?? Infinity);
  // The single-utility model that fits its theory best (it is the one the collapse claim is about).
  const best = single.length ? single.reduce((x, y) => (dist(y) < dist(x) ? y : x)) : undefined;
  if (best) {
    const ok = dist(best) <= V.theoryTolerance && (best.accuracy.train ?? 0) >= V.accuracy;
    rows.push({
      key: 'verdict:reward-collapse',
      label: 'Reward model collapsed onto the theory’s curve',
      value: yes(ok),
      note: `${best.utility}: max |reward − theory| by rank open ${fmt(theoryDistance(best, 'open'))}, closed ${fmt(theoryDistance(best, 'closed'))} (≤ ${V.theoryTolerance}), train accuracy ${pct(best.accuracy.train)} (≥ ${pct(V.accuracy)})`,
      after: dist(best),
      pass: ok,
    });
  }
  if (aware) {
    const o = theoryDistance(aware, 'open');
    const c = theoryDistance(aware, 'closed');
    const ok = o !== undefined && c !== undefined && o <= V.theoryTolerance && c <= V.theoryTolerance;
    rows.push({
      key: 'verdict:prompt-aware-curves',
      label: 'Prompt-aware model keeps open and closed prompts on their own curves',
      value: yes(ok),
      note: `max |reward − theory| by rank: open ${fmt(o)}, closed ${fmt(c)} (each ≤ ${V.theoryTolerance})`,
      pass: ok,
    });
    if (best && aware.collapse_score !== undefined && best.collapse_score !== undefined) {
      const ratio = aware.collapse_score / Math.max(best.collapse_score, 1e-12);
      const okScore = ratio >= V.collapseRatio;
      rows.push({
        key: 'verdict:prompt-aware-score',
        label: 'Prompt-aware reward avoids the collapse',
        value: yes(okScore),
        note: `collapse score ${fmt(aware.collapse_score)} vs ${best.utility} ${fmt(best.collapse_score)}: ${fmt(ratio)}× (≥ ${V.collapseRatio}×)`,
        before: best.collapse_score,
        after: aware.collapse_score,
        pass: okScore,
      });
    }
  }

  // PPO runs by β (the last β of each run; a fixed-β sweep has one per run), with their probes.
  const runs = a.ppo
    .map((r) => ({ run: r, beta: firstLast(r, M.klCoef).last, probe: a.probe.find((p) => p.name === r.name)?.probe }))
    .filter((x) => x.beta !== undefined)
    .sort((x, y) => x.beta! - y.beta!);
  if (runs.length) {
    const small = runs[0];
    const large = runs.length > 1 ? runs[runs.length - 1] : undefined;
    const hSmall = small.probe?.random_number?.entropy.policy;
    const hLarge = large?.probe?.random_number?.entropy.policy;
    if (hSmall !== undefined) {
      const fs = hSmall / LOG100;
      const fl = hLarge !== undefined ? hLarge / LOG100 : undefined;
      // A policy that left the answers 0–99 found something the reward model over-scores: reward
      // hacking, not a collapse of the answer distribution (the entropy is of what is left).
      const valid = small.probe?.random_number?.valid_mass?.policy;
      const ok = fs <= V.collapsedEntropy && (valid === undefined || valid >= V.validAnswers) && (large === undefined || (fl !== undefined && fl >= V.diverseEntropy));
      rows.push({
        key: 'verdict:mode-collapse',
        label: large ? 'Small β collapses the random-number answers, large β does not' : 'PPO collapsed the random-number answers',
        value: yes(ok),
        note: `entropy at β = ${fmt(small.beta)}: ${pct(fs)} of log 100 (≤ ${pct(V.collapsedEntropy)})${valid !== undefined ? `, valid answers ${pct(valid)} (≥ ${pct(V.validAnswers)})` : ''}${large ? `; at β = ${fmt(large.beta)}: ${pct(fl)} (≥ ${pct(V.diverseEntropy)})` : ''}`,
        before: fs,
        after: fl,
        pass: ok,
      });
    }
    const k = firstLast(small.run, M.probeKlToOptimum);
    if (k.first !== undefined && k.last !== undefined && k.last !== k.first) {
      const fall = k.first / Math.max(k.last, 1e-12);
      const ok = fall >= V.optimumFall;
      rows.push({
        key: 'verdict:reaches-optimum',
        label: 'The small-β policy moves toward the KL-regularised optimum π*',
        value: yes(ok),
        note: `KL(policy ‖ π*) at β = ${fmt(small.beta)}: ${fmt(k.first)} → ${fmt(k.last)}, fell ${fmt(fall)}× (≥ ${V.optimumFall}×; π* with the reward PPO optimised)`,
        before: k.first,
        after: k.last,
        pass: ok,
      });
    }
    const t = small.probe?.temperature;
    if (t?.kl_at_t_star !== undefined && t.kl_at_one !== undefined && t.t_star !== undefined) {
      const left = t.kl_at_t_star / Math.max(t.kl_at_one, 1e-12);
      const ok = left >= V.temperatureLeft;
      rows.push({
        key: 'verdict:not-temperature',
        label: 'The small-β change is not a temperature change',
        value: yes(ok),
        note: `best temperature of the reference T* = ${fmt(t.t_star)} leaves KL ${fmt(t.kl_at_t_star)} of ${fmt(t.kl_at_one)} at T = 1 (${pct(left)}; ≥ ${pct(V.temperatureLeft)} means the shape changed)`,
        before: t.kl_at_one,
        after: t.kl_at_t_star,
        pass: ok,
      });
    }
  }
  return rows;
}
