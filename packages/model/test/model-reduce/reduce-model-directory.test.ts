import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelManifest, modelOutputs, reduceModelDirectory, Tokenizer } from '../../src/index.ts';
import { MODEL_DIR } from '../model-directory.ts';

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
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const manifest = await loadModelManifest(out);
    expect(modelOutputs(manifest)).toEqual({
      form: 'reduced',
      topK: 2,
      positionsInput: true,
      logits: false,
      suppressedTokenIds: [0, 1, 3],
    });
    expect(result.outputs).toEqual(modelOutputs(manifest));
    const original = await loadModelManifest(MODEL_DIR);
    expect({ ...manifest, outputs: undefined }).toEqual({ ...original, outputs: undefined });
    const tokenizer = await Tokenizer.fromFile(join(out, 'tokenizer.json'));
    expect(tokenizer.vocabSize).toBe(original.vocabSize);
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
