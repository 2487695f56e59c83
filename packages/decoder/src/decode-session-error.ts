export type DecodeSessionErrorCode =
  /** applyLogits was called on a finished session. */
  | 'session_finished'
  /** result() was called before the session finished. */
  | 'session_not_finished'
  /** The logits do not have the shape the canvas needs. */
  | 'logits_shape_mismatch'
  /** The output's window starts after a canvas position the step reads (or is off the canvas). */
  | 'window_after_candidates'
  /** NaN or +Infinity logits, or no finite logit among the tokens that may be predicted. */
  | 'non_finite_logits'
  /** The predictions lack a position the session reads, or their form does not fit the session. */
  | 'predictions_shape_mismatch';

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
