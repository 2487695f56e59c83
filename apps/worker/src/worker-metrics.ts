import type { BatchReport } from '@dfleet/scheduler';
import { WORKER_METRICS, createCatalogueRegistry, type CatalogueRegistry } from '@dfleet/telemetry';

export type WorkerMetricsRegistry = CatalogueRegistry<typeof WORKER_METRICS>;

/** What the worker's gauges read at scrape time. */
export interface WorkerGaugeSources {
  /**
   * Epoch ms of the last heartbeat Redis took, or of the worker's start while none has: a worker
   * whose beats never landed ages from then, rather than looking fresh.
   */
  readonly lastHeartbeatAt: () => number;
  readonly jobsInFlight: () => number;
  /** How much the load-adaptive policy lowers thresholds now; 0 without one. */
  readonly thresholdOffset: () => number;
  /** Bytes of prefix caches the decodes hold now; 0 without a prefix cache. */
  readonly prefixCacheBytes: () => number;
}

/** One finished decode, as the worker's histograms see it. */
export interface DecodedJob {
  readonly model: string;
  readonly strategy: string;
  readonly steps: number;
  readonly nfe: number;
  readonly answerTokens: number;
  /** The threshold a threshold-strategy decode used; absent for other strategies. */
  readonly effectiveThreshold?: number;
}

/**
 * The worker's Prometheus metrics: every forward pass, every finished decode, callback retries,
 * and gauges read when scraped. Served on the probe server's /metrics.
 */
export class WorkerMetrics {
  readonly #registry: WorkerMetricsRegistry;

  constructor(sources: WorkerGaugeSources) {
    this.#registry = createCatalogueRegistry(WORKER_METRICS, {
      heartbeatAge: (gauge) => gauge.set(Math.max(0, (Date.now() - sources.lastHeartbeatAt()) / 1000)),
      jobsInFlight: (gauge) => gauge.set(sources.jobsInFlight()),
      adaptiveThresholdOffset: (gauge) => gauge.set(sources.thresholdOffset()),
      prefixCacheBytes: (gauge) => gauge.set(sources.prefixCacheBytes()),
    });
  }

  get registry(): WorkerMetricsRegistry['registry'] {
    return this.#registry.registry;
  }

  /** One forward pass of the step scheduler. */
  batch(report: BatchReport): void {
    const m = this.#registry.metrics;
    m.batchRows.observe(report.sessions.length);
    m.batchPaddedTokens.observe(report.paddedTokens);
    m.batchRealTokens.observe(report.realTokens);
    m.passSeconds.observe((report.denoiseMs + report.applyMs) / 1000);
    m.forwardPasses.inc({ kind: report.kind });
  }

  decoded(job: DecodedJob): void {
    const m = this.#registry.metrics;
    const labels = { model: job.model, strategy: job.strategy };
    m.decodeSteps.observe(labels, job.steps);
    // A decode cancelled before its first pass ran no NFE: it has no rate to report.
    if (job.nfe > 0) m.tokensPerNfe.observe(labels, job.answerTokens / job.nfe);
    m.workerGenerationTokens.inc({ model: job.model }, job.answerTokens);
    if (job.effectiveThreshold !== undefined)
      m.effectiveThreshold.observe({ model: job.model }, job.effectiveThreshold);
  }

  callbackRetried(): void {
    this.#registry.metrics.callbackRetries.inc();
  }
}
