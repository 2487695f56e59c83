import { hostname } from 'node:os';
import { AFTER_EACH_VARIABLE, documented, logLevelVariable, parseEnv, positiveInt } from '@dfleet/env-config';
import { modelDirVariable } from '@dfleet/model';
import { checkRedisTopology, redisEnv, redisTargetOf } from '@dfleet/queue';
import { z } from 'zod';
import { ADAPTIVE_THRESHOLD_DEFAULTS, type AdaptiveThresholdPolicyOptions } from '@dfleet/scheduler';

const WORKER_ID_RULE = 'only letters, digits, "_", "." and "-"';
const DEVICE_RULE = "must be 'cpu', 'cuda:N' (e.g. cuda:0) or 'webgpu' / 'webgpu:N'";

/** Every variable the worker reads, with the documentation the README table is generated from. */
export const workerEnv = z.object({
  ...redisEnv,
  DFLEET_MODEL_DIR: modelDirVariable,
  LOG_LEVEL: logLevelVariable,
  DFLEET_WORKER_ID: documented(
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, WORKER_ID_RULE)
      .optional(),
    {
      default: '`<hostname>-<pid>`',
      meaning: 'name in heartbeats and results',
    },
  ),
  DFLEET_DEVICE: documented(
    z
      .string()
      .regex(/^(cpu|cuda:\d+|webgpu(:\d+)?)$/, DEVICE_RULE)
      .default('cpu'),
    {
      meaning:
        "`cpu`, `cuda:N` (onnxruntime's CUDA provider on device N) or `webgpu` (its WebGPU provider, Dawn on " +
        'Vulkan; `webgpu:0` is the same, other indices fail at start: onnxruntime-node cannot choose the adapter); ' +
        'set per process by `dfleet up` / `dfleet worker`',
    },
  ),
  DFLEET_MAX_ACTIVE_JOBS: documented(positiveInt(16), {
    meaning: 'regular slots: jobs of either priority class decoded together',
  }),
  DFLEET_INTERACTIVE_EXTRA_JOBS: documented(z.coerce.number().int().min(0).max(64).default(2), {
    meaning:
      'extra slots only interactive jobs take, once every regular slot is busy; `0` = interactive jobs wait ' +
      'for a free regular slot',
  }),
  DFLEET_INTRA_OP_THREADS: documented(z.coerce.number().int().positive().max(256).optional(), {
    default: "onnxruntime's choice (one per core)",
    meaning:
      'threads onnxruntime uses inside one operator; `1` on a small host whose gateway, Redis and clients share ' +
      'the cores (`bench:fleet` runs its worker so)',
  }),
  DFLEET_REDUCE_IN_MEMORY: documented(z.enum(['off', 'all', 'positions']).default('off'), {
    meaning:
      'a v1 (logits) model only: `positions` appends the reduced outputs to the graph at load, in memory, with ' +
      'the LM head only at the positions the decoder reads; `all` reduces at every position; both keep the ' +
      'top-8 ids, so temperature > 0 samples among them. A model reduced on disk (`dfleet model reduce`) ' +
      'loads as it is',
  }),
  DFLEET_PREFIX_CACHE: documented(z.enum(['off', 'on']).default('off'), {
    meaning:
      "`on`: Fast-dLLM's approximate prefix cache: the model's prefix-cache form (the manifest's `prefixCache` " +
      "block) is loaded, each block's first step keeps the keys and values before the block, and its other " +
      'steps run only the block and what follows; a model without the form fails at start',
  }),
  DFLEET_PREFIX_CACHE_MAX_MB: documented(positiveInt(1_024), {
    meaning:
      "with `DFLEET_PREFIX_CACHE=on`: most MiB all decodes' caches take together; a decode whose cache would " +
      'pass it runs that step uncached',
  }),
  DFLEET_PROBE_PORT: documented(z.coerce.number().int().min(0).max(65_535).optional(), {
    default: 'unset (no HTTP server); `dfleet up` / `dfleet worker`: `0`',
    meaning:
      'HTTP port of `/healthz` (the event loop answers), `/readyz` (claiming jobs; 503 while draining), for ' +
      'Kubernetes probes, and `/metrics` (Prometheus); bound on `DFLEET_PROBE_HOST`; `0` = any free port, ' +
      'named in the `worker ready ... metrics=URL` line',
  }),
  DFLEET_PROBE_HOST: documented(z.string().min(1).default('0.0.0.0'), {
    default: '`0.0.0.0`; `dfleet up` / `dfleet worker`: `127.0.0.1`',
    meaning: 'bind address of the probe server',
  }),
  DFLEET_SHUTDOWN_TIMEOUT_MS: documented(positiveInt(30_000), {
    meaning: 'grace for active jobs on SIGTERM/SIGINT, after which the rest go back to the queue',
  }),
  DFLEET_MAX_BATCH_TOKENS: documented(positiveInt(8_192), {
    meaning: 'upper bound on batch size × padded length of one forward pass',
  }),
  DFLEET_LOCK_DURATION_MS: documented(positiveInt(30_000), {
    meaning: 'BullMQ job lock, renewed every half of it while the job runs',
  }),
  DFLEET_STALLED_INTERVAL_MS: documented(positiveInt(15_000), {
    meaning:
      'how often a worker puts jobs of dead workers (lock expired) back in the queue; they run again within ' +
      'lock + interval',
  }),
  DFLEET_MAX_STALLED_COUNT: documented(z.coerce.number().int().nonnegative().default(2), {
    meaning: 'stalls a job survives; one more fails it for good (`stalled_too_often`) without its retry policy',
  }),
  DFLEET_ADAPTIVE_THRESHOLD: documented(z.enum(['off', 'on']).default('off'), {
    meaning:
      '`on`: load-adaptive decoding, lowers the threshold of `threshold`-strategy jobs while jobs wait too long ' +
      '(see below)',
  }),
  DFLEET_ADAPTIVE_TARGET_WAIT_MS: documented(positiveInt(ADAPTIVE_THRESHOLD_DEFAULTS.targetWaitMs), {
    meaning: 'smoothed queue wait above which the adaptive policy lowers thresholds',
  }),
});

