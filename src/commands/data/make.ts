import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base';
import { DEFAULT_DATA_SEED, DataManifest, makeData } from '../../data/make';

export default class DataMake extends BaseCommand {
  static description = `Generate the shipped task data, deterministically from a seed.

Writes <out>/tasks/ (sft-train.jsonl, sft-eval.jsonl, prompts-train.jsonl, prompts-heldout.jsonl, and corpus.txt: the pretraining text, documents separated by a blank line), <out>/reward-collapse/ (train.rankings.jsonl, heldout.rankings.jsonl: 8 completions per prompt in a known order) and <out>/manifest.json (each file's size and sha256). The same seed gives the same bytes.

Tasks: arithmetic ("What is 17 + 25?", closed); a random number ("Tell me a random integer between 0 and 99.", open, demonstrations uniform over 0-99); a line about a topic ("Write a line about the sea.", open).`;

  static examples = ['<%= config.bin %> data make', '<%= config.bin %> data make --out /tmp/data --seed 7 --json'];

  static flags = {
    out: Flags.string({ char: 'o', description: 'Output directory.', default: 'data' }),
    seed: Flags.integer({ description: 'Seed of every generator.', default: DEFAULT_DATA_SEED }),
  };

  async run(): Promise<DataManifest> {
    const { flags } = await this.parse(DataMake);
    const manifest = makeData({ outDir: flags.out, seed: flags.seed });
    for (const f of manifest.files) this.log(`${`${flags.out}/${f.path}`.padEnd(48)} ${String(f.records).padStart(6)} records ${String(f.bytes).padStart(9)} bytes`);
    this.log(`total ${manifest.totalBytes} bytes (seed ${manifest.seed})`);
    return manifest;
  }
}
