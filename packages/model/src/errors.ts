/**
 * Every error this package throws on purpose. Each has a stable `code` callers can switch on
 * and a message that says what is wrong and what to do about it.
 */
export abstract class ModelPackageError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One thing wrong in a `dfleet-model.json`: the field (dotted path) and what is expected. */
export interface ManifestIssue {
  readonly field: string;
  readonly message: string;
}

export type ModelManifestErrorCode = 'manifest_not_found' | 'manifest_not_json' | 'manifest_invalid';

/** `dfleet-model.json` is missing, is not JSON, or does not follow the model directory contract. */
export class ModelManifestError extends ModelPackageError {
  readonly code: ModelManifestErrorCode;
  readonly manifestPath: string;
  readonly issues: readonly ManifestIssue[];

  constructor(
    code: ModelManifestErrorCode,
    manifestPath: string,
    message: string,
    issues: readonly ManifestIssue[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.manifestPath = manifestPath;
    this.issues = issues;
  }
}

/** `tokenizer.json` could not be read or is not a tokenizer `@huggingface/tokenizers` can load. */
export class TokenizerLoadError extends ModelPackageError {
  readonly code = 'tokenizer_load_failed';
  readonly tokenizerPath: string;

  constructor(tokenizerPath: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.tokenizerPath = tokenizerPath;
  }
}

/**
 * Plain text would have encoded to a special-token id even after splitting it out character by
 * character. Only a tokenizer whose special token is a single ordinary character can do this.
 */
export class SpecialTokenInTextError extends ModelPackageError {
  readonly code = 'special_token_in_text';
}

/**
 * Why a device cannot be used: `execution_provider_unavailable` (CUDA: no provider library, or it
 * failed to start), `vulkan_loader_missing` (WebGPU: no libvulkan.so.1), `webgpu_adapter_unavailable`
 * (WebGPU: Vulkan found no usable GPU driver), `webgpu_adapter_index_unsupported` (WebGPU: an
 * adapter other than the default was asked for).
 */
export type ExecutionProviderUnavailableCode =
  | 'execution_provider_unavailable'
  | 'vulkan_loader_missing'
  | 'webgpu_adapter_unavailable'
  | 'webgpu_adapter_index_unsupported';

/** The requested onnxruntime execution provider (CUDA, WebGPU) cannot run on this host or install. */
export class ExecutionProviderUnavailableError extends ModelPackageError {
  readonly code: ExecutionProviderUnavailableCode;
  readonly executionProvider: string;
  readonly deviceId: number;

  constructor(
    executionProvider: string,
    deviceId: number,
    message: string,
    options?: { cause?: unknown; code?: ExecutionProviderUnavailableCode },
  ) {
    super(message, options);
    this.code = options?.code ?? 'execution_provider_unavailable';
    this.executionProvider = executionProvider;
    this.deviceId = deviceId;
  }
}

/**
 * `model_load_failed`: onnxruntime could not create a session for the model file (missing,
 * corrupt, unsupported ops). `prefix_cache_form_missing`: the prefix-cache form was asked for
 * and the manifest declares none.
 */
export type ModelLoadErrorCode = 'model_load_failed' | 'prefix_cache_form_missing';

/** The model could not be loaded as asked. */
export class ModelLoadError extends ModelPackageError {
  readonly code: ModelLoadErrorCode;
  readonly modelPath: string;

  constructor(modelPath: string, message: string, options?: { cause?: unknown; code?: ModelLoadErrorCode }) {
    super(message, options);
    this.code = options?.code ?? 'model_load_failed';
    this.modelPath = modelPath;
  }
}

/** A `DenoiserBatch` whose arrays do not match its declared [batchSize, sequenceLength]. */
export class DenoiserBatchError extends ModelPackageError {
  readonly code = 'invalid_denoiser_batch';
}

/** The model ran but its output breaks the contract (missing `logits`, wrong dtype or shape). */
export class ModelOutputError extends ModelPackageError {
  readonly code = 'unexpected_model_output';
}

/** The denoiser was closed, or its inference thread died; create a new one. */
export class DenoiserClosedError extends ModelPackageError {
  readonly code = 'denoiser_closed';
}

/** The canvas (bos + prompt + masks) is longer than the model's `maxSequenceLength`. */
export class CanvasTooLongError extends ModelPackageError {
  readonly code = 'canvas_too_long';
  readonly canvasLength: number;
  readonly maxSequenceLength: number;

  constructor(canvasLength: number, maxSequenceLength: number, message: string) {
    super(message);
    this.canvasLength = canvasLength;
    this.maxSequenceLength = maxSequenceLength;
  }
}

/** onnxruntime failed while running a batch (e.g. a token id the embedding table lacks). */
export class ModelRunError extends ModelPackageError {
  readonly code = 'model_run_failed';
}

export type ModelReduceErrorCode =
  | 'onnx_unreadable'
  | 'opset_unsupported'
  | 'logits_output_missing'
  | 'model_already_reduced'
  | 'lm_head_not_found'
  | 'reduce_option_invalid'
  | 'output_directory_not_empty';

/** `dfleet model reduce` cannot append the reduced outputs to this model or directory. */
export class ModelReduceError extends ModelPackageError {
  readonly code: ModelReduceErrorCode;

  constructor(code: ModelReduceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
