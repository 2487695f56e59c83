/**
 * After DFLEET_SHUTDOWN_TIMEOUT_MS, the time close() has before the process exits anyway (main.ts):
 * a supervisor's kill timeout (Kubernetes' terminationGracePeriodSeconds) should cover both.
 */
export const FORCED_EXIT_MARGIN_MS = 5_000;
