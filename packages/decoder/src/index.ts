export type {
  BatchPositions,
  Denoiser,
  DenoiserBatch,
  DenoiserOutput,
  DenoiserOutputForm,
  LogitsOutput,
  PredictionsOutput,
  PrefixCacheRow,
  PrefixCacheSupport,
  RowPredictions,
} from './denoiser.ts';
export { LOGITS_FORM, rowPredictions } from './denoiser.ts';
export { applyRowOutput, batchPositions, checkOutputShape } from './row-output.ts';
export type {
  DecodeRequest,
  DecodingStrategy,
  SpecialTokens,
  ReferenceStrategyOptions,
  ThresholdStrategyOptions,
  FactorStrategyOptions,
  EntropyBoundedStrategyOptions,
} from './decode-request.ts';
export {
  DEFAULT_STRATEGY,
  decodingStrategySchema,
  describeKnobRange,
  enumKnobSchema,
  numberKnobSchema,
  STRATEGY_CONTRACT,
  STRATEGY_KNOBS,
  STRATEGY_NAMES,
} from './strategy-contract.ts';
export type {
  EnumKnob,
  NumberKnob,
  OwnedKnob,
  StrategyKnob,
  StrategyKnobWireName,
  StrategyName,
} from './strategy-contract.ts';
export { canvasLength, maxPromptTokens, promptTooLong } from './canvas-layout.ts';
export type { PromptTooLong } from './canvas-layout.ts';
export type { DecodeResult, FinishReason, StepReport, TokenLogprob } from './decode-result.ts';
export { FINISH_REASONS } from './decode-result.ts';
export { createDecodeSession } from './decode-session.ts';
export type { DecodeSession } from './decode-session.ts';
export { decode } from './decode.ts';
export type { DecodeOptions } from './decode.ts';
export { decodeBatch } from './decode-batch.ts';
export type { DecodeBatchOptions } from './decode-batch.ts';
export { DecodeOptionsError } from './decode-options-error.ts';
export type { DecodeOptionsErrorCode } from './decode-options-error.ts';
export { DecodeSessionError } from './decode-session-error.ts';
export type { DecodeSessionErrorCode } from './decode-session-error.ts';
export { bucketLength, padBatch } from './pad-batch.ts';
export type { PadBatchOptions } from './pad-batch.ts';
export { suppressedTokenIds } from './suppressed-tokens.ts';
