import type { Cluster } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GENERATION_QUEUES,
  cancelRequestKey,
  createRedisConnection,
  generationJobSchema,
  heartbeatKey,
  listLiveWorkers,
  publishHeartbeat,
  redisKeySlot,
  removeHeartbeat,
  tenantWaitingKey,
  workerDirectoryKey,
  type RedisConnection,
  type RedisTarget,
} from '@dfleet/queue';
import { OwnRedisCluster, eventually, uniquePrefix } from '@dfleet/test-support';
import { batchKeys } from '../src/batches/batch-keys.ts';
import { BatchStore } from '../src/batches/batch-store.ts';
import { JobSubmitter } from '../src/job-submitter.ts';
import { RedisRateLimiter } from '../src/rate-limiter.ts';
import { auditTenantWaiting } from '../src/tenant-waiting-audit.ts';
import { admitForTenant } from '../src/waiting-job-limits.ts';

/** The Cluster form of a prefix, as DFLEET_REDIS_PREFIX must then be. */
const prefix = `{${uniquePrefix()}}`;
let cluster: OwnRedisCluster;
let target: RedisTarget;
let redis: RedisConnection;
let submitter: JobSubmitter;

beforeAll(async () => {
  cluster = await OwnRedisCluster.create({ masters: 3 });
  target = { kind: 'cluster', nodes: [{ host: '127.0.0.1', port: cluster.nodes[0]!.port }], url: 'redis://127.0.0.1' };
  redis = createRedisConnection(target, 'worker');
  submitter = new JobSubmitter(
    { redis: target, prefix, redisTimeoutMs: 2_000, logger: pino({ level: 'silent' }) },
    { waitsFor: () => false, completed: () => undefined, failed: () => undefined },
  );
  await eventually('the submitter connected to the cluster', () => submitter.ping().then(() => true));
}, 60_000);

afterAll(async () => {
  await submitter?.close();
  redis?.disconnect();
  await cluster?.destroy();
}, 30_000);

function job(requestId: string, tenant = 'acme') {
  return generationJobSchema.parse({
    requestId,
    tenant,
    model: 'jsfunc-mdm',
    prompt: 'function f(x) {',
    options: {
      maxNewTokens: 8,
      blockLength: 8,
      strategy: { name: 'threshold', threshold: 0.9 },
      temperature: 0,
      seed: 0,
    },
    priority: 'interactive',
    callback: { address: '127.0.0.1:1', token: 'a-callback-token-of-16' },
    acceptedAt: Date.now(),
  });
}

