import { Queue, UnrecoverableError, Worker, type FlowJob, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { createRedisConnection, type RedisConnection, type RedisTarget } from '@dfleet/queue';
import { DeliveryNotFoundError, DeliveryNotFailedError } from '../errors.ts';
import { postWebhook } from './webhook-sender.ts';
import { signWebhook } from './webhook-signature.ts';
import type { WebhookSettings } from './webhook-settings.ts';
import {
  failedDeliveriesKey,
  webhookDeliverySchema,
  WEBHOOKS_QUEUE,
  type DeliveryAttempt,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookEventType,
} from './webhook-delivery.ts';

/** An event's type and data once its source has finished; null while it has not. */
export type EventBuilder = (delivery: WebhookDelivery) => Promise<Pick<WebhookEvent, 'type' | 'data'> | null>;

/** A delivery as the API shows it (GET /v1/webhooks/deliveries…). */
export interface DeliveryView {
  id: string;
  object: 'dfleet.webhook_delivery';
  url: string;
  /** null until the event is built (its source still runs). */
  type: WebhookEventType | null;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  created_at: number;
  last_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  job_id: string | null;
  batch_id: string | null;
}

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
  #buildEvent: EventBuilder | null = null;
  #workerRedis: RedisConnection | null = null;

  constructor(options: WebhookDeliveriesOptions) {
    this.#options = options;
    this.#redis = createRedisConnection(options.redis, 'producer');
    this.#redis.on('error', () => undefined);
    this.#queue = new Queue<WebhookDelivery>(WEBHOOKS_QUEUE, { connection: this.#redis, prefix: options.prefix });
    this.#queue.on('error', () => undefined);
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
    this.#buildEvent = buildEvent;
    this.#workerRedis = createRedisConnection(this.#options.redis, 'worker');
    this.#workerRedis.on('error', () => undefined);
    this.#worker = new Worker<WebhookDelivery>(WEBHOOKS_QUEUE, (job) => this.#deliver(job), {
      connection: this.#workerRedis,
      prefix: this.#options.prefix,
      concurrency: DELIVERY_CONCURRENCY,
    });
    this.#worker.on('error', (error) => this.#options.logger.warn({ err: error.message }, 'webhook worker error'));
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

  async #deliver(job: Job<WebhookDelivery>): Promise<{ status: number }> {
    const { settings, logger } = this.#options;
    let delivery = webhookDeliverySchema.parse(job.data);
    if (delivery.event === undefined) {
      const built = await (this.#buildEvent as EventBuilder)(delivery);
      if (built === null) throw new Error(`the source of ${delivery.eventId} has not finished yet`);
      const event: WebhookEvent = {
        id: delivery.eventId,
        object: 'event',
        created_at: Math.floor(Date.now() / 1_000),
        ...built,
      };
      // Frozen before the first POST: every retry, from any gateway, sends the same bytes.
      delivery = { ...delivery, event: JSON.stringify(event) };
      await job.updateData(delivery);
    }
    const body = delivery.event as string;
    const headers = signWebhook(settings.key, {
      id: delivery.eventId,
      timestampSeconds: Math.floor(Date.now() / 1_000),
      body,
    });
    const outcome = await postWebhook(delivery.url, body, { ...headers }, settings);
    const delivered = outcome.kind === 'answered' && outcome.status >= 200 && outcome.status < 300;
    const lastAttempt: DeliveryAttempt = {
      at: Date.now(),
      status: outcome.kind === 'answered' ? outcome.status : null,
      error:
        outcome.kind === 'no_answer'
          ? outcome.error
          : delivered
            ? null
            : `the receiver answered HTTP ${outcome.status}, not 2xx`,
    };
    await job.updateData({ ...delivery, lastAttempt, attempts: (delivery.attempts ?? 0) + 1 });
    if (delivered) {
      logger.debug({ eventId: delivery.eventId, attempt: job.attemptsMade + 1 }, 'webhook delivered');
      return { status: (outcome as { status: number }).status };
    }

    // 410 Gone: the receiver says the endpoint is no more (Standard Webhooks), so retrying is pointless.
    const gone = outcome.kind === 'answered' && outcome.status === 410;
    const last = gone || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const message = `${delivery.url}: ${lastAttempt.error}`;
    if (last) {
      const key = failedDeliveriesKey(this.#options.prefix, delivery.tenant);
      await this.#redis.zadd(key, Date.now(), delivery.eventId);
      await this.#redis.zremrangebyscore(key, '-inf', Date.now() - FAILED_RETENTION_S * 1_000);
      logger.warn({ eventId: delivery.eventId, tenant: delivery.tenant, error: message }, 'webhook undeliverable');
      throw new UnrecoverableError(message);
    }
    logger.info({ eventId: delivery.eventId, attempt: job.attemptsMade + 1, error: message }, 'webhook attempt failed');
    throw new Error(message);
  }
}

function viewOf(job: Job<WebhookDelivery>, state: string): DeliveryView {
  const delivery = webhookDeliverySchema.parse(job.data);
  const type = delivery.event === undefined ? null : (JSON.parse(delivery.event) as WebhookEvent).type;
  const last = delivery.lastAttempt;
  return {
    id: delivery.eventId,
    object: 'dfleet.webhook_delivery',
    url: delivery.url,
    type,
    status: state === 'completed' ? 'delivered' : state === 'failed' ? 'failed' : 'pending',
    attempts: delivery.attempts ?? 0,
    created_at: Math.floor(job.timestamp / 1_000),
    last_attempt_at: last ? Math.floor(last.at / 1_000) : null,
    last_status: last?.status ?? null,
    last_error: last?.error ?? null,
    job_id: delivery.source.kind === 'completion' ? delivery.source.jobId : null,
    batch_id: delivery.source.kind === 'batch' ? delivery.source.batchId : null,
  };
}
