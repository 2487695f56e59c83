export type DecodeSessionErrorCode =
  /** applyLogits was called on a finished session. */
  | 'SESSION_FINISHED'
  /** result() was called before the session finished. */
  | 'SESSION_NOT_FINISHED'
  /** The logits do not have the shape the canvas needs. */
  | 'LOGITS_SHAPE_MISMATCH'
  /** NaN or +Infinity logits, or no finite logit among the tokens that may be predicted. */
  | 'NON_FINITE_LOGITS';

/** A caller or model broke the session's contract; the job cannot continue. */
export class DecodeSessionError extends Error {
  override readonly name = 'DecodeSessionError';

  constructor(
    readonly code: DecodeSessionErrorCode,
    message: string,
  ) {
    super(message);
  }
}
