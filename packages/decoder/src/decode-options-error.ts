export type DecodeOptionsErrorCode =
  /** Not a number of the required kind (integer, finite, positive, in range). */
  | 'invalid_value'
  /** maxNewTokens is not a multiple of blockLength. */
  | 'block_length_not_a_divisor'
  /** reference steps is not a multiple of the number of blocks. */
  | 'steps_not_divisible_by_blocks'
  /** A token id outside [0, vocabSize), or a mask token in the prompt. */
  | 'invalid_token'
  /** Two special tokens share an id where the decoder must tell them apart. */
  | 'special_token_conflict'
  | 'unknown_strategy'
  /** temperature > 0 on a denoiser whose reduced outputs have no top-k to sample among. */
  | 'temperature_needs_top_k'
  /** logprobs asks for more alternatives than the model's reduced outputs carry (its top-k). */
  | 'logprobs_needs_top_k'
  /** A fill-in-the-middle suffix together with a canvas that may grow (maxCanvasLength). */
  | 'suffix_with_continuation';

/**
 * A request the decoder refuses because it would hang or decode the wrong thing. A client
 * error: map it to HTTP 400 / gRPC INVALID_ARGUMENT.
 */
export class DecodeOptionsError extends Error {
  override readonly name = 'DecodeOptionsError';

  constructor(
    readonly code: DecodeOptionsErrorCode,
    /** Dotted path of the offending request field, e.g. `strategy.steps`. */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}
