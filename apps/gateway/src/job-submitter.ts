import type { Logger } from 'pino';
import {
  EVICTION_POLICY_SAFE,
  GenerationQueues,
  checkEvictionPolicy,
  createRedisConnection,
  describeRedisTarget,
  generationJobSchema,
  generationResultSchema,
  listLiveWorkers,
  removeWaitingJob,
  tenantWaitingKey,
  waitForReplicas,
  type GenerationJob,
  type GenerationResult,
  type RedisConnection,
  type RedisTarget,
  type WorkerHeartbeat,
} from '@dfleet/queue';
import { CANCEL_REQUEST_TTL_MS, GENERATION_QUEUES, cancelRequestKey } from '@dfleet/queue';
import type { PriorityClass } from '@dfleet/queue';
import { FlowProducer, type FlowJob, type JobType, type Queue } from 'bullmq';
import { QueueFullError, QueueUnavailableError } from './errors.ts';
import { QueueOutcomeReader, type QueueOutcomeListener } from './queue-outcome-reader.ts';
import { isIdempotentRequestId } from './request-identity.ts';
import { auditTenantWaiting } from './tenant-waiting-audit.ts';
import { admitForTenant, WaitingJobCounter, type WaitingJobLimits } from './waiting-job-limits.ts';

/** Job states as the public API names them (see `Job.state` in generation.proto). */
export type PublicJobState = 'waiting' | 'active' | 'completed' | 'failed' | 'cancelled' | 'delayed' | 'unknown';

/** A job as read back from Redis. */
export interface StoredJob {
  id: string;
  state: PublicJobState;
  /** null when the stored data does not parse (written by something other than a gateway). */
  data: GenerationJob | null;
  result: GenerationResult | null;
  failedReason: string | null;
  finishedOn: number | null;
}

export interface JobSubmitterOptions {
  /** The Redis (one server, a Cluster, or a Sentinel-managed master) the fleet shares. */
  redis: RedisTarget;
  prefix: string;
  /** Budget of one Redis call before it counts as unavailable. */
  redisTimeoutMs: number;
  /**
   * Replicas that must acknowledge a job's add before `enqueue` resolves (Redis WAIT, within
   * `redisTimeoutMs`); fewer is a QueueUnavailableError (503), as the job may not survive a failover.
   * @defaultValue 0 (the master alone: no WAIT)
   */
  replicaAcks?: number;
  logger: Logger;
}

const RETRY_POLICY = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 86_400 },
} as const;

/**
 * The gateway's side of BullMQ. Every call on the request path either finishes within
 * `redisTimeoutMs` or throws QueueUnavailableError (503), so an outage never hangs a client.
 */
export class JobSubmitter {
  readonly #redis: RedisConnection;
  readonly #queues: GenerationQueues<GenerationJob, GenerationResult>;
  readonly #flows: FlowProducer;
  readonly #outcomes: QueueOutcomeReader;
  readonly #options: JobSubmitterOptions;
  readonly #redisName: string;
  readonly #waitingJobs: WaitingJobCounter;
  #lastErrorLogAt = 0;

