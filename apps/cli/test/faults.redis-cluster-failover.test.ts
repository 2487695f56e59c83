import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from 'ioredis';
import {
  GenerationQueues,
  checkEvictionPolicy,
  createRedisConnection,
  generationResultSchema,
  type RedisConnection,
  type RedisTarget,
} from '@dfleet/queue';
import {
  OwnRedisCluster,
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

/** Requests sent before the kill, and more sent while the cluster fails over. */
const BEFORE_KILL = 24;
const DURING_FAILOVER = 8;
const MAX_ACTIVE_JOBS = 4;
/** The Cluster form of the prefix: the braces are the hash tag that puts every key of the fleet in one slot. */
const prefix = `{${uniquePrefix()}}`;

let cluster: OwnRedisCluster;
let gateway: GatewayProcess;
let worker: WorkerProcess;
let connection: RedisConnection;
let queues: GenerationQueues;

beforeAll(async () => {
  cluster = await OwnRedisCluster.create({ masters: 3, nodeTimeoutMs: 2_000 });
  const env = fleetEnv(`redis://127.0.0.1:${cluster.nodes[0]!.port}`, prefix, {
    DFLEET_REDIS_CLUSTER_NODES: cluster.seedList,
    DFLEET_MAX_ACTIVE_JOBS: String(MAX_ACTIVE_JOBS),
    // Short, so a job whose completion the dead master took with it runs again within seconds.
    DFLEET_LOCK_DURATION_MS: '5000',
    DFLEET_STALLED_INTERVAL_MS: '2000',
    // A loaded 2-core host can take longer than the default 800 ms for an add: that is flow control.
    DFLEET_REDIS_TIMEOUT_MS: '5000',
    // A job counts as accepted once a replica has it too: replication is asynchronous (docs/redis.md).
    DFLEET_REDIS_REPLICA_ACKS: '1',
  });
  [gateway, worker] = await Promise.all([
    startGatewayProcess(env, 'cluster-gateway'),
    startWorkerProcess(env, 'cluster-worker'),
  ]);
  const target: RedisTarget = {
    kind: 'cluster',
    nodes: cluster.nodes.map(({ port }) => ({ host: '127.0.0.1', port })),
    url: 'redis://127.0.0.1',
  };
  connection = createRedisConnection(target, 'worker');
  connection.on('error', () => undefined);
  queues = new GenerationQueues({ connection, prefix });
}, 120_000);

afterAll(async () => {
  await Promise.all([gateway?.process.stop(), worker?.process.stop()]);
  await queues?.close();
  connection?.disconnect();
  await cluster?.destroy();
}, 60_000);

describe("a Redis Cluster's maxmemory-policy", () => {
  it('is checked on every master: one master on another policy is reported, naming it', async () => {
    expect(await checkEvictionPolicy(connection, 'the test cluster')).toMatchObject({ kind: 'safe' });
    const masters = (connection as Cluster).nodes('master');
    const odd = masters[masters.length - 1]!;
    await odd.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      const check = await checkEvictionPolicy(connection, 'the test cluster');
      expect(check).toMatchObject({ kind: 'unsafe', policy: 'allkeys-lru' });
      expect(check.kind === 'unsafe' && check.warning).toContain(`node ${odd.options.host}:${odd.options.port}`);
    } finally {
      await odd.config('SET', 'maxmemory-policy', 'noeviction');
    }
  });
});

describe('a Redis Cluster master killed (SIGKILL) under a running fleet', () => {
  it('fails over to its replica and loses no accepted job: every request is answered once, as Redis has it', async () => {
    const keyOfTheFleet = `${prefix}:any`;
    const victim = await cluster.masterPortOf(keyOfTheFleet);
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
    await cluster.kill(victim);
    const during = Array.from({ length: DURING_FAILOVER }, (_, i) =>
      patientCompletion(gateway.httpUrl, BEFORE_KILL + i),
    );

    // The promoted replica has no replica of its own, so the gateway (DFLEET_REDIS_REPLICA_ACKS=1)
    // accepts nothing until the killed node is back: its supervisor restarts it, and it rejoins as
    // the new master's replica.
    const promoted = await eventually('another node serves the fleet slot', async () => {
      const port = await cluster.masterPortOf(keyOfTheFleet);
      return port !== victim ? port : undefined;
    });
    await cluster.restart(victim);

    const outcomes = await Promise.all([...first, ...during]);

    expect(await cluster.masterPortOf(keyOfTheFleet)).toBe(promoted);
    const ids = outcomes.map((outcome) => outcome.id);
    expect(new Set(ids).size).toBe(BEFORE_KILL + DURING_FAILOVER);
    for (const outcome of outcomes) {
      const job = await queues.getJob(outcome.id);
      expect(await job?.getState(), `job ${outcome.id}`).toBe('completed');
      const stored = generationResultSchema.parse(job?.returnvalue);
      // The answer the client got is the result Redis keeps (a job run again after the kill decodes the same).
      expect(stored.text, `job ${outcome.id}`).toBe(outcome.text);
      // And what any client reads back through the gateway.
      const read = await getJson(`${gateway.httpUrl}/v1/jobs/${outcome.id}`);
      expect(read.body['result']?.['choices']?.[0]?.['text'], `GET /v1/jobs/${outcome.id}`).toBe(outcome.text);
    }
    // The fleet is whole again: the worker beats on the new master, and the gateway counts it.
    await eventually('the gateway counts the worker again', async () => {
      const ready = await getJson(`${gateway.httpUrl}/readyz`);
      return ready.status === 200 ? ready : undefined;
    });

    const readBack = outcomes.filter((outcome) => outcome.answeredBy === 'read-back').length;
    const refusals = outcomes.reduce((sum, outcome) => sum + outcome.refusals, 0);
    console.log(
      `Redis Cluster failover: master :${victim} killed with ${atKill['completed']} of ${BEFORE_KILL} jobs completed, ` +
        `${atKill['active']} active, ${atKill['wait']} waiting; :${promoted} took over its slots, :${victim} restarted as its replica; ` +
        `${BEFORE_KILL + DURING_FAILOVER} of ${BEFORE_KILL + DURING_FAILOVER} jobs completed once each ` +
        `(${readBack} read back after a 504; ${refusals} 503s during the failover, retried), worker ${worker.id}`,
    );
  }, 240_000);
});
