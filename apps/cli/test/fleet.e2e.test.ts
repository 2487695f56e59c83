import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGenerationClient, type GenerateResponse__Output } from '@dfleet/proto';
import { GenerationQueues, generationJobSchema } from '@dfleet/queue';
import { startManagedProcess, type ManagedProcess } from '../src/managed-process.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `dfleet-test-${randomUUID().slice(0, 8)}`;
const entry = (app: string) => fileURLToPath(new URL(`../../${app}/src/main.ts`, import.meta.url));
const env = {
  ...process.env,
  REDIS_URL,
  DFLEET_REDIS_PREFIX: prefix,
  DFLEET_PORT: '0',
  DFLEET_GRPC_PORT: '0',
  DFLEET_CALLBACK_PORT: '0',
  LOG_LEVEL: 'warn',
  // Two jobs per worker at a time, so eight jobs cannot all land on one worker at once.
  DFLEET_MAX_ACTIVE_JOBS: '2',
};
const quiet = () => {};

interface Gateway {
  process: ManagedProcess;
  httpUrl: string;
  grpcAddress: string;
  callbackAddress: string;
}

const gateways: Gateway[] = [];
const workers: ManagedProcess[] = [];

async function startGateway(): Promise<Gateway> {
  const process = await startManagedProcess({
    name: 'gateway',
    command: globalThis.process.execPath,
    args: ['--import', 'tsx', entry('gateway')],
    env,
    readyPattern: /^gateway listening on (http:\/\/\S+) grpc=(\S+) callback=(\S+)/,
    log: quiet,
  });
  return { process, httpUrl: process.ready[1]!, grpcAddress: process.ready[2]!, callbackAddress: process.ready[3]! };
}

async function startWorker(id: string): Promise<ManagedProcess> {
  return startManagedProcess({
    name: id,
    command: process.execPath,
    args: ['--import', 'tsx', entry('worker')],
    env: { ...env, DFLEET_WORKER_ID: id },
    readyPattern: /^worker ready id=/,
    log: quiet,
  });
}

beforeAll(async () => {
  gateways.push(...(await Promise.all([startGateway(), startGateway()])));
  workers.push(...(await Promise.all([startWorker('e2e-worker-a'), startWorker('e2e-worker-b')])));
}, 180_000);

afterAll(async () => {
  await Promise.all([...workers, ...gateways.map((g) => g.process)].map((p) => p.stop()));
  const queue = new GenerationQueues({ connection: { url: REDIS_URL }, prefix });
  await queue.obliterate();
  await queue.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
}, 60_000);

const prompt = (n: number) => `// return x times ${n} plus 7\nfunction f(x) {\n`;

interface CompletionBody {
  id: string;
  choices: { text: string; finish_reason: string }[];
  usage: { completion_tokens: number; steps: number; nfe: number };
  dfleet: { worker_id: string };
}

async function completeOverHttp(gateway: Gateway, n: number): Promise<CompletionBody> {
  const response = await fetch(`${gateway.httpUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'jsfunc-mdm', prompt: prompt(n), dfleet: { strategy: 'threshold', threshold: 0.9 } }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as CompletionBody;
}

function completeOverGrpc(gateway: Gateway, n: number): Promise<GenerateResponse__Output> {
  const client = createGenerationClient(gateway.grpcAddress);
  return new Promise((resolve, reject) =>
    client.Generate({ model: 'jsfunc-mdm', prompt: prompt(n), decoding: { strategy: 'threshold', threshold: 0.9 } }, (error, response) => {
      client.close();
      return error ? reject(error) : resolve(response!);
    }),
  );
}

describe('a fleet of two gateways and two workers on one Redis', () => {
  it('answers every request at the gateway that accepted it, with both workers decoding', async () => {
    const [a, b] = gateways as [Gateway, Gateway];
    const viaA = Array.from({ length: 4 }, (_, i) => completeOverHttp(a, i + 2));
    const viaB = Array.from({ length: 4 }, (_, i) => completeOverGrpc(b, i + 12));
    const [httpAnswers, grpcAnswers] = await Promise.all([Promise.all(viaA), Promise.all(viaB)]);

    const queue = new GenerationQueues({ connection: { url: REDIS_URL }, prefix });
    const callbackOf = async (id: string) => generationJobSchema.parse((await queue.getJob(id))!.data).callback.address;
    for (const answer of httpAnswers) {
      expect(answer.usage.nfe).toBeGreaterThan(0);
      expect(await callbackOf(answer.id)).toBe(a.callbackAddress);
    }
    for (const answer of grpcAnswers) {
      expect(answer.usage!.nfe).toBeGreaterThan(0);
      expect(await callbackOf(answer.id)).toBe(b.callbackAddress);
    }
    const finished = await Promise.all([...httpAnswers, ...grpcAnswers].map((answer) => queue.getJob(answer.id)));
    await queue.close();
    const workerIds = new Set(finished.map((job) => (job!.returnvalue as { workerId: string }).workerId));
    expect(workerIds).toEqual(new Set(['e2e-worker-a', 'e2e-worker-b']));
  });

  it('serves a finished job from Redis through the other gateway', async () => {
    const [a, b] = gateways as [Gateway, Gateway];
    const answer = await completeOverHttp(a, 5);
    const response = await fetch(`${b.httpUrl}/v1/jobs/${answer.id}`);
    expect(response.status).toBe(200);
    const job = (await response.json()) as { state: string; result: CompletionBody };
    expect(job.state).toBe('completed');
    expect(job.result.choices[0]!.text).toBe(answer.choices[0]!.text);
  });

  it('reports ready once workers publish heartbeats', async () => {
    const response = await fetch(`${gateways[0]!.httpUrl}/readyz`);
    expect(response.status).toBe(200);
  });
});
