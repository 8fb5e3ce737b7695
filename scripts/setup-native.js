#!/usr/bin/env node
/**
 * `npm run setup:native [-- --gpu] [-- --force]`: install the native TensorFlow backend
 * (@tensorflow/tfjs-node, or @tensorflow/tfjs-node-gpu with --gpu) built against the TensorFlow C
 * library that PyPI's TensorFlow wheels carry.
 *
 * Why: tfjs-node(-gpu) 4.22's own install downloads libtensorflow 2.9.1 from Google's storage. That
 * host is unreachable from many networks, and 2.9.1 was built for CUDA 11.2 / cuDNN 8.1, so it does
 * not load on CUDA 12 machines and has no native Hopper kernels. The wheels on PyPI carry a current
 * libtensorflow (libtensorflow_cc.so.2 exports the whole C and eager C API the binding calls), its
 * headers, and, for the GPU, CUDA and cuDNN as nvidia-* wheels: only the NVIDIA driver is needed.
 *
 * Steps (each is skipped when its result is already there; the whole script is idempotent):
 *   1. the npm package, with `npm install --no-save --ignore-scripts` (its own install script would
 *      try the download), from the version package.json names;
 *   2. the wheels pinned in scripts/native-pins.json, from PyPI with pip, hash-checked; the parts the
 *      binding needs are unpacked into a cache (~/.cache/rlhf/native) and the wheels deleted;
 *   3. the cache is hard-linked (or copied) into the package's deps/ folder, the layout the binding's
 *      RUNPATH ($ORIGIN/../../deps/lib) expects; libtensorflow's own RUNPATH finds the CUDA libraries
 *      in deps/nvidia/<name>/lib as it finds them in site-packages. No LD_LIBRARY_PATH, no absolute
 *      links: node_modules can be moved and the cache deleted;
 *   4. the binding is compiled from source with node-pre-gyp (node-gyp; Node's own headers);
 *   5. checks: every TF_/TFE_ symbol the binding imports is exported by the library, every shared
 *      library resolves (apart from the driver's libcuda), and a child Node process loads the backend
 *      and multiplies two matrices.
 * Uses no host but the npm registry and PyPI. Linux x86_64 only (the pinned wheels).
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const PINS = JSON.parse(fs.readFileSync(path.join(__dirname, 'native-pins.json'), 'utf8'));
const MARKER = 'rlhf-native.json';

const args = process.argv.slice(2);
for (const a of args) if (!['--gpu', '--force', '--help', '-h'].includes(a)) fail(`unknown argument '${a}' (use --gpu, --force)`);
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: npm run setup:native [-- --gpu] [-- --force]\n  --gpu    @tensorflow/tfjs-node-gpu with CUDA 12 and cuDNN 9 from nvidia-* wheels\n  --force  rebuild even if the backend is installed and loads');
  process.exit(0);
}
const GPU = args.includes('--gpu');
const FORCE = args.includes('--force');
const VARIANT = GPU ? 'gpu' : 'cpu';
const PKG = GPU ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
const PKG_VERSION = require(path.join(ROOT, 'package.json')).optionalDependencies[PKG];
const PKG_DIR = path.join(ROOT, 'node_modules', ...PKG.split('/'));
const WANT = { package: PKG, packageVersion: PKG_VERSION, tensorflow: PINS.tensorflow, variant: VARIANT, wheels: PINS[VARIANT] };

function fail(msg) {
  console.error(`setup:native: ${msg}`);
  process.exit(1);
}
function step(msg) {
  console.error(`setup:native: ${msg}`);
}
/** Run a command, inheriting stderr; fail with its name on a non-zero exit. */
/**
 * Run a command and return its stdout. Its output is shown only if it fails (`quiet`), or passed
 * through (`show`); a non-zero exit ends the setup with the command's name.
 */
function run(cmd, argv, { show = false, ...opts } = {}) {
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'pipe', show ? 'inherit' : 'pipe'], encoding: 'utf8', maxBuffer: 1 << 30, ...opts });
  if (r.error) fail(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    if (!show) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    fail(`${cmd} ${argv.slice(0, 3).join(' ')} … exited with ${r.status}`);
  }
  return r.stdout;
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`the pinned wheels are for Linux x86_64, not ${process.platform} ${process.arch}; use \`npm install ${PKG}@${PKG_VERSION}\` (Google's prebuilt libtensorflow) where its download works`);
}

