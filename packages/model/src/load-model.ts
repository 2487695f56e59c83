import { TokenizerLoadError } from './errors.ts';
import { loadModelManifest, modelFilePath, modelOutputs, type ModelManifest } from './model-manifest.ts';
import { OnnxDenoiser, type OnnxDenoiserOptions } from './onnx-denoiser.ts';
import { Tokenizer } from './tokenizer.ts';

/** Denoiser options that `loadModel` does not take from the manifest. */
export type LoadModelOptions = Omit<OnnxDenoiserOptions, 'modelPath' | 'vocabSize' | 'outputs'>;

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
  const denoiser = await OnnxDenoiser.create({
    ...options,
    modelPath: modelFilePath(directory, manifest, 'onnx'),
    vocabSize: manifest.vocabSize,
    outputs: modelOutputs(manifest),
  });
  return { directory, manifest, tokenizer, denoiser, close: () => denoiser.close() };
}
