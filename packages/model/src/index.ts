export { buildCanvas } from './canvas.ts';
export { DEFAULT_MODEL_DIR, modelDirVariable } from './default-model-dir.ts';
export {
  CanvasTooLongError,
  DenoiserBatchError,
  DenoiserClosedError,
  ExecutionProviderUnavailableError,
  ModelLoadError,
  ModelManifestError,
  ModelOutputError,
  ModelReduceError,
  ModelPackageError,
  ModelRunError,
  SpecialTokenInTextError,
  TokenizerLoadError,
} from './errors.ts';
export type {
  ExecutionProviderUnavailableCode,
  ManifestIssue,
  ModelLoadErrorCode,
  ModelManifestErrorCode,
  ModelReduceErrorCode,
} from './errors.ts';
export { deviceLabel, parseDevice } from './execution-provider.ts';
export type { ExecutionProvider } from './execution-provider.ts';
export { findVulkanLoader } from './webgpu-provider.ts';
export { formatModelCheckReport } from './format-model-check-report.ts';
export { loadModel } from './load-model.ts';
export type { InMemoryReduction, LoadedModel, LoadModelOptions } from './load-model.ts';
export { checkModelDirectory } from './model-check.ts';
export type { CheckModelDirectoryOptions } from './model-check.ts';
export { MODEL_CHECK_CODES } from './model-check/codes.ts';
export type { ModelCheckCode } from './model-check/codes.ts';
export type {
  ModelCheckProblem,
  ModelCheckReport,
  ModelCheckSeverity,
  ModelCheckSummary,
  ModelCheckTensor,
  PrefixCacheSummary,
} from './model-check/report.ts';
export {
  DEFAULT_GENERATION_DEFAULTS,
  loadModelManifest,
  MODEL_MANIFEST_FILE,
  modelFilePath,
  modelCapabilities,
  modelOutputs,
  parseModelManifest,
  SPECIAL_TOKEN_ROLES,
} from './model-manifest.ts';
export type {
  ModelCapabilities,
  ModelManifest,
  ModelOutputs,
  ModelPrefixCache,
  SpecialTokenRole,
} from './model-manifest.ts';
export {
  PREFIX_CACHE_INPUTS,
  PREFIX_CACHE_OUTPUTS,
  prefixCacheBytesPerPosition,
} from './prefix-cache-contract.ts';
export { checkReducedOutputs } from './model-check/reduced-outputs.ts';
export { reduceModelDirectory } from './model-reduce/reduce-model-directory.ts';
export type { ReduceModelDirectoryOptions, ReduceModelDirectoryResult } from './model-reduce/reduce-model-directory.ts';
export { reduceOnnxModel, REDUCTION_METADATA_KEY } from './model-reduce/reduce-onnx-model.ts';
export type { ReducedOnnxModel, ReduceOnnxModelOptions } from './model-reduce/reduce-onnx-model.ts';
export { MAX_REDUCED_TOP_K, POSITIONS_INPUT, REDUCED_OUTPUTS } from './reduced-contract.ts';
export { OnnxDenoiser } from './onnx-denoiser.ts';
export type { InferenceThread, OnnxDenoiserOptions, OnnxDenoiserOutput, OnnxDenoiserStats } from './onnx-denoiser.ts';
export { Tokenizer } from './tokenizer.ts';
