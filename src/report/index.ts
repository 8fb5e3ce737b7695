/**
 * `writeReport(runDir)`: read a run directory's artifacts, render every chart they allow to inline
 * SVG, and write one self-contained HTML page (default RUN/report/report.html, atomically).
 * Used by `rlhf report` and as the last stage of `rlhf run`.
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../util/fs';
import { ensureWritableFile } from '../util/output-dir';
import { klTarget, readRunArtifacts, RunArtifacts, runTitle } from './artifacts';
import { buildCharts, CHART_IDS, ChartId, renderSvg } from './charts';
import { headlineRows, HeadlineRow } from './headline';
import { buildSections, renderPage, RenderedChart } from './html';
import { ALGORITHM_CHART_IDS, AlgorithmChartId, algorithmSection, buildAlgorithmCharts, hasOtherAlgorithms, readAlgorithmRuns } from './algorithms';

export interface WriteReportResult {
  /** The HTML file written (absolute). */
  file: string;
  /** Ids of the charts in the report, in page order. */
  charts: ChartId[];
  /** Ids of the charts shown as "not run" (artifact or data missing). */
  missing: ChartId[];
  /** Ids of the side-by-side charts (runs with GRPO, RLOO or DPO; empty otherwise). */
  algorithmCharts: AlgorithmChartId[];
  /** The headline numbers, formatted and raw (what `rlhf run` prints at the end). */
  headline: HeadlineRow[];
  /** Artifacts that exist but could not be read. */
  warnings: string[];
}

export interface WriteReportOptions {
  /** Fixed time stamp for the page (tests, reproducible output); default now. */
  now?: Date;
}

export function defaultReportFile(runDir: string): string {
  return path.join(runDir, 'report', 'report.html');
}

/** Render charts to SVG, one at a time (vega is synchronous at heart; order keeps ids stable). */
export async function renderCharts(a: RunArtifacts): Promise<Map<ChartId, RenderedChart>> {
  const specs = buildCharts({ sft: a.sft?.points, sample: a.sample, rewardModels: a.rewardModels, ppo: a.ppo, probe: a.probe, klTarget: klTarget(a.config?.value) });
  const out = new Map<ChartId, RenderedChart>();
  for (const id of CHART_IDS) {
    const c = specs.get(id);
    if (!c) continue;
    try {
      out.set(id, { id, title: c.title, caption: c.caption, svg: await renderSvg(c.spec, `c-${id}`) });
    } catch (err) {
      // A chart that cannot be drawn (odd data) must not cost the whole report.
      a.warnings.push(`chart ${id}: could not render (${(err as Error).message})`);
    }
  }
  return out;
}

/** Thrown when the directory given as a run holds nothing a report could show. */
export class NotARunError extends Error {
  constructor(readonly dir: string) {
    super(
      `${dir} is not a run directory: it has no config.resolved.yaml and none of the artifacts a report shows ` +
        `(sft/metrics.jsonl, sample/summary.json, train-rm/<utility>/diagnostics.json, ppo/metrics.jsonl, probe/probe.json). ` +
        `Give the run_dir of an \`rlhf run\` (or a directory laid out like one); no report was written.`,
    );
  }
}

/** Did the run directory give the report anything at all? */
export function hasRunArtifacts(a: RunArtifacts): boolean {
  return !!a.config || !!a.sft || !!a.sample || a.rewardModels.length > 0 || a.ppo.length > 0 || a.probe.length > 0;
}

export async function writeReport(runDir: string, outFile?: string, opts: WriteReportOptions = {}): Promise<WriteReportResult> {
  const dir = path.resolve(runDir);
  const file = path.resolve(outFile ?? defaultReportFile(dir));
  const a = await readRunArtifacts(dir);
  // PPO, GRPO, RLOO and DPO runs side by side (report/algorithms.ts), when more than PPO ran.
  const algorithms = await readAlgorithmRuns(dir, a.warnings);
  // A directory with nothing of a run is a mistake (a typo, the wrong folder), not an empty report.
  if (!hasRunArtifacts(a) && algorithms.length === 0) throw new NotARunError(dir);
  // Before rendering: an output that cannot be written is an error naming it now.
  ensureWritableFile(file, 'the report');
  const charts = await renderCharts(a);
  const headline = headlineRows(a, klTarget(a.config?.value));
  const sections = buildSections(a, charts);
  const algorithmCharts: AlgorithmChartId[] = [];
  if (hasOtherAlgorithms(algorithms)) {
    const rendered = new Map<AlgorithmChartId, RenderedChart>();
    for (const [id, c] of buildAlgorithmCharts(algorithms)) {
      try {
        rendered.set(id, { id, title: c.title, caption: c.caption, svg: await renderSvg(c.spec, `c-${id}`) });
        algorithmCharts.push(id);
      } catch (err) {
        a.warnings.push(`chart ${id}: could not render (${(err as Error).message})`);
      }
    }
    const at = sections.findIndex((x) => x.id === 'probe');
    sections.splice(at < 0 ? sections.length : at, 0, algorithmSection(algorithms, rendered));
  }
  const html = renderPage({
    title: runTitle(a),
    runDir: dir,
    generated: opts.now ?? new Date(),
    headline,
    sections,
    config: a.config ? { file: a.config.file, text: a.config.text } : undefined,
    warnings: a.warnings,
  });
  writeFileAtomic(file, html);
  return {
    file,
    charts: CHART_IDS.filter((id) => charts.has(id)),
    missing: CHART_IDS.filter((id) => !charts.has(id)),
    algorithmCharts: ALGORITHM_CHART_IDS.filter((id) => algorithmCharts.includes(id)),
    headline,
    warnings: a.warnings,
  };
}

export { readRunArtifacts } from './artifacts';
export type { RunArtifacts } from './artifacts';
export type { HeadlineRow } from './headline';
export { CHART_IDS } from './charts';
export type { ChartId } from './charts';
