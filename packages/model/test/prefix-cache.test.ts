import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suppressedTokenIds, type DenoiserBatch, type PrefixCacheRow } from '@dfleet/decoder';
import {
  buildCanvas,
  DenoiserBatchError,
  loadModel,
  ModelLoadError,
  prefixCacheBytesPerPosition,
  type LoadedModel,
} from '../src/index.ts';
import type { OnnxDenoiser } from '../src/onnx-denoiser.ts';
import { logitsOf } from './logits-of.ts';
import { copyModelDirectory, editManifest, MODEL_DIR, removeDirectory } from './model-directory.ts';
import { referenceReduction } from './model-reduce/reference-reduction.ts';

/** Float32 rounding of the same sums in another order; far below any decoding decision. */
const EXACT = 1e-4;

const PROMPTS = [
  '// returns the sum of a and b\nfunction add(a, b) {\n',
  '// true when n is even\nfunction isEven(n) {\n',
];

/** Right-pads rows of ids (windows or canvases) into one batch, with each row's cache instructions. */
function batchOf(rows: readonly (readonly number[])[], pad: number, prefixCache?: PrefixCacheRow[]): DenoiserBatch {
  const sequenceLength = Math.max(...rows.map((row) => row.length));
  const inputIds = new Int32Array(rows.length * sequenceLength).fill(pad);
  const attentionMask = new Uint8Array(rows.length * sequenceLength);
  for (const [r, row] of rows.entries()) {
    inputIds.set(row, r * sequenceLength);
    attentionMask.fill(1, r * sequenceLength, r * sequenceLength + row.length);
  }
  return { batchSize: rows.length, sequenceLength, inputIds, attentionMask, ...(prefixCache ? { prefixCache } : {}) };
}

