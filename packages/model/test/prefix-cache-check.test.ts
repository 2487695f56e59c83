import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkModelDirectory,
  formatModelCheckReport,
  loadModel,
  loadModelManifest,
  reduceModelDirectory,
  type ModelCheckReport,
} from '../src/index.ts';
import { copyModelDirectory, editManifest, FIXTURES_DIR, MODEL_DIR, removeDirectory } from './model-directory.ts';

function codes(report: ModelCheckReport): string[] {
  return report.problems.map((problem) => problem.code);
}

describe('model check of the prefix-cache form', () => {
  const temporary: string[] = [];
  const copy = async (): Promise<string> => {
    const directory = await copyModelDirectory();
    temporary.push(directory);
    return directory;
  };
  afterEach(async () => {
    await Promise.all(temporary.splice(0).map(removeDirectory));
  });

  it('passes the shipped model and prints the form with the probes it ran', async () => {
    const report = await checkModelDirectory(MODEL_DIR);
    expect(report.problems).toEqual([]);
    const manifest = await loadModelManifest(MODEL_DIR);
    const { prefixCache } = report.summary;
    expect(prefixCache).toMatchObject({ ...manifest.prefixCache });
    expect(prefixCache?.inputs?.map((input) => input.name)).toEqual(
      expect.arrayContaining(['input_ids', 'attention_mask', 'past_key', 'past_value', 'past_mask']),
    );
    const { fullPass, cachedWindow, batched } = prefixCache?.differences ?? {};
    console.log(`model check probes: no cache vs plain ${fullPass}, cached window ${cachedWindow}, batched ${batched}`);
    for (const difference of [fullPass, cachedWindow, batched]) expect(difference).toBeLessThanOrEqual(1e-3);
    expect(formatModelCheckReport(report)).toMatch(/prefix cache {7}model\.prefix-cache\.onnx: layers=\d+ kvHeads=\d+/);
  });

  it('reports a manifest whose layers is not the graph’s', async () => {
    const directory = await copy();
    await editManifest(directory, (manifest) => {
      const form = manifest.prefixCache as { layers: number };
      form.layers += 1;
    });
    const report = await checkModelDirectory(directory);
    expect(report.ok).toBe(false);
    const problem = report.problems.find((entry) => entry.code === 'prefix_cache_shape_mismatch');
    expect(problem?.message).toMatch(/prefixCache\.layers/);
    expect(problem?.path).toBe('model.prefix-cache.onnx');
  });

  it('reports a cached graph whose window restarts rotary positions at 0 instead of after the cache', async () => {
    const directory = await copy();
    await copyFile(join(FIXTURES_DIR, 'tiny-plain.onnx'), join(directory, 'model.onnx'));
    await copyFile(
      join(FIXTURES_DIR, 'tiny-prefix-cache-restarts-positions.onnx'),
      join(directory, 'model.prefix-cache.onnx'),
    );
    await editManifest(directory, (manifest) => {
      manifest['prefixCache'] = { onnx: 'model.prefix-cache.onnx', layers: 2, kvHeads: 2, headDim: 8 };
    });
    const report = await checkModelDirectory(directory);
    // With no cache the bug is invisible; reading one, the window's logits move.
    expect(codes(report)).not.toContain('prefix_cache_full_pass_differs');
    expect(codes(report)).toContain('prefix_cache_window_differs');
    expect(report.summary.prefixCache?.differences?.fullPass).toBeLessThanOrEqual(1e-3);
    expect(formatModelCheckReport(report)).toMatch(
      /prefix_cache_window_differs \(model\.prefix-cache\.onnx\): .*rotary/,
    );
  });

  it('reports a declared prefix-cache file that is not there', async () => {
    const directory = await copy();
    await rm(join(directory, 'model.prefix-cache.onnx'));
    const report = await checkModelDirectory(directory);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(
      expect.objectContaining({ code: 'file_missing', message: expect.stringMatching(/prefixCache\.onnx/) }),
    );
    expect(codes(report)).not.toContain('prefix_cache_load_failed');
  });
});

describe('dfleet model reduce of a model with the prefix-cache form', () => {
  it('reduces the cached graph too, under its name, and keeps the block so it still loads', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'dfleet-reduce-cache-'));
    try {
      const result = await reduceModelDirectory(MODEL_DIR, outDir, { positionsInput: true, topK: 2 });
      expect(result.files).toContain('model.prefix-cache.onnx');
      expect(result.prefixCacheOnnxBytes).toBeGreaterThan(0);
      const manifest = await loadModelManifest(outDir);
      expect(manifest.prefixCache).toEqual((await loadModelManifest(MODEL_DIR)).prefixCache);
      // model check probes the reduced cached graph on its top_confidence.
      const report = await checkModelDirectory(outDir);
      expect(report.problems).toEqual([]);
      expect(report.summary.prefixCache?.differences?.cachedWindow).toBeLessThanOrEqual(1e-3);
      const model = await loadModel(outDir, { prefixCache: true, inferenceThread: 'main', intraOpNumThreads: 1 });
      try {
        const ids = Int32Array.from([1, 20, 21, 22, 3, 3]);
        const batch = {
          batchSize: 1,
          sequenceLength: ids.length,
          inputIds: ids,
          attentionMask: new Uint8Array(ids.length).fill(1),
          positions: { perRow: 2, values: Int32Array.from([4, 5]) },
          prefixCache: [{ cacheId: 1, cachedLength: 0, keepLength: 4 }],
        };
        const output = await model.denoiser.denoise(batch);
        expect(output).toMatchObject({ form: 'predictions', perRow: 2 });
        expect(model.denoiser.stats.prefixCaches).toBe(1);
      } finally {
        await model.close();
      }
    } finally {
      await removeDirectory(outDir);
    }
  });
});
