import type { PrefixCacheShape } from './prefix-cache-store.mjs';
import type { OutputSpec, SessionDescription, SessionRunInput, SessionRunResult } from './session-core.mjs';

export type { OutputSpec, PrefixCacheShape, SessionDescription, SessionRunInput, SessionRunResult };

/**
 * Something that owns one onnxruntime session and runs batches on it, one at a time.
 * Errors from the session surface as plain `Error`s whose `name` is kept (the caller maps them).
 */
export interface SessionRunner {
  readonly description: SessionDescription;
  run(input: SessionRunInput): Promise<SessionRunResult>;
  close(): Promise<void>;
}