/** The worker's configuration: its environment parsed and named for the code, plus fixed fleet timings. */
const workerConfigSchema = workerEnv.superRefine(checkRedisTopology, AFTER_EACH_VARIABLE).transform((e) => ({
  /** The standalone Redis, Cluster or Sentinel-managed master every connection goes to. */
  redisTarget: redisTargetOf(e),
  redisPrefix: e.DFLEET_REDIS_PREFIX,
  modelDir: e.DFLEET_MODEL_DIR,
  logLevel: e.LOG_LEVEL,
  workerId: e.DFLEET_WORKER_ID ?? `${hostname()}-${process.pid}`,
  /** 'cpu', 'cuda:N' or 'webgpu[:N]'. */
  device: e.DFLEET_DEVICE,
  maxActiveJobs: e.DFLEET_MAX_ACTIVE_JOBS,
  interactiveExtraJobs: e.DFLEET_INTERACTIVE_EXTRA_JOBS,
  maxBatchTokens: e.DFLEET_MAX_BATCH_TOKENS,
  /** Threads onnxruntime may use inside one operator; undefined = onnxruntime's choice. */
  intraOpThreads: e.DFLEET_INTRA_OP_THREADS,
  /** How a v1 model is reduced in memory at load ('off': served as it is). */
  reduceInMemory: e.DFLEET_REDUCE_IN_MEMORY,
  /** null = off: every pass runs whole canvases. */
  prefixCache: e.DFLEET_PREFIX_CACHE === 'on' ? { maxBytes: e.DFLEET_PREFIX_CACHE_MAX_MB * 1024 * 1024 } : null,
  /** null = no probe server. */
  probe: e.DFLEET_PROBE_PORT === undefined ? null : { host: e.DFLEET_PROBE_HOST, port: e.DFLEET_PROBE_PORT },
  shutdownTimeoutMs: e.DFLEET_SHUTDOWN_TIMEOUT_MS,
  /**
   * Time after the grace period for the model, callbacks and connections to close, after which
   * the process exits anyway: a supervisor's kill timeout (Kubernetes'
   * terminationGracePeriodSeconds) should not be shorter than the two together.
   */
  forcedExitMarginMs: 15_000,
  lockDurationMs: e.DFLEET_LOCK_DURATION_MS,
  stalledIntervalMs: e.DFLEET_STALLED_INTERVAL_MS,
  maxStalledCount: e.DFLEET_MAX_STALLED_COUNT,
  /** Fleet contract: heartbeat every 2 s, TTL 10 s. */
  heartbeatIntervalMs: 2_000,
  /** Minimum time between two progress callbacks of one job. */
  progressIntervalMs: 100,
  /** How often the worker looks for cancel marks of its active jobs. */
  cancelPollIntervalMs: 250,
  /** null = off: jobs decode with the threshold they ask for. */
  adaptiveThreshold: adaptiveThresholdFrom(e),
}));

export type WorkerConfig = z.output<typeof workerConfigSchema>;

function adaptiveThresholdFrom(e: z.output<typeof workerEnv>): AdaptiveThresholdPolicyOptions | null {
  return e.DFLEET_ADAPTIVE_THRESHOLD === 'on' ? { targetWaitMs: e.DFLEET_ADAPTIVE_TARGET_WAIT_MS } : null;
}

/** Reads the worker configuration from an environment; throws EnvConfigError naming every bad variable. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return parseEnv(workerConfigSchema, env, 'worker');
}
