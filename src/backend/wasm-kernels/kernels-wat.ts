/**
 * WebAssembly text of a batched matmul kernel with 128-bit SIMD, for the tfjs wasm backend.
 *
 * Why: tfjs-backend-wasm sends only rank-2, untransposed products to XNNPACK; a batched product
 * (attention's Q·Kᵀ and P·V, over batch × heads) runs a scalar loop at ~2–3 GFLOP/s. This kernel
 * works directly on the tensors in the backend's own memory (it imports that memory), so no data
 * is copied in or out.
 *
 *   bmm(a, b, c, batch, M, K, N, aStride, bStride, transA, transB, scratch)
 *     c[i] = op(a[i]) · op(b[i]) for i < batch, op = transpose when the flag is set;
 *     a[i] starts at a + i·aStride bytes (0 broadcasts one matrix), likewise b (whose stride may
 *     exceed its matrix: the first rows of a larger, preallocated block); c is dense.
 *   strided_copy: a strided gather into a dense output (Transpose, Slice, SplitV).
 *   copy_blocks: packed blocks into strided places (writing into a preallocated KV cache).
 *   adam: one fused Adam step (src/model/optim.ts); sum_squares: Σx² in float64 (gradient norm).
 *
 * Layout of the work: C is cut into tiles of 4 rows × 8 columns (8 f32x4 accumulators), and each
 * tile is one pass over k: two 4-wide loads of B's row k, and for each of the 4 rows one splat of
 * A[r, k] multiplied into both. A is read through two strides (row, k), so a transposed A costs
 * nothing; a transposed B is first copied into [K, N] order in `scratch` (K·N floats, small next
 * to the M·N·K product). Edges: 4-wide and single columns, then single rows. Each output is
 * summed over k in order 0..K−1, like the naive triple loop. With fewer than 4 rows and B
 * transposed (a decode step: one query against the cached keys) the copy would cost as much as
 * the product, so those are dot products along k instead (4 partial sums per output).
 *
 * The text is generated (the tiles are unrolled); scripts/build-wasm-kernels.js assembles it into
 * kernels-wasm.ts, and test/wasm-kernels.test.ts checks that the committed bytes are this text.
 */

const MR = 4; // rows per tile
const NV = 2; // f32x4 vectors per tile row (8 columns)
const NV1 = 8; // vectors per tile for a single row (32 columns)
const KC = 256; // k per block

