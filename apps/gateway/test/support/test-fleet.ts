import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker, type Job } from 'bullmq';
import { pino } from 'pino';
import {
  createWorkerCallbackClient,
  type ReportAck__Output,
  type ProgressReport,
  type ResultReport,
  type StepReport,
} from '@dfleet/proto';
import { Redis } from 'ioredis';
import {
  GENERATION_QUEUES,
  HEARTBEAT_TTL_MS,
  PRIORITY_CLASSES,
  publishHeartbeat,
  redisOptionsFor,
  removeHeartbeat,
  type GenerationJob,
  type GenerationResult,
  type WorkerHeartbeat,
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

/** One worker report stream: steps are sent as they come, a result resolves with its answer. */
export function openReportStream(address: string): {
  step(report: StepReport): void;
  result(report: ResultReport): Promise<{ accepted: boolean; reason: string }>;
  /** Ends the stream without a result (the result then reaches the gateway through Redis). */
  end(): void;
} {
  const client = createWorkerCallbackClient(address);
  const call = client.Report();
  const failed = new Promise<never>((_, reject) => {
    call.on('error', reject);
    call.on('end', () => reject(new Error('the report stream ended without an answer')));
  });
  failed.catch(() => undefined);
  return {
    step: (report) => call.write({ step: report }),
    end: () => {
      call.end();
      client.close();
    },
    result: (report) =>
      Promise.race([
        new Promise<{ accepted: boolean; reason: string }>((resolve) => {
          call.on('data', ({ accepted, reason }: ReportAck__Output) => resolve({ accepted, reason }));
          call.write({ result: report });
        }),
        failed,
      ]).finally(() => {
        call.end();
        client.close();
      }),
  };
}

/** Step reports then the result on one report stream, in order, as a streaming worker sends them. */
export function reportStepsThenResult(
  address: string,
  steps: readonly StepReport[],
  result: ResultReport,
): Promise<{ accepted: boolean; reason: string }> {
  const stream = openReportStream(address);
  for (const step of steps) stream.step(step);
  return stream.result(result);
}

/**
 * The step reports of a job whose answer is `tokenIds`, committed `perStep` positions at a time
 * from the left, so each step makes more of the answer final.
 */
export function stepReportsFor(job: Job<GenerationJob>, tokenIds: readonly number[], perStep: number): StepReport[] {
  const reports: StepReport[] = [];
  const committed = new Set<number>();
  for (let start = 0, step = 1; start < tokenIds.length; start += perStep, step++) {
    const count = Math.min(perStep, tokenIds.length - start);
    const positions = Array.from({ length: count }, (_, i) => start + i);
    for (const position of positions) committed.add(position);
    let finalPrefix = 0;
    while (committed.has(finalPrefix)) finalPrefix++;
    reports.push({
      jobId: job.id ?? '',
      attempt: job.attemptsMade + 1,
      callbackToken: job.data.callback.token,
      step,
      nfe: step,
      committedPositions: positions,
      committedTokens: positions.map((position) => tokenIds[position] as number),
      answerLength: tokenIds.length,
      finalPrefix,
      decodeMs: step * 2,
      finished: start + count === tokenIds.length,
    });
  }
  return reports;
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

/**
 * Real BullMQ workers on the test prefix, one per class's queue, running `processor` for each
 * generation job, and a live heartbeat for the fixture model (gateways refuse interactive requests
 * for a model no worker beats for). Resolves once the heartbeat is in Redis.
 */
export async function startTestWorker(
  prefix: string,
  processor: (job: Job<GenerationJob>) => Promise<GenerationResult>,
): Promise<TestWorker> {
  const heartbeat = await startTestHeartbeat(prefix);
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
      await Promise.all([...workers.map((worker) => worker.close()), heartbeat.close()]);
    },
  };
}

/** A heartbeat as a worker serving `model` publishes it. */
export function liveWorkerOf(model: string, workerId = 'test-worker'): WorkerHeartbeat {
  const now = Date.now();
  return { workerId, device: 'cpu', model, jobsInFlight: 0, pid: process.pid, startedAt: now, updatedAt: now };
}

/**
 * A worker heartbeat for the fixture model, renewed until closed: what a gateway needs to see to
 * enqueue interactive requests. The gateway reads heartbeats at most a second old, so a test that
 * just closed one waits that long before it expects no_worker.
 */
export async function startTestHeartbeat(prefix: string, model = FIXTURE_MODEL): Promise<{ close(): Promise<void> }> {
  const redis = new Redis(redisOptionsFor(SHARED_REDIS_URL, 'producer'));
  // The producer options queue nothing offline: wait for the connection before the first beat.
  await once(redis, 'ready');
  const workerId = `test-worker-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const beat = () => publishHeartbeat(redis, prefix, liveWorkerOf(model, workerId));
  await beat();
  const timer = setInterval(() => void beat().catch(() => undefined), HEARTBEAT_TTL_MS / 4);
  return {
    close: async () => {
      clearInterval(timer);
      await removeHeartbeat(redis, prefix, workerId).catch(() => undefined);
      redis.disconnect();
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
