import type { PriorityClass } from './generation-job.ts';

/**
 * One BullMQ queue per priority class: each worker process consumes each with its own BullMQ
 * worker and concurrency, and an autoscaler reads each class's backlog as its wait list's length.
 * A job id names one job across both queues (the gateway checks the other class before adding).
 */
export const GENERATION_QUEUES = {
  interactive: 'generate-interactive',
  batch: 'generate-batch',
} as const satisfies Record<PriorityClass, string>;

/** The classes in the order a lookup by id tries them (interactive jobs are the ones polled). */
export const PRIORITY_CLASSES = ['interactive', 'batch'] as const satisfies readonly PriorityClass[];

/**
 * BullMQ key prefix. Tests set their own so they never touch a fleet's keys.
 * @defaultValue 'dfleet'
 */
export const DEFAULT_REDIS_PREFIX = 'dfleet';
