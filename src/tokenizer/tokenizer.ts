/**
 * Text ⇄ token ids for every model in rlhf, tiny or GPT-2 124M, through one code path: a Hugging Face
 * `tokenizer.json` (+ `tokenizer_config.json`) run by `@huggingface/tokenizers`, the tokenizer engine of
 * transformers.js (pure JS, no dependencies, offline).
 *
 * Conventions (GPT-2's): no special tokens are added by `encode`; `<|endoftext|>` ends a document and is
 * also used for padding; a literal "<|endoftext|>" in the text encodes to that id, as in Python
 * `transformers`. `decode` is the exact inverse of byte-level encoding (no "clean-up" of spaces before
 * punctuation), so decode(encode(s)) === s for any string s.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tokenizer as HfTokenizer } from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };
import { writeJsonAtomic } from '../util/fs';
import { ENDOFTEXT } from './byte-level';

// The package is ESM-typed but ships a CommonJS build (its "require" export), so a plain require keeps
// loading synchronous; the type comes from the ESM typings.
const { Tokenizer } = require('@huggingface/tokenizers') as { Tokenizer: typeof HfTokenizer };

export interface TextTokenizer {
  /** Token ids of `text`; no BOS/EOS added. */
  encode(text: string): number[];
  /** Text of `ids` (special tokens included verbatim); [] → "". Throws on an id outside the vocabulary. */
  decode(ids: readonly number[]): string;
  /** Id of the end-of-text token (`<|endoftext|>` for GPT-2: 50256). */
  readonly eosId: number;
  /** Id used to pad batches (the config's pad_token, else the EOS id, as is usual for GPT-2). */
  readonly padId: number;
  /** Number of ids (largest id + 1); the model's vocab_size must be at least this. */
  readonly vocabSize: number;
  /** The raw token of an id, in byte symbols (" the" is "Ġthe"). Throws on an unknown id. */
  idToToken(id: number): string;
  /** The id of a raw token (byte symbols), or undefined. */
  tokenToId(token: string): number | undefined;
  /** The tokenizer.json document (what saveTokenizer writes). */
  readonly json: object;
  /** tokenizer_config.json as read (or {}), kept so that saving preserves fields we do not use. */
  readonly config: Record<string, unknown>;
}

/** A special-token entry of tokenizer_config.json: a string or an AddedToken-like { content }. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Wrap a tokenizer.json document (and optional tokenizer_config.json contents) as a TextTokenizer.
 * `where` names the source in error messages.
 */
export function tokenizerFromJson(json: object, config: Record<string, unknown> = {}, where = 'tokenizer.json'): TextTokenizer {
  const doc = json as { model?: { vocab?: unknown }; added_tokens?: Array<{ id: number; content: string }> };
  if (!doc.model || typeof doc.model.vocab !== 'object' || doc.model.vocab === null) {
    throw new Error(`${where}: field "model.vocab" is missing`);
  }
  if (!Array.isArray(doc.added_tokens)) throw new Error(`${where}: field "added_tokens" is missing`);
  let engine: HfTokenizer;
  try {
    engine = new Tokenizer(json, config);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }

  let maxId = -1;
  for (const id of Object.values(doc.model.vocab as Record<string, number>)) maxId = Math.max(maxId, id);
  for (const t of doc.added_tokens) maxId = Math.max(maxId, t.id);
  const vocabSize = maxId + 1;

  const idOf = (field: string, fallback: string | undefined): number | undefined => {
    const content = tokenContent(config[field]) ?? fallback;
    if (content === undefined) return undefined;
    const id = engine.token_to_id(content);
    if (id === undefined) throw new Error(`${where}: ${field} "${content}" is not in the vocabulary`);
    return id;
  };
  const eosId = idOf('eos_token', ENDOFTEXT);
  if (eosId === undefined) throw new Error(`${where}: no eos_token`);
  const padId = idOf('pad_token', undefined) ?? eosId;

  const idToToken = (id: number): string => {
    const token = Number.isInteger(id) && id >= 0 && id < vocabSize ? engine.id_to_token(id) : undefined;
    if (token === undefined) throw new Error(`token id ${id} is not in the vocabulary (size ${vocabSize})`);
    return token;
  };

  return {
    encode: (text) => engine.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => {
      if (ids.length === 0) return '';
      for (const id of ids) idToToken(id); // the engine would print "undefined" for an unknown id
      return engine.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    },
    eosId,
    padId,
    vocabSize,
    idToToken,
    tokenToId: (token) => engine.token_to_id(token),
    json,
    config,
  };
}

/** Load `dir/tokenizer.json` and, if present, `dir/tokenizer_config.json`. */
export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const jsonFile = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(jsonFile)) {
    throw new Error(`${jsonFile} not found: a model directory needs a Hugging Face tokenizer.json`);
  }
  const json = readJson(jsonFile);
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${jsonFile}: not a JSON object`);
  const configFile = path.join(dir, 'tokenizer_config.json');
  let config: Record<string, unknown> = {};
  if (fs.existsSync(configFile)) {
    const c = readJson(configFile);
    if (!c || typeof c !== 'object' || Array.isArray(c)) throw new Error(`${configFile}: not a JSON object`);
    config = c as Record<string, unknown>;
  }
  return tokenizerFromJson(json, config, jsonFile);
}

export interface SaveTokenizerOptions {
  /** model_max_length in tokenizer_config.json (the model's n_positions); default: the config's, else 1024. */
  modelMaxLength?: number;
}

/**
 * Write tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dir`, each atomically.
 * The config is what `transformers`' GPT2Tokenizer(Fast) expects, so `AutoTokenizer.from_pretrained(dir)`
 * loads it; fields of a loaded config that we do not manage (e.g. a chat template) are kept.
 */
export function saveTokenizer(dir: string, tok: TextTokenizer, opts: SaveTokenizerOptions = {}): void {
  const eos = tok.idToToken(tok.eosId);
  const pad = tok.idToToken(tok.padId);
  const bos = tokenContent(tok.config.bos_token) ?? eos;
  const unk = tokenContent(tok.config.unk_token) ?? eos;
  const specialTokensMap = { bos_token: bos, eos_token: eos, unk_token: unk, pad_token: pad };

  const addedTokensDecoder: Record<string, object> = {};
  for (const t of (tok.json as { added_tokens: Array<Record<string, unknown> & { id: number }> }).added_tokens) {
    const { id, ...rest } = t;
    addedTokensDecoder[String(id)] = rest;
  }
  const config = {
    add_bos_token: false,
    add_prefix_space: false,
    errors: 'replace',
    tokenizer_class: 'GPT2Tokenizer',
    ...tok.config,
    ...specialTokensMap,
    added_tokens_decoder: addedTokensDecoder,
    // Decoding must invert encoding exactly; GPT-2's historical default (true) rewrites " ." as ".".
    clean_up_tokenization_spaces: false,
    model_max_length: opts.modelMaxLength ?? (typeof tok.config.model_max_length === 'number' ? tok.config.model_max_length : 1024),
  };
  writeJsonAtomic(path.join(dir, 'tokenizer.json'), tok.json);
  writeJsonAtomic(path.join(dir, 'tokenizer_config.json'), config);
  writeJsonAtomic(path.join(dir, 'special_tokens_map.json'), specialTokensMap);
}
