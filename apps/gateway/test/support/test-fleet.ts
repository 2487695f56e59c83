import { fileURLToPath } from 'node:url';
import { Worker, type Job } from 'bullmq';
import { pino } from 'pino';
import {
  createWorkerCallbackClient,
  type ReportAck__Output,
  type ProgressReport,
  type ResultReport,
} from '@dfleet/proto';
import {
  GENERATION_QUEUES,
  PRIORITY_CLASSES,
  redisOptionsFor,
  type GenerationJob,
  type GenerationResult,
} from '@dfleet/queue';
import { SHARED_REDIS_URL, postCompletion as postCompletionTo } from '@dfleet/test-support';
import { loadGatewayConfig, type GatewayConfig } from '../../src/config.ts';
import { startGateway, type RunningGateway } from '../../src/gateway.ts';

export const FIXTURE_MODEL_DIR = fileURLToPath(new URL('../fixtures/tiny-model', import.meta.url));
export const FIXTURE_MODEL = 'tiny-test-model';

export function testGatewayConfig(overrides: Record<string, string> = {}): GatewayConfig {
  return loadGatewayConfig({
    REDIS_URL: SHARED_REDIS_URL,
    DFLEET_MODEL_DIR: FIXTURE_MODEL_DIR,
    DFLEET_PORT: '0',
    DFLEET_GRPC_PORT: '0',
    DFLEET_CALLBACK_PORT: '0',
    LOG_LEVEL: 'silent',
    ...overrides,
  });
}

export async function startTestGateway(
  prefix: string,
  overrides: Record<string, string> = {},
): Promise<RunningGateway> {
  return startGateway(testGatewayConfig({ DFLEET_REDIS_PREFIX: prefix, ...overrides }), {
    logger: pino({ level: 'silent' }),
  });
}

/** The worker side of the protocol: a result on a real WorkerCallback report stream, as a worker sends it. */
export function reportResult(address: string, report: ResultReport): Promise<{ accepted: boolean; reason: string }> {
  const client = createWorkerCallbackClient(address);
  const call = client.Report();
  return new Promise<{ accepted: boolean; reason: string }>((resolve, reject) => {
    call.on('data', ({ jobId, attempt, accepted, reason }: ReportAck__Output) => {
      if (jobId === report.jobId && attempt === report.attempt) resolve({ accepted, reason });
      else
        reject(
          new Error(`the answer names ${jobId}#${attempt}, not the report sent (${report.jobId}#${report.attempt})`),
        );
    });
    call.on('error', reject);
    call.on('end', () => reject(new Error('the report stream ended without an answer')));
    call.write({ result: report });
  }).finally(() => {
    call.end();
    client.close();
  });
}

/** Progress on a report stream; progress is not answered, so this resolves once the stream ended cleanly. */
export function reportProgress(address: string, report: ProgressReport): Promise<void> {
  const client = createWorkerCallbackClient(address);
  const call = client.Report();
  return new Promise<void>((resolve, reject) => {
    call.on('data', () => undefined);
    call.on('error', reject);
    call.on('end', resolve);
    call.write({ progress: report });
    call.end();
  }).finally(() => client.close());
}

/** A successful result report for a job, signed with the job's own token unless overridden. */
export function resultReportFor(
  job: Job<GenerationJob>,
  text: string,
  overrides: Partial<ResultReport> = {},
): ResultReport {
  return {
    jobId: job.id ?? '',
    attempt: job.attemptsMade + 1,
    callbackToken: job.data.callback.token,
    ...generationResultFor(text),
    ...overrides,
  };
}

export function generationResultFor(text: string): GenerationResult {
  return {
    text,
    tokenIds: [...text].map((_, index) => 10 + index),
    finishReason: 'eos',
    steps: 3,
    nfe: 3,
    tokenSteps: [...text].map(() => 1),
    promptTokens: 5,
    queueMs: 1.5,
    decodeMs: 2.5,
    workerId: 'test-worker',
  };
}

/** The BullMQ workers of startTestWorker, one per priority class. */
export interface TestWorker {
  close(): Promise<void>;
}

/** Real BullMQ workers on the test prefix, one per class's queue, running `processor` for each generation job. */
export function startTestWorker(
  prefix: string,
  processor: (job: Job<GenerationJob>) => Promise<GenerationResult>,
): TestWorker {
  const workers = PRIORITY_CLASSES.map(
    (priority) =>
      new Worker<GenerationJob, GenerationResult>(GENERATION_QUEUES[priority], processor, {
        connection: redisOptionsFor(SHARED_REDIS_URL, 'worker'),
        prefix,
        // Tests assert on what the first attempt did.
        concurrency: 4,
      }),
  );
  return {
    close: async () => {
      await Promise.all(workers.map((worker) => worker.close()));
    },
  };
}

/** POST /v1/completions to an in-process gateway. */
export function postCompletion(gateway: RunningGateway, body: unknown, headers: Record<string, string> = {}) {
  return postCompletionTo(gateway.httpUrl, body, { headers });
}

/** Promise.withResolvers, which Node 20 lacks. */
export function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
