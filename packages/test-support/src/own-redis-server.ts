import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRedisServer, type RunningRedisServer } from '@dfleet/local-processes';

/**
 * A redis-server of the test's own on a spare port, so the test may stop and restart it; its
 * AOF lives in a temp dir that survives restarts and is removed by `destroy()`.
 */
export class OwnRedisServer {
  #server: RunningRedisServer | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async create(): Promise<OwnRedisServer> {
    return new OwnRedisServer(await freePort(), await mkdtemp(join(tmpdir(), 'dfleet-redis-')));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (again), with the fleet's settings and then `extraArgs`, which win. */
  async start(extraArgs: string[] = []): Promise<void> {
    this.#server = await startRedisServer({ port: this.port, dir: this.dir, extraArgs });
  }

  /** SIGTERM: Redis flushes its AOF and exits, as in a restart. */
  async stop(): Promise<void> {
    await this.#server?.stop();
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
