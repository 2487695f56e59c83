import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createGenerationClient, grpc, type GenerationServiceClient, type Job__Output } from '@dfleet/proto';
import { generateApiKey, hashApiKey, type ApiKeysFile } from '@dfleet/api-keys';
import { deletePrefix, eventually, getJson, uniquePrefix } from '@dfleet/test-support';
import { loadGatewayConfig } from '../src/config.ts';
import { GRPC_ERROR_CODE_KEY } from '../src/errors.ts';
import { startGateway, type RunningGateway } from '../src/gateway.ts';
import { RESULT_REPORT_NOT_ACCEPTED } from '../src/log-messages.ts';
import { requestIdFor } from '../src/request-identity.ts';
import { pino } from 'pino';
import {
  FIXTURE_MODEL,
  FIXTURE_MODEL_DIR,
  generationResultFor,
  postCompletion,
  reportResult,
  resultReportFor,
  startTestGateway,
  startTestHeartbeat,
  startTestWorker,
  type TestWorker,
  testGatewayConfig,
} from './support/test-fleet.ts';

const prefix = uniquePrefix();
const dir = mkdtempSync(join(tmpdir(), 'dfleet-keys-'));
const keysFile = join(dir, 'keys.json');
const acmeKey = generateApiKey();
const globexKey = generateApiKey();
const limitedKey = generateApiKey();
const prompt = 'function add(a, b) {\n';

