import { Queue, Worker, type FlowJob, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { createRedisConnection, type RedisConnection, type RedisTarget } from '@dfleet/queue';
import { DeliveryNotFoundError, DeliveryNotFailedError } from '../errors.ts';
import { attemptDelivery, type EventBuilder } from './delivery-attempt.ts';
import { viewOf, type DeliveryView } from './delivery-view.ts';
import type { WebhookSettings } from './webhook-settings.ts';
import { failedDeliveriesKey, WEBHOOKS_QUEUE, type WebhookDelivery } from './webhook-delivery.ts';

export interface WebhookDeliveriesOptions {
  redis: RedisTarget;
  prefix: string;
  settings: WebhookSettings;
  logger: Logger;
}

/** Deliveries one gateway works at once; each waits on the network, bounded by the attempt timeout. */
const DELIVERY_CONCURRENCY = 32;
/** Delivered events are kept a day (a resubmission within it is the same delivery), failed ones a week. */
const DELIVERED_RETENTION_S = 86_400;
const FAILED_RETENTION_S = 7 * 86_400;
const ERROR_LOG_INTERVAL_MS = 5_000;
/** How long close() lets attempts in flight finish. */
const CLOSE_GRACE_MS = 2_000;

/**
 * The `webhooks` BullMQ queue: every delivery is a job whose id is its event id, retried with
 * exponential backoff, and worked by every gateway with a webhook secret. A completion's delivery is
 * its generation job's parent (JobSubmitter.enqueue), so it runs when the job ends, on whichever
 * gateway is alive then; a batch's is added ready to send.
 */
export class WebhookDeliveries {
  readonly #options: WebhookDeliveriesOptions;
  readonly #redis: RedisConnection;
  readonly #queue: Queue<WebhookDelivery>;
  #worker: Worker<WebhookDelivery> | null = null;
  #workerRedis: RedisConnection | null = null;

  constructor(options: WebhookDeliveriesOptions) {
    this.#options = options;
    this.#redis = createRedisConnection(options.redis, 'producer');
    this.#redis.on('error', () => undefined);
    this.#queue = new Queue<WebhookDelivery>(WEBHOOKS_QUEUE, { connection: this.#redis, prefix: options.prefix });
    this.#queue.on('error', () => undefined);
  }

  /** The BullMQ queue of deliveries (the queue dashboard shows it). */
  get queue(): Queue<WebhookDelivery> {
    return this.#queue;
  }

  /** The delivery as the parent of the job it reports on (see JobSubmitter.enqueue). */
  parentFor(delivery: WebhookDelivery): Omit<FlowJob, 'children'> {
    return { name: WEBHOOKS_QUEUE, queueName: WEBHOOKS_QUEUE, data: delivery, opts: this.#jobOptions(delivery) };
  }

  /** Adds a delivery that needs no job to finish first (its source already ended); a known event id is left alone. */
  async add(delivery: WebhookDelivery): Promise<void> {
    await this.#queue.add(WEBHOOKS_QUEUE, delivery, this.#jobOptions(delivery));
  }

  async exists(eventId: string): Promise<boolean> {
    return (await this.#queue.getJob(eventId)) !== undefined;
  }

  /** A delivery of `tenant`; another tenant's is not found. */
  async get(eventId: string, tenant: string): Promise<DeliveryView> {
    const job = await this.#jobOf(eventId, tenant);
    return viewOf(job, await job.getState());
  }

  /** The tenant's undeliverable events, the most recent failure first. */
  async listFailed(tenant: string, limit: number): Promise<DeliveryView[]> {
    const key = failedDeliveriesKey(this.#options.prefix, tenant);
    const views: DeliveryView[] = [];
    let start = 0;
    while (views.length < limit) {
      const ids = await this.#redis.zrevrange(key, start, start + limit - 1);
      if (ids.length === 0) break;
      let kept = 0;
      for (const id of ids) {
        const job = await this.#queue.getJob(id);
        const state = job ? await job.getState() : 'unknown';
        // Entries are written before BullMQ marks the job failed (still active then), and outlive
        // retries and removal: skip those, and drop the stale ones.
        if (!job || state !== 'failed' || job.data.tenant !== tenant) {
          if (state === 'active') kept += 1;
          else await this.#redis.zrem(key, id);
          continue;
        }
        kept += 1;
        if (views.length < limit) views.push(viewOf(job, state));
      }
      // Removed entries shift the ranks after them: the next page starts after the ones kept.
      start += kept;
    }
    return views;
  }

  /** Sends an undeliverable event again, with all its attempts. @throws DeliveryNotFailedError unless it failed. */
  async retry(eventId: string, tenant: string): Promise<DeliveryView> {
    const job = await this.#jobOf(eventId, tenant);
    const state = await job.getState();
    if (state !== 'failed') throw new DeliveryNotFailedError(eventId, state === 'completed' ? 'delivered' : 'pending');
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    await this.#redis.zrem(failedDeliveriesKey(this.#options.prefix, tenant), eventId);
    return viewOf(job, 'waiting');
  }

  /** Starts working the queue; `buildEvent` makes the events of deliveries added without one (completions). */
  start(buildEvent: EventBuilder): void {
    this.#workerRedis = createRedisConnection(this.#options.redis, 'worker');
    this.#workerRedis.on('error', () => undefined);
    const deps = {
      settings: this.#options.settings,
      buildEvent,
      logger: this.#options.logger,
      recordUndeliverable: (delivery: WebhookDelivery) => this.#recordUndeliverable(delivery),
    };
    this.#worker = new Worker<WebhookDelivery>(WEBHOOKS_QUEUE, (job) => attemptDelivery(job, deps), {
      connection: this.#workerRedis,
      prefix: this.#options.prefix,
      concurrency: DELIVERY_CONCURRENCY,
    });
    // BullMQ reports every failed reconnect during an outage: one line per few seconds is enough.
    let lastLoggedAt = 0;
    this.#worker.on('error', (error) => {
      if (Date.now() - lastLoggedAt < ERROR_LOG_INTERVAL_MS) return;
      lastLoggedAt = Date.now();
      this.#options.logger.warn({ err: error.message }, 'webhook worker error');
    });
  }

  /** Stops working (attempts in flight get a short grace; an unfinished one is retried by another gateway). */
  async close(): Promise<void> {
    const worker = this.#worker;
    if (worker) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
      await Promise.race([worker.close().catch(() => undefined), graceOver]);
      clearTimeout(timer);
      await worker.close(true).catch(() => undefined);
      this.#workerRedis?.disconnect();
    }
    await Promise.race([this.#queue.close().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000))]);
    this.#redis.disconnect();
  }

  #jobOptions(delivery: WebhookDelivery) {
    const { attempts, backoffMs } = this.#options.settings;
    return {
      jobId: delivery.eventId,
      attempts,
      backoff: { type: 'exponential', delay: backoffMs, jitter: 0.2 },
      removeOnComplete: { age: DELIVERED_RETENTION_S },
      removeOnFail: { age: FAILED_RETENTION_S },
    };
  }

  async #jobOf(eventId: string, tenant: string): Promise<Job<WebhookDelivery>> {
    const job = await this.#queue.getJob(eventId);
    if (!job || job.data.tenant !== tenant) throw new DeliveryNotFoundError(eventId);
    return job;
  }

  async #recordUndeliverable(delivery: WebhookDelivery): Promise<void> {
    const key = failedDeliveriesKey(this.#options.prefix, delivery.tenant);
    await this.#redis.zadd(key, Date.now(), delivery.eventId);
    await this.#redis.zremrangebyscore(key, '-inf', Date.now() - FAILED_RETENTION_S * 1_000);
  }
}
