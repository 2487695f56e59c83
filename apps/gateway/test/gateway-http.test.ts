import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  GenerationQueues,
  generationJobSchema,
  publishHeartbeat,
  removeHeartbeat,
  type GenerationJob,
} from '@dfleet/queue';
import { SHARED_REDIS_URL, deletePrefix, eventually, getJson, uniquePrefix } from '@dfleet/test-support';
import type { RunningGateway } from '../src/gateway.ts';
import {
  FIXTURE_MODEL,
  deferred,
  generationResultFor,
  postCompletion,
  reportProgress,
  reportResult,
  resultReportFor,
  startTestGateway,
  startTestHeartbeat,
  startTestWorker,
  type TestWorker,
} from './support/test-fleet.ts';

const prefix = uniquePrefix();
let gateway: RunningGateway;
let worker: TestWorker | undefined;
/** A worker that is alive but claims nothing yet, for tests that need interactive jobs to stay queued. */
let idleWorker: { close(): Promise<void> } | undefined;
let redis: Redis;
let queue: GenerationQueues<GenerationJob>;

beforeAll(async () => {
  gateway = await startTestGateway(prefix);
  redis = new Redis(SHARED_REDIS_URL);
  queue = new GenerationQueues<GenerationJob>({ connection: redis, prefix });
});

afterEach(async () => {
  await worker?.close();
  await idleWorker?.close();
  worker = undefined;
  idleWorker = undefined;
});

afterAll(async () => {
  await gateway?.close(1_000);
  await queue?.close();
  redis?.disconnect();
  await deletePrefix(prefix);
});

const prompt = 'function add(a, b) {\n';

