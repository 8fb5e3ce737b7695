/**
 * HTML assembly: one self-contained page (inline CSS, inline SVG, no script, no external URL), in
 * the order a person reads a run: headline numbers, then one section per stage, then the config.
 * A stage whose artifacts are missing gets a "not run" box, and so does a chart whose data are.
 */
import * as path from 'node:path';
import { DiversityViews, RunArtifacts, runLabel } from './artifacts';
import { CHART_TITLES, ChartId } from './charts';
import type { AlgorithmChartId } from './algorithms';
import { fmt, HeadlineRow, pct } from './headline';

export interface RenderedChart {
  /** A chart of CHART_IDS, or of the side-by-side section (report/algorithms.ts). */
  id: ChartId | AlgorithmChartId;
  title: string;
  caption: string;
  svg: string;
}

export type Block =
  | { kind: 'chart'; chart: RenderedChart; wide: boolean }
  | { kind: 'missing'; ids: ChartId[]; text: string }
  | { kind: 'table'; title?: string; head: string[]; rows: string[][] }
  | { kind: 'text'; html: string };

export interface Section {
  id: string;
  title: string;
  /** One sentence on what the stage does (HTML). */
  intro: string;
  blocks: Block[];
}

export interface ReportPage {
  title: string;
  runDir: string;
  generated: Date;
  headline: HeadlineRow[];
  sections: Section[];
  config?: { file: string; text: string };
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const e = escapeHtml;

/** Charts drawn half-width (two per row); the rest span the page. */
const HALF_WIDTH = new Set<ChartId>(['ppo-reward', 'ppo-kl', 'ppo-kl-coef', 'ppo-clipfrac', 'ppo-probe-entropy', 'ppo-kl-to-optimum']);

/** What each chart needs, for its "not run" box. */
const NEEDS: Record<ChartId, string> = {
  'sft-loss': 'sft/metrics.jsonl with a loss',
  'sample-numbers': 'sample/summary.json with numbers',
  'rm-reward-by-rank': 'train-rm/&lt;utility&gt;/diagnostics.json with train / heldout / theory curves',
  'rm-reward-histogram': 'train-rm/&lt;utility&gt;/diagnostics.json with rewards',
  'rm-collapse-score': 'train-rm/&lt;utility&gt;/diagnostics.json with curves[].collapse_score',
  'ppo-reward': 'env/reward_mean in ppo/metrics.jsonl',
  'ppo-kl': 'objective/kl in ppo/metrics.jsonl',
  'ppo-kl-coef': 'objective/kl_coef in ppo/metrics.jsonl',
  'ppo-entropy': 'objective/entropy or policy/entropy in ppo/metrics.jsonl',
  'ppo-clipfrac': 'policy/clipfrac in ppo/metrics.jsonl',
  'ppo-probe-entropy': 'probe/entropy_fraction in ppo/metrics.jsonl',
  'ppo-kl-to-optimum': 'probe/kl_to_optimum in ppo/metrics.jsonl',
  'ppo-time': 'time/generation, time/scoring, time/optimization in ppo/metrics.jsonl',
  'probe-numbers': 'probe/probe.json with random_number',
  'probe-diversity': 'probe/probe.json with diversity',
};

// ---------------------------------------------------------------------------------------------
// Sections

function chartBlocks(ids: readonly ChartId[], charts: ReadonlyMap<ChartId, RenderedChart>): Block[] {
  const blocks: Block[] = [];
  const missing = ids.filter((id) => !charts.has(id));
  for (const id of ids) {
    const c = charts.get(id);
    if (c) blocks.push({ kind: 'chart', chart: c, wide: !HALF_WIDTH.has(id) });
  }
  if (missing.length) {
    blocks.push({
      kind: 'missing',
      ids: missing,
      text: `Not run: ${missing.map((id) => `<b>${e(CHART_TITLES[id])}</b> (needs ${NEEDS[id]})`).join('; ')}.`,
    });
  }
  return blocks;
}

function notRun(ids: readonly ChartId[], what: string): Block {
  return { kind: 'missing', ids: [...ids], text: `Not run: this run has no ${what}.` };
}

function divRow(d: DiversityViews | undefined, view: keyof DiversityViews, metric: 'distinct' | 'ead'): string {
  if (!d) return '–';
  return d[view].map((r) => fmt(r[metric], 2)).join(' / ') || '–';
}

const SFT_CHARTS: ChartId[] = ['sft-loss'];
const SAMPLE_CHARTS: ChartId[] = ['sample-numbers'];
const RM_CHARTS: ChartId[] = ['rm-reward-by-rank', 'rm-reward-histogram', 'rm-collapse-score'];
const PPO_CHARTS: ChartId[] = ['ppo-reward', 'ppo-kl', 'ppo-kl-coef', 'ppo-clipfrac', 'ppo-probe-entropy', 'ppo-kl-to-optimum', 'ppo-entropy', 'ppo-time'];
const PROBE_CHARTS: ChartId[] = ['probe-numbers', 'probe-diversity'];

/** Every chart id, grouped as the sections show them. */
export const SECTION_CHARTS = { sft: SFT_CHARTS, sample: SAMPLE_CHARTS, rm: RM_CHARTS, ppo: PPO_CHARTS, probe: PROBE_CHARTS };

export function buildSections(a: RunArtifacts, charts: ReadonlyMap<ChartId, RenderedChart>): Section[] {
  const sections: Section[] = [];

  // 1. SFT
  sections.push({
    id: 'sft',
    title: 'Supervised fine-tuning',
    intro: 'The base model learns to answer from demonstrations; the result is the policy RL starts from and the frozen reference it is kept close to.',
    blocks: a.sft ? chartBlocks(SFT_CHARTS, charts) : [notRun(SFT_CHARTS, '<code>sft/metrics.jsonl</code>')],
  });

  // 2. Sampling
  const s = a.sample;
  const sampleBlocks: Block[] = [];
  if (s) {
    const rows: string[][] = [];
    if (s.entropy) rows.push(['output entropy, exact / sampled', `${fmt(s.entropy.exact)} / ${fmt(s.entropy.sampled)} nats per token`]);
    if (s.numbers) {
      rows.push(['random-number entropy', `${fmt(s.numbers.entropy)} nats (${pct(s.numbers.entropyFraction)} of log 100)`]);
      if (s.numbers.top !== undefined) rows.push(['top random number', `${e(s.numbers.top)} (${pct(s.numbers.topProb)})`]);
    }
    if (s.diversity) {
      rows.push(['distinct-n per input, n = 1..5', divRow(s.diversity, 'per_input', 'distinct')]);
      rows.push(['EAD per input, n = 1..5', divRow(s.diversity, 'per_input', 'ead')]);
      rows.push(['distinct-n across inputs', divRow(s.diversity, 'across_input', 'distinct')]);
      rows.push(['EAD across inputs', divRow(s.diversity, 'across_input', 'ead')]);
    }
    if (rows.length) sampleBlocks.push({ kind: 'table', head: ['', 'SFT policy'], rows });
    sampleBlocks.push(...chartBlocks(SAMPLE_CHARTS, charts));
  } else sampleBlocks.push(notRun(SAMPLE_CHARTS, '<code>sample/summary.json</code>'));
  sections.push({
    id: 'sample',
    title: 'Sampling',
    intro: 'The SFT policy answers every prompt several times; these samples are ranked to train the reward model, and their entropy and diversity are the baseline.',
    blocks: sampleBlocks,
  });

  // 3. Reward models
  const rmBlocks: Block[] = [];
  if (a.rewardModels.length) {
    rmBlocks.push({
      kind: 'table',
      head: ['utility', 'ranks n', 'collapse score, train', 'held-out', 'pairwise accuracy, train', 'held-out'],
      rows: a.rewardModels.map((d) => [
        e(d.utility),
        d.n !== undefined ? String(d.n) : '–',
        fmt(d.collapse_score),
        fmt(d.heldout_collapse_score),
        pct(d.accuracy.train),
        pct(d.accuracy.heldout),
      ]),
    });
    rmBlocks.push(...chartBlocks(RM_CHARTS, charts));
  } else rmBlocks.push(notRun(RM_CHARTS, '<code>train-rm/&lt;utility&gt;/diagnostics.json</code>'));
  sections.push({
    id: 'reward-model',
    title: 'Reward models',
    intro:
      'One reward model per utility U, trained on the rankings to the end of training. Song et al. (2023): the rewards then depend on U and the number of ranks only, not on the prompt (reward collapse); a prompt-aware U avoids it.',
    blocks: rmBlocks,
  });

  // 4. PPO
  const ppoBlocks: Block[] = [];
  if (a.ppo.length) {
    if (a.ppo.length > 1) {
      ppoBlocks.push({ kind: 'text', html: `<p class="note">${a.ppo.length} runs: ${a.ppo.map((r) => `<code>${e(runLabel(r.name))}</code>`).join(', ')} (one line each).</p>` });
    }
    ppoBlocks.push(...chartBlocks(PPO_CHARTS, charts));
  } else ppoBlocks.push(notRun(PPO_CHARTS, '<code>ppo/metrics.jsonl</code> (or <code>ppo/&lt;name&gt;/metrics.jsonl</code>)'));
  sections.push({
    id: 'ppo',
    title: 'PPO',
    intro: 'The policy is optimised against the reward model with a KL penalty β·KL(policy ‖ reference) that keeps it near the SFT model.',
    blocks: ppoBlocks,
  });

  // 5. Probe
  const probeBlocks: Block[] = [];
  if (a.probe.length) {
    const head = ['', ...a.probe.map((p) => (a.probe.length > 1 ? e(runLabel(p.name)) : 'reference → policy'))];
    const row = (label: string, f: (p: (typeof a.probe)[number]) => string): string[] => [label, ...a.probe.map(f)];
    const rows: string[][] = [
      row('random-number entropy (nats)', (p) => `${fmt(p.probe.random_number?.entropy.reference)} → ${fmt(p.probe.random_number?.entropy.policy)}`),
      row('top answer', (p) => {
        const t = p.probe.random_number?.top;
        return `${t?.reference ? `${e(t.reference.answer ?? '?')} (${pct(t.reference.prob)})` : '–'} → ${t?.policy ? `${e(t.policy.answer ?? '?')} (${pct(t.policy.prob)})` : '–'}`;
      }),
      row('KL(· ‖ π*)', (p) => `${fmt(p.probe.random_number?.kl_reference_optimum)} → ${fmt(p.probe.random_number?.kl_policy_optimum)}`),
      row('best temperature T* and KL there', (p) => `T* = ${fmt(p.probe.temperature?.t_star)}, KL ${fmt(p.probe.temperature?.kl_at_t_star)} (at T = 1: ${fmt(p.probe.temperature?.kl_at_one)})`),
      row('attractor rate', (p) => `${pct(p.probe.attractor?.reference)} → ${pct(p.probe.attractor?.policy)}`),
      row('output entropy, exact (nats / token)', (p) => `${fmt(p.probe.entropy?.before?.exact)} → ${fmt(p.probe.entropy?.after?.exact)}`),
      row('output entropy, sampled', (p) => `${fmt(p.probe.entropy?.before?.sampled)} → ${fmt(p.probe.entropy?.after?.sampled)}`),
    ];
    probeBlocks.push({ kind: 'table', head, rows });
    probeBlocks.push({
      kind: 'text',
      html:
        '<p class="note">T* is the temperature at which the reference comes closest to the policy: a KL near 0 there would mean PPO only sharpened the distribution; well above 0 means its shape changed. ' +
        'The attractor rate is how often perturbed completions, continued greedily, return to their original ending.</p>',
    });
    probeBlocks.push(...chartBlocks(PROBE_CHARTS, charts));
  } else probeBlocks.push(notRun(PROBE_CHARTS, '<code>probe/probe.json</code> (or <code>probe/&lt;name&gt;/probe.json</code>)'));
  sections.push({
    id: 'probe',
    title: 'Mode collapse',
    intro: 'Probes of the tuned policy against the reference: the exact distribution over “random” numbers, the KL-regularised optimum π*, temperature, attractors and diversity.',
    blocks: probeBlocks,
  });

  return sections;
}

// ---------------------------------------------------------------------------------------------
// Markup

const CSS = `
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f5f6f8; --card: #fff; --accent: #4e79a7; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 24px 64px; }
header { margin-bottom: 8px; }
h1 { font-size: 26px; line-height: 1.25; margin: 0 0 4px; letter-spacing: -0.01em; }
h1 .run { color: var(--accent); }
.meta { color: var(--muted); font-size: 13px; margin: 0; }
.meta code { font-size: 12.5px; }
nav { margin: 14px 0 0; font-size: 13.5px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
nav a:hover { text-decoration: underline; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px 22px; margin: 18px 0; }
h2 { font-size: 19px; margin: 0 0 4px; }
h2 .num { color: var(--muted); font-weight: normal; margin-right: 6px; }
.intro { color: var(--muted); margin: 0 0 16px; max-width: 78ch; }
h3 { font-size: 14.5px; margin: 0 0 6px; }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 22px 28px; align-items: start; }
.grid > .wide, .grid > .not-run, .grid > .block { grid-column: 1 / -1; }
figure { margin: 0; min-width: 0; }
figure .plot { overflow-x: auto; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; max-width: 90ch; }
table { border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; padding: 6px 14px 6px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12.5px; text-transform: uppercase; letter-spacing: 0.03em; }
td.value { font-variant-numeric: tabular-nums; font-weight: 600; white-space: nowrap; }
td.note { color: var(--muted); font-size: 13px; }
table.data td { font-variant-numeric: tabular-nums; }
table.data td:first-child { color: var(--muted); }
#headline table { width: 100%; }
#headline td.value { font-size: 16px; }
.not-run { border: 1px dashed #cbd5e1; background: #fafbfc; color: var(--muted); border-radius: 8px; padding: 10px 14px; font-size: 13.5px; }
.not-run b { color: var(--ink); font-weight: 600; }
.note { color: var(--muted); font-size: 13px; margin: 0; max-width: 90ch; }
.warnings { border-left: 3px solid #e15759; background: #fdf3f3; padding: 8px 14px; border-radius: 4px; font-size: 13px; }
.warnings ul { margin: 4px 0 0; padding-left: 18px; }
pre.config { background: #0f172a; color: #e2e8f0; padding: 14px 16px; border-radius: 8px; overflow: auto; max-height: 640px;
  font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; margin: 0; }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 28px; }
@media (max-width: 760px) { .grid { grid-template-columns: minmax(0, 1fr); } main { padding: 16px 10px 40px; } section { padding: 16px 14px; } }
@media print { body { background: white; } section { border: none; padding: 0; margin: 0 0 24px; } figure, table { break-inside: avoid; } }
`;

function renderBlock(b: Block): string {
  switch (b.kind) {
    case 'chart':
      return `<figure class="chart${b.wide ? ' wide' : ''}" id="chart-${b.chart.id}" data-chart="${b.chart.id}">
<h3>${e(b.chart.title)}</h3>
<div class="plot">${b.chart.svg}</div>
<figcaption>${e(b.chart.caption)}</figcaption>
</figure>`;
    case 'missing':
      return `<div class="not-run" data-missing="${b.ids.join(' ')}">${b.text}</div>`;
    case 'table':
      return `<div class="block">${b.title ? `<h3>${e(b.title)}</h3>` : ''}<table class="data"><thead><tr>${b.head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>
${b.rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n')}
</tbody></table></div>`;
    case 'text':
      return `<div class="block">${b.html}</div>`;
  }
}

function renderHeadline(rows: readonly HeadlineRow[]): string {
  if (rows.length === 0) return '<div class="not-run" data-missing="headline">No headline numbers yet: none of the stages that produce them has run.</div>';
  return `<table><tbody>
${rows.map((r) => `<tr data-key="${e(r.key)}"><td>${e(r.label)}</td><td class="value">${e(r.value)}</td><td class="note">${e(r.note ?? '')}</td></tr>`).join('\n')}
</tbody></table>`;
}

export function renderPage(p: ReportPage): string {
  const toc = [['headline', 'Headline'], ...p.sections.map((s) => [s.id, s.title]), ['config', 'Config']];
  const sections = p.sections
    .map(
      (s, i) => `<section id="${s.id}">
<h2><span class="num">${i + 1}.</span>${e(s.title)}</h2>
<p class="intro">${s.intro}</p>
<div class="grid">
${s.blocks.map(renderBlock).join('\n')}
</div>
</section>`,
    )
    .join('\n');
  const warnings = p.warnings.length
    ? `<div class="warnings"><b>Some artifacts could not be read:</b><ul>${p.warnings.map((w) => `<li>${e(w)}</li>`).join('')}</ul></div>`
    : '';
  const config = p.config
    ? `<p class="note" style="margin-bottom:10px"><code>${e(path.basename(p.config.file))}</code>, as resolved for this run.</p><pre class="config">${e(p.config.text)}</pre>`
    : '<div class="not-run" data-missing="config">Not run: this run has no <code>config.resolved.yaml</code>.</div>';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rlhf report">
<title>${e(`RLHF report: ${p.title}`)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>RLHF run report: <span class="run">${e(p.title)}</span></h1>
<p class="meta">Run directory <code>${e(p.runDir)}</code> · generated ${e(p.generated.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</p>
<nav>${toc.map(([id, t]) => `<a href="#${id}">${e(t)}</a>`).join('')}</nav>
</header>
${warnings}
<section id="headline">
<h2>Headline numbers</h2>
<p class="intro">Before → after across the run; each comes from the section below it.</p>
${renderHeadline(p.headline)}
</section>
${sections}
<section id="config">
<h2>Config</h2>
${config}
</section>
<footer>Made by <code>rlhf report</code>. Self-contained: charts are inline SVG, rendered from Vega-Lite specs when the report was written.</footer>
</main>
</body>
</html>
`;
}
