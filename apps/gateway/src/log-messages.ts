/** Log messages that operators search for and tests assert on; rename them here only. */

/** A worker's result report this gateway refused (field `reason`: duplicate, wrong token, ...). */
export const RESULT_REPORT_NOT_ACCEPTED = 'result report not accepted';

/** The one line per HTTP request (fields `method`, `route`, `status`, `durationMs`, `jobId`, `traceId`, `tokens`, `steps`). */
export const REQUEST_COMPLETED = 'request completed';
