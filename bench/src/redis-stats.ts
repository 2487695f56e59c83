import type { Redis } from 'ioredis';

/** What Redis has done so far: calls per command (INFO commandstats) and its CPU (INFO cpu). */
export interface RedisCounters {
  readonly calls: ReadonlyMap<string, number>;
  /** used_cpu_user + used_cpu_sys, in ms: the whole server process. */
  readonly cpuMs: number;
}

export async function readRedisCounters(redis: Redis): Promise<RedisCounters> {
  const [commandstats, cpu] = await Promise.all([redis.info('commandstats'), redis.info('cpu')]);
  const calls = new Map<string, number>();
  // cmdstat_evalsha:calls=12,usec=345,...
  for (const match of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  const seconds = (field: string) => Number(cpu.match(new RegExp(`^${field}:([\\d.]+)`, 'm'))?.[1] ?? Number.NaN);
  return { calls, cpuMs: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000 };
}

/** The benchmark's own reads of these counters, left out of the deltas. */
const OWN_COMMANDS = new Set(['info']);

/** Counters from `before` to `after` (without the benchmark's INFO calls), commands sorted by calls, most first. */
export function redisDelta(before: RedisCounters, after: RedisCounters) {
  const byCommand = [...after.calls]
    .filter(([command]) => !OWN_COMMANDS.has(command))
    .map(([command, calls]) => [command, calls - (before.calls.get(command) ?? 0)] as const)
    .filter(([, calls]) => calls > 0)
    .sort((a, b) => b[1] - a[1]);
  const calls = byCommand.reduce((sum, [, n]) => sum + n, 0);
  return { calls, cpuMs: after.cpuMs - before.cpuMs, byCommand };
}
