/**
 * GPT-2 hyperparameters, named as in Hugging Face's `GPT2Config` (config.json).
 *
 * Every GPT2Config field that changes what GPT2LMHeadModel computes in eval mode is either read
 * here and honoured by the forward pass, or refused with an error that names the field and the
 * file; none is read and then ignored. The fields (transformers' configuration_gpt2.py and
 * modeling_gpt2.py):
 *
 *   vocab_size, n_positions, n_embd, n_layer, n_head   shapes
 *   n_inner                       MLP width (null: 4·n_embd)
 *   activation_function           the MLP's nonlinearity: every parameter-free ACT2FN entry
 *                                 (ACTIVATIONS below); prelu and xielu carry learned weights
 *                                 of their own and are refused
 *   layer_norm_epsilon            every LayerNorm's ε
 *   scale_attn_weights            scores · 1/√head_dim (default true)
 *   scale_attn_by_inverse_layer_idx   scores · 1/(layer index + 1) as well (default false)
 *   reorder_and_upcast_attn       the same scaled scores, computed with the scale folded into
 *                                 baddbmm and in float32 under mixed precision: in float32 (all
 *                                 rlhf computes in) the same maths, so accepted and kept
 *   tie_word_embeddings           false: the LM head is its own `lm_head.weight` [V, C]
 *   add_cross_attention           refused: cross-attention weights for an encoder rlhf has not
 *
 * Read but not applied, because they do not change the eval-mode forward: the dropout
 * probabilities resid_pdrop, embd_pdrop, attn_pdrop (rlhf never uses dropout: sampling and
 * training must see one function; saved as 0, which is how rlhf trained the weights),
 * summary_* (GPT2DoubleHeadsModel's multiple-choice head only), initializer_range, use_cache,
 * n_ctx (unused by transformers), bos/eos/pad_token_id (no effect on the LM's logits; pad_token_id
 * decides where GPT2ForSequenceClassification pools, see src/reward/model.ts).
 */
export interface GPT2Config {
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  layer_norm_epsilon: number;
  activation_function: Activation;
  bos_token_id: number;
  eos_token_id: number;
  /** MLP hidden width; null or absent: 4·n_embd. */
  n_inner?: number | null;
  /** Divide attention scores by √(n_embd / n_head). Absent: true. */
  scale_attn_weights?: boolean;
  /** Also divide the scores of block i (from 0) by i + 1. Absent: false. */
  scale_attn_by_inverse_layer_idx?: boolean;
  /** Identical maths in float32; kept so that a saved config says what it said. Absent: false. */
  reorder_and_upcast_attn?: boolean;
  /** LM head = the token embedding (true, GPT-2's) or its own `lm_head.weight` (false). Absent: true. */
  tie_word_embeddings?: boolean;
}

/** transformers' ACT2FN names that take no parameters of their own (activations.py). */
export const ACTIVATIONS = [
  'gelu_new',
  'gelu_pytorch_tanh',
  'gelu_python_tanh',
  'gelu_fast',
  'gelu_accurate',
  'gelu',
  'gelu_python',
  'gelu_10',
  'quick_gelu',
  'relu',
  'relu6',
  'relu2',
  'leaky_relu',
  'silu',
  'swish',
  'mish',
  'hardswish',
  'sigmoid',
  'tanh',
  'linear',
  'laplace',
  'sqrtsoftplus',
] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export const GPT2_124M: GPT2Config = {
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  layer_norm_epsilon: 1e-5,
  activation_function: 'gelu_new',
  bos_token_id: 50256,
  eos_token_id: 50256,
};

/** The MLP's hidden width. */
export function innerDim(cfg: GPT2Config): number {
  return cfg.n_inner ?? 4 * cfg.n_embd;
}

/** Whether the LM head is the token embedding (no `lm_head.weight` of its own). */
export function tiedEmbeddings(cfg: GPT2Config): boolean {
  return cfg.tie_word_embeddings ?? true;
}

/**
 * The factor that multiplies q·kᵀ in block `layer` (0-based), as GPT2Attention.scaling:
 * 1/√D if scale_attn_weights, further divided by layer + 1 if scale_attn_by_inverse_layer_idx.
 */
