import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { samplingFromFlags } from '../cli/lm-flags';
import { runSample } from '../sample/stage';
import { DATA_DIR, DEFAULT_MODEL } from '../paths';
import { overwriteFlag } from '../cli/output-flags';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';
import { parseStageConfig } from '../cli/stage-config';
import { SampleConfigSchema } from '../sample/config';

export default class Sample extends BaseCommand {
  static summary = 'Sample K completions per prompt and measure output entropy and diversity.';

  static description = `Writes OUT/samples.jsonl (per sample: prompt id, completion text, token ids, per-token log-probs and
entropies, whether it ended with EOS), OUT/samples.meta.json (the sampling settings) and OUT/summary.json:
mean exact per-token entropy and its sample estimate, per-input and across-input distinct-n and EAD (n = 1..5),
and the exact distribution over 0..99 for the random-number prompt with its entropy, top answer and top
probability. rlhf rank --format samples turns the samples into rankings with the scripted labeler.`;

  static examples = ['<%= config.bin %> <%= command.id %> --out runs/sample --k 8', '<%= config.bin %> <%= command.id %> --model runs/sft/model --prompts data/tasks/prompts-heldout.jsonl --out runs/sample-heldout --temperature 0.7 --json'];

  static flags = {
    ...backendFlag,
    model: Flags.string({ char: 'm', description: 'policy model directory or hub id', default: DEFAULT_MODEL }),
    prompts: Flags.string({ description: 'prompts (JSONL: {id, prompt, kind, task})', default: path.join(DATA_DIR, 'tasks', 'prompts-train.jsonl') }),
    out: Flags.string({ char: 'o', description: 'output directory', required: true }),
    k: Flags.integer({ char: 'k', description: 'completions per prompt', default: 8, min: 1 }),
    temperature: Flags.string({ char: 't', description: 'sampling temperature', default: '1' }),
    'top-k': Flags.integer({ description: 'keep the k most likely tokens (0 = off)', default: 0, min: 0 }),
    'top-p': Flags.string({ description: 'nucleus mass (1 = off)', default: '1' }),
    'max-new-tokens': Flags.integer({ description: 'longest completion', default: 24, min: 1 }),
    'batch-size': Flags.integer({ description: 'sequences generated at once', default: 64, min: 1 }),
    'max-prompts': Flags.integer({ description: 'use only the first N prompts', min: 1 }),
    seed: Flags.integer({ description: 'random seed', default: 1 }),
    ...overwriteFlag,
  };

  async run() {
    const { flags } = await this.parse(Sample);
    const sampling = samplingFromFlags(flags);
    // Before sampling: an output that cannot be written fails now, not after all the compute.
    prepareOutputDir(flags.out, { command: 'sample', writes: ['samples.jsonl', 'samples.meta.json', 'summary.json', 'metrics.jsonl'], overwrite: flags.overwrite });
    const backend = await useBackend(this, flags.backend);
    const { meta, summary } = await runSample({
      model: flags.model,
      prompts: flags.prompts,
      outDir: flags.out,
      seed: flags.seed,
      cfg: parseStageConfig(SampleConfigSchema, { k: flags.k, temperature: sampling.temperature, top_k: sampling.topK, top_p: sampling.topP, max_new_tokens: sampling.maxNewTokens, batch_size: flags['batch-size'], max_prompts: flags['max-prompts'] }, 'sample'),
    });
    finishOutputDir(flags.out);
    this.log(`${meta.count} samples (${meta.finished} ended with EOS) in ${(meta.seconds as number).toFixed(1)}s → ${path.join(flags.out, 'samples.jsonl')}`);
    this.log(`per-token entropy: exact ${summary.entropy.exact.toFixed(3)}, sampled ${summary.entropy.sampled.toFixed(3)} nats`);
    this.log(`diversity distinct-2: per-input ${summary.diversity.per_input[1].distinct.toFixed(3)}, across-input ${summary.diversity.across_input[1].distinct.toFixed(3)}`);
    this.log(`random number: entropy ${summary.numbers.entropy.toFixed(3)} (${(100 * summary.numbers.entropyFraction).toFixed(1)}% of log 100), top ${summary.numbers.top} p=${summary.numbers.topProb.toFixed(3)}`);
    return { backend: backend.chosen, out: flags.out, meta, summary };
  }
}
