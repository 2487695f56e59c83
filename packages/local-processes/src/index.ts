export { startManagedProcess } from './managed-process.ts';
export type { ManagedProcess, StartProcessOptions } from './managed-process.ts';
export { startRedisServer, redisAnswers } from './redis-server.ts';
export type { RedisServerOptions, RunningRedisServer } from './redis-server.ts';
export { freePort } from './free-port.ts';
export { LocalProcessError } from './local-process-error.ts';
export type { LocalProcessErrorCode } from './local-process-error.ts';
