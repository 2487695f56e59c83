/**
 * Where the gateway marks an active job as cancelled, so the worker holding it stops at its next
 * step and reports finish reason "cancelled". BullMQ has no cross-process cancel, so the worker
 * polls this key. It must match `cancelRequestKey` in apps/worker/src/cancel-watcher.ts (apps do not
 * import each other; the shared home for it is packages/queue).
 */
export function cancelRequestKey(prefix: string, jobId: string): string {
  return `${prefix}:cancel:${jobId}`;
}

/**
 * How long a cancel mark lives: longer than any decode, short enough not to pile up.
 * @defaultValue 600000
 */
export const CANCEL_REQUEST_TTL_MS = 600_000;
