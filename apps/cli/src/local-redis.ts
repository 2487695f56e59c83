import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, redisAnswers, startRedisServer, type RunningRedisServer } from '@dfleet/local-processes';
import { CliError } from './cli-error.ts';

export interface LocalRedis {
  readonly url: string;
  /** How it was found, for the log line. */
  readonly origin: 'REDIS_URL' | 'default port' | 'started';
  stop(): Promise<void>;
}

const DEFAULT_REDIS = { host: '127.0.0.1', port: 6379 };

/**
 * `redisUrl` (REDIS_URL) if set; else 127.0.0.1:6379 if it answers; else a redis-server of our own
 * on a free port in a temp dir, with AOF on and `noeviction` as BullMQ requires.
 */
export async function resolveLocalRedis(
  redisUrl: string | undefined,
  defaultRedis = DEFAULT_REDIS,
): Promise<LocalRedis> {
  const nothingToStop = async () => {};
  if (redisUrl !== undefined) return { url: redisUrl, origin: 'REDIS_URL', stop: nothingToStop };
  if (await redisAnswers(defaultRedis.host, defaultRedis.port)) {
    return { url: `redis://${defaultRedis.host}:${defaultRedis.port}`, origin: 'default port', stop: nothingToStop };
  }
  if (spawnSync('redis-server', ['--version']).error) {
    throw new CliError(
      'redis_not_found',
      `No Redis answers on ${defaultRedis.host}:${defaultRedis.port} and \`redis-server\` is not installed.\n` +
        'Install one (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`) ' +
        'or point dfleet at a running Redis with REDIS_URL=redis://HOST:PORT.',
    );
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'dfleet-redis-'));
  let server: RunningRedisServer;
  try {
    server = await startRedisServer({ port, dir });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const hint = `redis-server did not start on port ${port}; try starting it by hand and set REDIS_URL.`;
    throw new CliError('redis_start_failed', `${hint}\n${(error as Error).message}`);
  }
  return {
    url: server.url,
    origin: 'started',
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
