import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationQueues, createRedisConnection, generationResultSchema, type RedisConnection } from '@dfleet/queue';
import {
  OwnRedisSentinel,
  eventually,
  fleetEnv,
  getJson,
  startGatewayProcess,
  startWorkerProcess,
  uniquePrefix,
  type GatewayProcess,
  type WorkerProcess,
} from '@dfleet/test-support';
import { patientCompletion } from './support/patient-client.ts';

const BEFORE_KILL = 12;
const DURING_FAILOVER = 4;
const prefix = uniquePrefix();

let redis: OwnRedisSentinel;
let gateway: GatewayProcess;
let worker: WorkerProcess;
let connection: RedisConnection;
let queues: GenerationQueues;

beforeAll(async () => {
  redis = await OwnRedisSentinel.create({ downAfterMs: 1_000 });
  const env = fleetEnv('redis://127.0.0.1', prefix, {
    DFLEET_REDIS_SENTINELS: redis.sentinelList,
    DFLEET_REDIS_SENTINEL_NAME: redis.masterName,
    DFLEET_MAX_ACTIVE_JOBS: '2',
    DFLEET_LOCK_DURATION_MS: '5000',
    DFLEET_STALLED_INTERVAL_MS: '2000',
    DFLEET_REDIS_TIMEOUT_MS: '5000',
    // A job counts as accepted once the replica has it too: replication is asynchronous (docs/redis.md).
    DFLEET_REDIS_REPLICA_ACKS: '1',
  });
  [gateway, worker] = await Promise.all([
    startGatewayProcess(env, 'sentinel-gateway'),
    startWorkerProcess(env, 'sentinel-worker'),
  ]);
  connection = createRedisConnection(
    {
      kind: 'sentinel',
      sentinels: [{ host: '127.0.0.1', port: redis.sentinelPort }],
      masterName: redis.masterName,
      url: 'redis://127.0.0.1',
    },
    'worker',
  );
  connection.on('error', () => undefined);
  queues = new GenerationQueues({ connection, prefix });
}, 120_000);

afterAll(async () => {
  await Promise.all([gateway?.process.stop(), worker?.process.stop()]);
  await queues?.close();
  connection?.disconnect();
  await redis?.destroy();
}, 60_000);

describe('a Sentinel-managed master killed (SIGKILL) under a running fleet', () => {
  it('is replaced by its replica, which the fleet follows, and no accepted job is lost', async () => {
    const first = Array.from({ length: BEFORE_KILL }, (_, i) => patientCompletion(gateway.httpUrl, i));
    const atKill = await eventually(
      'jobs completed, and more still waiting',
      async () => {
        const counts = await queues.getJobCounts('wait', 'active', 'completed');
        const started = counts['wait']! + counts['active']! + counts['completed']!;
        // A batch ends together: the first completions come several at once.
        return started === BEFORE_KILL && counts['completed']! >= 1 && counts['wait']! >= 2 ? counts : undefined;
      },
      90_000,
    );
    await redis.killMaster();
    const during = Array.from({ length: DURING_FAILOVER }, (_, i) =>
      patientCompletion(gateway.httpUrl, BEFORE_KILL + i),
    );

    // The promoted replica has no replica of its own, so the gateway (DFLEET_REDIS_REPLICA_ACKS=1)
    // accepts nothing until the killed master is back: its supervisor restarts it, and the
    // Sentinel makes it the new master's replica.
    await redis.failedOverToReplica();
    await redis.restartOldMaster();

    const outcomes = await Promise.all([...first, ...during]);

    expect(await redis.masterPort()).toBe(redis.ports.replica);
    expect(new Set(outcomes.map((outcome) => outcome.id)).size).toBe(BEFORE_KILL + DURING_FAILOVER);
    for (const outcome of outcomes) {
      const job = await queues.getJob(outcome.id);
      expect(await job?.getState(), `job ${outcome.id}`).toBe('completed');
      expect(generationResultSchema.parse(job?.returnvalue).text, `job ${outcome.id}`).toBe(outcome.text);
      const read = await getJson(`${gateway.httpUrl}/v1/jobs/${outcome.id}`);
      expect(read.body['result']?.['choices']?.[0]?.['text'], `GET /v1/jobs/${outcome.id}`).toBe(outcome.text);
    }
    await eventually('the gateway counts the worker again', async () => {
      const ready = await getJson(`${gateway.httpUrl}/readyz`);
      return ready.status === 200 ? ready : undefined;
    });
    const refusals = outcomes.reduce((sum, outcome) => sum + outcome.refusals, 0);
    console.log(
      `Sentinel failover: master :${redis.ports.master} killed with ${atKill['completed']} of ${BEFORE_KILL} jobs ` +
        `completed, ${atKill['wait']} waiting; replica :${redis.ports.replica} promoted, the old master restarted as its replica; all ` +
        `${BEFORE_KILL + DURING_FAILOVER} jobs completed once each (${refusals} 503s during the failover, retried), ` +
        `worker ${worker.id}`,
    );
  }, 420_000);
});