function writeKeys(extra: ApiKeysFile['keys'] = []): void {
  const file: ApiKeysFile = {
    keys: [
      { id: 'acme-ci', tenant: 'acme', sha256: hashApiKey(acmeKey) },
      { id: 'globex-batch', tenant: 'globex', sha256: hashApiKey(globexKey), rate_limit: null },
      {
        id: 'acme-slow',
        tenant: 'acme',
        sha256: hashApiKey(limitedKey),
        rate_limit: { requests_per_minute: 6, burst: 2 },
      },
      ...extra,
    ],
  };
  writeFileSync(keysFile, JSON.stringify(file));
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
let gateways: RunningGateway[] = [];
let worker: TestWorker | undefined;
let grpcClient: GenerationServiceClient | undefined;

async function startKeyedGateway(): Promise<RunningGateway> {
  const gateway = await startTestGateway(prefix, {
    DFLEET_API_KEYS_FILE: keysFile,
    DFLEET_RATE_LIMIT_PER_MINUTE: '600',
  });
  gateways.push(gateway);
  return gateway;
}

beforeAll(() => writeKeys());

afterEach(async () => {
  await worker?.close();
  worker = undefined;
  grpcClient?.close();
  grpcClient = undefined;
  await Promise.all(gateways.map((gateway) => gateway.close(1_000)));
  gateways = [];
});

afterAll(async () => {
  await deletePrefix(prefix);
  rmSync(dir, { recursive: true, force: true });
});

function grpcCall<T>(
  call: (
    client: GenerationServiceClient,
    metadata: grpc.Metadata,
    done: (error: grpc.ServiceError | null, value?: T) => void,
  ) => void,
  key?: string,
) {
  const metadata = new grpc.Metadata();
  if (key !== undefined) metadata.set('authorization', `Bearer ${key}`);
  return new Promise<{ error: grpc.ServiceError | null; value: T | undefined }>((resolve) =>
    call(grpcClient as GenerationServiceClient, metadata, (error, value) => resolve({ error, value })),
  );
}

describe('API keys', () => {
  it('answers 401 without a key or with an unknown one, and never echoes the key; probes need none', async () => {
    const gateway = await startKeyedGateway();
    const forged = generateApiKey();

    const missing = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt });
    const unknown = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, bearer(forged));
    const notBearer = await getJson(`${gateway.httpUrl}/v1/models`, { headers: { authorization: `Basic ${acmeKey}` } });

    expect(missing.status).toBe(401);
    expect(missing.body.error).toMatchObject({
      code: 'missing_api_key',
      param: 'authorization',
      type: 'authentication_error',
    });
    expect(missing.body.error.message).toContain('Authorization: Bearer');
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.code).toBe('invalid_api_key');
    expect(JSON.stringify(unknown.body)).not.toContain(forged);
    expect(notBearer.status).toBe(401);
    expect(JSON.stringify(notBearer.body)).not.toContain(acmeKey);
    expect((await getJson(`${gateway.httpUrl}/v1/models`, { headers: bearer(acmeKey) })).status).toBe(200);
    expect((await getJson(`${gateway.httpUrl}/healthz`)).status).toBe(200);
  });

  it('answers UNAUTHENTICATED over gRPC without a valid key', async () => {
    const gateway = await startKeyedGateway();
    grpcClient = createGenerationClient(gateway.grpcAddress);

    const missing = await grpcCall<unknown>((client, metadata, done) =>
      client.Generate({ model: FIXTURE_MODEL, prompt }, metadata, done),
    );
    const unknown = await grpcCall<unknown>(
      (client, metadata, done) => client.GetJob({ id: 'cmpl-x' }, metadata, done),
      generateApiKey(),
    );

    expect(missing.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(missing.error?.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['missing_api_key']);
    expect(unknown.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(unknown.error?.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['invalid_api_key']);
  });

  it("files the job under the key's tenant and refuses a tenant header that names another", async () => {
    const gateway = await startKeyedGateway();
    const tenants: string[] = [];
    worker = await startTestWorker(prefix, async (job) => {
      tenants.push(job.data.tenant);
      await reportResult(job.data.callback.address, resultReportFor(job, 'return a + b;'));
      return generationResultFor('return a + b;');
    });

    const ok = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt, max_tokens: 8 }, bearer(acmeKey));
    const sameTenant = await postCompletion(
      gateway,
      { model: FIXTURE_MODEL, prompt, max_tokens: 8 },
      { ...bearer(acmeKey), 'x-dfleet-tenant': 'acme' },
    );
    const otherTenant = await postCompletion(
      gateway,
      { model: FIXTURE_MODEL, prompt, max_tokens: 8 },
      { ...bearer(acmeKey), 'x-dfleet-tenant': 'globex' },
    );

    expect(ok.status).toBe(200);
    expect(sameTenant.status).toBe(200);
    expect(tenants).toEqual(['acme', 'acme']);
    expect(otherTenant.status).toBe(403);
    expect(otherTenant.body.error).toMatchObject({
      code: 'tenant_mismatch',
      param: 'x-dfleet-tenant',
      type: 'permission_error',
    });
  });

  it('answers 404 to another tenant reading or cancelling a job, over HTTP and gRPC, and leaves the job alone', async () => {
    const gateway = await startKeyedGateway();
    grpcClient = createGenerationClient(gateway.grpcAddress);
    // A worker that is alive but claims nothing: the job stays queued. Its id follows from tenant and idempotency key.
    const idleWorker = await startTestHeartbeat(prefix);
    onTestFinished(() => idleWorker.close());
    const jobId = requestIdFor('acme', 'cross-tenant-1');
    const waiting = postCompletion(
      gateway,
      { model: FIXTURE_MODEL, prompt, max_tokens: 8 },
      { ...bearer(acmeKey), 'idempotency-key': 'cross-tenant-1' },
    );
    const jobUrl = `${gateway.httpUrl}/v1/jobs/${jobId}`;
    await eventually('the job to be queued', async () => {
      return (await getJson(jobUrl, { headers: bearer(acmeKey) })).status === 200;
    });

    const foreignRead = await getJson(jobUrl, { headers: bearer(globexKey) });
    const foreignCancel = await getJson(jobUrl, { method: 'DELETE', headers: bearer(globexKey) });
    const foreignGrpcRead = await grpcCall<Job__Output>(
      (client, metadata, done) => client.GetJob({ id: jobId }, metadata, done),
      globexKey,
    );
    const foreignGrpcCancel = await grpcCall<unknown>(
      (client, metadata, done) => client.CancelJob({ id: jobId }, metadata, done),
      globexKey,
    );
    const ownGrpcRead = await grpcCall<Job__Output>(
      (client, metadata, done) => client.GetJob({ id: jobId }, metadata, done),
      acmeKey,
    );

    expect(foreignRead.status).toBe(404);
    expect(foreignRead.body.error.code).toBe('job_not_found');
    expect(foreignCancel.status).toBe(404);
    expect(foreignGrpcRead.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(foreignGrpcCancel.error?.code).toBe(grpc.status.NOT_FOUND);
    // Still queued. Each class has its own queue without BullMQ priorities, so it reads "waiting"
    // (with one queue and priorities it read "prioritized").
    expect(ownGrpcRead.value?.state).toBe('waiting');
    expect((await getJson(jobUrl, { headers: bearer(acmeKey) })).body.state).toBe('waiting');

    const ownCancel = await getJson(jobUrl, { method: 'DELETE', headers: bearer(acmeKey) });
    expect(ownCancel.body).toMatchObject({ cancelled: true, state: 'cancelled' });
    expect((await waiting).status).toBe(409);
  });

  it('limits each key to its rate across gateways, with Retry-After, and leaves other keys alone', async () => {
    const first = await startKeyedGateway();
    const second = await startKeyedGateway();
    const models = (gateway: RunningGateway, key: string) =>
      getJson(`${gateway.httpUrl}/v1/models`, { headers: bearer(key) });

    // acme-slow: 6 per minute, bursts of 2. Two gateways share the one bucket in Redis.
    const a = await models(first, limitedKey);
    const b = await models(second, limitedKey);
    const c = await models(first, limitedKey);
    const unlimited = await Promise.all(Array.from({ length: 20 }, () => models(second, globexKey)));

    expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
    expect(c.body.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
    expect(c.body.error.message).toContain("'acme-slow'");
    const retryAfter = Number(c.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(unlimited.every((response) => response.status === 200)).toBe(true);
  });

  it('picks up keys added to the file without a restart', async () => {
    const gateway = await startKeyedGateway();
    const newKey = generateApiKey();
    expect((await getJson(`${gateway.httpUrl}/v1/models`, { headers: bearer(newKey) })).status).toBe(401);

    writeKeys([{ id: 'initech', tenant: 'initech', sha256: hashApiKey(newKey) }]);

    await eventually('the new key to work', async () => {
      return (await getJson(`${gateway.httpUrl}/v1/models`, { headers: bearer(newKey) })).status === 200;
    });
  });
});

describe('worker callbacks', () => {
  it('rejects a forged result and logs it, then accepts the genuine one', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const gateway = await startGateway(
      testGatewayConfig({ DFLEET_REDIS_PREFIX: prefix, DFLEET_API_KEYS_FILE: keysFile }),
      { logger },
    );
    gateways.push(gateway);
    let forgedAck: unknown;
    worker = await startTestWorker(prefix, async (job) => {
      forgedAck = await reportResult(
        job.data.callback.address,
        resultReportFor(job, 'FORGED', { callbackToken: 'f'.repeat(64) }),
      );
      await reportResult(job.data.callback.address, resultReportFor(job, 'genuine'));
      return generationResultFor('genuine');
    });

    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt, max_tokens: 8 }, bearer(acmeKey));

    expect(forgedAck).toEqual({ accepted: false, reason: 'bad_token' });
    expect(response.body.choices[0].text).toBe('genuine');
    const rejected = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry['msg'] === RESULT_REPORT_NOT_ACCEPTED);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ level: 40, reason: 'bad_token', workerId: 'test-worker' });
  });
});

