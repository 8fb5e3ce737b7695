/** Where the shipped data and models are, independent of the working directory. */
import * as path from 'node:path';
import * as fs from 'node:fs';

export const ROOT = (() => {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return d;
})();

/** The embedded tiny model: pretrained from scratch on the task corpus, then SFT'd (see configs/pretrain.yaml). */
export const DEFAULT_MODEL = path.join(ROOT, 'models', 'tiny-sft');
/** The pretrained base the SFT stage starts from. */
export const DEFAULT_BASE_MODEL = path.join(ROOT, 'models', 'tiny-base');
export const DATA_DIR = path.join(ROOT, 'data');
