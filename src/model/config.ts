/** GPT-2 hyperparameters, named as in Hugging Face's `GPT2Config` (config.json). */
export interface GPT2Config {
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  layer_norm_epsilon: number;
  activation_function: 'gelu_new';
  bos_token_id: number;
  eos_token_id: number;
}

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

/** Parse and check a config.json object; errors name the field. */
export function parseConfig(raw: Record<string, unknown>, source = 'config.json'): GPT2Config {
  if (raw.model_type !== undefined && raw.model_type !== 'gpt2')
    throw new Error(`${source}: model_type is '${String(raw.model_type)}', expected 'gpt2'`);
  const num = (k: string, dflt?: number): number => {
    const v = raw[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${source}: field '${k}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const act = (raw.activation_function ?? 'gelu_new') as string;
  if (act !== 'gelu_new') throw new Error(`${source}: activation_function '${act}' is not supported (only gelu_new, GPT-2's)`);
  const cfg: GPT2Config = {
    vocab_size: num('vocab_size'),
    n_positions: num('n_positions', 1024),
    n_embd: num('n_embd'),
    n_layer: num('n_layer'),
    n_head: num('n_head'),
    layer_norm_epsilon: num('layer_norm_epsilon', 1e-5),
    activation_function: 'gelu_new',
    bos_token_id: num('bos_token_id', 50256),
    eos_token_id: num('eos_token_id', 50256),
  };
  if (cfg.n_embd % cfg.n_head !== 0) throw new Error(`${source}: n_embd (${cfg.n_embd}) must be divisible by n_head (${cfg.n_head})`);
  return cfg;
}

/** The config.json that Hugging Face transformers reads. */
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
    n_inner: null,
    layer_norm_epsilon: cfg.layer_norm_epsilon,
    activation_function: cfg.activation_function,
    resid_pdrop: 0.0,
    embd_pdrop: 0.0,
    attn_pdrop: 0.0,
    summary_first_dropout: 0.0,
    initializer_range: 0.02,
    scale_attn_weights: true,
    use_cache: true,
    bos_token_id: cfg.bos_token_id,
    eos_token_id: cfg.eos_token_id,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    ...extra,
  };
}
