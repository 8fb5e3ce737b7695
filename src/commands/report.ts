/**
 * `rlhf report RUN_DIR`: one self-contained HTML page with the run's charts and headline numbers.
 * Thin: the library (src/report) reads the artifacts and renders; this prints where it went.
 */
import { Args, Flags } from '@oclif/core';
import * as fs from 'node:fs';
import { BaseCommand } from '../cli/base';
import { writeReport, WriteReportResult } from '../report';
import { info } from '../util/progress';

export default class Report extends BaseCommand {
  static summary = 'Write the HTML report of a run: charts of every stage that ran, headline numbers, the config.';

  static description = `Reads what the run directory holds and writes ONE self-contained HTML file: inline SVG charts rendered from Vega-Lite specs, inline CSS, no scripts, nothing fetched when it is opened.

Sections (each optional: a stage that has not run is shown as "not run"):
- headline: reward before → after, KL, random-number entropy, collapse scores
- sft: the SFT loss curve (sft/metrics.jsonl)
- sample: entropy, diversity, random numbers (sample/summary.json)
- train-rm: reward by rank vs theory, reward histograms by prompt kind, collapse score over training (train-rm/<utility>/diagnostics.json)
- ppo: reward, KL and its target, β, entropies, clip fraction, probe metrics, time split (ppo/metrics.jsonl; a β sweep's ppo/<name>/metrics.jsonl get one line each)
- probe: reference vs policy vs π* over the random numbers, diversity before and after (probe/probe.json or probe/<name>/probe.json)
- config: config.resolved.yaml, verbatim`;

  static examples = [
    { description: 'The report of a finished run (written to runs/quickstart/report/report.html):', command: '<%= config.bin %> <%= command.id %> runs/quickstart' },
    { description: 'Somewhere else, and the result as JSON:', command: '<%= config.bin %> <%= command.id %> runs/mode-collapse --out /tmp/mode-collapse.html --json' },
  ];

  static args = {
    run: Args.string({ description: 'The run directory.', required: true }),
  };

  static flags = {
    out: Flags.string({ char: 'o', description: 'Output HTML file (default RUN_DIR/report/report.html).' }),
  };

  async run(): Promise<WriteReportResult> {
    const { args, flags } = await this.parse(Report);
    if (!fs.existsSync(args.run)) throw new Error(`${args.run}: not a run directory (it does not exist; give the run_dir of an \`rlhf run\`)`);
    if (!fs.statSync(args.run).isDirectory()) throw new Error(`${args.run}: not a run directory (it is a file; give the run_dir of an \`rlhf run\`)`);
    // A directory that is not a run (nothing a report shows) fails in writeReport with NotARunError.
    const result = await writeReport(args.run, flags.out);
    for (const w of result.warnings) info(`warning: ${w}`);
    // The result (silenced by --json, which prints it as JSON instead).
    this.log(`report: ${result.file}`);
    this.log(`  ${result.charts.length} charts${result.missing.length ? `; not run: ${result.missing.join(', ')}` : ''}`);
    const width = Math.max(0, ...result.headline.map((h) => h.label.length));
    for (const h of result.headline) this.log(`  ${h.label.padEnd(width)}  ${h.value}`);
    return result;
  }
}
