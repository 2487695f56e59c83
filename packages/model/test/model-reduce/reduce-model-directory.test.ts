import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelManifest, modelOutputs, reduceModelDirectory, Tokenizer } from '../../src/index.ts';
import { MODEL_DIR } from '../model-directory.ts';
import { externalBiasModel } from './pass-through-model.ts';

describe('reduceModelDirectory', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dfleet-reduce-dir-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('writes the reduced model, the tokenizer files and a manifest that declares the reduced outputs', async () => {
    const out = join(work, 'reduced');
    const result = await reduceModelDirectory(MODEL_DIR, out, { topK: 2, positionsInput: true });
    expect((await readdir(out)).sort()).toEqual([
      'dfleet-model.json',
      'model.onnx',
      'model.prefix-cache.onnx',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const manifest = await loadModelManifest(out);
    expect(modelOutputs(manifest)).toEqual({
      form: 'reduced',
      topK: 2,
      positionsInput: true,
      logits: false,
      suppressedTokenIds: [0, 1, 3, 4],
    });
    expect(result.outputs).toEqual(modelOutputs(manifest));
    const original = await loadModelManifest(MODEL_DIR);
    expect({ ...manifest, outputs: undefined }).toEqual({ ...original, outputs: undefined });
    const tokenizer = await Tokenizer.fromFile(join(out, 'tokenizer.json'));
    expect(tokenizer.vocabSize).toBe(original.vocabSize);
  });

  it('copies the external data files the model reads, so the reduced model runs from OUT_DIR', async () => {
    const source = join(work, 'external');
    await mkdir(source);
    await copyFile(join(MODEL_DIR, 'tokenizer.json'), join(source, 'tokenizer.json'));
    // This model is a bias over scores: the shipped prefix-cache form is not its own.
    const { prefixCache: _shipped, ...manifest } = JSON.parse(
      await readFile(join(MODEL_DIR, 'dfleet-model.json'), 'utf8'),
    ) as Record<string, unknown>;
    await writeFile(join(source, 'dfleet-model.json'), JSON.stringify(manifest));
    const { model, data } = externalBiasModel(102, 'model.onnx.data');
    await writeFile(join(source, 'model.onnx'), model);
    await writeFile(join(source, 'model.onnx.data'), data);
    const out = join(work, 'external-reduced');
    const result = await reduceModelDirectory(source, out);
    expect(result.files).toContain('model.onnx.data');
    const session = await ort.InferenceSession.create(join(out, 'model.onnx'));
    const scores = new ort.Tensor('float32', new Float32Array(102), [1, 1, 102]);
    const output = await session.run({ scores });
    await session.release();
    // All scores 0: the bias v / 102 decides, and the highest id is not suppressed.
    expect(Number((output['top_token']!.data as BigInt64Array)[0])).toBe(101);
  });

  it('refuses an output directory that is not empty, and an already reduced model', async () => {
    const busy = join(work, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'notes.txt'), 'keep me');
    await expect(reduceModelDirectory(MODEL_DIR, busy)).rejects.toMatchObject({ code: 'output_directory_not_empty' });
    expect(await readFile(join(busy, 'notes.txt'), 'utf8')).toBe('keep me');
    await reduceModelDirectory(MODEL_DIR, join(work, 'once'));
    await expect(reduceModelDirectory(join(work, 'once'), join(work, 'twice'))).rejects.toMatchObject({
      code: 'model_already_reduced',
    });
  });
});
