import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_REDIS_PREFIX } from '@dfleet/queue';
import { ADAPTIVE_THRESHOLD_DEFAULTS, type AdaptiveThresholdPolicyOptions } from '@dfleet/scheduler';

const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../../models/jsfunc-mdm', import.meta.url));

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** The worker's environment, parsed once at startup. Every variable is listed in the README table. */
const workerEnvSchema = z.object({
  /** @defaultValue 'redis://127.0.0.1:6379' */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  /** BullMQ key prefix shared with the gateways. @defaultValue 'dfleet' */
  DFLEET_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/).default(DEFAULT_REDIS_PREFIX),
  /** @defaultValue '<repo>/models/jsfunc-mdm' */
  DFLEET_MODEL_DIR: z.string().min(1).default(DEFAULT_MODEL_DIR),
  /** @defaultValue 'info' */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Name in heartbeats and results. @defaultValue '<hostname>-<pid>' */
  DFLEET_WORKER_ID: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'only letters, digits, "_", "." and "-"').optional(),
  /** Where the model runs: 'cpu' or 'cuda:N'. @defaultValue 'cpu' */
  DFLEET_DEVICE: z
    .string()
    .regex(/^(cpu|cuda:\d+)$/, "must be 'cpu' or 'cuda:N' (e.g. cuda:0)")
    .default('cpu'),
  /** Jobs decoded at once (BullMQ concurrency). @defaultValue 16 */
  DFLEET_MAX_ACTIVE_JOBS: positiveInt(16),
  /**
   * Interactive jobs claimed beyond DFLEET_MAX_ACTIVE_JOBS while every slot is busy, so they
   * need not wait for a batch job to finish; 0 = off. @defaultValue 2
   */
  DFLEET_INTERACTIVE_EXTRA_JOBS: z.coerce.number().int().min(0).max(64).default(2),
  /** Upper bound on batch size x padded length of one forward pass. @defaultValue 8192 */
  DFLEET_MAX_BATCH_TOKENS: positiveInt(8_192),
  /**
   * Threads onnxruntime may use inside one operator. On a host whose gateway, Redis or clients
   * share the CPU cores, 1 leaves them a core instead of starving them during every forward pass.
   * @defaultValue onnxruntime's own choice (one per physical core)
   */
  DFLEET_INTRA_OP_THREADS: z.coerce.number().int().positive().max(256).optional(),
  /** Grace time for active jobs on SIGINT/SIGTERM before the process exits. @defaultValue 30000 */
  DFLEET_SHUTDOWN_TIMEOUT_MS: positiveInt(30_000),
  /** BullMQ job lock; renewed every half of it while the job runs. @defaultValue 30000 */
  DFLEET_LOCK_DURATION_MS: positiveInt(30_000),
  /**
   * How often this worker looks for jobs whose lock expired (their worker died) and puts them
   * back in the queue. A killed worker's jobs run again within lock + interval. @defaultValue 15000
   */
  DFLEET_STALLED_INTERVAL_MS: positiveInt(15_000),
  /**
   * Times a job may stall (its worker died holding it) and still be run again; one more stall
   * fails it for good with "job stalled more than allowable limit", without its retry policy,
   * so a job that crashes every worker it lands on cannot take down the fleet. @defaultValue 2
   */
  DFLEET_MAX_STALLED_COUNT: z.coerce.number().int().nonnegative().default(2),
  /**
   * Load-adaptive decoding: under queue pressure, lower the confidence threshold of
   * threshold-strategy jobs (fewer steps per job), never below each job's floor. @defaultValue 'off'
   */
  DFLEET_ADAPTIVE_THRESHOLD: z.enum(['off', 'on']).default('off'),
  /** Smoothed queue wait above which the adaptive policy lowers thresholds. @defaultValue 500 */
  DFLEET_ADAPTIVE_TARGET_WAIT_MS: positiveInt(ADAPTIVE_THRESHOLD_DEFAULTS.targetWaitMs),
});

export type LogLevel = z.infer<typeof workerEnvSchema>['LOG_LEVEL'];

export interface WorkerConfig {
  redisUrl: string;
  redisPrefix: string;
  modelDir: string;
  logLevel: LogLevel;
  workerId: string;
  /** 'cpu' or 'cuda:N'. */
  device: string;
  maxActiveJobs: number;
  interactiveExtraJobs: number;
  maxBatchTokens: number;
  /** Threads onnxruntime may use inside one operator; absent = onnxruntime's choice. */
  intraOpThreads?: number;
  shutdownTimeoutMs: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  /** @defaultValue 2000 (fleet contract: heartbeat every 2 s, TTL 10 s) */
  heartbeatIntervalMs: number;
  /** Minimum time between two progress callbacks of one job. @defaultValue 100 */
  progressIntervalMs: number;
  /** How often the worker looks for cancel marks of its active jobs. @defaultValue 250 */
  cancelPollIntervalMs: number;
  /** Load-adaptive threshold policy options; null = off (jobs decode with the threshold they ask for). */
  adaptiveThreshold: AdaptiveThresholdPolicyOptions | null;
}

export class WorkerConfigError extends Error {
  readonly code = 'invalid_config';
  constructor(message: string) {
    super(message);
    this.name = 'WorkerConfigError';
  }
}

/** Reads the worker configuration from an environment; unknown variables are ignored. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  // Empty strings mean "unset" so `FOO= node ...` does not fail validation.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = workerEnvSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new WorkerConfigError(`invalid worker environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    redisUrl: e.REDIS_URL,
    redisPrefix: e.DFLEET_REDIS_PREFIX,
    modelDir: e.DFLEET_MODEL_DIR,
    logLevel: e.LOG_LEVEL,
    workerId: e.DFLEET_WORKER_ID ?? `${hostname()}-${process.pid}`,
    device: e.DFLEET_DEVICE,
    maxActiveJobs: e.DFLEET_MAX_ACTIVE_JOBS,
    interactiveExtraJobs: e.DFLEET_INTERACTIVE_EXTRA_JOBS,
    maxBatchTokens: e.DFLEET_MAX_BATCH_TOKENS,
    ...(e.DFLEET_INTRA_OP_THREADS === undefined ? {} : { intraOpThreads: e.DFLEET_INTRA_OP_THREADS }),
    shutdownTimeoutMs: e.DFLEET_SHUTDOWN_TIMEOUT_MS,
    lockDurationMs: e.DFLEET_LOCK_DURATION_MS,
    stalledIntervalMs: e.DFLEET_STALLED_INTERVAL_MS,
    maxStalledCount: e.DFLEET_MAX_STALLED_COUNT,
    heartbeatIntervalMs: 2_000,
    progressIntervalMs: 100,
    cancelPollIntervalMs: 250,
    adaptiveThreshold: e.DFLEET_ADAPTIVE_THRESHOLD === 'on' ? { targetWaitMs: e.DFLEET_ADAPTIVE_TARGET_WAIT_MS } : null,
  };
}
