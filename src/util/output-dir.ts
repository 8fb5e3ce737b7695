/**
 * Where rlhf writes: the one rule for every output directory (the commands' --out and the stage
 * directories of `rlhf run`), so that nothing of the user's is ever deleted or mixed into.
 *
 *   1. Writable first. An output is checked before any compute: the directory is created (or the
 *      parent of an output file) and a probe file is written and removed there, so a path under a
 *      regular file (ENOTDIR), a read-only disk (EROFS) or a missing permission (EACCES) is an error
 *      that names the path and the reason at once, not after an hour of training.
 *   2. Own or foreign. rlhf marks every output directory it creates with `.rlhf-output.json`
 *      (OUTPUT_MARKER: the command, when it started, whether it finished). A directory with the
 *      marker, or one rlhf's pipeline wrote (a manifest.json, config.resolved.yaml) or one with an
 *      rlhf checkpoint, is rlhf's own. A non-empty directory without any of these is foreign:
 *      refused unless the user passes --overwrite.
 *   3. Replace, never mix. A fresh run into a directory removes the entries it is about to write
 *      (`writes`: metrics.jsonl, model/, checkpoint/, …) first, so metrics.jsonl is never appended to
 *      an old run's and an old model never sits beside new metrics. Other entries are left alone.
 *   4. Never delete what rlhf did not write. Before an entry is removed, every file in it is checked
 *      against the names rlhf writes (RUN_FILES; MODEL_FILE inside model/ and critic/;
 *      CHECKPOINT_FILE inside checkpoint/; rlhf's temporary names anywhere). A file of another name
 *      (a user's notes in OUT/model/) stops the run with the list of such files, unless --overwrite.
 *   5. A checkpoint is never thrown away silently: a directory whose last run did not finish and
 *      that holds checkpoint/state.json is refused without --resume (continue) or --restart (discard).
 *
 * Output FILES named by the user (rank --out, report --out) are replaced atomically: the user named
 * them. They are checked for writability (rule 1) and must not be directories.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from './fs';

/** The marker rlhf writes into every output directory it prepares (hidden: not hashed, not listed by hub tools). */
export const OUTPUT_MARKER = '.rlhf-output.json';

export interface OutputMarker {
  written_by: 'rlhf';
  /** The command that wrote the directory (sft, pretrain, train-rm, ppo, sample, probe, run). */
  command: string;
  started_at: string;
  /** False from the start of a run until it ended well: a crash, Ctrl-C or error leaves false (not kept for a run_dir: its stages' manifests say it). */
  finished?: boolean;
  finished_at?: string;
}

/** Files rlhf writes at the top of an output directory (or a unit directory inside one). */
export const RUN_FILES: ReadonlySet<string> = new Set([
  OUTPUT_MARKER,
  'manifest.json',
  'unit.json',
  'config.resolved.yaml',
  'metrics.jsonl',
  'summary.json',
  'diagnostics.json',
  'samples.jsonl',
  'samples.meta.json',
  'rankings.jsonl',
  'heldout.rankings.jsonl',
  'probe.json',
  'report.html',
]);

/** Files of a Hugging Face model directory as saveModel writes it (model/, critic/). */
export const MODEL_FILE =
  /^(config\.json|generation_config\.json|model\.safetensors|model\.safetensors\.index\.json|model-\d{5}-of-\d{5}\.safetensors|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json|vocab\.json|merges\.txt)$/;

/** Files of a training checkpoint as saveTrainState writes it (checkpoint/). */
export const CHECKPOINT_FILE = /^(state\.json|weights\.safetensors|optimizer\.safetensors)$/;

/** Directories inside an output directory whose files follow MODEL_FILE / CHECKPOINT_FILE. */
const MODEL_DIRS: ReadonlySet<string> = new Set(['model', 'critic']);
const CHECKPOINT_DIR = 'checkpoint';

/**
 * rlhf's temporary names (leftovers of a crash mid-write, removed with the outputs):
 * writeFileAtomic/JsonlWriter `.<name>.<pid>.<ms>.tmp`, mkdtemp `.<name>.tmp-XXXXXX`, replaceDir
 * `.<name>.old-<pid>-<ms>` (and the unhidden `model.old-<pid>-<ms>` of earlier versions), the probe
 * file. The patterns are exact (13-digit milliseconds) so that no user's file is taken for one.
 */
const TEMP_NAMES = [
  /^\..+\.\d+\.\d{13}\.tmp$/,
  /^\..+\.tmp-[A-Za-z0-9]{6}$/,
  /^\..+\.old-\d+-\d{13}$/,
  /^(model|critic|checkpoint)\.old-\d+-\d{13}$/,
  /^\.rlhf-write-probe\.\d+$/,
];
export function isTempName(name: string): boolean {
  return TEMP_NAMES.some((re) => re.test(name));
}

