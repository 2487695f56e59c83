import type { JobType } from 'bullmq';
import type { Logger } from 'pino';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { PRIORITY_CLASSES, RUNNING_JOB_STATES, WAITING_JOB_STATES, countIn, type PriorityClass } from '@dfleet/queue';

/**
 * vLLM's `num_requests_waiting`, fleet-wide: what KEDA scales workers on. Every gateway reports
 * the same queue-wide figure, so aggregate across gateways with `max`, never `sum`.
 */
export const WAITING_REQUESTS_METRIC = 'dfleet_num_requests_waiting';
/** vLLM's `num_requests_running`: jobs a worker holds (BullMQ `active`), fleet-wide. */
export const RUNNING_REQUESTS_METRIC = 'dfleet_num_requests_running';

/** At most one "queue depth unread" warning per this long. */
const UNREAD_WARNING_INTERVAL_MS = 60_000;

/** BullMQ's job counts of each class's queue in the states asked for. */
export type ReadJobCounts = (types: JobType[]) => Promise<Record<PriorityClass, Record<string, number>>>;

/**
 * The gateway's Prometheus registry: queue depths read from Redis at scrape time (one read per
 * scrape, shared by both gauges) and prom-client's process metrics. When Redis does not answer,
 * the depth series are left out of that scrape rather than reported as 0, which an autoscaler
 * would take for an empty queue; the process metrics are still served.
 */
export function createGatewayMetrics(readJobCounts: ReadJobCounts, logger: Logger): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  let inFlight: Promise<Record<PriorityClass, Record<string, number>> | null> | null = null;
  let lastWarnedAt = 0;
  // Both gauges' collect functions run concurrently within one scrape: they share one read.
  const readOnce = () => {
    inFlight ??= readJobCounts([...WAITING_JOB_STATES, ...RUNNING_JOB_STATES])
      .catch((error: unknown) => {
        // Every scrape of an outage fails alike; the Redis connection logs the outage itself.
        if (Date.now() - lastWarnedAt >= UNREAD_WARNING_INTERVAL_MS) {
          lastWarnedAt = Date.now();
          logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'metrics: queue depth unread');
        }
        return null;
      })
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  };

  const depthGauge = (name: string, help: string, states: readonly JobType[]) =>
    new Gauge({
      name,
      help,
      labelNames: ['priority'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        const counts = await readOnce();
        if (counts === null) return;
        for (const priority of PRIORITY_CLASSES) this.set({ priority }, countIn(counts[priority], states));
      },
    });
  depthGauge(
    WAITING_REQUESTS_METRIC,
    "Jobs no worker holds yet (BullMQ wait + prioritized + delayed) in each priority class's queue, fleet-wide",
    WAITING_JOB_STATES,
  );
  depthGauge(
    RUNNING_REQUESTS_METRIC,
    "Jobs a worker is decoding (BullMQ active) in each priority class's queue, fleet-wide",
    RUNNING_JOB_STATES,
  );
  return registry;
}
