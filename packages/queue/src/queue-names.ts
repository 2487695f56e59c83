/** The one queue all gateways produce to and all workers consume from. */
export const GENERATION_QUEUE = 'generate';

/**
 * BullMQ key prefix. Tests set their own so they never touch a fleet's keys.
 * @defaultValue 'dfleet'
 */
export const DEFAULT_REDIS_PREFIX = 'dfleet';

/** BullMQ priorities: lower runs first. */
export const PRIORITY_VALUES = { interactive: 1, batch: 10 } as const;
