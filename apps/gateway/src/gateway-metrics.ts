import type { JobType } from 'bullmq';
import type { Logger } from 'pino';
import { PRIORITY_CLASSES, RUNNING_JOB_STATES, WAITING_JOB_STATES, countIn, type PriorityClass } from '@dfleet/queue';
import {
  GATEWAY_METRICS,
  createCatalogueRegistry,
  type CatalogueRegistry,
  type GaugeCollector,
} from '@dfleet/telemetry';

/** At most one "queue depth unread" warning per this long. */
const UNREAD_WARNING_INTERVAL_MS = 60_000;

/** BullMQ's job counts of each class's queue in the states asked for. */
export type ReadJobCounts = (types: JobType[]) => Promise<Record<PriorityClass, Record<string, number>>>;

export type GatewayMetrics = CatalogueRegistry<typeof GATEWAY_METRICS>;

/**
 * The gateway's Prometheus registry: every gateway metric of the catalogue, the queue depths read
 * from Redis at scrape time (one read per scrape, shared by both gauges) and prom-client's
 * process metrics. When Redis does not answer, the depth series are left out of that scrape
 * rather than reported as 0, which an autoscaler would take for an empty queue; the rest is
 * still served.
 */
export function createGatewayMetrics(readJobCounts: ReadJobCounts, logger: Logger): GatewayMetrics {
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
  const depthOf =
    (states: readonly JobType[]): GaugeCollector<typeof GATEWAY_METRICS.requestsWaiting> =>
    async (gauge) => {
      gauge.reset();
      const counts = await readOnce();
      if (counts === null) return;
      for (const priority of PRIORITY_CLASSES) gauge.set({ priority }, countIn(counts[priority], states));
    };
  return createCatalogueRegistry(GATEWAY_METRICS, {
    requestsWaiting: depthOf(WAITING_JOB_STATES),
    requestsRunning: depthOf(RUNNING_JOB_STATES),
  });
}