export function attentionScale(cfg: GPT2Config, layer: number): number {
  let s = (cfg.scale_attn_weights ?? true) ? 1 / Math.sqrt(cfg.n_embd / cfg.n_head) : 1;
  if (cfg.scale_attn_by_inverse_layer_idx ?? false) s /= layer + 1;
  return s;
}

/** Parse and check a config.json object; errors name the field and the file. */
export function parseConfig(raw: Record<string, unknown>, source = 'config.json'): GPT2Config {
  if (raw.model_type !== undefined && raw.model_type !== 'gpt2')
    throw new Error(`${source}: model_type is '${String(raw.model_type)}', expected 'gpt2'`);
  const num = (k: string, dflt?: number): number => {
    const v = raw[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${source}: field '${k}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const int = (k: string, dflt?: number): number => {
    const v = num(k, dflt);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${source}: field '${k}' must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = raw[k] ?? dflt;
    if (typeof v !== 'boolean') throw new Error(`${source}: field '${k}' must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const act = raw.activation_function ?? 'gelu_new';
  if (typeof act !== 'string' || !(ACTIVATIONS as readonly string[]).includes(act)) {
    const why = act === 'prelu' || act === 'xielu' ? ' (it has learned parameters of its own, which rlhf does not load)' : '';
    throw new Error(`${source}: field 'activation_function' is ${JSON.stringify(act)}${why}; rlhf supports ${ACTIVATIONS.join(', ')}`);
  }
  if (bool('add_cross_attention', false)) {
    throw new Error(`${source}: field 'add_cross_attention' is true: rlhf has no encoder to attend to, and would drop the cross-attention weights`);
  }
  const cfg: GPT2Config = {
    vocab_size: int('vocab_size'),
    n_positions: int('n_positions', 1024),
    n_embd: int('n_embd'),
    n_layer: int('n_layer'),
    n_head: int('n_head'),
    layer_norm_epsilon: num('layer_norm_epsilon', 1e-5),
    activation_function: act as Activation,
    bos_token_id: num('bos_token_id', 50256),
    eos_token_id: num('eos_token_id', 50256),
    n_inner: raw.n_inner === undefined || raw.n_inner === null ? null : int('n_inner'),
    scale_attn_weights: bool('scale_attn_weights', true),
    scale_attn_by_inverse_layer_idx: bool('scale_attn_by_inverse_layer_idx', false),
    reorder_and_upcast_attn: bool('reorder_and_upcast_attn', false),
    tie_word_embeddings: bool('tie_word_embeddings', true),
  };
  if (!(cfg.layer_norm_epsilon > 0)) throw new Error(`${source}: field 'layer_norm_epsilon' must be > 0, got ${cfg.layer_norm_epsilon}`);
  if (cfg.n_embd % cfg.n_head !== 0) throw new Error(`${source}: n_embd (${cfg.n_embd}) must be divisible by n_head (${cfg.n_head})`);
  return cfg;
}

/** The config.json that Hugging Face transformers reads: every forward-relevant field as rlhf computes it. */
export function toHFConfig(cfg: GPT2Config, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: cfg.vocab_size,
    n_positions: cfg.n_positions,
    n_ctx: cfg.n_positions,
    n_embd: cfg.n_embd,
    n_layer: cfg.n_layer,
    n_head: cfg.n_head,
    n_inner: cfg.n_inner ?? null,
    layer_norm_epsilon: cfg.layer_norm_epsilon,
    activation_function: cfg.activation_function,
    resid_pdrop: 0.0,
    embd_pdrop: 0.0,
    attn_pdrop: 0.0,
    summary_first_dropout: 0.0,
    initializer_range: 0.02,
    scale_attn_weights: cfg.scale_attn_weights ?? true,
    scale_attn_by_inverse_layer_idx: cfg.scale_attn_by_inverse_layer_idx ?? false,
    reorder_and_upcast_attn: cfg.reorder_and_upcast_attn ?? false,
    use_cache: true,
    bos_token_id: cfg.bos_token_id,
    eos_token_id: cfg.eos_token_id,
    tie_word_embeddings: tiedEmbeddings(cfg),
    torch_dtype: 'float32',
    ...extra,
  };
}
