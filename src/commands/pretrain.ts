import { Flags } from '@oclif/core';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { runPretrain } from '../sft/stage';
import { installStopHandlers } from '../train/state';
import * as path from 'node:path';
import { DATA_DIR } from '../paths';
import { lmTrainFlags, lmTrainFromFlags } from '../cli/lm-flags';
import { overwriteFlag, resumeFlags } from '../cli/output-flags';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';
import { parseStageConfig } from '../cli/stage-config';
import { LMTrainConfigSchema } from '../sft/config';

export default class Pretrain extends BaseCommand {
  static summary = 'Train the embedded tiny GPT-2 from scratch on the task corpus (tokenizer included).';

  static description = `Trains a byte-level BPE tokenizer (512 tokens; every integer 0–99 is one token) on the corpus and a
tiny GPT-2 (4 layers, 128 wide, 4 heads, 128 positions, ~0.9M parameters) from scratch on it, so that the
default pipeline needs no download. The result is a Hugging Face GPT-2 directory in OUT/model. The corpus is
plain text, documents separated by blank lines (rlhf data make writes data/tasks/corpus.txt).

OUT must be new, empty or an earlier rlhf output (--overwrite to use another directory); after a crash or
Ctrl-C continue with --resume, or discard the checkpoint with --restart.`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --out runs/pretrain --epochs 4',
    '<%= config.bin %> <%= command.id %> --corpus my-corpus.txt --out runs/pt --resume',
  ];

  static flags = {
    ...backendFlag,
    ...lmTrainFlags({ epochs: 4, lr: '2e-3', batch: 32 , warmup: 20 }),
    corpus: Flags.string({ description: 'plain-text corpus, documents separated by blank lines', default: path.join(DATA_DIR, 'tasks', 'corpus.txt') }),
    out: Flags.string({ char: 'o', description: 'output directory (the model goes to OUT/model)', required: true }),
    seed: Flags.integer({ description: 'seed for weights and data order', default: 1 }),
    ...resumeFlags,
    ...overwriteFlag,
  };

  async run() {
    const { flags } = await this.parse(Pretrain);
    // The output directory first: a path that cannot be written, or a directory of the user's, stops here.
    prepareOutputDir(flags.out, { command: 'pretrain', writes: ['metrics.jsonl', 'model', 'checkpoint', 'summary.json'], overwrite: flags.overwrite, resume: flags.resume, restart: flags.restart });
    const backend = await useBackend(this, flags.backend);
    installStopHandlers();
    const res = await runPretrain({ corpus: flags.corpus, outDir: flags.out, seed: flags.seed, train: parseStageConfig(LMTrainConfigSchema, { ...lmTrainFromFlags(flags), seed: flags.seed }, 'pretrain'), resume: flags.resume });
    if (flags['stop-after'] !== undefined) this.log(`pretrain: stopped after ${res.steps} steps (--stop-after); no model written`);
    else {
      finishOutputDir(flags.out);
      this.log(`pretrained ${res.parameters} parameters in ${res.seconds.toFixed(0)}s: eval loss ${res.evalLoss.toFixed(4)} → ${path.join(flags.out, 'model')}`);
    }
    return { backend: backend.chosen, model: path.join(flags.out, 'model'), ...res };
  }
}
