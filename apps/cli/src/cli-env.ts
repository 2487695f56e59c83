import { AFTER_EACH_VARIABLE, documented, parseEnv, port } from '@dfleet/env-config';
import { modelDirVariable } from '@dfleet/model';
import { checkRedisTopology, redisEnv, redisTargetOf, redisUrlSchema } from '@dfleet/queue';
import { z } from 'zod';

const ANY_FREE_PORT = '`0` = any free port (`dfleet up`)';

/** The Redis the fleet's processes use when REDIS_URL is unset, which `dfleet status` reads too. */
const FLEET_REDIS_URL = redisEnv.REDIS_URL.parse(undefined);

// `dfleet status` reads the fleet's Redis as gateways and workers name it; REDIS_URL is the CLI's own.
const { REDIS_URL: _gatewayRedisUrl, ...fleetRedisVariables } = redisEnv;

/**
 * Every variable the CLI reads, with the documentation the README table is generated from. An
 * entry without a meaning is a variable the gateway documents and the CLI reads too.
 */
export const cliEnv = z.object({
  REDIS_URL: documented(redisUrlSchema.optional(), {
    default: `found or started by \`dfleet up\` (see above); \`${FLEET_REDIS_URL}\` for \`dfleet status\``,
  }),
  ...fleetRedisVariables,
  DFLEET_MODEL_DIR: modelDirVariable,
  DFLEET_PORT: documented(port(8080), {}),
  DFLEET_GRPC_PORT: documented(port(0), { default: ANY_FREE_PORT }),
  DFLEET_CALLBACK_PORT: documented(port(0), { default: ANY_FREE_PORT }),
  DFLEET_API_KEYS_FILE: documented(z.string().min(1).optional(), {}),
  DFLEET_AUTH: documented(z.enum(['api-keys', 'off']).optional(), {}),
  DFLEET_API_KEY: documented(z.string().min(1).optional(), {
    meaning: "key `dfleet generate`, `dfleet batch` (and `dfleet up`'s demo) send as `Authorization: Bearer`",
  }),
  DFLEET_URL: documented(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(), {
    default: '`http://127.0.0.1:$DFLEET_PORT`',
    meaning: 'gateway `dfleet generate` and `dfleet batch` talk to (or `--url`)',
  }),
});

/** The CLI's configuration, read from the environment by the commands that need it. */
const cliConfigSchema = cliEnv
  .superRefine(
    (e, ctx) => checkRedisTopology({ ...e, REDIS_URL: e.REDIS_URL ?? FLEET_REDIS_URL }, ctx),
    AFTER_EACH_VARIABLE,
  )
  .transform((e) => ({
    gatewayUrl: e.DFLEET_URL ?? `http://127.0.0.1:${e.DFLEET_PORT}`,
    apiKey: e.DFLEET_API_KEY,
    /** The file `dfleet keys` edits unless --file names another. */
    apiKeysFile: e.DFLEET_API_KEYS_FILE,
    /** Whether the gateway `dfleet up` starts will ask for keys (so the demo needs DFLEET_API_KEY). */
    keysRequired: e.DFLEET_API_KEYS_FILE !== undefined && e.DFLEET_AUTH !== 'off',
    /** undefined: `dfleet up` finds or starts one. */
    redisUrl: e.REDIS_URL,
    /** The fleet's Redis and key prefix as its gateways and workers read them (`dfleet status`). */
    fleetRedis: {
      target: redisTargetOf({ ...e, REDIS_URL: e.REDIS_URL ?? FLEET_REDIS_URL }),
      prefix: e.DFLEET_REDIS_PREFIX,
    },
    /** What `dfleet up` hands its gateway and workers, over whatever else the environment says. */
    fleet: {
      modelDir: e.DFLEET_MODEL_DIR,
      httpPort: e.DFLEET_PORT,
      grpcPort: e.DFLEET_GRPC_PORT,
      callbackPort: e.DFLEET_CALLBACK_PORT,
    },
  }));

export type CliConfig = z.output<typeof cliConfigSchema>;

/** Reads the CLI configuration; throws EnvConfigError naming every bad variable. */
export function loadCliConfig(env: NodeJS.ProcessEnv): CliConfig {
  return parseEnv(cliConfigSchema, env, 'dfleet');
}
