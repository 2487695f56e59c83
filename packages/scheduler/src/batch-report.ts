import type { DecodeSession } from '@dfleet/decoder';

/**
 * What a forward pass ran: `full` rows carry their whole canvas (and may refresh their prefix
 * cache), `cached` rows only their window after the cached prefix. Without a prefix cache every
 * pass is `full`.
 */
export type PassKind = 'full' | 'cached';

/** One forward pass as the scheduler ran it. */
export interface BatchReport {
  /** 1-based index of the forward pass since the scheduler was created. */
  readonly step: number;
  readonly kind: PassKind;
  /** Sum over the rows of the canvas positions read from a prefix cache instead of run (0 for `full`). */
  readonly cachedPositions: number;
  /** The sessions in this pass, in row order. */
  readonly sessions: readonly DecodeSession[];
  /** Padded (bucketed) length of every row. */
  readonly sequenceLength: number;
  /** batchSize x sequenceLength: what counts against `maxBatchTokens`. */
  readonly paddedTokens: number;
  /** Sum of the rows' own lengths (their windows' for `cached`). */
  readonly realTokens: number;
  /** Decodes that were active but left out of this iteration's passes for the token budget. */
  readonly deferred: number;
  readonly denoiseMs: number;
  /** Time spent applying the output (logits or predictions) to every row of this pass. */
  readonly applyMs: number;
}

export interface StepSchedulerStats {
  readonly forwardPasses: number;
  readonly rows: number;
  readonly paddedTokens: number;
  readonly realTokens: number;
  readonly denoiseMs: number;
  readonly applyMs: number;
  /** Forward passes of kind `cached` (included in `forwardPasses`). */
  readonly cachedPasses: number;
  /** Bytes of prefix caches the decodes alive hold in the denoiser now. */
  readonly cacheBytes: number;
}
