import type { Denoiser } from '@dfleet/decoder';
import type { BatchReport } from './batch-report.ts';

/** Fast-dLLM's approximate prefix cache, for a denoiser with `prefixCache`. */
export interface PrefixCacheOptions {
  /**
   * Most bytes all decodes' caches may take together. A decode whose refresh would pass it runs
   * that step uncached and tries again at its next step.
   */
  readonly maxBytes: number;
}

export interface StepSchedulerOptions {
  readonly denoiser: Denoiser;
  /** Id written into padding positions (attention mask 0 there). */
  readonly padId: number;
  /**
   * Upper bound on batchSize x padded length of one forward pass (memory). A single decode
   * longer than this still runs, alone.
   */
  readonly maxBatchTokens: number;
  /**
   * Padded lengths are rounded up to a multiple of this, so passes of similar lengths share a
   * shape.
   * @defaultValue 16
   */
  readonly lengthMultiple?: number;
  /** Observer of every forward pass (metrics, tests); must not throw. */
  readonly onBatch?: (report: BatchReport) => void;
  /**
   * Keep each decode's prefix (the canvas before its current block) cached in the denoiser: a
   * full pass at each block's first step refreshes it, the block's other steps run only the
   * window. Needs a denoiser with `prefixCache`. Absent: every pass runs whole canvases.
   */
  readonly prefixCache?: PrefixCacheOptions;
}