describe("every key of dfleet's own on a Redis Cluster (3 masters, 3 replicas), under a hash-tagged prefix", () => {
  it("puts the queues' keys and dfleet's own keys in the prefix's one slot", () => {
    const keys = [
      `${prefix}:${GENERATION_QUEUES.interactive}:events`,
      `${prefix}:${GENERATION_QUEUES.batch}:events`,
      heartbeatKey(prefix, 'w1'),
      workerDirectoryKey(prefix),
      cancelRequestKey(prefix, 'job-1'),
      `${prefix}:ratelimit:key-1`,
      tenantWaitingKey(prefix, 'acme'),
      batchKeys.file(prefix, 'file-1'),
      batchKeys.tenantFiles(prefix, 'acme'),
      batchKeys.batch(prefix, 'batch_1'),
      batchKeys.batchOutput(prefix, 'batch_1'),
      batchKeys.batchErrors(prefix, 'batch_1'),
      batchKeys.tenantBatches(prefix, 'acme'),
      batchKeys.listSequence(prefix),
      `${prefix}:batches:batch_1`,
    ];
    expect(new Set(keys.map(redisKeySlot))).toEqual(new Set([redisKeySlot(prefix)]));
  });

  it('enqueues, finds and cancels a waiting job, and keeps the tenant count with it', async () => {
    const limits = { maxWaitingJobs: 100, maxWaitingJobsPerTenant: 1 };
    await submitter.admit(job('cluster-a'), limits);
    await submitter.enqueue(job('cluster-a'));
    expect(await submitter.find('cluster-a')).toMatchObject({ id: 'cluster-a', state: 'waiting' });
    // The tenant's one-key admission script: its cap of 1 is reached.
    await expect(submitter.admit(job('cluster-b'), limits)).rejects.toMatchObject({ code: 'queue_full' });
    expect(await submitter.cancel('cluster-a', 'acme')).toMatchObject({ cancelled: true, state: 'cancelled' });
    expect(await redis.zcard(tenantWaitingKey(prefix, 'acme'))).toBe(0);
    await submitter.admit(job('cluster-b'), limits);
  });

  it("keeps the Batch API's files, batches and line results with their MULTIs and scripts", async () => {
    const store = new BatchStore(redis, prefix);
    const file = {
      id: 'file-c1',
      tenant: 'acme',
      bytes: 3,
      createdAt: 1,
      filename: 'in.jsonl',
      purpose: 'batch' as const,
    };
    await store.saveFile(file, Buffer.from('{}\n'));
    expect(await store.getFile('file-c1')).toEqual(file);
    expect((await store.fileContent('file-c1'))?.toString()).toBe('{}\n');
    const batch = {
      id: 'batch_c1',
      tenant: 'acme',
      endpoint: '/v1/completions' as const,
      inputFileId: 'file-c1',
      completionWindow: '24h',
      metadata: null,
      status: 'validating' as const,
      createdAt: 1,
      expiresAt: 2,
      timestamps: {},
      requestCounts: { total: 0, completed: 0, failed: 0 },
      outputFileId: null,
      errorFileId: null,
      errors: null,
    };
    await store.createBatch(batch);
    await store.createBatch({ ...batch, id: 'batch_c2' });
    expect(await store.pageOfBatchIds('acme', null, 1)).toEqual({ ids: ['batch_c2'], hasMore: true });
    expect(await store.transition('batch_c1', ['validating'], 'in_progress')).toEqual({
      applied: true,
      found: 'validating',
    });
    expect(await store.recordLine('batch_c1', 1, 'output', 'one')).toBe(true);
    expect(await store.recordLine('batch_c1', 1, 'errors', 'again')).toBe(false);
    expect(await store.recordedResults('batch_c1', [1, 2])).toEqual({ output: ['one'], errors: [] });
    expect((await store.getBatch('batch_c1'))?.requestCounts).toEqual({ total: 0, completed: 1, failed: 0 });
  });

  it('heals a tenant set through the audit (its claim key and the queue lookups)', async () => {
    const key = tenantWaitingKey(prefix, 'audited');
    expect(await admitForTenant(redis, key, 'gone-long-ago', 5)).toEqual({ admitted: true });
    await redis.zadd(key, Date.now() - 60_000, 'gone-long-ago');
    const lookup = { getJob: async () => undefined };
    expect(await auditTenantWaiting(redis, lookup, prefix, 'audited')).toBe(1);
  });

  it('takes rate-limit tokens with the one-key GCRA script', async () => {
    const limiter = new RedisRateLimiter((what, operation) => submitter.withRedis(what, operation), prefix);
    const limit = { requestsPerMinute: 1, burst: 1 };
    expect(await limiter.take('key-1', limit)).toMatchObject({ admitted: true });
    expect(await limiter.take('key-1', limit)).toMatchObject({ admitted: false });
  });

  it('lists live workers from the directory, on whichever master holds the slot', async () => {
    const beat = {
      workerId: 'w1',
      device: 'cpu',
      model: 'm',
      jobsInFlight: 0,
      pid: 1,
      startedAt: 1,
      updatedAt: Date.now(),
    };
    await publishHeartbeat(redis, prefix, beat);
    await publishHeartbeat(redis, prefix, { ...beat, workerId: 'w2' });
    expect((await listLiveWorkers(redis, prefix)).map((b) => b.workerId).sort()).toEqual(['w1', 'w2']);
    await removeHeartbeat(redis, prefix, 'w2');
    expect((await submitter.liveWorkers()).map((b) => b.workerId)).toEqual(['w1']);
  });

  it('reads several cancel marks and both event streams in one command each', async () => {
    await redis.set(cancelRequestKey(prefix, 'job-1'), '1');
    expect(await redis.mget(cancelRequestKey(prefix, 'job-1'), cancelRequestKey(prefix, 'job-2'))).toEqual(['1', null]);
    const events = [GENERATION_QUEUES.interactive, GENERATION_QUEUES.batch].map((queue) => `${prefix}:${queue}:events`);
    await redis.xadd(events[1]!, '*', 'event', 'completed');
    const reply = (await redis.xread('COUNT', 1, 'STREAMS', ...events, '0-0', '0-0')) as [string, unknown[]][];
    expect(reply.map(([key]) => key)).toContain(events[1]);
  });

  it('would fail without the hash tag: the same multi-key reads cross slots', async () => {
    const plain = 'dfleet';
    const marks = [cancelRequestKey(plain, 'job-1'), cancelRequestKey(plain, 'job-2')];
    const events = [GENERATION_QUEUES.interactive, GENERATION_QUEUES.batch].map((queue) => `${plain}:${queue}:events`);
    // Keys that hash apart, so that this control can fail.
    expect(redisKeySlot(marks[0]!)).not.toBe(redisKeySlot(marks[1]!));
    expect(redisKeySlot(events[0]!)).not.toBe(redisKeySlot(events[1]!));
    const node = (redis as Cluster).nodes('master')[0]!;
    await expect(node.mget(...marks)).rejects.toThrow(/CROSSSLOT/);
    await expect(node.xread('STREAMS', ...events, '0-0', '0-0')).rejects.toThrow(/CROSSSLOT/);
  });
});
