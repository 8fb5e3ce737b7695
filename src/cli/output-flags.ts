/**
 * Flags of the commands that write an output directory (--out DIR): what they may do to a
 * directory that is already there. The rule itself is in util/output-dir; these are its switches.
 * Not a command.
 */
import { Flags } from '@oclif/core';

/** --overwrite: write into a non-empty directory that rlhf did not create. */
export const overwriteFlag = {
  overwrite: Flags.boolean({
    description:
      "write into OUT even if it is not empty and rlhf did not create it: rlhf's outputs replace entries of the same names (model/, metrics.jsonl, …), other files are left alone",
    default: false,
  }),
};

/** --resume / --restart of the training commands: what to do with an unfinished run's checkpoint in OUT. */
export const resumeFlags = {
  resume: Flags.boolean({ description: 'continue the unfinished run in OUT from its checkpoint', default: false, exclusive: ['restart'] }),
  restart: Flags.boolean({
    description: 'start afresh over an unfinished run in OUT, discarding its checkpoint (without --resume or --restart such a run stops, so no checkpoint is lost silently)',
    default: false,
    exclusive: ['resume'],
  }),
};
