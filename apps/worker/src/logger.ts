import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '@dfleet/env-config';

export type Logger = PinoLogger;

/** JSON logs on stderr; stdout carries only the readiness line that supervisors wait for. */
export function createLogger(level: LogLevel, workerId: string): Logger {
  return pino({ level, base: { app: 'worker', workerId } }, pino.destination(2));
}
