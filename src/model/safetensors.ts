/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__}, then the
 * raw little-endian tensor bytes. Small enough to read and write here; F32 is written, F32/F16/BF16
 * are read (Hugging Face GPT-2 checkpoints are F32).
 */

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const ALIGN = 8;

/** Serialise tensors (sorted by name, as the Python library does) to safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, HostTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const expected = t.shape.reduce((a, b) => a * b, 1);
    if (expected !== t.data.length) throw new Error(`tensor ${name}: shape [${t.shape}] needs ${expected} values, has ${t.data.length}`);
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  const pad = (ALIGN - ((8 + Buffer.byteLength(json)) % ALIGN)) % ALIGN;
  json += ' '.repeat(pad);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Parse safetensors bytes. Errors name the file and the tensor. */
export function decodeSafetensors(buf: Uint8Array, source = 'model.safetensors'): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
  if (buf.length < 8) throw new Error(`${source}: too short to be a safetensors file`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > buf.length) throw new Error(`${source}: header length ${n} runs past the end of the file (truncated?)`);
  let header: Record<string, HeaderEntry | Record<string, string>>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8'));
  } catch (e) {
    throw new Error(`${source}: header is not valid JSON (${(e as Error).message})`);
  }
  const base = 8 + n;
  const tensors: Record<string, HostTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = entry as HeaderEntry;
    const [b, e] = data_offsets;
    if (base + e > buf.length) throw new Error(`${source}: tensor ${name} runs past the end of the file (truncated?)`);
    const size = shape.reduce((x, y) => x * y, 1);
    const bytes = buf.subarray(base + b, base + e);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const data = new Float32Array(size);
    if (dtype === 'F32') {
      if (bytes.byteLength !== size * 4) throw new Error(`${source}: tensor ${name} has ${bytes.byteLength} bytes for shape [${shape}]`);
      for (let i = 0; i < size; i++) data[i] = dv.getFloat32(i * 4, true);
    } else if (dtype === 'F16') {
      for (let i = 0; i < size; i++) data[i] = f16ToF32(dv.getUint16(i * 2, true));
    } else if (dtype === 'BF16') {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < size; i++) {
        tmp.setUint32(0, dv.getUint16(i * 2, true) << 16, true);
        data[i] = tmp.getFloat32(0, true);
      }
    } else {
      throw new Error(`${source}: tensor ${name} has dtype ${dtype}; only F32, F16 and BF16 are supported`);
    }
    tensors[name] = { shape, data };
  }
  return { tensors, metadata };
}