/** The errno codes of a failed write, in words (pipeline/run-dir uses those that only a write gives). */
export const WRITE_CODES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'a file of that name is in the way',
  EFBIG: 'file too large',
  EISDIR: 'is a directory',
  ENOENT: 'a part of the path does not exist',
};

/** An output that rlhf will not write to: the path, why, and what to do. */
export class OutputError extends Error {
  constructor(
    readonly path: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** A directory's last run did not finish and left a checkpoint: continue it or discard it, explicitly. */
export class UnfinishedRunError extends OutputError {
  constructor(
    dir: string,
    readonly step: number,
    readonly command: string,
  ) {
    super(
      dir,
      `${command}: the last run in ${dir} did not finish; its checkpoint at step ${step} is in ${path.join(dir, CHECKPOINT_DIR)}. ` +
        `Nothing was changed. Pass --resume to continue from step ${step}, or --restart to discard the checkpoint and start again from the beginning.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Writability
// ---------------------------------------------------------------------------------------------

/** The nearest path at or above `p` that exists. */
function nearestExisting(p: string): string {
  let d = path.resolve(p);
  while (!fs.existsSync(d)) {
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  return d;
}

/** An error from fs turned into an OutputError that names `target` and says why in words. */
function writeError(target: string, what: string, err: unknown): OutputError {
  const code = (err as NodeJS.ErrnoException).code;
  let why = code && WRITE_CODES[code] ? `${WRITE_CODES[code]} (${code})` : (err as Error).message;
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    // Name the file in the way: the nearest existing part of the path.
    const blocker = nearestExisting(target);
    if (fs.existsSync(blocker) && !fs.statSync(blocker).isDirectory()) why = `${blocker} is a file, not a directory (${code})`;
  }
  return new OutputError(target, `cannot write ${what} ${target}: ${why}. Nothing was computed yet; choose another path or fix this one.`, code);
}

/**
 * Make sure `dir` is a directory rlhf can write files in: create it (and its parents) if needed,
 * then write and remove a probe file. Throws an OutputError naming the path; returns whether the
 * directory was created.
 */
export function ensureWritableDir(dir: string, what = 'to the output directory'): boolean {
  const abs = path.resolve(dir);
  const existed = fs.existsSync(abs);
  if (existed && !fs.statSync(abs).isDirectory()) throw new OutputError(abs, `cannot write ${what} ${abs}: it is a file, not a directory. Nothing was computed yet; choose another path.`, 'ENOTDIR');
  try {
    fs.mkdirSync(abs, { recursive: true });
  } catch (err) {
    throw writeError(abs, what, err);
  }
  const probe = path.join(abs, `.rlhf-write-probe.${process.pid}`);
  try {
    fs.writeFileSync(probe, 'rlhf');
  } catch (err) {
    throw writeError(abs, what, err);
  } finally {
    fs.rmSync(probe, { force: true });
  }
  return !existed;
}

/** Make sure `file` can be written (atomically: temp file + rename in its directory) before computing it. */
export function ensureWritableFile(file: string, what = 'the output file'): void {
  const abs = path.resolve(file);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new OutputError(abs, `cannot write ${what} ${abs}: it is a directory. Give a file name.`, 'EISDIR');
  ensureWritableDir(path.dirname(abs), `${what} ${abs} into`);
}

// ---------------------------------------------------------------------------------------------
// 2. Own or foreign
// ---------------------------------------------------------------------------------------------

export function readMarker(dir: string): OutputMarker | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, OUTPUT_MARKER), 'utf8')) as OutputMarker;
    return m && m.written_by === 'rlhf' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Files whose presence shows rlhf wrote the directory (the marker, or what older versions and the pipeline write). */
const OWNERSHIP_PROOFS = [OUTPUT_MARKER, 'manifest.json', 'config.resolved.yaml', path.join(CHECKPOINT_DIR, 'state.json')];

/** Did rlhf write this directory? */
export function isOwnOutputDir(dir: string): boolean {
  return OWNERSHIP_PROOFS.some((f) => fs.existsSync(path.join(dir, f)));
}

/** Entries of a directory, leaving out rlhf's own temporary leftovers. */
function entries(dir: string): fs.Dirent[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => !isTempName(e.name));
}

/**
 * Files under `p` (paths relative to `base`) that rlhf does not write there. `p` is an entry of an
 * output directory: a file must be one of RUN_FILES; model/ and critic/ hold MODEL_FILE names,
 * checkpoint/ CHECKPOINT_FILE names (no sub-directories); any other sub-directory is a unit of
 * the output (a reward model per utility, a run of a sweep): the same rules again.
 */
export function foreignFiles(p: string, base = path.dirname(p)): string[] {
  const name = path.basename(p);
  const rel = path.relative(base, p);
  if (isTempName(name)) return [];
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.isFile() && RUN_FILES.has(name) ? [] : [rel];
  const children = fs.readdirSync(p).map((c) => path.join(p, c));
  if (MODEL_DIRS.has(name)) return children.flatMap((c) => filesNotMatching(c, base, MODEL_FILE));
  if (name === CHECKPOINT_DIR) return children.flatMap((c) => filesNotMatching(c, base, CHECKPOINT_FILE));
  return children.flatMap((c) => foreignFiles(c, base));
}

/** [] when `p` is a plain file whose name matches (or one of rlhf's temporary names), else its relative path. */
function filesNotMatching(p: string, base: string, names: RegExp): string[] {
  const name = path.basename(p);
  if (isTempName(name)) return [];
  const st = fs.lstatSync(p);
  return st.isFile() && names.test(name) ? [] : [path.relative(base, p) + (st.isDirectory() ? path.sep : '')];
}

/**
 * Files in a model or checkpoint directory that neither saveModel nor saveTrainState writes (what
 * replaceDir checks before it removes the old directory).
 */
export function foreignFilesInModelDir(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const either = new RegExp(`${MODEL_FILE.source}|${CHECKPOINT_FILE.source}`);
  return fs.readdirSync(dir).flatMap((c) => filesNotMatching(path.join(dir, c), dir, either));
}

function listForMessage(files: string[], max = 5): string {
  return files.slice(0, max).join(', ') + (files.length > max ? ` and ${files.length - max} more` : '');
}

// ---------------------------------------------------------------------------------------------
// 3 + 4. Replace rlhf's own entries, never the user's
// ---------------------------------------------------------------------------------------------

export interface ClearOptions {
  /** Top-level entries (file or directory names) the coming run writes. */
  writes: readonly string[];
  /** The directory is rlhf's (isOwnOutputDir, or the caller knows). */
  own: boolean;
  /** Remove entries in `writes` even when they hold files rlhf did not write. */
  overwrite?: boolean;
  /**
   * Also clear other sub-directories that look like units of a pipeline stage from an earlier
   * config (a utility no longer listed, a sweep run renamed): rlhf run files, model/ or checkpoint/
   * at their top and no marker of their own. What rlhf wrote in them goes; anything else stays.
   */
  staleUnits?: boolean;
  /** Entries never removed (the caller rewrites them itself, e.g. manifest.json). */
  keep?: readonly string[];
  /** Flag spelled in the refusal, e.g. '--overwrite'. */
  overwriteFlag?: string;
  /** Prefix of the refusal (the command), e.g. 'sft'. */
  label?: string;
}

/**
 * Remove what a fresh run into `dir` replaces: the entries of `writes` (and stale units), after
 * checking that none of them holds a file rlhf did not write. Nothing is removed when the check
 * fails. Returns the names removed.
 */
export function clearOutputs(dir: string, o: ClearOptions): string[] {
  const remove: string[] = [];
  const stale: string[] = [];
  const atRisk: string[] = [];
  for (const e of entries(dir)) {
    if (o.keep?.includes(e.name) || e.name === OUTPUT_MARKER) continue;
    const p = path.join(dir, e.name);
    if (o.writes.includes(e.name)) {
      const foreign = foreignFiles(p, dir);
      if (foreign.length === 0 || o.overwrite) remove.push(p);
      else atRisk.push(...foreign);
    } else if (o.own && o.staleUnits && e.isDirectory() && isStaleUnit(p)) stale.push(p);
  }
  if (atRisk.length) {
    throw new OutputError(
      dir,
      `${o.label ? `${o.label}: ` : ''}${dir} holds files rlhf did not write where this run writes its outputs: ${listForMessage(atRisk)}. ` +
        `Nothing was changed. Move them away, choose another output directory, or pass ${o.overwriteFlag ?? '--overwrite'} to replace them.`,
    );
  }
  // Leftovers of a crashed atomic write are rlhf's: they go too.
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) if (isTempName(name) && !name.startsWith('.rlhf-write-probe')) remove.push(path.join(dir, name));
  for (const p of remove) fs.rmSync(p, { recursive: true, force: true });
  // A stale unit loses what rlhf wrote in it; what else is there stays (and so does the folder then).
  for (const u of stale) {
    for (const e of fs.readdirSync(u)) {
      const p = path.join(u, e);
      if (foreignFiles(p, u).length === 0) fs.rmSync(p, { recursive: true, force: true });
    }
    if (fs.readdirSync(u).length === 0) fs.rmdirSync(u);
    remove.push(u);
  }
  return remove.map((p) => path.basename(p));
}

/** A sub-directory that is a unit of a pipeline stage (an earlier config's): an rlhf run file or model/checkpoint at its top, no marker of its own. */
function isStaleUnit(p: string): boolean {
  const top = fs.readdirSync(p);
  if (top.includes(OUTPUT_MARKER)) return false; // another command's output directory
  return top.some((f) => (RUN_FILES.has(f) && f !== 'manifest.json') || f === CHECKPOINT_DIR || MODEL_DIRS.has(f));
}

// ---------------------------------------------------------------------------------------------
// The whole rule for a command's --out directory
// ---------------------------------------------------------------------------------------------

export interface PrepareOptions {
  /** The command (for the marker and messages). */
  command: string;
  /** Top-level entries it writes (files and directories), e.g. ['metrics.jsonl', 'model', 'checkpoint']. */
  writes: readonly string[];
  /** --overwrite: write into a non-empty foreign directory, replacing entries of the same names. */
  overwrite?: boolean;
  /** --resume (training commands): keep the checkpoint and the log, the trainer continues from them. */
  resume?: boolean;
  /** --restart (training commands): discard an unfinished run's checkpoint explicitly. */
  restart?: boolean;
}

export interface PreparedOutput {
  dir: string;
  /** How the directory was found. */
  state: 'created' | 'empty' | 'own' | 'foreign';
  /** Entries of an earlier run that were removed. */
  removed: string[];
  /** Step of the checkpoint kept for --resume (undefined: none, the run starts at step 0). */
  resumeStep?: number;
}

/** Step of OUT/checkpoint, or undefined when there is no complete checkpoint. */
export function checkpointStepIn(dir: string): number | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(dir, CHECKPOINT_DIR, 'state.json'), 'utf8')) as { step?: unknown };
    return typeof s.step === 'number' && Number.isFinite(s.step) ? s.step : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Before a command computes anything: check `dir` (rules 1–5 above), clear what the run will
 * replace, and write the marker with finished: false. Call finishOutputDir when the run ended well.
 */
export function prepareOutputDir(dir: string, o: PrepareOptions): PreparedOutput {
  const abs = path.resolve(dir);
  const created = ensureWritableDir(abs);
  const present = entries(abs);
  const own = isOwnOutputDir(abs);
  const state: PreparedOutput['state'] = created ? 'created' : present.length === 0 ? 'empty' : own ? 'own' : 'foreign';
  if (state === 'foreign' && !o.overwrite) {
    throw new OutputError(
      abs,
      `${o.command}: ${abs} is not empty and was not written by rlhf (${listForMessage(present.map((e) => e.name + (e.isDirectory() ? path.sep : '')))}). ` +
        `Nothing was changed. Choose a new or empty directory, or pass --overwrite to write into it (rlhf's outputs ${o.writes.join(', ')} replace entries of the same names; other files are left alone).`,
    );
  }
  if (o.resume && o.restart) throw new OutputError(abs, `${o.command}: --resume and --restart exclude each other`);

  // A checkpoint of a run that did not finish is not thrown away without being asked to.
  const step = o.writes.includes(CHECKPOINT_DIR) ? checkpointStepIn(abs) : undefined;
  const marker = readMarker(abs);
  if (step !== undefined && marker?.finished !== true && !o.resume && !o.restart) throw new UnfinishedRunError(abs, step, o.command);

  let removed: string[] = [];
  let resumeStep: number | undefined;
  if (o.resume && step !== undefined) resumeStep = step; // keep all: the trainer continues and cuts its log back
  else removed = clearOutputs(abs, { writes: o.writes, own: state === 'own', overwrite: o.overwrite, label: o.command });

  const m: OutputMarker = { written_by: 'rlhf', command: o.command, started_at: new Date().toISOString(), finished: false };
  writeJsonAtomic(path.join(abs, OUTPUT_MARKER), m);
  return { dir: abs, state, removed, resumeStep };
}

/** The run into `dir` ended well: its marker says finished (a later run may replace it without --restart). */
export function finishOutputDir(dir: string): void {
  const f = path.join(path.resolve(dir), OUTPUT_MARKER);
  const m = readMarker(path.dirname(f));
  writeJsonAtomic(f, { ...(m ?? { written_by: 'rlhf', command: 'unknown', started_at: new Date().toISOString() }), finished: true, finished_at: new Date().toISOString() });
}
