import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { padBatch } from '@dfleet/decoder';
import { loadModelManifest, ModelOutputError, ModelRunError, OnnxDenoiser } from '../src/index.ts';
import { FIXTURES_DIR, MODEL_DIR } from './model-directory.ts';
import { logitsOf } from './logits-of.ts';

// An OnnxDenoiser hands batches to its inference thread through a shared input buffer that
// starts small and grows, one run at a time; logits and failures come back on a port.
const VOCAB_SIZE = 102;

function rows(count: number, length: number): number[][] {
  return Array.from({ length: count }, (_, r) =>
    Array.from({ length: length - (r % 7) }, (_, p) => 4 + ((r * 31 + p * 7) % 90)),
  );
}

describe('OnnxDenoiser inference thread transport', () => {
  let inThread: OnnxDenoiser;
  let onMain: OnnxDenoiser;
  beforeAll(async () => {
    const manifest = await loadModelManifest(MODEL_DIR);
    const modelPath = join(MODEL_DIR, manifest.files.onnx);
    inThread = await OnnxDenoiser.create({ modelPath, vocabSize: manifest.vocabSize, intraOpNumThreads: 1 });
    onMain = await OnnxDenoiser.create({
      modelPath,
      vocabSize: manifest.vocabSize,
      intraOpNumThreads: 1,
      inferenceThread: 'main',
    });
  });
  afterAll(async () => {
    await inThread?.close();
    await onMain?.close();
  });

  it("grows its shared input buffer for a larger batch and still returns the calling thread's logits", async () => {
    for (const batch of [padBatch(rows(1, 20), 0), padBatch(rows(42, 100), 0), padBatch(rows(2, 30), 0)]) {
      const [fromThread, fromMain] = [await inThread.denoise(batch), await onMain.denoise(batch)];
      expect(logitsOf(fromThread)).toHaveLength(batch.batchSize * batch.sequenceLength * VOCAB_SIZE);
      expect(logitsOf(fromThread)).toEqual(logitsOf(fromMain));
    }
  });

  it('gives every call its own logits, which later calls never overwrite', async () => {
    const first = await inThread.denoise(padBatch(rows(1, 12), 0));
    const kept = logitsOf(first).slice();
    await inThread.denoise(padBatch(rows(3, 40), 0));
    expect(logitsOf(first)).toEqual(kept);
  });

  it("reads a waiting call's batch as it was when called, even if the caller reuses the arrays", async () => {
    const waiting = padBatch(rows(2, 30), 0);
    const expected = logitsOf(await onMain.denoise(waiting));
    const first = inThread.denoise(padBatch(rows(3, 40), 0));
    const second = inThread.denoise(waiting);
    waiting.inputIds.fill(5);
    waiting.attentionMask.fill(0);
    await first;
    expect(logitsOf(await second)).toEqual(expected);
  });

  it('runs calls queued behind one another in order, each with its own batch', async () => {
    const batches = [padBatch(rows(1, 10), 0), padBatch(rows(4, 50), 0), padBatch(rows(2, 25), 0)];
    const outputs = await Promise.all(batches.map((batch) => inThread.denoise(batch)));
    for (const [i, batch] of batches.entries()) {
      expect(logitsOf(outputs[i]!)).toEqual(logitsOf(await onMain.denoise(batch)));
    }
  });
});

describe('OnnxDenoiser inference thread failures', () => {
  it('rejects a run onnxruntime fails and serves the next one', async () => {
    const denoiser = await OnnxDenoiser.create({
      modelPath: join(FIXTURES_DIR, 'position-table-160.onnx'),
      vocabSize: VOCAB_SIZE,
    });
    try {
      await expect(denoiser.denoise(padBatch(rows(1, 161), 0))).rejects.toThrow(ModelRunError);
      const output = await denoiser.denoise(padBatch(rows(2, 20), 0));
      expect(logitsOf(output)).toHaveLength(2 * 20 * VOCAB_SIZE);
    } finally {
      await denoiser.close();
    }
  });

  it('reports a model that breaks the output contract as ModelOutputError', async () => {
    const denoiser = await OnnxDenoiser.create({
      modelPath: join(FIXTURES_DIR, 'wrong-output-name.onnx'),
      vocabSize: VOCAB_SIZE,
    });
    try {
      await expect(denoiser.denoise(padBatch(rows(1, 8), 0))).rejects.toThrow(ModelOutputError);
    } finally {
      await denoiser.close();
    }
  });

  it('finishes the runs already called before close() ends the thread', async () => {
    const manifest = await loadModelManifest(MODEL_DIR);
    const denoiser = await OnnxDenoiser.create({
      modelPath: join(MODEL_DIR, manifest.files.onnx),
      vocabSize: manifest.vocabSize,
    });
    const runs = [1, 2, 3].map((count) => denoiser.denoise(padBatch(rows(count, 16), 0)));
    const closed = denoiser.close();
    const outputs = await Promise.all(runs);
    await closed;
    expect(outputs.map((output) => output.batchSize)).toEqual([1, 2, 3]);
  });
});
