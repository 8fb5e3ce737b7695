import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../src/backend';
import { tf, Tensor } from '../src/backend/tf';
import { disposeBundle, loadModel, loadWeights, saveModel } from '../src/model/checkpoint';
import { decodeSafetensors, encodeSafetensors } from '../src/model/safetensors';
import { tokenizerFromJson } from '../src/tokenizer/tokenizer';
import { trainByteLevelBPE } from '../src/tokenizer/train-bpe';
import { fixturePath, tmpDir } from './helpers';

async function sameTensors(a: Record<string, Tensor>, b: Record<string, Tensor>): Promise<void> {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    assert.deepEqual(a[k].shape, b[k].shape, k);
    const x = new Uint8Array(((await a[k].data()) as Float32Array).buffer.slice(0));
    const y = new Uint8Array(((await b[k].data()) as Float32Array).buffer.slice(0));
    assert.ok(Buffer.from(x).equals(Buffer.from(y)), `tensor ${k} differs after the round trip`);
  }
}

describe('checkpoints', () => {
  before(async () => {
    await selectBackend('cpu');
  });

  it('safetensors encode/decode is exact, and truncation is reported with the file', () => {
    const t = { a: { shape: [2, 2], data: Float32Array.from([1.5, -2, 3e-8, NaN]) }, b: { shape: [1], data: Float32Array.from([7]) } };
    const bytes = encodeSafetensors(t);
    const back = decodeSafetensors(bytes).tensors;
    assert.deepEqual(Array.from(back.a.data).slice(0, 3), [1.5, -2, Math.fround(3e-8)]);
    assert.ok(Number.isNaN(back.a.data[3]));
    assert.throws(() => decodeSafetensors(bytes.subarray(0, bytes.length - 3), 'x.safetensors'), /x\.safetensors: tensor b runs past the end/);
  });

  it('save → load is bit-identical, with heads and tokenizer, single file and sharded', async () => {
    const w = loadWeights(fixturePath('gpt2-tiny-random'));
    const tok = tokenizerFromJson(trainByteLevelBPE(['hello world 12 34 hello world'], { vocabSize: 260, minFrequency: 1 }));
    const heads = { 'score.weight': tf.randomNormal([1, w.config.n_embd], 0, 1, 'float32', 3), 'v_head.summary.bias': tf.tensor1d([0.25]) };
    const dir = tmpDir();
    for (const [name, opts] of [['single', {}], ['sharded', { maxShardBytes: 20_000 }]] as const) {
      const out = path.join(dir, name);
      await saveModel(out, { config: w.config, params: w.params, heads, tokenizer: tok, rlhf: { reward: { squash: 'sigmoid' } } }, opts);
      const files = fs.readdirSync(out);
      if (name === 'sharded') {
        assert.ok(files.includes('model.safetensors.index.json'));
        assert.ok(files.filter((f) => f.endsWith('.safetensors')).length >= 2);
      } else assert.ok(files.includes('model.safetensors'));
      for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(files.includes(f), f);
      const back = await loadModel(out);
      await sameTensors(w.params, back.params);
      await sameTensors(heads, back.heads);
      assert.deepEqual(back.rlhf, { reward: { squash: 'sigmoid' } });
      assert.deepEqual(back.config, w.config);
      assert.deepEqual(back.tokenizer.encode('hello 12'), tok.encode('hello 12'));
      // nothing left behind by the atomic directory swap
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.')), []);
      disposeBundle(back);
    }
    disposeBundle(w);
    tf.dispose(Object.values(heads));
  });

  it('a missing tensor or a wrong shape names the directory and the tensor', async () => {
    const dir = tmpDir();
    fs.cpSync(fixturePath('gpt2-tiny-random'), dir, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, n_layer: 3 }));
    assert.throws(() => loadWeights(dir), /transformer\.h\.2\.ln_1\.weight' is missing/);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, n_embd: 16 }));
    assert.throws(() => loadWeights(dir), /has shape \[97,32\], config\.json implies \[97,16\]/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{oops');
    assert.throws(() => loadWeights(dir), /config\.json: invalid JSON/);
  });

  it('an unknown hub id offline fails with a message pointing at local directories', async () => {
    const prev = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = '1';
    process.env.HF_HOME = tmpDir();
    try {
      await assert.rejects(loadModel('gpt2'), /not in the Hugging Face cache .* pass a local model directory/);
    } finally {
      if (prev === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = prev;
    }
  });
});
