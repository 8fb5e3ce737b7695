/**
 * One GPT-2 decoding step as a single TensorFlow graph, on the native backend's CPU path
 * (src/backend/tf-graph.ts says why: op-by-op dispatch is a third of a decoding step there).
 *
 * The step is forward() with T = 1 and an in-place ('masked') KV cache: the same operations in the
 * same order (gpt2.ts, fused.ts), with one difference in how attention reads the cache. Eagerly,
 * the new key and value are written into the buffer first and attention reads the whole buffer. A
 * graph cannot write the buffer (it is fed, read-only), so it attends over the cached rows and the
 * new row side by side:
 *   scores = [q·K_cacheᵀ, q·k_new]·scale + bias,   p = softmax(scores),   a = p_cache·V_cache + p_new·v_new
 * the same function with the new row's terms summed last (rounding may differ in the last bits).
 * The new key and value rows are outputs, written into the buffers after the run.
 *
 * Shapes: B batch, C = n_embd, H = n_head, D = C/H, K = the cache's capacity.
 */
import { tf, Tensor, Tensor2D, Tensor3D } from '../backend/tf';
import { GraphBuilder, GraphSession, graphsAvailable, Out } from '../backend/tf-graph';
import { Activation, attentionScale, GPT2Config } from './config';
import { ERF_GELUS, GELU_A, GELU_C, TANH_GELUS } from './fused';
import { trunkParamNames } from './gpt2';
import type { ForwardResult, Params } from './gpt2';
import type { KVCache } from './kv-cache';

/** The activations the graph writes (as fused.ts computes them); undefined: decode op by op. */
function graphActivation(name: Activation): ((g: GraphBuilder, x: Out) => Out) | undefined {
  if ((TANH_GELUS as readonly Activation[]).includes(name)) return geluNew;
  if ((ERF_GELUS as readonly Activation[]).includes(name)) return geluErf;
  if (name === 'relu') return (g, x) => g.unary('Relu', x);
  return undefined;
}

/** x·σ(2u), u = √(2/π)(x + 0.044715x³) (fused.ts geluNew). */
function geluNew(g: GraphBuilder, x: Out): Out {
  const u2 = g.mul(g.scalar(2 * GELU_C), g.add(x, g.mul(g.scalar(GELU_A), g.mul(g.mul(x, x), x))));
  return g.mul(x, g.unary('Sigmoid', u2));
}

/** x·½(1 + erf(x/√2)) (fused.ts geluErf). */
function geluErf(g: GraphBuilder, x: Out): Out {
  return g.mul(x, g.mul(g.scalar(0.5), g.add(g.scalar(1), g.unary('Erf', g.mul(x, g.scalar(Math.SQRT1_2))))));
}

/** LayerNorm over the last axis, as fused.ts: x̂ = (x − μ)·rsqrt(mean((x − μ)²) + ε), y = x̂·g + b. */
function layerNorm(g: GraphBuilder, x: Out, gain: Out, bias: Out, eps: number): Out {
  const xc = g.sub(x, g.reduce('Mean', x, -1));
  const r = g.unary('Rsqrt', g.add(g.reduce('Mean', g.unary('Square', xc), -1), g.scalar(eps)));
  return g.add(g.mul(g.mul(xc, r), gain), bias);
}

const linear = (g: GraphBuilder, x: Out, w: Out, b: Out) => g.add(g.matMul(x, w), b);

const layerParam = (i: number, name: string) => `transformer.h.${i}.${name}`;

interface StepGraph {
  session: GraphSession;
  params: string[];
}

/**
 * The step's graph for batch B.
 *   inputs:  the trunk's parameters (trunkParamNames: the graph ends at ln_f, the LM head is applied
 *            after it as before); ids [B] int32; keyMask [B, K + 1]: 1 for real cached rows, 0 for
 *            padding and unfilled rows, then the new token's mask; each layer's key buffer
 *            [B·H, D, K] (stored transposed) and value buffer [B·H, K, D].
 *   outputs: hidden [B, C] after ln_f; each layer's new key rows, then value rows, [B·H, 1, D].
 */
