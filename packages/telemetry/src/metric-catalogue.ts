/**
 * Every Prometheus metric the fleet exports, defined once: the gateway's and the worker's
 * registries are built from these entries, and the README table, the Grafana dashboard's test and
 * the KEDA manifest's test read them. Names follow vLLM's (`vllm:num_requests_waiting` is
 * `dfleet_num_requests_waiting` here) where vLLM has the metric. Labels are small closed sets
 * (model, priority class, strategy, finish reason, error code): never a tenant, a job id or text.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

interface MetricSpecBase<L extends string> {
  readonly name: string;
  /** Prometheus HELP text, and the meaning the README lists. */
  readonly help: string;
  readonly labelNames: readonly L[];
}

export interface CounterSpec<L extends string = string> extends MetricSpecBase<L> {
  readonly type: 'counter';
}
export interface GaugeSpec<L extends string = string> extends MetricSpecBase<L> {
  readonly type: 'gauge';
}
export interface HistogramSpec<L extends string = string> extends MetricSpecBase<L> {
  readonly type: 'histogram';
  /** Upper bounds, ascending; `+Inf` is implied. */
  readonly buckets: readonly number[];
}

export type MetricSpec = CounterSpec | GaugeSpec | HistogramSpec;

/** Seconds from a few ms (a short cached answer) to minutes (a long job behind a queue). */
const REQUEST_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300] as const;
/** Queue waits start at a millisecond: an idle fleet claims a job at once. */
const QUEUE_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as const;
/** A forward pass: a few ms on an H100, ~13 ms for the default model on a CPU, more for big batches. */
const PASS_SECONDS = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1] as const;
/** Tokens of one forward pass, up to twice the default DFLEET_MAX_BATCH_TOKENS (8192). */
const PASS_TOKENS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16_384] as const;

export const GATEWAY_METRICS = {
  requestsWaiting: {
    name: 'dfleet_num_requests_waiting',
    type: 'gauge',
    help:
      "Jobs no worker holds yet (BullMQ wait + prioritized + delayed) in each priority class's queue, fleet-wide; " +
      'every gateway reports the same figure, so aggregate with max, not sum (KEDA scales workers on it)',
    labelNames: ['priority'],
  },
  requestsRunning: {
    name: 'dfleet_num_requests_running',
    type: 'gauge',
    help: "Jobs a worker is decoding (BullMQ active) in each priority class's queue, fleet-wide (aggregate with max)",
    labelNames: ['priority'],
  },
  e2eLatency: {
    name: 'dfleet_e2e_request_latency_seconds',
    type: 'histogram',
    help: 'Time from accepting a completion to its result, of the completions this gateway answered',
    labelNames: ['model', 'priority'],
    buckets: REQUEST_SECONDS,
  },
  queueTime: {
    name: 'dfleet_request_queue_time_seconds',
    type: 'histogram',
    help: "Time a completion's job waited in the queue before a worker claimed it (the worker's claim time - accepted time)",
    labelNames: ['model', 'priority'],
    buckets: QUEUE_SECONDS,
  },
  timeToFirstToken: {
    name: 'dfleet_time_to_first_token_seconds',
    type: 'histogram',
    help: 'Streaming completions: time from accepting the request to the first final answer tokens it sent',
    labelNames: ['model', 'priority'],
    buckets: REQUEST_SECONDS,
  },
  promptTokens: {
    name: 'dfleet_prompt_tokens_total',
    type: 'counter',
    help: 'Prompt tokens of the completions this gateway answered',
    labelNames: ['model'],
  },
  generationTokens: {
    name: 'dfleet_generation_tokens_total',
    type: 'counter',
    help: 'Answer tokens of the completions this gateway answered',
    labelNames: ['model'],
  },
  requestSuccess: {
    name: 'dfleet_request_success_total',
    type: 'counter',
    help: 'Completions answered with a result (one per job: per choice or prompt), by finish reason (eos, stop, length, cancelled, deadline, ...)',
    labelNames: ['model', 'finish_reason'],
  },
  requestFailure: {
    name: 'dfleet_request_failure_total',
    type: 'counter',
    help: "Error replies of the HTTP API's routes and the gRPC GenerationService, by the gateway's error code (invalid_request, queue_full, ...); a path no route serves is not counted",
    labelNames: ['code'],
  },
} as const satisfies Record<string, MetricSpec>;

