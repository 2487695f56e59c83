import {
  fleetEnv,
  startGatewayProcess,
  startWorkerProcess,
  type GatewayProcess,
  type WorkerProcess,
} from './fleet-processes.ts';
import { TestQueue, type TestQueueOptions } from './test-queue.ts';

export interface TestFleetOptions extends TestQueueOptions {
  /** Environment every process of the fleet gets, on top of `fleetEnv`'s. */
  env?: Record<string, string>;
}

/**
 * Gateway and worker processes on a key prefix of their own, with the test's view of their queue.
 * `close()` stops every process it started, then closes the queue clients and deletes the keys.
 */
export class TestFleet extends TestQueue {
  readonly env: NodeJS.ProcessEnv;
  readonly #gateways: GatewayProcess[] = [];
  readonly #workers: WorkerProcess[] = [];

  constructor(options: TestFleetOptions = {}) {
    super(options);
    this.env = fleetEnv(this.redisUrl, this.prefix, options.env);
  }

  async startGateway(name = 'gateway', env: Record<string, string> = {}): Promise<GatewayProcess> {
    const gateway = await startGatewayProcess({ ...this.env, ...env }, name);
    this.#gateways.push(gateway);
    return gateway;
  }

  async startWorker(id: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
    const worker = await startWorkerProcess({ ...this.env, ...env }, id);
    this.#workers.push(worker);
    return worker;
  }

  /** SIGTERM to every worker started so far; resolves once they are gone. */
  async stopWorkers(): Promise<void> {
    await Promise.all(this.#workers.splice(0).map((worker) => worker.process.stop()));
  }

  override async close(): Promise<void> {
    const started = [...this.#gateways.splice(0), ...this.#workers.splice(0)];
    await Promise.all(started.map(({ process }) => process.stop()));
    await super.close();
  }
}
