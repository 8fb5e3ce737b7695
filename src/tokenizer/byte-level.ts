/**
 * The pieces that GPT-2's byte-level BPE is made of, shared by the GPT-2 builder (gpt2-bpe.ts) and the
 * small trainer (train-bpe.ts), and the one `tokenizer.json` layout both of them emit.
 *
 * Byte-level BPE works on UTF-8 bytes, not characters, so every string can be encoded and no token is
 * ever unknown. Each of the 256 bytes is shown as one printable unicode character (GPT-2's
 * `bytes_to_unicode`): printable Latin-1 bytes stand for themselves, the others (space, control
 * characters, …) are shifted to U+0100 and up, which is why a leading space shows up as "Ġ" (U+0120).
 */

/** The end-of-text token of GPT-2; also its BOS, UNK and (by our convention) PAD token. */
export const ENDOFTEXT = '<|endoftext|>';

/**
 * GPT-2's pre-tokenizer: contractions, a run of letters, of digits or of other symbols (each with at
 * most one leading space), then whitespace. `\s+(?!\S)` leaves the last space of a run to the word that
 * follows it, so "a  b" splits as ["a", " ", " b"].
 */
export const GPT2_SPLIT_REGEX = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** byte (0..255) → its one-character stand-in, exactly GPT-2's `bytes_to_unicode()`. */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b); // '!'..'~'
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b); // '¡'..'¬'
  for (let b = 0xae; b <= 0xff; b++) printable.push(b); // '®'..'ÿ'
  const table = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  }
  return table;
})();

const UNICODE_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));

/**
 * The 256 byte symbols in GPT-2's id order (ids 0..255 of its vocabulary): ascending by code point,
 * which puts the printable bytes first ("!" = 0) and the shifted ones (U+0100…) after them.
 */
export const BYTE_ALPHABET: readonly string[] = [...BYTE_TO_UNICODE].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** Text → its UTF-8 bytes, each shown as its byte symbol ("hé" → "hÃ©", " a" → "Ġa"). */
export function toByteSymbols(text: string): string {
  let s = '';
  for (const b of utf8.encode(text)) s += BYTE_TO_UNICODE[b];
  return s;
}

/** Inverse of toByteSymbols (invalid UTF-8 becomes U+FFFD, as in Hugging Face's decoder). */
export function fromByteSymbols(symbols: string): string {
  const bytes = new Uint8Array(symbols.length);
  for (let i = 0; i < symbols.length; i++) {
    const b = UNICODE_TO_BYTE.get(symbols[i]);
    if (b === undefined) throw new Error(`"${symbols}" is not a byte-level token (character ${i})`);
    bytes[i] = b;
  }
  return utf8Decoder.decode(bytes);
}

/** GPT-2 pre-tokenization: the pieces BPE runs on, as byte symbols. */
export function preTokenize(text: string): string[] {
  return (text.match(GPT2_SPLIT_REGEX) ?? []).map(toByteSymbols);
}

/** One entry of tokenizer.json's `added_tokens`. */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The subset of the tokenizer.json schema that a byte-level BPE tokenizer uses. */
export interface ByteLevelBpeJson {
  version: '1.0';
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: null;
  pre_tokenizer: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  post_processor: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  decoder: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: string;
    end_of_word_suffix: string;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: string[];
  };
}

/**
 * Assemble a tokenizer.json in the layout of GPT-2's own (the one on the Hugging Face Hub), which both
 * `@huggingface/tokenizers` and Python `tokenizers`/`transformers` read.
 *
 * vocab: token (byte symbols) → id, including the special tokens; merges: pairs in rank order. Merges
 * are written in the "left right" string form, which every version of Python `tokenizers` reads
 * (byte-level tokens never contain a plain space, so the form is unambiguous).
 */
export function byteLevelBpeJson(vocab: Map<string, number>, merges: ReadonlyArray<readonly [string, string]>, specialTokens: string[]): ByteLevelBpeJson {
  const added: AddedTokenJson[] = specialTokens.map((content) => {
    const id = vocab.get(content);
    if (id === undefined) throw new Error(`special token ${content} is not in the vocabulary`);
    return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true };
  });
  const vocabObj: Record<string, number> = {};
  for (const [token, id] of [...vocab].sort((a, b) => a[1] - b[1])) vocabObj[token] = id;
  const mergeStrings = merges.map(([a, b]) => {
    if (a.includes(' ') || b.includes(' ')) throw new Error(`merge "${a}" + "${b}" contains a space`);
    return `${a} ${b}`;
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: vocabObj,
      merges: mergeStrings,
    },
  };
}