/** One tile of `mr` rows × `nv` vectors (or one scalar column when nv = 0) at (i, j). */
function tile(mr: number, nv: number): string {
  const scalar = nv === 0;
  const accs: string[] = [];
  for (let r = 0; r < mr; r++) for (let v = 0; v < Math.max(nv, 1); v++) accs.push(`$acc${r}_${v}`);
  const zero = scalar ? '(f32.const 0)' : '(v128.const i32x4 0 0 0 0)';
  const lines: string[] = [];
  lines.push(`;; tile ${mr}×${scalar ? '1' : 4 * nv}`);
  // Start from 0, or (accumulating a later block of k) from what C holds.
  lines.push('(local.set $pc (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $N)) (local.get $j)) (i32.const 2))))');
  for (let r = 0; r < mr; r++) {
    for (let v = 0; v < Math.max(nv, 1); v++) {
      const at = `(i32.add (local.get $pc) (i32.mul (i32.const ${r}) (local.get $N4)))`;
      const load = scalar ? `(f32.load ${at})` : `(v128.load offset=${16 * v} ${at})`;
      lines.push(`(local.set $acc${r}_${v}${scalar ? 'f' : ''} (if (result ${scalar ? 'f32' : 'v128'}) (local.get $accum) (then ${load}) (else ${zero})))`);
    }
  }
  // Row pointers into A at k = 0, and the column pointer into B.
  lines.push('(local.set $pa0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sAi))))');
  for (let r = 1; r < mr; r++) lines.push(`(local.set $pa${r} (i32.add (local.get $pa${r - 1}) (local.get $sAi)))`);
  lines.push('(local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))');
  lines.push('(local.set $kk (local.get $K))');
  lines.push('(block $kdone (loop $kloop');
  lines.push('  (br_if $kdone (i32.eqz (local.get $kk)))');
  if (scalar) {
    lines.push('  (local.set $bs (f32.load (local.get $pb)))');
    for (let r = 0; r < mr; r++) {
      lines.push(`  (local.set $acc${r}_0f (f32.add (local.get $acc${r}_0f) (f32.mul (f32.load (local.get $pa${r})) (local.get $bs))))`);
    }
  } else {
    for (let v = 0; v < nv; v++) lines.push(`  (local.set $b${v} (v128.load offset=${16 * v} (local.get $pb)))`);
    for (let r = 0; r < mr; r++) {
      lines.push(`  (local.set $x (f32x4.splat (f32.load (local.get $pa${r}))))`);
      for (let v = 0; v < nv; v++) {
        lines.push(`  (local.set $acc${r}_${v} (f32x4.add (local.get $acc${r}_${v}) (f32x4.mul (local.get $x) (local.get $b${v}))))`);
      }
    }
  }
  for (let r = 0; r < mr; r++) lines.push(`  (local.set $pa${r} (i32.add (local.get $pa${r}) (local.get $sAk)))`);
  lines.push('  (local.set $pb (i32.add (local.get $pb) (local.get $N4)))');
  lines.push('  (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))');
  lines.push('  (br $kloop)))');
  // Store: C[i + r, j ..] at c + ((i + r)·N + j)·4.
  lines.push('(local.set $pc (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $N)) (local.get $j)) (i32.const 2))))');
  for (let r = 0; r < mr; r++) {
    if (r > 0) lines.push('(local.set $pc (i32.add (local.get $pc) (local.get $N4)))');
    if (scalar) lines.push(`(f32.store (local.get $pc) (local.get $acc${r}_0f))`);
    else for (let v = 0; v < nv; v++) lines.push(`(v128.store offset=${16 * v} (local.get $pc) (local.get $acc${r}_${v}))`);
  }
  return lines.join('\n');
}

/**
 * All columns of the rows i .. i+mr−1: tiles as wide as fit (a single row, e.g. a decode step's
 * attention, takes 32 columns per pass over k: one splat of A feeds 8 vectors), then one 4-wide
 * tile, then single columns.
 */
function rowBlock(mr: number): string {
  const widths = mr === 1 ? [NV1, NV] : [NV];
  const wide = widths
    .map(
      (nv) => `
(block $c${nv}done (loop $c${nv}
  (br_if $c${nv}done (i32.gt_u (i32.add (local.get $j) (i32.const ${4 * nv})) (local.get $N)))
  ${tile(mr, nv)}
  (local.set $j (i32.add (local.get $j) (i32.const ${4 * nv})))
  (br $c${nv})))`,
    )
    .join('');
  return `
(local.set $j (i32.const 0))${wide}
(if (i32.le_u (i32.add (local.get $j) (i32.const 4)) (local.get $N)) (then
  ${tile(mr, 1)}
  (local.set $j (i32.add (local.get $j) (i32.const 4)))))
(block $c1done (loop $c1
  (br_if $c1done (i32.ge_u (local.get $j) (local.get $N)))
  ${tile(mr, 0)}
  (local.set $j (i32.add (local.get $j) (i32.const 1)))
  (br $c1)))`;
}

