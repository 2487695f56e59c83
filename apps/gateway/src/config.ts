import { defaultBurst, type RateLimit } from '@dfleet/api-keys';
import { AFTER_EACH_VARIABLE, documented, logLevelVariable, parseEnv, port, positiveInt } from '@dfleet/env-config';
import { modelDirVariable } from '@dfleet/model';
import { checkRedisTopology, redisEnv, redisTargetOf } from '@dfleet/queue';
import { z } from 'zod';
import { webhookKeyOf } from './webhooks/webhook-signature.ts';
import type { WebhookSettings } from './webhooks/webhook-settings.ts';
import { webhookHostPolicyOf } from './webhooks/webhook-url.ts';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

/** Every variable the gateway reads, with the documentation the README table is generated from. */
export const gatewayEnv = z.object({
  ...redisEnv,
  DFLEET_MODEL_DIR: modelDirVariable,
  LOG_LEVEL: logLevelVariable,
  DFLEET_HOST: documented(z.string().min(1).default('127.0.0.1'), {
    meaning: 'bind address of the HTTP, gRPC and callback servers',
  }),
  DFLEET_PORT: documented(port(8080), { meaning: 'HTTP port (`0` = any free port)' }),
  DFLEET_GRPC_PORT: documented(port(50051), { meaning: 'public gRPC port' }),
  DFLEET_CALLBACK_PORT: documented(port(50052), { meaning: 'WorkerCallback gRPC port' }),
  DFLEET_CALLBACK_HOST: documented(z.string().min(1).default('127.0.0.1'), {
    meaning: "host workers use to reach this gateway's callback server",
  }),
  DFLEET_REQUEST_TIMEOUT_MS: documented(positiveInt(120_000), {
    meaning: 'how long a request waits for its result before 504 (the job keeps running)',
  }),
  DFLEET_STREAM_KEEPALIVE_MS: documented(z.coerce.number().int().min(0).max(300_000).default(15_000), {
    meaning:
      'a stream whose job has not decoded its first step by then gets its 200 and an SSE comment, and one every ' +
      "as long while nothing else is sent, so a proxy's idle timeout does not cut it while it waits in the queue; " +
      '`0` = never (the 200 waits for the first step)',
  }),
  DFLEET_REDIS_TIMEOUT_MS: documented(positiveInt(800), {
    meaning: 'budget of one Redis call on the request path before 503 + `Retry-After`',
  }),
  DFLEET_REDIS_REPLICA_ACKS: documented(z.coerce.number().int().min(0).max(16).default(0), {
    default: '`0` (the master alone)',
    meaning:
      "replicas that must acknowledge a job's add (Redis `WAIT`) before the gateway accepts it; fewer within " +
      '`DFLEET_REDIS_TIMEOUT_MS` answer 503. With `0` a master that dies in the moment after an add can take the ' +
      'job with it (see `docs/redis.md`)',
  }),
  DFLEET_SHUTDOWN_TIMEOUT_MS: documented(positiveInt(10_000), {
    meaning: 'grace for in-flight requests on SIGTERM/SIGINT',
  }),
  DFLEET_MAX_WAITING_JOBS: documented(z.coerce.number().int().nonnegative().default(10_000), {
    meaning: 'waiting jobs (all tenants) above which requests answer 429 `queue_full`; `0` = no cap',
  }),
  DFLEET_MAX_WAITING_JOBS_PER_TENANT: documented(z.coerce.number().int().nonnegative().default(0), {
    default: '`0` (no cap)',
    meaning: 'waiting jobs one tenant may have before its requests answer 429',
  }),
  DFLEET_API_KEYS_FILE: documented(z.string().min(1).optional(), {
    meaning:
      'JSON file of SHA-256-hashed API keys, each with a tenant and an optional rate limit ' +
      '(`dfleet keys create` writes it; re-read within 2 s of a change; a broken file is refused, logged, ' +
      'and the previous keys stay)',
  }),
  DFLEET_AUTH: documented(z.enum(['api-keys', 'off']).optional(), {
    default: '`api-keys` when `DFLEET_API_KEYS_FILE` is set, else `off`',
    meaning:
      '`off` trusts every request and takes the tenant from `x-dfleet-tenant`; a gateway bound to a ' +
      'non-loopback `DFLEET_HOST` refuses to start without keys unless `DFLEET_AUTH=off` is explicit',
  }),
  DFLEET_RATE_LIMIT_PER_MINUTE: documented(z.coerce.number().int().nonnegative().max(6_000_000).default(0), {
    default: '`0` (unlimited)',
    meaning: 'requests per minute for each key whose entry sets no `rate_limit`; shared by all gateways on the Redis',
  }),
  DFLEET_RATE_LIMIT_BURST: documented(z.coerce.number().int().nonnegative().max(1_000_000).default(0), {
    default: "`0` = ten seconds' worth (`ceil(rate / 6)`)",
    meaning: 'burst for that default limit',
  }),
  DFLEET_MAX_BODY_BYTES: documented(
    z.coerce
      .number()
      .int()
      .min(1_024)
      .max(64 * 1_048_576)
      .default(1_048_576),
    {
      meaning: 'largest HTTP body (413) and gRPC message (`RESOURCE_EXHAUSTED`)',
    },
  ),
  DFLEET_MAX_BATCH_PROMPTS: documented(z.coerce.number().int().min(1).max(1_024).default(32), {
    meaning: 'most prompts in one HTTP request (`prompt` as an array), 1 .. 1024',
  }),
  DFLEET_MAX_FILE_BYTES: documented(
    z.coerce
      .number()
      .int()
      .min(1_024)
      .max(512 * 1_048_576)
      .default(64 * 1_048_576),
    {
      meaning:
        'largest file `POST /v1/files` stores (413 above); files and batch outputs live in Redis, so this bounds one key (see `docs/batches.md`)',
    },
  ),
  DFLEET_MAX_FILES_PER_TENANT: documented(positiveInt(500), {
    meaning: 'files one tenant may hold (uploads and batch outputs); an upload beyond answers 400 `file_limit_reached`',
  }),
  DFLEET_BATCH_MAX_LINES: documented(positiveInt(50_000), {
    meaning: 'most request lines in one batch input file; a larger file fails the batch (`too_many_requests`)',
  }),
  DFLEET_BATCH_WINDOW: documented(z.coerce.number().int().min(1).max(10_000).default(128), {
    meaning:
      'lines of one batch in the queue or decoding at once: the runner feeds the next line as one finishes, so a 50,000-line batch never puts 50,000 jobs in Redis',
  }),
  DFLEET_BATCH_RUNNERS: documented(z.coerce.number().int().min(0).max(64).default(2), {
    meaning: 'batches this gateway runs at once (any gateway runs any batch); `0` = this gateway only serves the API',
  }),
  DFLEET_BATCH_LOCK_DURATION_MS: documented(z.coerce.number().int().min(2_000).max(600_000).default(30_000), {
    meaning:
      "lock on a running batch, renewed while its gateway lives: a gateway killed mid-batch hands it to another gateway's runner within about this",
  }),
  DFLEET_CORS_ORIGINS: documented(
    z
      .string()
      .optional()
      .transform((value, ctx) => corsOriginsOf(value, ctx)),
    {
      default: 'unset (CORS off)',
      meaning:
        'comma-separated origins browsers may call the API from (`https://app.example.com,http://localhost:3000`), ' +
        'or `*` for any; preflights are answered and `x-request-id` is exposed',
    },
  ),
  DFLEET_ADMIN_KEY: documented(
    z.string().min(16, 'DFLEET_ADMIN_KEY must be at least 16 characters: it guards every job of the fleet').optional(),
    {
      default: 'unset (no dashboard)',
      meaning:
        'set, the queue dashboard (Bull Board) is served at `/admin/queues`: log in with HTTP Basic (any user, this ' +
        'key as the password) or send `Authorization: Bearer KEY`; unset, that path answers 404',
    },
  ),
  DFLEET_WEBHOOK_SECRET: documented(
    z
      .string()
      .optional()
      .superRefine((value, ctx) => {
        if (value === undefined || value === '') return;
        const key = webhookKeyOf(value);
        if ('problem' in key) ctx.addIssue({ code: 'custom', message: `the secret ${key.problem}` });
      }),
    {
      default: 'unset (requests naming a webhook answer 400 `webhooks_not_configured`)',
      meaning:
        'Standard Webhooks secret (`whsec_` + base64 of 24 to 64 random bytes) that signs result webhooks; every ' +
        'gateway of a fleet needs the same one, as any of them may deliver (see `docs/webhooks.md`)',
    },
  ),
  DFLEET_WEBHOOK_ALLOWED_HOSTS: documented(z.string().optional(), {
    default: 'unset: public addresses only',
    meaning:
      'hosts webhooks may be POSTed to: comma-separated names (`hooks.example.com,*.example.org`, any address), ' +
      'or `*` for any host; unset, any host whose address is public, checked when connecting (no loopback, ' +
      'private or link-local receivers, so clients cannot reach into the fleet network)',
  }),
  DFLEET_WEBHOOK_TIMEOUT_MS: documented(z.coerce.number().int().min(100).max(20_000).default(10_000), {
    meaning: 'bound on one webhook POST, connect to answer; slower counts as a failed attempt',
  }),
  DFLEET_WEBHOOK_ATTEMPTS: documented(z.coerce.number().int().min(1).max(30).default(8), {
    meaning: 'POSTs of one event before it is undeliverable (listed by `GET /v1/webhooks/deliveries?status=failed`)',
  }),
  DFLEET_WEBHOOK_BACKOFF_MS: documented(positiveInt(5_000), {
    meaning:
      'delay before the first webhook retry, doubled for each next one (jitter 20%): with the defaults ' +
      'the 8 attempts span about 10 minutes',
  }),
});

