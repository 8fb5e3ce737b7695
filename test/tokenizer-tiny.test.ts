/**
 * The small byte-level BPE trainer: deterministic, round-trips any text, makes 0..99 single tokens,
 * has exactly the requested vocabulary size with <|endoftext|> last, and its tokenizer.json goes through
 * the same loader as GPT-2's.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../src/util/rng';
import { numberMerges, trainByteLevelBPE } from '../src/tokenizer/train-bpe';
import { loadTokenizer, saveTokenizer, tokenizerFromJson } from '../src/tokenizer/tokenizer';

/** A few hundred short documents in the style the tiny model sees: dialogues, prose, numbers. */
function makeCorpus(seed: number, n = 400): string[] {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  const subjects = ['the cat', 'a small robot', 'my neighbour', 'the teacher', 'an old friend', 'the river'];
  const verbs = ['likes', 'sees', 'follows', 'remembers', 'paints', 'counts'];
  const objects = ['the moon', 'green apples', 'quiet mornings', 'the number line', 'long walks', 'red boats'];
  const questions = [
    'Pick a random number between 0 and 99.',
    'What is your favourite colour?',
    "Tell me something you don't know.",
    'Write one sentence about the sea.',
  ];
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    const sentence = `${pick(subjects)} ${pick(verbs)} ${pick(objects)}`;
    switch (i % 3) {
      case 0:
        docs.push(`\n\nHuman: ${pick(questions)}\n\nAssistant: ${rng.int(100)}. Also, ${sentence}.`);
        break;
      case 1:
        docs.push(`${sentence[0].toUpperCase()}${sentence.slice(1)}, and it's ${rng.int(1000)} steps away!`);
        break;
      default:
        docs.push(`Note ${i}: ${sentence}; ${sentence}? "Yes," they'll say.`);
    }
  }
  return docs;
}

describe('trainByteLevelBPE', () => {
  const corpus = makeCorpus(1);
  const opts = { vocabSize: 600, singleTokenNumbers: true };

  test('same corpus and options → the same tokenizer.json bytes', () => {
    const a = JSON.stringify(trainByteLevelBPE(corpus, opts));
    const b = JSON.stringify(trainByteLevelBPE([...corpus], { ...opts }));
    assert.equal(a, b);
    // …and the corpus matters (the test could fail).
    assert.notEqual(JSON.stringify(trainByteLevelBPE(makeCorpus(2), opts)), a);
  });

  test('vocabulary size as requested, <|endoftext|> last, every byte present', () => {
    for (const vocabSize of [520, 600]) {
      const json = trainByteLevelBPE(corpus, { ...opts, vocabSize });
      const tok = tokenizerFromJson(json);
      assert.equal(tok.vocabSize, vocabSize);
      assert.equal(Object.keys(json.model.vocab).length, vocabSize);
      assert.deepEqual([...new Set(Object.values(json.model.vocab))].sort((x, y) => x - y), [...Array(vocabSize).keys()]);
      assert.equal(tok.eosId, vocabSize - 1);
      assert.equal(tok.padId, vocabSize - 1);
      assert.equal(tok.idToToken(vocabSize - 1), '<|endoftext|>');
      assert.deepEqual(json.added_tokens.map((t) => [t.id, t.content, t.special]), [[vocabSize - 1, '<|endoftext|>', true]]);
      // Every merge makes a token that is in the vocabulary.
      for (const m of json.model.merges) assert.ok(m.replace(' ', '') in json.model.vocab, m);
    }
  });

  test('extra special tokens come before <|endoftext|>, which stays last', () => {
    const json = trainByteLevelBPE(corpus, { vocabSize: 500, specialTokens: ['<|endoftext|>', '<|pad|>'] });
    const tok = tokenizerFromJson(json);
    assert.equal(tok.idToToken(498), '<|pad|>');
    assert.equal(tok.eosId, 499);
    assert.deepEqual(tok.encode('x<|pad|>'), [tok.encode('x')[0], 498]);
  });

  test('round trip on text, including text unlike the corpus', () => {
    const tok = tokenizerFromJson(trainByteLevelBPE(corpus, opts));
    const texts = [
      ...corpus.slice(0, 20),
      'Unseen words: zephyr, quixotic, Übermaß — 日本語 🤗 👩‍👩‍👧\ttab  two spaces\r\n',
      '\n\nHuman: Pick a random number between 0 and 99.\n\nAssistant: 73',
      '',
      ' ',
      '<|endoftext|>',
    ];
    for (const text of texts) assert.equal(tok.decode(tok.encode(text)), text);
    // The corpus's common words became tokens: text compresses well below one token per byte.
    const sample = corpus.slice(0, 50).join('');
    assert.ok(tok.encode(sample).length < Buffer.byteLength(sample) / 2.5);
  });

  test('every integer 0..99 is a single token, bare and after a space', () => {
    const tok = tokenizerFromJson(trainByteLevelBPE(corpus, opts));
    const seen = new Set<number>();
    for (let n = 0; n < 100; n++) {
      for (const text of [`${n}`, ` ${n}`]) {
        const ids = tok.encode(text);
        assert.equal(ids.length, 1, `"${text}" → ${JSON.stringify(ids)}`);
        assert.equal(tok.decode(ids), text);
        seen.add(ids[0]);
      }
      // in context, too: the answer of a number prompt is one token
      const prompt = tok.encode('\n\nAssistant:');
      const ids = tok.encode(`\n\nAssistant: ${n}`);
      assert.deepEqual(ids.slice(0, prompt.length), prompt);
      assert.equal(ids.length, prompt.length + 1);
    }
    assert.equal(seen.size, 200);
    // Without the option a small vocabulary does not give this.
    const plain = tokenizerFromJson(trainByteLevelBPE(corpus, { vocabSize: 400 }));
    assert.ok([...Array(100).keys()].some((n) => plain.encode(` ${n}`).length > 1));
  });

  test('seed merges are applied first, in order, as plain text', () => {
    const json = trainByteLevelBPE(corpus, { vocabSize: 400, seedMerges: [['z', 'q'], [' ', 'zq']] });
    assert.deepEqual(json.model.merges.slice(0, 2), ['z q', 'Ġ zq']);
    assert.equal(numberMerges().length, 190);
    assert.throws(() => trainByteLevelBPE(corpus, { vocabSize: 400, seedMerges: [['ab', 'c']] }), /"ab" is not a token yet/);
  });

  test('clear errors for impossible sizes', () => {
    assert.throws(() => trainByteLevelBPE(corpus, { vocabSize: 100 }), /vocabSize must be an integer from 257/);
    assert.throws(() => trainByteLevelBPE(corpus, { vocabSize: 300, singleTokenNumbers: true }), /too small for the 190 seed merges/);
    assert.throws(() => trainByteLevelBPE(['ab ab'], { vocabSize: 100000 }), /corpus supports only \d+ tokens/);
  });

  test('saves and loads through the same files as GPT-2', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhf-tiny-tok-'));
    try {
      const tok = tokenizerFromJson(trainByteLevelBPE(corpus, opts));
      saveTokenizer(dir, tok, { modelMaxLength: 128 });
      const back = await loadTokenizer(dir);
      assert.equal(back.vocabSize, 600);
      assert.equal(back.eosId, 599);
      assert.equal(back.config.model_max_length, 128);
      const text = corpus.slice(0, 10).join('<|endoftext|>');
      assert.deepEqual(back.encode(text), tok.encode(text));
      assert.ok(back.encode(text).includes(599));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
