import { createServer } from 'node:net';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, startRedisServer, type RunningRedisServer } from '@dfleet/local-processes';
import { eventually } from './eventually.ts';

const run = promisify(execFile);

/** One node of the test's cluster; `server` is replaced when the node restarts. */
interface ClusterNode {
  readonly port: number;
  server: RunningRedisServer;
}

function startNode(port: number, dir: string, nodeTimeoutMs: number): Promise<RunningRedisServer> {
  return startRedisServer({
    port,
    dir,
    extraArgs: [
      // nodes.conf in the node's dir: a restarted node finds its identity and the cluster again.
      ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
      ...['--cluster-node-timeout', String(nodeTimeoutMs)],
      // Redis 7 waits 5 s before the first full sync to a replica; nothing to wait for here.
      ...['--repl-diskless-sync-delay', '0'],
    ],
  });
}

/**
 * A Redis Cluster of the test's own: `masters` masters with one replica each, redis-server
 * processes on spare ports of 127.0.0.1 (never 6379) with their data in one temp dir, created
 * with `redis-cli --cluster create`. `nodeTimeoutMs` is cluster-node-timeout, after which a
 * master that stopped answering is failed over to its replica. `destroy()` stops every node and
 * removes the dir.
 */
export class OwnRedisCluster {
  /** Nodes killed by the test, which it no longer asks. */
  readonly #dead = new Set<number>();

  private constructor(
    readonly nodes: readonly ClusterNode[],
    readonly dir: string,
    readonly nodeTimeoutMs: number,
  ) {}

  static async create(options: { masters?: number; nodeTimeoutMs?: number } = {}): Promise<OwnRedisCluster> {
    const masters = options.masters ?? 3;
    const nodeTimeoutMs = options.nodeTimeoutMs ?? 2_000;
    const dir = await mkdtemp(join(tmpdir(), 'dfleet-redis-cluster-'));
    const nodes: ClusterNode[] = [];
    try {
      for (let i = 0; i < masters * 2; i++) {
        const port = await freeClusterPort();
        const nodeDir = join(dir, String(port));
        await mkdir(nodeDir);
        nodes.push({ port, server: await startNode(port, nodeDir, nodeTimeoutMs) });
      }
      const cluster = new OwnRedisCluster(nodes, dir, nodeTimeoutMs);
      const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
      await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes']);
      await eventually('every node sees the cluster ok, with every replica in sync', () => cluster.#settled(), 30_000);
      return cluster;
    } catch (error) {
      await Promise.all(nodes.map((node) => node.server.kill()));
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The nodes as DFLEET_REDIS_CLUSTER_NODES takes them. */
  get seedList(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  /** The port of the master that serves `key`'s slot now, as the node on `askPort` sees it. */
  async masterPortOf(key: string, askPort = this.#anyLivePort()): Promise<number> {
    return this.#withNode(askPort, async (redis) => {
      const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
      const ranges = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
      const range = ranges.find(([first, last]) => slot >= first && slot <= last);
      if (!range) throw new Error(`no node serves slot ${slot} of '${key}'`);
      return Number(range[2][1]);
    });
  }

  /** SIGKILL to the node on `port`; resolves once it is gone. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((each) => each.port === port);
    if (!node) throw new Error(`no node of this cluster listens on port ${port}`);
    this.#dead.add(port);
    await node.server.kill();
  }

  /**
   * Starts a killed node again on its port and data, as a supervisor would; a master that was
   * failed over comes back as a replica of the node that took its slots. Resolves once every
   * node sees the cluster ok and every replica is in sync.
   */
  async restart(port: number): Promise<void> {
    const node = this.nodes.find((each) => each.port === port);
    if (!node) throw new Error(`no node of this cluster listens on port ${port}`);
    node.server = await startNode(port, join(this.dir, String(port)), this.nodeTimeoutMs);
    this.#dead.delete(port);
    await eventually('the restarted node back in the cluster, in sync', () => this.#settled(), 30_000);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.server.stop()));
    await rm(this.dir, { recursive: true, force: true });
  }

  #anyLivePort(): number {
    const live = this.nodes.find((node) => !this.#dead.has(node.port));
    if (!live) throw new Error('every node of the cluster is dead');
    return live.port;
  }

  async #settled(): Promise<boolean> {
    for (const { port } of this.nodes) {
      const ok = await this.#withNode(port, async (redis) => {
        const info = String(await redis.call('CLUSTER', 'INFO'));
        const replication = String(await redis.call('INFO', 'replication'));
        const isReplica = replication.includes('role:slave');
        return info.includes('cluster_state:ok') && (!isReplica || replication.includes('master_link_status:up'));
      });
      if (!ok) return false;
    }
    return true;
  }

  async #withNode<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
    // A plain connection to one node: the test asks that node, not whichever the slot map picks.
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await redis.connect();
      return await use(redis);
    } finally {
      redis.disconnect();
    }
  }
}

/** Redis Cluster listens on its port and on port + 10000 (the cluster bus). */
const CLUSTER_BUS_OFFSET = 10_000;

/** A free port whose cluster-bus port is free too: the OS picks the first, so the second may be taken. */
async function freeClusterPort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = await freePort();
    const bus = port + CLUSTER_BUS_OFFSET;
    if (bus <= 65_535 && (await isFree(bus))) return port;
  }
  throw new Error('no free port with a free cluster-bus port (port + 10000) after 50 tries');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