/** Dot products of one row of A with `nj` rows of B (B stored [N, K]), over k in steps of 4, then the K mod 4 tail. */
function dotTile(nj: number): string {
  const L: string[] = [];
  for (let q = 0; q < nj; q++) L.push(`(local.set $d${q} (v128.const i32x4 0 0 0 0))`, `(local.set $t${q} (f32.const 0))`);
  L.push('(local.set $pa0 (local.get $arow))');
  L.push('(local.set $pb (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $K4))))');
  for (let q = 1; q < nj; q++) L.push(`(local.set $pa${q} (i32.add (local.get $pb) (i32.mul (i32.const ${q}) (local.get $K4))))`);
  L.push('(local.set $kk (local.get $K))');
  L.push('(block $vdone (loop $vloop');
  L.push('  (br_if $vdone (i32.lt_u (local.get $kk) (i32.const 4)))');
  L.push('  (local.set $x (v128.load (local.get $pa0)))');
  L.push('  (local.set $d0 (f32x4.add (local.get $d0) (f32x4.mul (local.get $x) (v128.load (local.get $pb)))))');
  for (let q = 1; q < nj; q++) L.push(`  (local.set $d${q} (f32x4.add (local.get $d${q}) (f32x4.mul (local.get $x) (v128.load (local.get $pa${q})))))`, `  (local.set $pa${q} (i32.add (local.get $pa${q}) (i32.const 16)))`);
  L.push('  (local.set $pa0 (i32.add (local.get $pa0) (i32.const 16)))', '  (local.set $pb (i32.add (local.get $pb) (i32.const 16)))');
  L.push('  (local.set $kk (i32.sub (local.get $kk) (i32.const 4)))', '  (br $vloop)))');
  L.push('(block $sdone (loop $sloop');
  L.push('  (br_if $sdone (i32.eqz (local.get $kk)))');
  L.push('  (local.set $bs (f32.load (local.get $pa0)))');
  L.push('  (local.set $t0 (f32.add (local.get $t0) (f32.mul (local.get $bs) (f32.load (local.get $pb)))))');
  for (let q = 1; q < nj; q++) L.push(`  (local.set $t${q} (f32.add (local.get $t${q}) (f32.mul (local.get $bs) (f32.load (local.get $pa${q})))))`, `  (local.set $pa${q} (i32.add (local.get $pa${q}) (i32.const 4)))`);
  L.push('  (local.set $pa0 (i32.add (local.get $pa0) (i32.const 4)))', '  (local.set $pb (i32.add (local.get $pb) (i32.const 4)))');
  L.push('  (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))', '  (br $sloop)))');
  const hsum = (q: number) => `(f32.add (local.get $t${q}) (f32.add (f32.add (f32x4.extract_lane 0 (local.get $d${q})) (f32x4.extract_lane 1 (local.get $d${q}))) (f32.add (f32x4.extract_lane 2 (local.get $d${q})) (f32x4.extract_lane 3 (local.get $d${q})))))`;
  for (let q = 0; q < nj; q++) L.push(`(f32.store offset=${4 * q} (local.get $pc) ${hsum(q)})`);
  return L.join('\n');
}

function locals(): string {
  const v: string[] = ['$x'];
  for (let k = 0; k < Math.max(NV, NV1); k++) v.push(`$b${k}`);
  const f: string[] = ['$bs'];
  for (let r = 0; r < MR; r++) {
    for (let k = 0; k < (r === 0 ? Math.max(NV, NV1) : NV); k++) v.push(`$acc${r}_${k}`);
    f.push(`$acc${r}_0f`);
  }
  const i: string[] = ['$i', '$j', '$kk', '$pb', '$pc', '$N4'];
  for (let r = 0; r < MR; r++) i.push(`$pa${r}`);
  return [...v.map((n) => `(local ${n} v128)`), ...f.map((n) => `(local ${n} f32)`), ...i.map((n) => `(local ${n} i32)`)].join(' ');
}

