export type DecodeOptionsErrorCode =
  /** Not a number of the required kind (integer, finite, positive, in range). */
  | 'INVALID_VALUE'
  /** maxNewTokens is not a multiple of blockLength. */
  | 'BLOCK_LENGTH_NOT_A_DIVISOR'
  /** reference steps is not a multiple of the number of blocks. */
  | 'STEPS_NOT_DIVISIBLE_BY_BLOCKS'
  /** A token id outside [0, vocabSize), or a mask token in the prompt. */
  | 'INVALID_TOKEN'
  /** Two special tokens share an id where the decoder must tell them apart. */
  | 'SPECIAL_TOKEN_CONFLICT'
  | 'UNKNOWN_STRATEGY';

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
