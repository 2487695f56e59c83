export { resolveLocalRedis, redisAnswers, freePort } from './local-redis.ts';
export type { LocalRedis } from './local-redis.ts';
export { detectGpus, selectGpus } from './gpu-devices.ts';
export { startManagedProcess } from './managed-process.ts';
export type { ManagedProcess, StartProcessOptions } from './managed-process.ts';
export { CliError } from './cli-error.ts';
export { cliEnv } from './cli-env.ts';
