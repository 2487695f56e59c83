import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { listLiveWorkers } from '@dfleet/queue';
import { WORKER_METRICS } from '@dfleet/telemetry';
import { SHARED_REDIS_URL, deletePrefix, eventually, fleetEnv, uniquePrefix } from '@dfleet/test-support';
import { superviseWorkers } from '../src/worker-supervisor.ts';

const prefix = uniquePrefix();
const redis = new Redis(SHARED_REDIS_URL);

afterAll(async () => {
  await redis.quit();
  await deletePrefix(prefix);
});

describe('dfleet worker supervision', () => {
  it('restarts a worker process that was killed, after its backoff, and stop() leaves no process behind', async () => {
    const logs: string[] = [];
    // No DFLEET_WORKER_ID: each process names itself <hostname>-<pid>, so a restart shows as a new id.
    const env = fleetEnv(SHARED_REDIS_URL, prefix);
    delete env.DFLEET_WORKER_ID;
    const supervisor = superviseWorkers({
      devices: ['cpu'],
      env,
      log: (line) => logs.push(line),
      initialBackoffMs: 200,
    });
    const seenPids: number[] = [];
    try {
      await supervisor.ready;
      const [first] = await eventually('the first worker beats', async () => {
        const beats = await listLiveWorkers(redis, prefix);
        return beats.length === 1 ? beats : undefined;
      });
      seenPids.push(first!.pid);
      process.kill(first!.pid, 'SIGKILL');

      const replacement = await eventually(
        'a new worker process beats',
        async () => (await listLiveWorkers(redis, prefix)).find((beat) => beat.pid !== first!.pid),
        60_000,
      );
      seenPids.push(replacement.pid);
      expect(replacement.device).toBe('cpu');
      expect(logs.some((line) => /worker on cpu exited with code null; restarting in 200 ms/.test(line))).toBe(true);
    } finally {
      await supervisor.stop();
    }
    // The replacement beats before it prints its ready line: stop() must reach it even then.
    expect(seenPids.filter(isAlive)).toEqual([]);
  }, 120_000);

  it('gives each worker a /metrics on a free loopback port and logs where it is', async () => {
    const logs: string[] = [];
    const supervisor = superviseWorkers({
      devices: ['cpu'],
      env: fleetEnv(SHARED_REDIS_URL, prefix),
      log: (line) => logs.push(line),
    });
    try {
      await supervisor.ready;
      const announced = logs.map(
        (line) => /ready on cpu, metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)$/.exec(line)?.[1],
      );
      const url = announced.find((found) => found !== undefined);
      expect(url, logs.join('\n')).toBeDefined();
      const response = await fetch(url ?? '', { signal: AbortSignal.timeout(10_000) });
      expect(response.status).toBe(200);
      expect(await response.text()).toContain(`${WORKER_METRICS.jobsInFlight.name} 0`);
    } finally {
      await supervisor.stop();
    }
  }, 120_000);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