// ── 0. Already installed? ────────────────────────────────────────────────────────────────────────
function installedMarker() {
  try {
    return JSON.parse(fs.readFileSync(path.join(PKG_DIR, 'deps', MARKER), 'utf8'));
  } catch {
    return undefined;
  }
}
/** Load the backend in a child process (so a crash cannot take this one down); its report or an error. */
function loadCheck() {
  const code = `
    process.env.TF_CPP_MIN_LOG_LEVEL = '2';
    const tf = require('@tensorflow/tfjs');
    require(${JSON.stringify(PKG)});
    tf.setBackend('tensorflow').then(() => {
      const b = tf.backend();
      const c = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).arraySync();
      if (JSON.stringify(c) !== '[[19,22],[43,50]]') throw new Error('wrong matMul result ' + JSON.stringify(c));
      console.log(JSON.stringify({ tf: b.binding.TF_Version, gpu: b.isUsingGpuDevice }));
    }).catch((e) => { console.error(e.message); process.exit(1); });`;
  // LD_BIND_NOW: resolve every symbol at load, so that a missing one fails here and not mid-run.
  const r = spawnSync(process.execPath, ['-e', code], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, LD_BIND_NOW: '1' } });
  const line = (r.stdout || '').trim().split('\n').pop();
  if (r.status === 0 && line) return JSON.parse(line);
  return { error: ((r.stderr || '').trim().split('\n').pop() || `exit ${r.status}`).slice(0, 300) };
}

const marker = installedMarker();
if (!FORCE && marker && JSON.stringify(marker.want) === JSON.stringify(WANT)) {
  const loaded = loadCheck();
  if (!loaded.error) {
    step(`${PKG} ${PKG_VERSION} with TensorFlow ${loaded.tf} is installed and loads${GPU ? (loaded.gpu ? ' (GPU visible)' : ' (no GPU visible: it would run on the CPU)') : ''}; nothing to do (--force rebuilds)`);
    process.exit(0);
  }
  step(`installed, but does not load (${loaded.error}); rebuilding`);
}

// ── 1. The npm package, without its install script ───────────────────────────────────────────────
if (!fs.existsSync(path.join(PKG_DIR, 'binding.gyp'))) {
  step(`installing ${PKG}@${PKG_VERSION} (without its install script, which would download libtensorflow)`);
  // --no-save: package.json and the lock already list it as an optional dependency.
  run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `${PKG}@${PKG_VERSION}`], { cwd: ROOT, show: true });
}
const installedVersion = JSON.parse(fs.readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8')).version;
if (installedVersion !== PKG_VERSION) fail(`${PKG_DIR} holds version ${installedVersion}, package.json asks for ${PKG_VERSION}; run npm ci first`);

// ── 2. The wheels, unpacked into the cache ───────────────────────────────────────────────────────
const cacheRoot = process.env.RLHF_NATIVE_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'rlhf', 'native');
const cacheDir = path.join(cacheRoot, `tensorflow-${PINS.tensorflow}-${VARIANT}-linux-x86_64`);
const treeDir = path.join(cacheDir, 'tree');
const cacheDone = path.join(cacheDir, 'complete.json');

function python() {
  for (const p of ['python3', 'python']) {
    const r = spawnSync(p, ['-m', 'pip', '--version'], { encoding: 'utf8' });
    if (r.status === 0) return p;
  }
  fail('needs Python 3 with pip (to download the TensorFlow wheels from PyPI)');
}

// What to take from each wheel: [path prefix in the wheel, where it goes under deps/].
// The binding's headers are the C API and the tstring headers it includes (see binding/*.cc).
const TF_MEMBERS = [
  ['tensorflow/libtensorflow_cc.so.2', 'lib/libtensorflow_cc.so.2'],
  ['tensorflow/libtensorflow_framework.so.2', 'lib/libtensorflow_framework.so.2'],
  ['tensorflow/include/tensorflow/c/', 'include/tensorflow/c/'],
  ['tensorflow/include/tensorflow/core/platform/', 'include/tensorflow/core/platform/'],
  ['tensorflow/include/tsl/platform/', 'include/tsl/platform/'],
  ['tensorflow/include/xla/tsl/c/', 'include/xla/tsl/c/'],
];
// CUDA libraries keep the site-packages layout libtensorflow's RUNPATH points at ($ORIGIN/../nvidia/*/lib).
const NVIDIA_MEMBERS = [['nvidia/', 'nvidia/']];
const NVIDIA_SKIP = '/include/';

