import type { RedisConnection } from '@dfleet/queue';

/** Caps on jobs waiting to be claimed; null = no cap. */
export interface WaitingJobLimits {
  /** All tenants together (DFLEET_MAX_WAITING_JOBS). */
  readonly maxWaitingJobs: number | null;
  /** One tenant (DFLEET_MAX_WAITING_JOBS_PER_TENANT). */
  readonly maxWaitingJobsPerTenant: number | null;
}

export type AdmissionVerdict =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly scope: 'global' | 'tenant'; readonly waiting: number; readonly limit: number };

export interface WaitingJobCounterOptions {
  /**
   * `refreshIfStale()` replaces a reading older than this, in the background.
   * @defaultValue 250
   */
  readonly refreshAfterMs?: number;
  /**
   * A reading older than this is not used: the admission waits for a fresh one.
   * @defaultValue 1000
   */
  readonly maxAgeMs?: number;
  /**
   * Within this fraction of the cap every admission waits for a fresh reading, so near the cap
   * admission is as exact as reading Redis each time.
   * @defaultValue 0.1
   */
  readonly exactWithinFraction?: number;
  /** Milliseconds clock. @defaultValue performance.now */
  readonly now?: () => number;
}

interface WaitingReading {
  readonly count: number;
  /** When the read was sent. */
  readonly at: number;
  /** This counter's admissions when the read was sent (later ones are added to `count`). */
  readonly admittedBefore: number;
}

/**
 * The global cap (DFLEET_MAX_WAITING_JOBS) without a Redis round trip on every request: the
 * fleet-wide waiting count (the classes' wait lists) as last read, plus the jobs this gateway
 * admitted since that read was sent. Far from the cap a reading up to `maxAgeMs` old answers,
 * and `refreshIfStale()` (called once the request's own commands are done, so the read never
 * delays them) replaces one older than `refreshAfterMs` in the background; one read is in flight
 * at a time. Near the cap, or without a recent reading, the admission waits for a fresh one, so
 * a refusal is always based on a fresh count. What a stale reading can miss is what other
 * gateways admitted within `maxAgeMs`, far from the cap.
 */
export class WaitingJobCounter {
  readonly #read: () => Promise<number>;
  readonly #refreshAfterMs: number;
  readonly #maxAgeMs: number;
  readonly #exactWithinFraction: number;
  readonly #now: () => number;
  #reading: WaitingReading | undefined;
  #inFlight: Promise<WaitingReading> | undefined;
  #admitted = 0;

  /** `read` returns the fleet-wide waiting count; it is called at most once at a time. */
  constructor(read: () => Promise<number>, options: WaitingJobCounterOptions = {}) {
    this.#read = read;
    this.#refreshAfterMs = options.refreshAfterMs ?? 250;
    this.#maxAgeMs = options.maxAgeMs ?? 1_000;
    this.#exactWithinFraction = options.exactWithinFraction ?? 0.1;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Admits one job under `limit` and counts it, or refuses it.
   * @throws whatever `read` throws when a fresh reading was needed.
   */
  async admit(limit: number): Promise<AdmissionVerdict> {
    let reading = this.#reading;
    const now = this.#now();
    const fresh =
      reading === undefined ||
      now - reading.at > this.#maxAgeMs ||
      this.#estimate(reading) + 1 > limit * (1 - this.#exactWithinFraction);
    if (fresh) reading = await this.#refresh();
    const waiting = this.#estimate(reading!);
    if (waiting >= limit) return { admitted: false, scope: 'global', waiting, limit };
    this.#admitted++;
    return { admitted: true };
  }

  /** Starts a read in the background when the last one is older than `refreshAfterMs`. */
  refreshIfStale(): void {
    const reading = this.#reading;
    if (reading === undefined || this.#inFlight || this.#now() - reading.at <= this.#refreshAfterMs) return;
    // Best effort: a failed read leaves the reading to age until an admission needs a fresh one.
    this.#refresh().catch(() => undefined);
  }

  #estimate(reading: WaitingReading): number {
    return reading.count + (this.#admitted - reading.admittedBefore);
  }

  /** Joins the read in flight, or sends one. */
  #refresh(): Promise<WaitingReading> {
    if (this.#inFlight) return this.#inFlight;
    const sent = { at: this.#now(), admittedBefore: this.#admitted };
    // One read at a time, so each reading is newer than the one it replaces.
    const reading = this.#read().then((count) => (this.#reading = { count, ...sent }));
    this.#inFlight = reading;
    void reading.then(
      () => (this.#inFlight = undefined),
      () => (this.#inFlight = undefined),
    );
    return reading;
  }
}

/** A tenant that submits nothing for this long loses its bookkeeping key. */
const TENANT_KEY_TTL_MS = 86_400_000;

/**
 * KEYS: 1 the tenant's waiting set (tenantWaitingKey). ARGV: 1 job id, 2 limit, 3 now (ms), 4 key TTL (ms).
 * Returns {1, waiting} when admitted (the job is recorded), {0, waiting} when the tenant is full.
 * O(log n): one ZSCORE, one ZCARD, one ZADD.
 */
const ADMIT_FOR_TENANT = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, -1} end
local waiting = redis.call('ZCARD', KEYS[1])
if waiting >= tonumber(ARGV[2]) then return {0, waiting} end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, waiting + 1}
`;

/**
 * Admits a job under the tenant cap, atomically with recording it in the tenant's waiting set
 * (see tenantWaitingKey), which touches only that tenant's keys. A resubmission of a job still
 * recorded is admitted without counting twice. Call before the job is added: a worker that
 * starts it removes it, so it is never removed before it was recorded.
 */
export async function admitForTenant(
  redis: RedisConnection,
  tenantKey: string,
  jobId: string,
  limit: number,
): Promise<AdmissionVerdict> {
  const reply = await redis.eval(ADMIT_FOR_TENANT, 1, tenantKey, jobId, limit, Date.now(), TENANT_KEY_TTL_MS);
  const [admitted, waiting] = reply as [number, number];
  return admitted === 1 ? { admitted: true } : { admitted: false, scope: 'tenant', waiting, limit };
}