type GatewayEnv = z.output<typeof gatewayEnv>;

/** An origin is what a browser sends in `Origin`: scheme, host and port, no path. */
const ORIGIN_PATTERN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;

function corsOriginsOf(value: string | undefined, ctx: z.RefinementCtx): string[] | null {
  if (value === undefined || value.trim() === '') return null;
  const origins = value
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
  for (const origin of origins) {
    if (origin !== '*' && !ORIGIN_PATTERN.test(origin)) {
      ctx.addIssue({
        code: 'custom',
        message: `'${origin}' is not an origin: write scheme://host[:port] with no path (https://app.example.com), or *`,
      });
    }
  }
  return origins;
}

/** The gateway's configuration: its environment parsed, checked across variables, and named for the code. */
const gatewayConfigSchema = gatewayEnv
  .superRefine(checkAuth, AFTER_EACH_VARIABLE)
  .superRefine(checkRedisTopology, AFTER_EACH_VARIABLE)
  .transform((e) => ({
    /** The standalone Redis, Cluster or Sentinel-managed master every connection goes to. */
    redisTarget: redisTargetOf(e),
    redisPrefix: e.DFLEET_REDIS_PREFIX,
    modelDir: e.DFLEET_MODEL_DIR,
    logLevel: e.LOG_LEVEL,
    host: e.DFLEET_HOST,
    httpPort: e.DFLEET_PORT,
    grpcPort: e.DFLEET_GRPC_PORT,
    callbackPort: e.DFLEET_CALLBACK_PORT,
    callbackHost: e.DFLEET_CALLBACK_HOST,
    requestTimeoutMs: e.DFLEET_REQUEST_TIMEOUT_MS,
    /** null = no keep-alive. */
    streamKeepAliveMs: e.DFLEET_STREAM_KEEPALIVE_MS === 0 ? null : e.DFLEET_STREAM_KEEPALIVE_MS,
    redisTimeoutMs: e.DFLEET_REDIS_TIMEOUT_MS,
    /** Replicas that must have a job before it counts as accepted; 0 = the master alone. */
    redisReplicaAcks: e.DFLEET_REDIS_REPLICA_ACKS,
    shutdownTimeoutMs: e.DFLEET_SHUTDOWN_TIMEOUT_MS,
    /** null = no cap. */
    maxWaitingJobs: e.DFLEET_MAX_WAITING_JOBS === 0 ? null : e.DFLEET_MAX_WAITING_JOBS,
    /** null = no cap. */
    maxWaitingJobsPerTenant: e.DFLEET_MAX_WAITING_JOBS_PER_TENANT === 0 ? null : e.DFLEET_MAX_WAITING_JOBS_PER_TENANT,
    auth: authFrom(e),
    maxBodyBytes: e.DFLEET_MAX_BODY_BYTES,
    maxBatchPrompts: e.DFLEET_MAX_BATCH_PROMPTS,
    batches: {
      maxFileBytes: e.DFLEET_MAX_FILE_BYTES,
      maxFilesPerTenant: e.DFLEET_MAX_FILES_PER_TENANT,
      maxLines: e.DFLEET_BATCH_MAX_LINES,
      window: e.DFLEET_BATCH_WINDOW,
      runners: e.DFLEET_BATCH_RUNNERS,
      lockDurationMs: e.DFLEET_BATCH_LOCK_DURATION_MS,
    },
    /** null = CORS off; `['*']` = any origin. */
    corsOrigins: e.DFLEET_CORS_ORIGINS,
    /** null = no queue dashboard. */
    adminKey: e.DFLEET_ADMIN_KEY ?? null,
    /** null = no secret: webhooks are refused and not delivered here. */
    webhooks: webhookSettingsFrom(e),
  }));

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;

