/** Log messages that operators search for and tests assert on; rename them here only. */

/** A job attempt failed (field `final`: no attempt is left). */
export const JOB_FAILED = 'job failed';

/** The shutdown grace ran out: the jobs still held go back to the queue unspent. */
export const JOBS_HANDED_BACK_AT_SHUTDOWN = 'shutdown grace ran out; handing active jobs back to the queue';

/** No gateway took the result; it is still served from Redis. */
export const RESULT_CALLBACK_GIVEN_UP = 'result callback given up; the result stays in Redis as the job return value';
