import { Flags } from '@oclif/core';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { UsageError } from '../cli/errors';
import { samplingFromFlags } from '../cli/lm-flags';
import { disposeBundle, loadModel } from '../model/checkpoint';
import { checkPromptRoom, generate } from '../model/generate';
import { warn } from '../util/progress';
import { Rng } from '../util/rng';
import { DEFAULT_MODEL } from '../paths';

export default class Generate extends BaseCommand {
  static summary = 'Sample completions of a prompt from a GPT-2 model directory (KV-cached, seeded).';

  static description = `Samples --n completions of --prompt. The model is a Hugging Face GPT-2 directory (config.json,
model.safetensors, tokenizer.json), a hub id such as gpt2 when online, or by default the embedded tiny model.
Each completion stops at the end-of-text token, after --max-new-tokens, or when prompt and completion fill
the model's context (n_positions; a warning says so, and a prompt that fills it alone is an error). With --json every completion comes
with its token ids, the log-probability of each token under softmax(logits / T) and the exact entropy of that
distribution, and why it stopped (stopped_by: eos, max_new_tokens or n_positions).`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --prompt "Tell me a random integer between 0 and 99.\\n" --n 8',
    '<%= config.bin %> <%= command.id %> --model runs/quickstart/ppo/model --prompt "What is 17 + 25?\\n" --temperature 0',
    '<%= config.bin %> <%= command.id %> --model gpt2 --prompt "Hello" --max-new-tokens 20 --top-p 0.9 --json',
  ];

  static flags = {
    ...backendFlag,
    model: Flags.string({ char: 'm', description: 'model directory or hub id', default: DEFAULT_MODEL }),
    prompt: Flags.string({ char: 'p', description: 'prompt text (\\n is read as a newline)', required: true }),
    n: Flags.integer({ char: 'n', description: 'number of completions', default: 1, min: 1 }),
    temperature: Flags.string({ char: 't', description: 'sampling temperature (0 = greedy)', default: '1' }),
    'top-k': Flags.integer({ description: 'keep the k most likely tokens (0 = off)', default: 0, min: 0 }),
    'top-p': Flags.string({ description: 'nucleus sampling mass (1 = off)', default: '1' }),
    'max-new-tokens': Flags.integer({ description: 'longest completion in tokens', default: 32, min: 1 }),
    seed: Flags.integer({ description: 'random seed', default: 1 }),
  };

  async run() {
    const { flags } = await this.parse(Generate);
    const { temperature, topP, topK, maxNewTokens } = samplingFromFlags(flags);
    const backend = await useBackend(this, flags.backend);
    const model = await loadModel(flags.model);
    const tok = model.tokenizer;
    const prompt = flags.prompt.replace(/\\n/g, '\n');
    const ids = tok.encode(prompt);
    // The prompt and the completion share the context: refuse a prompt that fills it, say when it cuts completions short.
    const warnings: string[] = [];
    let short;
    try {
      short = checkPromptRoom(model.config, [{ name: '--prompt', length: ids.length }], maxNewTokens);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    for (const s of short) {
      warnings.push(`--max-new-tokens ${maxNewTokens}: the prompt is ${s.length} tokens and the model's context (n_positions) is ${model.config.n_positions}, so completions stop after at most ${s.room} new tokens`);
      warn(warnings[warnings.length - 1]);
    }
    const t0 = Date.now();
    const g = generate(model.params, model.config, Array.from({ length: flags.n }, () => ids), {
      maxNewTokens,
      temperature,
      topK,
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
      stopped_by: g.finished[i] ? 'eos' : t.length < maxNewTokens ? 'n_positions' : 'max_new_tokens',
    }));
    for (const c of completions) this.log(`${JSON.stringify(c.text)}${c.finished ? '' : c.stopped_by === 'n_positions' ? '  (no EOS: the context is full)' : '  (no EOS)'}`);
    disposeBundle(model);
    return { model: flags.model, backend: backend.chosen, prompt, prompt_ids: ids, temperature, top_k: topK, top_p: topP, max_new_tokens: maxNewTokens, seed: flags.seed, seconds, warnings, completions };
  }
}
