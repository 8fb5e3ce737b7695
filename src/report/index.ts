/**
 * `writeReport(runDir)`: read a run directory's artifacts, render every chart they allow to inline
 * SVG, and write one self-contained HTML page (default RUN/report/report.html, atomically).
 * Used by `rlhf report` and as the last stage of `rlhf run`.
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../util/fs';
import { klTarget, readRunArtifacts, RunArtifacts, runTitle } from './artifacts';
import { buildCharts, CHART_IDS, ChartId, renderSvg } from './charts';
import { headlineRows, HeadlineRow } from './headline';
import { buildSections, renderPage, RenderedChart } from './html';

export interface WriteReportResult {
  /** The HTML file written (absolute). */
  file: string;
  /** Ids of the charts in the report, in page order. */
  charts: ChartId[];
  /** Ids of the charts shown as "not run" (artifact or data missing). */
  missing: ChartId[];
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

export async function writeReport(runDir: string, outFile?: string, opts: WriteReportOptions = {}): Promise<WriteReportResult> {
  const dir = path.resolve(runDir);
  const file = path.resolve(outFile ?? defaultReportFile(dir));
  const a = await readRunArtifacts(dir);
  const charts = await renderCharts(a);
  const headline = headlineRows(a, klTarget(a.config?.value));
  const html = renderPage({
    title: runTitle(a),
    runDir: dir,
    generated: opts.now ?? new Date(),
    headline,
    sections: buildSections(a, charts),
    config: a.config ? { file: a.config.file, text: a.config.text } : undefined,
    warnings: a.warnings,
  });
  writeFileAtomic(file, html);
  return {
    file,
    charts: CHART_IDS.filter((id) => charts.has(id)),
    missing: CHART_IDS.filter((id) => !charts.has(id)),
    headline,
    warnings: a.warnings,
  };
}

export { readRunArtifacts } from './artifacts';
export type { RunArtifacts } from './artifacts';
export type { HeadlineRow } from './headline';
export { CHART_IDS } from './charts';
export type { ChartId } from './charts';
