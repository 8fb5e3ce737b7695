#!/usr/bin/env bash
# The GPU check (issue 12, item 5), in one go, on a CUDA machine: only the NVIDIA driver is needed
# (CUDA 12 and cuDNN 9 come from PyPI's nvidia-* wheels), with network access to the npm registry
# and PyPI. From a fresh clone:
#
#   scripts/gpu-check.sh [--skip-install] [--skip-build] [--out FILE] [--backend NAME]
#
# Steps, each timed; the check stops at the first one that fails and names it:
#   preflight    the tools the install needs: Node >= 20, npm, Python 3 with pip, make and a C++
#                compiler (node-gyp compiles the binding)
#   install      npm ci                               (only when node_modules is missing)
#   setup-native npm run setup:native -- --gpu        (tfjs-node-gpu on TensorFlow 2.21, CUDA 12)
#   build        npm run build
#   env          rlhf env --json must choose tensorflow-gpu and report gpu: true
#   tests        GPT-2 logit parity, gradient parity and generate tests with RLHF_BACKEND=tensorflow-gpu
#   bench        the bench's 124M rows (decode step B4 at pos 20/200, train step B2×T64) on tensorflow-gpu
#   ppo          5 PPO iterations of a GPT-2-124M-shaped policy (random weights, the real GPT-2
#                tokenizer, batch 8) on tensorflow-gpu (bench/ppo-gpt2.ts)
#
# It writes ONE JSON file: --out, else $OUT/gpu-check.json when $OUT is set, else ./gpu-check.json
# (the directory it was started from). The file is rewritten after every step, so a run killed
# part-way leaves the steps done so far (the running one has status "running"). Each step's full
# output goes to <json file without .json>-logs/<step>.log; a failed step's last lines are in the
# JSON too. Exit status: 0 when every step passed, 1 otherwise.
#
#   --skip-install  no preflight, npm ci or setup:native: use the native package already built in
#                   node_modules (tfjs-node-gpu; fails if there is none). For a machine set up before.
#   --skip-build    use the compiled dist/ as it is.
#   --backend NAME  try the check's machinery without a GPU: the env step asks for that backend
#                   (`rlhf env --backend NAME --json` must load it) and the later steps run on it.
#                   The JSON then says "gpu_check": false. Default tensorflow-gpu: the GPU check.
#
# Target: under 8 minutes from a cold machine with one H100/H200-class GPU.
set -uo pipefail

command -v node >/dev/null 2>&1 || { echo "gpu-check: needs Node.js (>= 20) on the PATH" >&2; exit 2; }
START_DIR=$(pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

SKIP_INSTALL=0
SKIP_BUILD=0
OUT_FILE=""
BACKEND=tensorflow-gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-install) SKIP_INSTALL=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    --out) OUT_FILE=${2:?--out needs a file}; shift ;;
    --backend) BACKEND=${2:?--backend needs a name}; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# The native package the backend needs, and setup:native's arguments for it.
case "$BACKEND" in
  tensorflow-gpu) NATIVE_PKG=tfjs-node-gpu; SETUP_ARGS=(-- --gpu) ;;
  tensorflow) NATIVE_PKG=tfjs-node; SETUP_ARGS=() ;;
  wasm | cpu) NATIVE_PKG="" ;;
  *) echo "gpu-check: --backend $BACKEND: expected tensorflow-gpu, tensorflow, wasm or cpu" >&2; exit 2 ;;
esac
if [ -z "$OUT_FILE" ]; then
  if [ -n "${OUT:-}" ]; then OUT_FILE="$OUT/gpu-check.json"; else OUT_FILE="$START_DIR/gpu-check.json"; fi
