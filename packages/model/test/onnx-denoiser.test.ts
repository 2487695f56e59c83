import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { padBatch } from '@dfleet/decoder';
import {
  buildCanvas,
  DenoiserBatchError,
  DenoiserClosedError,
  ExecutionProviderUnavailableError,
  loadModel,
  loadModelManifest,
  ModelLoadError,
  OnnxDenoiser,
  type LoadedModel,
} from '../src/index.ts';
import { isCudaProviderInstalled } from '../src/execution-provider.ts';
import { copyModelDirectory, MODEL_DIR, removeDirectory } from './model-directory.ts';
import { logitsOf } from './logits-of.ts';

function rowLogits(
  logits: Float32Array,
  row: number,
  positions: number,
  sequenceLength: number,
  vocabSize: number,
): Float32Array {
  const start = row * sequenceLength * vocabSize;
  return logits.subarray(start, start + positions * vocabSize);
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('OnnxDenoiser on the default model (inference thread)', () => {
  let model: LoadedModel;
  let prompts: number[][];
  beforeAll(async () => {
    model = await loadModel(MODEL_DIR, { intraOpNumThreads: 1 });
    const { tokenizer, manifest } = model;
    prompts = [
      '// returns the sum of a and b\nfunction add(a, b) {\n',
      '// returns x squared\nfunction sq(x) {\n',
      '// true when n is even\nfunction isEven(n) {\n',
    ].map((text) => [...buildCanvas(tokenizer.encode(text), manifest, 8)]);
  });
  afterAll(async () => {
    await model?.close();
  });

  it('runs in a worker thread and returns finite logits of shape [B, L, V]', async () => {
    expect(model.denoiser.inferenceThread).toBe('worker');
    expect(model.denoiser.device).toBe('cpu');
    const batch = padBatch(prompts, model.manifest.specialTokens.pad);
    const output = await model.denoiser.denoise(batch);
    expect(output).toMatchObject({ form: 'logits', batchSize: 3, sequenceLength: batch.sequenceLength });
    expect(output).toMatchObject({ vocabSize: model.manifest.vocabSize });
    expect(logitsOf(output)).toBeInstanceOf(Float32Array);
    expect(logitsOf(output)).toHaveLength(3 * batch.sequenceLength * model.manifest.vocabSize);
    expect(logitsOf(output).every(Number.isFinite)).toBe(true);
  });

  it('gives a row the same logits alone as right-padded inside a batch', async () => {
    const { pad } = model.manifest.specialTokens;
    const vocabSize = model.manifest.vocabSize;
    const batch = padBatch(prompts, pad, { lengthMultiple: 16 });
    const together = await model.denoiser.denoise(batch);
    for (const [row, prompt] of prompts.entries()) {
      const alone = await model.denoiser.denoise(padBatch([prompt], pad));
      const difference = maxAbsDifference(
        rowLogits(logitsOf(alone), 0, prompt.length, prompt.length, vocabSize),
        rowLogits(logitsOf(together), row, prompt.length, batch.sequenceLength, vocabSize),
      );
      expect(difference).toBeLessThan(1e-4);
    }
  });

  it('keeps the caller batch intact (inputs are copied to the thread, not transferred)', async () => {
    const batch = padBatch(prompts, model.manifest.specialTokens.pad);
    const before = [...batch.inputIds];
    await model.denoiser.denoise(batch);
    expect(batch.inputIds.byteLength).toBeGreaterThan(0);
    expect([...batch.inputIds]).toEqual(before);
  });

  it('serves calls made concurrently, each with its own logits', async () => {
    const { pad } = model.manifest.specialTokens;
    const outputs = await Promise.all(prompts.map((prompt) => model.denoiser.denoise(padBatch([prompt], pad))));
    const sequential = await model.denoiser.denoise(padBatch([prompts[1]!], pad));
    expect(maxAbsDifference(logitsOf(outputs[1]!), logitsOf(sequential))).toBe(0);
  });

  it('reports time inside session.run per call and in total', async () => {
    const before = model.denoiser.stats;
    const output = await model.denoiser.denoise(padBatch([prompts[0]!], model.manifest.specialTokens.pad));
    const after = model.denoiser.stats;
    expect(output.sessionRunMs).toBeGreaterThan(0);
    expect(after.runs).toBe(before.runs + 1);
    expect(after.lastSessionRunMs).toBe(output.sessionRunMs);
    expect(model.denoiser.lastRunMs).toBe(output.sessionRunMs);
    expect(after.lastDenoiseMs).toBe(output.denoiseMs);
    expect(after.totalSessionRunMs).toBeCloseTo(before.totalSessionRunMs + output.sessionRunMs, 6);
  });

  it('rejects a batch whose arrays do not match its shape, before running it', async () => {
    const batch = padBatch(prompts, 0);
    await expect(model.denoiser.denoise({ ...batch, batchSize: 4 })).rejects.toThrow(DenoiserBatchError);
    await expect(
      model.denoiser.denoise({ ...batch, inputIds: Int32Array.from(batch.inputIds, () => model.manifest.vocabSize) }),
    ).rejects.toThrow(/inputIds\[row 0, position 0\] = \d+ is outside \[0, vocabSize=\d+\)/);
  });
});

describe('OnnxDenoiser lifecycle and devices', () => {
  it('gives the same logits on the calling thread as in the inference thread', async () => {
    const manifest = await loadModelManifest(MODEL_DIR);
    const modelPath = join(MODEL_DIR, manifest.files.onnx);
    const onMain = await OnnxDenoiser.create({
      modelPath,
      vocabSize: manifest.vocabSize,
      inferenceThread: 'main',
      intraOpNumThreads: 1,
    });
    const inThread = await OnnxDenoiser.create({ modelPath, vocabSize: manifest.vocabSize, intraOpNumThreads: 1 });
    try {
      const batch = padBatch(
        [[manifest.specialTokens.bos, 10, 20, 30, manifest.specialTokens.mask]],
        manifest.specialTokens.pad,
      );
      const [a, b] = await Promise.all([onMain.denoise(batch), inThread.denoise(batch)]);
      expect(maxAbsDifference(logitsOf(a), logitsOf(b))).toBe(0);
    } finally {
      await onMain.close();
      await inThread.close();
    }
  });

  it('refuses to run after close, and closing twice is harmless', async () => {
    const model = await loadModel(MODEL_DIR, { intraOpNumThreads: 1 });
    await model.close();
    await model.close();
    await expect(model.denoiser.denoise(padBatch([[1, 2]], 0))).rejects.toThrow(DenoiserClosedError);
  });

  it('says the model cannot be loaded when the ONNX file is corrupt', async () => {
    const directory = await copyModelDirectory();
    try {
      await writeFile(join(directory, 'model.onnx'), 'not an onnx file');
      await expect(loadModel(directory)).rejects.toThrow(ModelLoadError);
    } finally {
      await removeDirectory(directory);
    }
  });

  it.skipIf(isCudaProviderInstalled())(
    'throws ExecutionProviderUnavailableError with install advice when CUDA is requested on a CPU-only install',
    async () => {
      const attempt = loadModel(MODEL_DIR, { executionProvider: 'cuda', deviceId: 1 });
      await expect(attempt).rejects.toThrow(ExecutionProviderUnavailableError);
      await expect(attempt).rejects.toMatchObject({
        code: 'execution_provider_unavailable',
        deviceId: 1,
        message: expect.stringMatching(/device 1.*ONNXRUNTIME_NODE_INSTALL=cuda12.*nvidia-smi/s),
      });
    },
  );
});
