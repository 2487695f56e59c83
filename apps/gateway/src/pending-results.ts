import { randomFillSync, timingSafeEqual } from 'node:crypto';
import type { TraceCarrier } from '@dfleet/telemetry';
import type { GenerationResult, TokenLogprob } from '@dfleet/queue';

/** How a job ended, as far as the requests waiting for it are concerned. */
export type JobOutcome =
  | { kind: 'completed'; result: GenerationResult; workerId: string }
  | { kind: 'failed'; errorCode: string; errorMessage: string }
  | { kind: 'cancelled' };

export interface JobProgress {
  step: number;
  committedTokens: number;
  totalTokens: number;
  partialText: string;
  updatedAt: number;
}

/** One decode step of a streaming job, as its worker reported it (best effort: steps may be missing). */
export interface JobStep {
  /** The job's attempt (1-based): a retried job starts again at step 1. */
  attempt: number;
  /** 1-based step within the attempt. */
  step: number;
  nfe: number;
  /** Answer positions committed this step, ascending, and their tokens. */
  committedPositions: number[];
  committedTokens: number[];
  /** Aligned with `committedTokens` when the job asked for logprobs; empty otherwise. */
  committedLogprobs: TokenLogprob[];
  /** Answer positions on the canvas now. */
  answerLength: number;
  /** Answer tokens [0, finalPrefix) are final. */
  finalPrefix: number;
  decodeMs: number;
  finished: boolean;
}

export type StepListener = (step: JobStep) => void;

export type CallbackVerdict =
  | { accepted: true }
  | { accepted: false; reason: 'unknown_job' | 'bad_token' | 'duplicate' };

export class WaitTimeoutError extends Error {
  readonly code = 'wait_timeout';
}

export class WaitAbortedError extends Error {
  readonly code = 'wait_aborted';
}

interface Waiter {
  resolve(outcome: JobOutcome): void;
}

interface PendingJob {
  token: string;
  tokenBytes: Buffer;
  readonly waiters: Set<Waiter>;
  outcome: JobOutcome | null;
  progress: JobProgress | null;
  /** Streaming requests waiting for this job's steps. */
  readonly stepListeners: Set<StepListener>;
  /** Last time a waiter left or the job settled; idle entries are swept after `retentionMs`. */
  touchedAt: number;
  /** The job's trace carrier, so callback log lines name its trace. */
  traceContext: TraceCarrier | undefined;
}

export interface PendingResultsOptions {
  /**
   * How long a job's token and outcome are kept once nobody waits for it, so late or duplicate
   * callbacks get a precise answer and a resubmission finds the outcome.
   * @defaultValue 600000
   */
  retentionMs?: number;
}

const TOKEN_BYTES = 32;
const TOKENS_PER_FILL = 128;

/**
 * Callback tokens (32 random bytes as hex) drawn from a buffer refilled by the CSPRNG every 128
 * tokens, as Node's randomUUID does: one call per request cost more than the rest of tracking it.
 */
class CallbackTokenSource {
  readonly #pool = Buffer.alloc(TOKEN_BYTES * TOKENS_PER_FILL);
  #offset = this.#pool.length;

  next(): string {
    if (this.#offset === this.#pool.length) {
      randomFillSync(this.#pool);
      this.#offset = 0;
    }
    const token = this.#pool.toString('hex', this.#offset, this.#offset + TOKEN_BYTES);
    this.#offset += TOKEN_BYTES;
    return token;
  }
}

/**
 * The jobs this gateway has enqueued and not yet forgotten: the per-job callback secret, the
 * requests waiting for the outcome, and the latest progress. A job's outcome is accepted once.
 */
export class PendingResults {
  readonly #jobs = new Map<string, PendingJob>();
  readonly #tokens = new CallbackTokenSource();
  readonly #retentionMs: number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: PendingResultsOptions = {}) {
    this.#retentionMs = options.retentionMs ?? 600_000;
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(this.#retentionMs, 60_000));
    this.#sweeper.unref();
  }