function buildStep(cfg: GPT2Config, act: (g: GraphBuilder, x: Out) => Out, B: number): StepGraph {
  const g = new GraphBuilder();
  const C = cfg.n_embd;
  const H = cfg.n_head;
  const D = C / H;
  const names = trunkParamNames(cfg);
  const P: Record<string, Out> = {};
  names.forEach((n, k) => (P[n] = g.input(`p${k}`)));
  const ids = g.input('ids', 'int32');
  const keyMask = g.input('key_mask');
  const kIn: Out[] = [];
  const vIn: Out[] = [];

  // Position of the new token: the number of real tokens before it, as positionIdsFromMask with
  // the cache's count as offset (max(Σ mask_past + mask_new − 1, 0)).
  const count = g.reduce('Sum', keyMask, 1); // [B, 1]
  const pos = g.reshape(g.cast(g.maximum(g.sub(count, g.scalar(1)), g.scalar(0)), 'float32', 'int32'), [B], 'int32');
  let x = g.add(g.gather(P['transformer.wte.weight'], ids), g.gather(P['transformer.wpe.weight'], pos)); // [B, C]
  // 0 where a key may be attended to, −1e9 elsewhere (as gpt2.ts attentionBias): [B, 1, 1, K + 1].
  const bias = g.reshape(g.mul(g.sub(keyMask, g.scalar(1)), g.scalar(1e9)), [B, 1, 1, -1]);

  const kOut: Out[] = [];
  const vOut: Out[] = [];
  for (let i = 0; i < cfg.n_layer; i++) {
    const W = (n: string) => P[layerParam(i, n)];
    kIn.push(g.input(`k${i}`));
    vIn.push(g.input(`v${i}`));
    // Attention: q, k, v of the new token, [B·H, 1, D] each (for one position the head axis is in place).
    const h = layerNorm(g, x, W('ln_1.weight'), W('ln_1.bias'), cfg.layer_norm_epsilon);
    const [q2, k2, v2] = g.split(linear(g, h, W('attn.c_attn.weight'), W('attn.c_attn.bias')), [C, C, C], 1);
    const [q, k, v] = [q2, k2, v2].map((t) => g.reshape(t, [B * H, 1, D]));
    kOut.push(g.unary('Identity', k, `k_new${i}`));
    vOut.push(g.unary('Identity', v, `v_new${i}`));
    // The key buffer is stored transposed on this backend ([B·H, D, K], fast-ops newKvBuffer).
    const qk = g.concat([g.batchMatMul(q, kIn[i]), g.batchMatMul(q, k, false, true)], 2); // [B·H, 1, K + 1]
    const scores = g.add(g.reshape(g.mul(qk, g.scalar(attentionScale(cfg, i))), [B, H, 1, -1]), bias);
    const probs = g.reshape(g.unary('Softmax', scores), [B * H, 1, -1]);
    const [pCache, pNew] = g.split(probs, [-1, 1], 2);
    const a = g.add(g.batchMatMul(pCache, vIn[i]), g.batchMatMul(pNew, v)); // [B·H, 1, D]
    x = g.add(x, linear(g, g.reshape(a, [B, C]), W('attn.c_proj.weight'), W('attn.c_proj.bias')));
    // MLP.
    const m = act(g, linear(g, layerNorm(g, x, W('ln_2.weight'), W('ln_2.bias'), cfg.layer_norm_epsilon), W('mlp.c_fc.weight'), W('mlp.c_fc.bias')));
    x = g.add(x, linear(g, m, W('mlp.c_proj.weight'), W('mlp.c_proj.bias')));
  }
  const hidden = g.unary('Identity', layerNorm(g, x, P['transformer.ln_f.weight'], P['transformer.ln_f.bias'], cfg.layer_norm_epsilon), 'hidden');
  const inputs = [...names.map((n) => P[n]), ids, keyMask, ...kIn, ...vIn];
  return { session: new GraphSession(g, inputs, [hidden, ...kOut, ...vOut]), params: names };
}

/** Loaded step graphs by config and batch size (at 124M a session took 25 ms to load and 0.57 s for its first, optimising run). */
const MAX_GRAPHS = 4;
const graphs = new Map<string, StepGraph>();
let enabled = true;
let stepsRun = 0;

/** How many decoding steps ran as a graph in this process (tests check which path ran). */
export function graphStepsRun(): number {
  return stepsRun;
}

/** Turn the graph step on or off (on by default; tests and the benchmark compare the two). */
export function setDecodeGraph(on: boolean): void {
  enabled = on;
}

/** Free every loaded step graph. */
export function disposeDecodeGraphs(): void {
  for (const s of graphs.values()) s.session.dispose();
  graphs.clear();
}

/** The step graph for this model and batch, or undefined where decoding runs op by op. */
function stepGraph(cfg: GPT2Config, B: number): StepGraph | undefined {
  const act = graphActivation(cfg.activation_function);
  if (!enabled || !act || !graphsAvailable()) return undefined;
  const key = `${B} ${JSON.stringify(cfg)}`;
  let s = graphs.get(key);
  if (!s) {
    if (graphs.size >= MAX_GRAPHS) {
      const [oldKey, old] = graphs.entries().next().value as [string, StepGraph];
      old.session.dispose();
      graphs.delete(oldKey);
    }
    s = buildStep(cfg, act, B);
    graphs.set(key, s);
  }
  return s;
}

/**
 * One decoding step: ids [B, 1] and their mask [B, 1] (float) after the in-place cache → hidden
 * [B, 1, C] and the cache one position longer (sharing the buffers, as forward's), or undefined
 * where the graph does not apply (then forward runs op by op).
 */
export function graphDecodeStep(params: Params, cfg: GPT2Config, ids: Tensor2D, mask: Tensor2D, cache: KVCache): ForwardResult | undefined {
  const [B, T] = ids.shape;
  if (T !== 1 || cache.capacity === undefined || !cache.buffers || !cache.buffers.every((b) => b.k.transposed && !b.v.transposed)) return undefined;
  const step = stepGraph(cfg, B);
  if (!step) return undefined;
  const at = cache.length;
  const K = cache.capacity;
  if (at + 1 > K) throw new Error(`KV cache of ${K} positions cannot take 1 more after ${at}`);
  const keyMaskIn = tf.concat([cache.mask, tf.zeros([B, K - at]), mask], 1);
  const reads = [...cache.buffers.map((b) => b.k.read()), ...cache.buffers.map((b) => b.v.read())]; // the graph's order: keys, then values
  const outs = step.session.run([...step.params.map((n) => params[n]), ids.reshape([B]), keyMaskIn, ...reads]);
  // The reads must be gone before the writes, or TensorFlow copies each buffer first (tf-native.ts).
  tf.dispose(reads);
  const L = cfg.n_layer;
  cache.buffers.forEach((b, i) => {
    b.k.write(outs[1 + i] as Tensor3D, at);
    b.v.write(outs[1 + L + i] as Tensor3D, at);
  });
  tf.dispose(outs.slice(1));
  stepsRun++;
  const hidden = (outs[0] as Tensor).reshape([B, 1, cfg.n_embd]) as Tensor3D;
  outs[0].dispose();
  return { hidden, cache: { k: [], v: [], buffers: cache.buffers, mask: tf.concat([cache.mask, mask], 1) as Tensor2D, length: at + 1, capacity: K } };
}
