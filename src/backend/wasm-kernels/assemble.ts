/**
 * Assembles the kernel text with wabt (a dev dependency: only the build script and the test that
 * checks the committed bytes need it; the tool loads the committed bytes).
 */
import { kernelsWat } from './kernels-wat';

export async function assembleKernelsWasm(): Promise<Uint8Array> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wabt = await (require('wabt') as () => Promise<{ parseWat: (name: string, text: string, features: object) => { toBinary: (o: object) => { buffer: Uint8Array }; destroy: () => void } }>)();
  const mod = wabt.parseWat('kernels.wat', kernelsWat(), { simd: true, bulk_memory: true });
  try {
    return mod.toBinary({}).buffer;
  } finally {
    mod.destroy();
  }
}