/** Logits of `count` positions of `row`, from `first`, in a [B, S, V] output. */
function logitsAt(
  logits: Float32Array,
  row: number,
  first: number,
  count: number,
  sequenceLength: number,
  vocabSize: number,
) {
  const start = (row * sequenceLength + first) * vocabSize;
  return logits.subarray(start, start + count * vocabSize);
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe.each(['worker', 'main'] as const)('OnnxDenoiser on the prefix-cache form (%s thread)', (inferenceThread) => {
  let cached: LoadedModel;
  let plain: LoadedModel;
  let canvases: number[][];
  let denoiser: OnnxDenoiser;
  let pad: number;
  let vocabSize: number;
  let nextCacheId = 1;
  beforeAll(async () => {
    cached = await loadModel(MODEL_DIR, { prefixCache: true, inferenceThread, intraOpNumThreads: 1 });
    plain = await loadModel(MODEL_DIR, { inferenceThread: 'main', intraOpNumThreads: 1 });
    denoiser = cached.denoiser;
    pad = cached.manifest.specialTokens.pad;
    vocabSize = cached.manifest.vocabSize;
    canvases = PROMPTS.map((text) => [...buildCanvas(cached.tokenizer.encode(text), cached.manifest, 16)]);
  });
  afterAll(async () => {
    await cached?.close();
    await plain?.close();
  });

  it('computes what the plain graph computes on a pass with no cache', async () => {
    const batch = batchOf(canvases, pad);
    const [withForm, withoutForm] = [await denoiser.denoise(batch), await plain.denoiser.denoise(batch)];
    expect(maxAbsDifference(logitsOf(withForm), logitsOf(withoutForm))).toBeLessThan(EXACT);
  });

  it('gives a window reading the kept keys and values of [0, C) the full pass logits at positions >= C', async () => {
    const canvas = canvases[0]!;
    const cachedLength = canvas.length - 16; // the prompt: the masks are the window
    const cacheId = nextCacheId++;
    const full = await denoiser.denoise(
      batchOf([canvas], pad, [{ cacheId, cachedLength: 0, keepLength: cachedLength }]),
    );
    const window = await denoiser.denoise(
      batchOf([canvas.slice(cachedLength)], pad, [{ cacheId, cachedLength, keepLength: 0 }]),
    );
    const windowLength = canvas.length - cachedLength;
    const difference = maxAbsDifference(
      logitsOf(window),
      logitsAt(logitsOf(full), 0, cachedLength, windowLength, canvas.length, vocabSize),
    );
    console.log(
      `[${inferenceThread}] cached window vs full pass: max |logit difference| ${difference.toExponential(2)}`,
    );
    expect(difference).toBeLessThan(EXACT);
    denoiser.prefixCache?.release(cacheId);
  });

  it('runs a refresh and a read of its cache called back to back, in call order', async () => {
    const canvas = canvases[1]!;
    const cacheId = nextCacheId++;
    const cachedLength = 6;
    // Not awaited in between: the read waits its turn behind the refresh that makes its cache.
    const [full, window] = await Promise.all([
      denoiser.denoise(batchOf([canvas], pad, [{ cacheId, cachedLength: 0, keepLength: cachedLength }])),
      denoiser.denoise(batchOf([canvas.slice(cachedLength)], pad, [{ cacheId, cachedLength, keepLength: 0 }])),
    ]);
    const windowLength = canvas.length - cachedLength;
    expect(
      maxAbsDifference(
        logitsOf(window),
        logitsAt(logitsOf(full), 0, cachedLength, windowLength, canvas.length, vocabSize),
      ),
    ).toBeLessThan(EXACT);
    denoiser.prefixCache?.release(cacheId);
  });

  it('gives rows with different cachedLength and window lengths the same logits batched as alone', async () => {
    const rows = [
      { canvas: canvases[0]!, cachedLength: 9 },
      { canvas: canvases[1]!, cachedLength: 4 },
    ].map((row) => ({ ...row, cacheId: nextCacheId++ }));
    for (const { canvas, cachedLength, cacheId } of rows) {
      await denoiser.denoise(batchOf([canvas], pad, [{ cacheId, cachedLength: 0, keepLength: cachedLength }]));
    }
    const windows = rows.map(({ canvas, cachedLength }) => canvas.slice(cachedLength));
    expect(new Set(windows.map((window) => window.length)).size).toBe(2);
    const reads = rows.map(({ cacheId, cachedLength }) => ({ cacheId, cachedLength, keepLength: 0 }));
    const together = await denoiser.denoise(batchOf(windows, pad, reads));
    const width = Math.max(...windows.map((window) => window.length));
    let worst = 0;
    for (const [r, window] of windows.entries()) {
      const alone = await denoiser.denoise(batchOf([window], pad, [reads[r]!]));
      const difference = maxAbsDifference(
        logitsOf(alone),
        logitsAt(logitsOf(together), r, 0, window.length, width, vocabSize),
      );
      worst = Math.max(worst, difference);
    }
    console.log(`[${inferenceThread}] batched vs alone: max |logit difference| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(EXACT);
    for (const { cacheId } of rows) denoiser.prefixCache?.release(cacheId);
  });

  it('counts the bytes a kept cache holds and frees them on release', async () => {
    const { layers, kvHeads, headDim } = cached.manifest.prefixCache!;
    expect(denoiser.prefixCache?.bytesPerPosition).toBe(prefixCacheBytesPerPosition({ layers, kvHeads, headDim }));
    const before = denoiser.stats;
    const cacheId = nextCacheId++;
    const bytes = 10 * 2 * layers * kvHeads * headDim * 4;
    const kept = await denoiser.denoise(batchOf([canvases[0]!], pad, [{ cacheId, cachedLength: 0, keepLength: 10 }]));
    expect(denoiser.stats.prefixCaches).toBe(before.prefixCaches + 1);
    expect(denoiser.stats.prefixCacheBytes - before.prefixCacheBytes).toBe(bytes);
    // The store beside the session counts the same bytes.
    expect(kept.prefixCacheBytes).toBe(denoiser.stats.prefixCacheBytes);
    denoiser.prefixCache?.release(cacheId);
    expect(denoiser.stats.prefixCaches).toBe(before.prefixCaches);
    expect(denoiser.stats.prefixCacheBytes).toBe(before.prefixCacheBytes);
    // The store frees them before the next pass.
    const next = await denoiser.denoise(batchOf([canvases[1]!], pad));
    expect(next.prefixCacheBytes).toBe(kept.prefixCacheBytes! - bytes);
    // Released, the cache cannot be read any more, and the next pass still runs.
    await expect(
      denoiser.denoise(batchOf([canvases[0]!.slice(10)], pad, [{ cacheId, cachedLength: 10, keepLength: 0 }])),
    ).rejects.toThrow(/does not hold/);
    await denoiser.denoise(batchOf([canvases[0]!], pad, [{ cacheId, cachedLength: 0, keepLength: 0 }]));
    denoiser.prefixCache?.release(987_654); // an unknown id is a no-op
  });

  it('refuses rows that read a cache it does not have, at another length, or keep what they cannot', async () => {
    const canvas = canvases[0]!;
    const cacheId = nextCacheId++;
    await denoiser.denoise(batchOf([canvas], pad, [{ cacheId, cachedLength: 0, keepLength: 8 }]));
    const refused = async (rows: number[][], instructions: PrefixCacheRow[], message: RegExp): Promise<void> => {
      const call = denoiser.denoise(batchOf(rows, pad, instructions));
      await expect(call).rejects.toThrow(DenoiserBatchError);
      await expect(call).rejects.toThrow(message);
    };
    await refused([canvas.slice(8)], [{ cacheId: cacheId + 1000, cachedLength: 8, keepLength: 0 }], /does not hold/);
    await refused([canvas.slice(6)], [{ cacheId, cachedLength: 6, keepLength: 0 }], /which holds 8/);
    await refused([canvas.slice(0, 5)], [{ cacheId, cachedLength: 0, keepLength: 6 }], /longer than the row's window/);
    await refused([canvas.slice(8)], [{ cacheId, cachedLength: 8, keepLength: 2 }], /only a refresh/);
    await refused([canvas], [], /one entry per row/);
    // The refusals left the cache as it was.
    await denoiser.denoise(batchOf([canvas.slice(8)], pad, [{ cacheId, cachedLength: 8, keepLength: 0 }]));
    denoiser.prefixCache?.release(cacheId);
  });

  it('refuses prefixCache rows on a denoiser without the form', async () => {
    expect(plain.denoiser.prefixCache).toBeUndefined();
    await expect(
      plain.denoiser.denoise(batchOf([canvases[0]!], pad, [{ cacheId: 1, cachedLength: 0, keepLength: 4 }])),
    ).rejects.toThrow(/no prefix cache/);
  });
});

describe('loadModel with { prefixCache: true }', () => {
  it('fails with prefix_cache_form_missing on a model whose manifest declares no form', async () => {
    const directory = await copyModelDirectory();
    try {
      await editManifest(directory, (manifest) => {
        delete manifest.prefixCache;
      });
      const loading = loadModel(directory, { prefixCache: true });
      await expect(loading).rejects.toThrow(ModelLoadError);
      await expect(loading).rejects.toMatchObject({ code: 'prefix_cache_form_missing' });
      await expect(loading).rejects.toThrow(/has no prefix-cache form.*README\.md/);
    } finally {
      await removeDirectory(directory);
    }
  });

  it('reduced in memory with positions, picks the logits argmax at the named window slots', async () => {
    const logitsModel = await loadModel(MODEL_DIR, {
      prefixCache: true,
      inferenceThread: 'main',
      intraOpNumThreads: 1,
    });
    const reducedModel = await loadModel(MODEL_DIR, {
      prefixCache: true,
      reduceInMemory: 'positions',
      inferenceThread: 'main',
      intraOpNumThreads: 1,
    });
    try {
      const { manifest, tokenizer } = logitsModel;
      const { pad } = manifest.specialTokens;
      const suppressed = new Set(suppressedTokenIds(manifest.specialTokens));
      const canvas = [...buildCanvas(tokenizer.encode(PROMPTS[1]!), manifest, 16)];
      const cachedLength = canvas.length - 16;
      const slots = [0, 3, 7, 15];
      const window = canvas.slice(cachedLength);
      const tokens: number[][] = [];
      for (const model of [logitsModel, reducedModel]) {
        await model.denoiser.denoise(
          batchOf([canvas], pad, [{ cacheId: 1, cachedLength: 0, keepLength: cachedLength }]),
        );
        const batch = {
          ...batchOf([window], pad, [{ cacheId: 1, cachedLength, keepLength: 0 }]),
          positions: { perRow: slots.length, values: Int32Array.from(slots) },
        };
        const output = await model.denoiser.denoise(batch);
        if (output.form !== 'predictions') {
          tokens.push(
            slots.map(
              (slot) =>
                referenceReduction(logitsAt(output.logits, 0, slot, 1, window.length, manifest.vocabSize), suppressed)
                  .topToken,
            ),
          );
        } else {
          expect(output.perRow).toBe(slots.length);
          tokens.push([...output.token]);
        }
      }
      expect(tokens[1]).toEqual(tokens[0]);
    } finally {
      await logitsModel.close();
      await reducedModel.close();
    }
  });
});
