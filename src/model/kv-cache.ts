/**
 * The per-layer key/value cache of incremental decoding, in one of two forms:
 *
 *  - growing (every backend): k[i], v[i] are [B·H, S, D]; a step appends its rows by
 *    concatenation, which copies the whole cache (O(S) bytes per token on top of attention's
 *    O(S) reads).
 *  - preallocated (wasm): k[i], v[i] are [B·H, capacity, D] buffers filled in place up to `length`,
 *    like Hugging Face's StaticCache; a step writes only its own rows and attention reads the
 *    first `length` rows. tfjs has no in-place op, so this needs the wasm kernels of
 *    src/backend/wasm-kernels; on the native backends a concat is a device memcpy and the growing
 *    form is kept.
 *
 * A preallocated cache is mutated by the forward pass that extends it: the cache a step returns
 * shares its buffers with the one it was given (free the old one with disposeCache(old, new)), and
 * it is for decoding only (no gradient flows through an in-place write).
 */
import { tf, Tensor2D, Tensor3D } from '../backend/tf';
import { kvCacheInPlace, writeRows } from '../backend/fast-ops';

export interface KVCache {
  /** Keys [B·H, S, D] per layer, or [B·H, capacity, D] when preallocated. */
  k: Tensor3D[];
  /** Values, the same layout as k. */
  v: Tensor3D[];
  /** [B, S] 1 for real tokens, 0 for padding, for every cached position. */
  mask: Tensor2D;
  /** Number of cached positions S. */
  length: number;
  /** Set when the buffers are preallocated: rows per head. */
  capacity?: number;
}

/**
 * One layer's keys and values after this step's rows k, v ([B·H, T, D]): the tensors to attend
 * over and, for a preallocated cache, how many of their rows are filled. With no cache and a
 * `capacity`, a preallocated one is started when the backend supports it.
 */
export function appendKV(cache: KVCache | undefined, layer: number, k: Tensor3D, v: Tensor3D, capacity?: number): { k: Tensor3D; v: Tensor3D; rows?: number } {
  const T = k.shape[1];
  if (cache?.capacity !== undefined) {
    if (cache.length + T > cache.capacity) throw new Error(`KV cache of ${cache.capacity} positions cannot take ${T} more after ${cache.length}`);
    writeRows(cache.k[layer], k, cache.length);
    writeRows(cache.v[layer], v, cache.length);
    return { k: cache.k[layer], v: cache.v[layer], rows: cache.length + T };
  }
  if (cache) return { k: tf.concat([cache.k[layer], k], 1), v: tf.concat([cache.v[layer], v], 1) };
  if (capacity !== undefined && capacity > T && kvCacheInPlace()) {
    const [BH, , D] = k.shape;
    // Zeros, not uninitialised memory: rows past `length` are never read, but must not be NaN.
    const kb = tf.zeros([BH, capacity, D]) as Tensor3D;
    const vb = tf.zeros([BH, capacity, D]) as Tensor3D;
    writeRows(kb, k, 0);
    writeRows(vb, v, 0);
    return { k: kb, v: vb, rows: T };
  }
  return { k, v };
}

/** Free a cache's tensors, except those it shares with `keep` (the cache a step returned). */
export function disposeCache(cache: KVCache | undefined, keep?: KVCache): void {
  if (!cache) return;
  const kept = new Set(keep ? [...keep.k, ...keep.v, keep.mask] : []);
  tf.dispose([...cache.k, ...cache.v, cache.mask].filter((t) => !kept.has(t)));
}
