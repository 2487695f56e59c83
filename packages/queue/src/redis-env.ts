import { documented } from '@dfleet/env-config';
import { z } from 'zod';
import { DEFAULT_REDIS_PREFIX } from './queue-names.ts';
import { redisHashTag, type RedisNodeAddress, type RedisTarget } from './redis-target.ts';

const NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
const NAME_RULE = 'only letters, digits, "_", "." and "-"';
/** A name, optionally with one Redis Cluster hash tag (`{dfleet}`, `{dfleet}-eu`). */
const PREFIX_PATTERN = /^(?=.*[A-Za-z0-9_.-])[A-Za-z0-9_.-]*(\{[A-Za-z0-9_.-]+\})?[A-Za-z0-9_.-]*$/;
const PREFIX_RULE = `${NAME_RULE}, with at most one hash tag in braces (e.g. {dfleet})`;

/** A redis:// or rediss:// URL, as REDIS_URL takes it. */
export const redisUrlSchema = z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' });

const NODE_PATTERN = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/;

/** `host:port,host:port`, as the cluster seed and Sentinel lists take it. */
const nodeListSchema = z.string().transform((text, ctx): RedisNodeAddress[] => {
  const nodes: RedisNodeAddress[] = [];
  for (const entry of text.split(',').map((part) => part.trim())) {
    const match = NODE_PATTERN.exec(entry);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65_535) {
      ctx.addIssue({ code: 'custom', message: `'${entry}' is not host:port (a comma-separated list of them)` });
      return z.NEVER;
    }
    nodes.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return nodes;
});

/** The variables every process that shares the fleet's Redis reads; spread into an app's env schema. */
export const redisEnv = {
  REDIS_URL: documented(redisUrlSchema.default('redis://127.0.0.1:6379'), {
    meaning:
      'Redis holding the queue, results and heartbeats (`redis://` or `rediss://`); with a Cluster or ' +
      'Sentinels only its username, password and scheme (TLS) are used (see `docs/redis.md`)',
  }),
  DFLEET_REDIS_PREFIX: documented(z.string().regex(PREFIX_PATTERN, PREFIX_RULE).default(DEFAULT_REDIS_PREFIX), {
    meaning:
      'BullMQ key prefix; gateways and workers of one fleet share it. On a Redis Cluster it must hold a hash ' +
      'tag (`{dfleet}`), which puts every key of the fleet in one slot',
  }),
  DFLEET_REDIS_CLUSTER_NODES: documented(nodeListSchema.optional(), {
    meaning:
      'Redis Cluster seed nodes `host:port,host:port` (any few of its nodes); set, the fleet uses the Cluster ' +
      'instead of `REDIS_URL`',
  }),
  DFLEET_REDIS_SENTINELS: documented(nodeListSchema.optional(), {
    meaning:
      'Sentinels `host:port,host:port`; set, the fleet asks them for the master named ' +
      '`DFLEET_REDIS_SENTINEL_NAME` and follows its failovers',
  }),
  DFLEET_REDIS_SENTINEL_NAME: documented(z.string().regex(NAME_PATTERN, NAME_RULE).optional(), {
    meaning:
      'the master name the Sentinels monitor (`sentinel monitor NAME ...`); needed with `DFLEET_REDIS_SENTINELS`',
  }),
};

/** The parsed variables of redisEnv, as an app's superRefine and transform see them. */
interface RedisEnvValues {
  readonly REDIS_URL: string;
  readonly DFLEET_REDIS_PREFIX: string;
  readonly DFLEET_REDIS_CLUSTER_NODES?: readonly RedisNodeAddress[] | undefined;
  readonly DFLEET_REDIS_SENTINELS?: readonly RedisNodeAddress[] | undefined;
  readonly DFLEET_REDIS_SENTINEL_NAME?: string | undefined;
}

/**
 * The rules across redisEnv's variables, for an app's `superRefine` (after each variable
 * parsed): one form of Redis at a time, a Sentinel list with its master name, and on a Cluster a
 * prefix with a hash tag. Without the tag BullMQ's Lua scripts, which touch several keys of a
 * queue in one call, and the gateway's one XREAD over both classes' event streams fail with
 * CROSSSLOT the first time they run, so the process refuses to start instead.
 */
export function checkRedisTopology(e: RedisEnvValues, ctx: z.RefinementCtx): void {
  const issue = (message: string) => ctx.addIssue({ code: 'custom', message });
  if (e.DFLEET_REDIS_CLUSTER_NODES && e.DFLEET_REDIS_SENTINELS) {
    issue('DFLEET_REDIS_CLUSTER_NODES and DFLEET_REDIS_SENTINELS are both set: choose one (a Cluster or Sentinels)');
  }
  if (e.DFLEET_REDIS_SENTINELS && e.DFLEET_REDIS_SENTINEL_NAME === undefined) {
    issue('DFLEET_REDIS_SENTINELS is set without DFLEET_REDIS_SENTINEL_NAME, the master name the Sentinels monitor');
  }
  if (!e.DFLEET_REDIS_SENTINELS && e.DFLEET_REDIS_SENTINEL_NAME !== undefined) {
    issue('DFLEET_REDIS_SENTINEL_NAME is set without DFLEET_REDIS_SENTINELS, the host:port list of the Sentinels');
  }
  if (e.DFLEET_REDIS_CLUSTER_NODES) {
    const prefix = e.DFLEET_REDIS_PREFIX;
    if (redisHashTag(prefix) === undefined) {
      issue(
        `DFLEET_REDIS_PREFIX=${prefix} has no hash tag, which a Redis Cluster needs: BullMQ and the fleet touch ` +
          'several keys of a queue in one command, which must share a slot. Put the prefix in braces, ' +
          `e.g. DFLEET_REDIS_PREFIX={${prefix.replace(/[{}]/g, '')}}`,
      );
    }
    if (new URL(e.REDIS_URL).pathname.length > 1) {
      issue('REDIS_URL names a database, but a Redis Cluster has only database 0: drop the /N from REDIS_URL');
    }
  }
}

/** Which Redis the variables name (after checkRedisTopology passed). */
export function redisTargetOf(e: RedisEnvValues): RedisTarget {
  if (e.DFLEET_REDIS_CLUSTER_NODES) return { kind: 'cluster', nodes: e.DFLEET_REDIS_CLUSTER_NODES, url: e.REDIS_URL };
  if (e.DFLEET_REDIS_SENTINELS && e.DFLEET_REDIS_SENTINEL_NAME) {
    return {
      kind: 'sentinel',
      sentinels: e.DFLEET_REDIS_SENTINELS,
      masterName: e.DFLEET_REDIS_SENTINEL_NAME,
      url: e.REDIS_URL,
    };
  }
  return { kind: 'standalone', url: e.REDIS_URL };
}
