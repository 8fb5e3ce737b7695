import { Flags } from '@oclif/core';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { disposeBundle, loadModel } from '../model/checkpoint';
import { textLogProbs } from '../model/score';
import { DEFAULT_MODEL } from '../paths';

export default class Logprobs extends BaseCommand {
  static summary = 'Per-token log-probabilities and entropies of a given text under a model.';

  static description = `Scores --text token by token: for every token after the first, log p(token | previous tokens) and
the exact entropy of the model's next-token distribution at that position. Use it to check a model, to compare
two checkpoints on the same text, or to compare with Python transformers (the parity checks call it).`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --text "What is 17 + 25?\\n42" --json',
    '<%= config.bin %> <%= command.id %> --model runs/quickstart/sft/model --text "Tell me a random integer between 0 and 99.\\n7"',
  ];

  static flags = {
    ...backendFlag,
    model: Flags.string({ char: 'm', description: 'model directory or hub id', default: DEFAULT_MODEL }),
    text: Flags.string({ description: 'text to score (\\n is read as a newline)', required: true }),
  };

  async run() {
    const { flags } = await this.parse(Logprobs);
    const backend = await useBackend(this, flags.backend);
    const model = await loadModel(flags.model);
    const text = flags.text.replace(/\\n/g, '\n');
    const ids = model.tokenizer.encode(text);
    if (ids.length < 2) this.error('--text must be at least two tokens long');
    const n = model.config.n_positions;
    if (ids.length > n) this.error(`--text is ${ids.length} tokens long, but the model's context (n_positions) is ${n}: shorten it to at most ${n} tokens`);
    const { logprobs, entropies } = textLogProbs(model.params, model.config, ids);
    const tokens = ids.map((id, i) => ({
      id,
      token: model.tokenizer.decode([id]),
      logprob: i === 0 ? null : logprobs[i - 1],
      entropy: i === 0 ? null : entropies[i - 1],
    }));
    for (const t of tokens) this.log(`${JSON.stringify(t.token).padEnd(16)} ${t.logprob === null ? '' : t.logprob.toFixed(4).padStart(9)} ${t.entropy === null ? '' : t.entropy.toFixed(4).padStart(8)}`);
    const total = logprobs.reduce((a, b) => a + b, 0);
    this.log(`total log-prob ${total.toFixed(4)} over ${logprobs.length} tokens`);
    disposeBundle(model);
    return { model: flags.model, backend: backend.chosen, text, tokens, total_logprob: total };
  }
}
