export type LocalProcessErrorCode = 'start_timeout' | 'start_failed' | 'redis_start_failed';

/** A local process that did not come up; the message says why, with its last output lines. */
export class LocalProcessError extends Error {
  override readonly name = 'LocalProcessError';
  constructor(
    readonly code: LocalProcessErrorCode,
    message: string,
  ) {
    super(message);
  }
}
