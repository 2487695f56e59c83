import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_REDIS_PREFIX } from '@dfleet/queue';

const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../../models/jsfunc-mdm', import.meta.url));

const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);
const positiveMs = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** The gateway's environment, parsed once at startup. Every variable is listed in the README table. */
const gatewayEnvSchema = z.object({
  /** @defaultValue 'redis://127.0.0.1:6379' */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  /** BullMQ key prefix shared with the workers. @defaultValue 'dfleet' */
  DFLEET_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/).default(DEFAULT_REDIS_PREFIX),
  /** @defaultValue '<repo>/models/jsfunc-mdm' */
  DFLEET_MODEL_DIR: z.string().min(1).default(DEFAULT_MODEL_DIR),
  /** @defaultValue 'info' */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Bind address of all three servers. @defaultValue '127.0.0.1' */
  DFLEET_HOST: z.string().min(1).default('127.0.0.1'),
  /** HTTP port; 0 = any free port. @defaultValue 8080 */
  DFLEET_PORT: port(8080),
  /** Public gRPC port; 0 = any free port. @defaultValue 50051 */
  DFLEET_GRPC_PORT: port(50051),
  /** WorkerCallback gRPC port; 0 = any free port. @defaultValue 50052 */
  DFLEET_CALLBACK_PORT: port(50052),
  /** Host workers use to reach this gateway's callback server. @defaultValue '127.0.0.1' */
  DFLEET_CALLBACK_HOST: z.string().min(1).default('127.0.0.1'),
  /** How long a request waits for its result before answering 504. @defaultValue 120000 */
  DFLEET_REQUEST_TIMEOUT_MS: positiveMs(120_000),
  /** Budget of one Redis call on the request path before answering 503. @defaultValue 800 */
  DFLEET_REDIS_TIMEOUT_MS: positiveMs(800),
  /** Grace time for in-flight requests on SIGINT/SIGTERM before the process exits. @defaultValue 10000 */
  DFLEET_SHUTDOWN_TIMEOUT_MS: positiveMs(10_000),
  /** Jobs waiting in the queue (all tenants) above which requests get 429; 0 = no cap. @defaultValue 10000 */
  DFLEET_MAX_WAITING_JOBS: z.coerce.number().int().nonnegative().default(10_000),
  /** Jobs one tenant may have waiting before its requests get 429; 0 = no cap. @defaultValue 0 */
  DFLEET_MAX_WAITING_JOBS_PER_TENANT: z.coerce.number().int().nonnegative().default(0),
});

export interface GatewayConfig {
  redisUrl: string;
  redisPrefix: string;
  modelDir: string;
  logLevel: z.infer<typeof gatewayEnvSchema>['LOG_LEVEL'];
  host: string;
  httpPort: number;
  grpcPort: number;
  callbackPort: number;
  callbackHost: string;
  requestTimeoutMs: number;
  redisTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** null = no cap. */
  maxWaitingJobs: number | null;
  /** null = no cap. */
  maxWaitingJobsPerTenant: number | null;
}

export class GatewayConfigError extends Error {
  readonly code = 'invalid_config';
  constructor(message: string) {
    super(message);
    this.name = 'GatewayConfigError';
  }
}

/** Reads the gateway configuration from an environment; unknown variables are ignored. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  // Empty strings mean "unset" so `FOO= node ...` does not fail validation.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = gatewayEnvSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new GatewayConfigError(`invalid gateway environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    redisUrl: e.REDIS_URL,
    redisPrefix: e.DFLEET_REDIS_PREFIX,
    modelDir: e.DFLEET_MODEL_DIR,
    logLevel: e.LOG_LEVEL,
    host: e.DFLEET_HOST,
    httpPort: e.DFLEET_PORT,
    grpcPort: e.DFLEET_GRPC_PORT,
    callbackPort: e.DFLEET_CALLBACK_PORT,
    callbackHost: e.DFLEET_CALLBACK_HOST,
    requestTimeoutMs: e.DFLEET_REQUEST_TIMEOUT_MS,
    redisTimeoutMs: e.DFLEET_REDIS_TIMEOUT_MS,
    shutdownTimeoutMs: e.DFLEET_SHUTDOWN_TIMEOUT_MS,
    maxWaitingJobs: e.DFLEET_MAX_WAITING_JOBS === 0 ? null : e.DFLEET_MAX_WAITING_JOBS,
    maxWaitingJobsPerTenant: e.DFLEET_MAX_WAITING_JOBS_PER_TENANT === 0 ? null : e.DFLEET_MAX_WAITING_JOBS_PER_TENANT,
  };
}