  /**
   * The callback token for a job, creating one when this gateway has not seen the job. A second
   * submission of the same job id reuses the first token, because BullMQ keeps the first job's data.
   */
  track(jobId: string): { token: string; created: boolean } {
    const existing = this.#jobs.get(jobId);
    if (existing) return { token: existing.token, created: false };
    const token = this.#tokens.next();
    this.#jobs.set(jobId, {
      token,
      tokenBytes: Buffer.from(token, 'utf8'),
      waiters: new Set(),
      outcome: null,
      progress: null,
      stepListeners: new Set(),
      touchedAt: Date.now(),
      traceContext: undefined,
    });
    return { token, created: true };
  }

  /** The trace carrier of a tracked job's data, once it is built. */
  noteTraceContext(jobId: string, carrier: TraceCarrier): void {
    const job = this.#jobs.get(jobId);
    if (job) job.traceContext = carrier;
  }

  /** The trace carrier noted for a job; undefined for a job this gateway does not track. */
  traceContextOf(jobId: string): TraceCarrier | undefined {
    return this.#jobs.get(jobId)?.traceContext;
  }

  /**
   * Replaces a job's token with the one Redis holds for it, when the job was enqueued before this
   * gateway tracked it (the job data, and so the token workers use, is the first submission's).
   */
  adoptToken(jobId: string, token: string): void {
    const job = this.#jobs.get(jobId);
    if (!job || job.token === token || job.outcome !== null) return;
    job.token = token;
    job.tokenBytes = Buffer.from(token, 'utf8');
  }

  /** Drops a job nobody waits for, e.g. after enqueueing it failed. */
  forget(jobId: string): void {
    const job = this.#jobs.get(jobId);
    if (job && job.waiters.size === 0) this.#jobs.delete(jobId);
  }

  isTracked(jobId: string): boolean {
    return this.#jobs.has(jobId);
  }

  /** Tracked and without an outcome yet. */
  isUnsettled(jobId: string): boolean {
    return this.#jobs.get(jobId)?.outcome === null;
  }

  /** Job ids still waiting for an outcome. */
  unsettledJobIds(): string[] {
    return [...this.#jobs].filter(([, job]) => job.outcome === null).map(([id]) => id);
  }

  progressOf(jobId: string): JobProgress | null {
    return this.#jobs.get(jobId)?.progress ?? null;
  }

  /**
   * Resolves with the job's outcome (at once if it is already known).
   * @throws WaitTimeoutError after `timeoutMs`; WaitAbortedError when `signal` aborts.
   */
  wait(jobId: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<JobOutcome> {
    const job = this.#jobs.get(jobId);
    if (!job) return Promise.reject(new Error(`job ${jobId} is not tracked; call track() first`));
    if (job.outcome) return Promise.resolve(job.outcome);
    return new Promise<JobOutcome>((resolve, reject) => {
      const leave = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        job.waiters.delete(waiter);
        job.touchedAt = Date.now();
      };
      const waiter: Waiter = {
        resolve: (outcome) => {
          leave();
          resolve(outcome);
        },
      };
      const timer = setTimeout(() => {
        leave();
        reject(new WaitTimeoutError(`no outcome for job ${jobId} within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      const onAbort = () => {
        leave();
        reject(new WaitAbortedError(`stopped waiting for job ${jobId}`));
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      job.waiters.add(waiter);
    });
  }

  /** A worker's result report: accepted only with the job's token, and only the first time. */
  reportResult(jobId: string, token: string, outcome: JobOutcome): CallbackVerdict {
    const verdict = this.#authorize(jobId, token);
    if (!verdict.accepted) return verdict;
    return this.settle(jobId, outcome) ? { accepted: true } : { accepted: false, reason: 'duplicate' };
  }

  /** A worker's progress report; progress arriving after the outcome is dropped. */
  reportProgress(jobId: string, token: string, progress: JobProgress): CallbackVerdict {
    const verdict = this.#authorize(jobId, token);
    if (!verdict.accepted) return verdict;
    const job = this.#jobs.get(jobId);
    if (job && job.outcome === null) job.progress = progress;
    return verdict;
  }

  /**
   * Calls `listener` with each step report accepted for a tracked job until the returned function
   * is called. Subscribe before enqueueing, so the first step cannot be missed.
   */
  onStep(jobId: string, listener: StepListener): () => void {
    const job = this.#jobs.get(jobId);
    if (!job) throw new Error(`job ${jobId} is not tracked; call track() first`);
    job.stepListeners.add(listener);
    return () => job.stepListeners.delete(listener);
  }

  /**
   * A worker's step report, authorised like progress. It still reaches the streams listening after
   * the outcome: the queue's events stream can settle a job before its last steps arrive.
   */
  reportStep(jobId: string, token: string, step: JobStep): CallbackVerdict {
    const verdict = this.#authorize(jobId, token);
    if (!verdict.accepted) return verdict;
    const job = this.#jobs.get(jobId);
    if (job) for (const listener of [...job.stepListeners]) listener(step);
    return verdict;
  }

  /**
   * Records an outcome learnt from a trusted source (Redis, or a cancel by this gateway) and
   * wakes every waiter. Returns false when the job already had one, or is unknown.
   */
  settle(jobId: string, outcome: JobOutcome): boolean {
    const job = this.#jobs.get(jobId);
    if (!job || job.outcome !== null) return false;
    job.outcome = outcome;
    job.touchedAt = Date.now();
    for (const waiter of [...job.waiters]) waiter.resolve(outcome);
    return true;
  }

  /** Stops the sweeper; waiters are left to their own timeouts. */
  close(): void {
    clearInterval(this.#sweeper);
  }

  #authorize(jobId: string, token: string): CallbackVerdict {
    const job = this.#jobs.get(jobId);
    if (!job) return { accepted: false, reason: 'unknown_job' };
    const offered = Buffer.from(token, 'utf8');
    // timingSafeEqual needs equal lengths; comparing with itself keeps the time independent of the guess.
    const matches =
      offered.length === job.tokenBytes.length
        ? timingSafeEqual(offered, job.tokenBytes)
        : !timingSafeEqual(job.tokenBytes, job.tokenBytes);
    return matches ? { accepted: true } : { accepted: false, reason: 'bad_token' };
  }

  #sweep(): void {
    const cutoff = Date.now() - this.#retentionMs;
    for (const [jobId, job] of this.#jobs) {
      if (job.waiters.size === 0 && job.touchedAt < cutoff) this.#jobs.delete(jobId);
    }
  }
}