export const WORKER_METRICS = {
  decodeSteps: {
    name: 'dfleet_request_decode_steps',
    type: 'histogram',
    help: "Denoising steps per finished decode (the result's `steps`, as the response's usage reports them)",
    labelNames: ['model', 'strategy'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
  },
  tokensPerNfe: {
    name: 'dfleet_request_tokens_per_nfe',
    type: 'histogram',
    help: 'Answer tokens per function evaluation (NFE) of each finished decode; 1 is autoregressive speed',
    labelNames: ['model', 'strategy'],
    buckets: [0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 32],
  },
  batchRows: {
    name: 'dfleet_batch_rows',
    type: 'histogram',
    help: 'Jobs (rows) in each forward pass',
    labelNames: [],
    buckets: [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64],
  },
  batchPaddedTokens: {
    name: 'dfleet_batch_padded_tokens',
    type: 'histogram',
    help: 'Rows x padded length of each forward pass (what DFLEET_MAX_BATCH_TOKENS bounds)',
    labelNames: [],
    buckets: PASS_TOKENS,
  },
  batchRealTokens: {
    name: 'dfleet_batch_real_tokens',
    type: 'histogram',
    help: "Sum of the rows' own lengths in each forward pass; real / padded is the batch occupancy",
    labelNames: [],
    buckets: PASS_TOKENS,
  },
  passSeconds: {
    name: 'dfleet_forward_pass_seconds',
    type: 'histogram',
    help: 'Time of each forward pass: the denoiser plus applying its output to every row',
    labelNames: [],
    buckets: PASS_SECONDS,
  },
  forwardPasses: {
    name: 'dfleet_forward_passes_total',
    type: 'counter',
    help:
      'Forward passes by kind: `full` runs whole canvases (and refreshes prefix caches), `cached` only the ' +
      'windows after them (DFLEET_PREFIX_CACHE=on)',
    labelNames: ['kind'],
  },
  prefixCacheBytes: {
    name: 'dfleet_prefix_cache_bytes',
    type: 'gauge',
    help: "Bytes of prefix caches this worker's decodes hold now (at most DFLEET_PREFIX_CACHE_MAX_MB; 0 when off)",
    labelNames: [],
  },
  workerGenerationTokens: {
    name: 'dfleet_worker_generation_tokens_total',
    type: 'counter',
    help: 'Answer tokens this worker decoded (counted once per finished decode, whether or not a gateway took the result)',
    labelNames: ['model'],
  },
  jobsInFlight: {
    name: 'dfleet_worker_jobs_in_flight',
    type: 'gauge',
    help: 'Jobs this worker has claimed and not finished',
    labelNames: [],
  },
  callbackRetries: {
    name: 'dfleet_callback_retries_total',
    type: 'counter',
    help: 'Result callbacks to a gateway tried again after a transport failure',
    labelNames: [],
  },
  heartbeatAge: {
    name: 'dfleet_worker_heartbeat_age_seconds',
    type: 'gauge',
    help:
      'Seconds since this worker last wrote its heartbeat to Redis, or since it started while no write succeeded ' +
      '(beats every 2 s; gateways stop counting it after 10 s)',
    labelNames: [],
  },
  adaptiveThresholdOffset: {
    name: 'dfleet_adaptive_threshold_offset',
    type: 'gauge',
    help:
      'How much the load-adaptive policy lowers the threshold of threshold-strategy jobs claimed now ' +
      '(0 while waits are short, and always with DFLEET_ADAPTIVE_THRESHOLD=off)',
    labelNames: [],
  },
  effectiveThreshold: {
    name: 'dfleet_effective_threshold',
    type: 'histogram',
    help: 'The confidence threshold each threshold-strategy decode used (after the adaptive policy)',
    labelNames: ['model'],
    buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1],
  },
} as const satisfies Record<string, MetricSpec>;

/** Where a metric is scraped. */
export type MetricService = 'gateway' | 'worker';

/** Every metric of the fleet with the service that serves it, in README order. */
export const METRIC_CATALOGUE: readonly (MetricSpec & { readonly service: MetricService })[] = [
  ...Object.values(GATEWAY_METRICS).map((spec) => ({ ...spec, service: 'gateway' as const })),
  ...Object.values(WORKER_METRICS).map((spec) => ({ ...spec, service: 'worker' as const })),
];

/**
 * The series names a metric exposes: a histogram's `_bucket`, `_sum` and `_count`, a counter's or
 * gauge's own name.
 */
export function seriesNamesOf(spec: MetricSpec): readonly string[] {
  return spec.type === 'histogram'
    ? ['_bucket', '_sum', '_count'].map((suffix) => `${spec.name}${suffix}`)
    : [spec.name];
}
