/**
 * Tests that spawn the CLI run the compiled code in dist/ (bin/run.js loads dist/src/commands).
 * They never compile it themselves (`npm test` builds first; a build inside a test would rewrite
 * dist/ under the tests running beside it) and never skip when it is missing or stale: they fail,
 * saying what to run, so a test cannot pass by checking nothing.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './helpers';

/** The .ts files of `rel` (a file, or a directory's files, not recursive), relative to the root. */
function tsFiles(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  if (!fs.statSync(abs).isDirectory()) return [rel];
  return fs
    .readdirSync(abs)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(rel, f));
}

/**
 * Fail unless dist/ holds the compiled CLI and, for each source (a .ts file or a directory of
 * them, relative to the root), a compiled .js that is not older than the source.
 */
export function assertBuiltCli(sources: string[] = []): void {
  assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'src', 'commands')), 'dist/ is not built: run `npx tsc -p .` (`npm test` builds it first)');
  for (const src of sources.flatMap(tsFiles)) {
    const js = path.join(ROOT, 'dist', src.replace(/\.ts$/, '.js'));
    assert.ok(fs.existsSync(js), `${src} has no compiled ${path.relative(ROOT, js)}: run \`npx tsc -p .\``);
    const stale = fs.statSync(path.join(ROOT, src)).mtimeMs > fs.statSync(js).mtimeMs;
    assert.ok(!stale, `${path.relative(ROOT, js)} is older than ${src}: run \`npx tsc -p .\` (the CLI runs the compiled code)`);
  }
}
