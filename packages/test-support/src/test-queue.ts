import { Queue, QueueEvents } from 'bullmq';
import { GENERATION_QUEUE, redisOptionsFor } from '@dfleet/queue';
import { SHARED_REDIS_URL, deletePrefix, uniquePrefix } from './redis-prefix.ts';

export interface TestQueueOptions {
  /** @defaultValue SHARED_REDIS_URL */
  redisUrl?: string;
}

/**
 * The generation queue under a key prefix of the test's own, as a test sees it: the queue, its
 * events, and `close()`, which closes both and deletes every key under the prefix.
 */
export class TestQueue {
  readonly prefix = uniquePrefix();
  readonly redisUrl: string;
  #queue: Queue | undefined;
  #events: QueueEvents | undefined;

  constructor(options: TestQueueOptions = {}) {
    this.redisUrl = options.redisUrl ?? SHARED_REDIS_URL;
  }

  /** The generation queue; its client waits out a Redis outage, as a worker does. */
  get queue(): Queue {
    this.#queue ??= new Queue(GENERATION_QUEUE, this.#clientOptions());
    return this.#queue;
  }

  /** The generation queue's events, listening once this resolves. */
  async queueEvents(): Promise<QueueEvents> {
    this.#events ??= new QueueEvents(GENERATION_QUEUE, this.#clientOptions());
    await this.#events.waitUntilReady();
    return this.#events;
  }

  async close(): Promise<void> {
    await this.#events?.close();
    await this.#queue?.close();
    await deletePrefix(this.prefix, this.redisUrl);
  }

  #clientOptions() {
    return { connection: redisOptionsFor(this.redisUrl, 'worker'), prefix: this.prefix };
  }
}
