/**
 * Model directories in Hugging Face's GPT-2 format: config.json, model.safetensors (or a sharded
 * model.safetensors.index.json + shards) with HF's tensor names and [in, out] Conv1D layouts, and
 * the tokenizer files. Extra heads (reward `score.weight`, value `v_head.summary.*`) are extra
 * tensors in the same file; transformers ignores them when it loads a GPT2LMHeadModel, and
 * GPT2ForSequenceClassification picks up `score.weight`. rlhf's own settings live under the
 * `rlhf` key of config.json. An untied LM head (tie_word_embeddings: false) is `lm_head.weight`
 * [V, C], loaded into and saved from `params` like the trunk; with a tied head a stored
 * lm_head.weight is ignored, as transformers ties it to the embedding.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf, Tensor } from '../backend/tf';
import { GPT2Config, parseConfig, toHFConfig } from './config';
import { initTrunk, LM_HEAD, Params, paramNames, paramShapes } from './gpt2';
import { decodeSafetensors, encodeSafetensors, HostTensor } from './safetensors';
import { loadTokenizer, saveTokenizer, TextTokenizer, tokenizerFromJson } from '../tokenizer/tokenizer';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs';
import { foreignFilesInModelDir } from '../util/output-dir';
import { resolveHubModel } from './hub';

export interface ModelBundle {
  config: GPT2Config;
  /** The LM's parameters by Hugging Face name (tf tensors): the trunk, and lm_head.weight when untied. */
  params: Params;
  /** Extra heads by name, e.g. 'score.weight' [1, C]. */
  heads: Params;
  tokenizer: TextTokenizer;
  /** rlhf's own settings from config.json's `rlhf` key (e.g. the reward head's squashing). */
  rlhf: Record<string, unknown>;
  /** config.json as stored (keys other engines write: pad_token_id, OpenRLHF's value_head_prefix, mean, std); absent for a model made in memory. */
  hf?: Record<string, unknown>;
  /** Where it was loaded from. */
  source: string;
}

/**
 * Heads kept beside the trunk: `score.` (rlhf's and transformers' GPT2ForSequenceClassification
 * reward head, TRL's value models, OpenRLHF's default), `v_head.` (TRL's
 * AutoModelForCausalLMWithValueHead: v_head.summary.weight/bias, and rlhf's own value head),
 * `value_head.` (OpenRLHF before 0.5); a config.json with OpenRLHF's `value_head_prefix` adds its own.
 */
const HEAD_PREFIXES = ['score.', 'v_head.', 'value_head.'];

/** Map a stored name to ours: the original `gpt2` repo stores trunk names without `transformer.`. */
function canonicalName(name: string, heads: readonly string[]): string | null {
  if (/\.attn\.(masked_)?bias$/.test(name)) return null; // causal-mask buffers of old checkpoints
  if (name === LM_HEAD) return name; // used only when the config unties it (loadWeights)
  if (heads.some((p) => name.startsWith(p))) return name;
  if (name.startsWith('transformer.')) return name;
  return `transformer.${name}`;
}

function readTensors(dir: string, heads: readonly string[]): Record<string, HostTensor> {
  const single = path.join(dir, 'model.safetensors');
  const index = path.join(dir, 'model.safetensors.index.json');
  const out: Record<string, HostTensor> = {};
  const addFile = (file: string) => {
    const { tensors } = decodeSafetensors(fs.readFileSync(file), file);
    for (const [name, t] of Object.entries(tensors)) {
      const c = canonicalName(name, heads);
      if (c) out[c] = t;
    }
  };
  if (fs.existsSync(single)) addFile(single);
  else if (fs.existsSync(index)) {
    const idx = JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> };
    if (!idx.weight_map) throw new Error(`${index}: missing field 'weight_map'`);
    for (const shard of [...new Set(Object.values(idx.weight_map))].sort()) addFile(path.join(dir, shard));
  } else {
    const bin = fs.existsSync(path.join(dir, 'pytorch_model.bin'));
    throw new Error(
      `${dir}: no model.safetensors or model.safetensors.index.json` +
        (bin ? ' (only pytorch_model.bin, which rlhf cannot read: convert it with transformers `save_pretrained(dir, safe_serialization=True)`)' : ''),
    );
  }
  return out;
}

