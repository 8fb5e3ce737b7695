#!/usr/bin/env node
// The `rlhf` command line. Commands live in dist/src/commands (compiled from src/commands).
const { execute } = require('@oclif/core');
execute({ dir: __dirname }).catch((err) => {
  // oclif prints its own errors; this catches the ones thrown before it can.
  console.error(err && err.message ? err.message : err);
  process.exit(1);
});