const EXTRACT_PY = `
import json, os, shutil, sys, zipfile
wheel, dest, members, skip = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name.endswith('/') or (skip and skip in name):
            continue
        for src, dst in members:
            if name == src or (src.endswith('/') and name.startswith(src)):
                out = os.path.join(dest, dst + name[len(src):]) if src.endswith('/') else os.path.join(dest, dst)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with z.open(info) as f, open(out + '.part', 'wb') as g:
                    shutil.copyfileobj(f, g, 1 << 22)
                os.replace(out + '.part', out)
                mode = (info.external_attr >> 16) & 0o777
                os.chmod(out, mode or 0o644)
                n += 1
print(n)
`;

if (!fs.existsSync(cacheDone)) {
  const py = python();
  const wheelDir = path.join(cacheDir, 'wheels');
  fs.rmSync(treeDir, { recursive: true, force: true });
  fs.mkdirSync(wheelDir, { recursive: true });
  const req = path.join(wheelDir, 'requirements.txt');
  fs.writeFileSync(req, PINS[VARIANT].map((w) => `${w.name}==${w.version} --hash=sha256:${w.sha256}\n`).join(''));
  const size = GPU ? 'about 3.3 GB' : 'about 270 MB';
  step(`downloading ${PINS[VARIANT].map((w) => `${w.name}==${w.version}`).join(', ')} from PyPI (${size}, hash-checked)`);
  // --platform/--python-version pick the pinned files whatever this Python's version is: only the
  // C libraries inside are used, never the Python package.
  const tags = PINS.platforms.flatMap((p) => ['--platform', p]);
  run(py, ['-m', 'pip', 'download', '--no-deps', '--no-cache-dir', '--only-binary=:all:', ...tags, '--python-version', PINS.python,
    '--implementation', 'cp', '--abi', `cp${PINS.python.replace('.', '')}`, '--abi', 'none', '--require-hashes', '-r', req, '-d', wheelDir], { show: true });
  for (const w of fs.readdirSync(wheelDir).filter((f) => f.endsWith('.whl'))) {
    const isTf = /^tensorflow/.test(w);
    const members = isTf ? TF_MEMBERS : NVIDIA_MEMBERS;
    step(`unpacking ${w}`);
    const n = Number(run(py, ['-c', EXTRACT_PY, path.join(wheelDir, w), treeDir, JSON.stringify(members), isTf ? '' : NVIDIA_SKIP]).trim());
    if (!(n > 0)) fail(`${w} held none of the expected files (${members.map((m) => m[0]).join(', ')})`);
  }
  for (const [, dst] of TF_MEMBERS.slice(0, 2)) if (!fs.existsSync(path.join(treeDir, dst))) fail(`the TensorFlow wheel lacks ${path.basename(dst)}`);
  // The names the binding links against (-ltensorflow -ltensorflow_framework): relative links.
  fs.symlinkSync('libtensorflow_cc.so.2', path.join(treeDir, 'lib', 'libtensorflow.so'));
  fs.symlinkSync('libtensorflow_framework.so.2', path.join(treeDir, 'lib', 'libtensorflow_framework.so'));
  fs.rmSync(wheelDir, { recursive: true, force: true });
  fs.writeFileSync(cacheDone, JSON.stringify({ want: WANT, date: new Date().toISOString() }, null, 2));
} else {
  step(`using the cached TensorFlow ${PINS.tensorflow} (${VARIANT}) in ${cacheDir}`);
}

// ── 3. Into the package's deps/ ──────────────────────────────────────────────────────────────────
/** Mirror `src` into `dst`: hard links where the file system allows (no extra space), else copies. */
function mirror(src, dst) {
  fs.mkdirSync(dst, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    if (e.isDirectory()) mirror(s, d);
    else if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(s), d);
    else {
      try {
        fs.linkSync(s, d);
      } catch {
        fs.copyFileSync(s, d);
      }
    }
  }
}
const depsDir = path.join(PKG_DIR, 'deps');
// deps/ belongs to the package's install (its own script downloads into it); a failed or foreign
// one is replaced whole.
fs.rmSync(depsDir, { recursive: true, force: true });
mirror(treeDir, depsDir);

