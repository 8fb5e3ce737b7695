/**
 * The run directory: one sub-directory per stage with its artifacts and a manifest.
 *
 *   RUN/config.resolved.yaml
 *   RUN/<stage>/manifest.json   { stage, config_hash, inputs: {path: sha256}, upstream: {stage: config_hash},
 *                                 config, finished, started_at, finished_at, seconds, resumed, error?, summary }
 *
 * config_hash = sha256 of (stage, the stage's resolved config, the seed, the content hashes of its
 * inputs, the config_hash of every upstream stage whose artifacts it reads). So a stage is up to
 * date exactly when nothing it depends on changed; a change anywhere upstream changes the hashes
 * of everything after it. Input paths are not hashed (moving a file does not re-run anything),
 * their contents are. Manifests are written atomically; `finished: false` marks a stage that
 * started and did not end (crash, kill, Ctrl-C, error).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs';
import { clearOutputs, ensureWritableDir, isOwnOutputDir, isTempName, OUTPUT_MARKER, OutputError, OutputMarker, WRITE_CODES } from '../util/output-dir';
import { StageName, STAGES } from './config';

export interface StageManifest {
  stage: StageName;
  config_hash: string;
  /** Input path (or hub:id) → sha256 of its content (a directory: of its files). */
  inputs: Record<string, string>;
  /** Upstream stage → its config_hash when this stage ran. */
  upstream: Partial<Record<StageName, string>>;
  /** The stage's resolved config (what was hashed). */
  config: unknown;
  finished: boolean;
  started_at: string;
  finished_at?: string;
  seconds?: number;
  /** This run continued from a checkpoint (--resume). */
  resumed?: boolean;
  /** Why the stage stopped, when it did not finish. */
  error?: string;
  summary?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------------

/** JSON with sorted keys (undefined dropped), so equal values hash equally. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

export function sha256(data: string | Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export function hashConfig(v: unknown): string {
  return sha256(canonicalJson(v));
}

// Files are hashed once per process unless they change (size, mtime).
const fileHashCache = new Map<string, { size: number; mtimeMs: number; hash: string }>();

function hashFile(file: string): string {
  const st = fs.statSync(file);
  const hit = fileHashCache.get(file);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.hash;
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  const hash = h.digest('hex');
  fileHashCache.set(file, { size: st.size, mtimeMs: st.mtimeMs, hash });
  return hash;
}

/**
 * sha256 of a file's bytes, or of a directory: its files in sorted order, each as
 * (relative path, file hash). Hidden entries (temporary files of atomic writes) and
 * `checkpoint/` directories (resume state, not results) are left out. `hub:<id>` hashes the id.
 */
export function hashPath(p: string): string {
  if (p.startsWith('hub:')) return sha256(p);
  const st = fs.statSync(p);
  if (st.isFile()) return hashFile(p);
  const h = crypto.createHash('sha256');
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      if (name.startsWith('.') || name === 'checkpoint') continue;
      const full = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const s = fs.statSync(full);
      if (s.isDirectory()) walk(full, r);
      else if (s.isFile()) h.update(`${r}\0${hashFile(full)}\n`);
    }
  };
  walk(p, '');
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Write errors
// ---------------------------------------------------------------------------------------------

/** Codes that mean a write failed (ENOENT and EEXIST are left out: a failed read gives them too). */
const RUN_WRITE_CODES = ['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EFBIG', 'EISDIR'];

/** The errno code of a failed write (also when util/fs wrapped the error into its message). */
export function writeErrorCode(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code && RUN_WRITE_CODES.includes(e.code)) return e.code;
  const m = /\b(ENOSPC|EDQUOT|EACCES|EPERM|EROFS|ENOTDIR|EFBIG|EISDIR)\b/.exec(String(e?.message ?? ''));
  return m?.[1];
}

/** The path named in a write error: err.path, or "could not write X:" from util/fs. */
export function writeErrorPath(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.path) return e.path;
  return /could not write (.+?): /.exec(String(e?.message ?? ''))?.[1];
}

/** Thrown when the run directory cannot be written: names the path and the reason. */
export class RunDirWriteError extends Error {
  constructor(
    readonly file: string,
    readonly code: string,
    readonly stage?: string,
  ) {
    super(
      `${stage ? `${stage}: ` : ''}cannot write ${file}: ${WRITE_CODES[code] ?? code} (${code}). ` +
        `Nothing already written was changed (artifacts are replaced atomically). ` +
        (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG'
          ? 'Free some space, then run the same command again with --resume.'
          : 'Choose a writable run_dir (e.g. --set run_dir=/tmp/my-run) or fix the permissions.'),
    );
  }
}

/** A RunDirWriteError for an error that is a failed write, else undefined. */
export function asWriteError(err: unknown, fallbackPath: string, stage?: string): RunDirWriteError | undefined {
  if (err instanceof RunDirWriteError) return err;
  if (err instanceof OutputError) return undefined; // already says which path and why
  const code = writeErrorCode(err);
  return code ? new RunDirWriteError(writeErrorPath(err) ?? fallbackPath, code, stage) : undefined;
}

