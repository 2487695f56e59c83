import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  freePort,
  startManagedProcess,
  startRedisServer,
  type ManagedProcess,
  type RunningRedisServer,
} from '@dfleet/local-processes';
import { eventually } from './eventually.ts';

/**
 * A master, its replica and one Sentinel (quorum 1) of the test's own, on spare ports of
 * 127.0.0.1 with their data in one temp dir. The Sentinel is `redis-server --sentinel` (Debian's
 * redis-server runs either; the redis-sentinel package is only that link). A master that stops
 * answering for `downAfterMs` is failed over to the replica.
 */
export class OwnRedisSentinel {
  private constructor(
    readonly masterName: string,
    readonly sentinelPort: number,
    readonly ports: { readonly master: number; readonly replica: number },
    readonly dir: string,
    readonly servers: RunningRedisServer[],
    readonly sentinel: ManagedProcess,
  ) {}

  static async create(options: { masterName?: string; downAfterMs?: number } = {}): Promise<OwnRedisSentinel> {
    const masterName = options.masterName ?? 'dfleet-test';
    const dir = await mkdtemp(join(tmpdir(), 'dfleet-redis-sentinel-'));
    const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
    const servers: RunningRedisServer[] = [];
    try {
      for (const port of [masterPort, replicaPort]) await mkdir(join(dir, String(port)));
      servers.push(
        await startRedisServer({ port: masterPort, dir: join(dir, String(masterPort)), extraArgs: FAST_SYNC }),
      );
      servers.push(
        await startRedisServer({
          port: replicaPort,
          dir: join(dir, String(replicaPort)),
          extraArgs: [...FAST_SYNC, '--replicaof', '127.0.0.1', String(masterPort)],
        }),
      );
      // Sentinel rewrites its config file as it learns the topology, so it gets one of its own.
      const config = join(dir, 'sentinel.conf');
      await writeFile(
        config,
        [
          `port ${sentinelPort}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 1`,
          `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1_000}`,
          `sentinel failover-timeout ${masterName} 10000`,
          '',
        ].join('\n'),
      );
      const sentinel = await startManagedProcess({
        name: 'redis-sentinel',
        command: 'redis-server',
        args: [config, '--sentinel'],
        env: process.env,
        readyPattern: /\+monitor master/,
        readyTimeoutMs: 10_000,
        log: () => undefined,
      });
      const own = new OwnRedisSentinel(
        masterName,
        sentinelPort,
        { master: masterPort, replica: replicaPort },
        dir,
        servers,
        sentinel,
      );
      await eventually('the replica in sync and known to the Sentinel', () => own.#replicaInSync(), 30_000);
      return own;
    } catch (error) {
      await Promise.all(servers.map((server) => server.kill()));
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The Sentinels as DFLEET_REDIS_SENTINELS takes them. */
  get sentinelList(): string {
    return `127.0.0.1:${this.sentinelPort}`;
  }

  /** The port of the master the Sentinel names now. */
  async masterPort(): Promise<number> {
    const [, port] = (await this.#askSentinel(['get-master-addr-by-name', this.masterName])) as [string, string];
    return Number(port);
  }

  /** SIGKILL to the first master (the replica is then promoted). */
  async killMaster(): Promise<void> {
    await this.servers[0]!.kill();
  }

  /**
   * Resolves once the Sentinel has finished failing over to the replica (+switch-master). Its
   * get-master-addr-by-name already names the replica while the failover is in progress; a master
   * restarted then is still the master in the Sentinel's table, and a failover that times out (a
   * Sentinel in TILT on a loaded host) makes it the master again, with the replica demoted under it.
   */
  async failedOverToReplica(): Promise<void> {
    await eventuallySeeing(
      'the Sentinel done failing over to the replica',
      async () => {
        const master = (await this.#askSentinel(['master', this.masterName])) as string[];
        const [port, flags] = [fieldOf(master, 'port'), fieldOf(master, 'flags') ?? ''];
        return {
          done: port === String(this.ports.replica) && !flags.includes('failover'),
          seen: `master port ${port}, flags ${flags}`,
        };
      },
      150_000,
    );
  }

  /**
   * Starts the killed first master again on its port and data, as a supervisor would; the
   * Sentinel turns it into a replica of the promoted one. Resolves once it is in sync. Call it
   * after failedOverToReplica.
   */
  async restartOldMaster(): Promise<void> {
    const { master, replica } = this.ports;
    this.servers[0] = await startRedisServer({
      port: master,
      dir: join(this.dir, String(master)),
      extraArgs: FAST_SYNC,
    });
    await eventuallySeeing(
      'the old master back as a replica, in sync',
      async () => {
        const replicas = (await this.#askSentinel(['replicas', this.masterName])) as string[][];
        const known = replicas.some((fields) => fieldOf(fields, 'port') === String(master));
        const info = await withNode(master, (redis) => redis.info('replication'));
        const sentinel = (await this.#askSentinel(['master', this.masterName])) as string[];
        return {
          done: known && info.includes(`master_port:${replica}`) && info.includes('master_link_status:up'),
          seen: `sentinel lists it: ${known}; sentinel flags: ${fieldOf(sentinel, 'flags')}; its INFO: ${info.replace(/\r?\n/g, ' ')}`,
        };
      },
      // A Sentinel starved of CPU (a loaded test host) enters TILT mode and acts on nothing for 30 s,
      // so the conversion can take well over the few seconds it takes on a quiet host.
      150_000,
    );
  }

  async destroy(): Promise<void> {
    await this.sentinel.stop();
    await Promise.all(this.servers.map((server) => server.stop()));
    await rm(this.dir, { recursive: true, force: true });
  }

  async #replicaInSync(): Promise<boolean> {
    const replicas = (await this.#askSentinel(['replicas', this.masterName])) as string[][];
    const flags = replicas.map((fields) => fieldOf(fields, 'flags'));
    if (flags.length !== 1 || flags[0] !== 'slave') return false;
    const replication = await withNode(this.ports.replica, (redis) => redis.info('replication'));
    return replication.includes('master_link_status:up');
  }

  #askSentinel(args: string[]): Promise<unknown> {
    return withNode(this.sentinelPort, (redis) => redis.call('SENTINEL', ...args));
  }
}

/**
 * Redis 7 waits 5 s before a full sync to a new replica (repl-diskless-sync-delay), in case more
 * replicas come; until then a replica has nothing, and a failover would lose every write.
 */
const FAST_SYNC = ['--repl-diskless-sync-delay', '0'];

/** A field of a Sentinel reply, which lists names and values in turn. */
const fieldOf = (fields: readonly string[], name: string): string | undefined => fields[fields.indexOf(name) + 1];

/** `eventually`, with what the check saw last in the error when it gives up. */
async function eventuallySeeing(
  what: string,
  check: () => Promise<{ done: boolean; seen: string }>,
  timeoutMs: number,
): Promise<void> {
  let seen = 'nothing read yet';
  try {
    await eventually(
      what,
      async () => {
        const sighting = await check();
        seen = sighting.seen;
        return sighting.done;
      },
      timeoutMs,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${seen}`);
  }
}

/** A plain connection to one process on 127.0.0.1, for the test to ask that one. */
async function withNode<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}
