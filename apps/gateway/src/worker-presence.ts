import type { WorkerHeartbeat } from '@dfleet/queue';

export interface WorkerPresenceOptions {
  /** Reads every live heartbeat (a SCAN and an MGET); throws QueueUnavailableError when Redis is down. */
  listLiveWorkers(): Promise<WorkerHeartbeat[]>;
  /**
   * How long one reading answers for: a burst of requests costs one SCAN, and a worker that just
   * started or died is seen within this long (on top of the heartbeat's own TTL).
   * @defaultValue 1000
   */
  maxAgeMs?: number;
}

/** Which models have a live worker, from a reading of the heartbeats at most `maxAgeMs` old. */
export class WorkerPresence {
  readonly #list: () => Promise<WorkerHeartbeat[]>;
  readonly #maxAgeMs: number;
  #reading: { models: Promise<Set<string>>; at: number } | null = null;

  constructor(options: WorkerPresenceOptions) {
    this.#list = options.listLiveWorkers;
    this.#maxAgeMs = options.maxAgeMs ?? 1_000;
  }

  async hasLiveWorker(model: string): Promise<boolean> {
    const now = Date.now();
    if (this.#reading === null || now - this.#reading.at >= this.#maxAgeMs) {
      const models = this.#list().then((beats) => new Set(beats.map((beat) => beat.model)));
      const reading = { models, at: now };
      this.#reading = reading;
      // A failed reading is not kept: the next request asks Redis again.
      models.catch(() => {
        if (this.#reading === reading) this.#reading = null;
      });
    }
    return (await this.#reading.models).has(model);
  }
}