// ---------------------------------------------------------------------------------------------
// The directory
// ---------------------------------------------------------------------------------------------

export class RunDir {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  stageDir(stage: StageName): string {
    return path.join(this.root, stage);
  }

  manifestFile(stage: StageName): string {
    return path.join(this.stageDir(stage), 'manifest.json');
  }

  get resolvedConfigFile(): string {
    return path.join(this.root, 'config.resolved.yaml');
  }

  /** The manifest, or undefined when there is none (or it cannot be parsed: then the stage re-runs). */
  readManifest(stage: StageName): StageManifest | undefined {
    const f = this.manifestFile(stage);
    if (!fs.existsSync(f)) return undefined;
    try {
      const m = JSON.parse(fs.readFileSync(f, 'utf8')) as StageManifest;
      return m && typeof m === 'object' && typeof m.config_hash === 'string' ? m : undefined;
    } catch {
      return undefined;
    }
  }

  writeManifest(m: StageManifest): void {
    this.guard(this.manifestFile(m.stage), () => writeJsonAtomic(this.manifestFile(m.stage), m), m.stage);
  }

  /**
   * Before a stage starts afresh: remove what it writes (`writes`, and units of an earlier config),
   * so no old artifact is mixed with the new ones. Files rlhf did not write are never removed: one
   * inside an entry the stage writes (a user's file in RUN/sft/model/) stops the run with its name,
   * unless `overwrite`; others (RUN/sft/notes.txt) stay where they are.
   */
  clearStage(stage: StageName, writes: readonly string[], opts: { overwrite?: boolean } = {}): void {
    const dir = this.stageDir(stage);
    this.guard(
      dir,
      () => {
        fs.mkdirSync(dir, { recursive: true });
        clearOutputs(dir, { writes, own: isOwnOutputDir(dir), overwrite: opts.overwrite, staleUnits: true, keep: ['manifest.json'], label: stage });
      },
      stage,
    );
  }

  /**
   * Is the run directory rlhf's? It is when it does not exist or is empty, when it holds rlhf's
   * marker or config.resolved.yaml, or a stage directory with a manifest. Else it is somebody
   * else's directory: an error (before anything is written) unless `overwrite`.
   */
  checkRoot(opts: { overwrite?: boolean } = {}): void {
    if (!fs.existsSync(this.root)) return;
    if (!fs.statSync(this.root).isDirectory()) throw new RunDirWriteError(this.root, 'ENOTDIR');
    const present = fs.readdirSync(this.root).filter((n) => !isTempName(n));
    if (present.length === 0 || opts.overwrite) return;
    if (isOwnOutputDir(this.root) || STAGES.some((s) => fs.existsSync(this.manifestFile(s)))) return;
    throw new OutputError(
      this.root,
      `run_dir ${this.root} is not empty and is not an rlhf run directory (${present.slice(0, 5).join(', ')}${present.length > 5 ? ', …' : ''}). ` +
        `Nothing was changed. Choose a new or empty run_dir (--set run_dir=…), or pass --overwrite to use it: each stage then writes RUN/<stage>/ and replaces only the entries it writes there; other files are left alone.`,
    );
  }

  /**
   * A stage directory that is there but not rlhf's (no manifest, no marker, not empty): the names
   * found in it, else undefined. It must be a writable directory (checked now, before any stage runs).
   */
  foreignStageDir(stage: StageName): string[] | undefined {
    const dir = this.stageDir(stage);
    if (!fs.existsSync(dir)) return undefined;
    if (!fs.statSync(dir).isDirectory()) throw new RunDirWriteError(dir, 'ENOTDIR', stage);
    this.guard(dir, () => ensureWritableDir(dir, `stage ${stage}'s directory`), stage);
    const present = fs.readdirSync(dir).filter((n) => !isTempName(n));
    return present.length > 0 && !isOwnOutputDir(dir) ? present : undefined;
  }

  /** Create the run directory and write the resolved config (the first write of a run) and rlhf's marker. */
  writeResolvedConfig(yamlText: string): void {
    this.guard(this.root, () => {
      fs.mkdirSync(this.root, { recursive: true });
      writeFileAtomic(this.resolvedConfigFile, yamlText);
      const marker = path.join(this.root, OUTPUT_MARKER);
      if (!fs.existsSync(marker)) {
        const m: OutputMarker = { written_by: 'rlhf', command: 'run', started_at: new Date().toISOString() };
        writeJsonAtomic(marker, m);
      }
    });
  }

  /** Run `fn`; a failed write becomes a RunDirWriteError naming the path. */
  guard<T>(file: string, fn: () => T, stage?: string): T {
    try {
      return fn();
    } catch (err) {
      throw asWriteError(err, file, stage) ?? err;
    }
  }
}
