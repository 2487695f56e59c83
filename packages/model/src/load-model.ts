import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suppressedTokenIds } from '@dfleet/decoder';
import { ModelLoadError, TokenizerLoadError } from './errors.ts';
import {
  loadModelManifest,
  modelFilePath,
  modelOutputs,
  type ModelManifest,
  type ModelOutputs,
} from './model-manifest.ts';
import { reduceOnnxModel } from './model-reduce/reduce-onnx-model.ts';
import { OnnxDenoiser, type OnnxDenoiserOptions } from './onnx-denoiser.ts';
import { MAX_REDUCED_TOP_K } from './reduced-contract.ts';
import { Tokenizer } from './tokenizer.ts';

/**
 * How `loadModel` may reduce a v1 (logits) model in memory: `all` appends the reduction over
 * every position, `positions` also the positions input (the LM head only where the decoder
 * reads). Either keeps the top-8 ids, so temperature > 0 still decodes, as top-8 sampling.
 * A model already reduced on disk loads as it is.
 */
export type InMemoryReduction = 'off' | 'all' | 'positions';

/** Denoiser options that `loadModel` does not take from the manifest. */
export type LoadModelOptions = Omit<
  OnnxDenoiserOptions,
  'modelPath' | 'vocabSize' | 'outputs' | 'modelBytes' | 'prefixCache'
> & {
  /** @defaultValue `'off'` */
  readonly reduceInMemory?: InMemoryReduction;
  /**
   * Serve the manifest's prefix-cache form (`prefixCache.onnx`) instead of `files.onnx`: the
   * denoiser then keeps the decodes' caches (`denoiser.prefixCache`). With `reduceInMemory` the
   * cached graph is reduced in memory too. Throws ModelLoadError (`prefix_cache_form_missing`)
   * when the manifest declares no such form.
   * @defaultValue false
   */
  readonly prefixCache?: boolean;
};

export interface LoadedModel {
  readonly directory: string;
  readonly manifest: ModelManifest;
  readonly tokenizer: Tokenizer;
  readonly denoiser: OnnxDenoiser;
  /** Closes the denoiser (its session and inference thread). */
  close(): Promise<void>;
}

/**
 * Loads a model directory: manifest, tokenizer and an `OnnxDenoiser` on the requested device,
 * reading the reduced outputs when the manifest declares them and the logits otherwise.
 * For a full diagnosis of a directory that fails to load, run `checkModelDirectory`.
 * @throws ModelManifestError, TokenizerLoadError, ExecutionProviderUnavailableError, ModelLoadError
 */
export async function loadModel(directory: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const manifest = await loadModelManifest(directory);
  const tokenizerPath = modelFilePath(directory, manifest, 'tokenizer');
  const tokenizer = await Tokenizer.fromFile(tokenizerPath);
  if (tokenizer.vocabSize > manifest.vocabSize) {
    throw new TokenizerLoadError(
      tokenizerPath,
      `${tokenizerPath} has ${tokenizer.vocabSize} token ids but the manifest's vocabSize is ${manifest.vocabSize}: ` +
        'the model has no logits for the extra ids; fix vocabSize or the tokenizer',
    );
  }
  const { reduceInMemory = 'off', prefixCache = false, ...denoiserOptions } = options;
  const cacheForm = prefixCache ? prefixCacheFormOf(directory, manifest) : undefined;
  const modelPath = cacheForm?.modelPath ?? modelFilePath(directory, manifest, 'onnx');
  const declared = modelOutputs(manifest);
  const reduced =
    declared.form === 'logits' && reduceInMemory !== 'off'
      ? await reduceAtLoad(modelPath, manifest, reduceInMemory === 'positions')
      : undefined;
  const denoiser = await OnnxDenoiser.create({
    ...denoiserOptions,
    modelPath,
    vocabSize: manifest.vocabSize,
    outputs: reduced?.outputs ?? declared,
    ...(reduced ? { modelBytes: reduced.bytes } : {}),
    ...(cacheForm ? { prefixCache: cacheForm.shape } : {}),
  });
  return { directory, manifest, tokenizer, denoiser, close: () => denoiser.close() };
}

function prefixCacheFormOf(
  directory: string,
  manifest: ModelManifest,
): { modelPath: string; shape: { layers: number; kvHeads: number; headDim: number } } {
  const form = manifest.prefixCache;
  if (form === undefined) {
    throw new ModelLoadError(
      join(directory, 'dfleet-model.json'),
      `model ${manifest.name} has no prefix-cache form (no "prefixCache" block in ${join(directory, 'dfleet-model.json')}): ` +
        'export one with its prefix-cache export (for jsfunc-mdm: export_prefix_cache.py, see models/jsfunc-mdm/README.md), ' +
        'or load it without { prefixCache: true }',
      { code: 'prefix_cache_form_missing' },
    );
  }
  const { onnx, layers, kvHeads, headDim } = form;
  return { modelPath: join(directory, onnx), shape: { layers, kvHeads, headDim } };
}

/** The v1 model with the reduction appended, as bytes to load; the file on disk is untouched. */
async function reduceAtLoad(
  modelPath: string,
  manifest: ModelManifest,
  positionsInput: boolean,
): Promise<{ bytes: Uint8Array; outputs: ModelOutputs }> {
  const suppressed = suppressedTokenIds(manifest.specialTokens);
  const topK = Math.min(MAX_REDUCED_TOP_K, manifest.vocabSize - suppressed.length);
  const reduced = reduceOnnxModel(await readFile(modelPath), {
    vocabSize: manifest.vocabSize,
    suppressedTokenIds: suppressed,
    topK,
    positionsInput,
    source: modelPath,
  });
  if (reduced.externalDataFiles.length > 0) {
    // onnxruntime resolves external data next to a file; bytes in memory have no directory.
    throw new ModelLoadError(
      modelPath,
      `${modelPath} keeps its weights in external data files, which a model reduced in memory cannot read: ` +
        'reduce it on disk with `dfleet model reduce IN_DIR OUT_DIR --positions` and serve OUT_DIR',
    );
  }
  return {
    bytes: reduced.bytes,
    outputs: { form: 'reduced', topK, positionsInput, logits: false, suppressedTokenIds: suppressed },
  };
}
