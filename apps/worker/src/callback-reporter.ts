import {
  createWorkerCallbackClient,
  type CallbackAck__Output,
  type ProgressReport,
  type ResultReport,
  type WorkerCallbackClient,
} from '@dfleet/proto';
import type { Logger } from './logger.ts';

/** Where a job's callbacks go and the secret that authenticates them (from the job data). */
export interface CallbackTarget {
  readonly address: string;
  readonly token: string;
  readonly jobId: string;
  /** BullMQ attempt, 1-based. */
  readonly attempt: number;
}

export type ProgressUpdate = Omit<ProgressReport, 'jobId' | 'attempt' | 'callbackToken'>;
export type ResultUpdate = Omit<ResultReport, 'jobId' | 'attempt' | 'callbackToken'>;

export interface CallbackReporterOptions {
  logger: Logger;
  /** Minimum time between two progress reports of one job. @defaultValue 100 */
  progressIntervalMs?: number;
  /** Deadline of one gRPC call. @defaultValue 2000 */
  callDeadlineMs?: number;
  /** Delays between result attempts; one attempt more than entries. @defaultValue [250, 500, 1000, 2000, 4000] */
  resultRetryDelaysMs?: readonly number[];
}

/** What became of a result report. `accepted` is the gateway's answer when it answered at all. */
export type ResultDelivery =
  | { delivered: true; accepted: boolean; reason: string; tries: number }
  | { delivered: false; error: string; tries: number };

interface ProgressState {
  lastSentAt: number;
  inFlight: boolean;
}

/**
 * Reports progress and results to the gateway named in each job over WorkerCallback.
 *
 * Progress is best effort: throttled per job, never retried, never queued behind a slow call.
 * Results are retried with backoff for about ten seconds and then given up; the result is in
 * Redis as the job's return value either way, so a lost callback loses no work. Nothing here
 * throws into the job.
 */
export class CallbackReporter {
  readonly #logger: Logger;
  readonly #progressIntervalMs: number;
  readonly #callDeadlineMs: number;
  readonly #retryDelaysMs: readonly number[];
  /** One channel per gateway address, shared by all jobs of that gateway. */
  readonly #clients = new Map<string, WorkerCallbackClient>();
  readonly #progress = new Map<string, ProgressState>();
  readonly #pendingResults = new Set<Promise<ResultDelivery>>();
  readonly #sleepers = new Set<() => void>();
  #closed = false;

  constructor(options: CallbackReporterOptions) {
    this.#logger = options.logger;
    this.#progressIntervalMs = options.progressIntervalMs ?? 100;
    this.#callDeadlineMs = options.callDeadlineMs ?? 2_000;
    this.#retryDelaysMs = options.resultRetryDelaysMs ?? [250, 500, 1_000, 2_000, 4_000];
  }

  /**
   * Sends progress unless this job reported less than the interval ago or its previous report
   * is still in flight. `build` runs only when a report is actually sent.
   */
  reportProgress(target: CallbackTarget, build: () => ProgressUpdate): void {
    if (this.#closed) return;
    const key = progressKey(target);
    let state = this.#progress.get(key);
    if (!state) {
      state = { lastSentAt: 0, inFlight: false };
      this.#progress.set(key, state);
    }
    const now = Date.now();
    if (state.inFlight || now - state.lastSentAt < this.#progressIntervalMs) return;
    state.inFlight = true;
    state.lastSentAt = now;
    const report: ProgressReport = { ...build(), jobId: target.jobId, attempt: target.attempt, callbackToken: target.token };
    const sent = state;
    this.#client(target.address).ReportProgress(report, { deadline: now + this.#callDeadlineMs }, (error) => {
      sent.inFlight = false;
      if (error) this.#logger.debug({ jobId: target.jobId, address: target.address, err: error.message }, 'progress callback failed');
    });
  }

  /** Forgets a job's progress throttle; call when the job is done. */
  forgetJob(target: CallbackTarget): void {
    this.#progress.delete(progressKey(target));
  }

  /**
   * Sends a final report (result or error), retrying transport failures with backoff. A reply of
   * `accepted: false` is the gateway's answer (duplicate, unknown job) and is not retried.
   * Resolves, never rejects.
   */
  reportResult(target: CallbackTarget, update: ResultUpdate): Promise<ResultDelivery> {
    this.forgetJob(target);
    if (this.#closed) return Promise.resolve(this.#giveUp(target, 'the reporter is closed', 0));
    const delivery = this.#deliverResult(target, update);
    this.#pendingResults.add(delivery);
    void delivery.finally(() => this.#pendingResults.delete(delivery));
    return delivery;
  }

  /**
   * Stops retrying (a report still waiting for its next try gives up now; the result is in
   * Redis and gateways also watch the queue), waits for calls in flight, and closes every channel.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#sleepers) wake();
    await Promise.all([...this.#pendingResults]);
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  async #deliverResult(target: CallbackTarget, update: ResultUpdate): Promise<ResultDelivery> {
    const report: ResultReport = { ...update, jobId: target.jobId, attempt: target.attempt, callbackToken: target.token };
    for (let tries = 1; ; tries++) {
      try {
        const ack = await this.#sendResult(target.address, report);
        if (!ack.accepted) {
          // "duplicate" is the usual race: the gateway learnt the result from Redis a moment earlier.
          // "unknown_job": that gateway no longer waits for it (restarted, or the job was cancelled);
          // the result stays in Redis. Anything else (a refused token) is worth a warning.
          const level = ack.reason === 'duplicate' ? 'debug' : ack.reason === 'unknown_job' ? 'info' : 'warn';
          this.#logger[level]({ jobId: target.jobId, address: target.address, reason: ack.reason }, 'gateway did not accept the result');
        }
        return { delivered: true, accepted: ack.accepted, reason: ack.reason, tries };
      } catch (error) {
        const delay = this.#retryDelaysMs[tries - 1];
        if (delay !== undefined && !this.#closed) await this.#sleep(delay);
        if (delay === undefined || this.#closed) return this.#giveUp(target, (error as Error).message, tries);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  #giveUp(target: CallbackTarget, error: string, tries: number): ResultDelivery {
    this.#logger.warn(
      { jobId: target.jobId, address: target.address, err: error, tries },
      'result callback given up; the result stays in Redis as the job return value',
    );
    return { delivered: false, error, tries };
  }

  #sendResult(address: string, report: ResultReport): Promise<CallbackAck__Output> {
    return new Promise((resolve, reject) => {
      this.#client(address).ReportResult(report, { deadline: Date.now() + this.#callDeadlineMs }, (error, ack) => {
        if (error) reject(error);
        else resolve(ack ?? { accepted: false, reason: 'empty reply' });
      });
    });
  }

  #client(address: string): WorkerCallbackClient {
    let client = this.#clients.get(address);
    if (!client) {
      client = createWorkerCallbackClient(address);
      this.#clients.set(address, client);
    }
    return client;
  }
}

function progressKey(target: CallbackTarget): string {
  return `${target.jobId}#${target.attempt}`;
}
