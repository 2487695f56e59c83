export { resolveLocalRedis } from './local-redis.ts';
export type { LocalRedis } from './local-redis.ts';
export { detectGpus, selectGpus } from './gpu-devices.ts';
export { CliError } from './cli-error.ts';
export { cliEnv } from './cli-env.ts';