/** The weights and config of a model directory, without its tokenizer. */
export function loadWeights(dir: string): Omit<ModelBundle, 'tokenizer'> {
  const cfgPath = path.join(dir, 'config.json');
  if (!fs.existsSync(cfgPath)) throw new Error(`${dir}: no config.json — not a Hugging Face model directory`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`${cfgPath}: invalid JSON (${(e as Error).message})`);
  }
  const config = parseConfig(raw, cfgPath);
  const headPrefixes = typeof raw.value_head_prefix === 'string' && raw.value_head_prefix ? [...HEAD_PREFIXES, `${raw.value_head_prefix}.`] : HEAD_PREFIXES;
  const stored = readTensors(dir, headPrefixes);
  const shapes = paramShapes(config);
  const params: Params = {};
  for (const name of paramNames(config)) {
    const t = stored[name];
    if (!t && name === LM_HEAD) throw new Error(`${dir}: tensor '${LM_HEAD}' is missing from the checkpoint, and ${cfgPath} says tie_word_embeddings: false (an untied head needs its own weights)`);
    if (!t) throw new Error(`${dir}: tensor '${name}' is missing from the checkpoint`);
    if (t.shape.join() !== shapes[name].join())
      throw new Error(`${dir}: tensor '${name}' has shape [${t.shape}], config.json implies [${shapes[name]}]`);
    params[name] = tf.tensor(t.data, t.shape);
  }
  const heads: Params = {};
  for (const [name, t] of Object.entries(stored)) if (headPrefixes.some((p) => name.startsWith(p))) heads[name] = tf.tensor(t.data, t.shape);
  return { config, params, heads, rlhf: (raw.rlhf as Record<string, unknown>) ?? {}, hf: raw, source: dir };
}

/** Load a model directory (or a Hugging Face hub id, downloaded into the HF cache when online). */
export async function loadModel(dirOrId: string): Promise<ModelBundle> {
  const dir = fs.existsSync(dirOrId) ? dirOrId : await resolveHubModel(dirOrId);
  const weights = loadWeights(dir);
  try {
    return { ...weights, tokenizer: padWithinVocab(await loadTokenizer(dir), weights.config.vocab_size) };
  } catch (err) {
    disposeBundle(weights);
    throw err;
  }
}

/**
 * A tokenizer whose pad id the model has an embedding row for. TRL's PPO recipe adds a `[PAD]`
 * token past the vocabulary (id V of a V-row embedding: TRL masks pad ids to 0 before any lookup)
 * and saves it beside the policy. rlhf looks padding up too, under a mask, so such a policy pads
 * with EOS, as GPT-2 policies do; the id only fills masked positions, so nothing else changes.
 */
function padWithinVocab(tok: TextTokenizer, vocabSize: number): TextTokenizer {
  if (tok.padId < vocabSize) return tok;
  return tokenizerFromJson(tok.json, { ...tok.config, pad_token: tok.idToToken(tok.eosId) });
}

export interface SaveOptions {
  /** Split into shards of at most this many bytes (Hugging Face's sharded index format). */
  maxShardBytes?: number;
  /** Extra keys for config.json (e.g. architectures for a reward model). */
  configExtra?: Record<string, unknown>;
}

async function toHost(t: Tensor): Promise<HostTensor> {
  return { shape: t.shape.slice(), data: (await t.data()) as Float32Array };
}

/**
 * Save a model directory. Files are written into a sibling temporary directory that then replaces
 * `dir` by rename, so a crash leaves either the old directory or the new one, never a mix.
 */
