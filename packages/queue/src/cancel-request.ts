/**
 * Where a gateway marks an active job as cancelled (DELETE /v1/jobs/:id). BullMQ has no
 * cross-process cancel and only the worker holding a job can stop it, so the gateway sets this
 * key (with a TTL) and that worker polls for it, stopping the decode at its next step.
 */
export function cancelRequestKey(prefix: string, jobId: string): string {
  return `${prefix}:cancel:${jobId}`;
}

/**
 * How long a cancel mark lives: longer than any decode, short enough not to pile up.
 * @defaultValue 600000
 */
export const CANCEL_REQUEST_TTL_MS = 600_000;