describe('POST /v1/completions', () => {
  it('enqueues a valid GenerationJob and answers with the result the worker reports back', async () => {
    const seen: unknown[] = [];
    const ack = deferred<unknown>();
    worker = await startTestWorker(prefix, async (job) => {
      seen.push(job.data);
      ack.resolve(await reportResult(job.data.callback.address, resultReportFor(job, 'return a + b;')));
      return generationResultFor('return a + b;');
    });

    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt, max_tokens: 8, seed: 3 });

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      object: 'text_completion',
      model: FIXTURE_MODEL,
      choices: [{ index: 0, text: 'return a + b;', finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 5, completion_tokens: 13, total_tokens: 18, steps: 3, nfe: 3 },
      dfleet: { finish_reason: 'eos', queue_ms: 1.5, decode_ms: 2.5, worker_id: 'test-worker' },
    });
    expect(response.body.id).toMatch(/^cmpl-[0-9a-f-]{36}$/);
    expect(await ack.promise).toEqual({ accepted: true, reason: '' });
    expect(seen).toHaveLength(1);
    const job = generationJobSchema.parse(seen[0]);
    expect(job).toMatchObject({
      requestId: response.body.id,
      tenant: 'default',
      model: FIXTURE_MODEL,
      prompt,
      priority: 'interactive',
      callback: { address: gateway.callbackAddress },
      // max_tokens caps the answer; the canvas is the manifest's (16 for the fixture).
      options: {
        maxNewTokens: 16,
        blockLength: 16,
        maxAnswerTokens: 8,
        strategy: { name: 'threshold', threshold: 0.9 },
        seed: 3,
      },
    });
    expect(job.callback.token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects a callback with a wrong token and keeps waiting for the real one', async () => {
    const acks = deferred<unknown[]>();
    worker = await startTestWorker(prefix, async (job) => {
      const forged = await reportResult(
        gateway.callbackAddress,
        resultReportFor(job, 'FORGED', { callbackToken: 'a'.repeat(64) }),
      );
      const genuine = await reportResult(gateway.callbackAddress, resultReportFor(job, 'genuine'));
      acks.resolve([forged, genuine]);
      return generationResultFor('genuine');
    });

    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt });

    expect(await acks.promise).toEqual([
      { accepted: false, reason: 'bad_token' },
      { accepted: true, reason: '' },
    ]);
    expect(response.status).toBe(200);
    expect(response.body.choices[0].text).toBe('genuine');
  });

  it('accepts a duplicate result report once and answers with the first', async () => {
    const acks = deferred<unknown[]>();
    worker = await startTestWorker(prefix, async (job) => {
      const first = await reportResult(gateway.callbackAddress, resultReportFor(job, 'first'));
      const second = await reportResult(gateway.callbackAddress, resultReportFor(job, 'second', { attempt: 2 }));
      acks.resolve([first, second]);
      return generationResultFor('first');
    });

    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt });

    expect(await acks.promise).toEqual([
      { accepted: true, reason: '' },
      { accepted: false, reason: 'duplicate' },
    ]);
    expect(response.body.choices[0].text).toBe('first');
  });

  it('accepts a callback delivered twice at once (same job, same attempt) exactly once', async () => {
    const acks = deferred<{ accepted: boolean; reason: string }[]>();
    worker = await startTestWorker(prefix, async (job) => {
      // A retried delivery whose first try did arrive: both copies carry the same attempt.
      const report = resultReportFor(job, 'once');
      acks.resolve(
        await Promise.all([
          reportResult(gateway.callbackAddress, report),
          reportResult(gateway.callbackAddress, report),
        ]),
      );
      return generationResultFor('once');
    });

    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt });

    const verdicts = await acks.promise;
    expect(verdicts.filter((ack) => ack.accepted)).toHaveLength(1);
    expect(verdicts.filter((ack) => !ack.accepted)).toEqual([{ accepted: false, reason: 'duplicate' }]);
    expect(response.status).toBe(200);
    expect(response.body.choices[0].text).toBe('once');
  });

  it('answers 502 generation_failed with the reason a worker reports', async () => {
    worker = await startTestWorker(prefix, async (job) => {
      await reportResult(gateway.callbackAddress, {
        ...resultReportFor(job, ''),
        errorCode: 'decode_failed',
        errorMessage: 'the model produced NaN logits',
      });
      return generationResultFor('');
    });

    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt });

    expect(response.status).toBe(502);
    expect(response.body.error.code).toBe('generation_failed');
    expect(response.body.error.message).toContain('decode_failed: the model produced NaN logits');
  });

  it('makes an Idempotency-Key resubmission the same job, run once', async () => {
    const key = `key-${prefix}`;
    idleWorker = await startTestHeartbeat(prefix);
    const first = postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, { 'idempotency-key': key });
    const second = postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, { 'idempotency-key': key });
    // Both submissions are in before any worker runs, so neither can be a retry of a finished job.
    const jobId = await eventually('the idempotent job to be queued', async () => {
      const [queued] = await queue.getJobs(['waiting']);
      return queued?.id;
    });
    let runs = 0;
    worker = await startTestWorker(prefix, async (job) => {
      runs += 1;
      await reportResult(gateway.callbackAddress, resultReportFor(job, 'once'));
      return generationResultFor('once');
    });

    const responses = await Promise.all([first, second]);
    const third = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, { 'idempotency-key': key });

    expect(jobId).toMatch(/^idem-[0-9a-f]{32}$/);
    for (const response of [...responses, third]) {
      expect(response.status).toBe(200);
      expect(response.body.id).toBe(jobId);
      expect(response.body.choices[0].text).toBe('once');
    }
    expect(runs).toBe(1);
    const sameKeyJobs = (await queue.getJobs(['completed', 'waiting', 'active'])).filter((j) => j.id === jobId);
    expect(sameKeyJobs).toHaveLength(1);
  });

  it('answers a resubmission through a second gateway from Redis while the callback goes to the first', async () => {
    const key = `two-gateways-${prefix}`;
    idleWorker = await startTestHeartbeat(prefix);
    const other = await startTestGateway(prefix);
    try {
      const viaFirst = postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, { 'idempotency-key': key });
      await eventually('the job to be queued by the first gateway', async () => {
        return (await queue.getJobs(['waiting'])).length > 0;
      });
      const viaOther = postCompletion(other, { model: FIXTURE_MODEL, prompt }, { 'idempotency-key': key });
      const callbackTargets: string[] = [];
      worker = await startTestWorker(prefix, async (job) => {
        callbackTargets.push(job.data.callback.address);
        await reportResult(job.data.callback.address, resultReportFor(job, 'shared'));
        return generationResultFor('shared');
      });

      const [first, second] = await Promise.all([viaFirst, viaOther]);

      expect(callbackTargets).toEqual([gateway.callbackAddress]);
      expect(second.body.id).toBe(first.body.id);
      expect(first.body.choices[0].text).toBe('shared');
      expect(second.body.choices[0].text).toBe('shared');
    } finally {
      await other.close(1_000);
    }
  });

  it('refuses an Idempotency-Key reused under the other priority class with 422, and keeps one job', async () => {
    const key = `other-class-${prefix}`;
    idleWorker = await startTestHeartbeat(prefix);
    const first = postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, { 'idempotency-key': key });
    const jobId = await eventually(
      'the interactive job to be queued',
      async () => (await queue.of('interactive').getJobs(['waiting']))[0]?.id,
    );

    const asBatch = { model: FIXTURE_MODEL, prompt, dfleet: { priority: 'batch' } };
    const reused = await postCompletion(gateway, asBatch, { 'idempotency-key': key });

    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ code: 'idempotency_key_reused', param: 'idempotency_key' });
    expect(await queue.of('batch').getJob(jobId)).toBeUndefined();
    worker = await startTestWorker(prefix, async (job) => {
      await reportResult(gateway.callbackAddress, resultReportFor(job, 'x'));
      return generationResultFor('x');
    });
    expect((await first).status).toBe(200);
  });

  it('refuses an Idempotency-Key reused for a different prompt with 422', async () => {
    const key = `reuse-${prefix}`;
    worker = await startTestWorker(prefix, async (job) => {
      await reportResult(gateway.callbackAddress, resultReportFor(job, 'x'));
      return generationResultFor('x');
    });
    expect((await postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, { 'idempotency-key': key })).status).toBe(
      200,
    );

    const reused = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: 'other' }, { 'idempotency-key': key });

    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ code: 'idempotency_key_reused', param: 'idempotency_key' });
  });

  it('answers 400 naming the field, 400 prompt_too_long with the limit, and 404 for an unknown model', async () => {
    const badField = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt, dfleet: { gen_length: 1000 } });
    expect(badField.status).toBe(400);
    expect(badField.body).toEqual({
      error: {
        code: 'invalid_request',
        message: 'dfleet.gen_length must be an integer between 1 and 63 (the canvas of tiny-test-model)',
        param: 'dfleet.gen_length',
        type: 'invalid_request_error',
      },
    });

    const tooLong = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: 'y'.repeat(60) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.code).toBe('prompt_too_long');
    expect(tooLong.body.error.param).toBe('prompt');
    expect(tooLong.body.error.message).toContain('at most 47 prompt tokens');

    const unknown = await postCompletion(gateway, { model: 'llama-7b', prompt });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'model_not_found', param: 'model' });
  });

  it("puts Fastify's own failures in the OpenAI error shape", async () => {
    const badJson = await postCompletion(gateway, '{"model": ');
    expect(badJson.status).toBe(400);
    expect(badJson.body.error.code).toBe('invalid_request');

    const plain = await getJson(`${gateway.httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(plain.status).toBe(415);
    expect(plain.body.error.code).toBe('unsupported_media_type');

    const huge = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: 'z'.repeat(1_100_000) });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');

    const noRoute = await getJson(`${gateway.httpUrl}/v2/everything`);
    expect(noRoute.status).toBe(404);
    expect(noRoute.body.error.code).toBe('not_found');
  });
});

describe('jobs API', () => {
  it('GET /v1/jobs/:id returns the result from Redis when no callback ever came', async () => {
    const ids: string[] = [];
    worker = await startTestWorker(prefix, async (job) => {
      ids.push(job.id ?? '');
      return generationResultFor('from redis'); // no result report at all
    });

    const posted = postCompletion(gateway, { model: FIXTURE_MODEL, prompt });
    const view = await eventually('the job to complete in Redis', async () => {
      const answer = ids[0] ? await getJson(`${gateway.httpUrl}/v1/jobs/${ids[0]}`) : undefined;
      return answer?.body['state'] === 'completed' ? answer : undefined;
    });

    expect(view?.status).toBe(200);
    expect(view?.body).toMatchObject({
      id: ids[0],
      object: 'dfleet.job',
      state: 'completed',
      error: null,
      result: { id: ids[0], model: FIXTURE_MODEL, choices: [{ text: 'from redis' }], usage: { nfe: 3 } },
    });
    // The queue's completed event stands in for the missing callback.
    expect((await posted).body.choices[0].text).toBe('from redis');
  });

  it('GET /v1/jobs/:id shows the latest progress a worker reported while the job runs', async () => {
    const progressSent = deferred<{ id: string }>();
    const viewed = deferred<void>();
    worker = await startTestWorker(prefix, async (job) => {
      await reportProgress(gateway.callbackAddress, {
        jobId: job.id ?? '',
        attempt: 1,
        callbackToken: job.data.callback.token,
        step: 2,
        committedTokens: 6,
        totalTokens: 16,
        partialText: 'return',
      });
      progressSent.resolve({ id: job.id ?? '' });
      await viewed.promise;
      await reportResult(gateway.callbackAddress, resultReportFor(job, 'return a;'));
      return generationResultFor('return a;');
    });

    const posted = postCompletion(gateway, { model: FIXTURE_MODEL, prompt });
    const { id } = await progressSent.promise;
    const view = await getJson(`${gateway.httpUrl}/v1/jobs/${id}`);
    viewed.resolve();

    expect(view.body).toMatchObject({
      state: 'active',
      result: null,
      progress: { step: 2, committed_tokens: 6, total_tokens: 16, partial_text: 'return' },
    });
    expect((await posted).body.choices[0].text).toBe('return a;');
  });

  it('DELETE removes a waiting job and the waiting request answers 409 job_cancelled', async () => {
    idleWorker = await startTestHeartbeat(prefix);
    const posted = postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, { 'idempotency-key': `delete-${prefix}` });
    const queued: Job<GenerationJob> = await eventually('the job to be queued', async () => {
      return (await queue.getJobs(['waiting']))[0];
    });
    const id = queued?.id ?? '';

    const cancelled = await getJson(`${gateway.httpUrl}/v1/jobs/${id}`, { method: 'DELETE' });

    expect(cancelled.body).toEqual({ id, object: 'dfleet.job.cancellation', cancelled: true, state: 'cancelled' });
    const answer = await posted;
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('job_cancelled');
    expect((await getJson(`${gateway.httpUrl}/v1/jobs/${id}`)).status).toBe(404);
    expect((await getJson(`${gateway.httpUrl}/v1/jobs/${id}`, { method: 'DELETE' })).body.error.code).toBe(
      'job_not_found',
    );
  });

  it('DELETE of an active job leaves a cancel mark the worker stops on, and leaves finished jobs alone', async () => {
    const claimed = deferred<string>();
    worker = await startTestWorker(prefix, async (job) => {
      claimed.resolve(job.id ?? '');
      // What the real worker's cancel watcher does: poll the job's cancel mark.
      await eventually('the cancel mark', async () => (await redis.exists(`${prefix}:cancel:${job.id}`)) === 1);
      await reportResult(gateway.callbackAddress, resultReportFor(job, 'ret', { finishReason: 'cancelled' }));
      return { ...generationResultFor('ret'), finishReason: 'cancelled' };
    });
    const posted = postCompletion(gateway, { model: FIXTURE_MODEL, prompt });
    const id = await claimed.promise;

    const cancel = await getJson(`${gateway.httpUrl}/v1/jobs/${id}`, { method: 'DELETE' });

    expect(cancel.body).toMatchObject({ id, cancelled: true, state: 'active' });
    const answer = await posted;
    expect(answer.status).toBe(200);
    expect(answer.body.choices[0].finish_reason).toBe('cancelled');
    await eventually('the job to complete', async () => (await queue.getJobState(id)) === 'completed');
    const again = await getJson(`${gateway.httpUrl}/v1/jobs/${id}`, { method: 'DELETE' });
    expect(again.body).toMatchObject({ id, cancelled: false, state: 'completed' });
  });

  it('answers 404 job_not_found and 400 for an id that cannot be a job id', async () => {
    const missing = await getJson(`${gateway.httpUrl}/v1/jobs/cmpl-does-not-exist`);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'job_not_found', param: 'id' });
    const malformed = await getJson(`${gateway.httpUrl}/v1/jobs/12345`);
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.param).toBe('id');
  });
});

describe('models and probes', () => {
  it('lists the model of DFLEET_MODEL_DIR', async () => {
    const models = await getJson(`${gateway.httpUrl}/v1/models`);
    expect(models.body).toMatchObject({
      object: 'list',
      data: [{ id: FIXTURE_MODEL, object: 'model', owned_by: 'dfleet', dfleet: { max_sequence_length: 64 } }],
    });
  });

  it('is ready only while a worker heartbeat is live', async () => {
    const before = await getJson(`${gateway.httpUrl}/readyz`);
    expect(before.status).toBe(503);
    expect(before.body.error.code).toBe('not_ready');
    expect(before.body.error.message).toContain('no live worker');

    const now = Date.now();
    await publishHeartbeat(redis, prefix, {
      workerId: 'probe-worker',
      device: 'cpu',
      model: FIXTURE_MODEL,
      jobsInFlight: 0,
      pid: process.pid,
      startedAt: now,
      updatedAt: now,
    });
    try {
      const ready = await getJson(`${gateway.httpUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ status: 'ready', workers: [{ id: 'probe-worker', device: 'cpu' }] });
    } finally {
      await removeHeartbeat(redis, prefix, 'probe-worker');
    }
    expect((await getJson(`${gateway.httpUrl}/healthz`)).body).toEqual({ status: 'ok' });
  });
});