export async function saveModel(dir: string, m: Omit<ModelBundle, 'source'>, opts: SaveOptions = {}): Promise<void> {
  const tensors: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(m.params)) tensors[k] = await toHost(t);
  for (const [k, t] of Object.entries(m.heads)) tensors[k] = await toHost(t);
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.tmp-`));
  try {
    const metadata = { format: 'pt' };
    if (opts.maxShardBytes) writeShards(tmp, tensors, opts.maxShardBytes, metadata);
    else writeFileAtomic(path.join(tmp, 'model.safetensors'), encodeSafetensors(tensors, metadata));
    const rlhf = Object.keys(m.rlhf).length ? { rlhf: m.rlhf } : {};
    writeJsonAtomic(path.join(tmp, 'config.json'), toHFConfig(m.config, { ...opts.configExtra, ...rlhf }));
    saveTokenizer(tmp, m.tokenizer);
    replaceDir(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

function writeShards(dir: string, tensors: Record<string, HostTensor>, maxBytes: number, metadata: Record<string, string>): void {
  const groups: Record<string, HostTensor>[] = [{}];
  let size = 0;
  for (const name of Object.keys(tensors).sort()) {
    const bytes = tensors[name].data.byteLength;
    if (size > 0 && size + bytes > maxBytes) {
      groups.push({});
      size = 0;
    }
    groups[groups.length - 1][name] = tensors[name];
    size += bytes;
  }
  const weightMap: Record<string, string> = {};
  let total = 0;
  groups.forEach((g, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(groups.length).padStart(5, '0')}.safetensors`;
    writeFileAtomic(path.join(dir, file), encodeSafetensors(g, metadata));
    for (const [name, t] of Object.entries(g)) {
      weightMap[name] = file;
      total += t.data.byteLength;
    }
  });
  writeJsonAtomic(path.join(dir, 'model.safetensors.index.json'), { metadata: { total_size: total }, weight_map: weightMap });
}

/**
 * Swap a finished temporary directory into place. The old directory is removed only when every
 * file in it is one that saveModel or saveTrainState writes: a file of the user's there (notes in
 * OUT/model/) stops the swap with an error naming it, and nothing is changed (the commands check
 * this before they compute, see util/output-dir; this is the last guard, and it keeps the new
 * files beside it as <dir>.new-<ms>). The old directory is
 * renamed to a hidden `.<name>.old-<pid>-<ms>` first, so a crash between the two renames leaves
 * nothing that looks like an output.
 */
export function replaceDir(tmp: string, dir: string): void {
  if (fs.existsSync(dir)) {
    const foreign = foreignFilesInModelDir(dir);
    if (foreign.length) {
      // Keep what was just computed where the user can find it, under a name of its own.
      const kept = `${dir}.new-${Date.now()}`;
      fs.renameSync(tmp, kept);
      throw new Error(
        `cannot replace ${dir}: it holds files rlhf did not write (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}); nothing in it was changed. ` +
          `The new files are in ${kept}.`,
      );
    }
    const old = path.join(path.dirname(dir), `.${path.basename(dir)}.old-${process.pid}-${Date.now()}`);
    fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    fs.rmSync(old, { recursive: true, force: true });
  } else {
    fs.renameSync(tmp, dir);
  }
}

/** A freshly initialised model (for pretraining from scratch). */
export function initModel(config: GPT2Config, tokenizer: TextTokenizer, seed: number): ModelBundle {
  const host = initTrunk(config, seed);
  const shapes = paramShapes(config);
  const params: Params = {};
  for (const [k, v] of Object.entries(host)) params[k] = tf.tensor(v, shapes[k]);
  return { config, params, heads: {}, tokenizer, rlhf: {}, source: '(initialised)' };
}

export function disposeBundle(m: Pick<ModelBundle, 'params' | 'heads'>): void {
  tf.dispose(Object.values(m.params));
  tf.dispose(Object.values(m.heads));
}
