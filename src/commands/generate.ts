import { Flags } from '@oclif/core';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { disposeBundle, loadModel } from '../model/checkpoint';
import { generate } from '../model/generate';
import { Rng } from '../util/rng';
import { DEFAULT_MODEL } from '../paths';

export default class Generate extends BaseCommand {
  static summary = 'Sample completions of a prompt from a GPT-2 model directory (KV-cached, seeded).';

  static description = `Samples --n completions of --prompt. The model is a Hugging Face GPT-2 directory (config.json,
model.safetensors, tokenizer.json), a hub id such as gpt2 when online, or by default the embedded tiny model.
Each completion stops at the end-of-text token or after --max-new-tokens. With --json every completion comes
with its token ids, the log-probability of each token under softmax(logits / T) and the exact entropy of that
distribution.`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --prompt "Tell me a random integer between 0 and 99.\\n" --n 8',
    '<%= config.bin %> <%= command.id %> --model runs/quickstart/ppo/model --prompt "What is 17 + 25?\\n" --temperature 0',
    '<%= config.bin %> <%= command.id %> --model gpt2 --prompt "Hello" --max-new-tokens 20 --top-p 0.9 --json',
  ];

  static flags = {
    ...backendFlag,
    model: Flags.string({ char: 'm', description: 'model directory or hub id', default: DEFAULT_MODEL }),
    prompt: Flags.string({ char: 'p', description: 'prompt text (\\n is read as a newline)', required: true }),
    n: Flags.integer({ char: 'n', description: 'number of completions', default: 1 }),
    temperature: Flags.string({ char: 't', description: 'sampling temperature (0 = greedy)', default: '1' }),
    'top-k': Flags.integer({ description: 'keep the k most likely tokens (0 = off)', default: 0 }),
    'top-p': Flags.string({ description: 'nucleus sampling mass (1 = off)', default: '1' }),
    'max-new-tokens': Flags.integer({ description: 'longest completion in tokens', default: 32 }),
    seed: Flags.integer({ description: 'random seed', default: 1 }),
  };

  async run() {
    const { flags } = await this.parse(Generate);
    const backend = await useBackend(this, flags.backend);
    const model = await loadModel(flags.model);
    const tok = model.tokenizer;
    const prompt = flags.prompt.replace(/\\n/g, '\n');
    const temperature = Number(flags.temperature);
    const topP = Number(flags['top-p']);
    if (!Number.isFinite(temperature) || temperature < 0) this.error(`--temperature must be a number ≥ 0, got ${flags.temperature}`);
    if (!(topP > 0 && topP <= 1)) this.error(`--top-p must be in (0, 1], got ${flags['top-p']}`);
    const ids = tok.encode(prompt);
    const t0 = Date.now();
    const g = generate(model.params, model.config, Array.from({ length: flags.n }, () => ids), {
      maxNewTokens: flags['max-new-tokens'],
      temperature,
      topK: flags['top-k'],
      topP,
      eosId: tok.eosId,
      padId: tok.padId,
      rng: new Rng(flags.seed),
    });
    const seconds = (Date.now() - t0) / 1000;
    const completions = g.tokens.map((t, i) => ({
      text: tok.decode(t.filter((x) => x !== tok.eosId)),
      token_ids: t,
      logprobs: g.logprobs[i],
      entropies: g.entropies[i],
      finished: g.finished[i],
    }));
    for (const c of completions) this.log(`${JSON.stringify(c.text)}${c.finished ? '' : '  (no EOS)'}`);
    disposeBundle(model);
    return { model: flags.model, backend: backend.chosen, prompt, prompt_ids: ids, temperature, top_k: flags['top-k'], top_p: topP, seed: flags.seed, seconds, completions };
  }
}
