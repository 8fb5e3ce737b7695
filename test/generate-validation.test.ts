/**
 * Bad input to sampling (issue 14, item 8): a prompt that fills the model's context, a context
 * that cuts --max-new-tokens short, --n 0, a negative --top-k. Each is an error before any work or
 * a warning that says what happened; never a silent exit 0 with nothing or less than asked.
 * The same classes of input for `rlhf sample` and `rlhf logprobs`.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf } from '../src/backend/tf';
import { GPT2Config } from '../src/model/config';
import { initTrunk, trunkParamShapes, Params } from '../src/model/gpt2';
import { checkPromptRoom, checkSamplingOptions, generate } from '../src/model/generate';
import { samplingFromFlags } from '../src/cli/lm-flags';
import { UsageError } from '../src/cli/errors';
import { runCli, TEST_BACKEND, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';

const cfg: GPT2Config = {
  vocab_size: 61, n_positions: 16, n_embd: 16, n_layer: 1, n_head: 2,
  layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: 60, eos_token_id: 60,
};
const ids = (n: number) => Array.from({ length: n }, (_, i) => 1 + (i % 50));

describe('generate(): prompts and the context', () => {
  let params: Params;
  before(async () => {
    await selectBackend(TEST_BACKEND);
    const shapes = trunkParamShapes(cfg);
    params = Object.fromEntries(Object.entries(initTrunk(cfg, 1)).map(([k, v]) => [k, tf.tensor(v, shapes[k])]));
  });

  it('refuses a prompt that leaves no room for a new token, naming its length and n_positions', () => {
    for (const n of [16, 20]) {
      assert.throws(() => generate(params, cfg, [ids(3), ids(n)], { maxNewTokens: 4, temperature: 0, eosId: 60 }), (e: Error) => {
        assert.match(e.message, new RegExp(`prompt 1 of the batch is ${n} tokens long, but the model's context \\(n_positions\\) is 16: there is no room for a new token`));
        return true;
      });
    }
    assert.throws(() => generate(params, cfg, [[]], { maxNewTokens: 4, temperature: 0, eosId: 60 }), /prompt 0 of the batch is empty/);
  });

  it('reports the limit the context set when it cuts max_new_tokens short', () => {
    // eosId outside the vocabulary: no row can stop early, so every row runs to the limit
    const cut = generate(params, cfg, [ids(12), ids(3)], { maxNewTokens: 10, temperature: 0, eosId: 999, padId: 0 });
    assert.equal(cut.limit, 4);
    assert.deepEqual(cut.tokens.map((t) => t.length), [4, 4]);
    assert.deepEqual(cut.finished, [false, false]);
    const full = generate(params, cfg, [ids(3)], { maxNewTokens: 5, temperature: 0, eosId: 999, padId: 0 });
    assert.equal(full.limit, 5);
    assert.equal(full.tokens[0].length, 5);
  });

  it('refuses bad sampling options, naming the option', () => {
    assert.throws(() => generate(params, cfg, [ids(2)], { maxNewTokens: 4, temperature: 1, topK: -5, eosId: 60 }), /topK must be an integer ≥ 0/);
    assert.throws(() => checkSamplingOptions({ maxNewTokens: -1, temperature: 1 }), /maxNewTokens/);
    assert.throws(() => checkSamplingOptions({ maxNewTokens: 4, temperature: NaN }), /temperature/);
    assert.throws(() => checkSamplingOptions({ maxNewTokens: 4, temperature: 1, topP: 0 }), /topP must be in \(0, 1\]/);
    assert.doesNotThrow(() => checkSamplingOptions({ maxNewTokens: 4, temperature: 0, topK: 0, topP: 1 }));
  });

  it('checkPromptRoom returns the prompts that leave less room than asked', () => {
    const short = checkPromptRoom(cfg, [{ name: 'a', length: 3 }, { name: 'b', length: 13 }], 4);
    assert.deepEqual(short, [{ name: 'b', length: 13, room: 3 }]);
    assert.throws(() => checkPromptRoom(cfg, [{ name: 'prompt x', length: 16 }], 1), /^Error: prompt x is 16 tokens long/);
  });
});

describe('sampling flags', () => {
  const ok = { temperature: '0.7', 'top-p': '0.9', 'top-k': 5, 'max-new-tokens': 8 };
  it('parse to numbers', () => {
    assert.deepEqual(samplingFromFlags(ok), { temperature: 0.7, topP: 0.9, topK: 5, maxNewTokens: 8 });
  });
  it('refuse bad values with a usage error naming the flag', () => {
    const cases: [Partial<typeof ok>, RegExp][] = [
      [{ 'top-k': -5 }, /--top-k must be an integer ≥ 0/],
      [{ 'max-new-tokens': 0 }, /--max-new-tokens must be an integer ≥ 1/],
      [{ temperature: 'abc' }, /--temperature must be a number ≥ 0/],
      [{ temperature: '' }, /--temperature/],
      [{ 'top-p': '0' }, /--top-p must be a number in \(0, 1\]/],
      [{ 'top-p': '1.5' }, /--top-p/],
    ];
    for (const [bad, re] of cases)
      assert.throws(() => samplingFromFlags({ ...ok, ...bad }), (e: Error) => e instanceof UsageError && re.test(e.message), JSON.stringify(bad));
  });
});

describe('rlhf generate / sample / logprobs (CLI): bad input', () => {
  before(() => assertBuiltCli(['src/commands/generate.ts', 'src/commands/sample.ts', 'src/commands/logprobs.ts', 'src/cli', 'src/model/generate.ts', 'src/sample/stage.ts']));
  // The embedded tiny model has n_positions = 128; "the sea is blue " is 4+ tokens.
  const long = 'the sea is blue '.repeat(60);
  const mid = 'the sea is blue '.repeat(10);

  const refused = (args: string[], message: RegExp) => {
    const r = runCli(args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    // oclif wraps its messages to the terminal and marks lines with ›: compare the words
    assert.match(r.stderr.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' '), message);
    assert.equal(r.stdout, '');
  };

  it('generate refuses --n 0, a negative --top-k, --max-new-tokens 0 and a prompt that fills the context', () => {
    refused(['generate', '--prompt', 'hi', '--n', '0'], /--n[\s\S]*greater than or equal to 1/);
    refused(['generate', '--prompt', 'hi', '--top-k', '-5'], /--top-k[\s\S]*greater than or equal to 0/);
    refused(['generate', '--prompt', 'hi', '--max-new-tokens', '0'], /--max-new-tokens[\s\S]*greater than or equal to 1/);
    refused(['generate', '--prompt', long], /--prompt is \d+ tokens long, but the model's context \(n_positions\) is 128: there is no room for a new token/);
  });

  it('generate warns when the context cuts --max-new-tokens short, and says why each completion stopped', () => {
    const r = runCli(['generate', '--prompt', mid, '--max-new-tokens', '100', '--n', '3', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    const room = 128 - doc.prompt_ids.length;
    assert.ok(room < 100);
    const warning = `--max-new-tokens 100: the prompt is ${doc.prompt_ids.length} tokens and the model's context (n_positions) is 128, so completions stop after at most ${room} new tokens`;
    assert.deepEqual(doc.warnings, [warning]);
    assert.ok(r.stderr.includes(`Warning: ${warning}`), r.stderr);
    for (const c of doc.completions) {
      assert.ok(c.token_ids.length <= room);
      assert.equal(c.stopped_by, c.finished ? 'eos' : 'n_positions');
    }
    // no warning when the room suffices
    const fine = runCli(['generate', '--prompt', 'hi', '--max-new-tokens', '4', '--json']);
    assert.equal(fine.status, 0, fine.stderr);
    assert.deepEqual(JSON.parse(fine.stdout).warnings, []);
    assert.doesNotMatch(fine.stderr, /Warning/);
  });

  it('sample refuses --k 0, a negative --top-k and a bad --top-p; a too-long prompt fails before sampling', () => {
    const out = path.join(tmpDir('rlhf-sample-bad-'), 'out');
    refused(['sample', '--out', out, '--k', '0'], /--k[\s\S]*greater than or equal to 1/);
    refused(['sample', '--out', out, '--top-k', '-5'], /--top-k[\s\S]*greater than or equal to 0/);
    refused(['sample', '--out', out, '--top-p', '0'], /--top-p must be a number in \(0, 1\]/);
    const prompts = path.join(tmpDir('rlhf-sample-bad-'), 'prompts.jsonl');
    fs.writeFileSync(prompts, [{ id: 'ok-1', prompt: 'What is 1 + 2?\n', kind: 'closed', task: 'arithmetic' }, { id: 'long-2', prompt: long, kind: 'open', task: 'line' }].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const r = runCli(['sample', '--out', out, '--prompts', prompts, '--k', '2']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /prompt long-2 is \d+ tokens long, but the model's context \(n_positions\) is 128/);
    assert.ok(!fs.existsSync(path.join(out, 'samples.jsonl')));
  });

  it('logprobs refuses a text longer than the context', () => {
    refused(['logprobs', '--text', long], /--text is \d+ tokens long, but the model's context \(n_positions\) is 128/);
  });
});