fi
case "$OUT_FILE" in /*) ;; *) OUT_FILE="$START_DIR/$OUT_FILE" ;; esac
mkdir -p "$(dirname "$OUT_FILE")"
LOGS="${OUT_FILE%.json}-logs"
rm -rf "$LOGS"
mkdir -p "$LOGS"
STATE=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
trap 'rm -rf "$STATE"' EXIT

# TensorFlow takes GPU memory as it needs it instead of all of it at start (several processes
# of this check may hold the GPU at once: the test files run in parallel).
export TF_FORCE_GPU_ALLOW_GROWTH=true
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
TEST_FILES=(dist/test/gpt2-parity.test.js dist/test/gpt2-grad-parity.test.js dist/test/generate.test.js)

cd "$ROOT" || exit 1
T_START=$(date +%s.%N)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
: >"$STATE/steps.tsv"

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ── The JSON file, assembled from $STATE by Node (rewritten after every step) ────────────────────
write_json() {
  node - "$STATE" "$OUT_FILE" "$LOGS" "$STARTED" "$T_START" "$(date +%s.%N)" "$BACKEND" "${1:-}" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const [state, outFile, logs, started, t0, now, backend, final] = process.argv.slice(2);
const read = (f) => { try { return fs.readFileSync(path.join(state, f), 'utf8'); } catch { return undefined; } };
const json = (f) => { const s = read(f); if (s === undefined) return undefined; try { return JSON.parse(s); } catch (e) { return { unreadable: String(e), text: s.slice(0, 2000) }; } };
const steps = (read('steps.tsv') || '').split('\n').filter(Boolean).map((l) => {
  const [name, status, seconds] = l.split('\t');
  const step = { name, status, seconds: seconds === '' ? null : Number(seconds), log: path.relative(path.dirname(outFile), path.join(logs, `${name}.log`)) };
  const err = read(`error-${name}.txt`);
  if (err !== undefined && status === 'failed') step.error = err.trim();
  const note = read(`note-${name}.txt`);
  if (note !== undefined) step.note = note.trim();
  const tail = read(`tail-${name}.txt`);
  if (tail !== undefined) step.log_tail = tail.split('\n');
  return step;
});
const failed = steps.find((s) => s.status === 'failed');
const running = steps.find((s) => s.status === 'running');
const out = {
  check: 'scripts/gpu-check.sh',
  backend,
  gpu_check: backend === 'tensorflow-gpu',
  started,
  finished: final ? new Date().toISOString() : null,
  ok: final === 'done' && !failed,
  failed_step: failed ? failed.name : null,
  error: failed ? failed.error ?? null : null,
  running_step: running ? running.name : null,
  total_seconds: Number(now) - Number(t0),
  machine: json('machine.json'),
  steps,
  env: json('env.json'),
  env_forced_tensorflow_gpu: json('env-forced.json'),
  tests: json('tests.json'),
  bench: json('bench.json'),
  ppo: json('ppo.json'),
};
const tmp = `${outFile}.tmp-${process.pid}`;
fs.writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`);
fs.renameSync(tmp, outFile);
JS
}

# set_step NAME STATUS SECONDS: replace the step's row in steps.tsv (or add it).
set_step() {
  grep -v "^$1	" "$STATE/steps.tsv" >"$STATE/steps.tmp" || true
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$STATE/steps.tmp"
  mv "$STATE/steps.tmp" "$STATE/steps.tsv"
}

# step NAME FUNCTION: run one step with its output shown and logged to $LOGS/NAME.log; on failure
# write the JSON with the step named and its error ($STATE/error-NAME.txt, written by the step or
# made up here) and exit 1.
N_STEPS=8
I_STEP=0
step() {
  local name=$1 fn=$2
  I_STEP=$((I_STEP + 1))
  set_step "$name" running ""
  write_json
  echo "== gpu-check [$I_STEP/$N_STEPS] $name"
  local t0 rc dt
  t0=$(date +%s.%N)
  "$fn" "$LOGS/$name.log"
  rc=$?
  dt=$(elapsed "$t0")
  if [ $rc -eq 0 ]; then
    set_step "$name" ok "$dt"
    write_json
    echo "-- gpu-check: $name ok in ${dt} s (total $(elapsed "$T_START") s)"
  else
    set_step "$name" failed "$dt"
    [ -s "$STATE/error-$name.txt" ] || echo "exited with status $rc (see $LOGS/$name.log)" >"$STATE/error-$name.txt"
    tail -n 40 "$LOGS/$name.log" >"$STATE/tail-$name.txt" 2>/dev/null || true
    write_json final
    echo "-- gpu-check: step '$name' FAILED after ${dt} s: $(cat "$STATE/error-$name.txt")" >&2
    echo "gpu-check: results in $OUT_FILE" >&2
    exit 1
  fi
}

skip_step() {
  I_STEP=$((I_STEP + 1))
  set_step "$1" skipped ""
  echo "$2" >"$STATE/note-$1.txt" # the reason, shown as the step's `note`
  echo "== gpu-check [$I_STEP/$N_STEPS] $1: skipped ($2)"
}

# Run a command with its output on the terminal and in the log; the command's status.
logged() {
  local log=$1
  shift
  "$@" 2>&1 | tee -a "$log"
  return "${PIPESTATUS[0]}"
}

# ── The machine ──────────────────────────────────────────────────────────────────────────────────
{
  echo '{'
  printf '  "node": "%s",\n' "$(node --version 2>/dev/null || echo none)"
  printf '  "cpus": %s,\n' "$(nproc 2>/dev/null || echo null)"
  printf '  "commit": "%s",\n' "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  printf '  "uncommitted_files": %s,\n' "$(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l)"
  if command -v nvidia-smi >/dev/null 2>&1; then
    printf '  "nvidia_smi": %s\n' "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(s.trim().split("\n"))))')"
  else
    printf '  "nvidia_smi": null\n'
  fi
  echo '}'
} >"$STATE/machine.json" 2>/dev/null

# ── Steps ────────────────────────────────────────────────────────────────────────────────────────
do_preflight() {
  local log=$1 missing=()
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null || missing+=("Node >= 20 (found $(node --version 2>/dev/null || echo none))")
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ -n "$NATIVE_PKG" ]; then
    { python3 -m pip --version || python -m pip --version; } >/dev/null 2>&1 || missing+=("Python 3 with pip (setup:native downloads the TensorFlow wheels with it)")
    command -v make >/dev/null 2>&1 || missing+=("make (node-gyp)")
    { command -v g++ || command -v c++; } >/dev/null 2>&1 || missing+=("a C++ compiler, g++ (node-gyp)")
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'missing: %s\n' "$(IFS=';'; echo "${missing[*]}" | sed 's/;/; /g')" | tee -a "$log" >"$STATE/error-preflight.txt"
    cat "$STATE/error-preflight.txt"
    return 1
  fi
  echo "node $(node --version), npm $(npm --version)${NATIVE_PKG:+, $(python3 -m pip --version 2>/dev/null | cut -d' ' -f1-2), $(make --version | head -1), $({ g++ --version || c++ --version; } 2>/dev/null | head -1)}" | tee -a "$log"
}

do_install() { logged "$1" npm ci --no-audit --no-fund; }

do_setup_native() { logged "$1" npm run setup:native "${SETUP_ARGS[@]}"; }

do_build() {
  logged "$1" npm run build --silent || return 1
  [ -f dist/bench/ppo-gpt2.js ] || { echo "npm run build wrote no dist/bench/ppo-gpt2.js" >"$STATE/error-build.txt"; return 1; }
}

# auto must choose tensorflow-gpu with a GPU. If it does not, the report of the forced backend says
# whether TensorFlow itself sees the GPU (a driver too old for CUDA 12, say).
do_env() {
  local log=$1
  if [ "$BACKEND" != tensorflow-gpu ]; then
    node bin/run.js env --backend "$BACKEND" --json >"$STATE/env.json" 2>>"$log"
    local rc=$?
    tee -a "$log" <"$STATE/env.json"
    [ $rc -eq 0 ] || { echo "rlhf env --backend $BACKEND --json exited with status $rc" >"$STATE/error-env.txt"; return 1; }
    echo "not the GPU check: --backend $BACKEND" | tee -a "$log"
    return 0
  fi
  node bin/run.js env --json >"$STATE/env.json" 2>>"$log"
  local rc=$?
  cat "$STATE/env.json" >>"$log"
  [ $rc -eq 0 ] || { echo "rlhf env --json exited with status $rc" >"$STATE/error-env.txt"; return 1; }
  local verdict
  verdict=$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (r.chosen === "tensorflow-gpu" && r.gpu === true) { console.log("ok"); process.exit(0); }
    const gpuAttempt = (r.attempts || []).find((a) => a.name === "tensorflow-gpu");
    const why = r.chosen === "tensorflow-gpu" ? (r.warning || "it reports gpu: false") : (gpuAttempt && gpuAttempt.reason) || "tensorflow-gpu was not tried";
    console.log(`rlhf env chose ${r.chosen} (gpu: ${r.gpu}), not tensorflow-gpu on a GPU: ${why}`);
    process.exit(1);' "$STATE/env.json" 2>&1)
  if [ "$verdict" = ok ]; then
    echo "rlhf env: tensorflow-gpu with a GPU: $(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).devices.join("; "))' "$STATE/env.json")" | tee -a "$log"
    return 0
  fi
  echo "$verdict" >"$STATE/error-env.txt"
  echo "$verdict" | tee -a "$log"
  echo "-- the forced backend's view (rlhf env --backend tensorflow-gpu --json):" | tee -a "$log"
  node bin/run.js env --backend "$BACKEND" --json >"$STATE/env-forced.json" 2>>"$log"
  tee -a "$log" <"$STATE/env-forced.json"
  return 1
}

do_tests() {
  local log=$1
  RLHF_BACKEND=$BACKEND node --test --test-reporter=tap --test-concurrency=3 "${TEST_FILES[@]}" >"$STATE/tests.tap" 2>&1
  local rc=$?
  cat "$STATE/tests.tap" >>"$log"
  node -e '
    const fs = require("fs");
    const [tap, out, rc, backend, ...files] = process.argv.slice(1);
    const text = fs.readFileSync(tap, "utf8");
    const count = (k) => { const m = new RegExp(`^# ${k} ([\\d.]+)$`, "m").exec(text); return m ? Number(m[1]) : null; };
    const r = { backend, files, exit_status: Number(rc), tests: count("tests"), pass: count("pass"), fail: count("fail"),
      skipped: count("skipped"), cancelled: count("cancelled"), todo: count("todo"), duration_ms: count("duration_ms"),
      failed_tests: [...text.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1]),
      skipped_tests: [...text.matchAll(/^\s*ok \d+ - (.*) # SKIP(.*)$/gm)].map((m) => `${m[1]}:${m[2]}`) };
    fs.writeFileSync(out, JSON.stringify(r, null, 2));
    console.log(`tests on ${r.backend}: ${r.pass} passed, ${r.fail} failed, ${r.skipped} skipped, ${r.cancelled} cancelled (of ${r.tests})`);
    if (r.failed_tests.length) console.log(`failed: ${r.failed_tests.join("; ")}`);
    process.exit(Number(rc) === 0 && r.fail === 0 && r.cancelled === 0 && r.pass > 0 ? 0 : 1);
  ' "$STATE/tests.tap" "$STATE/tests.json" "$rc" "$BACKEND" "${TEST_FILES[@]}" 2>&1 | tee -a "$log" | tee "$STATE/error-tests.txt"
  if [ "${PIPESTATUS[0]}" -eq 0 ]; then rm -f "$STATE/error-tests.txt"; return 0; fi
  return 1
}

do_bench() {
  local log=$1 file="bench/results/$BACKEND-124m.json"
  rm -f "$file"
  logged "$log" node dist/bench/run.js --backend "$BACKEND" --only-124m || return 1
  [ -f "$file" ] || { echo "the bench wrote no $file" >"$STATE/error-bench.txt"; return 1; }
  cp "$file" "$STATE/bench.json"
  # Its table, for the JSON too.
  node -e '
    const fs = require("fs");
    const [file, log] = process.argv.slice(1);
    const b = JSON.parse(fs.readFileSync(file, "utf8"));
    const lines = fs.readFileSync(log, "utf8").split("\n");
    const i = lines.lastIndexOf(`backend ${b.backend}`);
    b.table = i >= 0 ? lines.slice(i, lines.findIndex((l, j) => j > i && l.startsWith("written "))) : [];
    fs.writeFileSync(file, JSON.stringify(b, null, 2));
    if (b.train_gpt2_124m && b.train_gpt2_124m.error) { console.error(`the 124M training step failed: ${b.train_gpt2_124m.error}`); process.exit(1); }
  ' "$STATE/bench.json" "$log" 2>"$STATE/error-bench.txt" || return 1
  rm -f "$STATE/error-bench.txt"
}

do_ppo() {
  logged "$1" node dist/bench/ppo-gpt2.js --backend "$BACKEND" --iterations 5 --batch 8 --out "$STATE/ppo.json"
}

# ── Run ──────────────────────────────────────────────────────────────────────────────────────────
echo "gpu-check: $ROOT, results in $OUT_FILE, logs in $LOGS"
# --skip-install: the native package must be built already.
do_check_native() {
  local dir="node_modules/@tensorflow/$NATIVE_PKG"
  if ls "$dir"/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1; then
    echo "using the @tensorflow/$NATIVE_PKG already built in node_modules ($(node -e 'try{const m=require(process.argv[1]);console.log(`TensorFlow ${m.want.tensorflow}, built ${m.built}`)}catch{console.log("not built by setup:native")}' "$ROOT/$dir/deps/rlhf-native.json"))" | tee -a "$1"
    return 0
  fi
  echo "--skip-install, but node_modules holds no built @tensorflow/$NATIVE_PKG: run without --skip-install (npm run setup:native ${SETUP_ARGS[*]})" | tee "$STATE/error-setup-native.txt"
  return 1
}
if [ $SKIP_INSTALL -eq 1 ]; then skip_step preflight "--skip-install"; else step preflight do_preflight; fi
if [ $SKIP_INSTALL -eq 1 ]; then
  skip_step install "--skip-install"
elif [ -d node_modules ]; then
  skip_step install "node_modules exists"
else
  step install do_install
fi
if [ -z "$NATIVE_PKG" ]; then
  skip_step setup-native "the $BACKEND backend needs no native package"
elif [ $SKIP_INSTALL -eq 1 ]; then
  step setup-native do_check_native
else
  step setup-native do_setup_native
fi
if [ $SKIP_BUILD -eq 1 ]; then skip_step build "--skip-build"; else step build do_build; fi
step env do_env
step tests do_tests
step bench do_bench
step ppo do_ppo

write_json done
echo "gpu-check: all steps passed in $(elapsed "$T_START") s; results in $OUT_FILE"