// ── 4. Build the binding from source ─────────────────────────────────────────────────────────────
const env = { ...process.env, npm_config_build_from_source: 'true' };
if (!env.npm_config_nodedir) {
  // Node's headers ship with distribution packages (/usr/include/node); node-gyp would otherwise
  // download them from nodejs.org.
  const prefix = path.dirname(path.dirname(process.execPath));
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
  else step(`Node's headers are not under ${prefix}/include/node: node-gyp will try to download them`);
}
const preGyp = require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', { paths: [PKG_DIR] });
step('compiling the TensorFlow binding (node-gyp)');
fs.rmSync(path.join(PKG_DIR, 'build'), { recursive: true, force: true });
run(process.execPath, [preGyp, 'install', '--build-from-source'], { cwd: PKG_DIR, env });
const bindingDir = path.join(PKG_DIR, 'lib');
const bindingFile = fs
  .readdirSync(bindingDir)
  .filter((d) => d.startsWith('napi-v'))
  .map((d) => path.join(bindingDir, d, 'tfjs_binding.node'))
  .find((f) => fs.existsSync(f));
if (!bindingFile) fail(`node-pre-gyp reported success but wrote no tfjs_binding.node under ${bindingDir}`);

// ── 5. Checks ────────────────────────────────────────────────────────────────────────────────────
function symbols(file, kind) {
  const out = run('nm', ['-D', kind === 'defined' ? '--defined-only' : '--undefined-only', file]);
  return new Set(out.split('\n').map((l) => l.trim().split(/\s+/).pop().split('@')[0]).filter((s) => /^TFE?_/.test(s)));
}
if (spawnSync('nm', ['--version']).status === 0) {
  const exported = new Set([...symbols(path.join(depsDir, 'lib', 'libtensorflow_cc.so.2'), 'defined'), ...symbols(path.join(depsDir, 'lib', 'libtensorflow_framework.so.2'), 'defined')]);
  const needed = [...symbols(bindingFile, 'undefined')];
  const missing = needed.filter((s) => !exported.has(s));
  if (missing.length) fail(`libtensorflow ${PINS.tensorflow} does not export ${missing.length} function(s) the binding calls: ${missing.join(', ')}`);
  step(`libtensorflow exports all ${needed.length} TF_/TFE_ functions the binding calls`);
} else {
  step('nm (binutils) not found: the export check is left to the load check below');
}
if (spawnSync('ldd', ['--version']).status === 0) {
  // Every shared library must resolve through RUNPATHs alone, except the driver's libcuda.
  const libs = [bindingFile];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.so(\.\d+)*$/.test(e.name) && !e.isSymbolicLink()) libs.push(p);
    }
  };
  walk(path.join(depsDir, GPU ? 'nvidia' : 'lib'));
  const env2 = { ...process.env };
  delete env2.LD_LIBRARY_PATH;
  const unresolved = [];
  for (const lib of libs) {
    const out = spawnSync('ldd', [lib], { encoding: 'utf8', env: env2 }).stdout || '';
    for (const m of out.matchAll(/^\s*(\S+) => not found/gm)) if (!/^libcuda\.so/.test(m[1])) unresolved.push(`${path.relative(PKG_DIR, lib)} needs ${m[1]}`);
  }
  if (unresolved.length) fail(`shared libraries that do not resolve without LD_LIBRARY_PATH:\n  ${unresolved.join('\n  ')}`);
  step(`${libs.length} shared libraries resolve without LD_LIBRARY_PATH${GPU ? ' (libcuda.so.1 comes with the NVIDIA driver)' : ''}`);
}
const loaded = loadCheck();
if (loaded.error) fail(`the built backend does not load: ${loaded.error}`);
if (loaded.tf !== PINS.tensorflow) fail(`the backend loaded TensorFlow ${loaded.tf}, expected ${PINS.tensorflow}`);
fs.writeFileSync(path.join(depsDir, MARKER), JSON.stringify({ want: WANT, built: new Date().toISOString(), node: process.version }, null, 2));
step(`${PKG} ${PKG_VERSION} now runs on TensorFlow ${loaded.tf}` + (GPU ? (loaded.gpu ? ', with a GPU' : '; no GPU is visible here, so it runs on the CPU (rlhf --backend auto will not pick it)') : '') + '. `rlhf env` shows the choice.');
