/**
 * Token sequences packed into the padded [rows, T] arrays the model runs on, in one place: a
 * language-modelling batch (loss on the targets), a reward batch (each row's last token marked)
 * and PPO's query + response batch (queries left-padded so that responses start at one column).
 */

/** Rows right-padded to the longest (at least minWidth): ids, and 1 in mask for real tokens. */
function rightPadded(seqs: number[][], padId: number, minWidth: number): { ids: Int32Array; mask: Float32Array; B: number; T: number } {
  const B = seqs.length;
  const T = Math.max(minWidth, ...seqs.map((s) => s.length));
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Float32Array(B * T);
  seqs.forEach((s, b) => {
    ids.set(s, b * T);
    mask.fill(1, b * T, b * T + s.length);
  });
  return { ids, mask, B, T };
}

export interface LMBatch {
  /** [B, T] token ids (right-padded). */
  ids: Int32Array;
  /** [B, T] 1 for real tokens. */
  mask: Float32Array;
  /** [B, T] 1 where the token at t is a prediction target (its logit comes from position t−1). */
  lossMask: Float32Array;
  B: number;
  T: number;
}

/** Build a right-padded batch from (context, target) token lists; loss on the target part only. */
export function makeLMBatch(rows: { context: number[]; target: number[] }[], padId: number, maxLen: number): LMBatch {
  const seqs = rows.map((r) => [...r.context, ...r.target].slice(0, maxLen));
  const { ids, mask, B, T } = rightPadded(seqs, padId, 2);
  const lossMask = new Float32Array(B * T);
  seqs.forEach((s, b) => {
    const start = Math.min(rows[b].context.length, s.length);
    lossMask.fill(1, b * T + Math.max(1, start), b * T + s.length);
  });
  return { ids, mask, lossMask, B, T };
}

export interface RewardBatch {
  /** [N, T] right-padded prompt + completion + EOS. */
  ids: Int32Array;
  mask: Float32Array;
  /** [N, T] one-hot of each row's last real token. */
  last: Float32Array;
  N: number;
  T: number;
}

/** Sequences (prompt + completion + EOS) right-padded, each cut to its last maxLen tokens (the EOS stays). */
export function makeRewardBatch(seqs: number[][], padId: number, maxLen: number): RewardBatch {
  const rows = seqs.map((s) => truncateEnd(s, maxLen));
  const { ids, mask, B: N, T } = rightPadded(rows, padId, 1);
  const last = new Float32Array(N * T);
  rows.forEach((s, i) => (last[i * T + s.length - 1] = 1));
  return { ids, mask, last, N, T };
}

/** The last maxLen tokens of s (a reward model scores the end of a text, its EOS). */
export function truncateEnd(s: number[], maxLen: number): number[] {
  return s.length > maxLen ? s.slice(s.length - maxLen) : s;
}

export interface QueryResponseBatch {
  /** [B, T] ids: left-padded query followed by right-padded response. */
  ids: Int32Array;
  /** [B, T] 1 for real tokens. */
  mask: Float32Array;
  B: number;
  /** Query length Q (after left padding) and response length R; T = Q + R. */
  Q: number;
  R: number;
  /** [B, R] 1 for real response tokens. */
  responseMask: Float32Array;
}

/** Pack queries (left-padded) and responses (right-padded) into one batch. */
export function packQueryResponse(queries: number[][], responses: number[][], padId: number): QueryResponseBatch {
  const B = queries.length;
  const Q = Math.max(1, ...queries.map((q) => q.length));
  const R = Math.max(1, ...responses.map((r) => r.length));
  const T = Q + R;
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Float32Array(B * T);
  const responseMask = new Float32Array(B * R);
  for (let b = 0; b < B; b++) {
    const q = queries[b];
    const r = responses[b];
    ids.set(q, b * T + Q - q.length);
    mask.fill(1, b * T + Q - q.length, b * T + Q);
    ids.set(r, b * T + Q);
    mask.fill(1, b * T + Q, b * T + Q + r.length);
    responseMask.fill(1, b * R, b * R + r.length);
  }
  return { ids, mask, B, Q, R, responseMask };
}
