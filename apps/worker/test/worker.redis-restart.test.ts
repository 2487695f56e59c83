import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENERATION_QUEUES, generationResultSchema, redisOptionsFor, type GenerationJobInput } from '@dfleet/queue';
import { loadWorkerConfig } from '../src/config.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { MODEL_DIR } from './default-model.ts';


/** A Redis of this test's own (so it may be stopped), with AOF as the fleet requires. */
class OwnRedis {
  #process: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.#process = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let redis: OwnRedis;
let dir: string;
let worker: RunningWorker | undefined;
let queue: Queue;
let events: QueueEvents;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dfleet-redis-'));
  redis = new OwnRedis(await freePort(), dir);
  await redis.start();
  // Both sides wait out the outage instead of failing fast, like a worker does.
  queue = new Queue(GENERATION_QUEUES.batch, { connection: redisOptionsFor(redis.url, 'worker'), prefix: 'dfleet' });
  events = new QueueEvents(GENERATION_QUEUES.batch, { connection: redisOptionsFor(redis.url, 'worker'), prefix: 'dfleet' });
  await events.waitUntilReady();
  worker = await startWorker({
    ...loadWorkerConfig({ REDIS_URL: redis.url, DFLEET_MODEL_DIR: MODEL_DIR, DFLEET_WORKER_ID: 'restart-test', LOG_LEVEL: 'silent' }),
  });
});

afterAll(async () => {
  await worker?.close();
  await events?.close();
  await queue?.close();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

function jobData(): GenerationJobInput {
  return {
    requestId: `cmpl-${randomUUID()}`,
    tenant: 'test',
    model: 'jsfunc-mdm',
    prompt: '// return a plus b\nfunction add(a, b) {\n',
    options: { maxNewTokens: 16, blockLength: 16, strategy: { name: 'threshold', threshold: 0.9 }, temperature: 0, seed: 0 },
    priority: 'batch',
    // No gateway in this test: the results are read from Redis.
    callback: { address: '127.0.0.1:1', token: randomBytes(16).toString('hex') },
    acceptedAt: Date.now(),
  };
}

async function runJob(): Promise<unknown> {
  const data = jobData();
  const job = await queue.add(GENERATION_QUEUES.batch, data, { jobId: data.requestId, attempts: 3 });
  return generationResultSchema.parse(await job.waitUntilFinished(events));
}

describe('worker across a Redis restart', () => {
  it('claims and finishes jobs again after Redis restarts', async () => {
    await expect(runJob()).resolves.toMatchObject({ workerId: 'restart-test' });
    await redis.stop();
    await redis.start();
    await expect(runJob()).resolves.toMatchObject({ workerId: 'restart-test' });
  });
});
