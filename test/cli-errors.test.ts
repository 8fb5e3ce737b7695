/**
 * Errors under --json (issue 14, item 9): stdout carries one JSON document with the error's
 * message, a code and the exit status, for every kind of error: oclif's own parse errors, a flag
 * value a command refuses, a failure inside a command, an unknown command. stderr keeps the
 * message and the exit status stays non-zero.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Errors } from '@oclif/core';
import { argvWantsJson, describeError, errorJson, UsageError } from '../src/cli/errors';
import { runCli, tmpDir } from './helpers';
import { assertBuiltCli } from './built-cli';

describe('describeError', () => {
  it('gives message, code and exit for each kind of error', () => {
    assert.deepEqual(describeError(new Errors.CLIError('Nonexistent flag: --bogus\nSee more help with --help')), { message: 'Nonexistent flag: --bogus', code: 'usage', exit: 2 });
    assert.deepEqual(describeError(new UsageError('--top-k must be an integer ≥ 0')), { message: '--top-k must be an integer ≥ 0', code: 'usage', exit: 2 });
    const sys = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT' });
    assert.deepEqual(describeError(sys), { message: sys.message, code: 'ENOENT', exit: 1 });
    class ConfigError extends Error {
      readonly exitCode = 2;
    }
    assert.deepEqual(describeError(new ConfigError('run.yaml:3: unknown key')), { message: 'run.yaml:3: unknown key', code: 'ConfigError', exit: 2 });
    assert.deepEqual(describeError(new Error('boom')), { message: 'boom', code: 'Error', exit: 1 });
    // colours that oclif puts in some messages do not reach the document
    assert.equal(describeError(new Error('\u001b[2mMissing required flag prompt\u001b[22m')).message, 'Missing required flag prompt');
    assert.deepEqual(JSON.parse(errorJson({ message: 'm', code: 'c', exit: 3 })), { error: { message: 'm', code: 'c', exit: 3 } });
  });

  it('--json counts only before a --', () => {
    assert.equal(argvWantsJson(['generate', '--json']), true);
    assert.equal(argvWantsJson(['generate', '--', '--json']), false);
    assert.equal(argvWantsJson(['generate']), false);
  });
});

describe('--json errors (CLI)', () => {
  before(() => assertBuiltCli(['src/cli', 'src/commands/generate.ts', 'src/commands/report.ts']));

  /** Run with --json; the error must be one JSON document on stdout, the message on stderr too. */
  const jsonError = (args: string[]) => {
    const r = runCli(args);
    assert.notEqual(r.status, 0, `${args.join(' ')} exited 0`);
    let doc: { error: { message: string; code: string; exit: number } };
    try {
      doc = JSON.parse(r.stdout);
    } catch {
      assert.fail(`${args.join(' ')}: stdout is not one JSON document: ${JSON.stringify(r.stdout)}`);
    }
    assert.deepEqual(Object.keys(doc), ['error']);
    assert.equal(typeof doc.error.message, 'string');
    assert.ok(doc.error.message.length > 0);
    assert.equal(doc.error.exit, r.status);
    assert.ok(r.stderr.includes(doc.error.message.split('\n')[0]), `stderr lacks the message: ${r.stderr}`);
    return doc.error;
  };

  it('oclif parse errors: an unknown flag, a missing required flag, a value not among the options, an unknown command', () => {
    let e = jsonError(['generate', '--json', '--bogus']);
    assert.deepEqual([e.code, e.exit], ['usage', 2]);
    assert.match(e.message, /Nonexistent flag: --bogus/);
    e = jsonError(['generate', '--json']);
    assert.match(e.message, /Missing required flag prompt/);
    assert.equal(e.code, 'usage');
    e = jsonError(['generate', '--prompt', 'hi', '--backend', 'nope', '--json']);
    assert.match(e.message, /Expected --backend=nope to be one of/);
    e = jsonError(['generate', '--prompt', 'hi', '--n', '0', '--json']);
    assert.match(e.message, /greater than or equal to 1/);
    e = jsonError(['no-such-command', '--json']);
    assert.match(e.message, /command no-such-command not found/);
  });

  it('a flag value the command refuses, and a failure inside a command', () => {
    let e = jsonError(['generate', '--prompt', 'hi', '--top-p', '2', '--json']);
    assert.deepEqual(e, { message: '--top-p must be a number in (0, 1] (1 = off), got "2"', code: 'usage', exit: 2 });
    const missing = path.join(tmpDir('rlhf-json-err-'), 'nope');
    e = jsonError(['report', missing, '--json']);
    assert.match(e.message, /not a run directory/);
    assert.equal(e.exit, 1);
  });

  it('without --json, stdout stays empty', () => {
    const r = runCli(['generate', '--prompt', 'hi', '--top-p', '2']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--top-p must be a number in \(0, 1\]/);
  });
});
