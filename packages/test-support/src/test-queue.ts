import { QueueEvents } from 'bullmq';
import { GENERATION_QUEUES, GenerationQueues, redisOptionsFor, type PriorityClass } from '@dfleet/queue';
import { SHARED_REDIS_URL, deletePrefix, uniquePrefix } from './redis-prefix.ts';

export interface TestQueueOptions {
  /** @defaultValue SHARED_REDIS_URL */
  redisUrl?: string;
}

/**
 * The generation queues (one per priority class) under a key prefix of the test's own, as a test
 * sees them: the queues, their events, and `close()`, which closes them and deletes every key
 * under the prefix.
 */
export class TestQueue {
  readonly prefix = uniquePrefix();
  readonly redisUrl: string;
  #queues: GenerationQueues | undefined;
  readonly #events = new Map<PriorityClass, QueueEvents>();

  constructor(options: TestQueueOptions = {}) {
    this.redisUrl = options.redisUrl ?? SHARED_REDIS_URL;
  }

  /** Both classes' queues; their client waits out a Redis outage, as a worker does. */
  get queue(): GenerationQueues {
    this.#queues ??= new GenerationQueues(this.#clientOptions());
    return this.#queues;
  }

  /** The events of one class's queue, listening once this resolves. */
  async queueEvents(priority: PriorityClass = 'interactive'): Promise<QueueEvents> {
    let events = this.#events.get(priority);
    if (!events) {
      events = new QueueEvents(GENERATION_QUEUES[priority], this.#clientOptions());
      this.#events.set(priority, events);
    }
    await events.waitUntilReady();
    return events;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#events.values()].map((events) => events.close()));
    await this.#queues?.close();
    await deletePrefix(this.prefix, this.redisUrl);
  }

  #clientOptions() {
    return { connection: redisOptionsFor(this.redisUrl, 'worker'), prefix: this.prefix };
  }
}
