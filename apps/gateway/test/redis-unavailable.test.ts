import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGenerationClient, grpc, type GenerationServiceClient } from '@dfleet/proto';
import { getJson, uniquePrefix } from '@dfleet/test-support';
import { GRPC_ERROR_CODE_KEY } from '../src/errors.ts';
import type { RunningGateway } from '../src/gateway.ts';
import { FIXTURE_MODEL, postCompletion, startTestGateway } from './support/test-fleet.ts';

/** A port that was free a moment ago and that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

let gateway: RunningGateway;
let client: GenerationServiceClient;

beforeAll(async () => {
  gateway = await startTestGateway(uniquePrefix(), { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` });
  client = createGenerationClient(gateway.grpcAddress);
});

afterAll(async () => {
  client?.close();
  await gateway?.close(1_000);
});

describe('with Redis unreachable', () => {
  it('answers POST /v1/completions with 503 queue_unavailable and Retry-After: 1', async () => {
    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: 'function f() {\n' });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(response.body.error.code).toBe('queue_unavailable');
    expect(response.body.error.message).toMatch(/Redis at 127\.0\.0\.1:\d+ is unreachable/);
  });

  it('still validates first: a bad request is a 400, not a 503', async () => {
    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: 'x', max_tokens: -1 });
    expect(response.status).toBe(400);
  });

  it('answers the jobs API with 503 and /readyz with 503 not_ready, while /healthz stays 200', async () => {
    const job = await getJson(`${gateway.httpUrl}/v1/jobs/cmpl-anything`);
    expect(job.status).toBe(503);
    expect(job.headers.get('retry-after')).toBe('1');
    const ready = await getJson(`${gateway.httpUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.error.code).toBe('not_ready');
    expect((await getJson(`${gateway.httpUrl}/healthz`)).status).toBe(200);
  });

  it('answers Generate with UNAVAILABLE and the same message', async () => {
    const error = await new Promise<grpc.ServiceError>((resolve, reject) =>
      client.Generate({ model: FIXTURE_MODEL, prompt: 'function f() {\n' }, (err) =>
        err ? resolve(err) : reject(new Error('expected UNAVAILABLE')),
      ),
    );
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
    expect(error.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['queue_unavailable']);
    expect(error.metadata.get('retry-after')).toEqual(['1']);
    expect(error.details).toMatch(/Redis at 127\.0\.0\.1:\d+ is unreachable/);
  });
});
