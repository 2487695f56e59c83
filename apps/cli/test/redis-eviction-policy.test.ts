import { afterEach, describe, expect, it } from 'vitest';
import { EVICTION_POLICY_SAFE } from '@dfleet/queue';
import { OwnRedisServer, TestFleet, eventually, type GatewayProcess, type WorkerProcess } from '@dfleet/test-support';

let redis: OwnRedisServer | undefined;
const fleets: TestFleet[] = [];

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
  await redis?.destroy();
  redis = undefined;
}, 30_000);

function fleetOn(url: string): TestFleet {
  const fleet = new TestFleet({ redisUrl: url });
  fleets.push(fleet);
  return fleet;
}

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
    const fleet = fleetOn(url);
    const [gateway, worker] = await Promise.all([fleet.startGateway(), fleet.startWorker('eviction-check-worker')]);
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
    const refusing = await fleetOn(url).startGateway('gateway-config-refused');
    await eventually(
      'the gateway says it could not check',
      async () => warnings(refusing, 'could not check maxmemory-policy').length > 0,
    );
    await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
    await redis!.destroy();

    const safe = await redisWith([]);
    // At info it says the check passed: then no warning of the check can follow.
    const gateway = await fleetOn(safe.url).startGateway('gateway-noeviction', { LOG_LEVEL: 'info' });
    const [passed] = await eventually('the gateway checked the policy', async () => {
      const found = gateway.log.entries(EVICTION_POLICY_SAFE);
      return found.length > 0 ? found : undefined;
    });
    expect(passed).toMatchObject({ level: 30, check: 'safe' });
    expect(gateway.log.entriesAtLeast('warn').filter((entry) => 'check' in entry)).toEqual([]);
  }, 60_000);
});
