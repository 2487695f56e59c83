import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './cli-error.ts';

export interface LocalRedis {
  readonly url: string;
  /** How it was found, for the log line. */
  readonly origin: 'REDIS_URL' | 'default port' | 'started';
  stop(): Promise<void>;
}

const DEFAULT_REDIS = { host: '127.0.0.1', port: 6379 };

/** Sends PING and waits for +PONG (or an auth error, which still proves a Redis is there). */
export function redisAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

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
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'],
    { stdio: 'ignore' },
  );
  for (let attempt = 0; attempt < 50 && !(await redisAnswers('127.0.0.1', port)); attempt++) {
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!(await redisAnswers('127.0.0.1', port))) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new CliError('redis_start_failed', `redis-server did not start on port ${port}; try starting it by hand and set REDIS_URL.`);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    origin: 'started',
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
