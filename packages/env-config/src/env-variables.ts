import { z } from 'zod';
import { documented } from './env-docs.ts';

/** A TCP port; 0 asks the OS for any free one. */
export const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);

/** A positive whole number, such as a duration in milliseconds. */
export const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** LOG_LEVEL, read by every process that logs with pino. */
export const logLevelVariable = documented(z.enum(LOG_LEVELS).default('info'), {
  meaning: 'pino level on stderr: `fatal` … `trace`, `silent`',
});

export type LogLevel = z.output<typeof logLevelVariable>;