  constructor(options: JobSubmitterOptions, outcomes: QueueOutcomeListener) {
    this.#options = options;
    this.#redisName = describeRedisTarget(options.redis);
    this.#redis = createRedisConnection(options.redis, 'producer');
    this.#redis.on('error', (error) => this.#logRedisError('producer', error));
    // Checked on the first connection (Redis may be down when the gateway starts).
    this.#redis.once('ready', () => {
      void checkEvictionPolicy(this.#redis, this.#redisName).then((check) => {
        const fields = { redis: this.#redisName, check: check.kind };
        if (check.kind === 'safe') options.logger.info(fields, EVICTION_POLICY_SAFE);
        else options.logger.warn(fields, check.warning);
      });
    });
    this.#queues = new GenerationQueues({ connection: this.#redis, prefix: options.prefix });
    this.#flows = new FlowProducer({ connection: this.#redis, prefix: options.prefix });
    this.#flows.on('error', (error) => this.#logRedisError('flow', error));
    for (const queue of this.#queues.all()) queue.on('error', (error) => this.#logRedisError('queue', error));
    // The safety net for results whose callback never reaches this gateway (another gateway
    // enqueued the job first, or the callback gave up). Blocking reads need their own connection.
    const eventsRedis = createRedisConnection(options.redis, 'worker');
    eventsRedis.on('error', (error) => this.#logRedisError('queue-events', error));
    this.#outcomes = new QueueOutcomeReader({
      redis: eventsRedis,
      eventsKeys: this.#queues.all().map((queue) => queue.keys['events']!),
      outcomes,
      logger: options.logger,
      onError: (error) => this.#logRedisError('queue-events', error),
    });
    this.#waitingJobs = new WaitingJobCounter(() =>
      this.#call('count waiting jobs', async () => {
        // One LLEN per class: the wait lists are exact (no BullMQ priorities, so no prioritized set).
        const counts = await this.#queues.getJobCounts('wait');
        return counts['wait'] ?? 0;
      }),
    );
  }

  /**
   * Adds the job to its class's queue; a job with the same id already in Redis is left as it is
   * (BullMQ dedupes by id within a queue). An id from an idempotency key may name a job of the
   * other class: that job is the one the read-back meets (and answers 422 for, its priority
   * differing), never a second job under the same id. Two first submissions of one key under two
   * classes at the same moment can still both add; the read-back then answers both from the
   * interactive one.
   *
   * With `parent` (a webhook delivery) the job is added as its child, in one transaction: the parent
   * runs once the job has finished, for good or not, whichever gateway enqueued it and whether that
   * gateway still runs.
   */
  async enqueue(job: GenerationJob, parent?: Omit<FlowJob, 'children'>): Promise<void> {
    try {
      await this.#call('enqueue the job', async () => {
        const other = job.priority === 'interactive' ? 'batch' : 'interactive';
        if (isIdempotentRequestId(job.requestId) && (await this.#queues.of(other).getJob(job.requestId))) return;
        const opts = { jobId: job.requestId, ...RETRY_POLICY };
        if (parent === undefined) {
          await this.#queues.add(job.priority, job, opts);
          return;
        }
        const name = GENERATION_QUEUES[job.priority];
        // A failed job must still wake its parent, which then reports the failure.
        const child = { name, queueName: name, data: job, opts: { ...opts, ignoreDependencyOnFailure: true } };
        await this.#flows.add({ ...parent, children: [child] });
      });
      await this.#awaitReplicas(job);
    } catch (error) {
      // Admitted but maybe not added: do not let it count against its tenant (if it was added, it
      // counts no more, which only admits more).
      this.#forgetWaitingSoon(job);
      throw error;
    }
    // Now, not at admission: a count read sent right behind the add would delay the worker's wake-up.
    this.#waitingJobs.refreshIfStale();
  }

  /**
   * Refuses a job when too many are waiting (the classes' wait lists) or when its tenant has too
   * many waiting (its waiting set, O(log n)); otherwise records it for the tenant count. Call
   * before enqueue. A tenant refusal is based on an audited set (see auditTenantWaiting).
   * Far from the global cap its count comes without a round trip, from a reading at most a
   * second old plus this gateway's admissions since (see WaitingJobCounter); within 10% of the
   * cap it is read afresh. So the global cap is overshot only by requests in flight at once, or
   * when other gateways admit more than a tenth of it within a second.
   * @throws QueueFullError (429), QueueUnavailableError (503).
   */
  async admit(job: GenerationJob, limits: WaitingJobLimits): Promise<void> {
    const { maxWaitingJobs, maxWaitingJobsPerTenant } = limits;
    if (maxWaitingJobs !== null) {
      const verdict = await this.#waitingJobs.admit(maxWaitingJobs);
      if (!verdict.admitted) {
        throw new QueueFullError(
          `${verdict.waiting} jobs are waiting, the most this fleet queues (DFLEET_MAX_WAITING_JOBS=${maxWaitingJobs}); the request was not enqueued, retry later`,
        );
      }
    }
    if (maxWaitingJobsPerTenant !== null) {
      const { prefix } = this.#options;
      const tenantKey = tenantWaitingKey(prefix, job.tenant);
      const verdict = await this.#call("count the tenant's waiting jobs", async () => {
        const admit = () => admitForTenant(this.#redis, tenantKey, job.requestId, maxWaitingJobsPerTenant);
        const first = await admit();
        if (first.admitted) return first;
        const healed = await auditTenantWaiting(this.#redis, this.#queues, prefix, job.tenant);
        return healed === 0 ? first : admit();
      });
      if (!verdict.admitted) {
        throw new QueueFullError(
          `tenant '${job.tenant}' has ${verdict.waiting} jobs waiting, the most one tenant may queue (DFLEET_MAX_WAITING_JOBS_PER_TENANT=${verdict.limit}); the request was not enqueued, retry later`,
        );
      }
    }
  }

  /** The job as Redis has it, or null when Redis has no such job. */
  async find(jobId: string): Promise<StoredJob | null> {
    return this.#call('read the job', async () => {
      const job = await this.#queues.getJob(jobId);
      if (!job) return null;
      const state = await job.getState();
      const data = generationJobSchema.safeParse(job.data);
      const result = state === 'completed' ? generationResultSchema.safeParse(job.returnvalue) : null;
      return {
        id: jobId,
        state: toPublicState(state),
        data: data.success ? data.data : null,
        result: result?.success ? result.data : null,
        failedReason: state === 'failed' ? job.failedReason || 'failed without a reason' : null,
        finishedOn: job.finishedOn ?? null,
      };
    });
  }

  /**
   * Removes a job no worker holds (state becomes "cancelled"). An active job is locked by its
   * worker, so it gets a cancel mark instead: the worker stops at its next step and reports
   * finish reason "cancelled" (state stays "active" until then). Finished jobs are left alone so
   * their result can still be read.
   */
  async cancel(jobId: string, tenant: string): Promise<{ found: boolean; cancelled: boolean; state: PublicJobState }> {
    return this.#call('cancel the job', async () => {
      const found = await this.#queues.find(jobId);
      if (!found) return { found: false, cancelled: false, state: 'unknown' as const };
      const queue = this.#queues.of(found.priority);
      const state = await queue.getJobState(jobId);
      if (state === 'unknown') return { found: false, cancelled: false, state: 'unknown' as const };
      if (state === 'completed' || state === 'failed') return { found: true, cancelled: false, state };
      if (state !== 'active' && (await queue.remove(jobId)) === 1) {
        await removeWaitingJob(this.#redis, this.#options.prefix, tenant, jobId);
        return { found: true, cancelled: true, state: 'cancelled' as const };
      }
      // Active, or a worker took it between the two calls.
      await this.#redis.set(
        cancelRequestKey(this.#options.prefix, jobId),
        String(Date.now()),
        'PX',
        CANCEL_REQUEST_TTL_MS,
      );
      return { found: true, cancelled: true, state: 'active' as const };
    });
  }

  /**
   * A resubmission was recorded in its tenant's waiting set but met a job that already started:
   * take it out again (best effort; the audit heals a miss).
   */
  forgetStartedJob(job: GenerationJob): void {
    this.#forgetWaitingSoon(job);
  }

  /** BullMQ's job counts of each class's queue, in these states (for /metrics). */
  async countJobs(types: JobType[]): Promise<Record<PriorityClass, Record<string, number>>> {
    return this.#call('count jobs by state', async () => {
      const [interactive, batch] = await Promise.all([
        this.#queues.of('interactive').getJobCounts(...types),
        this.#queues.of('batch').getJobCounts(...types),
      ]);
      return { interactive, batch };
    });
  }

  async ping(): Promise<void> {
    await this.#call('answer PING', () => this.#redis.ping());
  }

  async liveWorkers(): Promise<WorkerHeartbeat[]> {
    return this.#call('list live workers', () => listLiveWorkers(this.#redis, this.#options.prefix));
  }

  /** The BullMQ queues this gateway owns (both classes), for the queue dashboard. */
  get queues(): Queue<GenerationJob, GenerationResult>[] {
    return this.#queues.all();
  }

  /** Runs another request-path Redis interaction (rate limits) under the same budget and 503s. */
  withRedis<T>(what: string, operation: (redis: RedisConnection) => Promise<T>): Promise<T> {
    return this.#call(what, () => operation(this.#redis));
  }

  /** Closes within about a second, also when Redis is unreachable (BullMQ's close would wait for it). */
  async close(): Promise<void> {
    const closed = Promise.allSettled([this.#outcomes.close(), this.#queues.close(), this.#flows.close()]);
    if (this.#redis.status !== 'ready') this.#redis.disconnect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
    clearTimeout(timer);
    this.#redis.disconnect();
  }

  /**
   * Runs one Redis interaction within the budget. A connection that is not ready fails at once
   * instead of queueing the command, which would otherwise run later, after the client got 503.
   */
  async #call<T>(what: string, operation: () => Promise<T>): Promise<T> {
    const { redisTimeoutMs } = this.#options;
    const status = this.#redis.status;
    if (status === 'reconnecting' || status === 'close' || status === 'end') {
      // The last connection attempt failed: answer now rather than after the whole budget.
      throw new QueueUnavailableError(
        `Redis at ${this.#redisName} is unreachable (connection ${status}), so the gateway could not ${what}; retry in a second`,
      );
    }
    let timer: NodeJS.Timeout | undefined;
    let onReady: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      const expire = () =>
        reject(
          new QueueUnavailableError(
            this.#redis.status === 'ready'
              ? `Redis at ${this.#redisName} did not answer within ${redisTimeoutMs} ms, so the gateway could not ${what}; retry in a second`
              : `Redis at ${this.#redisName} is unreachable (connection ${this.#redis.status} for ${redisTimeoutMs} ms), so the gateway could not ${what}; retry in a second`,
          ),
        );
      // Timers run before I/O in each loop turn: after an event-loop stall (a busy host), an
      // answer that arrived in time is still unread when the timer fires. Read it first.
      timer = setTimeout(() => setImmediate(expire), redisTimeoutMs);
    });
    // Commands are only sent on a ready connection: with the offline queue off, ioredis would
    // reject them anyway, and BullMQ's own wait-for-ready could send them after the client got 503.
    const ready =
      this.#redis.status === 'ready'
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            onReady = resolve;
            this.#redis.once('ready', onReady);
          });
    try {
      return await Promise.race([ready.then(operation), deadline]);
    } catch (error) {
      if (error instanceof QueueUnavailableError) throw error;
      if (isConnectionError(error)) {
        throw new QueueUnavailableError(
          `Redis at ${this.#redisName} failed while the gateway tried to ${what}: ${(error as Error).message}; retry in a second`,
          null,
          { cause: error },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      if (onReady) this.#redis.off('ready', onReady);
    }
  }

  /**
   * With `replicaAcks`, the add counts only once that many replicas have it: a master that dies
   * before then may take the job with it, so the client is told to retry (503) rather than that
   * the job was accepted. The job may still run, unheard of, when it did survive; a client that
   * retries with its idempotency key gets that same job.
   */
  async #awaitReplicas(job: GenerationJob): Promise<void> {
    const wanted = this.#options.replicaAcks ?? 0;
    if (wanted === 0) return;
    const { redisTimeoutMs } = this.#options;
    const jobKey = this.#queues.of(job.priority).toKey(job.requestId);
    let acked: number;
    try {
      // WAIT blocks up to its own timeout, which is the budget: no race with #call's deadline.
      acked = await waitForReplicas(this.#redis, jobKey, wanted, redisTimeoutMs);
    } catch (error) {
      throw new QueueUnavailableError(
        `Redis at ${this.#redisName} failed while the gateway waited for replicas to acknowledge the job: ${(error as Error).message}; retry in a second`,
        null,
        { cause: error },
      );
    }
    if (acked < wanted) {
      throw new QueueUnavailableError(
        `only ${acked} of the ${wanted} Redis replicas the gateway waits for (DFLEET_REDIS_REPLICA_ACKS) acknowledged ` +
          `the job within ${redisTimeoutMs} ms, so it is not accepted: a failover now could lose it; retry in a second`,
      );
    }
  }

  #forgetWaitingSoon(job: GenerationJob): void {
    if (this.#redis.status !== 'ready') return;
    removeWaitingJob(this.#redis, this.#options.prefix, job.tenant, job.requestId).catch(() => undefined);
  }

  #logRedisError(source: string, error: Error): void {
    // ioredis reports every failed reconnect; one line per few seconds is enough to see an outage.
    const now = Date.now();
    if (now - this.#lastErrorLogAt < 5_000) return;
    this.#lastErrorLogAt = now;
    this.#options.logger.warn({ source, err: error.message, redis: this.#redisName }, 'redis connection error');
  }
}

/**
 * Whether Redis was unreachable or in transition (503, retry), not the request wrong (500).
 * Besides broken connections: a Cluster or Sentinel failover in progress (the slot map or the
 * master changing under the command) and a Redis still loading its data.
 */
function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    (code !== undefined && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(code)) ||
    /connection|stream isn't writeable|max retries per request/i.test(error.message) ||
    /Too many Cluster redirections|Cluster isn't ready|slots cache|startup nodes|sentinels are unreachable/i.test(
      error.message,
    ) ||
    /^(CLUSTERDOWN|TRYAGAIN|MOVED|ASK|READONLY|LOADING|MASTERDOWN) /.test(error.message)
  );
}

function toPublicState(state: string): PublicJobState {
  switch (state) {
    case 'waiting':
    case 'waiting-children':
    // Not written by dfleet any more (no BullMQ priorities), but still a job that waits.
    case 'prioritized':
      return 'waiting';
    case 'active':
    case 'completed':
    case 'failed':
    case 'delayed':
      return state;
    default:
      return 'unknown';
  }
}
