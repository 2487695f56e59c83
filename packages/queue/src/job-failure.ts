/** BullMQ's failedReason for a job that stalled more than `maxStalledCount` times. */
export const STALLED_TOO_OFTEN_REASON = 'job stalled more than allowable limit';

/** A job's final failure as a gateway reports it: a stable code and a message that says why. */
export interface JobFailure {
  readonly errorCode: string;
  readonly errorMessage: string;
}

/**
 * Turns a failure reason (a worker's error message, or BullMQ's failedReason) into the code and
 * message clients see. Worker and gateway both use it, so a failure reads the same whichever
 * path (callback or queue event) reaches the gateway first.
 */
export function describeJobFailure(reason: string): JobFailure {
  if (reason === STALLED_TOO_OFTEN_REASON || reason.startsWith(`${STALLED_TOO_OFTEN_REASON}:`)) {
    return {
      errorCode: 'stalled_too_often',
      errorMessage:
        `${STALLED_TOO_OFTEN_REASON}: the workers running it stopped (crashed or were killed) more often than ` +
        "the workers' DFLEET_MAX_STALLED_COUNT allows; it is not run again, as it may be what crashes them",
    };
  }
  return { errorCode: 'generation_failed', errorMessage: reason };
}
