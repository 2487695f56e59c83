import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../src/local-redis.ts';
import { startManagedProcess, type ManagedProcess } from '../../src/managed-process.ts';
import { GATEWAY_ENTRY, WORKER_ENTRY } from '../../src/repo-paths.ts';

/** The shared test Redis; fault tests that stop Redis start their own with OwnRedisServer. */
export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

export function uniquePrefix(): string {
  return `dfleet-test-${randomUUID().slice(0, 8)}`;
}

/** Environment for gateway and worker processes of one test fleet (own prefix, any free ports). */
export function fleetEnv(redisUrl: string, prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    REDIS_URL: redisUrl,
    DFLEET_REDIS_PREFIX: prefix,
    DFLEET_PORT: '0',
    DFLEET_GRPC_PORT: '0',
    DFLEET_CALLBACK_PORT: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Every stderr line a process wrote, to assert on what it logged. */
class ProcessLog {
  readonly lines: string[] = [];
  readonly sink = (line: string): void => {
    this.lines.push(line);
  };

  /** Parsed pino lines whose `msg` contains `text`. */
  entries(text: string): Record<string, unknown>[] {
    const found: Record<string, unknown>[] = [];
    for (const line of this.lines) {
      const json = line.slice(line.indexOf('{'));
      try {
        const entry = JSON.parse(json) as Record<string, unknown>;
        if (typeof entry['msg'] === 'string' && entry['msg'].includes(text)) found.push(entry);
      } catch {
        // not a pino line (e.g. a plain message)
      }
    }
    return found;
  }
}

export interface GatewayProcess {
  process: ManagedProcess;
  httpUrl: string;
  grpcAddress: string;
  callbackAddress: string;
  log: ProcessLog;
}

export async function startGatewayProcess(env: NodeJS.ProcessEnv, name = 'gateway'): Promise<GatewayProcess> {
  const log = new ProcessLog();
  const process = await startManagedProcess({
    name,
    command: globalThis.process.execPath,
    args: ['--import', 'tsx', GATEWAY_ENTRY],
    env,
    readyPattern: /^gateway listening on (http:\/\/\S+) grpc=(\S+) callback=(\S+)/,
    log: log.sink,
  });
  return { process, httpUrl: process.ready[1]!, grpcAddress: process.ready[2]!, callbackAddress: process.ready[3]!, log };
}

export interface WorkerProcess {
  process: ManagedProcess;
  id: string;
  log: ProcessLog;
}

export async function startWorkerProcess(env: NodeJS.ProcessEnv, id: string): Promise<WorkerProcess> {
  const log = new ProcessLog();
  const process = await startManagedProcess({
    name: id,
    command: globalThis.process.execPath,
    args: ['--import', 'tsx', WORKER_ENTRY],
    env: { ...env, DFLEET_WORKER_ID: id },
    readyPattern: /^worker ready id=/,
    log: log.sink,
  });
  return { process, id, log };
}

/** SIGKILL: no handler runs, nothing is handed back; resolves once the process is gone. */
export async function killHard(process: ManagedProcess): Promise<void> {
  process.child.kill('SIGKILL');
  await process.exited;
}

/** Deletes every key under the test's own prefix (never anything else). */
export async function deletePrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface HttpAnswer<T = Record<string, any>> {
  status: number;
  headers: Headers;
  body: T;
}

export async function postCompletion(
  httpUrl: string,
  body: Record<string, unknown>,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const response = await fetch(`${httpUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify(body),
    ...(options.timeoutMs ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

export async function getJson(url: string, timeoutMs = 10_000): Promise<HttpAnswer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > giveUpAt) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A short prompt the default model completes in a few steps. */
export const prompt = (n: number): string => `// return x times ${n} plus 7\nfunction f(x) {\n`;

/**
 * A redis-server of the test's own on a spare port, AOF on (as the fleet requires), so the test
 * may stop and restart it. Data lives in a temp dir removed by `destroy()`.
 */
export class OwnRedisServer {
  #child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async create(): Promise<OwnRedisServer> {
    return new OwnRedisServer(await freePort(), await mkdtemp(join(tmpdir(), 'dfleet-redis-')));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(extraArgs: string[] = []): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction', ...extraArgs],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
    });
  }

  /** SIGTERM: Redis flushes its AOF and exits, as in a restart. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
