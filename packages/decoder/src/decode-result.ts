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

/** One token's log-probability at the step that committed it, and the best alternatives then. */
export interface TokenLogprob {
  /** Natural log of the token's probability (full softmax, temperature 1). */
  readonly logprob: number;
  /** The best ids at that step, best first (the token itself among them when it ranks), with their log-probabilities. */
  readonly top: readonly { readonly id: number; readonly logprob: number }[];
}

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
  /** Aligned with `committedTokens`; only when the request set `logprobs`. */
  readonly committedLogprobs?: readonly TokenLogprob[];
  /** Answer positions on the canvas now (grows when a continuation block is appended). */
  readonly answerLength: number;
  /**
   * Answer tokens [0, finalPrefix) are final: committed, before the answer's end, within
   * `maxAnswerTokens`, and not the start of a stop sequence that may still complete. A stream
   * sends exactly these, so nothing it sent is ever revised. Equals the answer's length once finished.
   */
  readonly finalPrefix: number;
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
  /** The 1-based step that committed each answer token, aligned with `tokenIds`. */
  readonly tokenSteps: number[];
  /** Aligned with `tokenIds`; only when the request set `logprobs`. */
  readonly tokenLogprobs?: TokenLogprob[];
}
