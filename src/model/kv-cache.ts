/**
 * The per-layer key/value cache of incremental decoding, in one of two forms:
 *
 *  - growing (every backend): k[i], v[i] are [B·H, S, D]; a step appends its rows by
 *    concatenation, which copies the whole cache (O(S) bytes per token on top of attention's
 *    O(S) reads).
 *  - in place (where the backend can: src/backend/fast-ops kvCacheMode): buffers[i] hold keys and
 *    values [B·H, capacity, D] filled up to `length`, like Hugging Face's StaticCache; a step writes
 *    only its own rows. Attention then reads either the filled rows only ('prefix', wasm) or the
 *    whole buffer with the unfilled rows masked ('masked', tensorflow).
 *
 * An in-place cache is mutated by the forward pass that extends it: the cache a step returns shares
 * its buffers with the one it was given (free the old one with disposeCache(old, new)), and it is
 * for decoding only (no gradient flows through an in-place write).
 */
import { tf, Tensor2D, Tensor3D } from '../backend/tf';
import { KvBuffer, kvCacheMode, KvCacheMode, newKvBuffer } from '../backend/fast-ops';

export interface KVCache {
  /** Growing form: keys [B·H, S, D] per layer (empty in the in-place form). */
  k: Tensor3D[];
  /** Growing form: values, the same layout as k. */
  v: Tensor3D[];
  /** In-place form: each layer's key and value buffers [B·H, capacity, D]. */
  buffers?: { k: KvBuffer; v: KvBuffer }[];
  /** [B, S] 1 for real tokens, 0 for padding, for every cached position. */
  mask: Tensor2D;
  /** Number of cached positions S. */
  length: number;
  /** Set in the in-place form: rows per head. */
  capacity?: number;
}

/** One layer's keys and values to attend over after a step, and how to read them. */
export interface LayerKV {
  k: Tensor3D;
  v: Tensor3D;
  /** In place: rows filled (S); `mode` says whether to read only those or mask the rest. */
  rows?: number;
  mode?: KvCacheMode;
  /** In place: the layer's buffers (the next cache keeps them). */
  buffers?: { k: KvBuffer; v: KvBuffer };
  /** k is stored transposed, [B·H, D, S] (KvBuffer.transposed). */
  kTransposed?: boolean;
}

/** Whether a forward pass that starts a cache of `capacity` positions (or extends `cache`) keeps it in place. */
export function inPlaceMode(cache: KVCache | undefined, T: number, capacity?: number): KvCacheMode | undefined {
  if (cache) return cache.capacity !== undefined ? kvCacheMode() : undefined;
  return capacity !== undefined && capacity > T ? kvCacheMode() : undefined;
}

/**
 * One layer's keys and values after this step's rows k, v ([B·H, T, D]). With no cache and a
 * `capacity`, an in-place cache is started when the backend keeps one.
 */
export function appendKV(cache: KVCache | undefined, layer: number, k: Tensor3D, v: Tensor3D, capacity?: number): LayerKV {
  const T = k.shape[1];
  const mode = inPlaceMode(cache, T, capacity);
  if (mode) {
    const at = cache?.length ?? 0;
    const cap = cache?.capacity ?? capacity!;
    if (at + T > cap) throw new Error(`KV cache of ${cap} positions cannot take ${T} more after ${at}`);
    const [BH, , D] = k.shape;
    const buffers = cache?.buffers?.[layer] ?? { k: newKvBuffer([BH, cap, D], 'keys'), v: newKvBuffer([BH, cap, D], 'values') };
    buffers.k.write(k, at);
    buffers.v.write(v, at);
    return { k: buffers.k.read(), v: buffers.v.read(), rows: at + T, mode, buffers, kTransposed: buffers.k.transposed };
  }
  if (cache) return { k: tf.concat([cache.k[layer], k], 1), v: tf.concat([cache.v[layer], v], 1) };
  return { k, v };
}

/** Free a cache's tensors and buffers, except those it shares with `keep` (the cache a step returned). */
export function disposeCache(cache: KVCache | undefined, keep?: KVCache): void {
  if (!cache) return;
  const kept = new Set(keep ? [...keep.k, ...keep.v, keep.mask] : []);
  tf.dispose([...cache.k, ...cache.v, cache.mask].filter((t) => !kept.has(t)));
  const keptBuffers = new Set(keep?.buffers?.flatMap((b) => [b.k, b.v]) ?? []);
  for (const b of cache.buffers ?? []) for (const x of [b.k, b.v]) if (!keptBuffers.has(x)) x.dispose();
}
