import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { runSft } from '../sft/stage';
import { installStopHandlers } from '../train/state';
import { DATA_DIR, DEFAULT_BASE_MODEL } from '../paths';
import { lmTrainFlags, lmTrainFromFlags } from '../cli/lm-flags';
import { loadModel, disposeBundle } from '../model/checkpoint';
import { readPrompts } from '../data/read';
import { evaluatePolicy } from '../sft/eval';
import { overwriteFlag, resumeFlags } from '../cli/output-flags';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';
import { parseStageConfig } from '../cli/stage-config';
import { LMTrainConfigSchema } from '../sft/config';

export default class Sft extends BaseCommand {
  static summary = 'Supervised fine-tuning of a GPT-2 on prompt/response demonstrations (loss on responses only).';

  static description = `Fine-tunes any GPT-2 directory (the embedded tiny base by default, or a Hugging Face GPT-2) on a
demonstrations file (JSONL: {id, prompt_id, prompt, response, kind, task}). The loss is the next-token NLL of
the response tokens and the end-of-text token; prompt tokens only condition. Held-out loss is logged every
50 steps to OUT/metrics.jsonl; OUT/checkpoint allows --resume; the model goes to OUT/model. With --eval-prompts
it then reports held-out arithmetic accuracy and the entropy of the random-number answer distribution.

OUT must be new, empty or an earlier rlhf output: a new run replaces the earlier run's files there (never
appends to its metrics.jsonl) and stops if OUT/model/ holds a file rlhf did not write (--overwrite replaces
it). After a crash or Ctrl-C, OUT holds a checkpoint: continue with --resume, or discard it with --restart.`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --out runs/sft',
    '<%= config.bin %> <%= command.id %> --model gpt2 --train my-demos.jsonl --eval my-eval.jsonl --out runs/sft-gpt2 --lr 5e-5 --backend tensorflow-gpu',
  ];

  static flags = {
    ...backendFlag,
    ...lmTrainFlags({ epochs: 3, lr: '1e-3', batch: 32 , warmup: 10 }),
    model: Flags.string({ char: 'm', description: 'GPT-2 directory or hub id to start from', default: DEFAULT_BASE_MODEL }),
    train: Flags.string({ description: 'demonstrations (JSONL)', default: path.join(DATA_DIR, 'tasks', 'sft-train.jsonl') }),
    eval: Flags.string({ description: 'held-out demonstrations for the eval loss', default: path.join(DATA_DIR, 'tasks', 'sft-eval.jsonl') }),
    'eval-prompts': Flags.string({ description: 'prompts for the task evaluation (arithmetic accuracy, number entropy)', default: path.join(DATA_DIR, 'tasks', 'prompts-heldout.jsonl') }),
    out: Flags.string({ char: 'o', description: 'output directory (the model goes to OUT/model)', required: true }),
    seed: Flags.integer({ description: 'seed for data order', default: 1 }),
    ...resumeFlags,
    ...overwriteFlag,
  };

  async run() {
    const { flags } = await this.parse(Sft);
    // The output directory first: a path that cannot be written, or a directory of the user's, stops here.
    prepareOutputDir(flags.out, { command: 'sft', writes: ['metrics.jsonl', 'model', 'checkpoint', 'summary.json'], overwrite: flags.overwrite, resume: flags.resume, restart: flags.restart });
    const backend = await useBackend(this, flags.backend);
    installStopHandlers();
    const res = await runSft({ model: flags.model, train: flags.train, eval: flags.eval, outDir: flags.out, cfg: parseStageConfig(LMTrainConfigSchema, { ...lmTrainFromFlags(flags), seed: flags.seed }, 'sft'), resume: flags.resume });
    if (res.steps < (flags['max-steps'] ?? Infinity) && flags['stop-after'] !== undefined) {
      this.log(`sft: stopped after ${res.steps} steps (--stop-after); no model written`);
      return { backend: backend.chosen, ...res };
    }
    finishOutputDir(flags.out);
    const m = await loadModel(path.join(flags.out, 'model'));
    const evaluation = evaluatePolicy(m, m.params, await readPrompts(flags['eval-prompts']));
    disposeBundle(m);
    this.log(`sft: ${res.steps} steps in ${res.seconds.toFixed(0)}s, eval loss ${res.evalLoss.toFixed(4)}`);
    this.log(`held-out arithmetic accuracy ${(100 * evaluation.arithmetic.accuracy).toFixed(1)}% (${evaluation.arithmetic.correct}/${evaluation.arithmetic.prompts})`);
    this.log(`random-number entropy ${evaluation.random_number.entropy.toFixed(3)} nats = ${(100 * evaluation.random_number.entropy_fraction).toFixed(1)}% of log 100`);
    return { backend: backend.chosen, model: path.join(flags.out, 'model'), ...res, evaluation };
  }
}