/** How the gateway decides who a request is from. */
type GatewayAuthConfig = { kind: 'off' } | { kind: 'api-keys'; keysFile: string; defaultRateLimit: RateLimit | null };

/** Reads the gateway configuration from an environment; throws EnvConfigError naming every bad variable. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return parseEnv(gatewayConfigSchema, env, 'gateway');
}

function authMode(e: GatewayEnv): 'api-keys' | 'off' {
  return e.DFLEET_AUTH ?? (e.DFLEET_API_KEYS_FILE === undefined ? 'off' : 'api-keys');
}

function checkAuth(e: GatewayEnv, ctx: z.RefinementCtx<GatewayEnv>): void {
  if (authMode(e) === 'api-keys' && e.DFLEET_API_KEYS_FILE === undefined) {
    ctx.addIssue({
      code: 'custom',
      message:
        'DFLEET_AUTH=api-keys needs DFLEET_API_KEYS_FILE, the JSON file of hashed keys ' +
        '(`dfleet keys create` writes it)',
    });
  }
  // Without keys anyone who reaches the port can spend the GPUs and read every tenant's jobs:
  // that has to be a decision, not a default, once the port is reachable from elsewhere.
  if (e.DFLEET_AUTH === undefined && authMode(e) === 'off' && !LOOPBACK_HOSTS.has(e.DFLEET_HOST)) {
    ctx.addIssue({
      code: 'custom',
      message:
        `DFLEET_HOST=${e.DFLEET_HOST} is reachable from other machines but no API keys are configured: ` +
        'set DFLEET_API_KEYS_FILE (create keys with `dfleet keys create`), ' +
        'or DFLEET_AUTH=off to serve without authentication',
    });
  }
}

function authFrom(e: GatewayEnv): GatewayAuthConfig {
  if (authMode(e) === 'off' || e.DFLEET_API_KEYS_FILE === undefined) return { kind: 'off' };
  const perMinute = e.DFLEET_RATE_LIMIT_PER_MINUTE;
  const burst = e.DFLEET_RATE_LIMIT_BURST || defaultBurst(perMinute);
  return {
    kind: 'api-keys',
    keysFile: e.DFLEET_API_KEYS_FILE,
    defaultRateLimit: perMinute === 0 ? null : { requestsPerMinute: perMinute, burst },
  };
}

function webhookSettingsFrom(e: GatewayEnv): WebhookSettings | null {
  const secret = e.DFLEET_WEBHOOK_SECRET;
  if (secret === undefined || secret === '') return null;
  const key = webhookKeyOf(secret);
  if ('problem' in key) return null;
  return {
    key: key.key,
    hostPolicy: webhookHostPolicyOf(e.DFLEET_WEBHOOK_ALLOWED_HOSTS),
    timeoutMs: e.DFLEET_WEBHOOK_TIMEOUT_MS,
    attempts: e.DFLEET_WEBHOOK_ATTEMPTS,
    backoffMs: e.DFLEET_WEBHOOK_BACKOFF_MS,
  };
}
