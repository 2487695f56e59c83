import { afterEach, describe, expect, it } from 'vitest';
import {
  OwnRedisServer,
  eventually,
  fleetEnv,
  startGatewayProcess,
  startWorkerProcess,
  uniquePrefix,
  type GatewayProcess,
  type WorkerProcess,
} from './support/fleet-processes.ts';

let redis: OwnRedisServer | undefined;
const started: (GatewayProcess | WorkerProcess)[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.process.stop()));
  await redis?.destroy();
  redis = undefined;
}, 30_000);

async function redisWith(args: string[]): Promise<OwnRedisServer> {
  redis = await OwnRedisServer.create();
  // Later arguments win: this overrides the fleet's own `noeviction`.
  await redis.start(args);
  return redis;
}

function warnings(process: GatewayProcess | WorkerProcess, text: string): Record<string, unknown>[] {
  return process.log.entries(text).filter((entry) => entry['level'] === 40);
}

describe("startup check of Redis's maxmemory-policy", () => {
  it('gateway and worker warn, with the fix, when Redis may evict queue keys', async () => {
    const { url } = await redisWith(['--maxmemory-policy', 'allkeys-lru']);
    const env = fleetEnv(url, uniquePrefix());
    const [gateway, worker] = await Promise.all([startGatewayProcess(env), startWorkerProcess(env, 'eviction-check-worker')]);
    started.push(gateway, worker);
    for (const process of [gateway, worker]) {
      const [warning] = await eventually(`${process.process.name} warns`, async () => {
        const found = warnings(process, "maxmemory-policy 'allkeys-lru', not 'noeviction'");
        return found.length > 0 ? found : undefined;
      });
      expect(String(warning!['msg'])).toContain('CONFIG SET maxmemory-policy noeviction');
    }
  }, 60_000);

  it('says it could not check when Redis refuses CONFIG (managed Redis), and stays silent on noeviction', async () => {
    const { url } = await redisWith(['--rename-command', 'CONFIG', '']);
    const refusing = await startGatewayProcess(fleetEnv(url, uniquePrefix()), 'gateway-config-refused');
    started.push(refusing);
    await eventually('the gateway says it could not check', async () => warnings(refusing, 'could not check maxmemory-policy').length > 0);
    await refusing.process.stop();
    await redis!.destroy();

    const safe = await redisWith([]);
    const gateway = await startGatewayProcess(fleetEnv(safe.url, uniquePrefix()), 'gateway-noeviction');
    started.push(gateway);
    // The check runs on the first connection; "no live worker" from /readyz means Redis answered.
    await eventually('the gateway reached Redis', async () => {
      const readiness = (await (await fetch(`${gateway.httpUrl}/readyz`)).json()) as { error: { message: string } };
      return readiness.error.message.includes('no live worker');
    });
    await gateway.process.stop();
    expect(gateway.log.entries('maxmemory-policy')).toEqual([]);
  }, 60_000);
});
