/** One Redis node or Sentinel as `host:port`. */
export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Which Redis the fleet shares, as REDIS_URL, DFLEET_REDIS_CLUSTER_NODES or DFLEET_REDIS_SENTINELS
 * name it. In the cluster and sentinel forms `url` still carries the username, password and TLS
 * (`rediss://`) every node is reached with; its host and port are not used.
 */
export type RedisTarget =
  | { readonly kind: 'standalone'; readonly url: string }
  | { readonly kind: 'cluster'; readonly nodes: readonly RedisNodeAddress[]; readonly url: string }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: readonly RedisNodeAddress[];
      readonly masterName: string;
      readonly url: string;
    };

/**
 * The Redis Cluster hash tag of a key or prefix, as Redis finds it: the text between the first
 * `{` and the first `}` after it, when not empty. Keys that share one hash only by their tag.
 */
export function redisHashTag(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open === -1) return undefined;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return undefined;
  return key.slice(open + 1, close);
}

/** The target as log lines and error messages name it (never its password). */
export function describeRedisTarget(target: RedisTarget): string {
  const list = (nodes: readonly RedisNodeAddress[]) => nodes.map((node) => `${node.host}:${node.port}`).join(',');
  switch (target.kind) {
    case 'standalone': {
      const parsed = new URL(target.url);
      return `${parsed.hostname}:${parsed.port || '6379'}`;
    }
    case 'cluster':
      return `Redis Cluster ${list(target.nodes)}`;
    case 'sentinel':
      return `Sentinel master '${target.masterName}' via ${list(target.sentinels)}`;
  }
}
