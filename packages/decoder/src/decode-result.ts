/**
 * Why a decode ended. "eos" and "stop" mean the answer is complete (it ends at an eos or before
 * a stop sequence); "length" means all `maxNewTokens` were decoded without either; "max_steps"
 * and "cancelled" mean decoding was cut short and the answer is the committed prefix.
 */
export type FinishReason = 'eos' | 'length' | 'stop' | 'max_steps' | 'cancelled';

export const FINISH_REASONS: readonly FinishReason[] = Object.freeze([
  'eos',
  'length',
  'stop',
  'max_steps',
  'cancelled',
] as const);

/** What one step (one forward pass) did. */
export interface StepReport {
  /** 1-based index of this step. */
  readonly step: number;
  /** Forward passes used so far by this job. */
  readonly nfe: number;
  /** Answer-relative positions (0 = first answer token) committed this step, ascending. */
  readonly committedPositions: Int32Array;
  /** The token committed at each of `committedPositions`. */
  readonly committedTokens: Int32Array;
  readonly finished: boolean;
  /** Set once `finished`. */
  readonly finishReason: FinishReason | null;
}

export interface DecodeResult {
  /** The answer: no eos, pad, bos or mask tokens, cut before a stop sequence. */
  readonly tokenIds: number[];
  readonly finishReason: FinishReason;
  /** Denoising steps taken. */
  readonly steps: number;
  /** Forward passes used (equal to `steps`: no step reuses a cached pass). */
  readonly nfe: number;
  /** Tokens committed at each step, in step order. */
  readonly committedPerStep: number[];
}
