import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { LocalProcessError } from './local-process-error.ts';

export interface RedisServerOptions {
  port: number;
  /** Where the AOF lives. The caller owns it: a restart on the same dir finds the data again. */
  dir: string;
  /** More redis-server arguments; later ones win, e.g. another `--maxmemory-policy`. */
  extraArgs?: string[];
  /** @defaultValue 10000 */
  readyTimeoutMs?: number;
}

export interface RunningRedisServer {
  readonly url: string;
  /** SIGTERM: Redis flushes its AOF and exits, as in a restart; resolves once it is gone. */
  stop(): Promise<void>;
  /** SIGKILL: Redis dies as in a crash, flushing nothing; resolves once it is gone. */
  kill(): Promise<void>;
}

const READY_LINE = 'Ready to accept connections';

/**
 * A redis-server on 127.0.0.1 as the fleet requires it: AOF on (jobs survive a restart), no RDB
 * snapshots, and `noeviction` (BullMQ's keys must never be evicted). Resolves once it says it is
 * ready; a server that exits first or stays silent is a `redis_start_failed` with its output.
 */
export async function startRedisServer(options: RedisServerOptions): Promise<RunningRedisServer> {
  const { port, dir } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const child = spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
      ...['--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'],
      ...(options.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new LocalProcessError('redis_start_failed', `redis-server on port ${port} ${why}\n${output.trim()}`));
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(`was not ready within ${readyTimeoutMs} ms:`);
      }, readyTimeoutMs);
      child.stdout.on('data', () => {
        if (!output.includes(READY_LINE)) return;
        clearTimeout(timer);
        resolve();
      });
      child.once('error', (error) => fail(`could not be started (${error.message}).`));
      child.once('exit', (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready:`));
    });
  } finally {
    // Keep reading so a chatty server never blocks on a full pipe, but keep nothing.
    child.stdout.removeAllListeners('data').resume();
    child.stderr.removeAllListeners('data').resume();
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

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
