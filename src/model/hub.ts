/**
 * Loading by Hugging Face hub id (`--model gpt2`): files are fetched with the official
 * `@huggingface/hub` client into the standard Hugging Face cache (shared with Python), and found
 * there again without network. Offline with an empty cache, a clear error points at local
 * directories.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
const WEIGHTS = ['model.safetensors', 'model.safetensors.index.json'];

function looksLikeHubId(id: string): boolean {
  return /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(id) && !id.startsWith('.') && !id.includes('..');
}

/** The snapshot directory of a cached repo, if it has what we need. */
function cachedSnapshot(cacheDir: string, id: string, revision: string): string | undefined {
  const repoDir = path.join(cacheDir, `models--${id.replace(/\//g, '--')}`);
  const ref = path.join(repoDir, 'refs', revision);
  const commit = fs.existsSync(ref) ? fs.readFileSync(ref, 'utf8').trim() : revision;
  const snap = path.join(repoDir, 'snapshots', commit);
  if (fs.existsSync(path.join(snap, 'config.json')) && WEIGHTS.some((w) => fs.existsSync(path.join(snap, w)))) return snap;
  return undefined;
}

export async function resolveHubModel(id: string, revision = 'main'): Promise<string> {
  if (!looksLikeHubId(id)) throw new Error(`model '${id}': no such directory, and not a Hugging Face hub id`);
  const hub = await import('@huggingface/hub');
  const cacheDir = hub.getHFHubCachePath();
  const cached = cachedSnapshot(cacheDir, id, revision);
  if (cached) return cached;
  if (process.env.HF_HUB_OFFLINE === '1')
    throw new Error(`model '${id}' is not in the Hugging Face cache (${cacheDir}) and HF_HUB_OFFLINE=1; pass a local model directory instead`);
  try {
    let snapshot = '';
    for (const f of FILES) {
      const p = await hub.downloadFileToCacheDir({ repo: id, path: f, revision, cacheDir });
      snapshot = path.dirname(p);
    }
    let got = false;
    for (const w of WEIGHTS) {
      try {
        await hub.downloadFileToCacheDir({ repo: id, path: w, revision, cacheDir });
        got = true;
        break;
      } catch {
        /* try the sharded form */
      }
    }
    if (!got) throw new Error('the repo has neither model.safetensors nor model.safetensors.index.json');
    const idx = path.join(snapshot, 'model.safetensors.index.json');
    if (fs.existsSync(idx)) {
      const shards = new Set(Object.values(JSON.parse(fs.readFileSync(idx, 'utf8')).weight_map as Record<string, string>));
      for (const s of shards) await hub.downloadFileToCacheDir({ repo: id, path: s, revision, cacheDir });
    }
    return snapshot;
  } catch (err) {
    throw new Error(
      `could not fetch '${id}' from the Hugging Face Hub (${(err as Error).message}). ` +
        `Offline, pass a local model directory instead: one saved by rlhf, by transformers' save_pretrained, ` +
        `or downloaded elsewhere with \`huggingface-cli download ${id} --local-dir DIR\`.`,
    );
  }
}