describe('gateway start-up with API keys', () => {
  it('refuses a keys file with a bad entry, naming the entry and field', async () => {
    const badFile = join(dir, 'bad.json');
    writeFileSync(badFile, JSON.stringify({ keys: [{ id: 'x', tenant: 'acme', sha256: 'not-a-hash' }] }));
    const config = testGatewayConfig({ DFLEET_REDIS_PREFIX: prefix, DFLEET_API_KEYS_FILE: badFile });

    await expect(startGateway(config, { logger: pino({ level: 'silent' }) })).rejects.toThrow(
      /bad\.json is invalid: keys\.0\.sha256: must be the lowercase hex SHA-256/,
    );
  });

  it('will not serve other machines without keys unless told DFLEET_AUTH=off', () => {
    const base = { DFLEET_MODEL_DIR: FIXTURE_MODEL_DIR, DFLEET_HOST: '0.0.0.0' };
    expect(() => loadGatewayConfig(base)).toThrow(
      /DFLEET_HOST=0\.0\.0\.0 is reachable from other machines but no API keys are configured/,
    );
    expect(loadGatewayConfig({ ...base, DFLEET_AUTH: 'off' }).auth).toEqual({ kind: 'off' });
    expect(() => loadGatewayConfig({ DFLEET_AUTH: 'api-keys' })).toThrow(/needs DFLEET_API_KEYS_FILE/);
    expect(loadGatewayConfig({ DFLEET_API_KEYS_FILE: '/k.json', DFLEET_RATE_LIMIT_PER_MINUTE: '120' }).auth).toEqual({
      kind: 'api-keys',
      keysFile: '/k.json',
      defaultRateLimit: { requestsPerMinute: 120, burst: 20 },
    });
  });
});
