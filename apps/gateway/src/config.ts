import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_REDIS_PREFIX } from '@dfleet/queue';
import { defaultBurst, type RateLimit } from '@dfleet/api-keys';

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
  /** `api-keys` or `off`. @defaultValue 'api-keys' when DFLEET_API_KEYS_FILE is set, else 'off' */
  DFLEET_AUTH: z.enum(['api-keys', 'off']).optional(),
  /** JSON file of hashed API keys (`dfleet keys create` writes it). */
  DFLEET_API_KEYS_FILE: z.string().min(1).optional(),
  /** Requests per minute per API key whose entry sets no `rate_limit`; 0 = unlimited. @defaultValue 0 */
  DFLEET_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().nonnegative().max(6_000_000).default(0),
  /** Burst for that default; 0 = ten seconds' worth. @defaultValue 0 */
  DFLEET_RATE_LIMIT_BURST: z.coerce.number().int().nonnegative().max(1_000_000).default(0),
  /** Most prompts in one HTTP request (`prompt` as an array). @defaultValue 32 */
  DFLEET_MAX_BATCH_PROMPTS: z.coerce.number().int().min(1).max(1_024).default(32),
  /** Largest HTTP body / gRPC message accepted, in bytes. @defaultValue 1048576 */
  DFLEET_MAX_BODY_BYTES: z.coerce.number().int().min(1_024).max(64 * 1_048_576).default(1_048_576),
});

/** How the gateway decides who a request is from. */
type GatewayAuthConfig =
  | { kind: 'off' }
  | { kind: 'api-keys'; keysFile: string; defaultRateLimit: RateLimit | null };

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
  auth: GatewayAuthConfig;
  maxBodyBytes: number;
  maxBatchPrompts: number;
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
    auth: authConfigFrom(e),
    maxBodyBytes: e.DFLEET_MAX_BODY_BYTES,
    maxBatchPrompts: e.DFLEET_MAX_BATCH_PROMPTS,
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

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

function authConfigFrom(e: z.infer<typeof gatewayEnvSchema>): GatewayAuthConfig {
  const mode = e.DFLEET_AUTH ?? (e.DFLEET_API_KEYS_FILE === undefined ? 'off' : 'api-keys');
  if (mode === 'off') {
    // Without keys anyone who reaches the port can spend the GPUs and read every tenant's jobs:
    // that has to be a decision, not a default, once the port is reachable from elsewhere.
    if (e.DFLEET_AUTH === undefined && !LOOPBACK_HOSTS.has(e.DFLEET_HOST)) {
      throw new GatewayConfigError(
        `DFLEET_HOST=${e.DFLEET_HOST} is reachable from other machines but no API keys are configured: set DFLEET_API_KEYS_FILE (create keys with \`dfleet keys create\`), or DFLEET_AUTH=off to serve without authentication`,
      );
    }
    return { kind: 'off' };
  }
  if (e.DFLEET_API_KEYS_FILE === undefined) {
    throw new GatewayConfigError('DFLEET_AUTH=api-keys needs DFLEET_API_KEYS_FILE, the JSON file of hashed keys (`dfleet keys create` writes it)');
  }
  const perMinute = e.DFLEET_RATE_LIMIT_PER_MINUTE;
  return {
    kind: 'api-keys',
    keysFile: e.DFLEET_API_KEYS_FILE,
    defaultRateLimit: perMinute === 0 ? null : { requestsPerMinute: perMinute, burst: e.DFLEET_RATE_LIMIT_BURST || defaultBurst(perMinute) },
  };
}
