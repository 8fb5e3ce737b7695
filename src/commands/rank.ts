import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base';
import { FORMAT_NAMES, IngestReport, REJECT_REASONS, formatRejection, ingestToFile } from '../data/ingest';
import { DEFAULT_LABELER, LABELER_METHODS, LabelerMethod } from '../data/labeler';
import { Kind } from '../data/records';
import { ensureWritableFile } from '../util/output-dir';

export default class Rank extends BaseCommand {
  static description = `Turn preference data into canonical rankings (rankings.jsonl).

Inputs (--format, or auto-detected from the first valid JSON record):

- rankings: the canonical k-wise format itself (validated; ranks made dense).
- hh-rlhf: {"chosen", "rejected"} dialogues. The shared prefix up to the last "\\n\\nAssistant:" is the prompt, the two final Assistant turns are the completions.
- summarize: summarize-from-feedback comparisons {"info", "summaries": [{"text"}, ...], "choice"}.
- ratings: UltraFeedback-style {"instruction", "completions": [{"response", "overall_score"}, ...]}; equal scores become ties.
- samples: a policy's samples.jsonl, ranked per prompt by the scripted labeler (the task's ground-truth quality plus Plackett-Luce or Bradley-Terry noise at temperature T).

Every line is accounted for: blank lines are skipped and counted; every other line is accepted or rejected with a reason (invalid JSON, missing field, fewer than 2 completions, identical completions, empty text, contradictory duplicates, ...), so read = accepted + rejected. The output is written atomically; with --strict the first bad record stops the run (exit 1) and nothing is written.`;

  static examples = [
    '<%= config.bin %> rank --input hh-rlhf/harmless-base-test.jsonl --out runs/hh/rankings.jsonl',
    '<%= config.bin %> rank --input runs/demo/samples.jsonl --format samples --labeler plackett-luce --temperature 0.1 --seed 3',
    '<%= config.bin %> rank --input my-rankings.jsonl --strict --json',
  ];

  static flags = {
    input: Flags.string({ char: 'i', description: 'Input file (JSON Lines).', required: true }),
    format: Flags.string({ char: 'f', description: 'Input format.', options: ['auto', ...FORMAT_NAMES], default: 'auto' }),
    out: Flags.string({ char: 'o', description: 'Output rankings file.', default: 'rankings.jsonl' }),
    strict: Flags.boolean({ description: 'Fail (exit 1, no output) on the first rejected record.', default: false }),
    labeler: Flags.string({ description: 'Scripted labeler noise model (format samples).', options: [...LABELER_METHODS], default: DEFAULT_LABELER.method }),
    temperature: Flags.string({ description: 'Labeler noise temperature T >= 0 on the [0,1] quality scale (0 = rank by quality).', default: String(DEFAULT_LABELER.temperature) }),
    seed: Flags.integer({ description: 'Labeler seed.', default: 0 }),
    'rating-field': Flags.string({ description: 'Ratings: the field with the score (default: overall_score, rating, score, fine-grained_score).' }),
    kind: Flags.string({ description: 'Set this kind on records that have none (the prompt-aware reward needs it).', options: ['open', 'closed'] }),
    show: Flags.integer({ description: 'How many rejections to print.', default: 5 }),
  };

  async run(): Promise<IngestReport & { out: string }> {
    const { flags } = await this.parse(Rank);
    const temperature = Number(flags.temperature);
    if (!Number.isFinite(temperature) || temperature < 0) this.error(`--temperature must be a number >= 0, got ${flags.temperature}`, { exit: 2 });
    // Before reading the input: an output that cannot be written fails now, naming it.
    ensureWritableFile(flags.out, 'the rankings');
    const report = await ingestToFile(flags.input, flags.out, {
      format: flags.format as (typeof FORMAT_NAMES)[number] | 'auto',
      strict: flags.strict,
      labeler: { method: flags.labeler as LabelerMethod, temperature, seed: flags.seed },
      ratingField: flags['rating-field'],
      kind: flags.kind as Kind | undefined,
      keepRejections: Math.max(flags.show, 100),
    });

    this.log(`${report.file} (format ${report.format}): ${report.lines} lines, ${report.blank} blank, ${report.read} records read`);
    this.log(`  accepted ${report.accepted}, rejected ${report.rejected}${report.merged ? `, ${report.merged} duplicate samples merged` : ''}`);
    for (const [reason, n] of Object.entries(report.byReason).sort((a, b) => b[1] - a[1])) {
      this.log(`    ${String(n).padStart(7)}  ${reason}: ${REJECT_REASONS[reason as keyof typeof REJECT_REASONS]}`);
    }
    const shown = report.rejections.slice(0, flags.show);
    if (shown.length) {
      this.log(`  first ${shown.length} rejection(s):`);
      for (const r of shown) this.log(`    ${formatRejection(r)}`);
    }
    this.log(`wrote ${report.written} rankings to ${flags.out}`);
    if (report.written === 0) this.warn(`no rankings were written: every record of ${flags.input} was rejected`);
    return { ...report, rejections: report.rejections.slice(0, flags.show), out: flags.out };
  }
}
