import type { JobType } from 'bullmq';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { GATEWAY_METRICS } from '@dfleet/telemetry';
import { createGatewayMetrics } from '../src/gateway-metrics.ts';

const WAITING_REQUESTS_METRIC = GATEWAY_METRICS.requestsWaiting.name;
const RUNNING_REQUESTS_METRIC = GATEWAY_METRICS.requestsRunning.name;
const silent = pino({ level: 'silent' });
const seriesOf = (text: string, metric: string) => text.split('\n').filter((line) => line.startsWith(`${metric}{`));

describe('gateway queue-depth metrics', () => {
  it('sums wait, prioritized and delayed as waiting, and reports active as running, per class', async () => {
    const { registry } = createGatewayMetrics(
      async () => ({
        interactive: { wait: 1, prioritized: 2, delayed: 4, active: 8 },
        batch: { wait: 16, prioritized: 0, delayed: 32, active: 64 },
      }),
      silent,
    );
    const text = await registry.metrics();
    expect(seriesOf(text, WAITING_REQUESTS_METRIC)).toEqual([
      `${WAITING_REQUESTS_METRIC}{priority="interactive"} 7`,
      `${WAITING_REQUESTS_METRIC}{priority="batch"} 48`,
    ]);
    expect(seriesOf(text, RUNNING_REQUESTS_METRIC)).toEqual([
      `${RUNNING_REQUESTS_METRIC}{priority="interactive"} 8`,
      `${RUNNING_REQUESTS_METRIC}{priority="batch"} 64`,
    ]);
  });

  it('reads Redis once per scrape for both gauges, asking for every state they sum', async () => {
    const asked: JobType[][] = [];
    const { registry } = createGatewayMetrics(async (types) => {
      asked.push(types);
      return { interactive: {}, batch: {} };
    }, silent);
    await registry.metrics();
    await registry.metrics();
    expect(asked).toHaveLength(2);
    expect([...(asked[0] ?? [])].sort()).toEqual(['active', 'delayed', 'prioritized', 'wait']);
  });

  it('leaves the depth series out, rather than reporting an empty queue, when Redis does not answer', async () => {
    let redisUp = false;
    const { registry } = createGatewayMetrics(async () => {
      if (!redisUp) throw new Error('Redis at 127.0.0.1:6379 did not answer within 800 ms');
      return { interactive: { wait: 3 }, batch: {} };
    }, silent);
    const down = await registry.metrics();
    expect(seriesOf(down, WAITING_REQUESTS_METRIC)).toEqual([]);
    expect(seriesOf(down, RUNNING_REQUESTS_METRIC)).toEqual([]);
    expect(down).toMatch(/^process_cpu_user_seconds_total \d/m);

    redisUp = true;
    expect(seriesOf(await registry.metrics(), WAITING_REQUESTS_METRIC)).toContain(
      `${WAITING_REQUESTS_METRIC}{priority="interactive"} 3`,
    );
  });
});
