#!/usr/bin/env node
// The `rlhf` command line. Commands live in dist/src/commands (compiled from src/commands).
const { run, flush, handle } = require('@oclif/core');

const argv = process.argv.slice(2);
run(argv, __dirname)
  .then(() => flush())
  .catch(async (err) => {
    // A command reports its own errors (src/cli/base.ts). What arrives here failed before one ran
    // (an unknown command) or is oclif's to print: under --json, the error's JSON document first.
    try {
      const { argvWantsJson, describeError, errorJson, isOclifExit } = require('../dist/src/cli/errors');
      if (argvWantsJson(argv) && !isOclifExit(err)) process.stdout.write(errorJson(describeError(err)));
    } catch {
      // dist/ not built: oclif's message below still says what went wrong.
    }
    return handle(err);
  });