export function kernelsWat(): string {
  return `(module
(import "env" "memory" (memory 1))

;; C[M, N] = A · B (or C += A · B when accum ≠ 0) with A read as A[i, k] at a + i·sAi + k·sAk
;; (bytes), B dense [K, N], C dense.
(func $gemm (param $a i32) (param $b i32) (param $c i32) (param $M i32) (param $K i32) (param $N i32)
            (param $sAi i32) (param $sAk i32) (param $accum i32)
  ${locals()}
  (local.set $N4 (i32.shl (local.get $N) (i32.const 2)))
  (local.set $i (i32.const 0))
  (block $r4done (loop $r4
    (br_if $r4done (i32.gt_u (i32.add (local.get $i) (i32.const ${MR})) (local.get $M)))
    ${rowBlock(MR)}
    (local.set $i (i32.add (local.get $i) (i32.const ${MR})))
    (br $r4)))
  (block $r1done (loop $r1
    (br_if $r1done (i32.ge_u (local.get $i) (local.get $M)))
    ${rowBlock(1)}
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $r1))))

;; C[M, N] = A · Bᵀ with A dense [M, K] and B dense [N, K], as dot products along k (4 at a time):
;; for few rows of A (a decode step's single query against the cached keys) this reads B once and
;; needs no transposed copy of it.
(func $gemm_bt (param $a i32) (param $b i32) (param $c i32) (param $M i32) (param $K i32) (param $N i32)
  (local $x v128) (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
  (local $t0 f32) (local $t1 f32) (local $t2 f32) (local $t3 f32) (local $bs f32)
  (local $i i32) (local $j i32) (local $kk i32) (local $K4 i32) (local $arow i32) (local $pb i32) (local $pc i32)
  (local $pa0 i32) (local $pa1 i32) (local $pa2 i32) (local $pa3 i32)
  (local.set $K4 (i32.shl (local.get $K) (i32.const 2)))
  (local.set $pc (local.get $c))
  (local.set $i (i32.const 0))
  (block $idone (loop $il
    (br_if $idone (i32.ge_u (local.get $i) (local.get $M)))
    (local.set $arow (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $K4))))
    (local.set $j (i32.const 0))
    (block $j4done (loop $j4
      (br_if $j4done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $N)))
      ${dotTile(4)}
      (local.set $pc (i32.add (local.get $pc) (i32.const 16)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $j4)))
    (block $j1done (loop $j1
      (br_if $j1done (i32.ge_u (local.get $j) (local.get $N)))
      ${dotTile(1)}
      (local.set $pc (i32.add (local.get $pc) (i32.const 4)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $j1)))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $il))))

;; One Adam step over n floats, in one pass (reads p, m, v, g; writes p', m', v'), with the same
;; float32 operations in the same order as the tfjs ops of src/model/optim.ts:
;;   m' = m·b1 + g·c1,  v' = v·b2 + (g·g)·c2,  s = (m' / (√v' + epsHat))·alpha,
;;   p' = p − s, or p·decay − s when decay ≠ 1.
(func (export "adam") (param $p i32) (param $m i32) (param $v i32) (param $g i32)
      (param $po i32) (param $mo i32) (param $vo i32) (param $n i32)
      (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32) (param $alpha f32) (param $epsHat f32) (param $decay f32)
  (local $i i32) (local $gv v128) (local $mv v128) (local $vv v128)
  (local $gs f32) (local $ms f32) (local $vs f32)
  (local.set $i (local.get $n))
  (block $vdone (loop $vl
    (br_if $vdone (i32.lt_u (local.get $i) (i32.const 4)))
    (local.set $gv (v128.load (local.get $g)))
    (local.set $mv (f32x4.add (f32x4.mul (v128.load (local.get $m)) (f32x4.splat (local.get $b1)))
                              (f32x4.mul (local.get $gv) (f32x4.splat (local.get $c1)))))
    (local.set $vv (f32x4.add (f32x4.mul (v128.load (local.get $v)) (f32x4.splat (local.get $b2)))
                              (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $c2)))))
    (v128.store (local.get $mo) (local.get $mv))
    (v128.store (local.get $vo) (local.get $vv))
    (v128.store (local.get $po)
      (f32x4.sub
        (if (result v128) (f32.ne (local.get $decay) (f32.const 1))
          (then (f32x4.mul (v128.load (local.get $p)) (f32x4.splat (local.get $decay))))
          (else (v128.load (local.get $p))))
        (f32x4.mul (f32x4.div (local.get $mv) (f32x4.add (f32x4.sqrt (local.get $vv)) (f32x4.splat (local.get $epsHat))))
                   (f32x4.splat (local.get $alpha)))))
    (local.set $p (i32.add (local.get $p) (i32.const 16))) (local.set $m (i32.add (local.get $m) (i32.const 16)))
    (local.set $v (i32.add (local.get $v) (i32.const 16))) (local.set $g (i32.add (local.get $g) (i32.const 16)))
    (local.set $po (i32.add (local.get $po) (i32.const 16))) (local.set $mo (i32.add (local.get $mo) (i32.const 16)))
    (local.set $vo (i32.add (local.get $vo) (i32.const 16)))
    (local.set $i (i32.sub (local.get $i) (i32.const 4)))
    (br $vl)))
  (block $sdone (loop $sl
    (br_if $sdone (i32.eqz (local.get $i)))
    (local.set $gs (f32.load (local.get $g)))
    (local.set $ms (f32.add (f32.mul (f32.load (local.get $m)) (local.get $b1)) (f32.mul (local.get $gs) (local.get $c1))))
    (local.set $vs (f32.add (f32.mul (f32.load (local.get $v)) (local.get $b2)) (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
    (f32.store (local.get $mo) (local.get $ms))
    (f32.store (local.get $vo) (local.get $vs))
    (f32.store (local.get $po)
      (f32.sub
        (if (result f32) (f32.ne (local.get $decay) (f32.const 1))
          (then (f32.mul (f32.load (local.get $p)) (local.get $decay)))
          (else (f32.load (local.get $p))))
        (f32.mul (f32.div (local.get $ms) (f32.add (f32.sqrt (local.get $vs)) (local.get $epsHat))) (local.get $alpha))))
    (local.set $p (i32.add (local.get $p) (i32.const 4))) (local.set $m (i32.add (local.get $m) (i32.const 4)))
    (local.set $v (i32.add (local.get $v) (i32.const 4))) (local.set $g (i32.add (local.get $g) (i32.const 4)))
    (local.set $po (i32.add (local.get $po) (i32.const 4))) (local.set $mo (i32.add (local.get $mo) (i32.const 4)))
    (local.set $vo (i32.add (local.get $vo) (i32.const 4)))
    (local.set $i (i32.sub (local.get $i) (i32.const 1)))
    (br $sl))))

;; Σ x² over n floats, accumulated in float64 (two f64x2 sums, then the tail): a gradient-norm
;; pass with no squared copy. (float32 accumulation over a 38M-element embedding would lose digits.)
(func (export "sum_squares") (param $x i32) (param $n i32) (result f64)
  (local $a v128) (local $b v128) (local $v v128) (local $t f64)
  (local.set $a (v128.const i64x2 0 0)) (local.set $b (v128.const i64x2 0 0))
  (block $vdone (loop $vl
    (br_if $vdone (i32.lt_u (local.get $n) (i32.const 4)))
    (local.set $v (v128.load (local.get $x)))
    (local.set $a (f64x2.add (local.get $a) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (f64x2.promote_low_f32x4 (local.get $v)))))
    (local.set $v (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
    (local.set $b (f64x2.add (local.get $b) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (f64x2.promote_low_f32x4 (local.get $v)))))
    (local.set $x (i32.add (local.get $x) (i32.const 16)))
    (local.set $n (i32.sub (local.get $n) (i32.const 4)))
    (br $vl)))
  (local.set $a (f64x2.add (local.get $a) (local.get $b)))
  (local.set $t (f64.add (f64x2.extract_lane 0 (local.get $a)) (f64x2.extract_lane 1 (local.get $a))))
  (block $sdone (loop $sl
    (br_if $sdone (i32.eqz (local.get $n)))
    (local.set $t (f64.add (local.get $t) (f64.mul (f64.promote_f32 (f32.load (local.get $x))) (f64.promote_f32 (f32.load (local.get $x))))))
    (local.set $x (i32.add (local.get $x) (i32.const 4)))
    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
    (br $sl)))
  (local.get $t))

;; For each of batch blocks: copy bytes from src (blocks packed) to dst (blocks dstStride apart).
;; Writes new keys/values into a preallocated cache in place.
(func (export "copy_blocks") (param $src i32) (param $dst i32) (param $batch i32) (param $bytes i32) (param $dstStride i32)
  (block $done (loop $l
    (br_if $done (i32.eqz (local.get $batch)))
    (memory.copy (local.get $dst) (local.get $src) (local.get $bytes))
    (local.set $src (i32.add (local.get $src) (local.get $bytes)))
    (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
    (local.set $batch (i32.sub (local.get $batch) (i32.const 1)))
    (br $l))))

;; dst[C, R] = transpose of src[R, C].
(func $transpose (param $src i32) (param $dst i32) (param $R i32) (param $C i32)
  (local $r i32) (local $c i32) (local $ps i32)
  (local.set $ps (local.get $src))
  (local.set $r (i32.const 0))
  (block $rdone (loop $rl
    (br_if $rdone (i32.ge_u (local.get $r) (local.get $R)))
    (local.set $c (i32.const 0))
    (block $cdone (loop $cl
      (br_if $cdone (i32.ge_u (local.get $c) (local.get $C)))
      (f32.store
        (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $R)) (local.get $r)) (i32.const 2)))
        (f32.load (local.get $ps)))
      (local.set $ps (i32.add (local.get $ps) (i32.const 4)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cl)))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $rl))))

;; Strided gather into a dense output, rank 5 (callers pad with leading 1s): for every index
;; (i0..i4) in n0×…×n4, dst[next] = src[i0·s0 + … + i4·s4] (strides in bytes, 4-byte elements).
;; One kernel for transpose and slice. A contiguous innermost run (s4 = 4) is one memory.copy.
(func (export "strided_copy") (param $src i32) (param $dst i32)
      (param $n0 i32) (param $n1 i32) (param $n2 i32) (param $n3 i32) (param $n4 i32)
      (param $s0 i32) (param $s1 i32) (param $s2 i32) (param $s3 i32) (param $s4 i32)
  (local $i0 i32) (local $i1 i32) (local $i2 i32) (local $i3 i32) (local $i4 i32)
  (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $p i32) (local $run i32)
  (local.set $run (i32.shl (local.get $n4) (i32.const 2)))
  (local.set $p0 (local.get $src))
  (local.set $i0 (local.get $n0))
  (block $d0 (loop $l0 (br_if $d0 (i32.eqz (local.get $i0)))
    (local.set $p1 (local.get $p0)) (local.set $i1 (local.get $n1))
    (block $d1 (loop $l1 (br_if $d1 (i32.eqz (local.get $i1)))
      (local.set $p2 (local.get $p1)) (local.set $i2 (local.get $n2))
      (block $d2 (loop $l2 (br_if $d2 (i32.eqz (local.get $i2)))
        (local.set $p3 (local.get $p2)) (local.set $i3 (local.get $n3))
        (block $d3 (loop $l3 (br_if $d3 (i32.eqz (local.get $i3)))
          (if (i32.eq (local.get $s4) (i32.const 4))
            (then
              (memory.copy (local.get $dst) (local.get $p3) (local.get $run))
              (local.set $dst (i32.add (local.get $dst) (local.get $run))))
            (else
              (local.set $p (local.get $p3)) (local.set $i4 (local.get $n4))
              (block $d4 (loop $l4 (br_if $d4 (i32.eqz (local.get $i4)))
                (i32.store (local.get $dst) (i32.load (local.get $p)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
                (local.set $p (i32.add (local.get $p) (local.get $s4)))
                (local.set $i4 (i32.sub (local.get $i4) (i32.const 1)))
                (br $l4)))))
          (local.set $p3 (i32.add (local.get $p3) (local.get $s3)))
          (local.set $i3 (i32.sub (local.get $i3) (i32.const 1)))
          (br $l3)))
        (local.set $p2 (i32.add (local.get $p2) (local.get $s2)))
        (local.set $i2 (i32.sub (local.get $i2) (i32.const 1)))
        (br $l2)))
      (local.set $p1 (i32.add (local.get $p1) (local.get $s1)))
      (local.set $i1 (i32.sub (local.get $i1) (i32.const 1)))
      (br $l1)))
    (local.set $p0 (i32.add (local.get $p0) (local.get $s0)))
    (local.set $i0 (i32.sub (local.get $i0) (i32.const 1)))
    (br $l0))))

(func (export "bmm") (param $a i32) (param $b i32) (param $c i32) (param $batch i32)
      (param $M i32) (param $K i32) (param $N i32) (param $aStride i32) (param $bStride i32)
      (param $transA i32) (param $transB i32) (param $scratch i32)
  (local $n i32) (local $sAi i32) (local $sAk i32) (local $pb i32) (local $cStride i32) (local $k0 i32) (local $kc i32)
  ;; A is [M, K] (row stride K) or, transposed, stored [K, M] (k stride M).
  (if (local.get $transA)
    (then (local.set $sAi (i32.const 4)) (local.set $sAk (i32.shl (local.get $M) (i32.const 2))))
    (else (local.set $sAi (i32.shl (local.get $K) (i32.const 2))) (local.set $sAk (i32.const 4))))
  (local.set $cStride (i32.shl (i32.mul (local.get $M) (local.get $N)) (i32.const 2)))
  (local.set $n (i32.const 0))
  (block $done (loop $bl
    (br_if $done (i32.ge_u (local.get $n) (local.get $batch)))
    (if (i32.and (local.get $transB) (i32.and (i32.eqz (local.get $transA)) (i32.lt_u (local.get $M) (i32.const ${MR}))))
      (then
        ;; Fewer rows than a tile: dot products against B's rows, no copy of B.
        (call $gemm_bt (local.get $a) (local.get $b) (local.get $c) (local.get $M) (local.get $K) (local.get $N)))
      (else
        (local.set $pb (local.get $b))
        ;; A transposed B is stored [N, K]: copy it to [K, N] once per distinct matrix.
        (if (local.get $transB) (then
          (if (i32.or (i32.eqz (local.get $n)) (i32.ne (local.get $bStride) (i32.const 0))) (then
            (call $transpose (local.get $b) (local.get $scratch) (local.get $N) (local.get $K))))
          (local.set $pb (local.get $scratch))))
        ;; k in blocks of ${KC}: a block's A rows and B panel stay in cache while a long k (an LM
        ;; head's vocabulary) would stream them from memory once per tile. Each output is still
        ;; summed in k order (later blocks continue from the stored partial sum).
        (local.set $k0 (i32.const 0))
        (block $kbdone (loop $kb
          (br_if $kbdone (i32.and (i32.ge_u (local.get $k0) (local.get $K)) (i32.ne (local.get $K) (i32.const 0))))
          (local.set $kc (i32.sub (local.get $K) (local.get $k0)))
          (if (i32.gt_u (local.get $kc) (i32.const ${KC})) (then (local.set $kc (i32.const ${KC}))))
          (call $gemm (i32.add (local.get $a) (i32.mul (local.get $k0) (local.get $sAk)))
                      (i32.add (local.get $pb) (i32.shl (i32.mul (local.get $k0) (local.get $N)) (i32.const 2)))
                      (local.get $c) (local.get $M) (local.get $kc) (local.get $N)
                      (local.get $sAi) (local.get $sAk) (i32.ne (local.get $k0) (i32.const 0)))
          (local.set $k0 (i32.add (local.get $k0) (i32.const ${KC})))
          (br_if $kb (i32.lt_u (local.get $k0) (local.get $K)))))))
    (local.set $a (i32.add (local.get $a) (local.get $aStride)))
    (local.set $b (i32.add (local.get $b) (local.get $bStride)))
    (local.set $c (i32.add (local.get $c) (local.get $cStride)))
    (local.set $n (i32.add (local.get $n) (i32.const 1)))
    (br $bl))))
)
`;
}
